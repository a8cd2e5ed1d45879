/* TLS contexts and per-connection sessions on OpenSSL 3. Contexts turn
   Columba's settings into SSL_CTXs (one per SNI certificate, all
   configured alike); sessions wrap a nonblocking SSL on a socket and
   translate OpenSSL's return codes into "bytes / blocked (wanting read or
   write) / closed / failed" for conn.c. A server session that only
   carries data from some point on (a relayed login) can leave OpenSSL for
   a TLS 1.3 record layer of our own that keeps ~2.6 KiB instead of ~13. */
#include "lib.h"
#include "hash.h"
#include "net.h"
#include "tls.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TLS_SESSION_ID_CONTEXT "columba"
#define TLS_CLIENT_SESSION_CACHE_MAX 1000
#define TLS_PEM_FILE_MAX_SIZE (1024 * 1024)
#define TLS_RECORD_HEADER_LEN 5
#define TLS13_IV_LEN 12
#define TLS13_TAG_LEN 16
#define TLS_MAX_PLAINTEXT (16 * 1024)
/* RFC 8446 5.2: a protected record's body is at most 2^14 + 256 */
#define TLS13_MAX_CIPHERTEXT (TLS_MAX_PLAINTEXT + 256)
#define TLS_EXPORTER_LABEL "EXPORTER-Channel-Binding"
#define TLS_EXPORTER_LEN 32
/* records without data in a row (empty ones, KeyUpdates) before the peer
   is taken for a flood, as OpenSSL does with empty records */
#define TLS_MAX_RECORDS_WITHOUT_DATA 32

struct tls_sni_ctx {
	char *hostname;
	SSL_CTX *ssl_ctx;
};

struct tls_context {
	int refcount;
	bool server;
	bool insecure;
	unsigned int handshake_timeout_msecs;
	SSL_CTX *ssl_ctx;
	struct tls_sni_ctx *sni;
	unsigned int sni_count;
	/* client: session cache key (i_strdup) -> SSL_SESSION */
	struct hash_table *sessions;
};

/* The record layer that replaces OpenSSL's once a TLS 1.3 session only
   carries data (tls_conn_set_data_only()). */
struct tls_record_dir {
	EVP_CIPHER_CTX *cctx;
	unsigned char secret[EVP_MAX_MD_SIZE];
	unsigned char iv[TLS13_IV_LEN];
	uint64_t seq;
};

struct tls_record_layer {
	const EVP_MD *md;
	const EVP_CIPHER *cipher;
	struct tls_record_dir rd, wr;
	/* the record being read: its header, then its body */
	unsigned char hdr[TLS_RECORD_HEADER_LEN];
	size_t hdr_len;
	unsigned char *body;
	size_t body_size, body_len;
	/* decrypted application data (inside body) not yet returned */
	size_t plain_pos, plain_len;
	/* a protected record not yet fully sent, and how many bytes of the
	   caller's data it carries (0 for a KeyUpdate) */
	unsigned char *out;
	size_t out_pos, out_len, out_plain;
	/* what the accessors need once SSL is gone */
	const char *cipher_name;
	int bits, alg_bits;
	bool reused;
	bool have_exporter;
	unsigned char exporter[TLS_EXPORTER_LEN];
	/* records in a row that carried no data */
	unsigned int records_without_data;
	/* the peer asked for a KeyUpdate we have not sent yet */
	bool key_update_due;
	bool close_sent;
	bool eof;
};

/* What the handshake leaves for the record layer: the application
   traffic secrets (from the keylog callback) and how many records went
   each way under them (the msg callback counts record headers after
   each side's Finished). */
struct tls_traffic {
	unsigned char client_secret[EVP_MAX_MD_SIZE];
	unsigned char server_secret[EVP_MAX_MD_SIZE];
	size_t client_secret_len, server_secret_len;
	uint64_t read_records, write_records;
	bool reading_app:1;
	bool writing_app:1;
	/* a KeyUpdate went by: the secrets above are stale */
	bool key_updated:1;
};

struct tls_conn {
	struct tls_context *ctx;
	SSL *ssl;
	int fd;
	char *session_key;
	char *servername;
	struct tls_traffic *traffic;
	/* set: SSL is freed and this carries the data */
	struct tls_record_layer *rl;
	bool handshaked:1;
	/* tls_conn_set_data_only() was called */
	bool data_only:1;
	/* after a fatal error OpenSSL forbids SSL_shutdown() */
	bool failed:1;
	bool hs_want_write:1;
	bool read_want_write:1;
	bool write_want_read:1;
};

static int tls_ex_index = -1;

static void tls_keylog_cb(const SSL *ssl, const char *line);

static int tls_get_ex_index(void)
{
	if (tls_ex_index == -1) {
		tls_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		if (tls_ex_index < 0)
			i_fatal("SSL_get_ex_new_index() failed");
	}
	return tls_ex_index;
}

/* OpenSSL's error queue as one line, emptying it. */
static const char *tls_error_queue_str(void)
{
	string_t *str = t_str_new(128);
	unsigned long err;
	char buf[256];

	while ((err = ERR_get_error()) != 0) {
		if (str_len(str) > 0)
			str_append(str, ", ");
		ERR_error_string_n(err, buf, sizeof(buf));
		str_append(str, buf);
	}
	return str_len(str) == 0 ? "Unknown error" : str_c(str);
}

static int tls_pem_password_cb(char *buf, int size, int rwflag ATTR_UNUSED,
			       void *userdata)
{
	const char *password = userdata;
	if (password == NULL)
		return 0;
	size_t len = strlen(password);
	if (len >= (size_t)size)
		return 0;
	memcpy(buf, password, len + 1);
	return (int)len;
}

int tls_pem_read_file(pool_t pool, const char *path, const char **pem_r,
		      const char **error_r)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		*error_r = t_strdup_printf("fstat(%s) failed: %m", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > TLS_PEM_FILE_MAX_SIZE) {
		*error_r = t_strdup_printf("%s: not a regular file of at most "
					   "%d bytes", path, TLS_PEM_FILE_MAX_SIZE);
		close(fd);
		return -1;
	}
	size_t size = (size_t)st.st_size, pos = 0;
	char *data = p_malloc(pool, size + 1);
	while (pos < size) {
		ssize_t ret = read(fd, data + pos, size - pos);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0) {
			*error_r = ret < 0 ?
				t_strdup_printf("read(%s) failed: %m", path) :
				t_strdup_printf("read(%s): file shrank", path);
			close(fd);
			return -1;
		}
		pos += (size_t)ret;
	}
	close(fd);
	*pem_r = data;
	return 0;
}

static int tls_protocol_parse(const char *name, int *version_r)
{
	static const struct {
		const char *name;
		int version;
	} protocols[] = {
		{ "ANY", 0 },
		{ "SSLv3", SSL3_VERSION },
		{ "TLSv1", TLS1_VERSION },
		{ "TLSv1.1", TLS1_1_VERSION },
		{ "TLSv1.2", TLS1_2_VERSION },
		{ "TLSv1.3", TLS1_3_VERSION },
		{ "LATEST", TLS1_3_VERSION },
	};
	for (unsigned int i = 0; i < N_ELEMENTS(protocols); i++) {
		if (strcasecmp(name, protocols[i].name) == 0) {
			*version_r = protocols[i].version;
			return 0;
		}
	}
	return -1;
}

