/* UID reservations: a writer takes the next UIDs of a mailbox before it
   writes its blobs (whose metadata carries the UID), and inserts the rows
   afterwards. Rows become visible in UID order: an insert waits while a
   lower reservation of the same mailbox is pending. A reservation records
   its owner (boot id, pid and the pid's start time, so a reused pid does
   not look alive), letting others drop the reservations of dead
   processes at once and of stuck ones after reservation_steal_secs. */
#include "lib.h"
#include "mail-index-private.h"
#include <fcntl.h>
#include <signal.h>
#include <time.h>

static char *owner_boot_id;

static bool read_small_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return false;
	ssize_t ret = read(fd, buf, size - 1);
	(void)close(fd);
	if (ret <= 0)
		return false;
	buf[ret] = '\0';
	return true;
}

static const char *boot_id(void)
{
	char buf[64];

	if (owner_boot_id == NULL) {
		if (!read_small_file("/proc/sys/kernel/random/boot_id",
				     buf, sizeof(buf)))
			strcpy(buf, "unknown");
		buf[strcspn(buf, "\n")] = '\0';
		owner_boot_id = strdup(buf);
		if (owner_boot_id == NULL)
			i_fatal("strdup() failed");
	}
	return owner_boot_id;
}

/* Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
static const char *pid_start_time(pid_t pid)
{
	char path[64], buf[1024];

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!read_small_file(path, buf, sizeof(buf)))
		return NULL;
	/* the command name (field 2) may hold spaces: skip to its ')' */
	const char *p = strrchr(buf, ')');
	if (p == NULL)
		return NULL;
	p++;
	/* p is at the space before field 3 */
	for (unsigned int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (p == NULL)
			return NULL;
	}
	p++;
	return t_strndup(p, strcspn(p, " "));
}

const char *mail_index_owner_id(void)
{
	const char *start = pid_start_time(getpid());

	return t_strdup_printf("%s:%ld:%s", boot_id(), (long)getpid(),
			       start == NULL ? "0" : start);
}

static bool mail_index_owner_check(const char *owner)
{
	const char *const *parts = t_strsplit(owner, ":");
	unsigned int pid;

	if (str_array_length(parts) != 3 || strcmp(parts[0], boot_id()) != 0)
		return false;
	if (str_to_uint(parts[1], &pid) < 0 || pid == 0)
		return false;
	/* the cheap answer first: no such process */
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return false;
	const char *start = pid_start_time((pid_t)pid);
	return start != NULL && strcmp(start, parts[2]) == 0;
}

static uint64_t monotonic_msecs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* An owner found dead stays dead (pid and start time name one process
   for good); "alive" is trusted for OWNER_ALIVE_CACHE_MSECS, which only
   delays noticing a death by that much. */
#define OWNER_ALIVE_CACHE_MSECS 500

bool mail_index_owner_is_alive(struct mail_index *index, const char *owner)
{
	uint64_t now = monotonic_msecs();
	struct mail_index_owner_cache *c = NULL;

	if (strcmp(owner, index->owner) == 0)
		return true;
	if (index->owner_cache == NULL) {
		index->owner_cache = i_new(struct mail_index_owner_cache,
					   MAIL_INDEX_OWNER_CACHE_SIZE);
	}
	for (unsigned int i = 0; i < MAIL_INDEX_OWNER_CACHE_SIZE; i++) {
		if (strcmp(index->owner_cache[i].owner, owner) == 0) {
			c = &index->owner_cache[i];
			if (!c->alive ||
			    now - c->checked_msecs < OWNER_ALIVE_CACHE_MSECS)
				return c->alive;
			break;
		}
	}
	bool alive = mail_index_owner_check(owner);
	if (c == NULL && strlen(owner) < sizeof(c->owner)) {
		c = &index->owner_cache[index->owner_cache_next++ %
					MAIL_INDEX_OWNER_CACHE_SIZE];
		strcpy(c->owner, owner);
	}
	if (c != NULL) {
		c->checked_msecs = now;
		c->alive = alive;
	}
	return alive;
}

