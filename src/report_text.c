/* report_text.c: reports for people. Findings first (blocked, degraded, missing, unverified, then
 * unexpected), then what is ok; aligned columns; colour only when writing to a terminal. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/report.h"
#include "flowaudit/util.h"

#define PAIRS_MAX 16
#define NCOLS 7

/* A table of strings, printed with each column as wide as its widest cell. */
struct table {
	char **cells;
	size_t rows, cap;
	int color[1024];        /* colour of a row's first cell, for the first 1024 rows */
};

static void print_safe(FILE *out, const char *s)
{
	char *p = str_printable(s);
	fputs(p, out);
	free(p);
}

static void row(struct table *t, int color, ...)
{
	va_list ap;
	va_start(ap, color);
	t->cells = grow(t->cells, &t->cap, (t->rows + 1) * NCOLS, sizeof(char *));
	for (int c = 0; c < NCOLS; c++) {
		const char *s = va_arg(ap, const char *);
		t->cells[t->rows * NCOLS + c] = s ? xstrdup(s) : NULL;
	}
	va_end(ap);
	if (t->rows < 1024)
		t->color[t->rows] = color;
	t->rows++;
}

static const char *const colors[] = {"", "\033[31m", "\033[33m", "\033[32m", "\033[2m"}; /* none red yellow green dim */

static int print_table(FILE *out, struct table *t, bool color)
{
	size_t w[NCOLS] = {0};
	for (size_t r = 0; r < t->rows; r++)
		for (int c = 0; c < NCOLS; c++) {
			const char *s = t->cells[r * NCOLS + c];
			if (s && strlen(s) > w[c])
				w[c] = strlen(s);
		}
	for (size_t r = 0; r < t->rows; r++) {
		int col = r < 1024 ? t->color[r] : 0;
		fputs("  ", out);
		for (int c = 0; c < NCOLS; c++) {
			const char *s = t->cells[r * NCOLS + c];
			if (!s)
				continue;
			bool last = true;
			for (int k = c + 1; k < NCOLS; k++)
				last &= t->cells[r * NCOLS + k] == NULL;
			if (c == 0 && color && col)
				fprintf(out, "%s%-*s\033[0m", colors[col], (int)w[c], s);
			else if (last)
				fputs(s, out);
			else
				fprintf(out, "%-*s", (int)w[c], s);
			if (!last)
				fputs("  ", out);
		}
		fputc('\n', out);
		for (int c = 0; c < NCOLS; c++)
			free(t->cells[r * NCOLS + c]);
	}
	free(t->cells);
	memset(t, 0, sizeof(*t));
	return ferror(out) ? -1 : 0;
}

static int graph_text(FILE *out, const struct graph *g)
{
	struct table t = {0};
	row(&t, 0, "LEVEL", "REQUIREMENT", g->site ? "CLIENT -> SERVER" : "CLIENT ROLE -> SERVER ROLE", "PORT",
	    g->site ? "ADDRESSES" : "", NULL, NULL);
	size_t n = 0;
	for (size_t i = 0; i < g->nedges; i++) {
		const struct graph_edge *e = &g->edges[i];
		if (e->level == LEVEL_FORBID)
			continue;
		const struct rules_edge *re = &g->rules->edges[e->rule];
		char *ends = xasprintf("%s -> %s", graph_end_name(g, e->client), graph_end_name(g, e->server));
		char *port = xasprintf("%s/%u", rules_proto_name(e->proto), e->port);
		char addrs[256] = "";
		if (g->site) {
			struct rep_pair pairs[PAIRS_MAX];
			size_t np = rep_edge_pairs(g, e, pairs, PAIRS_MAX);
			size_t len = 0;
			for (size_t k = 0; k < np && len < sizeof(addrs) - 1; k++)
				len += (size_t)snprintf(addrs + len, sizeof(addrs) - len, "%s%s -> %s", k ? ", " : "",
							pairs[k].client, pairs[k].server);
		}
		row(&t, 0, rules_level_name(e->level), re->requirement, ends, port, addrs, NULL, NULL);
		free(ends);
		free(port);
		n++;
	}
	if (print_table(out, &t, false) < 0)
		return -1;
	fprintf(out, "%zu expected %s edges\n", n, g->site ? "host-level" : "role-level");
	return ferror(out) ? -1 : 0;
}

