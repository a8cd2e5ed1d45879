/* Range sets kept sorted and merged, so membership is a binary search and
   the common case - numbers arriving in ascending order, as UIDs do -
   touches only the last range. */
#include "lib.h"
#include "seq-range.h"

/* Index of the first range whose seq2 + 1 >= seq (it may touch seq). */
static unsigned int seq_range_lower_bound(const ARRAY_TYPE(seq_range) *arr,
					  uint32_t seq)
{
	unsigned int lo = 0, hi = arr->count;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		/* 64-bit so that seq2 = UINT32_MAX does not wrap */
		if ((uint64_t)arr->v[mid].seq2 + 1 < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void seq_range_array_add(ARRAY_TYPE(seq_range) *arr, uint32_t seq)
{
	seq_range_array_add_range(arr, seq, seq);
}

void seq_range_array_add_range(ARRAY_TYPE(seq_range) *arr,
			       uint32_t seq1, uint32_t seq2)
{
	i_assert(seq1 <= seq2);

	if (arr->count > 0) {
		struct seq_range *last = &arr->v[arr->count - 1];
		if (seq1 > last->seq2 && seq1 - last->seq2 > 1) {
			/* fast path: strictly after the last range */
		} else if (seq1 >= last->seq1) {
			if (seq2 > last->seq2)
				last->seq2 = seq2;
			return;
		} else {
			goto general;
		}
	}
	struct seq_range r = { seq1, seq2 };
	array_push(arr, r);
	return;

general: ;
	unsigned int i = seq_range_lower_bound(arr, seq1);
	unsigned int j = i;
	/* ranges i..j-1 overlap or touch [seq1, seq2] */
	while (j < arr->count && (uint64_t)arr->v[j].seq1 <= (uint64_t)seq2 + 1)
		j++;
	if (i == j) {
		struct seq_range r2 = { seq1, seq2 };
		array_reserve(arr, 1);
		memmove(&arr->v[i + 1], &arr->v[i],
			sizeof(arr->v[0]) * (arr->count - i));
		arr->v[i] = r2;
		arr->count++;
		return;
	}
	arr->v[i].seq1 = I_MIN(arr->v[i].seq1, seq1);
	arr->v[i].seq2 = I_MAX(arr->v[j - 1].seq2, seq2);
	if (j - i > 1)
		array_delete(arr, i + 1, j - i - 1);
}

void seq_range_array_merge(ARRAY_TYPE(seq_range) *dest,
			   const ARRAY_TYPE(seq_range) *src)
{
	const struct seq_range *r;

	array_foreach(src, r)
		seq_range_array_add_range(dest, r->seq1, r->seq2);
}

unsigned int seq_range_array_remove_range(ARRAY_TYPE(seq_range) *arr,
					  uint32_t seq1, uint32_t seq2)
{
	unsigned int removed = 0;
	unsigned int i = seq_range_lower_bound(arr, seq1);

	i_assert(seq1 <= seq2);
	while (i < arr->count && arr->v[i].seq1 <= seq2) {
		struct seq_range *r = &arr->v[i];
		if (r->seq2 < seq1) {
			i++;
			continue;
		}
		uint32_t lo = I_MAX(r->seq1, seq1), hi = I_MIN(r->seq2, seq2);
		removed += hi - lo + 1;
		if (r->seq1 < lo && r->seq2 > hi) {
			/* split in two */
			struct seq_range tail = { hi + 1, r->seq2 };
			r->seq2 = lo - 1;
			array_reserve(arr, 1);
			memmove(&arr->v[i + 2], &arr->v[i + 1],
				sizeof(arr->v[0]) * (arr->count - i - 1));
			arr->v[i + 1] = tail;
			arr->count++;
			break;
		} else if (r->seq1 < lo) {
			r->seq2 = lo - 1;
			i++;
		} else if (r->seq2 > hi) {
			r->seq1 = hi + 1;
			break;
		} else {
			array_delete(arr, i, 1);
		}
	}
	return removed;
}

bool seq_range_exists(const ARRAY_TYPE(seq_range) *arr, uint32_t seq)
{
	unsigned int i = seq_range_lower_bound(arr, seq);

	return i < arr->count && arr->v[i].seq1 <= seq && seq <= arr->v[i].seq2;
}

unsigned int seq_range_count(const ARRAY_TYPE(seq_range) *arr)
{
	uint64_t n = 0;
	const struct seq_range *r;

	array_foreach(arr, r)
		n += (uint64_t)r->seq2 - r->seq1 + 1;
	return n > UINT_MAX ? UINT_MAX : (unsigned int)n;
}

static int seq_range_parse_num(const char **p, uint32_t star, uint32_t *num_r)
{
	const char *s = *p;
	uint64_t n = 0;

	if (*s == '*') {
		*num_r = star;
		*p = s + 1;
		return 0;
	}
	if (*s < '1' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		n = n * 10 + (uint64_t)(*s - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	*num_r = (uint32_t)n;
	*p = s;
	return 0;
}

int seq_range_parse(const char *str, uint32_t star, ARRAY_TYPE(seq_range) *arr)
{
	const char *p = str;

	for (;;) {
		uint32_t a, b;
		if (seq_range_parse_num(&p, star, &a) < 0)
			return -1;
		b = a;
		if (*p == ':') {
			p++;
			if (seq_range_parse_num(&p, star, &b) < 0)
				return -1;
		}
		/* "*" on an empty mailbox is 0: the range is empty, not bad */
		if (a > b) {
			uint32_t tmp = a;
			a = b;
			b = tmp;
		}
		if (b > 0)
			seq_range_array_add_range(arr, a == 0 ? 1 : a, b);
		if (*p == '\0')
			return 0;
		if (*p != ',')
			return -1;
		p++;
	}
}

void seq_range_write(string_t *dest, const ARRAY_TYPE(seq_range) *arr)
{
	const struct seq_range *r;

	array_foreach(arr, r) {
		if (r != arr->v)
			str_append_c(dest, ',');
		if (r->seq1 == r->seq2)
			str_printfa(dest, "%u", r->seq1);
		else
			str_printfa(dest, "%u:%u", r->seq1, r->seq2);
	}
}
