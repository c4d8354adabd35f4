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

/* What a flow is looked up by: (client, server, proto, port). w0 holds port << 32 | proto << 48, so that
 * the key is five 8-byte words, hashed from registers (fa_hash5). */
struct cls_key {
	uint64_t w0;
	uint8_t client[16], server[16];
};

/* A report row, and an index slot or two: a million address pairs in some 130 MB (docs/performance.md). */
static_assert(sizeof(struct cls_row) <= 104 && sizeof(struct cls_unexpected) <= 112, "rows stay small");

/* Where a key lands: the kind in the payload's top two bits, an index below. */
enum { K_ROW, K_UNEXP, K_OUTSIDE, K_IGNORED };
#define KIND(p) ((p) >> 30)
#define INDEX(p) ((p) & 0x3fffffffu)
#define PAYLOAD(kind, i) ((uint32_t)(kind) << 30 | (uint32_t)(i))
#define ROWS_MAX 0x3fffffffu

/* A pair that lands on no row (outside the site, ignored), remembered for site clients: the flows of a
 * site client's pair come back; a flood of spoofed outside sources would fill the table with pairs never
 * seen again (their flows take the slow path's two site lookups instead, which allocate nothing). */
struct cls_other {
	struct cls_key key;
};
#define OTHERS_MAX 262144

/* Outside clients named so far for a (server, proto, port). */
struct cls_named {
	uint8_t server[16];
	uint64_t w0;
	uint32_t count;
};

/* A folded row: the hosts (-1: outside), proto and port it stands for, and where it is. */
struct cls_fold {
	int32_t ch, sh;
	uint64_t w0;
	uint32_t payload;
};

struct cls_why_entry {
	int32_t ch, sh;
	uint64_t w0;
	uint8_t code;
	int32_t ref;
};

static const char *const status_names[CLS_NSTATUS] = {"ok", "degraded", "blocked", "missing", "unverified"};
static const char *const reason_names[CLS_NREASONS] = {
	NULL, "no-reply", "reset", "icmp-prohibited", "icmp-unreachable", "app-no-handshake", "app-failed", "tls-alert",
	"wrong-protocol", "smb1", "not-seen",
};

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
	oat_init(&c->ix, 0, 0);
	oat_init(&c->named_ix, 0, 0);
	oat_init(&c->why_ix, 0, 0);
	oat_init(&c->fold_ix, 0, 0);
	oat_init(&c->learnt_ix, 0, 0);
}

void cls_set_max_rows(struct cls *c, size_t n)
{
	c->max_rows = n;
}

void cls_set_inferred(struct cls *c)
{
	c->inferred = true;
}

/* The indexes and what only they need: gone once rows are sorted (cls_finish()) or placed again. */
static void free_index(struct cls *c)
{
	oat_free(&c->ix);
	oat_free(&c->named_ix);
	oat_free(&c->why_ix);
	oat_free(&c->fold_ix);
	free(c->memo);
	c->memo = NULL;
	free(c->folds);
	c->folds = NULL;
	c->nfolds = c->cap_folds = 0;
	free(c->others);
	free(c->named);
	free(c->whys);
	c->others = NULL;
	c->named = NULL;
	c->whys = NULL;
	c->nothers = c->cap_others = c->nnamed = c->cap_named = c->nwhys = c->cap_whys = 0;
}

void cls_free(struct cls *c)
{
	free_index(c);
	free(c->rows);
	free(c->ev);
	free(c->lat);
	free(c->unexp);
	free(c->learnt);
	oat_free(&c->learnt_ix);
	free(c->row_order);
	free(c->unexp_order);
	memset(c, 0, sizeof(*c));
}

static inline uint64_t key_w0(uint8_t proto, uint16_t port)
{
	return (uint64_t)port << 32 | (uint64_t)proto << 48;
}

static inline uint16_t key_port(const struct cls_key *k)
{
	return (uint16_t)(k->w0 >> 32);
}

static inline uint8_t key_proto(const struct cls_key *k)
{
	return (uint8_t)(k->w0 >> 48);
}

static inline uint32_t key_hash(const struct cls *c, const struct cls_key *k)
{
	return fa_hash5(c->ix.seed, k->w0, fa_ld64(k->client), fa_ld64(k->client + 8), fa_ld64(k->server), fa_ld64(k->server + 8));
}

static inline bool eq16(const uint8_t *a, const uint8_t *b)
{
	return !((fa_ld64(a) ^ fa_ld64(b)) | (fa_ld64(a + 8) ^ fa_ld64(b + 8)));
}

/* The site's answer for an address, remembered in a direct-mapped table: new address pairs come from a
 * few thousand addresses, each looked up again and again (a lookup is a probe per prefix length). */
#define MEMO_SIZE 8192
struct cls_memo {
	uint8_t a[16];
	int32_t host;
	uint32_t used;
};

static int host_of(struct cls *c, const uint8_t *a)
{
	if (!c->memo)
		c->memo = xcalloc(MEMO_SIZE, sizeof(*c->memo));
	struct cls_memo *m = &c->memo[fa_hash(c->ix.seed, a, 16) & (MEMO_SIZE - 1)];
	if (m->used && eq16(m->a, a))
		return m->host;
	memcpy(m->a, a, 16);
	m->host = site_lookup(c->g->site, a);
	m->used = 1;
	return m->host;
}

static void make_key(struct cls_key *k, const uint8_t *client, const uint8_t *server, uint8_t proto, uint16_t port)
{
	k->w0 = key_w0(proto, port);
	memcpy(k->client, client, 16);
	memcpy(k->server, server, 16);
}

/* A record's key (client, server, proto, port) and its hash. */
static inline uint32_t record_key(const struct cls *c, const struct flow_record *r, struct cls_key *k)
{
	make_key(k, r->client, r->server, r->proto, r->server_port);
	return key_hash(c, k);
}

/* Does the entry a payload names carry this key? */
static bool entry_is(const struct cls *c, uint32_t p, const struct cls_key *k)
{
	uint32_t i = INDEX(p);
	switch (KIND(p)) {
	case K_ROW: {
		const struct cls_row *r = &c->rows[i];
		return key_w0(r->proto, r->port) == k->w0 && eq16(r->client.a, k->client) && eq16(r->server.a, k->server);
	}
	case K_UNEXP: {
		const struct cls_unexpected *u = &c->unexp[i];
		return key_w0(u->proto, u->port) == k->w0 && eq16(u->client, k->client) && eq16(u->server, k->server);
	}
	default: {
		const struct cls_key *o = &c->others[i].key;
		return o->w0 == k->w0 && eq16(o->client, k->client) && eq16(o->server, k->server);
	}
	}
}

static const void *entry_addr(const struct cls *c, uint32_t p)
{
	switch (KIND(p)) {
	case K_ROW:
		return &c->rows[INDEX(p)];
	case K_UNEXP:
		return &c->unexp[INDEX(p)];
	default:
		return &c->others[INDEX(p)];
	}
}

