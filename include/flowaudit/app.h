/* app.h: what a flow's first payload bytes say about the application behind the port. Each recogniser
 * (src/app_*.c) is a pure function from (direction, bytes, state) to facts kept in the flow's struct
 * app_state; app.c picks the recogniser from the first bytes (by content, never by port) and stops
 * feeding a flow once it has decided, or after APP_SEGS segments a direction, of which the first
 * APP_PEEK bytes each. */
#ifndef FLOWAUDIT_APP_H
#define FLOWAUDIT_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define APP_PEEK 256   /* payload bytes of a segment the decoder keeps for the recognisers */
#define APP_SEGS 4     /* segments looked at per direction, at most */
#define APP_WINDOW (APP_SEGS * APP_PEEK) /* bytes looked at per direction, at most */
#define APP_SNI 24     /* bytes of a TLS server name kept */
#define APP_CLAIM 16   /* bytes enough for every recogniser to claim its protocol, or not */
#define APP_RPC_LEARN 2 /* ports a portmapper flow's replies teach, kept */
#define APP_RPC_PORTMAP 100000 /* the portmapper's (rpcbind's) RPC program */

enum app_proto {
	APP_NONE,       /* no payload seen */
	APP_UNKNOWN,    /* payload no recogniser claims */
	APP_TLS,
	APP_FPOLICY,    /* NetApp FPolicy, XML */
	APP_FPOLICY_PB, /* NetApp FPolicy framing, a body that is not XML (protobuf, ONTAP 9.15.1+) */
	APP_OPENWIRE,
	APP_SMB,
	APP_RPC,
	APP_SSH,
	APP_HTTP,
	APP_SYSLOG,
	APP_NPROTO
};

/* The XML roots Dell CEE exchanges over HTTP (OneFS in UTF-8, PowerStore and CEE itself in UTF-16LE). */
enum app_cee { APP_CEE_NONE, APP_CEE_CHECKFILE, APP_CEE_REGISTER, APP_CEE_HEARTBEAT, APP_CEE_CHECKEVENT };

enum app_handshake { APP_HS_NOT_SEEN, APP_HS_INCOMPLETE, APP_HS_COMPLETE, APP_HS_FAILED, APP_HS_CUT };

enum { APP_C2S, APP_S2C };

/* TLS: what was seen (bits of tls.seen) */
#define APP_TLS_CH 0x01         /* ClientHello */
#define APP_TLS_SH 0x02         /* ServerHello */
#define APP_TLS_CLIENT_ENC 0x04 /* the client's encrypted records (handshake over on its side) */
#define APP_TLS_SERVER_ENC 0x08
#define APP_TLS_ALERT 0x10

