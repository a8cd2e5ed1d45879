/* Tests for net.c: address parsing and formatting, host:port, CIDR
   matching, and real listen/accept/connect on loopback TCP and UNIX
   sockets. */
#include "test-lib.h"
#include "net.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

static void test_net_addr2ip(void)
{
	static const struct {
		const char *in, *out;
		int family;
	} tests[] = {
		{ "127.0.0.1", "127.0.0.1", AF_INET },
		{ "192.0.2.255", "192.0.2.255", AF_INET },
		{ "::1", "::1", AF_INET6 },
		{ "[::1]", "::1", AF_INET6 },
		{ "2001:DB8:0:0:0:0:0:1", "2001:db8::1", AF_INET6 },
		{ "::ffff:192.0.2.1", "::ffff:192.0.2.1", AF_INET6 },
		{ "fe80::1:2", "fe80::1:2", AF_INET6 },
		{ "", NULL, 0 },
		{ "1.2.3", NULL, 0 },
		{ "256.1.1.1", NULL, 0 },
		{ "1.2.3.4 ", NULL, 0 },
		{ "example.com", NULL, 0 },
		{ "[::1", NULL, 0 },
		{ "::1]", NULL, 0 },
		{ "[]", NULL, 0 },
		{ "1::2::3", NULL, 0 },
		{ "[127.0.0.1]", NULL, 0 },
	};
	test_begin("net_addr2ip() and net_ip2addr()");
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		struct ip_addr ip;
		int ret = net_addr2ip(tests[i].in, &ip);
		if (tests[i].out == NULL) {
			test_assert_idx(ret == -1, i);
			continue;
		}
		test_assert_idx(ret == 0, i);
		test_assert_idx(ip.family == tests[i].family, i);
		test_assert_strcmp(net_ip2addr(&ip), tests[i].out);
	}
	struct ip_addr unset;
	memset(&unset, 0, sizeof(unset));
	test_assert_strcmp(net_ip2addr(&unset), "");

	struct ip_addr a, b;
	test_assert(net_addr2ip("10.0.0.1", &a) == 0);
	test_assert(net_addr2ip("10.0.0.1", &b) == 0);
	test_assert(net_ip_compare(&a, &b));
	test_assert(net_ip_hash(&a) == net_ip_hash(&b));
	test_assert(net_addr2ip("10.0.0.2", &b) == 0);
	test_assert(!net_ip_compare(&a, &b));
	test_assert(net_ip_cmp(&a, &b) < 0);
	test_assert(net_addr2ip("::ffff:10.0.0.1", &b) == 0);
	test_assert(!net_ip_compare(&a, &b));
	test_assert(net_ip_is_loopback(&b) == false);
	test_assert(net_addr2ip("127.1.2.3", &a) == 0 && net_ip_is_loopback(&a));
	test_assert(net_addr2ip("::1", &a) == 0 && net_ip_is_loopback(&a));
	test_assert(net_addr2ip("::ffff:127.0.0.1", &a) == 0 &&
		    net_ip_is_loopback(&a));
	test_end();
}

static void test_net_ipport2str(void)
{
	struct ip_addr ip;
	test_begin("net_ipport2str()");
	test_assert(net_addr2ip("192.0.2.1", &ip) == 0);
	test_assert_strcmp(net_ipport2str(&ip, 143), "192.0.2.1:143");
	test_assert(net_addr2ip("2001:db8::1", &ip) == 0);
	test_assert_strcmp(net_ipport2str(&ip, 993), "[2001:db8::1]:993");
	test_end();
}

static void test_net_str2hostport(void)
{
	static const struct {
		const char *in, *host;
		in_port_t port;
	} tests[] = {
		{ "mail.example.com", "mail.example.com", 25 },
		{ "mail.example.com:587", "mail.example.com", 587 },
		{ "192.0.2.1:143", "192.0.2.1", 143 },
		{ "192.0.2.1", "192.0.2.1", 25 },
		{ "[2001:db8::1]:993", "2001:db8::1", 993 },
		{ "[2001:db8::1]", "2001:db8::1", 25 },
		{ "2001:db8::1", "2001:db8::1", 25 },
		{ "::1", "::1", 25 },
		{ "host:65535", "host", 65535 },
		{ "host:0", NULL, 0 },
		{ "host:65536", NULL, 0 },
		{ "host:", NULL, 0 },
		{ "host:12x", NULL, 0 },
		{ ":143", NULL, 0 },
		{ "", NULL, 0 },
		{ "[]:143", NULL, 0 },
		{ "[::1", NULL, 0 },
		{ "[::1]x", NULL, 0 },
		{ "[::1]:", NULL, 0 },
	};
	test_begin("net_str2hostport()");
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		const char *host;
		in_port_t port;
		int ret = net_str2hostport(tests[i].in, 25, &host, &port);
		if (tests[i].host == NULL) {
			test_assert_idx(ret == -1, i);
			continue;
		}
		test_assert_idx(ret == 0, i);
		if (ret == 0) {
			test_assert_strcmp(host, tests[i].host);
			test_assert_idx(port == tests[i].port, i);
		}
	}
	in_port_t port;
	test_assert(net_str2port("1", &port) == 0 && port == 1);
	test_assert(net_str2port("-1", &port) == -1);
	test_assert(net_str2port("+1", &port) == -1);
	test_end();
}

