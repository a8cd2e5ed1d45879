/* NOOP (RFC 1939 §5). */
#include "lib.h"
#include "pop3-commands.h"

bool pop3_cmd_noop(struct pop3_client *client, const char *args)
{
	if (args != NULL)
		return pop3_client_bad(client, "Too many arguments.");
	pop3_client_send_line(client, "+OK");
	return true;
}
