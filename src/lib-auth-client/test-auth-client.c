/* Unit tests for the auth client protocol client (auth-client.c) against a
   scripted fake auth server on a UNIX socket in the test directory: the
   test reads the client's lines and writes the server's answers itself. */
#include "test-lib-auth-client.h"
#include "ioloop.h"
#include "net.h"
#include "str.h"
#include "base64.h"
#include "auth-client.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>

#define HANDSHAKE "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\n" \
	"MECH\tCRAM-MD5\tdictionary\tactive\nMECH\tSCRAM-SHA-256\tmutual-auth\n" \
	"SPID\t4242\nCUID\t7\nCOOKIE\t0123456789abcdef\nDONE\n"

struct fake_server {
	struct ioloop *ioloop;
	const char *path;
	int listen_fd, fd;
	string_t *input;
};

struct result {
	unsigned int calls;
	enum auth_client_result result;
	char data[256];
	size_t data_size;
	bool have_data;
	char fields[512];
};

static void fake_init(struct fake_server *srv)
{
	static unsigned int counter;
	const char *error;

	memset(srv, 0, sizeof(*srv));
	srv->ioloop = ioloop_create();
	srv->path = i_strdup_printf("%s/auth-%u", test_dir(), ++counter);
	srv->listen_fd = net_listen_unix(srv->path, 0600, 16, &error);
	if (srv->listen_fd < 0)
		i_fatal("listen: %s", error);
	srv->fd = -1;
	srv->input = str_new(system_pool, 1024);
}

static void fake_deinit(struct fake_server *srv)
{
	if (srv->fd >= 0)
		close(srv->fd);
	close(srv->listen_fd);
	buffer_free(&srv->input);
	free((char *)srv->path);
	ioloop_destroy(&srv->ioloop);
}

/* Run the loop until cond() holds or two seconds pass. */
static bool run_until(struct fake_server *srv, bool (*cond)(void *),
		      void *context)
{
	uint64_t end = ioloop_msecs_monotonic() + 2000;
	while (!cond(context)) {
		if (ioloop_msecs_monotonic() > end)
			return false;
		ioloop_run_once(srv->ioloop, 5);
	}
	return true;
}

static bool cond_accept(void *context)
{
	struct fake_server *srv = context;
	if (srv->fd < 0)
		srv->fd = net_accept(srv->listen_fd, NULL, NULL, NULL, NULL);
	return srv->fd >= 0;
}

static void fake_accept(struct fake_server *srv, bool handshake)
{
	if (srv->fd >= 0)
		close(srv->fd);
	srv->fd = -1;
	str_reset(srv->input);
	test_assert(run_until(srv, cond_accept, srv));
	if (srv->fd >= 0 && handshake)
		test_assert(write(srv->fd, HANDSHAKE, strlen(HANDSHAKE)) ==
			    (ssize_t)strlen(HANDSHAKE));
}

static void fake_send(struct fake_server *srv, const char *text)
{
	test_assert(write(srv->fd, text, strlen(text)) == (ssize_t)strlen(text));
}

static bool cond_line(void *context)
{
	struct fake_server *srv = context;
	char buf[4096];
	ssize_t ret = read(srv->fd, buf, sizeof(buf));
	if (ret > 0)
		buffer_append(srv->input, buf, (size_t)ret);
	return memchr(str_c(srv->input), '\n', str_len(srv->input)) != NULL;
}

/* The next line the client sent (without LF), on the data stack; "" if
   none came. */
static const char *fake_read_line(struct fake_server *srv)
{
	if (!run_until(srv, cond_line, srv))
		return "";
	const char *data = str_c(srv->input);
	const char *lf = strchr(data, '\n');
	const char *line = t_strndup(data, (size_t)(lf - data));
	buffer_delete(srv->input, 0, (size_t)(lf - data) + 1);
	return line;
}

