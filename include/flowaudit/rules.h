/* rules.h: the rules language: roles, port parameters, services, edges, forbids and ignores.
 * Parsing only: expanding rules against a site is graph.c's job. Grammar: docs/rules.md. */
#ifndef FLOWAUDIT_RULES_H
#define FLOWAUDIT_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "flowaudit/diag.h"

#define RULES_MAX_ROLES 64 /* roles are a bit mask on each host */
#define RULES_ROLE_INTERNET 0 /* built in: any address that is not a site host */

enum rules_scope { SCOPE_ANY, SCOPE_PARTNER, SCOPE_BROKERS, SCOPE_CEE };
enum rules_level { LEVEL_REQUIRED, LEVEL_OPTIONAL, LEVEL_FORBID };

struct rules_port {
	uint8_t proto;          /* IPPROTO_TCP or IPPROTO_UDP; "both" becomes two entries */
	uint16_t port;          /* literal port, or the parameter's rule-pack default */
	int param;              /* index into rules.params of the parameter's first entry, or -1 */
	int group;              /* entries of one group are alternatives: any one satisfies it */
};

struct rules_cond {
	char *key;              /* a site setting or host attribute: tls, notify, install, data, ... */
	char **values;          /* any of these */
	size_t nvalues;
	bool negate;            /* key!=value */
};

struct rules_edge {
	char *requirement;      /* the human name of the path, unique in the pack */
	int client, server;     /* role indices */
	bool both_ways;         /* '<->': the edge holds in both directions */
	enum rules_level level;
	enum rules_scope scope;
	int via;                /* scope=cee: role the linking storage host must have, or -1 */
	struct rules_port *ports;
	size_t nports, cap_ports;
	int ngroups;
	struct rules_cond *conds;
	size_t nconds, cap_conds;
	char *note;             /* shown next to matching traffic, e.g. "SMB 1.0 is legacy" */
	char *file;
	int line;
};

struct rules_param {
	char *name;             /* without the '$' */
	uint16_t port;
	struct rules_cond *conds; /* a conditional default, evaluated on the server host */
	size_t nconds;
	char *desc;
};

struct rules_role {
	char *name;
	char *desc;
	int group;              /* index into rules.groups: where reports draw its hosts; -1 when none */
	bool apart;             /* "apart": a known host that is not part of the product (DNS, a domain controller) */
};

struct rules_service {
	char *name;
	struct rules_port *ports;
	size_t nports;
	char *desc;
};

/* speaks APP {| APP} PORTSPEC {, PORTSPEC} "WHY": the applications a port carries (app.h's names); a
 * recognised application other than these on the port is a finding (wrong-protocol). */
struct rules_speaks {
	uint32_t apps;          /* bit (1 << enum app_proto) per application allowed */
	uint8_t proto;
	uint16_t lo, hi;
	char *why;
};

struct rules_ignore {
	uint8_t proto;
	uint16_t lo, hi;
	char *why;
};

/* learn onc-rpc PROGRAM NAME "DESCRIPTION": a service without a fixed port, whose port a portmapper
 * (rpcbind) reply names; that port is then expected between the client that asked and the server, as a
 * path of the edge the portmapper's flow was on. */
struct rules_learn {
	uint32_t program;
	char *name, *desc;
};

struct rules {
	struct rules_role *roles;
	size_t nroles, cap_roles;
	struct rules_param *params;
	size_t nparams, cap_params;
	struct rules_service *services;
	size_t nservices, cap_services;
	struct rules_edge *edges;
	size_t nedges, cap_edges;
	struct rules_ignore *ignores;
	size_t nignores, cap_ignores;
	struct rules_speaks *speaks;
	size_t nspeaks, cap_speaks;
	struct rules_learn *learns;
	size_t nlearns, cap_learns;
	struct rules_attr *attrs;
	size_t nattrs, cap_attrs;
	char **groups;          /* role display groups, in the order the pack names them ("group" on a role) */
	size_t ngroups;
	char **loaded;          /* real paths already read, so an include is read once */
	size_t nloaded, cap_loaded;
};

/* "required [for ROLE,...] [when COND...]": hosts of those roles (all the attribute's, when none are named)
 * should give the attribute when the conditions hold; lint warns otherwise. */
struct rules_require {
	uint64_t roles;
	struct rules_cond *conds;
	size_t nconds;
};

/* What an attribute's value names, when it names something of the site rather than a value of a list. */
enum rules_ref { REF_NONE, REF_SYSTEM, REF_HOST, REF_ROLE, REF_NAMES_SYSTEM };

/* An attribute a site may give (on a host, or with "set" for the site) and conditions may test: the
 * pack's vocabulary ("attr" statements, docs/rules.md). */
struct rules_attr {
	char *key;
	char *desc;
	char **values;          /* the values it takes; NULL: a name (ref) */
	size_t nvalues;
	uint64_t roles;         /* the roles whose hosts take it (bit per role); 0 for a site setting */
	bool site_setting;      /* "on site": set with "set KEY VALUE" */
	bool list;              /* a comma-separated list of values */
	char *def;              /* the value conditions see when none is given, or NULL */
	struct rules_require *reqs; /* when a host should give it */
	size_t nreqs;
	enum rules_ref ref;     /* what the value names */
	int ref_role;           /* REF_ROLE: a host with this role */
	int gives_role;         /* REF_HOST: the role the named host takes ("gives ROLE"), or -1 */
	char *file;
	int line;
};

void rules_init(struct rules *r);
void rules_free(struct rules *r);
/* Parse path (and its includes) into r. Returns 0, or -1 with diagnostics in d. */
int rules_load(struct rules *r, const char *path, struct diag *d);
int rules_role_find(const struct rules *r, const char *name);
/* The vocabulary a site file may use with this pack, as Markdown lists (flowaudit roles, docs/site.md):
 * roles, attributes (where, values, default, when required) and port parameters. 0, or -1 on a write
 * error. */
int rules_print_vocabulary(FILE *out, const struct rules *r);
/* The attribute the pack declares with this key, or NULL. */
const struct rules_attr *rules_attr_find(const struct rules *r, const char *key);
/* Does a comma-separated value of a list attribute hold item? (A plain value is a list of one.) */
bool rules_value_has(const char *value, const char *item);
int rules_param_find(const struct rules *r, const char *name);
/* Does a condition hold for this value (NULL when the key is not set)? */
bool rules_cond_holds(const struct rules_cond *c, const char *value);
const char *rules_proto_name(uint8_t proto);
const char *rules_level_name(enum rules_level l);
/* The applications proto/port may carry (bits of enum app_proto), or 0 when the pack does not say. */
uint32_t rules_speaks_on(const struct rules *r, uint8_t proto, uint16_t port);
/* The learn statement of an RPC program, or NULL when the pack learns none of its ports. */
const struct rules_learn *rules_learn_of(const struct rules *r, uint32_t program);
/* Is proto/port covered by an ignore declaration? Returns its reason, or NULL. */
const char *rules_ignored(const struct rules *r, uint8_t proto, uint16_t port);

#endif
