/* decode_tunnel.c: remote-mirroring and carrier encapsulations: UDP tunnels (VXLAN, Geneve,
 * GRE-in-UDP, GTP-U, Teredo, AYIYA), GRE (with ERSPAN I-III), MPLS. Each layer is counted (dec_enter),
 * and nesting past DEC_MAX_DEPTH is refused. */
#include <netinet/in.h>
#include <pcap/dlt.h>
#include <string.h>

#include "flowaudit/decode_parts.h"
#include "flowaudit/rd.h"
#include "flowaudit/util.h"

/* UDP-carried tunnels: VXLAN (RFC 7348), Geneve (RFC 8926), GRE-in-UDP (RFC 8086). Recognised only when
 * the header parses; otherwise the datagram stays an ordinary UDP packet (out is left as it was). */
enum dec_status dec_udp_tunnel(struct rd *r, struct dec_pkt *out)
{
	uint16_t dp = out->dport;
	struct rd h = rd_sub(r, 8);
	/* A header the snaplen cut off cannot be judged: that is a truncated packet, not a plain datagram
	 * (the outer headers of a mirror must never become a flow of their own). */
	enum dec_status not_tunnel = h.len < out->payload ? DEC_TRUNC_L4 : DEC_OK;
	if (dp == r->cfg->vxlan_port) { /* the destination port identifies VXLAN; the I flag must be set */
		uint8_t flags = rd_u8(&h, 0);
		bool whole = rd_has(&h, 0, 8 + 14);
		if (!whole)
			return not_tunnel;
		if (!(flags & 0x08))
			return DEC_OK;
		if (!dec_enter(out, DEC_ENC_VXLAN))
			return DEC_TUNNEL_DEPTH;
		struct rd eth = rd_sub(&h, 8);
		return dec_ethernet(&eth, out);
	}
	if (dp == 6081) {
		uint8_t b0 = rd_u8(&h, 0);
		uint16_t type = rd_be16(&h, 2);
		size_t hl = 8 + (size_t)(b0 & 0x3f) * 4;
		if (h.trunc || !rd_has(&h, 0, hl))
			return not_tunnel;
		if (b0 >> 6 != 0 || (type != 0x6558 && type != ETH_IPV4 && type != ETH_IPV6))
			return DEC_OK;
		if (!dec_enter(out, DEC_ENC_GENEVE))
			return DEC_TUNNEL_DEPTH;
		struct rd in = rd_sub(&h, hl);
		return type == 0x6558 ? dec_ethernet(&in, out) : dec_by_ethertype(&in, type, out);
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
		if (!dec_enter(out, DEC_ENC_GTP))
			return DEC_TUNNEL_DEPTH;
		struct rd in = rd_sub(&h, off);
		return dec_by_version(&in, out);
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
		if (!dec_enter(out, DEC_ENC_TEREDO))
			return DEC_TUNNEL_DEPTH;
		struct rd in = rd_sub(&h, off);
		return dec_ipv6(&in, out);
	}
	if (dp == 5072 || out->sport == 5072) { /* AYIYA: identity and signature, then the next header */
		uint8_t b0 = rd_u8(&h, 0), b1 = rd_u8(&h, 1), next = rd_u8(&h, 3);
		size_t off = 8 + ((size_t)1 << (b0 >> 4)) + (size_t)(b1 >> 4) * 4;
		if (h.trunc)
			return not_tunnel;
		if ((next != IPPROTO_IPV6 && next != IPPROTO_IPIP) || !rd_has(&h, off, 1))
			return rd_has(&h, off, 0) ? DEC_OK : not_tunnel;
		if (!dec_enter(out, DEC_ENC_AYIYA))
			return DEC_TUNNEL_DEPTH;
		struct rd in = rd_sub(&h, off);
		return dec_by_version(&in, out);
	}
	if (dp == 4754) {
		uint16_t fv = rd_be16(&h, 0);
		if (h.trunc)
			return not_tunnel;
		if ((fv & 7) != 0)
			return DEC_OK;
		if (!dec_enter(out, DEC_ENC_GRE_UDP))
			return DEC_TUNNEL_DEPTH;
		out->depth--; /* dec_gre() counts its own layer */
		return dec_gre(&h, out);
	}
	return DEC_OK;
}

/* MPLS label stack (RFC 3032) down to the bottom-of-stack entry, then IPv4/IPv6 by the first nibble,
 * or an Ethernet pseudowire with its control word (RFC 4385, first nibble 0). */
enum dec_status dec_mpls(struct rd *r, struct dec_pkt *out)
{
	if (!dec_enter(out, DEC_ENC_MPLS))
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
		return dec_ipv4(&in, out);
	if (nib == 6)
		return dec_ipv6(&in, out);
	if (nib == 0) {
		struct rd eth = rd_sub(r, off + 4);
		return dec_ethernet(&eth, out);
	}
	return DEC_NOT_IP;
}

/* GRE (RFC 2784, 2890): optional checksum, key and sequence; IPv4, IPv6, transparent Ethernet bridging,
 * MPLS, ERSPAN type I/II (0x88be) and III (0x22eb); version 1 is PPTP's enhanced GRE carrying PPP. */
enum dec_status dec_gre(struct rd *r, struct dec_pkt *out)
{
	uint16_t fv = rd_be16(r, 0), type = rd_be16(r, 2);
	if (r->trunc)
		return DEC_TRUNC_IP;
	unsigned version = fv & 7;
	bool seq = fv & 0x1000;
	size_t off = 4;
	if (version == 1) { /* RFC 2637: key always present, sequence and acknowledgement optional */
		off += 4 + (seq ? 4 : 0) + ((fv & 0x0080) ? 4 : 0);
		if (!dec_enter(out, DEC_ENC_PPTP))
			return DEC_TUNNEL_DEPTH;
		if (type != 0x880b || !rd_has(r, 0, off))
			return r->trunc ? DEC_TRUNC_IP : DEC_NOT_IP;
		return dec_ppp(r, off, out);
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
	if (!dec_enter(out, kind))
		return DEC_TUNNEL_DEPTH;
	struct rd in = rd_sub(r, inner);
	if (in.trunc)
		return DEC_TRUNC_IP;
	return eth ? dec_ethernet(&in, out) : dec_by_ethertype(&in, type, out);
}