static int tls_ctx_load_cert_key(SSL_CTX *ssl_ctx, const char *cert_pem,
				 const char *key_pem, const char *password,
				 const char **error_r)
{
	BIO *bio = BIO_new_mem_buf(cert_pem, -1);
	X509 *cert = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
	if (cert == NULL) {
		*error_r = t_strdup_printf("ssl_cert: Can't load certificate: %s",
					   tls_error_queue_str());
		BIO_free(bio);
		return -1;
	}
	int ret = SSL_CTX_use_certificate(ssl_ctx, cert);
	X509_free(cert);
	if (ret != 1) {
		*error_r = t_strdup_printf("ssl_cert: Can't use certificate: %s",
					   tls_error_queue_str());
		BIO_free(bio);
		return -1;
	}
	/* the rest of the PEM is the chain, sent along with the cert */
	X509 *chain;
	while ((chain = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ssl_ctx, chain) != 1) {
			X509_free(chain);
			*error_r = t_strdup_printf("ssl_cert: Can't add chain "
						   "certificate: %s",
						   tls_error_queue_str());
			BIO_free(bio);
			return -1;
		}
	}
	/* the loop ends with a "no start line" error: the end of input */
	ERR_clear_error();
	BIO_free(bio);

	bio = BIO_new_mem_buf(key_pem, -1);
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, tls_pem_password_cb,
						 (void *)password);
	BIO_free(bio);
	if (pkey == NULL) {
		*error_r = t_strdup_printf("ssl_key: Can't load private key: %s",
					   tls_error_queue_str());
		return -1;
	}
	ret = SSL_CTX_use_PrivateKey(ssl_ctx, pkey);
	EVP_PKEY_free(pkey);
	if (ret != 1 || SSL_CTX_check_private_key(ssl_ctx) != 1) {
		*error_r = t_strdup_printf("ssl_key: Key does not match the "
					   "certificate: %s",
					   tls_error_queue_str());
		return -1;
	}
	return 0;
}

static int tls_ctx_load_ca(SSL_CTX *ssl_ctx, const char *ca_pem,
			   bool client_ca_list, const char **error_r)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);
	BIO *bio = BIO_new_mem_buf(ca_pem, -1);
	STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (infos == NULL) {
		*error_r = t_strdup_printf("ssl_ca: Can't read CA certificates: %s",
					   tls_error_queue_str());
		return -1;
	}
	STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
	unsigned int count = 0;
	int ret = 0;
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *info = sk_X509_INFO_value(infos, i);
		if (info->x509 == NULL)
			continue;
		if (X509_STORE_add_cert(store, info->x509) != 1) {
			*error_r = t_strdup_printf("ssl_ca: Can't add CA: %s",
						   tls_error_queue_str());
			ret = -1;
			break;
		}
		sk_X509_NAME_push(names,
			X509_NAME_dup(X509_get_subject_name(info->x509)));
		count++;
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (ret == 0 && count == 0) {
		*error_r = "ssl_ca: No CA certificates found";
		ret = -1;
	}
	if (ret == 0 && client_ca_list) {
		/* tells clients which certificates we accept */
		SSL_CTX_set_client_CA_list(ssl_ctx, names);
	} else {
		sk_X509_NAME_pop_free(names, X509_NAME_free);
	}
	return ret;
}

/* Accept the client's certificate whatever its verification result: the
   result stays in SSL_get_verify_result() for tls_conn_peer_cert_verified(),
   and a client without a valid certificate may still log in with a
   password. */
static int tls_verify_client_lenient_cb(int preverify_ok ATTR_UNUSED,
					X509_STORE_CTX *store ATTR_UNUSED)
{
	return 1;
}

/* Settings common to every context: protocols, ciphers, modes. */
static SSL_CTX *tls_ssl_ctx_new(bool server, const struct tls_settings *set,
				const char **error_r)
{
	SSL_CTX *ssl_ctx = SSL_CTX_new(server ? TLS_server_method() :
				       TLS_client_method());
	if (ssl_ctx == NULL) {
		*error_r = t_strdup_printf("SSL_CTX_new() failed: %s",
					   tls_error_queue_str());
		return NULL;
	}
	/* Renegotiation is a DoS vector and TLS 1.3 has none; an EOF
	   without close_notify is how most mail clients leave, and our
	   protocols frame their own data, so it is a normal close. */
	uint64_t options = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
		SSL_OP_IGNORE_UNEXPECTED_EOF;
	if (set->prefer_server_ciphers)
		options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
	if (set->no_session_tickets)
		options |= SSL_OP_NO_TICKET;
	SSL_CTX_set_options(ssl_ctx, options);
	/* RELEASE_BUFFERS frees OpenSSL's ~34 KiB of record buffers while
	   a connection is idle. PARTIAL_WRITE and MOVING_WRITE_BUFFER let the
	   conn write from a buffer that moves and takes partial writes. */
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_RELEASE_BUFFERS |
			 SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

	const char *error = NULL;
	int version;
	const char *min = set->min_protocol != NULL ? set->min_protocol :
		TLS_DEFAULT_MIN_PROTOCOL;
	if (tls_protocol_parse(min, &version) < 0)
		error = t_strdup_printf("ssl_min_protocol: Unknown protocol '%s'", min);
	else if (SSL_CTX_set_min_proto_version(ssl_ctx, version) != 1)
		error = t_strdup_printf("ssl_min_protocol: Unsupported '%s'", min);
	else if (set->max_protocol != NULL &&
		 tls_protocol_parse(set->max_protocol, &version) < 0)
		error = t_strdup_printf("ssl_max_protocol: Unknown protocol '%s'",
					set->max_protocol);
	else if (set->max_protocol != NULL &&
		 SSL_CTX_set_max_proto_version(ssl_ctx, version) != 1)
		error = t_strdup_printf("ssl_max_protocol: Unsupported '%s'",
					set->max_protocol);
	else if (set->cipher_list != NULL &&
		 SSL_CTX_set_cipher_list(ssl_ctx, set->cipher_list) != 1)
		error = t_strdup_printf("ssl_cipher_list: Invalid '%s': %s",
					set->cipher_list, tls_error_queue_str());
	else if (set->ciphersuites != NULL &&
		 SSL_CTX_set_ciphersuites(ssl_ctx, set->ciphersuites) != 1)
		error = t_strdup_printf("ssl_cipher_suites: Invalid '%s': %s",
					set->ciphersuites, tls_error_queue_str());
	else if (set->curve_list != NULL &&
		 SSL_CTX_set1_groups_list(ssl_ctx, set->curve_list) != 1)
		error = t_strdup_printf("ssl_curve_list: Invalid '%s': %s",
					set->curve_list, tls_error_queue_str());
	if (error != NULL) {
		*error_r = error;
		SSL_CTX_free(ssl_ctx);
		return NULL;
	}
	/* needed for resumption when client certificates are in use */
	SSL_CTX_set_session_id_context(ssl_ctx,
		(const unsigned char *)TLS_SESSION_ID_CONTEXT,
		strlen(TLS_SESSION_ID_CONTEXT));
	return ssl_ctx;
}

/* A complete server SSL_CTX for one certificate. SNI contexts are built
   the same way as the default one: after SSL_set_SSL_CTX() OpenSSL takes
   the certificate and the CA store for client verification from the new
   context. */
static SSL_CTX *tls_server_ssl_ctx_new(const struct tls_settings *set,
				       const char *cert_pem,
				       const char *key_pem,
				       const char **error_r)
{
	if (cert_pem == NULL || key_pem == NULL) {
		*error_r = "ssl_cert and ssl_key are required for a server";
		return NULL;
	}
	SSL_CTX *ssl_ctx = tls_ssl_ctx_new(true, set, error_r);
	if (ssl_ctx == NULL)
		return NULL;
	if (tls_ctx_load_cert_key(ssl_ctx, cert_pem, key_pem,
				  set->key_password, error_r) < 0)
		goto fail;
	if (set->verify_client_cert || set->require_client_cert) {
		if (set->ca_pem == NULL) {
			*error_r = "ssl_verify_client_cert requires ssl_ca";
			goto fail;
		}
		if (tls_ctx_load_ca(ssl_ctx, set->ca_pem, true, error_r) < 0)
			goto fail;
		if (set->require_client_cert) {
			SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER |
					   SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		} else {
			SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER,
					   tls_verify_client_lenient_cb);
		}
	}
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_SERVER);
	if (set->session_cache_size > 0)
		SSL_CTX_sess_set_cache_size(ssl_ctx, set->session_cache_size);
	if (set->session_timeout_secs > 0)
		SSL_CTX_set_timeout(ssl_ctx, set->session_timeout_secs);
	/* one TLS 1.3 ticket instead of two: mail clients resume one
	   connection at a time, and each ticket costs a message and CPU */
	SSL_CTX_set_num_tickets(ssl_ctx, 1);
	/* the application traffic secrets, for tls_conn_set_data_only() */
	SSL_CTX_set_keylog_callback(ssl_ctx, tls_keylog_cb);
	return ssl_ctx;
