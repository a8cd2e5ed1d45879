/* IMAP date and date-time (RFC 9051 §9: date, date-time). */
#ifndef COLUMBA_IMAP_DATE_H
#define COLUMBA_IMAP_DATE_H

#include "lib.h"
#include <time.h>

/* "1-Feb-2024" or "01-Feb-2024" (SEARCH BEFORE/SINCE/ON): the day's
   00:00:00 UTC in *time_r. Returns false on bad syntax or an impossible
   date (31-Feb-2024). */
bool imap_parse_date(const char *str, time_t *time_r);
/* "01-Feb-2024 13:14:15 +0100" (APPEND): UTC time in *time_r and the
   zone's offset in minutes in *tz_min_r. The day may be " 1" or "01". */
bool imap_parse_datetime(const char *str, time_t *time_r, int *tz_min_r);
/* The date-time of time at offset tz_min minutes, without quotes
   ("01-Feb-2024 13:14:15 +0100"), on the data stack. */
const char *imap_to_datetime(time_t time, int tz_min);

#endif
