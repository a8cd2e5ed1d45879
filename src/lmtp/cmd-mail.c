/* MAIL FROM:<reverse-path> [SIZE=n] [BODY=7BIT|8BITMIME|BINARYMIME]
   [SMTPUTF8]: starts a mail transaction (RFC 5321 4.1.1.2, RFC 1870,
   RFC 6152, RFC 3030, RFC 6531). */
#include "lib.h"
#include "columba-settings.h"
#include "lmtp-common.h"

#include <strings.h>

static int mail_params_apply(struct lmtp_client *client,
			     const ARRAY_TYPE(smtp_param) *params)
{
	const struct smtp_param *param;

	array_foreach(params, param) {
		if (strcasecmp(param->keyword, "SIZE") == 0) {
			uint64_t size;
			if (param->value == NULL ||
			    str_to_uint64(param->value, &size) < 0) {
				lmtp_client_error(client, "501 5.5.4 Invalid SIZE parameter");
				return -1;
			}
			if (lmtp.set->lmtp_max_message_size > 0 &&
			    size > lmtp.set->lmtp_max_message_size) {
				lmtp_client_error(client, "552 5.3.4 Message size exceeds fixed maximum message size");
				return -1;
			}
			client->mail_size = size;
		} else if (strcasecmp(param->keyword, "BODY") == 0) {
			if (param->value == NULL) {
				lmtp_client_error(client, "501 5.5.4 Invalid BODY parameter");
				return -1;
			}
			if (strcasecmp(param->value, "7BIT") == 0)
				client->body_type = LMTP_BODY_7BIT;
			else if (strcasecmp(param->value, "8BITMIME") == 0)
				client->body_type = LMTP_BODY_8BITMIME;
			else if (strcasecmp(param->value, "BINARYMIME") == 0)
				client->body_type = LMTP_BODY_BINARYMIME;
			else {
				lmtp_client_error(client, "501 5.5.4 Unsupported BODY type");
				return -1;
			}
		} else if (strcasecmp(param->keyword, "SMTPUTF8") == 0) {
			if (param->value != NULL) {
				lmtp_client_error(client, "501 5.5.4 SMTPUTF8 takes no value");
				return -1;
			}
			client->smtputf8 = true;
		} else {
			lmtp_client_error(client, "555 5.5.4 Unsupported parameter %s",
					  str_sanitize(param->keyword, 32));
			return -1;
		}
	}
	return 0;
}

void cmd_mail(struct lmtp_client *client, const char *args)
{
	ARRAY_TYPE(smtp_param) params;
	struct smtp_address from;
	const char *error;

	if (client->lhlo == NULL) {
		lmtp_client_error(client, "503 5.5.1 LHLO first");
		return;
	}
	if (client->mail_given) {
		lmtp_client_error(client, "503 5.5.1 MAIL already given");
		return;
	}
	/* SMTPUTF8 on this very command allows UTF-8 in the path */
	enum smtp_parse_flags flags = SMTP_PARSE_FLAG_ALLOW_EMPTY;
	if (strcasestr(args, " SMTPUTF8") != NULL)
		flags |= SMTP_PARSE_FLAG_UTF8;
	array_init(&params, client->tx_pool, 4);
	if (smtp_parse_path_command(args, "FROM:", flags, client->tx_pool,
				    &from, &params, &error) < 0) {
		lmtp_client_error(client, "501 5.5.4 Invalid FROM: %s", error);
		return;
	}
	client->body_type = LMTP_BODY_7BIT;
	client->smtputf8 = false;
	client->mail_size = 0;
	if (mail_params_apply(client, &params) < 0) {
		client->smtputf8 = false;
		client->body_type = LMTP_BODY_7BIT;
		return;
	}
	if ((flags & SMTP_PARSE_FLAG_UTF8) != 0 && !client->smtputf8) {
		/* " SMTPUTF8" was inside the path, not a parameter */
		lmtp_client_error(client, "553 5.6.7 Non-ASCII address without SMTPUTF8");
		return;
	}
	client->mail_from = from;
	client->mail_given = true;
	array_init(&client->rcpts, client->tx_pool, 8);
	lmtp_client_reply(client, "250 2.1.0 OK");
}
