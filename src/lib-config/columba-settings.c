/* The definition tables of Columba's settings, their defaults, the built-in
   service sections, and the cross-field checks. Adding a setting is a
   field in columba-settings.h and one line in a table here. */
#include "lib.h"
#include "columba-config.h"
#include "columba-settings.h"
#include "config-quota.h"
#include "net.h"

#include <ctype.h>
#include <strings.h>

static const char *const mail_fsync_values[] = {
	"optimized", "always", "never", NULL
};
static const char *const ssl_values[] = {
	"yes", "no", "required", NULL
};
static const char *const ssl_protocol_values[] = {
	"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", NULL
};
static const char *const ssl_relay_record_layer_values[] = {
	"columba", "openssl", NULL
};
static const char *const protocol_values[] = {
	"imap", "lmtp", "pop3", NULL
};
static const char *const service_names[] = {
	"imap-login", "pop3-login", "auth", "mail", NULL
};

/* --- ssl_* (top level, and inside local_name) --- */

#undef DEF
#define DEF(type, field, def) \
	CONFIG_DEF_##type(struct ssl_settings, field, def)
static const struct config_setting_def ssl_setting_defs[] = {
	CONFIG_DEF_ENUM(struct ssl_settings, ssl, "yes", ssl_values),
	DEF(STR, ssl_cert, NULL),
	DEF(SECRET, ssl_key, NULL),
	DEF(SECRET, ssl_key_password, NULL),
	DEF(STR, ssl_ca, NULL),
	DEF(BOOL, ssl_verify_client_cert, "no"),
	CONFIG_DEF_ENUM(struct ssl_settings, ssl_min_protocol, "TLSv1.2",
			ssl_protocol_values),
	/* Dovecot 2.3's default, so both servers negotiate alike */
	DEF(STR, ssl_cipher_list,
	    "ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:"
	    "!MD5:!PSK:!RC4:!ADH:!LOW@STRENGTH"),
	DEF(STR, ssl_cipher_suites, NULL),
	DEF(BOOL, ssl_prefer_server_ciphers, "no"),
	CONFIG_DEF_END
};

static int ssl_settings_check(void *_set, pool_t pool ATTR_UNUSED,
			      const char **key_r, const char **error_r)
{
	const struct ssl_settings *set = _set;
	const struct {
		const char *key, *value;
	} pem[] = {
		{ "ssl_cert", set->ssl_cert },
		{ "ssl_key", set->ssl_key },
		{ "ssl_ca", set->ssl_ca },
	};

	/* The classic mistake is `ssl_cert = /path` without the '<'. */
	for (unsigned int i = 0; i < N_ELEMENTS(pem); i++) {
		if (*pem[i].value != '\0' &&
		    strstr(pem[i].value, "-----BEGIN ") == NULL) {
			*key_r = pem[i].key;
			*error_r = t_strdup_printf(
				"%s does not contain PEM data (expected %s = </path/to/file.pem, note the '<')",
				pem[i].key, pem[i].key);
			return -1;
		}
	}
	if ((*set->ssl_cert == '\0') != (*set->ssl_key == '\0')) {
		*key_r = *set->ssl_cert != '\0' ? "ssl_cert" : "ssl_key";
		*error_r = t_strdup_printf("%s is set but %s is not (expected both or neither)",
			*set->ssl_cert != '\0' ? "ssl_cert" : "ssl_key",
			*set->ssl_cert != '\0' ? "ssl_key" : "ssl_cert");
		return -1;
	}
	return 0;
}

static const struct config_section_def ssl_section_def = {
	.name = "ssl",
	.struct_size = sizeof(struct ssl_settings),
	.settings = ssl_setting_defs,
	.check = ssl_settings_check,
};

/* --- local_name NAMES { ssl_* } --- */

static bool local_name_is_valid(const char *name)
{
	if (str_begins(name, "*."))
		name += 2;
	if (*name == '\0' || *name == '.' || str_ends_with(name, "."))
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' &&
		    *p != '_')
			return false;
		if (p[0] == '.' && p[1] == '.')
			return false;
	}
	return true;
}

