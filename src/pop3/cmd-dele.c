/* DELE msg (RFC 1939 §5): marks the message; it leaves the mailbox (or
   gets pop3_deleted_flag) only when QUIT enters the UPDATE state. */
#include "lib.h"
#include "pop3-command.h"
#include "pop3-commands.h"

bool pop3_cmd_dele(struct pop3_client *client, const char *args)
{
	const char *const *argv;
	const char *error;
	uint32_t idx;

	if (pop3_command_args(args, 1, 1, &argv, &error) < 0)
		return pop3_client_bad(client, error);
	int ret = pop3_client_get_msg(client, argv[0], &idx);
	if (ret <= 0)
		return ret < 0;
	client->msgs[idx].deleted = true;
	client->deleted_count++;
	client->deleted_size += client->msgs[idx].size;
	pop3_client_send_line(client, "+OK Marked to be deleted.");
	return true;
}
