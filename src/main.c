/* main.c: the flowaudit command line: subcommands audit, graph and lint; options; exit status
 * 0 (all verified), 1 (findings), 2 (bad usage or input). Prints diagnostics; holds no logic of its own. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flowaudit/audit.h"
#include "flowaudit/decode.h"
#include "flowaudit/diag.h"
#include "flowaudit/events.h"
#include "flowaudit/graph.h"
#include "flowaudit/hash.h"
#include "flowaudit/infer.h"
#include "flowaudit/merge.h"
#include "flowaudit/nft_check.h"
#include "flowaudit/output.h"
#include "flowaudit/report.h"
#include "flowaudit/rules.h"
#include "flowaudit/site.h"
#include "flowaudit/util.h"

#ifndef FLOWAUDIT_RULES_DIR
#define FLOWAUDIT_RULES_DIR "/usr/local/share/flowaudit"
#endif

#define DEFAULT_MAX_ROWS 1000000 /* some 140 MB of rows */
#define INFER_MAX_ADDRS 100000   /* addresses an inferred site is made of, at most (or --max-rows, if fewer) */
#define EXIT_FINDINGS 1
#define EXIT_BAD 2

static const char usage_text[] =
	"usage: flowaudit audit -r FILE... [-s SITE] [options] [BPF...] audit captures against a site (without\n"
	"                                                               -s: one inferred from the capture)\n"
	"       flowaudit audit -i IFACE -s SITE [options] [BPF...]     audit live on a SPAN port\n"
	"       flowaudit graph [-s SITE] [-R RULES]... [--format text|json|dot] [-o OUT]\n"
	"       flowaudit lint [--strict] [-R RULES]... FILE...         check rules and site files\n"
	"       flowaudit roles [-R RULES]...                           the roles, attributes, ports of the pack\n"
	"       flowaudit nft check -s SITE [--host NAME] [--format text|json] [-o OUT]  what this namespace's\n"
	"                          nftables ruleset does to each expected path, and the rule that decides it\n"
	"       flowaudit nft render -s SITE --host NAME [--table NAME] [--router] [--apply]  the rules that\n"
	"                          open exactly the host's paths (text for nft -f, or applied in one batch)\n"
	"       flowaudit merge [--format text|json|html] [-o OUT] [--force] REPORT.json...  the reports of several\n"
	"                          sensors as one verdict: counts added per row, each sensor's status kept\n"
	"       flowaudit --version\n"
	"\n"
	"audit options:\n"
	"  -r FILE            a capture file (pcap or pcapng; repeat for several; - is standard input)\n"
	"  -i IFACE           capture live on IFACE (any: every interface) until SIGINT or SIGTERM\n"
	"  -s SITE            the site file: hosts, roles and attributes (docs/site.md); without it, files are\n"
	"                     audited against a site inferred from their flows by the rule pack's ports\n"
	"  --write-site FILE  without -s: write the inferred site, each host with its evidence, to check and use\n"
	"  -R RULES           a rule pack (repeatable; default: rules/peergfs.rules)\n"
	"  --format FMT       text (default), json or html\n"
	"  -o OUT             write the report to OUT (a file is replaced whole; devices and FIFOs written in place)\n"
	"  --flows            with --format json: every connection attempt too\n"
	"  --by-address       text and html: every address pair on its own line (paths of more than 5 are grouped)\n"
	"  --max-flows N      hold at most N flows (older ones are settled early; their rows say so)\n"
	"  --max-rows N       at most N address pairs listed (default: --max-flows, else 1000000; 0: no bound);\n"
	"                     past it, flows of new pairs are counted on one row per host pair and port\n"
	"  --vxlan-port N     the UDP port VXLAN mirrors arrive on (default 4789)\n"
	"  -w FILE            also write the packets read to FILE (pcap)\n"
	"  --interval S       live: a report every S seconds (SIGUSR1: now; SIGHUP: reload rules and site)\n"
	"  --workers N        live: spread the capture over N threads\n"
	"  -B MB              live: kernel buffer (default 64)\n"
	"  --snaplen N        live: bytes kept per packet (default 262)\n"
	"  -p                 live: not in promiscuous mode\n"
	"  -Z USER            live: become USER once the capture is open (as root, default nobody)\n"
	"  BPF...             a filter expression, as tcpdump takes it\n"
	"  --nft              live: each blocked or degraded path says what this host's nftables ruleset does to it\n"
	"  --events FILE      also the audit as NDJSON events (flow, finding, stats) at every report; - for stdout\n"
	"  --events-rotate SIZE  move the events file to FILE.1 past SIZE bytes (10M, 1G)\n"
	"  --sensor NAME      this sensor's name, in the JSON report and every event\n"
	"nft options:\n"
	"  --host NAME        only the paths of this site host (check); the host whose rules are made (render)\n"
	"  --table NAME       render: the table (default flowaudit, family inet), replaced whole\n"
	"  --router           render: a forward chain too, for the paths routed through this namespace\n"
	"  --apply            render: load the table into this namespace's kernel (one atomic batch)\n"
	"lint options:\n"
	"  --strict           warnings (what a site leaves out) are errors\n"
	"Exit status: 0 every required path verified, 1 findings, 2 bad usage or input.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("flowaudit: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (flowaudit --help for usage)\n", stderr);
	return EXIT_BAD;
}

static int report_diag(struct diag *d)
{
	diag_print(d, stderr);
	diag_free(d);
	return EXIT_BAD;
}

/* The rule pack to use when no -R is given: $FLOWAUDIT_RULES, the source tree's next to the binary
 * (build/<flavour>/flowaudit), then the installed copy. */
