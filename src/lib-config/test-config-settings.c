/* Tests for the settings engine and Columba's tables: defaults, built-in
   sections and how the admin's sections merge into them, every semantic
   error message, the cross-field checks, lookups and the helpers. */
#include "test-lib-config.h"

static const struct inet_listener_settings *
test_inet_listener(const struct service_settings *service, const char *name)
{
	struct inet_listener_settings *const *l;

	array_foreach(&service->inet_listeners, l) {
		if (strcmp((*l)->name, name) == 0)
			return *l;
	}
	return NULL;
}

static const struct unix_listener_settings *
test_unix_listener(const struct service_settings *service, const char *path)
{
	struct unix_listener_settings *const *l;

	array_foreach(&service->unix_listeners, l) {
		if (strcmp((*l)->path, path) == 0)
			return *l;
	}
	return NULL;
}

static void test_settings_defaults(void)
{
	test_begin("config defaults");
	const char *error;
	struct config *cfg = test_config_parse("", &error);
	test_assert(cfg != NULL);
	const struct columba_settings *set = config_get_root(cfg);

	test_assert_strcmp(t_strarray_join(set->protocols, " "), "imap");
	test_assert_strcmp(t_strarray_join(set->listen, "|"), "*|::");
	test_assert_strcmp(set->base_dir, "/run/columba");
	test_assert_strcmp(set->state_dir, "/var/lib/columba");
	test_assert_strcmp(set->log_path, "");
	test_assert_strcmp(set->log_timestamp, "%b %d %H:%M:%S ");
	test_assert_strcmp(t_strarray_join(set->import_environment, " "), "TZ");
	test_assert_strcmp(set->default_internal_user, "columba");
	test_assert_strcmp(set->default_internal_group, "columba");
	test_assert_strcmp(set->default_login_user, "columbanull");
	test_assert(set->shutdown_timeout == 30);
	test_assert_strcmp(set->login_greeting, "Columba ready.");

	test_assert_strcmp(set->ssl.ssl, "yes");
	test_assert_strcmp(set->ssl.ssl_cert, "");
	test_assert_strcmp(set->ssl.ssl_key, "");
	test_assert_strcmp(set->ssl.ssl_key_password, "");
	test_assert_strcmp(set->ssl.ssl_ca, "");
	test_assert(!set->ssl.ssl_verify_client_cert);
	test_assert_strcmp(set->ssl.ssl_min_protocol, "TLSv1.2");
	test_assert_strcmp(set->ssl.ssl_cipher_list,
		"ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:!PSK:!RC4:!ADH:!LOW@STRENGTH");
	test_assert_strcmp(set->ssl.ssl_cipher_suites, "");
	test_assert(!set->ssl.ssl_prefer_server_ciphers);
	test_assert(array_count(&set->local_names) == 0);

	/* the built-in services */
	test_assert(array_count(&set->services) == 4);
	const struct service_settings *login =
		columba_settings_find_service(set, "imap-login");
	test_assert(login != NULL);
	test_assert_strcmp(login->user, "columbanull");
	test_assert_strcmp(login->chroot, "login");
	test_assert(login->service_count == 0);
	test_assert(login->process_limit == 100);
	test_assert(login->process_min_avail == 0);
	test_assert(login->client_limit == 1000);
	test_assert(login->vsz_limit == 256 * 1024 * 1024);
	test_assert(array_count(&login->inet_listeners) == 2);
	const struct inet_listener_settings *imap =
		test_inet_listener(login, "imap");
	const struct inet_listener_settings *imaps =
		test_inet_listener(login, "imaps");
	test_assert(imap != NULL && imap->port == 143 && !imap->ssl &&
		    imap->address[0] == NULL);
	test_assert(imaps != NULL && imaps->port == 993 && imaps->ssl);
	/* where mail processes hand clients back (UNAUTHENTICATE) */
	test_assert(array_count(&login->unix_listeners) == 1);
	const struct unix_listener_settings *handback =
		test_unix_listener(login, "login/imap-handback");
	test_assert(handback != NULL && handback->mode == 0600);
	test_assert(handback != NULL &&
		    strcmp(handback->user, "columba") == 0);

	const struct service_settings *auth =
		columba_settings_find_service(set, "auth");
	test_assert(auth != NULL && auth->process_limit == 1);
	test_assert_strcmp(auth->user, "columba");
	test_assert(array_count(&auth->inet_listeners) == 0);
	test_assert(array_count(&auth->unix_listeners) == 3);
	if (array_count(&auth->unix_listeners) == 3) {
		struct unix_listener_settings *const *ul =
			array_idx(&auth->unix_listeners, 0);
		test_assert_strcmp(ul[0]->path, "auth-client");
		test_assert(ul[0]->mode == 0600 && *ul[0]->user == '\0');
		test_assert_strcmp(ul[1]->path, "login/auth");
		test_assert_strcmp(ul[1]->user, "columbanull");
		test_assert_strcmp(ul[2]->path, "auth-userdb");
		test_assert_strcmp(ul[2]->user, "columba");
	}
	test_assert(set->auth_mechanisms[0] != NULL &&
		    strcmp(set->auth_mechanisms[0], "plain") == 0 &&
		    set->auth_mechanisms[1] == NULL);
	test_assert_strcmp(set->auth_username_format, "%Lu");
	test_assert_strcmp(set->auth_default_realm, "");
	test_assert(set->auth_failure_delay == 2);
	test_assert(set->disable_plaintext_auth);
	test_assert_strcmp(set->auth_anonymous_username, "anonymous");
	test_assert(set->auth_worker_max_count == 4);
	test_assert(array_count(&set->passdbs) == 0);
	test_assert(array_count(&set->userdbs) == 0);

	const struct service_settings *mail =
		columba_settings_find_service(set, "mail");
	test_assert(mail != NULL && *mail->user == '\0');
	test_assert(mail->process_limit == 100 && *mail->chroot == '\0');
	test_assert(array_count(&mail->inet_listeners) == 1); /* lmtp */
	/* lmtp, login/mail */
	test_assert(array_count(&mail->unix_listeners) == 2);
	test_assert(columba_settings_find_service(set, "admin") == NULL);
	test_assert(columba_settings_find_service(set, "indexer") == NULL);
	const struct service_settings *pop3 =
		columba_settings_find_service(set, "pop3-login");
	test_assert(pop3 != NULL && strcmp(pop3->chroot, "login") == 0);
	test_assert(pop3 != NULL && array_count(&pop3->inet_listeners) == 2);
	test_assert(pop3 != NULL && test_inet_listener(pop3, "pop3")->port == 110);
	test_assert(pop3 != NULL && test_inet_listener(pop3, "pop3s")->port == 995 &&
		    test_inet_listener(pop3, "pop3s")->ssl);
	test_assert_strcmp(config_get_path(cfg), "t.conf");
	config_free(&cfg);
	test_assert(cfg == NULL);
	test_end();
}

