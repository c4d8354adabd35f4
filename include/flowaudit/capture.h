/* capture.h: packets from libpcap. Several offline files are read as one capture, merged by timestamp
 * at nanosecond precision, each with the user's BPF filter; or one live interface (a SPAN port), with a
 * large kernel buffer, a filter built from the graph, drop counters, and an optional -w copy. */
#ifndef FLOWAUDIT_CAPTURE_H
#define FLOWAUDIT_CAPTURE_H

#include <pcap/pcap.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowaudit/diag.h"

#define CAP_IOBUF (1 << 20) /* stdio buffer of a capture file */
#define CAP_MAX_RECORD 262144 /* libpcap's largest sane captured length for the link types we decode */

struct cap_input {
	char *path;
	pcap_t *pcap;
	char *iobuf;            /* the file's stdio buffer (offline) */
	int dlt;
	bool nsec;              /* the file stores nanoseconds */
	uint32_t ts_unit;       /* nanoseconds per unit of the handle's ts.tv_usec (1, or 1000 if microseconds) */
	uint64_t packets;       /* records read (after the BPF filter) */
	uint64_t since_ns;      /* records stamped earlier are passed over, not counted */
	bool classic;           /* a pcap file (not pcapng) in this machine's byte order, version 2.4 */
	bool filtered;          /* prog holds the user's BPF filter */
	struct bpf_program prog;
	char *cut;              /* why reading stopped early (truncated record), or NULL */
	char *error;            /* a fatal read error ("packet N: ..."), or NULL */
	/* the next packet, read ahead for the merge */
	bool pending;
	uint64_t ts_ns;
	struct pcap_pkthdr *hdr;
	const u_char *data;
};

struct cap {
	struct cap_input *in;
	size_t n;
	size_t last;            /* 1 + the input of the packet handed out last, or 0 */
	bool live;              /* one input, a live interface */
	pcap_dumper_t *dump;    /* -w: every packet read is also written here */
	bool dump_owned;        /* this capture opened it (and closes it) */
	pthread_mutex_t *dump_lock; /* several captures (workers) write to one dump */
	uint16_t fanout_id;     /* live, with workers: the fanout group joined */
	int filter_used;        /* live: which of cap_live_opts.filters is applied */
};

struct cap_live_opts {
	const char *iface;      /* "any" for every interface */
	int snaplen;            /* bytes kept per packet */
	int buffer_mb;          /* kernel buffer */
	bool promisc;
	/* BPF expressions, already combined with the user's, best first: the first that compiles for this link
	 * type and fits the kernel's limit is used (a link type may refuse VLAN clauses; a graph of many ports
	 * needs the compact form). */
	const char *const *filters;
	size_t nfilters;
	bool fanout;            /* join a PACKET_FANOUT group (one of several workers) ... */
	bool fanout_create;     /* ... a new one (its id is then in cap.fanout_id), or ... */
	uint16_t fanout_id;     /* ... this one */
	const struct dec_cfg *dec; /* the fanout spreads the flows inside the tunnels this decoder opens */
};

struct cap_stats {
	uint64_t dropped, ifdropped;
};

struct cap_pkt {
	size_t input;
	int dlt;
	uint64_t ts_ns;
	uint32_t caplen, len;
	const uint8_t *data;    /* valid until the next cap_next() */
	bool kept;              /* cap_read_all(): data stays valid until its reuse callback, not only during fn */
};

/* Open every file, check its link type, apply bpf (may be NULL). -1 with a diagnostic naming the file. */
int cap_open_files(struct cap *c, char *const *paths, size_t n, const char *bpf, struct diag *d);
/* Open a live interface. -1 with a diagnostic naming the interface. */
int cap_open_live(struct cap *c, const struct cap_live_opts *o, struct diag *d);
/* Live: filter with the first of filters that compiles and fits the kernel (BPF_MAXINSNS); which one
 * (0-based), or -1 with a diagnostic naming the interface. Safe while capturing (a reload). */
int cap_set_filter(struct cap *c, const char *const *filters, size_t n, struct diag *d);
/* Also write every packet read to path (pcap, nanoseconds). */
int cap_write_to(struct cap *c, const char *path, struct diag *d);
/* The next packet across all inputs in timestamp order: 1, 0 at the end, -1 when an input is
 * unusable (its error field says why), CAP_TIMEOUT when a live interface had nothing for a while. */
#define CAP_TIMEOUT 2
int cap_next(struct cap *c, struct cap_pkt *out);
/* Offline: hand every packet, in the order cap_next() would, to fn (the packet is valid during the call
 * only, unless its kept says it stays valid until reuse(ctx) is called). One pcap file in this machine's
 * byte order is read by our own record reader, straight from large reads with no copy per packet (its
 * packets are kept: reuse, when not NULL, is called before the reader overwrites them); any other
 * (pcapng, swapped, old versions, several files) through libpcap. The environment variable
 * FLOWAUDIT_READER=libpcap makes libpcap read every file (to compare the two). 0 at the end, -1 as
 * cap_next(). */
typedef void (*cap_fn)(void *ctx, const struct cap_pkt *p);
typedef void (*cap_reuse_fn)(void *ctx);
int cap_read_all(struct cap *c, cap_fn fn, cap_reuse_fn reuse, void *ctx);
/* Pass over packets stamped before ts_ns: with workers, those from before the fanout group was complete
 * may have reached several sockets. (Draining the socket would not do: a TPACKET_V3 block that has not
 * timed out yet is not readable.) */
void cap_skip_before(struct cap *c, uint64_t ts_ns);
/* Kernel counters of a live capture (libpcap's pcap_stats; see docs/span-port.md for what they miss). */
int cap_stats(struct cap *c, struct cap_stats *s);
/* After opening: become user (setgroups, setgid, setuid), keeping no capabilities. */
int cap_drop_privileges(const char *user, struct diag *d);
void cap_close(struct cap *c);

#endif
