/* Load generator for `make bench`: one process, one epoll loop, any number
   of connections, speaking just enough IMAP, POP3 and LMTP to drive a mail
   server through one benchmark scenario and print one JSON line of results.
   It is standalone on purpose (libc and OpenSSL only): it must measure
   Columba and Dovecot the same way, so it shares no code with either.

   Build: cc -O2 -o loadgen loadgen.c -lssl -lcrypto   (bench/run does it)
   Usage: loadgen MODE [options]; `loadgen -h` lists both. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define RBUF_INITIAL 4096
/* A SEARCH answer over a 20,000-message mailbox is ~120 KB on one line;
   anything near this limit is a broken server, not a long line. */
#define RBUF_MAX (64 * 1024 * 1024)

enum mode {
	MODE_PRELOGIN, /* connect, greeting, CAPABILITY, LOGOUT; in a loop */
	MODE_LOGIN,    /* connect, greeting, LOGIN, LOGOUT; in a loop */
	MODE_IDLE,     /* open N connections and hold them (optionally
			  LOGIN, SELECT, IDLE) until stdin closes */
	MODE_IMAPMIX,  /* each connection its own user, a client-like mix */
	MODE_BIGBOX,   /* one session on a large mailbox, timed per command */
	MODE_LMTP,     /* deliver messages over C connections */
	MODE_POP3,     /* download every message of a maildrop, in a loop */
	MODE_IMAPCMD,  /* -c sessions log in and SELECT, then on a line from
			  stdin repeat one command (--cmd) for -d seconds */
};

enum imap_cmd_kind { CMD_FETCH, CMD_STORE, CMD_SEARCH };
static const char *const cmd_names[] = { "fetch", "store", "search" };

/* Where an imapcmd connection is: setting up, logged in and waiting for
   the start, in the timed loop, past the deadline, logging out. */
enum cmd_phase { CP_SETUP, CP_READY, CP_TIMED, CP_TIMED_DONE, CP_LOGOUT };

static const char *const mode_names[] = {
	"prelogin", "login", "idle", "imapmix", "bigbox", "lmtp", "pop3",
	"imapcmd",
};

/* What the connection is waiting for; reaching it calls the mode's step. */
enum wait {
	WAIT_NONE,	/* nothing: input is read and dropped (idle) */
	WAIT_LINE,	/* one line (greeting, POP3 single-line reply) */
	WAIT_TAGGED,	/* IMAP: everything up to the tagged reply */
	WAIT_CONT,	/* IMAP: a "+" continuation, or the tagged reply */
	WAIT_POP_MULTI, /* POP3: +OK line, data, "." line */
	WAIT_SMTP,	/* LMTP: smtp_left replies, each maybe multi-line */
	WAIT_EOF,	/* the server closes the connection */
};

enum conn_state { CS_FREE, CS_CONNECTING, CS_HANDSHAKE, CS_ACTIVE };

struct conn {
	unsigned int idx;
	int fd;
	SSL *ssl;
	enum conn_state state;
	uint32_t events; /* registered with epoll */
	bool want_write; /* TLS needs the socket writable to go on */

	char *rbuf;
	size_t rsize, rlen, rpos;
	char *wbuf;
	size_t wsize, wlen, wpos;

	enum wait wait;
	bool ok;	    /* the reply that completed the wait was OK */
	bool cont;	    /* WAIT_CONT ended on a "+" */
	bool in_literal_line; /* the next line continues a response */
	uint64_t literal_left;
	unsigned int smtp_left;
	bool smtp_ok;
	char tag[16];
	unsigned int tagn;
	char last_line[256]; /* the line that completed the wait */

	int step;
	bool done;
	bool ready; /* idle mode: settled */
	unsigned int user;
	unsigned int seed;
	int64_t session_start, op_start;
	bool pop_status_seen;

	/* protocol state */
	unsigned int exists;
	unsigned long appenduid;
	unsigned int fetch_lines, search_hits;
	uint64_t lit_bytes;  /* literal bytes of the current reply */
	bool first_done;     /* imapcmd: this part's first command answered */
	unsigned int pop_count, pop_next;
	uint64_t pop_bytes;
	bool pipelining;
	unsigned int msg; /* message being sent */
	unsigned int mix_r;
	enum cmd_phase cphase;
};

static struct options {
	enum mode mode;
	const char *host;
	int port;
	bool tls;
	unsigned int conns;
	double duration;
	unsigned int count;
	const char *user_fmt;
	unsigned int nusers;
	unsigned int user_base;
	const char *password;
	const char *msgs_path;
	const char *rare, *common, *subject;
	bool idle_login;
	unsigned int inflight;
	unsigned int src_ips;
	double timeout;
	const char *domain;
	unsigned int seed;
	enum imap_cmd_kind cmd;
	/* imapcmd: the commands of the timed parts, one after the other on
	   the same sessions (--cmd fetch,store,search) */
	enum imap_cmd_kind cmds[8];
	unsigned int ncmds;
} opt = {
	.host = "127.0.0.1",
	.conns = 10,
	.duration = 5,
	.user_fmt = "user%u",
	.nusers = 1,
	.user_base = 1,
	.password = "benchpass",
	.rare = "zyzzyva",
	.common = "the",
	.subject = "re",
	.inflight = 64,
	.timeout = 60,
	.domain = "bench.test",
	.seed = 1,
};

struct msg {
	char *data;
	size_t len;
};

static struct {
	struct msg *v;
	unsigned int count;
} msgs;

static int epfd;
static struct conn *conns;
static SSL_CTX *ssl_ctx;
static struct sockaddr_in server_addr;
static int64_t t_start, t_deadline, t_last_progress;
static bool time_up;

/* results */
static uint64_t n_ops, n_sessions, n_errors, n_bytes;
/* commands answered NO/BAD (not in n_ops); imapcmd: SEARCH results and
   FETCH replies seen in the timed part, to check both servers did the
   same work */
static uint64_t n_failed, n_search_hits, n_fetch_replies;
/* imapcmd: the replies to each session's first command of a part, which
   is the same command on every server (each part reseeds r), summed */
static uint64_t n_first_hits, n_first_bytes;
static unsigned int n_done, n_ready, n_started, n_active_starts;
static unsigned int lmtp_claimed;
static char first_error[512];
static uint32_t *lat_us;
static size_t lat_count, lat_size;
static double bigbox_ms[4];
static unsigned int bigbox_fetch_lines, bigbox_hits[2];
/* imapcmd: connections whose set-up ended (ready or failed), and those
   still in the timed loop */
static unsigned int n_setup_end, n_cmd_live;

static void conn_start(struct conn *c);
static bool after_deadline(void);
static void conn_fail(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void conn_read(struct conn *c);
static void step(struct conn *c);

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (p == NULL)
		die("out of memory");
	return p;
}

