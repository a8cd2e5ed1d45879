/* The index's SQL schema and its migrations. Version N of the schema is
   what migrations[0..N-1] build, applied in order; schema_version holds
   the version a database is at, so an old database is brought forward on
   open and a newer one (from a later Columba) is refused rather than
   misread. A migration never edits an earlier one: it adds a new step. */
#include "lib.h"
#include "mail-index-private.h"

/* Message rows are narrow and clustered by (mailbox, UID): listing a
   mailbox's UIDs and flags is one sequential range scan. Bulky cached
   fields live in message_cache so they do not slow that scan down.
   Mailbox counters (messages, unseen, deleted, size) are kept by triggers
   so STATUS costs one row lookup whatever the mailbox's size. */
static const char *const migration_1 =
"CREATE TABLE user_state (\n"
"  key TEXT PRIMARY KEY,\n"
"  value INTEGER NOT NULL\n"
") WITHOUT ROWID;\n"
"CREATE TABLE namespaces (\n"
"  id INTEGER PRIMARY KEY,\n"
"  prefix TEXT NOT NULL UNIQUE,\n"
"  separator TEXT NOT NULL,\n"
"  type TEXT NOT NULL CHECK (type IN ('private', 'shared', 'public'))\n"
");\n"
"INSERT INTO namespaces (id, prefix, separator, type)\n"
"  VALUES (1, '', '/', 'private');\n"
"CREATE TABLE mailboxes (\n"
"  id INTEGER PRIMARY KEY,\n"
"  namespace_id INTEGER NOT NULL REFERENCES namespaces(id),\n"
"  name TEXT NOT NULL,\n"
"  guid TEXT NOT NULL UNIQUE,\n"
"  uidvalidity INTEGER NOT NULL,\n"
/* what clients see: above every committed UID */
"  uidnext INTEGER NOT NULL DEFAULT 1,\n"
/* what the next reservation gets: >= uidnext */
"  uid_alloc_next INTEGER NOT NULL DEFAULT 1,\n"
"  highestmodseq INTEGER NOT NULL DEFAULT 1,\n"
"  special_use INTEGER NOT NULL DEFAULT 0,\n"
"  noselect INTEGER NOT NULL DEFAULT 0,\n"
"  create_time INTEGER NOT NULL,\n"
"  messages INTEGER NOT NULL DEFAULT 0,\n"
"  unseen INTEGER NOT NULL DEFAULT 0,\n"
"  deleted INTEGER NOT NULL DEFAULT 0,\n"
"  size INTEGER NOT NULL DEFAULT 0,\n"
"  UNIQUE (namespace_id, name)\n"
");\n"
"CREATE TABLE subscriptions (\n"
"  namespace_id INTEGER NOT NULL REFERENCES namespaces(id),\n"
"  name TEXT NOT NULL,\n"
"  PRIMARY KEY (namespace_id, name)\n"
") WITHOUT ROWID;\n"
/* bit idx of messages.keywords; names are case-insensitive (first
   spelling kept) */
"CREATE TABLE keywords (\n"
"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,\n"
"  idx INTEGER NOT NULL,\n"
"  name TEXT NOT NULL COLLATE NOCASE,\n"
"  PRIMARY KEY (mailbox_id, idx),\n"
"  UNIQUE (mailbox_id, name)\n"
") WITHOUT ROWID;\n"
"CREATE TABLE messages (\n"
"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,\n"
"  uid INTEGER NOT NULL,\n"
"  flags INTEGER NOT NULL,\n"
"  keywords BLOB,\n"
"  modseq INTEGER NOT NULL,\n"
"  internal_date INTEGER NOT NULL,\n"
"  internal_tz INTEGER NOT NULL,\n"
"  sent_date INTEGER NOT NULL,\n"
"  sent_tz INTEGER NOT NULL,\n"
"  save_date INTEGER NOT NULL,\n"
"  physical_size INTEGER NOT NULL,\n"
"  rfc822_size INTEGER NOT NULL,\n"
"  guid TEXT NOT NULL,\n"
"  blob_key TEXT NOT NULL,\n"
"  PRIMARY KEY (mailbox_id, uid)\n"
") WITHOUT ROWID;\n"
"CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);\n"
/* covering index for listing UIDs and flags: SELECT and FETCH FLAGS
   read ~20 bytes a message instead of the whole row */
