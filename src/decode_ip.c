/* decode_ip.c: the network and transport layers: IPv4 with options and fragments, IPv6 with its
 * extension headers, TCP, UDP (a UDP tunnel is handed to decode_tunnel.c), and ICMP/ICMPv6
 * destination-unreachable errors with the packet they quote. */
#include <netinet/in.h>
#include <pcap/dlt.h>
#include <string.h>

#include "flowaudit/decode_parts.h"
#include "flowaudit/rd.h"
#include "flowaudit/util.h"

/* ICMPv4 type 3 codes (RFC 792, RFC 1812 section 5.2.7.1): 9, 10 and 13 are administrative
 * prohibitions; 4 (fragmentation needed) is path MTU discovery and no verdict at all. */
static enum dec_icmp icmp4_kind(uint8_t code)
{
	switch (code) {
	case 9: case 10: case 13:
		return DEC_ICMP_PROHIBITED;
	case 0: case 1: case 2: case 3: case 5: case 6: case 7: case 8: case 11: case 12:
		return DEC_ICMP_UNREACHABLE;
	default:
		return DEC_ICMP_NONE;
	}
}

/* ICMPv6 type 1 codes (RFC 4443 section 3.1): 1 administratively prohibited, 5 source address failed
 * ingress/egress policy, 6 reject route to destination. */
static enum dec_icmp icmp6_kind(uint8_t code)
{
	switch (code) {
	case 1: case 5: case 6:
		return DEC_ICMP_PROHIBITED;
	case 0: case 2: case 3: case 4: case 7:
		return DEC_ICMP_UNREACHABLE;
	default:
		return DEC_ICMP_NONE;
	}
}

/* Walk IPv6 extension headers from *nh at offset *off. Returns DEC_OK with the upper protocol in *nh,
 * DEC_FRAGMENT for a non-first fragment, or a truncation/other status. */
static enum dec_status ip6_walk(struct rd *r, uint8_t *nh, size_t *off)
{
	for (int i = 0; i < DEC_MAX_HEADERS; i++) {
		switch (*nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS: {
			uint8_t next = rd_u8(r, *off);
			size_t hl = ((size_t)rd_u8(r, *off + 1) + 1) * 8;
			if (r->trunc || !rd_has(r, *off, hl))
				return DEC_TRUNC_IP;
			*nh = next;
			*off += hl;
			break;
		}
		case IPPROTO_FRAGMENT: {
			uint8_t next = rd_u8(r, *off);
			uint16_t offflags = rd_be16(r, *off + 2);
			if (r->trunc || !rd_has(r, *off, 8))
				return DEC_TRUNC_IP;
			if (offflags >> 3)
				return DEC_FRAGMENT;
			*nh = next;
			*off += 8;
			break;
		}
		case IPPROTO_AH: { /* RFC 4302: length in 32-bit words, minus 2 */
			uint8_t next = rd_u8(r, *off);
			size_t hl = ((size_t)rd_u8(r, *off + 1) + 2) * 4;
			if (r->trunc || !rd_has(r, *off, hl))
				return DEC_TRUNC_IP;
			*nh = next;
			*off += hl;
			break;
		}
		default:
			return DEC_OK;
		}
	}
	bool more = *nh == IPPROTO_HOPOPTS || *nh == IPPROTO_ROUTING || *nh == IPPROTO_DSTOPTS ||
		    *nh == IPPROTO_FRAGMENT || *nh == IPPROTO_AH;
	return more ? DEC_TOO_MANY_HEADERS : DEC_OK;
}