static void lat_add(int64_t us)
{
	if (lat_count == lat_size) {
		lat_size = lat_size == 0 ? 4096 : lat_size * 2;
		lat_us = xrealloc(lat_us, lat_size * sizeof(*lat_us));
	}
	lat_us[lat_count++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double lat_pct(double p)
{
	if (lat_count == 0)
		return 0;
	size_t i = (size_t)(p * (double)(lat_count - 1) + 0.5);
	return lat_us[i] / 1000.0;
}

/* ---- messages ---------------------------------------------------------- */

/* The file bench/run writes: for each message "<length>\n" and that many
   bytes, with CRLF line ends already. LMTP needs them dot-stuffed. */
static void msgs_load(const char *path, bool dot_stuff)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	size_t len;
	unsigned int size = 0;
	while (fscanf(f, "%zu", &len) == 1) {
		if (fgetc(f) != '\n')
			die("%s: bad format", path);
		char *data = xrealloc(NULL, len);
		if (fread(data, 1, len, f) != len)
			die("%s: truncated", path);
		if (dot_stuff) {
			/* worst case every line starts with a dot */
			char *out = xrealloc(NULL, len * 2 + 1);
			size_t o = 0;
			for (size_t i = 0; i < len; i++) {
				if (data[i] == '.' &&
				    (i == 0 || data[i - 1] == '\n'))
					out[o++] = '.';
				out[o++] = data[i];
			}
			free(data);
			data = out;
			len = o;
		}
		if (msgs.count == size) {
			size = size == 0 ? 1024 : size * 2;
			msgs.v = xrealloc(msgs.v, size * sizeof(*msgs.v));
		}
		msgs.v[msgs.count].data = data;
		msgs.v[msgs.count].len = len;
		msgs.count++;
	}
	fclose(f);
	if (msgs.count == 0)
		die("%s: no messages", path);
}

/* ---- errors ------------------------------------------------------------ */

static void note_error(struct conn *c, const char *fmt, ...)
{
	n_errors++;
	if (first_error[0] == '\0') {
		va_list ap;
		int n = snprintf(first_error, sizeof(first_error),
				 "conn %u step %d: ", c->idx, c->step);
		va_start(ap, fmt);
		vsnprintf(first_error + n, sizeof(first_error) - n, fmt, ap);
		va_end(ap);
		fprintf(stderr, "loadgen: %s\n", first_error);
	}
}

/* ---- connections ------------------------------------------------------- */

static void conn_set_events(struct conn *c)
{
	uint32_t ev = EPOLLIN;
	if (c->state == CS_CONNECTING || c->want_write ||
	    c->wpos < c->wlen)
		ev |= EPOLLOUT;
	if (ev == c->events)
		return;
	struct epoll_event e = { .events = ev, .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
	c->events = ev;
}

static void conn_close(struct conn *c, bool reset)
{
	if (c->state == CS_FREE)
		return;
	if (reset) {
		/* an abortive close leaves no TIME_WAIT behind: the idle
		   mode closes thousands of connections at once */
		struct linger l = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->fd);
	c->fd = -1;
	c->state = CS_FREE;
	c->events = 0;
	c->want_write = false;
	c->rlen = c->rpos = 0;
	c->wlen = c->wpos = 0;
	c->literal_left = 0;
	c->in_literal_line = false;
	c->wait = WAIT_NONE;
}

/* A connection is finished for good: no more sessions on it. */
static void conn_finish(struct conn *c)
{
	conn_close(c, false);
	if (!c->done) {
		c->done = true;
		n_done++;
	}
}

/* A session ended (well or not): start another one if the mode loops and
   time is left, else finish. */
static void conn_session_end(struct conn *c, bool ok)
{
	conn_close(c, false);
	if (ok) {
		n_sessions++;
		if (opt.mode == MODE_PRELOGIN || opt.mode == MODE_LOGIN) {
			n_ops++;
			lat_add(now_us() - c->session_start);
		}
	}
	bool loops = opt.mode == MODE_PRELOGIN || opt.mode == MODE_LOGIN ||
		     opt.mode == MODE_POP3;
	if (loops && !after_deadline())
		conn_start(c);
	else
		conn_finish(c);
}

static void conn_fail(struct conn *c, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	note_error(c, "%s", buf);
	/* an error ends this connection's loop: a server that refuses
	   everything must not turn the run into a busy loop of errors */
	conn_finish(c);
	if (opt.mode == MODE_IMAPCMD) {
		if (c->cphase == CP_SETUP)
			n_setup_end++;
		else if (c->cphase == CP_TIMED)
			n_cmd_live--;
		c->cphase = CP_LOGOUT;
	}
	if (opt.mode == MODE_IDLE && !c->ready) {
		c->ready = true; /* settled, though not ok */
		n_active_starts--;
	}
}

static void conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->wlen + len > c->wsize) {
		if (c->wpos > 0) {
			memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
			c->wlen -= c->wpos;
			c->wpos = 0;
		}
		if (c->wlen + len > c->wsize) {
			c->wsize = c->wlen + len + 4096;
			c->wbuf = xrealloc(c->wbuf, c->wsize);
		}
	}
	memcpy(c->wbuf + c->wlen, data, len);
	c->wlen += len;
}

static void conn_printf(struct conn *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		die("command too long");
	conn_write(c, buf, n);
}

/* Returns false if the connection failed (and was closed). */
static bool conn_flush(struct conn *c)
{
	c->want_write = false;
	while (c->wpos < c->wlen) {
		size_t left = c->wlen - c->wpos;
		ssize_t n;
		if (c->ssl != NULL) {
			int r = SSL_write(c->ssl, c->wbuf + c->wpos,
					  left > INT32_MAX ? INT32_MAX
							   : (int)left);
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE)
					break;
				if (e == SSL_ERROR_WANT_READ)
					break; /* the read side goes on */
				conn_fail(c, "SSL_write failed (%d)", e);
				return false;
			}
			n = r;
		} else {
			n = send(c->fd, c->wbuf + c->wpos, left, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				conn_fail(c, "send: %s", strerror(errno));
				return false;
			}
		}
		c->wpos += n;
	}
	if (c->wpos == c->wlen)
		c->wpos = c->wlen = 0;
	conn_set_events(c);
	return true;
}

static void conn_send(struct conn *c)
{
	if (c->state == CS_ACTIVE)
		(void)conn_flush(c);
}

static void conn_start(struct conn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s (raise the fd limit?)", strerror(errno));
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (opt.src_ips > 0) {
		/* spread over 127.0.0.2.. so that 10,000s of connections to
		   one port never run out of source ports; the port is chosen
		   at connect() time (IP_BIND_ADDRESS_NO_PORT) */
		struct sockaddr_in src = { .sin_family = AF_INET };
		src.sin_addr.s_addr =
			htonl(0x7f000002u + c->idx % opt.src_ips);
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
			   sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
			die("bind: %s", strerror(errno));
	}
	c->state = CS_CONNECTING;
	c->step = 0;
	c->session_start = now_us();
	c->tagn = 0;
	struct epoll_event e = { .events = EPOLLOUT | EPOLLIN, .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
	c->events = e.events;
	if (connect(c->fd, (struct sockaddr *)&server_addr,
		    sizeof(server_addr)) < 0 &&
	    errno != EINPROGRESS)
		conn_fail(c, "connect: %s", strerror(errno));
}

static void conn_handshake(struct conn *c)
{
	int r = SSL_connect(c->ssl);
	if (r == 1) {
		c->state = CS_ACTIVE;
		c->want_write = false;
		conn_set_events(c);
		step(c);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		c->want_write = false;
		conn_set_events(c);
	} else if (e == SSL_ERROR_WANT_WRITE) {
		c->want_write = true;
		conn_set_events(c);
	} else {
		unsigned long err = ERR_get_error();
		conn_fail(c, "TLS handshake failed: %s",
			  err != 0 ? ERR_reason_error_string(err) : "closed");
	}
}

static void conn_connected(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err != 0) {
		conn_fail(c, "connect: %s", strerror(err));
		return;
	}
	if (opt.tls) {
		c->ssl = SSL_new(ssl_ctx);
		SSL_set_fd(c->ssl, c->fd);
		SSL_set_tlsext_host_name(c->ssl, "localhost");
		c->state = CS_HANDSHAKE;
		conn_handshake(c);
		return;
	}
	c->state = CS_ACTIVE;
	conn_set_events(c);
	step(c);
}

