/* Dovecot's auth penalty: every failed authentication from a client
   address makes the next request from that address wait longer before it
   is handled - 2 s doubled per failure (4, 8, then the 15 s cap); a
   success clears it, and so do 15 s without failures. Retrying the same
   wrong password does not raise it (a checksum of user and password is
   remembered, not the password). IPv6 clients count by their /48, as
   Dovecot does, so one host cannot dodge it by hopping addresses. The
   table is bounded: the least recently failed addresses are forgotten
   first. ioloop only. */
#ifndef COLUMBA_AUTH_PENALTY_H
#define COLUMBA_AUTH_PENALTY_H

#define AUTH_PENALTY_INIT_SECS 2
#define AUTH_PENALTY_MAX_SECS 15
#define AUTH_PENALTY_MAX_PENALTY 4
/* after this long without failures an entry is irrelevant */
#define AUTH_PENALTY_TIMEOUT_SECS \
	(AUTH_PENALTY_INIT_SECS + 4 + 8 + AUTH_PENALTY_MAX_SECS)

struct auth_penalty;

struct auth_penalty *auth_penalty_create(unsigned int max_entries);
void auth_penalty_destroy(struct auth_penalty **penalty);

/* Seconds of delay for a penalty value. */
unsigned int auth_penalty_to_secs(unsigned int penalty);

/* Milliseconds a request from remote_ip must still wait (0: none).
   An unparsable or empty address has no penalty. */
unsigned int auth_penalty_get_delay_msecs(struct auth_penalty *penalty,
					  const char *remote_ip);
/* A failed authentication from remote_ip; checksum identifies the
   user+password tried (0 = unknown: always counts). */
void auth_penalty_failure(struct auth_penalty *penalty, const char *remote_ip,
			  uint32_t checksum);
void auth_penalty_success(struct auth_penalty *penalty, const char *remote_ip);
/* The current penalty value of remote_ip (for tests and logs). */
unsigned int auth_penalty_get(struct auth_penalty *penalty,
			      const char *remote_ip);

#endif
