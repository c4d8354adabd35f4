/* classify.c: joins settled flows to the expected port graph. A flow lands on an edge row (edge x
 * address pair), on an unexpected row with a reason a person can act on, or nowhere (outside the site,
 * ignored, not a connection). Statuses follow CONTRACT.md. */
#include "flowaudit/classify.h"

#include <assert.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "flowaudit/hash.h"

#include "flowaudit/util.h"

struct cls_key {
	int edge;               /* edge row: edge index; unexpected row: -1 */
	uint16_t port;
	uint8_t proto;
	uint8_t pad;
	uint8_t client[16], server[16];
};

struct cls_ix {
	struct cls_key key;
	size_t row;
	UT_hash_handle hh;
};

/* The verdict of the classifier for one (client address, server address, proto, port), remembered:
 * the same pair always lands in the same place, and millions of flows share a few thousand pairs.
 * One cache line each, in a table of their own (open addressing, linear probing, at most half full):
 * a settled flow's pair is one line away, which cls_prefetch() asks for a few flows ahead. */
enum pair_kind { PAIR_NONE, PAIR_ROW, PAIR_UNEXPECTED, PAIR_OUTSIDE, PAIR_IGNORED };
struct cls_pair {
	struct cls_key key;     /* edge field unused (0) */
	uint32_t hash;          /* fa_hash of the key */
	uint32_t kind;          /* enum pair_kind; PAIR_NONE: an empty entry */
	uint64_t idx;
	uint64_t pad;
};
static_assert(sizeof(struct cls_pair) == 64, "a pair is one cache line");
#define PAIR_CACHE_MAX 262144 /* cleared when full: the pairs of a big site, 32 MB at most */
#define PAIR_FIRST 4096

static const char *const status_names[CLS_NSTATUS] = {"ok", "degraded", "blocked", "missing", "unverified"};
static const char *const reason_names[] = {NULL, "no-reply", "reset", "icmp-prohibited", "icmp-unreachable"};

const char *cls_status_name(enum cls_status s)
{
	return status_names[s];
}

const char *cls_reason_name(enum cls_reason r)
{
	return reason_names[r];
}

void cls_init(struct cls *c, const struct graph *g)
{
	memset(c, 0, sizeof(*c));
	c->g = g;
}

static void free_ix(struct cls_ix **ix)
{
	struct cls_ix *e, *tmp;
	HASH_ITER(hh, *ix, e, tmp) {
		HASH_DEL(*ix, e);
		free(e);
	}
}

static void forget_ahead(struct cls *c)
{
	memset(c->ahead, 0, sizeof(c->ahead));
}

static void free_pairs(struct cls *c)
{
	forget_ahead(c);
	free(c->pairs);
	c->pairs = NULL;
	c->npairs = c->pairs_mask = 0;
}

static struct cls_pair *pair_find(const struct cls *c, const struct cls_key *k, uint32_t hash)
{
	if (!c->pairs)
		return NULL;
	for (size_t i = hash & c->pairs_mask;; i = (i + 1) & c->pairs_mask) {
		struct cls_pair *p = &c->pairs[i];
		if (p->kind == PAIR_NONE)
			return NULL;
		if (p->hash == hash && !fa_keycmp(&p->key, k, sizeof(*k)))
			return p;
	}
}

static struct cls_pair *pair_slot(struct cls_pair *pairs, size_t mask, uint32_t hash)
{
	size_t i = hash & mask;
	while (pairs[i].kind != PAIR_NONE)
		i = (i + 1) & mask;
	return &pairs[i];
}

/* Twice the entries (or the first ones), each placed again by the hash it carries. */
static void grow_pairs(struct cls *c)
{
	size_t n = c->pairs ? (c->pairs_mask + 1) * 2 : PAIR_FIRST;
	struct cls_pair *pairs = xmalloc_lines(n * sizeof(*pairs));
	memset(pairs, 0, n * sizeof(*pairs));
	for (size_t i = 0; c->pairs && i <= c->pairs_mask; i++)
		if (c->pairs[i].kind != PAIR_NONE)
			*pair_slot(pairs, n - 1, c->pairs[i].hash) = c->pairs[i];
	free(c->pairs);
	forget_ahead(c);
	c->pairs = pairs;
	c->pairs_mask = n - 1;
}

