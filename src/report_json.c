/* report_json.c: the JSON report of CONTRACT.md and the JSON port graph, written as it goes: a
 * top-level key a line, an array element a line (", " and ": " separators), so that a report of a million
 * rows never sits in memory (the 24,142-row bench report: 124 M instructions; 201 M before its small
 * writers were inlined, 429 M through a stdio call per piece, 1,984 M when jansson built an object per
 * row). Timestamps are seconds since the epoch as JSON numbers with the capture's own precision (6 or 9
 * decimals), written from the integer nanoseconds, never through a double. Strings are escaped per
 * RFC 8259; bytes that are not UTF-8 become U+FFFD, so the document stays valid whatever a file name or
 * a rules file holds. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/report.h"
#include "flowaudit/util.h"

#define PAIRS_MAX 16

/* Written into a buffer of the writer's own and handed to stdio a buffer at a time: a row of the report
 * is some 25 keys and values, and a stdio call for each piece of each (quote, text, quote, separator)
 * cost more than the rest of the writing. */
#define JW_BUF 32768

struct jw {
	FILE *out;              /* NULL: into mem (a piece of text made once, copied many times) */
	char *mem;
	size_t nmem;
	char buf[JW_BUF];
	size_t len;             /* bytes of buf not yet handed to out */
	bool nsec;              /* the capture's precision, for jw_ts() */
	int depth;              /* open objects and arrays below the document */
	bool first[16];         /* per depth: nothing written in it yet */
	bool top_first;         /* no top-level key written yet */
	bool elems;             /* the document's current array holds an element */
};

/* n bytes to the writer's destination: its file, or its text in memory. */
static void sink(struct jw *w, const char *p, size_t n)
{
	if (w->out) {
		fwrite(p, 1, n, w->out);
		return;
	}
	w->mem = xrealloc(w->mem, w->nmem + n + 1);
	memcpy(w->mem + w->nmem, p, n);
	w->nmem += n;
}

static void out_flush(struct jw *w)
{
	if (w->len)
		sink(w, w->buf, w->len);
	w->len = 0;
}

/* The pieces below are inlined where they are written, so that a literal's length and copy are known
 * when compiling (a key is a few stores, not strlen() and memcpy() calls). */
static inline __attribute__((always_inline)) void out_n(struct jw *w, const char *p, size_t n)
{
	if (w->len + n > sizeof(w->buf)) {
		out_flush(w);
		if (n > sizeof(w->buf)) {
			sink(w, p, n);
			return;
		}
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static inline __attribute__((always_inline)) void out_c(struct jw *w, char c)
{
	if (w->len == sizeof(w->buf))
		out_flush(w);
	w->buf[w->len++] = c;
}

static inline __attribute__((always_inline)) void out_s(struct jw *w, const char *s)
{
	out_n(w, s, strlen(s));
}

/* Short formatted pieces only (a number, an escape). */
static void __attribute__((format(printf, 2, 3))) out_f(struct jw *w, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	assert(n >= 0 && (size_t)n < sizeof(tmp));
	if (n > 0)
		out_n(w, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1); /* never past tmp, NDEBUG or not */
}

/* Before a value inside an object or array (not at the document level). */
static inline __attribute__((always_inline)) void jw_sep(struct jw *w)
{
	if (w->depth > 0) {
		if (!w->first[w->depth])
			out_s(w, ", ");
		w->first[w->depth] = false;
	}
}

static void jw_open(struct jw *w, char c)
{
	jw_sep(w);
	out_c(w, c);
	assert(w->depth + 1 < (int)(sizeof(w->first) / sizeof(w->first[0]))); /* reports nest 3 deep */
	w->first[++w->depth] = true;
}

static void jw_close(struct jw *w, char c)
{
	out_c(w, c);
	w->depth--;
}

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
	    (c == 0xf4 && s[1] > 0x8f))
		return 0; /* overlong, a surrogate, or past U+10FFFF */
	return n;
}

/* The bytes a string may hold as they are: printable ASCII but the quote and the backslash. */
static const bool plain[256] = {[0x20 ... 0x21] = true, [0x23 ... 0x5b] = true, [0x5d ... 0x7f] = true};
static_assert('"' == 0x22 && '\\' == 0x5c, "the two left out");

