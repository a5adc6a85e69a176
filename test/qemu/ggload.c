/* Activity for test/qemu's probe checks, built on the host with `cc -static` (no dynamic
 * loader, so no failed access("/etc/ld.so.preload") of its own) and run in the guest:
 *   ggload fail N RELEASE : sleeps 1 s, then open()s a missing file N times (each fails with
 *                         ENOENT), prints "failed N", waits for the release and exits; it
 *                         makes no other failing system call.
 *   ggload dio DEV N RELEASE : sleeps 1 s, writes N × 64 KiB with O_DIRECT to the block device
 *                         DEV from offset 0 (one bio each), prints "wrote N", waits for the
 *                         release and exits.
 * The release: the existing file RELEASE (opened at start) is no longer empty; the host
 * writes it once it has seen the collections that hold the work (a process's rows need it
 * alive: the agent labels them from /proc). fstat() and nanosleep() never fail, so the wait
 * adds no failed system call. Exit 5 when no release comes within 10 minutes.
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
#include <sys/stat.h>
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

/* Waits until the release file (open as fd) is no longer empty. */
static int wait_release(int fd)
{
	struct stat st;
	for (int i = 0; i < 6000; i++) {
		if (fstat(fd, &st) != 0)
			return 5;
		if (st.st_size > 0)
			return 0;
		usleep(100000);
	}
	return 5;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "fail") == 0) {
		long n = atol(argv[2]);
		int release = open(argv[3], O_RDONLY);
		if (release < 0)
			return 6;
		sleep(1);
		for (long i = 0; i < n; i++)
			if (open("/nonexistent/gg-missing", O_RDONLY) >= 0)
				return 2;
		printf("failed %ld\n", n);
		fflush(stdout);
		return wait_release(release);
	}
	if (argc == 5 && strcmp(argv[1], "dio") == 0) {
		long n = atol(argv[3]);
		void *buf;
		int fd = open(argv[2], O_WRONLY | O_DIRECT);
		int release = open(argv[4], O_RDONLY);
		if (fd < 0 || release < 0 || posix_memalign(&buf, 4096, 65536))
			return 3;
		memset(buf, 0x5a, 65536);
		sleep(1);
		for (long i = 0; i < n; i++)
			if (pwrite(fd, buf, 65536, (off_t)i * 65536) != 65536)
				return 4;
		close(fd);
		printf("wrote %ld\n", n);
		fflush(stdout);
		return wait_release(release);
	}
	if (argc == 3 && strcmp(argv[1], "spin") == 0) {
		spin_caller(time(NULL) + atoi(argv[2]));
		printf("spun\n");
		return 0;
	}
	fprintf(stderr, "usage: ggload fail N RELEASE | ggload dio DEV N RELEASE | ggload spin SECONDS\n");
	return 1;
}
