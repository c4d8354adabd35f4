/* app_fpolicy.c: NetApp FPolicy's external-engine protocol: frames of '"', a 4-byte big-endian length,
 * '"', then an XML header naming the message (<NotfType>NEGO_REQ</NotfType>), a blank line and a body.
 * The storage node connects and sends NEGO_REQ; the engine answers NEGO_RESP; then KEEP_ALIVE, NOTI_REQ,
 * SCREEN_REQ, ALERT_MSG. The same framing with a body that is not XML is ONTAP 9.15.1's protobuf. */
#include "flowaudit/app.h"

#include <string.h>

#include "flowaudit/rd.h"

bool app_fpolicy_claims(const uint8_t *p, size_t n)
{
	return n >= 6 && p[0] == '"' && p[5] == '"' && be32_at(p + 1) > 0 && be32_at(p + 1) < (1u << 24);
}

static void count(uint8_t *c)
{
	if (*c < 255)
		(*c)++;
}

void app_fpolicy_feed(struct app_state *s, int dir, const uint8_t *p, size_t n)
{
	(void)dir;
	if (s->proto == APP_FPOLICY && app_fpolicy_claims(p, n) && n > 6 && p[6] != '<')
		s->proto = APP_FPOLICY_PB;
	static const char tag[] = "<NotfType>";
	const size_t tl = sizeof(tag) - 1;
	for (size_t i = 0; i + tl < n; i++) {
		if (p[i] != '<' || memcmp(p + i, tag, tl))
			continue;
		const char *v = (const char *)p + i + tl;
		size_t left = n - i - tl;
		if (left >= 8 && !memcmp(v, "NEGO_REQ", 8))
			count(&s->u.fpolicy.nego_req);
		else if (left >= 9 && !memcmp(v, "NEGO_RESP", 9))
			count(&s->u.fpolicy.nego_resp);
		else if (left >= 10 && !memcmp(v, "KEEP_ALIVE", 10))
			count(&s->u.fpolicy.keep_alive);
		else if (left >= 8 && !memcmp(v, "NOTI_REQ", 8))
			count(&s->u.fpolicy.notifications);
		else if (left >= 10 && !memcmp(v, "SCREEN_REQ", 10))
			count(&s->u.fpolicy.screens);
		else if (left >= 9 && !memcmp(v, "ALERT_MSG", 9))
			count(&s->u.fpolicy.alerts);
		i += tl;
	}
}
