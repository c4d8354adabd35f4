/* events.c: --events, NDJSON for SIEM pipelines: see events.h. */
#include "flowaudit/events.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flowaudit/app.h"
#include "flowaudit/report.h"
#include "flowaudit/util.h"
#include "uthash.h"

#define EV_CHUNK 65536 /* written when the buffer passes this, at a line's end */

/* The status a path (or unexpected flow) had at the last report, to tell a change. */
struct seen_key {
	uint8_t client[16], server[16];
	uint16_t port;
	uint8_t proto;
	uint8_t unexpected;
};

struct seen {
	struct seen_key key;
	uint8_t status;
	UT_hash_handle hh;
};

/* Where the last report stopped in a worker's flow log. */
struct log_pos {
	const struct flowlog *log;
	size_t done;
};

struct events {
	char *path;             /* NULL: standard output */
	int fd;
	bool regular;           /* a regular file: rotated */
	uint64_t rotate;
	uint64_t size;          /* of the file, as written */
	char *sensor;
	char *buf;
	size_t len, cap;
	int error;              /* errno of the first failed write since the last report */
	struct seen *seen;
	struct log_pos *pos;
	size_t npos;
	const struct graph *ports_of; /* the graph pack_ports was made for */
	uint8_t pack_ports[2][8192];  /* bit per port any rule of the pack names: [0] tcp, [1] udp */
};

static int open_file(struct events *ev, struct diag *d)
{
	mode_t mask = umask(0);
	umask(mask);
	ev->fd = open(ev->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666 & ~mask);
	if (ev->fd < 0) {
		struct diag_loc loc = {.file = ev->path};
		diag_add(d, &loc, "cannot open the events file: %s", strerror(errno));
		return -1;
	}
	struct stat st;
	ev->regular = fstat(ev->fd, &st) == 0 && S_ISREG(st.st_mode);
	ev->size = ev->regular ? (uint64_t)st.st_size : 0;
	return 0;
}

struct events *events_open(const char *path, uint64_t rotate, const char *sensor, struct diag *d)
{
	struct events *ev = xcalloc(1, sizeof(*ev));
	ev->cap = 2 * EV_CHUNK;
	ev->buf = xmalloc(ev->cap);
	ev->rotate = rotate;
	ev->sensor = sensor ? xstrdup(sensor) : NULL;
	if (!path || !strcmp(path, "-")) {
		ev->fd = STDOUT_FILENO;
		return ev;
	}
	ev->path = xstrdup(path);
	if (open_file(ev, d) < 0) {
		events_close(ev);
		return NULL;
	}
	return ev;
}

void events_close(struct events *ev)
{
	if (!ev)
		return;
	if (ev->path && ev->fd >= 0)
		close(ev->fd);
	struct seen *s, *tmp;
	HASH_ITER(hh, ev->seen, s, tmp) {
		HASH_DEL(ev->seen, s);
		free(s);
	}
	free(ev->pos);
	free(ev->buf);
	free(ev->sensor);
	free(ev->path);
	free(ev);
}

bool events_size_parse(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || *s == '-' || errno)
		return false;
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	if (shift)
		end++;
	if (*end || v == 0 || v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

/* The buffer to the file, whole lines only (it always ends at a line here); then a rotation if due. */
static void drain(struct events *ev)
{
	size_t off = 0;
	while (off < ev->len && !ev->error) {
		ssize_t n = write(ev->fd, ev->buf + off, ev->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			ev->error = n < 0 ? errno : EIO;
		else
			off += (size_t)n;
	}
	ev->size += off;
	ev->len = 0;
	if (ev->error || !ev->regular || !ev->rotate || ev->size < ev->rotate)
		return;
	/* A reader following the name (tail -F, a shipper) finds the new file; the full one is FILE.1. */
	char *old = xasprintf("%s.1", ev->path);
	if (rename(ev->path, old) < 0) {
		ev->error = errno;
	} else {
		close(ev->fd);
		struct diag d;
		diag_init(&d);
		if (open_file(ev, &d) < 0)
			ev->error = errno ? errno : EIO;
		diag_free(&d);
	}
	free(old);
}

static void put(struct events *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct events *ev, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(ev->buf + ev->len, ev->cap - ev->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return; /* not printable: nothing is written */
		if ((size_t)n < ev->cap - ev->len) {
			ev->len += (size_t)n;
			return;
		}
		while (ev->cap - ev->len <= (size_t)n)
			ev->cap *= 2;
		ev->buf = xrealloc(ev->buf, ev->cap);
	}
}

/* A JSON string (quoted and escaped); NULL is null. */
static void put_str(struct events *ev, const char *s)
{
	if (!s) {
		put(ev, "null");
		return;
	}
	/* Room for every byte as \u00XX, so that the escaping writes straight into the buffer. */
	size_t need = 6 * strlen(s) + 3;
	if (ev->cap - ev->len < need) {
		while (ev->cap - ev->len < need)
			ev->cap *= 2;
		ev->buf = xrealloc(ev->buf, ev->cap);
	}
	char *o = ev->buf + ev->len;
	*o++ = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			*o++ = '\\';
			*o++ = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			o += sprintf(o, "\\u%04x", *p);
		} else {
			*o++ = (char)*p;
		}
	}
	*o++ = '"';
	ev->len = (size_t)(o - ev->buf);
}

