/* report_html.c: the audit as one self-contained HTML page for people: findings first with what to do
 * about each, the port graph drawn as SVG (hosts in columns by role, one arrow per host pair coloured by
 * its worst status), then what is ok. No scripts, no external files. */
#include <stdlib.h>
#include <string.h>

#include "flowaudit/hash.h"
#include "flowaudit/oatable.h"
#include "flowaudit/report.h"
#include "flowaudit/util.h"

#define DRAW_MAX_HOSTS 120 /* beyond this a drawing is unreadable; the tables still list everything */

void rep_html_esc(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		default: fputc(*s, out);
		}
	}
}

const char *rep_status_color(enum cls_status s)
{
	static const char *const c[CLS_NSTATUS] = {"#2e7d32", "#ef6c00", "#c62828", "#8e24aa", "#757575"};
	return c[s];
}

/* The rules that would let this path through: nftables on a Linux router or host (inserted, so that it
 * comes before a final drop, into the chain the admin names), and Windows Defender Firewall on the server
 * when it is a Windows host (a Peer Agent for SMB, the PMC, a CEE host). */
static void open_rules(FILE *out, const char *requirement, const char *ca, const char *sa, uint8_t proto,
		       uint16_t port, bool v4)
{
	bool any_server = !strcmp(sa, "0.0.0.0/0") || !strcmp(sa, "::/0");
	fprintf(out, "<br>nftables (replace <code>inet filter forward</code> with the family, table and chain of "
		     "your ruleset: <code>nft list ruleset</code>; <code>input</code> on the server itself): "
		     "<code>nft insert rule inet filter forward %s saddr ", v4 ? "ip" : "ip6");
	rep_html_esc(out, ca);
	if (!any_server) {
		fprintf(out, " %s daddr ", v4 ? "ip" : "ip6");
		rep_html_esc(out, sa);
	}
	fprintf(out, " %s dport %u ct state new accept</code>", rules_proto_name(proto), port);
	if (any_server)
		return;
	fputs("<br>Windows Defender Firewall on the server (elevated PowerShell): <code>New-NetFirewallRule "
	      "-DisplayName &quot;PeerGFS: ", out);
	rep_html_esc(out, requirement);
	fprintf(out, "&quot; -Direction Inbound -Protocol %s -LocalPort %u -RemoteAddress ", proto == 17 ? "UDP" : "TCP",
		port);
	rep_html_esc(out, ca);
	fputs(" -Action Allow</code>", out);
}

/* What a network engineer should do about a finding. */
static void advice(FILE *out, enum cls_status st, enum cls_reason why, const char *requirement, const char *ca,
		   const char *sa, uint8_t proto, uint16_t port, bool v4)
{
	if (why == CLS_R_WRONG_PROTOCOL || why == CLS_R_SMB1) {
		fputs(why == CLS_R_SMB1 ? "The connections open and negotiate SMB 1, where the site asks for SMB 2 or later: "
					  "enable SMB 2/3 on the storage and the agent, and disable SMB 1."
					: "The connections open and carry an application this port is not for (plain text on a "
					  "TLS port, TLS on a plain one): check which port the client is configured to use.",
		      out);
		return;
	}
	if (why == CLS_R_APP_NO_HANDSHAKE || why == CLS_R_APP_FAILED || why == CLS_R_TLS_ALERT) {
		fputs(why == CLS_R_TLS_ALERT ? "The connections open, and their TLS handshake ends in an alert: check the "
					       "certificates and the TLS versions both ends accept (the alert names the cause)."
		      : why == CLS_R_APP_FAILED ? "The connections open, and the service refuses the request: check its "
						  "configuration (exports, program versions)."
						: "The connections open, and the application's handshake never completes: the "
						  "server side accepts but does not answer (an FPolicy engine that never sends "
						  "NEGO_RESP, a service stuck). The firewall is not the cause.",
		      out);
		return;
	}
	switch (st) {
	case CLS_BLOCKED:
	case CLS_DEGRADED:
		if (why == CLS_R_RESET)
			fputs("The attempt was answered by a TCP reset: nothing listens on the port, or a firewall rejects "
			      "it. Check the service on the server first, then the firewalls on the path; to allow it: ",
			      out);
		else if (why == CLS_R_ICMP_PROHIBITED)
			fputs("A firewall answered with ICMP administratively prohibited. Allow the path on it: ", out);
		else if (why == CLS_R_ICMP_UNREACHABLE)
			fputs("A router answered host or port unreachable: check routing to the server and that the "
			      "service listens. If a firewall is configured to reject that way, allow the path: ", out);
		else
			fputs("The SYNs went unanswered: a firewall drops them, or the server is down. Allow the path: ",
			      out);
		open_rules(out, requirement, ca, sa, proto, port, v4);
		if (st == CLS_DEGRADED)
			fputs(" Some attempts succeeded: look for one of several firewalls or servers behind a load "
			      "balancer.", out);
		break;
	case CLS_MISSING:
		fputs("No attempt was seen. Make sure the sensor sees this path (a blocked inbound path leaves no "
		      "packet on the server's side), that the product is configured to use it (brokers, FPolicy "
		      "engine, CEE, syslog target), then allow it: ", out);
		open_rules(out, requirement, ca, sa, proto, port, v4);
		break;
	case CLS_UNVERIFIED:
		if (why == CLS_R_NOT_SEEN)
			fputs("No attempt was seen, and the site was inferred from the capture: the path is expected "
			      "because of the roles the traffic suggested. Check those roles (--write-site writes them "
			      "with their evidence), and whether the sensor sees this path.", out);
		else
			fputs("The capture cannot tell the outcome (one direction only, or it ended right after the "
			      "attempt). Capture both directions for longer.", out);
		break;
	case CLS_OK:
	case CLS_NSTATUS:
		break;
	}
}

