/* nft_check.c: `flowaudit nft check`: every expected path of the site that this network namespace
 * sees, its first packet walked through the live ruleset, and the rule (or policy) that decides it. */
#include "flowaudit/nft_check.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/hash.h"
#include "flowaudit/util.h"

#define CLIENT_PORT 50000 /* an ephemeral port, as Linux picks them (32768-60999) */

struct one_key {
	uint8_t client[16], server[16];
	uint16_t port;
	uint8_t proto, pad;
};

struct one {
	struct one_key key;
	char *sentence;         /* NULL: not seen here */
	UT_hash_handle hh;
};

struct nft_check {
	struct one *ones;       /* nft_check_one()'s answers */
	struct nft_ruleset *rs;
	struct nft_routes *routes;
	struct nft_text *text;
	const struct graph *g;
	struct nft_check_path *paths;
	size_t npaths, cap_paths;
	size_t not_here;        /* paths whose first packet never crosses this namespace */
};

struct nft_check *nft_check_open(struct diag *d)
{
	struct nft_check *c = xcalloc(1, sizeof(*c));
	if (!(c->rs = nft_rs_dump(d)) || !(c->routes = nft_routes_open(d)) || !(c->text = nft_text_read(d))) {
		nft_check_free(c);
		return NULL;
	}
	return c;
}

void nft_check_free(struct nft_check *c)
{
	if (!c)
		return;
	nft_rs_free(c->rs);
	nft_routes_close(c->routes);
	nft_text_free(c->text);
	struct one *o, *tmp;
	HASH_ITER(hh, c->ones, o, tmp) {
		HASH_DEL(c->ones, o);
		free(o->sentence);
		free(o);
	}
	free(c->paths);
	free(c);
}

/* One address to stand for a site address: itself; for a prefix, this namespace's own address in it
 * if it has one, else the prefix's first host address. */
static void pick(struct nft_check *c, const struct site_addr *sa, int *family, uint8_t out[16])
{
	bool v4 = addr_is_v4(sa->a);
	size_t len = v4 ? 4 : 16;
	int bits = v4 ? sa->plen - 96 : sa->plen;
	*family = v4 ? AF_INET : AF_INET6;
	memset(out, 0, 16);
	memcpy(out, v4 ? sa->a + 12 : sa->a, len);
	if (bits == (int)len * 8 || nft_route_local_in(c->routes, *family, out, bits, out))
		return;
	if (bits < (int)len * 8 - 1)
		out[len - 1] |= 1; /* the network address itself is no host's */
}

static void set_pkt(struct nft_pkt *p, int family, const uint8_t *client, const uint8_t *server, uint8_t proto,
		    uint16_t port)
{
	memset(p, 0, sizeof(*p));
	p->family = family;
	p->l4proto = proto;
	memcpy(p->saddr, client, family == AF_INET ? 4 : 16);
	memcpy(p->daddr, server, family == AF_INET ? 4 : 16);
	p->sport = CLIENT_PORT;
	p->dport = port;
}

int nft_check_paths(struct nft_check *c, const struct graph *g, int host, struct diag *d)
{
	c->g = g;
	const struct site *s = g->site;
	for (size_t i = 0; i < g->nedges; i++) {
		const struct graph_edge *e = &g->edges[i];
		if (e->level == LEVEL_FORBID || e->client < 0 || e->server < 0 ||
		    (host >= 0 && e->client != host && e->server != host))
			continue;
		const struct site_host *ch = &s->hosts[e->client], *sh = &s->hosts[e->server];
		for (size_t a = 0; a < ch->naddrs; a++)
			for (size_t b = 0; b < sh->naddrs; b++) {
				int fa, fb;
				uint8_t ca[16], sa[16];
				pick(c, &ch->addrs[a], &fa, ca);
				pick(c, &sh->addrs[b], &fb, sa);
				if (fa != fb)
					continue;
				struct nft_check_path p = {.edge = (int)i};
				set_pkt(&p.pkt, fa, ca, sa, e->proto, e->port);
				int rc = nft_route_packet(c->routes, &p.pkt, d);
				if (rc < 0)
					return -1;
				if (rc > 0) {
					c->not_here++;
					continue;
				}
				nft_eval(c->rs, &p.pkt, &p.res);
				GROW(c->paths, c->cap_paths, c->npaths);
				c->paths[c->npaths++] = p;
			}
	}
	return 0;
}

int nft_check_status(const struct nft_check *c)
{
	for (size_t i = 0; i < c->npaths; i++)
		if (c->g->edges[c->paths[i].edge].level == LEVEL_REQUIRED && c->paths[i].res.verdict != NFT_V_ACCEPT)
			return 1;
	return 0;
}

