/* The master's main: command line, configuration, pid file, daemonising,
   the first generation of processes, and the signals that reload and stop
   the server. */
#include "lib.h"
#include "ioloop.h"
#include "config.h"
#include "restrict-access.h"
#include "tls.h"
#include "master-tls.h"
#include "master.h"
#include "columba-config.h"
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define MASTER_PID_FILE "master.pid"
#define DEFAULT_CONFIG_PATH COLUMBA_SYSCONFDIR "/columba.conf"

struct master_generation *master_current_gen;
bool master_shutting_down;
const char *master_binary_path;

static struct ioloop *master_ioloop;
static const char *config_path;
static unsigned int next_generation_id = 1;
static struct timeout *to_shutdown;
static char *pid_file_path;

static const char *default_config_path(void)
{
	const char *env = getenv("COLUMBA_CONFIG");
	return env != NULL ? env : DEFAULT_CONFIG_PATH;
}

static int config_memfd(const struct config *config, const char **error_r)
{
	string_t *text = str_new(system_pool, 8192);
	/* children may be chrooted: give them file contents, not paths */
	config_dump_with_flags(config, text, CONFIG_DUMP_FLAG_EXPAND_FILES);
	int fd = memfd_create("columba-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		*error_r = t_strdup_printf("memfd_create() failed: %m");
		str_free(&text);
		return -1;
	}
	size_t pos = 0;
	while (pos < str_len(text)) {
		ssize_t ret = write(fd, text->data + pos, str_len(text) - pos);
		if (ret < 0) {
			*error_r = t_strdup_printf("write(config memfd) failed: %m");
			close(fd);
			safe_memset(text->data, 0, text->used);
			str_free(&text);
			return -1;
		}
		pos += (size_t)ret;
	}
	safe_memset(text->data, 0, text->used);
	str_free(&text);
	/* nobody may change a generation's configuration once children
	   started reading it */
	(void)fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK |
		    F_SEAL_SEAL);
	return fd;
}

/* The services this version runs. Others may be configured (their
   settings exist for later versions) but no process is started for them. */
static bool protocol_enabled(const struct columba_settings *set,
			     const char *protocol)
{
	for (const char *const *p = set->protocols; *p != NULL; p++) {
		if (strcmp(*p, protocol) == 0)
			return true;
	}
	return false;
}

static bool service_is_runnable(const struct columba_settings *set,
				const char *name)
{
	if (strcmp(name, "imap-login") == 0)
		return protocol_enabled(set, "imap");
	if (strcmp(name, "pop3-login") == 0)
		return protocol_enabled(set, "pop3");
	return strcmp(name, "auth") == 0 || strcmp(name, "mail") == 0;
}

/* Catch TLS mistakes at start-up or reload, in the master, rather than as
   a crash loop of login processes: build the context they will build. */
static int check_tls_settings(const struct columba_settings *set,
			      const char **error_r)
{
	struct tls_context *ctx = master_tls_context_create(set, error_r);
	if (ctx == NULL)
		return *error_r == NULL ? 0 : -1;
	tls_context_unref(&ctx);
	return 0;
}

static int service_resolve_user(struct master_service *service,
				const char **error_r)
{
	const struct service_settings *sset = service->set;
	service->uid = (uid_t)-1;
	service->gid = (gid_t)-1;
	if (geteuid() != 0) {
		/* development mode: everything runs as the invoking user */
		return 0;
	}
	const char *user = sset->user[0] != '\0' ? sset->user :
		service->gen->set->default_internal_user;
	gid_t user_gid;
	if (restrict_access_lookup_user(user, &service->uid, &user_gid,
					error_r) < 0) {
		*error_r = t_strdup_printf("service %s: user: %s", service->name,
					   *error_r);
		return -1;
	}
	service->gid = user_gid;
	if (sset->group[0] != '\0' &&
	    restrict_access_lookup_group(sset->group, &service->gid,
					 error_r) < 0) {
		*error_r = t_strdup_printf("service %s: group: %s",
					   service->name, *error_r);
		return -1;
	}
	return 0;
}

/* Make the chroot directory: owned by root, not writable by the service,
   so a compromised login process cannot plant anything in it. */
static int service_prepare_chroot(struct master_service *service,
				  const char **error_r)
{
	const char *chroot = service->set->chroot;
	if (chroot[0] == '\0')
		return 0;
	const char *dir = chroot[0] == '/' ? chroot :
		t_strdup_printf("%s/%s", service->gen->set->base_dir, chroot);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		*error_r = t_strdup_printf("mkdir(%s) failed: %m", dir);
		return -1;
	}
	if (geteuid() == 0) {
		if (chown(dir, 0, 0) < 0 || chmod(dir, 0755) < 0) {
			*error_r = t_strdup_printf("chown/chmod(%s) failed: %m", dir);
			return -1;
		}
		service->chroot_dir = i_strdup(dir);
	}
	return 0;
}

