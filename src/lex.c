/* lex.c: reads a rules or site file and cuts it into tokens with exact line and column.
 * Rejects what would make a location lie: NUL bytes and invalid UTF-8. */
#include "flowaudit/lex.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "flowaudit/util.h"

static int read_all(const char *path, char **out, size_t *outlen, struct diag *d)
{
	struct diag_loc loc = {.file = path};
	FILE *f = fopen(path, "rb");
	if (!f) {
		diag_add(d, &loc, "cannot open: %s", strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		diag_add(d, &loc, "is a directory, not a file");
		return -1;
	}
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > LEX_MAX_FILE) {
				free(buf);
				fclose(f);
				diag_add(d, &loc, "file is larger than %u MB", LEX_MAX_FILE >> 20);
				return -1;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		int e = errno;
		free(buf);
		fclose(f);
		diag_add(d, &loc, "cannot read: %s", strerror(e));
		return -1;
	}
	fclose(f);
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

/* Length of the UTF-8 sequence at p (at most n bytes), or 0 when it is invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	if (p[0] < 0x80)
		return 1;
	size_t need;
	uint32_t cp;
	if ((p[0] & 0xe0) == 0xc0) {
		need = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		need = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		need = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (need > n)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min_cp[need] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

struct diag_loc lex_loc_at(const struct lex_file *lf, const struct lex_tok *t, int off, int len)
{
	struct diag_loc loc = {
		.file = lf->path, .line = t->line, .col = t->col + off, .len = len,
		.text = t->line_text, .text_len = t->line_len,
	};
	return loc;
}

struct diag_loc lex_loc(const struct lex_file *lf, const struct lex_tok *t)
{
	return lex_loc_at(lf, t, 0, t->len);
}

static struct lex_tok *push(struct lex_file *lf)
{
	GROW(lf->toks, lf->cap, lf->ntoks);
	struct lex_tok *t = &lf->toks[lf->ntoks++];
	memset(t, 0, sizeof(*t));
	return t;
}

static bool is_word_char(unsigned char c, int flags)
{
	if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '#' || c == '"')
		return false;
	if ((flags & LEX_PUNCT) && (c == ',' || c == '|'))
		return false;
	return true;
}

static int lex_buf(struct lex_file *lf, const char *path, int flags, struct diag *d);

int lex_file(struct lex_file *lf, const char *path, int flags, struct diag *d)
{
	memset(lf, 0, sizeof(*lf));
	lf->path = xstrdup(path);
	if (read_all(path, &lf->buf, &lf->len, d) < 0)
		return -1;
	return lex_buf(lf, path, flags, d);
}

int lex_text(struct lex_file *lf, const char *name, const char *text, int flags, struct diag *d)
{
	memset(lf, 0, sizeof(*lf));
	lf->path = xstrdup(name);
	lf->buf = xstrdup(text);
	lf->len = strlen(text);
	return lex_buf(lf, name, flags, d);
}

static int lex_buf(struct lex_file *lf, const char *path, int flags, struct diag *d)
{
	int errors = 0;
	const char *buf = lf->buf;
	size_t pos = 0;
	int line = 1;
	/* A UTF-8 byte order mark (some Windows editors write one) is not text. */
	if (lf->len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < lf->len && errors < DIAG_MAX) {
		size_t start = pos;
		while (pos < lf->len && buf[pos] != '\n')
			pos++;
		size_t end = pos; /* exclusive, at '\n' or EOF */
		pos++;            /* past the newline */
		struct lex_tok proto = {.line = line, .line_text = buf + start, .line_len = end - start};
		if (proto.line_len && buf[end - 1] == '\r')
			proto.line_len--;
		bool first = true;
		bool indented = end > start && (buf[start] == ' ' || buf[start] == '\t');
		size_t i = start;
		while (i < end) {
			unsigned char c = (unsigned char)buf[i];
			struct diag_loc loc = {.file = path, .line = line, .col = (int)(i - start) + 1, .len = 1,
				.text = proto.line_text, .text_len = proto.line_len};
			if (c == '\0') {
				diag_add(d, &loc, "NUL byte in text file");
				errors++;
				break;
			}
			if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
				diag_add(d, &loc, "control character 0x%02x", c);
				errors++;
				break;
			}
			size_t ul = utf8_len((const unsigned char *)buf + i, end - i);
			if (ul == 0) {
				diag_add(d, &loc, "invalid UTF-8 byte 0x%02x", c);
				errors++;
				break;
			}
			if (c == ' ' || c == '\t' || c == '\r') {
				i++;
				continue;
			}
			if (c == '#')
				break;
			struct lex_tok *t = push(lf);
			*t = proto;
			t->col = (int)(i - start) + 1;
			t->stmt_start = first && !indented;
			first = false;
			if (c == '"') {
				size_t j = i + 1;
				char *s = xmalloc(end - i + 1);
				size_t n = 0;
				bool closed = false;
				while (j < end) {
					if (buf[j] == '\\' && j + 1 < end && (buf[j + 1] == '"' || buf[j + 1] == '\\')) {
						s[n++] = buf[j + 1];
						j += 2;
						continue;
					}
					if (buf[j] == '"') {
						closed = true;
						j++;
						break;
					}
					unsigned char sc = (unsigned char)buf[j];
					size_t cl = sc < 0x20 || sc == 0x7f ? 0 : utf8_len((const unsigned char *)buf + j, end - j);
					if (cl == 0)
						break; /* reported when the scan reaches it below */
					memcpy(s + n, buf + j, cl); /* a whole character at a time */
					n += cl;
					j += cl;
				}
				s[n] = '\0';
				if (!closed && j < end) { /* stopped at a NUL or a bad byte: report that byte */
					free(s);
					lf->ntoks--;
					i = j;
					continue;
				}
				t->type = LEX_STRING;
				t->s = s;
				t->len = (int)(j - i);
				if (!closed) {
					t->len = 1;
					struct diag_loc l2 = lex_loc(lf, t);
					diag_add(d, &l2, "unterminated string");
					errors++;
					break;
				}
				i = j;
				continue;
			}
			if ((flags & LEX_PUNCT) && (c == ',' || c == '|')) {
				t->type = c == ',' ? LEX_COMMA : LEX_PIPE;
				t->s = xstrndup(buf + i, 1);
				t->len = 1;
				i++;
				continue;
			}
			size_t j = i;
			while (j < end && is_word_char((unsigned char)buf[j], flags)) {
				unsigned char wc = (unsigned char)buf[j];
				size_t cl = wc < 0x20 || wc == 0x7f ? 0 : utf8_len((const unsigned char *)buf + j, end - j);
				if (cl == 0)
					break;
				j += cl; /* a whole character at a time */
			}
			t->type = LEX_WORD;
			t->s = xstrndup(buf + i, j - i);
			t->len = (int)(j - i);
			i = j;
		}
		line++;
	}
	return errors ? -1 : 0;
}

void lex_free(struct lex_file *lf)
{
	for (size_t i = 0; i < lf->ntoks; i++)
		free(lf->toks[i].s);
	free(lf->toks);
	free(lf->buf);
	free(lf->path);
	memset(lf, 0, sizeof(*lf));
}
