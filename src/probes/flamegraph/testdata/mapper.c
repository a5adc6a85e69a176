/* mem fixture (brk and mmap): prints "ready", waits for a line on stdin, then maps
 * argv[1] MiB anonymous in map_region and grows the heap by argv[2] MiB with brk in
 * grow_heap (touching none of it), prints "done" and waits for stdin to close. Build with
 * -O0 -fno-omit-frame-pointer. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((noinline)) void *map_region(size_t bytes)
{
	return mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

__attribute__((noinline)) void *grow_heap(size_t bytes)
{
	return brk((char *)sbrk(0) + bytes) == 0 ? (void *)1 : (void *)-1;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	size_t map = strtoul(argv[1], NULL, 10) << 20, heap = strtoul(argv[2], NULL, 10) << 20;
	char line[16];
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 1;
	if (map_region(map) == MAP_FAILED || grow_heap(heap) == (void *)-1)
		return 1;
	printf("done\n");
	fflush(stdout);
	while (fgets(line, sizeof line, stdin))
		;
	return 0;
}
