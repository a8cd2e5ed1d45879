/* The syntax layer of the configuration: a hand-written scanner for
   Dovecot's configuration syntax that builds a tree of key = value nodes
   and sections, following !include/!include_try and reading <file values. */
#include "lib.h"
#include "config-parser.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>

struct config_input {
	struct config_input *parent;
	/* as shown in messages, and the base for relative paths */
	const char *path, *dir;
	const char *data;
	size_t size, pos;
	unsigned int line;
	unsigned int depth;
	bool have_id;
	dev_t dev;
	ino_t ino;
};

struct config_parser {
	pool_t pool;
	const struct config_parser_settings *set;
	unsigned int max_depth;
	/* sections open right now, to bound the recursion */
	unsigned int section_depth;
	const char *error;
};

static int config_parse_block(struct config_parser *parser,
			      struct config_input *input,
			      struct config_node *parent,
			      const struct config_node *open_section);

static int ATTR_FORMAT(4, 5)
config_error(struct config_parser *parser, const struct config_input *input,
	     unsigned int line, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	parser->error = t_strdup_printf("%s:%u: %s", input->path, line,
					p_strdup_vprintf(pool_datastack, fmt, args));
	va_end(args);
	return -1;
}

int config_read_file(pool_t pool, const char *path, char **data_r,
		     size_t *size_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;

	size_t alloc = 4096, used = 0;
	char *data = p_malloc(pool, alloc + 1);
	for (;;) {
		if (used == alloc) {
			if (alloc >= CONFIG_MAX_FILE_SIZE) {
				close(fd);
				errno = EFBIG;
				return -1;
			}
			data = p_realloc(pool, data, alloc + 1, alloc * 2 + 1);
			alloc *= 2;
		}
		ssize_t ret = read(fd, data + used, alloc - used);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			int saved_errno = errno;
			close(fd);
			errno = saved_errno;
			return -1;
		}
		if (ret == 0)
			break;
		used += (size_t)ret;
	}
	close(fd);
	data[used] = '\0';
	*data_r = data;
	*size_r = used;
	return 0;
}

static const char *config_path_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return ".";
	if (slash == path)
		return "/";
	return t_strndup(path, (size_t)(slash - path));
}

static const char *config_path_resolve(const char *dir, const char *path)
{
	if (path[0] == '/')
		return path;
	return t_strdup_printf("%s/%s", dir, path);
}

/* Absolute current directory, or "." if it cannot be found. */
static const char *config_cwd(void)
{
	char buf[4096];

	if (getcwd(buf, sizeof(buf)) == NULL)
		return ".";
	return t_strdup(buf);
}

/* Reject NUL bytes and absurd lines before scanning, so the scanner can
   rely on C strings. */
static int config_input_check(struct config_parser *parser,
			      const struct config_input *input)
{
	unsigned int line = 1;
	size_t line_start = 0;

	for (size_t i = 0; i <= input->size; i++) {
		if (i == input->size || input->data[i] == '\n') {
			if (i - line_start > CONFIG_MAX_LINE_LENGTH) {
				return config_error(parser, input, line,
					"Line is too long (expected at most %u bytes)",
					CONFIG_MAX_LINE_LENGTH);
			}
			line++;
			line_start = i + 1;
		} else if (input->data[i] == '\0') {
			return config_error(parser, input, line,
				"NUL byte in the configuration (expected text)");
		}
	}
	return 0;
}

static inline char config_cur(const struct config_input *input)
{
	return input->pos < input->size ? input->data[input->pos] : '\0';
}

static inline bool config_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Skip blanks; with newlines also line ends and comments. */
static void config_skip_space(struct config_input *input, bool newlines)
{
	for (;;) {
		char c = config_cur(input);

		if (config_is_space(c)) {
			input->pos++;
		} else if (newlines && c == '\n') {
			input->pos++;
			input->line++;
		} else if (newlines && c == '#') {
			while (input->pos < input->size &&
			       input->data[input->pos] != '\n')
				input->pos++;
		} else {
			break;
		}
	}
}

/* True at the end of a statement: line end, comment, '}' or the end. */
static bool config_at_statement_end(const struct config_input *input)
{
	char c = config_cur(input);

	return c == '\0' || c == '\n' || c == '#' || c == '}';
}

