/* Parsing and canonical formatting of single setting values (bools, sizes,
   times, modes, ports, address lists...), and the edit distance used to
   suggest the setting an admin probably meant. */
#include "lib.h"
#include "config-types.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>
#include <sys/socket.h>

#define FIELD(set, def) ((char *)(set) + (def)->offset)
#define CFIELD(set, def) ((const char *)(set) + (def)->offset)

/* The size and time suffixes are Dovecot's, so its values read the same. */
static const struct {
	const char *name;
	uint64_t msecs;
} config_time_units[] = {
	{ "ms", 1 }, { "msec", 1 }, { "msecs", 1 },
	{ "millisecond", 1 }, { "milliseconds", 1 },
	{ "s", 1000 }, { "sec", 1000 }, { "secs", 1000 },
	{ "second", 1000 }, { "seconds", 1000 },
	{ "m", 60000 }, { "min", 60000 }, { "mins", 60000 },
	{ "minute", 60000 }, { "minutes", 60000 },
	{ "h", 3600000 }, { "hour", 3600000 }, { "hours", 3600000 },
	{ "d", 86400000 }, { "day", 86400000 }, { "days", 86400000 },
	{ "w", 604800000 }, { "week", 604800000 }, { "weeks", 604800000 },
};

/* Leading decimal digits of *p into *num_r, advancing *p. */
static int config_parse_digits(const char **p, uint64_t *num_r)
{
	uint64_t num = 0;
	const char *s = *p;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned int digit = (unsigned int)(*s - '0');
		if (num > (UINT64_MAX - digit) / 10)
			return -1;
		num = num * 10 + digit;
	}
	*p = s;
	*num_r = num;
	return 0;
}

int config_parse_bool(const char *str, bool *result_r)
{
	if (strcasecmp(str, "yes") == 0 || strcasecmp(str, "y") == 0 ||
	    strcmp(str, "1") == 0) {
		*result_r = true;
		return 0;
	}
	if (strcasecmp(str, "no") == 0 || strcasecmp(str, "n") == 0 ||
	    strcmp(str, "0") == 0) {
		*result_r = false;
		return 0;
	}
	return -1;
}

int config_parse_uint(const char *str, unsigned int *result_r)
{
	return str_to_uint(str, result_r);
}

uint64_t config_size_unit_multiplier(char unit)
{
	switch (toupper((unsigned char)unit)) {
	case 'B':
		return 1;
	case 'K':
		return 1024ULL;
	case 'M':
		return 1024ULL * 1024;
	case 'G':
		return 1024ULL * 1024 * 1024;
	case 'T':
		return 1024ULL * 1024 * 1024 * 1024;
	default:
		return 0;
	}
}

int config_parse_size(const char *str, uint64_t *bytes_r)
{
	const char *p = str;
	uint64_t num, multiply = 1;

	if (config_parse_digits(&p, &num) < 0)
		return -1;
	while (*p == ' ')
		p++;
	if (config_size_unit_multiplier(*p) != 0)
		multiply = config_size_unit_multiplier(*p++);
	if (multiply > 1) {
		/* k, kB, KiB all mean the same */
		if (toupper((unsigned char)*p) == 'I')
			p++;
		if (toupper((unsigned char)*p) == 'B')
			p++;
	}
	if (*p != '\0' || num > UINT64_MAX / multiply)
		return -1;
	*bytes_r = num * multiply;
	return 0;
}

int config_parse_time_msecs(const char *str, uint64_t *msecs_r)
{
	const char *p = str;
	uint64_t num;

	if (config_parse_digits(&p, &num) < 0)
		return -1;
	while (*p == ' ')
		p++;
	if (*p == '\0') {
		/* a plain number is seconds, as in Dovecot */
		if (num > UINT64_MAX / 1000)
			return -1;
		*msecs_r = num * 1000;
		return 0;
	}
	for (unsigned int i = 0; i < N_ELEMENTS(config_time_units); i++) {
		if (strcasecmp(p, config_time_units[i].name) != 0)
			continue;
		if (num > UINT64_MAX / config_time_units[i].msecs)
			return -1;
		*msecs_r = num * config_time_units[i].msecs;
		return 0;
	}
	return -1;
}

