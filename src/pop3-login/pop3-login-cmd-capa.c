/* CAPA (RFC 2449 §5) before authentication: what this connection may use
   now. USER only where plaintext logins are allowed (RFC 2449 §6.8 says
   not to announce it otherwise), SASL with the mechanisms the auth
   process offers and the plaintext policy allows, STLS while TLS can
   still start. */
#include "lib.h"
#include "conn.h"
#include "str.h"
#include "auth-client.h"
#include "pop3-login-client.h"

bool pop3_login_cmd_capa(struct pop3_login_client *pclient, const char *args)
{
	struct login_client *client = &pclient->common;

	if (args != NULL)
		return pop3_login_bad(client, "Too many arguments.");

	string_t *str = t_str_new(256);
	str_append(str, "+OK Capability list follows\r\n"
		   "CAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
		   "AUTH-RESP-CODE\r\n");
	if (login_client_can_starttls(client))
		str_append(str, "STLS\r\n");
	if (login_client_plaintext_allowed(client))
		str_append(str, "USER\r\n");
	unsigned int count;
	const struct auth_client_mech *mechs =
		auth_client_get_mechs(login_globals.auth_client, &count);
	bool sasl = false;
	for (unsigned int i = 0; i < count; i++) {
		if (!login_client_mech_usable(client, mechs[i].name))
			continue;
		str_append(str, sasl ? " " : "SASL ");
		str_append(str, mechs[i].name);
		sasl = true;
	}
	if (sasl)
		str_append(str, "\r\n");
	str_append(str, "IMPLEMENTATION Columba\r\n.\r\n");
	conn_write(client->conn, buffer_data(str), str_len(str));
	return true;
}