struct app_state {
	uint8_t proto;          /* enum app_proto */
	uint8_t done;           /* decided: no more bytes are looked at */
	uint8_t segs[2];        /* segments looked at per direction */
	uint8_t cut;            /* bit per direction: a segment cut by the snaplen before it was understood */
	uint8_t first;          /* the direction whose bytes were claimed first */
	uint8_t unclaimed;      /* bit per direction: its first bytes claimed by no recogniser */
	uint8_t other;          /* the protocol the other direction's first bytes are of, when not proto
				 * (TLS to a plain OpenWire connector that sends its own hello): a failed handshake */
	uint16_t seen[2];       /* bytes looked at per direction */
	union {
		struct {
			uint16_t hello_version, max_offered, server_version;
			uint16_t skip_c, skip_s; /* bytes of a record still to come, per direction */
			uint8_t seen, alert_level, alert_desc, alert_dir;
			char sni[APP_SNI];
		} tls;
		struct {
			uint8_t nego_req, nego_resp, keep_alive, notifications, alerts, screens;
		} fpolicy;
		struct {
			uint8_t smb1[2], smb2[2]; /* negotiate framing seen per direction */
			uint8_t nb_type;          /* the NetBIOS session message type first seen, plus one */
			uint8_t offers_smb2;      /* an SMB1 negotiate listing SMB 2 dialects */
			uint16_t dialect;         /* chosen by the server (SMB2 negotiate response) */
		} smb;
		struct {
			uint32_t prog, vers, proc;
			uint8_t calls, replies, accepted, denied;
			uint32_t xid;             /* of the last call */
			uint32_t ask_prog;        /* a portmapper query's program (GETPORT, GETADDR) */
			uint8_t ask_udp;          /* and transport: 1 udp, 0 tcp */
			uint8_t nlearnt;
			uint8_t learnt_udp;       /* bit per learnt port */
			uint32_t learnt_prog[APP_RPC_LEARN];
			uint16_t learnt_port[APP_RPC_LEARN]; /* the ports the portmapper's replies named */
		} rpc;
		struct {
			uint8_t magic[2];
			uint32_t version[2];
		} openwire;
		struct {
			uint8_t opened[2];        /* an SSH banner, an HTTP request or status line, a syslog PRI */
			uint16_t status;          /* HTTP */
			char word[16];            /* SSH software version, HTTP method, syslog PRI */
			uint8_t cee;              /* Dell CEE over HTTP: enum app_cee of the request's XML root */
			uint8_t cee_status;       /* its response's status="0x.." (0x16: no consumer registered) */
			bool cee_answered;        /* a CheckFileResponse or other CEE answer was seen */
		} text;
	} u;
};

/* Feed a segment's payload: the first n bytes of its len (n <= APP_PEEK), cut when the capture kept fewer
 * than were sent and fewer than APP_PEEK. dir: APP_C2S or APP_S2C; tcp: a TCP segment, else a UDP
 * datagram. Never reads past n. */
void app_feed(struct app_state *s, int dir, const uint8_t *p, size_t n, size_t len, bool cut, bool tcp);
/* Which recogniser the first bytes of a flow are for (APP_UNKNOWN: none); what app_feed() decides on
 * its first segment, for a caller that would rather not keep state for a flow no recogniser claims. */
enum app_proto app_claim(const uint8_t *p, size_t n, bool tcp);
/* Does the flow still want bytes? */
static inline bool app_wants(const struct app_state *s, int dir)
{
	return !s->done && !(s->unclaimed >> dir & 1) && s->segs[dir] < APP_SEGS && s->seen[dir] < APP_WINDOW;
}
enum app_handshake app_handshake(const struct app_state *s);
const char *app_proto_name(enum app_proto p);
const char *app_handshake_name(enum app_handshake h);

/* A fact in words: key and value, for the reports. Returns how many were written (at most max). */
struct app_fact {
	const char *key;
	char value[48];
};
size_t app_facts(const struct app_state *s, struct app_fact *out, size_t max);

/* The recognisers (app_*.c): whether the first bytes are theirs, and what a segment says. */
bool app_tls_claims(const uint8_t *p, size_t n);
void app_tls_feed(struct app_state *s, int dir, const uint8_t *p, size_t n, size_t len);
bool app_fpolicy_claims(const uint8_t *p, size_t n);
void app_fpolicy_feed(struct app_state *s, int dir, const uint8_t *p, size_t n);
bool app_smb_claims(const uint8_t *p, size_t n);
void app_smb_feed(struct app_state *s, int dir, const uint8_t *p, size_t n);
bool app_rpc_claims(const uint8_t *p, size_t n, bool tcp);
void app_rpc_feed(struct app_state *s, int dir, const uint8_t *p, size_t n, bool tcp);
bool app_openwire_claims(const uint8_t *p, size_t n);
void app_openwire_feed(struct app_state *s, int dir, const uint8_t *p, size_t n);
/* SSH banners, HTTP request and status lines, syslog: a line of text says what it is */
enum app_proto app_text_claims(const uint8_t *p, size_t n);
void app_text_feed(struct app_state *s, int dir, const uint8_t *p, size_t n);

#endif
