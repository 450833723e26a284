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
 * status page, a small stylesheet, and the document as markdown_render()
 * makes it (markdown.h: what it reads, the heading ids, what it escapes
 * and which links it keeps), so "### SMTPAuthFailing" is the section
 * "#smtpauthfailing".
 *
 * 0, or -1 when out of memory or past out's max (out then holds the
 * start of a page).
 */
int runbook_render(struct buf *out, const char *md, size_t len);

#endif
