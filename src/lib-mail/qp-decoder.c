/* Quoted-printable decoding as a small state machine, so a body can be
   decoded in pieces of any size as it streams past (BINARY fetches,
   searching, indexing) with the same result as in one piece. */
#include "qp-decoder.h"

/* Whitespace kept back while we learn whether it trails the line. Beyond
   this it is written out as text: a line cannot sanely end in more. */
#define QP_MAX_PENDING_WS 1024

enum qp_state {
	QP_STATE_TEXT,
	QP_STATE_WS,		/* whitespace pending */
	QP_STATE_EQUALS,	/* "=" seen */
	QP_STATE_EQUALS_WS,	/* "=" then whitespace: soft break? */
	QP_STATE_HEX2,		/* "=X" seen */
	QP_STATE_CR,		/* CR (after text or whitespace) */
	QP_STATE_SOFT_CR,	/* "=" [ws] CR */
};

struct qp_decoder {
	enum qp_state state;
	unsigned char hex1;
	buffer_t ws;
};

static int qp_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	/* lowercase is not valid QP, but encoders write it */
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

struct qp_decoder *qp_decoder_init(void)
{
	struct qp_decoder *qp = i_new(struct qp_decoder, 1);

	buffer_init(&qp->ws, system_pool);
	return qp;
}

void qp_decoder_deinit(struct qp_decoder **_qp)
{
	struct qp_decoder *qp = *_qp;

	if (qp == NULL)
		return;
	*_qp = NULL;
	buffer_release(&qp->ws);
	free(qp);
}

/* The state cannot continue with the current byte: write out what it
   held back as literal text. */
static void qp_flush_invalid(struct qp_decoder *qp, buffer_t *dest)
{
	switch (qp->state) {
	case QP_STATE_EQUALS:
		buffer_append_c(dest, '=');
		break;
	case QP_STATE_HEX2:
		buffer_append_c(dest, '=');
		buffer_append_c(dest, qp->hex1);
		break;
	case QP_STATE_EQUALS_WS:
		buffer_append_c(dest, '=');
		buffer_append(dest, qp->ws.data, qp->ws.used);
		break;
	case QP_STATE_SOFT_CR:
		buffer_append_c(dest, '=');
		buffer_append(dest, qp->ws.data, qp->ws.used);
		buffer_append_c(dest, '\r');
		break;
	case QP_STATE_CR:
		buffer_append(dest, qp->ws.data, qp->ws.used);
		buffer_append_c(dest, '\r');
		break;
	case QP_STATE_WS:
		buffer_append(dest, qp->ws.data, qp->ws.used);
		break;
	case QP_STATE_TEXT:
		break;
	}
	buffer_reset(&qp->ws);
	qp->state = QP_STATE_TEXT;
}

