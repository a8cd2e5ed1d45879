/* BINARY decoding and PREVIEW text for FETCH (see imap-fetch-body.h).
   Both need the Content-* fields of one part, which the cached part tree
   does not keep: the part's MIME header is read (it is small) and parsed
   with lib-mail's parser. */
#include "lib.h"
#include "event.h"
#include "charset-utf8.h"
#include "message-parser.h"
#include "message-part.h"
#include "message-part-data.h"
#include "mail-parts.h"
#include "imap-fetch-body.h"
#include <ctype.h>

#define PREVIEW_MAX_CHARS 200
/* raw bytes of a part read for its preview: enough for 200 characters
   after base64, HTML markup and a style sheet or two */
#define PREVIEW_READ_BYTES (32 * 1024)

/* The Content-* data of part number's MIME header, parsed from pool. */
static int part_get_data(struct mailbox *box, uint32_t uid,
			 const char *number, pool_t pool,
			 const struct message_part_data **data_r)
{
	struct mail_section_request req = {
		.section = t_strdup_printf("%s.MIME", number),
		.partial_size = UINT64_MAX,
	};
	const char *text;
	buffer_t *hdr = buffer_create(pool_datastack, 512);

	/* a part's header counts as MIME whatever the top says, as Dovecot
	   takes Content-* fields without MIME-Version */
	buffer_append(hdr, "MIME-Version: 1.0\r\n", 19);
	if (mail_fetch_section_sync(box, uid, &req, hdr) < 0) {
		if (mail_user_get_last_error(mailbox_get_user(box), &text,
					     NULL) == MAIL_ERROR_PARAMS)
			return 0;
		return -1;
	}
	struct message_part *root = message_parse_data(pool, hdr->data,
						       hdr->used, NULL);
	*data_r = root->data;
	return 1;
}

static enum imap_cte cte_parse(const char *value)
{
	if (value == NULL)
		return IMAP_CTE_IDENTITY;
	const char *semi = strchr(value, ';');
	if (semi != NULL)
		value = t_strndup(value, (size_t)(semi - value));
	value = t_str_lcase(value);
	while (*value == ' ' || *value == '\t')
		value++;
	size_t len = strlen(value);
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	value = t_strndup(value, len);
	if (*value == '\0' || strcmp(value, "7bit") == 0 ||
	    strcmp(value, "8bit") == 0 || strcmp(value, "binary") == 0)
		return IMAP_CTE_IDENTITY;
	if (strcmp(value, "base64") == 0)
		return IMAP_CTE_BASE64;
	if (strcmp(value, "quoted-printable") == 0)
		return IMAP_CTE_QP;
	return IMAP_CTE_UNKNOWN;
}

int imap_fetch_part_cte(struct mailbox *box, uint32_t uid, const char *number,
			enum imap_cte *cte_r)
{
	const struct message_part_data *data;
	int ret;

	if (*number == '\0') {
		/* BINARY[]: the message as it is; the section must still
		   exist (the message must) */
		*cte_r = IMAP_CTE_IDENTITY;
		return 1;
	}
	pool_t pool = pool_alloconly_create("fetch cte", 1024);
	ret = part_get_data(box, uid, number, pool, &data);
	if (ret > 0)
		*cte_r = cte_parse(data->content_transfer_encoding);
	pool_unref(&pool);
	return ret;
}

void imap_cte_decoder_init(struct imap_cte_decoder *dec, enum imap_cte cte)
{
	memset(dec, 0, sizeof(*dec));
	dec->cte = cte;
	if (cte == IMAP_CTE_BASE64)
		base64_decoder_init(&dec->b64, 0);
	else if (cte == IMAP_CTE_QP)
		dec->qp = qp_decoder_init();
}

void imap_cte_decoder_more(struct imap_cte_decoder *dec, const void *data,
			   size_t size, buffer_t *dest)
{
	switch (dec->cte) {
	case IMAP_CTE_BASE64:
		(void)base64_decoder_more(&dec->b64, data, size, dest);
		break;
	case IMAP_CTE_QP:
		(void)qp_decoder_more(dec->qp, data, size, dest);
		break;
	case IMAP_CTE_IDENTITY:
	case IMAP_CTE_UNKNOWN:
		buffer_append(dest, data, size);
		break;
	}
}

void imap_cte_decoder_finish(struct imap_cte_decoder *dec, buffer_t *dest)
{
	if (dec->cte == IMAP_CTE_BASE64)
		(void)base64_decoder_finish(&dec->b64, dest);
	else if (dec->cte == IMAP_CTE_QP)
		(void)qp_decoder_finish(dec->qp, dest);
}

