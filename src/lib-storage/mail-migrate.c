/* Maildir++ and mbox import, Maildir++ export. The Maildir side follows
   Dovecot's files: dovecot-uidlist ("3 V<uidvalidity> N<uidnext> ..."
   then "<uid> [fields] :<base name>"), dovecot-keywords ("<n> <name>",
   file-name letters a..z), flag letters D F P R S T after ":2,", mtime as
   the received date. Messages are saved through the storage, so they get
   blobs with full metadata and parsed caches like any other. */
#include "lib.h"
#include "event.h"
#include "mail-migrate.h"
#include "mail-storage-private.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#define MIGRATE_COMMIT_EVERY 200
/* one blob store sync and one index sync per MIGRATE_COMMIT_EVERY
   messages instead of an fsync or two per message */
#define MIGRATE_TRANSACTION_FLAGS \
	(MAILBOX_TRANSACTION_FLAG_SYNC | MAILBOX_TRANSACTION_FLAG_BULK)
#define MIGRATE_READ_SIZE 65536

/* --- modified UTF-7 --- */

static const char mutf7_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static void utf8_append_cp(string_t *dest, uint32_t cp)
{
	if (cp < 0x80)
		str_append_c(dest, (char)cp);
	else if (cp < 0x800) {
		str_append_c(dest, (char)(0xc0 | (cp >> 6)));
		str_append_c(dest, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		str_append_c(dest, (char)(0xe0 | (cp >> 12)));
		str_append_c(dest, (char)(0x80 | ((cp >> 6) & 0x3f)));
		str_append_c(dest, (char)(0x80 | (cp & 0x3f)));
	} else {
		str_append_c(dest, (char)(0xf0 | (cp >> 18)));
		str_append_c(dest, (char)(0x80 | ((cp >> 12) & 0x3f)));
		str_append_c(dest, (char)(0x80 | ((cp >> 6) & 0x3f)));
		str_append_c(dest, (char)(0x80 | (cp & 0x3f)));
	}
}

int mail_mutf7_to_utf8(const char *src, string_t *dest)
{
	for (const char *p = src; *p != '\0'; p++) {
		if (*p != '&') {
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				return -1;
			str_append_c(dest, *p);
			continue;
		}
		p++;
		if (*p == '-') {
			str_append_c(dest, '&');
			continue;
		}
		uint32_t bits = 0, high = 0;
		unsigned int nbits = 0;
		for (; *p != '-'; p++) {
			const char *pos = *p == '\0' ? NULL : strchr(mutf7_b64, *p);
			if (pos == NULL)
				return -1;
			bits = (bits << 6) | (uint32_t)(pos - mutf7_b64);
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t unit = (bits >> nbits) & 0xffff;
			if (unit >= 0xd800 && unit < 0xdc00) {
				if (high != 0)
					return -1;
				high = unit;
			} else if (unit >= 0xdc00 && unit < 0xe000) {
				if (high == 0)
					return -1;
				utf8_append_cp(dest, 0x10000 + ((high - 0xd800) << 10) +
					       (unit - 0xdc00));
				high = 0;
			} else {
				if (high != 0)
					return -1;
				utf8_append_cp(dest, unit);
			}
		}
		if (high != 0)
			return -1;
	}
	return 0;
}

/* Next code point of UTF-8 text; U+FFFD for a broken sequence. */
static uint32_t utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t cp;
	unsigned int len;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0) {
		cp = s[0] & 0x1f;
		len = 2;
	} else if ((s[0] & 0xf0) == 0xe0) {
		cp = s[0] & 0x0f;
		len = 3;
	} else if ((s[0] & 0xf8) == 0xf0) {
		cp = s[0] & 0x07;
		len = 4;
	} else {
		*p = s + 1;
		return 0xfffd;
	}
	for (unsigned int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*p = s + i;
			return 0xfffd;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	*p = s + len;
	return cp > 0x10ffff ? 0xfffd : cp;
}

