/* The mail process's cache of recently closed users (mail-user-cache.h):
   users lent to sessions are tracked by pointer, users kept after their
   session ended sit in a list from least to most recently closed. */
#include "lib.h"
#include "llist.h"
#include "str.h"
#include "hash.h"
#include "ioloop.h"
#include "mail-storage.h"
#include "mail-user-setup.h"
#include "mail-user-cache.h"

#include <sys/resource.h>
#include <sys/stat.h>
#ifdef __GLIBC__
#  include <malloc.h>
#endif

struct mail_user_cache_entry {
	/* the kept list, while kept */
	struct mail_user_cache_entry *prev, *next;
	struct mail_user *user;
	/* what it was opened from: the settings (their address: one
	   process has one set until it stops) and "len:username" followed
	   by "len:field" for each userdb field, in the order userdb gave
	   them (another order only costs a miss) */
	const struct columba_settings *set;
	char *key;
	/* str_hash(key): most entries are told apart without a strcmp() */
	unsigned int key_hash;
	/* the index and the home it was opened on: a user deleted, a home
	   moved or an index rebuilt into place is opened afresh */
	dev_t index_dev, home_dev;
	ino_t index_ino, home_ino;
	uint64_t kept_msecs;
};

static bool cache_enabled;
static unsigned int cache_max;
/* mail_user -> entry, for users in sessions */
static struct hash_table *cache_lent;
static struct mail_user_cache_entry *cache_head, *cache_tail;
static unsigned int cache_count;
static struct timeout *cache_to;

static void cache_entry_free(struct mail_user_cache_entry *entry)
{
	i_free(entry->key);
	free(entry);
}

static void cache_unlink(struct mail_user_cache_entry *entry)
{
	DLLIST2_REMOVE(&cache_head, &cache_tail, entry);
	cache_count--;
}

static void cache_evict(struct mail_user_cache_entry *entry)
{
	cache_unlink(entry);
	mail_user_destroy(&entry->user);
	cache_entry_free(entry);
}

static void cache_expire(void *context ATTR_UNUSED)
{
	uint64_t now = ioloop_msecs_monotonic();

	while (cache_head != NULL &&
	       cache_head->kept_msecs + MAIL_USER_CACHE_SECS * 1000 <= now)
		cache_evict(cache_head);
	if (cache_head == NULL) {
		timeout_remove(&cache_to);
#ifdef __GLIBC__
		/* the closed connections' memory is scattered through the
		   heap: give its whole pages back now that a burst of logins
		   is over (once per emptying, not per user) */
		(void)malloc_trim(0);
#endif
	}
}

static bool cache_release(struct mail_user *user, bool reusable)
{
	struct mail_user_cache_entry *entry;

	entry = hash_table_lookup(cache_lent, user);
	if (entry == NULL)
		return false;
	/* forgotten whatever happens next: a stale entry would match the
	   next user allocated at the same address */
	hash_table_remove(cache_lent, user);
	if (!reusable) {
		cache_entry_free(entry);
		return false;
	}
	if (cache_count >= cache_max)
		cache_evict(cache_head);
	mail_user_detach(user);
	entry->kept_msecs = ioloop_msecs_monotonic();
	DLLIST2_APPEND(&cache_head, &cache_tail, entry);
	cache_count++;
	if (cache_to == NULL) {
		/* a kept user lives MAIL_USER_CACHE_SECS to
		   MAIL_USER_CACHE_SECS + 1 */
		cache_to = timeout_add(1000, cache_expire, NULL);
	}
	return true;
}

unsigned int mail_user_cache_fd_room(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return UINT_MAX;
	rlim_t usable = rl.rlim_cur > MAIL_USER_CACHE_FDS_RESERVED * 2 ?
		rl.rlim_cur - MAIL_USER_CACHE_FDS_RESERVED : rl.rlim_cur / 2;
	rlim_t room = usable / MAIL_USER_CACHE_FDS_PER_USER;
	return room > UINT_MAX ? UINT_MAX : (unsigned int)room;
}

static unsigned int cache_get_max(void)
{
	unsigned int half = mail_user_cache_fd_room() / 2;

	return half < MAIL_USER_CACHE_MAX ? half : MAIL_USER_CACHE_MAX;
}

