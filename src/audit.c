/* audit.c: drives one audit: packets from capture.c through decode.c into flow.c, settled flows into
 * classify.c. Offline it reads the files to their end; live it runs until told to stop, writing interim
 * reports from a copy of the running classification. Counts what could not be decoded; never prints. */
#include "flowaudit/audit.h"

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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
}

/* What the controller of a live capture asks of its workers, one request at a time. */
enum crew_req { REQ_SNAPSHOT, REQ_RELOAD };

struct crew {
	pthread_mutex_t lock;
	pthread_cond_t acked;
	pthread_mutex_t dump_lock; /* -w: one file for every worker */
	atomic_uint seq;        /* bumped for each request; a worker answers each number once */
	atomic_bool stop;
	enum crew_req req;
	uint64_t now_ns;        /* REQ_SNAPSHOT: judge open flows as of this time */
	const struct graph *g;  /* REQ_RELOAD: the graph to move onto */
	const char *filters[4]; /* REQ_RELOAD: its capture filters, best first (live_filters()) */
	uint64_t stop_mono_ns;  /* when the stop was asked for (CLOCK_MONOTONIC), for the drain */
};

/* One packet loop: a capture, its flow table and its share of the result. Offline there is one, run
 * in the caller's thread; live there is one thread per worker (--workers), each fed its own share of
 * the flows by the kernel (fanout.c), and a controller (the caller) that serves signals and reports. */
struct worker {
	struct cap cap;
	struct flow_table *ft;
	struct audit_result res;
	bool want_flows;
	struct crew *crew;      /* live only */
	unsigned acked;         /* the last request answered (under crew->lock) */
	bool gone;              /* the thread left its loop (under crew->lock) */
	int rc;
	struct clk clock;       /* the capture's clock: a record with an absurd stamp cannot move it */
	/* Packets whose stamps wait for the next ones: the capture's first few (clk_start()), then at most one
	 * whose stamp the next packet must confirm. */
	struct cap_pkt held[CLK_START];
	uint8_t *held_data[CLK_START];
	uint64_t held_no[CLK_START]; /* their record numbers in their inputs */
	size_t nheld;
	bool holding;           /* nheld, or the clock not started yet: take()'s one test for the rare path */
	struct audit_result snap; /* the answer to REQ_SNAPSHOT */
	struct flow_record *held_rec; /* with it: the records the flows still held would get now, which the
				       * controller folds into snap.cls (off the capture path) */
	size_t nheld_rec, cap_held_rec;
	char *reload_error;     /* REQ_RELOAD: the new filter could not be applied (the old one stays) */
	pthread_t thread;
};

/* A batch of settled flows: to the classifier, and appended to the flow log with --flows. */
static void on_records(void *ctx, const struct flow_record *r, size_t n)
{
	struct worker *w = ctx;
	struct audit_result *res = &w->res;
	cls_flows(&res->cls, r, n);
	if (!w->want_flows)
		return;
	while (res->nflow_log + n > res->cap_flow_log)
		res->cap_flow_log = res->cap_flow_log ? res->cap_flow_log * 2 : 1024;
	res->flow_log = xrealloc(res->flow_log, res->cap_flow_log * sizeof(*res->flow_log));
	memcpy(res->flow_log + res->nflow_log, r, n * sizeof(*r));
	res->nflow_log += n;
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

static int cmp_flow_log(const void *a, const void *b)
{
	const struct flow_record *x = a, *y = b;
	return x->first_ns < y->first_ns ? -1 : x->first_ns > y->first_ns;
}

static void warn(struct audit_result *res, char *msg)
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
static void merge_result(struct audit_result *to, struct audit_result *from)
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
	if (from->nflow_log && !to->nflow_log) {
		free(to->flow_log);
		to->flow_log = from->flow_log;
		to->nflow_log = from->nflow_log;
		to->cap_flow_log = from->cap_flow_log;
		from->flow_log = NULL;
		from->nflow_log = from->cap_flow_log = 0;
	} else if (from->nflow_log) {
		to->flow_log = xrealloc(to->flow_log, (to->nflow_log + from->nflow_log) * sizeof(*to->flow_log));
		memcpy(to->flow_log + to->nflow_log, from->flow_log, from->nflow_log * sizeof(*from->flow_log));
		to->nflow_log += from->nflow_log;
		to->cap_flow_log = to->nflow_log;
	}
}