static char *default_rules(void)
{
	const char *env = getenv("FLOWAUDIT_RULES");
	if (env && *env)
		return xstrdup(env);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *dir = dirname(exe);
		static const char *const rel[] = {"/../../rules/peergfs.rules", "/../rules/peergfs.rules"};
		for (size_t i = 0; i < 2; i++) {
			char *p = xasprintf("%s%s", dir, rel[i]);
			/* The path a report names the pack by: without the build folder's "../..". */
			char *real = access(p, R_OK) == 0 ? realpath(p, NULL) : NULL;
			free(p);
			if (real)
				return real;
		}
	}
	return xstrdup(FLOWAUDIT_RULES_DIR "/peergfs.rules");
}

struct common {
	char **rules;
	size_t nrules;
	const char *site;
	const char *format;
	const char *out;
};

static void add_rules(struct common *c, const char *path)
{
	c->rules = xrealloc(c->rules, (c->nrules + 1) * sizeof(char *));
	c->rules[c->nrules++] = xstrdup(path);
}

static void free_common(struct common *c)
{
	for (size_t i = 0; i < c->nrules; i++)
		free(c->rules[i]);
	free(c->rules);
}

/* The rule packs of the run: those given with -R, or the default one. */
static void settle_rules(struct common *c)
{
	if (!c->nrules) {
		char *p = default_rules();
		add_rules(c, p);
		free(p);
	}
}

static int load_rules(struct common *c, struct rules *r, struct diag *d)
{
	rules_init(r);
	settle_rules(c);
	/* A reload after dropping privileges reads the same paths again; they must stay readable. */
	int rc = 0;
	for (size_t i = 0; i < c->nrules; i++)
		rc |= rules_load(r, c->rules[i], d);
	return rc;
}

/* Write through fn to OUT (output.c: never replacing a device, a FIFO or a link), or stdout; the reason
 * on stderr when it fails. */
static int write_output(const char *out, out_fn fn, const void *arg)
{
	struct diag d;
	diag_init(&d);
	int rc = out_write(out, fn, arg, &d);
	if (rc < 0)
		diag_print(&d, stderr);
	diag_free(&d);
	return rc;
}

enum { OPT_FORCE = 255, OPT_FORMAT = 256, OPT_FLOWS, OPT_BY_ADDRESS, OPT_MAX_ROWS, OPT_MAX_FLOWS, OPT_VXLAN_PORT, OPT_SNAPLEN, OPT_INTERVAL, OPT_WORKERS, OPT_HELP,
       OPT_STRICT, OPT_HOST, OPT_TABLE, OPT_ROUTER, OPT_APPLY, OPT_NFT, OPT_EVENTS, OPT_EVENTS_ROTATE, OPT_SENSOR, OPT_WRITE_SITE };

static const struct option long_opts[] = {
	{"format", required_argument, NULL, OPT_FORMAT},
	{"flows", no_argument, NULL, OPT_FLOWS},
	{"by-address", no_argument, NULL, OPT_BY_ADDRESS},
	{"max-rows", required_argument, NULL, OPT_MAX_ROWS},
	{"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
	{"vxlan-port", required_argument, NULL, OPT_VXLAN_PORT},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"snaplen", required_argument, NULL, OPT_SNAPLEN},
	{"interval", required_argument, NULL, OPT_INTERVAL},
	{"help", no_argument, NULL, OPT_HELP},
	{"strict", no_argument, NULL, OPT_STRICT},
	{"host", required_argument, NULL, OPT_HOST},
	{"table", required_argument, NULL, OPT_TABLE},
	{"router", no_argument, NULL, OPT_ROUTER},
	{"apply", no_argument, NULL, OPT_APPLY},
	{"nft", no_argument, NULL, OPT_NFT},
	{"events", required_argument, NULL, OPT_EVENTS},
	{"events-rotate", required_argument, NULL, OPT_EVENTS_ROTATE},
	{"sensor", required_argument, NULL, OPT_SENSOR},
	{"force", no_argument, NULL, OPT_FORCE},
	{"write-site", required_argument, NULL, OPT_WRITE_SITE},
	{NULL, 0, NULL, 0},
};

struct graph_arg {
	const struct rep_format *fmt;
	const struct graph *g;
};

static int write_graph(FILE *out, const void *arg)
{
	const struct graph_arg *a = arg;
	return a->fmt->graph(out, a->g);
}

struct audit_arg {
	const struct rep_format *fmt;
	const struct report *r;
};

static int write_audit(FILE *out, const void *arg)
{
	const struct audit_arg *a = arg;
	return a->fmt->audit(out, a->r);
}

/* An output (-o, -w) that is one of the run's inputs (-r, -s, -R) would destroy it: refused, through
 * links too, before anything is opened for writing. */
static int refuse_input_as_output(const char *opt, const char *out, struct common *c, char *const *files,
				  size_t nfiles)
{
	if (!out)
		return 0;
	settle_rules(c);
	const char *hit = NULL, *what = NULL;
	for (size_t i = 0; i < nfiles && !hit; i++)
		if (out_same_file(out, files[i]))
			hit = files[i], what = "the capture read with -r";
	if (!hit && out_same_file(out, c->site))
		hit = c->site, what = "the site file (-s)";
	for (size_t i = 0; i < c->nrules && !hit; i++)
		if (out_same_file(out, c->rules[i]))
			hit = c->rules[i], what = "a rule pack (-R)";
	if (!hit)
		return 0;
	return usage_error("%s %s is %s%s%s%s: refusing to overwrite an input", opt, out, what,
			   strcmp(hit, out) ? " (" : "", strcmp(hit, out) ? hit : "", strcmp(hit, out) ? ")" : "");
}

