/* The one columba binary: the master by default, a service process when
   the master starts it as "columba service NAME", and the administrator's
   commands (config, stop, reload). */
#include "lib.h"
#include "config.h"
#include "columba-config.h"
#include "master.h"
#include "imap-login.h"
#include "pop3-login.h"
#include "auth-main.h"
#include "mail-main.h"
#include "mail-admin.h"
#include "auth-pw-cli.h"
#include "imap-preauth.h"
#include <getopt.h>
#include <signal.h>

static const char *config_path_default(void)
{
	const char *env = getenv("COLUMBA_CONFIG");
	return env != NULL ? env : COLUMBA_SYSCONFDIR "/columba.conf";
}

static int cmd_config(int argc, char *argv[])
{
	const char *path = config_path_default();
	enum config_dump_flags flags = CONFIG_DUMP_FLAG_HIDE_SECRETS;
	int c;

	optind = 1;
	while ((c = getopt(argc, argv, "nPc:")) != -1) {
		switch (c) {
		case 'n':
			flags |= CONFIG_DUMP_FLAG_NON_DEFAULT;
			break;
		case 'P':
			flags &= ~CONFIG_DUMP_FLAG_HIDE_SECRETS;
			break;
		case 'c':
			path = optarg;
			break;
		default:
			fprintf(stderr, "Usage: columba config [-n] [-P] [-c CONFIG]\n");
			return 64;
		}
	}
	const char *error;
	struct config *config = config_parse_file(path, NULL, &error);
	if (config == NULL) {
		fprintf(stderr, "columba config: Fatal: %s\n", error);
		return FATAL_EXIT_CODE;
	}
	string_t *out = str_new(system_pool, 8192);
	config_dump_with_flags(config, out, flags);
	fwrite(out->data, 1, out->used, stdout);
	str_free(&out);
	config_free(&config);
	return 0;
}

/* columba stop / reload: signal the running master found through the pid
   file in base_dir. */
static int cmd_signal(int argc, char *argv[], int signo)
{
	const char *path = config_path_default();
	int c;
	optind = 1;
	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c == 'c')
			path = optarg;
		else
			return 64;
	}
	const char *error;
	struct config *config = config_parse_file(path, NULL, &error);
	if (config == NULL) {
		fprintf(stderr, "columba: Fatal: %s\n", error);
		return FATAL_EXIT_CODE;
	}
	const char *pid_path = t_strdup_printf("%s/master.pid",
		config_get_root(config)->base_dir);
	FILE *f = fopen(pid_path, "r");
	int pid = 0;
	if (f == NULL || fscanf(f, "%d", &pid) != 1 || pid <= 0) {
		fprintf(stderr, "columba: Fatal: Columba is not running "
			"(no pid in %s)\n", pid_path);
		if (f != NULL)
			fclose(f);
		config_free(&config);
		return 1;
	}
	fclose(f);
	config_free(&config);
	if (kill(pid, signo) < 0) {
		fprintf(stderr, "columba: Fatal: kill(%d) failed: %s\n", pid,
			strerror(errno));
		return 1;
	}
	return 0;
}

static int cmd_service(int argc, char *argv[])
{
	if (argc < 3) {
		fprintf(stderr, "Usage: columba service NAME (started by the master)\n");
		return 64;
	}
	const char *name = argv[2];
	if (strcmp(name, "imap-login") == 0)
		return imap_login_main();
	if (strcmp(name, "pop3-login") == 0)
		return pop3_login_main();
	if (strcmp(name, "auth") == 0)
		return auth_main();
	if (strcmp(name, "mail") == 0)
		return mail_main();
	fprintf(stderr, "columba: unknown service: %s\n", name);
	return 64;
}

int main(int argc, char *argv[])
{
	int ret;
	T_BEGIN {
		if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
			printf("columba %s\n", COLUMBA_VERSION);
			ret = 0;
		} else if (argc >= 2 && strcmp(argv[1], "config") == 0) {
			ret = cmd_config(argc - 1, argv + 1);
		} else if (argc >= 2 && strcmp(argv[1], "pw") == 0) {
			ret = auth_pw_cmd(argc - 1, argv + 1);
		} else if (argc >= 2 && strcmp(argv[1], "imap") == 0) {
			ret = imap_preauth_main(argc - 1, argv + 1);
		} else if (argc >= 2 && strcmp(argv[1], "mail") == 0) {
			ret = mail_admin_cmd(argc - 1, argv + 1,
					     config_path_default());
		} else if (argc >= 2 && strcmp(argv[1], "stop") == 0) {
			ret = cmd_signal(argc - 1, argv + 1, SIGTERM);
		} else if (argc >= 2 && strcmp(argv[1], "reload") == 0) {
			ret = cmd_signal(argc - 1, argv + 1, SIGHUP);
		} else if (argc >= 2 && strcmp(argv[1], "service") == 0) {
			ret = cmd_service(argc, argv);
		} else {
			ret = master_main(argc, argv);
		}
	} T_END;
	return ret;
}