/* The payload of the entry with this key, or OAT_NONE. */
static uint32_t find(const struct cls *c, const struct cls_key *k, uint32_t hash)
{
	size_t pos = oat_home(&c->ix, hash);
	for (uint32_t p; (p = oat_next(&c->ix, hash, &pos)) != OAT_NONE;)
		if (entry_is(c, p, k))
			return p;
	return OAT_NONE;
}

/* One more of a 32-bit count, stopping at its top. */
static inline void bump(uint32_t *x)
{
	*x += *x != UINT32_MAX;
}

static inline void add32(uint32_t *x, uint32_t y)
{
	*x = *x > UINT32_MAX - y ? UINT32_MAX : *x + y;
}

static void count(struct cls_counts *n, const struct flow_record *r)
{
	n->attempts++;
	if (r->evicted)
		bump(&n->evicted);
	switch (r->open) {
	case FO_OPEN:
		bump(&n->established);
		break;
	case FO_FAILED:
		if (r->verdict == FV_RESET)
			bump(&n->resets);
		else if (r->verdict == FV_ICMP_PROHIBITED)
			bump(&n->icmp_prohibited);
		else if (r->verdict == FV_ICMP_UNREACHABLE)
			bump(&n->icmp_unreachable);
		else
			bump(&n->no_reply);
		break;
	default:
		bump(&n->unverified);
		break;
	}
	if (!n->first_ns || r->first_ns < n->first_ns)
		n->first_ns = r->first_ns;
	if (r->last_ns > n->last_ns)
		n->last_ns = r->last_ns;
}

static void bump16(uint16_t *x)
{
	*x += *x != UINT16_MAX;
}

enum app_handshake cls_app_handshake(const struct cls_app *a)
{
	return a->seen & CLS_APP_COMPLETE ? APP_HS_COMPLETE : a->seen & CLS_APP_FAILED ? APP_HS_FAILED
	       : a->seen & CLS_APP_INCOMPLETE ? APP_HS_INCOMPLETE : a->seen & CLS_APP_CUT ? APP_HS_CUT : APP_HS_NOT_SEEN;
}

/* Which flow a row shows as its evidence: a failure before an unfinished handshake before a cut one
 * before a complete one, the latest of a kind. */
static int ev_rank(enum app_handshake h)
{
	return h == APP_HS_FAILED ? 3 : h == APP_HS_INCOMPLETE ? 2 : h == APP_HS_CUT ? 1 : 0;
}

/* A flow's recogniser state as edge row i's evidence, if it ranks at least as high as what it has. */
static void offer_ev(struct cls *c, size_t i, const struct app_state *a)
{
	struct cls_counts *n = &c->rows[i].n;
	if ((n->app.seen & CLS_APP_EV) && ev_rank(app_handshake(a)) < ev_rank(app_handshake(&c->ev[i])))
		return;
	if (!(n->app.seen & CLS_APP_EV))
		GROW_RAW(c->ev, c->cap_ev, i);
	c->ev[i] = *a;
	n->app.seen |= CLS_APP_EV;
}

static size_t lat_bucket(uint32_t us)
{
	if (us < 2000)
		return us / 50;
	size_t b = 40;
	for (uint32_t lim = 4000; us >= lim && b < CLS_LAT_BUCKETS - 1; lim *= 2)
		b++;
	return b;
}

static uint32_t lat_bucket_top(size_t b)
{
	return b < 40 ? (uint32_t)(b + 1) * 50 : 2000u << (b - 39);
}

uint32_t cls_lat_quantile(const struct cls_lat *l, double q)
{
	uint64_t need = (uint64_t)(q * l->n + 0.999999), seen = 0;
	for (size_t b = 0; b < CLS_LAT_BUCKETS; b++) {
		seen += l->bucket[b];
		if (seen >= need && seen)
			return lat_bucket_top(b) < l->max_us ? lat_bucket_top(b) : l->max_us;
	}
	return l->max_us;
}

void cls_lat_merge(struct cls_lat *to, const struct cls_lat *from)
{
	add32(&to->n, from->n);
	to->max_us = from->max_us > to->max_us ? from->max_us : to->max_us;
	for (size_t b = 0; b < CLS_LAT_BUCKETS; b++)
		add32(&to->bucket[b], from->bucket[b]);
	for (int d = 0; d < 2; d++)
		if ((from->hops_seen >> d & 1) && (!(to->hops_seen >> d & 1) || from->hops[d] > to->hops[d]))
			to->hops[d] = from->hops[d];
	to->hops_seen |= from->hops_seen;
}

/* Edge e's placement (the table made when first needed). */
static struct cls_lat *lat_of(struct cls *c, int e)
{
	if (!c->lat)
		c->lat = xcalloc(c->g->nedges + 1, sizeof(*c->lat));
	return &c->lat[e];
}

static uint8_t hops_of(uint8_t ttl)
{
	return (uint8_t)((ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255) - ttl);
}

/* A flow of a partner path: its handshake time and its sides' hops into edge e's (in place: once a flow). */
static void count_lat(struct cls *c, int e, const struct flow_record *r)
{
	if (!r->rtt_us && !r->ttl[0] && !r->ttl[1])
		return;
	struct cls_lat *l = lat_of(c, e);
	if (r->rtt_us) {
		bump(&l->n);
		bump(&l->bucket[lat_bucket(r->rtt_us)]);
		l->max_us = r->rtt_us > l->max_us ? r->rtt_us : l->max_us;
	}
	for (int d = 0; d < 2; d++)
		if (r->ttl[d] && (!(l->hops_seen >> d & 1) || hops_of(r->ttl[d]) > l->hops[d])) {
			l->hops[d] = hops_of(r->ttl[d]);
			l->hops_seen |= (uint8_t)(1u << d);
		}
}

/* A claimed application's outcome into edge row i's counts, and maybe as its evidence. */
static void count_app(struct cls *c, struct cls_counts *n, size_t i, const struct app_state *a)
{
	if (a->proto < APP_TLS)
		return;
	static const uint8_t bit[] = {[APP_HS_NOT_SEEN] = CLS_APP_INCOMPLETE, [APP_HS_INCOMPLETE] = CLS_APP_INCOMPLETE,
				      [APP_HS_COMPLETE] = CLS_APP_COMPLETE, [APP_HS_FAILED] = CLS_APP_FAILED,
				      [APP_HS_CUT] = CLS_APP_CUT};
	n->app.seen |= bit[app_handshake(a)];
	if (a->other)
		n->app.seen |= CLS_APP_MIXED;
	if (a->proto == APP_SMB && (a->u.smb.smb1[0] || a->u.smb.smb1[1]) && !a->u.smb.smb2[0] && !a->u.smb.smb2[1])
		n->app.seen |= CLS_APP_SMB1;
	bump16(&n->app.flows);
	n->app.proto = a->proto;
	offer_ev(c, i, a);
}

const struct app_state *cls_row_app(const struct cls *c, const struct cls_row *r)
{
	return r->n.app.seen & CLS_APP_EV ? &c->ev[r - c->rows] : NULL;
}

