/* markdown_internal: what markdown.c (blocks, heading ids) and
 * markdown_inline.c (the writer, inline spans, URLs) share, and no one
 * else; markdown.h is the module's interface. */
#ifndef MARKDOWN_INTERNAL_H
#define MARKDOWN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Remembers its first failure, so that the page reads as a sequence of
 * writes checked once at the end. */
struct md_writer {
    struct buf *b;
    int rc;
    bool plain; /* text only, unescaped and without markup: for ids */
};

/* Markup of markdown's own; nothing in plain mode. */
void md_raw(struct md_writer *w, const char *s);
void md_printf(struct md_writer *w, const char *fmt, ...) BUF_PRINTF(2, 3);

/*
 * Everything from the Markdown goes through here: & < > " ' escaped (for
 * text and attribute values alike), other control characters '?' as in
 * page_html_escape(), but tabs and newlines kept: a code block's lines
 * and a paragraph's line breaks are whitespace.
 */
void md_text(struct md_writer *w, const char *s, size_t n);

/*
 * The text s[0..n) of a block with its inline markup: `code`, **strong**,
 * *em*, _em_, [text](url), <https://url>, backslash escapes. A marker
 * without its match is text; a link is an href only to a URL url_ok()
 * takes. In plain mode, the text it shows (a heading's id comes from it).
 */
void md_inline(struct md_writer *w, const char *s, size_t n);

/* ' ', '\t', '\n', '\r': the whitespace of both halves. */
bool md_is_space(char c);
/* How many c's from s[i] on. */
size_t md_run_of(const char *s, size_t n, size_t i, char c);
/* Leading and trailing md_is_space() characters off *s[0..*n). */
void md_trim(const char **s, size_t *n);

#endif
