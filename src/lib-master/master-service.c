/* Service-process side of the master interface: inherited fds, the config
   memfd, privilege dropping, accepting with client limits and the master
   channel. */
#include "lib.h"
#include "ioloop.h"
#include "ipc.h"
#include "net.h"
#include "config.h"
#include "master-interface.h"
#include "restrict-access.h"
#include "master-service.h"
#include <signal.h>
#include <sys/stat.h>

/* How long to wait before accepting again after EMFILE and friends. */
#define MASTER_SERVICE_ACCEPT_RETRY_MSECS 1000

struct master_service {
	char *name;
	struct ioloop *ioloop;
	struct config *config;
	const struct columba_settings *set;
	const struct service_settings *service_set;
	unsigned int generation;
	struct master_service_callbacks callbacks;
	void *context;

	struct ipc *master_ipc;
	ARRAY(struct master_service_listener) listeners;
	struct timeout *to_accept_retry;
	struct signal_watch *sig_term, *sig_int, *sig_hup;

	unsigned int client_limit, client_count;
	/* clients served since start, for service_count */
	unsigned int clients_served;
	bool accepting, stopping, shutting_down, full;
	bool ready;
};

static void master_service_accept_start(struct master_service *service);
static void master_service_accept_stop(struct master_service *service);
static void master_service_begin_stop(struct master_service *service,
				      bool shutdown);

static void master_service_send_status(struct master_service *service)
{
	if (service->master_ipc == NULL || !service->ready)
		return;
	buffer_t *buf = t_str_new(8);
	ipc_put_u32(buf, service->client_count);
	ipc_put_bool(buf, service->full);
	ipc_send(service->master_ipc, MASTER_MSG_STATUS, buf->data, buf->used);
}

static void master_service_check_exit(struct master_service *service)
{
	if (service->stopping && service->client_count == 0)
		ioloop_stop(service->ioloop);
}

static void master_service_accept_retry(void *context)
{
	struct master_service *service = context;
	timeout_remove(&service->to_accept_retry);
	if (!service->stopping && !service->full)
		master_service_accept_start(service);
}

static void listener_accept(void *context)
{
	struct master_service_listener *l = context;
	struct master_service *service = l->service;

	/* take a few at once: a connection burst should not cost one loop
	   round each */
	for (unsigned int i = 0; i < 32 && service->accepting; i++) {
		struct master_service_connection conn = {
			.listener = l,
		};
		int fd = net_accept(l->fd, &conn.remote_ip, &conn.remote_port,
				    &conn.local_ip, &conn.local_port);
		if (fd == -1)
			return;
		if (fd == -2) {
			i_error("accept(%s) failed: %m", l->name);
			/* EMFILE etc.: pause instead of spinning */
			master_service_accept_stop(service);
			if (service->to_accept_retry == NULL) {
				service->to_accept_retry =
					timeout_add(MASTER_SERVICE_ACCEPT_RETRY_MSECS,
						    master_service_accept_retry,
						    service);
			}
			return;
		}
		conn.fd = fd;
		if (l->type == MASTER_LISTENER_INET) {
			/* Replies are corked per callback, so Nagle saves
			   nothing; with TLS it would hold the record after the
			   handshake (session tickets, then the greeting) until
			   the client's delayed ACK, ~40 ms per connection. */
			(void)net_set_nodelay(fd, true);
		}
		if (service->callbacks.accept == NULL) {
			close(fd);
			continue;
		}
		service->callbacks.accept(&conn, service->context);
	}
}

static void master_service_accept_start(struct master_service *service)
{
	if (service->accepting)
		return;
	struct master_service_listener *l;
	/* the listeners array is complete before accepting starts and never
	   grows afterwards, so pointers into it stay valid */
	array_foreach(&service->listeners, l) {
		if (l->fd != -1 && l->io == NULL)
			l->io = io_add(l->fd, IO_READ, listener_accept, l);
	}
	service->accepting = true;
}

static void master_service_accept_stop(struct master_service *service)
{
	struct master_service_listener *l;
	array_foreach(&service->listeners, l)
		io_remove(&l->io);
	service->accepting = false;
}

static void master_service_close_listeners(struct master_service *service)
{
	struct master_service_listener *l;
	master_service_accept_stop(service);
	array_foreach(&service->listeners, l) {
		if (l->fd != -1) {
			close(l->fd);
			l->fd = -1;
		}
	}
}