static uint32_t learnt_find(const struct cls *c, const struct cls_key *k)
{
	if (!c->nlearnt)
		return OAT_NONE;
	uint32_t hash = fa_hash(c->learnt_ix.seed, k, sizeof(*k));
	size_t pos = oat_home(&c->learnt_ix, hash);
	for (uint32_t i; (i = oat_next(&c->learnt_ix, hash, &pos)) != OAT_NONE;) {
		const struct cls_learnt *l = &c->learnt[i];
		if (key_w0(l->proto, l->port) == k->w0 && eq16(l->client, k->client) && eq16(l->server, k->server))
			return i;
	}
	return OAT_NONE;
}

/* The edge a learnt port is a path of between these hosts: the portmapper's, unless the graph has its own
 * say on the port (an edge, or a forbid); -1 when there is none. */
static int learnt_edge(const struct cls *c, const struct cls_learnt *l, int ch, int sh)
{
	if (ch < 0 || sh < 0 || graph_find(c->g, ch, sh, l->proto, l->port) >= 0)
		return -1;
	int e = graph_find(c->g, ch, sh, l->pm_proto, l->pm_port);
	return e >= 0 && c->g->edges[e].level != LEVEL_FORBID ? e : -1;
}

static uint32_t add_row(struct cls *c, const struct cls_key *k, uint32_t hash, int edge, bool indexed);

/* A new row for key k when a portmapper taught its port to these hosts; OAT_NONE otherwise. */
static uint32_t learnt_row(struct cls *c, const struct cls_key *k, uint32_t hash, int ch, int sh)
{
	uint32_t li = learnt_find(c, k);
	int e = li != OAT_NONE ? learnt_edge(c, &c->learnt[li], ch, sh) : -1;
	if (e < 0)
		return OAT_NONE;
	uint32_t p = add_row(c, k, hash, e, true);
	c->rows[INDEX(p)].learnt = true;
	return p;
}

/* Unexpected row i leaves the table; the last one takes its place, and its index slot (or fold) follows. */
static void unexp_remove(struct cls *c, size_t i)
{
	size_t last = --c->nunexp;
	if (i != last) {
		c->unexp[i] = c->unexp[last];
		uint32_t from = PAYLOAD(K_UNEXP, last), to = PAYLOAD(K_UNEXP, i);
		const struct cls_unexpected *u = &c->unexp[i];
		if (u->folded) {
			for (size_t k = 0; k < c->nfolds; k++)
				if (c->folds[k].payload == from)
					c->folds[k].payload = to;
		} else {
			struct cls_key k;
			make_key(&k, u->client, u->server, u->proto, u->port);
			uint32_t h = key_hash(c, &k);
			oat_remove(&c->ix, h, from);
			oat_insert(&c->ix, h, to);
		}
	}
	/* A look-ahead of cls_flows() may still name the place: no key matches it now. */
	memset(&c->unexp[last], 0, sizeof(c->unexp[last]));
}

/* A port learnt: the flows counted on it so far as unexpected (they may settle before the portmapper's
 * flow does) move to the path's row. */
static void learn_one(struct cls *c, const struct cls_learnt *l)
{
	struct cls_key k;
	make_key(&k, l->client, l->server, l->proto, l->port);
	if (learnt_find(c, &k) != OAT_NONE)
		return;
	GROW(c->learnt, c->cap_learnt, c->nlearnt);
	c->learnt[c->nlearnt] = *l;
	oat_insert(&c->learnt_ix, fa_hash(c->learnt_ix.seed, &k, sizeof(k)), (uint32_t)c->nlearnt++);
	uint32_t hash = key_hash(c, &k), p = find(c, &k, hash);
	if (p == OAT_NONE || KIND(p) != K_UNEXP)
		return;
	const struct cls_unexpected *u = &c->unexp[INDEX(p)];
	int e = u->folded || u->apart || u->client_any ? -1 : learnt_edge(c, l, u->client_host, u->server_host);
	if (e < 0)
		return;
	uint32_t rp = add_row(c, &k, 0, e, false);
	c->rows[INDEX(rp)].learnt = true;
	c->rows[INDEX(rp)].n = u->n;
	oat_remove(&c->ix, hash, p);
	oat_insert(&c->ix, hash, rp);
	unexp_remove(c, INDEX(p));
}

/* A portmapper flow on an expected path: the ports its replies named for programs the pack learns. */
static void learn(struct cls *c, const struct flow_record *r)
{
	const struct app_state *a = &r->app;
	for (unsigned k = 0; k < a->u.rpc.nlearnt && k < APP_RPC_LEARN; k++) {
		if (!rules_learn_of(c->g->rules, a->u.rpc.learnt_prog[k]))
			continue;
		struct cls_learnt l = {
			.proto = a->u.rpc.learnt_udp >> k & 1 ? IPPROTO_UDP : IPPROTO_TCP,
			.port = a->u.rpc.learnt_port[k],
			.pm_proto = r->proto,
			.pm_port = r->server_port,
			.program = a->u.rpc.learnt_prog[k],
			.at_ns = r->first_ns,
		};
		memcpy(l.client, r->client, 16);
		memcpy(l.server, r->server, 16);
		learn_one(c, &l);
	}
}

const struct cls_learnt *cls_learnt_find(const struct cls *c, const uint8_t client[16], const uint8_t server[16],
					 uint8_t proto, uint16_t port)
{
	struct cls_key k;
	make_key(&k, client, server, proto, port);
	uint32_t i = learnt_find(c, &k);
	return i != OAT_NONE ? &c->learnt[i] : NULL;
}

const struct cls_learnt *cls_row_learnt(const struct cls *c, const struct cls_row *r)
{
	if (!r->learnt)
		return NULL;
	struct cls_key k;
	make_key(&k, r->client.a, r->server.a, r->proto, r->port);
	uint32_t i = learnt_find(c, &k);
	return i != OAT_NONE ? &c->learnt[i] : NULL;
}

enum rules_level cls_row_level(const struct cls *c, const struct cls_row *r)
{
	return r->learnt ? LEVEL_REQUIRED : c->g->edges[r->edge].level;
}

