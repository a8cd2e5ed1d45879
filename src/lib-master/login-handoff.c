/* Encoding of the login -> mail hand-off message with the IPC payload
   encoder: fixed field order, every length checked on decode. */
#include "lib.h"
#include "ipc.h"
#include "login-handoff.h"

/* Bumped whenever the layout changes, so a mail process from an older
   build rejects a newer login's message instead of misreading it (both
   can run side by side during an upgrade). */
#define LOGIN_HANDOFF_VERSION 1
#define LOGIN_HANDOFF_MAX_FIELDS 1000

static void put_ip(buffer_t *dest, const struct ip_addr *ip, in_port_t port)
{
	ipc_put_u8(dest, IPADDR_IS_V4(ip) ? 4 : (IPADDR_IS_V6(ip) ? 6 : 0));
	if (IPADDR_IS_V4(ip))
		ipc_put_blob(dest, &ip->u.ip4, sizeof(ip->u.ip4));
	else if (IPADDR_IS_V6(ip))
		ipc_put_blob(dest, &ip->u.ip6, sizeof(ip->u.ip6));
	ipc_put_u16(dest, port);
}

static bool read_ip(struct ipc_reader *r, struct ip_addr *ip_r,
		    in_port_t *port_r)
{
	memset(ip_r, 0, sizeof(*ip_r));
	uint8_t family = ipc_read_u8(r);
	const void *data;
	size_t size = 0;
	switch (family) {
	case 0:
		break;
	case 4:
		data = ipc_read_blob(r, &size);
		if (data == NULL || size != sizeof(ip_r->u.ip4))
			return false;
		ip_r->family = AF_INET;
		memcpy(&ip_r->u.ip4, data, size);
		break;
	case 6:
		data = ipc_read_blob(r, &size);
		if (data == NULL || size != sizeof(ip_r->u.ip6))
			return false;
		ip_r->family = AF_INET6;
		memcpy(&ip_r->u.ip6, data, size);
		break;
	default:
		return false;
	}
	*port_r = ipc_read_u16(r);
	return !ipc_reader_failed(r);
}

void login_handoff_encode(const struct login_handoff *h, buffer_t *dest)
{
	ipc_put_u8(dest, LOGIN_HANDOFF_VERSION);
	ipc_put_str(dest, h->protocol);
	ipc_put_str(dest, h->username);
	ipc_put_str(dest, h->session_id);
	put_ip(dest, &h->remote_ip, h->remote_port);
	put_ip(dest, &h->local_ip, h->local_port);
	ipc_put_u32(dest, h->flags);
	ipc_put_str(dest, h->tls_info == NULL ? "" : h->tls_info);
	ipc_put_str(dest, h->tag == NULL ? "" : h->tag);
	unsigned int count = h->auth_fields == NULL ? 0 :
		str_array_length(h->auth_fields);
	i_assert(count <= LOGIN_HANDOFF_MAX_FIELDS);
	ipc_put_u32(dest, count);
	for (unsigned int i = 0; i < count; i++)
		ipc_put_str(dest, h->auth_fields[i]);
	i_assert(h->preread_size <= LOGIN_HANDOFF_MAX_PREREAD);
	ipc_put_blob(dest, h->preread, h->preread_size);
}

static const char *read_string(struct ipc_reader *r, pool_t pool, bool *nul_r)
{
	size_t len;
	const char *str = ipc_read_str(r, &len);
	if (str == NULL)
		return "";
	/* a NUL inside would make the C string shorter than the field:
	   nothing legitimate carries one */
	if (strlen(str) != len)
		*nul_r = true;
	return p_strndup(pool, str, len);
}

/* The words a decoder's shared checks use for its own fields. */
struct decode_tail_errors {
	/* the final blob is over LOGIN_HANDOFF_MAX_PREREAD */
	const char *blob_too_large;
	/* the field that names the session is empty */
	const char *name_empty;
};

static const struct decode_tail_errors handoff_tail_errors = {
	.blob_too_large = "pre-read input too large",
	.name_empty = "empty user name",
};
static const struct decode_tail_errors handback_tail_errors = {
	.blob_too_large = "pending input too large",
	.name_empty = "empty session id",
};

