/* Starting and supervising service processes. A child is this same binary
   exec'd as "columba service NAME" with the master channel, the config
   memfd and its listeners on fixed fds; its exit is logged with the reason
   and, unless it was meant to go, it is restarted with back-off. */
#include "lib.h"
#include "ioloop.h"
#include "ipc.h"
#include "config.h"
#include "master-interface.h"
#include "restrict-access.h"
#include "master.h"
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <sys/resource.h>

/* A process that dies sooner than this after starting counts as a quick
   death: the next restart waits, doubling up to the maximum. */
#define MASTER_QUICK_DEATH_MSECS (30 * 1000)
#define MASTER_RESTART_MAX_DELAY_MSECS (60 * 1000)

static struct master_process *all_processes;
static unsigned int all_process_count;

static void process_free(struct master_process *process);
static void service_schedule_restart(struct master_service *service);

unsigned int master_processes_count(void)
{
	return all_process_count;
}

static void process_link(struct master_process *process)
{
	/* all processes in one list; a service counts its own */
	process->next = all_processes;
	if (all_processes != NULL)
		all_processes->prev = process;
	all_processes = process;
	all_process_count++;
	process->service->process_count++;
}

static void process_unlink(struct master_process *process)
{
	if (process->prev != NULL)
		process->prev->next = process->next;
	else
		all_processes = process->next;
	if (process->next != NULL)
		process->next->prev = process->prev;
	all_process_count--;
	if (!process->counted_out)
		process->service->process_count--;
}

static void process_kill(struct master_process *process, int signo)
{
	if (process->pid > 0 && kill(process->pid, signo) < 0 && errno != ESRCH)
		i_error("kill(%d, %d) failed: %m", (int)process->pid, signo);
}

static void process_msg(struct ipc *ipc, struct ipc_msg *msg, void *context)
{
	struct master_process *process = context;
	struct ipc_reader r;
	const char *error;

	switch ((enum master_msg_type)msg->type) {
	case MASTER_MSG_READY:
		process->ready = true;
		i_debug("service(%s): process %d ready", process->service->name,
			(int)process->pid);
		break;
	case MASTER_MSG_STATUS:
		ipc_reader_init(&r, msg->data, msg->size);
		process->client_count = ipc_read_u32(&r);
		process->full = ipc_read_bool(&r);
		if (ipc_reader_finish(&r, &error) < 0)
			ipc_protocol_violation(ipc, "STATUS: %s", error);
		break;
	case MASTER_MSG_DONE_ACCEPTING:
		if (!process->retiring) {
			process->retiring = true;
			/* keep the service's capacity: a replacement starts
			   while this one finishes its clients */
			process->service->process_count--;
			process->counted_out = true;
			master_service_start_processes(process->service);
		}
		break;
	case MASTER_MSG_STOP_ACCEPTING:
	case MASTER_MSG_SHUTDOWN:
	default:
		ipc_protocol_violation(ipc, "unexpected message type %u",
				       msg->type);
		break;
	}
}

static void process_ipc_closed(struct ipc *ipc ATTR_UNUSED,
			       const char *reason ATTR_UNUSED, void *context)
{
	struct master_process *process = context;
	/* the exit itself arrives through the child watch */
	ipc_destroy(&process->ipc);
}

static void process_ipc_error(struct ipc *ipc ATTR_UNUSED, const char *error,
			      void *context)
{
	struct master_process *process = context;
	/* a child that breaks the protocol is not trusted any further */
	i_error("service(%s): process %d broke the master protocol (%s): "
		"killing it", process->service->name, (int)process->pid, error);
	ipc_destroy(&process->ipc);
	process->killed = true;
	process_kill(process, SIGKILL);
}

static const char *exit_reason(int status)
{
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		return t_strdup_printf("killed with signal %d (%s)%s", sig,
				       strsignal(sig),
				       WCOREDUMP(status) ? " (core dumped)" : "");
	}
	int code = WEXITSTATUS(status);
	if (code == FATAL_EXIT_CODE)
		return t_strdup_printf("returned error %d (fatal failure)", code);
	return t_strdup_printf("returned error %d", code);
}

