/* Reading, caching and reloading Dovecot-format passwd-files for the
   passwd-file passdb and userdb. Each file is parsed into a hash table in
   its own arena, replaced whole when the file changes. */
#include "lib.h"
#include "hash.h"
#include "db-passwd-file.h"

#include <fcntl.h>
#include <sys/stat.h>

struct passwd_file {
	struct db_passwd_file *db;
	char *path;
	/* NULL until loaded */
	pool_t pool;
	struct hash_table *users;

	/* The loaded content's identity. mtime alone misses a rewrite in
	   the same second with the same size, and an editor or rename that
	   replaces the file gives a new inode. */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct db_passwd_file {
	struct db_passwd_file *prev, *next;
	int refcount;
	char *path;
	bool have_vars;
	/* !have_vars */
	struct passwd_file *file;
	/* have_vars: expanded path -> struct passwd_file */
	struct hash_table *files;
};

static struct db_passwd_file *db_passwd_files;

int db_passwd_file_parse_args(pool_t pool, const char *args,
			      const char **scheme_r,
			      const char **username_format_r,
			      const char **path_r, const char **error_r)
{
	const char *p = args;

	if (scheme_r != NULL)
		*scheme_r = NULL;
	*username_format_r = "%u";
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strcspn(p, " \t");

		if (scheme_r != NULL && str_begins(p, "scheme="))
			*scheme_r = p_strndup(pool, p + 7, len - 7);
		else if (str_begins(p, "username_format="))
			*username_format_r = p_strndup(pool, p + 16, len - 16);
		else
			break;
		p += len;
	}
	/* the rest is the path, as Dovecot reads it */
	size_t len = strlen(p);
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0) {
		*error_r = "Missing the passwd-file path in args";
		return -1;
	}
	*path_r = p_strndup(pool, p, len);
	return 0;
}

static void passwd_file_unload(struct passwd_file *file)
{
	if (file->users != NULL)
		hash_table_destroy(&file->users);
	if (file->pool != NULL)
		pool_unref(&file->pool);
}

static const char *const *
passwd_file_split_extra(pool_t pool, const char *extra)
{
	const char **items = t_strsplit_spaces(extra, " ");
	unsigned int count = str_array_length(items);

	if (count == 0)
		return NULL;
	const char **ret = p_new(pool, const char *, count + 1);
	for (unsigned int i = 0; i < count; i++)
		ret[i] = p_strdup(pool, items[i]);
	return ret;
}

static const char *p_strdup_empty(pool_t pool, const char *str)
{
	return str == NULL || str[0] == '\0' ? NULL : p_strdup(pool, str);
}

/* One line: user:password:uid:gid:gecos:home:shell:extra_fields */
static void passwd_file_add(struct passwd_file *file, pool_t pool,
			    struct hash_table *users, const char *line,
			    unsigned int linenum)
{
	const char **args = t_strsplit(line, ":");
	const char *username = args[0], *pass = args[1];
	unsigned int count = str_array_length(args);

	if (hash_table_lookup(users, username) != NULL) {
		i_error("passwd-file %s line %u: User %s exists more than "
			"once (the first one counts)", file->path, linenum,
			str_sanitize(username, 128));
		return;
	}

	struct passwd_file_user *pu = p_new(pool, struct passwd_file_user, 1);
	pu->user = p_strdup(pool, username);

	size_t len = pass == NULL ? 0 : strlen(pass);
	if (len > 4 && pass[0] != '{' && pass[0] != '$' &&
	    pass[len - 1] == ']' && pass[len - 4] == '[') {
		/* password[NN] from libpam-pwdfile, as Dovecot reads it:
		   34 = PLAIN-MD5, 56 = DIGEST-MD5, anything else crypt() */
		int num = (pass[len - 3] - '0') * 10 + (pass[len - 2] - '0');
		const char *hash = t_strndup(pass, len - 4);

		if (num == 34)
			pu->password = p_strdup_printf(pool,
				"{PLAIN-MD5}%s", hash);
		else if (num == 56) {
			if (strlen(hash) != 32) {
				i_error("passwd-file %s line %u: User %s has "
					"an invalid password", file->path,
					linenum, str_sanitize(username, 128));
				return;
			}
			pu->password = p_strdup_printf(pool,
				"{DIGEST-MD5}%s", hash);
		} else {
			pu->password = p_strdup_printf(pool,
				"{CRYPT}%s", hash);
		}
	} else {
		pu->password = pass == NULL ? NULL : p_strdup(pool, pass);
	}

	if (count > 2)
		pu->uid = p_strdup_empty(pool, args[2]);
	if (count > 3)
		pu->gid = p_strdup_empty(pool, args[3]);
	/* args[4]: gecos, args[6]: shell - unused, as in Dovecot */
	if (count > 5)
		pu->home = p_strdup_empty(pool, args[5]);
	if (count > 7) {
		const char *extra = NULL;

		/* Extra fields may contain ':' (mail=maildir:~/Maildir),
		   which the split above cut: join them back. */
		if (args[7][0] != '\0')
			extra = t_strarray_join(args + 7, ":");
		else if (count > 8 && args[8][0] != '\0') {
			/* the old format: an empty field, then the mail
			   location */
			extra = t_strdup_printf("userdb_mail=%s",
						t_strarray_join(args + 8, ":"));
		}
		if (extra != NULL)
			pu->extra_fields = passwd_file_split_extra(pool, extra);
	}
	hash_table_insert(users, (void *)pu->user, pu);
}

