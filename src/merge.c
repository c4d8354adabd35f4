/* merge.c: `flowaudit merge`: see merge.h. The reports are read with jansson; rows are matched in a
 * uthash table by a key of what they are (never hot: a few million rows at most, once). */
#include "flowaudit/merge.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/classify.h"
#include "flowaudit/report.h"
#include "flowaudit/util.h"
#include "uthash.h"

struct sensor {
	char *name;             /* its --sensor, else the report's file name */
	char *path;
	json_t *doc;
};

struct mrow {
	char *key;
	bool unexpected;
	json_t *row;            /* the first report's row: all a merged row says besides its counts */
	struct cls_counts n;
	double first, last;     /* first_seen, last_seen */
	json_t *evidence;       /* each sensor's own view: [{sensor, status, reason, attempts, established}] */
	const char *app_reason; /* a sensor judged its flows degraded by their application (tls-alert ...) */
	uint8_t status;
	const char *reason;
	UT_hash_handle hh;
};

struct merge {
	struct sensor *s;
	size_t ns;
	struct mrow *table;
	struct mrow **rows;     /* in the order first seen */
	size_t nrows, cap_rows;
	json_t *placement;
	size_t summary[CLS_NSTATUS], unexpected, placement_findings;
	bool joined;            /* every report carried its flows: the counts are of connections joined across
				 * sensors, not sums (join_flows()) */
	size_t sensor_flows, connections;
};

