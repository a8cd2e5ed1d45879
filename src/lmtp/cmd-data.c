/* DATA (RFC 5321 4.1.1.4, RFC 2033 4.2): 354, then the dot-stuffed body
   streams into every recipient's storage as it arrives; after the end
   line one reply per accepted recipient, each sent once that copy is
   durable. */
#include "lib.h"
#include "lmtp-common.h"

void cmd_data(struct lmtp_client *client, const char *args)
{
	if (*args != '\0') {
		lmtp_client_error(client, "501 5.5.4 DATA takes no parameters");
		return;
	}
	if (!client->mail_given) {
		lmtp_client_error(client, "503 5.5.1 MAIL needed first");
		return;
	}
	if (client->bdat_used) {
		lmtp_client_error(client, "503 5.5.1 DATA not allowed after BDAT");
		return;
	}
	if (array_count(&client->rcpts) == 0) {
		lmtp_client_error(client, "503 5.5.1 No valid recipients");
		return;
	}
	if (client->body_type == LMTP_BODY_BINARYMIME) {
		/* RFC 3030 3: BINARYMIME must be sent with BDAT */
		lmtp_client_error(client, "503 5.5.1 BODY=BINARYMIME requires BDAT");
		return;
	}
	lmtp_delivery_begin(client);
	smtp_dot_decoder_init(&client->dot);
	client->input_mode = LMTP_INPUT_DATA;
	lmtp_client_reply(client, "354 OK");
}
