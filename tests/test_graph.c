/* test_graph.c: rules x site -> expected edges. The table below was written by hand from the seed article
 * (Peer Software, "Firewall Requirements", 28 August 2025), one row per (client role, server role, proto,
 * port) it requires, and checked both ways against the expansion of rules/demo.site and a variant of it. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/graph.h"
#include "flowaudit/util.h"
#include "testutil.h"

enum { DEMO = 1, VARIANT = 2, BOTH = 3 };
#define T IPPROTO_TCP
#define U IPPROTO_UDP

struct seed_row {
	const char *client, *server;
	uint8_t proto;
	uint16_t port;
	int sites;              /* which expansion must contain it */
};

/* The demo site requires TLS, runs PeerIQ as the appliance, puts PowerStore's CEE on the agent and uses
 * SMB with Nutanix; the variant flips each of those, so every row of the seed is exercised. */
static const struct seed_row seed[] = {
	/* Firewall Requirements between Peer Management Center/Peer Management Broker and Peer Agent */
	{"agent", "broker", T, 61617, BOTH},
	{"agent", "broker", T, 61616, VARIANT},
	/* ... between Peer Management Center and the Internet */
	{"pmc", "internet", T, 80, BOTH},
	{"pmc", "internet", T, 443, BOTH},
	/* ... between Peer Management Center and the local network */
	{"client", "pmc", T, 8443, BOTH},
	{"client", "pmc", T, 8442, BOTH},
	/* ... between Peer Management Brokers (inbound and outbound) */
	{"broker", "broker", T, 61617, BOTH},
	{"broker", "broker", T, 61616, VARIANT},
	/* ... between the Peer Edge Service and the Peer Master Data Service */
	{"edge", "mds", T, 8446, BOTH},
	/* PeerIQ and the Internet; PeerIQ and the local network (appliance 443, RHEL/Rocky 4430; 4443) */
	{"peeriq", "internet", T, 80, BOTH},
	{"peeriq", "internet", T, 443, BOTH},
	{"client", "peeriq", T, 443, DEMO},
	{"client", "peeriq", T, 4430, VARIANT},
	{"client", "peeriq", T, 4443, BOTH},
	/* PeerIQ and the broker on the PMC's server, inbound and outbound */
	{"peeriq", "pmc", T, 61617, BOTH},
	{"pmc", "peeriq", T, 61617, BOTH},
	{"peeriq", "pmc", T, 61616, VARIANT},
	{"pmc", "peeriq", T, 61616, VARIANT},
	/* Nutanix Files: 9898 in, 9440 out, SMB, NFS */
	{"nutanix-files", "agent", T, 9898, BOTH},
	{"agent", "nutanix-files", T, 9440, BOTH},
	{"agent", "nutanix-files", T, 445, DEMO},
	{"agent", "nutanix-files", T, 137, DEMO},
	{"agent", "nutanix-files", U, 137, DEMO},
	{"agent", "nutanix-files", U, 138, DEMO},
	{"agent", "nutanix-files", T, 139, DEMO},
	{"agent", "nutanix-files", T, 2049, VARIANT},
	{"agent", "nutanix-files", U, 2049, VARIANT},
	{"agent", "nutanix-files", T, 111, VARIANT},
	{"agent", "nutanix-files", U, 111, VARIANT},
	/* NetApp ONTAP and FSxN: 9883 from each node, 443 to the management LIF, SMB/NFS to data LIFs */
	{"ontap-node", "agent", T, 9883, BOTH},
	{"agent", "ontap-mgmt", T, 443, BOTH},
	{"agent", "ontap-data", T, 445, BOTH},
	{"agent", "ontap-data", T, 137, BOTH},
	{"agent", "ontap-data", U, 137, BOTH},
	{"agent", "ontap-data", U, 138, BOTH},
	{"agent", "ontap-data", T, 139, BOTH},
	{"agent", "ontap-data", T, 2049, BOTH},
	{"agent", "ontap-data", U, 2049, BOTH},
	{"agent", "ontap-data", T, 111, BOTH},
	{"agent", "ontap-data", U, 111, BOTH},
	/* PowerScale using CEE and RabbitMQ: 12228 into CEE, 22 and 8080, SMB */
	{"powerscale", "cee", T, 12228, BOTH},
	{"agent", "powerscale", T, 22, BOTH},
	{"agent", "powerscale", T, 8080, BOTH},
	{"agent", "powerscale", T, 445, BOTH},
	{"agent", "powerscale", T, 137, BOTH},
	{"agent", "powerscale", U, 137, BOTH},
	{"agent", "powerscale", U, 138, BOTH},
	{"agent", "powerscale", T, 139, BOTH},
	/* PowerScale using Syslog: 6514 into the agent, 8080, SMB, NFS */
	{"powerscale", "agent", T, 6514, BOTH},
	{"agent", "powerscale", T, 2049, BOTH},
	{"agent", "powerscale", U, 2049, BOTH},
	{"agent", "powerscale", T, 111, BOTH},
	{"agent", "powerscale", U, 111, BOTH},
	/* Unity using CEE and RabbitMQ (SMB only), and using CEE HTTP: 12228 into CEE, 9843 CEE -> agent, 443,
	 * SMB. The NFS rows of the Unity tables are resolved away (Unity is SMB only). */
	{"unity", "cee", T, 12228, BOTH},
	{"cee", "agent", T, 9843, BOTH},
	{"agent", "unity", T, 443, BOTH},
	{"agent", "unity", T, 445, BOTH},
	{"agent", "unity", T, 137, BOTH},
	{"agent", "unity", U, 137, BOTH},
	{"agent", "unity", U, 138, BOTH},
	{"agent", "unity", T, 139, BOTH},
	/* PowerStore: 12228 into CEE, 9843 only when CEE is not on the agent, 443, SMB */
	{"powerstore", "cee", T, 12228, BOTH},
	{"agent", "powerstore", T, 443, BOTH},
	{"agent", "powerstore", T, 445, BOTH},
	{"agent", "powerstore", T, 137, BOTH},
	{"agent", "powerstore", U, 137, BOTH},
	{"agent", "powerstore", U, 138, BOTH},
	{"agent", "powerstore", T, 139, BOTH},
};
#define NSEED (sizeof(seed) / sizeof(seed[0]))