static struct master_generation *
generation_create(struct config *config, const char **error_r)
{
	struct master_generation *gen = i_new(struct master_generation, 1);
	gen->id = next_generation_id++;
	gen->refcount = 1;
	gen->config = config;
	gen->set = config_get_root(config);
	gen->config_fd = -1;
	array_init(&gen->services, system_pool, 8);
	if (check_tls_settings(gen->set, error_r) < 0)
		goto fail;

	struct service_settings *const *sset;
	array_foreach(&gen->set->services, sset) {
		if (!service_is_runnable(gen->set, (*sset)->name))
			continue;
		struct master_service *service = i_new(struct master_service, 1);
		service->gen = gen;
		service->set = *sset;
		service->name = (*sset)->name;
		service->process_target = I_MAX((*sset)->process_min_avail, 1U);
		if ((*sset)->process_limit > 0)
			service->process_target = I_MIN(service->process_target,
							(*sset)->process_limit);
		array_init(&service->listeners, system_pool, 4);
		array_push(&gen->services, service);
		if (service_resolve_user(service, error_r) < 0 ||
		    service_prepare_chroot(service, error_r) < 0)
			goto fail;
	}
	if ((gen->config_fd = config_memfd(config, error_r)) < 0)
		goto fail;
	if (master_listeners_bind(gen, error_r) < 0)
		goto fail;
	return gen;
fail:
	/* the caller still owns config */
	gen->config = NULL;
	master_generation_unref(&gen);
	return NULL;
}

static void generation_start(struct master_generation *gen)
{
	struct master_service **service;
	array_foreach(&gen->services, service)
		master_service_start_processes(*service);
}

static int prepare_base_dir(const struct columba_settings *set,
			    const char **error_r)
{
	if (mkdir(set->base_dir, 0755) < 0 && errno != EEXIST) {
		*error_r = t_strdup_printf("mkdir(%s) failed: %m", set->base_dir);
		return -1;
	}
	if (set->state_dir[0] != '\0' && mkdir(set->state_dir, 0750) < 0 &&
	    errno != EEXIST) {
		*error_r = t_strdup_printf("mkdir(%s) failed: %m", set->state_dir);
		return -1;
	}
	if (set->state_dir[0] != '\0') {
		/* the LMTP delivery journals (src/lmtp/lmtp-journal.c),
		   written by mail processes as default_internal_user; without
		   this directory they deliver without a journal */
		const char *dir = t_strdup_printf("%s/lmtp", set->state_dir);
		uid_t uid;
		gid_t gid;
		const char *error;
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			i_warning("mkdir(%s) failed: %m", dir);
		else if (geteuid() == 0 &&
			 restrict_access_lookup_user(set->default_internal_user,
						     &uid, &gid, &error) == 0) {
			/* its group may enter state_dir (0750) to reach it */
			struct stat st;
			if (chown(dir, uid, gid) < 0)
				i_warning("chown(%s) failed: %m", dir);
			else if (stat(set->state_dir, &st) == 0 &&
				 st.st_gid == 0 &&
				 chown(set->state_dir, (uid_t)-1, gid) < 0)
				i_warning("chown(%s) failed: %m", set->state_dir);
		}
	}
	return 0;
}

static void pid_file_check(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t ret = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (ret <= 0)
		return;
	buf[ret] = '\0';
	unsigned int pid;
	if (str_to_uint(t_str_trim(buf, " \n"), &pid) == 0 && pid > 0 &&
	    (pid_t)pid != getpid() &&
	    (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
		i_fatal("Columba is already running with PID %u (read from %s)",
			pid, path);
	}
}

static void pid_file_write(const char *path)
{
	const char *tmp = t_strdup_printf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		i_fatal("open(%s) failed: %m", tmp);
	const char *line = t_strdup_printf("%d\n", (int)getpid());
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line) ||
	    close(fd) < 0)
		i_fatal("write(%s) failed: %m", tmp);
	if (rename(tmp, path) < 0)
		i_fatal("rename(%s, %s) failed: %m", tmp, path);
}

static void master_finish_shutdown(void)
{
	timeout_remove(&to_shutdown);
	ioloop_stop(master_ioloop);
}

void master_process_exited(void)
{
	if (!master_shutting_down)
		return;
	if (master_processes_count() == 0)
		master_finish_shutdown();
	else
		master_processes_shutdown_late();
}

static void shutdown_timeout(void *context ATTR_UNUSED)
{
	master_processes_kill_all();
	/* the kills' exits are reaped by the child watches; give them a
	   moment, then go regardless */
	timeout_remove(&to_shutdown);
	to_shutdown = timeout_add(2000, (io_callback_t *)master_finish_shutdown,
				  NULL);
}

