/* output.h: where reports and capture copies go. A regular file is replaced atomically, keeping its mode
 * (an unnamed file in its folder, named once complete: a run killed while writing leaves nothing behind);
 * a device, FIFO or socket is written in place; a symbolic link is followed to what it names; an output
 * that is one of the run's inputs is refused before anything is opened for writing. */
#ifndef FLOWAUDIT_OUTPUT_H
#define FLOWAUDIT_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include "flowaudit/diag.h"

/* Write the whole of fn's output to path ("-" or NULL: stdout). fn returns 0, or -1 with errno set.
 * 0 on success; -1 with a diagnostic naming the path (a write error such as ENOSPC included). */
typedef int (*out_fn)(FILE *out, const void *arg);
int out_write(const char *path, out_fn fn, const void *arg, struct diag *d);

/* Can this process write path now (its folder exists and takes a new file, or the file or device takes
 * writes)? Checked at start, and again after dropping privileges, so that no result is lost at the end. */
int out_check(const char *path, const char *what, struct diag *d);

/* Is path (an output, through links) the same file as input (same device and inode)? False when either
 * does not exist. */
bool out_same_file(const char *path, const char *input);

/* stdout was written by the command: flush it and say whether everything reached it (a full disk, a
 * closed pipe). -1 with the reason on stderr. */
int out_close_stdout(void);

#endif
