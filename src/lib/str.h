/* Growable byte buffers and strings (a string is a buffer that keeps a NUL
   after its data). Storage comes from the buffer's pool; a buffer made with
   buffer_init() allocates nothing until the first append, and
   buffer_release() gives its memory back, so idle objects can embed one at
   the cost of a few words. */
#ifndef COLUMBA_STR_H
#define COLUMBA_STR_H

typedef struct buffer {
	pool_t pool;
	unsigned char *data;
	size_t used, alloc;
	/* data stack buffers: the frame they belong to. Growing one from a
	   deeper frame would hand out memory that frame's T_END reclaims, so
	   it panics instead. */
	unsigned int t_frame;
} buffer_t;
typedef buffer_t string_t;

void buffer_init(buffer_t *buf, pool_t pool);
buffer_t *buffer_create(pool_t pool, size_t init_size);
/* Free the storage and the buffer itself (if from buffer_create) and set
   *buf to NULL. */
void buffer_free(buffer_t **buf);
/* Give the storage back (system pool) and empty the buffer; it stays usable. */
void buffer_release(buffer_t *buf);
void buffer_append(buffer_t *buf, const void *data, size_t size);
void buffer_append_c(buffer_t *buf, unsigned char c);
/* Room for size more bytes at the end; the caller fills it and the bytes
   count as used. */
void *buffer_append_space(buffer_t *buf, size_t size);
/* Ensure size bytes of free space after used; returns where they start. */
void *buffer_get_space(buffer_t *buf, size_t size);
void buffer_set_used_size(buffer_t *buf, size_t used);
/* Remove size bytes at pos, shifting the rest down. */
void buffer_delete(buffer_t *buf, size_t pos, size_t size);
#define buffer_reset(buf) buffer_set_used_size(buf, 0)
static inline const void *buffer_data(const buffer_t *buf) { return buf->data; }
static inline size_t buffer_used(const buffer_t *buf) { return buf->used; }

string_t *str_new(pool_t pool, size_t init_size);
#define t_str_new(size) str_new(pool_datastack, size)
#define str_free(str) buffer_free(str)
void str_append(string_t *str, const char *cstr);
void str_append_n(string_t *str, const void *data, size_t max_len);
void str_append_data(string_t *str, const void *data, size_t len);
void str_append_c(string_t *str, char c);
void str_append_str(string_t *dest, const string_t *src);
void str_printfa(string_t *str, const char *fmt, ...) ATTR_FORMAT(2, 3);
void str_vprintfa(string_t *str, const char *fmt, va_list args)
	ATTR_FORMAT(2, 0);
/* NUL-terminated view; valid until the next change. */
const char *str_c(string_t *str);
/* Modifiable NUL-terminated view. */
char *str_c_modifiable(string_t *str);
static inline size_t str_len(const string_t *str) { return str->used; }
#define str_truncate(str, len) buffer_set_used_size(str, I_MIN(len, (str)->used))
#define str_truncate_to(str, len) str_truncate(str, len)
void str_reset(string_t *str);

#endif
