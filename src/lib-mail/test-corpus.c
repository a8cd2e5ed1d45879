/* Every message of the shared corpus must parse and give an ENVELOPE and a
   BODYSTRUCTURE, with the same result whole and in small pieces. */
#include "test-lib-mail.h"
#include "mail-corpus.h"
#include "imap-bodystructure.h"
#include "imap-envelope.h"

#include <sys/stat.h>

struct corpus_test_ctx {
	unsigned int count, failed;
	uint64_t bytes;
};

static void corpus_message(const char *name, const unsigned char *data,
			   size_t size, void *context)
{
	struct corpus_test_ctx *ctx = context;

	ctx->count++;
	ctx->bytes += size;
	T_BEGIN {
		pool_t pool = pool_alloconly_create("corpus", 4096);
		struct message_part *root, *root2;
		string_t *out = t_str_new(1024), *out2 = t_str_new(1024);

		root = test_parse_message(pool, data, size, 0, NULL);
		imap_envelope_write_part(root, out);
		str_append_c(out, '\n');
		imap_bodystructure_write(root, out, true);
		test_dump_parts(out, root);

		/* in 1-byte pieces for a sample, 61 bytes for the rest */
		root2 = test_parse_message(pool, data, size,
					   ctx->count % 50 == 0 ? 1 : 61, NULL);
		imap_envelope_write_part(root2, out2);
		str_append_c(out2, '\n');
		imap_bodystructure_write(root2, out2, true);
		test_dump_parts(out2, root2);
		if (strcmp(str_c(out), str_c(out2)) != 0 && ctx->failed++ < 5)
			test_fail("%s: results differ by piece size", name);
		if (str_len(out) < 20 && ctx->failed++ < 5)
			test_fail("%s: no output", name);
		pool_unref(&pool);
	} T_END;
}

static void test_corpus(void)
{
	const char *dir = getenv("MAIL_CORPUS_DIR");
	struct corpus_test_ctx ctx;
	const char *error;
	struct stat st;
	int ret;

	if (dir == NULL)
		dir = MAIL_CORPUS_DIR;
	test_begin("corpus: every message parses");
	if (stat(dir, &st) < 0) {
		printf("  corpus test skipped: %s does not exist "
		       "(set MAIL_CORPUS_DIR)\n", dir);
		test_end();
		return;
	}
	memset(&ctx, 0, sizeof(ctx));
	ret = mail_corpus_foreach(dir, corpus_message, &ctx, &error);
	if (ret < 0 && strstr(error, "not installed") != NULL) {
		printf("  corpus test skipped: %s\n", error);
	} else if (ret < 0) {
		test_fail("%s", error);
	} else {
		printf("  corpus: %u messages, %llu bytes parsed\n", ctx.count,
		       (unsigned long long)ctx.bytes);
		test_assert(ctx.count > 0);
		test_assert(ctx.failed == 0);
	}
	test_end();
}

test_func_t *const test_corpus_tests[] = {
	test_corpus,
	NULL
};