static void master_service_begin_stop(struct master_service *service,
				      bool shutdown)
{
	if (shutdown)
		service->shutting_down = true;
	if (service->stopping && !shutdown)
		return;
	bool first = !service->stopping;
	service->stopping = true;
	timeout_remove(&service->to_accept_retry);
	/* Closing our copies lets the master's rebinding or exit really
	   release the ports once every process has closed them. */
	master_service_close_listeners(service);
	if (first || shutdown) {
		if (service->callbacks.stop != NULL)
			service->callbacks.stop(shutdown, service->context);
	}
	master_service_check_exit(service);
}

static void master_msg_input(struct ipc *ipc, struct ipc_msg *msg,
			     void *context)
{
	struct master_service *service = context;
	switch ((enum master_msg_type)msg->type) {
	case MASTER_MSG_STOP_ACCEPTING:
		master_service_begin_stop(service, false);
		break;
	case MASTER_MSG_SHUTDOWN:
		master_service_begin_stop(service, true);
		break;
	case MASTER_MSG_READY:
	case MASTER_MSG_STATUS:
	case MASTER_MSG_DONE_ACCEPTING:
	default:
		ipc_protocol_violation(ipc, "unexpected message type %u",
				       msg->type);
		break;
	}
}

static void master_channel_closed(struct ipc *ipc ATTR_UNUSED,
				  const char *reason, void *context)
{
	struct master_service *service = context;
	/* The master is gone (crashed or killed). Finish what we have but
	   take nothing new: a new master will start its own processes. */
	i_warning("Master channel closed (%s): stopping", reason);
	ipc_destroy(&service->master_ipc);
	master_service_begin_stop(service, false);
}

static void sig_terminate(int signo, void *context)
{
	struct master_service *service = context;
	if (signo == SIGINT) {
		/* Ctrl-C in a terminal reaches the whole process group: the
		   master handles it and tells us what to do. */
		return;
	}
	master_service_begin_stop(service, true);
}

static void sig_ignore(int signo ATTR_UNUSED, void *context ATTR_UNUSED)
{
}

static char *read_config_fd(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		i_fatal("fstat(config fd %d) failed: %m", fd);
	if (st.st_size > 64 * 1024 * 1024)
		i_fatal("Configuration passed by the master is too large");
	size_t size = (size_t)st.st_size;
	char *text = i_malloc(size + 1);
	size_t pos = 0;
	while (pos < size) {
		ssize_t ret = pread(fd, text + pos, size - pos, (off_t)pos);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			i_fatal("pread(config fd) failed: %m");
		}
		if (ret == 0)
			break;
		pos += (size_t)ret;
	}
	text[pos] = '\0';
	return text;
}

static void master_service_parse_listeners(struct master_service *service)
{
	const char *env = getenv(MASTER_ENV_LISTENERS);
	array_init(&service->listeners, system_pool, 4);
	if (env == NULL || *env == '\0')
		return;

	const char *const *items = t_strsplit_spaces(env, " ");
	int fd = MASTER_LISTEN_FD_FIRST;
	for (; *items != NULL; items++, fd++) {
		/* "type:ssl:name" — the name last, since a unix listener's
		   path could contain ':' */
		const char *item = *items;
		struct master_service_listener *l =
			array_append_space(&service->listeners);
		if (strlen(item) < 4 || item[1] != ':' || item[3] != ':')
			i_fatal("Invalid %s item: %s", MASTER_ENV_LISTENERS, item);
		l->type = item[0] == 'u' ? MASTER_LISTENER_UNIX :
			MASTER_LISTENER_INET;
		l->ssl = item[2] == 's';
		l->name = i_strdup(item + 4);
		l->fd = fd;
		l->service = service;
		fd_close_on_exec(fd, true);
		fd_set_nonblock(fd, true);
	}
}

