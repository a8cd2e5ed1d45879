/* Tests for the quota settings' syntax (config-quota.c): rules, units,
   what is refused, quota_grace, userdb overrides in order, and the
   start-up error naming file:line. */
#include "test-lib-config.h"
#include "columba-settings.h"
#include "config-quota.h"

static void test_quota_rule_apply(void)
{
	static const struct {
		const char *rule;
		uint64_t storage, messages;
	} good[] = {
		{ "*:storage=1G", 1024ULL * 1024 * 1024, 7 },
		/* storage= counts KiB without a unit, as in Dovecot */
		{ "*:storage=100", 100 * 1024, 7 },
		{ "*:storage=10B", 10, 7 },
		{ "*:storage=2k", 2048, 7 },
		{ "*:storage=3M:messages=10000", 3 * 1024 * 1024, 10000 },
		{ "*:bytes=12345", 12345, 7 },
		{ "*:bytes=1M", 1024 * 1024, 7 },
		{ "*:messages=5", 99, 5 },
		{ "?:messages=5", 99, 5 },
		{ "*:storage=0", 0, 7 },
		{ "*:ignore", 0, 0 },
		{ "*:storage=1T", 1024ULL * 1024 * 1024 * 1024, 7 },
	};
	static const struct {
		const char *rule, *error;
	} bad[] = {
		{ "storage=1G", "expected *:storage=SIZE" },
		{ "Trash:storage=+100M", "not rules for mailbox Trash" },
		{ "*:storage=10%", "percentages" },
		{ "*:storage=-1", "negative" },
		{ "*:storage=+1M", "relative" },
		{ "*:storage=1X", "unit B, K, M, G or T" },
		{ "*:storage=", "expected a number" },
		{ "*:storage=1G:size=3", "unknown limit size=3" },
		{ "*:", "unknown limit" },
		{ "*:messages=99999999999999999999", "too large" },
		{ "*:storage=99999999999999999T", "too large" },
	};

	test_begin("quota rules: syntax and units");
	for (unsigned int i = 0; i < N_ELEMENTS(good); i++) {
		struct config_quota_limits limits = { 99, 7 };
		const char *error = NULL;
		test_assert_idx(config_quota_rule_apply(good[i].rule, &limits,
							&error) == 0, i);
		test_assert_idx(limits.storage_bytes == good[i].storage, i);
		test_assert_idx(limits.messages == good[i].messages, i);
	}
	for (unsigned int i = 0; i < N_ELEMENTS(bad); i++) {
		struct config_quota_limits limits = { 99, 7 };
		const char *error = "";
		test_assert_idx(config_quota_rule_apply(bad[i].rule, &limits,
							&error) < 0, i);
		test_assert_idx(strstr(error, bad[i].error) != NULL, i);
		/* a bad rule changes nothing */
		test_assert_idx(limits.storage_bytes == 99 &&
				limits.messages == 7, i);
	}
	test_end();
}

static void test_quota_grace(void)
{
	uint64_t grace;
	const char *error;

	test_begin("quota_grace: percent of the limit or a size");
	test_assert(config_quota_grace_parse("10%", 1000, &grace, &error) == 0);
	test_assert(grace == 100);
	test_assert(config_quota_grace_parse("10%%", 1000, &grace, &error) == 0);
	test_assert(grace == 100);
	test_assert(config_quota_grace_parse("0%", 1000, &grace, &error) == 0);
	test_assert(grace == 0);
	test_assert(config_quota_grace_parse("10%", 0, &grace, &error) == 0);
	test_assert(grace == 0);
	test_assert(config_quota_grace_parse("10%", UINT64_MAX, &grace,
					     &error) == 0);
	test_assert(grace == UINT64_MAX / 10);
	test_assert(config_quota_grace_parse("5M", 1000, &grace, &error) == 0);
	test_assert(grace == 5 * 1024 * 1024);
	test_assert(config_quota_grace_parse("500", 1000, &grace, &error) == 0);
	test_assert(grace == 500);
	test_assert(config_quota_grace_parse("x%", 1000, &grace, &error) < 0);
	test_assert(strstr(error, "quota_grace") != NULL);
	test_assert(config_quota_grace_parse("5Q", 1000, &grace, &error) < 0);
	test_assert(config_quota_grace_parse("%", 1000, &grace, &error) < 0);
	test_end();
}

