/* Tests for events: field and prefix inheritance, duration, handlers
   (registration, reentrancy, unregistering during dispatch) and the
   JSON-lines output, checked byte for byte. */
#include "test-lib.h"
#include "event.h"
#include <fcntl.h>
#include <sys/stat.h>

static void test_event_inheritance(void)
{
	test_begin("event fields, category and prefix inheritance");
	struct event *conn = event_create(NULL);
	event_set_category(conn, "imap");
	event_add_str(conn, "remote_ip", "192.0.2.1");
	event_add_str(conn, "user", "");
	event_replace_log_prefix(conn, "imap-login: ");

	struct event *session = event_create(conn);
	event_set_append_log_prefix(session, "imap(bob)<abc>: ");
	event_replace_log_prefix(session, "imap(bob)<abc>: ");
	event_add_str(session, "user", "bob");
	event_add_int(session, "session_no", 7);

	struct event *cmd = event_create(session);
	event_set_name(cmd, "imap_command_finished");
	event_set_append_log_prefix(cmd, "FETCH: ");
	event_add_str(cmd, "cmd_name", "FETCH");
	event_add_str(cmd, "ignored", NULL);
	event_add_int(cmd, "session_no", -8);

	/* the connection can go first: children keep their parents */
	event_unref(&conn);
	test_assert(conn == NULL);

	test_assert_strcmp(event_get_category(cmd), "imap");
	test_assert_strcmp(event_get_name(cmd), "imap_command_finished");
	test_assert(event_get_name(session) == NULL);
	test_assert_strcmp(event_get_log_prefix(cmd), "imap(bob)<abc>: FETCH: ");
	test_assert_strcmp(event_get_log_prefix(session), "imap(bob)<abc>: ");
	test_assert_strcmp(event_get_log_prefix(event_get_parent(session)),
			   "imap-login: ");
	event_set_append_log_prefix(session, "s: ");
	test_assert_strcmp(event_get_log_prefix(cmd),
			   "imap-login: s: FETCH: ");

	const struct event_field *f = event_find_field(cmd, "remote_ip");
	test_assert(f != NULL && f->type == EVENT_FIELD_TYPE_STR &&
		    strcmp(f->value.str, "192.0.2.1") == 0);
	f = event_find_field(cmd, "user");
	test_assert(f != NULL && strcmp(f->value.str, "bob") == 0);
	f = event_find_field(event_get_parent(session), "user");
	test_assert(f != NULL && strcmp(f->value.str, "") == 0);
	f = event_find_field(cmd, "session_no");
	test_assert(f != NULL && f->type == EVENT_FIELD_TYPE_INT &&
		    f->value.intmax == -8);
	f = event_find_field(session, "session_no");
	test_assert(f != NULL && f->value.intmax == 7);
	test_assert(event_find_field(cmd, "ignored") == NULL);
	test_assert(event_find_field(session, "cmd_name") == NULL);

	/* replacing keeps one field and changes its type */
	event_add_str(cmd, "cmd_name", "UID FETCH");
	struct timeval tv = { .tv_sec = 5, .tv_usec = 6 };
	event_add_timeval(cmd, "session_no", &tv);
	unsigned int count;
	const struct event_field *own = event_get_own_fields(cmd, &count);
	test_assert(count == 2);
	test_assert(strcmp(own[0].key, "cmd_name") == 0 &&
		    strcmp(own[0].value.str, "UID FETCH") == 0);
	test_assert(own[1].type == EVENT_FIELD_TYPE_TIMEVAL &&
		    own[1].value.timeval.tv_sec == 5);

	event_ref(cmd);
	event_unref(&session);
	struct event *cmd2 = cmd;
	event_unref(&cmd2);
	test_assert_strcmp(event_get_category(cmd), "imap");
	event_unref(&cmd);
	test_end();
}

/* --- handlers --- */

struct captured {
	unsigned int count;
	char *name, *category, *message, *fields;
	uint64_t duration;
	bool is_log;
	enum log_type log_type;
};

static void captured_clear(struct captured *c)
{
	i_free(c->name);
	i_free(c->category);
	i_free(c->message);
	i_free(c->fields);
}

