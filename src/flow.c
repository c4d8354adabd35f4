/* flow.c: the flow table. Flows live in one array that grows without copying (mremap), named by index;
 * an oatable.h index (hash and index per 8-byte slot) finds them. A flow lives on one of three expiry
 * lists ordered by last packet, and leaves the table only through settle(): its record joins the batch
 * handed to the consumer, and the flow goes on the free list (no malloc per packet). Time is packet
 * time, never the wall clock. Not uthash: a packet here touches one slot and the flow's two lines, where
 * a uthash entry's handle and lists cost three more lines per packet on tables no cache holds. */
#include "flowaudit/flow.h"

#include <assert.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "flowaudit/hash.h"
#include "flowaudit/oatable.h"
#include "flowaudit/util.h"

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
	uint16_t fp_us[2];      /* its time in microseconds, modulo 2^16: only ever compared 1 ms apart */
	uint16_t rtt_us;        /* SYN to the client's first ACK after the SYN-ACK, plus one; 0: not measured */
	uint8_t ttl[2];         /* TTL or hop limit of the first packet each way */
	uint16_t encaps;        /* encapsulations that carried it (dec_pkt.encaps, OR of its packets) */
	uint8_t syns;           /* the client's SYNs (saturating) */
	uint8_t app;            /* enum flow_app_state: whether flow_table.app holds its recogniser's state */
	uint32_t isn;           /* the client's initial sequence number */
	uint32_t qpos;          /* its place in its expiry list's queue (flow_list.q), modulo 2^32 */
	uint32_t next;          /* the free list */
	uint64_t first_ns, syn_ns;
	char history[16];       /* Zeek's letters: upper case client, lower case server */
};

/* The client/server view of a flow, without branches: which end is the client is a coin toss per flow. */
static inline const uint8_t *client_addr(const struct flow *f)
{
	return f->key.a + 16 * (size_t)f->client; /* key.b follows key.a */
}

static inline const uint8_t *server_addr(const struct flow *f)
{
	return f->key.a + 16 * (size_t)(f->client ^ 1);
}

static inline uint16_t client_port(const struct flow *f)
{
	return f->client ? f->key.pb : f->key.pa;
}

static inline uint16_t server_port(const struct flow *f)
{
	return f->client ? f->key.pa : f->key.pb;
}


#define FIRST_FLOWS 4096 /* the array's first size, doubled as needed */
#define FIRST_SLOTS 8192
/* Index slots per flow held, at least: a fuller table has longer runs, so lookups and their prefetch
 * walk more slots and branch less predictably (docs/performance.md). */
#define SLOTS_PER_FLOW 4
#define RECENT 256 /* recently opened attempts, for ICMP quotes cut before their ports */

/* The packet pipeline (flow_push): RING slots; a packet's hash slot is prefetched when it enters, its
 * flow ENTRY packets later, and it is processed PROCESS packets later. */
#define RING 16
#define ENTRY 4
#define PROCESS 8

struct lookup {
	struct flow_key key;
	int side;               /* which end of the key sent the packet */
	uint32_t hash;
};

struct slot {
	struct dec_pkt p;
	uint64_t ts;
	struct lookup lk;
	uint32_t npeek;         /* payload bytes at pay */
	const uint8_t *pay;     /* the payload in the frame, when it is kept until drained; else peek */
	uint8_t peek[APP_PEEK]; /* a copy of the payload's first bytes (the frame is gone when the slot is processed) */
};

/* What the recognisers learnt of flow i: flow_table.app[i], beside the flows (a flow is two cache lines
 * and has no room), touched only by flows that carry payload. */
struct flow_app {
	struct app_state st;
	uint32_t next_seq[2];   /* TCP: the sequence number after the last segment fed, per direction */
};
/* flow.app: the side entry is untouched (its bytes are stale), being fed, or final (kept for the record,
 * no longer looked at by packets: a flow done with its recogniser costs no access to the side array). */
enum flow_app_state {
	FA_NONE, FA_FEEDING, FA_DONE,
	FA_UNCLAIMED_C, FA_UNCLAIMED_S, /* one side's first bytes claimed by no recogniser; no entry yet */
	FA_UNKNOWN,                     /* neither side's: no entry */
};
/* flow.app's low bits are the state; a high bit per direction says an ONC RPC record mark came in a
 * segment of its own (libtirpc sends one so), its record in the next segment of that direction. */
#define FA_STATE 0x3f
#define FA_MARK 0x40 /* << direction */

/* Expiry lists, each oldest first: attempts nobody answered yet, flows with an answer (or midstream),
 * and closed flows lingering for stragglers. Each has its own idle timeout. */
enum { LIST_EMBRYONIC, LIST_OPEN, LIST_CLOSED, NLISTS, LIST_NONE = 0xff };

static_assert(sizeof(struct flow) == 128, "a flow is two cache lines");
static_assert(offsetof(struct flow_key, b) == offsetof(struct flow_key, a) + 16, "client_addr: b follows a");

/* A list is a queue of flow indexes, not links through the flows: the sweep knows the flows it will
 * settle next from an array and asks for their lines ahead, where links would make it wait for each
 * flow's line to find the next. Leaving a list only marks the flow (list, qpos), so its entry goes
 * stale and is skipped when it reaches the head. */
struct flow_list {
	uint32_t *q;            /* flow indexes, by position modulo cap */
	uint64_t head, tail;    /* positions: entries from head up to tail are in q */
	size_t cap;             /* a power of two, or 0 */
};

