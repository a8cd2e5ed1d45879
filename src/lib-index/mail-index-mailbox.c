/* Mailboxes of the private namespace: names and their hierarchy, create,
   delete, rename (with children, and INBOX's special rename), LIST
   pattern matching, STATUS, subscriptions and special-use attributes.
   Invariant: every mailbox's parent names exist as rows (selectable, or
   \Noselect when kept only for their children). */
#include "lib.h"
#include "event.h"
#include "mail-index-private.h"
#include <ctype.h>
#include <strings.h>
#include <time.h>

#define SEP MAIL_INDEX_HIERARCHY_SEP
#define SEP_STR "/"
/* the character after '/': names in [prefix "/", prefix "0") are the
   children of prefix */
#define SEP_NEXT_STR "0"

static bool mailbox_name_is_inbox_prefixed(const char *name)
{
	return strncasecmp(name, "INBOX", 5) == 0 &&
		(name[5] == '\0' || name[5] == SEP);
}

const char *mail_index_mailbox_name_normalize(const char *name,
					      const char **error_r)
{
	size_t len = strlen(name);

	/* CREATE "foo/" declares that foo will have children: same name */
	if (len > 1 && name[len - 1] == SEP)
		len--;
	if (len == 0) {
		*error_r = "Empty mailbox name.";
		return NULL;
	}
	if (len > MAIL_INDEX_MAILBOX_NAME_MAX_LEN) {
		*error_r = "Mailbox name too long.";
		return NULL;
	}
	char *norm = t_strndup(name, len);
	const char *comp = norm;
	for (const char *p = norm;; p++) {
		if (*p == SEP || *p == '\0') {
			size_t clen = (size_t)(p - comp);
			if (clen == 0 || (clen == 1 && comp[0] == '.') ||
			    (clen == 2 && comp[0] == '.' && comp[1] == '.')) {
				*error_r = "Invalid mailbox name: empty, \".\" or "
					"\"..\" hierarchy level.";
				return NULL;
			}
			if (*p == '\0')
				break;
			comp = p + 1;
		} else if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*error_r = "Invalid mailbox name: control characters.";
			return NULL;
		} else if (*p == '*' || *p == '%') {
			*error_r = "Invalid mailbox name: '*' and '%' are not allowed.";
			return NULL;
		}
	}
	if (mailbox_name_is_inbox_prefixed(norm))
		memcpy(norm, "INBOX", 5);
	return norm;
}

static int mailbox_name_check(struct mail_index *index, const char *name,
			      const char **norm_r)
{
	const char *error;

	*norm_r = mail_index_mailbox_name_normalize(name, &error);
	if (*norm_r == NULL)
		return mail_index_set_error(index, MAIL_ERROR_PARAMS, error);
	return 0;
}

/* The next UIDVALIDITY: the time, but always above the last one given
   out, so a mailbox deleted and recreated within a second still gets a
   new one. */
static int mail_index_next_uidvalidity(struct mail_index *index,
				       uint32_t *uidvalidity_r)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"INSERT INTO user_state (key, value) VALUES ('last_uidvalidity', ?1) "
		"ON CONFLICT (key) DO UPDATE SET value = max(value + 1, ?1) "
		"RETURNING value");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)time(NULL));
	if (mail_index_step(index, stmt, "uidvalidity") <= 0)
		return -1;
	sqlite3_int64 value = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	/* wrapped past 2^32 - 1 (in 2106, or by a burst of creates):
	   start over at 1, still unlike recent values */
	*uidvalidity_r = value > 0 && value <= UINT32_MAX ? (uint32_t)value : 1;
	return 0;
}

static void mailbox_row_read(sqlite3_stmt *stmt, pool_t pool,
			     struct mail_index_mailbox *box_r)
{
	/* columns of MAILBOX_COLUMNS */
	box_r->id = (uint32_t)sqlite3_column_int64(stmt, 0);
	box_r->name = mail_index_column_str(pool, stmt, 1);
	box_r->guid = mail_index_column_str(pool, stmt, 2);
	box_r->uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 3);
	box_r->uidnext = (uint32_t)sqlite3_column_int64(stmt, 4);
	box_r->highestmodseq = (uint64_t)sqlite3_column_int64(stmt, 5);
	box_r->special_use = (enum mail_special_use)sqlite3_column_int(stmt, 6);
	box_r->noselect = sqlite3_column_int(stmt, 7) != 0;
}

