/* test_nft.c: the nftables evaluator on rulesets built as libnftnl objects, the way libnftnl's own
 * tests build them: tables, chains and rules made expression by expression, the packet walked, the
 * verdict and the deciding rule compared with what the kernel would do. */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/in.h>
#include <string.h>

#include "flowaudit/nft.h"
#include "flowaudit/nft_build.h"
#include "testutil.h"

static uint64_t next_handle = 1;

static void table(struct nft_ruleset *rs, int family, const char *name)
{
	struct nftnl_table *t = nftnl_table_alloc();
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, (uint32_t)family);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nft_rs_add_table(rs, t);
}

/* hook < 0: a regular chain */
static void chain(struct nft_ruleset *rs, int family, const char *tab, const char *name, int hook, int prio, uint32_t policy)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)family);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, tab);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	if (hook >= 0) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, policy);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	}
	nft_rs_add_chain(rs, c);
}

static struct nftnl_rule *rule(int family, const char *tab, const char *ch)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)family);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, tab);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, ch);
	nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, next_handle++);
	return r;
}

static void dport(struct nftnl_rule *r, uint16_t port)
{
	uint16_t be = htons(port);
	nft_x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
	nft_x_cmp(r, NFT_CMP_EQ, &be, 2);
}

static void lookup(struct nftnl_rule *r, const char *set, uint32_t sreg, int dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	if (dreg >= 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_rule_add_expr(r, e);
}

static struct nftnl_set *set_new(int family, const char *tab, const char *name, uint32_t flags, uint32_t klen)
{
	struct nftnl_set *s = nftnl_set_alloc();
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)family);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, tab);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, klen);
	return s;
}

static struct nftnl_set_elem *elem(struct nftnl_set *s, const void *key, uint32_t klen)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, klen);
	nftnl_set_elem_add(s, e);
	return e;
}

static struct nft_pkt syn(const char *src, const char *dst, uint16_t port, enum nft_path path)
{
	struct nft_pkt p = {.family = AF_INET, .l4proto = IPPROTO_TCP, .sport = 50000, .dport = port, .path = path};
	inet_pton(AF_INET, src, p.saddr);
	inet_pton(AF_INET, dst, p.daddr);
	if (path != NFT_OUTPUT)
		strcpy(p.iif, "eth0");
	if (path != NFT_INPUT)
		strcpy(p.oif, "eth1");
	return p;
}

#define IN NF_INET_LOCAL_IN
#define FWD NF_INET_FORWARD

/* tcp dport 9883 drop in a policy-accept forward chain; other ports fall to the policy. */
static void test_the_rule_that_matches_decides_else_the_policy(void)
{
	struct nft_ruleset *rs = nft_rs_new();
	table(rs, NFPROTO_INET, "filter");
	chain(rs, NFPROTO_INET, "filter", "forward", FWD, 0, NF_ACCEPT);
	struct nftnl_rule *r = rule(NFPROTO_INET, "filter", "forward");
	uint8_t tcp = IPPROTO_TCP;
	nft_x_meta(r, NFT_META_L4PROTO, NFT_REG_1);
	nft_x_cmp(r, NFT_CMP_EQ, &tcp, 1);
	dport(r, 9883);
	nft_x_verdict(r, NF_DROP, NULL);
	uint64_t h = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	nft_rs_add_rule(rs, r);
	struct nft_result res;
	struct nft_pkt p = syn("192.0.2.20", "198.51.100.10", 9883, NFT_FORWARD);
	nft_eval(rs, &p, &res);
	CU_ASSERT_EQUAL(res.verdict, NFT_V_DROP);
	CU_ASSERT(res.has_rule && res.rule.handle == h && !strcmp(res.rule.chain, "forward"));
	p.dport = 443;
	nft_eval(rs, &p, &res);
	CU_ASSERT_EQUAL(res.verdict, NFT_V_ACCEPT);
	CU_ASSERT(res.has_rule && res.rule.handle == 0 && res.policy == NF_ACCEPT);
	p.path = NFT_INPUT; /* no base chain on input: accepted, no rule */
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_ACCEPT && !res.has_rule);
	nft_rs_free(rs);
}

