/* test_badinput.c: bad input of every kind gives exit status 2 with a one-line reason naming the file
 * (or, for a capture cut short, the report of what was read plus a warning), never a crash. Under
 * `make check` the binary runs with ASan/UBSan/LeakSanitizer, so a leak fails these tests too. */
#include <stdlib.h>
#include <string.h>

#include "flowaudit/util.h"
#include "testutil.h"

static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

/* A pcap global header (microseconds, little-endian). */
static size_t pcap_header(uint8_t *b, uint32_t snaplen, uint32_t linktype)
{
	le32(b, 0xa1b2c3d4);
	le16(b + 4, 2);
	le16(b + 6, 4);
	le32(b + 8, 0);
	le32(b + 12, 0);
	le32(b + 16, snaplen);
	le32(b + 20, linktype);
	return 24;
}

static size_t record(uint8_t *b, uint32_t caplen, uint32_t len, const uint8_t *data, size_t have)
{
	le32(b, 1700000000);
	le32(b + 4, 0);
	le32(b + 8, caplen);
	le32(b + 12, len);
	memcpy(b + 16, data, have);
	return 16 + have;
}

/* Run flowaudit with args; expect exit status want and stderr containing needle on exactly one line. */
static void run_expect(const char *args, int want, const char *needle)
{
	char *cmd = xasprintf("%s %s", tu_flowaudit(), args);
	char *out, *err;
	int st = tu_run(cmd, &out, &err);
	bool one_line = strchr(err, '\n') == err + strlen(err) - 1;
	bool ok = st == want && strstr(err, needle) && (want != 2 || (one_line && !*out));
	if (!ok)
		fprintf(stderr, "\n%s\n  exit %d (want %d), stderr: %s", cmd, st, want, err);
	CU_ASSERT(ok);
	free(cmd);
	free(out);
	free(err);
}

static void test_random_bytes_and_cut_headers_are_not_captures(void)
{
	uint8_t junk[4096];
	unsigned seed = 7;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(rand_r(&seed) >> 5);
	const char *p = tu_write("random.pcap", junk, sizeof(junk));
	char *a = xasprintf("audit -r %s", p);
	run_expect(a, 2, "not a readable capture");
	free(a);
	uint8_t h[24];
	pcap_header(h, 65535, 1);
	p = tu_write("cut-header.pcap", h, 13);
	a = xasprintf("audit -r %s", p);
	run_expect(a, 2, "cut-header.pcap: error: not a readable capture");
	free(a);
}

static void test_snaplen_zero_and_absurd_caplen(void)
{
	uint8_t f[128], buf[512];
	size_t n = tu_eth_tcp(f, "192.0.2.130", "192.0.2.10", 40000, 8443, 0x02, 1, 0);
	/* snaplen 0 in the header, a sane record: libpcap reads it; the SYN is audited. */
	size_t off = pcap_header(buf, 0, 1);
	off += record(buf + off, (uint32_t)n, (uint32_t)n, f, n);
	const char *p = tu_write("snaplen0.pcap", buf, off);
	char *a = xasprintf("audit -r %s -s rules/demo.site", p);
	run_expect(a, 1, "");
	free(a);
	/* A record claiming 2 GB of captured bytes: libpcap refuses it; exit 2 naming the packet. */
	off = pcap_header(buf, 65535, 1);
	off += record(buf + off, 0x7fffffff, 0x7fffffff, f, n);
	p = tu_write("absurd.pcap", buf, off);
	a = xasprintf("audit -r %s", p);
	run_expect(a, 2, "absurd.pcap: error: packet 1:");
	free(a);
}

static void test_unsupported_link_type_is_named(void)
{
	uint8_t buf[128];
	size_t off = pcap_header(buf, 65535, 147); /* LINKTYPE_USER0 */
	uint8_t d[20] = {0};
	off += record(buf + off, 20, 20, d, 20);
	const char *p = tu_write("user0.pcap", buf, off);
	char *a = xasprintf("audit -r %s", p);
	run_expect(a, 2, "user0.pcap: error: link type unknown (147) is not supported");
	free(a);
}

/* pcapng: section header, an unknown block type (skipped by libpcap), then two interfaces of different
 * link types, which libpcap 1.10 refuses to read as one: unusable input, exit 2. */
static void test_pcapng_with_unknown_blocks_and_mixed_interfaces(void)
{
	uint8_t b[256];
	size_t o = 0;
	le32(b + o, 0x0a0d0d0a), le32(b + o + 4, 28), le32(b + o + 8, 0x1a2b3c4d);
	le16(b + o + 12, 1), le16(b + o + 14, 0);
	le32(b + o + 16, 0xffffffff), le32(b + o + 20, 0xffffffff), le32(b + o + 24, 28);
	o += 28;
	le32(b + o, 0x00000bad), le32(b + o + 4, 16), le32(b + o + 8, 0xdeadbeef), le32(b + o + 12, 16);
	o += 16;
	for (int i = 0; i < 2; i++) {
		le32(b + o, 1), le32(b + o + 4, 20), le16(b + o + 8, i ? 113 : 1), le16(b + o + 10, 0);
		le32(b + o + 12, 65535), le32(b + o + 16, 20);
		o += 20;
	}
	/* an enhanced packet block on interface 1 */
	uint8_t d[20] = {0x45};
	le32(b + o, 6), le32(b + o + 4, 52), le32(b + o + 8, 1), le32(b + o + 12, 0), le32(b + o + 16, 0);
	le32(b + o + 20, 20), le32(b + o + 24, 20);
	memcpy(b + o + 28, d, 20);
	le32(b + o + 48, 52);
	o += 52;
	const char *p = tu_write("mixed.pcapng", b, o);
	char *a = xasprintf("audit -r %s", p);
	run_expect(a, 2, "mixed.pcapng: error: packet 1:");
	free(a);
	/* The same with one interface only: the unknown block is skipped and the file is read. */
	size_t one = 28 + 16 + 20;
	memmove(b + one, b + 28 + 16 + 40, 52);
	le32(b + one + 8, 0);
	p = tu_write("unknown-block.pcapng", b, one + 52);
	a = xasprintf("audit -r %s --flows --format json", p);
	run_expect(a, 0, "");
	free(a);
}