fail:
	SSL_CTX_free(ssl_ctx);
	return NULL;
}

static const char *tls_name_normalize(const char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		return t_strndup(name, len - 1);
	return name;
}

static bool tls_sni_match(const char *pattern, const char *name)
{
	if (pattern[0] == '*' && pattern[1] == '.') {
		/* a wildcard stands for exactly one label */
		const char *dot = strchr(name, '.');
		return dot != NULL && dot != name &&
			strcasecmp(dot + 1, pattern + 2) == 0;
	}
	return strcasecmp(pattern, name) == 0;
}

static struct tls_sni_ctx *
tls_context_find_sni(struct tls_context *ctx, const char *name)
{
	struct tls_sni_ctx *wildcard = NULL;

	for (unsigned int i = 0; i < ctx->sni_count; i++) {
		struct tls_sni_ctx *sni = &ctx->sni[i];
		if (!tls_sni_match(sni->hostname, name))
			continue;
		if (sni->hostname[0] != '*')
			return sni;
		if (wildcard == NULL)
			wildcard = sni;
	}
	return wildcard;
}

static int tls_servername_cb(SSL *ssl, int *al ATTR_UNUSED, void *arg)
{
	struct tls_context *ctx = arg;
	struct tls_conn *tls = SSL_get_ex_data(ssl, tls_get_ex_index());
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (name == NULL || *name == '\0' || tls == NULL)
		return SSL_TLSEXT_ERR_OK;
	T_BEGIN {
		name = tls_name_normalize(name);
		i_free(tls->servername);
		tls->servername = i_strdup(name);
	} T_END;
	struct tls_sni_ctx *sni = tls_context_find_sni(ctx, tls->servername);
	if (sni != NULL && SSL_set_SSL_CTX(ssl, sni->ssl_ctx) == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	/* no match: the default certificate answers */
	return SSL_TLSEXT_ERR_OK;
}

static void tls_context_free(struct tls_context *ctx)
{
	for (unsigned int i = 0; i < ctx->sni_count; i++) {
		i_free(ctx->sni[i].hostname);
		SSL_CTX_free(ctx->sni[i].ssl_ctx);
	}
	i_free(ctx->sni);
	if (ctx->sessions != NULL) {
		struct hash_iterate iter;
		void *key, *value;
		hash_table_iterate_init(ctx->sessions, &iter);
		while (hash_table_iterate(&iter, &key, &value)) {
			free(key);
			SSL_SESSION_free(value);
		}
		hash_table_destroy(&ctx->sessions);
	}
	SSL_CTX_free(ctx->ssl_ctx);
	i_free(ctx);
}

static struct tls_context *tls_context_new(const struct tls_settings *set,
					   bool server)
{
	struct tls_context *ctx = i_new(struct tls_context, 1);
	ctx->refcount = 1;
	ctx->server = server;
	ctx->insecure = set->insecure;
	ctx->handshake_timeout_msecs = set->handshake_timeout_msecs != 0 ?
		set->handshake_timeout_msecs : TLS_DEFAULT_HANDSHAKE_TIMEOUT_MSECS;
	return ctx;
}

struct tls_context *tls_context_create_server(const struct tls_settings *set,
					      const char **error_r)
{
	struct tls_context *ctx = tls_context_new(set, true);

	(void)tls_get_ex_index();
	ctx->ssl_ctx = tls_server_ssl_ctx_new(set, set->cert_pem, set->key_pem,
					      error_r);
	if (ctx->ssl_ctx == NULL) {
		tls_context_free(ctx);
		return NULL;
	}
	if (set->sni_certs_count > 0)
		ctx->sni = i_new(struct tls_sni_ctx, set->sni_certs_count);
	for (unsigned int i = 0; i < set->sni_certs_count; i++) {
		const struct tls_sni_cert *sc = &set->sni_certs[i];
		const char *error;
		SSL_CTX *sctx = tls_server_ssl_ctx_new(set, sc->cert_pem,
						       sc->key_pem, &error);
		if (sctx == NULL) {
			*error_r = t_strdup_printf("SNI %s: %s", sc->hostname,
						   error);
			tls_context_free(ctx);
			return NULL;
		}
		ctx->sni[ctx->sni_count].hostname =
			i_strdup(tls_name_normalize(sc->hostname));
		ctx->sni[ctx->sni_count++].ssl_ctx = sctx;
	}
	/* installed even without SNI certificates: it records the name the
	   client asked for, which login uses for per-domain settings */
	SSL_CTX_set_tlsext_servername_callback(ctx->ssl_ctx, tls_servername_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx->ssl_ctx, ctx);
	return ctx;
}

/* A client session arrived (after the handshake with TLS 1.2, in a
   post-handshake NewSessionTicket with TLS 1.3): keep the newest per
   key. */
static int tls_client_new_session_cb(SSL *ssl, SSL_SESSION *session)
{
	struct tls_conn *tls = SSL_get_ex_data(ssl, tls_get_ex_index());
	if (tls == NULL || tls->session_key == NULL)
		return 0;

	struct hash_table *sessions = tls->ctx->sessions;
	void *old_key, *old_session;
	if (hash_table_lookup_full(sessions, tls->session_key, &old_key,
				   &old_session)) {
		hash_table_remove(sessions, tls->session_key);
		free(old_key);
		SSL_SESSION_free(old_session);
	} else if (hash_table_count(sessions) >= TLS_CLIENT_SESSION_CACHE_MAX) {
		/* a proxy talks to a bounded set of backends; this only
		   stops a pathological config from growing without end */
		struct hash_iterate iter;
		void *key, *value;
		hash_table_iterate_init(sessions, &iter);
		while (hash_table_iterate(&iter, &key, &value)) {
			free(key);
			SSL_SESSION_free(value);
		}
		hash_table_clear(sessions);
	}
	hash_table_insert(sessions, i_strdup(tls->session_key), session);
	/* 1 = we keep the reference */
	return 1;
}

struct tls_context *tls_context_create_client(const struct tls_settings *set,
					      const char **error_r)
{
	struct tls_context *ctx = tls_context_new(set, false);

	(void)tls_get_ex_index();
	ctx->ssl_ctx = tls_ssl_ctx_new(false, set, error_r);
	if (ctx->ssl_ctx == NULL)
		goto fail;
	if (set->cert_pem != NULL &&
	    tls_ctx_load_cert_key(ctx->ssl_ctx, set->cert_pem, set->key_pem,
				  set->key_password, error_r) < 0)
		goto fail;
	if (!set->insecure) {
		if (set->ca_pem != NULL) {
			if (tls_ctx_load_ca(ctx->ssl_ctx, set->ca_pem, false,
					    error_r) < 0)
				goto fail;
		} else if (SSL_CTX_set_default_verify_paths(ctx->ssl_ctx) != 1) {
			*error_r = t_strdup_printf("Can't load the system CA "
						   "store: %s",
						   tls_error_queue_str());
			goto fail;
		}
		SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, NULL);
	}
	ctx->sessions = hash_table_create_str(system_pool, 16);
	/* OpenSSL's client "cache" stores nothing by itself: the callback
	   keeps sessions, keyed by server, for tls_conn_create() */
	SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_CLIENT |
				       SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx->ssl_ctx, tls_client_new_session_cb);
	return ctx;
fail:
	tls_context_free(ctx);
	return NULL;
}

void tls_context_ref(struct tls_context *ctx)
{
	i_assert(ctx->refcount > 0);
	ctx->refcount++;
}

