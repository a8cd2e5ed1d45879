/* Address list parsing for ENVELOPE and SEARCH. The grammar is RFC 5322's
   with its obsolete forms; where the input is broken, the choices (what
   becomes a name, what is "MISSING_DOMAIN") follow Dovecot's so that a
   client sees the same ENVELOPE from both servers. */
#include "message-address.h"
#include "rfc822-parser.h"
#include "charset-utf8.h"

struct address_parser {
	pool_t pool;
	struct rfc822_parser p;
	string_t *str;
	struct message_address *head, *tail;
	/* the address being built */
	struct message_address addr;
	bool fill_missing;
};

static const char *addr_strdup(struct address_parser *ctx, const string_t *str)
{
	const unsigned char *data = str->data;

	if (memchr(data, '\0', str->used) == NULL)
		return p_strndup(ctx->pool, data, str->used);
	/* NULs cannot go into C strings: show them as U+FFFD */
	string_t *fixed = t_str_new(str->used + 8);
	for (size_t i = 0; i < str->used; i++) {
		if (data[i] == '\0')
			str_append(fixed, UNICODE_REPLACEMENT_CHAR_UTF8);
		else
			str_append_c(fixed, data[i]);
	}
	return p_strdup(ctx->pool, str_c(fixed));
}

static void addr_push(struct address_parser *ctx)
{
	struct message_address *addr =
		p_new(ctx->pool, struct message_address, 1);

	*addr = ctx->addr;
	memset(&ctx->addr, 0, sizeof(ctx->addr));
	if (ctx->head == NULL)
		ctx->head = addr;
	else
		ctx->tail->next = addr;
	ctx->tail = addr;
}

/* Fill in what an address must have before it is added. */
static void addr_push_fixed(struct address_parser *ctx)
{
	if (ctx->addr.mailbox == NULL) {
		ctx->addr.mailbox = ctx->fill_missing ? "MISSING_MAILBOX" : "";
		ctx->addr.invalid_syntax = true;
	}
	if (ctx->addr.domain == NULL || ctx->addr.domain[0] == '\0') {
		ctx->addr.domain = ctx->fill_missing ? "MISSING_DOMAIN" : "";
		ctx->addr.invalid_syntax = true;
	}
	addr_push(ctx);
}

static int parse_local_part(struct address_parser *ctx)
{
	int ret;

	/* local-part = dot-atom / quoted-string / obs-local-part */
	str_truncate(ctx->str, 0);
	if (ctx->p.data < ctx->p.end && *ctx->p.data == '"')
		ret = rfc822_parse_quoted_string(&ctx->p, ctx->str);
	else
		ret = rfc822_parse_dot_atom_lenient(&ctx->p, ctx->str);
	if (ret < 0)
		return -1;
	ctx->addr.mailbox = addr_strdup(ctx, ctx->str);
	return ret;
}

static int parse_domain(struct address_parser *ctx)
{
	int ret;

	str_truncate(ctx->str, 0);
	if ((ret = rfc822_parse_domain(&ctx->p, ctx->str)) < 0)
		return -1;
	ctx->addr.domain = addr_strdup(ctx, ctx->str);
	return ret;
}

/* obs-domain-list = "@" domain *(*(CFWS / ",") [CFWS] "@" domain) */
static int parse_route(struct address_parser *ctx)
{
	int ret;

	str_truncate(ctx->str, 0);
	while (ctx->p.data < ctx->p.end && *ctx->p.data == '@') {
		if (str_len(ctx->str) > 0)
			str_append_c(ctx->str, ',');
		str_append_c(ctx->str, '@');
		if ((ret = rfc822_parse_domain(&ctx->p, ctx->str)) <= 0)
			return ret;
		while (rfc822_skip_lwsp(&ctx->p) > 0 && *ctx->p.data == ',')
			ctx->p.data++;
	}
	if (ctx->p.data >= ctx->p.end)
		return 0;
	ctx->addr.route = addr_strdup(ctx, ctx->str);
	return 1;
}

