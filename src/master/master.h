/* The master process: binds listeners, starts and supervises service
   processes, reloads configuration and shuts down. */
#ifndef COLUMBA_MASTER_H
#define COLUMBA_MASTER_H

#include "net.h"

struct config;
struct columba_settings;
struct service_settings;
struct ipc;

enum master_listener_kind {
	MASTER_LISTENER_KIND_INET,
	MASTER_LISTENER_KIND_UNIX,
};

/* A bound listening socket. Listeners outlive configuration generations:
   on reload an identical listener (same kind, address/port or path) keeps
   its socket, so connection attempts are never refused during a reload. */
struct master_listener {
	int refcount;
	enum master_listener_kind kind;
	/* "inet:127.0.0.1:143", "unix:/run/columba/login/auth": identity
	   across reloads */
	char *key;
	/* the inet_listener's name, or the unix socket's path as configured */
	char *name;
	bool ssl;
	struct ip_addr ip;
	in_port_t port;
	char *path;
	int fd;
};

struct master_process;

/* A service of one configuration generation. */
struct master_service {
	struct master_generation *gen;
	const struct service_settings *set;
	const char *name;
	uid_t uid;
	gid_t gid;
	char *chroot_dir;
	unsigned int process_target;
	ARRAY(struct master_listener *) listeners;

	struct master_process *processes;
	unsigned int process_count;
	/* restart back-off */
	unsigned int quick_deaths;
	struct timeout *to_restart;
};

struct master_generation {
	unsigned int id;
	int refcount;
	struct config *config;
	const struct columba_settings *set;
	/* memfd with the effective configuration for the children */
	int config_fd;
	ARRAY(struct master_service *) services;
	bool retired;
};

struct master_process {
	struct master_process *prev, *next;
	struct master_service *service;
	pid_t pid;
	struct ipc *ipc;
	struct child_watch *child_watch;
	uint64_t started_msecs;
	unsigned int client_count;
	bool ready, full, retiring, killed;
	/* no longer counted in service->process_count (replaced early) */
	bool counted_out;
	/* told to shut down (master stopping) */
	bool shutdown_sent;
};

/* master-listener.c */
/* Bind (or reuse from the current set) every listener the generation's
   services need and attach them. Returns 0, or -1 with *error_r; on error
   nothing of the new generation's listeners stays bound. */
int master_listeners_bind(struct master_generation *gen, const char **error_r);
void master_listener_unref(struct master_listener **listener);
/* Close every listener no generation holds any more. */
void master_listeners_close_unused(void);
/* Close all master copies (shutdown). */
void master_listeners_close_all(void);
/* "imap 127.0.0.1:10143, imaps 127.0.0.1:10993" for the start-up line. */
const char *master_listeners_describe(const struct master_generation *gen);

/* master-process.c */
void master_service_start_processes(struct master_service *service);
/* Tell every process of the generation to stop accepting and exit when
   idle. */
void master_generation_retire(struct master_generation *gen);
/* Send SHUTDOWN to every process of every generation. */
void master_processes_shutdown(void);
/* During shutdown, when a process has exited: once only auth processes
   are left, tell them to stop too. */
void master_processes_shutdown_late(void);
/* SIGKILL whatever is still running. */
void master_processes_kill_all(void);
unsigned int master_processes_count(void);
void master_generation_unref(struct master_generation **gen);

/* master-main.c */
extern struct master_generation *master_current_gen;
extern bool master_shutting_down;
extern const char *master_binary_path;
/* Called whenever a process exits, so shutdown can finish when the last
   one is gone. */
void master_process_exited(void);

int master_main(int argc, char *argv[]);

#endif
