/* From a user name and their userdb fields to an open mail_user: where the
   user's home, index and blobs are (mail_home, mail_index_path,
   mail_blob_store, mail_blob_prefix, or userdb's home= and the mail_*
   userdb fields that override them), with the directories created.
   Used by every post-login session, by LMTP delivery and by the tools. */
#ifndef COLUMBA_MAIL_USER_SETUP_H
#define COLUMBA_MAIL_USER_SETUP_H

#include "lib.h"

struct columba_settings;
struct event;
struct mail_user;

struct mail_user_paths {
	const char *home;
	const char *index_path;
	const char *blob_spec;
	const char *blob_prefix;
};

/* Work out the paths (on the data stack). A user name that is empty,
   "." or ".." or holds '/' is refused, and values put into paths have
   '/' cut and "." / ".." emptied (auth_vars_expand_path()), so no name
   leads outside the directory the setting names. Returns 0, or -1 with
   *error_r (bad name, bad template, home not absolute). */
int mail_user_paths_get(const struct columba_settings *set,
			const char *username, const char *const *userdb_fields,
			struct mail_user_paths *paths_r, const char **error_r)
	ATTR_WARN_UNUSED;

/* mail_user_paths_get(), create the home directory (0700, parents
   too), open the storage - and nothing else (import keeps INBOX's
   UIDVALIDITY only if it creates INBOX itself). Blocks. Returns 0, or -1
   with *error_r. */
int mail_user_open(const struct columba_settings *set, const char *username,
		   const char *const *userdb_fields, struct event *event_parent,
		   struct mail_user **user_r, const char **error_r)
	ATTR_WARN_UNUSED;
/* mail_user_open(), then create INBOX if the user has none, and the
   autocreated mailboxes; a new user's index is built apart and synced
   and renamed into place once, with all of them in it. Blocks
   (local disk). Returns 0, or -1 with
   *error_r for the log (the client gets a generic temporary error). */
int mail_user_setup(const struct columba_settings *set, const char *username,
		    const char *const *userdb_fields, struct event *event_parent,
		    struct mail_user **user_r, const char **error_r)
	ATTR_WARN_UNUSED;

#endif