static void capture_handler(const struct event_emission *em, void *context)
{
	struct captured *c = context;
	string_t *fields = t_str_new(128);

	captured_clear(c);
	c->count++;
	c->name = i_strdup(em->name);
	c->category = i_strdup(em->category);
	c->message = i_strdup(em->message);
	c->duration = em->duration_usecs;
	c->is_log = em->is_log;
	c->log_type = em->log_type;
	for (unsigned int i = 0; i < em->fields_count; i++) {
		const struct event_field *f = &em->fields[i];
		if (i > 0)
			str_append_c(fields, ' ');
		switch (f->type) {
		case EVENT_FIELD_TYPE_STR:
			str_printfa(fields, "%s=%s", f->key, f->value.str);
			break;
		case EVENT_FIELD_TYPE_INT:
			str_printfa(fields, "%s=%lld", f->key,
				    (long long)f->value.intmax);
			break;
		case EVENT_FIELD_TYPE_TIMEVAL:
			str_printfa(fields, "%s=@%ld", f->key,
				    (long)f->value.timeval.tv_sec);
			break;
		}
	}
	c->fields = i_strdup(str_c(fields));
}

static void test_event_set_parent(void)
{
	test_begin("event_set_parent: re-parent to the next session");
	struct event *s1 = event_create(NULL);
	event_replace_log_prefix(s1, "imap(bob)<one>: ");
	event_add_str(s1, "session", "one");
	struct event *user = event_create(s1);
	event_add_str(user, "user", "bob");
	test_assert_strcmp(event_get_log_prefix(user), "imap(bob)<one>: ");

	/* detached: the first session's event is freed with its last
	   reference although the user's event lives on */
	event_set_parent(user, NULL);
	event_unref(&s1);
	test_assert(event_get_parent(user) == NULL);
	test_assert(event_find_field(user, "session") == NULL);
	test_assert_strcmp(event_get_log_prefix(user), "");

	struct event *s2 = event_create(NULL);
	event_replace_log_prefix(s2, "pop3(bob)<two>: ");
	event_add_str(s2, "session", "two");
	event_set_parent(user, s2);
	/* the same parent again keeps exactly one reference */
	event_set_parent(user, s2);
	event_unref(&s2);
	const struct event_field *f = event_find_field(user, "session");
	test_assert(f != NULL && strcmp(f->value.str, "two") == 0);
	test_assert_strcmp(event_get_log_prefix(user), "pop3(bob)<two>: ");
	/* frees s2 too (ASan reports a leaked or doubly freed parent) */
	event_unref(&user);
	test_end();
}

static void test_event_reserve_fields(void)
{
	test_begin("event_reserve_fields: exact room, growth past it");
	struct event *event = event_create(NULL);
	event_add_str(event, "a", "1");
	/* after a field: the existing one is kept */
	event_reserve_fields(event, 6);
	event_reserve_fields(event, 2);
	for (unsigned int i = 0; i < 9; i++)
		event_add_int(event, t_strdup_printf("k%u", i), i);
	unsigned int count;
	const struct event_field *fields = event_get_own_fields(event, &count);
	test_assert(count == 10);
	test_assert(fields != NULL && strcmp(fields[0].key, "a") == 0 &&
		    strcmp(fields[0].value.str, "1") == 0);
	const struct event_field *f = event_find_field(event, "k8");
	test_assert(f != NULL && f->value.intmax == 8);
	event_unref(&event);

	/* before any field */
	event = event_create(NULL);
	event_reserve_fields(event, 3);
	event_add_str(event, "x", "y");
	f = event_find_field(event, "x");
	test_assert(f != NULL && strcmp(f->value.str, "y") == 0);
	event_unref(&event);
	test_end();
}

static void test_event_emit(void)
{
	struct captured c = { .count = 0 };

	test_begin("event emission, duration and handler");
	test_assert(!event_have_handlers());
	struct event *session = event_create(NULL);
	event_set_category(session, "imap");
	event_add_str(session, "user", "bob");
	event_add_int(session, "n", 1);
	struct event *cmd = event_create(session);
	event_set_name(cmd, "imap_command_finished");
	event_add_str(cmd, "cmd_name", "FETCH");
	event_add_int(cmd, "n", 2);

	/* nobody listens: nothing happens */
	e_finished(cmd);

	struct event_handler *h = event_register_handler(capture_handler, &c);
	test_assert(event_have_handlers());
	usleep(20000);
	e_finished(cmd);
	test_assert(c.count == 1);
	test_assert_strcmp(c.name, "imap_command_finished");
	test_assert_strcmp(c.category, "imap");
	test_assert(!c.is_log && c.message == NULL);
	/* ancestors first; the child's n replaces the parent's in place */
	test_assert_strcmp(c.fields, "user=bob n=2 cmd_name=FETCH");
	test_assert(c.duration >= 20000 && c.duration < 10000000);
	test_assert(event_get_duration_usecs(cmd) >= c.duration);

	event_emit(cmd, "imap_command_progress");
	test_assert(c.count == 2);
	test_assert_strcmp(c.name, "imap_command_progress");

	event_reset_start(cmd);
	e_finished(cmd);
	test_assert(c.duration < 20000);

	/* the session's own emission sees only its own fields */
	event_emit(session, "session_finished");
	test_assert_strcmp(c.fields, "user=bob n=1");

	event_unregister_handler(&h);
	test_assert(h == NULL && !event_have_handlers());
	e_finished(cmd);
	test_assert(c.count == 4);

	captured_clear(&c);
	event_unref(&cmd);
	event_unref(&session);
	test_end();
}