struct node {
	int host;               /* site host index, or GRAPH_INTERNET */
	int column;
	double x, y;
};

#define DRAW_COLUMNS 4 /* the pack's role groups, the last also taking what follows it and the internet */

/* Column of a host in the drawing: the display group (rules: role ... group) of its first role that has
 * one, in the order the pack names the groups; the internet in the last column. */
static int column_of(const struct graph *g, int host)
{
	if (host == GRAPH_INTERNET)
		return DRAW_COLUMNS - 1;
	const struct site_host *h = &g->site->hosts[host];
	for (size_t r = 1; r < g->rules->nroles; r++)
		if (site_host_has_role(h, (int)r) && g->rules->roles[r].group >= 0)
			return g->rules->roles[r].group < DRAW_COLUMNS ? g->rules->roles[r].group : DRAW_COLUMNS - 1;
	return 1 < DRAW_COLUMNS ? 1 : 0;
}

struct arrow {
	int client, server;
	enum cls_status worst;
	size_t first;           /* the pair's first row in report order: arrows are drawn in that order */
	char ports[256];
	size_t len;
};

static int cmp_arrows(const void *a, const void *b, void *cls)
{
	const struct cls *c = cls;
	return cls_row_cmp(c, &c->rows[((const struct arrow *)a)->first], &c->rows[((const struct arrow *)b)->first]);
}