void tls_context_unref(struct tls_context **_ctx)
{
	struct tls_context *ctx = *_ctx;
	*_ctx = NULL;
	if (ctx == NULL)
		return;
	i_assert(ctx->refcount > 0);
	if (--ctx->refcount == 0)
		tls_context_free(ctx);
}

unsigned int tls_context_get_handshake_timeout_msecs(const struct tls_context *ctx)
{
	return ctx->handshake_timeout_msecs;
}

/* --- the data-only record layer (tls_conn_set_data_only()) ---

   A relayed session keeps its TLS state for as long as the client stays,
   and OpenSSL's is ~13 KiB after the handshake (the SSL object alone is
   7.4 KiB in 3.0, the session, certificate and key-exchange objects and
   handshake digests the rest). Once a
   TLS 1.3 session only carries data, what it needs is the two AEAD
   contexts, their IVs and sequence numbers, and the secrets for a
   KeyUpdate: RFC 8446 section 5. The traffic secrets come from the
   keylog callback and the sequence numbers from the msg callback, which
   sees every record header; OpenSSL must hold no partial record when the
   state moves (SSL_free_buffers() refuses otherwise). Kernel TLS takes
   over a session the same way. */

static void tls_keylog_cb(const SSL *ssl, const char *line)
{
	struct tls_conn *tls = SSL_get_ex_data(ssl, tls_get_ex_index());
	unsigned char *dest;
	size_t *len_r;

	if (tls == NULL || tls->traffic == NULL)
		return;
	if (str_begins(line, "CLIENT_TRAFFIC_SECRET_0 ")) {
		dest = tls->traffic->client_secret;
		len_r = &tls->traffic->client_secret_len;
	} else if (str_begins(line, "SERVER_TRAFFIC_SECRET_0 ")) {
		dest = tls->traffic->server_secret;
		len_r = &tls->traffic->server_secret_len;
	} else {
		return;
	}
	/* "LABEL <client random> <secret>", both in hex */
	const char *hex = strchr(line, ' ');
	hex = hex == NULL ? NULL : strchr(hex + 1, ' ');
	*len_r = 0;
	if (hex == NULL)
		return;
	hex++;
	size_t len = strlen(hex);
	if (len % 2 != 0 || len / 2 > EVP_MAX_MD_SIZE)
		return;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)hex[i * 2]);
		int lo = OPENSSL_hexchar2int((unsigned char)hex[i * 2 + 1]);
		if (hi < 0 || lo < 0)
			return;
		dest[i] = (unsigned char)(hi << 4 | lo);
	}
	*len_r = len / 2;
}

static void tls_msg_cb(int write_p, int version ATTR_UNUSED,
		       int content_type, const void *buf, size_t len,
		       SSL *ssl ATTR_UNUSED, void *arg)
{
	struct tls_conn *tls = arg;
	struct tls_traffic *t = tls->traffic;
	const unsigned char *p = buf;

	if (t == NULL)
		return;
	if (content_type == SSL3_RT_HEADER) {
		/* a record under the application keys: one sequence
		   number (the header of the record that carried Finished
		   came before Finished itself) */
		if (write_p != 0 && t->writing_app)
			t->write_records++;
		else if (write_p == 0 && t->reading_app)
			t->read_records++;
	} else if (content_type == SSL3_RT_HANDSHAKE && len > 0) {
		if (p[0] == SSL3_MT_FINISHED) {
			if (write_p != 0)
				t->writing_app = true;
			else
				t->reading_app = true;
		} else if (p[0] == SSL3_MT_KEY_UPDATE) {
			t->key_updated = true;
		}
	}
}

static void tls_traffic_free(struct tls_traffic **_t)
{
	struct tls_traffic *t = *_t;
	*_t = NULL;
	if (t == NULL)
		return;
	OPENSSL_cleanse(t, sizeof(*t));
	i_free(t);
}

/* HKDF-Expand-Label(secret, label, "", out_len), RFC 8446 7.1 */
static int tls13_expand_label(const EVP_MD *md, const unsigned char *secret,
			      size_t secret_len, const char *label,
			      unsigned char *out, size_t out_len)
{
	unsigned char info[2 + 1 + 6 + 32 + 1];
	size_t label_len = strlen(label);
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;

	i_assert(label_len <= 32 && out_len <= 0xffff);
	info[0] = (unsigned char)(out_len >> 8);
	info[1] = (unsigned char)out_len;
	info[2] = (unsigned char)(6 + label_len);
	memcpy(info + 3, "tls13 ", 6);
	memcpy(info + 9, label, label_len);
	info[9 + label_len] = 0;

	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	EVP_KDF_CTX *kctx = kdf == NULL ? NULL : EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (kctx == NULL)
		return -1;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
			(char *)EVP_MD_get0_name(md), 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
			(void *)secret, secret_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
			info, 10 + label_len),
		OSSL_PARAM_construct_end(),
	};
	int ret = EVP_KDF_derive(kctx, out, out_len, params) == 1 ? 0 : -1;
	EVP_KDF_CTX_free(kctx);
	return ret;
}

/* Key and IV from dir->secret; the sequence number starts again. */
static int tls_rl_dir_init(struct tls_record_layer *rl,
			   struct tls_record_dir *dir, bool encrypt)
{
	unsigned char key[EVP_MAX_KEY_LENGTH];
	size_t hash_len = (size_t)EVP_MD_get_size(rl->md);
	size_t key_len = (size_t)EVP_CIPHER_get_key_length(rl->cipher);
	int ret = -1;

	if (key_len > sizeof(key) ||
	    tls13_expand_label(rl->md, dir->secret, hash_len, "key",
			       key, key_len) < 0 ||
	    tls13_expand_label(rl->md, dir->secret, hash_len, "iv",
			       dir->iv, TLS13_IV_LEN) < 0)
		goto out;
	if (dir->cctx == NULL)
		dir->cctx = EVP_CIPHER_CTX_new();
	if (dir->cctx != NULL &&
	    EVP_CipherInit_ex(dir->cctx, rl->cipher, NULL, key, NULL,
			      encrypt ? 1 : 0) == 1)
		ret = 0;
	dir->seq = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	return ret;
}

/* KeyUpdate: the next generation of a direction's secret and keys. */
static int tls_rl_dir_update(struct tls_record_layer *rl,
			     struct tls_record_dir *dir, bool encrypt)
{
	unsigned char next[EVP_MAX_MD_SIZE];
	size_t hash_len = (size_t)EVP_MD_get_size(rl->md);

	if (tls13_expand_label(rl->md, dir->secret, hash_len, "traffic upd",
			       next, hash_len) < 0)
		return -1;
	memcpy(dir->secret, next, hash_len);
	OPENSSL_cleanse(next, sizeof(next));
	return tls_rl_dir_init(rl, dir, encrypt);
}

static void tls_rl_nonce(const struct tls_record_dir *dir,
			 unsigned char nonce[TLS13_IV_LEN])
{
	memcpy(nonce, dir->iv, TLS13_IV_LEN);
	for (unsigned int i = 0; i < 8; i++)
		nonce[TLS13_IV_LEN - 1 - i] ^= (unsigned char)(dir->seq >> (8 * i));
}

static void tls_rl_body_free(struct tls_record_layer *rl)
{
	i_free(rl->body);
	rl->body = NULL;
	rl->body_size = rl->body_len = 0;
	rl->plain_pos = rl->plain_len = 0;
}

static void tls_rl_out_free(struct tls_record_layer *rl)
{
	i_free(rl->out);
	rl->out = NULL;
	rl->out_pos = rl->out_len = rl->out_plain = 0;
}