static void test_event_log(void)
{
	struct captured c = { .count = 0 };

	test_begin("event log lines carry the prefix and are emitted");
	struct event *event = event_create(NULL);
	event_set_append_log_prefix(event, "imap(bob)<abc>: ");
	event_set_name(event, "imap_client_log");
	struct event_handler *h = event_register_handler(capture_handler, &c);

	test_expect_log(LOG_TYPE_INFO, "imap(bob)<abc>: Info: hello 42");
	e_info(event, "hello %d", 42);
	test_assert(c.count == 1 && c.is_log && c.log_type == LOG_TYPE_INFO);
	test_assert_strcmp(c.message, "hello 42");
	test_assert_strcmp(c.name, "imap_client_log");

	/* debug is not logged (debug logging is off) but still emitted */
	test_assert(!log_debug_enabled());
	e_debug(event, "quiet");
	test_assert(c.count == 2 && c.log_type == LOG_TYPE_DEBUG);
	test_assert_strcmp(c.message, "quiet");

	/* %m sees the caller's errno */
	errno = ENOENT;
	e_debug(event, "open: %m");
	test_assert_strcmp(c.message, "open: No such file or directory");
	test_assert(errno == ENOENT);

	event_unregister_handler(&h);
	/* cheap path: no handler, debug off */
	e_debug(event, "nothing");
	test_assert(c.count == 3);
	captured_clear(&c);
	event_unref(&event);
	test_end();

	test_begin("event warning and error lines");
	event = event_create(NULL);
	event_set_append_log_prefix(event, "lmtp(alice): ");
	test_expect_log(LOG_TYPE_WARNING, "lmtp(alice): Warning: disk 95% full");
	e_warning(event, "disk %d%% full", 95);
	event_unref(&event);
	test_end();

	test_begin("event error lines");
	event = event_create(NULL);
	event_set_append_log_prefix(event, "lmtp(alice): ");
	test_expect_log(LOG_TYPE_ERROR, "lmtp(alice): Error: write failed");
	e_error(event, "write failed");
	event_unref(&event);
	test_end();
}

/* A handler that logs through the event and unregisters itself. */
struct reentrant_ctx {
	struct event_handler *self;
	unsigned int calls;
};

static void reentrant_handler(const struct event_emission *em,
			      void *context)
{
	struct reentrant_ctx *ctx = context;
	ctx->calls++;
	/* would recurse forever if dispatched again */
	e_info(em->event, "handler saw %s", em->name);
	if (ctx->calls == 2)
		event_unregister_handler(&ctx->self);
}

static void test_event_reentrancy(void)
{
	struct reentrant_ctx r1 = { .calls = 0 }, r2 = { .calls = 0 };
	struct captured c = { .count = 0 };

	test_begin("event handler that logs and unregisters itself");
	struct event *event = event_create(NULL);
	event_set_name(event, "reentrant");
	r1.self = event_register_handler(reentrant_handler, &r1);
	struct event_handler *h = event_register_handler(capture_handler, &c);
	r2.self = event_register_handler(reentrant_handler, &r2);

	test_expect_log(LOG_TYPE_INFO, "handler saw reentrant");
	e_finished(event);
	e_finished(event);
	/* both unregistered themselves on the second call; the handler
	   between them still ran each time */
	test_assert(r1.calls == 2 && r2.calls == 2 && c.count == 2);
	test_assert(r1.self == NULL && r2.self == NULL);
	e_finished(event);
	test_assert(r1.calls == 2 && r2.calls == 2 && c.count == 3);
	event_unregister_handler(&h);
	test_assert(!event_have_handlers());
	captured_clear(&c);
	event_unref(&event);
	test_end();
}

/* --- JSON --- */

static const char *json_str(const void *data, size_t size)
{
	string_t *str = t_str_new(64);
	event_json_append_string(str, data, size);
	return str_c(str);
}

#define JSON_STR(lit) json_str(lit, sizeof(lit) - 1)

