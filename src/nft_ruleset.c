/* nft_ruleset.c: the kernel's nftables ruleset as libnftnl objects: tables, chains (with their rules in
 * order), sets with their elements. Read over netlink the way `nft list ruleset` does: one dump per
 * object type, all in one generation of the ruleset (NFT_MSG_GETGEN before and after; read again if a
 * change came in between). */
#include "flowaudit/nft_parts.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowaudit/util.h"

struct nft_ruleset *nft_rs_new(void)
{
	return xcalloc(1, sizeof(struct nft_ruleset));
}

void nft_rs_free(struct nft_ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->ntables; i++)
		nftnl_table_free(rs->tables[i].obj);
	for (size_t i = 0; i < rs->nchains; i++) {
		for (size_t j = 0; j < rs->chains[i].nrules; j++)
			nftnl_rule_free(rs->chains[i].rules[j]);
		free(rs->chains[i].rules);
		nftnl_chain_free(rs->chains[i].obj);
	}
	for (size_t i = 0; i < rs->nsets; i++) {
		free(rs->sets[i].elems);
		nftnl_set_free(rs->sets[i].obj);
	}
	free(rs->tables);
	free(rs->chains);
	free(rs->sets);
	free(rs);
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

void nft_rs_add_table(struct nft_ruleset *rs, struct nftnl_table *t)
{
	GROW(rs->tables, rs->cap_tables, rs->ntables);
	struct nft_rs_table *x = &rs->tables[rs->ntables++];
	x->obj = t;
	x->family = (int)nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY);
	x->name = str_or_empty(nftnl_table_get_str(t, NFTNL_TABLE_NAME));
	x->dormant = nftnl_table_is_set(t, NFTNL_TABLE_FLAGS) &&
		     (nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS) & NFT_TABLE_F_DORMANT);
}

void nft_rs_add_chain(struct nft_ruleset *rs, struct nftnl_chain *c)
{
	GROW(rs->chains, rs->cap_chains, rs->nchains);
	struct nft_rs_chain *x = &rs->chains[rs->nchains++];
	memset(x, 0, sizeof(*x));
	x->obj = c;
	x->family = (int)nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY);
	x->table = str_or_empty(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE));
	x->name = str_or_empty(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
	x->base = nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM);
	if (x->base) {
		x->hook = (int)nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);
		x->prio = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
		x->policy = nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY) ? nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY)
								     : NF_ACCEPT;
		x->type = str_or_empty(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE));
	}
}

static struct nft_rs_chain *chain_find(const struct nft_ruleset *rs, int family, const char *table, const char *name)
{
	for (size_t i = 0; i < rs->nchains; i++) {
		struct nft_rs_chain *c = &rs->chains[i];
		if (c->family == family && !strcmp(c->table, table) && !strcmp(c->name, name))
			return c;
	}
	return NULL;
}

const struct nft_rs_chain *nft_rs_chain(const struct nft_ruleset *rs, int family, const char *table, const char *name)
{
	return chain_find(rs, family, table, name);
}

void nft_rs_add_rule(struct nft_ruleset *rs, struct nftnl_rule *r)
{
	struct nft_rs_chain *c = chain_find(rs, (int)nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY),
					    str_or_empty(nftnl_rule_get_str(r, NFTNL_RULE_TABLE)),
					    str_or_empty(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN)));
	if (!c) { /* a rule of a chain not dumped: the ruleset changed, and the caller reads it again */
		nftnl_rule_free(r);
		return;
	}
	GROW(c->rules, c->cap_rules, c->nrules);
	c->rules[c->nrules++] = r;
}

static void copy_datum(uint8_t *to, const void *from, uint32_t len)
{
	memcpy(to, from, len < NFT_KEY_MAX ? len : NFT_KEY_MAX);
}

static int elem_cmp(const void *a, const void *b, void *klen)
{
	const struct nft_rs_elem *x = a, *y = b;
	int c = memcmp(x->key, y->key, *(uint32_t *)klen);
	/* An interval's end sorts before a start at the same key: [a, b) then [b, c) */
	return c ? c : (int)y->interval_end - (int)x->interval_end;
}

