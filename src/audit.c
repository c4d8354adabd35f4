/* audit.c: drives one audit: packets from capture.c through decode.c into flow.c, settled flows' records
 * into classify.c. Opens the capture, sets up its packet loops (worker.h) and gathers their results;
 * offline it reads the files to their end, live it hands the loops to live.c until told to stop. Counts
 * what could not be decoded; never prints. */
#include "flowaudit/audit.h"
#include "flowaudit/filter.h"
#include "flowaudit/worker.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowaudit/capture.h"
#include "flowaudit/util.h"

/* A batch of settled flows: to the classifier, and appended to the flow log with --flows, each record
 * the way round the classifier took it. */
static void on_records(void *ctx, const struct flow_record *r, size_t n)
{
	struct worker *w = ctx;
	struct audit_result *res = &w->res;
	if (!res->nflow_logs) {
		cls_flows(&res->cls, r, n, NULL);
		return;
	}
	uint8_t turned[FLOW_BATCH];
	for (size_t base = 0; base < n; base += FLOW_BATCH) {
		size_t m = n - base < FLOW_BATCH ? n - base : FLOW_BATCH;
		cls_flows(&res->cls, r + base, m, turned);
		for (size_t i = 0, j; i < m; i = j + 1) {
			for (j = i; j < m && !turned[j]; j++)
				;
			flowlog_add(res->flow_logs[0].log, r + base + i, j - i);
			if (j < m) {
				struct flow_record other = r[base + j];
				flow_record_reverse(&other);
				flowlog_add(res->flow_logs[0].log, &other, 1);
			}
		}
	}
}

/* flow_snapshot()'s records, kept for the controller to classify. */
static void keep_held(void *ctx, const struct flow_record *r, size_t n)
{
	struct worker *w = ctx;
	if (w->nheld_rec + n > w->cap_held_rec) {
		while (w->nheld_rec + n > w->cap_held_rec)
			w->cap_held_rec = w->cap_held_rec ? w->cap_held_rec * 2 : 4096;
		w->held_rec = xrealloc(w->held_rec, w->cap_held_rec * sizeof(*w->held_rec));
	}
	memcpy(w->held_rec + w->nheld_rec, r, n * sizeof(*r));
	w->nheld_rec += n;
}

char *audit_drops_warning(uint64_t dropped, bool so_far)
{
	return xasprintf("the kernel dropped %llu packets%s: verdicts may miss attempts (docs/span-port.md)",
			 (unsigned long long)dropped, so_far ? " so far" : "");
}

void audit_warn(struct audit_result *res, char *msg)
{
	res->warnings = xrealloc(res->warnings, (res->nwarnings + 1) * sizeof(char *));
	res->warnings[res->nwarnings++] = msg;
}

/* What the report says about the inputs and the kernel's counters, as of now (in the capture's thread:
 * libpcap's counters are not to be read from another). */
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

/* Add one worker's share to the whole (the inputs are the same interface in every share); its rows and
 * flows are taken, not copied, when the whole has none yet. */