/* ---- protocol helpers -------------------------------------------------- */

static void imap_cmd(struct conn *c, enum wait w, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	snprintf(c->tag, sizeof(c->tag), "A%u", ++c->tagn);
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		die("command too long");
	conn_printf(c, "%s %s\r\n", c->tag, buf);
	c->wait = w;
	c->ok = false;
	c->cont = false;
	c->op_start = now_us();
	conn_send(c);
}

static void line_cmd(struct conn *c, enum wait w, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + 2 >= sizeof(buf))
		die("command too long");
	memcpy(buf + n, "\r\n", 2);
	conn_write(c, buf, n + 2);
	c->wait = w;
	c->ok = false;
	c->op_start = now_us();
	conn_send(c);
}

static void smtp_expect(struct conn *c, unsigned int replies)
{
	c->wait = WAIT_SMTP;
	c->smtp_left = replies;
	c->smtp_ok = true;
}

static void user_name(unsigned int n, char *buf, size_t size)
{
	snprintf(buf, size, opt.user_fmt, n);
}

/* A completed IMAP command counts as an operation (with its latency) only
   if its tagged reply was OK: a server that answers NO or BAD to everything
   must not look fast. Failed ones are counted apart, as errors. */
static void imap_op_done(struct conn *c)
{
	if (!c->ok) {
		n_failed++;
		note_error(c, "command failed: %s", c->last_line);
		return;
	}
	n_ops++;
	lat_add(now_us() - c->op_start);
}

/* ---- line processing --------------------------------------------------- */

static void save_line(struct conn *c, const char *line, size_t len)
{
	if (len >= sizeof(c->last_line))
		len = sizeof(c->last_line) - 1;
	memcpy(c->last_line, line, len);
	c->last_line[len] = '\0';
}

/* One IMAP line (CRLF stripped). Returns true when the wait is complete. */
static bool imap_line(struct conn *c, const char *line, size_t len)
{
	bool continued = c->in_literal_line;
	c->in_literal_line = false;
	/* a line ending in {N} or {N+} is followed by N bytes of literal,
	   then the rest of the same response */
	if (len >= 3 && line[len - 1] == '}') {
		size_t i = len - 2;
		if (line[i] == '+')
			i--;
		size_t end = i + 1;
		while (i > 0 && line[i] >= '0' && line[i] <= '9')
			i--;
		if (line[i] == '{' && end > i + 1) {
			c->literal_left = strtoull(line + i + 1, NULL, 10);
			c->in_literal_line = true;
		}
	}
	if (continued)
		return false;
	if (line[0] == '*' && len > 2) {
		unsigned int n;
		char word[16];
		if (sscanf(line, "* %u %15s", &n, word) == 2) {
			if (strcasecmp(word, "EXISTS") == 0)
				c->exists = n;
			else if (strcasecmp(word, "FETCH") == 0)
				c->fetch_lines++;
			else if (strcasecmp(word, "EXPUNGE") == 0 &&
				 c->exists > 0)
				c->exists--;
		} else if (len >= 8 && strncasecmp(line, "* SEARCH", 8) == 0) {
			for (size_t i = 8; i < len; i++)
				if (line[i] == ' ' && i + 1 < len &&
				    line[i + 1] != ' ')
					c->search_hits++;
		}
		return false;
	}
	if (line[0] == '+' && c->wait == WAIT_CONT) {
		c->cont = true;
		c->ok = true;
		return true;
	}
	size_t tl = strlen(c->tag);
	if (c->tag[0] != '\0' && len > tl && strncmp(line, c->tag, tl) == 0 &&
	    line[tl] == ' ') {
		c->ok = strncasecmp(line + tl + 1, "OK", 2) == 0;
		save_line(c, line, len);
		const char *p = strcasestr(line, "[APPENDUID ");
		unsigned long validity, uid;
		if (p != NULL &&
		    sscanf(p, "[APPENDUID %lu %lu]", &validity, &uid) == 2)
			c->appenduid = uid;
		return true;
	}
	return false;
}

static bool smtp_line(struct conn *c, const char *line, size_t len)
{
	if (len < 3) {
		c->smtp_ok = false;
		return false;
	}
	if (len > 4 && strncasecmp(line + 4, "PIPELINING", 10) == 0)
		c->pipelining = true;
	if (len > 3 && line[3] == '-')
		return false;
	/* the 354 after DATA is a success for the step that expects it */
	if (line[0] != '2' && line[0] != '3') {
		c->smtp_ok = false;
		save_line(c, line, len);
	}
	if (--c->smtp_left > 0)
		return false;
	c->ok = c->smtp_ok;
	if (c->ok)
		save_line(c, line, len);
	return true;
}

/* Parse what is buffered; call step() for each completed wait. */
static void conn_parse(struct conn *c)
{
	while (c->state == CS_ACTIVE) {
		if (c->literal_left > 0) {
			size_t avail = c->rlen - c->rpos;
			size_t n = avail < c->literal_left ? avail
							   : c->literal_left;
			c->rpos += n;
			c->literal_left -= n;
			n_bytes += n;
			c->lit_bytes += n;
			if (c->literal_left > 0)
				break;
			continue;
		}
		char *start = c->rbuf + c->rpos;
		char *nl = memchr(start, '\n', c->rlen - c->rpos);
		if (nl == NULL)
			break;
		size_t len = nl - start;
		c->rpos += len + 1;
		if (len > 0 && start[len - 1] == '\r')
			len--;
		start[len] = '\0';
		bool complete = false;
		switch (c->wait) {
		case WAIT_NONE:
		case WAIT_EOF:
			break;
		case WAIT_LINE:
			c->ok = len >= 1 && (start[0] == '+' || start[0] == '*');
			save_line(c, start, len);
			complete = true;
			break;
		case WAIT_TAGGED:
		case WAIT_CONT:
			complete = imap_line(c, start, len);
			break;
		case WAIT_POP_MULTI:
			if (!c->pop_status_seen) {
				c->pop_status_seen = true;
				if (start[0] != '+') {
					c->ok = false;
					save_line(c, start, len);
					complete = true;
				}
			} else if (len == 1 && start[0] == '.') {
				c->ok = true;
				complete = true;
			} else {
				c->pop_bytes += len + 2;
			}
			break;
		case WAIT_SMTP:
			complete = smtp_line(c, start, len);
			break;
		}
		if (complete) {
			c->wait = WAIT_NONE;
			t_last_progress = now_us();
			step(c);
		}
	}
	if (c->state != CS_ACTIVE)
		return;
	/* keep the unparsed tail at the front */
	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
}

