/* Columba's settings: the structs the daemons read after the configuration
   is parsed, and their definition tables (columba-settings.c). To add
   settings, add fields here and entries to the matching table there; the
   parser needs no change. Values are validated before a daemon sees them. */
#ifndef COLUMBA_SETTINGS_H
#define COLUMBA_SETTINGS_H

#include "config-types.h"

/* Top-level ssl_* settings; a local_name section carries its own copy,
   starting from the top-level values. */
struct ssl_settings {
	/* "yes", "no" or "required" (no plaintext authentication). */
	const char *ssl;
	/* PEM text (normally read with `ssl_cert = </path`). */
	const char *ssl_cert;
	const char *ssl_key;
	const char *ssl_key_password;
	const char *ssl_ca;
	bool ssl_verify_client_cert;
	/* "TLSv1", "TLSv1.1", "TLSv1.2" or "TLSv1.3". */
	const char *ssl_min_protocol;
	/* OpenSSL cipher list (TLSv1.2 and older) and TLSv1.3 suites. */
	const char *ssl_cipher_list;
	const char *ssl_cipher_suites;
	bool ssl_prefer_server_ciphers;
};

/* local_name NAMES { ... }: TLS settings chosen by SNI. */
struct local_name_settings {
	/* NAMES as written: one host name or several separated by spaces. */
	const char *name;
	/* Derived: the names one by one ("*.example.com" allowed). */
	const char *const *names;
	struct ssl_settings ssl;
};

/* inet_listener NAME { ... } inside a service. */
struct inet_listener_settings {
	const char *name;
	/* Empty: the top-level listen addresses. */
	const char *const *address;
	/* 0 disables the listener. */
	unsigned int port;
	/* Implicit TLS from the first byte (imaps). */
	bool ssl;
};

/* unix_listener PATH { ... } inside a service. */
struct unix_listener_settings {
	/* Relative paths are under base_dir. */
	const char *path;
	unsigned int mode;
	/* Owner of the socket; "" = the user running the master. */
	const char *user;
	const char *group;
};

/* service NAME { ... }: one kind of process the master runs. */
struct service_settings {
	/* imap-login, auth or mail. */
	const char *name;
	unsigned int process_limit;
	unsigned int process_min_avail;
	unsigned int client_limit;
	/* Clients a process serves before it exits; 0 = unlimited. */
	unsigned int service_count;
	/* "" = default_internal_user (default_login_user for imap-login,
	   whose built-in default says so explicitly). */
	const char *user;
	const char *group;
	/* Relative paths are under base_dir; "" = no chroot. */
	const char *chroot;
	/* Bytes of address space; 0 = unlimited. */
	uint64_t vsz_limit;
	ARRAY(struct inet_listener_settings *) inet_listeners;
	ARRAY(struct unix_listener_settings *) unix_listeners;
};

/* passdb { driver = ...; args = ... } and userdb { ... }: Dovecot 2.3
   writes them without a name and tries them in order; a name (2.4's
   style) is allowed too. */
struct auth_db_settings {
	/* "" for an unnamed section */
	const char *name;
	/* "passwd-file", "static" or "sql" */
	const char *driver;
	/* the driver's own arguments, as Dovecot's */
	const char *args;
	/* passdb only: a master users' passdb ("user*master" logins) */
	bool master;
	/* passdb only: Dovecot's pass = yes, the old name of
	   result_success = continue */
	bool pass;
	/* passdb only: "return-ok" or "continue" (master passdbs: the
	   logged-in user must then exist in the other passdbs) */
	const char *result_success;
};

/* mailbox NAME { ... } inside a namespace (Dovecot's syntax): a mailbox
   every user gets, and its special use. */
struct mailbox_settings {
	/* the mailbox name (UTF-8, '/' between levels) */
	const char *name;
	/* RFC 6154 attributes separated by spaces (\Drafts \Sent); "" = none */
	const char *special_use;
	/* Dovecot's `auto`: "no", "create" (created at login when missing)
	   or "subscribe" (created and subscribed) */
	const char *autocreate;
};

