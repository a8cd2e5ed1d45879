/* Unit tests for src/lib-master: the login -> mail hand-off carried over
   IPC with the client's socket, and privilege settings in the
   environment. */
#include "test-common.h"
#include "ioloop.h"
#include "ipc.h"
#include "conn.h"
#include "login-handoff.h"
#include "restrict-access.h"
#include "master-interface.h"
#include <sys/socket.h>

static void test_handoff_roundtrip(void)
{
	test_begin("login hand-off encode/decode");
	const char *fields[] = { "home=/var/vmail/bob", "quota_rule=*:storage=1G",
				 NULL };
	struct login_handoff h = {
		.protocol = "imap", .username = "bob@example.com",
		.session_id = "s3ss10n", .flags = LOGIN_HANDOFF_FLAG_TLS |
			LOGIN_HANDOFF_FLAG_RELAY, .tls_info = "TLSv1.3",
		.tag = "a1", .auth_fields = fields,
		.preread = (const unsigned char *)"a2 NOOP\r\n", .preread_size = 9,
		.remote_port = 50000, .local_port = 993,
	};
	test_assert(net_addr2ip("2001:db8::1", &h.remote_ip) == 0);
	test_assert(net_addr2ip("192.0.2.1", &h.local_ip) == 0);
	buffer_t *buf = t_str_new(256);
	login_handoff_encode(&h, buf);

	pool_t pool = pool_alloconly_create("handoff", 512);
	struct login_handoff d;
	const char *error = NULL;
	test_assert(login_handoff_decode(buf->data, buf->used, pool, &d, &error) == 0);
	test_assert_strcmp(d.protocol, "imap");
	test_assert_strcmp(d.username, "bob@example.com");
	test_assert_strcmp(d.session_id, "s3ss10n");
	test_assert(net_ip_compare(&d.remote_ip, &h.remote_ip));
	test_assert(net_ip_compare(&d.local_ip, &h.local_ip));
	test_assert(d.remote_port == 50000 && d.local_port == 993);
	test_assert(d.flags == h.flags);
	test_assert_strcmp(d.tls_info, "TLSv1.3");
	test_assert_strcmp(d.tag, "a1");
	test_assert(str_array_length(d.auth_fields) == 2);
	test_assert_strcmp(d.auth_fields[1], "quota_rule=*:storage=1G");
	test_assert(d.preread_size == 9 && memcmp(d.preread, "a2 NOOP\r\n", 9) == 0);

	/* every truncation is an error, never a crash */
	bool all_failed = true;
	for (size_t i = 0; i < buf->used; i++) {
		if (login_handoff_decode(buf->data, i, pool, &d, &error) == 0)
			all_failed = false;
	}
	test_assert(all_failed);
	/* trailing garbage too */
	buffer_append_c(buf, 0);
	test_assert(login_handoff_decode(buf->data, buf->used, pool, &d, &error) < 0);
	pool_unref(&pool);
	test_end();
}

/* Swap the empty blob an encoded message ends with for one over
   LOGIN_HANDOFF_MAX_PREREAD: the encoders assert the limit, a hostile
   sender would not. */
static void set_final_blob_oversized(buffer_t *buf)
{
	buffer_t *empty = t_str_new(8);
	ipc_put_blob(empty, "", 0);
	test_assert(buf->used >= empty->used &&
		    memcmp(buf->data + buf->used - empty->used, empty->data,
			   empty->used) == 0);
	buffer_set_used_size(buf, buf->used - empty->used);
	ipc_put_u32(buf, LOGIN_HANDOFF_MAX_PREREAD + 1);
	memset(buffer_append_space(buf, LOGIN_HANDOFF_MAX_PREREAD + 1), 'x',
	       LOGIN_HANDOFF_MAX_PREREAD + 1);
}

static void test_handoff_rejects_bad_fields(void)
{
	test_begin("login hand-off rejects malformed payloads");
	pool_t pool = pool_alloconly_create("handoff", 512);
	struct login_handoff h = { .protocol = "imap", .username = "",
				   .session_id = "x" };
	buffer_t *buf = t_str_new(128);
	struct login_handoff d;
	const char *error = NULL;
	login_handoff_encode(&h, buf);
	test_assert(login_handoff_decode(buf->data, buf->used, pool, &d, &error) < 0);
	test_assert_strcmp(error, "empty user name");

	h.username = "bob";
	h.flags = 0x80;
	buffer_reset(buf);
	login_handoff_encode(&h, buf);
	test_assert(login_handoff_decode(buf->data, buf->used, pool, &d, &error) < 0);
	test_assert_strcmp(error, "unknown flags 0x80");

	h.flags = 0;
	buffer_reset(buf);
	login_handoff_encode(&h, buf);
	set_final_blob_oversized(buf);
	test_assert(login_handoff_decode(buf->data, buf->used, pool, &d, &error) < 0);
	test_assert_strcmp(error, "pre-read input too large");

	/* a NUL inside the user name */
	h.flags = 0;
	buffer_reset(buf);
	login_handoff_encode(&h, buf);
	unsigned char *p = memmem(buf->data, buf->used, "bob", 3);
	test_assert(p != NULL);
	if (p != NULL)
		p[1] = '\0';
	test_assert(login_handoff_decode(buf->data, buf->used, pool, &d, &error) < 0);
	test_assert_strcmp(error, "NUL inside a string field");

	/* a different version */
	buf->data[0] = 99;
	test_assert(login_handoff_decode(buf->data, buf->used, pool, &d, &error) < 0);
	pool_unref(&pool);
	test_end();
}