void cls_free(struct cls *c)
{
	free_pairs(c);
	free_ix(&c->rows_ix);
	free_ix(&c->unexp_ix);
	for (size_t i = 0; i < c->nunexp; i++)
		free(c->unexp[i].why);
	free(c->rows);
	free(c->unexp);
	memset(c, 0, sizeof(*c));
}

static void count(struct cls_counts *n, const struct flow *f, enum flow_verdict v)
{
	n->attempts++;
	n->evicted += (f->flags & FLOW_EVICTED) != 0;
	switch (flow_open(f, v)) {
	case FO_OPEN:
		n->established++;
		break;
	case FO_FAILED:
		if (v == FV_RESET)
			n->resets++;
		else if (v == FV_ICMP_PROHIBITED)
			n->icmp_prohibited++;
		else if (v == FV_ICMP_UNREACHABLE)
			n->icmp_unreachable++;
		else
			n->no_reply++;
		break;
	case FO_UNKNOWN:
		n->unverified++;
		break;
	}
	if (!n->first_ns || f->first_ns < n->first_ns)
		n->first_ns = f->first_ns;
	if (f->last_ns > n->last_ns)
		n->last_ns = f->last_ns;
}

static size_t find_or_add(struct cls_ix **ix, const struct cls_key *k, size_t next, bool *added)
{
	struct cls_ix *e;
	HASH_FIND(hh, *ix, k, sizeof(*k), e);
	*added = !e;
	if (e)
		return e->row;
	e = xcalloc(1, sizeof(*e));
	e->key = *k;
	e->row = next;
	HASH_ADD(hh, *ix, key, sizeof(*k), e);
	FA_HASH_KEEP_SHORT(hh, *ix);
	return next;
}

/* Roles of a host as "agent,mds", or "outside the site". */
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

/* The pack's rule that uses proto/port and best fits the two hosts: one whose server role the server
 * holds (and then whose client role the client holds), else any; -1 when no rule uses the port. */