struct world {
	struct rules r;
	struct site s;
	struct graph g;
};

static char *variant_text(void)
{
	FILE *f = fopen("rules/demo.site", "r");
	CU_ASSERT_FATAL(f != NULL);
	char *buf = xcalloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	fclose(f);
	buf[n] = '\0';
	static const char *const swaps[][2] = {
		{"set tls required", "set tls optional"},
		{"install=appliance", "install=rhel     "},
		{"partner=ntx1 brokers", "partner=ntx1 data=nfs brokers"},
		{"cee=agent-pstore", "cee=cee1"},
	};
	for (size_t i = 0; i < 4; i++) {
		char *at = strstr(buf, swaps[i][0]);
		CU_ASSERT_FATAL(at != NULL);
		size_t a = strlen(swaps[i][0]), b = strlen(swaps[i][1]);
		memmove(at + b, at + a, strlen(at + a) + 1);
		memcpy(at, swaps[i][1], b);
	}
	return buf;
}

static void load(struct world *w, bool variant)
{
	struct diag d;
	diag_init(&d);
	rules_init(&w->r);
	CU_ASSERT_FATAL(rules_load(&w->r, "rules/peergfs.rules", &d) == 0);
	const char *path = "rules/demo.site";
	if (variant) {
		char *text = variant_text();
		path = tu_write("variant.site", text, (size_t)-1);
		free(text);
	}
	int rc = site_load(&w->s, path, &w->r, &d);
	diag_print(&d, stderr);
	CU_ASSERT_FATAL(rc == 0);
	graph_build(&w->g, &w->r, &w->s);
	diag_free(&d);
}

static void unload(struct world *w)
{
	graph_free(&w->g);
	site_free(&w->s);
	rules_free(&w->r);
}