/* RFC 3339, UTC, microseconds: 2026-12-07T11:26:34.123456Z */
static void put_time(struct events *ev, const char *key, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	char b[32] = "1970-01-01T00:00:00";
	if (gmtime_r(&t, &tm))
		strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
	put(ev, "\"%s\":\"%s.%06uZ\"", key, b, (unsigned)(ns % 1000000000u / 1000u));
}

/* The start of an event: its time, type and sensor. */
static void head(struct events *ev, uint64_t ns, const char *type)
{
	put(ev, "{");
	put_time(ev, "timestamp", ns);
	put(ev, ",\"event_type\":\"%s\"", type);
	if (ev->sensor) {
		put(ev, ",\"sensor\":");
		put_str(ev, ev->sensor);
	}
}

/* The end of an event; the buffer goes out once it is large, or once the file would pass its size. */
static void tail(struct events *ev)
{
	put(ev, "}\n");
	if (ev->len >= EV_CHUNK || (ev->rotate && ev->regular && ev->size + ev->len >= ev->rotate))
		drain(ev);
}

static const char *proto_upper(uint8_t p)
{
	return p == IPPROTO_TCP ? "TCP" : p == IPPROTO_UDP ? "UDP" : "IP";
}

static void pack_ports(struct events *ev, const struct graph *g)
{
	if (ev->ports_of == g)
		return;
	memset(ev->pack_ports, 0, sizeof(ev->pack_ports));
	const struct rules *r = g->rules;
	for (size_t i = 0; i < r->nedges; i++)
		for (size_t k = 0; k < r->edges[i].nports; k++) {
			const struct rules_port *p = &r->edges[i].ports[k];
			ev->pack_ports[p->proto == IPPROTO_UDP][p->port >> 3] |= (uint8_t)(1u << (p->port & 7));
		}
	ev->ports_of = g;
}

struct flow_ctx {
	struct events *ev;
	const struct graph *g;
	const struct cls *c;
};

