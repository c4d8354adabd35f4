/* audit.h: the pipeline driver: capture -> decode -> flow table -> classifier, offline or live, and what
 * the reports need to know about the run. The only module that knows the whole pipeline. */
#ifndef FLOWAUDIT_AUDIT_H
#define FLOWAUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowaudit/classify.h"
#include "flowaudit/clock.h"
#include "flowaudit/decode.h"
#include "flowaudit/diag.h"
#include "flowaudit/flow.h"
#include "flowaudit/flowlog.h"
#include "flowaudit/graph.h"

struct audit_result;

struct audit_opts {
	char *const *files;     /* offline: -r files */
	size_t nfiles;
	const char *iface;      /* live: -i (files must be empty) */
	int snaplen;            /* live: bytes kept per packet */
	int buffer_mb;          /* live: kernel buffer */
	bool promisc;
	unsigned workers;       /* live: capture threads sharing the interface (PACKET_FANOUT); 0 or 1: one */
	const char *user;       /* live: drop to this user after opening (-Z), or NULL */
	const char *write_path; /* -w: copy every packet read to this pcap */
	unsigned interval_s;    /* live: an interim report this often (0: only on SIGUSR1 and at the end) */
	const char *bpf;        /* the user's filter expression, or NULL */
	size_t max_flows;       /* 0: unbounded */
	size_t max_rows;        /* rows of address pairs (cls_set_max_rows()); 0: unbounded */
	bool want_flows;        /* keep a record per flow (--flows) */
	bool sorted_rows;       /* the report lists every row, in order (cls_finish()) */
	struct dec_cfg dec;     /* the decoder's settings (--vxlan-port) */
	/* Live: write an interim report. Returns 0, or -1 (logged by the callee). */
	int (*report)(void *ctx, const struct audit_result *res);
	/* Live, on SIGHUP: load the rules and site again; returns the new graph, or NULL to keep the old one
	 * (the callee reports why). The old graph stays valid until the callee frees it after this returns. */
	const struct graph *(*reload)(void *ctx);
	/* After the capture is open and privileges are dropped, before the first packet: can the run's
	 * results still be written? -1 (with diagnostics) ends the audit before it starts. May be NULL. */
	int (*ready)(void *ctx, struct diag *d);
	void *ctx;
};

struct audit_input {
	char *source;
	char *linktype;
	uint64_t packets;
	bool nsec;
};

/* The first n records of a flow log (flowlog.h): one per worker, in the order its flows settled. */
struct audit_flows {
	struct flowlog *log;
	size_t n;
	bool owned;             /* freed with the result (an interim report's view borrows the workers') */
};

struct audit_result {
	struct audit_input *inputs;
	size_t ninputs;
	uint64_t packets, decoded, skipped;
	uint64_t by_status[DEC_NSTATUS];
	uint64_t by_encap[DEC_NENCAP]; /* decoded packets that crossed each encapsulation */
	uint64_t first_ns, last_ns;
	bool timed;             /* first_ns and last_ns hold a packet's time (a record may be stamped 0) */
	uint64_t time_jumps;    /* records whose stamp the capture's clock did not believe (clock.h) */
	struct clk_jump jumps[CLK_KEEP]; /* the first of them; input indexes inputs[] */
	size_t njumps;
	bool nsec;              /* any input stores nanoseconds */
	bool live;
	bool interim;           /* a report written while the capture goes on */
	unsigned workers;       /* live: capture threads (flows.peak is then the sum of theirs) */
	uint64_t dropped;       /* live: packets the kernel dropped (pcap_stats ps_drop) */
	uint64_t ifdropped;     /* live: packets the interface dropped, where the driver says */
	char **warnings;        /* e.g. a file cut short, kernel drops */
	bool capture_failed;    /* live: a capture ended in an error (the interface went away); the result
				 * holds what was captured before, and a warning says why */
	size_t nwarnings;
	struct flow_stats flows;
	struct cls cls;
	struct audit_flows *flow_logs; /* with want_flows: the records of settled flows, log by log */
	size_t nflow_logs;
};

/* Run the audit to its end (offline: the files end; live: SIGINT or SIGTERM). 0 on success (the result
 * may hold findings), -1 with diagnostics. */
int audit_run(const struct audit_opts *o, const struct graph *g, struct audit_result *res, struct diag *d);
void audit_result_free(struct audit_result *res);
/* Async-signal-safe: record a signal for the live loop (SIGINT/SIGTERM stop, SIGUSR1 report, SIGHUP reload). */
void audit_signal(int sig);

#endif
