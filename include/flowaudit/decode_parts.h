/* decode_parts.h: how the decoder's files (decode.c, decode_link.c, decode_ip.c, decode_tunnel.c) call
 * each other; nothing outside the decoder includes it. Each function decodes what starts at r's first
 * byte into out and returns its status. */
#ifndef FLOWAUDIT_DECODE_PARTS_H
#define FLOWAUDIT_DECODE_PARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowaudit/decode.h"
#include "flowaudit/rd.h"

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100 /* IEEE 802.1Q */
#define ETH_QINQ 0x88a8 /* IEEE 802.1ad */
#define ETH_QINQ_OLD 0x9100
#define ETH_VNTAG 0x8926 /* Cisco VN-Tag: 4 bytes, then the Ethertype */
#define ETH_PBB 0x88e7   /* IEEE 802.1ah I-TAG: 4 bytes, the customer MAC addresses, the Ethertype */

/* decode.c */
bool dec_enter(struct dec_pkt *out, enum dec_encap e); /* one more layer, or false past DEC_MAX_DEPTH */

/* decode_link.c: a link layer of type dlt (depth: link layers nested, as PPI's); after one, an Ethertype
 * or an IP version. */
enum dec_status dec_link_layer(int dlt, struct rd *r, struct dec_pkt *out, int depth);
enum dec_status dec_ethernet(struct rd *r, struct dec_pkt *out);
enum dec_status dec_tagged(struct rd *r, size_t off, struct dec_pkt *out);
enum dec_status dec_by_ethertype(struct rd *r, uint16_t type, struct dec_pkt *out);
enum dec_status dec_by_version(struct rd *r, struct dec_pkt *out);
enum dec_status dec_ppp(struct rd *r, size_t off, struct dec_pkt *out);

/* decode_ip.c */
enum dec_status dec_ipv4(struct rd *r, struct dec_pkt *out);
enum dec_status dec_ipv6(struct rd *r, struct dec_pkt *out);
enum dec_status dec_transport(struct rd *r, uint8_t proto, size_t l4len, struct dec_pkt *out);

/* decode_tunnel.c */
enum dec_status dec_udp_tunnel(struct rd *r, struct dec_pkt *out);
enum dec_status dec_gre(struct rd *r, struct dec_pkt *out);
enum dec_status dec_mpls(struct rd *r, struct dec_pkt *out);

#endif
