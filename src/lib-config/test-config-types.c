/* Tests for single values: parsing, canonical formatting, the error
   messages, and the edit distance behind "did you mean". */
#include "test-lib-config.h"

#include <sys/socket.h>

static void test_config_bool(void)
{
	test_begin("config bool");
	static const char *const yes[] = { "yes", "YES", "y", "Y", "1" };
	static const char *const no[] = { "no", "No", "n", "N", "0" };
	static const char *const bad[] = { "", "maybe", "true", "yess", " yes" };
	bool b;
	for (unsigned int i = 0; i < N_ELEMENTS(yes); i++)
		test_assert_idx(config_parse_bool(yes[i], &b) == 0 && b, i);
	for (unsigned int i = 0; i < N_ELEMENTS(no); i++)
		test_assert_idx(config_parse_bool(no[i], &b) == 0 && !b, i);
	for (unsigned int i = 0; i < N_ELEMENTS(bad); i++)
		test_assert_idx(config_parse_bool(bad[i], &b) < 0, i);
	test_end();
}

static void test_config_uint_port_mode(void)
{
	test_begin("config uint, port, mode");
	unsigned int u;
	test_assert(config_parse_uint("0", &u) == 0 && u == 0);
	test_assert(config_parse_uint("4294967295", &u) == 0 && u == UINT_MAX);
	test_assert(config_parse_uint("4294967296", &u) < 0);
	test_assert(config_parse_uint("-1", &u) < 0);
	test_assert(config_parse_uint("", &u) < 0);
	test_assert(config_parse_uint("1k", &u) < 0);

	test_assert(config_parse_port("0", &u) == 0 && u == 0);
	test_assert(config_parse_port("993", &u) == 0 && u == 993);
	test_assert(config_parse_port("65535", &u) == 0 && u == 65535);
	test_assert(config_parse_port("65536", &u) < 0);
	test_assert(config_parse_port("99999", &u) < 0);
	test_assert(config_parse_port("imap", &u) < 0);

	test_assert(config_parse_mode("0600", &u) == 0 && u == 0600);
	test_assert(config_parse_mode("600", &u) == 0 && u == 0600);
	test_assert(config_parse_mode("07777", &u) == 0 && u == 07777);
	test_assert(config_parse_mode("0", &u) == 0 && u == 0);
	test_assert(config_parse_mode("0800", &u) < 0);
	test_assert(config_parse_mode("017777", &u) < 0);
	test_assert(config_parse_mode("", &u) < 0);
	test_assert(config_parse_mode("rw", &u) < 0);
	test_end();
}

static void test_config_size(void)
{
	test_begin("config size");
	static const struct {
		const char *str;
		uint64_t bytes;
	} good[] = {
		{ "0", 0 }, { "10", 10 }, { "10B", 10 }, { "10 b", 10 },
		{ "512k", 512 * 1024 }, { "512 K", 512 * 1024 },
		{ "2KiB", 2048 }, { "2kB", 2048 }, { "10M", 10 * 1024 * 1024 },
		{ "1 G", 1024ULL * 1024 * 1024 }, { "1GB", 1024ULL * 1024 * 1024 },
		{ "3T", 3ULL * 1024 * 1024 * 1024 * 1024 },
		{ "18446744073709551615", UINT64_MAX },
	};
	static const char *const bad[] = {
		"", "k", "10X", "10 kk", "1.5M", "-1", "10 MiBs",
		"16777216T", "18446744073709551616", " 10",
	};
	uint64_t n;
	for (unsigned int i = 0; i < N_ELEMENTS(good); i++) {
		test_assert_idx(config_parse_size(good[i].str, &n) == 0 &&
				n == good[i].bytes, i);
	}
	for (unsigned int i = 0; i < N_ELEMENTS(bad); i++)
		test_assert_idx(config_parse_size(bad[i], &n) < 0, i);

	test_assert_strcmp(config_format_size(0), "0");
	test_assert_strcmp(config_format_size(1023), "1023");
	test_assert_strcmp(config_format_size(1536), "1536");
	test_assert_strcmp(config_format_size(1024), "1k");
	test_assert_strcmp(config_format_size(1536 * 1024), "1536k");
	test_assert_strcmp(config_format_size(256ULL << 20), "256M");
	test_assert_strcmp(config_format_size(1ULL << 30), "1G");
	test_assert_strcmp(config_format_size(1ULL << 40), "1T");
	test_assert_strcmp(config_format_size(1ULL << 50), "1024T");
	/* what is printed reads back the same */
	for (uint64_t v = 1; v < (1ULL << 60); v = v * 3 + 1024) {
		test_assert(config_parse_size(config_format_size(v), &n) == 0 &&
			    n == v);
	}
	test_end();
}

