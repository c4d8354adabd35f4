/* test_flow.c: the TCP state machine and the flow table: handshakes, rejections, silence, one-sided
 * and midstream captures, SPAN duplicates, reordering, port reuse, eviction. Packets are dec_pkt
 * values built here, so these tests do not depend on the decoder. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/flow.h"
#include "flowaudit/hash.h"
#include "flowaudit/util.h"
#include "testutil.h"

#define S 1000000000ull
#define MS 1000000ull
#define T0 (1700000000ull * S)

struct settled {
	enum flow_verdict v[16];
	enum flow_open open[16];
	uint16_t client_port[16];
	char history[16][18];
	uint32_t pkts[16];
	struct app_state app[16];
	int n;
};

static void on_settle(void *ctx, const struct flow_record *r, size_t n)
{
	struct settled *s = ctx;
	for (const struct flow_record *f = r; f < r + n; f++) {
		if (s->n < 16) {
			s->v[s->n] = f->verdict;
			s->open[s->n] = f->open;
			s->client_port[s->n] = f->client_port;
			memcpy(s->history[s->n], f->history, sizeof(f->history));
			s->pkts[s->n] = (uint32_t)f->pkts[0] + f->pkts[1];
			s->app[s->n] = f->app;
		}
		s->n++;
	}
}

static struct dec_pkt pkt(const char *src, uint16_t sport, const char *dst, uint16_t dport, uint8_t flags,
			  uint32_t seq, uint32_t payload)
{
	struct dec_pkt p;
	memset(&p, 0, sizeof(p));
	addr_parse(src, p.src);
	addr_parse(dst, p.dst);
	p.sport = sport;
	p.dport = dport;
	p.proto = IPPROTO_TCP;
	p.tcp_flags = flags;
	p.seq = seq;
	p.payload = payload;
	return p;
}

#define C "192.0.2.1"
#define SV "192.0.2.2"
#define SYN DEC_TH_SYN
#define SA (DEC_TH_SYN | DEC_TH_ACK)
#define ACK DEC_TH_ACK
#define RA (DEC_TH_RST | DEC_TH_ACK)

struct run {
	struct flow_table *t;
	struct settled s;
};

static void start(struct run *r, size_t max)
{
	memset(&r->s, 0, sizeof(r->s));
	r->t = flow_new(max, NULL, on_settle, &r->s);
}

static void feed(struct run *r, struct dec_pkt p, uint64_t ts)
{
	flow_packet(r->t, &p, NULL, ts);
}

static void finish(struct run *r, uint64_t end)
{
	flow_finish(r->t, end);
}

/* fa_hash5 is fa_hash of the same 40 bytes, word by word: the flow table and the classifier hash keys
 * built in registers, and look them up in tables whose entries were hashed from memory. */
static void test_hash_of_words_is_the_hash_of_the_bytes(void)
{
	uint64_t w[5] = {0x0123456789abcdefull, 0, ~0ull, 0xffff000000000000ull, 0x0000000600500050ull};
	for (int round = 0; round < 64; round++) {
		uint8_t bytes[40];
		memcpy(bytes, w, sizeof(bytes));
		uint64_t seed = fa_seed();
		CU_ASSERT_EQUAL(fa_hash5(seed, w[0], w[1], w[2], w[3], w[4]), fa_hash(seed, bytes, sizeof(bytes)));
		CU_ASSERT_NOT_EQUAL(fa_hash(seed, bytes, sizeof(bytes)), fa_hash(seed + 1, bytes, sizeof(bytes)));
		for (int i = 0; i < 5; i++)
			w[i] = w[i] * 6364136223846793005ull + 1442695040888963407ull + (uint64_t)round;
	}
}

/* The pipeline (flow_slot, flow_push, flow_drain) sees the packets in the order pushed, like flow_packet:
 * twelve attempts, their packets interleaved so that each flow's next packet is pushed while its last
 * one still waits in the pipeline; their outcomes differ (answered, reset, unanswered, duplicated). */
