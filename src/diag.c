/* diag.c: the diagnostic queue, caret lines and "did you mean" suggestions.
 * Only main.c decides to print; everything here just records. */
#include "flowaudit/diag.h"

#include <stdlib.h>
#include <string.h>

#include "flowaudit/util.h"

void diag_init(struct diag *d)
{
	memset(d, 0, sizeof(*d));
}

void diag_free(struct diag *d)
{
	for (int i = 0; i < d->n; i++) {
		free(d->msgs[i].file);
		free(d->msgs[i].text);
		free(d->msgs[i].msg);
	}
	diag_init(d);
}

void diag_vadd(struct diag *d, const struct diag_loc *loc, const char *fmt, va_list ap)
{
	if (d->n >= DIAG_MAX) {
		d->dropped++;
		return;
	}
	struct diag_msg *m = &d->msgs[d->n++];
	memset(m, 0, sizeof(*m));
	m->msg = xvasprintf(fmt, ap);
	/* A message quoting a megabyte-long token stays readable: cut it (the location says where). */
	if (strlen(m->msg) > 300)
		strcpy(m->msg + 290, " [...]");
	if (!loc)
		return;
	m->file = loc->file ? xstrdup(loc->file) : NULL;
	m->line = loc->line;
	m->col = loc->col;
	m->len = loc->len;
	if (loc->text) {
		size_t n = loc->text_len;
		/* Long lines are cut for display: the location stays exact. */
		if (n > 200)
			n = 200;
		m->text = xstrndup(loc->text, n);
	}
}

void diag_add(struct diag *d, const struct diag_loc *loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(d, loc, fmt, ap);
	va_end(ap);
}

int diag_count(const struct diag *d)
{
	return d->n + d->dropped;
}

/* Print a source line with control bytes made visible, so a caret lines up. */
static void print_source(FILE *out, const char *text)
{
	fputs("    ", out);
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		fputc(*p == '\t' ? ' ' : (*p < 0x20 || *p == 0x7f) ? '?' : *p, out);
	fputc('\n', out);
}

void diag_print(const struct diag *d, FILE *out)
{
	diag_print_as(d, out, "error");
}

void diag_print_as(const struct diag *d, FILE *out, const char *severity)
{
	for (int i = 0; i < d->n; i++) {
		const struct diag_msg *m = &d->msgs[i];
		if (m->file && m->line > 0)
			fprintf(out, "%s:%d:%d: %s: %s\n", m->file, m->line, m->col, severity, m->msg);
		else if (m->file)
			fprintf(out, "%s: %s: %s\n", m->file, severity, m->msg);
		else
			fprintf(out, "%s: %s\n", severity, m->msg);
		if (m->text && m->col > 0 && (size_t)m->col <= strlen(m->text) + 1) {
			print_source(out, m->text);
			fprintf(out, "    %*s", m->col - 1, "");
			for (int k = 0; k < (m->len > 0 ? m->len : 1) && k < 200; k++)
				fputc('^', out);
			fputc('\n', out);
		}
	}
	if (d->dropped)
		fprintf(out, "(%d more %ss not shown)\n", d->dropped, severity);
}

/* Optimal string alignment distance: insertions, deletions, substitutions and transpositions of
 * neighbours each cost one, so "tsl" is one typo away from "tls". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t d[65][65];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

const char *diag_suggest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		size_t dist = edit_distance(word, cands[i]);
		if (dist < best_d) {
			best_d = dist;
			best = cands[i];
		}
	}
	/* Allow about one typo per four characters, and at least one. */
	size_t limit = strlen(word) / 4 + 1;
	return best_d <= limit ? best : NULL;
}
