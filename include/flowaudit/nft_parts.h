/* nft_parts.h: the ruleset model shared by nft_ruleset.c (which fills it) and nft_eval.c (which walks
 * it); nothing else includes this. Strings point into the libnftnl objects the model owns. */
#ifndef FLOWAUDIT_NFT_PARTS_H
#define FLOWAUDIT_NFT_PARTS_H

#include "flowaudit/nft.h"

#define NFT_KEY_MAX 64 /* bytes of a set key or datum: concatenations of up to 16 registers of 4 */

struct nft_rs_table {
	int family;
	const char *name;
	bool dormant;
	struct nftnl_table *obj;
};

struct nft_rs_chain {
	int family;
	const char *table, *name;
	bool base;
	int hook, prio;
	uint32_t policy;
	const char *type;       /* "filter", "nat", "route" */
	struct nftnl_chain *obj;
	struct nftnl_rule **rules;
	size_t nrules, cap_rules;
};

struct nft_rs_elem {
	uint8_t key[NFT_KEY_MAX], key_end[NFT_KEY_MAX];
	bool has_key_end;       /* a range in one element (concatenations, pipapo) */
	bool interval_end;      /* rbtree intervals: this key ends the interval begun by the one before */
	uint8_t data[NFT_KEY_MAX];
	uint32_t dlen;
	int verdict;            /* verdict maps */
	const char *chain;      /* jump and goto targets of a verdict map */
};

struct nft_rs_set {
	int family;
	const char *table, *name;
	uint32_t flags, klen, dlen, dtype;
	uint8_t field_len[16];  /* a concatenation's fields, in bytes (each takes whole 4-byte registers) */
	size_t nfields;         /* 0: one field */
	struct nftnl_set *obj;
	struct nft_rs_elem *elems; /* intervals without key_end: sorted by key */
	size_t nelems;
};

struct nft_ruleset {
	struct nft_rs_table *tables;
	size_t ntables, cap_tables;
	struct nft_rs_chain *chains;
	size_t nchains, cap_chains;
	struct nft_rs_set *sets;
	size_t nsets, cap_sets;
};

const struct nft_rs_chain *nft_rs_chain(const struct nft_ruleset *rs, int family, const char *table,
					 const char *name);
const struct nft_rs_set *nft_rs_set(const struct nft_ruleset *rs, int family, const char *table,
				     const char *name);
bool nft_rs_table_dormant(const struct nft_ruleset *rs, int family, const char *table);

#endif