static void result_callback(struct auth_client_request *req ATTR_UNUSED,
			    enum auth_client_result result,
			    const unsigned char *data, size_t data_size,
			    const char *const *fields, void *context)
{
	struct result *res = context;
	res->calls++;
	res->result = result;
	res->have_data = data != NULL;
	res->data_size = I_MIN(data_size, sizeof(res->data));
	if (data != NULL)
		memcpy(res->data, data, res->data_size);
	i_assert(fields != NULL);
	const char *joined = t_strarray_join(fields, " ");
	i_assert(strlen(joined) < sizeof(res->fields));
	strcpy(res->fields, joined);
}

static bool cond_calls(void *context)
{
	struct result *res = context;
	return res->calls > 0;
}

static bool cond_connected(void *context)
{
	return auth_client_is_connected(context);
}

static struct auth_client_request_info plain_info(const char *resp)
{
	struct auth_client_request_info info = {
		.mech = "PLAIN",
		.service = "imap",
		.session_id = "sess\tion",
		.local_port = 143,
		.remote_port = 50000,
		.secured = true,
		.has_initial_response = resp != NULL,
		.initial_response = resp,
		.initial_response_size = resp == NULL ? 0 : strlen(resp),
	};
	if (net_addr2ip("127.0.0.1", &info.local_ip) < 0 ||
	    net_addr2ip("192.0.2.7", &info.remote_ip) < 0)
		i_unreached();
	return info;
}

static void test_auth_client_split(void)
{
	test_begin("auth client: escape and split");
	string_t *str = t_str_new(64);
	str_append_tabescaped(str, "a\tb\nc\rd\001e");
	test_assert_strcmp(str_c(str), "a\001tb\001nc\001rd\0011e");
	const char *line = t_strdup_printf("OK\t%s\t\tx", str_c(str));
	const char *const *args = t_strsplit_tabescaped(line, strlen(line));
	test_assert(args != NULL && str_array_length(args) == 4);
	if (args != NULL && str_array_length(args) == 4) {
		test_assert_strcmp(args[1], "a\tb\nc\rd\001e");
		test_assert_strcmp(args[2], "");
		test_assert_strcmp(args[3], "x");
	}
	test_assert(t_strsplit_tabescaped("a\001x", 3) == NULL);
	test_assert(t_strsplit_tabescaped("a\001", 2) == NULL);
	test_assert(t_strsplit_tabescaped("a\0b", 3) == NULL);
	test_end();
}

static void test_auth_client_handshake_ok(void)
{
	struct fake_server srv;
	struct result res;

	test_begin("auth client: handshake, AUTH with SASL-IR, OK with resp");
	fake_init(&srv);
	struct auth_client *client = auth_client_init(srv.path);
	fake_accept(&srv, true);
	test_assert_strcmp(fake_read_line(&srv), "VERSION\t1\t3");
	test_assert(str_begins(fake_read_line(&srv), "CPID\t"));
	test_assert(run_until(&srv, cond_connected, client));

	unsigned int count;
	const struct auth_client_mech *mechs =
		auth_client_get_mechs(client, &count);
	test_assert(count == 3);
	test_assert_strcmp(mechs[0].name, "PLAIN");
	test_assert(mechs[0].flags == AUTH_CLIENT_MECH_PLAINTEXT);
	test_assert(auth_client_find_mech(client, "cram-md5")->flags ==
		    (AUTH_CLIENT_MECH_DICTIONARY | AUTH_CLIENT_MECH_ACTIVE));
	test_assert(auth_client_find_mech(client, "LOGIN") == NULL);

	memset(&res, 0, sizeof(res));
	struct auth_client_request_info info = plain_info("\0u\0p");
	info.initial_response_size = 4;
	/* a 1.2 server gets no channel bindings */
	const struct auth_client_channel_binding cb = {
		"tls-unique", "\x01\x02", 2
	};
	info.channel_bindings = &cb;
	info.channel_bindings_count = 1;
	struct auth_client_request *req =
		auth_client_request_new(client, &info, result_callback, &res);
	const char *line = fake_read_line(&srv);
	test_assert_strcmp(line, t_strdup_printf(
		"AUTH\t%u\tPLAIN\tservice=imap\tsession=sess\001tion\t"
		"lip=127.0.0.1\tlport=143\trip=192.0.2.7\trport=50000\t"
		"secured\tresp=AHUAcA==", auth_client_request_get_id(req)));
	fake_send(&srv, t_strdup_printf("OK\t%u\tuser=u\tresp=%s\n",
		auth_client_request_get_id(req), t_base64_encode("v=xyz", 5)));
	test_assert(run_until(&srv, cond_calls, &res));
	test_assert(res.calls == 1 && res.result == AUTH_CLIENT_RESULT_OK);
	test_assert(res.have_data && res.data_size == 5 &&
		    memcmp(res.data, "v=xyz", 5) == 0);
	test_assert(str_begins(res.fields, "user=u "));

	auth_client_deinit(&client);
	fake_deinit(&srv);
	test_end();
}

