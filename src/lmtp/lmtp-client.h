/* The LMTP service of the mail process, as mail-main.c sees it. */
#ifndef COLUMBA_LMTP_CLIENT_H
#define COLUMBA_LMTP_CLIENT_H

struct master_service;
struct master_service_connection;

/* True for the listeners LMTP serves: inet_listener "lmtp", and
   unix_listener paths whose last component is "lmtp" or ends in "-lmtp"
   (Postfix setups often use private/dovecot-lmtp). */
bool lmtp_listener_is(const char *listener_name);

/* After master_service_init(): settings, the userdb client. */
void lmtp_init(struct master_service *service);
/* A connection on an LMTP listener: greet and serve it. Takes the fd. */
void lmtp_client_create(struct master_service_connection *conn);
/* The process is stopping: idle connections get 421 and are closed,
   those in a transaction finish it first. */
void lmtp_clients_stop(bool shutdown);
void lmtp_deinit(void);

#endif
