/* Sockets: IP address parsing and formatting, "host:port" parsing,
   listening and connecting (TCP and UNIX, always nonblocking and
   close-on-exec), address lookups on connected sockets and IP/CIDR network
   matching. Nothing here blocks: there is deliberately no DNS resolver, as
   name lookups belong in the worker pool. */
#ifndef COLUMBA_NET_H
#define COLUMBA_NET_H

#include <netinet/in.h>
#include <sys/socket.h>

/* An IPv4 or IPv6 address. family is AF_INET, AF_INET6 or 0 (unset: e.g.
   the "address" of a UNIX socket peer). Compare with net_ip_compare(), not
   memcmp(): padding is not guaranteed to be zero. */
struct ip_addr {
	unsigned short family;
	union {
		struct in6_addr ip6;
		struct in_addr ip4;
	} u;
};

#define IPADDR_IS_V4(ip) ((ip)->family == AF_INET)
#define IPADDR_IS_V6(ip) ((ip)->family == AF_INET6)
#define IPADDR_IS_SET(ip) ((ip)->family != 0)

/* Maximum length of net_ip2addr() output, with NUL. */
#define NET_IP_ADDR_MAX_LEN INET6_ADDRSTRLEN

/* Credentials of a UNIX socket peer (SO_PEERCRED). */
struct net_unix_cred {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

enum net_listen_flags {
	/* SO_REUSEPORT: several processes listen on the same address and
	   the kernel spreads connections between them. */
	NET_LISTEN_FLAG_REUSEPORT = 0x01,
};

/* Parse a numeric IPv4 or IPv6 address. An IPv6 address may be given in
   brackets ("[::1]"). No host names, no zone ids. Returns 0 on success,
   -1 if str is not an address. */
int net_addr2ip(const char *str, struct ip_addr *ip_r) ATTR_WARN_UNUSED;
/* The address as text ("192.0.2.1", "2001:db8::1"), without brackets, on
   the data stack. "" for an unset address. */
const char *net_ip2addr(const struct ip_addr *ip);
/* "192.0.2.1:143" or "[2001:db8::1]:143", on the data stack. */
const char *net_ipport2str(const struct ip_addr *ip, in_port_t port);
/* True if both are the same family and address. An IPv4-mapped IPv6
   address is not the same as its IPv4 address here (see
   net_is_in_network() for the lenient match). */
bool net_ip_compare(const struct ip_addr *a, const struct ip_addr *b);
/* Ordering and hashing, for sorted arrays and hash tables of addresses. */
int net_ip_cmp(const struct ip_addr *a, const struct ip_addr *b);
unsigned int net_ip_hash(const struct ip_addr *ip);
bool net_ip_is_loopback(const struct ip_addr *ip);

/* Parse a port 1..65535. Returns 0 on success, -1 on error. */
int net_str2port(const char *str, in_port_t *port_r) ATTR_WARN_UNUSED;
/* Parse "host", "host:port", "[v6addr]", "[v6addr]:port" or a bare IPv6
   address (two or more colons: no port can follow it). host is a name or
   an address literal without brackets, on the data stack. A missing port
   gives default_port. Returns 0 on success, -1 on a syntax error (empty
   host, bad port, unbalanced brackets). */
int net_str2hostport(const char *str, in_port_t default_port,
		     const char **host_r, in_port_t *port_r) ATTR_WARN_UNUSED;

/* Parse "192.0.2.0/24", "2001:db8::/32" or a single address (a /32 or
   /128 network). Bits set below the prefix are allowed and ignored.
   Returns 0 on success, -1 on error. */
int net_parse_range(const char *network, struct ip_addr *ip_r,
		    unsigned int *bits_r) ATTR_WARN_UNUSED;
/* True if ip is inside net_ip/bits. IPv4-mapped IPv6 addresses
   (::ffff:192.0.2.1) match IPv4 networks and the other way round, since a
   dual-stack listener reports IPv4 clients that way. */
bool net_is_in_network(const struct ip_addr *ip, const struct ip_addr *net_ip,
		       unsigned int bits);

/* Create a listening TCP socket: SO_REUSEADDR, IPV6_V6ONLY for IPv6 (so
   "*" and "::" can be listened on side by side), nonblocking,
   close-on-exec. ip NULL means every IPv4 and IPv6 address (one
   dual-stack socket on "::"). *port 0 picks a free port and returns it in
   *port. backlog <= 0 means SOMAXCONN. Returns the fd, or -1 with
   *error_r (errno is kept). */
int net_listen(const struct ip_addr *ip, in_port_t *port, int backlog,
	       enum net_listen_flags flags, const char **error_r);
/* Create a listening UNIX socket at path with the given mode. A stale
   socket file left by a dead process is removed; a socket someone still
   listens on is an error ("in use"), as is any other kind of file.
   Returns the fd or -1 with *error_r. */
int net_listen_unix(const char *path, mode_t mode, int backlog,
		    const char **error_r);
/* Accept one connection on a nonblocking listener. Returns the client fd
   (nonblocking, close-on-exec); -1 when no connection is waiting (or it
   was aborted before we took it): go back to the loop; -2 on an error,
   with errno set (EMFILE, ENFILE, ENOBUFS...: the caller should stop
   accepting for a while). The address pointers may be NULL; for UNIX
   sockets the addresses are unset and the ports 0. */
int net_accept(int listen_fd, struct ip_addr *remote_ip_r,
	       in_port_t *remote_port_r, struct ip_addr *local_ip_r,
	       in_port_t *local_port_r);

/* Start a nonblocking TCP connect. local_ip may be NULL (the kernel
   chooses). Returns the fd, or -1 with *error_r. The connection may still
   be in progress: wait until the fd is writable and then call
   net_connect_finish(). */
int net_connect_ip(const struct ip_addr *ip, in_port_t port,
		   const struct ip_addr *local_ip, const char **error_r);
/* Connect to a UNIX socket without blocking. Returns the fd or -1 with
   *error_r. errno EAGAIN means the listener's backlog is full: retry
   later (UNIX connects never stay "in progress"). */
int net_connect_unix(const char *path, const char **error_r);
/* After a nonblocking connect became writable: 0 if connected, -1 with
   *error_r ("connect(...) failed: Connection refused") if not. */
int net_connect_finish(int fd, const char **error_r);

/* Local and remote addresses of a socket. Return 0 or -1 with errno. On a
   UNIX socket the address is unset and the port 0. Either output may be
   NULL. */
int net_getsockname(int fd, struct ip_addr *ip_r, in_port_t *port_r);
int net_getpeername(int fd, struct ip_addr *ip_r, in_port_t *port_r);
/* Peer credentials of a connected UNIX socket. 0 or -1 with errno. */
int net_getunixcred(int fd, struct net_unix_cred *cred_r);
/* TCP_NODELAY on or off. 0 or -1 with errno. */
int net_set_nodelay(int fd, bool nodelay);

/* For tests: find a TCP port on ip (a loopback address) that nobody
   listens on now. Another process may take it before the caller binds it,
   so real code listens on port 0 instead (net_listen()). Returns 0 or -1
   with *error_r. */
int net_find_free_port(const struct ip_addr *ip, in_port_t *port_r,
		       const char **error_r);

#endif
