/* infer.c: a site inferred from settled flows and the rule pack (infer.h). Every role and attribute comes
 * from the pack's edges: which (client role, server role) pairs use a port, under which conditions. An
 * observation is one (client address, server address, proto, port) on a pack port, failed attempts
 * included. A role R fits an address by its score: the observations an edge of R explains (2 when the
 * peer holds the role at the other end, 1 when it may still take it) less the required edges of R that
 * the address never used with a peer holding the other role. */
#include "flowaudit/infer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/hash.h"
#include "flowaudit/util.h"

#define MAX_ROUNDS 64 /* each round takes roles; chains of hosts naming their peers are a few long */
#define MAX_COMBOS 64 /* attribute values tried per role */
#define NO_ROLE -1

struct use {
	int client, server;     /* roles: the client opens to the server */
	size_t edge;            /* rules.edges index */
};

struct port_uses {
	uint32_t key;           /* proto << 16 | port */
	struct use *u;
	size_t n, cap;
	UT_hash_handle hh;
};

struct obs_key {
	uint8_t c[16], s[16];
	uint16_t port;
	uint8_t proto, pad;
};

struct obs {
	struct obs_key k;
	int ch, sh;             /* host indexes */
	uint32_t flows, open;
	const struct port_uses *pu;
	UT_hash_handle hh;
};

struct addr_ix {
	uint8_t a[16];
	int host;
	UT_hash_handle hh;
};

struct ihost {
	uint8_t addr[16];
	uint64_t roles;
	int *obs;               /* indexes into infer.obs */
	size_t nobs, cap;
	int proposal;           /* this round's role, or NO_ROLE */
	int sys;                /* storage system number, or -1 */
	char *name;
	const char **vals;      /* per rules attr: the value chosen for an enumerable attribute, or NULL */
	bool net_ports;         /* every port it was met on is one the pack opens to the internet */
};

struct port_list {
	uint32_t *k;            /* proto << 16 | port */
	size_t n, cap;
};

struct infer {
	const struct rules *r;
	struct port_uses *uses;
	struct port_list *eports; /* per rules edge: its ports, parameters' alternatives included */
	struct obs *obs_ix;
	struct obs **obs;
	size_t nobs, cap_obs;
	struct ihost *hosts;
	size_t nhosts, cap_hosts;
	struct addr_ix *ix;
	size_t flows;
	size_t max_addrs, past_limit;
	bool tentative;         /* peers' proposals count as their roles (assign_roles()) */
	struct infer_summary sum;
	size_t cap_doubtful;
};

static void add_port(struct port_list *l, uint8_t proto, uint16_t port)
{
	uint32_t k = (uint32_t)proto << 16 | port;
	for (size_t i = 0; i < l->n; i++)
		if (l->k[i] == k)
			return;
	GROW(l->k, l->cap, l->n);
	l->k[l->n++] = k;
}

static void add_use(struct infer *in, uint32_t key, int client, int server, size_t edge)
{
	struct port_uses *pu;
	HASH_FIND(hh, in->uses, &key, sizeof(key), pu);
	if (!pu) {
		pu = xcalloc(1, sizeof(*pu));
		pu->key = key;
		HASH_ADD(hh, in->uses, key, sizeof(key), pu);
	}
	for (size_t i = 0; i < pu->n; i++)
		if (pu->u[i].client == client && pu->u[i].server == server && pu->u[i].edge == edge)
			return;
	GROW(pu->u, pu->cap, pu->n);
	pu->u[pu->n++] = (struct use){client, server, edge};
}

struct infer *infer_new(const struct rules *r, size_t max_addrs)
{
	struct infer *in = xcalloc(1, sizeof(*in));
	in->r = r;
	in->max_addrs = max_addrs;
	in->eports = xcalloc(r->nedges + 1, sizeof(*in->eports));
	for (size_t e = 0; e < r->nedges; e++) {
		const struct rules_edge *ed = &r->edges[e];
		if (ed->level == LEVEL_FORBID)
			continue;
		for (size_t i = 0; i < ed->nports; i++) {
			const struct rules_port *p = &ed->ports[i];
			if (p->param < 0) {
				add_port(&in->eports[e], p->proto, p->port);
				continue;
			}
			/* a parameter's port, and its conditional defaults: any of them may be in use */
			for (size_t k = 0; k < r->nparams; k++)
				if (!strcmp(r->params[k].name, r->params[p->param].name))
					add_port(&in->eports[e], p->proto, r->params[k].port);
		}
		for (size_t i = 0; i < in->eports[e].n; i++) {
			add_use(in, in->eports[e].k[i], ed->client, ed->server, e);
			if (ed->both_ways)
				add_use(in, in->eports[e].k[i], ed->server, ed->client, e);
		}
	}
	return in;
}

