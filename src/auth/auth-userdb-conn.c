/* The userdb lookup protocol (Dovecot's auth master protocol, the part
   mail and LMTP processes use). The server greets with VERSION 1 2 and
   SPID pid; the client sends VERSION 1 x, then any number of

     USER id name [service=... lip=... rip=...]

   answered USER id name field=value..., NOTFOUND id or FAIL id reason=...,
   and

     LIST id [user=MASK]

   answered LIST id name for every user the userdbs can list (MASK: '*'
   and '?' wildcards), then DONE id, or DONE id fail if a listing failed.
   A userdb that cannot tell on its own whether a user exists (static)
   asks the passdbs first; without any userdb, the passdb's userdb_*
   fields answer (Dovecot's prefetch). */
#include "lib.h"
#include "conn.h"
#include "net.h"
#include "master-service.h"
#include "columba-settings.h"
#include "passdb.h"
#include "userdb.h"
#include "auth-vars.h"
#include "auth-protocol.h"
#include "auth.h"
#include "auth-userdb-conn.h"

#include <unistd.h>

struct auth_userdb_conn;

struct auth_userdb_lookup {
	pool_t pool;
	/* the caller of a lookup holds one reference, the answer another:
	   a lookup may answer before passdb_lookup()/userdb_lookup()
	   returns, and its pool must outlive that call */
	int refcount;
	bool answered;
	/* NULL once the connection is gone: the answer is dropped */
	struct auth_userdb_conn *client;
	struct auth_userdb_lookup *prev, *next;
	unsigned int id;
	struct auth_vars vars;
	unsigned int passdb_idx, userdb_idx;
	bool passdb_checked;
};

struct auth_userdb_conn {
	struct auth_userdb_conn *prev, *next;
	struct conn *conn;
	bool version_received;
	struct auth_userdb_lookup *lookups;
	struct auth_userdb_list *lists;
};

static struct auth_userdb_conn *auth_userdb_conns = NULL;

static const struct conn_settings auth_userdb_conn_set = {
	.name = "auth-userdb",
	.input_max_size = AUTH_PROTOCOL_MAX_LINE_LENGTH + 2,
};

static void auth_userdb_conn_destroy(struct auth_userdb_conn *client);
static void auth_userdb_lookup_next(struct auth_userdb_lookup *lookup);

static void auth_userdb_lookup_unref(struct auth_userdb_lookup *lookup)
{
	i_assert(lookup->refcount > 0);
	if (--lookup->refcount == 0)
		pool_unref(&lookup->pool);
}

static void auth_userdb_lookup_free(struct auth_userdb_lookup *lookup)
{
	struct auth_userdb_conn *client = lookup->client;

	i_assert(!lookup->answered);
	lookup->answered = true;
	if (client != NULL) {
		if (lookup->prev != NULL)
			lookup->prev->next = lookup->next;
		else
			client->lookups = lookup->next;
		if (lookup->next != NULL)
			lookup->next->prev = lookup->prev;
	}
	lookup->client = NULL;
	auth_userdb_lookup_unref(lookup);
}

static void auth_userdb_passdb_callback(const struct passdb_user *user,
					void *context);
static void auth_userdb_callback(const struct userdb_user *user,
				 void *context);

static void auth_userdb_passdb_lookup(struct auth_userdb_lookup *lookup)
{
	lookup->refcount++;
	passdb_lookup(*array_idx(&auth->passdbs, lookup->passdb_idx),
		      &lookup->vars, lookup->pool,
		      auth_userdb_passdb_callback, lookup);
	auth_userdb_lookup_unref(lookup);
}

static void auth_userdb_userdb_lookup(struct auth_userdb_lookup *lookup)
{
	lookup->refcount++;
	userdb_lookup(*array_idx(&auth->userdbs, lookup->userdb_idx),
		      &lookup->vars, lookup->pool,
		      auth_userdb_callback, lookup);
	auth_userdb_lookup_unref(lookup);
}

static void auth_userdb_reply(struct auth_userdb_lookup *lookup,
			      const char *line)
{
	if (lookup->client != NULL) {
		conn_write_str(lookup->client->conn, line);
		conn_write_str(lookup->client->conn, "\n");
	}
	auth_userdb_lookup_free(lookup);
}