int config_parse_mode(const char *str, unsigned int *mode_r)
{
	unsigned int mode = 0;

	if (*str == '\0')
		return -1;
	for (const char *p = str; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			return -1;
		mode = mode * 8 + (unsigned int)(*p - '0');
		if (mode > 07777)
			return -1;
	}
	*mode_r = mode;
	return 0;
}

int config_parse_port(const char *str, unsigned int *port_r)
{
	unsigned int port;

	if (str_to_uint(str, &port) < 0 || port > 65535)
		return -1;
	*port_r = port;
	return 0;
}

int config_parse_net(const char *str, struct config_net *net_r)
{
	const char *slash = strchr(str, '/');
	const char *ip = slash == NULL ? str :
		t_strndup(str, (size_t)(slash - str));
	unsigned int max_bits;

	memset(net_r, 0, sizeof(*net_r));
	if (inet_pton(AF_INET, ip, net_r->ip) == 1) {
		net_r->family = AF_INET;
		max_bits = 32;
	} else if (inet_pton(AF_INET6, ip, net_r->ip) == 1) {
		net_r->family = AF_INET6;
		max_bits = 128;
	} else {
		return -1;
	}
	net_r->bits = max_bits;
	if (slash != NULL) {
		if (str_to_uint(slash + 1, &net_r->bits) < 0 ||
		    net_r->bits > max_bits)
			return -1;
	}
	return 0;
}