void infer_free(struct infer *in)
{
	if (!in)
		return;
	struct port_uses *pu, *ptmp;
	HASH_ITER(hh, in->uses, pu, ptmp) {
		HASH_DEL(in->uses, pu);
		free(pu->u);
		free(pu);
	}
	for (size_t e = 0; e < in->r->nedges; e++)
		free(in->eports[e].k);
	free(in->eports);
	HASH_CLEAR(hh, in->obs_ix);
	for (size_t i = 0; i < in->nobs; i++)
		free(in->obs[i]);
	free(in->obs);
	struct addr_ix *a, *atmp;
	HASH_ITER(hh, in->ix, a, atmp) {
		HASH_DEL(in->ix, a);
		free(a);
	}
	for (size_t i = 0; i < in->nhosts; i++) {
		free(in->hosts[i].obs);
		free(in->hosts[i].name);
		free(in->hosts[i].vals);
	}
	free(in->hosts);
	infer_summary_free(&in->sum);
	free(in);
}

static int host_of(struct infer *in, const uint8_t a[16])
{
	struct addr_ix *x;
	HASH_FIND(hh, in->ix, a, 16, x);
	if (x)
		return x->host;
	GROW(in->hosts, in->cap_hosts, in->nhosts);
	struct ihost *h = &in->hosts[in->nhosts];
	memset(h, 0, sizeof(*h));
	memcpy(h->addr, a, 16);
	h->sys = -1;
	h->proposal = NO_ROLE;
	h->vals = xcalloc(in->r->nattrs + 1, sizeof(*h->vals));
	x = xcalloc(1, sizeof(*x));
	memcpy(x->a, a, 16);
	x->host = (int)in->nhosts;
	HASH_ADD(hh, in->ix, a, 16, x);
	return (int)in->nhosts++;
}

static void host_obs(struct ihost *h, int o)
{
	GROW(h->obs, h->cap, h->nobs);
	h->obs[h->nobs++] = o;
}

static bool known(const struct infer *in, const uint8_t a[16])
{
	struct addr_ix *x;
	HASH_FIND(hh, in->ix, a, 16, x);
	return x != NULL;
}

void infer_flows(void *ctx, const struct flow_record *r, size_t n)
{
	struct infer *in = ctx;
	for (size_t i = 0; i < n; i++) {
		uint32_t key = (uint32_t)r[i].proto << 16 | r[i].server_port;
		struct port_uses *pu;
		HASH_FIND(hh, in->uses, &key, sizeof(key), pu);
		if (!pu || r[i].verdict == FV_NOT_A_CONNECTION)
			continue;
		in->flows++;
		struct obs_key k;
		memset(&k, 0, sizeof(k));
		memcpy(k.c, r[i].client, 16);
		memcpy(k.s, r[i].server, 16);
		k.port = r[i].server_port;
		k.proto = r[i].proto;
		struct obs *o;
		HASH_FIND(hh, in->obs_ix, &k, sizeof(k), o);
		if (!o && in->max_addrs && in->nhosts + 2 > in->max_addrs &&
		    in->nhosts + !known(in, k.c) + !known(in, k.s) > in->max_addrs) {
			in->past_limit++;
			continue;
		}
		if (!o) {
			o = xcalloc(1, sizeof(*o));
			o->k = k;
			o->pu = pu;
			o->ch = host_of(in, k.c);
			o->sh = host_of(in, k.s);
			HASH_ADD(hh, in->obs_ix, k, sizeof(k), o);
			GROW(in->obs, in->cap_obs, in->nobs);
			host_obs(&in->hosts[o->ch], (int)in->nobs);
			if (o->sh != o->ch)
				host_obs(&in->hosts[o->sh], (int)in->nobs);
			in->obs[in->nobs++] = o;
		}
		o->flows++;
		o->open += r[i].open == FO_OPEN;
	}
}

static bool has(const struct ihost *h, int role)
{
	return role >= 0 && (h->roles >> role & 1);
}

/* x's side of an observation: its role in a use, the other end's role, and the peer. */
static int role_at(const struct obs *o, int x, const struct use *u, int *other, int *peer)
{
	bool client = o->ch == x;
	*other = client ? u->server : u->client;
	*peer = client ? o->sh : o->ch;
	return client ? u->client : u->server;
}

/* Can p stand for the internet at the end of a path: no role, and every port it was met on is one a
 * pack edge opens to the internet (PMC and PeerIQ update checks)? The ports are known once the flows
 * are read (net_ports). */
static bool internet_peer(const struct infer *in, int p)
{
	const struct ihost *h = &in->hosts[p];
	return h->net_ports && !h->roles && !(in->tentative && h->proposal != NO_ROLE);
}

