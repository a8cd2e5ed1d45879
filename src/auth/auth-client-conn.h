/* A connection from an auth client (a login process, Postfix's smtpd,
   any MTA speaking Dovecot's auth client protocol 1.2). */
#ifndef COLUMBA_AUTH_CLIENT_CONN_H
#define COLUMBA_AUTH_CLIENT_CONN_H

struct master_service_connection;

/* Take over the accepted connection and send the handshake. */
void auth_client_conn_create(struct master_service_connection *mconn);
/* Disconnect every client (shutdown). */
void auth_client_conns_destroy_all(void);

#endif
