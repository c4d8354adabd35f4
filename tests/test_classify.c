/* test_classify.c: settled flows x the demo site's graph -> edge rows and unexpected rows, with the
 * reasons a person reads. Flows are records built here, as the flow table hands them over. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "flowaudit/classify.h"
#include "flowaudit/report.h"
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
	struct flow_record *rec; /* records not handed to the classifier yet */
	size_t nrec, cap_rec;
	uint8_t *turned;         /* the last batch's: each record taken from its other end */
	char why[512];
};

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
	w->rec = NULL;
	w->turned = NULL;
	w->nrec = w->cap_rec = 0;
	diag_free(&d);
}

static void teardown(struct world *w)
{
	free(w->rec);
	free(w->turned);
	cls_free(&w->c);
	graph_free(&w->g);
	site_free(&w->s);
	rules_free(&w->r);
}

/* A TCP attempt from c to s:port, answered or not, as the flow table would settle it. */
static void tcp(struct world *w, const char *c, const char *s, uint16_t port, bool answered, uint64_t at)
{
	static uint16_t sport = 30000;
	GROW(w->rec, w->cap_rec, w->nrec);
	struct flow_record *r = &w->rec[w->nrec++];
	memset(r, 0, sizeof(*r));
	addr_parse(c, r->client);
	addr_parse(s, r->server);
	r->proto = IPPROTO_TCP;
	r->client_port = sport++;
	r->server_port = port;
	r->verdict = answered ? FV_ESTABLISHED : FV_NO_REPLY;
	r->open = answered ? FO_OPEN : FO_FAILED;
	r->first_ns = at;
	r->last_ns = answered ? at + MS : at + 2 * S;
	strcpy(r->history, answered ? "Sh" : "ST");
}

/* Hand every record so far to the classifier, in one batch. */
static void settle(struct world *w)
{
	w->turned = xrealloc(w->turned, w->nrec + 1);
	memset(w->turned, 0xff, w->nrec + 1); /* what the classifier leaves unsaid shows */
	cls_flows(&w->c, w->rec, w->nrec, w->turned);
	w->nrec = 0;
}

static void done(struct world *w)
{
	settle(w);
	cls_finish(&w->c, true);
}

static const char *why(struct world *w, const struct cls_unexpected *u)
{
	char *s = rep_why(&w->g, u);
	snprintf(w->why, sizeof(w->why), "%s", s);
	free(s);
	return w->why;
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
	done(&w);
	const struct cls_unexpected *u = unexpected(&w, 61616);
	CU_ASSERT_FATAL(u != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(why(&w, u), "plain-text broker link"));
	CU_ASSERT_EQUAL(u->status, CLS_OK);
	teardown(&w);
}

static void test_reverse_direction_is_named_as_such(void)
{
	struct world w;
	setup(&w, NULL);
	tcp(&w, "198.51.100.11", "203.0.113.20", 9883, false, T0);
	done(&w);
	const struct cls_unexpected *u = unexpected(&w, 9883);
	CU_ASSERT_FATAL(u != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(why(&w, u), "wrong direction"));
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
	done(&w);
	CU_ASSERT_EQUAL(w.c.nunexp, 0);
	CU_ASSERT_EQUAL(w.c.ignored, 1);
	CU_ASSERT_EQUAL(w.c.outside, 2);
	teardown(&w);
}

