/* app_rpc.c: ONC RPC (RFC 5531) over TCP (a 4-byte record mark first, RFC 5531 section 11) or UDP: a
 * CALL's program, version and procedure, a REPLY accepted (and its accept_stat) or denied. A portmapper
 * GETPORT reply (RFC 1833: program 100000, procedure 3) carries the port of the service asked for. */
#include "flowaudit/app.h"

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
		s->u.rpc.prog = be32_at(m + 12);
		s->u.rpc.vers = be32_at(m + 16);
		s->u.rpc.proc = be32_at(m + 20);
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
		if (stat == 0 && s->u.rpc.prog == 100000 && s->u.rpc.proc == 3 && len >= 24 + verf + 4)
			s->u.rpc.port = (uint16_t)be32_at(m + 24 + verf);
	}
}