void mail_utf8_to_mutf7(const char *src, const char *also_encode,
			string_t *dest)
{
	const unsigned char *p = (const unsigned char *)src;

	while (*p != '\0') {
		if (*p == '&') {
			str_append(dest, "&-");
			p++;
			continue;
		}
		if (*p >= 0x20 && *p <= 0x7e &&
		    strchr(also_encode, (char)*p) == NULL) {
			str_append_c(dest, (char)*p++);
			continue;
		}
		/* a run of characters to encode: UTF-16BE in modified base64 */
		uint32_t bits = 0;
		unsigned int nbits = 0;
		str_append_c(dest, '&');
		while (*p != '\0' && !(*p >= 0x20 && *p <= 0x7e &&
				       strchr(also_encode, (char)*p) == NULL)) {
			uint32_t cp = utf8_next(&p);
			uint16_t units[2];
			unsigned int n = 1;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[0] = (uint16_t)(0xd800 + (cp >> 10));
				units[1] = (uint16_t)(0xdc00 + (cp & 0x3ff));
				n = 2;
			} else {
				units[0] = (uint16_t)cp;
			}
			for (unsigned int i = 0; i < n; i++) {
				bits = (bits << 16) | units[i];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					str_append_c(dest, mutf7_b64[(bits >> nbits) & 0x3f]);
				}
			}
		}
		if (nbits > 0)
			str_append_c(dest, mutf7_b64[(bits << (6 - nbits)) & 0x3f]);
		str_append_c(dest, '-');
	}
}

/* --- Maildir import --- */

struct maildir_entry {
	const char *path;
	const char *base;
	uint32_t uid;
	enum mail_flags flags;
	const char **keywords;
	time_t mtime;
};

struct maildir_folder {
	pool_t pool;
	uint32_t uidvalidity, uidnext;
	/* base name -> uid, from dovecot-uidlist */
	ARRAY(const char *) uidlist_bases;
	ARRAY_TYPE(mail_uid) uidlist_uids;
	/* index -> keyword, from dovecot-keywords */
	const char *keywords[26];
	ARRAY(struct maildir_entry) entries;
};

static int migrate_error(struct mail_user *user, const char *fmt, ...)
	ATTR_FORMAT(2, 3);
static int migrate_error(struct mail_user *user, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	const char *text = p_strdup_vprintf(pool_datastack, fmt, args);
	va_end(args);
	return mail_user_set_internal_error(user, MAIL_ERROR_TEMP, "%s", text);
}