static void test_required_edges_without_traffic_are_missing_and_optional_ones_are_not_rows(void)
{
	struct world w;
	setup(&w, NULL);
	done(&w);
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
	done(&w);
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
	done(&w);
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
	done(&w);
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
	settle(&w);
	/* Nothing is remembered but the rows: the named sources' and the one for the rest, and the
	 * agent's broker link. */
	CU_ASSERT_EQUAL(w.c.nothers, 0);
	CU_ASSERT_EQUAL(w.c.ix.n, w.c.nrows + w.c.nunexp);
	CU_ASSERT_EQUAL(w.c.nrows, 1);
	cls_finish(&w.c, true);
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
 * ones, each round one batch. The index grows past its first size in both rounds, the second time while
 * entries found ahead of landing wait to be used (and must not be used from the index's old place).
 * Every flow lands on its own row. */
static void test_remembered_pairs_land_where_they_first_did_after_the_cache_grows(void)
{
	struct world w;
	setup(&w, NULL);
	char src[64];
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(src, sizeof(src), "2001:db8:a::%x", i + 1);
		tcp(&w, src, "2001:db8:1::10", 8443, i % 7 != 0, T0 + i * MS);
	}
	settle(&w);
	CU_ASSERT_EQUAL(w.c.ix.n, 5000);
	for (unsigned i = 0; i < 10000; i++) {
		unsigned host = i % 2 ? 5000 + i / 2 : i / 2; /* old and new in turn */
		snprintf(src, sizeof(src), "2001:db8:a::%x", host + 1);
		tcp(&w, src, "2001:db8:1::10", 8443, host % 7 != 0, T0 + 400 * S + i * MS);
	}
	settle(&w);
	CU_ASSERT_EQUAL(w.c.ix.n, 10000);
	cls_finish(&w.c, true);
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

/* A pair first seen several times in one batch, closer together than the classifier looks ahead: the
 * first makes the row, the others land on it (a look-ahead that found nothing is not trusted). */
static void test_a_new_pair_repeated_within_a_batch_makes_one_row(void)
{
	struct world w;
	setup(&w, NULL);
	for (int i = 0; i < 6; i++)
		tcp(&w, "198.51.100.10", "192.0.2.11", 61617, i != 3, T0 + (uint64_t)i * S);
	for (int i = 0; i < 3; i++)
		tcp(&w, "198.51.100.10", "203.0.113.20", 3389, true, T0 + (uint64_t)i * S);
	done(&w);
	const struct cls_row *r = row(&w, "agent-ntx", "broker2", 61617);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->n.attempts, 6);
	CU_ASSERT_EQUAL(r->n.no_reply, 1);
	CU_ASSERT_EQUAL(r->status, CLS_DEGRADED);
	size_t rows61617 = 0;
	for (size_t i = 0; i < w.c.nrows; i++)
		rows61617 += w.c.rows[i].port == 61617 && w.c.rows[i].n.attempts;
	CU_ASSERT_EQUAL(rows61617, 1);
	CU_ASSERT_EQUAL_FATAL(w.c.nunexp, 1);
	CU_ASSERT_EQUAL(w.c.unexp[0].n.attempts, 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(why(&w, &w.c.unexp[0]), "tcp/3389 is not a PeerGFS port"));
	teardown(&w);
}

/* The report order (cls_finish with sort) agrees with cls_row_cmp and cls_unexp_cmp, by the two-word
 * radix sort when every address is IPv4 and by the five-word sort when one is not. */
static void check_order(struct world *w)
{
	for (size_t i = 1; i < w->c.nrows; i++)
		CU_ASSERT(cls_row_cmp(&w->c, cls_row_at(&w->c, i - 1), cls_row_at(&w->c, i)) < 0);
	for (size_t i = 1; i < w->c.nunexp; i++)
		CU_ASSERT(cls_unexp_cmp(cls_unexp_at(&w->c, i - 1), cls_unexp_at(&w->c, i)) < 0);
}

static void test_report_order_agrees_with_the_comparisons(void)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct world w;
		setup(&w, NULL);
		char src[64], dst[64];
		uint64_t x = 0x9e3779b97f4a7c15ull;
		for (int i = 0; i < 3000; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			snprintf(src, sizeof(src), "192.0.2.%u", (unsigned)(130 + x % 100)); /* admins */
			snprintf(dst, sizeof(dst), "203.0.113.%u", (unsigned)(x >> 8) % 80);
			tcp(&w, src, x % 3 ? "192.0.2.10" : dst, x % 3 ? 8443 : (uint16_t)(3000 + (x >> 20) % 50), (x >> 30) % 4 != 0,
			    T0 + (uint64_t)i * MS);
		}
		if (v6)
			tcp(&w, "2001:db8:a::5", "2001:db8:1::10", 8443, true, T0);
		done(&w);
		CU_ASSERT(w.c.nrows > 50);
		CU_ASSERT(w.c.nunexp > 50);
		check_order(&w);
		teardown(&w);
	}
}

