#ifndef COLUMBA_MAIL_MAIN_H
#define COLUMBA_MAIL_MAIN_H
/* The mail service's entry point; returns the exit code. */
int mail_main(void);
#endif