/* Decode one captured packet, at time ts, into the flow table's pipeline. */
static inline __attribute__((always_inline)) void ingest(struct worker *w, const struct cap_pkt *cp, uint64_t ts)
{
	struct audit_result *res = &w->res;
	/* No branch (see flow.c's touch()); the newest time is the clock's, taken when the result is read. */
	res->first_ns = ts < res->first_ns ? ts : res->first_ns;
	struct dec_pkt *p = flow_slot(w->ft);
	enum dec_status st = dec_frame(cp->dlt, cp->data, cp->caplen, cp->len, p);
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
	flow_push(w->ft, ts);
}

/* Keep a copy of a packet whose stamp is not judged yet (its data is valid during the call only). */
static void hold(struct worker *w, const struct cap_pkt *cp)
{
	size_t i = w->nheld++;
	if (!w->held_data[i])
		w->held_data[i] = xmalloc(CAP_MAX_RECORD);
	w->held[i] = *cp;
	w->held[i].caplen = cp->caplen < CAP_MAX_RECORD ? cp->caplen : CAP_MAX_RECORD;
	memcpy(w->held_data[i], cp->data, w->held[i].caplen);
	w->held[i].data = w->held_data[i];
	w->held_no[i] = w->cap.in[cp->input].packets;
	w->holding = true;
}

/* Judge the held packets now that the next stamp is known (has_next), or that there is none. */
static void release(struct worker *w, bool has_next, uint64_t next_ts)
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
		release(w, true, cp->ts_ns);
		if (clk_judge(&w->clock, cp->ts_ns) == CLK_TRUSTED) {
			ingest(w, cp, cp->ts_ns);
			return;
		}
	}
	hold(w, cp);
}

/* One captured packet (of worker ctx): its stamp judged by the capture's clock, then decoded. */
static void take(void *ctx, const struct cap_pkt *cp)
{
	struct worker *w = ctx;
	w->res.packets++;
	if (__builtin_expect(!w->holding && clk_judge(&w->clock, cp->ts_ns) == CLK_TRUSTED, 1))
		ingest(w, cp, cp->ts_ns);
	else
		take_held(w, cp);
}

/* A worker's answer to a snapshot request: its classification so far, with the flows still open folded
 * in with the verdict they would get now. The running state goes on untouched. */
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

static void snapshot(struct worker *w, uint64_t now_ns)
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
	s->flow_log = NULL;
	if (w->res.nflow_log) {
		s->flow_log = xmalloc(w->res.nflow_log * sizeof(*s->flow_log));
		memcpy(s->flow_log, w->res.flow_log, w->res.nflow_log * sizeof(*s->flow_log));
	}
	s->cap_flow_log = s->nflow_log;
	cls_clone(&s->cls, &w->res.cls);
	/* The capture waits only for copies: the held flows' records are classified by the controller. */
	w->nheld_rec = 0;
	flow_snapshot(w->ft, now_ns, keep_held, w);
}

/* Live: answer the controller's newest request, if not answered yet. True when told to stop. */
static bool serve(struct worker *w)
{
	struct crew *c = w->crew;
	if (atomic_load_explicit(&c->stop, memory_order_relaxed))
		return true;
	unsigned seq = atomic_load_explicit(&c->seq, memory_order_acquire);
	if (seq == w->acked)
		return false;
	if (c->req == REQ_SNAPSHOT) {
		snapshot(w, c->now_ns);
	} else {
		flow_flush(w->ft); /* what settled under the old graph is judged as the rest is */
		cls_rebase(&w->res.cls, c->g);
		flow_set_hint(w->ft, (const uint8_t(*)[8192])c->g->ports);
		/* The kernel's filter follows the graph: a new port or protocol is captured from now on. */
		struct diag d;
		diag_init(&d);
		if (cap_set_filter(&w->cap, c->filters, 4, &d) < 0 && d.n) {
			free(w->reload_error);
			w->reload_error = xstrdup(d.msgs[0].msg);
		}
		diag_free(&d);
	}
	pthread_mutex_lock(&c->lock);
	w->acked = seq;
	pthread_cond_broadcast(&c->acked);
	pthread_mutex_unlock(&c->lock);
	return false;
}

