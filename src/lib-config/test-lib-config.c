/* Unit tests for src/lib-config. Each test-*.c here defines its tests and a
   test_*_tests registration; this file runs them all and holds the helpers
   they share. */
#include "test-lib-config.h"

#include <sys/stat.h>

const char *test_config_write(const char *rel_path, const char *content)
{
	const char *path = t_strdup_printf("%s/%s", test_dir(), rel_path);

	/* create the parent directories */
	char *dir = t_strdup(path);
	for (char *p = dir + 1; *p != '\0'; p++) {
		if (*p == '/') {
			*p = '\0';
			(void)mkdir(dir, 0700);
			*p = '/';
		}
	}
	FILE *f = fopen(path, "w");
	if (f == NULL)
		i_fatal("fopen(%s) failed: %m", path);
	fputs(content, f);
	if (fclose(f) != 0)
		i_fatal("fclose(%s) failed: %m", path);
	return path;
}

struct config *test_config_parse(const char *text, const char **error_r)
{
	return config_parse_string(text, "t.conf", NULL, error_r);
}

const char *test_config_error(const char *text)
{
	const char *error;
	struct config *cfg = test_config_parse(text, &error);

	if (cfg == NULL)
		return error;
	config_free(&cfg);
	return "(no error)";
}

int main(void)
{
	static test_func_t *const *const groups[] = {
#define TEST_GROUP(name) name,
#include "test-lib-config.def"
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