void mail_user_cache_init(void)
{
	if (cache_enabled)
		return;
	cache_max = cache_get_max();
	if (cache_max == 0)
		return;
	cache_enabled = true;
	cache_lent = hash_table_create_direct(system_pool, 64);
	mail_user_set_release_hook(cache_release);
}

void mail_user_cache_deinit(void)
{
	struct hash_iterate iter;
	void *key, *value;

	if (!cache_enabled)
		return;
	cache_enabled = false;
	/* users still in sessions are closed by them */
	mail_user_set_release_hook(NULL);
	hash_table_iterate_init(cache_lent, &iter);
	while (hash_table_iterate(&iter, &key, &value))
		cache_entry_free(value);
	hash_table_destroy(&cache_lent);
	while (cache_head != NULL)
		cache_evict(cache_head);
	timeout_remove(&cache_to);
}

bool mail_user_cache_is_enabled(void)
{
	return cache_enabled;
}

unsigned int mail_user_cache_count(void)
{
	return cache_count;
}

unsigned int mail_user_cache_lent_count(void)
{
	return cache_enabled ? hash_table_count(cache_lent) : 0;
}

unsigned int mail_user_cache_max(void)
{
	return cache_enabled ? cache_max : 0;
}

static const char *
cache_key(const char *username, const char *const *userdb_fields)
{
	string_t *str = t_str_new(256);

	/* length-prefixed: no user name or field can forge a boundary */
	str_printfa(str, "%zu:%s", strlen(username), username);
	for (unsigned int i = 0;
	     userdb_fields != NULL && userdb_fields[i] != NULL; i++) {
		str_printfa(str, "%zu:%s", strlen(userdb_fields[i]),
			    userdb_fields[i]);
	}
	return str_c(str);
}

static bool cache_entry_files_match(const struct mail_user_cache_entry *entry,
				    const struct mail_user_paths *paths)
{
	struct stat st;

	if (stat(paths->index_path, &st) < 0 || st.st_dev != entry->index_dev ||
	    st.st_ino != entry->index_ino)
		return false;
	if (stat(paths->home, &st) < 0 || st.st_dev != entry->home_dev ||
	    st.st_ino != entry->home_ino)
		return false;
	return true;
}

struct mail_user *
mail_user_cache_take(const struct columba_settings *set, const char *username,
		     const char *const *userdb_fields,
		     const struct mail_user_paths *paths,
		     struct event *event_parent)
{
	struct mail_user_cache_entry *entry;

	if (!cache_enabled || cache_head == NULL)
		return NULL;
	const char *key = cache_key(username, userdb_fields);
	unsigned int key_hash = str_hash(key);
	/* from the most recently closed end; a linear scan of at most
	   MAIL_USER_CACHE_MAX entries costs less than a microsecond */
	for (entry = cache_tail; entry != NULL; entry = entry->prev) {
		if (entry->key_hash == key_hash && entry->set == set &&
		    strcmp(entry->key, key) == 0)
			break;
	}
	if (entry == NULL)
		return NULL;
	if (!cache_entry_files_match(entry, paths)) {
		cache_evict(entry);
		return NULL;
	}
	cache_unlink(entry);
	if (cache_head == NULL)
		timeout_remove(&cache_to);
	struct mail_user *user = entry->user;
	mail_user_attach(user, event_parent);
	hash_table_insert(cache_lent, user, entry);
	return user;
}

void mail_user_cache_lend(struct mail_user *user,
			  const struct columba_settings *set,
			  const char *username,
			  const char *const *userdb_fields,
			  const struct mail_user_paths *paths)
{
	struct stat index_st, home_st;

	if (!cache_enabled)
		return;
	/* after the open: a file replaced between the open and here would
	   go unnoticed, a window of microseconds against a rebuild or a
	   home move that takes far longer */
	if (stat(paths->index_path, &index_st) < 0 ||
	    stat(paths->home, &home_st) < 0)
		return;
	struct mail_user_cache_entry *entry =
		i_new(struct mail_user_cache_entry, 1);
	entry->user = user;
	entry->set = set;
	entry->key = i_strdup(cache_key(username, userdb_fields));
	entry->key_hash = str_hash(entry->key);
	entry->index_dev = index_st.st_dev;
	entry->index_ino = index_st.st_ino;
	entry->home_dev = home_st.st_dev;
	entry->home_ino = home_st.st_ino;
	hash_table_insert(cache_lent, user, entry);
}
