/* A mail user: the index and the blob store opened together, the user's
   last error, mailbox list operations with their blob side (a deleted
   mailbox's blobs, the mailbox list kept in the store for rebuilds), and
   purging blobs the index no longer references. */
#include "lib.h"
#include "event.h"
#include "ioloop.h"
#include "mail-blob-meta.h"
#include "mail-index-memory.h"
#include "mail-storage-private.h"

/* The first prune a while after the user is opened (short sessions
   never pay for it), then hourly; a batch that was full continues a
   second later, so no single run stalls the ioloop for long. */
#define MAIL_USER_PRUNE_FIRST_MSECS (60 * 1000)
#define MAIL_USER_PRUNE_INTERVAL_SECS 3600
#define MAIL_USER_PRUNE_CONTINUE_MSECS 1000
#define MAIL_USER_PRUNE_BATCH 2000

static void mail_user_prune_timeout(void *context);

static void mail_user_prune_schedule(struct mail_user *user,
				     unsigned int msecs)
{
	timeout_remove(&user->prune_timeout);
	user->prune_timeout = timeout_add(msecs, mail_user_prune_timeout, user);
}

static void mail_user_prune_timeout(void *context)
{
	struct mail_user *user = context;
	unsigned int pruned;

	timeout_remove(&user->prune_timeout);
	/* a session in the middle of a write waits for the next round */
	if (user->open_transactions > 0) {
		mail_user_prune_schedule(user, MAIL_USER_PRUNE_CONTINUE_MSECS);
		return;
	}
	if (mail_index_changes_prune(user->index, &user->prune_set,
				     &pruned) < 0) {
		const char *internal;
		(void)mail_index_get_last_error(user->index, NULL, &internal);
		e_error(user->event, "Pruning the change log failed: %s",
			internal);
		mail_error_clear(mail_index_get_error_state(user->index));
		pruned = 0;
	}
	mail_user_prune_schedule(user, pruned >= user->prune_set.batch ?
				 MAIL_USER_PRUNE_CONTINUE_MSECS :
				 MAIL_USER_PRUNE_INTERVAL_SECS * 1000);
}

int mail_user_prune_changes(struct mail_user *user, unsigned int *pruned_r)
{
	struct mail_index_prune_settings set = user->prune_set;
	unsigned int pruned;

	*pruned_r = 0;
	set.min_interval_secs = 0;
	do {
		if (mail_index_changes_prune(user->index, &set, &pruned) < 0)
			return mail_user_set_index_error(user);
		*pruned_r += pruned;
	} while (pruned >= set.batch);
	return 0;
}

int mail_user_init(const struct mail_user_settings *set,
		   struct mail_user **user_r, const char **error_r)
{
	struct mail_index_settings index_set = {
		.path = set->index_path,
		.busy_timeout_msecs = set->index_busy_timeout_msecs,
		.reservation_steal_secs = set->reservation_steal_secs,
		.fsync_mode = set->fsync_mode,
		.create_deferred = set->index_create_deferred,
	};
	struct blob_store_settings blob_set;
	/* the struct, two strings and the commit queue's 8 slots: ~240
	   bytes, and nothing else comes from it (an idle session keeps it) */
	pool_t pool = pool_alloconly_create("mail user", 512);
	struct mail_user *user = p_new(pool, struct mail_user, 1);

	user->pool = pool;
	user->username = p_strdup(pool, set->username != NULL ?
				  set->username : "");
	user->blob_prefix = p_strdup(pool, set->blob_prefix != NULL ?
				     set->blob_prefix :
				     MAIL_USER_DEFAULT_BLOB_PREFIX);
	user->event = event_create(set->event_parent);
	event_set_category(user->event, "storage");
	event_add_str(user->event, "user", user->username);
	array_init(&user->commit_queue, pool, 8);