static void test_pipeline_judges_like_one_packet_at_a_time(void)
{
	struct run one, piped;
	start(&one, 0);
	start(&piped, 0);
	char client[16][20];
	for (int round = 0; round < 4; round++)
		for (int i = 0; i < 12; i++) {
			snprintf(client[i], sizeof(client[i]), "192.0.2.%d", 10 + i);
			struct dec_pkt p;
			uint64_t ts = T0 + (uint64_t)round * 10 * MS + (uint64_t)i * 100;
			if (round == 0)
				p = pkt(client[i], 40000, SV, 443, SYN, 100, 0);
			else if (i % 4 == 0)
				p = pkt(SV, 443, client[i], 40000, round == 1 ? SA : ACK, 900, 0);
			else if (i % 4 == 1)
				p = pkt(SV, 443, client[i], 40000, RA, 0, 0);
			else if (i % 4 == 2)
				p = pkt(client[i], 40000, SV, 443, SYN, 100, 0); /* retransmitted */
			else
				p = pkt(client[i], 40000, SV, 443, ACK, 101, 10); /* the answer not captured */
			flow_packet(one.t, &p, NULL, ts);
			*flow_slot(piped.t) = p;
			flow_push(piped.t, ts, NULL, false);
		}
	flow_drain(piped.t);
	flow_finish(one.t, T0 + 10 * S);
	flow_finish(piped.t, T0 + 10 * S);
	CU_ASSERT_EQUAL(one.s.n, 12);
	CU_ASSERT_EQUAL(piped.s.n, one.s.n);
	int kinds = 0;
	for (int i = 0; i < 12 && i < one.s.n; i++) {
		CU_ASSERT_EQUAL(piped.s.v[i], one.s.v[i]);
		CU_ASSERT_STRING_EQUAL(piped.s.history[i], one.s.history[i]);
		CU_ASSERT_EQUAL(piped.s.pkts[i], 4);
		CU_ASSERT_EQUAL(one.s.pkts[i], 4);
		kinds |= 1 << one.s.v[i];
	}
	CU_ASSERT_EQUAL(kinds, 1 << FV_ESTABLISHED | 1 << FV_RESET | 1 << FV_NO_REPLY | 1 << FV_ONE_SIDED);
	flow_free(one.t);
	flow_free(piped.t);
}

static void test_syn_answered_by_synack_is_established(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(C, 40000, SV, 443, SYN, 100, 0), T0);
	feed(&r, pkt(SV, 443, C, 40000, SA, 900, 0), T0 + MS);
	feed(&r, pkt(C, 40000, SV, 443, ACK, 101, 0), T0 + 2 * MS);
	finish(&r, T0 + 10 * S);
	CU_ASSERT_EQUAL(r.s.n, 1);
	CU_ASSERT_EQUAL(r.s.v[0], FV_ESTABLISHED);
	CU_ASSERT_EQUAL(r.s.client_port[0], 40000);
	flow_free(r.t);
}

static void test_syn_answered_by_rst_is_reset(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(C, 40000, SV, 8080, SYN, 100, 0), T0);
	feed(&r, pkt(SV, 8080, C, 40000, RA, 0, 0), T0 + MS);
	finish(&r, T0 + 10 * S);
	CU_ASSERT_EQUAL(r.s.v[0], FV_RESET);
	CU_ASSERT_EQUAL(r.s.open[0], FO_FAILED);
	flow_free(r.t);
}

static void test_rst_after_handshake_is_not_a_rejection(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(C, 40000, SV, 61617, SYN, 100, 0), T0);
	feed(&r, pkt(SV, 61617, C, 40000, SA, 900, 0), T0 + MS);
	feed(&r, pkt(SV, 61617, C, 40000, RA, 901, 0), T0 + 2 * MS);
	finish(&r, T0 + 10 * S);
	CU_ASSERT_EQUAL(r.s.v[0], FV_ESTABLISHED);
	flow_free(r.t);
}

static void test_retransmitted_syns_never_answered_are_no_reply(void)
{
	struct run r;
	start(&r, 0);
	for (int i = 0; i < 3; i++)
		feed(&r, pkt(C, 40000, SV, 9883, SYN, 100, 0), T0 + (uint64_t)i * S);
	finish(&r, T0 + 2 * S + MS);
	CU_ASSERT_EQUAL(r.s.n, 1); /* one attempt, not three */
	CU_ASSERT_EQUAL(r.s.v[0], FV_NO_REPLY);
	flow_free(r.t);
}