static void test_settings_merge(void)
{
	test_begin("config sections merge into the built-in ones");
	const char *error;
	struct config *cfg = test_config_parse(
		"service imap-login { inet_listener imap { port = 10143 } }\n"
		"service mail {\n"
		"  process_limit = 10\n"
		"  client_limit = 50\n"
		"}\n"
		"service imap-login {\n"
		"  inet_listener submission-like {\n"
		"    address = 127.0.0.1, ::1\n"
		"    port = 1143\n"
		"  }\n"
		"}\n"
		"service mail {\n"
		"  process_limit = 20\n"
		"  unix_listener /var/spool/postfix/private/x {\n"
		"    mode = 0660\n"
		"    user = postfix\n"
		"  }\n"
		"}\n", &error);
	test_assert(cfg != NULL);
	if (cfg == NULL) {
		test_fail("%s", error);
		test_end();
		return;
	}
	const struct columba_settings *set = config_get_root(cfg);
	test_assert(array_count(&set->services) == 4);
	const struct service_settings *login =
		columba_settings_find_service(set, "imap-login");
	/* only the port changed */
	const struct inet_listener_settings *imap =
		test_inet_listener(login, "imap");
	test_assert(imap->port == 10143 && !imap->ssl);
	const struct inet_listener_settings *imaps =
		test_inet_listener(login, "imaps");
	test_assert(imaps->port == 993 && imaps->ssl);
	test_assert_strcmp(login->user, "columbanull");
	/* a new listener joins the built-in ones */
	test_assert(array_count(&login->inet_listeners) == 3);
	const struct inet_listener_settings *extra =
		test_inet_listener(login, "submission-like");
	test_assert(extra != NULL && extra->port == 1143 && !extra->ssl);
	test_assert_strcmp(t_strarray_join(extra->address, " "),
			   "127.0.0.1 ::1");
	/* a later block with the same name changes the same service */
	const struct service_settings *mail =
		columba_settings_find_service(set, "mail");
	test_assert(mail->process_limit == 20 && mail->client_limit == 50);
	test_assert(array_count(&mail->unix_listeners) == 3);
	const struct unix_listener_settings *ul =
		test_unix_listener(mail, "/var/spool/postfix/private/x");
	test_assert(ul != NULL && ul->mode == 0660);
	test_assert_strcmp(ul->user, "postfix");
	config_free(&cfg);
	test_end();
}

