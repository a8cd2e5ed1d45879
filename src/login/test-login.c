/* Unit tests of the login process's own modules: the per-IP connection
   counts (login-ip-limit.c). */
#include "test-common.h"
#include "login-ip-limit.h"

static struct ip_addr test_ip(const char *str)
{
	struct ip_addr ip;
	if (net_addr2ip(str, &ip) < 0)
		i_panic("bad test address %s", str);
	return ip;
}

static void test_ip_limit_bounds(void)
{
	struct login_ip_limit *limit = login_ip_limit_create();
	struct ip_addr a = test_ip("192.0.2.1"), b = test_ip("2001:db8::1");

	test_begin("login ip limit: max per IP, others unaffected");
	for (unsigned int i = 0; i < 3; i++)
		test_assert_idx(login_ip_limit_add(limit, &a, 3), i);
	test_assert(!login_ip_limit_add(limit, &a, 3));
	test_assert(login_ip_limit_count(limit, &a) == 3);
	test_assert(login_ip_limit_add(limit, &b, 3));
	test_assert(login_ip_limit_ip_count(limit) == 2);
	/* one ends: one more fits again */
	login_ip_limit_remove(limit, &a);
	test_assert(login_ip_limit_add(limit, &a, 3));
	test_assert(!login_ip_limit_add(limit, &a, 3));
	/* a lower limit after a reload refuses, a higher one admits */
	test_assert(!login_ip_limit_add(limit, &a, 2));
	test_assert(login_ip_limit_add(limit, &a, 4));
	test_assert(login_ip_limit_count(limit, &a) == 4);
	/* 0: no limit */
	for (unsigned int i = 0; i < 100; i++)
		test_assert_idx(login_ip_limit_add(limit, &b, 0), i);
	test_assert(login_ip_limit_count(limit, &b) == 101);
	login_ip_limit_destroy(&limit);
	test_assert(limit == NULL);
	test_end();
}

static void test_ip_limit_entries_freed(void)
{
	struct login_ip_limit *limit = login_ip_limit_create();
	char buf[64];

	test_begin("login ip limit: entries go when their count is zero");
	for (unsigned int i = 0; i < 1000; i++) {
		snprintf(buf, sizeof(buf), "10.0.%u.%u", i / 256, i % 256);
		struct ip_addr ip = test_ip(buf);
		test_assert_idx(login_ip_limit_add(limit, &ip, 1), i);
		test_assert_idx(!login_ip_limit_add(limit, &ip, 1), i);
	}
	test_assert(login_ip_limit_ip_count(limit) == 1000);
	for (unsigned int i = 0; i < 1000; i++) {
		snprintf(buf, sizeof(buf), "10.0.%u.%u", i / 256, i % 256);
		struct ip_addr ip = test_ip(buf);
		login_ip_limit_remove(limit, &ip);
		test_assert_idx(login_ip_limit_count(limit, &ip) == 0, i);
	}
	test_assert(login_ip_limit_ip_count(limit) == 0);
	/* IPv4 and IPv6 addresses are different keys */
	struct ip_addr v4 = test_ip("127.0.0.1"), v6 = test_ip("::1");
	test_assert(login_ip_limit_add(limit, &v4, 1));
	test_assert(login_ip_limit_add(limit, &v6, 1));
	test_assert(login_ip_limit_ip_count(limit) == 2);
	/* destroy frees what is still counted */
	login_ip_limit_destroy(&limit);
	test_end();
}

int main(void)
{
	static test_func_t *const tests[] = {
		test_ip_limit_bounds,
		test_ip_limit_entries_freed,
		NULL
	};
	return test_run(tests);
}
