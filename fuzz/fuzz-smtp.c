/* libFuzzer target for the SMTP/LMTP command grammar (src/lib-smtp): each
   input line is parsed as a command; MAIL/RCPT arguments as paths and
   parameters, and every path that parses must encode back to a path that
   parses to the same address. The whole input also goes through the DATA
   dot decoder in two pieces split at a point the input chooses, which
   must give the same result as one piece. Linked with fuzz-replay.c
   instead of libFuzzer it replays the corpus as a unit test. */
#include "lib.h"
#include "smtp-parser.h"
#include "smtp-dot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_path(const char *args, enum smtp_parse_flags flags)
{
	pool_t pool = pool_alloconly_create("fuzz", 1024);
	ARRAY_TYPE(smtp_param) params;
	struct smtp_address addr, addr2;
	const char *error;

	array_init(&params, pool, 4);
	const char *prefix = strncasecmp(args, "FROM:", 5) == 0 ? "FROM:" : "TO:";
	if (smtp_parse_path_command(args, prefix, flags, pool, &addr, &params,
				    &error) == 0) {
		const char *enc = t_strdup_printf("<%s>",
						  smtp_address_encode(&addr));
		const char *p = enc;
		if (smtp_parse_path(&p, flags | SMTP_PARSE_FLAG_ALLOW_EMPTY |
				    SMTP_PARSE_FLAG_ALLOW_LOCALPART_ONLY,
				    pool, &addr2, &error) < 0)
			i_panic("encoded path %s does not parse: %s", enc, error);
		if (*p != '\0' ||
		    (addr.localpart == NULL) != (addr2.localpart == NULL) ||
		    (addr.localpart != NULL &&
		     strcmp(addr.localpart, addr2.localpart) != 0) ||
		    (addr.domain == NULL) != (addr2.domain == NULL) ||
		    (addr.domain != NULL && strcmp(addr.domain, addr2.domain) != 0))
			i_panic("encoded path %s parses differently", enc);
		const char *user, *detail;
		if (addr.localpart != NULL)
			smtp_address_detail_split(addr.localpart, "+-",
						  &user, &detail);
	}
	pool_unref(&pool);
}

static void fuzz_dot(const uint8_t *data, size_t size)
{
	struct smtp_dot_decoder dec1, dec2;
	buffer_t *out1 = buffer_create(system_pool, size + 1);
	buffer_t *out2 = buffer_create(system_pool, size + 1);
	size_t split = size == 0 ? 0 : data[0] % (size + 1);
	bool end1, end2;

	smtp_dot_decoder_init(&dec1);
	size_t used1 = smtp_dot_decode(&dec1, data, size, out1, &end1);
	smtp_dot_decoder_init(&dec2);
	size_t used2 = smtp_dot_decode(&dec2, data, split, out2, &end2);
	if (!end2)
		used2 += smtp_dot_decode(&dec2, data + split, size - split,
					 out2, &end2);
	if (used1 != used2 || end1 != end2 || buffer_used(out1) != buffer_used(out2) ||
	    memcmp(buffer_data(out1), buffer_data(out2), buffer_used(out1)) != 0)
		i_panic("dot decoding depends on the split");
	if (buffer_used(out1) > used1)
		i_panic("dot decoding produced more than it read");
	buffer_free(&out1);
	buffer_free(&out2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *verb, *args, *error;

	fuzz_dot(data, size);
	T_BEGIN {
		const char *text = t_strndup(data, size);
		const char *const *lines = t_strsplit(text, "\n");
		for (unsigned int i = 0; lines[i] != NULL; i++) {
			const char *line = t_str_trim(lines[i], "\r");
			if (smtp_command_parse(line, strlen(line), &verb, &args,
					       &error) < 0)
				continue;
			enum smtp_parse_flags flags =
				strstr(args, "SMTPUTF8") != NULL ?
				SMTP_PARSE_FLAG_UTF8 : 0;
			if (strcmp(verb, "MAIL") == 0)
				fuzz_path(args, flags | SMTP_PARSE_FLAG_ALLOW_EMPTY);
			else if (strcmp(verb, "RCPT") == 0)
				fuzz_path(args, flags | SMTP_PARSE_FLAG_ALLOW_LOCALPART_ONLY);
		}
	} T_END;
	return 0;
}