static int local_name_settings_check(void *_set, pool_t pool,
				     const char **key_r ATTR_UNUSED,
				     const char **error_r)
{
	struct local_name_settings *set = _set;
	const char **names = t_strsplit_spaces(set->name, " \t");
	unsigned int count = str_array_length(names);

	for (unsigned int i = 0; i < count; i++) {
		if (!local_name_is_valid(names[i])) {
			*error_r = t_strdup_printf(
				"Invalid name in local_name: %s (expected host names like imap.example.com or *.example.com)",
				str_sanitize(names[i], 80));
			return -1;
		}
	}
	const char **copy = p_new(pool, const char *, count + 1);
	for (unsigned int i = 0; i < count; i++)
		copy[i] = p_strdup(pool, names[i]);
	set->names = copy;
	return 0;
}

static const struct config_setting_def local_name_setting_defs[] = {
	CONFIG_DEF_GROUP(struct local_name_settings, ssl, &ssl_section_def),
	CONFIG_DEF_END
};

static const struct config_section_def local_name_section_def = {
	.name = "local_name",
	.struct_size = sizeof(struct local_name_settings),
	.settings = local_name_setting_defs,
	.name_offset = offsetof(struct local_name_settings, name),
	.inherit = true,
	.check = local_name_settings_check,
};

/* --- inet_listener NAME { ... } --- */

#undef DEF
#define DEF(type, field, def) \
	CONFIG_DEF_##type(struct inet_listener_settings, field, def)
static const struct config_setting_def inet_listener_setting_defs[] = {
	DEF(ADDR_LIST, address, NULL),
	DEF(PORT, port, "0"),
	DEF(BOOL, ssl, "no"),
	CONFIG_DEF_END
};

static const struct config_section_def inet_listener_section_def = {
	.name = "inet_listener",
	.struct_size = sizeof(struct inet_listener_settings),
	.settings = inet_listener_setting_defs,
	.name_offset = offsetof(struct inet_listener_settings, name),
};

/* --- unix_listener PATH { ... } --- */

#undef DEF
#define DEF(type, field, def) \
	CONFIG_DEF_##type(struct unix_listener_settings, field, def)
static const struct config_setting_def unix_listener_setting_defs[] = {
	DEF(MODE, mode, "0600"),
	DEF(STR, user, NULL),
	DEF(STR, group, NULL),
	CONFIG_DEF_END
};

static int unix_listener_settings_check(void *_set, pool_t pool ATTR_UNUSED,
					const char **key_r,
					const char **error_r)
{
	const struct unix_listener_settings *set = _set;

	if (set->mode > 0777) {
		*key_r = "mode";
		*error_r = t_strdup_printf(
			"Invalid value for mode: %04o (expected permission bits 0000-0777)",
			set->mode);
		return -1;
	}
	return 0;
}

static const struct config_section_def unix_listener_section_def = {
	.name = "unix_listener",
	.struct_size = sizeof(struct unix_listener_settings),
	.settings = unix_listener_setting_defs,
	.name_offset = offsetof(struct unix_listener_settings, path),
	.check = unix_listener_settings_check,
};

/* --- service NAME { ... } --- */

#undef DEF
#define DEF(type, field, def) \
	CONFIG_DEF_##type(struct service_settings, field, def)
static const struct config_setting_def service_setting_defs[] = {
	DEF(UINT, process_limit, "100"),
	DEF(UINT, process_min_avail, "0"),
	DEF(UINT, client_limit, "1000"),
	DEF(UINT, service_count, "0"),
	DEF(STR, user, NULL),
	DEF(STR, group, NULL),
	DEF(STR, chroot, NULL),
	DEF(SIZE, vsz_limit, "256M"),
	CONFIG_DEF_SECTION_LIST("inet_listener", struct service_settings,
				inet_listeners, &inet_listener_section_def),
	CONFIG_DEF_SECTION_LIST("unix_listener", struct service_settings,
				unix_listeners, &unix_listener_section_def),
	CONFIG_DEF_END
};

