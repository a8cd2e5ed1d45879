/* Parsing of the Content-* fields and envelope fields of each part as its
   header streams past. The details (first Content-* field wins, last
   envelope field wins, a broken Content-Type kept as far as it parsed,
   Content-* forgotten without MIME) follow Dovecot, whose BODYSTRUCTURE and
   ENVELOPE clients are used to. */
#include "message-part-data.h"
#include "message-address.h"
#include "rfc822-parser.h"
#include "rfc2231-parser.h"
#include "charset-utf8.h"

const char *message_header_strdup(pool_t pool, const void *_data, size_t size)
{
	const unsigned char *data = _data;

	if (memchr(data, '\0', size) == NULL)
		return p_strndup(pool, data, size);
	string_t *str = str_new(pool, size + 8);
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\0')
			str_append(str, UNICODE_REPLACEMENT_CHAR_UTF8);
		else
			str_append_c(str, data[i]);
	}
	return str_c(str);
}

const char *
message_part_param_get(const struct message_part_param *params,
		       unsigned int count, const char *name)
{
	for (unsigned int i = 0; i < count; i++) {
		if (strcasecmp(params[i].name, name) == 0)
			return params[i].value;
	}
	return NULL;
}

bool message_part_envelope_add_header(pool_t pool,
				      struct message_part_envelope **_env,
				      const struct message_header_field *hdr)
{
	struct message_address **addr_p = NULL;
	const char **str_p = NULL;
	struct message_part_envelope *env;
	const char *name = hdr->name;

	if (*_env == NULL)
		*_env = p_new(pool, struct message_part_envelope, 1);
	env = *_env;

	switch (name[0]) {
	case 'B': case 'b':
		if (strcasecmp(name, "Bcc") == 0)
			addr_p = &env->bcc;
		break;
	case 'C': case 'c':
		if (strcasecmp(name, "Cc") == 0)
			addr_p = &env->cc;
		break;
	case 'D': case 'd':
		if (strcasecmp(name, "Date") == 0)
			str_p = &env->date;
		break;
	case 'F': case 'f':
		if (strcasecmp(name, "From") == 0)
			addr_p = &env->from;
		break;
	case 'I': case 'i':
		if (strcasecmp(name, "In-Reply-To") == 0)
			str_p = &env->in_reply_to;
		break;
	case 'M': case 'm':
		if (strcasecmp(name, "Message-ID") == 0)
			str_p = &env->message_id;
		break;
	case 'R': case 'r':
		if (strcasecmp(name, "Reply-To") == 0)
			addr_p = &env->reply_to;
		break;
	case 'S': case 's':
		if (strcasecmp(name, "Subject") == 0)
			str_p = &env->subject;
		else if (strcasecmp(name, "Sender") == 0)
			addr_p = &env->sender;
		break;
	case 'T': case 't':
		if (strcasecmp(name, "To") == 0)
			addr_p = &env->to;
		break;
	}
	if (addr_p != NULL) {
		/* a repeated address field adds to the list (Dovecot 2.3):
		   spam with 90 Cc: lines shows all of them */
		while (*addr_p != NULL)
			addr_p = &(*addr_p)->next;
		*addr_p = message_address_parse(pool, hdr->value,
			hdr->value_len, UINT_MAX,
			MESSAGE_ADDRESS_PARSE_FLAG_FILL_MISSING);
	} else if (str_p == &env->subject) {
		/* Dovecot keeps the folds as LFs, and a folded Subject is
		   then written as a literal; keep them too */
		string_t *str = t_str_new(hdr->value_len + 8);

		message_header_field_get_value_nl(hdr, str);
		*str_p = message_header_strdup(pool, str->data, str->used);
	} else if (str_p != NULL) {
		/* the last one counts */
		*str_p = message_header_strdup(pool, hdr->value,
					       hdr->value_len);
	} else {
		return false;
	}
	return true;
}

static void parse_params(struct rfc822_parser *parser, pool_t pool,
			 const struct message_part_param **params_r,
			 unsigned int *count_r)
{
	const char *const *results;
	unsigned int count;
	struct message_part_param *params;

	(void)rfc2231_parse(parser, &results);
	count = str_array_length(results) / 2;
	*count_r = count;
	if (count == 0)
		return;
	params = p_new(pool, struct message_part_param, count);
	for (unsigned int i = 0; i < count; i++) {
		params[i].name = p_strdup(pool, results[i * 2]);
		params[i].value = message_header_strdup(pool,
			results[i * 2 + 1], strlen(results[i * 2 + 1]));
	}
	*params_r = params;
}

static void parse_content_type(struct message_part_data *data, pool_t pool,
			       const struct message_header_field *hdr)
{
	struct rfc822_parser parser;
	string_t *str = t_str_new(64);
	const char *value, *slash;
	int ret;

	rfc822_parser_init(&parser, hdr->value, hdr->value_len, NULL);
	ret = rfc822_parse_content_type(&parser, str);
	value = str_c(str);
	slash = strchr(value, '/');
	if (slash == NULL) {
		data->content_type = p_strdup(pool, value);
		/* never leave the subtype NULL next to a type */
		data->content_subtype = "";
	} else {
		data->content_type = p_strndup(pool, value, slash - value);
		data->content_subtype = p_strdup(pool, slash + 1);
	}
	/* A broken type is kept as far as it parsed (so that the part is not
	   shown as text/plain while the parser treated it otherwise), but
	   parameters after it are not trusted. */
	if (ret >= 0) {
		parse_params(&parser, pool, &data->content_type_params,
			     &data->content_type_params_count);
	}
}

