/* test_decode.c: the decoder on hand-built frames: each link type, tags, IPv6 extension headers,
 * fragments, ICMP errors; and every frame replayed at every snaplen, placed against the end of its
 * buffer so that ASan sees a read one byte too far. */
#include <dirent.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/decode.h"
#include "flowaudit/util.h"
#include "testutil.h"

typedef enum dec_status (*decoder)(const struct dec_cfg *, int, const uint8_t *, uint32_t, uint32_t, struct dec_pkt *);

/* Decode (with fn) a copy of frame placed at the very end of a heap block of exactly caplen bytes. */
static enum dec_status decode_with(decoder fn, int dlt, const uint8_t *frame, size_t caplen, size_t wirelen,
				   struct dec_pkt *p)
{
	uint8_t *buf = xmalloc(caplen ? caplen : 1);
	memcpy(buf, frame, caplen);
	static const struct dec_cfg cfg = DEC_CFG_DEFAULT;
	enum dec_status st = fn(&cfg, dlt, buf, (uint32_t)caplen, (uint32_t)wirelen, p);
	free(buf);
	return st;
}

static enum dec_status decode_tight(int dlt, const uint8_t *frame, size_t caplen, size_t wirelen, struct dec_pkt *p)
{
	return decode_with(dec_frame, dlt, frame, caplen, wirelen, p);
}

/* Replay at every snaplen: never crash; below `needed` bytes (the last byte the decoder has to read:
 * TCP up to its window, UDP up to its length field) the verdict is a truncation, never DEC_OK. */
static void every_snaplen(int dlt, const uint8_t *frame, size_t len, size_t needed)
{
	for (size_t cap = 0; cap <= len; cap++) {
		struct dec_pkt p;
		enum dec_status st = decode_tight(dlt, frame, cap, len, &p);
		if (cap < needed)
			CU_ASSERT(st == DEC_TRUNC_LINK || st == DEC_TRUNC_IP || st == DEC_TRUNC_L4 || st == DEC_NOT_IP);
	}
}

/* The fast path for untagged Ethernet/IPv4/TCP and the general path give the same status and the same
 * bytes (struct dec_pkt is zeroed whole first, padding included, so memcmp compares every field). */
static bool paths_agree(int dlt, const uint8_t *frame, size_t caplen, size_t wirelen)
{
	struct dec_pkt a, b;
	enum dec_status sa = decode_with(dec_frame, dlt, frame, caplen, wirelen, &a);
	enum dec_status sb = decode_with(dec_frame_general, dlt, frame, caplen, wirelen, &b);
	return sa == sb && !memcmp(&a, &b, sizeof(a));
}

/* Every byte of the headers an Ethernet/IPv4/TCP frame is decoded from, set to values at and around each
 * limit the fast path checks (version and IHL, fragment offset, protocol, lengths, data offset), at every
 * captured length: the two paths never differ. */
static void test_fast_path_decodes_as_the_general_path(void)
{
	uint8_t f[128];
	size_t n = tu_eth_tcp(f, "192.0.2.1", "192.0.2.2", 40000, 61617, DEC_TH_SYN | DEC_TH_ACK, 99, 30);
	static const uint8_t values[] = {0x00, 0x01, 0x05, 0x06, 0x08, 0x11, 0x14, 0x20, 0x28, 0x3f, 0x40, 0x44,
					 0x45, 0x46, 0x4f, 0x50, 0x60, 0x80, 0xf0, 0xff};
	size_t cases = 0, bad = 0;
	for (size_t pos = 12; pos < 14 + 20 + 20; pos++)
		for (size_t v = 0; v < sizeof(values); v++) {
			uint8_t g[128];
			memcpy(g, f, n);
			g[pos] = values[v];
			for (size_t cap = 40; cap <= n; cap += 3) {
				cases++;
				bad += !paths_agree(DLT_EN10MB, g, cap, n);
			}
			cases++;
			bad += !paths_agree(DLT_EN10MB, g, n, n - 10); /* a wire length shorter than captured */
		}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(cases > 10000);
}

