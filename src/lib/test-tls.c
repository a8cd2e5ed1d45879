/* Tests for tls.c through the conn API: handshakes between a server and
   a client conn over socketpairs with throwaway certificates made here,
   STARTTLS with injected plaintext, SNI, resumption, protocol limits,
   garbage from the peer, client certificates, channel binding, streaming,
   the memory an idle TLS connection costs, and the data-only record
   layer against a raw OpenSSL client. */
#include "test-lib.h"
#include "ioloop.h"
#include "conn.h"
#include "tls.h"
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define RUN_UNTIL(ioloop, cond, msecs) do { \
	uint64_t run_deadline_ = ioloop_msecs_monotonic() + (msecs); \
	while (!(cond) && ioloop_msecs_monotonic() < run_deadline_) \
		ioloop_run_once(ioloop, 10); \
	} while (0)

struct test_cert {
	char *cert_pem, *key_pem;
};

static struct test_cert cert_default, cert_org, cert_net, cert_client;
static struct ioloop *ioloop;

static char *bio_to_str(BIO *bio)
{
	char *data;
	long len = BIO_get_mem_data(bio, &data);
	char *ret = i_strndup(data, (size_t)len);
	BIO_free(bio);
	return ret;
}

/* A self-signed EC P-256 certificate (fast to make and to use). */
static void make_cert(struct test_cert *cert, const char *cn, const char *san)
{
	static long serial = 1;
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();

	i_assert(pkey != NULL && x != NULL);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
	X509_set_pubkey(x, pkey);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
				   (const unsigned char *)"Columba test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
						  san);
	i_assert(ext != NULL);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	i_assert(X509_sign(x, pkey, EVP_sha256()) > 0);

	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bio, x);
	cert->cert_pem = bio_to_str(bio);
	bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
	cert->key_pem = bio_to_str(bio);
	X509_free(x);
	EVP_PKEY_free(pkey);
}

static void test_tls_init(void)
{
	if (cert_default.cert_pem != NULL)
		return;
	make_cert(&cert_default, "mail.example.com", "DNS:mail.example.com");
	make_cert(&cert_org, "mail.example.org", "DNS:mail.example.org");
	make_cert(&cert_net, "wild.example.net", "DNS:*.example.net");
	make_cert(&cert_client, "client.example.com", "DNS:client.example.com");
}

static void test_tls_deinit(void)
{
	struct test_cert *certs[] = { &cert_default, &cert_org, &cert_net,
				      &cert_client };
	for (unsigned int i = 0; i < N_ELEMENTS(certs); i++) {
		i_free(certs[i]->cert_pem);
		i_free(certs[i]->key_pem);
	}
}

struct tpeer {
	struct conn *conn;
	bool server;
	string_t *lines;
	unsigned int line_count;
	char *reason;
	bool handshaked;
	bool destroy_on_disconnect;
	/* STARTTLS */
	struct tls_context *starttls_ctx;
	const char *servername;
	const char *starttls_reply;
	const char *after_handshake;
	/* echo every line back */
	bool echo;
	/* count pattern bytes instead of lines */
	bool stream_mode;
	size_t stream_skip;
	uint64_t recv_bytes, recv_bad;
	unsigned int streams_finished;
};

static unsigned char stream_byte(uint64_t pos)
{
	return (unsigned char)((pos ^ (pos >> 8) ^ (pos >> 16)) & 0xff);
}

static void peer_input(struct conn *conn)
{
	struct tpeer *p = conn_get_context(conn);
	const char *line, *error;
	size_t len;

	if (p->stream_mode) {
		const unsigned char *data;
		while (conn_input_peek(conn, &data, &len) > 0) {
			if (p->stream_skip > 0) {
				len = I_MIN(len, p->stream_skip);
				p->stream_skip -= len;
				conn_input_skip(conn, len);
				continue;
			}
			for (size_t i = 0; i < len; i++) {
				if (data[i] != stream_byte(p->recv_bytes + i))
					p->recv_bad++;
			}
			p->recv_bytes += len;
			conn_input_skip(conn, len);
		}
		return;
	}
	while (conn_read_line(conn, 100000, &line, &len) > 0) {
		if (p->lines != NULL) {
			str_append(p->lines, line);
			str_append_c(p->lines, '\n');
		}
		p->line_count++;
		if (p->starttls_ctx != NULL && !conn_is_tls(conn)) {
			if (p->server && strcmp(line, "STARTTLS") == 0) {
				conn_write_str(conn, p->starttls_reply);
				test_assert(conn_start_tls_server(conn,
					p->starttls_ctx, &error) == 0);
			} else if (!p->server && str_begins(line, "OK Begin")) {
				test_assert(conn_start_tls_client(conn,
					p->starttls_ctx, p->servername,
					&error) == 0);
			}
		}
		if (p->echo)
			conn_printf(conn, "echo %s\r\n", line);
	}
}

static void peer_disconnected(struct conn *conn, const char *reason)
{
	struct tpeer *p = conn_get_context(conn);
	i_free(p->reason);
	p->reason = i_strdup(reason);
	if (p->destroy_on_disconnect)
		conn_destroy(&p->conn);
}

static void peer_handshaked(struct conn *conn)
{
	struct tpeer *p = conn_get_context(conn);
	p->handshaked = true;
	if (p->after_handshake != NULL)
		conn_write_str(conn, p->after_handshake);
}

static void peer_stream_finished(struct conn *conn)
{
	struct tpeer *p = conn_get_context(conn);
	p->streams_finished++;
}

static const struct conn_vfuncs peer_vfuncs = {
	.input = peer_input,
	.disconnected = peer_disconnected,
	.tls_handshaked = peer_handshaked,
	.stream_finished = peer_stream_finished,
};

static const struct conn_settings peer_set = { .name = "tls-test" };

static void peer_init(struct tpeer *p, bool server)
{
	memset(p, 0, sizeof(*p));
	p->server = server;
	p->lines = str_new(system_pool, 128);
}

static void peer_deinit(struct tpeer *p)
{
	conn_destroy(&p->conn);
	str_free(&p->lines);
	i_free(p->reason);
}

static void pair_create2(struct tpeer *s, struct tpeer *c,
			 const struct conn_settings *sset,
			 const struct conn_settings *cset)
{
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0, fds) < 0)
		i_fatal("socketpair() failed: %m");
	peer_init(s, true);
	peer_init(c, false);
	s->conn = conn_create(fds[0], sset, &peer_vfuncs, s);
	c->conn = conn_create(fds[1], cset, &peer_vfuncs, c);
}

