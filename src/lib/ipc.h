/* Typed, length-framed messages between Columba's processes over UNIX
   stream sockets, with fd passing (SCM_RIGHTS).

   A frame is an 8-byte header followed by the payload:
     u32 payload length, u16 type, u16 flags   (network byte order)
   IPC_MSG_FLAG_FD says the message carries one fd. The sender attaches the
   fd to the write that starts the frame, so the receiver always has it
   queued by the time the frame is complete; received fds are queued in
   arrival order and each flagged message takes the next one.

   Anything malformed (a length over the maximum, unknown flags, a flagged
   message with no fd, fds left over at EOF, a payload the decoder rejects)
   is a protocol violation. The default is OpenSMTPD's rule: the receiver
   i_fatal()s, since a peer that sends garbage is a bug or a compromise.
   A process that must outlive a misbehaving peer (the master facing its
   children) installs an error callback instead and kills the peer.

   An ipc is single-threaded and lives on the ioloop that was current when
   it was created (or last ipc_switch_ioloop()ed). */
#ifndef COLUMBA_IPC_H
#define COLUMBA_IPC_H

#include <sys/types.h>

struct ioloop;

#define IPC_HEADER_SIZE 8
#define IPC_DEFAULT_MAX_PAYLOAD (1024 * 1024)

enum ipc_msg_flags {
	/* The message carries one file descriptor. */
	IPC_MSG_FLAG_FD = 0x0001,
};
/* Every flag this version understands; any other bit is a violation. */
#define IPC_MSG_FLAGS_KNOWN IPC_MSG_FLAG_FD

struct ipc;

/* A received message. data/size stay valid until the callback returns or
   ipc_recv_blocking() is called on the ipc, whichever comes first (from
   ipc_recv_blocking(): until the next call on the ipc). */
struct ipc_msg {
	uint16_t type;
	const unsigned char *data;
	size_t size;
	/* -1 unless the message carried an fd. In the message callback the
	   ipc closes it after the callback returns unless the callback
	   claimed it with ipc_msg_take_fd(). From ipc_recv_blocking() the
	   caller owns it. */
	int fd;
};

/* A complete message arrived. The callback may send, destroy the ipc, or
   run a blocking exchange on it. */
typedef void ipc_msg_callback_t(struct ipc *ipc, struct ipc_msg *msg,
				void *context);
/* The peer went away (EOF, reset) or the socket failed. reason is for the
   log. No more input arrives; the owner should ipc_destroy(). */
typedef void ipc_close_callback_t(struct ipc *ipc, const char *reason,
				  void *context);
/* The peer broke the protocol. error says how, for the log. Input stops;
   the owner should stop trusting the peer (kill it) and ipc_destroy(). */
typedef void ipc_error_callback_t(struct ipc *ipc, const char *error,
				  void *context);

struct ipc_callbacks {
	/* NULL: no asynchronous input (only ipc_recv_blocking()). */
	ipc_msg_callback_t *msg;
	/* NULL: disconnection is logged at info level and ignored. */
	ipc_close_callback_t *close;
	/* NULL: a protocol violation is fatal to this process. */
	ipc_error_callback_t *protocol_error;
};

/* Peer credentials of a UNIX socket (SO_PEERCRED). For a socketpair they
   are those of the process that created the pair, which after fork() is
   the parent on both ends: check them on accept()ed sockets. */
