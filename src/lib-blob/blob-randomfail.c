/* The randomfail wrapper: fails a configurable share of the operations of
   the store it wraps, with TEMPORARY or IO errors, reproducibly from a
   seed, so tests can check that callers cope and that a failed put leaves
   nothing visible. Failures are injected before the wrapped store is
   asked to do the step, so a failed operation never half-happened.

   Args: fail=P (share 0..1 of every class), fail_put, fail_get, fail_head,
   fail_delete, fail_list, fail_copy (per class, overriding fail), seed=N;
   then the wrapped store's spec: "randomfail:fail=0.1:seed=7:posix:/x".

   For tests only: delay_get=MSECS makes the first read of every
   asynchronous get (the open, as an object store's time to first byte)
   complete MSECS later from the ioloop, so a test can hold a reader
   (FETCH, SEARCH) waiting for as long as it likes. Synchronous gets are
   not delayed, nor anything while the store is being destroyed. */
#include "lib.h"
#include "ioloop.h"
#include "blob-private.h"

#include <sys/random.h>

struct randomfail_store {
	struct blob_store store;
	double fail[BLOB_OP_CLASS_COUNT];
	uint64_t seed, rng;
	unsigned int delay_get_msecs;
};

struct randomfail_op {
	struct blob_op op;
	bool decided;
	bool will_fail;
	/* the request (0 = the first) at which a failing put or get fails:
	   a put may fail after some of its writes, a get after some
	   reads */
	unsigned int fail_at;
	unsigned int requests;
	/* delay_get: the first read waits for this timeout */
	struct timeout *to_delay;
	bool delayed;
};

#define RANDOMFAIL_STORE(s) CONTAINER_OF(s, struct randomfail_store, store)
#define RANDOMFAIL_OP(o) CONTAINER_OF(o, struct randomfail_op, op)

static const char *const randomfail_class_names[BLOB_OP_CLASS_COUNT] = {
	[BLOB_OP_PUT] = "put",
	[BLOB_OP_GET] = "get",
	[BLOB_OP_HEAD] = "head",
	[BLOB_OP_DELETE] = "delete",
	[BLOB_OP_COPY] = "copy",
	[BLOB_OP_LIST] = "list",
};