struct master_service *
master_service_init(const char *name,
		    const struct master_service_callbacks *callbacks,
		    void *context)
{
	const char *env_name = getenv(MASTER_ENV_SERVICE);
	if (env_name == NULL) {
		fprintf(stderr, "columba: the %s service is started by the "
			"master process, not by hand\n", name);
		exit(FATAL_EXIT_CODE);
	}
	if (strcmp(env_name, name) != 0)
		i_fatal("Started as %s but the master says %s", name, env_name);

	struct master_service *service = i_new(struct master_service, 1);
	service->name = i_strdup(name);
	if (callbacks != NULL)
		service->callbacks = *callbacks;
	service->context = context;
	log_set_prefix(t_strdup_printf("%s(%d): ", name, (int)getpid()));

	const char *gen = getenv(MASTER_ENV_GENERATION);
	if (gen == NULL || str_to_uint(gen, &service->generation) < 0)
		service->generation = 0;

	service->ioloop = ioloop_create();

	/* configuration */
	char *text = read_config_fd(MASTER_CONFIG_FD);
	close(MASTER_CONFIG_FD);
	const char *error;
	service->config = config_parse_string(text, "master", NULL, &error);
	safe_memset(text, 0, strlen(text));
	free(text);
	if (service->config == NULL)
		i_fatal("Invalid configuration from the master: %s", error);
	service->set = config_get_root(service->config);
	log_set_timestamp_format(service->set->log_timestamp);
	service->service_set = columba_settings_find_service(service->set, name);
	if (service->service_set == NULL)
		i_fatal("No service %s in the configuration", name);
	service->client_limit = service->service_set->client_limit;
	const char *limit = getenv(MASTER_ENV_CLIENT_LIMIT);
	if (limit != NULL && str_to_uint(limit, &service->client_limit) < 0)
		i_fatal("Invalid %s: %s", MASTER_ENV_CLIENT_LIMIT, limit);

	/* master channel */
	fd_close_on_exec(MASTER_CHANNEL_FD, true);
	struct ipc_callbacks ipc_cb = {
		.msg = master_msg_input,
		.close = master_channel_closed,
	};
	service->master_ipc = ipc_create(MASTER_CHANNEL_FD, "master", &ipc_cb,
					 service);

	master_service_parse_listeners(service);

	service->sig_term = signal_add(SIGTERM, sig_terminate, service);
	service->sig_int = signal_add(SIGINT, sig_terminate, service);
	service->sig_hup = signal_add(SIGHUP, sig_ignore, NULL);
	signal(SIGPIPE, SIG_IGN);
	return service;
}

void master_service_init_finish(struct master_service *service)
{
	struct restrict_access_settings rset;
	restrict_access_get_env(&rset);
	restrict_access_apply(&rset);

	service->ready = true;
	ipc_send(service->master_ipc, MASTER_MSG_READY, NULL, 0);
	if (!service->stopping)
		master_service_accept_start(service);
}

void master_service_run(struct master_service *service)
{
	if (service->stopping && service->client_count == 0)
		return;
	ioloop_run(service->ioloop);
}

void master_service_stop(struct master_service *service)
{
	ioloop_stop(service->ioloop);
}

void master_service_deinit(struct master_service **_service)
{
	struct master_service *service = *_service;
	*_service = NULL;

	master_service_close_listeners(service);
	timeout_remove(&service->to_accept_retry);
	if (service->master_ipc != NULL) {
		const char *error;
		/* best effort: a final status so the master's view is right */
		if (ipc_flush_blocking(service->master_ipc, 1000, &error) < 0)
			i_debug("master channel flush failed: %s", error);
		ipc_destroy(&service->master_ipc);
	}
	signal_remove(&service->sig_term);
	signal_remove(&service->sig_int);
	signal_remove(&service->sig_hup);
	struct master_service_listener *l;
	array_foreach(&service->listeners, l)
		free((char *)l->name);
	array_free(&service->listeners);
	config_free(&service->config);
	ioloop_destroy(&service->ioloop);
	free(service->name);
	free(service);
}

const struct config *master_service_get_config(struct master_service *service)
{
	return service->config;
}

const struct columba_settings *
master_service_get_settings(struct master_service *service)
{
	return service->set;
}

const struct service_settings *
master_service_get_service_settings(struct master_service *service)
{
	return service->service_set;
}

const char *master_service_get_name(struct master_service *service)
{
	return service->name;
}

unsigned int master_service_get_generation(struct master_service *service)
{
	return service->generation;
}

bool master_service_is_stopping(struct master_service *service)
{
	return service->stopping;
}

bool master_service_is_accepting(struct master_service *service)
{
	return !service->stopping && !service->full;
}

void master_service_client_connected(struct master_service *service)
{
	service->client_count++;
	service->clients_served++;
	if (service->service_set->service_count > 0 &&
	    service->clients_served >= service->service_set->service_count &&
	    !service->stopping) {
		/* served our share: a fresh process takes over */
		if (service->master_ipc != NULL) {
			ipc_send(service->master_ipc, MASTER_MSG_DONE_ACCEPTING,
				 NULL, 0);
		}
		service->stopping = true;
		master_service_close_listeners(service);
	}
	if (service->client_limit > 0 &&
	    service->client_count >= service->client_limit) {
		service->full = true;
		master_service_accept_stop(service);
	}
	master_service_send_status(service);
}

void master_service_client_disconnected(struct master_service *service)
{
	i_assert(service->client_count > 0);
	service->client_count--;
	if (service->full && service->client_count < service->client_limit) {
		service->full = false;
		if (!service->stopping)
			master_service_accept_start(service);
	}
	master_service_send_status(service);
	master_service_check_exit(service);
}

unsigned int master_service_get_client_count(struct master_service *service)
{
	return service->client_count;
}
