#ifndef COLUMBA_IMAP_LOGIN_H
#define COLUMBA_IMAP_LOGIN_H

/* The imap-login service's entry point; returns the exit code. */
int imap_login_main(void);

#endif
