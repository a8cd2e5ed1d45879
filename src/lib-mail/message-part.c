/* Navigation in the part tree: IMAP part numbers to parts and back. */
#include "message-part.h"

uint64_t message_part_rfc822_size(const struct message_part *part)
{
	return part->header_size.virtual_size + part->body_size.virtual_size;
}

static bool part_is_message(const struct message_part *part)
{
	/* the root, or the message inside a message/rfc822 part */
	return part->parent == NULL ||
		(part->parent->flags & MESSAGE_PART_FLAG_MESSAGE_RFC822) != 0;
}

struct message_part *
message_part_find(struct message_part *root, const char *number,
		  const char **error_r)
{
	struct message_part *part = NULL, *container;
	const char *p = number;

	if (*p == '\0')
		return root;
	for (;;) {
		unsigned int n = 0;

		if (*p < '1' || *p > '9') {
			*error_r = "Invalid part number";
			return NULL;
		}
		for (; *p >= '0' && *p <= '9'; p++) {
			if (n > 100000) {
				*error_r = "Invalid part number";
				return NULL;
			}
			n = n * 10 + (*p - '0');
		}

		/* what the number counts in: the message itself, the
		   parts of the previous part, or its encapsulated message */
		if (part == NULL)
			container = root;
		else if ((part->flags &
			  MESSAGE_PART_FLAG_MESSAGE_RFC822) != 0 &&
			 part->children != NULL)
			container = part->children;
		else if ((part->flags & MESSAGE_PART_FLAG_MULTIPART) != 0)
			container = part;
		else {
			*error_r = "No such part";
			return NULL;
		}

		if ((container->flags & MESSAGE_PART_FLAG_MULTIPART) != 0) {
			part = container->children;
			for (; part != NULL && n > 1; n--)
				part = part->next;
		} else if (n == 1 && part_is_message(container)) {
			/* a message that is not multipart has one part,
			   its body */
			part = container;
		} else {
			part = NULL;
		}
		if (part == NULL) {
			*error_r = "No such part";
			return NULL;
		}
		if (*p == '\0')
			return part;
		if (*p != '.') {
			*error_r = "Invalid part number";
			return NULL;
		}
		p++;
	}
}

const char *message_part_get_number(const struct message_part *part)
{
	string_t *str = t_str_new(32);
	ARRAY(unsigned int) nums;

	array_init(&nums, pool_datastack, 8);
	for (; part->parent != NULL; part = part->parent) {
		const struct message_part *parent = part->parent;

		if ((parent->flags & MESSAGE_PART_FLAG_MULTIPART) != 0) {
			unsigned int n = 1;

			for (const struct message_part *s = parent->children;
			     s != part; s = s->next)
				n++;
			array_push(&nums, n);
		}
		/* the message inside message/rfc822 part N is numbered N
		   itself: nothing to add */
	}
	for (unsigned int i = nums.count; i > 0; i--) {
		if (str_len(str) > 0)
			str_append_c(str, '.');
		str_printfa(str, "%u", nums.v[i - 1]);
	}
	return str_c(str);
}
