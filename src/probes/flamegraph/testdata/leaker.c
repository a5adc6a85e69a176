/* mem_glibc fixture: prints "ready", waits for a line on stdin, then keeps exactly
 * argv[1] blocks of argv[2] bytes allocated with malloc in leak_blocks, one calloc(10, 100)
 * in zeroed_block and one block grown by realloc from 100 to 5000 bytes in grown_block;
 * allocates and frees 10000 blocks in churn (nothing of it live); prints "done" and waits
 * for stdin to close. Build with -O0 -fno-omit-frame-pointer. */
#include <stdio.h>
#include <stdlib.h>

static void *kept[100000];
static int nkept;

__attribute__((noinline)) void leak_blocks(int k, size_t size)
{
	for (int i = 0; i < k && nkept < 100000; i++)
		kept[nkept++] = malloc(size);
}

__attribute__((noinline)) void zeroed_block(void)
{
	kept[nkept++] = calloc(10, 100);
}

__attribute__((noinline)) void grown_block(void)
{
	char *p = malloc(100);
	kept[nkept++] = realloc(p, 5000);
}

__attribute__((noinline)) void churn(void)
{
	for (int i = 0; i < 10000; i++) {
		volatile char *p = malloc(64 + i % 512);
		p[0] = 1;
		free((void *)p);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	char line[16];
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 1;
	leak_blocks(atoi(argv[1]), strtoul(argv[2], NULL, 10));
	zeroed_block();
	grown_block();
	churn();
	printf("done %d\n", nkept);
	fflush(stdout);
	while (fgets(line, sizeof line, stdin))
		;
	return 0;
}
