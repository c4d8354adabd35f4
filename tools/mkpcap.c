/* mkpcap: writes scenario captures for tests and the demo from a small text file (one flow a line).
 * Deterministic: the same scenario always gives the same bytes. Not a traffic generator for networks:
 * it only writes files, with libpcap's pcap_open_dead() and pcap_dump().
 *
 *   link ethernet|sll|sll2|raw|null   snaplen N   nsec   time EPOCH_SECONDS   vlan ID[,ID]   include FILE
 *   wrap gre|erspan1|erspan2|erspan3|vxlan|geneve|mpls|pppoe|ipip   (remote mirroring, Ethernet only)
 *   tcp|udp CLIENT -> SERVER:PORT OUTCOME [at SECONDS] [sport N] [vlan ID[,ID]] [dup] [from ADDR] [data N]
 *   repeat N tcp|udp ...                  (N attempts of the same flow, 1 s apart, new source ports)
 *
 * OUTCOME: ok, ok-rst (RST after the handshake, as TLS clients do), drop, reset, icmp-prohibited,
 * icmp-unreachable, midstream, one-sided, lone-syn, synack-first, retrans-synack, simultaneous, lone-rst.
 * IPv6 servers are written [2001:db8::1]:443. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/util.h"

struct out_pkt {
	uint64_t ts_ns;
	size_t seq;             /* creation order, for a stable sort */
	uint32_t len;
	uint8_t *data;
};

struct opts {
	int dlt;
	uint32_t snaplen;
	bool nsec;
	uint64_t start_ns;
};

struct flowspec {
	uint8_t proto;
	uint8_t c[16], s[16], router[16];
	bool have_router;
	uint16_t cport, sport;
	double at;
	uint16_t vlans[2];
	int nvlans;
	bool dup;
	uint32_t data;
	unsigned segments;      /* "ok": the server's answer in this many segments, the client acknowledging
				 * every second one and the last (0: one segment, acknowledged by the FIN) */
	char outcome[32];
	char app[16];           /* "ok": what the first data segment each way carries ("fpolicy", "smb3"; "": zeros) */
};

/* "wrap KIND": every Ethernet frame is sent again inside a remote-mirroring encapsulation, from one
 * mirror source to one sensor (198.18.255.1 -> 198.18.255.2, outside any test site). */
enum wrap { WRAP_NONE, WRAP_GRE, WRAP_ERSPAN1, WRAP_ERSPAN2, WRAP_ERSPAN3, WRAP_VXLAN, WRAP_GENEVE, WRAP_MPLS,
	    WRAP_PPPOE, WRAP_IPIP };
static const char *const wrap_names[] = {"none", "gre", "erspan1", "erspan2", "erspan3", "vxlan", "geneve", "mpls",
					 "pppoe", "ipip"};
static enum wrap wrap_kind;
static uint32_t wrap_seq; /* GRE sequence numbers */

static struct out_pkt *pkts; /* a min-heap by (time, creation order) of packets not yet written */
static size_t npkts, cap_pkts;
static size_t next_seq;

static bool pkt_before(const struct out_pkt *a, const struct out_pkt *b)
{
	return a->ts_ns != b->ts_ns ? a->ts_ns < b->ts_ns : a->seq < b->seq;
}

static void heap_push(const struct out_pkt *p)
{
	GROW(pkts, cap_pkts, npkts);
	size_t i = npkts++;
	while (i && pkt_before(p, &pkts[(i - 1) / 2])) {
		pkts[i] = pkts[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	pkts[i] = *p;
}

static struct out_pkt heap_pop(void)
{
	struct out_pkt top = pkts[0], last = pkts[--npkts];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= npkts)
			break;
		if (c + 1 < npkts && pkt_before(&pkts[c + 1], &pkts[c]))
			c++;
		if (!pkt_before(&pkts[c], &last))
			break;
		pkts[i] = pkts[c];
		i = c;
	}
	if (npkts)
		pkts[i] = last;
	return top;
}

/* Write every packet stamped before limit (all of them for UINT64_MAX), in time order. */
static void flush_before(pcap_dumper_t *dump, uint64_t limit);
static struct opts opt = {.dlt = DLT_EN10MB, .snaplen = 65535, .start_ns = 1700000000ull * 1000000000ull};
static uint16_t ip_id = 1; /* IPv4 identification counter */

static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* An IP packet (v4 or v6 by the addresses) around an L4 segment; returns its length in buf. */
static size_t ip_packet(uint8_t *buf, const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
			const uint8_t *l4, size_t l4len, uint8_t ttl)
{
	if (addr_is_v4(src)) {
		memset(buf, 0, 20);
		buf[0] = 0x45;
		put16(buf + 2, (uint16_t)(20 + l4len));
		put16(buf + 4, ip_id++);
		buf[6] = 0x40; /* DF */
		buf[8] = ttl;
		buf[9] = proto == IPPROTO_ICMPV6 ? IPPROTO_ICMP : proto;
		memcpy(buf + 12, src + 12, 4);
		memcpy(buf + 16, dst + 12, 4);
		put16(buf + 10, csum(buf, 20, 0));
		memcpy(buf + 20, l4, l4len);
		return 20 + l4len;
	}
	memset(buf, 0, 40);
	buf[0] = 0x60;
	put16(buf + 4, (uint16_t)l4len);
	buf[6] = proto;
	buf[7] = ttl;
	memcpy(buf + 8, src, 16);
	memcpy(buf + 24, dst, 16);
	memcpy(buf + 40, l4, l4len);
	return 40 + l4len;
}

