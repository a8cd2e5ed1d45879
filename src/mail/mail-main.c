/* The mail process: post-login sessions handed over by login processes
   (mail-handoff.c), started as the mail user, supervised, stopped
   gracefully. */
#include "lib.h"
#include "master-service.h"
#include "mail-session.h"
#include "mail-handoff.h"
#include "mail-user-cache.h"
#include "mail-index-select.h"
#include "lmtp-client.h"
#include "mail-main.h"

#include <unistd.h>

static void mail_accept(struct master_service_connection *mconn,
			void *context ATTR_UNUSED)
{
	if (mconn->listener->type == MASTER_LISTENER_UNIX &&
	    mail_handoff_is_listener(mconn->listener->name)) {
		mail_handoff_accept(mconn);
		return;
	}
	if (lmtp_listener_is(mconn->listener->name)) {
		lmtp_client_create(mconn);
		return;
	}
	i_error("mail: connection on unexpected listener %s: closing",
		mconn->listener->name);
	close(mconn->fd);
}

static void mail_stop(bool shutdown, void *context ATTR_UNUSED)
{
	/* the kept users go at once (a reload's new settings may put them
	   elsewhere); users in sessions are closed by their sessions */
	mail_user_cache_deinit();
	imap_sessions_stop(shutdown);
	pop3_sessions_stop(shutdown);
	lmtp_clients_stop(shutdown);
}

int mail_main(void)
{
	static const struct master_service_callbacks callbacks = {
		.accept = mail_accept,
		.stop = mail_stop,
	};
	struct master_service *service =
		master_service_init("mail", &callbacks, NULL);
	master_service_init_finish(service);
	mail_user_cache_init();
	mail_handoff_init(service);
	lmtp_init(service);
	master_service_run(service);
	/* first: users closed from here on are closed for good */
	mail_user_cache_deinit();
	lmtp_deinit();
	mail_handoff_deinit();
	/* the SELECT lists kept in memory, and their timer */
	mail_index_select_cache_clear();
	master_service_deinit(&service);
	return 0;
}
