/* A connection from a mail or LMTP process asking who a user is: the
   userdb half of Dovecot's auth master protocol. */
#ifndef COLUMBA_AUTH_USERDB_CONN_H
#define COLUMBA_AUTH_USERDB_CONN_H

struct master_service_connection;

void auth_userdb_conn_create(struct master_service_connection *mconn);
void auth_userdb_conns_destroy_all(void);

#endif
