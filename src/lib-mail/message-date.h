/* Date header values (RFC 5322 section 3.3, its obsolete forms and the
   broken ones mailers write) to a time and a zone offset. */
#ifndef COLUMBA_MESSAGE_DATE_H
#define COLUMBA_MESSAGE_DATE_H

#include "lib.h"
#include <time.h>

/* Parse a Date: value. On success returns true with *time_r the UTC time
   and *tz_offset_r the zone's offset in minutes east of UTC (0 when the
   zone is missing or unknown, as RFC 5322 section 4.3 says of "-0000" and
   unknown zones).
   Accepted: [day ","] d month yyyy hh:mm[:ss] zone, with comments and
   folding anywhere; two-digit years (00-49 are 20xx, 50-99 19xx) and
   three-digit years (+1900); zone names (UT, GMT, EST...EDT, military
   letters, common abbreviations); and broken forms: no comma or no day
   name, full day and month names, "." as time separator, single-digit
   hours, a missing zone, "GMT+0100", "+100", ctime()'s
   "Mon Jan  1 12:00:00 2002", ISO-8601 "2002-01-01 12:00:00" or
   "2002-01-01T12:00:00Z". */
bool message_date_parse(const void *data, size_t size, time_t *time_r,
			int *tz_offset_r);

#endif