#define DRAIN_QUIET_NS 300000000ull /* longer than the ring's block timeout (cap_open_live: 200 ms) */
#define DRAIN_MAX_NS 2000000000ull

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The packet loop. Offline, the capture's reader (ours, or libpcap's) calls us for each packet. Live, a
 * quiet moment or a request from the controller drains the pipeline first. */
static int pump(struct worker *w)
{
	if (!w->crew) {
		int rc = cap_read_all(&w->cap, take, w);
		release(w, false, 0);
		flow_drain(w->ft);
		return rc < 0 ? -1 : 0;
	}
	struct cap_pkt cp;
	int rc;
	bool draining = false;
	while ((rc = cap_next(&w->cap, &cp)) > 0) {
		if (rc == 1)
			take(w, &cp);
		if (draining) {
			/* Stopping: what the kernel holds is read too. A block of the ring becomes readable when its
			 * timeout (the 200 ms read timeout) expires, so the drain ends at the first quiet wait after
			 * that, or after DRAIN_MAX_NS on a link that never goes quiet. */
			uint64_t since = mono_ns() - w->crew->stop_mono_ns;
			if ((rc == CAP_TIMEOUT && since > DRAIN_QUIET_NS) || since > DRAIN_MAX_NS)
				break;
			continue;
		}
		if (rc == CAP_TIMEOUT || atomic_load_explicit(&w->crew->seq, memory_order_relaxed) != w->acked ||
		    atomic_load_explicit(&w->crew->stop, memory_order_relaxed)) {
			flow_drain(w->ft);
			if (serve(w))
				draining = true;
		}
	}
	release(w, false, 0);
	flow_drain(w->ft);
	return rc < 0 ? -1 : 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->rc = pump(w);
	pthread_mutex_lock(&w->crew->lock);
	w->gone = true;
	pthread_cond_broadcast(&w->crew->acked);
	pthread_mutex_unlock(&w->crew->lock);
	return NULL;
}

