/* test_infer.c: settled flows and the PeerGFS pack -> an inferred site's text (roles, attributes, what is
 * left out and why). Records are built here, as the flow table hands them over. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "flowaudit/infer.h"
#include "flowaudit/site.h"
#include "flowaudit/util.h"
#include "testutil.h"

struct world {
	struct rules r;
	struct infer *in;
	char *text;
};

static void setup_bounded(struct world *w, size_t max_addrs)
{
	struct diag d;
	diag_init(&d);
	rules_init(&w->r);
	CU_ASSERT_FATAL(rules_load(&w->r, "rules/peergfs.rules", &d) == 0);
	w->in = infer_new(&w->r, max_addrs);
	w->text = NULL;
	diag_free(&d);
}

static void setup(struct world *w)
{
	setup_bounded(w, 0);
}

static void teardown(struct world *w)
{
	free(w->text);
	infer_free(w->in);
	rules_free(&w->r);
}

/* n attempts from c to s:port, answered or not. */
static void flows(struct world *w, const char *c, const char *s, uint8_t proto, uint16_t port, bool answered, int n)
{
	for (int i = 0; i < n; i++) {
		struct flow_record r;
		memset(&r, 0, sizeof(r));
		addr_parse(c, r.client);
		addr_parse(s, r.server);
		r.proto = proto;
		r.client_port = (uint16_t)(40000 + i);
		r.server_port = port;
		r.verdict = answered ? FV_ESTABLISHED : FV_NO_REPLY;
		r.open = answered ? FO_OPEN : FO_FAILED;
		infer_flows(w->in, &r, 1);
	}
}

static const char *site(struct world *w)
{
	w->text = infer_site_text(w->in, "test.pcap");
	return w->text;
}

/* The "host" line of an address, or "" (copied: the text is the world's). */
static const char *line_of(const char *text, const char *addr)
{
	static char buf[256];
	buf[0] = '\0';
	char want[64];
	snprintf(want, sizeof(want), " %s role=", addr);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, "host ", 5)) {
			const char *e = strchr(l, '\n');
			size_t n = e ? (size_t)(e - l) : strlen(l);
			if (n < sizeof(buf) && memmem(l, n, want, strlen(want))) {
				memcpy(buf, l, n);
				buf[n] = '\0';
			}
		}
	return buf;
}

static void test_fpolicy_names_the_agent_and_the_ontap_nodes_even_unanswered(void)
{
	struct world w;
	setup(&w);
	/* never answered: the SYNs alone say who serves FPolicy and who sends it */
	flows(&w, "203.0.113.20", "198.51.100.11", IPPROTO_TCP, 9883, false, 3);
	flows(&w, "203.0.113.21", "198.51.100.11", IPPROTO_TCP, 9883, true, 1);
	flows(&w, "198.51.100.11", "203.0.113.22", IPPROTO_TCP, 443, true, 1);
	const char *t = site(&w);
	CU_ASSERT_STRING_EQUAL(line_of(t, "198.51.100.11"), "host agent-1 198.51.100.11 role=agent partner=system-1");
	CU_ASSERT_STRING_EQUAL(line_of(t, "203.0.113.20"), "host ontap-node-1 203.0.113.20 role=ontap-node system=system-1");
	CU_ASSERT_STRING_EQUAL(line_of(t, "203.0.113.21"), "host ontap-node-2 203.0.113.21 role=ontap-node system=system-1");
	/* the agent's HTTPS peer in the same system: the ONTAP management LIF, not an outside web server */
	CU_ASSERT_STRING_EQUAL(line_of(t, "203.0.113.22"), "host ontap-mgmt-1 203.0.113.22 role=ontap-mgmt system=system-1");
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "# ontap-node-1 203.0.113.20 (confidence high: tcp/9883 names its role): uses tcp/9883 "
					 "of 1 host (3 flows, 0 open)"));
	/* HTTPS served to the agent fits a Unity or PowerStore too: chosen (its system has ONTAP nodes), not sure */
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "# ontap-mgmt-1 203.0.113.22 (confidence low: its ports fit other roles too)"));
	struct infer_summary s = infer_summary(w.in);
	CU_ASSERT_EQUAL(s.hosts, 4);
	CU_ASSERT_EQUAL(s.flows, 5);
	CU_ASSERT_TRUE(infer_doubtful(&s, "ontap-mgmt-1"));
	CU_ASSERT_FALSE(infer_doubtful(&s, "agent-1"));
	infer_summary_free(&s);
	/* and it loads as a site */
	struct site st;
	struct diag d;
	diag_init(&d);
	CU_ASSERT_EQUAL(site_load_text(&st, "(inferred)", t, &w.r, &d), 0);
	CU_ASSERT_EQUAL(st.nhosts, 4);
	site_free(&st);
	diag_free(&d);
	teardown(&w);
}

