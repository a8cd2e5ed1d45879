/* The password scheme registry: parses "{SCHEME.ENCODING}data" the way
   Dovecot does, decodes the data, and hands it to the scheme's family
   (password-scheme-*.c) to verify or generate. Runs in worker threads:
   heap memory only, static error strings, secrets wiped. */
#include "lib.h"
#include "base64.h"
#include "password-scheme-private.h"

#include <pthread.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

static const struct password_scheme password_schemes[] = {
	{ "CRYPT", PASSWORD_ENCODING_NONE, 0,
	  password_crypt_verify, password_crypt_generate_sha512, NULL },
	{ "SHA512-CRYPT", PASSWORD_ENCODING_NONE, 0,
	  password_crypt_verify, password_crypt_generate_sha512, NULL },
	{ "SHA256-CRYPT", PASSWORD_ENCODING_NONE, 0,
	  password_crypt_verify, password_crypt_generate_sha256, NULL },
	{ "BLF-CRYPT", PASSWORD_ENCODING_NONE, 0,
	  password_crypt_verify_blowfish, password_crypt_generate_blowfish,
	  NULL },
	{ "MD5-CRYPT", PASSWORD_ENCODING_NONE, 0,
	  password_crypt_verify_md5, password_crypt_generate_md5, NULL },
	{ "DES-CRYPT", PASSWORD_ENCODING_NONE, 0,
	  password_crypt_verify, password_crypt_generate_des, NULL },
	{ "YESCRYPT", PASSWORD_ENCODING_NONE, 0,
	  password_crypt_verify, password_crypt_generate_yescrypt, "CRYPT" },
	{ "ARGON2I", PASSWORD_ENCODING_NONE, 0,
	  password_argon2_verify, password_argon2i_generate, NULL },
	{ "ARGON2ID", PASSWORD_ENCODING_NONE, 0,
	  password_argon2_verify, password_argon2id_generate, NULL },
	{ "PBKDF2", PASSWORD_ENCODING_NONE, 0,
	  password_pbkdf2_verify, password_pbkdf2_generate, NULL },
	{ "SCRAM-SHA-1", PASSWORD_ENCODING_NONE, 0,
	  password_scram_sha1_verify, password_scram_sha1_generate, NULL },
	{ "SCRAM-SHA-256", PASSWORD_ENCODING_NONE, 0,
	  password_scram_sha256_verify, password_scram_sha256_generate, NULL },
	{ "SSHA", PASSWORD_ENCODING_BASE64, 0,
	  password_ssha_verify, password_ssha_generate, NULL },
	{ "SSHA256", PASSWORD_ENCODING_BASE64, 0,
	  password_ssha256_verify, password_ssha256_generate, NULL },
	{ "SSHA512", PASSWORD_ENCODING_BASE64, 0,
	  password_ssha512_verify, password_ssha512_generate, NULL },
	{ "SHA", PASSWORD_ENCODING_BASE64, 20,
	  NULL, password_sha1_generate, NULL },
	{ "SHA1", PASSWORD_ENCODING_BASE64, 20,
	  NULL, password_sha1_generate, NULL },
	{ "SHA256", PASSWORD_ENCODING_BASE64, 32,
	  NULL, password_sha256_generate, NULL },
	{ "SHA512", PASSWORD_ENCODING_BASE64, 64,
	  NULL, password_sha512_generate, NULL },
	{ "CRAM-MD5", PASSWORD_ENCODING_HEX, PASSWORD_CRAM_MD5_CONTEXT_SIZE,
	  NULL, password_cram_md5_generate, NULL },
	{ "HMAC-MD5", PASSWORD_ENCODING_HEX, PASSWORD_CRAM_MD5_CONTEXT_SIZE,
	  NULL, password_cram_md5_generate, NULL },
	{ "DIGEST-MD5", PASSWORD_ENCODING_HEX, 16,
	  NULL, password_digest_md5_generate, NULL },
	{ "MD5", PASSWORD_ENCODING_NONE, 0,
	  password_md5_verify, password_crypt_generate_md5, NULL },
	{ "PLAIN-MD5", PASSWORD_ENCODING_HEX, 16,
	  NULL, password_md5_generate, NULL },
	{ "LDAP-MD5", PASSWORD_ENCODING_BASE64, 16,
	  NULL, password_md5_generate, NULL },
	{ "SMD5", PASSWORD_ENCODING_BASE64, 0,
	  password_smd5_verify, password_smd5_generate, NULL },
	{ "PLAIN", PASSWORD_ENCODING_NONE, 0,
	  NULL, password_plain_generate, NULL },
	{ "CLEAR", PASSWORD_ENCODING_NONE, 0,
	  NULL, password_plain_generate, NULL },
	{ "CLEARTEXT", PASSWORD_ENCODING_NONE, 0,
	  NULL, password_plain_generate, NULL },
};

