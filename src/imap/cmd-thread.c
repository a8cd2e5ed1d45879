/* THREAD and UID THREAD (RFC 5256): ORDEREDSUBJECT and REFERENCES, run on
   the matches of the search (imap-search.c) with the index's cached
   Subject, Message-ID, In-Reply-To and References fields and sent dates.
   The REFERENCES steps follow the RFC's numbering; ties in every date
   sort are broken by the sequence number. */
#include "lib.h"
#include "str.h"
#include "hash.h"
#include "event.h"
#include "imap-common.h"
#include "imap-casemap.h"
#include "imap-msg-util.h"
#include "imap-search.h"

#include <stdlib.h>
#include <strings.h>

/* THREAD output nests this deep at most (a reply chain longer than this
   is flattened into siblings of its deepest shown node) - bounds the
   recursion on hostile References */
#define THREAD_MAX_OUTPUT_DEPTH 1000

enum thread_alg {
	THREAD_ORDEREDSUBJECT,
	THREAD_REFERENCES,
};

struct thread_node {
	struct thread_node *parent, *children, *next;
	/* 0 for a dummy (a referenced message not in the result) */
	uint32_t seq;
	time_t date;
	const char *subject;
	bool is_reply, listed;
};

struct thread_cmd_context {
	struct imap_search *search;
	enum thread_alg alg;
	pool_t pool;
	struct hash_table *ids;
};

/* --- message ids --- */

/* The next "<...>" msg-id in *p (as Dovecot: the text between the
   brackets, without comments or whitespace); NULL when none is left. */
static const char *next_msgid(pool_t pool, const char **p)
{
	const char *s = *p, *start, *end;

	for (;;) {
		while (*s != '\0' && *s != '<')
			s++;
		if (*s == '\0') {
			*p = s;
			return NULL;
		}
		start = s + 1;
		end = start;
		while (*end != '\0' && *end != '>' && *end != '<' &&
		       *end != ' ' && *end != '\t' && *end != '\n')
			end++;
		if (*end == '>' && end > start) {
			*p = end + 1;
			return p_strndup(pool, start, (size_t)(end - start));
		}
		s = end;
		if (*s == '>')
			s++;
	}
}

/* --- node trees --- */

static bool node_is_ancestor(const struct thread_node *anc,
			     const struct thread_node *node)
{
	for (; node != NULL; node = node->parent) {
		if (node == anc)
			return true;
	}
	return false;
}

static void node_unlink(struct thread_node *node)
{
	struct thread_node **p;

	if (node->parent == NULL)
		return;
	for (p = &node->parent->children; *p != node; p = &(*p)->next)
		i_assert(*p != NULL);
	*p = node->next;
	node->next = NULL;
	node->parent = NULL;
}

static void node_add_child(struct thread_node *parent,
			   struct thread_node *child)
{
	struct thread_node **p;

	i_assert(child->parent == NULL);
	child->parent = parent;
	/* append: the order of arrival is kept until the sorts */
	for (p = &parent->children; *p != NULL; p = &(*p)->next) ;
	*p = child;
	child->next = NULL;
}

static struct thread_node *id_node(struct thread_cmd_context *ctx,
				   const char *id)
{
	struct thread_node *node = hash_table_lookup(ctx->ids, id);

	if (node == NULL) {
		node = p_new(ctx->pool, struct thread_node, 1);
		hash_table_insert(ctx->ids, p_strdup(ctx->pool, id), node);
	}
	return node;
}

/* --- sorting siblings by date --- */

static time_t node_sort_date(const struct thread_node *node, uint32_t *seq_r)
{
	/* a dummy sorts by its first child (children are sorted first) */
	while (node->seq == 0 && node->children != NULL)
		node = node->children;
	*seq_r = node->seq;
	return node->date;
}

static int node_date_cmp(const void *p1, const void *p2)
{
	const struct thread_node *n1 = *(struct thread_node *const *)p1;
	const struct thread_node *n2 = *(struct thread_node *const *)p2;
	uint32_t s1, s2;
	time_t d1 = node_sort_date(n1, &s1), d2 = node_sort_date(n2, &s2);

	if (d1 != d2)
		return d1 < d2 ? -1 : 1;
	return s1 < s2 ? -1 : s1 > s2 ? 1 : 0;
}

