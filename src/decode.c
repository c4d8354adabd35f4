/* decode.c: frames -> struct dec_pkt. Link layers (Ethernet with 802.1Q/802.1ad tags at any depth,
 * Linux SLL and SLL2, raw IP, BSD NULL/LOOP, PPP, Cisco HDLC, Frame Relay, NFLOG, FDDI, ipnet, 802.11
 * with radiotap or PPI), IPv4 with options and fragments, IPv6 with its extension
 * headers, TCP, UDP, and ICMP/ICMPv6 destination-unreachable errors with the packet they quote.
 * Stateless and allocation-free; truncated and invalid input are told apart and never read past. */
#include "flowaudit/decode.h"

#include <netinet/in.h>
#include <pcap/dlt.h>
#include <string.h>

#include "flowaudit/rd.h"
#include "flowaudit/util.h"

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100 /* IEEE 802.1Q */
#define ETH_QINQ 0x88a8 /* IEEE 802.1ad */
#define ETH_QINQ_OLD 0x9100
#define ETH_VNTAG 0x8926 /* Cisco VN-Tag: 4 bytes, then the Ethertype */
#define ETH_PBB 0x88e7   /* IEEE 802.1ah I-TAG: 4 bytes, the customer MAC addresses, the Ethertype */

static const char *const status_names[DEC_NSTATUS] = {
	"ok", "not-ip", "other-l4", "fragment", "truncated-link", "truncated-ip", "truncated-l4", "bad-ip", "bad-l4",
	"tunnel-depth", "too-many-headers",
};

static const char *const encap_names[DEC_NENCAP] = {
	"gre", "erspan1", "erspan2", "erspan3", "vxlan", "geneve", "mpls", "pppoe", "ipip", "ip6ip", "gre-udp", "pptp",
	"gtp", "teredo", "ayiya",
};

static uint16_t vxlan_port = 4789; /* --vxlan-port; the only setting, fixed before decoding starts */

void dec_set_vxlan_port(uint16_t port)
{
	vxlan_port = port;
}

size_t dec_tunnel_ports(uint16_t *ports)
{
	static const uint16_t fixed[] = {6081, 4754, 2152, 3544, 5072}; /* Geneve, GRE-UDP, GTP-U, Teredo, AYIYA */
	ports[0] = vxlan_port;
	memcpy(ports + 1, fixed, sizeof(fixed));
	return 1 + sizeof(fixed) / sizeof(fixed[0]);
}

const char *dec_encap_name(enum dec_encap e)
{
	return e < DEC_NENCAP ? encap_names[e] : "?";
}

const char *dec_status_name(enum dec_status s)
{
	return s < DEC_NSTATUS ? status_names[s] : "?";
}

bool dec_linktype_supported(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_NULL:
	case DLT_LOOP:
	case DLT_PPP:
	case DLT_PPP_SERIAL:
	case DLT_C_HDLC:
	case DLT_FRELAY:
	case DLT_NFLOG:
	case DLT_FDDI:
	case DLT_IPNET:
	case DLT_IEEE802_11:
	case DLT_IEEE802_11_RADIO:
	case DLT_PPI:
		return true;
	default:
		return false;
	}
}

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

static enum dec_status transport(struct rd *r, uint8_t proto, size_t l4len, struct dec_pkt *out);
static enum dec_status ipv4(struct rd *r, struct dec_pkt *out);
static enum dec_status ipv6(struct rd *r, struct dec_pkt *out);
static enum dec_status by_ethertype(struct rd *r, uint16_t type, struct dec_pkt *out);
static enum dec_status by_version(struct rd *r, struct dec_pkt *out);
static enum dec_status ethernet(struct rd *r, struct dec_pkt *out);
static enum dec_status gre(struct rd *r, struct dec_pkt *out);
static enum dec_status ppp(struct rd *r, size_t off, struct dec_pkt *out);

/* Enter one more encapsulation layer, or refuse when nested too deep (hostile input loops). */
static bool enter(struct dec_pkt *out, enum dec_encap e)
{
	if (out->depth >= DEC_MAX_DEPTH)
		return false;
	out->depth++;
	out->encaps |= (uint16_t)(1u << e);
	return true;
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

static enum dec_status ipv4(struct rd *r, struct dec_pkt *out)
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
		if (!enter(out, proto == IPPROTO_IPIP ? DEC_ENC_IPIP : DEC_ENC_IP6IP))
			return DEC_TUNNEL_DEPTH;
		return by_version(&l4, out);
	}
	if (proto == IPPROTO_GRE)
		return gre(&l4, out);
	return transport(&l4, proto, l4len, out);
}