/* BEGIN IMMEDIATE and COMMIT as prepared statements: sqlite3_exec()
   parses its SQL each time, and a reservation is taken per message. */
static int reserve_exec(struct mail_index *index, const char *sql)
{
	sqlite3_stmt *stmt = mail_index_stmt(index, sql);

	if (stmt == NULL)
		return -1;
	int ret = mail_index_step(index, stmt, sql);
	sqlite3_reset(stmt);
	return ret < 0 ? -1 : 0;
}

int mail_index_reserve_uids(struct mail_index *index, uint32_t mailbox_id,
			    unsigned int count,
			    struct mail_index_reservation **res_r)
{
	return mail_index_reserve_uids_named(index, mailbox_id, NULL, count,
					     res_r);
}

int mail_index_reserve_uids_named(struct mail_index *index,
				  uint32_t mailbox_id, const char *name,
				  unsigned int count,
				  struct mail_index_reservation **res_r)
{
	sqlite3_stmt *stmt;
	uint32_t uid1, uidvalidity;
	int ret;

	i_assert(count > 0);
	i_assert(index->t == NULL);

	/* No fsync: the reservation only has to be durable once a row that
	   used it commits, and that commit's fsync covers the WAL before it. */
	bool lower_sync = !mail_index_durable_is_grouped(index);
	if (lower_sync && mail_index_exec(index, "PRAGMA synchronous = NORMAL") < 0)
		return -1;
	if (reserve_exec(index, "BEGIN IMMEDIATE") < 0)
		goto failed;

	stmt = mail_index_stmt(index,
		"UPDATE mailboxes SET uid_alloc_next = uid_alloc_next + ?2 "
		"WHERE id = ?1 AND noselect = 0 AND uid_alloc_next + ?2 <= 4294967296 "
		"AND (?3 IS NULL OR name = ?3) "
		"RETURNING uid_alloc_next - ?2, uidvalidity");
	if (stmt == NULL)
		goto rollback;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, count);
	if (name != NULL)
		sqlite3_bind_text(stmt, 3, name, -1, SQLITE_STATIC);
	ret = mail_index_step(index, stmt, "reserve UIDs");
	if (ret <= 0) {
		if (ret == 0) {
			mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
				"Mailbox doesn't exist or has run out of UIDs.");
		}
		goto rollback;
	}
	uid1 = (uint32_t)sqlite3_column_int64(stmt, 0);
	uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 1);
	sqlite3_reset(stmt);

	stmt = mail_index_stmt(index,
		"INSERT INTO uid_reservations (mailbox_id, uid1, uid2, owner, created) "
		"VALUES (?1, ?2, ?3, ?4, ?5)");
	if (stmt == NULL)
		goto rollback;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, uid1);
	sqlite3_bind_int64(stmt, 3, (sqlite3_int64)uid1 + count - 1);
	sqlite3_bind_text(stmt, 4, index->owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, time(NULL));
	if (mail_index_step(index, stmt, "reserve UIDs") < 0)
		goto rollback;
	int64_t id = sqlite3_last_insert_rowid(index->db);
	sqlite3_reset(stmt);
	if (reserve_exec(index, "COMMIT") < 0)
		goto rollback;
	if (lower_sync)
		(void)mail_index_exec(index, index->synchronous_sql);

	struct mail_index_reservation *res = i_new(struct mail_index_reservation, 1);
	res->index = index;
	res->id = id;
	res->mailbox_id = mailbox_id;
	res->uid1 = uid1;
	res->uid2 = uid1 + count - 1;
	res->uidvalidity = uidvalidity;
	res->next = index->reservations;
	if (index->reservations != NULL)
		index->reservations->prev = res;
	index->reservations = res;
	*res_r = res;
	return 0;

rollback:
	(void)sqlite3_exec(index->db, "ROLLBACK", NULL, NULL, NULL);
