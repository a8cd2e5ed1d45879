/* ID (RFC 2971), before login too: the client's identification is logged
   at debug level and ours is sent back. */
#include "lib.h"
#include "conn.h"
#include "event.h"
#include "strfuncs.h"
#include "imap-login-client.h"

#include <strings.h>

bool imap_login_cmd_id(struct imap_login_client *iclient, const char *tag,
		       const char *args)
{
	struct login_client *client = &iclient->common;

	/* id ::= "ID" SP id_params_list
	   id_params_list ::= "(" #(string SP nstring) ")" / nil */
	if (args == NULL)
		return imap_login_bad(client, tag, "Missing ID parameters.");
	size_t len = strlen(args);
	if (strcasecmp(args, "NIL") != 0 &&
	    (len < 2 || args[0] != '(' || args[len - 1] != ')'))
		return imap_login_bad(client, tag, "Invalid ID parameters.");
	e_debug(client->event, "ID sent: %s", str_sanitize(args, 512));
	conn_write_str(client->conn, "* ID (\"name\" \"Columba\")\r\n");
	imap_login_reply(client, tag, "OK ID completed.");
	return true;
}
