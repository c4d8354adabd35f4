/* nft_check.h: the site's expected paths against this namespace's nftables ruleset (nft_check.c), and
 * the rules that would open a host's paths (nft_render.c). */
#ifndef FLOWAUDIT_NFT_CHECK_H
#define FLOWAUDIT_NFT_CHECK_H

#include <stdbool.h>
#include <stdio.h>

#include "flowaudit/graph.h"
#include "flowaudit/nft.h"

struct nft_check_path {
	int edge;               /* graph edge */
	struct nft_pkt pkt;
	struct nft_result res;
};

/* The ruleset, routes and rule texts of this namespace. NULL with a diagnostic. */
struct nft_check *nft_check_open(struct diag *d);
void nft_check_free(struct nft_check *c);
/* Walk every allowed path of g (those of host index `host` when >= 0) that crosses this namespace.
 * -1 with a diagnostic on a netlink failure. */
int nft_check_paths(struct nft_check *c, const struct graph *g, int host, struct diag *d);
/* 0: every required path is accepted; 1: not. */
int nft_check_status(const struct nft_check *c);
int nft_check_print(FILE *out, const struct nft_check *c, bool json);
/* What the ruleset does to one path, in a sentence ("dropped here: inet filter forward handle 12
 * `tcp dport 9883 drop`"), or NULL when this namespace does not see it. Addresses in the 16-byte form
 * (IPv4-mapped). Worked out once per path; the sentence lives as long as c. */
const char *nft_check_one(struct nft_check *c, const uint8_t client[16], const uint8_t server[16], uint8_t proto,
		    uint16_t port);

/* nft_render.c: a table accepting exactly host's expected paths (and replies, related ICMP errors,
 * loopback, IPv6 neighbour discovery), policy drop; forward too when router. */
struct nft_render_opts {
	const char *family;     /* "inet" */
	const char *table;      /* "flowaudit" */
	bool router;
};
/* As text for `nft -f`. */
int nft_render_text(FILE *out, const struct graph *g, int host, const struct nft_render_opts *o);
/* Sent as one netlink batch (all or nothing) into this namespace. -1 with a diagnostic. */
int nft_render_apply(const struct graph *g, int host, const struct nft_render_opts *o, struct diag *d);

#endif
