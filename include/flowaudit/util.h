/* util.h: allocation that cannot return NULL, small string and address helpers.
 * Out of memory is fatal (as in git and redis): there is no sane partial report. */
#ifndef FLOWAUDIT_UTIL_H
#define FLOWAUDIT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

_Noreturn void oom(void); /* "out of memory" on stderr, then abort() */
void *xmalloc(size_t n);
void *xmalloc_lines(size_t n); /* starting on a 64-byte cache line */
/* Zeroed pages of one's own (mmap), and the same grown or shrunk with its contents, maybe moved
 * (mremap: nothing is copied, and pages never touched are never resident). Freed with munmap. Marked
 * for transparent huge pages (MADV_HUGEPAGE): for the flow table, read at random across tens of MB. */
void *xmap(size_t n);
/* A seed for a hash table whose keys come from the wire (hash.h). */
uint64_t fa_seed(void);
void *xremap(void *p, size_t old, size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);
/* Append fmt's text to the growing string *s of *len bytes. */
void str_append(char **s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Zero a small object of n bytes (n >= 16, known at compile time) with 16-byte stores. For memset() of 64
 * to a few hundred bytes GCC emits rep stosq, which takes some 30 cycles to start on AMD Zen: once per
 * packet decoded and once per flow created. */
static inline __attribute__((always_inline)) void zero_small(void *p, size_t n)
{
	typedef uint8_t v16 __attribute__((vector_size(16)));
	static const v16 z;
#pragma GCC unroll 16 /* unrolled, or GCC turns the loop back into memset() */
	for (size_t i = 0; i + 16 <= n; i += 16)
		memcpy((char *)p + i, &z, 16);
	if (n % 16)
		memcpy((char *)p + n - 16, &z, 16);
}

/* Copy n bytes (n <= 256) without memcpy's rep movs, which takes tens of cycles to start: 16-byte
 * pieces, the last one overlapping the one before; under 16 bytes, 8-, 4- and 1-byte pieces the same way.
 * Reads and writes exactly the n bytes. Once per packet with payload (the recognisers' copy). */
static inline __attribute__((always_inline)) void copy_small(void *dst, const void *src, size_t n)
{
	typedef uint8_t v16 __attribute__((vector_size(16), aligned(1)));
	uint8_t *d = dst;
	const uint8_t *s = src;
	if (n >= 16) {
		size_t i = 0;
		for (; i + 16 < n; i += 16)
			*(v16 *)(d + i) = *(const v16 *)(s + i);
		*(v16 *)(d + n - 16) = *(const v16 *)(s + n - 16);
	} else if (n >= 8) {
		uint64_t a, b;
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
	} else if (n >= 4) {
		uint32_t a, b;
		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &b, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	}
}

/* Grow *arr (of *cap elements of size sz) so that index n fits. */
void *grow(void *arr, size_t *cap, size_t n, size_t sz);
#define GROW(arr, cap, n) ((arr) = grow((arr), &(cap), (n), sizeof(*(arr))))
/* The same, the new room left as it comes: for big arrays whose entries are each written when added, so
 * that room not used yet is never touched (a doubled array of a million rows is not 128 MB resident). */
void *grow_raw(void *arr, size_t *cap, size_t n, size_t sz);
#define GROW_RAW(arr, cap, n) ((arr) = grow_raw((arr), &(cap), (n), sizeof(*(arr))))

/* Addresses are kept as 16 bytes: IPv4 as the IPv4-mapped IPv6 address ::ffff:a.b.c.d. */
static const uint8_t addr_v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
bool addr_is_v4(const uint8_t a[16]);
/* Inline: twice per packet decoded. Written as two 8-byte stores: the flow key loads the address as two
 * 8-byte words right after, and a load that spans two smaller stores cannot be forwarded from them (it
 * waits for both to reach the cache: make_key had 12% of perf's samples before, 3% of the time measured). */
static inline void addr_from_v4(uint8_t a[16], const uint8_t v4[4])
{
	/* addr_v4_mapped's last 4 bytes, spelled out: copied from the constant, GCC builds the word on the
	 * stack with two 4-byte stores and loads it back, the very stall this avoids. */
	uint8_t hi[8] = {0, 0, 0xff, 0xff, v4[0], v4[1], v4[2], v4[3]};
	uint64_t w;
	memcpy(&w, hi, 8);
	memset(a, 0, 8);
	memcpy(a + 8, &w, 8);
}
/* Text form: dotted quad for IPv4, RFC 5952 for IPv6. buf needs 46 bytes. */
const char *addr_str(const uint8_t a[16], char *buf);
/* Parse IPv4 or IPv6 text; returns false when it is neither. */
bool addr_parse(const char *s, uint8_t a[16]);
/* Does addr fall in prefix/plen (plen counted over the 16-byte form)? */
bool addr_in_prefix(const uint8_t addr[16], const uint8_t prefix[16], int plen);

/* s with every control byte (C0, DEL, UTF-8's C1 controls) written as \xHH, as ls -b does, for text
 * meant for a terminal. Caller frees. */
char *str_printable(const char *s);

/* Parse a decimal port 1..65535 with nothing after it. */
bool port_parse(const char *s, uint16_t *port);

#endif
