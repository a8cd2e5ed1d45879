/* RETR msg (RFC 1939 §5): the whole message, dot-stuffed, streamed
   (pop3-fetch.c). \Seen is set at the end of the session unless
   pop3_no_flag_updates. */
#include "lib.h"
#include "pop3-command.h"
#include "pop3-commands.h"

bool pop3_cmd_retr(struct pop3_client *client, const char *args)
{
	const char *const *argv;
	const char *error;
	uint32_t idx;

	if (pop3_command_args(args, 1, 1, &argv, &error) < 0)
		return pop3_client_bad(client, error);
	int ret = pop3_client_get_msg(client, argv[0], &idx);
	if (ret <= 0)
		return ret < 0;
	return pop3_client_send_message(client, idx, false, 0);
}
