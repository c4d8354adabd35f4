/* rules.c: parser of rules/NAME.rules files (grammar in docs/rules.md).
 * It checks names, ports and parameters as it reads; it does not know sites or packets.
 * Errors point at the offending token and parsing resumes at the next statement. */
#include "flowaudit/rules.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/app.h"
#include "flowaudit/lex.h"
#include "flowaudit/util.h"

const struct rules_attr *rules_attr_find(const struct rules *r, const char *key)
{
	for (size_t i = 0; i < r->nattrs; i++)
		if (strcmp(r->attrs[i].key, key) == 0)
			return &r->attrs[i];
	return NULL;
}

/* "role, role" of a role mask. */
static void print_roles(FILE *out, const struct rules *r, uint64_t roles)
{
	bool first = true;
	for (size_t i = 1; i < r->nroles; i++)
		if (roles >> i & 1) {
			fprintf(out, "%s`%s`", first ? "" : ", ", r->roles[i].name);
			first = false;
		}
}

static void print_conds(FILE *out, const struct rules_cond *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fprintf(out, " `%s%s", c[i].key, c[i].negate ? "!=" : "=");
		for (size_t k = 0; k < c[i].nvalues; k++)
			fprintf(out, "%s%s", k ? "|" : "", c[i].values[k]);
		fputc('`', out);
	}
}

int rules_print_vocabulary(FILE *out, const struct rules *r)
{
	fputs("Roles (`role=ROLE[,ROLE...]` on a host):\n\n", out);
	for (size_t i = 1; i < r->nroles; i++)
		fprintf(out, "- `%s`: %s\n", r->roles[i].name, r->roles[i].desc ? r->roles[i].desc : "");
	fputs("\nAttributes (`KEY=VALUE` on a host; `set KEY VALUE` for the site):\n\n", out);
	for (size_t i = 0; i < r->nattrs; i++) {
		const struct rules_attr *a = &r->attrs[i];
		fprintf(out, "- `%s`: %s. ", a->key, a->desc);
		if (a->site_setting) {
			fputs("Site setting", out);
		} else {
			fputs("On ", out);
			print_roles(out, r, a->roles);
		}
		if (a->values) {
			fputs(a->list ? "; one or more of " : "; one of ", out);
			for (size_t k = 0; k < a->nvalues; k++)
				fprintf(out, "%s`%s`", k ? ", " : "", a->values[k]);
			if (a->list)
				fputs(", comma-separated", out);
		} else if (a->ref == REF_ROLE) {
			fprintf(out, "; the name%s of `%s` host%s", a->list ? "s" : "", r->roles[a->ref_role].name,
				a->list ? "s, comma-separated" : "");
		} else if (a->ref == REF_SYSTEM) {
			fprintf(out, "; the name%s of storage system%s (a `system=` of its hosts)", a->list ? "s" : "",
				a->list ? "s, comma-separated" : "");
		} else if (a->ref == REF_HOST) {
			fprintf(out, "; the name%s of a host%s", a->list ? "s" : "", a->list ? ", comma-separated" : "");
			if (a->gives_role > 0)
				fprintf(out, ", which then plays `%s`", r->roles[a->gives_role].name);
		} else if (a->ref == REF_NAMES_SYSTEM) {
			fputs("; a name shared by the hosts of one storage system", out);
		}
		if (a->def)
			fprintf(out, "; default `%s`", a->def);
		for (size_t k = 0; k < a->nreqs; k++) {
			fputs(k ? "; also required" : "; required", out);
			if (a->reqs[k].roles) {
				fputs(" for ", out);
				print_roles(out, r, a->reqs[k].roles);
			}
			if (a->reqs[k].nconds) {
				fputs(" when", out);
				print_conds(out, a->reqs[k].conds, a->reqs[k].nconds);
			}
		}
		fputs(".\n", out);
	}
	fputs("\nPort parameters (`set NAME PORT` for the site, `NAME=PORT` on a server host):\n\n", out);
	for (size_t i = 0; i < r->nparams; i++) {
		const struct rules_param *p = &r->params[i];
		fprintf(out, "- `%s` %u", p->name, p->port);
		if (p->nconds) {
			fputs(" when", out);
			print_conds(out, p->conds, p->nconds);
		}
		fprintf(out, "%s%s\n", p->desc ? ": " : "", p->desc ? p->desc : "");
	}
	return ferror(out) ? -1 : 0;
}

bool rules_value_has(const char *value, const char *item)
{
	size_t n = strlen(item);
	for (const char *v = value; v && *v;) {
		const char *comma = strchr(v, ',');
		size_t len = comma ? (size_t)(comma - v) : strlen(v);
		if (len == n && strncmp(v, item, n) == 0)
			return true;
		if (!comma)
			break;
		v = comma + 1;
	}
	return false;
}

static const char *const scope_names[] = {"any", "partner", "brokers", "cee"};
static const char *const level_names[] = {"required", "optional", "forbidden"};

const char *rules_level_name(enum rules_level l)
{
	return level_names[l];
}

const char *rules_proto_name(uint8_t proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "ip";
}

void rules_init(struct rules *r)
{
	memset(r, 0, sizeof(*r));
	GROW(r->roles, r->cap_roles, 0);
	r->roles[0].name = xstrdup("internet");
	r->roles[0].desc = xstrdup("any address outside the site");
	r->roles[0].group = -1;
	r->nroles = 1;
}

static void cond_clear(struct rules_cond *c)
{
	free(c->key);
	for (size_t k = 0; k < c->nvalues; k++)
		free(c->values[k]);
	free(c->values);
	memset(c, 0, sizeof(*c));
}

static void free_conds(struct rules_cond *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cond_clear(&c[i]);
	free(c);
}

