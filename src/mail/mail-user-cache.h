/* Recently closed users kept open in the mail process for a few seconds,
   so that the same user logging in again (IMAP, POP3, or an LMTP
   delivery through mail_user_setup()) skips opening the index: a new
   SQLite connection parses the whole schema and prepares its statements,
   about half of the mail process's CPU for an existing user's login.

   A user opened by mail_user_setup() while the cache is on is "lent" to
   its session; when the session's mail_user_deinit() finds it idle, the
   cache keeps it (mail_user_detach(): errors cleared, event detached,
   page cache and statements given back, the connection and its parsed
   schema kept) for MAIL_USER_CACHE_SECS, at most mail_user_cache_max()
   users, least recently closed evicted first. A kept user is reused
   only for exactly the same settings, user name and userdb fields
   (everything mail_user_setup() read), and only while its index and home
   are the same files (same device and inode) as when it was opened; each
   kept user is handed to one session at a time. */
#ifndef COLUMBA_MAIL_USER_CACHE_H
#define COLUMBA_MAIL_USER_CACHE_H

#include "lib.h"

struct columba_settings;
struct event;
struct mail_user;
struct mail_user_paths;

/* Kept this long after its session ended. */
#define MAIL_USER_CACHE_SECS 5
/* At most this many kept users; fewer when the fd limit is low. */
#define MAIL_USER_CACHE_MAX 128
/* What one kept user holds: measured 7 (index.db, -wal, -shm, -sync,
   -notify, -wake and the blob store's directory) */
#define MAIL_USER_CACHE_FDS_PER_USER 8
/* fds never given to kept users: sessions, their relays, blob reads */
#define MAIL_USER_CACHE_FDS_RESERVED 256

/* How many open users the process's fd limit has room for: each holds
   MAIL_USER_CACHE_FDS_PER_USER descriptors, and
   MAIL_USER_CACHE_FDS_RESERVED stay for everything else (half the limit
   when it is lower than twice that). The users kept here take at most
   half of it (and no more than MAIL_USER_CACHE_MAX); LMTP's cache of the
   users it delivers to (lmtp-delivery.c) takes what they leave, so that
   both together fit in the limit. */
unsigned int mail_user_cache_fd_room(void);

/* Start keeping users in this process (sets the mail_user release hook).
   Needs an ioloop for the expiry timer. */
void mail_user_cache_init(void);
/* Close every kept user and stop keeping them: users still in sessions
   are closed by their sessions as before. For stop, reload and exit.
   Does nothing if not started. */
void mail_user_cache_deinit(void);
bool mail_user_cache_is_enabled(void);

/* How many users are kept now, how many opened users are tracked in
   sessions, and the most that may be kept. */
unsigned int mail_user_cache_count(void);
unsigned int mail_user_cache_lent_count(void);
unsigned int mail_user_cache_max(void);

/* A kept user for exactly these settings, name and userdb fields, whose
   index and home are still the files it was opened on, attached to
   event_parent and lent to the caller; NULL if there is none (a kept
   user that no longer matches its files is closed). Never blocks beyond
   two stat()s. */
struct mail_user *
mail_user_cache_take(const struct columba_settings *set, const char *username,
		     const char *const *userdb_fields,
		     const struct mail_user_paths *paths,
		     struct event *event_parent);
/* user was just opened by mail_user_setup() from these: keep it when
   its session closes it. Does nothing when the cache is off. */
void mail_user_cache_lend(struct mail_user *user,
			  const struct columba_settings *set,
			  const char *username,
			  const char *const *userdb_fields,
			  const struct mail_user_paths *paths);

#endif
