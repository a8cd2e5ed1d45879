/* LIST [msg] (RFC 1939 §5): sizes of the messages not marked deleted, or
   of one. */
#include "lib.h"
#include "str.h"
#include "conn.h"
#include "pop3-command.h"
#include "pop3-commands.h"

bool pop3_cmd_list(struct pop3_client *client, const char *args)
{
	const char *const *argv;
	const char *error;
	uint32_t idx;

	if (pop3_command_args(args, 0, 1, &argv, &error) < 0)
		return pop3_client_bad(client, error);
	if (argv[0] != NULL) {
		int ret = pop3_client_get_msg(client, argv[0], &idx);
		if (ret <= 0)
			return ret < 0;
		pop3_client_send_linef(client, "+OK %u %llu", idx + 1,
				       (unsigned long long)client->msgs[idx].size);
		return true;
	}
	/* one write per few KB: a 5,000-message listing is one burst */
	string_t *str = t_str_new(4096);
	str_printfa(str, "+OK %u messages:\r\n",
		    client->count - client->deleted_count);
	for (uint32_t i = 0; i < client->count; i++) {
		if (client->msgs[i].deleted)
			continue;
		str_printfa(str, "%u %llu\r\n", i + 1,
			    (unsigned long long)client->msgs[i].size);
		if (str_len(str) >= 4000) {
			conn_write(client->conn, buffer_data(str), str_len(str));
			str_truncate(str, 0);
		}
	}
	str_append(str, ".\r\n");
	conn_write(client->conn, buffer_data(str), str_len(str));
	return true;
}
