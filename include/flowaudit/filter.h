/* filter.h: the capture filter of a live sensor, from the graph: TCP on the graph's ports (as port
 * ranges; every TCP port when compact, for a graph with too many ranges to compile), TCP SYN/RST/FIN
 * anywhere, all UDP (answered UDP on any port is judged offline too), ICMP errors and the
 * remote-mirroring tunnels, behind up to two VLAN tags unless vlan is false, ANDed with the user's
 * expression. */
#ifndef FLOWAUDIT_FILTER_H
#define FLOWAUDIT_FILTER_H

#include <stdbool.h>

#include "flowaudit/graph.h"

#define FILTER_TRIES 4

/* One filter's text. Caller frees. */
char *filter_text(const struct graph *g, const char *user_bpf, bool vlan, bool compact);
/* The filters a live capture tries, best first: with VLAN clauses, without (a link type may refuse
 * them), then both compact. */
void filter_tries(const struct graph *g, const char *user_bpf, char *out[FILTER_TRIES]);

#endif
