/* Tests for config_dump(): the full and -n output byte for byte, quoting,
   the dump flags, and the round trip parse -> dump -> parse -> dump. */
#include "test-lib-config.h"

/* The effective configuration of an empty file (after the header line):
   this is what `columba config` prints on a fresh install. */
static const char test_default_dump[] =
	"auth_anonymous_username = anonymous\n"
	"auth_cache_negative_ttl = 1 hour\n"
	"auth_cache_size = 0\n"
	"auth_cache_ttl = 1 hour\n"
	"auth_cache_verify_password_with_worker = yes\n"
	"auth_default_realm = \n"
	"auth_failure_delay = 2 secs\n"
	"auth_master_user_separator = \n"
	"auth_mechanisms = plain\n"
	"auth_username_format = %Lu\n"
	"auth_worker_max_count = 4\n"
	"base_dir = /run/columba\n"
	"default_internal_group = columba\n"
	"default_internal_user = columba\n"
	"default_login_user = columbanull\n"
	"disable_plaintext_auth = yes\n"
	"hostname = \n"
	"imap_autologout = 30 mins\n"
	"imap_max_append_size = 256M\n"
	"imap_unauthenticate = yes\n"
	"imap_utf8_accept = no\n"
	"import_environment = TZ\n"
	"listen = *, ::\n"
	"lmtp_journal_size = 32M\n"
	"lmtp_journal_sync_interval = 250 ms\n"
	"lmtp_max_message_size = 0\n"
	"lmtp_max_recipients = 1000\n"
	"lmtp_rcpt_check_quota = no\n"
	"lmtp_save_to_detail_mailbox = no\n"
	"log_path = \n"
	"log_timestamp = \"%b %d %H:%M:%S \"\n"
	"login_greeting = Columba ready.\n"
	"login_max_connections_per_ip = 0\n"
	"login_trusted_networks = \n"
	"mail_blob_prefix = mail\n"
	"mail_blob_store = posix:~/blobs\n"
	"mail_fsync = optimized\n"
	"mail_home = \n"
	"mail_index_log2_max_age = 2 days\n"
	"mail_index_log_max_changes = 100000\n"
	"mail_index_path = ~/index.db\n"
	"mail_max_userip_connections = 10\n"
	"pop3_deleted_flag = \n"
	"pop3_lock_session = no\n"
	"pop3_no_flag_updates = no\n"
	"pop3_uidl_format = %08Xu%08Xv\n"
	"protocols = imap\n"
	"quota_exceeded_message = Quota exceeded (mailbox for user is full)\n"
	"quota_full_tempfail = no\n"
	"quota_grace = 10%\n"
	"quota_rule = \n"
	"quota_rule2 = \n"
	"quota_rule3 = \n"
	"recipient_delimiter = +\n"
	"shutdown_timeout = 30 secs\n"
	"ssl = yes\n"
	"ssl_ca = \n"
	"ssl_cert = \n"
	"ssl_cipher_list = ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:!PSK:!RC4:!ADH:!LOW@STRENGTH\n"
	"ssl_cipher_suites = \n"
	"ssl_key = \n"
	"ssl_key_password = \n"
	"ssl_min_protocol = TLSv1.2\n"
	"ssl_prefer_server_ciphers = no\n"
	"ssl_relay_record_layer = columba\n"
	"ssl_verify_client_cert = no\n"
	"state_dir = /var/lib/columba\n"
	"namespace inbox {\n"
	"  inbox = yes\n"
	"  prefix = \n"
	"  separator = /\n"
	"  mailbox Archive {\n"
	"    auto = subscribe\n"
	"    special_use = \"\\\\Archive\"\n"
	"  }\n"
	"  mailbox Drafts {\n"
	"    auto = subscribe\n"
	"    special_use = \"\\\\Drafts\"\n"
	"  }\n"
	"  mailbox Junk {\n"
	"    auto = subscribe\n"
	"    special_use = \"\\\\Junk\"\n"
	"  }\n"
	"  mailbox Sent {\n"
	"    auto = subscribe\n"
	"    special_use = \"\\\\Sent\"\n"
	"  }\n"
	"  mailbox Trash {\n"
	"    auto = subscribe\n"
	"    special_use = \"\\\\Trash\"\n"
	"  }\n"
	"}\n"
	"service auth {\n"
	"  chroot = \n"
	"  client_limit = 1000\n"
	"  group = \n"
	"  process_limit = 1\n"
	"  process_min_avail = 0\n"
	"  service_count = 0\n"
	"  user = columba\n"
	"  vsz_limit = 1G\n"
	"  unix_listener auth-client {\n"
	"    group = \n"
	"    mode = 0600\n"
	"    user = \n"
	"  }\n"
	"  unix_listener auth-userdb {\n"
	"    group = \n"
	"    mode = 0600\n"
	"    user = columba\n"
	"  }\n"
	"  unix_listener login/auth {\n"
	"    group = \n"
	"    mode = 0600\n"
	"    user = columbanull\n"
	"  }\n"
	"}\n"
	"service imap-login {\n"
	"  chroot = login\n"
	"  client_limit = 1000\n"
	"  group = \n"
	"  process_limit = 100\n"
	"  process_min_avail = 0\n"
	"  service_count = 0\n"
	"  user = columbanull\n"
	"  vsz_limit = 256M\n"
	"  inet_listener imap {\n"
	"    address = \n"
	"    port = 143\n"
	"    ssl = no\n"
	"  }\n"
	"  inet_listener imaps {\n"
	"    address = \n"
	"    port = 993\n"
	"    ssl = yes\n"
	"  }\n"
	"  unix_listener login/imap-handback {\n"
	"    group = \n"
	"    mode = 0600\n"
	"    user = columba\n"
	"  }\n"
	"}\n"
	"service mail {\n"
	"  chroot = \n"
	"  client_limit = 1000\n"
	"  group = \n"
	"  process_limit = 100\n"
	"  process_min_avail = 0\n"
	"  service_count = 0\n"
	"  user = \n"
	"  vsz_limit = 2G\n"
	"  inet_listener lmtp {\n"
	"    address = \n"
	"    port = 24\n"
	"    ssl = no\n"
	"  }\n"
	"  unix_listener lmtp {\n"
	"    group = \n"
	"    mode = 0666\n"
	"    user = \n"
	"  }\n"
	"  unix_listener login/mail {\n"
	"    group = \n"
	"    mode = 0600\n"
	"    user = columbanull\n"
	"  }\n"
	"}\n"
	"service pop3-login {\n"
	"  chroot = login\n"
	"  client_limit = 1000\n"
	"  group = \n"
	"  process_limit = 100\n"
	"  process_min_avail = 0\n"
	"  service_count = 0\n"
	"  user = columbanull\n"
	"  vsz_limit = 256M\n"
	"  inet_listener pop3 {\n"
	"    address = \n"
	"    port = 110\n"
	"    ssl = no\n"
	"  }\n"
	"  inet_listener pop3s {\n"
	"    address = \n"
	"    port = 995\n"
	"    ssl = yes\n"
	"  }\n"
	"}\n";

