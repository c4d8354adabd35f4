/* clock.h: the capture's clock, which one bad time stamp cannot move. The flow table settles flows by
 * the newest packet time, so a single record stamped decades ahead (0x7fffffff, or 0xffffffff read as
 * -1 s) would settle every open flow at once. A stamp far outside the clock's window is believed only
 * when the next packet agrees with it: after a stamp far ahead, time must not go back (sparse traffic
 * hours apart, two files a day apart); after one far behind, the next must be there too. One the next
 * packet does not confirm is a time jump: counted, its packet named, and the packet taken at the clock's
 * time instead. */
#ifndef FLOWAUDIT_CLOCK_H
#define FLOWAUDIT_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLK_AHEAD_NS (3600ull * 1000000000ull) /* a stamp this far ahead of the clock needs confirming */
#define CLK_BEHIND_NS (60ull * 1000000000ull)  /* and this far behind it (SPAN reordering is microseconds) */
#define CLK_KEEP 16                             /* time jumps named in the report; the rest are counted */
#define CLK_START 3                             /* the first stamps, whose median starts the clock */
#define CLK_LAST_AHEAD_NS (366 * 86400ull * 1000000000ull) /* the last packet, with none to confirm it */

struct clk_jump {
	size_t input;           /* which input (capture file) */
	uint64_t packet;        /* its record number in that input, from 1 */
	uint64_t ts_ns;         /* the stamp it carried */
};

struct clk {
	uint64_t now_ns;        /* the newest stamp believed */
	bool started;
	uint64_t jumps;
	struct clk_jump named[CLK_KEEP];
	size_t nnamed;
};

enum clk_verdict { CLK_TRUSTED, CLK_SUSPECT };

void clk_init(struct clk *c);
/* The capture's first stamps (CLK_START of them, or fewer in a shorter capture): the clock starts at the
 * first when they never go back nor leap a year, else at their median, so that a bad stamp among the first packets cannot
 * start it. The caller then takes each
 * of those packets with clk_judge(), and clk_jump() for one it does not trust. */
void clk_start(struct clk *c, const uint64_t *ts, size_t n);
/* A packet stamped ts: CLK_TRUSTED (the clock moved to it if newer), or CLK_SUSPECT: the caller holds the
 * packet until clk_resolve() with the next packet's stamp (or none, at the end). Before clk_start(),
 * every packet is suspect. */
static inline enum clk_verdict clk_judge(struct clk *c, uint64_t ts)
{
	/* One unsigned compare for the window [now - BEHIND, now + AHEAD]. */
	if (__builtin_expect(c->started && ts - (c->now_ns - CLK_BEHIND_NS) <= CLK_BEHIND_NS + CLK_AHEAD_NS, 1)) {
		c->now_ns = ts > c->now_ns ? ts : c->now_ns;
		return CLK_TRUSTED;
	}
	return CLK_SUSPECT;
}
/* The held packet (stamped held_ts, record packet of input) against the next stamp (has_next false at the
 * end of the capture, where a stamp up to CLK_LAST_AHEAD_NS ahead is believed): the time to process the
 * held packet at. Its own stamp when the next packet confirms it; the clock's time otherwise, and a time
 * jump is recorded. */
uint64_t clk_resolve(struct clk *c, uint64_t held_ts, size_t input, uint64_t packet, bool has_next, uint64_t next_ts);
/* Record a packet whose stamp is not believed; the time to process it at (the clock's). */
uint64_t clk_jump(struct clk *c, uint64_t ts, size_t input, uint64_t packet);

#endif