static int status_color(enum cls_status s)
{
	return s == CLS_OK ? 3 : s == CLS_BLOCKED ? 1 : 2;
}

/* "client addr -> server addr"; host names escaped for the terminal (the cells of rules text are the
 * rule pack's own). */
static char *fmt_ends(const struct graph *g, int ch, const char *ca, int sh, const char *sa)
{
	const char *cn = ch >= 0 ? g->site->hosts[ch].name : ch == GRAPH_INTERNET ? "internet" : "outside";
	const char *sn = sh >= 0 ? g->site->hosts[sh].name : sh == GRAPH_INTERNET ? "internet" : "outside";
	char *ends = xasprintf("%s %s -> %s %s", cn, ca, sn, sa);
	char *safe = str_printable(ends);
	free(ends);
	return safe;
}

static char *fmt_tries(const struct cls_counts *n)
{
	if (!n->attempts)
		return xstrdup("no attempt seen");
	if (n->evicted)
		return xasprintf("%llu/%llu ok, incomplete: %llu evicted early", (unsigned long long)n->established,
				 (unsigned long long)n->attempts, (unsigned long long)n->evicted);
	return xasprintf("%llu/%llu ok", (unsigned long long)n->established, (unsigned long long)n->attempts);
}

/* One address pair of an expected path (indent: listed under its path's group line). */
static void edge_row(struct table *t, const struct report *rp, const struct cls_row *r, bool indent)
{
	const struct graph *g = rp->g;
	const struct graph_edge *e = &g->edges[r->edge];
	const struct rules_edge *re = &g->rules->edges[e->rule];
	char ca[50], sa[50];
	site_addr_str(&r->client, ca);
	site_addr_str(&r->server, sa);
	char *ends = fmt_ends(g, e->client, ca, e->server, sa);
	char *port = xasprintf("%s/%u", rules_proto_name(r->proto), r->port); /* a learnt port is not its edge's */
	char *tries = fmt_tries(&r->n);
	const char *why = cls_reason_name(r->reason);
	char *status = xasprintf("%s%s", indent ? "  " : "", cls_status_name(r->status));
	const char *fw = rep_firewall(rp, r);
	char *app = fw ? NULL : rep_app_words(&rp->res->cls, r);
	row(t, status_color(r->status), status, why ? why : "", indent ? "" : re->requirement, ends, port, tries,
	    fw ? fw : app ? app : re->note && r->seen && !indent ? re->note : NULL);
	free(app);
	free(status);
	free(ends);
	free(port);
	free(tries);
}

/* The most frequent reason among a group's rows, or "". */
static const char *group_reason(const struct rep_group *gp)
{
	const char *name = cls_reason_name(rep_group_reason(gp));
	return name ? name : "";
}

static char *group_tries(const struct rep_group *gp)
{
	char a[32], b[32];
	char *counts = rep_group_counts(gp);
	char *s = xasprintf("%s; attempts %s/%s ok", counts, rep_count(gp->established, a), rep_count(gp->attempts, b));
	free(counts);
	return s;
}