static int service_settings_check(void *_set, pool_t pool ATTR_UNUSED,
				  const char **key_r, const char **error_r)
{
	const struct service_settings *set = _set;

	if (set->process_limit == 0) {
		*key_r = "process_limit";
		*error_r = "Invalid value for process_limit: 0 (expected at least 1)";
		return -1;
	}
	if (set->client_limit == 0) {
		*key_r = "client_limit";
		*error_r = "Invalid value for client_limit: 0 (expected at least 1)";
		return -1;
	}
	if (set->process_min_avail > set->process_limit) {
		*key_r = "process_min_avail";
		*error_r = t_strdup_printf(
			"process_min_avail (%u) is larger than process_limit (%u) (expected process_min_avail <= process_limit)",
			set->process_min_avail, set->process_limit);
		return -1;
	}
	return 0;
}

static const struct config_section_def service_section_def = {
	.name = "service",
	.struct_size = sizeof(struct service_settings),
	.settings = service_setting_defs,
	.name_offset = offsetof(struct service_settings, name),
	.known_names = service_names,
	.check = service_settings_check,
};

/* --- passdb { ... } and userdb { ... } --- */

static const char *const auth_mechanism_values[] = {
	"plain", "login", "cram-md5", "scram-sha-1", "scram-sha-1-plus",
	"scram-sha-256", "scram-sha-256-plus", "external", "anonymous", NULL
};
static const char *const auth_db_driver_values[] = {
	"passwd-file", "static", "sql", NULL
};

static const char *const auth_db_result_values[] = {
	"return-ok", "continue", NULL
};

static const struct config_setting_def passdb_setting_defs[] = {
	CONFIG_DEF_ENUM(struct auth_db_settings, driver, "passwd-file",
			auth_db_driver_values),
	CONFIG_DEF_STR(struct auth_db_settings, args, NULL),
	CONFIG_DEF_BOOL(struct auth_db_settings, master, "no"),
	CONFIG_DEF_BOOL(struct auth_db_settings, pass, "no"),
	CONFIG_DEF_ENUM(struct auth_db_settings, result_success, "return-ok",
			auth_db_result_values),
	CONFIG_DEF_END
};

static const struct config_setting_def auth_db_setting_defs[] = {
	CONFIG_DEF_ENUM(struct auth_db_settings, driver, "passwd-file",
			auth_db_driver_values),
	CONFIG_DEF_STR(struct auth_db_settings, args, NULL),
	CONFIG_DEF_END
};

/* Only a master passdb may continue after a success (to the passdbs
   that must know the user it logs in as). */
static int passdb_settings_check(void *_set, pool_t pool ATTR_UNUSED,
				 const char **key_r, const char **error_r)
{
	const struct auth_db_settings *set = _set;

	if ((set->pass || strcmp(set->result_success, "continue") == 0) &&
	    !set->master) {
		*key_r = set->pass ? "pass" : "result_success";
		*error_r = "pass = yes and result_success = continue are supported only with master = yes";
		return -1;
	}
	return 0;
}

static const struct config_section_def passdb_section_def = {
	.name = "passdb",
	.struct_size = sizeof(struct auth_db_settings),
	.settings = passdb_setting_defs,
	.check = passdb_settings_check,
	.name_offset = offsetof(struct auth_db_settings, name),
	.ordered = true,
};

static const struct config_section_def userdb_section_def = {
	.name = "userdb",
	.struct_size = sizeof(struct auth_db_settings),
	.settings = auth_db_setting_defs,
	.name_offset = offsetof(struct auth_db_settings, name),
	.ordered = true,
};

/* --- namespace NAME { mailbox NAME { ... } } --- */

static const char *const mailbox_auto_values[] = {
	"no", "create", "subscribe", NULL
};
/* RFC 6154 and RFC 8457 (\Important); lib-index stores these */
static const char *const special_use_names[] = {
	"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent",
	"\\Trash", "\\Important", NULL
};

static const struct config_setting_def mailbox_setting_defs[] = {
	CONFIG_DEF_STR(struct mailbox_settings, special_use, NULL),
	/* `auto` is a C keyword: the field has another name */
	{ .key = "auto", .type = CONFIG_TYPE_ENUM,
	  .offset = CONFIG_FIELD_(struct mailbox_settings, autocreate,
				  const char *),
	  .default_value = "no", .values = mailbox_auto_values },
	CONFIG_DEF_END
};

