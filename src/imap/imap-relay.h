/* A pump between a pair of one-way fds (stdin/stdout of a tunnel or an
   ssh command) and one end of a socket pair, for code that wants one
   bidirectional fd (struct conn). Lives in the ioloop, with bounded
   buffers in both directions (a slow side stops reading the other). */
#ifndef COLUMBA_IMAP_RELAY_H
#define COLUMBA_IMAP_RELAY_H

/* Takes fd_in and fd_out. Returns 0 with *fd_r (the socket end to give
   the session), or -1 with *error_r. The relay ends itself (closing its
   fds) once the session's side has closed and everything it sent has
   been written to fd_out, or when fd_out fails; then finished (may be
   NULL) is called. */
int imap_relay_create(int fd_in, int fd_out, void (*finished)(void *),
		      void *context, int *fd_r, const char **error_r)
	ATTR_WARN_UNUSED;

#endif
