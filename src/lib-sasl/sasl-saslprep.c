/* SASLprep (RFC 4013 over RFC 3454 stringprep) for SCRAM's user names and
   passwords, and the ANONYMOUS trace profile (RFC 4505). The prohibition
   and mapping tables are ours (small ranges); normalization and the bidi
   check come from ICU's own SASLprep profile when the build has ICU. */
#include "lib.h"
#include "sasl-private.h"
#include "sasl-saslprep.h"

#ifdef HAVE_ICU
#  include <unicode/usprep.h>
#  include <unicode/ustring.h>
#endif

struct sasl_range {
	uint32_t first, last;
};

static bool sasl_range_contains(const struct sasl_range *ranges,
				unsigned int count, uint32_t chr)
{
	for (unsigned int i = 0; i < count; i++) {
		if (chr >= ranges[i].first && chr <= ranges[i].last)
			return true;
	}
	return false;
}

/* B.1: commonly mapped to nothing */
static const struct sasl_range stringprep_b1[] = {
	{ 0x00ad, 0x00ad }, { 0x034f, 0x034f }, { 0x1806, 0x1806 },
	{ 0x180b, 0x180d }, { 0x200b, 0x200d }, { 0x2060, 0x2060 },
	{ 0xfe00, 0xfe0f }, { 0xfeff, 0xfeff },
};
/* C.1.2: non-ASCII space characters */
static const struct sasl_range stringprep_c12[] = {
	{ 0x00a0, 0x00a0 }, { 0x1680, 0x1680 }, { 0x2000, 0x200b },
	{ 0x202f, 0x202f }, { 0x205f, 0x205f }, { 0x3000, 0x3000 },
};
/* C.2.1, C.2.2, C.3, C.5, C.6, C.8, C.9 (C.4 is tested apart: it is every
   plane's last two code points plus one block) */
static const struct sasl_range stringprep_prohibited[] = {
	/* C.2.1 ASCII control characters */
	{ 0x0000, 0x001f }, { 0x007f, 0x007f },
	/* C.2.2 non-ASCII control characters */
	{ 0x0080, 0x009f }, { 0x06dd, 0x06dd }, { 0x070f, 0x070f },
	{ 0x180e, 0x180e }, { 0x200c, 0x200d }, { 0x2028, 0x2029 },
	{ 0x2060, 0x2063 }, { 0x206a, 0x206f }, { 0xfeff, 0xfeff },
	{ 0xfff9, 0xfffc }, { 0x1d173, 0x1d17a },
	/* C.3 private use */
	{ 0xe000, 0xf8ff }, { 0xf0000, 0xffffd }, { 0x100000, 0x10fffd },
	/* C.5 surrogate codes */
	{ 0xd800, 0xdfff },
	/* C.6 inappropriate for plain text */
	{ 0xfff9, 0xfffd },
	/* C.8 change display properties or deprecated */
	{ 0x0340, 0x0341 }, { 0x200e, 0x200f }, { 0x202a, 0x202e },
	{ 0x206a, 0x206f },
	/* C.9 tagging characters */
	{ 0xe0001, 0xe0001 }, { 0xe0020, 0xe007f },
};

bool sasl_stringprep_mapped_to_nothing(uint32_t chr)
{
	return sasl_range_contains(stringprep_b1, N_ELEMENTS(stringprep_b1),
				   chr);
}

bool sasl_stringprep_is_nonascii_space(uint32_t chr)
{
	return sasl_range_contains(stringprep_c12, N_ELEMENTS(stringprep_c12),
				   chr);
}

bool sasl_stringprep_is_prohibited(uint32_t chr)
{
	/* C.4 non-character code points */
	if ((chr >= 0xfdd0 && chr <= 0xfdef) || (chr & 0xfffe) == 0xfffe)
		return true;
	return sasl_range_contains(stringprep_prohibited,
				   N_ELEMENTS(stringprep_prohibited), chr);
}

bool sasl_stringprep_is_non_canonical(uint32_t chr)
{
	return chr >= 0x2ff0 && chr <= 0x2ffb;
}

/* RFC 4013 section 2.1: non-ASCII spaces become SPACE, B.1 vanishes.
   ICU resolves U+200B (in both tables) as a space; so do we, so that both
   builds agree. */
static int sasl_saslprep_map(const char *input, string_t *dest,
			     const char **error_r)
{
	const unsigned char *p = (const unsigned char *)input;
	size_t size = strlen(input);
	uint32_t chr;

	for (size_t i = 0; i < size;) {
		unsigned int len = sasl_utf8_decode(p + i, size - i, &chr);
		if (len == 0) {
			*error_r = "invalid UTF-8";
			return -1;
		}
		if (sasl_stringprep_is_nonascii_space(chr))
			str_append_c(dest, ' ');
		else if (!sasl_stringprep_mapped_to_nothing(chr))
			str_append_data(dest, p + i, len);
		i += len;
	}
	return 0;
}

static int sasl_saslprep_check(const string_t *str, const char **error_r)
{
	const unsigned char *p = str->data;
	uint32_t chr;

	for (size_t i = 0; i < str->used;) {
		unsigned int len = sasl_utf8_decode(p + i, str->used - i, &chr);
		i_assert(len > 0);
		if (sasl_stringprep_is_prohibited(chr) ||
		    sasl_stringprep_is_non_canonical(chr)) {
			*error_r = "prohibited character";
			return -1;
		}
		i += len;
	}
	return 0;
}

