/* Content that FETCH computes from a message's parts: the transfer
   encoding of a part and its decoding for BINARY (RFC 3516), and the
   PREVIEW text (RFC 8970). */
#ifndef COLUMBA_IMAP_FETCH_BODY_H
#define COLUMBA_IMAP_FETCH_BODY_H

#include "mail-storage.h"
#include "base64-decoder.h"
#include "qp-decoder.h"

enum imap_cte {
	/* 7bit, 8bit, binary, or none: the bytes are the content */
	IMAP_CTE_IDENTITY,
	IMAP_CTE_BASE64,
	IMAP_CTE_QP,
	/* anything else: BINARY fails with NO [UNKNOWN-CTE] */
	IMAP_CTE_UNKNOWN,
};

/* The Content-Transfer-Encoding of part number ("1.2"; "" is the whole
   message, never decoded) of message uid. Returns 1, 0 if there is no
   such part, -1 on a storage error. Reads the part's MIME header
   (blocking). */
int imap_fetch_part_cte(struct mailbox *box, uint32_t uid, const char *number,
			enum imap_cte *cte_r) ATTR_WARN_UNUSED;

struct imap_cte_decoder {
	enum imap_cte cte;
	struct base64_decoder b64;
	struct qp_decoder *qp;
};
void imap_cte_decoder_init(struct imap_cte_decoder *dec, enum imap_cte cte);
/* Appends the decoded bytes of the next piece to dest. Invalid input is
   decoded as far as it goes, as Dovecot does. */
void imap_cte_decoder_more(struct imap_cte_decoder *dec, const void *data,
			   size_t size, buffer_t *dest);
/* End of input: the rest, and the decoder is freed. */
void imap_cte_decoder_finish(struct imap_cte_decoder *dec, buffer_t *dest);
void imap_cte_decoder_deinit(struct imap_cte_decoder *dec);

/* The decoded size of part number and whether it holds a NUL (then
   BINARY must send a literal8). Reads and decodes the part (blocking).
   Returns 1, 0 if there is no such part, -1 on error. */
int imap_fetch_binary_size(struct mailbox *box, uint32_t uid,
			   const char *number, enum imap_cte cte,
			   uint64_t *size_r, bool *has_nul_r) ATTR_WARN_UNUSED;

/* RFC 8970 PREVIEW: up to 200 characters of the first text/plain or
   text/html part, decoded to UTF-8, markup removed, whitespace runs
   collapsed; "" when the message has no such text. parts is the
   record's cached part tree. Reads at most a few KiB of the part
   (blocking). Returns 0 with *preview_r (data stack), or -1. */
int imap_fetch_preview(struct mailbox *box, uint32_t uid,
		       const unsigned char *parts, size_t parts_size,
		       const char **preview_r) ATTR_WARN_UNUSED;
/* The text part of the above: raw text of a part (already decoded from
   its transfer encoding, in charset) to a preview. */
const char *imap_preview_from_text(const void *data, size_t size,
				   const char *charset, bool html);

#endif
