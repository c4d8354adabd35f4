/* nft_eval.c: the first packet of a path walked through the ruleset as the kernel's nf_tables does it
 * (nf_tables_core.c): base chains of the packet's family on each hook it crosses, in priority order;
 * in a chain, rule after rule, each a list of expressions over a register file; a failed match ends the
 * rule (NFT_BREAK); jump pushes a return point, goto does not, return and a chain's end pop it. The
 * packet is built from the path (a TCP SYN without options, or a UDP datagram) and conntrack sees it as
 * new. What cannot be known from the path alone (a socket, fib, an xtables match, a rewrite of the
 * destination) stops the walk as undecided, naming the expression: never a guess. */
#include "flowaudit/nft_parts.h"

#include <arpa/inet.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/util.h"

#define NREGS32 (4 + 16)        /* the verdict's 16 bytes, then NFT_REG_1..4 = NFT_REG32_00..15 */
#define JUMP_STACK 16           /* the kernel's NFT_JUMP_STACK_SIZE */

struct walk {
	const struct nft_ruleset *rs;
	const struct nft_pkt *p;
	uint8_t nh[40], th[20];
	size_t nhlen, thlen;
	uint32_t regs[NREGS32];
	int verdict;            /* of the rule being evaluated: NFT_CONTINUE until an expression sets it */
	const char *target;     /* jump and goto */
	uint32_t mark, ct_mark;
	bool notrack;
	char reject[48];
	char why[128];
};

/* A register number (NFT_REG_1..4 or NFT_REG32_00..15) as an index of 32-bit words, or -1. */
static int reg_index(uint32_t reg, uint32_t len)
{
	int i;
	if (reg >= NFT_REG_1 && reg <= NFT_REG_4)
		i = (int)reg * 4;
	else if (reg >= NFT_REG32_00 && reg <= NFT_REG32_15)
		i = (int)(reg - NFT_REG32_00) + 4;
	else
		return -1;
	return (size_t)i + (len + 3) / 4 <= NREGS32 ? i : -1;
}

static uint8_t *reg_bytes(struct walk *w, uint32_t reg, uint32_t len)
{
	int i = reg_index(reg, len);
	return i < 0 ? NULL : (uint8_t *)&w->regs[i];
}

static bool undecided(struct walk *w, const char *fmt, const char *what)
{
	snprintf(w->why, sizeof(w->why), fmt, what);
	return false;
}

/* Store len bytes into a register, its last word zero-padded as the kernel's nft_reg_store does. */
static bool store(struct walk *w, uint32_t dreg, const void *v, uint32_t len)
{
	uint8_t *d = reg_bytes(w, dreg, len);
	if (!d)
		return undecided(w, "%s: a register out of range", "register");
	if (len % 4)
		memset(d + len - len % 4, 0, 4);
	memcpy(d, v, len);
	return true;
}

static void build_packet(struct walk *w)
{
	const struct nft_pkt *p = w->p;
	uint16_t l4len = p->l4proto == IPPROTO_TCP ? 20 : 8;
	memset(w->nh, 0, sizeof(w->nh));
	memset(w->th, 0, sizeof(w->th));
	if (p->family == AF_INET) {
		w->nhlen = 20;
		w->nh[0] = 0x45;
		uint16_t tot = htons((uint16_t)(20 + l4len));
		memcpy(w->nh + 2, &tot, 2);
		w->nh[6] = 0x40; /* don't fragment, as a SYN from Linux is sent */
		w->nh[8] = 64;
		w->nh[9] = p->l4proto;
		memcpy(w->nh + 12, p->saddr, 4);
		memcpy(w->nh + 16, p->daddr, 4);
	} else {
		w->nhlen = 40;
		w->nh[0] = 0x60;
		uint16_t pl = htons(l4len);
		memcpy(w->nh + 4, &pl, 2);
		w->nh[6] = p->l4proto;
		w->nh[7] = 64;
		memcpy(w->nh + 8, p->saddr, 16);
		memcpy(w->nh + 24, p->daddr, 16);
	}
	uint16_t sp = htons(p->sport), dp = htons(p->dport);
	memcpy(w->th, &sp, 2);
	memcpy(w->th + 2, &dp, 2);
	if (p->l4proto == IPPROTO_TCP) {
		w->thlen = 20;
		w->th[12] = 5 << 4;
		w->th[13] = 0x02; /* SYN */
		uint16_t win = htons(64240);
		memcpy(w->th + 14, &win, 2);
	} else {
		w->thlen = 8;
		uint16_t len = htons(8);
		memcpy(w->th + 4, &len, 2);
	}
}