/* And on every frame of the bundled captures and of the public corpus's plain Ethernet pcaps. */
static size_t agree_on_file(const char *path, size_t *frames)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, err);
	if (!p)
		return 0;
	size_t bad = 0;
	struct pcap_pkthdr *h;
	const u_char *d;
	while (pcap_next_ex(p, &h, &d) == 1) {
		(*frames)++;
		bad += !paths_agree(pcap_datalink(p), d, h->caplen, h->len);
	}
	pcap_close(p);
	return bad;
}

static void test_fast_path_agrees_on_real_captures(void)
{
	size_t frames = 0, bad = 0;
	const char *dirs[] = {"pcaps", "../shared/corpus/pcaps/tcpdump", "../shared/corpus/pcaps/libpcap"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		DIR *dir = opendir(dirs[i]);
		if (!dir)
			continue;
		for (struct dirent *e; (e = readdir(dir));) {
			size_t l = strlen(e->d_name);
			if (l < 5 || strcmp(e->d_name + l - 5, ".pcap"))
				continue;
			char *path = xasprintf("%s/%s", dirs[i], e->d_name);
			bad += agree_on_file(path, &frames);
			free(path);
		}
		closedir(dir);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(frames >= 3000); /* pcaps/ alone has 3,047 */
}

static void test_ipv4_tcp_syn_on_ethernet(void)
{
	uint8_t f[128];
	size_t n = tu_eth_tcp(f, "192.0.2.1", "192.0.2.2", 40000, 61617, DEC_TH_SYN, 1234, 0);
	struct dec_pkt p;
	CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, f, n, n, &p), DEC_OK);
	CU_ASSERT_EQUAL(p.proto, IPPROTO_TCP);
	CU_ASSERT_EQUAL(p.sport, 40000);
	CU_ASSERT_EQUAL(p.dport, 61617);
	CU_ASSERT_EQUAL(p.tcp_flags, DEC_TH_SYN);
	CU_ASSERT_EQUAL(p.seq, 1234);
	char buf[50];
	CU_ASSERT_STRING_EQUAL(addr_str(p.src, buf), "192.0.2.1");
	CU_ASSERT_STRING_EQUAL(addr_str(p.dst, buf), "192.0.2.2");
	every_snaplen(DLT_EN10MB, f, n, n - 4);
}

static void test_addresses_print_as_tcpdump_does(void)
{
	static const struct {
		const char *text;
	} cases[] = {{"0.0.0.0"}, {"255.255.255.255"}, {"10.0.0.1"}, {"192.0.2.100"}, {"1.20.3.0"},
		     {"198.51.100.9"}, {"2001:db8::1"}, {"::ffff:0:1"}, {"::"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t a[16];
		char buf[50];
		CU_ASSERT_FATAL(addr_parse(cases[i].text, a));
		CU_ASSERT_STRING_EQUAL(addr_str(a, buf), strncmp(cases[i].text, "::ffff:", 7) ? cases[i].text : "0.0.0.1");
	}
}

static void test_ethernet_padding_is_not_payload(void)
{
	uint8_t f[128] = {0};
	size_t n = tu_eth_tcp(f, "192.0.2.1", "192.0.2.2", 1, 2, DEC_TH_ACK, 0, 0);
	struct dec_pkt p;
	CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, f, 60, 60, &p), DEC_OK); /* 54 bytes padded to 60 */
	CU_ASSERT_EQUAL(p.payload, 0);
	CU_ASSERT_EQUAL(n, 54);
}

