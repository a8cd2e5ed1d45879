/* The auth process: answers Dovecot's auth client protocol on its
   client listeners (auth-client, login/auth and any the admin adds, such
   as Postfix's private/auth) and userdb lookups on auth-userdb. One
   process, event driven; password hashing runs in its worker pool. */
#include "lib.h"
#include "master-service.h"
#include "columba-settings.h"
#include "auth.h"
#include "auth-client-conn.h"
#include "auth-userdb-conn.h"
#include "auth-main.h"

/* Which protocol a listener speaks: a path ending in "auth-userdb" (or
   "-userdb") serves userdb lookups, every other one auth clients. */
static bool auth_listener_is_userdb(const char *name)
{
	return str_ends_with(name, "-userdb");
}

static void auth_accept(struct master_service_connection *mconn,
			void *context ATTR_UNUSED)
{
	if (mconn->listener->type == MASTER_LISTENER_UNIX &&
	    auth_listener_is_userdb(mconn->listener->name))
		auth_userdb_conn_create(mconn);
	else
		auth_client_conn_create(mconn);
}

static void auth_stop(bool shutdown, void *context ATTR_UNUSED)
{
	if (!shutdown) {
		/* reload: the clients (login processes, Postfix) keep their
		   connections and requests finish on this configuration */
		return;
	}
	auth_client_conns_destroy_all();
	auth_userdb_conns_destroy_all();
}

int auth_main(void)
{
	static const struct master_service_callbacks callbacks = {
		.accept = auth_accept,
		.stop = auth_stop,
	};
	struct master_service *service =
		master_service_init("auth", &callbacks, NULL);

	/* passwd-files are read now, before privileges are dropped */
	auth_init(service, master_service_get_settings(service));
	master_service_init_finish(service);
	master_service_run(service);
	auth_client_conns_destroy_all();
	auth_userdb_conns_destroy_all();
	auth_deinit();
	master_service_deinit(&service);
	return 0;
}