static int rule_for_port(const struct graph *g, int ch, int sh, uint8_t proto, uint16_t port)
{
	const struct rules *r = g->rules;
	int best = -1, best_score = -1;
	for (size_t i = 0; i < r->nedges; i++) {
		const struct rules_edge *e = &r->edges[i];
		if (e->level == LEVEL_FORBID)
			continue;
		bool uses = false;
		for (size_t k = 0; k < e->nports && !uses; k++)
			uses = e->ports[k].proto == proto && e->ports[k].port == port;
		if (!uses)
			continue;
		bool server_fits = sh >= 0 ? site_host_has_role(&g->site->hosts[sh], e->server) : e->server == RULES_ROLE_INTERNET;
		int score = server_fits * 2 +
			    (ch >= 0 && site_host_has_role(&g->site->hosts[ch], e->client));
		if (score > best_score) {
			best = (int)i;
			best_score = score;
		}
	}
	return best;
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

/* A sentence saying why a flow on a site host matches no expected edge. */
static char *why_unexpected(const struct cls *c, int ch, int sh, uint8_t proto, uint16_t port, int forbid)
{
	const struct graph *g = c->g;
	const char *pn = rules_proto_name(proto);
	if (forbid >= 0)
		return xstrdup(g->rules->edges[g->edges[forbid].rule].requirement);
	int rev = (ch >= 0) ? graph_find(g, sh < 0 ? GRAPH_INTERNET : sh, ch, proto, port) : -1;
	char *cr = roles_str(g, ch), *sr = roles_str(g, sh);
	char *why;
	int ri = rule_for_port(g, ch, sh, proto, port);
	if (rev >= 0 && g->edges[rev].level != LEVEL_FORBID) {
		why = xasprintf("wrong direction: %s/%u is expected from %s to %s (\"%s\"), not the reverse", pn, port, sr,
				cr, g->rules->edges[g->edges[rev].rule].requirement);
	} else if (ri >= 0) {
		/* Name the requirement that uses this port, so the reader sees what was probably meant. */
		char *rw = rule_words(g, ri);
		why = xasprintf("%s/%u is the port of %s, but no path of this site expects it from %s to %s", pn, port, rw,
				cr, sr);
		free(rw);
	} else if (graph_has_port(g, proto, port)) {
		why = xasprintf("no rule allows %s/%u from %s to %s (the site uses the port elsewhere)", pn, port, cr, sr);
	} else {
		why = xasprintf("%s/%u is not a PeerGFS port and no rule allows it from %s to %s", pn, port, cr, sr);
	}
	free(cr);
	free(sr);
	return why;
}

/* Remember where a pair landed. Not for clients outside the site: the key holds the client's address, so
 * a flood of spoofed sources would fill the cache with pairs never seen again (and their flows take the
 * slow path's two site lookups instead, which allocate nothing). */
static void remember(struct cls *c, const struct cls_key *k, int client_host, enum pair_kind kind, size_t idx)
{
	if (client_host < 0)
		return;
	if (c->npairs >= PAIR_CACHE_MAX)
		free_pairs(c);
	if (!c->pairs || (c->npairs + 1) * 2 > c->pairs_mask + 1)
		grow_pairs(c);
	uint32_t hash = fa_hash(k, sizeof(*k));
	struct cls_pair *p = pair_slot(c->pairs, c->pairs_mask, hash);
	p->key = *k;
	p->hash = hash;
	p->kind = kind;
	p->idx = idx;
	c->npairs++;
}

static void classify_pair(struct cls *c, const struct flow *f, enum flow_verdict v, const struct cls_key *pk);

/* A flow's key in the pair cache, (client, server, proto, port), and its hash. The hash comes from the
 * words in registers (fa_hash5), not from the key just stored field by field, which the loads would wait on. */
static uint32_t pair_key(const struct flow *f, struct cls_key *pk)
{
	const uint8_t *client = flow_client_addr(f), *server = flow_server_addr(f);
	uint16_t port = flow_server_port(f);
	uint8_t proto = f->key.proto;
	static_assert(offsetof(struct cls_key, client) == 8 && sizeof(struct cls_key) == 40, "cls_key layout");
	memset(pk, 0, sizeof(*pk));
	pk->port = port;
	pk->proto = proto;
	memcpy(pk->client, client, 16);
	memcpy(pk->server, server, 16);
	if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
		return fa_hash(pk, sizeof(*pk));
	uint64_t c[2], s[2];
	memcpy(c, client, 16);
	memcpy(s, server, 16);
	return fa_hash5((uint64_t)port << 32 | (uint64_t)proto << 48, c[0], c[1], s[0], s[1]);
}

/* A flow lands where its pair does. */
static void land(struct cls *c, uint32_t kind, size_t idx, const struct flow *f, enum flow_verdict v)
{
	switch (kind) {
	case PAIR_ROW:
		count(&c->rows[idx].n, f, v);
		break;
	case PAIR_UNEXPECTED:
		count(&c->unexp[idx].n, f, v);
		break;
	case PAIR_OUTSIDE:
		c->outside++;
		break;
	case PAIR_IGNORED:
		c->ignored++;
		break;
	}
}

static struct cls_ahead *ahead_of(struct cls *c, const struct flow *f)
{
	return &c->ahead[((uintptr_t)f / sizeof(*f)) % CLS_AHEAD];
}

void cls_prefetch(struct cls *c, const struct flow *f, int stage)
{
	static_assert(sizeof(((struct cls_ahead *)0)->pk) == sizeof(struct cls_key), "cls_ahead.pk");
	struct cls_ahead *a = ahead_of(c, f);
	if (stage == 0 || a->f != f) {
		a->f = f;
		a->hash = pair_key(f, (struct cls_key *)a->pk);
		a->pair = NULL;
	}
	if (!c->pairs)
		return;
	if (stage == 0) {
		__builtin_prefetch(&c->pairs[a->hash & c->pairs_mask]);
		return;
	}
	const struct cls_pair *p = a->pair = pair_find(c, (const struct cls_key *)a->pk, a->hash);
	if (p && p->kind == PAIR_ROW)
		__builtin_prefetch(&c->rows[p->idx].n, 1);
	else if (p && p->kind == PAIR_UNEXPECTED)
		__builtin_prefetch(&c->unexp[p->idx].n, 1);
}

void cls_flow(struct cls *c, const struct flow *f, enum flow_verdict v)
{
	/* The pair cls_prefetch() found for f, if it ran and found one: used once, f is about to be freed
	 * (an answer of "not remembered" is not trusted: the pair may have been remembered since). */
	struct cls_ahead *a = ahead_of(c, f);
	const struct cls_pair *hit = NULL;
	if (a->f == f) {
		hit = a->pair;
		a->f = NULL;
	}
	if (v == FV_NOT_A_CONNECTION) {
		c->not_connections++;
		return;
	}
	if (hit) {
		land(c, hit->kind, hit->idx, f, v);
		return;
	}
	struct cls_key pk;
	uint32_t hash = pair_key(f, &pk);
	hit = pair_find(c, &pk, hash);
	if (!hit) {
		classify_pair(c, f, v, &pk);
		return;
	}
	land(c, hit->kind, hit->idx, f, v);
}

/* A host all of whose roles the pack keeps apart (role ... apart): known, but not part of the product. */
static bool host_apart(const struct graph *g, int h)
{
	if (h < 0)
		return false;
	uint64_t roles = g->site->hosts[h].roles;
	for (size_t r = 1; r < g->rules->nroles; r++)
		if (roles >> r & 1 && !g->rules->roles[r].apart)
			return false;
	return roles != 0;
}

/* Is there a row for this key already? */
static bool known_row(const struct cls *c, const struct cls_key *k)
{
	struct cls_ix *e;
	HASH_FIND(hh, c->unexp_ix, k, sizeof(*k), e);
	return e != NULL;
}

/* May one more outside client of (server, proto, port) have a row of its own? Counted in the row index
 * under a key of its own kind (edge -2, no client). */
static bool name_outside(struct cls *c, const struct cls_key *k)
{
	struct cls_key ck = *k;
	ck.edge = -2;
	memset(ck.client, 0, 16);
	struct cls_ix *e;
	HASH_FIND(hh, c->unexp_ix, &ck, sizeof(ck), e);
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->key = ck;
		HASH_ADD(hh, c->unexp_ix, key, sizeof(e->key), e);
	}
	if (e->row >= CLS_OUTSIDE_NAMED)
		return false;
	e->row++;
	return true;
}

