/* audit.c: drives one audit: packets from capture.c through decode.c into flow.c, settled flows into
 * classify.c. Offline it reads the files to their end; live it runs until told to stop, writing interim
 * reports from a copy of the running classification. Counts what could not be decoded; never prints. */
#include "flowaudit/audit.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowaudit/capture.h"
#include "flowaudit/util.h"

static volatile sig_atomic_t stop_requested;   /* SIGINT, SIGTERM */
static volatile sig_atomic_t report_requested; /* SIGUSR1 */
static volatile sig_atomic_t reload_requested; /* SIGHUP */

void audit_signal(int sig)
{
	if (sig == SIGUSR1)
		report_requested = 1;
	else if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
	cap_wakeup();
}

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

static void fold_into_copy(void *ctx, const struct flow *f, enum flow_verdict v)
{
	cls_flow(ctx, f, v);
}

static int cmp_flow_log(const void *a, const void *b)
{
	const struct audit_flow *x = a, *y = b;
	return x->first_ns < y->first_ns ? -1 : x->first_ns > y->first_ns;
}

static void warn(struct audit_result *res, char *msg)
{
	res->warnings = xrealloc(res->warnings, (res->nwarnings + 1) * sizeof(char *));
	res->warnings[res->nwarnings++] = msg;
}

/* What the report says about the inputs and the kernel's counters, as of now. */
static void describe_inputs(struct audit_result *res, struct cap *cap)
{
	for (size_t i = 0; i < res->ninputs; i++) {
		free(res->inputs[i].source);
		free(res->inputs[i].linktype);
	}
	free(res->inputs);
	res->inputs = xcalloc(cap->n, sizeof(*res->inputs));
	res->ninputs = cap->n;
	res->nsec = false;
	for (size_t i = 0; i < cap->n; i++) {
		const char *lt = pcap_datalink_val_to_name(cap->in[i].dlt);
		res->inputs[i].source = xstrdup(cap->in[i].path);
		res->inputs[i].linktype = xstrdup(lt ? lt : "unknown");
		res->inputs[i].packets = cap->in[i].packets;
		res->inputs[i].nsec = cap->in[i].nsec;
		res->nsec |= cap->in[i].nsec;
	}
	struct cap_stats st;
	if (cap->live && cap_stats(cap, &st) == 0) {
		res->dropped = st.dropped;
		res->ifdropped = st.ifdropped;
	}
}

/* An interim report: the running classification copied, the flows still open folded into the copy with
 * the verdict they would get now, then judged. The original goes on untouched. */
static void interim(const struct audit_opts *o, struct audit_result *res, struct cap *cap, struct flow_table *ft,
		    uint64_t now_ns)
{
	describe_inputs(res, cap);
	struct audit_result view = *res;
	view.interim = true;
	view.flows = *flow_stats(ft);
	cls_clone(&view.cls, &res->cls);
	flow_foreach(ft, now_ns, fold_into_copy, &view.cls);
	cls_finish(&view.cls);
	char *drops = NULL;
	if (res->dropped) {
		drops = xasprintf("the kernel dropped %llu packets so far: verdicts may miss attempts "
				  "(docs/span-port.md)", (unsigned long long)res->dropped);
		view.warnings = xcalloc(res->nwarnings + 1, sizeof(char *));
		memcpy(view.warnings, res->warnings, res->nwarnings * sizeof(char *));
		view.warnings[view.nwarnings++] = drops;
	}
	o->report(o->ctx, &view);
	if (drops)
		free(view.warnings);
	free(drops);
	cls_free(&view.cls);
}

#define BATCH 16
#define AHEAD 6 /* how many packets ahead the flow entry is prefetched */

struct batched {
	struct dec_pkt p;
	uint64_t ts;
	uint32_t hash;
};

static void run_batch(struct flow_table *ft, const struct batched *b, size_t n)
{
	for (size_t i = 0; i < n && i < AHEAD; i++)
		flow_prefetch_entry(ft, b[i].hash);
	for (size_t i = 0; i < n; i++) {
		if (i + AHEAD < n)
			flow_prefetch_entry(ft, b[i + AHEAD].hash);
		flow_packet(ft, &b[i].p, b[i].ts);
	}
}

static uint64_t monotonic_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

