/* mem fixture: maps 16 MiB (no huge pages), writes one byte per 4 KiB page in touch_pages,
 * unmaps, and repeats for argv[1] seconds; prints the number of rounds. Every round is
 * exactly 4096 user page faults in touch_pages. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define BYTES (16UL << 20)

__attribute__((noinline)) void touch_pages(volatile char *p)
{
	for (unsigned long off = 0; off < BYTES; off += 4096)
		p[off] = 1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 2.0);
	unsigned long rounds = 0;
	while (now() < end) {
		char *p = mmap(NULL, BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		madvise(p, BYTES, MADV_NOHUGEPAGE);
		touch_pages(p);
		munmap(p, BYTES);
		rounds++;
		struct timespec t = { 0, 20 * 1000 * 1000 };
		nanosleep(&t, NULL);
	}
	printf("%lu\n", rounds);
	fflush(stdout);
	return 0;
}