/* splitmix64: small, fast, and the same sequence on every platform */
static uint64_t randomfail_next(struct randomfail_store *rstore)
{
	uint64_t z = (rstore->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool randomfail_roll(struct randomfail_store *rstore, double share)
{
	if (share <= 0)
		return false;
	double r = (double)(randomfail_next(rstore) >> 11) * 0x1.0p-53;
	return r < share;
}

static void randomfail_request(struct blob_op *op);

static void randomfail_delay_done(void *context)
{
	struct blob_op *op = context;
	struct randomfail_op *rop = RANDOMFAIL_OP(op);

	timeout_remove(&rop->to_delay);
	/* no longer a read that may finish inline: its end is delivered
	   from the ioloop like any background read's, not inside the
	   driver's call (the consumer may end the get in its callback) */
	op->nowait = false;
	randomfail_request(op);
}

static void randomfail_request(struct blob_op *op)
{
	struct randomfail_store *rstore = RANDOMFAIL_STORE(op->store);
	struct randomfail_op *rop = RANDOMFAIL_OP(op);

	/* cleaning up must always work */
	if (op->req == BLOB_REQ_PUT_DISCARD) {
		blob_op_forward(op);
		return;
	}
	if (rstore->delay_get_msecs > 0 && op->req == BLOB_REQ_GET_READ &&
	    !rop->delayed && !op->sync && !op->store->draining) {
		rop->delayed = true;
		rop->to_delay = timeout_add(rstore->delay_get_msecs,
					    randomfail_delay_done, op);
		return;
	}
	/* a list page is a call of its own (as an S3 request is); a put
	   or get decides once */
	if (!rop->decided || op->class == BLOB_OP_LIST) {
		rop->decided = true;
		rop->will_fail = randomfail_roll(rstore,
						 rstore->fail[op->class]);
		rop->fail_at = 0;
		if (op->class == BLOB_OP_PUT || op->class == BLOB_OP_GET)
			rop->fail_at = randomfail_next(rstore) % 4;
	}
	unsigned int idx = rop->requests++;
	if (!rop->will_fail ||
	    (idx < rop->fail_at && op->req != BLOB_REQ_PUT_COMMIT)) {
		blob_op_forward(op);
		return;
	}
	rop->will_fail = false;
	bool temporary = (randomfail_next(rstore) & 1) != 0;
	blob_op_set_error(op, temporary ? BLOB_ERROR_TEMPORARY : BLOB_ERROR_IO,
			  "randomfail(seed=%"PRIu64"): injected %s failure "
			  "(%s, request %u)", rstore->seed,
			  temporary ? "temporary" : "I/O",
			  randomfail_class_names[op->class], idx);
	blob_op_request_done(op);
}

static int randomfail_parse_share(const char *value, double *share_r)
{
	char *end;

	errno = 0;
	double d = strtod(value, &end);
	if (errno != 0 || end == value || *end != '\0' || !(d >= 0 && d <= 1))
		return -1;
	*share_r = d;
	return 0;
}

static int randomfail_init(struct blob_store *store, const char *args,
			   const char **error_r)
{
	struct randomfail_store *rstore = RANDOMFAIL_STORE(store);
	const char *const *opts, *parent_spec;
	double all = 0, share;
	double by_class[BLOB_OP_CLASS_COUNT] = { 0 };
	bool class_set[BLOB_OP_CLASS_COUNT] = { false };
	bool seed_set = false;

	blob_args_split_wrapper(args, &opts, &parent_spec);
	for (; *opts != NULL; opts++) {
		const char *eq = strchr(*opts, '=');
		const char *key = t_strndup(*opts, (size_t)(eq - *opts));
		const char *value = eq + 1;

		if (strcmp(key, "delay_get") == 0) {
			if (str_to_uint(value, &rstore->delay_get_msecs) < 0) {
				*error_r = "delay_get must be milliseconds";
				return -1;
			}
			continue;
		}
		if (strcmp(key, "seed") == 0) {
			if (str_to_uint64(value, &rstore->seed) < 0) {
				*error_r = "seed must be a number";
				return -1;
			}
			seed_set = true;
			continue;
		}
		if (!str_begins(key, "fail")) {
			*error_r = t_strdup_printf("Unknown option '%s'",
						   str_sanitize(key, 64));
			return -1;
		}
		if (randomfail_parse_share(value, &share) < 0) {
			*error_r = t_strdup_printf(
				"%s must be a share between 0 and 1", key);
			return -1;
		}
		if (strcmp(key, "fail") == 0) {
			all = share;
			continue;
		}
		unsigned int i;
		for (i = 0; i < BLOB_OP_CLASS_COUNT; i++) {
			if (str_begins(key, "fail_") &&
			    strcmp(key + 5, randomfail_class_names[i]) == 0)
				break;
		}
		if (i == BLOB_OP_CLASS_COUNT) {
			*error_r = t_strdup_printf("Unknown option '%s'",
						   str_sanitize(key, 64));
			return -1;
		}
		by_class[i] = share;
		class_set[i] = true;
	}
	for (unsigned int i = 0; i < BLOB_OP_CLASS_COUNT; i++)
		rstore->fail[i] = class_set[i] ? by_class[i] : all;
	if (!seed_set &&
	    getrandom(&rstore->seed, sizeof(rstore->seed), 0) !=
	    sizeof(rstore->seed))
		i_fatal("getrandom() failed: %m");
	rstore->rng = rstore->seed;

	if (*parent_spec == '\0') {
		*error_r = "Missing the wrapped store "
			"(randomfail:...:driver:args)";
		return -1;
	}
	if (blob_store_create_parent(store, parent_spec, error_r) < 0)
		return -1;
	store->io_chunk_size = store->parent->io_chunk_size;
	return 0;
}

static void randomfail_deinit(struct blob_store *store)
{
	blob_store_destroy(&store->parent);
}

/* The store is going away: delayed reads go on at once. */
static bool randomfail_drain(struct blob_store *store)
{
	bool any = false;
	struct blob_op *op, *next;

	for (op = store->ops; op != NULL; op = next) {
		struct randomfail_op *rop = RANDOMFAIL_OP(op);

		next = op->next;
		if (rop->to_delay != NULL) {
			randomfail_delay_done(op);
			any = true;
		}
	}
	return any;
}

static void randomfail_op_deinit(struct blob_op *op)
{
	struct randomfail_op *rop = RANDOMFAIL_OP(op);

	timeout_remove(&rop->to_delay);
}

static struct blob_store *randomfail_alloc(void)
{
	struct randomfail_store *rstore = i_new(struct randomfail_store, 1);
	return &rstore->store;
}

static struct blob_op *randomfail_op_alloc(void)
{
	struct randomfail_op *rop = i_new(struct randomfail_op, 1);
	return &rop->op;
}

static int randomfail_cleanup_temp(struct blob_store *store,
				   unsigned int min_age_secs,
				   unsigned int *removed_r,
				   const char **error_r)
{
	return blob_store_cleanup_temp(store->parent, min_age_secs, removed_r,
				       error_r);
}

static int randomfail_sync(struct blob_store *store, const char **error_r)
{
	return blob_store_sync(store->parent, error_r);
}

const struct blob_store_vfuncs blob_driver_randomfail = {
	.name = "randomfail",
	.alloc = randomfail_alloc,
	.init = randomfail_init,
	.deinit = randomfail_deinit,
	.drain = randomfail_drain,
	.op_alloc = randomfail_op_alloc,
	.op_deinit = randomfail_op_deinit,
	.request = randomfail_request,
	.cleanup_temp = randomfail_cleanup_temp,
	.sync = randomfail_sync,
};