static void test_quota_get(void)
{
	struct columba_settings set;
	struct config_quota_limits limits;
	uint64_t grace;
	const char *error;

	test_begin("quota limits: settings, then userdb fields by name");
	memset(&set, 0, sizeof(set));
	set.quota_rule = "*:storage=1M";
	set.quota_rule2 = "*:messages=100";
	set.quota_rule3 = "";
	set.quota_grace = "10%";
	test_assert(config_quota_get(&set, NULL, &limits, &grace, &error) == 0);
	test_assert(limits.storage_bytes == 1024 * 1024 && limits.messages == 100);
	test_assert(grace == 1024 * 1024 / 10);

	/* userdb's quota_rule replaces the setting quota_rule; the
	   setting quota_rule2 still applies after it */
	const char *const fields1[] = {
		"home=/x", "quota_rule=*:storage=2M:messages=5", NULL
	};
	test_assert(config_quota_get(&set, fields1, &limits, &grace, &error) == 0);
	test_assert(limits.storage_bytes == 2 * 1024 * 1024 &&
		    limits.messages == 100);
	/* userdb's quota_rule2 replaces the setting's; numbers beyond the
	   settings' come from userdb only, in order */
	const char *const fields2[] = {
		"quota_rule2=*:messages=5", "quota_rule4=*:bytes=10",
		"quota_grace=1k", NULL
	};
	test_assert(config_quota_get(&set, fields2, &limits, &grace, &error) == 0);
	test_assert(limits.storage_bytes == 10 && limits.messages == 5);
	test_assert(grace == 1024);
	/* unlimited for one user */
	const char *const fields3[] = { "quota_rule=*:storage=0", NULL };
	test_assert(config_quota_get(&set, fields3, &limits, &grace, &error) == 0);
	test_assert(limits.storage_bytes == 0 && limits.messages == 100);

	/* a bad userdb rule is an error naming the field */
	const char *const fields4[] = { "quota_rule=*:storage=lots", NULL };
	test_assert(config_quota_get(&set, fields4, &limits, &grace, &error) < 0);
	test_assert(strstr(error, "userdb field quota_rule:") != NULL);
	const char *const fields5[] = { "quota_grace=much", NULL };
	test_assert(config_quota_get(&set, fields5, &limits, &grace, &error) < 0);
	test_assert(strstr(error, "userdb field quota_grace:") != NULL);

	/* nothing set: no limits */
	memset(&set, 0, sizeof(set));
	set.quota_rule = set.quota_rule2 = set.quota_rule3 = "";
	set.quota_grace = "";
	test_assert(config_quota_get(&set, NULL, &limits, &grace, &error) == 0);
	test_assert(limits.storage_bytes == 0 && limits.messages == 0 &&
		    grace == 0);
	test_end();
}

static void test_quota_config_errors(void)
{
	const char *error;

	test_begin("quota settings: start-up errors name file:line");
	error = test_config_error("protocols = imap\nquota_rule = *:storage=1Q\n");
	test_assert(strstr(error, "t.conf:2: Invalid quota rule *:storage=1Q") == error);
	error = test_config_error("quota_rule2 = Trash:storage=+100M\n");
	test_assert(strstr(error, "t.conf:1: ") == error);
	test_assert(strstr(error, "mailbox Trash") != NULL);
	error = test_config_error("\n\nquota_grace = lots\n");
	test_assert(strstr(error, "t.conf:3: Invalid quota_grace lots") == error);
	error = test_config_error("quota_exceeded_message = \"a\\r\\nb\"\n");
	test_assert(strstr(error, "t.conf:1: Invalid value for quota_exceeded_message") == error);
	struct config *cfg = test_config_parse(
		"quota_rule = *:storage=1G:messages=10\n"
		"quota_grace = 10%%\n"
		"quota_full_tempfail = yes\n"
		"lmtp_rcpt_check_quota = yes\n", &error);
	test_assert(cfg != NULL);
	if (cfg != NULL)
		config_free(&cfg);
	test_end();
}

test_func_t *const test_config_quota_tests[] = {
	test_quota_rule_apply,
	test_quota_grace,
	test_quota_get,
	test_quota_config_errors,
	NULL
};
