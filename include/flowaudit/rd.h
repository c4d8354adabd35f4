/* rd.h: the packet reader. Every read of packet bytes goes through these accessors, which
 * check the offset against what is left and set trunc instead of reading past it (tcpdump's GET_). */
#ifndef FLOWAUDIT_RD_H
#define FLOWAUDIT_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct dec_cfg;

struct rd {
	const uint8_t *p;
	size_t len;
	bool trunc;
	const struct dec_cfg *cfg; /* the decoder's settings, handed down to every layer read inside */
	const uint8_t *base;    /* the frame's first byte: where a layer lies in it */
};

static inline bool rd_has(struct rd *r, size_t off, size_t n)
{
	if (off > r->len || r->len - off < n) {
		r->trunc = true;
		return false;
	}
	return true;
}

static inline uint8_t rd_u8(struct rd *r, size_t off)
{
	return rd_has(r, off, 1) ? r->p[off] : 0;
}

/* Big-endian loads with no check: for bytes already known to be there (after rd_has(), or one length
 * check of a whole header). */
static inline uint16_t be16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t rd_be16(struct rd *r, size_t off)
{
	return rd_has(r, off, 2) ? be16_at(r->p + off) : 0;
}

static inline uint16_t rd_le16(struct rd *r, size_t off)
{
	return rd_has(r, off, 2) ? (uint16_t)(r->p[off + 1] << 8 | r->p[off]) : 0;
}

static inline uint32_t rd_be32(struct rd *r, size_t off)
{
	return rd_has(r, off, 4) ? be32_at(r->p + off) : 0;
}

static inline uint32_t rd_host32(struct rd *r, size_t off)
{
	uint32_t v = 0;
	if (rd_has(r, off, 4))
		memcpy(&v, r->p + off, 4);
	return v;
}

/* Copy n bytes; on a short buffer copy nothing and set trunc. */
static inline bool rd_copy(struct rd *r, size_t off, void *dst, size_t n)
{
	if (!rd_has(r, off, n))
		return false;
	memcpy(dst, r->p + off, n);
	return true;
}

/* A sub-reader from off to the end (empty and truncated when off is past the end). */
static inline struct rd rd_sub(struct rd *r, size_t off)
{
	struct rd s = {r->p, 0, false, r->cfg, r->base};
	if (rd_has(r, off, 0)) {
		s.p = r->p + off;
		s.len = r->len - off;
	} else {
		s.trunc = true;
	}
	return s;
}

#endif