static int nfproto(const struct nft_pkt *p)
{
	return p->family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
}

static bool ev_payload(struct walk *w, struct nftnl_expr *e)
{
	if (nftnl_expr_is_set(e, NFTNL_EXPR_PAYLOAD_SREG))
		return undecided(w, "%s: rewrites the packet", "payload set");
	uint32_t base = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE);
	uint32_t off = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
	uint32_t len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN);
	const uint8_t *h;
	size_t hlen;
	if (base == NFT_PAYLOAD_NETWORK_HEADER) {
		h = w->nh;
		hlen = w->nhlen;
	} else if (base == NFT_PAYLOAD_TRANSPORT_HEADER) {
		h = w->th;
		hlen = w->thlen;
	} else {
		return undecided(w, "%s", base == NFT_PAYLOAD_LL_HEADER ? "payload of the link layer header: not known from the path"
									: "payload of an inner header: not known from the path");
	}
	if (off + len > hlen)
		return undecided(w, "%s: reads past the headers of a first packet (options or data)", "payload");
	return store(w, nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_DREG), h + off, len);
}

static bool ev_meta(struct walk *w, struct nftnl_expr *e)
{
	const struct nft_pkt *p = w->p;
	uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY);
	if (nftnl_expr_is_set(e, NFTNL_EXPR_META_SREG)) {
		const uint8_t *v = reg_bytes(w, nftnl_expr_get_u32(e, NFTNL_EXPR_META_SREG), 4);
		if (!v)
			return undecided(w, "%s: a register out of range", "meta set");
		if (key == NFT_META_MARK)
			memcpy(&w->mark, v, 4);
		else if (key != NFT_META_NFTRACE && key != NFT_META_PRIORITY)
			return undecided(w, "%s: sets what this check does not follow", "meta set");
		return true;
	}
	uint32_t dreg = nftnl_expr_get_u32(e, NFTNL_EXPR_META_DREG);
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	char name[IFNAMSIZ];
	switch (key) {
	case NFT_META_NFPROTO:
		u8 = (uint8_t)nfproto(p);
		return store(w, dreg, &u8, 1);
	case NFT_META_L4PROTO:
		return store(w, dreg, &p->l4proto, 1);
	case NFT_META_PROTOCOL:
		u16 = htons(p->family == AF_INET ? 0x0800 : 0x86dd);
		return store(w, dreg, &u16, 2);
	case NFT_META_MARK:
		return store(w, dreg, &w->mark, 4);
	case NFT_META_PKTTYPE:
		u8 = 0; /* PACKET_HOST: unicast */
		return store(w, dreg, &u8, 1);
	case NFT_META_SECPATH:
		u8 = 0; /* no IPsec */
		return store(w, dreg, &u8, 1);
	case NFT_META_IIF:
	case NFT_META_OIF:
	case NFT_META_IIFNAME:
	case NFT_META_OIFNAME:
	case NFT_META_IIFTYPE:
	case NFT_META_OIFTYPE: {
		bool in = key == NFT_META_IIF || key == NFT_META_IIFNAME || key == NFT_META_IIFTYPE;
		const char *dev = in ? p->iif : p->oif;
		if (!dev[0]) { /* no such device at this hook: the kernel ends the rule here */
			w->verdict = NFT_BREAK;
			return true;
		}
		if (key == NFT_META_IIF || key == NFT_META_OIF) {
			u32 = in ? p->iif_index : p->oif_index;
			return store(w, dreg, &u32, 4);
		}
		if (key == NFT_META_IIFTYPE || key == NFT_META_OIFTYPE) {
			u16 = in ? p->iif_type : p->oif_type;
			return store(w, dreg, &u16, 2);
		}
		memset(name, 0, sizeof(name));
		memcpy(name, dev, strnlen(dev, sizeof(name) - 1));
		return store(w, dreg, name, IFNAMSIZ);
	}
	default:
		snprintf(w->why, sizeof(w->why), "meta key %u: not known from the path", key);
		return false;
	}
}