static void process_exited(pid_t pid, int status, void *context)
{
	struct master_process *process = context;
	struct master_service *service = process->service;
	bool expected = process->retiring || master_shutting_down ||
		service->gen->retired;
	bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;

	if (!clean && !(expected && process->killed)) {
		i_error("service(%s): child %d %s", service->name, (int)pid,
			exit_reason(status));
	} else {
		i_debug("service(%s): child %d exited", service->name, (int)pid);
	}

	uint64_t lived = ioloop_msecs_monotonic() - process->started_msecs;
	process_free(process);

	if (!expected) {
		/* It was meant to keep running (a crash, a fatal error or an
		   unexpected clean exit): replace it, slowly if processes of
		   this service keep dying young. */
		if (lived < MASTER_QUICK_DEATH_MSECS || !clean)
			service->quick_deaths = lived < MASTER_QUICK_DEATH_MSECS ?
				service->quick_deaths + 1 : 0;
		service_schedule_restart(service);
	}
	master_process_exited();
}

static void process_free(struct master_process *process)
{
	struct master_service *service = process->service;
	struct master_generation *gen = service->gen;
	process_unlink(process);
	child_watch_remove(&process->child_watch);
	if (process->ipc != NULL)
		ipc_destroy(&process->ipc);
	free(process);
	master_generation_unref(&gen);
}

static const char *listeners_env(const struct master_service *service)
{
	string_t *str = t_str_new(128);
	struct master_listener *const *l;
	array_foreach(&service->listeners, l) {
		if (str_len(str) > 0)
			str_append_c(str, ' ');
		str_printfa(str, "%c:%c:%s",
			    (*l)->kind == MASTER_LISTENER_KIND_UNIX ? 'u' : 'i',
			    (*l)->ssl ? 's' : 'p', (*l)->name);
	}
	return str_c(str);
}

/* In the forked child: put every inherited fd on its fixed number. Moving
   them above the target range first keeps dup2() from overwriting an fd
   that is still to be moved. */
static void child_setup_fds(int ipc_fd, int config_fd,
			    const struct master_service *service)
{
	unsigned int nlisteners = array_count(&service->listeners);
	int count = 2 + (int)nlisteners;
	int *src = t_new(int, (size_t)count);
	int high = MASTER_LISTEN_FD_FIRST + count + 16;

	src[0] = ipc_fd;
	src[1] = config_fd;
	for (unsigned int i = 0; i < nlisteners; i++)
		src[2 + i] = (*array_idx(&service->listeners, i))->fd;
	for (int i = 0; i < count; i++) {
		int fd = fcntl(src[i], F_DUPFD, high);
		if (fd < 0)
			_exit(FATAL_EXIT_CODE);
		src[i] = fd;
	}
	for (int i = 0; i < count; i++) {
		if (dup2(src[i], MASTER_CHANNEL_FD + i) < 0)
			_exit(FATAL_EXIT_CODE);
	}
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0) {
		dup2(devnull, 0);
		if (devnull > 2)
			close(devnull);
	}
	/* stdout goes where the log goes */
	dup2(2, 1);
	/* everything else is closed: the child must not hold the master's
	   other sockets (other services' listeners, other children's
	   channels) */
	close_range((unsigned int)(MASTER_CHANNEL_FD + count), ~0U, 0);
}

/* In the forked child: the address-space limit of vsz_limit. Sanitizer
   builds reserve terabytes of shadow memory up front, so the limit would
   only make them fail to start. */
static void child_set_vsz_limit(const struct master_service *service)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)service;
#else
	if (service->set->vsz_limit == 0)
		return;
	struct rlimit rl = {
		.rlim_cur = (rlim_t)service->set->vsz_limit,
		.rlim_max = (rlim_t)service->set->vsz_limit,
	};
	if (setrlimit(RLIMIT_AS, &rl) < 0)
		i_error("service(%s): setrlimit(RLIMIT_AS, %llu) failed: %m",
			service->name, (unsigned long long)service->set->vsz_limit);