/* The whole path: a "login" side detaches a conn that has unread
   pipelined input, sends the fd and the bytes over IPC; the "mail" side
   builds a new conn from them and reads every command in order. */
struct handoff_ctx {
	struct ioloop *ioloop;
	struct conn *conn;
	ARRAY(char *) lines;
	bool got;
};

static void mail_conn_input(struct conn *conn)
{
	struct handoff_ctx *ctx = conn_get_context(conn);
	const char *line;
	size_t len;
	while (conn_read_line(conn, 1024, &line, &len) > 0) {
		array_push(&ctx->lines, i_strndup(line, len));
		conn_printf(conn, "ok %s\r\n", line);
		if (array_count(&ctx->lines) == 3)
			ioloop_stop(ctx->ioloop);
	}
}

static void mail_conn_disconnected(struct conn *conn ATTR_UNUSED,
				   const char *reason ATTR_UNUSED)
{
}

static const struct conn_settings mail_conn_set = { .name = "mail" };
static const struct conn_vfuncs mail_conn_v = {
	.input = mail_conn_input,
	.disconnected = mail_conn_disconnected,
};

static void mail_ipc_msg(struct ipc *ipc ATTR_UNUSED, struct ipc_msg *msg,
			 void *context)
{
	struct handoff_ctx *ctx = context;
	struct login_handoff h;
	const char *error;
	pool_t pool = pool_alloconly_create("h", 256);
	test_assert(msg->type == LOGIN_HANDOFF_MSG_TYPE);
	test_assert(login_handoff_decode(msg->data, msg->size, pool, &h,
					 &error) == 0);
	int fd = ipc_msg_take_fd(msg);
	test_assert(fd >= 0);
	ctx->conn = conn_create(fd, &mail_conn_set, &mail_conn_v, ctx);
	conn_input_push(ctx->conn, h.preread, h.preread_size);
	ctx->got = true;
	pool_unref(&pool);
}

static void login_conn_input(struct conn *conn ATTR_UNUSED)
{
	/* the test reads explicitly below */
}