static const char *config_read_word(struct config_input *input)
{
	size_t start = input->pos;

	while (input->pos < input->size) {
		char c = input->data[input->pos];
		if (config_is_space(c) || c == '\n' || strchr("=#{}\"'", c))
			break;
		input->pos++;
	}
	return t_strndup(input->data + start, input->pos - start);
}

/* "..." or '...' with escapes \\ \" \' \n \r \t; must end on its line. */
static int config_read_quoted(struct config_parser *parser,
			      struct config_input *input, string_t *out)
{
	char quote = config_cur(input);
	unsigned int line = input->line;

	input->pos++;
	for (;;) {
		char c = config_cur(input);

		if (c == '\0' || c == '\n') {
			return config_error(parser, input, line,
				"Unterminated quoted value (expected a closing %c on the same line)",
				quote);
		}
		input->pos++;
		if (c == quote)
			return 0;
		if (c != '\\') {
			str_append_c(out, c);
			continue;
		}
		c = config_cur(input);
		switch (c) {
		case '\\':
		case '"':
		case '\'':
			str_append_c(out, c);
			break;
		case 'n':
			str_append_c(out, '\n');
			break;
		case 'r':
			str_append_c(out, '\r');
			break;
		case 't':
			str_append_c(out, '\t');
			break;
		case '\0':
		case '\n':
			return config_error(parser, input, line,
				"Unterminated quoted value (expected a closing %c on the same line)",
				quote);
		default:
			return config_error(parser, input, line,
				"Invalid escape \\%s in a quoted value "
				"(expected \\\\, \\\", \\', \\n, \\r or \\t)",
				str_sanitize(t_strndup(&c, 1), 4));
		}
		input->pos++;
	}
}

/* Is the backslash at pos the last thing on its line? */
static bool config_is_continuation(const struct config_input *input)
{
	size_t i = input->pos + 1;

	while (i < input->size && config_is_space(input->data[i]))
		i++;
	return i < input->size && input->data[i] == '\n';
}

/* An unquoted value: up to the end of the line, a comment, or a '}' that
   stands alone (so `inet_listener imap { port = 143 }` works while
   %{user} stays intact). Quotes inside protect '#' and '}' up to the
   matching quote on the line and are kept; "\" at the end of a line
   continues the value on the next one. */
static const char *config_read_unquoted(struct config_input *input)
{
	string_t *str = t_str_new(64);

	for (;;) {
		char c = config_cur(input);

		if (c == '\0' || c == '\n' || c == '#')
			break;
		if (c == '}' &&
		    (str_len(str) == 0 ||
		     config_is_space(str_c(str)[str_len(str) - 1]))) {
			char next = input->pos + 1 < input->size ?
				input->data[input->pos + 1] : '\0';
			if (next == '\0' || next == '\n' || next == '#' ||
			    config_is_space(next))
				break;
		}
		if (c == '\\' && config_is_continuation(input)) {
			while (str_len(str) > 0 &&
			       config_is_space(str_c(str)[str_len(str) - 1]))
				str_truncate(str, str_len(str) - 1);
			while (config_cur(input) != '\n')
				input->pos++;
			input->pos++;
			input->line++;
			config_skip_space(input, false);
			if (str_len(str) > 0)
				str_append_c(str, ' ');
			continue;
		}
		if (c == '"' || c == '\'') {
			const char *end = memchr(input->data + input->pos + 1, c,
						 input->size - input->pos - 1);
			const char *nl = memchr(input->data + input->pos + 1,
						'\n', input->size - input->pos - 1);
			if (end != NULL && (nl == NULL || end < nl)) {
				size_t len = (size_t)(end - (input->data +
							     input->pos)) + 1;
				str_append_data(str, input->data + input->pos,
						len);
				input->pos += len;
				continue;
			}
		}
		str_append_c(str, c);
		input->pos++;
	}
	size_t len = str_len(str);
	while (len > 0 && config_is_space(str_c(str)[len - 1]))
		len--;
	return t_strndup(str_c(str), len);
}

/* The argument of `key = <ARG`, `!include ARG` or a section NAME. */
static int config_read_arg(struct config_parser *parser,
			   struct config_input *input, const char *what,
			   const char **arg_r)
{
	config_skip_space(input, false);
	char c = config_cur(input);
	if (c != '"' && c != '\'') {
		*arg_r = config_read_unquoted(input);
		return 0;
	}
	string_t *str = t_str_new(64);
	if (config_read_quoted(parser, input, str) < 0)
		return -1;
	config_skip_space(input, false);
	if (!config_at_statement_end(input)) {
		return config_error(parser, input, input->line,
			"Unexpected text after the quoted %s: %s (expected the end of the line)",
			what, str_sanitize(config_read_unquoted(input), 80));
	}
	*arg_r = str_c(str);
	return 0;
}