struct flow_table {
	/* Flow i is flows[i]; flows[0] is never used, so that index 0 can mean none. The array is mapped
	 * (page-aligned, so every flow is two whole cache lines) and grown with mremap: pages never used
	 * are never resident, and growing copies nothing. */
	struct flow *flows;
	struct flow_app *app;           /* beside flows, as big, mapped the same way */
	uint32_t cap;                   /* flows the array holds */
	uint32_t used;                  /* indexes below this have been handed out at least once */
	uint32_t free;                  /* free list through ->next, 0: empty */
	struct oat ix;                  /* hash -> flow index */
	struct flow_list lists[NLISTS]; /* see the enum above */
	size_t count, max;
	const uint8_t (*svc)[8192];
	flow_records_fn records_fn;
	void *ctx;
	struct flow_record batch[FLOW_BATCH]; /* settled, not handed over yet */
	size_t nbatch;
	uint64_t now_ns;                /* newest packet time seen */
	uint64_t swept_ns;              /* when the lists were last swept */
	struct flow_key recent[RECENT]; /* ring of recent attempt keys */
	unsigned recent_pos;
	struct flow_stats stats;
	struct slot ring[RING];         /* the packet pipeline */
	uint64_t pushed, processed;     /* packets entered, packets processed */
};

static const char *const verdict_names[FV_N] = {
	"established", "reset", "no-reply", "icmp-prohibited", "icmp-unreachable", "midstream", "one-sided",
	"unverified", "not-a-connection",
};

void flow_record_reverse(struct flow_record *r)
{
	uint8_t a[16];
	memcpy(a, r->client, 16);
	memcpy(r->client, r->server, 16);
	memcpy(r->server, a, 16);
	uint16_t port = r->client_port, pkts = r->pkts[0];
	r->client_port = r->server_port;
	r->server_port = port;
	r->pkts[0] = r->pkts[1];
	r->pkts[1] = pkts;
	uint8_t ttl = r->ttl[0];
	r->ttl[0] = r->ttl[1];
	r->ttl[1] = ttl;
	for (char *h = r->history; h < r->history + sizeof(r->history) && *h; h++)
		*h = (char)(*h ^ 0x20);
}

const char *flow_verdict_name(enum flow_verdict v)
{
	return v < FV_N ? verdict_names[v] : "?";
}

struct flow_table *flow_new(size_t max_flows, const uint8_t (*svc)[8192], flow_records_fn fn, void *ctx)
{
	struct flow_table *t = xcalloc(1, sizeof(*t));
	t->max = max_flows;
	t->svc = svc;
	t->records_fn = fn;
	t->ctx = ctx;
	t->cap = FIRST_FLOWS;
	t->flows = xmap(FIRST_FLOWS * sizeof(struct flow));
	t->app = xmap(FIRST_FLOWS * sizeof(struct flow_app));
	t->used = 1;
	oat_init(&t->ix, FIRST_SLOTS, SLOTS_PER_FLOW);
	return t;
}

void flow_free(struct flow_table *t)
{
	if (!t)
		return;
	munmap(t->flows, (size_t)t->cap * sizeof(struct flow));
	munmap(t->app, (size_t)t->cap * sizeof(struct flow_app));
	oat_free(&t->ix);
	for (int l = 0; l < NLISTS; l++)
		free(t->lists[l].q);
	free(t);
}

static inline struct flow *at(const struct flow_table *t, uint32_t i)
{
	return &t->flows[i];
}

static inline uint32_t index_of(const struct flow_table *t, const struct flow *f)
{
	return (uint32_t)(f - t->flows);
}

void flow_set_hint(struct flow_table *t, const uint8_t (*svc)[8192])
{
	t->svc = svc;
}

const struct flow_stats *flow_stats(const struct flow_table *t)
{
	return &t->stats;
}

size_t flow_count(const struct flow_table *t)
{
	return t->count;
}

/* A packet (or an ICMP error about it) at ts: the flow's last time, and the lazy LRU's mark that the
 * sweep must move it to its list's tail rather than expire it. */
static inline void touch(struct flow *f, uint64_t ts)
{
	/* Without branches: at a high packet rate many packets share a microsecond (and in the bench capture
	 * most do), so whether the time moved is a coin toss per packet. */
	bool later = ts > f->last_ns;
	f->last_ns = later ? ts : f->last_ns;
	f->flags |= (uint16_t)(later * FLOW_TOUCHED);
}

static inline __attribute__((always_inline)) void prefetch_lines(const void *p)
{
	__builtin_prefetch(p);
	__builtin_prefetch((const char *)p + 64);
}

/* Settling the head of a list touches lines nothing else has touched for seconds: the flow's own and
 * its index slot's. The queue says which flows come next: their lines are asked for PF_LINES entries
 * ahead, their slots PF_SLOT ahead (by the hash the flow keeps, once its line is in). */
enum { PF_LINES = 8, PF_SLOT = 6 };

/* Its queue entry goes stale (as it does when list_append() moves the flow). */
static void list_unlink(struct flow *f)
{
	f->list = LIST_NONE;
}

/* The flow index at a position of a list's queue. */
static inline uint32_t list_at(const struct flow_list *l, uint64_t pos)
{
	return l->q[pos & (l->cap - 1)];
}

static bool listed_at(const struct flow_table *t, int which, uint64_t pos)
{
	const struct flow *f = at(t, list_at(&t->lists[which], pos));
	return f->list == which && f->qpos == (uint32_t)pos;
}

