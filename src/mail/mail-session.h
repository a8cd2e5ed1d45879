/* What the mail process gives a protocol when a session starts, and the
   entry points each post-login protocol implements. The mail process
   (mail-main.c, mail-handoff.c) accepts a hand-off from a login process,
   looks the user up in userdb, opens their storage, then calls the
   protocol's *_session_start(). */
#ifndef COLUMBA_MAIL_SESSION_H
#define COLUMBA_MAIL_SESSION_H

#include "login-handoff.h"

struct mail_user;
struct master_service;

struct mail_session_start {
	struct master_service *service;
	/* protocol, username (canonical, as userdb returned it), session
	   id, addresses, TLS flags, the login command's tag, pre-read
	   input: everything the login process sent */
	const struct login_handoff *handoff;
	/* userdb fields, NULL-terminated "key=value" */
	const char *const *userdb_fields;
	/* the user's storage, opened; the session owns it from now on and
	   deinits it when it ends */
	struct mail_user *user;
	/* the client's socket, or the login process's relay when
	   LOGIN_HANDOFF_FLAG_RELAY; the session owns it. For a
	   stdin/stdout session (columba imap -u USER) fd_in != fd_out. */
	int fd_in, fd_out;
	/* send the tagged OK for the login command (handoff->tag) before
	   anything else; false for a PREAUTH session, which greets with
	   "* PREAUTH" instead */
	bool send_login_reply;
};

/* A session started by a *_session_start() below ended (its client is
   being destroyed, whatever the reason; also a session that fails inside
   *_session_start()). session_id is start->handoff->session_id. The mail
   process stops counting it for mail_max_userip_connections. Unknown ids
   (a PREAUTH session from `columba imap -u`, a second call) are ignored,
   so calling it is always safe. Never blocks. */
void mail_session_ended(const char *session_id);

/* IMAP (src/imap). The call takes ownership of user and the fds whatever
   happens: on an early failure it logs, closes them and returns. The
   session counts itself with master_service_client_connected() /
   _disconnected() when service != NULL. */
void imap_session_start(const struct mail_session_start *start);
/* The process is stopping: every IMAP session says "* BYE" and ends
   (shutdown) or ends when idle (reload). */
void imap_sessions_stop(bool shutdown);

/* POP3 (src/pop3), with the same ownership rules as
   imap_session_start(). The session opens INBOX and takes its
   snapshot; a session refused at this point (pop3_lock_session, a
   storage error) says -ERR and ends. */
void pop3_session_start(const struct mail_session_start *start);
/* The process is stopping: on shutdown every POP3 session says
   "-ERR" and ends without entering the UPDATE state (no expunge);
   on reload sessions run to their end (they are short). */
void pop3_sessions_stop(bool shutdown);

#endif
