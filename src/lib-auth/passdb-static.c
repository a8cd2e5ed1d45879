/* passdb static: the same answer for every user, from args such as
   "password=%u-secret allow_nets=10.0.0.0/8" or "nopassword". The
   password's default scheme is PLAIN; values may hold %variables. */
#include "lib.h"
#include "password-scheme.h"
#include "passdb-private.h"

struct passdb_static {
	struct auth_fields *tmpl;
	/* NULL: none given */
	const char *password_tmpl;
};

static int passdb_static_init(struct passdb *passdb, const char *args,
			      const char **error_r ATTR_UNUSED)
{
	struct passdb_static *module = p_new(passdb->pool,
					     struct passdb_static, 1);

	module->tmpl = auth_fields_parse_template(passdb->pool, args);
	module->password_tmpl = auth_fields_find(module->tmpl, "password");
	(void)auth_fields_remove(module->tmpl, "password");
	passdb->context = module;
	return 0;
}

static void passdb_static_lookup(struct passdb_request *request)
{
	struct passdb_static *module = request->passdb->context;
	const char *password, *error;

	if (passdb_request_set_template(request, module->tmpl, &error) < 0) {
		passdb_request_finish(request, PASSDB_RESULT_INTERNAL_FAILURE,
				      error);
		return;
	}
	if (module->password_tmpl != NULL) {
		if (auth_vars_expand(module->password_tmpl, &request->vars,
				     &password, &error) < 0) {
			passdb_request_finish(request,
					      PASSDB_RESULT_INTERNAL_FAILURE,
					      error);
			return;
		}
		passdb_request_set_password(request, password);
	}
	passdb_request_finish(request, PASSDB_RESULT_OK, NULL);
}

const struct passdb_driver passdb_driver_static = {
	.name = "static",
	.default_scheme = PASSWORD_SCHEME_DEFAULT_STATIC,
	.init = passdb_static_init,
	.lookup = passdb_static_lookup,
};
