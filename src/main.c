/* main.c: the flowaudit command line: subcommands audit, graph and lint; options; exit status
 * 0 (all verified), 1 (findings), 2 (bad usage or input). Prints diagnostics; holds no logic of its own. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
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
#include "flowaudit/graph.h"
#include "flowaudit/hash.h"
#include "flowaudit/report.h"
#include "flowaudit/rules.h"
#include "flowaudit/site.h"
#include "flowaudit/util.h"

#ifndef FLOWAUDIT_RULES_DIR
#define FLOWAUDIT_RULES_DIR "/usr/local/share/flowaudit"
#endif

#define EXIT_FINDINGS 1
#define EXIT_BAD 2

static const char usage_text[] =
	"usage: flowaudit audit [-r FILE]... [-s SITE] [-R RULES]... [--format text|json|html] [-o OUT]\n"
	"                       [--flows] [--max-flows N] [--vxlan-port N] [BPF...]\n"
	"       flowaudit audit -i IFACE [-s SITE] [-R RULES]... [-o OUT] [--interval S] [-w FILE]\n"
	"                       [-B MB] [--snaplen N] [--workers N] [-p] [-Z USER] [BPF...]\n"
	"       flowaudit graph [-s SITE] [-R RULES]... [--format text|json|dot] [-o OUT]\n"
	"       flowaudit lint [-R RULES]... FILE...\n"
	"       flowaudit --version\n";

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
			if (access(p, R_OK) == 0)
				return p;
			free(p);
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

static int load_rules(struct common *c, struct rules *r, struct diag *d)
{
	rules_init(r);
	if (!c->nrules) {
		char *p = default_rules();
		add_rules(c, p);
		free(p);
	}
	/* A reload after dropping privileges reads the same paths again; they must stay readable. */
	int rc = 0;
	for (size_t i = 0; i < c->nrules; i++)
		rc |= rules_load(r, c->rules[i], d);
	return rc;
}

