/* The syntax of Dovecot's quota settings, as Columba takes them
   (docs/configuration.md, "Quota"): quota_rule, quota_rule2, ... hold
   rules "*:storage=1G:messages=10000", quota_grace "10%" or a size.
   Userdb extra fields of the same names override the settings per user.
   The parser is pure (no storage): the configuration check runs it at
   start-up, the mail process for each user it opens. */
#ifndef COLUMBA_CONFIG_QUOTA_H
#define COLUMBA_CONFIG_QUOTA_H

#include "lib.h"

struct columba_settings;

/* How many quota_ruleN settings the configuration has: quota_rule,
   quota_rule2 .. quota_rule<CONFIG_QUOTA_RULE_SETTINGS>. Userdb may
   give more (quota_rule4, quota_rule5, ...: up to 99). */
#define CONFIG_QUOTA_RULE_SETTINGS 3
#define CONFIG_QUOTA_RULE_MAX 99

struct config_quota_limits {
	/* 0 = no limit */
	uint64_t storage_bytes;
	uint64_t messages;
};

/* Apply one rule to limits. The rule is MAILBOX:LIMITS where MAILBOX
   is "*" (or Dovecot's "?", the same here: the user's whole mail) and
   LIMITS is "ignore" (no limits) or ':'-separated storage=N (KiB
   unless a unit B/K/M/G/T follows), bytes=N (bytes unless a unit
   follows) and messages=N; a limit the rule does not name keeps its
   value, 0 means none. Returns 0, or -1 with *error_r (mailbox-specific
   rules, percentages, negative or unknown limits are refused). */
int config_quota_rule_apply(const char *rule,
			    struct config_quota_limits *limits,
			    const char **error_r) ATTR_WARN_UNUSED;
/* quota_grace: "N%" (of storage_limit; Dovecot's "10%%" too) or a size
   ("10M"). Returns 0 with *grace_r in bytes, or -1 with *error_r. */
int config_quota_grace_parse(const char *value, uint64_t storage_limit,
			     uint64_t *grace_r, const char **error_r)
	ATTR_WARN_UNUSED;

/* A user's limits and grace: the settings' quota_rule, quota_rule2 ...
   in order, each overridden by the userdb field of the same name
   (userdb_fields: "key=value", NULL-terminated, may be NULL), then
   quota_grace (also overridable). Returns 0, or -1 with *error_r
   naming the field or setting. */
int config_quota_get(const struct columba_settings *set,
		     const char *const *userdb_fields,
		     struct config_quota_limits *limits_r, uint64_t *grace_r,
		     const char **error_r) ATTR_WARN_UNUSED;

#endif
