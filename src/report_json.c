/* report_json.c: the JSON report of CONTRACT.md and the JSON port graph, built with jansson.
 * Timestamps are seconds since the epoch as JSON numbers with the capture's own precision (6 or 9
 * decimals). A double cannot hold 19 significant digits, so they are written as marked strings and
 * turned into bare numbers when the document is printed. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/report.h"
#include "flowaudit/util.h"

#define PAIRS_MAX 16
#define TS_MARK "\\u0001ts:" /* the marker as jansson escapes it */

static bool ts_nsec; /* the capture's precision, for ts() */

static json_t *ts(uint64_t ns)
{
	if (!ns)
		return json_null();
	char buf[48];
	if (ts_nsec)
		snprintf(buf, sizeof(buf), "\001ts:%llu.%09llu", (unsigned long long)(ns / 1000000000ull),
			 (unsigned long long)(ns % 1000000000ull));
	else
		snprintf(buf, sizeof(buf), "\001ts:%llu.%06llu", (unsigned long long)(ns / 1000000000ull),
			 (unsigned long long)(ns % 1000000000ull / 1000));
	return json_string(buf);
}

static json_t *addr(const uint8_t a[16])
{
	char buf[50];
	return json_string(addr_str(a, buf));
}

static json_t *host_name(const struct graph *g, int host)
{
	return host >= 0 ? json_string(g->site->hosts[host].name) : json_null();
}

/* Write one value on one line (jansson, ", " and ": " separators), turning timestamp markers into bare
 * numbers; takes the reference. Reports are streamed: a top-level key a line, an array element a line,
 * so that a report of a million rows never sits in memory as one document. */
