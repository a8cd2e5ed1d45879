/* What a message blob carries besides the message: enough metadata to
   put its index row back together without the index (mail_index_rebuild()),
   and the layout of a user's keys:
     <prefix>/<mailbox GUID>/<UID>.<message GUID>   a message
     <prefix>/<mailbox GUID>/uidnext                the mailbox's UIDNEXT,
                                                    written after expunges
                                                    (so a rebuild never
                                                    hands out an expunged
                                                    UID again)
     <prefix>/mailbox-list                          names, UIDVALIDITYs,
                                                    subscriptions */
#ifndef COLUMBA_MAIL_BLOB_META_H
#define COLUMBA_MAIL_BLOB_META_H

#include "mail-index.h"

struct blob_put;
struct blob_info;

#define MAIL_BLOB_META_VERSION "1"
#define MAIL_BLOB_MAILBOX_LIST_NAME "mailbox-list"

struct mail_blob_meta {
	const char *mailbox_guid;
	/* the mailbox's name when the message was saved */
	const char *mailbox_name;
	uint32_t uid, uidvalidity;
	time_t save_date;
	time_t internal_date;
	int internal_tz;
	/* at save time */
	enum mail_flags flags;
	/* NULL-terminated, may be NULL */
	const char *const *keywords;
	const char *guid;
};

/* The key of a message blob (data stack). */
const char *mail_blob_key(const char *prefix, const char *mailbox_guid,
			  uint32_t uid, const char *guid);
/* Whether key (under prefix "/") names a message blob; its mailbox GUID
   and UID if so. */
bool mail_blob_key_parse(const char *key, const char *prefix,
			 const char **mailbox_guid_r, uint32_t *uid_r);
const char *mail_blob_mailbox_list_key(const char *prefix);
const char *mail_blob_uidnext_key(const char *prefix, const char *mailbox_guid);

/* Set the metadata on a put before its first write. Keywords that do not
   fit the metadata size limit are left out (the index keeps them). */
void mail_blob_meta_set(struct blob_put *put, const struct mail_blob_meta *meta);
/* Parse a blob's metadata (from blob_head()). Strings from pool. */
int mail_blob_meta_parse(const struct blob_info *info, pool_t pool,
			 struct mail_blob_meta *meta_r, const char **error_r);

/* Metadata values are printable ASCII: a mailbox name (UTF-8) goes
   %XX-encoded. */
const char *mail_blob_name_encode(const char *name);
/* NULL if the encoding is broken. */
const char *mail_blob_name_decode(pool_t pool, const char *value);

#endif