"CREATE INDEX messages_uid_flags ON messages (mailbox_id, uid, flags, keywords, modseq);\n"
"CREATE TABLE message_cache (\n"
"  mailbox_id INTEGER NOT NULL,\n"
"  uid INTEGER NOT NULL,\n"
"  envelope TEXT,\n"
"  bodystructure TEXT,\n"
"  body TEXT,\n"
"  headers BLOB,\n"
"  parts BLOB,\n"
"  PRIMARY KEY (mailbox_id, uid),\n"
"  FOREIGN KEY (mailbox_id, uid) REFERENCES messages (mailbox_id, uid)\n"
"    ON DELETE CASCADE\n"
") WITHOUT ROWID;\n"
/* AUTOINCREMENT: ids are never reused even after old entries are pruned,
   so a reader's "last seen id" stays meaningful */
"CREATE TABLE changes (\n"
"  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
"  mailbox_id INTEGER NOT NULL,\n"
"  modseq INTEGER NOT NULL,\n"
"  type INTEGER NOT NULL,\n"
"  uid1 INTEGER NOT NULL DEFAULT 0,\n"
"  uid2 INTEGER NOT NULL DEFAULT 0\n"
");\n"
"CREATE INDEX changes_mailbox ON changes (mailbox_id, modseq);\n"
"CREATE TABLE uid_reservations (\n"
"  id INTEGER PRIMARY KEY,\n"
"  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,\n"
"  uid1 INTEGER NOT NULL,\n"
"  uid2 INTEGER NOT NULL,\n"
"  owner TEXT NOT NULL,\n"
"  created INTEGER NOT NULL\n"
");\n"
"CREATE INDEX uid_reservations_mailbox ON uid_reservations (mailbox_id, uid1);\n"
/* a mailbox's UIDs, flags, keywords and modseqs packed into one blob as
   of a modseq: SELECT reads it plus the rows changed since, instead of
   stepping through every row (mail-index-select.c) */
"CREATE TABLE flag_snapshots (\n"
"  mailbox_id INTEGER PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,\n"
"  modseq INTEGER NOT NULL,\n"
"  count INTEGER NOT NULL,\n"
"  data BLOB NOT NULL\n"
");\n"
"CREATE TABLE blob_deletions (\n"
"  blob_key TEXT PRIMARY KEY,\n"
"  queued INTEGER NOT NULL\n"
") WITHOUT ROWID;\n"
"CREATE TRIGGER messages_insert AFTER INSERT ON messages BEGIN\n"
"  UPDATE mailboxes SET messages = messages + 1,\n"
"    unseen = unseen + ((NEW.flags & 8) = 0),\n"
"    deleted = deleted + ((NEW.flags & 4) != 0),\n"
"    size = size + NEW.rfc822_size\n"
"  WHERE id = NEW.mailbox_id;\n"
"END;\n"
"CREATE TRIGGER messages_delete AFTER DELETE ON messages BEGIN\n"
"  UPDATE mailboxes SET messages = messages - 1,\n"
"    unseen = unseen - ((OLD.flags & 8) = 0),\n"
"    deleted = deleted - ((OLD.flags & 4) != 0),\n"
"    size = size - OLD.rfc822_size\n"
"  WHERE id = OLD.mailbox_id;\n"
"END;\n"
"CREATE TRIGGER messages_flags_count AFTER UPDATE OF flags ON messages\n"
"  WHEN (OLD.flags & 12) != (NEW.flags & 12) BEGIN\n"
"  UPDATE mailboxes SET\n"
"    unseen = unseen + ((NEW.flags & 8) = 0) - ((OLD.flags & 8) = 0),\n"
"    deleted = deleted + ((NEW.flags & 4) != 0) - ((OLD.flags & 4) != 0)\n"
"  WHERE id = NEW.mailbox_id;\n"
"END;\n";

/* Change-log pruning (mail-index-prune.c): each entry's time, and per
   mailbox the highest modseq of an expunge entry pruned, below which
   VANISHED can no longer be answered from the log. */
static const char *const migration_2 =
"ALTER TABLE changes ADD COLUMN time INTEGER NOT NULL DEFAULT 0;\n"
"ALTER TABLE mailboxes ADD COLUMN changes_pruned_modseq INTEGER NOT NULL DEFAULT 0;\n";