static void test_net_cidr(void)
{
	static const struct {
		const char *ip, *network;
		bool match;
	} tests[] = {
		{ "192.0.2.1", "192.0.2.0/24", true },
		{ "192.0.2.255", "192.0.2.0/24", true },
		{ "192.0.3.0", "192.0.2.0/24", false },
		{ "192.0.2.1", "192.0.2.1", true },
		{ "192.0.2.2", "192.0.2.1", false },
		{ "10.1.2.3", "10.0.0.0/8", true },
		{ "11.1.2.3", "10.0.0.0/8", false },
		{ "1.2.3.4", "0.0.0.0/0", true },
		{ "10.0.0.127", "10.0.0.0/25", true },
		{ "10.0.0.128", "10.0.0.0/25", false },
		{ "10.0.0.128", "10.0.0.200/25", true },	/* host bits ignored */
		{ "172.16.0.1", "172.16.0.0/12", true },
		{ "172.32.0.1", "172.16.0.0/12", false },
		{ "2001:db8::1", "2001:db8::/32", true },
		{ "2001:db9::1", "2001:db8::/32", false },
		{ "2001:db8:8000::1", "2001:db8::/33", false },
		{ "2001:db8:7fff::1", "2001:db8::/33", true },
		{ "::1", "::1/128", true },
		{ "::2", "::1/128", false },
		{ "::1", "::/0", true },
		/* families do not mix... */
		{ "192.0.2.1", "::/0", false },
		{ "::1", "0.0.0.0/0", false },
		/* ...except through IPv4-mapped addresses */
		{ "::ffff:192.0.2.1", "192.0.2.0/24", true },
		{ "::ffff:192.0.3.1", "192.0.2.0/24", false },
		{ "192.0.2.1", "::ffff:192.0.2.0/120", true },
		{ "192.0.3.1", "::ffff:192.0.2.0/120", false },
		{ "192.0.3.1", "::ffff:0:0/96", true },
		{ "192.0.3.1", "::/64", false },
	};
	test_begin("net_parse_range() and net_is_in_network()");
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		struct ip_addr ip, net;
		unsigned int bits;
		test_assert_idx(net_addr2ip(tests[i].ip, &ip) == 0, i);
		test_assert_idx(net_parse_range(tests[i].network, &net, &bits) == 0, i);
		test_assert_idx(net_is_in_network(&ip, &net, bits) == tests[i].match, i);
	}
	struct ip_addr net;
	unsigned int bits;
	test_assert(net_parse_range("10.0.0.0/33", &net, &bits) == -1);
	test_assert(net_parse_range("::/129", &net, &bits) == -1);
	test_assert(net_parse_range("10.0.0.0/", &net, &bits) == -1);
	test_assert(net_parse_range("10.0.0.0/x", &net, &bits) == -1);
	test_assert(net_parse_range("example.com/8", &net, &bits) == -1);
	test_assert(net_parse_range("::1", &net, &bits) == 0 && bits == 128);
	test_end();
}

static bool wait_fd(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	return poll(&pfd, 1, 5000) == 1;
}