static void find_net_ports(struct infer *in)
{
	for (size_t x = 0; x < in->nhosts; x++) {
		struct ihost *h = &in->hosts[x];
		h->net_ports = true;
		for (size_t i = 0; i < h->nobs && h->net_ports; i++) {
			const struct obs *o = in->obs[h->obs[i]];
			bool internet = false;
			for (size_t k = 0; k < o->pu->n && !internet; k++) {
				int other, peer;
				internet = role_at(o, (int)x, &o->pu->u[k], &other, &peer) == RULES_ROLE_INTERNET;
			}
			h->net_ports = internet;
		}
	}
}

static bool enumerable(const struct rules_attr *a, int role)
{
	return a->nvalues && !a->list && !a->site_setting && (a->roles >> role & 1);
}

/* Do an edge's conditions hold for a host of role R whose enumerable attributes are vals? A key of a
 * peer's attribute is taken as holding when optimistic (the peer may give it), else at its default. */
static bool conds_ok(const struct infer *in, const struct rules_edge *e, int role, const char **vals, bool optimistic)
{
	for (size_t i = 0; i < e->nconds; i++) {
		const struct rules_cond *c = &e->conds[i];
		const struct rules_attr *a = rules_attr_find(in->r, c->key);
		const char *v = NULL;
		if (a && a->site_setting)
			v = a->def;
		else if (a && enumerable(a, role))
			v = vals[a - in->r->attrs];
		else if (optimistic)
			continue;
		else
			v = a ? a->def : NULL;
		if (!rules_cond_holds(c, v))
			return false;
	}
	return true;
}

/* The roles a peer holds; with in->tentative, this round's proposal counts as held (each proposal is
 * weighed against the others before any is taken). */
static uint64_t peer_roles(const struct infer *in, const struct ihost *p)
{
	return p->roles | (in->tentative && p->proposal != NO_ROLE ? 1ull << p->proposal : 0);
}

/* Observations of one host that weigh alike in a score: the same port (its uses), the same side, peers
 * with the same roles. A broker met by thousands of agents is a few groups, not thousands of reads. */
struct group {
	const struct port_uses *pu;
	bool client;            /* x is the client */
	bool net;               /* the peer can be the internet */
	uint64_t peer;          /* the peer's roles */
	size_t n;
};

struct groups {
	struct group *g;
	size_t n, cap;
};

static void group_obs(const struct infer *in, int x, struct groups *gs)
{
	const struct ihost *h = &in->hosts[x];
	gs->n = 0;
	for (size_t i = 0; i < h->nobs; i++) {
		const struct obs *o = in->obs[h->obs[i]];
		bool client = o->ch == x;
		int p = client ? o->sh : o->ch;
		struct group k = {o->pu, client, internet_peer(in, p), peer_roles(in, &in->hosts[p]), 1};
		size_t j = 0;
		while (j < gs->n && !(gs->g[j].pu == k.pu && gs->g[j].client == k.client && gs->g[j].net == k.net &&
				      gs->g[j].peer == k.peer))
			j++;
		if (j < gs->n) {
			gs->g[j].n++;
			continue;
		}
		GROW(gs->g, gs->cap, gs->n);
		gs->g[gs->n++] = k;
	}
}

/* x's role and the other end's in a use, seen from a group's side. */
static int side_role(const struct group *g, const struct use *u, int *other)
{
	*other = g->client ? u->server : u->client;
	return g->client ? u->client : u->server;
}

static bool group_holds(const struct group *g, int other)
{
	return other == RULES_ROLE_INTERNET ? g->net : (g->peer >> other & 1);
}

/* Is the group explained by a role x holds (other than skip), with the peer holding the other end's? */
static bool explained(const struct ihost *h, const struct group *g, int skip)
{
	for (size_t i = 0; i < g->pu->n; i++) {
		int other, mine = side_role(g, &g->pu->u[i], &other);
		if (mine != skip && has(h, mine) && group_holds(g, other))
			return true;
	}
	return false;
}

/* What one observation of the group gives role R: 2 when the peer holds the other end's role, 1 when
 * it may take it, 0 when no edge of R uses it. */
static int weight(const struct infer *in, const struct group *g, int role, const char **vals)
{
	int best = 0;
	for (size_t i = 0; i < g->pu->n && best < 2; i++) {
		const struct use *u = &g->pu->u[i];
		int other;
		if (side_role(g, u, &other) != role || !conds_ok(in, &in->r->edges[u->edge], role, vals, true))
			continue;
		/* the internet is no host that may yet take a role: it is there or not */
		int w = group_holds(g, other) ? 2 : other == RULES_ROLE_INTERNET ? 0 : 1;
		best = w > best ? w : best;
	}
	return best;
}

static bool edge_has_port(const struct infer *in, size_t e, uint32_t k)
{
	for (size_t i = 0; i < in->eports[e].n; i++)
		if (in->eports[e].k[i] == k)
			return true;
	return false;
}

