/* DATA transparency decoding, a byte-run state machine: whole line bodies
   are copied with memchr() runs, only line starts are looked at. */
#include "lib.h"
#include "smtp-dot.h"

size_t smtp_dot_decode(struct smtp_dot_decoder *dec, const unsigned char *data,
		       size_t size, buffer_t *dest, bool *end_r)
{
	size_t i = 0;

	*end_r = dec->state == SMTP_DOT_STATE_END;
	while (i < size && !*end_r) {
		switch (dec->state) {
		case SMTP_DOT_STATE_LINE_START:
			if (data[i] == '.') {
				dec->state = SMTP_DOT_STATE_DOT;
				i++;
			} else {
				dec->state = SMTP_DOT_STATE_MIDLINE;
			}
			break;
		case SMTP_DOT_STATE_MIDLINE: {
			const unsigned char *nl =
				memchr(data + i, '\n', size - i);
			size_t n = nl == NULL ? size - i :
				(size_t)(nl - (data + i)) + 1;
			buffer_append(dest, data + i, n);
			i += n;
			if (nl != NULL)
				dec->state = SMTP_DOT_STATE_LINE_START;
			break;
		}
		case SMTP_DOT_STATE_DOT:
			if (data[i] == '\r') {
				dec->state = SMTP_DOT_STATE_DOT_CR;
				i++;
			} else if (data[i] == '\n') {
				dec->state = SMTP_DOT_STATE_END;
				*end_r = true;
				i++;
			} else {
				/* a stuffed dot: drop it, keep the line */
				dec->state = SMTP_DOT_STATE_MIDLINE;
			}
			break;
		case SMTP_DOT_STATE_DOT_CR:
			if (data[i] == '\n') {
				dec->state = SMTP_DOT_STATE_END;
				*end_r = true;
				i++;
			} else {
				/* ".\r" + something: a stuffed dot before a
				   bare CR */
				buffer_append_c(dest, '\r');
				dec->state = SMTP_DOT_STATE_MIDLINE;
			}
			break;
		case SMTP_DOT_STATE_END:
			i_unreached();
		}
	}
	return i;
}
