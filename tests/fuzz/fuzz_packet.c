/* fuzz_packet.c: libFuzzer harness for the packet path: one raw frame of a chosen link type through
 * the decoder, the flow table and the classifier (rules/peergfs.rules x rules/demo.site).
 * Input: byte 0 picks the link type, bytes 1-2 the captured length cut, the rest is the frame.
 * Flows are settled every 64 inputs so the classifier sees them too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/classify.h"
#include "flowaudit/decode.h"
#include "flowaudit/flow.h"

static struct rules rules;
static struct site site;
static struct graph graph;
static struct cls cls;
static struct flow_table *table;
static uint64_t clock_ns = 1700000000ull * 1000000000ull;
static unsigned inputs;

static void on_records(void *ctx, const struct flow_record *r, size_t n)
{
	cls_flows(ctx, r, n, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct diag d;
	diag_init(&d);
	rules_init(&rules);
	if (rules_load(&rules, "rules/peergfs.rules", &d) < 0 || site_load(&site, "rules/demo.site", &rules, &d) < 0) {
		diag_print(&d, stderr);
		abort();
	}
	diag_free(&d);
	graph_build(&graph, &rules, &site);
	cls_init(&cls, &graph);
	table = flow_new(4096, (const uint8_t(*)[8192])graph.ports, on_records, &cls);
	return 0;
}

static const int dlts[] = {1, 113, 276, 12, 228, 229, 0, 108, 9, 50, 104, 107, 239, 10, 226, 105, 127, 192};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	int dlt = dlts[data[0] % (sizeof(dlts) / sizeof(dlts[0]))];
	size_t len = size - 3;
	size_t cut = (size_t)(data[1] << 8 | data[2]);
	size_t caplen = cut && cut < len ? cut : len;
	static const struct dec_cfg cfg = DEC_CFG_DEFAULT;
	/* A copy of exactly caplen bytes, so ASan sees any read past the capture. */
	uint8_t *frame = malloc(caplen ? caplen : 1);
	memcpy(frame, data + 3, caplen);
	/* Through the pipeline, as flowaudit runs it (flow_finish drains it below). */
	struct dec_pkt *slot = flow_slot(table), ref;
	enum dec_status st = dec_frame(&cfg, dlt, frame, (uint32_t)caplen, (uint32_t)len, slot);
	/* The fast path must decode exactly as the general one. */
	if (dec_frame_general(&cfg, dlt, frame, (uint32_t)caplen, (uint32_t)len, &ref) != st || memcmp(slot, &ref, sizeof(ref)))
		abort();
	if (st == DEC_OK)
		flow_push(table, clock_ns, frame, false);
	free(frame);
	clock_ns += 1000000ull * (data[1] & 0x0f);
	if (++inputs % 64 == 0) {
		flow_finish(table, clock_ns);
		cls_finish(&cls, inputs % 128 == 0); /* both ways: sorted, and left as they came */
		cls_free(&cls);
		cls_init(&cls, &graph);
	}
	return 0;
}