/* The attribute a scope is decided by, on the side that names it: an agent's partner= and brokers=, a
 * storage host's cee=. A required edge of that scope is not expected of every host of the role. */
static bool scoped_by(const struct infer *in, enum rules_scope s, int role)
{
	static const char *const keys[] = {[SCOPE_PARTNER] = "partner", [SCOPE_BROKERS] = "brokers", [SCOPE_CEE] = "cee"};
	if (s == SCOPE_ANY)
		return false;
	const struct rules_attr *a = rules_attr_find(in->r, keys[s]);
	return a && (a->roles >> role & 1);
}

/* Required edges of role R that x never used, though it talks with a host of the other end's role. */
static int missing(const struct infer *in, const struct groups *gs, int role, const char **vals)
{
	int n = 0;
	for (size_t e = 0; e < in->r->nedges; e++) {
		const struct rules_edge *ed = &in->r->edges[e];
		if (ed->level != LEVEL_REQUIRED || scoped_by(in, ed->scope, role))
			continue;
		for (int way = 0; way < (ed->both_ways ? 2 : 1); way++) {
			int rc = way ? ed->server : ed->client, rs = way ? ed->client : ed->server;
			bool client = rc == role;
			int other = client ? rs : rc;
			if ((rc != role && rs != role) || other == RULES_ROLE_INTERNET || !conds_ok(in, ed, role, vals, false))
				continue;
			bool peer_seen = false, used = false;
			for (size_t i = 0; i < gs->n && !used; i++) {
				const struct group *g = &gs->g[i];
				if (!(g->peer >> other & 1))
					continue;
				peer_seen = true;
				used = g->client == client && edge_has_port(in, e, g->pu->key);
			}
			n += peer_seen && !used;
		}
	}
	return n;
}

/* The best score of role R at x over the values of R's enumerable attributes (best_vals gets them). With
 * fresh, only observations x's other roles do not explain already count. */
static int score(const struct infer *in, int x, int role, bool fresh, const char **best_vals)
{
	const struct rules *r = in->r;
	size_t idx[8], nidx = 0, combos = 1;
	for (size_t a = 0; a < r->nattrs && nidx < 8; a++)
		if (enumerable(&r->attrs[a], role) && combos * r->attrs[a].nvalues <= MAX_COMBOS) {
			idx[nidx++] = a;
			combos *= r->attrs[a].nvalues;
		}
	const char **vals = xcalloc(r->nattrs + 1, sizeof(*vals));
	int best = INT_MIN;
	const struct ihost *h = &in->hosts[x];
	struct groups gs = {0};
	group_obs(in, x, &gs);
	for (size_t c = 0; c < combos; c++) {
		size_t rest = c;
		for (size_t k = 0; k < nidx; k++) {
			const struct rules_attr *a = &r->attrs[idx[k]];
			vals[idx[k]] = a->values[rest % a->nvalues];
			rest /= a->nvalues;
		}
		int s = 0;
		for (size_t i = 0; i < gs.n; i++)
			if (!fresh || !explained(h, &gs.g[i], role))
				s += weight(in, &gs.g[i], role, vals) * (int)gs.g[i].n;
		s -= missing(in, &gs, role, vals);
		if (s > best) {
			best = s;
			if (best_vals)
				for (size_t k = 0; k < nidx; k++)
					best_vals[idx[k]] = vals[idx[k]];
		}
	}
	free(gs.g);
	free(vals);
	return best;
}

/* Roles x could still take: those of x's side in the uses of observations its roles leave unexplained. */
static uint64_t candidates(const struct infer *in, int x)
{
	const struct ihost *h = &in->hosts[x];
	struct groups gs = {0};
	group_obs(in, x, &gs);
	uint64_t c = 0;
	for (size_t i = 0; i < gs.n; i++) {
		if (explained(h, &gs.g[i], NO_ROLE))
			continue;
		for (size_t k = 0; k < gs.g[i].pu->n; k++) {
			int other, mine = side_role(&gs.g[i], &gs.g[i].pu->u[k], &other);
			if (mine != RULES_ROLE_INTERNET && !has(h, mine))
				c |= 1ull << mine;
		}
	}
	free(gs.g);
	return c;
}

/* The best role for x and whether another scored the same (*tie gets both). */
static int best_role(const struct infer *in, int x, int *best_score, uint64_t *tie)
{
	uint64_t c = candidates(in, x);
	int best = NO_ROLE, bs = 0;
	*tie = 0;
	for (int role = 0; role < RULES_MAX_ROLES; role++) {
		if (!(c >> role & 1))
			continue;
		int s = score(in, x, role, true, NULL);
		if (s > bs) {
			bs = s;
			best = role;
			*tie = 1ull << role;
		} else if (s == bs && s > 0) {
			*tie |= 1ull << role;
		}
	}
	*best_score = bs;
	return best;
}