static bool end_has_role(const struct world *w, int end, const char *role)
{
	if (end == GRAPH_INTERNET)
		return strcmp(role, "internet") == 0;
	return site_host_has_role(&w->s.hosts[end], rules_role_find(&w->r, role));
}

static bool expansion_has(const struct world *w, const struct seed_row *row)
{
	for (size_t i = 0; i < w->g.nedges; i++) {
		const struct graph_edge *e = &w->g.edges[i];
		if (e->level != LEVEL_FORBID && e->proto == row->proto && e->port == row->port &&
		    end_has_role(w, e->client, row->client) && end_has_role(w, e->server, row->server))
			return true;
	}
	return false;
}

static void check_site(bool variant)
{
	struct world w;
	load(&w, variant);
	int which = variant ? VARIANT : DEMO;
	for (size_t i = 0; i < NSEED; i++) {
		if (!(seed[i].sites & which))
			continue;
		bool ok = expansion_has(&w, &seed[i]);
		if (!ok)
			fprintf(stderr, "\nmissing from the %s expansion: %s -> %s %s/%u\n", variant ? "variant" : "demo",
				seed[i].client, seed[i].server, rules_proto_name(seed[i].proto), seed[i].port);
		CU_ASSERT(ok);
	}
	/* Nothing outside the seed: every expanded edge matches a row of the table. */
	for (size_t i = 0; i < w.g.nedges; i++) {
		const struct graph_edge *e = &w.g.edges[i];
		if (e->level == LEVEL_FORBID)
			continue;
		bool found = false;
		for (size_t k = 0; k < NSEED && !found; k++)
			found = seed[k].proto == e->proto && seed[k].port == e->port &&
				end_has_role(&w, e->client, seed[k].client) && end_has_role(&w, e->server, seed[k].server);
		if (!found)
			fprintf(stderr, "\nnot in the seed: %s -> %s %s/%u (%s)\n", graph_end_name(&w.g, e->client),
				graph_end_name(&w.g, e->server), rules_proto_name(e->proto), e->port,
				w.r.edges[e->rule].requirement);
		CU_ASSERT(found);
	}
	unload(&w);
}

static void test_demo_expansion_matches_the_seed_table(void)
{
	check_site(false);
}

static void test_variant_expansion_matches_the_seed_table(void)
{
	check_site(true);
}

static int find(const struct world *w, const char *c, const char *s, uint8_t proto, uint16_t port)
{
	int ci = site_host_find(&w->s, c), si = strcmp(s, "internet") ? site_host_find(&w->s, s) : GRAPH_INTERNET;
	return graph_find(&w->g, ci, si, proto, port);
}

static void test_cee_http_9843_only_when_cee_is_another_host(void)
{
	struct world w;
	load(&w, false);
	CU_ASSERT(find(&w, "cee1", "agent-unityh", T, 9843) >= 0);       /* Unity CEE HTTP, separate CEE host */
	CU_ASSERT_EQUAL(find(&w, "agent-pstore", "agent-pstore", T, 9843), -1);
	for (size_t i = 0; i < w.g.nedges; i++)
		CU_ASSERT(w.g.edges[i].port != 9843 || w.g.edges[i].server != site_host_find(&w.s, "agent-pstore"));
	/* Unity with CEE on the agent: 12228 goes to the agent itself, and there is no 9843 at all. */
	CU_ASSERT(find(&w, "unity1-nas", "agent-unity", T, 12228) >= 0);
	CU_ASSERT_EQUAL(find(&w, "agent-unity", "agent-unity", T, 9843), -1);
	unload(&w);
	load(&w, true);
	CU_ASSERT(find(&w, "cee1", "agent-pstore", T, 9843) >= 0);
	unload(&w);
}

static void test_agents_reach_exactly_their_assigned_brokers(void)
{
	struct world w;
	load(&w, false);
	CU_ASSERT(find(&w, "agent-ntx", "pmc1", T, 61617) >= 0);
	CU_ASSERT(find(&w, "agent-ntx", "broker2", T, 61617) >= 0);
	CU_ASSERT(find(&w, "edge1", "pmc1", T, 61617) >= 0);
	CU_ASSERT_EQUAL(find(&w, "edge1", "broker2", T, 61617), -1);
	/* Under "set tls required" plain 61616 is a forbidden edge, not an allowed one. */
	int e = find(&w, "agent-ntx", "pmc1", T, 61616);
	CU_ASSERT(e >= 0 && w.g.edges[e].level == LEVEL_FORBID);
	unload(&w);
}

