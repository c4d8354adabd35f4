/* classify.h: settled flows x expected edges -> statuses per edge row and unexpected flows.
 * Reads flows only inside the flow table's callback; keeps aggregates, never flows. */
#ifndef FLOWAUDIT_CLASSIFY_H
#define FLOWAUDIT_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowaudit/flow.h"
#include "flowaudit/graph.h"

enum cls_status { CLS_OK, CLS_DEGRADED, CLS_BLOCKED, CLS_MISSING, CLS_UNVERIFIED, CLS_NSTATUS };
enum cls_reason { CLS_R_NONE, CLS_R_NO_REPLY, CLS_R_RESET, CLS_R_ICMP_PROHIBITED, CLS_R_ICMP_UNREACHABLE };

struct cls_counts {
	uint64_t attempts, established, resets, icmp_prohibited, icmp_unreachable, no_reply, unverified;
	uint64_t evicted;       /* attempts settled early to make room (--max-flows): the verdict may lack them */
	uint64_t first_ns, last_ns;
};

/* One report row of an expected edge: the edge and the address pair it was seen on. */
struct cls_row {
	int edge;               /* graph edge index */
	struct site_addr client, server; /* a missing row carries the hosts' first addresses */
	bool seen;
	struct cls_counts n;
	enum cls_status status;
	enum cls_reason reason;
};

#define CLS_OUTSIDE_NAMED 16 /* clients outside the site named per server and port; the rest are one row */

struct cls_unexpected {
	uint8_t client[16], server[16];
	int client_host, server_host; /* site host indices, or -1 */
	bool client_any;        /* clients outside the site past the CLS_OUTSIDE_NAMED named ones, aggregated
				 * (client is 0.0.0.0/0 or ::/0) */
	uint8_t proto;
	uint16_t port;
	char *why;
	bool apart;             /* a flow of a known host outside the product (role ... apart): listed apart,
				 * not a finding */
	struct cls_counts n;
	enum cls_status status;
	enum cls_reason reason;
};

struct cls_ix;
struct cls_pair;

/* What cls_prefetch() worked out for a flow a few from settling, kept for cls_flow(): the flow's pair
 * key and hash (stage 0), then the pair it found (stage 1). Found by the flow's address. */
struct cls_ahead {
	const struct flow *f;   /* NULL: empty */
	const struct cls_pair *pair; /* stage 1's answer; NULL before it, or if the pair was not remembered */
	uint32_t hash;
	uint8_t pk[40];         /* struct cls_key */
};
#define CLS_AHEAD 64

struct cls {
	const struct graph *g;
	struct cls_ix *rows_ix, *unexp_ix;
	struct cls_pair *pairs; /* (client, server, proto, port) -> where it lands, remembered */
	size_t npairs, pairs_mask;
	struct cls_row *rows;
	size_t nrows, cap_rows;
	struct cls_unexpected *unexp;
	size_t nunexp, cap_unexp;
	uint64_t outside;       /* flows not touching the site (or not on graph ports, one end outside) */
	uint64_t ignored;       /* flows matching an ignore declaration */
	uint64_t not_connections; /* lone RSTs and the like */
	size_t optional_unseen; /* optional edges with no traffic (not listed as rows) */
	size_t summary[CLS_NSTATUS]; /* required rows by status */
	size_t nknown;          /* unexpected rows that are apart (cls_finish()): nunexp - nknown are findings */
	size_t optional[CLS_NSTATUS]; /* optional rows by status */
	struct cls_ahead ahead[CLS_AHEAD]; /* cleared whenever the pair cache changes its entries' places */
};

void cls_init(struct cls *c, const struct graph *g);
void cls_free(struct cls *c);
/* Fold one settled flow. */
void cls_flow(struct cls *c, const struct flow *f, enum flow_verdict v);
/* Ask for what cls_flow(f) will read, f being a few flows from settling: stage 0 its pair's entry,
 * stage 1 (once that is in) the row it lands on. */
void cls_prefetch(struct cls *c, const struct flow *f, int stage);
/* A deep copy of a running classification, for an interim report (finish the copy, not the original). */
void cls_clone(struct cls *dst, const struct cls *src);
/* Add another running classification of the same graph to this one (workers' shares of one capture). */
void cls_merge(struct cls *c, const struct cls *from);
/* The rules or site were reloaded: judge every row again, by its address pair and port, against the new
 * graph, keeping its counts (an expected path that is now forbidden becomes unexpected with the new
 * reason, an unexpected flow that is now expected joins its path's row; one now outside the site is
 * counted as outside). */
void cls_rebase(struct cls *c, const struct graph *g);
/* Compute statuses, add missing rows, and sort rows and unexpected flows findings-first. */
void cls_finish(struct cls *c);
bool cls_has_findings(const struct cls *c);
/* Rows (expected and unexpected) some of whose attempts were evicted before settling. */
size_t cls_incomplete_rows(const struct cls *c);
const char *cls_status_name(enum cls_status s);
const char *cls_reason_name(enum cls_reason r); /* NULL for CLS_R_NONE */

#endif