static int cmd_graph(int argc, char **argv)
{
	struct common c = {.format = "text"};
	int opt;
	while ((opt = getopt_long(argc, argv, "+s:R:o:", long_opts, NULL)) != -1) {
		switch (opt) {
		case 's': c.site = optarg; break;
		case 'R': add_rules(&c, optarg); break;
		case 'o': c.out = optarg; break;
		case OPT_FORMAT: c.format = optarg; break;
		case OPT_HELP: fputs(usage_text, stdout); free_common(&c); return 0;
		default: free_common(&c); return usage_error("graph: bad option");
		}
	}
	if (optind < argc) {
		int rc = usage_error("graph: unexpected argument '%s'", argv[optind]);
		free_common(&c);
		return rc;
	}
	const struct rep_format *fmt = rep_find(c.format);
	if (!fmt || !fmt->graph) {
		free_common(&c);
		return usage_error("graph: unknown format '%s' (text, json or dot)", c.format);
	}
	if (refuse_input_as_output("-o", c.out, &c, NULL, 0)) {
		free_common(&c);
		return EXIT_BAD;
	}
	struct diag d;
	diag_init(&d);
	struct rules r;
	struct site s;
	site_init(&s);
	int rc = 0;
	if (load_rules(&c, &r, &d) < 0 || (c.site && site_load(&s, c.site, &r, &d) < 0) ||
	    (c.site && graph_check_size(&r, &s, &d) < 0)) {
		rc = report_diag(&d);
	} else {
		struct graph g;
		graph_build(&g, &r, c.site ? &s : NULL);
		struct graph_arg a = {fmt, &g};
		rc = write_output(c.out, write_graph, &a) < 0 ? EXIT_BAD : 0;
		graph_free(&g);
	}
	site_free(&s);
	rules_free(&r);
	free_common(&c);
	return rc;
}

struct nft_arg {
	const struct nft_check *check;
	const struct graph *g;
	int host;
	struct nft_render_opts render;
	bool json;
};

static int write_nft_check(FILE *out, const void *arg)
{
	const struct nft_arg *a = arg;
	return nft_check_print(out, a->check, a->json);
}

static int write_nft_render(FILE *out, const void *arg)
{
	const struct nft_arg *a = arg;
	return nft_render_text(out, a->g, a->host, &a->render);
}

/* flowaudit nft check|render: the site's paths against this namespace's nftables ruleset. */
static int cmd_nft(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	bool check = !strcmp(sub, "check"), render = !strcmp(sub, "render");
	if (!check && !render)
		return usage_error("nft: say check or render, not '%s'", sub);
	argc--;
	argv++;
	struct common c = {.format = "text"};
	const char *host_name = NULL;
	struct nft_arg a = {.host = -1, .render = {.family = "inet", .table = "flowaudit"}};
	bool apply = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "+s:R:o:", long_opts, NULL)) != -1) {
		switch (opt) {
		case 's': c.site = optarg; break;
		case 'R': add_rules(&c, optarg); break;
		case 'o': c.out = optarg; break;
		case OPT_FORMAT: c.format = optarg; break;
		case OPT_HOST: host_name = optarg; break;
		case OPT_TABLE: a.render.table = optarg; break;
		case OPT_ROUTER: a.render.router = true; break;
		case OPT_APPLY: apply = true; break;
		case OPT_HELP: fputs(usage_text, stdout); free_common(&c); return 0;
		default: free_common(&c); return usage_error("nft %s: bad option", sub);
		}
	}
	int rc = 0;
	if (optind < argc)
		rc = usage_error("nft %s: unexpected argument '%s'", sub, argv[optind]);
	else if (!c.site)
		rc = usage_error("nft %s: -s SITE is needed (the paths come from the site)", sub);
	else if (check && (apply || a.render.router || strcmp(a.render.table, "flowaudit")))
		rc = usage_error("nft check: --table, --router and --apply are options of nft render");
	else if (render && !host_name && !a.render.router)
		rc = usage_error("nft render: --host NAME is needed (or --router for a router's forward chain)");
	else if (render && strcmp(c.format, "text"))
		rc = usage_error("nft render: the rules are written as text for nft -f (no --format)");
	else if (check && strcmp(c.format, "text") && strcmp(c.format, "json"))
		rc = usage_error("nft check: unknown format '%s' (text or json)", c.format);
	else if (refuse_input_as_output("-o", c.out, &c, NULL, 0))
		rc = EXIT_BAD;
	if (rc) {
		free_common(&c);
		return rc;
	}
	a.json = !strcmp(c.format, "json");
	struct diag d;
	diag_init(&d);
	struct rules r;
	struct site s;
	site_init(&s);
	struct graph g;
	bool built = false;
	struct nft_check *nc = NULL;
	if (load_rules(&c, &r, &d) < 0 || site_load(&s, c.site, &r, &d) < 0 || graph_check_size(&r, &s, &d) < 0) {
		rc = report_diag(&d);
		goto out;
	}
	if (host_name && (a.host = site_host_find(&s, host_name)) < 0) {
		rc = usage_error("nft %s: no host '%s' in %s", sub, host_name, c.site);
		goto out;
	}
	graph_build(&g, &r, &s);
	built = true;
	a.g = &g;
	if (render) {
		if (apply)
			rc = nft_render_apply(&g, a.host, &a.render, &d) < 0 ? report_diag(&d) : 0;
		else
			rc = write_output(c.out, write_nft_render, &a) < 0 ? EXIT_BAD : 0;
		goto out;
	}
	if (!(nc = nft_check_open(&d)) || nft_check_paths(nc, &g, a.host, &d) < 0) {
		rc = report_diag(&d);
		goto out;
	}
	a.check = nc;
	rc = write_output(c.out, write_nft_check, &a) < 0 ? EXIT_BAD : nft_check_status(nc);