static struct config_node *
config_node_new(struct config_parser *parser, struct config_input *input,
		struct config_node *parent, enum config_node_type type,
		const char *key, unsigned int line)
{
	struct config_node *node = p_new(parser->pool, struct config_node, 1);

	node->type = type;
	node->key = p_strdup(parser->pool, key);
	node->file = input->path;
	node->line = line;
	array_init(&node->children, parser->pool, 0);
	array_push(&parent->children, node);
	return node;
}

static bool config_value_wants_expand(const char *value)
{
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '$' && (p == value || config_is_space(p[-1])))
			return true;
	}
	return false;
}

static int config_read_value_file(struct config_parser *parser,
				  struct config_input *input,
				  struct config_node *node)
{
	const char *path;
	char *data;
	size_t size;

	input->pos++; /* '<' */
	if (config_read_arg(parser, input, "file name", &path) < 0)
		return -1;
	if (*path == '\0') {
		return config_error(parser, input, node->line,
			"Missing file name after '<' (expected %s = </path/to/file)",
			node->key);
	}
	if (parser->set->no_file_access) {
		return config_error(parser, input, node->line,
			"Reading %s from a file is not allowed here (expected a value, not <%s)",
			node->key, path);
	}
	path = config_path_resolve(input->dir, path);
	if (config_read_file(parser->pool, path, &data, &size) < 0) {
		return config_error(parser, input, node->line,
			"Can't read %s for %s: %s (expected a readable file)",
			path, node->key, t_strerror(errno));
	}
	if (strlen(data) != size) {
		safe_memset(data, 0, size);
		return config_error(parser, input, node->line,
			"File %s for %s contains NUL bytes (expected a text file such as PEM)",
			path, node->key);
	}
	node->value = data;
	node->value_file = p_strdup(parser->pool, path);
	return 0;
}

static int config_parse_keyvalue(struct config_parser *parser,
				 struct config_input *input,
				 struct config_node *parent, const char *key,
				 unsigned int line)
{
	struct config_node *node =
		config_node_new(parser, input, parent, CONFIG_NODE_KEYVALUE,
				key, line);

	config_skip_space(input, false);
	char c = config_cur(input);
	if (c == '<')
		return config_read_value_file(parser, input, node);
	if (c == '"' || c == '\'') {
		const char *value;
		if (config_read_arg(parser, input, "value", &value) < 0)
			return -1;
		node->value = p_strdup(parser->pool, value);
		return 0;
	}
	const char *value = config_read_unquoted(input);
	node->value = p_strdup(parser->pool, value);
	node->expand = config_value_wants_expand(value);
	return 0;
}

static int config_parse_section(struct config_parser *parser,
				struct config_input *input,
				struct config_node *parent, const char *key,
				unsigned int line)
{
	const char *name = "";
	char c = config_cur(input);

	if (c == '"' || c == '\'') {
		string_t *str = t_str_new(64);
		if (config_read_quoted(parser, input, str) < 0)
			return -1;
		name = str_c(str);
	} else if (c != '{') {
		size_t start = input->pos;
		while (input->pos < input->size &&
		       strchr("{\n#", input->data[input->pos]) == NULL)
			input->pos++;
		size_t end = input->pos;
		while (end > start && config_is_space(input->data[end - 1]))
			end--;
		name = t_strndup(input->data + start, end - start);
	}
	config_skip_space(input, false);
	if (config_cur(input) != '{') {
		return config_error(parser, input, line,
			"Expecting '=' or '{' after %s (expected %s = VALUE or %s [NAME] { ... })",
			key, key, key);
	}
	input->pos++;
	if (parser->section_depth >= CONFIG_MAX_SECTION_DEPTH) {
		return config_error(parser, input, line,
			"Sections are nested too deeply (expected at most %u levels)",
			CONFIG_MAX_SECTION_DEPTH);
	}

	struct config_node *node =
		config_node_new(parser, input, parent, CONFIG_NODE_SECTION,
				key, line);
	node->value = p_strdup(parser->pool, name);
	parser->section_depth++;
	int ret = config_parse_block(parser, input, node, node);
	parser->section_depth--;
	return ret;
}

