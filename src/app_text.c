/* app_text.c: protocols whose first line says what they are: SSH banners ("SSH-2.0-software"), HTTP
 * request lines (a method token) and status lines ("HTTP/1.1 200"), syslog ("<PRI>", RFC 3164 and
 * 5424; one way by design). Over HTTP, Dell CEE: the request's XML root (CheckFileRequest from OneFS
 * in UTF-8; RegisterRequest, HeartBeatRequest, CheckEventRequest in UTF-16LE) and the status its
 * response gives (status="0x16": no consumer registered, so the array drops its events). */
#include "flowaudit/app.h"

#include <string.h>

static const char *const methods[] = {"GET ", "PUT ", "POST ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT "};

/* A request line: optional white space, a method token of capitals, a space, and " HTTP/" later on the
 * line (any method: WebDAV's, QUERY, made-up ones); a line cut before its version needs a known method.
 * Returns where the method starts plus one, its length in *len; 0: not a request line. */
static size_t request_line(const uint8_t *p, size_t n, size_t *len)
{
	size_t i = 0;
	while (i < n && i < 8 && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	size_t m = i;
	while (m < n && m - i < 24 && ((p[m] >= 'A' && p[m] <= 'Z') || p[m] == '-' || p[m] == '_'))
		m++;
	if (m == i || m >= n || p[m] != ' ')
		return 0;
	*len = m - i;
	for (size_t k = m + 1; k + 5 <= n && p[k] != '\n'; k++)
		if (p[k] == 'H' && !memcmp(p + k, "HTTP/", 5))
			return i + 1;
	if (memchr(p + m, '\n', n - m))
		return 0; /* a whole line without a version */
	for (size_t k = 0; k < sizeof(methods) / sizeof(*methods); k++)
		if (strlen(methods[k]) == *len + 1 && !memcmp(p + i, methods[k], *len + 1))
			return i + 1;
	return 0;
}

static size_t method_len(const uint8_t *p, size_t n)
{
	size_t len;
	return request_line(p, n, &len) ? len : 0;
}

static bool syslog_pri(const uint8_t *p, size_t n)
{
	size_t i = 1;
	if (n < 3 || p[0] != '<')
		return false;
	while (i < n && i < 4 && p[i] >= '0' && p[i] <= '9')
		i++;
	return i > 1 && i < n && p[i] == '>';
}

enum app_proto app_text_claims(const uint8_t *p, size_t n)
{
	if (n >= 4 && !memcmp(p, "SSH-", 4))
		return APP_SSH;
	if (method_len(p, n) || (n >= 6 && !memcmp(p, "HTTP/", 5)))
		return APP_HTTP;
	if (syslog_pri(p, n))
		return APP_SYSLOG;
	return APP_NONE;
}

/* Is tag in p, in UTF-8 or in UTF-16LE (each character then a zero byte)? */
static bool has_tag(const uint8_t *p, size_t n, const char *tag)
{
	size_t l = strlen(tag);
	for (size_t i = 0; i + l <= n; i++)
		if (p[i] == (uint8_t)tag[0] && !memcmp(p + i, tag, l))
			return true;
	for (size_t i = 0; i + 2 * l <= n; i++) {
		size_t k = 0;
		while (k < l && p[i + 2 * k] == (uint8_t)tag[k] && p[i + 2 * k + 1] == 0)
			k++;
		if (k == l)
			return true;
	}
	return false;
}

static void cee(struct app_state *s, int dir, const uint8_t *p, size_t n)
{
	static const struct {
		const char *tag;
		enum app_cee kind;
	} roots[] = {{"<CheckFileRequest", APP_CEE_CHECKFILE}, {"<RegisterRequest", APP_CEE_REGISTER},
		     {"<HeartBeatRequest", APP_CEE_HEARTBEAT}, {"<CheckEventRequest", APP_CEE_CHECKEVENT}};
	if (dir == APP_C2S) {
		for (size_t i = 0; i < sizeof(roots) / sizeof(*roots) && !s->u.text.cee; i++)
			if (has_tag(p, n, roots[i].tag))
				s->u.text.cee = (uint8_t)roots[i].kind;
		return;
	}
	static const char st[] = "status=\"0x";
	for (size_t i = 0; i + sizeof(st) + 1 < n; i++)
		if (!memcmp(p + i, st, sizeof(st) - 1)) {
			unsigned v = 0;
			for (size_t k = i + sizeof(st) - 1; k < n && k < i + sizeof(st) + 3; k++) {
				int d = p[k] >= '0' && p[k] <= '9' ? p[k] - '0' : p[k] >= 'a' && p[k] <= 'f' ? p[k] - 'a' + 10
					: p[k] >= 'A' && p[k] <= 'F' ? p[k] - 'A' + 10 : -1;
				if (d < 0)
					break;
				v = v * 16 + (unsigned)d;
			}
			s->u.text.cee_status = (uint8_t)(v > 255 ? 255 : v);
			s->u.text.cee_answered = true;
			return;
		}
	if (has_tag(p, n, "<CheckFileResponse") || has_tag(p, n, "<CheckEventResponse") || has_tag(p, n, "<RegisterResponse"))
		s->u.text.cee_answered = true;
}

static void word(struct app_state *s, const uint8_t *p, size_t n)
{
	size_t k = 0;
	for (; k < n && k + 1 < sizeof(s->u.text.word) && p[k] > ' ' && p[k] < 0x7f; k++)
		s->u.text.word[k] = (char)p[k];
	s->u.text.word[k] = 0;
}

void app_text_feed(struct app_state *s, int dir, const uint8_t *p, size_t n)
{
	if (s->proto == APP_HTTP)
		cee(s, dir, p, n); /* the body may come in a later segment than the request line */
	if (s->u.text.opened[dir])
		return;
	if (s->proto == APP_SSH && n >= 4 && !memcmp(p, "SSH-", 4)) {
		s->u.text.opened[dir] = 1;
		const uint8_t *v = memchr(p + 4, '-', n - 4); /* past the protocol version */
		if (v && dir == APP_S2C)
			word(s, v + 1, n - (size_t)(v + 1 - p));
	} else if (s->proto == APP_HTTP) {
		size_t m, at = request_line(p, n, &m);
		if (at && dir == APP_C2S) {
			s->u.text.opened[dir] = 1;
			word(s, p + at - 1, m);
		} else if (n >= 12 && !memcmp(p, "HTTP/", 5) && dir == APP_S2C) {
			s->u.text.opened[dir] = 1;
			unsigned st = 0;
			for (size_t i = 9; i < 12; i++)
				st = st * 10 + (unsigned)(p[i] >= '0' && p[i] <= '9' ? p[i] - '0' : 0);
			s->u.text.status = (uint16_t)st;
		}
	} else if (s->proto == APP_SYSLOG && syslog_pri(p, n)) {
		s->u.text.opened[dir] = 1;
		const uint8_t *e = memchr(p, '>', n);
		word(s, p, e ? (size_t)(e - p) + 1 : n);
	}
}
