/* BDAT size [LAST] (RFC 3030 2): the body in chunks of exact size, no
   dot-stuffing, so binary content passes unchanged. Each chunk but the
   last gets "250 ... octets received"; the LAST one gets one reply per
   recipient as DATA does. A refused BDAT still has its chunk read and
   dropped, or the chunk bytes would be taken for commands. */
#include "lib.h"
#include "columba-settings.h"
#include "lmtp-common.h"

#include <strings.h>

/* Refuse this chunk: read and drop it, then reply. */
static void bdat_discard(struct lmtp_client *client, uint64_t size,
			 const char *reply)
{
	i_free(client->bdat_discard_reply);
	client->bdat_discard_reply = i_strdup(reply);
	client->bdat_left = size;
	client->input_mode = LMTP_INPUT_BDAT_DISCARD;
}

void cmd_bdat(struct lmtp_client *client, const char *args)
{
	const char *const *words = t_strsplit(args, " ");
	uint64_t size;
	bool last = false;

	if (words[0] == NULL || str_to_uint64(words[0], &size) < 0) {
		/* without a valid size there is no telling where the chunk
		   ends: the rest of the input cannot be trusted */
		lmtp_client_reply(client, "501 5.5.4 Invalid BDAT size");
		lmtp_client_disconnect(client, "Invalid BDAT size");
		return;
	}
	if (words[1] != NULL) {
		if (strcasecmp(words[1], "LAST") != 0 || words[2] != NULL) {
			bdat_discard(client, size, "501 5.5.4 Invalid BDAT parameters");
			return;
		}
		last = true;
	}
	if (!client->mail_given) {
		bdat_discard(client, size, "503 5.5.1 MAIL needed first");
		return;
	}
	if (array_count(&client->rcpts) == 0) {
		bdat_discard(client, size, "503 5.5.1 No valid recipients");
		return;
	}
	if (!client->bdat_used) {
		client->bdat_used = true;
		lmtp_delivery_begin(client);
	}
	client->bdat_left = size;
	client->bdat_last = last;
	client->input_mode = LMTP_INPUT_BDAT;
}