/* "<" [route ":"] [addr-spec] ">" */
static int parse_angle_addr(struct address_parser *ctx)
{
	i_assert(*ctx->p.data == '<');
	ctx->p.data++;
	if (rfc822_skip_lwsp(&ctx->p) <= 0)
		return -1;

	if (*ctx->p.data == '@') {
		if (parse_route(ctx) > 0 && *ctx->p.data == ':') {
			ctx->p.data++;
		} else {
			if (ctx->fill_missing)
				ctx->addr.route = "INVALID_ROUTE";
			if (ctx->p.data >= ctx->p.end)
				return -1;
			/* go on with what follows anyway */
		}
		if (rfc822_skip_lwsp(&ctx->p) <= 0)
			return -1;
	}
	if (*ctx->p.data != '>') {
		/* "<>" is left without mailbox and domain */
		if (parse_local_part(ctx) <= 0)
			return -1;
		if (*ctx->p.data == '@' && parse_domain(ctx) <= 0)
			return -1;
	}
	if (*ctx->p.data != '>')
		return -1;
	ctx->p.data++;
	return rfc822_skip_lwsp(&ctx->p);
}

/* name-addr = [display-name] angle-addr */
static int parse_name_addr(struct address_parser *ctx)
{
	str_truncate(ctx->str, 0);
	if (rfc822_parse_phrase(&ctx->p, ctx->str) <= 0 ||
	    *ctx->p.data != '<')
		return -1;

	if (str_len(ctx->str) > 0)
		ctx->addr.name = addr_strdup(ctx, ctx->str);
	if (parse_angle_addr(ctx) < 0) {
		if (ctx->fill_missing)
			ctx->addr.domain = "SYNTAX_ERROR";
		ctx->addr.invalid_syntax = true;
	}
	return ctx->p.data < ctx->p.end ? 1 : 0;
}

/* addr-spec = local-part "@" domain, with a comment as the name */
static int parse_addr_spec(struct address_parser *ctx)
{
	bool quoted = *ctx->p.data == '"';
	int ret, domain_ret = -2;

	str_truncate(ctx->p.last_comment, 0);
	ret = parse_local_part(ctx);
	if (ret <= 0)
		ctx->addr.invalid_syntax = true;
	if (ret != 0 && ctx->p.data < ctx->p.end && *ctx->p.data == '@') {
		domain_ret = parse_domain(ctx);
		if (domain_ret <= 0)
			ret = domain_ret;
	}

	if (str_len(ctx->p.last_comment) > 0) {
		ctx->addr.name = addr_strdup(ctx, ctx->p.last_comment);
	} else if (domain_ret == -2) {
		/* no "@domain" and no comment: a lone word is taken as the
		   mailbox, but words after it make it all a display name
		   ("To: Mary Smith") */
		str_append_c(ctx->str, ' ');
		size_t len = str_len(ctx->str);
		(void)rfc822_parse_phrase(&ctx->p, ctx->str);
		if (str_len(ctx->str) != len) {
			ctx->addr.mailbox = NULL;
			ctx->addr.name = addr_strdup(ctx, ctx->str);
		} else if (!quoted) {
			ctx->addr.domain = "";
		}
		ctx->addr.invalid_syntax = true;
		ret = -1;
	}
	return ret;
}

/* mailbox = name-addr / addr-spec */
static int parse_mailbox(struct address_parser *ctx)
{
	const unsigned char *start = ctx->p.data;
	int ret;

	if ((ret = parse_name_addr(ctx)) < 0) {
		ctx->p.data = start;
		ret = parse_addr_spec(ctx);
		if (ctx->addr.invalid_syntax && ctx->addr.name == NULL &&
		    ctx->addr.mailbox != NULL && ctx->addr.domain == NULL) {
			/* a lone quoted string: that is a name */
			ctx->addr.name = ctx->addr.mailbox;
			ctx->addr.mailbox = NULL;
		}
	}
	if (ret < 0)
		ctx->addr.invalid_syntax = true;
	addr_push_fixed(ctx);
	return ret;
}

/* group = display-name ":" [mailbox-list / CFWS] ";" [CFWS] */
static int parse_group(struct address_parser *ctx)
{
	int ret;

	str_truncate(ctx->str, 0);
	if (rfc822_parse_phrase(&ctx->p, ctx->str) <= 0 ||
	    *ctx->p.data != ':')
		return -1;

	/* it is a group now, whatever follows */
	ctx->p.data++;
	if ((ret = rfc822_skip_lwsp(&ctx->p)) <= 0)
		ctx->addr.invalid_syntax = true;
	ctx->addr.mailbox = addr_strdup(ctx, ctx->str);
	addr_push(ctx);

	if (ret > 0 && *ctx->p.data != ';') {
		for (;;) {
			/* a broken member does not end the group */
			(void)parse_mailbox(ctx);
			if (ctx->p.data >= ctx->p.end || *ctx->p.data != ',')
				break;
			ctx->p.data++;
			if (rfc822_skip_lwsp(&ctx->p) <= 0) {
				ret = -1;
				break;
			}
		}
	}
	if (ret >= 0) {
		if (ctx->p.data >= ctx->p.end || *ctx->p.data != ';')
			ret = -1;
		else {
			ctx->p.data++;
			ret = rfc822_skip_lwsp(&ctx->p);
		}
	}
	if (ret < 0)
		ctx->addr.invalid_syntax = true;
	/* the end-of-group marker */
	addr_push(ctx);
	return ret == 0 ? 0 : 1;
}

