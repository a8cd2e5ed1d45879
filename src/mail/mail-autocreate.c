/* Autocreated special-use mailboxes (see mail-autocreate.h). Run at every
   login and delivery, so the common case - nothing missing - is one
   index read and no write. */
#include "lib.h"
#include "event.h"
#include "mail-autocreate.h"

static const struct mail_index_list_entry *
autocreate_find(const ARRAY_TYPE(mail_index_list_entry) *boxes,
		const char *name)
{
	const struct mail_index_list_entry *e;

	array_foreach(boxes, e) {
		if (strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

/* Changes go into one index transaction, begun at the first one
   (*batch_r): a new user's mailboxes cost one commit. */
static int autocreate_batch(struct mail_user *user, bool *batch_r)
{
	if (*batch_r)
		return 0;
	if (mail_user_mailbox_batch_begin(user) < 0)
		return -1;
	*batch_r = true;
	return 0;
}

static int autocreate_one(struct mail_user *user, struct event *event,
			  const struct mailbox_settings *mset,
			  const char *name, enum mail_special_use use,
			  const struct mail_index_list_entry *existing,
			  bool *batch_r)
{
	const char *error;

	if (existing != NULL) {
		if (existing->special_use != 0 || use == 0 ||
		    (existing->attrs & MAIL_INDEX_MAILBOX_ATTR_NOSELECT) != 0)
			return 0;
		if (autocreate_batch(user, batch_r) < 0 ||
		    mail_user_mailbox_set_special_use(user, name, use) < 0)
			goto failed;
		return 0;
	}
	if (autocreate_batch(user, batch_r) < 0)
		goto failed;
	if (mail_user_mailbox_create(user, name, use) < 0) {
		/* another session of the user created it meanwhile */
		if (mail_user_get_last_error(user, NULL, NULL) ==
		    MAIL_ERROR_EXISTS)
			return 0;
		goto failed;
	}
	if (strcmp(mset->autocreate, "subscribe") == 0 &&
	    mail_user_mailbox_subscribe(user, name, true) < 0)
		goto failed;
	return 1;
failed:
	(void)mail_user_get_last_error(user, NULL, &error);
	e_error(event, "Autocreating mailbox %s failed: %s",
		str_sanitize(name, 100), error);
	return -1;
}

int mail_user_autocreate(const struct columba_settings *set,
			 struct mail_user *user)
{
	struct event *event = mail_user_get_event(user);
	struct namespace_settings *const *ns;
	struct mailbox_settings *const *mset;
	ARRAY_TYPE(mail_index_list_entry) boxes;
	const char *const all[] = { "*", NULL };
	int ret = 0, created = 0;
	/* a batch of the caller's (a new user's INBOX) is joined */
	bool outer_batch = mail_index_in_batch(mail_user_get_index(user));
	bool batch = outer_batch;

	if (!array_is_created(&set->namespaces))
		return 0;
	T_BEGIN {
		array_init(&boxes, pool_datastack, 16);
		if (mail_index_mailbox_list(mail_user_get_index(user), all, 0,
					    pool_datastack, &boxes) < 0) {
			const char *error;
			(void)mail_index_get_last_error(
				mail_user_get_index(user), NULL, &error);
			e_error(event, "Autocreating mailboxes: listing failed: %s",
				error);
			ret = -1;
		}
		array_foreach(&set->namespaces, ns) {
			if (ret < 0 || !array_is_created(&(*ns)->mailboxes))
				break;
			array_foreach(&(*ns)->mailboxes, mset) {
				enum mail_special_use use = 0;
				const char *name, *error;
				if (strcmp((*mset)->autocreate, "no") == 0)
					continue;
				name = mail_index_mailbox_name_normalize(
					(*mset)->name, &error);
				if (name == NULL ||
				    mail_special_use_parse((*mset)->special_use,
							   &use) < 0) {
					e_error(event, "Autocreating mailbox %s: invalid name or special_use: %s",
						str_sanitize((*mset)->name, 100),
						name == NULL ? error :
						(*mset)->special_use);
					continue;
				}
				int r = autocreate_one(user, event, *mset, name,
					use, autocreate_find(&boxes, name),
					&batch);
				if (r < 0)
					ret = -1;
				else
					created += r;
			}
		}
		/* what succeeded is kept even if another one failed */
		if (batch && !outer_batch &&
		    mail_user_mailbox_batch_commit(user) < 0) {
			const char *error;
			(void)mail_user_get_last_error(user, NULL, &error);
			e_error(event, "Autocreating mailboxes: commit failed: %s",
				error);
			ret = -1;
			created = 0;
		}
	} T_END;
	return ret < 0 ? -1 : created;
}