static void conn_read(struct conn *c)
{
	for (;;) {
		if (c->rsize - c->rlen < 1024) {
			if (c->rsize >= RBUF_MAX) {
				conn_fail(c, "line longer than %d bytes",
					  RBUF_MAX);
				return;
			}
			c->rsize = c->rsize == 0 ? RBUF_INITIAL : c->rsize * 2;
			c->rbuf = xrealloc(c->rbuf, c->rsize);
		}
		/* one byte kept for the NUL that conn_parse() puts in */
		size_t room = c->rsize - c->rlen - 1;
		ssize_t n;
		if (c->ssl != NULL) {
			int r = SSL_read(c->ssl, c->rbuf + c->rlen,
					 room > INT32_MAX ? INT32_MAX
							  : (int)room);
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ)
					return;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->want_write = true;
					conn_set_events(c);
					return;
				}
				n = 0; /* closed (cleanly or not) */
			} else {
				n = r;
			}
		} else {
			n = recv(c->fd, c->rbuf + c->rlen, room, 0);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return;
				if (errno != ECONNRESET) {
					conn_fail(c, "recv: %s",
						  strerror(errno));
					return;
				}
				n = 0;
			}
		}
		if (n == 0) {
			if (c->wait == WAIT_EOF) {
				c->wait = WAIT_NONE;
				t_last_progress = now_us();
				step(c);
			} else {
				conn_fail(c, "connection closed by the server"
					     " (last line: %s)",
					  c->last_line);
			}
			return;
		}
		c->rlen += n;
		if (c->wait == WAIT_NONE && c->literal_left == 0 &&
		    opt.mode == MODE_IDLE) {
			c->rlen = 0; /* idle: drop "* OK Still here" etc. */
			continue;
		}
		conn_parse(c);
		if (c->state != CS_ACTIVE)
			return;
	}
}

/* ---- scenarios --------------------------------------------------------- */

static bool after_deadline(void)
{
	if (!time_up && t_deadline != 0 && now_us() >= t_deadline)
		time_up = true;
	return time_up;
}

static void idle_settled(struct conn *c)
{
	c->ready = true;
	c->wait = WAIT_NONE;
	n_ready++;
	n_active_starts--;
}

static void step_prelogin(struct conn *c)
{
	char user[64];
	switch (c->step++) {
	case 0:
		c->wait = WAIT_LINE;
		return;
	case 1:
		if (strncmp(c->last_line, "* OK", 4) != 0) {
			conn_fail(c, "bad greeting: %s", c->last_line);
			return;
		}
		if (opt.mode == MODE_LOGIN) {
			user_name(opt.user_base +
					  (unsigned int)(n_started++ %
							 opt.nusers),
				  user, sizeof(user));
			imap_cmd(c, WAIT_TAGGED, "LOGIN %s %s", user,
				 opt.password);
		} else {
			imap_cmd(c, WAIT_TAGGED, "CAPABILITY");
		}
		return;
	case 2:
		if (!c->ok) {
			conn_fail(c, "%s", c->last_line);
			return;
		}
		imap_cmd(c, WAIT_TAGGED, "LOGOUT");
		return;
	case 3:
		/* wait for the server to close: it, not us, keeps the
		   TIME_WAIT, so a long loop never runs out of ports */
		c->wait = WAIT_EOF;
		return;
	default:
		conn_session_end(c, true);
		after_deadline();
		return;
	}
}

static void step_idle(struct conn *c)
{
	char user[64];
	switch (c->step++) {
	case 0:
		c->wait = WAIT_LINE;
		return;
	case 1:
		if (strncmp(c->last_line, "* OK", 4) != 0) {
			conn_fail(c, "bad greeting: %s", c->last_line);
			return;
		}
		if (!opt.idle_login) {
			idle_settled(c);
			return;
		}
		user_name(opt.user_base + c->idx, user, sizeof(user));
		imap_cmd(c, WAIT_TAGGED, "LOGIN %s %s", user, opt.password);
		return;
	case 2:
		if (!c->ok) {
			conn_fail(c, "%s", c->last_line);
			return;
		}
		imap_cmd(c, WAIT_TAGGED, "SELECT INBOX");
		return;
	case 3:
		if (!c->ok) {
			conn_fail(c, "%s", c->last_line);
			return;
		}
		imap_cmd(c, WAIT_CONT, "IDLE");
		return;
	case 4:
		if (!c->cont) {
			conn_fail(c, "IDLE refused: %s", c->last_line);
			return;
		}
		idle_settled(c);
		return;
	}
}

/* A client-like cycle on the connection's own mailbox: open it, resync the
   flags, list the newest 20, read one message's structure and first part,
   toggle \Seen, search, append a message and expunge it again (so that the
   mailbox keeps its size from one cycle to the next). c->step names the
   command whose reply has just arrived. */
enum mix_step {
	MIX_CONNECTED, MIX_GREETING, MIX_LOGIN, MIX_SELECT, MIX_UID_FETCH,
	MIX_FETCH_LIST, MIX_FETCH_BODY, MIX_STORE, MIX_SEARCH_UNSEEN,
	MIX_SEARCH_SUBJECT, MIX_APPEND, MIX_APPEND_DATA, MIX_DELETE,
	MIX_EXPUNGE, MIX_LOGOUT, MIX_EOF,
};

static void mix_command(struct conn *c, enum mix_step next, enum wait w,
			const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->step = next;
	imap_cmd(c, w, "%s", buf);
}

static void mix_cycle(struct conn *c)
{
	if (after_deadline())
		mix_command(c, MIX_LOGOUT, WAIT_TAGGED, "LOGOUT");
	else
		mix_command(c, MIX_SELECT, WAIT_TAGGED, "SELECT INBOX");
}

static void mix_append(struct conn *c)
{
	c->msg = rand_r(&c->seed) % msgs.count;
	c->appenduid = 0;
	mix_command(c, MIX_APPEND, WAIT_CONT, "APPEND INBOX (\\Seen) {%zu}",
		    msgs.v[c->msg].len);
}