/* A proposal stands when a peer confirms it: it holds the other end's role, or proposes it now. */
static bool confirmed(const struct infer *in, int x, int role)
{
	const struct ihost *h = &in->hosts[x];
	for (size_t i = 0; i < h->nobs; i++) {
		const struct obs *o = in->obs[h->obs[i]];
		for (size_t k = 0; k < o->pu->n; k++) {
			int other, peer;
			if (role_at(o, x, &o->pu->u[k], &other, &peer) != role)
				continue;
			const struct ihost *p = &in->hosts[peer];
			if (other == RULES_ROLE_INTERNET ? p->proposal == NO_ROLE && internet_peer(in, peer)
							 : has(p, other) || p->proposal == other)
				return true;
		}
	}
	return false;
}

/* An unconfirmed role still stands when the ports alone name it: on two ports or more, every use puts
 * that role at x's side (an NFS v3 client of the portmapper and of NFS is an agent, whatever the server). */
static bool ports_name(const struct infer *in, int x, int role)
{
	const struct ihost *h = &in->hosts[x];
	uint32_t first = 0;
	for (size_t i = 0; i < h->nobs; i++) {
		const struct obs *o = in->obs[h->obs[i]];
		bool all = o->pu->n > 0;
		for (size_t k = 0; k < o->pu->n && all; k++) {
			int other, peer;
			all = role_at(o, x, &o->pu->u[k], &other, &peer) == role;
		}
		if (!all)
			continue;
		if (!first)
			first = o->pu->key;
		else if (o->pu->key != first)
			return true;
	}
	return false;
}

/* Mark x and its peers: their best roles may have changed. */
static void touch(const struct infer *in, int x, bool *dirty)
{
	const struct ihost *h = &in->hosts[x];
	dirty[x] = true;
	for (size_t i = 0; i < h->nobs; i++) {
		const struct obs *o = in->obs[h->obs[i]];
		dirty[o->ch] = dirty[o->sh] = true;
	}
}

static void assign_roles(struct infer *in)
{
	/* A host's best role depends on its roles and its peers': found again only when one of those changed. */
	int *best = xcalloc(in->nhosts + 1, sizeof(int));
	bool *dirty = xcalloc(in->nhosts + 1, sizeof(bool));
	for (size_t x = 0; x < in->nhosts; x++)
		dirty[x] = true;
	for (int round = 0; round < MAX_ROUNDS; round++) {
		for (size_t x = 0; x < in->nhosts; x++) {
			if (!dirty[x])
				continue;
			int s;
			uint64_t tie;
			int role = best_role(in, (int)x, &s, &tie);
			best[x] = s > 0 && tie == 1ull << role ? role : NO_ROLE;
			dirty[x] = false;
		}
		for (size_t x = 0; x < in->nhosts; x++)
			in->hosts[x].proposal = best[x];
		/* Each proposal weighed with the others taken: one whose required paths its peers, in their new
		 * roles, never used is dropped (an SSH client and server are not an agent and a PowerScale). */
		in->tentative = true;
		int *keep = xcalloc(in->nhosts + 1, sizeof(int));
		for (size_t x = 0; x < in->nhosts; x++) {
			int role = in->hosts[x].proposal;
			keep[x] = role != NO_ROLE && score(in, (int)x, role, true, NULL) > 0 ? role : NO_ROLE;
		}
		in->tentative = false;
		for (size_t x = 0; x < in->nhosts; x++)
			in->hosts[x].proposal = keep[x];
		free(keep);
		/* taken once every host has been asked, so that the order of hosts decides nothing */
		bool changed = false, *take = xcalloc(in->nhosts + 1, sizeof(bool));
		for (size_t x = 0; x < in->nhosts; x++) {
			int role = in->hosts[x].proposal;
			take[x] = role != NO_ROLE && (confirmed(in, (int)x, role) || ports_name(in, (int)x, role));
			changed |= take[x];
		}
		for (size_t x = 0; x < in->nhosts; x++)
			if (take[x]) {
				in->hosts[x].roles |= 1ull << in->hosts[x].proposal;
				touch(in, (int)x, dirty);
			}
		free(take);
		for (size_t x = 0; x < in->nhosts; x++)
			in->hosts[x].proposal = NO_ROLE;
		if (!changed)
			break;
	}
	free(best);
	free(dirty);
}

/* Storage hosts (a role that names its system) that meet one partner (a role whose attribute lists
 * systems) are one system. */
static int find(int *parent, int i)
{
	while (parent[i] != i)
		i = parent[i] = parent[parent[i]];
	return i;
}

static uint64_t roles_with_ref(const struct rules *r, enum rules_ref ref)
{
	uint64_t m = 0;
	for (size_t a = 0; a < r->nattrs; a++)
		if (r->attrs[a].ref == ref)
			m |= r->attrs[a].roles;
	return m;
}