/* A string's characters, escaped, without the quotes. */
static void jw_body(struct jw *w, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	while (*s) {
		const unsigned char *run = s;
		while (plain[*s])
			s++;
		out_n(w, (const char *)run, (size_t)(s - run));
		if (!*s)
			break;
		size_t n;
		switch (*s) {
		case '"': out_s(w, "\\\""); s++; continue;
		case '\\': out_s(w, "\\\\"); s++; continue;
		case '\b': out_s(w, "\\b"); s++; continue;
		case '\f': out_s(w, "\\f"); s++; continue;
		case '\n': out_s(w, "\\n"); s++; continue;
		case '\r': out_s(w, "\\r"); s++; continue;
		case '\t': out_s(w, "\\t"); s++; continue;
		}
		if (*s < 0x20) {
			out_f(w, "\\u%04X", *s);
			s++;
		} else if ((n = utf8_len(s)) > 0) {
			out_n(w, (const char *)s, n);
			s += n;
		} else {
			out_s(w, "\xef\xbf\xbd"); /* U+FFFD */
			s++;
		}
	}
}

static void jw_text(struct jw *w, const char *str)
{
	out_c(w, '"');
	jw_body(w, str);
	out_c(w, '"');
}

/* Keys are flowaudit's own (literals, and the names of its statuses and encapsulations): plain ASCII,
 * written without the escaping scan. */
static inline __attribute__((always_inline)) void jw_plain_key(struct jw *w, const char *key)
{
	out_c(w, '"');
	out_s(w, key);
	out_n(w, "\": ", 3);
}

static inline __attribute__((always_inline)) void jw_key(struct jw *w, const char *key)
{
	jw_sep(w);
	jw_plain_key(w, key);
	w->first[w->depth] = true; /* the value that follows takes no separator */
}

static void jw_str(struct jw *w, const char *v)
{
	jw_sep(w);
	if (v)
		jw_text(w, v);
	else
		out_s(w, "null");
}

/* "00" to "99": a report's numbers are written two digits a division. */
static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
			       "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
			       "8081828384858687888990919293949596979899";

/* The last two decimal digits of v, written just before end; returns where they start. */
static inline char *two_digits(char *end, unsigned long long v)
{
	return memcpy(end - 2, &digit_pairs[v % 100 * 2], 2);
}

/* Decimal digits of v, written backwards into buf ending at end; returns the first. */
static char *digits(char *end, unsigned long long v)
{
	for (; v >= 100; v /= 100)
		end = two_digits(end, v);
	if (v >= 10)
		return two_digits(end, v);
	*--end = (char)('0' + v);
	return end;
}

/* v in decimal, as it is (no separator): what printf's %llu would write. */
static void out_u64(struct jw *w, uint64_t v)
{
	if (v < 10) { /* most counts of a row */
		out_c(w, (char)('0' + v));
		return;
	}
	char buf[24], *p = digits(buf + sizeof(buf), v);
	out_n(w, p, (size_t)(buf + sizeof(buf) - p));
}

static void jw_u64(struct jw *w, uint64_t v)
{
	jw_sep(w);
	out_u64(w, v);
}

static void jw_int(struct jw *w, long long v)
{
	if (v >= 0) {
		jw_u64(w, (uint64_t)v);
		return;
	}
	jw_sep(w);
	out_f(w, "%lld", v);
}

static void jw_lit(struct jw *w, const char *v)
{
	jw_sep(w);
	out_s(w, v);
}

/* A timestamp as a bare number with the capture's precision; 0 (never) is null. */
static void jw_ts(struct jw *w, uint64_t ns)
{
	jw_sep(w);
	if (!ns) {
		out_s(w, "null");
		return;
	}
	char buf[32], *end = buf + sizeof(buf);
	unsigned long long frac = ns % FLOW_NS_PER_SEC;
	char *p = end;
	int npairs = 3; /* 6 places */
	if (w->nsec) {
		*--p = (char)('0' + frac % 10); /* 9 places: one, then four pairs */
		frac /= 10;
		npairs = 4;
	} else {
		frac /= 1000;
	}
	for (int i = 0; i < npairs; i++, frac /= 100)
		p = two_digits(p, frac);
	*--p = '.';
	p = digits(p, ns / FLOW_NS_PER_SEC);
	out_n(w, p, (size_t)(end - p));
}