static int emit(FILE *out, json_t *root)
{
	char *text = json_dumps(root, JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(root);
	if (!text)
		return -1;
	/* "\u0001ts:1763971200.000001" (as jansson escapes it) -> 1763971200.000001 */
	size_t ml = strlen(TS_MARK);
	char *p = text, *hit;
	while ((hit = strstr(p, TS_MARK)) && hit > text && hit[-1] == '"') {
		char *end = strchr(hit + ml, '"');
		if (!end)
			break;
		fwrite(p, 1, (size_t)(hit - 1 - p), out);
		fwrite(hit + ml, 1, (size_t)(end - hit - ml), out);
		p = end + 1;
	}
	fputs(p, out);
	free(text);
	return ferror(out) ? -1 : 0;
}

struct doc {
	FILE *out;
	bool first;             /* no key written yet */
	bool in_array;
	bool first_elem;
};

static void doc_begin(struct doc *d, FILE *out)
{
	d->out = out;
	d->first = true;
	fputs("{\n", out);
}

static void doc_key(struct doc *d, const char *key)
{
	fprintf(d->out, "%s  \"%s\": ", d->first ? "" : ",\n", key);
	d->first = false;
}

static void doc_put(struct doc *d, const char *key, json_t *v)
{
	doc_key(d, key);
	emit(d->out, v);
}

static void doc_array(struct doc *d, const char *key)
{
	doc_key(d, key);
	fputs("[", d->out);
	d->first_elem = true;
}

static void doc_elem(struct doc *d, json_t *v)
{
	fputs(d->first_elem ? "\n    " : ",\n    ", d->out);
	d->first_elem = false;
	emit(d->out, v);
}

static void doc_array_end(struct doc *d)
{
	fputs(d->first_elem ? "]" : "\n  ]", d->out);
}

static int doc_end(struct doc *d)
{
	fputs("\n}\n", d->out);
	return ferror(d->out) ? -1 : 0;
}

static json_t *edge_obj(const struct graph *g, const struct graph_edge *e, const char *ca, const char *sa)
{
	const struct rules_edge *re = &g->rules->edges[e->rule];
	json_t *o = json_object();
	json_object_set_new(o, "requirement", json_string(re->requirement));
	json_object_set_new(o, "client", json_string(graph_end_name(g, e->client)));
	json_object_set_new(o, "server", json_string(graph_end_name(g, e->server)));
	if (g->site) {
		json_object_set_new(o, "client_addr", ca ? json_string(ca) : json_null());
		json_object_set_new(o, "server_addr", sa ? json_string(sa) : json_null());
	}
	json_object_set_new(o, "proto", json_string(rep_proto(e->proto)));
	json_object_set_new(o, "port", json_integer(e->port));
	json_object_set_new(o, "level", json_string(rules_level_name(e->level)));
	/* Beyond the contract: where the rule comes from, and its alternatives. */
	json_object_set_new(o, "rule", json_sprintf("%s:%d", re->file, re->line));
	if (re->note)
		json_object_set_new(o, "note", json_string(re->note));
	json_t *alts = NULL;
	for (size_t k = 0; k < re->nports; k++)
		if (re->ports[k].group == e->group && (re->ports[k].proto != e->proto || re->ports[k].port != e->port)) {
			if (!alts)
				alts = json_array();
			json_array_append_new(alts, json_sprintf("%s/%u", rep_proto(re->ports[k].proto), re->ports[k].port));
		}
	if (alts)
		json_object_set_new(o, "alternatives", alts);
	return o;
}

static int graph_json(FILE *out, const struct graph *g)
{
	struct doc d;
	doc_begin(&d, out);
	doc_array(&d, "edges");
	for (size_t i = 0; i < g->nedges; i++) {
		const struct graph_edge *e = &g->edges[i];
		if (e->level == LEVEL_FORBID)
			continue;
		if (!g->site) {
			doc_elem(&d, edge_obj(g, e, NULL, NULL));
			continue;
		}
		struct rep_pair pairs[PAIRS_MAX];
		size_t n = rep_edge_pairs(g, e, pairs, PAIRS_MAX);
		for (size_t k = 0; k < n; k++)
			doc_elem(&d, edge_obj(g, e, pairs[k].client, pairs[k].server));
	}
	doc_array_end(&d);
	return doc_end(&d);
}

/* "gre+erspan2", or null when the flow was not encapsulated. */
static json_t *encap_json(uint16_t mask)
{
	if (!mask)
		return json_null();
	char buf[128] = "";
	for (int e = 0; e < DEC_NENCAP; e++)
		if (mask >> e & 1) {
			if (*buf)
				strcat(buf, "+");
			strcat(buf, dec_encap_name((enum dec_encap)e));
		}
	return json_string(buf);
}

static void put_counts(json_t *o, const struct cls_counts *n)
{
	json_object_set_new(o, "attempts", json_integer((json_int_t)n->attempts));
	json_object_set_new(o, "established", json_integer((json_int_t)n->established));
	json_object_set_new(o, "resets", json_integer((json_int_t)n->resets));
	json_object_set_new(o, "icmp", json_integer((json_int_t)(n->icmp_prohibited + n->icmp_unreachable)));
	json_object_set_new(o, "no_reply", json_integer((json_int_t)n->no_reply));
	json_object_set_new(o, "unverified", json_integer((json_int_t)n->unverified));
	json_object_set_new(o, "first_seen", ts(n->first_ns));
	json_object_set_new(o, "last_seen", ts(n->last_ns));
}

static json_t *status_reason(json_t *o, enum cls_status st, enum cls_reason why)
{
	json_object_set_new(o, "status", json_string(cls_status_name(st)));
	const char *r = cls_reason_name(why);
	json_object_set_new(o, "reason", r ? json_string(r) : json_null());
	return o;
}

static void hosts_json(struct doc *d, const struct graph *g)
{
	doc_array(d, "hosts");
	for (size_t i = 0; i < g->site->nhosts; i++) {
		const struct site_host *h = &g->site->hosts[i];
		json_t *o = json_object(), *addrs = json_array(), *roles = json_array();
		char buf[50];
		for (size_t k = 0; k < h->naddrs; k++)
			json_array_append_new(addrs, json_string(site_addr_str(&h->addrs[k], buf)));
		for (size_t r = 0; r < g->rules->nroles; r++)
			if (site_host_has_role(h, (int)r))
				json_array_append_new(roles, json_string(g->rules->roles[r].name));
		json_object_set_new(o, "name", json_string(h->name));
		json_object_set_new(o, "addrs", addrs);
		json_object_set_new(o, "roles", roles);
		json_object_set_new(o, "source", json_string("site"));
		doc_elem(d, o);
	}
	doc_array_end(d);
}

static int audit_json(FILE *out, const struct report *rp)
{
	const struct graph *g = rp->g;
	const struct audit_result *res = rp->res;
	const struct cls *c = &res->cls;
	ts_nsec = res->nsec;
	struct doc d;
	doc_begin(&d, out);
	doc_put(&d, "tool", json_string("flowaudit"));
	doc_put(&d, "version", json_string(FLOWAUDIT_VERSION));
	if (res->interim)
		doc_put(&d, "interim", json_true());

	doc_array(&d, "inputs");
	for (size_t i = 0; i < res->ninputs; i++)
		doc_elem(&d, json_pack("{s:s, s:s, s:I}", "source", res->inputs[i].source, "linktype",
				       res->inputs[i].linktype, "packets", (json_int_t)res->inputs[i].packets));
	doc_array_end(&d);

	json_t *cap = json_object();
	json_object_set_new(cap, "packets", json_integer((json_int_t)res->packets));
	json_object_set_new(cap, "decoded", json_integer((json_int_t)res->decoded));
	json_object_set_new(cap, "skipped", json_integer((json_int_t)res->skipped));
	json_object_set_new(cap, "first_ts", ts(res->first_ns));
	json_object_set_new(cap, "last_ts", ts(res->last_ns));
	json_object_set_new(cap, "dropped", json_integer((json_int_t)res->dropped));
	if (res->live) {
		json_object_set_new(cap, "ifdropped", json_integer((json_int_t)res->ifdropped));
		json_object_set_new(cap, "workers", json_integer((json_int_t)res->workers));
	}
	json_t *why = json_object();
	for (int s = 1; s < DEC_NSTATUS; s++)
		if (res->by_status[s])
			json_object_set_new(why, dec_status_name((enum dec_status)s), json_integer((json_int_t)res->by_status[s]));
	json_object_set_new(cap, "not_decoded", why);
	json_t *enc = json_object();
	for (int e = 0; e < DEC_NENCAP; e++)
		if (res->by_encap[e])
			json_object_set_new(enc, dec_encap_name((enum dec_encap)e), json_integer((json_int_t)res->by_encap[e]));
	json_object_set_new(cap, "encapsulations", enc);
	json_object_set_new(cap, "flows", json_integer((json_int_t)res->flows.flows));
	json_object_set_new(cap, "duplicates", json_integer((json_int_t)res->flows.duplicates));
	json_object_set_new(cap, "evicted", json_integer((json_int_t)res->flows.evicted));
	json_object_set_new(cap, "peak_flows", json_integer((json_int_t)res->flows.peak));
	json_object_set_new(cap, "icmp_errors_matched", json_integer((json_int_t)res->flows.icmp_matched));
	json_object_set_new(cap, "icmp_errors_unmatched", json_integer((json_int_t)res->flows.icmp_unmatched));
	json_t *warn = json_array();
	for (size_t i = 0; i < res->nwarnings; i++)
		json_array_append_new(warn, json_string(res->warnings[i]));
	json_object_set_new(cap, "warnings", warn);
	doc_put(&d, "capture", cap);

	hosts_json(&d, g);

	doc_array(&d, "edges");
	for (size_t i = 0; i < c->nrows; i++) {
		const struct cls_row *r = &c->rows[i];
		const struct graph_edge *e = &g->edges[r->edge];
		char ca[50], sa[50];
		json_t *o = edge_obj(g, e, site_addr_str(&r->client, ca), site_addr_str(&r->server, sa));
		status_reason(o, r->status, r->reason);
		put_counts(o, &r->n);
		doc_elem(&d, o);
	}
	doc_array_end(&d);

	doc_array(&d, "unexpected");
	for (size_t i = 0; i < c->nunexp; i++) {
		const struct cls_unexpected *u = &c->unexp[i];
		json_t *o = json_object();
		json_object_set_new(o, "client_addr", u->client_any ? json_string(addr_is_v4(u->client) ? "0.0.0.0/0" : "::/0")
								      : addr(u->client));
		json_object_set_new(o, "server_addr", addr(u->server));
		json_object_set_new(o, "client", host_name(g, u->client_host));
		json_object_set_new(o, "server", host_name(g, u->server_host));
		json_object_set_new(o, "proto", json_string(rep_proto(u->proto)));
		json_object_set_new(o, "port", json_integer(u->port));
		json_object_set_new(o, "why", json_string(u->why));
		status_reason(o, u->status, u->reason);
		put_counts(o, &u->n);
		doc_elem(&d, o);
	}
	doc_array_end(&d);

	if (rp->flows) {
		doc_array(&d, "flows");
		for (size_t i = 0; i < res->nflow_log; i++) {
			const struct audit_flow *f = &res->flow_log[i];
			json_t *o = json_object();
			json_object_set_new(o, "client_addr", addr(f->client));
			json_object_set_new(o, "client_port", json_integer(f->client_port));
			json_object_set_new(o, "server_addr", addr(f->server));
			json_object_set_new(o, "server_port", json_integer(f->server_port));
			json_object_set_new(o, "proto", json_string(rep_proto(f->proto)));
			json_object_set_new(o, "first_ts", ts(f->first_ns));
			json_object_set_new(o, "last_ts", ts(f->last_ns));
			json_object_set_new(o, "history", json_string(f->history));
			json_object_set_new(o, "state", json_string(flow_verdict_name(f->verdict)));
			json_object_set_new(o, "encapsulation", encap_json(f->encaps));
			doc_elem(&d, o);
		}
		doc_array_end(&d);
	}

	json_t *sum = json_object();
	for (int s = 0; s < CLS_NSTATUS; s++)
		json_object_set_new(sum, cls_status_name((enum cls_status)s), json_integer((json_int_t)c->summary[s]));
	json_object_set_new(sum, "unexpected", json_integer((json_int_t)c->nunexp));
	json_t *opt = json_object();
	for (int s = 0; s < CLS_NSTATUS; s++)
		if (s != CLS_MISSING)
			json_object_set_new(opt, cls_status_name((enum cls_status)s), json_integer((json_int_t)c->optional[s]));
	json_object_set_new(opt, "not_seen", json_integer((json_int_t)c->optional_unseen));
	json_object_set_new(sum, "optional", opt);
	json_object_set_new(sum, "ignored_flows", json_integer((json_int_t)c->ignored));
	json_object_set_new(sum, "outside_flows", json_integer((json_int_t)c->outside));
	doc_put(&d, "summary", sum);
	return doc_end(&d);
}

const struct rep_format rep_json = {"json", graph_json, audit_json};
