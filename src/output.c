/* output.c: reports and copies written without destroying anything: see output.h. */
#include "flowaudit/output.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flowaudit/util.h"

static bool stdout_failed; /* already said: the end of the run does not say it again */

static bool is_stdout(const char *path)
{
	return !path || strcmp(path, "-") == 0;
}

/* The file a path names, following links; a link to nothing names its target-to-be. NULL (errno set)
 * when the path cannot be resolved, e.g. a link loop. */
static char *resolve(const char *path)
{
	char *r = realpath(path, NULL);
	if (r)
		return r;
	if (errno != ENOENT)
		return NULL;
	/* Not there yet: the folder must be, and a dangling link is followed to the file it would make. */
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		if (buf[0] == '/')
			return resolve(buf);
		char *dir = xstrdup(path);
		char *joined = xasprintf("%s/%s", dirname(dir), buf);
		free(dir);
		char *r2 = strcmp(joined, path) ? resolve(joined) : NULL;
		free(joined);
		return r2;
	}
	char *copy = xstrdup(path), *copy2 = xstrdup(path);
	char *dir = realpath(dirname(copy), NULL);
	char *out = dir ? xasprintf("%s/%s", dir, basename(copy2)) : NULL;
	int e = errno;
	free(dir);
	free(copy);
	free(copy2);
	errno = e;
	return out;
}

static int fail(struct diag *d, const char *path, const char *fmt, int e)
{
	struct diag_loc loc = {.file = path};
	diag_add(d, &loc, fmt, strerror(e));
	return -1;
}

/* Run fn on a stream over fd, and close it; 0, or -1 with errno from the first failure. */
static int write_fd(int fd, out_fn fn, const void *arg)
{
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	int rc = fn(f, arg);
	int e = errno;
	if (rc == 0 && (fflush(f) == EOF || ferror(f))) {
		rc = -1;
		e = errno ? errno : EIO;
	}
	if (fclose(f) == EOF && rc == 0) {
		rc = -1;
		e = errno;
	}
	errno = e;
	return rc;
}

/* The signals that end a run by default: held back while a named temporary file exists, so that it is
 * never left behind (a live run's handlers only note them; they are delivered once it is gone). */
static void hold_signals(sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static void release_signals(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* The replacement keeps the mode (and, where allowed, the owner) of what it replaces; a new report is as
 * readable as any file this umask makes (the temporary file was made 0600). */
static void take_mode(int fd, const struct stat *old)
{
	if (old) {
		fchmod(fd, old->st_mode & 07777);
		if (fchown(fd, old->st_uid, old->st_gid) < 0) {
			/* not ours to give away: the report stays ours */
		}
	} else {
		mode_t mask = umask(0);
		umask(mask);
		fchmod(fd, 0666 & ~mask);
	}
}

/* An unnamed file in real's folder (O_TMPFILE), and the /proc name linkat() can give it a name through;
 * -1 (EOPNOTSUPP) where the file system has no unnamed files or /proc is not there to name one. */
static int open_unnamed(const char *real, char proc[static 32])
{
	char *copy = xstrdup(real);
	int fd = open(dirname(copy), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	int e = errno;
	free(copy);
	if (fd < 0) {
		errno = e;
		return -1;
	}
	struct stat st;
	snprintf(proc, 32, "/proc/self/fd/%d", fd);
	if (stat(proc, &st) < 0) {
		close(fd);
		errno = EOPNOTSUPP;
		return -1;
	}
	return fd;
}

/* Give the finished unnamed file real's name: linked under a fresh name beside it, then renamed over it
 * (linkat never replaces a file). Signals wait for the moment the fresh name exists. */
static int publish(const char *proc, const char *real)
{
	sigset_t old;
	hold_signals(&old);
	int rc = -1;
	for (unsigned i = 0; i < 100; i++) {
		uint32_t r;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint32_t)getpid() * 2654435761u + i;
		char *name = xasprintf("%s.%08x", real, r);
		rc = linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW);
		if (rc == 0) {
			rc = rename(name, real);
			int e = errno;
			if (rc < 0)
				unlink(name);
			errno = e;
		}
		free(name);
		if (rc == 0 || errno != EEXIST)
			break;
	}
	int e = errno;
	release_signals(&old);
	errno = e;
	return rc;
}

/* Replace real with fn's output through a named temporary file beside it, the signals that would end the
 * run held until it is renamed or removed. */
static int replace_named(const char *real, const struct stat *old, out_fn fn, const void *arg, const char **what)
{
	sigset_t held;
	hold_signals(&held);
	char *tmp = xasprintf("%s.XXXXXX", real);
	int rc = -1;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd >= 0) {
		*what = "cannot write the report: %s";
		take_mode(fd, old);
		rc = write_fd(fd, fn, arg);
		if (rc == 0)
			rc = rename(tmp, real);
		int e = errno;
		if (rc < 0)
			unlink(tmp);
		errno = e;
	}
	int e = errno;
	free(tmp);
	release_signals(&held);
	errno = e;
	return rc;
}