/* A string of flowaudit's own making that needs no escaping (an address, a status, a protocol's name),
 * or null. */
static void jw_plain(struct jw *w, const char *v)
{
	jw_sep(w);
	if (!v) {
		out_s(w, "null");
		return;
	}
	out_c(w, '"');
	out_s(w, v);
	out_c(w, '"');
}

static void jw_addr(struct jw *w, const uint8_t a[16])
{
	char buf[50];
	jw_plain(w, addr_str(a, buf));
}

/* key: value pairs, for the objects written below; inlined, so that a key's length is known when
 * compiling. */
#define KV __attribute__((always_inline)) static inline
KV void kv_str(struct jw *w, const char *k, const char *v)
{
	jw_key(w, k);
	jw_str(w, v);
}

KV void kv_plain(struct jw *w, const char *k, const char *v)
{
	jw_key(w, k);
	jw_plain(w, v);
}

KV void kv_true(struct jw *w, const char *k)
{
	jw_key(w, k);
	jw_lit(w, "true");
}

KV void kv_int(struct jw *w, const char *k, long long v)
{
	jw_key(w, k);
	jw_int(w, v);
}

KV void kv_u64(struct jw *w, const char *k, uint64_t v)
{
	jw_key(w, k);
	jw_u64(w, v);
}

KV void kv_ts(struct jw *w, const char *k, uint64_t ns)
{
	jw_key(w, k);
	jw_ts(w, ns);
}

/* The document: "{", then a top-level key a line, arrays an element a line, "}". */
static void doc_begin(struct jw *w, FILE *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->top_first = true;
	out_s(w, "{\n");
}

static void doc_key(struct jw *w, const char *key)
{
	out_s(w, w->top_first ? "  " : ",\n  ");
	jw_plain_key(w, key);
	w->top_first = false;
}

static void doc_array(struct jw *w, const char *key)
{
	doc_key(w, key);
	out_s(w, "[");
	w->elems = false;
}

/* Before each element of the document's current array. */
static void doc_elem(struct jw *w)
{
	out_s(w, w->elems ? ",\n    " : "\n    ");
	w->elems = true;
}

static void doc_array_end(struct jw *w)
{
	out_s(w, w->elems ? "\n  ]" : "]");
}

static int doc_end(struct jw *w)
{
	out_s(w, "\n}\n");
	out_flush(w);
	return ferror(w->out) ? -1 : 0;
}

/* The fields of an edge (and of its report row), inside an open object. */
/* An edge's fields before its addresses: the requirement and the two ends. */
static void edge_head(struct jw *w, const struct graph *g, const struct graph_edge *e)
{
	kv_str(w, "requirement", g->rules->edges[e->rule].requirement);
	kv_str(w, "client", graph_end_name(g, e->client));
	kv_str(w, "server", graph_end_name(g, e->server));
}

/* An edge's fields after its addresses: port, level, and (beyond the contract) where the rule comes from
 * and its alternatives. */
static void edge_tail(struct jw *w, const struct graph *g, const struct graph_edge *e)
{
	const struct rules_edge *re = &g->rules->edges[e->rule];
	kv_plain(w, "proto", rules_proto_name(e->proto));
	kv_int(w, "port", e->port);
	kv_plain(w, "level", rules_level_name(e->level));
	jw_key(w, "rule");
	jw_sep(w);
	out_c(w, '"');
	jw_body(w, re->file);
	out_c(w, ':');
	out_u64(w, (uint64_t)(re->line > 0 ? re->line : 0)); /* counted from 1 by the lexer */
	out_c(w, '"');
	if (re->note)
		kv_str(w, "note", re->note);
	bool alts = false;
	for (size_t k = 0; k < re->nports; k++)
		if (re->ports[k].group == e->group && (re->ports[k].proto != e->proto || re->ports[k].port != e->port)) {
			if (!alts) {
				jw_key(w, "alternatives");
				jw_open(w, '[');
				alts = true;
			}
			/* "tcp/61617": both parts plain ASCII, so written as they are */
			jw_sep(w);
			out_c(w, '"');
			out_s(w, rules_proto_name(re->ports[k].proto));
			out_c(w, '/');
			out_u64(w, re->ports[k].port);
			out_c(w, '"');
		}
	if (alts)
		jw_close(w, ']');
}