#define TEST_CERT "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
#define TEST_KEY "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n"

static void test_settings_local_name(void)
{
	test_begin("config local_name");
	const char *error;
	struct config *cfg = test_config_parse(
		"local_name \"imap.example.com  mail.example.com\" {\n"
		"  ssl_cert = \"" TEST_CERT "2\"\n"
		"  ssl_key = \"" TEST_KEY "2\"\n"
		"}\n"
		"local_name *.example.org {\n"
		"  ssl_min_protocol = TLSv1.3\n"
		"}\n"
		"ssl_cert = \"" TEST_CERT "\"\n"
		"ssl_key = \"" TEST_KEY "\"\n"
		"ssl_min_protocol = TLSv1.1\n"
		"local_name imap.example.org {\n"
		"}\n", &error);
	test_assert(cfg != NULL);
	if (cfg == NULL) {
		test_fail("%s", error);
		test_end();
		return;
	}
	const struct columba_settings *set = config_get_root(cfg);
	test_assert(array_count(&set->local_names) == 3);

	const struct local_name_settings *ln =
		columba_settings_find_local_name(set, "MAIL.example.com");
	test_assert(ln != NULL);
	test_assert_strcmp(ln->name, "imap.example.com  mail.example.com");
	test_assert_strcmp(t_strarray_join(ln->names, ","),
			   "imap.example.com,mail.example.com");
	test_assert(str_ends_with(ln->ssl.ssl_cert, "-----\n2"));
	/* what it does not set comes from the top level, whatever the
	   order in the file */
	test_assert_strcmp(ln->ssl.ssl_min_protocol, "TLSv1.1");

	ln = columba_settings_find_local_name(set, "pop.example.org");
	test_assert(ln != NULL && strcmp(ln->name, "*.example.org") == 0);
	test_assert_strcmp(ln->ssl.ssl_min_protocol, "TLSv1.3");
	test_assert(str_ends_with(ln->ssl.ssl_cert, "-----\n"));
	/* an exact name wins over a wildcard */
	ln = columba_settings_find_local_name(set, "imap.example.org");
	test_assert(ln != NULL && strcmp(ln->name, "imap.example.org") == 0);
	test_assert(columba_settings_find_local_name(set, "example.org") == NULL);
	test_assert(columba_settings_find_local_name(set, "a.b.example.org") == NULL);
	test_assert(columba_settings_find_local_name(set, "nowhere") == NULL);

	test_assert_strcmp(config_lookup(cfg, "local_name/*.example.org/ssl_min_protocol"),
			   "TLSv1.3");
	test_assert_strcmp(config_lookup(cfg, "local_name/imap.example.org/ssl_min_protocol"),
			   "TLSv1.1");
	config_free(&cfg);
	test_end();
}

