/* app_rpc.c: ONC RPC (RFC 5531) over TCP (a 4-byte record mark first, RFC 5531 section 11) or UDP: a
 * CALL's program, version and procedure, a REPLY accepted (and its accept_stat) or denied. A portmapper
 * reply to GETPORT (RFC 1833, version 2, procedure 3: a port) or GETADDR (versions 3 and 4, procedure
 * 3: a universal address) names the port of the program asked for: kept, with the program and the
 * transport asked, for the classifier to expect (the NFS v3 side services have no fixed port). */
#include "flowaudit/app.h"

#include <string.h>

#include "flowaudit/rd.h"

#define CALL 0
#define REPLY 1

bool app_rpc_claims(const uint8_t *p, size_t n, bool tcp)
{
	size_t o = tcp ? 4 : 0;
	if (tcp && (n < 4 || !(p[0] & 0x80)))
		return false;
	if (n < o + 12)
		return false;
	uint32_t type = be32_at(p + o + 4);
	/* Eight zero bits in a row are common in other protocols' first bytes: the fields after the message
	 * type must hold small values too (RPC version 2, a program version, a credential flavour; a reply
	 * status and a verifier flavour), as far as they were captured. */
	if (type == CALL)
		return be32_at(p + o + 8) == 2 && (n < o + 20 || be32_at(p + o + 16) < 256) &&
		       (n < o + 28 || be32_at(p + o + 24) < 16);
	return type == REPLY && be32_at(p + o + 8) <= 1 && (n < o + 16 || be32_at(p + o + 12) < 16) &&
	       (n < o + 20 || be32_at(p + o + 16) <= 400);
}

/* A portmapper query's program and transport (CALL arguments at a, n bytes): GETPORT (version 2) takes
 * a mapping {prog, vers, prot, port}; GETADDR (versions 3 and 4) an rpcb {prog, vers, netid, addr,
 * owner}, the netid "tcp", "udp", "tcp6" or "udp6". */
static void portmap_ask(struct app_state *s, const uint8_t *a, size_t n)
{
	s->u.rpc.ask_prog = 0;
	if (s->u.rpc.prog != APP_RPC_PORTMAP || s->u.rpc.proc != 3 || n < 8)
		return;
	if (s->u.rpc.vers == 2 && n >= 12) {
		uint32_t prot = be32_at(a + 8);
		if (prot != 6 && prot != 17)
			return;
		s->u.rpc.ask_udp = prot == 17;
	} else if ((s->u.rpc.vers == 3 || s->u.rpc.vers == 4) && n >= 12) {
		uint32_t len = be32_at(a + 8);
		if (len < 3 || len > 4 || n < 12 + len)
			return;
		if (!memcmp(a + 12, "udp", 3))
			s->u.rpc.ask_udp = 1;
		else if (!memcmp(a + 12, "tcp", 3))
			s->u.rpc.ask_udp = 0;
		else
			return;
	} else {
		return;
	}
	s->u.rpc.ask_prog = be32_at(a);
}

/* The port of a universal address ("192.0.2.30.148.183", "2001:db8::1.0.111": the last two numbers), or 0. */
static uint16_t uaddr_port(const uint8_t *u, size_t n)
{
	unsigned v[2] = {0, 0}, k = 0;
	size_t i = n;
	for (unsigned digits = 0; i > 0 && k < 2; i--) {
		uint8_t ch = u[i - 1];
		if (ch >= '0' && ch <= '9' && digits < 3) {
			unsigned mul = digits == 0 ? 1 : digits == 1 ? 10 : 100;
			v[k] += (unsigned)(ch - '0') * mul;
			digits++;
		} else if (ch == '.' && digits) {
			k++;
			digits = 0;
		} else {
			return 0;
		}
	}
	if (k < 2 || v[0] > 255 || v[1] > 255)
		return 0;
	return (uint16_t)(v[1] << 8 | v[0]);
}

/* A portmapper reply's result (at r, n bytes) to the query asked: the port it names, kept. */
static void portmap_answer(struct app_state *s, const uint8_t *r, size_t n)
{
	uint16_t port = 0;
	if (s->u.rpc.vers == 2 && n >= 4)
		port = be32_at(r) <= UINT16_MAX ? (uint16_t)be32_at(r) : 0;
	else if (n >= 4 && be32_at(r) <= 64 && n >= 4 + be32_at(r))
		port = uaddr_port(r + 4, be32_at(r));
	if (!port || s->u.rpc.nlearnt >= APP_RPC_LEARN)
		return;
	for (unsigned k = 0; k < s->u.rpc.nlearnt; k++)
		if (s->u.rpc.learnt_prog[k] == s->u.rpc.ask_prog && s->u.rpc.learnt_port[k] == port &&
		    (s->u.rpc.learnt_udp >> k & 1) == s->u.rpc.ask_udp)
			return;
	unsigned k = s->u.rpc.nlearnt++;
	s->u.rpc.learnt_prog[k] = s->u.rpc.ask_prog;
	s->u.rpc.learnt_port[k] = port;
	s->u.rpc.learnt_udp |= (uint8_t)(s->u.rpc.ask_udp << k);
}

/* The length of an opaque_auth (flavour, length, body padded to 4) at p, or 0 when it is not all there. */
static size_t auth_len(const uint8_t *p, size_t n)
{
	if (n < 8)
		return 0;
	uint32_t len = be32_at(p + 4);
	if (len > 400 || n < 8 + ((len + 3) & ~3u))
		return 0;
	return 8 + ((len + 3) & ~3u);
}

void app_rpc_feed(struct app_state *s, int dir, const uint8_t *p, size_t n, bool tcp)
{
	size_t o = tcp ? 4 : 0;
	if (n < o + 12)
		return;
	const uint8_t *m = p + o;
	size_t len = n - o;
	uint32_t type = be32_at(m + 4);
	if (type == CALL && dir == APP_C2S && len >= 24) {
		if (s->u.rpc.calls < 255)
			s->u.rpc.calls++;
		s->u.rpc.xid = be32_at(m);
		s->u.rpc.prog = be32_at(m + 12);
		s->u.rpc.vers = be32_at(m + 16);
		s->u.rpc.proc = be32_at(m + 20);
		size_t cred = auth_len(m + 24, len - 24), verf = cred ? auth_len(m + 24 + cred, len - 24 - cred) : 0;
		s->u.rpc.ask_prog = 0;
		if (verf)
			portmap_ask(s, m + 24 + cred + verf, len - 24 - cred - verf);
	} else if (type == REPLY && dir == APP_S2C) {
		if (s->u.rpc.replies < 255)
			s->u.rpc.replies++;
		if (be32_at(m + 8) != 0) { /* MSG_DENIED */
			s->u.rpc.denied = 1;
			return;
		}
		if (len < 20)
			return;
		size_t verf = be32_at(m + 16); /* the verifier's body, then accept_stat */
		if (verf > 400 || len < 20 + verf + 4)
			return;
		uint32_t stat = be32_at(m + 20 + verf);
		if (stat == 0)
			s->u.rpc.accepted = 1;
		else
			s->u.rpc.denied = 1; /* PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS */
		if (stat == 0 && s->u.rpc.ask_prog && be32_at(m) == s->u.rpc.xid)
			portmap_answer(s, m + 24 + verf, len - 24 - verf);
	}
}
