/* markdown: a small Markdown subset to HTML, escaped throughout. Pure. */
#ifndef MARKDOWN_H
#define MARKDOWN_H

#include <stddef.h>

#include "buf.h"

/*
 * Appends the HTML of the Markdown md[0..len): the document's elements
 * only, no page around them. What it reads: `#`..`######` headings,
 * paragraphs, `-`/`*`/`+` and `1.` lists (one level), `>` quotes, fenced
 * code blocks (``` or ~~~; one left open runs to the end), pipe tables
 * under a `|---|` row, `---` rules, and in text `code`, **strong**, *em*,
 * [text](url), <https://url> and backslash escapes. Anything else is text.
 *
 * Every heading gets an id: its text, lower-cased, without the
 * characters outside [a-z0-9-] ("### SMTPAuthFailing" -> "smtpauthfailing";
 * "section" when nothing is left); a repeated id gets "-2", "-3", ...
 * Everything from md is escaped, so no markup of its own passes; a link
 * is an <a href> only to http://, https:// or a relative URL (a path,
 * "#anchor"), otherwise its text alone. Bytes, not lines, bound the work:
 * any line length, NULs and unclosed markers are text.
 *
 * The classes a stylesheet may style: a heading ends with its link to
 * itself, <a class="self">; a table is in <div class="table">; a
 * centred or right-aligned cell is class "c" or "r".
 *
 * 0, or -1 when out of memory or past out's max (out then holds the
 * start of the document).
 */
int markdown_render(struct buf *out, const char *md, size_t len);

#endif
