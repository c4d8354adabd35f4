/* report.c: the registry of report formats and what they share: address pairs of an expected edge. */
#include "flowaudit/report.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowaudit/hash.h"
#include "flowaudit/oatable.h"
#include "flowaudit/util.h"

static const struct rep_format *const formats[] = {&rep_text, &rep_json, &rep_dot, &rep_html};

const struct rep_format *rep_find(const char *name)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(formats[i]->name, name) == 0)
			return formats[i];
	return NULL;
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

const char *rep_unexp_addr(const struct graph *g, const struct cls_unexpected *u, bool server, char buf[50])
{
	const uint8_t *a = server ? u->server : u->client;
	int host = server ? u->server_host : u->client_host;
	if (u->folded && host >= 0 && g->site->hosts[host].naddrs)
		return site_addr_str(&g->site->hosts[host].addrs[0], buf);
	if ((!server && u->client_any) || (u->folded && host < 0))
		return strcpy(buf, addr_is_v4(a) ? "0.0.0.0/0" : "::/0");
	return addr_str(a, buf);
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
	char port[16];
	snprintf(port, sizeof(port), "%s/%u", rules_proto_name(u->proto), u->port);
	return rep_why_ports(g, u, port, 1);
}

char *rep_why_ports(const struct graph *g, const struct cls_unexpected *u, const char *port, size_t nports)
{
	bool many = nports > 1;
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
		why = xasprintf("wrong direction: %s is expected from %s to %s (\"%s\"), not the reverse", port, sr, cr,
				g->rules->edges[g->edges[u->why_ref].rule].requirement);
		break;
	case CLS_WHY_OTHER_HOSTS:
		/* Name the requirement that uses this port, so the reader sees what was probably meant. */
		rw = rule_words(g, u->why_ref);
		why = xasprintf("%s %s the port%s of %s, but no path of this site expects %s from %s to %s", port,
				many ? "are" : "is", many ? "s" : "", rw, many ? "them" : "it", cr, sr);
		free(rw);
		break;
	case CLS_WHY_PORT_ELSEWHERE:
		why = xasprintf("no rule allows %s from %s to %s (the site uses the port%s elsewhere)", port, cr, sr,
				many ? "s" : "");
		break;
	default:
		why = xasprintf("%s %s PeerGFS port%s and no rule allows %s from %s to %s", port,
				many ? "are not" : "is not a", many ? "s" : "", many ? "them" : "it", cr, sr);
		break;
	}
	free(cr);
	free(sr);
	return why;
}

/* The words of a reason, made once per (client host, server host, proto, port, reason): a report of a
 * million unexpected rows has a few thousand of them. */
struct why_key {
	int32_t ch, sh, ref;
	uint16_t port;
	uint8_t proto, why;
};

struct rep_whys {
	struct oat ix;
	struct why_key *keys;
	char **words;
	size_t n, cap;
};

struct rep_whys *rep_whys_new(void)
{
	struct rep_whys *w = xcalloc(1, sizeof(*w));
	oat_init(&w->ix, 0, 0);
	return w;
}

void rep_whys_free(struct rep_whys *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		free(w->words[i]);
	free(w->words);
	free(w->keys);
	oat_free(&w->ix);
	free(w);
}

const char *rep_why_of(struct rep_whys *w, const struct graph *g, const struct cls_unexpected *u)
{
	struct why_key k;
	memset(&k, 0, sizeof(k));
	k.ch = u->client_host;
	k.sh = u->server_host;
	k.ref = u->why_ref;
	k.port = u->port;
	k.proto = u->proto;
	k.why = u->why;
	uint32_t hash = fa_hash(w->ix.seed, &k, sizeof(k)), i;
	size_t pos = oat_home(&w->ix, hash);
	while ((i = oat_next(&w->ix, hash, &pos)) != OAT_NONE)
		if (!memcmp(&w->keys[i], &k, sizeof(k)))
			return w->words[i];
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->keys = xrealloc(w->keys, w->cap * sizeof(*w->keys));
		w->words = xrealloc(w->words, w->cap * sizeof(*w->words));
	}
	w->keys[w->n] = k;
	w->words[w->n] = rep_why(g, u);
	oat_insert(&w->ix, hash, (uint32_t)w->n);
	return w->words[w->n++];
}