failed:
	(void)sqlite3_exec(index->db, index->synchronous_sql, NULL, NULL, NULL);
	return -1;
}

uint32_t mail_index_reservation_get_uid1(const struct mail_index_reservation *res)
{
	return res->uid1;
}

uint32_t mail_index_reservation_get_uid2(const struct mail_index_reservation *res)
{
	return res->uid2;
}

uint32_t mail_index_reservation_get_uidvalidity(
	const struct mail_index_reservation *res)
{
	return res->uidvalidity;
}

static void mail_index_reservation_unlink(struct mail_index_reservation *res)
{
	struct mail_index *index = res->index;

	if (res->prev != NULL)
		res->prev->next = res->next;
	else
		index->reservations = res->next;
	if (res->next != NULL)
		res->next->prev = res->prev;
}

void mail_index_reservation_free(struct mail_index_reservation **_res)
{
	struct mail_index_reservation *res = *_res;
	struct mail_index *index;

	if (res == NULL)
		return;
	*_res = NULL;
	index = res->index;
	i_assert(res->claimed_by == NULL);

	if (!res->used) {
		/* Unused: delete the row so nobody waits for it. Failing to is
		   harmless (it is dropped as stale later), so only log. */
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"DELETE FROM uid_reservations WHERE id = ?1");
		if (stmt != NULL) {
			sqlite3_bind_int64(stmt, 1, res->id);
			(void)mail_index_step(index, stmt, "release reservation");
		}
		if (index->t == NULL)
			mail_index_notify_writers(index);
	}
	mail_index_reservation_unlink(res);
	i_free(res);
}

void mail_index_reservations_free_all(struct mail_index *index)
{
	while (index->reservations != NULL) {
		struct mail_index_reservation *res = index->reservations;
		res->claimed_by = NULL;
		mail_index_reservation_free(&res);
	}
}

int mail_index_reservation_claim(struct mail_index_transaction *t,
				 struct mail_index_reservation *res)
{
	struct mail_index *index = t->index;

	if (res->claimed_by == t)
		return 0;
	i_assert(res->claimed_by == NULL);
	if (res->used) {
		return mail_index_set_internal_error(index, MAIL_ERROR_TEMP,
			"BUG: UID reservation %u..%u used twice",
			res->uid1, res->uid2);
	}

	sqlite3_stmt *stmt = mail_index_stmt(index,
		"DELETE FROM uid_reservations WHERE id = ?1");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, res->id);
	if (mail_index_step(index, stmt, "claim reservation") < 0)
		return -1;
	if (sqlite3_changes(index->db) == 0) {
		/* Dropped as stale by another writer (or the mailbox went
		   away): its UIDs may now be below visible ones. */
		res->used = true;
		return mail_index_set_internal_error(index,
			MAIL_ERROR_UNAVAILABLE,
			"UID reservation %u..%u of mailbox %u was dropped "
			"(held too long, or the mailbox was deleted)",
			res->uid1, res->uid2, res->mailbox_id);
	}
	res->claimed_by = t;
	array_push(&t->claimed, res);
	return 0;
}

int mail_index_reservations_check_order(struct mail_index_transaction *t,
					uint32_t mailbox_id, uint32_t uid)
{
	struct mail_index *index = t->index;
	ARRAY(int64_t) stale;
	time_t now = time(NULL);
	int ret;
	bool blocked = false;

	array_init(&stale, pool_datastack, 4);
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT id, owner, created FROM uid_reservations "
		"WHERE mailbox_id = ?1 AND uid1 < ?2");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, uid);
	while ((ret = mail_index_step(index, stmt, "reservation order")) > 0) {
		int64_t id = sqlite3_column_int64(stmt, 0);
		const char *owner = (const char *)sqlite3_column_text(stmt, 1);
		time_t created = (time_t)sqlite3_column_int64(stmt, 2);

		if (owner == NULL || !mail_index_owner_is_alive(index, owner) ||
		    now - created >= (time_t)index->reservation_steal_secs)
			array_push(&stale, id);
		else
			blocked = true;
	}
	if (ret < 0)
		return -1;
	if (blocked)
		return 0;

	const int64_t *idp;
	array_foreach(&stale, idp) {
		stmt = mail_index_stmt(index,
			"DELETE FROM uid_reservations WHERE id = ?1");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, *idp);
		if (mail_index_step(index, stmt, "drop stale reservation") < 0)
			return -1;
	}
	return 1;
}