static void test_settings_auth_dbs(void)
{
	test_begin("config passdb and userdb sections");
	const char *error;
	/* Dovecot 2.3 style: unnamed and repeated; 2.4 style: named */
	const char *text =
		"passdb {\n"
		"  driver = passwd-file\n"
		"  args = scheme=CRYPT /etc/a.passwd\n"
		"}\n"
		"passdb {\n"
		"  driver = static\n"
		"  args = password=x\n"
		"}\n"
		"userdb main {\n"
		"  args = /etc/u\n"
		"}\n"
		"userdb {\n"
		"  driver = static\n"
		"  args = uid=vmail gid=vmail home=/home/%u\n"
		"}\n"
		"userdb main {\n"
		"  driver = passwd-file\n"
		"}\n"
		"auth_mechanisms = plain login cram-md5 scram-sha-256\n";
	struct config *cfg = test_config_parse(text, &error);
	test_assert(cfg != NULL);
	if (cfg == NULL) {
		test_fail("%s", error);
		test_end();
		return;
	}
	const struct columba_settings *set = config_get_root(cfg);
	test_assert(array_count(&set->passdbs) == 2);
	test_assert(array_count(&set->userdbs) == 2);
	if (array_count(&set->passdbs) == 2 &&
	    array_count(&set->userdbs) == 2) {
		struct auth_db_settings *const *p = array_idx(&set->passdbs, 0);
		struct auth_db_settings *const *u = array_idx(&set->userdbs, 0);
		test_assert_strcmp(p[0]->name, "");
		test_assert_strcmp(p[0]->driver, "passwd-file");
		test_assert_strcmp(p[0]->args, "scheme=CRYPT /etc/a.passwd");
		test_assert_strcmp(p[1]->driver, "static");
		/* the second "userdb main" changed the first */
		test_assert_strcmp(u[0]->name, "main");
		test_assert_strcmp(u[0]->driver, "passwd-file");
		test_assert_strcmp(u[0]->args, "/etc/u");
		test_assert_strcmp(u[1]->name, "");
		test_assert_strcmp(u[1]->driver, "static");
	}
	test_assert(str_array_length(set->auth_mechanisms) == 4);

	/* the dump keeps the order and the missing names, and parses back
	   to the same dump */
	string_t *out = t_str_new(4096);
	config_dump(cfg, out, true);
	const char *dump = t_strdup(str_c(out));
	const char *p1 = strstr(dump, "passdb {\n  args = scheme=CRYPT");
	const char *p2 = strstr(dump, "passdb {\n  args = password=x\n  driver = static\n}\n");
	const char *u1 = strstr(dump, "userdb main {\n  args = /etc/u\n");
	const char *u2 = strstr(dump, "userdb {\n  args = uid=vmail");
	test_assert(p1 != NULL && p2 != NULL && p1 < p2);
	test_assert(u1 != NULL && u2 != NULL && u1 < u2);
	config_free(&cfg);
	cfg = test_config_parse(dump, &error);
	test_assert(cfg != NULL);
	if (cfg != NULL) {
		str_truncate(out, 0);
		config_dump(cfg, out, true);
		test_assert_strcmp(str_c(out), dump);
		config_free(&cfg);
	}

	/* other sections still need their name */
	test_assert(test_config_parse("service {\n}\n", &error) == NULL);
	test_assert(strstr(error, "Section service needs a name") != NULL);
	test_assert(test_config_parse("passdb {\n  driver = ldap\n}\n",
				      &error) == NULL);
	test_assert(strstr(error, "Invalid value for driver: ldap") != NULL);
	test_assert(test_config_parse("auth_mechanisms = plain digest-md5\n",
				      &error) == NULL);
	test_assert(test_config_parse("auth_worker_max_count = 0\n",
				      &error) == NULL);
	test_end();
}