static const char *password_scheme_name_list[N_ELEMENTS(password_schemes) + 1];
static pthread_once_t password_scheme_names_once = PTHREAD_ONCE_INIT;

static const char salt_chars[] =
	"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const struct password_scheme *password_scheme_find(const char *name,
						   size_t name_len)
{
	for (unsigned int i = 0; i < N_ELEMENTS(password_schemes); i++) {
		const char *s = password_schemes[i].name;

		if (strlen(s) == name_len &&
		    strncasecmp(s, name, name_len) == 0)
			return &password_schemes[i];
	}
	return NULL;
}

/* name is "SCHEME" or "SCHEME.ENCODING". */
static const struct password_scheme *
password_scheme_lookup(const char *name, enum password_encoding *encoding_r,
		       bool *explicit_encoding_r)
{
	const char *dot = strchr(name, '.');
	size_t name_len = dot == NULL ? strlen(name) : (size_t)(dot - name);
	const struct password_scheme *scheme =
		password_scheme_find(name, name_len);

	if (scheme == NULL)
		return NULL;
	*explicit_encoding_r = dot != NULL;
	if (dot == NULL)
		*encoding_r = scheme->default_encoding;
	else if (strcasecmp(dot + 1, "b64") == 0 ||
		 strcasecmp(dot + 1, "base64") == 0)
		*encoding_r = PASSWORD_ENCODING_BASE64;
	else if (strcasecmp(dot + 1, "hex") == 0)
		*encoding_r = PASSWORD_ENCODING_HEX;
	else
		return NULL;
	return scheme;
}

bool password_scheme_is_known(const char *scheme)
{
	enum password_encoding encoding;
	bool explicit_encoding;

	return password_scheme_lookup(scheme, &encoding,
				      &explicit_encoding) != NULL;
}

static void password_scheme_names_init(void)
{
	for (unsigned int i = 0; i < N_ELEMENTS(password_schemes); i++)
		password_scheme_name_list[i] = password_schemes[i].name;
	password_scheme_name_list[N_ELEMENTS(password_schemes)] = NULL;
}

const char *const *password_scheme_names(void)
{
	(void)pthread_once(&password_scheme_names_once,
			   password_scheme_names_init);
	return password_scheme_name_list;
}

int password_split_scheme(const char *hash, char *scheme_r,
			  size_t scheme_size, const char **data_r,
			  size_t *data_len_r)
{
	i_assert(scheme_size > 0);

	if (hash[0] == '{') {
		const char *end = strchr(hash, '}');

		if (end != NULL) {
			size_t len = (size_t)(end - hash - 1);

			if (len >= scheme_size)
				return -1;
			memcpy(scheme_r, hash + 1, len);
			scheme_r[len] = '\0';
			*data_r = end + 1;
			*data_len_r = strlen(end + 1);
			return 1;
		}
	} else if (strncmp(hash, "$1$", 3) == 0 &&
		   strchr(hash + 3, '$') != NULL) {
		/* Dovecot reads a bare "$1$salt$hash[$ignored]" as
		   MD5-CRYPT whatever the default scheme, ignoring what
		   follows a third '$'. */
		const char *end = strchr(strchr(hash + 3, '$') + 1, '$');

		if (scheme_size < sizeof("MD5-CRYPT"))
			return -1;
		memcpy(scheme_r, "MD5-CRYPT", sizeof("MD5-CRYPT"));
		*data_r = hash;
		*data_len_r = end == NULL ? strlen(hash) : (size_t)(end - hash);
		return 1;
	}
	scheme_r[0] = '\0';
	*data_r = hash;
	*data_len_r = strlen(hash);
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int password_hex_decode(const char *src, size_t src_len, buffer_t *dest)
{
	if (src_len % 2 != 0)
		return -1;
	for (size_t i = 0; i < src_len; i++) {
		if (hex_value(src[i]) < 0)
			return -1;
	}
	unsigned char *out = buffer_append_space(dest, src_len / 2);
	for (size_t i = 0; i < src_len; i += 2) {
		out[i / 2] = (unsigned char)((hex_value(src[i]) << 4) |
					     hex_value(src[i + 1]));
	}
	return 0;
}

void password_hex_encode(const void *data, size_t size, buffer_t *dest)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *src = data;
	char *out = buffer_append_space(dest, size * 2);

	for (size_t i = 0; i < size; i++) {
		out[i * 2] = hex[src[i] >> 4];
		out[i * 2 + 1] = hex[src[i] & 0x0f];
	}
}