static void test_lone_syn_at_end_of_capture_is_unverified_but_not_after_patience(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(C, 40000, SV, 9883, SYN, 100, 0), T0);
	finish(&r, T0 + 500 * MS);
	CU_ASSERT_EQUAL(r.s.v[0], FV_UNVERIFIED);
	CU_ASSERT_EQUAL(r.s.open[0], FO_UNKNOWN);
	flow_free(r.t);
	start(&r, 0);
	feed(&r, pkt(C, 40000, SV, 9883, SYN, 100, 0), T0);
	finish(&r, T0 + 4 * S);
	CU_ASSERT_EQUAL(r.s.v[0], FV_NO_REPLY);
	flow_free(r.t);
}

static void test_span_duplicate_syn_is_not_a_retransmission(void)
{
	struct run r;
	start(&r, 0);
	struct dec_pkt p = pkt(C, 40000, SV, 9883, SYN, 100, 0);
	feed(&r, p, T0);
	p.ttl = 63; /* the egress copy, one hop later */
	feed(&r, p, T0 + 8000);
	finish(&r, T0 + 500 * MS);
	CU_ASSERT_EQUAL(r.s.v[0], FV_UNVERIFIED); /* still one SYN: too early to call */
	CU_ASSERT_EQUAL(flow_stats(r.t)->duplicates, 1);
	flow_free(r.t);
}

static void test_client_ack_without_synack_is_one_sided_open(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(C, 40000, SV, 445, SYN, 100, 0), T0);
	feed(&r, pkt(C, 40000, SV, 445, ACK, 101, 0), T0 + MS);
	feed(&r, pkt(C, 40000, SV, 445, ACK | DEC_TH_PSH, 101, 50), T0 + 2 * MS);
	finish(&r, T0 + 10 * S);
	CU_ASSERT_EQUAL(r.s.v[0], FV_ONE_SIDED);
	CU_ASSERT_EQUAL(r.s.open[0], FO_OPEN);
	flow_free(r.t);
}

static void test_midstream_both_ways_is_open_and_direction_comes_from_service_port(void)
{
	static uint8_t svc[2][8192];
	svc[0][61617 >> 3] |= (uint8_t)(1u << (61617 & 7));
	struct run r;
	memset(&r.s, 0, sizeof(r.s));
	r.t = flow_new(0, (const uint8_t(*)[8192])svc, on_settle, &r.s);
	/* The broker speaks first in the capture: the agent is still the client. */
	feed(&r, pkt(SV, 61617, C, 50000, ACK | DEC_TH_PSH, 5, 40), T0);
	feed(&r, pkt(C, 50000, SV, 61617, ACK | DEC_TH_PSH, 9, 40), T0 + MS);
	finish(&r, T0 + S);
	CU_ASSERT_EQUAL(r.s.v[0], FV_MIDSTREAM);
	CU_ASSERT_EQUAL(r.s.open[0], FO_OPEN);
	CU_ASSERT_EQUAL(r.s.client_port[0], 50000);
	flow_free(r.t);
}

static void test_midstream_one_way_is_not_proof(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(C, 50000, SV, 61617, ACK | DEC_TH_PSH, 9, 40), T0);
	finish(&r, T0 + S);
	CU_ASSERT_EQUAL(r.s.v[0], FV_ONE_SIDED);
	CU_ASSERT_EQUAL(r.s.open[0], FO_UNKNOWN);
	flow_free(r.t);
}

static void test_lone_rst_is_not_a_connection(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(SV, 445, C, 40000, RA, 0, 0), T0);
	finish(&r, T0 + S);
	CU_ASSERT_EQUAL(r.s.v[0], FV_NOT_A_CONNECTION);
	flow_free(r.t);
}

static void test_synack_stamped_before_its_syn_keeps_one_flow_and_its_client(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(SV, 443, C, 40000, SA, 900, 0), T0);
	feed(&r, pkt(C, 40000, SV, 443, SYN, 100, 0), T0 + 50000);
	feed(&r, pkt(C, 40000, SV, 443, ACK, 101, 0), T0 + MS);
	finish(&r, T0 + S);
	CU_ASSERT_EQUAL(r.s.n, 1);
	CU_ASSERT_EQUAL(r.s.v[0], FV_ESTABLISHED);
	CU_ASSERT_EQUAL(r.s.client_port[0], 40000);
	flow_free(r.t);
}

