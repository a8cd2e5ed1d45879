/* The blob metadata of a message and the key layout: the contract between
   saving and rebuilding, so both live here. */
#include "lib.h"
#include "blob.h"
#include "mail-blob-meta.h"
#include <ctype.h>

const char *mail_blob_key(const char *prefix, const char *mailbox_guid,
			  uint32_t uid, const char *guid)
{
	return t_strdup_printf("%s/%s/%u.%s", prefix, mailbox_guid, uid, guid);
}

static bool is_hex_guid(const char *s, size_t len)
{
	if (len != MAIL_INDEX_MAILBOX_GUID_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

bool mail_blob_key_parse(const char *key, const char *prefix,
			 const char **mailbox_guid_r, uint32_t *uid_r)
{
	size_t prefix_len = strlen(prefix);

	if (strncmp(key, prefix, prefix_len) != 0 || key[prefix_len] != '/')
		return false;
	const char *p = key + prefix_len + 1;
	const char *slash = strchr(p, '/');
	if (slash == NULL || !is_hex_guid(p, (size_t)(slash - p)))
		return false;
	const char *dot = strchr(slash + 1, '.');
	if (dot == NULL || !is_hex_guid(dot + 1, strlen(dot + 1)))
		return false;
	if (str_to_uint(t_strndup(slash + 1, (size_t)(dot - slash - 1)),
			uid_r) < 0 || *uid_r == 0)
		return false;
	*mailbox_guid_r = t_strndup(p, (size_t)(slash - p));
	return true;
}

const char *mail_blob_mailbox_list_key(const char *prefix)
{
	return t_strdup_printf("%s/" MAIL_BLOB_MAILBOX_LIST_NAME, prefix);
}

const char *mail_blob_uidnext_key(const char *prefix, const char *mailbox_guid)
{
	return t_strdup_printf("%s/%s/uidnext", prefix, mailbox_guid);
}

const char *mail_blob_name_encode(const char *name)
{
	string_t *str = t_str_new(strlen(name) + 16);

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e || *p == '%')
			str_printfa(str, "%%%02X", *p);
		else
			str_append_c(str, (char)*p);
	}
	return str_c(str);
}

const char *mail_blob_name_decode(pool_t pool, const char *value)
{
	string_t *str = t_str_new(strlen(value));

	for (const char *p = value; *p != '\0'; p++) {
		if (*p != '%') {
			str_append_c(str, *p);
			continue;
		}
		if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]))
			return NULL;
		char hex[3] = { p[1], p[2], '\0' };
		char c = (char)strtoul(hex, NULL, 16);
		if (c == '\0')
			return NULL;
		str_append_c(str, c);
		p += 2;
	}
	return p_strdup(pool, str_c(str));
}

void mail_blob_meta_set(struct blob_put *put, const struct mail_blob_meta *meta)
{
	/* everything but keywords is small and bounded: names up to 1024
	   bytes encode to at most ~3 KB in the worst case, so trim the
	   name first if needed, then keywords take what room is left */
	const char *name = mail_blob_name_encode(meta->mailbox_name);
	if (strlen(name) > 1024) {
		/* cut, without leaving half a %XX escape at the end */
		size_t len = 1024;
		if (name[len - 1] == '%')
			len -= 1;
		else if (name[len - 2] == '%')
			len -= 2;
		name = t_strndup(name, len);
	}
	blob_put_set_metadata(put, "v", MAIL_BLOB_META_VERSION);
	blob_put_set_metadata(put, "mailbox-guid", meta->mailbox_guid);
	blob_put_set_metadata(put, "mailbox", name);
	blob_put_set_metadata(put, "uid", t_strdup_printf("%u", meta->uid));
	blob_put_set_metadata(put, "uidvalidity",
			      t_strdup_printf("%u", meta->uidvalidity));
	blob_put_set_metadata(put, "save-date",
			      t_strdup_printf("%lld", (long long)meta->save_date));
	blob_put_set_metadata(put, "internal-date",
		t_strdup_printf("%lld %d", (long long)meta->internal_date,
				meta->internal_tz));
	blob_put_set_metadata(put, "flags",
			      t_strdup_printf("%u", (unsigned int)meta->flags));
	blob_put_set_metadata(put, "guid", meta->guid);

	size_t used = 1024 + 400;
	string_t *kws = t_str_new(128);
	for (const char *const *kw = meta->keywords;
	     kw != NULL && *kw != NULL; kw++) {
		if (used + str_len(kws) + strlen(*kw) + 1 > BLOB_METADATA_MAX_SIZE)
			break;
		if (str_len(kws) > 0)
			str_append_c(kws, ' ');
		str_append(kws, *kw);
	}
	if (str_len(kws) > 0)
		blob_put_set_metadata(put, "keywords", str_c(kws));
}