static void auth_userdb_reply_fields(struct auth_userdb_lookup *lookup,
				     const char *user,
				     const struct auth_fields *fields)
{
	string_t *line = t_str_new(256);
	unsigned int count;
	const struct auth_field *f = auth_fields_get(fields, &count);

	str_printfa(line, "USER\t%u\t", lookup->id);
	str_append_tabescaped(line, user);
	for (unsigned int i = 0; i < count; i++) {
		str_append_c(line, '\t');
		str_append_tabescaped(line, f[i].key);
		if (*f[i].value != '\0') {
			str_append_c(line, '=');
			str_append_tabescaped(line, f[i].value);
		}
	}
	auth_userdb_reply(lookup, str_c(line));
}

static void auth_userdb_fail(struct auth_userdb_lookup *lookup,
			     const char *error)
{
	i_error("userdb(%s): %s", str_sanitize(lookup->vars.user, 100), error);
	auth_userdb_reply(lookup, t_strdup_printf(
		"FAIL\t%u\treason=Internal error", lookup->id));
}

static void auth_userdb_callback(const struct userdb_user *user,
				 void *context)
{
	struct auth_userdb_lookup *lookup = context;

	switch (user->result) {
	case USERDB_RESULT_OK:
		auth_userdb_reply_fields(lookup, user->user, user->fields);
		break;
	case USERDB_RESULT_USER_UNKNOWN:
		lookup->userdb_idx++;
		auth_userdb_lookup_next(lookup);
		break;
	default:
		auth_userdb_fail(lookup, user->error == NULL ?
				 "userdb lookup failed" : user->error);
		break;
	}
}

static void auth_userdb_passdb_callback(const struct passdb_user *user,
					void *context)
{
	struct auth_userdb_lookup *lookup = context;

	switch (user->result) {
	case PASSDB_RESULT_OK:
		lookup->passdb_checked = true;
		if (array_count(&auth->userdbs) == 0) {
			auth_userdb_reply_fields(lookup, user->user,
						 user->userdb_fields);
			return;
		}
		lookup->vars.user = p_strdup(lookup->pool, user->user);
		auth_userdb_lookup_next(lookup);
		break;
	case PASSDB_RESULT_USER_UNKNOWN:
		lookup->passdb_idx++;
		if (lookup->passdb_idx < array_count(&auth->passdbs)) {
			auth_userdb_passdb_lookup(lookup);
			return;
		}
		auth_userdb_reply(lookup, t_strdup_printf("NOTFOUND\t%u",
							  lookup->id));
		break;
	default:
		auth_userdb_fail(lookup, user->error == NULL ?
				 "passdb lookup failed" : user->error);
		break;
	}
}

static void auth_userdb_lookup_next(struct auth_userdb_lookup *lookup)
{
	if (array_count(&auth->userdbs) == 0 && !lookup->passdb_checked) {
		/* no userdb: the passdb's userdb_* fields answer */
		if (array_count(&auth->passdbs) == 0) {
			auth_userdb_fail(lookup, "No passdb or userdb configured");
			return;
		}
		auth_userdb_passdb_lookup(lookup);
		return;
	}
	if (lookup->userdb_idx >= array_count(&auth->userdbs)) {
		auth_userdb_reply(lookup, t_strdup_printf("NOTFOUND\t%u",
							  lookup->id));
		return;
	}
	struct userdb *userdb = *array_idx(&auth->userdbs, lookup->userdb_idx);
	if (!lookup->passdb_checked && userdb_needs_passdb_check(userdb)) {
		/* static userdb: it would invent any user; the passdbs know
		   who exists */
		if (array_count(&auth->passdbs) == 0) {
			auth_userdb_fail(lookup, "userdb static needs a passdb to tell which users exist");
			return;
		}
		auth_userdb_passdb_lookup(lookup);
		return;
	}
	auth_userdb_userdb_lookup(lookup);
}

static void auth_userdb_error(struct auth_userdb_conn *client,
			      const char *msg)
{
	i_error("auth-userdb: Disconnecting: %s", msg);
	conn_disconnect(client->conn, msg);
}

