/* oatable.c: growing, removing and copying for oatable.h; lookups are inline there. */
#include "flowaudit/oatable.h"

#include <string.h>
#include <sys/mman.h>

#include "flowaudit/util.h"

#define OAT_FIRST 1024

/* Slots are mapped: pages of a big table that no entry reaches are never resident, and they come zeroed. */
static uint64_t *slots_new(size_t n)
{
	return xmap(n * sizeof(uint64_t));
}

static void slots_free(uint64_t *s, size_t n)
{
	if (s)
		munmap(s, n * sizeof(uint64_t));
}

void oat_init(struct oat *t, size_t first, unsigned sparse)
{
	memset(t, 0, sizeof(*t));
	t->sparse = sparse ? sparse : 2;
	t->seed = fa_seed();
	if (first) {
		size_t n = OAT_FIRST;
		while (n < first)
			n *= 2;
		t->slots = slots_new(n);
		t->mask = n - 1;
	}
}

void oat_free(struct oat *t)
{
	slots_free(t->slots, t->slots ? t->mask + 1 : 0);
	t->slots = NULL;
	t->mask = t->n = 0;
}

static void place(uint64_t *slots, size_t mask, uint64_t s)
{
	size_t i = (s >> 32) & mask;
	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = s;
}

static __attribute__((noinline)) void oat_grow(struct oat *t)
{
	size_t old = t->slots ? t->mask + 1 : 0, n = old ? old * 2 : OAT_FIRST;
	uint64_t *slots = slots_new(n);
	for (size_t i = 0; i < old; i++)
		if (t->slots[i])
			place(slots, n - 1, t->slots[i]);
	slots_free(t->slots, old);
	t->slots = slots;
	t->mask = n - 1;
}

void oat_insert(struct oat *t, uint32_t hash, uint32_t payload)
{
	if (payload >= OAT_NONE - 1)
		oom(); /* 2^32 entries: no index of this size is meant to be */
	if (!t->slots || (t->n + 1) * (t->sparse ? t->sparse : 2) > t->mask + 1)
		oat_grow(t);
	place(t->slots, t->mask, (uint64_t)hash << 32 | (payload + 1));
	t->n++;
}

void oat_remove(struct oat *t, uint32_t hash, uint32_t payload)
{
	size_t mask = t->mask, i = hash & mask;
	uint64_t want = (uint64_t)hash << 32 | (payload + 1);
	while (t->slots[i] != want)
		i = (i + 1) & mask;
	for (size_t j = i;;) {
		j = (j + 1) & mask;
		uint64_t s = t->slots[j];
		if (!s)
			break;
		size_t home = (s >> 32) & mask;
		/* s may fill the hole at i unless its home lies cyclically in (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slots[i] = s;
			i = j;
		}
	}
	t->slots[i] = 0;
	t->n--;
}

void oat_copy(struct oat *dst, const struct oat *src)
{
	*dst = *src;
	if (!src->slots)
		return;
	dst->slots = slots_new(src->mask + 1);
	memcpy(dst->slots, src->slots, (src->mask + 1) * sizeof(uint64_t));
}
