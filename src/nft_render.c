/* nft_render.c: `flowaudit nft render`: a table that accepts exactly a host's expected paths, built
 * once as a list of rules and written from it either as text for `nft -f` or as libnftnl objects sent
 * in one netlink batch (one transaction: all of it or nothing). The table is replaced whole: the batch
 * (and the text) adds it, deletes it and adds it again, so a second run leaves no stale rule. */
#include "flowaudit/nft_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowaudit/nft_build.h"
#include "flowaudit/util.h"

enum { CH_INPUT, CH_OUTPUT, CH_FORWARD, NCHAINS };
static const char *const chain_names[NCHAINS] = {"input", "output", "forward"};
static const int chain_hooks[NCHAINS] = {NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_FORWARD};

/* One rule of the table: what it matches. */
enum rkind { R_ESTABLISHED, R_LOOPBACK, R_ND, R_PATH };
struct rrule {
	int chain;
	enum rkind kind;
	int family;             /* R_PATH: AF_INET or AF_INET6 */
	uint8_t saddr[16], daddr[16];
	int sbits, dbits;
	uint8_t proto;
	uint16_t port;
	const char *comment;
};

struct plan {
	struct rrule *r;
	size_t n, cap;
};

static void add(struct plan *p, struct rrule r)
{
	GROW(p->r, p->cap, p->n);
	p->r[p->n++] = r;
}

static void end_of(const struct site_addr *sa, int *family, uint8_t out[16], int *bits)
{
	bool v4 = addr_is_v4(sa->a);
	*family = v4 ? AF_INET : AF_INET6;
	memset(out, 0, 16);
	memcpy(out, v4 ? sa->a + 12 : sa->a, v4 ? 4 : 16);
	*bits = v4 ? sa->plen - 96 : sa->plen;
}

static void add_paths(struct plan *p, const struct graph *g, const struct graph_edge *e, int chain)
{
	const struct site_host *ch = &g->site->hosts[e->client], *sh = &g->site->hosts[e->server];
	for (size_t a = 0; a < ch->naddrs; a++)
		for (size_t b = 0; b < sh->naddrs; b++) {
			struct rrule r = {.chain = chain, .kind = R_PATH, .proto = e->proto, .port = e->port,
					  .comment = g->rules->edges[e->rule].requirement};
			int fb;
			end_of(&ch->addrs[a], &r.family, r.saddr, &r.sbits);
			end_of(&sh->addrs[b], &fb, r.daddr, &r.dbits);
			if (fb == r.family)
				add(p, r);
		}
}

/* A router's table without a host has its forward chain only: input and output of policy drop would
 * cut the router off from everything but the site's paths. */
static bool chain_wanted(int c, int host, const struct nft_render_opts *o)
{
	return c == CH_FORWARD ? o->router : host >= 0;
}

static void plan_build(struct plan *p, const struct graph *g, int host, const struct nft_render_opts *o)
{
	for (int c = 0; c < NCHAINS; c++) {
		if (!chain_wanted(c, host, o))
			continue;
		add(p, (struct rrule){.chain = c, .kind = R_ESTABLISHED});
		if (c != CH_FORWARD) {
			add(p, (struct rrule){.chain = c, .kind = R_LOOPBACK});
			add(p, (struct rrule){.chain = c, .kind = R_ND});
		}
	}
	for (size_t i = 0; i < g->nedges; i++) {
		const struct graph_edge *e = &g->edges[i];
		if (e->level == LEVEL_FORBID || e->client < 0 || e->server < 0)
			continue;
		if (e->server == host)
			add_paths(p, g, e, CH_INPUT);
		if (e->client == host)
			add_paths(p, g, e, CH_OUTPUT);
		if (o->router && (host < 0 || (e->client != host && e->server != host)))
			add_paths(p, g, e, CH_FORWARD);
	}
}

/* --- as text --- */

static void text_addr(FILE *out, const char *what, int family, const uint8_t *a, int bits)
{
	char buf[INET6_ADDRSTRLEN];
	inet_ntop(family, a, buf, sizeof(buf));
	fprintf(out, "%s %s %s", family == AF_INET ? "ip" : "ip6", what, buf);
	if (bits != (family == AF_INET ? 32 : 128))
		fprintf(out, "/%d", bits);
	fputc(' ', out);
}

static void text_comment(FILE *out, const char *s)
{
	fputs(" comment \"", out);
	for (size_t n = 0; *s && n < 120; s++)
		if (*s != '"' && (unsigned char)*s >= 0x20)
			fputc(*s, out), n++;
	fputc('"', out);
}

