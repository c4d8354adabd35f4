/* decode_link.c: link layers, one table of them (dec_link_layer): Ethernet with 802.1Q/802.1ad tags at
 * any depth, Linux SLL and SLL2, raw IP, BSD NULL/LOOP, PPP, Cisco HDLC, Frame Relay, NFLOG, FDDI, ipnet,
 * 802.11 with radiotap or PPI; and what follows a link header: an Ethertype, or an IP version. */
#include <netinet/in.h>
#include <pcap/dlt.h>
#include <string.h>

#include "flowaudit/decode_parts.h"
#include "flowaudit/rd.h"
#include "flowaudit/util.h"

enum dec_status dec_by_ethertype(struct rd *r, uint16_t type, struct dec_pkt *out)
{
	switch (type) {
	case ETH_IPV4:
		return dec_ipv4(r, out);
	case ETH_IPV6:
		return dec_ipv6(r, out);
	case 0x8847: /* MPLS unicast */
		return dec_mpls(r, out);
	case 0x8864: /* PPPoE session (RFC 2516): 6-byte header, then the PPP protocol */
		if (!dec_enter(out, DEC_ENC_PPPOE))
			return DEC_TUNNEL_DEPTH;
		if (!rd_has(r, 0, 6))
			return DEC_TRUNC_LINK;
		return dec_ppp(r, 6, out);
	default:
		return DEC_NOT_IP;
	}
}

/* Ethertype at off, then any number (up to DEC_MAX_HEADERS) of 802.1Q/802.1ad tags. */
enum dec_status dec_tagged(struct rd *r, size_t off, struct dec_pkt *out)
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
	return dec_by_ethertype(&ip, type, out);
}

enum dec_status dec_ethernet(struct rd *r, struct dec_pkt *out)
{
	/* An 802.3 length field (< 1536) means LLC, never IP for our purposes. */
	uint16_t type = rd_be16(r, 12);
	if (r->trunc)
		return DEC_TRUNC_LINK;
	if (type < 1536)
		return DEC_NOT_IP;
	return dec_tagged(r, 12, out);
}

enum dec_status dec_by_version(struct rd *r, struct dec_pkt *out)
{
	uint8_t v = rd_u8(r, 0);
	if (r->trunc)
		return DEC_TRUNC_LINK;
	if (v >> 4 == 4)
		return dec_ipv4(r, out);
	if (v >> 4 == 6)
		return dec_ipv6(r, out);
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
	return dec_by_ethertype(&ip, type, out);
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
enum dec_status dec_ppp(struct rd *r, size_t off, struct dec_pkt *out)
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
		return dec_ipv4(&ip, out);
	if (proto == 0x57)
		return dec_ipv6(&ip, out);
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
			return dec_by_version(&ip, out);
		}
		off += ((size_t)len + 3) & ~(size_t)3;
	}
	return DEC_NOT_IP;
}

/* One function a link type (r: the frame, depth: link layers nested, as PPI's). */
static enum dec_status link_ppp(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	return dec_ppp(r, 0, out);
}

/* Cisco HDLC: address 0x0f or 0x8f, control, then an Ethertype; otherwise PPP in HDLC framing. */
static enum dec_status link_hdlc(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	uint8_t a = rd_u8(r, 0);
	if (r->trunc)
		return DEC_TRUNC_LINK;
	if (a == 0x0f || a == 0x8f) {
		uint16_t type = rd_be16(r, 2);
		if (r->trunc)
			return DEC_TRUNC_LINK;
		struct rd ip = rd_sub(r, 4);
		return dec_by_ethertype(&ip, type, out);
	}
	return dec_ppp(r, 0, out);
}

/* Frame Relay: Q.922 address (2 bytes), UI control 0x03, optional pad, NLPID (RFC 2427). */
static enum dec_status link_frelay(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	size_t off = 2;
	if (rd_u8(r, off) != 0x03)
		return r->trunc ? DEC_TRUNC_LINK : DEC_NOT_IP;
	off++;
	if (rd_u8(r, off) == 0x00)
		off++;
	uint8_t nlpid = rd_u8(r, off);
	if (r->trunc)
		return DEC_TRUNC_LINK;
	struct rd ip = rd_sub(r, off + 1);
	return nlpid == 0xcc ? dec_ipv4(&ip, out) : nlpid == 0x8e ? dec_ipv6(&ip, out) : DEC_NOT_IP;
}

static enum dec_status link_nflog(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	return nflog(r, out);
}

/* FDDI: frame control, two 6-byte addresses, then LLC. */
static enum dec_status link_fddi(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	return llc_snap(r, 13, out);
}