int password_decode(const char *scheme_name, const char *data,
		    size_t data_len, const struct password_scheme **scheme_r,
		    buffer_t **raw_r, const char **error_r)
{
	const struct password_scheme *scheme;
	enum password_encoding encoding;
	bool explicit_encoding, guessed = false;
	const char *error;

	scheme = password_scheme_lookup(scheme_name, &encoding,
					&explicit_encoding);
	if (scheme == NULL) {
		*error_r = "Unknown password scheme";
		return -1;
	}
	if (!explicit_encoding && encoding != PASSWORD_ENCODING_NONE &&
	    scheme->raw_size != 0) {
		/* Dovecot's rule: a fixed-size hash without an encoding
		   suffix is hex if it has exactly twice the size, else
		   base64 (a hex-looking string of the wrong length may still
		   be base64, so hex falls back to it). */
		encoding = data_len == scheme->raw_size * 2 ?
			PASSWORD_ENCODING_HEX : PASSWORD_ENCODING_BASE64;
		guessed = true;
	}

	/* room for the NUL that verifiers of text formats rely on */
	buffer_t *raw = buffer_create(system_pool, data_len + 2);
	bool ok = true;
	switch (encoding) {
	case PASSWORD_ENCODING_NONE:
		buffer_append(raw, data, data_len);
		break;
	case PASSWORD_ENCODING_HEX:
		if (password_hex_decode(data, data_len, raw) == 0)
			break;
		if (!guessed) {
			*error_r = "Password hash isn't valid hex";
			ok = false;
			break;
		}
		if (base64_decode(data, data_len, raw, &error) < 0) {
			*error_r = "Password hash isn't valid hex or base64";
			ok = false;
		}
		break;
	case PASSWORD_ENCODING_BASE64:
		if (base64_decode(data, data_len, raw, &error) < 0) {
			*error_r = "Password hash isn't valid base64";
			ok = false;
		}
		break;
	}
	if (ok && scheme->raw_size != 0 && raw->used != scheme->raw_size) {
		*error_r = "Password hash has the wrong length for its scheme";
		ok = false;
	}
	if (!ok) {
		password_buffer_free(&raw);
		return -1;
	}
	*scheme_r = scheme;
	*raw_r = raw;
	return 0;
}

static bool password_scheme_is_plaintext(const struct password_scheme *scheme)
{
	return scheme->generate == password_plain_generate;
}

/* The scheme name of a password field (its own or default_scheme) into
   name_r, and its data. */
static int password_resolve_scheme(const char *hash, const char *default_scheme,
				   char name_r[PASSWORD_SCHEME_NAME_MAX + 1],
				   const char **data_r, size_t *data_len_r,
				   const char **error_r)
{
	int ret = password_split_scheme(hash, name_r,
					PASSWORD_SCHEME_NAME_MAX + 1,
					data_r, data_len_r);

	if (ret < 0) {
		*error_r = "Unknown password scheme";
		return -1;
	}
	if (ret == 0) {
		if (default_scheme == NULL) {
			*error_r = "Missing {SCHEME} prefix in password hash";
			return -1;
		}
		if (strlen(default_scheme) > PASSWORD_SCHEME_NAME_MAX) {
			*error_r = "Unknown password scheme";
			return -1;
		}
		memcpy(name_r, default_scheme, strlen(default_scheme) + 1);
	}
	return 0;
}

int password_get_credentials_raw(const char *hash, const char *default_scheme,
				 const char *wanted_scheme, buffer_t **raw_r,
				 bool *plaintext_r, const char **error_r)
{
	char name[PASSWORD_SCHEME_NAME_MAX + 1];
	const struct password_scheme *scheme, *wanted;
	const char *data;
	size_t data_len;

	wanted = password_scheme_find(wanted_scheme, strlen(wanted_scheme));
	i_assert(wanted != NULL);
	if (password_resolve_scheme(hash, default_scheme, name, &data,
				    &data_len, error_r) < 0)
		return -1;
	if (password_decode(name, data, data_len, &scheme, raw_r, error_r) < 0)
		return -1;
	/* CRAM-MD5 and HMAC-MD5 are one thing under two names */
	if (scheme->generate == wanted->generate &&
	    scheme->verify == wanted->verify)
		*plaintext_r = false;
	else if (password_scheme_is_plaintext(scheme))
		*plaintext_r = true;
	else {
		password_buffer_free(raw_r);
		*error_r = "The stored password's scheme can't be used by "
			"this authentication mechanism";
		return -1;
	}
	buffer_append_c(*raw_r, '\0');
	(*raw_r)->used--;
	return 0;
}

