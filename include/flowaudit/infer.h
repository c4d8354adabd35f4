/* infer.h: a site inferred from the traffic, for an audit without -s. The rule pack says which ports
 * join which roles; the settled flows say who used them. Roles are given to addresses in rounds, each
 * role confirmed by a peer that holds (or takes in the same round) the role at the other end of a path;
 * attributes (storage systems, partners, notification modes, file protocols) follow from the paths seen.
 * The result is site-file text (docs/site.md), one comment per host with its evidence, so that what the
 * audit used is what --write-site writes and what a person corrects. */
#ifndef FLOWAUDIT_INFER_H
#define FLOWAUDIT_INFER_H

#include <stdbool.h>
#include <stddef.h>

#include "flowaudit/flow.h"
#include "flowaudit/rules.h"

struct infer;

/* max_addrs: addresses looked at, at most (0: no bound); the flows of addresses past it are counted, not
 * read (a flood of spoofed sources must not take the machine's memory). */
struct infer *infer_new(const struct rules *r, size_t max_addrs);
void infer_free(struct infer *in);
/* Records of settled flows, any number of calls (a flow_records_fn). */
void infer_flows(void *in, const struct flow_record *r, size_t n);
/* The inferred site as the text of a site file (caller frees); source names the capture in its header. */
char *infer_site_text(struct infer *in, const char *source);
/* After infer_site_text(): hosts placed, addresses left out (ambiguous or too little evidence), the flows
 * on the pack's ports the inference read; and the hosts whose roles no port names by itself (confidence
 * low: only ports several pairs of roles share, or its own ports alone). */
struct infer_summary {
	size_t hosts, left_out, flows, addrs;
	size_t past_limit;      /* flows not read: their addresses were past max_addrs */
	char **doubtful;
	size_t ndoubtful;
};
/* The summary, its list of hosts handed over (infer_summary_free()). */
struct infer_summary infer_summary(struct infer *in);
void infer_summary_free(struct infer_summary *s);
bool infer_doubtful(const struct infer_summary *s, const char *name);

#endif
