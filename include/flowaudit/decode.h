/* decode.h: link layer, VLAN tags, IPv4/IPv6, TCP, UDP and ICMP errors -> struct dec_pkt.
 * No state and no allocation: one frame in, one verdict out. Every byte is read through rd.h. */
#ifndef FLOWAUDIT_DECODE_H
#define FLOWAUDIT_DECODE_H

#include <netinet/in.h>
#include <pcap/dlt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowaudit/rd.h"
#include "flowaudit/util.h"

enum dec_status {
	DEC_OK,                 /* a TCP or UDP packet, or an ICMP error quoting one */
	DEC_NOT_IP,             /* ARP, LLDP, STP, ...: background, not counted as skipped */
	DEC_OTHER_L4,           /* IP, but not TCP/UDP (ESP, OSPF, ICMP echo, ND, MLD, ...) */
	DEC_FRAGMENT,           /* a non-first IP fragment: no ports */
	DEC_TRUNC_LINK,         /* cut inside the link header or tags */
	DEC_TRUNC_IP,           /* cut inside the IP header or its extension headers */
	DEC_TRUNC_L4,           /* cut inside the TCP/UDP/ICMP header */
	DEC_BAD_IP,             /* impossible IP header: version, IHL, lengths */
	DEC_BAD_L4,             /* impossible TCP data offset, UDP length, ICMP quote */
	DEC_TUNNEL_DEPTH,       /* encapsulations nested deeper than DEC_MAX_DEPTH */
	DEC_TOO_MANY_HEADERS,   /* more than DEC_MAX_HEADERS VLAN tags, IPv6 extension headers or MPLS labels */
	DEC_NSTATUS
};

/* Encapsulations crossed on the way to the inner packet (dec_pkt.encaps is a bit mask of them). */
enum dec_encap {
	DEC_ENC_GRE, DEC_ENC_ERSPAN1, DEC_ENC_ERSPAN2, DEC_ENC_ERSPAN3, DEC_ENC_VXLAN, DEC_ENC_GENEVE,
	DEC_ENC_MPLS, DEC_ENC_PPPOE, DEC_ENC_IPIP, DEC_ENC_IP6IP, DEC_ENC_GRE_UDP, DEC_ENC_PPTP, DEC_ENC_GTP,
	DEC_ENC_TEREDO, DEC_ENC_AYIYA, DEC_NENCAP
};
/* The decoder's settings, fixed before decoding starts; it keeps no state of its own. */
struct dec_cfg {
	uint16_t vxlan_port; /* UDP port of VXLAN (--vxlan-port) */
};
#define DEC_CFG_DEFAULT {.vxlan_port = 4789} /* IANA's */

#define DEC_MAX_DEPTH 8
#define DEC_MAX_HEADERS 64 /* VLAN tags, IPv6 extension headers, MPLS labels: each a loop bounded by this */

enum dec_icmp { DEC_ICMP_NONE, DEC_ICMP_PROHIBITED, DEC_ICMP_UNREACHABLE };

struct dec_pkt {
	uint8_t src[16], dst[16]; /* IPv4 as ::ffff:a.b.c.d */
	uint16_t sport, dport;
	uint8_t proto;          /* IPPROTO_TCP, IPPROTO_UDP; for an ICMP error, the quoted packet's */
	uint8_t tcp_flags;
	uint8_t ttl;
	uint8_t depth;          /* encapsulation layers crossed */
	uint16_t encaps;        /* bit (1 << enum dec_encap) per kind crossed */
	uint16_t ip_id;         /* IPv4 identification (SPAN duplicate detection) */
	uint16_t win;
	uint32_t seq, ack;
	uint32_t payload;       /* TCP/UDP payload bytes, by the IP length (not the capture length) */
	uint16_t pay_off;       /* where the payload starts in the frame */
	uint16_t pay_kept;      /* of its bytes, how many the capture kept (at most 65535) */

	/* ICMP / ICMPv6 destination unreachable: the fields above describe the quoted packet
	 * (src = the original sender); the error's own source is icmp_from. */
	enum dec_icmp icmp;
	uint8_t icmp_from[16];
	bool quote_ports;       /* the quote reached the ports */
	uint8_t quote_dst_bytes; /* bytes of the quoted destination address present (16 when whole) */
};

