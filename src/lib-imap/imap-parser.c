/* The IMAP command-line parser: a byte-driven state machine, so input may
   arrive split anywhere (inside a quoted string, a literal header, a CRLF)
   and the parser keeps only the token being read, the arguments built so
   far and a few counters. See imap-parser.h for the contract. */
#include "lib.h"
#include "imap-parser.h"
#include "imap-utf7.h"

#define DEFAULT_MAX_LINE_SIZE (64 * 1024)
#define DEFAULT_MAX_LITERAL_SIZE (64 * 1024)
#define DEFAULT_MAX_DEPTH 16
#define DEFAULT_MAX_ARGS 10000
/* "18446744073709551615" */
#define MAX_LITERAL_DIGITS 20
/* what skip_line() remembers of a line's end to spot a literal header */
#define SKIP_TAIL_SIZE 32

enum parser_state {
	STATE_WORD,
	STATE_ARG_START,
	STATE_ATOM,
	STATE_ATOM_BRACKET,
	STATE_QUOTED,
	STATE_QUOTED_ESCAPE,
	STATE_LITERAL8_TILDE,
	STATE_LITERAL_DIGITS,
	STATE_LITERAL_CLOSE,
	STATE_LITERAL_CR,
	STATE_LITERAL_LF,
	STATE_LITERAL_DATA,
	STATE_LITERAL_WAIT,
	STATE_EOL_LF,
	STATE_DONE,
	STATE_ERROR,
};

struct imap_parser {
	struct imap_parser_settings set;
	enum imap_parser_flags flags;
	pool_t pool;
	enum parser_state state;

	/* the token being read (words, atoms, quoted strings) */
	buffer_t token;
	/* bytes of the line consumed, literal data excluded */
	size_t line_size;
	uint64_t literal_mem_total;

	ARRAY_TYPE(imap_arg_list) root;
	/* the open lists, innermost last; stack[0] is &root. An open list is
	   always the last element of its parent, which is not appended to
	   while it is open, so these pointers stay valid. */
	ARRAY(ARRAY_TYPE(imap_arg_list) *) stack;
	unsigned int arg_count;
	/* the last argument needs SP, ')' or CRLF before the next one */
	bool need_sep;
	bool last_was_space;

	/* literal being read */
	uint64_t literal_size;
	uint64_t literal_pos;
	unsigned int literal_digits;
	bool literal8, literal_nonsync;
	char *literal_data;
	/* RET_LITERAL added a temporary EOL to every open list */
	bool temp_eols;

	bool word_at_eol;
	/* the error was detected at the end of the line: nothing to skip */
	bool error_line_ended;
	bool error_fatal;
	const char *error;
	const char *error_code;

	/* skip_line() */
	unsigned char skip_tail[SKIP_TAIL_SIZE];
	unsigned int skip_tail_len;
	uint64_t skip_literal_left;
};

bool imap_arg_get_atom(const struct imap_arg *arg, const char **str_r)
{
	if (arg->type != IMAP_ARG_ATOM)
		return false;
	*str_r = arg->_data.str;
	return true;
}

bool imap_arg_get_string(const struct imap_arg *arg, const char **str_r)
{
	if (arg->type != IMAP_ARG_STRING && arg->type != IMAP_ARG_LITERAL)
		return false;
	if (arg->literal8 || strlen(arg->_data.str) != arg->str_len)
		return false;
	*str_r = arg->_data.str;
	return true;
}

bool imap_arg_get_astring(const struct imap_arg *arg, const char **str_r)
{
	/* "NIL" as an atom is a valid astring (a mailbox named NIL) */
	if (arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_NIL) {
		*str_r = arg->_data.str;
		return true;
	}
	return imap_arg_get_string(arg, str_r);
}

bool imap_arg_get_nstring(const struct imap_arg *arg, const char **str_r)
{
	if (arg->type == IMAP_ARG_NIL) {
		*str_r = NULL;
		return true;
	}
	return imap_arg_get_string(arg, str_r);
}

