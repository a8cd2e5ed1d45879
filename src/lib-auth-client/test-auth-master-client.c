/* Tests for auth-master-client.c against a scripted fake auth server on a
   UNIX socket in the test directory: answers in and out of order, escaping,
   NOTFOUND/FAIL, connect failure, disconnect and reconnect, timeout, abort,
   deinit and a bad greeting; the blocking variant against a forked one. */
#include "test-lib-auth-client.h"
#include "ioloop.h"
#include "net.h"
#include "conn.h"
#include "auth-master-client.h"

#include <signal.h>
#include <sys/wait.h>

#define RUN_UNTIL(ioloop, cond, msecs) do { \
	uint64_t run_deadline_ = ioloop_msecs_monotonic() + (msecs); \
	while (!(cond) && ioloop_msecs_monotonic() < run_deadline_) \
		ioloop_run_once(ioloop, 10); \
	} while (0)

/* The fake server answers by user name:
     alice.. -> USER id name home=/home/name uid=1000 (canonical name is
                the asked one, lowercased "ALICE" -> "alice")
     nobody  -> NOTFOUND id
     broken  -> FAIL id reason=db down
     slow*   -> held until fake_release()
     hangup  -> the server closes the connection
     garbage -> an unparsable line */
struct fake_server {
	char *path;
	int listen_fd;
	struct io *io;
	struct conn *conn;
	const char *greeting;
	unsigned int accepts;
	string_t *received;
	ARRAY(unsigned int) held_ids;
	ARRAY(char *) held_names;
};

static void fake_conn_destroy(struct fake_server *fs)
{
	if (fs->conn != NULL)
		conn_destroy(&fs->conn);
}

static void fake_reply_user(struct fake_server *fs, unsigned int id,
			    const char *name)
{
	conn_printf(fs->conn, "USER\t%u\t%s\thome=/home/%s\tuid=1000\tnoval\n",
		    id, t_str_lcase(name), name);
}

static void fake_input(struct conn *conn)
{
	struct fake_server *fs = conn_get_context(conn);
	const char *line;
	size_t len;

	while (fs->conn != NULL &&
	       conn_read_line(conn, 65536, &line, &len) > 0) {
		str_append(fs->received, line);
		str_append_c(fs->received, '\n');
		const char *const *args = t_strsplit(line, "\t");
		unsigned int id;
		if (strcmp(args[0], "USER") != 0 || args[1] == NULL ||
		    str_to_uint(args[1], &id) < 0 || args[2] == NULL)
			continue;
		const char *name = args[2];
		if (strcmp(name, "nobody") == 0)
			conn_printf(conn, "NOTFOUND\t%u\n", id);
		else if (strcmp(name, "broken") == 0)
			conn_printf(conn, "FAIL\t%u\treason=db down\n", id);
		else if (str_begins(name, "slow")) {
			array_push(&fs->held_ids, id);
			char *n = i_strdup(name);
			array_push(&fs->held_names, n);
		} else if (strcmp(name, "hangup") == 0) {
			fake_conn_destroy(fs);
		} else if (strcmp(name, "garbage") == 0)
			conn_printf(conn, "USER\tnotanumber\n");
		else
			fake_reply_user(fs, id, name);
	}
}

static void fake_disconnected(struct conn *conn, const char *reason ATTR_UNUSED)
{
	struct fake_server *fs = conn_get_context(conn);
	fake_conn_destroy(fs);
}

static const struct conn_settings fake_conn_set = { .name = "fake-auth" };
static const struct conn_vfuncs fake_vfuncs = {
	.input = fake_input,
	.disconnected = fake_disconnected,
};

static void fake_accept(void *context)
{
	struct fake_server *fs = context;
	int fd = net_accept(fs->listen_fd, NULL, NULL, NULL, NULL);

	if (fd < 0)
		return;
	/* one client connection at a time, as the tests use */
	fake_conn_destroy(fs);
	fs->accepts++;
	fs->conn = conn_create(fd, &fake_conn_set, &fake_vfuncs, fs);
	conn_write_str(fs->conn, fs->greeting);
}

static struct fake_server *fake_server_create(const char *name)
{
	struct fake_server *fs = i_new(struct fake_server, 1);
	const char *error;

	fs->path = i_strdup_printf("%s/%s", test_dir(), name);
	fs->greeting = "VERSION\t1\t2\nSPID\t4242\n";
	fs->listen_fd = net_listen_unix(fs->path, 0600, 16, &error);
	if (fs->listen_fd < 0)
		i_fatal("listen %s: %s", fs->path, error);
	fs->io = io_add(fs->listen_fd, IO_READ, fake_accept, fs);
	fs->received = str_new(system_pool, 256);
	array_init(&fs->held_ids, system_pool, 4);
	array_init(&fs->held_names, system_pool, 4);
	return fs;
}

