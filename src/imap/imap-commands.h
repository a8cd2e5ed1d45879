/* The IMAP command table and the contract every command file follows.

   HOW TO WRITE A COMMAND (one file per command: src/imap/cmd-NAME.c)

   1. The handler:
        #include "lib.h"
        #include "imap-common.h"
        bool imap_cmd_foo(struct client_command_context *cmd)
        {
                const struct imap_arg *args = cmd->args;
                const char *name;
                if (!imap_arg_get_astring(&args[0], &name) ||
                    !IMAP_ARG_IS_EOL(&args[1])) {
                        client_send_command_error(cmd, "Invalid arguments.");
                        return true;
                }
                client_send_linef(cmd->client, "* FOO %s", ...);
                client_send_tagline(cmd, "OK Foo completed.");
                return true;
        }
      Register it: declare it in the list below, add one line to the
      table in imap-commands.c ({ "FOO", imap_cmd_foo, flags }) and the file
      to src/imap/meson.build.

   2. Arguments: the core has parsed the whole line before the handler
      runs: cmd->args is an EOL-terminated array (lib-imap/imap-arg.h),
      valid until the command ends; cmd->uid is true after a "UID"
      prefix (only for commands with COMMAND_FLAG_UID). Check the state
      rules with flags (COMMAND_FLAG_SELECTED) rather than by hand.

   3. Replies: untagged lines with client_send_line()/client_send_linef()
      (without CRLF). Finish with exactly one tagged reply:
      client_send_tagline(cmd, "OK ..."/"NO ...") - for OK and NO it first
      sends the pending untagged updates of the selected mailbox (EXISTS,
      EXPUNGE, FETCH FLAGS) as the command's flags allow -,
      client_send_command_error(cmd, text) for BAD, or
      client_send_storage_error(cmd) after a failed lib-storage call
      (NO [SERVERBUG]/[NONEXISTENT]/... with the user-safe text; the
      internal text is already in the log). Mailbox names go through
      client_mailbox_name_to_storage()/_to_imap() (modified UTF-7 unless
      UTF8=ACCEPT) and strings through lib-imap/imap-string.h.

   4. Finishing: return true when the tagged reply is sent. Return false
      when the command is not finished yet; the core then calls cmd->func
      again (set cmd->func to a continuation and keep your state in
      cmd->context, allocated from cmd->pool) when:
        - output was full when you returned (check
          client_output_is_full(cmd->client) between items of a long
          reply, e.g. every FETCH line): you are called once it drains;
        - you called client_command_wait_input(cmd): you are called when
          input arrives (IDLE's DONE, literal bytes);
        - your asynchronous callback (storage commit, blob read) calls
          client_command_resume(cmd), which runs cmd->func at once.
      While a command waits, later pipelined commands may run (6.), so
      keep your state in cmd->context, never in the client. Output that
      stops in the middle of a response (a line or literal not finished)
      belongs to you until the response ends: no other command writes
      meanwhile. The session may be destroyed while a command waits
      (disconnect): then the core calls cmd->cancel (if set) so you can
      abort pending async work; after that, never touch cmd again. If
      the selected mailbox goes away while a COMMAND_FLAG_SELECTED command
      waits (the session is then ending with BYE), it is not called
      again, only cancelled.

   5. Streamed literals (APPEND): with COMMAND_FLAG_LITERAL_STREAM the
      handler is called as soon as the parser meets a literal: the last
      element of cmd->args is IMAP_ARG_LITERAL_SIZE (size, literal8,
      literal_sync). Then:
        client_command_literal_begin(cmd, size, sync)  - sends "+ OK" for
                  a synchronizing literal; the bytes will follow;
        size = client_command_literal_read(cmd, &data) - up to the
                  literal's remaining bytes that are buffered (0 = wait:
                  call client_command_wait_input() and return false);
                  client_command_literal_skip(cmd, n) consumes them;
                  respect back-pressure (mail_save_is_full()) by simply
                  not reading: input is not read while nothing consumes;
        client_command_read_more_args(cmd, &args) - after the last byte:
                  parses on: 1 = args (the next LITERAL_SIZE of a
                  MULTIAPPEND, or the end of the line: args[0] EOL; after
                  a top-level literal only what follows it, inside a list
                  (CATENATE) the whole line so far), 0 =
                  wait for input, -1 = a syntax error was sent as BAD (the
                  command is over: return true).
      A literal above the APPENDLIMIT never reaches the handler: the core
      answers NO [TOOBIG] (synchronizing: nothing was sent; otherwise the
      connection is closed, RFC 7888).

   6. Pipelining (RFC 9051 §5.5). Commands start in the order they came;
      a command with COMMAND_FLAG_PARALLEL may start while earlier ones
      still wait (for blob reads, storage, output), and later ones may
      start while it waits. A command without it runs alone: it starts
      when every earlier command has finished, and the next command is
      not even read before it has finished. Mark a command PARALLEL only
      if it changes nothing another command could observe (it reads
      mail, the mailbox list, counters); arguments that make it a writer
      (a FETCH that sets \Seen, SEARCH RETURN (SAVE), an item that
      enables CONDSTORE) are recognised by command_args_run_alone().
      USES_SEQS / BREAKS_SEQS keep sequence numbers unambiguous: a
      command using them does not start while an earlier one that may
      report expunges is in progress, and the reverse. Expunges are not
      sent in a tagged reply while another command that works on the
      selected mailbox is in progress.
*/
#ifndef COLUMBA_IMAP_COMMANDS_H
#define COLUMBA_IMAP_COMMANDS_H