static void test_storage_edges_join_only_partners(void)
{
	struct world w;
	load(&w, false);
	CU_ASSERT(find(&w, "ontap1-n1", "agent-ontap", T, 9883) >= 0);
	CU_ASSERT_EQUAL(find(&w, "ontap1-n1", "agent-fsxn", T, 9883), -1);
	CU_ASSERT_EQUAL(find(&w, "agent-ntx", "ontap1-data", T, 445), -1);
	CU_ASSERT(find(&w, "agent-fsxn", "fsxn1-data", T, 2049) >= 0);
	CU_ASSERT_EQUAL(find(&w, "agent-fsxn", "fsxn1-data", T, 445), -1); /* data=nfs: no SMB */
	CU_ASSERT_EQUAL(find(&w, "agent-pscee", "ps1-n1", T, 2049), -1);   /* CEE mode: no NFS */
	CU_ASSERT_EQUAL(find(&w, "agent-pssys", "ps2-n1", T, 22), -1);     /* syslog mode: no SSH */
	unload(&w);
}

static void test_port_parameters_follow_site_and_host_overrides(void)
{
	const char *rs = tu_write("params.site",
				  "set webui_port 9443\n"
				  "host pmc1 192.0.2.10 role=pmc,broker\n"
				  "host adm 192.0.2.128/25 role=client\n"
				  "host e1 192.0.2.20 role=agent,edge\n"
				  "host m1 192.0.2.21 role=agent,mds mds_port=9446\n"
				  "host m2 192.0.2.22 role=agent,mds\n"
				  "host iq 192.0.2.30 role=peeriq install=rhel\n",
				  (size_t)-1);
	struct world w;
	struct diag d;
	diag_init(&d);
	rules_init(&w.r);
	CU_ASSERT_FATAL(rules_load(&w.r, "rules/peergfs.rules", &d) == 0);
	CU_ASSERT_FATAL(site_load(&w.s, rs, &w.r, &d) == 0);
	graph_build(&w.g, &w.r, &w.s);
	CU_ASSERT(find(&w, "adm", "pmc1", T, 9443) >= 0);
	CU_ASSERT_EQUAL(find(&w, "adm", "pmc1", T, 8443), -1);
	CU_ASSERT(find(&w, "e1", "m1", T, 9446) >= 0);
	CU_ASSERT(find(&w, "e1", "m2", T, 8446) >= 0);
	CU_ASSERT(find(&w, "adm", "iq", T, 4430) >= 0);
	CU_ASSERT_EQUAL(find(&w, "adm", "iq", T, 443), -1);
	unload(&w);
	diag_free(&d);
}

static void test_role_graph_without_a_site_lists_rule_edges(void)
{
	struct rules r;
	struct diag d;
	diag_init(&d);
	rules_init(&r);
	CU_ASSERT_FATAL(rules_load(&r, "rules/peergfs.rules", &d) == 0);
	struct graph g;
	graph_build(&g, &r, NULL);
	bool agent_broker = false, broker_back = false;
	int agent = rules_role_find(&r, "agent"), broker = rules_role_find(&r, "broker");
	for (size_t i = 0; i < g.nedges; i++) {
		agent_broker |= g.edges[i].client == agent && g.edges[i].server == broker && g.edges[i].port == 61617;
		broker_back |= g.edges[i].client == broker && g.edges[i].server == agent;
	}
	CU_ASSERT(agent_broker);
	CU_ASSERT(!broker_back);
	graph_free(&g);
	rules_free(&r);
	diag_free(&d);
}