void nft_rs_add_set(struct nft_ruleset *rs, struct nftnl_set *s)
{
	GROW(rs->sets, rs->cap_sets, rs->nsets);
	struct nft_rs_set *x = &rs->sets[rs->nsets++];
	memset(x, 0, sizeof(*x));
	x->obj = s;
	x->family = (int)nftnl_set_get_u32(s, NFTNL_SET_FAMILY);
	x->table = str_or_empty(nftnl_set_get_str(s, NFTNL_SET_TABLE));
	x->name = str_or_empty(nftnl_set_get_str(s, NFTNL_SET_NAME));
	x->flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS);
	x->klen = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN);
	x->dlen = nftnl_set_is_set(s, NFTNL_SET_DATA_LEN) ? nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN) : 0;
	x->dtype = nftnl_set_is_set(s, NFTNL_SET_DATA_TYPE) ? nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE) : 0;
	if (x->klen > NFT_KEY_MAX)
		x->klen = NFT_KEY_MAX;
	uint32_t dl = 0;
	const uint8_t *fl = nftnl_set_is_set(s, NFTNL_SET_DESC_CONCAT) ? nftnl_set_get_data(s, NFTNL_SET_DESC_CONCAT, &dl) : NULL;
	for (uint32_t i = 0; fl && i < dl && i < sizeof(x->field_len) && fl[i]; i++)
		x->field_len[x->nfields++] = fl[i];
	size_t cap = 0;
	struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(s);
	for (struct nftnl_set_elem *e = it ? nftnl_set_elems_iter_next(it) : NULL; e; e = nftnl_set_elems_iter_next(it)) {
		GROW(x->elems, cap, x->nelems);
		struct nft_rs_elem *el = &x->elems[x->nelems++];
		memset(el, 0, sizeof(*el));
		uint32_t len = 0;
		const void *p;
		if ((p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len)))
			copy_datum(el->key, p, len);
		if ((p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY_END, &len))) {
			copy_datum(el->key_end, p, len);
			el->has_key_end = true;
		}
		if ((p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_FLAGS, &len)))
			el->interval_end = (*(const uint32_t *)p & NFT_SET_ELEM_INTERVAL_END) != 0;
		if ((p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &len))) {
			copy_datum(el->data, p, len);
			el->dlen = len;
		}
		if ((p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_VERDICT, &len)))
			el->verdict = *(const int32_t *)p;
		el->chain = nftnl_set_elem_get(e, NFTNL_SET_ELEM_CHAIN, &len);
	}
	if (it)
		nftnl_set_elems_iter_destroy(it);
	if ((x->flags & NFT_SET_INTERVAL) && x->nelems)
		qsort_r(x->elems, x->nelems, sizeof(*x->elems), elem_cmp, &x->klen);
}

const struct nft_rs_set *nft_rs_set(const struct nft_ruleset *rs, int family, const char *table, const char *name)
{
	for (size_t i = 0; i < rs->nsets; i++) {
		const struct nft_rs_set *s = &rs->sets[i];
		if (s->family == family && !strcmp(s->table, table) && !strcmp(s->name, name))
			return s;
	}
	return NULL;
}

bool nft_rs_table_dormant(const struct nft_ruleset *rs, int family, const char *table)
{
	for (size_t i = 0; i < rs->ntables; i++)
		if (rs->tables[i].family == family && !strcmp(rs->tables[i].name, table))
			return rs->tables[i].dormant;
	return false;
}

/* --- reading it from the kernel --- */

struct dump {
	struct mnl_socket *nl;
	uint32_t portid, seq;
	struct nft_ruleset *rs;
	struct nftnl_set *set; /* NFT_MSG_GETSETELEM: the set being filled */
	struct nftnl_set **sets; /* NFT_MSG_GETSET: the sets, their elements read next */
	size_t nsets, cap_sets;
	uint32_t gen;
};

static int on_table(const struct nlmsghdr *nlh, void *arg)
{
	struct dump *d = arg;
	struct nftnl_table *t = nftnl_table_alloc();
	if (!t)
		oom();
	if (nftnl_table_nlmsg_parse(nlh, t) < 0) {
		nftnl_table_free(t);
		return MNL_CB_ERROR;
	}
	nft_rs_add_table(d->rs, t);
	return MNL_CB_OK;
}

static int on_chain(const struct nlmsghdr *nlh, void *arg)
{
	struct dump *d = arg;
	struct nftnl_chain *c = nftnl_chain_alloc();
	if (!c)
		oom();
	if (nftnl_chain_nlmsg_parse(nlh, c) < 0) {
		nftnl_chain_free(c);
		return MNL_CB_ERROR;
	}
	nft_rs_add_chain(d->rs, c);
	return MNL_CB_OK;
}

static int on_rule(const struct nlmsghdr *nlh, void *arg)
{
	struct dump *d = arg;
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r)
		oom();
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0) {
		nftnl_rule_free(r);
		return MNL_CB_ERROR;
	}
	nft_rs_add_rule(d->rs, r);
	return MNL_CB_OK;
}

