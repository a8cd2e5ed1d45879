/* RCPT TO:<forward-path>: each recipient is checked against userdb now,
   not at DATA, so the MTA learns at once who does not exist (RFC 2033
   4.2). The recipient_delimiter detail is cut before the lookup
   (alice+lists@example.com is alice@example.com). Input pauses while
   userdb answers; pipelined commands wait in the buffer. With
   lmtp_rcpt_check_quota a recipient who is full already (or whom MAIL
   FROM's SIZE= would take over quota) is refused here too. */
#include "lib.h"
#include "columba-settings.h"
#include "auth-master-client.h"
#include "lmtp-common.h"

static const char *rcpt_username(const struct lmtp_recipient *rcpt,
				 const char *user_localpart)
{
	if (rcpt->address.domain == NULL)
		return user_localpart;
	return t_strdup_printf("%s@%s", user_localpart, rcpt->address.domain);
}

static void rcpt_lookup_callback(enum auth_master_result result,
				 const char *username,
				 const char *const *fields,
				 const char *error, void *context)
{
	struct lmtp_client *client = context;
	struct lmtp_recipient *rcpt = client->lookup_rcpt;
	const char *addr = smtp_address_encode(&rcpt->address);

	client->lookup = NULL;
	client->lookup_rcpt = NULL;
	switch (result) {
	case AUTH_MASTER_RESULT_OK: {
		unsigned int n = str_array_length(fields);
		const char **f = p_new(client->tx_pool, const char *, n + 1);
		for (unsigned int i = 0; i < n; i++)
			f[i] = p_strdup(client->tx_pool, fields[i]);
		rcpt->username = p_strdup(client->tx_pool, username);
		rcpt->userdb_fields = f;
		if (lmtp.set->lmtp_rcpt_check_quota) {
			const char *reply;
			int ret = lmtp_quota_rcpt_check(client, rcpt, addr,
							&reply);
			if (ret < 0) {
				lmtp_client_reply(client,
					"451 4.3.0 <%s> Temporary internal error",
					addr);
				break;
			}
			if (ret == 0) {
				lmtp_client_reply(client, "%s", reply);
				break;
			}
		}
		array_push(&client->rcpts, rcpt);
		lmtp_client_reply(client, "250 2.1.5 OK");
		break;
	}
	case AUTH_MASTER_RESULT_NOTFOUND: {
		const char *user, *detail;
		smtp_address_detail_split(rcpt->address.localpart,
					  lmtp.set->recipient_delimiter,
					  &user, &detail);
		lmtp_client_error(client, "550 5.1.1 <%s> User doesn't exist: %s",
				  addr, rcpt_username(rcpt, user));
		break;
	}
	case AUTH_MASTER_RESULT_FAIL:
		i_error("lmtp(%s, session=%s): userdb lookup for %s failed: %s",
			client->peer_name, client->session_id,
			str_sanitize(addr, 200), error);
		lmtp_client_reply(client, "451 4.3.0 <%s> Temporary internal error",
				  addr);
		break;
	}
	lmtp_client_command_done(client);
	lmtp_client_release_replies(client, false);
}

void cmd_rcpt(struct lmtp_client *client, const char *args)
{
	ARRAY_TYPE(smtp_param) params;
	struct smtp_address addr;
	const char *error, *user, *detail;

	if (!client->mail_given) {
		lmtp_client_error(client, "503 5.5.1 MAIL needed first");
		return;
	}
	if (client->delivery != NULL || client->bdat_used) {
		lmtp_client_error(client, "503 5.5.1 RCPT not allowed after DATA or BDAT");
		return;
	}
	enum smtp_parse_flags flags = SMTP_PARSE_FLAG_ALLOW_LOCALPART_ONLY;
	if (client->smtputf8)
		flags |= SMTP_PARSE_FLAG_UTF8;
	array_init(&params, pool_datastack, 2);
	if (smtp_parse_path_command(args, "TO:", flags, client->tx_pool,
				    &addr, &params, &error) < 0) {
		lmtp_client_error(client, "501 5.5.4 Invalid TO: %s", error);
		return;
	}
	if (array_count(&params) > 0) {
		lmtp_client_error(client, "555 5.5.4 Unsupported parameter %s",
			str_sanitize(array_idx(&params, 0)->keyword, 32));
		return;
	}
	if (lmtp.set->lmtp_max_recipients > 0 &&
	    array_count(&client->rcpts) >= lmtp.set->lmtp_max_recipients) {
		/* RFC 5321 4.5.3.1.10: a temporary failure, the client sends
		   the rest in another transaction */
		lmtp_client_reply(client, "452 4.5.3 Too many recipients");
		return;
	}

	struct lmtp_recipient *rcpt = p_new(client->tx_pool,
					    struct lmtp_recipient, 1);
	rcpt->client = client;
	rcpt->address = addr;
	smtp_address_detail_split(addr.localpart, lmtp.set->recipient_delimiter,
				  &user, &detail);
	rcpt->detail = p_strdup(client->tx_pool, detail);

	struct auth_master_user_request req = {
		.username = rcpt_username(rcpt, user),
		.service = "lmtp",
		.local_ip = client->local_ip,
		.remote_ip = client->remote_ip,
		.local_port = client->local_port,
		.remote_port = client->remote_port,
		.session_id = client->session_id,
	};
	client->lookup_rcpt = rcpt;
	lmtp_client_hold_replies(client);
	lmtp_client_pause(client);
	client->lookup = auth_master_user_lookup(lmtp.auth, &req,
						 rcpt_lookup_callback, client);
}