/* The oldest flow of a list (its index), stale entries dropped on the way; 0: the list is empty. */
static uint32_t list_head(struct flow_table *t, int which)
{
	struct flow_list *l = &t->lists[which];
	for (; l->head < l->tail; l->head++) {
		if (listed_at(t, which, l->head))
			return list_at(l, l->head);
		if (l->head + PF_LINES < l->tail) /* the sweep's look-ahead, kept as far ahead past a stale entry */
			prefetch_lines(at(t, list_at(l, l->head + PF_LINES)));
	}
	return 0;
}

/* A full queue doubles, unless it would pass four entries per flow held: then its stale entries are
 * dropped first (the live ones renumbered in order), since a quiet flow at its head keeps every entry
 * behind it however stale. */
static __attribute__((noinline)) void list_grow(struct flow_table *t, int which)
{
	struct flow_list *l = &t->lists[which];
	size_t mask = l->cap - 1;
	if (l->cap && 2 * l->cap > 4 * t->count + 1024) {
		uint64_t n = l->head;
		for (uint64_t p = l->head; p < l->tail; p++) {
			if (p + PF_LINES < l->tail)
				prefetch_lines(at(t, list_at(l, p + PF_LINES)));
			if (listed_at(t, which, p)) { /* n <= p: no entry is overwritten before it is read */
				uint32_t i = l->q[p & mask];
				at(t, i)->qpos = (uint32_t)n;
				l->q[n++ & mask] = i;
			}
		}
		l->tail = n;
		if (l->tail - l->head <= l->cap / 2)
			return;
	}
	size_t cap = l->cap ? l->cap * 2 : 1024;
	uint32_t *q = xmalloc(cap * sizeof(*q));
	for (uint64_t p = l->head; p < l->tail; p++)
		q[p & (cap - 1)] = l->q[p & mask];
	free(l->q);
	l->q = q;
	l->cap = cap;
}

static void list_append(struct flow_table *t, struct flow *f, int which)
{
	struct flow_list *l = &t->lists[which];
	if (l->tail - l->head == l->cap)
		list_grow(t, which);
	l->q[l->tail & (l->cap - 1)] = index_of(t, f); /* an entry it had elsewhere goes stale */
	f->list = (uint8_t)which;
	f->qpos = (uint32_t)l->tail++;
	f->flags &= (uint16_t)~FLOW_TOUCHED;
}

static uint32_t key_hash(const struct flow_table *t, const struct flow_key *k)
{
	return fa_hash(t->ix.seed, k, sizeof(*k));
}

static inline bool key_eq(const struct flow_key *x, const struct flow_key *y)
{
	return !fa_keycmp(x, y, sizeof(*x));
}

/* The flow with this key and hash, or NULL. */
static inline struct flow *lookup(const struct flow_table *t, const struct flow_key *k, uint32_t hash)
{
	size_t pos = oat_home(&t->ix, hash);
	for (uint32_t i; (i = oat_next(&t->ix, hash, &pos)) != OAT_NONE;)
		if (key_eq(&at(t, i)->key, k))
			return at(t, i);
	return NULL;
}

static struct flow *flow_alloc(struct flow_table *t)
{
	uint32_t i = t->free;
	if (i) {
		t->free = at(t, i)->next;
		/* The next flow to hand out was freed by the last sweep, maybe thousands of flows ago. */
		if (t->free)
			prefetch_lines(at(t, t->free));
	} else {
		if (t->used == t->cap) {
			if (t->cap > UINT32_MAX / 2)
				oom(); /* 2^31 flows: 256 GB of them */
			t->flows = xremap(t->flows, (size_t)t->cap * sizeof(struct flow), (size_t)t->cap * 2 * sizeof(struct flow));
			t->app = xremap(t->app, (size_t)t->cap * sizeof(struct flow_app), (size_t)t->cap * 2 * sizeof(struct flow_app));
			t->cap *= 2;
		}
		i = t->used++;
	}
	struct flow *f = at(t, i);
	zero_small(f, sizeof(*f));
	return f;
}

/* The verdict a flow would get if settled at now_ns. */
static enum flow_verdict verdict_of(const struct flow *f, uint64_t now_ns)
{
	if (f->flags & FLOW_ONLY_RST)
		return FV_NOT_A_CONNECTION;
	if (f->key.proto == IPPROTO_UDP) {
		if (f->pkts[1])
			return FV_ESTABLISHED;
		if (f->icmp)
			return f->icmp == DEC_ICMP_PROHIBITED ? FV_ICMP_PROHIBITED : FV_ICMP_UNREACHABLE;
		if (f->pkts[0] >= 2 && now_ns - f->first_ns >= FLOW_PATIENCE_NS)
			return FV_NO_REPLY;
		return FV_UNVERIFIED;
	}
	if (f->flags & FLOW_SYNACK)
		return FV_ESTABLISHED;
	if (f->flags & FLOW_SYN) {
		if (f->flags & FLOW_REJECTED)
			return FV_RESET;
		if (f->icmp)
			return f->icmp == DEC_ICMP_PROHIBITED ? FV_ICMP_PROHIBITED : FV_ICMP_UNREACHABLE;
		if (f->flags & FLOW_DATA_S)
			return FV_MIDSTREAM; /* the server sent data, but its SYN-ACK was not captured */
		if (f->flags & FLOW_CLIENT_ACK)
			return FV_ONE_SIDED;
		/* Never judged on a count or spacing of retransmissions (FIELD-NOTES): a retransmission
		 * shows the client waited in vain; otherwise the capture must have lasted long enough. */
		if (f->syns >= 2 || now_ns - f->syn_ns >= FLOW_PATIENCE_NS)
			return FV_NO_REPLY;
		return FV_UNVERIFIED;
	}
	if (f->icmp)
		return f->icmp == DEC_ICMP_PROHIBITED ? FV_ICMP_PROHIBITED : FV_ICMP_UNREACHABLE;
	/* Both sides must have said something other than RST: data answered only by resets is no proof. */
	if ((f->flags & (FLOW_TALK_C | FLOW_TALK_S)) == (FLOW_TALK_C | FLOW_TALK_S))
		return FV_MIDSTREAM;
	return FV_ONE_SIDED;
}