static void test_handoff_over_ipc(void)
{
	test_begin("login hand-off passes fd and pipelined input");
	struct handoff_ctx ctx;
	memset(&ctx, 0, sizeof(ctx));
	array_init(&ctx.lines, system_pool, 4);
	ctx.ioloop = ioloop_create();

	int client[2], chan[2];
	const char *error;
	test_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, client) == 0);
	test_assert(ipc_pair(chan, &error) == 0);

	/* login side: the client logged in and pipelined two commands */
	static const struct conn_vfuncs login_v = {
		.input = login_conn_input,
		.disconnected = mail_conn_disconnected,
	};
	struct conn *lconn = conn_create(client[0], &mail_conn_set, &login_v, NULL);
	const char *sent = "a1 LOGIN bob pw\r\na2 NOOP\r\na3 LOGOUT\r\n";
	test_assert(write(client[1], sent, strlen(sent)) == (ssize_t)strlen(sent));
	const char *line;
	size_t len;
	int ret = 0;
	for (int i = 0; i < 100 && ret <= 0; i++) {
		ioloop_run_once(ctx.ioloop, 10);
		ret = conn_read_line(lconn, 1024, &line, &len);
	}
	test_assert(ret == 1 && strncmp(line, "a1 LOGIN", 8) == 0);

	int fd;
	buffer_t *preread = t_str_new(64);
	test_assert(conn_detach(&lconn, &fd, preread, &error) == 0);
	test_assert(lconn == NULL);
	test_assert(preread->used == strlen("a2 NOOP\r\na3 LOGOUT\r\n"));

	struct ipc_callbacks mail_cb = { .msg = mail_ipc_msg };
	struct ipc *mail_ipc = ipc_create(chan[1], "mail", &mail_cb, &ctx);
	struct ipc *login_ipc = ipc_create(chan[0], "login", &(struct ipc_callbacks){ 0 }, NULL);
	struct login_handoff h = {
		.protocol = "imap", .username = "bob", .session_id = "s1",
		.tag = "a1", .preread = preread->data,
		.preread_size = preread->used,
	};
	buffer_t *payload = t_str_new(128);
	login_handoff_encode(&h, payload);
	test_assert(ipc_send_fd(login_ipc, LOGIN_HANDOFF_MSG_TYPE, fd, true,
				payload->data, payload->used) == 0);
	/* the mail side will read a2, a3 from the pre-read bytes, then a4
	   from the socket it was given */
	test_assert(write(client[1], "a4 NOOP\r\n", 9) == 9);
	struct timeout *to = timeout_add(5000, (io_callback_t *)ioloop_stop,
					 ctx.ioloop);
	ioloop_run(ctx.ioloop);
	timeout_remove(&to);
	test_assert(ctx.got);
	test_assert(array_count(&ctx.lines) == 3);
	if (array_count(&ctx.lines) == 3) {
		test_assert_strcmp(*array_idx(&ctx.lines, 0), "a2 NOOP");
		test_assert_strcmp(*array_idx(&ctx.lines, 1), "a3 LOGOUT");
		test_assert_strcmp(*array_idx(&ctx.lines, 2), "a4 NOOP");
	}
	/* the client hears the mail process on the same connection */
	char reply[64];
	ssize_t n = read(client[1], reply, sizeof(reply) - 1);
	test_assert(n > 0);
	if (n > 0) {
		reply[n] = '\0';
		test_assert(strncmp(reply, "ok a2 NOOP\r\n", 12) == 0);
	}
	char **l;
	array_foreach(&ctx.lines, l)
		free(*l);
	array_free(&ctx.lines);
	conn_destroy(&ctx.conn);
	ipc_destroy(&mail_ipc);
	ipc_destroy(&login_ipc);
	close(client[1]);
	ioloop_destroy(&ctx.ioloop);
	test_end();
}

static void test_restrict_access_env(void)
{
	test_begin("restrict-access settings through the environment");
	struct restrict_access_settings set = {
		.uid = 1234, .gid = 5678, .chroot_dir = "/run/x/login",
	}, got;
	restrict_access_set_env(&set);
	restrict_access_get_env(&got);
	test_assert(got.uid == 1234 && got.gid == 5678);
	test_assert_strcmp(got.chroot_dir, "/run/x/login");
	unsetenv(MASTER_ENV_UID);
	unsetenv(MASTER_ENV_GID);
	unsetenv(MASTER_ENV_CHROOT);
	restrict_access_get_env(&got);
	test_assert(got.uid == (uid_t)-1 && got.gid == (gid_t)-1 &&
		    got.chroot_dir == NULL);
	uid_t uid;
	gid_t gid;
	const char *error;
	test_assert(restrict_access_lookup_user("root", &uid, &gid, &error) == 0 &&
		    uid == 0);
	test_assert(restrict_access_lookup_user("no-such-user-xyz", &uid, &gid,
						&error) < 0);
	test_assert(strstr(error, "doesn't exist") != NULL);
	test_end();
}

static void test_handoff_reply(void)
{
	struct login_handoff_reply reply = {
		.status = LOGIN_HANDOFF_STATUS_LIMIT, .reason = "Too many",
	}, d;
	const char *error;

	test_begin("login hand-off reply encode/decode");
	buffer_t *buf = t_str_new(64);
	login_handoff_reply_encode(&reply, buf);
	test_assert(login_handoff_reply_decode(buf->data, buf->used, &d,
					       &error) == 0);
	test_assert(d.status == LOGIN_HANDOFF_STATUS_LIMIT);
	test_assert_strcmp(d.reason, "Too many");
	for (size_t i = 0; i < buf->used; i++)
		test_assert_idx(login_handoff_reply_decode(buf->data, i, &d,
							   &error) < 0, i);
	/* unknown status, CR in the reason */
	buffer_t *bad = t_str_new(64);
	buffer_append(bad, buf->data, buf->used);
	((unsigned char *)bad->data)[1] = 9;
	test_assert(login_handoff_reply_decode(bad->data, bad->used, &d,
					       &error) < 0);
	buffer_set_used_size(bad, 0);
	reply.reason = "a\r\nb";
	login_handoff_reply_encode(&reply, bad);
	test_assert(login_handoff_reply_decode(bad->data, bad->used, &d,
					       &error) < 0);
	test_end();
}