static int mailbox_settings_check(void *_set, pool_t pool ATTR_UNUSED,
				  const char **key_r, const char **error_r)
{
	const struct mailbox_settings *set = _set;
	const char *const *uses = t_strsplit_spaces(set->special_use, " ");
	const char *p;

	for (p = set->name; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '*' ||
		    *p == '%')
			break;
	}
	if (*p != '\0' || set->name[0] == '\0' || set->name[0] == '/' ||
	    str_ends_with(set->name, "/") || strstr(set->name, "//") != NULL) {
		*error_r = t_strdup_printf(
			"Invalid mailbox name: %s (expected a name like Sent or Archive/2024, without control characters, '*' or '%%')",
			str_sanitize(set->name, 100));
		return -1;
	}
	for (; *uses != NULL; uses++) {
		unsigned int i;
		for (i = 0; special_use_names[i] != NULL; i++) {
			if (strcasecmp(special_use_names[i], *uses) == 0)
				break;
		}
		if (special_use_names[i] == NULL) {
			*key_r = "special_use";
			*error_r = t_strdup_printf(
				"Invalid value for special_use: %s (expected \\All, \\Archive, \\Drafts, \\Flagged, \\Junk, \\Sent, \\Trash or \\Important)",
				str_sanitize(*uses, 40));
			return -1;
		}
	}
	return 0;
}

static const struct config_section_def mailbox_section_def = {
	.name = "mailbox",
	.struct_size = sizeof(struct mailbox_settings),
	.settings = mailbox_setting_defs,
	.name_offset = offsetof(struct mailbox_settings, name),
	.check = mailbox_settings_check,
};

static const struct config_setting_def namespace_setting_defs[] = {
	CONFIG_DEF_BOOL(struct namespace_settings, inbox, "no"),
	CONFIG_DEF_STR(struct namespace_settings, separator, NULL),
	CONFIG_DEF_STR(struct namespace_settings, prefix, NULL),
	CONFIG_DEF_SECTION_LIST("mailbox", struct namespace_settings,
				mailboxes, &mailbox_section_def),
	CONFIG_DEF_END
};

/* The storage has exactly one namespace: say so rather than ignore a
   configuration that asks for another shape. */
static int namespace_settings_check(void *_set, pool_t pool ATTR_UNUSED,
				    const char **key_r, const char **error_r)
{
	const struct namespace_settings *set = _set;

	if (set->separator[0] != '\0' && strcmp(set->separator, "/") != 0) {
		*key_r = "separator";
		*error_r = t_strdup_printf(
			"Invalid value for separator: %s (expected / - the storage's only hierarchy separator)",
			str_sanitize(set->separator, 20));
		return -1;
	}
	if (set->prefix[0] != '\0') {
		*key_r = "prefix";
		*error_r = "Invalid value for prefix: only the empty prefix is supported (one private namespace)";
		return -1;
	}
	if (!set->inbox) {
		*key_r = "inbox";
		*error_r = "Invalid value for inbox: no (expected yes - the one namespace holds INBOX)";
		return -1;
	}
	return 0;
}

static const struct config_section_def namespace_section_def = {
	.name = "namespace",
	.struct_size = sizeof(struct namespace_settings),
	.settings = namespace_setting_defs,
	.name_offset = offsetof(struct namespace_settings, name),
	.check = namespace_settings_check,
};

/* --- the top level --- */

#undef DEF
#define DEF(type, field, def) \
	CONFIG_DEF_##type(struct columba_settings, field, def)
