/* page: the status page, HTML from each target's last result. Pure. */
#ifndef PAGE_H
#define PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "metrics.h"
#include "metrics_read.h"
#include "page_query.h"

/*
 * Appends the page without a query for the targets res[0..n) (sorted
 * by name, as metrics_last_results() gives them) as rendered at unix
 * time now: the failing first, then those not probed yet, then the
 * healthy; for each its server, what report makes of its last result and
 * the result's facts (see page_render_view() for a fleet). A target with an
 * empty host shows "-" for its server. Everything that came from a server or
 * the config is escaped. 0, or -1 when out of memory.
 */
int page_render(struct buf *b, const struct metrics_last *res, size_t n,
                double now);

/*
 * The page for query q: the summary over every target (briefs[0..n), by
 * name), the cards of the first n_cards selected targets (idx[0..matched)
 * as page_select() gives them; cards[0..n_shown) their last results, in
 * that order) and the other selected ones as a compact list of links.
 * Past PAGE_FULL_MAX targets, or with a query, the counts link to each
 * state's page and a search form is shown. 0, or -1 when out of memory.
 */
int page_render_view(struct buf *b, const struct page_query *q,
                     const struct metrics_brief *briefs, size_t n,
                     const size_t *idx, size_t matched, size_t n_cards,
                     const struct metrics_last *cards, size_t n_shown,
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
