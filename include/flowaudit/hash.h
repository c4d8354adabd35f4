/* hash.h: the hash function of every table in flowaudit: uthash's (include this, never uthash.h
 * directly: it wires uthash's allocation failure to oom()) and oatable.h's.
 * A 64x64->128-bit multiply-and-fold per 8-byte word (the "mum" step of wyhash): every input bit reaches
 * every output bit, where a plain multiply only carries bits upward (IPv4-mapped addresses vary only in
 * their last bytes). Faster than uthash's default on the 16- to 40-byte keys used here. A table whose
 * keys come from the wire takes a seed of its own (oat_init() draws one) so that nobody can aim
 * collisions at it; uthash's tables, of names from the operator's files, use seed 0. */
#ifndef FLOWAUDIT_HASH_H
#define FLOWAUDIT_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t fa_mum(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint32_t fa_hash(uint64_t seed, const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = seed ^ 0xa0761d6478bd642full ^ len;
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		h = fa_mum(h ^ v, 0xe7037ed1a0b428dbull);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = 0;
		memcpy(&v, p, len);
		h = fa_mum(h ^ v, 0x8ebc6af09c88c6e3ull);
	}
	h = fa_mum(h, 0x589965cc75374cc3ull);
	return (uint32_t)(h ^ h >> 32);
}

/* fa_hash() of a 40-byte key given as its five 8-byte words (as loaded from memory, little-endian), for
 * keys built in registers: hashing a key just stored field by field would wait on the stores. */
static inline uint32_t fa_hash5(uint64_t seed, uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3, uint64_t w4)
{
	const uint64_t k = 0xe7037ed1a0b428dbull;
	uint64_t h = seed ^ 0xa0761d6478bd642full ^ 40;
	h = fa_mum(h ^ w0, k);
	h = fa_mum(h ^ w1, k);
	h = fa_mum(h ^ w2, k);
	h = fa_mum(h ^ w3, k);
	h = fa_mum(h ^ w4, k);
	h = fa_mum(h, 0x589965cc75374cc3ull);
	return (uint32_t)(h ^ h >> 32);
}

/* Key equality without a call to memcmp: the keys on the per-packet path are whole 8-byte words. */
static inline uint64_t fa_ld64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline int fa_keycmp(const void *a, const void *b, size_t len)
{
	if (len % 8)
		return memcmp(a, b, len);
	if (len == 40) {
		/* The flow table's and the classifier's keys, spelled out: GCC leaves the loop below a loop. */
		const unsigned char *x = a, *y = b;
		return ((fa_ld64(x) ^ fa_ld64(y)) | (fa_ld64(x + 8) ^ fa_ld64(y + 8)) | (fa_ld64(x + 16) ^ fa_ld64(y + 16)) |
			(fa_ld64(x + 24) ^ fa_ld64(y + 24)) | (fa_ld64(x + 32) ^ fa_ld64(y + 32))) != 0;
	}
	const unsigned char *x = a, *y = b;
	uint64_t diff = 0;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t u, v;
		memcpy(&u, x + i, 8);
		memcpy(&v, y + i, 8);
		diff |= u ^ v;
	}
	return diff != 0;
}

#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = fa_hash(0, (keyptr), (keylen)))
#define HASH_KEYCMP(a, b, len) fa_keycmp((a), (b), (size_t)(len))
/* uthash's tables are off the per-packet path (site names and addresses, rule systems); when memory runs
 * out they end the program as every other allocation does, never with uthash's exit(-1). */
_Noreturn void oom(void);
void *xmalloc(size_t n);
#define uthash_malloc(sz) xmalloc(sz)
#define uthash_fatal(msg) oom()
#include <uthash.h>

#endif