/* Sort a sibling list (and, recursively, every list below it). */
static struct thread_node *sort_siblings(struct thread_node *first,
					 unsigned int depth)
{
	ARRAY(struct thread_node *) nodes;
	struct thread_node *n;

	array_init(&nodes, pool_datastack, 8);
	for (n = first; n != NULL; n = n->next) {
		if (depth < THREAD_MAX_OUTPUT_DEPTH)
			n->children = sort_siblings(n->children, depth + 1);
		array_push(&nodes, n);
	}
	if (array_count(&nodes) == 0)
		return NULL;
	qsort(nodes.v, array_count(&nodes), sizeof(nodes.v[0]), node_date_cmp);
	for (unsigned int i = 0; i + 1 < array_count(&nodes); i++)
		nodes.v[i]->next = nodes.v[i + 1];
	nodes.v[array_count(&nodes) - 1]->next = NULL;
	return nodes.v[0];
}

/* --- output --- */

static void thread_write(string_t *str, const struct thread_node *node,
			 bool uid, struct mailbox *box, unsigned int depth);

static void thread_write_children(string_t *str,
				  const struct thread_node *first, bool uid,
				  struct mailbox *box, unsigned int depth)
{
	if (first == NULL)
		return;
	if (first->next == NULL) {
		/* a single child continues the thread-members list */
		str_append_c(str, ' ');
		thread_write(str, first, uid, box, depth + 1);
		return;
	}
	/* several children: each a nested list */
	str_append_c(str, ' ');
	for (const struct thread_node *n = first; n != NULL; n = n->next) {
		str_append_c(str, '(');
		thread_write(str, n, uid, box, depth + 1);
		str_append_c(str, ')');
	}
}

/* node's members without the enclosing parentheses */
static void thread_write(string_t *str, const struct thread_node *node,
			 bool uid, struct mailbox *box, unsigned int depth)
{
	if (node->seq != 0) {
		str_printfa(str, "%u", uid ? mailbox_seq_to_uid(box, node->seq) :
			    node->seq);
		if (depth < THREAD_MAX_OUTPUT_DEPTH)
			thread_write_children(str, node->children, uid, box, depth);
		return;
	}
	/* a dummy: only its children, as a nested list (RFC 5256's
	   "((3)(5))"); it has at least two after pruning */
	if (node->children != NULL && node->children->next == NULL) {
		thread_write(str, node->children, uid, box, depth);
		return;
	}
	for (const struct thread_node *n = node->children; n != NULL; n = n->next) {
		str_append_c(str, '(');
		thread_write(str, n, uid, box, depth + 1);
		str_append_c(str, ')');
	}
}

/* --- ORDEREDSUBJECT --- */

static int node_subject_cmp(const void *p1, const void *p2)
{
	const struct thread_node *n1 = *(struct thread_node *const *)p1;
	const struct thread_node *n2 = *(struct thread_node *const *)p2;
	int ret = strcmp(n1->subject, n2->subject);

	if (ret != 0)
		return ret;
	if (n1->date != n2->date)
		return n1->date < n2->date ? -1 : 1;
	return n1->seq < n2->seq ? -1 : n1->seq > n2->seq ? 1 : 0;
}

static struct thread_node *
thread_orderedsubject(struct thread_node **msgs, unsigned int count)
{
	struct thread_node root;

	memset(&root, 0, sizeof(root));
	qsort(msgs, count, sizeof(*msgs), node_subject_cmp);
	/* the first of each subject is the thread's root; the others are
	   its children */
	for (unsigned int i = 0; i < count; ) {
		unsigned int j = i + 1;
		node_add_child(&root, msgs[i]);
		for (; j < count && strcmp(msgs[j]->subject, msgs[i]->subject) == 0; j++)
			node_add_child(msgs[i], msgs[j]);
		i = j;
	}
	/* threads by their first message's date; children are already in
	   date order */
	ARRAY(struct thread_node *) roots;
	array_init(&roots, pool_datastack, 16);
	for (struct thread_node *n = root.children; n != NULL; n = n->next)
		array_push(&roots, n);
	if (array_count(&roots) == 0)
		return NULL;
	qsort(roots.v, array_count(&roots), sizeof(roots.v[0]), node_date_cmp);
	for (unsigned int i = 0; i < array_count(&roots); i++) {
		roots.v[i]->parent = NULL;
		roots.v[i]->next = i + 1 < array_count(&roots) ?
			roots.v[i + 1] : NULL;
	}
	return roots.v[0];
}

