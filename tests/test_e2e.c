/* test_e2e.c: the real binary on the captures in pcaps/, read back through its JSON report: every
 * status and reason on every link type, IPv4 and IPv6; the demo; bad input; atomic -o; merging. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "flowaudit/classify.h"
#include "flowaudit/util.h"
#include "testutil.h"

struct expect {
	const char *client;
	const char *status;
	const char *reason;     /* NULL: JSON null */
	int attempts;
};

/* pcaps/statuses.flows, one admin address per outcome (tcp/8443 to pmc1). */
static const struct expect statuses[] = {
	{"192.0.2.130", "ok", NULL, 1},
	{"192.0.2.131", "blocked", "no-reply", 1},
	{"192.0.2.132", "blocked", "reset", 1},
	{"192.0.2.133", "blocked", "icmp-prohibited", 1},
	{"192.0.2.134", "blocked", "icmp-unreachable", 1},
	{"192.0.2.135", "ok", NULL, 1},          /* midstream, both ways */
	{"192.0.2.136", "ok", NULL, 1},          /* one-sided: SYN then the client's ACK */
	{"192.0.2.137", "ok", NULL, 1},          /* SYN-ACK stamped before the SYN */
	{"192.0.2.138", "ok", NULL, 1},          /* RST after the handshake */
	{"192.0.2.139", "ok", NULL, 1},          /* SPAN duplicates: still one attempt */
	{"192.0.2.140", "degraded", "no-reply", 2},
	{"192.0.2.141", "ok", NULL, 1},          /* retransmitted SYN-ACK */
	{"192.0.2.142", "blocked", "no-reply", 1}, /* dropped, and every SYN duplicated by the SPAN */
	{"192.0.2.150", "unverified", NULL, 1},  /* a lone SYN 0.5 s before the end */
	{"2001:db8:a::130", "ok", NULL, 1},
	{"2001:db8:a::131", "blocked", "no-reply", 1},
	{"2001:db8:a::132", "blocked", "reset", 1},
	{"2001:db8:a::133", "blocked", "icmp-prohibited", 1},
	{"2001:db8:a::134", "blocked", "icmp-unreachable", 1},
	{"2001:db8:a::135", "ok", NULL, 1},
	{"2001:db8:a::136", "ok", NULL, 1},
	{"2001:db8:a::137", "ok", NULL, 1},
	{"2001:db8:a::139", "ok", NULL, 1},
	{"2001:db8:a::140", "degraded", "no-reply", 2},
	{"2001:db8:a::150", "unverified", NULL, 1},
};

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void check_statuses(const char *pcap)
{
	char *args = xasprintf("-r %s -s rules/demo.site", pcap);
	int st;
	json_t *j = tu_audit_json(args, &st);
	CU_ASSERT_FATAL(j != NULL);
	CU_ASSERT_EQUAL(st, 1);
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		const struct expect *x = &statuses[i];
		json_t *e = tu_edge_by_client(j, x->client, 8443);
		bool ok = e != NULL;
		if (e) {
			const char *status = json_string_value(json_object_get(e, "status"));
			json_t *reason = json_object_get(e, "reason");
			ok = status && !strcmp(status, x->status) &&
			     (x->reason ? json_is_string(reason) && !strcmp(json_string_value(reason), x->reason)
					: json_is_null(reason)) &&
			     json_integer_value(json_object_get(e, "attempts")) == x->attempts &&
			     !strcmp(json_string_value(json_object_get(e, "requirement")), "Admins to PMC Web UI") &&
			     !strcmp(json_string_value(json_object_get(e, "server")), "pmc1");
		}
		if (!ok) {
			char *dump = e ? json_dumps(e, JSON_COMPACT) : NULL;
			fprintf(stderr, "\n%s: %s: want %s/%s x%d, got %s\n", pcap, x->client, x->status,
				x->reason ? x->reason : "null", x->attempts, dump ? dump : "no row");
			free(dump);
		}
		CU_ASSERT(ok);
	}
	/* UDP: answered portmapper, port-unreachable NFS; both optional rows. */
	int udp_rows = 0;
	size_t k;
	json_t *u;
	json_array_foreach(json_object_get(j, "edges"), k, u) {
		if (strcmp(str(u, "proto"), "udp") != 0)
			continue;
		udp_rows++;
		CU_ASSERT_STRING_EQUAL(str(u, "level"), "optional");
		if (json_integer_value(json_object_get(u, "port")) == 111)
			CU_ASSERT_STRING_EQUAL(str(u, "status"), "ok");
		if (json_integer_value(json_object_get(u, "port")) == 2049)
			CU_ASSERT_STRING_EQUAL(str(u, "reason"), "icmp-unreachable");
	}
	CU_ASSERT_EQUAL(udp_rows, 2);
	/* The lone RST is no attempt at all; RDP between site hosts is unexpected. */
	json_t *unexp = json_object_get(j, "unexpected");
	bool rdp = false;
	size_t i;
	json_t *x;
	json_array_foreach(unexp, i, x) {
		if (json_integer_value(json_object_get(x, "port")) == 3389)
			rdp = !strcmp(json_string_value(json_object_get(x, "client")), "agent-unityh");
		CU_ASSERT(json_integer_value(json_object_get(x, "port")) != 8443);
	}
	CU_ASSERT(rdp);
	json_t *sum = json_object_get(j, "summary");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(sum, "unverified")), 2);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(sum, "degraded")), 2);
	json_decref(j);
	free(args);
}