static void pair_create(struct tpeer *s, struct tpeer *c,
			const struct conn_settings *set)
{
	pair_create2(s, c, set, set);
}

static struct tls_context *server_ctx(const struct tls_settings *extra)
{
	struct tls_settings set;
	const char *error;

	if (extra != NULL)
		set = *extra;
	else
		memset(&set, 0, sizeof(set));
	if (set.cert_pem == NULL) {
		set.cert_pem = cert_default.cert_pem;
		set.key_pem = cert_default.key_pem;
	}
	struct tls_context *ctx = tls_context_create_server(&set, &error);
	if (ctx == NULL)
		i_fatal("tls_context_create_server(): %s", error);
	return ctx;
}

static struct tls_context *client_ctx(const struct tls_settings *extra)
{
	struct tls_settings set;
	const char *error;

	if (extra != NULL)
		set = *extra;
	else
		memset(&set, 0, sizeof(set));
	if (set.ca_pem == NULL && !set.insecure)
		set.ca_pem = cert_default.cert_pem;
	struct tls_context *ctx = tls_context_create_client(&set, &error);
	if (ctx == NULL)
		i_fatal("tls_context_create_client(): %s", error);
	return ctx;
}

/* Implicit TLS on both ends; both say hello right away (queued until the
   handshake is done). */
static void pair_start_tls(struct tpeer *s, struct tpeer *c,
			   struct tls_context *sctx, struct tls_context *cctx,
			   const char *servername)
{
	const char *error;
	test_assert(conn_start_tls_server(s->conn, sctx, &error) == 0);
	test_assert(conn_start_tls_client(c->conn, cctx, servername, &error) == 0);
	conn_write_str(s->conn, "* OK ready\r\n");
	conn_write_str(c->conn, "a NOOP\r\n");
}

static void test_tls_handshake(void)
{
	test_begin("tls handshake, accessors, channel binding");
	struct tls_context *sctx = server_ctx(NULL);
	struct tls_context *cctx = client_ctx(NULL);
	struct tpeer s, c;
	const char *error;

	pair_create(&s, &c, &peer_set);
	pair_start_tls(&s, &c, sctx, cctx, "mail.example.com");
	test_assert(conn_is_tls(s.conn) && !conn_is_tls_handshaked(s.conn));
	RUN_UNTIL(ioloop, s.line_count == 1 && c.line_count == 1, 5000);
	test_assert_strcmp(str_c(s.lines), "a NOOP\n");
	test_assert_strcmp(str_c(c.lines), "* OK ready\n");
	test_assert(s.handshaked && c.handshaked);
	test_assert(s.reason == NULL && c.reason == NULL);

	struct tls_conn *st = conn_get_tls(s.conn), *ct = conn_get_tls(c.conn);
	test_assert_strcmp(tls_conn_get_protocol(st), "TLSv1.3");
	test_assert_strcmp(tls_conn_get_cipher(st), tls_conn_get_cipher(ct));
	test_assert(tls_conn_get_cipher_bits(st) >= 128);
	test_assert(strstr(tls_conn_get_security_string(st), "TLSv1.3 with cipher") != NULL);
	test_assert_strcmp(tls_conn_get_servername(st), "mail.example.com");
	test_assert(!tls_conn_session_reused(st));
	/* the client verified the server; the server asked for nothing */
	test_assert(tls_conn_peer_cert_verified(ct));
	test_assert_strcmp(tls_conn_get_peer_cn(ct), "mail.example.com");
	test_assert_strcmp(tls_conn_get_peer_subject(ct),
			   "CN=mail.example.com,O=Columba test");
	test_assert(!tls_conn_has_peer_cert(st));
	test_assert(!tls_conn_peer_cert_verified(st));
	test_assert(tls_conn_get_peer_cn(st) == NULL);

	/* both ends derive the same channel binding */
	buffer_t *sb = buffer_create(system_pool, 64);
	buffer_t *cb = buffer_create(system_pool, 64);
	test_assert(tls_conn_get_channel_binding(st, TLS_CHANNEL_BINDING_EXPORTER,
						 sb, &error) == 0);
	test_assert(tls_conn_get_channel_binding(ct, TLS_CHANNEL_BINDING_EXPORTER,
						 cb, &error) == 0);
	test_assert(sb->used == 32 && cb->used == 32 &&
		    memcmp(sb->data, cb->data, 32) == 0);
	test_assert(tls_conn_get_channel_binding(st, TLS_CHANNEL_BINDING_UNIQUE,
						 sb, &error) == -1);

	/* TLS 1.3 sessions can't be handed to another process */
	int fd;
	test_assert(conn_detach(&s.conn, &fd, sb, &error) == -1 && s.conn != NULL);

	/* a clean close from one end is a "Connection closed" on the other */
	conn_destroy(&c.conn);
	RUN_UNTIL(ioloop, s.reason != NULL, 5000);
	test_assert_strcmp(s.reason, "Connection closed");
	peer_deinit(&s);
	peer_deinit(&c);
	tls_context_unref(&cctx);

	/* TLS 1.2: tls-unique too, the same on both ends */
	struct tls_settings cset = { .max_protocol = "TLSv1.2" };
	cctx = client_ctx(&cset);
	pair_create(&s, &c, &peer_set);
	pair_start_tls(&s, &c, sctx, cctx, "mail.example.com");
	RUN_UNTIL(ioloop, s.line_count == 1 && c.line_count == 1, 5000);
	st = conn_get_tls(s.conn);
	ct = conn_get_tls(c.conn);
	test_assert_strcmp(tls_conn_get_protocol(st), "TLSv1.2");
	buffer_set_used_size(sb, 0);
	buffer_set_used_size(cb, 0);
	test_assert(tls_conn_get_channel_binding(st, TLS_CHANNEL_BINDING_UNIQUE,
						 sb, &error) == 0);
	test_assert(tls_conn_get_channel_binding(ct, TLS_CHANNEL_BINDING_UNIQUE,
						 cb, &error) == 0);
	test_assert(sb->used == 12 && cb->used == 12 &&
		    memcmp(sb->data, cb->data, 12) == 0);
	buffer_set_used_size(sb, 0);
	buffer_set_used_size(cb, 0);
	test_assert(tls_conn_get_channel_binding(st, TLS_CHANNEL_BINDING_EXPORTER,
						 sb, &error) == 0);
	test_assert(tls_conn_get_channel_binding(ct, TLS_CHANNEL_BINDING_EXPORTER,
						 cb, &error) == 0);
	test_assert(sb->used == 32 && memcmp(sb->data, cb->data, 32) == 0);
	peer_deinit(&s);
	peer_deinit(&c);
	tls_context_unref(&cctx);
	buffer_free(&sb);
	buffer_free(&cb);

	/* the wrong name: the client refuses the certificate */
	cctx = client_ctx(NULL);
	pair_create(&s, &c, &peer_set);
	pair_start_tls(&s, &c, sctx, cctx, "imap.example.com");
	RUN_UNTIL(ioloop, s.reason != NULL && c.reason != NULL, 5000);
	test_assert(c.reason != NULL &&
		    str_begins(c.reason, "TLS handshake failed: ") &&
		    strstr(c.reason, "certificate verify failed") != NULL &&
		    strstr(c.reason, "hostname mismatch") != NULL);
	test_assert(s.reason != NULL &&
		    str_begins(s.reason, "TLS handshake failed: "));
	test_assert(s.line_count == 0 && c.line_count == 0);
	peer_deinit(&s);
	peer_deinit(&c);
	tls_context_unref(&cctx);
	tls_context_unref(&sctx);
	test_end();
}