#define MAILBOX_COLUMNS \
	"id, name, guid, uidvalidity, uidnext, highestmodseq, special_use, noselect"

static int mailbox_lookup_norm(struct mail_index *index, const char *name,
			       pool_t pool, struct mail_index_mailbox *box_r)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT " MAILBOX_COLUMNS " FROM mailboxes "
		"WHERE namespace_id = 1 AND name = ?1");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	ret = mail_index_step(index, stmt, "mailbox lookup");
	if (ret <= 0) {
		if (ret == 0) {
			mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
				t_strdup_printf("Mailbox doesn't exist: %s",
						str_sanitize(name, 128)));
		}
		return ret;
	}
	mailbox_row_read(stmt, pool, box_r);
	sqlite3_reset(stmt);
	return 1;
}

int mail_index_mailbox_lookup(struct mail_index *index, const char *name,
			      pool_t pool, struct mail_index_mailbox *box_r)
{
	const char *norm;

	if (mailbox_name_check(index, name, &norm) < 0) {
		/* an invalid name cannot exist */
		mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
				     "Mailbox doesn't exist.");
		return 0;
	}
	return mailbox_lookup_norm(index, norm, pool, box_r);
}

int mail_index_mailbox_lookup_id(struct mail_index *index, uint32_t id,
				 pool_t pool, struct mail_index_mailbox *box_r)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT " MAILBOX_COLUMNS " FROM mailboxes WHERE id = ?1");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	ret = mail_index_step(index, stmt, "mailbox lookup");
	if (ret <= 0) {
		if (ret == 0) {
			mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
					     "Mailbox doesn't exist.");
		}
		return ret;
	}
	mailbox_row_read(stmt, pool, box_r);
	sqlite3_reset(stmt);
	return 1;
}

static int mailbox_has_children(struct mail_index *index, const char *name)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT 1 FROM mailboxes WHERE namespace_id = 1 "
		"AND name >= ?1 || '" SEP_STR "' AND name < ?1 || '" SEP_NEXT_STR "' "
		"LIMIT 1");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	ret = mail_index_step(index, stmt, "mailbox children");
	if (ret > 0)
		sqlite3_reset(stmt);
	return ret;
}

/* Insert a new selectable mailbox row. */
static int mailbox_insert(struct mail_index_transaction *t, const char *name,
			  enum mail_special_use special_use, bool noselect,
			  uint32_t *id_r)
{
	struct mail_index *index = t->index;
	char guid[MAIL_INDEX_MAILBOX_GUID_LEN + 1];
	uint32_t uidvalidity;

	if (mail_index_next_uidvalidity(index, &uidvalidity) < 0)
		return -1;
	mail_index_generate_guid(guid);
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"INSERT INTO mailboxes (namespace_id, name, guid, uidvalidity, "
		"special_use, noselect, create_time) "
		"VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, guid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, uidvalidity);
	sqlite3_bind_int(stmt, 4, (int)special_use);
	sqlite3_bind_int(stmt, 5, noselect ? 1 : 0);
	sqlite3_bind_int64(stmt, 6, (sqlite3_int64)time(NULL));
	if (mail_index_step(index, stmt, "create mailbox") < 0)
		return -1;
	*id_r = (uint32_t)sqlite3_last_insert_rowid(index->db);
	mail_index_tx_mailbox_change(t, *id_r, MAIL_INDEX_CHANGE_MAILBOX_CREATE);
	return 0;
}

/* Make a \Noselect name selectable again: a new incarnation, so a new
   GUID and UIDVALIDITY, and UIDs may start over. */
static int mailbox_reincarnate(struct mail_index_transaction *t, uint32_t id,
			       enum mail_special_use special_use)
{
	struct mail_index *index = t->index;
	char guid[MAIL_INDEX_MAILBOX_GUID_LEN + 1];
	uint32_t uidvalidity;

