/* app.c: which recogniser a flow's bytes go to, and the facts in words. The first payload of either
 * direction decides the protocol by its content (TLS on 80 is TLS); a flow nobody claims is "unknown"
 * and costs nothing more. */
#include "flowaudit/app.h"

#include <stdio.h>
#include <string.h>

static const char *const proto_names[APP_NPROTO] = {
	"none", "unknown", "tls", "fpolicy", "fpolicy-protobuf", "openwire", "smb", "onc-rpc", "ssh", "http", "syslog",
};

const char *app_proto_name(enum app_proto p)
{
	return p < APP_NPROTO ? proto_names[p] : "?";
}

const char *app_handshake_name(enum app_handshake h)
{
	static const char *const names[] = {"not-seen", "incomplete", "complete", "failed", "cut"};
	return names[h];
}

/* The bytes a TCP payload that some recogniser claims can start with: TLS records (0x14-0x17) and SSL 2
 * hellos, RPC record marks and NetBIOS messages (top bit set), NetBIOS session messages (0), FPolicy's
 * quote, and a line of text (white space, a capital, '-', '_', '<'). OpenWire's first byte is its
 * length's top byte: it is tried whatever the byte. Most payloads of most flows start with none of
 * these and cost one look-up, not a call to every recogniser. */
enum { C_TLS = 1, C_FPOLICY = 2, C_SMB = 4, C_RPC = 8, C_TEXT = 16 };
static const uint8_t first_byte[256] = {
	[0x00] = C_SMB, [0x14 ... 0x17] = C_TLS, ['"'] = C_FPOLICY,
	['\t'] = C_TEXT, ['\n'] = C_TEXT, ['\r'] = C_TEXT, [' '] = C_TEXT, ['-'] = C_TEXT, ['_'] = C_TEXT,
	['<'] = C_TEXT, ['A' ... 'Z'] = C_TEXT, [0x80 ... 0xff] = C_TLS | C_SMB | C_RPC,
};

enum app_proto app_claim(const uint8_t *p, size_t n, bool tcp)
{
	if (!n)
		return APP_UNKNOWN;
	/* UDP: an RPC datagram starts with its xid, any byte at all */
	unsigned may = tcp ? first_byte[p[0]] : C_TLS | C_RPC | C_TEXT;
	if ((may & C_TLS) && app_tls_claims(p, n))
		return APP_TLS;
	if ((may & C_FPOLICY) && app_fpolicy_claims(p, n))
		return APP_FPOLICY;
	if ((may & C_SMB) && app_smb_claims(p, n))
		return APP_SMB;
	if (tcp && n >= 13 && p[4] == 1 && app_openwire_claims(p, n))
		return APP_OPENWIRE;
	if ((may & C_RPC) && app_rpc_claims(p, n, tcp))
		return APP_RPC;
	enum app_proto t = may & C_TEXT ? app_text_claims(p, n) : APP_NONE;
	return t != APP_NONE ? t : APP_UNKNOWN;
}

void app_feed(struct app_state *s, int dir, const uint8_t *p, size_t n, size_t len, bool cut, bool tcp)
{
	if (!app_wants(s, dir) || n == 0)
		return;
	size_t room = APP_WINDOW - s->seen[dir];
	if (n > room)
		n = room;
	s->segs[dir]++;
	s->seen[dir] = (uint16_t)(s->seen[dir] + n);
	if (s->proto == APP_NONE) {
		/* Too few bytes to tell (a segment cut very short): wait for the next. */
		enum app_proto pr = app_claim(p, n, tcp);
		if (pr == APP_UNKNOWN && cut && n < APP_CLAIM) {
			s->cut |= (uint8_t)(1u << dir);
			return;
		}
		if (pr == APP_UNKNOWN) {
			/* The other side may still say what it is (a server's "HTTP/1.0 400" to a malformed request):
			 * unknown once neither side's first bytes are claimed. */
			s->unclaimed |= (uint8_t)(1u << dir);
			if (s->unclaimed == 3) {
				s->proto = APP_UNKNOWN;
				s->done = 1;
			}
			return;
		}
		s->proto = (uint8_t)pr;
		s->first = (uint8_t)dir;
	} else if (s->segs[dir] == 1 && dir != s->first && !s->other) {
		enum app_proto pr = app_claim(p, n, tcp);
		if (pr >= APP_TLS && pr != s->proto)
			s->other = (uint8_t)pr;
	}
	if (cut)
		s->cut |= (uint8_t)(1u << dir);
	switch (s->proto) {
	case APP_TLS: app_tls_feed(s, dir, p, n, len < n ? n : len); break;
	case APP_FPOLICY:
	case APP_FPOLICY_PB: app_fpolicy_feed(s, dir, p, n); break;
	case APP_SMB: app_smb_feed(s, dir, p, n); break;
	case APP_RPC: app_rpc_feed(s, dir, p, n, tcp); break;
	case APP_OPENWIRE: app_openwire_feed(s, dir, p, n); break;
	default: app_text_feed(s, dir, p, n); break;
	}
	enum app_handshake h = app_handshake(s);
	/* A portmapper flow may answer several queries, each naming a port: it is read to its window's end. */
	bool portmap = s->proto == APP_RPC && s->u.rpc.prog == APP_RPC_PORTMAP;
	if ((h == APP_HS_COMPLETE && !portmap) || h == APP_HS_FAILED)
		s->done = 1;
}

