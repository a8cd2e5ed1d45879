/* The life of a service process started by the master: read the
   configuration and the listeners it was given, drop privileges, accept
   connections, report status on the master channel, and stop accepting or
   shut down when told. Every daemon's main() goes through this.

     struct master_service *service =
             master_service_init("imap-login", &callbacks, ctx);
     ... load what needs privileges (certificates) ...
     master_service_init_finish(service);   (drops privileges, accepts)
     master_service_run(service);
     master_service_deinit(&service);
*/
#ifndef COLUMBA_MASTER_SERVICE_H
#define COLUMBA_MASTER_SERVICE_H

#include "net.h"

struct config;
struct columba_settings;
struct service_settings;

enum master_listener_type {
	MASTER_LISTENER_INET,
	MASTER_LISTENER_UNIX,
};

struct master_service_listener {
	/* inet_listener name ("imaps") or unix_listener path */
	const char *name;
	enum master_listener_type type;
	/* implicit TLS */
	bool ssl;
	int fd;
	/* internal */
	struct io *io;
	struct master_service *service;
};

/* One accepted connection, handed to the accept callback. The callback
   owns fd from then on. */
struct master_service_connection {
	int fd;
	const struct master_service_listener *listener;
	struct ip_addr remote_ip, local_ip;
	in_port_t remote_port, local_port;
};

struct master_service_callbacks {
	/* A client connected. Required for services with listeners. */
	void (*accept)(struct master_service_connection *conn, void *context);
	/* The master asked this process to stop accepting (reload) or the
	   server is shutting down (shutdown = true). Accepting has already
	   stopped. The service ends its clients as it sees fit and calls
	   master_service_client_disconnected() for each; the process exits
	   when none is left (or at once if it serves none). Optional. */
	void (*stop)(bool shutdown, void *context);
};

struct master_service;

/* Initialise from the environment and fds the master set up. Fatal if the
   process was not started by the master (no COLUMBA_SERVICE). Creates the
   ioloop, parses the configuration, sets the log prefix to "name(pid): ".
   Does not yet accept or drop privileges. */
struct master_service *
master_service_init(const char *name,
		    const struct master_service_callbacks *callbacks,
		    void *context);
/* Apply the chroot/uid/gid the master asked for, start accepting and tell
   the master we are ready. */
void master_service_init_finish(struct master_service *service);
void master_service_run(struct master_service *service);
void master_service_deinit(struct master_service **service);

const struct config *master_service_get_config(struct master_service *service);
const struct columba_settings *
master_service_get_settings(struct master_service *service);
/* This service's own section. */
const struct service_settings *
master_service_get_service_settings(struct master_service *service);
const char *master_service_get_name(struct master_service *service);
/* The configuration generation this process was started with. */
unsigned int master_service_get_generation(struct master_service *service);
/* True after stop/shutdown began. */
bool master_service_is_stopping(struct master_service *service);
/* False while the process takes no new clients: stopping, or at
   client_limit. */
bool master_service_is_accepting(struct master_service *service);

/* Client accounting: the master learns how busy each process is, and the
   process stops accepting at client_limit and exits when it is stopping
   and the last client is gone. */
void master_service_client_connected(struct master_service *service);
void master_service_client_disconnected(struct master_service *service);
unsigned int master_service_get_client_count(struct master_service *service);

/* Stop the ioloop and exit master_service_run(). */
void master_service_stop(struct master_service *service);

#endif