int password_verify_default(const char *plaintext, const char *hash,
			    const char *default_scheme, const char *user,
			    const char **error_r)
{
	char name[PASSWORD_SCHEME_NAME_MAX + 1];
	const struct password_scheme *scheme;
	const char *data;
	size_t data_len;
	buffer_t *raw;
	int ret;

	if (password_resolve_scheme(hash, default_scheme, name, &data,
				    &data_len, error_r) < 0)
		return -1;
	if (password_decode(name, data, data_len, &scheme, &raw, error_r) < 0)
		return -1;

	const struct password_params params = { .user = user };
	if (scheme->verify != NULL) {
		ret = scheme->verify(plaintext, &params, raw->data, raw->used,
				     error_r);
	} else {
		buffer_t *gen = buffer_create(system_pool,
					      strlen(plaintext) + 128);

		if (scheme->generate(plaintext, &params, gen, error_r) < 0)
			ret = -1;
		else {
			ret = password_data_equals(gen->data, gen->used,
						   raw->data, raw->used) ?
				1 : 0;
		}
		password_buffer_free(&gen);
	}
	password_buffer_free(&raw);
	if (ret == 0)
		*error_r = "Password mismatch";
	return ret;
}

int password_verify(const char *plaintext, const char *hash,
		    const char *user, const char **error_r)
{
	return password_verify_default(plaintext, hash,
				       PASSWORD_SCHEME_DEFAULT_PASSWD_FILE,
				       user, error_r);
}

static void buffer_append_upper(buffer_t *dest, const char *str, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = str[i];

		buffer_append_c(dest, (unsigned char)(c >= 'a' && c <= 'z' ?
						      c - 'a' + 'A' : c));
	}
}

int password_generate(const char *plaintext, const char *scheme_name,
		      const char *user, unsigned int rounds, char **hash_r,
		      const char **error_r)
{
	const struct password_scheme *scheme;
	enum password_encoding encoding;
	bool explicit_encoding;

	scheme = password_scheme_lookup(scheme_name, &encoding,
					&explicit_encoding);
	if (scheme == NULL) {
		*error_r = "Unknown password scheme";
		return -1;
	}

	/* Sized up front so the buffers holding secrets never grow: a
	   realloc would leave an unwiped copy behind. */
	buffer_t *raw = buffer_create(system_pool, strlen(plaintext) + 256);
	const struct password_params params = {
		.user = user, .rounds = rounds,
	};
	if (scheme->generate(plaintext, &params, raw, error_r) < 0) {
		password_buffer_free(&raw);
		return -1;
	}

	size_t name_len = strlen(scheme_name);
	buffer_t *out = buffer_create(system_pool,
				      name_len + 8 + raw->used * 2 + 8);
	buffer_append_c(out, '{');
	if (scheme->generate_name != NULL) {
		const char *dot = strchr(scheme_name, '.');

		buffer_append(out, scheme->generate_name,
			      strlen(scheme->generate_name));
		if (dot != NULL)
			buffer_append_upper(out, dot, strlen(dot));
	} else {
		buffer_append_upper(out, scheme_name, name_len);
	}
	buffer_append_c(out, '}');
	switch (encoding) {
	case PASSWORD_ENCODING_NONE:
		buffer_append(out, raw->data, raw->used);
		break;
	case PASSWORD_ENCODING_BASE64:
		base64_encode(raw->data, raw->used, out);
		break;
	case PASSWORD_ENCODING_HEX:
		password_hex_encode(raw->data, raw->used, out);
		break;
	}
	*hash_r = i_strndup((const char *)out->data, out->used);
	password_buffer_free(&raw);
	password_buffer_free(&out);
	return 0;
}

void password_hash_free(char **_hash)
{
	char *hash = *_hash;

	*_hash = NULL;
	if (hash == NULL)
		return;
	safe_memset(hash, 0, strlen(hash));
	free(hash);
}

void password_random_bytes(void *buf, size_t size)
{
	i_assert(size <= INT_MAX);
	if (RAND_bytes(buf, (int)size) != 1)
		i_panic("RAND_bytes(%zu) failed", size);
}

void password_random_salt(char *dest, size_t len)
{
	unsigned char *rnd = i_malloc(len > 0 ? len : 1);

	password_random_bytes(rnd, len);
	/* 64 characters: byte % 64 has no modulo bias */
	for (size_t i = 0; i < len; i++)
		dest[i] = salt_chars[rnd[i] % (sizeof(salt_chars) - 1)];
	free(rnd);
}

bool password_mem_equals(const void *a, const void *b, size_t size)
{
	return CRYPTO_memcmp(a, b, size) == 0;
}

bool password_data_equals(const void *a, size_t a_size,
			  const void *b, size_t b_size)
{
	/* the length may show through timing, the contents do not */
	return a_size == b_size && CRYPTO_memcmp(a, b, a_size) == 0;
}

void password_buffer_free(buffer_t **_buf)
{
	buffer_t *buf = *_buf;

	if (buf == NULL)
		return;
	if (buf->data != NULL)
		safe_memset(buf->data, 0, buf->alloc);
	buffer_free(_buf);
}