/* --- REFERENCES --- */

/* (3) prune dummies in a sibling list; returns the new list */
static struct thread_node *prune_dummies(struct thread_node *first,
					 bool root_level)
{
	struct thread_node *result = NULL, **tail = &result, *n, *next;

	for (n = first; n != NULL; n = next) {
		next = n->next;
		n->next = NULL;
		n->children = prune_dummies(n->children, false);
		if (n->seq == 0) {
			if (n->children == NULL) {
				/* (A) a dummy without children goes */
				continue;
			}
			if (!root_level || n->children->next == NULL) {
				/* (B) its children take its place */
				struct thread_node *c = n->children;
				for (; c != NULL; c = c->next) {
					c->parent = n->parent;
					*tail = c;
					tail = &c->next;
				}
				continue;
			}
		}
		*tail = n;
		tail = &n->next;
	}
	return result;
}

static const struct thread_node *node_subject_node(const struct thread_node *n)
{
	/* a dummy's subject is its first child's */
	return n->seq != 0 || n->children == NULL ? n : n->children;
}

/* Replace the real message t (in its place in the root list) by a dummy
   holding a copy of t and the children given. */
static void thread_make_dummy(struct thread_cmd_context *ctx,
			      struct thread_node *t)
{
	struct thread_node *copy = p_new(ctx->pool, struct thread_node, 1);

	*copy = *t;
	copy->parent = NULL;
	copy->next = NULL;
	for (struct thread_node *c = copy->children; c != NULL; c = c->next)
		c->parent = copy;
	t->seq = 0;
	t->children = NULL;
	node_add_child(t, copy);
}

static void thread_move_children(struct thread_node *dest,
				 struct thread_node *src)
{
	struct thread_node *c, *next;

	for (c = src->children; c != NULL; c = next) {
		next = c->next;
		c->parent = NULL;
		c->next = NULL;
		node_add_child(dest, c);
	}
	src->children = NULL;
}