static void flow_event(struct events *ev, const struct graph *g, const struct cls *c, const struct flow_record *r)
{
	bool pack = ev->pack_ports[r->proto == IPPROTO_UDP][r->server_port >> 3] >> (r->server_port & 7) & 1;
	const struct cls_learnt *lt = pack ? NULL : cls_learnt_find(c, r->client, r->server, r->proto, r->server_port);
	if (!pack && !lt)
		return;
	char ca[50], sa[50];
	head(ev, r->last_ns, "flow");
	put(ev, ",\"src_ip\":\"%s\",\"src_port\":%u,\"dest_ip\":\"%s\",\"dest_port\":%u,\"proto\":\"%s\"",
	    addr_str(r->client, ca), r->client_port, addr_str(r->server, sa), r->server_port, proto_upper(r->proto));
	if (r->app.proto >= APP_TLS)
		put(ev, ",\"app_proto\":\"%s\"", app_proto_name((enum app_proto)r->app.proto));
	put(ev, ",\"flow\":{");
	put_time(ev, "start", r->first_ns);
	put(ev, ",");
	put_time(ev, "end", r->last_ns);
	put(ev, ",\"verdict\":\"%s\",\"pkts_toserver\":%u,\"pkts_toclient\":%u,\"history\":",
	    flow_verdict_name((enum flow_verdict)r->verdict), r->pkts[0], r->pkts[1]);
	char hist[sizeof(r->history) + 1];
	memcpy(hist, r->history, sizeof(r->history));
	hist[sizeof(r->history)] = '\0';
	put_str(ev, hist);
	if (r->rtt_us)
		put(ev, ",\"rtt_us\":%u", r->rtt_us);
	if (r->evicted)
		put(ev, ",\"evicted\":true");
	put(ev, "}");
	int ch = -1, sh = -1;
	int e = g->site ? graph_path(g, r->client, r->server, r->proto, r->server_port, &ch, &sh) : -1;
	if (e < 0 && lt && ch >= 0 && sh >= 0)
		e = graph_find(g, ch, sh, lt->pm_proto, lt->pm_port);
	if (e >= 0) {
		const struct graph_edge *ge = &g->edges[e];
		put(ev, ",\"path\":{\"requirement\":");
		put_str(ev, g->rules->edges[ge->rule].requirement);
		put(ev, ",\"client\":");
		put_str(ev, graph_end_name(g, ge->client));
		put(ev, ",\"server\":");
		put_str(ev, graph_end_name(g, ge->server));
		put(ev, ",\"level\":\"%s\"", lt ? "required" : rules_level_name(ge->level));
		if (lt)
			put(ev, ",\"learnt_program\":%u", lt->program);
		put(ev, "}");
	} else if (ch >= 0 || sh >= 0) {
		put(ev, ",\"hosts\":{\"client\":");
		put_str(ev, ch >= 0 ? g->site->hosts[ch].name : NULL);
		put(ev, ",\"server\":");
		put_str(ev, sh >= 0 ? g->site->hosts[sh].name : NULL);
		put(ev, "}");
	}
	if (r->app.proto >= APP_TLS) {
		put(ev, ",\"app\":{\"handshake\":\"%s\"", app_handshake_name(app_handshake(&r->app)));
		struct app_fact f[8];
		size_t n = app_facts(&r->app, f, 8);
		for (size_t i = 0; i < n; i++) {
			put(ev, ",");
			put_str(ev, f[i].key);
			put(ev, ":");
			put_str(ev, f[i].value);
		}
		put(ev, "}");
	}
	tail(ev);
}

static int flows_of(void *ctx, const struct flow_record *r, size_t n)
{
	struct flow_ctx *fc = ctx;
	for (size_t i = 0; i < n; i++)
		flow_event(fc->ev, fc->g, fc->c, &r[i]);
	return 0;
}

static struct log_pos *pos_of(struct events *ev, const struct flowlog *l)
{
	for (size_t i = 0; i < ev->npos; i++)
		if (ev->pos[i].log == l)
			return &ev->pos[i];
	ev->pos = xrealloc(ev->pos, (ev->npos + 1) * sizeof(*ev->pos));
	ev->pos[ev->npos] = (struct log_pos){l, 0};
	return &ev->pos[ev->npos++];
}

/* Did the status of this path (or unexpected flow) change since the last report? *prev: the status it
 * had then, or NULL when it was not known. A path first seen ok is no news; a new unexpected flow is. */
static bool changed(struct events *ev, const struct seen_key *k, uint8_t status, const char **prev)
{
	struct seen *s;
	HASH_FIND(hh, ev->seen, k, sizeof(*k), s);
	if (s && s->status == status)
		return false;
	*prev = s ? cls_status_name((enum cls_status)s->status) : NULL;
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->key = *k;
		HASH_ADD(hh, ev->seen, key, sizeof(s->key), s);
	}
	s->status = status;
	return *prev || status != CLS_OK || k->unexpected;
}

static void finding_head(struct events *ev, uint64_t ns, const char *prev, const char *status, const char *reason)
{
	head(ev, ns, "finding");
	put(ev, ",\"finding\":{\"status\":\"%s\",\"reason\":", status);
	put_str(ev, reason);
	put(ev, ",\"previous\":");
	put_str(ev, prev);
}