static void test_tls_starttls(void)
{
	test_begin("tls STARTTLS discards injected plaintext (server side)");
	struct tls_context *sctx = server_ctx(NULL);
	struct tls_context *cctx = client_ctx(NULL);
	struct tpeer s, c;

	pair_create(&s, &c, &peer_set);
	s.starttls_ctx = sctx;
	s.starttls_reply = "OK Begin TLS negotiation now\r\n";
	c.starttls_ctx = cctx;
	c.servername = "mail.example.com";
	c.after_handshake = "AFTER\r\n";
	/* A man in the middle appends a command to the client's STARTTLS:
	   both arrive in the same read(). */
	test_expect_log(LOG_TYPE_INFO, "Discarded 18 bytes of plaintext");
	conn_write_str(c.conn, "STARTTLS\r\nINJECTED COMMAND\r\n");
	RUN_UNTIL(ioloop, s.line_count == 2, 5000);
	test_assert_strcmp(str_c(s.lines), "STARTTLS\nAFTER\n");
	test_assert_strcmp(str_c(c.lines), "OK Begin TLS negotiation now\n");
	test_assert(conn_is_tls_handshaked(s.conn) &&
		    conn_is_tls_handshaked(c.conn));
	test_assert(s.reason == NULL && c.reason == NULL);
	/* and the session works both ways */
	conn_write_str(s.conn, "* BYE\r\n");
	RUN_UNTIL(ioloop, c.line_count == 2, 5000);
	test_assert_strcmp(str_c(c.lines), "OK Begin TLS negotiation now\n* BYE\n");
	peer_deinit(&s);
	peer_deinit(&c);
	tls_context_unref(&cctx);
	tls_context_unref(&sctx);
	test_end();
}

static void test_tls_starttls_client_side(void)
{
	test_begin("tls STARTTLS discards injected plaintext (client side)");
	struct tls_context *sctx = server_ctx(NULL);
	struct tls_context *cctx = client_ctx(NULL);
	struct tpeer s, c;

	pair_create(&s, &c, &peer_set);
	s.starttls_ctx = sctx;
	/* a response injected after the server's reply must not reach the
	   client's protocol code as if it came through TLS */
	s.starttls_reply = "OK Begin TLS negotiation now\r\n* FAKE\r\n";
	c.starttls_ctx = cctx;
	c.servername = "mail.example.com";
	test_expect_log(LOG_TYPE_INFO, "Discarded 8 bytes of plaintext");
	conn_write_str(c.conn, "STARTTLS\r\n");
	RUN_UNTIL(ioloop, conn_is_tls_handshaked(s.conn) &&
		  conn_is_tls_handshaked(c.conn), 5000);
	conn_write_str(s.conn, "* REAL\r\n");
	RUN_UNTIL(ioloop, c.line_count == 2, 5000);
	test_assert_strcmp(str_c(c.lines), "OK Begin TLS negotiation now\n* REAL\n");
	peer_deinit(&s);
	peer_deinit(&c);
	tls_context_unref(&cctx);
	tls_context_unref(&sctx);
	test_end();
}

static void test_tls_sni(void)
{
	static const struct {
		const char *servername, *cn;
	} tests[] = {
		{ "mail.example.org", "mail.example.org" },
		{ "MAIL.Example.ORG.", "mail.example.org" },
		{ "imap.example.net", "wild.example.net" },
		{ "example.net", "mail.example.com" },
		{ "a.b.example.net", "mail.example.com" },
		{ "other.example", "mail.example.com" },
		{ NULL, "mail.example.com" },
	};
	test_begin("tls SNI picks the certificate");
	const struct tls_sni_cert sni[] = {
		{ "*.example.net", cert_net.cert_pem, cert_net.key_pem },
		{ "mail.example.org", cert_org.cert_pem, cert_org.key_pem },
	};
	struct tls_settings sset = { .sni_certs = sni, .sni_certs_count = 2 };
	struct tls_context *sctx = server_ctx(&sset);
	struct tls_settings cset = { .insecure = true };
	struct tls_context *cctx = client_ctx(&cset);

	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		struct tpeer s, c;
		pair_create(&s, &c, &peer_set);
		pair_start_tls(&s, &c, sctx, cctx, tests[i].servername);
		RUN_UNTIL(ioloop, c.line_count == 1 || c.reason != NULL, 5000);
		test_assert_idx(c.line_count == 1, i);
		if (c.conn != NULL && conn_get_tls(c.conn) != NULL) {
			struct tls_conn *ct = conn_get_tls(c.conn);
			test_assert_strcmp(tls_conn_get_peer_cn(ct), tests[i].cn);
			/* insecure: nothing was verified */
			test_assert_idx(!tls_conn_peer_cert_verified(ct), i);
		}
		peer_deinit(&s);
		peer_deinit(&c);
	}
	tls_context_unref(&cctx);

	/* and verified: the SNI certificate matches the name asked for */
	struct tpeer s, c;
	string_t *bundle = str_new(system_pool, 4096);
	str_append(bundle, cert_default.cert_pem);
	str_append(bundle, cert_org.cert_pem);
	str_append(bundle, cert_net.cert_pem);
	struct tls_settings vset = { .ca_pem = str_c(bundle) };
	cctx = client_ctx(&vset);
	pair_create(&s, &c, &peer_set);
	pair_start_tls(&s, &c, sctx, cctx, "pop.example.net");
	RUN_UNTIL(ioloop, c.line_count == 1 || c.reason != NULL, 5000);
	test_assert(c.line_count == 1 &&
		    tls_conn_peer_cert_verified(conn_get_tls(c.conn)));
	test_assert_strcmp(tls_conn_get_servername(conn_get_tls(s.conn)),
			   "pop.example.net");
	peer_deinit(&s);
	peer_deinit(&c);
	str_free(&bundle);
	tls_context_unref(&cctx);
	tls_context_unref(&sctx);
	test_end();
}