static enum dec_status ipv6(struct rd *r, struct dec_pkt *out)
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
		if (!enter(out, nh == IPPROTO_IPIP ? DEC_ENC_IPIP : DEC_ENC_IP6IP))
			return DEC_TUNNEL_DEPTH;
		return by_version(&l4, out);
	}
	if (nh == IPPROTO_GRE)
		return gre(&l4, out);
	return transport(&l4, nh, l4len, out);
}

/* UDP-carried tunnels: VXLAN (RFC 7348), Geneve (RFC 8926), GRE-in-UDP (RFC 8086). Recognised only when
 * the header parses; otherwise the datagram stays an ordinary UDP packet (out is left as it was). */
static enum dec_status udp_tunnel(struct rd *r, struct dec_pkt *out)
{
	uint16_t dp = out->dport;
	struct rd h = rd_sub(r, 8);
	/* A header the snaplen cut off cannot be judged: that is a truncated packet, not a plain datagram
	 * (the outer headers of a mirror must never become a flow of their own). */
	enum dec_status not_tunnel = h.len < out->payload ? DEC_TRUNC_L4 : DEC_OK;
	if (dp == vxlan_port) { /* the destination port identifies VXLAN; the I flag must be set */
		uint8_t flags = rd_u8(&h, 0);
		bool whole = rd_has(&h, 0, 8 + 14);
		if (!whole)
			return not_tunnel;
		if (!(flags & 0x08))
			return DEC_OK;
		if (!enter(out, DEC_ENC_VXLAN))
			return DEC_TUNNEL_DEPTH;
		struct rd eth = rd_sub(&h, 8);
		return ethernet(&eth, out);
	}
	if (dp == 6081) {
		uint8_t b0 = rd_u8(&h, 0);
		uint16_t type = rd_be16(&h, 2);
		size_t hl = 8 + (size_t)(b0 & 0x3f) * 4;
		if (h.trunc || !rd_has(&h, 0, hl))
			return not_tunnel;
		if (b0 >> 6 != 0 || (type != 0x6558 && type != ETH_IPV4 && type != ETH_IPV6))
			return DEC_OK;
		if (!enter(out, DEC_ENC_GENEVE))
			return DEC_TUNNEL_DEPTH;
		struct rd in = rd_sub(&h, hl);
		return type == 0x6558 ? ethernet(&in, out) : by_ethertype(&in, type, out);
	}
	if (dp == 2152 || out->sport == 2152) { /* GTP-U (3GPP TS 29.281): version 1, G-PDU */
		uint8_t b0 = rd_u8(&h, 0), type = rd_u8(&h, 1);
		if (h.trunc)
			return not_tunnel;
		if (b0 >> 5 != 1 || !(b0 & 0x10) || type != 0xff)
			return DEC_OK;
		size_t off = 8;
		if (b0 & 0x07) { /* sequence, N-PDU, next extension type */
			uint8_t next = rd_u8(&h, 11);
			off = 12;
			for (int i = 0; next && i < 8; i++) {
				size_t len = (size_t)rd_u8(&h, off) * 4;
				if (h.trunc)
					return not_tunnel;
				if (!len)
					return DEC_OK;
				next = rd_u8(&h, off + len - 1);
				off += len;
			}
		}
		if (h.trunc || !rd_has(&h, off, 1))
			return not_tunnel;
		if (!enter(out, DEC_ENC_GTP))
			return DEC_TUNNEL_DEPTH;
		struct rd in = rd_sub(&h, off);
		return by_version(&in, out);
	}
	if (dp == 3544 || out->sport == 3544) { /* Teredo (RFC 4380): optional indicators, then IPv6 */
		size_t off = 0;
		if (rd_be16(&h, 0) == 1) /* authentication: id and auth lengths, nonce (8), confirmation (1) */
			off = 4 + (size_t)rd_u8(&h, 2) + rd_u8(&h, 3) + 9;
		if (rd_be16(&h, off) == 0)
			off += 8; /* origin indication */
		uint8_t v = rd_u8(&h, off);
		uint16_t plen = rd_be16(&h, off + 4);
		if (h.trunc)
			return not_tunnel;
		if (v >> 4 != 6 || (size_t)plen + 40 + off != out->payload)
			return DEC_OK;
		if (!enter(out, DEC_ENC_TEREDO))
			return DEC_TUNNEL_DEPTH;
		struct rd in = rd_sub(&h, off);
		return ipv6(&in, out);
	}
	if (dp == 5072 || out->sport == 5072) { /* AYIYA: identity and signature, then the next header */
		uint8_t b0 = rd_u8(&h, 0), b1 = rd_u8(&h, 1), next = rd_u8(&h, 3);
		size_t off = 8 + ((size_t)1 << (b0 >> 4)) + (size_t)(b1 >> 4) * 4;
		if (h.trunc)
			return not_tunnel;
		if ((next != IPPROTO_IPV6 && next != IPPROTO_IPIP) || !rd_has(&h, off, 1))
			return rd_has(&h, off, 0) ? DEC_OK : not_tunnel;
		if (!enter(out, DEC_ENC_AYIYA))
			return DEC_TUNNEL_DEPTH;
		struct rd in = rd_sub(&h, off);
		return by_version(&in, out);
	}
	if (dp == 4754) {
		uint16_t fv = rd_be16(&h, 0);
		if (h.trunc)
			return not_tunnel;
		if ((fv & 7) != 0)
			return DEC_OK;
		if (!enter(out, DEC_ENC_GRE_UDP))
			return DEC_TUNNEL_DEPTH;
		out->depth--; /* gre() counts its own layer */
		return gre(&h, out);
	}
	return DEC_OK;
}

