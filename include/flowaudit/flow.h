/* flow.h: the flow table: one entry per 5-tuple attempt, the TCP handshake picture, SPAN duplicate
 * removal, expiry by packet time, oldest-first eviction, and the settled verdict handed to a callback.
 * It knows nothing of rules or sites: the service-port hint is a plain bitmap. */
#ifndef FLOWAUDIT_FLOW_H
#define FLOWAUDIT_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

struct flow_key {
	uint8_t a[16], b[16];   /* ordered (make_key), so both directions find one entry */
	uint16_t pa, pb;
	uint8_t proto;
	uint8_t pad[3];
};

/* flags */
#define FLOW_SYN 0x0001         /* the client's SYN was seen */
#define FLOW_SYNACK 0x0002      /* a SYN-ACK was seen */
#define FLOW_CLIENT_ACK 0x0004  /* the client acknowledged or sent data after its SYN */
#define FLOW_REJECTED 0x0008    /* RST from the server side before any SYN-ACK */
#define FLOW_RST_C 0x0010
#define FLOW_RST_S 0x0020
#define FLOW_FIN_C 0x0040
#define FLOW_FIN_S 0x0080
#define FLOW_MIDSTREAM 0x0100   /* first packet was neither SYN nor SYN-ACK */
#define FLOW_ONLY_RST 0x0200    /* every packet so far was a RST */
#define FLOW_CLOSED 0x0400
#define FLOW_TALK_C 0x0800      /* the client sent something other than a RST */
#define FLOW_TALK_S 0x1000      /* the server sent something other than a RST */
#define FLOW_DATA_S 0x2000      /* the server sent payload */
#define FLOW_TOUCHED 0x4000     /* a later packet came since it was put on its expiry list (lazy LRU) */
#define FLOW_EVICTED 0x8000     /* settled early to make room (--max-flows): its verdict may be incomplete */

/* Two cache lines, 128-byte aligned in the table's array: the key and what every packet touches, then
 * the rest. Flows are named by their index in that array (0 is no flow): the hash slots, the expiry
 * lists and the free list hold indexes, so the array may move as it grows. */
struct flow {
	struct flow_key key;
	uint64_t last_ns;
	uint32_t fp[2];         /* fingerprint of the last packet each way, for SPAN duplicates */
	uint16_t flags;
	uint16_t hseen;         /* history letters already recorded, per direction */
	uint8_t client;         /* 0: key.a/pa is the client; 1: key.b/pb */
	uint8_t icmp;           /* enum dec_icmp */
	uint8_t list;           /* which expiry list holds it */
	uint8_t hlen;
	uint16_t pkts[2];       /* packets: [0] client -> server, [1] server -> client (saturating: only
				 * ever asked whether there were none, one, or more) */
	uint32_t hash;          /* of the key: its hash slot, found again when it is settled */
	uint32_t fp_us[2];      /* its time in microseconds, modulo 2^32: only ever compared 1 ms apart */
	uint16_t encaps;        /* encapsulations that carried it (dec_pkt.encaps, OR of its packets) */
	uint16_t syns;          /* the client's SYNs (saturating) */
	uint32_t isn;           /* the client's initial sequence number */
	uint32_t prev, next;    /* expiry list, oldest first (indexes; next also links the free list) */
	uint64_t first_ns, syn_ns;
	char history[16];       /* Zeek's letters: upper case client, lower case server */
};

/* Accessors for the client/server view of a flow. Inline and without branches: which end is the client
 * is a coin toss per flow, and the classifier asks several times for every flow it folds. */
static inline const uint8_t *flow_client_addr(const struct flow *f)
{
	return f->key.a + 16 * (size_t)f->client; /* key.b follows key.a */
}

static inline const uint8_t *flow_server_addr(const struct flow *f)
{
	return f->key.a + 16 * (size_t)(f->client ^ 1);
}

static inline uint16_t flow_client_port(const struct flow *f)
{
	return f->client ? f->key.pb : f->key.pa;
}

static inline uint16_t flow_server_port(const struct flow *f)
{
	return f->client ? f->key.pa : f->key.pb;
}

typedef void (*flow_settle_fn)(void *ctx, const struct flow *f, enum flow_verdict v);
/* Called with the settle callback's ctx on flows a few flows from being settled (stage 0), and again
 * closer (stage 1): what the settle callback will read can be asked for ahead of it. */
typedef void (*flow_prefetch_fn)(void *ctx, const struct flow *f, int stage);

struct flow_stats {
	uint64_t flows;         /* attempts created */
	uint64_t evicted;       /* settled early because the table was full */
	uint64_t duplicates;    /* SPAN copies dropped */
	uint64_t icmp_matched, icmp_unmatched;
	uint64_t peak;          /* most flows held at once */
};

struct flow_table;

/* max_flows: table bound (0: unbounded). svc: bitmaps [tcp, udp] of 65536 bits saying which ports
 * are service ports, used to tell client from server when a connection's start was not captured. */
struct flow_table *flow_new(size_t max_flows, const uint8_t (*svc)[8192], flow_settle_fn fn, void *ctx);
void flow_free(struct flow_table *t);
void flow_packet(struct flow_table *t, const struct dec_pkt *p, uint64_t ts_ns);
/* The same, pipelined to hide memory latency: decode a packet into flow_slot(), then flow_push() it.
 * Its key is hashed and its hash bucket prefetched at once, the bucket's first flow a few packets
 * later, and the packet processed a few more later. flow_drain() processes every packet pushed
 * (before reading results, settling, or waiting for more). The slot is the table's: decoding into it
 * directly spares a copy. */
struct dec_pkt *flow_slot(struct flow_table *t);
void flow_push(struct flow_table *t, uint64_t ts_ns);
void flow_drain(struct flow_table *t);
/* Settle every flow still held (the pipeline drained first), judging by the end of the capture at end_ns. */
void flow_finish(struct flow_table *t, uint64_t end_ns);
/* Visit every flow still held, with the verdict it would get now (for interim reports). */
void flow_foreach(const struct flow_table *t, uint64_t now_ns, flow_settle_fn fn, void *ctx);
void flow_set_prefetch(struct flow_table *t, flow_prefetch_fn fn);
/* The service-port hint may change (a rules reload). */
void flow_set_hint(struct flow_table *t, const uint8_t (*svc)[8192]);
const struct flow_stats *flow_stats(const struct flow_table *t);
size_t flow_count(const struct flow_table *t);
/* The verdict a flow would get if settled at now_ns; open/failed/unknown as the classifier reads it. */
enum flow_verdict flow_verdict(const struct flow *f, uint64_t now_ns);
enum flow_open flow_open(const struct flow *f, enum flow_verdict v);
const char *flow_verdict_name(enum flow_verdict v);

#endif
