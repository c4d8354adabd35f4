/* graph.c: expands rules against a site into host-level expected edges.
 * Scopes (partner, brokers, cee), conditions and port parameters are resolved here, once, so the
 * classifier only does hash lookups. A host is never joined to itself: that path crosses no firewall. */
#include "flowaudit/graph.h"

#include <netinet/in.h>
#include <string.h>
#include <uthash.h>

#include "flowaudit/util.h"

struct graph_key {
	int client, server;
	uint16_t port;
	uint8_t proto;
	uint8_t pad;
};

struct graph_ix {
	struct graph_key key;
	int edge;
	UT_hash_handle hh;
};

const char *graph_end_name(const struct graph *g, int end)
{
	if (end == GRAPH_INTERNET)
		return "internet";
	if (g->site)
		return g->site->hosts[end].name;
	return g->rules->roles[end].name;
}

static void add_edge(struct graph *g, int rule, int client, int server, uint8_t proto, uint16_t port, int group,
		     enum rules_level level)
{
	struct graph_key k;
	memset(&k, 0, sizeof(k));
	k.client = client;
	k.server = server;
	k.port = port;
	k.proto = proto;
	struct graph_ix *e;
	HASH_FIND(hh, g->ix, &k, sizeof(k), e);
	if (e) {
		/* The same path from two rules: keep the first; allowed beats forbidden, required beats optional. */
		struct graph_edge *old = &g->edges[e->edge];
		if (level < old->level) {
			old->level = level;
			old->rule = rule;
			old->group = group;
		}
	} else {
		GROW(g->edges, g->cap_edges, g->nedges);
		struct graph_edge *ge = &g->edges[g->nedges];
		ge->rule = rule;
		ge->client = client;
		ge->server = server;
		ge->proto = proto;
		ge->port = port;
		ge->group = group;
		ge->level = level;
		e = xcalloc(1, sizeof(*e));
		e->key = k;
		e->edge = (int)g->nedges++;
		HASH_ADD(hh, g->ix, key, sizeof(k), e);
	}
	if (level != LEVEL_FORBID)
		g->ports[proto == IPPROTO_UDP][port >> 3] |= (uint8_t)(1u << (port & 7));
}

int graph_find(const struct graph *g, int client, int server, uint8_t proto, uint16_t port)
{
	struct graph_key k;
	memset(&k, 0, sizeof(k));
	k.client = client;
	k.server = server;
	k.port = port;
	k.proto = proto;
	struct graph_ix *e;
	HASH_FIND(hh, g->ix, &k, sizeof(k), e);
	return e ? e->edge : -1;
}

void graph_free(struct graph *g)
{
	struct graph_ix *e, *tmp;
	HASH_ITER(hh, g->ix, e, tmp) {
		HASH_DEL(g->ix, e);
		free(e);
	}
	free(g->edges);
	memset(g, 0, sizeof(*g));
}

/* Condition lookup: site settings first, then the client, the server and the storage host linking them. */
static const char *lookup(const struct site *s, const struct site_host *c, const struct site_host *sv,
			  const struct site_host *link, const char *key)
{
	const char *v = site_setting(s, key);
	if (!v && c)
		v = site_attr(c, key);
	if (!v && sv)
		v = site_attr(sv, key);
	if (!v && link)
		v = site_attr(link, key);
	return v;
}

static bool conds_hold(const struct rules_cond *conds, size_t n, const struct site *s, const struct site_host *c,
		       const struct site_host *sv, const struct site_host *link)
{
	for (size_t i = 0; i < n; i++)
		if (!rules_cond_holds(&conds[i], lookup(s, c, sv, link, conds[i].key)))
			return false;
	return true;
}

/* A parameter's port for this server: the host's own NAME=PORT, the site's "set NAME PORT", the first
 * conditional default that holds, then the rule pack's default. */
static uint16_t param_port(const struct rules *r, const struct site *s, int param, const struct site_host *sv)
{
	const char *name = r->params[param].name;
	uint16_t port = r->params[param].port;
	const char *v = sv ? site_attr(sv, name) : NULL;
	if (!v)
		v = site_setting(s, name);
	if (v && port_parse(v, &port))
		return port;
	for (size_t i = (size_t)param; i < r->nparams; i++)
		if (strcmp(r->params[i].name, name) == 0 && r->params[i].nconds &&
		    conds_hold(r->params[i].conds, r->params[i].nconds, s, NULL, sv, NULL))
			return r->params[i].port;
	return port;
}

static bool in_list(char *const *list, size_t n, const char *v)
{
	for (size_t i = 0; v && i < n; i++)
		if (strcmp(list[i], v) == 0)
			return true;
	return false;
}

