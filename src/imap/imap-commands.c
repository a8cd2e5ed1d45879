/* The command table. Adding a command: its file, its declaration in
   imap-commands.h, one line here (alphabetical), one in meson.build.
   The flags say what may run alongside what (imap-commands.h, 6.): only
   readers are COMMAND_FLAG_PARALLEL; STORE, COPY, MOVE, EXPUNGE, APPEND,
   mailbox management, the state changes (SELECT, EXAMINE, CLOSE,
   UNSELECT, ENABLE, IDLE) and the connection changes (STARTTLS,
   COMPRESS, UNAUTHENTICATE, LOGOUT) run alone. */
#include "lib.h"
#include "imap-common.h"

static const struct command imap_commands[] = {
	{ "APPEND", imap_cmd_append,
	  COMMAND_FLAG_LITERAL_STREAM | COMMAND_FLAG_LITERAL8 },
	{ "CAPABILITY", imap_cmd_capability,
	  COMMAND_FLAG_ANY_STATE | COMMAND_FLAG_PARALLEL },
	{ "CHECK", imap_cmd_check, COMMAND_FLAG_SELECTED |
		COMMAND_FLAG_PARALLEL | COMMAND_FLAG_BREAKS_SEQS },
	{ "CLOSE", imap_cmd_close, COMMAND_FLAG_SELECTED },
	{ "COMPRESS", imap_cmd_compress, 0 },
	{ "COPY", imap_cmd_copy, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID |
		COMMAND_FLAG_USES_SEQS },
	{ "CREATE", cmd_create, 0 },
	{ "DELETE", cmd_delete, 0 },
	{ "ENABLE", imap_cmd_enable, 0 },
	{ "EXAMINE", imap_cmd_examine, 0 },
	{ "EXPUNGE", imap_cmd_expunge,
	  COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID },
	{ "FETCH", cmd_fetch, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID |
		COMMAND_FLAG_NO_EXPUNGES | COMMAND_FLAG_FETCH_BRACKETS |
		COMMAND_FLAG_PARALLEL | COMMAND_FLAG_USES_SEQS },
	{ "GETQUOTA", imap_cmd_getquota, 0 },
	{ "GETQUOTAROOT", imap_cmd_getquotaroot, 0 },
	{ "ID", imap_cmd_id, COMMAND_FLAG_ANY_STATE | COMMAND_FLAG_PARALLEL },
	{ "IDLE", imap_cmd_idle, 0 },
	{ "LIST", cmd_list, COMMAND_FLAG_PARALLEL },
	{ "LOGOUT", imap_cmd_logout, COMMAND_FLAG_ANY_STATE },
	{ "LSUB", cmd_lsub, COMMAND_FLAG_PARALLEL },
	{ "MOVE", imap_cmd_move, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID |
		COMMAND_FLAG_USES_SEQS },
	{ "NAMESPACE", imap_cmd_namespace, COMMAND_FLAG_PARALLEL },
	{ "NOOP", imap_cmd_noop, COMMAND_FLAG_ANY_STATE | COMMAND_FLAG_PARALLEL |
		COMMAND_FLAG_BREAKS_SEQS },
	{ "RENAME", cmd_rename, 0 },
	{ "SEARCH", cmd_search, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID |
		COMMAND_FLAG_NO_EXPUNGES | COMMAND_FLAG_PARALLEL |
		COMMAND_FLAG_USES_SEQS },
	{ "SELECT", imap_cmd_select, 0 },
	{ "SETQUOTA", imap_cmd_setquota, 0 },
	{ "SORT", cmd_sort, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID |
		COMMAND_FLAG_NO_EXPUNGES | COMMAND_FLAG_PARALLEL |
		COMMAND_FLAG_USES_SEQS },
	{ "STARTTLS", imap_cmd_starttls, COMMAND_FLAG_ANY_STATE },
	{ "STATUS", cmd_status, COMMAND_FLAG_PARALLEL },
	{ "STORE", cmd_store, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID |
		COMMAND_FLAG_NO_EXPUNGES | COMMAND_FLAG_USES_SEQS },
	{ "SUBSCRIBE", cmd_subscribe, 0 },
	{ "THREAD", cmd_thread, COMMAND_FLAG_SELECTED | COMMAND_FLAG_UID |
		COMMAND_FLAG_NO_EXPUNGES | COMMAND_FLAG_PARALLEL |
		COMMAND_FLAG_USES_SEQS },
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

static bool atom_sets_seen(const char *atom)
{
	return strncasecmp(atom, "BODY[", 5) == 0 ||
		strncasecmp(atom, "BINARY[", 7) == 0 ||
		strcasecmp(atom, "RFC822") == 0 ||
		strcasecmp(atom, "RFC822.TEXT") == 0;
}

static bool atom_enables_condstore(const char *atom)
{
	return strcasecmp(atom, "MODSEQ") == 0 ||
		strcasecmp(atom, "HIGHESTMODSEQ") == 0 ||
		strcasecmp(atom, "CHANGEDSINCE") == 0 ||
		strcasecmp(atom, "UNCHANGEDSINCE") == 0;
}

static bool args_run_alone(const struct imap_arg *args, bool fetch,
			   bool readonly, bool condstore_enabled)
{
	const struct imap_arg *list;
	const char *atom;

	for (; !IMAP_ARG_IS_EOL(args); args++) {
		if (imap_arg_get_list(args, &list, NULL)) {
			if (args_run_alone(list, fetch, readonly,
					   condstore_enabled))
				return true;
			continue;
		}
		if (!imap_arg_get_atom(args, &atom))
			continue;
		if (fetch && !readonly && atom_sets_seen(atom))
			return true;
		if (!fetch && strcasecmp(atom, "SAVE") == 0)
			return true;
		if (!condstore_enabled && atom_enables_condstore(atom))
			return true;
	}
	return false;
}

bool command_args_run_alone(const struct command *command,
			    const struct imap_arg *args, bool readonly,
			    bool condstore_enabled)
{
	bool fetch = command->func == cmd_fetch;

	return args_run_alone(args, fetch, readonly, condstore_enabled);
}