static void draw(FILE *out, const struct report *rp)
{
	const struct graph *g = rp->g;
	const struct cls *c = &rp->res->cls;
	size_t nh = g->site->nhosts;
	if (nh + 1 > DRAW_MAX_HOSTS) {
		fprintf(out, "<p>The site has %zu hosts: too many to draw; the tables list every path.</p>\n", nh);
		return;
	}
	struct node *nodes = xcalloc(nh + 1, sizeof(*nodes));
	int per_col[DRAW_COLUMNS] = {0};
	for (size_t i = 0; i <= nh; i++) {
		nodes[i].host = i < nh ? (int)i : GRAPH_INTERNET;
		nodes[i].column = column_of(g, nodes[i].host);
		nodes[i].y = 40 + 34.0 * per_col[nodes[i].column]++;
		nodes[i].x = 110 + 260.0 * nodes[i].column;
	}
	int rows = 0;
	for (int k = 0; k < DRAW_COLUMNS; k++)
		rows = per_col[k] > rows ? per_col[k] : rows;
	int height = 60 + 34 * rows;
	fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1060\" height=\"%d\" font-family=\"sans-serif\" "
		     "font-size=\"11\">\n<defs><marker id=\"a\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" "
		     "markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n",
		height);
	/* The columns' titles: the pack's group names, the last column also holding the internet. */
	for (int k = 0; k < DRAW_COLUMNS; k++) {
		fprintf(out, "<text x=\"%d\" y=\"18\" text-anchor=\"middle\" font-weight=\"bold\">", 110 + 260 * k);
		for (size_t gi = (size_t)k; gi < g->rules->ngroups && (gi == (size_t)k || k == DRAW_COLUMNS - 1); gi++) {
			fputs(gi > (size_t)k ? ", " : "", out);
			rep_html_esc(out, g->rules->groups[gi]);
		}
		if (k == DRAW_COLUMNS - 1)
			fputs((size_t)k < g->rules->ngroups ? ", internet" : "internet", out);
		fputs("</text>\n", out);
	}
	/* One arrow per (client, server) pair with its worst required status and its ports, in the order of
	 * the pairs' first rows. */
	struct arrow *arrows = NULL;
	size_t narrows = 0, cap_arrows = 0;
	uint32_t *arrow_of = xmalloc((g->nedges + 1) * sizeof(*arrow_of)); /* per edge with rows: its arrow */
	memset(arrow_of, 0xff, (g->nedges + 1) * sizeof(*arrow_of));
	struct oat ix;
	oat_init(&ix, 0, 0);
	for (size_t i = 0; i < c->nrows; i++) {
		const struct cls_row *r = &c->rows[i];
		const struct graph_edge *e = &g->edges[r->edge];
		int32_t key[2] = {e->client, e->server};
		uint32_t hash = fa_hash(ix.seed, key, sizeof(key)), ai;
		size_t pos = oat_home(&ix, hash);
		while ((ai = oat_next(&ix, hash, &pos)) != OAT_NONE &&
		       (arrows[ai].client != e->client || arrows[ai].server != e->server))
			;
		if (ai == OAT_NONE) {
			GROW(arrows, cap_arrows, narrows);
			memset(&arrows[narrows], 0, sizeof(*arrows));
			arrows[narrows].client = e->client;
			arrows[narrows].server = e->server;
			arrows[narrows].worst = r->status;
			arrows[narrows].first = i;
			ai = (uint32_t)narrows++;
			oat_insert(&ix, hash, ai);
		}
		struct arrow *w = &arrows[ai];
		if (cls_row_cmp(c, r, &c->rows[w->first]) < 0)
			w->first = i;
		if (r->status == CLS_BLOCKED || (w->worst == CLS_OK && r->status != CLS_OK))
			w->worst = r->status;
		arrow_of[r->edge] = ai;
	}
	/* Each arrow's ports, in the graph's order of its edges. */
	for (size_t i = 0; i < g->nedges; i++) {
		if (arrow_of[i] == UINT32_MAX)
			continue;
		struct arrow *w = &arrows[arrow_of[i]];
		const struct graph_edge *e = &g->edges[i];
		if (w->len < sizeof(w->ports) - 16 && !strstr(w->ports, rules_proto_name(e->proto)))
			w->len += (size_t)snprintf(w->ports + w->len, sizeof(w->ports) - w->len, "%s%s/%u", w->len ? " " : "",
						   rules_proto_name(e->proto), e->port);
		else if (w->len < sizeof(w->ports) - 8)
			w->len += (size_t)snprintf(w->ports + w->len, sizeof(w->ports) - w->len, " %u", e->port);
	}
	oat_free(&ix);
	free(arrow_of);
	qsort_r(arrows, narrows, sizeof(*arrows), cmp_arrows, (void *)c);
	for (size_t i = 0; i < narrows; i++) {
		const struct arrow *w = &arrows[i];
		enum cls_status worst = w->worst;
		const char *ports = w->ports;
		const struct graph_edge edge = {.client = w->client, .server = w->server}, *e = &edge;
		const struct node *a = &nodes[e->client], *b = &nodes[e->server == GRAPH_INTERNET ? nh : (size_t)e->server];
		double x1 = a->x + (b->x >= a->x ? 60 : -60), x2 = b->x + (b->x >= a->x ? -60 : 60);
		if (a->column == b->column)
			x1 = a->x + 60, x2 = b->x + 60;
		/* The two directions between one pair of hosts would overlap: draw the leftward one lower. */
		double dy = b->x < a->x || (a->column == b->column && b->y < a->y) ? 5 : -3;
		fprintf(out, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"1.6\" "
			     "marker-end=\"url(#a)\"><title>",
			x1, a->y + dy, x2, b->y + dy, rep_status_color(worst));
		rep_html_esc(out, graph_end_name(g, e->client));
		fputs(" -&gt; ", out);
		rep_html_esc(out, graph_end_name(g, e->server));
		fprintf(out, " %s: %s</title></line>\n", ports, cls_status_name(worst));
	}
	free(arrows);
	for (size_t i = 0; i <= nh; i++) {
		const char *name = graph_end_name(g, nodes[i].host);
		fprintf(out, "<rect x=\"%.0f\" y=\"%.0f\" width=\"120\" height=\"22\" rx=\"4\" fill=\"#f5f5f5\" stroke=\"#999\"/>"
			     "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">",
			nodes[i].x - 60, nodes[i].y - 11, nodes[i].x, nodes[i].y + 4);
		rep_html_esc(out, name);
		fputs("</text>\n", out);
	}
	fputs("</svg>\n", out);
	free(nodes);
}

