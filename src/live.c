/* live.c: a live capture's crew: one worker thread per capture socket (--workers, fed its share of the
 * flows by the kernel's fanout), and the controller (the caller's thread), which serves signals, asks the
 * workers for snapshots and reloads one request at a time, and writes interim reports. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowaudit/filter.h"
#include "flowaudit/util.h"
#include "flowaudit/worker.h"

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
	const char *filters[FILTER_TRIES]; /* REQ_RELOAD: its capture filters, best first (filter_tries()) */
	uint64_t stop_mono_ns;  /* when the stop was asked for (CLOCK_MONOTONIC), for the drain */
};

struct crew *live_crew_new(void)
{
	struct crew *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->acked, NULL);
	pthread_mutex_init(&c->dump_lock, NULL);
	return c;
}

void live_crew_free(struct crew *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->acked);
	pthread_mutex_destroy(&c->dump_lock);
	free(c);
}

pthread_mutex_t *live_dump_lock(struct crew *c)
{
	return &c->dump_lock;
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
		worker_snapshot(w, c->now_ns);
	} else {
		flow_flush(w->ft); /* what settled under the old graph is judged as the rest is */
		cls_rebase(&w->res.cls, c->g);
		flow_set_hint(w->ft, (const uint8_t(*)[8192])c->g->ports);
		/* The kernel's filter follows the graph: a new port or protocol is captured from now on. */
		struct diag d;
		diag_init(&d);
		if (cap_set_filter(&w->cap, c->filters, FILTER_TRIES, &d) < 0 && d.n) {
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

/* A worker's packet loop: a quiet moment or a request from the controller drains the pipeline first. */
static int pump(struct worker *w)
{
	struct cap_pkt cp;
	int rc;
	bool draining = false;
	while ((rc = cap_next(&w->cap, &cp)) > 0) {
		if (rc == 1)
			worker_take(w, &cp);
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
	worker_release(w, false, 0);
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
			cls_flows(&w[i].snap.cls, w[i].held_rec, w[i].nheld_rec, NULL);
			audit_merge(&view, &w[i].snap);
			audit_result_free(&w[i].snap);
		}
	view.live = view.interim = true;
	view.workers = (unsigned)n;
	cls_finish(&view.cls, o->sorted_rows);
	if (view.dropped)
		audit_warn(&view, audit_drops_warning(view.dropped, true));
	o->report(o->ctx, &view);
	audit_result_free(&view);
}

const struct graph *live_run(const struct audit_opts *o, struct crew *c, struct worker *w, size_t n,
			     const struct graph *g, struct diag *d)
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
				filter_tries(ng, o->bpf, (char **)c->filters);
				ask(c, w, started, REQ_RELOAD);
				for (size_t i = 0; i < FILTER_TRIES; i++) {
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
	return g;
}