static void fake_release(struct fake_server *fs)
{
	for (unsigned int i = 0; i < array_count(&fs->held_ids); i++) {
		fake_reply_user(fs, *array_idx(&fs->held_ids, i),
				*array_idx(&fs->held_names, i));
	}
	for (unsigned int i = 0; i < array_count(&fs->held_names); i++)
		free(*array_idx(&fs->held_names, i));
	array_clear(&fs->held_ids);
	array_clear(&fs->held_names);
}

static void fake_server_destroy(struct fake_server **_fs)
{
	struct fake_server *fs = *_fs;

	*_fs = NULL;
	fake_conn_destroy(fs);
	io_remove(&fs->io);
	close(fs->listen_fd);
	(void)unlink(fs->path);
	for (unsigned int i = 0; i < array_count(&fs->held_names); i++)
		free(*array_idx(&fs->held_names, i));
	array_free(&fs->held_ids);
	array_free(&fs->held_names);
	str_free(&fs->received);
	i_free(fs->path);
	free(fs);
}

struct result {
	unsigned int calls;
	enum auth_master_result result;
	char *username;
	char *fields;
	char *error;
	/* order in which results arrived */
	unsigned int seq;
};

static unsigned int result_seq;

static void result_cb(enum auth_master_result result, const char *username,
		      const char *const *fields, const char *error,
		      void *context)
{
	struct result *r = context;

	r->calls++;
	r->result = result;
	r->seq = ++result_seq;
	i_free(r->username);
	i_free(r->fields);
	i_free(r->error);
	r->username = username == NULL ? NULL : i_strdup(username);
	r->fields = fields == NULL ? NULL :
		i_strdup(t_strarray_join(fields, " "));
	r->error = error == NULL ? NULL : i_strdup(error);
}

static void result_free(struct result *r)
{
	i_free(r->username);
	i_free(r->fields);
	i_free(r->error);
}

static struct auth_master_lookup *
lookup(struct auth_master_client *client, const char *name,
       struct result *r)
{
	struct auth_master_user_request req = {
		.username = name,
		.service = "lmtp",
		.session_id = "s\tid",
	};
	if (net_addr2ip("192.0.2.1", &req.remote_ip) < 0 ||
	    net_addr2ip("::1", &req.local_ip) < 0)
		i_unreached();
	req.remote_port = 4000;
	req.local_port = 24;
	return auth_master_user_lookup(client, &req, result_cb, r);
}