static bool ev_ct(struct walk *w, struct nftnl_expr *e)
{
	const struct nft_pkt *p = w->p;
	uint32_t key = nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY);
	if (nftnl_expr_is_set(e, NFTNL_EXPR_CT_SREG)) {
		const uint8_t *v = reg_bytes(w, nftnl_expr_get_u32(e, NFTNL_EXPR_CT_SREG), 4);
		if (key == NFT_CT_MARK && v) {
			memcpy(&w->ct_mark, v, 4);
			return true;
		}
		return undecided(w, "%s: sets what this check does not follow", "ct set");
	}
	uint32_t dreg = nftnl_expr_get_u32(e, NFTNL_EXPR_CT_DREG);
	if (w->notrack && key != NFT_CT_STATE) { /* no conntrack entry: every other key ends the rule */
		w->verdict = NFT_BREAK;
		return true;
	}
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	size_t alen = p->family == AF_INET ? 4 : 16;
	switch (key) {
	case NFT_CT_STATE:
		u32 = w->notrack ? NF_CT_STATE_UNTRACKED_BIT : NF_CT_STATE_BIT(IP_CT_NEW);
		return store(w, dreg, &u32, 4);
	case NFT_CT_DIRECTION:
		u8 = IP_CT_DIR_ORIGINAL;
		return store(w, dreg, &u8, 1);
	case NFT_CT_STATUS:
		u32 = 0;
		return store(w, dreg, &u32, 4);
	case NFT_CT_MARK:
		return store(w, dreg, &w->ct_mark, 4);
	case NFT_CT_ZONE:
		u16 = 0;
		return store(w, dreg, &u16, 2);
	case NFT_CT_L3PROTOCOL:
		u8 = (uint8_t)nfproto(p);
		return store(w, dreg, &u8, 1);
	case NFT_CT_PROTOCOL:
		return store(w, dreg, &p->l4proto, 1);
	case NFT_CT_SRC:
	case NFT_CT_DST:
	case NFT_CT_SRC_IP:
	case NFT_CT_DST_IP:
	case NFT_CT_SRC_IP6:
	case NFT_CT_DST_IP6: {
		bool src = key == NFT_CT_SRC || key == NFT_CT_SRC_IP || key == NFT_CT_SRC_IP6;
		/* the reply direction swaps the ends */
		if (nftnl_expr_is_set(e, NFTNL_EXPR_CT_DIR) && nftnl_expr_get_u8(e, NFTNL_EXPR_CT_DIR) == IP_CT_DIR_REPLY)
			src = !src;
		return store(w, dreg, src ? p->saddr : p->daddr, (uint32_t)alen);
	}
	case NFT_CT_PROTO_SRC:
	case NFT_CT_PROTO_DST: {
		bool src = key == NFT_CT_PROTO_SRC;
		if (nftnl_expr_is_set(e, NFTNL_EXPR_CT_DIR) && nftnl_expr_get_u8(e, NFTNL_EXPR_CT_DIR) == IP_CT_DIR_REPLY)
			src = !src;
		u16 = htons(src ? p->sport : p->dport);
		return store(w, dreg, &u16, 2);
	}
	default:
		snprintf(w->why, sizeof(w->why), "ct key %u: not known for a connection not yet established", key);
		return false;
	}
}

static bool ev_cmp(struct walk *w, struct nftnl_expr *e)
{
	uint32_t len = 0;
	const void *data = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
	const uint8_t *r = reg_bytes(w, nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_SREG), len);
	if (!r || !data)
		return undecided(w, "%s: a register out of range", "cmp");
	int d = memcmp(r, data, len);
	bool ok;
	switch (nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP)) {
	case NFT_CMP_EQ: ok = d == 0; break;
	case NFT_CMP_NEQ: ok = d != 0; break;
	case NFT_CMP_LT: ok = d < 0; break;
	case NFT_CMP_LTE: ok = d <= 0; break;
	case NFT_CMP_GT: ok = d > 0; break;
	case NFT_CMP_GTE: ok = d >= 0; break;
	default: return undecided(w, "%s: an unknown operator", "cmp");
	}
	if (!ok)
		w->verdict = NFT_BREAK;
	return true;
}

