/* flow.h: the flow table: one entry per 5-tuple attempt, the TCP handshake picture, SPAN duplicate
 * removal, expiry by packet time, oldest-first eviction; settled flows leave as records, in batches.
 * It knows nothing of rules or sites: the service-port hint is a plain bitmap. */
#ifndef FLOWAUDIT_FLOW_H
#define FLOWAUDIT_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "flowaudit/app.h"
#include "flowaudit/decode.h"

#define FLOW_NS_PER_SEC 1000000000ull
#define FLOW_IDLE_NS (300 * FLOW_NS_PER_SEC)  /* an open flow with no packet this long is settled */
#define FLOW_CLOSED_NS (5 * FLOW_NS_PER_SEC)  /* a closed (FIN/RST) flow lingers this long for stragglers */
/* An attempt nobody answered, quiet this long, is settled: Linux's last SYN retransmission (6 retries,
 * tcp_syn_retries) comes about 63 s after the first, Windows' after 21 s. Keeps a SYN flood's memory short. */
#define FLOW_EMBRYONIC_NS (65 * FLOW_NS_PER_SEC)
#define FLOW_PATIENCE_NS (3 * FLOW_NS_PER_SEC) /* unanswered this long: no-reply, not unverified */
#define FLOW_DUP_NS 1000000ull                /* the same frame again within 1 ms is a SPAN copy */

enum flow_verdict {
	FV_ESTABLISHED,         /* SYN answered by SYN-ACK (or UDP answered) */
	FV_RESET,               /* the attempt was answered by RST */
	FV_NO_REPLY,            /* SYNs or requests never answered, and the capture lasted long enough */
	FV_ICMP_PROHIBITED,
	FV_ICMP_UNREACHABLE,
	FV_MIDSTREAM,           /* start not captured, traffic both ways */
	FV_ONE_SIDED,           /* only one direction captured */
	FV_UNVERIFIED,          /* too little to tell */
	FV_NOT_A_CONNECTION,    /* a lone RST or similar: backscatter, not an attempt */
	FV_N
};

enum flow_open { FO_OPEN, FO_FAILED, FO_UNKNOWN };

/* What leaves the flow table: one settled flow (or, for an interim report, a flow still held, as it
 * would be settled now), as a value. Handed over in batches (flow_records_fn). */
struct flow_record {
	uint8_t client[16], server[16]; /* IPv4 as ::ffff:a.b.c.d */
	uint16_t client_port, server_port;
	uint8_t proto;
	uint8_t verdict;        /* enum flow_verdict */
	uint8_t open;           /* enum flow_open: what the verdict says of the port */
	uint8_t evicted;        /* settled early to make room (--max-flows): the verdict may lack what came later */
	uint16_t encaps;        /* encapsulations that carried it (dec_pkt.encaps, OR of its packets) */
	uint16_t pkts[2];       /* packets client -> server, server -> client (saturating at 65535) */
	uint64_t first_ns, last_ns;
	uint32_t rtt_us;        /* the handshake, SYN to the client's ACK of the SYN-ACK, at least 1 (0: not
				 * timed; 65534 and up: that long or longer) */
	uint8_t ttl[2];         /* TTL or hop limit of the client's and the server's first packets (0: none) */
	char history[16];       /* Zeek's letters: upper case client, lower case server */
	struct app_state app;   /* what its first payload bytes said (app.h); proto APP_NONE: none seen, and
				 * nothing else of app is set */
};

/* The same flow seen from its other end: addresses, ports, each direction's counts and TTLs swapped, and
 * the history's case (Zeek's letters: the client's upper case). */
void flow_record_reverse(struct flow_record *r);

/* Records are handed over n at a time (n <= FLOW_BATCH); the array is the table's until the call returns. */
typedef void (*flow_records_fn)(void *ctx, const struct flow_record *r, size_t n);
#define FLOW_BATCH 256

struct flow_stats {
	uint64_t flows;         /* attempts created */
	uint64_t evicted;       /* settled early because the table was full */
	uint64_t duplicates;    /* SPAN copies dropped */
	uint64_t icmp_matched, icmp_unmatched;
	uint64_t peak;          /* most flows held at once */
};

struct flow_table;

/* max_flows: table bound (0: unbounded). svc: bitmaps [tcp, udp] of 65536 bits saying which ports
 * are service ports, used to tell client from server when a connection's start was not captured. fn
 * takes the records of settled flows: at the end of each sweep (once a second of packet time), whenever
 * FLOW_BATCH are waiting, and at flow_flush() and flow_finish(). */
struct flow_table *flow_new(size_t max_flows, const uint8_t (*svc)[8192], flow_records_fn fn, void *ctx);
void flow_free(struct flow_table *t);
/* frame: the frame p was decoded from, for its payload's first bytes (NULL: none) */
void flow_packet(struct flow_table *t, const struct dec_pkt *p, const uint8_t *frame, uint64_t ts_ns);
/* The same, pipelined to hide memory latency: decode a packet into flow_slot(), then flow_push() it.
 * Its key is hashed and its hash bucket prefetched at once, the bucket's first flow a few packets
 * later, and the packet processed a few more later. flow_drain() processes every packet pushed
 * (before reading results, settling, or waiting for more). The slot is the table's: decoding into it
 * directly spares a copy. */
struct dec_pkt *flow_slot(struct flow_table *t);
/* kept: frame stays valid until the next flow_drain() (the caller drains before it is overwritten), so
 * its payload is read where it lies rather than copied into the pipeline. */
void flow_push(struct flow_table *t, uint64_t ts_ns, const uint8_t *frame, bool kept);
void flow_drain(struct flow_table *t);
/* Settle every flow still held (the pipeline drained first), judging by the end of the capture at end_ns,
 * and hand over every record. */
void flow_finish(struct flow_table *t, uint64_t end_ns);
/* Hand over the records of flows settled so far (before a report, or a change of what takes them). */
void flow_flush(struct flow_table *t);
/* The records every flow still held would get if settled at now_ns, to fn (for interim reports); the
 * table is not changed. */
void flow_snapshot(const struct flow_table *t, uint64_t now_ns, flow_records_fn fn, void *ctx);
/* The service-port hint may change (a rules reload). */
void flow_set_hint(struct flow_table *t, const uint8_t (*svc)[8192]);
const struct flow_stats *flow_stats(const struct flow_table *t);
size_t flow_count(const struct flow_table *t);
const char *flow_verdict_name(enum flow_verdict v);

#endif