static struct thread_node *
thread_references(struct thread_cmd_context *ctx, struct thread_node **msgs,
		  const char *const *msgids, const char *const *refs,
		  unsigned int count)
{
	struct thread_node *roots = NULL, **roots_tail = &roots;

	/* (1) link messages by their references */
	for (unsigned int i = 0; i < count; i++) {
		struct thread_node *node = msgs[i], *c = node, *prev = NULL;

		if (msgids[i] != NULL) {
			struct thread_node *idc = id_node(ctx, msgids[i]);
			/* a duplicate Message-ID keeps the fresh container:
			   a unique id of its own */
			if (idc->seq == 0) {
				idc->seq = node->seq;
				idc->date = node->date;
				idc->subject = node->subject;
				idc->is_reply = node->is_reply;
				c = idc;
			}
		}
		msgs[i] = c;

		const char *p = refs[i], *id;
		while (p != NULL && (id = next_msgid(pool_datastack, &p)) != NULL) {
			struct thread_node *r = id_node(ctx, id);
			/* (1B) link consecutive references unless already
			   linked or a loop would result */
			if (prev != NULL && r->parent == NULL && r != prev &&
			    !node_is_ancestor(r, prev))
				node_add_child(prev, r);
			prev = r;
		}
		/* (1C) the last reference becomes the parent */
		if (prev != NULL && node_is_ancestor(c, prev))
			prev = NULL;
		if (c->parent != prev) {
			node_unlink(c);
			if (prev != NULL)
				node_add_child(prev, c);
		}
	}
	/* (2) the root set, in message order (deterministic) */
	for (unsigned int i = 0; i < count; i++) {
		struct thread_node *n = msgs[i];
		while (n->parent != NULL)
			n = n->parent;
		if (!n->listed) {
			n->listed = true;
			*roots_tail = n;
			roots_tail = &n->next;
		}
	}
	/* (3) prune dummies; (4) sort the root set by date */
	roots = prune_dummies(roots, true);
	for (struct thread_node *n = roots; n != NULL; n = n->next)
		n->parent = NULL;
	roots = sort_siblings(roots, 0);

	/* (5) gather threads by base subject */
	struct hash_table *subjects = hash_table_create_str(pool_datastack, 64);
	for (struct thread_node *n = roots; n != NULL; n = n->next) {
		const struct thread_node *s = node_subject_node(n);
		if (s->subject == NULL || *s->subject == '\0')
			continue;
		struct thread_node *old = hash_table_lookup(subjects, s->subject);
		if (old == NULL ||
		    (n->seq == 0 && old->seq != 0) ||
		    (old->seq != 0 && old->is_reply && n->seq != 0 &&
		     !n->is_reply))
			hash_table_insert(subjects, (void *)s->subject, n);
	}
	struct thread_node *list = roots, *next, **tail;
	roots = NULL;
	tail = &roots;
	for (struct thread_node *n = list; n != NULL; n = next) {
		next = n->next;
		n->next = NULL;
		const struct thread_node *s = node_subject_node(n);
		struct thread_node *t = s->subject == NULL ||
			*s->subject == '\0' ? NULL :
			hash_table_lookup(subjects, s->subject);
		if (t == NULL || t == n) {
			*tail = n;
			tail = &n->next;
			continue;
		}
		/* merge n into t, which keeps its place */
		if (t->seq == 0 && n->seq == 0) {
			thread_move_children(t, n);
		} else if (t->seq == 0) {
			node_add_child(t, n);
		} else if (n->seq == 0) {
			/* the real t joins the dummy's children */
			thread_make_dummy(ctx, t);
			thread_move_children(t, n);
		} else if (!t->is_reply && n->is_reply) {
			node_add_child(t, n);
		} else {
			thread_make_dummy(ctx, t);
			node_add_child(t, n);
		}
	}
	/* (6) sort every set of siblings by date, the top level too: step
	   (5) made new dummies, which sort by their (earliest) first child
	   (RFC 5256: "which can only occur with top-level siblings") */
	return sort_siblings(roots, 0);
}