/* A flow lands where its key does. */
static void land(struct cls *c, uint32_t p, const struct flow_record *r)
{
	switch (KIND(p)) {
	case K_ROW: {
		struct cls_row *row = &c->rows[INDEX(p)];
		count(&row->n, r);
		count_app(c, &row->n, INDEX(p), &r->app);
		if (row->partner)
			count_lat(c, row->edge, r);
		if (r->app.proto == APP_RPC && r->app.u.rpc.nlearnt)
			learn(c, r); /* last: it may move rows */
		break;
	}
	case K_UNEXP:
		count(&c->unexp[INDEX(p)].n, r);
		break;
	case K_OUTSIDE:
		c->outside++;
		break;
	default:
		c->ignored++;
		break;
	}
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

/* Why a flow between these hosts on proto/port matches no expected edge (forbid: the forbidding edge, or
 * -1), decided once per (client host, server host, proto, port). */
static void decide_why(struct cls *c, int ch, int sh, uint8_t proto, uint16_t port, int forbid, uint8_t *code, int *ref)
{
	const struct graph *g = c->g;
	struct cls_why_entry k = {.ch = ch, .sh = sh, .w0 = key_w0(proto, port)};
	uint32_t hash = fa_hash(c->why_ix.seed, &k, 16);
	size_t pos = oat_home(&c->why_ix, hash);
	for (uint32_t i; (i = oat_next(&c->why_ix, hash, &pos)) != OAT_NONE;)
		if (c->whys[i].ch == ch && c->whys[i].sh == sh && c->whys[i].w0 == k.w0) {
			*code = c->whys[i].code;
			*ref = c->whys[i].ref;
			return;
		}
	int rev = ch >= 0 ? graph_find(g, sh < 0 ? GRAPH_INTERNET : sh, ch, proto, port) : -1;
	int ri;
	if (forbid >= 0) {
		k.code = CLS_WHY_FORBIDDEN;
		k.ref = forbid;
	} else if (rev >= 0 && g->edges[rev].level != LEVEL_FORBID) {
		k.code = CLS_WHY_REVERSE;
		k.ref = rev;
	} else if ((ri = rule_for_port(g, ch, sh, proto, port)) >= 0) {
		k.code = CLS_WHY_OTHER_HOSTS;
		k.ref = ri;
	} else {
		k.code = graph_has_port(g, proto, port) ? CLS_WHY_PORT_ELSEWHERE : CLS_WHY_NOT_PEERGFS;
		k.ref = -1;
	}
	GROW(c->whys, c->cap_whys, c->nwhys);
	c->whys[c->nwhys] = k;
	oat_insert(&c->why_ix, hash, (uint32_t)c->nwhys++);
	*code = k.code;
	*ref = k.ref;
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

/* May one more outside client of (server, proto, port) have a row of its own? */
static bool name_outside(struct cls *c, const struct cls_key *k)
{
	struct cls_named key;
	memset(&key, 0, sizeof(key));
	memcpy(key.server, k->server, 16);
	key.w0 = k->w0;
	uint32_t hash = fa_hash(c->named_ix.seed, &key, 24);
	size_t pos = oat_home(&c->named_ix, hash);
	uint32_t i;
	while ((i = oat_next(&c->named_ix, hash, &pos)) != OAT_NONE)
		if (c->named[i].w0 == key.w0 && eq16(c->named[i].server, key.server))
			break;
	if (i == OAT_NONE) {
		GROW(c->named, c->cap_named, c->nnamed);
		c->named[c->nnamed] = key;
		i = (uint32_t)c->nnamed++;
		oat_insert(&c->named_ix, hash, i);
	}
	if (c->named[i].count >= CLS_OUTSIDE_NAMED)
		return false;
	c->named[i].count++;
	return true;
}

/* A new edge row for key k (in the pair index unless it is a folded row: hash is then unused). */
static uint32_t add_row(struct cls *c, const struct cls_key *k, uint32_t hash, int edge, bool indexed)
{
	if (c->nrows >= ROWS_MAX)
		oom();
	GROW_RAW(c->rows, c->cap_rows, c->nrows);
	struct cls_row *r = &c->rows[c->nrows];
	memset(r, 0, sizeof(*r));
	r->edge = edge;
	r->partner = c->g->edges[edge].partner;
	r->port = key_port(k);
	r->proto = key_proto(k);
	memcpy(r->client.a, k->client, 16);
	r->client.plen = 128;
	memcpy(r->server.a, k->server, 16);
	r->server.plen = 128;
	r->seen = true;
	uint32_t p = PAYLOAD(K_ROW, c->nrows++);
	if (indexed)
		oat_insert(&c->ix, hash, p);
	return p;
}

static uint32_t add_unexpected(struct cls *c, const struct cls_key *k, uint32_t hash, int ch, int sh, bool any, bool apart,
			       int forbid, bool indexed)
{
	if (c->nunexp >= ROWS_MAX)
		oom();
	GROW_RAW(c->unexp, c->cap_unexp, c->nunexp);
	struct cls_unexpected *u = &c->unexp[c->nunexp];
	memset(u, 0, sizeof(*u));
	memcpy(u->client, k->client, 16);
	memcpy(u->server, k->server, 16);
	u->client_any = any;
	u->client_host = ch;
	u->server_host = sh;
	u->proto = key_proto(k);
	u->port = key_port(k);
	u->apart = apart;
	if (apart) {
		u->why = CLS_WHY_APART;
		u->why_ref = -1;
	} else {
		decide_why(c, ch, sh, u->proto, u->port, forbid, &u->why, &u->why_ref);
	}
	uint32_t p = PAYLOAD(K_UNEXP, c->nunexp++);
	if (indexed)
		oat_insert(&c->ix, hash, p);
	return p;
}

/* The folded row of (client host, server host, proto, port), made if new: an edge row (edge >= 0) or an
 * unexpected one. Its addresses are the hosts' first ones (the whole family for an end outside the site). */
static uint32_t fold(struct cls *c, int ch, int sh, const struct cls_key *pk, int edge, bool apart, int forbid)
{
	const struct graph *g = c->g;
	struct cls_fold k = {.ch = ch, .sh = sh, .w0 = pk->w0};
	uint32_t hash = fa_hash(c->fold_ix.seed, &k, 16), i;
	size_t pos = oat_home(&c->fold_ix, hash);
	while ((i = oat_next(&c->fold_ix, hash, &pos)) != OAT_NONE)
		if (c->folds[i].ch == ch && c->folds[i].sh == sh && c->folds[i].w0 == pk->w0) {
			c->folded++;
			return c->folds[i].payload;
		}
	struct cls_key rk = *pk;
	struct site_addr ca = {{0}, 0}, sa = {{0}, 0};
	const struct site_addr *any = NULL;
	if (ch >= 0 && g->site->hosts[ch].naddrs)
		any = &g->site->hosts[ch].addrs[0];
	if (any)
		ca = *any;
	else if (addr_is_v4(pk->client))
		ca.a[10] = ca.a[11] = 0xff, ca.plen = 96;
	any = sh >= 0 && g->site->hosts[sh].naddrs ? &g->site->hosts[sh].addrs[0] : NULL;
	if (any)
		sa = *any;
	else if (addr_is_v4(pk->server))
		sa.a[10] = sa.a[11] = 0xff, sa.plen = 96;
	memcpy(rk.client, ca.a, 16);
	memcpy(rk.server, sa.a, 16);
	/* Not in the pair index: a pair there names one address pair, and a folded row stands for many. */
	uint32_t p;
	if (edge >= 0) {
		p = add_row(c, &rk, 0, edge, false);
		c->rows[INDEX(p)].client = ca;
		c->rows[INDEX(p)].server = sa;
		c->rows[INDEX(p)].folded = true;
	} else {
		p = add_unexpected(c, &rk, 0, ch, sh, ch < 0, apart, forbid, false);
		c->unexp[INDEX(p)].folded = true;
	}
	k.payload = p;
	GROW(c->folds, c->cap_folds, c->nfolds);
	c->folds[c->nfolds] = k;
	oat_insert(&c->fold_ix, hash, (uint32_t)c->nfolds++);
	c->folded++;
	return p;
}

/* Where a key lands under the current graph: site lookups, the graph, the row tables (a row is made if
 * new; a pair of a site client that lands on no row is remembered). The slow path of cls_flows(). */
static uint32_t locate(struct cls *c, const struct cls_key *pk, uint32_t hash)
{
	const struct graph *g = c->g;
	uint16_t port = key_port(pk);
	uint8_t proto = key_proto(pk);
	int ch = host_of(c, pk->client), sh = host_of(c, pk->server);
	if (ch < 0 && sh < 0)
		return PAYLOAD(K_OUTSIDE, 0);
	int e = ch >= 0 ? graph_find(g, ch, sh < 0 ? GRAPH_INTERNET : sh, proto, port) : -1;
	if (e < 0 && c->nlearnt) {
		uint32_t p = learnt_row(c, pk, hash, ch, sh);
		if (p != OAT_NONE)
			return p;
	}
	bool full = c->max_rows && c->nrows + c->nunexp >= c->max_rows;
	if (e >= 0 && g->edges[e].level != LEVEL_FORBID)
		return full ? fold(c, ch, sh, pk, e, false, -1) : add_row(c, pk, hash, e, true);
	bool forbidden = e >= 0;
	bool apart = !forbidden && (host_apart(g, ch) || host_apart(g, sh));
	if (!forbidden && !apart && !graph_has_port(g, proto, port) && (ch < 0 || sh < 0 || rules_ignored(g->rules, proto, port))) {
		uint32_t kind = ch >= 0 && sh >= 0 ? K_IGNORED : K_OUTSIDE;
		if (ch >= 0 && c->nothers < OTHERS_MAX) {
			GROW_RAW(c->others, c->cap_others, c->nothers);
			c->others[c->nothers].key = *pk;
			oat_insert(&c->ix, hash, PAYLOAD(kind, c->nothers++));
		}
		return PAYLOAD(kind, 0);
	}
	/* Clients outside the site are named, up to CLS_OUTSIDE_NAMED per server and port; past that they
	 * are one row, so that a flood of spoofed sources makes a few rows, not millions (client_addr is then
	 * the whole address family, 0.0.0.0/0 or ::/0). */
	if (full)
		return fold(c, ch, sh, pk, -1, apart, forbidden ? e : -1);
	if (ch < 0 && !name_outside(c, pk)) {
		struct cls_key any = *pk;
		memset(any.client, 0, 16);
		if (addr_is_v4(pk->client))
			any.client[10] = any.client[11] = 0xff; /* ::ffff:0.0.0.0, the IPv4 family */
		uint32_t ah = key_hash(c, &any), p = find(c, &any, ah);
		return p != OAT_NONE ? p : add_unexpected(c, &any, ah, ch, sh, true, apart, forbidden ? e : -1, true);
	}
	return add_unexpected(c, pk, hash, ch, sh, false, apart, forbidden ? e : -1, true);
}

/* A flow whose start was not captured had its ends told apart by their ports (flow.c), which a
 * portmapper's answer overrules: mountd, statd and lockd clients bind reserved ports, so a midstream
 * flow to a learnt port came out reversed. True, with r turned round in *out, when the reversed flow is
 * on a port the portmapper named to its client. */
static bool learnt_reversed(const struct cls *c, const struct flow_record *r, struct flow_record *out)
{
	if (!c->nlearnt || (r->verdict != FV_MIDSTREAM && r->verdict != FV_ONE_SIDED))
		return false;
	struct cls_key k;
	make_key(&k, r->server, r->client, r->proto, r->client_port);
	if (learnt_find(c, &k) == OAT_NONE)
		return false;
	*out = *r;
	flow_record_reverse(out);
	return true;
}

/* The look-ahead of cls_flows(): a record's index slot is asked for SLOT_AHEAD records before it lands,
 * the entry that slot names ENTRY_AHEAD before. */
enum { CHUNK = 64, SLOT_AHEAD = 8, ENTRY_AHEAD = 4 };

static inline uint32_t first_candidate(const struct cls *c, uint32_t hash)
{
	size_t pos = oat_home(&c->ix, hash);
	return oat_next(&c->ix, hash, &pos);
}

void cls_flows(struct cls *c, const struct flow_record *r, size_t n, uint8_t *turned)
{
	struct cls_key k[CHUNK];
	uint32_t h[CHUNK], cand[CHUNK];
	for (size_t base = 0; base < n; base += CHUNK) {
		size_t m = n - base < CHUNK ? n - base : CHUNK;
		const struct flow_record *b = r + base;
		for (size_t i = 0; i < m; i++) {
			h[i] = record_key(c, &b[i], &k[i]);
			if (i < SLOT_AHEAD)
				oat_prefetch(&c->ix, h[i]);
		}
		for (size_t i = 0; i < m && i < ENTRY_AHEAD; i++)
			cand[i] = first_candidate(c, h[i]);
		for (size_t i = 0; i < m; i++) {
			if (i + SLOT_AHEAD < m)
				oat_prefetch(&c->ix, h[i + SLOT_AHEAD]);
			if (i + ENTRY_AHEAD < m) {
				uint32_t p = cand[i + ENTRY_AHEAD] = first_candidate(c, h[i + ENTRY_AHEAD]);
				if (p != OAT_NONE)
					__builtin_prefetch(entry_addr(c, p), 1);
			}
			struct flow_record other;
			bool turn = learnt_reversed(c, &b[i], &other); /* never a lone segment: only midstream, one-sided */
			if (turned)
				turned[base + i] = turn;
			if (b[i].verdict == FV_NOT_A_CONNECTION)
				continue;
			if (turn) {
				struct cls_key tk;
				uint32_t th = record_key(c, &other, &tk), p = find(c, &tk, th);
				land(c, p != OAT_NONE ? p : locate(c, &tk, th), &other);
				continue;
			}
			/* The candidate found ahead is trusted only if it carries the key: an entry made since
			 * (by the slow path of an earlier record) may be the one. */
			uint32_t p = cand[i];
			if (p == OAT_NONE || !entry_is(c, p, &k[i]))
				p = find(c, &k[i], h[i]);
			if (p == OAT_NONE)
				p = locate(c, &k[i], h[i]);
			land(c, p, &b[i]);
		}
	}
}

/* A copy of the n entries of an array of cap (room for cap, as the original has). */
static void *copy_array(const void *a, size_t n, size_t cap, size_t sz)
{
	void *c = xcalloc(cap + 1, sz);
	if (n)
		memcpy(c, a, n * sz);
	return c;
}

void cls_clone(struct cls *dst, const struct cls *src)
{
	*dst = *src;
	dst->rows = copy_array(src->rows, src->nrows, src->cap_rows, sizeof(*src->rows));
	dst->ev = src->ev ? copy_array(src->ev, src->cap_ev < src->nrows ? src->cap_ev : src->nrows, src->cap_ev,
				       sizeof(*src->ev)) : NULL;
	dst->lat = src->lat ? copy_array(src->lat, src->g->nedges + 1, src->g->nedges, sizeof(*src->lat)) : NULL;
	dst->unexp = copy_array(src->unexp, src->nunexp, src->cap_unexp, sizeof(*src->unexp));
	dst->others = copy_array(src->others, src->nothers, src->cap_others, sizeof(*src->others));
	dst->named = copy_array(src->named, src->nnamed, src->cap_named, sizeof(*src->named));
	dst->folds = copy_array(src->folds, src->nfolds, src->cap_folds, sizeof(*src->folds));
	dst->whys = copy_array(src->whys, src->nwhys, src->cap_whys, sizeof(*src->whys));
	dst->memo = NULL;
	dst->row_order = dst->unexp_order = NULL;
	oat_copy(&dst->fold_ix, &src->fold_ix);
	oat_copy(&dst->ix, &src->ix);
	oat_copy(&dst->named_ix, &src->named_ix);
	oat_copy(&dst->why_ix, &src->why_ix);
	dst->learnt = copy_array(src->learnt, src->nlearnt, src->cap_learnt, sizeof(*src->learnt));
	oat_copy(&dst->learnt_ix, &src->learnt_ix);
}

static void add16(uint16_t *x, uint16_t y)
{
	*x = (uint16_t)(*x > UINT16_MAX - y ? UINT16_MAX : *x + y);
}

static void merge_counts(struct cls_counts *to, const struct cls_counts *from)
{
	to->attempts += from->attempts;
	add32(&to->established, from->established);
	add32(&to->resets, from->resets);
	add32(&to->icmp_prohibited, from->icmp_prohibited);
	add32(&to->icmp_unreachable, from->icmp_unreachable);
	add32(&to->no_reply, from->no_reply);
	add32(&to->unverified, from->unverified);
	add32(&to->evicted, from->evicted);
	add16(&to->app.flows, from->app.flows);
	to->app.seen |= from->app.seen & (uint8_t)~CLS_APP_EV; /* the evidence is moved by the caller, if it can */
	if (from->app.proto)
		to->app.proto = from->app.proto;
	if (!to->first_ns || (from->first_ns && from->first_ns < to->first_ns))
		to->first_ns = from->first_ns;
	if (from->last_ns > to->last_ns)
		to->last_ns = from->last_ns;
}

void cls_merge(struct cls *c, const struct cls *from)
{
	for (size_t e = 0; from->lat && e < from->g->nedges; e++) /* one graph: the same edges */
		if (from->lat[e].n || from->lat[e].hops_seen)
			cls_lat_merge(lat_of(c, (int)e), &from->lat[e]);
	for (size_t i = 0; i < from->nlearnt; i++)
		learn_one(c, &from->learnt[i]);
	struct cls_key k;
	for (size_t i = 0; i < from->nrows; i++) {
		const struct cls_row *r = &from->rows[i];
		make_key(&k, r->client.a, r->server.a, r->proto, r->port);
		uint32_t hash = key_hash(c, &k), p = find(c, &k, hash);
		if (p == OAT_NONE) {
			p = add_row(c, &k, hash, r->edge, true);
			c->rows[INDEX(p)].learnt = r->learnt;
			if (r->folded) {
				c->rows[INDEX(p)].client = r->client;
				c->rows[INDEX(p)].server = r->server;
				c->rows[INDEX(p)].folded = true;
			}
		}
		merge_counts(&c->rows[INDEX(p)].n, &r->n);
		if (r->n.app.seen & CLS_APP_EV)
			offer_ev(c, INDEX(p), &from->ev[i]);

	}
	for (size_t i = 0; i < from->nunexp; i++) {
		const struct cls_unexpected *u = &from->unexp[i];
		make_key(&k, u->client, u->server, u->proto, u->port);
		uint32_t hash = key_hash(c, &k), p = find(c, &k, hash);
		if (p == OAT_NONE && !u->folded && !u->client_any && !u->apart)
			p = learnt_row(c, &k, hash, u->client_host, u->server_host);
		if (p != OAT_NONE && KIND(p) == K_ROW) {
			merge_counts(&c->rows[INDEX(p)].n, &u->n); /* a port one worker learnt */
			continue;
		}
		if (p == OAT_NONE) {
			if (c->nunexp >= ROWS_MAX)
				oom();
			GROW_RAW(c->unexp, c->cap_unexp, c->nunexp);
			c->unexp[c->nunexp] = *u;
			memset(&c->unexp[c->nunexp].n, 0, sizeof(u->n));
			p = PAYLOAD(K_UNEXP, c->nunexp++);
			oat_insert(&c->ix, hash, p);
		}
		merge_counts(&c->unexp[INDEX(p)].n, &u->n);
	}
	c->outside += from->outside;
	c->ignored += from->ignored;
	c->folded += from->folded;
}

void cls_take(struct cls *c, struct cls *from)
{
	if (c->nrows || c->nunexp || c->outside || c->ignored || c->g != from->g) {
		cls_merge(c, from);
		return;
	}
	cls_free(c);
	*c = *from;
	cls_init(from, c->g);
}

/* Counts of an old row (and its evidence, or NULL), placed where its address pair lands now. */
static void replace_counts(struct cls *c, const struct cls_key *pk, const struct cls_counts *n,
			   const struct app_state *ev, const struct cls_lat *lat)
{
	uint32_t hash = key_hash(c, pk), p = find(c, pk, hash);
	if (p == OAT_NONE)
		p = locate(c, pk, hash);
	switch (KIND(p)) {
	case K_ROW:
		merge_counts(&c->rows[INDEX(p)].n, n);
		if (ev)
			offer_ev(c, INDEX(p), ev);
		if (lat && c->rows[INDEX(p)].partner) /* an old edge's placement, moved with its first row */
			cls_lat_merge(lat_of(c, c->rows[INDEX(p)].edge), lat);
		break;
	case K_UNEXP:
		merge_counts(&c->unexp[INDEX(p)].n, n);
		break;
	case K_OUTSIDE:
		c->outside += n->attempts;
		break;
	default:
		c->ignored += n->attempts;
		break;
	}
}

void cls_rebase(struct cls *c, const struct graph *g)
{
	struct cls_row *rows = c->rows;
	struct app_state *ev = c->ev;
	struct cls_lat *lat = c->lat;
	const struct graph *old = c->g;
	bool *moved = lat ? xcalloc(old->nedges + 1, sizeof(bool)) : NULL;
	size_t nrows = c->nrows;
	struct cls_unexpected *unexp = c->unexp;
	size_t nunexp = c->nunexp;
	free_index(c);
	c->rows = NULL;
	c->nrows = c->cap_rows = 0;
	c->ev = NULL;
	c->cap_ev = 0;
	c->lat = NULL;
	c->unexp = NULL;
	c->nunexp = c->cap_unexp = 0;
	c->g = g;
	/* Every row is judged again by its address pair, as its flows would be now: a path the new graph
	 * expects gains the flows seen before, one it forbids or no longer knows becomes unexpected (with
	 * today's reason), and an unexpected one the new graph expects becomes a path. */
	struct cls_key pk;
	for (size_t i = 0; i < nrows; i++) {
		make_key(&pk, rows[i].client.a, rows[i].server.a, rows[i].proto, rows[i].port);
		const struct cls_lat *l = NULL;
		if (lat && !moved[rows[i].edge] && (lat[rows[i].edge].n || lat[rows[i].edge].hops_seen)) {
			l = &lat[rows[i].edge];
			moved[rows[i].edge] = true;
		}
		replace_counts(c, &pk, &rows[i].n, rows[i].n.app.seen & CLS_APP_EV ? &ev[i] : NULL, l);
	}
	for (size_t i = 0; i < nunexp; i++) {
		make_key(&pk, unexp[i].client, unexp[i].server, unexp[i].proto, unexp[i].port);
		replace_counts(c, &pk, &unexp[i].n, NULL, NULL);
	}
	free(rows);
	free(ev);
	free(lat);
	free(moved);
	free(unexp);
}

void cls_judge(const struct cls_counts *n, uint8_t *st, uint8_t *why)
{
	uint64_t failed = (uint64_t)n->resets + n->icmp_prohibited + n->icmp_unreachable + n->no_reply;
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

/* The port answered; did the application, and the one the port is for? On a path whose connections all
 * opened: a protocol the pack does not say the port speaks, SMB 1 where the site wants SMB 2 or later,
 * or an application that never once completed its handshake (one unfinished alone may be the capture's
 * end, and is only shown) make it degraded. */
static void judge_app(const struct cls *c, struct cls_row *r, bool smb2_only)
{
	const struct cls_app *a = &r->n.app;
	if (r->status != CLS_OK || a->proto < APP_TLS)
		return;
	uint32_t speaks = rules_speaks_on(c->g->rules, r->proto, r->port); /* a learnt port is not its edge's */
	if ((speaks && !(speaks >> a->proto & 1)) || (a->seen & CLS_APP_MIXED))
		r->reason = CLS_R_WRONG_PROTOCOL;
	else if (smb2_only && (a->seen & CLS_APP_SMB1))
		r->reason = CLS_R_SMB1;
	else if (a->seen & CLS_APP_COMPLETE)
		return;
	else if (a->seen & CLS_APP_FAILED)
		r->reason = a->proto == APP_TLS ? CLS_R_TLS_ALERT : CLS_R_APP_FAILED;
	else if ((a->seen & CLS_APP_INCOMPLETE) && a->flows >= 2)
		r->reason = CLS_R_APP_NO_HANDSHAKE;
	else
		return;
	r->status = CLS_DEGRADED;
}

/* Order of the text report: findings first (blocked, degraded, missing, unverified), then ok. */
static int severity(enum cls_status s)
{
	static const int rank[CLS_NSTATUS] = {[CLS_BLOCKED] = 0, [CLS_DEGRADED] = 1, [CLS_MISSING] = 2,
					      [CLS_UNVERIFIED] = 3, [CLS_OK] = 4};
	return rank[s];
}

/* Rows are ordered by a key of five words compared as unsigned integers: the keys are sorted, the rows stay
 * where they are (moving a million rows into place cost more than the sort). */
struct sort_key {
	uint64_t w[5];
	uint32_t row;
};

static int cmp_keys(const void *a, const void *b)
{
	const struct sort_key *x = a, *y = b;
	for (int i = 0; i < 5; i++)
		if (x->w[i] != y->w[i])
			return x->w[i] < y->w[i] ? -1 : 1;
	return 0;
}

/* An address as two words that compare as its bytes do. */
static void addr_words(const uint8_t *a, uint64_t *w)
{
	w[0] = __builtin_bswap64(fa_ld64(a));
	w[1] = __builtin_bswap64(fa_ld64(a + 8));
	if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__) {
		w[0] = __builtin_bswap64(w[0]);
		w[1] = __builtin_bswap64(w[1]);
	}
}

/* The order of n sorted keys, as indexes. */
static uint32_t *order_of(const struct sort_key *k, size_t n)
{
	uint32_t *o = xmalloc((n + 1) * sizeof(*o));
	for (size_t i = 0; i < n; i++)
		o[i] = k[i].row;
	return o;
}

/* Rows: required first, findings first (by severity), then by rule, edge and address pair. */
static void row_key(const struct cls *c, const struct cls_row *r, struct sort_key *k)
{
	const struct graph_edge *e = &c->g->edges[r->edge];
	k->w[0] = (uint64_t)(cls_row_level(c, r) != LEVEL_REQUIRED) << 63 | (uint64_t)severity(r->status) << 60 |
		  (uint64_t)(uint32_t)e->rule << 32 | (uint64_t)r->learnt << 31 | (uint32_t)r->edge;
	addr_words(r->client.a, &k->w[1]);
	addr_words(r->server.a, &k->w[3]);
}

/* Unexpected rows: by address pair, proto and port. */
static void unexp_key(const struct cls_unexpected *u, struct sort_key *k)
{
	addr_words(u->client, &k->w[0]);
	addr_words(u->server, &k->w[2]);
	k->w[4] = (uint64_t)u->proto << 16 | u->port;
}

int cls_row_cmp(const struct cls *c, const struct cls_row *a, const struct cls_row *b)
{
	struct sort_key x, y;
	row_key(c, a, &x);
	row_key(c, b, &y);
	return cmp_keys(&x, &y);
}

int cls_unexp_cmp(const struct cls_unexpected *a, const struct cls_unexpected *b)
{
	struct sort_key x, y;
	unexp_key(a, &x);
	unexp_key(b, &y);
	return cmp_keys(&x, &y);
}

/* Two words of a key: when every address of a sort is IPv4 (::ffff:a.b.c.d), five words say no more than
 * two, and two sort by radix: a pass per byte that differs somewhere, no comparison at all. */
struct short_key {
	uint64_t hi, lo;
	uint32_t row;
};

static void radix(struct short_key *a, size_t n)
{
	uint64_t vary_hi = 0, vary_lo = 0;
	for (size_t i = 0; i < n; i++) {
		vary_hi |= a[i].hi ^ a[0].hi;
		vary_lo |= a[i].lo ^ a[0].lo;
	}
	struct short_key *b = xmalloc((n + 1) * sizeof(*b)), *from = a, *to = b;
	for (int d = 0; d < 16; d++) { /* least significant byte first: lo's, then hi's */
		uint64_t vary = d < 8 ? vary_lo : vary_hi;
		unsigned shift = (unsigned)(d % 8) * 8;
		if (!(vary >> shift & 0xff))
			continue;
		size_t count[257] = {0};
		for (size_t i = 0; i < n; i++)
			count[((d < 8 ? from[i].lo : from[i].hi) >> shift & 0xff) + 1]++;
		for (int v = 0; v < 256; v++)
			count[v + 1] += count[v];
		for (size_t i = 0; i < n; i++)
			to[count[(d < 8 ? from[i].lo : from[i].hi) >> shift & 0xff]++] = from[i];
		struct short_key *t = from;
		from = to;
		to = t;
	}
	if (from != a)
		memcpy(a, from, n * sizeof(*a));
	free(b);
}

/* The order of n keys (report order), as indexes; the five words of v4 addresses as two when they can be. */
static uint32_t *sort_keys(struct sort_key *k, size_t n, bool rows)
{
	bool v4 = true;
	for (size_t i = 0; i < n && v4; i++) {
		const uint64_t *c = rows ? &k[i].w[1] : &k[i].w[0], *sv = rows ? &k[i].w[3] : &k[i].w[2];
		v4 = !c[0] && c[1] >> 32 == 0xffff && !sv[0] && sv[1] >> 32 == 0xffff;
	}
	if (!v4) {
		qsort(k, n, sizeof(*k), cmp_keys);
		return order_of(k, n);
	}
	struct short_key *s = xmalloc((n + 1) * sizeof(*s));
	for (size_t i = 0; i < n; i++) {
		uint64_t addrs = rows ? (k[i].w[2] & 0xffffffff) << 32 | (k[i].w[4] & 0xffffffff)
				      : (k[i].w[1] & 0xffffffff) << 32 | (k[i].w[3] & 0xffffffff);
		s[i] = rows ? (struct short_key){k[i].w[0], addrs, k[i].row} : (struct short_key){addrs, k[i].w[4], k[i].row};
	}
	radix(s, n);
	uint32_t *o = xmalloc((n + 1) * sizeof(*o));
	for (size_t i = 0; i < n; i++)
		o[i] = s[i].row;
	free(s);
	return o;
}

static void sort_rows(struct cls *c)
{
	struct sort_key *k = xmalloc((c->nrows + 1) * sizeof(*k));
	for (size_t i = 0; i < c->nrows; i++) {
		row_key(c, &c->rows[i], &k[i]);
		k[i].row = (uint32_t)i;
	}
	c->row_order = sort_keys(k, c->nrows, true);
	free(k);
}

static void sort_unexpected(struct cls *c)
{
	struct sort_key *k = xmalloc((c->nunexp + 1) * sizeof(*k));
	for (size_t i = 0; i < c->nunexp; i++) {
		unexp_key(&c->unexp[i], &k[i]);
		k[i].row = (uint32_t)i;
	}
	c->unexp_order = sort_keys(k, c->nunexp, false);
	free(k);
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
	GROW_RAW(c->rows, c->cap_rows, c->nrows);
	struct cls_row *r = &c->rows[c->nrows++];
	memset(r, 0, sizeof(*r));
	r->edge = e;
	r->partner = ge->partner;
	r->port = ge->port;
	r->proto = ge->proto;
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

void cls_finish(struct cls *c, bool sort)
{
	const struct graph *g = c->g;
	bool *seen = xcalloc(g->nedges + 1, sizeof(bool));
	/* One pass over the rows seen (a million rows are 100 MB: each pass costs), then the missing ones. */
	c->incomplete = 0;
	const char *smb_min = g->site ? site_setting(g->site, "smb_min") : NULL;
	bool smb2_only = smb_min && atoi(smb_min) >= 2;
	for (size_t i = 0; i < c->nrows; i++) {
		struct cls_row *r = &c->rows[i];
		seen[r->edge] = true;
		cls_judge(&r->n, &r->status, &r->reason);
		judge_app(c, r, smb2_only);
		if (cls_row_level(c, r) == LEVEL_REQUIRED)
			c->summary[r->status]++;
		else
			c->optional[r->status]++;
		c->incomplete += r->n.evicted != 0;
	}
	size_t nseen = c->nrows;
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
	for (size_t i = nseen; i < c->nrows; i++) {
		struct cls_row *r = &c->rows[i];
		cls_judge(&r->n, &r->status, &r->reason);
		if (c->inferred && r->status == CLS_MISSING) {
			r->status = CLS_UNVERIFIED;
			r->reason = CLS_R_NOT_SEEN;
		}
		if (g->edges[r->edge].level == LEVEL_REQUIRED)
			c->summary[r->status]++;
		else
			c->optional[r->status]++;
	}
	c->nknown = 0;
	for (size_t i = 0; i < c->nunexp; i++) {
		struct cls_unexpected *u = &c->unexp[i];
		cls_judge(&u->n, &u->status, &u->reason);
		c->nknown += u->apart;
		c->incomplete += u->n.evicted != 0;
	}
	free_index(c); /* the rows' places may change */
	if (sort) {
		sort_rows(c);
		sort_unexpected(c);
	}
	struct cls_place *p;
	uint32_t limit;
	size_t np = cls_placement(c, &p, &limit);
	c->placement_findings = 0;
	for (size_t k = 0; k < np; k++)
		c->placement_findings += p[k].slow || p[k].routed;
	free(p);
}

bool cls_has_findings(const struct cls *c)
{
	return c->nunexp > c->nknown || c->summary[CLS_BLOCKED] || c->summary[CLS_DEGRADED] || c->summary[CLS_MISSING] ||
	       c->summary[CLS_UNVERIFIED] || c->placement_findings;
}

size_t cls_placement(const struct cls *c, struct cls_place **out, uint32_t *limit_us)
{
	const struct graph *g = c->g;
	const char *set = g->site ? site_setting(g->site, "latency_ms") : NULL;
	double ms = set ? strtod(set, NULL) : 1.0;
	*limit_us = (uint32_t)(ms > 0 && ms < 4e6 ? ms * 1000 : 1000);
	struct cls_place *p = NULL;
	size_t n = 0, cap = 0;
	struct oat pairs; /* the unordered host pair -> its entry of p: a site may have thousands of pairs */
	oat_init(&pairs, 0, 0);
	for (size_t i = 0; c->lat && i < g->nedges; i++) {
		const struct cls_lat *l = &c->lat[i];
		if (!l->n && !l->hops_seen)
			continue;
		const struct graph_edge *e = &g->edges[i];
		int lo = e->client < e->server ? e->client : e->server, hi = e->client ^ e->server ^ lo;
		uint64_t key = (uint64_t)(uint32_t)lo << 32 | (uint32_t)hi;
		uint32_t hash = fa_hash(pairs.seed, &key, sizeof(key)), k;
		size_t pos = oat_home(&pairs, hash);
		while ((k = oat_next(&pairs, hash, &pos)) != OAT_NONE &&
		       !((p[k].a == lo && p[k].b == hi) || (p[k].a == hi && p[k].b == lo)))
			;
		if (k == OAT_NONE) {
			GROW(p, cap, n);
			memset(&p[n], 0, sizeof(p[n]));
			p[n].a = e->client;
			p[n].b = e->server;
			k = (uint32_t)n++;
			oat_insert(&pairs, hash, k);
		}
		struct cls_lat m = *l;
		if (p[k].a != e->client) { /* the other way round: the sides swap */
			uint8_t h = m.hops[0];
			m.hops[0] = m.hops[1];
			m.hops[1] = h;
			m.hops_seen = (uint8_t)((m.hops_seen & 1) << 1 | (m.hops_seen >> 1 & 1));
		}
		cls_lat_merge(&p[k].lat, &m);
	}
	oat_free(&pairs);
	for (size_t k = 0; k < n; k++) {
		p[k].slow = p[k].lat.n && cls_lat_quantile(&p[k].lat, 0.95) > *limit_us;
		p[k].routed = ((p[k].lat.hops_seen & 1) && p[k].lat.hops[0]) || ((p[k].lat.hops_seen & 2) && p[k].lat.hops[1]);
	}
	*out = p;
	return n;
}

size_t cls_incomplete_rows(const struct cls *c)
{
	return c->incomplete;
}