static const char *str_of(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

static uint64_t num_of(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static uint32_t num32(json_t *o, const char *k)
{
	uint64_t v = num_of(o, k);
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* The application reasons a sensor judges from its flows' payload: not in the counts, kept as said. */
static const char *app_reason(const char *r)
{
	static const char *const app[] = {"tls-alert", "app-no-handshake", "app-failed", "wrong-protocol", "smb1"};
	for (size_t i = 0; i < sizeof(app) / sizeof(app[0]); i++)
		if (!strcmp(r, app[i]))
			return app[i];
	return NULL;
}

static void add_row(struct merge *m, const struct sensor *s, json_t *row, bool unexpected)
{
	char *key = xasprintf("%c|%s|%s|%s|%s|%lld", unexpected ? 'u' : 'e', unexpected ? "" : str_of(row, "requirement"),
			      str_of(row, "client_addr"), str_of(row, "server_addr"), str_of(row, "proto"),
			      (long long)num_of(row, "port"));
	struct mrow *r;
	HASH_FIND_STR(m->table, key, r);
	if (!r) {
		r = xcalloc(1, sizeof(*r));
		r->key = key;
		r->unexpected = unexpected;
		r->row = json_incref(row);
		r->evidence = json_array();
		HASH_ADD_KEYPTR(hh, m->table, r->key, strlen(r->key), r);
		GROW(m->rows, m->cap_rows, m->nrows);
		m->rows[m->nrows++] = r;
	} else {
		free(key);
	}
	struct cls_counts *n = &r->n;
	n->attempts += num_of(row, "attempts");
	n->established += num32(row, "established");
	n->resets += num32(row, "resets");
	if (!strcmp(str_of(row, "reason"), "icmp-unreachable"))
		n->icmp_unreachable += num32(row, "icmp");
	else
		n->icmp_prohibited += num32(row, "icmp");
	n->no_reply += num32(row, "no_reply");
	n->unverified += num32(row, "unverified");
	double first = json_number_value(json_object_get(row, "first_seen"));
	double last = json_number_value(json_object_get(row, "last_seen"));
	if (first > 0 && (r->first <= 0 || first < r->first))
		r->first = first;
	if (last > r->last)
		r->last = last;
	const char *status = str_of(row, "status");
	const char *ar = app_reason(str_of(row, "reason"));
	if (!strcmp(status, "degraded") && ar)
		r->app_reason = ar;
	json_t *ev = json_pack("{s:s, s:s, s:O, s:I, s:I}", "sensor", s->name, "status", status, "reason",
			       json_object_get(row, "reason") ? json_object_get(row, "reason") : json_null(), "attempts",
			       (json_int_t)num_of(row, "attempts"), "established", (json_int_t)num_of(row, "established"));
	if (ev)
		json_array_append_new(r->evidence, ev);
}

/* The rules and site a report was made with, as its "config" says; NULL when it says nothing. */
static const char *config_of(json_t *doc, const char *which)
{
	return json_string_value(json_object_get(json_object_get(doc, "config"), which));
}

static int read_one(struct merge *m, const char *path, bool force, struct diag *d)
{
	json_error_t err;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
	if (!doc) {
		struct diag_loc loc = {.file = path, .line = err.line > 0 ? err.line : 0, .col = err.column > 0 ? err.column : 0};
		diag_add(d, &loc, "not a JSON report: %s", err.text);
		return -1;
	}
	struct diag_loc loc = {.file = path};
	if (strcmp(str_of(doc, "tool"), "flowaudit") || !json_is_array(json_object_get(doc, "edges"))) {
		diag_add(d, &loc, "not a flowaudit audit report (flowaudit audit --format json)");
		json_decref(doc);
		return -1;
	}
	if (m->ns) {
		json_t *first = m->s[0].doc;
		for (int k = 0; k < 2; k++) {
			const char *which = k ? "site" : "rules";
			const char *a = config_of(first, which), *b = config_of(doc, which);
			if ((!a && !b && k) || (a && b && !strcmp(a, b)))
				continue; /* the same; or, for the site, neither had one */
			if (force) {
				fprintf(stderr, "flowaudit: warning: %s: made with %s %s than %s (merged anyway: --force)\n", path,
					k ? "another site" : "other rules", a && b ? "" : "(or an older flowaudit)", m->s[0].path);
				continue;
			}
			diag_add(d, &loc, "made with %s than %s%s: its paths are not theirs (--force to merge anyway)",
				 k ? "another site" : "other rules", m->s[0].path, a && b ? "" : " (or by an older flowaudit)");
			json_decref(doc);
			return -1;
		}
	}
	m->s = xrealloc(m->s, (m->ns + 1) * sizeof(*m->s));
	struct sensor *s = &m->s[m->ns++];
	char *copy = xstrdup(path);
	const char *given = json_string_value(json_object_get(doc, "sensor"));
	s->name = xstrdup(given ? given : basename(copy));
	free(copy);
	s->path = xstrdup(path);
	s->doc = doc;
	size_t i;
	json_t *row;
	json_array_foreach(json_object_get(doc, "edges"), i, row)
		add_row(m, s, row, false);
	json_array_foreach(json_object_get(doc, "unexpected"), i, row)
		add_row(m, s, row, true);
	json_array_foreach(json_object_get(doc, "placement"), i, row) {
		json_t *p = json_deep_copy(row);
		json_object_set_new(p, "sensor", json_string(s->name));
		json_array_append_new(m->placement, p);
		m->placement_findings += json_is_true(json_object_get(row, "slow")) || json_is_true(json_object_get(row, "routed"));
	}
	return 0;
}

/* A path missing at one sensor (its row carries the hosts' first addresses) and seen at another (on the
 * addresses it was seen on) is seen: the missing rows of a path (requirement, hosts, proto, port) with a
 * row of attempts go. */
static void drop_missing_seen_elsewhere(struct merge *m)
{
	struct seen {
		char *key;
		UT_hash_handle hh;
	} *seen = NULL, *e, *tmp;
	char **keys = xcalloc(m->nrows + 1, sizeof(char *));
	for (size_t i = 0; i < m->nrows; i++) {
		json_t *o = m->rows[i]->row;
		if (m->rows[i]->unexpected)
			continue;
		keys[i] = xasprintf("%s|%s|%s|%s|%lld", str_of(o, "requirement"), str_of(o, "client"), str_of(o, "server"),
				    str_of(o, "proto"), (long long)num_of(o, "port"));
		HASH_FIND_STR(seen, keys[i], e);
		if (!e && m->rows[i]->n.attempts) {
			e = xcalloc(1, sizeof(*e));
			e->key = keys[i];
			HASH_ADD_KEYPTR(hh, seen, e->key, strlen(e->key), e);
		}
	}
	size_t k = 0, n = m->nrows;
	for (size_t i = 0; i < n; i++) {
		struct mrow *r = m->rows[i];
		HASH_FIND_STR(seen, keys[i] ? keys[i] : "", e);
		if (!r->unexpected && !r->n.attempts && e) {
			HASH_DEL(m->table, r);
			json_decref(r->row);
			json_decref(r->evidence);
			free(r->key);
			free(r);
		} else {
			m->rows[k++] = r;
		}
	}
	m->nrows = k;
	HASH_ITER(hh, seen, e, tmp) {
		HASH_DEL(seen, e);
		free(e);
	}
	for (size_t i = 0; i < n; i++)
		free(keys[i]); /* the table's keys among them */
	free(keys);
}

/* One connection attempt as a sensor's --flows gives it. */
struct mflow {
	char *key;              /* proto, client address and port, server address and port */
	double first, last;
	size_t sensor;
	json_t *flow;
};

static int mflow_cmp(const void *a, const void *b)
{
	const struct mflow *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : x->first < y->first ? -1 : x->first > y->first;
}

#define JOIN_SLACK 2.0 /* seconds two sensors' clocks and capture points may differ on one connection */

/* What the sensors' views of one connection say together, as the flow table would judge all of its packets:
 * an answer seen anywhere opens it (a SYN-ACK at the sensor of the way back), as do both ends talking (a
 * connection open before the captures); else the client's SYN and the server's RST make a reset; then an
 * ICMP error, no reply, nothing sure. */
static void judge_joined(struct mflow *const *v, size_t n, struct cls_counts *c)
{
	bool open = false, syn = false, rst = false, prohibited = false, unreachable = false, reset = false, noreply = false;
	bool any = false, talk_c = false, talk_s = false;
	for (size_t i = 0; i < n; i++) {
		const char *st = str_of(v[i]->flow, "state"), *h = str_of(v[i]->flow, "history");
		any |= strcmp(st, "not-a-connection") != 0;
		/* Zeek's letters: upper case the client's, lower case the server's; a RST is no answer */
		for (const char *l = h; *l; l++) {
			talk_c |= *l >= 'A' && *l <= 'Z' && *l != 'R';
			talk_s |= *l >= 'a' && *l <= 'z' && *l != 'r';
		}
		open |= !strcmp(st, "established") || !strcmp(st, "midstream") || strchr(h, 'h') ||
			(!strcmp(st, "one-sided") && strchr(h, 'S') && (strchr(h, 'A') || strchr(h, 'D')));
		syn |= strchr(h, 'S') != NULL;
		rst |= strchr(h, 'r') != NULL;
		prohibited |= !strcmp(st, "icmp-prohibited");
		unreachable |= !strcmp(st, "icmp-unreachable");
		reset |= !strcmp(st, "reset");
		noreply |= !strcmp(st, "no-reply");
	}
	if (!any)
		return; /* resets alone: backscatter, no attempt at all */
	c->attempts++;
	if (open || (talk_c && talk_s)) /* both ends said something: whichever sensor saw which half */
		c->established++;
	else if (reset || (syn && rst))
		c->resets++;
	else if (prohibited)
		c->icmp_prohibited++;
	else if (unreachable)
		c->icmp_unreachable++;
	else if (noreply)
		c->no_reply++;
	else
		c->unverified++;
}

struct pair_counts {
	char *key;              /* client address, server address, proto, port: a row's */
	struct cls_counts n;
	UT_hash_handle hh;
};

static char *row_key(const char *client, const char *server, const char *proto, long long port)
{
	return xasprintf("%s|%s|%s|%lld", client, server, proto, port);
}

/* When every report carries its flows (audit --flows) and no row was folded: the flows of one connection
 * seen by several sensors (each one way, or both) are joined, and each row counts connections again. */
static void join_flows(struct merge *m)
{
	struct mflow *f = NULL;
	size_t nf = 0, cap = 0;
	for (size_t i = 0; i < m->ns; i++) {
		json_t *flows = json_object_get(m->s[i].doc, "flows");
		if (!json_is_array(flows))
			return;
		for (size_t k = 0; k < m->nrows; k++)
			if (json_is_true(json_object_get(m->rows[k]->row, "folded")))
				return;
	}
	for (size_t i = 0; i < m->ns; i++) {
		size_t k;
		json_t *fl;
		json_array_foreach(json_object_get(m->s[i].doc, "flows"), k, fl) {
			GROW(f, cap, nf);
			f[nf].key = xasprintf("%s|%s|%lld|%s|%lld", str_of(fl, "proto"), str_of(fl, "client_addr"),
					      (long long)num_of(fl, "client_port"), str_of(fl, "server_addr"),
					      (long long)num_of(fl, "server_port"));
			f[nf].first = json_number_value(json_object_get(fl, "first_ts"));
			f[nf].last = json_number_value(json_object_get(fl, "last_ts"));
			f[nf].sensor = i;
			f[nf].flow = fl;
			nf++;
		}
	}
	qsort(f, nf, sizeof(*f), mflow_cmp);
	struct pair_counts *pairs = NULL, *pc, *tmp;
	struct mflow **group = xcalloc(m->ns + 1, sizeof(*group));
	for (size_t i = 0; i < nf;) {
		/* one connection: flows of one 5-tuple that overlap in time, at most one a sensor (a sensor's next
		 * flow on the same ports is its next attempt) */
		size_t n = 0, j = i;
		double last = f[i].last;
		for (; j < nf && !strcmp(f[j].key, f[i].key) && f[j].first <= last + JOIN_SLACK; j++) {
			bool again = false;
			for (size_t k = 0; k < n; k++)
				again |= group[k]->sensor == f[j].sensor;
			if (again)
				break;
			group[n++] = &f[j];
			last = f[j].last > last ? f[j].last : last;
		}
		json_t *fl = f[i].flow;
		char *key = row_key(str_of(fl, "client_addr"), str_of(fl, "server_addr"), str_of(fl, "proto"),
				    (long long)num_of(fl, "server_port"));
		HASH_FIND_STR(pairs, key, pc);
		if (!pc) {
			pc = xcalloc(1, sizeof(*pc));
			pc->key = key;
			HASH_ADD_KEYPTR(hh, pairs, pc->key, strlen(pc->key), pc);
		} else {
			free(key);
		}
		judge_joined(group, n, &pc->n);
		m->connections++;
		i = j;
	}
	m->sensor_flows = nf;
	m->joined = true;
	for (size_t k = 0; k < m->nrows; k++) {
		struct mrow *r = m->rows[k];
		char *key = row_key(str_of(r->row, "client_addr"), str_of(r->row, "server_addr"), str_of(r->row, "proto"),
				    (long long)num_of(r->row, "port"));
		HASH_FIND_STR(pairs, key, pc);
		free(key);
		if (pc && r->n.attempts)
			r->n = pc->n;
	}
	HASH_ITER(hh, pairs, pc, tmp) {
		HASH_DEL(pairs, pc);
		free(pc->key);
		free(pc);
	}
	for (size_t i = 0; i < nf; i++)
		free(f[i].key);
	free(f);
	free(group);
}

struct merge *merge_reports(char *const *paths, size_t n, bool force, struct diag *d)
{
	struct merge *m = xcalloc(1, sizeof(*m));
	m->placement = json_array();
	for (size_t i = 0; i < n; i++)
		if (read_one(m, paths[i], force, d) < 0) {
			merge_free(m);
			return NULL;
		}
	drop_missing_seen_elsewhere(m);
	join_flows(m);
	for (size_t i = 0; i < m->nrows; i++) {
		struct mrow *r = m->rows[i];
		uint8_t reason;
		cls_judge(&r->n, &r->status, &reason);
		r->reason = cls_reason_name((enum cls_reason)reason);
		if (r->status == CLS_MISSING && !strcmp(str_of(r->row, "reason"), "not-seen")) {
			/* a path of an inferred site: not seen proves nothing (cls_set_inferred()) */
			r->status = CLS_UNVERIFIED;
			r->reason = "not-seen";
		}
		if (!r->unexpected && r->status == CLS_OK && r->app_reason) {
			r->status = CLS_DEGRADED;
			r->reason = r->app_reason;
		}
		if (r->unexpected)
			m->unexpected++;
		else if (!strcmp(str_of(r->row, "level"), "required"))
			m->summary[r->status]++;
	}
	return m;
}

void merge_free(struct merge *m)
{
	if (!m)
		return;
	struct mrow *r, *tmp;
	HASH_ITER(hh, m->table, r, tmp) {
		HASH_DEL(m->table, r);
		json_decref(r->row);
		json_decref(r->evidence);
		free(r->key);
		free(r);
	}
	free(m->rows);
	for (size_t i = 0; i < m->ns; i++) {
		free(m->s[i].name);
		free(m->s[i].path);
		json_decref(m->s[i].doc);
	}
	free(m->s);
	json_decref(m->placement);
	free(m);
}

bool merge_has_findings(const struct merge *m)
{
	return m->unexpected || m->summary[CLS_BLOCKED] || m->summary[CLS_DEGRADED] || m->summary[CLS_MISSING] ||
	       m->summary[CLS_UNVERIFIED] || m->placement_findings;
}

/* The merged row: the first report's, its counts and status those of every sensor together. */
static json_t *merged_row(const struct mrow *r)
{
	json_t *o = json_deep_copy(r->row);
	json_object_set_new(o, "status", json_string(cls_status_name((enum cls_status)r->status)));
	json_object_set_new(o, "reason", r->reason ? json_string(r->reason) : json_null());
	json_object_set_new(o, "attempts", json_integer((json_int_t)r->n.attempts));
	json_object_set_new(o, "established", json_integer(r->n.established));
	json_object_set_new(o, "resets", json_integer(r->n.resets));
	json_object_set_new(o, "icmp", json_integer((json_int_t)r->n.icmp_prohibited + r->n.icmp_unreachable));
	json_object_set_new(o, "no_reply", json_integer(r->n.no_reply));
	json_object_set_new(o, "unverified", json_integer(r->n.unverified));
	if (r->first > 0)
		json_object_set_new(o, "first_seen", json_real(r->first));
	if (r->last > 0)
		json_object_set_new(o, "last_seen", json_real(r->last));
	json_object_set(o, "sensors", r->evidence);
	return o;
}

/* A top-level key a line and an array element a line, as the audit writes its JSON. */
static int put_json(FILE *out, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(16));
	if (!s) {
		errno = ENOMEM;
		return -1;
	}
	fputs(s, out);
	free(s);
	return 0;
}

static void put_array(FILE *out, const char *key, const struct merge *m, bool unexpected)
{
	fprintf(out, ",\n  \"%s\": [", key);
	bool first = true;
	for (size_t i = 0; i < m->nrows; i++) {
		if (m->rows[i]->unexpected != unexpected)
			continue;
		fputs(first ? "\n    " : ",\n    ", out);
		first = false;
		json_t *o = merged_row(m->rows[i]);
		put_json(out, o);
		json_decref(o);
	}
	fputs(first ? "]" : "\n  ]", out);
}

int merge_write_json(FILE *out, const void *arg)
{
	const struct merge *m = arg;
	json_t *sensors = json_array();
	for (size_t i = 0; i < m->ns; i++) {
		json_t *doc = m->s[i].doc;
		json_array_append_new(sensors, json_pack("{s:s, s:s, s:O*, s:O*, s:b}", "sensor", m->s[i].name, "report",
							 m->s[i].path, "inputs", json_object_get(doc, "inputs"), "capture",
							 json_object_get(doc, "capture"), "interim",
							 json_is_true(json_object_get(doc, "interim"))));
	}
	fprintf(out, "{\n  \"tool\": \"flowaudit\",\n  \"version\": \"%s\",\n  \"merged\": ", FLOWAUDIT_VERSION);
	put_json(out, sensors);
	json_decref(sensors);
	/* how rows were counted: connections joined across sensors, or each sensor's counts summed */
	fprintf(out, ",\n  \"counts\": {\"joined\": %s, \"sensor_flows\": %zu, \"connections\": %zu}",
		m->joined ? "true" : "false", m->sensor_flows, m->connections);
	json_t *config = json_object_get(m->s[0].doc, "config");
	if (config) {
		fputs(",\n  \"config\": ", out);
		put_json(out, config);
	}
	fputs(",\n  \"hosts\": ", out);
	put_json(out, json_object_get(m->s[0].doc, "hosts") ? json_object_get(m->s[0].doc, "hosts") : json_null());
	put_array(out, "edges", m, false);
	put_array(out, "unexpected", m, true);
	fputs(",\n  \"placement\": ", out);
	put_json(out, m->placement);
	fprintf(out, ",\n  \"summary\": {");
	for (int s = 0; s < CLS_NSTATUS; s++)
		fprintf(out, "\"%s\": %zu, ", cls_status_name((enum cls_status)s), m->summary[s]);
	fprintf(out, "\"unexpected\": %zu, \"placement_findings\": %zu}\n}\n", m->unexpected, m->placement_findings);
	return ferror(out) ? -1 : 0;
}

/* A report's capture time (seconds) in words. */
static const char *clock_of(json_t *cap, const char *key, char buf[40])
{
	double t = json_number_value(json_object_get(cap, key));
	return t > 0 ? rep_clock((uint64_t)(t * 1e9), buf) : "-";
}

/* The status word of a merged row: an unexpected flow that got through is "open", not "ok". */
static const char *status_word(const struct mrow *r)
{
	return r->unexpected && r->status == CLS_OK ? "open" : cls_status_name((enum cls_status)r->status);
}

static void text_row(FILE *out, const struct mrow *r)
{
	const char *what = r->unexpected ? str_of(r->row, "why") : str_of(r->row, "requirement");
	fprintf(out, "  %-9s %-16s %s  %s %s -> %s %s  %s/%lld  %llu/%llu ok  [", status_word(r),
		r->reason ? r->reason : "", what, str_of(r->row, "client"), str_of(r->row, "client_addr"),
		str_of(r->row, "server"), str_of(r->row, "server_addr"), str_of(r->row, "proto"),
		(long long)num_of(r->row, "port"), (unsigned long long)r->n.established, (unsigned long long)r->n.attempts);
	size_t i;
	json_t *e;
	json_array_foreach(r->evidence, i, e) {
		const char *reason = json_string_value(json_object_get(e, "reason"));
		fprintf(out, "%s%s: %s%s%s %lld/%lld", i ? "; " : "", str_of(e, "sensor"), str_of(e, "status"),
			reason ? " " : "", reason ? reason : "", (long long)num_of(e, "established"),
			(long long)num_of(e, "attempts"));
	}
	fputs("]\n", out);
}

int merge_write_text(FILE *out, const void *arg)
{
	const struct merge *m = arg;
	fprintf(out, "flowaudit %s: %zu reports merged\n", FLOWAUDIT_VERSION, m->ns);
	for (size_t i = 0; i < m->ns; i++) {
		json_t *cap = json_object_get(m->s[i].doc, "capture");
		char a[40], b[40];
		fprintf(out, "  %s (%s): %llu packets, %llu dropped, captured %s to %s%s\n", m->s[i].name, m->s[i].path,
			(unsigned long long)num_of(cap, "packets"), (unsigned long long)num_of(cap, "dropped"),
			clock_of(cap, "first_ts", a), clock_of(cap, "last_ts", b),
			json_is_true(json_object_get(m->s[i].doc, "interim")) ? " (interim)" : "");
	}
	fputs(m->joined ? "Counts: connections, each sensor's flows of one joined (every report has its flows)\n"
			: "Counts: each sensor's summed (audit --flows in every report joins a connection seen twice)\n", out);
	size_t nfind = m->summary[CLS_BLOCKED] + m->summary[CLS_DEGRADED] + m->summary[CLS_MISSING] + m->summary[CLS_UNVERIFIED];
	if (nfind) {
		fprintf(out, "\nRequired paths with findings (%zu):\n", nfind);
		for (size_t i = 0; i < m->nrows; i++)
			if (!m->rows[i]->unexpected && m->rows[i]->status != CLS_OK &&
			    !strcmp(str_of(m->rows[i]->row, "level"), "required"))
				text_row(out, m->rows[i]);
	}
	if (m->unexpected) {
		fprintf(out, "\nUnexpected flows (%zu):\n", m->unexpected);
		for (size_t i = 0; i < m->nrows; i++)
			if (m->rows[i]->unexpected)
				text_row(out, m->rows[i]);
	}
	if (m->summary[CLS_OK]) {
		fprintf(out, "\nRequired paths ok (%zu):\n", m->summary[CLS_OK]);
		for (size_t i = 0; i < m->nrows; i++)
			if (!m->rows[i]->unexpected && m->rows[i]->status == CLS_OK &&
			    !strcmp(str_of(m->rows[i]->row, "level"), "required"))
				text_row(out, m->rows[i]);
	}
	fprintf(out, "\nSummary: %zu ok, %zu degraded, %zu blocked, %zu missing, %zu unverified, %zu unexpected",
		m->summary[CLS_OK], m->summary[CLS_DEGRADED], m->summary[CLS_BLOCKED], m->summary[CLS_MISSING],
		m->summary[CLS_UNVERIFIED], m->unexpected);
	if (m->placement_findings)
		fprintf(out, ", %zu placement findings", m->placement_findings);
	fputs("\n", out);
	return ferror(out) ? -1 : 0;
}

static void html_row(FILE *out, const struct mrow *r)
{
	fprintf(out, "<tr><td style=\"color:%s;font-weight:bold\">%s</td><td>",
		rep_status_color(r->unexpected ? CLS_BLOCKED : (enum cls_status)r->status), status_word(r));
	rep_html_esc(out, r->reason ? r->reason : "");
	fputs("</td><td>", out);
	rep_html_esc(out, r->unexpected ? str_of(r->row, "why") : str_of(r->row, "requirement"));
	fputs("</td><td>", out);
	rep_html_esc(out, str_of(r->row, "client"));
	fputs(" <small>", out);
	rep_html_esc(out, str_of(r->row, "client_addr"));
	fputs("</small> &rarr; ", out);
	rep_html_esc(out, str_of(r->row, "server"));
	fputs(" <small>", out);
	rep_html_esc(out, str_of(r->row, "server_addr"));
	fprintf(out, "</small></td><td>%s/%lld</td><td>%llu/%llu</td><td>", str_of(r->row, "proto"),
		(long long)num_of(r->row, "port"), (unsigned long long)r->n.established, (unsigned long long)r->n.attempts);
	size_t i;
	json_t *e;
	json_array_foreach(r->evidence, i, e) {
		const char *reason = json_string_value(json_object_get(e, "reason"));
		fputs(i ? "<br>" : "", out);
		rep_html_esc(out, str_of(e, "sensor"));
		fputs(": ", out);
		rep_html_esc(out, str_of(e, "status"));
		if (reason) {
			fputs(" ", out);
			rep_html_esc(out, reason);
		}
		fprintf(out, " %lld/%lld", (long long)num_of(e, "established"), (long long)num_of(e, "attempts"));
	}
	fputs("</td></tr>\n", out);
}

int merge_write_html(FILE *out, const void *arg)
{
	const struct merge *m = arg;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>flowaudit: merged report</title>\n"
	      "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
	      "td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}</style></head><body>\n", out);
	fprintf(out, "<h1>flowaudit: %zu reports merged</h1>\n<table><tr><th>sensor</th><th>report</th><th>packets</th>"
		     "<th>dropped</th><th>capture</th></tr>\n", m->ns);
	for (size_t i = 0; i < m->ns; i++) {
		json_t *cap = json_object_get(m->s[i].doc, "capture");
		fputs("<tr><td>", out);
		rep_html_esc(out, m->s[i].name);
		fputs("</td><td>", out);
		rep_html_esc(out, m->s[i].path);
		char a[40], b[40];
		fprintf(out, "</td><td>%llu</td><td>%llu</td><td>%s to %s%s</td></tr>\n",
			(unsigned long long)num_of(cap, "packets"), (unsigned long long)num_of(cap, "dropped"),
			clock_of(cap, "first_ts", a), clock_of(cap, "last_ts", b),
			json_is_true(json_object_get(m->s[i].doc, "interim")) ? " (interim)" : "");
	}
	fprintf(out, "</table>\n<p>Summary: %zu ok, %zu degraded, %zu blocked, %zu missing, %zu unverified, %zu unexpected"
		     "%s</p>\n", m->summary[CLS_OK], m->summary[CLS_DEGRADED], m->summary[CLS_BLOCKED], m->summary[CLS_MISSING],
		m->summary[CLS_UNVERIFIED], m->unexpected, m->placement_findings ? ", placement findings" : "");
	static const char *const head = "<table><tr><th>status</th><th>reason</th><th>path</th><th>hosts</th><th>port</th>"
					"<th>ok/attempts</th><th>each sensor</th></tr>\n";
	for (int pass = 0; pass < 3; pass++) {
		static const char *const titles[] = {"Required paths with findings", "Unexpected flows", "Required paths ok"};
		bool any = false;
		for (size_t i = 0; i < m->nrows; i++) {
			const struct mrow *r = m->rows[i];
			bool required = !r->unexpected && !strcmp(str_of(r->row, "level"), "required");
			bool in = pass == 0 ? required && r->status != CLS_OK : pass == 1 ? r->unexpected : required && r->status == CLS_OK;
			if (!in)
				continue;
			if (!any)
				fprintf(out, "<h2>%s</h2>\n%s", titles[pass], head);
			any = true;
			html_row(out, r);
		}
		if (any)
			fputs("</table>\n", out);
	}
	fputs("</body></html>\n", out);
	return ferror(out) ? -1 : 0;
}