static const char *test_dump(const struct config *cfg,
			     enum config_dump_flags flags)
{
	string_t *out = t_str_new(4096);
	config_dump_with_flags(cfg, out, flags);
	return str_c(out);
}

static const char *test_header(void)
{
	return t_strdup_printf("# columba %s: t.conf\n", COLUMBA_VERSION);
}

static void test_dump_defaults(void)
{
	test_begin("config dump of the defaults");
	const char *error;
	struct config *cfg = test_config_parse("# nothing\n", &error);
	test_assert(cfg != NULL);
	test_assert_strcmp(test_dump(cfg, 0),
			   t_strdup_printf("%s%s", test_header(), test_default_dump));
	/* config_dump() is the same thing */
	string_t *out = t_str_new(4096);
	config_dump(cfg, out, false);
	test_assert_strcmp(str_c(out), test_dump(cfg, 0));
	/* nothing was set */
	test_assert_strcmp(test_dump(cfg, CONFIG_DUMP_FLAG_NON_DEFAULT),
			   test_header());
	str_reset(out);
	config_dump(cfg, out, true);
	test_assert_strcmp(str_c(out), test_header());
	config_free(&cfg);
	test_end();
}

static const char test_sample_config[] =
	"# A typical small installation\n"
	"protocols = imap\n"
	"listen = *\n"
	"ssl = required\n"
	"ssl_min_protocol = TLSv1.3\n"
	"login_greeting = Mail ready.\n"
	"ssl = yes\n"
	"default_login_user = dovenull\n"
	"service imap-login {\n"
	"  inet_listener imap {\n"
	"    port = 0\n"
	"  }\n"
	"  inet_listener imaps { port = 993 }\n"
	"}\n"
	"service mail {\n"
	"  vsz_limit = 1 G\n"
	"  unix_listener \"/var/spool/postfix/private/columba lmtp\" {\n"
	"    mode = 660\n"
	"    user = postfix\n"
	"  }\n"
	"}\n"
	"local_name imap.example.com {\n"
	"  ssl_min_protocol = TLSv1.2\n"
	"}\n"
	"shutdown_timeout = 120\n";