static void test_settings_errors(void)
{
	test_begin("config setting errors");
	static const struct {
		const char *text, *error;
	} tests[] = {
		{ "ssl_certt = x",
		  "t.conf:1: Unknown setting: ssl_certt (did you mean ssl_cert?)" },
		{ "\nprotocol = imap",
		  "t.conf:2: Unknown setting: protocol (did you mean protocols?)" },
		{ "service mail {\n  proces_limit = 3\n}",
		  "t.conf:2: Unknown setting: proces_limit (did you mean process_limit?)" },
		{ "foobar = 1", "t.conf:1: Unknown setting: foobar" },
		/* settings without code behind them do not exist */
		{ "instance_name = x", "t.conf:1: Unknown setting: instance_name" },
		{ "ssl_dh = x",
		  "t.conf:1: Unknown setting: ssl_dh (did you mean ssl_ca?)" },
		{ "service mail {\n  idle_kill = 1 min\n}",
		  "t.conf:2: Unknown setting: idle_kill" },
		{ "service imap-login {\n  inet_listener imap {\n    haproxy = yes\n  }\n}",
		  "t.conf:3: Unknown setting: haproxy" },
		{ "port = 143",
		  "t.conf:1: Setting port is not valid at the top level (expected inside inet_listener sections)" },
		{ "service mail {\n  ssl_cert = x\n}",
		  "t.conf:2: Setting ssl_cert is not valid inside service sections (expected at the top level)" },
		{ "ssl_prefer_server_ciphers = maybe",
		  "t.conf:1: Invalid value for ssl_prefer_server_ciphers: maybe (expected yes or no)" },
		{ "service mail {\n  process_limit = lots\n}",
		  "t.conf:2: Invalid value for process_limit: lots (expected a whole number 0-4294967295)" },
		{ "service mail { vsz_limit = 10X }",
		  "t.conf:1: Invalid value for vsz_limit: 10X (expected a size like 4096, 512k, 10M or 1G)" },
		{ "shutdown_timeout = soon",
		  "t.conf:1: Invalid value for shutdown_timeout: soon (expected a time in whole seconds like 30 secs, 5 mins or 1 hour)" },
		{ "shutdown_timeout = 100 ms",
		  "t.conf:1: Invalid value for shutdown_timeout: 100 ms (expected a time in whole seconds like 30 secs, 5 mins or 1 hour)" },
		{ "ssl = maybe",
		  "t.conf:1: Invalid value for ssl: maybe (expected one of: yes, no, required)" },
		{ "ssl_min_protocol = TLSv1.4",
		  "t.conf:1: Invalid value for ssl_min_protocol: TLSv1.4 (expected one of: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)" },
		{ "protocols = imap imap4",
		  "t.conf:1: Invalid value for protocols: imap4 (expected a space-separated list of: imap, lmtp, pop3)" },
		{ "service imap-login {\n  inet_listener imap {\n    port = 99999\n  }\n}",
		  "t.conf:3: Invalid value for port: 99999 (expected a port number 1-65535, or 0 to disable)" },
		{ "service auth {\n  unix_listener x {\n    mode = 0689\n  }\n}",
		  "t.conf:3: Invalid value for mode: 0689 (expected an octal file mode like 0600)" },
		{ "listen = *, bad..host",
		  "t.conf:1: Invalid value for listen: bad..host (expected IP addresses or host names separated by commas or spaces; * means all IPv4 and :: all IPv6 addresses)" },
		{ "servce imap-login {\n}",
		  "t.conf:1: Unknown section: servce (did you mean service?)" },
		{ "frobnicate {\n}", "t.conf:1: Unknown section: frobnicate" },
		{ "inet_listener imap {\n}",
		  "t.conf:1: Section inet_listener is not valid at the top level (expected inside service sections)" },
		{ "local_name x {\n  service mail {\n  }\n}",
		  "t.conf:2: Section service is not valid inside local_name sections (expected at the top level)" },
		{ "service imap-logn {\n}",
		  "t.conf:1: Unknown service name: imap-logn (did you mean imap-login? expected one of: imap-login, pop3-login, auth, mail)" },
		{ "service pop3 {\n}",
		  "t.conf:1: Unknown service name: pop3 (expected one of: imap-login, pop3-login, auth, mail)" },
		{ "service indexer {\n}",
		  "t.conf:1: Unknown service name: indexer (expected one of: imap-login, pop3-login, auth, mail)" },
		{ "service {\n}",
		  "t.conf:1: Section service needs a name (expected service NAME { ... })" },
		{ "service = mail",
		  "t.conf:1: service is a section, not a setting (expected service NAME { ... })" },
		{ "ssl_cert x {\n}",
		  "t.conf:1: ssl_cert is a setting, not a section (expected ssl_cert = VALUE)" },
		/* the cross-field checks blame the right line */
		{ "service mail {\n  process_limit = 2\n  process_min_avail = 5\n}",
		  "t.conf:3: process_min_avail (5) is larger than process_limit (2) (expected process_min_avail <= process_limit)" },
		{ "service mail {\n  process_min_avail = 5\n}\nservice mail {\n  process_limit = 4\n}",
		  "t.conf:2: process_min_avail (5) is larger than process_limit (4) (expected process_min_avail <= process_limit)" },
		{ "service mail {\n  process_limit = 0\n}",
		  "t.conf:2: Invalid value for process_limit: 0 (expected at least 1)" },
		{ "service mail {\n  client_limit = 0\n}",
		  "t.conf:2: Invalid value for client_limit: 0 (expected at least 1)" },
		{ "service auth {\n  unix_listener x {\n    mode = 01777\n  }\n}",
		  "t.conf:3: Invalid value for mode: 1777 (expected permission bits 0000-0777)" },
		{ "ssl_cert = /etc/ssl/cert.pem",
		  "t.conf:1: ssl_cert does not contain PEM data (expected ssl_cert = </path/to/file.pem, note the '<')" },
		{ "ssl_cert = \"" TEST_CERT "\"",
		  "t.conf:1: ssl_cert is set but ssl_key is not (expected both or neither)" },
		{ "local_name a.example.com {\n  ssl_key = \"" TEST_KEY "\"\n}",
		  "t.conf:2: ssl_key is set but ssl_cert is not (expected both or neither)" },
		{ "local_name a.example.com {\n}\nlocal_name \"ok.example.com bad..name\" {\n}",
		  "t.conf:3: Invalid name in local_name: bad..name (expected host names like imap.example.com or *.example.com)" },
		{ "import_environment = TZ 1BAD=x",
		  "t.conf:1: Invalid value for import_environment: 1BAD=x (expected NAME or NAME=value items)" },
		{ "base_dir = run",
		  "t.conf:1: Invalid value for base_dir: run (expected an absolute path)" },
		{ "state_dir =",
		  "t.conf:1: Invalid value for state_dir:  (expected an absolute path)" },
		{ "login_greeting = \"hi\\r\\nA001 OK\"",
		  "t.conf:1: Invalid value for login_greeting: control characters (expected one line of text)" },
	};
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		const char *error = test_config_error(tests[i].text);
		test_assert_idx(strcmp(error, tests[i].error) == 0, i);
		if (strcmp(error, tests[i].error) != 0)
			test_fail("'%s' -> '%s'", tests[i].text, error);
	}
	test_end();
}