/* ip saddr 198.51.100.0/24 jump agents; agents: tcp dport 443 goto rest, return; rest: accept 192.0.2.21
 * else reject with tcp reset. The policy drops. */
static void test_jump_goto_return_and_reject(void)
{
	struct nft_ruleset *rs = nft_rs_new();
	table(rs, NFPROTO_IPV4, "t");
	chain(rs, NFPROTO_IPV4, "t", "fwd", FWD, 0, NF_DROP);
	chain(rs, NFPROTO_IPV4, "t", "agents", -1, 0, 0);
	chain(rs, NFPROTO_IPV4, "t", "rest", -1, 0, 0);
	struct nftnl_rule *r = rule(NFPROTO_IPV4, "t", "fwd");
	uint8_t net[4] = {198, 51, 100, 0}, mask[4] = {255, 255, 255, 0};
	nft_x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, NFT_REG_1);
	nft_x_mask(r, mask, 4);
	nft_x_cmp(r, NFT_CMP_EQ, net, 4);
	nft_x_verdict(r, NFT_JUMP, "agents");
	nft_rs_add_rule(rs, r);
	r = rule(NFPROTO_IPV4, "t", "agents");
	dport(r, 443);
	nft_x_verdict(r, NFT_GOTO, "rest");
	nft_rs_add_rule(rs, r);
	r = rule(NFPROTO_IPV4, "t", "agents");
	nft_x_verdict(r, NFT_RETURN, NULL);
	nft_rs_add_rule(rs, r);
	r = rule(NFPROTO_IPV4, "t", "rest");
	uint8_t mgmt[4] = {192, 0, 2, 21};
	nft_x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1);
	nft_x_cmp(r, NFT_CMP_EQ, mgmt, 4);
	nft_x_verdict(r, NF_ACCEPT, NULL);
	uint64_t accept_h = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	nft_rs_add_rule(rs, r);
	r = rule(NFPROTO_IPV4, "t", "rest");
	struct nftnl_expr *e = nftnl_expr_alloc("reject");
	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_TCP_RST);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, 0);
	nftnl_rule_add_expr(r, e);
	uint64_t reject_h = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	nft_rs_add_rule(rs, r);

	struct nft_result res;
	struct nft_pkt p = syn("198.51.100.10", "192.0.2.21", 443, NFT_FORWARD);
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_ACCEPT && res.rule.handle == accept_h && !strcmp(res.rule.chain, "rest"));
	inet_pton(AF_INET, "192.0.2.22", p.daddr);
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_REJECT && res.rule.handle == reject_h && !strcmp(res.reject, "tcp reset"));
	p.dport = 445; /* agents returns: back in fwd, past the jump, to the policy */
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_DROP && res.rule.handle == 0 && !strcmp(res.rule.chain, "fwd"));
	CU_ASSERT_EQUAL(res.nmet, 1);
	p.family = AF_INET6; /* an ip table never sees IPv6 */
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_ACCEPT && !res.has_rule && res.nmet == 0);
	nft_rs_free(rs);
}

/* ct state established,related accept does not take a first packet; a later rule does. */
static void test_a_first_packet_is_new_to_conntrack(void)
{
	struct nft_ruleset *rs = nft_rs_new();
	table(rs, NFPROTO_INET, "f");
	chain(rs, NFPROTO_INET, "f", "input", IN, 0, NF_DROP);
	struct nftnl_rule *r = rule(NFPROTO_INET, "f", "input");
	nft_x_ct(r, NFT_CT_STATE, NFT_REG_1);
	uint32_t mask = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED), zero = 0;
	nft_x_mask(r, &mask, 4);
	nft_x_cmp(r, NFT_CMP_NEQ, &zero, 4);
	nft_x_verdict(r, NF_ACCEPT, NULL);
	nft_rs_add_rule(rs, r);
	r = rule(NFPROTO_INET, "f", "input");
	nft_x_ct(r, NFT_CT_STATE, NFT_REG_1);
	uint32_t new = NF_CT_STATE_BIT(IP_CT_NEW);
	nft_x_mask(r, &new, 4);
	nft_x_cmp(r, NFT_CMP_NEQ, &zero, 4);
	nftnl_rule_add_expr(r, nftnl_expr_alloc("counter"));
	nft_x_verdict(r, NF_ACCEPT, NULL);
	uint64_t h = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	nft_rs_add_rule(rs, r);
	struct nft_result res;
	struct nft_pkt p = syn("192.0.2.20", "198.51.100.10", 9883, NFT_INPUT);
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_ACCEPT && res.rule.handle == h);
	nft_rs_free(rs);
}

