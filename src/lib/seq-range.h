/* Sets of UIDs (or sequence numbers) as sorted arrays of disjoint,
   non-adjacent ranges: IMAP sets ("1:5,7,9:*"), expunged UIDs for
   VANISHED, search results. */
#ifndef COLUMBA_SEQ_RANGE_H
#define COLUMBA_SEQ_RANGE_H

#include "lib.h"

struct seq_range {
	uint32_t seq1, seq2;
};
ARRAY_DEFINE_TYPE(seq_range, struct seq_range);
ARRAY_DEFINE_TYPE(mail_uid, uint32_t);

/* Add one number or the range seq1..seq2 (seq1 <= seq2), merging with
   neighbours. Appending in ascending order costs O(1). */
void seq_range_array_add(ARRAY_TYPE(seq_range) *arr, uint32_t seq);
void seq_range_array_add_range(ARRAY_TYPE(seq_range) *arr,
			       uint32_t seq1, uint32_t seq2);
/* Add every range of src. */
void seq_range_array_merge(ARRAY_TYPE(seq_range) *dest,
			   const ARRAY_TYPE(seq_range) *src);
/* Remove seq1..seq2; returns how many numbers were removed. */
unsigned int seq_range_array_remove_range(ARRAY_TYPE(seq_range) *arr,
					  uint32_t seq1, uint32_t seq2);
bool seq_range_exists(const ARRAY_TYPE(seq_range) *arr, uint32_t seq);
/* How many numbers the set holds (saturates at UINT_MAX). */
unsigned int seq_range_count(const ARRAY_TYPE(seq_range) *arr);

/* Parse an IMAP sequence-set ("1:3,5,7:*"); '*' stands for star. Ranges
   may be given high:low. Returns 0, or -1 for bad syntax (or 0). */
int seq_range_parse(const char *str, uint32_t star,
		    ARRAY_TYPE(seq_range) *arr) ATTR_WARN_UNUSED;
/* Write the set in IMAP syntax ("1:3,5"). */
void seq_range_write(string_t *dest, const ARRAY_TYPE(seq_range) *arr);

#endif
