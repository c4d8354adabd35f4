/* app_smb.c: SMB over NetBIOS session service framing (RFC 1002 section 4.3: a type byte, a 17-bit
 * length): SMB1 (\xffSMB) or SMB2/3 (\xfeSMB) negotiate each way, an SMB1 negotiate that offers SMB 2
 * dialects, and the dialect the server chose (an SMB2 NEGOTIATE response's DialectRevision, bytes 72-74
 * of the session message). On 139 a NetBIOS session request comes first. */
#include "flowaudit/app.h"

#include <string.h>

#include "flowaudit/rd.h"

static bool smb_magic(const uint8_t *p)
{
	return (p[0] == 0xff || p[0] == 0xfe) && p[1] == 'S' && p[2] == 'M' && p[3] == 'B';
}

bool app_smb_claims(const uint8_t *p, size_t n)
{
	if (n >= 8 && p[0] == 0x00 && smb_magic(p + 4))
		return true;
	return n >= 4 && p[0] == 0x81 && p[1] == 0 && be16_at(p + 2) == 68; /* session request: two 34-byte names */
}

void app_smb_feed(struct app_state *s, int dir, const uint8_t *p, size_t n)
{
	if (!s->u.smb.nb_type)
		s->u.smb.nb_type = (uint8_t)(p[0] + 1); /* 0: none seen yet */
	if (n < 8 || p[0] != 0x00 || !smb_magic(p + 4))
		return;
	if (p[4] == 0xff) {
		s->u.smb.smb1[dir] = 1;
		static const char two[] = "SMB 2.";
		for (size_t i = 4 + 32; dir == APP_C2S && p[8] == 0x72 && i + sizeof(two) - 1 <= n; i++)
			if (!memcmp(p + i, two, sizeof(two) - 1))
				s->u.smb.offers_smb2 = 1;
	} else {
		s->u.smb.smb2[dir] = 1;
		uint16_t cmd = (uint16_t)(p[4 + 12] | p[4 + 13] << 8);
		if (dir == APP_S2C && cmd == 0 && n >= 74 && (p[4 + 16] & 1)) /* a response */
			s->u.smb.dialect = (uint16_t)(p[72] | p[73] << 8);
	}
}
