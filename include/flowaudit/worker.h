/* worker.h: one packet loop (a capture, its flow table, its share of the result), shared by audit.c,
 * which sets loops up, runs one offline and gathers their results, and live.c, which runs one per thread
 * on a live capture and serves the controller's requests. No other module includes it. */
#ifndef FLOWAUDIT_WORKER_H
#define FLOWAUDIT_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "flowaudit/audit.h"
#include "flowaudit/capture.h"
#include "flowaudit/clock.h"
#include "flowaudit/flow.h"

struct crew;

/* One packet loop: a capture, its flow table and its share of the result. Offline there is one, run
 * in the caller's thread; live there is one thread per worker (--workers), each fed its own share of
 * the flows by the kernel (fanout.c), and a controller (the caller) that serves signals and reports. */
struct worker {
	struct cap cap;
	struct flow_table *ft;
	struct audit_result res;
	const struct dec_cfg *dec; /* the audit's decoder settings */
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

/* audit.c: the packet loop's steps, and the result's. */
void worker_take(void *w, const struct cap_pkt *cp);          /* a packet read (cap_read_all's callback) */
void worker_release(struct worker *w, bool has_next, uint64_t next_ts); /* the packets held back, at the end */
/* The answer to a snapshot request: the classification so far copied into w->snap, and the records the
 * flows still held would get at now_ns into w->held_rec (the controller classifies them). */
void worker_snapshot(struct worker *w, uint64_t now_ns);
void audit_merge(struct audit_result *to, struct audit_result *from);
void audit_warn(struct audit_result *res, char *msg);
char *audit_drops_warning(uint64_t dropped, bool so_far);

/* live.c: the crew of a live capture's workers. */
struct crew *live_crew_new(void);
void live_crew_free(struct crew *c);
pthread_mutex_t *live_dump_lock(struct crew *c); /* -w: one file for every worker */
/* Start the workers, serve signals, reloads and interim reports until told to stop, join them. Returns
 * the graph in force at the end (a reload may have replaced g). */
const struct graph *live_run(const struct audit_opts *o, struct crew *c, struct worker *w, size_t n,
			     const struct graph *g, struct diag *d);

#endif
