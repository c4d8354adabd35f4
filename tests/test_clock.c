/* test_clock.c: the capture's clock (clock.h) on its own, and the real binary on captures where one record
 * carries an absurd stamp (0xffffffff read as -1 s, 0x7fffffff in 2038, 0) at every position among five
 * completed handshakes and a lone SYN: the verdicts must be those of the capture without the bad stamp. */
#include <stdlib.h>
#include <string.h>

#include "flowaudit/clock.h"
#include "flowaudit/util.h"
#include "testutil.h"

#define S 1000000000ull
#define T0 (1763971200ull * S)

static void started(struct clk *c, uint64_t t)
{
	uint64_t ts[CLK_START] = {t, t, t};
	clk_init(c);
	CU_ASSERT_EQUAL(clk_judge(c, t), CLK_SUSPECT); /* nothing is trusted before the start */
	clk_start(c, ts, CLK_START);
}

static void test_steady_stamps_are_trusted(void)
{
	struct clk c;
	started(&c, T0);
	CU_ASSERT_EQUAL(clk_judge(&c, T0 + 1000), CLK_TRUSTED);
	CU_ASSERT_EQUAL(clk_judge(&c, T0 + 30 * S), CLK_TRUSTED);
	CU_ASSERT_EQUAL(clk_judge(&c, T0 + 29 * S), CLK_TRUSTED); /* a little reordering */
	CU_ASSERT_EQUAL(c.now_ns, T0 + 30 * S);
	CU_ASSERT_EQUAL(c.jumps, 0);
}

static void test_a_lone_absurd_stamp_is_a_jump(void)
{
	static const uint64_t bad[] = {(uint64_t)-1 * S, 0x7fffffffull * S, 0, T0 - 3600 * S};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct clk c;
		started(&c, T0);
		CU_ASSERT_EQUAL(clk_judge(&c, T0 + S), CLK_TRUSTED);
		CU_ASSERT_EQUAL(clk_judge(&c, bad[i]), CLK_SUSPECT);
		CU_ASSERT_EQUAL(clk_resolve(&c, bad[i], 2, 3, true, T0 + 2 * S), T0 + S); /* taken at the clock */
		CU_ASSERT_EQUAL(c.now_ns, T0 + S);
		CU_ASSERT_EQUAL(c.jumps, 1);
		CU_ASSERT_EQUAL(c.named[0].input, 2);
		CU_ASSERT_EQUAL(c.named[0].packet, 3);
		CU_ASSERT_EQUAL(c.named[0].ts_ns, bad[i]);
		/* The same at the very end of the capture. */
		CU_ASSERT_EQUAL(clk_judge(&c, bad[i]), CLK_SUSPECT);
		CU_ASSERT_EQUAL(clk_resolve(&c, bad[i], 0, 9, false, 0), T0 + S);
		CU_ASSERT_EQUAL(c.jumps, 2);
	}
}

static void test_a_real_gap_is_believed(void)
{
	struct clk c;
	started(&c, T0);
	/* Two files a day apart, merged: the second file's first packet is confirmed by its second. */
	uint64_t later = T0 + 86400 * S;
	CU_ASSERT_EQUAL(clk_judge(&c, later), CLK_SUSPECT);
	CU_ASSERT_EQUAL(clk_resolve(&c, later, 1, 1, true, later + 5000), later);
	CU_ASSERT_EQUAL(clk_judge(&c, later + 5000), CLK_TRUSTED);
	CU_ASSERT_EQUAL(c.jumps, 0);
	/* A capture of one packet keeps its stamp, even 0. */
	uint64_t zero = 0;
	clk_init(&c);
	clk_start(&c, &zero, 1);
	CU_ASSERT_EQUAL(clk_judge(&c, 0), CLK_TRUSTED);
	CU_ASSERT_EQUAL(c.jumps, 0);
}

static void test_a_bad_stamp_among_the_first_does_not_start_the_clock(void)
{
	static const uint64_t first[][3] = {{0x7fffffffull * S, T0, T0 + 100}, {T0, 0x7fffffffull * S, T0 + 100},
					   {T0, T0 + 100, 0}};
	for (size_t i = 0; i < 3; i++) {
		struct clk c;
		clk_init(&c);
		clk_start(&c, first[i], 3);
		CU_ASSERT_EQUAL(c.now_ns, T0);
		size_t trusted = 0;
		for (size_t k = 0; k < 3; k++)
			trusted += clk_judge(&c, first[i][k]) == CLK_TRUSTED;
		CU_ASSERT_EQUAL(trusted, 2);
	}
}

static void le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* the test machines are little-endian, as the pcap written here says */
}

/* A TCP frame with its sequence and acknowledgement numbers (tu_eth_tcp leaves the latter 0). */
static size_t tcp_frame(uint8_t *f, const char *src, const char *dst, uint16_t sp, uint16_t dp, uint8_t flags,
			uint32_t seq, uint32_t ack)
{
	size_t len = tu_eth_tcp(f, src, dst, sp, dp, flags, seq, 0);
	uint8_t *t = f + len - 20;
	t[8] = (uint8_t)(ack >> 24), t[9] = (uint8_t)(ack >> 16), t[10] = (uint8_t)(ack >> 8), t[11] = (uint8_t)ack;
	return len;
}

