/* Buffered, nonblocking connections on the ioloop, plaintext or TLS: the
   layer every protocol (IMAP, POP3, LMTP, submission, ManageSieve, proxy)
   reads lines and literals from and writes replies and streamed bodies to.

   Memory: an idle connection holds only its struct, one io watcher and its
   idle timer (a few hundred bytes, plus OpenSSL's state with TLS). Input
   and output buffers exist only while data is in flight and are freed as
   soon as they are consumed or drained.

   Back-pressure is built in. Input: at most input_max_size unconsumed bytes
   are held; when full, reading stops. Output: while buffered output is at
   or above the high watermark (or a stream is being sent),
   conn_read_line() and conn_input_peek() hand out nothing and the socket is
   not read, so a client that pipelines commands but never reads replies
   cannot make us buffer without bound; input resumes, and input() is
   called again for what is already buffered, once output drains to the
   low watermark.

   Callbacks are never called from inside a conn_*() call made by the
   handler: only from the ioloop. Any callback may destroy the connection
   (conn_destroy()); the conn keeps itself alive until the callback
   returns.

   The process must not die of SIGPIPE: conn_create() sets SIGPIPE to
   SIG_IGN if it is at its default (OpenSSL and sendfile() write to
   sockets without MSG_NOSIGNAL). */
#ifndef COLUMBA_CONN_H
#define COLUMBA_CONN_H

struct conn;
struct tls_context;
struct tls_conn;

#define CONN_DEFAULT_INPUT_MAX_SIZE (64 * 1024)
#define CONN_DEFAULT_OUTPUT_HIGH_WATERMARK (64 * 1024)

struct conn_settings {
	/* Log prefix for this kind of connection ("imap", "lmtp");
	   conn_set_name() gives a connection its own. */
	const char *name;
	/* Most unconsumed input held (0 = CONN_DEFAULT_INPUT_MAX_SIZE).
	   A line must fit in it: conn_read_line() returns -1 for a line
	   that cannot. Literals of any size pass through it with
	   conn_input_peek()/conn_input_skip(). */
	size_t input_max_size;
	/* Output back-pressure (0 = CONN_DEFAULT_OUTPUT_HIGH_WATERMARK and a
	   quarter of high). low must be below high. */
	size_t output_high_watermark;
	size_t output_low_watermark;
	/* Hand out input even while output is full. For the client side
	   of a proxy or relay, whose input becomes output on another
	   connection: two peers that both pipeline and both throttle input
	   on their own output would deadlock. Such a handler applies
	   back-pressure itself (conn_set_input_paused() on this conn while
	   the other one's conn_output_is_full(), resumed from its
	   output_drained()). */
	bool input_ignores_output_full;
	/* Disconnect with "Idle timeout" when no byte has been read or
	   written for this long. 0 = never. Output progress counts too, so
	   a slow client downloading a large message is not idle. */
	unsigned int idle_timeout_msecs;
	/* Fault injection for tests: read at most this many bytes per
	   read() (0 = no limit), to see input arrive in small pieces. */
	size_t debug_max_read_size;
};

struct conn_vfuncs {
	/* Required. New input is available, or buffered input may be
	   processed again (input was unpaused, output drained). Consume it
	   with conn_read_line() or conn_input_peek()+conn_input_skip() in a
	   loop until they return 0: the conn does not call input() again
	   for data that is left unconsumed until more arrives. Output
	   written here is corked: it is sent when input() returns. */
	void (*input)(struct conn *conn);
	/* Required. The connection was lost: "Connection closed" (EOF),
	   "Idle timeout", "read() failed: ...", "TLS handshake failed: ...",
	   a stream source's error, or the reason given to
	   conn_disconnect(). Called once, from the ioloop, never for a
	   conn_destroy(). No more input() follows. The usual reaction is
	   to log the reason and conn_destroy(). */
	void (*disconnected)(struct conn *conn, const char *reason);
	/* Optional. A flush from the ioloop left buffered output at or
	   below the low watermark: a producer that stopped at
	   conn_output_is_full() can write more. */
	void (*output_drained)(struct conn *conn);
	/* Required when conn_send_stream() is used: the source reached its
	   end and all its data has been queued (not necessarily sent yet).
	   The source has been destroyed; conn_write() may be used again. */
	void (*stream_finished)(struct conn *conn);
	/* Optional. The TLS handshake completed (after conn_start_tls_*()). */
	void (*tls_handshaked)(struct conn *conn);
};

/* Wrap a connected socket. The conn owns fd from now on (closes it on
   destroy) and sets it nonblocking. set and v are not copied: they must
   outlive the connection (normally a service's static or settings
   struct). Reading starts at once. */
struct conn *conn_create(int fd, const struct conn_settings *set,
			 const struct conn_vfuncs *v, void *context);
/* Close the socket (after one last nonblocking attempt to flush buffered
   output and, with TLS, to send close_notify), drop the owner's reference
   and set *conn to NULL. No callback is called. Safe inside any callback
   of this conn. Memory goes when the last reference does. */