/* USER id name [params] */
static int auth_userdb_cmd_user(struct auth_userdb_conn *client,
				const char *const *args)
{
	unsigned int id;
	const char *user, *error;

	if (args[0] == NULL || str_to_uint(args[0], &id) < 0 ||
	    args[1] == NULL || *args[1] == '\0') {
		auth_userdb_error(client, "Invalid USER line (expected USER id name [params])");
		return -1;
	}
	pool_t pool = pool_alloconly_create("userdb lookup", 1024);
	struct auth_userdb_lookup *lookup =
		p_new(pool, struct auth_userdb_lookup, 1);
	lookup->pool = pool;
	lookup->refcount = 1;
	lookup->id = id;
	lookup->client = client;
	lookup->next = client->lookups;
	if (client->lookups != NULL)
		client->lookups->prev = lookup;
	client->lookups = lookup;

	for (unsigned int i = 2; args[i] != NULL; i++) {
		const char *arg = args[i];
		if (str_begins(arg, "service="))
			lookup->vars.service = p_strdup(pool, arg + 8);
		else if (str_begins(arg, "lip="))
			lookup->vars.local_ip = p_strdup(pool, arg + 4);
		else if (str_begins(arg, "rip="))
			lookup->vars.remote_ip = p_strdup(pool, arg + 4);
	}
	if (auth_username_format(auth->set->auth_username_format, args[1],
				 &user, &error) < 0) {
		lookup->vars.user = p_strdup(pool, args[1]);
		auth_userdb_fail(lookup, t_strdup_printf(
			"auth_username_format: %s", error));
		return 0;
	}
	lookup->vars.user = p_strdup(pool, user);
	auth_userdb_lookup_next(lookup);
	return 0;
}

struct auth_userdb_list {
	/* NULL once the connection is gone */
	struct auth_userdb_conn *client;
	struct auth_userdb_list *prev, *next;
	unsigned int id;
	char *mask;
	unsigned int userdb_idx;
	bool failed;
};

static bool auth_userdb_wildcard_match(const char *str, const char *mask)
{
	while (*mask != '\0') {
		if (*mask == '*') {
			while (*mask == '*')
				mask++;
			if (*mask == '\0')
				return true;
			for (; *str != '\0'; str++) {
				if (auth_userdb_wildcard_match(str, mask))
					return true;
			}
			return false;
		}
		if (*str == '\0' || (*mask != '?' && *mask != *str))
			return false;
		str++;
		mask++;
	}
	return *str == '\0';
}

static void auth_userdb_list_free(struct auth_userdb_list *list)
{
	struct auth_userdb_conn *client = list->client;

	if (client != NULL) {
		if (list->prev != NULL)
			list->prev->next = list->next;
		else
			client->lists = list->next;
		if (list->next != NULL)
			list->next->prev = list->prev;
	}
	free(list->mask);
	free(list);
}

static void auth_userdb_list_next(struct auth_userdb_list *list);

static void auth_userdb_list_callback(const char *const *users,
				      const char *error, void *context)
{
	struct auth_userdb_list *list = context;

	if (users == NULL) {
		i_error("userdb %s: listing users failed: %s",
			userdb_get_driver_name(*array_idx(&auth->userdbs,
							  list->userdb_idx)),
			error);
		list->failed = true;
	} else if (list->client != NULL) {
		string_t *line = t_str_new(256);
		for (unsigned int i = 0; users[i] != NULL; i++) {
			if (list->mask != NULL &&
			    !auth_userdb_wildcard_match(users[i], list->mask))
				continue;
			str_truncate(line, 0);
			str_printfa(line, "LIST\t%u\t", list->id);
			str_append_tabescaped(line, users[i]);
			str_append_c(line, '\n');
			conn_write_str(list->client->conn, str_c(line));
		}
	}
	list->userdb_idx++;
	auth_userdb_list_next(list);
}

static void auth_userdb_list_next(struct auth_userdb_list *list)
{
	while (list->userdb_idx < array_count(&auth->userdbs)) {
		struct userdb *userdb =
			*array_idx(&auth->userdbs, list->userdb_idx);
		if (list->client != NULL &&
		    userdb_iterate(userdb, auth_userdb_list_callback, list))
			return;
		list->userdb_idx++;
	}
	if (list->client != NULL) {
		/* Dovecot's form: an empty field when it worked */
		conn_printf(list->client->conn, "DONE\t%u\t%s\n", list->id,
			    list->failed ? "fail" : "");
	}
	auth_userdb_list_free(list);
}

