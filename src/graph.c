/* graph.c: expands rules against a site into host-level expected edges.
 * Scopes (partner, brokers, cee), conditions and port parameters are resolved here, once, so the
 * classifier only does hash lookups. A host is never joined to itself: that path crosses no firewall. */
#include "flowaudit/graph.h"

#include <netinet/in.h>
#include <string.h>
#include "flowaudit/hash.h"

#include "flowaudit/util.h"

static uint32_t tuple_hash(int client, int server, uint8_t proto, uint16_t port)
{
	uint64_t w0 = (uint64_t)(uint32_t)client | (uint64_t)(uint32_t)server << 32;
	uint64_t w1 = (uint64_t)port | (uint64_t)proto << 16;
	/* Unseeded: the graph's keys are the operator's rules and hosts, never the wire's. */
	uint64_t h = fa_mum(w0 ^ 0xa0761d6478bd642full, w1 ^ 0xe7037ed1a0b428dbull);
	h = fa_mum(h, 0x589965cc75374cc3ull);
	return (uint32_t)(h ^ h >> 32);
}

static bool edge_is(const struct graph_edge *e, int client, int server, uint8_t proto, uint16_t port)
{
	return e->client == client && e->server == server && e->proto == proto && e->port == port;
}

static int find(const struct graph *g, uint32_t hash, int client, int server, uint8_t proto, uint16_t port)
{
	size_t pos = oat_home(&g->ix, hash);
	for (uint32_t i; (i = oat_next(&g->ix, hash, &pos)) != OAT_NONE;)
		if (edge_is(&g->edges[i], client, server, proto, port))
			return (int)i;
	return -1;
}

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
	uint32_t hash = tuple_hash(client, server, proto, port);
	int found = find(g, hash, client, server, proto, port);
	if (found >= 0) {
		/* The same path from two rules: keep the first; allowed beats forbidden, required beats optional. */
		struct graph_edge *old = &g->edges[found];
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
		ge->partner = g->rules->edges[rule].scope == SCOPE_PARTNER;
		oat_insert(&g->ix, hash, (uint32_t)g->nedges++);
	}
	if (level != LEVEL_FORBID)
		g->ports[proto == IPPROTO_UDP][port >> 3] |= (uint8_t)(1u << (port & 7));
}

int graph_find(const struct graph *g, int client, int server, uint8_t proto, uint16_t port)
{
	return find(g, tuple_hash(client, server, proto, port), client, server, proto, port);
}

int graph_path(const struct graph *g, const uint8_t client[16], const uint8_t server[16], uint8_t proto, uint16_t port,
	       int *ch, int *sh)
{
	*ch = g->site ? site_lookup(g->site, client) : -1;
	*sh = g->site ? site_lookup(g->site, server) : -1;
	return *ch >= 0 ? graph_find(g, *ch, *sh < 0 ? GRAPH_INTERNET : *sh, proto, port) : -1;
}

void graph_free(struct graph *g)
{
	oat_free(&g->ix);
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

/* Do the conditions hold? A key no one gives takes the pack's default for it (attr ... default V). */
static bool conds_hold(const struct rules *r, const struct rules_cond *conds, size_t n, const struct site *s,
		       const struct site_host *c, const struct site_host *sv, const struct site_host *link)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = lookup(s, c, sv, link, conds[i].key);
		if (!v) {
			const struct rules_attr *a = rules_attr_find(r, conds[i].key);
			v = a ? a->def : NULL;
		}
		if (!rules_cond_holds(&conds[i], v))
			return false;
	}
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
		    conds_hold(r, r->params[i].conds, r->params[i].nconds, s, NULL, sv, NULL))
			return r->params[i].port;
	return port;
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
	if (!conds_hold(r, e->conds, e->nconds, s, ch, sh, link))
		return;
	for (size_t k = 0; k < e->nports; k++) {
		const struct rules_port *p = &e->ports[k];
		uint16_t port = p->param >= 0 ? param_port(r, s, p->param, sh) : p->port;
		add_edge(g, ri, c, sv, p->proto, port, p->group, e->level);
	}
}

/* Indexes of the site built once per graph: the hosts of each role, and for each storage system its
 * member hosts and the agents partnered with it. */
struct sys_ix {
	const char *name;
	int *members, *agents;
	size_t nmembers, nagents, cap_members, cap_agents;
	UT_hash_handle hh;
};

struct site_ix {
	int *by_role[RULES_MAX_ROLES];
	size_t nrole[RULES_MAX_ROLES], cap_role[RULES_MAX_ROLES];
	struct sys_ix *systems;
	int *cee_hosts;         /* storage hosts naming a CEE host */
	size_t ncee, cap_cee;
};