/* An interval set as the kernel's rbtree dumps it (a start, and an end flagged INTERVAL_END one past the
 * last address), a concatenation with ranges per field (pipapo's key and key_end), a verdict map. */
static void test_interval_sets_concatenations_and_verdict_maps(void)
{
	struct nft_ruleset *rs = nft_rs_new();
	table(rs, NFPROTO_INET, "f");
	chain(rs, NFPROTO_INET, "f", "forward", FWD, 0, NF_ACCEPT);
	chain(rs, NFPROTO_INET, "f", "deny", -1, 0, 0);

	struct nftnl_set *s = set_new(NFPROTO_INET, "f", "storage", NFT_SET_INTERVAL, 4);
	uint8_t zero[4] = {0}, lo[4] = {192, 0, 2, 16}, hi[4] = {192, 0, 2, 32};
	uint32_t endf = NFT_SET_ELEM_INTERVAL_END;
	nftnl_set_elem_set_u32(elem(s, zero, 4), NFTNL_SET_ELEM_FLAGS, endf);
	elem(s, lo, 4);
	nftnl_set_elem_set_u32(elem(s, hi, 4), NFTNL_SET_ELEM_FLAGS, endf);
	nft_rs_add_set(rs, s);

	/* ip saddr . tcp dport in { 192.0.2.0/24 . 9000-9999 } */
	struct nftnl_set *c = set_new(NFPROTO_INET, "f", "pairs", NFT_SET_INTERVAL | NFT_SET_CONCAT, 8);
	uint8_t fields[2] = {4, 2};
	nftnl_set_set_data(c, NFTNL_SET_DESC_CONCAT, fields, 2);
	uint8_t k[8] = {192, 0, 2, 0, 0x23, 0x28, 0, 0}, kend[8] = {192, 0, 2, 255, 0x27, 0x0f, 0, 0};
	struct nftnl_set_elem *ce = elem(c, k, 8);
	nftnl_set_elem_set(ce, NFTNL_SET_ELEM_KEY_END, kend, 8);
	nft_rs_add_set(rs, c);

	struct nftnl_set *m = set_new(NFPROTO_INET, "f", "ports", NFT_SET_MAP, 2);
	nftnl_set_set_u32(m, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	uint16_t p137 = htons(137), p138 = htons(138);
	nftnl_set_elem_set_u32(elem(m, &p137, 2), NFTNL_SET_ELEM_VERDICT, (uint32_t)NF_DROP);
	struct nftnl_set_elem *je = elem(m, &p138, 2);
	nftnl_set_elem_set_u32(je, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_JUMP);
	nftnl_set_elem_set_str(je, NFTNL_SET_ELEM_CHAIN, "deny");
	nft_rs_add_set(rs, m);

	struct nftnl_rule *r = rule(NFPROTO_INET, "f", "forward"); /* ip daddr @storage tcp dport 443 accept */
	nft_x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1);
	lookup(r, "storage", NFT_REG_1, -1);
	dport(r, 443);
	nft_x_verdict(r, NF_ACCEPT, NULL);
	uint64_t h_storage = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	nft_rs_add_rule(rs, r);
	r = rule(NFPROTO_INET, "f", "forward"); /* ip saddr . tcp dport @pairs drop */
	nft_x_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, NFT_REG32_00);
	nft_x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
	lookup(r, "pairs", NFT_REG32_00, -1);
	nft_x_verdict(r, NF_DROP, NULL);
	uint64_t h_pairs = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	nft_rs_add_rule(rs, r);
	r = rule(NFPROTO_INET, "f", "forward"); /* udp dport vmap @ports */
	nft_x_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
	lookup(r, "ports", NFT_REG_1, NFT_REG_VERDICT);
	uint64_t h_vmap = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	nft_rs_add_rule(rs, r);
	r = rule(NFPROTO_INET, "f", "deny");
	struct nftnl_expr *e = nftnl_expr_alloc("reject");
	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
	nftnl_rule_add_expr(r, e);
	uint64_t h_deny = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	nft_rs_add_rule(rs, r);

	struct nft_result res;
	struct nft_pkt p = syn("198.51.100.10", "192.0.2.20", 443, NFT_FORWARD);
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_ACCEPT && res.rule.handle == h_storage);
	inet_pton(AF_INET, "192.0.2.32", p.daddr); /* the interval's end is outside it */
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_ACCEPT && res.rule.handle == 0);
	p = syn("192.0.2.20", "198.51.100.10", 9883, NFT_FORWARD);
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_DROP && res.rule.handle == h_pairs);
	p.dport = 8443; /* in the address range, not the port range */
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_ACCEPT && res.rule.handle == 0);
	p = syn("198.51.100.10", "192.0.2.22", 137, NFT_FORWARD);
	p.l4proto = IPPROTO_UDP;
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_DROP && res.rule.handle == h_vmap);
	p.dport = 138;
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_REJECT && res.rule.handle == h_deny && !strcmp(res.reject, "icmpx admin-prohibited"));
	nft_rs_free(rs);
}