void mail_index_reservations_tx_end(struct mail_index_transaction *t,
				    bool committed)
{
	struct mail_index_reservation **resp;

	array_foreach(&t->claimed, resp) {
		(*resp)->claimed_by = NULL;
		if (committed)
			(*resp)->used = true;
	}
}

/* Undo the claims made after the first `keep` of the transaction. */
static void mail_index_reservations_unclaim(struct mail_index_transaction *t,
					    unsigned int keep)
{
	while (array_count(&t->claimed) > keep) {
		struct mail_index_reservation *res =
			t->claimed.v[array_count(&t->claimed) - 1];
		res->claimed_by = NULL;
		t->claimed.count--;
	}
}

int mail_index_reservations_ready(struct mail_index_transaction *t,
				  struct mail_index_reservation *const *res,
				  unsigned int count)
{
	struct mail_index *index = t->index;
	unsigned int keep = array_count(&t->claimed);
	int ret = 1;

	/* a savepoint, so that "wait" leaves the transaction as it was */
	if (mail_index_exec(index, "SAVEPOINT reservations_ready") < 0)
		return -1;
	for (unsigned int i = 0; i < count && ret > 0; i++) {
		if (mail_index_reservation_claim(t, res[i]) < 0)
			ret = -1;
	}
	for (unsigned int i = 0; i < count && ret > 0; i++) {
		ret = mail_index_reservations_check_order(t, res[i]->mailbox_id,
							  res[i]->uid2);
	}
	if (ret <= 0) {
		(void)sqlite3_exec(index->db,
				   "ROLLBACK TO reservations_ready", NULL, NULL, NULL);
		/* a reservation found dropped stays marked used */
		mail_index_reservations_unclaim(t, keep);
	}
	(void)sqlite3_exec(index->db, "RELEASE reservations_ready",
			   NULL, NULL, NULL);
	return ret;
}

int mail_index_reservations_pending(struct mail_index *index,
				    struct mail_index_reservation *const *res,
				    unsigned int count)
{
	return mail_index_reservations_pending_except(index, res, count,
						      res, count);
}

int mail_index_reservations_pending_except(struct mail_index *index,
	struct mail_index_reservation *const *res, unsigned int count,
	struct mail_index_reservation *const *except, unsigned int except_count)
{
	time_t now = time(NULL);
	int ret = 0;

	for (unsigned int i = 0; i < count && ret == 0; i++) {
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"SELECT id, owner, created FROM uid_reservations "
			"WHERE mailbox_id = ?1 AND uid1 < ?2");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, res[i]->mailbox_id);
		sqlite3_bind_int64(stmt, 2, res[i]->uid2);
		int step;
		while (ret == 0 &&
		       (step = mail_index_step(index, stmt, "reservations")) > 0) {
			int64_t id = sqlite3_column_int64(stmt, 0);
			const char *owner = (const char *)sqlite3_column_text(stmt, 1);
			time_t created = (time_t)sqlite3_column_int64(stmt, 2);
			bool ours = false;
			for (unsigned int j = 0; j < except_count && !ours; j++)
				ours = except[j]->id == id;
			if (!ours && owner != NULL &&
			    mail_index_owner_is_alive(index, owner) &&
			    now - created < (time_t)index->reservation_steal_secs)
				ret = 1;
		}
		if (ret == 0 && step < 0)
			return -1;
		sqlite3_reset(stmt);
	}
	return ret;
}