static void test_net_tcp(const char *addr)
{
	struct ip_addr ip, rip, lip;
	in_port_t port = 0, rport, lport, free_port;
	const char *error;

	test_assert(net_addr2ip(addr, &ip) == 0);
	int lfd = net_listen(&ip, &port, 16, 0, &error);
	if (lfd < 0 && IPADDR_IS_V6(&ip) && errno == EADDRNOTAVAIL) {
		/* no IPv6 on this host */
		return;
	}
	test_assert(lfd >= 0);
	if (lfd < 0)
		return;
	test_assert(port != 0);
	test_assert((fcntl(lfd, F_GETFL) & O_NONBLOCK) != 0);
	test_assert((fcntl(lfd, F_GETFD) & FD_CLOEXEC) != 0);

	/* nothing waiting: -1, not an error */
	test_assert(net_accept(lfd, &rip, &rport, NULL, NULL) == -1);

	/* the same port again is refused */
	in_port_t port2 = port;
	int lfd2 = net_listen(&ip, &port2, 16, 0, &error);
	test_assert(lfd2 == -1 && errno == EADDRINUSE);
	test_assert(lfd2 == -1 && strstr(error, "bind(") != NULL);

	int cfd = net_connect_ip(&ip, port, NULL, &error);
	test_assert(cfd >= 0);
	test_assert(wait_fd(cfd, POLLOUT));
	test_assert(net_connect_finish(cfd, &error) == 0);
	test_assert(wait_fd(lfd, POLLIN));
	int sfd = net_accept(lfd, &rip, &rport, &lip, &lport);
	test_assert(sfd >= 0);
	test_assert(net_ip_compare(&rip, &ip));
	test_assert(net_ip_compare(&lip, &ip));
	test_assert(lport == port);
	test_assert((fcntl(sfd, F_GETFL) & O_NONBLOCK) != 0);

	in_port_t cport;
	struct ip_addr cip;
	test_assert(net_getsockname(cfd, &cip, &cport) == 0 && cport == rport);
	test_assert(net_getpeername(cfd, &cip, &cport) == 0 && cport == port);
	test_assert(net_set_nodelay(sfd, true) == 0);

	test_assert(write(cfd, "ping", 4) == 4);
	char buf[8];
	test_assert(wait_fd(sfd, POLLIN));
	test_assert(read(sfd, buf, sizeof(buf)) == 4 && memcmp(buf, "ping", 4) == 0);
	close(cfd);
	close(sfd);
	close(lfd);

	/* the port is free again; connecting to it is refused */
	cfd = net_connect_ip(&ip, port, NULL, &error);
	if (cfd >= 0) {
		test_assert(wait_fd(cfd, POLLOUT));
		test_assert(net_connect_finish(cfd, &error) == -1);
		test_assert(strstr(error, "Connection refused") != NULL);
		close(cfd);
	}

	test_assert(net_find_free_port(&ip, &free_port, &error) == 0);
	port = free_port;
	lfd = net_listen(&ip, &port, 0, NET_LISTEN_FLAG_REUSEPORT, &error);
	test_assert(lfd >= 0 && port == free_port);
	if (lfd >= 0)
		close(lfd);
}

static void test_net_tcp_v4_v6(void)
{
	test_begin("net TCP listen/connect/accept");
	test_net_tcp("127.0.0.1");
	test_net_tcp("::1");
	test_end();
}

static void test_net_unix(void)
{
	const char *path = t_strdup_printf("%s/net.sock", test_dir());
	const char *error;

	test_begin("net UNIX listen/connect/accept");
	int lfd = net_listen_unix(path, 0600, 0, &error);
	test_assert(lfd >= 0);
	struct stat st;
	test_assert(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

	/* a live socket is not stolen */
	test_assert(net_listen_unix(path, 0600, 0, &error) == -1);
	test_assert(strstr(error, "in use") != NULL);

	int cfd = net_connect_unix(path, &error);
	test_assert(cfd >= 0);
	test_assert(wait_fd(lfd, POLLIN));
	struct ip_addr rip;
	in_port_t rport = 1;
	int sfd = net_accept(lfd, &rip, &rport, NULL, NULL);
	test_assert(sfd >= 0);
	test_assert(!IPADDR_IS_SET(&rip) && rport == 0);
	struct net_unix_cred cred;
	test_assert(net_getunixcred(sfd, &cred) == 0);
	test_assert(cred.pid == getpid() && cred.uid == getuid());
	close(cfd);
	close(sfd);
	close(lfd);

	/* the socket file is now stale: it is replaced */
	test_assert(stat(path, &st) == 0);
	lfd = net_listen_unix(path, 0666, 0, &error);
	test_assert(lfd >= 0);
	test_assert(stat(path, &st) == 0 && (st.st_mode & 0777) == 0666);
	close(lfd);
	test_assert(unlink(path) == 0);
	test_assert(net_connect_unix(path, &error) == -1 && errno == ENOENT);

	/* a regular file is never removed */
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	test_assert(fd >= 0);
	close(fd);
	test_assert(net_listen_unix(path, 0600, 0, &error) == -1);
	test_assert(stat(path, &st) == 0 && S_ISREG(st.st_mode));
	(void)unlink(path);

	char longpath[200];
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	test_assert(net_listen_unix(longpath, 0600, 0, &error) == -1);
	test_assert(strstr(error, "too long") != NULL);
	test_end();
}

test_func_t *const test_net_tests[] = {
	test_net_addr2ip, test_net_ipport2str, test_net_str2hostport,
	test_net_cidr, test_net_tcp_v4_v6, test_net_unix, NULL
};
