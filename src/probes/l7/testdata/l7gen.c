// Traffic of known size through every syscall the l7 probe hooks, for its root tests:
// waits for "go" on stdin, then over one loopback TCP connection (client and server in
// this process) moves bytes with write/writev/sendto/sendmsg and read/readv/recvfrom/
// recvmsg, a payload larger than the capture, and over UDP a sendmmsg/recvmmsg batch plus
// sendto/recvfrom with a peer address. It prints what each call returned, totalled per
// socket:  conn <tcp|udp> <client|server> <local_port> <remote_port> <sent> <recv> <send_calls> <recv_calls>
// then "done", and waits for a line on stdin before closing the sockets and printing "closed".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct tally { long sent, recv, scalls, rcalls; };

static void die(const char *what) { perror(what); exit(1); }

static unsigned short port_of(int fd, int peer)
{
	struct sockaddr_in a; socklen_t l = sizeof(a);
	if ((peer ? getpeername(fd, (struct sockaddr *)&a, &l) : getsockname(fd, (struct sockaddr *)&a, &l)) < 0) die("getname");
	return ntohs(a.sin_port);
}

static void sent(struct tally *t, long n) { if (n < 0) die("send"); if (n > 0) { t->sent += n; t->scalls++; } }
static void got(struct tally *t, long n) { if (n < 0) die("recv"); if (n > 0) { t->recv += n; t->rcalls++; } }

/* Reads exactly n bytes with the given call kind (0 read, 1 readv, 2 recvfrom, 3 recvmsg). */
static void recv_exact(int fd, struct tally *t, long n, int kind, char *buf)
{
	while (n > 0) {
		long want = n > 65536 ? 65536 : n, r;
		if (kind == 0) r = read(fd, buf, want);
		else if (kind == 1) { struct iovec v[2] = { { buf, want / 2 }, { buf + want / 2, want - want / 2 } }; r = readv(fd, v, 2); }
		else if (kind == 2) r = recvfrom(fd, buf, want, 0, NULL, NULL);
		else { struct iovec v = { buf, want }; struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 }; r = recvmsg(fd, &m, 0); }
		if (r == 0) die("eof");
		got(t, r);
		n -= r;
	}
}

int main(void)
{
	static char buf[1 << 20], big[200000];
	char line[64];
	memset(big, 'B', sizeof(big));
	if (!fgets(line, sizeof(line), stdin)) return 1;

	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 4) < 0) die("listen");
	socklen_t al = sizeof(a);
	getsockname(ls, (struct sockaddr *)&a, &al);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) die("connect");
	int s = accept4(ls, NULL, NULL, 0);
	if (s < 0) die("accept4");
	struct tally ct = {0}, st = {0};

	/* client -> server */
	sent(&ct, write(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27));
	recv_exact(s, &st, 27, 0, buf);
	struct iovec v[3] = { { "aaaaaaaaaa", 10 }, { "bbbbbbbbbbbbbbbbbbbb", 20 }, { "cccccccccccccccccccccccccccccc", 30 } };
	sent(&ct, writev(c, v, 3));
	recv_exact(s, &st, 60, 1, buf);
	sent(&ct, sendto(c, "0123456789012345678901234567890123456789012345678", 49, 0, NULL, 0));
	recv_exact(s, &st, 49, 2, buf);
	struct iovec mv[2] = { { "dddddddddddddddddddddddddddddddddddddddd", 40 }, { big, 60 } };
	struct msghdr mh = { .msg_iov = mv, .msg_iovlen = 2 };
	sent(&ct, sendmsg(c, &mh, 0));
	recv_exact(s, &st, 100, 3, buf);
	/* server -> client: larger than the capture, several calls */
	long left = sizeof(big);
	while (left > 0) { long w = write(s, big, left); sent(&st, w); left -= w; recv_exact(c, &ct, w, 0, buf); }

	/* UDP: a connected client socket and an unconnected server socket */
	int us = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in ua = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (us < 0 || bind(us, (struct sockaddr *)&ua, sizeof(ua)) < 0) die("udp bind");
	al = sizeof(ua);
	getsockname(us, (struct sockaddr *)&ua, &al);
	int uc = socket(AF_INET, SOCK_DGRAM, 0);
	if (connect(uc, (struct sockaddr *)&ua, sizeof(ua)) < 0) die("udp connect");
	struct tally uct = {0}, ust = {0};
	struct iovec mm_iov[3] = { { "x1234567890", 11 }, { "y12345678901234567890", 21 }, { "z1234567890123456789012345678901", 31 } };
	struct mmsghdr mm[3];
	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < 3; i++) { mm[i].msg_hdr.msg_iov = &mm_iov[i]; mm[i].msg_hdr.msg_iovlen = 1; }
	int n = sendmmsg(uc, mm, 3, 0);
	if (n != 3) die("sendmmsg");
	for (int i = 0; i < 3; i++) { uct.sent += mm[i].msg_len; }
	uct.scalls += 3;
	static char rb[3][256];
	struct iovec r_iov[3] = { { rb[0], 256 }, { rb[1], 256 }, { rb[2], 256 } };
	struct sockaddr_in from[3];
	struct mmsghdr rm[3];
	memset(rm, 0, sizeof(rm));
	for (int i = 0; i < 3; i++) { rm[i].msg_hdr.msg_iov = &r_iov[i]; rm[i].msg_hdr.msg_iovlen = 1; rm[i].msg_hdr.msg_name = &from[i]; rm[i].msg_hdr.msg_namelen = sizeof(from[i]); }
	int got_n = 0;
	while (got_n < 3) {
		int k = recvmmsg(us, rm + got_n, 3 - got_n, 0, NULL);
		if (k <= 0) die("recvmmsg");
		for (int i = got_n; i < got_n + k; i++) ust.recv += rm[i].msg_len;
		ust.rcalls += k;
		got_n += k;
	}
	/* the server answers with sendto to the client's address, the client reads it with recvfrom */
	sent(&ust, sendto(us, "answer-1234", 11, 0, (struct sockaddr *)&from[0], sizeof(from[0])));
	got(&uct, recv(uc, buf, sizeof(buf), 0));

	printf("conn tcp client %u %u %ld %ld %ld %ld\n", port_of(c, 0), port_of(c, 1), ct.sent, ct.recv, ct.scalls, ct.rcalls);
	printf("conn tcp server %u %u %ld %ld %ld %ld\n", port_of(s, 0), port_of(s, 1), st.sent, st.recv, st.scalls, st.rcalls);
	printf("conn udp client %u %u %ld %ld %ld %ld\n", port_of(uc, 0), port_of(uc, 1), uct.sent, uct.recv, uct.scalls, uct.rcalls);
	printf("conn udp server %u 0 %ld %ld %ld %ld\n", port_of(us, 0), ust.sent, ust.recv, ust.scalls, ust.rcalls);
	printf("done\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin)) return 1;
	close(c); close(s); close(uc); close(us); close(ls);
	printf("closed\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin)) return 1;
	return 0;
}