static void resume_round(struct tls_context *sctx, struct tls_context *cctx,
			 bool *server_reused_r, bool *client_reused_r)
{
	struct tpeer s, c;
	pair_create(&s, &c, &peer_set);
	pair_start_tls(&s, &c, sctx, cctx, "mail.example.com");
	/* reading the server's line also processes its TLS 1.3 ticket */
	RUN_UNTIL(ioloop, s.line_count == 1 && c.line_count == 1, 5000);
	test_assert(s.line_count == 1 && c.line_count == 1);
	*server_reused_r = s.conn != NULL && conn_get_tls(s.conn) != NULL &&
		tls_conn_session_reused(conn_get_tls(s.conn));
	*client_reused_r = c.conn != NULL && conn_get_tls(c.conn) != NULL &&
		tls_conn_session_reused(conn_get_tls(c.conn));
	peer_deinit(&s);
	peer_deinit(&c);
}

static void test_tls_resumption(void)
{
	test_begin("tls session resumption (TLS 1.3 tickets, TLS 1.2 cache)");
	struct tls_context *sctx = server_ctx(NULL);
	struct tls_context *cctx = client_ctx(NULL);
	bool sr, cr;

	resume_round(sctx, cctx, &sr, &cr);
	test_assert(!sr && !cr);
	resume_round(sctx, cctx, &sr, &cr);
	test_assert(sr && cr);
	resume_round(sctx, cctx, &sr, &cr);
	test_assert(sr && cr);
	tls_context_unref(&cctx);
	tls_context_unref(&sctx);

	/* TLS 1.2 without tickets: the server's session cache */
	struct tls_settings sset = { .no_session_tickets = true };
	struct tls_settings cset = { .max_protocol = "TLSv1.2" };
	sctx = server_ctx(&sset);
	cctx = client_ctx(&cset);
	resume_round(sctx, cctx, &sr, &cr);
	test_assert(!sr && !cr);
	resume_round(sctx, cctx, &sr, &cr);
	test_assert(sr && cr);
	tls_context_unref(&cctx);
	tls_context_unref(&sctx);
	test_end();
}

static void test_tls_old_protocol_refused(void)
{
	test_begin("tls TLSv1.1-only client refused by default");
	struct tls_context *sctx = server_ctx(NULL);
	/* SECLEVEL=0 or OpenSSL 3 would not even offer TLS 1.1 */
	struct tls_settings cset = {
		.min_protocol = "TLSv1.1", .max_protocol = "TLSv1.1",
		.cipher_list = "DEFAULT:@SECLEVEL=0",
	};
	struct tls_context *cctx = client_ctx(&cset);
	struct tpeer s, c;

	pair_create(&s, &c, &peer_set);
	pair_start_tls(&s, &c, sctx, cctx, "mail.example.com");
	RUN_UNTIL(ioloop, s.reason != NULL && c.reason != NULL, 5000);
	test_assert(s.reason != NULL &&
		    str_begins(s.reason, "TLS handshake failed: ") &&
		    strstr(s.reason, "unsupported protocol") != NULL);
	test_assert(c.reason != NULL &&
		    str_begins(c.reason, "TLS handshake failed: "));
	test_assert(s.line_count == 0 && c.line_count == 0);
	peer_deinit(&s);
	peer_deinit(&c);
	tls_context_unref(&cctx);

	/* bad settings are refused with the setting's name */
	const char *error;
	struct tls_settings bad = { .min_protocol = "TLSv9",
				    .cert_pem = cert_default.cert_pem,
				    .key_pem = cert_default.key_pem };
	test_assert(tls_context_create_server(&bad, &error) == NULL &&
		    str_begins(error, "ssl_min_protocol:"));
	bad.min_protocol = NULL;
	bad.key_pem = cert_org.key_pem;
	test_assert(tls_context_create_server(&bad, &error) == NULL &&
		    str_begins(error, "ssl_key:"));
	bad.key_pem = cert_default.key_pem;
	bad.cert_pem = "garbage";
	test_assert(tls_context_create_server(&bad, &error) == NULL &&
		    str_begins(error, "ssl_cert:"));
	bad.cert_pem = cert_default.cert_pem;
	bad.cipher_list = "NO-SUCH-CIPHER";
	test_assert(tls_context_create_server(&bad, &error) == NULL &&
		    str_begins(error, "ssl_cipher_list:"));

	/* PEM files for settings given as paths */
	const char *path = t_strdup_printf("%s/cert.pem", test_dir());
	const char *pem;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(cert_default.cert_pem);
	test_assert(write(fd, cert_default.cert_pem, len) == (ssize_t)len);
	close(fd);
	test_assert(tls_pem_read_file(pool_datastack, path, &pem, &error) == 0);
	test_assert_strcmp(pem, cert_default.cert_pem);
	test_assert(tls_pem_read_file(pool_datastack, "/nonexistent/x.pem",
				      &pem, &error) == -1 &&
		    strstr(error, "No such file") != NULL);
	tls_context_unref(&sctx);
	test_end();
}

static void test_tls_garbage(void)
{
	static const char *const inputs[] = {
		"a1 CAPABILITY\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"\x16\x03\x01\xff\xff garbage that claims to be a record",
		"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",
	};
	test_begin("tls garbage from a plaintext client is a closed conn");
	struct tls_settings sset = { .handshake_timeout_msecs = 200 };
	struct tls_context *sctx = server_ctx(&sset);
	const char *error;
	char buf[4096];

	for (unsigned int i = 0; i <= N_ELEMENTS(inputs); i++) {
		int fds[2];
		struct tpeer s;
		test_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
		peer_init(&s, true);
		s.destroy_on_disconnect = true;
		s.conn = conn_create(fds[0], &peer_set, &peer_vfuncs, &s);
		test_assert(conn_start_tls_server(s.conn, sctx, &error) == 0);
		if (i < N_ELEMENTS(inputs)) {
			size_t len = i == 3 ? 10 : strlen(inputs[i]);
			test_assert(write(fds[1], inputs[i], len) == (ssize_t)len);
		} else {
			/* too short to be anything: the handshake times out */
			test_assert(write(fds[1], "HI\r\n", 4) == 4);
		}
		RUN_UNTIL(ioloop, s.reason != NULL, 5000);
		test_assert_idx(s.reason != NULL && s.conn == NULL, i);
		if (s.reason != NULL && i < N_ELEMENTS(inputs)) {
			test_assert_idx(str_begins(s.reason, "TLS handshake failed: error:"), i);
		} else {
			test_assert_strcmp(s.reason, "TLS handshake timed out");
		}
		/* the client sees the connection closed (after an alert) */
		ssize_t ret;
		while ((ret = read(fds[1], buf, sizeof(buf))) > 0) ;
		/* ECONNRESET: closed with unread garbage still queued */
		test_assert_idx(ret == 0 || (ret < 0 && errno == ECONNRESET), i);
		close(fds[1]);
		peer_deinit(&s);
	}
	tls_context_unref(&sctx);
	test_end();
}

