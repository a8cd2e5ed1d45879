/* LHLO (RFC 2033 4.1): the LMTP greeting, answered with the extensions.
   A new LHLO also resets any mail transaction, as EHLO does (RFC 5321
   4.1.4). */
#include "lib.h"
#include "columba-settings.h"
#include "lmtp-common.h"

void cmd_lhlo(struct lmtp_client *client, const char *args)
{
	if (*args == '\0') {
		lmtp_client_error(client, "501 5.5.4 Missing hostname");
		return;
	}
	/* a domain or an address literal; the name only goes into
	   Received: lines, so anything printable is taken but not spaces,
	   and no more than a domain name's 255 octets (RFC 5321 4.5.3.1.2),
	   which keeps the header line short */
	if (strlen(args) > 255 ||
	    strchr(args, ' ') != NULL || strchr(args, '\t') != NULL ||
	    !smtp_utf8_is_valid((const unsigned char *)args, strlen(args))) {
		lmtp_client_error(client, "501 5.5.4 Invalid hostname");
		return;
	}
	lmtp_client_transaction_reset(client);
	i_free(client->lhlo);
	client->lhlo = i_strdup(args);

	lmtp_client_reply(client, "250-%s", lmtp.hostname);
	lmtp_client_reply(client, "250-8BITMIME");
	lmtp_client_reply(client, "250-BINARYMIME");
	lmtp_client_reply(client, "250-CHUNKING");
	lmtp_client_reply(client, "250-ENHANCEDSTATUSCODES");
	lmtp_client_reply(client, "250-PIPELINING");
	if (lmtp.set->lmtp_max_message_size > 0) {
		lmtp_client_reply(client, "250-SIZE %llu",
			(unsigned long long)lmtp.set->lmtp_max_message_size);
	} else {
		lmtp_client_reply(client, "250-SIZE");
	}
	lmtp_client_reply(client, "250 SMTPUTF8");
}
