/* Quota enforcement (see mail-quota.h): the limit test over committed
   usage (the index) plus this process's reservations. Reservations are
   kept per index path in a short list: at any moment only the users
   with a save in flight have an entry. */
#include "lib.h"
#include "mail-storage-private.h"
#include "mail-index-quota.h"
#include "mail-quota.h"

struct mail_quota_pending {
	struct mail_quota_pending *prev, *next;
	char *index_path;
	struct mail_quota_usage usage;
	unsigned int refcount;
};

struct mail_quota_reservation {
	struct mail_quota_pending *pending;
	struct mail_quota_usage usage;
};

static struct mail_quota_pending *mail_quota_pendings;

static struct mail_quota_pending *
mail_quota_pending_find(const char *index_path)
{
	struct mail_quota_pending *p;

	for (p = mail_quota_pendings; p != NULL; p = p->next) {
		if (strcmp(p->index_path, index_path) == 0)
			return p;
	}
	return NULL;
}

void mail_user_set_quota_limits(struct mail_user *user,
				const struct mail_quota_limits *limits)
{
	user->quota = *limits;
}

const struct mail_quota_limits *
mail_user_get_quota_limits(const struct mail_user *user)
{
	return &user->quota;
}

bool mail_user_quota_is_limited(const struct mail_user *user)
{
	return user->quota.storage != 0 || user->quota.messages != 0;
}

int mail_user_quota_get_usage(struct mail_user *user,
			      struct mail_quota_usage *committed_r,
			      struct mail_quota_usage *pending_r)
{
	struct mail_index_quota_usage usage;

	if (pending_r != NULL) {
		const struct mail_quota_pending *p =
			mail_quota_pending_find(mail_index_get_path(user->index));
		if (p == NULL)
			memset(pending_r, 0, sizeof(*pending_r));
		else
			*pending_r = p->usage;
	}
	if (committed_r == NULL)
		return 0;
	if (mail_index_quota_get(user->index, &usage) < 0)
		return mail_user_set_index_error(user);
	committed_r->storage = usage.storage;
	committed_r->messages = usage.messages;
	return 0;
}

static uint64_t quota_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static enum mail_quota_result
mail_quota_check(const struct mail_quota_limits *limits,
		 const struct mail_quota_usage *usage, uint64_t size,
		 uint64_t count, enum mail_quota_flags flags)
{
	if (limits->messages != 0) {
		if (count == 0 && size == 0 ?
		    usage->messages >= limits->messages :
		    quota_add(usage->messages, count) > limits->messages)
			return MAIL_QUOTA_OVER_MESSAGES;
	}
	if (limits->storage == 0)
		return MAIL_QUOTA_OK;
	if (count == 0 && size == 0) {
		return usage->storage >= limits->storage ?
			MAIL_QUOTA_OVER_STORAGE : MAIL_QUOTA_OK;
	}
	if (count <= 1 && size > limits->storage)
		return MAIL_QUOTA_TOO_LARGE;
	uint64_t after = quota_add(usage->storage, size);
	if (after <= limits->storage)
		return MAIL_QUOTA_OK;
	/* the last delivery may take a user under the limit over it, as
	   far as the grace */
	if ((flags & MAIL_QUOTA_FLAG_GRACE) != 0 &&
	    usage->storage < limits->storage &&
	    after <= quota_add(limits->storage, limits->grace))
		return MAIL_QUOTA_OK;
	return MAIL_QUOTA_OVER_STORAGE;
}

int mail_user_quota_test(struct mail_user *user, uint64_t size,
			 uint64_t count, enum mail_quota_flags flags,
			 enum mail_quota_result *result_r)
{
	struct mail_quota_usage committed, pending;

	*result_r = MAIL_QUOTA_OK;
	if (!mail_user_quota_is_limited(user))
		return 0;
	if (mail_user_quota_get_usage(user, &committed, &pending) < 0)
		return -1;
	committed.storage = quota_add(committed.storage, pending.storage);
	committed.messages = quota_add(committed.messages, pending.messages);
	*result_r = mail_quota_check(&user->quota, &committed, size, count,
				     flags);
	return 0;
}

