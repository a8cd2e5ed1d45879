/* Tests for pop3-uidl.c: Dovecot's default and other templates. */
#include "test-lib-pop3.h"
#include "pop3-uidl.h"

static void test_pop3_uidl_expand(void)
{
	const struct pop3_uidl_params params = {
		.uid = 26, .uidvalidity = 1700000000,
		.guid = "f0e1d2c3b4a5968778695a4b3c2d1e0f",
	};
	static const struct {
		const char *format, *result; /* result NULL: an error */
	} cases[] = {
		/* Dovecot 2.3 gives "0000001a6553f100" for these values */
		{ "%08Xu%08Xv", "0000001a6553f100" },
		{ "%u.%v", "26.1700000000" },
		{ "%{uid}-%{uidvalidity}", "26-1700000000" },
		{ "%g", "f0e1d2c3b4a5968778695a4b3c2d1e0f" },
		{ "%U{guid}", "F0E1D2C3B4A5968778695A4B3C2D1E0F" },
		{ "%4g", "f0e1" },
		{ "%04u", "0026" },
		{ "%01u", "26" },
		{ "x%%%u", "x%26" },
		{ "%m", NULL },
		{ "%{md5}", NULL },
		{ "%{uid", NULL },
		{ "%", NULL },
		{ "", NULL },
		{ "a b%u", NULL },
		{ "%099u", NULL },
	};

	test_begin("pop3 uidl expand");
	for (unsigned int i = 0; i < N_ELEMENTS(cases); i++) {
		const char *uidl = NULL, *error = NULL;
		int ret = pop3_uidl_expand(cases[i].format, &params, &uidl,
					   &error);
		if (cases[i].result == NULL) {
			test_assert_idx(ret < 0 && error != NULL, i);
		} else {
			test_assert_idx(ret == 0 &&
					strcmp(uidl, cases[i].result) == 0, i);
		}
	}
	test_end();
}

test_func_t *const test_pop3_uidl_tests[] = {
	test_pop3_uidl_expand,
	NULL
};
