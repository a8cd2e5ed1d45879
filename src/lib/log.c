/* Log writer: formats a whole line in a stack buffer and writes it once. */
#include "lib.h"
#include <fcntl.h>
#include <sys/time.h>
#include <time.h>

static char log_prefix[128];
static char log_timestamp_format[64] = "%Y-%m-%d %H:%M:%S ";
static bool log_debug;
static int log_fd = STDERR_FILENO;
static log_handler_t *log_handler;
static void *log_handler_ctx;

static const char *const log_type_names[] = {
	"Debug", "Info", "Warning", "Error", "Fatal", "Panic",
};

const char *log_type_name(enum log_type type)
{
	return log_type_names[type];
}

void log_set_prefix(const char *prefix)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
}

const char *log_get_prefix(void) { return log_prefix; }
void log_set_debug(bool enabled) { log_debug = enabled; }
bool log_debug_enabled(void) { return log_debug; }
int log_get_fd(void) { return log_fd; }

void log_set_handler(log_handler_t *handler, void *context)
{
	log_handler = handler;
	log_handler_ctx = context;
}

int log_open_path(const char *path, const char **error_r)
{
	if (path == NULL || *path == '\0' || strcmp(path, "/dev/stderr") == 0) {
		if (log_fd != STDERR_FILENO)
			close(log_fd);
		log_fd = STDERR_FILENO;
		return 0;
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	return 0;
}

void log_set_timestamp_format(const char *format)
{
	snprintf(log_timestamp_format, sizeof(log_timestamp_format), "%s",
		 format == NULL ? "%Y-%m-%d %H:%M:%S " : format);
}

static void i_logv_full(enum log_type type, const char *extra_prefix,
			const char *fmt, va_list args) ATTR_FORMAT(3, 0);
static void i_logv_full(enum log_type type, const char *extra_prefix,
			const char *fmt, va_list args)
{
	if (type == LOG_TYPE_DEBUG && !log_debug)
		return;
	int saved_errno = errno;
	char line[8192];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	size_t pos = strftime(line, sizeof(line) / 2, log_timestamp_format, &tm);
	int n = snprintf(line + pos, sizeof(line) - pos, "%s%s%s: ",
			 log_prefix, extra_prefix == NULL ? "" : extra_prefix,
			 log_type_names[type]);
	if (n > 0)
		pos += (size_t)n;
	if (pos >= sizeof(line))
		pos = sizeof(line) - 1;
	errno = saved_errno;
	n = vsnprintf(line + pos, sizeof(line) - pos - 1, fmt, args);
	if (n > 0)
		pos = I_MIN(pos + (size_t)n, sizeof(line) - 2);
	/* a log line never spans lines: control characters become '?' */
	for (size_t i = 0; i < pos; i++) {
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
			line[i] = '?';
	}
	if (log_handler != NULL) {
		line[pos] = '\0';
		log_handler(type, line, log_handler_ctx);
	} else {
		line[pos++] = '\n';
		ssize_t ret = write(log_fd, line, pos);
		(void)ret;
	}
	errno = saved_errno;
}

void i_logv(enum log_type type, const char *fmt, va_list args)
{
	i_logv_full(type, NULL, fmt, args);
}

void i_log_prefixed(enum log_type type, const char *prefix, const char *fmt,
		    ...)
{
	va_list args;
	va_start(args, fmt);
	i_logv_full(type, prefix, fmt, args);
	va_end(args);
}

void i_log(enum log_type type, const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	i_logv(type, fmt, args);
	va_end(args);
}

#define LOG_FUNC(name, type) \
void name(const char *fmt, ...) \
{ \
	va_list args; \
	va_start(args, fmt); \
	i_logv(type, fmt, args); \
	va_end(args); \
}
LOG_FUNC(i_debug, LOG_TYPE_DEBUG)
LOG_FUNC(i_info, LOG_TYPE_INFO)
LOG_FUNC(i_warning, LOG_TYPE_WARNING)
LOG_FUNC(i_error, LOG_TYPE_ERROR)

void i_fatal(const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	i_logv(LOG_TYPE_FATAL, fmt, args);
	va_end(args);
	exit(FATAL_EXIT_CODE);
}

void i_panic(const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	i_logv(LOG_TYPE_PANIC, fmt, args);
	va_end(args);
	abort();
}