#define DEC_TH_FIN 0x01
#define DEC_TH_SYN 0x02
#define DEC_TH_RST 0x04
#define DEC_TH_PSH 0x08
#define DEC_TH_ACK 0x10

/* dec_frame() without the fast path below: every frame, and the reference the tests and the packet fuzzer
 * hold dec_frame() to. */
enum dec_status dec_frame_general(const struct dec_cfg *cfg, int dlt, const uint8_t *frame, uint32_t caplen,
				  uint32_t wirelen, struct dec_pkt *out);

/* Where the transport payload lies in the frame, and how much of it was captured (not past what the IP
 * length says: Ethernet pads short frames). */
static inline void dec_set_pay(struct dec_pkt *out, size_t off, size_t kept)
{
	if (kept > out->payload)
		kept = out->payload;
	if (off > UINT16_MAX || kept > UINT16_MAX)
		kept = off > UINT16_MAX ? 0 : UINT16_MAX;
	out->pay_off = kept ? (uint16_t)off : 0;
	out->pay_kept = (uint16_t)kept;
}

/* Most packets of a capture are untagged Ethernet, IPv4 without options, TCP: those are decoded here in
 * one piece, with one length check, when everything the general path would check holds (a whole TCP
 * header, a sane IP length, not a later fragment); anything else returns false, having written nothing.
 * Inline, so that the packet loop decodes them without a call: 2-3% of the run on a capture whose flows
 * fit in the cache (docs/performance.md). */
static inline __attribute__((always_inline)) bool dec_eth_ipv4_tcp(const uint8_t *f, size_t len, struct dec_pkt *out)
{
	if (len < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0x00 || f[14] != 0x45 || f[23] != IPPROTO_TCP)
		return false;
	uint16_t total = be16_at(f + 16);
	size_t hl = (size_t)(f[46] >> 4) * 4;
	if ((be16_at(f + 20) & 0x1fff) || hl < 20 || total < 20 + hl)
		return false;
	zero_small(out, sizeof(*out));
	out->ip_id = be16_at(f + 18);
	out->ttl = f[22];
	addr_from_v4(out->src, f + 26);
	addr_from_v4(out->dst, f + 30);
	out->proto = IPPROTO_TCP;
	out->sport = be16_at(f + 34);
	out->dport = be16_at(f + 36);
	out->seq = be32_at(f + 38);
	out->ack = be32_at(f + 42);
	out->tcp_flags = f[47];
	out->win = be16_at(f + 48);
	out->payload = (uint32_t)(total - 20 - hl);
	/* what dec_set_pay() does, without its checks: the offset is at most 94, the payload under 2^16 */
	size_t off = 34 + hl, kept = len > off ? len - off : 0;
	out->pay_kept = (uint16_t)(kept < out->payload ? kept : out->payload);
	out->pay_off = out->pay_kept ? (uint16_t)off : 0;
	return true;
}

/* One frame. dlt: libpcap's DLT_ value. caplen: bytes present; wirelen: bytes on the wire. */
static inline enum dec_status dec_frame(const struct dec_cfg *cfg, int dlt, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
					struct dec_pkt *out)
{
	size_t len = caplen < wirelen || !wirelen ? caplen : wirelen;
	if (dlt == DLT_EN10MB && dec_eth_ipv4_tcp(frame, len, out))
		return DEC_OK;
	return dec_frame_general(cfg, dlt, frame, caplen, wirelen, out);
}
/* The UDP ports the decoder looks into for tunnels (VXLAN's first); ports needs DEC_NTUNNEL_PORTS. */
#define DEC_NTUNNEL_PORTS 6
size_t dec_tunnel_ports(const struct dec_cfg *cfg, uint16_t *ports);
const char *dec_encap_name(enum dec_encap e);
/* Can dec_frame read this link type at all? */
bool dec_linktype_supported(int dlt);
const char *dec_status_name(enum dec_status s);

#endif