/* Write through fn to OUT atomically (a temporary file in the same folder, then rename), or stdout. */
typedef int (*write_fn)(FILE *out, const void *arg);
static int write_output(const char *out, write_fn fn, const void *arg)
{
	if (!out || strcmp(out, "-") == 0) {
		int rc = fn(stdout, arg);
		if (rc < 0 || fflush(stdout) == EOF) {
			if (errno != EPIPE)
				fprintf(stderr, "flowaudit: writing the report: %s\n", strerror(errno));
			return -1;
		}
		return 0;
	}
	char *tmp = xasprintf("%s.XXXXXX", out);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "flowaudit: %s: cannot create a temporary file beside it: %s\n", out, strerror(errno));
		free(tmp);
		return -1;
	}
	/* mkstemp makes the file 0600; a report is as readable as any file this umask makes. */
	mode_t mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask);
	FILE *f = fdopen(fd, "w");
	int rc = f ? fn(f, arg) : -1;
	int e = errno;
	if (f && fclose(f) == EOF && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc == 0 && rename(tmp, out) < 0) {
		rc = -1;
		e = errno;
	}
	if (rc < 0) {
		fprintf(stderr, "flowaudit: %s: %s\n", out, strerror(e));
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

enum { OPT_FORMAT = 256, OPT_FLOWS, OPT_MAX_FLOWS, OPT_VXLAN_PORT, OPT_SNAPLEN, OPT_INTERVAL, OPT_WORKERS, OPT_HELP };

static const struct option long_opts[] = {
	{"format", required_argument, NULL, OPT_FORMAT},
	{"flows", no_argument, NULL, OPT_FLOWS},
	{"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
	{"vxlan-port", required_argument, NULL, OPT_VXLAN_PORT},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"snaplen", required_argument, NULL, OPT_SNAPLEN},
	{"interval", required_argument, NULL, OPT_INTERVAL},
	{"help", no_argument, NULL, OPT_HELP},
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
	struct diag d;
	diag_init(&d);
	struct rules r;
	struct site s;
	site_init(&s);
	int rc = 0;
	if (load_rules(&c, &r, &d) < 0 || (c.site && site_load(&s, c.site, &r, &d) < 0)) {
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

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmd_lint(int argc, char **argv)
{
	struct common c = {0};
	int opt;
	while ((opt = getopt_long(argc, argv, "+R:", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'R': add_rules(&c, optarg); break;
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
			if (site_load(&s, path, &pack, &d) < 0)
				rc = report_diag(&d);
			else
				printf("%s: ok (%zu hosts)\n", path, s.nhosts);
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

/* What a live audit's callbacks need: how to write reports, how to reload. */
struct live_ctx {
	struct common *c;
	const struct rep_format *fmt;
	bool flows;
	struct rules *rules[16];  /* every rule pack, site and graph loaded; freed at exit */
	struct site *sites[16];
	struct graph *graphs[16];
	int ngen;
};

static int live_report(void *ctx, const struct audit_result *res)
{
	struct live_ctx *lc = ctx;
	struct report rp = {.g = lc->graphs[lc->ngen - 1], .res = res, .site_path = lc->c->site, .flows = lc->flows};
	struct audit_arg a = {lc->fmt, &rp};
	return write_output(lc->c->out, write_audit, &a);
}

/* Load rules and site as one generation; NULL (with the reason on stderr) when they do not parse. */
static const struct graph *load_generation(struct live_ctx *lc, struct diag *d)
{
	if (lc->ngen == 16)
		return NULL;
	struct rules *r = xcalloc(1, sizeof(*r));
	struct site *s = xcalloc(1, sizeof(*s));
	site_init(s);
	if (load_rules(lc->c, r, d) < 0 || (lc->c->site && site_load(s, lc->c->site, r, d) < 0)) {
		site_free(s);
		rules_free(r);
		free(s);
		free(r);
		return NULL;
	}
	struct graph *g = xcalloc(1, sizeof(*g));
	graph_build(g, r, s);
	lc->rules[lc->ngen] = r;
	lc->sites[lc->ngen] = s;
	lc->graphs[lc->ngen] = g;
	lc->ngen++;
	return g;
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

static void on_signal(int sig)
{
	audit_signal(sig);
}

static int cmd_audit(int argc, char **argv)
{
	struct common c = {.format = "text"};
	char **files = NULL;
	size_t nfiles = 0;
	struct audit_opts o = {.snaplen = 262, .buffer_mb = 64, .promisc = true};
	const char *user = NULL;
	unsigned long long v;
	int opt, rc = 0;
	struct live_ctx lc = {.c = &c};
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
		case OPT_MAX_FLOWS:
			if (!number_arg("--max-flows", optarg, 1ull << 40, &v)) {
				rc = EXIT_BAD;
				goto out;
			}
			o.max_flows = (size_t)v;
			break;
		case OPT_VXLAN_PORT: {
			uint16_t port;
			if (!port_parse(optarg, &port)) {
				rc = usage_error("audit: --vxlan-port needs a port 1-65535, not '%s'", optarg);
				goto out;
			}
			dec_set_vxlan_port(port);
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
	o.ctx = &lc;

	struct diag d;
	diag_init(&d);
	const struct graph *g = load_generation(&lc, &d);
	if (!g) {
		rc = report_diag(&d);
		goto out;
	}
	if (o.iface) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGUSR1, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}
	struct audit_result res;
	if (audit_run(&o, g, &res, &d) < 0) {
		rc = report_diag(&d);
	} else {
		for (size_t i = 0; i < res.nwarnings; i++)
			fprintf(stderr, "flowaudit: warning: %s\n", res.warnings[i]);
		const char *nc = getenv("NO_COLOR");
		struct report rp = {.g = lc.graphs[lc.ngen - 1], .res = &res, .site_path = c.site, .flows = o.want_flows,
				    .color = !c.out && isatty(STDOUT_FILENO) && !(nc && *nc)};
		struct audit_arg a = {lc.fmt, &rp};
		if (write_output(c.out, write_audit, &a) < 0)
			rc = EXIT_BAD;
		else
			rc = cls_has_findings(&res.cls) ? EXIT_FINDINGS : 0;
	}
	audit_result_free(&res);
out:
	for (int i = 0; i < lc.ngen; i++) {
		graph_free(lc.graphs[i]);
		site_free(lc.sites[i]);
		rules_free(lc.rules[i]);
		free(lc.graphs[i]);
		free(lc.sites[i]);
		free(lc.rules[i]);
	}
	free(bpf);
	free(files);
	free_common(&c);
	return rc;
}

int main(int argc, char **argv)
{
	/* Seed the hash tables so that crafted packets cannot aim collisions at the flow table. */
	if (getrandom(&fa_hash_seed, sizeof(fa_hash_seed), 0) != sizeof(fa_hash_seed))
		fa_hash_seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	/* A reader that goes away (flowaudit ... | head) is a write error, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage_error("no command given");
	const char *cmd = argv[1];
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("flowaudit %s\n", FLOWAUDIT_VERSION);
		return 0;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	argc--;
	argv++;
	optind = 1;
	if (strcmp(cmd, "audit") == 0)
		return cmd_audit(argc, argv);
	if (strcmp(cmd, "graph") == 0)
		return cmd_graph(argc, argv);
	if (strcmp(cmd, "lint") == 0)
		return cmd_lint(argc, argv);
	return usage_error("unknown command '%s'", cmd);
}
