/* Unit tests for src/lib-pop3: the runner. */
#include "test-lib-pop3.h"

int main(void)
{
	static test_func_t *const *const groups[] = {
#define TEST_GROUP(name) name,
#include "test-lib-pop3.def"
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