bool imap_arg_get_list(const struct imap_arg *arg,
		       const struct imap_arg **list_r, unsigned int *count_r)
{
	if (arg->type != IMAP_ARG_LIST)
		return false;
	*list_r = arg->_data.list.v;
	if (count_r != NULL)
		*count_r = arg->_data.list.count - 1;
	return true;
}

bool imap_arg_atom_equals(const struct imap_arg *arg, const char *name)
{
	return arg->type == IMAP_ARG_ATOM &&
		strcasecmp(arg->_data.str, name) == 0;
}

unsigned int imap_arg_count(const struct imap_arg *args)
{
	unsigned int count = 0;
	while (!IMAP_ARG_IS_EOL(&args[count]))
		count++;
	return count;
}

struct imap_parser *imap_parser_create(const struct imap_parser_settings *set)
{
	struct imap_parser *parser = i_new(struct imap_parser, 1);

	parser->set = *set;
	if (parser->set.max_line_size == 0)
		parser->set.max_line_size = DEFAULT_MAX_LINE_SIZE;
	if (parser->set.max_literal_size == 0)
		parser->set.max_literal_size = DEFAULT_MAX_LITERAL_SIZE;
	if (parser->set.max_depth == 0)
		parser->set.max_depth = DEFAULT_MAX_DEPTH;
	if (parser->set.max_args == 0)
		parser->set.max_args = DEFAULT_MAX_ARGS;
	buffer_init(&parser->token, system_pool);
	parser->state = STATE_ERROR;
	parser->error = "Parser not reset";
	return parser;
}

void imap_parser_destroy(struct imap_parser **_parser)
{
	struct imap_parser *parser = *_parser;

	if (parser == NULL)
		return;
	*_parser = NULL;
	buffer_release(&parser->token);
	array_free(&parser->stack);
	i_free(parser);
}

void imap_parser_reset(struct imap_parser *parser, pool_t pool)
{
	buffer_release(&parser->token);
	array_free(&parser->stack);
	parser->pool = pool;
	parser->flags = 0;
	parser->state = STATE_WORD;
	parser->line_size = 0;
	parser->literal_mem_total = 0;
	parser->root.pool = NULL;
	parser->root.v = NULL;
	parser->root.count = parser->root.alloc = 0;
	parser->arg_count = 0;
	parser->need_sep = false;
	parser->last_was_space = false;
	parser->literal_data = NULL;
	parser->temp_eols = false;
	parser->word_at_eol = false;
	parser->error_line_ended = false;
	parser->error_fatal = false;
	parser->error = NULL;
	parser->error_code = NULL;
	parser->skip_tail_len = 0;
	parser->skip_literal_left = 0;
}

void imap_parser_set_flags(struct imap_parser *parser,
			   enum imap_parser_flags flags)
{
	parser->flags = flags;
}

enum imap_parser_flags imap_parser_get_flags(const struct imap_parser *parser)
{
	return parser->flags;
}

bool imap_parser_at_eol(const struct imap_parser *parser)
{
	return parser->word_at_eol;
}

const char *imap_parser_get_error(const struct imap_parser *parser,
				  bool *fatal_r, const char **code_r)
{
	if (fatal_r != NULL)
		*fatal_r = parser->error_fatal;
	if (code_r != NULL)
		*code_r = parser->error_code;
	return parser->error != NULL ? parser->error : "Invalid arguments";
}

static enum imap_parser_ret
parser_error(struct imap_parser *parser, const char *error, bool fatal)
{
	parser->state = STATE_ERROR;
	parser->error = error;
	parser->error_fatal = fatal;
	return IMAP_PARSER_RET_ERROR;
}

/* atom-specials (RFC 9051 §9) other than the ones a word ends at */
static inline bool is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '"':
		return false;
	default:
		return true;
	}
}

static inline ARRAY_TYPE(imap_arg_list) *parser_cur_list(struct imap_parser *parser)
{
	return *array_last(&parser->stack);
}

