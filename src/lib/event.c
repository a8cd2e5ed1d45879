/* Structured events: the event tree with inherited fields and log
   prefixes, emission to registered handlers (cheap when there are none),
   and the built-in JSON-lines exporter. */
#include "lib.h"
#include "event.h"
#include <fcntl.h>
#include <time.h>

struct event {
	int refcount;
	/* small arena: names, prefixes, field keys and values */
	pool_t pool;
	struct event *parent;
	const char *name, *category;
	const char *log_prefix;
	bool log_prefix_replace;
	ARRAY(struct event_field) fields;
	struct timeval start_time;
	uint64_t start_usecs;
};

struct event_handler {
	struct event_handler *prev, *next;
	/* NULL once unregistered during a dispatch; unlinked after it */
	event_handler_t *callback;
	void *context;
};

static struct event_handler *event_handlers;
static unsigned int event_dispatch_depth;
static bool event_handlers_deleted;

static uint64_t event_monotonic_usecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* --- the event tree --- */

struct event *event_create(struct event *parent)
{
	pool_t pool = pool_alloconly_create("event", 512);
	struct event *event = p_new(pool, struct event, 1);
	event->refcount = 1;
	event->pool = pool;
	if (parent != NULL) {
		event_ref(parent);
		event->parent = parent;
	}
	event_reset_start(event);
	return event;
}

void event_ref(struct event *event)
{
	i_assert(event->refcount > 0);
	event->refcount++;
}

void event_unref(struct event **_event)
{
	struct event *event = *_event;
	*_event = NULL;
	/* iterative, so a long chain of last references cannot recurse
	   deeply */
	while (event != NULL) {
		i_assert(event->refcount > 0);
		if (--event->refcount > 0)
			return;
		struct event *parent = event->parent;
		pool_t pool = event->pool;
		pool_unref(&pool);
		event = parent;
	}
}

void event_set_parent(struct event *event, struct event *parent)
{
	/* a cycle would make every walk up the tree loop forever */
	for (struct event *p = parent; p != NULL; p = p->parent)
		i_assert(p != event);
	if (parent != NULL)
		event_ref(parent);
	struct event *old = event->parent;
	event->parent = parent;
	event_unref(&old);
}

struct event *event_set_name(struct event *event, const char *name)
{
	event->name = p_strdup(event->pool, name);
	return event;
}

struct event *event_set_category(struct event *event, const char *category)
{
	event->category = p_strdup(event->pool, category);
	return event;
}

static struct event_field *event_field_get(struct event *event,
					   const char *key)
{
	struct event_field *field;

	if (!array_is_created(&event->fields))
		array_init(&event->fields, event->pool, 4);
	array_foreach(&event->fields, field) {
		if (strcmp(field->key, key) == 0)
			return field;
	}
	field = array_append_space(&event->fields);
	field->key = p_strdup(event->pool, key);
	return field;
}

void event_reserve_fields(struct event *event, unsigned int count)
{
	if (!array_is_created(&event->fields))
		array_init(&event->fields, event->pool, 0);
	if (event->fields.alloc >= count)
		return;
	/* exactly count, not array_reserve()'s power of two */
	event->fields.v = p_realloc(event->pool, event->fields.v,
		sizeof(struct event_field) * event->fields.alloc,
		size_mul(sizeof(struct event_field), count));
	event->fields.alloc = count;
}

struct event *event_add_str(struct event *event, const char *key,
			    const char *value)
{
	if (value == NULL)
		return event;
	struct event_field *field = event_field_get(event, key);
	field->type = EVENT_FIELD_TYPE_STR;
	field->value.str = p_strdup(event->pool, value);
	return event;
}

struct event *event_add_int(struct event *event, const char *key,
			    int64_t value)
{
	struct event_field *field = event_field_get(event, key);
	field->type = EVENT_FIELD_TYPE_INT;
	field->value.intmax = value;
	return event;
}

struct event *event_add_timeval(struct event *event, const char *key,
				const struct timeval *value)
{
	struct event_field *field = event_field_get(event, key);
	field->type = EVENT_FIELD_TYPE_TIMEVAL;
	field->value.timeval = *value;
	return event;
}

struct event *event_set_append_log_prefix(struct event *event,
					  const char *prefix)
{
	event->log_prefix = p_strdup(event->pool, prefix);
	event->log_prefix_replace = false;
	return event;
}