/* A path shown as a group: its line, then its worst address pairs. */
static void edge_group(struct table *t, const struct report *rp, int edge, const struct rep_group *gp)
{
	const struct graph *g = rp->g;
	const struct graph_edge *e = &g->edges[edge];
	char b[32];
	char *ends = xasprintf("%s -> %s (%s address pairs)", graph_end_name(g, e->client), graph_end_name(g, e->server),
			       rep_count(gp->nrows, b));
	char *safe = str_printable(ends);
	char *port = xasprintf("%s/%u", rules_proto_name(e->proto), e->port);
	char *tries = group_tries(gp);
	row(t, status_color(gp->worst_status), cls_status_name(gp->worst_status), group_reason(gp),
	    g->rules->edges[e->rule].requirement, safe, port, tries, NULL);
	free(ends);
	free(safe);
	free(port);
	free(tries);
	for (size_t k = 0; k < gp->nworst; k++)
		edge_row(t, rp, &rp->res->cls.rows[gp->worst[k]], true);
}

/* Rows of required (or optional) paths with findings (or ok): a path of many address pairs as one group,
 * in the section of its worst status, where its first row would be. Returns the groups shown. */
static size_t edge_rows(struct table *t, const struct report *rp, const struct rep_groups *gr, bool findings,
			bool required)
{
	const struct cls *c = &rp->res->cls;
	size_t groups = 0;
	for (size_t i = 0; i < gr->npath_items; i++) {
		const struct rep_item *it = &gr->path_items[i];
		const struct cls_row *r = &c->rows[it->row];
		if ((cls_row_level(c, r) == LEVEL_REQUIRED) != required)
			continue;
		if (it->group != REP_NO_GROUP) {
			const struct rep_group *gp = &gr->path[it->group];
			if ((gp->worst_status != CLS_OK) != findings)
				continue;
			groups++;
			edge_group(t, rp, r->edge, gp);
		} else if ((r->status != CLS_OK) == findings) {
			edge_row(t, rp, r, false);
		}
	}
	return groups;
}

/* One unexpected address pair. */
static void unexpected_row(struct table *t, const struct report *rp, const struct cls_unexpected *u, bool indent)
{
	const struct graph *g = rp->g;
	char ca[50], sa[50];
	rep_unexp_addr(g, u, false, ca);
	rep_unexp_addr(g, u, true, sa);
	char *ends = fmt_ends(g, u->client_host, ca, u->server_host, sa);
	char *port = xasprintf("%s/%u", rules_proto_name(u->proto), u->port);
	char *tries = fmt_tries(&u->n);
	const char *why = cls_reason_name(u->reason);
	char *words = u->apart || indent ? NULL : rep_why(g, u);
	char *status = xasprintf("%s%s", indent ? "  " : "", cls_status_name(u->status));
	row(t, u->apart ? 4 : 1, status, why ? why : "", ends, port, tries, words, NULL);
	free(status);
	free(words);
	free(ends);
	free(port);
	free(tries);
}

/* The unexpected rows, or those of known hosts outside the product (apart); many address pairs of one
 * host pair and reason as a group. Returns the groups shown. */
static size_t unexpected_rows(struct table *t, const struct report *rp, const struct rep_groups *gr, bool apart)
{
	const struct graph *g = rp->g;
	const struct cls *c = &rp->res->cls;
	size_t groups = 0;
	for (size_t i = 0; i < gr->nunexp_items; i++) {
		const struct rep_item *it = &gr->unexp_items[i];
		const struct cls_unexpected *u = &c->unexp[it->row];
		if (u->apart != apart)
			continue;
		if (it->group == REP_NO_GROUP) {
			unexpected_row(t, rp, u, false);
			continue;
		}
		const struct rep_group *gp = &gr->unexp[it->group];
		groups++;
		const char *cn = u->client_host >= 0 ? g->site->hosts[u->client_host].name : "outside";
		const char *sn = u->server_host >= 0 ? g->site->hosts[u->server_host].name : "outside";
		char b[32];
		char *ends = xasprintf("%s -> %s (%s address pairs)", cn, sn, rep_count(gp->nrows, b));
		char *safe = str_printable(ends);
		char *tries = group_tries(gp);
		const char *ports = gr->unexp_ports[it->group];
		char *words = apart ? NULL : rep_why_ports(g, u, ports, gp->nports);
		row(t, apart ? 4 : 1, cls_status_name(gp->worst_status), group_reason(gp), safe, ports, tries, words, NULL);
		free(ends);
		free(safe);
		free(tries);
		free(words);
		for (size_t k = 0; k < gp->nworst; k++)
			unexpected_row(t, rp, &c->unexp[gp->worst[k]], true);
	}
	return groups;
}

