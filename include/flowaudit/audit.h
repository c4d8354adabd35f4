/* audit.h: the pipeline driver: capture -> decode -> flow table -> classifier, and what the reports
 * need to know about the run. The only module that knows the whole pipeline. */
#ifndef FLOWAUDIT_AUDIT_H
#define FLOWAUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowaudit/classify.h"
#include "flowaudit/decode.h"
#include "flowaudit/diag.h"
#include "flowaudit/flow.h"
#include "flowaudit/graph.h"

struct audit_opts {
	char *const *files;
	size_t nfiles;
	const char *bpf;        /* the user's filter expression, or NULL */
	size_t max_flows;       /* 0: unbounded */
	bool want_flows;        /* keep a record per flow (--flows) */
};

struct audit_input {
	char *source;
	char *linktype;
	uint64_t packets;
	bool nsec;
};

struct audit_flow {
	uint8_t client[16], server[16];
	uint16_t client_port, server_port;
	uint8_t proto;
	uint64_t first_ns, last_ns;
	char history[18];
	uint16_t encaps;
	enum flow_verdict verdict;
};

struct audit_result {
	struct audit_input *inputs;
	size_t ninputs;
	uint64_t packets, decoded, skipped;
	uint64_t by_status[DEC_NSTATUS];
	uint64_t by_encap[DEC_NENCAP]; /* decoded packets that crossed each encapsulation */
	uint64_t first_ns, last_ns;
	bool nsec;              /* any input stores nanoseconds */
	char **warnings;        /* e.g. a file cut short */
	size_t nwarnings;
	struct flow_stats flows;
	struct cls cls;
	struct audit_flow *flow_log; /* with want_flows */
	size_t nflow_log, cap_flow_log;
};

/* Run the offline audit. 0 on success (the result may hold findings), -1 with diagnostics. */
int audit_run(const struct audit_opts *o, const struct graph *g, struct audit_result *res, struct diag *d);
void audit_result_free(struct audit_result *res);

#endif