/* Outcome counts are 32-bit and stop at their top when shares are added; attempts are never capped. */
static void test_outcome_counts_stop_at_their_top(void)
{
	struct world a;
	setup(&a, NULL);
	tcp(&a, "198.51.100.10", "192.0.2.11", 61617, true, T0);
	settle(&a);
	CU_ASSERT_EQUAL_FATAL(a.c.nrows, 1);
	a.c.rows[0].n.established = UINT32_MAX - 1;
	a.c.rows[0].n.attempts = (uint64_t)UINT32_MAX + 7;
	struct cls m;
	cls_init(&m, &a.g);
	cls_merge(&m, &a.c);
	cls_merge(&m, &a.c);
	CU_ASSERT_EQUAL_FATAL(m.nrows, 1);
	CU_ASSERT_EQUAL(m.rows[0].n.established, UINT32_MAX);
	CU_ASSERT_EQUAL(m.rows[0].n.attempts, 2 * ((uint64_t)UINT32_MAX + 7));
	cls_free(&m);
	teardown(&a);
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
	settle(&a);
	settle(&b);
	struct cls m;
	cls_init(&m, &a.g);
	cls_merge(&m, &a.c);
	cls_merge(&m, &b.c);
	cls_finish(&m, true);
	const struct cls_row *r = NULL;
	for (size_t i = 0; i < m.nrows; i++)
		if (a.g.edges[m.rows[i].edge].port == 61617 && m.rows[i].n.attempts)
			r = &m.rows[i];
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->n.attempts, 2);
	CU_ASSERT_EQUAL(r->status, CLS_DEGRADED);
	CU_ASSERT_EQUAL_FATAL(m.nunexp, 1);
	CU_ASSERT_EQUAL(m.unexp[0].port, 61616);
	CU_ASSERT_PTR_NOT_NULL(strstr(why(&a, &m.unexp[0]), "plain-text broker link"));
	cls_free(&m);
	teardown(&a);
	teardown(&b);
}

/* The seed's placement: an agent and its partner storage on one subnet, handshakes under a millisecond.
 * Twenty handshakes of agent-ontap's partner paths, one slow: the 95th percentile holds; more slow ones
 * or a TTL that lost one hop are findings; the site's latency_ms moves the limit. */
static void placement_flows(struct world *w, unsigned slow, uint8_t node_ttl)
{
	for (unsigned i = 0; i < 20; i++) {
		tcp(w, "203.0.113.20", "198.51.100.11", 9883, true, T0 + i * S); /* FPolicy, node to agent */
		w->rec[w->nrec - 1].rtt_us = i < slow ? 5000 : 300;
		w->rec[w->nrec - 1].ttl[0] = node_ttl;
		w->rec[w->nrec - 1].ttl[1] = 128;
	}
}

static void test_partner_placement_time_and_hops(void)
{
	struct world w;
	setup(&w, NULL);
	placement_flows(&w, 1, 64);
	done(&w);
	struct cls_place *p;
	uint32_t limit;
	size_t n = cls_placement(&w.c, &p, &limit);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(limit, 1000);
	CU_ASSERT(p[0].lat.n == 20 && p[0].lat.max_us == 5000 && cls_lat_quantile(&p[0].lat, 0.5) == 350);
	CU_ASSERT(!p[0].slow && !p[0].routed && p[0].lat.hops[0] == 0 && p[0].lat.hops[1] == 0);
	CU_ASSERT_EQUAL(w.c.placement_findings, 0);
	free(p);
	teardown(&w);

	setup(&w, NULL);
	placement_flows(&w, 2, 63); /* 2 of 20 slow: over at the 95th; the node's packets crossed a router */
	done(&w);
	n = cls_placement(&w.c, &p, &limit);
	CU_ASSERT(n == 1 && p[0].slow && p[0].routed && p[0].lat.hops[0] == 1);
	CU_ASSERT(w.c.placement_findings == 1 && cls_has_findings(&w.c));
	char *words = rep_place_words(&w.g, &p[0], limit);
	CU_ASSERT_PTR_NOT_NULL(strstr(words, "over the 1.00 ms limit"));
	CU_ASSERT_PTR_NOT_NULL(strstr(words, "routed, not on the same subnet"));
	free(words);
	free(p);
	teardown(&w);

	FILE *f = fopen("rules/demo.site", "r");
	CU_ASSERT_FATAL(f != NULL);
	char *site = xcalloc(1, 65536);
	size_t got = fread(site, 1, 65535, f);
	fclose(f);
	CU_ASSERT_FATAL(got > 0 && got < 65535);
	char *more = xasprintf("set latency_ms 6\n%s", site);
	setup(&w, more);
	placement_flows(&w, 2, 64);
	done(&w);
	n = cls_placement(&w.c, &p, &limit);
	CU_ASSERT(n == 1 && limit == 6000 && !p[0].slow && w.c.placement_findings == 0);
	free(p);
	teardown(&w);
	free(more);
	free(site);
}