static void sig_shutdown(int signo, void *context ATTR_UNUSED)
{
	if (master_shutting_down) {
		if (signo == SIGINT) {
			i_warning("Second interrupt: stopping now");
			master_processes_kill_all();
			master_finish_shutdown();
		}
		return;
	}
	i_info("Got signal %d (%s): shutting down", signo, strsignal(signo));
	master_shutting_down = true;
	/* stop accepting first: the kernel refuses new connections at once
	   instead of queueing them for processes that are going away */
	master_listeners_close_all();
	master_processes_shutdown();
	unsigned int timeout_msecs =
		master_current_gen->set->shutdown_timeout * 1000;
	to_shutdown = timeout_add(timeout_msecs, shutdown_timeout, NULL);
	if (master_processes_count() == 0)
		master_finish_shutdown();
}

static void sig_reload(int signo ATTR_UNUSED, void *context ATTR_UNUSED)
{
	const char *error;
	if (master_shutting_down)
		return;
	i_info("SIGHUP received: reloading configuration from %s", config_path);
	struct config *config = config_parse_file(config_path, NULL, &error);
	if (config == NULL) {
		i_error("Reload failed, keeping the running configuration: %s",
			error);
		return;
	}
	const struct columba_settings *set = config_get_root(config);
	if (strcmp(set->base_dir, master_current_gen->set->base_dir) != 0) {
		i_error("Reload failed, keeping the running configuration: "
			"base_dir cannot change without a restart");
		config_free(&config);
		return;
	}
	if (prepare_base_dir(set, &error) < 0) {
		i_error("Reload failed: %s", error);
		config_free(&config);
		return;
	}
	struct master_generation *gen = generation_create(config, &error);
	if (gen == NULL) {
		i_error("Reload failed, keeping the running configuration: %s",
			error);
		config_free(&config);
		return;
	}
	struct master_generation *old = master_current_gen;
	master_current_gen = gen;
	master_generation_retire(old);
	master_generation_unref(&old);
	generation_start(gen);
	i_info("Configuration reloaded (generation %u): %s", gen->id,
	       master_listeners_describe(gen));
}

static void usage(void) ATTR_NORETURN;
static void usage(void)
{
	fprintf(stderr,
		"Usage: columba [-F] [-c CONFIG]      start the server\n"
		"       columba config [-n] [-c CONFIG]\n"
		"       columba stop | reload [-c CONFIG]\n"
		"       columba pw [-s SCHEME] [-p PASSWORD] [-r ROUNDS] [-t HASH] [-l]\n"
		"       columba --version\n");
	exit(64);
}

static void daemonize(void)
{
	pid_t pid = fork();
	if (pid < 0)
		i_fatal("fork() failed: %m");
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		i_fatal("setsid() failed: %m");
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (log_get_fd() != 2)
			dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

int master_main(int argc, char *argv[])
{
	bool foreground = false;
	int c;

	config_path = default_config_path();
	while ((c = getopt(argc, argv, "Fc:")) != -1) {
		switch (c) {
		case 'F':
			foreground = true;
			break;
		case 'c':
			config_path = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_set_prefix("master: ");

	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		i_fatal("readlink(/proc/self/exe) failed: %m");
	exe[len] = '\0';
	master_binary_path = exe;

	const char *error;
	struct config *config = config_parse_file(config_path, NULL, &error);
	if (config == NULL)
		i_fatal("%s", error);
	const struct columba_settings *set = config_get_root(config);
	log_set_timestamp_format(set->log_timestamp);

	if (set->log_path[0] != '\0') {
		if (log_open_path(set->log_path, &error) < 0)
			i_fatal("log_path: %s", error);
		/* children inherit the log as their stderr */
		if (dup2(log_get_fd(), 2) < 0)
			i_fatal("dup2(log) failed: %m");
	}
	if (prepare_base_dir(set, &error) < 0)
		i_fatal("%s", error);
	pid_file_path = i_strdup_printf("%s/%s", set->base_dir, MASTER_PID_FILE);
	pid_file_check(pid_file_path);

	master_ioloop = ioloop_create();
	/* signals are blocked (routed to the loop) before any child exists */
	struct signal_watch *sig_term = signal_add(SIGTERM, sig_shutdown, NULL);
	struct signal_watch *sig_int = signal_add(SIGINT, sig_shutdown, NULL);
	struct signal_watch *sig_hup = signal_add(SIGHUP, sig_reload, NULL);
	signal(SIGPIPE, SIG_IGN);

	master_current_gen = generation_create(config, &error);
	if (master_current_gen == NULL)
		i_fatal("%s", error);

	if (!foreground)
		daemonize();
	pid_file_write(pid_file_path);

	i_info("Columba %s starting up (%s) as %s: %s", COLUMBA_VERSION,
	       config_path, geteuid() == 0 ? "root" : "an unprivileged user",
	       master_listeners_describe(master_current_gen));
	generation_start(master_current_gen);

	ioloop_run(master_ioloop);

	i_info("Columba stopped");
	(void)unlink(pid_file_path);
	free(pid_file_path);
	master_listeners_close_all();
	master_generation_unref(&master_current_gen);
	master_listeners_close_unused();
	signal_remove(&sig_term);
	signal_remove(&sig_int);
	signal_remove(&sig_hup);
	ioloop_destroy(&master_ioloop);
	return 0;
}
