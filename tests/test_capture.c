/* test_capture.c: the offline readers. flowaudit reads a pcap file in this machine's byte order with
 * its own record reader and everything else through libpcap; the two must hand out the same packets
 * (stamps, lengths, bytes), stop at the same place on a file cut anywhere, and fail on the same records.
 * Files are written here byte by byte; FLOWAUDIT_READER=libpcap selects libpcap for the comparison. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "flowaudit/capture.h"
#include "flowaudit/util.h"
#include "testutil.h"

struct rec {
	uint32_t sec, frac, caplen, len;
};

/* A pcap file header and records; each record's bytes are its index repeated. */
static size_t build(uint8_t *out, uint32_t magic, uint32_t snaplen, const struct rec *r, size_t n, bool swap)
{
	uint32_t hdr[6] = {magic, 2u | 4u << 16, 0, 0, snaplen, 1 /* Ethernet */};
	if (swap) {
		for (int i = 0; i < 6; i++)
			hdr[i] = __builtin_bswap32(hdr[i]);
		uint16_t v[2] = {__builtin_bswap16(2), __builtin_bswap16(4)};
		memcpy(&hdr[1], v, 4);
	}
	memcpy(out, hdr, 24);
	size_t off = 24;
	for (size_t i = 0; i < n; i++) {
		uint32_t h[4] = {r[i].sec, r[i].frac, r[i].caplen, r[i].len};
		if (swap)
			for (int k = 0; k < 4; k++)
				h[k] = __builtin_bswap32(h[k]);
		memcpy(out + off, h, 16);
		memset(out + off + 16, (int)i + 1, r[i].caplen);
		off += 16 + r[i].caplen;
	}
	return off;
}

struct seen {
	uint64_t n, digest;
};

static void collect(void *ctx, const struct cap_pkt *p)
{
	struct seen *s = ctx;
	uint64_t h = s->digest ^ p->ts_ns;
	h = (h ^ p->caplen) * 0x100000001b3ull;
	h = (h ^ p->len) * 0x100000001b3ull;
	for (uint32_t i = 0; i < p->caplen; i++)
		h = (h ^ p->data[i]) * 0x100000001b3ull;
	s->digest = h;
	s->n++;
}

struct outcome {
	int open_rc, read_rc;
	bool classic, cut;
	struct seen seen;
	char error[200];
};

static struct outcome read_with(const char *path, const char *bpf, bool libpcap)
{
	struct outcome o;
	memset(&o, 0, sizeof(o));
	if (libpcap)
		setenv("FLOWAUDIT_READER", "libpcap", 1);
	else
		unsetenv("FLOWAUDIT_READER");
	struct cap c;
	struct diag d;
	diag_init(&d);
	char *paths[] = {(char *)path};
	o.open_rc = cap_open_files(&c, paths, 1, bpf, &d);
	if (o.open_rc == 0) {
		o.classic = c.in[0].classic;
		o.read_rc = cap_read_all(&c, collect, NULL, &o.seen);
		o.cut = c.in[0].cut != NULL;
		if (c.in[0].error)
			snprintf(o.error, sizeof(o.error), "%s", c.in[0].error);
	}
	cap_close(&c);
	diag_free(&d);
	unsetenv("FLOWAUDIT_READER");
	return o;
}

static void same(const struct outcome *a, const struct outcome *b)
{
	CU_ASSERT_EQUAL(a->open_rc, b->open_rc);
	CU_ASSERT_EQUAL(a->read_rc, b->read_rc);
	CU_ASSERT_EQUAL(a->cut, b->cut);
	CU_ASSERT_EQUAL(a->seen.n, b->seen.n);
	CU_ASSERT_EQUAL(a->seen.digest, b->seen.digest);
	CU_ASSERT_EQUAL(a->error[0] != 0, b->error[0] != 0);
}

/* Stamps with the sign bit set (libpcap reads them as signed), a record longer than the snaplen (cut to
 * it), an empty one, and lengths shorter than the captured length: both readers alike. */
static const struct rec tricky[] = {
	{1700000000, 123456, 60, 60}, {1700000000, 999999, 100, 1514}, {0x80000001u, 5, 40, 40},
	{1700000001, 0xfffffff0u, 30, 30}, {1700000002, 7, 0, 0}, {1700000002, 8, 64, 20}, {1700000003, 9, 200, 200},
};
#define NTRICKY (sizeof(tricky) / sizeof(tricky[0]))

static void test_own_reader_hands_out_what_libpcap_does(void)
{
	static uint8_t buf[4096];
	const uint32_t magics[] = {0xa1b2c3d4u, 0xa1b23c4du};
	for (int m = 0; m < 2; m++) {
		size_t n = build(buf, magics[m], 128, tricky, NTRICKY, false);
		const char *path = tu_write("native.pcap", buf, n);
		struct outcome own = read_with(path, NULL, false), lib = read_with(path, NULL, true);
		CU_ASSERT(own.classic); /* this one went through our reader */
		CU_ASSERT_EQUAL(own.seen.n, NTRICKY);
		CU_ASSERT_FALSE(own.cut);
		same(&own, &lib);
		/* With a filter (libpcap's own BPF, run on our records): only the frames of 50 bytes or more on the wire. */
		own = read_with(path, "greater 50", false);
		lib = read_with(path, "greater 50", true);
		CU_ASSERT_EQUAL(own.seen.n, 3);
		same(&own, &lib);
	}
	/* The other byte order goes through libpcap, and reads the same, stamps with the sign bit set aside:
	 * libpcap 1.10 sign-extends them in a file of this machine's byte order, not in a swapped one. */
	const size_t plain = 2;
	size_t n = build(buf, 0xa1b2c3d4u, 128, tricky, plain, true);
	const char *path = tu_write("swapped.pcap", buf, n);
	struct outcome sw = read_with(path, NULL, false);
	CU_ASSERT_FALSE(sw.classic);
	CU_ASSERT_EQUAL(sw.seen.n, plain);
	n = build(buf, 0xa1b2c3d4u, 128, tricky, plain, false);
	struct outcome nat = read_with(tu_write("native.pcap", buf, n), NULL, false);
	CU_ASSERT(nat.classic);
	CU_ASSERT_EQUAL(sw.seen.digest, nat.seen.digest);
}