static void test_auth_master_basic(void)
{
	test_begin("auth master client: OK, NOTFOUND, FAIL, escaping");
	struct ioloop *ioloop = ioloop_create();
	struct fake_server *fs = fake_server_create("basic");
	struct auth_master_client *client = auth_master_client_init(fs->path);
	struct result r1 = { 0 }, r2 = { 0 }, r3 = { 0 }, r4 = { 0 };

	(void)lookup(client, "ALICE", &r1);
	(void)lookup(client, "nobody", &r2);
	(void)lookup(client, "broken", &r3);
	(void)lookup(client, "tab\tuser", &r4);
	/* never called from inside the lookup call */
	test_assert(r1.calls == 0 && r2.calls == 0);
	RUN_UNTIL(ioloop, r4.calls > 0, 5000);

	test_assert(r1.calls == 1 && r1.result == AUTH_MASTER_RESULT_OK);
	test_assert_strcmp(r1.username, "alice");
	test_assert_strcmp(r1.fields, "home=/home/ALICE uid=1000 noval");
	test_assert(r2.calls == 1 && r2.result == AUTH_MASTER_RESULT_NOTFOUND);
	test_assert(r3.calls == 1 && r3.result == AUTH_MASTER_RESULT_FAIL);
	test_assert(r3.error != NULL && strstr(r3.error, "db down") != NULL);
	test_assert(r4.calls == 1 && r4.result == AUTH_MASTER_RESULT_OK);
	/* the server echoed the escaped name back: it is unescaped */
	test_assert_strcmp(r4.username, "tab\tuser");
	test_assert(fs->accepts == 1);

	const char *recv = str_c(fs->received);
	test_assert(str_begins(recv, "VERSION\t1\t0\n"));
	test_assert(strstr(recv, "USER\t1\tALICE\tservice=lmtp\tlip=::1\t"
			   "lport=24\trip=192.0.2.1\trport=4000\t"
			   "session=s\001tid\n") != NULL);
	test_assert(strstr(recv, "\ttab\001tuser\t") != NULL);

	auth_master_client_deinit(&client);
	fake_server_destroy(&fs);
	result_free(&r1); result_free(&r2); result_free(&r3); result_free(&r4);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_auth_master_out_of_order(void)
{
	test_begin("auth master client: answers out of order, abort");
	struct ioloop *ioloop = ioloop_create();
	struct fake_server *fs = fake_server_create("order");
	struct auth_master_client *client = auth_master_client_init(fs->path);
	struct result r1 = { 0 }, r2 = { 0 }, r3 = { 0 }, r4 = { 0 };

	(void)lookup(client, "slow1", &r1);
	struct auth_master_lookup *l2 = lookup(client, "slow2", &r2);
	(void)lookup(client, "bob", &r3);
	RUN_UNTIL(ioloop, r3.calls > 0, 5000);
	test_assert(r3.calls == 1 && r1.calls == 0);
	auth_master_lookup_abort(&l2);
	test_assert(l2 == NULL);
	fake_release(fs);
	RUN_UNTIL(ioloop, r1.calls > 0, 5000);
	/* one more round trip so that a wrong answer for slow2 would have
	   arrived */
	(void)lookup(client, "carol", &r4);
	RUN_UNTIL(ioloop, r4.calls > 0, 5000);
	test_assert(r1.calls == 1 && r1.result == AUTH_MASTER_RESULT_OK);
	test_assert_strcmp(r1.username, "slow1");
	test_assert(r2.calls == 0);
	test_assert(r3.seq < r1.seq);
	test_assert(r4.calls == 1);

	auth_master_client_deinit(&client);
	fake_server_destroy(&fs);
	result_free(&r1); result_free(&r2); result_free(&r3); result_free(&r4);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_auth_master_connect_fail(void)
{
	test_begin("auth master client: no server is FAIL from the ioloop");
	struct ioloop *ioloop = ioloop_create();
	const char *path = t_strdup_printf("%s/nonexistent", test_dir());
	struct auth_master_client *client = auth_master_client_init(path);
	struct result r1 = { 0 }, r2 = { 0 };

	test_expect_log(LOG_TYPE_ERROR, "Cannot connect to auth server");
	(void)lookup(client, "alice", &r1);
	(void)lookup(client, "", &r2);
	test_assert(r1.calls == 0 && r2.calls == 0);
	RUN_UNTIL(ioloop, r1.calls > 0 && r2.calls > 0, 5000);
	test_assert(r1.calls == 1 && r1.result == AUTH_MASTER_RESULT_FAIL);
	test_assert(r1.error != NULL &&
		    strstr(r1.error, "Cannot connect") != NULL);
	test_assert(r2.calls == 1 && r2.result == AUTH_MASTER_RESULT_FAIL);

	auth_master_client_deinit(&client);
	result_free(&r1); result_free(&r2);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_auth_master_disconnect_reconnect(void)
{
	test_begin("auth master client: disconnect fails lookups, reconnects");
	struct ioloop *ioloop = ioloop_create();
	struct fake_server *fs = fake_server_create("reconnect");
	struct auth_master_client *client = auth_master_client_init(fs->path);
	struct result r1 = { 0 }, r2 = { 0 }, r3 = { 0 };

	test_expect_log(LOG_TYPE_ERROR, "Disconnected with lookups in flight");
	(void)lookup(client, "slow", &r1);
	(void)lookup(client, "hangup", &r2);
	RUN_UNTIL(ioloop, r1.calls > 0 && r2.calls > 0, 5000);
	test_assert(r1.calls == 1 && r1.result == AUTH_MASTER_RESULT_FAIL);
	test_assert(r2.calls == 1 && r2.result == AUTH_MASTER_RESULT_FAIL);
	test_assert(r1.error != NULL && strstr(r1.error, "Disconnected") != NULL);
	array_clear(&fs->held_ids);
	for (unsigned int i = 0; i < array_count(&fs->held_names); i++)
		free(*array_idx(&fs->held_names, i));
	array_clear(&fs->held_names);

	/* the auth process "restarted": the next lookup connects again */
	(void)lookup(client, "dave", &r3);
	RUN_UNTIL(ioloop, r3.calls > 0, 5000);
	test_assert(r3.calls == 1 && r3.result == AUTH_MASTER_RESULT_OK);
	test_assert(fs->accepts == 2);

	auth_master_client_deinit(&client);
	fake_server_destroy(&fs);
	result_free(&r1); result_free(&r2); result_free(&r3);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_auth_master_timeout(void)
{
	test_begin("auth master client: timeout, late answer ignored");
	struct ioloop *ioloop = ioloop_create();
	struct fake_server *fs = fake_server_create("timeout");
	struct auth_master_client *client = auth_master_client_init(fs->path);
	struct result r1 = { 0 }, r2 = { 0 };

	auth_master_client_set_timeout(client, 100);
	test_expect_log(LOG_TYPE_ERROR, "timed out");
	uint64_t start = ioloop_msecs_monotonic();
	(void)lookup(client, "slow", &r1);
	RUN_UNTIL(ioloop, r1.calls > 0, 5000);
	test_assert(r1.calls == 1 && r1.result == AUTH_MASTER_RESULT_FAIL);
	test_assert(ioloop_msecs_monotonic() - start >= 90);
	test_assert(r1.error != NULL && strstr(r1.error, "timed out") != NULL);
	fake_release(fs);
	(void)lookup(client, "erin", &r2);
	RUN_UNTIL(ioloop, r2.calls > 0, 5000);
	test_assert(r1.calls == 1);
	test_assert(r2.calls == 1 && r2.result == AUTH_MASTER_RESULT_OK);

	auth_master_client_deinit(&client);
	fake_server_destroy(&fs);
	result_free(&r1); result_free(&r2);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_auth_master_deinit(void)
{
	test_begin("auth master client: deinit fails lookups in flight");
	struct ioloop *ioloop = ioloop_create();
	struct fake_server *fs = fake_server_create("deinit");
	struct auth_master_client *client = auth_master_client_init(fs->path);
	struct result r1 = { 0 }, r2 = { 0 };

	(void)lookup(client, "slow", &r1);
	(void)lookup(client, "", &r2);
	RUN_UNTIL(ioloop, str_len(fs->received) > 0, 5000);
	auth_master_client_deinit(&client);
	test_assert(r1.calls == 1 && r1.result == AUTH_MASTER_RESULT_FAIL);
	test_assert_strcmp(r1.error, "deinit");
	test_assert(r2.calls == 1 && r2.result == AUTH_MASTER_RESULT_FAIL);
	/* nothing left behind in the ioloop */
	for (unsigned int i = 0; i < 3; i++)
		ioloop_run_once(ioloop, 10);
	test_assert(r1.calls == 1 && r2.calls == 1);

	fake_server_destroy(&fs);
	result_free(&r1); result_free(&r2);
	ioloop_destroy(&ioloop);
	test_end();
}

struct deinit_ctx {
	struct auth_master_client *client;
	unsigned int calls;
};

static void deinit_in_callback_cb(enum auth_master_result result ATTR_UNUSED,
				  const char *username ATTR_UNUSED,
				  const char *const *fields ATTR_UNUSED,
				  const char *error ATTR_UNUSED, void *context)
{
	struct deinit_ctx *ctx = context;

	ctx->calls++;
	if (ctx->client != NULL)
		auth_master_client_deinit(&ctx->client);
}

static void test_auth_master_deinit_in_callback(void)
{
	test_begin("auth master client: deinit from a callback");
	struct ioloop *ioloop = ioloop_create();
	struct fake_server *fs = fake_server_create("cbdeinit");
	struct deinit_ctx ctx = { 0 };
	struct auth_master_user_request req = { .username = "frank" };
	struct auth_master_user_request req2 = { .username = "slow" };

	ctx.client = auth_master_client_init(fs->path);
	(void)auth_master_user_lookup(ctx.client, &req, deinit_in_callback_cb,
				      &ctx);
	(void)auth_master_user_lookup(ctx.client, &req2, deinit_in_callback_cb,
				      &ctx);
	RUN_UNTIL(ioloop, ctx.calls >= 2, 5000);
	test_assert(ctx.calls == 2 && ctx.client == NULL);

	fake_server_destroy(&fs);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_auth_master_bad_peer(void)
{
	test_begin("auth master client: bad greeting and bad replies");
	struct ioloop *ioloop = ioloop_create();
	struct fake_server *fs = fake_server_create("badpeer");
	struct auth_master_client *client = auth_master_client_init(fs->path);
	struct result r1 = { 0 }, r2 = { 0 };

	fs->greeting = "VERSION\t2\t0\n";
	test_expect_log(LOG_TYPE_ERROR, "Incompatible protocol version 2");
	(void)lookup(client, "alice", &r1);
	RUN_UNTIL(ioloop, r1.calls > 0, 5000);
	test_assert(r1.calls == 1 && r1.result == AUTH_MASTER_RESULT_FAIL);

	fs->greeting = "VERSION\t1\t2\n";
	test_expect_log(LOG_TYPE_ERROR, "Invalid USER reply");
	(void)lookup(client, "garbage", &r2);
	RUN_UNTIL(ioloop, r2.calls > 0, 5000);
	test_assert(r2.calls == 1 && r2.result == AUTH_MASTER_RESULT_FAIL);

	auth_master_client_deinit(&client);
	fake_server_destroy(&fs);
	result_free(&r1); result_free(&r2);
	ioloop_destroy(&ioloop);
	test_end();
}

/* The blocking variant against a forked server that answers lines the
   way auth-userdb-conn.c does, in small writes. */
static void sync_server_child(int listen_fd)
{
	int fd;

	while ((fd = accept(listen_fd, NULL, NULL)) < 0 && errno == EINTR) ;
	if (fd < 0)
		_exit(1);
	char buf[4096];
	size_t used = 0;
	const char *greet = "VERSION\t1\t2\nSPID\t1\n";
	if (write(fd, greet, strlen(greet)) < 0)
		_exit(1);
	for (;;) {
		ssize_t ret = read(fd, buf + used, sizeof(buf) - 1 - used);
		if (ret <= 0)
			_exit(0);
		used += (size_t)ret;
		buf[used] = '\0';
		char *nl;
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			const char *reply = NULL;
			if (strncmp(buf, "USER\t1\tgina\t", 12) == 0)
				reply = "USER\t1\tgina\thome=/home/gina\n";
			else if (strncmp(buf, "USER\t1\tnobody\t", 14) == 0)
				reply = "NOTFOUND\t1\n";
			else if (strncmp(buf, "USER\t1\tbroken\t", 14) == 0)
				reply = "FAIL\t1\treason=oops\n";
			if (reply != NULL) {
				/* the reply in two pieces */
				if (write(fd, reply, 5) < 0 ||
				    write(fd, reply + 5, strlen(reply) - 5) < 0)
					_exit(1);
			}
			memmove(buf, nl + 1, used - (size_t)(nl + 1 - buf) + 1);
			used -= (size_t)(nl + 1 - buf);
		}
	}
}

static void test_auth_master_sync(void)
{
	test_begin("auth master client: blocking lookup");
	const char *path = t_strdup_printf("%s/sync", test_dir());
	const char *names[] = { "gina", "nobody", "broken" };
	const enum auth_master_result expected[] = {
		AUTH_MASTER_RESULT_OK, AUTH_MASTER_RESULT_NOTFOUND,
		AUTH_MASTER_RESULT_FAIL,
	};
	const char *error;

	for (unsigned int i = 0; i < N_ELEMENTS(names); i++) {
		(void)unlink(path);
		int lfd = net_listen_unix(path, 0600, 4, &error);
		test_assert(lfd >= 0);
		if (lfd < 0)
			break;
		fd_set_nonblock(lfd, false);
		pid_t pid = fork();
		if (pid == 0)
			sync_server_child(lfd);
		close(lfd);

		pool_t pool = pool_alloconly_create("test", 1024);
		struct auth_master_user_request req = {
			.username = names[i], .service = "doveadm",
		};
		const char *username, *const *fields;
		enum auth_master_result ret = auth_master_user_lookup_sync(
			path, &req, pool, &username, &fields, &error);
		test_assert_idx(ret == expected[i], i);
		if (ret == AUTH_MASTER_RESULT_OK) {
			test_assert_strcmp(username, "gina");
			test_assert(fields != NULL &&
				    strcmp(fields[0], "home=/home/gina") == 0 &&
				    fields[1] == NULL);
		} else if (ret == AUTH_MASTER_RESULT_FAIL) {
			test_assert(strstr(error, "oops") != NULL);
		}
		pool_unref(&pool);
		int status;
		(void)waitpid(pid, &status, 0);
	}

	pool_t pool = pool_alloconly_create("test", 1024);
	struct auth_master_user_request req = { .username = "gina" };
	const char *username, *const *fields;
	(void)unlink(path);
	test_assert(auth_master_user_lookup_sync(path, &req, pool, &username,
						 &fields, &error) ==
		    AUTH_MASTER_RESULT_FAIL);
	test_assert(strstr(error, "Cannot connect") != NULL);
	pool_unref(&pool);
	test_end();
}

test_func_t *const test_auth_master_client_tests[] = {
	test_auth_master_basic,
	test_auth_master_out_of_order,
	test_auth_master_connect_fail,
	test_auth_master_disconnect_reconnect,
	test_auth_master_timeout,
	test_auth_master_deinit,
	test_auth_master_deinit_in_callback,
	test_auth_master_bad_peer,
	test_auth_master_sync,
	NULL
};