static void live_filters(const struct graph *g, const char *user_bpf, char *out[4]);
static void cat(char **s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Post a request to every worker and wait until each has answered it (or has stopped). */
static void ask(struct crew *c, struct worker *w, size_t n, enum crew_req req)
{
	c->req = req;
	unsigned seq = atomic_fetch_add_explicit(&c->seq, 1, memory_order_release) + 1;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < n; i++)
		while (w[i].acked != seq && !w[i].gone)
			pthread_cond_wait(&c->acked, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

static char *drops_warning(uint64_t dropped, bool so_far)
{
	return xasprintf("the kernel dropped %llu packets%s: verdicts may miss attempts (docs/span-port.md)",
			 (unsigned long long)dropped, so_far ? " so far" : "");
}

/* An interim report: every worker's snapshot, merged and judged. */
static void interim(const struct audit_opts *o, struct crew *c, struct worker *w, size_t n, const struct graph *g)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	c->now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	ask(c, w, n, REQ_SNAPSHOT);
	struct audit_result view;
	memset(&view, 0, sizeof(view));
	cls_init(&view.cls, g);
	for (size_t i = 0; i < n; i++)
		if (w[i].acked == atomic_load(&c->seq) && w[i].snap.cls.g) {
			cls_flows(&w[i].snap.cls, w[i].held_rec, w[i].nheld_rec);
			merge_result(&view, &w[i].snap);
			audit_result_free(&w[i].snap);
		}
	view.live = view.interim = true;
	view.workers = (unsigned)n;
	cls_finish(&view.cls, o->sorted_rows);
	if (view.flow_log)
		qsort(view.flow_log, view.nflow_log, sizeof(*view.flow_log), cmp_flow_log);
	if (view.dropped)
		warn(&view, drops_warning(view.dropped, true));
	o->report(o->ctx, &view);
	audit_result_free(&view);
}

/* Live: start the workers, serve signals and report intervals until told to stop, join them. */
static void control(const struct audit_opts *o, struct crew *c, struct worker *w, size_t n, const struct graph *g,
		    struct diag *d)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old); /* signals are the controller's, not the workers' */
	size_t started = 0;
	for (; started < n; started++)
		if (pthread_create(&w[started].thread, NULL, worker_main, &w[started]) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (started < n) {
		struct diag_loc loc = {.file = o->iface};
		diag_add(d, &loc, "cannot start worker %zu of %zu", started + 1, n);
		w[started].rc = -1;
		atomic_store(&c->stop, true);
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	time_t next_report = o->interval_s ? t0.tv_sec + o->interval_s : 0;
	while (!stop_requested && !atomic_load(&c->stop)) {
		poll(NULL, 0, 200); /* a signal ends the wait early */
		bool any_gone = false;
		pthread_mutex_lock(&c->lock);
		for (size_t i = 0; i < started; i++)
			any_gone |= w[i].gone;
		pthread_mutex_unlock(&c->lock);
		if (any_gone)
			break; /* a capture failed (the interface went away): stop them all, report the error */
		if (reload_requested && o->reload) {
			reload_requested = 0;
			const struct graph *ng = o->reload(o->ctx);
			if (ng) {
				c->g = ng;
				live_filters(ng, o->bpf, (char **)c->filters);
				ask(c, w, started, REQ_RELOAD);
				for (size_t i = 0; i < 4; i++) {
					free((char *)c->filters[i]);
					c->filters[i] = NULL;
				}
				g = ng;
			}
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (report_requested || (next_report && now.tv_sec >= next_report)) {
			report_requested = 0;
			next_report = o->interval_s ? now.tv_sec + o->interval_s : 0;
			if (o->report)
				interim(o, c, w, started, g);
		}
	}
	c->stop_mono_ns = mono_ns();
	atomic_store(&c->stop, true);
	for (size_t i = 0; i < started; i++)
		pthread_join(w[i].thread, NULL);
}

int audit_run(const struct audit_opts *o, const struct graph *g, struct audit_result *res, struct diag *d)
{
	memset(res, 0, sizeof(*res));
	size_t n = o->iface && o->workers > 1 ? o->workers : 1;
	struct worker *w = xcalloc(n, sizeof(*w));
	struct crew crew = {.lock = PTHREAD_MUTEX_INITIALIZER, .acked = PTHREAD_COND_INITIALIZER,
			    .dump_lock = PTHREAD_MUTEX_INITIALIZER};
	int rc = 0;
	int filter_used = 0;
	if (o->iface) {
		char *filters[4];
		live_filters(g, o->bpf, filters);
		struct cap_live_opts lo = {.iface = o->iface, .snaplen = o->snaplen, .buffer_mb = o->buffer_mb,
					   .promisc = o->promisc, .filters = (const char *const *)filters, .nfilters = 4,
					   .fanout = n > 1, .fanout_create = true};
		for (size_t i = 0; i < n && rc == 0; i++) {
			rc = cap_open_live(&w[i].cap, &lo, d);
			/* the compact filter: chosen by the kernel's limit, or already for the number of ranges */
			filter_used = strcmp(filters[0], filters[2]) ? w[i].cap.filter_used : 2;
			lo.fanout_create = false; /* the others join the first one's group */
			lo.fanout_id = w[i].cap.fanout_id;
		}
		for (size_t i = 0; i < 4; i++)
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
			w[i].cap.dump_lock = &crew.dump_lock;
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
		w[i].holding = true; /* until the clock starts */
		w[i].res.first_ns = UINT64_MAX;
		w[i].want_flows = o->want_flows;
		w[i].crew = o->iface ? &crew : NULL;
		w[i].ft = flow_new(o->max_flows ? (o->max_flows + n - 1) / n : 0, (const uint8_t(*)[8192])g->ports,
				   on_records, &w[i]);
	}
	if (rc == 0) {
		if (o->iface) {
			control(o, &crew, w, n, g, d);
			g = crew.g ? crew.g : g;
		} else {
			w[0].rc = pump(&w[0]);
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
		bool failed = res->capture_failed;
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
			merge_result(res, &w[i].res);
		}
		res->live = o->iface != NULL;
		res->capture_failed = failed;
		res->workers = (unsigned)n;
		cls_finish(&res->cls, o->sorted_rows);
		for (size_t i = 0; i < n && failed; i++)
			for (size_t j = 0; j < w[i].cap.n; j++)
				if (w[i].cap.in[j].error) {
					warn(res, xasprintf("the capture on %s ended: %s; this report covers what was captured "
							    "before", w[i].cap.in[j].path, w[i].cap.in[j].error));
					failed = false;
					break;
				}
		for (size_t i = 0; i < n; i++)
			if (w[i].reload_error) {
				warn(res, xasprintf("after a reload the capture filter stayed the old one: %s", w[i].reload_error));
				break;
			}
		if (res->cls.folded)
			warn(res, xasprintf("more than %zu address pairs (--max-rows): %llu flows of further pairs are counted "
					    "on one row per host pair and port", o->max_rows,
					    (unsigned long long)res->cls.folded));
		if (res->flows.evicted) {
			size_t rows = cls_incomplete_rows(&res->cls);
			warn(res, xasprintf("%llu flows were settled early to make room (--max-flows): the verdicts of %zu "
					    "rows are incomplete (marked \"incomplete\")",
					    (unsigned long long)res->flows.evicted, rows));
		}
		if (res->time_jumps) {
			char *list = NULL;
			size_t len = 0;
			for (size_t i = 0; i < res->njumps; i++)
				cat(&list, &len, "%s%s packet %llu", i ? ", " : "", res->inputs[res->jumps[i].input].source,
				    (unsigned long long)res->jumps[i].packet);
			warn(res, xasprintf("%llu record%s stamped far from the capture's clock (%s%s) taken at the clock's "
					    "time instead: a bad time stamp settles no other flow",
					    (unsigned long long)res->time_jumps, res->time_jumps == 1 ? "" : "s", list,
					    res->time_jumps > res->njumps ? ", ..." : ""));
			free(list);
		}
		if (filter_used >= 2)
			warn(res, xasprintf("the graph has too many ports for a kernel filter: capturing every TCP packet "
					    "(the audit is the same, the kernel copies more)"));
		if (res->flow_log)
			qsort(res->flow_log, res->nflow_log, sizeof(*res->flow_log), cmp_flow_log);
		for (size_t i = 0; i < w[0].cap.n; i++)
			if (w[0].cap.in[i].cut)
				warn(res, xstrdup(w[0].cap.in[i].cut));
		if (res->dropped)
			warn(res, drops_warning(res->dropped, false));
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

#define FILTER_MAX_RANGES 64 /* port ranges in a filter; more would take libpcap's optimiser minutes */

char *audit_live_filter(const struct graph *g, const char *user_bpf, bool vlan, bool compact)
{
	char *f = NULL;
	size_t len = 0;
	/* TCP on the graph's ports, as ranges of consecutive ports (per-host port overrides add many). */
	size_t nranges = 0;
	for (unsigned port = 1; port < 65536; port++)
		if (graph_has_port(g, IPPROTO_TCP, (uint16_t)port) &&
		    (port == 1 || !graph_has_port(g, IPPROTO_TCP, (uint16_t)(port - 1))))
			nranges++;
	compact |= nranges > FILTER_MAX_RANGES;
	cat(&f, &len, "(");
	if (compact) {
		cat(&f, &len, "tcp");
	} else {
		for (unsigned port = 1; port < 65536; port++) {
			if (!graph_has_port(g, IPPROTO_TCP, (uint16_t)port))
				continue;
			unsigned last = port;
			while (last < 65535 && graph_has_port(g, IPPROTO_TCP, (uint16_t)(last + 1)))
				last++;
			if (last == port)
				cat(&f, &len, "tcp port %u or ", port);
			else
				cat(&f, &len, "tcp portrange %u-%u or ", port, last);
			port = last;
		}
		/* Connection attempts and closes on any port (unexpected flows), IPv4 and IPv6 without extension
		 * headers. */
		cat(&f, &len, "tcp[tcpflags] & (tcp-syn|tcp-rst|tcp-fin) != 0 or (ip6 and ip6[6] == 6 and ip6[53] & 7 != 0)");
	}
	/* Every UDP datagram: an answered UDP exchange is judged on any port, as offline; the UDP tunnels of
	 * remote mirroring too. ICMP and ICMPv6 destination-unreachable errors; GRE, MPLS, PPPoE tunnels,
	 * decapsulated later. */
	cat(&f, &len, " or udp or icmp[icmptype] == icmp-unreach or (icmp6 and ip6[40] == 1)"
		      " or proto gre or ether proto 0x8847 or ether proto 0x8864)");
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

/* The filters a live capture tries, best first: with VLAN clauses, without (a link type may refuse them),
 * then both compact. */
static void live_filters(const struct graph *g, const char *user_bpf, char *out[4])
{
	out[0] = audit_live_filter(g, user_bpf, true, false);
	out[1] = audit_live_filter(g, user_bpf, false, false);
	out[2] = audit_live_filter(g, user_bpf, true, true);
	out[3] = audit_live_filter(g, user_bpf, false, true);
}