#include "imap-parser.h"

struct client;
struct client_command_context;

typedef bool command_func_t(struct client_command_context *cmd);

enum command_flags {
	/* needs a selected mailbox (else BAD) */
	COMMAND_FLAG_SELECTED = 0x01,
	/* may be prefixed with "UID" (FETCH, STORE, SEARCH, COPY, MOVE,
	   EXPUNGE, SORT, THREAD) */
	COMMAND_FLAG_UID = 0x02,
	/* no EXPUNGE responses while it runs unless it is the UID form
	   (FETCH, STORE, SEARCH: RFC 9051 §7.5.1) */
	COMMAND_FLAG_NO_EXPUNGES = 0x04,
	/* parser stops at literals; see 5. above (APPEND) */
	COMMAND_FLAG_LITERAL_STREAM = 0x08,
	/* literal8 ~{n} accepted (APPEND, SEARCH with BINARY) */
	COMMAND_FLAG_LITERAL8 = 0x10,
	/* BODY[HEADER.FIELDS (A B)]<0.10> stays one atom (FETCH) */
	COMMAND_FLAG_FETCH_BRACKETS = 0x20,
	/* allowed in the not-authenticated state too: irrelevant after
	   login, documents the pre-login commands (CAPABILITY, NOOP,
	   LOGOUT, ID) */
	COMMAND_FLAG_ANY_STATE = 0x40,
	/* may run while other commands are in progress (6. above) */
	COMMAND_FLAG_PARALLEL = 0x80,
	/* the arguments of the non-UID form hold message sequence numbers
	   (FETCH, STORE, SEARCH, SORT, THREAD, COPY, MOVE) */
	COMMAND_FLAG_USES_SEQS = 0x100,
	/* may report expunges in its tagged reply (NOOP, CHECK; the UID
	   form of every COMMAND_FLAG_UID command is so too), which shifts
	   the sequence numbers of a command still in progress */
	COMMAND_FLAG_BREAKS_SEQS = 0x200,
};

struct command {
	/* upper case */
	const char *name;
	command_func_t *func;
	enum command_flags flags;
};

/* The command named name (case-insensitive), or NULL. */
const struct command *command_find(const char *name);
/* Whether a COMMAND_FLAG_PARALLEL command must still run alone because
   of its arguments: a FETCH that sets \Seen (BODY[...], BINARY[...],
   RFC822, RFC822.TEXT; not on a read-only mailbox), SEARCHRES's SAVE
   (SEARCH, SORT, THREAD), or an item that enables CONDSTORE (MODSEQ,
   HIGHESTMODSEQ, CHANGEDSINCE, UNCHANGEDSINCE) before it is enabled.
   Looks at atoms only, at every list level; a mailbox name that happens
   to look like one only costs parallelism. */
bool command_args_run_alone(const struct command *command,
			    const struct imap_arg *args, bool readonly,
			    bool condstore_enabled);

/* Handlers. Declared here so the table in imap-commands.c can name them;
   a declaration without a definition is harmless until it is used.
   NAMING: new handlers are imap_cmd_NAME. The columba binary links every
   protocol's static library, and a global symbol defined twice is not an
   error there: the first library on the link line wins. LMTP's cmd_noop
   silently answered IMAP's NOOP with "250 2.0.0 OK" that way. Names that
   other protocols also use (NOOP, CAPABILITY, LOGOUT, STARTTLS, QUIT,
   LIST...) must carry the prefix; the older cmd_* names below are kept
   until their owners rename them. */
command_func_t imap_cmd_capability, imap_cmd_noop, imap_cmd_logout;
command_func_t imap_cmd_id, imap_cmd_enable, imap_cmd_select;
command_func_t imap_cmd_examine, imap_cmd_close, imap_cmd_unselect;
command_func_t imap_cmd_check, imap_cmd_namespace, imap_cmd_idle;
command_func_t imap_cmd_starttls, imap_cmd_compress, imap_cmd_unauthenticate;
command_func_t imap_cmd_append, imap_cmd_expunge, imap_cmd_copy, imap_cmd_move;
command_func_t imap_cmd_getquota, imap_cmd_getquotaroot, imap_cmd_setquota;
command_func_t cmd_create, cmd_delete, cmd_rename, cmd_subscribe;
command_func_t cmd_unsubscribe, cmd_list, cmd_lsub, cmd_status;
command_func_t cmd_search, cmd_fetch, cmd_store;
command_func_t cmd_sort, cmd_thread, cmd_esearch;
command_func_t cmd_getquota, cmd_getquotaroot, cmd_setquota;
command_func_t cmd_getmetadata, cmd_setmetadata, cmd_compress;
command_func_t cmd_notify, cmd_replace, cmd_unauthenticate;

#endif