static void test_dump_non_default(void)
{
	test_begin("config dump -n");
	const char *error;
	struct config *cfg = test_config_parse(test_sample_config, &error);
	test_assert(cfg != NULL);
	if (cfg == NULL) {
		test_fail("%s", error);
		test_end();
		return;
	}
	/* what the files set, canonical and sorted; an explicit value equal
	   to the default (port = 993, ssl = yes) still shows */
	test_assert_strcmp(test_dump(cfg, CONFIG_DUMP_FLAG_NON_DEFAULT),
		t_strdup_printf("%s%s", test_header(),
		"default_login_user = dovenull\n"
		"listen = *\n"
		"login_greeting = Mail ready.\n"
		"protocols = imap\n"
		"shutdown_timeout = 2 mins\n"
		"ssl = yes\n"
		"ssl_min_protocol = TLSv1.3\n"
		"local_name imap.example.com {\n"
		"  ssl_min_protocol = TLSv1.2\n"
		"}\n"
		"service imap-login {\n"
		"  inet_listener imap {\n"
		"    port = 0\n"
		"  }\n"
		"  inet_listener imaps {\n"
		"    port = 993\n"
		"  }\n"
		"}\n"
		"service mail {\n"
		"  vsz_limit = 1G\n"
		"  unix_listener /var/spool/postfix/private/columba lmtp {\n"
		"    mode = 0660\n"
		"    user = postfix\n"
		"  }\n"
		"}\n"));
	/* the full dump has the built-in defaults, the admin's changes, and
	   values that follow from them (the login user) */
	const char *full = test_dump(cfg, 0);
	test_assert(strstr(full,
		"service imap-login {\n"
		"  chroot = login\n"
		"  client_limit = 1000\n"
		"  group = \n"
		"  process_limit = 100\n"
		"  process_min_avail = 0\n"
		"  service_count = 0\n"
		"  user = dovenull\n"
		"  vsz_limit = 256M\n"
		"  inet_listener imap {\n"
		"    address = \n"
		"    port = 0\n"
		"    ssl = no\n"
		"  }\n") != NULL);
	/* a local_name shows what it overrides, not what it inherits */
	test_assert(strstr(full,
		"local_name imap.example.com {\n"
		"  ssl_min_protocol = TLSv1.2\n"
		"}\n") != NULL);
	config_free(&cfg);
	test_end();
}

/* parse -> dump -> parse -> dump is stable, for both dumps, and the -n
   dump stands for the same configuration as the original. */
