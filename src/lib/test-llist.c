/* Unit tests for llist.h: appends and removals at the head, the tail
   and in between keep both directions and both ends right. */
#include "test-lib.h"
#include "str.h"
#include "llist.h"

struct test_node {
	struct test_node *prev, *next;
	int value;
};

/* the values from head to tail, checked against the tail-to-head walk */
static const char *test_list_str(struct test_node *head,
				 struct test_node *tail)
{
	string_t *str = t_str_new(32);
	struct test_node *n, *last = NULL;

	for (n = head; n != NULL; n = n->next) {
		test_assert(n->prev == last);
		str_printfa(str, "%d", n->value);
		last = n;
	}
	test_assert(last == tail);
	return str_c(str);
}

static void test_dllist2(void)
{
	struct test_node nodes[4] = {
		{ .value = 1 }, { .value = 2 }, { .value = 3 }, { .value = 4 },
	};
	struct test_node *head = NULL, *tail = NULL;

	test_begin("dllist2 append and remove");
	for (unsigned int i = 0; i < 4; i++)
		DLLIST2_APPEND(&head, &tail, &nodes[i]);
	test_assert_strcmp(test_list_str(head, tail), "1234");
	/* in between, then to the tail again (an LRU's touch) */
	DLLIST2_REMOVE(&head, &tail, &nodes[1]);
	test_assert(nodes[1].prev == NULL && nodes[1].next == NULL);
	test_assert_strcmp(test_list_str(head, tail), "134");
	DLLIST2_APPEND(&head, &tail, &nodes[1]);
	test_assert_strcmp(test_list_str(head, tail), "1342");
	/* the head, the tail, the rest */
	DLLIST2_REMOVE(&head, &tail, &nodes[0]);
	test_assert_strcmp(test_list_str(head, tail), "342");
	DLLIST2_REMOVE(&head, &tail, &nodes[1]);
	test_assert_strcmp(test_list_str(head, tail), "34");
	DLLIST2_REMOVE(&head, &tail, &nodes[2]);
	DLLIST2_REMOVE(&head, &tail, &nodes[3]);
	test_assert(head == NULL && tail == NULL);
	DLLIST2_APPEND(&head, &tail, &nodes[3]);
	test_assert(head == &nodes[3] && tail == &nodes[3]);
	test_end();
}

test_func_t *const test_llist_tests[] = {
	test_dllist2,
	NULL
};
