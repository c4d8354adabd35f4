/* test_classify.c: settled flows x the demo site's graph -> edge rows and unexpected rows, with the
 * reasons a person reads. Flows are fed through the real flow table. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "flowaudit/classify.h"
#include "flowaudit/util.h"
#include "testutil.h"

#define S 1000000000ull
#define MS 1000000ull
#define T0 (1700000000ull * S)

struct world {
	struct rules r;
	struct site s;
	struct graph g;
	struct cls c;
	struct flow_table *t;
};

static void on_settle(void *ctx, const struct flow *f, enum flow_verdict v)
{
	cls_flow(ctx, f, v);
}

/* As in audit.c: every test also runs the classifier's look-ahead (what cls_flow finds prepared). */
static void on_prefetch(void *ctx, const struct flow *f, int stage)
{
	cls_prefetch(ctx, f, stage);
}

static void setup(struct world *w, const char *site_text)
{
	struct diag d;
	diag_init(&d);
	rules_init(&w->r);
	CU_ASSERT_FATAL(rules_load(&w->r, "rules/peergfs.rules", &d) == 0);
	const char *path = site_text ? tu_write("classify.site", site_text, (size_t)-1) : "rules/demo.site";
	CU_ASSERT_FATAL(site_load(&w->s, path, &w->r, &d) == 0);
	graph_build(&w->g, &w->r, &w->s);
	cls_init(&w->c, &w->g);
	w->t = flow_new(0, (const uint8_t(*)[8192])w->g.ports, on_settle, &w->c);
	flow_set_prefetch(w->t, on_prefetch);
	diag_free(&d);
}

static void teardown(struct world *w)
{
	flow_free(w->t);
	cls_free(&w->c);
	graph_free(&w->g);
	site_free(&w->s);
	rules_free(&w->r);
}

static void tcp(struct world *w, const char *c, const char *s, uint16_t port, bool answered, uint64_t at)
{
	static uint16_t sport = 30000;
	struct dec_pkt p;
	memset(&p, 0, sizeof(p));
	addr_parse(c, p.src);
	addr_parse(s, p.dst);
	p.proto = IPPROTO_TCP;
	p.sport = sport++;
	p.dport = port;
	p.tcp_flags = DEC_TH_SYN;
	flow_packet(w->t, &p, at);
	if (answered) {
		struct dec_pkt q = p;
		memcpy(q.src, p.dst, 16);
		memcpy(q.dst, p.src, 16);
		q.sport = p.dport;
		q.dport = p.sport;
		q.tcp_flags = DEC_TH_SYN | DEC_TH_ACK;
		flow_packet(w->t, &q, at + MS);
	} else {
		flow_packet(w->t, &p, at + S);
		flow_packet(w->t, &p, at + 2 * S);
	}
}

static void done(struct world *w, uint64_t end)
{
	flow_finish(w->t, end);
	cls_finish(&w->c);
}

static const struct cls_unexpected *unexpected(const struct world *w, uint16_t port)
{
	for (size_t i = 0; i < w->c.nunexp; i++)
		if (w->c.unexp[i].port == port)
			return &w->c.unexp[i];
	return NULL;
}

static const struct cls_row *row(const struct world *w, const char *client, const char *server, uint16_t port)
{
	for (size_t i = 0; i < w->c.nrows; i++) {
		const struct graph_edge *e = &w->g.edges[w->c.rows[i].edge];
		if (e->port == port && !strcmp(graph_end_name(&w->g, e->client), client) &&
		    !strcmp(graph_end_name(&w->g, e->server), server))
			return &w->c.rows[i];
	}
	return NULL;
}

static void test_plain_61616_under_tls_required_is_unexpected_with_the_forbid_reason(void)
{
	struct world w;
	setup(&w, NULL);
	tcp(&w, "198.51.100.15", "192.0.2.10", 61616, true, T0);
	done(&w, T0 + 10 * S);
	const struct cls_unexpected *u = unexpected(&w, 61616);
	CU_ASSERT_FATAL(u != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(u->why, "plain-text broker link"));
	CU_ASSERT_EQUAL(u->status, CLS_OK);
	teardown(&w);
}

static void test_reverse_direction_is_named_as_such(void)
{
	struct world w;
	setup(&w, NULL);
	tcp(&w, "198.51.100.11", "203.0.113.20", 9883, false, T0);
	done(&w, T0 + 10 * S);
	const struct cls_unexpected *u = unexpected(&w, 9883);
	CU_ASSERT_FATAL(u != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(u->why, "wrong direction"));
	CU_ASSERT_EQUAL(u->status, CLS_BLOCKED);
	CU_ASSERT_EQUAL(u->reason, CLS_R_NO_REPLY);
	teardown(&w);
}