static void test_tls_client_cert(void)
{
	test_begin("tls client certificates");
	struct tls_settings sset = {
		.verify_client_cert = true, .ca_pem = cert_client.cert_pem,
	};
	struct tls_context *sctx = server_ctx(&sset);
	struct tls_settings cset = {
		.cert_pem = cert_client.cert_pem, .key_pem = cert_client.key_pem,
	};
	struct tls_context *cctx_cert = client_ctx(&cset);
	/* a certificate the server does not trust */
	cset.cert_pem = cert_org.cert_pem;
	cset.key_pem = cert_org.key_pem;
	struct tls_context *cctx_bad = client_ctx(&cset);
	struct tls_context *cctx_none = client_ctx(NULL);
	struct tpeer s, c;

	pair_create(&s, &c, &peer_set);
	pair_start_tls(&s, &c, sctx, cctx_cert, "mail.example.com");
	RUN_UNTIL(ioloop, s.line_count == 1 && c.line_count == 1, 5000);
	struct tls_conn *st = conn_get_tls(s.conn);
	test_assert(tls_conn_has_peer_cert(st) && tls_conn_peer_cert_verified(st));
	test_assert_strcmp(tls_conn_get_peer_cn(st), "client.example.com");
	peer_deinit(&s);
	peer_deinit(&c);

	pair_create(&s, &c, &peer_set);
	pair_start_tls(&s, &c, sctx, cctx_bad, "mail.example.com");
	RUN_UNTIL(ioloop, s.line_count == 1 && c.line_count == 1, 5000);
	st = conn_get_tls(s.conn);
	/* accepted (a password may follow) but not verified */
	test_assert(tls_conn_has_peer_cert(st) && !tls_conn_peer_cert_verified(st));
	peer_deinit(&s);
	peer_deinit(&c);

	pair_create(&s, &c, &peer_set);
	pair_start_tls(&s, &c, sctx, cctx_none, "mail.example.com");
	RUN_UNTIL(ioloop, s.line_count == 1 && c.line_count == 1, 5000);
	st = conn_get_tls(s.conn);
	test_assert(!tls_conn_has_peer_cert(st) && !tls_conn_peer_cert_verified(st));
	peer_deinit(&s);
	peer_deinit(&c);
	tls_context_unref(&sctx);

	/* required: no certificate, no session */
	sset.require_client_cert = true;
	sctx = server_ctx(&sset);
	pair_create(&s, &c, &peer_set);
	pair_start_tls(&s, &c, sctx, cctx_none, "mail.example.com");
	RUN_UNTIL(ioloop, s.reason != NULL, 5000);
	test_assert(s.reason != NULL && str_begins(s.reason, "TLS handshake failed:"));
	test_assert(s.line_count == 0);
	peer_deinit(&s);
	peer_deinit(&c);
	tls_context_unref(&sctx);
	tls_context_unref(&cctx_cert);
	tls_context_unref(&cctx_bad);
	tls_context_unref(&cctx_none);
	test_end();
}

static void test_tls_bulk(void)
{
	test_begin("tls bulk: pipelined echo with back-pressure, 8 MB stream");
	struct tls_context *sctx = server_ctx(NULL);
	struct tls_context *cctx = client_ctx(NULL);
	struct conn_settings set = {
		.name = "tls-test", .input_max_size = 2048,
		.output_high_watermark = 16 * 1024,
		.output_low_watermark = 4 * 1024,
	};
	struct tpeer s, c;
	const unsigned int count = 20000;

	/* the client pipelines 2 MB and must read replies meanwhile */
	struct conn_settings client_set = set;
	client_set.input_ignores_output_full = true;
	pair_create2(&s, &c, &set, &client_set);
	s.echo = true;
	pair_start_tls(&s, &c, sctx, cctx, "mail.example.com");
	string_t *req = str_new(system_pool, 256);
	for (unsigned int i = 0; i < count; i++) {
		str_reset(req);
		str_printfa(req, "%u %0100u\r\n", i, i);
		conn_write(c.conn, req->data, str_len(req));
	}
	str_free(&req);
	/* the greeting, the echo of "a NOOP" and count echoes */
	RUN_UNTIL(ioloop, c.line_count == count + 2 || c.reason != NULL ||
		  s.reason != NULL, 60000);
	test_assert(c.line_count == count + 2);
	test_assert(s.line_count == count + 1);
	if (c.line_count != count + 2) {
		test_fail("stalled: client lines %u in %zu out %zu, server "
			  "lines %u in %zu out %zu", c.line_count,
			  conn_input_buffered_size(c.conn),
			  conn_output_buffered_size(c.conn), s.line_count,
			  conn_input_buffered_size(s.conn),
			  conn_output_buffered_size(s.conn));
	}
	test_assert(s.reason == NULL && c.reason == NULL);
	peer_deinit(&s);
	peer_deinit(&c);

	/* a file through TLS: pread() + SSL_write(), no sendfile() */
	const uint64_t size = 8 * 1024 * 1024;
	const char *path = t_strdup_printf("%s/tls-stream", test_dir());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	unsigned char *buf = i_malloc(1024 * 1024);
	for (uint64_t off = 0; off < size; off += 1024 * 1024) {
		for (size_t i = 0; i < 1024 * 1024; i++)
			buf[i] = stream_byte(off + i);
		test_assert(write(fd, buf, 1024 * 1024) == 1024 * 1024);
	}
	i_free(buf);
	pair_create(&s, &c, &peer_set);
	c.stream_mode = true;
	/* the "* OK ready\r\n" greeting is queued before the stream */
	c.stream_skip = 12;
	pair_start_tls(&s, &c, sctx, cctx, "mail.example.com");
	conn_send_stream(s.conn, conn_stream_source_file(fd, 0, size, true));
	RUN_UNTIL(ioloop, c.recv_bytes >= size || c.reason != NULL, 60000);
	test_assert(c.recv_bytes == size && c.recv_bad == 0);
	test_assert(s.streams_finished == 1);
	peer_deinit(&s);
	peer_deinit(&c);
	tls_context_unref(&cctx);
	tls_context_unref(&sctx);
	test_end();
}

