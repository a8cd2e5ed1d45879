/* The command table. Adding a command: its file, its declaration in
   imap-commands.h, one line here (alphabetical), one in meson.build. */
#include "lib.h"
#include "imap-common.h"

static const struct command imap_commands[] = {
	{ "APPEND", imap_cmd_append,
	  COMMAND_FLAG_LITERAL_STREAM | COMMAND_FLAG_LITERAL8 },
	{ "CAPABILITY", imap_cmd_capability, COMMAND_FLAG_ANY_STATE },
	{ "CHECK", imap_cmd_check, COMMAND_FLAG_SELECTED },
	{ "CLOSE", imap_cmd_close, COMMAND_FLAG_SELECTED },
	{ "COMPRESS", imap_cmd_compress, 0 },
	{ "COPY", imap_cmd_copy, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID },
	{ "CREATE", cmd_create, 0 },
	{ "DELETE", cmd_delete, 0 },
	{ "ENABLE", imap_cmd_enable, 0 },
	{ "EXAMINE", imap_cmd_examine, 0 },
	{ "EXPUNGE", imap_cmd_expunge,
	  COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID },
	{ "FETCH", cmd_fetch, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID |
		COMMAND_FLAG_NO_EXPUNGES | COMMAND_FLAG_FETCH_BRACKETS },
	{ "GETQUOTA", imap_cmd_getquota, 0 },
	{ "GETQUOTAROOT", imap_cmd_getquotaroot, 0 },
	{ "ID", imap_cmd_id, COMMAND_FLAG_ANY_STATE },
	{ "IDLE", imap_cmd_idle, 0 },
	{ "LIST", cmd_list, 0 },
	{ "LOGOUT", imap_cmd_logout, COMMAND_FLAG_ANY_STATE },
	{ "LSUB", cmd_lsub, 0 },
	{ "MOVE", imap_cmd_move, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID },
	{ "NAMESPACE", imap_cmd_namespace, 0 },
	{ "NOOP", imap_cmd_noop, COMMAND_FLAG_ANY_STATE },
	{ "RENAME", cmd_rename, 0 },
	{ "SEARCH", cmd_search, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID |
		COMMAND_FLAG_NO_EXPUNGES },
	{ "SELECT", imap_cmd_select, 0 },
	{ "SETQUOTA", imap_cmd_setquota, 0 },
	{ "SORT", cmd_sort, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID |
		COMMAND_FLAG_NO_EXPUNGES },
	{ "STARTTLS", imap_cmd_starttls, COMMAND_FLAG_ANY_STATE },
	{ "STATUS", cmd_status, 0 },
	{ "STORE", cmd_store, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID |
		COMMAND_FLAG_NO_EXPUNGES },
	{ "SUBSCRIBE", cmd_subscribe, 0 },
	{ "THREAD", cmd_thread, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID |
		COMMAND_FLAG_NO_EXPUNGES },
	{ "UNAUTHENTICATE", imap_cmd_unauthenticate, 0 },
	{ "UNSELECT", imap_cmd_unselect, COMMAND_FLAG_SELECTED },
	{ "UNSUBSCRIBE", cmd_unsubscribe, 0 },
};

const struct command *command_find(const char *name)
{
	for (unsigned int i = 0; i < N_ELEMENTS(imap_commands); i++) {
		if (strcasecmp(imap_commands[i].name, name) == 0)
			return &imap_commands[i];
	}
	return NULL;
}
