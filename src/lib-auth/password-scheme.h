/* Password schemes with Dovecot's "{SCHEME}data" syntax: the same names,
   the same stored formats and the same verification rules, so a
   passwd-file or SQL table written for Dovecot works unchanged (and hashes
   made here work in Dovecot).

   Threads and blocking: hashing is slow on purpose (crypt, Argon2,
   PBKDF2, SCRAM), so every function here except the name look-ups may
   block for tens or hundreds of milliseconds and is meant to run in a
   worker thread (worker.h). They are thread-safe and touch neither the
   data stack nor any pool: memory is the heap (i_malloc) or the caller's,
   error strings are static text, and every copy of a secret (the
   plaintext, decoded hashes, derived keys) is wiped before it is freed.

   Scheme names are case-insensitive. A name may end in ".HEX", ".B64" or
   ".BASE64" to store the raw hash in that encoding instead of the
   scheme's default (Dovecot's {SHA256.HEX}). */
#ifndef COLUMBA_PASSWORD_SCHEME_H
#define COLUMBA_PASSWORD_SCHEME_H

#include "lib.h"

/* What `columba pw` generates by default. */
#define PASSWORD_SCHEME_DEFAULT_GENERATE "SHA512-CRYPT"
/* A passwd-file's default_password_scheme (Dovecot's). */
#define PASSWORD_SCHEME_DEFAULT_PASSWD_FILE "CRYPT"
/* The static passdb's (its password= is usually plaintext). */
#define PASSWORD_SCHEME_DEFAULT_STATIC "PLAIN"
/* Longest scheme name, with its encoding suffix, that can be known. */
#define PASSWORD_SCHEME_NAME_MAX 32

/* Verify plaintext against hash, a passdb's password field:
   "{SCHEME}data"; "$1$salt$hash" (MD5-CRYPT, as Dovecot reads it); or
   data without a prefix, taken as default_scheme (NULL: such a hash is an
   error). user is the login name, needed only by DIGEST-MD5 (may be
   NULL otherwise). Returns 1 on a match, 0 on a mismatch, -1 with
   *error_r (static text) when the hash cannot be checked: unknown
   scheme, malformed data, a scheme that needs the user name without it,
   a check that failed (Argon2 out of memory).
   Comparisons take constant time. Blocks (see above). */
int password_verify_default(const char *plaintext, const char *hash,
			    const char *default_scheme, const char *user,
			    const char **error_r) ATTR_WARN_UNUSED;
/* The same with default_scheme CRYPT, a passwd-file's default. */
int password_verify(const char *plaintext, const char *hash,
		    const char *user, const char **error_r) ATTR_WARN_UNUSED;

/* Hash plaintext with scheme and return "{SCHEME}data" in *hash_r
   (heap; free it with password_hash_free(), which wipes it: a {PLAIN}
   hash is the password). rounds is the cost (0 = the scheme's default)
   with the meaning `doveadm pw -r` gives it: SHA*-CRYPT rounds (1000 to
   999999999), BLF-CRYPT's log2 cost (4 to 31), yescrypt's cost (1 to 11),
   Argon2's passes (memory grows with them, as in Dovecot), PBKDF2's
   iterations, SCRAM's iterations (at least 4096); other schemes ignore
   it. user: as for password_verify_default(). Returns 0, or -1 with
   *error_r (static text). Blocks (see above). */
int password_generate(const char *plaintext, const char *scheme,
		      const char *user, unsigned int rounds, char **hash_r,
		      const char **error_r) ATTR_WARN_UNUSED;
/* Wipe and free a string from password_generate(); sets *hash to NULL. */
void password_hash_free(char **hash);

/* True if scheme (optionally with an encoding suffix) can be verified
   and generated. Never blocks. */
bool password_scheme_is_known(const char *scheme);
/* The known scheme names, NULL-terminated, static. */
const char *const *password_scheme_names(void);

/* Split a password field into its scheme and data, as verification does:
   copies the scheme name into scheme_r (NUL-terminated, as written) and
   sets *data_r and *data_len_r to the data. Returns 1 if the field names
   its scheme ("{X}" or "$1$"), 0 if it does not (scheme_r is then "" and
   the data is the whole field), -1 if the name does not fit scheme_r
   (an unknown scheme). Never blocks. */
int password_split_scheme(const char *hash, char *scheme_r,
			  size_t scheme_size, const char **data_r,
			  size_t *data_len_r);

/* --- Stored credentials for SASL mechanisms ---
   A challenge-response mechanism cannot verify a plaintext: it needs the
   stored secret itself. As in Dovecot, a passdb holding the scheme the
   mechanism needs gives it directly, and one holding a plaintext ({PLAIN},
   {CLEAR}, {CLEARTEXT}, or no prefix with a PLAIN default) has it derived
   on the fly; any other scheme cannot serve the mechanism. */

#define PASSWORD_CRAM_MD5_CONTEXT_SIZE 32
#define PASSWORD_SCRAM_MIN_ITERATIONS 4096
#define PASSWORD_SCRAM_DEFAULT_ITERATIONS 4096
#define PASSWORD_SCRAM_MAX_SALT_SIZE 256
#define PASSWORD_SCRAM_MAX_KEY_SIZE 64

/* The 32-byte HMAC-MD5 context of {CRAM-MD5} / {HMAC-MD5}: the MD5
   states after the key's outer and inner pads, four little-endian 32-bit
   words each, outer first. Returns 0, or -1 with *error_r. */
int password_cram_md5_get_context(
	const char *hash, const char *default_scheme,
	unsigned char ctx_r[PASSWORD_CRAM_MD5_CONTEXT_SIZE],
	const char **error_r) ATTR_WARN_UNUSED;

struct password_scram_credentials {
	unsigned int iterations;
	unsigned char salt[PASSWORD_SCRAM_MAX_SALT_SIZE];
	size_t salt_size;
	/* key_size bytes each: 20 for SCRAM-SHA-1, 32 for SCRAM-SHA-256 */
	unsigned char stored_key[PASSWORD_SCRAM_MAX_KEY_SIZE];
	unsigned char server_key[PASSWORD_SCRAM_MAX_KEY_SIZE];
	size_t key_size;
};

/* Salt, iteration count, StoredKey and ServerKey (RFC 5802) for
   scram_scheme ("SCRAM-SHA-1" or "SCRAM-SHA-256") from a passdb password:
   parsed from Dovecot's "{SCRAM-SHA-1}iterations,salt,stored,server"
   (base64), or derived from a plaintext with a fresh 16-byte salt and
   4096 iterations (as Dovecot does: the password is not SASLprepped).
   Returns 0, or -1 with *error_r. Wipe the result with
   password_scram_credentials_wipe() when done. */
int password_scram_get_credentials(const char *scram_scheme,
				   const char *hash,
				   const char *default_scheme,
				   struct password_scram_credentials *creds_r,
				   const char **error_r) ATTR_WARN_UNUSED;
void password_scram_credentials_wipe(struct password_scram_credentials *creds);

#endif