/* l4len: the transport segment's length by the IP header, which a short snaplen does not change. */
static enum dec_status transport(struct rd *r, uint8_t proto, size_t l4len, struct dec_pkt *out)
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
		return udp_tunnel(r, out);
	}
	return DEC_OTHER_L4;
}

/* MPLS label stack (RFC 3032) down to the bottom-of-stack entry, then IPv4/IPv6 by the first nibble,
 * or an Ethernet pseudowire with its control word (RFC 4385, first nibble 0). */
static enum dec_status mpls(struct rd *r, struct dec_pkt *out)
{
	if (!enter(out, DEC_ENC_MPLS))
		return DEC_TUNNEL_DEPTH;
	size_t off = 0;
	for (int i = 0;; i++) {
		uint32_t e = rd_be32(r, off);
		if (r->trunc)
			return DEC_TRUNC_LINK;
		off += 4;
		if (e & 0x100)
			break;
		if (i == DEC_MAX_HEADERS - 1)
			return DEC_TOO_MANY_HEADERS;
	}
	uint8_t nib = rd_u8(r, off) >> 4;
	if (r->trunc)
		return DEC_TRUNC_LINK;
	struct rd in = rd_sub(r, off);
	if (nib == 4)
		return ipv4(&in, out);
	if (nib == 6)
		return ipv6(&in, out);
	if (nib == 0) {
		struct rd eth = rd_sub(r, off + 4);
		return ethernet(&eth, out);
	}
	return DEC_NOT_IP;
}

static enum dec_status by_ethertype(struct rd *r, uint16_t type, struct dec_pkt *out)
{
	switch (type) {
	case ETH_IPV4:
		return ipv4(r, out);
	case ETH_IPV6:
		return ipv6(r, out);
	case 0x8847: /* MPLS unicast */
		return mpls(r, out);
	case 0x8864: /* PPPoE session (RFC 2516): 6-byte header, then the PPP protocol */
		if (!enter(out, DEC_ENC_PPPOE))
			return DEC_TUNNEL_DEPTH;
		if (!rd_has(r, 0, 6))
			return DEC_TRUNC_LINK;
		return ppp(r, 6, out);
	default:
		return DEC_NOT_IP;
	}
}

/* GRE (RFC 2784, 2890): optional checksum, key and sequence; IPv4, IPv6, transparent Ethernet bridging,
 * MPLS, ERSPAN type I/II (0x88be) and III (0x22eb); version 1 is PPTP's enhanced GRE carrying PPP. */