	if (mail_index_next_uidvalidity(index, &uidvalidity) < 0)
		return -1;
	mail_index_generate_guid(guid);
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"UPDATE mailboxes SET guid = ?2, uidvalidity = ?3, uidnext = 1, "
		"uid_alloc_next = 1, highestmodseq = 1, special_use = ?4, "
		"noselect = 0, create_time = ?5 WHERE id = ?1");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_text(stmt, 2, guid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, uidvalidity);
	sqlite3_bind_int(stmt, 4, (int)special_use);
	sqlite3_bind_int64(stmt, 5, (sqlite3_int64)time(NULL));
	if (mail_index_step(index, stmt, "recreate mailbox") < 0)
		return -1;
	mail_index_tx_mailbox_change(t, id, MAIL_INDEX_CHANGE_MAILBOX_CREATE);
	return 0;
}

/* Create the missing parents of name ("a/b/c": "a", "a/b"). */
static int mailbox_create_parents(struct mail_index_transaction *t,
				  const char *name)
{
	struct mail_index_mailbox box;
	const char *p;
	int ret;

	for (p = strchr(name, SEP); p != NULL; p = strchr(p + 1, SEP)) {
		const char *parent = t_strndup(name, (size_t)(p - name));
		ret = mailbox_lookup_norm(t->index, parent, pool_datastack, &box);
		if (ret < 0)
			return -1;
		if (ret > 0)
			continue;
		uint32_t id;
		if (mailbox_insert(t, parent, 0, false, &id) < 0)
			return -1;
	}
	mail_error_clear(&t->index->error);
	return 0;
}

int mail_index_mailbox_create(struct mail_index *index, const char *name,
			      enum mail_special_use special_use, pool_t pool,
			      struct mail_index_mailbox *box_r)
{
	struct mail_index_transaction *t;
	struct mail_index_mailbox box;
	const char *norm;
	uint32_t id;
	int ret;

	if (mailbox_name_check(index, name, &norm) < 0)
		return -1;
	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	ret = mailbox_lookup_norm(index, norm, pool_datastack, &box);
	if (ret < 0)
		goto failed;
	if (ret > 0 && !box.noselect) {
		mail_index_set_error(index, MAIL_ERROR_EXISTS,
				     "Mailbox already exists.");
		goto failed;
	}
	if (ret > 0) {
		id = box.id;
		if (mailbox_reincarnate(t, id, special_use) < 0)
			goto failed;
	} else {
		if (mailbox_create_parents(t, norm) < 0 ||
		    mailbox_insert(t, norm, special_use, false, &id) < 0)
			goto failed;
	}
	if (box_r != NULL &&
	    mail_index_mailbox_lookup_id(index, id, pool, box_r) <= 0)
		goto failed;
	if (mail_index_transaction_commit(&t) < 0)
		return -1;
	mail_error_clear(&index->error);
	return 0;
failed:
	mail_index_transaction_rollback(&t);
	return -1;
}

int mail_index_mailbox_restore(struct mail_index *index,
			       const struct mail_index_mailbox_restore *restore,
			       uint32_t *id_r)
{
	struct mail_index_transaction *t;
	struct mail_index_mailbox box;
	char guid[MAIL_INDEX_MAILBOX_GUID_LEN + 1];
	const char *norm;
	int ret;

	if (mailbox_name_check(index, restore->name, &norm) < 0)
		return -1;
	if (restore->uidvalidity == 0) {
		return mail_index_set_error(index, MAIL_ERROR_PARAMS,
					    "UIDVALIDITY 0 is not valid.");
	}
	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	ret = mailbox_lookup_norm(index, norm, pool_datastack, &box);
	if (ret < 0)
		goto failed;
	if (ret > 0) {
		mail_index_set_error(index, MAIL_ERROR_EXISTS,
				     "Mailbox already exists.");
		goto failed;
	}
	if (mailbox_create_parents(t, norm) < 0)
		goto failed;
	if (restore->guid != NULL && strlen(restore->guid) == MAIL_INDEX_MAILBOX_GUID_LEN)
		memcpy(guid, restore->guid, sizeof(guid));
	else
		mail_index_generate_guid(guid);
	uint32_t uidnext = restore->uidnext == 0 ? 1 : restore->uidnext;
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"INSERT INTO mailboxes (namespace_id, name, guid, uidvalidity, "
		"uidnext, uid_alloc_next, special_use, create_time) "
		"VALUES (1, ?1, ?2, ?3, ?4, ?4, ?5, ?6)");
	if (stmt == NULL)
		goto failed;
	sqlite3_bind_text(stmt, 1, norm, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, guid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, restore->uidvalidity);
	sqlite3_bind_int64(stmt, 4, uidnext);
	sqlite3_bind_int(stmt, 5, (int)restore->special_use);
	sqlite3_bind_int64(stmt, 6, (sqlite3_int64)time(NULL));
	if (mail_index_step(index, stmt, "restore mailbox") < 0)
		goto failed;
	*id_r = (uint32_t)sqlite3_last_insert_rowid(index->db);
	/* new mailboxes must not get this UIDVALIDITY or a lower one */
	stmt = mail_index_stmt(index,
		"INSERT INTO user_state (key, value) VALUES ('last_uidvalidity', ?1) "
		"ON CONFLICT (key) DO UPDATE SET value = max(value, ?1)");
	if (stmt == NULL)
		goto failed;
	sqlite3_bind_int64(stmt, 1, restore->uidvalidity);
	if (mail_index_step(index, stmt, "restore uidvalidity") < 0)
		goto failed;
	mail_index_tx_mailbox_change(t, *id_r, MAIL_INDEX_CHANGE_MAILBOX_CREATE);
	if (mail_index_transaction_commit(&t) < 0)
		return -1;
	mail_error_clear(&index->error);
	return 0;
