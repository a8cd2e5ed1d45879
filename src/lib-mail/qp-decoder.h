/* Incremental quoted-printable decoder (RFC 2045 section 6.7) for MIME
   bodies, and the "Q" variant of RFC 2047 encoded words. Invalid escapes
   are kept as they were written (an "=" not followed by two hex digits
   stays "="), soft line breaks ("=" at the end of a line, even with
   trailing whitespace) are removed, trailing whitespace on lines is
   dropped, and line ends come out as CRLF. */
#ifndef COLUMBA_QP_DECODER_H
#define COLUMBA_QP_DECODER_H

#include "lib.h"

struct qp_decoder;

struct qp_decoder *qp_decoder_init(void);
void qp_decoder_deinit(struct qp_decoder **qp);
/* Decode the next piece of the body, appending to dest. Returns 0, or -1
   if invalid input was seen in this piece (it is kept as written). */
int qp_decoder_more(struct qp_decoder *qp, const void *src, size_t size,
		    buffer_t *dest);
/* End of input: anything pending ("=" at the very end) is written out.
   Returns -1 if the input ended inside an escape. The decoder is reset. */
int qp_decoder_finish(struct qp_decoder *qp, buffer_t *dest);

/* Decode the text of a Q encoded word: "_" is a space, "=XX" a byte.
   Returns -1 if there were invalid escapes (kept as written). */
int qp_decode_q(const void *src, size_t size, buffer_t *dest);

#endif