/* Pseudo-header checksum for TCP/UDP/ICMPv6 (RFC 793, RFC 8200 section 8.1). */
static void l4_csum(uint8_t *l4, size_t len, size_t csum_off, const uint8_t src[16], const uint8_t dst[16],
		    uint8_t proto)
{
	uint32_t sum = 0;
	bool v4 = addr_is_v4(src);
	const uint8_t *s = v4 ? src + 12 : src, *d = v4 ? dst + 12 : dst;
	size_t alen = v4 ? 4 : 16;
	for (size_t i = 0; i < alen; i += 2)
		sum += (uint32_t)(s[i] << 8 | s[i + 1]) + (uint32_t)(d[i] << 8 | d[i + 1]);
	sum += proto + (uint32_t)len;
	put16(l4 + csum_off, 0);
	put16(l4 + csum_off, csum(l4, len, sum));
}

static size_t ip_packet(uint8_t *buf, const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
			const uint8_t *l4, size_t l4len, uint8_t ttl);

/* Wrap an Ethernet frame (len bytes in frame) in place; returns the new length. */
static size_t wrap_frame(uint8_t *frame, size_t len, size_t cap)
{
	uint8_t inner[2048], hdr[64], payload[2200], outer_ip[2300];
	memcpy(inner, frame, len);
	size_t hl = 0;
	uint8_t proto = IPPROTO_GRE;
	const uint8_t *body = inner; /* what follows the encapsulation header */
	size_t blen = len;
	memset(hdr, 0, sizeof(hdr));
	switch (wrap_kind) {
	case WRAP_GRE: /* transparent Ethernet bridging, with a key */
		put16(hdr, 0x2000);
		put16(hdr + 2, 0x6558);
		put32(hdr + 4, 42);
		hl = 8;
		break;
	case WRAP_ERSPAN1: /* no GRE sequence, no ERSPAN header */
		put16(hdr + 2, 0x88be);
		hl = 4;
		break;
	case WRAP_ERSPAN2:
		put16(hdr, 0x1000);
		put16(hdr + 2, 0x88be);
		put32(hdr + 4, wrap_seq++);
		put16(hdr + 8, 0x1000 | 10); /* version 1 (type II), VLAN 10 */
		put16(hdr + 10, 7);          /* session 7 */
		hl = 16;
		break;
	case WRAP_ERSPAN3: /* with the optional 8-byte platform sub-header (O bit) */
		put16(hdr, 0x1000);
		put16(hdr + 2, 0x22eb);
		put32(hdr + 4, wrap_seq++);
		put16(hdr + 8, 0x2000 | 10); /* version 2 (type III) */
		put16(hdr + 10, 7);
		hdr[8 + 11] = 1;             /* O: platform sub-header follows */
		hl = 8 + 12 + 8;
		break;
	case WRAP_VXLAN:
	case WRAP_GENEVE: {
		uint8_t *u = hdr;
		put16(u, 40000);
		put16(u + 2, wrap_kind == WRAP_VXLAN ? 4789 : 6081);
		put16(u + 4, (uint16_t)(8 + 8 + len));
		if (wrap_kind == WRAP_VXLAN) {
			u[8] = 0x08;
			u[14] = 1; /* VNI 1 */
		} else {
			put16(u + 10, 0x6558);
		}
		hl = 16;
		proto = IPPROTO_UDP;
		break;
	}
	case WRAP_IPIP: /* the frame's IP packet inside IPv4 (protocol 4 or 41) */
		body = inner + 14;
		blen = len - 14;
		proto = (body[0] >> 4) == 4 ? IPPROTO_IPIP : IPPROTO_IPV6;
		break;
	case WRAP_MPLS:
	case WRAP_PPPOE: {
		/* Not IP-carried: the frame's own Ethernet header, a new Ethertype, the label or PPPoE header. */
		uint8_t *ip = inner + 14;
		size_t iplen = len - 14;
		bool v4 = (ip[0] >> 4) == 4;
		size_t off = 12;
		if (wrap_kind == WRAP_MPLS) {
			put16(frame + off, 0x8847);
			put32(frame + off + 2, 1000u << 12 | 0x100 | 64); /* label 1000, bottom of stack, TTL 64 */
			off += 6;
		} else {
			put16(frame + off, 0x8864);
			frame[off + 2] = 0x11;
			put16(frame + off + 4, 0x0001);              /* session */
			put16(frame + off + 6, (uint16_t)(iplen + 2));
			put16(frame + off + 8, v4 ? 0x0021 : 0x0057);
			off += 10;
		}
		memcpy(frame + off, ip, iplen);
		return off + iplen;
	}
	default:
		return len;
	}
	memcpy(payload, hdr, hl);
	memcpy(payload + hl, body, blen);
	static const uint8_t v4a[4] = {198, 18, 255, 1}, v4b[4] = {198, 18, 255, 2};
	uint8_t a[16], b[16];
	addr_from_v4(a, v4a);
	addr_from_v4(b, v4b);
	size_t olen = ip_packet(outer_ip, a, b, proto, payload, hl + blen, 64);
	if (14 + olen > cap)
		return len;
	memset(frame, 0, 12);
	frame[0] = 0x02, frame[5] = 0xee, frame[6] = 0x02, frame[11] = 0xef;
	put16(frame + 12, 0x0800);
	memcpy(frame + 14, outer_ip, olen);
	return 14 + olen;
}

