/* Traffic generator for the tcp probe's tests and benchmark.
 *
 *   tcpgen server <addr> <port> <conns> <reply_bytes> [flags]
 *       Accepts <conns> connections one after the other; reads each to EOF, then writes
 *       <reply_bytes> and closes. Prints "listening <port>" once bound, "done rx=<n>
 *       retrans=<n>" at the end.
 *       flags: tell    also print "got <n>" after each read (bytes of the connection)
 *              settle  shut down writing and wait (up to 30 s) until the peer has
 *                      acknowledged everything (the socket reaches CLOSE) before closing,
 *                      so no retransmission can follow the count below
 *       With settle, prints "retrans <client_port> <n>" before closing each connection.
 *   Retransmissions (both roles): <n> is the connection's TCP_INFO tcpi_total_retrans
 *       just before close minus its value right after connect()/accept() (so SYN and
 *       SYN-ACK retransmissions are not in it); retrans=<n> is the sum over connections.
 *   tcpgen client <addr> <port> <conns> <send_bytes> [flags]
 *       Waits for a line on stdin (so the test can put it in scope), then opens <conns>
 *       connections one after the other: writes <send_bytes>, shuts down writing, reads the
 *       reply to EOF, closes. Prints "retrans <local_port> <n>" before closing each
 *       connection (every segment it sent is acknowledged by then: the server's FIN came
 *       after it read ours) and "done tx=<n> rx=<n> retrans=<n>" at the end (not with rst).
 *       flags: rst  abort instead: after writing, wait for another stdin line (the test
 *                   sends it once the server has read the data), then close with
 *                   SO_LINGER 0 (sends an RST)
 *              hold print "held tx=<n> rx=<n>" and wait for another stdin line before
 *                   closing each connection
 *              parallel  open all connections first, then transfer on each
 *   tcpgen churn <addr> <port> <seconds> [wait]
 *       Opens and closes connections to <addr>:<port> as fast as it can for <seconds>;
 *       prints "done conns=<n>". With "wait", first waits for a line on stdin (so the
 *       test can put it in scope before its first connection).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

static int addr_of(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1)
			return -1;
		*len = sizeof(*a);
		return AF_INET6;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
		return -1;
	*len = sizeof(*a);
	return AF_INET;
}

static long long write_all(int fd, long long n)
{
	long long done = 0;
	while (done < n) {
		size_t chunk = n - done > (long long)sizeof(buf) ? sizeof(buf) : (size_t)(n - done);
		ssize_t w = write(fd, buf, chunk);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return done;
		}
		done += w;
	}
	return done;
}

static long long read_all_tell(int fd, int tell)
{
	long long total = 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return total;
		total += r;
		if (tell) {
			printf("got %lld\n", total);
			fflush(stdout);
		}
	}
}

static long long read_all(int fd)
{
	return read_all_tell(fd, 0);
}

/* The kernel's count of the connection's retransmitted segments (tp->total_retrans). */
static long long total_retrans(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) {
		perror("getsockopt TCP_INFO");
		exit(1);
	}
	return ti.tcpi_total_retrans;
}

/* Waits (up to 30 s) until the socket reaches CLOSE: all it sent, FIN included, acked. */
static void wait_closed(int fd)
{
	for (int i = 0; i < 300000; i++) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || ti.tcpi_state == TCP_CLOSE)
			return;
		usleep(100);
	}
	fprintf(stderr, "tcpgen: connection not closed after 30 s\n");
}

static int port_of(int fd, int peer)
{
	struct sockaddr_storage a;
	socklen_t l = sizeof(a);
	if ((peer ? getpeername(fd, (struct sockaddr *)&a, &l) : getsockname(fd, (struct sockaddr *)&a, &l)) != 0)
		return -1;
	return ntohs(a.ss_family == AF_INET ? ((struct sockaddr_in *)&a)->sin_port : ((struct sockaddr_in6 *)&a)->sin6_port);
}

static void wait_line(void)
{
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return;
}

