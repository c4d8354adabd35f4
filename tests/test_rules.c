/* test_rules.c: the rules language and site files: the pack parses, and every kind of malformed input
 * is reported at the exact FILE:LINE:COL with a message naming the offending token. */
#include <stdlib.h>
#include <string.h>

#include "flowaudit/rules.h"
#include "flowaudit/site.h"
#include "flowaudit/util.h"
#include "testutil.h"

static void test_rule_pack_parses_without_errors(void)
{
	struct rules r;
	struct diag d;
	diag_init(&d);
	rules_init(&r);
	CU_ASSERT_EQUAL(rules_load(&r, "rules/peergfs.rules", &d), 0);
	CU_ASSERT_EQUAL(diag_count(&d), 0);
	CU_ASSERT(rules_role_find(&r, "ontap-node") > 0);
	CU_ASSERT(rules_param_find(&r, "webui_port") >= 0);
	CU_ASSERT(r.nedges > 40);
	CU_ASSERT_PTR_NOT_NULL(rules_ignored(&r, 17, 53));
	CU_ASSERT_PTR_NULL(rules_ignored(&r, 6, 445));
	diag_print(&d, stderr);
	rules_free(&r);
	diag_free(&d);
}

/* Roles and a parameter that the malformed snippets below can refer to. */
static const char prelude[] =
	"role agent \"a\"\n"
	"role broker \"b\"\n"
	"attr notify \"n\" on agent values cee, syslog, cee-http\n"
	"param webui_port 8443\n";

struct bad_case {
	const char *name;
	const char *text;       /* appended to the prelude (4 lines), or a whole file when prelude is false */
	bool prelude;
	int line, col;
	const char *message;    /* a substring of the first diagnostic */
};

static const struct bad_case bad_rules[] = {
	{"unknown-role", "edge \"x\"\n\tagent -> brokr tcp/61617 required\n", true, 6, 11,
	 "unknown role 'brokr'; did you mean 'broker'?"},
	{"duplicate-role", "role agent \"again\"\n", true, 5, 6, "duplicate role 'agent'"},
	{"bad-port", "edge \"x\" agent -> broker tcp/70000 required\n", true, 5, 30, "bad port '70000'"},
	{"port-zero", "edge \"x\" agent -> broker tcp/0 required\n", true, 5, 30, "bad port '0'"},
	{"undefined-param", "edge \"x\" agent -> broker tcp/$nope required\n", true, 5, 30,
	 "undefined parameter '$nope'"},
	{"unknown-keyword", "rol pmc \"p\"\n", true, 5, 1, "unknown keyword 'rol'; did you mean 'role'?"},
	{"unterminated-string", "role pmc \"Peer Management\n", true, 5, 10, "unterminated string"},
	{"bad-level", "edge \"x\" agent -> broker tcp/61617 requird\n", true, 5, 36,
	 "expected 'required' or 'optional', found 'requird'"},
	{"unknown-scope", "edge \"x\" agent -> broker tcp/61617 required scope=partners\n", true, 5, 51,
	 "unknown scope 'partners'"},
	{"unknown-attribute", "edge \"x\" agent -> broker tcp/61617 required when notfy=cee\n", true, 5, 50,
	 "unknown attribute 'notfy'; did you mean 'notify'?"},
	{"bad-value", "edge \"x\" agent -> broker tcp/61617 required when notify=cees\n", true, 5, 57,
	 "'cees' is not a value of 'notify'; did you mean 'cee'?"},
	{"unknown-protocol", "edge \"x\" agent -> broker sctp/61617 required\n", true, 5, 26,
	 "unknown protocol 'sctp'"},
	{"duplicate-requirement", "edge \"x\" agent -> broker tcp/1 required\nedge \"x\" agent -> broker tcp/2 required\n",
	 true, 6, 6, "duplicate requirement \"x\""},
	{"missing-arrow", "edge \"x\" agent => broker tcp/1 required\n", true, 5, 16, "expected '->' or '<->', found '=>'"},
	{"duplicate-param", "param webui_port 9443\n", true, 5, 7, "duplicate parameter 'webui_port'"},
	{"both-in-alternative", "edge \"x\" agent -> broker both/1 | tcp/2 required\n", true, 5, 26,
	 "an alternative must name one protocol"},
	{"dangling-indent", "  role pmc \"p\"\n", false, 1, 3, "indented line continues no statement"},
	{"missing-level", "edge \"x\" agent -> broker tcp/1\n", true, 5, 31, "expected 'required' or 'optional' after 'tcp/1'"},
	{"nul-byte", "role pmc \"p\0\"\n", false, 1, 12, "NUL byte"},
	{"control-character", "role pmc \"p\x01\"\n", false, 1, 12, "control character 0x01"},
	{"invalid-utf8", "role pmc \"caf\xc3\x28\"\n", false, 1, 14, "invalid UTF-8 byte 0xc3"},
};

