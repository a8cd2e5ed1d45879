/* `columba imap [-c CONFIG] -u USER`: one pre-authenticated IMAP session
   on stdin/stdout ("* PREAUTH"), for tunnels (mbsync's Tunnel, ssh) and
   tests. The user is looked up through the running server's auth process
   (BASE_DIR/auth-userdb) and their storage opened as the mail process
   would. */
#ifndef COLUMBA_IMAP_PREAUTH_H
#define COLUMBA_IMAP_PREAUTH_H

/* argv[0] is "imap". Returns the exit code: 0 after the session, 64 for
   bad usage, 67 unknown user, 75 temporary failure, 78 configuration. */
int imap_preauth_main(int argc, char *argv[]);

#endif