static void edge_fields(struct jw *w, const struct graph *g, const struct graph_edge *e, const char *ca, const char *sa)
{
	edge_head(w, g, e);
	if (g->site) {
		kv_plain(w, "client_addr", ca);
		kv_plain(w, "server_addr", sa);
	}
	edge_tail(w, g, e);
}

/* An edge's head and tail as text, made once per edge of a report: a million rows share a few edges, and
 * their fields need escaping once, not once a row. */
struct edge_text {
	char *head, *tail;
	size_t nhead, ntail;
};

/* One part of an edge, written by t (a writer of its own, reused: its buffer is not cleared). */
static char *render(struct jw *t, void (*part)(struct jw *, const struct graph *, const struct graph_edge *),
		    const struct graph *g, const struct graph_edge *e, bool first, size_t *n)
{
	t->out = NULL;
	t->mem = NULL;
	t->nmem = 0;
	t->len = 0;
	t->depth = 1;
	t->first[1] = first;
	part(t, g, e);
	out_flush(t);
	*n = t->nmem;
	return t->mem;
}

static const struct edge_text *edge_text(struct edge_text *cache, struct jw *scratch, const struct graph *g, int edge)
{
	struct edge_text *x = &cache[edge];
	if (!x->head) {
		x->head = render(scratch, edge_head, g, &g->edges[edge], true, &x->nhead);
		x->tail = render(scratch, edge_tail, g, &g->edges[edge], false, &x->ntail);
	}
	return x;
}

/* An edge as an element of the document's current array. */
static void edge_elem(struct jw *w, const struct graph *g, const struct graph_edge *e, const char *ca, const char *sa)
{
	doc_elem(w);
	jw_open(w, '{');
	edge_fields(w, g, e, ca, sa);
	jw_close(w, '}');
}

static int graph_json(FILE *out, const struct graph *g)
{
	struct jw w;
	doc_begin(&w, out);
	doc_array(&w, "edges");
	for (size_t i = 0; i < g->nedges; i++) {
		const struct graph_edge *e = &g->edges[i];
		if (e->level == LEVEL_FORBID)
			continue;
		if (!g->site) {
			edge_elem(&w, g, e, NULL, NULL);
			continue;
		}
		struct rep_pair pairs[PAIRS_MAX];
		size_t n = rep_edge_pairs(g, e, pairs, PAIRS_MAX);
		for (size_t k = 0; k < n; k++)
			edge_elem(&w, g, e, pairs[k].client, pairs[k].server);
	}
	doc_array_end(&w);
	return doc_end(&w);
}

/* "gre+erspan2", or null when the flow was not encapsulated. */
static void encap_value(struct jw *w, uint16_t mask)
{
	if (!mask) {
		jw_lit(w, "null");
		return;
	}
	char buf[128] = "";
	for (int e = 0; e < DEC_NENCAP; e++)
		if (mask >> e & 1) {
			if (*buf)
				strcat(buf, "+");
			strcat(buf, dec_encap_name((enum dec_encap)e));
		}
	jw_str(w, buf);
}

static void put_counts(struct jw *w, const struct cls_counts *n)
{
	kv_u64(w, "attempts", n->attempts);
	kv_u64(w, "established", n->established);
	kv_u64(w, "resets", n->resets);
	kv_u64(w, "icmp", (uint64_t)n->icmp_prohibited + n->icmp_unreachable);
	kv_u64(w, "no_reply", n->no_reply);
	kv_u64(w, "unverified", n->unverified);
	if (n->evicted) {
		/* Only then: reports without evictions keep the contract's bytes. */
		kv_u64(w, "evicted", n->evicted);
		jw_key(w, "incomplete");
		jw_lit(w, "true");
	}
	kv_ts(w, "first_seen", n->first_ns);
	kv_ts(w, "last_seen", n->last_ns);
}

static void status_reason(struct jw *w, enum cls_status st, enum cls_reason why);
static void host_name(struct jw *w, const char *key, const struct graph *g, int host);

