/* Logging. Each line carries a timestamp, the process's prefix
   ("imap-login(1234): ") and the level. A line is written with one write()
   so lines from several processes sharing a file or pipe do not mix. */
#ifndef COLUMBA_LOG_H
#define COLUMBA_LOG_H

enum log_type {
	LOG_TYPE_DEBUG,
	LOG_TYPE_INFO,
	LOG_TYPE_WARNING,
	LOG_TYPE_ERROR,
	LOG_TYPE_FATAL,
	LOG_TYPE_PANIC,
};

/* Exit code of i_fatal(): the master sees it and does not treat the exit as
   a crash to restart quickly. */
#define FATAL_EXIT_CODE 89

/* Called for every line that passes the level filter, after formatting and
   instead of the default writer when set (tests capture logs this way). */
typedef void log_handler_t(enum log_type type, const char *line, void *context);

void log_set_prefix(const char *prefix);
const char *log_get_prefix(void);
void log_set_debug(bool enabled);
bool log_debug_enabled(void);
/* Write to this file (append) instead of stderr. NULL or "" means stderr.
   Returns -1 and sets *error_r if the file cannot be opened. */
int log_open_path(const char *path, const char **error_r);
int log_get_fd(void);
void log_set_handler(log_handler_t *handler, void *context);
const char *log_type_name(enum log_type type);

/* strftime() format of the time stamp starting each line (log_timestamp);
   NULL restores the default "%Y-%m-%d %H:%M:%S ". */
void log_set_timestamp_format(const char *format);

void i_log(enum log_type type, const char *fmt, ...) ATTR_FORMAT(2, 3);
/* Like i_log() with a prefix of the caller's (an event's: "imap(bob): ")
   after the process prefix and before the level. */
void i_log_prefixed(enum log_type type, const char *prefix, const char *fmt,
		    ...) ATTR_FORMAT(3, 4);
void i_logv(enum log_type type, const char *fmt, va_list args)
	ATTR_FORMAT(2, 0);
void i_debug(const char *fmt, ...) ATTR_FORMAT(1, 2);
void i_info(const char *fmt, ...) ATTR_FORMAT(1, 2);
void i_warning(const char *fmt, ...) ATTR_FORMAT(1, 2);
void i_error(const char *fmt, ...) ATTR_FORMAT(1, 2);
/* Log and exit(FATAL_EXIT_CODE). */
void i_fatal(const char *fmt, ...) ATTR_FORMAT(1, 2) ATTR_NORETURN;
/* Log and abort() (a bug). Declared in lib.h. */

#endif
