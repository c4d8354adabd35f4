/* flowlog.h: the records of settled flows kept for --flows, out of memory: appended as they settle to an
 * unnamed temporary file ($TMPDIR, else /tmp; gone when closed, whatever happens), read back in order
 * by the JSON writer. A million flows hold 64 KB of buffer, not 80 MB of records. */
#ifndef FLOWAUDIT_FLOWLOG_H
#define FLOWAUDIT_FLOWLOG_H

#include <stddef.h>

#include "flowaudit/diag.h"
#include "flowaudit/flow.h"

struct flowlog;

/* NULL with a diagnostic when no temporary file can be made. */
struct flowlog *flowlog_new(struct diag *d);
void flowlog_free(struct flowlog *l);
/* Append n records (buffered). A write error is kept and said by flowlog_error(); later appends are
 * dropped. */
void flowlog_add(struct flowlog *l, const struct flow_record *r, size_t n);
/* Records appended so far. */
size_t flowlog_count(const struct flowlog *l);
/* Write out the buffer, so that the records so far can be read back (by another thread too). */
void flowlog_flush(struct flowlog *l);
/* The first upto records (flushed), in order, to fn a batch at a time; stops at fn's nonzero return,
 * which it returns; -1 on a read error. */
int flowlog_each(const struct flowlog *l, size_t upto, int (*fn)(void *ctx, const struct flow_record *r, size_t n),
		 void *ctx);
/* The same, records from (counted from 0) up to upto. */
int flowlog_each_from(const struct flowlog *l, size_t from, size_t upto,
		      int (*fn)(void *ctx, const struct flow_record *r, size_t n), void *ctx);
/* NULL, or why records were lost ("/tmp: No space left on device"). */
const char *flowlog_error(const struct flowlog *l);

#endif
