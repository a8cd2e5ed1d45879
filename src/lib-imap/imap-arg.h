/* Parsed IMAP command arguments (RFC 9051 §9): what imap_parser_read()
   hands a command. A list of arguments is an array ending in an
   IMAP_ARG_EOL element, so handlers walk it with
     for (; !IMAP_ARG_IS_EOL(args); args++) ...
   and nested lists are arrays of their own (imap_arg_get_list()). All
   strings are NUL-terminated and live in the command's pool. */
#ifndef COLUMBA_IMAP_ARG_H
#define COLUMBA_IMAP_ARG_H

#include "lib.h"

enum imap_arg_type {
	IMAP_ARG_NIL = 0,
	/* a bare word: command words, flags (\Seen), fetch items
	   (BODY[HEADER.FIELDS (A B)]<0.100> is one atom when the command
	   parses with IMAP_PARSE_FLAG_FETCH_BRACKETS), sequence sets */
	IMAP_ARG_ATOM,
	/* "quoted" (escapes removed) */
	IMAP_ARG_STRING,
	/* {n} / {n+} / ~{n} read whole into memory. May contain NULs only
	   when literal8 (then str_len counts them). */
	IMAP_ARG_LITERAL,
	/* ( ... ) */
	IMAP_ARG_LIST,
	/* The parser stopped at a literal's header in streaming mode
	   (IMAP_PARSE_FLAG_LITERAL_STREAM): the caller reads the
	   literal_size bytes itself. Always the last argument returned. */
	IMAP_ARG_LITERAL_SIZE,
	/* end of a list or of the command line */
	IMAP_ARG_EOL,
};

struct imap_arg;
ARRAY_DEFINE_TYPE(imap_arg_list, struct imap_arg);

struct imap_arg {
	enum imap_arg_type type;
	/* LITERAL, LITERAL_SIZE: ~{n} (RFC 3516 literal8) */
	bool literal8:1;
	/* LITERAL_SIZE: a synchronizing literal: the client waits for a
	   continuation ("+ OK") before it sends the bytes */
	bool literal_sync:1;
	/* ATOM, STRING, LITERAL: length of str (without the NUL) */
	size_t str_len;
	union {
		const char *str;
		uint64_t literal_size;
		ARRAY_TYPE(imap_arg_list) list;
	} _data;
};

#define IMAP_ARG_IS_EOL(arg) ((arg)->type == IMAP_ARG_EOL)
#define IMAP_ARG_IS_NIL(arg) ((arg)->type == IMAP_ARG_NIL)

/* ATOM only. */
bool imap_arg_get_atom(const struct imap_arg *arg, const char **str_r);
/* STRING or LITERAL (RFC "string"). */
bool imap_arg_get_string(const struct imap_arg *arg, const char **str_r);
/* ATOM, STRING or LITERAL (RFC "astring"). A literal8 or a string with a
   NUL is refused: those are never valid astrings. */
bool imap_arg_get_astring(const struct imap_arg *arg, const char **str_r);
/* astring or NIL (*str_r = NULL for NIL). */
bool imap_arg_get_nstring(const struct imap_arg *arg, const char **str_r);
/* LIST: *list_r points at its first element (EOL-terminated), *count_r
   (may be NULL) the element count without the EOL. */
bool imap_arg_get_list(const struct imap_arg *arg,
		       const struct imap_arg **list_r, unsigned int *count_r);
/* An atom equal to name, case-insensitively. */
bool imap_arg_atom_equals(const struct imap_arg *arg, const char *name);
/* Number of elements before the EOL. */
unsigned int imap_arg_count(const struct imap_arg *args);

#endif