/* LIST id [user=MASK] [params] */
static int auth_userdb_cmd_list(struct auth_userdb_conn *client,
				const char *const *args)
{
	unsigned int id;

	if (args[0] == NULL || str_to_uint(args[0], &id) < 0) {
		auth_userdb_error(client, "Invalid LIST line (expected LIST id [user=mask])");
		return -1;
	}
	struct auth_userdb_list *list = i_new(struct auth_userdb_list, 1);
	list->client = client;
	list->id = id;
	for (unsigned int i = 1; args[i] != NULL; i++) {
		if (str_begins(args[i], "user=")) {
			free(list->mask);
			list->mask = i_strdup(args[i] + 5);
		}
	}
	list->next = client->lists;
	if (client->lists != NULL)
		client->lists->prev = list;
	client->lists = list;
	auth_userdb_list_next(list);
	return 0;
}

static int auth_userdb_handle_line(struct auth_userdb_conn *client,
				   const char *const *args)
{
	if (!client->version_received) {
		unsigned int major;
		if (strcmp(args[0], "VERSION") != 0 || args[1] == NULL ||
		    args[2] == NULL || str_to_uint(args[1], &major) < 0 ||
		    major != 1) {
			auth_userdb_error(client, "Expected VERSION 1 first");
			return -1;
		}
		client->version_received = true;
		return 0;
	}
	if (strcmp(args[0], "USER") == 0)
		return auth_userdb_cmd_user(client, args + 1);
	if (strcmp(args[0], "LIST") == 0)
		return auth_userdb_cmd_list(client, args + 1);
	auth_userdb_error(client, t_strdup_printf("Unknown command %s",
						  str_sanitize(args[0], 32)));
	return -1;
}

static void auth_userdb_input(struct conn *conn)
{
	struct auth_userdb_conn *client = conn_get_context(conn);
	const char *line;
	size_t len;
	int ret;

	while ((ret = conn_read_line(conn, AUTH_PROTOCOL_MAX_LINE_LENGTH,
				     &line, &len)) > 0) {
		int hret;

		T_BEGIN {
			const char *const *args = t_strsplit_tabescaped(line, len);
			if (args == NULL || args[0] == NULL || *args[0] == '\0') {
				auth_userdb_error(client, t_strdup_printf(
					"Malformed line: %s",
					str_sanitize(line, 80)));
				hret = -1;
			} else {
				hret = auth_userdb_handle_line(client, args);
			}
		} T_END;
		if (hret < 0 || conn_is_disconnected(conn))
			return;
	}
	if (ret < 0)
		auth_userdb_error(client, "Line too long");
}

static void auth_userdb_disconnected(struct conn *conn,
				     const char *reason ATTR_UNUSED)
{
	auth_userdb_conn_destroy(conn_get_context(conn));
}

static const struct conn_vfuncs auth_userdb_conn_vfuncs = {
	.input = auth_userdb_input,
	.disconnected = auth_userdb_disconnected,
};

void auth_userdb_conn_create(struct master_service_connection *mconn)
{
	struct auth_userdb_conn *client = i_new(struct auth_userdb_conn, 1);

	client->conn = conn_create(mconn->fd, &auth_userdb_conn_set,
				   &auth_userdb_conn_vfuncs, client);
	client->next = auth_userdb_conns;
	if (auth_userdb_conns != NULL)
		auth_userdb_conns->prev = client;
	auth_userdb_conns = client;
	master_service_client_connected(auth->service);
	conn_printf(client->conn, "VERSION\t1\t2\nSPID\t%ld\n",
		    (long)getpid());
}

static void auth_userdb_conn_destroy(struct auth_userdb_conn *client)
{
	if (client->prev != NULL)
		client->prev->next = client->next;
	else
		auth_userdb_conns = client->next;
	if (client->next != NULL)
		client->next->prev = client->prev;
	/* lookups still running finish on their own and drop the answer */
	for (struct auth_userdb_lookup *l = client->lookups; l != NULL;
	     l = l->next)
		l->client = NULL;
	for (struct auth_userdb_list *l = client->lists; l != NULL; l = l->next)
		l->client = NULL;
	conn_destroy(&client->conn);
	free(client);
	master_service_client_disconnected(auth->service);
}

void auth_userdb_conns_destroy_all(void)
{
	while (auth_userdb_conns != NULL)
		auth_userdb_conn_destroy(auth_userdb_conns);
}
