/* NFC normalization of UTF-8 mailbox names with ICU (see imap-utf8.h).
   Names are short: UTF-16 copies on the data stack are cheap, and the
   common all-ASCII name never reaches ICU. */
#include "lib.h"
#include "imap-utf8.h"

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

static const UNormalizer2 *imap_utf8_nfc_instance(void)
{
	static const UNormalizer2 *nfc = NULL;
	UErrorCode status = U_ZERO_ERROR;

	if (nfc == NULL) {
		/* owned by ICU, never closed */
		nfc = unorm2_getNFCInstance(&status);
		if (U_FAILURE(status))
			i_fatal("ICU: cannot load the NFC data: %s",
				u_errorName(status));
	}
	return nfc;
}

const char *imap_utf8_nfc(const char *src)
{
	const UNormalizer2 *nfc;
	UErrorCode status = U_ZERO_ERROR;
	size_t len = strlen(src), i;
	int32_t ulen, nlen, olen;

	for (i = 0; i < len; i++) {
		if ((unsigned char)src[i] >= 0x80)
			break;
	}
	if (i == len)
		return src;
	/* mailbox names are limited long before this */
	i_assert(len < INT32_MAX / 4);

	nfc = imap_utf8_nfc_instance();
	/* UTF-16 never has more code units than UTF-8 has bytes */
	UChar *u = t_new(UChar, len + 1);
	u_strFromUTF8(u, (int32_t)len + 1, &ulen, src, (int32_t)len, &status);
	if (U_FAILURE(status))
		i_panic("ICU: u_strFromUTF8() failed: %s", u_errorName(status));
	/* not the quick check: its "maybe" (combining marks) would copy
	   names that are already NFC */
	if (unorm2_isNormalized(nfc, u, ulen, &status) && U_SUCCESS(status))
		return src;
	status = U_ZERO_ERROR;

	/* composition mostly shrinks, but a few characters grow (singleton
	   decompositions, Hangul, canonical reordering is in place): ask
	   ICU for the size when the first guess is short */
	int32_t ncap = ulen * 2 + 16;
	UChar *n = t_new(UChar, ncap);
	nlen = unorm2_normalize(nfc, u, ulen, n, ncap, &status);
	if (status == U_BUFFER_OVERFLOW_ERROR) {
		status = U_ZERO_ERROR;
		ncap = nlen + 1;
		n = t_new(UChar, ncap);
		nlen = unorm2_normalize(nfc, u, ulen, n, ncap, &status);
	}
	if (U_FAILURE(status))
		i_panic("ICU: unorm2_normalize() failed: %s",
			u_errorName(status));

	/* a UTF-16 code unit is at most 3 bytes of UTF-8 */
	int32_t ocap = nlen * 3 + 1;
	char *out = t_malloc(ocap);
	u_strToUTF8(out, ocap, &olen, n, nlen, &status);
	if (U_FAILURE(status))
		i_panic("ICU: u_strToUTF8() failed: %s", u_errorName(status));
	out[olen] = '\0';
	return out;
}