/* One address pair of a path; indent: listed under its path's group row. */
static void row_cells(FILE *out, const struct report *rp, const struct cls_row *r, bool with_advice, bool indent)
{
	const struct graph *g = rp->g;
	const struct graph_edge *e = &g->edges[r->edge];
	char ca[50], sa[50];
	site_addr_str(&r->client, ca);
	site_addr_str(&r->server, sa);
	const char *why = cls_reason_name(r->reason);
	fprintf(out, "<tr><td style=\"color:%s;font-weight:bold%s\">%s</td><td>%s</td><td>", rep_status_color(r->status),
		indent ? ";padding-left:2em" : "", cls_status_name(r->status), why ? why : "");
	if (!indent)
		rep_html_esc(out, g->rules->edges[e->rule].requirement);
	fputs("</td><td>", out);
	rep_html_esc(out, graph_end_name(g, e->client));
	fprintf(out, " <small>%s</small> &rarr; ", ca);
	rep_html_esc(out, graph_end_name(g, e->server));
	fprintf(out, " <small>%s</small></td><td>%s/%u</td><td>%llu/%llu</td>", sa, rules_proto_name(r->proto), r->port,
		(unsigned long long)r->n.established, (unsigned long long)r->n.attempts);
	if (with_advice) {
		fputs("<td>", out);
		if (!indent) /* a pair under its path's row: the path's advice covers it */
			advice(out, r->status, r->reason, g->rules->edges[e->rule].requirement, ca, sa, r->proto, r->port,
			       addr_is_v4(r->client.a));
		char *app = rep_app_words(&rp->res->cls, r);
		if (app) {
			fputs("<div><small>application: ", out);
			rep_html_esc(out, app);
			fputs("</small></div>", out);
			free(app);
		}
		const char *fw = rep_firewall(rp, r);
		if (fw) {
			fputs("<div><small>this machine's nftables: ", out);
			rep_html_esc(out, fw);
			fputs("</small></div>", out);
		}
		fputs("</td>", out);
	}
	fputs("</tr>\n", out);
}

/* A path of many address pairs as one row (the hosts' own addresses or prefixes stand for the pairs in
 * the advice), then its worst pairs. */
static void group_cells(FILE *out, const struct report *rp, int edge, const struct rep_group *gp, bool with_advice)
{
	const struct graph *g = rp->g;
	const struct graph_edge *e = &g->edges[edge];
	enum cls_reason why = rep_group_reason(gp);
	char b[32], b2[32], ca[50] = "", sa[50] = "0.0.0.0/0";
	const struct site_host *ch = &g->site->hosts[e->client];
	if (ch->naddrs)
		site_addr_str(&ch->addrs[0], ca);
	if (e->server != GRAPH_INTERNET && g->site->hosts[e->server].naddrs)
		site_addr_str(&g->site->hosts[e->server].addrs[0], sa);
	fprintf(out, "<tr><td style=\"color:%s;font-weight:bold\">%s</td><td>%s</td><td>",
		rep_status_color(gp->worst_status), cls_status_name(gp->worst_status), why ? cls_reason_name(why) : "");
	rep_html_esc(out, g->rules->edges[e->rule].requirement);
	fputs("</td><td>", out);
	rep_html_esc(out, graph_end_name(g, e->client));
	fputs(" &rarr; ", out);
	rep_html_esc(out, graph_end_name(g, e->server));
	char *counts = rep_group_counts(gp);
	fprintf(out, " <small>(%s address pairs: %s)</small></td><td>%s/%u</td><td>%s/%s</td>", rep_count(gp->nrows, b),
		counts, rules_proto_name(e->proto), e->port, rep_count(gp->established, b2), rep_count(gp->attempts, b));
	free(counts);
	if (with_advice) {
		fputs("<td>", out);
		advice(out, gp->worst_status, why, g->rules->edges[e->rule].requirement, ca, sa, e->proto, e->port,
		       ch->naddrs ? addr_is_v4(ch->addrs[0].a) : true);
		fputs("</td>", out);
	}
	fputs("</tr>\n", out);
	for (size_t k = 0; k < gp->nworst; k++)
		row_cells(out, rp, &rp->res->cls.rows[gp->worst[k]], with_advice, true);
}

