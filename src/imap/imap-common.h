/* What every src/imap file includes after lib.h. */
#ifndef COLUMBA_IMAP_COMMON_H
#define COLUMBA_IMAP_COMMON_H

#include "imap-arg.h"
#include "imap-parser.h"
#include "imap-string.h"
#include "imap-commands.h"
#include "imap-client.h"
#include "imap-sync.h"
#include "imap-capability.h"
#include "imap-settings.h"

/* APPENDLIMIT: the largest message APPEND takes (a streamed literal,
   never held whole in memory): the setting imap_max_append_size, 0 = no
   limit (imap-settings.h). */
#define IMAP_APPEND_MAX_SIZE imap_append_max_size()

#endif