static void test_a_notification_mode_is_chosen_by_the_paths_seen(void)
{
	struct world w;
	setup(&w);
	/* PowerScale by syslog: 6514 to the agent, the agent's REST and NFS to the node */
	flows(&w, "203.0.113.50", "198.51.100.14", IPPROTO_TCP, 6514, true, 1);
	flows(&w, "198.51.100.14", "203.0.113.50", IPPROTO_TCP, 8080, true, 1);
	flows(&w, "198.51.100.14", "203.0.113.50", IPPROTO_TCP, 2049, true, 1);
	/* PowerScale through CEE on the agent: 12228, SSH, REST, SMB */
	flows(&w, "203.0.113.40", "198.51.100.13", IPPROTO_TCP, 12228, true, 1);
	flows(&w, "198.51.100.13", "203.0.113.40", IPPROTO_TCP, 22, true, 1);
	flows(&w, "198.51.100.13", "203.0.113.40", IPPROTO_TCP, 8080, true, 1);
	flows(&w, "198.51.100.13", "203.0.113.40", IPPROTO_TCP, 445, true, 1);
	const char *t = site(&w);
	CU_ASSERT_STRING_EQUAL(line_of(t, "203.0.113.50"), "host powerscale-1 203.0.113.50 role=powerscale system=system-1 notify=syslog");
	CU_ASSERT_STRING_EQUAL(line_of(t, "198.51.100.14"), "host agent-1 198.51.100.14 role=agent partner=system-1 data=nfs");
	CU_ASSERT_STRING_EQUAL(line_of(t, "203.0.113.40"),
			       "host powerscale-2 203.0.113.40 role=powerscale system=system-2 notify=cee cee=agent-2");
	CU_ASSERT_STRING_EQUAL(line_of(t, "198.51.100.13"), "host agent-2 198.51.100.13 role=agent,cee partner=system-2");
	teardown(&w);
}

static void test_brokers_and_management_from_the_agents_links(void)
{
	struct world w;
	setup(&w);
	flows(&w, "203.0.113.20", "198.51.100.11", IPPROTO_TCP, 9883, true, 1);
	flows(&w, "198.51.100.11", "192.0.2.10", IPPROTO_TCP, 61617, true, 1);
	flows(&w, "198.51.100.11", "192.0.2.11", IPPROTO_TCP, 61617, true, 1);
	flows(&w, "192.0.2.130", "192.0.2.10", IPPROTO_TCP, 8443, true, 1);
	flows(&w, "192.0.2.10", "198.18.0.80", IPPROTO_TCP, 443, true, 1);
	const char *t = site(&w);
	CU_ASSERT_STRING_EQUAL(line_of(t, "192.0.2.10"), "host pmc-1 192.0.2.10 role=pmc,broker");
	CU_ASSERT_STRING_EQUAL(line_of(t, "192.0.2.11"), "host broker-1 192.0.2.11 role=broker");
	CU_ASSERT_STRING_EQUAL(line_of(t, "192.0.2.130"), "host client-1 192.0.2.130 role=client");
	CU_ASSERT_STRING_EQUAL(line_of(t, "198.51.100.11"),
			       "host agent-1 198.51.100.11 role=agent partner=system-1 brokers=pmc-1,broker-1");
	/* the PMC's update server is the internet: no host, and not listed as left out */
	CU_ASSERT_STRING_EQUAL(line_of(t, "198.18.0.80"), "");
	CU_ASSERT_PTR_NULL(strstr(t, "198.18.0.80"));
	teardown(&w);
}