static void test_new_syn_after_close_on_same_ports_is_a_new_attempt(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(C, 40000, SV, 443, SYN, 100, 0), T0);
	feed(&r, pkt(SV, 443, C, 40000, RA, 0, 0), T0 + MS);
	feed(&r, pkt(C, 40000, SV, 443, SYN, 7777, 0), T0 + 2 * S);
	feed(&r, pkt(SV, 443, C, 40000, SA, 900, 0), T0 + 2 * S + MS);
	finish(&r, T0 + 3 * S);
	CU_ASSERT_EQUAL(r.s.n, 2);
	CU_ASSERT_EQUAL(r.s.v[0], FV_RESET);
	CU_ASSERT_EQUAL(r.s.v[1], FV_ESTABLISHED);
	flow_free(r.t);
}

static void test_icmp_error_joins_the_flow_it_quotes(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(C, 40000, SV, 9898, SYN, 100, 0), T0);
	struct dec_pkt e = pkt(C, 40000, SV, 9898, 0, 0, 0); /* the quote: the client's SYN */
	e.icmp = DEC_ICMP_PROHIBITED;
	e.quote_ports = true;
	e.quote_dst_bytes = 16;
	feed(&r, e, T0 + MS);
	finish(&r, T0 + S);
	CU_ASSERT_EQUAL(r.s.n, 1);
	CU_ASSERT_EQUAL(r.s.v[0], FV_ICMP_PROHIBITED);
	/* A quote cut before its ports still finds the recent attempt by address. */
	flow_free(r.t);
	start(&r, 0);
	feed(&r, pkt("2001:db8::1", 40000, "2001:db8::2", 9898, SYN, 100, 0), T0);
	e = pkt("2001:db8::1", 0, "2001:db8::2", 0, 0, 0, 0);
	e.icmp = DEC_ICMP_UNREACHABLE;
	e.quote_dst_bytes = 6;
	feed(&r, e, T0 + MS);
	finish(&r, T0 + S);
	CU_ASSERT_EQUAL(r.s.v[0], FV_ICMP_UNREACHABLE);
	CU_ASSERT_EQUAL(flow_stats(r.t)->icmp_matched, 1);
	flow_free(r.t);
}

static void test_table_bound_evicts_oldest_and_counts(void)
{
	struct run r;
	start(&r, 4);
	for (uint16_t i = 0; i < 10; i++)
		feed(&r, pkt(C, (uint16_t)(40000 + i), SV, 443, SYN, 1, 0), T0 + i * MS);
	CU_ASSERT(flow_count(r.t) <= 4);
	CU_ASSERT_EQUAL(flow_stats(r.t)->evicted, 6);
	flow_flush(r.t);
	CU_ASSERT_EQUAL(r.s.n, 6);
	CU_ASSERT_EQUAL(r.s.client_port[0], 40000); /* oldest first */
	finish(&r, T0 + S);
	CU_ASSERT_EQUAL(r.s.n, 10);
	flow_free(r.t);
}

static void test_idle_flows_are_settled_by_packet_time(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(C, 40000, SV, 443, SYN, 1, 0), T0);
	feed(&r, pkt(SV, 443, C, 40000, SA, 1, 0), T0 + MS);
	feed(&r, pkt(C, 40001, SV, 443, SYN, 1, 0), T0 + FLOW_IDLE_NS + 2 * S);
	CU_ASSERT_EQUAL(r.s.n, 1); /* the first went idle and was folded before the end */
	CU_ASSERT_EQUAL(flow_count(r.t), 1);
	finish(&r, T0 + FLOW_IDLE_NS + 3 * S);
	flow_free(r.t);
}

static void test_unanswered_attempts_leave_the_table_sooner_than_open_flows(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(C, 40000, SV, 9883, SYN, 1, 0), T0);                  /* never answered */
	feed(&r, pkt(C, 40001, SV, 443, SYN, 1, 0), T0);
	feed(&r, pkt(SV, 443, C, 40001, SA, 1, 0), T0 + MS);               /* answered, still open */
	feed(&r, pkt(C, 40002, SV, 443, SYN, 1, 0), T0 + FLOW_EMBRYONIC_NS + 2 * S);
	CU_ASSERT_EQUAL(r.s.n, 1);
	CU_ASSERT_EQUAL(r.s.v[0], FV_NO_REPLY);
	CU_ASSERT_EQUAL(r.s.client_port[0], 40000);
	CU_ASSERT_EQUAL(flow_count(r.t), 2);
	finish(&r, T0 + FLOW_EMBRYONIC_NS + 3 * S);
	flow_free(r.t);
}

