/* Rebuilding a user's index from the blob store alone, for a backend
   whose copy of the index is lost. Every message blob names its mailbox
   (GUID and name at save time), UID, UIDVALIDITY, dates and the flags it
   was saved with; the mailbox-list object has the current names and
   subscriptions, and per-mailbox uidnext objects the UIDNEXT after
   expunges. So UIDs and UIDVALIDITY come back as they were and clients
   need not resync; flag changes made after a save are what is lost. Each
   message is read once to recompute what the index caches (RFC822.SIZE,
   ENVELOPE, BODYSTRUCTURE, the part tree). */
#include "lib.h"
#include "hash.h"
#include "blob.h"
#include "mail-blob-meta.h"
#include "mail-storage-private.h"
#include <sys/stat.h>

/* commit every so many messages: bounded transactions */
#define REBUILD_COMMIT_EVERY 500

struct rebuild_msg {
	const char *key;
	uint64_t size;
	struct mail_blob_meta meta;
};

struct rebuild_box {
	const char *guid;
	const char *name;
	uint32_t uidvalidity;
	uint32_t uidnext_marker;
	enum mail_special_use special_use;
	/* named by the mailbox list (not only by its messages) */
	bool in_list;
	time_t newest_save;
	ARRAY(struct rebuild_msg) msgs;
};

struct rebuild_ctx {
	pool_t pool;
	struct blob_store *store;
	const char *prefix;
	struct hash_table *boxes;
	ARRAY(const char *) subscriptions;
	struct mail_index *index;
	const char *error;
	unsigned int count;
};

static struct rebuild_box *rebuild_box_get(struct rebuild_ctx *ctx,
					   const char *guid)
{
	struct rebuild_box *box = hash_table_lookup(ctx->boxes, guid);

	if (box == NULL) {
		box = p_new(ctx->pool, struct rebuild_box, 1);
		box->guid = p_strdup(ctx->pool, guid);
		array_init(&box->msgs, ctx->pool, 16);
		hash_table_insert(ctx->boxes, (void *)box->guid, box);
	}
	return box;
}

static int rebuild_read_small(struct rebuild_ctx *ctx, const char *key,
			      const char **text_r)
{
	struct blob_result result;
	buffer_t *buf = t_str_new(1024);

	if (blob_get_data_sync(ctx->store, key, buf, &result) < 0) {
		ctx->error = p_strdup_printf(ctx->pool, "read(%s): %s", key,
					     result.internal_error);
		return -1;
	}
	*text_r = str_c(buf);
	return 0;
}

static void rebuild_parse_list(struct rebuild_ctx *ctx, const char *text)
{
	const char *const *lines = t_strsplit(text, "\n");

	for (; *lines != NULL; lines++) {
		const char *const *f = t_strsplit(*lines, "\t");
		unsigned int n = str_array_length(f);
		if (n == 5 && strcmp(f[0], "mailbox") == 0) {
			uint32_t uidvalidity, special_use;
			const char *name = mail_blob_name_decode(ctx->pool, f[4]);
			if (name == NULL || str_to_uint(f[2], &uidvalidity) < 0 ||
			    str_to_uint(f[3], &special_use) < 0)
				continue;
			struct rebuild_box *box = rebuild_box_get(ctx, f[1]);
			box->name = name;
			box->uidvalidity = uidvalidity;
			box->special_use = (enum mail_special_use)special_use;
			box->in_list = true;
		} else if (n == 2 && strcmp(f[0], "subscribed") == 0) {
			const char *name = mail_blob_name_decode(ctx->pool, f[1]);
			if (name != NULL)
				array_push(&ctx->subscriptions, name);
		}
	}
}

