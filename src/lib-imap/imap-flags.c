/* Flag lists: parsing for STORE/APPEND, writing for FETCH FLAGS. */
#include "lib.h"
#include "imap-flags.h"

static const struct {
	const char *name;
	enum imap_flag flag;
} imap_flag_names[] = {
	{ "\\Answered", IMAP_FLAG_ANSWERED },
	{ "\\Flagged", IMAP_FLAG_FLAGGED },
	{ "\\Deleted", IMAP_FLAG_DELETED },
	{ "\\Seen", IMAP_FLAG_SEEN },
	{ "\\Draft", IMAP_FLAG_DRAFT },
};

enum imap_flag imap_flag_parse(const char *name)
{
	for (unsigned int i = 0; i < N_ELEMENTS(imap_flag_names); i++) {
		if (strcasecmp(name, imap_flag_names[i].name) == 0)
			return imap_flag_names[i].flag;
	}
	return 0;
}

bool imap_keyword_is_valid(const char *name)
{
	if (name[0] == '\0' || strlen(name) > 255)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0';
	     p++) {
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
		switch (*p) {
		case '(': case ')': case '{': case '%': case '*': case '"':
		case '\\': case ']':
			return false;
		default:
			break;
		}
	}
	return true;
}

int imap_flags_parse(const struct imap_arg *args, pool_t pool,
		     enum imap_flag *flags_r, const char *const **keywords_r,
		     const char **error_r)
{
	ARRAY(const char *) keywords;
	const char *name;

	*flags_r = 0;
	*keywords_r = NULL;
	array_init(&keywords, pool, 0);
	for (; !IMAP_ARG_IS_EOL(args); args++) {
		if (!imap_arg_get_atom(args, &name)) {
			*error_r = "Flags must be atoms";
			return -1;
		}
		if (name[0] == '\\') {
			enum imap_flag flag = imap_flag_parse(name);
			if (flag == 0) {
				*error_r = strcasecmp(name, "\\Recent") == 0 ?
					"\\Recent flag can't be changed" :
					"Invalid system flag";
				return -1;
			}
			*flags_r |= flag;
			continue;
		}
		if (!imap_keyword_is_valid(name)) {
			*error_r = "Invalid keyword";
			return -1;
		}
		bool dup = false;
		const char **kw;
		array_foreach(&keywords, kw) {
			if (strcasecmp(*kw, name) == 0)
				dup = true;
		}
		if (!dup)
			array_push(&keywords, p_strdup(pool, name));
	}
	if (keywords.count > 0) {
		array_push(&keywords, NULL);
		*keywords_r = keywords.v;
	}
	return 0;
}

void imap_flags_write(string_t *dest, enum imap_flag flags,
		      const char *const *keywords)
{
	size_t start = str_len(dest);

	for (unsigned int i = 0; i < N_ELEMENTS(imap_flag_names); i++) {
		if ((flags & imap_flag_names[i].flag) == 0)
			continue;
		if (str_len(dest) > start)
			str_append_c(dest, ' ');
		str_append(dest, imap_flag_names[i].name);
	}
	for (; keywords != NULL && *keywords != NULL; keywords++) {
		if (str_len(dest) > start)
			str_append_c(dest, ' ');
		str_append(dest, *keywords);
	}
}
