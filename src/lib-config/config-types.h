/* Setting definitions: the types a setting can have, the tables that
   describe a settings struct, and the parsing and formatting of single
   values. A group of settings is a C struct plus a table of
   struct config_setting_def built with the CONFIG_DEF_* macros below. */
#ifndef COLUMBA_CONFIG_TYPES_H
#define COLUMBA_CONFIG_TYPES_H

#include "lib.h"

enum config_type {
	/* const char *; "" when unset. */
	CONFIG_TYPE_STRING,
	/* bool; yes/no (also y/n, 1/0, any case). */
	CONFIG_TYPE_BOOL,
	/* unsigned int. */
	CONFIG_TYPE_UINT,
	/* uint64_t bytes; units B, k, M, G, T (powers of 1024). */
	CONFIG_TYPE_SIZE,
	/* unsigned int seconds; units ms (whole seconds only), secs, mins,
	   hours, days, weeks. */
	CONFIG_TYPE_TIME,
	/* unsigned int milliseconds; same units. */
	CONFIG_TYPE_TIME_MSECS,
	/* const char *, one of def->values (pointing into that array). */
	CONFIG_TYPE_ENUM,
	/* const char *const *, NULL-terminated, space-separated in the
	   file; every item must be one of def->values when that is set. */
	CONFIG_TYPE_LIST,
	/* unsigned int, octal file mode 0-07777. */
	CONFIG_TYPE_MODE,
	/* unsigned int 0-65535 (0 disables a listener). */
	CONFIG_TYPE_PORT,
	/* const char *const *: IP addresses, host names, "*" (all IPv4) or
	   "::" (all IPv6), separated by commas and/or spaces. */
	CONFIG_TYPE_ADDR_LIST,
	/* const char *const *: IP addresses or networks (10.0.0.0/8). */
	CONFIG_TYPE_NET_LIST,
	/* An embedded struct (def->section) whose settings are written at
	   this level, as if they were the parent's own (the ssl_* settings
	   live in struct ssl_settings but are top-level keys). */
	CONFIG_TYPE_GROUP,
	/* An embedded struct (def->section) written as `key { ... }`. */
	CONFIG_TYPE_SECTION,
	/* ARRAY(struct x *) of named sections written `key NAME { ... }`;
	   a second section with the same NAME changes the first one. */
	CONFIG_TYPE_SECTION_LIST,
};

enum config_setting_flags {
	/* A secret: wiped from memory by config_free() and hidden by
	   CONFIG_DUMP_FLAG_HIDE_SECRETS. */
	CONFIG_SETTING_FLAG_SECRET = 0x01,
};

struct config_section_def;

struct config_setting_def {
	/* The name in the file (for SECTION/SECTION_LIST the section
	   keyword; for GROUP only a label). NULL ends the table. */
	const char *key;
	enum config_type type;
	/* Where the field is in the struct. */
	size_t offset;
	/* The default in configuration syntax, parsed like a value from a
	   file; NULL means empty/0/no. */
	const char *default_value;
	/* ENUM: the allowed values; LIST: the allowed items (NULL = any).
	   NULL-terminated. */
	const char *const *values;
	/* GROUP, SECTION, SECTION_LIST: the struct's definition. */
	const struct config_section_def *section;
	enum config_setting_flags flags;
};

/* Cross-field validation of one section (or the root) after all values
   are in; children are checked before their parents. It may fill derived
   fields of set (fields that are not settings), allocating from pool.
   On error it returns -1 with *error_r set, and *key_r set to the setting
   to blame (the message gets that setting's FILE:LINE) or left NULL to
   blame the section as a whole. */
typedef int config_check_func_t(void *set, pool_t pool, const char **key_r,
				const char **error_r);

struct config_section_def {
	/* For messages: "service", "inet_listener"... */
	const char *name;
	size_t struct_size;
	const struct config_setting_def *settings;
	/* SECTION_LIST only: the `const char *` field that receives NAME. */
	size_t name_offset;
	/* SECTION_LIST only: the allowed names (NULL = any). */
	const char *const *known_names;
	/* SECTION_LIST only: the GROUP members start from the parent's values
	   of the same group instead of the defaults (Dovecot-style filters:
	   local_name sections override only what they set). */
	bool inherit;
	/* SECTION_LIST only: the name is optional and the entries keep the
	   order they were written in (Dovecot 2.3 writes passdb { ... } and
	   userdb { ... } without names, and tries them in order). A section
	   without a name is always a new entry; one with a name changes the
	   earlier entry of that name, as elsewhere (Dovecot 2.4's style). */
	bool ordered;
	config_check_func_t *check;
};

/* The offset of a field, failing to compile unless it has type ctype. */
#define CONFIG_FIELD_(stype, field, ctype) \
	(offsetof(stype, field) + 0 * sizeof(char[ \
	 __builtin_types_compatible_p(__typeof__(((stype *)0)->field), \
				      ctype) ? 1 : -1]))

#define CONFIG_DEF_(t, stype, field, ctype, def) \
	{ .key = #field, .type = (t), \
	  .offset = CONFIG_FIELD_(stype, field, ctype), .default_value = (def) }
#define CONFIG_DEF_STR(stype, field, def) \
	CONFIG_DEF_(CONFIG_TYPE_STRING, stype, field, const char *, def)
#define CONFIG_DEF_SECRET(stype, field, def) \
	{ .key = #field, .type = CONFIG_TYPE_STRING, \
	  .offset = CONFIG_FIELD_(stype, field, const char *), \
	  .default_value = (def), .flags = CONFIG_SETTING_FLAG_SECRET }
