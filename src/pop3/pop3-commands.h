/* The POP3 commands of the TRANSACTION state, one file each (cmd-*.c),
   looked up by keyword. */
#ifndef COLUMBA_POP3_COMMANDS_H
#define COLUMBA_POP3_COMMANDS_H

#include "pop3-client.h"

/* The command named name (upper case), or NULL. */
pop3_command_func_t *pop3_command_find(const char *name);

/* prefixed: src/imap and src/lmtp link into the same binary and have
   their own cmd_noop(), cmd_quit()... */
pop3_command_func_t pop3_cmd_capa, pop3_cmd_dele, pop3_cmd_list,
	pop3_cmd_noop, pop3_cmd_quit, pop3_cmd_retr, pop3_cmd_rset,
	pop3_cmd_stat, pop3_cmd_top, pop3_cmd_uidl;

#endif
