/* report.h: the table of report formats (as zmap registers its output modules). Each format lives in
 * its own file, reads results, and never sees a packet. */
#ifndef FLOWAUDIT_REPORT_H
#define FLOWAUDIT_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "flowaudit/audit.h"
#include "flowaudit/graph.h"
#include "flowaudit/infer.h"

#define FLOWAUDIT_VERSION "0.1.0"

struct report {
	const struct graph *g;
	const struct audit_result *res;
	const char *site_path;
	const struct infer_summary *inferred; /* the site was inferred from the capture (infer.h), or NULL */
	bool color;             /* ANSI colour (text on a terminal only) */
	bool flows;             /* include the per-flow array */
	bool by_address;        /* text and HTML: every address pair of a path on its own line, never grouped */
	/* audit --nft: what this machine's firewall does to a row's path, in a sentence, or NULL. */
	const char *(*firewall)(void *ctx, const struct cls_row *r);
	void *firewall_ctx;
	const char *sensor;     /* audit --sensor: the sensor's name, or NULL */
	const char *digest_rules, *digest_site; /* of the rules' and the site's bytes ("" or NULL: none) */
};

/* What the recognisers learnt of a row, in words ("fpolicy incomplete over 14 flows: nego_req 3,
 * nego_resp 0"), or NULL when no flow of it carried a payload they know. Caller frees. */
char *rep_app_words(const struct cls *c, const struct cls_row *r);

/* A host pair's placement in words: "agent1 <-> ontap1-n1: 23 handshakes, p50 0.10 ms, p95 0.15 ms, max
 * 0.21 ms; 0 hops both ways: same subnet", with what goes against the seed said. Caller frees. */
char *rep_place_words(const struct graph *g, const struct cls_place *p, uint32_t limit_us);

/* What the audit was judged against: the site file's path, or the inferred site in words. Caller frees. */
char *rep_site_words(const struct report *rp);

/* rp->firewall's sentence for a blocked or degraded row; NULL for any other, or without --nft. */
const char *rep_firewall(const struct report *rp, const struct cls_row *r);

struct rep_format {
	const char *name;
	bool every_row;         /* lists every row, in report order (else only with --by-address) */
	/* Each returns 0, or -1 on a write error (errno set). NULL: the format cannot show this. */
	int (*graph)(FILE *out, const struct graph *g);
	int (*audit)(FILE *out, const struct report *r);
};

const struct rep_format *rep_find(const char *name);

/* Address pairs an expected edge stands for: one per same-family pair of the two hosts' addresses
 * ("0.0.0.0/0" or "::/0" for the internet). Returns how many were written to pairs (at most max). */
struct rep_pair {
	char client[50], server[50];
};
size_t rep_edge_pairs(const struct graph *g, const struct graph_edge *e, struct rep_pair *pairs, size_t max);

/* An end of an unexpected row as a report shows it: its address, the whole family (0.0.0.0/0, ::/0) for
 * clients aggregated or an end outside the site on a folded row, or the host's address for a folded row. */
const char *rep_unexp_addr(const struct graph *g, const struct cls_unexpected *u, bool server, char buf[50]);

/* Why an unexpected row is unexpected, in words (the classifier keeps a code). Caller frees. */
char *rep_why(const struct graph *g, const struct cls_unexpected *u);
/* rep_why(), made once per (client host, server host, proto, port, reason) of a report; the words live
 * until rep_whys_free(). */
struct rep_whys;
struct rep_whys *rep_whys_new(void);
void rep_whys_free(struct rep_whys *w);
const char *rep_why_of(struct rep_whys *w, const struct graph *g, const struct cls_unexpected *u);
/* The same for a group of such rows on nports ports, named by port ("tcp/8000-8499 (500 ports)"). */
char *rep_why_ports(const struct graph *g, const struct cls_unexpected *u, const char *port, size_t nports);

/* "41,220" (buf is returned). */
const char *rep_count(uint64_t n, char buf[32]);
/* HTML: text with <, >, & and " escaped; the colour a status is drawn in. */
void rep_html_esc(FILE *out, const char *s);
const char *rep_status_color(enum cls_status s);
/* A capture time as "2026-12-07 11:26:34 UTC". */
const char *rep_clock(uint64_t ns, char buf[40]);

/* Rows shown together past a few address pairs: every row of one host-level path (a graph edge), or the
 * unexpected rows of one (client host, server host, proto, reason). The text and HTML reports show a
 * group as one line and its REP_WORST worst address pairs, unless --by-address. */
#define REP_GROUP_AFTER 5 /* a path of more address pairs than this is shown as a group */
#define REP_WORST 3
struct rep_group {
	size_t nrows;
	size_t by_status[CLS_NSTATUS];
	size_t by_reason[CLS_NREASONS]; /* rows by the reason they were judged on */
	uint64_t attempts, established, evicted;
	enum cls_status worst_status;
	size_t worst[REP_WORST];  /* row indexes of its worst findings (never an ok row), worst first */
	enum cls_status worst_st[REP_WORST];
	uint64_t worst_failed[REP_WORST];
	size_t nworst;
	size_t nports;            /* unexpected groups shown as one line: distinct ports */
	size_t first;             /* its first row in report order */
};
/* A line of a report: a row, or a group (shown where its first row would be). */
#define REP_NO_GROUP UINT32_MAX
struct rep_item {
	size_t row;
	uint32_t group;           /* the group's index (a graph edge, or an unexpected group), or REP_NO_GROUP */
};
struct rep_groups {
	struct rep_group *path;   /* per graph edge */
	struct rep_group *unexp;  /* per group of unexpected rows */
	size_t nunexp_groups, cap_unexp;
	uint32_t *unexp_group;    /* unexpected row -> its group */
	char **unexp_ports;       /* per group shown as one line: "tcp/8000-8499 (500 ports)", else NULL */
	struct rep_item *path_items, *unexp_items; /* what the report lists, in report order */
	size_t npath_items, nunexp_items;
};
/* by_address: every row is an item of its own (and the rows must be in report order: cls_finish()). */
void rep_groups_build(struct rep_groups *gr, const struct graph *g, const struct cls *c, bool by_address);
void rep_groups_free(struct rep_groups *gr);
/* The reason most of a group's rows were judged on (CLS_R_NONE: none failed). */
enum cls_reason rep_group_reason(const struct rep_group *gp);
/* "40,980 ok, 240 blocked (no-reply 40, reset 200)". Caller frees. */
char *rep_group_counts(const struct rep_group *gp);

extern const struct rep_format rep_text, rep_json, rep_dot, rep_html;

#endif
