/* report_dot.c: the expected port graph in Graphviz DOT: one node per host (or role), one arrow per
 * client/server pair labelled with its ports; optional paths dashed. Audits are not drawn (yet). */
#include <stdlib.h>
#include <string.h>

#include "flowaudit/report.h"
#include "flowaudit/util.h"

static void quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static int graph_dot(FILE *out, const struct graph *g)
{
	fprintf(out, "digraph flowaudit {\n\trankdir=LR;\n\tnode [shape=box, fontname=\"Helvetica\"];\n");
	size_t nnodes = g->site ? g->site->nhosts : g->rules->nroles;
	for (size_t i = 0; i < nnodes; i++) {
		fputc('\t', out);
		quoted(out, graph_end_name(g, (int)i));
		if (g->site) {
			char label[512];
			size_t len = (size_t)snprintf(label, sizeof(label), "%s\\n", g->site->hosts[i].name);
			for (size_t r = 0; r < g->rules->nroles && len < sizeof(label) - 1; r++)
				if (site_host_has_role(&g->site->hosts[i], (int)r))
					len += (size_t)snprintf(label + len, sizeof(label) - len, "%s ", g->rules->roles[r].name);
			fprintf(out, " [label=\"%s\"]", label);
		}
		fputs(";\n", out);
	}
	if (g->site)
		fputs("\t\"internet\" [shape=ellipse];\n", out);
	/* Merge the ports of each (client, server, level) into one label. */
	bool *done = xcalloc(g->nedges + 1, sizeof(bool));
	for (size_t i = 0; i < g->nedges; i++) {
		const struct graph_edge *e = &g->edges[i];
		if (done[i] || e->level == LEVEL_FORBID)
			continue;
		char label[512];
		size_t len = 0;
		for (size_t k = i; k < g->nedges; k++) {
			const struct graph_edge *o = &g->edges[k];
			if (done[k] || o->client != e->client || o->server != e->server || o->level != e->level)
				continue;
			done[k] = true;
			if (len < sizeof(label) - 16)
				len += (size_t)snprintf(label + len, sizeof(label) - len, "%s%s/%u", len ? " " : "",
							rules_proto_name(o->proto), o->port);
		}
		fputc('\t', out);
		quoted(out, graph_end_name(g, e->client));
		fputs(" -> ", out);
		quoted(out, graph_end_name(g, e->server));
		fprintf(out, " [label=\"%s\"%s];\n", label, e->level == LEVEL_OPTIONAL ? ", style=dashed" : "");
	}
	free(done);
	fputs("}\n", out);
	return ferror(out) ? -1 : 0;
}

const struct rep_format rep_dot = {"dot", false, graph_dot, NULL};