static void attr_free(struct rules_attr *a)
{
	free(a->key);
	free(a->desc);
	for (size_t k = 0; k < a->nvalues; k++)
		free(a->values[k]);
	free(a->values);
	free(a->def);
	for (size_t k = 0; k < a->nreqs; k++)
		free_conds(a->reqs[k].conds, a->reqs[k].nconds);
	free(a->reqs);
	free(a->file);
}

void rules_free(struct rules *r)
{
	for (size_t i = 0; i < r->nroles; i++) {
		free(r->roles[i].name);
		free(r->roles[i].desc);
	}
	for (size_t i = 0; i < r->nparams; i++) {
		free(r->params[i].name);
		free(r->params[i].desc);
		free_conds(r->params[i].conds, r->params[i].nconds);
	}
	for (size_t i = 0; i < r->nservices; i++) {
		free(r->services[i].name);
		free(r->services[i].desc);
		free(r->services[i].ports);
	}
	for (size_t i = 0; i < r->nedges; i++) {
		struct rules_edge *e = &r->edges[i];
		free(e->requirement);
		free(e->ports);
		free_conds(e->conds, e->nconds);
		free(e->note);
		free(e->file);
	}
	for (size_t i = 0; i < r->nignores; i++)
		free(r->ignores[i].why);
	for (size_t i = 0; i < r->nspeaks; i++)
		free(r->speaks[i].why);
	free(r->speaks);
	for (size_t i = 0; i < r->nlearns; i++) {
		free(r->learns[i].name);
		free(r->learns[i].desc);
	}
	free(r->learns);
	for (size_t i = 0; i < r->nattrs; i++)
		attr_free(&r->attrs[i]);
	free(r->attrs);
	for (size_t i = 0; i < r->ngroups; i++)
		free(r->groups[i]);
	free(r->groups);
	for (size_t i = 0; i < r->nloaded; i++)
		free(r->loaded[i]);
	free(r->roles);
	free(r->params);
	free(r->services);
	free(r->edges);
	free(r->ignores);
	free(r->loaded);
	memset(r, 0, sizeof(*r));
}

int rules_role_find(const struct rules *r, const char *name)
{
	for (size_t i = 0; i < r->nroles; i++)
		if (strcmp(r->roles[i].name, name) == 0)
			return (int)i;
	return -1;
}