out:
	nft_check_free(nc);
	if (built)
		graph_free(&g);
	site_free(&s);
	rules_free(&r);
	diag_free(&d);
	free_common(&c);
	return rc;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Hosts that another host names as its CEE host (refs host) but that no expected path reaches: e.g. a
 * cee= on a system whose notify= needs no CEE. Warnings at the naming host's name. */
static void lint_unreached(const struct rules *r, const struct site *s, struct diag *w)
{
	struct graph g;
	graph_build(&g, r, s);
	bool *used = xcalloc(s->nhosts + 1, sizeof(bool));
	for (size_t i = 0; i < g.nedges; i++) {
		if (g.edges[i].level == LEVEL_FORBID)
			continue;
		if (g.edges[i].client >= 0)
			used[g.edges[i].client] = true;
		if (g.edges[i].server >= 0)
			used[g.edges[i].server] = true;
	}
	for (size_t h = 0; h < s->nhosts; h++)
		for (size_t a = 0; a < r->nattrs; a++) {
			const char *v = r->attrs[a].ref == REF_HOST ? site_attr(&s->hosts[h], r->attrs[a].key) : NULL;
			int x = v ? site_host_find(s, v) : -1;
			if (x >= 0 && !used[x]) {
				struct diag_loc loc = {.file = s->path, .line = s->hosts[h].line, .col = s->hosts[h].col,
						       .len = (int)strlen(s->hosts[h].name)};
				diag_add(w, &loc, "%s=%s: no expected path reaches '%s' (is %s= what this host needs?)",
					 r->attrs[a].key, v, v, r->attrs[a].key);
			}
		}
	free(used);
	graph_free(&g);
}

static int write_vocabulary(FILE *out, const void *arg)
{
	return rules_print_vocabulary(out, arg);
}