int mail_user_quota_reserve(struct mail_user *user, uint64_t size,
			    uint64_t count, enum mail_quota_flags flags,
			    enum mail_quota_result *result_r,
			    struct mail_quota_reservation **res_r)
{
	*res_r = NULL;
	if ((flags & MAIL_QUOTA_FLAG_FORCE) != 0)
		*result_r = MAIL_QUOTA_OK;
	else if (mail_user_quota_test(user, size, count, flags, result_r) < 0)
		return -1;
	if (*result_r != MAIL_QUOTA_OK || !mail_user_quota_is_limited(user))
		return 0;

	/* the test and this run without returning to the ioloop: no other
	   reservation of this process can come between them */
	const char *path = mail_index_get_path(user->index);
	struct mail_quota_pending *p = mail_quota_pending_find(path);
	if (p == NULL) {
		p = i_new(struct mail_quota_pending, 1);
		p->index_path = i_strdup(path);
		p->next = mail_quota_pendings;
		if (p->next != NULL)
			p->next->prev = p;
		mail_quota_pendings = p;
	}
	p->refcount++;
	p->usage.storage = quota_add(p->usage.storage, size);
	p->usage.messages = quota_add(p->usage.messages, count);

	struct mail_quota_reservation *res =
		i_new(struct mail_quota_reservation, 1);
	res->pending = p;
	res->usage.storage = size;
	res->usage.messages = count;
	*res_r = res;
	return 0;
}

void mail_quota_reservation_free(struct mail_quota_reservation **_res)
{
	struct mail_quota_reservation *res = *_res;

	if (res == NULL)
		return;
	*_res = NULL;
	struct mail_quota_pending *p = res->pending;
	i_assert(p->refcount > 0);
	i_assert(p->usage.storage >= res->usage.storage &&
		 p->usage.messages >= res->usage.messages);
	p->usage.storage -= res->usage.storage;
	p->usage.messages -= res->usage.messages;
	if (--p->refcount == 0) {
		if (p->prev != NULL)
			p->prev->next = p->next;
		else
			mail_quota_pendings = p->next;
		if (p->next != NULL)
			p->next->prev = p->prev;
		i_free(p->index_path);
		free(p);
	}
	free(res);
}

int mail_user_quota_recalc(struct mail_user *user,
			   struct mail_quota_usage *old_r,
			   struct mail_quota_usage *new_r)
{
	struct mail_index_quota_usage old, new;

	if (mail_index_quota_recalc(user->index, &old, &new) < 0)
		return mail_user_set_index_error(user);
	old_r->storage = old.storage;
	old_r->messages = old.messages;
	new_r->storage = new.storage;
	new_r->messages = new.messages;
	return 0;
}

int mailbox_quota_get_uids(struct mailbox *box,
			   const ARRAY_TYPE(seq_range) *uids,
			   struct mail_quota_usage *usage_r)
{
	struct mail_index_quota_usage usage;

	memset(usage_r, 0, sizeof(*usage_r));
	if (mail_index_quota_get_uids(box->user->index, box->id, uids,
				      &usage) < 0)
		return mail_user_set_index_error(box->user);
	usage_r->storage = usage.storage;
	usage_r->messages = usage.messages;
	return 0;
}

void mailbox_transaction_set_quota_reservation(
	struct mailbox_transaction *t, struct mail_quota_reservation **res)
{
	mail_quota_reservation_free(&t->quota);
	t->quota = *res;
	*res = NULL;
}

int mail_user_quota_set_error(struct mail_user *user,
			      enum mail_quota_result result ATTR_UNUSED,
			      const char *message)
{
	mail_error_set(&user->error, MAIL_ERROR_NOQUOTA, message);
	return -1;
}

const char *mail_quota_result_str(enum mail_quota_result result)
{
	switch (result) {
	case MAIL_QUOTA_OK:
		return "within quota";
	case MAIL_QUOTA_OVER_STORAGE:
		return "storage quota exceeded";
	case MAIL_QUOTA_OVER_MESSAGES:
		return "message count quota exceeded";
	case MAIL_QUOTA_TOO_LARGE:
		return "message larger than the storage quota";
	}
	i_unreached();
}
