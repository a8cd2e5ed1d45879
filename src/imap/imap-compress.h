/* COMPRESS=DEFLATE (RFC 4978): a raw DEFLATE (RFC 1951) layer between a
   session's socket and the session. The session keeps talking plain
   IMAP to one end of a socket pair; this layer, in the same ioloop,
   inflates what the client sends into it and deflates what it writes
   out, so the session core and every command stay unaware of it. It
   works the same on a direct socket and on the login process's TLS
   relay (the relay encrypts what we compressed, the order RFC 4978 §3
   requires).

   Flushing: output is sync-flushed (Z_SYNC_FLUSH) whenever the session
   has nothing more queued at that moment, so an interactive reply is
   never held back waiting for more data; a bulk reply (FETCH of many
   messages) is flushed only between the socket reads that drain it.

   Memory: buffers exist only while data is in flight. The inflate state
   must live as long as the session (the client's compressor may refer
   back 32 KiB), but its 32 KiB window is allocated only once the client
   has sent compressed data. The deflate state (window 2^12, memLevel 5:
   about 38 KiB instead of zlib's default 268 KiB) is allocated when
   output starts and freed again after IMAP_COMPRESS_DEFLATE_IDLE_MSECS
   without output; a fresh raw-deflate stream continuing after a sync
   flush is valid DEFLATE, because a sync flush ends on a block boundary
   and no block we emit is marked final. */
#ifndef COLUMBA_IMAP_COMPRESS_H
#define COLUMBA_IMAP_COMPRESS_H

struct event;
struct master_service;

#define IMAP_COMPRESS_DEFLATE_IDLE_MSECS 5000

/* Start the layer on fd_net (the session's socket, now owned by the
   layer). pending[0..pending_size) are bytes already read from fd_net
   after the COMPRESS command line: they are compressed and are inflated
   first. Returns 0 with *fd_session_r, the plain end the session must
   use from now on (nonblocking, close-on-exec), or -1 with *error_r
   (fd_net is then still the caller's). The layer ends itself, closing
   fd_net, once the session closed its end and everything it wrote has
   been sent, or when the client disconnects (the session then reads EOF)
   or sends data that does not inflate (logged through event, which the
   layer references). The layer counts as a client of service (if not
   NULL), so the process does not exit, cutting off the end of the
   output, before the layer has ended. Never blocks. */
int imap_compress_create(int fd_net, const void *pending, size_t pending_size,
			 struct master_service *service, struct event *event,
			 int *fd_session_r, const char **error_r)
	ATTR_WARN_UNUSED;

/* Bytes held right now by every compression layer in this process:
   zlib states and in-flight buffers (for tests and the memory figures in
   docs/performance.md). */
size_t imap_compress_get_memory_usage(void);
/* Compression layers alive in this process. */
unsigned int imap_compress_get_count(void);

#endif