void imap_cte_decoder_deinit(struct imap_cte_decoder *dec)
{
	if (dec->qp != NULL)
		qp_decoder_deinit(&dec->qp);
}

int imap_fetch_binary_size(struct mailbox *box, uint32_t uid,
			   const char *number, enum imap_cte cte,
			   uint64_t *size_r, bool *has_nul_r)
{
	struct mail_section_request req = {
		.section = number, .partial_size = UINT64_MAX,
	};
	struct mail_section_stream *stream;
	struct imap_cte_decoder dec;
	const unsigned char *data;
	const char *text;
	size_t size;
	int ret;

	if (mail_section_stream_open(box, uid, &req, true, &stream) < 0) {
		if (mail_user_get_last_error(mailbox_get_user(box), &text,
					     NULL) == MAIL_ERROR_PARAMS)
			return 0;
		return -1;
	}
	buffer_t *out = buffer_create(system_pool, 8192);
	uint64_t total = 0;
	bool has_nul = false;

	imap_cte_decoder_init(&dec, cte);
	while ((ret = mail_section_stream_read(stream, &data, &size)) > 0) {
		imap_cte_decoder_more(&dec, data, size, out);
		total += out->used;
		if (!has_nul && memchr(out->data, '\0', out->used) != NULL)
			has_nul = true;
		buffer_set_used_size(out, 0);
	}
	imap_cte_decoder_finish(&dec, out);
	total += out->used;
	if (!has_nul && memchr(out->data, '\0', out->used) != NULL)
		has_nul = true;
	imap_cte_decoder_deinit(&dec);
	buffer_free(&out);
	mail_section_stream_close(&stream);
	i_assert(ret != 0);
	if (ret == -2)
		return -1;
	*size_r = total;
	*has_nul_r = has_nul;
	return 1;
}

/* --- PREVIEW --- */

static void html_entity(string_t *dest, const char *p, const char *end,
			const char **next_r)
{
	static const struct { const char *name; const char *text; } ents[] = {
		{ "amp;", "&" }, { "lt;", "<" }, { "gt;", ">" },
		{ "quot;", "\"" }, { "apos;", "'" }, { "nbsp;", " " },
	};
	for (unsigned int i = 0; i < N_ELEMENTS(ents); i++) {
		size_t len = strlen(ents[i].name);
		if ((size_t)(end - p) >= len &&
		    strncasecmp(p, ents[i].name, len) == 0) {
			str_append(dest, ents[i].text);
			*next_r = p + len;
			return;
		}
	}
	str_append_c(dest, '&');
	*next_r = p;
}

/* Visible text of HTML: tags removed, <style>, <script> and comments
   dropped, the common entities decoded. */
static const char *html_to_text(const char *html)
{
	string_t *out = t_str_new(strlen(html) / 2 + 16);
	const char *p = html, *end = html + strlen(html);

	while (p < end) {
		if (*p == '&') {
			html_entity(out, p + 1, end, &p);
			continue;
		}
		if (*p != '<') {
			str_append_c(out, *p++);
			continue;
		}
		if (strncmp(p, "<!--", 4) == 0) {
			const char *e = strstr(p + 4, "-->");
			p = e == NULL ? end : e + 3;
			continue;
		}
		const char *close = NULL;
		if (strncasecmp(p, "<style", 6) == 0)
			close = "</style";
		else if (strncasecmp(p, "<script", 7) == 0)
			close = "</script";
		if (close != NULL) {
			const char *e = p;
			size_t clen = strlen(close);
			while ((e = strchr(e + 1, '<')) != NULL &&
			       strncasecmp(e, close, clen) != 0) ;
			p = e == NULL ? end : e;
		}
		const char *gt = strchr(p, '>');
		/* block-level tags separate words */
		str_append_c(out, ' ');
		p = gt == NULL ? end : gt + 1;
	}
	return str_c(out);
}

const char *imap_preview_from_text(const void *data, size_t size,
				   const char *charset, bool html)
{
	buffer_t *utf8 = buffer_create(pool_datastack, size + 16);
	const char *text;

	(void)charset_to_utf8_str(charset, data, size, utf8);
	/* NULs would end the C string early; they are not text anyway */
	for (size_t i = 0; i < utf8->used; i++) {
		if (((char *)utf8->data)[i] == '\0')
			((char *)utf8->data)[i] = ' ';
	}
	text = t_strndup(utf8->data, utf8->used);
	if (html)
		text = html_to_text(text);

	/* collapse whitespace (and control characters) to single spaces,
	   count characters, not bytes */
	string_t *out = t_str_new(PREVIEW_MAX_CHARS * 2);
	unsigned int chars = 0;
	bool space = true;
	const unsigned char *p = (const unsigned char *)text;
	size_t left = strlen(text);
	while (left > 0 && chars < PREVIEW_MAX_CHARS) {
		if (*p < 0x20 || *p == ' ' || *p == 0x7f) {
			if (!space) {
				str_append_c(out, ' ');
				chars++;
				space = true;
			}
			p++;
			left--;
			continue;
		}
		int len = charset_utf8_seq_len(p, left);
		if (len <= 0) {
			/* cut off at the end of what was read */
			break;
		}
		str_append_data(out, p, (size_t)len);
		p += len;
		left -= (size_t)len;
		chars++;
		space = false;
	}
	size_t olen = str_len(out);
	while (olen > 0 && str_c(out)[olen - 1] == ' ')
		olen--;
	return t_strndup(str_c(out), olen);
}