/* Protect one record (inner content type and data) into rl->out. */
static int tls_rl_seal(struct tls_record_layer *rl, unsigned char type,
		       const void *data, size_t size)
{
	EVP_CIPHER_CTX *cctx = rl->wr.cctx;
	size_t body = size + 1 + TLS13_TAG_LEN;
	unsigned char nonce[TLS13_IV_LEN];
	int len;

	i_assert(rl->out == NULL && size <= TLS_MAX_PLAINTEXT);
	if (rl->wr.seq == UINT64_MAX)
		return -1;
	unsigned char *out = i_malloc(TLS_RECORD_HEADER_LEN + body);
	out[0] = SSL3_RT_APPLICATION_DATA;
	out[1] = 3;
	out[2] = 3;
	out[3] = (unsigned char)(body >> 8);
	out[4] = (unsigned char)body;
	unsigned char *p = out + TLS_RECORD_HEADER_LEN;
	if (size > 0)
		memcpy(p, data, size);
	p[size] = type;
	tls_rl_nonce(&rl->wr, nonce);
	if (EVP_EncryptInit_ex(cctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(cctx, NULL, &len, out, TLS_RECORD_HEADER_LEN) != 1 ||
	    EVP_EncryptUpdate(cctx, p, &len, p, (int)size + 1) != 1 ||
	    EVP_EncryptFinal_ex(cctx, p + size + 1, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_AEAD_GET_TAG, TLS13_TAG_LEN,
				p + size + 1) != 1) {
		i_free(out);
		return -1;
	}
	rl->wr.seq++;
	rl->out = out;
	rl->out_len = TLS_RECORD_HEADER_LEN + body;
	rl->out_pos = 0;
	return 0;
}

/* Send rl->out. 1 = sent (and freed), 0 = the socket is full, -1 =
   failed. */
static int tls_rl_flush(struct tls_conn *tls, const char **error_r)
{
	struct tls_record_layer *rl = tls->rl;

	while (rl->out_pos < rl->out_len) {
		ssize_t ret = send(tls->fd, rl->out + rl->out_pos,
				   rl->out_len - rl->out_pos, MSG_NOSIGNAL);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			tls->failed = true;
			*error_r = errno == EPIPE || errno == ECONNRESET ?
				"Connection closed" : t_strerror(errno);
			return -1;
		}
		rl->out_pos += (size_t)ret;
	}
	size_t plain = rl->out_plain;
	tls_rl_out_free(rl);
	rl->out_plain = plain;
	return 1;
}

/* A fatal alert, best effort (one nonblocking send), and the session is
   over. */
static void tls_rl_fail(struct tls_conn *tls, unsigned char desc,
			const char *error, const char **error_r)
{
	struct tls_record_layer *rl = tls->rl;
	const unsigned char alert[2] = { SSL3_AL_FATAL, desc };
	const char *ignored;

	*error_r = error;
	if (!tls->failed && rl->out == NULL &&
	    tls_rl_seal(rl, SSL3_RT_ALERT, alert, sizeof(alert)) == 0)
		(void)tls_rl_flush(tls, &ignored);
	tls->failed = true;
}

/* The KeyUpdate the peer asked for, once nothing else is being sent:
   it goes out under the old keys, everything after under the new. */
static int tls_rl_queue_key_update(struct tls_conn *tls, const char **error_r)
{
	static const unsigned char key_update[] = {
		SSL3_MT_KEY_UPDATE, 0, 0, 1, SSL_KEY_UPDATE_NOT_REQUESTED
	};
	struct tls_record_layer *rl = tls->rl;

	if (!rl->key_update_due || rl->out != NULL)
		return 0;
	rl->key_update_due = false;
	if (tls_rl_seal(rl, SSL3_RT_HANDSHAKE, key_update,
			sizeof(key_update)) < 0 ||
	    tls_rl_dir_update(rl, &rl->wr, true) < 0) {
		tls->failed = true;
		*error_r = "KeyUpdate failed";
		return -1;
	}
	return tls_rl_flush(tls, error_r) < 0 ? -1 : 0;
}

static int tls_rl_open(struct tls_record_layer *rl, unsigned char *type_r,
		       size_t *len_r)
{
	EVP_CIPHER_CTX *cctx = rl->rd.cctx;
	size_t clen = rl->body_size - TLS13_TAG_LEN;
	unsigned char nonce[TLS13_IV_LEN];
	unsigned char *body = rl->body;
	int len, flen;

	if (rl->rd.seq == UINT64_MAX)
		return -1;
	tls_rl_nonce(&rl->rd, nonce);
	if (EVP_DecryptInit_ex(cctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_AEAD_SET_TAG, TLS13_TAG_LEN,
				body + clen) != 1 ||
	    EVP_DecryptUpdate(cctx, NULL, &len, rl->hdr,
			      TLS_RECORD_HEADER_LEN) != 1 ||
	    EVP_DecryptUpdate(cctx, body, &len, body, (int)clen) != 1 ||
	    EVP_DecryptFinal_ex(cctx, body + len, &flen) != 1)
		return -1;
	rl->rd.seq++;
	/* TLSInnerPlaintext: content, type, zero padding */
	size_t n = clen;
	while (n > 0 && body[n - 1] == 0)
		n--;
	if (n == 0)
		return -1;
	*type_r = body[n - 1];
	*len_r = n - 1;
	return 0;
}

/* Read and process one record. 1 = processed (rl->plain_* may hold
   data), 0 = blocked, -1 = closed (*error_r NULL) or failed. */
static int tls_rl_read_record(struct tls_conn *tls, const char **error_r)
{
	struct tls_record_layer *rl = tls->rl;

	while (rl->hdr_len < TLS_RECORD_HEADER_LEN ||
	       rl->body_len < rl->body_size) {
		unsigned char *dest;
		size_t want;
		if (rl->hdr_len < TLS_RECORD_HEADER_LEN) {
			dest = rl->hdr + rl->hdr_len;
			want = TLS_RECORD_HEADER_LEN - rl->hdr_len;
		} else {
			dest = rl->body + rl->body_len;
			want = rl->body_size - rl->body_len;
		}
		ssize_t ret = recv(tls->fd, dest, want, 0);
		if (ret == 0) {
			/* like OpenSSL with SSL_OP_IGNORE_UNEXPECTED_EOF */
			rl->eof = true;
			return -1;
		}
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			tls->failed = true;
			if (errno != ECONNRESET)
				*error_r = t_strerror(errno);
			return -1;
		}
		if (rl->hdr_len < TLS_RECORD_HEADER_LEN) {
			rl->hdr_len += (size_t)ret;
			if (rl->hdr_len < TLS_RECORD_HEADER_LEN)
				continue;
			size_t len = (size_t)rl->hdr[3] << 8 | rl->hdr[4];
			if (rl->hdr[0] != SSL3_RT_APPLICATION_DATA) {
				tls_rl_fail(tls, SSL3_AD_UNEXPECTED_MESSAGE,
					    "unexpected record type", error_r);
				return -1;
			}
			if (len < TLS13_TAG_LEN + 1 ||
			    len > TLS13_MAX_CIPHERTEXT) {
				tls_rl_fail(tls, TLS1_AD_RECORD_OVERFLOW,
					    "bad record length", error_r);
				return -1;
			}
			rl->body = i_malloc(len);
			rl->body_size = len;
		} else {
			rl->body_len += (size_t)ret;
		}
	}
	rl->hdr_len = 0;

	unsigned char type;
	size_t len;
	if (tls_rl_open(rl, &type, &len) < 0) {
		tls_rl_body_free(rl);
		tls_rl_fail(tls, SSL3_AD_BAD_RECORD_MAC, "bad record MAC",
			    error_r);
		return -1;
	}
	if (len > TLS_MAX_PLAINTEXT) {
		tls_rl_body_free(rl);
		tls_rl_fail(tls, TLS1_AD_RECORD_OVERFLOW, "record overflow",
			    error_r);
		return -1;
	}
	const unsigned char *p = rl->body;
	if (type == SSL3_RT_APPLICATION_DATA && len > 0) {
		rl->records_without_data = 0;
	} else if (++rl->records_without_data > TLS_MAX_RECORDS_WITHOUT_DATA) {
		tls_rl_body_free(rl);
		tls_rl_fail(tls, SSL3_AD_UNEXPECTED_MESSAGE,
			    "too many records without data", error_r);
		return -1;
	}
	switch (type) {
	case SSL3_RT_APPLICATION_DATA:
		if (len == 0) {
			tls_rl_body_free(rl);
		} else {
			rl->plain_pos = 0;
			rl->plain_len = len;
		}
		return 1;
	case SSL3_RT_ALERT:
		if (len == 2 && p[1] == SSL3_AD_CLOSE_NOTIFY) {
			tls_rl_body_free(rl);
			rl->eof = true;
			return -1;
		}
		if (len == 2 && p[0] == SSL3_AL_WARNING &&
		    p[1] == SSL_AD_USER_CANCELLED) {
			/* a close_notify follows */
			tls_rl_body_free(rl);
			return 1;
		}
		tls->failed = true;
		*error_r = len != 2 ? "invalid alert" :
			t_strdup_printf("alert received: %s",
					SSL_alert_desc_string_long(p[1]));
		tls_rl_body_free(rl);
		return -1;
	case SSL3_RT_HANDSHAKE:
		/* the only handshake message a server gets after the
		   handshake (no post-handshake authentication) is KeyUpdate,
		   which ends its record since the keys change after it */
		if (len == 5 && p[0] == SSL3_MT_KEY_UPDATE && p[1] == 0 &&
		    p[2] == 0 && p[3] == 1 &&
		    (p[4] == SSL_KEY_UPDATE_NOT_REQUESTED ||
		     p[4] == SSL_KEY_UPDATE_REQUESTED)) {
			if (p[4] == SSL_KEY_UPDATE_REQUESTED)
				rl->key_update_due = true;
			tls_rl_body_free(rl);
			if (tls_rl_dir_update(rl, &rl->rd, false) < 0) {
				tls_rl_fail(tls, SSL3_AD_HANDSHAKE_FAILURE,
					    "KeyUpdate failed", error_r);
				return -1;
			}
			return 1;
		}
		tls_rl_body_free(rl);
		tls_rl_fail(tls, SSL3_AD_UNEXPECTED_MESSAGE,
			    "unexpected handshake message", error_r);
		return -1;
	default:
		tls_rl_body_free(rl);
		tls_rl_fail(tls, SSL3_AD_UNEXPECTED_MESSAGE,
			    "unexpected content type", error_r);
		return -1;
	}
}

