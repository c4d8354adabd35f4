/* nft_text.c: the ruleset's rules as the admin reads and writes them: nft's own listing (libnftables,
 * `nft -a list ruleset`), split into one line per rule and keyed by (family, table, chain, handle), so
 * that a verdict names the rule in the words that wrote it. */
#include "flowaudit/nft.h"

#include <linux/netfilter.h>
#include <nftables/libnftables.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/util.h"

struct text_rule {
	int family;
	char *table, *chain;
	uint64_t handle;        /* 0: the chain's policy line */
	char *text;
};

struct nft_text {
	struct text_rule *rules;
	size_t n, cap;
};

static int family_of(const char *s)
{
	static const struct {
		const char *name;
		int f;
	} fams[] = {{"ip", NFPROTO_IPV4}, {"ip6", NFPROTO_IPV6}, {"inet", NFPROTO_INET}, {"arp", NFPROTO_ARP},
		    {"bridge", NFPROTO_BRIDGE}, {"netdev", NFPROTO_NETDEV}};
	for (size_t i = 0; i < sizeof(fams) / sizeof(*fams); i++)
		if (!strcmp(s, fams[i].name))
			return fams[i].f;
	return -1;
}

/* A name as nft prints it: bare, or in double quotes. */
static char *name_at(const char **p)
{
	const char *s = *p;
	while (*s == ' ')
		s++;
	const char *e;
	char *n;
	if (*s == '"') {
		e = strchr(s + 1, '"');
		if (!e)
			return NULL;
		n = xstrndup(s + 1, (size_t)(e - s - 1));
		e++;
	} else {
		e = s + strcspn(s, " {");
		n = xstrndup(s, (size_t)(e - s));
	}
	*p = e;
	return n;
}

static void add(struct nft_text *t, int family, const char *table, const char *chain, uint64_t handle, const char *s,
		size_t len)
{
	GROW(t->rules, t->cap, t->n);
	struct text_rule *r = &t->rules[t->n++];
	r->family = family;
	r->table = xstrdup(table);
	r->chain = xstrdup(chain);
	r->handle = handle;
	r->text = xstrndup(s, len);
}

static void parse(struct nft_text *t, const char *out)
{
	int family = -1;
	char *table = NULL, *chain = NULL;
	for (const char *line = out; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *s = line;
		while (s < line + len && (*s == '\t' || *s == ' '))
			s++;
		size_t slen = (size_t)(line + len - s);
		if (!strncmp(s, "table ", 6) && s == line) {
			const char *p = s + 6;
			char *fam = name_at(&p);
			free(table);
			table = name_at(&p);
			family = fam ? family_of(fam) : -1;
			free(fam);
		} else if (!strncmp(s, "chain ", 6) && table) {
			const char *p = s + 6;
			free(chain);
			chain = name_at(&p);
		} else if (!strncmp(s, "}", 1) && s - line == 1) {
			free(chain);
			chain = NULL;
		} else if (chain && table && slen) {
			const char *h = NULL;
			for (const char *q = s; (q = strstr(q, " # handle ")) && q < line + len; q++)
				h = q;
			const char *pol = strstr(s, "policy ");
			if (h) {
				add(t, family, table, chain, strtoull(h + 10, NULL, 10), s, (size_t)(h - s));
			} else if (!strncmp(s, "type ", 5) && pol && pol < line + len) {
				add(t, family, table, chain, 0, pol, strcspn(pol, ";\n"));
			}
		}
		line = end ? end + 1 : line + len;
	}
	free(table);
	free(chain);
}

struct nft_text *nft_text_read(struct diag *d)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		diag_add(d, NULL, "cannot start libnftables");
		return NULL;
	}
	nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_HANDLE | NFT_CTX_OUTPUT_STATELESS);
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	struct nft_text *t = NULL;
	if (nft_run_cmd_from_buffer(ctx, "list ruleset") != 0) {
		const char *err = nft_ctx_get_error_buffer(ctx);
		diag_add(d, NULL, "cannot list the nftables ruleset: %s", err && *err ? err : "libnftables failed");
	} else {
		t = xcalloc(1, sizeof(*t));
		parse(t, nft_ctx_get_output_buffer(ctx));
	}
	nft_ctx_free(ctx);
	return t;
}

void nft_text_free(struct nft_text *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->rules[i].table);
		free(t->rules[i].chain);
		free(t->rules[i].text);
	}
	free(t->rules);
	free(t);
}

const char *nft_text_of(const struct nft_text *t, const struct nft_where *w)
{
	for (size_t i = 0; t && i < t->n; i++) {
		const struct text_rule *r = &t->rules[i];
		if (r->family == w->family && r->handle == w->handle && !strcmp(r->table, w->table) &&
		    !strcmp(r->chain, w->chain))
			return r->text;
	}
	return NULL;
}