#endif
}

/* In the forked child: enough fds for client_limit connections (each may
   need two: the client and, later, a proxy or relay socket). Root may raise
   the hard limit; others get up to theirs. */
static void child_set_fd_limit(const struct master_service *service)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)service->set->client_limit * 2 + 128;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want && geteuid() == 0)
		rl.rlim_max = want;
	rl.rlim_cur = I_MIN(want, rl.rlim_max);
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

static void master_process_start(struct master_service *service)
{
	int fds[2];
	const char *error;

	if (ipc_pair(fds, &error) < 0) {
		i_error("service(%s): %s", service->name, error);
		service_schedule_restart(service);
		return;
	}

	pid_t pid = fork();
	if (pid < 0) {
		i_error("service(%s): fork() failed: %m", service->name);
		close(fds[0]);
		close(fds[1]);
		service_schedule_restart(service);
		return;
	}
	if (pid == 0) {
		/* child */
		const struct columba_settings *set = service->gen->set;
		const char *const *env =
			columba_settings_child_environment(set, pool_datastack);
		struct restrict_access_settings rset = {
			.uid = service->uid, .gid = service->gid,
			.chroot_dir = service->chroot_dir,
		};
		const char *listeners = listeners_env(service);
#if defined(__SANITIZE_ADDRESS__)
		/* Sanitizer builds (the test suite): children keep the
		   sanitizer options, and a chrooted child cannot run
		   LeakSanitizer (it reads /proc at exit), so it skips only
		   that. */
		const char *asan_opts = getenv("ASAN_OPTIONS");
		const char *ubsan_opts = getenv("UBSAN_OPTIONS");
		asan_opts = t_strdup_printf("%s%s%s",
			asan_opts == NULL ? "" : asan_opts,
			asan_opts == NULL ? "" : ":",
			service->chroot_dir != NULL ? "detect_leaks=0" : "");
		ubsan_opts = t_strdup(ubsan_opts);
#endif

		close(fds[0]);
		child_set_fd_limit(service);
		child_set_vsz_limit(service);
		child_setup_fds(fds[1], service->gen->config_fd, service);
		ioloop_reset_signals_for_exec();
		signal(SIGPIPE, SIG_DFL);

		clearenv();
		for (; *env != NULL; env++)
			putenv((char *)*env);
		setenv(MASTER_ENV_SERVICE, service->name, 1);
		setenv(MASTER_ENV_LISTENERS, listeners, 1);
		setenv(MASTER_ENV_GENERATION,
		       t_strdup_printf("%u", service->gen->id), 1);
		restrict_access_set_env(&rset);
#if defined(__SANITIZE_ADDRESS__)
		if (asan_opts[0] != '\0')
			setenv("ASAN_OPTIONS", asan_opts, 1);
		if (ubsan_opts != NULL)
			setenv("UBSAN_OPTIONS", ubsan_opts, 1);
#endif

		char *argv[] = { (char *)"columba", (char *)"service",
				 (char *)service->name, NULL };
		execv(master_binary_path, argv);
		i_fatal("execv(%s) failed: %m", master_binary_path);
	}

	close(fds[1]);
	struct master_process *process = i_new(struct master_process, 1);
	process->service = service;
	process->pid = pid;
	process->started_msecs = ioloop_msecs_monotonic();
	service->gen->refcount++;
	struct ipc_callbacks cb = {
		.msg = process_msg,
		.close = process_ipc_closed,
		.protocol_error = process_ipc_error,
	};
	process->ipc = ipc_create(fds[0], t_strdup_printf("%s %d",
				  service->name, (int)pid), &cb, process);
	process->child_watch = child_watch_add(pid, process_exited, process);
	process_link(process);
	i_debug("service(%s): started process %d", service->name, (int)pid);
}

static void service_restart_timeout(void *context)
{
	struct master_service *service = context;
	timeout_remove(&service->to_restart);
	master_service_start_processes(service);
}