static int server(const char *ip, int port, int conns, long long reply, const char *flags)
{
	int tell = flags && strstr(flags, "tell");
	int settle = flags && strstr(flags, "settle");
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = addr_of(ip, port, &ss, &len);
	int s = socket(fam, SOCK_STREAM, 0), one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&ss, len) || listen(s, 1024)) {
		perror("bind/listen");
		return 1;
	}
	struct sockaddr_storage bound;
	socklen_t bl = sizeof(bound);
	getsockname(s, (struct sockaddr *)&bound, &bl);
	int p = ntohs(fam == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port : ((struct sockaddr_in6 *)&bound)->sin6_port);
	printf("listening %d\n", p);
	fflush(stdout);
	long long rx = 0, retrans = 0;
	for (int i = 0; conns < 0 || i < conns; i++) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		long long base = total_retrans(c);
		int peer_port = port_of(c, 1);
		rx += read_all_tell(c, tell);
		write_all(c, reply);
		if (settle) {
			shutdown(c, SHUT_WR);
			wait_closed(c);
		}
		long long n = total_retrans(c) - base;
		retrans += n;
		if (settle) {
			printf("retrans %d %lld\n", peer_port, n);
			fflush(stdout);
		}
		close(c);
	}
	printf("done rx=%lld retrans=%lld\n", rx, retrans);
	fflush(stdout);
	return 0;
}

/* Prints and returns a client connection's retransmissions since connect(). */
static long long report_retrans(int fd, long long base)
{
	long long n = total_retrans(fd) - base;
	printf("retrans %d %lld\n", port_of(fd, 0), n);
	fflush(stdout);
	return n;
}

static int client(const char *ip, int port, int conns, long long send, const char *flags)
{
	int rst = flags && strstr(flags, "rst");
	int hold = flags && strstr(flags, "hold");
	int parallel = flags && strstr(flags, "parallel");
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = addr_of(ip, port, &ss, &len);
	wait_line();
	long long tx = 0, rx = 0, retrans = 0;
	int fds[4096];
	long long base[4096];
	if (conns > 4096)
		conns = 4096;
	for (int i = 0; i < conns; i++) {
		fds[i] = socket(fam, SOCK_STREAM, 0);
		if (connect(fds[i], (struct sockaddr *)&ss, len)) {
			perror("connect");
			return 1;
		}
		base[i] = total_retrans(fds[i]);
		if (parallel)
			continue;
		tx += write_all(fds[i], send);
		if (rst) {
			wait_line(); /* the server has read the data */
			struct linger l = { 1, 0 };
			setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
			close(fds[i]);
			continue;
		}
		shutdown(fds[i], SHUT_WR);
		rx += read_all(fds[i]);
		if (hold) {
			printf("held tx=%lld rx=%lld\n", tx, rx);
			fflush(stdout);
			wait_line();
		}
		retrans += report_retrans(fds[i], base[i]);
		close(fds[i]);
	}
	if (parallel) {
		for (int i = 0; i < conns; i++) {
			tx += write_all(fds[i], send);
			shutdown(fds[i], SHUT_WR);
		}
		for (int i = 0; i < conns; i++) {
			rx += read_all(fds[i]);
			retrans += report_retrans(fds[i], base[i]);
			close(fds[i]);
		}
	}
	if (rst)
		printf("done tx=%lld rx=%lld\n", tx, rx);
	else
		printf("done tx=%lld rx=%lld retrans=%lld\n", tx, rx, retrans);
	fflush(stdout);
	if (hold)
		wait_line();
	return 0;
}

static int churn(const char *ip, int port, double seconds, const char *flags)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = addr_of(ip, port, &ss, &len);
	if (flags && !strcmp(flags, "wait"))
		wait_line();
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long n = 0;
	for (;;) {
		int fd = socket(fam, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
			write_all(fd, 16);
			shutdown(fd, SHUT_WR);
			read_all(fd);
			n++;
		}
		close(fd);
		if ((n & 63) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
				break;
		}
	}
	printf("done conns=%ld\n", n);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	memset(buf, 'x', sizeof(buf));
	if (argc >= 6 && !strcmp(argv[1], "server"))
		return server(argv[2], atoi(argv[3]), atoi(argv[4]), atoll(argv[5]), argc > 6 ? argv[6] : NULL);
	if (argc >= 6 && !strcmp(argv[1], "client"))
		return client(argv[2], atoi(argv[3]), atoi(argv[4]), atoll(argv[5]), argc > 6 ? argv[6] : NULL);
	if (argc >= 5 && !strcmp(argv[1], "churn"))
		return churn(argv[2], atoi(argv[3]), atof(argv[4]), argc > 5 ? argv[5] : NULL);
	fprintf(stderr, "usage: see the comment in tcpgen.c\n");
	return 2;
}
