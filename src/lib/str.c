/* Buffers and strings. Strings keep one spare byte so str_c() can add the
   terminating NUL without reallocating. */
#include "lib.h"

void buffer_init(buffer_t *buf, pool_t pool)
{
	memset(buf, 0, sizeof(*buf));
	buf->pool = pool;
	if (pool == pool_datastack)
		buf->t_frame = t_depth();
}

buffer_t *buffer_create(pool_t pool, size_t init_size)
{
	buffer_t *buf = p_new(pool, buffer_t, 1);
	buf->pool = pool;
	if (pool == pool_datastack)
		buf->t_frame = t_depth();
	if (init_size > 0) {
		buf->data = p_malloc(pool, init_size);
		buf->alloc = init_size;
	}
	return buf;
}

void buffer_free(buffer_t **_buf)
{
	buffer_t *buf = *_buf;
	*_buf = NULL;
	if (buf == NULL)
		return;
	p_free_(buf->pool, buf->data);
	p_free_(buf->pool, buf);
}

void buffer_release(buffer_t *buf)
{
	p_free(buf->pool, buf->data);
	buf->used = buf->alloc = 0;
}

void *buffer_get_space(buffer_t *buf, size_t size)
{
	/* +1 keeps room for str_c()'s NUL */
	size_t need = size_add(size_add(buf->used, size), 1);
	if (need > buf->alloc) {
		if (unlikely(buf->pool == pool_datastack &&
			     t_depth() > buf->t_frame)) {
			i_panic("data stack buffer from frame %u grown inside "
				"frame %u: allocate it from another pool",
				buf->t_frame, t_depth());
		}
		size_t n = buf->alloc < 32 ? 32 : buf->alloc;
		while (n < need)
			n = size_mul(n, 2);
		buf->data = p_realloc(buf->pool, buf->data, buf->alloc, n);
		buf->alloc = n;
	}
	return buf->data + buf->used;
}

void *buffer_append_space(buffer_t *buf, size_t size)
{
	void *p = buffer_get_space(buf, size);
	memset(p, 0, size);
	buf->used += size;
	return p;
}

void buffer_append(buffer_t *buf, const void *data, size_t size)
{
	if (size == 0)
		return;
	memcpy(buffer_get_space(buf, size), data, size);
	buf->used += size;
}

void buffer_append_c(buffer_t *buf, unsigned char c)
{
	buffer_append(buf, &c, 1);
}

void buffer_set_used_size(buffer_t *buf, size_t used)
{
	if (used > buf->used)
		(void)buffer_append_space(buf, used - buf->used);
	else
		buf->used = used;
}

void buffer_delete(buffer_t *buf, size_t pos, size_t size)
{
	i_assert(pos <= buf->used && size <= buf->used - pos);
	memmove(buf->data + pos, buf->data + pos + size,
		buf->used - pos - size);
	buf->used -= size;
}

string_t *str_new(pool_t pool, size_t init_size)
{
	return buffer_create(pool, init_size == 0 ? 32 : init_size + 1);
}

void str_append(string_t *str, const char *cstr)
{
	buffer_append(str, cstr, strlen(cstr));
}

void str_append_n(string_t *str, const void *data, size_t max_len)
{
	buffer_append(str, data, strnlen(data, max_len));
}

void str_append_data(string_t *str, const void *data, size_t len)
{
	buffer_append(str, data, len);
}

void str_append_c(string_t *str, char c)
{
	buffer_append_c(str, (unsigned char)c);
}

void str_append_str(string_t *dest, const string_t *src)
{
	buffer_append(dest, src->data, src->used);
}

void str_vprintfa(string_t *str, const char *fmt, va_list args)
{
	va_list args2;
	va_copy(args2, args);
	/* a one-byte buffer rather than NULL: gcc's sanitizer builds
	   reject a NULL destination */
	char probe[1];
	int len = vsnprintf(probe, sizeof(probe), fmt, args2);
	va_end(args2);
	if (len < 0)
		i_panic("str_printfa(%s): vsnprintf failed", fmt);
	char *p = buffer_get_space(str, (size_t)len);
	vsnprintf(p, (size_t)len + 1, fmt, args);
	str->used += (size_t)len;
}

void str_printfa(string_t *str, const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	str_vprintfa(str, fmt, args);
	va_end(args);
}

char *str_c_modifiable(string_t *str)
{
	char *p = buffer_get_space(str, 0);
	*p = '\0';
	return (char *)str->data;
}

const char *str_c(string_t *str)
{
	return str_c_modifiable(str);
}

void str_reset(string_t *str)
{
	str->used = 0;
}
