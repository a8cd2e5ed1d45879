/* login_max_connections_per_ip: how many connections each remote IP has
   open in this login process (pre-login, and TLS sessions the process
   relays after the login). The table holds one entry per IP that has a
   connection open, so it never outgrows the process's client count. */
#ifndef COLUMBA_LOGIN_IP_LIMIT_H
#define COLUMBA_LOGIN_IP_LIMIT_H

#include "net.h"

struct login_ip_limit;

struct login_ip_limit *login_ip_limit_create(void);
/* Frees the table whatever it still counts; sets *limit to NULL. */
void login_ip_limit_destroy(struct login_ip_limit **limit);

/* Count one more connection from ip, unless max > 0 and ip has max open
   already: then nothing changes and false is returned. */
bool login_ip_limit_add(struct login_ip_limit *limit,
			const struct ip_addr *ip, unsigned int max)
	ATTR_WARN_UNUSED;
/* A counted connection from ip ended. Panics if ip has none counted (a
   bookkeeping bug). */
void login_ip_limit_remove(struct login_ip_limit *limit,
			   const struct ip_addr *ip);
/* Connections counted for ip now. */
unsigned int login_ip_limit_count(const struct login_ip_limit *limit,
				  const struct ip_addr *ip);
/* IPs with at least one connection counted. */
unsigned int login_ip_limit_ip_count(const struct login_ip_limit *limit);

#endif