/* IMAP4rev1 \Recent (mail-index-recent.c): the first UID no read-write
   session has claimed yet, valid for the UIDVALIDITY next to it (a
   mailbox recreated under the same row starts over). */
static const char *const migration_3 =
"ALTER TABLE mailboxes ADD COLUMN recent_uidvalidity INTEGER NOT NULL DEFAULT 0;\n"
"ALTER TABLE mailboxes ADD COLUMN first_recent_uid INTEGER NOT NULL DEFAULT 1;\n";

/* Quota usage (mail-index-quota.c): one row with the sum of every
   message's RFC822.SIZE and their count, kept by triggers in the same
   transaction as the rows (a mailbox delete's cascade fires them too),
   and computed here for the messages an older index already holds. */
static const char *const migration_4 =
"CREATE TABLE quota_usage (\n"
"  id INTEGER PRIMARY KEY CHECK (id = 1),\n"
"  storage INTEGER NOT NULL,\n"
"  messages INTEGER NOT NULL\n"
");\n"
"INSERT INTO quota_usage (id, storage, messages)\n"
"  SELECT 1, coalesce(sum(rfc822_size), 0), count(*) FROM messages;\n"
"CREATE TRIGGER quota_messages_insert AFTER INSERT ON messages BEGIN\n"
"  UPDATE quota_usage SET storage = storage + NEW.rfc822_size,\n"
"    messages = messages + 1 WHERE id = 1;\n"
"END;\n"
"CREATE TRIGGER quota_messages_delete AFTER DELETE ON messages BEGIN\n"
"  UPDATE quota_usage SET storage = storage - OLD.rfc822_size,\n"
"    messages = messages - 1 WHERE id = 1;\n"
"END;\n"
"CREATE TRIGGER quota_messages_size AFTER UPDATE OF rfc822_size ON messages\n"
"  WHEN OLD.rfc822_size != NEW.rfc822_size BEGIN\n"
"  UPDATE quota_usage SET storage = storage - OLD.rfc822_size +\n"
"    NEW.rfc822_size WHERE id = 1;\n"
"END;\n";

/* SEARCH's form of each message's Subject, From, To, Cc and Bcc
   (lib-mail's message-search-fields.h: decoded, address lists normalised,
   i;unicode-casemap folded, a field's values NUL-separated; NULL = no such
   field), so SEARCH SUBJECT/FROM/TO/CC/BCC read a short row per message
   instead of the cached header block in message_cache. Rows are written
   when a message is saved; messages saved before this step, and rows of
   another version (Unicode data), are filled by the first SEARCH that
   needs them (mail_index_search_fields_store()). */
static const char *const migration_5 =
"CREATE TABLE IF NOT EXISTS message_search (\n"
"  mailbox_id INTEGER NOT NULL,\n"
"  uid INTEGER NOT NULL,\n"
"  version INTEGER NOT NULL,\n"
"  hdr_subject BLOB,\n"
"  hdr_from BLOB,\n"
"  hdr_to BLOB,\n"
"  hdr_cc BLOB,\n"
"  hdr_bcc BLOB,\n"
"  PRIMARY KEY (mailbox_id, uid),\n"
"  FOREIGN KEY (mailbox_id, uid) REFERENCES messages (mailbox_id, uid)\n"
"    ON DELETE CASCADE\n"
") WITHOUT ROWID;\n";

/* uid_reservations holds the saves in flight (a few rows): the index on
   (mailbox_id, uid1) saved no reads worth having and cost every save two
   WAL pages, one when its reservation was inserted and one when it was
   deleted with the message's row. */
static const char *const migration_6 =
"DROP INDEX IF EXISTS uid_reservations_mailbox;\n";

/* Quota usage is the sum of the mailboxes' counters (messages, size),
   which the triggers of migration 1 keep in the same transactions: the
   quota_usage row duplicated them at the cost of a WAL page and a
   trigger for every saved and expunged message. The one case the
   mailbox counters did not follow, an UPDATE of a message's
   rfc822_size (which no code does), gets its trigger here. */
