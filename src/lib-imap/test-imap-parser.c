/* Tests for the IMAP command parser: every argument type, literals of
   each kind, limits, every error path, and the same inputs fed one byte
   at a time and in odd chunks. */
#include "test-lib-imap.h"
#include "imap-parser.h"

struct parse_result {
	enum imap_parser_ret ret;
	/* the arguments written back as text, or the error */
	const char *text;
	const char *tag, *name;
	unsigned int continuations;
	bool fatal;
	const char *code;
	/* bytes the parser consumed */
	size_t consumed;
};

static void args_write(string_t *out, const struct imap_arg *args)
{
	bool first = true;

	for (; !IMAP_ARG_IS_EOL(args); args++) {
		if (!first)
			str_append_c(out, ' ');
		first = false;
		switch (args->type) {
		case IMAP_ARG_NIL:
			str_append(out, "NIL");
			break;
		case IMAP_ARG_ATOM:
			str_printfa(out, "A:%s", args->_data.str);
			break;
		case IMAP_ARG_STRING:
			str_printfa(out, "S:%s", args->_data.str);
			break;
		case IMAP_ARG_LITERAL:
			str_printfa(out, "L%s%zu:", args->literal8 ? "8" : "",
				    args->str_len);
			str_append_data(out, args->_data.str, args->str_len);
			break;
		case IMAP_ARG_LIST:
			str_append_c(out, '(');
			args_write(out, args->_data.list.v);
			str_append_c(out, ')');
			break;
		case IMAP_ARG_LITERAL_SIZE:
			str_printfa(out, "LS%s%s:%llu",
				    args->literal8 ? "8" : "",
				    args->literal_sync ? "s" : "",
				    (unsigned long long)args->_data.literal_size);
			break;
		case IMAP_ARG_EOL:
			i_unreached();
		}
	}
}

/* Parse one command line (tag, name, args) from input given in chunks
   of chunk bytes (0 = all at once). */
static struct parse_result
parse_full(const void *input, size_t size, enum imap_parser_flags flags,
	   size_t chunk, const struct imap_parser_settings *set)
{
	static const struct imap_parser_settings default_set = {
		.max_stream_literal_size = 1000,
	};
	struct imap_parser *parser =
		imap_parser_create(set != NULL ? set : &default_set);
	struct parse_result res = { .ret = IMAP_PARSER_RET_MORE };
	const unsigned char *data = input;
	const struct imap_arg *args = NULL;
	size_t pos = 0, consumed;
	size_t avail = chunk == 0 ? size : I_MIN(size, chunk);
	unsigned int step = 0;
	const char *word;

	imap_parser_reset(parser, pool_datastack);
	imap_parser_set_flags(parser, flags);
	for (;;) {
		const unsigned char *p = data + pos;
		size_t n = avail - pos;

		if (step < 2) {
			res.ret = imap_parser_read_word(parser, p, n, step == 0,
							&consumed, &word);
			pos += consumed;
			if (res.ret == IMAP_PARSER_RET_DONE) {
				if (step == 0)
					res.tag = word;
				else
					res.name = word;
				step++;
				continue;
			}
		} else {
			res.ret = imap_parser_read_args(parser, p, n, &consumed,
							&args);
			pos += consumed;
			if (res.ret == IMAP_PARSER_RET_CONTINUE) {
				res.continuations++;
				continue;
			}
		}
		if (res.ret != IMAP_PARSER_RET_MORE || avail == size)
			break;
		avail = I_MIN(size, avail + chunk);
	}
	res.consumed = pos;
	if (res.ret == IMAP_PARSER_RET_DONE ||
	    res.ret == IMAP_PARSER_RET_LITERAL) {
		string_t *out = t_str_new(128);
		args_write(out, args);
		res.text = str_c(out);
	} else if (res.ret == IMAP_PARSER_RET_ERROR) {
		res.text = t_strdup(imap_parser_get_error(parser, &res.fatal,
							  &res.code));
	}
	imap_parser_destroy(&parser);
	return res;
}

static struct parse_result parse(const char *input,
				 enum imap_parser_flags flags, size_t chunk)
{
	return parse_full(input, strlen(input), flags, chunk, NULL);
}

