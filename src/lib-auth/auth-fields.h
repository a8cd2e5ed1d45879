/* An ordered list of key=value fields: what a passdb or userdb lookup
   returns besides the password (nologin, proxy, host=, uid=, home=...),
   and the "key=value key2" templates in a driver's args. */
#ifndef COLUMBA_AUTH_FIELDS_H
#define COLUMBA_AUTH_FIELDS_H

#include "lib.h"

struct auth_field {
	const char *key;
	/* "" for a field given without a value ("nologin") */
	const char *value;
};

struct auth_fields;

/* An empty list whose strings and storage come from pool. */
struct auth_fields *auth_fields_create(pool_t pool);
/* Set key to value (copied into the pool), replacing an earlier value
   of the same key but keeping its place. */
void auth_fields_add(struct auth_fields *fields, const char *key,
		     const char *value);
/* Returns true if the key was there. */
bool auth_fields_remove(struct auth_fields *fields, const char *key);
/* The value, or NULL if key is not set. */
const char *auth_fields_find(const struct auth_fields *fields,
			     const char *key);
bool auth_fields_exists(const struct auth_fields *fields, const char *key);
/* All fields in the order they were first added. */
const struct auth_field *auth_fields_get(const struct auth_fields *fields,
					 unsigned int *count_r);
unsigned int auth_fields_count(const struct auth_fields *fields);

/* Parse Dovecot's args template "key=value key2 ..." (space-separated;
   a value cannot contain spaces) into a new list from pool. Values are
   kept as written: expand them per lookup with auth_vars_expand(). */
struct auth_fields *auth_fields_parse_template(pool_t pool, const char *args);

#endif
