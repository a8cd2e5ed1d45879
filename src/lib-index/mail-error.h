/* Storage errors: a code the protocol maps to a response code, a text the
   client may see, and an internal text for the log. An internal error
   shows the client only "Internal error occurred. Refer to server log for
   more information. [2026-01-02 03:04:05]"; the same time stamp starts the
   log line that holds the cause, so an admin can find it. */
#ifndef COLUMBA_MAIL_ERROR_H
#define COLUMBA_MAIL_ERROR_H

#include "lib.h"

struct event;

enum mail_error {
	MAIL_ERROR_NONE = 0,
	/* internal error, cause in the log: [SERVERBUG] */
	MAIL_ERROR_TEMP,
	/* the mailbox or message does not exist: [NONEXISTENT] */
	MAIL_ERROR_NOTFOUND,
	/* [ALREADYEXISTS] */
	MAIL_ERROR_EXISTS,
	/* a bad name or argument from the client: [CANNOT] */
	MAIL_ERROR_PARAMS,
	/* the operation is valid but not possible here (deleting INBOX):
	   [CANNOT] */
	MAIL_ERROR_NOTPOSSIBLE,
	/* deleting a \Noselect name with children: [HASCHILDREN] */
	MAIL_ERROR_HASCHILDREN,
	/* [NOPERM] */
	MAIL_ERROR_PERM,
	/* disk full or quota: [OVERQUOTA] */
	MAIL_ERROR_NOQUOTA,
	/* another process held a lock too long: [INUSE] */
	MAIL_ERROR_INUSE,
	/* the message was expunged meanwhile: [EXPUNGEISSUED] */
	MAIL_ERROR_EXPUNGED,
	/* a transient failure, retrying may work: [UNAVAILABLE] */
	MAIL_ERROR_UNAVAILABLE,
	/* a size or count limit: [LIMIT] */
	MAIL_ERROR_LIMIT,
};

/* The last error of an object (an index, a mailbox, a user). */
struct mail_error_state {
	enum mail_error error;
	char *user_text;
	char *internal_text;
};

#define MAIL_ERRSTR_INTERNAL \
	"Internal error occurred. Refer to server log for more information."

/* IMAP response code for error ("SERVERBUG", "NONEXISTENT"...), or NULL
   for NONE. */
const char *mail_error_imap_code(enum mail_error error);

/* Set an error the client may see as is. */
void mail_error_set(struct mail_error_state *state, enum mail_error error,
		    const char *user_text);
/* Set an internal error: the user text is MAIL_ERRSTR_INTERNAL with a time
   stamp, and internal_text is logged now as an error (through event if
   not NULL). error is usually MAIL_ERROR_TEMP; NOQUOTA, INUSE and
   UNAVAILABLE keep their own code with the same hidden cause. */
void mail_error_set_internal(struct mail_error_state *state,
			     enum mail_error error, struct event *event,
			     const char *internal_text);
/* Copy another object's last error (already logged: not logged again). */
void mail_error_copy(struct mail_error_state *dest,
		     const struct mail_error_state *src);
void mail_error_clear(struct mail_error_state *state);

/* The code; *user_text_r and *internal_text_r (each may be NULL) are
   valid until the next error is set. With no error set, TEMP and an
   internal text saying so (a bug of the caller). */
enum mail_error mail_error_get(const struct mail_error_state *state,
			       const char **user_text_r,
			       const char **internal_text_r);

#endif