static void test_every_status_on_ethernet(void) { check_statuses("pcaps/statuses-eth.pcap"); }
static void test_every_status_with_a_vlan_tag(void) { check_statuses("pcaps/statuses-vlan.pcap"); }
static void test_every_status_with_qinq_tags(void) { check_statuses("pcaps/statuses-qinq.pcap"); }
static void test_every_status_on_linux_sll(void) { check_statuses("pcaps/statuses-sll.pcap"); }
static void test_every_status_on_linux_sll2(void) { check_statuses("pcaps/statuses-sll2.pcap"); }
static void test_every_status_on_raw_ip(void) { check_statuses("pcaps/statuses-raw.pcap"); }
static void test_every_status_on_bsd_null(void) { check_statuses("pcaps/statuses-null.pcap"); }

/* The same capture mirrored inside each remote-mirroring encapsulation gives the same edges and
 * unexpected rows as the plain one, and the report counts the encapsulation. */
static void test_wrapped_captures_give_the_same_report(void)
{
	static const char *const kinds[][2] = {
		{"gre", "gre"}, {"erspan1", "erspan1"}, {"erspan2", "erspan2"}, {"erspan3", "erspan3"},
		{"vxlan", "vxlan"}, {"geneve", "geneve"}, {"mpls", "mpls"}, {"pppoe", "pppoe"}, {"ipip", "ipip"},
	};
	int st;
	json_t *plain = tu_audit_json("-r pcaps/statuses-eth.pcap -s rules/demo.site --flows", &st);
	CU_ASSERT_FATAL(plain != NULL);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char *pcap = xasprintf("pcaps/statuses-%s.pcap", kinds[i][0]);
		check_statuses(pcap);
		char *args = xasprintf("-r %s -s rules/demo.site --flows", pcap);
		json_t *j = tu_audit_json(args, &st);
		CU_ASSERT_FATAL(j != NULL);
		bool same_edges = json_equal(json_object_get(j, "edges"), json_object_get(plain, "edges"));
		bool same_unexp = json_equal(json_object_get(j, "unexpected"), json_object_get(plain, "unexpected"));
		if (!same_edges || !same_unexp)
			fprintf(stderr, "\n%s: report differs from the unwrapped capture\n", pcap);
		CU_ASSERT(same_edges && same_unexp);
		json_t *enc = json_object_get(json_object_get(j, "capture"), "encapsulations");
		CU_ASSERT(json_integer_value(json_object_get(enc, kinds[i][1])) > 0);
		json_t *f0 = json_array_get(json_object_get(j, "flows"), 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(str(f0, "encapsulation"), kinds[i][1]));
		json_decref(j);
		free(args);
		free(pcap);
	}
	CU_ASSERT(json_is_null(json_object_get(json_array_get(json_object_get(plain, "flows"), 0), "encapsulation")));
	json_decref(plain);
}