struct event *event_replace_log_prefix(struct event *event,
				       const char *prefix)
{
	event->log_prefix = p_strdup(event->pool, prefix);
	event->log_prefix_replace = true;
	return event;
}

void event_reset_start(struct event *event)
{
	gettimeofday(&event->start_time, NULL);
	event->start_usecs = event_monotonic_usecs();
}

const char *event_get_name(const struct event *event)
{
	return event->name;
}

const char *event_get_category(const struct event *event)
{
	for (; event != NULL; event = event->parent) {
		if (event->category != NULL)
			return event->category;
	}
	return NULL;
}

struct event *event_get_parent(const struct event *event)
{
	return event->parent;
}

static void event_append_log_prefix(string_t *dest, const struct event *event)
{
	if (event == NULL)
		return;
	if (!event->log_prefix_replace)
		event_append_log_prefix(dest, event->parent);
	if (event->log_prefix != NULL)
		str_append(dest, event->log_prefix);
}

const char *event_get_log_prefix(const struct event *event)
{
	string_t *str = t_str_new(64);
	event_append_log_prefix(str, event);
	return str_c(str);
}

const struct event_field *event_find_field(const struct event *event,
					   const char *key)
{
	const struct event_field *field;

	for (; event != NULL; event = event->parent) {
		array_foreach(&event->fields, field) {
			if (strcmp(field->key, key) == 0)
				return field;
		}
	}
	return NULL;
}

const struct event_field *event_get_own_fields(const struct event *event,
					       unsigned int *count_r)
{
	*count_r = array_count(&event->fields);
	return event->fields.v;
}

const struct timeval *event_get_start_time(const struct event *event)
{
	return &event->start_time;
}

uint64_t event_get_duration_usecs(const struct event *event)
{
	uint64_t now = event_monotonic_usecs();
	return now > event->start_usecs ? now - event->start_usecs : 0;
}

/* --- emission --- */

/* All fields, ancestors' first, a child's value replacing its ancestor's
   in place. On the data stack. Field counts are small, so the linear
   search is cheaper than a hash. */
static const struct event_field *
event_flatten_fields(const struct event *event, unsigned int *count_r)
{
	ARRAY(const struct event *) chain;
	ARRAY(struct event_field) all;
	const struct event_field *field;

	array_init(&chain, pool_datastack, 8);
	array_init(&all, pool_datastack, 16);
	for (; event != NULL; event = event->parent)
		array_push(&chain, event);
	for (unsigned int i = array_count(&chain); i > 0; i--) {
		const struct event *e = chain.v[i - 1];
		array_foreach(&e->fields, field) {
			unsigned int j;
			for (j = 0; j < array_count(&all); j++) {
				if (strcmp(all.v[j].key, field->key) == 0)
					break;
			}
			if (j < array_count(&all))
				all.v[j] = *field;
			else
				array_push(&all, *field);
		}
	}
	*count_r = array_count(&all);
	return all.v;
}

static void event_handlers_cleanup(void)
{
	struct event_handler *h, *next;

	for (h = event_handlers; h != NULL; h = next) {
		next = h->next;
		if (h->callback != NULL)
			continue;
		if (h->prev != NULL)
			h->prev->next = h->next;
		else
			event_handlers = h->next;
		if (h->next != NULL)
			h->next->prev = h->prev;
		free(h);
	}
	event_handlers_deleted = false;
}

static void event_dispatch(struct event *event, const char *name,
			   bool is_log, enum log_type log_type,
			   const char *message)
{
	/* a handler that emits (or logs through e_*) would otherwise feed
	   itself */
	if (event_dispatch_depth > 0)
		return;

	struct event_emission em = {
		.event = event,
		.name = name,
		.category = event_get_category(event),
		.start_time = event->start_time,
		.duration_usecs = event_get_duration_usecs(event),
		.is_log = is_log,
		.log_type = log_type,
		.message = message,
	};
	gettimeofday(&em.emit_time, NULL);

	event_dispatch_depth++;
	T_BEGIN {
		em.fields = event_flatten_fields(event, &em.fields_count);
		for (struct event_handler *h = event_handlers; h != NULL;
		     h = h->next) {
			if (h->callback != NULL)
				h->callback(&em, h->context);
		}
	} T_END;
	event_dispatch_depth--;
	if (event_handlers_deleted)
		event_handlers_cleanup();
}