static void check_bad(const char *kind, const struct bad_case *c, size_t len, bool site, const struct rules *pack)
{
	char name[96];
	snprintf(name, sizeof(name), "%s.%s", c->name, site ? "site" : "rules");
	size_t pl = c->prelude ? strlen(prelude) : 0, n = pl + len;
	char *text = xmalloc(n + 1);
	memcpy(text, prelude, pl);
	memcpy(text + pl, c->text, len); /* len, not strlen: one case carries a NUL byte */
	const char *path = tu_write(name, text, n);
	free(text);
	struct diag d;
	diag_init(&d);
	int rc;
	if (site) {
		struct site s;
		rc = site_load(&s, path, pack, &d);
		site_free(&s);
	} else {
		struct rules r;
		rules_init(&r);
		rc = rules_load(&r, path, &d);
		rules_free(&r);
	}
	CU_ASSERT_EQUAL(rc, -1);
	CU_ASSERT(d.n >= 1);
	if (d.n >= 1) {
		const struct diag_msg *m = &d.msgs[0];
		bool ok = m->line == c->line && m->col == c->col && strstr(m->msg, c->message) &&
			  m->file && !strcmp(m->file, path);
		if (!ok)
			fprintf(stderr, "\n%s %s: got %d:%d '%s', want %d:%d '%s'\n", kind, c->name, m->line, m->col,
				m->msg, c->line, c->col, c->message);
		CU_ASSERT(ok);
	}
	diag_free(&d);
}

static size_t case_len(const struct bad_case *c)
{
	/* The NUL case carries a byte strlen would stop at. */
	return strcmp(c->name, "nul-byte") == 0 ? 15 : strlen(c->text);
}

static void test_malformed_rules_report_exact_locations(void)
{
	for (size_t i = 0; i < sizeof(bad_rules) / sizeof(bad_rules[0]); i++)
		check_bad("rules", &bad_rules[i], case_len(&bad_rules[i]), false, NULL);
}

static void test_include_cycle_is_an_error(void)
{
	tu_write("cyc-b.rules", "include \"cyc-a.rules\"\n", (size_t)-1);
	const char *a = tu_write("cyc-a.rules", "role x \"x\"\ninclude \"cyc-b.rules\"\n", (size_t)-1);
	struct rules r;
	struct diag d;
	diag_init(&d);
	rules_init(&r);
	CU_ASSERT_EQUAL(rules_load(&r, a, &d), -1);
	CU_ASSERT(d.n >= 1 && strstr(d.msgs[0].msg, "include cycle") && d.msgs[0].line == 1 && d.msgs[0].col == 9);
	rules_free(&r);
	diag_free(&d);
}

static void test_parser_recovers_and_reports_several_errors(void)
{
	const char *p = tu_write("multi.rules", "role a \"a\"\nrole a \"b\"\nroel c \"c\"\nrole d \"d\"\nrole d \"e\"\n",
				 (size_t)-1);
	struct rules r;
	struct diag d;
	diag_init(&d);
	rules_init(&r);
	CU_ASSERT_EQUAL(rules_load(&r, p, &d), -1);
	CU_ASSERT_EQUAL(d.n, 3);
	CU_ASSERT(d.n == 3 && d.msgs[0].line == 2 && d.msgs[1].line == 3 && d.msgs[2].line == 5);
	rules_free(&r);
	diag_free(&d);
}