static void test_ignored_and_outside_traffic_is_not_a_finding(void)
{
	struct world w;
	setup(&w, NULL);
	tcp(&w, "198.51.100.11", "192.0.2.11", 88, true, T0);       /* Kerberos between site hosts */
	tcp(&w, "198.18.0.1", "198.18.0.2", 445, true, T0);          /* neither end in the site */
	tcp(&w, "198.51.100.11", "198.18.0.9", 8888, true, T0);      /* one end outside, not a graph port */
	done(&w, T0 + 10 * S);
	CU_ASSERT_EQUAL(w.c.nunexp, 0);
	CU_ASSERT_EQUAL(w.c.ignored, 1);
	CU_ASSERT_EQUAL(w.c.outside, 2);
	teardown(&w);
}

static void test_required_edges_without_traffic_are_missing_and_optional_ones_are_not_rows(void)
{
	struct world w;
	setup(&w, NULL);
	done(&w, T0);
	const struct cls_row *r = row(&w, "ontap1-n1", "agent-ontap", 9883);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->status, CLS_MISSING);
	CU_ASSERT_PTR_NULL(row(&w, "agent-ontap", "ontap1-data", 139));
	CU_ASSERT(w.c.optional_unseen > 0);
	CU_ASSERT(cls_has_findings(&w.c));
	teardown(&w);
}

static void test_alternative_port_satisfies_the_group(void)
{
	struct world w;
	setup(&w, "set tls optional\n"
		  "host pmc1 192.0.2.10 role=pmc,broker\n"
		  "host a1 198.51.100.10 role=agent\n");
	tcp(&w, "198.51.100.10", "192.0.2.10", 61616, true, T0);
	done(&w, T0 + 10 * S);
	const struct cls_row *plain = row(&w, "a1", "pmc1", 61616);
	CU_ASSERT_FATAL(plain != NULL);
	CU_ASSERT_EQUAL(plain->status, CLS_OK);
	CU_ASSERT_PTR_NULL(row(&w, "a1", "pmc1", 61617)); /* not missing: 61616 stands for the group */
	CU_ASSERT_EQUAL(w.c.nunexp, 0);
	teardown(&w);
}

static void test_mixed_outcomes_are_degraded(void)
{
	struct world w;
	setup(&w, NULL);
	tcp(&w, "198.51.100.10", "192.0.2.11", 61617, true, T0);
	tcp(&w, "198.51.100.10", "192.0.2.11", 61617, false, T0 + S);
	done(&w, T0 + 10 * S);
	const struct cls_row *r = row(&w, "agent-ntx", "broker2", 61617);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->status, CLS_DEGRADED);
	CU_ASSERT_EQUAL(r->reason, CLS_R_NO_REPLY);
	CU_ASSERT_EQUAL(r->n.attempts, 2);
	CU_ASSERT_EQUAL(r->n.established, 1);
	teardown(&w);
}

static void test_internet_edge_matches_any_outside_address(void)
{
	struct world w;
	setup(&w, NULL);
	tcp(&w, "192.0.2.10", "198.18.7.7", 443, true, T0);
	done(&w, T0 + 10 * S);
	const struct cls_row *r = row(&w, "pmc1", "internet", 443);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->status, CLS_OK);
	char buf[50];
	CU_ASSERT_STRING_EQUAL(addr_str(r->server.a, buf), "198.18.7.7");
	teardown(&w);
}

/* A flood of spoofed sources makes the named rows of its first sources and one row for the rest, and
 * leaves nothing behind in the pair cache. */
static void test_spoofed_sources_make_one_row_and_are_not_remembered(void)
{
	struct world w;
	setup(&w, NULL);
	tcp(&w, "198.51.100.10", "192.0.2.11", 61617, true, T0);
	char src[32];
	for (unsigned i = 0; i < 3000; i++) {
		snprintf(src, sizeof(src), "100.64.%u.%u", i / 250, i % 250 + 1);
		tcp(&w, src, "198.51.100.11", 9883, false, T0 + S + i * MS);
	}
	flow_finish(w.t, T0 + 100 * S);
	CU_ASSERT_EQUAL(w.c.npairs, 1); /* the agent's broker link only */
	cls_finish(&w.c);
	CU_ASSERT_EQUAL_FATAL(w.c.nunexp, CLS_OUTSIDE_NAMED + 1);
	size_t any = 0;
	uint64_t attempts = 0;
	for (size_t i = 0; i < w.c.nunexp; i++) {
		any += w.c.unexp[i].client_any;
		attempts += w.c.unexp[i].n.attempts;
		CU_ASSERT_EQUAL(w.c.unexp[i].status, CLS_BLOCKED);
		if (w.c.unexp[i].client_any)
			CU_ASSERT_EQUAL(w.c.unexp[i].n.attempts, 3000 - CLS_OUTSIDE_NAMED);
	}
	CU_ASSERT_EQUAL(any, 1);
	CU_ASSERT_EQUAL(attempts, 3000);
	teardown(&w);
}