static void assign_systems(struct infer *in)
{
	uint64_t storage = roles_with_ref(in->r, REF_NAMES_SYSTEM), partner = roles_with_ref(in->r, REF_SYSTEM);
	int *parent = xcalloc(in->nhosts + 1, sizeof(int)), *first = xcalloc(in->nhosts + 1, sizeof(int));
	for (size_t i = 0; i < in->nhosts; i++) {
		parent[i] = (int)i;
		first[i] = -1;
	}
	for (size_t x = 0; x < in->nhosts; x++) {
		const struct ihost *h = &in->hosts[x];
		if (!(h->roles & storage))
			continue;
		for (size_t i = 0; i < h->nobs; i++) {
			const struct obs *o = in->obs[h->obs[i]];
			int a = o->ch == (int)x ? o->sh : o->ch;
			if (!(in->hosts[a].roles & partner) || (in->hosts[a].roles & storage))
				continue;
			if (first[a] < 0)
				first[a] = (int)x;
			else
				parent[find(parent, (int)x)] = find(parent, first[a]);
		}
	}
	int nsys = 0;
	for (size_t x = 0; x < in->nhosts; x++) {
		if (!(in->hosts[x].roles & storage))
			continue;
		int root = find(parent, (int)x);
		if (in->hosts[root].sys < 0)
			in->hosts[root].sys = ++nsys;
		in->hosts[x].sys = in->hosts[root].sys;
	}
	free(parent);
	free(first);
}

static const char *role_name(const struct infer *in, int role)
{
	return in->r->roles[role].name;
}

static int first_role(const struct ihost *h)
{
	for (int role = 0; role < RULES_MAX_ROLES; role++)
		if (h->roles >> role & 1)
			return role;
	return NO_ROLE;
}

static void name_hosts(struct infer *in)
{
	size_t *count = xcalloc(in->r->nroles + 1, sizeof(size_t));
	for (size_t x = 0; x < in->nhosts; x++) {
		int role = first_role(&in->hosts[x]);
		if (role != NO_ROLE)
			in->hosts[x].name = xasprintf("%s-%zu", role_name(in, role), ++count[role]);
	}
	free(count);
}

/* "tcp/445" */
static const char *port_str(const struct obs *o, char *buf)
{
	snprintf(buf, 16, "%s/%u", rules_proto_name(o->k.proto), o->k.port);
	return buf;
}

/* The evidence of a host: per port and side, how many peers and flows. */
static void evidence(const struct infer *in, int x, char **s, size_t *len)
{
	const struct ihost *h = &in->hosts[x];
	bool *done = xcalloc(h->nobs + 1, sizeof(bool)), before = false;
	for (int side = 0; side < 2; side++) {
		bool any = false;
		for (size_t i = 0; i < h->nobs; i++) {
			const struct obs *o = in->obs[h->obs[i]];
			if (done[i] || (o->sh == x) != (side == 0))
				continue;
			size_t peers = 0, flows = 0, open = 0;
			for (size_t k = i; k < h->nobs; k++) {
				const struct obs *q = in->obs[h->obs[k]];
				if (!done[k] && (q->sh == x) == (side == 0) && q->k.proto == o->k.proto && q->k.port == o->k.port) {
					done[k] = true;
					peers++;
					flows += q->flows;
					open += q->open;
				}
			}
			char pb[16];
			str_append(s, len, "%s%s %s %s %zu host%s (%zu flow%s, %zu open)", any ? "," : before ? ";" : "",
				   any ? "" : side ? " uses" : " serves", port_str(o, pb), side ? "of" : "to", peers,
				   peers == 1 ? "" : "s", flows, flows == 1 ? "" : "s", open);
			any = before = true;
		}
	}
	free(done);
}

/* A list attribute's values on x: those whose conditions let an edge explain one of x's observations. */
static void list_values(const struct infer *in, int x, int role, const struct rules_attr *a, char **out, size_t *olen)
{
	const struct ihost *h = &in->hosts[x];
	for (size_t v = 0; v < a->nvalues; v++) {
		bool used = false;
		for (size_t i = 0; i < h->nobs && !used; i++) {
			const struct obs *o = in->obs[h->obs[i]];
			for (size_t k = 0; k < o->pu->n && !used; k++) {
				const struct use *u = &o->pu->u[k];
				int other, peer;
				if (role_at(o, x, u, &other, &peer) != role || !has(&in->hosts[peer], other))
					continue;
				const struct rules_edge *e = &in->r->edges[u->edge];
				for (size_t c = 0; c < e->nconds; c++)
					if (!strcmp(e->conds[c].key, a->key) && !e->conds[c].negate &&
					    rules_cond_holds(&e->conds[c], a->values[v]))
						used = true;
			}
		}
		if (used)
			str_append(out, olen, "%s%s", *olen ? "," : "", a->values[v]);
	}
}