static struct imap_arg *parser_new_arg(struct imap_parser *parser,
				       enum imap_arg_type type)
{
	ARRAY_TYPE(imap_arg_list) *list = parser_cur_list(parser);
	struct imap_arg *arg;

	parser->arg_count++;
	arg = array_append_space(list);
	arg->type = type;
	return arg;
}

static bool parser_check_new_arg(struct imap_parser *parser)
{
	if (parser->need_sep) {
		parser_error(parser, "Missing space between arguments", false);
		return false;
	}
	if (parser->arg_count >= parser->set.max_args) {
		parser_error(parser, "Too many arguments", false);
		return false;
	}
	return true;
}

static const char *parser_token_dup(struct imap_parser *parser)
{
	return p_strndup(parser->pool, parser->token.data, parser->token.used);
}

static void parser_finish_atom(struct imap_parser *parser)
{
	size_t len = parser->token.used;
	bool nil = len == 3 && strncasecmp((const char *)parser->token.data,
					   "NIL", 3) == 0;
	struct imap_arg *arg = parser_new_arg(parser, nil ? IMAP_ARG_NIL :
					      IMAP_ARG_ATOM);
	arg->_data.str = parser_token_dup(parser);
	arg->str_len = len;
	buffer_reset(&parser->token);
	parser->need_sep = true;
}

static bool parser_finish_quoted(struct imap_parser *parser)
{
	const unsigned char *p = parser->token.data;
	size_t len = parser->token.used;
	bool eightbit = false;

	for (size_t i = 0; i < len; i++) {
		if (p[i] >= 0x80) {
			eightbit = true;
			break;
		}
	}
	if (eightbit && !imap_utf8_is_valid(p, len)) {
		parser_error(parser, "Invalid UTF-8 in quoted string", false);
		return false;
	}
	struct imap_arg *arg = parser_new_arg(parser, IMAP_ARG_STRING);
	arg->_data.str = parser_token_dup(parser);
	arg->str_len = len;
	buffer_reset(&parser->token);
	parser->need_sep = true;
	return true;
}

static void parser_open_list(struct imap_parser *parser)
{
	struct imap_arg *arg = parser_new_arg(parser, IMAP_ARG_LIST);

	array_init(&arg->_data.list, parser->pool, 4);
	array_push(&parser->stack, &arg->_data.list);
	parser->need_sep = false;
}

static void parser_close_list(struct imap_parser *parser)
{
	struct imap_arg *eol = array_append_space(parser_cur_list(parser));

	eol->type = IMAP_ARG_EOL;
	parser->stack.count--;
	parser->need_sep = true;
}

/* Recompute the stack's pointers from the root: each open list is the
   last element of its parent (before a temporary EOL, if any). */
static void parser_fix_stack(struct imap_parser *parser, bool with_eols)
{
	unsigned int skip = with_eols ? 2 : 1;

	parser->stack.v[0] = &parser->root;
	for (unsigned int i = 1; i < parser->stack.count; i++) {
		ARRAY_TYPE(imap_arg_list) *parent = parser->stack.v[i - 1];
		struct imap_arg *arg = &parent->v[parent->count - skip];
		i_assert(arg->type == IMAP_ARG_LIST);
		parser->stack.v[i] = &arg->_data.list;
	}
}

static void parser_add_temp_eols(struct imap_parser *parser)
{
	/* innermost first: growing a list moves only its own elements, and
	   the headers of lists further in have been used by then */
	for (unsigned int i = parser->stack.count; i > 0; i--) {
		struct imap_arg *eol = array_append_space(parser->stack.v[i - 1]);
		eol->type = IMAP_ARG_EOL;
	}
	parser_fix_stack(parser, true);
	parser->temp_eols = true;
}

static void parser_remove_temp_eols(struct imap_parser *parser)
{
	if (!parser->temp_eols)
		return;
	for (unsigned int i = 0; i < parser->stack.count; i++)
		parser->stack.v[i]->count--;
	parser->temp_eols = false;
	parser_fix_stack(parser, false);
}

