/* Socket helpers under the connection layer: address parsing, listeners,
   nonblocking accept/connect and network matching. Every socket made here
   is nonblocking and close-on-exec from birth (SOCK_NONBLOCK/SOCK_CLOEXEC),
   so no fd leaks into a child between socket() and fcntl(). */
#include "lib.h"
#include "net.h"
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>

union sockaddr_union {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_un sun;
	struct sockaddr_storage ss;
};

int net_addr2ip(const char *str, struct ip_addr *ip_r)
{
	memset(ip_r, 0, sizeof(*ip_r));
	if (strchr(str, ':') == NULL) {
		if (inet_pton(AF_INET, str, &ip_r->u.ip4) != 1)
			return -1;
		ip_r->family = AF_INET;
		return 0;
	}
	size_t len = strlen(str);
	if (str[0] == '[') {
		if (len < 3 || str[len - 1] != ']')
			return -1;
		str = t_strndup(str + 1, len - 2);
	}
	if (inet_pton(AF_INET6, str, &ip_r->u.ip6) != 1)
		return -1;
	ip_r->family = AF_INET6;
	return 0;
}

const char *net_ip2addr(const struct ip_addr *ip)
{
	char buf[NET_IP_ADDR_MAX_LEN];
	if (!IPADDR_IS_SET(ip) ||
	    inet_ntop(ip->family, &ip->u, buf, sizeof(buf)) == NULL)
		return "";
	return t_strdup(buf);
}

const char *net_ipport2str(const struct ip_addr *ip, in_port_t port)
{
	return t_strdup_printf(IPADDR_IS_V6(ip) ? "[%s]:%u" : "%s:%u",
			       net_ip2addr(ip), (unsigned int)port);
}

static size_t net_ip_size(const struct ip_addr *ip)
{
	return IPADDR_IS_V4(ip) ? sizeof(ip->u.ip4) :
		IPADDR_IS_V6(ip) ? sizeof(ip->u.ip6) : 0;
}

bool net_ip_compare(const struct ip_addr *a, const struct ip_addr *b)
{
	return net_ip_cmp(a, b) == 0;
}

int net_ip_cmp(const struct ip_addr *a, const struct ip_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(&a->u, &b->u, net_ip_size(a));
}

