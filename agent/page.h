/* page: the status page, HTML from each target's last result. Pure. */
#ifndef PAGE_H
#define PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "metrics.h"

/*
 * Appends the page for the targets res[0..n) (sorted by name, as
 * metrics_last_results() gives them) as rendered at unix time now: the
 * failing first, then those not probed yet, then the healthy; for each
 * its server, what report makes of its last result and the result's
 * facts. A target with an empty host shows "-" for its server.
 * Everything that came from a server or the config is escaped. 0, or -1
 * when out of memory.
 */
int page_render(struct buf *b, const struct metrics_last *res, size_t n,
                double now);

/* Appends s with & < > " ' escaped for HTML text and attribute values;
 * control characters become '?'. 0, or -1. Public for tests. */
int page_html_escape(struct buf *out, const char *s);

/* Appends how long before now the unix time t was, as the status page
 * shows a probe's age: "12 s ago", "5 min 3 s ago", "3 h 2 min ago",
 * "4 d 1 h ago"; "never" for t <= 0; a t after now counts as now. 0, or
 * -1. Public for tests. */
int page_format_age(struct buf *out, double t, double now);

#endif