static void test_auth_client_channel_binding(void)
{
	struct fake_server srv;
	struct result res;

	test_begin("auth client: 1.3 handshake with -PLUS mechanisms, cbind_ in AUTH");
	fake_init(&srv);
	struct auth_client *client = auth_client_init(srv.path);
	fake_accept(&srv, false);
	test_assert_strcmp(fake_read_line(&srv), "VERSION\t1\t3");
	test_assert(str_begins(fake_read_line(&srv), "CPID\t"));
	fake_send(&srv, "VERSION\t1\t3\nMECH\tPLAIN\tplaintext\n"
		  "MECH\tSCRAM-SHA-256\tmutual-auth\nSPID\t1\nCUID\t2\n"
		  "COOKIE\t00\nDONE\n");
	/* a 1.3 server's first DONE is not the end */
	for (unsigned int i = 0; i < 10; i++)
		ioloop_run_once(srv.ioloop, 5);
	test_assert(!auth_client_is_connected(client));
	fake_send(&srv, "MECH\tSCRAM-SHA-256-PLUS\tmutual-auth\tchannel-binding\n"
		  "DONE\n");
	test_assert(run_until(&srv, cond_connected, client));
	unsigned int count;
	(void)auth_client_get_mechs(client, &count);
	test_assert(count == 3);
	const struct auth_client_mech *plus =
		auth_client_find_mech(client, "scram-sha-256-plus");
	test_assert(plus != NULL && plus->flags ==
		    (AUTH_CLIENT_MECH_MUTUAL_AUTH |
		     AUTH_CLIENT_MECH_CHANNEL_BINDING));

	memset(&res, 0, sizeof(res));
	struct auth_client_request_info info = plain_info("n,,n=u,r=x");
	info.mech = "SCRAM-SHA-256-PLUS";
	info.initial_response_size = 10;
	const struct auth_client_channel_binding cbs[] = {
		{ "tls-unique", "\x01\x02\x03", 3 },
		{ "tls-exporter", "abc", 3 },
	};
	info.channel_bindings = cbs;
	info.channel_bindings_count = 2;
	struct auth_client_request *req =
		auth_client_request_new(client, &info, result_callback, &res);
	const char *line = fake_read_line(&srv);
	test_assert_strcmp(line, t_strdup_printf(
		"AUTH\t%u\tSCRAM-SHA-256-PLUS\tservice=imap\tsession=sess\001tion\t"
		"lip=127.0.0.1\tlport=143\trip=192.0.2.7\trport=50000\t"
		"secured\tcbind_tls-unique=AQID\tcbind_tls-exporter=YWJj\t"
		"resp=biwsbj11LHI9eA==", auth_client_request_get_id(req)));
	fake_send(&srv, t_strdup_printf("FAIL\t%u\n",
		auth_client_request_get_id(req)));
	test_assert(run_until(&srv, cond_calls, &res));
	test_assert(res.result == AUTH_CLIENT_RESULT_FAIL);

	auth_client_deinit(&client);
	fake_deinit(&srv);
	test_end();
}

