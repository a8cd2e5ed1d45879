/* IMAP flag lists: "(\Seen \Answered $Label1)". The system flag bits are
   the storage's (lib-index enum mail_flags); they are repeated here
   because grammar must not include storage headers, and src/imap checks
   at compile time that the two agree. */
#ifndef COLUMBA_IMAP_FLAGS_H
#define COLUMBA_IMAP_FLAGS_H

#include "imap-arg.h"

enum imap_flag {
	IMAP_FLAG_ANSWERED = 0x01,
	IMAP_FLAG_FLAGGED = 0x02,
	IMAP_FLAG_DELETED = 0x04,
	IMAP_FLAG_SEEN = 0x08,
	IMAP_FLAG_DRAFT = 0x10,
	IMAP_FLAG_MASK = 0x1f,
};

/* "\Seen" etc. case-insensitively; 0 if not a settable system flag
   (\Recent is not: RFC 9051 §2.3.2). */
enum imap_flag imap_flag_parse(const char *name);
/* A keyword (flag-keyword = atom without "\"). */
bool imap_keyword_is_valid(const char *name);

/* Parse a flag list (args of a LIST, or one flag atom when single flags
   are allowed: STORE's "+FLAGS \Seen"). System flags go to *flags_r,
   keywords (deduplicated, in order) to keywords_r as a NULL-terminated
   array from pool (NULL if none). Returns 0, or -1 with *error_r: an
   unknown "\Name", "\Recent", a non-atom. */
int imap_flags_parse(const struct imap_arg *args, pool_t pool,
		     enum imap_flag *flags_r, const char *const **keywords_r,
		     const char **error_r) ATTR_WARN_UNUSED;
/* "\Answered \Seen kw1 kw2" (no parentheses). keywords may be NULL. */
void imap_flags_write(string_t *dest, enum imap_flag flags,
		      const char *const *keywords);

#endif
