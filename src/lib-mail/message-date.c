/* Date parsing for SENTBEFORE/SENTON searches and sorting. The input is
   first cut into tokens (numbers, words, times, numeric zones), skipping
   comments, folding and commas; the tokens are then matched against the
   orders mailers use. Anything unreadable is a failure, never a guess
   that could be far off. */
#include "message-date.h"
#include "rfc822-parser.h"

#include <ctype.h>

#define DATE_MAX_TOKENS 12

enum date_token_type {
	DATE_TOKEN_NUM,
	DATE_TOKEN_WORD,
	DATE_TOKEN_TIME,
	DATE_TOKEN_ZONE,	/* +hhmm / -hhmm */
};

struct date_token {
	enum date_token_type type;
	/* NUM: value and digit count; TIME: h, m, s; ZONE: minutes */
	int value, len;
	int h, m, s;
	char word[12];
};

struct zone_name {
	const char *name;
	int minutes;
};

static const struct zone_name zone_names[] = {
	{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 }, { "WET", 0 },
	{ "EST", -5*60 }, { "EDT", -4*60 }, { "CST", -6*60 }, { "CDT", -5*60 },
	{ "MST", -7*60 }, { "MDT", -6*60 }, { "PST", -8*60 }, { "PDT", -7*60 },
	{ "AKST", -9*60 }, { "AKDT", -8*60 }, { "HST", -10*60 },
	{ "AST", -4*60 }, { "ADT", -3*60 }, { "NST", -3*60-30 },
	{ "NDT", -2*60-30 }, { "BST", 60 }, { "IST", 5*60+30 },
	{ "WEST", 60 }, { "CET", 60 }, { "MET", 60 }, { "MEZ", 60 },
	{ "CEST", 2*60 }, { "MEST", 2*60 }, { "MESZ", 2*60 },
	{ "EET", 2*60 }, { "EEST", 3*60 }, { "MSK", 3*60 },
	{ "HKT", 8*60 }, { "SGT", 8*60 }, { "JST", 9*60 }, { "KST", 9*60 },
	{ "AWST", 8*60 }, { "ACST", 9*60+30 }, { "AEST", 10*60 },
	{ "AEDT", 11*60 }, { "NZST", 12*60 }, { "NZDT", 13*60 },
};

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec"
};
static const char *const day_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat"
};

static int word_month(const struct date_token *tok)
{
	if (tok->type != DATE_TOKEN_WORD || strlen(tok->word) < 3)
		return -1;
	for (int i = 0; i < 12; i++) {
		if (strncasecmp(tok->word, month_names[i], 3) == 0)
			return i;
	}
	return -1;
}

static bool word_is_day(const struct date_token *tok)
{
	if (tok->type != DATE_TOKEN_WORD || strlen(tok->word) < 3)
		return false;
	for (int i = 0; i < 7; i++) {
		if (strncasecmp(tok->word, day_names[i], 3) == 0)
			return true;
	}
	return false;
}

static bool zone_lookup(const char *word, int *minutes_r)
{
	for (unsigned int i = 0; i < N_ELEMENTS(zone_names); i++) {
		if (strcasecmp(zone_names[i].name, word) == 0) {
			*minutes_r = zone_names[i].minutes;
			return true;
		}
	}
	if (strlen(word) == 1 && isalpha((unsigned char)word[0])) {
		/* military zones: RFC 822 defined them with the wrong sign,
		   so RFC 5322 section 4.3 says to take them as -0000 */
		*minutes_r = 0;
		return true;
	}
	return false;
}

/* Numeric zone: sign and 1-4 digits ("+0100", "+100", "+01"), or with a
   colon ("+01:00"). */
static bool zone_from_digits(int sign, const char *digits, size_t len,
			     int *minutes_r)
{
	int v = 0, h, m;

	for (size_t i = 0; i < len; i++)
		v = v * 10 + (digits[i] - '0');
	if (len <= 2) {
		h = v;
		m = 0;
	} else {
		h = v / 100;
		m = v % 100;
	}
	if (len > 4 || m >= 60 || h > 99)
		return false;
	*minutes_r = sign * (h * 60 + m);
	return true;
}

