/* nft.h: what the kernel's nftables ruleset does to the first packet of a path. The ruleset is read
 * over netlink (libnftnl + libmnl) into libnftnl objects that nft_ruleset.c keeps; nft_eval.c walks a
 * packet through its base chains as the kernel would; nft_route.c says which hooks a path crosses in
 * this network namespace; nft_render.c writes the rules that would open a host's paths. */
#ifndef FLOWAUDIT_NFT_H
#define FLOWAUDIT_NFT_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "flowaudit/diag.h"

struct nftnl_table;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;

/* The ruleset: tables, chains, rules and sets (with their elements), owned once added. */
struct nft_ruleset;

struct nft_ruleset *nft_rs_new(void);
void nft_rs_free(struct nft_ruleset *rs);
void nft_rs_add_table(struct nft_ruleset *rs, struct nftnl_table *t);
void nft_rs_add_chain(struct nft_ruleset *rs, struct nftnl_chain *c);
void nft_rs_add_rule(struct nft_ruleset *rs, struct nftnl_rule *r); /* in its chain, after the others */
void nft_rs_add_set(struct nft_ruleset *rs, struct nftnl_set *s);   /* with its elements */
/* The ruleset of the current network namespace, read in one generation (retried if it changed while
 * being read). NULL with a diagnostic (no permission, no nf_tables). */
struct nft_ruleset *nft_rs_dump(struct diag *d);

/* Where the packet is met (the hooks a path crosses, nft_route.c). */
enum nft_path { NFT_INPUT, NFT_OUTPUT, NFT_FORWARD };

/* The first packet of a connection: a TCP SYN, or a UDP datagram. */
struct nft_pkt {
	int family;             /* AF_INET or AF_INET6 */
	uint8_t l4proto;        /* IPPROTO_TCP, IPPROTO_UDP */
	uint8_t saddr[16], daddr[16]; /* 4 bytes used for AF_INET */
	uint16_t sport, dport;
	enum nft_path path;
	char iif[IFNAMSIZ], oif[IFNAMSIZ]; /* "" where the hook has no such device */
	uint32_t iif_index, oif_index;
	uint16_t iif_type, oif_type;       /* ARPHRD_ */
};

enum nft_verdict { NFT_V_ACCEPT, NFT_V_DROP, NFT_V_REJECT, NFT_V_UNDECIDED };

/* A place in the ruleset: a rule (handle > 0) or a base chain's policy (handle 0). */
struct nft_where {
	int family;             /* NFPROTO_ */
	const char *table, *chain;
	uint64_t handle;
};

/* Every base chain the packet met, in the order met. */
struct nft_chain_met {
	struct nft_where chain;
	int hook;               /* NF_INET_ */
	int prio;
	enum nft_verdict verdict;
};

#define NFT_MAX_MET 32

struct nft_result {
	enum nft_verdict verdict;
	bool has_rule;          /* false: no base chain of the packet's family on its hook */
	struct nft_where rule;  /* the deciding rule, or the policy (handle 0) */
	uint32_t policy;        /* NF_ACCEPT or NF_DROP, when rule.handle is 0 */
	char reject[48];        /* how it rejects ("tcp reset", "icmpx admin-prohibited") */
	char why[128];          /* undecided: the expression and why */
	struct nft_chain_met met[NFT_MAX_MET];
	size_t nmet;
};

/* Walk p through every base chain of its family on the hooks of its path, in hook then priority order. */
void nft_eval(const struct nft_ruleset *rs, const struct nft_pkt *p, struct nft_result *res);
/* The comment of a rule ("" if none); the rule must exist. */
const char *nft_rule_comment(const struct nft_ruleset *rs, const struct nft_where *w);

const char *nft_verdict_name(enum nft_verdict v);
const char *nft_family_name(int nfproto);
const char *nft_hook_name(int hook);
const char *nft_path_name(enum nft_path p);

/* nft_route.c: how this namespace meets a packet from client to server (as `ip route get` would):
 * its path and devices. 0: p->path, iif and oif filled; 1: the namespace never sees it (no end here
 * and no route between them through here, or both ends on one connected subnet); -1: diagnostic. */
struct nft_routes;
struct nft_routes *nft_routes_open(struct diag *d);
void nft_routes_close(struct nft_routes *r);
int nft_route_packet(struct nft_routes *r, struct nft_pkt *p, struct diag *d);
/* Is addr (family, 4 or 16 bytes) an address of this namespace? */
bool nft_route_is_local(struct nft_routes *r, int family, const uint8_t *addr);
/* This namespace's first address inside prefix/bits, into out. */
bool nft_route_local_in(struct nft_routes *r, int family, const uint8_t *prefix, int bits, uint8_t *out);

/* nft_text.c: the rules as nft prints them (`nft -a list ruleset`), by place. */
struct nft_text;
struct nft_text *nft_text_read(struct diag *d);
void nft_text_free(struct nft_text *t);
/* The rule's line without its handle, or "policy drop;" for a policy; NULL if unknown. */
const char *nft_text_of(const struct nft_text *t, const struct nft_where *w);

#endif