static bool config_hostname_is_valid(const char *str)
{
	size_t label_len = 0, len = strlen(str);

	if (len == 0 || len > 253)
		return false;
	for (const char *p = str; *p != '\0'; p++) {
		if (*p == '.') {
			if (label_len == 0)
				return false;
			label_len = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-' ||
			   *p == '_') {
			if (++label_len > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

bool config_addr_is_valid(const char *str)
{
	unsigned char buf[16];

	if (strcmp(str, "*") == 0 || strcmp(str, "::") == 0)
		return true;
	if (inet_pton(AF_INET, str, buf) == 1 ||
	    inet_pton(AF_INET6, str, buf) == 1)
		return true;
	return config_hostname_is_valid(str);
}

const char *config_format_size(uint64_t bytes)
{
	static const char units[] = "kMGT";
	unsigned int unit = 0;

	if (bytes == 0 || bytes % 1024 != 0)
		return t_strdup_printf("%llu", (unsigned long long)bytes);
	while (unit + 1 < sizeof(units) - 1 && bytes % (1024 * 1024) == 0) {
		bytes /= 1024;
		unit++;
	}
	return t_strdup_printf("%llu%c", (unsigned long long)(bytes / 1024),
			       units[unit]);
}

const char *config_format_time_msecs(uint64_t msecs)
{
	static const struct {
		uint64_t secs;
		const char *one, *many;
	} units[] = {
		{ 604800, "week", "weeks" },
		{ 86400, "day", "days" },
		{ 3600, "hour", "hours" },
		{ 60, "min", "mins" },
		{ 1, "sec", "secs" },
	};

	if (msecs == 0)
		return "0";
	if (msecs % 1000 != 0)
		return t_strdup_printf("%llu ms", (unsigned long long)msecs);
	uint64_t secs = msecs / 1000;
	for (unsigned int i = 0;; i++) {
		if (secs % units[i].secs == 0) {
			uint64_t n = secs / units[i].secs;
			return t_strdup_printf("%llu %s", (unsigned long long)n,
					       n == 1 ? units[i].one :
					       units[i].many);
		}
	}
}

static const char *config_values_join(const char *const *values)
{
	return t_strarray_join(values, ", ");
}

const char *config_setting_expected(const struct config_setting_def *def)
{
	switch (def->type) {
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "yes or no";
	case CONFIG_TYPE_UINT:
		return "a whole number 0-4294967295";
	case CONFIG_TYPE_SIZE:
		return "a size like 4096, 512k, 10M or 1G";
	case CONFIG_TYPE_TIME:
		return "a time in whole seconds like 30 secs, 5 mins or 1 hour";
	case CONFIG_TYPE_TIME_MSECS:
		return "a time like 100 ms, 30 secs or 5 mins";
	case CONFIG_TYPE_ENUM:
		return t_strdup_printf("one of: %s",
				       config_values_join(def->values));
	case CONFIG_TYPE_LIST:
		if (def->values == NULL)
			return "a space-separated list";
		return t_strdup_printf("a space-separated list of: %s",
				       config_values_join(def->values));
	case CONFIG_TYPE_MODE:
		return "an octal file mode like 0600";
	case CONFIG_TYPE_PORT:
		return "a port number 1-65535, or 0 to disable";
	case CONFIG_TYPE_ADDR_LIST:
		return "IP addresses or host names separated by commas or "
			"spaces; * means all IPv4 and :: all IPv6 addresses";
	case CONFIG_TYPE_NET_LIST:
		return "IP addresses or networks like 10.0.0.0/8 or "
			"2001:db8::/32, separated by spaces";
	case CONFIG_TYPE_GROUP:
	case CONFIG_TYPE_SECTION:
	case CONFIG_TYPE_SECTION_LIST:
		break;
	}
	return t_strdup_printf("a %s section", def->key);
}

static bool config_value_in(const char *value, const char *const *values)
{
	for (unsigned int i = 0; values[i] != NULL; i++) {
		if (strcmp(values[i], value) == 0)
			return true;
	}
	return false;
}

static const char *const *
config_list_dup(pool_t pool, const char *const *items)
{
	unsigned int count = str_array_length(items);
	const char **ret = p_new(pool, const char *, count + 1);

	for (unsigned int i = 0; i < count; i++)
		ret[i] = p_strdup(pool, items[i]);
	return ret;
}

int config_setting_parse(const struct config_setting_def *def, void *set,
			 pool_t pool, const char *value, const char **error_r)
{
	void *field = FIELD(set, def);
	const char *bad = value;
	const char **items;
	uint64_t num;
	unsigned int u;
	bool b;

	switch (def->type) {
	case CONFIG_TYPE_STRING:
		*(const char **)field = p_strdup(pool, value);
		return 0;
	case CONFIG_TYPE_BOOL:
		if (config_parse_bool(value, &b) < 0)
			break;
		*(bool *)field = b;
		return 0;
	case CONFIG_TYPE_UINT:
		if (config_parse_uint(value, &u) < 0)
			break;
		*(unsigned int *)field = u;
		return 0;
	case CONFIG_TYPE_SIZE:
		if (config_parse_size(value, &num) < 0)
			break;
		*(uint64_t *)field = num;
		return 0;
	case CONFIG_TYPE_TIME:
		if (config_parse_time_msecs(value, &num) < 0 ||
		    num % 1000 != 0 || num / 1000 > UINT_MAX)
			break;
		*(unsigned int *)field = (unsigned int)(num / 1000);
		return 0;
	case CONFIG_TYPE_TIME_MSECS:
		if (config_parse_time_msecs(value, &num) < 0 || num > UINT_MAX)
			break;
		*(unsigned int *)field = (unsigned int)num;
		return 0;
	case CONFIG_TYPE_ENUM:
		for (unsigned int i = 0; def->values[i] != NULL; i++) {
			if (strcmp(def->values[i], value) == 0) {
				*(const char **)field = def->values[i];
				return 0;
			}
		}
		break;
	case CONFIG_TYPE_MODE:
		if (config_parse_mode(value, &u) < 0)
			break;
		*(unsigned int *)field = u;
		return 0;
	case CONFIG_TYPE_PORT:
		if (config_parse_port(value, &u) < 0)
			break;
		*(unsigned int *)field = u;
		return 0;
	case CONFIG_TYPE_LIST:
	case CONFIG_TYPE_ADDR_LIST:
	case CONFIG_TYPE_NET_LIST:
		items = t_strsplit_spaces(value, def->type == CONFIG_TYPE_LIST ?
					  " \t\r\n" : " \t\r\n,");
		for (unsigned int i = 0; items[i] != NULL; i++) {
			struct config_net net;
			bool ok = true;

			if (def->type == CONFIG_TYPE_ADDR_LIST)
				ok = config_addr_is_valid(items[i]);
			else if (def->type == CONFIG_TYPE_NET_LIST)
				ok = config_parse_net(items[i], &net) == 0;
			else if (def->values != NULL)
				ok = config_value_in(items[i], def->values);
			if (!ok) {
				bad = items[i];
				goto invalid;
			}
		}
		*(const char *const **)field = config_list_dup(pool, items);
		return 0;
	case CONFIG_TYPE_GROUP:
	case CONFIG_TYPE_SECTION:
	case CONFIG_TYPE_SECTION_LIST:
		i_unreached();
	}
invalid:
	*error_r = t_strdup_printf("Invalid value for %s: %s (expected %s)",
				   def->key, str_sanitize(bad, 200),
				   config_setting_expected(def));
	return -1;
}

const char *config_setting_format(const struct config_setting_def *def,
				  const void *set)
{
	const void *field = CFIELD(set, def);
	const char *const *list;
	const char *str;

	switch (def->type) {
	case CONFIG_TYPE_STRING:
	case CONFIG_TYPE_ENUM:
		str = *(const char *const *)field;
		return str == NULL ? "" : str;
	case CONFIG_TYPE_BOOL:
		return *(const bool *)field ? "yes" : "no";
	case CONFIG_TYPE_UINT:
	case CONFIG_TYPE_PORT:
		return t_strdup_printf("%u", *(const unsigned int *)field);
	case CONFIG_TYPE_SIZE:
		return config_format_size(*(const uint64_t *)field);
	case CONFIG_TYPE_TIME:
		return config_format_time_msecs(
			(uint64_t)*(const unsigned int *)field * 1000);
	case CONFIG_TYPE_TIME_MSECS:
		return config_format_time_msecs(*(const unsigned int *)field);
	case CONFIG_TYPE_MODE:
		return t_strdup_printf("%04o", *(const unsigned int *)field);
	case CONFIG_TYPE_LIST:
	case CONFIG_TYPE_ADDR_LIST:
	case CONFIG_TYPE_NET_LIST:
		list = *(const char *const *const *)field;
		if (list == NULL)
			return "";
		return t_strarray_join(list, def->type == CONFIG_TYPE_ADDR_LIST ?
				       ", " : " ");
	case CONFIG_TYPE_GROUP:
	case CONFIG_TYPE_SECTION:
	case CONFIG_TYPE_SECTION_LIST:
		break;
	}
	i_unreached();
}

unsigned int config_edit_distance(const char *a, const char *b,
				  unsigned int limit)
{
	size_t la = strlen(a), lb = strlen(b);

	if ((la > lb ? la - lb : lb - la) > limit || la > 256 || lb > 256)
		return limit + 1;
	/* three rows: i-2, i-1, i */
	unsigned int *rows = t_new(unsigned int, 3 * (lb + 1));
	unsigned int *prev2 = rows, *prev = rows + lb + 1,
		*cur = rows + 2 * (lb + 1);

	for (size_t j = 0; j <= lb; j++)
		prev[j] = (unsigned int)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned int row_min;

		cur[0] = row_min = (unsigned int)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned int cost = a[i - 1] == b[j - 1] ? 0 : 1;
			unsigned int d = I_MIN(prev[j] + 1, cur[j - 1] + 1);
			d = I_MIN(d, prev[j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1])
				d = I_MIN(d, prev2[j - 2] + 1);
			cur[j] = d;
			row_min = I_MIN(row_min, d);
		}
		if (row_min > limit)
			return limit + 1;
		unsigned int *tmp = prev2;
		prev2 = prev;
		prev = cur;
		cur = tmp;
	}
	return I_MIN(prev[lb], limit + 1);
}