/* Both messages end with the client's unprocessed input as a blob. Read
   it, make sure the payload ended there, then run the checks both
   decoders share: no NUL in a string field (nul, as read_string() left
   it), only known flags, the blob's size, and a non-empty name. The blob
   is copied into pool. Returns 0, or -1 with *error_r. */
static int decode_tail(struct ipc_reader *r, pool_t pool, bool nul,
		       uint32_t flags, const char *name,
		       const struct decode_tail_errors *errors,
		       const unsigned char **blob_r, size_t *blob_size_r,
		       const char **error_r)
{
	size_t blob_size = 0;
	const void *blob = ipc_read_blob(r, &blob_size);

	if (ipc_reader_finish(r, error_r) < 0)
		return -1;
	if (nul) {
		*error_r = "NUL inside a string field";
		return -1;
	}
	if ((flags & ~LOGIN_HANDOFF_FLAGS_KNOWN) != 0) {
		*error_r = t_strdup_printf("unknown flags 0x%x", flags);
		return -1;
	}
	if (blob_size > LOGIN_HANDOFF_MAX_PREREAD) {
		*error_r = errors->blob_too_large;
		return -1;
	}
	if (name[0] == '\0') {
		*error_r = errors->name_empty;
		return -1;
	}
	*blob_r = p_memdup(pool, blob == NULL ? "" : blob, blob_size);
	*blob_size_r = blob_size;
	return 0;
}

int login_handoff_decode(const void *data, size_t size, pool_t pool,
			 struct login_handoff *h, const char **error_r)
{
	struct ipc_reader r;
	bool nul = false;
	memset(h, 0, sizeof(*h));
	ipc_reader_init(&r, data, size);

	uint8_t version = ipc_read_u8(&r);
	if (!ipc_reader_failed(&r) && version != LOGIN_HANDOFF_VERSION) {
		*error_r = t_strdup_printf("unsupported hand-off version %u",
					   version);
		return -1;
	}
	h->protocol = read_string(&r, pool, &nul);
	h->username = read_string(&r, pool, &nul);
	h->session_id = read_string(&r, pool, &nul);
	if (!read_ip(&r, &h->remote_ip, &h->remote_port) ||
	    !read_ip(&r, &h->local_ip, &h->local_port)) {
		*error_r = "invalid address";
		return -1;
	}
	h->flags = ipc_read_u32(&r);
	h->tls_info = read_string(&r, pool, &nul);
	h->tag = read_string(&r, pool, &nul);
	uint32_t count = ipc_read_u32(&r);
	if (ipc_reader_failed(&r) || count > LOGIN_HANDOFF_MAX_FIELDS) {
		*error_r = "truncated message or too many fields";
		return -1;
	}
	const char **fields = p_new(pool, const char *, count + 1);
	for (uint32_t i = 0; i < count; i++)
		fields[i] = read_string(&r, pool, &nul);
	h->auth_fields = fields;
	return decode_tail(&r, pool, nul, h->flags, h->username,
			   &handoff_tail_errors, &h->preread,
			   &h->preread_size, error_r);
}

void login_handoff_reply_encode(const struct login_handoff_reply *reply,
				buffer_t *dest)
{
	ipc_put_u8(dest, LOGIN_HANDOFF_VERSION);
	ipc_put_u8(dest, (uint8_t)reply->status);
	ipc_put_str(dest, reply->reason == NULL ? "" : reply->reason);
}

int login_handoff_reply_decode(const void *data, size_t size,
			       struct login_handoff_reply *reply_r,
			       const char **error_r)
{
	struct ipc_reader r;
	size_t len;

	memset(reply_r, 0, sizeof(*reply_r));
	ipc_reader_init(&r, data, size);
	uint8_t version = ipc_read_u8(&r);
	uint8_t status = ipc_read_u8(&r);
	reply_r->reason = ipc_read_str(&r, &len);
	if (ipc_reader_finish(&r, error_r) < 0)
		return -1;
	if (version != LOGIN_HANDOFF_VERSION) {
		*error_r = t_strdup_printf("unsupported hand-off version %u",
					   version);
		return -1;
	}
	if (status > LOGIN_HANDOFF_STATUS_MAX) {
		*error_r = t_strdup_printf("unknown status %u", status);
		return -1;
	}
	/* the reason goes to a client inside one protocol line */
	if (strlen(reply_r->reason) != len ||
	    strpbrk(reply_r->reason, "\r\n") != NULL) {
		*error_r = "control characters in the reason";
		return -1;
	}
	reply_r->status = status;
	return 0;
}