static void test_graph_json_cli_lists_host_edges(void)
{
	char *cmd = xasprintf("%s graph -s rules/demo.site --format json", tu_flowaudit());
	char *out, *err;
	CU_ASSERT_EQUAL(tu_run(cmd, &out, &err), 0);
	json_t *j = json_loads(out, 0, NULL);
	CU_ASSERT_FATAL(j != NULL);
	json_t *edges = json_object_get(j, "edges");
	size_t i;
	json_t *e;
	bool fpolicy = false;
	json_array_foreach(edges, i, e) {
		const char *req = json_string_value(json_object_get(e, "requirement"));
		CU_ASSERT_PTR_NOT_NULL(json_object_get(e, "client_addr"));
		if (req && !strcmp(req, "ONTAP FPolicy notifications") &&
		    !strcmp(json_string_value(json_object_get(e, "client")), "ontap1-n2") &&
		    !strcmp(json_string_value(json_object_get(e, "server")), "agent-ontap") &&
		    !strcmp(json_string_value(json_object_get(e, "server_addr")), "198.51.100.11") &&
		    json_integer_value(json_object_get(e, "port")) == 9883 &&
		    !strcmp(json_string_value(json_object_get(e, "level")), "required"))
			fpolicy = true;
	}
	CU_ASSERT(fpolicy);
	json_decref(j);
	free(cmd);
	free(out);
	free(err);
}

/* A site whose pairs would expand to millions of paths is refused with the rule and the counts; the demo
 * site passes. */
static void test_huge_pair_expansions_are_refused(void)
{
	struct diag d;
	diag_init(&d);
	struct rules r;
	rules_init(&r);
	CU_ASSERT_FATAL(rules_load(&r, "rules/peergfs.rules", &d) == 0);
	size_t cap = 3000 * 48, len = 0;
	char *text = xmalloc(cap);
	for (int i = 0; i < 3000; i++)
		len += (size_t)snprintf(text + len, cap - len, "host b%d 10.%d.%d.1 role=broker\n", i, i / 250, i % 250);
	struct site s;
	CU_ASSERT_FATAL(site_load(&s, tu_write("brokers.site", text, len), &r, &d) == 0);
	CU_ASSERT_EQUAL(graph_check_size(&r, &s, &d), -1);
	CU_ASSERT_EQUAL(d.n, 1);
	if (d.n) {
		CU_ASSERT_PTR_NOT_NULL(strstr(d.msgs[0].msg, "expected paths, more than"));
		CU_ASSERT_PTR_NOT_NULL(strstr(d.msgs[0].msg, "3000 broker x 3000 broker"));
	}
	site_free(&s);
	diag_free(&d);
	diag_init(&d);
	CU_ASSERT_FATAL(site_load(&s, "rules/demo.site", &r, &d) == 0);
	CU_ASSERT_EQUAL(graph_check_size(&r, &s, &d), 0);
	site_free(&s);
	rules_free(&r);
	diag_free(&d);
	free(text);
}

/* Prefix hosts: the longest prefix wins whatever the order of declaration, among thousands. */
static void test_prefix_lookup_takes_the_longest_match(void)
{
	struct diag d;
	diag_init(&d);
	struct rules r;
	rules_init(&r);
	CU_ASSERT_FATAL(rules_load(&r, "rules/peergfs.rules", &d) == 0);
	size_t cap = 20000 * 48, len = 0;
	char *text = xmalloc(cap);
	len += (size_t)snprintf(text + len, cap - len, "host wide 10.0.0.0/8 role=client\nhost v6 2001:db8::/32 role=client\n");
	for (int i = 0; i < 20000; i++)
		len += (size_t)snprintf(text + len, cap - len, "host n%d 10.%d.%d.%d/28 role=client\n", i, i >> 12,
					(i >> 4) & 255, (i & 15) << 4);
	len += (size_t)snprintf(text + len, cap - len, "host one 10.0.0.17 role=agent\nhost mid 10.9.0.0/16 role=client\n");
	struct site s;
	CU_ASSERT_FATAL(site_load(&s, tu_write("prefixes.site", text, len), &r, &d) == 0);
	static const struct {
		const char *addr, *host;
	} want[] = {{"10.0.0.17", "one"}, {"10.0.0.18", "n1"}, {"10.0.1.5", "n16"}, {"10.4.226.0", "wide"},
		    {"10.4.225.255", "n19999"}, {"10.9.255.1", "mid"}, {"10.200.0.1", "wide"}, {"2001:db8:5::1", "v6"},
		    {"192.0.2.1", NULL}};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint8_t a[16];
		CU_ASSERT_FATAL(addr_parse(want[i].addr, a));
		int h = site_lookup(&s, a);
		const char *got = h >= 0 ? s.hosts[h].name : "(none)";
		CU_ASSERT_STRING_EQUAL(got, want[i].host ? want[i].host : "(none)");
	}
	site_free(&s);
	rules_free(&r);
	diag_free(&d);
	free(text);
}