static void e_logv(struct event *event, enum log_type type, const char *fmt,
		   va_list args) ATTR_FORMAT(3, 0);
static void e_logv(struct event *event, enum log_type type, const char *fmt,
		   va_list args)
{
	bool want_log = type != LOG_TYPE_DEBUG || log_debug_enabled();
	if (!want_log && event_handlers == NULL)
		return;

	int saved_errno = errno;
	T_BEGIN {
		/* formatted first, while errno is still the caller's (%m) */
		const char *message = p_strdup_vprintf(pool_datastack, fmt,
							args);
		if (want_log) {
			i_log_prefixed(type, event_get_log_prefix(event),
				       "%s", message);
		}
		if (event_handlers != NULL)
			event_dispatch(event, event->name, true, type, message);
	} T_END;
	errno = saved_errno;
}

#define E_LOG_FUNC(func, type) \
void func(struct event *event, const char *fmt, ...) \
{ \
	va_list args; \
	va_start(args, fmt); \
	e_logv(event, type, fmt, args); \
	va_end(args); \
}
E_LOG_FUNC(e_debug, LOG_TYPE_DEBUG)
E_LOG_FUNC(e_info, LOG_TYPE_INFO)
E_LOG_FUNC(e_warning, LOG_TYPE_WARNING)
E_LOG_FUNC(e_error, LOG_TYPE_ERROR)

void event_emit(struct event *event, const char *name)
{
	if (name == NULL)
		name = event->name;
	i_assert(name != NULL);
	if (event_handlers == NULL)
		return;
	event_dispatch(event, name, false, LOG_TYPE_INFO, NULL);
}

void e_finished(struct event *event)
{
	event_emit(event, NULL);
}

struct event_handler *event_register_handler(event_handler_t *callback,
					     void *context)
{
	struct event_handler *h = i_new(struct event_handler, 1), *last;

	h->callback = callback;
	h->context = context;
	if (event_handlers == NULL) {
		event_handlers = h;
	} else {
		for (last = event_handlers; last->next != NULL; last = last->next) ;
		last->next = h;
		h->prev = last;
	}
	return h;
}

void event_unregister_handler(struct event_handler **_handler)
{
	struct event_handler *h = *_handler;
	*_handler = NULL;
	if (h == NULL)
		return;
	/* during a dispatch the loop may be standing on h: unlink later */
	h->callback = NULL;
	if (event_dispatch_depth > 0)
		event_handlers_deleted = true;
	else
		event_handlers_cleanup();
}

bool event_have_handlers(void)
{
	return event_handlers != NULL;
}

/* --- JSON --- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 with *skip_r set to
   the length of the maximal invalid subpart to replace (Unicode's
   recommended practice: one U+FFFD per maximal subpart). */
