/* The command table of the POP3 session. */
#include "lib.h"
#include "pop3-commands.h"

static const struct {
	const char *name;
	pop3_command_func_t *func;
} pop3_commands[] = {
	{ "CAPA", pop3_cmd_capa },
	{ "DELE", pop3_cmd_dele },
	{ "LIST", pop3_cmd_list },
	{ "NOOP", pop3_cmd_noop },
	{ "QUIT", pop3_cmd_quit },
	{ "RETR", pop3_cmd_retr },
	{ "RSET", pop3_cmd_rset },
	{ "STAT", pop3_cmd_stat },
	{ "TOP", pop3_cmd_top },
	{ "UIDL", pop3_cmd_uidl },
};

pop3_command_func_t *pop3_command_find(const char *name)
{
	for (unsigned int i = 0; i < N_ELEMENTS(pop3_commands); i++) {
		if (strcmp(pop3_commands[i].name, name) == 0)
			return pop3_commands[i].func;
	}
	return NULL;
}