/* One listed key: a message (head it), a uidnext marker, the list. */
static int rebuild_add_key(struct rebuild_ctx *ctx,
			   const struct blob_list_entry *entry,
			   const char **list_text)
{
	const char *guid, *text, *error;
	uint32_t uid;
	size_t prefix_len = strlen(ctx->prefix);

	if (strcmp(entry->key, mail_blob_mailbox_list_key(ctx->prefix)) == 0)
		return rebuild_read_small(ctx, entry->key, list_text);
	if (str_ends_with(entry->key, "/uidnext")) {
		/* <prefix>/<guid>/uidnext */
		const char *p = entry->key + prefix_len + 1;
		guid = t_strndup(p, strcspn(p, "/"));
		if (rebuild_read_small(ctx, entry->key, &text) < 0)
			return -1;
		if (str_begins(text, "uidnext ") &&
		    str_to_uint(t_str_trim(text + 8, "\n"), &uid) == 0)
			rebuild_box_get(ctx, guid)->uidnext_marker = uid;
		return 0;
	}
	if (!mail_blob_key_parse(entry->key, ctx->prefix, &guid, &uid))
		return 0;

	struct blob_info info;
	struct blob_result result;
	struct rebuild_msg msg;
	if (blob_head_sync(ctx->store, entry->key, pool_datastack, &info,
			   &result) < 0) {
		if (result.error == BLOB_ERROR_NOT_FOUND)
			return 0;
		ctx->error = p_strdup_printf(ctx->pool, "head(%s): %s", entry->key,
					     result.internal_error);
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	if (mail_blob_meta_parse(&info, ctx->pool, &msg.meta, &error) < 0) {
		i_warning("rebuild: %s skipped: %s", entry->key, error);
		return 0;
	}
	msg.key = p_strdup(ctx->pool, entry->key);
	msg.size = info.size;
	struct rebuild_box *box = rebuild_box_get(ctx, msg.meta.mailbox_guid);
	if (msg.meta.save_date >= box->newest_save) {
		/* the newest message knows the most recent name */
		box->newest_save = msg.meta.save_date;
		if (!box->in_list) {
			box->name = msg.meta.mailbox_name;
			box->uidvalidity = msg.meta.uidvalidity;
		}
	}
	array_push(&box->msgs, msg);
	return 0;
}

static int rebuild_msg_cmp(const void *p1, const void *p2)
{
	const struct rebuild_msg *m1 = p1, *m2 = p2;

	if (m1->meta.uid != m2->meta.uid)
		return m1->meta.uid < m2->meta.uid ? -1 : 1;
	if (m1->meta.save_date != m2->meta.save_date)
		return m1->meta.save_date < m2->meta.save_date ? -1 : 1;
	return strcmp(m1->key, m2->key);
}

static int rebuild_box_cmp(const void *p1, const void *p2)
{
	const struct rebuild_box *b1 = *(const struct rebuild_box *const *)p1;
	const struct rebuild_box *b2 = *(const struct rebuild_box *const *)p2;
	int ret = strcmp(b1->name, b2->name);

	/* parents before children; for one name, the listed mailbox, then
	   the most recently used one */
	if (ret != 0)
		return ret;
	if (b1->in_list != b2->in_list)
		return b1->in_list ? -1 : 1;
	if (b1->newest_save != b2->newest_save)
		return b1->newest_save > b2->newest_save ? -1 : 1;
	return strcmp(b1->guid, b2->guid);
}

/* Read and parse the message for its size and cached fields. */
static int rebuild_parse_message(struct rebuild_ctx *ctx,
				 const struct rebuild_msg *msg, pool_t pool,
				 struct mail_parse_result *parsed_r)
{
	struct mail_parse_ctx *parse = mail_parse_begin(pool);
	struct blob_get *get = blob_get_begin_sync(ctx->store, msg->key, 0,
						   UINT64_MAX);
	struct blob_result result;
	const unsigned char *data;
	size_t size;

	while (blob_get_read_data(get, &data, &size) > 0) {
		mail_parse_feed(parse, data, size);
		blob_get_skip(get, size);
	}
	if (blob_get_end(&get, &result) < 0) {
		mail_parse_abort(&parse);
		ctx->error = p_strdup_printf(ctx->pool, "read(%s): %s", msg->key,
					     result.internal_error);
		return -1;
	}
	(void)mail_parse_finish(&parse, parsed_r);
	return 0;
}

static int rebuild_index_error(struct rebuild_ctx *ctx, const char *what)
{
	const char *internal;

	(void)mail_index_get_last_error(ctx->index, NULL, &internal);
	ctx->error = p_strdup_printf(ctx->pool, "%s: %s", what, internal);
	return -1;
}

static int rebuild_messages(struct rebuild_ctx *ctx, struct rebuild_box *box,
			    uint32_t mailbox_id, uint32_t *uidnext)
{
	struct mail_index_transaction *t = NULL;
	ARRAY(const struct rebuild_msg *) dups;
	uint32_t last_uid = 0;
	unsigned int in_tx = 0;
	int ret = 0;

	/* pushed to from inside T_BEGIN: not on the data stack */
	array_init(&dups, ctx->pool, 4);
	if (array_count(&box->msgs) > 1) {
		qsort(box->msgs.v, array_count(&box->msgs),
		      sizeof(box->msgs.v[0]), rebuild_msg_cmp);
	}
	/* the UID order, then duplicates (a UID reused after a power
	   failure lost its reservation) at the end with new UIDs */
	for (unsigned int pass = 0; pass < 2 && ret == 0; pass++) {
		unsigned int count = pass == 0 ? array_count(&box->msgs) :
			array_count(&dups);
		for (unsigned int i = 0; i < count && ret == 0; i++) T_BEGIN {
			const struct rebuild_msg *msg = pass == 0 ?
				&box->msgs.v[i] : dups.v[i];
			uint32_t uid = msg->meta.uid;
			if (pass == 0 && uid == last_uid) {
				array_push(&dups, msg);
			} else {
				if (pass == 1)
					uid = (*uidnext)++;
				last_uid = uid;
				struct mail_parse_result p;
				pool_t pool = pool_alloconly_create("rebuild msg", 4096);
				if (t == NULL &&
				    mail_index_transaction_begin(ctx->index, &t) < 0)
					ret = rebuild_index_error(ctx, "begin");
				else if (rebuild_parse_message(ctx, msg, pool, &p) < 0)
					ret = -1;
				else {
					struct mail_index_new_message m = {
						.flags = msg->meta.flags,
						.keywords = msg->meta.keywords,
						.internal_date = msg->meta.internal_date,
						.internal_tz = msg->meta.internal_tz,
						.sent_date = p.sent_date,
						.sent_tz = p.sent_tz,
						.save_date = msg->meta.save_date,
						.physical_size = msg->size,
						.rfc822_size = p.rfc822_size,
						.guid = msg->meta.guid,
						.blob_key = msg->key,
						.envelope = p.envelope,
						.bodystructure = p.bodystructure,
						.body = p.body,
						.headers = p.headers->data,
						.headers_size = p.headers->used,
						.parts = p.parts->data,
						.parts_size = p.parts->used,
					};
					if (mail_index_append_uid(t, mailbox_id,
								  uid, &m) <= 0)
						ret = rebuild_index_error(ctx, msg->key);
					else
						ctx->count++;
				}
				pool_unref(&pool);
				if (ret == 0 && ++in_tx >= REBUILD_COMMIT_EVERY) {
					in_tx = 0;
					if (mail_index_transaction_commit(&t) < 0)
						ret = rebuild_index_error(ctx, "commit");
				}
			}
		} T_END;
		if (pass == 0 && *uidnext <= last_uid)
			*uidnext = last_uid + 1;
	}
	if (t != NULL) {
		if (ret < 0)
			mail_index_transaction_rollback(&t);
		else if (mail_index_transaction_commit(&t) < 0)
			ret = rebuild_index_error(ctx, "commit");
	}
	return ret;
}

static int rebuild_mailboxes(struct rebuild_ctx *ctx)
{
	ARRAY(struct rebuild_box *) boxes;
	struct hash_iterate iter;
	void *key, *value;
	const char *prev_name = NULL;

	array_init(&boxes, pool_datastack, hash_table_count(ctx->boxes) + 1);
	hash_table_iterate_init(ctx->boxes, &iter);
	while (hash_table_iterate(&iter, &key, &value)) {
		struct rebuild_box *box = value;
		/* a listed mailbox, or one with messages */
		if (box->name == NULL || box->uidvalidity == 0)
			continue;
		if (!box->in_list && array_count(&box->msgs) == 0)
			continue;
		array_push(&boxes, box);
	}
	if (array_count(&boxes) > 1) {
		qsort(boxes.v, array_count(&boxes), sizeof(boxes.v[0]),
		      rebuild_box_cmp);
	}

	for (unsigned int i = 0; i < array_count(&boxes); i++) {
		struct rebuild_box *box = boxes.v[i];
		const char *name = box->name;
		uint32_t id, uidnext = I_MAX(box->uidnext_marker, 1);

		/* two mailboxes claim one name (a deleted mailbox whose blobs
		   were not all deleted): the later gets a name of its own */
		if (prev_name != NULL && strcmp(prev_name, box->name) == 0) {
			name = t_strdup_printf("%s-%.8s", box->name, box->guid);
		} else {
			prev_name = box->name;
		}
		/* UIDNEXT before the messages go in: they raise it */
		struct mail_index_mailbox_restore restore = {
			.name = name,
			.guid = box->guid,
			.uidvalidity = box->uidvalidity,
			.uidnext = 1,
			.special_use = box->special_use,
		};
		if (mail_index_mailbox_restore(ctx->index, &restore, &id) < 0) {
			if (mail_index_get_last_error(ctx->index, NULL, NULL) !=
			    MAIL_ERROR_EXISTS)
				return rebuild_index_error(ctx, name);
			/* a parent created for an earlier child, or an
			   invalid name: keep the messages under another */
			restore.name = t_strdup_printf("%s-%.8s", box->name,
						       box->guid);
			if (mail_index_mailbox_restore(ctx->index, &restore, &id) < 0)
				return rebuild_index_error(ctx, restore.name);
		}
		uint32_t next = 1;
		if (rebuild_messages(ctx, box, id, &next) < 0)
			return -1;
		/* UIDs above every message and above the recorded UIDNEXT */
		if (mail_index_mailbox_raise_uidnext(ctx->index, id,
						     I_MAX(uidnext, next)) < 0)
			return rebuild_index_error(ctx, "uidnext");
	}
	const char *const *subp;
	array_foreach(&ctx->subscriptions, subp) {
		if (mail_index_mailbox_subscribe(ctx->index, *subp, true) < 0)
			return rebuild_index_error(ctx, "subscribe");
	}
	return 0;
}

int mail_index_rebuild(const char *index_path, struct blob_store *store,
		       const char *prefix, unsigned int *count_r,
		       const char **error_r)
{
	struct mail_index_settings set = { .path = index_path };
	struct rebuild_ctx ctx;
	struct stat st;
	const struct blob_list_entry *entry;
	const char *list_text = NULL;
	struct blob_result result;
	int ret = 0;

	if (stat(index_path, &st) == 0) {
		*error_r = t_strdup_printf("%s exists: rebuild makes a new index",
					   index_path);
		return -1;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.pool = pool_alloconly_create("index rebuild", 64 * 1024);
	ctx.store = store;
	ctx.prefix = prefix;
	ctx.boxes = hash_table_create_str(ctx.pool, 32);
	array_init(&ctx.subscriptions, ctx.pool, 16);

	struct blob_list *list = blob_list_begin_sync(store,
		t_strdup_printf("%s/", prefix), NULL, 1000);
	while (ret == 0 && blob_list_next(list, &entry) > 0) T_BEGIN {
		const char *text = NULL;
		ret = rebuild_add_key(&ctx, entry, &text);
		if (text != NULL)
			list_text = p_strdup(ctx.pool, text);
	} T_END;
	if (blob_list_end(&list, &result) < 0 && ret == 0) {
		ctx.error = p_strdup_printf(ctx.pool, "list(%s/): %s", prefix,
					    result.internal_error);
		ret = -1;
	}
	if (ret == 0 && list_text != NULL)
		rebuild_parse_list(&ctx, list_text);
	if (ret == 0 && mail_index_open(&set, &ctx.index, &ctx.error) < 0)
		ret = -1;
	if (ret == 0)
		ret = rebuild_mailboxes(&ctx);
	mail_index_close(&ctx.index);
	if (ret < 0)
		*error_r = t_strdup_printf("rebuild %s: %s", index_path, ctx.error);
	else if (count_r != NULL)
		*count_r = ctx.count;
	hash_table_destroy(&ctx.boxes);
	pool_unref(&ctx.pool);
	return ret;
}