static void step_imapmix(struct conn *c)
{
	char user[64];
	enum mix_step s = c->step;
	if (s >= MIX_SELECT && s <= MIX_EXPUNGE && s != MIX_APPEND)
		imap_op_done(c);
	switch (s) {
	case MIX_CONNECTED:
		c->step = MIX_GREETING;
		c->wait = WAIT_LINE;
		return;
	case MIX_GREETING:
		if (strncmp(c->last_line, "* OK", 4) != 0) {
			conn_fail(c, "bad greeting: %s", c->last_line);
			return;
		}
		user_name(opt.user_base + c->idx, user, sizeof(user));
		mix_command(c, MIX_LOGIN, WAIT_TAGGED, "LOGIN %s %s", user,
			    opt.password);
		return;
	case MIX_LOGIN:
		if (!c->ok) {
			conn_fail(c, "%s", c->last_line);
			return;
		}
		mix_cycle(c);
		return;
	case MIX_SELECT:
		mix_command(c, MIX_UID_FETCH, WAIT_TAGGED,
			    "UID FETCH 1:* (FLAGS)");
		return;
	case MIX_UID_FETCH:
		if (c->exists == 0) {
			mix_append(c);
			return;
		}
		mix_command(c, MIX_FETCH_LIST, WAIT_TAGGED,
			    "FETCH %u:%u (FLAGS ENVELOPE)",
			    c->exists > 20 ? c->exists - 19 : 1, c->exists);
		return;
	case MIX_FETCH_LIST:
		c->mix_r = 1 + rand_r(&c->seed) % c->exists;
		mix_command(c, MIX_FETCH_BODY, WAIT_TAGGED,
			    "FETCH %u (BODYSTRUCTURE BODY.PEEK[1])", c->mix_r);
		return;
	case MIX_FETCH_BODY:
		mix_command(c, MIX_STORE, WAIT_TAGGED,
			    "STORE %u %cFLAGS (\\Seen)", c->mix_r,
			    rand_r(&c->seed) % 2 ? '+' : '-');
		return;
	case MIX_STORE:
		mix_command(c, MIX_SEARCH_UNSEEN, WAIT_TAGGED, "SEARCH UNSEEN");
		return;
	case MIX_SEARCH_UNSEEN:
		mix_command(c, MIX_SEARCH_SUBJECT, WAIT_TAGGED,
			    "SEARCH SUBJECT \"%s\"", opt.subject);
		return;
	case MIX_SEARCH_SUBJECT:
		mix_append(c);
		return;
	case MIX_APPEND:
		if (!c->cont) {
			imap_op_done(c); /* refused before the literal */
			mix_cycle(c);
			return;
		}
		/* the same command goes on: op_start stays */
		conn_write(c, msgs.v[c->msg].data, msgs.v[c->msg].len);
		conn_write(c, "\r\n", 2);
		c->step = MIX_APPEND_DATA;
		c->wait = WAIT_TAGGED;
		c->ok = false;
		conn_send(c);
		return;
	case MIX_APPEND_DATA:
		if (c->appenduid != 0)
			mix_command(c, MIX_DELETE, WAIT_TAGGED,
				    "UID STORE %lu +FLAGS.SILENT (\\Deleted)",
				    c->appenduid);
		else
			mix_command(c, MIX_DELETE, WAIT_TAGGED,
				    "STORE * +FLAGS.SILENT (\\Deleted)");
		return;
	case MIX_DELETE:
		mix_command(c, MIX_EXPUNGE, WAIT_TAGGED, "EXPUNGE");
		return;
	case MIX_EXPUNGE:
		n_sessions++; /* counts cycles */
		mix_cycle(c);
		return;
	case MIX_LOGOUT:
		c->step = MIX_EOF;
		c->wait = WAIT_EOF;
		return;
	case MIX_EOF:
		conn_finish(c);
		return;
	}
}

static void step_bigbox(struct conn *c)
{
	char user[64];
	int s = c->step++;
	if (s >= 3 && s <= 6) {
		bigbox_ms[s - 3] = (now_us() - c->op_start) / 1000.0;
		imap_op_done(c);
	}
	switch (s) {
	case 0:
		c->wait = WAIT_LINE;
		return;
	case 1:
		user_name(opt.user_base, user, sizeof(user));
		imap_cmd(c, WAIT_TAGGED, "LOGIN %s %s", user, opt.password);
		return;
	case 2:
		if (!c->ok) {
			conn_fail(c, "%s", c->last_line);
			return;
		}
		imap_cmd(c, WAIT_TAGGED, "SELECT INBOX");
		return;
	case 3:
		c->fetch_lines = 0;
		imap_cmd(c, WAIT_TAGGED, "UID FETCH 1:* (FLAGS)");
		return;
	case 4:
		bigbox_fetch_lines = c->fetch_lines;
		c->search_hits = 0;
		imap_cmd(c, WAIT_TAGGED, "SEARCH BODY \"%s\"", opt.rare);
		return;
	case 5:
		bigbox_hits[0] = c->search_hits;
		c->search_hits = 0;
		imap_cmd(c, WAIT_TAGGED, "SEARCH BODY \"%s\"", opt.common);
		return;
	case 6:
		bigbox_hits[1] = c->search_hits;
		imap_cmd(c, WAIT_TAGGED, "LOGOUT");
		return;
	case 7:
		c->wait = WAIT_EOF;
		return;
	default:
		conn_finish(c);
		return;
	}
}

static bool lmtp_claim(struct conn *c)
{
	if (after_deadline() || lmtp_claimed >= opt.count)
		return false;
	c->msg = lmtp_claimed++;
	return true;
}

static void lmtp_send_mail(struct conn *c)
{
	unsigned int rcpt = opt.user_base + c->msg % opt.nusers;
	char user[64];
	user_name(rcpt, user, sizeof(user));
	c->op_start = now_us();
	if (c->pipelining) {
		conn_printf(c,
			    "MAIL FROM:<bench@%s>\r\nRCPT TO:<%s>\r\n"
			    "DATA\r\n",
			    opt.domain, user);
		smtp_expect(c, 3);
		c->step = 5;
	} else {
		conn_printf(c, "MAIL FROM:<bench@%s>\r\n", opt.domain);
		smtp_expect(c, 1);
		c->step = 3;
	}
	conn_send(c);
}

static void step_lmtp(struct conn *c)
{
	char user[64];
	int s = c->step++;
	if (s >= 1 && s <= 7 && !c->ok) {
		conn_fail(c, "%s", c->last_line);
		return;
	}
	switch (s) {
	case 0:
		smtp_expect(c, 1);
		return;
	case 1:
		line_cmd(c, WAIT_SMTP, "LHLO loadgen.%s", opt.domain);
		smtp_expect(c, 1);
		return;
	case 2:
	case 6:
		if (s == 6) {
			n_ops++;
			n_bytes += msgs.v[c->msg % msgs.count].len;
			lat_add(now_us() - c->op_start);
		}
		if (!lmtp_claim(c)) {
			line_cmd(c, WAIT_SMTP, "QUIT");
			smtp_expect(c, 1);
			c->step = 7;
			return;
		}
		lmtp_send_mail(c);
		return;
	case 3: /* without PIPELINING: one command at a time */
		user_name(opt.user_base + c->msg % opt.nusers, user,
			  sizeof(user));
		line_cmd(c, WAIT_SMTP, "RCPT TO:<%s>", user);
		smtp_expect(c, 1);
		return;
	case 4:
		line_cmd(c, WAIT_SMTP, "DATA");
		smtp_expect(c, 1);
		return;
	case 5: {
		const struct msg *m = &msgs.v[c->msg % msgs.count];
		conn_write(c, m->data, m->len);
		conn_write(c, ".\r\n", 3);
		smtp_expect(c, 1);
		c->step = 6;
		conn_send(c);
		return;
	}
	case 7:
		c->wait = WAIT_EOF;
		return;
	default:
		conn_finish(c);
		return;
	}
}