static int passwd_file_read_all(int fd, const struct stat *st, char **data_r,
				size_t *size_r)
{
	size_t alloc = (size_t)st->st_size + 1, used = 0;
	char *data = i_malloc(alloc + 1);

	for (;;) {
		if (used == alloc) {
			/* the file grew while we read it */
			data = i_realloc(data, alloc + 1, alloc * 2 + 1);
			alloc *= 2;
		}
		ssize_t ret = read(fd, data + used, alloc - used);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0) {
			free(data);
			return -1;
		}
		if (ret == 0)
			break;
		used += (size_t)ret;
	}
	data[used] = '\0';
	*data_r = data;
	*size_r = used;
	return 0;
}

/* Returns 1 if loaded, 0 if the file does not exist, -1 on error. */
static int passwd_file_load(struct passwd_file *file, const char **error_r)
{
	struct stat st;
	char *data;
	size_t size;

	int fd = open(file->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = t_strdup_printf("passwd-file %s: open() failed: %m",
					   file->path);
		return -1;
	}
	if (fstat(fd, &st) < 0 || passwd_file_read_all(fd, &st, &data,
							&size) < 0) {
		*error_r = t_strdup_printf("passwd-file %s: read failed: %m",
					   file->path);
		(void)close(fd);
		return -1;
	}
	(void)close(fd);

	pool_t pool = pool_alloconly_create("passwd-file", 1024 + size * 2);
	struct hash_table *users = hash_table_create_str(system_pool, 64);
	unsigned int linenum = 0;
	char *line = data;
	while (line != NULL && *line != '\0') {
		char *next = strchr(line, '\n');

		if (next != NULL)
			*next++ = '\0';
		linenum++;
		size_t len = strlen(line);
		if (len > 0 && line[len - 1] == '\r')
			line[len - 1] = '\0';
		/* no user name, or a comment: as Dovecot, only at the very
		   start of the line */
		if (line[0] == '\0' || line[0] == ':' || line[0] == '#') {
			line = next;
			continue;
		}
		T_BEGIN {
			passwd_file_add(file, pool, users, line, linenum);
		} T_END;
		line = next;
	}
	/* the file may hold password hashes or plaintexts */
	safe_memset(data, 0, size);
	free(data);

	passwd_file_unload(file);
	file->pool = pool;
	file->users = users;
	file->dev = st.st_dev;
	file->ino = st.st_ino;
	file->size = st.st_size;
	file->mtime = st.st_mtim;
	return 1;
}

/* Reload if the file changed. Returns 1 if the file is there and loaded,
   0 if it does not exist, -1 on error (the old content is dropped then:
   answering from a file we can no longer read would hide the problem). */
