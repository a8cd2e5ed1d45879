/* STARTTLS after login (RFC 9051 §6.2.1: only in the not-authenticated
   state). TLS belongs to the login process; here it is always an error. */
#include "lib.h"
#include "imap-common.h"

bool imap_cmd_starttls(struct client_command_context *cmd)
{
	client_send_command_error(cmd, "TLS is already active or "
				  "STARTTLS is not allowed after login.");
	return true;
}