failed:
	mail_index_transaction_rollback(&t);
	return -1;
}

int mail_index_mailbox_raise_uidnext(struct mail_index *index,
				     uint32_t mailbox_id, uint32_t uidnext)
{
	struct mail_index_transaction *t;

	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"UPDATE mailboxes SET uidnext = max(uidnext, ?2), "
		"uid_alloc_next = max(uid_alloc_next, ?2) WHERE id = ?1");
	if (stmt != NULL) {
		sqlite3_bind_int64(stmt, 1, mailbox_id);
		sqlite3_bind_int64(stmt, 2, uidnext);
	}
	if (stmt == NULL ||
	    mail_index_step(index, stmt, "raise uidnext") < 0) {
		mail_index_transaction_rollback(&t);
		return -1;
	}
	return mail_index_transaction_commit(&t);
}

/* Queue the blobs of the mailbox's messages (all, or those in uid range)
   for deletion and delete the rows. */
static int mailbox_delete_messages(struct mail_index *index, uint32_t id)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"INSERT OR IGNORE INTO blob_deletions (blob_key, queued) "
		"SELECT blob_key, ?2 FROM messages WHERE mailbox_id = ?1");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)time(NULL));
	if (mail_index_step(index, stmt, "queue blob deletions") < 0)
		return -1;

	static const char *const sqls[] = {
		"DELETE FROM messages WHERE mailbox_id = ?1",
		"DELETE FROM keywords WHERE mailbox_id = ?1",
		"DELETE FROM uid_reservations WHERE mailbox_id = ?1",
		/* a recreated mailbox's modseqs start over */
		"DELETE FROM flag_snapshots WHERE mailbox_id = ?1",
		/* VANISHED history belongs to the old incarnation */
		"DELETE FROM changes WHERE mailbox_id = ?1",
	};
	for (unsigned int i = 0; i < N_ELEMENTS(sqls); i++) {
		stmt = mail_index_stmt(index, sqls[i]);
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, id);
		if (mail_index_step(index, stmt, "delete mailbox") < 0)
			return -1;
	}
	return 0;
}

/* Remove \Noselect ancestors of name that have no children left: they
   existed only to hold them. */
static int mailbox_prune_noselect_parents(struct mail_index_transaction *t,
					  const char *name)
{
	struct mail_index *index = t->index;
	const char *p;

	while ((p = strrchr(name, SEP)) != NULL) {
		struct mail_index_mailbox box;
		name = t_strndup(name, (size_t)(p - name));
		int ret = mailbox_lookup_norm(index, name, pool_datastack, &box);
		if (ret < 0)
			return -1;
		if (ret == 0 || !box.noselect)
			break;
		ret = mailbox_has_children(index, name);
		if (ret < 0)
			return -1;
		if (ret > 0)
			break;
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"DELETE FROM mailboxes WHERE id = ?1");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, box.id);
		if (mail_index_step(index, stmt, "delete mailbox") < 0)
			return -1;
		mail_index_tx_mailbox_change(t, box.id,
					     MAIL_INDEX_CHANGE_MAILBOX_DELETE);
	}
	mail_error_clear(&index->error);
	return 0;
}