/* A section's title: "(8)", or with groups "(41,220 address pairs; 3 paths of many shown as one line ...)". */
static void title(FILE *out, const char *name, size_t rows, size_t groups, const char *of, const char *ofs)
{
	char b[32];
	if (groups)
		fprintf(out, "\n%s (%s address pairs; %zu %s of many pairs shown as one line each, the worst failures "
			"under it; --by-address lists each):\n", name, rep_count(rows, b), groups, groups == 1 ? of : ofs);
	else
		fprintf(out, "\n%s (%zu):\n", name, rows);
}

#define INFERRED_SHOWN 40 /* hosts of an inferred site listed in the text report; --write-site has them all */

/* The inferred site's hosts with their roles and attributes, as the report's reader needs them to read
 * its rows (the evidence is the written site's). */
static void inferred_hosts(FILE *out, const struct report *rp)
{
	const struct site *st = rp->g->site;
	const struct rules *r = rp->g->rules;
	fprintf(out, "\nInferred site (%zu hosts, %zu addresses left out; --write-site FILE writes it with each "
		"host's evidence):\n", st->nhosts, rp->inferred->left_out);
	struct table t = {0};
	for (size_t i = 0; i < st->nhosts && i < INFERRED_SHOWN; i++) {
		const struct site_host *h = &st->hosts[i];
		char ab[50], *roles = NULL, *attrs = NULL;
		size_t rl = 0, al = 0;
		for (size_t k = 0; k < r->nroles; k++)
			if (site_host_has_role(h, (int)k))
				str_append(&roles, &rl, "%s%s", rl ? "," : "", r->roles[k].name);
		for (size_t k = 0; k < h->nattrs; k++)
			str_append(&attrs, &al, "%s%s=%s", al ? " " : "", h->attrs[k].key, h->attrs[k].value);
		row(&t, 0, h->name, h->naddrs ? site_addr_str(&h->addrs[0], ab) : "", roles ? roles : "",
		    infer_doubtful(rp->inferred, h->name) ? "confidence low" : "confidence high", attrs, NULL, NULL);
		free(roles);
		free(attrs);
	}
	print_table(out, &t, false);
	if (st->nhosts > INFERRED_SHOWN)
		fprintf(out, "  ... and %zu more\n", st->nhosts - INFERRED_SHOWN);
}

