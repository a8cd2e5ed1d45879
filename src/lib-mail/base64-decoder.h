/* Incremental base64 decoder for MIME bodies and encoded words: fed any
   pieces of the encoded text, it appends the decoded bytes as they become
   available. Whitespace and line breaks are ignored anywhere. Decoding
   ends at the padding; what follows it is ignored. Other bytes are invalid:
   by default decoding stops there (what was decoded so far is kept, as
   Dovecot's search and BINARY decoders do), or with
   BASE64_DECODER_FLAG_SKIP_INVALID they are skipped. */
#ifndef COLUMBA_BASE64_DECODER_H
#define COLUMBA_BASE64_DECODER_H

#include "lib.h"

enum base64_decoder_flags {
	/* skip invalid bytes instead of stopping at the first one */
	BASE64_DECODER_FLAG_SKIP_INVALID = 0x01,
};

struct base64_decoder {
	enum base64_decoder_flags flags;
	uint32_t bits;
	unsigned int count;	/* sextets in bits (0..3) */
	unsigned int padding;	/* '=' seen in the current quantum */
	bool ended;		/* padding completed a quantum, or stopped */
	bool invalid;		/* invalid input seen */
};

void base64_decoder_init(struct base64_decoder *dec,
			 enum base64_decoder_flags flags);
/* Returns 0, or -1 if invalid input has been seen (now or before). */
int base64_decoder_more(struct base64_decoder *dec, const void *src,
			size_t size, buffer_t *dest);
/* End of input: a final quantum without padding is decoded as far as it
   goes. Returns -1 if the input was invalid or ended inside a byte. The
   decoder is reset and can be reused. */
int base64_decoder_finish(struct base64_decoder *dec, buffer_t *dest);

/* One-shot decoding (encoded words). Lenient like the decoder; returns -1
   if something was wrong. Protocols that must reject bad base64 use the
   strict base64_decode() of src/lib. */
int base64_decode_lenient(const void *src, size_t size, buffer_t *dest);

#endif