static void test_vlan_and_qinq_tags_at_any_depth(void)
{
	uint8_t f[160], t[160];
	size_t n = tu_eth_udp(f, "2001:db8::1", "2001:db8::2", 5000, 2049, 10);
	for (int depth = 1; depth <= 3; depth++) {
		/* Insert depth tags after the MAC addresses: outer 802.1ad, inner 802.1Q. */
		memcpy(t, f, 12);
		for (int i = 0; i < depth; i++) {
			t[12 + 4 * i] = i == 0 && depth > 1 ? 0x88 : 0x81;
			t[13 + 4 * i] = i == 0 && depth > 1 ? 0xa8 : 0x00;
			t[14 + 4 * i] = 0;
			t[15 + 4 * i] = (uint8_t)(10 * (i + 1));
		}
		memcpy(t + 12 + 4 * depth, f + 12, n - 12);
		struct dec_pkt p;
		size_t len = n + 4 * (size_t)depth;
		CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, t, len, len, &p), DEC_OK);
		CU_ASSERT_EQUAL(p.dport, 2049);
		CU_ASSERT_EQUAL(p.payload, 10);
		every_snaplen(DLT_EN10MB, t, len, len - 12);
	}
}

/* Deep stacks are decoded up to DEC_MAX_HEADERS, and past it counted under a reason of their own (they
 * were once "bad-ip", which made the path read "missing"). */
static void test_deep_header_stacks(void)
{
	static uint8_t f[1200], t[1200];
	size_t n = tu_eth_tcp(f, "192.0.2.1", "192.0.2.2", 40000, 9883, DEC_TH_SYN, 1, 0);
	struct dec_pkt p;
	static const int tags[] = {9, 20, DEC_MAX_HEADERS, DEC_MAX_HEADERS + 1};
	for (size_t k = 0; k < 4; k++) {
		int depth = tags[k];
		memcpy(t, f, 12);
		for (int i = 0; i < depth; i++) {
			t[12 + 4 * i] = 0x81, t[13 + 4 * i] = 0;
			t[14 + 4 * i] = 0, t[15 + 4 * i] = (uint8_t)i;
		}
		memcpy(t + 12 + 4 * depth, f + 12, n - 12);
		size_t len = n + 4 * (size_t)depth;
		enum dec_status st = decode_tight(DLT_EN10MB, t, len, len, &p);
		CU_ASSERT_EQUAL(st, depth <= DEC_MAX_HEADERS ? DEC_OK : DEC_TOO_MANY_HEADERS);
		if (st == DEC_OK)
			CU_ASSERT_EQUAL(p.dport, 9883);
	}
	CU_ASSERT_STRING_EQUAL(dec_status_name(DEC_TOO_MANY_HEADERS), "too-many-headers");
	/* MPLS: 20 labels, then 65 without a bottom of stack. */
	static const int labels[] = {20, DEC_MAX_HEADERS, DEC_MAX_HEADERS + 1};
	for (size_t k = 0; k < 3; k++) {
		int depth = labels[k];
		memcpy(t, f, 12);
		t[12] = 0x88, t[13] = 0x47;
		for (int i = 0; i < depth; i++) {
			uint32_t e = (uint32_t)(100 + i) << 12 | (i == depth - 1 ? 0x100 : 0) | 64;
			t[14 + 4 * i] = (uint8_t)(e >> 24), t[15 + 4 * i] = (uint8_t)(e >> 16);
			t[16 + 4 * i] = (uint8_t)(e >> 8), t[17 + 4 * i] = (uint8_t)e;
		}
		memcpy(t + 14 + 4 * depth, f + 14, n - 14);
		size_t len = n + 4 * (size_t)depth;
		enum dec_status st = decode_tight(DLT_EN10MB, t, len, len, &p);
		CU_ASSERT_EQUAL(st, depth <= DEC_MAX_HEADERS ? DEC_OK : DEC_TOO_MANY_HEADERS);
	}
	/* IPv6: 20 destination-options headers before TCP, then 65. */
	n = tu_eth_tcp(f, "2001:db8::1", "2001:db8::2", 50000, 9883, DEC_TH_SYN, 7, 0);
	static const int exts[] = {16, 20, DEC_MAX_HEADERS, DEC_MAX_HEADERS + 1};
	for (size_t k = 0; k < 4; k++) {
		int depth = exts[k];
		memcpy(t, f, 54);
		t[14 + 6] = IPPROTO_DSTOPTS;
		size_t plen = 20 + 8 * (size_t)depth;
		t[14 + 4] = (uint8_t)(plen >> 8), t[14 + 5] = (uint8_t)plen;
		for (int i = 0; i < depth; i++) {
			uint8_t *x = t + 54 + 8 * i;
			memset(x, 0, 8);
			x[0] = i == depth - 1 ? IPPROTO_TCP : IPPROTO_DSTOPTS;
			x[2] = 1, x[3] = 4; /* a PadN option filling the header */
		}
		memcpy(t + 54 + 8 * depth, f + 54, n - 54);
		size_t len = n + 8 * (size_t)depth;
		enum dec_status st = decode_tight(DLT_EN10MB, t, len, len, &p);
		CU_ASSERT_EQUAL(st, depth <= DEC_MAX_HEADERS ? DEC_OK : DEC_TOO_MANY_HEADERS);
		if (st == DEC_OK)
			CU_ASSERT_EQUAL(p.dport, 9883);
	}
}

