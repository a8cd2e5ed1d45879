/* Measures what SELECT costs: opening a user's index and listing the UIDs,
   flags, keywords and modseqs of a large mailbox, warm (the database in
   the page cache). Usage: bench-mail-index [DIR [MESSAGES [ROUNDS]]]. */
#include "lib.h"
#include "mail-index.h"
#include <time.h>

static double now_msecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of this process: the machine may be shared, and wall time
   then measures the other tenants too */
static double cpu_msecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int dbl_cmp(const void *p1, const void *p2)
{
	double a = *(const double *)p1, b = *(const double *)p2;
	return a < b ? -1 : a > b ? 1 : 0;
}

static struct mail_index *bench_open(const char *path)
{
	struct mail_index_settings set = { .path = path };
	struct mail_index *index;
	const char *error;

	if (mail_index_open(&set, &index, &error) < 0)
		i_fatal("%s", error);
	return index;
}

static void bench_fill(const char *path, unsigned int count)
{
	struct mail_index *index = bench_open(path);
	struct mail_index_mailbox box;
	struct mail_index_reservation *res;
	struct mail_index_transaction *t;
	static const char *const kws[] = { "$Forwarded", NULL };

	if (mail_index_mailbox_create(index, "INBOX", 0, pool_datastack, &box) < 0 ||
	    mail_index_reserve_uids(index, box.id, count, &res) < 0 ||
	    mail_index_transaction_begin(index, &t) < 0)
		i_fatal("fill failed");
	for (unsigned int i = 0; i < count; i++) T_BEGIN {
		struct mail_index_new_message msg = {
			/* a realistic mix: most seen, some answered/flagged */
			.flags = (i % 10 != 0 ? MAIL_SEEN : 0) |
				(i % 7 == 0 ? MAIL_ANSWERED : 0) |
				(i % 50 == 0 ? MAIL_FLAGGED : 0),
			.keywords = i % 20 == 0 ? kws : NULL,
			.internal_date = 1600000000 + (time_t)i * 600,
			.sent_date = 1600000000 + (time_t)i * 600,
			.physical_size = 5000 + i % 3000,
			.rfc822_size = 5100 + i % 3000,
			.guid = "0123456789abcdef0123456789abcdef",
			.blob_key = t_strdup_printf(
				"mail/0123456789abcdef0123456789abcdef/%u."
				"0123456789abcdef0123456789abcdef", i + 1),
			.envelope = "(\"Mon, 1 Jan 2024 00:00:00 +0000\" "
				"\"A subject of average length for a message\" "
				"((\"Sender Name\" NIL \"sender\" \"example.com\")) "
				"((\"Sender Name\" NIL \"sender\" \"example.com\")) "
				"((\"Sender Name\" NIL \"sender\" \"example.com\")) "
				"((NIL NIL \"user\" \"example.org\")) NIL NIL NIL "
				"\"<1234567890@example.com>\")",
			.bodystructure = "(\"text\" \"plain\" (\"charset\" \"utf-8\") "
				"NIL NIL \"7bit\" 4000 80 NIL NIL NIL NIL)",
		};
		if (mail_index_append(t, res, i + 1, &msg) <= 0)
			i_fatal("append failed");
	} T_END;
	if (mail_index_transaction_commit(&t) < 0)
		i_fatal("commit failed");
	mail_index_reservation_free(&res);
	mail_index_close(&index);
}

int main(int argc, char *argv[])
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	unsigned int count = 20000, rounds = 50;

	if (argc > 2 && str_to_uint(argv[2], &count) < 0)
		i_fatal("bad count");
	if (argc > 3 && str_to_uint(argv[3], &rounds) < 0)
		i_fatal("bad rounds");
	const char *path = t_strdup_printf("%s/bench-index-%ld.db", dir,
					   (long)getpid());
	double start = now_msecs();
	if (getenv("BENCH_DB") != NULL) {
		/* an index filled by an earlier run (for profiling) */
		path = getenv("BENCH_DB");
	} else {
		bench_fill(path, count);
		printf("filled %u messages in %.0f ms\n", count,
		       now_msecs() - start);
	}

	double *open_list = i_new(double, rounds);
	double *list_only = i_new(double, rounds);
	double *open_list_cpu = i_new(double, rounds);
	double *list_only_cpu = i_new(double, rounds);
	unsigned int listed = 0;
	struct mail_index *kept = bench_open(path);
	struct mail_index_mailbox box;
	if (mail_index_mailbox_lookup(kept, "INBOX", pool_datastack, &box) <= 0)
		i_fatal("lookup failed");

	for (unsigned int r = 0; r < rounds; r++) T_BEGIN {
		pool_t pool = pool_alloconly_create("bench", 1024 * 1024);
		struct mail_index_mailbox b2;

		/* a new session: open the database, find the mailbox, list
		   UID + flags + keywords + modseq of every message */
		start = now_msecs();
		double cpu_start = cpu_msecs();
		struct mail_index *index = bench_open(path);
		if (mail_index_mailbox_lookup(index, "INBOX", pool, &b2) <= 0)
			i_fatal("lookup failed");
		struct mail_index_select sel;
		if (mail_index_mailbox_select(index, b2.id, pool, &sel) <= 0)
			i_fatal("select failed");
		open_list[r] = now_msecs() - start;
		open_list_cpu[r] = cpu_msecs() - cpu_start;
		listed = array_count(&sel.messages);
		mail_index_close(&index);

		/* the same on a connection that is already open (a second
		   SELECT in the same process) */
		pool_clear(pool);
		start = now_msecs();
		cpu_start = cpu_msecs();
		if (mail_index_mailbox_select(kept, box.id, pool, &sel) <= 0)
			i_fatal("select failed");
		list_only[r] = now_msecs() - start;
		list_only_cpu[r] = cpu_msecs() - cpu_start;
		pool_unref(&pool);
	} T_END;
	mail_index_close(&kept);

	qsort(open_list, rounds, sizeof(double), dbl_cmp);
	qsort(list_only, rounds, sizeof(double), dbl_cmp);
	qsort(open_list_cpu, rounds, sizeof(double), dbl_cmp);
	qsort(list_only_cpu, rounds, sizeof(double), dbl_cmp);
	printf("%u messages listed\n", listed);
	printf("open + lookup + list UIDs/flags: median %.2f ms, min %.2f ms, "
	       "max %.2f ms\n", open_list[rounds / 2], open_list[0],
	       open_list[rounds - 1]);
	printf("list UIDs/flags on an open index: median %.2f ms, min %.2f ms, "
	       "max %.2f ms\n", list_only[rounds / 2], list_only[0],
	       list_only[rounds - 1]);
	printf("  CPU time: open + list median %.2f ms (min %.2f); "
	       "list only median %.2f ms (min %.2f)\n",
	       open_list_cpu[rounds / 2], open_list_cpu[0],
	       list_only_cpu[rounds / 2], list_only_cpu[0]);
	i_free(open_list_cpu);
	i_free(list_only_cpu);
	i_free(open_list);
	i_free(list_only);
	if (getenv("BENCH_KEEP") != NULL || getenv("BENCH_DB") != NULL) { printf("kept %s\n", path); return 0; }
	for (unsigned int i = 0; i < 3; i++) {
		const char *suffix[] = { "", "-wal", "-shm" };
		(void)unlink(t_strdup_printf("%s%s", path, suffix[i]));
	}
	(void)unlink(t_strdup_printf("%s-notify", path));
	return 0;
}