static void test_handback(void)
{
	struct login_handback hb = {
		.protocol = "imap", .session_id = "abc", .tag = "a1",
		.flags = LOGIN_HANDOFF_FLAG_SECURED, .remote_port = 1234,
		.input = (const unsigned char *)"b CAPABILITY\r\n\0x",
		.input_size = 16,
	}, d;
	const char *error, *session_id;

	test_begin("login hand-back encode/decode");
	pool_t pool = pool_alloconly_create("handback", 512);
	hb.remote_ip.family = AF_INET;
	hb.remote_ip.u.ip4.s_addr = htonl(0x7f000001);
	buffer_t *buf = t_str_new(128);
	login_handback_encode(&hb, buf);
	test_assert(login_handback_decode(buf->data, buf->used, pool, &d,
					  &error) == 0);
	test_assert_strcmp(d.protocol, "imap");
	test_assert_strcmp(d.session_id, "abc");
	test_assert_strcmp(d.tag, "a1");
	test_assert(d.flags == LOGIN_HANDOFF_FLAG_SECURED);
	test_assert(net_ip_compare(&d.remote_ip, &hb.remote_ip));
	test_assert(d.remote_port == 1234);
	test_assert(d.input_size == 16 &&
		    memcmp(d.input, hb.input, 16) == 0);
	for (size_t i = 0; i < buf->used; i++) {
		test_assert_idx(login_handback_decode(buf->data, i, pool, &d,
						      &error) < 0, i);
	}
	/* the tag goes into a reply line: no spaces, CRs or empty tags */
	static const char *const bad_tags[] = { "", "a b", "a\r\n", "+" };
	for (unsigned int i = 0; i < N_ELEMENTS(bad_tags); i++) {
		hb.tag = bad_tags[i];
		buffer_set_used_size(buf, 0);
		login_handback_encode(&hb, buf);
		test_assert_idx(login_handback_decode(buf->data, buf->used,
						      pool, &d, &error) < 0, i);
		test_assert_idx(strcmp(error, "invalid tag") == 0, i);
	}
	hb.tag = "a";
	hb.session_id = "";
	buffer_set_used_size(buf, 0);
	login_handback_encode(&hb, buf);
	test_assert(login_handback_decode(buf->data, buf->used, pool, &d,
					  &error) < 0);
	test_assert_strcmp(error, "empty session id");

	/* a NUL inside the session id */
	hb.session_id = "abc";
	buffer_set_used_size(buf, 0);
	login_handback_encode(&hb, buf);
	unsigned char *p = memmem(buf->data, buf->used, "abc", 3);
	test_assert(p != NULL);
	if (p != NULL)
		p[1] = '\0';
	test_assert(login_handback_decode(buf->data, buf->used, pool, &d,
					  &error) < 0);
	test_assert_strcmp(error, "NUL inside a string field");

	hb.flags = 0x40;
	buffer_set_used_size(buf, 0);
	login_handback_encode(&hb, buf);
	test_assert(login_handback_decode(buf->data, buf->used, pool, &d,
					  &error) < 0);
	test_assert_strcmp(error, "unknown flags 0x40");

	hb.flags = LOGIN_HANDOFF_FLAG_SECURED;
	hb.input_size = 0;
	buffer_set_used_size(buf, 0);
	login_handback_encode(&hb, buf);
	set_final_blob_oversized(buf);
	test_assert(login_handback_decode(buf->data, buf->used, pool, &d,
					  &error) < 0);
	test_assert_strcmp(error, "pending input too large");

	buffer_set_used_size(buf, 0);
	login_handback_begin_encode("sess", buf);
	test_assert(login_handback_begin_decode(buf->data, buf->used,
						&session_id, &error) == 0);
	test_assert_strcmp(session_id, "sess");
	test_assert(login_handback_begin_decode(buf->data, buf->used - 1,
						&session_id, &error) < 0);
	buffer_set_used_size(buf, 0);
	login_handback_begin_encode("", buf);
	test_assert(login_handback_begin_decode(buf->data, buf->used,
						&session_id, &error) < 0);

	buffer_set_used_size(buf, 0);
	login_handback_reply_encode(buf);
	test_assert(login_handback_reply_decode(buf->data, buf->used,
						&error) == 0);
	buffer_append_c(buf, 0);
	test_assert(login_handback_reply_decode(buf->data, buf->used,
						&error) < 0);
	pool_unref(&pool);
	test_end();
}

int main(void)
{
	static test_func_t *const tests[] = {
		test_handoff_roundtrip,
		test_handoff_rejects_bad_fields,
		test_handoff_over_ipc,
		test_handoff_reply,
		test_handback,
		test_restrict_access_env,
		NULL
	};
	int ret;
	T_BEGIN {
		ret = test_run(tests);
	} T_END;
	return ret;
}