/* Where a (client, server, proto, port) lands under the current graph: site lookups, the graph, the row
 * tables (a row is made if new). *ch gets the client's host. */
static enum pair_kind locate(struct cls *c, const struct cls_key *pk, int *ch_out, size_t *idx)
{
	const struct graph *g = c->g;
	const uint8_t *ca = pk->client, *sa = pk->server;
	uint16_t port = pk->port;
	uint8_t proto = pk->proto;
	int ch = site_lookup(g->site, ca), sh = site_lookup(g->site, sa);
	*ch_out = ch;
	*idx = 0;
	if (ch < 0 && sh < 0)
		return PAIR_OUTSIDE;
	int e = ch >= 0 ? graph_find(g, ch, sh < 0 ? GRAPH_INTERNET : sh, proto, port) : -1;
	if (e >= 0 && g->edges[e].level != LEVEL_FORBID) {
		struct cls_key k;
		memset(&k, 0, sizeof(k));
		k.edge = e;
		memcpy(k.client, ca, 16);
		memcpy(k.server, sa, 16);
		bool added;
		size_t row = find_or_add(&c->rows_ix, &k, c->nrows, &added);
		if (added) {
			GROW(c->rows, c->cap_rows, c->nrows);
			struct cls_row *r = &c->rows[c->nrows++];
			memset(r, 0, sizeof(*r));
			r->edge = e;
			memcpy(r->client.a, ca, 16);
			r->client.plen = 128;
			memcpy(r->server.a, sa, 16);
			r->server.plen = 128;
			r->seen = true;
		}
		*idx = row;
		return PAIR_ROW;
	}
	bool forbidden = e >= 0;
	bool both_site = ch >= 0 && sh >= 0;
	bool apart = !forbidden && (host_apart(g, ch) || host_apart(g, sh));
	if (!forbidden && !apart && !graph_has_port(g, proto, port)) {
		if (!both_site)
			return PAIR_OUTSIDE;
		if (rules_ignored(g->rules, proto, port))
			return PAIR_IGNORED;
	}
	/* Clients outside the site are named, up to CLS_OUTSIDE_NAMED per server and port; past that they
	 * are one row, so that a flood of spoofed sources makes a few rows, not millions (client_addr is then
	 * the whole address family, 0.0.0.0/0 or ::/0). */
	struct cls_key k;
	memset(&k, 0, sizeof(k));
	k.edge = -1;
	k.port = port;
	k.proto = proto;
	memcpy(k.server, sa, 16);
	memcpy(k.client, ca, 16);
	bool any = false;
	if (ch < 0 && !known_row(c, &k) && !name_outside(c, &k)) {
		memset(k.client, 0, 16);
		if (addr_is_v4(ca))
			k.client[10] = k.client[11] = 0xff; /* ::ffff:0.0.0.0, the IPv4 family */
		any = true;
	}
	bool added;
	size_t row = find_or_add(&c->unexp_ix, &k, c->nunexp, &added);
	if (added) {
		GROW(c->unexp, c->cap_unexp, c->nunexp);
		struct cls_unexpected *u = &c->unexp[c->nunexp++];
		memset(u, 0, sizeof(*u));
		memcpy(u->client, k.client, 16);
		u->client_any = any;
		memcpy(u->server, sa, 16);
		u->client_host = ch;
		u->server_host = sh;
		u->proto = proto;
		u->port = port;
		u->apart = apart;
		u->why = apart ? xstrdup("a known host outside PeerGFS") : why_unexpected(c, ch, sh, proto, port, forbidden ? e : -1);
	}
	*idx = row;
	return PAIR_UNEXPECTED;
}