/* Base chains on one hook are walked by priority, whatever order they were added in; each must accept,
 * the deciding one is the last; an expression that cannot be known stops the walk, named. */
static void test_priorities_and_the_undecidable(void)
{
	struct nft_ruleset *rs = nft_rs_new();
	table(rs, NFPROTO_INET, "late");
	table(rs, NFPROTO_IPV4, "early");
	chain(rs, NFPROTO_INET, "late", "fwd", FWD, 10, NF_ACCEPT);
	chain(rs, NFPROTO_IPV4, "early", "fwd", FWD, -10, NF_ACCEPT);
	chain(rs, NFPROTO_INET, "late", "pre", NF_INET_PRE_ROUTING, 0, NF_ACCEPT);
	struct nftnl_rule *r = rule(NFPROTO_INET, "late", "fwd");
	dport(r, 9883);
	nftnl_rule_add_expr(r, nftnl_expr_alloc("fib"));
	nft_x_verdict(r, NF_DROP, NULL);
	uint64_t h_fib = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	nft_rs_add_rule(rs, r);
	r = rule(NFPROTO_IPV4, "early", "fwd");
	dport(r, 445);
	nft_x_verdict(r, NF_DROP, NULL);
	uint64_t h_early = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	nft_rs_add_rule(rs, r);
	r = rule(NFPROTO_INET, "late", "pre"); /* meta oifname: no output device before routing, the rule ends */
	char eth1[IFNAMSIZ] = "eth1";
	nft_x_meta(r, NFT_META_OIFNAME, NFT_REG_1);
	nft_x_cmp(r, NFT_CMP_EQ, eth1, IFNAMSIZ);
	nft_x_verdict(r, NF_DROP, NULL);
	nft_rs_add_rule(rs, r);

	struct nft_result res;
	struct nft_pkt p = syn("198.51.100.10", "192.0.2.22", 445, NFT_FORWARD);
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_DROP && res.rule.handle == h_early && !strcmp(res.rule.table, "early"));
	CU_ASSERT(res.nmet == 2 && res.met[0].hook == NF_INET_PRE_ROUTING && res.met[1].prio == -10);
	p.dport = 443;
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_ACCEPT && res.nmet == 3 && !strcmp(res.rule.table, "late") && res.rule.handle == 0);
	p.dport = 9883;
	nft_eval(rs, &p, &res);
	CU_ASSERT(res.verdict == NFT_V_UNDECIDED && res.rule.handle == h_fib && strstr(res.why, "fib") != NULL);
	nft_rs_free(rs);
}

void suite_nft(void)
{
	CU_pSuite s = CU_add_suite("nftables evaluator", NULL, NULL);
	TU_ADD(s, test_the_rule_that_matches_decides_else_the_policy);
	TU_ADD(s, test_jump_goto_return_and_reject);
	TU_ADD(s, test_a_first_packet_is_new_to_conntrack);
	TU_ADD(s, test_interval_sets_concatenations_and_verdict_maps);
	TU_ADD(s, test_priorities_and_the_undecidable);
}