enum app_handshake app_handshake(const struct app_state *s)
{
	enum app_handshake h = APP_HS_INCOMPLETE;
	if (s->other)
		return APP_HS_FAILED; /* the two ends speak different protocols: neither can finish */
	switch (s->proto) {
	case APP_NONE: return s->cut ? APP_HS_CUT : APP_HS_NOT_SEEN;
	case APP_UNKNOWN: return s->cut ? APP_HS_CUT : APP_HS_NOT_SEEN;
	case APP_TLS: {
		uint8_t t = s->u.tls.seen;
		if ((t & APP_TLS_ALERT) && s->u.tls.alert_level == 2)
			return APP_HS_FAILED;
		if ((t & (APP_TLS_CH | APP_TLS_SH | APP_TLS_CLIENT_ENC | APP_TLS_SERVER_ENC)) ==
		    (APP_TLS_CH | APP_TLS_SH | APP_TLS_CLIENT_ENC | APP_TLS_SERVER_ENC))
			return APP_HS_COMPLETE;
		break;
	}
	case APP_FPOLICY:
	case APP_FPOLICY_PB:
		if (s->u.fpolicy.nego_resp)
			return APP_HS_COMPLETE;
		break;
	case APP_SMB:
		if ((s->u.smb.smb1[APP_C2S] || s->u.smb.smb2[APP_C2S]) && (s->u.smb.smb1[APP_S2C] || s->u.smb.smb2[APP_S2C]))
			return APP_HS_COMPLETE;
		break;
	case APP_RPC:
		if (s->u.rpc.denied)
			return APP_HS_FAILED;
		if (s->u.rpc.accepted)
			return APP_HS_COMPLETE;
		break;
	case APP_OPENWIRE:
		if (s->u.openwire.magic[0] && s->u.openwire.magic[1])
			return APP_HS_COMPLETE;
		break;
	case APP_SYSLOG: /* one way by design */
		return APP_HS_COMPLETE;
	case APP_HTTP:
		if (s->u.text.cee && s->u.text.cee_status == 0x16)
			return APP_HS_FAILED; /* CEE has no consumer: the array's events go nowhere */
		if (s->u.text.cee && !s->u.text.cee_answered)
			return s->cut ? APP_HS_CUT : APP_HS_INCOMPLETE; /* wait for the XML answer */
		if (s->u.text.opened[0] && s->u.text.opened[1])
			return APP_HS_COMPLETE;
		break;
	default:
		if (s->u.text.opened[0] && s->u.text.opened[1])
			return APP_HS_COMPLETE;
		break;
	}
	return s->cut ? APP_HS_CUT : h;
}

static size_t put(struct app_fact *out, size_t n, size_t max, const char *key, const char *fmt, unsigned v)
{
	if (n < max) {
		out[n].key = key;
		snprintf(out[n].value, sizeof(out[n].value), fmt, v);
	}
	return n + 1;
}

static size_t put_str(struct app_fact *out, size_t n, size_t max, const char *key, const char *v, size_t len)
{
	if (n < max) {
		out[n].key = key;
		size_t k = 0;
		for (size_t i = 0; i < len && v[i] && k + 1 < sizeof(out[n].value); i++)
			out[n].value[k++] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
		out[n].value[k] = 0;
	}
	return n + 1;
}

static const char *tls_version(uint16_t v)
{
	switch (v) {
	case 0x0300: return "SSL 3.0";
	case 0x0301: return "TLS 1.0";
	case 0x0302: return "TLS 1.1";
	case 0x0303: return "TLS 1.2";
	case 0x0304: return "TLS 1.3";
	default: return NULL;
	}
}

