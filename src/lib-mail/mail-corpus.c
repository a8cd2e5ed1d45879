/* Corpus reader: directory walk, and a minimal ustar reader over a pipe
   from "zstd -dc" so the compressed corpus in shared/ is used as it is. */
#include "mail-corpus.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* larger members are not test messages */
#define MAIL_CORPUS_MAX_MESSAGE (256 * 1024 * 1024)

struct corpus_ctx {
	mail_corpus_callback_t *callback;
	void *context;
	int count;
	const char *error;
};

static bool read_full(int fd, void *buf, size_t size)
{
	size_t pos = 0;

	while (pos < size) {
		ssize_t ret = read(fd, (char *)buf + pos, size - pos);

		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			return false;
		pos += ret;
	}
	return true;
}

static uint64_t tar_octal(const unsigned char *p, size_t len)
{
	uint64_t v = 0;

	for (size_t i = 0; i < len && p[i] != '\0' && p[i] != ' '; i++) {
		if (p[i] < '0' || p[i] > '7')
			break;
		v = v * 8 + (p[i] - '0');
	}
	return v;
}

static bool block_is_zero(const unsigned char *block)
{
	for (unsigned int i = 0; i < 512; i++) {
		if (block[i] != 0)
			return false;
	}
	return true;
}

static void corpus_read_tar(struct corpus_ctx *ctx, int fd, const char *path)
{
	unsigned char block[512];
	unsigned char *data = NULL;
	size_t data_alloc = 0;

	while (read_full(fd, block, sizeof(block))) {
		if (block_is_zero(block))
			break;
		uint64_t size = tar_octal(block + 124, 12);
		uint64_t padded = (size + 511) & ~(uint64_t)511;
		char type = block[156];

		if (size > MAIL_CORPUS_MAX_MESSAGE) {
			ctx->error = t_strdup_printf("%s: member too large",
						     path);
			break;
		}
		if (padded > data_alloc) {
			data = i_realloc(data, data_alloc, padded);
			data_alloc = padded;
		}
		if (!read_full(fd, data, padded)) {
			ctx->error = t_strdup_printf("%s: truncated archive",
						     path);
			break;
		}
		if (type != '0' && type != '\0')
			continue;
		char name[155 + 1 + 100 + 1];
		/* ustar: prefix "/" name */
		if (block[345] != '\0') {
			snprintf(name, sizeof(name), "%.155s/%.100s",
				 (const char *)block + 345,
				 (const char *)block);
		} else {
			snprintf(name, sizeof(name), "%.100s",
				 (const char *)block);
		}
		ctx->callback(name, data, size, ctx->context);
		ctx->count++;
	}
	free(data);
	/* read the archive's padding too: a writer on the other end of a
	   pipe must not die of SIGPIPE */
	while (read_full(fd, block, sizeof(block))) ;
}

static void corpus_read_zst(struct corpus_ctx *ctx, const char *path)
{
	int fds[2], status;
	pid_t pid;

	if (pipe(fds) < 0) {
		ctx->error = t_strdup_printf("pipe() failed: %m");
		return;
	}
	pid = fork();
	if (pid < 0) {
		ctx->error = t_strdup_printf("fork() failed: %m");
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execlp("zstd", "zstd", "-dcq", "--", path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	corpus_read_tar(ctx, fds[0], path);
	close(fds[0]);
	if (waitpid(pid, &status, 0) < 0)
		ctx->error = t_strdup_printf("waitpid() failed: %m");
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		ctx->error = "the zstd program is not installed";
	else if (ctx->error == NULL &&
		 (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		ctx->error = t_strdup_printf("zstd -dc %s failed", path);
}

static void corpus_read_file(struct corpus_ctx *ctx, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		ctx->error = t_strdup_printf("open(%s) failed: %m", path);
		if (fd >= 0)
			close(fd);
		return;
	}
	if (str_ends_with(path, ".tar")) {
		corpus_read_tar(ctx, fd, path);
	} else if ((uint64_t)st.st_size <= MAIL_CORPUS_MAX_MESSAGE) {
		unsigned char *data = i_malloc(st.st_size + 1);

		if (read_full(fd, data, st.st_size)) {
			ctx->callback(path, data, st.st_size, ctx->context);
			ctx->count++;
		} else {
			ctx->error = t_strdup_printf("read(%s) failed", path);
		}
		free(data);
	}
	close(fd);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void corpus_walk(struct corpus_ctx *ctx, const char *path)
{
	struct stat st;

	if (ctx->error != NULL)
		return;
	if (stat(path, &st) < 0) {
		ctx->error = t_strdup_printf("stat(%s) failed: %m", path);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (str_ends_with(path, ".tar.zst") ||
		    str_ends_with(path, ".tzst"))
			corpus_read_zst(ctx, path);
		else if (S_ISREG(st.st_mode))
			corpus_read_file(ctx, path);
		return;
	}

	DIR *dir = opendir(path);
	struct dirent *d;
	ARRAY(char *) names;

	if (dir == NULL) {
		ctx->error = t_strdup_printf("opendir(%s) failed: %m", path);
		return;
	}
	array_init(&names, system_pool, 64);
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] != '.')
			array_push(&names, i_strdup_printf("%s/%s", path,
							   d->d_name));
	}
	closedir(dir);
	/* a stable order makes failures reproducible */
	if (names.count > 0)
		qsort(names.v, names.count, sizeof(char *), name_cmp);
	for (unsigned int i = 0; i < names.count; i++) {
		corpus_walk(ctx, names.v[i]);
		free(names.v[i]);
	}
	array_free(&names);
}

int mail_corpus_foreach(const char *path, mail_corpus_callback_t *callback,
			void *context, const char **error_r)
{
	struct corpus_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.callback = callback;
	ctx.context = context;
	corpus_walk(&ctx, path);
	if (ctx.error != NULL) {
		*error_r = ctx.error;
		return -1;
	}
	return ctx.count;
}