static size_t scan_digits(const unsigned char *p, const unsigned char *end)
{
	size_t n = 0;

	while (p + n < end && isdigit(p[n]))
		n++;
	return n;
}

static int parse_2digits(const unsigned char *p, size_t len)
{
	if (len == 0 || len > 2)
		return -1;
	return len == 1 ? p[0] - '0' : (p[0] - '0') * 10 + (p[1] - '0');
}

/* At a number: a time "h:mm[:ss]" (CFWS allowed around the colons,
   "." accepted for ":") or a plain number. */
static bool date_read_number(struct rfc822_parser *p, struct date_token *tok)
{
	size_t n = scan_digits(p->data, p->end);
	const unsigned char *num = p->data;
	struct rfc822_parser save;

	p->data += n;
	tok->type = DATE_TOKEN_NUM;
	tok->len = n;
	tok->value = 0;
	for (size_t i = 0; i < n && i < 9; i++)
		tok->value = tok->value * 10 + (num[i] - '0');

	save = *p;
	(void)rfc822_skip_lwsp(p);
	if (p->data >= p->end || (*p->data != ':' && *p->data != '.') ||
	    n > 2) {
		*p = save;
		return true;
	}
	/* a time */
	tok->type = DATE_TOKEN_TIME;
	tok->h = tok->value;
	tok->s = 0;
	for (int field = 0; field < 2; field++) {
		if (p->data >= p->end || (*p->data != ':' && *p->data != '.')) {
			if (field == 0)
				return false;
			break;
		}
		p->data++;
		(void)rfc822_skip_lwsp(p);
		n = scan_digits(p->data, p->end);
		int v = parse_2digits(p->data, n);
		if (v < 0)
			return false;
		p->data += n;
		if (field == 0)
			tok->m = v;
		else
			tok->s = v;
		save = *p;
		(void)rfc822_skip_lwsp(p);
		if (field == 0 && (p->data >= p->end ||
				   (*p->data != ':' && *p->data != '.'))) {
			*p = save;
			break;
		}
	}
	/* fractional seconds (ISO) */
	if (p->data < p->end && *p->data == '.') {
		p->data++;
		p->data += scan_digits(p->data, p->end);
	}
	return true;
}

static int date_tokenize(const unsigned char *data, size_t size,
			 struct date_token *toks)
{
	struct rfc822_parser p;
	int count = 0;