static void test_cooked_raw_and_null_link_types(void)
{
	uint8_t eth[128], f[160];
	size_t n = tu_eth_tcp(eth, "192.0.2.1", "192.0.2.2", 1111, 445, DEC_TH_SYN | DEC_TH_ACK, 9, 0);
	const uint8_t *ip = eth + 14;
	size_t iplen = n - 14;
	struct dec_pkt p;
	/* SLL: 16 bytes, protocol at 14 */
	memset(f, 0, 16);
	f[14] = 0x08;
	memcpy(f + 16, ip, iplen);
	CU_ASSERT_EQUAL(decode_tight(DLT_LINUX_SLL, f, 16 + iplen, 16 + iplen, &p), DEC_OK);
	CU_ASSERT_EQUAL(p.sport, 1111);
	every_snaplen(DLT_LINUX_SLL, f, 16 + iplen, 16 + iplen - 4);
	/* SLL2: 20 bytes, protocol at 0 */
	memset(f, 0, 20);
	f[0] = 0x08;
	memcpy(f + 20, ip, iplen);
	CU_ASSERT_EQUAL(decode_tight(DLT_LINUX_SLL2, f, 20 + iplen, 20 + iplen, &p), DEC_OK);
	CU_ASSERT_EQUAL(p.dport, 445);
	every_snaplen(DLT_LINUX_SLL2, f, 20 + iplen, 20 + iplen - 4);
	/* RAW, IPV4 */
	CU_ASSERT_EQUAL(decode_tight(DLT_RAW, ip, iplen, iplen, &p), DEC_OK);
	CU_ASSERT_EQUAL(decode_tight(DLT_IPV4, ip, iplen, iplen, &p), DEC_OK);
	every_snaplen(DLT_RAW, ip, iplen, iplen - 4);
	/* NULL in either byte order, LOOP in network order */
	uint32_t le = 2;
	memcpy(f, &le, 4);
	memcpy(f + 4, ip, iplen);
	CU_ASSERT_EQUAL(decode_tight(DLT_NULL, f, 4 + iplen, 4 + iplen, &p), DEC_OK);
	f[0] = 0, f[1] = 0, f[2] = 0, f[3] = 2;
	CU_ASSERT_EQUAL(decode_tight(DLT_NULL, f, 4 + iplen, 4 + iplen, &p), DEC_OK);
	CU_ASSERT_EQUAL(decode_tight(DLT_LOOP, f, 4 + iplen, 4 + iplen, &p), DEC_OK);
	f[3] = 99;
	CU_ASSERT_EQUAL(decode_tight(DLT_NULL, f, 4 + iplen, 4 + iplen, &p), DEC_NOT_IP);
}