static void service_schedule_restart(struct master_service *service)
{
	if (master_shutting_down || service->gen->retired ||
	    service->to_restart != NULL)
		return;
	unsigned int delay = 0;
	if (service->quick_deaths > 1) {
		/* 1, 2, 4 ... seconds */
		unsigned int shift = I_MIN(service->quick_deaths - 2, 10U);
		delay = I_MIN(1000U << shift,
			      (unsigned int)MASTER_RESTART_MAX_DELAY_MSECS);
		i_warning("service(%s): processes keep dying soon after start: "
			  "waiting %u seconds before restarting",
			  service->name, delay / 1000);
	}
	service->to_restart = timeout_add(delay, service_restart_timeout, service);
}

void master_service_start_processes(struct master_service *service)
{
	if (master_shutting_down || service->gen->retired)
		return;
	while (service->process_count < service->process_target)
		master_process_start(service);
}

void master_generation_retire(struct master_generation *gen)
{
	gen->retired = true;
	for (struct master_process *p = all_processes; p != NULL; p = p->next) {
		if (p->service->gen != gen)
			continue;
		p->retiring = true;
		if (p->ipc != NULL)
			ipc_send(p->ipc, MASTER_MSG_STOP_ACCEPTING, NULL, 0);
		else
			process_kill(p, SIGTERM);
	}
	/* The retiring processes hold their own copies of the listening
	   sockets until they close them; the master needs the generation's
	   no longer, so a port the new configuration dropped closes now,
	   not when the last old session ends. */
	struct master_service **service;
	array_foreach(&gen->services, service) {
		struct master_listener **l;
		timeout_remove(&(*service)->to_restart);
		array_foreach(&(*service)->listeners, l)
			master_listener_unref(l);
		array_clear(&(*service)->listeners);
	}
	master_listeners_close_unused();
}

/* The auth processes stop last: the login processes and the mail
   processes' sessions still use them while they stop, and a login
   process that saw its auth connection close before its own shutdown
   message would log it as an error. */
static bool process_stops_late(const struct master_process *p)
{
	return strcmp(p->service->name, "auth") == 0;
}

static void process_shutdown(struct master_process *p)
{
	if (p->shutdown_sent)
		return;
	p->shutdown_sent = true;
	p->retiring = true;
	if (p->ipc != NULL)
		ipc_send(p->ipc, MASTER_MSG_SHUTDOWN, NULL, 0);
	else
		process_kill(p, SIGTERM);
}

void master_processes_shutdown(void)
{
	bool others = false;

	for (struct master_process *p = all_processes; p != NULL; p = p->next) {
		if (!process_stops_late(p)) {
			others = true;
			process_shutdown(p);
		}
	}
	if (!others)
		master_processes_shutdown_late();
}

void master_processes_shutdown_late(void)
{
	struct master_process *p;

	for (p = all_processes; p != NULL; p = p->next) {
		if (!process_stops_late(p))
			return;
	}
	for (p = all_processes; p != NULL; p = p->next)
		process_shutdown(p);
}

void master_processes_kill_all(void)
{
	for (struct master_process *p = all_processes; p != NULL; p = p->next) {
		i_warning("service(%s): process %d did not stop in time: killing it",
			  p->service->name, (int)p->pid);
		p->killed = true;
		process_kill(p, SIGKILL);
	}
}

void master_generation_unref(struct master_generation **_gen)
{
	struct master_generation *gen = *_gen;
	*_gen = NULL;
	i_assert(gen->refcount > 0);
	if (--gen->refcount > 0)
		return;

	struct master_service **service;
	array_foreach(&gen->services, service) {
		struct master_listener **l;
		array_foreach(&(*service)->listeners, l)
			master_listener_unref(l);
		array_free(&(*service)->listeners);
		timeout_remove(&(*service)->to_restart);
		free((*service)->chroot_dir);
		free(*service);
	}
	array_free(&gen->services);
	master_listeners_close_unused();
	if (gen->config_fd != -1)
		close(gen->config_fd);
	config_free(&gen->config);
	free(gen);
}
