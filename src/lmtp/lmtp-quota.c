/* Quota for LMTP deliveries (Dovecot's lmtp_rcpt_check_quota and
   quota_full_tempfail): the reply a recipient over quota gets, the
   check at RCPT, and the limits of a cached user brought up to date
   with the recipient's userdb fields (the LMTP user cache keeps users
   by name, so a changed quota_rule field applies at the next delivery,
   not when the cached user is next reopened). */
#include "lib.h"
#include "columba-settings.h"
#include "config-quota.h"
#include "mail-storage.h"
#include "mail-quota.h"
#include "lmtp-common.h"

const char *lmtp_quota_reply(const char *addr)
{
	/* RFC 3463: X.2.2 mailbox full. Dovecot answers 552 unless
	   quota_full_tempfail asks the MTA to keep the mail and retry. */
	return t_strdup_printf("%s <%s> %s",
			       lmtp.set->quota_full_tempfail ?
			       "452 4.2.2" : "552 5.2.2", addr,
			       lmtp.set->quota_exceeded_message);
}

int lmtp_quota_limits_update(struct mail_user *user,
			     const char *const *userdb_fields,
			     const char **error_r)
{
	struct config_quota_limits limits;
	uint64_t grace;

	if (config_quota_get(lmtp.set, userdb_fields, &limits, &grace,
			     error_r) < 0)
		return -1;
	struct mail_quota_limits qlimits = {
		.storage = limits.storage_bytes,
		.messages = limits.messages,
		.grace = grace,
	};
	mail_user_set_quota_limits(user, &qlimits);
	return 0;
}

int lmtp_quota_rcpt_check(struct lmtp_client *client,
			  const struct lmtp_recipient *rcpt,
			  const char *addr, const char **reply_r)
{
	struct lmtp_cached_user *cu;
	enum mail_quota_result result;
	const char *error;
	int ret;

	*reply_r = NULL;
	cu = lmtp_user_cache_ref(rcpt->username, rcpt->userdb_fields, &error);
	if (cu == NULL) {
		i_error("lmtp(%s, session=%s): <%s>: Opening the storage of %s failed: %s",
			client->peer_name, client->session_id,
			str_sanitize(addr, 200),
			str_sanitize(rcpt->username, 200), error);
		return -1;
	}
	struct mail_user *user = lmtp_cached_user_get(cu);
	if (lmtp_quota_limits_update(user, rcpt->userdb_fields, &error) < 0) {
		i_error("lmtp(%s, session=%s): <%s>: %s",
			client->peer_name, client->session_id,
			str_sanitize(addr, 200), error);
		lmtp_user_cache_unref(&cu);
		return -1;
	}
	/* with MAIL FROM's SIZE= the message must fit; without, the user
	   must not be full already */
	ret = client->mail_size > 0 ?
		mail_user_quota_test(user, client->mail_size, 1,
				     MAIL_QUOTA_FLAG_GRACE, &result) :
		mail_user_quota_test(user, 0, 0, 0, &result);
	if (ret < 0) {
		const char *user_text, *internal_text;
		(void)mail_user_get_last_error(user, &user_text,
					       &internal_text);
		i_error("lmtp(%s, session=%s): <%s>: Quota lookup failed: %s",
			client->peer_name, client->session_id,
			str_sanitize(addr, 200), internal_text != NULL ?
			internal_text : user_text);
		lmtp_user_cache_unref(&cu);
		return -1;
	}
	lmtp_user_cache_unref(&cu);
	if (result == MAIL_QUOTA_OK)
		return 1;
	i_info("lmtp(%s, session=%s): <%s>: refused at RCPT: %s",
	       client->peer_name, client->session_id,
	       str_sanitize(addr, 200), mail_quota_result_str(result));
	*reply_r = lmtp_quota_reply(addr);
	return 0;
}