static void step_pop3(struct conn *c)
{
	char user[64];
	int s = c->step++;
	if (s >= 1 && s <= 6 && !c->ok) {
		conn_fail(c, "%s", c->last_line);
		return;
	}
	switch (s) {
	case 0:
		c->wait = WAIT_LINE;
		return;
	case 1:
		user_name(opt.user_base + c->idx % opt.nusers, user,
			  sizeof(user));
		line_cmd(c, WAIT_LINE, "USER %s", user);
		return;
	case 2:
		line_cmd(c, WAIT_LINE, "PASS %s", opt.password);
		return;
	case 3:
		line_cmd(c, WAIT_LINE, "STAT");
		return;
	case 4:
		if (sscanf(c->last_line, "+OK %u", &c->pop_count) != 1) {
			conn_fail(c, "bad STAT reply: %s", c->last_line);
			return;
		}
		c->pop_next = 1;
		/* fall through */
	case 5:
		if (s == 5) {
			n_ops++;
			lat_add(now_us() - c->op_start);
		}
		if (c->pop_next <= c->pop_count) {
			c->step = 5;
			c->pop_status_seen = false;
			line_cmd(c, WAIT_POP_MULTI, "RETR %u", c->pop_next++);
			return;
		}
		c->step = 6;
		line_cmd(c, WAIT_LINE, "QUIT");
		return;
	case 6:
		c->wait = WAIT_EOF;
		return;
	default:
		n_bytes += c->pop_bytes;
		c->pop_bytes = 0;
		conn_session_end(c, true);
		after_deadline();
		return;
	}
}

static void cmd_send(struct conn *c)
{
	unsigned int r = 1 + rand_r(&c->seed) % c->exists;
	c->fetch_lines = 0;
	c->search_hits = 0;
	c->lit_bytes = 0;
	switch (opt.cmd) {
	case CMD_FETCH:
		imap_cmd(c, WAIT_TAGGED, "FETCH %u (FLAGS BODY.PEEK[])", r);
		break;
	case CMD_STORE:
		imap_cmd(c, WAIT_TAGGED, "STORE %u %cFLAGS (\\Flagged)", r,
			 rand_r(&c->seed) % 2 ? '+' : '-');
		break;
	case CMD_SEARCH:
		imap_cmd(c, WAIT_TAGGED, "SEARCH SUBJECT \"%s\"",
			 opt.subject);
		break;
	}
}

/* imapcmd: log in, SELECT, wait for the start (CP_READY); then each reply
   of the timed loop counts and the next command goes out until the
   deadline (CP_TIMED_DONE); the main loop then sends LOGOUT. */
static void step_imapcmd(struct conn *c)
{
	char user[64];
	switch (c->step++) {
	case 0:
		c->wait = WAIT_LINE;
		return;
	case 1:
		if (strncmp(c->last_line, "* OK", 4) != 0) {
			conn_fail(c, "bad greeting: %s", c->last_line);
			return;
		}
		user_name(opt.user_base + c->idx % opt.nusers, user,
			  sizeof(user));
		imap_cmd(c, WAIT_TAGGED, "LOGIN %s %s", user, opt.password);
		return;
	case 2:
		if (!c->ok) {
			conn_fail(c, "%s", c->last_line);
			return;
		}
		c->exists = 0;
		imap_cmd(c, WAIT_TAGGED, "SELECT INBOX");
		return;
	case 3:
		if (!c->ok || c->exists == 0) {
			conn_fail(c, "SELECT: %s%s", c->last_line,
				  c->ok ? " (empty mailbox)" : "");
			return;
		}
		c->cphase = CP_READY;
		c->wait = WAIT_NONE;
		n_setup_end++;
		n_ready++;
		return;
	case 4:
		imap_op_done(c);
		if (c->ok) {
			n_fetch_replies += c->fetch_lines;
			n_search_hits += c->search_hits;
			if (!c->first_done) {
				c->first_done = true;
				n_first_hits += c->search_hits;
				n_first_bytes += c->lit_bytes;
			}
			if (opt.cmd == CMD_FETCH && c->fetch_lines == 0)
				note_error(c, "FETCH: OK without the message");
		}
		if (after_deadline()) {
			c->cphase = CP_TIMED_DONE;
			c->wait = WAIT_NONE;
			n_cmd_live--;
			return;
		}
		c->step = 4;
		cmd_send(c);
		return;
	case 5:
		c->wait = WAIT_EOF;
		return;
	default:
		conn_finish(c);
		return;
	}
}

static void step(struct conn *c)
{
	switch (opt.mode) {
	case MODE_PRELOGIN:
	case MODE_LOGIN:
		step_prelogin(c);
		break;
	case MODE_IDLE:
		step_idle(c);
		break;
	case MODE_IMAPMIX:
		step_imapmix(c);
		break;
	case MODE_BIGBOX:
		step_bigbox(c);
		break;
	case MODE_LMTP:
		step_lmtp(c);
		break;
	case MODE_POP3:
		step_pop3(c);
		break;
	case MODE_IMAPCMD:
		step_imapcmd(c);
		break;
	}
}

/* ---- main loop --------------------------------------------------------- */

static void conn_event(struct conn *c, uint32_t ev)
{
	switch (c->state) {
	case CS_FREE:
		return;
	case CS_CONNECTING:
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_connected(c);
		return;
	case CS_HANDSHAKE:
		conn_handshake(c);
		return;
	case CS_ACTIVE:
		if ((ev & EPOLLOUT) || c->want_write) {
			if (!conn_flush(c))
				return;
		}
		if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
			conn_read(c);
		return;
	}
}

static void raise_nofile(unsigned int need)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t want = need + 64;
	if (rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want) {
		rl.rlim_max = want; /* works as root */
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
			rl.rlim_cur = want;
			setrlimit(RLIMIT_NOFILE, &rl);
			return;
		}
		getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_max < want)
			die("need %u file descriptors, the hard limit is %lu",
			    need, (unsigned long)rl.rlim_max);
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("setrlimit: %s", strerror(errno));
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The idle mode waits on stdin: a line or EOF from bench/run ends it. */
static bool stdin_event(void)
{
	char buf[256];
	ssize_t n = read(0, buf, sizeof(buf));
	return n <= 0 || memchr(buf, '\n', n) != NULL;
}