/* "41,220": counts a person reads at a glance. */
char *rep_place_words(const struct graph *g, const struct cls_place *p, uint32_t limit_us)
{
	char *s = NULL;
	size_t len = 0;
	const char *a = graph_end_name(g, p->a), *b = graph_end_name(g, p->b);
	str_append(&s, &len, "%s <-> %s: ", a, b);
	const struct cls_lat *l = &p->lat;
	if (l->n)
		str_append(&s, &len, "%u handshake%s, p50 %.2f ms, p95 %.2f ms, max %.2f ms%s", l->n, l->n == 1 ? "" : "s",
			   cls_lat_quantile(l, 0.5) / 1000.0, cls_lat_quantile(l, 0.95) / 1000.0, l->max_us / 1000.0,
			   p->slow ? "" : " (under the limit)");
	else
		str_append(&s, &len, "no handshake timed");
	if (p->slow)
		str_append(&s, &len, ": over the %.2f ms limit", limit_us / 1000.0);
	if ((l->hops_seen & 3) == 3)
		str_append(&s, &len, "; hops %u from %s, %u from %s", l->hops[0], a, l->hops[1], b);
	else if (l->hops_seen)
		str_append(&s, &len, "; hops %u from %s", l->hops[l->hops_seen & 1 ? 0 : 1], l->hops_seen & 1 ? a : b);
	str_append(&s, &len, "%s", p->routed ? ": routed, not on the same subnet" : l->hops_seen ? ": same subnet" : "");
	return s;
}

char *rep_app_words(const struct cls *c, const struct cls_row *r)
{
	const struct cls_app *a = &r->n.app;
	const struct cls_learnt *lt = cls_row_learnt(c, r);
	if (!a->flows && !lt)
		return NULL;
	char *s = NULL;
	size_t len = 0;
	if (lt) {
		const struct rules_learn *rl = rules_learn_of(c->g->rules, lt->program);
		char when[40];
		str_append(&s, &len, "%s (RPC %u): port learnt from the portmapper (%s/%u) at %s", rl ? rl->name : "program",
			   lt->program, rules_proto_name(lt->pm_proto), lt->pm_port, rep_clock(lt->at_ns, when));
		if (!a->flows)
			return s;
		str_append(&s, &len, "; ");
	}
	str_append(&s, &len, "%s %s", app_proto_name(a->proto), app_handshake_name(cls_app_handshake(a)));
	if (a->flows > 1)
		str_append(&s, &len, " over %u flows", a->flows);
	const struct app_state *ev = cls_row_app(c, r);
	struct app_fact f[8];
	size_t n = ev ? app_facts(ev, f, 8) : 0;
	for (size_t i = 0; i < n; i++)
		str_append(&s, &len, "%s%s %s", i ? ", " : ": ", f[i].key, f[i].value);
	return s;
}

const char *rep_firewall(const struct report *rp, const struct cls_row *r)
{
	if (!rp->firewall || (r->status != CLS_BLOCKED && r->status != CLS_DEGRADED))
		return NULL;
	return rp->firewall(rp->firewall_ctx, r);
}

const char *rep_clock(uint64_t ns, char buf[40])
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(buf, 40, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, 40, "%llu s", (unsigned long long)t);
	return buf;
}

const char *rep_count(uint64_t n, char buf[32])
{
	char tmp[32];
	int len = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)n), o = 0;
	for (int i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
	return buf;
}

static int rank(enum cls_status s)
{
	static const int r[CLS_NSTATUS] = {[CLS_BLOCKED] = 0, [CLS_DEGRADED] = 1, [CLS_MISSING] = 2, [CLS_UNVERIFIED] = 3,
					   [CLS_OK] = 4};
	return r[s];
}

