/* QUIT (RFC 1939 §6): the UPDATE state. The messages marked deleted are
   expunged (or flagged with pop3_deleted_flag) and RETR's \Seen set; the
   "+OK" goes out only after that has committed, so a client that sees it
   may forget the messages. If it fails, "-ERR" says some were not
   removed (RFC 1939) and nothing is lost. */
#include "lib.h"
#include "conn.h"
#include "pop3-commands.h"

bool pop3_cmd_quit(struct pop3_client *client, const char *args)
{
	if (args != NULL)
		return pop3_client_bad(client, "Too many arguments.");
	if (pop3_client_update(client) < 0) {
		pop3_client_disconnect(client, "[SYS/TEMP] Some deleted "
				       "messages were not removed.",
				       "Logged out, UPDATE failed");
		return false;
	}
	pop3_client_send_line(client, client->expunged_count > 0 ?
			      "+OK Logging out, messages deleted." :
			      "+OK Logging out.");
	client->disconnecting = true;
	conn_disconnect(client->conn, "Logged out");
	return false;
}