static void test_config_time(void)
{
	test_begin("config time");
	static const struct {
		const char *str;
		uint64_t msecs;
	} good[] = {
		{ "0", 0 }, { "30", 30000 }, { "30 secs", 30000 },
		{ "30s", 30000 }, { "1 second", 1000 }, { "5 mins", 300000 },
		{ "5m", 300000 }, { "1 minute", 60000 }, { "1h", 3600000 },
		{ "2 Hours", 7200000 }, { "1 d", 86400000 },
		{ "2 weeks", 1209600000 }, { "100 ms", 100 },
		{ "100msecs", 100 }, { "3 milliseconds", 3 },
	};
	static const char *const bad[] = {
		"", "secs", "1.5h", "5 minutes ago", "-1", "1 fortnight",
		"18446744073709551615 weeks",
	};
	uint64_t n;
	for (unsigned int i = 0; i < N_ELEMENTS(good); i++) {
		test_assert_idx(config_parse_time_msecs(good[i].str, &n) == 0 &&
				n == good[i].msecs, i);
	}
	for (unsigned int i = 0; i < N_ELEMENTS(bad); i++)
		test_assert_idx(config_parse_time_msecs(bad[i], &n) < 0, i);

	test_assert_strcmp(config_format_time_msecs(0), "0");
	test_assert_strcmp(config_format_time_msecs(100), "100 ms");
	test_assert_strcmp(config_format_time_msecs(1500), "1500 ms");
	test_assert_strcmp(config_format_time_msecs(1000), "1 sec");
	test_assert_strcmp(config_format_time_msecs(30000), "30 secs");
	test_assert_strcmp(config_format_time_msecs(60000), "1 min");
	test_assert_strcmp(config_format_time_msecs(90000), "90 secs");
	test_assert_strcmp(config_format_time_msecs(300000), "5 mins");
	test_assert_strcmp(config_format_time_msecs(3600000), "1 hour");
	test_assert_strcmp(config_format_time_msecs(86400000), "1 day");
	test_assert_strcmp(config_format_time_msecs(172800000), "2 days");
	test_assert_strcmp(config_format_time_msecs(604800000), "1 week");
	for (uint64_t v = 1; v < (1ULL << 50); v = v * 7 + 1000) {
		test_assert(config_parse_time_msecs(config_format_time_msecs(v),
						    &n) == 0 && n == v);
	}
	test_end();
}

static void test_config_net_addr(void)
{
	test_begin("config networks and addresses");
	struct config_net net;
	test_assert(config_parse_net("10.0.0.0/8", &net) == 0 &&
		    net.family == AF_INET && net.bits == 8 && net.ip[0] == 10);
	test_assert(config_parse_net("192.0.2.7", &net) == 0 && net.bits == 32);
	test_assert(config_parse_net("2001:db8::/32", &net) == 0 &&
		    net.family == AF_INET6 && net.bits == 32 &&
		    net.ip[0] == 0x20 && net.ip[1] == 0x01);
	test_assert(config_parse_net("::1", &net) == 0 && net.bits == 128);
	test_assert(config_parse_net("10.0.0.0/33", &net) < 0);
	test_assert(config_parse_net("::/129", &net) < 0);
	test_assert(config_parse_net("10.0.0.0/", &net) < 0);
	test_assert(config_parse_net("300.1.1.1", &net) < 0);
	test_assert(config_parse_net("example.com", &net) < 0);
	test_assert(config_parse_net("", &net) < 0);

	test_assert(config_addr_is_valid("*"));
	test_assert(config_addr_is_valid("::"));
	test_assert(config_addr_is_valid("127.0.0.1"));
	test_assert(config_addr_is_valid("fe80::1"));
	test_assert(config_addr_is_valid("mail.example.com"));
	test_assert(config_addr_is_valid("localhost"));
	test_assert(!config_addr_is_valid(""));
	test_assert(!config_addr_is_valid("a..b"));
	test_assert(!config_addr_is_valid(".a"));
	test_assert(!config_addr_is_valid("exa$mple.com"));
	test_assert(!config_addr_is_valid("1.2.3.4/8"));
	test_end();
}

