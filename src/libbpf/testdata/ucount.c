/* Test-only uprobe target (src/libbpf/uprobe.root.test.ts): waits until stdin delivers a byte
 * (or closes), then calls gg_counted() argv[1] times and exits. */
#include <stdlib.h>
#include <unistd.h>

volatile int sink;

__attribute__((noinline)) int gg_counted(int i)
{
	sink += i;
	return sink;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;
	char c;
	if (read(0, &c, 1) < 0)
		return 2;
	for (int i = 0; i < n; i++)
		gg_counted(i);
	return 0;
}
