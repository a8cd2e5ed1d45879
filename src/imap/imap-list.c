/* LIST/LSUB selection over one snapshot of the mailbox list and the
   subscriptions (see imap-list.h). Every name the user has - mailboxes,
   subscribed names and the parents of subscribed names - becomes one
   node in a strcmp-sorted array, so a name's descendants are one
   contiguous run found by binary search. */
#include "lib.h"
#include "imap-common.h"
#include "imap-list.h"
#include "imap-utf7.h"
#include "imap-utf8.h"

struct list_node {
	const char *name;
	uint32_t id;
	enum mail_special_use special_use;
	bool exists, noselect, subscribed, matched, selected;
};
ARRAY_DEFINE_TYPE(list_node, struct list_node);

static int list_node_cmp(const void *p1, const void *p2)
{
	const struct list_node *n1 = p1, *n2 = p2;

	return strcmp(n1->name, n2->name);
}

static void list_add_parents(ARRAY_TYPE(list_node) *nodes, pool_t pool,
			     const char *name)
{
	const char *p;

	for (p = strchr(name, MAIL_INDEX_HIERARCHY_SEP); p != NULL;
	     p = strchr(p + 1, MAIL_INDEX_HIERARCHY_SEP)) {
		struct list_node *node = array_append_space(nodes);
		node->name = p_strndup(pool, name, (size_t)(p - name));
	}
}

/* Sort and merge the records of the same name into one node. */
static void list_nodes_merge(ARRAY_TYPE(list_node) *nodes)
{
	unsigned int i, out = 0, count = array_count(nodes);
	struct list_node *n = nodes->v;

	if (count == 0)
		return;
	qsort(n, count, sizeof(*n), list_node_cmp);
	for (i = 1; i < count; i++) {
		if (strcmp(n[out].name, n[i].name) == 0) {
			if (n[i].exists) {
				n[out].exists = true;
				n[out].id = n[i].id;
				n[out].noselect = n[i].noselect;
				n[out].special_use = n[i].special_use;
			}
			n[out].subscribed |= n[i].subscribed;
		} else {
			n[++out] = n[i];
		}
	}
	nodes->count = out + 1;
}

/* The index of the first node below nodes[i] (name + "/"), or count. The
   descendants are the nodes from there on that start with the prefix. */