static bool ev_range(struct walk *w, struct nftnl_expr *e)
{
	uint32_t flen = 0, tlen = 0;
	const void *from = nftnl_expr_get(e, NFTNL_EXPR_RANGE_FROM_DATA, &flen);
	const void *to = nftnl_expr_get(e, NFTNL_EXPR_RANGE_TO_DATA, &tlen);
	const uint8_t *r = reg_bytes(w, nftnl_expr_get_u32(e, NFTNL_EXPR_RANGE_SREG), flen);
	if (!r || !from || !to || flen != tlen)
		return undecided(w, "%s: malformed", "range");
	bool in = memcmp(from, r, flen) <= 0 && memcmp(r, to, flen) <= 0;
	if (in != (nftnl_expr_get_u32(e, NFTNL_EXPR_RANGE_OP) == NFT_RANGE_EQ))
		w->verdict = NFT_BREAK;
	return true;
}

static bool ev_bitwise(struct walk *w, struct nftnl_expr *e)
{
	uint32_t len = nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_LEN), mlen = 0, xlen = 0, dlen = 0;
	const uint8_t *src = reg_bytes(w, nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_SREG), len);
	uint8_t *dst = reg_bytes(w, nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_DREG), len);
	if (!src || !dst || len > NFT_KEY_MAX)
		return undecided(w, "%s: a register out of range", "bitwise");
	uint32_t op = nftnl_expr_is_set(e, NFTNL_EXPR_BITWISE_OP) ? nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_OP)
								   : NFT_BITWISE_BOOL;
	uint8_t tmp[NFT_KEY_MAX];
	if (op == NFT_BITWISE_BOOL) {
		const uint8_t *mask = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &mlen);
		const uint8_t *x = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_XOR, &xlen);
		if (!mask || !x || mlen < len || xlen < len)
			return undecided(w, "%s: malformed", "bitwise");
		for (uint32_t i = 0; i < len; i++)
			tmp[i] = (uint8_t)((src[i] & mask[i]) ^ x[i]);
	} else {
		const void *d = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_DATA, &dlen);
		uint32_t shift, n = (len + 3) / 4, carry = 0, s32[NFT_KEY_MAX / 4], d32[NFT_KEY_MAX / 4];
		if (!d || dlen != 4)
			return undecided(w, "%s: malformed", "bitwise shift");
		memcpy(&shift, d, 4);
		if (shift == 0 || shift >= 32)
			return undecided(w, "%s: a shift out of range", "bitwise");
		memset(s32, 0, sizeof(s32));
		memcpy(s32, src, len);
		if (op == NFT_BITWISE_LSHIFT) {
			for (uint32_t i = n; i > 0; i--) {
				d32[i - 1] = s32[i - 1] << shift | carry;
				carry = s32[i - 1] >> (32 - shift);
			}
		} else {
			for (uint32_t i = 0; i < n; i++) {
				d32[i] = carry | s32[i] >> shift;
				carry = s32[i] << (32 - shift);
			}
		}
		memcpy(tmp, d32, len);
	}
	memcpy(dst, tmp, len);
	return true;
}

static bool ev_byteorder(struct walk *w, struct nftnl_expr *e)
{
	uint32_t len = nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_LEN);
	uint32_t size = nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_SIZE);
	const uint8_t *src = reg_bytes(w, nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_SREG), len);
	uint8_t *dst = reg_bytes(w, nftnl_expr_get_u32(e, NFTNL_EXPR_BYTEORDER_DREG), len);
	if (!src || !dst || len > NFT_KEY_MAX || (size != 2 && size != 4 && size != 8))
		return undecided(w, "%s: malformed", "byteorder");
	/* Either direction swaps each unit on a little-endian host, and is a copy on a big-endian one. */
	uint8_t tmp[NFT_KEY_MAX];
	if (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) {
		memmove(dst, src, len);
		return true;
	}
	for (uint32_t i = 0; i + size <= len; i += size)
		for (uint32_t j = 0; j < size; j++)
			tmp[i + j] = src[i + size - 1 - j];
	memcpy(dst, tmp, len - len % size);
	return true;
}