static int config_include_file(struct config_parser *parser,
			       struct config_input *input,
			       struct config_node *parent, const char *path,
			       bool try_only, unsigned int line)
{
	struct stat st;
	char *data;
	size_t size;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT && try_only)
			return 0;
		return config_error(parser, input, line,
			"Can't include %s: %s%s", path, t_strerror(errno),
			errno == ENOENT ?
			" (use !include_try for optional files)" : "");
	}
	if (!S_ISREG(st.st_mode)) {
		return config_error(parser, input, line,
			"Can't include %s: Not a regular file (expected a configuration file)",
			path);
	}
	for (const struct config_input *in = input; in != NULL; in = in->parent) {
		if (in->have_id && in->dev == st.st_dev && in->ino == st.st_ino) {
			return config_error(parser, input, line,
				"Recursive !include of %s (it is already being read)",
				path);
		}
	}
	if (input->depth + 1 > parser->max_depth) {
		return config_error(parser, input, line,
			"!include nesting is too deep (expected at most %u levels)",
			parser->max_depth);
	}
	if (config_read_file(parser->pool, path, &data, &size) < 0) {
		return config_error(parser, input, line, "Can't include %s: %s",
				    path, t_strerror(errno));
	}

	struct config_input child = {
		.parent = input,
		.path = p_strdup(parser->pool, path),
		.dir = config_path_dir(path),
		.data = data,
		.size = size,
		.line = 1,
		.depth = input->depth + 1,
		.have_id = true,
		.dev = st.st_dev,
		.ino = st.st_ino,
	};
	int ret = config_input_check(parser, &child);
	if (ret == 0)
		ret = config_parse_block(parser, &child, parent, NULL);
	safe_memset(data, 0, size);
	return ret;
}

static int config_include(struct config_parser *parser,
			  struct config_input *input, struct config_node *parent,
			  const char *pattern, bool try_only, unsigned int line)
{
	const char *directive = try_only ? "!include_try" : "!include";
	int ret = 0;

	if (parser->set->no_file_access) {
		return config_error(parser, input, line,
				    "%s is not allowed here", directive);
	}
	const char *path = config_path_resolve(input->dir, pattern);
	if (strpbrk(pattern, "*?[") == NULL)
		return config_include_file(parser, input, parent, path,
					   try_only, line);

	glob_t globbuf;
	switch (glob(path, 0, NULL, &globbuf)) {
	case 0:
		break;
	case GLOB_NOMATCH:
		globfree(&globbuf);
		if (try_only)
			return 0;
		return config_error(parser, input, line,
			"No files match %s %s (use !include_try if none need to exist)",
			directive, path);
	default:
		globfree(&globbuf);
		return config_error(parser, input, line,
				    "Can't list the files for %s %s: %s",
				    directive, path, t_strerror(errno));
	}
	/* glob() sorts the names, so conf.d/10-*.conf come in order */
	for (size_t i = 0; i < globbuf.gl_pathc && ret == 0; i++) {
		ret = config_include_file(parser, input, parent,
					  globbuf.gl_pathv[i], try_only, line);
	}
	globfree(&globbuf);
	return ret;
}

static int config_parse_directive(struct config_parser *parser,
				  struct config_input *input,
				  struct config_node *parent)
{
	unsigned int line = input->line;
	size_t start = input->pos;

	while (input->pos < input->size &&
	       !config_is_space(input->data[input->pos]) &&
	       input->data[input->pos] != '\n')
		input->pos++;
	const char *word = t_strndup(input->data + start, input->pos - start);
	bool try_only = strcmp(word, "!include_try") == 0;
	if (!try_only && strcmp(word, "!include") != 0) {
		return config_error(parser, input, line,
			"Unknown directive %s (expected !include or !include_try)",
			str_sanitize(word, 80));
	}
	const char *arg;
	if (config_read_arg(parser, input, "file name", &arg) < 0)
		return -1;
	if (*arg == '\0') {
		return config_error(parser, input, line,
			"Missing file name after %s (expected %s PATH)",
			word, word);
	}
	return config_include(parser, input, parent, arg, try_only, line);
}

