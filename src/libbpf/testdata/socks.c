/* Test-only socket fixture for src/libbpf/iter.root.test.ts: opens three TCP listeners on
 * 127.0.0.1 (the first with backlog 1, never accepting), one bound UDP socket, floods the
 * backlog-1 listener with `connects` non-blocking connects, closes the connecting sockets
 * once their SYNs had time to be dropped (so the listener's drop count stops moving), prints
 * "tcp <p1> <p2> <p3> udp <p4>" and waits for stdin to close. Usage: socks <connects> */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int bound(int type, struct sockaddr_in *a)
{
	int fd = socket(AF_INET, type, 0);
	socklen_t len = sizeof(*a);
	a->sin_family = AF_INET;
	a->sin_port = 0;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof(*a)) || getsockname(fd, (struct sockaddr *)a, &len)) {
		perror("socket/bind");
		exit(2);
	}
	return fd;
}

int main(int argc, char **argv)
{
	int connects = argc > 1 ? atoi(argv[1]) : 0;
	struct sockaddr_in a[4];
	int backlog[3] = {1, 16, 128};
	for (int i = 0; i < 3; i++) {
		int fd = bound(SOCK_STREAM, &a[i]);
		if (listen(fd, backlog[i])) {
			perror("listen");
			return 2;
		}
	}
	bound(SOCK_DGRAM, &a[3]);
	int *c = calloc(connects > 0 ? connects : 1, sizeof(int));
	for (int i = 0; i < connects; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(c[i], (struct sockaddr *)&a[0], sizeof(a[0]));
	}
	usleep(300 * 1000);
	for (int i = 0; i < connects; i++)
		close(c[i]);
	usleep(100 * 1000);
	printf("tcp %d %d %d udp %d\n", ntohs(a[0].sin_port), ntohs(a[1].sin_port), ntohs(a[2].sin_port), ntohs(a[3].sin_port));
	fflush(stdout);
	char buf[16];
	while (read(0, buf, sizeof(buf)) > 0)
		;
	return 0;
}