/* Does the key fall in [lo, hi], field by field for a concatenation (each field its own range)? */
static bool in_range(const struct nft_rs_set *s, const uint8_t *k, const uint8_t *lo, const uint8_t *hi)
{
	if (!s->nfields)
		return memcmp(lo, k, s->klen) <= 0 && memcmp(k, hi, s->klen) <= 0;
	size_t off = 0;
	for (size_t f = 0; f < s->nfields; f++) {
		size_t n = s->field_len[f];
		if (off + n > s->klen || memcmp(lo + off, k + off, n) > 0 || memcmp(k + off, hi + off, n) > 0)
			return false;
		off += (n + 3) / 4 * 4;
	}
	return true;
}

static const struct nft_rs_elem *set_find(const struct nft_rs_set *s, const uint8_t *k)
{
	if (!(s->flags & NFT_SET_INTERVAL)) {
		for (size_t i = 0; i < s->nelems; i++)
			if (!memcmp(s->elems[i].key, k, s->klen))
				return &s->elems[i];
		return NULL;
	}
	const struct nft_rs_elem *best = NULL;
	for (size_t i = 0; i < s->nelems; i++) {
		const struct nft_rs_elem *el = &s->elems[i];
		if (el->has_key_end) {
			if (in_range(s, k, el->key, el->key_end))
				return el;
		} else if (memcmp(el->key, k, s->klen) <= 0) {
			best = el; /* sorted: the last start or end at or below the key */
		}
	}
	return best && !best->interval_end ? best : NULL;
}

static bool ev_lookup(struct walk *w, struct nftnl_expr *e, const char *family_table, int family)
{
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
	const struct nft_rs_set *s = name ? nft_rs_set(w->rs, family, family_table, name) : NULL;
	if (!s)
		return undecided(w, "lookup in set %s: the set was not read", name ? name : "?");
	const uint8_t *k = reg_bytes(w, nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SREG), s->klen);
	if (!k)
		return undecided(w, "%s: a register out of range", "lookup");
	const struct nft_rs_elem *el = set_find(s, k);
	bool inv = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS) &&
		   (nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS) & NFT_LOOKUP_F_INV);
	if ((el != NULL) == inv) {
		w->verdict = NFT_BREAK;
		return true;
	}
	if (!el || !nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG))
		return true;
	uint32_t dreg = nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_DREG);
	if (dreg == NFT_REG_VERDICT) {
		w->verdict = el->verdict;
		w->target = el->chain;
		return true;
	}
	return store(w, dreg, el->data, el->dlen ? el->dlen : s->dlen);
}

static bool ev_immediate(struct walk *w, struct nftnl_expr *e)
{
	uint32_t dreg = nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG);
	if (dreg == NFT_REG_VERDICT) {
		w->verdict = (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
		w->target = nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN);
		return true;
	}
	uint32_t len = 0;
	const void *d = nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &len);
	return d ? store(w, dreg, d, len) : undecided(w, "%s: no data", "immediate");
}

static const char *reject_code(int family, uint32_t type, uint8_t code)
{
	static const char *const icmp[] = {"net-unreachable", "host-unreachable", "prot-unreachable", "port-unreachable",
					   [9] = "net-prohibited", [10] = "host-prohibited", [13] = "admin-prohibited"};
	static const char *const icmp6[] = {"no-route", "admin-prohibited", NULL, "addr-unreachable", "port-unreachable",
					    "policy-fail", "reject-route"};
	static const char *const icmpx[] = {"no-route", "port-unreachable", "host-unreachable", "admin-prohibited"};
	if (type == NFT_REJECT_ICMPX_UNREACH)
		return code < 4 ? icmpx[code] : "?";
	if (family == AF_INET)
		return code < sizeof(icmp) / sizeof(*icmp) && icmp[code] ? icmp[code] : "?";
	return code < sizeof(icmp6) / sizeof(*icmp6) && icmp6[code] ? icmp6[code] : "?";
}

static void ev_reject(struct walk *w, struct nftnl_expr *e)
{
	uint32_t type = nftnl_expr_get_u32(e, NFTNL_EXPR_REJECT_TYPE);
	uint8_t code = (uint8_t)nftnl_expr_get_u8(e, NFTNL_EXPR_REJECT_CODE);
	if (type == NFT_REJECT_TCP_RST)
		snprintf(w->reject, sizeof(w->reject), "tcp reset");
	else
		snprintf(w->reject, sizeof(w->reject), "%s %s",
			 type == NFT_REJECT_ICMPX_UNREACH ? "icmpx" : w->p->family == AF_INET ? "icmp" : "icmpv6",
			 reject_code(w->p->family, type, code));
	w->verdict = NF_DROP;
}

