/* nft_build.h: nftables expressions built as libnftnl objects and appended to a rule, one call each, as
 * nft generates them (nft_render.c writes tables with them; the evaluator's tests build rulesets). Running
 * out of memory is oom(), as everywhere. */
#ifndef FLOWAUDIT_NFT_BUILD_H
#define FLOWAUDIT_NFT_BUILD_H

#include <stdint.h>

struct nftnl_rule;
struct nftnl_expr;

struct nftnl_expr *nft_x_new(const char *name); /* an expression of that name, not yet in a rule */
/* payload BASE OFF LEN => dreg */
void nft_x_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg);
/* meta KEY => dreg */
void nft_x_meta(struct nftnl_rule *r, uint32_t key, uint32_t dreg);
/* ct KEY => dreg */
void nft_x_ct(struct nftnl_rule *r, uint32_t key, uint32_t dreg);
/* cmp OP reg 1, DATA */
void nft_x_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len);
/* bitwise reg 1 = (reg 1 & MASK) ^ 0 */
void nft_x_mask(struct nftnl_rule *r, const void *mask, uint32_t len);
/* immediate verdict (with its chain for jump and goto, else NULL) */
void nft_x_verdict(struct nftnl_rule *r, int verdict, const char *chain);

#endif