static int meta_get_uint(const struct blob_info *info, const char *name,
			 uint32_t *num_r, const char **error_r)
{
	const char *value = blob_info_get_metadata(info, name);

	if (value == NULL || str_to_uint(value, num_r) < 0) {
		*error_r = t_strdup_printf("missing or bad %s", name);
		return -1;
	}
	return 0;
}

static int meta_get_time(const struct blob_info *info, const char *name,
			 time_t *time_r, int *tz_r, const char **error_r)
{
	const char *value = blob_info_get_metadata(info, name);
	long long t;
	int tz = 0, n = 0;

	if (value == NULL ||
	    (sscanf(value, "%lld%n %d%n", &t, &n, &tz, &n) < 1) ||
	    value[n] != '\0') {
		*error_r = t_strdup_printf("missing or bad %s", name);
		return -1;
	}
	*time_r = (time_t)t;
	if (tz_r != NULL)
		*tz_r = tz;
	return 0;
}

int mail_blob_meta_parse(const struct blob_info *info, pool_t pool,
			 struct mail_blob_meta *meta_r, const char **error_r)
{
	const char *value;
	uint32_t flags;

	memset(meta_r, 0, sizeof(*meta_r));
	value = blob_info_get_metadata(info, "v");
	if (value == NULL || strcmp(value, MAIL_BLOB_META_VERSION) != 0) {
		*error_r = "not a message blob of a known version";
		return -1;
	}
	meta_r->mailbox_guid = p_strdup(pool,
		blob_info_get_metadata(info, "mailbox-guid"));
	meta_r->guid = p_strdup(pool, blob_info_get_metadata(info, "guid"));
	value = blob_info_get_metadata(info, "mailbox");
	meta_r->mailbox_name = value == NULL ? NULL :
		mail_blob_name_decode(pool, value);
	if (meta_r->mailbox_guid == NULL || meta_r->guid == NULL ||
	    meta_r->mailbox_name == NULL) {
		*error_r = "missing mailbox, mailbox-guid or guid";
		return -1;
	}
	if (meta_get_uint(info, "uid", &meta_r->uid, error_r) < 0 ||
	    meta_get_uint(info, "uidvalidity", &meta_r->uidvalidity, error_r) < 0 ||
	    meta_get_uint(info, "flags", &flags, error_r) < 0 ||
	    meta_get_time(info, "save-date", &meta_r->save_date, NULL, error_r) < 0 ||
	    meta_get_time(info, "internal-date", &meta_r->internal_date,
			  &meta_r->internal_tz, error_r) < 0)
		return -1;
	meta_r->flags = (enum mail_flags)(flags & MAIL_FLAGS_MASK);
	value = blob_info_get_metadata(info, "keywords");
	if (value != NULL) {
		const char *const *kws = t_strsplit_spaces(value, " ");
		unsigned int count = str_array_length(kws);
		const char **copy = p_new(pool, const char *, count + 1);
		for (unsigned int i = 0; i < count; i++)
			copy[i] = p_strdup(pool, kws[i]);
		meta_r->keywords = copy;
	}
	return 0;
}
