/* classify.h: settled flows x expected edges -> statuses per edge row and unexpected flows.
 * Takes the flow table's records in batches; keeps aggregates, never flows. */
#ifndef FLOWAUDIT_CLASSIFY_H
#define FLOWAUDIT_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowaudit/flow.h"
#include "flowaudit/graph.h"
#include "flowaudit/oatable.h"

enum cls_status { CLS_OK, CLS_DEGRADED, CLS_BLOCKED, CLS_MISSING, CLS_UNVERIFIED, CLS_NSTATUS };
enum cls_reason {
	CLS_R_NONE, CLS_R_NO_REPLY, CLS_R_RESET, CLS_R_ICMP_PROHIBITED, CLS_R_ICMP_UNREACHABLE,
	/* the port answered, the application did not: */
	CLS_R_APP_NO_HANDSHAKE, /* its handshake never completed (an FPolicy NEGO_REQ never answered) */
	CLS_R_APP_FAILED,       /* it refused (an RPC denied) */
	CLS_R_TLS_ALERT,        /* a TLS handshake ended in a fatal alert */
	CLS_R_WRONG_PROTOCOL,   /* an application the pack does not say the port speaks (plain on a TLS port) */
	CLS_R_SMB1,             /* SMB 1 only, where the site sets smb_min 2 */
	CLS_R_NOT_SEEN,         /* no attempt seen on a path of an inferred site: its absence proves nothing */
	CLS_NREASONS
};

/* Flows that carried payload a recogniser claimed (app.h): how many, and how their handshakes ended.
 * Four bytes, so that a row stays in the size of before. */
#define CLS_APP_COMPLETE 0x01
#define CLS_APP_INCOMPLETE 0x02
#define CLS_APP_FAILED 0x04
#define CLS_APP_CUT 0x08
#define CLS_APP_EV 0x10         /* edge rows: cls.ev[row] holds the flow shown as evidence */
#define CLS_APP_MIXED 0x20      /* a flow whose two ends spoke different protocols (app_state.other) */
#define CLS_APP_SMB1 0x40       /* an SMB flow that negotiated SMB 1 only */
/* The seed's placement of an agent and its partner storage (same subnet, sub-millisecond): the handshakes
 * of a row of a partner path, timed (SYN to the ACK of the SYN-ACK), and the hops each side's packets
 * crossed (from their TTL: 64, 128 or 255 less what arrived). */
#define CLS_LAT_BUCKETS 45 /* 50 us wide below 2 ms, then 2-4, 4-8, 8-16, 16-32 ms and 32 ms or more */
struct cls_lat {
	uint32_t n;             /* handshakes timed */
	uint32_t max_us;
	uint32_t bucket[CLS_LAT_BUCKETS];
	uint8_t hops[2];        /* the most hops seen: the client's packets, the server's */
	uint8_t hops_seen;      /* bit per side */
};
/* The q-th quantile (0..1) of the handshake times, in microseconds: the upper bound of its bucket, never
 * more than the largest time seen. */
uint32_t cls_lat_quantile(const struct cls_lat *l, double q);
void cls_lat_merge(struct cls_lat *to, const struct cls_lat *from);

struct cls_app {
	uint8_t proto;          /* enum app_proto of the last of them */
	uint8_t seen;           /* CLS_APP_ bits */
	uint16_t flows;         /* saturating */
};

/* A row's attempts, and how they went. The outcomes are 32-bit and stop at UINT32_MAX (4 billion of one
 * kind on one address pair), so that a row is 128 bytes at most; attempts are never capped. */
struct cls_counts {
	uint64_t attempts;
	uint32_t established, resets, icmp_prohibited, icmp_unreachable, no_reply, unverified;
	uint32_t evicted;       /* attempts settled early to make room (--max-flows): the verdict may lack them */
	struct cls_app app;
	uint64_t first_ns, last_ns;
};

/* One report row of an expected edge: the edge and the address pair it was seen on. */
struct cls_row {
	struct site_addr client, server; /* a missing row carries the hosts' first addresses */
	bool learnt;            /* its port was named by a portmapper reply (cls_row_learnt()): a required path */
	int edge;               /* graph edge index */
	uint16_t port;          /* the edge's, so that a row is found by its flows' (client, server, proto, port) */
	uint8_t proto;
	bool seen;
	uint8_t status;         /* enum cls_status, once cls_finish() ran */
	uint8_t reason;         /* enum cls_reason */
	bool folded;            /* the pairs past --max-rows of this path, on one row (the hosts' addresses) */
	bool partner;           /* its edge's: placement is timed (kept here: a flow's row is in the cache, its edge not) */
	struct cls_counts n;
};

/* A port a portmapper reply named for a program the pack learns (rules' learn): from then on expected
 * between the client that asked and the server, as a path of the edge the portmapper was reached on. */
