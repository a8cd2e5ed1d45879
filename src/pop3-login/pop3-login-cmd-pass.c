/* PASS password (RFC 1939 §7) after USER: the rest of the line is the
   password (it may hold spaces), and the pair runs as SASL PLAIN through
   the auth process, as Dovecot does. The outcome comes through
   pop3_login_auth_failed() or the hand-off. */
#include "lib.h"
#include "str.h"
#include "event.h"
#include "pop3-login-client.h"

bool pop3_login_cmd_pass(struct pop3_login_client *pclient, const char *args)
{
	struct login_client *client = &pclient->common;

	if (pclient->user == NULL)
		return pop3_login_bad(client, "No username given.");
	if (args == NULL) {
		/* the user name stays: the client may send PASS again */
		return pop3_login_bad(client, "Missing password.");
	}

	/* PLAIN's message: authzid NUL authcid NUL password */
	size_t user_len = strlen(pclient->user), pass_len = strlen(args);
	string_t *resp = t_str_new(user_len + pass_len + 2);
	str_append_c(resp, '\0');
	str_append_data(resp, pclient->user, user_len);
	str_append_c(resp, '\0');
	str_append_data(resp, args, pass_len);
	safe_memset(pclient->user, 0, user_len);
	i_free(pclient->user);
	login_auth_start(client, "", "PLAIN", true, buffer_data(resp),
			 str_len(resp));
	safe_memset(str_c_modifiable(resp), 0, str_len(resp));
	safe_memset((char *)args, 0, pass_len);
	return !client->destroyed;
}
