/* nft_route.c: which hooks of this network namespace a path's first packet crosses, from its own
 * addresses and routes over rtnetlink (libmnl), as `ip route get` answers:
 *   the server address is local: input, arriving on the device that leads back to the client;
 *   the client address is local: output, leaving on the device of the route to the server;
 *   neither, with forwarding on and the two ends behind different devices: forward.
 * Two ends behind one device (one connected subnet, or both past the same gateway) never cross this
 * namespace. */
#include "flowaudit/nft.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_arp.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flowaudit/util.h"

struct local_addr {
	int family;
	uint8_t a[16];
};

struct nft_routes {
	struct mnl_socket *nl;
	uint32_t portid, seq;
	struct local_addr *addrs;
	size_t naddrs, cap_addrs;
	bool forwarding[2];     /* IPv4, IPv6 */
};

struct route {
	bool found;
	unsigned char type;     /* RTN_ */
	uint32_t oif;
	bool gateway;
};

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);
	if (mnl_attr_type_valid(a, RTA_MAX) > 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static int on_addr(const struct nlmsghdr *nlh, void *arg)
{
	struct nft_routes *r = arg;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1 > RTA_MAX + 1 ? IFA_MAX + 1 : RTA_MAX + 1] = {0};
	mnl_attr_parse(nlh, sizeof(*ifa), attr_cb, tb);
	const struct nlattr *a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	size_t len = ifa->ifa_family == AF_INET ? 4 : 16;
	if (!a || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) || mnl_attr_get_payload_len(a) < len)
		return MNL_CB_OK;
	GROW(r->addrs, r->cap_addrs, r->naddrs);
	struct local_addr *l = &r->addrs[r->naddrs++];
	memset(l, 0, sizeof(*l));
	l->family = ifa->ifa_family;
	memcpy(l->a, mnl_attr_get_payload(a), len);
	return MNL_CB_OK;
}

static int on_route(const struct nlmsghdr *nlh, void *arg)
{
	struct route *rt = arg;
	const struct rtmsg *rm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = {0};
	mnl_attr_parse(nlh, sizeof(*rm), attr_cb, tb);
	rt->found = true;
	rt->type = rm->rtm_type;
	rt->oif = tb[RTA_OIF] ? mnl_attr_get_u32(tb[RTA_OIF]) : 0;
	rt->gateway = tb[RTA_GATEWAY] != NULL || tb[RTA_VIA] != NULL;
	return MNL_CB_OK;
}

/* Send nlh, run cb over the answers. -1 with errno on failure (a route get of an unreachable address
 * answers ENETUNREACH or EHOSTUNREACH). */
static int talk(struct nft_routes *r, struct nlmsghdr *nlh, mnl_cb_t cb, void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	ssize_t n;
	int rc = MNL_CB_OK;
	while ((n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf))) > 0) {
		rc = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, r->portid, cb, arg);
		if (rc <= MNL_CB_STOP)
			break;
	}
	return n < 0 || rc < 0 ? -1 : 0;
}

static bool read_flag(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = 0;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v != 0;
}

struct nft_routes *nft_routes_open(struct diag *d)
{
	struct nft_routes *r = xcalloc(1, sizeof(*r));
	r->nl = mnl_socket_open(NETLINK_ROUTE);
	if (!r->nl || mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		diag_add(d, NULL, "cannot read the routes (rtnetlink): %s", strerror(errno));
		nft_routes_close(r);
		return NULL;
	}
	r->portid = mnl_socket_get_portid(r->nl);
	r->seq = (uint32_t)time(NULL);
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++r->seq;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;
	if (talk(r, nlh, on_addr, r) < 0) {
		diag_add(d, NULL, "cannot read this namespace's addresses (rtnetlink): %s", strerror(errno));
		nft_routes_close(r);
		return NULL;
	}
	/* /proc/sys/net follows the namespace of whoever opens it */
	r->forwarding[0] = read_flag("/proc/sys/net/ipv4/ip_forward");
	r->forwarding[1] = read_flag("/proc/sys/net/ipv6/conf/all/forwarding");
	return r;
}

