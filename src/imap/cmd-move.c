/* MOVE and UID MOVE (RFC 6851): a COPY whose sources are expunged in the
   same commit; see cmd-copy.c, which does the work for both. */
#include "lib.h"
#include "imap-common.h"
#include "imap-save.h"

bool imap_cmd_move(struct client_command_context *cmd)
{
	return imap_cmd_copy_move(cmd, true);
}
