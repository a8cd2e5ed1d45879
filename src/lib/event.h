/* Structured events. An event describes an action (a connection, a
   session, a command): a name, a category, fields, a start time and a
   parent whose fields and log prefix it inherits
     connection event -> session event -> command event.
   Emitting an event - logging with e_info() and friends, or
   event_emit()/e_finished() when the action ends - hands it to every
   registered handler: the OpenMetrics code counts and histograms them, the
   JSON-lines exporter below writes them out. With no handler registered
   emitting costs a branch (plus the log line for e_*()).

   Events belong to the ioloop thread: not thread-safe, never used from
   worker threads. */
#ifndef COLUMBA_EVENT_H
#define COLUMBA_EVENT_H

#include <sys/time.h>

struct event;

enum event_field_type {
	EVENT_FIELD_TYPE_STR,
	EVENT_FIELD_TYPE_INT,
	EVENT_FIELD_TYPE_TIMEVAL,
};

struct event_field {
	const char *key;
	enum event_field_type type;
	union {
		const char *str;
		int64_t intmax;
		struct timeval timeval;
	} value;
};

/* What a handler sees for one emission. Everything in it is valid only
   during the handler call. */
struct event_emission {
	struct event *event;
	/* event_emit()'s name, or the event's own; NULL for a log line of
	   an unnamed event */
	const char *name;
	/* the event's or the nearest ancestor's; NULL if none */
	const char *category;
	/* own and inherited fields, ancestors' first; a key set on a child
	   overrides the ancestor's value in its place */
	const struct event_field *fields;
	unsigned int fields_count;
	/* wall clock at event_create() and now */
	struct timeval start_time, emit_time;
	uint64_t duration_usecs;
	/* set for e_debug()..e_error(): the message without prefix */
	bool is_log;
	enum log_type log_type;
	const char *message;
};

typedef void event_handler_t(const struct event_emission *emission,
			     void *context);

/* A new event with one reference. parent (may be NULL) gets a reference
   that is held until this event is freed. The start time is now. */
struct event *event_create(struct event *parent);
void event_ref(struct event *event);
/* Drop a reference and set *event to NULL; the last one frees it. */
void event_unref(struct event **event);

/* Make parent (may be NULL) the event's parent: it gets a reference, the
   old parent loses the one it had. For an object that outlives the
   action it was made for and is handed to the next one (a mail_user kept
   open after its session ended, logging for the next session). parent
   must not be the event or one of its descendants. */
void event_set_parent(struct event *event, struct event *parent);

/* Setters copy their arguments into the event's own arena (freed with the
   event, so a value replaced very often grows it) and return the event,
   for chaining. */
struct event *event_set_name(struct event *event, const char *name);
struct event *event_set_category(struct event *event, const char *category);
/* Add or replace a field. A NULL str value is ignored, so optional fields
   need no if. */
struct event *event_add_str(struct event *event, const char *key,
			    const char *value);
struct event *event_add_int(struct event *event, const char *key,
			    int64_t value);
struct event *event_add_timeval(struct event *event, const char *key,
				const struct timeval *value);
/* Make room for count fields in one allocation. For an event that knows
   how many fields it will get: the fields array otherwise starts at 4 and
   doubles, and in the event's arena each array it outgrew stays behind
   (the login client's 5 fields took a second 1 KiB block). */
void event_reserve_fields(struct event *event, unsigned int count);
/* The prefix of log lines is the parent's prefix followed by this one
   ("imap(bob)<sess>: " then "FETCH: "). */
struct event *event_set_append_log_prefix(struct event *event,
					  const char *prefix);
/* Use this prefix instead of the parent's. */
struct event *event_replace_log_prefix(struct event *event,
				       const char *prefix);
/* Start the duration clock again (an event reused for several actions). */
void event_reset_start(struct event *event);

const char *event_get_name(const struct event *event);
/* The event's category or the nearest ancestor's; NULL if none. */
const char *event_get_category(const struct event *event);
struct event *event_get_parent(const struct event *event);
/* The full log prefix, on the data stack. */
const char *event_get_log_prefix(const struct event *event);
/* Look up a field, the event's own first, then its ancestors'. NULL if
   none has it. */
const struct event_field *event_find_field(const struct event *event,
					   const char *key);
/* Own fields only. */
const struct event_field *event_get_own_fields(const struct event *event,
					       unsigned int *count_r);
const struct timeval *event_get_start_time(const struct event *event);
/* Microseconds since the start (monotonic clock). */
uint64_t event_get_duration_usecs(const struct event *event);

/* Log with the event's prefix, and emit the event (with the message) to
   the handlers. e_debug() logs only if debug logging is enabled, and costs
   nothing more than that check when it is off and nobody listens. */
void e_debug(struct event *event, const char *fmt, ...) ATTR_FORMAT(2, 3);
void e_info(struct event *event, const char *fmt, ...) ATTR_FORMAT(2, 3);
void e_warning(struct event *event, const char *fmt, ...) ATTR_FORMAT(2, 3);
void e_error(struct event *event, const char *fmt, ...) ATTR_FORMAT(2, 3);
/* Emit the event to the handlers under name (NULL: the event's own name,
   which must then be set), with its duration so far. */
void event_emit(struct event *event, const char *name);
/* The action the event describes has finished: event_emit(event, NULL). */
void e_finished(struct event *event);

/* Handlers see every emission, in registration order. An emission made
   from inside a handler is not dispatched again (it is still logged), so
   a handler that logs cannot loop. */
struct event_handler *event_register_handler(event_handler_t *callback,
					     void *context);
/* Safe from inside a handler. Sets *handler to NULL. */
void event_unregister_handler(struct event_handler **handler);
bool event_have_handlers(void);

/* --- JSON lines ---
   One line per emission:
     {"time":"2026-01-02T03:04:05.000123Z","event":"imap_command_finished",
      "category":"imap","duration_usecs":1234,"log_type":"info",
      "message":"...","fields":{"user":"bob","bytes":512,
      "login_time":"2026-01-02T03:04:00.000000Z"}}
   "event", "category", "log_type" and "message" are left out when there is
   none. Times are UTC. Strings are escaped so that every line is valid
   JSON in valid UTF-8: see event_json_append_string(). */
struct event_exporter_json;

/* Write to fd, which the exporter closes on destroy if close_fd. */
struct event_exporter_json *event_exporter_json_create(int fd, bool close_fd);
/* Append to the file at path, creating it (mode 0640). */
int event_exporter_json_open(const char *path,
			     struct event_exporter_json **exporter_r,
			     const char **error_r) ATTR_WARN_UNUSED;
void event_exporter_json_destroy(struct event_exporter_json **exporter);

/* The JSON object for one emission, without the newline. */
void event_emission_append_json(string_t *dest,
				const struct event_emission *emission);
/* data as a quoted JSON string: '"' and '\' escaped, control characters
   (and DEL) as \b \f \n \r \t or \u00XX, valid UTF-8 kept as is, and each
   maximal invalid UTF-8 subsequence (stray continuation byte, truncated,
   overlong, surrogate or beyond U+10FFFF) replaced with \ufffd. */
void event_json_append_string(string_t *dest, const void *data, size_t size);

#endif
