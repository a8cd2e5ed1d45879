/* libFuzzer target for the POP3 grammar (src/lib-pop3): each input line
   is parsed as a command, its arguments split and read as message
   numbers as the session does; the whole input also goes through the
   dot-stuffing encoder (RETR, and TOP with a line count the input
   chooses) in two pieces split where the input says, which must give the
   same bytes as one piece, and the result must never hold a line that
   starts with a single "." before the end line. UIDL templates taken from
   the first line are expanded. Linked with fuzz-replay.c instead of
   libFuzzer it replays the corpus as a unit test. */
#include "lib.h"
#include "str.h"
#include "pop3-command.h"
#include "pop3-stuff.h"
#include "pop3-uidl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_stuff(const uint8_t *data, size_t size, bool top,
		       uint32_t lines)
{
	struct pop3_stuffer st1, st2;
	buffer_t *out1 = buffer_create(system_pool, size * 2 + 8);
	buffer_t *out2 = buffer_create(system_pool, size * 2 + 8);
	size_t split = size == 0 ? 0 : data[size - 1] % (size + 1);

	pop3_stuffer_init(&st1, top, lines);
	size_t used1 = pop3_stuff(&st1, data, size, out1);
	pop3_stuff_finish(&st1, out1);
	pop3_stuffer_init(&st2, top, lines);
	size_t used2 = pop3_stuff(&st2, data, split, out2);
	if (!st2.done)
		used2 += pop3_stuff(&st2, data + split, size - split, out2);
	pop3_stuff_finish(&st2, out2);
	if (used1 != used2 || buffer_used(out1) != buffer_used(out2) ||
	    memcmp(buffer_data(out1), buffer_data(out2), buffer_used(out1)) != 0)
		i_panic("dot-stuffing depends on the split");
	if (!top && used1 != size)
		i_panic("RETR stuffing did not take the whole message");
	/* the first line that is exactly "." must be the last one */
	const unsigned char *p = buffer_data(out1);
	size_t len = buffer_used(out1);
	if (len < 3 || memcmp(p + len - 3, ".\r\n", 3) != 0)
		i_panic("response does not end with the end line");
	for (size_t i = 0; i + 1 < len - 3; i++) {
		bool line_start = i == 0 || p[i - 1] == '\n';
		if (line_start && p[i] == '.' && p[i + 1] != '.')
			i_panic("unstuffed dot at offset %zu", i);
		if (line_start && p[i] == '.')
			i++;
	}
	buffer_free(&out1);
	buffer_free(&out2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_stuff(data, size, false, 0);
	fuzz_stuff(data, size, true, size == 0 ? 0 : data[0] % 8);
	T_BEGIN {
		const char *text = t_strndup(data, size);
		const char *const *lines = t_strsplit(text, "\n");
		const struct pop3_uidl_params params = {
			.uid = size, .uidvalidity = 1234, .guid = "abc",
		};
		const char *uidl, *error;
		if (lines[0] != NULL &&
		    pop3_uidl_expand(lines[0], &params, &uidl, &error) == 0 &&
		    (strlen(uidl) == 0 || strlen(uidl) > 70))
			i_panic("UIDL of invalid length");
		for (unsigned int i = 0; lines[i] != NULL; i++) {
			const char *line = t_str_trim(lines[i], "\r");
			struct pop3_command_line cmd;
			const char *const *args;
			uint32_t num;
			if (pop3_command_parse(line, strlen(line), &cmd,
					       &error) < 0)
				continue;
			if (strlen(cmd.name) > POP3_MAX_KEYWORD_LEN)
				i_panic("keyword too long");
			int count = pop3_command_args(cmd.args, 0, 2, &args,
						      &error);
			for (int j = 0; j < count; j++) {
				if (args[j][0] == '\0' ||
				    strchr(args[j], ' ') != NULL)
					i_panic("bad argument split");
				const char *digits = args[j];
				while (digits[0] == '0' && digits[1] != '\0')
					digits++;
				if (pop3_parse_uint(args[j], &num) == 0 &&
				    strcmp(t_strdup_printf("%u", num), digits) != 0)
					i_panic("number misread: %s", args[j]);
			}
		}
	} T_END;
	return 0;
}
