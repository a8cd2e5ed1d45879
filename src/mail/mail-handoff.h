/* The receiving side of the login -> mail hand-off in the mail process:
   connections on the "login/mail" listener carry one login_handoff
   message each, with the client's fd. The user is looked up in userdb
   (auth_master_user_lookup()), their storage opened (mail_user_setup()),
   mail_max_userip_connections checked, the login process answered, and
   the protocol's session started (imap_session_start()). */
#ifndef COLUMBA_MAIL_HANDOFF_H
#define COLUMBA_MAIL_HANDOFF_H

struct master_service;
struct master_service_connection;

/* Whether a connection on this listener is a hand-off. */
bool mail_handoff_is_listener(const char *listener_name);
void mail_handoff_init(struct master_service *service);
void mail_handoff_deinit(void);
/* Take an accepted hand-off connection (owns mconn->fd from now on). */
void mail_handoff_accept(struct master_service_connection *mconn);

#endif
