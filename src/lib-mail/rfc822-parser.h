/* Lexical tokens of RFC 5322 / RFC 2045 structured header values: CFWS,
   atoms, quoted strings, phrases, domains, MIME tokens, Content-Type and its
   parameters. Every function works on a byte range (NULs and 8-bit bytes
   are data, not terminators) and is lenient: it takes what it can and tells
   the caller where it stopped. */
#ifndef COLUMBA_RFC822_PARSER_H
#define COLUMBA_RFC822_PARSER_H

#include "lib.h"

struct rfc822_parser {
	const unsigned char *data, *end;
	/* When set, each comment skipped replaces its content (without the
	   outer parentheses, quoted-pairs unescaped). Address parsing uses
	   it for "user@host (Real Name)". */
	string_t *last_comment;
};

/* Character classes: 0 = special/control/space, 1 = atext, 2 = letter,
   digit or 8-bit (atext and MIME token), 4 = atext but a MIME tspecial
   ('/', '=', '?'). 8-bit bytes count as atext: real mail carries raw
   UTF-8 and Latin-1 in phrases. */
extern const unsigned char rfc822_atext_chars[256];
#define RFC822_IS_ATEXT(c) (rfc822_atext_chars[(unsigned char)(c)] != 0)
#define RFC822_IS_TOKEN_CHAR(c) \
	((rfc822_atext_chars[(unsigned char)(c)] & 3) != 0)

void rfc822_parser_init(struct rfc822_parser *ctx, const void *data,
			size_t size, string_t *last_comment);

/* The functions below return 1 if there is more input after what they
   parsed (and the following CFWS), 0 at the end of input, -1 if the input
   is broken (ctx->data then points at the offending byte, or at the end).
   Parsed text is appended to str. */

/* At '(': skip a (nested) comment. */
int rfc822_skip_comment(struct rfc822_parser *ctx);
/* Skip whitespace (SP, TAB, CR, LF) and comments. */
int rfc822_skip_lwsp(struct rfc822_parser *ctx);
/* 1*atext; -1 if there is none. */
int rfc822_parse_atom(struct rfc822_parser *ctx, string_t *str);
/* atom *("." atom), CFWS allowed around the dots (RFC 822); -1 if a dot
   is not followed by an atom. */
int rfc822_parse_dot_atom(struct rfc822_parser *ctx, string_t *str);
/* Dot-atom that also takes leading, trailing and repeated dots (but no
   CFWS after a dot), for local parts; stops before "@". */
int rfc822_parse_dot_atom_lenient(struct rfc822_parser *ctx, string_t *str);
/* MIME token (dots allowed); may be empty. */
int rfc822_parse_mime_token(struct rfc822_parser *ctx, string_t *str);
/* At '"': quoted-pairs unescaped, folding CRLF removed. */
int rfc822_parse_quoted_string(struct rfc822_parser *ctx, string_t *str);
/* 1*word with obsolete dots, words joined by single spaces. */
int rfc822_parse_phrase(struct rfc822_parser *ctx, string_t *str);
/* At '@': dot-atom or domain-literal (kept with its brackets). */
int rfc822_parse_domain(struct rfc822_parser *ctx, string_t *str);
/* type "/" subtype into str. -1 if broken: str then has the type if only
   the "/subtype" was missing, nothing if anything else was wrong (a
   missing subtype after "/", text other than parameters after it). */
int rfc822_parse_content_type(struct rfc822_parser *ctx, string_t *str);
/* At ";": one "attribute=value" parameter. Returns 0 at the end of input,
   1 with *key_r (data stack) and value set, -1 if broken. */
int rfc822_parse_content_param(struct rfc822_parser *ctx, const char **key_r,
			       string_t *value);

#endif
