/* FETCH of message content: BODY[section]<partial> as a stream of CRLF
   bytes. The cached part tree says where a section lies in the blob, so
   only those bytes are read; a range whose line ends are bare LFs goes
   through lib-mail's CRLF converter. HEADER.FIELDS of the commonly fetched
   fields is answered from the index's cached header block without
   touching the blob. A message without a cached tree (after an index
   rebuild) is parsed once and its cache filled. */
#include "lib.h"
#include "event.h"
#include "message-part.h"
#include "message-section.h"
#include "mail-parts.h"
#include "mail-fetch.h"
#include "mail-storage-private.h"
#include <ctype.h>
#include <strings.h>

struct mail_section_stream {
	struct mail_user *user;
	bool sync;

	/* the section built in memory (HEADER.FIELDS), or NULL */
	buffer_t *mem;
	size_t mem_pos;

	/* or a range of the blob */
	struct blob_get *get;
	bool needs_crlf;
	/* virtual bytes to drop before the partial range starts */
	uint64_t skip_virtual;
	struct message_crlf_converter conv;
	buffer_t *conv_buf;
	size_t conv_pos;
	/* bytes of the last raw chunk handed out, consumed at the next read */
	size_t pending_skip;

	uint64_t out_size, yielded;
	void (*callback)(void *);
	void *context;
};

struct section_spec {
	const char *number;
	enum message_section_kind kind;
	/* HEADER.FIELDS[.NOT]: the fields */
	const char *const *fields;
	bool fields_not;
};

/* "1.2.HEADER.FIELDS (A B)" -> number "1.2", HEADER, fields. */
static int section_parse(const char *section, struct section_spec *spec_r,
			 const char **error_r)
{
	const char *p = section, *rest;

	memset(spec_r, 0, sizeof(*spec_r));
	while (isdigit((unsigned char)*p)) {
		while (isdigit((unsigned char)*p))
			p++;
		if (*p != '.')
			break;
		if (!isdigit((unsigned char)p[1]))
			break;
		p++;
	}
	spec_r->number = t_strndup(section, (size_t)(p - section));
	rest = p;
	if (*spec_r->number != '\0' && *rest == '.')
		rest++;
	else if (*spec_r->number != '\0' && *rest != '\0')
		goto bad;

	if (*rest == '\0') {
		spec_r->kind = MESSAGE_SECTION_CONTENT;
		return 0;
	}
	if (strcasecmp(rest, "HEADER") == 0) {
		spec_r->kind = MESSAGE_SECTION_HEADER;
		return 0;
	}
	if (strcasecmp(rest, "TEXT") == 0) {
		spec_r->kind = MESSAGE_SECTION_TEXT;
		return 0;
	}
	if (strcasecmp(rest, "MIME") == 0 && *spec_r->number != '\0') {
		spec_r->kind = MESSAGE_SECTION_MIME;
		return 0;
	}
	if (strncasecmp(rest, "HEADER.FIELDS.NOT ", 18) == 0) {
		spec_r->fields_not = true;
		rest += 18;
	} else if (strncasecmp(rest, "HEADER.FIELDS ", 14) == 0) {
		rest += 14;
	} else {
		goto bad;
	}
	size_t len = strlen(rest);
	if (len < 2 || rest[0] != '(' || rest[len - 1] != ')')
		goto bad;
	spec_r->fields = t_strsplit_spaces(t_strndup(rest + 1, len - 2), " ");
	if (spec_r->fields[0] == NULL)
		goto bad;
	spec_r->kind = MESSAGE_SECTION_HEADER;
	return 0;
bad:
	*error_r = t_strdup_printf("Invalid section: %s", str_sanitize(section, 64));
	return -1;
}

int mail_fill_cache(struct mailbox *box, uint32_t uid, const char *blob_key,
		    pool_t pool, struct message_part **root_r)
{
	struct mail_user *user = box->user;
	struct mail_parse_ctx *parse = mail_parse_begin(pool);
	struct mail_parse_result parsed;
	const unsigned char *data;
	struct blob_result result;
	size_t size;
	int ret;

	struct blob_get *get = blob_get_begin_sync(user->blobs, blob_key, 0,
						   UINT64_MAX);
	while ((ret = blob_get_read_data(get, &data, &size)) > 0) {
		mail_parse_feed(parse, data, size);
		blob_get_skip(get, size);
	}
	if (blob_get_end(&get, &result) < 0) {
		mail_parse_abort(&parse);
		return mail_user_set_blob_error(user,
			t_strdup_printf("read(%s)", blob_key), &result);
	}
	*root_r = mail_parse_finish(&parse, &parsed);

	struct mail_index_cache_update upd = {
		.envelope = parsed.envelope,
		.bodystructure = parsed.bodystructure,
		.body = parsed.body,
		.headers = parsed.headers->data,
		.headers_size = parsed.headers->used,
		.parts = parsed.parts->data,
		.parts_size = parsed.parts->used,
	};
	if (mail_index_cache_update(user->index, box->id, uid, &upd) < 0) {
		/* only a cache: the fetch goes on without it */
		mail_error_clear(mail_index_get_error_state(user->index));
	}
	return 0;
}