#define CONFIG_DEF_BOOL(stype, field, def) \
	CONFIG_DEF_(CONFIG_TYPE_BOOL, stype, field, bool, def)
#define CONFIG_DEF_UINT(stype, field, def) \
	CONFIG_DEF_(CONFIG_TYPE_UINT, stype, field, unsigned int, def)
#define CONFIG_DEF_SIZE(stype, field, def) \
	CONFIG_DEF_(CONFIG_TYPE_SIZE, stype, field, uint64_t, def)
#define CONFIG_DEF_TIME(stype, field, def) \
	CONFIG_DEF_(CONFIG_TYPE_TIME, stype, field, unsigned int, def)
#define CONFIG_DEF_TIME_MSECS(stype, field, def) \
	CONFIG_DEF_(CONFIG_TYPE_TIME_MSECS, stype, field, unsigned int, def)
#define CONFIG_DEF_MODE(stype, field, def) \
	CONFIG_DEF_(CONFIG_TYPE_MODE, stype, field, unsigned int, def)
#define CONFIG_DEF_PORT(stype, field, def) \
	CONFIG_DEF_(CONFIG_TYPE_PORT, stype, field, unsigned int, def)
#define CONFIG_DEF_ENUM(stype, field, def, allowed) \
	{ .key = #field, .type = CONFIG_TYPE_ENUM, \
	  .offset = CONFIG_FIELD_(stype, field, const char *), \
	  .default_value = (def), .values = (allowed) }
#define CONFIG_DEF_LIST(stype, field, def, allowed) \
	{ .key = #field, .type = CONFIG_TYPE_LIST, \
	  .offset = CONFIG_FIELD_(stype, field, const char *const *), \
	  .default_value = (def), .values = (allowed) }
#define CONFIG_DEF_ADDR_LIST(stype, field, def) \
	CONFIG_DEF_(CONFIG_TYPE_ADDR_LIST, stype, field, const char *const *, def)
#define CONFIG_DEF_NET_LIST(stype, field, def) \
	CONFIG_DEF_(CONFIG_TYPE_NET_LIST, stype, field, const char *const *, def)
#define CONFIG_DEF_GROUP(stype, field, sdef) \
	{ .key = #field, .type = CONFIG_TYPE_GROUP, \
	  .offset = offsetof(stype, field), .section = (sdef) }
#define CONFIG_DEF_SECTION(keyword, stype, field, sdef) \
	{ .key = (keyword), .type = CONFIG_TYPE_SECTION, \
	  .offset = offsetof(stype, field), .section = (sdef) }
/* field must be declared ARRAY(struct x *). */
#define CONFIG_DEF_SECTION_LIST(keyword, stype, field, sdef) \
	{ .key = (keyword), .type = CONFIG_TYPE_SECTION_LIST, \
	  .offset = offsetof(stype, field) + \
		0 * sizeof(((stype *)0)->field.count), .section = (sdef) }
#define CONFIG_DEF_END { .key = NULL }

/* How the engine sees every ARRAY(struct x *) field: the same layout. */
typedef ARRAY(void *) config_ptr_array_t;

/* Single values. Each returns 0 and the value, or -1 when str is not
   valid; the caller words the error (config_setting_expected()). */
int config_parse_bool(const char *str, bool *result_r) ATTR_WARN_UNUSED;
int config_parse_uint(const char *str, unsigned int *result_r)
	ATTR_WARN_UNUSED;
int config_parse_size(const char *str, uint64_t *bytes_r) ATTR_WARN_UNUSED;
/* What a size unit letter multiplies by: B 1, K 1024 ... T 1024^4, in
   either case; 0 for any other character. */
uint64_t config_size_unit_multiplier(char unit);
/* A time interval; a plain number means seconds. */
int config_parse_time_msecs(const char *str, uint64_t *msecs_r)
	ATTR_WARN_UNUSED;
int config_parse_mode(const char *str, unsigned int *mode_r)
	ATTR_WARN_UNUSED;
int config_parse_port(const char *str, unsigned int *port_r)
	ATTR_WARN_UNUSED;

struct config_net {
	int family; /* AF_INET or AF_INET6 */
	unsigned char ip[16];
	unsigned int bits;
};
/* "192.0.2.1", "192.0.2.0/24", "2001:db8::/32". A bare address is a
   network of all bits; host bits outside the mask are ignored. */
int config_parse_net(const char *str, struct config_net *net_r)
	ATTR_WARN_UNUSED;
/* An IP address, "*", "::" or a host name. */
bool config_addr_is_valid(const char *str);

/* The canonical form config_dump() writes ("10M", "512k", "1234";
   "30 secs", "5 mins", "100 ms"). Data stack. */
const char *config_format_size(uint64_t bytes);
const char *config_format_time_msecs(uint64_t msecs);

/* Parse value into def's field of set (strings allocated from pool).
   On error returns -1 with *error_r set (data stack) to
   "Invalid value for KEY: VALUE (expected ...)". Not for GROUP/SECTION
   types. */
int config_setting_parse(const struct config_setting_def *def, void *set,
			 pool_t pool, const char *value, const char **error_r)
	ATTR_WARN_UNUSED;
/* The field's value in canonical text form, unquoted: on the data stack,
   or for STRING and ENUM the field's own string. */
const char *config_setting_format(const struct config_setting_def *def,
				  const void *set);
/* What a valid value looks like, for messages and docs: "yes or no". */
const char *config_setting_expected(const struct config_setting_def *def);

/* Optimal string alignment distance (Levenshtein plus transpositions),
   for "did you mean" suggestions. Stops counting at limit+1. */
unsigned int config_edit_distance(const char *a, const char *b,
				  unsigned int limit);

#endif
