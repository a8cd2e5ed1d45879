/* Memory pools: the heap wrapper, alloconly arenas and the data stack.
   Arenas hand out memory from doubling blocks; the data stack is an arena
   whose frames remember a position to return to. */
#include "lib.h"

#define POOL_ALIGN 16
#define POOL_ALIGN_SIZE(s) (((s) + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1))

struct pool_block {
	struct pool_block *prev;
	size_t size, left;
	/* keeps data[] aligned to POOL_ALIGN */
	size_t pad_;
	unsigned char data[];
};

struct pool {
	const char *name;
	int refcount;
	bool alloconly;
	struct pool_block *block, *first;
	size_t used;
	void *last_alloc;
	size_t last_alloc_size;
};

static struct pool system_pool_s = { .name = "system", .refcount = 1 };
pool_t system_pool = &system_pool_s;

static void *xcheck(void *mem, size_t size)
{
	if (unlikely(mem == NULL && size > 0)) {
		fprintf(stderr, "Out of memory allocating %zu bytes\n", size);
		abort();
	}
	return mem;
}

void *i_malloc(size_t size)
{
	return xcheck(calloc(1, size == 0 ? 1 : size), size);
}

void *i_realloc(void *mem, size_t old_size, size_t new_size)
{
	unsigned char *p = xcheck(realloc(mem, new_size == 0 ? 1 : new_size),
				  new_size);
	if (new_size > old_size)
		memset(p + old_size, 0, new_size - old_size);
	return p;
}

char *i_strdup(const char *str)
{
	return str == NULL ? NULL : xcheck(strdup(str), 1);
}

char *i_strndup(const char *str, size_t max_len)
{
	/* memchr, not strndup: str need not be NUL-terminated within
	   max_len, and strict sanitizer string checks hold strndup to that */
	const char *nul = memchr(str, '\0', max_len);
	size_t len = nul == NULL ? max_len : (size_t)(nul - str);
	char *ret = i_malloc(size_add(len, 1));
	memcpy(ret, str, len);
	return ret;
}

char *i_strdup_vprintf(const char *fmt, va_list args)
{
	char *ret;
	if (vasprintf(&ret, fmt, args) < 0)
		xcheck(NULL, 1);
	return ret;
}

char *i_strdup_printf(const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	char *ret = i_strdup_vprintf(fmt, args);
	va_end(args);
	return ret;
}

void safe_memset(void *data, int c, size_t size)
{
	volatile unsigned char *p = data;
	while (size-- > 0)
		*p++ = (unsigned char)c;
}

size_t size_add(size_t a, size_t b)
{
	size_t r;
	if (__builtin_add_overflow(a, b, &r))
		i_panic("size_add(%zu, %zu) overflows", a, b);
	return r;
}

size_t size_mul(size_t a, size_t b)
{
	size_t r;
	if (__builtin_mul_overflow(a, b, &r))
		i_panic("size_mul(%zu, %zu) overflows", a, b);
	return r;
}

static struct pool_block *block_new(size_t size, struct pool_block *prev)
{
	struct pool_block *b = xcheck(malloc(sizeof(*b) + size), size);
	b->prev = prev;
	b->size = b->left = size;
	return b;
}

pool_t pool_alloconly_create(const char *name, size_t initial_size)
{
	/* the pool and its first block are one allocation: a session keeps
	   a dozen small pools, and each malloc has its own overhead */
	size_t head = POOL_ALIGN_SIZE(sizeof(struct pool));
	size_t bsize = POOL_ALIGN_SIZE(I_MAX(initial_size, 64));
	size_t total = size_add(head, size_add(sizeof(struct pool_block), bsize));
	struct pool *pool = xcheck(malloc(total), total);
	struct pool_block *b = (void *)((unsigned char *)pool + head);

	memset(pool, 0, sizeof(*pool));
	pool->name = name;
	pool->refcount = 1;
	pool->alloconly = true;
	b->prev = NULL;
	b->size = b->left = bsize;
	pool->first = pool->block = b;
	return pool;
}

void pool_ref(pool_t pool)
{
	i_assert(pool->refcount > 0);
	if (pool != system_pool)
		pool->refcount++;
}

static void pool_free_blocks_until(pool_t pool, struct pool_block *keep)
{
	while (pool->block != keep) {
		struct pool_block *prev = pool->block->prev;
		free(pool->block);
		pool->block = prev;
	}
}

void pool_unref(pool_t *_pool)
{
	pool_t pool = *_pool;
	*_pool = NULL;
	if (pool == NULL || pool == system_pool)
		return;
	i_assert(pool->refcount > 0);
	if (--pool->refcount > 0)
		return;
	/* the first block is part of the pool's own allocation */
	pool_free_blocks_until(pool, pool->first);
	free(pool);
}

void pool_clear(pool_t pool)
{
	i_assert(pool->alloconly);
	pool_free_blocks_until(pool, pool->first);
	pool->block->left = pool->block->size;
	pool->used = 0;
	pool->last_alloc = NULL;
}

const char *pool_get_name(pool_t pool) { return pool->name; }
size_t pool_get_used_size(pool_t pool) { return pool->used; }
bool pool_is_alloconly(pool_t pool) { return pool->alloconly; }