/* The same result whether fed at once, a byte at a time or in 3s. */
static void test_parse_ok(const char *input, enum imap_parser_flags flags,
			  const char *expected)
{
	static const size_t chunks[] = { 0, 1, 3, 7 };

	for (unsigned int i = 0; i < N_ELEMENTS(chunks); i++) {
		struct parse_result res = parse(input, flags, chunks[i]);
		test_assert_idx(res.ret == IMAP_PARSER_RET_DONE, i);
		if (res.text != NULL && res.ret == IMAP_PARSER_RET_DONE)
			test_assert_strcmp(res.text, expected);
		else
			test_fail("%s: %s", input,
				  res.text == NULL ? "incomplete" : res.text);
		test_assert_idx(res.consumed == strlen(input), i);
	}
}

static void test_parse_error(const char *input, enum imap_parser_flags flags,
			     bool fatal)
{
	static const size_t chunks[] = { 0, 1, 5 };

	for (unsigned int i = 0; i < N_ELEMENTS(chunks); i++) {
		struct parse_result res = parse(input, flags, chunks[i]);
		if (res.ret != IMAP_PARSER_RET_ERROR) {
			test_fail("expected an error for %s (chunk %zu)", input,
				  chunks[i]);
			continue;
		}
		test_assert_idx(res.fatal == fatal, i);
	}
}

static void test_imap_parser_basic(void)
{
	test_begin("imap parser atoms, strings, lists");
	test_parse_ok("a NOOP\r\n", 0, "");
	test_parse_ok("a1 SELECT INBOX\r\n", 0, "A:INBOX");
	test_parse_ok("a1 SELECT INBOX\n", 0, "A:INBOX");
	test_parse_ok("t LOGIN \"us\\\"er\" \"p\\\\w\"\r\n", 0,
		      "S:us\"er S:p\\w");
	test_parse_ok("t X \"\"\r\n", 0, "S:");
	test_parse_ok("t STORE 1:* +FLAGS (\\Seen \\Deleted $Junk)\r\n", 0,
		      "A:1:* A:+FLAGS (A:\\Seen A:\\Deleted A:$Junk)");
	test_parse_ok("t X NIL nil \"NIL\"\r\n", 0, "NIL NIL S:NIL");
	test_parse_ok("t X () (()) (a (b (c)) d)\r\n", 0,
		      "() (()) (A:a (A:b (A:c)) A:d)");
	test_parse_ok("t LIST \"\" %\r\n", 0, "S: A:%");
	test_parse_ok("t LIST \"\" *\r\n", 0, "S: A:*");
	test_parse_ok("t X a] b\r\n", 0, "A:a] A:b");
	/* a trailing space before the CRLF is tolerated */
	test_parse_ok("t SELECT INBOX \r\n", 0, "A:INBOX");
	test_end();

	test_begin("imap parser fetch sections");
	test_parse_ok("t FETCH 1 (BODY[HEADER.FIELDS (FROM TO)]<0.100> UID)\r\n",
		      IMAP_PARSE_FLAG_FETCH_BRACKETS,
		      "A:1 (A:BODY[HEADER.FIELDS (FROM TO)]<0.100> A:UID)");
	test_parse_ok("t FETCH 1:2 BODY.PEEK[]\r\n",
		      IMAP_PARSE_FLAG_FETCH_BRACKETS, "A:1:2 A:BODY.PEEK[]");
	test_parse_ok("t FETCH 1 (BINARY[1.2] BODY[1.MIME])\r\n",
		      IMAP_PARSE_FLAG_FETCH_BRACKETS,
		      "A:1 (A:BINARY[1.2] A:BODY[1.MIME])");
	/* without the flag "[" is an ordinary atom character and the space
	   ends the atom */
	test_parse_error("t X BODY[HEADER.FIELDS (A)]\r\n", 0, false);
	test_parse_ok("t X BODY[HEADER.FIELDS (A) ]\r\n", 0,
		      "A:BODY[HEADER.FIELDS (A:A) A:]");
	test_end();

	test_begin("imap parser utf-8");
	test_parse_ok("t SELECT \"K\xc3\xa4se\"\r\n", IMAP_PARSE_FLAG_UTF8,
		      "S:K\xc3\xa4se");
	test_parse_error("t SELECT \"K\xc3\xa4se\"\r\n", 0, false);
	test_parse_error("t SELECT \"K\xc3\"\r\n", IMAP_PARSE_FLAG_UTF8, false);
	/* overlong "/" */
	test_parse_error("t SELECT \"\xc0\xaf\"\r\n", IMAP_PARSE_FLAG_UTF8,
			 false);
	test_parse_error("t SELECT K\xc3\xa4se\r\n", IMAP_PARSE_FLAG_UTF8,
			 false);
	test_end();
}