/* flowaudit roles [-R RULES]...: the vocabulary of the loaded pack. */
static int cmd_roles(int argc, char **argv)
{
	struct common c = {0};
	int opt;
	while ((opt = getopt_long(argc, argv, "+R:o:", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'R': add_rules(&c, optarg); break;
		case 'o': c.out = optarg; break;
		case OPT_HELP: fputs(usage_text, stdout); free_common(&c); return 0;
		default: free_common(&c); return usage_error("roles: bad option");
		}
	}
	if (optind < argc) {
		free_common(&c);
		return usage_error("roles: unexpected argument '%s'", argv[optind]);
	}
	struct diag d;
	diag_init(&d);
	struct rules r;
	int rc = 0;
	if (load_rules(&c, &r, &d) < 0)
		rc = report_diag(&d);
	else if (refuse_input_as_output("-o", c.out, &c, NULL, 0) || write_output(c.out, write_vocabulary, &r) < 0)
		rc = EXIT_BAD;
	rules_free(&r);
	free_common(&c);
	return rc;
}

static int cmd_lint(int argc, char **argv)
{
	struct common c = {0};
	int opt;
	bool strict = false;
	while ((opt = getopt_long(argc, argv, "+R:", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'R': add_rules(&c, optarg); break;
		case OPT_STRICT: strict = true; break;
		case OPT_HELP: fputs(usage_text, stdout); free_common(&c); return 0;
		default: free_common(&c); return usage_error("lint: bad option");
		}
	}
	if (optind >= argc) {
		free_common(&c);
		return usage_error("lint: no files to check");
	}
	int rc = 0;
	struct diag d;
	diag_init(&d);
	struct rules pack;
	bool pack_loaded = false;
	for (int i = optind; i < argc; i++) {
		const char *path = argv[i];
		if (has_suffix(path, ".site")) {
			if (!pack_loaded) {
				if (load_rules(&c, &pack, &d) < 0) {
					rc = report_diag(&d);
					rules_free(&pack);
					free_common(&c);
					return rc;
				}
				pack_loaded = true;
			}
			struct site s;
			struct diag w;
			diag_init(&w);
			if (site_load_lint(&s, path, &pack, &d, &w) < 0 || graph_check_size(&pack, &s, &d) < 0) {
				rc = report_diag(&d);
			} else {
				lint_unreached(&pack, &s, &w);
				diag_print_as(&w, stderr, strict ? "error" : "warning");
				if (strict && diag_count(&w))
					rc = EXIT_BAD;
				else if (diag_count(&w))
					printf("%s: ok (%zu hosts), %d warning%s\n", path, s.nhosts, diag_count(&w),
					       diag_count(&w) == 1 ? "" : "s");
				else
					printf("%s: ok (%zu hosts)\n", path, s.nhosts);
			}
			diag_free(&w);
			site_free(&s);
		} else {
			struct rules r;
			rules_init(&r);
			if (rules_load(&r, path, &d) < 0)
				rc = report_diag(&d);
			else
				printf("%s: ok (%zu roles, %zu edges)\n", path, r.nroles - 1, r.nedges);
			rules_free(&r);
		}
	}
	if (pack_loaded)
		rules_free(&pack);
	free_common(&c);
	return rc;
}

/* A positive number option, or a usage error. */
static bool number_arg(const char *opt, const char *arg, unsigned long long max, unsigned long long *v)
{
	char *end;
	errno = 0;
	*v = strtoull(arg, &end, 10);
	if (errno || *end || !*arg || *v == 0 || *v > max) {
		usage_error("audit: %s needs a number from 1 to %llu, not '%s'", opt, max, arg);
		return false;
	}
	return true;
}

/* One loaded rule pack, site and the graph built from them. */
struct generation {
	struct rules rules;
	struct site site;
	struct graph graph;
	char digest_rules[17], digest_site[17]; /* of the files' bytes: merge tells reports of other ones */
};

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#define FNV_START 0xcbf29ce484222325ull
#define FNV_END(h) (((h) ^ 0xff) * 0x100000001b3ull) /* a file's end */

/* FNV-1a over the bytes of files, as 16 hex digits ("" when one cannot be read). */
static void digest_files(char *const *paths, size_t n, char out[17])
{
	uint64_t h = FNV_START;
	unsigned char buf[65536];
	for (size_t i = 0; i < n; i++) {
		FILE *f = fopen(paths[i], "rb");
		if (!f) {
			out[0] = '\0';
			return;
		}
		size_t got;
		while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
			h = fnv(h, buf, got);
		fclose(f);
		h = FNV_END(h);
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* The same digest of a site held as text (an inferred one): equal to its file's once written. */
static void digest_text(const char *text, char out[17])
{
	uint64_t h = fnv(FNV_START, (const unsigned char *)text, strlen(text));
	snprintf(out, 17, "%016llx", (unsigned long long)FNV_END(h));
}

static void generation_free(struct generation *gen)
{
	if (!gen)
		return;
	graph_free(&gen->graph);
	site_free(&gen->site);
	rules_free(&gen->rules);
	free(gen);
}

/* What a live audit's callbacks need: how to write reports, how to reload. */
struct live_ctx {
	struct common *c;
	const struct rep_format *fmt;
	bool flows;
	bool by_address;
	struct nft_check *nft;  /* --nft: this machine's ruleset, read before privileges are dropped */
	struct events *events;  /* --events, opened before privileges are dropped */
	const char *sensor;     /* --sensor */
	/* The graph in use, and the one before it: the workers move off the old one while the reload that
	 * replaced it is answered, so it is freed at the next reload (or at exit), never while in use. */
	struct generation *cur, *prev;
};

static const char *row_firewall(void *ctx, const struct cls_row *r)
{
	struct live_ctx *lc = ctx;
	return nft_check_one(lc->nft, r->client.a, r->server.a, r->proto, r->port);
}

/* The events of a report (--events); a write error is said, and the next report tries again. */
static int report_events(struct live_ctx *lc, const struct audit_result *res)
{
	if (!lc->events)
		return 0;
	struct diag d;
	diag_init(&d);
	int rc = events_report(lc->events, &lc->cur->graph, res, &d);
	if (rc < 0)
		diag_print(&d, stderr);
	diag_free(&d);
	return rc;
}

static int live_report(void *ctx, const struct audit_result *res)
{
	struct live_ctx *lc = ctx;
	struct report rp = {.g = &lc->cur->graph, .res = res, .site_path = lc->c->site, .flows = lc->flows,
			     .by_address = lc->by_address, .firewall = lc->nft ? row_firewall : NULL, .firewall_ctx = lc,
			     .sensor = lc->sensor, .digest_rules = lc->cur->digest_rules, .digest_site = lc->cur->digest_site};
	struct audit_arg a = {lc->fmt, &rp};
	int rc = write_output(lc->c->out, write_audit, &a);
	return report_events(lc, res) < 0 ? -1 : rc;
}

/* Load rules and site as the current generation; NULL (with the reason in d) when they do not parse. */
static const struct graph *load_generation(struct live_ctx *lc, struct diag *d)
{
	struct generation *gen = xcalloc(1, sizeof(*gen));
	site_init(&gen->site);
	if (load_rules(lc->c, &gen->rules, d) < 0 ||
	    (lc->c->site && site_load(&gen->site, lc->c->site, &gen->rules, d) < 0) ||
	    (lc->c->site && graph_check_size(&gen->rules, &gen->site, d) < 0)) {
		site_free(&gen->site);
		rules_free(&gen->rules);
		free(gen);
		return NULL;
	}
	graph_build(&gen->graph, &gen->rules, &gen->site);
	digest_files(gen->rules.loaded, gen->rules.nloaded, gen->digest_rules);
	if (lc->c->site) {
		char *site = (char *)lc->c->site;
		digest_files(&site, 1, gen->digest_site);
	}
	generation_free(lc->prev);
	lc->prev = lc->cur;
	lc->cur = gen;
	return &gen->graph;
}

static const struct graph *live_reload(void *ctx)
{
	struct diag d;
	diag_init(&d);
	const struct graph *g = load_generation(ctx, &d);
	if (!g) {
		fputs("flowaudit: SIGHUP: the new rules or site do not load; keeping the old ones\n", stderr);
		diag_print(&d, stderr);
	} else {
		fputs("flowaudit: SIGHUP: rules and site reloaded\n", stderr);
	}
	diag_free(&d);
	return g;
}

/* After privileges are dropped, before the first packet: can the reports still be written and the
 * files of a reload still be read? */
static int live_ready(void *ctx, struct diag *d)
{
	struct live_ctx *lc = ctx;
	if (out_check(lc->c->out, "the report (-o)", d) < 0)
		return -1;
	const char *unreadable = NULL;
	if (lc->c->site && access(lc->c->site, R_OK) < 0)
		unreadable = lc->c->site;
	for (size_t i = 0; i < lc->c->nrules && !unreadable; i++)
		if (access(lc->c->rules[i], R_OK) < 0)
			unreadable = lc->c->rules[i];
	if (unreadable)
		fprintf(stderr, "flowaudit: warning: %s: not readable by the user the sensor runs as (-Z): a SIGHUP "
				"will keep the rules and site loaded now\n", unreadable);
	return 0;
}

static void on_signal(int sig)
{
	audit_signal(sig);
}

struct refeed {
	flow_records_fn fn;
	void *ctx;
};

static int refeed(void *ctx, const struct flow_record *r, size_t n)
{
	const struct refeed *f = ctx;
	f->fn(f->ctx, r, n);
	return 0;
}

/* Every settled flow of the audit, log by log, to fn. */
static int each_flow(const struct audit_result *res, flow_records_fn fn, void *ctx, struct diag *d)
{
	struct refeed f = {fn, ctx};
	for (size_t i = 0; i < res->nflow_logs; i++)
		if (flowlog_each(res->flow_logs[i].log, res->flow_logs[i].n, refeed, &f) < 0) {
			struct diag_loc loc = {.file = NULL};
			diag_add(d, &loc, "the flow records cannot be read back: %s", flowlog_error(res->flow_logs[i].log));
			return -1;
		}
	return 0;
}

static int write_text(FILE *out, const void *arg)
{
	return fputs(arg, out) < 0 ? -1 : 0;
}

static void feed_cls(void *ctx, const struct flow_record *r, size_t n)
{
	cls_flows(ctx, r, n, NULL);
}

/* Without -s: a site inferred from the capture's flows (infer.h) takes the place of the role-level graph,
 * and every flow is judged again against it. 1: no host could be placed (sum says what was read). */
static int audit_inferred(struct live_ctx *lc, struct audit_result *res, const struct audit_opts *o,
			  const char *write_site, struct infer_summary *sum, struct diag *d)
{
	struct generation *gen = lc->cur;
	/* a site is thousands of hosts; a person reads what is written: past that, a flood's spoofed sources */
	size_t max_addrs = o->max_rows && o->max_rows < INFER_MAX_ADDRS ? o->max_rows : INFER_MAX_ADDRS;
	struct infer *in = infer_new(&gen->rules, max_addrs);
	if (each_flow(res, infer_flows, in, d) < 0) {
		infer_free(in);
		return -1;
	}
	char *source = NULL;
	size_t slen = 0;
	for (size_t i = 0; i < o->nfiles; i++)
		str_append(&source, &slen, "%s%s", i ? ", " : "", o->files[i]);
	char *text = infer_site_text(in, source);
	free(source);
	*sum = infer_summary(in);
	infer_free(in);
	if (!sum->hosts) {
		free(text);
		return 1;
	}
	site_free(&gen->site);
	if (site_load_text(&gen->site, "(inferred site)", text, &gen->rules, d) < 0) {
		free(text); /* a site that does not load is flowaudit's own mistake: said, never used */
		return -1;
	}
	graph_free(&gen->graph);
	graph_build(&gen->graph, &gen->rules, &gen->site);
	digest_text(text, gen->digest_site);
	cls_free(&res->cls);
	cls_init(&res->cls, &gen->graph);
	cls_set_max_rows(&res->cls, o->max_rows);
	cls_set_inferred(&res->cls);
	int rc = each_flow(res, feed_cls, &res->cls, d);
	cls_finish(&res->cls, o->sorted_rows);
	if (rc == 0 && write_site && write_output(write_site, write_text, text) < 0)
		rc = -2;
	free(text);
	return rc;
}

static int cmd_audit(int argc, char **argv)
{
	struct common c = {.format = "text"};
	char **files = NULL;
	size_t nfiles = 0;
	struct audit_opts o = {.snaplen = 262, .buffer_mb = 64, .promisc = true, .dec = DEC_CFG_DEFAULT};
	const char *user = NULL;
	unsigned long long v;
	int opt, rc = 0;
	struct live_ctx lc = {.c = &c};
	bool want_nft = false;
	const char *events_path = NULL, *write_site = NULL;
	uint64_t events_rotate = 0;
	bool max_rows_set = false;
	char *bpf = NULL;
	while ((opt = getopt_long(argc, argv, "r:i:s:R:o:w:B:pZ:", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			files = xrealloc(files, (nfiles + 1) * sizeof(char *));
			files[nfiles++] = optarg;
			break;
		case 'i': o.iface = optarg; break;
		case 's': c.site = optarg; break;
		case 'R': add_rules(&c, optarg); break;
		case 'o': c.out = optarg; break;
		case 'w': o.write_path = optarg; break;
		case 'p': o.promisc = false; break;
		case 'Z': user = optarg; break;
		case 'B':
			if (!number_arg("-B", optarg, 4096, &v)) {
				rc = EXIT_BAD;
				goto out;
			}
			o.buffer_mb = (int)v;
			break;
		case OPT_SNAPLEN:
			if (!number_arg("--snaplen", optarg, 262144, &v)) {
				rc = EXIT_BAD;
				goto out;
			}
			o.snaplen = (int)v;
			break;
		case OPT_INTERVAL:
			if (!number_arg("--interval", optarg, 86400 * 365, &v)) {
				rc = EXIT_BAD;
				goto out;
			}
			o.interval_s = (unsigned)v;
			break;
		case OPT_WORKERS:
			if (!number_arg("--workers", optarg, 64, &v)) {
				rc = EXIT_BAD;
				goto out;
			}
			o.workers = (unsigned)v;
			break;
		case OPT_FORMAT: c.format = optarg; break;
		case OPT_FLOWS: o.want_flows = true; break;
		case OPT_BY_ADDRESS: lc.by_address = true; break;
		case OPT_NFT: want_nft = true; break;
		case OPT_EVENTS: events_path = optarg; break;
		case OPT_EVENTS_ROTATE:
			if (!events_size_parse(optarg, &events_rotate)) {
				rc = usage_error("audit: --events-rotate needs a size (65536, 512K, 10M, 1G), not '%s'", optarg);
				goto out;
			}
			break;
		case OPT_SENSOR: lc.sensor = optarg; break;
		case OPT_WRITE_SITE: write_site = optarg; break;
		case OPT_MAX_FLOWS:
			if (!number_arg("--max-flows", optarg, 1ull << 40, &v)) {
				rc = EXIT_BAD;
				goto out;
			}
			o.max_flows = (size_t)v;
			break;
		case OPT_MAX_ROWS:
			if (strcmp(optarg, "0") && !number_arg("--max-rows", optarg, 1ull << 30, &v)) {
				rc = EXIT_BAD;
				goto out;
			}
			o.max_rows = strcmp(optarg, "0") ? (size_t)v : 0;
			max_rows_set = true;
			break;
		case OPT_VXLAN_PORT: {
			uint16_t port;
			if (!port_parse(optarg, &port)) {
				rc = usage_error("audit: --vxlan-port needs a port 1-65535, not '%s'", optarg);
				goto out;
			}
			o.dec.vxlan_port = port;
			break;
		}
		case OPT_HELP: fputs(usage_text, stdout); goto out;
		default: rc = usage_error("audit: bad option"); goto out;
		}
	}
	lc.fmt = rep_find(c.format);
	lc.flows = o.want_flows;
	if (!lc.fmt || !lc.fmt->audit) {
		rc = usage_error("audit: unknown format '%s' (text, json or html)", c.format);
		goto out;
	}
	o.sorted_rows = lc.fmt->every_row || lc.by_address;
	/* Rows are bounded like flows: by --max-flows when that is given, else by a default of a million. */
	if (!max_rows_set)
		o.max_rows = o.max_flows ? o.max_flows : DEFAULT_MAX_ROWS;
	if (o.want_flows && strcmp(c.format, "json") != 0) {
		rc = usage_error("audit: --flows adds every connection attempt to the JSON report: give --format json");
		goto out;
	}
	if (o.iface && nfiles) {
		rc = usage_error("audit: give either -i IFACE (live) or -r FILE (offline), not both");
		goto out;
	}
	if (o.workers > 1 && !o.iface) {
		rc = usage_error("audit: --workers spreads a live capture (-i IFACE); a file is read by one");
		goto out;
	}
	if (!o.iface && !nfiles) {
		rc = usage_error("audit: nothing to read: give -r FILE or -i IFACE");
		goto out;
	}
	if (refuse_input_as_output("-o", c.out, &c, files, nfiles) || refuse_input_as_output("-w", o.write_path, &c, files, nfiles)) {
		rc = EXIT_BAD;
		goto out;
	}
	if (write_site && (c.site || o.iface)) {
		rc = usage_error("audit: --write-site writes the site inferred from files read without -s");
		goto out;
	}
	if (refuse_input_as_output("--write-site", write_site, &c, files, nfiles)) {
		rc = EXIT_BAD;
		goto out;
	}
	if (write_site && ((c.out && out_same_file(c.out, write_site)) || (events_path && out_same_file(events_path, write_site)))) {
		rc = usage_error("audit: --write-site names the file of -o or --events");
		goto out;
	}
	if (events_rotate && (!events_path || !strcmp(events_path, "-"))) {
		rc = usage_error("audit: --events-rotate rotates the file of --events FILE");
		goto out;
	}
	if (refuse_input_as_output("--events", events_path, &c, files, nfiles)) {
		rc = EXIT_BAD;
		goto out;
	}
	if (events_path && ((c.out && out_same_file(c.out, events_path)) || (o.write_path && out_same_file(o.write_path, events_path)))) {
		rc = usage_error("audit: --events names the file of -o or -w");
		goto out;
	}
	if (c.out && o.write_path && out_same_file(c.out, o.write_path)) {
		rc = usage_error("audit: -o and -w name the same file");
		goto out;
	}
	if (user && !getpwnam(user)) {
		rc = usage_error("audit: -Z %s: no such user", user);
		goto out;
	}
	{
		struct diag od;
		diag_init(&od);
		if (out_check(c.out, "the report (-o)", &od) < 0 || out_check(o.write_path, "the packet copy (-w)", &od) < 0 ||
		    out_check(write_site, "the inferred site (--write-site)", &od) < 0) {
			rc = report_diag(&od);
			goto out;
		}
		diag_free(&od);
	}
	/* As tcpdump does: a live capture started as root gives root up once the interface is open.
	 * "-Z root" keeps it, and says so. */
	if (o.iface && geteuid() == 0)
		o.user = user ? (strcmp(user, "root") ? user : NULL) : "nobody";
	else if (user && strcmp(user, "root"))
		o.user = user;
	/* The trailing words are one BPF expression, as tcpdump takes it. */
	size_t blen = 1;
	for (int i = optind; i < argc; i++)
		blen += strlen(argv[i]) + 1;
	bpf = xcalloc(blen, 1);
	for (int i = optind; i < argc; i++) {
		strcat(bpf, argv[i]);
		if (i + 1 < argc)
			strcat(bpf, " ");
	}
	o.files = files;
	o.nfiles = nfiles;
	o.bpf = bpf;
	o.report = live_report;
	o.reload = live_reload;
	o.ready = live_ready;
	o.ctx = &lc;

	/* Signals are caught before anything slow (loading a large site, compiling the filter): a stop asked
	 * for at any moment is kept, and a write they interrupt goes on (SA_RESTART). */
	if (o.iface) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGUSR1, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}

	struct diag d;
	diag_init(&d);
	const struct graph *g = load_generation(&lc, &d);
	if (!g) {
		rc = report_diag(&d);
		goto out;
	}
	if (want_nft && !(lc.nft = nft_check_open(&d))) {
		rc = report_diag(&d);
		goto out;
	}
	if (events_path && !(lc.events = events_open(events_path, events_rotate, lc.sensor, &d))) {
		rc = report_diag(&d);
		goto out;
	}
	/* The events read the settled flows from the workers' logs; a site is inferred from them. */
	bool infer = !c.site && !o.iface;
	o.want_flows = lc.flows || lc.events || infer;
	struct audit_result res;
	struct infer_summary inferred = {0};
	int irc = 0;
	if (audit_run(&o, g, &res, &d) < 0 || (infer && (irc = audit_inferred(&lc, &res, &o, write_site, &inferred, &d)) < 0)) {
		rc = irc == -2 ? EXIT_BAD : report_diag(&d);
	} else if (!c.site && !lc.flows && (!infer || irc == 1)) {
		/* Nothing to verify against: a clean-looking report would hide a forgotten -s in a script. The
		 * capture was read first, so that a bad capture is named before this. */
		if (infer)
			rc = usage_error("audit: no site (-s SITE), and none could be inferred: of %zu flows on the rule "
					 "pack's ports, none placed a host in a role", inferred.flows);
		else
			rc = usage_error("audit: no site (-s SITE): no host is known, so no path can be verified "
					 "(without a site, --flows --format json lists every connection attempt)");
	} else {
		for (size_t i = 0; i < res.nwarnings; i++) {
			char *w = str_printable(res.warnings[i]);
			fprintf(stderr, "flowaudit: warning: %s\n", w);
			free(w);
		}
		const char *nc = getenv("NO_COLOR");
		struct report rp = {.g = &lc.cur->graph, .res = &res, .site_path = c.site, .flows = lc.flows || lc.events,
				    .inferred = infer && irc == 0 ? &inferred : NULL,
				    .by_address = lc.by_address, .color = !c.out && isatty(STDOUT_FILENO) && !(nc && *nc),
				    .firewall = lc.nft ? row_firewall : NULL, .firewall_ctx = &lc, .sensor = lc.sensor,
				    .digest_rules = lc.cur->digest_rules, .digest_site = lc.cur->digest_site};
		struct audit_arg a = {lc.fmt, &rp};
		if (write_output(c.out, write_audit, &a) < 0 || report_events(&lc, &res) < 0 || res.capture_failed)
			rc = EXIT_BAD; /* a capture that failed is reported, and the run still failed */
		else
			rc = cls_has_findings(&res.cls) ? EXIT_FINDINGS : 0;
	}
	audit_result_free(&res);
	infer_summary_free(&inferred);
out:
	nft_check_free(lc.nft);
	events_close(lc.events);
	generation_free(lc.prev);
	generation_free(lc.cur);
	free(bpf);
	free(files);
	free_common(&c);
	return rc;
}

static int cmd_merge(int argc, char **argv)
{
	struct common c = {.format = "text"};
	bool force = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "+o:", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'o': c.out = optarg; break;
		case OPT_FORMAT: c.format = optarg; break;
		case OPT_FORCE: force = true; break;
		case OPT_HELP: fputs(usage_text, stdout); free_common(&c); return 0;
		default: free_common(&c); return usage_error("merge: bad option");
		}
	}
	int rc;
	out_fn fn = !strcmp(c.format, "text") ? merge_write_text : !strcmp(c.format, "json") ? merge_write_json
		  : !strcmp(c.format, "html") ? merge_write_html : NULL;
	if (!fn) {
		rc = usage_error("merge: unknown format '%s' (text, json or html)", c.format);
	} else if (optind >= argc) {
		rc = usage_error("merge: give the JSON reports to merge (flowaudit audit --format json)");
	} else if (refuse_input_as_output("-o", c.out, &c, argv + optind, (size_t)(argc - optind))) {
		rc = EXIT_BAD;
	} else {
		struct diag d;
		diag_init(&d);
		struct merge *m = merge_reports(argv + optind, (size_t)(argc - optind), force, &d);
		if (!m)
			rc = report_diag(&d);
		else
			rc = write_output(c.out, fn, m) < 0 ? EXIT_BAD : merge_has_findings(m) ? EXIT_FINDINGS : 0;
		diag_free(&d);
		merge_free(m);
	}
	free_common(&c);
	return rc;
}

int main(int argc, char **argv)
{
	/* A reader that goes away (flowaudit ... | head) is a write error, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage_error("no command given");
	const char *cmd = argv[1];
	int rc;
	argc--;
	argv++;
	optind = 1;
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("flowaudit %s\n", FLOWAUDIT_VERSION);
		rc = 0;
	} else if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0) {
		fputs(usage_text, stdout);
		rc = 0;
	} else if (strcmp(cmd, "audit") == 0) {
		rc = cmd_audit(argc, argv);
	} else if (strcmp(cmd, "graph") == 0) {
		rc = cmd_graph(argc, argv);
	} else if (strcmp(cmd, "lint") == 0) {
		rc = cmd_lint(argc, argv);
	} else if (strcmp(cmd, "roles") == 0) {
		rc = cmd_roles(argc, argv);
	} else if (strcmp(cmd, "nft") == 0) {
		rc = cmd_nft(argc, argv);
	} else if (strcmp(cmd, "merge") == 0) {
		rc = cmd_merge(argc, argv);
	} else {
		return usage_error("unknown command '%s'", cmd);
	}
	/* What a command printed must have reached stdout (a full disk, a closed pipe): otherwise exit 2. */
	if (out_close_stdout() < 0)
		rc = EXIT_BAD;
	return rc;
}