int qp_decoder_more(struct qp_decoder *qp, const void *_src, size_t size,
		    buffer_t *dest)
{
	const unsigned char *src = _src;
	size_t i = 0, start;
	int ret = 0, hi, lo;

	while (i < size) {
		unsigned char c = src[i];

		switch (qp->state) {
		case QP_STATE_TEXT:
			/* copy plain text in one go */
			start = i;
			while (i < size && src[i] != '=' && src[i] != ' ' &&
			       src[i] != '\t' && src[i] != '\r' &&
			       src[i] != '\n')
				i++;
			buffer_append(dest, src + start, i - start);
			if (i == size)
				return ret;
			c = src[i++];
			if (c == '=')
				qp->state = QP_STATE_EQUALS;
			else if (c == '\r')
				qp->state = QP_STATE_CR;
			else if (c == '\n')
				buffer_append(dest, "\r\n", 2);
			else {
				buffer_append_c(&qp->ws, c);
				qp->state = QP_STATE_WS;
			}
			continue;
		case QP_STATE_WS:
			if (c == ' ' || c == '\t') {
				if (qp->ws.used >= QP_MAX_PENDING_WS) {
					buffer_append(dest, qp->ws.data,
						      qp->ws.used);
					buffer_reset(&qp->ws);
				}
				buffer_append_c(&qp->ws, c);
			} else if (c == '\r') {
				qp->state = QP_STATE_CR;
			} else if (c == '\n') {
				/* trailing whitespace is transport padding */
				buffer_reset(&qp->ws);
				buffer_append(dest, "\r\n", 2);
				qp->state = QP_STATE_TEXT;
			} else {
				qp_flush_invalid(qp, dest);
				continue;
			}
			break;
		case QP_STATE_EQUALS:
			if ((hi = qp_hex_value(c)) >= 0) {
				qp->hex1 = c;
				qp->state = QP_STATE_HEX2;
			} else if (c == ' ' || c == '\t') {
				buffer_append_c(&qp->ws, c);
				qp->state = QP_STATE_EQUALS_WS;
			} else if (c == '\r') {
				qp->state = QP_STATE_SOFT_CR;
			} else if (c == '\n') {
				/* soft line break */
				qp->state = QP_STATE_TEXT;
			} else {
				ret = -1;
				qp_flush_invalid(qp, dest);
				continue;
			}
			break;
		case QP_STATE_HEX2:
			if ((lo = qp_hex_value(c)) >= 0) {
				hi = qp_hex_value(qp->hex1);
				buffer_append_c(dest, (hi << 4) | lo);
				qp->state = QP_STATE_TEXT;
			} else {
				ret = -1;
				qp_flush_invalid(qp, dest);
				continue;
			}
			break;
		case QP_STATE_EQUALS_WS:
			if (c == ' ' || c == '\t') {
				if (qp->ws.used < QP_MAX_PENDING_WS)
					buffer_append_c(&qp->ws, c);
			} else if (c == '\r') {
				qp->state = QP_STATE_SOFT_CR;
			} else if (c == '\n') {
				buffer_reset(&qp->ws);
				qp->state = QP_STATE_TEXT;
			} else {
				ret = -1;
				qp_flush_invalid(qp, dest);
				continue;
			}
			break;
		case QP_STATE_CR:
		case QP_STATE_SOFT_CR:
			if (c == '\n') {
				if (qp->state == QP_STATE_CR)
					buffer_append(dest, "\r\n", 2);
				buffer_reset(&qp->ws);
				qp->state = QP_STATE_TEXT;
			} else {
				/* a lone CR is data */
				qp_flush_invalid(qp, dest);
				continue;
			}
			break;
		}
		i++;
	}
	return ret;
}

int qp_decoder_finish(struct qp_decoder *qp, buffer_t *dest)
{
	int ret = 0;

	switch (qp->state) {
	case QP_STATE_TEXT:
		break;
	case QP_STATE_WS:
		/* whitespace at the very end trails the last line */
		buffer_reset(&qp->ws);
		qp->state = QP_STATE_TEXT;
		break;
	case QP_STATE_EQUALS_WS:
		/* "=" and whitespace at the end: a soft break without its
		   newline */
		buffer_reset(&qp->ws);
		qp->state = QP_STATE_TEXT;
		break;
	default:
		ret = -1;
		qp_flush_invalid(qp, dest);
		break;
	}
	return ret;
}

int qp_decode_q(const void *_src, size_t size, buffer_t *dest)
{
	const unsigned char *src = _src;
	int ret = 0, hi, lo;

	for (size_t i = 0; i < size; i++) {
		if (src[i] == '_')
			buffer_append_c(dest, ' ');
		else if (src[i] != '=')
			buffer_append_c(dest, src[i]);
		else if (i + 2 < size && (hi = qp_hex_value(src[i+1])) >= 0 &&
			 (lo = qp_hex_value(src[i+2])) >= 0) {
			buffer_append_c(dest, (hi << 4) | lo);
			i += 2;
		} else {
			buffer_append_c(dest, '=');
			ret = -1;
		}
	}
	return ret;
}
