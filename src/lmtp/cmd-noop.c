/* NOOP (RFC 5321 4.1.1.9): the argument, if any, is ignored. */
#include "lib.h"
#include "lmtp-common.h"

void cmd_noop(struct lmtp_client *client, const char *args ATTR_UNUSED)
{
	lmtp_client_reply(client, "250 2.0.0 OK");
}