	index_set.event_parent = user->event;
	memset(&blob_set, 0, sizeof(blob_set));
	blob_set.event_parent = user->event;
	if (mail_index_open(&index_set, &user->index, error_r) < 0) {
		event_unref(&user->event);
		pool_unref(&pool);
		return -1;
	}
	if (blob_store_create(set->blob_spec, &blob_set, &user->blobs,
			      error_r) < 0) {
		mail_index_close(&user->index);
		event_unref(&user->event);
		pool_unref(&pool);
		return -1;
	}
	user->quota.storage = set->quota_storage_limit;
	user->quota.messages = set->quota_messages_limit;
	user->quota.grace = set->quota_grace;
	user->prune_set.max_age_secs = set->changes_max_age_secs;
	user->prune_set.max_changes = set->changes_max_count;
	user->prune_set.min_interval_secs = MAIL_USER_PRUNE_INTERVAL_SECS;
	user->prune_set.batch = MAIL_USER_PRUNE_BATCH;
	if (current_ioloop != NULL &&
	    (set->changes_max_age_secs != 0 || set->changes_max_count != 0))
		mail_user_prune_schedule(user, MAIL_USER_PRUNE_FIRST_MSECS);
	*user_r = user;
	return 0;
}

static mail_user_release_hook_t *mail_user_release_hook;

void mail_user_set_release_hook(mail_user_release_hook_t *hook)
{
	mail_user_release_hook = hook;
}

bool mail_user_is_idle(struct mail_user *user)
{
	return user->open_mailboxes == 0 && user->open_transactions == 0 &&
		array_count(&user->commit_queue) == 0 &&
		user->commit_timeout == NULL && user->commit_syncs == 0 &&
		!mail_index_in_batch(user->index) &&
		!mail_index_is_creating(user->index);
}

void mail_user_detach(struct mail_user *user)
{
	i_assert(mail_user_is_idle(user));
	mail_error_clear(&user->error);
	mail_error_clear(mail_index_get_error_state(user->index));
	/* the ended session's event (and the hand-off connection's above
	   it) must not live on with the user */
	event_set_parent(user->event, NULL);
	mail_index_release_memory(user->index);
}

void mail_user_attach(struct mail_user *user, struct event *event_parent)
{
	event_set_parent(user->event, event_parent);
}

void mail_user_deinit(struct mail_user **_user)
{
	struct mail_user *user = *_user;

	if (user == NULL)
		return;
	/* a connection whose last call failed inside SQLite or the
	   filesystem may be in a state a fresh open would not be in */
	bool reusable = mail_user_is_idle(user) &&
		user->error.error != MAIL_ERROR_TEMP &&
		user->error.error != MAIL_ERROR_UNAVAILABLE;
	if (mail_user_release_hook != NULL &&
	    mail_user_release_hook(user, reusable)) {
		i_assert(reusable);
		*_user = NULL;
		return;
	}
	mail_user_destroy(_user);
}

void mail_user_destroy(struct mail_user **_user)
{
	struct mail_user *user = *_user;

	if (user == NULL)
		return;
	*_user = NULL;
	i_assert(user->open_mailboxes == 0);
	i_assert(user->open_transactions == 0);
	mail_user_commit_queue_deinit(user);
	timeout_remove(&user->prune_timeout);
	blob_store_destroy(&user->blobs);
	mail_index_close(&user->index);
	mail_error_clear(&user->error);
	event_unref(&user->event);
	pool_unref(&user->pool);
}

bool mail_user_has_transactions(const struct mail_user *user)
{
	return user->open_transactions > 0;
}

struct mail_index *mail_user_get_index(struct mail_user *user)
{
	return user->index;
}

struct blob_store *mail_user_get_blob_store(struct mail_user *user)
{
	return user->blobs;
}

const char *mail_user_get_blob_prefix(struct mail_user *user)
{
	return user->blob_prefix;
}

struct event *mail_user_get_event(struct mail_user *user)
{
	return user->event;
}

enum mail_error mail_user_get_last_error(struct mail_user *user,
					 const char **user_text_r,
					 const char **internal_text_r)
{
	return mail_error_get(&user->error, user_text_r, internal_text_r);
}

int mail_user_set_error(struct mail_user *user, enum mail_error error,
			const char *user_text)
{
	mail_error_set(&user->error, error, user_text);
	return -1;
}

int mail_user_set_internal_error(struct mail_user *user, enum mail_error error,
				 const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	const char *text = p_strdup_vprintf(pool_datastack, fmt, args);
	va_end(args);
	mail_error_set_internal(&user->error, error, user->event, text);
	return -1;
}

int mail_user_set_index_error(struct mail_user *user)
{
	mail_error_copy(&user->error, mail_index_get_error_state(user->index));
	return -1;
}