static unsigned int raise_nofile_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 1000000 ? 1000000 : (unsigned int)rl.rlim_cur;
}

static void test_tls_memory(void)
{
	test_begin("tls memory of idle connections");
	struct tls_context *sctx = server_ctx(NULL);
	struct tls_context *cctx = client_ctx(NULL);
#ifdef __SANITIZE_ADDRESS__
	unsigned int pairs = 100;
#else
	unsigned int pairs = 1000;
#endif
	pairs = I_MIN(pairs, (raise_nofile_limit() - 64) / 2);
	struct tpeer *s = i_new(struct tpeer, pairs);
	struct tpeer *c = i_new(struct tpeer, pairs);

	/* one warm-up handshake: OpenSSL's lazily built global tables
	   are not per-connection memory */
	bool sr, cr;
	resume_round(sctx, cctx, &sr, &cr);

	struct mallinfo2 before = mallinfo2();
	for (unsigned int i = 0; i < pairs; i++) {
		pair_create(&s[i], &c[i], &peer_set);
		/* the test's line collectors are not the conn's memory */
		str_free(&s[i].lines);
		str_free(&c[i].lines);
		pair_start_tls(&s[i], &c[i], sctx, cctx, "mail.example.com");
	}
	unsigned int done = 0;
	uint64_t deadline = ioloop_msecs_monotonic() + 60000;
	while (done < pairs && ioloop_msecs_monotonic() < deadline) {
		ioloop_run_once(ioloop, 10);
		done = 0;
		for (unsigned int i = 0; i < pairs; i++) {
			done += s[i].line_count == 1 && c[i].line_count == 1 ?
				1 : 0;
		}
	}
	test_assert(done == pairs);
	for (unsigned int i = 0; i < 5; i++)
		ioloop_run_once(ioloop, 1);
	struct mallinfo2 after = mallinfo2();
	size_t buffers = 0;
	for (unsigned int i = 0; i < pairs; i++) {
		buffers += conn_get_buffer_alloc_size(s[i].conn) +
			conn_get_buffer_alloc_size(c[i].conn);
	}
	test_assert(buffers == 0);
	/* the client ends' share is what destroying them gives back */
	for (unsigned int i = 0; i < pairs; i++)
		peer_deinit(&c[i]);
	struct mallinfo2 servers_only = mallinfo2();
	double server_per = ((double)servers_only.uordblks -
			     (double)before.uordblks) / pairs;
	double client_per = ((double)after.uordblks -
			     (double)servers_only.uordblks) / pairs;
	printf("  TLS conn memory: %u idle TLS conns: server end %.0f bytes, "
	       "client end %.0f bytes each\n", pairs * 2, server_per,
	       client_per);
#ifndef __SANITIZE_ADDRESS__
	/* mostly OpenSSL's own state (SSL_new() alone is ~7.5 KiB in 3.0,
	   ~10 KiB after a handshake); without releasing the ~17 KiB record
	   buffers of idle sessions this would be over 30 KiB */
	test_assert(server_per > 0 && server_per < 20 * 1024);
	test_assert(client_per > 0 && client_per < 24 * 1024);
#endif
	for (unsigned int i = 0; i < pairs; i++)
		peer_deinit(&s[i]);
	i_free(s);
	i_free(c);
	tls_context_unref(&cctx);
	tls_context_unref(&sctx);
	test_end();
}

/* --- the data-only record layer (tls_conn_set_data_only()) --- */

/* A client on raw OpenSSL, so the test can make it do what our conns
   never do (KeyUpdate, other cipher suites); nonblocking, stepped
   between rounds of the server's loop. */
struct raw_client {
	SSL_CTX *ctx;
	SSL *ssl;
	string_t *in;
	/* if set, what the client writes waits here until pumped to the
	   socket (to hand the server part of a record) */
	BIO *wmem;
};

/* Move up to max bytes of what the client wrote to the socket. */
static void raw_client_pump(struct raw_client *rc, size_t max)
{
	char buf[4096];

	while (rc->wmem != NULL && max > 0 && BIO_ctrl_pending(rc->wmem) > 0) {
		int n = BIO_read(rc->wmem, buf, (int)I_MIN(max, sizeof(buf)));
		if (n <= 0)
			break;
		ssize_t ret = write(SSL_get_fd(rc->ssl), buf, (size_t)n);
		i_assert(ret == n);
		max -= (size_t)n;
	}
}

static void raw_client_init(struct raw_client *rc, int fd,
			    const char *ciphersuites, int max_version)
{
	rc->ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(rc->ctx, SSL_VERIFY_NONE, NULL);
	if (ciphersuites != NULL)
		i_assert(SSL_CTX_set_ciphersuites(rc->ctx, ciphersuites) == 1);
	if (max_version != 0)
		SSL_CTX_set_max_proto_version(rc->ctx, max_version);
	rc->ssl = SSL_new(rc->ctx);
	SSL_set_fd(rc->ssl, fd);
	SSL_set_connect_state(rc->ssl);
	rc->in = str_new(system_pool, 256);
	rc->wmem = NULL;
}

static void raw_client_deinit(struct raw_client *rc)
{
	int fd = SSL_get_fd(rc->ssl);
	SSL_free(rc->ssl);
	SSL_CTX_free(rc->ctx);
	str_free(&rc->in);
	close(fd);
}

/* Read what there is into rc->in. Returns SSL_get_error() of the last
   SSL_read() (SSL_ERROR_WANT_READ while the session lives). */
static int raw_client_read(struct raw_client *rc)
{
	char buf[4096];
	int ret;
	while ((ret = SSL_read(rc->ssl, buf, sizeof(buf))) > 0)
		str_append_data(rc->in, buf, (size_t)ret);
	return SSL_get_error(rc->ssl, ret);
}

/* Write everything, running the server meanwhile; then wait until
   rc->in has count lines. */