/* What the verdict says of the port: open, failed, or unknown. */
static enum flow_open open_of(const struct flow *f, enum flow_verdict v)
{
	switch (v) {
	case FV_ESTABLISHED:
	case FV_MIDSTREAM:
		return FO_OPEN;
	case FV_ONE_SIDED:
		/* SYN then the client's ACK: the handshake completed on the side we could not see. */
		return (f->flags & (FLOW_SYN | FLOW_CLIENT_ACK)) == (FLOW_SYN | FLOW_CLIENT_ACK) ? FO_OPEN : FO_UNKNOWN;
	case FV_RESET:
	case FV_NO_REPLY:
	case FV_ICMP_PROHIBITED:
	case FV_ICMP_UNREACHABLE:
		return FO_FAILED;
	default:
		return FO_UNKNOWN;
	}
}

static void record_of(const struct flow_table *t, const struct flow *f, uint64_t now_ns, struct flow_record *r)
{
	enum flow_verdict v = verdict_of(f, now_ns);
	memcpy(r->client, client_addr(f), 16);
	memcpy(r->server, server_addr(f), 16);
	r->client_port = client_port(f);
	r->server_port = server_port(f);
	r->proto = f->key.proto;
	r->verdict = (uint8_t)v;
	r->open = (uint8_t)open_of(f, v);
	r->evicted = (f->flags & FLOW_EVICTED) != 0;
	r->encaps = f->encaps;
	unsigned app = f->app & FA_STATE;
	if (app == FA_FEEDING || app == FA_DONE) {
		r->app = t->app[index_of(t, f)].st;
	} else { /* the rest of r->app is read only when proto says a recogniser had it */
		r->app.proto = app == FA_NONE ? APP_NONE : APP_UNKNOWN;
		r->app.cut = 0;
	}
	r->pkts[0] = f->pkts[0];
	r->pkts[1] = f->pkts[1];
	r->first_ns = f->first_ns;
	r->last_ns = f->last_ns;
	r->rtt_us = f->rtt_us > 2 ? f->rtt_us - 1u : f->rtt_us ? 1 : 0; /* under a microsecond: 1 */
	r->ttl[0] = f->ttl[0];
	r->ttl[1] = f->ttl[1];
	memcpy(r->history, f->history, sizeof(r->history));
}

void flow_flush(struct flow_table *t)
{
	if (t->nbatch)
		t->records_fn(t->ctx, t->batch, t->nbatch);
	t->nbatch = 0;
}

void flow_snapshot(const struct flow_table *t, uint64_t now_ns, flow_records_fn fn, void *ctx)
{
	struct flow_record *r = xmalloc(FLOW_BATCH * sizeof(*r));
	size_t n = 0;
	for (int l = 0; l < NLISTS; l++)
		for (uint64_t p = t->lists[l].head; p < t->lists[l].tail; p++) {
			if (!listed_at(t, l, p))
				continue;
			record_of(t, at(t, list_at(&t->lists[l], p)), now_ns, &r[n++]);
			if (n == FLOW_BATCH) {
				fn(ctx, r, n);
				n = 0;
			}
		}
	if (n)
		fn(ctx, r, n);
	free(r);
}

static void settle(struct flow_table *t, struct flow *f, uint64_t now_ns)
{
	if (t->nbatch == FLOW_BATCH)
		flow_flush(t);
	record_of(t, f, now_ns, &t->batch[t->nbatch++]);
	uint32_t i = index_of(t, f);
	oat_remove(&t->ix, f->hash, i);
	list_unlink(f);
	f->next = t->free;
	t->free = i;
	t->count--;
}

/* always_inline: GCC counts a prefetch as no side effect, so a function doing nothing else is "const" and
 * its calls are dropped. */
static inline __attribute__((always_inline)) void prefetch_ahead(const struct flow_table *t, int which)
{
	const struct flow_list *l = &t->lists[which];
	if (l->head + PF_LINES < l->tail)
		prefetch_lines(at(t, list_at(l, l->head + PF_LINES)));
	if (l->head + PF_SLOT < l->tail)
		oat_prefetch(&t->ix, at(t, list_at(l, l->head + PF_SLOT))->hash);
}

/* The lists are ordered lazily: a packet does not move its flow (that would touch two more flows' cache
 * lines per packet); the sweep moves a flow that was touched since it was listed to the tail. Every flow
 * listed after the head was listed no earlier, so an untouched, unexpired head ends the sweep. */