/* Five handshakes agent-ntx -> pmc1:61617, a lone SYN to broker2 at the end, and a datagram between two
 * addresses outside the site stamped bad_sec, inserted as record number where (0-based): a flow of its own,
 * which moved the flow table's clock. */
static const char *capture(uint32_t bad_sec, size_t where)
{
	static uint8_t buf[8192];
	uint8_t frame[128];
	size_t at = 24;
	memset(buf, 0, 24);
	le32(buf, 0xa1b2c3d4);
	buf[4] = 2, buf[6] = 4;
	le32(buf + 16, 65535);
	le32(buf + 20, 1);
	size_t rec = 0;
	for (int i = 0; i <= 5; i++) {
		struct {
			const char *src, *dst;
			uint16_t sp, dp;
			uint8_t flags;
			uint32_t seq, ack;
		} pk[3] = {{"198.51.100.10", "192.0.2.10", (uint16_t)(40000 + i), 61617, 0x02, 1000, 0},
			   {"192.0.2.10", "198.51.100.10", 61617, (uint16_t)(40000 + i), 0x12, 5000, 1001},
			   {"198.51.100.10", "192.0.2.10", (uint16_t)(40000 + i), 61617, 0x10, 1001, 5001}};
		int n = 3;
		if (i == 5) {
			pk[0].dst = "192.0.2.11"; /* broker2: a lone SYN */
			n = 1;
		}
		for (int k = 0; k < n; k++) {
			if (rec == where) {
				size_t len = tu_eth_udp(frame, "203.0.113.200", "203.0.113.201", 5353, 5353, 10);
				le32(buf + at, bad_sec), le32(buf + at + 4, 0), le32(buf + at + 8, (uint32_t)len),
					le32(buf + at + 12, (uint32_t)len);
				memcpy(buf + at + 16, frame, len);
				at += 16 + len;
				rec++;
			}
			size_t len = tcp_frame(frame, pk[k].src, pk[k].dst, pk[k].sp, pk[k].dp, pk[k].flags, pk[k].seq, pk[k].ack);
			le32(buf + at, 1763971200u + (uint32_t)i), le32(buf + at + 4, (uint32_t)k * 100),
				le32(buf + at + 8, (uint32_t)len), le32(buf + at + 12, (uint32_t)len);
			memcpy(buf + at + 16, frame, len);
			at += 16 + len;
			rec++;
		}
	}
	return tu_write("clock.pcap", buf, at);
}

static void test_one_bad_stamp_changes_no_verdict(void)
{
	static const uint32_t bad[] = {0xffffffffu, 0x7fffffffu, 0};
	for (size_t b = 0; b < 3; b++)
		for (size_t where = 0; where <= 15; where += 3) {
			char *args = xasprintf("-r %s -s rules/demo.site", capture(bad[b], where));
			int st;
			json_t *j = tu_audit_json(args, &st);
			CU_ASSERT_FATAL(j != NULL);
			json_t *cap = json_object_get(j, "capture");
			CU_ASSERT_EQUAL(json_integer_value(json_object_get(cap, "time_jumps")), 1);
			json_t *named = json_array_get(json_object_get(cap, "time_jump_packets"), 0);
			CU_ASSERT_EQUAL(json_integer_value(json_object_get(named, "packet")), (json_int_t)where + 1);
			CU_ASSERT(json_real_value(json_object_get(cap, "last_ts")) < 1763971206.0 ||
				  json_integer_value(json_object_get(cap, "last_ts")) == 1763971205);
			/* the five handshakes ok; the lone SYN, 0 s before the end, not yet a finding */
			json_t *e, *lone = NULL, *pmc = NULL;
			size_t i;
			json_array_foreach(json_object_get(j, "edges"), i, e) {
				const char *server = json_string_value(json_object_get(e, "server_addr"));
				if (json_integer_value(json_object_get(e, "attempts")) > 0 && !strcmp(server, "192.0.2.11"))
					lone = e;
				if (json_integer_value(json_object_get(e, "attempts")) > 0 && !strcmp(server, "192.0.2.10"))
					pmc = e;
			}
			CU_ASSERT_FATAL(pmc != NULL);
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(pmc, "status")), "ok");
			CU_ASSERT_EQUAL(json_integer_value(json_object_get(pmc, "attempts")), 5);
			CU_ASSERT_FATAL(lone != NULL);
			CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(lone, "status")), "unverified");
			json_decref(j);
			free(args);
		}
}

void suite_clock(void)
{
	CU_pSuite s = CU_add_suite("clock", NULL, NULL);
	TU_ADD(s, test_steady_stamps_are_trusted);
	TU_ADD(s, test_a_lone_absurd_stamp_is_a_jump);
	TU_ADD(s, test_a_real_gap_is_believed);
	TU_ADD(s, test_a_bad_stamp_among_the_first_does_not_start_the_clock);
	TU_ADD(s, test_one_bad_stamp_changes_no_verdict);
}
