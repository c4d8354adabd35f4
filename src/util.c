/* util.c: allocation wrappers and address helpers shared by every module. */
#include "flowaudit/util.h"

#include "flowaudit/hash.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint64_t fa_seed(void)
{
	uint64_t s;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == sizeof(s))
		return s;
	/* No entropy yet (early boot): different per table, run and process, if guessable. */
	static uint64_t n;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return fa_mum((uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32, __atomic_add_fetch(&n, 1, __ATOMIC_RELAXED) ^ 0x9e3779b97f4a7c15ull);
}

void oom(void)
{
	fputs("flowaudit: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xmalloc_lines(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) / 64 * 64);
	if (!p)
		oom();
	return p;
}

void *xmap(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		oom();
	madvise(p, n, MADV_HUGEPAGE);
	return p;
}

void *xremap(void *p, size_t old, size_t n)
{
	p = mremap(p, old, n, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		oom();
	madvise(p, n, MADV_HUGEPAGE);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	char *p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void *grow_raw(void *arr, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return arr;
	size_t c = *cap ? *cap : 8;
	while (c <= n)
		c *= 2;
	if (c > SIZE_MAX / sz)
		oom();
	arr = xrealloc(arr, c * sz);
	*cap = c;
	return arr;
}

void *grow(void *arr, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return arr;
	size_t c = *cap ? *cap : 8;
	while (c <= n)
		c *= 2;
	arr = xrealloc(arr, c * sz);
	memset((char *)arr + *cap * sz, 0, (c - *cap) * sz);
	*cap = c;
	return arr;
}

bool addr_is_v4(const uint8_t a[16])
{
	return memcmp(a, addr_v4_mapped, 12) == 0;
}

const char *addr_str(const uint8_t a[16], char *buf)
{
	if (addr_is_v4(a)) {
		/* By hand: inet_ntop goes through sprintf, and a report writes one or two a row. */
		char *p = buf;
		for (int i = 12; i < 16; i++) {
			unsigned v = a[i];
			if (v >= 100)
				*p++ = (char)('0' + v / 100);
			if (v >= 10)
				*p++ = (char)('0' + v / 10 % 10);
			*p++ = (char)('0' + v % 10);
			*p++ = i < 15 ? '.' : '\0';
		}
	} else
		inet_ntop(AF_INET6, a, buf, 46);
	return buf;
}

bool addr_parse(const char *s, uint8_t a[16])
{
	uint8_t v4[4];
	if (inet_pton(AF_INET, s, v4) == 1) {
		addr_from_v4(a, v4);
		return true;
	}
	return inet_pton(AF_INET6, s, a) == 1;
}

bool addr_in_prefix(const uint8_t addr[16], const uint8_t prefix[16], int plen)
{
	int full = plen / 8, rest = plen % 8;
	if (memcmp(addr, prefix, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (addr[full] & mask) == (prefix[full] & mask);
}

bool port_parse(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	if (!*s)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return false;
	}
	if (v == 0)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* s with every control byte (C0, DEL, and UTF-8's C1 controls) written as \xHH, as ls -b does: a file or
 * host name must not reach the terminal as an escape sequence. Caller frees. */
char *str_printable(const char *s)
{
	/* Most names hold nothing to escape: one pass with a table tells (0xc2 starts the C1 controls). */
	static const bool suspect[256] = {[0x01 ... 0x1f] = true, [0x7f] = true, [0xc2] = true};
	size_t n = 0;
	bool any = false;
	for (; s[n]; n++)
		any |= suspect[(unsigned char)s[n]];
	if (!any)
		return xstrndup(s, n);
	char *o = xmalloc(4 * n + 1), *p = o;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		bool c1 = c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f;
		if (*c < 0x20 || *c == 0x7f || c1) {
			p += sprintf(p, "\\x%02x", *c);
			if (c1)
				p += sprintf(p, "\\x%02x", *++c);
		} else {
			*p++ = (char)*c;
		}
	}
	*p = '\0';
	return o;
}

void str_append(char **s, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *piece = xvasprintf(fmt, ap);
	va_end(ap);
	size_t n = strlen(piece);
	*s = xrealloc(*s, *len + n + 1);
	memcpy(*s + *len, piece, n + 1);
	*len += n;
	free(piece);
}