static int audit_text(FILE *out, const struct report *rp)
{
	const struct audit_result *res = rp->res;
	const struct cls *c = &res->cls;
	bool col = rp->color;
	fprintf(out, "flowaudit %s: ", FLOWAUDIT_VERSION);
	for (size_t i = 0; i < res->ninputs; i++) {
		fputs(i ? ", " : "", out);
		print_safe(out, res->inputs[i].source);
		fprintf(out, " (%s, %llu packets)", res->inputs[i].linktype, (unsigned long long)res->inputs[i].packets);
	}
	fputs(" against ", out);
	char *site = rep_site_words(rp);
	print_safe(out, site);
	free(site);
	fputc('\n', out);
	for (size_t i = 0; i < res->nwarnings; i++) {
		fprintf(out, "%swarning:%s ", col ? "\033[33m" : "", col ? "\033[0m" : "");
		print_safe(out, res->warnings[i]);
		fputc('\n', out);
	}

	size_t nfind = c->summary[CLS_BLOCKED] + c->summary[CLS_DEGRADED] + c->summary[CLS_MISSING] +
		       c->summary[CLS_UNVERIFIED];
	/* Each section is a table built first (its width depends on every row), its title written before it. */
	struct table t = {0};
	struct rep_groups gr;
	rep_groups_build(&gr, rp->g, c, rp->by_address);
	size_t ng;
	if (nfind) {
		ng = edge_rows(&t, rp, &gr, true, true);
		title(out, "Required paths with findings", nfind, ng, "path", "paths");
		print_table(out, &t, col);
	}
	if (c->nunexp > c->nknown) {
		ng = unexpected_rows(&t, rp, &gr, false);
		title(out, "Unexpected flows", c->nunexp - c->nknown, ng, "host pair", "host pairs");
		print_table(out, &t, col);
	}
	if (c->summary[CLS_OK]) {
		ng = edge_rows(&t, rp, &gr, false, true);
		title(out, "Required paths ok", c->summary[CLS_OK], ng, "path", "paths");
		print_table(out, &t, col);
	}
	size_t nopt = 0;
	for (int s = 0; s < CLS_NSTATUS; s++)
		nopt += c->optional[s];
	if (nopt) {
		ng = edge_rows(&t, rp, &gr, true, false);
		ng += edge_rows(&t, rp, &gr, false, false);
		title(out, "Optional paths seen", nopt, ng, "path", "paths");
		print_table(out, &t, col);
	}
	if (c->nknown) {
		ng = unexpected_rows(&t, rp, &gr, true);
		if (ng)
			fprintf(out, "\nKnown hosts outside PeerGFS (%zu address pairs, not findings; %zu host pairs of many "
				"pairs shown as one line each):\n", c->nknown, ng);
		else
			fprintf(out, "\nKnown hosts outside PeerGFS (%zu address pairs, not findings):\n", c->nknown);
		print_table(out, &t, col);
	}
	rep_groups_free(&gr);
	struct cls_place *pl;
	uint32_t limit;
	size_t npl = cls_placement(c, &pl, &limit);
	if (npl)
		fprintf(out, "\nPartner placement (the seed: an agent on its storage's subnet, handshakes under %.2f ms):\n",
			limit / 1000.0);
	for (size_t i = 0; i < npl; i++) {
		char *w = rep_place_words(rp->g, &pl[i], limit);
		char *safe = str_printable(w);
		fprintf(out, "  %s%s\n", pl[i].slow || pl[i].routed ? "FINDING " : "", safe);
		free(safe);
		free(w);
	}
	free(pl);
	if (rp->inferred)
		inferred_hosts(out, rp);
	fprintf(out, "\nCapture: %llu packets, %llu decoded, %llu skipped; %llu flows, %llu SPAN duplicates, "
		"%llu evicted; %llu flows ignored by rule, %llu outside the graph\n",
		(unsigned long long)res->packets, (unsigned long long)res->decoded, (unsigned long long)res->skipped,
		(unsigned long long)res->flows.flows, (unsigned long long)res->flows.duplicates,
		(unsigned long long)res->flows.evicted, (unsigned long long)c->ignored, (unsigned long long)c->outside);
	if (c->optional_unseen)
		fprintf(out, "%zu optional paths had no traffic (see flowaudit graph)\n", c->optional_unseen);
	size_t incomplete = cls_incomplete_rows(c);
	if (incomplete)
		fprintf(out, "Incomplete: %zu rows lost attempts to --max-flows evictions before they settled\n", incomplete);
	fprintf(out, "Summary: %zu ok, %zu degraded, %zu blocked, %zu missing, %zu unverified, %zu unexpected",
		c->summary[CLS_OK], c->summary[CLS_DEGRADED], c->summary[CLS_BLOCKED], c->summary[CLS_MISSING],
		c->summary[CLS_UNVERIFIED], c->nunexp - c->nknown);
	if (c->placement_findings)
		fprintf(out, ", %zu placement finding%s", c->placement_findings, c->placement_findings == 1 ? "" : "s");
	fputc('\n', out);
	return ferror(out) ? -1 : 0;
}

const struct rep_format rep_text = {"text", false, graph_text, audit_text};
