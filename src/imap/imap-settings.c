/* The IMAP settings a session consults at run time (see imap-settings.h):
   copied from the configuration so that sessions do not need to carry a
   pointer to it. */
#include "lib.h"
#include "columba-settings.h"
#include "imap-settings.h"

/* the default of imap_max_append_size in lib-config */
static uint64_t append_max_size = 256ULL * 1024 * 1024;
/* RFC 9051 §5.4: at least 30 minutes (the default of imap_autologout) */
static unsigned int autologout_msecs = 30 * 60 * 1000;
static bool utf8_accept = false;
/* "NO [OVERQUOTA] " and quota_exceeded_message (its default) */
static char *quota_reply;

void imap_settings_init(const struct columba_settings *set)
{
	append_max_size = set->imap_max_append_size;
	utf8_accept = set->imap_utf8_accept;
	i_free(quota_reply);
	quota_reply = i_strdup_printf("NO [OVERQUOTA] %s",
				      set->quota_exceeded_message);
	/* 0 would mean never: keep at least a second, and fit in msecs */
	autologout_msecs = I_MAX(I_MIN(set->imap_autologout, UINT_MAX / 1000),
				 1U) * 1000;
}

unsigned int imap_autologout_msecs(void)
{
	return autologout_msecs;
}

bool imap_utf8_accept_advertised(void)
{
	return utf8_accept;
}

uint64_t imap_append_max_size(void)
{
	return append_max_size;
}

const char *imap_quota_exceeded_reply(void)
{
	return quota_reply != NULL ? quota_reply :
		"NO [OVERQUOTA] Quota exceeded (mailbox for user is full)";
}