/* The slow path: where the pair lands, remembered for the next flow of the pair. */
static void classify_pair(struct cls *c, const struct flow *f, enum flow_verdict v, const struct cls_key *pk)
{
	int ch;
	size_t idx;
	enum pair_kind kind = locate(c, pk, &ch, &idx);
	land(c, kind, idx, f, v);
	remember(c, pk, ch, kind, idx);
}

void cls_clone(struct cls *dst, const struct cls *src)
{
	*dst = *src;
	dst->rows_ix = dst->unexp_ix = NULL;
	dst->pairs = NULL;
	dst->npairs = dst->pairs_mask = 0;
	forget_ahead(dst);
	dst->rows = xcalloc(src->cap_rows + 1, sizeof(*dst->rows));
	if (src->nrows)
		memcpy(dst->rows, src->rows, src->nrows * sizeof(*src->rows));
	dst->unexp = xcalloc(src->cap_unexp + 1, sizeof(*dst->unexp));
	for (size_t i = 0; i < src->nunexp; i++) {
		dst->unexp[i] = src->unexp[i];
		dst->unexp[i].why = xstrdup(src->unexp[i].why);
	}
	struct cls_ix *e, *tmp;
	HASH_ITER(hh, src->rows_ix, e, tmp) {
		struct cls_ix *n = xcalloc(1, sizeof(*n));
		n->key = e->key;
		n->row = e->row;
		HASH_ADD(hh, dst->rows_ix, key, sizeof(n->key), n);
	}
	HASH_ITER(hh, src->unexp_ix, e, tmp) {
		struct cls_ix *n = xcalloc(1, sizeof(*n));
		n->key = e->key;
		n->row = e->row;
		HASH_ADD(hh, dst->unexp_ix, key, sizeof(n->key), n);
	}
}

