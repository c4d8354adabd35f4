/* audit.c: drives one offline audit: packets from capture.c through decode.c into flow.c, settled
 * flows into classify.c. Counts what could not be decoded; never prints. */
#include "flowaudit/audit.h"

#include <stdlib.h>
#include <string.h>

#include "flowaudit/capture.h"
#include "flowaudit/util.h"

struct run {
	struct audit_result *res;
	bool want_flows;
};

static void on_settle(void *ctx, const struct flow *f, enum flow_verdict v)
{
	struct run *run = ctx;
	struct audit_result *res = run->res;
	cls_flow(&res->cls, f, v);
	if (!run->want_flows)
		return;
	GROW(res->flow_log, res->cap_flow_log, res->nflow_log);
	struct audit_flow *af = &res->flow_log[res->nflow_log++];
	memcpy(af->client, flow_client_addr(f), 16);
	memcpy(af->server, flow_server_addr(f), 16);
	af->client_port = flow_client_port(f);
	af->server_port = flow_server_port(f);
	af->proto = f->key.proto;
	af->first_ns = f->first_ns;
	af->last_ns = f->last_ns;
	memcpy(af->history, f->history, sizeof(af->history));
	af->encaps = f->encaps;
	af->verdict = v;
}

static int cmp_flow_log(const void *a, const void *b)
{
	const struct audit_flow *x = a, *y = b;
	return x->first_ns < y->first_ns ? -1 : x->first_ns > y->first_ns;
}

int audit_run(const struct audit_opts *o, const struct graph *g, struct audit_result *res, struct diag *d)
{
	memset(res, 0, sizeof(*res));
	cls_init(&res->cls, g);
	struct cap cap;
	if (cap_open_files(&cap, o->files, o->nfiles, o->bpf, d) < 0) {
		cap_close(&cap);
		return -1;
	}
	struct run run = {res, o->want_flows};
	struct flow_table *ft = flow_new(o->max_flows, (const uint8_t(*)[8192])g->ports, on_settle, &run);
	struct cap_pkt cp;
	int rc;
	while ((rc = cap_next(&cap, &cp)) > 0) {
		struct dec_pkt p;
		res->packets++;
		if (!res->first_ns || cp.ts_ns < res->first_ns)
			res->first_ns = cp.ts_ns;
		if (cp.ts_ns > res->last_ns)
			res->last_ns = cp.ts_ns;
		enum dec_status st = dec_frame(cp.dlt, cp.data, cp.caplen, cp.len, &p);
		res->by_status[st]++;
		if (st != DEC_OK) {
			/* Background frames (ARP, ND, ICMP echo ...) are not skipped input; broken ones are. */
			if (st != DEC_NOT_IP && st != DEC_OTHER_L4)
				res->skipped++;
			continue;
		}
		res->decoded++;
		for (unsigned e = 0; p.encaps >> e; e++)
			res->by_encap[e] += p.encaps >> e & 1;
		flow_packet(ft, &p, cp.ts_ns);
	}
	if (rc < 0) {
		for (size_t i = 0; i < cap.n; i++)
			if (cap.in[i].error) {
				struct diag_loc loc = {.file = cap.in[i].path};
				diag_add(d, &loc, "%s", cap.in[i].error);
			}
		flow_free(ft);
		cap_close(&cap);
		return -1;
	}
	flow_finish(ft, res->last_ns);
	res->flows = *flow_stats(ft);
	flow_free(ft);
	cls_finish(&res->cls);
	if (res->flow_log)
		qsort(res->flow_log, res->nflow_log, sizeof(*res->flow_log), cmp_flow_log);

	res->inputs = xcalloc(cap.n, sizeof(*res->inputs));
	res->ninputs = cap.n;
	for (size_t i = 0; i < cap.n; i++) {
		const char *lt = pcap_datalink_val_to_name(cap.in[i].dlt);
		res->inputs[i].source = xstrdup(cap.in[i].path);
		res->inputs[i].linktype = xstrdup(lt ? lt : "unknown");
		res->inputs[i].packets = cap.in[i].packets;
		res->inputs[i].nsec = cap.in[i].nsec;
		res->nsec |= cap.in[i].nsec;
		if (cap.in[i].cut) {
			res->warnings = xrealloc(res->warnings, (res->nwarnings + 1) * sizeof(char *));
			res->warnings[res->nwarnings++] = xstrdup(cap.in[i].cut);
		}
	}
	cap_close(&cap);
	return 0;
}

void audit_result_free(struct audit_result *res)
{
	for (size_t i = 0; i < res->ninputs; i++) {
		free(res->inputs[i].source);
		free(res->inputs[i].linktype);
	}
	free(res->inputs);
	for (size_t i = 0; i < res->nwarnings; i++)
		free(res->warnings[i]);
	free(res->warnings);
	free(res->flow_log);
	cls_free(&res->cls);
	memset(res, 0, sizeof(*res));
}