static void test_event_json_escape(void)
{
	test_begin("event JSON string escaping");
	test_assert_strcmp(JSON_STR(""), "\"\"");
	test_assert_strcmp(JSON_STR("plain text 123"), "\"plain text 123\"");
	test_assert_strcmp(JSON_STR("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
	test_assert_strcmp(JSON_STR("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
	test_assert_strcmp(JSON_STR("\x01\x1f\x7f x"),
			   "\"\\u0001\\u001f\\u007f x\"");
	/* embedded NUL */
	test_assert_strcmp(JSON_STR("a\0b"), "\"a\\u0000b\"");

	/* every control character */
	unsigned char ctl[32];
	for (unsigned int i = 0; i < 32; i++)
		ctl[i] = (unsigned char)i;
	test_assert_strcmp(json_str(ctl, sizeof(ctl)),
		"\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
		"\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
		"\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
		"\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"");

	/* valid UTF-8 is kept: 2, 3 and 4 bytes, and the extremes */
	test_assert_strcmp(JSON_STR("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
			   "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	test_assert_strcmp(JSON_STR("\xc2\x80\xed\x9f\xbf\xee\x80\x80"
				    "\xf4\x8f\xbf\xbf"),
			   "\"\xc2\x80\xed\x9f\xbf\xee\x80\x80"
			   "\xf4\x8f\xbf\xbf\"");

	/* invalid UTF-8: one U+FFFD per maximal invalid subpart */
	test_assert_strcmp(JSON_STR("a\x80z"), "\"a\\ufffdz\"");
	/* overlong: C0 and C1 never start a sequence */
	test_assert_strcmp(JSON_STR("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
	test_assert_strcmp(JSON_STR("\xe0\x80\xaf"),
			   "\"\\ufffd\\ufffd\\ufffd\"");
	test_assert_strcmp(JSON_STR("\xf0\x8f\xbf\xbf"),
			   "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	/* UTF-16 surrogate */
	test_assert_strcmp(JSON_STR("\xed\xa0\x80"),
			   "\"\\ufffd\\ufffd\\ufffd\"");
	/* beyond U+10FFFF, and bytes that never appear */
	test_assert_strcmp(JSON_STR("\xf4\x90\x80\x80"),
			   "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	test_assert_strcmp(JSON_STR("\xf5\xff\xfe"),
			   "\"\\ufffd\\ufffd\\ufffd\"");
	/* truncated sequences: the valid prefix is one subpart */
	test_assert_strcmp(JSON_STR("\xe2\x82"), "\"\\ufffd\"");
	test_assert_strcmp(JSON_STR("\xe2\x82" "A"), "\"\\ufffdA\"");
	test_assert_strcmp(JSON_STR("\xf0\x9f\x98"), "\"\\ufffd\"");
	test_assert_strcmp(JSON_STR("\xf0\x9f\x98\xc3\xa9"),
			   "\"\\ufffd\xc3\xa9\"");
	test_assert_strcmp(JSON_STR("\xc3"), "\"\\ufffd\"");
	test_end();
}

static void test_event_json_line(void)
{
	test_begin("event JSON line, byte-exact");
	struct event_field fields[] = {
		{ .key = "user", .type = EVENT_FIELD_TYPE_STR,
		  .value.str = "bob \"the\" builder\n" },
		{ .key = "bytes", .type = EVENT_FIELD_TYPE_INT,
		  .value.intmax = -9223372036854775807LL - 1 },
		{ .key = "login_time", .type = EVENT_FIELD_TYPE_TIMEVAL,
		  .value.timeval = { .tv_sec = 0, .tv_usec = 7 } },
		{ .key = "k\x01", .type = EVENT_FIELD_TYPE_INT,
		  .value.intmax = 42 },
	};
	struct event_emission em = {
		.name = "imap_command_finished",
		.category = "imap",
		.fields = fields,
		.fields_count = N_ELEMENTS(fields),
		.emit_time = { .tv_sec = 1700000000, .tv_usec = 123456 },
		.duration_usecs = 1234,
	};
	string_t *str = t_str_new(256);
	event_emission_append_json(str, &em);
	test_assert_strcmp(str_c(str),
		"{\"time\":\"2023-11-14T22:13:20.123456Z\","
		"\"event\":\"imap_command_finished\",\"category\":\"imap\","
		"\"duration_usecs\":1234,\"fields\":{"
		"\"user\":\"bob \\\"the\\\" builder\\n\","
		"\"bytes\":-9223372036854775808,"
		"\"login_time\":\"1970-01-01T00:00:00.000007Z\","
		"\"k\\u0001\":42}}");

	/* a log emission of an unnamed event without category or fields */
	struct event_emission log_em = {
		.emit_time = { .tv_sec = 86400, .tv_usec = 0 },
		.is_log = true,
		.log_type = LOG_TYPE_WARNING,
		.message = "disk \xff full\r",
	};
	str_truncate(str, 0);
	event_emission_append_json(str, &log_em);
	test_assert_strcmp(str_c(str),
		"{\"time\":\"1970-01-02T00:00:00.000000Z\","
		"\"duration_usecs\":0,\"log_type\":\"warning\","
		"\"message\":\"disk \\ufffd full\\r\",\"fields\":{}}");
	test_end();
}

static void test_event_json_exporter(void)
{
	struct event_exporter_json *exp;
	const char *error;
	char buf[4096];

	test_begin("event JSON-lines exporter to a file");
	const char *path = t_strdup_printf("%s/events.jsonl", test_dir());
	test_assert(event_exporter_json_open(path, &exp, &error) == 0);

	struct event *session = event_create(NULL);
	event_set_category(session, "imap");
	event_add_str(session, "user", "b\xc3\xb6" "b");
	struct event *cmd = event_create(session);
	event_set_name(cmd, "imap_command_finished");
	event_add_int(cmd, "lines", 3);
	event_set_append_log_prefix(cmd, "imap(bob): ");
	e_finished(cmd);
	test_expect_log(LOG_TYPE_INFO, "imap(bob): Info: tab\there");
	e_info(cmd, "tab\there\x01");
	event_exporter_json_destroy(&exp);
	test_assert(exp == NULL && !event_have_handlers());
	/* after destroy nothing more is written */
	e_finished(cmd);

	int fd = open(path, O_RDONLY);
	test_assert(fd >= 0);
	ssize_t len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	test_assert(len > 0);
	buf[len < 0 ? 0 : len] = '\0';

	/* the time varies; everything else is fixed */
	const char *const expect_after_time[] = {
		",\"event\":\"imap_command_finished\",\"category\":\"imap\","
		"\"duration_usecs\":",
		",\"fields\":{\"user\":\"b\xc3\xb6" "b\",\"lines\":3}}",
		",\"event\":\"imap_command_finished\",\"category\":\"imap\","
		"\"duration_usecs\":",
		",\"log_type\":\"info\",\"message\":\"tab\\there\\u0001\","
		"\"fields\":{\"user\":\"b\xc3\xb6" "b\",\"lines\":3}}",
	};
	const char *const *lines = t_strsplit(buf, "\n");
	test_assert(str_array_length(lines) == 3 && lines[2][0] == '\0');
	for (unsigned int i = 0; i < 2 && str_array_length(lines) == 3; i++) {
		const char *line = lines[i];
		/* {"time":"YYYY-MM-DDTHH:MM:SS.uuuuuuZ" */
		test_assert_idx(strlen(line) > 37 &&
				str_begins(line, "{\"time\":\"") &&
				line[36] == '"' && line[35] == 'Z', i);
		if (strlen(line) <= 37)
			continue;
		line += 37;
		test_assert_idx(str_begins(line, expect_after_time[i * 2]), i);
		line += strlen(expect_after_time[i * 2]);
		while (*line >= '0' && *line <= '9')
			line++;
		test_assert_strcmp(line, expect_after_time[i * 2 + 1]);
	}
	event_unref(&cmd);
	event_unref(&session);
	test_end();

	test_begin("event JSON-lines exporter to a pipe");
	int p[2];
	test_assert(pipe(p) == 0);
	exp = event_exporter_json_create(p[1], false);
	struct event *event = event_create(NULL);
	event_emit(event, "a");
	event_emit(event, "b");
	event_exporter_json_destroy(&exp);
	/* not closed by the exporter: close_fd was false */
	test_assert(fcntl(p[1], F_GETFD) >= 0);
	close(p[1]);
	len = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	buf[len < 0 ? 0 : len] = '\0';
	lines = t_strsplit(buf, "\n");
	test_assert(str_array_length(lines) == 3);
	test_assert(strstr(lines[0], ",\"event\":\"a\",\"duration_usecs\":") != NULL);
	test_assert(strstr(lines[1], ",\"event\":\"b\",\"duration_usecs\":") != NULL);
	event_unref(&event);
	test_end();
}

test_func_t *const test_event_tests[] = {
	test_event_inheritance,
	test_event_set_parent,
	test_event_reserve_fields,
	test_event_emit,
	test_event_log,
	test_event_reentrancy,
	test_event_json_escape,
	test_event_json_line,
	test_event_json_exporter,
	NULL
};
