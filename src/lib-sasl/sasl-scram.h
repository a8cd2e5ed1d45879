/* SCRAM (RFC 5802, RFC 7677) key derivation, for owners that keep or
   create SCRAM credentials: a passdb that stores only plaintext passwords
   can still serve SCRAM by deriving the keys at lookup time, and a
   password-scheme generator can store them. */
#ifndef COLUMBA_SASL_SCRAM_H
#define COLUMBA_SASL_SCRAM_H

#include "sasl-common.h"

/* RFC 5802 section 5.1 and RFC 7677 section 4 ask for at least 4096. */
#define SASL_SCRAM_MIN_ITERATIONS 4096
/* Ceiling a client accepts from a server by default: a hostile server
   must not be able to make a client (our proxy) burn minutes of CPU. */
#define SASL_SCRAM_MAX_ITERATIONS 10000000
/* Largest salt either side accepts. */
#define SASL_SCRAM_MAX_SALT_SIZE 256
/* Room for the largest key (SHA-512 would need 64). */
#define SASL_SCRAM_MAX_KEY_SIZE 64

/* Key size of a SCRAM credentials type: 20 (SHA-1), 32 (SHA-256), or 0 if
   the type is not SCRAM. */
size_t sasl_scram_key_size(enum sasl_credentials_type type);

/* Derive StoredKey and ServerKey (RFC 5802 section 3) from a password:
   SaltedPassword = Hi(SASLprep(password), salt, iterations). The output
   arrays hold SASL_SCRAM_MAX_KEY_SIZE bytes; sasl_scram_key_size() of
   them are written. Costs `iterations` HMAC rounds (milliseconds at 4096,
   far more with large counts): call it where blocking work may run.
   Returns 0, or -1 with *error_r (not a SCRAM type, zero iterations, empty
   salt, or a password that fails SASLprep). */
int sasl_scram_generate_keys(enum sasl_credentials_type type,
			     const char *password, const unsigned char *salt,
			     size_t salt_size, unsigned int iterations,
			     unsigned char stored_key_r[SASL_SCRAM_MAX_KEY_SIZE],
			     unsigned char server_key_r[SASL_SCRAM_MAX_KEY_SIZE],
			     const char **error_r) ATTR_WARN_UNUSED;

#endif