/* The packet quoted by an ICMP error: its addresses always, its ports when the quote reaches them. */
static enum dec_status quote4(struct rd *q, struct dec_pkt *out)
{
	uint8_t vihl = rd_u8(q, 0);
	if (q->trunc)
		return DEC_TRUNC_L4;
	size_t ihl = (size_t)(vihl & 0x0f) * 4;
	if (vihl >> 4 != 4 || ihl < 20)
		return DEC_BAD_L4;
	uint8_t proto = rd_u8(q, 9);
	uint8_t s[4], d[4];
	if (!rd_copy(q, 12, s, 4))
		return DEC_TRUNC_L4;
	addr_from_v4(out->src, s);
	out->quote_dst_bytes = 0;
	if (rd_copy(q, 16, d, 4)) {
		addr_from_v4(out->dst, d);
		out->quote_dst_bytes = 16;
	} else {
		/* A v4 destination cut short: keep the bytes present after the v4-mapped prefix. */
		size_t have = q->len > 16 ? q->len - 16 : 0;
		uint8_t part[4] = {0};
		memcpy(part, q->p + 16, have);
		addr_from_v4(out->dst, part);
		out->quote_dst_bytes = (uint8_t)(12 + have);
		q->trunc = false;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return DEC_OTHER_L4;
	out->proto = proto;
	if ((rd_be16(q, 6) & 0x1fff) != 0)
		return DEC_OTHER_L4; /* a quoted non-first fragment has no ports */
	uint16_t sp = rd_be16(q, ihl), dp = rd_be16(q, ihl + 2);
	out->quote_ports = !q->trunc;
	out->sport = sp;
	out->dport = dp;
	q->trunc = false;
	return DEC_OK;
}

static enum dec_status quote6(struct rd *q, struct dec_pkt *out)
{
	uint8_t v = rd_u8(q, 0);
	if (q->trunc)
		return DEC_TRUNC_L4;
	if (v >> 4 != 6)
		return DEC_BAD_L4;
	if (!rd_copy(q, 8, out->src, 16))
		return DEC_TRUNC_L4;
	size_t have = q->len > 24 ? q->len - 24 : 0;
	if (have > 16)
		have = 16;
	memset(out->dst, 0, 16);
	memcpy(out->dst, q->p + 24, have);
	out->quote_dst_bytes = (uint8_t)have;
	uint8_t nh = rd_u8(q, 6);
	size_t off = 40;
	enum dec_status st = have == 16 ? ip6_walk(q, &nh, &off) : DEC_TRUNC_IP;
	q->trunc = false;
	/* A quote cut before its transport header still names the sender and (part of) the destination:
	 * at snaplen 96 an ICMPv6 quote ends inside the destination address (FIELD-NOTES). */
	if (st == DEC_TRUNC_IP) {
		out->proto = IPPROTO_TCP; /* unknown; the flow table matches on addresses only */
		out->quote_ports = false;
		return DEC_OK;
	}
	if (st != DEC_OK)
		return st == DEC_FRAGMENT ? DEC_OTHER_L4 : DEC_BAD_L4;
	if (nh != IPPROTO_TCP && nh != IPPROTO_UDP)
		return DEC_OTHER_L4;
	out->proto = nh;
	uint16_t sp = rd_be16(q, off), dp = rd_be16(q, off + 2);
	out->quote_ports = !q->trunc;
	out->sport = sp;
	out->dport = dp;
	q->trunc = false;
	return DEC_OK;
}

enum dec_status dec_ipv4(struct rd *r, struct dec_pkt *out)
{
	uint8_t vihl = rd_u8(r, 0);
	if (r->trunc)
		return DEC_TRUNC_IP;
	size_t ihl = (size_t)(vihl & 0x0f) * 4;
	if (vihl >> 4 != 4 || ihl < 20)
		return DEC_BAD_IP;
	/* The whole header at once: the reads below then need no check of their own (the compiler drops them). */
	if (!rd_has(r, 0, ihl))
		return DEC_TRUNC_IP;
	uint16_t total = rd_be16(r, 2);
	out->ip_id = rd_be16(r, 4);
	uint16_t frag = rd_be16(r, 6);
	out->ttl = rd_u8(r, 8);
	uint8_t proto = rd_u8(r, 9);
	uint8_t s[4], d[4];
	rd_copy(r, 12, s, 4);
	rd_copy(r, 16, d, 4);
	if (total < ihl)
		return DEC_BAD_IP;
	/* Trim to the IP length: Ethernet pads short frames, and the padding is not payload. */
	if (r->len > total)
		r->len = total;
	addr_from_v4(out->src, s);
	addr_from_v4(out->dst, d);
	if (frag & 0x1fff)
		return DEC_FRAGMENT;
	struct rd l4 = rd_sub(r, ihl);
	size_t l4len = (size_t)total - ihl;
	if (proto == IPPROTO_ICMP) {
		uint8_t type = rd_u8(&l4, 0), code = rd_u8(&l4, 1);
		if (l4.trunc)
			return DEC_TRUNC_L4;
		if (type != 3)
			return DEC_OTHER_L4;
		out->icmp = icmp4_kind(code);
		if (out->icmp == DEC_ICMP_NONE)
			return DEC_OTHER_L4;
		memcpy(out->icmp_from, out->src, 16);
		struct rd q = rd_sub(&l4, 8);
		return quote4(&q, out);
	}
	if (proto == IPPROTO_IPIP || proto == IPPROTO_IPV6) {
		if (!dec_enter(out, proto == IPPROTO_IPIP ? DEC_ENC_IPIP : DEC_ENC_IP6IP))
			return DEC_TUNNEL_DEPTH;
		return dec_by_version(&l4, out);
	}
	if (proto == IPPROTO_GRE)
		return dec_gre(&l4, out);
	return dec_transport(&l4, proto, l4len, out);
}

enum dec_status dec_ipv6(struct rd *r, struct dec_pkt *out)
{
	uint8_t v = rd_u8(r, 0);
	if (r->trunc)
		return DEC_TRUNC_IP;
	if (v >> 4 != 6)
		return DEC_BAD_IP;
	uint16_t plen = rd_be16(r, 4);
	uint8_t nh = rd_u8(r, 6);
	out->ttl = rd_u8(r, 7);
	out->ip_id = 0; /* no identification in IPv6; clear an outer IPv4 tunnel header's */
	rd_copy(r, 8, out->src, 16);
	rd_copy(r, 24, out->dst, 16);
	if (r->trunc)
		return DEC_TRUNC_IP;
	/* Payload length 0 is a jumbogram (RFC 2675) or a broken writer: keep what was captured. */
	if (plen && r->len > (size_t)plen + 40)
		r->len = (size_t)plen + 40;
	size_t off = 40;
	enum dec_status st = ip6_walk(r, &nh, &off);
	if (st != DEC_OK)
		return st;
	struct rd l4 = rd_sub(r, off);
	if (nh == IPPROTO_ICMPV6) {
		uint8_t type = rd_u8(&l4, 0), code = rd_u8(&l4, 1);
		if (l4.trunc)
			return DEC_TRUNC_L4;
		if (type != 1) /* ND, MLD, echo and the other errors are not verdicts on a path */
			return DEC_OTHER_L4;
		out->icmp = icmp6_kind(code);
		if (out->icmp == DEC_ICMP_NONE)
			return DEC_OTHER_L4;
		memcpy(out->icmp_from, out->src, 16);
		struct rd q = rd_sub(&l4, 8);
		return quote6(&q, out);
	}
	size_t l4len = plen ? ((size_t)plen + 40 > off ? (size_t)plen + 40 - off : 0) : l4.len;
	if (nh == IPPROTO_IPIP || nh == IPPROTO_IPV6) {
		if (!dec_enter(out, nh == IPPROTO_IPIP ? DEC_ENC_IPIP : DEC_ENC_IP6IP))
			return DEC_TUNNEL_DEPTH;
		return dec_by_version(&l4, out);
	}
	if (nh == IPPROTO_GRE)
		return dec_gre(&l4, out);
	return dec_transport(&l4, nh, l4len, out);
}

/* l4len: the transport segment's length by the IP header, which a short snaplen does not change. */
enum dec_status dec_transport(struct rd *r, uint8_t proto, size_t l4len, struct dec_pkt *out)
{
	out->proto = proto;
	if (proto == IPPROTO_TCP) {
		if (!rd_has(r, 0, 16)) /* through the window: one check for the reads below */
			return DEC_TRUNC_L4;
		out->sport = rd_be16(r, 0);
		out->dport = rd_be16(r, 2);
		out->seq = rd_be32(r, 4);
		out->ack = rd_be32(r, 8);
		uint8_t doff = rd_u8(r, 12) >> 4;
		out->tcp_flags = rd_u8(r, 13);
		out->win = rd_be16(r, 14);
		if (r->trunc)
			return DEC_TRUNC_L4;
		if (doff < 5)
			return DEC_BAD_L4;
		size_t hl = (size_t)doff * 4;
		if (hl > l4len)
			return DEC_BAD_L4;
		out->payload = (uint32_t)(l4len - hl);
		dec_set_pay(out, (size_t)(r->p - r->base) + hl, r->len > hl ? r->len - hl : 0);
		return DEC_OK;
	}
	if (proto == IPPROTO_UDP) {
		if (!rd_has(r, 0, 8))
			return DEC_TRUNC_L4;
		out->sport = rd_be16(r, 0);
		out->dport = rd_be16(r, 2);
		uint16_t ulen = rd_be16(r, 4);
		if (r->trunc)
			return DEC_TRUNC_L4;
		if (ulen < 8 || ulen > l4len)
			return DEC_BAD_L4;
		out->payload = (uint32_t)ulen - 8;
		dec_set_pay(out, (size_t)(r->p - r->base) + 8, r->len > 8 ? r->len - 8 : 0);
		return dec_udp_tunnel(r, out);
	}
	return DEC_OTHER_L4;
}