static size_t put_version(struct app_fact *out, size_t n, size_t max, const char *key, uint16_t v)
{
	const char *name = tls_version(v);
	return name ? put_str(out, n, max, key, name, strlen(name)) : put(out, n, max, key, "0x%04x", v);
}

size_t app_facts(const struct app_state *s, struct app_fact *out, size_t max)
{
	size_t n = 0;
	switch (s->proto) {
	case APP_TLS:
		if (s->u.tls.max_offered)
			n = put_version(out, n, max, "client_max", s->u.tls.max_offered);
		else if (s->u.tls.seen & APP_TLS_CH) /* the hello's own field: 1.2 for every 1.3 client too */
			n = put_version(out, n, max, "client_hello", s->u.tls.hello_version);
		if (s->u.tls.sni[0])
			n = put_str(out, n, max, "sni", s->u.tls.sni, APP_SNI);
		if (s->u.tls.server_version)
			n = put_version(out, n, max, "server_version", s->u.tls.server_version);
		if (s->u.tls.seen & APP_TLS_ALERT) {
			n = put(out, n, max, "alert", "%u", s->u.tls.alert_desc);
			n = put_str(out, n, max, "alert_from", s->u.tls.alert_dir == APP_C2S ? "client" : "server", 6);
		}
		break;
	case APP_FPOLICY:
	case APP_FPOLICY_PB:
		n = put(out, n, max, "nego_req", "%u", s->u.fpolicy.nego_req);
		n = put(out, n, max, "nego_resp", "%u", s->u.fpolicy.nego_resp);
		if (s->u.fpolicy.keep_alive)
			n = put(out, n, max, "keep_alive", "%u", s->u.fpolicy.keep_alive);
		if (s->u.fpolicy.notifications)
			n = put(out, n, max, "notifications", "%u", s->u.fpolicy.notifications);
		break;
	case APP_SMB:
		n = put_str(out, n, max, "client", s->u.smb.smb2[APP_C2S] ? "smb2" : s->u.smb.smb1[APP_C2S] ? "smb1" : "-", 4);
		n = put_str(out, n, max, "server", s->u.smb.smb2[APP_S2C] ? "smb2" : s->u.smb.smb1[APP_S2C] ? "smb1" : "-", 4);
		if (s->u.smb.dialect)
			n = put(out, n, max, "dialect", "0x%04x", s->u.smb.dialect);
		break;
	case APP_RPC:
		n = put(out, n, max, "program", "%u", s->u.rpc.prog);
		n = put(out, n, max, "version", "%u", s->u.rpc.vers);
		n = put_str(out, n, max, "reply", s->u.rpc.accepted ? "accepted" : s->u.rpc.denied ? "denied" : "none", 8);
		if (s->u.rpc.nlearnt) {
			char v[48];
			int at = 0;
			for (unsigned k = 0; k < s->u.rpc.nlearnt; k++)
				at += snprintf(v + at, sizeof(v) - (size_t)at, "%s%u/%s:%u", k ? " " : "", s->u.rpc.learnt_prog[k],
					       s->u.rpc.learnt_udp >> k & 1 ? "udp" : "tcp", s->u.rpc.learnt_port[k]);
			n = put_str(out, n, max, "ports_learnt", v, sizeof(v));
		}
		break;
	case APP_OPENWIRE:
		n = put_str(out, n, max, "client_magic", s->u.openwire.magic[APP_C2S] ? "yes" : "no", 3);
		n = put_str(out, n, max, "server_magic", s->u.openwire.magic[APP_S2C] ? "yes" : "no", 3);
		break;
	case APP_SSH:
	case APP_HTTP:
	case APP_SYSLOG:
		if (s->u.text.word[0])
			n = put_str(out, n, max, s->proto == APP_SSH ? "software" : s->proto == APP_HTTP ? "method" : "pri",
				    s->u.text.word, sizeof(s->u.text.word));
		if (s->u.text.status)
			n = put(out, n, max, "status", "%u", s->u.text.status);
		if (s->u.text.cee) {
			static const char *const cee_names[] = {"", "CheckFileRequest", "RegisterRequest", "HeartBeatRequest",
								"CheckEventRequest"};
			n = put_str(out, n, max, "cee", cee_names[s->u.text.cee], 24);
			if (s->u.text.cee_answered)
				n = put(out, n, max, "cee_status", "0x%02x", s->u.text.cee_status);
		}
		break;
	default:
		break;
	}
	if (s->other) {
		const char *name = app_proto_name((enum app_proto)s->other);
		n = put_str(out, n, max, s->first == APP_C2S ? "server_speaks" : "client_speaks", name, strlen(name));
	}
	return n < max ? n : max;
}
