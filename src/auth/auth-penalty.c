/* The per-address auth penalty table (auth-penalty.h): a hash of
   addresses (IPv6 cut to /48) with an LRU list for the bound. */
#include "lib.h"
#include "ioloop.h"
#include "hash.h"
#include "net.h"
#include "auth-penalty.h"

#define PENALTY_IPV6_MASK_BITS 48
/* the last different failures remembered per address */
#define PENALTY_CHECKSUMS 8

struct auth_penalty_entry {
	struct auth_penalty_entry *prev, *next;
	char ident[NET_IP_ADDR_MAX_LEN];
	unsigned int penalty;
	time_t last_penalty;
	/* the same, in milliseconds: the delay is counted from it */
	uint64_t last_penalty_msecs;
	uint32_t checksums[PENALTY_CHECKSUMS];
	unsigned int checksum_pos;
};

struct auth_penalty {
	struct hash_table *table;
	/* head: most recent failure */
	struct auth_penalty_entry *head, *tail;
	unsigned int max_entries;
};

struct auth_penalty *auth_penalty_create(unsigned int max_entries)
{
	struct auth_penalty *penalty = i_new(struct auth_penalty, 1);

	i_assert(max_entries > 0);
	penalty->table = hash_table_create_str(system_pool, 64);
	penalty->max_entries = max_entries;
	return penalty;
}

static void auth_penalty_unlink(struct auth_penalty *penalty,
				struct auth_penalty_entry *entry)
{
	if (entry->prev != NULL)
		entry->prev->next = entry->next;
	else
		penalty->head = entry->next;
	if (entry->next != NULL)
		entry->next->prev = entry->prev;
	else
		penalty->tail = entry->prev;
	entry->prev = entry->next = NULL;
}

static void auth_penalty_entry_free(struct auth_penalty *penalty,
				    struct auth_penalty_entry *entry)
{
	auth_penalty_unlink(penalty, entry);
	(void)hash_table_remove(penalty->table, entry->ident);
	free(entry);
}

void auth_penalty_destroy(struct auth_penalty **_penalty)
{
	struct auth_penalty *penalty = *_penalty;

	*_penalty = NULL;
	while (penalty->head != NULL)
		auth_penalty_entry_free(penalty, penalty->head);
	hash_table_destroy(&penalty->table);
	free(penalty);
}

unsigned int auth_penalty_to_secs(unsigned int value)
{
	unsigned int secs = AUTH_PENALTY_INIT_SECS;

	for (unsigned int i = 0; i < value && secs < AUTH_PENALTY_MAX_SECS; i++)
		secs *= 2;
	return I_MIN(secs, AUTH_PENALTY_MAX_SECS);
}

static uint64_t auth_penalty_now_msecs(void)
{
	return (uint64_t)ioloop_timeval.tv_sec * 1000 +
		(uint64_t)ioloop_timeval.tv_usec / 1000;
}

/* The table key of an address, or NULL if there is none. */
static const char *auth_penalty_ident(const char *remote_ip)
{
	struct ip_addr ip;

	if (remote_ip == NULL || *remote_ip == '\0' ||
	    net_addr2ip(remote_ip, &ip) < 0)
		return NULL;
	if (IPADDR_IS_V6(&ip)) {
		memset(ip.u.ip6.s6_addr + PENALTY_IPV6_MASK_BITS / 8, 0,
		       sizeof(ip.u.ip6.s6_addr) - PENALTY_IPV6_MASK_BITS / 8);
	}
	return net_ip2addr(&ip);
}

/* The entry of remote_ip with its penalty decayed as Dovecot's anvil
   does: the penalty drops one step for each step's delay that has passed
   since the last failure, from the top. NULL if none. */
static struct auth_penalty_entry *
auth_penalty_find(struct auth_penalty *penalty, const char *ident)
{
	struct auth_penalty_entry *entry =
		hash_table_lookup(penalty->table, ident);

	if (entry == NULL)
		return NULL;
	if (entry->last_penalty > ioloop_time)
		entry->last_penalty = ioloop_time; /* clock went back */
	if (ioloop_time - entry->last_penalty >= AUTH_PENALTY_TIMEOUT_SECS) {
		auth_penalty_entry_free(penalty, entry);
		return NULL;
	}
	unsigned int drop = AUTH_PENALTY_MAX_PENALTY;
	while (entry->penalty > 0) {
		if (ioloop_time - entry->last_penalty <
		    (time_t)auth_penalty_to_secs(drop))
			break;
		drop--;
		entry->penalty--;
	}
	return entry;
}

unsigned int auth_penalty_get(struct auth_penalty *penalty,
			      const char *remote_ip)
{
	const char *ident = auth_penalty_ident(remote_ip);
	struct auth_penalty_entry *entry;

	if (ident == NULL || (entry = auth_penalty_find(penalty, ident)) == NULL)
		return 0;
	return entry->penalty;
}

unsigned int auth_penalty_get_delay_msecs(struct auth_penalty *penalty,
					  const char *remote_ip)
{
	const char *ident = auth_penalty_ident(remote_ip);
	struct auth_penalty_entry *entry;

	if (ident == NULL || (entry = auth_penalty_find(penalty, ident)) == NULL ||
	    entry->penalty == 0)
		return 0;
	uint64_t due = entry->last_penalty_msecs +
		auth_penalty_to_secs(entry->penalty) * 1000ULL;
	uint64_t now = auth_penalty_now_msecs();
	return now >= due ? 0 : (unsigned int)(due - now);
}

void auth_penalty_failure(struct auth_penalty *penalty, const char *remote_ip,
			  uint32_t checksum)
{
	const char *ident = auth_penalty_ident(remote_ip);

	if (ident == NULL)
		return;
	struct auth_penalty_entry *entry = auth_penalty_find(penalty, ident);
	if (entry == NULL) {
		if (hash_table_count(penalty->table) >= penalty->max_entries)
			auth_penalty_entry_free(penalty, penalty->tail);
		entry = i_new(struct auth_penalty_entry, 1);
		i_assert(strlen(ident) < sizeof(entry->ident));
		memcpy(entry->ident, ident, strlen(ident) + 1);
		hash_table_insert(penalty->table, entry->ident, entry);
	} else {
		auth_penalty_unlink(penalty, entry);
	}
	entry->next = penalty->head;
	if (penalty->head != NULL)
		penalty->head->prev = entry;
	penalty->head = entry;
	if (penalty->tail == NULL)
		penalty->tail = entry;

	bool seen = false;
	for (unsigned int i = 0; checksum != 0 && i < PENALTY_CHECKSUMS; i++) {
		if (entry->checksums[i] == checksum)
			seen = true;
	}
	if (!seen) {
		if (entry->penalty < AUTH_PENALTY_MAX_PENALTY)
			entry->penalty++;
		if (checksum != 0) {
			entry->checksums[entry->checksum_pos] = checksum;
			entry->checksum_pos = (entry->checksum_pos + 1) %
				PENALTY_CHECKSUMS;
		}
	}
	/* even when the value stays, the time moves (Dovecot's rule) */
	entry->last_penalty = ioloop_time;
	entry->last_penalty_msecs = auth_penalty_now_msecs();
}

void auth_penalty_success(struct auth_penalty *penalty, const char *remote_ip)
{
	const char *ident = auth_penalty_ident(remote_ip);
	struct auth_penalty_entry *entry;

	if (ident != NULL &&
	    (entry = hash_table_lookup(penalty->table, ident)) != NULL)
		auth_penalty_entry_free(penalty, entry);
}