int audit_run(const struct audit_opts *o, const struct graph *g, struct audit_result *res, struct diag *d)
{
	memset(res, 0, sizeof(*res));
	cls_init(&res->cls, g);
	struct cap cap;
	int rc;
	if (o->iface) {
		char *filter = audit_live_filter(g, o->bpf, true), *plain = audit_live_filter(g, o->bpf, false);
		struct cap_live_opts lo = {.iface = o->iface, .snaplen = o->snaplen, .buffer_mb = o->buffer_mb,
					   .promisc = o->promisc, .filter = filter, .fallback = plain};
		rc = cap_open_live(&cap, &lo, d);
		res->live = true;
		free(filter);
		free(plain);
	} else {
		rc = cap_open_files(&cap, o->files, o->nfiles, o->bpf, d);
	}
	if (rc == 0 && o->write_path)
		rc = cap_write_to(&cap, o->write_path, d);
	/* Everything that needs privileges is open: give them up before reading a single packet. */
	if (rc == 0 && o->user)
		rc = cap_drop_privileges(o->user, d);
	if (rc < 0) {
		cap_close(&cap);
		return -1;
	}
	stop_requested = report_requested = reload_requested = 0;
	struct run run = {res, o->want_flows};
	struct flow_table *ft = flow_new(o->max_flows, (const uint8_t(*)[8192])g->ports, on_settle, &run);
	uint64_t next_report = o->interval_s ? monotonic_s() + o->interval_s : 0;
	/* Offline, decoded packets are handled in batches so that each one's hash bucket and flow are
	 * fetched from memory while the ones before it are processed; live, one at a time. */
	struct batched batch[BATCH];
	size_t nbatch = 0, batch_max = cap.live ? 1 : BATCH;
	struct cap_pkt cp;
	while (!stop_requested && (rc = cap_next(&cap, &cp)) > 0) {
		if (rc == 1) {
			struct dec_pkt *p = &batch[nbatch].p;
			res->packets++;
			if (!res->first_ns || cp.ts_ns < res->first_ns)
				res->first_ns = cp.ts_ns;
			if (cp.ts_ns > res->last_ns)
				res->last_ns = cp.ts_ns;
			enum dec_status st = dec_frame(cp.dlt, cp.data, cp.caplen, cp.len, p);
			res->by_status[st]++;
			if (st == DEC_OK) {
				res->decoded++;
				for (unsigned e = 0; p->encaps >> e; e++)
					res->by_encap[e] += p->encaps >> e & 1;
				batch[nbatch].ts = cp.ts_ns;
				batch[nbatch].hash = flow_prefetch_bucket(ft, p);
				if (++nbatch == batch_max) {
					run_batch(ft, batch, nbatch);
					nbatch = 0;
				}
			} else if (st != DEC_NOT_IP && st != DEC_OTHER_L4) {
				/* Background frames (ARP, ND, ICMP echo ...) are not skipped input; broken ones are. */
				res->skipped++;
			}
		}
		if (!cap.live)
			continue;
		if (reload_requested && o->reload) {
			reload_requested = 0;
			const struct graph *ng = o->reload(o->ctx);
			if (ng) {
				cls_rebase(&res->cls, ng);
				flow_set_hint(ft, (const uint8_t(*)[8192])ng->ports);
				g = ng;
			}
		}
		if (report_requested || (next_report && monotonic_s() >= next_report)) {
			report_requested = 0;
			next_report = o->interval_s ? monotonic_s() + o->interval_s : 0;
			if (o->report)
				interim(o, res, &cap, ft, res->last_ns);
		}
	}
	run_batch(ft, batch, nbatch);
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
	describe_inputs(res, &cap);
	for (size_t i = 0; i < cap.n; i++)
		if (cap.in[i].cut)
			warn(res, xstrdup(cap.in[i].cut));
	if (res->dropped)
		warn(res, xasprintf("the kernel dropped %llu packets: verdicts may miss attempts (docs/span-port.md)",
				    (unsigned long long)res->dropped));
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

/* Appends "fmt" to a growing string. */
static void cat(char **s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char **s, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *piece = xvasprintf(fmt, ap);
	va_end(ap);
	size_t n = strlen(piece);
	*s = xrealloc(*s, *len + n + 1);
	memcpy(*s + *len, piece, n + 1);
	*len += n;
	free(piece);
}

char *audit_live_filter(const struct graph *g, const char *user_bpf, bool vlan)
{
	char *f = NULL;
	size_t len = 0;
	/* The graph's ports, both protocols. */
	cat(&f, &len, "(");
	bool any = false;
	for (int proto = 0; proto < 2; proto++)
		for (unsigned port = 1; port < 65536; port++)
			if (g->ports[proto][port >> 3] >> (port & 7) & 1) {
				cat(&f, &len, "%s%s port %u", any ? " or " : "", proto ? "udp" : "tcp", port);
				any = true;
			}
	/* Connection attempts and closes on any port (unexpected flows), IPv4 and IPv6 without extension
	 * headers; ICMP and ICMPv6 destination-unreachable errors; remote-mirroring tunnels (GRE, VXLAN,
	 * Geneve, MPLS, PPPoE), which are decapsulated later. */
	cat(&f, &len, "%stcp[tcpflags] & (tcp-syn|tcp-rst|tcp-fin) != 0"
		      " or (ip6 and ip6[6] == 6 and ip6[53] & 7 != 0)"
		      " or icmp[icmptype] == icmp-unreach or (icmp6 and ip6[40] == 1)"
		      " or proto gre or udp port 4789 or udp port 6081 or ether proto 0x8847 or ether proto 0x8864)",
	    any ? " or " : "");
	/* The same behind one or two VLAN tags. libpcap's "vlan" shifts the offsets for the rest of the
	 * expression, so the tagged clauses come last and nest, and the user's expression goes first. */
	if (vlan) {
		char *base = xstrdup(f);
		cat(&f, &len, " or (vlan and (%s or (vlan and %s)))", base, base);
		free(base);
	}
	if (user_bpf && *user_bpf) {
		char *all = xasprintf("(%s) and (%s)", user_bpf, f);
		free(f);
		f = all;
	}
	return f;
}
