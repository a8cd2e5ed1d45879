/* Streaming parser for IMAP command lines (RFC 9051 §9, RFC 3501 §9,
   LITERAL+/LITERAL- RFC 7888, literal8 RFC 3516, UTF-8 RFC 6855).

   The parser is fed whatever bytes have arrived (one byte at a time is
   fine) and consumes only what it has parsed, so it never needs the whole
   line in memory at once beyond its limits: the line (without literal
   data) is bounded by max_line_size, in-memory literals by
   max_literal_size, nesting by max_depth and arguments by max_args.

   A command is read in steps:
     imap_parser_read_word()  the tag, then the command name (and, after
                              "UID", the real command name);
     imap_parser_read_args()  the arguments up to the end of the line.
   Between the name and the arguments the caller may set flags for this
   command (imap_parser_set_flags(): e.g. streaming literals for APPEND).

   Literals: a synchronizing literal {n} needs a continuation request
   ("+ OK") from the server before the client sends the bytes; the parser
   returns IMAP_PARSER_RET_CONTINUE when it has seen one (and accepted its
   size), and the caller sends "+ OK" and keeps feeding. In streaming mode
   the parser instead stops at the literal with IMAP_PARSER_RET_LITERAL; the
   caller reads the bytes itself (sending "+ OK" first when literal_sync),
   then calls imap_parser_literal_done() and continues.

   Errors: IMAP_PARSER_RET_ERROR with imap_parser_get_error(). A non-fatal
   error means the parser has consumed or can skip the rest of the line
   (call imap_parser_skip_line() until it returns 1) and the connection can
   go on with the next command; a fatal one means the byte stream can no
   longer be trusted (an unread non-synchronizing literal, an overlong
   line) and the connection must be closed after the reply. */
#ifndef COLUMBA_IMAP_PARSER_H
#define COLUMBA_IMAP_PARSER_H

#include "imap-arg.h"

/* RFC 7888 LITERAL-: the largest non-synchronizing literal */
#define IMAP_LITERAL_MINUS_MAX_SIZE 4096

enum imap_parser_flags {
	/* stop at every literal (IMAP_PARSER_RET_LITERAL) instead of
	   reading it into memory; its size limit is max_stream_literal_size */
	IMAP_PARSE_FLAG_LITERAL_STREAM = 0x01,
	/* accept literal8 ~{n} (BINARY: APPEND, and SEARCH's literals) */
	IMAP_PARSE_FLAG_LITERAL8 = 0x02,
	/* FETCH: "[" inside an atom opens a section that runs to its "]"
	   and may hold spaces and parentheses:
	   BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> is one atom */
	IMAP_PARSE_FLAG_FETCH_BRACKETS = 0x04,
	/* 8-bit bytes allowed in quoted strings, as valid UTF-8 (IMAP4rev2,
	   UTF8=ACCEPT); otherwise any 8-bit byte in a quoted string is an
	   error */
	IMAP_PARSE_FLAG_UTF8 = 0x08,
	/* LITERAL- instead of LITERAL+: a non-synchronizing literal above
	   4096 bytes is a fatal error */
	IMAP_PARSE_FLAG_LITERAL_MINUS = 0x10,
};

struct imap_parser_settings {
	/* longest command line, not counting literal data (0 = 64 KiB) */
	size_t max_line_size;
	/* largest literal read into memory (0 = 64 KiB) */
	uint64_t max_literal_size;
	/* largest streamed literal (APPENDLIMIT; 0 = no limit). A larger
	   one is refused with code "TOOBIG" */
	uint64_t max_stream_literal_size;
	/* deepest nesting of parentheses (0 = 16) */
	unsigned int max_depth;
	/* most arguments in one command, at every level together
	   (0 = 10000) */
	unsigned int max_args;
};

enum imap_parser_ret {
	IMAP_PARSER_RET_ERROR = -1,
	/* all input consumed; feed more */
	IMAP_PARSER_RET_MORE = 0,
	/* the word or the argument list is complete */
	IMAP_PARSER_RET_DONE = 1,
	/* a synchronizing literal was announced and accepted: send "+ OK"
	   then keep feeding */
	IMAP_PARSER_RET_CONTINUE = 2,
	/* streaming mode: stopped at a literal, the last argument is
	   IMAP_ARG_LITERAL_SIZE */
	IMAP_PARSER_RET_LITERAL = 3,
};

struct imap_parser;

/* set is copied. The parser allocates its working buffer lazily and
   frees it in imap_parser_reset(): an idle parser is a few words. */
struct imap_parser *imap_parser_create(const struct imap_parser_settings *set);
void imap_parser_destroy(struct imap_parser **parser);

/* Start a new command: arguments will come from pool (the command's
   pool, which must live as long as the args are used), flags back to 0. */
void imap_parser_reset(struct imap_parser *parser, pool_t pool);
void imap_parser_set_flags(struct imap_parser *parser,
			   enum imap_parser_flags flags);
enum imap_parser_flags imap_parser_get_flags(const struct imap_parser *parser);

/* Read one word (tag or command name): a run of atom characters ended by
   SP (consumed) or CRLF (left for read_args(), so "a NOOP\r\n" gives
   NOOP then an empty argument list). is_tag applies the tag grammar (no
   '+'). Returns DONE with *word_r (valid until the next reset), MORE, or
   ERROR (empty word, bad character, too long). *consumed_r is always
   set. */
enum imap_parser_ret
imap_parser_read_word(struct imap_parser *parser, const unsigned char *data,
		      size_t size, bool is_tag, size_t *consumed_r,
		      const char **word_r);
/* True if the last read_word() stopped at the end of the line. */
bool imap_parser_at_eol(const struct imap_parser *parser);

/* Parse arguments until the end of the line. Returns DONE with *args_r
   (EOL-terminated; they stay valid until reset), MORE, CONTINUE,
   LITERAL (with the args so far in *args_r) or ERROR. *consumed_r is
   always set; call again with the unconsumed rest. */
enum imap_parser_ret
imap_parser_read_args(struct imap_parser *parser, const unsigned char *data,
		      size_t size, size_t *consumed_r,
		      const struct imap_arg **args_r);

/* Streaming mode: the caller has consumed the literal's bytes. The next
   read_args() continues after it. */
void imap_parser_literal_done(struct imap_parser *parser);
/* Streaming mode, after imap_parser_literal_done(): forget the arguments
   returned so far, so a MULTIAPPEND of many messages does not grow
   memory: the next read_args() returns only what follows. Only at the top
   level: inside a list (CATENATE) it does nothing and returns false. */
bool imap_parser_drop_args(struct imap_parser *parser);

/* After an error: consume up to and including the end of the line.
   Returns 1 when done, 0 if more input is needed. */
int imap_parser_skip_line(struct imap_parser *parser,
			  const unsigned char *data, size_t size,
			  size_t *consumed_r);

/* The last error: a text for the client's BAD/NO line; *fatal_r (may be
   NULL) whether the connection must be closed; *code_r (may be NULL) a
   response code ("TOOBIG") or NULL. */
const char *imap_parser_get_error(const struct imap_parser *parser,
				  bool *fatal_r, const char **code_r);

#endif