static void findings(struct events *ev, const struct graph *g, const struct cls *c, uint64_t ns)
{
	char ca[50], sa[50];
	for (size_t i = 0; i < c->nrows; i++) {
		const struct cls_row *r = &c->rows[i];
		struct seen_key k;
		memset(&k, 0, sizeof(k));
		memcpy(k.client, r->client.a, 16);
		memcpy(k.server, r->server.a, 16);
		k.port = r->port;
		k.proto = r->proto;
		const char *prev;
		if (!changed(ev, &k, r->status, &prev))
			continue;
		const struct graph_edge *ge = &g->edges[r->edge];
		finding_head(ev, ns, prev, cls_status_name((enum cls_status)r->status), cls_reason_name((enum cls_reason)r->reason));
		put(ev, ",\"requirement\":");
		put_str(ev, g->rules->edges[ge->rule].requirement);
		put(ev, ",\"level\":\"%s\",\"client\":", rules_level_name(cls_row_level(c, r)));
		put_str(ev, graph_end_name(g, ge->client));
		put(ev, ",\"server\":");
		put_str(ev, graph_end_name(g, ge->server));
		put(ev, ",\"client_addr\":\"%s\",\"server_addr\":\"%s\",\"proto\":\"%s\",\"port\":%u,\"attempts\":%llu,"
			"\"established\":%u}", site_addr_str(&r->client, ca), site_addr_str(&r->server, sa),
		    rules_proto_name(r->proto), r->port, (unsigned long long)r->n.attempts, r->n.established);
		tail(ev);
	}
	for (size_t i = 0; i < c->nunexp; i++) {
		const struct cls_unexpected *u = &c->unexp[i];
		if (u->apart)
			continue;
		struct seen_key k;
		memset(&k, 0, sizeof(k));
		memcpy(k.client, u->client, 16);
		memcpy(k.server, u->server, 16);
		k.port = u->port;
		k.proto = u->proto;
		k.unexpected = 1;
		const char *prev;
		if (!changed(ev, &k, u->status, &prev))
			continue;
		/* the status of an unexpected flow is whether it got through: "open" (ok) or how it failed */
		finding_head(ev, ns, prev, "unexpected", u->status == CLS_OK ? "open" : cls_reason_name((enum cls_reason)u->reason));
		char *why = rep_why(g, u);
		put(ev, ",\"why\":");
		put_str(ev, why);
		free(why);
		put(ev, ",\"client\":");
		put_str(ev, u->client_host >= 0 ? g->site->hosts[u->client_host].name : NULL);
		put(ev, ",\"server\":");
		put_str(ev, u->server_host >= 0 ? g->site->hosts[u->server_host].name : NULL);
		put(ev, ",\"client_addr\":\"%s\",\"server_addr\":\"%s\",\"proto\":\"%s\",\"port\":%u,\"attempts\":%llu}",
		    addr_str(u->client, ca), addr_str(u->server, sa), rules_proto_name(u->proto), u->port,
		    (unsigned long long)u->n.attempts);
		tail(ev);
	}
}

static void stats(struct events *ev, const struct audit_result *res, uint64_t ns)
{
	const struct cls *c = &res->cls;
	head(ev, ns, "stats");
	put(ev, ",\"stats\":{\"interim\":%s,\"packets\":%llu,\"decoded\":%llu,\"skipped\":%llu,\"dropped\":%llu,"
		"\"flows\":%llu,\"duplicates\":%llu,\"evicted\":%llu,\"paths\":{",
	    res->interim ? "true" : "false", (unsigned long long)res->packets, (unsigned long long)res->decoded,
	    (unsigned long long)res->skipped, (unsigned long long)res->dropped, (unsigned long long)res->flows.flows,
	    (unsigned long long)res->flows.duplicates, (unsigned long long)res->flows.evicted);
	for (int s = 0; s < CLS_NSTATUS; s++)
		put(ev, "%s\"%s\":%zu", s ? "," : "", cls_status_name((enum cls_status)s), c->summary[s]);
	put(ev, "},\"unexpected\":%zu,\"placement_findings\":%zu}", c->nunexp - c->nknown, c->placement_findings);
	tail(ev);
}

int events_report(struct events *ev, const struct graph *g, const struct audit_result *res, struct diag *d)
{
	uint64_t ns = res->timed ? res->last_ns : 0;
	if (!ns) {
		/* No packet yet (a live sensor's first interval): the time of the report. */
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	}
	pack_ports(ev, g);
	struct flow_ctx fc = {ev, g, &res->cls};
	for (size_t i = 0; i < res->nflow_logs; i++) {
		struct log_pos *p = pos_of(ev, res->flow_logs[i].log);
		if (res->flow_logs[i].n > p->done) {
			if (flowlog_each_from(res->flow_logs[i].log, p->done, res->flow_logs[i].n, flows_of, &fc) < 0 && !ev->error)
				ev->error = errno ? errno : EIO; /* the flows could not be read back */
			p->done = res->flow_logs[i].n;
		}
	}
	findings(ev, g, &res->cls, ns);
	stats(ev, res, ns);
	drain(ev);
	int e = ev->error;
	ev->error = 0;
	if (!e)
		return 0;
	struct diag_loc loc = {.file = ev->path ? ev->path : "standard output"};
	diag_add(d, &loc, "cannot write the events: %s", strerror(e));
	return -1;
}