void conn_destroy(struct conn **conn);
/* Extra references keep the struct (not the socket) alive, e.g. across
   an asynchronous lookup; check conn_is_disconnected() after it. */
void conn_ref(struct conn *conn);
void conn_unref(struct conn **conn);
/* Stop all I/O now and have disconnected(conn, reason) called from the
   ioloop: lets a handler route a protocol-level disconnect ("Too many
   invalid commands") through the same cleanup path as a lost peer. */
void conn_disconnect(struct conn *conn, const char *reason);
/* True once the peer is gone, the idle timeout fired or
   conn_disconnect()/conn_destroy() was called: no input will come. Writes
   are still taken until the socket itself fails, and conn_destroy() makes
   one last nonblocking attempt to send them, so disconnected() can still
   say "* BYE Disconnected for inactivity". */
bool conn_is_disconnected(const struct conn *conn);

/* Hand the socket to someone else (login -> mail process): the fd is
   returned in *fd_r (still nonblocking; now the caller's), input that was
   read but not consumed is appended to input_r, and the conn is destroyed
   without closing the fd (*conn = NULL). The new owner feeds the bytes to
   its conn with conn_input_push(). Fails (returns -1, conn untouched) if
   TLS is active (the session cannot move: relay instead), output is still
   buffered (flush first) or a stream is in progress. */
int conn_detach(struct conn **conn, int *fd_r, buffer_t *input_r,
		const char **error_r) ATTR_WARN_UNUSED;

/* Switch to other settings (a login client that becomes a relay after
   authentication: no idle timeout, its own back-pressure). The idle timer
   restarts with the new timeout unless a TLS handshake is running. set
   must outlive the conn, and a smaller input_max_size than what is
   buffered only stops reading until it is consumed. */
void conn_set_settings(struct conn *conn, const struct conn_settings *set);

void *conn_get_context(const struct conn *conn);
void conn_set_context(struct conn *conn, void *context);
int conn_get_fd(const struct conn *conn);
/* The name used in this layer's log lines: conn_set_name()'s, else the
   settings' name. */
const char *conn_get_name(const struct conn *conn);
void conn_set_name(struct conn *conn, const char *name);

/* --- input --- */

/* Take the next line. Returns 1 with the line in *line_r (CRLF or LF
   removed, NUL-terminated, *len_r bytes; it may contain NULs and bare
   CRs), valid until input() returns or the next conn_read_line(),
   conn_input_peek() or conn_input_skip() call. Returns 0 if no complete
   line is there yet, input is paused or output back-pressure applies
   (input() is called again when that changes). Returns -1 if the line is
   longer than max_len or cannot fit in input_max_size: nothing is
   consumed, and the caller decides (usually a BAD reply and
   conn_disconnect()). */
int conn_read_line(struct conn *conn, size_t max_len, const char **line_r,
		   size_t *len_r) ATTR_WARN_UNUSED;
/* See the buffered input without consuming it (for exact byte counts:
   IMAP literals, SASL). Returns 1 with *size_r > 0, or 0 (nothing
   buffered, paused or back-pressure; *size_r = 0). The data stays valid
   as for conn_read_line(). */
int conn_input_peek(struct conn *conn, const unsigned char **data_r,
		    size_t *size_r);
/* Consume size bytes of what conn_input_peek() showed. */
void conn_input_skip(struct conn *conn, size_t size);
/* Unconsumed input bytes held. */
size_t conn_input_buffered_size(const struct conn *conn);
/* Put bytes in front of the unconsumed input as if they had been read
   (the pre-read bytes of a conn_detach() hand-off). input() is called for
   them from the ioloop. */
void conn_input_push(struct conn *conn, const void *data, size_t size);
/* Stop or resume input (e.g. while a command runs asynchronously).
   Unpausing calls input() from the ioloop if input is buffered. */
void conn_set_input_paused(struct conn *conn, bool paused);
bool conn_input_is_paused(const struct conn *conn);

/* --- output --- */

/* Queue data. When nothing is queued, not corked and TLS (if any) is
   ready, it goes straight to the socket and only what the socket does
   not take is buffered. Never blocks, never fails: errors disconnect the
   conn from the ioloop and later writes are discarded. Does not limit
   the buffer: producers of large output check conn_output_is_full() or
   use conn_send_stream(). Must not be called while a stream is being
   sent (asserted). */
void conn_write(struct conn *conn, const void *data, size_t size);
void conn_write_str(struct conn *conn, const char *str);
void conn_printf(struct conn *conn, const char *fmt, ...) ATTR_FORMAT(2, 3);
/* Batch small writes into one send. Nested cork/uncork pairs are
   counted. A corked buffer that grows past 16 KiB is sent anyway.
   input() runs corked already. */
