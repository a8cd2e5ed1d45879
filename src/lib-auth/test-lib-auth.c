/* Unit tests for src/lib-auth. Each test-*.c here defines its tests and a
   test_*_tests registration; this file runs them all and holds the helpers
   they share. */
#include "test-lib-auth.h"

#include <fcntl.h>

const char *test_auth_write_file(const char *name, const char *content)
{
	const char *path = t_strdup_printf("%s/%s", test_dir(), name);
	const char *tmp = t_strdup_printf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		i_fatal("open(%s) failed: %m", tmp);
	if (write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		i_fatal("write(%s) failed: %m", tmp);
	if (close(fd) < 0)
		i_fatal("close(%s) failed: %m", tmp);
	/* a rename gives a new inode, as an admin's editor would */
	if (rename(tmp, path) < 0)
		i_fatal("rename(%s) failed: %m", path);
	return path;
}

int main(void)
{
	static test_func_t *const *const groups[] = {
#define TEST_GROUP(name) name,
#include "test-lib-auth.def"
#undef TEST_GROUP
	};
	ARRAY(test_func_t *) all;
	array_init(&all, system_pool, 64);
	for (unsigned int g = 0; g < N_ELEMENTS(groups); g++) {
		for (unsigned int i = 0; groups[g][i] != NULL; i++)
			array_push(&all, groups[g][i]);
	}
	array_push(&all, NULL);
	int ret = test_run(all.v);
	array_free(&all);
	return ret;
}