static void test_imap_parser_literals(void)
{
	struct parse_result res;

	test_begin("imap parser literals");
	test_parse_ok("t LOGIN {4}\r\nuser {3+}\r\npw!\r\n", 0,
		      "L4:user L3:pw!");
	res = parse("t LOGIN {4}\r\nuser {3}\r\npw!\r\n", 0, 1);
	test_assert(res.ret == IMAP_PARSER_RET_DONE);
	test_assert(res.continuations == 2);
	res = parse("t LOGIN {4+}\r\nuser {0}\r\n\r\n", 0, 0);
	test_assert(res.ret == IMAP_PARSER_RET_DONE);
	test_assert_strcmp(res.text, "L4:user L0:");
	test_assert(res.continuations == 1);
	test_parse_ok("t X ({2}\r\nab c)\r\n", 0, "(L2:ab A:c)");
	res = parse_full("t APPEND x ~{3}\r\na\0b\r\n", 22,
			 IMAP_PARSE_FLAG_LITERAL8, 0, NULL);
	test_assert(res.ret == IMAP_PARSER_RET_DONE);
	test_assert(res.text != NULL && memcmp(res.text, "A:x L83:a\0b", 11) == 0);
	/* literal8 needs the flag */
	test_parse_error("t APPEND x ~{3}\r\nabc\r\n", 0, false);
	/* NUL in an ordinary literal: its bytes cannot be skipped safely */
	res = parse_full("t X {3}\r\na\0b\r\n", 14, 0, 0, NULL);
	test_assert(res.ret == IMAP_PARSER_RET_ERROR && res.fatal);
	test_end();

	test_begin("imap parser literal errors");
	test_parse_error("t X {}\r\n", 0, false);
	test_parse_error("t X {01}\r\na\r\n", 0, false);
	test_parse_error("t X {1x}\r\n", 0, false);
	test_parse_error("t X {1}x\r\n", 0, false);
	test_parse_error("t X {99999999999999999999999}\r\n", 0, true);
	/* larger than the in-memory limit: refused before reading it; a
	   synchronizing one leaves nothing to skip, a non-synchronizing
	   one is already on its way */
	res = parse("t X {65537}\r\n", 0, 0);
	test_assert(res.ret == IMAP_PARSER_RET_ERROR && !res.fatal);
	test_assert(res.continuations == 0);
	res = parse("t X {65537+}\r\n", 0, 0);
	test_assert(res.ret == IMAP_PARSER_RET_ERROR && res.fatal);
	/* LITERAL-: at most 4096 bytes without a continuation */
	res = parse("t X {4097+}\r\n", IMAP_PARSE_FLAG_LITERAL_MINUS, 0);
	test_assert(res.ret == IMAP_PARSER_RET_ERROR && res.fatal);
	test_parse_ok("t X {4+}\r\nabcd\r\n", IMAP_PARSE_FLAG_LITERAL_MINUS,
		      "L4:abcd");
	test_end();
}