static const char *addr_text(int family, const uint8_t *a, char buf[INET6_ADDRSTRLEN])
{
	return inet_ntop(family, a, buf, INET6_ADDRSTRLEN);
}

/* "inet filter forward handle 12", or "inet filter forward policy drop". */
static char *where_text(const struct nft_result *r)
{
	if (r->rule.handle)
		return xasprintf("%s %s %s handle %" PRIu64, nft_family_name(r->rule.family), r->rule.table, r->rule.chain,
				 r->rule.handle);
	return xasprintf("%s %s %s policy %s", nft_family_name(r->rule.family), r->rule.table, r->rule.chain,
			 r->policy == NF_DROP ? "drop" : "accept");
}

static void json_str(FILE *out, const char *s)
{
	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_TCP ? "tcp" : "udp";
}

static void print_json_path(FILE *out, const struct nft_check *c, const struct nft_check_path *p)
{
	const struct graph *g = c->g;
	const struct graph_edge *e = &g->edges[p->edge];
	const struct nft_result *r = &p->res;
	char ca[INET6_ADDRSTRLEN], sa[INET6_ADDRSTRLEN];
	fputs("    {\"requirement\": ", out);
	json_str(out, g->rules->edges[e->rule].requirement);
	fputs(", \"level\": ", out);
	json_str(out, rules_level_name(e->level));
	fputs(", \"client\": ", out);
	json_str(out, graph_end_name(g, e->client));
	fputs(", \"server\": ", out);
	json_str(out, graph_end_name(g, e->server));
	fprintf(out, ", \"client_addr\": \"%s\", \"server_addr\": \"%s\", \"proto\": \"%s\", \"port\": %u, \"hook\": \"%s\", "
		     "\"iif\": ",
		addr_text(p->pkt.family, p->pkt.saddr, ca), addr_text(p->pkt.family, p->pkt.daddr, sa),
		proto_name(e->proto), e->port, nft_path_name(p->pkt.path));
	json_str(out, p->pkt.iif[0] ? p->pkt.iif : NULL);
	fputs(", \"oif\": ", out);
	json_str(out, p->pkt.oif[0] ? p->pkt.oif : NULL);
	fprintf(out, ", \"verdict\": \"%s\", \"rule\": ", nft_verdict_name(r->verdict));
	if (!r->has_rule) {
		fputs("null, \"text\": null, \"comment\": null", out);
	} else {
		fprintf(out, "{\"family\": \"%s\", \"table\": ", nft_family_name(r->rule.family));
		json_str(out, r->rule.table);
		fputs(", \"chain\": ", out);
		json_str(out, r->rule.chain);
		if (r->rule.handle)
			fprintf(out, ", \"handle\": %" PRIu64 "}", r->rule.handle);
		else
			fprintf(out, ", \"policy\": \"%s\"}", r->policy == NF_DROP ? "drop" : "accept");
		fputs(", \"text\": ", out);
		json_str(out, nft_text_of(c->text, &r->rule));
		const char *cm = nft_rule_comment(c->rs, &r->rule);
		fputs(", \"comment\": ", out);
		json_str(out, *cm ? cm : NULL);
	}
	if (r->verdict == NFT_V_REJECT) {
		fputs(", \"reject_with\": ", out);
		json_str(out, r->reject);
	}
	if (r->verdict == NFT_V_UNDECIDED) {
		fputs(", \"why\": ", out);
		json_str(out, r->why);
	}
	fputs(", \"chains\": [", out);
	for (size_t i = 0; i < r->nmet; i++) {
		const struct nft_chain_met *m = &r->met[i];
		fprintf(out, "%s{\"family\": \"%s\", \"table\": ", i ? ", " : "", nft_family_name(m->chain.family));
		json_str(out, m->chain.table);
		fputs(", \"chain\": ", out);
		json_str(out, m->chain.chain);
		fprintf(out, ", \"hook\": \"%s\", \"priority\": %d, \"verdict\": \"%s\"}", nft_hook_name(m->hook), m->prio,
			nft_verdict_name(m->verdict));
	}
	fputs("]}", out);
}

