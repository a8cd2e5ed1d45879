/* String helpers on the data stack. */
#include "lib.h"
#include <ctype.h>
#include <strings.h>

static const char **t_strsplit_full(const char *str, const char *seps,
				    bool skip_empty)
{
	ARRAY(const char *) arr;
	array_init(&arr, pool_datastack, 8);
	const char *start = str;
	for (const char *p = str;; p++) {
		if (*p == '\0' || strchr(seps, *p) != NULL) {
			if (!skip_empty || p > start)
				array_push(&arr, t_strndup(start, (size_t)(p - start)));
			if (*p == '\0')
				break;
			start = p + 1;
		}
	}
	array_push(&arr, NULL);
	return arr.v;
}

const char **t_strsplit(const char *str, const char *separators)
{
	return t_strsplit_full(str, separators, false);
}

const char **t_strsplit_spaces(const char *str, const char *separators)
{
	return t_strsplit_full(str, separators, true);
}

unsigned int str_array_length(const char *const *arr)
{
	unsigned int n = 0;
	while (arr[n] != NULL)
		n++;
	return n;
}

const char *str_array_kv_get(const char *const *arr, const char *key)
{
	size_t len = strlen(key);

	if (arr == NULL)
		return NULL;
	for (unsigned int i = 0; arr[i] != NULL; i++) {
		if (strncmp(arr[i], key, len) == 0 && arr[i][len] == '=')
			return arr[i] + len + 1;
	}
	return NULL;
}

const char *t_strarray_join(const char *const *arr, const char *separator)
{
	string_t *str = t_str_new(128);
	for (unsigned int i = 0; arr[i] != NULL; i++) {
		if (i > 0)
			str_append(str, separator);
		str_append(str, arr[i]);
	}
	return str_c(str);
}

bool str_begins(const char *str, const char *prefix)
{
	return strncmp(str, prefix, strlen(prefix)) == 0;
}

bool str_begins_icase(const char *str, const char *prefix)
{
	return strncasecmp(str, prefix, strlen(prefix)) == 0;
}

bool str_ends_with(const char *str, const char *suffix)
{
	size_t a = strlen(str), b = strlen(suffix);
	return a >= b && memcmp(str + a - b, suffix, b) == 0;
}

const char *t_str_lcase(const char *str)
{
	char *ret = t_strdup(str);
	for (char *p = ret; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return ret;
}

const char *t_str_ucase(const char *str)
{
	char *ret = t_strdup(str);
	for (char *p = ret; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	return ret;
}

const char *t_str_trim(const char *str, const char *chars)
{
	while (*str != '\0' && strchr(chars, *str) != NULL)
		str++;
	size_t len = strlen(str);
	while (len > 0 && strchr(chars, str[len - 1]) != NULL)
		len--;
	return t_strndup(str, len);
}

int str_to_uint64(const char *str, uint64_t *num_r)
{
	uint64_t n = 0;
	if (*str == '\0')
		return -1;
	for (; *str != '\0'; str++) {
		if (*str < '0' || *str > '9')
			return -1;
		if (n > (UINT64_MAX - (uint64_t)(*str - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*str - '0');
	}
	*num_r = n;
	return 0;
}

int str_to_uint(const char *str, unsigned int *num_r)
{
	uint64_t n;
	if (str_to_uint64(str, &n) < 0 || n > UINT_MAX)
		return -1;
	*num_r = (unsigned int)n;
	return 0;
}

int str_to_int64(const char *str, int64_t *num_r)
{
	bool neg = *str == '-';
	uint64_t n;
	if (str_to_uint64(str + (neg ? 1 : 0), &n) < 0)
		return -1;
	if (neg) {
		if (n > (uint64_t)INT64_MAX + 1)
			return -1;
		*num_r = n == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)n;
	} else {
		if (n > (uint64_t)INT64_MAX)
			return -1;
		*num_r = (int64_t)n;
	}
	return 0;
}

const char *str_sanitize(const char *str, size_t max_len)
{
	string_t *out = t_str_new(64);
	size_t i;
	for (i = 0; str[i] != '\0' && i < max_len; i++) {
		unsigned char c = (unsigned char)str[i];
		if (c >= 0x20 && c < 0x7f)
			str_append_c(out, (char)c);
		else
			str_printfa(out, "\\x%02x", c);
	}
	if (str[i] != '\0')
		str_append(out, "...");
	return str_c(out);
}

const char *t_strerror(int errnum)
{
	char buf[256];
	return t_strdup(strerror_r(errnum, buf, sizeof(buf)));
}
