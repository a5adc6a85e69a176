/* Test-only frame-pointer program (gcc -O0 -fno-omit-frame-pointer): main -> chain_a ->
 * chain_b -> chain_c, which spins for argv[1] milliseconds of its own CPU time (not wall time, so a
 * loaded machine still gets the same number of samples of it) (src/libbpf/stacks.root.test.ts). */
#include <stdlib.h>
#include <time.h>

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

volatile unsigned long sink;

__attribute__((noinline)) void chain_c(long until)
{
	while (now_ms() < until)
		for (int i = 0; i < 100000; i++)
			sink += i;
}

__attribute__((noinline)) void chain_b(long until)
{
	chain_c(until);
	sink++;
}

__attribute__((noinline)) void chain_a(long until)
{
	chain_b(until);
	sink++;
}

int main(int argc, char **argv)
{
	chain_a(now_ms() + (argc > 1 ? atol(argv[1]) : 1000));
	return 0;
}