static ssize_t tls_rl_read(struct tls_conn *tls, void *buf, size_t size,
			   const char **error_r)
{
	struct tls_record_layer *rl = tls->rl;

	*error_r = NULL;
	tls->read_want_write = false;
	if (rl->eof)
		return -1;
	if (tls->failed) {
		*error_r = "TLS session failed";
		return -1;
	}
	for (;;) {
		if (rl->plain_pos < rl->plain_len) {
			size_t n = I_MIN(size, rl->plain_len - rl->plain_pos);
			memcpy(buf, rl->body + rl->plain_pos, n);
			rl->plain_pos += n;
			if (rl->plain_pos == rl->plain_len)
				tls_rl_body_free(rl);
			return (ssize_t)n;
		}
		/* a KeyUpdate the peer asked for goes out first; a data
		   record in flight is the writer's */
		if (tls_rl_queue_key_update(tls, error_r) < 0)
			return -1;
		if (rl->out != NULL && rl->out_plain == 0) {
			int ret = tls_rl_flush(tls, error_r);
			if (ret < 0)
				return -1;
			if (ret == 0) {
				tls->read_want_write = true;
				return 0;
			}
		}
		int ret = tls_rl_read_record(tls, error_r);
		if (ret <= 0)
			return ret;
	}
}

static ssize_t tls_rl_write(struct tls_conn *tls, const void *data,
			    size_t size, const char **error_r)
{
	struct tls_record_layer *rl = tls->rl;

	*error_r = NULL;
	tls->write_want_read = false;
	if (tls->failed || rl->eof) {
		*error_r = "Connection closed";
		return -1;
	}
	for (;;) {
		if (rl->out != NULL) {
			int ret = tls_rl_flush(tls, error_r);
			if (ret <= 0)
				return ret;
			/* a record of the caller's data is out: it counts
			   now, as the same bytes were offered again */
			size_t taken = rl->out_plain;
			rl->out_plain = 0;
			if (taken > size) {
				/* the contract in tls.h was broken: the
				   record carries bytes not offered again */
				tls->failed = true;
				*error_r = "bad write retry";
				return -1;
			}
			if (taken > 0) {
				if (tls_rl_queue_key_update(tls, error_r) < 0)
					return -1;
				return (ssize_t)taken;
			}
		}
		if (tls_rl_queue_key_update(tls, error_r) < 0)
			return -1;
		if (rl->out == NULL)
			break;
	}
	size_t n = I_MIN(size, TLS_MAX_PLAINTEXT);
	if (tls_rl_seal(rl, SSL3_RT_APPLICATION_DATA, data, n) < 0) {
		tls->failed = true;
		*error_r = "record encryption failed";
		return -1;
	}
	rl->out_plain = n;
	int ret = tls_rl_flush(tls, error_r);
	if (ret <= 0)
		return ret;
	rl->out_plain = 0;
	return (ssize_t)n;
}

static void tls_rl_shutdown(struct tls_conn *tls)
{
	struct tls_record_layer *rl = tls->rl;
	const unsigned char alert[2] = { SSL3_AL_WARNING, SSL3_AD_CLOSE_NOTIFY };
	const char *error;

	if (tls->failed || rl->out != NULL || rl->close_sent)
		return;
	rl->close_sent = true;
	if (tls_rl_seal(rl, SSL3_RT_ALERT, alert, sizeof(alert)) == 0)
		(void)tls_rl_flush(tls, &error);
}

static void tls_rl_free(struct tls_record_layer **_rl)
{
	struct tls_record_layer *rl = *_rl;
	*_rl = NULL;
	if (rl == NULL)
		return;
	EVP_CIPHER_CTX_free(rl->rd.cctx);
	EVP_CIPHER_CTX_free(rl->wr.cctx);
	i_free(rl->body);
	i_free(rl->out);
	OPENSSL_cleanse(rl, sizeof(*rl));
	i_free(rl);
}

/* Move the session from OpenSSL to the record layer if it qualifies and
   OpenSSL holds nothing in flight. */
static void tls_conn_try_data_only(struct tls_conn *tls)
{
	SSL *ssl = tls->ssl;
	struct tls_traffic *t = tls->traffic;
	const EVP_CIPHER *cipher;
	const EVP_MD *md;

	if (tls->rl != NULL || !tls->data_only || tls->failed ||
	    !tls->handshaked || t == NULL)
		return;
	if (SSL_version(ssl) != TLS1_3_VERSION || t->key_updated ||
	    !t->reading_app || !t->writing_app ||
	    SSL_get_shutdown(ssl) != 0 || !SSL_is_init_finished(ssl) ||
	    SSL_get0_peer_certificate(ssl) != NULL) {
		/* stays with OpenSSL */
		tls_traffic_free(&tls->traffic);
		return;
	}
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	switch (c == NULL ? 0 : SSL_CIPHER_get_protocol_id(c)) {
	case 0x1301:
		cipher = EVP_aes_128_gcm();
		md = EVP_sha256();
		break;
	case 0x1302:
		cipher = EVP_aes_256_gcm();
		md = EVP_sha384();
		break;
	case 0x1303:
		cipher = EVP_chacha20_poly1305();
		md = EVP_sha256();
		break;
	default:
		/* the CCM suites: not handled here */
		tls_traffic_free(&tls->traffic);
		return;
	}
	size_t hash_len = (size_t)EVP_MD_get_size(md);
	if (t->client_secret_len != hash_len ||
	    t->server_secret_len != hash_len) {
		tls_traffic_free(&tls->traffic);
		return;
	}
	/* no decrypted data, no partial record either way */
	if (SSL_pending(ssl) > 0 || SSL_free_buffers(ssl) != 1)
		return;

	struct tls_record_layer *rl = i_new(struct tls_record_layer, 1);
	rl->md = md;
	rl->cipher = cipher;
	memcpy(rl->rd.secret, t->client_secret, hash_len);
	memcpy(rl->wr.secret, t->server_secret, hash_len);
	if (tls_rl_dir_init(rl, &rl->rd, false) < 0 ||
	    tls_rl_dir_init(rl, &rl->wr, true) < 0) {
		tls_rl_free(&rl);
		tls_traffic_free(&tls->traffic);
		ERR_clear_error();
		return;
	}
	rl->rd.seq = t->read_records;
	rl->wr.seq = t->write_records;
	rl->cipher_name = SSL_CIPHER_get_name(c);
	rl->bits = SSL_CIPHER_get_bits(c, &rl->alg_bits);
	rl->reused = SSL_session_reused(ssl) == 1;
	rl->have_exporter = SSL_export_keying_material(ssl, rl->exporter,
		sizeof(rl->exporter), TLS_EXPORTER_LABEL,
		strlen(TLS_EXPORTER_LABEL), NULL, 0, 0) == 1;
	ERR_clear_error();
	tls_traffic_free(&tls->traffic);
	SSL_free(ssl);
	tls->ssl = NULL;
	tls->rl = rl;
}

