/* Dovecot's quota_rule and quota_grace syntax (see config-quota.h). The
   subset is the one Columba enforces: one limit per user over all of
   their mail ("*" rules); rules for single mailboxes ("Trash:...") are
   refused rather than silently ignored. */
#include "lib.h"
#include "columba-settings.h"
#include "config-quota.h"
#include "config-types.h"

#include <ctype.h>

/* N with an optional unit. default_multiply applies without one. */
static int quota_parse_number(const char *value, uint64_t default_multiply,
			      uint64_t *result_r, const char **error_r)
{
	const char *p = value;
	uint64_t num = 0, multiply = default_multiply;

	if (*p == '+' || *p == '-') {
		*error_r = *p == '-' ? "negative limits are not allowed" :
			"relative limits (+N) are not supported for '*'";
		return -1;
	}
	if (!isdigit((unsigned char)*p)) {
		*error_r = "expected a number";
		return -1;
	}
	for (; isdigit((unsigned char)*p); p++) {
		unsigned int digit = (unsigned int)(*p - '0');
		if (num > (UINT64_MAX - digit) / 10) {
			*error_r = "number is too large";
			return -1;
		}
		num = num * 10 + digit;
	}
	if (*p == '%') {
		*error_r = "percentages are not allowed in '*' rules";
		return -1;
	}
	if (*p != '\0' && config_size_unit_multiplier(*p) != 0)
		multiply = config_size_unit_multiplier(*p++);
	if (*p != '\0') {
		*error_r = "expected a number with an optional unit B, K, M, G or T";
		return -1;
	}
	if (multiply > 1 && num > UINT64_MAX / multiply) {
		*error_r = "number is too large";
		return -1;
	}
	*result_r = num * multiply;
	return 0;
}

int config_quota_rule_apply(const char *rule,
			    struct config_quota_limits *limits,
			    const char **error_r)
{
	const char *colon = strchr(rule, ':');
	const char *error;

	if (colon == NULL) {
		*error_r = t_strdup_printf(
			"Invalid quota rule %s (expected *:storage=SIZE[:messages=N])",
			str_sanitize(rule, 100));
		return -1;
	}
	const char *mailbox = t_strndup(rule, (size_t)(colon - rule));
	if (strcmp(mailbox, "*") != 0 && strcmp(mailbox, "?") != 0) {
		*error_r = t_strdup_printf(
			"Invalid quota rule %s: only '*' rules (the user's whole mail) are supported, not rules for mailbox %s",
			str_sanitize(rule, 100), str_sanitize(mailbox, 100));
		return -1;
	}
	/* parsed into a copy: a bad rule changes nothing */
	struct config_quota_limits new = *limits;
	const char *const *args = t_strsplit(colon + 1, ":");
	if (args[0] == NULL) {
		*error_r = t_strdup_printf("Invalid quota rule %s (no limits)",
					   str_sanitize(rule, 100));
		return -1;
	}
	for (; *args != NULL; args++) {
		const char *arg = *args;
		int ret;

		if (strcmp(arg, "ignore") == 0) {
			new.storage_bytes = 0;
			new.messages = 0;
			continue;
		}
		if (str_begins(arg, "storage="))
			ret = quota_parse_number(arg + 8, 1024, &new.storage_bytes, &error);
		else if (str_begins(arg, "bytes="))
			ret = quota_parse_number(arg + 6, 1, &new.storage_bytes, &error);
		else if (str_begins(arg, "messages="))
			ret = quota_parse_number(arg + 9, 1, &new.messages, &error);
		else {
			*error_r = t_strdup_printf(
				"Invalid quota rule %s: unknown limit %s (expected storage=, bytes=, messages= or ignore)",
				str_sanitize(rule, 100), str_sanitize(arg, 50));
			return -1;
		}
		if (ret < 0) {
			*error_r = t_strdup_printf("Invalid quota rule %s: %s: %s",
						   str_sanitize(rule, 100),
						   str_sanitize(arg, 50), error);
			return -1;
		}
	}
	*limits = new;
	return 0;
}

int config_quota_grace_parse(const char *value, uint64_t storage_limit,
			     uint64_t *grace_r, const char **error_r)
{
	size_t len = strlen(value);
	const char *error;
	uint64_t num;

	*grace_r = 0;
	if (len > 0 && value[len - 1] == '%') {
		/* Dovecot's configuration escapes % as %% */
		len -= len > 1 && value[len - 2] == '%' ? 2 : 1;
		const char *digits = t_strndup(value, len);
		if (str_to_uint64(digits, &num) < 0 || num > 1000) {
			*error_r = t_strdup_printf(
				"Invalid quota_grace %s (expected N%% up to 1000%% or a size)",
				str_sanitize(value, 50));
			return -1;
		}
		*grace_r = storage_limit / 100 * num +
			storage_limit % 100 * num / 100;
		return 0;
	}
	if (quota_parse_number(value, 1, &num, &error) < 0) {
		*error_r = t_strdup_printf(
			"Invalid quota_grace %s: %s (expected N%% or a size)",
			str_sanitize(value, 50), error);
		return -1;
	}
	*grace_r = num;
	return 0;
}

static const char *
quota_setting_rule(const struct columba_settings *set, unsigned int n)
{
	switch (n) {
	case 1:
		return set->quota_rule;
	case 2:
		return set->quota_rule2;
	case 3:
		return set->quota_rule3;
	}
	return NULL;
}

int config_quota_get(const struct columba_settings *set,
		     const char *const *userdb_fields,
		     struct config_quota_limits *limits_r, uint64_t *grace_r,
		     const char **error_r)
{
	struct config_quota_limits limits = { 0, 0 };
	const char *error;

	memset(limits_r, 0, sizeof(*limits_r));
	*grace_r = 0;
	for (unsigned int n = 1; n <= CONFIG_QUOTA_RULE_MAX; n++) {
		const char *key = n == 1 ? "quota_rule" :
			t_strdup_printf("quota_rule%u", n);
		const char *rule = str_array_kv_get(userdb_fields, key);
		bool from_userdb = rule != NULL;

		if (rule == NULL)
			rule = quota_setting_rule(set, n);
		if (rule == NULL && n > CONFIG_QUOTA_RULE_SETTINGS)
			break;
		if (rule == NULL || rule[0] == '\0')
			continue;
		if (config_quota_rule_apply(rule, &limits, &error) < 0) {
			*error_r = t_strdup_printf("%s%s: %s",
				from_userdb ? "userdb field " : "", key, error);
			return -1;
		}
	}
	const char *grace = str_array_kv_get(userdb_fields, "quota_grace");
	bool from_userdb = grace != NULL;
	if (grace == NULL)
		grace = set->quota_grace;
	if (grace[0] != '\0' &&
	    config_quota_grace_parse(grace, limits.storage_bytes, grace_r,
				     &error) < 0) {
		*error_r = t_strdup_printf("%squota_grace: %s",
					   from_userdb ? "userdb field " : "",
					   error);
		return -1;
	}
	*limits_r = limits;
	return 0;
}
