/* TLS with OpenSSL 3: server and client contexts built from settings (PEM
   text, Dovecot's protocol names, SNI certificates, session resumption),
   and the per-connection TLS session that conn.c drives. Protocol code
   starts TLS with conn_start_tls_server()/conn_start_tls_client() (conn.h)
   and never sees ciphertext; it reads the session's properties with the
   tls_conn_get_*() accessors here, on conn_get_tls(conn). */
#ifndef COLUMBA_TLS_H
#define COLUMBA_TLS_H

struct tls_context;
struct tls_conn;

#define TLS_DEFAULT_MIN_PROTOCOL "TLSv1.2"
#define TLS_DEFAULT_HANDSHAKE_TIMEOUT_MSECS (30 * 1000)

/* An extra certificate for clients asking for a particular name (SNI). */
struct tls_sni_cert {
	/* "mail.example.com" or "*.example.com" (one label). Matching is
	   case-insensitive; exact names win over wildcards. */
	const char *hostname;
	const char *cert_pem;
	const char *key_pem;
};

struct tls_settings {
	/* Certificate (followed by its chain) and private key, PEM text.
	   Required for servers, optional client certificate for clients. The
	   config layer reads files ("<path"); tls_pem_read_file() helps. */
	const char *cert_pem;
	const char *key_pem;
	/* Password of an encrypted key, or NULL. */
	const char *key_password;
	/* Trusted CA certificates, PEM text. Servers: used to verify client
	   certificates. Clients: NULL = the system's default CA store. */
	const char *ca_pem;

	/* Dovecot's names: "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "ANY",
	   "LATEST". min NULL = TLS_DEFAULT_MIN_PROTOCOL, max NULL = no
	   limit. */
	const char *min_protocol;
	const char *max_protocol;
	/* OpenSSL cipher list for TLS <= 1.2 (ssl_cipher_list) and TLS 1.3
	   ciphersuites (ssl_cipher_suites); NULL = OpenSSL's defaults.
	   curve_list: key exchange groups (ssl_curve_list). */
	const char *cipher_list;
	const char *ciphersuites;
	const char *curve_list;
	bool prefer_server_ciphers;

	/* Server: ask for a client certificate and verify it against
	   ca_pem. The handshake succeeds without one or with a bad one
	   unless require_client_cert; tls_conn_peer_cert_verified() says
	   what happened (for SASL EXTERNAL). */
	bool verify_client_cert;
	bool require_client_cert;

	/* Server: extra certificates chosen by SNI. */
	const struct tls_sni_cert *sni_certs;
	unsigned int sni_certs_count;

	/* Server session cache entries (0 = OpenSSL's default) and
	   lifetime of sessions and tickets (0 = OpenSSL's default). */
	unsigned int session_cache_size;
	unsigned int session_timeout_secs;
	/* Disable session tickets (resumption then uses the per-process
	   session cache only). */
	bool no_session_tickets;

	/* 0 = TLS_DEFAULT_HANDSHAKE_TIMEOUT_MSECS. */
	unsigned int handshake_timeout_msecs;

	/* Client: skip certificate and host name verification. For tests
	   and explicitly configured trusted links only. */
	bool insecure;
};

/* Create a context. Errors name the setting that is wrong
   ("ssl_cert: ..."). Returns NULL with *error_r on failure. Contexts are
   reference counted: every conn using one holds a reference, so
   tls_context_unref() on reload is safe while old connections live. */
struct tls_context *tls_context_create_server(const struct tls_settings *set,
					      const char **error_r);
struct tls_context *tls_context_create_client(const struct tls_settings *set,
					      const char **error_r);
void tls_context_ref(struct tls_context *ctx);
void tls_context_unref(struct tls_context **ctx);
unsigned int tls_context_get_handshake_timeout_msecs(const struct tls_context *ctx);

/* Read a PEM file into a string on pool (for settings given as paths).
   Returns 0 or -1 with *error_r. */
int tls_pem_read_file(pool_t pool, const char *path, const char **pem_r,
		      const char **error_r) ATTR_WARN_UNUSED;

/* --- accessors of an established session (conn_get_tls(conn)) --- */

bool tls_conn_is_handshaked(const struct tls_conn *tls);
/* "TLSv1.3", "TLS_AES_256_GCM_SHA384", secret bits. */
const char *tls_conn_get_protocol(const struct tls_conn *tls);
const char *tls_conn_get_cipher(const struct tls_conn *tls);
int tls_conn_get_cipher_bits(const struct tls_conn *tls);
/* Server: the SNI name the client asked for, or NULL. */
const char *tls_conn_get_servername(const struct tls_conn *tls);
bool tls_conn_session_reused(const struct tls_conn *tls);
/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)", on the
   data stack, for login log lines. */