/* A limit or quota that passes or not for a first packet: `limit rate over` is over only when the rate
 * was spent, which one packet never does; a quota knows what it has consumed. */
static bool passes_budget(struct nftnl_expr *e, const char *name)
{
	if (!strcmp(name, "limit"))
		return !(nftnl_expr_get_u32(e, NFTNL_EXPR_LIMIT_FLAGS) & NFT_LIMIT_F_INV);
	bool over = nftnl_expr_get_u64(e, NFTNL_EXPR_QUOTA_CONSUMED) > nftnl_expr_get_u64(e, NFTNL_EXPR_QUOTA_BYTES);
	bool inv = (nftnl_expr_get_u32(e, NFTNL_EXPR_QUOTA_FLAGS) & NFT_QUOTA_F_INV) != 0;
	return inv ? over : !over;
}

/* One expression. false: undecided (w->why says why). */
static bool ev_expr(struct walk *w, struct nftnl_expr *e, int family, const char *table, int hook)
{
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	if (!name)
		return undecided(w, "%s", "an expression without a name");
	if (!strcmp(name, "payload"))
		return ev_payload(w, e);
	if (!strcmp(name, "meta"))
		return ev_meta(w, e);
	if (!strcmp(name, "cmp"))
		return ev_cmp(w, e);
	if (!strcmp(name, "range"))
		return ev_range(w, e);
	if (!strcmp(name, "bitwise"))
		return ev_bitwise(w, e);
	if (!strcmp(name, "byteorder"))
		return ev_byteorder(w, e);
	if (!strcmp(name, "lookup"))
		return ev_lookup(w, e, table, family);
	if (!strcmp(name, "immediate"))
		return ev_immediate(w, e);
	if (!strcmp(name, "ct"))
		return ev_ct(w, e);
	if (!strcmp(name, "reject")) {
		ev_reject(w, e);
		return true;
	}
	if (!strcmp(name, "counter") || !strcmp(name, "log") || !strcmp(name, "flow_offload"))
		return true;
	if (!strcmp(name, "notrack")) {
		w->notrack = true;
		return true;
	}
	if (!strcmp(name, "limit") || !strcmp(name, "quota")) {
		if (!passes_budget(e, name))
			w->verdict = NFT_BREAK;
		return true;
	}
	if (!strcmp(name, "dynset")) {
		/* Adds the packet to a set (a meter); what it carries decides as if written in the rule. */
		uint32_t ilen = 0;
		struct nftnl_expr *in = (struct nftnl_expr *)nftnl_expr_get(e, NFTNL_EXPR_DYNSET_EXPR, &ilen);
		const char *iname = in ? nftnl_expr_get_str(in, NFTNL_EXPR_NAME) : NULL;
		if (iname && (!strcmp(iname, "limit") || !strcmp(iname, "quota")) && !passes_budget(in, iname))
			w->verdict = NFT_BREAK;
		else if (iname && strcmp(iname, "counter") && strcmp(iname, "limit") && strcmp(iname, "quota"))
			return undecided(w, "dynset with %s: not evaluated", iname);
		return true;
	}
	if (!strcmp(name, "objref")) {
		if (nftnl_expr_is_set(e, NFTNL_EXPR_OBJREF_IMM_TYPE) &&
		    nftnl_expr_get_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE) == NFT_OBJECT_COUNTER)
			return true;
		return undecided(w, "%s: a named object other than a counter", "objref");
	}
	if (!strcmp(name, "masq") ||
	    (!strcmp(name, "nat") && nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_TYPE) == NFT_NAT_SNAT)) {
		/* A source rewrite after routing: the packet goes on, accepted by this chain. */
		if (hook == NF_INET_POST_ROUTING || hook == NF_INET_LOCAL_IN) {
			w->verdict = NF_ACCEPT;
			return true;
		}
	}
	if (!strcmp(name, "queue")) {
		snprintf(w->why, sizeof(w->why), "queue: the verdict is a userspace program's");
		return false;
	}
	if (!strcmp(name, "nat") || !strcmp(name, "redir") || !strcmp(name, "tproxy"))
		return undecided(w, "%s: rewrites where the packet goes; the hooks after it are not evaluated", name);
	if (!strcmp(name, "match") || !strcmp(name, "target"))
		return undecided(w, "%s: an xtables extension (iptables-nft), not evaluated", name);
	return undecided(w, "%s: not known from the path", name);
}

