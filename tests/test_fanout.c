/* test_fanout.c: the worker-steering BPF program, run in user space by libpcap's interpreter on
 * hand-built Ethernet frames: both directions of a flow, and the ICMP errors about it, pick one worker. */
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <string.h>

#include "flowaudit/fanout.h"
#include "testutil.h"

static const uint16_t tunnels[] = {4789, 6081};

static unsigned run(const uint8_t *frame, size_t len)
{
	struct bpf_insn prog[FANOUT_MAX_INSNS];
	size_t n = fanout_program(prog, FANOUT_ETHERNET, tunnels, 2);
	CU_ASSERT_FATAL(n > 0 && n < FANOUT_MAX_INSNS);
	struct bpf_program bp = {.bf_len = (u_int)n, .bf_insns = prog};
	CU_ASSERT_FATAL(bpf_validate(bp.bf_insns, (int)bp.bf_len));
	return bpf_filter(prog, frame, (u_int)len, (u_int)len);
}

static unsigned tcp(const char *src, const char *dst, uint16_t sport, uint16_t dport, uint8_t flags)
{
	uint8_t f[256];
	return run(f, tu_eth_tcp(f, src, dst, sport, dport, flags, 1, 0));
}

static void test_symmetric(void)
{
	const char *v4[][2] = {{"192.0.2.10", "198.51.100.20"}, {"10.0.0.1", "10.0.0.2"}, {"203.0.113.7", "192.0.2.1"}};
	for (size_t i = 0; i < 3; i++) {
		unsigned there = tcp(v4[i][0], v4[i][1], 40000 + (uint16_t)i, 61617, 0x02);
		unsigned back = tcp(v4[i][1], v4[i][0], 61617, 40000 + (uint16_t)i, 0x12);
		CU_ASSERT_EQUAL(there, back);
	}
	CU_ASSERT_EQUAL(tcp("2001:db8::1", "2001:db8:1::2", 51000, 9883, 0x02),
			tcp("2001:db8:1::2", "2001:db8::1", 9883, 51000, 0x12));
	uint8_t f[256];
	unsigned u1 = run(f, tu_eth_udp(f, "192.0.2.10", "198.51.100.20", 5353, 2049, 10));
	unsigned u2 = run(f, tu_eth_udp(f, "198.51.100.20", "192.0.2.10", 2049, 5353, 10));
	CU_ASSERT_EQUAL(u1, u2);
}

/* Different flows between the same hosts spread: of 64 client ports, both workers of two get some. */
static void test_spreads(void)
{
	unsigned odd = 0;
	for (uint16_t p = 0; p < 64; p++)
		odd += tcp("192.0.2.10", "198.51.100.20", (uint16_t)(40000 + p), 445, 0x02) & 1;
	CU_ASSERT(odd > 16 && odd < 48);
}

/* An ICMP error comes from a router, to the client, quoting the client's packet: it must reach the
 * worker that holds the flow, for IPv4 (with quotes of 28 bytes and more) and IPv6. */
static void test_icmp_follows_flow(void)
{
	uint8_t syn[256], err[512];
	const char *client = "192.0.2.10", *server = "198.51.100.20";
	for (uint16_t p = 40000; p < 40016; p++) {
		size_t n = tu_eth_tcp(syn, client, server, p, 8443, 0x02, 7, 0);
		unsigned flow = run(syn, n);
		CU_ASSERT_EQUAL(run(err, tu_eth_icmp_unreach(err, "203.0.113.1", client, 13, syn + 14, 28)), flow);
		CU_ASSERT_EQUAL(run(err, tu_eth_icmp_unreach(err, "203.0.113.1", client, 13, syn + 14, n - 14)), flow);
		n = tu_eth_tcp(syn, "2001:db8::10", "2001:db8:1::20", p, 9898, 0x02, 7, 0);
		flow = run(syn, n);
		CU_ASSERT_EQUAL(run(err, tu_eth_icmp_unreach(err, "2001:db8:ff::1", "2001:db8::10", 1, syn + 14, n - 14)),
				flow);
	}
}

/* VXLAN from a mirror: the outer source port changes from packet to packet; one session, one worker. */
static void test_tunnel_by_address(void)
{
	uint8_t f[256];
	unsigned first = run(f, tu_eth_udp(f, "192.0.2.1", "192.0.2.2", 50000, 4789, 60));
	for (uint16_t p = 50001; p < 50032; p++)
		CU_ASSERT_EQUAL(run(f, tu_eth_udp(f, "192.0.2.1", "192.0.2.2", p, 4789, 60)), first);
}

/* Cut frames and what the program does not parse go to worker 0, never past the end. */
static void test_short_and_other(void)
{
	uint8_t f[256];
	size_t n = tu_eth_tcp(f, "192.0.2.10", "198.51.100.20", 40000, 445, 0x02, 1, 0);
	for (size_t cut = 0; cut < n; cut++)
		run(f, cut); /* no read past cut: bpf_filter returns 0 on an out-of-bounds load */
	CU_ASSERT_EQUAL(run(f, 30), 0);
	f[12] = 0x08;
	f[13] = 0x06; /* ARP */
	CU_ASSERT_EQUAL(run(f, n), 0);
}

void suite_fanout(void)
{
	CU_pSuite s = CU_add_suite("fanout", NULL, NULL);
	TU_ADD(s, test_symmetric);
	TU_ADD(s, test_spreads);
	TU_ADD(s, test_icmp_follows_flow);
	TU_ADD(s, test_tunnel_by_address);
	TU_ADD(s, test_short_and_other);
}