void nft_routes_close(struct nft_routes *r)
{
	if (!r)
		return;
	if (r->nl)
		mnl_socket_close(r->nl);
	free(r->addrs);
	free(r);
}

bool nft_route_is_local(struct nft_routes *r, int family, const uint8_t *addr)
{
	size_t len = family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < r->naddrs; i++)
		if (r->addrs[i].family == family && !memcmp(r->addrs[i].a, addr, len))
			return true;
	return false;
}

bool nft_route_local_in(struct nft_routes *r, int family, const uint8_t *prefix, int bits, uint8_t *out)
{
	size_t len = family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < r->naddrs; i++) {
		const uint8_t *a = r->addrs[i].a;
		if (r->addrs[i].family != family)
			continue;
		int b = 0;
		while (b < bits && ((a[b / 8] ^ prefix[b / 8]) & (0x80 >> (b % 8))) == 0)
			b++;
		if (b == bits) {
			memcpy(out, a, len);
			return true;
		}
	}
	return false;
}

static int route_get(struct nft_routes *r, int family, const uint8_t *dst, struct route *rt)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++r->seq;
	struct rtmsg *rm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rm));
	rm->rtm_family = (unsigned char)family;
	rm->rtm_dst_len = family == AF_INET ? 32 : 128;
	mnl_attr_put(nlh, RTA_DST, family == AF_INET ? 4 : 16, dst);
	memset(rt, 0, sizeof(*rt));
	if (talk(r, nlh, on_route, rt) < 0) {
		if (errno == ENETUNREACH || errno == EHOSTUNREACH || errno == ESRCH || errno == EINVAL)
			return 0; /* no route: found stays false */
		return -1;
	}
	return 0;
}

static void device(uint32_t index, char name[IFNAMSIZ], uint32_t *out_index, uint16_t *type)
{
	name[0] = 0;
	*out_index = index;
	*type = 0;
	if (!index || !if_indextoname(index, name))
		return;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && ioctl(fd, SIOCGIFHWADDR, &ifr) == 0)
		*type = ifr.ifr_hwaddr.sa_family;
	if (fd >= 0)
		close(fd);
}

int nft_route_packet(struct nft_routes *r, struct nft_pkt *p, struct diag *d)
{
	bool client_here = nft_route_is_local(r, p->family, p->saddr);
	bool server_here = nft_route_is_local(r, p->family, p->daddr);
	struct route to_client, to_server;
	if (route_get(r, p->family, p->saddr, &to_client) < 0 || route_get(r, p->family, p->daddr, &to_server) < 0) {
		diag_add(d, NULL, "cannot look up a route (rtnetlink): %s", strerror(errno));
		return -1;
	}
	p->iif[0] = p->oif[0] = 0;
	p->iif_index = p->oif_index = 0;
	if (server_here) {
		p->path = NFT_INPUT;
		if (client_here) /* to itself: over loopback */
			device(if_nametoindex("lo"), p->iif, &p->iif_index, &p->iif_type);
		else if (to_client.found)
			device(to_client.oif, p->iif, &p->iif_index, &p->iif_type);
		else
			return 1; /* no way back to the client: no connection from it is ever answered here */
		return 0;
	}
	if (client_here) {
		if (!to_server.found || to_server.type != RTN_UNICAST)
			return 1;
		p->path = NFT_OUTPUT;
		device(to_server.oif, p->oif, &p->oif_index, &p->oif_type);
		return 0;
	}
	if (!r->forwarding[p->family == AF_INET6] || !to_client.found || !to_server.found ||
	    to_client.type != RTN_UNICAST || to_server.type != RTN_UNICAST || to_client.oif == to_server.oif)
		return 1;
	p->path = NFT_FORWARD;
	device(to_client.oif, p->iif, &p->iif_index, &p->iif_type);
	device(to_server.oif, p->oif, &p->oif_index, &p->oif_type);
	return 0;
}