struct test_values {
	const char *str, *en;
	bool b;
	unsigned int u, port, mode, secs, msecs;
	uint64_t size;
	const char *const *list, *const *any_list, *const *addrs, *const *nets;
};
static const char *const test_enum_values[] = { "one", "two", NULL };
static const struct config_setting_def test_value_defs[] = {
	CONFIG_DEF_STR(struct test_values, str, NULL),
	CONFIG_DEF_ENUM(struct test_values, en, "one", test_enum_values),
	CONFIG_DEF_BOOL(struct test_values, b, NULL),
	CONFIG_DEF_UINT(struct test_values, u, NULL),
	CONFIG_DEF_PORT(struct test_values, port, NULL),
	CONFIG_DEF_MODE(struct test_values, mode, NULL),
	CONFIG_DEF_TIME(struct test_values, secs, NULL),
	CONFIG_DEF_TIME_MSECS(struct test_values, msecs, NULL),
	CONFIG_DEF_SIZE(struct test_values, size, NULL),
	CONFIG_DEF_LIST(struct test_values, list, NULL, test_enum_values),
	CONFIG_DEF_LIST(struct test_values, any_list, NULL, NULL),
	CONFIG_DEF_ADDR_LIST(struct test_values, addrs, NULL),
	CONFIG_DEF_NET_LIST(struct test_values, nets, NULL),
	CONFIG_DEF_END
};

static const struct config_setting_def *test_value_def(const char *key)
{
	for (unsigned int i = 0; test_value_defs[i].key != NULL; i++) {
		if (strcmp(test_value_defs[i].key, key) == 0)
			return &test_value_defs[i];
	}
	i_unreached();
}

/* Parse value for key; returns the canonical form or the error. */
static const char *test_value(struct test_values *set, const char *key,
			      const char *value)
{
	const struct config_setting_def *def = test_value_def(key);
	const char *error;

	if (config_setting_parse(def, set, pool_datastack, value, &error) < 0)
		return error;
	return config_setting_format(def, set);
}

