/* A tiny OpenSSL client for the l7 TLS tests: n HTTP/1.1 GETs of <prefix><i> over one TLS
 * connection to 127.0.0.1:<port>, each response read whole (headers + Content-Length body).
 * Built against OpenSSL 1.1.1 or 3, shared or static; -DUSE_EX uses SSL_write_ex/SSL_read_ex
 * (1.1.1+) instead of SSL_write/SSL_read. With TLSCLIENT_WAIT set in the environment it
 * prints "ready" and waits for a byte on stdin (a test places its uprobes meanwhile). Prints "ok <n>". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int tls_write(SSL *ssl, const char *buf, size_t len)
{
#ifdef USE_EX
	size_t done = 0;
	return SSL_write_ex(ssl, buf, len, &done) == 1 && done == len;
#else
	return SSL_write(ssl, buf, (int)len) == (int)len;
#endif
}

static long tls_read(SSL *ssl, char *buf, size_t cap)
{
#ifdef USE_EX
	size_t got = 0;
	return SSL_read_ex(ssl, buf, cap, &got) == 1 ? (long)got : -1;
#else
	int n = SSL_read(ssl, buf, (int)cap);
	return n > 0 ? n : -1;
#endif
}

static void die(const char *what)
{
	fprintf(stderr, "tlsclient: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 4)
		die("usage: tlsclient <port> <n> <path-prefix>");
	int port = atoi(argv[1]), n = atoi(argv[2]);
	char go;
	if (getenv("TLSCLIENT_WAIT")) {
		printf("ready\n");
		fflush(stdout);
		if (read(0, &go, 1) != 1)
			die("no go byte on stdin");
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		die("SSL_CTX_new");
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect");
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		die("SSL_connect");
	char req[512], resp[65536];
	for (int i = 0; i < n; i++) {
		int len = snprintf(req, sizeof(req), "GET %s%d HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: tlsclient\r\n\r\n", argv[3], i);
		if (!tls_write(ssl, req, (size_t)len))
			die("write");
		size_t have = 0;
		long want = -1;
		while (want < 0 || (long)have < want) {
			long r = tls_read(ssl, resp + have, sizeof(resp) - 1 - have);
			if (r <= 0)
				die("read");
			have += (size_t)r;
			resp[have] = 0;
			char *end = strstr(resp, "\r\n\r\n");
			if (want < 0 && end) {
				char *cl = strstr(resp, "Content-Length: ");
				if (!cl || cl > end)
					die("response without Content-Length");
				want = (end + 4 - resp) + atol(cl + 16);
			}
		}
	}
	SSL_shutdown(ssl);
	printf("ok %d\n", n);
	return 0;
}