static enum dec_status gre(struct rd *r, struct dec_pkt *out)
{
	uint16_t fv = rd_be16(r, 0), type = rd_be16(r, 2);
	if (r->trunc)
		return DEC_TRUNC_IP;
	unsigned version = fv & 7;
	bool seq = fv & 0x1000;
	size_t off = 4;
	if (version == 1) { /* RFC 2637: key always present, sequence and acknowledgement optional */
		off += 4 + (seq ? 4 : 0) + ((fv & 0x0080) ? 4 : 0);
		if (!enter(out, DEC_ENC_PPTP))
			return DEC_TUNNEL_DEPTH;
		if (type != 0x880b || !rd_has(r, 0, off))
			return r->trunc ? DEC_TRUNC_IP : DEC_NOT_IP;
		return ppp(r, off, out);
	}
	if (version != 0)
		return DEC_OTHER_L4;
	off += (fv & 0x8000 ? 4 : 0) + (fv & 0x2000 ? 4 : 0) + (seq ? 4 : 0);
	if (!rd_has(r, 0, off))
		return DEC_TRUNC_IP;
	enum dec_encap kind = DEC_ENC_GRE;
	size_t inner = off;
	bool eth = false;
	switch (type) {
	case 0x6558:
		eth = true;
		break;
	case 0x88be: /* ERSPAN: type II has an 8-byte header and a GRE sequence number; type I has neither */
		kind = seq ? DEC_ENC_ERSPAN2 : DEC_ENC_ERSPAN1;
		inner += seq ? 8 : 0;
		eth = true;
		break;
	case 0x22eb: { /* ERSPAN type III: 12 bytes, plus an 8-byte platform sub-header when O is set */
		uint8_t flags = rd_u8(r, off + 11);
		if (r->trunc)
			return DEC_TRUNC_IP;
		kind = DEC_ENC_ERSPAN3;
		inner += 12 + (flags & 1 ? 8 : 0);
		eth = true;
		break;
	}
	default:
		break;
	}
	if (!enter(out, kind))
		return DEC_TUNNEL_DEPTH;
	struct rd in = rd_sub(r, inner);
	if (in.trunc)
		return DEC_TRUNC_IP;
	return eth ? ethernet(&in, out) : by_ethertype(&in, type, out);
}

/* Ethertype at off, then any number (up to DEC_MAX_HEADERS) of 802.1Q/802.1ad tags. */
static enum dec_status tagged(struct rd *r, size_t off, struct dec_pkt *out)
{
	uint16_t type = rd_be16(r, off);
	off += 2;
	for (int tags = 0; type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD || type == ETH_VNTAG ||
			   type == ETH_PBB; tags++) {
		if (tags == DEC_MAX_HEADERS)
			return DEC_TOO_MANY_HEADERS;
		if (type == ETH_PBB) {
			type = rd_be16(r, off + 16);
			off += 18;
			continue;
		}
		type = rd_be16(r, off + 2);
		off += 4;
	}
	if (r->trunc)
		return DEC_TRUNC_LINK;
	struct rd ip = rd_sub(r, off);
	return by_ethertype(&ip, type, out);
}

static enum dec_status ethernet(struct rd *r, struct dec_pkt *out)
{
	/* An 802.3 length field (< 1536) means LLC, never IP for our purposes. */
	uint16_t type = rd_be16(r, 12);
	if (r->trunc)
		return DEC_TRUNC_LINK;
	if (type < 1536)
		return DEC_NOT_IP;
	return tagged(r, 12, out);
}

static enum dec_status by_version(struct rd *r, struct dec_pkt *out)
{
	uint8_t v = rd_u8(r, 0);
	if (r->trunc)
		return DEC_TRUNC_LINK;
	if (v >> 4 == 4)
		return ipv4(r, out);
	if (v >> 4 == 6)
		return ipv6(r, out);
	return DEC_NOT_IP;
}

/* IEEE 802.2 LLC with a SNAP header (AA AA 03, OUI 000000) carrying an Ethertype, at off. */
static enum dec_status llc_snap(struct rd *r, size_t off, struct dec_pkt *out)
{
	uint8_t dsap = rd_u8(r, off), ssap = rd_u8(r, off + 1), ctl = rd_u8(r, off + 2);
	uint16_t type = rd_be16(r, off + 6);
	if (r->trunc)
		return DEC_TRUNC_LINK;
	if (dsap != 0xaa || ssap != 0xaa || ctl != 0x03)
		return DEC_NOT_IP;
	struct rd ip = rd_sub(r, off + 8);
	return by_ethertype(&ip, type, out);
}