static const struct config_setting_def columba_setting_defs[] = {
	CONFIG_DEF_LIST(struct columba_settings, protocols, "imap",
			protocol_values),
	DEF(ADDR_LIST, listen, "*, ::"),
	DEF(STR, base_dir, COLUMBA_RUNDIR),
	DEF(STR, state_dir, COLUMBA_STATEDIR),
	DEF(STR, log_path, NULL),
	DEF(STR, log_timestamp, "%b %d %H:%M:%S "),
	CONFIG_DEF_LIST(struct columba_settings, import_environment, "TZ",
			NULL),
	DEF(STR, default_internal_user, "columba"),
	DEF(STR, default_internal_group, "columba"),
	DEF(STR, default_login_user, "columbanull"),
	DEF(TIME, shutdown_timeout, "30 secs"),
	DEF(STR, login_greeting, "Columba ready."),
	CONFIG_DEF_LIST(struct columba_settings, login_trusted_networks, NULL,
			NULL),
	DEF(UINT, login_max_connections_per_ip, "0"),
	CONFIG_DEF_ENUM(struct columba_settings, ssl_relay_record_layer,
			"columba", ssl_relay_record_layer_values),
	DEF(UINT, mail_max_userip_connections, "10"),
	CONFIG_DEF_LIST(struct columba_settings, auth_mechanisms, "plain",
			auth_mechanism_values),
	DEF(STR, auth_username_format, "%Lu"),
	DEF(STR, auth_default_realm, NULL),
	DEF(TIME, auth_failure_delay, "2 secs"),
	DEF(BOOL, disable_plaintext_auth, "yes"),
	DEF(STR, auth_anonymous_username, "anonymous"),
	DEF(UINT, auth_worker_max_count, "4"),
	DEF(SIZE, auth_cache_size, "0"),
	DEF(TIME, auth_cache_ttl, "1 hour"),
	DEF(TIME, auth_cache_negative_ttl, "1 hour"),
	DEF(BOOL, auth_cache_verify_password_with_worker, "yes"),
	DEF(STR, auth_master_user_separator, NULL),
	CONFIG_DEF_SECTION_LIST("passdb", struct columba_settings,
				passdbs, &passdb_section_def),
	CONFIG_DEF_SECTION_LIST("userdb", struct columba_settings,
				userdbs, &userdb_section_def),
	DEF(STR, mail_home, NULL),
	DEF(STR, mail_index_path, "~/index.db"),
	DEF(STR, mail_blob_store, "posix:~/blobs"),
	DEF(STR, mail_blob_prefix, "mail"),
	DEF(TIME, mail_index_log2_max_age, "2 days"),
	DEF(UINT, mail_index_log_max_changes, "100000"),
	CONFIG_DEF_ENUM(struct columba_settings, mail_fsync, "optimized",
			mail_fsync_values),
	DEF(STR, hostname, NULL),
	DEF(STR, recipient_delimiter, "+"),
	DEF(BOOL, lmtp_save_to_detail_mailbox, "no"),
	DEF(UINT, lmtp_max_recipients, "1000"),
	DEF(SIZE, lmtp_max_message_size, "0"),
	DEF(BOOL, lmtp_rcpt_check_quota, "no"),
	DEF(TIME_MSECS, lmtp_journal_sync_interval, "250 ms"),
	DEF(SIZE, lmtp_journal_size, "32M"),
	DEF(STR, quota_rule, NULL),
	DEF(STR, quota_rule2, NULL),
	DEF(STR, quota_rule3, NULL),
	DEF(STR, quota_grace, "10%"),
	DEF(BOOL, quota_full_tempfail, "no"),
	DEF(STR, quota_exceeded_message,
	    "Quota exceeded (mailbox for user is full)"),
	DEF(SIZE, imap_max_append_size, "256M"),
	DEF(TIME, imap_autologout, "30 mins"),
	DEF(BOOL, imap_utf8_accept, "no"),
	DEF(BOOL, imap_unauthenticate, "yes"),
	DEF(STR, pop3_uidl_format, "%08Xu%08Xv"),
	DEF(BOOL, pop3_no_flag_updates, "no"),
	DEF(STR, pop3_deleted_flag, NULL),
	DEF(BOOL, pop3_lock_session, "no"),
	CONFIG_DEF_SECTION_LIST("namespace", struct columba_settings,
				namespaces, &namespace_section_def),
	CONFIG_DEF_GROUP(struct columba_settings, ssl, &ssl_section_def),
	CONFIG_DEF_SECTION_LIST("local_name", struct columba_settings,
				local_names, &local_name_section_def),
	CONFIG_DEF_SECTION_LIST("service", struct columba_settings,
				services, &service_section_def),
	CONFIG_DEF_END
};