static void test_history_letters_follow_zeek(void)
{
	struct run r;
	start(&r, 0);
	feed(&r, pkt(C, 40000, SV, 443, SYN, 100, 0), T0);
	feed(&r, pkt(SV, 443, C, 40000, SA, 900, 0), T0 + MS);
	feed(&r, pkt(C, 40000, SV, 443, ACK, 101, 0), T0 + 2 * MS);
	feed(&r, pkt(C, 40000, SV, 443, ACK | DEC_TH_PSH, 101, 10), T0 + 3 * MS);
	feed(&r, pkt(SV, 443, C, 40000, ACK | DEC_TH_FIN, 901, 0), T0 + 4 * MS);
	feed(&r, pkt(C, 40000, SV, 443, SYN, 200, 0), T0 + 2 * S); /* port reuse: a new attempt */
	finish(&r, T0 + 2 * S + MS);
	CU_ASSERT_EQUAL(r.s.n, 2);
	CU_ASSERT_STRING_EQUAL(r.s.history[0], "ShADf");
	CU_ASSERT_STRING_EQUAL(r.s.history[1], "S");
	flow_free(r.t);
}

/* Packet counts saturate (they are 16 bits): a flow answered 65,536 times is still answered. */
static void test_packet_counts_saturate(void)
{
	struct run r;
	start(&r, 0);
	struct dec_pkt q = pkt(C, 40000, SV, 53, 0, 0, 30);
	q.proto = IPPROTO_UDP;
	feed(&r, q, T0);
	struct dec_pkt a = pkt(SV, 53, C, 40000, 0, 0, 60);
	a.proto = IPPROTO_UDP;
	for (uint32_t i = 0; i < 65536; i++)
		feed(&r, a, T0 + (i + 1) * 2 * MS); /* 2 ms apart: not SPAN copies of each other */
	finish(&r, T0 + 200 * S);
	CU_ASSERT_EQUAL(r.s.n, 1);
	CU_ASSERT_EQUAL(r.s.v[0], FV_ESTABLISHED);
	CU_ASSERT_EQUAL(r.s.pkts[0], 1 + 65535);
	flow_free(r.t);
}

/* libtirpc may send an RPC record mark in a segment of its own, the record in the next: the portmapper's
 * GETPORT call and reply are read whole all the same, and the port they name is learnt. */
static void put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static void segment(struct run *r, struct dec_pkt p, const uint8_t *bytes, uint64_t ts)
{
	p.pay_off = 0;
	p.pay_kept = (uint16_t)p.payload;
	flow_packet(r->t, &p, bytes, ts);
}

static void test_an_rpc_record_mark_in_a_segment_of_its_own(void)
{
	uint32_t call[] = {0x1234, 0, 2, 100000, 2, 3, 0, 0, 0, 0, 100005, 3, 6, 0}; /* GETPORT mountd v3 tcp */
	uint32_t reply[] = {0x1234, 1, 0, 0, 0, 0, 20048};
	uint8_t c[sizeof(call)], rp[sizeof(reply)], mark[4];
	for (size_t i = 0; i < sizeof(call) / 4; i++)
		put32(c + 4 * i, call[i]);
	for (size_t i = 0; i < sizeof(reply) / 4; i++)
		put32(rp + 4 * i, reply[i]);
	struct run r;
	start(&r, 0);
	feed(&r, pkt(C, 800, SV, 111, SYN, 100, 0), T0);
	feed(&r, pkt(SV, 111, C, 800, SA, 500, 0), T0 + 1 * MS);
	feed(&r, pkt(C, 800, SV, 111, ACK, 101, 0), T0 + 2 * MS);
	put32(mark, 0x80000000u | sizeof(c));
	segment(&r, pkt(C, 800, SV, 111, ACK, 101, 4), mark, T0 + 3 * MS);
	segment(&r, pkt(C, 800, SV, 111, ACK, 105, sizeof(c)), c, T0 + 4 * MS);
	put32(mark, 0x80000000u | sizeof(rp));
	segment(&r, pkt(SV, 111, C, 800, ACK, 501, 4), mark, T0 + 5 * MS);
	segment(&r, pkt(SV, 111, C, 800, ACK, 505, sizeof(rp)), rp, T0 + 6 * MS);
	finish(&r, T0 + 200 * S);
	CU_ASSERT_EQUAL_FATAL(r.s.n, 1);
	const struct app_state *a = &r.s.app[0];
	CU_ASSERT_EQUAL(a->proto, APP_RPC);
	CU_ASSERT_EQUAL(a->u.rpc.prog, 100000);
	CU_ASSERT_EQUAL(a->u.rpc.calls, 1);
	CU_ASSERT_EQUAL(a->u.rpc.replies, 1);
	CU_ASSERT_EQUAL(a->u.rpc.nlearnt, 1);
	CU_ASSERT_EQUAL(a->u.rpc.learnt_prog[0], 100005);
	CU_ASSERT_EQUAL(a->u.rpc.learnt_port[0], 20048);
	flow_free(r.t);
}