void *p_malloc(pool_t pool, size_t size)
{
	if (!pool->alloconly)
		return i_malloc(size);

	size_t asize = POOL_ALIGN_SIZE(size == 0 ? 1 : size);
	if (asize < size)
		i_panic("p_malloc(%zu): size overflows", size);
	if (unlikely(pool->block == NULL))
		pool->first = pool->block = block_new(32 * 1024, NULL);
	struct pool_block *b = pool->block;
	if (b->left < asize) {
		size_t bsize = b->size * 2;
		while (bsize < asize)
			bsize = size_mul(bsize, 2);
		b = pool->block = block_new(bsize, b);
	}
	void *mem = b->data + (b->size - b->left);
	b->left -= asize;
	pool->used += asize;
	memset(mem, 0, size);
	pool->last_alloc = mem;
	pool->last_alloc_size = asize;
	return mem;
}

void *p_realloc(pool_t pool, void *mem, size_t old_size, size_t new_size)
{
	if (!pool->alloconly)
		return i_realloc(mem, old_size, new_size);
	if (mem == NULL)
		return p_malloc(pool, new_size);
	if (new_size <= old_size)
		return mem;

	size_t anew = POOL_ALIGN_SIZE(new_size);
	struct pool_block *b = pool->block;
	if (mem == pool->last_alloc &&
	    b->left + pool->last_alloc_size >= anew) {
		/* the last allocation of the current block grows in place */
		size_t grow = anew - pool->last_alloc_size;
		b->left -= grow;
		pool->used += grow;
		pool->last_alloc_size = anew;
		memset((unsigned char *)mem + old_size, 0, new_size - old_size);
		return mem;
	}
	void *new_mem = p_malloc(pool, new_size);
	memcpy(new_mem, mem, old_size);
	return new_mem;
}

void p_free_(pool_t pool, void *mem)
{
	if (!pool->alloconly)
		free(mem);
}

char *p_strdup(pool_t pool, const char *str)
{
	if (str == NULL)
		return NULL;
	return p_memdup(pool, str, strlen(str) + 1);
}

char *p_strndup(pool_t pool, const void *str, size_t max_len)
{
	const char *s = str;
	const char *nul = memchr(s, '\0', max_len);
	size_t len = nul == NULL ? max_len : (size_t)(nul - s);
	char *ret = p_malloc(pool, size_add(len, 1));
	memcpy(ret, s, len);
	return ret;
}

void *p_memdup(pool_t pool, const void *data, size_t size)
{
	void *ret = p_malloc(pool, size);
	if (size > 0)
		memcpy(ret, data, size);
	return ret;
}

char *p_strdup_vprintf(pool_t pool, const char *fmt, va_list args)
{
	va_list args2;
	va_copy(args2, args);
	/* a one-byte buffer rather than NULL: gcc's sanitizer builds
	   reject a NULL destination */
	char probe[1];
	int len = vsnprintf(probe, sizeof(probe), fmt, args2);
	va_end(args2);
	if (len < 0)
		i_panic("p_strdup_vprintf(%s): vsnprintf failed", fmt);
	char *ret = p_malloc(pool, (size_t)len + 1);
	vsnprintf(ret, (size_t)len + 1, fmt, args);
	return ret;
}

char *p_strdup_printf(pool_t pool, const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	char *ret = p_strdup_vprintf(pool, fmt, args);
	va_end(args);
	return ret;
}

/* --- data stack --- */

struct t_frame {
	struct pool_block *block;
	size_t left, used;
};

static struct pool datastack_s = { .name = "data stack", .refcount = 1,
				   .alloconly = true };
pool_t pool_datastack = &datastack_s;
static struct t_frame *t_frames;
static unsigned int t_frame_count, t_frame_alloc;

unsigned int t_push(void)
{
	if (datastack_s.first == NULL)
		datastack_s.first = datastack_s.block = block_new(32 * 1024, NULL);
	if (t_frame_count == t_frame_alloc) {
		unsigned int n = t_frame_alloc == 0 ? 16 : t_frame_alloc * 2;
		t_frames = i_realloc(t_frames, sizeof(*t_frames) * t_frame_alloc,
				     sizeof(*t_frames) * n);
		t_frame_alloc = n;
	}
	struct t_frame *f = &t_frames[t_frame_count++];
	f->block = datastack_s.block;
	f->left = datastack_s.block->left;
	f->used = datastack_s.used;
	return t_frame_count;
}

void t_pop(unsigned int *frame_id)
{
	if (*frame_id != t_frame_count)
		i_panic("t_pop(): frame %u closed while %u is open (missing T_END)",
			*frame_id, t_frame_count);
	struct t_frame *f = &t_frames[--t_frame_count];
	pool_free_blocks_until(&datastack_s, f->block);
	datastack_s.block->left = f->left;
	datastack_s.used = f->used;
	datastack_s.last_alloc = NULL;
	*frame_id = 0;
}

unsigned int t_depth(void)
{
	return t_frame_count;
}

void *array_grow_(pool_t pool, void *v, unsigned int *alloc,
		  unsigned int need, size_t elem_size)
{
	if (need <= *alloc)
		return v;
	unsigned int n = *alloc < 4 ? 4 : *alloc;
	while (n < need) {
		if (n > UINT_MAX / 2)
			i_panic("array_grow: %u elements is too many", need);
		n *= 2;
	}
	v = p_realloc(pool, v, size_mul(elem_size, *alloc),
		      size_mul(elem_size, n));
	*alloc = n;
	return v;
}
