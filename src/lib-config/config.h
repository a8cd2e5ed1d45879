/* Columba's configuration: Dovecot-syntax files parsed into typed settings
   structs (columba-settings.h), every value validated, and the effective
   configuration printed back in the same syntax (`columba config [-n]`).

   Parsing reads files and may block on the disk; nothing else here does.
   A struct config owns all the settings memory; the structs it hands out
   stay valid and unchanged until config_free(). */
#ifndef COLUMBA_CONFIG_H
#define COLUMBA_CONFIG_H

#include "config-types.h"
#include "columba-settings.h"

struct config;

struct config_parse_settings {
	/* The settings to fill. NULL = Columba's (columba_settings_root_def),
	   which also brings columba_settings_builtin_config. */
	const struct config_section_def *root_def;
	/* With a root_def of your own: configuration text applied before the
	   files (built-in sections). Ignored when root_def is NULL. */
	const char *builtin_config;
	/* !include nesting limit; 0 = 10. */
	unsigned int max_include_depth;
	/* Refuse !include and `key = <file` (text from an untrusted source). */
	bool no_file_access;
};

/* Parse the file at path (following its !includes), apply it over the
   defaults and the built-in sections, and validate everything. set may be
   NULL for the defaults. Returns NULL on the first error with *error_r
   (data stack) as "FILE:LINE: what is wrong (what was expected)", e.g.
   "/etc/columba/columba.conf:12: Unknown setting: ssl_certt (did you mean
   ssl_cert?)". Blocks on file reads. */
struct config *config_parse_file(const char *path,
				 const struct config_parse_settings *set,
				 const char **error_r);
/* The same for text in memory. source_name stands for the file name in
   messages and in config_dump()'s header (NULL = "<string>"); relative
   paths resolve against the current directory. The master passes the
   effective configuration to its children this way. */
struct config *config_parse_string(const char *text, const char *source_name,
				   const struct config_parse_settings *set,
				   const char **error_r);
/* Free everything (secret values are overwritten first); *cfg = NULL. */
void config_free(struct config **cfg);

/* The typed settings. config_get_root() asserts that cfg was parsed with
   Columba's definition; config_get_root_raw() returns any root struct. */
const struct columba_settings *config_get_root(const struct config *cfg);
const void *config_get_root_raw(const struct config *cfg);
/* The main file's path, or the source name given to config_parse_string. */
const char *config_get_path(const struct config *cfg);

enum config_dump_flags {
	/* Only what the configuration files set (`columba config -n`):
	   settings assigned in them, and the sections they declared. */
	CONFIG_DUMP_FLAG_NON_DEFAULT = 0x01,
	/* Print "# hidden, use -P to show it" instead of secret values. The
	   output then no longer parses back to the same configuration. */
	CONFIG_DUMP_FLAG_HIDE_SECRETS = 0x02,
	/* Print the contents of `key = <file` values instead of <file (for a
	   reader that cannot open the files, e.g. a chrooted child). */
	CONFIG_DUMP_FLAG_EXPAND_FILES = 0x04,
};

/* Append the effective configuration to out in configuration syntax:
   a "# columba VERSION: PATH" line, then the settings sorted by name, then
   sections sorted by keyword and name, nested and indented by two spaces.
   Values are quoted where needed so the text parses back to the same
   configuration (parse -> dump -> parse -> dump gives the same text).
   local_name sections show only what they override. */
void config_dump(const struct config *cfg, string_t *out,
		 bool non_default_only);
void config_dump_with_flags(const struct config *cfg, string_t *out,
			    enum config_dump_flags flags);

/* One value in the text form config_dump() prints (unquoted; file
   contents, not <path), by path: "ssl_min_protocol",
   "service/imap-login/inet_listener/imaps/port",
   "service/auth/unix_listener/login/auth/mode" (names may contain '/').
   Returns NULL if there is no such setting or section. The string is on
   the data stack. */
const char *config_lookup(const struct config *cfg, const char *path);

#endif
