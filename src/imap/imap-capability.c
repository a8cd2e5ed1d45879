/* The capability table. Add a line when an extension is complete (every
   command and response it defines works), not before: clients trust
   this list. */
#include "lib.h"
#include "imap-common.h"
#include "mail-handoff.h"

static const char *const imap_capabilities[] = {
	"IMAP4rev1",
	"IMAP4rev2",
	"LITERAL+",
	"ENABLE",
	"ID",
	"IDLE",
	"NAMESPACE",
	"UNSELECT",
	"CHILDREN",
	"LIST-EXTENDED",
	"LIST-STATUS",
	"SPECIAL-USE",
	"CREATE-SPECIAL-USE",
	"STATUS=SIZE",
	"ESEARCH",
	"SEARCHRES",
	"WITHIN",
	"SORT",
	"SORT=DISPLAY",
	"ESORT",
	"THREAD=ORDEREDSUBJECT",
	"THREAD=REFERENCES",
	"I18NLEVEL=1",
	"UIDPLUS",
	"MOVE",
	"MULTIAPPEND",
	"CATENATE",
	"BINARY",
	"CONDSTORE",
	"QRESYNC",
	"PREVIEW",
	"OBJECTID",
	"SAVEDATE",
	"COMPRESS=DEFLATE",
	/* RFC 9208, without QUOTASET (the limits are the admin's) */
	"QUOTA",
	"QUOTA=RES-STORAGE",
	"QUOTA=RES-MESSAGE",
	NULL
};

const char *imap_capability_string(void)
{
	static char *str = NULL;

	if (str == NULL) {
		string_t *s = str_new(system_pool, 256);
		for (unsigned int i = 0; imap_capabilities[i] != NULL; i++) {
			if (i > 0)
				str_append_c(s, ' ');
			str_append(s, imap_capabilities[i]);
		}
		/* opt-in: see imap_utf8_accept in columba-settings.h */
		if (imap_utf8_accept_advertised())
			str_append(s, " UTF8=ACCEPT");
		/* RFC 7889: the same limit for every mailbox */
		if (IMAP_APPEND_MAX_SIZE != 0) {
			str_printfa(s, " APPENDLIMIT=%llu",
				    (unsigned long long)IMAP_APPEND_MAX_SIZE);
		}
		str = i_strdup(str_c(s));
		str_free(&s);
	}
	return str;
}

bool imap_capability_has(const char *name)
{
	if (strcasecmp(name, "UTF8=ACCEPT") == 0)
		return imap_utf8_accept_advertised();
	for (unsigned int i = 0; imap_capabilities[i] != NULL; i++) {
		if (strcasecmp(imap_capabilities[i], name) == 0)
			return true;
	}
	return false;
}

bool client_can_unauthenticate(struct client *client)
{
	return !client->compress_active && client->session_id[0] != '\0' &&
		mail_handback_available(client->session_id);
}

const char *client_capability_string(struct client *client)
{
	/* RFC 8437 §3: only after login (the login process never lists
	   it) */
	if (!client_can_unauthenticate(client))
		return imap_capability_string();
	return t_strdup_printf("%s UNAUTHENTICATE", imap_capability_string());
}