static int parse_address(struct address_parser *ctx)
{
	const unsigned char *start = ctx->p.data;
	int ret;

	if ((ret = parse_group(ctx)) < 0) {
		ctx->p.data = start;
		ret = parse_mailbox(ctx);
	}
	return ret;
}

static void parse_address_list(struct address_parser *ctx,
			       unsigned int max_addresses)
{
	int ret;

	while (max_addresses-- > 0) {
		if (parse_address(ctx) == 0)
			break;
		if (ctx->p.data >= ctx->p.end || *ctx->p.data != ',')
			break;
		ctx->p.data++;
		if ((ret = rfc822_skip_lwsp(&ctx->p)) <= 0) {
			if (ret < 0) {
				/* ends in an unterminated comment */
				addr_push_fixed(ctx);
			}
			break;
		}
	}
}

static void message_address_parse_list(struct address_parser *ctx,
				       const void *data, size_t size,
				       unsigned int max_addresses)
{
	ctx->str = t_str_new(128);
	rfc822_parser_init(&ctx->p, data, size, t_str_new(64));
	if (rfc822_skip_lwsp(&ctx->p) > 0)
		parse_address_list(ctx, max_addresses);
}

struct message_address *
message_address_parse(pool_t pool, const void *data, size_t size,
		      unsigned int max_addresses,
		      enum message_address_parse_flags flags)
{
	struct address_parser ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.pool = pool;
	ctx.fill_missing =
		(flags & MESSAGE_ADDRESS_PARSE_FLAG_FILL_MISSING) != 0;
	if (pool == pool_datastack) {
		/* the result lives on the data stack: no frame of our own */
		message_address_parse_list(&ctx, data, size, max_addresses);
	} else T_BEGIN {
		message_address_parse_list(&ctx, data, size, max_addresses);
	} T_END;
	return ctx.head;
}

static bool addr_needs_quotes(const char *str)
{
	for (; *str != '\0'; str++) {
		if (!RFC822_IS_ATEXT(*str) && *str != ' ' && *str != '.')
			return true;
	}
	return false;
}

static void addr_append_quoted(string_t *dest, const char *str, bool is_name)
{
	/* a phrase may have spaces but not dots; a local part the reverse */
	bool quote = addr_needs_quotes(str) ||
		strchr(str, is_name ? '.' : ' ') != NULL;

	/* encoded words must stay outside quotes to be decoded */
	if (!quote || (is_name && strstr(str, "=?") != NULL)) {
		str_append(dest, str);
		return;
	}
	str_append_c(dest, '"');
	for (; *str != '\0'; str++) {
		if (*str == '"' || *str == '\\')
			str_append_c(dest, '\\');
		str_append_c(dest, *str);
	}
	str_append_c(dest, '"');
}

void message_address_write(string_t *str, const struct message_address *addr)
{
	bool first = true, in_group = false;

	for (; addr != NULL; addr = addr->next) {
		if (addr->domain == NULL) {
			if (!in_group) {
				if (!first)
					str_append(str, ", ");
				if (addr->mailbox != NULL &&
				    addr->mailbox[0] != '\0')
					addr_append_quoted(str, addr->mailbox,
							   true);
				else
					str_append(str, "\"\"");
				str_append(str, ":");
				first = true;
			} else {
				str_append_c(str, ';');
				first = false;
			}
			in_group = !in_group;
			continue;
		}
		str_append(str, first ? (in_group ? " " : "") : ", ");
		first = false;
		if (addr->name != NULL && addr->name[0] != '\0') {
			addr_append_quoted(str, addr->name, true);
			str_append_c(str, ' ');
		}
		bool angle = addr->name != NULL || addr->route != NULL;
		if (angle)
			str_append_c(str, '<');
		if (addr->route != NULL) {
			str_append(str, addr->route);
			str_append_c(str, ':');
		}
		if (addr->mailbox != NULL)
			addr_append_quoted(str, addr->mailbox, false);
		if (addr->domain[0] != '\0') {
			str_append_c(str, '@');
			str_append(str, addr->domain);
		}
		if (angle)
			str_append_c(str, '>');
	}
}