static void merge_counts(struct cls_counts *to, const struct cls_counts *from)
{
	to->attempts += from->attempts;
	to->established += from->established;
	to->resets += from->resets;
	to->icmp_prohibited += from->icmp_prohibited;
	to->icmp_unreachable += from->icmp_unreachable;
	to->no_reply += from->no_reply;
	to->unverified += from->unverified;
	to->evicted += from->evicted;
	if (!to->first_ns || (from->first_ns && from->first_ns < to->first_ns))
		to->first_ns = from->first_ns;
	if (from->last_ns > to->last_ns)
		to->last_ns = from->last_ns;
}

/* Add row r's counts to this classification's row for (edge, r's addresses), made if new. */
static void absorb_row(struct cls *c, const struct cls_row *r, int edge)
{
	struct cls_key k;
	memset(&k, 0, sizeof(k));
	k.edge = edge;
	memcpy(k.client, r->client.a, 16);
	memcpy(k.server, r->server.a, 16);
	bool added;
	size_t row = find_or_add(&c->rows_ix, &k, c->nrows, &added);
	if (added) {
		GROW(c->rows, c->cap_rows, c->nrows);
		c->rows[c->nrows] = *r;
		c->rows[c->nrows].edge = edge;
		memset(&c->rows[c->nrows].n, 0, sizeof(c->rows[c->nrows].n));
		c->nrows++;
	}
	merge_counts(&c->rows[row].n, &r->n);
}

void cls_merge(struct cls *c, const struct cls *from)
{
	for (size_t i = 0; i < from->nrows; i++)
		absorb_row(c, &from->rows[i], from->rows[i].edge);
	for (size_t i = 0; i < from->nunexp; i++) {
		const struct cls_unexpected *u = &from->unexp[i];
		struct cls_key k;
		memset(&k, 0, sizeof(k));
		k.edge = -1;
		k.port = u->port;
		k.proto = u->proto;
		memcpy(k.client, u->client, 16);
		memcpy(k.server, u->server, 16);
		bool added;
		size_t row = find_or_add(&c->unexp_ix, &k, c->nunexp, &added);
		if (added) {
			GROW(c->unexp, c->cap_unexp, c->nunexp);
			c->unexp[c->nunexp] = *u;
			c->unexp[c->nunexp].why = xstrdup(u->why);
			memset(&c->unexp[c->nunexp].n, 0, sizeof(c->unexp[c->nunexp].n));
			c->nunexp++;
		}
		merge_counts(&c->unexp[row].n, &u->n);
	}
	c->outside += from->outside;
	c->ignored += from->ignored;
	c->not_connections += from->not_connections;
}

/* Counts of an old row, placed where its address pair lands now. */
static void replace_counts(struct cls *c, const struct cls_key *pk, const struct cls_counts *n)
{
	int ch;
	size_t idx;
	switch (locate(c, pk, &ch, &idx)) {
	case PAIR_ROW:
		merge_counts(&c->rows[idx].n, n);
		break;
	case PAIR_UNEXPECTED:
		merge_counts(&c->unexp[idx].n, n);
		break;
	case PAIR_OUTSIDE:
		c->outside += n->attempts;
		break;
	case PAIR_IGNORED:
	case PAIR_NONE:
		c->ignored += n->attempts;
		break;
	}
}

void cls_rebase(struct cls *c, const struct graph *g)
{
	free_pairs(c);
	struct cls_row *rows = c->rows;
	size_t nrows = c->nrows;
	struct cls_unexpected *unexp = c->unexp;
	size_t nunexp = c->nunexp;
	free_ix(&c->rows_ix);
	free_ix(&c->unexp_ix);
	c->rows = NULL;
	c->nrows = c->cap_rows = 0;
	c->unexp = NULL;
	c->nunexp = c->cap_unexp = 0;
	const struct graph *old = c->g;
	c->g = g;
	/* Every row is judged again by its address pair, as its flows would be now: a path the new graph
	 * expects gains the flows seen before, one it forbids or no longer knows becomes unexpected (with
	 * today's reason), and an unexpected one the new graph expects becomes a path. */
	for (size_t i = 0; i < nrows; i++) {
		const struct graph_edge *e = &old->edges[rows[i].edge];
		struct cls_key pk;
		memset(&pk, 0, sizeof(pk));
		pk.port = e->port;
		pk.proto = e->proto;
		memcpy(pk.client, rows[i].client.a, 16);
		memcpy(pk.server, rows[i].server.a, 16);
		replace_counts(c, &pk, &rows[i].n);
	}
	for (size_t i = 0; i < nunexp; i++) {
		struct cls_key pk;
		memset(&pk, 0, sizeof(pk));
		pk.port = unexp[i].port;
		pk.proto = unexp[i].proto;
		memcpy(pk.client, unexp[i].client, 16);
		memcpy(pk.server, unexp[i].server, 16);
		replace_counts(c, &pk, &unexp[i].n);
		free(unexp[i].why);
	}
	free(rows);
	free(unexp);
}