const char *tls_conn_get_security_string(const struct tls_conn *tls);

bool tls_conn_has_peer_cert(const struct tls_conn *tls);
/* True if the peer sent a certificate and it verified against the CA
   (and, for clients, matched the host name). */
bool tls_conn_peer_cert_verified(const struct tls_conn *tls);
/* The peer certificate's subject in RFC 2253 form and its commonName,
   on the data stack; NULL without a certificate (or a commonName, or if
   the commonName contains a NUL and so cannot be trusted as a name). */
const char *tls_conn_get_peer_subject(const struct tls_conn *tls);
const char *tls_conn_get_peer_cn(const struct tls_conn *tls);

enum tls_channel_binding {
	/* RFC 5929 tls-unique: the first Finished message. TLS <= 1.2
	   only. */
	TLS_CHANNEL_BINDING_UNIQUE,
	/* RFC 9266 tls-exporter: 32 bytes exported with the label
	   "EXPORTER-Channel-Binding". TLS 1.3, or TLS 1.2 with the extended
	   master secret. */
	TLS_CHANNEL_BINDING_EXPORTER,
};
/* Append the channel-binding data to dest (for SCRAM-*-PLUS). Returns 0,
   or -1 with *error_r when this type is not defined for the session. */
int tls_conn_get_channel_binding(const struct tls_conn *tls,
				 enum tls_channel_binding type, buffer_t *dest,
				 const char **error_r) ATTR_WARN_UNUSED;

/* The session only carries data from now on (the login process relaying
   a logged-in client): no renegotiation, certificates or channel binding
   but tls-exporter are asked of it again. A server's TLS 1.3 session with
   AES-GCM or ChaCha20-Poly1305 and no client certificate then gives
   OpenSSL's state (~13 KiB) up for a record layer of tls.c's own (~2.6
   KiB, nearly all of it the two AEAD contexts), as soon as OpenSSL holds
   no record in flight: at once, or after a later read or write. Other
   sessions stay with OpenSSL. The accessors keep answering (cipher,
   protocol, tls-exporter); a peer's KeyUpdate is handled. */
void tls_conn_set_data_only(struct tls_conn *tls);
/* Whether the session has moved to tls.c's record layer. */
bool tls_conn_is_data_only(const struct tls_conn *tls);

/* --- used by conn.c only: other code goes through conn_*() --- */

/* Create the session on a socket. servername: see
   conn_start_tls_client(); session_key: the client session cache key. */
struct tls_conn *tls_conn_create(struct tls_context *ctx, int fd,
				 const char *servername,
				 const char *session_key, const char **error_r);
void tls_conn_destroy(struct tls_conn **tls);
/* Send close_notify once, without blocking, if the session is healthy. */
void tls_conn_shutdown(struct tls_conn *tls);
/* Drive the handshake. 1 = done, 0 = blocked (see the want functions),
   -1 = failed with *error_r. */
int tls_conn_handshake(struct tls_conn *tls, const char **error_r);
/* > 0 = bytes; 0 = blocked; -1 = closed (*error_r NULL for a clean EOF)
   or failed. */
ssize_t tls_conn_read(struct tls_conn *tls, void *buf, size_t size,
		      const char **error_r);
/* > 0 = bytes taken (possibly fewer than size); 0 = blocked; -1 =
   failed. After 0, the next call must offer at least the same bytes
   again (OpenSSL's rule; the conn's output buffer guarantees it). */
ssize_t tls_conn_write(struct tls_conn *tls, const void *data, size_t size,
		       const char **error_r);
/* Which socket condition the last blocked handshake/read/write waits
   for: a read may need the socket writable (and a write readable) when
   TLS control messages cross. */
bool tls_conn_handshake_wants_write(const struct tls_conn *tls);
bool tls_conn_read_wants_write(const struct tls_conn *tls);
bool tls_conn_write_wants_read(const struct tls_conn *tls);
/* Give OpenSSL's record buffers back while the session is idle (no-op if
   they hold data). */
void tls_conn_release_buffers(struct tls_conn *tls);
/* Decrypted bytes held inside OpenSSL, which epoll cannot see: the conn
   must read again without waiting for the socket. */
bool tls_conn_has_pending(const struct tls_conn *tls);

#endif
