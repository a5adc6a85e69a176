/* Activity for the proc probe's root tests. Each step waits for a line on stdin (so the
 * test can put the process in scope first), does exactly what it says, and prints one
 * line. Between a "go" and its answer the program makes no other syscall that fails.
 *   procload fail N       : per line "go": open() a missing file N times -> "failed N"
 *   procload dns          : per line: 50 getaddrinfo("localhost"), 3 failing
 *                           getaddrinfo("bad.example", AI_NUMERICHOST), 4 gethostbyname("127.0.0.1"),
 *                           2 gethostbyname2("::1", AF_INET6) -> "dns done"
 *   procload pipe         : per line: read() a pipe a child writes after 2 s ->
 *                           "blocked <ns in read> span <ns from the line to the answer>"
 *   procload wait         : per line: futex wait timing out after 100 ms, epoll_wait on an
 *                           empty set for 50 ms, 10 sched_yield -> "waited <ns from the line to the answer>"
 *   procload ioctl        : per line: 10 ioctl(0, BLKGETSIZE64) on the stdin pipe (each fails
 *                           with ENOTTY) -> "ioctls 10"
 *   procload loop N       : per line: N getppid() -> "ps <CPU time per call> wall <wall time per call>"
 *                           (picoseconds; CPU time is this process's, so other load on the
 *                           machine barely changes it)
 *   procload read FILE... : per line: open the next FILE, read() it to the end in 4 KiB
 *                           pieces, fsync, close -> "read <bytes>"
 *   procload dio DEV      : O_DIRECT on a block device, one bio per call. Per line "w": 1024
 *                           writes of 64 KiB then 100 of 512 B (64 MiB + 50 KiB from offset 0);
 *                           per line "r": 512 reads of 64 KiB then 50 of 512 B ->
 *                           "dio <w|r> failed <calls that failed>"
 *   procload buffered FILE: per line "w": 8 MiB written through the page cache in 32 KiB
 *                           pieces, then fsync; per line "r": the file's cached pages
 *                           dropped (fadvise DONTNEED), then read back -> "buffered <w|r> <bytes>"
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <linux/fs.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char line[256];

static int next_line(void)
{
	ssize_t n = read(0, line, sizeof(line) - 1);
	if (n <= 0)
		return 0;
	line[n] = 0;
	return strncmp(line, "exit", 4) != 0;
}

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void say(const char *fmt, long long a, long long b)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), fmt, a, b);
	if (write(1, buf, n) != n)
		exit(3);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	say("ready %lld\n", getpid(), 0);
	if (!strcmp(argv[1], "fail")) {
		int n = argc > 2 ? atoi(argv[2]) : 1000;
		while (next_line()) {
			int failed = 0;
			for (int i = 0; i < n; i++)
				if (open("/nonexistent/procload", O_RDONLY) < 0)
					failed++;
			say("failed %lld\n", failed, 0);
		}
	} else if (!strcmp(argv[1], "dns")) {
		while (next_line()) {
			struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
			for (int i = 0; i < 50; i++)
				if (getaddrinfo("localhost", NULL, &hints, &res) == 0)
					freeaddrinfo(res);
				else
					exit(4);
			hints.ai_flags = AI_NUMERICHOST;
			for (int i = 0; i < 3; i++)
				if (getaddrinfo("bad.example", NULL, &hints, &res) == 0)
					exit(5);
			for (int i = 0; i < 4; i++)
				if (!gethostbyname("127.0.0.1"))
					exit(6);
			for (int i = 0; i < 2; i++)
				if (!gethostbyname2("::1", AF_INET6))
					exit(7);
			say("dns done\n", 0, 0);
		}
	} else if (!strcmp(argv[1], "pipe")) {
		while (next_line()) {
			long long t0 = now_ns();
			int p[2];
			if (pipe(p))
				return 8;
			pid_t child = fork();
			if (child == 0) {
				struct timespec two = { 2, 0 };
				nanosleep(&two, NULL);
				_exit(write(p[1], "x", 1) == 1 ? 0 : 1);
			}
			char c;
			long long r0 = now_ns();
			if (read(p[0], &c, 1) != 1)
				return 9;
			long long r1 = now_ns();
			close(p[0]);
			close(p[1]);
			waitpid(child, NULL, 0);
			say("blocked %lld span %lld\n", r1 - r0, now_ns() - t0);
		}
	} else if (!strcmp(argv[1], "wait")) {
		int ep = epoll_create1(0);
		static int word;
		while (next_line()) {
			long long t0 = now_ns();
			struct timespec t = { 0, 100000000 };
			if (syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &t, NULL, 0) == 0)
				return 12;
			struct epoll_event ev;
			if (epoll_wait(ep, &ev, 1, 50) != 0)
				return 13;
			for (int i = 0; i < 10; i++)
				sched_yield();
			say("waited %lld\n", now_ns() - t0, 0);
		}
	} else if (!strcmp(argv[1], "ioctl")) {
		while (next_line()) {
			int failed = 0;
			unsigned long long size;
			for (int i = 0; i < 10; i++)
				if (ioctl(0, BLKGETSIZE64, &size) < 0)
					failed++;
			say("ioctls %lld\n", failed, 0);
		}
	} else if (!strcmp(argv[1], "loop")) {
		long long n = argc > 2 ? atoll(argv[2]) : 1000000;
		while (next_line()) {
			struct timespec c0, c1;
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
			long long t0 = now_ns();
			for (long long i = 0; i < n; i++)
				syscall(SYS_getppid);
			long long wall = now_ns() - t0;
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
			long long cpu = (c1.tv_sec - c0.tv_sec) * 1000000000LL + (c1.tv_nsec - c0.tv_nsec);
			say("ps %lld wall %lld\n", cpu * 1000 / n, wall * 1000 / n);
		}
	} else if (!strcmp(argv[1], "read")) {
		static char buf[4096];
		for (int f = 2; f < argc && next_line(); f++) {
			int fd = open(argv[f], O_RDONLY);
			if (fd < 0)
				return 10;
			long long total = 0;
			ssize_t n;
			while ((n = read(fd, buf, sizeof(buf))) > 0)
				total += n;
			if (fsync(fd))
				return 11;
			close(fd);
			say("read %lld\n", total, 0);
		}
	} else if (!strcmp(argv[1], "dio") && argc > 2) {
		int fd = open(argv[2], O_RDWR | O_DIRECT);
		char *buf = aligned_alloc(4096, 65536);
		if (fd < 0 || !buf)
			return 14;
		memset(buf, 0x5a, 65536);
		while (next_line()) {
			int write_mode = line[0] == 'w';
			int big = write_mode ? 1024 : 512, small = write_mode ? 100 : 50, failed = 0;
			off_t off = 0;
			for (int i = 0; i < big + small; i++) {
				size_t len = i < big ? 65536 : 512;
				ssize_t n = write_mode ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
				if (n != (ssize_t)len)
					failed++;
				off += len;
			}
			char out[64];
			snprintf(out, sizeof(out), "dio %c failed %%lld\n", write_mode ? 'w' : 'r');
			say(out, failed, 0);
		}
	} else if (!strcmp(argv[1], "buffered") && argc > 2) {
		static char buf[32768];
		memset(buf, 0x33, sizeof(buf));
		while (next_line()) {
			int write_mode = line[0] == 'w';
			int fd = open(argv[2], write_mode ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY, 0644);
			if (fd < 0)
				return 15;
			long long total = 0;
			if (write_mode) {
				for (int i = 0; i < 256; i++)
					if (write(fd, buf, sizeof(buf)) == sizeof(buf))
						total += sizeof(buf);
				if (fsync(fd))
					return 16;
			} else {
				if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
					return 17;
				ssize_t n;
				while ((n = read(fd, buf, sizeof(buf))) > 0)
					total += n;
			}
			close(fd);
			say(write_mode ? "buffered w %lld\n" : "buffered r %lld\n", total, 0);
		}
	}
	return 0;
}
