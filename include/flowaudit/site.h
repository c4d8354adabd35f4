/* site.h: a site file: the hosts of one installation, their roles, addresses and attributes.
 * Parsed against a rule pack (roles, parameters, attributes); lookups by address for the classifier. */
#ifndef FLOWAUDIT_SITE_H
#define FLOWAUDIT_SITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowaudit/diag.h"
#include "flowaudit/rules.h"

struct site_kv {
	char *key;
	char *value;
};

struct site_addr {
	uint8_t a[16];          /* IPv4 as ::ffff:a.b.c.d */
	uint8_t plen;           /* prefix length over the 16-byte form: 128 for a single address */
};

struct site_host {
	char *name;
	struct site_addr *addrs;
	size_t naddrs;
	uint64_t roles;         /* bit i: rules.roles[i] */
	struct site_kv *attrs;  /* system, notify, install, data, parameter overrides, ... */
	size_t nattrs;
	char **partners;        /* storage systems this agent is partnered with */
	size_t npartners;
	int *brokers;           /* assigned brokers (host indices); NULL: every broker */
	size_t nbrokers;
	int line, col;          /* where its name is */
};

struct site_addr_ix;            /* uthash of exact addresses, private to site.c */
struct site_name_ix;            /* uthash of host names, private to site.c */
struct site_prefix_ix;          /* uthash of prefixes by (masked address, length), private to site.c */

struct site {
	char *path;
	struct site_host *hosts;
	size_t nhosts, cap_hosts;
	struct site_kv *settings; /* "set KEY VALUE" lines */
	size_t nsettings, cap_settings;
	struct site_addr_ix *exact;
	struct site_name_ix *names;
	struct site_prefix_ix *prefixes; /* (prefix, length) -> host */
	uint8_t plens[129];     /* the prefix lengths in use, longest first: a lookup is one probe each */
	size_t nplens;
};

void site_init(struct site *s);
void site_free(struct site *s);
/* Parse path against the rule pack r. Returns 0, or -1 with diagnostics in d. */
int site_load(struct site *s, const char *path, const struct rules *r, struct diag *d);
/* site_load(), and what a loadable site leaves out, as warnings in w at FILE:LINE:COL: an attribute the
 * pack says a host needs (partner= on an agent, notify= on PowerScale, ...), a storage system no agent
 * partners with. */
int site_load_lint(struct site *s, const char *path, const struct rules *r, struct diag *d, struct diag *w);
/* site_load() of text in memory (a site inferred from a capture), named name in diagnostics. */
int site_load_text(struct site *s, const char *name, const char *text, const struct rules *r, struct diag *d);
int site_host_find(const struct site *s, const char *name);
/* The host owning addr (exact address first, then the longest prefix), or -1. */
int site_lookup(const struct site *s, const uint8_t addr[16]);
const char *site_attr(const struct site_host *h, const char *key);
const char *site_setting(const struct site *s, const char *key);
bool site_host_has_role(const struct site_host *h, int role);
/* "192.0.2.10", "2001:db8::1" or "192.0.2.0/24"; buf needs 50 bytes. */
const char *site_addr_str(const struct site_addr *a, char *buf);

#endif