/* An out_fn copying the unnamed file *arg (a descriptor) from its start. */
static int copy_unnamed(FILE *out, const void *arg)
{
	int fd = *(const int *)arg;
	char buf[65536];
	ssize_t n;
	for (off_t at = 0; (n = pread(fd, buf, sizeof(buf), at)) != 0; at += n) {
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n < 0 || fwrite(buf, 1, (size_t)n, out) != (size_t)n)
			return -1;
	}
	return 0;
}

/* Replace the regular file real (its stat in old; NULL: none yet) with fn's output, atomically: an
 * unnamed file given real's name once complete, so that a run ended at any moment (a signal, a crash)
 * leaves the old file and nothing else; a named temporary file where the file system has no unnamed
 * ones, or the complete unnamed file cannot be linked. -1 with errno and *what failed, real untouched. */
static int replace(const char *real, const struct stat *old, out_fn fn, const void *arg, const char **what)
{
	*what = "cannot create a temporary file beside it: %s";
	char proc[32];
	int fd = open_unnamed(real, proc);
	if (fd < 0)
		return errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL ? replace_named(real, old, fn, arg, what) : -1;
	*what = "cannot write the report: %s";
	take_mode(fd, old);
	int w = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	int rc = w < 0 ? -1 : write_fd(w, fn, arg);
	if (rc == 0 && publish(proc, real) < 0)
		rc = replace_named(real, old, copy_unnamed, &fd, what);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int out_write(const char *path, out_fn fn, const void *arg, struct diag *d)
{
	if (is_stdout(path)) {
		errno = 0;
		if (fn(stdout, arg) < 0 || fflush(stdout) == EOF || ferror(stdout)) {
			int e = errno ? errno : EIO;
			stdout_failed = true;
			struct diag_loc loc = {.file = "standard output"};
			if (e != EPIPE)
				diag_add(d, &loc, "cannot write the report: %s", strerror(e));
			else
				diag_add(d, &loc, "the reader went away before the report was written");
			return -1;
		}
		return 0;
	}
	char *real = resolve(path);
	if (!real)
		return fail(d, path, "cannot write here: %s", errno);
	struct stat st;
	bool exists = stat(real, &st) == 0;
	if (exists && S_ISDIR(st.st_mode)) {
		free(real);
		return fail(d, path, "cannot write a report over a folder: %s", EISDIR);
	}
	int rc;
	if (exists && !S_ISREG(st.st_mode)) {
		/* A device, FIFO or socket: written in place, never replaced. */
		int fd = open(real, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		rc = fd < 0 ? -1 : write_fd(fd, fn, arg);
		if (rc < 0)
			fail(d, path, "cannot write the report: %s", errno);
		free(real);
		return rc;
	}
	const char *what;
	rc = replace(real, exists ? &st : NULL, fn, arg, &what);
	if (rc < 0)
		fail(d, path, what, errno);
	free(real);
	return rc;
}

int out_check(const char *path, const char *what, struct diag *d)
{
	if (is_stdout(path))
		return 0;
	struct diag_loc loc = {.file = path};
	char *real = resolve(path);
	if (!real) {
		diag_add(d, &loc, "%s cannot be written: %s", what, strerror(errno));
		return -1;
	}
	struct stat st;
	int rc = 0;
	if (stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
		diag_add(d, &loc, "%s is a folder", what);
		rc = -1;
	} else if (stat(real, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (access(real, W_OK) < 0) {
			diag_add(d, &loc, "%s cannot be written: %s", what, strerror(errno));
			rc = -1;
		}
	} else {
		/* A regular file is replaced through a new file in its folder: that folder must take one. */
		char *copy = xstrdup(real);
		char *dir = dirname(copy);
		if (access(dir, W_OK | X_OK) < 0) {
			diag_add(d, &loc, "%s cannot be written: folder %s: %s", what, dir, strerror(errno));
			rc = -1;
		}
		free(copy);
	}
	free(real);
	return rc;
}

bool out_same_file(const char *path, const char *input)
{
	struct stat a, b;
	if (!path || !input || is_stdout(path) || stat(path, &a) < 0 || stat(input, &b) < 0)
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int out_close_stdout(void)
{
	if (stdout_failed)
		return -1;
	errno = 0;
	if (fflush(stdout) == EOF || ferror(stdout)) {
		int e = errno ? errno : EIO;
		if (e != EPIPE)
			fprintf(stderr, "flowaudit: standard output: %s\n", strerror(e));
		return -1;
	}
	return 0;
}