static void section_append_crlf(buffer_t *dest, const unsigned char *data,
				size_t size)
{
	struct message_crlf_converter conv = { .last_cr = false };

	message_crlf_convert(&conv, data, size, dest);
}

/* HEADER.FIELDS[.NOT] cut from a header block (the message's header, or
   the cached block of common fields) into mem. */
static void section_header_fields(const unsigned char *hdr, size_t size,
				  const struct section_spec *spec,
				  buffer_t *mem)
{
	ARRAY_TYPE(message_range) ranges;
	const struct message_range *r;

	array_init(&ranges, pool_datastack, 8);
	(void)message_header_fields_ranges(hdr, size, 0, spec->fields,
					   !spec->fields_not, &ranges);
	array_foreach(&ranges, r)
		section_append_crlf(mem, hdr + r->offset, (size_t)r->size);
}

static int section_read_range_sync(struct mail_user *user, const char *key,
				   uint64_t offset, uint64_t size,
				   buffer_t *dest)
{
	struct blob_get *get = blob_get_begin_sync(user->blobs, key, offset, size);
	struct blob_result result;
	const unsigned char *data;
	size_t n;

	while (blob_get_read_data(get, &data, &n) > 0) {
		buffer_append(dest, data, n);
		blob_get_skip(get, n);
	}
	if (blob_get_end(&get, &result) < 0) {
		return mail_user_set_blob_error(user,
			t_strdup_printf("read(%s)", key), &result);
	}
	return 0;
}

enum section_stream_mode {
	SECTION_STREAM_ASYNC,
	SECTION_STREAM_SYNC,
	SECTION_STREAM_NOWAIT,
};

/* BODY[] whole, with no HEADER.FIELDS: the record's sizes are the range
   (the blob is the message as received; its physical size is the
   blob's), so neither the part tree nor another index lookup is
   needed. */
static bool section_is_whole_message(const struct section_spec *spec,
				     const struct mail_index_record *rec)
{
	return spec->kind == MESSAGE_SECTION_CONTENT && *spec->number == '\0' &&
		spec->fields == NULL && rec->blob_key != NULL &&
		(rec->physical_size > 0 || rec->rfc822_size == 0) &&
		rec->rfc822_size >= rec->physical_size;
}

/* rec has DETAILS, and CACHE unless section_is_whole_message(). */
static int section_stream_open_rec(struct mailbox *box,
				   const struct mail_index_record *rec,
				   const struct section_spec *spec,
				   const struct mail_section_request *req,
				   enum section_stream_mode mode,
				   struct mail_section_stream **stream_r)
{
	struct mail_user *user = box->user;
	uint32_t uid = rec->uid;
	struct message_part *root = NULL;
	struct message_range range;
	const char *error;
	buffer_t *mem = NULL;

	if (section_is_whole_message(spec, rec)) {
		range.offset = 0;
		range.size = rec->physical_size;
		range.virtual_size = rec->rfc822_size;
	} else if (spec->fields != NULL && *spec->number == '\0' &&
		   !spec->fields_not && rec->headers != NULL &&
		   mail_cached_headers_cover(spec->fields)) {
		/* all from the index */
		mem = buffer_create(system_pool, 256);
		section_header_fields(rec->headers, rec->headers_size, spec, mem);
	} else {
		if (rec->parts != NULL) {
			root = mail_parts_deserialize(pool_datastack, rec->parts,
						      rec->parts_size, &error);
			if (root == NULL) {
				e_warning(user->event, "Mailbox %s UID %u: "
					  "cached part tree is broken (%s): "
					  "parsing the message again",
					  box->name, uid, error);
			}
		}
		if (root == NULL &&
		    mail_fill_cache(box, uid, rec->blob_key, pool_datastack,
				    &root) < 0)
			return -1;
		if (message_section_range(root, spec->number, spec->kind,
					  &range, &error) < 0) {
			return mail_user_set_error(user, MAIL_ERROR_PARAMS,
				t_strdup_printf("No such section: %s", error));
		}
		if (spec->fields != NULL) {
			/* the header is small: read it, cut the fields */
			buffer_t *hdr = t_str_new(range.size + 1);
			if (section_read_range_sync(user, rec->blob_key,
						    range.offset, range.size,
						    hdr) < 0)
				return -1;
			mem = buffer_create(system_pool, 256);
			section_header_fields(hdr->data, hdr->used, spec, mem);
		}
	}