static void emit_frame(uint64_t ts, const uint8_t *ip, size_t iplen, const struct flowspec *f, bool from_client)
{
	uint8_t frame[2048];
	size_t off = 0;
	bool v4 = (ip[0] >> 4) == 4;
	uint16_t ethertype = v4 ? 0x0800 : 0x86dd;
	switch (opt.dlt) {
	case DLT_EN10MB: {
		/* MACs derived from the sending side, so copies of one packet look alike. */
		uint8_t a = from_client ? 0x0a : 0x0b;
		uint8_t dstmac[6] = {0x02, 0, 0, 0, 0, (uint8_t)(a ^ 1)}, srcmac[6] = {0x02, 0, 0, 0, 0, a};
		memcpy(frame, dstmac, 6);
		memcpy(frame + 6, srcmac, 6);
		off = 12;
		for (int i = 0; i < f->nvlans; i++) {
			put16(frame + off, f->nvlans == 2 && i == 0 ? 0x88a8 : 0x8100);
			put16(frame + off + 2, f->vlans[i]);
			off += 4;
		}
		put16(frame + off, ethertype);
		off += 2;
		break;
	}
	case DLT_LINUX_SLL:
		memset(frame, 0, 16);
		put16(frame, from_client ? 4 : 0); /* outgoing / to us */
		put16(frame + 2, 1);               /* ARPHRD_ETHER */
		put16(frame + 4, 6);
		frame[11] = from_client ? 0x0a : 0x0b;
		put16(frame + 14, ethertype);
		off = 16;
		break;
	case DLT_LINUX_SLL2:
		memset(frame, 0, 20);
		put16(frame, ethertype);
		put32(frame + 4, 2); /* ifindex */
		put16(frame + 8, 1);
		frame[10] = from_client ? 4 : 0;
		frame[11] = 6;
		off = 20;
		break;
	case DLT_NULL: {
		uint32_t fam = v4 ? 2 : 10;
		memcpy(frame, &fam, 4); /* host order, as the format says */
		off = 4;
		break;
	}
	default: /* DLT_RAW */
		break;
	}
	if (off + iplen > sizeof(frame))
		iplen = sizeof(frame) - off;
	memcpy(frame + off, ip, iplen);
	size_t len = off + iplen;
	if (wrap_kind != WRAP_NONE && opt.dlt == DLT_EN10MB)
		len = wrap_frame(frame, len, sizeof(frame));
	struct out_pkt p;
	p.ts_ns = ts;
	p.seq = next_seq++;
	p.len = (uint32_t)len;
	size_t keep = len < opt.snaplen ? len : opt.snaplen; /* only what the file will hold */
	p.data = xmalloc(keep ? keep : 1);
	memcpy(p.data, frame, keep);
	heap_push(&p);
}

/* One packet of a flow, and its SPAN copy when asked for. */
/* The initial sequence numbers of a flow's client and server: fixed by their ports. */
static uint32_t isn_client(const struct flowspec *f)
{
	return 1000 + (uint32_t)f->cport * 7919u;
}

static uint32_t isn_server(const struct flowspec *f)
{
	return 5000 + (uint32_t)f->sport * 104729u;
}

/* The first bytes of an application's first message each way, as the public framing has them, for "app":
 * an FPolicy NEGO_REQ and NEGO_RESP; an SMB2 NEGOTIATE request and its response choosing SMB 3.1.1. */
static size_t app_bytes(const char *app, bool from_client, uint8_t *out, size_t max)
{
	char xml[256];
	int n;
	if (!strcmp(app, "fpolicy")) {
		n = snprintf(xml, sizeof(xml), "<?xml version=\"1.0\"?><Header><NotfType>%s</NotfType><ContentLen>0</ContentLen>"
					       "<DataFormat>XML</DataFormat></Header>\n\n",
			     from_client ? "NEGO_REQ" : "NEGO_RESP");
		if (n < 0 || (size_t)n + 6 > max)
			return 0;
		out[0] = '"';
		put32(out + 1, (uint32_t)n);
		out[5] = '"';
		memcpy(out + 6, xml, (size_t)n);
		return 6 + (size_t)n;
	}
	if (!strcmp(app, "smb3") && max >= 4 + 64 + 8) {
		memset(out, 0, 4 + 64 + 8);
		out[3] = 64 + 8;
		memcpy(out + 4, "\xfeSMB", 4);
		out[4 + 4] = 64;                 /* header size */
		if (!from_client) {
			out[4 + 16] = 1;         /* a response */
			out[4 + 64] = 65;        /* StructureSize */
			out[4 + 64 + 4] = 0x11;  /* DialectRevision 0x0311 */
			out[4 + 64 + 5] = 0x03;
		} else {
			out[4 + 64] = 36;
		}
		return 4 + 64 + 8;
	}
	return 0;
}