/* data= takes a list: a multi-protocol agent expects SMB and NFS paths to its partner; smb alone (or no
 * data=, the pack's default) SMB only; a value outside the pack's list is an error naming the valid ones. */
static void test_data_takes_a_list_of_protocols(void)
{
	struct diag d;
	diag_init(&d);
	struct rules r;
	rules_init(&r);
	CU_ASSERT_FATAL(rules_load(&r, "rules/peergfs.rules", &d) == 0);
	static const struct {
		const char *data;
		bool smb, nfs;
	} cases[] = {{"", true, false}, {" data=smb", true, false}, {" data=nfs", false, true},
		     {" data=smb,nfs", true, true}, {" data=nfs,smb", true, true}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = xasprintf("host a1 192.0.2.1 role=agent partner=ntx1%s\n"
				       "host ntx 203.0.113.10 role=nutanix-files system=ntx1\n", cases[i].data);
		struct site s;
		CU_ASSERT_FATAL(site_load(&s, tu_write("data.site", text, (size_t)-1), &r, &d) == 0);
		struct graph g;
		graph_build(&g, &r, &s);
		bool smb = graph_find(&g, 0, 1, IPPROTO_TCP, 445) >= 0, nfs = graph_find(&g, 0, 1, IPPROTO_TCP, 2049) >= 0;
		if (smb != cases[i].smb || nfs != cases[i].nfs)
			fprintf(stderr, "\ndata '%s': smb %d nfs %d\n", cases[i].data, smb, nfs);
		CU_ASSERT(smb == cases[i].smb && nfs == cases[i].nfs);
		graph_free(&g);
		site_free(&s);
		free(text);
	}
	struct site s;
	CU_ASSERT_EQUAL(site_load(&s, tu_write("data.site", "host a1 192.0.2.1 role=agent data=smb,cifs\n", (size_t)-1), &r, &d), -1);
	CU_ASSERT(d.n == 1 && strstr(d.msgs[0].msg, "'cifs' is not a value of 'data'") && strstr(d.msgs[0].msg, "(smb, nfs)"));
	site_free(&s);
	diag_free(&d);
	diag_init(&d);
	CU_ASSERT_EQUAL(site_load(&s, tu_write("data.site", "host p 192.0.2.1 role=peeriq install=rhel,appliance\n", (size_t)-1), &r, &d), -1);
	CU_ASSERT(d.n == 1 && strstr(d.msgs[0].msg, "'install' takes one value"));
	site_free(&s);
	rules_free(&r);
	diag_free(&d);
}

void suite_graph(void)
{
	CU_pSuite s = CU_add_suite("graph", NULL, NULL);
	TU_ADD(s, test_demo_expansion_matches_the_seed_table);
	TU_ADD(s, test_variant_expansion_matches_the_seed_table);
	TU_ADD(s, test_cee_http_9843_only_when_cee_is_another_host);
	TU_ADD(s, test_agents_reach_exactly_their_assigned_brokers);
	TU_ADD(s, test_storage_edges_join_only_partners);
	TU_ADD(s, test_port_parameters_follow_site_and_host_overrides);
	TU_ADD(s, test_role_graph_without_a_site_lists_rule_edges);
	TU_ADD(s, test_graph_json_cli_lists_host_edges);
	TU_ADD(s, test_huge_pair_expansions_are_refused);
	TU_ADD(s, test_prefix_lookup_takes_the_longest_match);
	TU_ADD(s, test_data_takes_a_list_of_protocols);
}
