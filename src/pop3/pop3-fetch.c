/* RETR and TOP: a message streamed from storage through the dot-stuffing
   encoder into the connection. The connection pulls from this source only
   as the socket drains, and the source pulls from the storage's section
   stream only as it is pulled, so a large message never sits in memory
   and a slow client holds at most a chunk or two. The terminating
   ".\r\n" is the last thing the source yields; the connection's
   stream_finished() then resumes the next pipelined command. A small
   message whose blob is in the page cache skips all that: it is read and
   written whole inside the command (pop3_client_send_message()). */
#include "lib.h"
#include "str.h"
#include "conn.h"
#include "event.h"
#include "pop3-stuff.h"
#include "columba-settings.h"
#include "pop3-client.h"
#include "mail-fetch.h"

/* A message up to this size whose blob is in the page cache is read,
   stuffed and queued with its +OK line inside the command's own call:
   the reply leaves in one write when input() uncorks, with no loop round
   in between. Larger messages, and any whose read must wait, stream. */
#define POP3_FETCH_INLINE_MAX (256 * 1024)

struct pop3_fetch_source {
	struct conn_stream_source src;
	struct pop3_client *client;
	struct mail_section_stream *stream;
	struct pop3_stuffer stuffer;
	/* stuffed bytes not yet handed to the connection */
	buffer_t *out;
	size_t out_pos;
	/* the end line is in out: once out is empty, the end */
	bool finished;
	/* bytes of the message taken (for the logout line) */
	uint64_t *bytes_counter;
};

static void pop3_fetch_stream_callback(void *context)
{
	struct pop3_fetch_source *fs = context;

	conn_stream_source_ready(fs->client->conn);
}

/* Stuff message bytes into fs->out until it holds at least want bytes or
   the end line. Returns 1, 0 if the blob read must wait, -2 on error. */
static int pop3_fetch_fill(struct pop3_fetch_source *fs, size_t want)
{
	while (fs->out->used < want && !fs->finished) {
		const unsigned char *data;
		size_t data_size;
		int ret = fs->stuffer.done ? -1 :
			mail_section_stream_read(fs->stream, &data, &data_size);
		if (ret == 0 || ret == -2)
			return ret;
		if (ret == -1) {
			pop3_stuff_finish(&fs->stuffer, fs->out);
			fs->finished = true;
			break;
		}
		*fs->bytes_counter += pop3_stuff(&fs->stuffer, data, data_size,
						 fs->out);
	}
	return 1;
}

static ssize_t pop3_fetch_read(struct conn_stream_source *src, void *buf,
			       size_t size, const char **error_r)
{
	struct pop3_fetch_source *fs = (struct pop3_fetch_source *)src;

	for (;;) {
		if (fs->out_pos < fs->out->used) {
			size_t n = I_MIN(size, fs->out->used - fs->out_pos);
			memcpy(buf, (const unsigned char *)fs->out->data + fs->out_pos, n);
			fs->out_pos += n;
			return (ssize_t)n;
		}
		if (fs->finished)
			return 0;
		buffer_set_used_size(fs->out, 0);
		fs->out_pos = 0;

		int ret = pop3_fetch_fill(fs, 1);
		if (ret == 0)
			return CONN_STREAM_WAIT;
		if (ret == -2) {
			const char *text, *internal;
			(void)mail_user_get_last_error(fs->client->user, &text,
						       &internal);
			*error_r = t_strdup_printf("Reading the message failed: %s",
				internal != NULL ? internal : text);
			return CONN_STREAM_ERROR;
		}
	}
}

static void pop3_fetch_destroy(struct conn_stream_source *src)
{
	struct pop3_fetch_source *fs = (struct pop3_fetch_source *)src;

	mail_section_stream_close(&fs->stream);
	buffer_free(&fs->out);
	i_free(fs);
}

static const struct conn_stream_source_vfuncs pop3_fetch_vfuncs = {
	.read = pop3_fetch_read,
	.destroy = pop3_fetch_destroy,
};

static void pop3_fetch_send_error(struct pop3_client *client)
{
	const char *text;

	if (mail_user_get_last_error(client->user, &text, NULL) ==
	    MAIL_ERROR_EXPUNGED) {
		/* another session (IMAP) expunged it meanwhile */
		pop3_client_send_line(client, "-ERR Message was expunged "
				      "by another session.");
	} else {
		pop3_client_send_storage_error(client);
	}
}

bool pop3_client_send_message(struct pop3_client *client, uint32_t idx,
			      bool top, uint32_t top_lines)
{
	struct pop3_msg *msg = &client->msgs[idx];
	const struct mail_section_request req = {
		.section = "", .partial_offset = 0, .partial_size = UINT64_MAX,
	};
	/* the snapshot's record: the whole message needs no index lookup */
	const struct mail_index_record rec = {
		.uid = msg->uid,
		.blob_key = msg->blob_key,
		.physical_size = msg->physical_size,
		.rfc822_size = msg->size,
	};
	struct mail_section_stream *stream;
	uint64_t taken = 0;

	if (mail_section_stream_open_record(client->box, &rec, &req,
					    &stream) < 0) {
		pop3_fetch_send_error(client);
		return true;
	}

	struct pop3_fetch_source *fs = i_new(struct pop3_fetch_source, 1);
	fs->src.v = &pop3_fetch_vfuncs;
	fs->client = client;
	fs->stream = stream;
	fs->out = buffer_create(system_pool, 8192);
	fs->bytes_counter = &taken;
	pop3_stuffer_init(&fs->stuffer, top, top_lines);
	/* what can be had without waiting; a blob that is gone (expunged
	   and purged since the snapshot) fails here, before the +OK */
	if (pop3_fetch_fill(fs, POP3_FETCH_INLINE_MAX) < 0) {
		pop3_fetch_send_error(client);
		pop3_fetch_destroy(&fs->src);
		return true;
	}
	if (top) {
		client->top_count++;
		fs->bytes_counter = &client->top_bytes;
	} else {
		client->retr_count++;
		fs->bytes_counter = &client->retr_bytes;
		if (!client->set->pop3_no_flag_updates)
			msg->seen_pending = true;
	}
	*fs->bytes_counter += taken;

	if (top)
		pop3_client_send_line(client, "+OK");
	else {
		pop3_client_send_linef(client, "+OK %llu octets",
			(unsigned long long)mail_section_stream_get_size(stream));
	}
	if (fs->finished) {
		/* all of it is here: the next pipelined command goes on */
		conn_write(client->conn, fs->out->data, fs->out->used);
		pop3_fetch_destroy(&fs->src);
		return true;
	}
	mail_section_stream_set_callback(stream, pop3_fetch_stream_callback, fs);
	client->streaming = true;
	conn_set_input_paused(client->conn, true);
	conn_send_stream(client->conn, &fs->src);
	return false;
}