static void unexpected_row(struct jw *w, const struct graph *g, const struct cls_unexpected *u, struct rep_whys *whys)
{
	doc_elem(w);
	jw_open(w, '{');
	jw_key(w, "client_addr");
	if (u->client_any || u->folded) {
		char buf[50];
		jw_str(w, rep_unexp_addr(g, u, false, buf));
	} else {
		jw_addr(w, u->client);
	}
	jw_key(w, "server_addr");
	if (u->folded) {
		char buf[50];
		jw_str(w, rep_unexp_addr(g, u, true, buf));
	} else {
		jw_addr(w, u->server);
	}
	host_name(w, "client", g, u->client_host);
	host_name(w, "server", g, u->server_host);
	kv_plain(w, "proto", rules_proto_name(u->proto));
	kv_int(w, "port", u->port);
	kv_str(w, "why", rep_why_of(whys, g, u));
	status_reason(w, u->status, u->reason);
	if (u->folded)
		kv_true(w, "folded");
	put_counts(w, &u->n);
	jw_close(w, '}');
}

static void status_reason(struct jw *w, enum cls_status st, enum cls_reason why)
{
	kv_plain(w, "status", cls_status_name(st));
	kv_plain(w, "reason", cls_reason_name(why));
}

static void hosts_json(struct jw *w, const struct graph *g, const struct infer_summary *inferred)
{
	doc_array(w, "hosts");
	for (size_t i = 0; i < g->site->nhosts; i++) {
		const struct site_host *h = &g->site->hosts[i];
		char buf[50];
		doc_elem(w);
		jw_open(w, '{');
		kv_str(w, "name", h->name);
		jw_key(w, "addrs");
		jw_open(w, '[');
		for (size_t k = 0; k < h->naddrs; k++)
			jw_str(w, site_addr_str(&h->addrs[k], buf));
		jw_close(w, ']');
		jw_key(w, "roles");
		jw_open(w, '[');
		for (size_t r = 0; r < g->rules->nroles; r++)
			if (site_host_has_role(h, (int)r))
				jw_str(w, g->rules->roles[r].name);
		jw_close(w, ']');
		kv_str(w, "source", inferred ? "inferred" : "site");
		if (inferred)
			kv_str(w, "confidence", infer_doubtful(inferred, h->name) ? "low" : "high");
		jw_close(w, '}');
	}
	doc_array_end(w);
}

static void host_name(struct jw *w, const char *key, const struct graph *g, int host)
{
	kv_str(w, key, host >= 0 ? g->site->hosts[host].name : NULL);
}

static void capture_json(struct jw *w, const struct audit_result *res)
{
	doc_key(w, "capture");
	jw_open(w, '{');
	kv_u64(w, "packets", res->packets);
	kv_u64(w, "decoded", res->decoded);
	kv_u64(w, "skipped", res->skipped);
	kv_ts(w, "first_ts", res->first_ns);
	kv_ts(w, "last_ts", res->last_ns);
	kv_u64(w, "dropped", res->dropped);
	if (res->live) {
		kv_u64(w, "ifdropped", res->ifdropped);
		kv_u64(w, "workers", res->workers);
	}
	jw_key(w, "not_decoded");
	jw_open(w, '{');
	for (int s = 1; s < DEC_NSTATUS; s++)
		if (res->by_status[s])
			kv_u64(w, dec_status_name((enum dec_status)s), res->by_status[s]);
	jw_close(w, '}');
	jw_key(w, "encapsulations");
	jw_open(w, '{');
	for (int e = 0; e < DEC_NENCAP; e++)
		if (res->by_encap[e])
			kv_u64(w, dec_encap_name((enum dec_encap)e), res->by_encap[e]);
	jw_close(w, '}');
	kv_u64(w, "flows", res->flows.flows);
	kv_u64(w, "duplicates", res->flows.duplicates);
	kv_u64(w, "evicted", res->flows.evicted);
	kv_u64(w, "peak_flows", res->flows.peak);
	kv_u64(w, "icmp_errors_matched", res->flows.icmp_matched);
	kv_u64(w, "icmp_errors_unmatched", res->flows.icmp_unmatched);
	kv_u64(w, "time_jumps", res->time_jumps);
	jw_key(w, "time_jump_packets");
	jw_open(w, '[');
	for (size_t i = 0; i < res->njumps; i++) {
		jw_open(w, '{');
		kv_str(w, "source", res->inputs[res->jumps[i].input].source);
		kv_u64(w, "packet", res->jumps[i].packet);
		kv_ts(w, "ts", res->jumps[i].ts_ns);
		jw_close(w, '}');
	}
	jw_close(w, ']');
	jw_key(w, "warnings");
	jw_open(w, '[');
	for (size_t i = 0; i < res->nwarnings; i++)
		jw_str(w, res->warnings[i]);
	jw_close(w, ']');
	jw_close(w, '}');
}

