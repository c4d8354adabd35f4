/* lex.h: the line-oriented tokenizer shared by rules and site files.
 * A statement starts on a line that does not begin with white space; indented lines continue it.
 * '#' starts a comment; "..." is a string. It knows no keywords: that is the parsers' job. */
#ifndef FLOWAUDIT_LEX_H
#define FLOWAUDIT_LEX_H

#include <stdbool.h>
#include <stddef.h>

#include "flowaudit/diag.h"

enum lex_type { LEX_WORD, LEX_STRING, LEX_COMMA, LEX_PIPE };

struct lex_tok {
	enum lex_type type;
	char *s;                /* the word or the unescaped string */
	int line, col, len;     /* where it stands in the file, len in bytes of source */
	bool stmt_start;        /* first token of a statement */
	const char *line_text;  /* its source line, inside the file buffer */
	size_t line_len;
};

struct lex_file {
	char *path;
	char *buf;              /* the whole file */
	size_t len;
	struct lex_tok *toks;
	size_t ntoks, cap;
};

#define LEX_PUNCT 1 /* ',' and '|' are tokens of their own (rules); otherwise part of words (sites) */
#define LEX_MAX_FILE (16u << 20)

/* Read and tokenize path. Returns 0, or -1 with diagnostics (unreadable, NUL byte, bad UTF-8,
 * unterminated string). */
int lex_file(struct lex_file *lf, const char *path, int flags, struct diag *d);
/* The same for text in memory, named name in diagnostics (a site flowaudit wrote itself). */
int lex_text(struct lex_file *lf, const char *name, const char *text, int flags, struct diag *d);
void lex_free(struct lex_file *lf);
/* A diagnostic location pointing at a token. */
struct diag_loc lex_loc(const struct lex_file *lf, const struct lex_tok *t);
/* Same, at byte offset off inside the token's source with length len. */
struct diag_loc lex_loc_at(const struct lex_file *lf, const struct lex_tok *t, int off, int len);

#endif
