/* TOP msg n (RFC 1939 §7): the header, the blank line and the first n
   lines of the body, dot-stuffed. Leaves \Seen alone, as Dovecot does. */
#include "lib.h"
#include "strfuncs.h"
#include "pop3-command.h"
#include "pop3-commands.h"

bool pop3_cmd_top(struct pop3_client *client, const char *args)
{
	const char *const *argv;
	const char *error;
	uint32_t idx, lines;

	if (pop3_command_args(args, 2, 2, &argv, &error) < 0)
		return pop3_client_bad(client, error);
	int ret = pop3_client_get_msg(client, argv[0], &idx);
	if (ret <= 0)
		return ret < 0;
	if (pop3_parse_uint(argv[1], &lines) < 0) {
		return pop3_client_bad(client, t_strdup_printf(
			"Invalid number of lines: %s", str_sanitize(argv[1], 20)));
	}
	return pop3_client_send_message(client, idx, true, lines);
}
