/* Keywords: each mailbox numbers the keywords used in it (the keywords
   table) and a message stores the set as a bitmap over those numbers, so
   the hot message rows stay small and a flag listing needs no join.
   Names compare case-insensitively; the first spelling is kept. */
#include "lib.h"
#include "mail-index-private.h"
#include <strings.h>

bool mail_index_keyword_is_valid(const char *keyword)
{
	size_t len = strlen(keyword);

	if (len == 0 || len > MAIL_INDEX_KEYWORD_MAX_LEN || keyword[0] == '\\')
		return false;
	/* IMAP atom characters: no specials, controls, spaces or 8-bit */
	for (const unsigned char *p = (const unsigned char *)keyword;
	     *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p) != NULL)
			return false;
	}
	return true;
}

int mail_index_keywords_load(struct mail_index *index, uint32_t mailbox_id,
			     pool_t pool, ARRAY_TYPE(mail_string) *names)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT idx, name FROM keywords WHERE mailbox_id = ?1 ORDER BY idx");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	while ((ret = mail_index_step(index, stmt, "keywords")) > 0) {
		unsigned int idx = (unsigned int)sqlite3_column_int(stmt, 0);
		const char *name = mail_index_column_str(pool, stmt, 1);
		/* idx are dense from 0; be safe against holes anyway */
		while (array_count(names) < idx) {
			const char *none = NULL;
			array_push(names, none);
		}
		array_push(names, name);
	}
	return ret;
}

int mail_index_mailbox_keywords(struct mail_index *index, uint32_t mailbox_id,
				pool_t pool, ARRAY_TYPE(mail_string) *names)
{
	ARRAY_TYPE(mail_string) all;
	const char *const *namep;

	array_init(&all, pool_datastack, 16);
	if (mail_index_keywords_load(index, mailbox_id, pool, &all) < 0)
		return -1;
	array_foreach(&all, namep) {
		if (*namep != NULL)
			array_push(names, *namep);
	}
	return 0;
}

void mail_index_bitmap_trim(buffer_t *bitmap)
{
	const unsigned char *data = bitmap->data;
	size_t size = bitmap->used;

	while (size > 0 && data[size - 1] == 0)
		size--;
	buffer_set_used_size(bitmap, size);
}

static int mail_index_keyword_define(struct mail_index *index,
				     uint32_t mailbox_id, const char *name,
				     unsigned int idx)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"INSERT INTO keywords (mailbox_id, idx, name) VALUES (?1, ?2, ?3)");

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int(stmt, 2, (int)idx);
	sqlite3_bind_text(stmt, 3, name, -1, SQLITE_STATIC);
	return mail_index_step(index, stmt, "define keyword");
}

int mail_index_keywords_to_bitmap(struct mail_index *index,
				  uint32_t mailbox_id,
				  const char *const *keywords, bool create,
				  buffer_t *bitmap)
{
	ARRAY_TYPE(mail_string) names;

	buffer_reset(bitmap);
	if (keywords == NULL || keywords[0] == NULL)
		return 0;

	array_init(&names, pool_datastack, 16);
	if (mail_index_keywords_load(index, mailbox_id, pool_datastack,
				     &names) < 0)
		return -1;
	for (; *keywords != NULL; keywords++) {
		unsigned int idx;
		for (idx = 0; idx < array_count(&names); idx++) {
			const char *name = names.v[idx];
			if (name != NULL && strcasecmp(name, *keywords) == 0)
				break;
		}
		if (idx == array_count(&names)) {
			if (!create)
				continue;
			if (!mail_index_keyword_is_valid(*keywords)) {
				return mail_index_set_error(index,
					MAIL_ERROR_PARAMS, t_strdup_printf(
					"Invalid keyword: %s",
					str_sanitize(*keywords, 64)));
			}
			if (idx >= MAIL_INDEX_MAX_KEYWORDS) {
				return mail_index_set_error(index,
					MAIL_ERROR_LIMIT,
					"Too many keywords in the mailbox.");
			}
			if (mail_index_keyword_define(index, mailbox_id,
						      *keywords, idx) < 0)
				return -1;
			const char *name = t_strdup(*keywords);
			array_push(&names, name);
		}
		size_t byte = idx / 8;
		if (bitmap->used <= byte) {
			size_t grow = byte + 1 - bitmap->used;
			memset(buffer_append_space(bitmap, grow), 0, grow);
		}
		((unsigned char *)bitmap->data)[byte] |= (unsigned char)(1 << (idx % 8));
	}
	return 0;
}

const char *const *
mail_index_keywords_from_bitmap(pool_t pool,
				const ARRAY_TYPE(mail_string) *names,
				const void *bitmap, size_t size)
{
	const unsigned char *bits = bitmap;
	unsigned int count = 0, i, n = 0;

	for (i = 0; i < size; i++)
		count += (unsigned int)__builtin_popcount(bits[i]);
	if (count == 0)
		return NULL;

	const char **result = p_new(pool, const char *, count + 1);
	for (i = 0; i < size * 8; i++) {
		if ((bits[i / 8] & (1 << (i % 8))) == 0)
			continue;
		/* a bit without a name would be a corrupted row: skip it */
		if (i < array_count(names) && names->v[i] != NULL)
			result[n++] = names->v[i];
	}
	result[n] = NULL;
	return n == 0 ? NULL : result;
}
