/* flowlog.c: --flows records in an unnamed temporary file (flowlog.h). Reading back never looks at the
 * writer's counters: an interim report reads the records a worker flushed before, while it appends. */
#include "flowaudit/flowlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flowaudit/util.h"

#define FLOWLOG_BUF 819 /* records buffered: 64 KB */

struct flowlog {
	int fd;
	char *dir;
	size_t written;         /* records in the file */
	struct flow_record buf[FLOWLOG_BUF];
	size_t nbuf;
	char *error;
};

static int open_tmp(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	/* A file system without unnamed files: a named one, unlinked at once. */
	char *path = xasprintf("%s/flowaudit-flows.XXXXXX", dir);
	fd = mkstemp(path);
	if (fd >= 0)
		unlink(path);
	free(path);
	return fd;
}

struct flowlog *flowlog_new(struct diag *d)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open_tmp(dir);
	if (fd < 0) {
		struct diag_loc loc = {.file = dir};
		diag_add(d, &loc, "cannot make a temporary file for --flows: %s", strerror(errno));
		return NULL;
	}
	struct flowlog *l = xcalloc(1, sizeof(*l));
	l->fd = fd;
	l->dir = xstrdup(dir);
	return l;
}

void flowlog_free(struct flowlog *l)
{
	if (!l)
		return;
	close(l->fd);
	free(l->dir);
	free(l->error);
	free(l);
}

void flowlog_flush(struct flowlog *l)
{
	size_t off = 0, len = l->nbuf * sizeof(l->buf[0]);
	const char *p = (const char *)l->buf;
	while (off < len && !l->error) {
		ssize_t n = pwrite(l->fd, p + off, len - off, (off_t)(l->written * sizeof(l->buf[0]) + off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			l->error = xasprintf("%s: %s", l->dir, n < 0 ? strerror(errno) : "nothing written");
		else
			off += (size_t)n;
	}
	if (!l->error)
		l->written += l->nbuf;
	l->nbuf = 0;
}

void flowlog_add(struct flowlog *l, const struct flow_record *r, size_t n)
{
	while (n && !l->error) {
		size_t k = FLOWLOG_BUF - l->nbuf < n ? FLOWLOG_BUF - l->nbuf : n;
		memcpy(l->buf + l->nbuf, r, k * sizeof(*r));
		l->nbuf += k;
		r += k;
		n -= k;
		if (l->nbuf == FLOWLOG_BUF)
			flowlog_flush(l);
	}
}

size_t flowlog_count(const struct flowlog *l)
{
	return l->written + l->nbuf;
}

int flowlog_each(const struct flowlog *l, size_t upto, int (*fn)(void *ctx, const struct flow_record *r, size_t n),
		 void *ctx)
{
	return flowlog_each_from(l, 0, upto, fn, ctx);
}

int flowlog_each_from(const struct flowlog *l, size_t from, size_t upto,
		      int (*fn)(void *ctx, const struct flow_record *r, size_t n), void *ctx)
{
	struct flow_record *batch = xmalloc(FLOWLOG_BUF * sizeof(*batch));
	size_t done = from;
	int rc = 0;
	while (done < upto && !rc) {
		size_t k = upto - done < FLOWLOG_BUF ? upto - done : FLOWLOG_BUF;
		size_t got = 0, len = k * sizeof(*batch);
		while (got < len) {
			ssize_t n = pread(l->fd, (char *)batch + got, len - got, (off_t)(done * sizeof(*batch) + got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (got < len) {
			rc = -1;
			break;
		}
		rc = fn(ctx, batch, k);
		done += k;
	}
	free(batch);
	return rc;
}

const char *flowlog_error(const struct flowlog *l)
{
	return l->error;
}