static bool parser_line_grow(struct imap_parser *parser, size_t n)
{
	parser->line_size += n;
	if (parser->line_size > parser->set.max_line_size) {
		parser_error(parser, "Too long command line", true);
		return false;
	}
	return true;
}

enum imap_parser_ret
imap_parser_read_word(struct imap_parser *parser, const unsigned char *data,
		      size_t size, bool is_tag, size_t *consumed_r,
		      const char **word_r)
{
	size_t i;

	*consumed_r = 0;
	if (parser->state != STATE_WORD) {
		if (parser->state == STATE_ERROR)
			return IMAP_PARSER_RET_ERROR;
		/* a new word after the previous one */
		parser->state = STATE_WORD;
	}
	for (i = 0; i < size; i++) {
		unsigned char c = data[i];

		if (c == ' ' || c == '\r' || c == '\n') {
			if (parser->token.used == 0) {
				*consumed_r = i;
				return parser_error(parser,
					is_tag ? "Missing tag" :
					"Missing command name", false);
			}
			*word_r = parser_token_dup(parser);
			buffer_reset(&parser->token);
			parser->word_at_eol = c != ' ';
			*consumed_r = c == ' ' ? i + 1 : i;
			if (!parser_line_grow(parser, *consumed_r))
				return IMAP_PARSER_RET_ERROR;
			parser->state = STATE_ARG_START;
			return IMAP_PARSER_RET_DONE;
		}
		if (!is_atom_char(c) || (is_tag && c == '+') ||
		    (!is_tag && (c == '[' || c == ']' || c == '\\' ||
				 c == '%' || c == '*'))) {
			*consumed_r = i;
			return parser_error(parser, is_tag ? "Invalid tag" :
					    "Invalid command name", false);
		}
		buffer_append_c(&parser->token, c);
		if (parser->token.used > 128) {
			*consumed_r = i + 1;
			return parser_error(parser, is_tag ? "Too long tag" :
					    "Too long command name", false);
		}
	}
	*consumed_r = size;
	if (!parser_line_grow(parser, size))
		return IMAP_PARSER_RET_ERROR;
	return IMAP_PARSER_RET_MORE;
}

/* The literal header {n} / {n+} / ~{n} and its CRLF are read: check the
   size and decide how to go on. */
static enum imap_parser_ret parser_literal_start(struct imap_parser *parser)
{
	bool stream = (parser->flags & IMAP_PARSE_FLAG_LITERAL_STREAM) != 0;
	uint64_t limit = stream ? parser->set.max_stream_literal_size :
		parser->set.max_literal_size;

	/* the header ended the line: an error here leaves nothing to skip */
	parser->error_line_ended = true;
	if (parser->literal_nonsync &&
	    (parser->flags & IMAP_PARSE_FLAG_LITERAL_MINUS) != 0 &&
	    parser->literal_size > IMAP_LITERAL_MINUS_MAX_SIZE) {
		/* RFC 7888 §4: the client sent it anyway; its bytes follow
		   and cannot be told apart from commands */
		return parser_error(parser,
			"Non-synchronizing literal larger than 4096 bytes",
			true);
	}
	if (stream) {
		if (limit != 0 && parser->literal_size > limit) {
			parser->error_code = "TOOBIG";
			return parser_error(parser, "Literal too large",
					    parser->literal_nonsync);
		}
		struct imap_arg *arg = parser_new_arg(parser,
						      IMAP_ARG_LITERAL_SIZE);
		arg->_data.literal_size = parser->literal_size;
		arg->literal8 = parser->literal8;
		arg->literal_sync = !parser->literal_nonsync;
		parser->need_sep = true;
		parser->error_line_ended = false;
		parser->state = STATE_LITERAL_WAIT;
		return IMAP_PARSER_RET_LITERAL;
	}
	if (parser->literal_size > limit ||
	    parser->literal_mem_total + parser->literal_size > limit) {
		return parser_error(parser, "Literal too large",
				    parser->literal_nonsync);
	}
	parser->error_line_ended = false;
	parser->literal_mem_total += parser->literal_size;
	parser->literal_data = p_malloc(parser->pool, parser->literal_size + 1);
	parser->literal_pos = 0;
	parser->state = STATE_LITERAL_DATA;
	return parser->literal_nonsync ? IMAP_PARSER_RET_MORE :
		IMAP_PARSER_RET_CONTINUE;
}