static bool partnered(const struct site_host *agent, const struct site_host *storage)
{
	return in_list(agent->partners, agent->npartners, site_attr(storage, "system"));
}

static bool broker_assigned(const struct site *s, const struct site_host *a, const struct site_host *b)
{
	if (!a->brokers)
		return true;
	for (size_t i = 0; i < a->nbrokers; i++)
		if (&s->hosts[a->brokers[i]] == b)
			return true;
	return false;
}

static void emit(struct graph *g, int ri, int c, int sv, const struct site_host *link)
{
	const struct rules *r = g->rules;
	const struct rules_edge *e = &r->edges[ri];
	const struct site *s = g->site;
	const struct site_host *ch = &s->hosts[c];
	const struct site_host *sh = sv == GRAPH_INTERNET ? NULL : &s->hosts[sv];
	if (!conds_hold(e->conds, e->nconds, s, ch, sh, link))
		return;
	for (size_t k = 0; k < e->nports; k++) {
		const struct rules_port *p = &e->ports[k];
		uint16_t port = p->param >= 0 ? param_port(r, s, p->param, sh) : p->port;
		add_edge(g, ri, c, sv, p->proto, port, p->group, e->level);
	}
}

/* One direction of an edge rule over every host pair its scope allows. */
static void expand(struct graph *g, int ri, int crole, int srole)
{
	const struct site *s = g->site;
	const struct rules_edge *e = &g->rules->edges[ri];
	for (size_t c = 0; c < s->nhosts; c++) {
		const struct site_host *ch = &s->hosts[c];
		if (!site_host_has_role(ch, crole))
			continue;
		if (srole == RULES_ROLE_INTERNET) {
			emit(g, ri, (int)c, GRAPH_INTERNET, NULL);
			continue;
		}
		for (size_t sv = 0; sv < s->nhosts; sv++) {
			const struct site_host *sh = &s->hosts[sv];
			if (sv == c || !site_host_has_role(sh, srole))
				continue;
			switch (e->scope) {
			case SCOPE_ANY:
				emit(g, ri, (int)c, (int)sv, NULL);
				break;
			case SCOPE_PARTNER:
				if (partnered(ch, sh))
					emit(g, ri, (int)c, (int)sv, sh);
				else if (partnered(sh, ch))
					emit(g, ri, (int)c, (int)sv, ch);
				break;
			case SCOPE_BROKERS:
				if (broker_assigned(s, ch, sh) && broker_assigned(s, sh, ch))
					emit(g, ri, (int)c, (int)sv, NULL);
				break;
			case SCOPE_CEE:
				/* The pair is a storage host's CEE host and either that storage host or an agent
				 * partnered with its system; the storage host is the link. */
				for (size_t st = 0; st < s->nhosts; st++) {
					const struct site_host *sth = &s->hosts[st];
					const char *cee = site_attr(sth, "cee");
					if (!cee || (e->via >= 0 && !site_host_has_role(sth, e->via)))
						continue;
					int x = site_host_find(s, cee);
					int other = x == (int)c ? (int)sv : x == (int)sv ? (int)c : -1;
					if (other < 0)
						continue;
					if ((size_t)other == st || partnered(&s->hosts[other], sth)) {
						size_t before = g->nedges;
						emit(g, ri, (int)c, (int)sv, sth);
						if (g->nedges != before)
							break;
					}
				}
				break;
			}
		}
	}
}

/* Role level: one row per rule and port, not merged: two rules on the same roles and port differ in
 * their conditions, and the reader wants to see both. */
static void build_roles(struct graph *g)
{
	const struct rules *r = g->rules;
	for (size_t ri = 0; ri < r->nedges; ri++) {
		const struct rules_edge *e = &r->edges[ri];
		for (int dir = 0; dir < (e->both_ways && e->client != e->server ? 2 : 1); dir++)
			for (size_t k = 0; k < e->nports; k++) {
				GROW(g->edges, g->cap_edges, g->nedges);
				struct graph_edge *ge = &g->edges[g->nedges++];
				ge->rule = (int)ri;
				ge->client = dir ? e->server : e->client;
				ge->server = dir ? e->client : e->server;
				ge->proto = e->ports[k].proto;
				ge->port = e->ports[k].port;
				ge->group = e->ports[k].group;
				ge->level = e->level;
			}
	}
}

void graph_build(struct graph *g, const struct rules *r, const struct site *s)
{
	memset(g, 0, sizeof(*g));
	g->rules = r;
	g->site = s;
	if (!s) {
		build_roles(g);
		return;
	}
	for (size_t ri = 0; ri < r->nedges; ri++) {
		const struct rules_edge *e = &r->edges[ri];
		expand(g, (int)ri, e->client, e->server);
		if (e->both_ways && e->client != e->server)
			expand(g, (int)ri, e->server, e->client);
	}
}
