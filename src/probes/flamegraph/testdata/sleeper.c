/* Off-CPU fixture: one thread that sleeps 100 ms in a loop (nanosleep) for argv[1] seconds. */
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	int rounds = (int)((argc > 1 ? atof(argv[1]) : 2.0) * 10);
	struct timespec t = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };
	for (int i = 0; i < rounds; i++)
		nanosleep(&t, NULL);
	return 0;
}