/* noinline: once a second of capture time, kept out of the per-packet function's registers. */
static __attribute__((noinline)) void sweep(struct flow_table *t, uint64_t now)
{
	static const uint64_t timeout[NLISTS] = {FLOW_EMBRYONIC_NS, FLOW_IDLE_NS, FLOW_CLOSED_NS};
	for (int l = 0; l < NLISTS; l++) {
		for (uint32_t i; (i = list_head(t, l));) {
			struct flow *h = at(t, i);
			if (h->last_ns + timeout[l] < now) {
				prefetch_ahead(t, l);
				settle(t, h, now);
			} else if (h->flags & FLOW_TOUCHED) {
				list_append(t, h, l);
			} else {
				break;
			}
		}
	}
	t->swept_ns = now;
	flow_flush(t);
}

static bool svc_port(const struct flow_table *t, uint8_t proto, uint16_t port)
{
	return t->svc && (t->svc[proto == IPPROTO_UDP][port >> 3] >> (port & 7) & 1);
}

/* History letters (Zeek's), each recorded once per direction: the letter's index in this string is its
 * bit in hseen (plus 8 for the server's side), so at most 14 letters and the NUL fit in history[16]. */
static const char hist_letters[] = "SHADFRT";
enum { H_SYN, H_SYNACK, H_ACK, H_DATA, H_FIN, H_RST, H_RETRANSMIT };
static_assert(2 * (sizeof(hist_letters) - 1) < sizeof(((struct flow *)0)->history), "each letter both ways, and a NUL");

static inline void hist(struct flow *f, int dir, unsigned letter)
{
	unsigned bit = letter + (dir ? 8u : 0u);
	if (f->hseen & (1u << bit))
		return;
	f->hseen |= (uint16_t)(1u << bit);
	f->history[f->hlen++] = (char)(hist_letters[letter] | (dir ? 0x20 : 0));
}

/* Build the key of a packet's flow and return its hash (fa_hash of the key), computed from the words
 * in registers rather than from the key just stored. */
static inline __attribute__((always_inline)) uint32_t make_key(const struct flow_table *t, const struct dec_pkt *p, struct flow_key *k, int *src_side)
{
	/* Any order of the two ends will do, as long as both directions of a flow agree on it: the
	 * addresses compared as two native words each, then the ports. Without branches: which end comes
	 * first is a coin toss per packet, a branch on it mispredicted half the time. */
	uint64_t s0, s1, d0, d1;
	memcpy(&s0, p->src, 8);
	memcpy(&s1, p->src + 8, 8);
	memcpy(&d0, p->dst, 8);
	memcpy(&d1, p->dst + 8, 8);
	__uint128_t s = (__uint128_t)s0 << 64 | s1, d = (__uint128_t)d0 << 64 | d1;
	uint64_t swap = (s > d) | ((s == d) & (p->sport > p->dport));
	uint64_t m = -swap, x0 = (s0 ^ d0) & m, x1 = (s1 ^ d1) & m;
	uint64_t a0 = s0 ^ x0, a1 = s1 ^ x1, b0 = d0 ^ x0, b1 = d1 ^ x1;
	uint16_t xp = (uint16_t)((p->sport ^ p->dport) & m);
	/* pa, pb, proto and the zero pad, as one little-endian word */
	uint64_t tail = (uint64_t)(uint16_t)(p->sport ^ xp) | (uint64_t)(uint16_t)(p->dport ^ xp) << 16 |
			(uint64_t)p->proto << 32;
	static_assert(offsetof(struct flow_key, pa) == 32 && sizeof(struct flow_key) == 40, "flow_key layout");
	memcpy(k->a, &a0, 8);
	memcpy(k->a + 8, &a1, 8);
	memcpy(k->b, &b0, 8);
	memcpy(k->b + 8, &b1, 8);
	memcpy(&k->pa, &tail, 8);
	*src_side = (int)swap;
	if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
		return fa_hash(t->ix.seed, k, sizeof(*k));
	return fa_hash5(t->ix.seed, a0, a1, b0, b1, tail);
}

/* Who is the client of a flow whose first packet (from src_side) we are looking at? */
static int pick_client(const struct flow_table *t, const struct dec_pkt *p, int src_side)
{
	int receiver = !src_side;
	if (p->proto == IPPROTO_TCP) {
		if ((p->tcp_flags & (DEC_TH_SYN | DEC_TH_ACK)) == DEC_TH_SYN)
			return src_side;
		if ((p->tcp_flags & (DEC_TH_SYN | DEC_TH_ACK)) == (DEC_TH_SYN | DEC_TH_ACK))
			return receiver;
	}
	bool s = svc_port(t, p->proto, p->sport), d = svc_port(t, p->proto, p->dport);
	if (d && !s)
		return src_side;
	if (s && !d)
		return receiver;
	/* No hint from the graph: a well-known port (below 1024) against an ephemeral one is the service. */
	if (p->dport < 1024 && p->sport >= 1024)
		return src_side;
	if (p->sport < 1024 && p->dport >= 1024)
		return receiver;
	if (p->proto == IPPROTO_UDP)
		return src_side;
	/* A connection already open: the lower port is the service (ports are rarely both ephemeral). */
	return p->sport < p->dport ? receiver : src_side;
}

static struct flow *create(struct flow_table *t, const struct flow_key *k, uint32_t hash, int client, uint64_t ts)
{
	if (t->max && t->count >= t->max) {
		/* Oldest first, closed flows (already judged) before unanswered attempts before open ones. */
		uint32_t victim = list_head(t, LIST_CLOSED);
		bool closed = victim != 0;
		if (!victim)
			victim = list_head(t, LIST_EMBRYONIC);
		if (!victim)
			victim = list_head(t, LIST_OPEN);
		if (victim) {
			t->stats.evicted++;
			if (!closed)
				at(t, victim)->flags |= FLOW_EVICTED; /* a closed flow's verdict was already final */
			settle(t, at(t, victim), t->now_ns);
		}
	}
	struct flow *f = flow_alloc(t);
	f->key = *k;
	f->hash = hash;
	f->client = (uint8_t)client;
	f->first_ns = f->last_ns = ts;
	f->flags = FLOW_ONLY_RST;
	oat_insert(&t->ix, hash, index_of(t, f));
	list_append(t, f, LIST_EMBRYONIC);
	t->count++;
	t->stats.flows++;
	if (t->count > t->stats.peak)
		t->stats.peak = t->count;
	return f;
}

