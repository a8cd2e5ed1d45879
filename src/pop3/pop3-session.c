/* The entry points the mail process calls (mail-session.h): start a POP3
   session on a handed-off connection — lock (pop3_lock_session), take the
   snapshot of INBOX, "+OK Logged in." — and stop them all. */
#include "lib.h"
#include "conn.h"
#include "event.h"
#include "strfuncs.h"
#include "master-service.h"
#include "columba-settings.h"
#include "mail-user-setup.h"
#include "mail-session.h"
#include "pop3-uidl.h"
#include "pop3-client.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

/* pop3_lock_session: an flock() on a file beside the user's index, held
   for the session. flock() locks belong to the open file, so this works
   between sessions of one mail process as well as between processes, and
   the kernel drops it if the process dies. Returns 1 locked, 0 held by
   another session, -1 error (logged). */
static int pop3_session_lock(struct pop3_client *client,
			     const struct mail_session_start *start)
{
	struct mail_user_paths paths;
	const char *error;

	if (mail_user_paths_get(client->set, start->handoff->username,
				start->userdb_fields, &paths, &error) < 0) {
		e_error(client->event, "pop3_lock_session: %s", error);
		return -1;
	}
	const char *path = t_strdup_printf("%s.pop3-lock", paths.index_path);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		e_error(client->event, "open(%s) failed: %m", path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		close(fd);
		if (err == EWOULDBLOCK)
			return 0;
		errno = err;
		e_error(client->event, "flock(%s) failed: %m", path);
		return -1;
	}
	client->lock_fd = fd;
	return 1;
}

void pop3_session_start(const struct mail_session_start *start)
{
	const struct login_handoff *h = start->handoff;
	const struct columba_settings *set =
		master_service_get_settings(start->service);
	struct mail_user *user = start->user;

	if (start->fd_in != start->fd_out) {
		/* only hand-offs start POP3 sessions: one socket */
		i_error("pop3(%s): a session needs one bidirectional fd",
			h->username);
		close(start->fd_in);
		close(start->fd_out);
		mail_user_deinit(&user);
		return;
	}
	struct pop3_client *client =
		pop3_client_create(start->service, set, start->fd_in, user,
				   h->username, h->session_id == NULL ? "" :
				   h->session_id);

	const struct pop3_uidl_params check = {
		.uid = 1, .uidvalidity = 1, .guid = "0",
	};
	const char *uidl, *error;
	if (pop3_uidl_expand(set->pop3_uidl_format, &check, &uidl, &error) < 0) {
		e_error(client->event, "Invalid pop3_uidl_format %s: %s",
			str_sanitize(set->pop3_uidl_format, 100), error);
		pop3_client_disconnect(client, "[SYS/TEMP] " MAIL_ERRSTR_INTERNAL,
				       "Invalid pop3_uidl_format");
		return;
	}
	if (set->pop3_lock_session) {
		int ret = pop3_session_lock(client, start);
		if (ret == 0) {
			e_info(client->event, "Mailbox is locked by another "
			       "POP3 session");
			pop3_client_disconnect(client, "[IN-USE] Mailbox is "
					       "locked by another POP3 session.",
					       "Mailbox locked");
			return;
		}
		if (ret < 0) {
			pop3_client_disconnect(client, "[SYS/TEMP] "
					       MAIL_ERRSTR_INTERNAL,
					       "Locking failed");
			return;
		}
	}
	if (pop3_client_load_snapshot(client) < 0) {
		pop3_client_send_storage_error(client);
		pop3_client_disconnect(client, NULL, "Opening INBOX failed");
		return;
	}
	pop3_client_send_line(client, "+OK Logged in.");
	pop3_client_input_push(client, h->preread, h->preread_size);
	e_info(client->event, "Logged in: %u messages, %llu bytes",
	       client->count, (unsigned long long)client->total_size);
}

void pop3_sessions_stop(bool shutdown)
{
	struct pop3_client *client, *next;

	if (!shutdown) {
		/* reload: POP3 sessions are short; they end on their own */
		return;
	}
	for (client = pop3_client_get_list(); client != NULL; client = next) {
		next = client->next;
		pop3_client_disconnect(client, "Server shutting down.",
				       "Server shutting down");
	}
}