struct cls_learnt {
	uint8_t client[16], server[16];
	uint8_t proto;          /* of the port named */
	uint16_t port;
	uint8_t pm_proto;       /* the portmapper flow's proto and port: its edge is the path's */
	uint16_t pm_port;
	uint32_t program;
	uint64_t at_ns;         /* the portmapper flow's first packet */
};

/* Why an unexpected flow is unexpected, decided once per (client host, server host, proto, port); the
 * report writers put it in words (rep_why()). ref names what the reason points at. */
enum cls_why {
	CLS_WHY_FORBIDDEN,      /* a rule forbids it: ref is the forbidding graph edge */
	CLS_WHY_REVERSE,        /* expected the other way round: ref is that graph edge */
	CLS_WHY_OTHER_HOSTS,    /* the port of a rule whose roles these hosts do not hold: ref is the rule */
	CLS_WHY_PORT_ELSEWHERE, /* a port the site uses, between other hosts */
	CLS_WHY_NOT_PEERGFS,    /* a port no rule uses */
	CLS_WHY_APART,          /* a known host outside PeerGFS (role ... apart): listed apart, no finding */
};

#define CLS_OUTSIDE_NAMED 16 /* clients outside the site named per server and port; the rest are one row */

struct cls_unexpected {
	uint8_t client[16], server[16];
	int client_host, server_host; /* site host indices, or -1 */
	int why_ref;
	uint16_t port;
	uint8_t proto;
	uint8_t why;            /* enum cls_why */
	bool client_any;        /* clients outside the site past the CLS_OUTSIDE_NAMED named ones, aggregated
				 * (client is 0.0.0.0/0 or ::/0) */
	bool apart;             /* a flow of a known host outside the product (role ... apart): listed apart,
				 * not a finding */
	bool folded;            /* the pairs past --max-rows of these hosts, proto and port, on one row: client
				 * and server stand for their hosts (an end outside the site: the whole family) */
	uint8_t status;         /* enum cls_status */
	uint8_t reason;         /* enum cls_reason */
	struct cls_counts n;
};

struct cls_other;
struct cls_memo;
struct cls_fold;
struct cls_named;
struct cls_why_entry;

struct cls {
	const struct graph *g;
	/* Where a (client, server, proto, port) lands, by its hash: an edge row, an unexpected row, or one
	 * of others[] (outside the site, ignored; remembered for site clients only). One index is the row
	 * tables' and the cache of verdicts alike: the same pair always lands in the same place. */
	struct oat ix;
	struct cls_row *rows;
	size_t nrows, cap_rows;
	struct app_state *ev;   /* beside rows: the evidence flow's recogniser state, where CLS_APP_EV */
	size_t cap_ev;
	struct cls_lat *lat;    /* per graph edge of a partner path (NULL until one is timed): placement is
				 * the host pair's, not each address pair's, and a million rows would hold 200 MB of it */
	struct cls_unexpected *unexp;
	size_t nunexp, cap_unexp;
	struct cls_other *others;
	size_t nothers, cap_others;
	struct oat named_ix;    /* (server, proto, port) -> named[]: outside clients named so far */
	struct cls_named *named;
	size_t nnamed, cap_named;
	size_t max_rows;        /* rows of address pairs at most (0: no bound); past it, new pairs are folded */
	bool inferred;          /* the site was inferred (cls_set_inferred()) */
	uint64_t folded;        /* flows counted on folded rows */
	struct oat fold_ix;     /* (client host, server host, proto, port) -> folds[]: the folded rows */
	struct cls_fold *folds;
	size_t nfolds, cap_folds;
	struct oat why_ix;      /* (client host, server host, proto, port) -> whys[] */
	struct cls_memo *memo;  /* address -> site host, remembered (allocated when first needed) */
	struct cls_why_entry *whys;
	size_t nwhys, cap_whys;
	struct cls_learnt *learnt; /* ports learnt from portmapper replies, kept through cls_finish() */
	size_t nlearnt, cap_learnt;
	struct oat learnt_ix;   /* (client, server, proto, port) -> learnt[] */
	uint64_t outside;       /* flows not touching the site (or not on graph ports, one end outside) */
	uint64_t ignored;       /* flows matching an ignore declaration */
	size_t optional_unseen; /* optional edges with no traffic (not listed as rows) */
	size_t summary[CLS_NSTATUS]; /* required rows by status */
	size_t nknown;          /* unexpected rows that are apart (cls_finish()): nunexp - nknown are findings */
	size_t optional[CLS_NSTATUS]; /* optional rows by status */
	/* cls_finish() with sort: the rows' and the unexpected rows' indexes in report order (the rows
	 * themselves stay where they are); NULL otherwise. */
	uint32_t *row_order, *unexp_order;
	size_t incomplete;      /* cls_finish(): rows some of whose attempts were evicted */
	size_t placement_findings; /* cls_finish(): host pairs of partner paths placed against the seed */
};

