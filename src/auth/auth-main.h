#ifndef COLUMBA_AUTH_MAIN_H
#define COLUMBA_AUTH_MAIN_H
/* The auth service's entry point; returns the exit code. */
int auth_main(void);
#endif