	struct mail_section_stream *stream = i_new(struct mail_section_stream, 1);
	stream->user = user;
	stream->sync = mode == SECTION_STREAM_SYNC;
	uint64_t vsize = mem != NULL ? mem->used : range.virtual_size;
	uint64_t start = I_MIN(req->partial_offset, vsize);
	stream->out_size = I_MIN(req->partial_size, vsize - start);
	if (mem != NULL) {
		stream->mem = mem;
		stream->mem_pos = (size_t)start;
	} else if (stream->out_size > 0) {
		stream->needs_crlf = message_range_needs_crlf(&range);
		if (!stream->needs_crlf) {
			/* virtual == physical here: seek straight there */
			range.offset += start;
			range.size = stream->out_size;
		} else {
			stream->skip_virtual = start;
			stream->conv_buf = buffer_create(system_pool, 8192);
		}
		switch (mode) {
		case SECTION_STREAM_SYNC:
			stream->get = blob_get_begin_sync(user->blobs,
				rec->blob_key, range.offset, range.size);
			break;
		case SECTION_STREAM_ASYNC:
			stream->get = blob_get_begin(user->blobs,
				rec->blob_key, range.offset, range.size);
			break;
		case SECTION_STREAM_NOWAIT:
			stream->get = blob_get_begin_nowait(user->blobs,
				rec->blob_key, range.offset, range.size);
			break;
		}
	}
	*stream_r = stream;
	return 0;
}

static int section_stream_open(struct mailbox *box, uint32_t uid,
			       const struct section_spec *spec,
			       const struct mail_section_request *req,
			       enum section_stream_mode mode,
			       struct mail_section_stream **stream_r)
{
	struct mail_user *user = box->user;
	ARRAY_TYPE(mail_index_record) recs;
	ARRAY_TYPE(seq_range) uids;
	/* the whole message needs only the record's sizes and blob key */
	enum mail_index_fetch_fields fields = MAIL_INDEX_FETCH_DETAILS;

	if (spec->kind != MESSAGE_SECTION_CONTENT || *spec->number != '\0' ||
	    spec->fields != NULL)
		fields |= MAIL_INDEX_FETCH_CACHE;
	array_init(&recs, pool_datastack, 1);
	array_init(&uids, pool_datastack, 1);
	seq_range_array_add(&uids, uid);
	if (mail_index_fetch(user->index, box->id, &uids, fields,
			     pool_datastack, &recs) < 0)
		return mail_user_set_index_error(user);
	if (array_count(&recs) == 0) {
		return mail_user_set_error(user, MAIL_ERROR_EXPUNGED,
			"The message was expunged.");
	}
	if ((fields & MAIL_INDEX_FETCH_CACHE) == 0 &&
	    !section_is_whole_message(spec, &recs.v[0])) {
		/* sizes the shortcut cannot trust: go by the part tree */
		array_clear(&recs);
		if (mail_index_fetch(user->index, box->id, &uids,
				     fields | MAIL_INDEX_FETCH_CACHE,
				     pool_datastack, &recs) < 0)
			return mail_user_set_index_error(user);
		if (array_count(&recs) == 0) {
			return mail_user_set_error(user, MAIL_ERROR_EXPUNGED,
				"The message was expunged.");
		}
	}
	return section_stream_open_rec(box, &recs.v[0], spec, req, mode,
				       stream_r);
}

int mail_section_stream_open(struct mailbox *box, uint32_t uid,
			     const struct mail_section_request *req,
			     bool sync, struct mail_section_stream **stream_r)
{
	struct section_spec spec;
	const char *error;

	if (section_parse(req->section, &spec, &error) < 0)
		return mail_user_set_error(box->user, MAIL_ERROR_PARAMS, error);
	return section_stream_open(box, uid, &spec, req, sync ?
				   SECTION_STREAM_SYNC : SECTION_STREAM_ASYNC,
				   stream_r);
}

int mail_section_stream_open_record(struct mailbox *box,
				    const struct mail_index_record *rec,
				    const struct mail_section_request *req,
				    struct mail_section_stream **stream_r)
{
	struct section_spec spec;
	const char *error;