static void test_demo_report_has_the_planted_findings(void)
{
	int st;
	json_t *j = tu_audit_json("-r pcaps/demo.pcap -s rules/demo.site", &st);
	CU_ASSERT_FATAL(j != NULL);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_STRING_EQUAL(str(j, "tool"), "flowaudit");
	json_t *in = json_array_get(json_object_get(j, "inputs"), 0);
	CU_ASSERT_STRING_EQUAL(str(in, "linktype"), "EN10MB");
	json_t *e = tu_edge_by_client(j, "203.0.113.21", 9883);
	CU_ASSERT(e && !strcmp(str(e, "status"), "blocked") && !strcmp(str(e, "reason"), "no-reply") &&
		  json_integer_value(json_object_get(e, "attempts")) == 3);
	e = tu_edge_by_client(j, "203.0.113.10", 9898);
	CU_ASSERT(e && !strcmp(str(e, "reason"), "icmp-prohibited"));
	e = tu_edge_by_client(j, "203.0.113.61", 12228);
	CU_ASSERT(e && !strcmp(str(e, "status"), "missing") && !strcmp(str(e, "server"), "cee1"));
	json_t *sum = json_object_get(j, "summary");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(sum, "blocked")), 5);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(sum, "missing")), 2);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(sum, "unexpected")), 4);
	json_t *hosts = json_object_get(j, "hosts");
	CU_ASSERT_EQUAL(json_array_size(hosts), 29);
	CU_ASSERT(json_integer_value(json_object_get(json_object_get(j, "capture"), "duplicates")) > 0);
	json_decref(j);
}

static void test_flows_array_carries_history_and_state(void)
{
	int st;
	json_t *j = tu_audit_json("-r pcaps/statuses-eth.pcap -s rules/demo.site --flows", &st);
	CU_ASSERT_FATAL(j != NULL);
	json_t *flows = json_object_get(j, "flows");
	size_t i;
	json_t *f;
	int seen = 0;
	json_array_foreach(flows, i, f) {
		const char *c = str(f, "client_addr");
		if (!strcmp(c, "192.0.2.130")) {
			CU_ASSERT_STRING_EQUAL(str(f, "state"), "established");
			CU_ASSERT_STRING_EQUAL(str(f, "history"), "ShADdFf");
			seen++;
		} else if (!strcmp(c, "192.0.2.132")) {
			CU_ASSERT_STRING_EQUAL(str(f, "state"), "reset");
			CU_ASSERT_STRING_EQUAL(str(f, "history"), "Sr");
			seen++;
		} else if (!strcmp(c, "192.0.2.135")) {
			CU_ASSERT_STRING_EQUAL(str(f, "state"), "midstream");
			CU_ASSERT_EQUAL(json_integer_value(json_object_get(f, "server_port")), 8443);
			seen++;
		}
	}
	CU_ASSERT_EQUAL(seen, 3);
	json_decref(j);
}

static void test_bpf_expression_narrows_the_capture(void)
{
	int st;
	json_t *j = tu_audit_json("-r pcaps/statuses-eth.pcap -s rules/demo.site 'host 192.0.2.130'", &st);
	CU_ASSERT_FATAL(j != NULL);
	CU_ASSERT(tu_edge_by_client(j, "192.0.2.130", 8443) != NULL);
	json_t *e = tu_edge_by_client(j, "192.0.2.131", 8443);
	CU_ASSERT_PTR_NULL(e);
	json_decref(j);
}

static void test_several_files_are_one_capture(void)
{
	int st;
	json_t *j = tu_audit_json("-r pcaps/statuses-eth.pcap -r pcaps/statuses-sll.pcap -s rules/demo.site", &st);
	CU_ASSERT_FATAL(j != NULL);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "inputs")), 2);
	/* The same flows twice: each attempt counted twice (different files are not SPAN copies). */
	json_t *e = tu_edge_by_client(j, "192.0.2.130", 8443);
	CU_ASSERT(e && json_integer_value(json_object_get(e, "attempts")) >= 1);
	json_decref(j);
}

/* The report is valid JSON whatever a name holds: quotes, backslashes and control characters escaped,
 * bytes that are not UTF-8 replaced by U+FFFD. */