static int thread_compute(struct client_command_context *cmd,
			  struct thread_cmd_context *ctx,
			  const ARRAY_TYPE(mail_uid) *seqs)
{
	struct client *client = cmd->client;
	struct mailbox *box = client->mailbox;
	unsigned int count = array_count(seqs);
	ARRAY_TYPE(seq_range) uids;
	ARRAY_TYPE(mail_index_record) recs;
	pool_t pool = cmd->pool;

	ctx->pool = pool;
	array_init(&uids, pool, 16);
	for (unsigned int i = 0; i < count; i++)
		seq_range_array_add(&uids, mailbox_seq_to_uid(box, seqs->v[i]));
	array_init(&recs, pool, count + 1);
	if (count > 0 &&
	    mailbox_fetch_records(box, &uids, MAIL_INDEX_FETCH_DETAILS |
				  MAIL_INDEX_FETCH_CACHE_HEADERS, pool,
				  &recs) < 0)
		return -1;

	struct thread_node **msgs = p_new(pool, struct thread_node *, count + 1);
	const char **msgids = p_new(pool, const char *, count + 1);
	const char **refs = p_new(pool, const char *, count + 1);
	unsigned int n = 0, r = 0;
	for (unsigned int i = 0; i < count; i++) {
		uint32_t seq = seqs->v[i];
		uint32_t uid = mailbox_seq_to_uid(box, seq);
		while (r < array_count(&recs) && recs.v[r].uid < uid)
			r++;
		if (r == array_count(&recs) || recs.v[r].uid != uid)
			continue;
		struct imap_sort_headers hdrs;
		struct thread_node *node = p_new(pool, struct thread_node, 1);

		imap_sort_headers_parse(&recs.v[r], pool, &hdrs);
		node->seq = seq;
		node->date = imap_sort_sent_date(&recs.v[r]);
		T_BEGIN {
			node->subject = p_strdup(pool,
				imap_get_base_subject(hdrs.subject, &node->is_reply));
		} T_END;
		if (hdrs.message_id != NULL) {
			const char *p = hdrs.message_id;
			msgids[n] = next_msgid(pool, &p);
		}
		refs[n] = hdrs.references;
		if (refs[n] != NULL) {
			const char *p = refs[n];
			if (next_msgid(pool_datastack, &p) == NULL)
				refs[n] = NULL;
		}
		if (refs[n] == NULL && hdrs.in_reply_to != NULL) {
			/* the first msg-id of In-Reply-To */
			const char *p = hdrs.in_reply_to;
			const char *id = next_msgid(pool, &p);
			if (id != NULL)
				refs[n] = p_strdup_printf(pool, "<%s>", id);
		}
		msgs[n++] = node;
	}

	struct thread_node *threads;
	ctx->ids = hash_table_create_str(pool, n * 2 + 16);
	if (ctx->alg == THREAD_ORDEREDSUBJECT)
		threads = thread_orderedsubject(msgs, n);
	else
		threads = thread_references(ctx, msgs, msgids, refs, n);
	hash_table_destroy(&ctx->ids);

	string_t *str = t_str_new(256 + n * 8);
	str_append(str, "* THREAD");
	if (threads != NULL)
		str_append_c(str, ' ');
	for (struct thread_node *t = threads; t != NULL; t = t->next) {
		str_append_c(str, '(');
		thread_write(str, t, cmd->uid, box, 0);
		str_append_c(str, ')');
	}
	client_send_line(client, str_c(str));
	return 0;
}

static void thread_cmd_cancel(struct client_command_context *cmd)
{
	struct thread_cmd_context *ctx = cmd->context;

	imap_search_end(&ctx->search);
}

static void thread_cmd_callback(void *context)
{
	client_command_resume(context);
}

static bool cmd_thread_continue(struct client_command_context *cmd)
{
	struct thread_cmd_context *ctx = cmd->context;
	const ARRAY_TYPE(mail_uid) *seqs;
	int ret;

	ret = imap_search_run_for_cmd(cmd, &ctx->search, &seqs);
	if (ret == 0)
		return false;
	cmd->cancel = NULL;
	if (ret < 0)
		return true;
	ret = thread_compute(cmd, ctx, seqs);
	imap_search_end(&ctx->search);
	if (ret < 0)
		client_send_storage_error(cmd);
	else
		client_send_tagline(cmd, "OK Thread completed.");
	return true;
}

bool cmd_thread(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args;
	struct thread_cmd_context *ctx;
	struct imap_search_args *sargs;
	const char *alg, *charset;

	ctx = p_new(cmd->pool, struct thread_cmd_context, 1);
	if (!imap_arg_get_atom(&args[0], &alg) ||
	    !imap_arg_get_astring(&args[1], &charset)) {
		client_send_command_error(cmd, "Missing threading algorithm "
					  "or charset.");
		return true;
	}
	if (strcasecmp(alg, "REFERENCES") == 0)
		ctx->alg = THREAD_REFERENCES;
	else if (strcasecmp(alg, "ORDEREDSUBJECT") == 0)
		ctx->alg = THREAD_ORDEREDSUBJECT;
	else {
		client_send_command_error(cmd, "Unknown threading algorithm.");
		return true;
	}
	args += 2;
	sargs = imap_search_args_parse_cmd(cmd, args, charset, 0);
	if (sargs == NULL)
		return true;

	ctx->search = imap_search_begin(client, sargs);
	imap_search_set_callback(ctx->search, thread_cmd_callback, cmd);
	cmd->context = ctx;
	cmd->cancel = thread_cmd_cancel;
	cmd->func = cmd_thread_continue;
	return cmd_thread_continue(cmd);
}
