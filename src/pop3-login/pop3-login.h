#ifndef COLUMBA_POP3_LOGIN_H
#define COLUMBA_POP3_LOGIN_H

/* The pop3-login service's entry point; returns the exit code. */
int pop3_login_main(void);

#endif