static void kv_ms(struct jw *w, const char *k, uint32_t us)
{
	char b[32];
	snprintf(b, sizeof(b), "%u.%03u", us / 1000, us % 1000);
	jw_key(w, k);
	jw_sep(w);
	out_s(w, b);
}

/* "placement": each agent and partner host pair, timed and counted (docs/verdicts.md). */
static void placement_json(struct jw *w, const struct graph *g, const struct cls *c)
{
	struct cls_place *p;
	uint32_t limit;
	size_t n = cls_placement(c, &p, &limit);
	doc_array(w, "placement");
	for (size_t i = 0; i < n; i++) {
		const struct cls_lat *l = &p[i].lat;
		doc_elem(w);
		jw_open(w, '{');
		jw_key(w, "hosts");
		jw_open(w, '[');
		jw_str(w, graph_end_name(g, p[i].a));
		jw_str(w, graph_end_name(g, p[i].b));
		jw_close(w, ']');
		kv_u64(w, "handshakes", l->n);
		if (l->n) {
			kv_ms(w, "rtt_p50_ms", cls_lat_quantile(l, 0.5));
			kv_ms(w, "rtt_p95_ms", cls_lat_quantile(l, 0.95));
			kv_ms(w, "rtt_max_ms", l->max_us);
		}
		kv_ms(w, "limit_ms", limit);
		jw_key(w, "hops");
		jw_open(w, '[');
		for (int d = 0; d < 2; d++) {
			jw_sep(w);
			if (l->hops_seen >> d & 1)
				out_u64(w, l->hops[d]);
			else
				out_s(w, "null");
		}
		jw_close(w, ']');
		if (p[i].slow)
			kv_true(w, "slow");
		if (p[i].routed)
			kv_true(w, "routed");
		jw_close(w, '}');
	}
	doc_array_end(w);
	free(p);
}

static void summary_json(struct jw *w, const struct cls *c)
{
	doc_key(w, "summary");
	jw_open(w, '{');
	for (int s = 0; s < CLS_NSTATUS; s++)
		kv_u64(w, cls_status_name((enum cls_status)s), c->summary[s]);
	kv_u64(w, "unexpected", c->nunexp - c->nknown);
	jw_key(w, "optional");
	jw_open(w, '{');
	for (int s = 0; s < CLS_NSTATUS; s++)
		if (s != CLS_MISSING)
			kv_u64(w, cls_status_name((enum cls_status)s), c->optional[s]);
	kv_u64(w, "not_seen", c->optional_unseen);
	jw_close(w, '}');
	kv_u64(w, "ignored_flows", c->ignored);
	kv_u64(w, "outside_flows", c->outside);
	if (c->nknown) {
		uint64_t known = 0;
		for (size_t i = 0; i < c->nunexp; i++)
			known += c->unexp[i].apart ? c->unexp[i].n.attempts : 0;
		kv_u64(w, "known_flows", known);
	}
	size_t incomplete = cls_incomplete_rows(c);
	if (incomplete)
		kv_u64(w, "incomplete_rows", incomplete);
	kv_u64(w, "placement_findings", c->placement_findings);
	if (c->folded)
		kv_u64(w, "folded_flows", c->folded);
	jw_close(w, '}');
}

/* A batch of --flows records, from a flow log, in the order they settled. */
/* "app": what the recognisers learnt: of a row (its flows, how their handshakes went, its evidence's facts)
 * or of a flow (flows < 0). s: the recogniser state whose facts are shown, or NULL. */
