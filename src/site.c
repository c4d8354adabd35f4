/* site.c: parser of *.site files and the address -> host lookup.
 * Every name a line refers to (role, system, broker, CEE host) is checked once the whole file is read,
 * so hosts may be declared in any order. */
#include "flowaudit/site.h"

#include <stdlib.h>
#include <string.h>
#include "flowaudit/hash.h"

#include "flowaudit/lex.h"
#include "flowaudit/util.h"

struct site_addr_ix {
	uint8_t a[16];
	int host;
	UT_hash_handle hh;
};

/* A prefix by its address with the host bits clear and its length: a site of 100,000 prefixes answers a
 * lookup with one probe per length in use, not a scan of every prefix. */
struct site_prefix_key {
	uint8_t a[16];
	uint8_t plen;
};

struct site_prefix_ix {
	struct site_prefix_key key;
	int host;
	UT_hash_handle hh;
};

static struct site_prefix_key prefix_key(const uint8_t addr[16], uint8_t plen)
{
	struct site_prefix_key k;
	memset(&k, 0, sizeof(k));
	memcpy(k.a, addr, plen / 8);
	if (plen % 8)
		k.a[plen / 8] = (uint8_t)(addr[plen / 8] & (0xff << (8 - plen % 8)));
	k.plen = plen;
	return k;
}

/* Names (of hosts, of storage systems) -> host index: a site of thousands of hosts checks each name
 * and each reference in constant time, not by a walk over every host. */
struct site_name_ix {
	const char *name;       /* not owned */
	int host;
	UT_hash_handle hh;
};

static void name_ix_add(struct site_name_ix **ix, const char *name, int host)
{
	struct site_name_ix *e = xcalloc(1, sizeof(*e));
	e->name = name;
	e->host = host;
	HASH_ADD_KEYPTR(hh, *ix, name, strlen(name), e);
}

static int name_ix_find(struct site_name_ix *ix, const char *name)
{
	struct site_name_ix *e;
	HASH_FIND(hh, ix, name, strlen(name), e);
	return e ? e->host : -1;
}

static void name_ix_free(struct site_name_ix **ix)
{
	struct site_name_ix *e, *tmp;
	HASH_ITER(hh, *ix, e, tmp) {
		HASH_DEL(*ix, e);
		free(e);
	}
}

void site_init(struct site *s)
{
	memset(s, 0, sizeof(*s));
}

