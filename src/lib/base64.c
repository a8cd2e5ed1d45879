/* Base64 encoding and strict decoding (RFC 4648). Used by SASL (both the
   wire encoding of IMAP/POP3/SMTP AUTH and SCRAM's attributes) and by any
   protocol code that has to carry bytes as text. */
#include "lib.h"
#include "base64.h"

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for the alphabet, 0xff for everything else ('=' included: the
   decoder handles padding apart). */
static const unsigned char base64_values[256] = {
#define X 0xff
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, 62, X, X, X, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
	X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, X,
	X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
#undef X
};

size_t base64_encoded_size(size_t size)
{
	return size_mul(size / 3 + (size % 3 != 0 ? 1 : 0), 4);
}

size_t base64_decoded_size_max(size_t size)
{
	return size / 4 * 3 + 3;
}

void base64_encode(const void *data, size_t size, buffer_t *dest)
{
	const unsigned char *src = data;
	char *out = buffer_append_space(dest, base64_encoded_size(size));
	size_t i;

	for (i = 0; i + 3 <= size; i += 3) {
		*out++ = base64_alphabet[src[i] >> 2];
		*out++ = base64_alphabet[((src[i] & 0x03) << 4) | (src[i + 1] >> 4)];
		*out++ = base64_alphabet[((src[i + 1] & 0x0f) << 2) | (src[i + 2] >> 6)];
		*out++ = base64_alphabet[src[i + 2] & 0x3f];
	}
	if (size - i == 1) {
		*out++ = base64_alphabet[src[i] >> 2];
		*out++ = base64_alphabet[(src[i] & 0x03) << 4];
		*out++ = '=';
		*out++ = '=';
	} else if (size - i == 2) {
		*out++ = base64_alphabet[src[i] >> 2];
		*out++ = base64_alphabet[((src[i] & 0x03) << 4) | (src[i + 1] >> 4)];
		*out++ = base64_alphabet[(src[i + 1] & 0x0f) << 2];
		*out++ = '=';
	}
}

const char *t_base64_encode(const void *data, size_t size)
{
	string_t *str = t_str_new(base64_encoded_size(size) + 1);
	base64_encode(data, size, str);
	return str_c(str);
}

int base64_decode(const void *_src, size_t src_size, buffer_t *dest,
		  const char **error_r)
{
	const unsigned char *src = _src;
	size_t orig_used = dest->used;

	if (src_size % 4 != 0) {
		*error_r = "base64 length is not a multiple of 4";
		return -1;
	}
	for (size_t i = 0; i < src_size; i += 4) {
		unsigned char v[4] = { 0, 0, 0, 0 };
		unsigned int pad = 0;
		bool last = i + 4 == src_size;

		if (last && src[i + 3] == '=')
			pad = src[i + 2] == '=' ? 2 : 1;
		for (unsigned int j = 0; j < 4 - pad; j++) {
			v[j] = base64_values[src[i + j]];
			if (v[j] == 0xff) {
				*error_r = src[i + j] == '=' ?
					"base64 padding in the middle" :
					"invalid base64 character";
				buffer_set_used_size(dest, orig_used);
				return -1;
			}
		}
		/* The bits a padded group leaves over must be zero: otherwise
		   several texts would decode to the same bytes, and a
		   comparison of encodings would not be a comparison of
		   values. */
		if ((pad == 1 && (v[2] & 0x03) != 0) ||
		    (pad == 2 && (v[1] & 0x0f) != 0)) {
			*error_r = "non-zero bits in base64 padding";
			buffer_set_used_size(dest, orig_used);
			return -1;
		}
		buffer_append_c(dest, (unsigned char)((v[0] << 2) | (v[1] >> 4)));
		if (pad < 2)
			buffer_append_c(dest, (unsigned char)((v[1] << 4) | (v[2] >> 2)));
		if (pad < 1)
			buffer_append_c(dest, (unsigned char)((v[2] << 6) | v[3]));
	}
	return 0;
}