/* namespace NAME { ... }: the storage has one private namespace (prefix
   "", separator '/', holding INBOX); the section exists for its
   mailbox sections and for Dovecot configurations. */
struct namespace_settings {
	const char *name;
	bool inbox;
	/* "" or "/" (the only separator the storage has) */
	const char *separator;
	/* "" (the only prefix) */
	const char *prefix;
	ARRAY(struct mailbox_settings *) mailboxes;
};

struct columba_settings {
	const char *const *protocols;
	const char *const *listen;
	const char *base_dir;
	const char *state_dir;
	/* "" = stderr. */
	const char *log_path;
	/* strftime() format prefixed to log lines. */
	const char *log_timestamp;
	/* NAME or NAME=value items passed on to child processes. */
	const char *const *import_environment;
	const char *default_internal_user;
	const char *default_internal_group;
	const char *default_login_user;
	/* Seconds a stopping master waits for sessions to end. */
	unsigned int shutdown_timeout;
	const char *login_greeting;
	/* Networks (CIDR) whose clients count as secured for the plaintext
	   policy (Dovecot's login_trusted_networks). */
	const char *const *login_trusted_networks;
	/* Connections one remote IP may have open in one login process,
	   pre-login and relayed (0 = no limit); login_trusted_networks
	   are exempt. Not in Dovecot, which has no such limit. */
	unsigned int login_max_connections_per_ip;
	/* Who carries a relayed TLS 1.3 session's records once the login
	   process only relays its bytes: "columba" (tls_conn_set_data_only():
	   OpenSSL's state freed, ~2.6 KiB instead of ~13 KiB per session) or
	   "openssl" (OpenSSL keeps the session to its end). */
	const char *ssl_relay_record_layer;
	/* Sessions of one user from one IP at once, per mail process
	   (0 = no limit). */
	unsigned int mail_max_userip_connections;

	/* The auth process (Dovecot's names and meanings, except
	   auth_worker_max_count: here the threads that hash passwords). */
	const char *const *auth_mechanisms;
	const char *auth_username_format;
	const char *auth_default_realm;
	/* Seconds a failed authentication waits before its answer. */
	unsigned int auth_failure_delay;
	bool disable_plaintext_auth;
	const char *auth_anonymous_username;
	unsigned int auth_worker_max_count;
	/* Dovecot's auth cache: bytes (0 = off), seconds */
	uint64_t auth_cache_size;
	unsigned int auth_cache_ttl;
	unsigned int auth_cache_negative_ttl;
	bool auth_cache_verify_password_with_worker;
	/* "" = no master user logins by name ("user*master") */
	const char *auth_master_user_separator;
	ARRAY(struct auth_db_settings *) passdbs;
	ARRAY(struct auth_db_settings *) userdbs;

	/* Where each user's mail lives (src/mail/mail-user-setup.h):
	   userdb's home= wins over mail_home; "~" in the others is the
	   home. NULL mail_home = STATE_DIR/home/%Lu. */
	const char *mail_home;
	const char *mail_index_path;
	/* DRIVER:ARGS, e.g. "posix:~/blobs" */
	const char *mail_blob_store;
	const char *mail_blob_prefix;
	/* Change-log pruning (lib-index): entries older than this many
	   seconds go (Dovecot's name: its .log.2 lives this long), and
	   beyond this many per user the oldest go. 0 = no limit. */
	unsigned int mail_index_log2_max_age;
	unsigned int mail_index_log_max_changes;
	/* "optimized" (saves are fsynced before they are acknowledged,
	   flag changes, expunges and mailbox list changes are not),
	   "always" or "never" (Dovecot's mail_fsync; lib-index) */
	const char *mail_fsync;

