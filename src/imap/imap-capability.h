/* The post-login CAPABILITY list. It names only what is fully
   implemented: whoever finishes an extension adds its name to the table
   in imap-capability.c. ENABLE accepts only what is listed. */
#ifndef COLUMBA_IMAP_CAPABILITY_H
#define COLUMBA_IMAP_CAPABILITY_H

/* "IMAP4rev1 LITERAL+ ..." (static). */
const char *imap_capability_string(void);
/* True if name (case-insensitive) is advertised. */
bool imap_capability_has(const char *name);
/* What this session advertises: imap_capability_string() and, where the
   session can return to a login process, UNAUTHENTICATE (data stack). */
struct client;
const char *client_capability_string(struct client *client);
/* UNAUTHENTICATE (RFC 8437) is advertised and accepted: the session came
   from a login process that can take it back, imap_unauthenticate = yes,
   and COMPRESS is not active (see cmd-unauthenticate.c). */
bool client_can_unauthenticate(struct client *client);

#endif
