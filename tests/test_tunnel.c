/* test_tunnel.c: decapsulation. Frames of every remote-mirroring encapsulation (the first packet of each
 * pcaps/statuses-KIND.pcap, written by tools/mkpcap) decode to the inner packet at full length and never
 * read past the end at any shorter length; hostile nesting stops at DEC_MAX_DEPTH; a UDP 4789 datagram
 * that is not VXLAN stays an ordinary flow. */
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/decode.h"
#include "flowaudit/util.h"
#include "testutil.h"

static size_t first_frame(const char *path, uint8_t *buf, size_t cap)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, err);
	CU_ASSERT_FATAL(p != NULL);
	struct pcap_pkthdr *h;
	const u_char *d;
	size_t n = 0;
	if (pcap_next_ex(p, &h, &d) == 1 && h->caplen <= cap) {
		memcpy(buf, d, h->caplen);
		n = h->caplen;
	}
	pcap_close(p);
	return n;
}

static enum dec_status tight_with(const struct dec_cfg *cfg, const uint8_t *f, size_t caplen, size_t wire,
				  struct dec_pkt *p)
{
	uint8_t *b = xmalloc(caplen ? caplen : 1);
	memcpy(b, f, caplen);
	enum dec_status st = dec_frame(cfg, DLT_EN10MB, b, (uint32_t)caplen, (uint32_t)wire, p);
	free(b);
	return st;
}

static enum dec_status tight(const uint8_t *f, size_t caplen, size_t wire, struct dec_pkt *p)
{
	static const struct dec_cfg cfg = DEC_CFG_DEFAULT;
	return tight_with(&cfg, f, caplen, wire, p);
}

static void test_each_encapsulation_decodes_to_the_inner_packet(void)
{
	static const struct { const char *kind; enum dec_encap enc; } kinds[] = {
		{"gre", DEC_ENC_GRE}, {"erspan1", DEC_ENC_ERSPAN1}, {"erspan2", DEC_ENC_ERSPAN2},
		{"erspan3", DEC_ENC_ERSPAN3}, {"vxlan", DEC_ENC_VXLAN}, {"geneve", DEC_ENC_GENEVE},
		{"mpls", DEC_ENC_MPLS}, {"pppoe", DEC_ENC_PPPOE}, {"ipip", DEC_ENC_IPIP},
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char *path = xasprintf("pcaps/statuses-%s.pcap", kinds[i].kind);
		uint8_t f[2048];
		size_t n = first_frame(path, f, sizeof(f));
		CU_ASSERT_FATAL(n > 0);
		struct dec_pkt p;
		CU_ASSERT_EQUAL(tight(f, n, n, &p), DEC_OK);
		char buf[50];
		/* statuses.flows begins with 192.0.2.130 -> 192.0.2.10:8443, a SYN */
		CU_ASSERT_STRING_EQUAL(addr_str(p.src, buf), "192.0.2.130");
		CU_ASSERT_EQUAL(p.dport, 8443);
		CU_ASSERT_EQUAL(p.tcp_flags, DEC_TH_SYN);
		CU_ASSERT(p.encaps & (1u << kinds[i].enc));
		CU_ASSERT_EQUAL(p.depth, 1);
		/* Every shorter capture: no crash, and never the outer packet passed off as the inner one. */
		for (size_t cap = 0; cap < n; cap++) {
			enum dec_status st = tight(f, cap, n, &p);
			CU_ASSERT(st != DEC_OK || p.dport == 8443);
		}
		free(path);
	}
}

/* Ethernet + IPv4 header (protocol proto, total length 20 + inner) at f; returns 34. */
static size_t outer_ipv4(uint8_t *f, uint8_t proto, size_t inner)
{
	memset(f, 0, 34);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)((20 + inner) >> 8);
	f[17] = (uint8_t)(20 + inner);
	f[22] = 64;
	f[23] = proto;
	f[26] = 198, f[27] = 18, f[28] = 255, f[29] = 1;
	f[30] = 198, f[31] = 18, f[32] = 255, f[33] = 2;
	return 34;
}

static void test_hostile_nesting_stops_at_the_depth_bound(void)
{
	/* IPv4-in-IPv4 twenty times over: each layer a 20-byte header claiming protocol 4. */
	uint8_t f[600];
	memset(f, 0, sizeof(f));
	f[12] = 0x08;
	for (int i = 0; i < 20; i++) {
		uint8_t *ip = f + 14 + 20 * i;
		size_t total = 20 * (size_t)(20 - i) + 28;
		ip[0] = 0x45;
		ip[2] = (uint8_t)(total >> 8);
		ip[3] = (uint8_t)total;
		ip[9] = IPPROTO_IPIP;
	}
	struct dec_pkt p;
	CU_ASSERT_EQUAL(tight(f, 14 + 20 * 20 + 28, 14 + 20 * 20 + 28, &p), DEC_TUNNEL_DEPTH);
	/* GRE (transparent bridging) nested in itself: the same bound. */
	uint8_t g[2048];
	size_t off = 0;
	for (int i = 0; i < 12; i++) {
		size_t left = 12 - (size_t)i;
		off += outer_ipv4(g + off, IPPROTO_GRE, left * 38 + 40) - 0;
		g[off] = 0, g[off + 1] = 0, g[off + 2] = 0x65, g[off + 3] = 0x58;
		off += 4;
	}
	memset(g + off, 0, 60);
	CU_ASSERT_EQUAL(tight(g, off + 60, off + 60, &p), DEC_TUNNEL_DEPTH);
}

