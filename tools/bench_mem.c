/* bench_mem.c: what this machine's memory gives a flow table, printed by `make bench` beside its table.
 * A flow table's packets each need lines of memory no cache holds (a hash slot, a flow), at random; how
 * fast that can go is the machine's, not the program's. Two figures, over 64 MB in 2 MB pages:
 *   - latency: a chain of dependent reads, each line's address in the line before;
 *   - throughput: independent reads, each asked for (prefetched) DIST reads ahead, as flow.c does.
 * Their ratio is how many lines are in flight at once. docs/performance.md explains what follows from
 * them for flowaudit. Prints one line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define AREA (64u << 20)
#define LINE 64u
#define LINES (AREA / LINE)
#define DIST 8
#define READS 4000000u

static volatile uint64_t sink; /* what the reads added up to: so that they are not optimised away */

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t next_random(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

int main(void)
{
	const size_t huge = 2u << 20;
	char *raw = mmap(NULL, AREA + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *order = malloc((size_t)LINES * sizeof(*order));
	uint32_t *at = malloc((size_t)(READS + DIST) * sizeof(*at));
	if (raw == MAP_FAILED || !order || !at) {
		fprintf(stderr, "bench_mem: out of memory\n");
		return 2;
	}
	char *area = (char *)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
	madvise(area, AREA, MADV_HUGEPAGE);
	memset(area, 0, AREA);

	/* One cycle through every line in a random order (Sattolo's shuffle), each line holding the
	 * offset of the next. */
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (uint32_t i = 0; i < LINES; i++)
		order[i] = i;
	for (uint32_t i = LINES - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(next_random(&x) % i), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (uint32_t i = 0; i < LINES; i++)
		memcpy(area + (size_t)order[i] * LINE, &order[(i + 1) % LINES], sizeof(uint32_t));
	uint32_t pos = order[0];
	double t0 = now();
	for (uint32_t i = 0; i < READS; i++)
		memcpy(&pos, area + (size_t)pos * LINE, sizeof(pos));
	double latency = (now() - t0) / READS * 1e9;

	for (uint32_t i = 0; i < READS + DIST; i++)
		at[i] = (uint32_t)(next_random(&x) & (LINES - 1));
	uint64_t sum = pos;
	t0 = now();
	for (uint32_t i = 0; i < READS; i++) {
		__builtin_prefetch(area + (size_t)at[i + DIST] * LINE);
		sum += (unsigned char)area[(size_t)at[i] * LINE + 4];
	}
	double each = (now() - t0) / READS * 1e9;

	sink = sum;
	printf("memory: one random line %.0f ns (a chain over %u MB); asked %d ahead, one every %.1f ns "
	       "(%.0f M lines/s, %.1f in flight)\n",
	       latency, AREA >> 20, DIST, each, 1e3 / each, latency / each);
	munmap(raw, AREA + huge);
	free(order);
	free(at);
	return 0;
}