/* Solaris ipnet: the family at byte 1, a 24-byte header. */
static enum dec_status link_ipnet(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	uint8_t fam = rd_u8(r, 1);
	if (r->trunc || !rd_has(r, 0, 24))
		return DEC_TRUNC_LINK;
	struct rd ip = rd_sub(r, 24);
	return fam == 2 ? dec_ipv4(&ip, out) : fam == 26 ? dec_ipv6(&ip, out) : DEC_NOT_IP;
}

static enum dec_status link_80211(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	return ieee80211(r, 0, out);
}

/* radiotap: its own length at offset 2, then 802.11. */
static enum dec_status link_radiotap(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	uint16_t len = rd_le16(r, 2);
	if (r->trunc)
		return DEC_TRUNC_LINK;
	return ieee80211(r, len, out);
}

/* PPI: its header length at 2, the inner link type at 4 (never PPI again). */
static enum dec_status link_ppi(struct rd *r, struct dec_pkt *out, int depth)
{
	uint16_t len = rd_le16(r, 2);
	uint32_t inner = (uint32_t)rd_le16(r, 4) | (uint32_t)rd_le16(r, 6) << 16;
	if (r->trunc)
		return DEC_TRUNC_LINK;
	if (depth > 0 || inner == DLT_PPI || !rd_has(r, len, 0))
		return DEC_BAD_IP;
	struct rd sub = rd_sub(r, len);
	return dec_link_layer((int)inner, &sub, out, depth + 1);
}

static enum dec_status link_ethernet(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	return dec_ethernet(r, out);
}

/* Linux cooked capture: a 16-byte header, the protocol at 14. */
static enum dec_status link_sll(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	if (!rd_has(r, 0, 16))
		return DEC_TRUNC_LINK;
	return dec_tagged(r, 14, out);
}

/* Linux cooked capture v2: a 20-byte header, the protocol at 0. */
static enum dec_status link_sll2(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	if (!rd_has(r, 0, 20))
		return DEC_TRUNC_LINK;
	uint16_t type = rd_be16(r, 0);
	struct rd ip = rd_sub(r, 20);
	if (type == ETH_VLAN || type == ETH_QINQ)
		return DEC_NOT_IP; /* SLL2 carries tags out of band; an in-band tag here is unusual */
	return dec_by_ethertype(&ip, type, out);
}

static enum dec_status link_raw(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	return dec_by_version(r, out);
}

/* BSD loopback: a 4-byte address family, in the writer's host order for NULL, network order for LOOP.
 * AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24, 28 or 30 (the BSDs, macOS). */
static enum dec_status link_null(struct rd *r, struct dec_pkt *out, int depth)
{
	(void)depth;
	uint32_t fam = rd_host32(r, 0);
	if (r->trunc)
		return DEC_TRUNC_LINK;
	uint32_t le = fam, be = __builtin_bswap32(fam);
	uint32_t f = (le & 0xffff0000u) ? be : le;
	struct rd ip = rd_sub(r, 4);
	if (f == 2)
		return dec_ipv4(&ip, out);
	if (f == 10 || f == 24 || f == 28 || f == 30)
		return dec_ipv6(&ip, out);
	return DEC_NOT_IP;
}

/* The link types flowaudit reads: the one list (what capture.c accepts is what is here). */
static const struct link {
	int dlt;
	enum dec_status (*decode)(struct rd *r, struct dec_pkt *out, int depth);
} links[] = {
	{DLT_EN10MB, link_ethernet},
	{DLT_LINUX_SLL, link_sll},
	{DLT_LINUX_SLL2, link_sll2},
	{DLT_RAW, link_raw},
	{DLT_IPV4, link_raw},
	{DLT_IPV6, link_raw},
	{DLT_NULL, link_null},
	{DLT_LOOP, link_null},
	{DLT_PPP, link_ppp},
	{DLT_PPP_SERIAL, link_hdlc},
	{DLT_C_HDLC, link_hdlc},
	{DLT_FRELAY, link_frelay},
	{DLT_NFLOG, link_nflog},
	{DLT_FDDI, link_fddi},
	{DLT_IPNET, link_ipnet},
	{DLT_IEEE802_11, link_80211},
	{DLT_IEEE802_11_RADIO, link_radiotap},
	{DLT_PPI, link_ppi},
};

static const struct link *link_of(int dlt)
{
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (links[i].dlt == dlt)
			return &links[i];
	return NULL;
}

bool dec_linktype_supported(int dlt)
{
	return link_of(dlt) != NULL;
}

enum dec_status dec_link_layer(int dlt, struct rd *rp, struct dec_pkt *out, int depth)
{
	const struct link *l = link_of(dlt);
	if (!l)
		return DEC_NOT_IP;
	struct rd r = *rp;
	return l->decode(&r, out, depth);
}