int mail_index_mailbox_delete(struct mail_index *index, const char *name)
{
	struct mail_index_transaction *t;
	struct mail_index_mailbox box;
	const char *norm;
	int ret;

	if (mailbox_name_check(index, name, &norm) < 0)
		return -1;
	if (strcmp(norm, "INBOX") == 0) {
		return mail_index_set_error(index, MAIL_ERROR_NOTPOSSIBLE,
					    "INBOX can't be deleted.");
	}
	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	ret = mailbox_lookup_norm(index, norm, pool_datastack, &box);
	if (ret <= 0)
		goto failed;
	ret = mailbox_has_children(index, norm);
	if (ret < 0)
		goto failed;
	if (ret > 0 && box.noselect) {
		mail_index_set_error(index, MAIL_ERROR_HASCHILDREN,
			"Mailbox has children, delete them first.");
		goto failed;
	}
	if (mailbox_delete_messages(index, box.id) < 0)
		goto failed;
	if (ret > 0) {
		/* RFC 9051 6.3.5: the name stays, as \Noselect */
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"UPDATE mailboxes SET noselect = 1, special_use = 0, "
			"messages = 0, unseen = 0, deleted = 0, size = 0 "
			"WHERE id = ?1");
		if (stmt == NULL)
			goto failed;
		sqlite3_bind_int64(stmt, 1, box.id);
		if (mail_index_step(index, stmt, "delete mailbox") < 0)
			goto failed;
	} else {
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"DELETE FROM mailboxes WHERE id = ?1");
		if (stmt == NULL)
			goto failed;
		sqlite3_bind_int64(stmt, 1, box.id);
		if (mail_index_step(index, stmt, "delete mailbox") < 0 ||
		    mailbox_prune_noselect_parents(t, norm) < 0)
			goto failed;
	}
	mail_index_tx_mailbox_change(t, box.id, MAIL_INDEX_CHANGE_MAILBOX_DELETE);
	if (mail_index_transaction_commit(&t) < 0)
		return -1;
	e_debug(index->event, "Mailbox deleted: %s", norm);
	return 0;
failed:
	mail_index_transaction_rollback(&t);
	return -1;
}

/* Rename old (and its children, unless inbox) to new in table. */
static int mailbox_rename_rows(struct mail_index *index, const char *sql,
			       const char *old_name, const char *new_name)
{
	sqlite3_stmt *stmt = mail_index_stmt(index, sql);

	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, old_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, new_name, -1, SQLITE_STATIC);
	return mail_index_step(index, stmt, "rename mailbox");
}

static int mailbox_rename_inbox(struct mail_index_transaction *t,
				const struct mail_index_mailbox *inbox,
				const char *new_name)
{
	struct mail_index *index = t->index;
	uint32_t new_inbox_id;

	/* The row keeps GUID, UIDVALIDITY, UIDs and messages, so nothing
	   moves: INBOX's contents simply go under the new name, and INBOX
	   starts over as a new mailbox (a new UIDVALIDITY tells clients
	   their cache of it is void). */
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"UPDATE mailboxes SET name = ?2, special_use = 0 WHERE id = ?1");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, inbox->id);
	sqlite3_bind_text(stmt, 2, new_name, -1, SQLITE_STATIC);
	if (mail_index_step(index, stmt, "rename INBOX") < 0)
		return -1;
	if (mailbox_insert(t, "INBOX", inbox->special_use, false,
			   &new_inbox_id) < 0)
		return -1;
	mail_index_tx_mailbox_change(t, inbox->id,
				     MAIL_INDEX_CHANGE_MAILBOX_RENAME);
	return 0;
}