void tls_conn_set_data_only(struct tls_conn *tls)
{
	tls->data_only = true;
	tls_conn_try_data_only(tls);
}

bool tls_conn_is_data_only(const struct tls_conn *tls)
{
	return tls->rl != NULL;
}

/* --- sessions --- */

struct tls_conn *tls_conn_create(struct tls_context *ctx, int fd,
				 const char *servername,
				 const char *session_key, const char **error_r)
{
	ERR_clear_error();
	SSL *ssl = SSL_new(ctx->ssl_ctx);
	if (ssl == NULL) {
		*error_r = t_strdup_printf("SSL_new() failed: %s",
					   tls_error_queue_str());
		return NULL;
	}
	if (SSL_set_fd(ssl, fd) != 1) {
		*error_r = t_strdup_printf("SSL_set_fd() failed: %s",
					   tls_error_queue_str());
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);

	struct tls_conn *tls = i_new(struct tls_conn, 1);
	tls->ssl = ssl;
	tls->fd = fd;
	tls->ctx = ctx;
	tls_context_ref(ctx);
	SSL_set_ex_data(ssl, tls_get_ex_index(), tls);

	if (ctx->server) {
		tls->traffic = i_new(struct tls_traffic, 1);
		SSL_set_msg_callback(ssl, tls_msg_cb);
		SSL_set_msg_callback_arg(ssl, tls);
		SSL_set_accept_state(ssl);
		return tls;
	}
	SSL_set_connect_state(ssl);
	if (servername != NULL) {
		struct ip_addr ip;
		bool is_ip = net_addr2ip(servername, &ip) == 0;
		tls->servername = i_strdup(servername);
		/* SNI carries host names only (RFC 6066) */
		if (!is_ip && SSL_set_tlsext_host_name(ssl, servername) != 1)
			goto fail;
		if (!ctx->insecure) {
			X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
			if (is_ip) {
				if (X509_VERIFY_PARAM_set1_ip_asc(param, net_ip2addr(&ip)) != 1)
					goto fail;
			} else {
				X509_VERIFY_PARAM_set_hostflags(param,
					X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
				if (SSL_set1_host(ssl, servername) != 1)
					goto fail;
			}
		}
	}
	if (session_key != NULL) {
		tls->session_key = i_strdup(session_key);
		SSL_SESSION *session = hash_table_lookup(ctx->sessions, session_key);
		if (session != NULL && SSL_SESSION_is_resumable(session))
			(void)SSL_set_session(ssl, session);
	}
	return tls;
fail:
	*error_r = t_strdup_printf("Can't set TLS server name '%s': %s",
				   servername, tls_error_queue_str());
	tls_conn_destroy(&tls);
	return NULL;
}

void tls_conn_destroy(struct tls_conn **_tls)
{
	struct tls_conn *tls = *_tls;
	*_tls = NULL;
	if (tls == NULL)
		return;
	SSL_free(tls->ssl);
	tls_rl_free(&tls->rl);
	tls_traffic_free(&tls->traffic);
	i_free(tls->session_key);
	i_free(tls->servername);
	tls_context_unref(&tls->ctx);
	i_free(tls);
}

void tls_conn_shutdown(struct tls_conn *tls)
{
	if (tls->failed || !tls->handshaked)
		return;
	if (tls->rl != NULL) {
		tls_rl_shutdown(tls);
		return;
	}
	ERR_clear_error();
	/* one nonblocking attempt: a peer that does not read gets none */
	(void)SSL_shutdown(tls->ssl);
	ERR_clear_error();
}

/* Classify a failed SSL call. Returns 0 if it only blocked (*want_write_r
   says on what), -1 if the session is over: *error_r is NULL for a clean
   close, else the reason. */
static int tls_conn_error(struct tls_conn *tls, int ret, int saved_errno,
			  bool *want_write_r, const char **error_r)
{
	int err = SSL_get_error(tls->ssl, ret);
	long verify;

	*error_r = NULL;
	switch (err) {
	case SSL_ERROR_WANT_READ:
		*want_write_r = false;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*want_write_r = true;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF) */
		return -1;
	case SSL_ERROR_SYSCALL:
		tls->failed = true;
		if (ERR_peek_error() != 0)
			*error_r = tls_error_queue_str();
		else if (saved_errno != 0 && saved_errno != EPIPE)
			*error_r = t_strerror(saved_errno);
		return -1;
	case SSL_ERROR_SSL:
		tls->failed = true;
		*error_r = tls_error_queue_str();
		verify = SSL_get_verify_result(tls->ssl);
		if (verify != X509_V_OK &&
		    strstr(*error_r, "certificate verify failed") != NULL) {
			*error_r = t_strdup_printf("%s: %s", *error_r,
				X509_verify_cert_error_string(verify));
		}
		return -1;
	default:
		tls->failed = true;
		*error_r = t_strdup_printf("SSL_get_error() = %d: %s", err,
					   tls_error_queue_str());
		return -1;
	}
}

int tls_conn_handshake(struct tls_conn *tls, const char **error_r)
{
	bool want_write;

	ERR_clear_error();
	errno = 0;
	int ret = SSL_do_handshake(tls->ssl);
	if (ret == 1) {
		tls->handshaked = true;
		return 1;
	}
	if (tls_conn_error(tls, ret, errno, &want_write, error_r) == 0) {
		tls->hs_want_write = want_write;
		return 0;
	}
	if (*error_r == NULL)
		*error_r = "Connection closed";
	return -1;
}

ssize_t tls_conn_read(struct tls_conn *tls, void *buf, size_t size,
		      const char **error_r)
{
	bool want_write;

	if (tls->rl != NULL)
		return tls_rl_read(tls, buf, size, error_r);
	ERR_clear_error();
	errno = 0;
	int ret = SSL_read(tls->ssl, buf, (int)I_MIN(size, (size_t)INT_MAX));
	if (ret > 0) {
		tls->read_want_write = false;
		return ret;
	}
	if (tls_conn_error(tls, ret, errno, &want_write, error_r) == 0) {
		tls->read_want_write = want_write;
		if (!want_write)
			tls_conn_release_buffers(tls);
		return 0;
	}
	return -1;
}

ssize_t tls_conn_write(struct tls_conn *tls, const void *data, size_t size,
		       const char **error_r)
{
	bool want_write;

	i_assert(size > 0);
	if (tls->rl != NULL)
		return tls_rl_write(tls, data, size, error_r);
	ERR_clear_error();
	errno = 0;
	int ret = SSL_write(tls->ssl, data, (int)I_MIN(size, (size_t)INT_MAX));
	if (ret > 0) {
		tls->write_want_read = false;
		return ret;
	}
	if (tls_conn_error(tls, ret, errno, &want_write, error_r) == 0) {
		tls->write_want_read = !want_write;
		return 0;
	}
	if (*error_r == NULL)
		*error_r = "Connection closed";
	return -1;
}