static void judge(const struct cls_counts *n, enum cls_status *st, enum cls_reason *why)
{
	uint64_t failed = n->resets + n->icmp_prohibited + n->icmp_unreachable + n->no_reply;
	*why = CLS_R_NONE;
	if (!n->attempts) {
		*st = CLS_MISSING;
		return;
	}
	if (failed) {
		/* The most frequent failure; on a tie the most explicit (a prohibition names a firewall). */
		uint64_t best = n->icmp_prohibited;
		*why = CLS_R_ICMP_PROHIBITED;
		if (n->resets > best) {
			best = n->resets;
			*why = CLS_R_RESET;
		}
		if (n->icmp_unreachable > best) {
			best = n->icmp_unreachable;
			*why = CLS_R_ICMP_UNREACHABLE;
		}
		if (n->no_reply > best)
			*why = CLS_R_NO_REPLY;
	}
	if (n->established)
		*st = failed ? CLS_DEGRADED : CLS_OK;
	else
		*st = failed ? CLS_BLOCKED : CLS_UNVERIFIED;
}

/* Order of the text report: findings first (blocked, degraded, missing, unverified), then ok. */
static int severity(enum cls_status s)
{
	static const int rank[CLS_NSTATUS] = {[CLS_BLOCKED] = 0, [CLS_DEGRADED] = 1, [CLS_MISSING] = 2,
					      [CLS_UNVERIFIED] = 3, [CLS_OK] = 4};
	return rank[s];
}

static const struct graph *sort_graph; /* qsort has no context argument */

static int cmp_rows(const void *a, const void *b)
{
	const struct cls_row *x = a, *y = b;
	const struct graph_edge *ex = &sort_graph->edges[x->edge], *ey = &sort_graph->edges[y->edge];
	int d = (ex->level != LEVEL_REQUIRED) - (ey->level != LEVEL_REQUIRED);
	if (!d)
		d = severity(x->status) - severity(y->status);
	if (!d)
		d = ex->rule - ey->rule;
	if (!d)
		d = x->edge - y->edge;
	if (!d)
		d = memcmp(x->client.a, y->client.a, 16);
	if (!d)
		d = memcmp(x->server.a, y->server.a, 16);
	return d;
}

static int cmp_unexp(const void *a, const void *b)
{
	const struct cls_unexpected *x = a, *y = b;
	int d = memcmp(x->client, y->client, 16);
	if (!d)
		d = memcmp(x->server, y->server, 16);
	if (!d)
		d = (int)x->proto - (int)y->proto;
	if (!d)
		d = (int)x->port - (int)y->port;
	return d;
}

/* First address of host h of the same family as other (or any when other is NULL). */
static const struct site_addr *pick_addr(const struct site_host *h, const struct site_addr *other)
{
	for (size_t i = 0; i < h->naddrs; i++)
		if (!other || addr_is_v4(h->addrs[i].a) == addr_is_v4(other->a))
			return &h->addrs[i];
	return h->naddrs ? &h->addrs[0] : NULL;
}

