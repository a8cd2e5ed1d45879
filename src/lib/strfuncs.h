/* String helpers. t_ functions allocate from the data stack. */
#ifndef COLUMBA_STRFUNCS_H
#define COLUMBA_STRFUNCS_H

/* Split str at any of the separator characters. Empty fields are kept.
   Returns a NULL-terminated array on the data stack. */
const char **t_strsplit(const char *str, const char *separators);
/* Like t_strsplit() but drops empty fields (runs of spaces etc.). */
const char **t_strsplit_spaces(const char *str, const char *separators);
unsigned int str_array_length(const char *const *arr);
/* The value of "key=value" in a NULL-terminated array of such fields (a
   userdb reply's extra fields), or NULL when arr is NULL or has no such
   key; the first one wins. */
const char *str_array_kv_get(const char *const *arr, const char *key);
const char *t_strarray_join(const char *const *arr, const char *separator);
bool str_begins(const char *str, const char *prefix);
bool str_begins_icase(const char *str, const char *prefix);
bool str_ends_with(const char *str, const char *suffix);
const char *t_str_lcase(const char *str);
const char *t_str_ucase(const char *str);
/* Trim leading/trailing characters from chars. */
const char *t_str_trim(const char *str, const char *chars);

/* Strict number parsing: the whole string must be the number, no sign, no
   spaces, no overflow. Return 0 on success, -1 on error. */
int str_to_uint64(const char *str, uint64_t *num_r) ATTR_WARN_UNUSED;
int str_to_uint(const char *str, unsigned int *num_r) ATTR_WARN_UNUSED;
int str_to_int64(const char *str, int64_t *num_r) ATTR_WARN_UNUSED;

/* For logging untrusted data: printable ASCII kept, others as \xNN, cut at
   max_len with "...". */
const char *str_sanitize(const char *str, size_t max_len);
/* Human-readable strerror for an errno (like %m). */
const char *t_strerror(int errnum);

#endif
