/* report.c: the registry of report formats and what they share: address pairs of an expected edge. */
#include "flowaudit/report.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/util.h"

static const struct rep_format *const formats[] = {&rep_text, &rep_json, &rep_dot, &rep_html};

const struct rep_format *rep_find(const char *name)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(formats[i]->name, name) == 0)
			return formats[i];
	return NULL;
}

const char *rep_proto(uint8_t proto)
{
	return rules_proto_name(proto);
}

size_t rep_edge_pairs(const struct graph *g, const struct graph_edge *e, struct rep_pair *pairs, size_t max)
{
	size_t n = 0;
	const struct site_host *c = &g->site->hosts[e->client];
	for (size_t i = 0; i < c->naddrs && n < max; i++) {
		bool v4 = addr_is_v4(c->addrs[i].a);
		if (e->server == GRAPH_INTERNET) {
			site_addr_str(&c->addrs[i], pairs[n].client);
			strcpy(pairs[n].server, v4 ? "0.0.0.0/0" : "::/0");
			n++;
			continue;
		}
		const struct site_host *s = &g->site->hosts[e->server];
		for (size_t k = 0; k < s->naddrs && n < max; k++)
			if (addr_is_v4(s->addrs[k].a) == v4) {
				site_addr_str(&c->addrs[i], pairs[n].client);
				site_addr_str(&s->addrs[k], pairs[n].server);
				n++;
			}
	}
	return n;
}

/* Roles of a host as "name (agent,mds)", or "an address outside the site". */
static char *roles_str(const struct graph *g, int host)
{
	if (host < 0)
		return xstrdup("an address outside the site");
	const struct site_host *h = &g->site->hosts[host];
	size_t cap = 256, len = 0;
	char *s = xmalloc(cap);
	len += (size_t)snprintf(s, cap, "%s (", h->name);
	bool first = true;
	for (size_t r = 0; r < g->rules->nroles && len < cap - 1; r++)
		if (site_host_has_role(h, (int)r)) {
			len += (size_t)snprintf(s + len, cap - len, "%s%s", first ? "" : ",", g->rules->roles[r].name);
			first = false;
		}
	if (len < cap - 1)
		snprintf(s + len, cap - len, ")");
	return s;
}

/* "\"ONTAP REST API\" (agent -> ontap-mgmt, when ...)": a rule named for a person. */
static char *rule_words(const struct graph *g, int ri)
{
	const struct rules *r = g->rules;
	const struct rules_edge *e = &r->edges[ri];
	char conds[160] = "";
	size_t len = 0;
	for (size_t i = 0; i < e->nconds && len < sizeof(conds) - 1; i++) {
		len += (size_t)snprintf(conds + len, sizeof(conds) - len, "%s%s%s%s", i ? " " : ", when ", e->conds[i].key,
					e->conds[i].negate ? "!=" : "=", e->conds[i].values[0]);
		for (size_t k = 1; k < e->conds[i].nvalues && len < sizeof(conds) - 1; k++)
			len += (size_t)snprintf(conds + len, sizeof(conds) - len, "|%s", e->conds[i].values[k]);
	}
	return xasprintf("\"%s\" (%s %s %s%s)", e->requirement, r->roles[e->client].name, e->both_ways ? "<->" : "->",
			 r->roles[e->server].name, conds);
}

char *rep_why(const struct graph *g, const struct cls_unexpected *u)
{
	const char *pn = rules_proto_name(u->proto);
	unsigned port = u->port;
	switch ((enum cls_why)u->why) {
	case CLS_WHY_APART:
		return xstrdup("a known host outside PeerGFS");
	case CLS_WHY_FORBIDDEN:
		return xstrdup(g->rules->edges[g->edges[u->why_ref].rule].requirement);
	default:
		break;
	}
	char *cr = roles_str(g, u->client_host), *sr = roles_str(g, u->server_host), *why, *rw;
	switch ((enum cls_why)u->why) {
	case CLS_WHY_REVERSE:
		why = xasprintf("wrong direction: %s/%u is expected from %s to %s (\"%s\"), not the reverse", pn, port, sr, cr,
				g->rules->edges[g->edges[u->why_ref].rule].requirement);
		break;
	case CLS_WHY_OTHER_HOSTS:
		/* Name the requirement that uses this port, so the reader sees what was probably meant. */
		rw = rule_words(g, u->why_ref);
		why = xasprintf("%s/%u is the port of %s, but no path of this site expects it from %s to %s", pn, port, rw, cr, sr);
		free(rw);
		break;
	case CLS_WHY_PORT_ELSEWHERE:
		why = xasprintf("no rule allows %s/%u from %s to %s (the site uses the port elsewhere)", pn, port, cr, sr);
		break;
	default:
		why = xasprintf("%s/%u is not a PeerGFS port and no rule allows it from %s to %s", pn, port, cr, sr);
		break;
	}
	free(cr);
	free(sr);
	return why;
}