enum walk_end { W_ACCEPT, W_DROP, W_UNDECIDED };

/* A base chain's verdict for the packet, and where it was decided. */
static enum walk_end walk_chain(struct walk *w, const struct nft_rs_chain *base, struct nft_where *at, bool *is_reject)
{
	struct {
		const struct nft_rs_chain *c;
		size_t next;
	} stack[JUMP_STACK];
	size_t depth = 0, i = 0;
	const struct nft_rs_chain *c = base;
	*is_reject = false;
	for (;;) {
		if (i >= c->nrules) {
			if (depth == 0)
				break;
			depth--;
			c = stack[depth].c;
			i = stack[depth].next;
			continue;
		}
		struct nftnl_rule *r = c->rules[i];
		*at = (struct nft_where){c->family, c->table, c->name, nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE)};
		w->verdict = NFT_CONTINUE;
		w->target = NULL;
		struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
		if (!it)
			abort();
		bool ok = true;
		for (struct nftnl_expr *e = nftnl_expr_iter_next(it); e && ok && w->verdict == NFT_CONTINUE;
		     e = nftnl_expr_iter_next(it))
			ok = ev_expr(w, e, c->family, c->table, base->hook);
		nftnl_expr_iter_destroy(it);
		if (!ok)
			return W_UNDECIDED;
		int v = w->verdict;
		i++;
		if (v == NFT_CONTINUE || v == NFT_BREAK)
			continue;
		if (v == NF_ACCEPT)
			return W_ACCEPT;
		if (v == NF_DROP) {
			*is_reject = w->reject[0] != 0;
			return W_DROP;
		}
		if (v == NFT_JUMP || v == NFT_GOTO) {
			const struct nft_rs_chain *to = w->target ? nft_rs_chain(w->rs, c->family, c->table, w->target) : NULL;
			if (!to) {
				undecided(w, "%s: to a chain that was not read", v == NFT_JUMP ? "jump" : "goto");
				return W_UNDECIDED;
			}
			if (v == NFT_JUMP) {
				if (depth == JUMP_STACK) {
					undecided(w, "%s: deeper than the kernel allows", "jump");
					return W_UNDECIDED;
				}
				stack[depth].c = c;
				stack[depth].next = i;
				depth++;
			}
			c = to;
			i = 0;
			continue;
		}
		if (v == NFT_RETURN) { /* as the chain's end: back to the jump, or the base chain's policy */
			i = c->nrules;
			continue;
		}
		snprintf(w->why, sizeof(w->why), "verdict %d: not accept, drop, jump, goto or return", v);
		return W_UNDECIDED;
	}
	*at = (struct nft_where){base->family, base->table, base->name, 0};
	return base->policy == NF_DROP ? W_DROP : W_ACCEPT;
}

static const int path_hooks[3][3] = {
	[NFT_INPUT] = {NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, -1},
	[NFT_OUTPUT] = {NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, -1},
	[NFT_FORWARD] = {NF_INET_PRE_ROUTING, NF_INET_FORWARD, NF_INET_POST_ROUTING},
};

static int main_hook(enum nft_path p)
{
	return p == NFT_INPUT ? NF_INET_LOCAL_IN : p == NFT_OUTPUT ? NF_INET_LOCAL_OUT : NF_INET_FORWARD;
}

static int prio_cmp(const void *a, const void *b)
{
	const struct nft_rs_chain *x = *(const struct nft_rs_chain *const *)a, *y = *(const struct nft_rs_chain *const *)b;
	return (x->prio > y->prio) - (x->prio < y->prio);
}