/* Rows of paths: findings (with advice) or the rest; a path of many address pairs once, as a group. */
static void path_rows(FILE *out, const struct report *rp, const struct rep_groups *gr, bool findings)
{
	const struct cls *c = &rp->res->cls;
	for (size_t i = 0; i < gr->npath_items; i++) {
		const struct rep_item *it = &gr->path_items[i];
		const struct cls_row *r = &c->rows[it->row];
		bool required = cls_row_level(c, r) == LEVEL_REQUIRED;
		if (it->group != REP_NO_GROUP) {
			if ((required && gr->path[it->group].worst_status != CLS_OK) == findings)
				group_cells(out, rp, r->edge, &gr->path[it->group], findings);
		} else if ((required && r->status != CLS_OK) == findings) {
			row_cells(out, rp, r, findings, false);
		}
	}
}

static void unexpected_cells(FILE *out, const struct report *rp, const struct cls_unexpected *u, bool indent)
{
	char ca[50], sa[50];
	rep_unexp_addr(rp->g, u, false, ca);
	rep_unexp_addr(rp->g, u, true, sa);
	fprintf(out, "<tr><td%s>%s</td><td>", indent ? " style=\"padding-left:2em\"" : "", cls_status_name(u->status));
	rep_html_esc(out, u->client_host >= 0 ? rp->g->site->hosts[u->client_host].name : "outside");
	fprintf(out, " <small>%s</small> &rarr; ", ca);
	rep_html_esc(out, u->server_host >= 0 ? rp->g->site->hosts[u->server_host].name : "outside");
	fprintf(out, " <small>%s</small></td><td>%s/%u</td><td>%llu</td><td>", sa, rules_proto_name(u->proto), u->port,
		(unsigned long long)u->n.attempts);
	if (!indent) {
		char *why = rep_why(rp->g, u);
		rep_html_esc(out, why);
		free(why);
	}
	fputs("</td></tr>\n", out);
}

static void unexpected_group(FILE *out, const struct report *rp, const struct rep_groups *gr, size_t i)
{
	const struct cls *c = &rp->res->cls;
	const struct cls_unexpected *u = &c->unexp[i];
	const struct rep_group *gp = &gr->unexp[gr->unexp_group[i]];
	const char *ports = gr->unexp_ports[gr->unexp_group[i]];
	char b[32];
	fprintf(out, "<tr><td>%s</td><td>", cls_status_name(gp->worst_status));
	rep_html_esc(out, u->client_host >= 0 ? rp->g->site->hosts[u->client_host].name : "outside");
	fputs(" &rarr; ", out);
	rep_html_esc(out, u->server_host >= 0 ? rp->g->site->hosts[u->server_host].name : "outside");
	char *counts = rep_group_counts(gp);
	fprintf(out, " <small>(%s address pairs: %s)</small></td><td>", rep_count(gp->nrows, b), counts);
	free(counts);
	rep_html_esc(out, ports);
	fprintf(out, "</td><td>%s</td><td>", rep_count(gp->attempts, b));
	char *why = rep_why_ports(rp->g, u, ports, gp->nports);
	rep_html_esc(out, why);
	free(why);
	fputs("</td></tr>\n", out);
	for (size_t k = 0; k < gp->nworst; k++)
		unexpected_cells(out, rp, &c->unexp[gp->worst[k]], true);
}