static void parser_literal_finish(struct imap_parser *parser)
{
	struct imap_arg *arg = parser_new_arg(parser, IMAP_ARG_LITERAL);

	arg->_data.str = parser->literal_data;
	arg->str_len = parser->literal_size;
	arg->literal8 = parser->literal8;
	parser->literal_data = NULL;
	parser->need_sep = true;
	parser->state = STATE_ARG_START;
}

static enum imap_parser_ret
parser_arg_start(struct imap_parser *parser, unsigned char c)
{
	switch (c) {
	case ' ':
		if (!parser->need_sep)
			return parser_error(parser, "Unexpected space", false);
		parser->need_sep = false;
		parser->last_was_space = true;
		return IMAP_PARSER_RET_MORE;
	case '\r':
		parser->state = STATE_EOL_LF;
		return IMAP_PARSER_RET_MORE;
	case '\n':
		parser->state = STATE_EOL_LF;
		return IMAP_PARSER_RET_DONE;
	case ')':
		if (parser->stack.count <= 1)
			return parser_error(parser, "Unexpected ')'", false);
		if (parser->last_was_space && !parser->need_sep)
			return parser_error(parser, "Unexpected space before ')'",
					    false);
		parser_close_list(parser);
		parser->last_was_space = false;
		return IMAP_PARSER_RET_MORE;
	default:
		break;
	}
	parser->last_was_space = false;
	if (!parser_check_new_arg(parser))
		return IMAP_PARSER_RET_ERROR;
	switch (c) {
	case '(':
		if (parser->stack.count > parser->set.max_depth)
			return parser_error(parser, "Too deeply nested lists",
					    false);
		parser_open_list(parser);
		return IMAP_PARSER_RET_MORE;
	case '"':
		parser->state = STATE_QUOTED;
		return IMAP_PARSER_RET_MORE;
	case '{':
		parser->literal8 = false;
		parser->state = STATE_LITERAL_DIGITS;
		parser->literal_size = 0;
		parser->literal_digits = 0;
		parser->literal_nonsync = false;
		return IMAP_PARSER_RET_MORE;
	case '~':
		if ((parser->flags & IMAP_PARSE_FLAG_LITERAL8) != 0) {
			parser->state = STATE_LITERAL8_TILDE;
			return IMAP_PARSER_RET_MORE;
		}
		break;
	default:
		break;
	}
	if (c == '[' && (parser->flags & IMAP_PARSE_FLAG_FETCH_BRACKETS) != 0) {
		buffer_append_c(&parser->token, c);
		parser->state = STATE_ATOM_BRACKET;
		return IMAP_PARSER_RET_MORE;
	}
	if (!is_atom_char(c))
		return parser_error(parser, "Invalid character in atom", false);
	buffer_append_c(&parser->token, c);
	parser->state = STATE_ATOM;
	return IMAP_PARSER_RET_MORE;
}