void nft_eval(const struct nft_ruleset *rs, const struct nft_pkt *p, struct nft_result *res)
{
	memset(res, 0, sizeof(*res));
	struct walk w = {.rs = rs, .p = p};
	build_packet(&w);
	int fam = nfproto(p);
	res->verdict = NFT_V_ACCEPT;
	const struct nft_rs_chain **on = xcalloc(rs->nchains + 1, sizeof(*on));
	for (int h = 0; h < 3 && path_hooks[p->path][h] >= 0; h++) {
		int hook = path_hooks[p->path][h];
		/* The devices a hook knows: none out before routing and on input, none in after it and on output. */
		struct nft_pkt hp = *p;
		if (hook == NF_INET_PRE_ROUTING || hook == NF_INET_LOCAL_IN)
			hp.oif[0] = 0, hp.oif_index = 0;
		if (hook == NF_INET_POST_ROUTING || hook == NF_INET_LOCAL_OUT)
			hp.iif[0] = 0, hp.iif_index = 0;
		w.p = &hp;
		size_t n = 0;
		for (size_t i = 0; i < rs->nchains; i++) {
			const struct nft_rs_chain *c = &rs->chains[i];
			if (c->base && c->hook == hook && (c->family == fam || c->family == NFPROTO_INET) &&
			    !nft_rs_table_dormant(rs, c->family, c->table))
				on[n++] = c;
		}
		qsort(on, n, sizeof(*on), prio_cmp);
		for (size_t i = 0; i < n; i++) {
			struct nft_where at;
			bool is_reject;
			w.reject[0] = 0;
			enum walk_end end = walk_chain(&w, on[i], &at, &is_reject);
			enum nft_verdict v = end == W_ACCEPT ? NFT_V_ACCEPT : end == W_UNDECIDED ? NFT_V_UNDECIDED
									 : is_reject ? NFT_V_REJECT : NFT_V_DROP;
			if (res->nmet < NFT_MAX_MET)
				res->met[res->nmet++] = (struct nft_chain_met){
					{on[i]->family, on[i]->table, on[i]->name, 0}, hook, on[i]->prio, v};
			if (v == NFT_V_ACCEPT && hook != main_hook(p->path))
				continue;
			res->has_rule = true;
			res->rule = at;
			res->policy = on[i]->policy;
			res->verdict = v;
			if (v == NFT_V_REJECT)
				snprintf(res->reject, sizeof(res->reject), "%s", w.reject);
			if (v == NFT_V_UNDECIDED)
				snprintf(res->why, sizeof(res->why), "%s", w.why);
			if (v != NFT_V_ACCEPT)
				goto done;
		}
	}
done:
	free(on);
}

const char *nft_rule_comment(const struct nft_ruleset *rs, const struct nft_where *w)
{
	const struct nft_rs_chain *c = w->handle ? nft_rs_chain(rs, w->family, w->table, w->chain) : NULL;
	for (size_t i = 0; c && i < c->nrules; i++) {
		struct nftnl_rule *r = c->rules[i];
		if (nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE) != w->handle)
			continue;
		uint32_t len = 0;
		const void *ud = nftnl_rule_is_set(r, NFTNL_RULE_USERDATA) ? nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len) : NULL;
		if (!ud)
			return "";
		/* TLVs of a type byte, a length byte and the value: type 0 is the comment, NUL-terminated. */
		const uint8_t *u = ud;
		for (uint32_t off = 0; off + 2 <= len && off + 2 + u[off + 1] <= len; off += 2 + u[off + 1])
			if (u[off] == NFTNL_UDATA_RULE_COMMENT && u[off + 1] && u[off + 2 + u[off + 1] - 1] == 0)
				return (const char *)u + off + 2;
		return "";
	}
	return "";
}

const char *nft_verdict_name(enum nft_verdict v)
{
	static const char *const names[] = {"accept", "drop", "reject", "undecided"};
	return names[v];
}

const char *nft_family_name(int f)
{
	switch (f) {
	case NFPROTO_INET: return "inet";
	case NFPROTO_IPV4: return "ip";
	case NFPROTO_IPV6: return "ip6";
	case NFPROTO_ARP: return "arp";
	case NFPROTO_BRIDGE: return "bridge";
	case NFPROTO_NETDEV: return "netdev";
	default: return "?";
	}
}

const char *nft_hook_name(int hook)
{
	static const char *const names[] = {"prerouting", "input", "forward", "output", "postrouting"};
	return hook >= 0 && hook < 5 ? names[hook] : "?";
}

const char *nft_path_name(enum nft_path p)
{
	return p == NFT_INPUT ? "input" : p == NFT_OUTPUT ? "output" : "forward";
}
