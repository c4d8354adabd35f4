/* graph.h: the expected port graph, rules x site -> host-level edges, with a lookup by
 * (client host, server host, proto, port) for the classifier. No packets here. */
#ifndef FLOWAUDIT_GRAPH_H
#define FLOWAUDIT_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowaudit/diag.h"
#include "flowaudit/oatable.h"
#include "flowaudit/rules.h"
#include "flowaudit/site.h"

#define GRAPH_INTERNET (-2) /* host index standing for any address outside the site */

struct graph_edge {
	int rule;               /* index into rules.edges */
	int client, server;     /* site host indices, or GRAPH_INTERNET; role indices in a role graph */
	uint8_t proto;
	uint16_t port;
	int group;              /* alternatives share (rule, client, server, group) */
	enum rules_level level;
	bool partner;           /* its rule's scope is partner: an agent and its storage (placement is timed) */
};

struct graph {
	const struct rules *rules;
	const struct site *site; /* NULL: a role-level graph */
	struct graph_edge *edges;
	size_t nedges, cap_edges;
	struct oat ix;          /* edge index by the hash of (client, server, proto, port) */
	uint8_t ports[2][8192]; /* bit per port in the graph: [0] tcp, [1] udp (allowed edges only) */
};

#define GRAPH_MAX_EDGES 2000000 /* host-level paths a site may expand to (some 350 MB at the bound) */

/* Would the site expand to more than GRAPH_MAX_EDGES paths (3,000 brokers are 9 million broker pairs)?
 * -1 with a diagnostic naming the rule that expands most and what to change; 0 otherwise. */
int graph_check_size(const struct rules *r, const struct site *s, struct diag *d);
/* Host level when site is given, role level otherwise. Never fails. */
void graph_build(struct graph *g, const struct rules *r, const struct site *s);
void graph_free(struct graph *g);
/* Index of the edge for this tuple, or -1. Allowed edges win over forbidden ones. */
int graph_find(const struct graph *g, int client, int server, uint8_t proto, uint16_t port);
static inline bool graph_has_port(const struct graph *g, uint8_t proto, uint16_t port)
{
	return g->ports[proto == 17] [port >> 3] >> (port & 7) & 1;
}
/* The edge of a flow between these addresses (site hosts *ch and *sh, -1 outside the site; the server
 * outside is the internet), or -1. Allowed edges win over forbidden ones, as in graph_find(). */
int graph_path(const struct graph *g, const uint8_t client[16], const uint8_t server[16], uint8_t proto, uint16_t port,
	       int *ch, int *sh);
/* Name of an edge end: host name, role name, or "internet". */
const char *graph_end_name(const struct graph *g, int end);

#endif