void audit_merge(struct audit_result *to, struct audit_result *from)
{
	if (!to->inputs) {
		to->inputs = xcalloc(from->ninputs, sizeof(*to->inputs));
		to->ninputs = from->ninputs;
		for (size_t i = 0; i < from->ninputs; i++) {
			to->inputs[i] = from->inputs[i];
			to->inputs[i].source = xstrdup(from->inputs[i].source);
			to->inputs[i].linktype = xstrdup(from->inputs[i].linktype);
		}
	} else {
		for (size_t i = 0; i < from->ninputs && i < to->ninputs; i++)
			to->inputs[i].packets += from->inputs[i].packets;
	}
	to->nsec |= from->nsec;
	to->packets += from->packets;
	to->decoded += from->decoded;
	to->skipped += from->skipped;
	for (size_t i = 0; i < DEC_NSTATUS; i++)
		to->by_status[i] += from->by_status[i];
	for (size_t i = 0; i < DEC_NENCAP; i++)
		to->by_encap[i] += from->by_encap[i];
	if (from->timed && (!to->timed || from->first_ns < to->first_ns))
		to->first_ns = from->first_ns;
	if (from->timed && (!to->timed || from->last_ns > to->last_ns))
		to->last_ns = from->last_ns;
	to->timed |= from->timed;
	to->time_jumps += from->time_jumps;
	for (size_t i = 0; i < from->njumps && to->njumps < CLK_KEEP; i++)
		to->jumps[to->njumps++] = from->jumps[i];
	to->dropped += from->dropped;
	to->ifdropped += from->ifdropped;
	to->flows.flows += from->flows.flows;
	to->flows.evicted += from->flows.evicted;
	to->flows.duplicates += from->flows.duplicates;
	to->flows.icmp_matched += from->flows.icmp_matched;
	to->flows.icmp_unmatched += from->flows.icmp_unmatched;
	to->flows.peak += from->flows.peak;
	cls_take(&to->cls, &from->cls);
	/* The flow logs are handed over, not copied: the records stay in their files. */
	if (from->nflow_logs) {
		to->flow_logs = xrealloc(to->flow_logs, (to->nflow_logs + from->nflow_logs) * sizeof(*to->flow_logs));
		memcpy(to->flow_logs + to->nflow_logs, from->flow_logs, from->nflow_logs * sizeof(*from->flow_logs));
		to->nflow_logs += from->nflow_logs;
		free(from->flow_logs);
		from->flow_logs = NULL;
		from->nflow_logs = 0;
	}
}

/* Decode one captured packet, at time ts, into the flow table's pipeline. */
static inline __attribute__((always_inline)) void ingest(struct worker *w, const struct cap_pkt *cp, uint64_t ts)
{
	struct audit_result *res = &w->res;
	/* No branch (see flow.c's touch()); the newest time is the clock's, taken when the result is read. */
	res->first_ns = ts < res->first_ns ? ts : res->first_ns;
	struct dec_pkt *p = flow_slot(w->ft);
	enum dec_status st = dec_frame(w->dec, cp->dlt, cp->data, cp->caplen, cp->len, p);
	res->by_status[st]++;
	if (st != DEC_OK) {
		/* Background frames (ARP, ND, ICMP echo ...) are not skipped input; broken ones are. */
		if (st != DEC_NOT_IP && st != DEC_OTHER_L4)
			res->skipped++;
		return;
	}
	res->decoded++;
	for (unsigned e = 0; p->encaps >> e; e++)
		res->by_encap[e] += p->encaps >> e & 1;
	flow_push(w->ft, ts, cp->data, cp->kept);
}

/* Keep a copy of a packet whose stamp is not judged yet (its data is valid during the call only). */
static void hold(struct worker *w, const struct cap_pkt *cp)
{
	size_t i = w->nheld++;
	if (!w->held_data[i])
		w->held_data[i] = xmalloc(CAP_MAX_RECORD);
	w->held[i] = *cp;
	w->held[i].kept = false; /* the copy is reused by the next packet held */
	w->held[i].caplen = cp->caplen < CAP_MAX_RECORD ? cp->caplen : CAP_MAX_RECORD;
	memcpy(w->held_data[i], cp->data, w->held[i].caplen);
	w->held[i].data = w->held_data[i];
	w->held_no[i] = w->cap.in[cp->input].packets;
	w->holding = true;
}

/* Judge the held packets now that the next stamp is known (has_next), or that there is none. */
void worker_release(struct worker *w, bool has_next, uint64_t next_ts)
{
	if (!w->nheld)
		return;
	size_t n = w->nheld;
	w->nheld = 0;
	w->holding = false;
	if (!w->clock.started) {
		uint64_t ts[CLK_START];
		for (size_t i = 0; i < n; i++)
			ts[i] = w->held[i].ts_ns;
		clk_start(&w->clock, ts, n);
		/* Each of the first packets, judged as any other: against the clock, then the packet after it. */
		for (size_t i = 0; i < n; i++) {
			uint64_t t = w->held[i].ts_ns;
			if (clk_judge(&w->clock, t) != CLK_TRUSTED)
				t = clk_resolve(&w->clock, t, w->held[i].input, w->held_no[i], i + 1 < n || has_next,
						i + 1 < n ? w->held[i + 1].ts_ns : next_ts);
			ingest(w, &w->held[i], t);
		}
		return;
	}
	uint64_t at = clk_resolve(&w->clock, w->held[0].ts_ns, w->held[0].input, w->held_no[0], has_next, next_ts);
	ingest(w, &w->held[0], at);
}

