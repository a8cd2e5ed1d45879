/* IMAP dates: fixed English month names, explicit numeric zones, no
   locale. Conversion uses timegm() on a checked struct tm. */
#include "lib.h"
#include "imap-date.h"

static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static bool is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int mon, int year)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return mon == 1 && is_leap(year) ? 29 : days[mon];
}

static bool parse_digits(const char **_p, unsigned int count, int *num_r)
{
	const char *p = *_p;
	int n = 0;

	for (unsigned int i = 0; i < count; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		n = n * 10 + (p[i] - '0');
	}
	*num_r = n;
	*_p = p + count;
	return true;
}

/* day-month-year; fixed_day: date-day-fixed (" 1" or "01") else 1*2DIGIT */
static bool parse_date_part(const char **_p, bool fixed_day, struct tm *tm)
{
	const char *p = *_p;
	int day, year, mon = -1;

	if (fixed_day && p[0] == ' ') {
		p++;
		if (!parse_digits(&p, 1, &day))
			return false;
	} else if (p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9') {
		if (!parse_digits(&p, 2, &day))
			return false;
	} else if (!fixed_day) {
		if (!parse_digits(&p, 1, &day))
			return false;
	} else {
		return false;
	}
	if (*p++ != '-')
		return false;
	for (int i = 0; i < 12; i++) {
		if (strncasecmp(p, month_names[i], 3) == 0) {
			mon = i;
			break;
		}
	}
	if (mon < 0)
		return false;
	p += 3;
	if (*p++ != '-' || !parse_digits(&p, 4, &year))
		return false;
	if (year < 1900 || day < 1 || day > days_in_month(mon, year))
		return false;
	memset(tm, 0, sizeof(*tm));
	tm->tm_mday = day;
	tm->tm_mon = mon;
	tm->tm_year = year - 1900;
	*_p = p;
	return true;
}

bool imap_parse_date(const char *str, time_t *time_r)
{
	struct tm tm;

	if (!parse_date_part(&str, false, &tm) || *str != '\0')
		return false;
	*time_r = timegm(&tm);
	return true;
}

bool imap_parse_datetime(const char *str, time_t *time_r, int *tz_min_r)
{
	struct tm tm;
	int hour, min, sec, zh, zm;
	const char *p = str;

	if (!parse_date_part(&p, true, &tm) || *p++ != ' ')
		return false;
	if (!parse_digits(&p, 2, &hour) || *p++ != ':' ||
	    !parse_digits(&p, 2, &min) || *p++ != ':' ||
	    !parse_digits(&p, 2, &sec) || *p++ != ' ')
		return false;
	if (hour > 23 || min > 59 || sec > 60)
		return false;
	if (*p != '+' && *p != '-')
		return false;
	bool neg = *p++ == '-';
	if (!parse_digits(&p, 2, &zh) || !parse_digits(&p, 2, &zm) ||
	    *p != '\0' || zm > 59)
		return false;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	int tz = (zh * 60 + zm) * (neg ? -1 : 1);
	*time_r = timegm(&tm) - (time_t)tz * 60;
	*tz_min_r = tz;
	return true;
}

const char *imap_to_datetime(time_t time, int tz_min)
{
	struct tm tm;
	time_t local = time + (time_t)tz_min * 60;
	int tz_abs = tz_min < 0 ? -tz_min : tz_min;

	if (gmtime_r(&local, &tm) == NULL) {
		local = 0;
		tz_abs = 0;
		tz_min = 0;
		(void)gmtime_r(&local, &tm);
	}
	return t_strdup_printf("%02d-%s-%04d %02d:%02d:%02d %c%02d%02d",
			       tm.tm_mday, month_names[tm.tm_mon],
			       tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
			       tm.tm_sec, tz_min < 0 ? '-' : '+',
			       tz_abs / 60, tz_abs % 60);
}