int nft_render_text(FILE *out, const struct graph *g, int host, const struct nft_render_opts *o)
{
	struct plan p = {0};
	plan_build(&p, g, host, o);
	fprintf(out, "# flowaudit: the expected paths of %s; replaces the table whole\n",
		host >= 0 ? g->site->hosts[host].name : "every host");
	fprintf(out, "table %s %s\ndelete table %s %s\ntable %s %s {\n", o->family, o->table, o->family, o->table, o->family,
		o->table);
	for (int c = 0; c < NCHAINS; c++) {
		if (!chain_wanted(c, host, o))
			continue;
		fprintf(out, "\tchain %s {\n\t\ttype filter hook %s priority filter; policy drop;\n", chain_names[c],
			chain_names[c]);
		for (size_t i = 0; i < p.n; i++) {
			const struct rrule *r = &p.r[i];
			if (r->chain != c)
				continue;
			fputs("\t\t", out);
			switch (r->kind) {
			case R_ESTABLISHED: fputs("ct state established,related accept", out); break;
			case R_LOOPBACK: fprintf(out, "%s \"lo\" accept", c == CH_INPUT ? "iifname" : "oifname"); break;
			case R_ND: fputs("icmpv6 type 133-136 accept", out); break;
			case R_PATH:
				text_addr(out, "saddr", r->family, r->saddr, r->sbits);
				text_addr(out, "daddr", r->family, r->daddr, r->dbits);
				fprintf(out, "%s dport %u counter accept", r->proto == IPPROTO_TCP ? "tcp" : "udp", r->port);
				text_comment(out, r->comment);
				break;
			}
			fputc('\n', out);
		}
		fputs("\t}\n", out);
	}
	fputs("}\n", out);
	free(p.r);
	return ferror(out) ? -1 : 0;
}

/* --- as libnftnl objects --- */

static void x_u8(struct nftnl_rule *r, uint32_t meta_key, uint8_t v)
{
	nft_x_meta(r, meta_key, NFT_REG_1);
	nft_x_cmp(r, NFT_CMP_EQ, &v, 1);
}

static void x_addr(struct nftnl_rule *r, int family, uint32_t off, const uint8_t *a, int bits)
{
	uint32_t len = family == AF_INET ? 4 : 16;
	nft_x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, len, NFT_REG_1);
	if (bits == (int)len * 8) {
		nft_x_cmp(r, NFT_CMP_EQ, a, len);
		return;
	}
	uint8_t mask[16] = {0}, net[16] = {0};
	for (int b = 0; b < bits; b++)
		mask[b / 8] |= (uint8_t)(0x80 >> (b % 8));
	for (uint32_t i = 0; i < len; i++)
		net[i] = a[i] & mask[i];
	nft_x_mask(r, mask, len);
	nft_x_cmp(r, NFT_CMP_EQ, net, len);
}

/* The same expressions nft generates for each rule's text above, dependencies included, so that the
 * applied table lists as the text. */
static struct nftnl_rule *rule_obj(const struct rrule *x, const struct nft_render_opts *o, int family)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r)
		oom();
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)family);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, o->table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain_names[x->chain]);
	bool inet = family == NFPROTO_INET;
	switch (x->kind) {
	case R_ESTABLISHED: {
		nft_x_ct(r, NFT_CT_STATE, NFT_REG_1);
		uint32_t mask = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED), zero = 0;
		nft_x_mask(r, &mask, 4);
		nft_x_cmp(r, NFT_CMP_NEQ, &zero, 4);
		break;
	}
	case R_LOOPBACK: {
		char name[IFNAMSIZ] = "lo";
		nft_x_meta(r, x->chain == CH_INPUT ? NFT_META_IIFNAME : NFT_META_OIFNAME, NFT_REG_1);
		nft_x_cmp(r, NFT_CMP_EQ, name, sizeof(name));
		break;
	}
	case R_ND: {
		uint8_t lo = 133, hi = 136;
		if (inet)
			x_u8(r, NFT_META_NFPROTO, NFPROTO_IPV6);
		x_u8(r, NFT_META_L4PROTO, IPPROTO_ICMPV6);
		nft_x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
		struct nftnl_expr *e = nft_x_new("range");
		nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_OP, NFT_RANGE_EQ);
		nftnl_expr_set(e, NFTNL_EXPR_RANGE_FROM_DATA, &lo, 1);
		nftnl_expr_set(e, NFTNL_EXPR_RANGE_TO_DATA, &hi, 1);
		nftnl_rule_add_expr(r, e);
		break;
	}
	case R_PATH: {
		bool v4 = x->family == AF_INET;
		if (inet)
			x_u8(r, NFT_META_NFPROTO, v4 ? NFPROTO_IPV4 : NFPROTO_IPV6);
		x_addr(r, x->family, v4 ? 12 : 8, x->saddr, x->sbits);
		x_addr(r, x->family, v4 ? 16 : 24, x->daddr, x->dbits);
		x_u8(r, NFT_META_L4PROTO, x->proto);
		uint16_t port = htons(x->port);
		nft_x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
		nft_x_cmp(r, NFT_CMP_EQ, &port, 2);
		nftnl_rule_add_expr(r, nft_x_new("counter"));
		struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
		if (!u)
			oom();
		/* as the text writes it: no quotes or control bytes, at most 120 bytes */
		char *c = xmalloc(121);
		size_t n = 0;
		for (const char *s = x->comment; *s && n < 120; s++)
			if (*s != '"' && (unsigned char)*s >= 0x20)
				c[n++] = *s;
		c[n] = 0;
		nftnl_udata_put_strz(u, NFTNL_UDATA_RULE_COMMENT, c);
		nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u));
		nftnl_udata_buf_free(u);
		free(c);
		break;
	}
	}
	nft_x_verdict(r, NF_ACCEPT, NULL);
	return r;
}