static void
parse_content_transfer_encoding(struct message_part_data *data, pool_t pool,
				const struct message_header_field *hdr)
{
	struct rfc822_parser parser;
	string_t *str = t_str_new(32);

	rfc822_parser_init(&parser, hdr->value, hdr->value_len, NULL);
	(void)rfc822_skip_lwsp(&parser);
	/* a single token and nothing else; otherwise it is as if missing */
	if (rfc822_parse_mime_token(&parser, str) >= 0 &&
	    rfc822_skip_lwsp(&parser) == 0 && str_len(str) > 0)
		data->content_transfer_encoding = p_strdup(pool, str_c(str));
}

static void parse_content_disposition(struct message_part_data *data,
				      pool_t pool,
				      const struct message_header_field *hdr)
{
	struct rfc822_parser parser;
	string_t *str = t_str_new(32);

	rfc822_parser_init(&parser, hdr->value, hdr->value_len, NULL);
	(void)rfc822_skip_lwsp(&parser);
	if (rfc822_parse_mime_token(&parser, str) < 0)
		return;
	data->content_disposition = p_strdup(pool, str_c(str));
	parse_params(&parser, pool, &data->content_disposition_params,
		     &data->content_disposition_params_count);
}

static void parse_content_language(struct message_part_data *data,
				   pool_t pool,
				   const struct message_header_field *hdr)
{
	struct rfc822_parser parser;
	ARRAY(const char *) langs;
	string_t *str = t_str_new(32);

	/* 1#Language-tag (RFC 3282); tags are atoms */
	rfc822_parser_init(&parser, hdr->value, hdr->value_len, NULL);
	array_init(&langs, pool_datastack, 4);
	(void)rfc822_skip_lwsp(&parser);
	while (rfc822_parse_atom(&parser, str) >= 0) {
		array_push(&langs, p_strdup(pool, str_c(str)));
		str_truncate(str, 0);
		if (parser.data >= parser.end || *parser.data != ',')
			break;
		parser.data++;
		(void)rfc822_skip_lwsp(&parser);
	}
	if (langs.count == 0)
		return;
	const char **list = p_new(pool, const char *, langs.count + 1);
	memcpy(list, langs.v, sizeof(*list) * langs.count);
	data->content_language = list;
}

static void parse_content_field(struct message_part_data *data, pool_t pool,
				const struct message_header_field *hdr)
{
	const char *name = hdr->name + 8;	/* after "Content-" */

	switch (name[0]) {
	case 'T': case 't':
		if (strcasecmp(name, "Type") == 0) {
			if (data->content_type == NULL)
				parse_content_type(data, pool, hdr);
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			if (data->content_transfer_encoding == NULL)
				parse_content_transfer_encoding(data, pool,
								hdr);
		}
		break;
	case 'I': case 'i':
		if (strcasecmp(name, "ID") == 0 && data->content_id == NULL)
			data->content_id = message_header_strdup(pool,
				hdr->value, hdr->value_len);
		break;
	case 'M': case 'm':
		if (strcasecmp(name, "MD5") == 0 && data->content_md5 == NULL)
			data->content_md5 = message_header_strdup(pool,
				hdr->value, hdr->value_len);
		break;
	case 'D': case 'd':
		if (strcasecmp(name, "Description") == 0) {
			if (data->content_description == NULL)
				data->content_description =
					message_header_strdup(pool, hdr->value,
							      hdr->value_len);
		} else if (strcasecmp(name, "Disposition") == 0) {
			/* Dovecot lets a later Content-Disposition replace
			   one without parameters; do the same so that
			   BODYSTRUCTURE matches */
			if (data->content_disposition_params == NULL)
				parse_content_disposition(data, pool, hdr);
		}
		break;
	case 'L': case 'l':
		if (strcasecmp(name, "Language") == 0) {
			if (data->content_language == NULL)
				parse_content_language(data, pool, hdr);
		} else if (strcasecmp(name, "Location") == 0) {
			if (data->content_location == NULL)
				data->content_location = message_header_strdup(
					pool, hdr->value, hdr->value_len);
		}
		break;
	}
}

void message_part_data_add_header(pool_t pool, struct message_part *part,
				  const struct message_header_field *hdr,
				  bool envelope)
{
	bool content = strncasecmp(hdr->name, "Content-", 8) == 0;

	if (!content && !envelope)
		return;
	if (part->data == NULL)
		part->data = p_new(pool, struct message_part_data, 1);
	if (content) T_BEGIN {
		parse_content_field(part->data, pool, hdr);
	} T_END;
	if (envelope)
		(void)message_part_envelope_add_header(pool,
			&part->data->envelope, hdr);
}

void message_part_data_header_end(pool_t pool, struct message_part *part)
{
	if (part->data == NULL) {
		part->data = p_new(pool, struct message_part_data, 1);
	} else if ((part->flags & MESSAGE_PART_FLAG_IS_MIME) == 0) {
		/* Content-* fields without MIME-Version or Content-Type do
		   not make a MIME part */
		struct message_part_envelope *env = part->data->envelope;

		memset(part->data, 0, sizeof(*part->data));
		part->data->envelope = env;
	}
}