static void emit(const struct flowspec *f, uint64_t ts, bool from_client, uint8_t flags, uint32_t seq, uint32_t ack,
		 uint32_t payload)
{
	uint8_t l4[1600], ip[1700];
	const uint8_t *src = from_client ? f->c : f->s, *dst = from_client ? f->s : f->c;
	uint16_t sp = from_client ? f->cport : f->sport, dp = from_client ? f->sport : f->cport;
	size_t l4len;
	if (payload > 1400)
		payload = 1400;
	if (f->proto == IPPROTO_TCP) {
		memset(l4, 0, 20 + payload);
		/* the first data segment each way of an "ok" flow with an app: its first message */
		if (payload && f->app[0] && seq == (from_client ? isn_client(f) : isn_server(f)) + 1)
			app_bytes(f->app, from_client, l4 + 20, payload);
		put16(l4, sp);
		put16(l4 + 2, dp);
		put32(l4 + 4, seq);
		put32(l4 + 8, ack);
		l4[12] = 5 << 4;
		l4[13] = flags;
		put16(l4 + 14, 64240);
		l4len = 20 + payload;
		l4_csum(l4, l4len, 16, src, dst, IPPROTO_TCP);
	} else {
		memset(l4, 0, 8 + payload);
		put16(l4, sp);
		put16(l4 + 2, dp);
		put16(l4 + 4, (uint16_t)(8 + payload));
		l4len = 8 + payload;
		l4_csum(l4, l4len, 6, src, dst, IPPROTO_UDP);
	}
	size_t iplen = ip_packet(ip, src, dst, f->proto, l4, l4len, 64);
	emit_frame(ts, ip, iplen, f, from_client);
	if (f->dup) {
		/* The egress copy: 8 us later, one hop further (TTL - 1), same IP id. */
		if (addr_is_v4(src)) {
			ip[8]--;
			put16(ip + 10, 0);
			put16(ip + 10, csum(ip, 20, 0));
		} else {
			ip[7]--;
		}
		emit_frame(ts + 8000, ip, iplen, f, from_client);
	}
}

/* An ICMP/ICMPv6 destination-unreachable error quoting the client's last packet to the client. */
static void emit_icmp(const struct flowspec *f, uint64_t ts, bool prohibited, uint32_t seq)
{
	uint8_t l4[64], quoted_ip[128], icmp[256], ip[400];
	memset(l4, 0, 20);
	put16(l4, f->cport);
	put16(l4 + 2, f->sport);
	if (f->proto == IPPROTO_TCP) {
		put32(l4 + 4, seq);
		l4[12] = 5 << 4;
		l4[13] = 0x02;
	} else {
		put16(l4 + 4, 8);
	}
	size_t l4len = f->proto == IPPROTO_TCP ? 20 : 8;
	uint16_t saved = ip_id;
	size_t qlen = ip_packet(quoted_ip, f->c, f->s, f->proto, l4, l4len, 63);
	ip_id = saved;
	bool v4 = addr_is_v4(f->c);
	memset(icmp, 0, 8);
	if (v4) {
		icmp[0] = 3;
		icmp[1] = prohibited ? 13 : 3;
		qlen = qlen > 28 ? 28 : qlen; /* RFC 792: the IP header and 64 bits of data */
	} else {
		icmp[0] = 1;
		icmp[1] = prohibited ? 1 : 4;
	}
	memcpy(icmp + 8, quoted_ip, qlen);
	const uint8_t *from = f->have_router ? f->router : f->s;
	if (v4)
		put16(icmp + 2, csum(icmp, 8 + qlen, 0));
	else
		l4_csum(icmp, 8 + qlen, 2, from, f->c, IPPROTO_ICMPV6);
	size_t iplen = ip_packet(ip, from, f->c, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, icmp, 8 + qlen, 64);
	emit_frame(ts, ip, iplen, f, false);
}

#define SEC 1000000000ull
#define MS 1000000ull