static bool raw_client_exchange(struct raw_client *rc, const void *data,
				size_t size, unsigned int count)
{
	const unsigned char *p = data;
	uint64_t deadline = ioloop_msecs_monotonic() + 20000;

	while (ioloop_msecs_monotonic() < deadline) {
		if (size > 0) {
			int ret = SSL_write(rc->ssl, p, (int)I_MIN(size, 65536));
			if (ret > 0) {
				p += ret;
				size -= (size_t)ret;
			} else if (SSL_get_error(rc->ssl, ret) != SSL_ERROR_WANT_WRITE &&
				   SSL_get_error(rc->ssl, ret) != SSL_ERROR_WANT_READ) {
				return false;
			}
		}
		raw_client_pump(rc, SIZE_MAX);
		int err = raw_client_read(rc);
		raw_client_pump(rc, SIZE_MAX);
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
			return false;
		unsigned int lines = 0;
		for (size_t i = 0; i < str_len(rc->in); i++)
			lines += ((const char *)rc->in->data)[i] == '\n' ? 1 : 0;
		if (size == 0 && lines >= count)
			return true;
		ioloop_run_once(ioloop, 1);
	}
	return false;
}

static void test_tls_data_only_suite(struct tls_context *sctx,
				     const char *ciphersuites, int max_version,
				     bool expect_data_only)
{
	struct tpeer s;
	struct raw_client rc;
	int fds[2];
	const char *error;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0, fds) < 0)
		i_fatal("socketpair() failed: %m");
	peer_init(&s, true);
	s.echo = true;
	s.conn = conn_create(fds[0], &peer_set, &peer_vfuncs, &s);
	raw_client_init(&rc, fds[1], ciphersuites, max_version);
	test_assert(conn_start_tls_server(s.conn, sctx, &error) == 0);
	conn_write_str(s.conn, "* OK ready\r\n");
	test_assert(raw_client_exchange(&rc, "a NOOP\r\n", 8, 2));
	test_assert_strcmp(str_c(rc.in), "* OK ready\r\necho a NOOP\r\n");

	struct tls_conn *st = conn_get_tls(s.conn);
	const char *cipher = t_strdup(tls_conn_get_cipher(st));
	buffer_t *before = buffer_create(system_pool, 64);
	test_assert(tls_conn_get_channel_binding(st,
		TLS_CHANNEL_BINDING_EXPORTER, before, &error) == 0);
	tls_conn_set_data_only(st);
	/* a session holding nothing in flight moves at once */
	test_assert(tls_conn_is_data_only(st) == expect_data_only);
	test_assert_strcmp(tls_conn_get_cipher(st), cipher);
	buffer_t *after = buffer_create(system_pool, 64);
	test_assert(tls_conn_get_channel_binding(st,
		TLS_CHANNEL_BINDING_EXPORTER, after, &error) == 0);
	test_assert(before->used == 32 && after->used == 32 &&
		    memcmp(before->data, after->data, 32) == 0);
	buffer_free(&before);
	buffer_free(&after);
	if (expect_data_only) {
		test_assert_strcmp(tls_conn_get_protocol(st), "TLSv1.3");
		test_assert(!tls_conn_has_pending(st));
		test_assert(conn_get_buffer_alloc_size(s.conn) == 0);
	}

	/* many records both ways, some larger than a record */
	str_truncate(rc.in, 0);
	string_t *req = str_new(system_pool, 300000);
	string_t *want = str_new(system_pool, 300000);
	for (unsigned int i = 0; i < 3000; i++) {
		str_printfa(req, "%u %0*u\r\n", i, (int)(i % 97) + 1, i);
		str_printfa(want, "echo %u %0*u\r\n", i, (int)(i % 97) + 1, i);
	}
	str_append(req, "long ");
	str_append(want, "echo long ");
	for (unsigned int i = 0; i < 40000; i++) {
		str_append_c(req, 'a' + i % 26);
		str_append_c(want, 'a' + i % 26);
	}
	str_append(req, "\r\n");
	str_append(want, "\r\n");
	test_assert(raw_client_exchange(&rc, req->data, str_len(req), 3001));
	test_assert(strcmp(str_c(rc.in), str_c(want)) == 0);
	str_free(&req);
	str_free(&want);

	/* the client updates its keys and asks us to update ours */
	if (max_version == 0) {
		test_assert(SSL_key_update(rc.ssl, SSL_KEY_UPDATE_REQUESTED) == 1);
		str_truncate(rc.in, 0);
		test_assert(raw_client_exchange(&rc, "b NOOP\r\n", 8, 1));
		test_assert_strcmp(str_c(rc.in), "echo b NOOP\r\n");
		/* and once more, after the server answered under new keys */
		test_assert(SSL_key_update(rc.ssl, SSL_KEY_UPDATE_NOT_REQUESTED) == 1);
		str_truncate(rc.in, 0);
		test_assert(raw_client_exchange(&rc, "c NOOP\r\n", 8, 1));
		test_assert_strcmp(str_c(rc.in), "echo c NOOP\r\n");
	}
	test_assert(s.reason == NULL);

	/* close_notify from the client ends the session cleanly */
	(void)SSL_shutdown(rc.ssl);
	RUN_UNTIL(ioloop, s.reason != NULL, 5000);
	test_assert_strcmp(s.reason, "Connection closed");
	peer_deinit(&s);
	raw_client_deinit(&rc);
}

static void test_tls_data_only(void)
{
	test_begin("tls data-only record layer");
	struct tls_context *sctx = server_ctx(NULL);

	test_tls_data_only_suite(sctx, NULL, 0, true);
	test_tls_data_only_suite(sctx, "TLS_AES_128_GCM_SHA256", 0, true);
	test_tls_data_only_suite(sctx, "TLS_CHACHA20_POLY1305_SHA256", 0, true);
	/* not ours to carry: stays with OpenSSL and keeps working */
	test_tls_data_only_suite(sctx, NULL, TLS1_2_VERSION, false);
	tls_context_unref(&sctx);
	struct tls_settings set = { .ciphersuites = "TLS_AES_128_CCM_SHA256" };
	sctx = server_ctx(&set);
	test_tls_data_only_suite(sctx, "TLS_AES_128_CCM_SHA256", 0, false);
	tls_context_unref(&sctx);
	test_end();
}

