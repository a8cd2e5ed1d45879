/* LOGIN user password: two astrings (atoms, quoted strings or literals,
   which the client loop has already collected into one bounded buffer),
   run as SASL PLAIN through the auth process, as Dovecot does. The
   plaintext policy applies: on a connection that is not secured the
   command is refused with [PRIVACYREQUIRED] (and LOGINDISABLED is in the
   capabilities). */
#include "lib.h"
#include "str.h"
#include "imap-login-client.h"

bool imap_login_cmd_login(struct imap_login_client *iclient, const char *tag,
			  const unsigned char *args, size_t args_size)
{
	struct login_client *client = &iclient->common;
	string_t *user = t_str_new(64), *pass = t_str_new(64);
	size_t pos = 0;
	bool ok;

	ok = args != NULL &&
		imap_login_parse_astring(args, args_size, &pos, user) == 0 &&
		pos < args_size && args[pos++] == ' ' &&
		imap_login_parse_astring(args, args_size, &pos, pass) == 0 &&
		pos == args_size;
	if (ok && (memchr(buffer_data(user), '\0', str_len(user)) != NULL ||
		   memchr(buffer_data(pass), '\0', str_len(pass)) != NULL))
		ok = false;
	if (!ok) {
		safe_memset(str_c_modifiable(pass), 0, str_len(pass));
		return imap_login_bad(client, tag, "Invalid arguments.");
	}

	/* PLAIN's message: authzid NUL authcid NUL password */
	string_t *resp = t_str_new(str_len(user) + str_len(pass) + 2);
	str_append_c(resp, '\0');
	str_append_str(resp, user);
	str_append_c(resp, '\0');
	str_append_str(resp, pass);
	login_auth_start(client, tag, "PLAIN", true, buffer_data(resp),
			 str_len(resp));
	safe_memset(str_c_modifiable(pass), 0, str_len(pass));
	safe_memset(str_c_modifiable(resp), 0, str_len(resp));
	return !client->destroyed;
}
