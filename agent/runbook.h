/* runbook: the alert runbooks (config/ALERTS.md) as one HTML page. Pure. */
#ifndef RUNBOOK_H
#define RUNBOOK_H

#include <stddef.h>

#include "buf.h"

/* config/ALERTS.md as it was at build time (CMakeLists.txt generates
 * runbook_md.c from it): runbook_md_len bytes, then a NUL. */
extern const unsigned char runbook_md[];
extern const size_t runbook_md_len;

/*
 * Appends the HTML page of the Markdown md[0..len): a link back to the
 * status page, a small stylesheet, and the document. What it reads:
 * `#`..`######` headings, paragraphs, `-`/`*`/`+` and `1.` lists (one
 * level), `>` quotes, fenced code blocks (``` or ~~~; one left open runs
 * to the end), pipe tables under a `|---|` row, `---` rules, and in text
 * `code`, **strong**, *em*, [text](url), <https://url> and backslash
 * escapes. Anything else is text.
 *
 * Every heading gets an id: its text, lower-cased, without the
 * characters outside [a-z0-9-] ("### SMTPAuthFailing" -> "smtpauthfailing";
 * "section" when nothing is left); a repeated id gets "-2", "-3", ...
 * Everything from md is escaped, so no markup of its own passes; a link
 * is an <a href> only to http://, https:// or a relative URL (a path,
 * "#anchor"), otherwise its text alone. Bytes, not lines, bound the work:
 * any line length, NULs and unclosed markers are text.
 *
 * 0, or -1 when out of memory or past out's max (out then holds the
 * start of a page).
 */
int runbook_render(struct buf *out, const char *md, size_t len);

#endif
