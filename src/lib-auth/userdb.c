/* Userdb drivers' registry and what every userdb lookup shares: the uid
   and gid name resolution and the request plumbing. */
#include "lib.h"
#include "userdb-private.h"

#include <grp.h>
#include <pwd.h>

#define USERDB_MAX_EXTRA_DRIVERS 16
#define USERDB_NSS_BUF_SIZE 16384

static const struct userdb_driver *userdb_builtin_drivers[] = {
	&userdb_driver_passwd_file,
	&userdb_driver_static,
	&userdb_driver_sql,
};
static const struct userdb_driver *
userdb_extra_drivers[USERDB_MAX_EXTRA_DRIVERS];
static unsigned int userdb_extra_driver_count;

void userdb_register_driver(const struct userdb_driver *driver)
{
	i_assert(userdb_extra_driver_count < N_ELEMENTS(userdb_extra_drivers));
	userdb_extra_drivers[userdb_extra_driver_count++] = driver;
}

static const struct userdb_driver *userdb_driver_find(const char *name)
{
	for (unsigned int i = 0; i < N_ELEMENTS(userdb_builtin_drivers); i++) {
		if (strcmp(userdb_builtin_drivers[i]->name, name) == 0)
			return userdb_builtin_drivers[i];
	}
	for (unsigned int i = 0; i < userdb_extra_driver_count; i++) {
		if (strcmp(userdb_extra_drivers[i]->name, name) == 0)
			return userdb_extra_drivers[i];
	}
	return NULL;
}

int userdb_create(const char *driver_name, const char *args,
		  struct userdb **userdb_r, const char **error_r)
{
	const struct userdb_driver *driver = userdb_driver_find(driver_name);

	if (driver == NULL) {
		*error_r = t_strdup_printf("Unknown userdb driver: %s",
					   str_sanitize(driver_name, 64));
		return -1;
	}
	pool_t pool = pool_alloconly_create("userdb", 1024);
	struct userdb *userdb = p_new(pool, struct userdb, 1);
	userdb->driver = driver;
	userdb->pool = pool;
	if (driver->init(userdb, args == NULL ? "" : args, error_r) < 0) {
		*error_r = t_strdup_printf("userdb %s: %s", driver->name,
					   *error_r);
		pool_unref(&pool);
		return -1;
	}
	*userdb_r = userdb;
	return 0;
}

void userdb_destroy(struct userdb **_userdb)
{
	struct userdb *userdb = *_userdb;

	*_userdb = NULL;
	if (userdb == NULL)
		return;
	if (userdb->driver->deinit != NULL)
		userdb->driver->deinit(userdb);
	pool_unref(&userdb->pool);
}

const char *userdb_get_driver_name(const struct userdb *userdb)
{
	return userdb->driver->name;
}

bool userdb_needs_passdb_check(const struct userdb *userdb)
{
	return userdb->needs_passdb_check;
}

void userdb_lookup(struct userdb *userdb, const struct auth_vars *vars,
		   pool_t pool, userdb_lookup_callback_t *callback,
		   void *context)
{
	i_assert(pool != pool_datastack);

	struct userdb_request *request = p_new(pool, struct userdb_request, 1);
	request->userdb = userdb;
	request->pool = pool;
	auth_vars_copy(pool, &request->vars, vars);
	request->result.user = request->vars.user;
	request->result.fields = auth_fields_create(pool);
	request->callback = callback;
	request->context = context;
	userdb->driver->lookup(request);
}

bool userdb_iterate(struct userdb *userdb,
		    userdb_iterate_callback_t *callback, void *context)
{
	if (userdb->driver->iterate == NULL)
		return false;
	return userdb->driver->iterate(userdb, callback, context);
}

int userdb_parse_uid(const char *str, uid_t *uid_r)
{
	uint64_t num;

	if (str_to_uint64(str, &num) == 0) {
		if (num >= (uid_t)-1)
			return -1;
		*uid_r = (uid_t)num;
		return 0;
	}

	struct passwd pw, *result = NULL;
	char *buf = i_malloc(USERDB_NSS_BUF_SIZE);
	int ret = getpwnam_r(str, &pw, buf, USERDB_NSS_BUF_SIZE, &result);
	if (ret == 0 && result != NULL)
		*uid_r = pw.pw_uid;
	free(buf);
	return ret == 0 && result != NULL ? 0 : -1;
}

int userdb_parse_gid(const char *str, gid_t *gid_r)
{
	uint64_t num;

	if (str_to_uint64(str, &num) == 0) {
		if (num >= (gid_t)-1)
			return -1;
		*gid_r = (gid_t)num;
		return 0;
	}

	struct group gr, *result = NULL;
	char *buf = i_malloc(USERDB_NSS_BUF_SIZE);
	int ret = getgrnam_r(str, &gr, buf, USERDB_NSS_BUF_SIZE, &result);
	if (ret == 0 && result != NULL)
		*gid_r = gr.gr_gid;
	free(buf);
	return ret == 0 && result != NULL ? 0 : -1;
}

void userdb_request_set_field(struct userdb_request *request,
			      const char *key, const char *value)
{
	struct userdb_user *result = &request->result;

	if (strcmp(key, "uid") == 0) {
		uid_t uid;

		if (userdb_parse_uid(value, &uid) < 0) {
			request->field_error = p_strdup_printf(request->pool,
				"Invalid uid: %s", str_sanitize(value, 64));
			return;
		}
		value = t_strdup_printf("%lu", (unsigned long)uid);
	} else if (strcmp(key, "gid") == 0) {
		gid_t gid;

		if (userdb_parse_gid(value, &gid) < 0) {
			request->field_error = p_strdup_printf(request->pool,
				"Invalid gid: %s", str_sanitize(value, 64));
			return;
		}
		value = t_strdup_printf("%lu", (unsigned long)gid);
	} else if (strcmp(key, "user") == 0) {
		if (value[0] == '\0') {
			request->field_error = "Empty user field";
			return;
		}
		result->user = p_strdup(request->pool, value);
	}
	auth_fields_add(result->fields, key, value);
}

int userdb_request_set_template(struct userdb_request *request,
				const struct auth_fields *tmpl,
				const char **error_r)
{
	const struct auth_field *fields;
	unsigned int count;
	const char *value;

	fields = auth_fields_get(tmpl, &count);
	for (unsigned int i = 0; i < count; i++) {
		if (auth_vars_expand(fields[i].value, &request->vars, &value,
				     error_r) < 0)
			return -1;
		userdb_request_set_field(request, fields[i].key, value);
	}
	return 0;
}

void userdb_request_finish(struct userdb_request *request,
			   enum userdb_result result, const char *error)
{
	if (result == USERDB_RESULT_OK && request->field_error != NULL) {
		result = USERDB_RESULT_INTERNAL_FAILURE;
		error = request->field_error;
	}
	request->result.result = result;
	request->result.error = error == NULL ? NULL :
		p_strdup(request->pool, error);
	request->callback(&request->result, request->context);
}