static bool env_name_is_valid(const char *name, size_t len)
{
	if (len == 0 || isdigit((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return false;
	}
	return true;
}

static int columba_settings_check(void *_set, pool_t pool ATTR_UNUSED,
				  const char **key_r, const char **error_r)
{
	const struct columba_settings *set = _set;

	if (set->base_dir[0] != '/') {
		*key_r = "base_dir";
		*error_r = t_strdup_printf("Invalid value for base_dir: %s (expected an absolute path)",
					   str_sanitize(set->base_dir, 200));
		return -1;
	}
	if (set->state_dir[0] != '/') {
		*key_r = "state_dir";
		*error_r = t_strdup_printf("Invalid value for state_dir: %s (expected an absolute path)",
					   str_sanitize(set->state_dir, 200));
		return -1;
	}
	for (unsigned int i = 0; set->import_environment[i] != NULL; i++) {
		const char *item = set->import_environment[i];
		const char *eq = strchr(item, '=');
		size_t len = eq == NULL ? strlen(item) : (size_t)(eq - item);

		if (!env_name_is_valid(item, len)) {
			*key_r = "import_environment";
			*error_r = t_strdup_printf(
				"Invalid value for import_environment: %s (expected NAME or NAME=value items)",
				str_sanitize(item, 200));
			return -1;
		}
	}
	if (array_count(&set->namespaces) > 1) {
		*key_r = NULL;
		*error_r = "Only one namespace is supported (the built-in namespace inbox)";
		return -1;
	}
	if (set->auth_worker_max_count == 0) {
		*key_r = "auth_worker_max_count";
		*error_r = "Invalid value for auth_worker_max_count: 0 (expected at least 1)";
		return -1;
	}
	for (unsigned int i = 0; set->login_trusted_networks[i] != NULL; i++) {
		struct ip_addr ip;
		unsigned int bits;
		if (net_parse_range(set->login_trusted_networks[i], &ip,
				    &bits) < 0) {
			*key_r = "login_trusted_networks";
			*error_r = t_strdup_printf(
				"Invalid value for login_trusted_networks: %s (expected IP or IP/bits networks)",
				str_sanitize(set->login_trusted_networks[i], 200));
			return -1;
		}
	}
	/* the quota rules: a typo must not start a server without limits */
	struct config_quota_limits quota_limits = { 0, 0 };
	const char *const quota_rules[] = {
		set->quota_rule, set->quota_rule2, set->quota_rule3
	};
	static const char *const quota_rule_keys[] = {
		"quota_rule", "quota_rule2", "quota_rule3"
	};
	const char *error;
	for (unsigned int i = 0; i < N_ELEMENTS(quota_rules); i++) {
		if (quota_rules[i][0] != '\0' &&
		    config_quota_rule_apply(quota_rules[i], &quota_limits,
					    &error) < 0) {
			*key_r = quota_rule_keys[i];
			*error_r = error;
			return -1;
		}
	}
	uint64_t grace;
	if (set->quota_grace[0] != '\0' &&
	    config_quota_grace_parse(set->quota_grace,
				     quota_limits.storage_bytes, &grace,
				     &error) < 0) {
		*key_r = "quota_grace";
		*error_r = error;
		return -1;
	}
	for (const char *p = set->quota_exceeded_message; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*key_r = "quota_exceeded_message";
			*error_r = "Invalid value for quota_exceeded_message: control characters (expected one line of text)";
			return -1;
		}
	}
	/* the greeting goes out on the wire inside one protocol line */
	for (const char *p = set->login_greeting; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*key_r = "login_greeting";
			*error_r = "Invalid value for login_greeting: control characters (expected one line of text)";
			return -1;
		}
	}
	return 0;
}

const struct config_section_def columba_settings_root_def = {
	.name = "columba",
	.struct_size = sizeof(struct columba_settings),
	.settings = columba_setting_defs,
	.check = columba_settings_check,
};

/* Built-in sections, in the admin's own syntax: an admin's
   `service imap-login { inet_listener imap { port = 10143 } }` changes
   only that port. `$name` here is resolved after the admin's top-level
   settings, so changing default_login_user changes the login user. */