/* Is row a before row b in report order? (the unexpected rows' order when rows is NULL) */
struct order {
	const struct cls *c;
	bool unexpected;
};

static int before(const struct order *o, size_t a, size_t b)
{
	if (o->unexpected)
		return cls_unexp_cmp(&o->c->unexp[a], &o->c->unexp[b]);
	return cls_row_cmp(o->c, &o->c->rows[a], &o->c->rows[b]);
}

/* Row `row` joins group gp: its counts, its place among the group's worst rows, and whether it is the
 * group's first row in report order. */
static void join(struct rep_group *gp, size_t row, enum cls_status st, enum cls_reason why, const struct cls_counts *n,
		 bool list_ok, const struct order *o)
{
	gp->nrows++;
	gp->by_status[st]++;
	gp->by_reason[why]++;
	gp->attempts += n->attempts;
	gp->established += n->established;
	gp->evicted += n->evicted;
	if (gp->nrows == 1 || before(o, row, gp->first) < 0)
		gp->first = row;
	if (rank(st) < rank(gp->worst_status) || gp->nrows == 1)
		gp->worst_status = st;
	if (st == CLS_OK && !list_ok)
		return;
	/* Insert by status, then by failed attempts, worst first, then in report order. */
	uint64_t failed = (uint64_t)n->resets + n->icmp_prohibited + n->icmp_unreachable + n->no_reply;
	size_t i = gp->nworst < REP_WORST ? gp->nworst++ : REP_WORST;
	while (i > 0) {
		int d = rank(gp->worst_st[i - 1]) - rank(st);
		if (!d)
			d = gp->worst_failed[i - 1] < failed ? 1 : gp->worst_failed[i - 1] > failed ? -1 : 0;
		if (!d)
			d = before(o, gp->worst[i - 1], row);
		if (d <= 0)
			break;
		if (i < REP_WORST) {
			gp->worst[i] = gp->worst[i - 1];
			gp->worst_st[i] = gp->worst_st[i - 1];
			gp->worst_failed[i] = gp->worst_failed[i - 1];
		}
		i--;
	}
	if (i < REP_WORST) {
		gp->worst[i] = row;
		gp->worst_st[i] = st;
		gp->worst_failed[i] = failed;
	}
}

static int cmp_items(const void *a, const void *b, void *order)
{
	return before(order, ((const struct rep_item *)a)->row, ((const struct rep_item *)b)->row);
}

/* What a report lists, in report order: the rows not grouped, and each group where its first row would be
 * (group_of: each row's group; NULL for the rows of paths, whose group is their edge). */
static struct rep_item *items(const struct order *o, size_t nrows, const struct rep_group *groups, const uint32_t *group_of,
			      bool by_address, size_t *n_out)
{
	struct rep_item *it = xcalloc(nrows + 1, sizeof(*it));
	size_t n = 0;
	const uint32_t *order = o->unexpected ? o->c->unexp_order : o->c->row_order;
	for (size_t k = 0; k < nrows; k++) {
		size_t i = order ? order[k] : k;
		uint32_t gi = group_of ? group_of[i] : (uint32_t)o->c->rows[i].edge; /* rows: a path is an edge */
		const struct rep_group *gp = &groups[gi];
		bool alone = !group_of && o->c->rows[i].learnt; /* a learnt port is not its path's port */
		if (by_address || alone || gp->nrows <= REP_GROUP_AFTER)
			it[n++] = (struct rep_item){.row = i, .group = REP_NO_GROUP};
		else if (gp->first == i)
			it[n++] = (struct rep_item){.row = i, .group = gi};
	}
	/* Rows of small paths and one per group: sorted here, by the rows they stand at, unless the rows came
	 * in report order. */
	if (!order)
		qsort_r(it, n, sizeof(*it), cmp_items, (void *)o);
	*n_out = n;
	return it;
}

struct ukey {
	int32_t ch, sh, ref;
	uint8_t proto, why, apart, any;
};