static void test_json_strings_are_escaped_and_valid_utf8(void)
{
	FILE *f = fopen("pcaps/statuses-eth.pcap", "rb");
	CU_ASSERT_FATAL(f != NULL);
	static uint8_t buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	const char *path = tu_write("odd\"name\\\t\x01\xff\xc3\xa9.pcap", buf, n);
	char *args = xasprintf("-r '%s' -s rules/demo.site", path);
	int st;
	json_t *j = tu_audit_json(args, &st);
	CU_ASSERT_FATAL(j != NULL);
	const char *src = json_string_value(json_object_get(json_array_get(json_object_get(j, "inputs"), 0), "source"));
	char *want = xasprintf("%s/odd\"name\\\t\x01\xef\xbf\xbd\xc3\xa9.pcap", tu_dir());
	CU_ASSERT_PTR_NOT_NULL_FATAL(src);
	CU_ASSERT_STRING_EQUAL(src, want);
	free(want);
	free(args);
	json_decref(j);
}

static void expect_exit2(const char *args, const char *needle)
{
	char *cmd = xasprintf("%s %s", tu_flowaudit(), args);
	char *out, *err;
	int st = tu_run(cmd, &out, &err);
	CU_ASSERT_EQUAL(st, 2);
	CU_ASSERT_EQUAL(strlen(out), 0);
	if (!strstr(err, needle))
		fprintf(stderr, "\n%s: stderr lacks '%s': %s\n", cmd, needle, err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, needle));
	free(cmd);
	free(out);
	free(err);
}

static void test_unusable_input_exits_2_with_a_reason(void)
{
	expect_exit2("audit -r /nonexistent.pcap -s rules/demo.site", "/nonexistent.pcap: error: cannot open: No such file");
	expect_exit2("audit -r pcaps -s rules/demo.site", "pcaps: error: is a directory");
	expect_exit2("audit -r rules/demo.site -s rules/demo.site", "rules/demo.site: error: not a readable capture");
	const char *empty = tu_write("empty.pcap", "", 0);
	char *a = xasprintf("audit -r %s", empty);
	expect_exit2(a, "not a readable capture");
	free(a);
	expect_exit2("audit -r pcaps/demo.pcap -s rules/demo.site 'tcp port'", "bad filter expression");
	expect_exit2("audit -r pcaps/demo.pcap --format xml", "unknown format 'xml'");
	expect_exit2("audit -r pcaps/demo.pcap -s /nonexistent.site", "cannot open");
	expect_exit2("frobnicate", "unknown command 'frobnicate'");
}

static void test_truncated_capture_reports_what_was_read_and_where_it_was_cut(void)
{
	FILE *f = fopen("pcaps/demo.pcap", "rb");
	CU_ASSERT_FATAL(f != NULL);
	static uint8_t buf[100000];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	const char *cut = tu_write("cut.pcap", buf, n - 30);
	char *args = xasprintf("-r %s -s rules/demo.site", cut);
	int st;
	json_t *j = tu_audit_json(args, &st);
	CU_ASSERT_FATAL(j != NULL);
	CU_ASSERT_EQUAL(st, 1);
	json_t *warn = json_object_get(json_object_get(j, "capture"), "warnings");
	CU_ASSERT_EQUAL(json_array_size(warn), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_array_get(warn, 0)), "cut short after packet"));
	CU_ASSERT(json_integer_value(json_object_get(json_object_get(j, "capture"), "packets")) > 500);
	json_decref(j);
	free(args);
}