static int passwd_file_sync(struct passwd_file *file, const char **error_r)
{
	struct stat st;

	if (stat(file->path, &st) < 0) {
		passwd_file_unload(file);
		if (errno == ENOENT)
			return 0;
		*error_r = t_strdup_printf("passwd-file %s: stat() failed: %m",
					   file->path);
		return -1;
	}
	if (file->pool != NULL && st.st_dev == file->dev &&
	    st.st_ino == file->ino && st.st_size == file->size &&
	    st.st_mtim.tv_sec == file->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == file->mtime.tv_nsec)
		return 1;
	int ret = passwd_file_load(file, error_r);
	if (ret <= 0)
		passwd_file_unload(file);
	return ret;
}

static struct passwd_file *passwd_file_new(struct db_passwd_file *db,
					   const char *path)
{
	struct passwd_file *file = i_new(struct passwd_file, 1);

	file->db = db;
	file->path = i_strdup(path);
	return file;
}

static void passwd_file_free(struct passwd_file **_file)
{
	struct passwd_file *file = *_file;

	*_file = NULL;
	passwd_file_unload(file);
	i_free(file->path);
	free(file);
}

int db_passwd_file_get(const char *path, struct db_passwd_file **db_r,
		       const char **error_r)
{
	struct db_passwd_file *db;

	for (db = db_passwd_files; db != NULL; db = db->next) {
		if (strcmp(db->path, path) == 0) {
			db->refcount++;
			*db_r = db;
			return 0;
		}
	}

	db = i_new(struct db_passwd_file, 1);
	db->refcount = 1;
	db->path = i_strdup(path);
	db->have_vars = auth_vars_have_variables(path);
	if (db->have_vars)
		db->files = hash_table_create_str(system_pool, 16);
	else {
		const char *expanded, *error;
		const struct auth_vars no_vars = { .user = "" };

		/* "%%" still needs expanding into "%" */
		if (auth_vars_expand(path, &no_vars, &expanded, &error) < 0)
			i_unreached();
		db->file = passwd_file_new(db, expanded);
		int ret = passwd_file_sync(db->file, error_r);
		if (ret <= 0) {
			if (ret == 0) {
				*error_r = t_strdup_printf(
					"passwd-file %s: No such file", path);
			}
			passwd_file_free(&db->file);
			i_free(db->path);
			free(db);
			return -1;
		}
	}
	db->next = db_passwd_files;
	if (db_passwd_files != NULL)
		db_passwd_files->prev = db;
	db_passwd_files = db;
	*db_r = db;
	return 0;
}

void db_passwd_file_unref(struct db_passwd_file **_db)
{
	struct db_passwd_file *db = *_db;

	*_db = NULL;
	if (db == NULL || --db->refcount > 0)
		return;

	if (db->prev != NULL)
		db->prev->next = db->next;
	else
		db_passwd_files = db->next;
	if (db->next != NULL)
		db->next->prev = db->prev;

	if (db->file != NULL)
		passwd_file_free(&db->file);
	if (db->files != NULL) {
		struct hash_iterate iter;
		void *key, *value;

		hash_table_iterate_init(db->files, &iter);
		while (hash_table_iterate(&iter, &key, &value)) {
			struct passwd_file *file = value;
			passwd_file_free(&file);
		}
		hash_table_destroy(&db->files);
	}
	i_free(db->path);
	free(db);
}

int db_passwd_file_lookup(struct db_passwd_file *db,
			  const struct auth_vars *vars, const char *key,
			  const struct passwd_file_user **user_r,
			  const char **error_r)
{
	struct passwd_file *file;
	int ret;

	if (!db->have_vars) {
		file = db->file;
		ret = passwd_file_sync(file, error_r);
		if (ret == 0) {
			*error_r = t_strdup_printf(
				"passwd-file %s: No such file", file->path);
			return -1;
		}
	} else {
		const char *path;

		if (auth_vars_expand_path(db->path, vars, &path, error_r) < 0)
			return -1;
		file = hash_table_lookup(db->files, path);
		if (file == NULL) {
			file = passwd_file_new(db, path);
			hash_table_insert(db->files, file->path, file);
		}
		ret = passwd_file_sync(file, error_r);
		if (ret == 0) {
			/* Forget files that do not exist, or a client trying
			   made-up domains would grow this table forever. */
			(void)hash_table_remove(db->files, file->path);
			passwd_file_free(&file);
			return 0;
		}
	}
	if (ret < 0)
		return -1;
	*user_r = hash_table_lookup(file->users, key);
	return *user_r == NULL ? 0 : 1;
}