static void app_json(struct jw *w, enum app_proto proto, enum app_handshake hs, long long flows,
		     const struct app_state *s)
{
	jw_key(w, "app");
	jw_open(w, '{');
	kv_str(w, "protocol", app_proto_name(proto));
	kv_str(w, "handshake", app_handshake_name(hs));
	if (flows >= 0)
		kv_int(w, "flows", flows);
	struct app_fact f[8];
	size_t n = s && proto >= APP_TLS ? app_facts(s, f, 8) : 0;
	if (n) {
		jw_key(w, "facts");
		jw_open(w, '{');
		for (size_t i = 0; i < n; i++) {
			char *end;
			unsigned long long v = strtoull(f[i].value, &end, 10);
			if (f[i].value[0] >= '0' && f[i].value[0] <= '9' && !*end)
				kv_u64(w, f[i].key, v);
			else
				kv_str(w, f[i].key, f[i].value);
		}
		jw_close(w, '}');
	}
	jw_close(w, '}');
}

static int flow_elems(void *ctx, const struct flow_record *r, size_t n)
{
	struct jw *w = ctx;
	for (const struct flow_record *f = r; f < r + n; f++) {
		doc_elem(w);
		jw_open(w, '{');
		jw_key(w, "client_addr");
		jw_addr(w, f->client);
		kv_int(w, "client_port", f->client_port);
		jw_key(w, "server_addr");
		jw_addr(w, f->server);
		kv_int(w, "server_port", f->server_port);
		kv_str(w, "proto", rules_proto_name(f->proto));
		kv_ts(w, "first_ts", f->first_ns);
		kv_ts(w, "last_ts", f->last_ns);
		kv_str(w, "history", f->history);
		kv_str(w, "state", flow_verdict_name(f->verdict));
		jw_key(w, "encapsulation");
		encap_value(w, f->encaps);
		if (f->app.proto != APP_NONE)
			app_json(w, f->app.proto, f->app.proto == APP_UNKNOWN ? APP_HS_NOT_SEEN : app_handshake(&f->app), -1,
				 &f->app);
		jw_close(w, '}');
	}
	return 0;
}

