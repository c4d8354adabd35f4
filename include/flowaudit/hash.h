/* hash.h: the hash function of every uthash table in flowaudit (include this, never uthash.h directly).
 * A multiply-xorshift over 8-byte words: several times faster than uthash's default on the 16- to
 * 40-byte keys used here, and seeded at start (getrandom) so nobody can aim collisions at the flow table
 * from the wire. Tests keep the seed at 0 for repeatable runs. */
#ifndef FLOWAUDIT_HASH_H
#define FLOWAUDIT_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern uint64_t fa_hash_seed;

static inline uint32_t fa_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = fa_hash_seed ^ (len * 0x9e3779b97f4a7c15ull);
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = 0;
		memcpy(&v, p, len);
		h = (h ^ v) * 0x94d049bb133111ebull;
		h ^= h >> 29;
	}
	h *= 0xff51afd7ed558ccdull;
	return (uint32_t)(h ^ h >> 32);
}

#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = fa_hash((keyptr), (keylen)))
#include <uthash.h>

#endif