/* take()'s rare path, out of its way: packets held, or a stamp the clock does not trust. */
static __attribute__((noinline, cold)) void take_held(struct worker *w, const struct cap_pkt *cp)
{
	if (w->holding) {
		if (!w->clock.started && w->nheld < CLK_START) {
			hold(w, cp); /* the clock starts with the first few, judged when the one after them comes */
			return;
		}
		worker_release(w, true, cp->ts_ns);
		if (clk_judge(&w->clock, cp->ts_ns) == CLK_TRUSTED) {
			ingest(w, cp, cp->ts_ns);
			return;
		}
	}
	hold(w, cp);
}

/* The reader is about to overwrite the packets it handed out: the pipeline must be done with them. */
static void worker_reuse(void *ctx)
{
	struct worker *w = ctx;
	flow_drain(w->ft);
}

/* One captured packet (of worker ctx): its stamp judged by the capture's clock, then decoded. */
void worker_take(void *ctx, const struct cap_pkt *cp)
{
	struct worker *w = ctx;
	w->res.packets++;
	if (__builtin_expect(!w->holding && clk_judge(&w->clock, cp->ts_ns) == CLK_TRUSTED, 1))
		ingest(w, cp, cp->ts_ns);
	else
		take_held(w, cp);
}

/* What the capture's clock says in a result: the oldest time taken, the clock's newest, its time jumps. */
static void window(const struct worker *w, struct audit_result *r)
{
	r->timed = r->first_ns != UINT64_MAX;
	r->first_ns = r->timed ? r->first_ns : 0;
	r->last_ns = r->timed ? w->clock.now_ns : 0;
	r->time_jumps = w->clock.jumps;
	r->njumps = w->clock.nnamed;
	memcpy(r->jumps, w->clock.named, sizeof(w->clock.named));
}

/* The running state goes on untouched; the capture waits only for copies. */
void worker_snapshot(struct worker *w, uint64_t now_ns)
{
	struct audit_result *s = &w->snap;
	flow_flush(w->ft);
	*s = w->res;
	window(w, s);
	s->inputs = NULL;
	s->ninputs = 0;
	describe_inputs(s, &w->cap);
	s->warnings = NULL;
	s->nwarnings = 0;
	s->flows = *flow_stats(w->ft);
	s->flow_logs = NULL;
	s->nflow_logs = 0;
	if (w->res.nflow_logs) {
		/* The records so far, borrowed: the worker only appends after them. */
		struct flowlog *l = w->res.flow_logs[0].log;
		flowlog_flush(l);
		s->flow_logs = xmalloc(sizeof(*s->flow_logs));
		s->flow_logs[0] = (struct audit_flows){l, flowlog_count(l), false};
		s->nflow_logs = 1;
	}
	cls_clone(&s->cls, &w->res.cls);
	/* The capture waits only for copies: the held flows' records are classified by the controller. */
	w->nheld_rec = 0;
	flow_snapshot(w->ft, now_ns, keep_held, w);
}