/* One byte. Returns MORE to go on, or a result to hand back. */
static enum imap_parser_ret
parser_byte(struct imap_parser *parser, unsigned char c)
{
	switch (parser->state) {
	case STATE_ARG_START:
		return parser_arg_start(parser, c);
	case STATE_ATOM:
		if (c == ' ' || c == '\r' || c == '\n' || c == ')') {
			parser_finish_atom(parser);
			parser->state = STATE_ARG_START;
			return parser_arg_start(parser, c);
		}
		if (c == '[' &&
		    (parser->flags & IMAP_PARSE_FLAG_FETCH_BRACKETS) != 0) {
			buffer_append_c(&parser->token, c);
			parser->state = STATE_ATOM_BRACKET;
			return IMAP_PARSER_RET_MORE;
		}
		if (!is_atom_char(c))
			return parser_error(parser, "Invalid character in atom",
					    false);
		buffer_append_c(&parser->token, c);
		return IMAP_PARSER_RET_MORE;
	case STATE_ATOM_BRACKET:
		if (c < 0x20 || c >= 0x7f || c == '[' || c == '{')
			return parser_error(parser,
				"Invalid character in section", false);
		buffer_append_c(&parser->token, c);
		if (c == ']')
			parser->state = STATE_ATOM;
		return IMAP_PARSER_RET_MORE;
	case STATE_QUOTED:
		if (c == '"') {
			if (!parser_finish_quoted(parser))
				return IMAP_PARSER_RET_ERROR;
			parser->state = STATE_ARG_START;
			return IMAP_PARSER_RET_MORE;
		}
		if (c == '\\') {
			parser->state = STATE_QUOTED_ESCAPE;
			return IMAP_PARSER_RET_MORE;
		}
		if (c == '\r' || c == '\n' || c == '\0')
			return parser_error(parser,
				"Invalid character in quoted string", false);
		if (c >= 0x80 && (parser->flags & IMAP_PARSE_FLAG_UTF8) == 0)
			return parser_error(parser,
				"8-bit data in quoted string", false);
		buffer_append_c(&parser->token, c);
		return IMAP_PARSER_RET_MORE;
	case STATE_QUOTED_ESCAPE:
		if (c != '"' && c != '\\')
			return parser_error(parser,
				"Invalid escape in quoted string", false);
		buffer_append_c(&parser->token, c);
		parser->state = STATE_QUOTED;
		return IMAP_PARSER_RET_MORE;
	case STATE_LITERAL8_TILDE:
		if (c != '{')
			return parser_error(parser, "Expected '{' after '~'",
					    false);
		parser->literal8 = true;
		parser->literal_size = 0;
		parser->literal_digits = 0;
		parser->literal_nonsync = false;
		parser->state = STATE_LITERAL_DIGITS;
		return IMAP_PARSER_RET_MORE;
	case STATE_LITERAL_DIGITS:
		if (c >= '0' && c <= '9') {
			uint64_t digit = (uint64_t)(c - '0');
			if (parser->literal_digits == 1 &&
			    parser->literal_size == 0)
				return parser_error(parser,
					"Leading zero in literal size", false);
			if (parser->literal_size > (UINT64_MAX - digit) / 10 ||
			    ++parser->literal_digits > MAX_LITERAL_DIGITS)
				return parser_error(parser,
					"Literal size too large", true);
			parser->literal_size = parser->literal_size * 10 + digit;
			return IMAP_PARSER_RET_MORE;
		}
		if (parser->literal_digits == 0)
			return parser_error(parser, "Invalid literal size",
					    false);
		if (c == '+') {
			parser->literal_nonsync = true;
			parser->state = STATE_LITERAL_CLOSE;
			return IMAP_PARSER_RET_MORE;
		}
		parser->state = STATE_LITERAL_CLOSE;
		/* fall through */
	case STATE_LITERAL_CLOSE:
		if (c != '}')
			return parser_error(parser, "Invalid literal size",
					    false);
		parser->state = STATE_LITERAL_CR;
		return IMAP_PARSER_RET_MORE;
	case STATE_LITERAL_CR:
		if (c == '\r') {
			parser->state = STATE_LITERAL_LF;
			return IMAP_PARSER_RET_MORE;
		}
		/* a bare LF ends the header too */
		/* fall through */
	case STATE_LITERAL_LF:
		if (c != '\n') {
			return parser_error(parser,
				"Missing CRLF after literal size", false);
		}
		return parser_literal_start(parser);
	case STATE_EOL_LF:
		if (c != '\n')
			return parser_error(parser, "CR without LF", false);
		return IMAP_PARSER_RET_DONE;
	case STATE_WORD:
	case STATE_LITERAL_DATA:
	case STATE_LITERAL_WAIT:
	case STATE_DONE:
	case STATE_ERROR:
		break;
	}
	i_unreached();
}