static const struct bad_case bad_sites[] = {
	{"site-unknown-role", "host a1 192.0.2.1 role=agnet\n", false, 1, 24, "unknown role 'agnet'; did you mean 'agent'?"},
	{"site-bad-address", "host a1 192.0.2.300 role=agent\n", false, 1, 9, "'192.0.2.300' is not an IPv4 or IPv6"},
	{"site-duplicate-host", "host a1 192.0.2.1 role=agent\nhost a1 192.0.2.2 role=agent\n", false, 2, 6,
	 "duplicate host 'a1'"},
	{"site-unknown-key", "host a1 192.0.2.1 role=agent parnter=x\n", false, 1, 30,
	 "unknown key 'parnter'; did you mean 'partner'?"},
	{"site-unknown-system", "host a1 192.0.2.1 role=agent partner=ontap9\n", false, 1, 38, "no host has system=ontap9"},
	{"site-not-a-broker", "host a1 192.0.2.1 role=agent brokers=a2\nhost a2 192.0.2.2 role=agent\n", false, 1, 38,
	 "host 'a2' is not a broker"},
	{"site-bad-prefix", "host net 192.0.2.0/33 role=client\n", false, 1, 20, "bad prefix length '33'"},
	{"site-unknown-setting", "set tsl required\n", false, 1, 5, "unknown setting 'tsl'; did you mean 'tls'?"},
	{"site-no-role", "host a1 192.0.2.1 system=x\n", false, 1, 27, "host 'a1' has no role="},
	{"site-bad-notify", "host p1 192.0.2.1 role=powerscale notify=rabbit\n", false, 1, 42,
	 "'rabbit' is not a value of 'notify'"},
	{"site-address-twice", "host a1 192.0.2.1 role=agent\nhost a2 192.0.2.1 role=agent\n", false, 2, 9,
	 "address 192.0.2.1 already belongs to host 'a1'"},
	{"site-bad-port-override", "host m1 192.0.2.1 role=agent,mds mds_port=99999\n", false, 1, 43, "bad port '99999'"},
	{"site-internet-role", "host x 192.0.2.1 role=internet\n", false, 1, 23, "'internet' is every address"},
	{"site-unknown-declaration", "hots a1 192.0.2.1 role=agent\n", false, 1, 1,
	 "unknown declaration 'hots'; did you mean 'host'?"},
	{"site-second-role-list", "host a1 192.0.2.1 role=agent role=broker\n", false, 1, 30, "'role' given twice"},
};

static void test_malformed_sites_report_exact_locations(void)
{
	struct rules r;
	struct diag d;
	diag_init(&d);
	rules_init(&r);
	CU_ASSERT_FATAL(rules_load(&r, "rules/peergfs.rules", &d) == 0);
	for (size_t i = 0; i < sizeof(bad_sites) / sizeof(bad_sites[0]); i++)
		check_bad("site", &bad_sites[i], strlen(bad_sites[i].text), true, &r);
	rules_free(&r);
	diag_free(&d);
}

static void test_demo_site_parses_with_inferred_cee_role(void)
{
	struct rules r;
	struct site s;
	struct diag d;
	diag_init(&d);
	rules_init(&r);
	CU_ASSERT_FATAL(rules_load(&r, "rules/peergfs.rules", &d) == 0);
	CU_ASSERT_FATAL(site_load(&s, "rules/demo.site", &r, &d) == 0);
	int a = site_host_find(&s, "agent-unity");
	CU_ASSERT_FATAL(a >= 0);
	CU_ASSERT(site_host_has_role(&s.hosts[a], rules_role_find(&r, "cee")));
	CU_ASSERT_STRING_EQUAL(site_setting(&s, "tls"), "required");
	uint8_t addr[16];
	addr_parse("192.0.2.200", addr);
	CU_ASSERT_EQUAL(site_lookup(&s, addr), site_host_find(&s, "admins"));
	addr_parse("2001:db8:3::23", addr);
	CU_ASSERT_EQUAL(site_lookup(&s, addr), site_host_find(&s, "ontap1-data"));
	addr_parse("192.0.2.99", addr);
	CU_ASSERT_EQUAL(site_lookup(&s, addr), -1);
	site_free(&s);
	rules_free(&r);
	diag_free(&d);
}

static void test_lint_cli_points_at_the_broken_token_and_exits_2(void)
{
	const char *p = tu_write("cli.site", "host a1 192.0.2.1 role=agent\nhost a2 192.0.2.2 role=brokr\n", (size_t)-1);
	char *cmd = xasprintf("%s lint %s", tu_flowaudit(), p);
	char *out, *err;
	int st = tu_run(cmd, &out, &err);
	CU_ASSERT_EQUAL(st, 2);
	char *want = xasprintf("%s:2:24: error: unknown role 'brokr'; did you mean 'broker'? (nutanix-files, ", p);
	CU_ASSERT_NSTRING_EQUAL(err, want, strlen(want));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ", other)\n    host a2 192.0.2.2 role=brokr\n                           ^^^^^\n"));
	free(want);
	free(cmd);
	free(out);
	free(err);
}

void suite_rules(void)
{
	CU_pSuite s = CU_add_suite("rules and sites", NULL, NULL);
	TU_ADD(s, test_rule_pack_parses_without_errors);
	TU_ADD(s, test_malformed_rules_report_exact_locations);
	TU_ADD(s, test_include_cycle_is_an_error);
	TU_ADD(s, test_parser_recovers_and_reports_several_errors);
	TU_ADD(s, test_malformed_sites_report_exact_locations);
	TU_ADD(s, test_demo_site_parses_with_inferred_cee_role);
	TU_ADD(s, test_lint_cli_points_at_the_broken_token_and_exits_2);
}