static enum mail_error blob_error_to_mail_error(enum blob_error error)
{
	switch (error) {
	case BLOB_ERROR_NOT_FOUND:
		/* the index points at a blob that is gone: the message can
		   no longer be read, as if expunged */
		return MAIL_ERROR_EXPUNGED;
	case BLOB_ERROR_NO_SPACE:
		return MAIL_ERROR_NOQUOTA;
	case BLOB_ERROR_TEMPORARY:
		return MAIL_ERROR_UNAVAILABLE;
	case BLOB_ERROR_PERMISSION:
	case BLOB_ERROR_EXISTS:
	case BLOB_ERROR_IO:
	case BLOB_ERROR_INVALID:
	case BLOB_ERROR_NONE:
		break;
	}
	return MAIL_ERROR_TEMP;
}

int mail_user_set_blob_error(struct mail_user *user, const char *what,
			     const struct blob_result *result)
{
	mail_error_set_internal(&user->error,
		blob_error_to_mail_error(result->error), user->event,
		t_strdup_printf("%s: %s", what, result->internal_error != NULL ?
				result->internal_error : "unknown error"));
	return -1;
}

/* Rewrite the mailbox list object: GUID, UIDVALIDITY, special-use and
   name of every mailbox, and the subscriptions. A rebuild takes names from
   here, so renames survive it. Best effort: a failure only costs a rebuild
   the latest renames (it falls back to names in message metadata). */
static void mail_user_write_mailbox_list_flags(struct mail_user *user,
					       enum blob_flags flags)
{
	ARRAY_TYPE(mail_index_list_entry) boxes, subs;
	const struct mail_index_list_entry *e;
	const char *const patterns[] = { "*", NULL };
	string_t *str = t_str_new(1024);
	struct blob_result result;

	if (mail_index_in_batch(user->index) ||
	    mail_index_is_creating(user->index)) {
		/* written once when the batch commits, or from the index
		   in place (mail_user_create_finish()) */
		return;
	}
	array_init(&boxes, pool_datastack, 16);
	array_init(&subs, pool_datastack, 16);
	if (mail_index_mailbox_list(user->index, patterns, 0, pool_datastack,
				    &boxes) < 0 ||
	    mail_index_mailbox_list(user->index, patterns,
				    MAIL_INDEX_LIST_SUBSCRIBED, pool_datastack,
				    &subs) < 0) {
		mail_error_clear(mail_index_get_error_state(user->index));
		return;
	}
	str_append(str, "columba-mailbox-list 1\n");
	array_foreach(&boxes, e) {
		struct mail_index_mailbox box;
		if ((e->attrs & MAIL_INDEX_MAILBOX_ATTR_NOSELECT) != 0 ||
		    mail_index_mailbox_lookup_id(user->index, e->id,
						 pool_datastack, &box) <= 0)
			continue;
		str_printfa(str, "mailbox\t%s\t%u\t%u\t%s\n", box.guid,
			    box.uidvalidity, (unsigned int)box.special_use,
			    mail_blob_name_encode(box.name));
	}
	array_foreach(&subs, e)
		str_printfa(str, "subscribed\t%s\n", mail_blob_name_encode(e->name));
	if (blob_put_data_sync(user->blobs,
			       mail_blob_mailbox_list_key(user->blob_prefix),
			       str->data, str_len(str), NULL, 0,
			       BLOB_FLAG_OVERWRITE | flags, &result) < 0) {
		e_warning(user->event, "Writing the mailbox list blob failed: %s",
			  result.internal_error);
	}
}

static void mail_user_write_mailbox_list(struct mail_user *user)
{
	mail_user_write_mailbox_list_flags(user, 0);
}

int mail_user_create_finish(struct mail_user *user)
{
	if (!mail_index_is_creating(user->index))
		return 0;
	if (mail_index_create_finish(user->index) < 0)
		return mail_user_set_index_error(user);
	/* from the index in place: if another process created the user
	   first, its mailboxes are the ones that count */
	mail_user_write_mailbox_list_flags(user, BLOB_FLAG_NO_SYNC);
	return 0;
}