static void print_result(double elapsed, double cpu)
{
	qsort(lat_us, lat_count, sizeof(*lat_us), cmp_u32);
	printf("{\"mode\":\"%s\",\"conns\":%u,\"ops\":%llu,"
	       "\"sessions\":%llu,\"errors\":%llu,\"elapsed\":%.6f,"
	       "\"rate\":%.3f,\"bytes\":%llu,\"lat_p50_ms\":%.3f,"
	       "\"lat_p99_ms\":%.3f,\"client_cpu\":%.3f",
	       mode_names[opt.mode], opt.conns, (unsigned long long)n_ops,
	       (unsigned long long)n_sessions, (unsigned long long)n_errors,
	       elapsed, elapsed > 0 ? n_ops / elapsed : 0.0,
	       (unsigned long long)n_bytes, lat_pct(0.5), lat_pct(0.99), cpu);
	printf(",\"failed\":%llu", (unsigned long long)n_failed);
	if (opt.mode == MODE_IDLE || opt.mode == MODE_IMAPCMD)
		printf(",\"ready\":%u", n_ready);
	if (opt.mode == MODE_IMAPCMD)
		printf(",\"cmd\":\"%s\",\"fetch_replies\":%llu,"
		       "\"search_hits\":%llu,\"first_hits\":%llu,"
		       "\"first_bytes\":%llu", cmd_names[opt.cmd],
		       (unsigned long long)n_fetch_replies,
		       (unsigned long long)n_search_hits,
		       (unsigned long long)n_first_hits,
		       (unsigned long long)n_first_bytes);
	if (opt.mode == MODE_BIGBOX)
		printf(",\"select_ms\":%.3f,\"fetch_ms\":%.3f,"
		       "\"search_rare_ms\":%.3f,\"search_common_ms\":%.3f,"
		       "\"fetch_lines\":%u,\"rare_hits\":%u,"
		       "\"common_hits\":%u",
		       bigbox_ms[0], bigbox_ms[1], bigbox_ms[2], bigbox_ms[3],
		       bigbox_fetch_lines, bigbox_hits[0], bigbox_hits[1]);
	if (first_error[0] != '\0') {
		printf(",\"first_error\":\"");
		for (const char *p = first_error; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				putchar('\\');
			putchar((unsigned char)*p < 0x20 ? '?' : *p);
		}
		putchar('"');
	}
	printf("}\n");
	fflush(stdout);
}