void tls_conn_release_buffers(struct tls_conn *tls)
{
	/* SSL_MODE_RELEASE_BUFFERS misses one case that matters: an
	   SSL_read() that processed a non-data record (a TLS 1.3
	   NewSessionTicket, a KeyUpdate) and then blocked keeps its ~17 KiB
	   read buffer, so every idle client conn would hold one. This frees
	   both buffers unless they hold data (and is safe since OpenSSL
	   3.0.14, CVE-2024-4741). */
	if (tls->rl != NULL)
		return; /* its buffers live only while a record is in flight */
	if (!tls->failed && SSL_pending(tls->ssl) == 0)
		(void)SSL_free_buffers(tls->ssl);
	tls_conn_try_data_only(tls);
}

bool tls_conn_handshake_wants_write(const struct tls_conn *tls)
{
	return tls->hs_want_write;
}

bool tls_conn_read_wants_write(const struct tls_conn *tls)
{
	return tls->read_want_write;
}

bool tls_conn_write_wants_read(const struct tls_conn *tls)
{
	return tls->write_want_read;
}

bool tls_conn_has_pending(const struct tls_conn *tls)
{
	/* Decrypted bytes only. Without read-ahead OpenSSL never holds a
	   complete undecrypted record, and the rest of a partial one is
	   still in the socket where epoll sees it; SSL_has_pending() would
	   also count that partial record and spin the loop. */
	if (tls->rl != NULL)
		return tls->rl->plain_pos < tls->rl->plain_len;
	return SSL_pending(tls->ssl) > 0;
}

/* --- accessors --- */

bool tls_conn_is_handshaked(const struct tls_conn *tls)
{
	return tls->handshaked;
}

const char *tls_conn_get_protocol(const struct tls_conn *tls)
{
	if (tls->rl != NULL)
		return "TLSv1.3";
	return SSL_get_version(tls->ssl);
}

const char *tls_conn_get_cipher(const struct tls_conn *tls)
{
	if (tls->rl != NULL)
		return tls->rl->cipher_name;
	const char *name = SSL_get_cipher_name(tls->ssl);
	return name != NULL ? name : "(none)";
}

int tls_conn_get_cipher_bits(const struct tls_conn *tls)
{
	if (tls->rl != NULL)
		return tls->rl->bits;
	return SSL_get_cipher_bits(tls->ssl, NULL);
}

const char *tls_conn_get_servername(const struct tls_conn *tls)
{
	return tls->servername;
}

bool tls_conn_session_reused(const struct tls_conn *tls)
{
	if (tls->rl != NULL)
		return tls->rl->reused;
	return SSL_session_reused(tls->ssl) == 1;
}

const char *tls_conn_get_security_string(const struct tls_conn *tls)
{
	int alg_bits, bits;
	if (tls->rl != NULL) {
		bits = tls->rl->bits;
		alg_bits = tls->rl->alg_bits;
	} else {
		bits = SSL_get_cipher_bits(tls->ssl, &alg_bits);
	}
	return t_strdup_printf("%s with cipher %s (%d/%d bits)",
			       tls_conn_get_protocol(tls),
			       tls_conn_get_cipher(tls), bits, alg_bits);
}

bool tls_conn_has_peer_cert(const struct tls_conn *tls)
{
	/* a session with a client certificate keeps OpenSSL's state */
	if (tls->rl != NULL)
		return false;
	return SSL_get0_peer_certificate(tls->ssl) != NULL;
}

bool tls_conn_peer_cert_verified(const struct tls_conn *tls)
{
	if (tls->rl != NULL)
		return false;
	SSL_CTX *ssl_ctx = SSL_get_SSL_CTX(tls->ssl);

	/* with SSL_VERIFY_NONE the result stays X509_V_OK without any
	   verification having happened */
	if (!tls->handshaked || !tls_conn_has_peer_cert(tls) ||
	    (SSL_CTX_get_verify_mode(ssl_ctx) & SSL_VERIFY_PEER) == 0)
		return false;
	return SSL_get_verify_result(tls->ssl) == X509_V_OK;
}

const char *tls_conn_get_peer_subject(const struct tls_conn *tls)
{
	if (tls->rl != NULL)
		return NULL;
	X509 *cert = SSL_get0_peer_certificate(tls->ssl);
	if (cert == NULL)
		return NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
	char *data;
	long len = BIO_get_mem_data(bio, &data);
	const char *ret = t_strndup(data, len < 0 ? 0 : (size_t)len);
	BIO_free(bio);
	return ret;
}

const char *tls_conn_get_peer_cn(const struct tls_conn *tls)
{
	if (tls->rl != NULL)
		return NULL;
	X509 *cert = SSL_get0_peer_certificate(tls->ssl);
	if (cert == NULL)
		return NULL;
	X509_NAME *name = X509_get_subject_name(cert);
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (idx < 0)
		return NULL;
	ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
	unsigned char *utf8;
	int len = ASN1_STRING_to_UTF8(&utf8, data);
	if (len < 0)
		return NULL;
	const char *ret = NULL;
	/* "admin\0.evil.example" must not pass as "admin" */
	if (memchr(utf8, '\0', (size_t)len) == NULL)
		ret = t_strndup(utf8, (size_t)len);
	OPENSSL_free(utf8);
	return ret;
}

int tls_conn_get_channel_binding(const struct tls_conn *tls,
				 enum tls_channel_binding type, buffer_t *dest,
				 const char **error_r)
{
	SSL *ssl = tls->ssl;

	if (!tls->handshaked) {
		*error_r = "TLS handshake not finished";
		return -1;
	}
	if (tls->rl != NULL) {
		/* kept when the session moved to the record layer */
		if (type != TLS_CHANNEL_BINDING_EXPORTER ||
		    !tls->rl->have_exporter) {
			*error_r = type == TLS_CHANNEL_BINDING_UNIQUE ?
				"tls-unique is not defined for TLS 1.3" :
				"tls-exporter not available";
			return -1;
		}
		buffer_append(dest, tls->rl->exporter, TLS_EXPORTER_LEN);
		return 0;
	}
	bool tls13 = SSL_version(ssl) >= TLS1_3_VERSION;
	switch (type) {
	case TLS_CHANNEL_BINDING_UNIQUE: {
		if (tls13) {
			*error_r = "tls-unique is not defined for TLS 1.3";
			return -1;
		}
		/* The first Finished of the handshake: the client's in a full
		   handshake, the server's in a resumed one. */
		bool own = (SSL_is_server(ssl) != 0) ==
			(SSL_session_reused(ssl) == 1);
		unsigned char buf[EVP_MAX_MD_SIZE];
		size_t len = own ? SSL_get_finished(ssl, buf, sizeof(buf)) :
			SSL_get_peer_finished(ssl, buf, sizeof(buf));
		if (len == 0 || len > sizeof(buf)) {
			*error_r = "Finished message not available";
			return -1;
		}
		buffer_append(dest, buf, len);
		return 0;
	}
	case TLS_CHANNEL_BINDING_EXPORTER: {
		if (!tls13 && SSL_get_extms_support(ssl) != 1) {
			/* RFC 9266 section 3 */
			*error_r = "tls-exporter requires TLS 1.3 or the "
				"extended master secret";
			return -1;
		}
		unsigned char buf[TLS_EXPORTER_LEN];
		if (SSL_export_keying_material(ssl, buf, sizeof(buf),
					       TLS_EXPORTER_LABEL,
					       strlen(TLS_EXPORTER_LABEL),
					       NULL, 0, 0) != 1) {
			*error_r = t_strdup_printf("SSL_export_keying_material() "
						   "failed: %s",
						   tls_error_queue_str());
			return -1;
		}
		buffer_append(dest, buf, sizeof(buf));
		return 0;
	}
	}
	i_unreached();
}
