/* Activity for test/qemu's probe checks, built on the host with `cc -static` (no dynamic
 * loader, so no failed access("/etc/ld.so.preload") of its own) and run in the guest:
 *   ggload fail N SLEEP : sleeps 1 s, then open()s a missing file N times (each fails with
 *                         ENOENT), prints "failed N", sleeps SLEEP s and exits; it makes no
 *                         other failing system call.
 *   ggload dio DEV N SLEEP : sleeps 1 s, writes N × 64 KiB with O_DIRECT to the block device
 *                         DEV from offset 0 (one bio each), prints "wrote N", sleeps SLEEP s
 *                         (its rows need a live process: the agent labels them from /proc).
 *   ggload spin SECONDS : burns the CPU in spin_leaf (called through spin_caller) for
 *                         SECONDS of wall time and prints "spun".
 * Build with -O0 -fno-omit-frame-pointer: every function, spin_leaf too (gcc -O1 leaves
 * leaf functions without a frame), keeps its frame, so the flamegraph probe's frame-pointer
 * walk sees main -> spin_caller -> spin_leaf. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

__attribute__((noinline)) static unsigned long spin_leaf(unsigned long n)
{
	unsigned long x = n;
	for (unsigned long i = 0; i < 2000000; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	return x;
}

__attribute__((noinline)) static void spin_caller(time_t until)
{
	unsigned long n = 0;
	while (time(NULL) < until)
		sink += spin_leaf(n++);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "fail") == 0) {
		long n = atol(argv[2]);
		sleep(1);
		for (long i = 0; i < n; i++)
			if (open("/nonexistent/gg-missing", O_RDONLY) >= 0)
				return 2;
		printf("failed %ld\n", n);
		fflush(stdout);
		sleep((unsigned)atoi(argv[3]));
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "dio") == 0) {
		long n = atol(argv[3]);
		void *buf;
		int fd = open(argv[2], O_WRONLY | O_DIRECT);
		if (fd < 0 || posix_memalign(&buf, 4096, 65536))
			return 3;
		memset(buf, 0x5a, 65536);
		sleep(1);
		for (long i = 0; i < n; i++)
			if (pwrite(fd, buf, 65536, (off_t)i * 65536) != 65536)
				return 4;
		close(fd);
		printf("wrote %ld\n", n);
		fflush(stdout);
		sleep((unsigned)atoi(argv[4]));
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "spin") == 0) {
		spin_caller(time(NULL) + atoi(argv[2]));
		printf("spun\n");
		return 0;
	}
	fprintf(stderr, "usage: ggload fail N SLEEP | ggload dio DEV N SLEEP | ggload spin SECONDS\n");
	return 1;
}