/* KEY=VALUE words of x's attributes, for the site line. */
static void host_attrs(const struct infer *in, int x, char **s, size_t *len)
{
	const struct rules *r = in->r;
	const struct ihost *h = &in->hosts[x];
	for (size_t ai = 0; ai < r->nattrs; ai++) {
		const struct rules_attr *a = &r->attrs[ai];
		if (a->site_setting || !(a->roles & h->roles))
			continue;
		char *v = NULL;
		size_t vlen = 0;
		if (a->ref == REF_NAMES_SYSTEM && h->sys > 0) {
			str_append(&v, &vlen, "system-%d", h->sys);
		} else if (a->ref == REF_SYSTEM || a->ref == REF_ROLE || (a->ref == REF_HOST && a->gives_role >= 0)) {
			/* the systems of its storage peers; the hosts of the role it names that it talked to (none:
			 * said by saying nothing, the pack's default); the host that takes the role it gives */
			for (size_t i = 0; i < h->nobs; i++) {
				const struct obs *o = in->obs[h->obs[i]];
				const struct ihost *p = &in->hosts[o->ch == x ? o->sh : o->ch];
				char item[48];
				if (a->ref == REF_SYSTEM && p->sys > 0)
					snprintf(item, sizeof(item), "system-%d", p->sys);
				else if (a->ref == REF_HOST && has(p, a->gives_role) && p->name && !vlen)
					snprintf(item, sizeof(item), "%s", p->name);
				else if (a->ref == REF_ROLE && has(p, a->ref_role) && p->name)
					snprintf(item, sizeof(item), "%s", p->name);
				else
					continue;
				if (!v || !rules_value_has(v, item))
					str_append(&v, &vlen, "%s%s", vlen ? "," : "", item);
			}
		} else if (a->nvalues && a->list) {
			for (int role = 0; role < RULES_MAX_ROLES; role++)
				if ((a->roles & h->roles) >> role & 1)
					list_values(in, x, role, a, &v, &vlen);
			if (v && a->def && !strcmp(v, a->def))
				vlen = 0; /* the default: said by saying nothing */
		} else if (a->nvalues && h->vals[ai] && (!a->def || strcmp(h->vals[ai], a->def))) {
			str_append(&v, &vlen, "%s", h->vals[ai]);
		}
		if (v && vlen)
			str_append(s, len, " %s=%s", a->key, v);
		free(v);
	}
}

/* Why an address took no role, in words. */
static char *left_out(const struct infer *in, int x)
{
	int s;
	uint64_t tie;
	best_role(in, x, &s, &tie);
	char *w = NULL;
	size_t len = 0;
	if (s > 0 && (tie & (tie - 1))) {
		for (int role = 0, n = 0; role < RULES_MAX_ROLES; role++)
			if (tie >> role & 1)
				str_append(&w, &len, "%s%s", n++ ? " or " : "could be ", role_name(in, role));
		str_append(&w, &len, ", the same evidence for each");
	} else {
		str_append(&w, &len, "too little evidence for any role");
	}
	return w;
}

/* How sure: x's role is named by a flow when, of the port's uses whose other end the peer holds (a peer
 * itself named so, or any peer when the port's uses all name one pair of roles: 9883 is an ONTAP node
 * to an agent), every one puts the same role at x's side, and x holds it. Named hosts name their peers in
 * turn (an agent named by FPolicy names its broker by 61617). The port goes to *port. */
static bool names(const struct infer *in, int x, const bool *sure, char port[16])
{
	const struct ihost *h = &in->hosts[x];
	for (size_t i = 0; i < h->nobs; i++) {
		const struct obs *o = in->obs[h->obs[i]];
		int mine = NO_ROLE, other, peer;
		bool one_pair = true, one_role = true;
		for (size_t k = 0; k < o->pu->n; k++) {
			const struct use *u = &o->pu->u[k];
			int r = role_at(o, x, u, &other, &peer);
			one_pair &= u->client == o->pu->u[0].client && u->server == o->pu->u[0].server;
			if (other == RULES_ROLE_INTERNET ? !internet_peer(in, peer) : !has(&in->hosts[peer], other))
				continue;
			one_role &= mine == NO_ROLE || mine == r;
			mine = r;
		}
		peer = o->ch == x ? o->sh : o->ch;
		if (mine != NO_ROLE && one_role && has(h, mine) && (one_pair || sure[peer] || internet_peer(in, peer))) {
			port_str(o, port);
			return true;
		}
	}
	return false;
}

