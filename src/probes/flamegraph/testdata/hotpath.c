/* Flame graph fixture: about 95 % of the CPU time in hot_leaf, called only through
 * hot_caller; the rest in cold_path. Runs for argv[1] seconds, then prints how many rounds
 * it made (bench/flamegraph.ts compares them with and without a profiler). Build with
 * -O0 -fno-omit-frame-pointer. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;

__attribute__((noinline)) void hot_leaf(void)
{
	for (unsigned long i = 0; i < 1900000; i++)
		sink += i * i;
}

__attribute__((noinline)) void hot_caller(void)
{
	hot_leaf();
}

__attribute__((noinline)) void cold_path(void)
{
	for (unsigned long i = 0; i < 100000; i++)
		sink += i;
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
		hot_caller();
		cold_path();
		rounds++;
	}
	printf("%lu\n", rounds);
	return 0;
}
