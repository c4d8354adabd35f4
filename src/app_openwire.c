/* app_openwire.c: ActiveMQ's OpenWire: each side opens with a WireFormatInfo command (a 4-byte length,
 * command type 1, the magic "ActiveMQ", then the version). On the SSL transport (61617) only TLS is seen. */
#include "flowaudit/app.h"

#include <string.h>

#include "flowaudit/rd.h"

bool app_openwire_claims(const uint8_t *p, size_t n)
{
	return n >= 13 && p[4] == 1 && !memcmp(p + 5, "ActiveMQ", 8);
}

void app_openwire_feed(struct app_state *s, int dir, const uint8_t *p, size_t n)
{
	if (!app_openwire_claims(p, n))
		return;
	s->u.openwire.magic[dir] = 1;
	if (n >= 17)
		s->u.openwire.version[dir] = be32_at(p + 13);
}
