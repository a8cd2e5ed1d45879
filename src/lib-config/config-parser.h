/* Internal to lib-config: the syntax layer. It turns configuration text
   into a tree of settings and sections, following !include directives and
   reading `key = <file` values, without knowing any setting's meaning. */
#ifndef COLUMBA_CONFIG_PARSER_H
#define COLUMBA_CONFIG_PARSER_H

#include "lib.h"

/* Limits that keep a hostile or broken file from eating memory. */
#define CONFIG_MAX_FILE_SIZE (16 * 1024 * 1024)
#define CONFIG_MAX_LINE_LENGTH (1024 * 1024)
#define CONFIG_DEFAULT_MAX_INCLUDE_DEPTH 10
#define CONFIG_MAX_SECTION_DEPTH 32

enum config_node_type {
	CONFIG_NODE_KEYVALUE,
	CONFIG_NODE_SECTION,
};

struct config_node {
	enum config_node_type type;
	/* The setting name, or the section keyword. */
	const char *key;
	/* KEYVALUE: the value, unquoted, or the file's contents for
	   `key = <path`. SECTION: the name ("" for `key {`). */
	const char *value;
	/* KEYVALUE from `key = <path`: the path, made absolute. */
	const char *value_file;
	/* KEYVALUE: unquoted with a word starting with '$': $ENV:NAME and
	   $setting are expanded when the value is applied. */
	bool expand;
	/* Where it was written. */
	const char *file;
	unsigned int line;
	/* SECTION: the contents, in file order. */
	ARRAY(struct config_node *) children;
};

struct config_parser_settings {
	/* !include nesting limit; 0 = CONFIG_DEFAULT_MAX_INCLUDE_DEPTH. */
	unsigned int max_include_depth;
	/* Refuse !include and `<file` (for untrusted text and fuzzing). */
	bool no_file_access;
};

/* Parse text into a section node (key "", the root) allocated from pool.
   source_name names the text in messages; relative paths resolve against
   dir (NULL = the current directory). On error returns -1 with
   *error_r = "FILE:LINE: what is wrong (what was expected)" on the data
   stack. */
int config_parser_parse_string(pool_t pool, const char *text,
			       const char *source_name, const char *dir,
			       const struct config_parser_settings *set,
			       struct config_node **root_r,
			       const char **error_r) ATTR_WARN_UNUSED;
/* The same for a file (its directory is the base of relative paths). */
int config_parser_parse_file(pool_t pool, const char *path,
			     const struct config_parser_settings *set,
			     struct config_node **root_r,
			     const char **error_r) ATTR_WARN_UNUSED;
/* Overwrite every value in the tree (values may hold secrets). */
void config_parser_wipe(struct config_node *root);

/* Read a whole file (up to CONFIG_MAX_FILE_SIZE) into a NUL-terminated
   string from pool. Returns -1 with errno set (EFBIG if too large). */
int config_read_file(pool_t pool, const char *path, char **data_r,
		     size_t *size_r);

#endif