/* "tcp/8000-8499 (500 ports)", "tcp/3389", "tcp/139,445": the ports set in a bitmap of 65536. */
static char *ports_text(uint8_t proto, const uint64_t *bits, size_t *nports)
{
	size_t cap = 160, len = 0, ranges = 0, n = 0;
	char *s = xmalloc(cap);
	len += (size_t)snprintf(s, cap, "%s/", rules_proto_name(proto));
	bool more = false;
	for (unsigned p = 0; p < 65536;) {
		if (!bits[p >> 6]) {
			p = (p | 63) + 1;
			continue;
		}
		if (!(bits[p >> 6] >> (p & 63) & 1)) {
			p++;
			continue;
		}
		unsigned q = p;
		while (q + 1 < 65536 && bits[(q + 1) >> 6] >> ((q + 1) & 63) & 1)
			q++;
		n += q - p + 1;
		if (++ranges > 4 || len >= cap - 24) {
			more = true;
		} else {
			len += (size_t)snprintf(s + len, cap - len, "%s%u", ranges > 1 ? "," : "", p);
			if (q > p)
				len += (size_t)snprintf(s + len, cap - len, "-%u", q);
		}
		p = q + 1;
	}
	if (more)
		len += (size_t)snprintf(s + len, cap - len, ",...");
	if (n > 1)
		snprintf(s + len, cap - len, " (%zu ports)", n);
	*nports = n;
	return s;
}

void rep_groups_build(struct rep_groups *gr, const struct graph *g, const struct cls *c, bool by_address)
{
	memset(gr, 0, sizeof(*gr));
	struct order po = {c, false}, uo = {c, true};
	gr->path = xcalloc(g->nedges + 1, sizeof(*gr->path));
	for (size_t i = 0; i < c->nrows; i++) {
		const struct cls_row *r = &c->rows[i];
		if (!r->learnt)
			join(&gr->path[r->edge], i, r->status, r->reason, &r->n, false, &po);
	}
	gr->path_items = items(&po, c->nrows, gr->path, NULL, by_address, &gr->npath_items);
	/* Unexpected rows: one group per (client host, server host, proto, reason), whatever the port when the
	 * reason does not name a rule, so that a scan of a thousand ports is one line. */
	gr->unexp_group = xcalloc(c->nunexp + 1, sizeof(*gr->unexp_group));
	struct ukey *keys = NULL;
	size_t cap_keys = 0;
	struct oat ix;
	oat_init(&ix, 0, 0);
	for (size_t i = 0; i < c->nunexp; i++) {
		const struct cls_unexpected *u = &c->unexp[i];
		struct ukey k = {u->client_host, u->server_host, u->why_ref, u->proto, u->why, u->apart, u->client_any};
		uint32_t hash = fa_hash(ix.seed, &k, sizeof(k)), gi;
		size_t pos = oat_home(&ix, hash);
		while ((gi = oat_next(&ix, hash, &pos)) != OAT_NONE && memcmp(&keys[gi], &k, sizeof(k)))
			;
		if (gi == OAT_NONE) {
			GROW(keys, cap_keys, gr->nunexp_groups);
			keys[gr->nunexp_groups] = k;
			gi = (uint32_t)gr->nunexp_groups++;
			oat_insert(&ix, hash, gi);
			gr->unexp = grow(gr->unexp, &gr->cap_unexp, gi, sizeof(*gr->unexp));
			memset(&gr->unexp[gi], 0, sizeof(gr->unexp[gi]));
		}
		gr->unexp_group[i] = gi;
		join(&gr->unexp[gi], i, u->status, u->reason, &u->n, false, &uo);
	}
	oat_free(&ix);
	free(keys);
	gr->unexp_items = items(&uo, c->nunexp, gr->unexp, gr->unexp_group, by_address, &gr->nunexp_items);
	/* The ports of each group shown as one line: a bitmap each (only those groups are named by port). */
	gr->unexp_ports = xcalloc(gr->nunexp_groups + 1, sizeof(char *));
	uint64_t **bits = xcalloc(gr->nunexp_groups + 1, sizeof(*bits));
	for (size_t i = 0; i < c->nunexp; i++) {
		uint32_t gi = gr->unexp_group[i];
		if (by_address || gr->unexp[gi].nrows <= REP_GROUP_AFTER)
			continue;
		if (!bits[gi])
			bits[gi] = xcalloc(1024, sizeof(uint64_t));
		bits[gi][c->unexp[i].port >> 6] |= 1ull << (c->unexp[i].port & 63);
	}
	for (size_t gi = 0; gi < gr->nunexp_groups; gi++) {
		if (!bits[gi])
			continue;
		uint8_t proto = c->unexp[gr->unexp[gi].first].proto;
		gr->unexp_ports[gi] = ports_text(proto, bits[gi], &gr->unexp[gi].nports);
		free(bits[gi]);
	}
	free(bits);
}

