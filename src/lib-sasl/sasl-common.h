/* What the server and client sides of lib-sasl share: limits, mechanism
   flags, channel-binding data, the nonce generator and the credentials an
   owner hands to a server request. lib-sasl is a pure state machine: it
   never reads a socket, looks a user up or blocks (except where a function
   says it costs CPU). */
#ifndef COLUMBA_SASL_COMMON_H
#define COLUMBA_SASL_COMMON_H

/* Largest SASL message (decoded) either side accepts. Base64 on the wire
   makes the line about 4/3 of this. */
#define SASL_MAX_MESSAGE_SIZE 8192
/* Largest authentication or authorization identity, in bytes. */
#define SASL_MAX_NAME_SIZE 1024

/* RFC 5929 and RFC 9266 channel-binding types. */
#define SASL_CHANNEL_BINDING_TLS_UNIQUE "tls-unique"
#define SASL_CHANNEL_BINDING_TLS_EXPORTER "tls-exporter"

enum sasl_mech_flags {
	/* The password crosses the wire as it is (PLAIN, LOGIN): offer it
	   only on a secured channel unless the admin allows otherwise. */
	SASL_MECH_FLAG_CLEARTEXT = 0x01,
	/* The mechanism binds to the TLS channel (-PLUS) and cannot work
	   without channel-binding data. */
	SASL_MECH_FLAG_CHANNEL_BINDING = 0x02,
	/* Authenticates no one (ANONYMOUS). Off unless the admin enables
	   it. */
	SASL_MECH_FLAG_ANONYMOUS = 0x04,
	/* The identity comes from outside SASL (EXTERNAL: the verified TLS
	   client certificate). */
	SASL_MECH_FLAG_EXTERNAL = 0x08,
	/* The server speaks first (LOGIN, CRAM-MD5). */
	SASL_MECH_FLAG_SERVER_FIRST = 0x10,
	/* The server proves it knows the credentials too (SCRAM). */
	SASL_MECH_FLAG_MUTUAL = 0x20,
};

/* Channel-binding data of one type, as the TLS layer gives it
   (tls_conn_get_channel_binding()). */
struct sasl_channel_binding {
	/* SASL_CHANNEL_BINDING_TLS_UNIQUE, SASL_CHANNEL_BINDING_TLS_EXPORTER
	   or another RFC 5056 cb-name. */
	const char *type;
	const unsigned char *data;
	size_t size;
};

/* Append a fresh nonce to dest: at least one printable ASCII character
   (0x21..0x7e) other than ','. Used for SCRAM's nonces and CRAM-MD5's
   challenge; tests inject fixed ones to replay published exchanges. */
typedef void sasl_nonce_func_t(string_t *dest, void *context);
/* The default: 18 random bytes from OpenSSL's CSPRNG, base64-encoded (24
   characters). context is unused. */
void sasl_nonce_random(string_t *dest, void *context);

/* Kinds of stored credentials a server request can ask its owner for.
   The names (sasl_credentials_type_name()) are Dovecot's password scheme
   names, so the owner can ask its passdb for exactly that scheme. */
enum sasl_credentials_type {
	SASL_CREDENTIALS_NONE = 0,
	/* The plaintext password. */
	SASL_CREDENTIALS_PLAINTEXT,
	/* Dovecot's {CRAM-MD5} scheme: the 32-byte HMAC-MD5 context
	   (sasl-cram-md5.h). */
	SASL_CREDENTIALS_CRAM_MD5,
	/* Salt, iteration count, StoredKey and ServerKey (RFC 5802),
	   Dovecot's {SCRAM-SHA-1} and {SCRAM-SHA-256}. */
	SASL_CREDENTIALS_SCRAM_SHA1,
	SASL_CREDENTIALS_SCRAM_SHA256,
};

/* Credentials given back to a request. Only the fields of the type are
   read; the request copies what it keeps, so the owner may wipe its copy
   as soon as the call returns. */
struct sasl_credentials {
	enum sasl_credentials_type type;

	/* SASL_CREDENTIALS_PLAINTEXT */
	const char *password;
	/* SASL_CREDENTIALS_CRAM_MD5: SASL_CRAM_MD5_CONTEXT_SIZE bytes */
	const unsigned char *cram_md5_context;
	/* SASL_CREDENTIALS_SCRAM_*: key_size must be the hash's size (20 for
	   SHA-1, 32 for SHA-256). */
	const unsigned char *salt;
	size_t salt_size;
	unsigned int iterations;
	const unsigned char *stored_key, *server_key;
	size_t key_size;
};

/* "PLAIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256" ("NONE"). */
const char *sasl_credentials_type_name(enum sasl_credentials_type type);

#endif