static void usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
"usage: loadgen MODE [options]\n"
"modes:\n"
"  prelogin  loops: connect, [TLS], greeting, CAPABILITY, LOGOUT\n"
"  login     loops: connect, greeting, LOGIN, LOGOUT (users cycled)\n"
"  idle      open -c connections, read the greeting (--login: and LOGIN,\n"
"            SELECT INBOX, IDLE), print READY, hold until stdin closes\n"
"  imapmix   -c clients, client i on user base+i, cycles of SELECT, FETCH,\n"
"            STORE, SEARCH, APPEND, EXPUNGE for -d seconds\n"
"  bigbox    one session: SELECT, UID FETCH 1:* (FLAGS), SEARCH BODY rare,\n"
"            SEARCH BODY common; each timed\n"
"  lmtp      deliver -n messages over -c connections, to -u users cycled\n"
"  pop3      loops: -c clients download every message of their maildrop\n"
"  imapcmd   -c sessions (on users base+i%%N) LOGIN and SELECT INBOX, print\n"
"            READY; each line on stdin starts -d seconds of the next\n"
"            command of --cmd LIST (fetch: FETCH r (FLAGS BODY.PEEK[]),\n"
"            store: STORE r +/-FLAGS (\\Flagged), search: SEARCH SUBJECT\n"
"            W), r random, on the same sessions; each part's result is\n"
"            printed at its deadline; the line after the last part (or\n"
"            EOF) makes the sessions LOG OUT\n"
"options:\n"
"  -H HOST -p PORT      server (127.0.0.1)\n"
"  -t                   implicit TLS\n"
"  -c N                 connections (10)\n"
"  -d SECONDS           duration of looping modes; cap for lmtp (5)\n"
"  -n N                 messages to deliver (lmtp)\n"
"  -U FMT -u N -b BASE  user names: printf FMT of BASE..BASE+N-1\n"
"  -P PASSWORD          password of every user (benchpass)\n"
"  -m FILE              messages (bench/run's packed format)\n"
"  --rare W --common W  words for bigbox's SEARCH BODY\n"
"  --subject W          word for SEARCH SUBJECT (imapmix, imapcmd) (re)\n"
"  --cmd LIST           imapcmd's commands: fetch, store, search, comma-\n"
"                       separated, one timed part each\n"
"  --login              idle: log in, select and IDLE\n"
"  --inflight N         idle: connections being set up at once (64)\n"
"  --src-ips N          spread connections over 127.0.0.2..2+N-1\n"
"  --timeout SECONDS    give up when nothing happens that long (60)\n");
	exit(status);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rare", required_argument, NULL, 1 },
		{ "common", required_argument, NULL, 2 },
		{ "subject", required_argument, NULL, 3 },
		{ "login", no_argument, NULL, 4 },
		{ "inflight", required_argument, NULL, 5 },
		{ "src-ips", required_argument, NULL, 6 },
		{ "timeout", required_argument, NULL, 7 },
		{ "seed", required_argument, NULL, 8 },
		{ "cmd", required_argument, NULL, 9 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	if (argc < 2)
		usage(1);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		usage(0);
	size_t m;
	for (m = 0; m < sizeof(mode_names) / sizeof(*mode_names); m++)
		if (strcmp(argv[1], mode_names[m]) == 0)
			break;
	if (m == sizeof(mode_names) / sizeof(*mode_names))
		usage(1);
	opt.mode = (enum mode)m;
	optind = 2;
	int ch;
	while ((ch = getopt_long(argc, argv, "H:p:tc:d:n:U:u:b:P:m:h",
				 longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': opt.host = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 't': opt.tls = true; break;
		case 'c': opt.conns = strtoul(optarg, NULL, 10); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'n': opt.count = strtoul(optarg, NULL, 10); break;
		case 'U': opt.user_fmt = optarg; break;
		case 'u': opt.nusers = strtoul(optarg, NULL, 10); break;
		case 'b': opt.user_base = strtoul(optarg, NULL, 10); break;
		case 'P': opt.password = optarg; break;
		case 'm': opt.msgs_path = optarg; break;
		case 1: opt.rare = optarg; break;
		case 2: opt.common = optarg; break;
		case 3: opt.subject = optarg; break;
		case 4: opt.idle_login = true; break;
		case 5: opt.inflight = strtoul(optarg, NULL, 10); break;
		case 6: opt.src_ips = strtoul(optarg, NULL, 10); break;
		case 7: opt.timeout = atof(optarg); break;
		case 8: opt.seed = strtoul(optarg, NULL, 10); break;
		case 9: {
			char *list = strdup(optarg), *save = NULL;
			opt.ncmds = 0;
			for (char *w = strtok_r(list, ",", &save); w != NULL;
			     w = strtok_r(NULL, ",", &save)) {
				for (m = 0;
				     m < sizeof(cmd_names) / sizeof(*cmd_names);
				     m++)
					if (strcmp(w, cmd_names[m]) == 0)
						break;
				if (m == sizeof(cmd_names) / sizeof(*cmd_names) ||
				    opt.ncmds == sizeof(opt.cmds) /
							 sizeof(*opt.cmds))
					die("--cmd: up to 8 of fetch, store, "
					    "search, comma-separated");
				opt.cmds[opt.ncmds++] = (enum imap_cmd_kind)m;
			}
			free(list);
			if (opt.ncmds == 0)
				die("--cmd: fetch, store or search");
			opt.cmd = opt.cmds[0];
			break;
		}
		case 'h': usage(0); break;
		default: usage(1);
		}
	}
	if (opt.port <= 0 || opt.port > 65535)
		die("-p PORT is required");
	if (opt.conns == 0 || opt.nusers == 0)
		die("-c and -u must be at least 1");
	if (opt.mode == MODE_BIGBOX)
		opt.conns = 1;
	if (opt.mode == MODE_LMTP && opt.count == 0)
		die("lmtp needs -n COUNT");
	if ((opt.mode == MODE_IMAPMIX || opt.mode == MODE_LMTP) &&
	    opt.msgs_path == NULL)
		die("%s needs -m FILE", mode_names[opt.mode]);
	if (opt.msgs_path != NULL)
		msgs_load(opt.msgs_path, opt.mode == MODE_LMTP);
	if (opt.inflight == 0)
		opt.inflight = 1;

	signal(SIGPIPE, SIG_IGN);
	raise_nofile(opt.conns + 16);
	server_addr.sin_family = AF_INET;
	server_addr.sin_port = htons(opt.port);
	if (inet_pton(AF_INET, opt.host, &server_addr.sin_addr) != 1)
		die("bad address %s", opt.host);

	if (opt.tls) {
		ssl_ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
		/* every connection a new client: full handshakes */
		SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
						  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
						  SSL_MODE_RELEASE_BUFFERS);
	}

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	conns = calloc(opt.conns, sizeof(*conns));
	if (conns == NULL)
		die("out of memory");
	for (unsigned int i = 0; i < opt.conns; i++) {
		conns[i].idx = i;
		conns[i].fd = -1;
		conns[i].seed = opt.seed * 7919u + i;
	}
	if (opt.mode == MODE_IDLE || opt.mode == MODE_IMAPCMD) {
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &e) < 0)
			die("idle mode waits on stdin, which must be a pipe "
			    "or a terminal: %s", strerror(errno));
	}

	double cpu0 = cpu_seconds();
	t_start = now_us();
	t_last_progress = t_start;
	bool loops = opt.mode == MODE_PRELOGIN || opt.mode == MODE_LOGIN ||
		     opt.mode == MODE_POP3 || opt.mode == MODE_IMAPMIX ||
		     opt.mode == MODE_LMTP;
	if (loops && opt.duration > 0)
		t_deadline = t_start + (int64_t)(opt.duration * 1e6);

	unsigned int next = 0;
	bool reported_ready = false, cmd_started = false, cmd_reported = false,
	     cmd_logout = false;
	unsigned int cmd_phase = 0;
	if (opt.mode == MODE_IMAPCMD && opt.ncmds == 0)
		opt.cmds[opt.ncmds++] = opt.cmd;
	int64_t t_ready = 0;
	struct epoll_event events[256];
	for (;;) {
		/* idle mode sets connections up a bounded number at a time,
		   as a real crowd of clients would arrive */
		while (next < opt.conns &&
		       (opt.mode != MODE_IDLE ||
			n_active_starts < opt.inflight)) {
			if (opt.mode == MODE_IDLE)
				n_active_starts++;
			conn_start(&conns[next++]);
		}
		if (opt.mode == MODE_IDLE && !reported_ready &&
		    next == opt.conns && n_active_starts == 0) {
			t_ready = now_us();
			printf("READY %u %llu\n", n_ready,
			       (unsigned long long)n_errors);
			fflush(stdout);
			reported_ready = true;
		}
		if (opt.mode == MODE_IMAPCMD && !reported_ready &&
		    n_setup_end == opt.conns) {
			printf("READY %u %llu\n", n_ready,
			       (unsigned long long)n_errors);
			fflush(stdout);
			reported_ready = true;
		}
		if (opt.mode == MODE_IMAPCMD && cmd_started && !cmd_reported &&
		    n_cmd_live == 0) {
			/* the timed part is over: its figures first; the
			   sessions log out on the next line from stdin, once
			   bench/run has read the servers' CPU time */
			print_result((now_us() - t_start) / 1e6,
				     cpu_seconds() - cpu0);
			cmd_reported = true;
		}
		if (opt.mode == MODE_IMAPCMD && cmd_reported && cmd_logout) {
			cmd_logout = false;
			for (unsigned int i = 0; i < opt.conns; i++) {
				struct conn *c = &conns[i];
				if (c->cphase != CP_TIMED_DONE)
					continue;
				c->cphase = CP_LOGOUT;
				c->step = 5;
				imap_cmd(c, WAIT_TAGGED, "LOGOUT");
			}
		}
		if (opt.mode != MODE_IDLE && n_done == opt.conns)
			break;
		int n = epoll_wait(epfd, events, 256, 200);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;
			if (c == NULL && opt.mode == MODE_IMAPCMD) {
				if (!stdin_event())
					continue;
				if (cmd_started && !cmd_reported)
					continue; /* a timed part is running */
				if (cmd_started && cmd_phase == opt.ncmds) {
					/* after the last part: log out */
					epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
					cmd_logout = true;
					continue;
				}
				/* the next timed part (the first after READY):
				   its own counters, from here on it is timed */
				opt.cmd = opt.cmds[cmd_phase++];
				cmd_started = true;
				cmd_reported = false;
				n_ops = n_errors = n_failed = n_bytes = 0;
				n_search_hits = n_fetch_replies = 0;
				n_first_hits = n_first_bytes = 0;
				lat_count = 0;
				first_error[0] = '\0';
				time_up = false;
				t_last_progress = now_us();
				cpu0 = cpu_seconds();
				t_start = now_us();
				t_deadline = t_start +
					     (int64_t)(opt.duration * 1e6);
				for (unsigned int j = 0; j < opt.conns; j++) {
					struct conn *cc = &conns[j];
					if (cc->cphase != CP_READY &&
					    cc->cphase != CP_TIMED_DONE)
						continue;
					cc->cphase = CP_TIMED;
					cc->step = 4;
					cc->first_done = false;
					/* the same r sequence on every server */
					cc->seed = opt.seed * 7919u + j +
						   cmd_phase * 104729u;
					n_cmd_live++;
					cmd_send(cc);
				}
				continue;
			}
			if (c == NULL) {
				if (stdin_event())
					goto idle_end;
				continue;
			}
			conn_event(c, events[i].events);
		}
		if (n > 0)
			t_last_progress = now_us();
		after_deadline();
		if ((!reported_ready || (cmd_started && !cmd_reported)) &&
		    now_us() - t_last_progress > opt.timeout * 1e6) {
			fprintf(stderr,
				"loadgen: nothing happened for %.0f s; "
				"giving up (%u of %u connections done)\n",
				opt.timeout, n_done, opt.conns);
			n_errors++;
			break;
		}
	}
idle_end:;
	int64_t t_end = opt.mode == MODE_IDLE && t_ready != 0 ? t_ready
							      : now_us();
	double cpu = cpu_seconds() - cpu0;
	if (opt.mode == MODE_IDLE)
		n_ops = n_ready;
	for (unsigned int i = 0; i < opt.conns; i++)
		conn_close(&conns[i], true);
	if (opt.mode != MODE_IMAPCMD || !cmd_reported)
		print_result((t_end - t_start) / 1e6, cpu);
	return n_errors > 0 ? 1 : 0;
}