static void test_auth_client_cont_and_interleaving(void)
{
	struct fake_server srv;
	struct result res1, res2, res3;

	test_begin("auth client: CONT, several requests answered out of order");
	fake_init(&srv);
	struct auth_client *client = auth_client_init(srv.path);
	/* requests made before the handshake wait for it */
	memset(&res1, 0, sizeof(res1));
	memset(&res2, 0, sizeof(res2));
	memset(&res3, 0, sizeof(res3));
	struct auth_client_request_info info = plain_info(NULL);
	info.mech = "CRAM-MD5";
	struct auth_client_request *req1 =
		auth_client_request_new(client, &info, result_callback, &res1);
	info = plain_info("");
	struct auth_client_request *req2 =
		auth_client_request_new(client, &info, result_callback, &res2);
	struct auth_client_request *req3 =
		auth_client_request_new(client, &info, result_callback, &res3);
	unsigned int id1 = auth_client_request_get_id(req1);
	unsigned int id2 = auth_client_request_get_id(req2);
	unsigned int id3 = auth_client_request_get_id(req3);
	test_assert(id1 != id2 && id2 != id3);

	fake_accept(&srv, true);
	(void)fake_read_line(&srv);
	(void)fake_read_line(&srv);
	const char *line = fake_read_line(&srv);
	test_assert(str_begins(line, t_strdup_printf("AUTH\t%u\tCRAM-MD5\t", id1)));
	test_assert(strstr(line, "resp=") == NULL);
	line = fake_read_line(&srv);
	/* "resp=" with nothing after it: an empty initial response */
	test_assert(str_begins(line, t_strdup_printf("AUTH\t%u\tPLAIN\t", id2)) &&
		    str_ends_with(line, "\tresp="));
	(void)fake_read_line(&srv);

	fake_send(&srv, t_strdup_printf("FAIL\t%u\treason=Bad password\n"
					"CONT\t%u\t%s\n", id2, id1,
					t_base64_encode("<chal>", 6)));
	test_assert(run_until(&srv, cond_calls, &res2));
	test_assert(run_until(&srv, cond_calls, &res1));
	test_assert(res2.result == AUTH_CLIENT_RESULT_FAIL);
	test_assert_strcmp(res2.fields, "reason=Bad password");
	test_assert(res1.result == AUTH_CLIENT_RESULT_CONTINUE &&
		    res1.data_size == 6 && memcmp(res1.data, "<chal>", 6) == 0);

	auth_client_request_continue(req1, "answer", 6);
	test_assert_strcmp(fake_read_line(&srv), t_strdup_printf(
		"CONT\t%u\t%s", id1, t_base64_encode("answer", 6)));
	/* the third request is cancelled by its owner */
	auth_client_request_abort(&req3);
	test_assert(req3 == NULL);
	test_assert_strcmp(fake_read_line(&srv),
			   t_strdup_printf("CANCEL\t%u", id3));
	/* an answer for it that crossed the CANCEL is ignored */
	fake_send(&srv, t_strdup_printf("FAIL\t%u\n", id3));
	fake_send(&srv, t_strdup_printf("FAIL\t%u\ttemp\treason=db down\n", id1));
	res1.calls = 0;
	test_assert(run_until(&srv, cond_calls, &res1));
	test_assert(res1.result == AUTH_CLIENT_RESULT_TEMPFAIL);
	test_assert(res3.calls == 0);

	auth_client_deinit(&client);
	fake_deinit(&srv);
	test_end();
}

static void test_auth_client_reconnect(void)
{
	struct fake_server srv;
	struct result res;

	test_begin("auth client: requests in flight fail when the auth process "
		   "goes, the client reconnects");
	fake_init(&srv);
	struct auth_client *client = auth_client_init(srv.path);
	fake_accept(&srv, true);
	test_assert(run_until(&srv, cond_connected, client));

	memset(&res, 0, sizeof(res));
	struct auth_client_request_info info = plain_info("x");
	(void)auth_client_request_new(client, &info, result_callback, &res);
	test_expect_log(LOG_TYPE_ERROR, "lost");
	close(srv.fd);
	srv.fd = -1;
	test_assert(run_until(&srv, cond_calls, &res));
	test_assert(res.result == AUTH_CLIENT_RESULT_TEMPFAIL);
	test_assert(!auth_client_is_connected(client));

	/* reconnects after AUTH_CLIENT_RECONNECT_MSECS */
	fake_accept(&srv, true);
	test_assert(run_until(&srv, cond_connected, client));
	(void)fake_read_line(&srv);
	(void)fake_read_line(&srv);
	memset(&res, 0, sizeof(res));
	struct auth_client_request *req =
		auth_client_request_new(client, &info, result_callback, &res);
	test_assert(str_begins(fake_read_line(&srv), "AUTH\t"));
	fake_send(&srv, t_strdup_printf("OK\t%u\tuser=x\n",
					auth_client_request_get_id(req)));
	test_assert(run_until(&srv, cond_calls, &res));
	test_assert(res.result == AUTH_CLIENT_RESULT_OK && !res.have_data);

	/* a protocol violation drops the connection the same way */
	memset(&res, 0, sizeof(res));
	(void)auth_client_request_new(client, &info, result_callback, &res);
	(void)fake_read_line(&srv);
	test_expect_log(LOG_TYPE_ERROR, "protocol error");
	fake_send(&srv, "CONT\tnot-a-number\tx\n");
	test_assert(run_until(&srv, cond_calls, &res));
	test_assert(res.result == AUTH_CLIENT_RESULT_TEMPFAIL);

	auth_client_deinit(&client);
	fake_deinit(&srv);
	test_end();
}

