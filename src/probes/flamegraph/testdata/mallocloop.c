/* mem_glibc cost fixture: prints "ready", waits for a line on stdin, then times argv[1]
 * malloc(64)/free pairs, keeps one 12345-byte block allocated in marker (so a profile shows
 * whether the probe was on), prints the nanoseconds per pair and waits for stdin to close.
 * Build with -O2 -fno-omit-frame-pointer. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *volatile keep;

__attribute__((noinline)) void marker(void)
{
	keep = malloc(12345);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	char line[16];
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 1;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		void *volatile p = malloc(64);
		free(p);
	}
	double ns = (now() - t0) * 1e9 / n;
	marker();
	printf("%.1f\n", ns);
	fflush(stdout);
	while (fgets(line, sizeof line, stdin))
		;
	return 0;
}