unsigned int net_ip_hash(const struct ip_addr *ip)
{
	const unsigned char *p = (const unsigned char *)&ip->u;
	size_t size = net_ip_size(ip);
	unsigned int h = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < size; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

bool net_ip_is_loopback(const struct ip_addr *ip)
{
	if (IPADDR_IS_V4(ip))
		return (ntohl(ip->u.ip4.s_addr) >> 24) == 127;
	if (IPADDR_IS_V6(ip)) {
		if (IN6_IS_ADDR_V4MAPPED(&ip->u.ip6))
			return ip->u.ip6.s6_addr[12] == 127;
		return IN6_IS_ADDR_LOOPBACK(&ip->u.ip6);
	}
	return false;
}

int net_str2port(const char *str, in_port_t *port_r)
{
	unsigned int n;
	if (str_to_uint(str, &n) < 0 || n == 0 || n > 65535)
		return -1;
	*port_r = (in_port_t)n;
	return 0;
}

int net_str2hostport(const char *str, in_port_t default_port,
		     const char **host_r, in_port_t *port_r)
{
	const char *host, *port = NULL;

	if (str[0] == '[') {
		const char *end = strchr(str, ']');
		if (end == NULL || end == str + 1)
			return -1;
		host = t_strndup(str + 1, (size_t)(end - str - 1));
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return -1;
	} else {
		const char *colon = strchr(str, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			/* a bare IPv6 address: its last group is not a port */
			host = str;
		} else if (colon != NULL) {
			host = t_strndup(str, (size_t)(colon - str));
			port = colon + 1;
		} else {
			host = str;
		}
	}
	if (*host == '\0')
		return -1;
	if (port == NULL)
		*port_r = default_port;
	else if (net_str2port(port, port_r) < 0)
		return -1;
	*host_r = host;
	return 0;
}

int net_parse_range(const char *network, struct ip_addr *ip_r,
		    unsigned int *bits_r)
{
	const char *slash = strchr(network, '/');
	const char *addr = slash == NULL ? network :
		t_strndup(network, (size_t)(slash - network));

	if (net_addr2ip(addr, ip_r) < 0)
		return -1;
	unsigned int max_bits = IPADDR_IS_V4(ip_r) ? 32 : 128;
	if (slash == NULL) {
		*bits_r = max_bits;
		return 0;
	}
	if (str_to_uint(slash + 1, bits_r) < 0 || *bits_r > max_bits)
		return -1;
	return 0;
}

/* IPv4-mapped IPv6 becomes plain IPv4, with the prefix length moved along
   (bits may be NULL when the address is not a network). Returns false if
   a mapped network is shorter than the mapping prefix: it cannot be
   expressed in IPv4. */
static bool net_ip_unmap(struct ip_addr *ip, unsigned int *bits)
{
	if (!IPADDR_IS_V6(ip) || !IN6_IS_ADDR_V4MAPPED(&ip->u.ip6))
		return true;
	if (bits != NULL) {
		if (*bits < 96)
			return false;
		*bits -= 96;
	}
	struct in_addr ip4;
	memcpy(&ip4, &ip->u.ip6.s6_addr[12], sizeof(ip4));
	ip->family = AF_INET;
	ip->u.ip4 = ip4;
	return true;
}

bool net_is_in_network(const struct ip_addr *_ip, const struct ip_addr *_net,
		       unsigned int bits)
{
	struct ip_addr ip = *_ip, net = *_net;

	if (!net_ip_unmap(&ip, NULL) || !net_ip_unmap(&net, &bits))
		return false;
	if (ip.family != net.family || !IPADDR_IS_SET(&ip))
		return false;

	const unsigned char *a = (const unsigned char *)&ip.u;
	const unsigned char *b = (const unsigned char *)&net.u;
	size_t max_bits = net_ip_size(&ip) * 8;
	if (bits > max_bits)
		bits = (unsigned int)max_bits;
	unsigned int full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

static socklen_t net_ip2sa(const struct ip_addr *ip, in_port_t port,
			   union sockaddr_union *so)
{
	memset(so, 0, sizeof(*so));
	if (IPADDR_IS_V4(ip)) {
		so->sin.sin_family = AF_INET;
		so->sin.sin_addr = ip->u.ip4;
		so->sin.sin_port = htons(port);
		return sizeof(so->sin);
	}
	i_assert(IPADDR_IS_V6(ip));
	so->sin6.sin6_family = AF_INET6;
	so->sin6.sin6_addr = ip->u.ip6;
	so->sin6.sin6_port = htons(port);
	return sizeof(so->sin6);
}

static void net_sa2ip(const union sockaddr_union *so, struct ip_addr *ip_r,
		      in_port_t *port_r)
{
	struct ip_addr ip;
	in_port_t port = 0;

	memset(&ip, 0, sizeof(ip));
	if (so->sa.sa_family == AF_INET) {
		ip.family = AF_INET;
		ip.u.ip4 = so->sin.sin_addr;
		port = ntohs(so->sin.sin_port);
	} else if (so->sa.sa_family == AF_INET6) {
		ip.family = AF_INET6;
		ip.u.ip6 = so->sin6.sin6_addr;
		port = ntohs(so->sin6.sin6_port);
	}
	if (ip_r != NULL)
		*ip_r = ip;
	if (port_r != NULL)
		*port_r = port;
}

int net_listen(const struct ip_addr *ip, in_port_t *port, int backlog,
	       enum net_listen_flags flags, const char **error_r)
{
	union sockaddr_union so;
	struct ip_addr any6;
	int fd, opt = 1;
	bool dual_stack = false;

	if (ip == NULL) {
		memset(&any6, 0, sizeof(any6));
		any6.family = AF_INET6;
		any6.u.ip6 = in6addr_any;
		ip = &any6;
		dual_stack = true;
	}
	socklen_t len = net_ip2sa(ip, *port, &so);
	const char *name = net_ipport2str(ip, *port);

	fd = socket(ip->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = t_strdup_printf("socket(%s) failed: %m", name);
		return -1;
	}
	/* Without SO_REUSEADDR a restart fails while old connections sit
	   in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &opt, sizeof(opt)) < 0)
		goto fail_opt;
	if ((flags & NET_LISTEN_FLAG_REUSEPORT) != 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &opt, sizeof(opt)) < 0)
		goto fail_opt;
	if (IPADDR_IS_V6(ip)) {
		int v6only = dual_stack ? 0 : 1;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
			       sizeof(v6only)) < 0)
			goto fail_opt;
	}
	if (bind(fd, &so.sa, len) < 0) {
		*error_r = t_strdup_printf("bind(%s) failed: %m", name);
		goto fail;
	}
	if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
		*error_r = t_strdup_printf("listen(%s) failed: %m", name);
		goto fail;
	}
	if (*port == 0 && net_getsockname(fd, NULL, port) < 0) {
		*error_r = t_strdup_printf("getsockname(%s) failed: %m", name);
		goto fail;
	}
	return fd;

fail_opt:
	*error_r = t_strdup_printf("setsockopt(%s) failed: %m", name);
fail:;
	int saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return -1;
}

static int net_unix_addr(const char *path, union sockaddr_union *so,
			 socklen_t *len_r, const char **error_r)
{
	size_t len = strlen(path);

	memset(so, 0, sizeof(*so));
	if (len == 0 || len >= sizeof(so->sun.sun_path)) {
		errno = ENAMETOOLONG;
		*error_r = t_strdup_printf("UNIX socket path is too long "
					   "(%zu >= %zu): %s", len,
					   sizeof(so->sun.sun_path), path);
		return -1;
	}
	so->sun.sun_family = AF_UNIX;
	memcpy(so->sun.sun_path, path, len);
	*len_r = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return 0;
}

/* Remove path if it is a UNIX socket nobody listens on. Returns 0 if the
   path is now free, -1 with *error_r if it is in use or not a socket. */
static int net_unix_remove_stale(const char *path, const char **error_r)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = t_strdup_printf("lstat(%s) failed: %m", path);
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		*error_r = t_strdup_printf("%s exists and is not a socket", path);
		return -1;
	}
	/* Only a refused connect proves the socket is dead; unlinking a live
	   one would silently steal another server's clients. */
	const char *error;
	int fd = net_connect_unix(path, &error);
	if (fd >= 0 || errno == EAGAIN) {
		if (fd >= 0)
			close(fd);
		errno = EADDRINUSE;
		*error_r = t_strdup_printf("Socket already in use: %s", path);
		return -1;
	}
	if (errno != ECONNREFUSED && errno != ENOENT) {
		*error_r = error;
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		*error_r = t_strdup_printf("unlink(%s) failed: %m", path);
		return -1;
	}
	return 0;
}

int net_listen_unix(const char *path, mode_t mode, int backlog,
		    const char **error_r)
{
	union sockaddr_union so;
	socklen_t len;

	if (net_unix_addr(path, &so, &len, error_r) < 0)
		return -1;
	if (net_unix_remove_stale(path, error_r) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = t_strdup_printf("socket(%s) failed: %m", path);
		return -1;
	}
	if (bind(fd, &so.sa, len) < 0) {
		*error_r = t_strdup_printf("bind(%s) failed: %m", path);
		goto fail;
	}
	/* The permission check happens at connect() time, and nobody can
	   connect before listen(): chmod before it leaves no window. */
	if (chmod(path, mode) < 0) {
		*error_r = t_strdup_printf("chmod(%s, 0%o) failed: %m", path,
					   (unsigned int)mode);
		goto fail_unlink;
	}
	if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
		*error_r = t_strdup_printf("listen(%s) failed: %m", path);
		goto fail_unlink;
	}
	return fd;
fail_unlink:
	(void)unlink(path);
fail:;
	int saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return -1;
}

