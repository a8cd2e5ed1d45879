/* RSET (RFC 1939 §5): unmark every deleted message, and forget the \Seen
   changes RETR made, as Dovecot does (the client starts over). */
#include "lib.h"
#include "pop3-commands.h"

bool pop3_cmd_rset(struct pop3_client *client, const char *args)
{
	if (args != NULL)
		return pop3_client_bad(client, "Too many arguments.");
	for (uint32_t i = 0; i < client->count; i++) {
		client->msgs[i].deleted = false;
		client->msgs[i].seen_pending = false;
	}
	client->deleted_count = 0;
	client->deleted_size = 0;
	pop3_client_send_line(client, "+OK");
	return true;
}