/* Cut at every byte: the same packets before the cut, and the same verdict on the rest. */
static void test_a_file_cut_anywhere_stops_at_the_same_packet_in_both_readers(void)
{
	static uint8_t buf[4096];
	size_t n = build(buf, 0xa1b2c3d4u, 128, tricky, NTRICKY, false);
	int cuts = 0;
	for (size_t len = 24; len <= n; len++) {
		const char *path = tu_write("cut.pcap", buf, len);
		struct outcome own = read_with(path, NULL, false), lib = read_with(path, NULL, true);
		same(&own, &lib);
		cuts += own.cut;
	}
	CU_ASSERT(cuts > 500); /* almost every length is inside a record */
}

/* Records as long as a record can be (262144 bytes, longer than one read of the record reader) between
 * short ones, and the file cut inside the last long one. */
static void test_records_of_the_largest_size_are_read_whole(void)
{
	struct rec r[5] = {{1700000000, 1, 60, 60}, {1700000000, 2, CAP_MAX_RECORD, 300000},
			   {1700000000, 3, 60, 60}, {1700000000, 4, CAP_MAX_RECORD, CAP_MAX_RECORD},
			   {1700000000, 5, 200000, 200000}};
	static uint8_t buf[24 + 5 * 16 + 60 * 2 + 2 * CAP_MAX_RECORD + 200000];
	size_t n = build(buf, 0xa1b2c3d4u, CAP_MAX_RECORD, r, 5, false);
	const char *path = tu_write("long.pcap", buf, n);
	struct outcome own = read_with(path, NULL, false), lib = read_with(path, NULL, true);
	CU_ASSERT(own.classic);
	CU_ASSERT_EQUAL(own.seen.n, 5);
	same(&own, &lib);
	path = tu_write("long-cut.pcap", buf, n - 100000);
	own = read_with(path, NULL, false);
	lib = read_with(path, NULL, true);
	CU_ASSERT_EQUAL(own.seen.n, 4);
	CU_ASSERT(own.cut);
	same(&own, &lib);
}

/* A captured length over 262144 is no packet: the file is in error from that record on, in both. */
static void test_an_impossible_captured_length_is_an_error_in_both_readers(void)
{
	static uint8_t buf[4096];
	struct rec r[3] = {{1700000000, 1, 60, 60}, {1700000000, 2, 60, 60}, {1700000000, 3, 60, 60}};
	size_t n = build(buf, 0xa1b2c3d4u, 65535, r, 3, false);
	uint32_t huge = CAP_MAX_RECORD + 1;
	memcpy(buf + 24 + 76 + 8, &huge, 4); /* the second record's caplen */
	const char *path = tu_write("huge.pcap", buf, n);
	struct outcome own = read_with(path, NULL, false), lib = read_with(path, NULL, true);
	CU_ASSERT_EQUAL(own.read_rc, -1);
	CU_ASSERT_EQUAL(own.seen.n, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(own.error, "packet 2"));
	same(&own, &lib);
}

struct feed {
	const char *path;
	const uint8_t *buf;
	size_t len;
};

static void *feed_fifo(void *arg)
{
	const struct feed *fd = arg;
	FILE *f = fopen(fd->path, "wb");
	if (f) {
		fwrite(fd->buf, 1, fd->len, f);
		fclose(f);
	}
	return NULL;
}

/* A capture from a pipe is read once, by libpcap: nothing may open it a second time (to look at its
 * magic number, say), which would take bytes out of the stream. */
static void test_a_capture_from_a_pipe_is_read_whole(void)
{
	enum { N = 20000 };
	static struct rec r[N];
	for (size_t i = 0; i < N; i++)
		r[i] = (struct rec){1700000000 + (uint32_t)(i / 1000), (uint32_t)(i % 1000) * 1000, 90, 90};
	static uint8_t buf[24 + N * (16 + 90)];
	size_t n = build(buf, 0xa1b2c3d4u, 96, r, N, false);
	char *path = xasprintf("%s/pipe", tu_dir());
	CU_ASSERT_FATAL(mkfifo(path, 0600) == 0);
	signal(SIGPIPE, SIG_IGN); /* the writer's fwrite fails if the reader gave up, rather than killing the run */
	struct feed fd = {path, buf, n};
	pthread_t th;
	CU_ASSERT_FATAL(pthread_create(&th, NULL, feed_fifo, &fd) == 0);
	struct outcome o = read_with(path, NULL, false);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(o.open_rc, 0);
	CU_ASSERT_EQUAL(o.read_rc, 0);
	CU_ASSERT_FALSE(o.cut);
	CU_ASSERT_EQUAL(o.seen.n, N);
	free(path);
}

void suite_capture(void)
{
	CU_pSuite s = CU_add_suite("capture", NULL, NULL);
	TU_ADD(s, test_own_reader_hands_out_what_libpcap_does);
	TU_ADD(s, test_a_file_cut_anywhere_stops_at_the_same_packet_in_both_readers);
	TU_ADD(s, test_an_impossible_captured_length_is_an_error_in_both_readers);
	TU_ADD(s, test_records_of_the_largest_size_are_read_whole);
	TU_ADD(s, test_a_capture_from_a_pipe_is_read_whole);
}
