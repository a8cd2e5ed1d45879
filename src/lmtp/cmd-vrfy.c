/* VRFY (RFC 5321 3.5.3): not answered, so that the server cannot be used
   to enumerate users; 252 says "try RCPT", as Dovecot does. */
#include "lib.h"
#include "lmtp-common.h"

void cmd_vrfy(struct lmtp_client *client, const char *args)
{
	if (*args == '\0') {
		lmtp_client_error(client, "501 5.5.4 Missing argument");
		return;
	}
	lmtp_client_reply(client, "252 2.3.3 Try RCPT instead");
}