static int audit_html(FILE *out, const struct report *rp)
{
	const struct audit_result *res = rp->res;
	const struct cls *c = &res->cls;
	fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>flowaudit report</title>\n<style>"
	      "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
	      "td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}"
	      "th{background:#f0f0f0}code{background:#f5f5f5;padding:1px 3px}small{color:#666}"
	      ".badge{display:inline-block;padding:4px 10px;margin-right:6px;border-radius:4px;color:#fff}"
	      "</style></head><body>\n<h1>flowaudit report</h1>\n<p>", out);
	for (size_t i = 0; i < res->ninputs; i++) {
		fputs(i ? ", " : "", out);
		rep_html_esc(out, res->inputs[i].source);
		fprintf(out, " (%s, %llu packets)", res->inputs[i].linktype, (unsigned long long)res->inputs[i].packets);
	}
	fputs(" against ", out);
	char *site = rep_site_words(rp);
	rep_html_esc(out, site);
	free(site);
	fputs("</p>\n<p>", out);
	for (int s = 0; s < CLS_NSTATUS; s++)
		fprintf(out, "<span class=\"badge\" style=\"background:%s\">%zu %s</span>", rep_status_color((enum cls_status)s),
			c->summary[s], cls_status_name((enum cls_status)s));
	fprintf(out, "<span class=\"badge\" style=\"background:#37474f\">%zu unexpected</span></p>\n", c->nunexp - c->nknown);
	for (size_t i = 0; i < res->nwarnings; i++) {
		fputs("<p><b>Warning:</b> ", out);
		rep_html_esc(out, res->warnings[i]);
		fputs("</p>\n", out);
	}
	fputs("<h2>Port graph</h2>\n", out);
	draw(out, rp);
	struct rep_groups gr;
	rep_groups_build(&gr, rp->g, c, rp->by_address);
	fputs("<h2>Required paths with findings</h2>\n<table><tr><th>status</th><th>reason</th><th>requirement</th>"
	      "<th>client &rarr; server</th><th>port</th><th>ok/tries</th><th>what to do</th></tr>\n", out);
	path_rows(out, rp, &gr, true);
	fputs("</table>\n<h2>Unexpected flows</h2>\n<table><tr><th>status</th><th>client &rarr; server</th><th>port</th>"
	      "<th>tries</th><th>why</th></tr>\n", out);
	for (size_t i = 0; i < gr.nunexp_items; i++) {
		const struct rep_item *it = &gr.unexp_items[i];
		if (c->unexp[it->row].apart)
			continue; /* known hosts outside the product: counted in the JSON and text reports */
		if (it->group == REP_NO_GROUP)
			unexpected_cells(out, rp, &c->unexp[it->row], false);
		else
			unexpected_group(out, rp, &gr, it->row);
	}
	fputs("</table>\n", out);
	struct cls_place *pl;
	uint32_t limit;
	size_t npl = cls_placement(c, &pl, &limit);
	if (npl)
		fprintf(out, "<h2>Partner placement</h2>\n<p>The vendor asks for each agent on its storage's subnet, with "
			     "handshakes under %.2f ms.</p>\n<ul>\n", limit / 1000.0);
	for (size_t i = 0; i < npl; i++) {
		char *w = rep_place_words(rp->g, &pl[i], limit);
		fprintf(out, "<li%s>", pl[i].slow || pl[i].routed ? " style=\"color:#b00\"" : "");
		rep_html_esc(out, w);
		fputs("</li>\n", out);
		free(w);
	}
	if (npl)
		fputs("</ul>\n", out);
	free(pl);
	fputs("<details><summary><b>Paths that are ok, and optional paths seen</b></summary>\n<table>"
	      "<tr><th>status</th><th>reason</th><th>requirement</th><th>client &rarr; server</th><th>port</th>"
	      "<th>ok/tries</th></tr>\n", out);
	path_rows(out, rp, &gr, false);
	rep_groups_free(&gr);
	fprintf(out, "</table></details>\n<p><small>flowaudit %s</small></p>\n</body></html>\n", FLOWAUDIT_VERSION);
	return ferror(out) ? -1 : 0;
}

const struct rep_format rep_html = {"html", false, NULL, audit_html};
