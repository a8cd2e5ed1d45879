/* TLS settings from the configuration: one translation of the ssl_* and
   local_name settings into tls_settings, shared by the login processes
   (which serve TLS) and the master (which checks it at start-up). */
#ifndef COLUMBA_MASTER_TLS_H
#define COLUMBA_MASTER_TLS_H

struct columba_settings;
struct tls_context;

/* Returns NULL without error when ssl = no. On a bad certificate, key or
   cipher setting returns NULL with *error_r naming the setting. */
struct tls_context *
master_tls_context_create(const struct columba_settings *set,
			  const char **error_r);
/* Whether set asks for TLS at all (ssl != no). */
bool master_tls_enabled(const struct columba_settings *set);

#endif
