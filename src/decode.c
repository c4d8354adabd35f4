/* decode.c: frames -> struct dec_pkt, the decoder's entry and its names. The layers are in their own
 * files: decode_link.c (link types, one table), decode_ip.c (IPv4, IPv6, TCP, UDP, ICMP errors),
 * decode_tunnel.c (UDP tunnels, GRE and ERSPAN, MPLS). Stateless and allocation-free; truncated and
 * invalid input are told apart and never read past. */
#include "flowaudit/decode.h"

#include <netinet/in.h>
#include <pcap/dlt.h>
#include <string.h>

#include "flowaudit/decode_parts.h"
#include "flowaudit/rd.h"
#include "flowaudit/util.h"

static const char *const status_names[DEC_NSTATUS] = {
	"ok", "not-ip", "other-l4", "fragment", "truncated-link", "truncated-ip", "truncated-l4", "bad-ip", "bad-l4",
	"tunnel-depth", "too-many-headers",
};

static const char *const encap_names[DEC_NENCAP] = {
	"gre", "erspan1", "erspan2", "erspan3", "vxlan", "geneve", "mpls", "pppoe", "ipip", "ip6ip", "gre-udp", "pptp",
	"gtp", "teredo", "ayiya",
};

size_t dec_tunnel_ports(const struct dec_cfg *cfg, uint16_t *ports)
{
	static const uint16_t fixed[] = {6081, 4754, 2152, 3544, 5072}; /* Geneve, GRE-UDP, GTP-U, Teredo, AYIYA */
	ports[0] = cfg->vxlan_port;
	memcpy(ports + 1, fixed, sizeof(fixed));
	return 1 + sizeof(fixed) / sizeof(fixed[0]);
}

const char *dec_encap_name(enum dec_encap e)
{
	return e < DEC_NENCAP ? encap_names[e] : "?";
}

const char *dec_status_name(enum dec_status s)
{
	return s < DEC_NSTATUS ? status_names[s] : "?";
}

/* Enter one more encapsulation layer, or refuse when nested too deep (hostile input loops). */
bool dec_enter(struct dec_pkt *out, enum dec_encap e)
{
	if (out->depth >= DEC_MAX_DEPTH)
		return false;
	out->depth++;
	out->encaps |= (uint16_t)(1u << e);
	return true;
}

/* Any frame: dec_frame() (decode.h) sends here those its fast path does not take. */
enum dec_status dec_frame_general(const struct dec_cfg *cfg, int dlt, const uint8_t *f, uint32_t caplen,
				  uint32_t wirelen, struct dec_pkt *out)
{
	zero_small(out, sizeof(*out));
	struct rd r = {f, caplen < wirelen || !wirelen ? caplen : wirelen, false, cfg, f};
	if (dlt == DLT_EN10MB) {
		/* Untagged IPv4 goes straight to dec_ipv4(), past the link table, Ethernet and its tags. */
		if (rd_be16(&r, 12) == ETH_IPV4) {
			struct rd ip = rd_sub(&r, 14);
			return dec_ipv4(&ip, out);
		}
	}
	r.trunc = false;
	return dec_link_layer(dlt, &r, out, 0);
}