void cls_init(struct cls *c, const struct graph *g);
/* Row i of the report order (cls_finish() with sort), or of the rows as they are. */
static inline const struct cls_row *cls_row_at(const struct cls *c, size_t i)
{
	return &c->rows[c->row_order ? c->row_order[i] : i];
}
static inline const struct cls_unexpected *cls_unexp_at(const struct cls *c, size_t i)
{
	return &c->unexp[c->unexp_order ? c->unexp_order[i] : i];
}
/* At most n rows of address pairs (0: no bound): the flows of a new pair past them land on one row per
 * (client host, server host, proto, port), counted in c->folded. */
void cls_set_max_rows(struct cls *c, size_t n);
/* The site was inferred from the capture: a required path never seen is unverified, not missing (the
 * inference cannot tell a path the site lacks from one the capture missed). */
void cls_set_inferred(struct cls *c);
void cls_free(struct cls *c);
/* Fold n records of settled flows (any n). turned: NULL, or n bytes, each set to whether its record was
 * taken from its other end (flow_record_reverse(): a midstream flow to a port the portmapper named). */
void cls_flows(struct cls *c, const struct flow_record *r, size_t n, uint8_t *turned);
/* A deep copy of a running classification, for an interim report (finish the copy, not the original). */
void cls_clone(struct cls *dst, const struct cls *src);
/* Add another running classification of the same graph to this one (workers' shares of one capture). */
void cls_merge(struct cls *c, const struct cls *from);
/* The same, from's rows taken rather than copied when c holds nothing yet (from is left empty). */
void cls_take(struct cls *c, struct cls *from);
/* The rules or site were reloaded: judge every row again, by its address pair and port, against the new
 * graph, keeping its counts (an expected path that is now forbidden becomes unexpected with the new
 * reason, an unexpected flow that is now expected joins its path's row; one now outside the site is
 * counted as outside). */
void cls_rebase(struct cls *c, const struct graph *g);
/* Compute statuses and add missing rows; with sort, the report order of rows and unexpected flows
 * (cls_row_cmp, cls_unexp_cmp: row_order, unexp_order), which a report listing every row needs and one of
 * groups does not. */
void cls_finish(struct cls *c, bool sort);
/* Report order: required paths first, findings first (blocked, degraded, missing, unverified, ok), then by
 * rule, edge and address pair; unexpected flows by address pair, proto and port. */
int cls_row_cmp(const struct cls *c, const struct cls_row *a, const struct cls_row *b);
int cls_unexp_cmp(const struct cls_unexpected *a, const struct cls_unexpected *b);
bool cls_has_findings(const struct cls *c);
/* A row's status and transport reason from its counts (CONTRACT.md): missing, unverified, blocked, degraded, ok. */
void cls_judge(const struct cls_counts *n, uint8_t *status, uint8_t *reason);

/* The placement of each host pair of a partner path (agent and partner storage, either way round) with a
 * timed handshake or a hop count, in the order the rows come. limit_us: the site's latency_ms (default
 * 1 ms, the seed's "sub-millisecond"). Caller frees *out. */
struct cls_place {
	int a, b;               /* the two hosts */
	struct cls_lat lat;     /* a's packets are lat.hops[0] when a is the client of its first row */
	bool slow;              /* the 95th percentile over the limit */
	bool routed;            /* a side's packets crossed a router: not the same subnet */
};
size_t cls_placement(const struct cls *c, struct cls_place **out, uint32_t *limit_us);
/* Rows (expected and unexpected) some of whose attempts were evicted before settling (after cls_finish()). */
size_t cls_incomplete_rows(const struct cls *c);
const char *cls_status_name(enum cls_status s);
const char *cls_reason_name(enum cls_reason r); /* NULL for CLS_R_NONE */
/* The evidence of an edge row's application (a flow's recogniser state), or NULL. */
const struct app_state *cls_row_app(const struct cls *c, const struct cls_row *r);
/* The port learnt for this pair, proto and port, or NULL. */
const struct cls_learnt *cls_learnt_find(const struct cls *c, const uint8_t client[16], const uint8_t server[16],
					 uint8_t proto, uint16_t port);
/* What taught a learnt row its port (NULL for other rows). */
const struct cls_learnt *cls_row_learnt(const struct cls *c, const struct cls_row *r);
/* A row's level: its edge's, or required for a learnt port (the client uses the service it asked for). */
enum rules_level cls_row_level(const struct cls *c, const struct cls_row *r);
/* How the row's flows' handshakes went, all told: complete if any completed, else failed, incomplete, cut. */
enum app_handshake cls_app_handshake(const struct cls_app *a);

#endif
