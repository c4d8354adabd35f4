/* app_tls.c: TLS from its records (RFC 8446 section 5, RFC 5246 section 6.2): a ClientHello (version,
 * offered versions, server name), a ServerHello (the version chosen, from supported_versions in 1.3),
 * plaintext alerts, and the first records a side sends encrypted (ChangeCipherSpec or application data):
 * once both sides have, the handshake is over. A record longer than the segment is skipped into the
 * next one; nothing is reassembled. */
#include "flowaudit/app.h"

#include <string.h>

#include "flowaudit/rd.h"

bool app_tls_claims(const uint8_t *p, size_t n)
{
	if (n >= 3 && (p[0] == 0x16 || p[0] == 0x15) && p[1] == 3 && p[2] <= 4)
		return true;
	/* An SSL 2 compatible ClientHello (old clients offering SSL 3 or TLS): a 2-byte length with the top bit
	 * set, message type 1, version 3.x. An RPC record mark also starts 0x80 but says a length below
	 * 2^16 there, so its SSL 2 length reads 0. */
	return n >= 5 && (p[0] & 0x80) && ((p[0] & 0x7f) << 8 | p[1]) >= 9 && p[2] == 1 && p[3] == 3 && p[4] <= 3;
}

static bool grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a;
}

/* The extensions of a hello, from e (its first byte) to end. */
static void extensions(struct app_state *s, const uint8_t *e, const uint8_t *end, bool client)
{
	while (end - e >= 4) {
		uint16_t type = be16_at(e), len = be16_at(e + 2);
		const uint8_t *v = e + 4;
		size_t have = (size_t)(end - v) < len ? (size_t)(end - v) : len; /* cut: what is there */
		if (type == 0 && client && have >= 5 && v[2] == 0) { /* server_name: list, host_name */
			size_t nl = be16_at(v + 3), k = have - 5 < nl ? have - 5 : nl;
			k = k < APP_SNI - 1 ? k : APP_SNI - 1;
			memcpy(s->u.tls.sni, v + 5, k);
			s->u.tls.sni[k] = 0;
		} else if (type == 43 && client && have >= 1) { /* supported_versions: the highest offered */
			for (size_t i = 1; i + 2 <= have && i < (size_t)v[0] + 1; i += 2) {
				uint16_t ver = be16_at(v + i);
				if (!grease(ver) && ver > s->u.tls.max_offered)
					s->u.tls.max_offered = ver;
			}
		} else if (type == 43 && !client && have >= 2) { /* the version chosen */
			s->u.tls.server_version = be16_at(v);
		}
		if (have < len)
			return;
		e = v + len;
	}
}

/* A ClientHello or ServerHello body from b (after the 4-byte handshake header) to end. */
static void hello(struct app_state *s, const uint8_t *b, const uint8_t *end, bool client)
{
	size_t lim = end > b ? (size_t)(end - b) : 0, i = 2 + 32; /* version, random */
	if (lim < 2)
		return;
	if (client)
		s->u.tls.hello_version = be16_at(b);
	else if (!s->u.tls.server_version)
		s->u.tls.server_version = be16_at(b);
	if (i >= lim)
		return;
	i += 1 + b[i]; /* session id */
	if (client) {
		if (i + 2 > lim)
			return;
		i += 2 + be16_at(b + i); /* cipher suites */
		if (i >= lim)
			return;
		i += 1 + b[i]; /* compression methods */
	} else {
		i += 2 + 1; /* the cipher suite and compression method chosen */
	}
	if (i + 2 > lim)
		return;
	extensions(s, b + i + 2, end, client);
}

void app_tls_feed(struct app_state *s, int dir, const uint8_t *p, size_t n, size_t len)
{
	size_t off = 0;
	uint16_t *skip = dir == APP_C2S ? &s->u.tls.skip_c : &s->u.tls.skip_s;
	if (*skip) { /* the rest of a record begun in an earlier segment */
		if (*skip >= len) {
			*skip = (uint16_t)(*skip - len);
			return;
		}
		if (*skip >= n) {
			*skip = 0;
			return; /* the next record starts past the bytes kept */
		}
		off = *skip;
		*skip = 0;
	}
	while (off + 5 <= n) {
		const uint8_t *r = p + off;
		uint8_t type = r[0];
		size_t rlen = be16_at(r + 3);
		if (r[1] != 3 || type < 0x14 || type > 0x18)
			return; /* not a record boundary: lost our place */
		const uint8_t *end = off + 5 + rlen <= n ? r + 5 + rlen : p + n;
		if (type == 0x16 && !(s->u.tls.seen & (dir == APP_C2S ? APP_TLS_CLIENT_ENC : APP_TLS_SERVER_ENC)) &&
		    end - r >= 6) {
			if (r[5] == 1 && dir == APP_C2S) {
				s->u.tls.seen |= APP_TLS_CH;
				hello(s, r + 9, end, true);
			} else if (r[5] == 2 && dir == APP_S2C) {
				s->u.tls.seen |= APP_TLS_SH;
				hello(s, r + 9, end, false);
			}
		} else if (type == 0x14 || type == 0x17) {
			s->u.tls.seen |= dir == APP_C2S ? APP_TLS_CLIENT_ENC : APP_TLS_SERVER_ENC;
		} else if (type == 0x15 && rlen == 2 && end - r >= 7) { /* a plaintext alert */
			s->u.tls.seen |= APP_TLS_ALERT;
			s->u.tls.alert_level = r[5];
			s->u.tls.alert_desc = r[6];
			s->u.tls.alert_dir = (uint8_t)dir;
		}
		if (off + 5 + rlen > n) { /* the record goes past the bytes kept: past the segment too? */
			size_t past = off + 5 + rlen > len ? off + 5 + rlen - len : 0;
			*skip = (uint16_t)(past > 0xffff ? 0xffff : past);
			return;
		}
		off += 5 + rlen;
	}
}