int rules_param_find(const struct rules *r, const char *name)
{
	for (size_t i = 0; i < r->nparams; i++)
		if (strcmp(r->params[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int service_find(const struct rules *r, const char *name)
{
	for (size_t i = 0; i < r->nservices; i++)
		if (strcmp(r->services[i].name, name) == 0)
			return (int)i;
	return -1;
}

bool rules_cond_holds(const struct rules_cond *c, const char *value)
{
	/* A list value (data=smb,nfs) meets key=V when it holds V, and key!=V when it holds none of them. */
	bool any = false;
	for (size_t i = 0; value && i < c->nvalues; i++)
		if (rules_value_has(value, c->values[i]))
			any = true;
	return c->negate ? !any : any;
}

const struct rules_learn *rules_learn_of(const struct rules *r, uint32_t program)
{
	for (size_t i = 0; i < r->nlearns; i++)
		if (r->learns[i].program == program)
			return &r->learns[i];
	return NULL;
}

uint32_t rules_speaks_on(const struct rules *r, uint8_t proto, uint16_t port)
{
	uint32_t apps = 0;
	for (size_t i = 0; i < r->nspeaks; i++)
		if (r->speaks[i].proto == proto && port >= r->speaks[i].lo && port <= r->speaks[i].hi)
			apps |= r->speaks[i].apps;
	return apps;
}

const char *rules_ignored(const struct rules *r, uint8_t proto, uint16_t port)
{
	for (size_t i = 0; i < r->nignores; i++)
		if (r->ignores[i].proto == proto && port >= r->ignores[i].lo && port <= r->ignores[i].hi)
			return r->ignores[i].why;
	return NULL;
}

/* ---- the parser ---- */

struct parser {
	struct rules *r;
	struct lex_file *lf;
	struct diag *d;
	size_t pos, end;        /* tokens of the current statement: [pos, end) */
	int errors;
	char **stack;           /* include stack of real paths, for cycle detection */
	size_t depth;
};

static void err_tok(struct parser *p, const struct lex_tok *t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void err_tok(struct parser *p, const struct lex_tok *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct diag_loc loc = lex_loc(p->lf, t);
	diag_vadd(p->d, &loc, fmt, ap);
	va_end(ap);
	p->errors++;
}

static const struct lex_tok *peek(struct parser *p)
{
	return p->pos < p->end ? &p->lf->toks[p->pos] : NULL;
}

/* Report "expected WHAT" at the next token, or just after the statement's last token. */
static void err_expected(struct parser *p, const char *what)
{
	const struct lex_tok *t = peek(p);
	if (t) {
		err_tok(p, t, "expected %s, found '%s'", what, t->s);
		return;
	}
	const struct lex_tok *last = &p->lf->toks[p->end - 1];
	struct diag_loc loc = lex_loc_at(p->lf, last, last->len, 1);
	diag_add(p->d, &loc, "expected %s after '%s'", what, last->s);
	p->errors++;
}

static const struct lex_tok *expect(struct parser *p, enum lex_type type, const char *what)
{
	const struct lex_tok *t = peek(p);
	if (!t || t->type != type) {
		err_expected(p, what);
		return NULL;
	}
	p->pos++;
	return t;
}

static bool is_ident(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_'))
			return false;
	return true;
}

static const struct lex_tok *expect_ident(struct parser *p, const char *what)
{
	const struct lex_tok *t = expect(p, LEX_WORD, what);
	if (t && !is_ident(t->s)) {
		err_tok(p, t, "'%s' is not a valid name (letters, digits, '-' and '_', starting with a letter)",
			t->s);
		return NULL;
	}
	return t;
}

static void suggest_from(struct parser *p, const struct lex_tok *t, const char *kind, const char *word,
			 const char *const *cands, size_t n)
{
	const char *s = diag_suggest(word, cands, n);
	if (s)
		err_tok(p, t, "unknown %s '%s'; did you mean '%s'?", kind, word, s);
	else
		err_tok(p, t, "unknown %s '%s'", kind, word);
}

static int role_ref(struct parser *p)
{
	const struct lex_tok *t = expect(p, LEX_WORD, "a role name");
	if (!t)
		return -1;
	int i = rules_role_find(p->r, t->s);
	if (i >= 0)
		return i;
	const char **names = xcalloc(p->r->nroles, sizeof(*names));
	for (size_t k = 0; k < p->r->nroles; k++)
		names[k] = p->r->roles[k].name;
	suggest_from(p, t, "role", t->s, names, p->r->nroles);
	free(names);
	return -1;
}

/* PROTO/PORT, PROTO/$param or (ranges allowed) PROTO/LO-HI. "both" yields two entries. */
struct portspec {
	uint8_t protos[2];
	int nprotos;
	uint16_t lo, hi;
	int param;
};

static bool parse_portspec(struct parser *p, const struct lex_tok *t, bool allow_range, struct portspec *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->param = -1;
	const char *slash = strchr(t->s, '/');
	if (!slash) {
		err_tok(p, t, "expected PROTO/PORT (tcp/445, udp/138, both/137) or a service name, found '%s'",
			t->s);
		return false;
	}
	size_t plen = (size_t)(slash - t->s);
	if (plen == 3 && strncmp(t->s, "tcp", 3) == 0) {
		ps->protos[ps->nprotos++] = IPPROTO_TCP;
	} else if (plen == 3 && strncmp(t->s, "udp", 3) == 0) {
		ps->protos[ps->nprotos++] = IPPROTO_UDP;
	} else if (plen == 4 && strncmp(t->s, "both", 4) == 0) {
		ps->protos[ps->nprotos++] = IPPROTO_TCP;
		ps->protos[ps->nprotos++] = IPPROTO_UDP;
	} else {
		struct diag_loc loc = lex_loc_at(p->lf, t, 0, (int)plen);
		diag_add(p->d, &loc, "unknown protocol '%.*s' (expected tcp, udp or both)", (int)plen, t->s);
		p->errors++;
		return false;
	}
	const char *port = slash + 1;
	int off = (int)(port - t->s);
	if (*port == '$') {
		ps->param = rules_param_find(p->r, port + 1);
		if (ps->param < 0) {
			struct diag_loc loc = lex_loc_at(p->lf, t, off, t->len - off);
			diag_add(p->d, &loc, "undefined parameter '%s'", port);
			p->errors++;
			return false;
		}
		ps->lo = ps->hi = p->r->params[ps->param].port;
		return true;
	}
	char buf[16];
	const char *dash = strchr(port, '-');
	bool ok;
	if (dash && allow_range) {
		size_t n = (size_t)(dash - port);
		ok = n < sizeof(buf);
		if (ok) {
			memcpy(buf, port, n);
			buf[n] = '\0';
			ok = port_parse(buf, &ps->lo) && port_parse(dash + 1, &ps->hi) && ps->lo <= ps->hi;
		}
	} else {
		ok = port_parse(port, &ps->lo);
		ps->hi = ps->lo;
	}
	if (!ok) {
		struct diag_loc loc = lex_loc_at(p->lf, t, off, t->len - off);
		diag_add(p->d, &loc, "bad port '%s' (expected 1-65535%s)", port, allow_range ? " or LO-HI" : "");
		p->errors++;
	}
	return ok;
}

static void add_port(struct rules_port **ports, size_t *n, size_t *cap, uint8_t proto, uint16_t port,
		     int param, int group)
{
	GROW(*ports, *cap, *n);
	struct rules_port *rp = &(*ports)[(*n)++];
	rp->proto = proto;
	rp->port = port;
	rp->param = param;
	rp->group = group;
}

/* SERVICES: ITEM {, ITEM}; ITEM: NAME | PORTSPEC | PORTSPEC '|' PORTSPEC ... (alternatives). */
static bool parse_services(struct parser *p, struct rules_port **ports, size_t *n, size_t *cap, int *ngroups)
{
	for (;;) {
		const struct lex_tok *t = expect(p, LEX_WORD, "a service or PROTO/PORT");
		if (!t)
			return false;
		int si = strchr(t->s, '/') ? -1 : service_find(p->r, t->s);
		const struct lex_tok *nx = peek(p);
		bool alternatives = nx && nx->type == LEX_PIPE;
		if (si >= 0) {
			if (alternatives) {
				err_tok(p, t, "a named service cannot be an alternative; list its ports instead");
				return false;
			}
			const struct rules_service *s = &p->r->services[si];
			for (size_t k = 0; k < s->nports; k++)
				add_port(ports, n, cap, s->ports[k].proto, s->ports[k].port, s->ports[k].param,
					 (*ngroups)++);
		} else if (!strchr(t->s, '/')) {
			const char **names = xcalloc(p->r->nservices + 1, sizeof(*names));
			for (size_t k = 0; k < p->r->nservices; k++)
				names[k] = p->r->services[k].name;
			suggest_from(p, t, "service", t->s, names, p->r->nservices);
			free(names);
			return false;
		} else {
			int group = (*ngroups)++;
			for (;;) {
				struct portspec ps;
				if (!parse_portspec(p, t, false, &ps))
					return false;
				if (alternatives && ps.nprotos > 1) {
					err_tok(p, t, "an alternative must name one protocol, not 'both'");
					return false;
				}
				for (int k = 0; k < ps.nprotos; k++)
					add_port(ports, n, cap, ps.protos[k], ps.lo, ps.param,
						 k == 0 ? group : (*ngroups)++);
				nx = peek(p);
				if (!nx || nx->type != LEX_PIPE)
					break;
				p->pos++;
				t = expect(p, LEX_WORD, "PROTO/PORT after '|'");
				if (!t)
					return false;
			}
		}
		nx = peek(p);
		if (!nx || nx->type != LEX_COMMA)
			return true;
		p->pos++;
	}
}

/* COND: KEY=V[|V...] or KEY!=V[|V...]; KEY is a known attribute or a parameter. */
static bool parse_cond(struct parser *p, struct rules_cond *c)
{
	memset(c, 0, sizeof(*c));
	const struct lex_tok *t = expect(p, LEX_WORD, "a condition KEY=VALUE");
	if (!t)
		return false;
	const char *eq = strchr(t->s, '=');
	if (!eq || eq == t->s) {
		err_tok(p, t, "expected a condition KEY=VALUE or KEY!=VALUE, found '%s'", t->s);
		return false;
	}
	size_t klen = (size_t)(eq - t->s);
	if (t->s[klen - 1] == '!') {
		c->negate = true;
		klen--;
	}
	c->key = xstrndup(t->s, klen);
	const struct rules_attr *a = rules_attr_find(p->r, c->key);
	if (!a && rules_param_find(p->r, c->key) < 0) {
		const char *names[64];
		size_t nn = 0;
		for (size_t k = 0; k < p->r->nattrs && nn < 64; k++)
			names[nn++] = p->r->attrs[k].key;
		const char *s = diag_suggest(c->key, names, nn);
		struct diag_loc loc = lex_loc_at(p->lf, t, 0, (int)klen);
		if (s)
			diag_add(p->d, &loc, "unknown attribute '%s'; did you mean '%s'?", c->key, s);
		else
			diag_add(p->d, &loc, "unknown attribute '%s'", c->key);
		p->errors++;
		return false;
	}
	/* Values: the rest of this word, then '|' WORD ... */
	const struct lex_tok *vt = t;
	const char *v = eq + 1;
	int voff = (int)(v - t->s);
	for (;;) {
		if (!*v) {
			struct diag_loc loc = lex_loc_at(p->lf, vt, voff, 1);
			diag_add(p->d, &loc, "expected a value after '='");
			p->errors++;
			return false;
		}
		if (a && a->values) {
			bool known = false;
			for (size_t k = 0; k < a->nvalues; k++)
				known |= strcmp(a->values[k], v) == 0;
			if (!known) {
				const char *s = diag_suggest(v, (const char *const *)a->values, a->nvalues);
				struct diag_loc loc = lex_loc_at(p->lf, vt, voff, (int)strlen(v));
				diag_add(p->d, &loc, "'%s' is not a value of '%s'%s%s%s", v, c->key,
					 s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
				p->errors++;
				return false;
			}
		}
		c->values = xrealloc(c->values, (c->nvalues + 1) * sizeof(*c->values));
		c->values[c->nvalues++] = xstrdup(v);
		const struct lex_tok *nx = peek(p);
		if (!nx || nx->type != LEX_PIPE)
			return true;
		p->pos++;
		vt = expect(p, LEX_WORD, "a value after '|'");
		if (!vt)
			return false;
		v = vt->s;
		voff = 0;
	}
}

/* "when COND..." : conditions until a word that is not KEY=VALUE. */
static bool parse_when(struct parser *p, struct rules_cond **conds, size_t *n, size_t *cap)
{
	bool any = false;
	for (;;) {
		const struct lex_tok *t = peek(p);
		if (!t || t->type != LEX_WORD || !strchr(t->s, '=') || strncmp(t->s, "scope=", 6) == 0)
			break;
		GROW(*conds, *cap, *n);
		if (!parse_cond(p, &(*conds)[*n])) {
			cond_clear(&(*conds)[*n]);
			return false;
		}
		(*n)++;
		any = true;
	}
	if (!any)
		err_expected(p, "a condition KEY=VALUE after 'when'");
	return any;
}

static bool end_of_statement(struct parser *p)
{
	const struct lex_tok *t = peek(p);
	if (!t)
		return true;
	err_tok(p, t, "unexpected '%s' at the end of the statement", t->s);
	return false;
}

static void parse_role(struct parser *p)
{
	const struct lex_tok *name = expect_ident(p, "a role name");
	if (!name)
		return;
	if (rules_role_find(p->r, name->s) >= 0) {
		err_tok(p, name, "duplicate role '%s'", name->s);
		return;
	}
	const struct lex_tok *desc = expect(p, LEX_STRING, "a quoted description");
	if (!desc)
		return;
	/* group NAME: where reports draw the role's hosts (storage, agents, management, ...). */
	const struct lex_tok *gt = NULL, *t = peek(p);
	if (t && t->type == LEX_WORD && strcmp(t->s, "group") == 0) {
		p->pos++;
		if (!(gt = expect_ident(p, "a group name")))
			return;
		t = peek(p);
	}
	/* apart: its hosts are known, but not part of the product: their flows are listed apart. */
	bool apart = t && t->type == LEX_WORD && strcmp(t->s, "apart") == 0;
	if (apart)
		p->pos++;
	if (!end_of_statement(p))
		return;
	if (p->r->nroles >= RULES_MAX_ROLES) {
		err_tok(p, name, "too many roles (at most %d)", RULES_MAX_ROLES);
		return;
	}
	int group = -1;
	for (size_t i = 0; gt && i < p->r->ngroups && group < 0; i++)
		if (strcmp(p->r->groups[i], gt->s) == 0)
			group = (int)i;
	if (gt && group < 0) {
		p->r->groups = xrealloc(p->r->groups, (p->r->ngroups + 1) * sizeof(char *));
		p->r->groups[p->r->ngroups] = xstrdup(gt->s);
		group = (int)p->r->ngroups++;
	}
	GROW(p->r->roles, p->r->cap_roles, p->r->nroles);
	p->r->roles[p->r->nroles].name = xstrdup(name->s);
	p->r->roles[p->r->nroles].desc = xstrdup(desc->s);
	p->r->roles[p->r->nroles].group = group;
	p->r->roles[p->r->nroles].apart = apart;
	p->r->nroles++;
}

/* param NAME PORT [when COND...] ["description"] */
/* WORD {, WORD}: the items of a list, as new strings; false (with an error) on a missing item. */
static bool parse_words(struct parser *p, const char *what, char ***out, size_t *n)
{
	for (;;) {
		const struct lex_tok *t = expect(p, LEX_WORD, what);
		if (!t)
			return false;
		*out = xrealloc(*out, (*n + 1) * sizeof(char *));
		(*out)[(*n)++] = xstrdup(t->s);
		const struct lex_tok *nx = peek(p);
		if (!nx || nx->type != LEX_COMMA)
			return true;
		p->pos++;
	}
}

/* attr KEY "DESCRIPTION" [on site | on ROLE{,ROLE}] [values V{,V}] [list] [default V]
 *      [refs system|host|ROLE | names system] {required [for ROLE{,ROLE}] [when COND...]} */
static void parse_attr(struct parser *p)
{
	const struct lex_tok *name = expect_ident(p, "an attribute name");
	if (!name)
		return;
	if (rules_attr_find(p->r, name->s) || rules_param_find(p->r, name->s) >= 0 || strcmp(name->s, "role") == 0) {
		err_tok(p, name, "'%s' is already declared", name->s);
		return;
	}
	struct rules_attr a = {.ref_role = -1, .gives_role = -1};
	const struct lex_tok *d = expect(p, LEX_STRING, "a description in quotes");
	if (!d)
		return;
	a.desc = xstrdup(d->s);
	size_t cap = 0, cap_reqs = 0;
	bool ok = true;
	for (const struct lex_tok *t; ok && (t = peek(p)) && t->type == LEX_WORD;) {
		p->pos++;
		if (strcmp(t->s, "on") == 0) {
			for (;;) {
				const struct lex_tok *w = expect(p, LEX_WORD, "a role, or 'site'");
				int role = w ? rules_role_find(p->r, w->s) : -1;
				if (!w) {
					ok = false;
				} else if (strcmp(w->s, "site") == 0) {
					a.site_setting = true;
				} else if (role <= RULES_ROLE_INTERNET) {
					err_tok(p, w, "unknown role '%s' (roles are declared before the attributes of their hosts)",
						w->s);
					ok = false;
				} else {
					a.roles |= (uint64_t)1 << role;
				}
				const struct lex_tok *nx = peek(p);
				if (!ok || !nx || nx->type != LEX_COMMA)
					break;
				p->pos++;
			}
		} else if (strcmp(t->s, "values") == 0) {
			ok = parse_words(p, "a value", &a.values, &a.nvalues);
		} else if (strcmp(t->s, "list") == 0) {
			a.list = true;
		} else if (strcmp(t->s, "default") == 0) {
			const struct lex_tok *v = expect(p, LEX_WORD, "a default value");
			ok = v != NULL;
			if (v && a.def) {
				err_tok(p, t, "'%s' has a default already ('%s')", name->s, a.def);
				ok = false;
			} else if (v) {
				a.def = xstrdup(v->s);
			}
		} else if (strcmp(t->s, "refs") == 0 || strcmp(t->s, "names") == 0) {
			const struct lex_tok *v = expect(p, LEX_WORD, "system, host or a role");
			ok = v != NULL;
			if (v && strcmp(t->s, "names") == 0) {
				a.ref = REF_NAMES_SYSTEM;
				if (strcmp(v->s, "system") != 0) {
					err_tok(p, v, "an attribute names a 'system', not '%s'", v->s);
					ok = false;
				}
			} else if (v && strcmp(v->s, "system") == 0) {
				a.ref = REF_SYSTEM;
			} else if (v && strcmp(v->s, "host") == 0) {
				a.ref = REF_HOST;
			} else if (v) {
				a.ref = REF_ROLE;
				a.ref_role = rules_role_find(p->r, v->s);
				if (a.ref_role <= RULES_ROLE_INTERNET) {
					err_tok(p, v, "unknown role '%s' (refs takes system, host or a role)", v->s);
					ok = false;
				}
			}
		} else if (strcmp(t->s, "gives") == 0) {
			const struct lex_tok *v = expect(p, LEX_WORD, "a role");
			a.gives_role = v ? rules_role_find(p->r, v->s) : -1;
			if (v && a.gives_role <= RULES_ROLE_INTERNET)
				err_tok(p, v, "unknown role '%s'", v->s);
			ok = a.gives_role > RULES_ROLE_INTERNET;
		} else if (strcmp(t->s, "required") == 0) {
			struct rules_require rq = {0};
			const struct lex_tok *w = peek(p);
			if (w && w->type == LEX_WORD && strcmp(w->s, "for") == 0) {
				p->pos++;
				for (;;) {
					const struct lex_tok *rt = expect(p, LEX_WORD, "a role");
					int role = rt ? rules_role_find(p->r, rt->s) : -1;
					if (rt && role <= RULES_ROLE_INTERNET)
						err_tok(p, rt, "unknown role '%s'", rt->s);
					if (role <= RULES_ROLE_INTERNET) {
						ok = false;
						break;
					}
					rq.roles |= (uint64_t)1 << role;
					const struct lex_tok *nx = peek(p);
					if (!nx || nx->type != LEX_COMMA)
						break;
					p->pos++;
				}
				w = peek(p);
			}
			cap = 0;
			if (ok && w && w->type == LEX_WORD && strcmp(w->s, "when") == 0) {
				p->pos++;
				ok = parse_when(p, &rq.conds, &rq.nconds, &cap);
			}
			GROW(a.reqs, cap_reqs, a.nreqs);
			a.reqs[a.nreqs++] = rq;
		} else {
			static const char *const words_ok[] = {"on", "values", "list", "default", "refs", "names", "gives", "required"};
			suggest_from(p, t, "attribute clause", t->s, words_ok, sizeof(words_ok) / sizeof(words_ok[0]));
			ok = false;
		}
	}
	if (ok && a.def && a.values) {
		bool known = false;
		for (size_t i = 0; i < a.nvalues; i++)
			known |= strcmp(a.values[i], a.def) == 0;
		if (!known) {
			err_tok(p, name, "the default '%s' of '%s' is not one of its values", a.def, name->s);
			ok = false;
		}
	}
	if (ok && a.gives_role > 0 && a.ref != REF_HOST) {
		err_tok(p, name, "'gives' goes with 'refs host': the host named takes the role");
		ok = false;
	}
	if (ok && !a.site_setting && !a.roles) {
		err_tok(p, name, "'%s': say which hosts take it ('on ROLE,...') or 'on site'", name->s);
		ok = false;
	}
	if (!ok || !end_of_statement(p)) {
		attr_free(&a);
		return;
	}
	a.key = xstrdup(name->s);
	a.file = xstrdup(p->lf->path);
	a.line = name->line;
	GROW(p->r->attrs, p->r->cap_attrs, p->r->nattrs);
	p->r->attrs[p->r->nattrs++] = a;
}

static void parse_param(struct parser *p)
{
	const struct lex_tok *name = expect_ident(p, "a parameter name");
	if (!name)
		return;
	const struct lex_tok *pt = expect(p, LEX_WORD, "a port number");
	if (!pt)
		return;
	uint16_t port;
	if (!port_parse(pt->s, &port)) {
		err_tok(p, pt, "bad port '%s' (expected 1-65535)", pt->s);
		return;
	}
	struct rules_param prm = {.port = port};
	size_t cap = 0;
	const struct lex_tok *t = peek(p);
	if (t && t->type == LEX_WORD && strcmp(t->s, "when") == 0) {
		p->pos++;
		if (!parse_when(p, &prm.conds, &prm.nconds, &cap)) {
			free_conds(prm.conds, prm.nconds);
			return;
		}
	}
	t = peek(p);
	if (t && t->type == LEX_STRING) {
		prm.desc = xstrdup(t->s);
		p->pos++;
	}
	int prev = rules_param_find(p->r, name->s);
	if (!end_of_statement(p) || (prev >= 0 && prm.nconds == 0)) {
		if (prev >= 0 && prm.nconds == 0)
			err_tok(p, name, "duplicate parameter '%s' (a second default needs a 'when')", name->s);
		free_conds(prm.conds, prm.nconds);
		free(prm.desc);
		return;
	}
	prm.name = xstrdup(name->s);
	GROW(p->r->params, p->r->cap_params, p->r->nparams);
	p->r->params[p->r->nparams++] = prm;
}

/* service NAME PORTSPEC {, PORTSPEC} ["description"] */
static void parse_service(struct parser *p)
{
	const struct lex_tok *name = expect_ident(p, "a service name");
	if (!name)
		return;
	if (service_find(p->r, name->s) >= 0 || strcmp(name->s, "tcp") == 0 || strcmp(name->s, "udp") == 0) {
		err_tok(p, name, "duplicate service '%s'", name->s);
		return;
	}
	struct rules_service s = {0};
	size_t cap = 0;
	int ngroups = 0;
	bool ok = parse_services(p, &s.ports, &s.nports, &cap, &ngroups);
	const struct lex_tok *t = peek(p);
	if (ok && t && t->type == LEX_STRING) {
		s.desc = xstrdup(t->s);
		p->pos++;
	}
	if (!ok || !end_of_statement(p)) {
		free(s.ports);
		free(s.desc);
		return;
	}
	s.name = xstrdup(name->s);
	GROW(p->r->services, p->r->cap_services, p->r->nservices);
	p->r->services[p->r->nservices++] = s;
}

/* edge "REQ" CLIENT ->|<-> SERVER SERVICES required|optional [scope=S] [when COND...] [note "TEXT"]
 * forbid "WHY" CLIENT ->|<-> SERVER SERVICES [scope=S] [when COND...] */
static void parse_edge(struct parser *p, bool forbid)
{
	struct rules_edge e = {.via = -1};
	const struct lex_tok *req = expect(p, LEX_STRING, forbid ? "a quoted reason" : "a quoted requirement");
	if (!req)
		return;
	for (size_t i = 0; !forbid && i < p->r->nedges; i++)
		if (p->r->edges[i].level != LEVEL_FORBID && strcmp(p->r->edges[i].requirement, req->s) == 0) {
			err_tok(p, req, "duplicate requirement \"%s\" (first at %s:%d)", req->s,
				p->r->edges[i].file, p->r->edges[i].line);
			return;
		}
	e.client = role_ref(p);
	if (e.client < 0)
		return;
	const struct lex_tok *arrow = expect(p, LEX_WORD, "'->' or '<->'");
	if (!arrow)
		return;
	if (strcmp(arrow->s, "<->") == 0) {
		e.both_ways = true;
	} else if (strcmp(arrow->s, "->") != 0) {
		err_tok(p, arrow, "expected '->' or '<->', found '%s'", arrow->s);
		return;
	}
	e.server = role_ref(p);
	if (e.server < 0)
		return;
	if (e.client == RULES_ROLE_INTERNET && e.both_ways) {
		err_tok(p, arrow, "the internet cannot be the client of an edge");
		return;
	}
	if (!parse_services(p, &e.ports, &e.nports, &e.cap_ports, &e.ngroups))
		goto fail;
	e.level = LEVEL_FORBID;
	if (!forbid) {
		const struct lex_tok *lv = expect(p, LEX_WORD, "'required' or 'optional'");
		if (!lv)
			goto fail;
		if (strcmp(lv->s, "required") == 0) {
			e.level = LEVEL_REQUIRED;
		} else if (strcmp(lv->s, "optional") == 0) {
			e.level = LEVEL_OPTIONAL;
		} else {
			err_tok(p, lv, "expected 'required' or 'optional', found '%s'", lv->s);
			goto fail;
		}
	}
	for (const struct lex_tok *t; (t = peek(p));) {
		if (t->type == LEX_WORD && strncmp(t->s, "scope=", 6) == 0) {
			p->pos++;
			bool found = false;
			for (size_t k = 0; k < sizeof(scope_names) / sizeof(scope_names[0]); k++)
				if (strcmp(t->s + 6, scope_names[k]) == 0) {
					e.scope = (enum rules_scope)k;
					found = true;
				}
			if (!found) {
				struct diag_loc loc = lex_loc_at(p->lf, t, 6, t->len - 6);
				diag_add(p->d, &loc, "unknown scope '%s' (expected any, partner, brokers or cee)",
					 t->s + 6);
				p->errors++;
				goto fail;
			}
		} else if (t->type == LEX_WORD && strcmp(t->s, "via") == 0) {
			p->pos++;
			e.via = role_ref(p);
			if (e.via < 0)
				goto fail;
		} else if (t->type == LEX_WORD && strcmp(t->s, "when") == 0) {
			p->pos++;
			if (!parse_when(p, &e.conds, &e.nconds, &e.cap_conds))
				goto fail;
		} else if (t->type == LEX_WORD && strcmp(t->s, "note") == 0 && !forbid) {
			p->pos++;
			const struct lex_tok *n = expect(p, LEX_STRING, "a quoted note");
			if (!n)
				goto fail;
			free(e.note);
			e.note = xstrdup(n->s);
		} else {
			err_tok(p, t, "unexpected '%s' (expected scope=, via, when%s or the end of the statement)", t->s,
				forbid ? "" : ", note");
			goto fail;
		}
	}
	if (e.via >= 0 && e.scope != SCOPE_CEE) {
		err_tok(p, req, "'via' only applies to scope=cee");
		goto fail;
	}
	e.requirement = xstrdup(req->s);
	e.file = xstrdup(p->lf->path);
	e.line = req->line;
	GROW(p->r->edges, p->r->cap_edges, p->r->nedges);
	p->r->edges[p->r->nedges++] = e;
	return;
fail:
	free(e.ports);
	free_conds(e.conds, e.nconds);
	free(e.note);
}

/* ignore PORTSPEC {, PORTSPEC} "WHY" */
/* PORTSPEC {, PORTSPEC} "WHY" (of ignore and speaks): the ports into specs (at most 32), the reason.
 * Returns how many, or -1 after an error. */
static int parse_port_list(struct parser *p, const char *what, struct portspec specs[32], const struct lex_tok **why)
{
	int n = 0;
	for (;;) {
		const struct lex_tok *t = expect(p, LEX_WORD, "PROTO/PORT or PROTO/LO-HI");
		if (!t)
			return -1;
		if (n == 32) {
			err_tok(p, t, "too many ports in one %s (at most 32)", what);
			return -1;
		}
		if (!parse_portspec(p, t, true, &specs[n]))
			return -1;
		n++;
		const struct lex_tok *nx = peek(p);
		if (!nx || nx->type != LEX_COMMA)
			break;
		p->pos++;
	}
	*why = expect(p, LEX_STRING, "a quoted reason");
	if (!*why || !end_of_statement(p))
		return -1;
	return n;
}

/* speaks APP {| APP} PORTSPEC {, PORTSPEC} "WHY" */
static void parse_speaks(struct parser *p)
{
	uint32_t apps = 0;
	for (;;) {
		const struct lex_tok *t = expect(p, LEX_WORD, "an application (tls, fpolicy, smb, onc-rpc ...)");
		if (!t)
			return;
		int a = APP_TLS;
		while (a < APP_NPROTO && strcmp(app_proto_name((enum app_proto)a), t->s))
			a++;
		if (a == APP_NPROTO) {
			const char *names[APP_NPROTO];
			size_t nn = 0;
			for (int k = APP_TLS; k < APP_NPROTO; k++)
				names[nn++] = app_proto_name((enum app_proto)k);
			suggest_from(p, t, "application", t->s, names, nn);
			return;
		}
		apps |= 1u << a;
		const struct lex_tok *nx = peek(p);
		if (!nx || nx->type != LEX_PIPE)
			break;
		p->pos++;
	}
	struct portspec specs[32];
	const struct lex_tok *why;
	int n = parse_port_list(p, "speaks", specs, &why);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < specs[i].nprotos; k++) {
			GROW(p->r->speaks, p->r->cap_speaks, p->r->nspeaks);
			struct rules_speaks *sp = &p->r->speaks[p->r->nspeaks++];
			sp->apps = apps;
			sp->proto = specs[i].protos[k];
			sp->lo = specs[i].lo;
			sp->hi = specs[i].hi;
			sp->why = xstrdup(why->s);
		}
}

/* learn onc-rpc PROGRAM NAME "DESCRIPTION" */
static void parse_learn(struct parser *p)
{
	const struct lex_tok *kind = expect(p, LEX_WORD, "what is learnt (onc-rpc)");
	if (!kind)
		return;
	if (strcmp(kind->s, "onc-rpc")) {
		err_tok(p, kind, "only onc-rpc programs are learnt (their ports, from the portmapper), not '%s'", kind->s);
		return;
	}
	const struct lex_tok *num = expect(p, LEX_WORD, "an RPC program number (100005)");
	if (!num)
		return;
	char *end;
	errno = 0;
	unsigned long prog = strtoul(num->s, &end, 10);
	if (*end || end == num->s || num->s[0] == '-' || errno || prog == 0 || prog > UINT32_MAX) {
		err_tok(p, num, "bad RPC program number '%s'", num->s);
		return;
	}
	if (prog == APP_RPC_PORTMAP) {
		err_tok(p, num, "%lu is the portmapper itself: its port is fixed (a service of an edge)", prog);
		return;
	}
	if (rules_learn_of(p->r, (uint32_t)prog)) {
		err_tok(p, num, "program %lu is learnt already", prog);
		return;
	}
	const struct lex_tok *name = expect_ident(p, "the program's name (mountd)");
	if (!name)
		return;
	const struct lex_tok *desc = expect(p, LEX_STRING, "a quoted description");
	if (!desc || !end_of_statement(p))
		return;
	GROW(p->r->learns, p->r->cap_learns, p->r->nlearns);
	p->r->learns[p->r->nlearns++] = (struct rules_learn){(uint32_t)prog, xstrdup(name->s), xstrdup(desc->s)};
}

static void parse_ignore(struct parser *p)
{
	struct portspec specs[32];
	const struct lex_tok *why;
	int n = parse_port_list(p, "ignore", specs, &why);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < specs[i].nprotos; k++) {
			GROW(p->r->ignores, p->r->cap_ignores, p->r->nignores);
			struct rules_ignore *ig = &p->r->ignores[p->r->nignores++];
			ig->proto = specs[i].protos[k];
			ig->lo = specs[i].lo;
			ig->hi = specs[i].hi;
			ig->why = xstrdup(why->s);
		}
}

static int parse_file(struct parser *p, const char *path, const struct lex_tok *from, struct lex_file *from_lf);

static void parse_include(struct parser *p)
{
	const struct lex_tok *t = expect(p, LEX_STRING, "a quoted file name");
	if (!t || !end_of_statement(p))
		return;
	char *path;
	if (t->s[0] == '/') {
		path = xstrdup(t->s);
	} else {
		char *dup = xstrdup(p->lf->path);
		path = xasprintf("%s/%s", dirname(dup), t->s);
		free(dup);
	}
	int rc = parse_file(p, path, t, p->lf);
	if (rc == -2) {
		/* The errors name the included file's lines; this names the line that brought it in. */
		struct diag_loc loc = lex_loc(p->lf, t);
		diag_add(p->d, &loc, "in %s, included here", path);
	}
	p->errors += rc < 0;
	free(path);
}

static const char *const keywords[] = {"include", "role", "attr", "param", "service", "edge", "forbid", "ignore",
				       "speaks", "learn"};

/* 0; -1 with an error at the include line (from) or the path; -2 with errors inside the file. */
static int parse_file(struct parser *p, const char *path, const struct lex_tok *from, struct lex_file *from_lf)
{
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		struct diag_loc loc = from ? lex_loc(from_lf, from) : (struct diag_loc){.file = path};
		diag_add(p->d, &loc, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < p->depth; i++)
		if (strcmp(p->stack[i], real) == 0) {
			struct diag_loc loc = lex_loc(from_lf, from);
			diag_add(p->d, &loc, "include cycle: %s includes itself", path);
			return -1;
		}
	for (size_t i = 0; i < p->r->nloaded; i++)
		if (strcmp(p->r->loaded[i], real) == 0)
			return 0; /* already read through another include */
	if (p->depth >= 16) {
		struct diag_loc loc = lex_loc(from_lf, from);
		diag_add(p->d, &loc, "includes nested more than 16 deep");
		return -1;
	}
	GROW(p->r->loaded, p->r->cap_loaded, p->r->nloaded);
	p->r->loaded[p->r->nloaded++] = xstrdup(real);

	struct lex_file lf;
	if (lex_file(&lf, path, LEX_PUNCT, p->d) < 0) {
		lex_free(&lf);
		return -2;
	}
	struct parser sub = *p;
	sub.lf = &lf;
	sub.errors = 0;
	sub.stack = xrealloc(NULL, (p->depth + 1) * sizeof(char *));
	if (p->depth)
		memcpy(sub.stack, p->stack, p->depth * sizeof(char *));
	sub.stack[sub.depth++] = real;
	size_t i = 0;
	while (i < lf.ntoks) {
		size_t j = i + 1;
		while (j < lf.ntoks && !lf.toks[j].stmt_start)
			j++;
		sub.pos = i + 1;
		sub.end = j;
		const struct lex_tok *kw = &lf.toks[i];
		if (!kw->stmt_start) {
			err_tok(&sub, kw, "indented line continues no statement");
		} else if (kw->type != LEX_WORD) {
			err_tok(&sub, kw, "expected a keyword, found '%s'", kw->s);
		} else if (strcmp(kw->s, "include") == 0) {
			parse_include(&sub);
		} else if (strcmp(kw->s, "role") == 0) {
			parse_role(&sub);
		} else if (strcmp(kw->s, "attr") == 0) {
			parse_attr(&sub);
		} else if (strcmp(kw->s, "param") == 0) {
			parse_param(&sub);
		} else if (strcmp(kw->s, "service") == 0) {
			parse_service(&sub);
		} else if (strcmp(kw->s, "edge") == 0) {
			parse_edge(&sub, false);
		} else if (strcmp(kw->s, "forbid") == 0) {
			parse_edge(&sub, true);
		} else if (strcmp(kw->s, "ignore") == 0) {
			parse_ignore(&sub);
		} else if (strcmp(kw->s, "speaks") == 0) {
			parse_speaks(&sub);
		} else if (strcmp(kw->s, "learn") == 0) {
			parse_learn(&sub);
		} else {
			suggest_from(&sub, kw, "keyword", kw->s, keywords, sizeof(keywords) / sizeof(keywords[0]));
		}
		i = j;
	}
	free(sub.stack);
	lex_free(&lf);
	return sub.errors ? -2 : 0;
}

int rules_load(struct rules *r, const char *path, struct diag *d)
{
	struct parser p = {.r = r, .d = d};
	return parse_file(&p, path, NULL, NULL) < 0 ? -1 : 0;
}
