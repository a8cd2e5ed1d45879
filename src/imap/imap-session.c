/* The entry points the mail process calls (mail-session.h): start a
   session on a handed-off connection, stop them all. */
#include "lib.h"
#include "conn.h"
#include "event.h"
#include "imap-common.h"
#include "imap-relay.h"
#include "mail-session.h"
#include "master-service.h"
#include <sys/stat.h>

static bool fds_are_same(int fd1, int fd2)
{
	struct stat st1, st2;

	return fstat(fd1, &st1) == 0 && fstat(fd2, &st2) == 0 &&
		S_ISSOCK(st1.st_mode) && st1.st_dev == st2.st_dev &&
		st1.st_ino == st2.st_ino;
}

void imap_session_start(const struct mail_session_start *start)
{
	const struct login_handoff *h = start->handoff;
	struct mail_user *user = start->user;
	int fd = start->fd_in;

	if (start->service != NULL) {
		imap_settings_init(
			master_service_get_settings(start->service));
	}
	if (start->fd_in != start->fd_out && fds_are_same(start->fd_in,
							  start->fd_out)) {
		/* one socket on both (a socketpair tunnel) */
		close(start->fd_out);
	} else if (start->fd_in != start->fd_out) {
		/* pipes: conn needs one bidirectional fd */
		const char *error;
		if (imap_relay_create(start->fd_in, start->fd_out, NULL, NULL,
				      &fd, &error) < 0) {
			i_error("imap(%s): %s", h->username, error);
			close(start->fd_in);
			close(start->fd_out);
			mail_user_deinit(&user);
			return;
		}
	}
	struct client *client =
		client_create(start->service, fd, user, h->username,
			      h->session_id == NULL ? "" : h->session_id);
	if (start->send_login_reply) {
		const char *tag = h->tag == NULL || h->tag[0] == '\0' ? "*" :
			h->tag;
		client_send_linef(client, "%s OK [CAPABILITY %s] Logged in",
				  tag, client_capability_string(client));
	} else {
		client_send_linef(client,
			"* PREAUTH [CAPABILITY %s] Logged in as %s",
			client_capability_string(client), h->username);
	}
	client_input_push(client, h->preread, h->preread_size);
	e_info(client->event, "Logged in");
}

void imap_sessions_stop(bool shutdown)
{
	struct client *client, *next;

	for (client = client_get_list(); client != NULL; client = next) {
		next = client->next;
		if (client->disconnecting)
			continue;
		/* reload: let a running command finish, but an IDLE would
		   keep the old process alive for as long as the client likes */
		if (client->cmd != NULL && client->cmd->running && !shutdown &&
		    strcmp(client->cmd->name, "IDLE") != 0) {
			client->disconnect_after_cmd = true;
			client->disconnect_bye = "Server shutting down.";
			client->disconnect_reason = "Server shutting down";
			continue;
		}
		client_disconnect_with_bye(client, "Server shutting down.",
					   "Server shutting down");
	}
}