static void free_kvs(struct site_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void site_free(struct site *s)
{
	for (size_t i = 0; i < s->nhosts; i++) {
		struct site_host *h = &s->hosts[i];
		free(h->name);
		free(h->addrs);
		free_kvs(h->attrs, h->nattrs);
		for (size_t k = 0; k < h->npartners; k++)
			free(h->partners[k]);
		free(h->partners);
		free(h->brokers);
	}
	free(s->hosts);
	free_kvs(s->settings, s->nsettings);
	struct site_addr_ix *e, *tmp;
	HASH_ITER(hh, s->exact, e, tmp) {
		HASH_DEL(s->exact, e);
		free(e);
	}
	name_ix_free(&s->names);
	struct site_prefix_ix *p, *ptmp;
	HASH_ITER(hh, s->prefixes, p, ptmp) {
		HASH_DEL(s->prefixes, p);
		free(p);
	}
	free(s->path);
	memset(s, 0, sizeof(*s));
}

int site_host_find(const struct site *s, const char *name)
{
	if (s->names)
		return name_ix_find(s->names, name);
	for (size_t i = 0; i < s->nhosts; i++) /* a site built by hand */
		if (strcmp(s->hosts[i].name, name) == 0)
			return (int)i;
	return -1;
}

int site_lookup(const struct site *s, const uint8_t addr[16])
{
	struct site_addr_ix *e;
	HASH_FIND(hh, s->exact, addr, 16, e);
	if (e)
		return e->host;
	for (size_t i = 0; i < s->nplens; i++) {
		struct site_prefix_key k = prefix_key(addr, s->plens[i]);
		struct site_prefix_ix *p;
		HASH_FIND(hh, s->prefixes, &k, sizeof(k), p);
		if (p)
			return p->host;
	}
	return -1;
}

static const char *kv_get(const struct site_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return NULL;
}

const char *site_attr(const struct site_host *h, const char *key)
{
	return kv_get(h->attrs, h->nattrs, key);
}

const char *site_setting(const struct site *s, const char *key)
{
	return kv_get(s->settings, s->nsettings, key);
}

bool site_host_has_role(const struct site_host *h, int role)
{
	return role >= 0 && role < 64 && (h->roles >> role & 1);
}

const char *site_addr_str(const struct site_addr *a, char *buf)
{
	addr_str(a->a, buf);
	if (a->plen < 128) {
		int plen = addr_is_v4(a->a) ? a->plen - 96 : a->plen;
		sprintf(buf + strlen(buf), "/%d", plen);
	}
	return buf;
}

/* ---- parsing ---- */

/* An address with its prefix length, as the parser indexes it to refuse one given twice. */
struct addr_seen {
	uint8_t key[17];        /* address, prefix length */
	int host;
	UT_hash_handle hh;
};

static void addr_seen_key(const struct site_addr *sa, uint8_t key[17])
{
	memcpy(key, sa->a, 16);
	key[16] = sa->plen;
}

struct sp {
	struct site *s;
	const struct rules *r;
	struct lex_file *lf;
	struct diag *d;
	int errors;
	struct addr_seen *addrs; /* the addresses of the hosts read so far */
	struct site_name_ix *systems; /* system= values, for partner= references */
	struct { size_t first, n; } *host_toks; /* each host's declaration, continuation lines included */
	int ref_role;           /* the role the reference being checked must name */
	char why[256];          /* why the last reference check failed */
	size_t cap_host_toks;
};

static void err_at(struct sp *p, const struct lex_tok *t, int off, int len, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void err_at(struct sp *p, const struct lex_tok *t, int off, int len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct diag_loc loc = lex_loc_at(p->lf, t, off, len);
	diag_vadd(p->d, &loc, fmt, ap);
	va_end(ap);
	p->errors++;
}

/* Call fn for each comma-separated item of s (which starts at byte off of token t). */
typedef bool (*item_fn)(struct sp *p, const struct lex_tok *t, int off, const char *item, void *ctx);
static bool each_item(struct sp *p, const struct lex_tok *t, int off, const char *s, item_fn fn, void *ctx)
{
	const char *start = s;
	for (;;) {
		const char *comma = strchr(start, ',');
		size_t n = comma ? (size_t)(comma - start) : strlen(start);
		int ioff = off + (int)(start - s);
		if (n == 0) {
			err_at(p, t, ioff, 1, "empty item in list");
			return false;
		}
		char *item = xstrndup(start, n);
		bool ok = fn(p, t, ioff, item, ctx);
		free(item);
		if (!ok)
			return false;
		if (!comma)
			return true;
		start = comma + 1;
	}
}

/* "a, b, c": the names of a list, for an error that says what is valid. Caller frees. */
static char *joined(const char *const *names, size_t n)
{
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(names[i]) + 2;
	char *s = xcalloc(len, 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(s, ", ");
		strcat(s, names[i]);
	}
	return s;
}

/* An unknown word: the closest valid one, and all of them. */
static void err_unknown(struct sp *p, const struct lex_tok *t, int off, const char *kind, const char *word,
			const char *const *valid, size_t n)
{
	const char *sug = diag_suggest(word, valid, n);
	char *all = joined(valid, n);
	err_at(p, t, off, (int)strlen(word), "unknown %s '%s'%s%s%s (%s)", kind, word, sug ? "; did you mean '" : "",
	       sug ? sug : "", sug ? "'?" : "", all);
	free(all);
}

struct value_ctx {
	const struct rules_attr *a;
};

static bool check_value(struct sp *p, const struct lex_tok *t, int off, const char *item, void *ctx)
{
	const struct rules_attr *a = ((struct value_ctx *)ctx)->a;
	for (size_t i = 0; i < a->nvalues; i++)
		if (strcmp(a->values[i], item) == 0)
			return true;
	const char *sug = diag_suggest(item, (const char *const *)a->values, a->nvalues);
	char *all = joined((const char *const *)a->values, a->nvalues);
	err_at(p, t, off, (int)strlen(item), "'%s' is not a value of '%s'%s%s%s (%s)", item, a->key,
	       sug ? "; did you mean '" : "", sug ? sug : "", sug ? "'?" : "", all);
	free(all);
	return false;
}

/* A value of attribute a at byte off of token t: one of its values, or a list of them where it takes one. */
static bool check_attr_value(struct sp *p, const struct lex_tok *t, int off, const struct rules_attr *a,
			     const char *val)
{
	if (!a->list && strchr(val, ',')) {
		err_at(p, t, off, (int)strlen(val), "'%s' takes one value, not a list", a->key);
		return false;
	}
	if (!a->values)
		return true; /* a name, checked once the whole file is read */
	struct value_ctx vc = {a};
	return each_item(p, t, off, val, check_value, &vc);
}

static bool add_addr(struct sp *p, const struct lex_tok *t, int off, const char *item, void *ctx)
{
	struct site_host *h = ctx;
	struct site_addr sa = {.plen = 128};
	char *dup = xstrdup(item);
	char *slash = strchr(dup, '/');
	bool ok = true;
	if (slash)
		*slash = '\0';
	if (!addr_parse(dup, sa.a)) {
		err_at(p, t, off, (int)strlen(item), "'%s' is not an IPv4 or IPv6 address or prefix", item);
		ok = false;
	} else if (slash) {
		int max = addr_is_v4(sa.a) ? 32 : 128;
		char *end;
		long v = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || v < 0 || v > max) {
			int soff = (int)(slash - dup);
			err_at(p, t, off + soff + 1, (int)strlen(slash + 1) ? (int)strlen(slash + 1) : 1,
			       "bad prefix length '%s' (0-%d)", slash + 1, max);
			ok = false;
		} else {
			sa.plen = (uint8_t)(addr_is_v4(sa.a) ? v + 96 : v);
			/* Clear host bits, as "ip route" does, so lookups compare prefixes only. */
			for (int bit = sa.plen; bit < 128; bit++)
				sa.a[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
		}
	}
	free(dup);
	if (!ok)
		return false;
	uint8_t key[17];
	addr_seen_key(&sa, key);
	struct addr_seen *seen;
	HASH_FIND(hh, p->addrs, key, sizeof(key), seen);
	if (seen) {
		err_at(p, t, off, (int)strlen(item), "address %s already belongs to host '%s'", item,
		       p->s->hosts[seen->host].name);
		return false;
	}
	h->addrs = xrealloc(h->addrs, (h->naddrs + 1) * sizeof(*h->addrs));
	h->addrs[h->naddrs++] = sa;
	return true;
}

static bool add_role(struct sp *p, const struct lex_tok *t, int off, const char *item, void *ctx)
{
	struct site_host *h = ctx;
	int role = rules_role_find(p->r, item);
	if (role < 0 || role == RULES_ROLE_INTERNET) {
		if (role == RULES_ROLE_INTERNET) {
			err_at(p, t, off, (int)strlen(item), "'internet' is every address outside the site, not a host role");
			return false;
		}
		const char **names = xcalloc(p->r->nroles, sizeof(*names));
		for (size_t k = 1; k < p->r->nroles; k++)
			names[k - 1] = p->r->roles[k].name;
		err_unknown(p, t, off, "role", item, names, p->r->nroles - 1);
		free(names);
		return false;
	}
	h->roles |= (uint64_t)1 << role;
	return true;
}

static bool add_partner(struct sp *p, const struct lex_tok *t, int off, const char *item, void *ctx)
{
	(void)p; (void)t; (void)off;
	struct site_host *h = ctx;
	h->partners = xrealloc(h->partners, (h->npartners + 1) * sizeof(char *));
	h->partners[h->npartners++] = xstrdup(item);
	return true;
}

/* host NAME ADDR[,ADDR...] role=ROLE[,ROLE...] [KEY=VALUE...] */
static void parse_host(struct sp *p, const struct lex_tok *toks, size_t n)
{
	if (n < 2) {
		err_at(p, &toks[0], toks[0].len, 1, "expected a host name after 'host'");
		return;
	}
	const struct lex_tok *name = &toks[1];
	if (site_host_find(p->s, name->s) >= 0) {
		err_at(p, name, 0, name->len, "duplicate host '%s'", name->s);
		return;
	}
	if (strchr(name->s, '=') || strchr(name->s, ',')) {
		err_at(p, name, 0, name->len, "'%s' is not a host name", name->s);
		return;
	}
	if (n < 3) {
		err_at(p, name, name->len, 1, "expected the addresses of '%s'", name->s);
		return;
	}
	struct site_host h = {.name = xstrdup(name->s), .line = name->line, .col = name->col};
	bool ok = each_item(p, &toks[2], 0, toks[2].s, add_addr, &h);
	bool have_role = false;
	for (size_t i = 3; ok && i < n; i++) {
		const struct lex_tok *t = &toks[i];
		const char *eq = strchr(t->s, '=');
		if (t->type != LEX_WORD || !eq || eq == t->s) {
			err_at(p, t, 0, t->len, "expected KEY=VALUE, found '%s'", t->s);
			ok = false;
			break;
		}
		char *key = xstrndup(t->s, (size_t)(eq - t->s));
		const char *val = eq + 1;
		int voff = (int)(val - t->s);
		const struct rules_attr *attr = rules_attr_find(p->r, key);
		bool is_param = rules_param_find(p->r, key) >= 0;
		if (!*val) {
			err_at(p, t, voff - 1, 1, "expected a value after '%s='", key);
			ok = false;
		} else if (site_attr(&h, key) || (strcmp(key, "role") == 0 && have_role)) {
			err_at(p, t, 0, (int)strlen(key), "'%s' given twice", key);
			ok = false;
		} else if (strcmp(key, "role") == 0) {
			have_role = true;
			ok = each_item(p, t, voff, val, add_role, &h);
		} else if (is_param) {
			uint16_t port;
			if (!port_parse(val, &port)) {
				err_at(p, t, voff, (int)strlen(val), "bad port '%s' (expected 1-65535)", val);
				ok = false;
			}
		} else if (attr && !attr->site_setting) {
			ok = check_attr_value(p, t, voff, attr, val);
			/* The partner scope's systems (grammar: docs/rules.md, scopes). */
			if (ok && strcmp(key, "partner") == 0)
				ok = each_item(p, t, voff, val, add_partner, &h);
		} else {
			const char *cands[RULES_MAX_ROLES + 64];
			size_t nc = 0;
			cands[nc++] = "role";
			for (size_t k = 0; k < p->r->nattrs && nc < 64; k++)
				if (!p->r->attrs[k].site_setting)
					cands[nc++] = p->r->attrs[k].key;
			for (size_t k = 0; k < p->r->nparams && nc < sizeof(cands) / sizeof(cands[0]); k++)
				if (k == 0 || strcmp(p->r->params[k].name, p->r->params[k - 1].name) != 0)
					cands[nc++] = p->r->params[k].name;
			err_unknown(p, t, 0, attr ? "host key (it is a site setting: 'set KEY VALUE')" : "key", key, cands, nc);
			ok = false;
		}
		if (ok && strcmp(key, "role") != 0) {
			h.attrs = xrealloc(h.attrs, (h.nattrs + 1) * sizeof(*h.attrs));
			h.attrs[h.nattrs].key = key;
			h.attrs[h.nattrs].value = xstrdup(val);
			h.nattrs++;
			/* Keep the token of references for the checks after the whole file is read. */
			key = NULL;
		}
		free(key);
	}
	if (ok && !have_role) {
		err_at(p, &toks[n - 1], toks[n - 1].len, 1, "host '%s' has no role= (e.g. role=agent)", name->s);
		ok = false;
	}
	GROW(p->s->hosts, p->s->cap_hosts, p->s->nhosts);
	int hi = (int)p->s->nhosts;
	GROW(p->host_toks, p->cap_host_toks, (size_t)hi);
	p->host_toks[hi].first = (size_t)(toks - p->lf->toks);
	p->host_toks[hi].n = n;
	p->s->hosts[p->s->nhosts++] = h; /* kept even when bad, so later lines see the name */
	name_ix_add(&p->s->names, p->s->hosts[hi].name, hi);
	for (size_t k = 0; k < h.naddrs; k++) {
		struct addr_seen *e = xcalloc(1, sizeof(*e));
		addr_seen_key(&h.addrs[k], e->key);
		e->host = hi;
		HASH_ADD(hh, p->addrs, key, sizeof(e->key), e);
	}
}

/* set KEY VALUE */
static void parse_set(struct sp *p, const struct lex_tok *toks, size_t n)
{
	if (n != 3) {
		const struct lex_tok *t = n < 3 ? &toks[n - 1] : &toks[3];
		err_at(p, t, n < 3 ? t->len : 0, n < 3 ? 1 : t->len, n < 3 ? "expected 'set KEY VALUE'" :
		       "unexpected '%s' after 'set KEY VALUE'", t->s);
		return;
	}
	const struct lex_tok *k = &toks[1], *v = &toks[2];
	const struct rules_attr *attr = rules_attr_find(p->r, k->s);
	if (site_setting(p->s, k->s)) {
		err_at(p, k, 0, k->len, "'%s' set twice", k->s);
		return;
	}
	if (attr && attr->site_setting) {
		if (!check_attr_value(p, v, 0, attr, v->s))
			return;
	} else if (rules_param_find(p->r, k->s) >= 0) {
		uint16_t port;
		if (!port_parse(v->s, &port)) {
			err_at(p, v, 0, v->len, "bad port '%s' (expected 1-65535)", v->s);
			return;
		}
	} else {
		const char *cands[128];
		size_t nc = 0;
		for (size_t i = 0; i < p->r->nattrs && nc < 64; i++)
			if (p->r->attrs[i].site_setting)
				cands[nc++] = p->r->attrs[i].key;
		for (size_t i = 0; i < p->r->nparams && nc < 128; i++)
			if (i == 0 || strcmp(p->r->params[i].name, p->r->params[i - 1].name) != 0)
				cands[nc++] = p->r->params[i].name;
		err_unknown(p, k, 0, attr ? "setting (it is given on hosts: KEY=VALUE)" : "setting", k->s, cands, nc);
		return;
	}
	GROW(p->s->settings, p->s->cap_settings, p->s->nsettings);
	p->s->settings[p->s->nsettings].key = xstrdup(k->s);
	p->s->settings[p->s->nsettings].value = xstrdup(v->s);
	p->s->nsettings++;
}

/* The token of host hi's declaration (its continuation lines too) whose word starts with "key=". */
static const struct lex_tok *key_tok(struct sp *p, size_t hi, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < p->host_toks[hi].n; i++) {
		const struct lex_tok *t = &p->lf->toks[p->host_toks[hi].first + i];
		if (strncmp(t->s, key, kl) == 0 && t->s[kl] == '=')
			return t;
	}
	return NULL;
}

/* Check each name of a comma list on a host line; fn returns false for a bad one. */
static void check_refs(struct sp *p, struct site_host *h, const char *key,
		       bool (*good)(struct sp *p, const char *name, const char **why))
{
	const struct lex_tok *t = key_tok(p, (size_t)(h - p->s->hosts), key);
	if (!t)
		return;
	const char *v = t->s + strlen(key) + 1;
	int off = (int)strlen(key) + 1;
	while (*v) {
		const char *comma = strchr(v, ',');
		size_t n = comma ? (size_t)(comma - v) : strlen(v);
		char *name = xstrndup(v, n);
		const char *why = NULL;
		if (!good(p, name, &why))
			err_at(p, t, off, (int)n, "%s", why);
		free(name);
		if (!comma)
			break;
		off += (int)n + 1;
		v = comma + 1;
	}
}

static bool system_exists(struct sp *p, const char *name, const char **why)
{
	if (name_ix_find(p->systems, name) >= 0)
		return true;
	snprintf(p->why, sizeof(p->why), "no host has system=%s", name);
	*why = p->why;
	return false;
}

static bool role_host_exists(struct sp *p, const char *name, const char **why)
{
	int h = site_host_find(p->s, name);
	if (h >= 0 && site_host_has_role(&p->s->hosts[h], p->ref_role))
		return true;
	if (h < 0)
		snprintf(p->why, sizeof(p->why), "unknown host '%s'", name);
	else
		snprintf(p->why, sizeof(p->why), "host '%s' is not a %s", name, p->r->roles[p->ref_role].name);
	*why = p->why;
	return false;
}

static bool host_exists(struct sp *p, const char *name, const char **why)
{
	if (site_host_find(p->s, name) >= 0)
		return true;
	snprintf(p->why, sizeof(p->why), "unknown host '%s'", name);
	*why = p->why;
	return false;
}

static void resolve(struct sp *p)
{
	for (size_t i = 0; i < p->s->nhosts; i++) {
		const char *sys = site_attr(&p->s->hosts[i], "system");
		if (sys && name_ix_find(p->systems, sys) < 0)
			name_ix_add(&p->systems, sys, (int)i);
	}
	for (size_t i = 0; i < p->s->nhosts; i++) {
		struct site_host *h = &p->s->hosts[i];
		/* Each name an attribute of the pack refers to must exist. */
		for (size_t a = 0; a < p->r->nattrs; a++) {
			const struct rules_attr *at = &p->r->attrs[a];
			p->ref_role = at->ref_role;
			if (at->ref == REF_SYSTEM)
				check_refs(p, h, at->key, system_exists);
			else if (at->ref == REF_HOST)
				check_refs(p, h, at->key, host_exists);
			else if (at->ref == REF_ROLE)
				check_refs(p, h, at->key, role_host_exists);
		}
		const char *b = site_attr(h, "brokers");
		if (b) {
			for (const char *v = b; *v;) {
				const char *comma = strchr(v, ',');
				size_t n = comma ? (size_t)(comma - v) : strlen(v);
				char *name = xstrndup(v, n);
				int bh = site_host_find(p->s, name);
				free(name);
				if (bh >= 0) {
					h->brokers = xrealloc(h->brokers, (h->nbrokers + 1) * sizeof(int));
					h->brokers[h->nbrokers++] = bh;
				}
				if (!comma)
					break;
				v = comma + 1;
			}
		}
		/* A host another names takes the role the pack says it then plays (cee= names the host running
		 * CEE, whatever else it is: attr cee ... refs host gives cee). */
		for (size_t a = 0; a < p->r->nattrs; a++) {
			const struct rules_attr *at = &p->r->attrs[a];
			const char *v = at->gives_role > 0 && at->ref == REF_HOST ? site_attr(h, at->key) : NULL;
			int x = v ? site_host_find(p->s, v) : -1;
			if (x >= 0)
				p->s->hosts[x].roles |= (uint64_t)1 << at->gives_role;
		}
	}
}

static void index_addrs(struct site *s)
{
	bool used[129] = {false};
	for (size_t i = 0; i < s->nhosts; i++)
		for (size_t k = 0; k < s->hosts[i].naddrs; k++) {
			const struct site_addr *sa = &s->hosts[i].addrs[k];
			if (sa->plen == 128) {
				struct site_addr_ix *e = xcalloc(1, sizeof(*e));
				memcpy(e->a, sa->a, 16);
				e->host = (int)i;
				HASH_ADD(hh, s->exact, a, 16, e);
				continue;
			}
			struct site_prefix_ix *p = xcalloc(1, sizeof(*p));
			p->key = prefix_key(sa->a, sa->plen);
			p->host = (int)i;
			struct site_prefix_ix *old;
			HASH_FIND(hh, s->prefixes, &p->key, sizeof(p->key), old);
			if (old) {
				free(p); /* the same prefix twice: the first host keeps it */
				continue;
			}
			HASH_ADD(hh, s->prefixes, key, sizeof(p->key), p);
			used[sa->plen] = true;
		}
	s->nplens = 0;
	for (int l = 128; l >= 0; l--)
		if (used[l])
			s->plens[s->nplens++] = (uint8_t)l;
}

/* Do a requirement's conditions hold for host h (its own attributes, the site's settings, the defaults)? */
static bool require_holds(const struct sp *p, const struct rules_require *rq, const struct site_host *h)
{
	for (size_t i = 0; i < rq->nconds; i++) {
		const char *v = site_attr(h, rq->conds[i].key);
		if (!v)
			v = site_setting(p->s, rq->conds[i].key);
		if (!v) {
			const struct rules_attr *a = rules_attr_find(p->r, rq->conds[i].key);
			v = a ? a->def : NULL;
		}
		if (!rules_cond_holds(&rq->conds[i], v))
			return false;
	}
	return true;
}

static void warn_at(struct sp *p, struct diag *w, size_t hi, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void warn_at(struct sp *p, struct diag *w, size_t hi, const char *fmt, ...)
{
	const struct lex_tok *name = &p->lf->toks[p->host_toks[hi].first + 1];
	va_list ap;
	va_start(ap, fmt);
	struct diag_loc loc = lex_loc_at(p->lf, name, 0, name->len);
	diag_vadd(w, &loc, fmt, ap);
	va_end(ap);
}

/* What a site that loads still leaves out (site_load_lint()). */
static void lint(struct sp *p, struct diag *w)
{
	const struct site *s = p->s;
	for (size_t hi = 0; hi < s->nhosts; hi++) {
		const struct site_host *h = &s->hosts[hi];
		for (size_t a = 0; a < p->r->nattrs; a++) {
			const struct rules_attr *at = &p->r->attrs[a];
			if (at->site_setting || site_attr(h, at->key))
				continue;
			for (size_t k = 0; k < at->nreqs; k++) {
				uint64_t roles = (at->reqs[k].roles ? at->reqs[k].roles : at->roles) & h->roles;
				if (!roles || !require_holds(p, &at->reqs[k], h))
					continue;
				int role = __builtin_ctzll(roles);
				warn_at(p, w, hi, "%s '%s' has no %s=, so no path that needs it is expected (%s: %s)",
					p->r->roles[role].name, h->name, at->key, at->key, at->desc);
				break;
			}
		}
	}
	/* A storage system no agent partners with: its notification and data paths join nobody. */
	for (size_t hi = 0; hi < s->nhosts; hi++) {
		const char *sys = site_attr(&s->hosts[hi], "system");
		bool first = sys != NULL, partnered = false;
		for (size_t k = 0; sys && k < hi && first; k++)
			first = !rules_value_has(site_attr(&s->hosts[k], "system"), sys);
		for (size_t k = 0; first && k < s->nhosts && !partnered; k++)
			partnered = rules_value_has(site_attr(&s->hosts[k], "partner"), sys);
		if (first && !partnered)
			warn_at(p, w, hi, "no agent is partnered with storage system '%s' (partner=%s on its agent): its "
					  "notification and data paths are not expected", sys, sys);
	}
}

int site_load(struct site *s, const char *path, const struct rules *r, struct diag *d)
{
	return site_load_lint(s, path, r, d, NULL);
}

static int site_parse(struct site *s, struct lex_file *lf, const struct rules *r, struct diag *d, struct diag *w);

int site_load_lint(struct site *s, const char *path, const struct rules *r, struct diag *d, struct diag *w)
{
	struct lex_file lf;
	site_init(s);
	s->path = xstrdup(path);
	if (lex_file(&lf, path, 0, d) < 0) {
		lex_free(&lf);
		return -1;
	}
	return site_parse(s, &lf, r, d, w);
}

int site_load_text(struct site *s, const char *name, const char *text, const struct rules *r, struct diag *d)
{
	struct lex_file lf;
	site_init(s);
	s->path = xstrdup(name);
	if (lex_text(&lf, name, text, 0, d) < 0) {
		lex_free(&lf);
		return -1;
	}
	return site_parse(s, &lf, r, d, NULL);
}

/* Takes lf (freed here). */
static int site_parse(struct site *s, struct lex_file *lfp, const struct rules *r, struct diag *d, struct diag *w)
{
	struct lex_file lf = *lfp;
	struct sp p = {.s = s, .r = r, .lf = &lf, .d = d};
	size_t i = 0;
	while (i < lf.ntoks) {
		size_t j = i + 1;
		while (j < lf.ntoks && !lf.toks[j].stmt_start)
			j++;
		const struct lex_tok *kw = &lf.toks[i];
		bool strings = false;
		for (size_t k = i; k < j; k++)
			if (lf.toks[k].type == LEX_STRING) {
				err_at(&p, &lf.toks[k], 0, lf.toks[k].len, "quoted strings have no place in a site file");
				strings = true;
				break;
			}
		if (strings)
			;
		else if (!kw->stmt_start)
			err_at(&p, kw, 0, kw->len, "indented line continues no declaration");
		else if (strcmp(kw->s, "host") == 0)
			parse_host(&p, &lf.toks[i], j - i);
		else if (strcmp(kw->s, "set") == 0)
			parse_set(&p, &lf.toks[i], j - i);
		else {
			static const char *const kws[] = {"host", "set"};
			const char *sug = diag_suggest(kw->s, kws, 2);
			err_at(&p, kw, 0, kw->len, "unknown declaration '%s'%s%s%s", kw->s,
			       sug ? "; did you mean '" : "", sug ? sug : "", sug ? "'?" : "");
		}
		i = j;
	}
	resolve(&p); /* also after errors: one run shows every broken reference */
	if (w && !p.errors)
		lint(&p, w);
	free(p.host_toks);
	lex_free(&lf);
	name_ix_free(&p.systems);
	struct addr_seen *e, *tmp;
	HASH_ITER(hh, p.addrs, e, tmp) {
		HASH_DEL(p.addrs, e);
		free(e);
	}
	if (!p.errors && s->nhosts == 0) {
		/* An empty site would audit nothing and call it verified (a truncated or overwritten file). */
		struct diag_loc loc = {.file = s->path, .line = 1, .col = 1};
		diag_add(d, &loc, "no hosts: a site declares at least one 'host' (docs/site.md)");
		p.errors++;
	}
	if (p.errors)
		return -1;
	index_addrs(s);
	return 0;
}