static void test_config_setting_parse(void)
{
	test_begin("config_setting_parse and _format");
	struct test_values set;
	memset(&set, 0, sizeof(set));

	test_assert_strcmp(test_value(&set, "str", " a b "), " a b ");
	test_assert_strcmp(test_value(&set, "en", "two"), "two");
	test_assert(set.en == test_enum_values[1]);
	test_assert_strcmp(test_value(&set, "b", "Y"), "yes");
	test_assert_strcmp(test_value(&set, "u", "42"), "42");
	test_assert(set.u == 42);
	test_assert_strcmp(test_value(&set, "port", "993"), "993");
	test_assert_strcmp(test_value(&set, "mode", "640"), "0640");
	test_assert(set.mode == 0640);
	test_assert_strcmp(test_value(&set, "secs", "120"), "2 mins");
	test_assert(set.secs == 120);
	test_assert_strcmp(test_value(&set, "secs", "2000 ms"), "2 secs");
	test_assert_strcmp(test_value(&set, "msecs", "1.5"),
			   "Invalid value for msecs: 1.5 (expected a time like 100 ms, 30 secs or 5 mins)");
	test_assert_strcmp(test_value(&set, "msecs", "250ms"), "250 ms");
	test_assert(set.msecs == 250);
	test_assert_strcmp(test_value(&set, "size", "1024 k"), "1M");
	test_assert(set.size == 1024 * 1024);
	test_assert_strcmp(test_value(&set, "list", "  two one\tone "),
			   "two one one");
	test_assert(str_array_length(set.list) == 3);
	test_assert_strcmp(test_value(&set, "list", ""), "");
	test_assert(set.list[0] == NULL);
	test_assert_strcmp(test_value(&set, "any_list", "x,y z"), "x,y z");
	test_assert_strcmp(test_value(&set, "addrs", "*,::  127.0.0.1,"),
			   "*, ::, 127.0.0.1");
	test_assert_strcmp(test_value(&set, "nets", "10.0.0.0/8, ::1"),
			   "10.0.0.0/8 ::1");

	/* the error messages, byte for byte */
	test_assert_strcmp(test_value(&set, "b", "maybe"),
			   "Invalid value for b: maybe (expected yes or no)");
	test_assert_strcmp(test_value(&set, "en", "three"),
			   "Invalid value for en: three (expected one of: one, two)");
	test_assert_strcmp(test_value(&set, "en", "One"),
			   "Invalid value for en: One (expected one of: one, two)");
	test_assert_strcmp(test_value(&set, "u", "-3"),
			   "Invalid value for u: -3 (expected a whole number 0-4294967295)");
	test_assert_strcmp(test_value(&set, "port", "99999"),
			   "Invalid value for port: 99999 (expected a port number 1-65535, or 0 to disable)");
	test_assert_strcmp(test_value(&set, "mode", "0999"),
			   "Invalid value for mode: 0999 (expected an octal file mode like 0600)");
	test_assert_strcmp(test_value(&set, "secs", "100 ms"),
			   "Invalid value for secs: 100 ms (expected a time in whole seconds like 30 secs, 5 mins or 1 hour)");
	test_assert_strcmp(test_value(&set, "size", "10X"),
			   "Invalid value for size: 10X (expected a size like 4096, 512k, 10M or 1G)");
	test_assert_strcmp(test_value(&set, "list", "one three"),
			   "Invalid value for list: three (expected a space-separated list of: one, two)");
	test_assert_strcmp(test_value(&set, "addrs", "127.0.0.1 bad..name"),
			   "Invalid value for addrs: bad..name (expected IP addresses or host names separated by commas or spaces; * means all IPv4 and :: all IPv6 addresses)");
	test_assert_strcmp(test_value(&set, "nets", "10.0.0.0/40"),
			   "Invalid value for nets: 10.0.0.0/40 (expected IP addresses or networks like 10.0.0.0/8 or 2001:db8::/32, separated by spaces)");
	/* control characters are not echoed raw */
	test_assert_strcmp(test_value(&set, "b", "\x1b[2J"),
			   "Invalid value for b: \\x1b[2J (expected yes or no)");
	/* a failed parse leaves the old value */
	test_assert(set.u == 42 && set.port == 993);
	test_end();
}

static void test_config_edit_distance(void)
{
	test_begin("config edit distance");
	test_assert(config_edit_distance("ssl_cert", "ssl_cert", 2) == 0);
	test_assert(config_edit_distance("ssl_certt", "ssl_cert", 2) == 1);
	test_assert(config_edit_distance("ssl_cetr", "ssl_cert", 2) == 1);
	test_assert(config_edit_distance("sl_cer", "ssl_cert", 2) == 2);
	test_assert(config_edit_distance("", "ab", 2) == 2);
	test_assert(config_edit_distance("abc", "xyz", 2) == 3);
	test_assert(config_edit_distance("protocols", "ssl_key", 2) == 3);
	test_assert(config_edit_distance("a", "abcdefgh", 2) == 3);
	test_end();
}

test_func_t *const test_config_types_tests[] = {
	test_config_bool,
	test_config_uint_port_mode,
	test_config_size,
	test_config_time,
	test_config_net_addr,
	test_config_setting_parse,
	test_config_edit_distance,
	NULL
};