/* The table under churn: 60,000 attempts over 150 s, a third reset (settled 5 s later), a third
 * answered (kept, and found again 120 s later), a third never answered (settled after 65 s), so that
 * flows leave the hash slots in every order while others arrive and the slots grow. A flow lost by the
 * slots would come back as a second flow on its next packet; a flow found twice would be settled twice. */
struct churn {
	uint64_t ts;
	struct dec_pkt p;
};

static int cmp_churn(const void *a, const void *b)
{
	const struct churn *x = a, *y = b;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

struct tally {
	size_t n, by[FV_N];
	uint64_t pkts;
};

static void on_tally(void *ctx, const struct flow_record *r, size_t n)
{
	struct tally *t = ctx;
	for (const struct flow_record *f = r; f < r + n; f++) {
		t->n++;
		t->by[f->verdict]++;
		t->pkts += (uint64_t)f->pkts[0] + f->pkts[1];
	}
}

static void test_flows_are_found_until_settled_under_churn(void)
{
	enum { N = 60000 };
	struct churn *c = xcalloc(4 * N, sizeof(*c));
	size_t n = 0;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (uint32_t i = 0; i < N; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		char cli[32], srv[32];
		snprintf(cli, sizeof(cli), "198.18.%u.%u", (unsigned)(x >> 8 & 255), (unsigned)(x & 255));
		snprintf(srv, sizeof(srv), "198.19.%u.%u", (unsigned)(x >> 24 & 255), (unsigned)(x >> 16 & 255));
		uint16_t sport = (uint16_t)(1024 + (x >> 32) % 60000), dport = (uint16_t)(1 + (x >> 48) % 1000);
		uint64_t t = T0 + i * 2500 * 1000ull;
		c[n++] = (struct churn){t, pkt(cli, sport, srv, dport, SYN, i, 0)};
		if (i % 3 == 0) {
			c[n++] = (struct churn){t + MS, pkt(srv, dport, cli, sport, RA, 0, 0)};
		} else if (i % 3 == 1) {
			c[n++] = (struct churn){t + MS, pkt(srv, dport, cli, sport, SA, 7, 0)};
			c[n++] = (struct churn){t + 2 * MS, pkt(cli, sport, srv, dport, ACK, i + 1, 0)};
			c[n++] = (struct churn){t + 120 * S, pkt(cli, sport, srv, dport, ACK, i + 1, 10)};
		}
	}
	qsort(c, n, sizeof(*c), cmp_churn);
	struct tally tl = {0};
	struct flow_table *t = flow_new(0, NULL, on_tally, &tl);
	for (size_t i = 0; i < n; i++)
		flow_packet(t, &c[i].p, NULL, c[i].ts);
	CU_ASSERT(tl.n > N / 3); /* the resets and the unanswered went while others came */
	flow_finish(t, c[n - 1].ts);
	CU_ASSERT_EQUAL(flow_stats(t)->flows, N);
	CU_ASSERT_EQUAL(tl.n, N);
	CU_ASSERT_EQUAL(tl.by[FV_RESET], N / 3);
	CU_ASSERT_EQUAL(tl.by[FV_ESTABLISHED], N / 3);
	CU_ASSERT_EQUAL(tl.by[FV_NO_REPLY], N / 3);
	CU_ASSERT_EQUAL(tl.pkts, n);
	CU_ASSERT_EQUAL(flow_count(t), 0);
	flow_free(t);
	free(c);
}

/* Each port of the client's once: a flow settled twice, or reported twice by a snapshot, is counted twice. */
struct ports {
	uint8_t seen[65536];
	size_t n, twice;
};

static void on_ports(void *ctx, const struct flow_record *r, size_t n)
{
	struct ports *p = ctx;
	for (const struct flow_record *f = r; f < r + n; f++) {
		p->twice += p->seen[f->client_port]++ != 0;
		p->n++;
	}
}

/* An open flow that stays quiet holds the head of its expiry list for 300 s, while tens of thousands of
 * flows behind it open and close (each leaving its place in two lists) and one in ten stays open: a
 * snapshot then reports every flow held once, the closed ones go after their 5 s, and the end settles
 * each flow once. */
static void test_a_quiet_flow_at_a_list_head_loses_and_repeats_no_flow(void)
{
	enum { N = 50000 };
	struct ports *settled = xcalloc(1, sizeof(*settled)), *held = xcalloc(1, sizeof(*held));
	struct flow_table *t = flow_new(0, NULL, on_ports, settled);
	struct dec_pkt p = pkt(C, 1000, SV, 443, SYN, 1, 0);
	flow_packet(t, &p, NULL, T0);
	p = pkt(SV, 443, C, 1000, SA, 1, 0);
	flow_packet(t, &p, NULL, T0 + MS);
	for (uint32_t i = 0; i < N; i++) {
		uint64_t at = T0 + S + i * MS;
		uint16_t port = (uint16_t)(2000 + i);
		p = pkt(C, port, SV, 445, SYN, 1, 0);
		flow_packet(t, &p, NULL, at);
		p = pkt(SV, 445, C, port, SA, 1, 0);
		flow_packet(t, &p, NULL, at + 100);
		if (i % 10 == 0)
			continue;
		p = pkt(C, port, SV, 445, RA, 2, 0);
		flow_packet(t, &p, NULL, at + 200);
	}
	flow_drain(t);
	CU_ASSERT(settled->n > N / 2); /* closed 5 s before the last packet: settled by the sweeps */
	flow_snapshot(t, T0 + S + N * MS, on_ports, held);
	CU_ASSERT_EQUAL(held->n, flow_count(t));
	CU_ASSERT_EQUAL(held->twice, 0);
	CU_ASSERT(flow_count(t) > N / 10);
	CU_ASSERT_EQUAL(held->seen[1000], 1); /* the quiet one is still there */
	CU_ASSERT_EQUAL(settled->seen[1000], 0);
	flow_finish(t, T0 + S + N * MS);
	CU_ASSERT_EQUAL(settled->n, N + 1);
	CU_ASSERT_EQUAL(settled->twice, 0);
	CU_ASSERT_EQUAL(flow_count(t), 0);
	flow_free(t);
	free(settled);
	free(held);
}

void suite_flow(void)
{
	CU_pSuite s = CU_add_suite("flow", NULL, NULL);
	TU_ADD(s, test_hash_of_words_is_the_hash_of_the_bytes);
	TU_ADD(s, test_pipeline_judges_like_one_packet_at_a_time);
	TU_ADD(s, test_syn_answered_by_synack_is_established);
	TU_ADD(s, test_syn_answered_by_rst_is_reset);
	TU_ADD(s, test_rst_after_handshake_is_not_a_rejection);
	TU_ADD(s, test_retransmitted_syns_never_answered_are_no_reply);
	TU_ADD(s, test_lone_syn_at_end_of_capture_is_unverified_but_not_after_patience);
	TU_ADD(s, test_span_duplicate_syn_is_not_a_retransmission);
	TU_ADD(s, test_client_ack_without_synack_is_one_sided_open);
	TU_ADD(s, test_midstream_both_ways_is_open_and_direction_comes_from_service_port);
	TU_ADD(s, test_midstream_one_way_is_not_proof);
	TU_ADD(s, test_lone_rst_is_not_a_connection);
	TU_ADD(s, test_synack_stamped_before_its_syn_keeps_one_flow_and_its_client);
	TU_ADD(s, test_new_syn_after_close_on_same_ports_is_a_new_attempt);
	TU_ADD(s, test_icmp_error_joins_the_flow_it_quotes);
	TU_ADD(s, test_table_bound_evicts_oldest_and_counts);
	TU_ADD(s, test_idle_flows_are_settled_by_packet_time);
	TU_ADD(s, test_history_letters_follow_zeek);
	TU_ADD(s, test_unanswered_attempts_leave_the_table_sooner_than_open_flows);
	TU_ADD(s, test_packet_counts_saturate);
	TU_ADD(s, test_a_quiet_flow_at_a_list_head_loses_and_repeats_no_flow);
	TU_ADD(s, test_an_rpc_record_mark_in_a_segment_of_its_own);
	TU_ADD(s, test_flows_are_found_until_settled_under_churn);
}