static void test_output_file_is_written_whole_or_not_at_all(void)
{
	char *out = xasprintf("%s/report.json", tu_dir());
	char *cmd = xasprintf("%s audit -r pcaps/demo.pcap -s rules/demo.site --format json -o %s", tu_flowaudit(), out);
	CU_ASSERT_EQUAL(tu_run(cmd, NULL, NULL), 1);
	json_t *j = json_load_file(out, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL(j);
	json_decref(j);
	free(cmd);
	cmd = xasprintf("%s audit -r pcaps/demo.pcap -s rules/demo.site -o /nonexistent-dir/r.json", tu_flowaudit());
	char *err;
	CU_ASSERT_EQUAL(tu_run(cmd, NULL, &err), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent-dir/r.json"));
	free(err);
	free(cmd);
	free(out);
}

static void test_text_report_ends_with_the_summary_line(void)
{
	char *cmd = xasprintf("%s audit -r pcaps/demo.pcap -s rules/demo.site", tu_flowaudit());
	char *out;
	CU_ASSERT_EQUAL(tu_run(cmd, &out, NULL), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Summary: 57 ok, 1 degraded, 5 blocked, 2 missing, 0 unverified, 4 unexpected\n"));
	/* Findings come before what is ok, and no colour when not on a terminal. */
	CU_ASSERT(strstr(out, "with findings") < strstr(out, "Required paths ok"));
	CU_ASSERT_PTR_NULL(strchr(out, '\033'));
	free(out);
	free(cmd);
}

/* --max-flows settles flows early to make room: a row that lost attempts so says, and the summary counts
 * those rows; without evictions nothing is marked. */
static void test_evictions_mark_rows_incomplete(void)
{
	int st;
	json_t *j = tu_audit_json("-r pcaps/statuses-eth.pcap -s rules/demo.site --max-flows 2", &st);
	CU_ASSERT_FATAL(j != NULL);
	json_t *e;
	size_t i, marked = 0;
	json_array_foreach(json_object_get(j, "edges"), i, e)
		if (json_is_true(json_object_get(e, "incomplete"))) {
			marked++;
			CU_ASSERT(json_integer_value(json_object_get(e, "evicted")) > 0);
		}
	CU_ASSERT(marked > 0);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j, "summary"), "incomplete_rows")), (json_int_t)marked);
	char *warnings = json_dumps(json_object_get(json_object_get(j, "capture"), "warnings"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(warnings, "are incomplete"));
	free(warnings);
	json_decref(j);
	j = tu_audit_json("-r pcaps/statuses-eth.pcap -s rules/demo.site", &st);
	json_array_foreach(json_object_get(j, "edges"), i, e)
		CU_ASSERT_PTR_NULL(json_object_get(e, "incomplete"));
	CU_ASSERT_PTR_NULL(json_object_get(json_object_get(j, "summary"), "incomplete_rows"));
	json_decref(j);
	char *cmd = xasprintf("%s audit -r pcaps/statuses-eth.pcap -s rules/demo.site --max-flows 2", tu_flowaudit());
	char *out;
	tu_run(cmd, &out, NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "evicted early"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Incomplete: "));
	free(out);
	free(cmd);
}

/* What an unexpected row says names the requirement that uses its port, the one that fits the hosts, and
 * the rule a row came from is named by the pack's own path. */
static void test_unexpected_rows_name_the_requirement_meant(void)
{
	int st;
	json_t *j = tu_audit_json("-r pcaps/demo.pcap -s rules/demo.site", &st);
	CU_ASSERT_FATAL(j != NULL);
	json_t *u;
	size_t i;
	bool nfs = false;
	json_array_foreach(json_object_get(j, "unexpected"), i, u)
		if (json_integer_value(json_object_get(u, "port")) == 2049) {
			nfs = true;
			CU_ASSERT_PTR_NOT_NULL(strstr(str(u, "why"), "is the port of \""));
			CU_ASSERT_PTR_NULL(strstr(str(u, "why"), "not a PeerGFS port"));
		}
	CU_ASSERT(nfs);
	CU_ASSERT_PTR_NULL(strstr(str(json_array_get(json_object_get(j, "edges"), 0), "rule"), "/../"));
	json_decref(j);
	/* agent-ontap to an ONTAP node on 443, reset: ONTAP's REST API was meant (it goes to the SVM's
	 * management LIF), not the PMC's uploads. */
	static uint8_t syn[128], rst[128];
	uint8_t *frames[2] = {syn, rst};
	size_t lens[2] = {tu_eth_tcp(syn, "198.51.100.11", "203.0.113.20", 40000, 443, 0x02, 1, 0),
			  tu_eth_tcp(rst, "203.0.113.20", "198.51.100.11", 443, 40000, 0x14, 0, 0)};
	char *args = xasprintf("-r %s -s rules/demo.site", tu_pcap("ontap443.pcap", frames, lens, 2));
	j = tu_audit_json(args, &st);
	CU_ASSERT_FATAL(j != NULL);
	u = json_array_get(json_object_get(j, "unexpected"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(str(u, "why"), "\"ONTAP REST API\" (agent -> ontap-mgmt)"));
	json_decref(j);
	free(args);
}

/* Unexpected attempts from outside the site name their clients, up to CLS_OUTSIDE_NAMED per server and
 * port; the rest are one row that counts them (a flood of spoofed sources stays a few rows). */
static void test_outside_clients_are_named_up_to_a_bound(void)
{
	enum { N = CLS_OUTSIDE_NAMED + 4 };
	static uint8_t buf[N][128];
	uint8_t *frames[N];
	size_t lens[N];
	for (int i = 0; i < N; i++) {
		char src[32];
		snprintf(src, sizeof(src), "203.0.113.%d", 200 + i);
		frames[i] = buf[i];
		lens[i] = tu_eth_tcp(buf[i], src, "198.51.100.11", (uint16_t)(40000 + i), 9883, 0x02, 1, 0);
	}
	char *args = xasprintf("-r %s -s rules/demo.site", tu_pcap("outside.pcap", frames, lens, N));
	int st;
	json_t *j = tu_audit_json(args, &st);
	CU_ASSERT_FATAL(j != NULL);
	json_t *u;
	size_t i, named = 0, rest = 0;
	json_array_foreach(json_object_get(j, "unexpected"), i, u) {
		if (json_integer_value(json_object_get(u, "port")) != 9883)
			continue;
		if (!strcmp(str(u, "client_addr"), "0.0.0.0/0"))
			rest += (size_t)json_integer_value(json_object_get(u, "attempts"));
		else if (!strncmp(str(u, "client_addr"), "203.0.113.2", 11))
			named++;
	}
	CU_ASSERT_EQUAL(named, CLS_OUTSIDE_NAMED);
	CU_ASSERT_EQUAL(rest, N - CLS_OUTSIDE_NAMED);
	json_decref(j);
	free(args);
}

/* A host declared role=other (a domain controller) is known: its flows with PeerGFS hosts are listed
 * apart, not unexpected, and are no finding; declared as an admin client instead, RDP to it is unexpected
 * (and LDAP ignored by the pack). */
static void test_known_hosts_outside_peergfs_are_listed_apart(void)
{
	static uint8_t buf[4][128];
	uint8_t *frames[4] = {buf[0], buf[1], buf[2], buf[3]};
	size_t lens[4] = {tu_eth_tcp(buf[0], "198.51.100.1", "198.51.100.53", 40000, 389, 0x02, 1, 0),
			  tu_eth_tcp(buf[1], "198.51.100.53", "198.51.100.1", 389, 40000, 0x12, 5, 0),
			  tu_eth_tcp(buf[2], "198.51.100.1", "198.51.100.53", 40001, 3389, 0x02, 1, 0),
			  tu_eth_tcp(buf[3], "198.51.100.53", "198.51.100.1", 3389, 40001, 0x14, 0, 0)};
	const char *pcap = tu_pcap("dc.pcap", frames, lens, 4);
	const char *known = tu_write("dc.site", "host agent1 198.51.100.1 role=agent\nhost dc1 198.51.100.53 role=other\n", (size_t)-1);
	const char *plain = tu_write("nodc.site", "host agent1 198.51.100.1 role=agent\nhost dc1 198.51.100.53 role=client\n", (size_t)-1);
	char *args = xasprintf("-r %s -s %s", pcap, known);
	int st;
	json_t *j = tu_audit_json(args, &st);
	CU_ASSERT_FATAL(j != NULL);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "unexpected")), 0);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "known")), 2);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j, "summary"), "known_flows")), 2);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j, "summary"), "unexpected")), 0);
	json_decref(j);
	free(args);
	args = xasprintf("-r %s -s %s", pcap, plain);
	j = tu_audit_json(args, &st);
	CU_ASSERT_FATAL(j != NULL);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "unexpected")), 1);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j, "summary"), "ignored_flows")), 1);
	CU_ASSERT_PTR_NULL(json_object_get(j, "known"));
	json_decref(j);
	free(args);
}