int mail_index_mailbox_rename(struct mail_index *index, const char *old_name,
			      const char *new_name)
{
	struct mail_index_transaction *t;
	struct mail_index_mailbox box, dest;
	const char *old_norm, *new_norm;
	int ret;

	if (mailbox_name_check(index, old_name, &old_norm) < 0 ||
	    mailbox_name_check(index, new_name, &new_norm) < 0)
		return -1;
	if (strcmp(old_norm, new_norm) == 0) {
		return mail_index_set_error(index, MAIL_ERROR_EXISTS,
			"Mailbox already exists.");
	}
	size_t old_len = strlen(old_norm);
	if (strncmp(new_norm, old_norm, old_len) == 0 &&
	    new_norm[old_len] == SEP) {
		return mail_index_set_error(index, MAIL_ERROR_NOTPOSSIBLE,
			"Can't rename mailbox under itself.");
	}
	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	ret = mailbox_lookup_norm(index, old_norm, pool_datastack, &box);
	if (ret <= 0)
		goto failed;
	ret = mailbox_lookup_norm(index, new_norm, pool_datastack, &dest);
	if (ret < 0)
		goto failed;
	if (ret > 0) {
		mail_index_set_error(index, MAIL_ERROR_EXISTS,
				     "Target mailbox already exists.");
		goto failed;
	}
	if (mailbox_create_parents(t, new_norm) < 0)
		goto failed;

	if (strcmp(old_norm, "INBOX") == 0) {
		if (mailbox_rename_inbox(t, &box, new_norm) < 0)
			goto failed;
	} else {
		/* the mailbox and every child, and their subscriptions
		   (subscribed names follow, as in Dovecot) */
		if (mailbox_rename_rows(index,
			"UPDATE mailboxes SET name = ?2 || substr(name, length(?1) + 1) "
			"WHERE namespace_id = 1 AND (name = ?1 OR "
			"(name >= ?1 || '" SEP_STR "' AND name < ?1 || '" SEP_NEXT_STR "'))",
			old_norm, new_norm) < 0)
			goto failed;
		if (mailbox_rename_rows(index,
			"UPDATE OR REPLACE subscriptions SET name = ?2 || "
			"substr(name, length(?1) + 1) "
			"WHERE namespace_id = 1 AND (name = ?1 OR "
			"(name >= ?1 || '" SEP_STR "' AND name < ?1 || '" SEP_NEXT_STR "'))",
			old_norm, new_norm) < 0)
			goto failed;
		if (mailbox_prune_noselect_parents(t, old_norm) < 0)
			goto failed;
		mail_index_tx_mailbox_change(t, box.id,
					     MAIL_INDEX_CHANGE_MAILBOX_RENAME);
	}
	if (mail_index_transaction_commit(&t) < 0)
		return -1;
	mail_error_clear(&index->error);
	return 0;
failed:
	mail_index_transaction_rollback(&t);
	return -1;
}

int mail_index_mailbox_set_special_use(struct mail_index *index,
				       const char *name,
				       enum mail_special_use special_use)
{
	struct mail_index_transaction *t;
	struct mail_index_mailbox box;
	const char *norm;

	if (mailbox_name_check(index, name, &norm) < 0)
		return -1;
	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	if (mailbox_lookup_norm(index, norm, pool_datastack, &box) <= 0)
		goto failed;
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"UPDATE mailboxes SET special_use = ?2 WHERE id = ?1");
	if (stmt == NULL)
		goto failed;
	sqlite3_bind_int64(stmt, 1, box.id);
	sqlite3_bind_int(stmt, 2, (int)special_use);
	if (mail_index_step(index, stmt, "special-use") < 0)
		goto failed;
	mail_index_tx_mailbox_change(t, box.id, MAIL_INDEX_CHANGE_MAILBOX_ATTRS);
	return mail_index_transaction_commit(&t);
failed:
	mail_index_transaction_rollback(&t);
	return -1;
}

int mail_index_mailbox_subscribe(struct mail_index *index, const char *name,
				 bool subscribe)
{
	struct mail_index_transaction *t;
	const char *norm;

	if (mailbox_name_check(index, name, &norm) < 0)
		return -1;
	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	sqlite3_stmt *stmt = subscribe ?
		mail_index_stmt(index, "INSERT OR IGNORE INTO subscriptions "
				"(namespace_id, name) VALUES (1, ?1)") :
		mail_index_stmt(index, "DELETE FROM subscriptions "
				"WHERE namespace_id = 1 AND name = ?1");
	if (stmt == NULL)
		goto failed;
	sqlite3_bind_text(stmt, 1, norm, -1, SQLITE_STATIC);
	if (mail_index_step(index, stmt, "subscribe") < 0)
		goto failed;
	mail_index_tx_mailbox_change(t, 0, MAIL_INDEX_CHANGE_SUBSCRIPTIONS);
	return mail_index_transaction_commit(&t);
failed:
	mail_index_transaction_rollback(&t);
	return -1;
}