static bool *named_hosts(const struct infer *in)
{
	bool *sure = xcalloc(in->nhosts + 1, sizeof(bool));
	char port[16];
	for (bool more = true; more;) {
		more = false;
		for (size_t x = 0; x < in->nhosts; x++)
			if (!sure[x] && in->hosts[x].roles && names(in, (int)x, sure, port))
				sure[x] = more = true;
	}
	return sure;
}

char *infer_site_text(struct infer *in, const char *source)
{
	const struct rules *r = in->r;
	find_net_ports(in);
	assign_roles(in);
	for (size_t x = 0; x < in->nhosts; x++)
		for (int role = 0; role < RULES_MAX_ROLES; role++)
			if (in->hosts[x].roles >> role & 1)
				score(in, (int)x, role, false, in->hosts[x].vals);
	assign_systems(in);
	name_hosts(in);
	infer_summary_free(&in->sum);
	memset(&in->sum, 0, sizeof(in->sum));
	in->sum.flows = in->flows;
	in->sum.addrs = in->nhosts;
	in->sum.past_limit = in->past_limit;

	char *t = NULL, *settings = NULL;
	size_t len = 0, slen = 0;
	for (size_t a = 0; a < r->nattrs; a++)
		if (r->attrs[a].site_setting && r->attrs[a].def)
			str_append(&settings, &slen, "%s%s %s", slen ? ", " : "", r->attrs[a].key, r->attrs[a].def);
	str_append(&t, &len,
		   "# A site inferred by flowaudit from %s: %zu flows on the rule pack's ports, between %zu addresses.\n"
		   "# Each host rests on the evidence in the comment above it: check it, correct what is wrong (names,\n"
		   "# roles, an address of a host that has two), then audit with -s; flowaudit lint checks the file.\n"
		   "# Site settings are the pack's defaults (%s): set them as the site's policy says.\n",
		   source, in->flows, in->nhosts, settings ? settings : "none");
	free(settings);
	if (in->past_limit)
		str_append(&t, &len, "# %zu flows of addresses past the first %zu were not read (a site is not that big: a flood?).\n",
			   in->past_limit, in->max_addrs);
	bool *sure = named_hosts(in);
	for (size_t x = 0; x < in->nhosts; x++) {
		struct ihost *h = &in->hosts[x];
		if (!h->roles)
			continue;
		in->sum.hosts++;
		char ab[64], port[16];
		if (sure[x] && names(in, (int)x, sure, port)) {
			str_append(&t, &len, "\n# %s %s (confidence high: %s names its role):", h->name, addr_str(h->addr, ab),
				   port);
		} else {
			str_append(&t, &len, "\n# %s %s (confidence low: its ports fit other roles too):", h->name,
				   addr_str(h->addr, ab));
			GROW(in->sum.doubtful, in->cap_doubtful, in->sum.ndoubtful);
			in->sum.doubtful[in->sum.ndoubtful++] = xstrdup(h->name);
		}
		evidence(in, (int)x, &t, &len);
		str_append(&t, &len, "\nhost %s %s role=", h->name, ab);
		for (int role = 0, n = 0; role < RULES_MAX_ROLES; role++)
			if (h->roles >> role & 1)
				str_append(&t, &len, "%s%s", n++ ? "," : "", role_name(in, role));
		host_attrs(in, (int)x, &t, &len);
		str_append(&t, &len, "\n");
	}
	free(sure);
	bool header = false;
	for (size_t x = 0; x < in->nhosts; x++) {
		struct ihost *h = &in->hosts[x];
		if (h->roles || internet_peer(in, (int)x))
			continue;
		if (!header)
			str_append(&t, &len, "\n# Addresses on the pack's ports left out (no role, so their flows are unexpected):\n");
		header = true;
		in->sum.left_out++;
		char ab[64], *why = left_out(in, (int)x);
		str_append(&t, &len, "#   %s: %s;", addr_str(h->addr, ab), why);
		free(why);
		evidence(in, (int)x, &t, &len);
		str_append(&t, &len, "\n");
	}
	return t;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct infer_summary infer_summary(struct infer *in)
{
	/* sorted: the JSON writer asks about every host, and a site may have 100,000 */
	if (in->sum.ndoubtful)
		qsort(in->sum.doubtful, in->sum.ndoubtful, sizeof(char *), name_cmp);
	struct infer_summary s = in->sum;
	in->sum.doubtful = NULL; /* the caller's now */
	in->sum.ndoubtful = 0;
	return s;
}

void infer_summary_free(struct infer_summary *s)
{
	for (size_t i = 0; i < s->ndoubtful; i++)
		free(s->doubtful[i]);
	free(s->doubtful);
	s->doubtful = NULL;
	s->ndoubtful = 0;
}

bool infer_doubtful(const struct infer_summary *s, const char *name)
{
	return s->ndoubtful && bsearch(&name, s->doubtful, s->ndoubtful, sizeof(char *), name_cmp);
}