/* How many bytes from data on are ordinary characters of the current
   atom, fetch section or quoted string: ones parser_byte() would only
   append. */
static size_t parser_plain_run(const struct imap_parser *parser,
			       const unsigned char *data, size_t size)
{
	bool fetch = (parser->flags & IMAP_PARSE_FLAG_FETCH_BRACKETS) != 0;
	size_t i = 0;

	if (parser->state == STATE_ATOM) {
		while (i < size && is_atom_char(data[i]) &&
		       !(fetch && data[i] == '['))
			i++;
	} else if (parser->state == STATE_ATOM_BRACKET) {
		while (i < size && data[i] >= 0x20 && data[i] < 0x7f &&
		       data[i] != '[' && data[i] != '{' && data[i] != ']')
			i++;
	} else {
		while (i < size && data[i] >= 0x20 && data[i] < 0x80 &&
		       data[i] != '"' && data[i] != '\\')
			i++;
	}
	return i;
}

static enum imap_parser_ret
parser_finish_line(struct imap_parser *parser, const struct imap_arg **args_r)
{
	if (parser->stack.count > 1) {
		parser->error_line_ended = true;
		return parser_error(parser, "Missing ')'", false);
	}
	struct imap_arg *eol = array_append_space(&parser->root);
	eol->type = IMAP_ARG_EOL;
	parser->state = STATE_DONE;
	*args_r = parser->root.v;
	return IMAP_PARSER_RET_DONE;
}

enum imap_parser_ret
imap_parser_read_args(struct imap_parser *parser, const unsigned char *data,
		      size_t size, size_t *consumed_r,
		      const struct imap_arg **args_r)
{
	size_t i = 0;

	*consumed_r = 0;
	switch (parser->state) {
	case STATE_ERROR:
		return IMAP_PARSER_RET_ERROR;
	case STATE_DONE:
		*args_r = parser->root.v;
		return IMAP_PARSER_RET_DONE;
	case STATE_LITERAL_WAIT:
		*args_r = parser->root.v;
		return IMAP_PARSER_RET_LITERAL;
	case STATE_WORD:
		/* read_args() without a word first: the line starts here */
		parser->state = STATE_ARG_START;
		break;
	default:
		break;
	}
	if (!array_is_created(&parser->stack)) {
		array_init(&parser->root, parser->pool, 8);
		array_init(&parser->stack, system_pool, 4);
		array_push(&parser->stack, &parser->root);
	}

	while (i < size) {
		if (parser->state == STATE_LITERAL_DATA) {
			uint64_t left = parser->literal_size -
				parser->literal_pos;
			size_t n = (size_t)I_MIN((uint64_t)(size - i), left);
			if (!parser->literal8 &&
			    memchr(data + i, '\0', n) != NULL) {
				/* the rest of the literal is data we cannot
				   tell apart from commands */
				*consumed_r = i;
				return parser_error(parser,
					"NUL in literal", true);
			}
			memcpy(parser->literal_data + parser->literal_pos,
			       data + i, n);
			parser->literal_pos += n;
			i += n;
			if (parser->literal_pos == parser->literal_size)
				parser_literal_finish(parser);
			continue;
		}
		if (parser->state == STATE_ATOM ||
		    parser->state == STATE_ATOM_BRACKET ||
		    parser->state == STATE_QUOTED) {
			/* fast path: a run of plain characters inside an atom
			   or a quoted string is copied at once */
			size_t n = parser_plain_run(parser, data + i, size - i);
			if (n > 0) {
				if (!parser_line_grow(parser, n)) {
					*consumed_r = i + n;
					return IMAP_PARSER_RET_ERROR;
				}
				buffer_append(&parser->token, data + i, n);
				i += n;
				continue;
			}
		}
		unsigned char c = data[i++];
		if (!parser_line_grow(parser, 1)) {
			*consumed_r = i;
			return IMAP_PARSER_RET_ERROR;
		}
		enum imap_parser_ret ret = parser_byte(parser, c);
		switch (ret) {
		case IMAP_PARSER_RET_MORE:
			if (parser->state == STATE_LITERAL_DATA &&
			    parser->literal_size == 0)
				parser_literal_finish(parser);
			continue;
		case IMAP_PARSER_RET_ERROR:
			*consumed_r = i;
			if (c == '\n')
				parser->error_line_ended = true;
			return ret;
		case IMAP_PARSER_RET_DONE:
			*consumed_r = i;
			return parser_finish_line(parser, args_r);
		case IMAP_PARSER_RET_CONTINUE:
			*consumed_r = i;
			if (parser->literal_size == 0)
				parser_literal_finish(parser);
			return ret;
		case IMAP_PARSER_RET_LITERAL:
			*consumed_r = i;
			parser_add_temp_eols(parser);
			*args_r = parser->root.v;
			return ret;
		}
	}
	*consumed_r = i;
	return IMAP_PARSER_RET_MORE;
}