static void test_imap_parser_stream(void)
{
	static const struct imap_parser_settings set = {
		.max_stream_literal_size = 100,
	};
	struct imap_parser *parser = imap_parser_create(&set);
	const struct imap_arg *args;
	const char *word;
	size_t consumed;
	const char *input =
		"a APPEND INBOX (\\Seen) {5}\r\nhello ~{2+}\r\nhi\r\n";
	const unsigned char *p = (const unsigned char *)input;
	size_t left = strlen(input);

	test_begin("imap parser streamed literals");
	imap_parser_reset(parser, pool_datastack);
	test_assert(imap_parser_read_word(parser, p, left, true, &consumed,
					  &word) == IMAP_PARSER_RET_DONE);
	p += consumed; left -= consumed;
	test_assert(imap_parser_read_word(parser, p, left, false, &consumed,
					  &word) == IMAP_PARSER_RET_DONE);
	test_assert_strcmp(word, "APPEND");
	p += consumed; left -= consumed;
	imap_parser_set_flags(parser, IMAP_PARSE_FLAG_LITERAL_STREAM |
			      IMAP_PARSE_FLAG_LITERAL8);
	test_assert(imap_parser_read_args(parser, p, left, &consumed, &args) ==
		    IMAP_PARSER_RET_LITERAL);
	p += consumed; left -= consumed;
	test_assert(imap_arg_count(args) == 3);
	test_assert(args[2].type == IMAP_ARG_LITERAL_SIZE &&
		    args[2].literal_sync && !args[2].literal8 &&
		    args[2]._data.literal_size == 5);
	test_assert(memcmp(p, "hello", 5) == 0);
	/* asking again without consuming returns the same */
	test_assert(imap_parser_read_args(parser, p, left, &consumed, &args) ==
		    IMAP_PARSER_RET_LITERAL && consumed == 0);
	p += 5; left -= 5;
	imap_parser_literal_done(parser);
	test_assert(imap_parser_drop_args(parser));
	test_assert(imap_parser_read_args(parser, p, left, &consumed, &args) ==
		    IMAP_PARSER_RET_LITERAL);
	test_assert(imap_arg_count(args) == 1);
	test_assert(args[0].type == IMAP_ARG_LITERAL_SIZE &&
		    !args[0].literal_sync && args[0].literal8 &&
		    args[0]._data.literal_size == 2);
	p += consumed + 2; left -= consumed + 2;
	imap_parser_literal_done(parser);
	test_assert(imap_parser_read_args(parser, p, left, &consumed, &args) ==
		    IMAP_PARSER_RET_DONE);
	test_assert(consumed == left);
	test_assert(imap_arg_count(args) == 1);
	test_end();

	test_begin("imap parser streamed literal in a list");
	input = "a APPEND INBOX (a (b {3}\r\nxyz c))\r\n";
	p = (const unsigned char *)input;
	left = strlen(input);
	imap_parser_reset(parser, pool_datastack);
	imap_parser_set_flags(parser, IMAP_PARSE_FLAG_LITERAL_STREAM);
	test_assert(imap_parser_read_args(parser, p, left, &consumed, &args) ==
		    IMAP_PARSER_RET_LITERAL);
	p += consumed; left -= consumed;
	{
		const struct imap_arg *l1, *l2;
		unsigned int c1, c2;
		test_assert(imap_arg_count(args) == 4);
		test_assert(imap_arg_get_list(&args[3], &l1, &c1) && c1 == 2);
		test_assert(imap_arg_get_list(&l1[1], &l2, &c2) && c2 == 2);
		test_assert(l2[1].type == IMAP_ARG_LITERAL_SIZE);
	}
	p += 3; left -= 3;
	imap_parser_literal_done(parser);
	test_assert(!imap_parser_drop_args(parser));
	test_assert(imap_parser_read_args(parser, p, left, &consumed, &args) ==
		    IMAP_PARSER_RET_DONE);
	{
		string_t *out = t_str_new(64);
		args_write(out, args);
		test_assert_strcmp(str_c(out),
				   "A:a A:APPEND A:INBOX (A:a (A:b LSs:3 A:c))");
	}
	test_end();

	test_begin("imap parser streamed literal too big");
	input = "a APPEND INBOX {101}\r\n";
	imap_parser_reset(parser, pool_datastack);
	imap_parser_set_flags(parser, IMAP_PARSE_FLAG_LITERAL_STREAM);
	test_assert(imap_parser_read_args(parser, (const void *)input,
					  strlen(input), &consumed, &args) ==
		    IMAP_PARSER_RET_ERROR);
	{
		bool fatal;
		const char *code;
		(void)imap_parser_get_error(parser, &fatal, &code);
		test_assert(!fatal && code != NULL &&
			    strcmp(code, "TOOBIG") == 0);
		/* the line ended with the literal header */
		test_assert(imap_parser_skip_line(parser, NULL, 0,
						  &consumed) == 1);
	}
	input = "a APPEND INBOX {101+}\r\n";
	imap_parser_reset(parser, pool_datastack);
	imap_parser_set_flags(parser, IMAP_PARSE_FLAG_LITERAL_STREAM);
	test_assert(imap_parser_read_args(parser, (const void *)input,
					  strlen(input), &consumed, &args) ==
		    IMAP_PARSER_RET_ERROR);
	{
		bool fatal;
		(void)imap_parser_get_error(parser, &fatal, NULL);
		test_assert(fatal);
	}
	test_end();
	imap_parser_destroy(&parser);
}

