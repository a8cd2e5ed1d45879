/* The wire format shared by Dovecot's auth protocols (client and userdb):
   lines of TAB-separated fields, where a field's own TAB, LF, CR and
   \001 are escaped as \001 followed by 't', 'n', 'r' or '1'. */
#ifndef COLUMBA_AUTH_PROTOCOL_H
#define COLUMBA_AUTH_PROTOCOL_H

#include "lib.h"

/* Longest line either protocol accepts (Dovecot's limit): a SASL
   message of SASL_MAX_MESSAGE_SIZE bytes fits in it as base64. */
#define AUTH_PROTOCOL_MAX_LINE_LENGTH 16384

/* The escaping and splitting: str_append_tabescaped() and
   t_strsplit_tabescaped() in src/lib/strescape.h. */
#include "strescape.h"

#endif