void mail_user_write_uidnext(struct mail_user *user, uint32_t mailbox_id)
{
	struct mail_index_mailbox box;
	struct blob_result result;

	if (mail_index_mailbox_lookup_id(user->index, mailbox_id,
					 pool_datastack, &box) <= 0) {
		mail_error_clear(mail_index_get_error_state(user->index));
		return;
	}
	const char *text = t_strdup_printf("uidnext %u\n", box.uidnext);
	if (blob_put_data_sync(user->blobs,
			       mail_blob_uidnext_key(user->blob_prefix, box.guid),
			       text, strlen(text), NULL, 0, BLOB_FLAG_OVERWRITE,
			       &result) < 0) {
		e_warning(user->event, "Writing the UIDNEXT of %s failed: %s",
			  box.name, result.internal_error);
	}
}

int mail_user_mailbox_create(struct mail_user *user, const char *name,
			     enum mail_special_use special_use)
{
	if (mail_index_mailbox_create(user->index, name, special_use,
				      NULL, NULL) < 0)
		return mail_user_set_index_error(user);
	mail_user_write_mailbox_list(user);
	return 0;
}

int mail_user_mailbox_delete(struct mail_user *user, const char *name)
{
	unsigned int deleted;

	if (mail_index_mailbox_delete(user->index, name) < 0)
		return mail_user_set_index_error(user);
	mail_user_write_mailbox_list(user);
	/* the index no longer points at them: a failure here leaves them
	   queued for the next purge */
	if (mail_user_purge_blobs(user, &deleted) < 0) {
		/* logged; what is left stays queued */
	}
	return 0;
}

int mail_user_mailbox_rename(struct mail_user *user, const char *old_name,
			     const char *new_name)
{
	if (mail_index_mailbox_rename(user->index, old_name, new_name) < 0)
		return mail_user_set_index_error(user);
	mail_user_write_mailbox_list(user);
	return 0;
}

int mail_user_mailbox_subscribe(struct mail_user *user, const char *name,
				bool subscribe)
{
	if (mail_index_mailbox_subscribe(user->index, name, subscribe) < 0)
		return mail_user_set_index_error(user);
	mail_user_write_mailbox_list(user);
	return 0;
}

int mail_user_mailbox_set_special_use(struct mail_user *user, const char *name,
				      enum mail_special_use special_use)
{
	if (mail_index_mailbox_set_special_use(user->index, name,
					       special_use) < 0)
		return mail_user_set_index_error(user);
	mail_user_write_mailbox_list(user);
	return 0;
}

int mail_user_mailbox_batch_begin(struct mail_user *user)
{
	if (mail_index_batch_begin(user->index) < 0)
		return mail_user_set_index_error(user);
	return 0;
}

int mail_user_mailbox_batch_commit(struct mail_user *user)
{
	if (mail_index_batch_commit(user->index) < 0)
		return mail_user_set_index_error(user);
	mail_user_write_mailbox_list(user);
	return 0;
}

void mail_user_mailbox_batch_rollback(struct mail_user *user)
{
	mail_index_batch_rollback(user->index);
}

int mail_user_purge_blobs(struct mail_user *user, unsigned int *deleted_r)
{
	ARRAY_TYPE(mail_string) keys, done;
	const char *const *keyp;
	bool synced = false;
	int ret = 0;

	*deleted_r = 0;
	array_init(&keys, pool_datastack, 64);
	array_init(&done, pool_datastack, 64);
	for (;;) {
		array_clear(&keys);
		array_clear(&done);
		if (mail_index_blob_deletions_get(user->index, 256,
						  pool_datastack, &keys) < 0)
			return mail_user_set_index_error(user);
		if (array_count(&keys) == 0)
			break;
		/* With mail_fsync=optimized the expunge that queued these
		   may not be on disk yet: a power failure would bring the
		   rows back, pointing at deleted blobs. Sync first. */
		if (!synced && mail_index_sync_all(user->index) < 0)
			return mail_user_set_index_error(user);
		synced = true;
		array_foreach(&keys, keyp) {
			struct blob_result result;
			if (blob_delete_sync(user->blobs, *keyp, &result) < 0) {
				ret = mail_user_set_blob_error(user,
					t_strdup_printf("delete(%s)", *keyp),
					&result);
				continue;
			}
			array_push(&done, *keyp);
		}
		if (mail_index_blob_deletions_done(user->index, done.v,
						   array_count(&done)) < 0)
			return mail_user_set_index_error(user);
		*deleted_r += array_count(&done);
		if (array_count(&done) < array_count(&keys))
			break;
	}
	return ret;
}