/* IEEE 802.11 data frames (the MAC header, optional QoS and HT control), then LLC/SNAP. Protected
 * frames cannot be read and management/control frames carry no IP. */
static enum dec_status ieee80211(struct rd *r, size_t off, struct dec_pkt *out)
{
	uint16_t fc = rd_le16(r, off);
	if (r->trunc)
		return DEC_TRUNC_LINK;
	unsigned type = fc >> 2 & 3, subtype = fc >> 4 & 15;
	if (type != 2 || (subtype & 4) || (fc & 0x4000))
		return DEC_NOT_IP;
	size_t hl = 24;
	if ((fc >> 8 & 3) == 3)
		hl += 6;        /* four addresses (WDS) */
	if (subtype & 8) {
		hl += 2;        /* QoS control */
		if (fc & 0x8000)
			hl += 4; /* HT control */
	}
	return llc_snap(r, off + hl, out);
}

/* PPP protocol field (RFC 1661): one byte when odd (compressed), else two. */
static enum dec_status ppp(struct rd *r, size_t off, struct dec_pkt *out)
{
	if (rd_u8(r, off) == 0xff && rd_u8(r, off + 1) == 0x03)
		off += 2; /* HDLC address and control */
	uint16_t proto = rd_u8(r, off);
	if (!(proto & 1)) {
		proto = rd_be16(r, off);
		off++;
	}
	off++;
	if (r->trunc)
		return DEC_TRUNC_LINK;
	struct rd ip = rd_sub(r, off);
	if (proto == 0x21)
		return ipv4(&ip, out);
	if (proto == 0x57)
		return ipv6(&ip, out);
	return DEC_NOT_IP;
}

/* NFLOG (Linux nfnetlink_log): a 4-byte header, then TLVs of little-endian length and type; type 9
 * (NFULA_PAYLOAD) holds the IP packet. TLVs are padded to 4 bytes. */
static enum dec_status nflog(struct rd *r, struct dec_pkt *out)
{
	size_t off = 4;
	for (int i = 0; i < 64; i++) {
		uint16_t len = rd_le16(r, off), type = rd_le16(r, off + 2);
		if (r->trunc)
			return DEC_TRUNC_LINK;
		if (len < 4)
			return DEC_BAD_IP;
		if ((type & 0x7fff) == 9) {
			struct rd ip = rd_sub(r, off + 4);
			if (ip.len > (size_t)len - 4)
				ip.len = (size_t)len - 4;
			return by_version(&ip, out);
		}
		off += ((size_t)len + 3) & ~(size_t)3;
	}
	return DEC_NOT_IP;
}

static enum dec_status link_layer(int dlt, struct rd *r, struct dec_pkt *out, int depth);

/* Any frame: dec_frame() (decode.h) sends here those its fast path does not take. */
enum dec_status dec_frame_general(int dlt, const uint8_t *f, uint32_t caplen, uint32_t wirelen, struct dec_pkt *out)
{
	zero_small(out, sizeof(*out));
	struct rd r = {f, caplen < wirelen || !wirelen ? caplen : wirelen, false};
	if (dlt == DLT_EN10MB) {
		/* Untagged IPv4 goes straight to ipv4(), past link_layer, ethernet and tagged. */
		if (rd_be16(&r, 12) == ETH_IPV4) {
			struct rd ip = rd_sub(&r, 14);
			return ipv4(&ip, out);
		}
	}
	r.trunc = false;
	return link_layer(dlt, &r, out, 0);
}

