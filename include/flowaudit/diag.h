/* diag.h: diagnostics with source locations, queued by the modules and printed by main.
 * Modules never print or exit: they add a diagnostic and return -1 (as nftables does). */
#ifndef FLOWAUDIT_DIAG_H
#define FLOWAUDIT_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#define DIAG_MAX 20 /* errors kept per run; the rest are counted */

struct diag_loc {
	const char *file;       /* path as the user gave it, or NULL */
	int line, col;          /* 1-based; 0 when unknown */
	int len;                /* length of the offending token, for the caret line */
	const char *text;       /* the whole source line (not NUL-terminated at its end) */
	size_t text_len;
};

struct diag_msg {
	char *file;
	int line, col, len;
	char *text;             /* copy of the source line, or NULL */
	char *msg;
};

struct diag {
	struct diag_msg msgs[DIAG_MAX];
	int n;                  /* messages kept */
	int dropped;            /* messages beyond DIAG_MAX */
};

void diag_init(struct diag *d);
void diag_free(struct diag *d);
void diag_add(struct diag *d, const struct diag_loc *loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void diag_vadd(struct diag *d, const struct diag_loc *loc, const char *fmt, va_list ap);
int diag_count(const struct diag *d);
/* FILE:LINE:COL: error: MESSAGE, the source line, and a caret under the token. */
void diag_print(const struct diag *d, FILE *out);
/* The same with another word than "error" (lint's warnings). */
void diag_print_as(const struct diag *d, FILE *out, const char *severity);
/* The closest candidate to word by edit distance, or NULL when nothing is close. */
const char *diag_suggest(const char *word, const char *const *cands, size_t n);

#endif