static void test_auth_client_timeout_and_unreachable(void)
{
	struct fake_server srv;
	struct result res;

	test_begin("auth client: timeout sends CANCEL, unreachable server fails");
	fake_init(&srv);
	struct auth_client *client = auth_client_init(srv.path);
	auth_client_set_timeout(client, 100);
	fake_accept(&srv, true);
	test_assert(run_until(&srv, cond_connected, client));
	(void)fake_read_line(&srv);
	(void)fake_read_line(&srv);

	memset(&res, 0, sizeof(res));
	struct auth_client_request_info info = plain_info("x");
	struct auth_client_request *req =
		auth_client_request_new(client, &info, result_callback, &res);
	unsigned int id = auth_client_request_get_id(req);
	(void)fake_read_line(&srv);
	test_expect_log(LOG_TYPE_ERROR, "timed out");
	test_assert(run_until(&srv, cond_calls, &res));
	test_assert(res.result == AUTH_CLIENT_RESULT_TEMPFAIL);
	test_assert_strcmp(fake_read_line(&srv), t_strdup_printf("CANCEL\t%u", id));
	auth_client_deinit(&client);

	/* nobody listens on this path */
	unlink(srv.path);
	test_expect_log(LOG_TYPE_ERROR, "retrying");
	client = auth_client_init(srv.path);
	memset(&res, 0, sizeof(res));
	uint64_t start = ioloop_msecs_monotonic();
	(void)auth_client_request_new(client, &info, result_callback, &res);
	test_assert(res.calls == 0); /* never from inside the call */
	test_assert(run_until(&srv, cond_calls, &res));
	test_assert(res.result == AUTH_CLIENT_RESULT_TEMPFAIL);
	test_assert(ioloop_msecs_monotonic() - start < 500);
	auth_client_deinit(&client);
	fake_deinit(&srv);
	test_end();
}

static void test_auth_client_bad_version(void)
{
	struct fake_server srv;
	struct result res;

	test_begin("auth client: wrong protocol version is refused");
	fake_init(&srv);
	struct auth_client *client = auth_client_init(srv.path);
	memset(&res, 0, sizeof(res));
	struct auth_client_request_info info = plain_info("x");
	(void)auth_client_request_new(client, &info, result_callback, &res);
	fake_accept(&srv, false);
	test_expect_log(LOG_TYPE_ERROR, "unsupported protocol version");
	fake_send(&srv, "VERSION\t2\t0\n");
	test_assert(run_until(&srv, cond_calls, &res));
	test_assert(res.result == AUTH_CLIENT_RESULT_TEMPFAIL);
	test_assert(!auth_client_is_connected(client));
	auth_client_deinit(&client);
	fake_deinit(&srv);
	test_end();
}

test_func_t *const test_auth_client_tests[] = {
	test_auth_client_split,
	test_auth_client_handshake_ok,
	test_auth_client_channel_binding,
	test_auth_client_cont_and_interleaving,
	test_auth_client_reconnect,
	test_auth_client_timeout_and_unreachable,
	test_auth_client_bad_version,
	NULL
};