static void test_it_refuses_to_guess(void)
{
	struct world w;
	setup(&w);
	/* SSH alone: the pack's "agent -> powerscale tcp/22", but nothing else of either */
	flows(&w, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 22, true, 5);
	/* SMB between two addresses: any of five storage roles, and a client that may be anything */
	flows(&w, "10.0.1.1", "10.0.1.2", IPPROTO_TCP, 445, true, 2);
	const char *t = site(&w);
	CU_ASSERT_PTR_NULL(strstr(t, "\nhost "));
	CU_ASSERT_EQUAL(infer_summary(w.in).hosts, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "#   10.0.0.2: too little evidence for any role"));
	teardown(&w);

	/* Unity and PowerStore use the same ports in the pack: both named, neither chosen */
	setup(&w);
	flows(&w, "203.0.113.70", "198.51.100.17", IPPROTO_TCP, 12228, true, 1);
	flows(&w, "198.51.100.17", "203.0.113.70", IPPROTO_TCP, 443, true, 1);
	flows(&w, "198.51.100.17", "203.0.113.70", IPPROTO_TCP, 445, true, 1);
	flows(&w, "198.51.100.17", "192.0.2.10", IPPROTO_TCP, 61617, true, 1);
	flows(&w, "198.51.100.17", "192.0.2.11", IPPROTO_TCP, 61617, true, 1);
	flows(&w, "198.51.100.16", "192.0.2.10", IPPROTO_TCP, 61617, true, 1);
	flows(&w, "198.51.100.16", "192.0.2.11", IPPROTO_TCP, 61617, true, 1);
	flows(&w, "203.0.113.20", "198.51.100.16", IPPROTO_TCP, 9883, true, 1);
	t = site(&w);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "#   203.0.113.70: could be unity or powerstore, the same evidence for each;"));
	CU_ASSERT_STRING_EQUAL(line_of(t, "203.0.113.70"), "");
	teardown(&w);
}

static void test_addresses_past_the_bound_are_counted_not_read(void)
{
	struct world w;
	setup_bounded(&w, 3);
	flows(&w, "203.0.113.20", "198.51.100.11", IPPROTO_TCP, 9883, true, 2);
	flows(&w, "203.0.113.21", "198.51.100.11", IPPROTO_TCP, 9883, true, 1); /* the third address */
	flows(&w, "203.0.113.22", "198.51.100.11", IPPROTO_TCP, 9883, true, 4); /* past the bound */
	flows(&w, "203.0.113.20", "198.51.100.11", IPPROTO_TCP, 9883, true, 1); /* known addresses: read */
	const char *t = site(&w);
	struct infer_summary s = infer_summary(w.in);
	CU_ASSERT_EQUAL(s.addrs, 3);
	CU_ASSERT_EQUAL(s.past_limit, 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "# 4 flows of addresses past the first 3 were not read"));
	CU_ASSERT_STRING_EQUAL(line_of(t, "203.0.113.22"), "");
	infer_summary_free(&s);
	teardown(&w);
}

void suite_infer(void)
{
	CU_pSuite s = CU_add_suite("infer", NULL, NULL);
	TU_ADD(s, test_fpolicy_names_the_agent_and_the_ontap_nodes_even_unanswered);
	TU_ADD(s, test_a_notification_mode_is_chosen_by_the_paths_seen);
	TU_ADD(s, test_brokers_and_management_from_the_agents_links);
	TU_ADD(s, test_it_refuses_to_guess);
	TU_ADD(s, test_addresses_past_the_bound_are_counted_not_read);
}