static int generate(const struct flowspec *f, int lineno)
{
	uint64_t t = opt.start_ns + (uint64_t)(f->at * 1e9);
	uint32_t cs = isn_client(f), ss = isn_server(f);
	const char *o = f->outcome;
	const uint8_t SYN = 0x02, ACK = 0x10, SA = 0x12, RST = 0x04, RA = 0x14, FA = 0x11, PA = 0x18;
	uint32_t d = f->data ? f->data : 100;
	if (f->proto == IPPROTO_UDP) {
		if (!strcmp(o, "ok")) {
			emit(f, t, true, 0, 0, 0, d);
			emit(f, t + MS, false, 0, 0, 0, d);
		} else if (!strcmp(o, "drop")) {
			for (int i = 0; i < 3; i++)
				emit(f, t + (uint64_t)i * 2 * SEC, true, 0, 0, 0, d);
		} else if (!strcmp(o, "icmp-prohibited") || !strcmp(o, "icmp-unreachable")) {
			emit(f, t, true, 0, 0, 0, d);
			emit_icmp(f, t + MS, o[5] == 'p', 0);
		} else if (!strcmp(o, "one-sided") || !strcmp(o, "lone-syn")) {
			emit(f, t, true, 0, 0, 0, d);
		} else {
			fprintf(stderr, "mkpcap: line %d: outcome '%s' is not defined for udp\n", lineno, o);
			return -1;
		}
		return 0;
	}
	if (!strcmp(o, "ok") && f->segments) {
		emit(f, t, true, SYN, cs, 0, 0);
		emit(f, t + MS / 4, false, SA, ss, cs + 1, 0); /* a LAN handshake: 0.5 ms */
		emit(f, t + MS / 2, true, ACK, cs + 1, ss + 1, 0);
		emit(f, t + 3 * MS, true, PA, cs + 1, ss + 1, d);
		uint32_t sn = ss + 1, cn = cs + 1 + d;
		uint64_t at = t + 4 * MS;
		for (unsigned i = 1; i <= f->segments; i++, at += MS / 10) {
			emit(f, at, false, i == f->segments ? PA : ACK, sn, cn, d);
			sn += d;
			if (i % 2 == 0 || i == f->segments)
				emit(f, at + MS / 20, true, ACK, cn, sn, 0);
		}
		emit(f, at + MS, true, FA, cn, sn, 0);
		emit(f, at + 2 * MS, false, FA, sn, cn + 1, 0);
		emit(f, at + 3 * MS, true, ACK, cn + 1, sn + 1, 0);
	} else if (!strcmp(o, "ok") || !strcmp(o, "ok-rst")) {
		emit(f, t, true, SYN, cs, 0, 0);
		emit(f, t + MS / 4, false, SA, ss, cs + 1, 0);
		emit(f, t + MS / 2, true, ACK, cs + 1, ss + 1, 0);
		emit(f, t + 3 * MS, true, PA, cs + 1, ss + 1, d);
		emit(f, t + 4 * MS, false, PA, ss + 1, cs + 1 + d, d);
		if (o[2] == '-') {
			emit(f, t + 5 * MS, true, RA, cs + 1 + d, ss + 1 + d, 0);
		} else {
			emit(f, t + 5 * MS, true, FA, cs + 1 + d, ss + 1 + d, 0);
			emit(f, t + 6 * MS, false, FA, ss + 1 + d, cs + 2 + d, 0);
			emit(f, t + 7 * MS, true, ACK, cs + 2 + d, ss + 2 + d, 0);
		}
	} else if (!strcmp(o, "drop")) {
		/* Linux >= 6.5 style: about one retransmission a second (FIELD-NOTES). */
		for (int i = 0; i < 4; i++)
			emit(f, t + (uint64_t)i * SEC, true, SYN, cs, 0, 0);
	} else if (!strcmp(o, "reset")) {
		emit(f, t, true, SYN, cs, 0, 0);
		emit(f, t + MS, false, RA, 0, cs + 1, 0);
	} else if (!strcmp(o, "icmp-prohibited") || !strcmp(o, "icmp-unreachable")) {
		emit(f, t, true, SYN, cs, 0, 0);
		emit_icmp(f, t + MS, o[5] == 'p', cs);
	} else if (!strcmp(o, "midstream")) {
		for (int i = 0; i < 3; i++) {
			emit(f, t + (uint64_t)i * SEC, true, PA, cs + (uint32_t)i * d, ss + (uint32_t)i * d, d);
			emit(f, t + (uint64_t)i * SEC + MS, false, PA, ss + (uint32_t)i * d, cs + (uint32_t)(i + 1) * d, d);
		}
	} else if (!strcmp(o, "one-sided")) {
		emit(f, t, true, SYN, cs, 0, 0);
		emit(f, t + 2 * MS, true, ACK, cs + 1, ss + 1, 0);
		emit(f, t + 3 * MS, true, PA, cs + 1, ss + 1, d);
	} else if (!strcmp(o, "lone-syn")) {
		emit(f, t, true, SYN, cs, 0, 0);
	} else if (!strcmp(o, "synack-first")) {
		/* Two capture interfaces: the SYN-ACK is stamped 50 us before the SYN it answers. */
		emit(f, t + 50000, true, SYN, cs, 0, 0);
		emit(f, t, false, SA, ss, cs + 1, 0);
		emit(f, t + MS, true, ACK, cs + 1, ss + 1, 0);
		emit(f, t + 2 * MS, true, PA, cs + 1, ss + 1, d);
		emit(f, t + 3 * MS, false, ACK, ss + 1, cs + 1 + d, 0);
	} else if (!strcmp(o, "retrans-synack")) {
		emit(f, t, true, SYN, cs, 0, 0);
		emit(f, t + MS, false, SA, ss, cs + 1, 0);
		emit(f, t + SEC, false, SA, ss, cs + 1, 0);
		emit(f, t + SEC + MS, true, ACK, cs + 1, ss + 1, 0);
	} else if (!strcmp(o, "simultaneous")) {
		emit(f, t, true, SYN, cs, 0, 0);
		emit(f, t + 10000, false, SYN, ss, 0, 0);
		emit(f, t + MS, true, SA, cs, ss + 1, 0);
		emit(f, t + MS + 10000, false, SA, ss, cs + 1, 0);
	} else if (!strcmp(o, "lone-rst")) {
		emit(f, t, false, RST, ss, 0, 0);
	} else {
		fprintf(stderr, "mkpcap: line %d: unknown outcome '%s'\n", lineno, o);
		return -1;
	}
	return 0;
}

static bool parse_endpoint(const char *s, uint8_t a[16], uint16_t *port)
{
	char buf[64];
	const char *colon;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(buf))
			return false;
		memcpy(buf, s + 1, (size_t)(close - s - 1));
		buf[close - s - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(buf))
			return false;
		memcpy(buf, s, (size_t)(colon - s));
		buf[colon - s] = '\0';
	}
	return addr_parse(buf, a) && port_parse(colon + 1, port);
}

