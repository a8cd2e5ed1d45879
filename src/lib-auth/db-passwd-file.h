/* Dovecot's passwd-file, shared by the passdb and the userdb of that
   name: lines of
     user:password:uid:gid:gecos:home:shell:extra_fields
   (trailing fields may be left out; extra_fields is a space-separated
   list of key=value or key), '#' comments and blank lines. The file is
   read when first needed and read again when its size, mtime or inode
   change. A path with variables (/etc/mail/%d/passwd) names one file per
   value, each loaded and checked on its own. */
#ifndef COLUMBA_DB_PASSWD_FILE_H
#define COLUMBA_DB_PASSWD_FILE_H

#include "auth-vars.h"

struct passwd_file_user {
	const char *user;
	/* NULL if the line has no password field */
	const char *password;
	/* NULL when empty; uid and gid as written (numbers or names) */
	const char *uid, *gid, *home;
	/* NULL-terminated; NULL if there are none. The old format's mail
	   field (empty field 7, mail in 8) shows up as userdb_mail=... */
	const char *const *extra_fields;
};

struct db_passwd_file;

/* Parse a driver's args, "[scheme=SCHEME] [username_format=FORMAT]
   PATH" (scheme only if scheme_r is not NULL). *scheme_r is NULL and
   *username_format_r "%u" when not given. Strings from pool. Returns 0,
   or -1 with *error_r (data stack). */
int db_passwd_file_parse_args(pool_t pool, const char *args,
			      const char **scheme_r,
			      const char **username_format_r,
			      const char **path_r, const char **error_r);

/* The file(s) of path, shared with other users of the same path (a
   passdb and a userdb on one file read it once). A path without
   variables is read now: it must be readable. Returns 0, or -1 with
   *error_r (data stack). */
int db_passwd_file_get(const char *path, struct db_passwd_file **db_r,
		       const char **error_r);
void db_passwd_file_unref(struct db_passwd_file **db);

/* Find key (the expanded username_format) in the file vars select,
   reloading it first if it changed. Returns 1 with *user_r (valid until
   the next lookup on db), 0 if there is no such user or, for a path with
   variables, no such file; -1 with *error_r (data stack) if the file
   cannot be read. Runs in the ioloop thread; reads the disk. */
int db_passwd_file_lookup(struct db_passwd_file *db,
			  const struct auth_vars *vars, const char *key,
			  const struct passwd_file_user **user_r,
			  const char **error_r);

#endif