static struct sys_ix *system_get(struct site_ix *ix, const char *name)
{
	struct sys_ix *e;
	HASH_FIND_STR(ix->systems, name, e);
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->name = name;
		HASH_ADD_KEYPTR(hh, ix->systems, e->name, strlen(e->name), e);
	}
	return e;
}

static void index_site(struct site_ix *ix, const struct site *s, size_t nroles)
{
	memset(ix, 0, sizeof(*ix));
	for (size_t h = 0; h < s->nhosts; h++) {
		const struct site_host *sh = &s->hosts[h];
		for (size_t r = 0; r < nroles; r++)
			if (site_host_has_role(sh, (int)r)) {
				GROW(ix->by_role[r], ix->cap_role[r], ix->nrole[r]);
				ix->by_role[r][ix->nrole[r]++] = (int)h;
			}
		const char *sys = site_attr(sh, "system");
		if (sys) {
			struct sys_ix *e = system_get(ix, sys);
			GROW(e->members, e->cap_members, e->nmembers);
			e->members[e->nmembers++] = (int)h;
		}
		for (size_t k = 0; k < sh->npartners; k++) {
			struct sys_ix *e = system_get(ix, sh->partners[k]);
			GROW(e->agents, e->cap_agents, e->nagents);
			e->agents[e->nagents++] = (int)h;
		}
		if (site_attr(sh, "cee")) {
			GROW(ix->cee_hosts, ix->cap_cee, ix->ncee);
			ix->cee_hosts[ix->ncee++] = (int)h;
		}
	}
}

static void free_index(struct site_ix *ix)
{
	for (size_t r = 0; r < RULES_MAX_ROLES; r++)
		free(ix->by_role[r]);
	struct sys_ix *e, *tmp;
	HASH_ITER(hh, ix->systems, e, tmp) {
		HASH_DEL(ix->systems, e);
		free(e->members);
		free(e->agents);
		free(e);
	}
	free(ix->cee_hosts);
}

/* Emit (c, sv) when the two hosts hold the edge's roles and are not the same host. */
static void emit_if(struct graph *g, int ri, int crole, int srole, int c, int sv, const struct site_host *link)
{
	const struct site *s = g->site;
	if (c != sv && site_host_has_role(&s->hosts[c], crole) && site_host_has_role(&s->hosts[sv], srole))
		emit(g, ri, c, sv, link);
}