/* Does this TCP segment hold an ONC RPC record mark and nothing else (a last fragment of a plausible
 * length)? */
static bool rpc_mark_alone(const struct dec_pkt *p, const uint8_t *peek, uint32_t npeek)
{
	if (npeek != 4 || p->payload != 4 || !(peek[0] & 0x80))
		return false;
	uint32_t len = ((uint32_t)peek[0] & 0x7f) << 24 | (uint32_t)peek[1] << 16 | (uint32_t)peek[2] << 8 | peek[3];
	return len >= 12 && len < (1u << 24);
}

static void set_state(struct flow *f, unsigned state)
{
	f->app = (uint8_t)((f->app & ~FA_STATE) | state);
}

/* A segment's first bytes to the flow's recogniser, in order only: a retransmission or a segment out of
 * order (TCP sequence numbers) is not looked at, so that nothing is counted twice. */
static void app_packet(struct flow_table *t, struct flow *f, int dir, const struct dec_pkt *p, const uint8_t *peek,
		       uint32_t npeek)
{
	bool tcp = p->proto == IPPROTO_TCP;
	bool cut = p->pay_kept < p->payload && p->pay_kept < APP_PEEK;
	unsigned state = f->app & FA_STATE, mark = FA_MARK << dir;
	uint32_t len = p->payload;
	uint8_t joined[APP_PEEK];
	if (tcp && rpc_mark_alone(p, peek, npeek) &&
	    (state != FA_FEEDING || t->app[index_of(t, f)].st.proto == APP_RPC)) {
		/* held as a flag: the next segment of this direction is read with a mark before it */
		if (state == FA_FEEDING)
			t->app[index_of(t, f)].next_seq[dir] = p->seq + 4;
		f->app |= (uint8_t)mark;
		return;
	}
	if (f->app & mark) {
		f->app &= (uint8_t)~mark;
		uint32_t n = npeek > APP_PEEK - 4 ? APP_PEEK - 4 : npeek, rec = len | 0x80000000u;
		joined[0] = (uint8_t)(rec >> 24);
		joined[1] = (uint8_t)(rec >> 16);
		joined[2] = (uint8_t)(rec >> 8);
		joined[3] = (uint8_t)rec;
		memcpy(joined + 4, peek, n);
		peek = joined;
		npeek = n + 4;
		len += 4;
	}
	/* Most flows of most captures: decided without touching the side array. */
	bool unclaimed = state == FA_UNCLAIMED_C || state == FA_UNCLAIMED_S;
	if (unclaimed && dir == (state == FA_UNCLAIMED_S))
		return; /* the side already found unclaimed: the other decides */
	if ((state == FA_NONE || unclaimed) && (!cut || npeek >= APP_CLAIM) &&
	    app_claim(peek, npeek, tcp) == APP_UNKNOWN) {
		set_state(f, unclaimed ? FA_UNKNOWN : dir ? FA_UNCLAIMED_S : FA_UNCLAIMED_C);
		return;
	}
	struct flow_app *a = &t->app[index_of(t, f)];
	if (state != FA_FEEDING) {
		memset(a, 0, sizeof(*a));
		if (unclaimed)
			a->st.unclaimed = (uint8_t)(1u << (dir ^ 1));
		set_state(f, FA_FEEDING);
	}
	if (!app_wants(&a->st, dir))
		return;
	if (tcp) {
		if (a->st.segs[dir] && p->seq != a->next_seq[dir])
			return;
		a->next_seq[dir] = p->seq + p->payload;
	}
	app_feed(&a->st, dir, peek, npeek, len, cut, tcp);
	if (!app_wants(&a->st, APP_C2S) && !app_wants(&a->st, APP_S2C))
		set_state(f, FA_DONE);
}

/* What tells a SPAN copy from the next packet: the same sequence and acknowledgement numbers, flags,
 * payload length, IP id and window, folded into 32 bits. */
static uint32_t fingerprint(const struct dec_pkt *p)
{
	uint64_t x = ((uint64_t)p->seq << 32 | p->ack) ^
		     ((uint64_t)p->payload << 32 | (uint64_t)p->ip_id << 16 | p->win) * 0x9e3779b97f4a7c15ull;
	x = fa_mum(x ^ p->tcp_flags, 0xe7037ed1a0b428dbull);
	return (uint32_t)(x ^ x >> 32);
}

/* Does this SYN start a new attempt on a 5-tuple that already has a flow? */
static bool new_attempt(const struct flow *f, int dir, const struct dec_pkt *p)
{
	if ((p->tcp_flags & (DEC_TH_SYN | DEC_TH_ACK)) != DEC_TH_SYN)
		return false;
	if (f->flags & FLOW_CLOSED)
		return true;
	if (f->flags & FLOW_MIDSTREAM)
		return true; /* port reuse after a close we did not see */
	if (dir == 0 && (f->flags & FLOW_SYN) && p->seq != f->isn)
		return (f->flags & (FLOW_SYNACK | FLOW_REJECTED)) || f->icmp;
	return false;
}