void conn_cork(struct conn *conn);
void conn_uncork(struct conn *conn);
/* Try to send buffered output now, without blocking. Returns 1 if
   everything (including a stream) is sent, 0 if some remains (it goes
   out from the ioloop), -1 if the connection failed. */
int conn_flush(struct conn *conn);
/* Bytes buffered for sending (not counting an unread stream source). */
size_t conn_output_buffered_size(const struct conn *conn);
/* True when output is at or above the high watermark or a stream is in
   progress: a producer should stop and continue from output_drained(). */
bool conn_output_is_full(const struct conn *conn);

/* A source of bytes streamed out without loading it whole (a message
   file, a blob from object storage). The conn pulls only as the socket
   drains, in chunks of at most 32 KiB. */
struct conn_stream_source;
struct conn_stream_source_vfuncs {
	/* Fill up to size bytes. Returns the byte count, 0 at the end,
	   CONN_STREAM_ERROR with *error_r (data stack) on failure, or
	   CONN_STREAM_WAIT if no data is available yet: the source calls
	   conn_stream_source_ready() when it has some. */
	ssize_t (*read)(struct conn_stream_source *src, void *buf, size_t size,
			const char **error_r);
	/* Free the source. Called once: after the end, on error, or when
	   the conn goes away first. */
	void (*destroy)(struct conn_stream_source *src);
};
#define CONN_STREAM_ERROR (-1)
#define CONN_STREAM_WAIT (-2)

struct conn_stream_source {
	const struct conn_stream_source_vfuncs *v;
	/* A source whose bytes are the regular file range
	   [sendfile_offset, +sendfile_left) sets can_sendfile: on plaintext
	   connections the conn then sends it with sendfile() and advances
	   these fields itself, without calling read() (falling back to
	   read() if the kernel refuses). sendfile_left UINT64_MAX = to the
	   end of the file. */
	bool can_sendfile;
	int sendfile_fd;
	off_t sendfile_offset;
	uint64_t sendfile_left;
};

/* Send everything src produces after what is already queued. The conn
   owns src from now on. Until stream_finished() (or a disconnect),
   conn_write() must not be used and conn_output_is_full() is true. A
   source error disconnects the conn: the peer has already been told a
   size, so the stream cannot be ended early any other way. */
void conn_send_stream(struct conn *conn, struct conn_stream_source *src);
/* A source that returned CONN_STREAM_WAIT has data now. */
void conn_stream_source_ready(struct conn *conn);
bool conn_is_streaming(const struct conn *conn);
/* A source for length bytes of fd starting at offset (UINT64_MAX = to
   EOF). It reads with pread(), so the fd's position is untouched and one
   fd can serve several sources. A file shorter than length is an error
   (the size was promised to the peer). With autoclose the fd is closed
   when the source is destroyed. */
struct conn_stream_source *
conn_stream_source_file(int fd, off_t offset, uint64_t length, bool autoclose);

/* --- TLS (see tls.h for contexts and session accessors) --- */

/* Start TLS as the server: at accept for implicit TLS (IMAPS, POP3S,
   SMTPS), or after replying to STARTTLS. Output written before this call
   is sent in plaintext first (the "OK Begin TLS negotiation now" reply);
   output written after it waits for the handshake. Input that was read
   but not consumed is DISCARDED and logged: anything a client sent after
   STARTTLS, before the handshake, is plaintext a man in the middle may
   have injected, and treating it as part of the protected session is the
   CVE-2011-0411 class of command injection. No input is delivered until
   the handshake completes. A failed or timed-out handshake disconnects
   with "TLS handshake failed: ..." / "TLS handshake timed out". Returns
   -1 with *error_r only if the TLS session cannot be created at all. */
int conn_start_tls_server(struct conn *conn, struct tls_context *ctx,
			  const char **error_r);
/* Start TLS as the client (proxy to a backend, submission relay). The
   same rules apply to buffered input (a server's injected bytes).
   servername is sent as SNI and checked against the certificate unless
   the context is insecure; NULL = no SNI and no name check. Sessions are
   reused per servername (or per peer address without one). */
int conn_start_tls_client(struct conn *conn, struct tls_context *ctx,
			  const char *servername, const char **error_r);
/* True after conn_start_tls_*(), during and after the handshake. */
bool conn_is_tls(const struct conn *conn);
bool conn_is_tls_handshaked(const struct conn *conn);
/* The TLS session for tls_conn_get_*() accessors, or NULL. */
struct tls_conn *conn_get_tls(const struct conn *conn);

/* --- statistics and tests --- */

/* Bytes currently allocated for this connection's input and output
   buffers (0 when idle). */
size_t conn_get_buffer_alloc_size(const struct conn *conn);
/* Bytes read from / written to the peer (plaintext bytes with TLS), for
   the "in=N out=N" of a logout line. */
uint64_t conn_get_bytes_in(const struct conn *conn);
uint64_t conn_get_bytes_out(const struct conn *conn);
/* Live conns in this process (for the process title and metrics). */
unsigned int conn_get_count(void);

#endif