	/* LMTP delivery (Dovecot's names). hostname: the name in LHLO
	   replies and Received: lines ("" = gethostname()). */
	const char *hostname;
	/* characters separating user and detail in user+detail@domain */
	const char *recipient_delimiter;
	/* user+detail goes to mailbox "detail" when it exists */
	bool lmtp_save_to_detail_mailbox;
	/* recipients per transaction (0 = no limit); more get 452 */
	unsigned int lmtp_max_recipients;
	/* bytes (0 = no limit); advertised as SIZE */
	uint64_t lmtp_max_message_size;
	/* LMTP RCPT TO checks the recipient's quota (Dovecot's name) */
	bool lmtp_rcpt_check_quota;
	/* how long the LMTP journal keeps delivered messages whose saves
	   were written without syncs before one syncfs() makes them all
	   durable (lmtp-journal.c); 0 = at once */
	unsigned int lmtp_journal_sync_interval;
	/* the LMTP journal file of each mail process (whole MiB, at least
	   2 MiB) */
	uint64_t lmtp_journal_size;
	/* Quota (Dovecot's quota plugin settings, top-level here; userdb
	   fields of the same names override them per user; syntax in
	   config-quota.h). quota_rule..quota_rule3: "*:storage=1G:messages=N"
	   ("" = none). quota_grace: how far a delivery may take a user who
	   is under the limit over it ("10%" or a size). quota_full_tempfail:
	   LMTP answers a full mailbox 452 4.2.2 instead of 552 5.2.2.
	   quota_exceeded_message: the text IMAP and LMTP give. */
	const char *quota_rule, *quota_rule2, *quota_rule3;
	const char *quota_grace;
	bool quota_full_tempfail;
	const char *quota_exceeded_message;
	/* IMAP APPEND: the largest message (also a CATENATE result),
	   advertised as APPENDLIMIT=n; larger literals get NO [TOOBIG].
	   0 = no limit (APPENDLIMIT is then not advertised). */
	uint64_t imap_max_append_size;
	/* seconds an IMAP session may go without traffic before it is
	   logged out (RFC 9051 §5.4: at least 30 minutes; lower values are
	   for tests). Dovecot's is a fixed 30 minutes. */
	unsigned int imap_autologout;
	/* advertise UTF8=ACCEPT (RFC 6855). Off by default: Columba accepts
	   8-bit header APPENDs from clients that did not enable it (the RFC
	   says NO) and does not NFC-normalize UTF-8 mailbox names. */
	bool imap_utf8_accept;
	/* advertise and accept UNAUTHENTICATE (RFC 8437) after login; RFC
	   8437 §8 asks for a way to turn it off */
	bool imap_unauthenticate;

	/* POP3 sessions (Dovecot's names and meanings): the UIDL
	   template (src/lib-pop3/pop3-uidl.h); RETR leaves \Seen alone;
	   a keyword DELE sets instead of expunging, and which hides
	   messages from POP3 ("" = expunge); one POP3 session per
	   user at a time. */
	const char *pop3_uidl_format;
	bool pop3_no_flag_updates;
	const char *pop3_deleted_flag;
	bool pop3_lock_session;

	/* at most one (the built-in "inbox") */
	ARRAY(struct namespace_settings *) namespaces;

	struct ssl_settings ssl;
	ARRAY(struct local_name_settings *) local_names;
	ARRAY(struct service_settings *) services;
};

/* The definition of struct columba_settings (the default root of
   config_parse_*()), and the built-in sections in configuration syntax,
   applied before the admin's files. */
extern const struct config_section_def columba_settings_root_def;
extern const char columba_settings_builtin_config[];

/* The protocol a listener serves when its name says so, else NULL: an
   inet_listener "lmtp" or a unix_listener whose last path component is
   "lmtp" or ends in "-lmtp" serves LMTP (in service mail). The master
   binds such a listener only when the protocol is in `protocols`. */
const char *columba_listener_protocol(const char *listener_name);

/* The service named name, or NULL. */
const struct service_settings *
columba_settings_find_service(const struct columba_settings *set,
			      const char *name);
/* The local_name section whose names include host (exact, or "*.d.tld"
   matching one label), or NULL. Case-insensitive. */
const struct local_name_settings *
columba_settings_find_local_name(const struct columba_settings *set,
				 const char *host);
/* The environment to give a child process: NAME=value items as they are,
   NAME items with the value of NAME in this process's environment (left
   out when unset). NULL-terminated, allocated from pool. */
const char *const *
columba_settings_child_environment(const struct columba_settings *set,
				   pool_t pool);

#endif
