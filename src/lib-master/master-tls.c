/* Builds the server TLS context from ssl_* settings, with one SNI entry per
   name of every local_name section. */
#include "lib.h"
#include "tls.h"
#include "config.h"
#include "master-tls.h"

bool master_tls_enabled(const struct columba_settings *set)
{
	return strcmp(set->ssl.ssl, "no") != 0;
}

static const char *empty_to_null(const char *str)
{
	return str[0] == '\0' ? NULL : str;
}

struct tls_context *
master_tls_context_create(const struct columba_settings *set,
			  const char **error_r)
{
	const struct ssl_settings *ssl = &set->ssl;
	*error_r = NULL;
	if (!master_tls_enabled(set))
		return NULL;
	if (ssl->ssl_cert[0] == '\0' || ssl->ssl_key[0] == '\0') {
		*error_r = t_strdup_printf("ssl = %s but ssl_cert and ssl_key are "
			"not set (give them, e.g. ssl_cert = </path/cert.pem, "
			"or set ssl = no)", ssl->ssl);
		return NULL;
	}

	ARRAY(struct tls_sni_cert) sni;
	array_init(&sni, pool_datastack, 4);
	struct local_name_settings *const *ln;
	array_foreach(&set->local_names, ln) {
		for (const char *const *name = (*ln)->names; *name != NULL; name++) {
			struct tls_sni_cert *cert = array_append_space(&sni);
			cert->hostname = *name;
			cert->cert_pem = (*ln)->ssl.ssl_cert;
			cert->key_pem = (*ln)->ssl.ssl_key;
		}
	}
	struct tls_settings tset = {
		.cert_pem = ssl->ssl_cert,
		.key_pem = ssl->ssl_key,
		.key_password = empty_to_null(ssl->ssl_key_password),
		.ca_pem = empty_to_null(ssl->ssl_ca),
		.min_protocol = ssl->ssl_min_protocol,
		.cipher_list = empty_to_null(ssl->ssl_cipher_list),
		.ciphersuites = empty_to_null(ssl->ssl_cipher_suites),
		.prefer_server_ciphers = ssl->ssl_prefer_server_ciphers,
		.verify_client_cert = ssl->ssl_verify_client_cert,
		.sni_certs = sni.v,
		.sni_certs_count = array_count(&sni),
	};
	const char *error;
	struct tls_context *ctx = tls_context_create_server(&tset, &error);
	if (ctx == NULL)
		*error_r = t_strdup_printf("TLS: %s", error);
	return ctx;
}
