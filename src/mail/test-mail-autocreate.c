/* Unit tests for mail_user_autocreate(): the built-in special-use
   mailboxes, what a second login does (nothing), a user's DELETE and
   UNSUBSCRIBE afterwards, special use given to an existing mailbox,
   admin overrides, and the configuration checks of namespace/mailbox
   sections. */
#include "test-common.h"
#include "config.h"
#include "columba-settings.h"
#include "mail-storage.h"
#include "mail-user-setup.h"
#include "mail-autocreate.h"

static struct config *test_config(const char *extra, const char **error_r)
{
	const char *text = t_strdup_printf("state_dir = %s/state\n%s",
					   test_dir(), extra);
	*error_r = NULL;
	return config_parse_string(text, "test", NULL, error_r);
}

/* "name:special-use:S" for each mailbox (S if subscribed), sorted. */
static const char *test_list(struct mail_user *user)
{
	ARRAY_TYPE(mail_index_list_entry) boxes;
	const struct mail_index_list_entry *e;
	const char *const all[] = { "*", NULL };
	string_t *str = t_str_new(256);

	array_init(&boxes, pool_datastack, 16);
	test_assert(mail_index_mailbox_list(mail_user_get_index(user), all, 0,
					    pool_datastack, &boxes) == 0);
	array_foreach(&boxes, e) {
		str_printfa(str, "%s:%s:%s ", e->name,
			    mail_special_use_to_str(e->special_use),
			    (e->attrs & MAIL_INDEX_MAILBOX_ATTR_SUBSCRIBED) != 0 ?
			    "S" : "");
	}
	return str_c(str);
}

static void test_autocreate_defaults(void)
{
	test_begin("autocreate: built-in special-use mailboxes");
	const char *error;
	struct config *cfg = test_config("", &error);
	const struct columba_settings *set = config_get_root(cfg);
	struct mail_user *user;

	test_assert(mail_user_setup(set, "alice", NULL, NULL, &user,
				    &error) == 0);
	test_assert_strcmp(test_list(user),
		"INBOX:: Archive:\\Archive:S Drafts:\\Drafts:S "
		"Junk:\\Junk:S Sent:\\Sent:S Trash:\\Trash:S ");
	/* a second login finds them all: nothing to do */
	test_assert(mail_user_autocreate(set, user) == 0);

	/* the user's choices: Junk deleted comes back (it is configured),
	   an unsubscribed Trash stays unsubscribed */
	test_assert(mail_user_mailbox_delete(user, "Junk") == 0);
	test_assert(mail_user_mailbox_subscribe(user, "Trash", false) == 0);
	test_assert(mail_user_autocreate(set, user) == 1);
	test_assert_strcmp(test_list(user),
		"INBOX:: Archive:\\Archive:S Drafts:\\Drafts:S "
		"Junk:\\Junk:S Sent:\\Sent:S Trash:\\Trash: ");
	mail_user_deinit(&user);
	config_free(&cfg);
	test_end();
}

static void test_autocreate_overrides(void)
{
	test_begin("autocreate: admin overrides and existing mailboxes");
	const char *error;
	struct config *cfg = test_config(
		"namespace inbox {\n"
		"  mailbox Sent {\n    auto = no\n  }\n"
		"  mailbox Junk {\n    auto = create\n  }\n"
		"  mailbox Archive {\n    auto = no\n  }\n"
		"  mailbox Drafts {\n    auto = no\n  }\n"
		"  mailbox Trash {\n    auto = no\n  }\n"
		"  mailbox Lists/Announce {\n    auto = subscribe\n  }\n"
		"}\n", &error);
	test_assert(cfg != NULL);
	const struct columba_settings *set = config_get_root(cfg);
	struct mail_user *user;

	test_assert(mail_user_setup(set, "bob", NULL, NULL, &user,
				    &error) == 0);
	/* create: not subscribed; parents come along */
	test_assert_strcmp(test_list(user),
		"INBOX:: Junk:\\Junk: Lists:: Lists/Announce::S ");
	/* a user's own Sent gets \Sent once the admin configures it */
	test_assert(mail_user_mailbox_create(user, "Sent", 0) == 0);
	config_free(&cfg);
	cfg = test_config("", &error);
	set = config_get_root(cfg);
	test_assert(mail_user_autocreate(set, user) == 3);
	test_assert_strcmp(test_list(user),
		"INBOX:: Archive:\\Archive:S Drafts:\\Drafts:S "
		"Junk:\\Junk: Lists:: Lists/Announce::S Sent:\\Sent: "
		"Trash:\\Trash:S ");
	mail_user_deinit(&user);
	config_free(&cfg);
	test_end();
}

static void test_autocreate_config_errors(void)
{
	static const struct {
		const char *text, *error;
	} tests[] = {
		{ "namespace inbox {\n  mailbox X {\n    special_use = \\Bogus\n  }\n}\n",
		  "Invalid value for special_use: \\Bogus" },
		{ "namespace inbox {\n  mailbox X {\n    auto = always\n  }\n}\n",
		  "auto" },
		{ "namespace inbox {\n  separator = .\n}\n",
		  "Invalid value for separator: ." },
		{ "namespace inbox {\n  prefix = INBOX/\n}\n",
		  "only the empty prefix" },
		{ "namespace inbox {\n  inbox = no\n}\n",
		  "Invalid value for inbox" },
		{ "namespace other {\n  inbox = yes\n}\n",
		  "Only one namespace" },
		{ "namespace inbox {\n  mailbox a%b {\n  }\n}\n",
		  "Invalid mailbox name: a%b" },
		{ "namespace inbox {\n  mailbox a//b {\n  }\n}\n",
		  "Invalid mailbox name" },
	};

	test_begin("autocreate: namespace and mailbox setting errors");
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		const char *error;
		struct config *cfg = test_config(tests[i].text, &error);
		test_assert_idx(cfg == NULL, i);
		if (cfg != NULL)
			config_free(&cfg);
		else {
			test_assert_idx(error != NULL &&
					strstr(error, tests[i].error) != NULL, i);
		}
	}
	test_end();
}

int main(void)
{
	static test_func_t *const tests[] = {
		test_autocreate_defaults,
		test_autocreate_overrides,
		test_autocreate_config_errors,
		NULL
	};
	return test_run(tests);
}