static int audit_json(FILE *out, const struct report *rp)
{
	const struct graph *g = rp->g;
	const struct audit_result *res = rp->res;
	const struct cls *c = &res->cls;
	struct jw w;
	doc_begin(&w, out);
	w.nsec = res->nsec;
	doc_key(&w, "tool");
	jw_str(&w, "flowaudit");
	doc_key(&w, "version");
	jw_str(&w, FLOWAUDIT_VERSION);
	if (rp->sensor) {
		doc_key(&w, "sensor");
		jw_str(&w, rp->sensor);
	}
	if (rp->digest_rules && *rp->digest_rules) {
		/* what merge compares: reports of other rules or another site are not summed */
		doc_key(&w, "config");
		jw_open(&w, '{');
		kv_str(&w, "rules", rp->digest_rules);
		if (rp->digest_site && *rp->digest_site)
			kv_str(&w, "site", rp->digest_site);
		jw_close(&w, '}');
	}
	if (rp->inferred) {
		/* no -s: the site came from the capture (its hosts say "source": "inferred") */
		doc_key(&w, "site_inferred");
		jw_open(&w, '{');
		kv_u64(&w, "flows", rp->inferred->flows);
		kv_u64(&w, "addresses", rp->inferred->addrs);
		kv_u64(&w, "hosts", rp->inferred->hosts);
		kv_u64(&w, "left_out", rp->inferred->left_out);
		kv_u64(&w, "past_limit", rp->inferred->past_limit);
		jw_close(&w, '}');
	}
	if (res->interim) {
		doc_key(&w, "interim");
		jw_lit(&w, "true");
	}

	doc_array(&w, "inputs");
	for (size_t i = 0; i < res->ninputs; i++) {
		doc_elem(&w);
		jw_open(&w, '{');
		kv_str(&w, "source", res->inputs[i].source);
		kv_str(&w, "linktype", res->inputs[i].linktype);
		kv_u64(&w, "packets", res->inputs[i].packets);
		jw_close(&w, '}');
	}
	doc_array_end(&w);

	capture_json(&w, res);
	hosts_json(&w, g, rp->inferred);

	doc_array(&w, "edges");
	struct edge_text *texts = xcalloc(g->nedges + 1, sizeof(*texts));
	uint32_t *uses = xcalloc(g->nedges + 1, sizeof(*uses)); /* rows per edge: an edge of one row is written as it is */
	for (size_t i = 0; i < c->nrows; i++)
		uses[c->rows[i].edge] += uses[c->rows[i].edge] < 2;
	struct jw *scratch = xmalloc(sizeof(*scratch)); /* its 32 KB buffer is written before it is read */
	scratch->len = 0;
	scratch->nsec = w.nsec;
	scratch->depth = 0;
	memset(scratch->first, 0, sizeof(scratch->first));
	scratch->top_first = scratch->elems = false;
	for (size_t i = 0; i < c->nrows; i++) {
		const struct cls_row *r = cls_row_at(c, i);
		if (i + 8 < c->nrows) /* rows are read in report order, not where they lie */
			__builtin_prefetch(cls_row_at(c, i + 8));
		char ca[50], sa[50];
		doc_elem(&w);
		jw_open(&w, '{');
		if (r->learnt) {
			/* the portmapper's path, on the port its reply named, required of the client that asked */
			struct graph_edge le = g->edges[r->edge];
			le.proto = r->proto;
			le.port = r->port;
			le.level = LEVEL_REQUIRED;
			le.group = -1; /* the portmapper's alternatives are not this port's */
			edge_fields(&w, g, &le, site_addr_str(&r->client, ca), site_addr_str(&r->server, sa));
		} else if (uses[r->edge] < 2) {
			edge_fields(&w, g, &g->edges[r->edge], site_addr_str(&r->client, ca), site_addr_str(&r->server, sa));
		} else {
			const struct edge_text *x = edge_text(texts, scratch, g, r->edge);
			out_n(&w, x->head, x->nhead);
			w.first[w.depth] = false;
			if (g->site) {
				kv_plain(&w, "client_addr", site_addr_str(&r->client, ca));
				kv_plain(&w, "server_addr", site_addr_str(&r->server, sa));
			}
			out_n(&w, x->tail, x->ntail);
		}
		status_reason(&w, r->status, r->reason);
		if (r->folded)
			kv_true(&w, "folded");
		const struct cls_learnt *lt = cls_row_learnt(c, r);
		if (lt) {
			const struct rules_learn *rl = rules_learn_of(g->rules, lt->program);
			jw_key(&w, "learnt");
			jw_open(&w, '{');
			kv_u64(&w, "program", lt->program);
			if (rl)
				kv_str(&w, "name", rl->name);
			kv_str(&w, "from", "portmapper");
			kv_str(&w, "portmapper", lt->pm_proto == IPPROTO_UDP ? "udp" : "tcp");
			kv_ts(&w, "at", lt->at_ns);
			jw_close(&w, '}');
		}
		const char *fw = rep_firewall(rp, r);
		if (fw)
			kv_str(&w, "firewall", fw);
		if (r->n.app.flows)
			app_json(&w, r->n.app.proto, cls_app_handshake(&r->n.app), r->n.app.flows, cls_row_app(c, r));
		put_counts(&w, &r->n);
		jw_close(&w, '}');
	}
	for (size_t i = 0; i < g->nedges; i++) {
		free(texts[i].head);
		free(texts[i].tail);
	}
	free(texts);
	free(uses);
	free(scratch);
	doc_array_end(&w);

	/* Unexpected rows; then, only when there are any, the flows of known hosts outside the product. */
	struct rep_whys *whys = rep_whys_new();
	for (int apart = 0; apart < 2; apart++) {
		if (apart && !c->nknown)
			break;
		doc_array(&w, apart ? "known" : "unexpected");
		for (size_t i = 0; i < c->nunexp; i++) {
			const struct cls_unexpected *u = cls_unexp_at(c, i);
			if (i + 8 < c->nunexp)
				__builtin_prefetch(cls_unexp_at(c, i + 8));
			if (u->apart == (apart != 0))
				unexpected_row(&w, g, u, whys);
		}
		doc_array_end(&w);
	}
	rep_whys_free(whys);

	if (rp->flows) {
		doc_array(&w, "flows");
		for (size_t i = 0; i < res->nflow_logs; i++)
			if (flowlog_each(res->flow_logs[i].log, res->flow_logs[i].n, flow_elems, &w) < 0) {
				out_flush(&w);
				errno = EIO; /* the temporary file could not be read back: no report */
				return -1;
			}
		doc_array_end(&w);
	}

	placement_json(&w, g, c);
	summary_json(&w, c);
	return doc_end(&w);
}

const struct rep_format rep_json = {"json", true, graph_json, audit_json};
