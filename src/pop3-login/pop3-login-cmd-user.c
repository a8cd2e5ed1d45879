/* USER name (RFC 1939 §7): remembers the name for PASS. Refused where the
   plaintext policy forbids cleartext logins, as Dovecot does, so that a
   client learns it before it sends the password. */
#include "lib.h"
#include "event.h"
#include "pop3-login-client.h"

#define POP3_PLAINTEXT_DISABLED_MSG "[AUTH] Plaintext authentication " \
	"disallowed on non-secure (SSL/TLS) connections."

bool pop3_login_cmd_user(struct pop3_login_client *pclient, const char *args)
{
	struct login_client *client = &pclient->common;

	if (!login_client_plaintext_allowed(client)) {
		e_info(client->event, "USER refused: plaintext authentication "
		       "disallowed on non-secure connection");
		return pop3_login_bad(client, POP3_PLAINTEXT_DISABLED_MSG);
	}
	if (args == NULL || args[0] == '\0')
		return pop3_login_bad(client, "Missing user name.");
	if (pclient->user != NULL)
		safe_memset(pclient->user, 0, strlen(pclient->user));
	i_free(pclient->user);
	pclient->user = i_strdup(args);
	pop3_login_ok(client, "");
	return true;
}