static size_t utf8_seq_len(const unsigned char *p, size_t left,
			   size_t *skip_r)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c == 0xe0) {
		need = 2; lo = 0xa0;	/* no overlong 3-byte forms */
	} else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
		need = 2;
	else if (c == 0xed) {
		need = 2; hi = 0x9f;	/* no UTF-16 surrogates */
	} else if (c == 0xf0) {
		need = 3; lo = 0x90;	/* no overlong 4-byte forms */
	} else if (c >= 0xf1 && c <= 0xf3)
		need = 3;
	else if (c == 0xf4) {
		need = 3; hi = 0x8f;	/* nothing above U+10FFFF */
	} else {
		/* continuation byte, C0/C1 overlong lead, F5..FF */
		*skip_r = 1;
		return 0;
	}
	for (size_t i = 1; i <= need; i++) {
		if (i >= left || p[i] < lo || p[i] > hi) {
			*skip_r = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

void event_json_append_string(string_t *dest, const void *data, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = data;
	size_t i = 0, skip;

	str_append_c(dest, '"');
	while (i < size) {
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t len = utf8_seq_len(p + i, size - i, &skip);
			if (len == 0) {
				str_append(dest, "\\ufffd");
				i += skip;
			} else {
				str_append_data(dest, p + i, len);
				i += len;
			}
			continue;
		}
		switch (c) {
		case '"': str_append(dest, "\\\""); break;
		case '\\': str_append(dest, "\\\\"); break;
		case '\b': str_append(dest, "\\b"); break;
		case '\f': str_append(dest, "\\f"); break;
		case '\n': str_append(dest, "\\n"); break;
		case '\r': str_append(dest, "\\r"); break;
		case '\t': str_append(dest, "\\t"); break;
		default:
			if (c < 0x20 || c == 0x7f) {
				str_append(dest, "\\u00");
				str_append_c(dest, hex[c >> 4]);
				str_append_c(dest, hex[c & 0xf]);
			} else {
				str_append_c(dest, (char)c);
			}
		}
		i++;
	}
	str_append_c(dest, '"');
}

static void json_append_cstr(string_t *dest, const char *str)
{
	event_json_append_string(dest, str, strlen(str));
}

static void json_append_time(string_t *dest, const struct timeval *tv)
{
	struct tm tm;
	char buf[32];
	time_t secs = tv->tv_sec;

	if (gmtime_r(&secs, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	str_printfa(dest, "\"%s.%06ldZ\"", buf, (long)tv->tv_usec);
}

static const char *const json_log_type_names[] = {
	"debug", "info", "warning", "error", "fatal", "panic",
};

void event_emission_append_json(string_t *dest,
				const struct event_emission *em)
{
	str_append(dest, "{\"time\":");
	json_append_time(dest, &em->emit_time);
	if (em->name != NULL) {
		str_append(dest, ",\"event\":");
		json_append_cstr(dest, em->name);
	}
	if (em->category != NULL) {
		str_append(dest, ",\"category\":");
		json_append_cstr(dest, em->category);
	}
	str_printfa(dest, ",\"duration_usecs\":%llu",
		    (unsigned long long)em->duration_usecs);
	if (em->is_log) {
		i_assert((unsigned int)em->log_type <
			 N_ELEMENTS(json_log_type_names));
		str_printfa(dest, ",\"log_type\":\"%s\"",
			    json_log_type_names[em->log_type]);
		str_append(dest, ",\"message\":");
		json_append_cstr(dest, em->message);
	}
	str_append(dest, ",\"fields\":{");
	for (unsigned int i = 0; i < em->fields_count; i++) {
		const struct event_field *field = &em->fields[i];
		if (i > 0)
			str_append_c(dest, ',');
		json_append_cstr(dest, field->key);
		str_append_c(dest, ':');
		switch (field->type) {
		case EVENT_FIELD_TYPE_STR:
			json_append_cstr(dest, field->value.str);
			break;
		case EVENT_FIELD_TYPE_INT:
			str_printfa(dest, "%lld",
				    (long long)field->value.intmax);
			break;
		case EVENT_FIELD_TYPE_TIMEVAL:
			json_append_time(dest, &field->value.timeval);
			break;
		}
	}
	str_append(dest, "}}");
}

struct event_exporter_json {
	int fd;
	bool close_fd;
	/* log a write failure once, not once per event */
	bool failing;
	struct event_handler *handler;
};

static void event_exporter_json_handler(const struct event_emission *em,
					void *context)
{
	struct event_exporter_json *exp = context;
	string_t *line = t_str_new(256);

	event_emission_append_json(line, em);
	str_append_c(line, '\n');

	/* One write() per line, so lines from several processes appending to
	   one file do not interleave; loop only for a short write. */
	const unsigned char *p = line->data;
	size_t left = line->used;
	while (left > 0) {
		ssize_t ret = write(exp->fd, p, left);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0) {
			/* not e_error(): dispatch is not reentrant anyway,
			   but this is about the exporter, not the event */
			if (!exp->failing)
				i_error("event exporter: write() failed: %m");
			exp->failing = true;
			return;
		}
		p += ret;
		left -= (size_t)ret;
	}
	exp->failing = false;
}

struct event_exporter_json *event_exporter_json_create(int fd, bool close_fd)
{
	struct event_exporter_json *exp = i_new(struct event_exporter_json, 1);
	exp->fd = fd;
	exp->close_fd = close_fd;
	exp->handler = event_register_handler(event_exporter_json_handler, exp);
	return exp;
}

int event_exporter_json_open(const char *path,
			     struct event_exporter_json **exporter_r,
			     const char **error_r)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	*exporter_r = event_exporter_json_create(fd, true);
	return 0;
}

void event_exporter_json_destroy(struct event_exporter_json **_exp)
{
	struct event_exporter_json *exp = *_exp;
	*_exp = NULL;
	if (exp == NULL)
		return;
	event_unregister_handler(&exp->handler);
	if (exp->close_fd && close(exp->fd) < 0)
		i_error("event exporter: close() failed: %m");
	free(exp);
}
