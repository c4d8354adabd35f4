/* filter.c: the kernel filter of a live sensor, written from the graph: what the audit needs of the
 * traffic, as BPF text for libpcap. */
#include "flowaudit/filter.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "flowaudit/util.h"

#define FILTER_MAX_RANGES 64 /* port ranges in a filter; more would take libpcap's optimiser minutes */

char *filter_text(const struct graph *g, const char *user_bpf, bool vlan, bool compact)
{
	char *f = NULL;
	size_t len = 0;
	/* TCP on the graph's ports, as ranges of consecutive ports (per-host port overrides add many). */
	size_t nranges = 0;
	for (unsigned port = 1; port < 65536; port++)
		if (graph_has_port(g, IPPROTO_TCP, (uint16_t)port) &&
		    (port == 1 || !graph_has_port(g, IPPROTO_TCP, (uint16_t)(port - 1))))
			nranges++;
	compact |= nranges > FILTER_MAX_RANGES;
	str_append(&f, &len, "(");
	if (compact) {
		str_append(&f, &len, "tcp");
	} else {
		for (unsigned port = 1; port < 65536; port++) {
			if (!graph_has_port(g, IPPROTO_TCP, (uint16_t)port))
				continue;
			unsigned last = port;
			while (last < 65535 && graph_has_port(g, IPPROTO_TCP, (uint16_t)(last + 1)))
				last++;
			if (last == port)
				str_append(&f, &len, "tcp port %u or ", port);
			else
				str_append(&f, &len, "tcp portrange %u-%u or ", port, last);
			port = last;
		}
		/* Connection attempts and closes on any port (unexpected flows), IPv4 and IPv6 without extension
		 * headers. */
		str_append(&f, &len, "tcp[tcpflags] & (tcp-syn|tcp-rst|tcp-fin) != 0 or (ip6 and ip6[6] == 6 and ip6[53] & 7 != 0)");
	}
	/* Every UDP datagram: an answered UDP exchange is judged on any port, as offline; the UDP tunnels of
	 * remote mirroring too. ICMP and ICMPv6 destination-unreachable errors; GRE, MPLS, PPPoE tunnels,
	 * decapsulated later. */
	str_append(&f, &len, " or udp or icmp[icmptype] == icmp-unreach or (icmp6 and ip6[40] == 1)"
		      " or proto gre or ether proto 0x8847 or ether proto 0x8864)");
	/* The same behind one or two VLAN tags. libpcap's "vlan" shifts the offsets for the rest of the
	 * expression, so the tagged clauses come last and nest, and the user's expression goes first. */
	if (vlan) {
		char *base = xstrdup(f);
		str_append(&f, &len, " or (vlan and (%s or (vlan and %s)))", base, base);
		free(base);
	}
	if (user_bpf && *user_bpf) {
		char *all = xasprintf("(%s) and (%s)", user_bpf, f);
		free(f);
		f = all;
	}
	return f;
}

void filter_tries(const struct graph *g, const char *user_bpf, char *out[FILTER_TRIES])
{
	out[0] = filter_text(g, user_bpf, true, false);
	out[1] = filter_text(g, user_bpf, false, false);
	out[2] = filter_text(g, user_bpf, true, true);
	out[3] = filter_text(g, user_bpf, false, true);
}
