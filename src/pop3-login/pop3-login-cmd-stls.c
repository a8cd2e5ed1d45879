/* STLS (RFC 2595 §4): "+OK", then the TLS handshake on the same
   connection. Anything the client pipelined after STLS is discarded by
   the connection (plaintext a man in the middle may have injected), and
   a USER given before it is forgotten: the session starts over, as RFC
   2595 asks. */
#include "lib.h"
#include "conn.h"
#include "pop3-login-client.h"

bool pop3_login_cmd_stls(struct pop3_login_client *pclient, const char *args)
{
	struct login_client *client = &pclient->common;

	if (args != NULL)
		return pop3_login_bad(client, "Too many arguments.");
	if (client->implicit_tls || conn_is_tls(client->conn))
		return pop3_login_bad(client, "TLS is already active.");
	if (!login_client_can_starttls(client))
		return pop3_login_bad(client, "TLS support isn't enabled.");
	if (pclient->user != NULL)
		safe_memset(pclient->user, 0, strlen(pclient->user));
	i_free(pclient->user);
	pop3_login_ok(client, "Begin TLS negotiation now.");
	if (login_client_starttls(client) < 0) {
		login_client_disconnect(client, NULL, "STLS failed");
		return false;
	}
	return false;
}