/* --- LIST --- */

bool mail_index_mailbox_name_match(const char *pattern, const char *name)
{
	size_t plen = strlen(pattern), nlen = strlen(name);
	/* INBOX (and the INBOX of "INBOX/x") matches case-insensitively */
	size_t icase_len = mailbox_name_is_inbox_prefixed(name) ? 5 : 0;
	/* dynamic programming over (pattern suffix, name suffix): linear
	   rows, so no pattern can make matching exponential */
	bool *next = t_new(bool, nlen + 1), *cur = t_new(bool, nlen + 1);

	next[nlen] = true;
	for (size_t i = plen; i-- > 0;) {
		char pc = pattern[i];
		for (size_t j = nlen + 1; j-- > 0;) {
			bool m;
			if (pc == '*') {
				m = next[j] || (j < nlen && cur[j + 1]);
			} else if (pc == '%') {
				m = next[j] || (j < nlen && name[j] != SEP &&
						cur[j + 1]);
			} else if (j == nlen) {
				m = false;
			} else if (j < icase_len) {
				m = tolower((unsigned char)pc) ==
					tolower((unsigned char)name[j]) &&
					next[j + 1];
			} else {
				m = pc == name[j] && next[j + 1];
			}
			cur[j] = m;
		}
		bool *tmp = next;
		next = cur;
		cur = tmp;
		memset(cur, 0, nlen + 1);
	}
	return next[0];
}

static bool mailbox_match_any(const char *const *patterns, const char *name)
{
	for (; *patterns != NULL; patterns++) {
		if (mail_index_mailbox_name_match(*patterns, name))
			return true;
	}
	return false;
}

static int list_entry_cmp(const void *p1, const void *p2)
{
	const struct mail_index_list_entry *e1 = p1, *e2 = p2;
	bool inbox1 = strcmp(e1->name, "INBOX") == 0;
	bool inbox2 = strcmp(e2->name, "INBOX") == 0;

	if (inbox1 != inbox2)
		return inbox1 ? -1 : 1;
	return strcmp(e1->name, e2->name);
}

static int list_entry_cmp_by_name(const void *p1, const void *p2)
{
	const struct mail_index_list_entry *e1 = p1, *e2 = p2;

	return strcmp(e1->name, e2->name);
}

static int str_ptr_cmp(const void *p1, const void *p2)
{
	return strcmp(*(const char *const *)p1, *(const char *const *)p2);
}

/* Binary search in the sorted names. */
static bool names_contain(const ARRAY_TYPE(mail_string) *names,
			  const char *name)
{
	return array_count(names) > 0 &&
		bsearch(&name, names->v, array_count(names), sizeof(name),
			str_ptr_cmp) != NULL;
}