static void test_html_report_lists_findings_with_advice_and_draws_the_graph(void)
{
	char *cmd = xasprintf("%s audit -r pcaps/demo.pcap -s rules/demo.site --format html", tu_flowaudit());
	char *out;
	CU_ASSERT_EQUAL(tu_run(cmd, &out, NULL), 1);
	CU_ASSERT(strncmp(out, "<!DOCTYPE html>", 15) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "</html>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "<svg"));
	/* the dropped FPolicy path, with the rules that would open it: inserted before a final drop, and on
	 * the Windows agent itself */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "nft insert rule inet filter forward ip saddr 203.0.113.21 ip daddr 198.51.100.11 tcp dport 9883 ct state new accept"));
	CU_ASSERT_PTR_NULL(strstr(out, "nft add rule"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "New-NetFirewallRule -DisplayName &quot;PeerGFS: ONTAP FPolicy notifications&quot; "
					   "-Direction Inbound -Protocol TCP -LocalPort 9883 -RemoteAddress 203.0.113.21 -Action Allow"));
	/* unexpected flows name their hosts */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "<td>agent-unityh <small>198.51.100.16</small> &rarr; pmc1 <small>192.0.2.10</small></td>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ONTAP FPolicy notifications"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "plain-text broker link (61616)"));
	/* the arrow from ontap1-n2 to agent-ontap is drawn red (blocked) */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "stroke=\"#c62828\" stroke-width=\"1.6\" marker-end=\"url(#a)\"><title>ontap1-n2 -&gt; agent-ontap"));
	free(out);
	free(cmd);
}