int audit_run(const struct audit_opts *o, const struct graph *g, struct audit_result *res, struct diag *d)
{
	memset(res, 0, sizeof(*res));
	size_t n = o->iface && o->workers > 1 ? o->workers : 1;
	struct worker *w = xcalloc(n, sizeof(*w));
	struct crew *crew = o->iface ? live_crew_new() : NULL;
	int rc = 0;
	int filter_used = 0;
	if (o->iface) {
		char *filters[FILTER_TRIES];
		filter_tries(g, o->bpf, filters);
		struct cap_live_opts lo = {.iface = o->iface, .snaplen = o->snaplen, .buffer_mb = o->buffer_mb,
					   .promisc = o->promisc, .filters = (const char *const *)filters, .nfilters = FILTER_TRIES,
					   .fanout = n > 1, .fanout_create = true, .dec = &o->dec};
		for (size_t i = 0; i < n && rc == 0; i++) {
			rc = cap_open_live(&w[i].cap, &lo, d);
			/* the compact filter: chosen by the kernel's limit, or already for the number of ranges */
			filter_used = strcmp(filters[0], filters[2]) ? w[i].cap.filter_used : 2;
			lo.fanout_create = false; /* the others join the first one's group */
			lo.fanout_id = w[i].cap.fanout_id;
		}
		for (size_t i = 0; i < FILTER_TRIES; i++)
			free(filters[i]);
		/* Until every socket had joined the group, each saw every packet: start once it is complete. */
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		for (size_t i = 0; i < n && rc == 0 && n > 1; i++)
			cap_skip_before(&w[i].cap, (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
	} else {
		rc = cap_open_files(&w[0].cap, o->files, o->nfiles, o->bpf, d);
	}
	if (rc == 0 && o->write_path) {
		rc = cap_write_to(&w[0].cap, o->write_path, d);
		for (size_t i = 0; i < n && n > 1; i++) {
			w[i].cap.dump = w[0].cap.dump;
			w[i].cap.dump_lock = live_dump_lock(crew);
		}
	}
	/* Everything that needs privileges is open: give them up before reading a single packet. */
	if (rc == 0 && o->user)
		rc = cap_drop_privileges(o->user, d);
	if (rc == 0 && o->ready)
		rc = o->ready(o->ctx, d);
	/* The signal flags are not cleared here: a stop asked for while the capture opened still stops it. */
	for (size_t i = 0; i < n && rc == 0; i++) {
		cls_init(&w[i].res.cls, g);
		cls_set_max_rows(&w[i].res.cls, o->max_rows ? (o->max_rows + n - 1) / n : 0);
		clk_init(&w[i].clock);
		w[i].dec = &o->dec;
		w[i].holding = true; /* until the clock starts */
		w[i].res.first_ns = UINT64_MAX;
		w[i].crew = crew;
		if (o->want_flows) {
			struct flowlog *l = flowlog_new(d);
			if (!l) {
				rc = -1;
				break;
			}
			w[i].res.flow_logs = xmalloc(sizeof(*w[i].res.flow_logs));
			w[i].res.flow_logs[0] = (struct audit_flows){l, 0, true};
			w[i].res.nflow_logs = 1;
		}
		w[i].ft = flow_new(o->max_flows ? (o->max_flows + n - 1) / n : 0, (const uint8_t(*)[8192])g->ports,
				   on_records, &w[i]);
	}
	if (rc == 0) {
		if (o->iface) {
			g = live_run(o, crew, w, n, g, d);
		} else {
			/* Offline: the capture's reader (ours, or libpcap's) calls us for each packet. */
			w[0].rc = cap_read_all(&w[0].cap, worker_take, worker_reuse, &w[0]) < 0 ? -1 : 0;
			worker_release(&w[0], false, 0);
			flow_drain(w[0].ft);
		}
		for (size_t i = 0; i < n; i++) {
			bool cap_error = false;
			for (size_t j = 0; j < w[i].cap.n; j++)
				if (w[i].cap.in[j].error) {
					cap_error = true;
					/* Live, what was captured before the interface went away is still reported. */
					if (o->iface) {
						res->capture_failed = true;
						continue;
					}
					struct diag_loc loc = {.file = w[i].cap.in[j].path};
					diag_add(d, &loc, "%s", w[i].cap.in[j].error);
				}
			if (!(o->iface && cap_error))
				rc |= w[i].rc;
		}
	}
	if (rc == 0) {
		/* The capture ended when its last packet was seen, whichever worker saw it. */
		uint64_t end_ns = 0;
		for (size_t i = 0; i < n; i++)
			window(&w[i], &w[i].res);
		for (size_t i = 0; i < n; i++)
			end_ns = w[i].res.last_ns > end_ns ? w[i].res.last_ns : end_ns;
		cls_init(&res->cls, g);
		for (size_t i = 0; i < n; i++) {
			flow_finish(w[i].ft, end_ns);
			w[i].res.flows = *flow_stats(w[i].ft);
			describe_inputs(&w[i].res, &w[i].cap);
			for (size_t k = 0; k < w[i].res.nflow_logs; k++) {
				flowlog_flush(w[i].res.flow_logs[k].log);
				w[i].res.flow_logs[k].n = flowlog_count(w[i].res.flow_logs[k].log);
			}
			audit_merge(res, &w[i].res);
		}
		/* A flow record lost (a full disk under $TMPDIR) is no report: --flows promises every one. */
		for (size_t k = 0; k < res->nflow_logs && rc == 0; k++)
			if (flowlog_error(res->flow_logs[k].log)) {
				struct diag_loc loc = {.file = NULL};
				diag_add(d, &loc, "--flows: the flow records could not be kept: %s (TMPDIR names where they "
					 "go: a file system with room for some 80 bytes a flow)",
					 flowlog_error(res->flow_logs[k].log));
				rc = -1;
			}
	}
	if (rc == 0) {
		bool failed = res->capture_failed;
		res->live = o->iface != NULL;
		res->capture_failed = failed;
		res->workers = (unsigned)n;
		cls_finish(&res->cls, o->sorted_rows);
		for (size_t i = 0; i < n && failed; i++)
			for (size_t j = 0; j < w[i].cap.n; j++)
				if (w[i].cap.in[j].error) {
					audit_warn(res, xasprintf("the capture on %s ended: %s; this report covers what was captured "
							    "before", w[i].cap.in[j].path, w[i].cap.in[j].error));
					failed = false;
					break;
				}
		for (size_t i = 0; i < n; i++)
			if (w[i].reload_error) {
				audit_warn(res, xasprintf("after a reload the capture filter stayed the old one: %s", w[i].reload_error));
				break;
			}
		if (res->cls.folded)
			audit_warn(res, xasprintf("more than %zu address pairs (--max-rows): %llu flows of further pairs are counted "
					    "on one row per host pair and port", o->max_rows,
					    (unsigned long long)res->cls.folded));
		if (res->flows.evicted) {
			size_t rows = cls_incomplete_rows(&res->cls);
			audit_warn(res, xasprintf("%llu flows were settled early to make room (--max-flows): the verdicts of %zu "
					    "rows are incomplete (marked \"incomplete\")",
					    (unsigned long long)res->flows.evicted, rows));
		}
		if (res->time_jumps) {
			char *list = NULL;
			size_t len = 0;
			for (size_t i = 0; i < res->njumps; i++)
				str_append(&list, &len, "%s%s packet %llu", i ? ", " : "", res->inputs[res->jumps[i].input].source,
				    (unsigned long long)res->jumps[i].packet);
			audit_warn(res, xasprintf("%llu record%s stamped far from the capture's clock (%s%s) taken at the clock's "
					    "time instead: a bad time stamp settles no other flow",
					    (unsigned long long)res->time_jumps, res->time_jumps == 1 ? "" : "s", list,
					    res->time_jumps > res->njumps ? ", ..." : ""));
			free(list);
		}
		if (filter_used >= 2)
			audit_warn(res, xasprintf("the graph has too many ports for a kernel filter: capturing every TCP packet "
					    "(the audit is the same, the kernel copies more)"));
		for (size_t i = 0; i < w[0].cap.n; i++)
			if (w[0].cap.in[i].cut)
				audit_warn(res, xstrdup(w[0].cap.in[i].cut));
		if (res->dropped)
			audit_warn(res, audit_drops_warning(res->dropped, false));
	}
	for (size_t i = 0; i < n; i++) {
		if (w[i].ft)
			flow_free(w[i].ft);
		free(w[i].reload_error);
		free(w[i].held_rec);
		for (size_t k = 0; k < CLK_START; k++)
			free(w[i].held_data[k]);
		audit_result_free(&w[i].res);
		cap_close(&w[i].cap);
	}
	free(w);
	live_crew_free(crew);
	return rc < 0 ? -1 : 0;
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
	for (size_t i = 0; i < res->nflow_logs; i++)
		if (res->flow_logs[i].owned)
			flowlog_free(res->flow_logs[i].log);
	free(res->flow_logs);
	cls_free(&res->cls);
	memset(res, 0, sizeof(*res));
}
