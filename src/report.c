/* report.c: the registry of report formats and what they share: address pairs of an expected edge. */
#include "flowaudit/report.h"

#include <netinet/in.h>
#include <string.h>

#include "flowaudit/util.h"

static const struct rep_format *const formats[] = {&rep_text, &rep_json, &rep_dot, &rep_html};

const struct rep_format *rep_find(const char *name)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(formats[i]->name, name) == 0)
			return formats[i];
	return NULL;
}

const char *rep_proto(uint8_t proto)
{
	return rules_proto_name(proto);
}

size_t rep_edge_pairs(const struct graph *g, const struct graph_edge *e, struct rep_pair *pairs, size_t max)
{
	size_t n = 0;
	const struct site_host *c = &g->site->hosts[e->client];
	for (size_t i = 0; i < c->naddrs && n < max; i++) {
		bool v4 = addr_is_v4(c->addrs[i].a);
		if (e->server == GRAPH_INTERNET) {
			site_addr_str(&c->addrs[i], pairs[n].client);
			strcpy(pairs[n].server, v4 ? "0.0.0.0/0" : "::/0");
			n++;
			continue;
		}
		const struct site_host *s = &g->site->hosts[e->server];
		for (size_t k = 0; k < s->naddrs && n < max; k++)
			if (addr_is_v4(s->addrs[k].a) == v4) {
				site_addr_str(&c->addrs[i], pairs[n].client);
				site_addr_str(&s->addrs[k], pairs[n].server);
				n++;
			}
	}
	return n;
}
