/* POP3 command lines: keyword, arguments, numbers (see pop3-command.h). */
#include "lib.h"
#include "strfuncs.h"
#include "pop3-command.h"

#include <ctype.h>

int pop3_command_parse(const char *line, size_t len,
		       struct pop3_command_line *cmd_r, const char **error_r)
{
	size_t i = 0;

	memset(cmd_r, 0, sizeof(*cmd_r));
	while (i < len && isalpha((unsigned char)line[i]))
		i++;
	if (i == 0) {
		*error_r = len == 0 ? "Empty command." : "Invalid command.";
		return -1;
	}
	if (i > POP3_MAX_KEYWORD_LEN || (i < len && line[i] != ' ')) {
		*error_r = "Invalid command.";
		return -1;
	}
	for (size_t j = i; j < len; j++) {
		unsigned char c = (unsigned char)line[j];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*error_r = c == '\0' ? "NUL characters are not allowed." :
				"Control characters are not allowed.";
			return -1;
		}
	}
	cmd_r->name = t_str_ucase(t_strndup(line, i));
	if (i < len)
		cmd_r->args = t_strndup(line + i + 1, len - i - 1);
	return 0;
}

int pop3_command_args(const char *args, unsigned int min_args,
		      unsigned int max_args, const char *const **args_r,
		      const char **error_r)
{
	const char **list = t_new(const char *, max_args + 1);
	unsigned int count = 0;

	while (args != NULL) {
		const char *sp = strchr(args, ' ');
		const char *arg = sp == NULL ? args :
			t_strndup(args, (size_t)(sp - args));
		if (*arg == '\0') {
			*error_r = "Invalid arguments.";
			return -1;
		}
		if (count == max_args) {
			*error_r = "Too many arguments.";
			return -1;
		}
		list[count++] = arg;
		args = sp == NULL ? NULL : sp + 1;
	}
	if (count < min_args) {
		*error_r = "Missing argument.";
		return -1;
	}
	*args_r = list;
	return (int)count;
}

int pop3_parse_uint(const char *str, uint32_t *num_r)
{
	uint64_t num = 0;

	if (*str == '\0')
		return -1;
	for (; *str != '\0'; str++) {
		if (*str < '0' || *str > '9')
			return -1;
		num = num * 10 + (uint64_t)(*str - '0');
		if (num > UINT32_MAX)
			return -1;
	}
	*num_r = (uint32_t)num;
	return 0;
}
