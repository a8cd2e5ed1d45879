/* Ordered key=value lists for passdb and userdb results. Lists are short
   (a handful of fields), so a linear search beats a hash table. */
#include "lib.h"
#include "auth-fields.h"

struct auth_fields {
	pool_t pool;
	ARRAY(struct auth_field) fields;
};

struct auth_fields *auth_fields_create(pool_t pool)
{
	struct auth_fields *fields = p_new(pool, struct auth_fields, 1);

	fields->pool = pool;
	array_init(&fields->fields, pool, 8);
	return fields;
}

static struct auth_field *auth_fields_lookup(const struct auth_fields *fields,
					     const char *key)
{
	struct auth_field *field;

	array_foreach(&fields->fields, field) {
		if (strcmp(field->key, key) == 0)
			return field;
	}
	return NULL;
}

void auth_fields_add(struct auth_fields *fields, const char *key,
		     const char *value)
{
	struct auth_field *field = auth_fields_lookup(fields, key);

	if (field == NULL) {
		field = array_append_space(&fields->fields);
		field->key = p_strdup(fields->pool, key);
	}
	field->value = p_strdup(fields->pool, value == NULL ? "" : value);
}

bool auth_fields_remove(struct auth_fields *fields, const char *key)
{
	struct auth_field *field = auth_fields_lookup(fields, key);

	if (field == NULL)
		return false;
	array_delete(&fields->fields,
		     (unsigned int)(field - fields->fields.v), 1);
	return true;
}

const char *auth_fields_find(const struct auth_fields *fields, const char *key)
{
	const struct auth_field *field = auth_fields_lookup(fields, key);

	return field == NULL ? NULL : field->value;
}

bool auth_fields_exists(const struct auth_fields *fields, const char *key)
{
	return auth_fields_lookup(fields, key) != NULL;
}

const struct auth_field *auth_fields_get(const struct auth_fields *fields,
					 unsigned int *count_r)
{
	*count_r = array_count(&fields->fields);
	return fields->fields.v;
}

unsigned int auth_fields_count(const struct auth_fields *fields)
{
	return array_count(&fields->fields);
}

struct auth_fields *auth_fields_parse_template(pool_t pool, const char *args)
{
	struct auth_fields *fields = auth_fields_create(pool);
	const char *p = args;

	/* no data stack frame here: pool itself may be the data stack */
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		size_t len = strcspn(p, " \t");
		const char *eq = memchr(p, '=', len);

		if (eq == NULL)
			auth_fields_add(fields, p_strndup(pool, p, len), "");
		else {
			auth_fields_add(fields,
					p_strndup(pool, p, (size_t)(eq - p)),
					p_strndup(pool, eq + 1,
						  len - (size_t)(eq - p) - 1));
		}
		p += len;
	}
	return fields;
}