static void test_nanosecond_captures_keep_nanoseconds(void)
{
	char *cmd = xasprintf("%s audit -r pcaps/nsec.pcap -s rules/demo.site --format json", tu_flowaudit());
	char *out;
	CU_ASSERT_EQUAL(tu_run(cmd, &out, NULL), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"first_ts\": 1763971200.000000123,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"first_seen\": 1763971200.000000123,"));
	json_t *j = json_loads(out, 0, NULL); /* and it is still valid JSON, with numbers */
	CU_ASSERT(j && json_is_real(json_object_get(json_object_get(j, "capture"), "first_ts")));
	json_decref(j);
	free(out);
	free(cmd);
	cmd = xasprintf("%s audit -r pcaps/statuses-eth.pcap -s rules/demo.site --format json", tu_flowaudit());
	CU_ASSERT_EQUAL(tu_run(cmd, &out, NULL), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"first_ts\": 1763971200.000000,")); /* microsecond file: 6 digits */
	free(out);
	free(cmd);
}

static void test_mkpcap_is_deterministic(void)
{
	const char *mk = getenv("MKPCAP");
	if (!mk) {
		CU_PASS("MKPCAP not set");
		return;
	}
	char *out = xasprintf("%s/demo-again.pcap", tu_dir());
	char *cmd = xasprintf("%s pcaps/demo.scenario %s && cmp -s %s pcaps/demo.pcap", mk, out, out);
	CU_ASSERT_EQUAL(tu_run(cmd, NULL, NULL), 0);
	free(cmd);
	free(out);
}

/* A site of prefix hosts and a capture where nearly every attempt is a new address pair (mkpcap --spread):
 * the text and HTML reports show each path of many pairs as one line with its counts and its worst pairs,
 * --by-address lists every pair, and the JSON report keeps every pair. */