static void test_round_trip(const char *text, unsigned int idx)
{
	const char *error;
	struct config *cfg = test_config_parse(text, &error), *cfg2;

	test_assert_idx(cfg != NULL, idx);
	if (cfg == NULL) {
		test_fail("#%u: %s", idx, error);
		return;
	}
	const char *full = test_dump(cfg, 0);
	const char *changed = test_dump(cfg, CONFIG_DUMP_FLAG_NON_DEFAULT);

	cfg2 = test_config_parse(full, &error);
	test_assert_idx(cfg2 != NULL, idx);
	if (cfg2 == NULL) {
		test_fail("#%u: full dump: %s\n%s", idx, error, full);
	} else {
		test_assert_idx(strcmp(test_dump(cfg2, 0), full) == 0, idx);
		config_free(&cfg2);
	}
	cfg2 = test_config_parse(changed, &error);
	test_assert_idx(cfg2 != NULL, idx);
	if (cfg2 == NULL) {
		test_fail("#%u: -n dump: %s\n%s", idx, error, changed);
	} else {
		test_assert_idx(strcmp(test_dump(cfg2, CONFIG_DUMP_FLAG_NON_DEFAULT),
				       changed) == 0, idx);
		test_assert_idx(strcmp(test_dump(cfg2, 0), full) == 0, idx);
		config_free(&cfg2);
	}
	config_free(&cfg);
}

static void test_dump_round_trip(void)
{
	test_begin("config dump round trip");
	static const char *const texts[] = {
		"",
		test_sample_config,
		"ssl_cert = \"-----BEGIN CERTIFICATE-----\\nx\\n-----END CERTIFICATE-----\\n\"\n"
		"ssl_key = \"-----BEGIN PRIVATE KEY-----\\ny\\n-----END PRIVATE KEY-----\\n\"\n"
		"ssl_key_password = \"p#ss \\\"w\\\\\"\n"
		"local_name \"a.example.com *.b.example.com\" {\n"
		"  ssl_cipher_list = HIGH\n"
		"}\n",
		"ssl_cipher_list = \" a } b \"\n"
		"log_timestamp = \"%Y $x #y\"\n"
		"login_greeting = it's }x\n"
		"log_path = </dev/null\n"
		"ssl_cipher_suites = \"\\\\\"\n"
		"import_environment = A=$ B=\"c\"\n"
		"service auth {\n"
		"  unix_listener \"odd { name\" {\n"
		"  }\n"
		"  unix_listener \"  spaced \" {\n"
		"  }\n"
		"  unix_listener \"=equals\" {\n"
		"  }\n"
		"  unix_listener \"'quote\" {\n"
		"  }\n"
		"  unix_listener \"x#y\" {\n"
		"  }\n"
		"}\n",
		"default_internal_user = vmail\n"
		"service mail { user = $default_internal_user }\n"
		"service auth { unix_listener login/auth { user = $default_login_user } }\n",
		"protocols =\nlisten =\n"
		"service imap-login { inet_listener imap { address = ::1 10.0.0.1 } }\n",
	};
	for (unsigned int i = 0; i < N_ELEMENTS(texts); i++)
		test_round_trip(texts[i], i);
	test_end();
}

static void test_dump_quoting(void)
{
	test_begin("config dump quoting");
	static const struct {
		const char *value, *dumped;
	} tests[] = {
		{ "\"\"", "" },
		{ "plain text", "plain text" },
		{ "%{user}@%d", "%{user}@%d" },
		{ "a{b}c", "a{b}c" },
		{ "}x", "}x" },
		{ "\" lead\"", "\" lead\"" },
		{ "\"trail\t\"", "\"trail\\t\"" },
		{ "\"a#b\"", "\"a#b\"" },
		{ "'say \"hi\"'", "\"say \\\"hi\\\"\"" },
		{ "it's", "\"it's\"" },
		{ "back\\slash", "\"back\\\\slash\"" },
		{ "\"$dollar\"", "\"$dollar\"" },
		{ "\"<lt\"", "\"<lt\"" },
		{ "\"a } b\"", "\"a } b\"" },
		{ "\"}\"", "\"}\"" },
		{ "\"two\\nlines\\r\"", "\"two\\nlines\\r\"" },
	};
	const char *error;
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		const char *text = t_strdup_printf("log_timestamp = %s\n",
						   tests[i].value);
		struct config *cfg = test_config_parse(text, &error);
		test_assert_idx(cfg != NULL, i);
		if (cfg == NULL)
			continue;
		const char *expected = t_strdup_printf("%slog_timestamp = %s\n",
			test_header(), tests[i].dumped);
		const char *dump = test_dump(cfg, CONFIG_DUMP_FLAG_NON_DEFAULT);
		test_assert_idx(strcmp(dump, expected) == 0, i);
		if (strcmp(dump, expected) != 0)
			test_fail("%s -> %s", tests[i].value, dump);
		config_free(&cfg);
		test_round_trip(text, i);
	}
	test_end();
}

