/* The TAB escaping of Dovecot's line protocols (auth client and auth
   master/userdb): lines of TAB-separated fields, where a field's own TAB,
   LF, CR and \001 are written as \001 followed by 't', 'n', 'r' or '1'. */
#ifndef COLUMBA_STRESCAPE_H
#define COLUMBA_STRESCAPE_H

#include "lib.h"

/* Append value to dest with the escapes above. */
void str_append_tabescaped(string_t *dest, const char *value);
/* Split a line into its fields and unescape each. Strict, because the
   peer is another process, possibly an MTA built elsewhere: returns NULL
   if an escape is malformed (\001 followed by anything but '1', 't', 'n',
   'r' or Dovecot 2.3's documented 'l', or at the end) or the line holds a
   NUL byte (len counts the bytes of line). Otherwise a NULL-terminated
   array on the data stack. */
const char *const *t_strsplit_tabescaped(const char *line, size_t len);

#endif
