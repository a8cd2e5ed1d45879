/* STAT (RFC 1939 §5): the count and total size of the messages not
   marked deleted. */
#include "lib.h"
#include "pop3-commands.h"

bool pop3_cmd_stat(struct pop3_client *client, const char *args)
{
	if (args != NULL)
		return pop3_client_bad(client, "Too many arguments.");
	pop3_client_send_linef(client, "+OK %u %llu",
			       client->count - client->deleted_count,
			       (unsigned long long)(client->total_size -
						    client->deleted_size));
	return true;
}