static unsigned int list_children_start(const ARRAY_TYPE(list_node) *nodes,
					unsigned int i, const char **prefix_r)
{
	const char *prefix = t_strdup_printf("%s%c", nodes->v[i].name,
					     MAIL_INDEX_HIERARCHY_SEP);
	unsigned int lo = i + 1, hi = array_count(nodes);

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		if (strcmp(nodes->v[mid].name, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*prefix_r = prefix;
	return lo;
}

static bool list_node_satisfies(const struct list_node *node,
				enum imap_list_select select)
{
	if ((select & IMAP_LIST_SELECT_SUBSCRIBED) != 0 ? !node->subscribed :
	    !node->exists)
		return false;
	if ((select & IMAP_LIST_SELECT_SPECIAL_USE) != 0 &&
	    (!node->exists || node->special_use == 0))
		return false;
	return true;
}

static bool list_match_any(const char *const *patterns, const char *name)
{
	bool ret = false;

	T_BEGIN {
		for (; *patterns != NULL && !ret; patterns++)
			ret = mail_index_mailbox_name_match(*patterns, name);
	} T_END;
	return ret;
}

static int list_entry_cmp(const void *p1, const void *p2)
{
	const struct imap_list_entry *e1 = p1, *e2 = p2;
	bool inbox1 = strcmp(e1->name, "INBOX") == 0;
	bool inbox2 = strcmp(e2->name, "INBOX") == 0;

	if (inbox1 != inbox2)
		return inbox1 ? -1 : 1;
	return strcmp(e1->name, e2->name);
}

static int list_read(struct mail_user *user, bool subscriptions, pool_t pool,
		     ARRAY_TYPE(list_node) *nodes)
{
	struct mail_index *index = mail_user_get_index(user);
	const char *const all[] = { "*", NULL };
	ARRAY_TYPE(mail_index_list_entry) boxes, subs;
	const struct mail_index_list_entry *e;

	array_init(&boxes, pool, 32);
	if (mail_index_mailbox_list(index, all, 0, pool, &boxes) < 0)
		return -1;
	array_foreach(&boxes, e) {
		struct list_node *node = array_append_space(nodes);
		node->name = e->name;
		node->id = e->id;
		node->exists = true;
		node->special_use = e->special_use;
		node->noselect = (e->attrs & MAIL_INDEX_MAILBOX_ATTR_NOSELECT) != 0;
		node->subscribed =
			(e->attrs & MAIL_INDEX_MAILBOX_ATTR_SUBSCRIBED) != 0;
	}
	if (!subscriptions)
		return 0;
	array_init(&subs, pool, 32);
	if (mail_index_mailbox_list(index, all, MAIL_INDEX_LIST_SUBSCRIBED,
				    pool, &subs) < 0)
		return -1;
	array_foreach(&subs, e) {
		struct list_node *node = array_append_space(nodes);
		node->name = e->name;
		node->subscribed = true;
		/* RECURSIVEMATCH and LSUB report the parents of subscribed
		   names even where no such mailbox exists */
		list_add_parents(nodes, pool, e->name);
	}
	return 0;
}

int imap_list_collect(struct mail_user *user, const char *const *patterns,
		      enum imap_list_select select, pool_t pool,
		      ARRAY_TYPE(imap_list_entry) *result)
{
	ARRAY_TYPE(list_node) nodes;
	bool recursive = (select & IMAP_LIST_SELECT_RECURSIVEMATCH) != 0;
	unsigned int i, j, count;

	array_init(&nodes, pool, 64);
	if (list_read(user, (select & IMAP_LIST_SELECT_SUBSCRIBED) != 0,
		      pool, &nodes) < 0)
		return -1;
	list_nodes_merge(&nodes);
	count = array_count(&nodes);
	for (i = 0; i < count; i++) {
		struct list_node *node = &nodes.v[i];
		node->matched = list_match_any(patterns, node->name);
		node->selected = list_node_satisfies(node, select);
	}

	for (i = 0; i < count; i++) {
		const struct list_node *node = &nodes.v[i];
		bool has_children = false, childinfo = false;
		bool unmatched_child = false;

		if (!node->matched)
			continue;
		if (!node->selected && !recursive)
			continue;
		T_BEGIN {
			const char *prefix;
			size_t prefix_len;

			j = list_children_start(&nodes, i, &prefix);
			prefix_len = strlen(prefix);
			for (; j < count &&
			       strncmp(nodes.v[j].name, prefix, prefix_len) == 0;
			     j++) {
				const struct list_node *child = &nodes.v[j];
				if (child->exists)
					has_children = true;
				if (recursive && child->selected) {
					childinfo = true;
					if (!child->matched)
						unmatched_child = true;
				}
				if (has_children &&
				    (!recursive || unmatched_child))
					break;
			}
		} T_END;
		/* RFC 5258 §3.5: a name that does not satisfy the criteria
		   is reported only for a descendant the client would not
		   otherwise see */
		if (!node->selected && !unmatched_child)
			continue;

		struct imap_list_entry *e = array_append_space(result);
		e->name = node->name;
		e->id = node->exists ? node->id : 0;
		e->exists = node->exists;
		e->noselect = node->noselect;
		e->subscribed = node->subscribed;
		e->special_use = node->exists ? node->special_use : 0;
		e->has_children = has_children;
		e->selected = node->selected;
		e->childinfo = childinfo;
	}
	if (array_count(result) > 1) {
		qsort(result->v, array_count(result), sizeof(result->v[0]),
		      list_entry_cmp);
	}
	return 0;
}

const char *imap_list_pattern_to_storage(const char *ref, const char *pattern,
					 bool utf8, const char **error_r)
{
	const char *full;

	/* RFC 3501 §6.3.8: "the reference ... is prepended"; a pattern
	   starting at the root after a reference ending in the separator
	   must not get the separator twice */
	if (ref[0] != '\0' && pattern[0] == MAIL_INDEX_HIERARCHY_SEP &&
	    ref[strlen(ref) - 1] == MAIL_INDEX_HIERARCHY_SEP)
		pattern++;
	full = t_strdup_printf("%s%s", ref, pattern);
	if (utf8) {
		if (!imap_utf8_is_valid(full, strlen(full))) {
			*error_r = "Mailbox pattern is not valid UTF-8.";
			return NULL;
		}
		/* storage names are NFC (client_mailbox_name_to_storage());
		   the wildcards are ASCII and compose with nothing */
		return imap_utf8_nfc(full);
	}
	string_t *dest = t_str_new(strlen(full) + 16);
	if (imap_utf7_to_utf8(full, dest) < 0) {
		*error_r = "Mailbox pattern is not valid mUTF-7.";
		return NULL;
	}
	return imap_utf8_nfc(str_c(dest));
}

bool imap_list_oldname(struct client *client, string_t *dest,
		       const char *attrs, const char *sent_name,
		       const char *storage_name)
{
	bool utf8 = client_mailbox_names_utf8(client);
	const char *name;

	if ((client->enabled & CLIENT_ENABLED_IMAP4REV2) == 0)
		return false;
	name = client_mailbox_name_to_imap(client, storage_name);
	/* normalization changes only non-ASCII bytes, which strcasecmp()
	   does not fold: this ignores only INBOX's case */
	if (strcasecmp(name, sent_name) == 0)
		return false;
	str_printfa(dest, "(%s) \"%c\" ", attrs, MAIL_INDEX_HIERARCHY_SEP);
	imap_write_astring(dest, name, utf8);
	str_append(dest, " (\"OLDNAME\" (");
	imap_write_astring(dest, sent_name, utf8);
	str_append(dest, "))");
	return true;
}

void imap_list_send_oldname(struct client *client, const char *attrs,
			    const char *sent_name, const char *storage_name)
{
	string_t *str = t_str_new(128);

	str_append(str, "* LIST ");
	if (imap_list_oldname(client, str, attrs, sent_name, storage_name))
		client_send_line(client, str_c(str));
}

const char *imap_index_error_line(struct client *client)
{
	const char *text, *code;
	enum mail_error error = mail_index_get_last_error(
		mail_user_get_index(client->user), &text, NULL);

	if (error == MAIL_ERROR_NONE)
		error = MAIL_ERROR_TEMP;
	if (text == NULL || text[0] == '\0')
		text = MAIL_ERRSTR_INTERNAL;
	code = mail_error_imap_code(error);
	return code == NULL ? t_strdup_printf("NO %s", text) :
		t_strdup_printf("NO [%s] %s", code, text);
}
