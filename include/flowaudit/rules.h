/* rules.h: the rules language: roles, port parameters, services, edges, forbids and ignores.
 * Parsing only: expanding rules against a site is graph.c's job. Grammar: docs/rules.md. */
#ifndef FLOWAUDIT_RULES_H
#define FLOWAUDIT_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
};

struct rules_service {
	char *name;
	struct rules_port *ports;
	size_t nports;
	char *desc;
};

struct rules_ignore {
	uint8_t proto;
	uint16_t lo, hi;
	char *why;
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
	char **loaded;          /* real paths already read, so an include is read once */
	size_t nloaded, cap_loaded;
};

/* Attributes a site may set and conditions may test, with their allowed values (NULL: any). */
struct rules_attr {
	const char *key;
	const char *const *values;
	bool site_setting;      /* set with "set KEY VALUE" in a site, not on a host */
};
extern const struct rules_attr rules_attrs[];
extern const size_t rules_nattrs;
const struct rules_attr *rules_attr_find(const char *key);

void rules_init(struct rules *r);
void rules_free(struct rules *r);
/* Parse path (and its includes) into r. Returns 0, or -1 with diagnostics in d. */
int rules_load(struct rules *r, const char *path, struct diag *d);
int rules_role_find(const struct rules *r, const char *name);
int rules_param_find(const struct rules *r, const char *name);
/* Does a condition hold for this value (NULL when the key is not set)? */
bool rules_cond_holds(const struct rules_cond *c, const char *value);
const char *rules_proto_name(uint8_t proto);
const char *rules_scope_name(enum rules_scope s);
const char *rules_level_name(enum rules_level l);
/* Is proto/port covered by an ignore declaration? Returns its reason, or NULL. */
const char *rules_ignored(const struct rules *r, uint8_t proto, uint16_t port);

#endif