/* What the port is for: plain OpenWire on the broker's TLS port, SMB 1 where the site sets smb_min 2. */
static void test_the_wrong_application_on_a_port(void)
{
	struct world w;
	setup(&w, NULL);
	tcp(&w, "198.51.100.11", "192.0.2.10", 61617, true, T0); /* agent-ontap to pmc1 */
	struct app_state *a = &w.rec[w.nrec - 1].app;
	a->proto = APP_OPENWIRE;
	a->u.openwire.magic[0] = a->u.openwire.magic[1] = 1;
	tcp(&w, "198.51.100.11", "203.0.113.23", 445, true, T0); /* agent-ontap to ontap1-data */
	a = &w.rec[w.nrec - 1].app;
	a->proto = APP_SMB;
	a->u.smb.smb1[0] = a->u.smb.smb1[1] = 1;
	done(&w);
	const struct cls_row *r = row(&w, "agent-ontap", "pmc1", 61617);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(r->status == CLS_DEGRADED && r->reason == CLS_R_WRONG_PROTOCOL);
	r = row(&w, "agent-ontap", "ontap1-data", 445);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(r->status == CLS_OK); /* the site does not ask for SMB 2 */
	teardown(&w);

	setup(&w, "set smb_min 2\nhost agent1 198.51.100.11 role=agent partner=ontap1\n"
		  "host ontap1-data 203.0.113.23 role=ontap-data system=ontap1\n");
	tcp(&w, "198.51.100.11", "203.0.113.23", 445, true, T0);
	a = &w.rec[w.nrec - 1].app;
	a->proto = APP_SMB;
	a->u.smb.smb1[0] = a->u.smb.smb1[1] = 1;
	done(&w);
	r = row(&w, "agent1", "ontap1-data", 445);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(r->status == CLS_DEGRADED && r->reason == CLS_R_SMB1);
	teardown(&w);
}

/* A portmapper flow from c to s on proto/111 whose reply named port for program. */
static void portmap(struct world *w, const char *c, const char *s, uint8_t proto, uint32_t program, uint16_t port,
		    bool udp, uint64_t at)
{
	tcp(w, c, s, 111, true, at);
	struct flow_record *r = &w->rec[w->nrec - 1];
	r->proto = proto;
	r->app.proto = APP_RPC;
	r->app.u.rpc.prog = APP_RPC_PORTMAP;
	r->app.u.rpc.accepted = 1;
	r->app.u.rpc.nlearnt = 1;
	r->app.u.rpc.learnt_prog[0] = program;
	r->app.u.rpc.learnt_port[0] = port;
	r->app.u.rpc.learnt_udp = udp;
}

static const struct cls_row *port_row(const struct cls *c, uint16_t port)
{
	for (size_t i = 0; i < c->nrows; i++)
		if (c->rows[i].port == port)
			return &c->rows[i];
	return NULL;
}

/* NFS v3's mountd: its port comes from the portmapper. A flow to it that settles before the portmapper's
 * flow is unexpected only until the reply is seen; one after lands on the learnt row at once; a port the
 * reply did not name, a program the pack does not learn, and another client stay unexpected. Across two
 * workers' shares, a port one of them learnt takes the other's flows. */
static void test_a_port_the_portmapper_names_is_an_expected_path(void)
{
	static const char site[] = "host agent1 192.0.2.20 role=agent partner=ontap1 data=nfs\n"
				   "host agent2 192.0.2.21 role=agent partner=ontap1\n"
				   "host ontap1-data 192.0.2.30 role=ontap-data system=ontap1\n";
	struct world w;
	setup(&w, site);
	tcp(&w, "192.0.2.20", "192.0.2.30", 635, false, T0);          /* mountd, settled first: blocked */
	tcp(&w, "192.0.2.20", "192.0.2.30", 4045, true, T0);          /* nlockmgr: never named */
	tcp(&w, "192.0.2.21", "192.0.2.30", 635, true, T0);           /* another agent, no portmapper path */
	settle(&w);
	CU_ASSERT_EQUAL(w.c.nunexp, 3);
	portmap(&w, "192.0.2.20", "192.0.2.30", IPPROTO_UDP, 100005, 635, false, T0 + S);
	portmap(&w, "192.0.2.20", "192.0.2.30", IPPROTO_UDP, 100011, 875, false, T0 + S); /* rquota: not learnt */
	tcp(&w, "192.0.2.20", "192.0.2.30", 635, false, T0 + 3 * S);
	tcp(&w, "192.0.2.20", "192.0.2.30", 875, true, T0 + 3 * S);
	done(&w);
	const struct cls_row *r = port_row(&w.c, 635);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(r->learnt && r->n.attempts == 2 && r->status == CLS_BLOCKED && r->reason == CLS_R_NO_REPLY);
	CU_ASSERT_EQUAL(cls_row_level(&w.c, r), LEVEL_REQUIRED);
	CU_ASSERT_STRING_EQUAL(w.r.edges[w.g.edges[r->edge].rule].requirement, "ONTAP NFS v3");
	const struct cls_learnt *l = cls_row_learnt(&w.c, r);
	CU_ASSERT(l && l->program == 100005 && l->pm_proto == IPPROTO_UDP && l->pm_port == 111 && l->at_ns == T0 + S);
	CU_ASSERT_EQUAL(w.c.summary[CLS_BLOCKED], 1);
	CU_ASSERT_EQUAL(w.c.nunexp, 3); /* 4045, 875, and agent2's 635 */
	size_t agent2 = 0;
	for (size_t i = 0; i < w.c.nunexp; i++)
		agent2 += w.c.unexp[i].port == 635;
	CU_ASSERT_EQUAL(agent2, 1);
	char *words = rep_app_words(&w.c, r);
	CU_ASSERT_PTR_NOT_NULL(strstr(words, "mountd (RPC 100005): port learnt from the portmapper (udp/111)"));
	free(words);
	teardown(&w);

	struct world a, b;
	setup(&a, site);
	setup(&b, site);
	portmap(&a, "192.0.2.20", "192.0.2.30", IPPROTO_TCP, 100005, 635, true, T0);
	tcp(&b, "192.0.2.20", "192.0.2.30", 635, true, T0 + S);
	b.rec[b.nrec - 1].proto = IPPROTO_UDP;
	settle(&a);
	settle(&b);
	struct cls m;
	cls_init(&m, &a.g);
	cls_merge(&m, &b.c);
	cls_merge(&m, &a.c);
	cls_finish(&m, true);
	r = port_row(&m, 635);
	CU_ASSERT(r && r->learnt && r->proto == IPPROTO_UDP && r->status == CLS_OK && m.nunexp == 0);
	cls_free(&m);
	teardown(&a);
	teardown(&b);
}

