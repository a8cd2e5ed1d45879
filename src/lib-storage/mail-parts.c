/* Serialized part trees: each part in pre-order as fixed little-endian
   fields followed by the number of its direct children; a version byte
   first. Parsing checks every count and size, so a corrupted cache entry
   is refused (and the message parsed again) rather than trusted. */
#include "lib.h"
#include "message-part.h"
#include "mail-parts.h"
#include <strings.h>

#define MAIL_PARTS_VERSION 1
/* pos, header (phys, virt, lines), body (phys, virt, lines), flags,
   children */
#define MAIL_PARTS_REC_SIZE (8 + 8 + 8 + 4 + 8 + 8 + 4 + 4 + 4)
/* deeper than any message the parser builds (its nesting limit is 100) */
#define MAIL_PARTS_MAX_DEPTH 1000

static const char *const mail_cached_headers[] = {
	"Date", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject",
	"Message-ID", "In-Reply-To", "References", "Content-Type",
	"Priority", "X-Priority", "Importance", "List-Id", "List-Post",
	"X-Spam-Flag", "Newsgroups",
};

bool mail_cached_header_is_cached(const char *name)
{
	for (unsigned int i = 0; i < N_ELEMENTS(mail_cached_headers); i++) {
		if (strcasecmp(name, mail_cached_headers[i]) == 0)
			return true;
	}
	return false;
}

bool mail_cached_headers_cover(const char *const *fields)
{
	for (; *fields != NULL; fields++) {
		if (!mail_cached_header_is_cached(*fields))
			return false;
	}
	return true;
}

static void put_u64(buffer_t *dest, uint64_t v)
{
	unsigned char b[8];
	for (unsigned int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (i * 8));
	buffer_append(dest, b, 8);
}

static void put_u32(buffer_t *dest, uint32_t v)
{
	unsigned char b[4];
	for (unsigned int i = 0; i < 4; i++)
		b[i] = (unsigned char)(v >> (i * 8));
	buffer_append(dest, b, 4);
}

static void mail_parts_serialize_part(const struct message_part *part,
				      buffer_t *dest)
{
	const struct message_part *child;
	uint32_t children = 0;

	for (child = part->children; child != NULL; child = child->next)
		children++;
	put_u64(dest, part->physical_pos);
	put_u64(dest, part->header_size.physical_size);
	put_u64(dest, part->header_size.virtual_size);
	put_u32(dest, part->header_size.lines);
	put_u64(dest, part->body_size.physical_size);
	put_u64(dest, part->body_size.virtual_size);
	put_u32(dest, part->body_size.lines);
	put_u32(dest, (uint32_t)part->flags);
	put_u32(dest, children);
	for (child = part->children; child != NULL; child = child->next)
		mail_parts_serialize_part(child, dest);
}

void mail_parts_serialize(const struct message_part *root, buffer_t *dest)
{
	buffer_append_c(dest, MAIL_PARTS_VERSION);
	mail_parts_serialize_part(root, dest);
}

struct parts_reader {
	pool_t pool;
	const unsigned char *p, *end;
	const char *error;
};

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (unsigned int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (i * 8);
	return v;
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;
	for (unsigned int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (i * 8);
	return v;
}

static struct message_part *
mail_parts_read(struct parts_reader *r, struct message_part *parent,
		unsigned int depth)
{
	if (depth > MAIL_PARTS_MAX_DEPTH) {
		r->error = "too deep";
		return NULL;
	}
	if ((size_t)(r->end - r->p) < MAIL_PARTS_REC_SIZE) {
		r->error = "truncated";
		return NULL;
	}
	struct message_part *part = p_new(r->pool, struct message_part, 1);
	const unsigned char *p = r->p;
	part->parent = parent;
	part->physical_pos = get_u64(p);
	part->header_size.physical_size = get_u64(p + 8);
	part->header_size.virtual_size = get_u64(p + 16);
	part->header_size.lines = get_u32(p + 24);
	part->body_size.physical_size = get_u64(p + 28);
	part->body_size.virtual_size = get_u64(p + 36);
	part->body_size.lines = get_u32(p + 44);
	part->flags = (enum message_part_flags)get_u32(p + 48);
	uint32_t children = get_u32(p + 52);
	r->p += MAIL_PARTS_REC_SIZE;

	uint64_t end = message_part_end(part);
	if (end < part->physical_pos) {
		r->error = "sizes overflow";
		return NULL;
	}
	struct message_part **next = &part->children;
	for (uint32_t i = 0; i < children; i++) {
		struct message_part *child = mail_parts_read(r, part, depth + 1);
		if (child == NULL)
			return NULL;
		if (child->physical_pos < part->physical_pos ||
		    message_part_end(child) > end) {
			r->error = "child outside its parent";
			return NULL;
		}
		part->children_count += 1 + child->children_count;
		*next = child;
		next = &child->next;
	}
	return part;
}

struct message_part *mail_parts_deserialize(pool_t pool, const void *data,
					    size_t size, const char **error_r)
{
	struct parts_reader r = {
		.pool = pool, .p = data, .end = (const unsigned char *)data + size,
	};

	if (size < 1 || r.p[0] != MAIL_PARTS_VERSION) {
		*error_r = "unknown part tree version";
		return NULL;
	}
	r.p++;
	struct message_part *root = mail_parts_read(&r, NULL, 0);
	if (root != NULL && r.p != r.end)
		r.error = "trailing bytes";
	if (r.error != NULL) {
		*error_r = r.error;
		return NULL;
	}
	return root;
}
