/* The PREAUTH entry: configuration, userdb lookup, storage, then the same
   session code the mail process runs, until the session ends. Logs go to
   stderr: stdout is the protocol. */
#include "lib.h"
#include "ioloop.h"
#include "config.h"
#include "columba-config.h"
#include "columba-settings.h"
#include "auth-master-client.h"
#include "mail-user-setup.h"
#include "mail-session.h"
#include "imap-common.h"
#include "imap-preauth.h"
#include "imap-relay.h"
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>

#define EX_USAGE_ 64
#define EX_NOUSER_ 67
#define EX_TEMPFAIL_ 75
#define EX_CONFIG_ 78

static struct ioloop *preauth_ioloop;
static bool preauth_relay_running;

/* Done when the session has ended and, with a relay, when its last
   bytes (the LOGOUT reply) have reached stdout. */
static void preauth_check_done(void)
{
	if (client_get_list() == NULL && !preauth_relay_running)
		ioloop_stop(preauth_ioloop);
}

static void preauth_relay_finished(void *context ATTR_UNUSED)
{
	preauth_relay_running = false;
	preauth_check_done();
}

static void preauth_signal(int signo ATTR_UNUSED, void *context ATTR_UNUSED)
{
	imap_sessions_stop(true);
}

int imap_preauth_main(int argc, char *argv[])
{
	const char *config_path = getenv("COLUMBA_CONFIG");
	const char *username = NULL, *error;
	int c;

	if (config_path == NULL)
		config_path = COLUMBA_SYSCONFDIR "/columba.conf";
	optind = 1;
	while ((c = getopt(argc, argv, "c:u:")) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'u':
			username = optarg;
			break;
		default:
			username = NULL;
			optind = argc + 1;
			break;
		}
	}
	if (username == NULL || optind != argc || username[0] == '\0') {
		fprintf(stderr, "Usage: columba imap [-c CONFIG] -u USER\n");
		return EX_USAGE_;
	}
	/* the session's own lines carry "imap(user): " from its event */
	const char *prefix = t_strdup_printf("imap(%s): ", username);

	struct config *config = config_parse_file(config_path, NULL, &error);
	if (config == NULL) {
		i_error("%s%s", prefix, error);
		return EX_CONFIG_;
	}
	const struct columba_settings *set = config_get_root(config);
	/* no master service here: the session's settings come from the
	   config read above */
	imap_settings_init(set);
	const char *socket_path = t_strdup_printf("%s/auth-userdb",
						  set->base_dir);
	struct auth_master_user_request req = {
		.username = username,
		.service = "imap",
	};
	pool_t pool = pool_alloconly_create("imap preauth", 1024);
	const char *const *fields;
	const char *canonical;
	enum auth_master_result res =
		auth_master_user_lookup_sync(socket_path, &req, pool,
					     &canonical, &fields, &error);
	if (res == AUTH_MASTER_RESULT_NOTFOUND) {
		i_error("%sUnknown user", prefix);
		pool_unref(&pool);
		config_free(&config);
		return EX_NOUSER_;
	}
	if (res != AUTH_MASTER_RESULT_OK) {
		i_error("%suserdb lookup failed: %s", prefix, error);
		pool_unref(&pool);
		config_free(&config);
		return EX_TEMPFAIL_;
	}

	preauth_ioloop = ioloop_create();
	struct mail_user *user;
	if (mail_user_setup(set, canonical, fields, NULL, &user, &error) < 0) {
		i_error("%sOpening storage failed: %s", prefix, error);
		ioloop_destroy(&preauth_ioloop);
		pool_unref(&pool);
		config_free(&config);
		return EX_TEMPFAIL_;
	}
	struct signal_watch *sig_term = signal_add(SIGTERM, preauth_signal,
						   NULL);
	struct signal_watch *sig_int = signal_add(SIGINT, preauth_signal,
						  NULL);
	struct login_handoff handoff = {
		.protocol = "imap",
		.username = canonical,
		.session_id = "",
		.tag = "",
		.auth_fields = fields,
	};
	struct mail_session_start start = {
		.handoff = &handoff,
		.userdb_fields = fields,
		.user = user,
		.fd_in = STDIN_FILENO,
		.fd_out = STDOUT_FILENO,
		.send_login_reply = false,
	};
	struct stat st_in, st_out;
	if (fstat(STDIN_FILENO, &st_in) < 0 || fstat(STDOUT_FILENO, &st_out) < 0 ||
	    !S_ISSOCK(st_in.st_mode) || st_in.st_ino != st_out.st_ino ||
	    st_in.st_dev != st_out.st_dev) {
		/* pipes (ssh): relay them into a socket the session can use,
		   and wait for the relay to deliver the last bytes */
		int fd;
		if (imap_relay_create(STDIN_FILENO, STDOUT_FILENO,
				      preauth_relay_finished, NULL, &fd,
				      &error) < 0) {
			i_error("%s%s", prefix, error);
			mail_user_deinit(&user);
			ioloop_destroy(&preauth_ioloop);
			pool_unref(&pool);
			config_free(&config);
			return EX_TEMPFAIL_;
		}
		preauth_relay_running = true;
		start.fd_in = start.fd_out = fd;
	}
	client_set_last_gone_callback(preauth_check_done);
	imap_session_start(&start);
	if (client_get_list() != NULL || preauth_relay_running)
		ioloop_run(preauth_ioloop);
	client_set_last_gone_callback(NULL);
	signal_remove(&sig_term);
	signal_remove(&sig_int);
	ioloop_destroy(&preauth_ioloop);
	pool_unref(&pool);
	config_free(&config);
	return 0;
}
