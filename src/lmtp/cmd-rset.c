/* RSET (RFC 5321 4.1.1.5): abort the mail transaction. */
#include "lib.h"
#include "lmtp-common.h"

void cmd_rset(struct lmtp_client *client, const char *args)
{
	if (*args != '\0') {
		lmtp_client_error(client, "501 5.5.4 RSET takes no parameters");
		return;
	}
	lmtp_client_transaction_reset(client);
	lmtp_client_reply(client, "250 2.0.0 OK");
}