/* A mountd connection whose start the capture missed: its ends were told apart by their ports, and the
 * client's reserved port made the client look like the server. The portmapper named the server's port to
 * that client, so the flow is turned round and lands on the learnt path; without the portmapper's answer
 * it stays as the ports said. */
static void test_a_midstream_flow_to_a_learnt_port_is_turned_round(void)
{
	static const char site[] = "host agent1 192.0.2.20 role=agent partner=ontap1 data=nfs\n"
				   "host ontap1-data 192.0.2.30 role=ontap-data system=ontap1\n";
	for (int taught = 0; taught < 2; taught++) {
		struct world w;
		setup(&w, site);
		if (taught)
			portmap(&w, "192.0.2.20", "192.0.2.30", IPPROTO_TCP, 100005, 20048, false, T0);
		tcp(&w, "192.0.2.30", "192.0.2.20", 714, true, T0 + MS); /* as flow.c oriented it */
		struct flow_record *r = &w.rec[w.nrec - 1];
		r->client_port = 20048;
		r->verdict = FV_MIDSTREAM;
		strcpy(r->history, "Dd");
		size_t at = w.nrec - 1;
		tcp(&w, "192.0.2.30", "192.0.2.20", 714, false, T0 + 2 * MS); /* a lone segment: not a connection */
		w.rec[w.nrec - 1].client_port = 20048;
		w.rec[w.nrec - 1].verdict = FV_NOT_A_CONNECTION;
		size_t n = w.nrec;
		done(&w);
		CU_ASSERT_EQUAL(w.turned[at], taught); /* --flows logs it the way it was taken */
		for (size_t i = 0; i < n; i++)
			CU_ASSERT(w.turned[i] == (i == at && taught));
		const struct cls_row *row20048 = port_row(&w.c, 20048);
		if (taught) {
			CU_ASSERT_FATAL(row20048 != NULL);
			CU_ASSERT(row20048->learnt && row20048->status == CLS_OK && row20048->n.attempts == 1);
			CU_ASSERT_EQUAL(w.c.nunexp, 0);
		} else {
			CU_ASSERT_PTR_NULL(row20048);
			CU_ASSERT(w.c.nunexp == 1 && w.c.unexp[0].port == 714);
		}
		teardown(&w);
	}
}

void suite_classify(void)
{
	CU_pSuite s = CU_add_suite("classify", NULL, NULL);
	TU_ADD(s, test_partner_placement_time_and_hops);
	TU_ADD(s, test_the_wrong_application_on_a_port);
	TU_ADD(s, test_a_port_the_portmapper_names_is_an_expected_path);
	TU_ADD(s, test_a_midstream_flow_to_a_learnt_port_is_turned_round);
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
	TU_ADD(s, test_outcome_counts_stop_at_their_top);
	TU_ADD(s, test_report_order_agrees_with_the_comparisons);
	TU_ADD(s, test_a_new_pair_repeated_within_a_batch_makes_one_row);
}