static void test_ipv6_extension_headers_are_walked(void)
{
	uint8_t f[200], t[200];
	size_t n = tu_eth_tcp(f, "2001:db8::1", "2001:db8::2", 50000, 9883, DEC_TH_SYN, 7, 0);
	/* Insert hop-by-hop (8 bytes) then a first fragment header (8 bytes) before TCP. */
	memcpy(t, f, 54);
	t[14 + 6] = IPPROTO_HOPOPTS;
	t[14 + 5] = (uint8_t)(20 + 16);
	uint8_t *x = t + 54;
	memset(x, 0, 16);
	x[0] = IPPROTO_FRAGMENT;
	x[1] = 0;
	x[8] = IPPROTO_TCP;
	x[11] = 1; /* offset 0, more fragments */
	memcpy(t + 70, f + 54, n - 54);
	struct dec_pkt p;
	CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, t, n + 16, n + 16, &p), DEC_OK);
	CU_ASSERT_EQUAL(p.dport, 9883);
	every_snaplen(DLT_EN10MB, t, n + 16, n + 12);
	/* A later fragment (offset 8) carries no ports. */
	x[10] = 0, x[11] = 8 << 3;
	CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, t, n + 16, n + 16, &p), DEC_FRAGMENT);
	/* A hop-by-hop header claiming more than the packet has is a truncation, not a read past the end. */
	x[10] = 0, x[11] = 1;
	x[1] = 200;
	CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, t, n + 16, n + 16, &p), DEC_TRUNC_IP);
}

static void test_ipv4_fragments_and_options(void)
{
	uint8_t f[128], t[160];
	size_t n = tu_eth_tcp(f, "192.0.2.1", "192.0.2.2", 1, 2049, DEC_TH_SYN, 1, 0);
	/* IHL 6: four bytes of options (NOP NOP NOP EOL). */
	memcpy(t, f, 34);
	t[14] = 0x46;
	t[16] = 0, t[17] = 44;
	t[34] = 1, t[35] = 1, t[36] = 1, t[37] = 0;
	memcpy(t + 38, f + 34, n - 34);
	struct dec_pkt p;
	CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, t, n + 4, n + 4, &p), DEC_OK);
	CU_ASSERT_EQUAL(p.dport, 2049);
	f[14 + 6] = 0x20, f[14 + 7] = 0; /* MF, offset 0: the first fragment has ports */
	CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, f, n, n, &p), DEC_OK);
	f[14 + 6] = 0x00, f[14 + 7] = 0x10; /* offset 16 bytes */
	CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, f, n, n, &p), DEC_FRAGMENT);
	f[14 + 7] = 0;
	f[14] = 0x44; /* IHL 4 is impossible */
	CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, f, n, n, &p), DEC_BAD_IP);
	f[14] = 0x45;
	f[14 + 20 + 12] = 0x30; /* TCP data offset 3 */
	CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, f, n, n, &p), DEC_BAD_L4);
}

