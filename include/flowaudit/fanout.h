/* fanout.h: spreading one live interface over several capture sockets (--workers) with Linux's
 * PACKET_FANOUT, steered by our own classic BPF program: a hash of the flow that is the same both ways
 * and, for an ICMP or ICMPv6 error, the same as the flow of the packet it quotes. The kernel's own hash
 * mode is neither (a NIC's RSS hash is one-way; an ICMP error hashes on the router's address). */
#ifndef FLOWAUDIT_FANOUT_H
#define FLOWAUDIT_FANOUT_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FANOUT_MAX_INSNS 160

/* Where the program reads the network header: in the kernel, at the skb's network header (ethertype
 * from the skb's protocol, VLAN tag already taken off); for tests, in an Ethernet frame (libpcap's
 * bpf_filter() runs it in user space). */
enum fanout_frame { FANOUT_KERNEL, FANOUT_ETHERNET };

/* Build the program into prog (FANOUT_MAX_INSNS entries); returns its length. UDP flows to or from one
 * of the tunnel ports are spread by addresses only (a VXLAN source port differs each way). */
size_t fanout_program(struct bpf_insn *prog, enum fanout_frame frame, const uint16_t *tunnel_ports, size_t nports);

/* Join the capture socket fd to fanout group *id, steered by the program; with create, make a new group
 * instead and set *id to the id the kernel gave it (which may be 0: the kernel's first unique id after
 * boot is). 0, or -1 with errno set. */
int fanout_join(int fd, bool create, uint16_t *id, const uint16_t *tunnel_ports, size_t nports);

#endif