static void test_paths_that_are_not_files(void)
{
	run_expect("audit -r /nonexistent/x.pcap", 2, "/nonexistent/x.pcap: error: cannot open: No such file or directory");
	run_expect("audit -r /tmp", 2, "/tmp: error: is a directory, not a capture file");
	run_expect("lint /tmp", 2, "/tmp: error: is a directory, not a file");
	run_expect("audit -r pcaps/demo.pcap -s /tmp", 2, "/tmp: error: is a directory");
	run_expect("audit -r pcaps/demo.pcap -R /nonexistent.rules", 2, "cannot open /nonexistent.rules");
	run_expect("audit -r pcaps/demo.pcap --max-flows 0", 2, "--max-flows needs a number from 1");
	run_expect("audit -r pcaps/demo.pcap --workers 2", 2, "--workers spreads a live capture");
	run_expect("audit -i lo --workers 65", 2, "--workers needs a number from 1 to 64");
	run_expect("audit -i fa-no-such-if -Z root", 2, "fa-no-such-if: error: cannot capture");
	run_expect("audit", 2, "nothing to read");
	/* --help says what every option does, one line each */
	char *cmd = xasprintf("%s --help", tu_flowaudit());
	char *out;
	CU_ASSERT_EQUAL(tu_run(cmd, &out, NULL), 0);
	static const char *const opts[] = {"-r FILE ", "-i IFACE ", "-s SITE ", "-R RULES ", "--format FMT ", "-o OUT ",
					   "--flows ", "--max-flows N ", "--vxlan-port N ", "-w FILE ", "--interval S ",
					   "--workers N ", "-B MB ", "--snaplen N ", "-p ", "-Z USER ", "--strict "};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char *line = xasprintf("\n  %s", opts[i]);
		char *at = strstr(out, line);
		CU_ASSERT(at && strchr(at + 1, '\n') - at > 24); /* the option, then what it does */
		free(line);
	}
	free(out);
	free(cmd);
	/* Without -s a site is inferred; none from flows of no PeerGFS port is no clean audit. --flows is for
	 * the JSON report only. */
	run_expect("audit -r pcaps/demo.pcap tcp port 3389", 2, "no site (-s SITE), and none could be inferred");
	run_expect("audit -r pcaps/demo.pcap -s rules/demo.site --write-site x.site", 2, "--write-site writes the site inferred");
	run_expect("audit -r pcaps/demo.pcap -s rules/demo.site --flows", 2, "give --format json");
	run_expect("audit -r pcaps/demo.pcap -s rules/demo.site --flows --format html", 2, "give --format json");
}

static void test_closed_stdout_is_a_clean_error(void)
{
	char *cmd = xasprintf("sh -c '%s audit -r pcaps/demo.pcap -s rules/demo.site >&-'", tu_flowaudit());
	char *out, *err;
	CU_ASSERT_EQUAL(tu_run(cmd, &out, &err), 2);
	CU_ASSERT_STRING_EQUAL(err, "standard output: error: cannot write the report: Bad file descriptor\n");
	free(out);
	free(err);
	free(cmd);
	/* A reader that goes away early: no death by SIGPIPE; exit 2 (a write error), nothing on stderr. */
	cmd = xasprintf("sh -c '(%s audit -r pcaps/demo.pcap -s rules/demo.site --format json --flows; echo \"rc=$?\" >&2) "
			"| head -c 10'", tu_flowaudit());
	tu_run(cmd, &out, &err);
	CU_ASSERT_EQUAL(strlen(out), 10);
	CU_ASSERT(strstr(err, "rc=2") || strstr(err, "rc=1"));
	CU_ASSERT_PTR_NULL(strstr(err, "rc=141"));
	free(out);
	free(err);
	free(cmd);
}

static void test_huge_line_in_a_site_is_reported_not_crashed_on(void)
{
	size_t n = 1 << 20;
	char *big = xmalloc(n + 64);
	memcpy(big, "host a1 ", 8);
	memset(big + 8, 'x', n);
	memcpy(big + 8 + n, " role=agent\n", 13);
	const char *p = tu_write("huge.site", big, 8 + n + 12);
	free(big);
	char *a = xasprintf("lint %s", p);
	char *cmd = xasprintf("%s %s", tu_flowaudit(), a);
	char *out, *err;
	int st = tu_run(cmd, &out, &err);
	CU_ASSERT_EQUAL(st, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "huge.site:1:9: error: '"));
	CU_ASSERT(strlen(err) < 2000); /* the echoed line is cut for display */
	free(out);
	free(err);
	free(cmd);
	free(a);
}

void suite_badinput(void)
{
	CU_pSuite s = CU_add_suite("bad input", NULL, NULL);
	TU_ADD(s, test_random_bytes_and_cut_headers_are_not_captures);
	TU_ADD(s, test_snaplen_zero_and_absurd_caplen);
	TU_ADD(s, test_unsupported_link_type_is_named);
	TU_ADD(s, test_pcapng_with_unknown_blocks_and_mixed_interfaces);
	TU_ADD(s, test_paths_that_are_not_files);
	TU_ADD(s, test_closed_stdout_is_a_clean_error);
	TU_ADD(s, test_huge_line_in_a_site_is_reported_not_crashed_on);
}