static void test_imap_parser_errors(void)
{
	test_begin("imap parser syntax errors");
	test_parse_error("+tag NOOP\r\n", 0, false);
	test_parse_error(" NOOP\r\n", 0, false);
	test_parse_error("t NO\"OP\r\n", 0, false);
	test_parse_error("t X \"abc\r\n", 0, false);
	test_parse_error("t X \"a\\bc\"\r\n", 0, false);
	test_parse_error("t X (a\r\n", 0, false);
	test_parse_error("t X a)\r\n", 0, false);
	test_parse_error("t X a  b\r\n", 0, false);
	test_parse_error("t X (a )\r\n", 0, false);
	test_parse_error("t X \"a\"b\r\n", 0, false);
	test_parse_error("t X a\"b\r\n", 0, false);
	test_parse_error("t X a\x01\r\n", 0, false);
	test_parse_error("t X a\rb\r\n", 0, false);
	test_parse_error("t X \x80\r\n", 0, false);
	test_parse_error("t FETCH 1 BODY[a[b]]\r\n",
			 IMAP_PARSE_FLAG_FETCH_BRACKETS, false);
	test_parse_error("t FETCH 1 BODY[\x01]\r\n",
			 IMAP_PARSE_FLAG_FETCH_BRACKETS, false);
	test_end();
}

static void test_imap_parser_limits(void)
{
	struct imap_parser_settings set;
	struct parse_result res;
	string_t *str;

	test_begin("imap parser limits");
	/* nesting */
	memset(&set, 0, sizeof(set));
	set.max_depth = 3;
	res = parse_full("t X (((a)))\r\n", 13, 0, 0, &set);
	test_assert(res.ret == IMAP_PARSER_RET_DONE);
	res = parse_full("t X ((((a))))\r\n", 15, 0, 0, &set);
	test_assert(res.ret == IMAP_PARSER_RET_ERROR && !res.fatal);

	/* argument count */
	memset(&set, 0, sizeof(set));
	set.max_args = 4;
	res = parse_full("t X a b (c)\r\n", 13, 0, 0, &set);
	test_assert(res.ret == IMAP_PARSER_RET_DONE);
	res = parse_full("t X a b (c d)\r\n", 15, 0, 0, &set);
	test_assert(res.ret == IMAP_PARSER_RET_ERROR);

	/* line length: fatal, the line cannot be resynchronised cheaply */
	memset(&set, 0, sizeof(set));
	set.max_line_size = 100;
	str = t_str_new(256);
	str_append(str, "t X ");
	for (unsigned int i = 0; i < 120; i++)
		str_append_c(str, 'a');
	str_append(str, "\r\n");
	res = parse_full(str_c(str), str_len(str), 0, 1, &set);
	test_assert(res.ret == IMAP_PARSER_RET_ERROR && res.fatal);
	test_assert(res.consumed <= 101);

	/* in-memory literals count together */
	memset(&set, 0, sizeof(set));
	set.max_literal_size = 10;
	res = parse_full("t X {6+}\r\nabcdef {5}\r\n", 22, 0, 0, &set);
	test_assert(res.ret == IMAP_PARSER_RET_ERROR && !res.fatal);

	/* a word is bounded too */
	str_truncate(str, 0);
	for (unsigned int i = 0; i < 200; i++)
		str_append_c(str, 'a');
	str_append(str, " NOOP\r\n");
	res = parse_full(str_c(str), str_len(str), 0, 0, NULL);
	test_assert(res.ret == IMAP_PARSER_RET_ERROR);
	test_end();
}