static void add_missing(struct cls *c, int e)
{
	const struct graph *g = c->g;
	const struct graph_edge *ge = &g->edges[e];
	GROW(c->rows, c->cap_rows, c->nrows);
	struct cls_row *r = &c->rows[c->nrows++];
	memset(r, 0, sizeof(*r));
	r->edge = e;
	const struct site_addr *ca = pick_addr(&g->site->hosts[ge->client], NULL);
	if (ca)
		r->client = *ca;
	if (ge->server == GRAPH_INTERNET) {
		memset(&r->server, 0, sizeof(r->server));
		if (addr_is_v4(r->client.a)) {
			r->server.a[10] = r->server.a[11] = 0xff;
			r->server.plen = 96;
		}
	} else {
		const struct site_addr *sa = pick_addr(&g->site->hosts[ge->server], ca);
		if (sa)
			r->server = *sa;
	}
}

/* Alternatives of one edge (same rule, client, server and group) share one entry: was any of them
 * seen, and which stands for the group when none was. */
struct group_key {
	int rule, client, server, group;
};

struct group {
	struct group_key key;
	bool seen;
	size_t first;           /* the alternative listed first in the graph */
	UT_hash_handle hh;
};

void cls_finish(struct cls *c)
{
	const struct graph *g = c->g;
	bool *seen = xcalloc(g->nedges + 1, sizeof(bool));
	for (size_t i = 0; i < c->nrows; i++)
		seen[c->rows[i].edge] = true;
	struct group *groups = NULL, *gr, *tmp;
	for (size_t e = 0; e < g->nedges; e++) {
		const struct graph_edge *ge = &g->edges[e];
		if (ge->level == LEVEL_FORBID)
			continue;
		struct group_key k = {ge->rule, ge->client, ge->server, ge->group};
		HASH_FIND(hh, groups, &k, sizeof(k), gr);
		if (!gr) {
			gr = xcalloc(1, sizeof(*gr));
			gr->key = k;
			gr->first = e;
			HASH_ADD(hh, groups, key, sizeof(k), gr);
		}
		gr->seen |= seen[e];
	}
	/* In graph order, so missing rows come out in the order of the rules. */
	for (size_t e = 0; e < g->nedges; e++) {
		const struct graph_edge *ge = &g->edges[e];
		if (ge->level == LEVEL_FORBID)
			continue;
		struct group_key k = {ge->rule, ge->client, ge->server, ge->group};
		HASH_FIND(hh, groups, &k, sizeof(k), gr);
		if (gr->seen || gr->first != e)
			continue; /* an alternative was used; only the first alternative stands for the group */
		if (ge->level == LEVEL_OPTIONAL)
			c->optional_unseen++;
		else
			add_missing(c, (int)e);
	}
	HASH_ITER(hh, groups, gr, tmp) {
		HASH_DEL(groups, gr);
		free(gr);
	}
	free(seen);
	for (size_t i = 0; i < c->nrows; i++) {
		struct cls_row *r = &c->rows[i];
		judge(&r->n, &r->status, &r->reason);
		if (g->edges[r->edge].level == LEVEL_REQUIRED)
			c->summary[r->status]++;
		else
			c->optional[r->status]++;
	}
	c->nknown = 0;
	for (size_t i = 0; i < c->nunexp; i++) {
		struct cls_unexpected *u = &c->unexp[i];
		judge(&u->n, &u->status, &u->reason);
		c->nknown += u->apart;
	}
	free_pairs(c); /* its indices are about to change */
	sort_graph = g;
	if (c->nrows)
		qsort(c->rows, c->nrows, sizeof(*c->rows), cmp_rows);
	if (c->nunexp)
		qsort(c->unexp, c->nunexp, sizeof(*c->unexp), cmp_unexp);
	free_ix(&c->rows_ix);
	free_ix(&c->unexp_ix);
}

bool cls_has_findings(const struct cls *c)
{
	return c->nunexp > c->nknown || c->summary[CLS_BLOCKED] || c->summary[CLS_DEGRADED] || c->summary[CLS_MISSING] ||
	       c->summary[CLS_UNVERIFIED];
}

size_t cls_incomplete_rows(const struct cls *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->nrows; i++)
		n += c->rows[i].n.evicted != 0;
	for (size_t i = 0; i < c->nunexp; i++)
		n += c->unexp[i].n.evicted != 0;
	return n;
}
