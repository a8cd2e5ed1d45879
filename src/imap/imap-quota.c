/* The untagged QUOTA response (see imap-quota.h), shared by GETQUOTA
   and GETQUOTAROOT. */
#include "lib.h"
#include "imap-common.h"
#include "imap-quota.h"
#include "mail-quota.h"

/* RFC 9208 §5.1: STORAGE counts units of 1024 octets; a part of one is
   counted as one, so a user with any mail never shows 0 */
static uint64_t imap_quota_kib(uint64_t bytes)
{
	return bytes / 1024 + (bytes % 1024 != 0 ? 1 : 0);
}

int imap_quota_send(struct client *client)
{
	const struct mail_quota_limits *limits =
		mail_user_get_quota_limits(client->user);
	struct mail_quota_usage usage;
	string_t *str = t_str_new(128);

	if (mail_user_quota_get_usage(client->user, &usage, NULL) < 0)
		return -1;
	str_append(str, "* QUOTA ");
	imap_write_astring(str, IMAP_QUOTA_ROOT_NAME, false);
	str_append(str, " (");
	if (limits->storage != 0) {
		str_printfa(str, "STORAGE %llu %llu",
			    (unsigned long long)imap_quota_kib(usage.storage),
			    (unsigned long long)imap_quota_kib(limits->storage));
	}
	if (limits->messages != 0) {
		if (limits->storage != 0)
			str_append_c(str, ' ');
		str_printfa(str, "MESSAGE %llu %llu",
			    (unsigned long long)usage.messages,
			    (unsigned long long)limits->messages);
	}
	str_append_c(str, ')');
	client_send_line(client, str_c(str));
	return 0;
}