	if (section_parse(req->section, &spec, &error) < 0)
		return mail_user_set_error(box->user, MAIL_ERROR_PARAMS, error);
	if (section_is_whole_message(&spec, rec) ||
	    (rec->parts != NULL && rec->headers != NULL)) {
		return section_stream_open_rec(box, rec, &spec, req,
					       SECTION_STREAM_NOWAIT, stream_r);
	}
	/* fetched without its cached fields (or they are missing) */
	return section_stream_open(box, rec->uid, &spec, req,
				   SECTION_STREAM_NOWAIT, stream_r);
}

uint64_t mail_section_stream_get_size(const struct mail_section_stream *stream)
{
	return stream->out_size;
}

static void mail_section_stream_get_callback(void *context)
{
	struct mail_section_stream *stream = context;

	if (stream->callback != NULL)
		stream->callback(stream->context);
}

void mail_section_stream_set_callback(struct mail_section_stream *stream,
				      void (*callback)(void *), void *context)
{
	stream->callback = callback;
	stream->context = context;
	if (stream->get != NULL) {
		blob_get_set_callback(stream->get,
				      mail_section_stream_get_callback, stream);
	}
}

static int mail_section_stream_fail(struct mail_section_stream *stream,
				    const char *what)
{
	struct blob_result result;

	if (blob_get_get_result(stream->get, &result) < 0)
		mail_user_set_blob_error(stream->user, what, &result);
	else {
		mail_user_set_internal_error(stream->user, MAIL_ERROR_TEMP,
			"%s: the message is shorter than its index says", what);
	}
	return -2;
}

int mail_section_stream_read(struct mail_section_stream *stream,
			     const unsigned char **data_r, size_t *size_r)
{
	const unsigned char *data;
	size_t size;
	int ret;

	if (stream->mem != NULL) {
		size_t left = (size_t)(stream->out_size - stream->yielded);
		if (left == 0)
			return -1;
		*data_r = stream->mem->data + stream->mem_pos;
		*size_r = left;
		stream->mem_pos += left;
		stream->yielded += left;
		return 1;
	}
	if (stream->pending_skip > 0) {
		blob_get_skip(stream->get, stream->pending_skip);
		stream->pending_skip = 0;
	}
	for (;;) {
		uint64_t left = stream->out_size - stream->yielded;
		if (left == 0)
			return -1;
		if (stream->needs_crlf && stream->conv_pos < stream->conv_buf->used) {
			size = I_MIN(stream->conv_buf->used - stream->conv_pos,
				     left);
			*data_r = stream->conv_buf->data + stream->conv_pos;
			*size_r = size;
			stream->conv_pos += size;
			stream->yielded += size;
			return 1;
		}
		ret = blob_get_read_data(stream->get, &data, &size);
		if (ret == BLOB_READ_WAIT)
			return 0;
		if (ret == BLOB_READ_EOF)
			return mail_section_stream_fail(stream, "fetch: short read");
		if (ret == BLOB_READ_ERROR)
			return mail_section_stream_fail(stream, "fetch");
		if (!stream->needs_crlf) {
			size = I_MIN(size, left);
			*data_r = data;
			*size_r = size;
			stream->pending_skip = size;
			stream->yielded += size;
			return 1;
		}
		buffer_reset(stream->conv_buf);
		stream->conv_pos = 0;
		message_crlf_convert(&stream->conv, data, size, stream->conv_buf);
		blob_get_skip(stream->get, size);
		if (stream->skip_virtual > 0) {
			size_t drop = (size_t)I_MIN(stream->skip_virtual,
						    (uint64_t)stream->conv_buf->used);
			stream->conv_pos = drop;
			stream->skip_virtual -= drop;
		}
	}
}

void mail_section_stream_close(struct mail_section_stream **_stream)
{
	struct mail_section_stream *stream = *_stream;

	if (stream == NULL)
		return;
	*_stream = NULL;
	if (stream->get != NULL)
		(void)blob_get_end(&stream->get, NULL);
	if (stream->mem != NULL)
		buffer_free(&stream->mem);
	if (stream->conv_buf != NULL)
		buffer_free(&stream->conv_buf);
	i_free(stream);
}

int mail_fetch_section_sync(struct mailbox *box, uint32_t uid,
			    const struct mail_section_request *req,
			    buffer_t *dest)
{
	struct mail_section_stream *stream;
	const unsigned char *data;
	size_t size;
	int ret;

	if (mail_section_stream_open(box, uid, req, true, &stream) < 0)
		return -1;
	while ((ret = mail_section_stream_read(stream, &data, &size)) > 0)
		buffer_append(dest, data, size);
	i_assert(ret != 0);
	mail_section_stream_close(&stream);
	return ret == -1 ? 0 : -1;
}