static void test_settings_file_errors(void)
{
	test_begin("config file errors");
	const char *error;
	test_assert(config_parse_file("/nonexistent/columba.conf", NULL,
				      &error) == NULL);
	test_assert_strcmp(error,
		"Can't read configuration file /nonexistent/columba.conf: No such file or directory");
	const char *path = test_config_write("errs/columba.conf",
		"# Columba\n\nssl = yes\nssl_certt = </etc/ssl/x.pem\n");
	test_assert(config_parse_file(path, NULL, &error) == NULL);
	/* the syntax is read first: the missing file is reported... */
	test_assert_strcmp(error, t_strdup_printf(
		"%s:4: Can't read /etc/ssl/x.pem for ssl_certt: No such file or directory (expected a readable file)",
		path));
	path = test_config_write("errs/columba.conf",
		"# Columba\n\nssl = yes\nssl_certt = /etc/ssl/x.pem\n");
	test_assert(config_parse_file(path, NULL, &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s:4: Unknown setting: ssl_certt (did you mean ssl_cert?)", path));
	test_end();
}

static void test_settings_lookup(void)
{
	test_begin("config_lookup");
	const char *error;
	struct config *cfg = test_config_parse(
		"service imap-login { inet_listener imaps { port = 10993 } }\n"
		"service auth {\n"
		"  unix_listener /var/spool/postfix/private/auth {\n    mode = 0666\n  }\n"
		"  unix_listener login/auth {\n    user = $default_login_user\n  }\n"
		"}\n",
		&error);
	test_assert(cfg != NULL);
	test_assert_strcmp(config_lookup(cfg, "ssl_min_protocol"), "TLSv1.2");
	test_assert_strcmp(config_lookup(cfg, "listen"), "*, ::");
	test_assert_strcmp(config_lookup(cfg, "shutdown_timeout"), "30 secs");
	test_assert_strcmp(config_lookup(cfg, "service/imap-login/inet_listener/imaps/port"),
			   "10993");
	test_assert_strcmp(config_lookup(cfg, "service/imap-login/inet_listener/imaps/ssl"),
			   "yes");
	test_assert_strcmp(config_lookup(cfg, "service/imap-login/vsz_limit"), "256M");
	test_assert_strcmp(config_lookup(cfg, "service/auth/unix_listener/login/auth/user"),
			   "columbanull");
	test_assert_strcmp(config_lookup(cfg, "service/auth/unix_listener//var/spool/postfix/private/auth/mode"),
			   "0666");
	test_assert(config_lookup(cfg, "nosuch") == NULL);
	test_assert(config_lookup(cfg, "service/nosuch/user") == NULL);
	test_assert(config_lookup(cfg, "service/imap-login") == NULL);
	test_assert(config_lookup(cfg, "service/imap-login/inet_listener/imap") == NULL);
	test_assert(config_lookup(cfg, "service/imap-login/inet_listener/imap/nosuch") == NULL);
	test_assert(config_lookup(cfg, "ssl_cert/x") == NULL);
	test_assert(config_lookup(cfg, "") == NULL);
	config_free(&cfg);
	test_end();
}

static void test_settings_child_environment(void)
{
	test_begin("config import_environment");
	const char *error;
	setenv("COLUMBA_TEST_TZ", "Europe/Oslo", 1);
	unsetenv("COLUMBA_TEST_UNSET");
	struct config *cfg = test_config_parse(
		"import_environment = COLUMBA_TEST_TZ COLUMBA_TEST_UNSET FOO=bar= X=\n",
		&error);
	test_assert(cfg != NULL);
	pool_t pool = pool_alloconly_create("env", 256);
	const char *const *env =
		columba_settings_child_environment(config_get_root(cfg), pool);
	test_assert_strcmp(t_strarray_join(env, "|"),
			   "COLUMBA_TEST_TZ=Europe/Oslo|FOO=bar=|X=");
	pool_unref(&pool);
	config_free(&cfg);
	unsetenv("COLUMBA_TEST_TZ");
	test_end();
}

/* No two settings or sections at one level may share a name: the parser
   would silently pick the first. Walks groups as the parser does. */
typedef ARRAY(const char *) test_keys_t;
static void test_collect_keys(const struct config_section_def *def,
			      test_keys_t *keys)
{
	for (const struct config_setting_def *d = def->settings;
	     d->key != NULL; d++) {
		if (d->type == CONFIG_TYPE_GROUP)
			test_collect_keys(d->section, keys);
		else
			array_push(keys, d->key);
	}
}

static void test_check_def(const struct config_section_def *def)
{
	test_keys_t keys;
	array_init(&keys, pool_datastack, 32);
	test_collect_keys(def, &keys);
	for (unsigned int i = 0; i < array_count(&keys); i++) {
		for (unsigned int j = i + 1; j < array_count(&keys); j++) {
			if (strcmp(keys.v[i], keys.v[j]) == 0)
				test_fail("%s: duplicate key %s", def->name,
					  keys.v[i]);
		}
	}
	for (const struct config_setting_def *d = def->settings;
	     d->key != NULL; d++) {
		test_assert(d->type != CONFIG_TYPE_ENUM ||
			    d->default_value != NULL);
		if (d->section != NULL) {
			test_assert(d->section->struct_size > 0);
			test_check_def(d->section);
		}
	}
}

static void test_settings_tables(void)
{
	test_begin("config tables are consistent");
	test_check_def(&columba_settings_root_def);
	test_end();
}

/* A root of its own exercises what Columba's tables do not use yet. */
struct test_group {
	const char *g;
	bool flag;
};
struct test_opts {
	bool on;
	unsigned int wait_msecs;
};
struct test_sub {
	const char *name;
	unsigned int n;
	struct test_group grp;
};
struct test_root {
	const char *top;
	struct test_group grp;
	struct test_opts opts;
	ARRAY(struct test_sub *) subs;
};
static const struct config_setting_def test_group_defs[] = {
	CONFIG_DEF_STR(struct test_group, g, "gdef"),
	CONFIG_DEF_BOOL(struct test_group, flag, "no"),
	CONFIG_DEF_END
};
static const struct config_section_def test_group_def = {
	.name = "grp",
	.struct_size = sizeof(struct test_group),
	.settings = test_group_defs,
};
static const struct config_setting_def test_opts_defs[] = {
	CONFIG_DEF_BOOL(struct test_opts, on, "yes"),
	CONFIG_DEF_TIME_MSECS(struct test_opts, wait_msecs, "1500 ms"),
	CONFIG_DEF_END
};
static const struct config_section_def test_opts_def = {
	.name = "opts",
	.struct_size = sizeof(struct test_opts),
	.settings = test_opts_defs,
};
static const struct config_setting_def test_sub_defs[] = {
	CONFIG_DEF_UINT(struct test_sub, n, "7"),
	CONFIG_DEF_GROUP(struct test_sub, grp, &test_group_def),
	CONFIG_DEF_END
};
static const struct config_section_def test_sub_def = {
	.name = "sub",
	.struct_size = sizeof(struct test_sub),
	.settings = test_sub_defs,
	.name_offset = offsetof(struct test_sub, name),
	.inherit = true,
};
static const struct config_setting_def test_root_defs[] = {
	CONFIG_DEF_STR(struct test_root, top, "t"),
	CONFIG_DEF_GROUP(struct test_root, grp, &test_group_def),
	CONFIG_DEF_SECTION("opts", struct test_root, opts, &test_opts_def),
	CONFIG_DEF_SECTION_LIST("sub", struct test_root, subs, &test_sub_def),
	CONFIG_DEF_END
};
static const struct config_section_def test_root_def = {
	.name = "test",
	.struct_size = sizeof(struct test_root),
	.settings = test_root_defs,
};

static void test_settings_custom_root(void)
{
	test_begin("config with a root of its own");
	const struct config_parse_settings set = {
		.root_def = &test_root_def,
		.builtin_config = "sub built {\n  n = 1\n}\n",
	};
	const char *error;
	struct config *cfg = config_parse_string(
		"opts {\n"
		"  wait_msecs = 250 ms\n"
		"}\n"
		"sub built {\n  n = 2\n  flag = yes\n}\n"
		"sub new {\n}\n"
		"g = top-g\n", "c.conf", &set, &error);
	test_assert(cfg != NULL);
	if (cfg == NULL) {
		test_fail("%s", error);
		test_end();
		return;
	}
	const struct test_root *root = config_get_root_raw(cfg);
	test_assert_strcmp(root->top, "t");
	test_assert_strcmp(root->grp.g, "top-g");
	test_assert(root->opts.on && root->opts.wait_msecs == 250);
	test_assert(array_count(&root->subs) == 2);
	const struct test_sub *built = root->subs.v[0], *new = root->subs.v[1];
	test_assert_strcmp(built->name, "built");
	test_assert(built->n == 2 && built->grp.flag);
	test_assert_strcmp(built->grp.g, "top-g");
	test_assert_strcmp(new->name, "new");
	test_assert(new->n == 7 && !new->grp.flag);
	test_assert_strcmp(new->grp.g, "top-g");

	string_t *out = t_str_new(256);
	config_dump(cfg, out, false);
	test_assert_strcmp(str_c(out), t_strdup_printf(
		"# columba %s: c.conf\n"
		"flag = no\n"
		"g = top-g\n"
		"top = t\n"
		"opts {\n"
		"  on = yes\n"
		"  wait_msecs = 250 ms\n"
		"}\n"
		"sub built {\n"
		"  flag = yes\n"
		"  n = 2\n"
		"}\n"
		"sub new {\n"
		"  n = 7\n"
		"}\n", COLUMBA_VERSION));
	str_reset(out);
	config_dump(cfg, out, true);
	test_assert_strcmp(str_c(out), t_strdup_printf(
		"# columba %s: c.conf\n"
		"g = top-g\n"
		"opts {\n"
		"  wait_msecs = 250 ms\n"
		"}\n"
		"sub built {\n"
		"  flag = yes\n"
		"  n = 2\n"
		"}\n"
		"sub new {\n"
		"}\n", COLUMBA_VERSION));
	config_free(&cfg);

	test_assert(config_parse_string("opts x {\n}\n", "c.conf", &set,
					&error) == NULL);
	test_assert_strcmp(error,
		"c.conf:1: Section opts takes no name (expected opts { ... })");
	test_assert(config_parse_string("sub x {\n  opts {\n  }\n}\n", "c.conf",
					&set, &error) == NULL);
	test_assert_strcmp(error,
		"c.conf:2: Section opts is not valid inside sub sections (expected at the top level)");
	test_end();
}

test_func_t *const test_config_settings_tests[] = {
	test_settings_defaults,
	test_settings_merge,
	test_settings_local_name,
	test_settings_auth_dbs,
	test_settings_errors,
	test_settings_file_errors,
	test_settings_lookup,
	test_settings_child_environment,
	test_settings_tables,
	test_settings_custom_root,
	NULL
};