static bool names_have_child(const ARRAY_TYPE(mail_string) *names,
			     const char *name)
{
	/* the first name > name "/" in sorted order is a child if any is */
	const char *prefix = t_strdup_printf("%s" SEP_STR, name);
	size_t prefix_len = strlen(prefix);
	unsigned int lo = 0, hi = array_count(names);

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		if (strcmp(names->v[mid], prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < array_count(names) &&
		strncmp(names->v[lo], prefix, prefix_len) == 0;
}

int mail_index_mailbox_list(struct mail_index *index,
			    const char *const *patterns,
			    enum mail_index_list_flags flags, pool_t pool,
			    ARRAY_TYPE(mail_index_list_entry) *result)
{
	ARRAY(struct mail_index_list_entry) boxes;
	ARRAY_TYPE(mail_string) names, subs;
	sqlite3_stmt *stmt;
	int ret;

	array_init(&boxes, pool_datastack, 32);
	array_init(&names, pool_datastack, 32);
	array_init(&subs, pool_datastack, 32);
	if (mail_index_read_begin(index) < 0)
		return -1;
	stmt = mail_index_stmt(index,
		"SELECT id, name, special_use, noselect FROM mailboxes "
		"WHERE namespace_id = 1 ORDER BY name");
	if (stmt == NULL)
		goto failed;
	while ((ret = mail_index_step(index, stmt, "list")) > 0) {
		struct mail_index_list_entry *e = array_append_space(&boxes);
		e->id = (uint32_t)sqlite3_column_int64(stmt, 0);
		e->name = mail_index_column_str(pool_datastack, stmt, 1);
		e->special_use = (enum mail_special_use)sqlite3_column_int(stmt, 2);
		if (sqlite3_column_int(stmt, 3) != 0)
			e->attrs |= MAIL_INDEX_MAILBOX_ATTR_NOSELECT;
		array_push(&names, e->name);
	}
	if (ret < 0)
		goto failed;
	stmt = mail_index_stmt(index,
		"SELECT name FROM subscriptions WHERE namespace_id = 1 ORDER BY name");
	if (stmt == NULL)
		goto failed;
	while ((ret = mail_index_step(index, stmt, "list")) > 0) {
		const char *name = mail_index_column_str(pool_datastack, stmt, 0);
		array_push(&subs, name);
	}
	if (ret < 0)
		goto failed;
	mail_index_read_end(index);

	/* SQLite sorted by its BINARY collation, which is strcmp order */
	struct mail_index_list_entry *e;
	if ((flags & MAIL_INDEX_LIST_SUBSCRIBED) != 0) {
		const char *const *subp;
		array_foreach(&subs, subp) {
			struct mail_index_list_entry key = { .name = *subp }, *found;
			if (!mailbox_match_any(patterns, *subp))
				continue;
			found = array_count(&boxes) == 0 ? NULL :
				bsearch(&key, boxes.v, array_count(&boxes),
					sizeof(key), list_entry_cmp_by_name);
			struct mail_index_list_entry *out = array_append_space(result);
			if (found != NULL)
				*out = *found;
			else {
				out->name = *subp;
				out->attrs = MAIL_INDEX_MAILBOX_ATTR_NONEXISTENT;
			}
			out->name = p_strdup(pool, out->name);
			out->attrs |= MAIL_INDEX_MAILBOX_ATTR_SUBSCRIBED;
			out->attrs |= names_have_child(&names, *subp) ?
				MAIL_INDEX_MAILBOX_ATTR_HASCHILDREN :
				MAIL_INDEX_MAILBOX_ATTR_HASNOCHILDREN;
		}
	} else {
		array_foreach(&boxes, e) {
			if (!mailbox_match_any(patterns, e->name))
				continue;
			if ((flags & MAIL_INDEX_LIST_SPECIAL_USE) != 0 &&
			    e->special_use == 0)
				continue;
			struct mail_index_list_entry *out = array_append_space(result);
			*out = *e;
			out->name = p_strdup(pool, e->name);
			if (names_contain(&subs, e->name))
				out->attrs |= MAIL_INDEX_MAILBOX_ATTR_SUBSCRIBED;
			out->attrs |= names_have_child(&names, e->name) ?
				MAIL_INDEX_MAILBOX_ATTR_HASCHILDREN :
				MAIL_INDEX_MAILBOX_ATTR_HASNOCHILDREN;
		}
	}
	if (array_count(result) > 1) {
		qsort(result->v, array_count(result), sizeof(result->v[0]),
		      list_entry_cmp);
	}
	return 0;
failed:
	mail_index_read_end(index);
	return -1;
}

int mail_index_mailbox_status(struct mail_index *index, uint32_t mailbox_id,
			      struct mail_index_status *status_r)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT messages, unseen, deleted, uidnext, uidvalidity, "
		"highestmodseq, size FROM mailboxes WHERE id = ?1");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	ret = mail_index_step(index, stmt, "status");
	if (ret <= 0) {
		if (ret == 0) {
			mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
					     "Mailbox doesn't exist.");
		}
		return -1;
	}
	status_r->messages = (uint32_t)sqlite3_column_int64(stmt, 0);
	status_r->unseen = (uint32_t)sqlite3_column_int64(stmt, 1);
	status_r->deleted = (uint32_t)sqlite3_column_int64(stmt, 2);
	status_r->uidnext = (uint32_t)sqlite3_column_int64(stmt, 3);
	status_r->uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 4);
	status_r->highestmodseq = (uint64_t)sqlite3_column_int64(stmt, 5);
	status_r->size = (uint64_t)sqlite3_column_int64(stmt, 6);
	sqlite3_reset(stmt);
	/* UIDNEXT and the counts are reported: durable first (outside a
	   snapshot read_end() does not do it) */
	if (index->read_depth == 0 && index->t == NULL &&
	    mail_index_reader_durable(index) < 0)
		return -1;
	return 0;
}