void imap_parser_literal_done(struct imap_parser *parser)
{
	i_assert(parser->state == STATE_LITERAL_WAIT);
	parser_remove_temp_eols(parser);
	parser->state = STATE_ARG_START;
}

bool imap_parser_drop_args(struct imap_parser *parser)
{
	i_assert(!parser->temp_eols);
	if (parser->stack.count != 1)
		return false;
	array_clear(&parser->root);
	parser->arg_count = 0;
	parser->need_sep = true;
	return true;
}

/* Does the remembered end of the line hold a literal header? Returns its
   size and whether it is non-synchronizing. */
static bool skip_tail_literal(struct imap_parser *parser, uint64_t *size_r,
			      bool *nonsync_r)
{
	const unsigned char *t = parser->skip_tail;
	unsigned int len = parser->skip_tail_len;
	uint64_t size = 0, mul = 1;

	if (len > 0 && t[len - 1] == '\r')
		len--;
	if (len < 3 || t[len - 1] != '}')
		return false;
	len--;
	*nonsync_r = t[len - 1] == '+';
	if (*nonsync_r)
		len--;
	unsigned int digits = 0;
	while (len > 0 && t[len - 1] >= '0' && t[len - 1] <= '9') {
		if (digits == MAX_LITERAL_DIGITS - 1)
			return false;
		size += (uint64_t)(t[len - 1] - '0') * mul;
		mul *= 10;
		digits++;
		len--;
	}
	if (digits == 0 || len == 0 || t[len - 1] != '{')
		return false;
	*size_r = size;
	return true;
}

int imap_parser_skip_line(struct imap_parser *parser,
			  const unsigned char *data, size_t size,
			  size_t *consumed_r)
{
	size_t i = 0;

	*consumed_r = 0;
	if (parser->error_line_ended)
		return 1;
	while (i < size) {
		if (parser->skip_literal_left > 0) {
			size_t n = (size_t)I_MIN((uint64_t)(size - i),
						 parser->skip_literal_left);
			parser->skip_literal_left -= n;
			i += n;
			continue;
		}
		unsigned char c = data[i++];
		if (c != '\n') {
			if (parser->skip_tail_len == SKIP_TAIL_SIZE) {
				memmove(parser->skip_tail, parser->skip_tail + 1,
					SKIP_TAIL_SIZE - 1);
				parser->skip_tail_len--;
			}
			parser->skip_tail[parser->skip_tail_len++] = c;
			continue;
		}
		uint64_t lsize;
		bool nonsync;
		if (skip_tail_literal(parser, &lsize, &nonsync) && nonsync) {
			/* LITERAL+: its bytes follow at once and belong to
			   the line being skipped */
			parser->skip_literal_left = lsize;
			parser->skip_tail_len = 0;
			continue;
		}
		*consumed_r = i;
		parser->error_line_ended = true;
		return 1;
	}
	*consumed_r = i;
	return 0;
}