static void test_udp_4789_that_is_not_vxlan_stays_an_ordinary_flow(void)
{
	uint8_t f[200];
	size_t n = tu_eth_udp(f, "192.0.2.1", "192.0.2.2", 5000, 4789, 40);
	struct dec_pkt p;
	/* The payload is zeros: no VXLAN I flag. */
	CU_ASSERT_EQUAL(tight(f, n, n, &p), DEC_OK);
	CU_ASSERT_EQUAL(p.dport, 4789);
	CU_ASSERT_EQUAL(p.encaps, 0);
	/* With the I flag but too short for an inner Ethernet header: still the plain datagram. */
	n = tu_eth_udp(f, "192.0.2.1", "192.0.2.2", 5000, 4789, 12);
	f[42] = 0x08;
	CU_ASSERT_EQUAL(tight(f, n, n, &p), DEC_OK);
	CU_ASSERT_EQUAL(p.encaps, 0);
}

/* --vxlan-port: VXLAN on another port (Linux's own default, 8472) is decapsulated once that port is set,
 * and is an ordinary UDP flow while it is not. */
static void test_vxlan_on_the_port_given(void)
{
	uint8_t f[2048];
	size_t n = first_frame("pcaps/statuses-vxlan.pcap", f, sizeof(f));
	CU_ASSERT_FATAL(n > 42);
	CU_ASSERT_EQUAL_FATAL(f[36] << 8 | f[37], 4789); /* the outer UDP destination port */
	f[36] = 8472 >> 8;
	f[37] = 8472 & 0xff;
	struct dec_pkt p;
	CU_ASSERT_EQUAL(tight(f, n, n, &p), DEC_OK);
	CU_ASSERT_EQUAL(p.dport, 8472);
	CU_ASSERT_EQUAL(p.encaps, 0);
	struct dec_cfg cfg = {.vxlan_port = 8472};
	CU_ASSERT_EQUAL(tight_with(&cfg, f, n, n, &p), DEC_OK);
	CU_ASSERT_EQUAL(p.dport, 8443);
	CU_ASSERT(p.encaps & (1u << DEC_ENC_VXLAN));
	uint16_t ports[DEC_NTUNNEL_PORTS];
	CU_ASSERT(dec_tunnel_ports(&cfg, ports) > 0 && ports[0] == 8472); /* workers share the flows inside it too */
}

static void test_mpls_stack_of_any_depth_and_pseudowire(void)
{
	uint8_t inner[128], f[256];
	size_t n = tu_eth_tcp(inner, "2001:db8::1", "2001:db8::2", 1, 445, DEC_TH_SYN, 1, 0);
	for (int labels = 1; labels <= 5; labels++) {
		memcpy(f, inner, 12);
		f[12] = 0x88, f[13] = 0x47;
		for (int i = 0; i < labels; i++) {
			uint8_t *e = f + 14 + 4 * i;
			e[0] = 0, e[1] = 0x10, e[2] = (uint8_t)(i == labels - 1 ? 0x01 : 0x00), e[3] = 64;
		}
		size_t off = 14 + 4 * (size_t)labels;
		memcpy(f + off, inner + 14, n - 14);
		struct dec_pkt p;
		CU_ASSERT_EQUAL(tight(f, off + n - 14, off + n - 14, &p), DEC_OK);
		CU_ASSERT_EQUAL(p.dport, 445);
		CU_ASSERT(p.encaps & (1u << DEC_ENC_MPLS));
	}
	/* Ethernet pseudowire: bottom label, a zero control word, then a whole Ethernet frame. */
	memcpy(f, inner, 12);
	f[12] = 0x88, f[13] = 0x47;
	f[14] = 0, f[15] = 0x10, f[16] = 0x01, f[17] = 64;
	memset(f + 18, 0, 4);
	memcpy(f + 22, inner, n);
	struct dec_pkt p;
	CU_ASSERT_EQUAL(tight(f, 22 + n, 22 + n, &p), DEC_OK);
	CU_ASSERT_EQUAL(p.dport, 445);
	/* A stack that never ends is truncated, not read past. */
	memset(f + 14, 0, 40);
	CU_ASSERT(tight(f, 54, 54, &p) != DEC_OK);
}

void suite_tunnel(void)
{
	CU_pSuite s = CU_add_suite("tunnels", NULL, NULL);
	TU_ADD(s, test_each_encapsulation_decodes_to_the_inner_packet);
	TU_ADD(s, test_hostile_nesting_stops_at_the_depth_bound);
	TU_ADD(s, test_udp_4789_that_is_not_vxlan_stays_an_ordinary_flow);
	TU_ADD(s, test_vxlan_on_the_port_given);
	TU_ADD(s, test_mpls_stack_of_any_depth_and_pseudowire);
}