/* The first text/plain or text/html leaf, depth first. */
static int preview_find(struct mailbox *box, uint32_t uid,
			struct message_part *part, pool_t pool,
			const char **number_r,
			const struct message_part_data **data_r, bool *html_r)
{
	for (; part != NULL; part = part->next) {
		if (part->children != NULL) {
			int ret = preview_find(box, uid, part->children, pool,
					       number_r, data_r, html_r);
			if (ret != 0)
				return ret;
			continue;
		}
		if ((part->flags & (MESSAGE_PART_FLAG_MULTIPART |
				    MESSAGE_PART_FLAG_MESSAGE_RFC822)) != 0 ||
		    (part->flags & MESSAGE_PART_FLAG_TEXT) == 0)
			continue;
		const char *number = message_part_get_number(part);
		if (*number == '\0')
			number = "1";
		const struct message_part_data *data;
		int ret = part_get_data(box, uid, number, pool, &data);
		if (ret < 0)
			return -1;
		if (ret == 0)
			continue;
		const char *type = data->content_type, *sub = data->content_subtype;
		if (type == NULL || (strcasecmp(type, "text") == 0 &&
				     strcasecmp(sub, "plain") == 0)) {
			*html_r = false;
		} else if (strcasecmp(type, "text") == 0 &&
			   strcasecmp(sub, "html") == 0) {
			*html_r = true;
		} else {
			continue;
		}
		/* an attachment is not the message's text */
		if (data->content_disposition != NULL &&
		    strcasecmp(data->content_disposition, "attachment") == 0)
			continue;
		*number_r = p_strdup(pool, number);
		*data_r = data;
		return 1;
	}
	return 0;
}

int imap_fetch_preview(struct mailbox *box, uint32_t uid,
		       const unsigned char *parts, size_t parts_size,
		       const char **preview_r)
{
	const struct message_part_data *data = NULL;
	const char *number = NULL, *error;
	bool html = false;
	int ret;

	if (parts == NULL) {
		/* mailbox_fetch_records() fills the cache: not reached */
		*preview_r = "";
		return 0;
	}
	pool_t pool = pool_alloconly_create("fetch preview", 4096);
	struct message_part *root = mail_parts_deserialize(pool, parts,
							   parts_size, &error);
	if (root == NULL) {
		e_warning(mail_user_get_event(mailbox_get_user(box)),
			  "Mailbox %s UID %u: broken part tree (%s): no preview",
			  mailbox_get_name(box), uid, error);
		pool_unref(&pool);
		*preview_r = "";
		return 0;
	}
	ret = preview_find(box, uid, root, pool, &number, &data, &html);
	if (ret <= 0) {
		pool_unref(&pool);
		*preview_r = "";
		return ret;
	}

	struct mail_section_request req = {
		.section = number, .partial_size = PREVIEW_READ_BYTES,
	};
	buffer_t *raw = buffer_create(pool_datastack, 1024);
	if (mail_fetch_section_sync(box, uid, &req, raw) < 0) {
		pool_unref(&pool);
		return -1;
	}
	buffer_t *decoded = buffer_create(pool_datastack, raw->used + 16);
	struct imap_cte_decoder dec;
	enum imap_cte cte = cte_parse(data->content_transfer_encoding);
	imap_cte_decoder_init(&dec, cte == IMAP_CTE_UNKNOWN ?
			      IMAP_CTE_IDENTITY : cte);
	imap_cte_decoder_more(&dec, raw->data, raw->used, decoded);
	imap_cte_decoder_finish(&dec, decoded);
	imap_cte_decoder_deinit(&dec);
	const char *charset = message_part_param_get(data->content_type_params,
		data->content_type_params_count, "charset");
	*preview_r = imap_preview_from_text(decoded->data, decoded->used,
		charset != NULL ? charset : MESSAGE_PART_DEFAULT_CHARSET, html);
	pool_unref(&pool);
	return 0;
}
