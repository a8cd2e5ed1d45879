/* UIDL [msg] (RFC 1939 §7): the unique ids from pop3_uidl_format, which
   stay the same for a message forever (UID and UIDVALIDITY never change
   for it). */
#include "lib.h"
#include "str.h"
#include "conn.h"
#include "pop3-command.h"
#include "pop3-commands.h"

bool pop3_cmd_uidl(struct pop3_client *client, const char *args)
{
	const char *const *argv;
	const char *error, *uidl;
	uint32_t idx;

	if (pop3_command_args(args, 0, 1, &argv, &error) < 0)
		return pop3_client_bad(client, error);
	if (argv[0] != NULL) {
		int ret = pop3_client_get_msg(client, argv[0], &idx);
		if (ret <= 0)
			return ret < 0;
		if ((uidl = pop3_client_uidl(client, idx)) == NULL) {
			pop3_client_send_line(client, "-ERR [SYS/TEMP] "
					      MAIL_ERRSTR_INTERNAL);
			return true;
		}
		pop3_client_send_linef(client, "+OK %u %s", idx + 1, uidl);
		return true;
	}
	/* built whole before anything is sent, so that a template that
	   fails for one message gives one -ERR, not half a listing (about
	   25 bytes a message) */
	string_t *str = t_str_new(4096);
	str_append(str, "+OK\r\n");
	for (uint32_t i = 0; i < client->count; i++) {
		if (client->msgs[i].deleted)
			continue;
		if ((uidl = pop3_client_uidl(client, i)) == NULL) {
			pop3_client_send_line(client, "-ERR [SYS/TEMP] "
					      MAIL_ERRSTR_INTERNAL);
			return true;
		}
		str_printfa(str, "%u %s\r\n", i + 1, uidl);
	}
	str_append(str, ".\r\n");
	conn_write(client->conn, buffer_data(str), str_len(str));
	return true;
}
