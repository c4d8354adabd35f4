/* app_text.c: protocols whose first line says what they are: SSH banners ("SSH-2.0-software"), HTTP
 * request lines (a method token) and status lines ("HTTP/1.1 200"), syslog ("<PRI>", RFC 3164 and
 * 5424; one way by design). */
#include "flowaudit/app.h"

#include <string.h>

static const char *const methods[] = {"GET ", "PUT ", "POST ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT "};

static size_t method_len(const uint8_t *p, size_t n)
{
	if (n < 4 || p[0] < 'C' || p[0] > 'P')
		return 0; /* no method begins otherwise: most payloads stop here */
	for (size_t i = 0; i < sizeof(methods) / sizeof(*methods); i++) {
		size_t l = strlen(methods[i]);
		if (n >= l && !memcmp(p, methods[i], l))
			return l - 1;
	}
	return 0;
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

static void word(struct app_state *s, const uint8_t *p, size_t n)
{
	size_t k = 0;
	for (; k < n && k + 1 < sizeof(s->u.text.word) && p[k] > ' ' && p[k] < 0x7f; k++)
		s->u.text.word[k] = (char)p[k];
	s->u.text.word[k] = 0;
}

void app_text_feed(struct app_state *s, int dir, const uint8_t *p, size_t n)
{
	if (s->u.text.opened[dir])
		return;
	if (s->proto == APP_SSH && n >= 4 && !memcmp(p, "SSH-", 4)) {
		s->u.text.opened[dir] = 1;
		const uint8_t *v = memchr(p + 4, '-', n - 4); /* past the protocol version */
		if (v && dir == APP_S2C)
			word(s, v + 1, n - (size_t)(v + 1 - p));
	} else if (s->proto == APP_HTTP) {
		size_t m = method_len(p, n);
		if (m && dir == APP_C2S) {
			s->u.text.opened[dir] = 1;
			word(s, p, m);
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