int net_accept(int listen_fd, struct ip_addr *remote_ip_r,
	       in_port_t *remote_port_r, struct ip_addr *local_ip_r,
	       in_port_t *local_port_r)
{
	union sockaddr_union so;
	socklen_t len = sizeof(so);

	memset(&so, 0, sizeof(so));
	int fd = accept4(listen_fd, &so.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		switch (errno) {
		case EAGAIN:
		case EINTR:
		case ECONNABORTED:
		/* Linux passes pending network errors of the new
		   connection to accept(): not the listener's problem. */
		case ENETDOWN:
		case EPROTO:
		case ENOPROTOOPT:
		case EHOSTDOWN:
		case ENONET:
		case EHOSTUNREACH:
		case EOPNOTSUPP:
		case ENETUNREACH:
			return -1;
		default:
			return -2;
		}
	}
	net_sa2ip(&so, remote_ip_r, remote_port_r);
	if (local_ip_r != NULL || local_port_r != NULL) {
		if (net_getsockname(fd, local_ip_r, local_port_r) < 0) {
			/* the connection died already */
			close(fd);
			return -1;
		}
	}
	return fd;
}

int net_connect_ip(const struct ip_addr *ip, in_port_t port,
		   const struct ip_addr *local_ip, const char **error_r)
{
	union sockaddr_union so;
	socklen_t len = net_ip2sa(ip, port, &so);
	const char *name = net_ipport2str(ip, port);

	int fd = socket(ip->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = t_strdup_printf("socket(%s) failed: %m", name);
		return -1;
	}
	if (local_ip != NULL && IPADDR_IS_SET(local_ip)) {
		union sockaddr_union lso;
		socklen_t llen = net_ip2sa(local_ip, 0, &lso);
		if (bind(fd, &lso.sa, llen) < 0) {
			*error_r = t_strdup_printf("bind(%s) failed: %m",
						   net_ip2addr(local_ip));
			goto fail;
		}
	}
	if (connect(fd, &so.sa, len) < 0 && errno != EINPROGRESS) {
		*error_r = t_strdup_printf("connect(%s) failed: %m", name);
		goto fail;
	}
	return fd;
fail:;
	int saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return -1;
}

