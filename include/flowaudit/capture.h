/* capture.h: packets from libpcap. Several offline files are read as one capture, merged by timestamp
 * at nanosecond precision, each with the user's BPF filter. Live interfaces are not handled yet. */
#ifndef FLOWAUDIT_CAPTURE_H
#define FLOWAUDIT_CAPTURE_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowaudit/diag.h"

struct cap_input {
	char *path;
	pcap_t *pcap;
	int dlt;
	bool nsec;              /* the file stores nanoseconds */
	uint64_t packets;       /* records read (after the BPF filter) */
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
};

struct cap_pkt {
	size_t input;
	int dlt;
	uint64_t ts_ns;
	uint32_t caplen, len;
	const uint8_t *data;    /* valid until the next cap_next() */
};

/* Open every file, check its link type, apply bpf (may be NULL). -1 with a diagnostic naming the file. */
int cap_open_files(struct cap *c, char *const *paths, size_t n, const char *bpf, struct diag *d);
/* The next packet across all inputs in timestamp order: 1, 0 at the end, -1 when an input is
 * unusable (its error field says why). */
int cap_next(struct cap *c, struct cap_pkt *out);
void cap_close(struct cap *c);

#endif
