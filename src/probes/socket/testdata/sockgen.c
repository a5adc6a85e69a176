/* Socket activity for the socket probe's root tests. Every mode prints what it did on
 * stdout and waits for a line on stdin where the test must act in between ("go" to start,
 * anything to exit at the end), so the test can put the process in scope first.
 *
 *   listen <backlog>            TCP listener on 127.0.0.1:<ephemeral>, never accepts
 *   flood <port> <n>            n concurrent non-blocking connects, kept until stdin closes
 *   refused <port> <n>          n blocking connects to <port>, counts ECONNREFUSED
 *   udpsink                     UDP socket with the smallest receive buffer, never read
 *   udpread <n>                 UDP socket that reads n datagrams
 *   udpsend <port> <n> <size>   n datagrams of <size> bytes to 127.0.0.1:<port>, "go" per batch
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static char line[256];

static int wait_line(void)
{
	return fgets(line, sizeof(line), stdin) != NULL;
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int bound_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	if (getsockname(fd, (struct sockaddr *)&a, &len))
		die("getsockname");
	return ntohs(a.sin_port);
}

static int udp_socket(int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		die("socket");
	if (rcvbuf >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)))
		die("SO_RCVBUF");
	struct sockaddr_in a = loopback(0);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
		die("bind");
	return fd;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: sockgen listen|flood|refused|udpsink|udpread|udpsend ...\n");
		return 2;
	}
	const char *mode = argv[1];
	if (!strcmp(mode, "listen") && argc == 3) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = loopback(0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)))
			die("bind");
		if (!wait_line())
			return 0;
		if (listen(fd, atoi(argv[2])))
			die("listen");
		printf("listening %d\n", bound_port(fd));
		wait_line();
		return 0;
	}
	if (!strcmp(mode, "flood") && argc == 4) {
		int port = atoi(argv[2]), n = atoi(argv[3]);
		if (!wait_line())
			return 0;
		struct sockaddr_in a = loopback(port);
		for (int i = 0; i < n; i++) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (fd < 0)
				die("socket");
			if (connect(fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS)
				die("connect");
		}
		printf("connecting %d\n", n);
		wait_line();
		return 0;
	}
	if (!strcmp(mode, "refused") && argc == 4) {
		int port = atoi(argv[2]), n = atoi(argv[3]), refused = 0;
		if (!wait_line())
			return 0;
		struct sockaddr_in a = loopback(port);
		for (int i = 0; i < n; i++) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			if (fd < 0)
				die("socket");
			if (connect(fd, (struct sockaddr *)&a, sizeof(a)) && errno == ECONNREFUSED)
				refused++;
			close(fd);
		}
		printf("done refused=%d\n", refused);
		wait_line();
		return 0;
	}
	if (!strcmp(mode, "udpsink") && argc == 2) {
		int fd = udp_socket(0); /* the kernel raises 0 to its minimum */
		printf("bound %d\n", bound_port(fd));
		wait_line();
		return 0;
	}
	if (!strcmp(mode, "udpread") && argc == 3) {
		int n = atoi(argv[2]);
		int fd = udp_socket(1 << 20);
		printf("bound %d\n", bound_port(fd));
		long total = 0;
		char buf[65536];
		for (int i = 0; i < n; i++) {
			ssize_t r = recv(fd, buf, sizeof(buf), 0);
			if (r < 0)
				die("recv");
			total += r;
		}
		printf("done rx=%ld\n", total);
		wait_line();
		return 0;
	}
	if (!strcmp(mode, "udpsend") && argc == 5) {
		int port = atoi(argv[2]), n = atoi(argv[3]), size = atoi(argv[4]);
		int fd = udp_socket(-1);
		struct sockaddr_in a = loopback(port);
		char *buf = calloc(1, size > 0 ? size : 1);
		long total = 0;
		printf("ready\n");
		while (wait_line() && strncmp(line, "exit", 4)) {
			for (int i = 0; i < n; i++) {
				ssize_t r = sendto(fd, buf, size, 0, (struct sockaddr *)&a, sizeof(a));
				if (r < 0)
					die("sendto");
				total += r;
			}
			printf("sent total=%ld\n", total);
		}
		return 0;
	}
	fprintf(stderr, "sockgen: bad arguments for %s\n", mode);
	return 2;
}