/* Admin workstations (the admins' IPv6 /64) reach the management center: each is its own pair and row.
 * Five thousand in a first round; in a second, the same five thousand again between five thousand new
 * ones. The pair cache grows past its first size in both rounds, the second time while pairs found
 * ahead of settling wait to be used (and must not be used from the cache's old place). Every flow lands
 * on its own row. */
static void test_remembered_pairs_land_where_they_first_did_after_the_cache_grows(void)
{
	struct world w;
	setup(&w, NULL);
	char src[64];
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(src, sizeof(src), "2001:db8:a::%x", i + 1);
		tcp(&w, src, "2001:db8:1::10", 8443, i % 7 != 0, T0 + i * MS);
	}
	flow_finish(w.t, T0 + 400 * S);
	CU_ASSERT_EQUAL(w.c.npairs, 5000);
	for (unsigned i = 0; i < 10000; i++) {
		unsigned host = i % 2 ? 5000 + i / 2 : i / 2; /* old and new in turn */
		snprintf(src, sizeof(src), "2001:db8:a::%x", host + 1);
		tcp(&w, src, "2001:db8:1::10", 8443, host % 7 != 0, T0 + 400 * S + i * MS);
	}
	flow_finish(w.t, T0 + 800 * S);
	CU_ASSERT_EQUAL(w.c.npairs, 10000);
	cls_finish(&w.c);
	size_t rows = 0, twice = 0, blocked = 0;
	uint64_t attempts = 0;
	for (size_t i = 0; i < w.c.nrows; i++) {
		const struct cls_row *r = &w.c.rows[i];
		if (w.g.edges[r->edge].port != 8443 || !r->n.attempts)
			continue;
		rows++;
		twice += r->n.attempts == 2;
		attempts += r->n.attempts;
		blocked += r->status == CLS_BLOCKED;
	}
	CU_ASSERT_EQUAL(rows, 10000);
	CU_ASSERT_EQUAL(twice, 5000);
	CU_ASSERT_EQUAL(attempts, 15000);
	CU_ASSERT_EQUAL(blocked, 1429); /* every seventh host never answered: 0, 7, ..., 9996 */
	CU_ASSERT_EQUAL(w.c.nunexp, 0);
	teardown(&w);
}

/* Two workers' shares of one capture, merged: rows met by both add up, the others are kept. */
static void test_merge_adds_shares(void)
{
	struct world a, b;
	setup(&a, NULL);
	setup(&b, NULL);
	tcp(&a, "198.51.100.10", "192.0.2.11", 61617, true, T0);
	tcp(&b, "198.51.100.10", "192.0.2.11", 61617, false, T0 + S);
	tcp(&b, "198.51.100.15", "192.0.2.10", 61616, true, T0);
	flow_finish(a.t, T0 + 10 * S);
	flow_finish(b.t, T0 + 10 * S);
	struct cls m;
	cls_init(&m, &a.g);
	cls_merge(&m, &a.c);
	cls_merge(&m, &b.c);
	cls_finish(&m);
	const struct cls_row *r = NULL;
	for (size_t i = 0; i < m.nrows; i++)
		if (a.g.edges[m.rows[i].edge].port == 61617 && m.rows[i].n.attempts)
			r = &m.rows[i];
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->n.attempts, 2);
	CU_ASSERT_EQUAL(r->status, CLS_DEGRADED);
	CU_ASSERT_EQUAL_FATAL(m.nunexp, 1);
	CU_ASSERT_EQUAL(m.unexp[0].port, 61616);
	CU_ASSERT_PTR_NOT_NULL(strstr(m.unexp[0].why, "plain-text broker link"));
	cls_free(&m);
	teardown(&a);
	teardown(&b);
}

void suite_classify(void)
{
	CU_pSuite s = CU_add_suite("classify", NULL, NULL);
	TU_ADD(s, test_plain_61616_under_tls_required_is_unexpected_with_the_forbid_reason);
	TU_ADD(s, test_remembered_pairs_land_where_they_first_did_after_the_cache_grows);
	TU_ADD(s, test_reverse_direction_is_named_as_such);
	TU_ADD(s, test_ignored_and_outside_traffic_is_not_a_finding);
	TU_ADD(s, test_required_edges_without_traffic_are_missing_and_optional_ones_are_not_rows);
	TU_ADD(s, test_alternative_port_satisfies_the_group);
	TU_ADD(s, test_mixed_outcomes_are_degraded);
	TU_ADD(s, test_internet_edge_matches_any_outside_address);
	TU_ADD(s, test_spoofed_sources_make_one_row_and_are_not_remembered);
	TU_ADD(s, test_merge_adds_shares);
}
