/* The post-login CAPABILITY list. It names only what is fully
   implemented: whoever finishes an extension adds its name to the table
   in imap-capability.c. ENABLE accepts only what is listed. */
#ifndef COLUMBA_IMAP_CAPABILITY_H
#define COLUMBA_IMAP_CAPABILITY_H

/* "IMAP4rev1 LITERAL+ ..." (static). */
const char *imap_capability_string(void);
/* True if name (case-insensitive) is advertised. */
bool imap_capability_has(const char *name);

#endif