/* --- the hand-back --- */

void login_handback_encode(const struct login_handback *hb, buffer_t *dest)
{
	ipc_put_u8(dest, LOGIN_HANDOFF_VERSION);
	ipc_put_str(dest, hb->protocol);
	ipc_put_str(dest, hb->session_id);
	ipc_put_str(dest, hb->tag == NULL ? "" : hb->tag);
	ipc_put_u32(dest, hb->flags);
	put_ip(dest, &hb->remote_ip, hb->remote_port);
	put_ip(dest, &hb->local_ip, hb->local_port);
	i_assert(hb->input_size <= LOGIN_HANDOFF_MAX_PREREAD);
	ipc_put_blob(dest, hb->input, hb->input_size);
}

/* A tag goes back to the client in "tag OK": IMAP's tag characters only
   (no controls, spaces or 8-bit), never empty. */
static bool tag_is_valid(const char *tag)
{
	if (*tag == '\0')
		return false;
	for (; *tag != '\0'; tag++) {
		unsigned char c = (unsigned char)*tag;
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\+", c) != NULL)
			return false;
	}
	return true;
}

int login_handback_decode(const void *data, size_t size, pool_t pool,
			  struct login_handback *hb, const char **error_r)
{
	struct ipc_reader r;
	bool nul = false;

	memset(hb, 0, sizeof(*hb));
	ipc_reader_init(&r, data, size);
	uint8_t version = ipc_read_u8(&r);
	if (!ipc_reader_failed(&r) && version != LOGIN_HANDOFF_VERSION) {
		*error_r = t_strdup_printf("unsupported hand-back version %u",
					   version);
		return -1;
	}
	hb->protocol = read_string(&r, pool, &nul);
	hb->session_id = read_string(&r, pool, &nul);
	hb->tag = read_string(&r, pool, &nul);
	hb->flags = ipc_read_u32(&r);
	if (!read_ip(&r, &hb->remote_ip, &hb->remote_port) ||
	    !read_ip(&r, &hb->local_ip, &hb->local_port)) {
		*error_r = "invalid address";
		return -1;
	}
	if (decode_tail(&r, pool, nul, hb->flags, hb->session_id,
			&handback_tail_errors, &hb->input, &hb->input_size,
			error_r) < 0)
		return -1;
	if (!tag_is_valid(hb->tag)) {
		*error_r = "invalid tag";
		return -1;
	}
	return 0;
}

void login_handback_begin_encode(const char *session_id, buffer_t *dest)
{
	ipc_put_u8(dest, LOGIN_HANDOFF_VERSION);
	ipc_put_str(dest, session_id);
}

int login_handback_begin_decode(const void *data, size_t size,
				const char **session_id_r,
				const char **error_r)
{
	struct ipc_reader r;
	size_t len;

	ipc_reader_init(&r, data, size);
	uint8_t version = ipc_read_u8(&r);
	*session_id_r = ipc_read_str(&r, &len);
	if (ipc_reader_finish(&r, error_r) < 0)
		return -1;
	if (version != LOGIN_HANDOFF_VERSION) {
		*error_r = t_strdup_printf("unsupported hand-back version %u",
					   version);
		return -1;
	}
	if (len == 0 || strlen(*session_id_r) != len) {
		*error_r = "invalid session id";
		return -1;
	}
	return 0;
}

void login_handback_reply_encode(buffer_t *dest)
{
	ipc_put_u8(dest, LOGIN_HANDOFF_VERSION);
}

int login_handback_reply_decode(const void *data, size_t size,
				const char **error_r)
{
	struct ipc_reader r;

	ipc_reader_init(&r, data, size);
	uint8_t version = ipc_read_u8(&r);
	if (ipc_reader_finish(&r, error_r) < 0)
		return -1;
	if (version != LOGIN_HANDOFF_VERSION) {
		*error_r = t_strdup_printf("unsupported hand-back version %u",
					   version);
		return -1;
	}
	return 0;
}
