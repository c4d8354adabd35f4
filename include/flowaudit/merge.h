/* merge.h: `flowaudit merge`, the JSON reports of several sensors (span ports, workers, successive
 * intervals) as one verdict. Rows are matched by what they are (a path's requirement and address pair, an
 * unexpected flow's address pair, proto and port): their counts add up and the status is judged again from
 * the sums, as the audit judges one sensor's; each row keeps every sensor's own status as evidence. Reports
 * made with other rules or another site are refused unless forced. When every report carries its flows
 * (audit --flows), the flows of one connection seen by several sensors are joined and rows count
 * connections: the two halves of a connection, seen by two sensors one direction each, are one attempt. */
#ifndef FLOWAUDIT_MERGE_H
#define FLOWAUDIT_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "flowaudit/diag.h"

struct merge;

/* The reports, read and combined; NULL with diagnostics (file and what is wrong) when one cannot be read or
 * does not match the first (force: merged anyway, with a warning). */
struct merge *merge_reports(char *const *paths, size_t n, bool force, struct diag *d);
void merge_free(struct merge *m);
/* Write the merged report as text, JSON or HTML; 0, or -1 with errno. */
int merge_write_text(FILE *out, const void *m);
int merge_write_json(FILE *out, const void *m);
int merge_write_html(FILE *out, const void *m);
/* Are there findings (a required path not ok, an unexpected flow, a placement against the vendor's)? */
bool merge_has_findings(const struct merge *m);

#endif