static void test_dump_flags(void)
{
	test_begin("config dump flags");
	const char *dir = t_strdup_printf("%s/dumpflags", test_dir());
	const char *cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	const char *key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
	const char *error;

	test_config_write("dumpflags/cert.pem", cert);
	test_config_write("dumpflags/key.pem", key);
	const char *path = test_config_write("dumpflags/columba.conf",
		"ssl_cert = <cert.pem\n"
		"ssl_key = <key.pem\n"
		"ssl_key_password = secret\n");
	struct config *cfg = config_parse_file(path, NULL, &error);
	test_assert(cfg != NULL);
	if (cfg == NULL) {
		test_fail("%s", error);
		test_end();
		return;
	}
	const char *header = t_strdup_printf("# columba %s: %s\n",
					     COLUMBA_VERSION, path);
	test_assert_strcmp(test_dump(cfg, CONFIG_DUMP_FLAG_NON_DEFAULT),
		t_strdup_printf("%sssl_cert = <%s/cert.pem\n"
				"ssl_key = <%s/key.pem\n"
				"ssl_key_password = secret\n",
				header, dir, dir));
	test_assert_strcmp(test_dump(cfg, CONFIG_DUMP_FLAG_NON_DEFAULT |
				     CONFIG_DUMP_FLAG_HIDE_SECRETS),
		t_strdup_printf("%sssl_cert = <%s/cert.pem\n"
				"ssl_key = # hidden, use -P to show it\n"
				"ssl_key_password = # hidden, use -P to show it\n",
				header, dir));
	const char *expanded = test_dump(cfg, CONFIG_DUMP_FLAG_NON_DEFAULT |
					 CONFIG_DUMP_FLAG_EXPAND_FILES);
	test_assert_strcmp(expanded, t_strdup_printf(
		"%sssl_cert = \"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n\"\n"
		"ssl_key = \"-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n\"\n"
		"ssl_key_password = secret\n", header));
	/* the expanded text needs no files: a chrooted child can parse it */
	const struct config_parse_settings no_files = { .no_file_access = true };
	struct config *child = config_parse_string(expanded, path, &no_files,
						   &error);
	test_assert(child != NULL);
	if (child != NULL) {
		test_assert_strcmp(config_get_root(child)->ssl.ssl_cert, cert);
		test_assert_strcmp(config_get_root(child)->ssl.ssl_key, key);
		test_assert_strcmp(test_dump(child, CONFIG_DUMP_FLAG_EXPAND_FILES),
				   test_dump(cfg, CONFIG_DUMP_FLAG_EXPAND_FILES));
		config_free(&child);
	}
	/* an empty secret is not hidden: there is nothing to hide */
	struct config *plain = test_config_parse("", &error);
	test_assert(strstr(test_dump(plain, CONFIG_DUMP_FLAG_HIDE_SECRETS),
			   "\nssl_key_password = \n") != NULL);
	config_free(&plain);
	config_free(&cfg);
	test_end();
}

static void test_dump_into_data_stack(void)
{
	test_begin("config dump into a small data stack buffer");
	const char *error;
	struct config *cfg = test_config_parse("", &error);
	/* the buffer must grow in the caller's frame, not in one of
	   config_dump()'s that is gone when it returns */
	string_t *out = t_str_new(1);
	config_dump(cfg, out, false);
	char *copy = i_strdup(str_c(out));
	for (unsigned int i = 0; i < 100; i++)
		memset(t_malloc(1024), 'X', 1024);
	test_assert_strcmp(str_c(out), copy);
	free(copy);
	config_free(&cfg);
	test_end();
}

test_func_t *const test_config_dump_tests[] = {
	test_dump_into_data_stack,
	test_dump_defaults,
	test_dump_non_default,
	test_dump_round_trip,
	test_dump_quoting,
	test_dump_flags,
	NULL
};