struct ipc_peer_cred {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

/* A connected AF_UNIX stream socketpair, close-on-exec on both ends (clear
   it on the end a child keeps across exec). Returns 0, or -1 and
   *error_r. */
int ipc_pair(int fds_r[2], const char **error_r) ATTR_WARN_UNUSED;

/* Wrap a connected UNIX stream socket. The ipc owns fd from now on and
   makes it nonblocking. name is used in log and error messages ("auth",
   "login 1234"). callbacks is copied. If callbacks->msg is set, input is
   read on the current ioloop (which must exist unless reading is to start
   later with ipc_switch_ioloop()). */
struct ipc *ipc_create(int fd, const char *name,
		       const struct ipc_callbacks *callbacks, void *context);
/* Close the socket (and any fds still queued either way) and free. Queued
   output that was not yet written is lost: flush first if it matters.
   Safe from inside the ipc's own callbacks. Sets *ipc to NULL. */
void ipc_destroy(struct ipc **ipc);

/* Move the ipc's io watchers to the current ioloop (and start reading, if
   there is a message callback and reading had not started). */
void ipc_switch_ioloop(struct ipc *ipc);
/* Largest accepted payload, in bytes (default IPC_DEFAULT_MAX_PAYLOAD).
   Also bounds what this side may send. */
void ipc_set_max_payload(struct ipc *ipc, size_t max_payload);
size_t ipc_get_max_payload(const struct ipc *ipc);
const char *ipc_get_name(const struct ipc *ipc);
int ipc_get_fd(const struct ipc *ipc);
/* false once the peer closed, the socket failed or the peer broke the
   protocol: sends are then dropped. */
bool ipc_is_connected(const struct ipc *ipc);
/* Returns 0 and fills *cred_r, or -1 and *error_r. */
int ipc_get_peer_cred(const struct ipc *ipc, struct ipc_peer_cred *cred_r,
		      const char **error_r) ATTR_WARN_UNUSED;
/* Bytes queued for sending and not yet written (for back-pressure: stop
   producing while this is large). */
size_t ipc_get_output_size(const struct ipc *ipc);

/* Queue a message and start writing it; never blocks. size must not
   exceed the maximum payload (a bug otherwise). What the socket does not
   take now is written from the ioloop (with no ioloop: by the next
   ipc_flush_blocking()). After a disconnection the message is silently
   dropped: the close callback reports it. */
void ipc_send(struct ipc *ipc, uint16_t type, const void *data, size_t size);
/* Like ipc_send() with an fd. With pass_ownership the ipc closes fd once
   it has been written (or dropped); the caller must not touch it again.
   Without, the ipc sends a dup() and the caller keeps fd. Returns 0, or -1
   with errno set if dup() failed (nothing was queued). */
int ipc_send_fd(struct ipc *ipc, uint16_t type, int fd, bool pass_ownership,
		const void *data, size_t size) ATTR_WARN_UNUSED;
/* Claim the fd of a received message: the ipc will not close it. Returns
   -1 if the message had none. */
int ipc_msg_take_fd(struct ipc_msg *msg);

/* Blocking calls for simple request/response (process start-up, before or
   outside the ioloop). timeout_msecs < 0 means no limit. They return 0 /
   1 on success, -1 on timeout, disconnection, I/O error or protocol
   violation, with *error_r. A protocol violation also goes through the
   error callback, or is fatal, exactly as for asynchronous input. */
/* Write all queued output. */
int ipc_flush_blocking(struct ipc *ipc, int timeout_msecs,
		       const char **error_r) ATTR_WARN_UNUSED;
/* ipc_send() + ipc_flush_blocking(). */
int ipc_send_blocking(struct ipc *ipc, uint16_t type, const void *data,
		      size_t size, int timeout_msecs,
		      const char **error_r) ATTR_WARN_UNUSED;
/* Wait for the next message. Returns 1 with *msg_r (see struct ipc_msg
   for what it owns), or -1. Messages that arrive in the same read as the
   returned one are delivered later: by further calls, or by the message
   callback once the ioloop runs. */
int ipc_recv_blocking(struct ipc *ipc, int timeout_msecs,
		      struct ipc_msg *msg_r, const char **error_r)
	ATTR_WARN_UNUSED;

/* Report a protocol violation found by the owner (typically a payload the
   decoder rejected): the same path as one found by the framing. */
void ipc_protocol_violation(struct ipc *ipc, const char *fmt, ...)
	ATTR_FORMAT(2, 3);

/* Encode a frame header into dest[IPC_HEADER_SIZE]. Exposed for tests and
   fuzzers that need to write raw streams. */
void ipc_header_encode(unsigned char dest[IPC_HEADER_SIZE], uint32_t size,
		       uint16_t type, uint16_t flags);

/* --- payload encoding ---
   Integers are in network byte order. bool is one byte, 0 or 1. A string
   is u32 length, the bytes (NULs allowed) and a terminating NUL, so the
   reader returns a pointer into the payload that is a valid C string. A
   blob is u32 length and the bytes. */
void ipc_put_u8(buffer_t *buf, uint8_t value);
void ipc_put_u16(buffer_t *buf, uint16_t value);
void ipc_put_u32(buffer_t *buf, uint32_t value);
void ipc_put_u64(buffer_t *buf, uint64_t value);
void ipc_put_bool(buffer_t *buf, bool value);
/* NULL is not allowed. */
void ipc_put_str(buffer_t *buf, const char *str);
void ipc_put_str_n(buffer_t *buf, const void *data, size_t len);
void ipc_put_blob(buffer_t *buf, const void *data, size_t size);

/* Reads a payload with bounds checks. The first failure is recorded and
   every later read fails too, returning 0 / false / "" / NULL, so a
   decoder reads all its fields and checks once at the end. */
struct ipc_reader {
	const unsigned char *data;
	size_t size, pos;
	/* static text of the first failure, NULL if none */
	const char *error;
	size_t error_pos;
};

void ipc_reader_init(struct ipc_reader *reader, const void *data,
		     size_t size);
uint8_t ipc_read_u8(struct ipc_reader *reader);
uint16_t ipc_read_u16(struct ipc_reader *reader);
uint32_t ipc_read_u32(struct ipc_reader *reader);
uint64_t ipc_read_u64(struct ipc_reader *reader);
bool ipc_read_bool(struct ipc_reader *reader);
/* Pointer into the payload, NUL-terminated; *len_r (may be NULL) is the
   length, which may include embedded NULs. "" on failure. */
const char *ipc_read_str(struct ipc_reader *reader, size_t *len_r);
/* Pointer into the payload; NULL with *size_r = 0 on failure. */
const void *ipc_read_blob(struct ipc_reader *reader, size_t *size_r);
static inline bool ipc_reader_failed(const struct ipc_reader *reader)
{
	return reader->error != NULL;
}
/* 0 if every read succeeded and the whole payload was consumed; else -1
   and *error_r (trailing bytes are malformed too). */
int ipc_reader_finish(struct ipc_reader *reader, const char **error_r)
	ATTR_WARN_UNUSED;

#endif