/* NULL if the file does not exist (errno ENOENT). */
static const char *read_text_file(const char *path)
{
	FILE *f = fopen(path, "r");
	string_t *str;
	char buf[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	str = t_str_new(4096);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		str_append_data(str, buf, n);
	fclose(f);
	return str_c(str);
}

static void maildir_read_uidlist(struct maildir_folder *folder,
				 const char *dir)
{
	const char *text = read_text_file(t_strdup_printf("%s/dovecot-uidlist", dir));
	if (text == NULL)
		return;
	const char *const *lines = t_strsplit(text, "\n");
	if (*lines == NULL)
		return;
	const char *const *hdr = t_strsplit_spaces(*lines, " ");
	if (hdr[0] != NULL && strcmp(hdr[0], "3") == 0) {
		for (unsigned int i = 1; hdr[i] != NULL; i++) {
			if (hdr[i][0] == 'V' &&
			    str_to_uint(hdr[i] + 1, &folder->uidvalidity) < 0)
				folder->uidvalidity = 0;
			if (hdr[i][0] == 'N' &&
			    str_to_uint(hdr[i] + 1, &folder->uidnext) < 0)
				folder->uidnext = 0;
		}
	} else if (hdr[0] != NULL && strcmp(hdr[0], "1") == 0 &&
		   str_array_length(hdr) >= 3) {
		if (str_to_uint(hdr[1], &folder->uidvalidity) < 0 ||
		    str_to_uint(hdr[2], &folder->uidnext) < 0)
			folder->uidvalidity = folder->uidnext = 0;
	} else {
		return;
	}
	bool v3 = strcmp(hdr[0], "3") == 0;
	for (lines++; *lines != NULL; lines++) {
		const char *line = *lines, *base;
		unsigned int uid;
		const char *space = strchr(line, ' ');
		if (space == NULL ||
		    str_to_uint(t_strndup(line, (size_t)(space - line)), &uid) < 0 ||
		    uid == 0)
			continue;
		if (v3) {
			/* extension fields, then ":" and the base name */
			base = strstr(space, " :");
			if (base == NULL)
				continue;
			base += 2;
		} else {
			base = space + 1;
		}
		base = p_strdup(folder->pool, base);
		array_push(&folder->uidlist_bases, base);
		array_push(&folder->uidlist_uids, uid);
	}
}

static void maildir_read_keywords(struct maildir_folder *folder,
				  const char *dir)
{
	const char *text = read_text_file(t_strdup_printf("%s/dovecot-keywords", dir));
	if (text == NULL)
		return;
	for (const char *const *lines = t_strsplit(text, "\n"); *lines != NULL; lines++) {
		unsigned int idx;
		const char *space = strchr(*lines, ' ');
		if (space == NULL ||
		    str_to_uint(t_strndup(*lines, (size_t)(space - *lines)), &idx) < 0 ||
		    idx >= N_ELEMENTS(folder->keywords))
			continue;
		folder->keywords[idx] = p_strdup(folder->pool, space + 1);
	}
}

static uint32_t maildir_uid_of(const struct maildir_folder *folder,
			       const char *base)
{
	for (unsigned int i = 0; i < array_count(&folder->uidlist_bases); i++) {
		if (strcmp(folder->uidlist_bases.v[i], base) == 0)
			return folder->uidlist_uids.v[i];
	}
	return 0;
}

static int maildir_scan(struct mail_user *user, struct maildir_folder *folder,
			const char *dir, const char *sub)
{
	const char *path = t_strdup_printf("%s/%s", dir, sub);
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		return migrate_error(user, "opendir(%s) failed: %m", path);
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		const char *file = p_strdup_printf(folder->pool, "%s/%s", path,
						   de->d_name);
		if (stat(file, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		struct maildir_entry *e = array_append_space(&folder->entries);
		e->path = file;
		e->mtime = st.st_mtime;
		const char *colon = strchr(de->d_name, ':');
		e->base = p_strndup(folder->pool, de->d_name, colon == NULL ?
				    strlen(de->d_name) :
				    (size_t)(colon - de->d_name));
		e->uid = maildir_uid_of(folder, e->base);
		if (colon == NULL || strncmp(colon, ":2,", 3) != 0)
			continue;
		ARRAY(const char *) kws;
		array_init(&kws, folder->pool, 4);
		for (const char *f = colon + 3; *f != '\0'; f++) {
			switch (*f) {
			case 'S': e->flags |= MAIL_SEEN; break;
			case 'R': e->flags |= MAIL_ANSWERED; break;
			case 'F': e->flags |= MAIL_FLAGGED; break;
			case 'T': e->flags |= MAIL_DELETED; break;
			case 'D': e->flags |= MAIL_DRAFT; break;
			default:
				if (*f >= 'a' && *f <= 'z' &&
				    folder->keywords[*f - 'a'] != NULL)
					array_push(&kws, folder->keywords[*f - 'a']);
				break;
			}
		}
		if (array_count(&kws) > 0) {
			const char *end = NULL;
			array_push(&kws, end);
			e->keywords = kws.v;
		}
	}
	closedir(d);
	return 0;
}

static int maildir_entry_cmp(const void *p1, const void *p2)
{
	const struct maildir_entry *e1 = p1, *e2 = p2;

	/* known UIDs in order, then the rest by name (Maildir names start
	   with the delivery time) */
	if ((e1->uid == 0) != (e2->uid == 0))
		return e1->uid == 0 ? 1 : -1;
	if (e1->uid != e2->uid)
		return e1->uid < e2->uid ? -1 : 1;
	return strcmp(e1->base, e2->base);
}

/* Save the file at path into the transaction. */
static int migrate_save_file(struct mailbox_transaction *t, uint32_t uid,
			     const struct maildir_entry *e)
{
	struct mail_user *user = t->box->user;
	struct mail_save_context *ctx;
	char buf[MIGRATE_READ_SIZE];
	ssize_t n;

	int fd = open(e->path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return migrate_error(user, "open(%s) failed: %m", e->path);
	ctx = uid != 0 ?
		mail_save_begin_uid(t, uid, e->flags, e->keywords, e->mtime, 0) :
		mail_save_begin(t, e->flags, e->keywords, e->mtime, 0);
	if (ctx == NULL) {
		(void)close(fd);
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (mail_save_write(ctx, buf, (size_t)n) < 0)
			break;
	}
	if (n < 0)
		migrate_error(user, "read(%s) failed: %m", e->path);
	(void)close(fd);
	if (mail_save_finish(&ctx) < 0 || n < 0)
		return -1;
	return 0;
}

static int migrate_commit(struct mailbox_transaction **t)
{
	struct mail_transaction_commit_result result;

	return mailbox_transaction_commit_sync(t, pool_datastack, &result);
}

static int maildir_import_folder(struct mail_user *user, const char *dir,
				 const char *name,
				 struct mail_migrate_stats *stats)
{
	struct maildir_folder folder;
	struct mail_index_mailbox ibox;
	struct mailbox *box;
	bool keep_uids = false;
	int ret;

	memset(&folder, 0, sizeof(folder));
	folder.pool = pool_alloconly_create("maildir import", 16 * 1024);
	array_init(&folder.uidlist_bases, folder.pool, 64);
	array_init(&folder.uidlist_uids, folder.pool, 64);
	array_init(&folder.entries, folder.pool, 64);
	maildir_read_uidlist(&folder, dir);
	maildir_read_keywords(&folder, dir);
	if (maildir_scan(user, &folder, dir, "cur") < 0 ||
	    maildir_scan(user, &folder, dir, "new") < 0) {
		pool_unref(&folder.pool);
		return -1;
	}
	if (array_count(&folder.entries) > 1) {
		qsort(folder.entries.v, array_count(&folder.entries),
		      sizeof(folder.entries.v[0]), maildir_entry_cmp);
	}

	ret = mail_index_mailbox_lookup(user->index, name, pool_datastack, &ibox);
	if (ret < 0 || (ret > 0 && ibox.noselect)) {
		pool_unref(&folder.pool);
		return ret < 0 ? mail_user_set_index_error(user) :
			mail_user_set_error(user, MAIL_ERROR_NOTPOSSIBLE,
					    "Mailbox isn't selectable.");
	}
	if (ret == 0 && folder.uidvalidity != 0) {
		/* a new mailbox: it keeps the folder's UIDVALIDITY and UIDs */
		struct mail_index_mailbox_restore restore = {
			.name = name,
			.uidvalidity = folder.uidvalidity,
			.uidnext = 1,
		};
		uint32_t id;
		if (mail_index_mailbox_restore(user->index, &restore, &id) < 0) {
			pool_unref(&folder.pool);
			return mail_user_set_index_error(user);
		}
		keep_uids = true;
	} else if (ret == 0 && mail_user_mailbox_create(user, name, 0) < 0) {
		pool_unref(&folder.pool);
		return -1;
	}
	if (mailbox_open(user, name, &box) < 0) {
		pool_unref(&folder.pool);
		return -1;
	}

	uint32_t next_uid = I_MAX(folder.uidnext, 1);
	struct maildir_entry *e;
	array_foreach(&folder.entries, e) {
		if (e->uid >= next_uid)
			next_uid = e->uid + 1;
	}
	struct mailbox_transaction *t =
		mailbox_transaction_begin(box, MIGRATE_TRANSACTION_FLAGS);
	unsigned int in_tx = 0;
	ret = 0;
	array_foreach(&folder.entries, e) {
		uint32_t uid = 0;
		if (keep_uids)
			uid = e->uid != 0 ? e->uid : next_uid++;
		T_BEGIN {
			ret = migrate_save_file(t, uid, e);
		} T_END;
		if (ret < 0)
			break;
		stats->messages++;
		if (++in_tx == MIGRATE_COMMIT_EVERY) {
			in_tx = 0;
			if (migrate_commit(&t) < 0) {
				ret = -1;
				break;
			}
			t = mailbox_transaction_begin(box, MIGRATE_TRANSACTION_FLAGS);
		}
	}
	if (t != NULL) {
		if (ret < 0)
			mailbox_transaction_rollback(&t);
		else if (migrate_commit(&t) < 0)
			ret = -1;
	}
	/* UIDNEXT as the folder had it: expunged UIDs stay unused */
	if (ret == 0 && keep_uids &&
	    mail_index_mailbox_raise_uidnext(user->index, mailbox_get_id(box),
					     next_uid) < 0)
		ret = mail_user_set_index_error(user);
	mailbox_close(&box);
	pool_unref(&folder.pool);
	if (ret == 0)
		stats->mailboxes++;
	return ret;
}

static int str_ptr_cmp(const void *p1, const void *p2)
{
	return strcmp(*(const char *const *)p1, *(const char *const *)p2);
}

static bool maildir_is_folder(const char *dir)
{
	struct stat st;

	return stat(t_strdup_printf("%s/cur", dir), &st) == 0 &&
		S_ISDIR(st.st_mode);
}

int mail_import_maildir(struct mail_user *user, const char *root,
			struct mail_migrate_stats *stats_r)
{
	DIR *d;
	struct dirent *de;
	ARRAY(const char *) subdirs;

	memset(stats_r, 0, sizeof(*stats_r));
	if (maildir_is_folder(root) &&
	    maildir_import_folder(user, root, "INBOX", stats_r) < 0)
		return -1;
	if ((d = opendir(root)) == NULL)
		return migrate_error(user, "opendir(%s) failed: %m", root);
	array_init(&subdirs, pool_datastack, 16);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		const char *name = t_strdup(de->d_name);
		array_push(&subdirs, name);
	}
	closedir(d);
	/* parents before children */
	if (array_count(&subdirs) > 1) {
		qsort(subdirs.v, array_count(&subdirs), sizeof(subdirs.v[0]),
		      str_ptr_cmp);
	}
	const char *const *subp;
	array_foreach(&subdirs, subp) {
		const char *dir = t_strdup_printf("%s/%s", root, *subp);
		if (!maildir_is_folder(dir))
			continue;
		/* ".A.B" -> "A/B", each level modified UTF-7 */
		string_t *name = t_str_new(64);
		const char *const *levels = t_strsplit(*subp + 1, ".");
		for (; *levels != NULL; levels++) {
			if (str_len(name) > 0)
				str_append_c(name, MAIL_INDEX_HIERARCHY_SEP);
			if (mail_mutf7_to_utf8(*levels, name) < 0) {
				e_warning(user->event, "%s: not valid modified "
					  "UTF-7, used as it is", dir);
				str_append(name, *levels);
			}
		}
		if (maildir_import_folder(user, dir, str_c(name), stats_r) < 0)
			return -1;
	}
	return 0;
}

/* --- mbox import --- */

struct mbox_msg {
	buffer_t *data;
	time_t received;
	enum mail_flags flags;
	bool in_header;
};

/* "From sender Mon Jan  1 12:00:00 2024" -> the date, or 0 */
static time_t mbox_from_line_date(const char *line)
{
	const char *p = strchr(line + 5, ' ');
	struct tm tm;

	if (p == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(p + 1, "%a %b %d %H:%M:%S %Y", &tm);
	if (end == NULL)
		return 0;
	return timegm(&tm);
}

static void mbox_header_flags(struct mbox_msg *msg, const char *line)
{
	if (strncasecmp(line, "Status:", 7) == 0) {
		if (strchr(line + 7, 'R') != NULL)
			msg->flags |= MAIL_SEEN;
	} else if (strncasecmp(line, "X-Status:", 9) == 0) {
		for (const char *p = line + 9; *p != '\0'; p++) {
			switch (*p) {
			case 'A': msg->flags |= MAIL_ANSWERED; break;
			case 'F': msg->flags |= MAIL_FLAGGED; break;
			case 'T': msg->flags |= MAIL_DRAFT; break;
			case 'D': msg->flags |= MAIL_DELETED; break;
			}
		}
	}
}

static int mbox_save(struct mailbox_transaction *t, struct mbox_msg *msg)
{
	struct mail_save_context *ctx;
	size_t size = msg->data->used;

	/* the blank line before the next "From " is the separator's */
	if (size > 0 && ((const char *)msg->data->data)[size - 1] == '\n') {
		size--;
		if (size > 0 && ((const char *)msg->data->data)[size - 1] == '\r')
			size--;
	}
	ctx = mail_save_begin(t, msg->flags, NULL, msg->received, 0);
	if (ctx == NULL)
		return -1;
	if (mail_save_write(ctx, msg->data->data, size) < 0) {
		/* finishing frees it; the failure is the transaction's */
		if (mail_save_finish(&ctx) < 0) {
			/* as expected */
		}
		return -1;
	}
	return mail_save_finish(&ctx);
}

int mail_import_mbox(struct mail_user *user, const char *path,
		     const char *mailbox, struct mail_migrate_stats *stats_r)
{
	struct mail_index_mailbox ibox;
	struct mailbox *box;
	struct mbox_msg msg;
	char *line = NULL;
	size_t line_alloc = 0;
	ssize_t len;
	bool have_msg = false, prev_blank = true;
	unsigned int in_tx = 0;
	int ret = 0;

	memset(stats_r, 0, sizeof(*stats_r));
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return migrate_error(user, "fopen(%s) failed: %m", path);
	ret = mail_index_mailbox_lookup(user->index, mailbox, pool_datastack, &ibox);
	if (ret < 0 || (ret == 0 && mail_user_mailbox_create(user, mailbox, 0) < 0) ||
	    mailbox_open(user, mailbox, &box) < 0) {
		if (ret < 0)
			mail_user_set_index_error(user);
		fclose(f);
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	msg.data = buffer_create(system_pool, 65536);
	struct mailbox_transaction *t =
		mailbox_transaction_begin(box, MIGRATE_TRANSACTION_FLAGS);
	ret = 0;
	while (ret == 0 && (len = getline(&line, &line_alloc, f)) >= 0) {
		if (prev_blank && strncmp(line, "From ", 5) == 0) {
			/* a new message */
			if (have_msg) {
				T_BEGIN {
					ret = mbox_save(t, &msg);
				} T_END;
				stats_r->messages++;
				if (ret == 0 && ++in_tx == MIGRATE_COMMIT_EVERY) {
					in_tx = 0;
					ret = migrate_commit(&t);
					t = ret < 0 ? NULL : mailbox_transaction_begin(
						box, MIGRATE_TRANSACTION_FLAGS);
				}
			}
			buffer_reset(msg.data);
			msg.flags = 0;
			msg.in_header = true;
			msg.received = mbox_from_line_date(line);
			have_msg = true;
			prev_blank = false;
			continue;
		}
		if (!have_msg)
			continue;
		prev_blank = (len == 1 && line[0] == '\n') ||
			(len == 2 && line[0] == '\r' && line[1] == '\n');
		if (msg.in_header) {
			if (prev_blank)
				msg.in_header = false;
			else
				mbox_header_flags(&msg, line);
		}
		/* mboxrd: ">From " lines lose one '>' */
		const char *p = line;
		while (*p == '>')
			p++;
		if (p != line && strncmp(p, "From ", 5) == 0)
			buffer_append(msg.data, line + 1, (size_t)len - 1);
		else
			buffer_append(msg.data, line, (size_t)len);
	}
	if (ret == 0 && have_msg) {
		T_BEGIN {
			ret = mbox_save(t, &msg);
		} T_END;
		stats_r->messages++;
	}
	if (ret == 0 && ferror(f))
		ret = migrate_error(user, "read(%s) failed", path);
	if (t != NULL) {
		if (ret < 0)
			mailbox_transaction_rollback(&t);
		else
			ret = migrate_commit(&t);
	}
	free(line);
	fclose(f);
	buffer_free(&msg.data);
	mailbox_close(&box);
	if (ret == 0)
		stats_r->mailboxes = 1;
	return ret;
}

/* --- Maildir export --- */

static int export_mkdir(struct mail_user *user, const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return migrate_error(user, "mkdir(%s) failed: %m", path);
	return 0;
}

static int export_write_file(struct mail_user *user, const char *path,
			     const char *text)
{
	const char *tmp = t_strdup_printf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text);

	if (fd == -1)
		return migrate_error(user, "open(%s) failed: %m", tmp);
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		(void)close(fd);
		return migrate_error(user, "write(%s) failed: %m", tmp);
	}
	if (close(fd) < 0 || rename(tmp, path) < 0)
		return migrate_error(user, "rename(%s) failed: %m", path);
	return 0;
}

/* One message into dir/cur, named so that its flags and keywords are in
   the name, with INTERNALDATE as mtime. Returns the base name. */
static int export_message(struct mailbox *box, const char *dir,
			  const struct mail_index_record *rec,
			  const ARRAY_TYPE(mail_string) *kw_names,
			  const char **base_r)
{
	struct mail_user *user = box->user;
	string_t *flags = t_str_new(32);
	const char *base = t_strdup_printf("%lld.C%uG%.8s.columba",
		(long long)rec->internal_date, rec->uid, rec->guid);

	/* the letters in ASCII order, as Maildir wants */
	if ((rec->flags & MAIL_DRAFT) != 0) str_append_c(flags, 'D');
	if ((rec->flags & MAIL_FLAGGED) != 0) str_append_c(flags, 'F');
	if ((rec->flags & MAIL_ANSWERED) != 0) str_append_c(flags, 'R');
	if ((rec->flags & MAIL_SEEN) != 0) str_append_c(flags, 'S');
	if ((rec->flags & MAIL_DELETED) != 0) str_append_c(flags, 'T');
	for (unsigned int i = 0; i < array_count(kw_names) && i < 26; i++) {
		for (const char *const *kw = rec->keywords;
		     kw != NULL && *kw != NULL; kw++) {
			if (strcmp(*kw, kw_names->v[i]) == 0)
				str_append_c(flags, (char)('a' + i));
		}
	}
	const char *path = t_strdup_printf("%s/cur/%s:2,%s", dir, base, str_c(flags));
	const char *tmp = t_strdup_printf("%s/tmp/%s", dir, base);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		return migrate_error(user, "open(%s) failed: %m", tmp);

	struct blob_get *get = blob_get_begin_sync(user->blobs, rec->blob_key,
						   0, UINT64_MAX);
	struct blob_result result;
	const unsigned char *data;
	size_t size;
	int ret = 0;
	while (ret == 0 && blob_get_read_data(get, &data, &size) > 0) {
		if (write(fd, data, size) != (ssize_t)size)
			ret = migrate_error(user, "write(%s) failed: %m", tmp);
		blob_get_skip(get, size);
	}
	if (blob_get_end(&get, &result) < 0 && ret == 0) {
		ret = mail_user_set_blob_error(user,
			t_strdup_printf("read(%s)", rec->blob_key), &result);
	}
	if (ret == 0 && fsync(fd) < 0)
		ret = migrate_error(user, "fsync(%s) failed: %m", tmp);
	(void)close(fd);
	struct timespec times[2] = {
		{ .tv_sec = rec->internal_date }, { .tv_sec = rec->internal_date },
	};
	if (ret == 0 && (utimensat(AT_FDCWD, tmp, times, 0) < 0 ||
			 rename(tmp, path) < 0))
		ret = migrate_error(user, "rename(%s) failed: %m", path);
	if (ret < 0)
		(void)unlink(tmp);
	*base_r = base;
	return ret;
}

static int export_mailbox(struct mail_user *user, const char *root,
			  const struct mail_index_list_entry *e,
			  struct mail_migrate_stats *stats)
{
	struct mailbox *box;
	const char *dir;

	if (strcmp(e->name, "INBOX") == 0)
		dir = root;
	else {
		/* "A/B" -> ".A.B", levels in modified UTF-7 with '.' encoded */
		string_t *str = t_str_new(64);
		const char *const *levels = t_strsplit(e->name, "/");
		for (; *levels != NULL; levels++) {
			str_append_c(str, '.');
			mail_utf8_to_mutf7(*levels, ".", str);
		}
		dir = t_strdup_printf("%s/%s", root, str_c(str));
	}
	if (export_mkdir(user, dir) < 0 ||
	    export_mkdir(user, t_strdup_printf("%s/cur", dir)) < 0 ||
	    export_mkdir(user, t_strdup_printf("%s/new", dir)) < 0 ||
	    export_mkdir(user, t_strdup_printf("%s/tmp", dir)) < 0)
		return -1;
	if (mailbox_open(user, e->name, &box) < 0)
		return -1;

	ARRAY_TYPE(mail_string) kw_names;
	ARRAY_TYPE(mail_index_record) recs;
	array_init(&kw_names, pool_datastack, 8);
	array_init(&recs, pool_datastack, 64);
	int ret = 0;
	if (mail_index_mailbox_keywords(user->index, box->id, pool_datastack,
					&kw_names) < 0 ||
	    mail_index_fetch(user->index, box->id, NULL, MAIL_INDEX_FETCH_DETAILS,
			     pool_datastack, &recs) < 0)
		ret = mail_user_set_index_error(user);

	/* grown inside the per-message frames below: not on the data stack */
	string_t *uidlist = str_new(system_pool, 4096);
	str_printfa(uidlist, "3 V%u N%u G%s\n", mailbox_get_uidvalidity(box),
		    mailbox_get_uidnext(box), box->guid);
	const struct mail_index_record *rec;
	array_foreach(&recs, rec) {
		const char *base = NULL;
		if (ret < 0)
			break;
		T_BEGIN {
			ret = export_message(box, dir, rec, &kw_names, &base);
			if (ret == 0)
				str_printfa(uidlist, "%u :%s\n", rec->uid, base);
		} T_END;
		stats->messages++;
	}
	if (ret == 0) {
		string_t *kws = t_str_new(256);
		for (unsigned int i = 0; i < array_count(&kw_names) && i < 26; i++)
			str_printfa(kws, "%u %s\n", i, kw_names.v[i]);
		if (array_count(&kw_names) > 26) {
			e_warning(user->event, "%s: only the first 26 keywords "
				  "fit Maildir file names", e->name);
		}
		ret = export_write_file(user, t_strdup_printf("%s/dovecot-uidlist", dir),
					str_c(uidlist));
		if (ret == 0 && str_len(kws) > 0) {
			ret = export_write_file(user,
				t_strdup_printf("%s/dovecot-keywords", dir), str_c(kws));
		}
	}
	str_free(&uidlist);
	mailbox_close(&box);
	if (ret == 0)
		stats->mailboxes++;
	return ret;
}

int mail_export_maildir(struct mail_user *user, const char *root,
			struct mail_migrate_stats *stats_r)
{
	ARRAY_TYPE(mail_index_list_entry) boxes, subs;
	const struct mail_index_list_entry *e;
	const char *const patterns[] = { "*", NULL };

	memset(stats_r, 0, sizeof(*stats_r));
	array_init(&boxes, pool_datastack, 16);
	array_init(&subs, pool_datastack, 16);
	if (mail_index_mailbox_list(user->index, patterns, 0, pool_datastack,
				    &boxes) < 0 ||
	    mail_index_mailbox_list(user->index, patterns,
				    MAIL_INDEX_LIST_SUBSCRIBED, pool_datastack,
				    &subs) < 0)
		return mail_user_set_index_error(user);
	if (export_mkdir(user, root) < 0)
		return -1;
	array_foreach(&boxes, e) {
		if ((e->attrs & MAIL_INDEX_MAILBOX_ATTR_NOSELECT) != 0)
			continue;
		if (export_mailbox(user, root, e, stats_r) < 0)
			return -1;
	}
	/* Dovecot reads a plain list of names too */
	string_t *str = t_str_new(256);
	array_foreach(&subs, e)
		str_printfa(str, "%s\n", e->name);
	return export_write_file(user, t_strdup_printf("%s/subscriptions", root),
				 str_c(str));
}
