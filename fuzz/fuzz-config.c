/* libFuzzer target for the configuration parser. Any input must either be
   rejected with an error or parse, and then its dump must parse back to
   the same dump, and its -n dump to the same effective configuration.
   Linked with fuzz-replay.c instead of libFuzzer it replays
   files (or directories of them), so the corpus runs as a unit test. */
#include "lib.h"
#include "config.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct config_parse_settings fuzz_set = {
	/* no !include or <file: the input must not reach the filesystem */
	.no_file_access = true,
};

static struct config *fuzz_reparse(const char *text, const char *what)
{
	const char *error;
	struct config *cfg = config_parse_string(text, "fuzz", &fuzz_set,
						 &error);
	if (cfg == NULL)
		i_panic("%s does not parse back: %s\n%s", what, error, text);
	return cfg;
}

static void fuzz_config(const char *text)
{
	const char *error;
	struct config *cfg = config_parse_string(text, "fuzz", &fuzz_set,
						 &error);
	if (cfg == NULL) {
		/* every error names the place */
		if (strncmp(error, "fuzz:", 5) != 0)
			i_panic("error without a position: %s", error);
		return;
	}

	string_t *full = t_str_new(4096), *full2 = t_str_new(4096);
	string_t *changed = t_str_new(1024), *changed_full = t_str_new(4096);
	config_dump(cfg, full, false);
	config_dump(cfg, changed, true);

	struct config *cfg2 = fuzz_reparse(str_c(full), "dump");
	config_dump(cfg2, full2, false);
	if (strcmp(str_c(full), str_c(full2)) != 0)
		i_panic("dump round trip differs:\n%s\n---\n%s", str_c(full),
			str_c(full2));

	struct config *cfg3 = fuzz_reparse(str_c(changed), "-n dump");
	config_dump(cfg3, changed_full, false);
	if (strcmp(str_c(full), str_c(changed_full)) != 0)
		i_panic("-n dump is not the same configuration:\n%s\n---\n%s",
			str_c(full), str_c(changed_full));
	config_free(&cfg3);
	config_free(&cfg2);
	config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	T_BEGIN {
		/* text stops at a NUL: the C-string API cannot see past it */
		fuzz_config(t_strndup(data, size));
	} T_END;
	return 0;
}