static int on_set(const struct nlmsghdr *nlh, void *arg)
{
	struct dump *d = arg;
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		oom();
	if (nftnl_set_nlmsg_parse(nlh, s) < 0) {
		nftnl_set_free(s);
		return MNL_CB_ERROR;
	}
	GROW(d->sets, d->cap_sets, d->nsets);
	d->sets[d->nsets++] = s;
	return MNL_CB_OK;
}

static int on_elems(const struct nlmsghdr *nlh, void *arg)
{
	struct dump *d = arg;
	return nftnl_set_elems_nlmsg_parse(nlh, d->set) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int on_gen(const struct nlmsghdr *nlh, void *arg)
{
	struct dump *d = arg;
	struct nftnl_gen *g = nftnl_gen_alloc();
	if (!g)
		oom();
	if (nftnl_gen_nlmsg_parse(nlh, g) < 0) {
		nftnl_gen_free(g);
		return MNL_CB_ERROR;
	}
	d->gen = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

/* One request and its answers. set: NFT_MSG_GETSETELEM of this set. */
static int ask(struct dump *d, uint16_t type, uint16_t flags, struct nftnl_set *set, mnl_cb_t cb)
{
	char *buf = xmalloc(MNL_SOCKET_BUFFER_SIZE);
	uint16_t family = set ? (uint16_t)nftnl_set_get_u32(set, NFTNL_SET_FAMILY) : NFPROTO_UNSPEC;
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, type, family, flags, ++d->seq);
	if (set) {
		nftnl_set_elems_nlmsg_build_payload(nlh, set);
		d->set = set;
	}
	int rc = 0;
	if (mnl_socket_sendto(d->nl, nlh, nlh->nlmsg_len) < 0) {
		rc = -1;
	} else {
		ssize_t n;
		while ((n = mnl_socket_recvfrom(d->nl, buf, MNL_SOCKET_BUFFER_SIZE)) > 0) {
			rc = mnl_cb_run(buf, (size_t)n, d->seq, d->portid, cb, d);
			if (rc <= MNL_CB_STOP)
				break;
		}
		if (n < 0)
			rc = -1;
	}
	free(buf);
	return rc < 0 ? -1 : 0;
}

static struct nft_ruleset *dump_once(struct dump *d)
{
	d->rs = nft_rs_new();
	d->nsets = 0;
	if (ask(d, NFT_MSG_GETTABLE, NLM_F_DUMP, NULL, on_table) < 0 || ask(d, NFT_MSG_GETCHAIN, NLM_F_DUMP, NULL, on_chain) < 0 ||
	    ask(d, NFT_MSG_GETRULE, NLM_F_DUMP, NULL, on_rule) < 0 || ask(d, NFT_MSG_GETSET, NLM_F_DUMP, NULL, on_set) < 0)
		goto fail;
	for (size_t i = 0; i < d->nsets; i++) {
		if (ask(d, NFT_MSG_GETSETELEM, NLM_F_DUMP, d->sets[i], on_elems) < 0)
			goto fail;
		nft_rs_add_set(d->rs, d->sets[i]);
		d->sets[i] = NULL;
	}
	d->nsets = 0;
	return d->rs;
fail:
	for (size_t i = 0; i < d->nsets; i++)
		if (d->sets[i])
			nftnl_set_free(d->sets[i]);
	d->nsets = 0;
	nft_rs_free(d->rs);
	d->rs = NULL;
	return NULL;
}

struct nft_ruleset *nft_rs_dump(struct diag *dg)
{
	struct dump d = {0};
	struct nft_ruleset *rs = NULL;
	d.nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!d.nl || mnl_socket_bind(d.nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		diag_add(dg, NULL, "cannot talk to nf_tables over netlink: %s", strerror(errno));
		goto out;
	}
	d.portid = mnl_socket_get_portid(d.nl);
	d.seq = (uint32_t)time(NULL);
	for (int tries = 0; tries < 10 && !rs; tries++) {
		uint32_t before, after;
		if (ask(&d, NFT_MSG_GETGEN, NLM_F_ACK, NULL, on_gen) < 0)
			break;
		before = d.gen;
		rs = dump_once(&d);
		if (!rs || ask(&d, NFT_MSG_GETGEN, NLM_F_ACK, NULL, on_gen) < 0) {
			nft_rs_free(rs);
			rs = NULL;
			break;
		}
		after = d.gen;
		if (before != after) { /* changed while read: read it again */
			nft_rs_free(rs);
			rs = NULL;
		}
	}
	if (!rs)
		diag_add(dg, NULL, "cannot read the nftables ruleset: %s%s", errno ? strerror(errno) : "it kept changing",
			 errno == EPERM ? " (reading it needs CAP_NET_ADMIN: run as root)" : "");
out:
	free(d.sets);
	if (d.nl)
		mnl_socket_close(d.nl);
	return rs;
}
