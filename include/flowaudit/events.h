/* events.h: --events, the audit as a stream for SIEM pipelines: NDJSON, one object a line, keys in the
 * manner of Suricata's EVE (timestamp, event_type, src_ip ...). At each report (every --interval live, and
 * at the end) it appends a `flow` event per flow settled since the last report that used a port of the
 * rule pack, a `finding` event per path or unexpected flow whose status changed, and a `stats` event.
 * Lines are written whole (each write(2) ends with a newline), so a reader tailing the file never sees
 * half an event; the file is appended to, never truncated, and rotated (to FILE.1) past a size. */
#ifndef FLOWAUDIT_EVENTS_H
#define FLOWAUDIT_EVENTS_H

#include <stdint.h>

#include "flowaudit/audit.h"
#include "flowaudit/diag.h"
#include "flowaudit/graph.h"

struct events;

/* path: a file (appended to; made if missing), a device or FIFO (written in place), or "-" (standard
 * output). rotate: move the file to FILE.1 once it holds this many bytes (0: never). sensor: the name every
 * event carries, or NULL. NULL with a diagnostic when the file cannot be opened. */
struct events *events_open(const char *path, uint64_t rotate, const char *sensor, struct diag *d);
/* The events of one report (res: finished, cls_finish()); its flow logs are read from where the last
 * report stopped. 0, or -1 with a diagnostic (a write error; later reports try again). */
int events_report(struct events *ev, const struct graph *g, const struct audit_result *res, struct diag *d);
void events_close(struct events *ev);
/* "10M", "1G", "65536": bytes; false when it is not such a size. */
bool events_size_parse(const char *s, uint64_t *out);

#endif