/* One direction of an edge rule over every host pair its scope allows. */
static void expand(struct graph *g, const struct site_ix *ix, int ri, int crole, int srole)
{
	const struct site *s = g->site;
	const struct rules_edge *e = &g->rules->edges[ri];
	for (size_t ci = 0; ci < ix->nrole[crole]; ci++) {
		int c = ix->by_role[crole][ci];
		const struct site_host *ch = &s->hosts[c];
		if (srole == RULES_ROLE_INTERNET) {
			emit(g, ri, c, GRAPH_INTERNET, NULL);
			continue;
		}
		switch (e->scope) {
		case SCOPE_ANY:
			for (size_t k = 0; k < ix->nrole[srole]; k++)
				emit_if(g, ri, crole, srole, c, ix->by_role[srole][k], NULL);
			break;
		case SCOPE_BROKERS:
			for (size_t k = 0; k < ix->nrole[srole]; k++) {
				int sv = ix->by_role[srole][k];
				if (broker_assigned(s, ch, &s->hosts[sv]) && broker_assigned(s, &s->hosts[sv], ch))
					emit_if(g, ri, crole, srole, c, sv, NULL);
			}
			break;
		case SCOPE_PARTNER: {
			/* The client is an agent: the members of its partner systems; or the client is a storage
			 * host: the agents partnered with its system. The storage host is the link. */
			struct sys_ix *sys;
			for (size_t p = 0; p < ch->npartners; p++) {
				HASH_FIND_STR(ix->systems, ch->partners[p], sys);
				for (size_t m = 0; sys && m < sys->nmembers; m++)
					emit_if(g, ri, crole, srole, c, sys->members[m], &s->hosts[sys->members[m]]);
			}
			const char *own = site_attr(ch, "system");
			if (own) {
				HASH_FIND_STR(ix->systems, own, sys);
				for (size_t a = 0; sys && a < sys->nagents; a++)
					emit_if(g, ri, crole, srole, c, sys->agents[a], ch);
			}
			break;
		}
		case SCOPE_CEE:
			break; /* below: driven by the storage hosts that name a CEE host */
		}
	}
	if (e->scope != SCOPE_CEE)
		return;
	/* The pair is a storage host's CEE host and either that storage host or an agent partnered with its
	 * system; the storage host is the link (and must have the `via` role when one is given). */
	for (size_t k = 0; k < ix->ncee; k++) {
		int st = ix->cee_hosts[k];
		const struct site_host *sth = &s->hosts[st];
		if (e->via >= 0 && !site_host_has_role(sth, e->via))
			continue;
		int x = site_host_find(s, site_attr(sth, "cee"));
		if (x < 0)
			continue;
		emit_if(g, ri, crole, srole, st, x, sth);
		emit_if(g, ri, crole, srole, x, st, sth);
		const char *sys_name = site_attr(sth, "system");
		struct sys_ix *sys = NULL;
		if (sys_name)
			HASH_FIND_STR(ix->systems, sys_name, sys);
		for (size_t a = 0; sys && a < sys->nagents; a++) {
			emit_if(g, ri, crole, srole, x, sys->agents[a], sth);
			emit_if(g, ri, crole, srole, sys->agents[a], x, sth);
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

/* Paths one direction of a rule gives at most: every pair its scope allows, times its ports. */
static uint64_t expansion(const struct rules *r, const struct site *s, const struct site_ix *ix, int ri, int crole,
			  int srole)
{
	const struct rules_edge *e = &r->edges[ri];
	uint64_t pairs = 0;
	if (srole == RULES_ROLE_INTERNET)
		pairs = ix->nrole[crole];
	else if (e->scope == SCOPE_ANY)
		pairs = (uint64_t)ix->nrole[crole] * ix->nrole[srole];
	else if (e->scope == SCOPE_BROKERS)
		for (size_t ci = 0; ci < ix->nrole[crole]; ci++) {
			const struct site_host *ch = &s->hosts[ix->by_role[crole][ci]];
			pairs += ch->brokers ? ch->nbrokers : ix->nrole[srole];
		}
	return pairs * e->nports; /* partner and CEE scopes follow the site's own lists: small */
}

int graph_check_size(const struct rules *r, const struct site *s, struct diag *d)
{
	struct site_ix ix;
	index_site(&ix, s, r->nroles);
	uint64_t total = 0, worst = 0;
	int worst_rule = -1;
	for (size_t ri = 0; ri < r->nedges; ri++) {
		const struct rules_edge *e = &r->edges[ri];
		uint64_t n = expansion(r, s, &ix, (int)ri, e->client, e->server);
		if (e->both_ways && e->client != e->server)
			n += expansion(r, s, &ix, (int)ri, e->server, e->client);
		total += n;
		if (n > worst) {
			worst = n;
			worst_rule = (int)ri;
		}
	}
	int rc = 0;
	if (total > GRAPH_MAX_EDGES) {
		const struct rules_edge *e = &r->edges[worst_rule];
		struct diag_loc loc = {.file = s->path};
		diag_add(d, &loc,
			 "the site expands to %llu expected paths, more than %u; \"%s\" alone gives %llu (%zu %s x %zu %s): %s",
			 (unsigned long long)total, GRAPH_MAX_EDGES, e->requirement, (unsigned long long)worst,
			 ix.nrole[e->client], r->roles[e->client].name,
			 e->server == RULES_ROLE_INTERNET ? (size_t)1 : ix.nrole[e->server],
			 e->server == RULES_ROLE_INTERNET ? "internet" : r->roles[e->server].name,
			 e->scope == SCOPE_BROKERS ? "assign each agent its brokers (brokers=)"
						   : "audit the site in parts, or declare hosts of one role as one prefix host");
		rc = -1;
	}
	free_index(&ix);
	return rc;
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
	if (!s->nhosts) {
		/* No site (an audit without -s): no path, but the pack's ports still tell a service from a
		 * client port when a connection's start was not captured, as they would with a site. */
		for (size_t ri = 0; ri < r->nedges; ri++)
			for (size_t k = 0; r->edges[ri].level != LEVEL_FORBID && k < r->edges[ri].nports; k++) {
				uint16_t port = r->edges[ri].ports[k].port;
				g->ports[r->edges[ri].ports[k].proto == IPPROTO_UDP][port >> 3] |= (uint8_t)(1u << (port & 7));
			}
		return;
	}
	struct site_ix ix;
	index_site(&ix, s, r->nroles);
	for (size_t ri = 0; ri < r->nedges; ri++) {
		const struct rules_edge *e = &r->edges[ri];
		expand(g, &ix, (int)ri, e->client, e->server);
		if (e->both_ways && e->client != e->server)
			expand(g, &ix, (int)ri, e->server, e->client);
	}
	free_index(&ix);
}
