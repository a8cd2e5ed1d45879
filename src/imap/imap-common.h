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

/* APPENDLIMIT: the largest message APPEND takes (a streamed literal,
   never held whole in memory). */
#define IMAP_APPEND_MAX_SIZE (256ULL * 1024 * 1024)

#endif
