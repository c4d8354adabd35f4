/* report.h: the table of report formats (as zmap registers its output modules). Each format lives in
 * its own file, reads results, and never sees a packet. */
#ifndef FLOWAUDIT_REPORT_H
#define FLOWAUDIT_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "flowaudit/audit.h"
#include "flowaudit/graph.h"

#define FLOWAUDIT_VERSION "0.1.0"

struct report {
	const struct graph *g;
	const struct audit_result *res;
	const char *site_path;
	bool color;             /* ANSI colour (text on a terminal only) */
	bool flows;             /* include the per-flow array */
};

struct rep_format {
	const char *name;
	/* Each returns 0, or -1 on a write error (errno set). NULL: the format cannot show this. */
	int (*graph)(FILE *out, const struct graph *g);
	int (*audit)(FILE *out, const struct report *r);
};

const struct rep_format *rep_find(const char *name);
/* "tcp", "udp" */
const char *rep_proto(uint8_t proto);

/* Address pairs an expected edge stands for: one per same-family pair of the two hosts' addresses
 * ("0.0.0.0/0" or "::/0" for the internet). Returns how many were written to pairs (at most max). */
struct rep_pair {
	char client[50], server[50];
};
size_t rep_edge_pairs(const struct graph *g, const struct graph_edge *e, struct rep_pair *pairs, size_t max);

/* Why an unexpected row is unexpected, in words (the classifier keeps a code). Caller frees. */
char *rep_why(const struct graph *g, const struct cls_unexpected *u);

extern const struct rep_format rep_text, rep_json, rep_dot, rep_html;

#endif
