/* Sequence-set parsing with overflow checks. */
#include "lib.h"
#include "imap-seqset.h"

/* seq-number: nz-number / "*". Returns 1 with a number, 0 for "*", -1
   on error. */
static int seqset_number(const char **_p, uint32_t *num_r,
			 const char **error_r)
{
	const char *p = *_p;
	uint64_t n = 0;

	if (*p == '*') {
		*_p = p + 1;
		return 0;
	}
	if (*p < '1' || *p > '9') {
		*error_r = *p == '0' ? "Invalid sequence number 0" :
			"Invalid sequence set";
		return -1;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > UINT32_MAX) {
			*error_r = "Sequence number too large";
			return -1;
		}
	}
	*num_r = (uint32_t)n;
	*_p = p;
	return 1;
}

bool imap_seq_set_is_saved(const char *str)
{
	return str[0] == '$' && str[1] == '\0';
}

int imap_seq_set_parse(const char *str, uint32_t star,
		       ARRAY_TYPE(seq_range) *dest, const char **error_r)
{
	const char *p = str;

	if (*p == '\0') {
		*error_r = "Empty sequence set";
		return -1;
	}
	for (;;) {
		uint32_t n1 = 0, n2 = 0;
		int r1 = seqset_number(&p, &n1, error_r), r2;
		if (r1 < 0)
			return -1;
		if (*p == ':') {
			p++;
			r2 = seqset_number(&p, &n2, error_r);
			if (r2 < 0)
				return -1;
		} else {
			r2 = r1;
			n2 = n1;
		}
		if (r1 == 0)
			n1 = star;
		if (r2 == 0)
			n2 = star;
		if (n1 > n2) {
			uint32_t tmp = n1;
			n1 = n2;
			n2 = tmp;
		}
		/* a "*" of an empty mailbox is 0: it matches nothing */
		if (n1 == 0)
			n1 = 1;
		if (n2 != 0)
			seq_range_array_add_range(dest, n1, n2);
		if (*p == '\0')
			return 0;
		if (*p != ',') {
			*error_r = "Invalid sequence set";
			return -1;
		}
		p++;
	}
}