static const char *const migration_7 =
"DROP TRIGGER IF EXISTS quota_messages_insert;\n"
"DROP TRIGGER IF EXISTS quota_messages_delete;\n"
"DROP TRIGGER IF EXISTS quota_messages_size;\n"
"DROP TABLE IF EXISTS quota_usage;\n"
"CREATE TRIGGER IF NOT EXISTS messages_size\n"
"  AFTER UPDATE OF rfc822_size ON messages\n"
"  WHEN OLD.rfc822_size != NEW.rfc822_size BEGIN\n"
"  UPDATE mailboxes SET size = size - OLD.rfc822_size + NEW.rfc822_size\n"
"  WHERE id = NEW.mailbox_id;\n"
"END;\n";

static const char *const migrations[] = {
	migration_1,
	migration_2,
	migration_3,
	migration_4,
	migration_5,
	migration_6,
	migration_7,
};

unsigned int mail_index_get_schema_version(void)
{
	return N_ELEMENTS(migrations);
}

static int mail_index_schema_get_version(struct mail_index *index,
					 unsigned int *version_r)
{
	sqlite3_stmt *stmt;
	int ret;

	/* not cached: the table may not exist yet */
	ret = sqlite3_prepare_v2(index->db,
		"SELECT count(*) FROM sqlite_master "
		"WHERE type = 'table' AND name = 'schema_version'",
		-1, &stmt, NULL);
	if (ret != SQLITE_OK)
		return mail_index_set_sqlite_error(index, ret, "schema check");
	ret = sqlite3_step(stmt);
	bool exists = ret == SQLITE_ROW && sqlite3_column_int(stmt, 0) > 0;
	sqlite3_finalize(stmt);
	if (ret != SQLITE_ROW)
		return mail_index_set_sqlite_error(index, ret, "schema check");
	if (!exists) {
		*version_r = 0;
		return 0;
	}
	ret = sqlite3_prepare_v2(index->db,
		"SELECT max(version) FROM schema_version", -1, &stmt, NULL);
	if (ret != SQLITE_OK)
		return mail_index_set_sqlite_error(index, ret, "schema version");
	ret = sqlite3_step(stmt);
	*version_r = ret == SQLITE_ROW ?
		(unsigned int)sqlite3_column_int(stmt, 0) : 0;
	sqlite3_finalize(stmt);
	if (ret != SQLITE_ROW)
		return mail_index_set_sqlite_error(index, ret, "schema version");
	return 0;
}

int mail_index_schema_init(struct mail_index *index, const char **error_r)
{
	unsigned int version;

	if (mail_index_schema_get_version(index, &version) < 0)
		goto failed;
	if (version == N_ELEMENTS(migrations))
		return 0;
	if (version > N_ELEMENTS(migrations)) {
		*error_r = t_strdup_printf(
			"%s: schema version %u is newer than this code's %u",
			index->path, version,
			(unsigned int)N_ELEMENTS(migrations));
		return -1;
	}

	/* Another process may be migrating at the same moment: take the
	   write lock, then look again. */
	if (mail_index_exec(index, "BEGIN IMMEDIATE") < 0)
		goto failed;
	if (mail_index_schema_get_version(index, &version) < 0)
		goto rollback;
	if (version == 0 &&
	    mail_index_exec(index, "CREATE TABLE schema_version ("
			    "version INTEGER NOT NULL, applied INTEGER NOT NULL)") < 0)
		goto rollback;
	for (; version < N_ELEMENTS(migrations); version++) {
		if (mail_index_exec(index, migrations[version]) < 0)
			goto rollback;
		char *sql = sqlite3_mprintf(
			"INSERT INTO schema_version (version, applied) "
			"VALUES (%u, strftime('%%s', 'now'))", version + 1);
		int ret = mail_index_exec(index, sql);
		sqlite3_free(sql);
		if (ret < 0)
			goto rollback;
	}
	if (mail_index_exec(index, "COMMIT") < 0)
		goto rollback;
	if (mail_index_durable_is_grouped(index) &&
	    mail_index_durable_sync(index) < 0)
		goto failed;
	return 0;

rollback:
	(void)sqlite3_exec(index->db, "ROLLBACK", NULL, NULL, NULL);
failed:
	*error_r = t_strdup_printf("%s: schema: %s", index->path,
				   index->error.internal_text != NULL ?
				   index->error.internal_text :
				   index->error.user_text);
	return -1;
}