static void test_icmp_errors_quote_the_failed_attempt(void)
{
	uint8_t syn[128], err[256];
	size_t n = tu_eth_tcp(syn, "198.51.100.10", "203.0.113.10", 40001, 9898, DEC_TH_SYN, 5, 0);
	struct dec_pkt p;
	static const struct { uint8_t code; enum dec_icmp kind; } v4[] = {
		{13, DEC_ICMP_PROHIBITED}, {9, DEC_ICMP_PROHIBITED}, {10, DEC_ICMP_PROHIBITED},
		{3, DEC_ICMP_UNREACHABLE}, {1, DEC_ICMP_UNREACHABLE}, {4, DEC_ICMP_NONE}};
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		size_t m = tu_eth_icmp_unreach(err, "203.0.113.1", "198.51.100.10", v4[i].code, syn + 14, 28);
		enum dec_status st = decode_tight(DLT_EN10MB, err, m, m, &p);
		if (v4[i].kind == DEC_ICMP_NONE) {
			CU_ASSERT_EQUAL(st, DEC_OTHER_L4);
			continue;
		}
		CU_ASSERT_EQUAL(st, DEC_OK);
		CU_ASSERT_EQUAL(p.icmp, v4[i].kind);
		CU_ASSERT(p.quote_ports && p.sport == 40001 && p.dport == 9898 && p.proto == IPPROTO_TCP);
		char buf[50];
		CU_ASSERT_STRING_EQUAL(addr_str(p.src, buf), "198.51.100.10");
		CU_ASSERT_STRING_EQUAL(addr_str(p.icmp_from, buf), "203.0.113.1");
		every_snaplen(DLT_EN10MB, err, m, 14 + 20 + 8 + 16); /* the quoted source */
	}
	/* ICMPv6: codes 1, 5, 6 prohibited; 4 port unreachable. The quote cut inside the destination still
	 * names the sender and the first bytes of the destination. */
	n = tu_eth_tcp(syn, "2001:db8:2::11", "2001:db8:1::10", 40002, 61617, DEC_TH_SYN, 5, 0);
	static const struct { uint8_t code; enum dec_icmp kind; } v6[] = {
		{1, DEC_ICMP_PROHIBITED}, {5, DEC_ICMP_PROHIBITED}, {6, DEC_ICMP_PROHIBITED}, {4, DEC_ICMP_UNREACHABLE}};
	for (size_t i = 0; i < 4; i++) {
		size_t m = tu_eth_icmp_unreach(err, "2001:db8:ff::1", "2001:db8:2::11", v6[i].code, syn + 14, n - 14);
		CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, err, m, m, &p), DEC_OK);
		CU_ASSERT_EQUAL(p.icmp, v6[i].kind);
		CU_ASSERT(p.quote_ports && p.dport == 61617);
		/* snaplen 96: the quote ends inside the quoted destination address (FIELD-NOTES) */
		CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, err, 96, m, &p), DEC_OK);
		CU_ASSERT(!p.quote_ports);
		CU_ASSERT_EQUAL(p.quote_dst_bytes, 96 - (14 + 40 + 8 + 24));
		every_snaplen(DLT_EN10MB, err, m, 14 + 40 + 8 + 24);
	}
}

static void test_background_frames_are_not_ip(void)
{
	uint8_t arp[60] = {0};
	arp[12] = 0x08, arp[13] = 0x06;
	struct dec_pkt p;
	CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, arp, 60, 60, &p), DEC_NOT_IP);
	uint8_t llc[60] = {0};
	llc[12] = 0x00, llc[13] = 0x26; /* 802.3 length: STP and friends */
	CU_ASSERT_EQUAL(decode_tight(DLT_EN10MB, llc, 60, 60, &p), DEC_NOT_IP);
	/* Random bytes on every link type: no crash, whatever the verdict. */
	uint8_t junk[256];
	unsigned seed = 12345;
	static const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, DLT_NULL, DLT_LOOP};
	for (int round = 0; round < 2000; round++) {
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(rand_r(&seed) >> 7);
		junk[0] = (uint8_t)(round & 1 ? 0x45 : 0x60);
		size_t len = (size_t)rand_r(&seed) % sizeof(junk);
		decode_tight(dlts[round % 6], junk, len, len + (size_t)(round % 3), &p);
	}
	CU_PASS("random frames decoded without a crash");
}

void suite_decode(void)
{
	CU_pSuite s = CU_add_suite("decode", NULL, NULL);
	TU_ADD(s, test_ipv4_tcp_syn_on_ethernet);
	TU_ADD(s, test_fast_path_decodes_as_the_general_path);
	TU_ADD(s, test_fast_path_agrees_on_real_captures);
	TU_ADD(s, test_addresses_print_as_tcpdump_does);
	TU_ADD(s, test_ethernet_padding_is_not_payload);
	TU_ADD(s, test_vlan_and_qinq_tags_at_any_depth);
	TU_ADD(s, test_deep_header_stacks);
	TU_ADD(s, test_cooked_raw_and_null_link_types);
	TU_ADD(s, test_ipv6_extension_headers_are_walked);
	TU_ADD(s, test_ipv4_fragments_and_options);
	TU_ADD(s, test_icmp_errors_quote_the_failed_attempt);
	TU_ADD(s, test_background_frames_are_not_ip);
}
