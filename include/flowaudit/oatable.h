/* oatable.h: the index of every hot table in flowaudit (flows, graph edges, the classifier's rows).
 * Open addressing with linear probing over 8-byte slots, each a 32-bit hash and a 32-bit payload: the
 * payload names an entry in the owner's own array, where the key lives, so the index never moves or
 * copies an entry and the owner compares keys itself:
 *
 *	size_t pos = oat_home(&t, hash);
 *	for (uint32_t i; (i = oat_next(&t, hash, &pos)) != OAT_NONE;)
 *		if (same_key(&entries[i], key))
 *			return i;
 *
 * Load: at most one entry per `sparse` slots (2 unless the owner asks for a sparser table: the flow
 * table, whose lookups are every packet, keeps 4), doubled when an insert would pass it; growing places
 * every slot again by the hash it carries, reading no entry. Delete: backward shift (the entries after
 * the hole move back where their probe allows), so no tombstones are left and runs stay short. Payloads
 * go up to 2^32 - 2. Memory comes from the project's allocators: running out is oom(), never a NULL.
 * A zeroed struct oat is an empty table (sparseness 2, seed 0: for keys that do not come from the wire). */
#ifndef FLOWAUDIT_OATABLE_H
#define FLOWAUDIT_OATABLE_H

#include <stddef.h>
#include <stdint.h>

#define OAT_NONE UINT32_MAX

struct oat {
	uint64_t *slots;        /* hash << 32 | (payload + 1); 0: empty */
	size_t mask;            /* slots - 1, a power of two; 0 with no slots yet */
	size_t n;               /* entries */
	unsigned sparse;        /* slots per entry, at least */
	uint64_t seed;          /* the owner hashes its keys with it (fa_hash()): drawn by oat_init() */
};

/* first: slots to start with (a power of two, or 0 for the default); sparse: 0 for 2. A fresh random
 * seed each time (getrandom), so that no two tables, runs or machines collide on the same keys. */
void oat_init(struct oat *t, size_t first, unsigned sparse);
void oat_free(struct oat *t);
void oat_insert(struct oat *t, uint32_t hash, uint32_t payload);
/* The slot holding this hash and payload must exist. */
void oat_remove(struct oat *t, uint32_t hash, uint32_t payload);
/* A deep copy. */
void oat_copy(struct oat *dst, const struct oat *src);

static inline size_t oat_home(const struct oat *t, uint32_t hash)
{
	return hash & t->mask;
}

/* The payload of the next slot from *pos on that carries this hash, or OAT_NONE at the end of the run. */
static inline uint32_t oat_next(const struct oat *t, uint32_t hash, size_t *pos)
{
	if (!t->slots)
		return OAT_NONE;
	for (size_t i = *pos;; i = (i + 1) & t->mask) {
		uint64_t s = t->slots[i];
		if (!s)
			return OAT_NONE;
		if ((uint32_t)(s >> 32) == hash) {
			*pos = (i + 1) & t->mask;
			return (uint32_t)s - 1;
		}
	}
}

/* Ask for the line a lookup of this hash starts on. (Always inlined: GCC would drop the calls of a
 * function that only prefetches.) */
static inline __attribute__((always_inline)) void oat_prefetch(const struct oat *t, uint32_t hash)
{
	if (t->slots)
		__builtin_prefetch(&t->slots[hash & t->mask]);
}

#endif