	rfc822_parser_init(&p, data, size, NULL);
	for (;;) {
		/* separators: whitespace, comments, commas */
		if (rfc822_skip_lwsp(&p) < 0)
			break;
		if (p.data >= p.end)
			break;
		if (*p.data == ',') {
			p.data++;
			continue;
		}
		if (count == DATE_MAX_TOKENS)
			return -1;
		struct date_token *tok = &toks[count];
		memset(tok, 0, sizeof(*tok));
		unsigned char c = *p.data;

		if (isdigit(c)) {
			if (!date_read_number(&p, tok))
				return -1;
		} else if ((c == '+' || c == '-') && p.data + 1 < p.end &&
			   isdigit(p.data[1]) &&
			   /* "-" right after digits separates ISO date
			      fields: 2002-01-01 */
			   !(c == '-' && p.data > (const unsigned char *)data &&
			     isdigit(p.data[-1]))) {
			const unsigned char *d = p.data + 1;
			size_t n = scan_digits(d, p.end);
			char digits[8];

			if (n > 4)
				return -1;
			memcpy(digits, d, n);
			p.data = d + n;
			if (n == 2 && p.data + 2 < p.end && *p.data == ':' &&
			    scan_digits(p.data + 1, p.end) == 2) {
				/* "+01:00" */
				memcpy(digits + 2, p.data + 1, 2);
				n = 4;
				p.data += 3;
			}
			tok->type = DATE_TOKEN_ZONE;
			if (!zone_from_digits(c == '-' ? -1 : 1, digits, n,
					      &tok->value))
				tok->value = 0;
		} else if (isalpha(c)) {
			size_t n = 0;

			while (p.data < p.end && isalpha(*p.data)) {
				if (n < sizeof(tok->word) - 1)
					tok->word[n++] = *p.data;
				p.data++;
			}
			tok->type = DATE_TOKEN_WORD;
			/* ISO "T" separator glued to the time: 2002-01-01T12 */
			if (n == 1 && toupper(tok->word[0]) == 'T' &&
			    p.data < p.end && isdigit(*p.data))
				continue;
		} else {
			/* "-" between ISO date numbers, "." and other junk */
			p.data++;
			continue;
		}
		count++;
	}
	return count;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned int yoe = (unsigned int)(y - era * 400);
	unsigned int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int fix_year(const struct date_token *tok)
{
	if (tok->len == 2)
		return tok->value < 50 ? 2000 + tok->value : 1900 + tok->value;
	if (tok->len == 3)
		return 1900 + tok->value;
	if (tok->len == 4)
		return tok->value;
	return -1;
}

bool message_date_parse(const void *data, size_t size, time_t *time_r,
			int *tz_offset_r)
{
	struct date_token toks[DATE_MAX_TOKENS];
	int count = date_tokenize(data, size, toks);
	int i = 0, day = -1, month = -1, year = -1, zone = 0;
	const struct date_token *time = NULL;

	if (count <= 0)
		return false;
	if (word_is_day(&toks[0]))
		i++;
	if (i + 2 >= count)
		return false;

	if (toks[i].type == DATE_TOKEN_NUM && toks[i].len == 4 &&
	    toks[i+1].type == DATE_TOKEN_NUM &&
	    toks[i+2].type == DATE_TOKEN_NUM) {
		/* ISO: yyyy-mm-dd */
		year = toks[i].value;
		month = toks[i+1].value - 1;
		day = toks[i+2].value;
		i += 3;
		if (i < count && toks[i].type == DATE_TOKEN_TIME)
			time = &toks[i++];
	} else if (toks[i].type == DATE_TOKEN_NUM) {
		/* RFC 5322: d month y time */
		day = toks[i].value;
		if (toks[i].len > 2 || (month = word_month(&toks[i+1])) < 0 ||
		    toks[i+2].type != DATE_TOKEN_NUM)
			return false;
		year = fix_year(&toks[i+2]);
		i += 3;
		if (i < count && toks[i].type == DATE_TOKEN_TIME)
			time = &toks[i++];
	} else if ((month = word_month(&toks[i])) >= 0 &&
		   toks[i+1].type == DATE_TOKEN_NUM) {
		/* ctime() and friends: month d, then time, year and zone
		   in some order ("Jan  1 12:00:00 GMT 2002") */
		day = toks[i+1].value;
		if (toks[i+1].len > 2)
			return false;
		for (i += 2; i < count; i++) {
			if (toks[i].type == DATE_TOKEN_TIME && time == NULL)
				time = &toks[i];
			else if (toks[i].type == DATE_TOKEN_NUM && year < 0)
				year = fix_year(&toks[i]);
			else if (toks[i].type == DATE_TOKEN_ZONE)
				zone = toks[i].value;
			else if (toks[i].type == DATE_TOKEN_WORD)
				(void)zone_lookup(toks[i].word, &zone);
			else
				return false;
		}
	} else {
		return false;
	}

	/* zone: numeric, a name, or a name then numeric ("GMT+0100") */
	for (; i < count; i++) {
		if (toks[i].type == DATE_TOKEN_ZONE) {
			zone = toks[i].value;
			break;
		}
		if (toks[i].type == DATE_TOKEN_WORD &&
		    zone_lookup(toks[i].word, &zone)) {
			if (i + 1 < count && toks[i+1].type == DATE_TOKEN_ZONE)
				zone = toks[i+1].value;
			break;
		}
		/* ctime() puts the year after the zone name; ignore
		   other words */
	}

	if (year < 1000 || year > 9999 || month < 0 || month > 11 ||
	    day < 1 || day > 31)
		return false;
	int h = 0, m = 0, s = 0;
	if (time != NULL) {
		h = time->h;
		m = time->m;
		s = time->s;
		if (h > 23 || m > 59 || s > 60)
			return false;
		if (s == 60)
			s = 59;
	}
	int64_t t = days_from_civil(year, month + 1, day) * 86400 +
		h * 3600 + m * 60 + s - (int64_t)zone * 60;
	if ((int64_t)(time_t)t != t)
		return false;
	*time_r = (time_t)t;
	*tz_offset_r = zone;
	return true;
}
