/* The comparator's canonical form and RFC 5256 base subjects (see
   imap-casemap.h). */
#include "lib.h"
#include "str.h"
#include "charset-utf8.h"
#include "message-header-decode.h"
#include "unicode-casemap.h"
#include "imap-casemap.h"

void imap_casemap_fold(const void *data, size_t size, buffer_t *dest)
{
	unicode_casemap_append(data, size, dest);
}

const char *t_imap_casemap_fold(const char *str)
{
	size_t len = strlen(str);
	string_t *dest = t_str_new(len + 8);

	imap_casemap_fold(str, len, dest);
	return str_c(dest);
}

/* --- base subject --- */

/* After "[": skip *BLOBCHAR "]" *WSP; NULL if unterminated. */
static const char *skip_blob(const char *p)
{
	i_assert(*p == '[');
	p++;
	while (*p != '\0' && *p != '[' && *p != ']')
		p++;
	if (*p != ']')
		return NULL;
	p++;
	while (*p == ' ')
		p++;
	return p;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP */
static bool remove_subj_leader(const char **_p, bool *is_reply)
{
	const char *p = *_p;

	if (*p == ' ') {
		*_p = p + 1;
		return true;
	}
	while (*p == '[') {
		if ((p = skip_blob(p)) == NULL)
			return false;
	}
	if (strncmp(p, "RE", 2) == 0)
		p += 2;
	else if (strncmp(p, "FWD", 3) == 0)
		p += 3;
	else if (strncmp(p, "FW", 2) == 0)
		p += 2;
	else
		return false;
	while (*p == ' ')
		p++;
	if (*p == '[') {
		if ((p = skip_blob(p)) == NULL)
			return false;
	}
	if (*p != ':')
		return false;
	*_p = p + 1;
	*is_reply = true;
	return true;
}

/* (4): a leading subj-blob, if something is left after it */
static bool remove_blob_when_nonempty(const char **_p)
{
	const char *p = *_p;

	if (*p != '[')
		return false;
	if ((p = skip_blob(p)) == NULL || *p == '\0')
		return false;
	*_p = p;
	return true;
}

/* (2): subj-trailer = "(fwd)" / WSP, repeated */
static void remove_subj_trailers(const char *start, size_t *len,
				 bool *is_reply)
{
	for (;;) {
		if (*len > 0 && start[*len - 1] == ' ')
			(*len)--;
		else if (*len >= 5 && memcmp(start + *len - 5, "(FWD)", 5) == 0) {
			*len -= 5;
			*is_reply = true;
		} else
			break;
	}
}

const char *imap_get_base_subject(const char *subject, bool *is_reply_r)
{
	bool is_reply = false;
	string_t *dec, *folded, *ws;

	if (subject == NULL)
		subject = "";
	/* (1) decode, fold, whitespace */
	dec = t_str_new(strlen(subject) + 16);
	message_header_decode_utf8(subject, strlen(subject), dec);
	folded = t_str_new(str_len(dec) + 16);
	imap_casemap_fold(dec->data, dec->used, folded);
	ws = t_str_new(str_len(folded) + 1);
	bool last_space = false;
	for (size_t i = 0; i < folded->used; i++) {
		char c = ((const char *)folded->data)[i];
		if (c == '\t' || c == '\r' || c == '\n' || c == ' ') {
			if (!last_space)
				str_append_c(ws, ' ');
			last_space = true;
		} else if (c == '\0') {
			/* cannot be part of a C string */
			continue;
		} else {
			str_append_c(ws, c);
			last_space = false;
		}
	}

	char *buf = str_c_modifiable(ws);
	const char *p = buf;
	size_t len;
	for (;;) {
		/* (2) trailers */
		len = strlen(p);
		remove_subj_trailers(p, &len, &is_reply);
		buf = t_strndup(p, len);
		p = buf;
		/* (3)-(5) leaders and blobs */
		bool changed;
		do {
			changed = false;
			while (remove_subj_leader(&p, &is_reply))
				changed = true;
			if (remove_blob_when_nonempty(&p))
				changed = true;
		} while (changed);
		/* (6) [fwd: ...] */
		len = strlen(p);
		if (len >= 6 && strncmp(p, "[FWD:", 5) == 0 && p[len - 1] == ']') {
			p = t_strndup(p + 5, len - 6);
			is_reply = true;
			continue;
		}
		break;
	}
	if (is_reply_r != NULL)
		*is_reply_r = is_reply;
	return p;
}