static enum dec_status link_layer(int dlt, struct rd *rp, struct dec_pkt *out, int depth)
{
	struct rd r = *rp;
	switch (dlt) {
	case DLT_PPP:
		return ppp(&r, 0, out);
	case DLT_PPP_SERIAL:
	case DLT_C_HDLC: {
		/* Cisco HDLC: address 0x0f or 0x8f, control, then an Ethertype; otherwise PPP in HDLC framing. */
		uint8_t a = rd_u8(&r, 0);
		if (r.trunc)
			return DEC_TRUNC_LINK;
		if (a == 0x0f || a == 0x8f) {
			uint16_t type = rd_be16(&r, 2);
			if (r.trunc)
				return DEC_TRUNC_LINK;
			struct rd ip = rd_sub(&r, 4);
			return by_ethertype(&ip, type, out);
		}
		return ppp(&r, 0, out);
	}
	case DLT_FRELAY: {
		/* Q.922 address (2 bytes), UI control 0x03, optional pad, NLPID (RFC 2427). */
		size_t off = 2;
		if (rd_u8(&r, off) != 0x03)
			return r.trunc ? DEC_TRUNC_LINK : DEC_NOT_IP;
		off++;
		if (rd_u8(&r, off) == 0x00)
			off++;
		uint8_t nlpid = rd_u8(&r, off);
		if (r.trunc)
			return DEC_TRUNC_LINK;
		struct rd ip = rd_sub(&r, off + 1);
		return nlpid == 0xcc ? ipv4(&ip, out) : nlpid == 0x8e ? ipv6(&ip, out) : DEC_NOT_IP;
	}
	case DLT_NFLOG:
		return nflog(&r, out);
	case DLT_FDDI: /* frame control, two 6-byte addresses, then LLC */
		return llc_snap(&r, 13, out);
	case DLT_IPNET: { /* Solaris ipnet: family at byte 1, 24-byte header */
		uint8_t fam = rd_u8(&r, 1);
		if (r.trunc || !rd_has(&r, 0, 24))
			return DEC_TRUNC_LINK;
		struct rd ip = rd_sub(&r, 24);
		return fam == 2 ? ipv4(&ip, out) : fam == 26 ? ipv6(&ip, out) : DEC_NOT_IP;
	}
	case DLT_IEEE802_11:
		return ieee80211(&r, 0, out);
	case DLT_IEEE802_11_RADIO: { /* radiotap: its own length at offset 2 */
		uint16_t len = rd_le16(&r, 2);
		if (r.trunc)
			return DEC_TRUNC_LINK;
		return ieee80211(&r, len, out);
	}
	case DLT_PPI: { /* PPI: header length at 2, the inner link type at 4 */
		uint16_t len = rd_le16(&r, 2);
		uint32_t inner = (uint32_t)rd_le16(&r, 4) | (uint32_t)rd_le16(&r, 6) << 16;
		if (r.trunc)
			return DEC_TRUNC_LINK;
		if (depth > 0 || inner == DLT_PPI || !rd_has(&r, len, 0))
			return DEC_BAD_IP;
		struct rd sub = rd_sub(&r, len);
		return link_layer((int)inner, &sub, out, depth + 1);
	}
	case DLT_EN10MB:
		return ethernet(&r, out);
	case DLT_LINUX_SLL: /* 16-byte cooked header, protocol at 14 */
		if (!rd_has(&r, 0, 16))
			return DEC_TRUNC_LINK;
		return tagged(&r, 14, out);
	case DLT_LINUX_SLL2: { /* 20-byte cooked header, protocol at 0 */
		if (!rd_has(&r, 0, 20))
			return DEC_TRUNC_LINK;
		uint16_t type = rd_be16(&r, 0);
		struct rd ip = rd_sub(&r, 20);
		if (type == ETH_VLAN || type == ETH_QINQ)
			return DEC_NOT_IP; /* SLL2 carries tags out of band; an in-band tag here is unusual */
		return by_ethertype(&ip, type, out);
	}
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return by_version(&r, out);
	case DLT_NULL:
	case DLT_LOOP: {
		/* A 4-byte address family: host order of the writer for NULL, network order for LOOP.
		 * AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24, 28 or 30 (the BSDs, macOS). */
		uint32_t fam = rd_host32(&r, 0);
		if (r.trunc)
			return DEC_TRUNC_LINK;
		uint32_t le = fam, be = __builtin_bswap32(fam);
		uint32_t f = (le & 0xffff0000u) ? be : le;
		struct rd ip = rd_sub(&r, 4);
		if (f == 2)
			return ipv4(&ip, out);
		if (f == 10 || f == 24 || f == 28 || f == 30)
			return ipv6(&ip, out);
		return DEC_NOT_IP;
	}
	default:
		return DEC_NOT_IP;
	}
}