static void flush_before(pcap_dumper_t *dump, uint64_t limit)
{
	while (npkts && pkts[0].ts_ns < limit) {
		struct out_pkt p = heap_pop();
		struct pcap_pkthdr h;
		h.ts.tv_sec = (time_t)(p.ts_ns / SEC);
		h.ts.tv_usec = (suseconds_t)(opt.nsec ? p.ts_ns % SEC : p.ts_ns % SEC / 1000);
		h.len = p.len;
		h.caplen = p.len < opt.snaplen ? p.len : opt.snaplen;
		pcap_dump((u_char *)dump, &h, p.data);
		free(p.data);
	}
}

/* A deterministic PRNG (xorshift64*), so a benchmark capture is the same on every machine. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void v4(uint8_t a[16], unsigned b0, unsigned b1, unsigned b2, unsigned b3)
{
	uint8_t q[4] = {(uint8_t)b0, (uint8_t)b1, (uint8_t)b2, (uint8_t)b3};
	addr_from_v4(a, q);
}

#define BENCH_BROKERS 20
#define BENCH_AGENTS 990 /* each partnered with its own storage host: 2000 hosts in all */

static void broker_addr(uint8_t a[16], unsigned i) { v4(a, 198, 18, 0, 1 + i); }

/* --spread: the same mix over prefix hosts, nearly every attempt a new address pair: agents anywhere in
 * 198.18.4.0/22, storage in 198.19.0.0/21, brokers in 198.18.0.0/24. */
static bool spread;
#define SPREAD_AGENTS 1024
#define SPREAD_STORAGE 2048
static void spread_agent(uint8_t a[16], uint64_t r) { unsigned i = (unsigned)(r % SPREAD_AGENTS); v4(a, 198, 18, 4 + i / 256, i % 256); }
static void spread_storage(uint8_t a[16], uint64_t r) { unsigned i = (unsigned)(r % SPREAD_STORAGE); v4(a, 198, 19, i / 256, i % 256); }
static void agent_addr(uint8_t a[16], unsigned i) { v4(a, 198, 18, 1 + i / 250, i % 250 + 1); }
static void storage_addr(uint8_t a[16], unsigned i) { v4(a, 198, 19, 1 + i / 250, i % 250 + 1); }

/* The site of a benchmark capture: brokers, agents, one ONTAP-like storage host per agent; or (--spread)
 * three prefix hosts. */
static int write_bench_site(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	if (spread) {
		fprintf(f, "# written by tools/mkpcap --spread: prefix hosts (RFC 2544 addresses)\n"
			   "host brokers 198.18.0.0/24 role=pmc,broker\n"
			   "host agents 198.18.4.0/22 role=agent partner=sys\n"
			   "host storage 198.19.0.0/21 role=ontap-node,ontap-mgmt,ontap-data system=sys\n");
		return fclose(f);
	}
	fprintf(f, "# written by tools/mkpcap --bench: %d brokers, %d agents, %d storage hosts (RFC 2544 addresses)\n",
		BENCH_BROKERS, BENCH_AGENTS, BENCH_AGENTS);
	char buf[50];
	uint8_t a[16];
	for (unsigned i = 0; i < BENCH_BROKERS; i++) {
		broker_addr(a, i);
		fprintf(f, "host broker%u %s role=%s\n", i, addr_str(a, buf), i ? "broker" : "pmc,broker");
	}
	for (unsigned i = 0; i < BENCH_AGENTS; i++) {
		agent_addr(a, i);
		fprintf(f, "host agent%u %s role=agent partner=sys%u\n", i, addr_str(a, buf), i);
		storage_addr(a, i);
		fprintf(f, "host st%u %s role=ontap-node,ontap-mgmt,ontap-data system=sys%u\n", i, addr_str(a, buf), i);
	}
	return fclose(f);
}

/* --bench: about `flows` connection attempts at `rate` per second with the firewall-audit mix of the
 * bench issue (60% completed with a few data packets: a request answered in 3 to 7 segments, about 15
 * packets in all; 20% unanswered SYNs with retransmissions; 10% reset; 10% UDP request/reply: about 10
 * packets an attempt), plus `flood` SYNs from spoofed sources; streamed to the file in time order. */