static int family_code(const char *f)
{
	return !strcmp(f, "inet") ? NFPROTO_INET : !strcmp(f, "ip") ? NFPROTO_IPV4 : !strcmp(f, "ip6") ? NFPROTO_IPV6 : -1;
}

struct batch {
	struct mnl_nlmsg_batch *b;
	uint32_t seq;
	unsigned acks;
};

static struct nlmsghdr *msg(struct batch *b, uint16_t type, int family, uint16_t flags)
{
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b->b), type, (uint16_t)family,
						     flags | NLM_F_ACK, b->seq++);
	b->acks++;
	return nlh;
}

static struct nftnl_table *table_obj(int family, const char *name)
{
	struct nftnl_table *t = nftnl_table_alloc();
	if (!t)
		oom();
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, (uint32_t)family);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	return t;
}

int nft_render_apply(const struct graph *g, int host, const struct nft_render_opts *o, struct diag *d)
{
	int family = family_code(o->family);
	if (family < 0) {
		diag_add(d, NULL, "nft render: family '%s' is not inet, ip or ip6", o->family);
		return -1;
	}
	struct plan p = {0};
	plan_build(&p, g, host, o);
	size_t size = (p.n + 16) * 2048;
	char *buf = xmalloc(size);
	struct batch b = {.b = mnl_nlmsg_batch_start(buf, size), .seq = (uint32_t)time(NULL)};
	nftnl_batch_begin(mnl_nlmsg_batch_current(b.b), b.seq++);
	mnl_nlmsg_batch_next(b.b);
	/* add, delete, add: replaces a table left by an earlier run, and needs none to exist */
	static const uint16_t table_ops[3] = {NFT_MSG_NEWTABLE, NFT_MSG_DELTABLE, NFT_MSG_NEWTABLE};
	for (int i = 0; i < 3; i++) {
		struct nftnl_table *t = table_obj(family, o->table);
		nftnl_table_nlmsg_build_payload(msg(&b, table_ops[i], family, table_ops[i] == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0), t);
		nftnl_table_free(t);
		mnl_nlmsg_batch_next(b.b);
	}
	for (int c = 0; c < NCHAINS; c++) {
		if (!chain_wanted(c, host, o))
			continue;
		struct nftnl_chain *ch = nftnl_chain_alloc();
		if (!ch)
			oom();
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, (uint32_t)family);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, o->table);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, chain_names[c]);
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, (uint32_t)chain_hooks[c]);
		nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, 0);
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_DROP);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_nlmsg_build_payload(msg(&b, NFT_MSG_NEWCHAIN, family, NLM_F_CREATE), ch);
		nftnl_chain_free(ch);
		mnl_nlmsg_batch_next(b.b);
	}
	for (size_t i = 0; i < p.n; i++) {
		struct nftnl_rule *r = rule_obj(&p.r[i], o, family);
		nftnl_rule_nlmsg_build_payload(msg(&b, NFT_MSG_NEWRULE, family, NLM_F_CREATE | NLM_F_APPEND), r);
		nftnl_rule_free(r);
		mnl_nlmsg_batch_next(b.b);
	}
	nftnl_batch_end(mnl_nlmsg_batch_current(b.b), b.seq++);
	mnl_nlmsg_batch_next(b.b);
	free(p.r);

	int rc = -1;
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		diag_add(d, NULL, "cannot talk to nf_tables over netlink: %s", strerror(errno));
	} else if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b.b), mnl_nlmsg_batch_size(b.b)) < 0) {
		diag_add(d, NULL, "cannot send the ruleset to nf_tables: %s", strerror(errno));
	} else {
		char rbuf[MNL_SOCKET_BUFFER_SIZE];
		rc = 0;
		for (unsigned got = 0; got < b.acks && rc == 0;) {
			ssize_t n = mnl_socket_recvfrom(nl, rbuf, sizeof(rbuf));
			if (n <= 0) {
				rc = -1;
				break;
			}
			int left = (int)n;
			for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
				got++;
				if (h->nlmsg_type == NLMSG_ERROR) {
					const struct nlmsgerr *err = mnl_nlmsg_get_payload(h);
					if (err->error) {
						errno = -err->error;
						rc = -1;
						break;
					}
				}
			}
		}
		if (rc < 0)
			diag_add(d, NULL, "nf_tables refused the table %s %s (nothing was changed): %s%s", o->family, o->table,
				 strerror(errno), errno == EPERM ? " (changing it needs CAP_NET_ADMIN: run as root)" : "");
	}
	if (nl)
		mnl_socket_close(nl);
	mnl_nlmsg_batch_stop(b.b);
	free(buf);
	return rc;
}
