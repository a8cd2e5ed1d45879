/* Keeping and formatting storage errors: the client sees a safe text,
   the log gets the cause once, when the error happens. */
#include "lib.h"
#include "event.h"
#include "mail-error.h"
#include <time.h>

static const char *const mail_error_codes[] = {
	[MAIL_ERROR_NONE] = NULL,
	[MAIL_ERROR_TEMP] = "SERVERBUG",
	[MAIL_ERROR_NOTFOUND] = "NONEXISTENT",
	[MAIL_ERROR_EXISTS] = "ALREADYEXISTS",
	[MAIL_ERROR_PARAMS] = "CANNOT",
	[MAIL_ERROR_NOTPOSSIBLE] = "CANNOT",
	[MAIL_ERROR_HASCHILDREN] = "HASCHILDREN",
	[MAIL_ERROR_PERM] = "NOPERM",
	[MAIL_ERROR_NOQUOTA] = "OVERQUOTA",
	[MAIL_ERROR_INUSE] = "INUSE",
	[MAIL_ERROR_EXPUNGED] = "EXPUNGEISSUED",
	[MAIL_ERROR_UNAVAILABLE] = "UNAVAILABLE",
	[MAIL_ERROR_LIMIT] = "LIMIT",
};

const char *mail_error_imap_code(enum mail_error error)
{
	i_assert((unsigned int)error < N_ELEMENTS(mail_error_codes));
	return mail_error_codes[error];
}

void mail_error_clear(struct mail_error_state *state)
{
	i_free(state->user_text);
	i_free(state->internal_text);
	state->error = MAIL_ERROR_NONE;
}

void mail_error_set(struct mail_error_state *state, enum mail_error error,
		    const char *user_text)
{
	i_assert(error != MAIL_ERROR_NONE);
	char *text = i_strdup(user_text);
	mail_error_clear(state);
	state->error = error;
	state->user_text = text;
}

void mail_error_set_internal(struct mail_error_state *state,
			     enum mail_error error, struct event *event,
			     const char *internal_text)
{
	char stamp[64];
	time_t now = time(NULL);
	struct tm tm;

	i_assert(error != MAIL_ERROR_NONE);
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(stamp, sizeof(stamp), "%lld", (long long)now);
	char *user = i_strdup_printf("%s [%s]", MAIL_ERRSTR_INTERNAL, stamp);
	char *internal = i_strdup(internal_text);
	mail_error_clear(state);
	state->error = error;
	state->user_text = user;
	state->internal_text = internal;
	if (event != NULL)
		e_error(event, "%s", internal);
	else
		i_error("%s", internal);
}

void mail_error_copy(struct mail_error_state *dest,
		     const struct mail_error_state *src)
{
	if (dest == src)
		return;
	char *user = i_strdup(src->user_text);
	char *internal = i_strdup(src->internal_text);
	mail_error_clear(dest);
	dest->error = src->error;
	dest->user_text = user;
	dest->internal_text = internal;
}

enum mail_error mail_error_get(const struct mail_error_state *state,
			       const char **user_text_r,
			       const char **internal_text_r)
{
	if (state->error == MAIL_ERROR_NONE) {
		if (user_text_r != NULL)
			*user_text_r = MAIL_ERRSTR_INTERNAL;
		if (internal_text_r != NULL)
			*internal_text_r = "BUG: no error was set";
		return MAIL_ERROR_TEMP;
	}
	if (user_text_r != NULL)
		*user_text_r = state->user_text;
	if (internal_text_r != NULL) {
		*internal_text_r = state->internal_text != NULL ?
			state->internal_text : state->user_text;
	}
	return state->error;
}