static int bench(const char *out, const char *site, uint64_t flows, double rate, uint64_t flood)
{
	if (site && write_bench_site(site) < 0) {
		fprintf(stderr, "mkpcap: %s: %s\n", site, strerror(errno));
		return 2;
	}
	pcap_t *dead = pcap_open_dead_with_tstamp_precision(opt.dlt, (int)opt.snaplen, PCAP_TSTAMP_PRECISION_MICRO);
	pcap_dumper_t *dump = pcap_dump_open(dead, out);
	if (!dump) {
		fprintf(stderr, "mkpcap: %s: %s\n", out, pcap_geterr(dead));
		return 2;
	}
	uint64_t total = flows + flood;
	double flood_share = total ? (double)flood / (double)total : 0;
	for (uint64_t i = 0; i < total; i++) {
		struct flowspec f;
		memset(&f, 0, sizeof(f));
		f.at = (double)i / (rate * (1 + (flood ? (double)flood / (double)(flows ? flows : 1) : 0)));
		uint64_t r = rng();
		unsigned agent = (unsigned)(r >> 8) % BENCH_AGENTS;
		f.cport = (uint16_t)(32768 + (r >> 24) % 28000);
		f.data = (uint32_t)(64 + (r >> 40) % 1137);
		if ((double)(r % 1000000) / 1e6 < flood_share) {
			/* A spoofed source from 100.64.0.0/10, a SYN to the first agent's FPolicy port. */
			uint64_t x = rng();
			v4(f.c, 100, 64 + (unsigned)(x % 64), (unsigned)(x >> 8) & 255, (unsigned)(x >> 16) & 255);
			agent_addr(f.s, 0);
			f.proto = IPPROTO_TCP;
			f.sport = 9883;
			strcpy(f.outcome, "lone-syn");
		} else {
			unsigned pick = (unsigned)((r >> 4) % 100);
			f.proto = IPPROTO_TCP;
			if (pick < 60) {
				unsigned kind = (unsigned)((r >> 12) % 5);
				if (kind < 2) {
					agent_addr(f.c, agent);
					broker_addr(f.s, (unsigned)(r >> 16) % BENCH_BROKERS);
					if (spread)
						v4(f.s, 198, 18, 0, (unsigned)(r >> 16) & 255);
					f.sport = 61617;
				} else if (kind < 4) {
					agent_addr(f.c, agent);
					storage_addr(f.s, agent);
					f.sport = 445;
				} else {
					storage_addr(f.c, agent);
					agent_addr(f.s, agent);
					f.sport = 9883;
				}
				strcpy(f.outcome, "ok");
				f.segments = 3 + (unsigned)(rng() % 5); /* a few data packets: 3 to 7 */
			} else if (pick < 80) {
				agent_addr(f.c, agent);
				storage_addr(f.s, agent);
				f.sport = 443;
				strcpy(f.outcome, "drop");
			} else if (pick < 90) {
				agent_addr(f.c, agent);
				storage_addr(f.s, agent);
				f.sport = 443;
				strcpy(f.outcome, "reset");
			} else {
				agent_addr(f.c, agent);
				storage_addr(f.s, agent);
				f.proto = IPPROTO_UDP;
				f.sport = 137;
				strcpy(f.outcome, "ok");
			}
		}
		if (spread && f.sport != 9883 && !(f.c[12] == 100)) {
			/* a new address pair nearly every time; half of the completed ones on ports no rule
			 * expects (unexpected rows, a few hundred reasons) */
			uint64_t x = rng();
			spread_agent(f.c, x);
			if (f.sport != 61617)
				spread_storage(f.s, x >> 16);
			if (!strcmp(f.outcome, "ok") && f.proto == IPPROTO_TCP && x >> 40 & 1)
				f.sport = (uint16_t)(8000 + (x >> 44) % 500);
		} else if (spread && f.sport == 9883) {
			uint64_t x = rng();
			spread_storage(f.c, x);
			spread_agent(f.s, x >> 16);
		}
		if (generate(&f, 0) < 0)
			return 2;
		/* Everything before this flow's start is final: no later flow starts earlier. */
		flush_before(dump, opt.start_ns + (uint64_t)(f.at * 1e9));
	}
	flush_before(dump, UINT64_MAX);
	pcap_dump_close(dump);
	pcap_close(dead);
	return 0;
}

static uint16_t default_vlans[2]; /* "vlan" directive: tags for every later flow */
static int ndefault_vlans;
static double next_at;             /* when the next flow starts, in seconds from "time" */
static uint16_t next_port = 40000; /* client ports handed out in order */