static void tcp_update(struct flow *f, int dir, const struct dec_pkt *p, uint64_t ts)
{
	uint8_t fl = p->tcp_flags;
	if (!(fl & DEC_TH_RST)) {
		f->flags &= (uint16_t)~FLOW_ONLY_RST;
		f->flags |= dir ? FLOW_TALK_S : FLOW_TALK_C;
	}
	if ((fl & (DEC_TH_SYN | DEC_TH_ACK)) == DEC_TH_SYN) {
		if (dir == 0) {
			if (!(f->flags & FLOW_SYN)) {
				f->flags |= FLOW_SYN;
				f->isn = p->seq;
				f->syn_ns = ts;
				f->syns = 1;
			} else {
				if (f->syns < UINT8_MAX)
					f->syns++;
				hist(f, 0, H_RETRANSMIT);
			}
		}
		hist(f, dir, H_SYN);
	} else if ((fl & (DEC_TH_SYN | DEC_TH_ACK)) == (DEC_TH_SYN | DEC_TH_ACK)) {
		f->flags |= FLOW_SYNACK;
		hist(f, dir, H_SYNACK);
	} else if ((fl & DEC_TH_ACK) && !(fl & (DEC_TH_RST | DEC_TH_FIN))) {
		if (dir == 0 && (f->flags & FLOW_SYN))
			f->flags |= FLOW_CLIENT_ACK;
		/* The handshake's time, wherever the sensor sits: SYN to the ACK of the SYN-ACK; not when the SYN
		 * was sent again (which copy was answered is unknown: Karn's rule). */
		if (dir == 0 && (f->flags & FLOW_SYNACK) && f->syns == 1 && !f->rtt_us && ts >= f->syn_ns)
			f->rtt_us = (uint16_t)((ts - f->syn_ns) / 1000 < UINT16_MAX - 1 ? (ts - f->syn_ns) / 1000 + 1 : UINT16_MAX);
		hist(f, dir, p->payload ? H_DATA : H_ACK);
	}
	if (p->payload && !(fl & DEC_TH_SYN)) {
		if (dir == 0 && (f->flags & FLOW_SYN))
			f->flags |= FLOW_CLIENT_ACK;
		hist(f, dir, H_DATA);
	}
	if (fl & DEC_TH_FIN) {
		f->flags |= dir ? FLOW_FIN_S : FLOW_FIN_C;
		hist(f, dir, H_FIN);
	}
	if (fl & DEC_TH_RST) {
		f->flags |= dir ? FLOW_RST_S : FLOW_RST_C;
		/* Only a RST that answers a SYN rejects it; one after a handshake is a close (FIELD-NOTES). */
		if (dir == 1 && (f->flags & FLOW_SYN) && !(f->flags & FLOW_SYNACK))
			f->flags |= FLOW_REJECTED;
		hist(f, dir, H_RST);
	}
}

static __attribute__((noinline)) void icmp_error(struct flow_table *t, const struct dec_pkt *p, uint64_t ts)
{
	struct flow *f = NULL;
	if (p->quote_ports) {
		struct flow_key k;
		int side;
		uint32_t hash = make_key(t, p, &k, &side);
		f = lookup(t, &k, hash);
		if (!f) {
			/* The attempt itself was not captured (filtered, or before the capture began). */
			f = create(t, &k, hash, side, ts);
			f->flags &= (uint16_t)~FLOW_ONLY_RST;
		}
	} else {
		/* Quote cut short: the most recent attempt from the quoted sender to a matching destination. */
		for (unsigned i = 0; i < RECENT && !f; i++) {
			const struct flow_key *k = &t->recent[(t->recent_pos - 1 - i) % RECENT];
			struct flow *cand = lookup(t, k, key_hash(t, k));
			if (cand && !memcmp(client_addr(cand), p->src, 16) &&
			    !memcmp(server_addr(cand), p->dst, p->quote_dst_bytes) && !(cand->flags & FLOW_SYNACK))
				f = cand;
		}
	}
	if (!f) {
		t->stats.icmp_unmatched++;
		return;
	}
	t->stats.icmp_matched++;
	if (!f->icmp || p->icmp == DEC_ICMP_PROHIBITED)
		f->icmp = (uint8_t)p->icmp;
	touch(f, ts);
}

static void prepare(const struct flow_table *t, const struct dec_pkt *p, struct lookup *lk)
{
	lk->hash = make_key(t, p, &lk->key, &lk->side);
	oat_prefetch(&t->ix, lk->hash);
}

/* The flow a packet will find, asked for once its slot is in: the first slot of its run with its hash
 * (nearly always the flow; nothing when the packet starts a flow). Inlined on purpose: as a function of
 * its own, nothing but loads and prefetches, GCC judged it pure and dropped every call to it. */
static inline __attribute__((always_inline)) void prefetch_entry(const struct flow_table *t, const struct slot *s)
{
	size_t pos = oat_home(&t->ix, s->lk.hash);
	uint32_t i = oat_next(&t->ix, s->lk.hash, &pos);
	if (i != OAT_NONE)
		prefetch_lines(at(t, i));
}

static void packet(struct flow_table *t, const struct dec_pkt *p, uint64_t ts, const struct lookup *lk,
		   const uint8_t *peek, uint32_t npeek);