static int config_parse_statement(struct config_parser *parser,
				  struct config_input *input,
				  struct config_node *parent)
{
	unsigned int line = input->line;
	const char *key = config_read_word(input);

	if (*key == '\0') {
		return config_error(parser, input, line,
			"Unexpected '%s' (expected a setting name, a section or '}')",
			str_sanitize(t_strndup(input->data + input->pos, 1), 4));
	}
	config_skip_space(input, false);
	char c = config_cur(input);
	if (c == '=') {
		input->pos++;
		return config_parse_keyvalue(parser, input, parent, key, line);
	}
	if (c == '\0' || c == '\n' || c == '#' || c == '}') {
		return config_error(parser, input, line,
			"Expecting '=' or '{' after %s (expected %s = VALUE or %s [NAME] { ... })",
			key, key, key);
	}
	return config_parse_section(parser, input, parent, key, line);
}

static int config_parse_block(struct config_parser *parser,
			      struct config_input *input,
			      struct config_node *parent,
			      const struct config_node *open_section)
{
	for (;;) {
		config_skip_space(input, true);
		char c = config_cur(input);

		if (c == '\0') {
			if (open_section == NULL)
				return 0;
			return config_error(parser, input, open_section->line,
				"Section %s%s%s is not closed (expected '}' before the end of %s)",
				open_section->key,
				*open_section->value == '\0' ? "" : " ",
				str_sanitize(open_section->value, 80),
				input->path);
		}
		if (c == '}') {
			if (open_section == NULL) {
				return config_error(parser, input, input->line,
					"Unexpected '}' (no section is open here)");
			}
			input->pos++;
			return 0;
		}
		int ret = c == '!' ?
			config_parse_directive(parser, input, parent) :
			config_parse_statement(parser, input, parent);
		if (ret < 0)
			return -1;
	}
}

static struct config_node *config_root_new(pool_t pool)
{
	struct config_node *root = p_new(pool, struct config_node, 1);

	root->type = CONFIG_NODE_SECTION;
	root->key = "";
	root->value = "";
	array_init(&root->children, pool, 0);
	return root;
}

static int config_parse_input(pool_t pool, struct config_input *input,
			      const struct config_parser_settings *set,
			      struct config_node **root_r, const char **error_r)
{
	struct config_parser parser = {
		.pool = pool,
		.set = set,
		.max_depth = set->max_include_depth != 0 ?
			set->max_include_depth :
			CONFIG_DEFAULT_MAX_INCLUDE_DEPTH,
	};
	struct config_node *root = config_root_new(pool);

	if (config_input_check(&parser, input) < 0 ||
	    config_parse_block(&parser, input, root, NULL) < 0) {
		config_parser_wipe(root);
		*error_r = parser.error;
		return -1;
	}
	*root_r = root;
	return 0;
}

int config_parser_parse_string(pool_t pool, const char *text,
			       const char *source_name, const char *dir,
			       const struct config_parser_settings *set,
			       struct config_node **root_r,
			       const char **error_r)
{
	struct config_input input = {
		.path = p_strdup(pool, source_name),
		.dir = dir != NULL ? dir : config_cwd(),
		.data = text,
		.size = strlen(text),
		.line = 1,
	};
	return config_parse_input(pool, &input, set, root_r, error_r);
}

int config_parser_parse_file(pool_t pool, const char *path,
			     const struct config_parser_settings *set,
			     struct config_node **root_r, const char **error_r)
{
	struct stat st;
	char *data;
	size_t size;

	if (stat(path, &st) < 0 ||
	    config_read_file(pool, path, &data, &size) < 0) {
		*error_r = t_strdup_printf("Can't read configuration file %s: %s",
					   path, t_strerror(errno));
		return -1;
	}
	const char *abs_path = config_path_resolve(config_cwd(), path);
	struct config_input input = {
		.path = p_strdup(pool, path),
		.dir = config_path_dir(abs_path),
		.data = data,
		.size = size,
		.line = 1,
		.have_id = true,
		.dev = st.st_dev,
		.ino = st.st_ino,
	};
	int ret = config_parse_input(pool, &input, set, root_r, error_r);
	safe_memset(data, 0, size);
	return ret;
}

void config_parser_wipe(struct config_node *root)
{
	struct config_node **child;

	if (root->value != NULL)
		safe_memset((char *)root->value, 0, strlen(root->value));
	array_foreach(&root->children, child)
		config_parser_wipe(*child);
}