static int read_scenario(const char *path, int depth)
{
	FILE *in = fopen(path, "r");
	if (!in) {
		fprintf(stderr, "mkpcap: %s: %s\n", path, strerror(errno));
		return 2;
	}
	char line[1024];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof(line), in) && !rc) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *tok[32];
		int n = 0;
		for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t && n < 32; t = strtok_r(NULL, " \t\r\n", &save))
			tok[n++] = t;
		if (!n)
			continue;
		int repeat = 1;
		if (!strcmp(tok[0], "include") && n == 2) {
			if (depth > 4) {
				fprintf(stderr, "mkpcap: %s:%d: includes nested too deep\n", path, lineno);
				rc = 2;
				break;
			}
			char *dup = xstrdup(path), *slash = strrchr(dup, '/');
			if (slash)
				slash[1] = '\0';
			char *sub = xasprintf("%s%s", slash ? dup : "", tok[1]);
			rc = read_scenario(sub, depth + 1);
			free(sub);
			free(dup);
			continue;
		}
		if (!strcmp(tok[0], "vlan") && n == 2) {
			char *comma = strchr(tok[1], ',');
			ndefault_vlans = 0;
			default_vlans[ndefault_vlans++] = (uint16_t)atoi(tok[1]);
			if (comma)
				default_vlans[ndefault_vlans++] = (uint16_t)atoi(comma + 1);
			continue;
		}
		if (!strcmp(tok[0], "link") && n == 2) {
			static const struct { const char *name; int dlt; } links[] = {
				{"ethernet", DLT_EN10MB}, {"sll", DLT_LINUX_SLL}, {"sll2", DLT_LINUX_SLL2},
				{"raw", DLT_RAW}, {"null", DLT_NULL}};
			opt.dlt = -1;
			for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
				if (!strcmp(tok[1], links[i].name))
					opt.dlt = links[i].dlt;
			if (opt.dlt < 0) {
				fprintf(stderr, "mkpcap: %s:%d: unknown link '%s'\n", path, lineno, tok[1]);
				rc = 2;
			}
			continue;
		}
		if (!strcmp(tok[0], "wrap") && n == 2) {
			wrap_kind = WRAP_NONE;
			for (size_t i = 0; i < sizeof(wrap_names) / sizeof(wrap_names[0]); i++)
				if (!strcmp(tok[1], wrap_names[i]))
					wrap_kind = (enum wrap)i;
			if (wrap_kind == WRAP_NONE && strcmp(tok[1], "none")) {
				fprintf(stderr, "mkpcap: %s:%d: unknown wrap '%s'\n", path, lineno, tok[1]);
				rc = 2;
			}
			continue;
		}
		if (!strcmp(tok[0], "snaplen") && n == 2) {
			opt.snaplen = (uint32_t)strtoul(tok[1], NULL, 10);
			continue;
		}
		if (!strcmp(tok[0], "nsec") && n == 1) {
			opt.nsec = true;
			continue;
		}
		if (!strcmp(tok[0], "time") && n == 2) {
			opt.start_ns = (uint64_t)(strtod(tok[1], NULL) * 1e6) * 1000ull;
			continue;
		}
		int b = 0;
		if (!strcmp(tok[0], "repeat") && n > 1) {
			repeat = atoi(tok[1]);
			b = 2;
		}
		struct flowspec f = {0};
		if (n - b < 5 || strcmp(tok[b + 2], "->") != 0 || (strcmp(tok[b], "tcp") && strcmp(tok[b], "udp"))) {
			fprintf(stderr, "mkpcap: %s:%d: expected 'tcp|udp CLIENT -> SERVER:PORT OUTCOME ...'\n", path,
				lineno);
			rc = 2;
			break;
		}
		f.proto = tok[b][0] == 't' ? IPPROTO_TCP : IPPROTO_UDP;
		if (!addr_parse(tok[b + 1], f.c) || !parse_endpoint(tok[b + 3], f.s, &f.sport)) {
			fprintf(stderr, "mkpcap: %s:%d: bad address\n", path, lineno);
			rc = 2;
			break;
		}
		snprintf(f.outcome, sizeof(f.outcome), "%s", tok[b + 4]);
		f.at = next_at;
		memcpy(f.vlans, default_vlans, sizeof(f.vlans));
		f.nvlans = ndefault_vlans;
		for (int i = b + 5; i < n && !rc; i++) {
			bool has_arg = i + 1 < n;
			if (!strcmp(tok[i], "dup")) {
				f.dup = true;
			} else if (!strcmp(tok[i], "at") && has_arg) {
				f.at = strtod(tok[++i], NULL);
			} else if (!strcmp(tok[i], "sport") && has_arg) {
				f.cport = (uint16_t)atoi(tok[++i]);
			} else if (!strcmp(tok[i], "data") && has_arg) {
				f.data = (uint32_t)atoi(tok[++i]);
			} else if (!strcmp(tok[i], "app") && has_arg) {
				snprintf(f.app, sizeof(f.app), "%s", tok[++i]);
			} else if (!strcmp(tok[i], "from") && has_arg) {
				f.have_router = addr_parse(tok[++i], f.router);
			} else if (!strcmp(tok[i], "vlan") && has_arg) {
				char *v = tok[++i], *comma = strchr(v, ',');
				f.nvlans = 0;
				f.vlans[f.nvlans++] = (uint16_t)atoi(v);
				if (comma)
					f.vlans[f.nvlans++] = (uint16_t)atoi(comma + 1);
			} else {
				fprintf(stderr, "mkpcap: %s:%d: unknown option '%s'\n", path, lineno, tok[i]);
				rc = 2;
			}
		}
		for (int r = 0; r < repeat && !rc; r++) {
			struct flowspec g = f;
			g.at = f.at + r;
			if (!f.cport || r)
				g.cport = next_port++;
			if (generate(&g, lineno) < 0)
				rc = 2;
		}
		next_at = f.at + repeat * 1.0 + 0.05;
	}
	fclose(in);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--bench") || !strcmp(argv[1], "--spread"))) {
		/* mkpcap --bench|--spread FLOWS RATE FLOOD SNAPLEN OUT.pcap [OUT.site] */
		spread = !strcmp(argv[1], "--spread");
		if (argc < 7) {
			fprintf(stderr, "usage: mkpcap --bench|--spread FLOWS RATE FLOOD SNAPLEN OUT.pcap [OUT.site]\n");
			return 2;
		}
		opt.snaplen = (uint32_t)strtoul(argv[5], NULL, 10);
		return bench(argv[6], argc > 7 ? argv[7] : NULL, strtoull(argv[2], NULL, 10), strtod(argv[3], NULL),
			     strtoull(argv[4], NULL, 10));
	}
	if (argc != 3) {
		fprintf(stderr, "usage: mkpcap SCENARIO OUT.pcap\n       mkpcap --bench|--spread FLOWS RATE FLOOD SNAPLEN OUT.pcap [OUT.site]\n");
		return 2;
	}
	int rc = read_scenario(argv[1], 0);
	if (rc)
		return rc;
	pcap_t *dead = pcap_open_dead_with_tstamp_precision(opt.dlt, (int)opt.snaplen,
							    opt.nsec ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
	pcap_dumper_t *dump = pcap_dump_open(dead, argv[2]);
	if (!dump) {
		fprintf(stderr, "mkpcap: %s: %s\n", argv[2], pcap_geterr(dead));
		return 2;
	}
	flush_before(dump, UINT64_MAX);
	free(pkts);
	pcap_dump_close(dump);
	pcap_close(dead);
	return 0;
}
