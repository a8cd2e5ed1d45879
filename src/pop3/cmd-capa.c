/* CAPA (RFC 2449 §5) in the TRANSACTION state: what the session offers
   now (no USER, SASL or STLS: they belong to the login). */
#include "lib.h"
#include "conn.h"
#include "pop3-commands.h"

bool pop3_cmd_capa(struct pop3_client *client, const char *args)
{
	if (args != NULL)
		return pop3_client_bad(client, "Too many arguments.");
	conn_write_str(client->conn, "+OK Capability list follows\r\n"
		       "CAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
		       "AUTH-RESP-CODE\r\nIMPLEMENTATION Columba\r\n.\r\n");
	return true;
}