void flow_packet(struct flow_table *t, const struct dec_pkt *p, const uint8_t *frame, uint64_t ts)
{
	struct lookup lk;
	prepare(t, p, &lk);
	uint32_t n = !frame ? 0 : p->pay_kept < APP_PEEK ? p->pay_kept : APP_PEEK;
	packet(t, p, ts, &lk, n ? frame + p->pay_off : NULL, n);
}

struct dec_pkt *flow_slot(struct flow_table *t)
{
	return &t->ring[t->pushed % RING].p;
}

void flow_push(struct flow_table *t, uint64_t ts, const uint8_t *frame, bool kept)
{
	struct slot *s = &t->ring[t->pushed++ % RING];
	s->ts = ts;
	s->npeek = !frame ? 0 : s->p.pay_kept < APP_PEEK ? s->p.pay_kept : APP_PEEK;
	s->pay = kept && frame ? frame + s->p.pay_off : s->peek;
	if (s->npeek && !kept)
		copy_small(s->peek, frame + s->p.pay_off, s->npeek);
	prepare(t, &s->p, &s->lk);
	if (t->pushed - t->processed > ENTRY)
		prefetch_entry(t, &t->ring[(t->pushed - 1 - ENTRY) % RING]);
	if (t->pushed - t->processed > PROCESS) {
		const struct slot *b = &t->ring[t->processed++ % RING];
		packet(t, &b->p, b->ts, &b->lk, b->pay, b->npeek);
	}
}

void flow_drain(struct flow_table *t)
{
	for (uint64_t i = t->pushed > t->processed + ENTRY ? t->pushed - ENTRY : t->processed; i < t->pushed; i++)
		prefetch_entry(t, &t->ring[i % RING]);
	for (; t->processed < t->pushed; t->processed++) {
		const struct slot *b = &t->ring[t->processed % RING];
		packet(t, &b->p, b->ts, &b->lk, b->pay, b->npeek);
	}
}

static void packet(struct flow_table *t, const struct dec_pkt *p, uint64_t ts, const struct lookup *lk,
		   const uint8_t *peek, uint32_t npeek)
{
	t->now_ns = ts > t->now_ns ? ts : t->now_ns; /* no branch: see touch() */
	if (t->now_ns - t->swept_ns >= FLOW_NS_PER_SEC)
		sweep(t, t->now_ns);
	if (p->icmp) {
		icmp_error(t, p, ts);
		return;
	}
	int side = lk->side;
	uint32_t fp = fingerprint(p), us = (uint32_t)(ts / 1000);
	struct flow *f = lookup(t, &lk->key, lk->hash);
	int dir = 0;
	if (f) {
		dir = side != f->client;
		/* A SPAN port shows a forwarded frame twice (ingress and egress), microseconds apart. */
		if (f->fp[dir] == fp && f->pkts[dir] && (uint16_t)(us - f->fp_us[dir]) < FLOW_DUP_NS / 1000) {
			t->stats.duplicates++;
			return;
		}
		if (p->proto == IPPROTO_TCP && new_attempt(f, dir, p)) {
			settle(t, f, t->now_ns);
			f = NULL;
		}
	}
	if (!f) {
		int client = pick_client(t, p, side);
		f = create(t, &lk->key, lk->hash, client, ts);
		dir = side != client;
		if (p->proto == IPPROTO_TCP && !(p->tcp_flags & DEC_TH_SYN))
			f->flags |= FLOW_MIDSTREAM;
		t->recent[t->recent_pos++ % RECENT] = lk->key;
	}
	f->fp[dir] = fp;
	f->fp_us[dir] = (uint16_t)us;
	if (!f->ttl[dir])
		f->ttl[dir] = p->ttl;
	f->encaps |= p->encaps;
	if (f->pkts[dir] < UINT16_MAX)
		f->pkts[dir]++;
	f->flags |= (uint16_t)((dir & (p->payload != 0)) * FLOW_DATA_S); /* no branch: which way is a coin toss */
	touch(f, ts);
	if (ts < f->first_ns)
		f->first_ns = ts; /* a SYN-ACK stamped before its SYN (two capture interfaces) */
	if (npeek && (f->app & FA_STATE) != FA_DONE && (f->app & FA_STATE) != FA_UNKNOWN)
		app_packet(t, f, dir, p, peek, npeek);
	if (p->proto == IPPROTO_TCP) {
		tcp_update(f, dir, p, ts);
		bool closed = (f->flags & (FLOW_RST_C | FLOW_RST_S)) ||
			      (f->flags & (FLOW_FIN_C | FLOW_FIN_S)) == (FLOW_FIN_C | FLOW_FIN_S);
		if (closed && !(f->flags & FLOW_CLOSED)) {
			f->flags |= FLOW_CLOSED;
			list_append(t, f, LIST_CLOSED);
			return;
		}
	} else {
		f->flags &= (uint16_t)~FLOW_ONLY_RST;
		hist(f, dir, H_DATA);
	}
	/* Change lists only when the flow's kind changes (answered: embryonic -> open). */
	if (f->list == LIST_EMBRYONIC && f->pkts[1])
		list_append(t, f, LIST_OPEN);
}

void flow_finish(struct flow_table *t, uint64_t end_ns)
{
	flow_drain(t);
	if (end_ns < t->now_ns)
		end_ns = t->now_ns;
	/* Oldest first, so the callback sees flows in the order they went quiet. */
	for (int l = 0; l < NLISTS; l++)
		for (uint32_t i; (i = list_head(t, l));) {
			prefetch_ahead(t, l);
			settle(t, at(t, i), end_ns);
		}
	flow_flush(t);
}