void rep_groups_free(struct rep_groups *gr)
{
	for (size_t i = 0; i < gr->nunexp_groups; i++)
		free(gr->unexp_ports[i]);
	free(gr->unexp_ports);
	free(gr->path_items);
	free(gr->unexp_items);
	free(gr->path);
	free(gr->unexp);
	free(gr->unexp_group);
	memset(gr, 0, sizeof(*gr));
}

enum cls_reason rep_group_reason(const struct rep_group *gp)
{
	int best = CLS_R_NONE;
	for (int r = CLS_R_NO_REPLY; r < CLS_NREASONS; r++)
		if (gp->by_reason[r] > gp->by_reason[best] || (best == CLS_R_NONE && gp->by_reason[r]))
			best = r;
	return (enum cls_reason)best;
}

char *rep_group_counts(const struct rep_group *gp)
{
	static const enum cls_status order[] = {CLS_OK, CLS_DEGRADED, CLS_BLOCKED, CLS_UNVERIFIED, CLS_MISSING};
	char b[32], *s = NULL;
	size_t len = 0;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		size_t k = gp->by_status[order[i]];
		if (!k)
			continue;
		char *part = xasprintf("%s%s %s", s ? ", " : "", rep_count(k, b), cls_status_name(order[i]));
		s = xrealloc(s, len + strlen(part) + 1);
		strcpy(s + len, part);
		len += strlen(part);
		free(part);
	}
	size_t failed = 0;
	for (int r = CLS_R_NO_REPLY; r < CLS_NREASONS; r++)
		failed += gp->by_reason[r] != 0;
	if (failed) {
		char reasons[160] = "";
		size_t rl = 0;
		for (int r = CLS_R_NO_REPLY; r < CLS_NREASONS; r++)
			if (gp->by_reason[r])
				rl += (size_t)snprintf(reasons + rl, sizeof(reasons) - rl, "%s%s %s", rl ? ", " : "",
						       cls_reason_name((enum cls_reason)r), rep_count(gp->by_reason[r], b));
		char *t = xasprintf("%s (%s)", s, reasons);
		free(s);
		s = t;
	}
	return s;
}

char *rep_site_words(const struct report *rp)
{
	if (rp->inferred && rp->inferred->past_limit)
		return xasprintf("a site inferred from the capture (%zu hosts placed by %zu flows on the rule pack's ports, "
				 "%zu addresses left out, %zu flows of addresses past the limit not read; --write-site FILE "
				 "writes it for -s)",
				 rp->inferred->hosts, rp->inferred->flows, rp->inferred->left_out, rp->inferred->past_limit);
	if (rp->inferred)
		return xasprintf("a site inferred from the capture (%zu hosts placed by %zu flows on the rule pack's ports, "
				 "%zu addresses left out; --write-site FILE writes it for -s)",
				 rp->inferred->hosts, rp->inferred->flows, rp->inferred->left_out);
	return xstrdup(rp->site_path ? rp->site_path : "(no site)");
}