const char columba_settings_builtin_config[] =
"namespace inbox {\n"
"  inbox = yes\n"
"  separator = /\n"
"  mailbox Drafts {\n"
"    special_use = \\Drafts\n"
"    auto = subscribe\n"
"  }\n"
"  mailbox Sent {\n"
"    special_use = \\Sent\n"
"    auto = subscribe\n"
"  }\n"
"  mailbox Trash {\n"
"    special_use = \\Trash\n"
"    auto = subscribe\n"
"  }\n"
"  mailbox Junk {\n"
"    special_use = \\Junk\n"
"    auto = subscribe\n"
"  }\n"
"  mailbox Archive {\n"
"    special_use = \\Archive\n"
"    auto = subscribe\n"
"  }\n"
"}\n"
"service imap-login {\n"
"  user = $default_login_user\n"
"  chroot = login\n"
"  inet_listener imap {\n"
"    port = 143\n"
"  }\n"
"  inet_listener imaps {\n"
"    port = 993\n"
"    ssl = yes\n"
"  }\n"
/* UNAUTHENTICATE: mail processes give plaintext clients back here */
"  unix_listener login/imap-handback {\n"
"    mode = 0600\n"
"    user = $default_internal_user\n"
"  }\n"
"}\n"
"service pop3-login {\n"
"  user = $default_login_user\n"
"  chroot = login\n"
"  inet_listener pop3 {\n"
"    port = 110\n"
"  }\n"
"  inet_listener pop3s {\n"
"    port = 995\n"
"    ssl = yes\n"
"  }\n"
"}\n"
"service auth {\n"
"  user = $default_internal_user\n"
"  process_limit = 1\n"
"  vsz_limit = 1G\n"
"  unix_listener auth-client {\n"
"    mode = 0600\n"
"  }\n"
"  unix_listener login/auth {\n"
"    mode = 0600\n"
"    user = $default_login_user\n"
"  }\n"
"  unix_listener auth-userdb {\n"
"    mode = 0600\n"
"    user = $default_internal_user\n"
"  }\n"
"}\n"
"service mail {\n"
"  vsz_limit = 2G\n"
"  inet_listener lmtp {\n"
"    port = 24\n"
"  }\n"
"  unix_listener lmtp {\n"
"    mode = 0666\n"
"  }\n"
"  unix_listener login/mail {\n"
"    mode = 0600\n"
"    user = $default_login_user\n"
"  }\n"
"}\n";

const char *columba_listener_protocol(const char *listener_name)
{
	const char *base = strrchr(listener_name, '/');

	base = base == NULL ? listener_name : base + 1;
	if (strcmp(base, "lmtp") == 0 || str_ends_with(base, "-lmtp"))
		return "lmtp";
	return NULL;
}

const struct service_settings *
columba_settings_find_service(const struct columba_settings *set,
			      const char *name)
{
	struct service_settings *const *service;

	array_foreach(&set->services, service) {
		if (strcmp((*service)->name, name) == 0)
			return *service;
	}
	return NULL;
}

const struct local_name_settings *
columba_settings_find_local_name(const struct columba_settings *set,
				 const char *host)
{
	struct local_name_settings *const *ln;
	const char *dot = strchr(host, '.');

	/* an exact name wins over a wildcard, wherever they are written */
	array_foreach(&set->local_names, ln) {
		for (unsigned int i = 0; (*ln)->names[i] != NULL; i++) {
			if (strcasecmp((*ln)->names[i], host) == 0)
				return *ln;
		}
	}
	if (dot == NULL)
		return NULL;
	array_foreach(&set->local_names, ln) {
		for (unsigned int i = 0; (*ln)->names[i] != NULL; i++) {
			const char *name = (*ln)->names[i];
			if (str_begins(name, "*.") &&
			    strcasecmp(name + 2, dot + 1) == 0)
				return *ln;
		}
	}
	return NULL;
}

const char *const *
columba_settings_child_environment(const struct columba_settings *set,
				   pool_t pool)
{
	ARRAY(const char *) env;

	array_init(&env, pool, 8);
	for (unsigned int i = 0; set->import_environment[i] != NULL; i++) {
		const char *item = set->import_environment[i];
		const char *value;

		if (strchr(item, '=') != NULL)
			array_push(&env, p_strdup(pool, item));
		else if ((value = getenv(item)) != NULL)
			array_push(&env, p_strdup_printf(pool, "%s=%s", item,
							  value));
	}
	array_push(&env, NULL);
	return env.v;
}