static void test_imap_parser_skip_line(void)
{
	struct imap_parser_settings set;
	struct imap_parser *parser;
	const struct imap_arg *args;
	size_t consumed;

	test_begin("imap parser skip line");
	memset(&set, 0, sizeof(set));
	parser = imap_parser_create(&set);
	imap_parser_reset(parser, pool_datastack);
	/* the error is in the middle: the rest of the line, including a
	   LITERAL+ literal that contains a CRLF, is skipped */
	const char *input = "t X a\"b {6+}\r\nx\r\nyz! more\r\nnext\r\n";
	size_t len = strlen(input);
	test_assert(imap_parser_read_args(parser, (const void *)input, len,
					  &consumed, &args) ==
		    IMAP_PARSER_RET_ERROR);
	size_t pos = consumed;
	/* byte at a time */
	int ret = 0;
	while (pos < len && ret == 0) {
		ret = imap_parser_skip_line(parser, (const void *)(input + pos),
					    1, &consumed);
		pos += consumed;
	}
	test_assert(ret == 1);
	test_assert_strcmp(input + pos, "next\r\n");

	/* a synchronizing literal at the end of a bad line was never sent */
	imap_parser_reset(parser, pool_datastack);
	input = "t X a\"b {6}\r\nnext\r\n";
	len = strlen(input);
	test_assert(imap_parser_read_args(parser, (const void *)input, len,
					  &consumed, &args) ==
		    IMAP_PARSER_RET_ERROR);
	pos = consumed;
	test_assert(imap_parser_skip_line(parser, (const void *)(input + pos),
					  len - pos, &consumed) == 1);
	pos += consumed;
	test_assert_strcmp(input + pos, "next\r\n");
	imap_parser_destroy(&parser);
	test_end();
}

static void test_imap_arg_getters(void)
{
	struct parse_result res;
	struct imap_parser_settings set;
	struct imap_parser *parser;
	const struct imap_arg *args, *list;
	const char *str;
	size_t consumed;
	unsigned int count;

	test_begin("imap arg getters");
	memset(&set, 0, sizeof(set));
	parser = imap_parser_create(&set);
	imap_parser_reset(parser, pool_datastack);
	const char *input = "atom \"q\" {1+}\r\nl NIL (x y)\r\n";
	test_assert(imap_parser_read_args(parser, (const void *)input,
					  strlen(input), &consumed, &args) ==
		    IMAP_PARSER_RET_DONE);
	test_assert(imap_arg_count(args) == 5);
	test_assert(imap_arg_get_atom(&args[0], &str) && strcmp(str, "atom") == 0);
	test_assert(!imap_arg_get_atom(&args[1], &str));
	test_assert(!imap_arg_get_string(&args[0], &str));
	test_assert(imap_arg_get_string(&args[1], &str) && strcmp(str, "q") == 0);
	test_assert(imap_arg_get_string(&args[2], &str) && strcmp(str, "l") == 0);
	test_assert(imap_arg_get_astring(&args[0], &str));
	test_assert(imap_arg_get_astring(&args[2], &str));
	test_assert(imap_arg_get_astring(&args[3], &str) &&
		    strcmp(str, "NIL") == 0);
	test_assert(imap_arg_get_nstring(&args[3], &str) && str == NULL);
	test_assert(!imap_arg_get_astring(&args[4], &str));
	test_assert(imap_arg_get_list(&args[4], &list, &count) && count == 2);
	test_assert(imap_arg_atom_equals(&list[1], "Y"));
	test_assert(!imap_arg_get_list(&args[0], &list, &count));
	imap_parser_destroy(&parser);

	/* a literal with a NUL is no astring */
	res = parse_full("t X ~{3}\r\na\0b\r\n", 15, IMAP_PARSE_FLAG_LITERAL8,
			 0, NULL);
	test_assert(res.ret == IMAP_PARSER_RET_DONE);
	test_end();
}

test_func_t *const test_imap_parser_tests[] = {
	test_imap_parser_basic,
	test_imap_parser_literals,
	test_imap_parser_stream,
	test_imap_parser_errors,
	test_imap_parser_limits,
	test_imap_parser_skip_line,
	test_imap_arg_getters,
	NULL
};
