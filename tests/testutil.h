/* testutil.h: helpers shared by the CUnit suites: temporary files, running the binary, JSON, and
 * hand-built frames. Frames are built byte by byte here, independently of tools/mkpcap. */
#ifndef FLOWAUDIT_TESTUTIL_H
#define FLOWAUDIT_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A fresh temporary directory for this run (removed at exit). */
const char *tu_dir(void);
/* Write content (len bytes, or strlen when len is (size_t)-1) to tu_dir()/name; returns the path (static
 * storage rotates among 8 buffers). */
const char *tu_write(const char *name, const void *content, size_t len);
/* Run a shell command; its stdout and stderr are returned (caller frees). Returns the exit status. */
int tu_run(const char *cmd, char **out, char **err);
/* The flowaudit binary under test ($FLOWAUDIT, default build/release/flowaudit). */
const char *tu_flowaudit(void);
/* Run "flowaudit audit ARGS --format json" and parse stdout; *status gets the exit status. */
json_t *tu_audit_json(const char *args, int *status);
/* The edge row of a JSON report with this client address (and port when > 0), or NULL. */
json_t *tu_edge_by_client(json_t *report, const char *client_addr, int port);

/* A pcap file (Ethernet, microseconds) of n frames, one a millisecond from 1763971200 s; returns its path. */
const char *tu_pcap(const char *name, uint8_t *const *frames, const size_t *lens, size_t n);
/* Frames: Ethernet + IPv4/IPv6 + TCP/UDP. Addresses as text. Returns the frame length. */
size_t tu_eth_tcp(uint8_t *buf, const char *src, const char *dst, uint16_t sport, uint16_t dport, uint8_t flags,
		  uint32_t seq, size_t payload);
size_t tu_eth_udp(uint8_t *buf, const char *src, const char *dst, uint16_t sport, uint16_t dport, size_t payload);
/* An ICMP (or ICMPv6) destination unreachable from router to the original sender, quoting quote_len
 * bytes of the IP packet in orig_ip (the frame's bytes after the Ethernet header). */
size_t tu_eth_icmp_unreach(uint8_t *buf, const char *router, const char *to, uint8_t code, const uint8_t *orig_ip,
			   size_t quote_len);



/* Each suite file registers itself; test_main.c calls them all. */
void suite_rules(void);
void suite_graph(void);
void suite_decode(void);
void suite_flow(void);
void suite_classify(void);
void suite_infer(void);
void suite_e2e(void);
void suite_badinput(void);
void suite_tunnel(void);
void suite_zeek(void);
void suite_fanout(void);
void suite_capture(void);
void suite_clock(void);
void suite_nft(void);
void suite_app(void);
#define TU_ADD(suite, fn) CU_add_test((suite), #fn, (fn))
#endif