#ifdef HAVE_ICU
static int sasl_saslprep_icu(const char *input, string_t *dest,
			     const char **error_r)
{
	UErrorCode status = U_ZERO_ERROR;
	UParseError parse_error;
	int32_t in_len, prep_len, out_len;
	size_t input_size = strlen(input);

	/* UTF-16 never has more code units than UTF-8 has bytes, and NFKC
	   can grow a string (U+FDFA becomes 18 characters), hence the slack
	   and the retry below. */
	if (input_size > INT32_MAX / 32) {
		*error_r = "string too long";
		return -1;
	}
	UChar *in = t_new(UChar, input_size + 1);
	u_strFromUTF8(in, (int32_t)input_size + 1, &in_len, input,
		      (int32_t)input_size, &status);
	if (U_FAILURE(status)) {
		*error_r = "invalid UTF-8";
		return -1;
	}
	UStringPrepProfile *profile =
		usprep_openByType(USPREP_RFC4013_SASLPREP, &status);
	if (U_FAILURE(status))
		i_fatal("ICU: cannot open the SASLprep profile: %s",
			u_errorName(status));
	int32_t prep_cap = in_len * 4 + 16;
	UChar *prep = t_new(UChar, prep_cap);
	prep_len = usprep_prepare(profile, in, in_len, prep, prep_cap,
				  USPREP_ALLOW_UNASSIGNED, &parse_error,
				  &status);
	if (status == U_BUFFER_OVERFLOW_ERROR) {
		status = U_ZERO_ERROR;
		prep_cap = prep_len + 1;
		prep = t_new(UChar, prep_cap);
		prep_len = usprep_prepare(profile, in, in_len, prep, prep_cap,
					  USPREP_ALLOW_UNASSIGNED,
					  &parse_error, &status);
	}
	usprep_close(profile);
	safe_memset(in, 0, sizeof(UChar) * (input_size + 1));
	if (U_FAILURE(status)) {
		safe_memset(prep, 0, sizeof(UChar) * prep_cap);
		switch (status) {
		case U_STRINGPREP_PROHIBITED_ERROR:
			*error_r = "prohibited character";
			break;
		case U_STRINGPREP_CHECK_BIDI_ERROR:
			*error_r = "bidirectional check failed";
			break;
		default:
			*error_r = "SASLprep failed";
			break;
		}
		return -1;
	}
	u_strToUTF8(NULL, 0, &out_len, prep, prep_len, &status);
	if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status))
		i_panic("ICU: u_strToUTF8() failed: %s", u_errorName(status));
	status = U_ZERO_ERROR;
	char *out = buffer_append_space(dest, (size_t)out_len);
	u_strToUTF8(out, out_len, &out_len, prep, prep_len, &status);
	safe_memset(prep, 0, sizeof(UChar) * prep_cap);
	if (status != U_STRING_NOT_TERMINATED_WARNING && U_FAILURE(status))
		i_panic("ICU: u_strToUTF8() failed: %s", u_errorName(status));
	return 0;
}
#endif

int sasl_saslprep_subset(const char *input, string_t *dest,
			 const char **error_r)
{
	int ret;

	/* Passwords go through here: the temporary copy is wiped. No
	   T_BEGIN here or below: dest may be a data-stack string of the
	   caller's frame, which must not grow from a deeper one. */
	string_t *mapped = t_str_new(strlen(input) + 1);
	ret = sasl_saslprep_map(input, mapped, error_r);
	if (ret == 0)
		ret = sasl_saslprep_check(mapped, error_r);
	if (ret == 0)
		str_append_data(dest, mapped->data, mapped->used);
	safe_memset(mapped->data, 0, mapped->used);
	return ret;
}

int sasl_saslprep(const char *input, string_t *dest, const char **error_r)
{
	size_t orig_used = dest->used;
	int ret;

#ifdef HAVE_ICU
	/* ICU does all of it. Prohibition must see the normalised string
	   (NFKC turns U+0340, which is prohibited, into U+0300, which is
	   not), so our own tables cannot pre-check the input here. */
	if (!sasl_utf8_is_valid(input, strlen(input))) {
		*error_r = "invalid UTF-8";
		ret = -1;
	} else {
		ret = sasl_saslprep_icu(input, dest, error_r);
	}
#else
	ret = sasl_saslprep_subset(input, dest, error_r);
#endif
	if (ret == 0 && dest->used == orig_used) {
		*error_r = "empty after SASLprep";
		ret = -1;
	}
	if (ret < 0 && dest->used > orig_used) {
		safe_memset(dest->data + orig_used, 0, dest->used - orig_used);
		buffer_set_used_size(dest, orig_used);
	}
	return ret;
}

bool sasl_saslprep_is_complete(void)
{
#ifdef HAVE_ICU
	return true;
#else
	return false;
#endif
}

int sasl_trace_check(const void *data, size_t size, const char **error_r)
{
	const unsigned char *p = data;
	uint32_t chr;

	for (size_t i = 0; i < size;) {
		unsigned int len = sasl_utf8_decode(p + i, size - i, &chr);
		if (len == 0) {
			*error_r = "invalid UTF-8";
			return -1;
		}
		if (sasl_stringprep_is_prohibited(chr)) {
			*error_r = "prohibited character";
			return -1;
		}
		i += len;
	}
	return 0;
}