static void test_tls_data_only_deferred(void)
{
	test_begin("tls data-only: waits while OpenSSL holds part of a record");
	struct tls_context *sctx = server_ctx(NULL);
	struct tpeer s;
	struct raw_client rc;
	int fds[2];
	const char *error;

	i_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
	peer_init(&s, true);
	s.echo = true;
	s.conn = conn_create(fds[0], &peer_set, &peer_vfuncs, &s);
	raw_client_init(&rc, fds[1], NULL, 0);
	rc.wmem = BIO_new(BIO_s_mem());
	SSL_set_bio(rc.ssl, BIO_new_socket(fds[1], BIO_NOCLOSE), rc.wmem);
	test_assert(conn_start_tls_server(s.conn, sctx, &error) == 0);
	test_assert(raw_client_exchange(&rc, "a NOOP\r\n", 8, 1));
	struct tls_conn *st = conn_get_tls(s.conn);

	/* the server gets the first 10 bytes of a record */
	str_truncate(rc.in, 0);
	test_assert(SSL_write(rc.ssl, "b NOOP\r\n", 8) == 8);
	raw_client_pump(&rc, 10);
	for (unsigned int i = 0; i < 20; i++)
		ioloop_run_once(ioloop, 1);
	tls_conn_set_data_only(st);
	test_assert(!tls_conn_is_data_only(st));
	/* the rest comes: OpenSSL reads it, and the session moves once
	   nothing is in flight */
	test_assert(raw_client_exchange(&rc, "", 0, 1));
	test_assert_strcmp(str_c(rc.in), "echo b NOOP\r\n");
	test_assert(tls_conn_is_data_only(st));
	test_assert(SSL_key_update(rc.ssl, SSL_KEY_UPDATE_REQUESTED) == 1);
	str_truncate(rc.in, 0);
	test_assert(raw_client_exchange(&rc, "c NOOP\r\n", 8, 1));
	test_assert_strcmp(str_c(rc.in), "echo c NOOP\r\n");
	test_assert(s.reason == NULL);
	peer_deinit(&s);
	raw_client_deinit(&rc);
	tls_context_unref(&sctx);
	test_end();
}

static void test_tls_data_only_close(void)
{
	test_begin("tls data-only: close_notify, forged record, flood, memory");
	struct tls_context *sctx = server_ctx(NULL);
	struct tpeer s;
	struct raw_client rc;
	int fds[2];
	const char *error;

	/* the server ends: the client gets the last line and close_notify */
	i_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
	peer_init(&s, true);
	s.echo = true;
	s.conn = conn_create(fds[0], &peer_set, &peer_vfuncs, &s);
	raw_client_init(&rc, fds[1], NULL, 0);
	test_assert(conn_start_tls_server(s.conn, sctx, &error) == 0);
	test_assert(raw_client_exchange(&rc, "a NOOP\r\n", 8, 1));
	struct mallinfo2 before = mallinfo2();
	tls_conn_set_data_only(conn_get_tls(s.conn));
	struct mallinfo2 after = mallinfo2();
	test_assert(tls_conn_is_data_only(conn_get_tls(s.conn)));
#ifndef __SANITIZE_ADDRESS__
	/* OpenSSL's state goes, the record layer's ~2.6 KiB stay: 8.3-9.0
	   KiB given back over 90 runs, below 8 KiB once in CI (what OpenSSL
	   holds at that moment varies); kept, the difference would be
	   negative */
	test_assert(after.uordblks + 4 * 1024 < before.uordblks);
	printf("  data-only: %zu bytes given back\n",
	       before.uordblks - after.uordblks);
#else
	(void)before;
	(void)after;
#endif
	conn_write_str(s.conn, "* BYE\r\n");
	peer_deinit(&s);
	str_truncate(rc.in, 0);
	uint64_t deadline = ioloop_msecs_monotonic() + 5000;
	int err = SSL_ERROR_WANT_READ;
	while (err == SSL_ERROR_WANT_READ && ioloop_msecs_monotonic() < deadline)
		err = raw_client_read(&rc);
	test_assert(err == SSL_ERROR_ZERO_RETURN);
	test_assert_strcmp(str_c(rc.in), "* BYE\r\n");
	raw_client_deinit(&rc);

	/* a record that does not authenticate ends the session */
	i_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
	peer_init(&s, true);
	s.echo = true;
	s.conn = conn_create(fds[0], &peer_set, &peer_vfuncs, &s);
	raw_client_init(&rc, fds[1], NULL, 0);
	test_assert(conn_start_tls_server(s.conn, sctx, &error) == 0);
	test_assert(raw_client_exchange(&rc, "a NOOP\r\n", 8, 1));
	tls_conn_set_data_only(conn_get_tls(s.conn));
	static const unsigned char forged[] = {
		23, 3, 3, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
		15, 16, 17, 18, 19, 20
	};
	test_assert(write(fds[1], forged, sizeof(forged)) == sizeof(forged));
	RUN_UNTIL(ioloop, s.reason != NULL, 5000);
	test_assert(s.reason != NULL && strstr(s.reason, "bad record MAC") != NULL);
	peer_deinit(&s);
	raw_client_deinit(&rc);

	/* a flood of records without data (KeyUpdates) is cut off */
	i_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
	peer_init(&s, true);
	s.echo = true;
	s.conn = conn_create(fds[0], &peer_set, &peer_vfuncs, &s);
	raw_client_init(&rc, fds[1], NULL, 0);
	test_assert(conn_start_tls_server(s.conn, sctx, &error) == 0);
	test_assert(raw_client_exchange(&rc, "a NOOP\r\n", 8, 1));
	tls_conn_set_data_only(conn_get_tls(s.conn));
	for (unsigned int i = 0; i < 40; i++) {
		test_assert(SSL_key_update(rc.ssl,
					   SSL_KEY_UPDATE_NOT_REQUESTED) == 1);
		test_assert(SSL_do_handshake(rc.ssl) == 1);
	}
	RUN_UNTIL(ioloop, s.reason != NULL, 5000);
	test_assert(s.reason != NULL &&
		    strstr(s.reason, "too many records without data") != NULL);
	peer_deinit(&s);
	raw_client_deinit(&rc);
	tls_context_unref(&sctx);
	test_end();
}

static void test_tls_setup(void)
{
	test_tls_init();
	ioloop = ioloop_create();
}

static void test_tls_teardown(void)
{
	ioloop_destroy(&ioloop);
	test_tls_deinit();
}

static void test_tls_all(void)
{
	test_tls_setup();
	test_tls_handshake();
	test_tls_starttls();
	test_tls_starttls_client_side();
	test_tls_sni();
	test_tls_resumption();
	test_tls_old_protocol_refused();
	test_tls_garbage();
	test_tls_client_cert();
	test_tls_bulk();
	test_tls_memory();
	test_tls_data_only();
	test_tls_data_only_deferred();
	test_tls_data_only_close();
	test_tls_teardown();
}

test_func_t *const test_tls_tests[] = { test_tls_all, NULL };