static void test_many_address_pairs_are_grouped_by_path(void)
{
	const char *mk = getenv("MKPCAP");
	CU_ASSERT_FATAL(mk != NULL);
	char *pcap = xasprintf("%s/spread.pcap", tu_dir()), *site = xasprintf("%s/spread.site", tu_dir());
	char *cmd = xasprintf("%s --spread 3000 100 0 96 %s %s >/dev/null", mk, pcap, site);
	CU_ASSERT_EQUAL_FATAL(tu_run(cmd, NULL, NULL), 0);
	free(cmd);
	int st;
	char *args = xasprintf("-r %s -s %s", pcap, site);
	json_t *j = tu_audit_json(args, &st);
	CU_ASSERT_FATAL(j != NULL);
	size_t edges = json_array_size(json_object_get(j, "edges")), unexp = json_array_size(json_object_get(j, "unexpected"));
	CU_ASSERT(edges > 2000);
	CU_ASSERT(unexp > 500);
	/* Every pair of ONTAP REST API (agents -> storage tcp/443) was blocked: the JSON rows, one per pair. */
	size_t rest = 0, rest_blocked = 0;
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(j, "edges"), i, e) {
		if (json_integer_value(json_object_get(e, "port")) != 443 || strcmp(str(e, "client"), "agents"))
			continue;
		rest++;
		rest_blocked += !strcmp(str(e, "status"), "blocked");
	}
	CU_ASSERT(rest > 100);
	CU_ASSERT_EQUAL(rest, rest_blocked);
	json_decref(j);

	char *out;
	cmd = xasprintf("%s audit %s", tu_flowaudit(), args);
	CU_ASSERT_EQUAL(tu_run(cmd, &out, NULL), 1);
	char *want = xasprintf("agents -> storage (%zu address pairs)", rest);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	free(want);
	want = xasprintf("%zu blocked (no-reply ", rest);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	free(want);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "--by-address lists each"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "are not PeerGFS ports and no rule allows them from agents"));
	size_t lines = 0;
	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	CU_ASSERT(lines < 80); /* a screen, where every pair is thousands of lines */
	free(out);
	free(cmd);

	cmd = xasprintf("%s audit %s --by-address", tu_flowaudit(), args);
	CU_ASSERT_EQUAL(tu_run(cmd, &out, NULL), 1);
	lines = 0;
	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	CU_ASSERT(lines > edges + unexp);
	CU_ASSERT_PTR_NULL(strstr(out, "address pairs)"));
	free(out);
	free(cmd);

	cmd = xasprintf("%s audit %s --format html", tu_flowaudit(), args);
	CU_ASSERT_EQUAL(tu_run(cmd, &out, NULL), 1);
	CU_ASSERT(strlen(out) < 100000);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "address pairs: "));
	free(out);
	free(cmd);

	/* --max-rows: past the bound, the flows of new pairs land on one row per host pair and port; every
	 * attempt is still counted, the report says how many were folded. */
	char *bounded = xasprintf("%s --max-rows 100", args);
	j = tu_audit_json(bounded, &st);
	CU_ASSERT_FATAL(j != NULL);
	size_t rows = 0, folded_rows = 0;
	uint64_t attempts = 0;
	const char *arrays[] = {"edges", "unexpected"};
	for (int a = 0; a < 2; a++)
		json_array_foreach(json_object_get(j, arrays[a]), i, e) {
			rows++;
			attempts += (uint64_t)json_integer_value(json_object_get(e, "attempts"));
			if (json_is_true(json_object_get(e, "folded"))) {
				folded_rows++;
				CU_ASSERT(strchr(str(e, "client_addr"), '/') != NULL); /* the host's prefix */
			}
		}
	CU_ASSERT_EQUAL(attempts, 3000);
	CU_ASSERT(folded_rows > 0);
	CU_ASSERT(rows - folded_rows <= 100 + 2); /* and the two missing rows */
	json_t *sum = json_object_get(j, "summary");
	CU_ASSERT(json_integer_value(json_object_get(sum, "folded_flows")) > 2000);
	json_decref(j);
	free(bounded);
	free(args);
	free(pcap);
	free(site);
}

void suite_e2e(void)
{
	CU_pSuite s = CU_add_suite("end to end", NULL, NULL);
	TU_ADD(s, test_every_status_on_ethernet);
	TU_ADD(s, test_every_status_with_a_vlan_tag);
	TU_ADD(s, test_every_status_with_qinq_tags);
	TU_ADD(s, test_every_status_on_linux_sll);
	TU_ADD(s, test_every_status_on_linux_sll2);
	TU_ADD(s, test_every_status_on_raw_ip);
	TU_ADD(s, test_every_status_on_bsd_null);
	TU_ADD(s, test_wrapped_captures_give_the_same_report);
	TU_ADD(s, test_demo_report_has_the_planted_findings);
	TU_ADD(s, test_flows_array_carries_history_and_state);
	TU_ADD(s, test_bpf_expression_narrows_the_capture);
	TU_ADD(s, test_several_files_are_one_capture);
	TU_ADD(s, test_unusable_input_exits_2_with_a_reason);
	TU_ADD(s, test_truncated_capture_reports_what_was_read_and_where_it_was_cut);
	TU_ADD(s, test_output_file_is_written_whole_or_not_at_all);
	TU_ADD(s, test_text_report_ends_with_the_summary_line);
	TU_ADD(s, test_many_address_pairs_are_grouped_by_path);
	TU_ADD(s, test_nanosecond_captures_keep_nanoseconds);
	TU_ADD(s, test_html_report_lists_findings_with_advice_and_draws_the_graph);
	TU_ADD(s, test_mkpcap_is_deterministic);
	TU_ADD(s, test_evictions_mark_rows_incomplete);
	TU_ADD(s, test_unexpected_rows_name_the_requirement_meant);
	TU_ADD(s, test_outside_clients_are_named_up_to_a_bound);
	TU_ADD(s, test_known_hosts_outside_peergfs_are_listed_apart);
	TU_ADD(s, test_json_strings_are_escaped_and_valid_utf8);
}
