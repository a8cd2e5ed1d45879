/* The wire format shared by Dovecot's auth protocols (client and userdb):
   lines of TAB-separated fields, where a field's own TAB, LF, CR and
   \001 are escaped as \001 followed by 't', 'n', 'r' or '1'. */
#ifndef COLUMBA_AUTH_PROTOCOL_H
#define COLUMBA_AUTH_PROTOCOL_H

#include "lib.h"

/* Longest line either protocol accepts (Dovecot's limit): a SASL
   message of SASL_MAX_MESSAGE_SIZE bytes fits in it as base64. */
#define AUTH_PROTOCOL_MAX_LINE_LENGTH 16384

/* Append value to dest with the escapes above. */
void auth_protocol_escape(string_t *dest, const char *value);
/* Split a line into its fields and unescape each. Returns a
   NULL-terminated array on the data stack, or NULL if an escape is
   malformed (\001 followed by anything else, or at the end) or the line
   holds a NUL byte (len counts the bytes of line). */
const char *const *auth_protocol_split(const char *line, size_t len);

#endif