int net_connect_unix(const char *path, const char **error_r)
{
	union sockaddr_union so;
	socklen_t len;

	if (net_unix_addr(path, &so, &len, error_r) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = t_strdup_printf("socket(%s) failed: %m", path);
		return -1;
	}
	if (connect(fd, &so.sa, len) < 0) {
		int saved_errno = errno;
		*error_r = t_strdup_printf("connect(%s) failed: %m", path);
		close(fd);
		errno = saved_errno;
		return -1;
	}
	return fd;
}

int net_connect_finish(int fd, const char **error_r)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0)
		return 0;
	struct ip_addr ip;
	in_port_t port = 0;
	memset(&ip, 0, sizeof(ip));
	/* getpeername() fails on an unconnected socket: name the target
	   from what we know, which may be nothing */
	(void)net_getpeername(fd, &ip, &port);
	*error_r = t_strdup_printf("connect(%s) failed: %s",
				   IPADDR_IS_SET(&ip) ?
				   net_ipport2str(&ip, port) : "socket",
				   t_strerror(err));
	errno = err;
	return -1;
}

int net_getsockname(int fd, struct ip_addr *ip_r, in_port_t *port_r)
{
	union sockaddr_union so;
	socklen_t len = sizeof(so);

	memset(&so, 0, sizeof(so));
	if (getsockname(fd, &so.sa, &len) < 0)
		return -1;
	net_sa2ip(&so, ip_r, port_r);
	return 0;
}

int net_getpeername(int fd, struct ip_addr *ip_r, in_port_t *port_r)
{
	union sockaddr_union so;
	socklen_t len = sizeof(so);

	memset(&so, 0, sizeof(so));
	if (getpeername(fd, &so.sa, &len) < 0)
		return -1;
	net_sa2ip(&so, ip_r, port_r);
	return 0;
}

int net_getunixcred(int fd, struct net_unix_cred *cred_r)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -1;
	cred_r->pid = uc.pid;
	cred_r->uid = uc.uid;
	cred_r->gid = uc.gid;
	return 0;
}

int net_set_nodelay(int fd, bool nodelay)
{
	int opt = nodelay ? 1 : 0;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &opt, sizeof(opt));
}

int net_find_free_port(const struct ip_addr *ip, in_port_t *port_r,
		       const char **error_r)
{
	in_port_t port = 0;
	int fd = net_listen(ip, &port, 1, 0, error_r);
	if (fd < 0)
		return -1;
	close(fd);
	*port_r = port;
	return 0;
}