static void print_text_path(FILE *out, const struct nft_check *c, const struct nft_check_path *p)
{
	const struct graph *g = c->g;
	const struct graph_edge *e = &g->edges[p->edge];
	const struct nft_result *r = &p->res;
	char ca[INET6_ADDRSTRLEN], sa[INET6_ADDRSTRLEN];
	fprintf(out, "%-9s %s -> %s %s/%u (%s, %s -> %s) %s: %s", nft_verdict_name(r->verdict), graph_end_name(g, e->client),
		graph_end_name(g, e->server), proto_name(e->proto), e->port, g->rules->edges[e->rule].requirement,
		addr_text(p->pkt.family, p->pkt.saddr, ca), addr_text(p->pkt.family, p->pkt.daddr, sa),
		nft_path_name(p->pkt.path), r->has_rule ? "" : "no base chain on the hook");
	if (r->has_rule) {
		char *w = where_text(r);
		const char *t = nft_text_of(c->text, &r->rule);
		fprintf(out, "%s", w);
		if (r->rule.handle && t)
			fprintf(out, ": %s", t);
		free(w);
	}
	if (r->verdict == NFT_V_REJECT && !(r->rule.handle && nft_text_of(c->text, &r->rule)))
		fprintf(out, " (with %s)", r->reject);
	if (r->verdict == NFT_V_UNDECIDED)
		fprintf(out, " (%s)", r->why);
	fputc('\n', out);
}

int nft_check_print(FILE *out, const struct nft_check *c, bool json)
{
	size_t n[4] = {0};
	for (size_t i = 0; i < c->npaths; i++)
		n[c->paths[i].res.verdict]++;
	if (json) {
		fputs("{\n  \"tool\": \"flowaudit\",\n  \"paths\": [\n", out);
		for (size_t i = 0; i < c->npaths; i++) {
			print_json_path(out, c, &c->paths[i]);
			fputs(i + 1 < c->npaths ? ",\n" : "\n", out);
		}
		fprintf(out, "  ],\n  \"summary\": {\"paths\": %zu, \"accept\": %zu, \"drop\": %zu, \"reject\": %zu, "
			     "\"undecided\": %zu, \"not_here\": %zu}\n}\n",
			c->npaths, n[NFT_V_ACCEPT], n[NFT_V_DROP], n[NFT_V_REJECT], n[NFT_V_UNDECIDED], c->not_here);
	} else {
		for (size_t i = 0; i < c->npaths; i++)
			print_text_path(out, c, &c->paths[i]);
		fprintf(out, "%zu paths cross this namespace: %zu accepted, %zu dropped, %zu rejected, %zu undecided; "
			     "%zu do not cross it\n",
			c->npaths, n[NFT_V_ACCEPT], n[NFT_V_DROP], n[NFT_V_REJECT], n[NFT_V_UNDECIDED], c->not_here);
	}
	return ferror(out) ? -1 : 0;
}

static char *one(struct nft_check *c, const uint8_t client[16], const uint8_t server[16], uint8_t proto, uint16_t port)
{
	bool v4 = addr_is_v4(client);
	if (v4 != addr_is_v4(server))
		return NULL;
	struct nft_pkt p;
	struct diag d;
	diag_init(&d);
	set_pkt(&p, v4 ? AF_INET : AF_INET6, v4 ? client + 12 : client, v4 ? server + 12 : server, proto, port);
	int rc = nft_route_packet(c->routes, &p, &d);
	diag_free(&d);
	if (rc != 0)
		return NULL;
	struct nft_result r;
	nft_eval(c->rs, &p, &r);
	if (!r.has_rule)
		return xasprintf("accepted here (%s: no base chain on the hook): the block is elsewhere", nft_path_name(p.path));
	char *w = where_text(&r), *s;
	const char *t = r.rule.handle ? nft_text_of(c->text, &r.rule) : NULL;
	char *quoted = t ? xasprintf(" `%s`", t) : xstrdup("");
	switch (r.verdict) {
	case NFT_V_ACCEPT: s = xasprintf("accepted here (%s%s): the block is elsewhere", w, quoted); break;
	case NFT_V_DROP: s = xasprintf("dropped here: %s%s", w, quoted); break;
	case NFT_V_REJECT: s = xasprintf("rejected here with %s: %s%s", r.reject, w, quoted); break;
	default: s = xasprintf("undecided here at %s%s: %s", w, quoted, r.why); break;
	}
	free(w);
	free(quoted);
	return s;
}

const char *nft_check_one(struct nft_check *c, const uint8_t client[16], const uint8_t server[16], uint8_t proto,
			  uint16_t port)
{
	struct one_key k;
	memset(&k, 0, sizeof(k));
	memcpy(k.client, client, 16);
	memcpy(k.server, server, 16);
	k.port = port;
	k.proto = proto;
	struct one *o;
	HASH_FIND(hh, c->ones, &k, sizeof(k), o);
	if (!o) {
		o = xcalloc(1, sizeof(*o));
		o->key = k;
		o->sentence = one(c, client, server, proto, port);
		HASH_ADD(hh, c->ones, key, sizeof(k), o);
	}
	return o->sentence;
}
