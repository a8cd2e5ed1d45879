/* The receiving side of the login -> mail hand-off in the mail process:
   connections on the "login/mail" listener carry one login_handoff
   message each, with the client's fd. The user is looked up in userdb
   (auth_master_user_lookup()), their storage opened (mail_user_setup()),
   mail_max_userip_connections checked, the login process answered, and
   the protocol's session started (imap_session_start()). */
#ifndef COLUMBA_MAIL_HANDOFF_H
#define COLUMBA_MAIL_HANDOFF_H

struct event;
struct master_service;
struct master_service_connection;

/* Whether a connection on this listener is a hand-off. */
bool mail_handoff_is_listener(const char *listener_name);
void mail_handoff_init(struct master_service *service);
void mail_handoff_deinit(void);
/* Take an accepted hand-off connection (owns mconn->fd from now on). */
void mail_handoff_accept(struct master_service_connection *mconn);

/* The hand-back (IMAP UNAUTHENTICATE, RFC 8437): a session's client goes
   back to a login process, in the not-authenticated state. */

/* Whether the session can be handed back: it came from a login process
   here, imap_unauthenticate = yes, and a relayed session's hand-off
   connection (its way back) is still open. */
bool mail_handback_available(const char *session_id);

struct mail_handback_request {
	/* the session's id (from the hand-off) */
	const char *session_id;
	/* UNAUTHENTICATE's tag: the login process sends the tagged OK */
	const char *tag;
	/* the session's detached socket: the client's own, or the relay
	   (all output flushed); taken over */
	int fd;
	/* input read after the UNAUTHENTICATE line */
	const void *input;
	size_t input_size;
	/* written to fd if no login process takes the client (RFC 8437:
	   no NO, but BYE), e.g. "* BYE ...\r\n" */
	const char *failure_line;
	/* parent of the hand-back's log event */
	struct event *event;
};

/* Hand the client back. The session's user+IP count ends at once
   (mail_session_ended()); the caller has ended the session itself.
   Call it before ending the session (the session must still be known);
   the hand-back's I/O starts from the ioloop, after the caller is done.
   Takes req->fd whatever happens; everything else is copied. Never
   blocks: the rest runs from the ioloop, and a failure is logged, the
   failure line sent and the fd closed. The process counts the hand-back
   as a client until it is done. */
void mail_handback_start(const struct mail_handback_request *req);

#endif
