/* clock.c: the capture's clock (clock.h): time stamps judged against the packets around them. */
#include "flowaudit/clock.h"

#include <string.h>

void clk_init(struct clk *c)
{
	memset(c, 0, sizeof(*c));
}

static bool near(uint64_t a, uint64_t b)
{
	return (a > b ? a - b : b - a) <= CLK_AHEAD_NS;
}

void clk_start(struct clk *c, const uint64_t *ts, size_t n)
{
	uint64_t v[CLK_START];
	n = n < CLK_START ? n : CLK_START;
	bool ordered = true;
	for (size_t i = 1; i < n; i++)
		ordered &= ts[i] >= ts[i - 1] && ts[i] - ts[i - 1] <= CLK_LAST_AHEAD_NS;
	if (ordered) {
		/* Time going forward, however sparse the traffic (within a year a step): each is judged against
		 * the one before. */
		c->now_ns = n ? ts[0] : 0;
		c->started = true;
		return;
	}
	memcpy(v, ts, n * sizeof(*v));
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && v[k - 1] > v[k]; k--) {
			uint64_t t = v[k];
			v[k] = v[k - 1];
			v[k - 1] = t;
		}
	/* The median; of two, the earlier (nothing tells which of two disagreeing stamps is right). */
	uint64_t mid = n ? v[(n - 1) / 2] : 0;
	/* The earliest stamp near it, so that the start's own packets are taken in their order. */
	c->now_ns = mid;
	for (size_t i = 0; i < n; i++)
		if (near(v[i], mid) && v[i] < c->now_ns)
			c->now_ns = v[i];
	c->started = true;
}

uint64_t clk_jump(struct clk *c, uint64_t ts, size_t input, uint64_t packet)
{
	if (c->nnamed < CLK_KEEP)
		c->named[c->nnamed++] = (struct clk_jump){.input = input, .packet = packet, .ts_ns = ts};
	c->jumps++;
	return c->now_ns;
}

uint64_t clk_resolve(struct clk *c, uint64_t held_ts, size_t input, uint64_t packet, bool has_next, uint64_t next_ts)
{
	bool believed;
	if (held_ts > c->now_ns) /* far ahead: believed unless time then goes back */
		believed = has_next ? next_ts >= held_ts || held_ts - next_ts <= CLK_BEHIND_NS
				    : held_ts - c->now_ns <= CLK_LAST_AHEAD_NS;
	else /* far behind: believed when the next packet is back there too */
		believed = has_next && near(held_ts, next_ts);
	if (!believed)
		return clk_jump(c, held_ts, input, packet);
	if (held_ts > c->now_ns)
		c->now_ns = held_ts;
	return held_ts;
}
