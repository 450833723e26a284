/* page_query: what a request asks of the status page (?state=, ?target=,
 * ?q=) and which targets it shows, in which form. Pure. */
#ifndef PAGE_QUERY_H
#define PAGE_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "metrics_read.h"

/* Up to this many targets, the page shows every one as a full card. */
#define PAGE_FULL_MAX 100
/* Past that, the page without a query shows the failing ones as cards,
 * at most this many; every other target is a line of a compact list. */
#define PAGE_FAILING_CARDS 50
/* A filtered page (?state=, ?q=) shows its first matches as cards. */
#define PAGE_QUERY_CARDS 100
/* ?q= after decoding. */
#define PAGE_Q_MAX 64

enum page_filter {
    PAGE_FILTER_ANY,
    PAGE_FILTER_FAILING,
    PAGE_FILTER_PENDING,
    PAGE_FILTER_OK,
    PAGE_FILTER_COUNT
};

/* "", "failing", "pending", "ok": the values of ?state=. */
const char *page_filter_name(enum page_filter f);

struct page_query {
    enum page_filter state;
    char target[CONFIG_TARGET_NAME_MAX + 1]; /* "": none */
    char q[PAGE_Q_MAX + 1];                  /* "": none; matched case-blind */
};

/*
 * Fills q from the raw (still %-encoded) values of ?state=, ?target= and
 * ?q= (NULL or "" when absent). 0, or -1 with a message in err: an
 * unknown state, a target that is no target name, a bad %-escape, a
 * control character, or a value too long.
 */
int page_query_parse(struct page_query *q, const char *state,
                     const char *target, const char *text, char *err,
                     size_t errlen);

/* Whether q asks for anything (the plain page does not). */
bool page_query_given(const struct page_query *q);

/*
 * The targets of b[0..n) (sorted by name) that q selects, in the page's
 * order: failing, then not probed yet, then ok, by name within each;
 * written as indices into b (idx holds n). Returns how many; *cards is
 * how many of the first get a full card, the rest going to the compact
 * list.
 */
size_t page_select(const struct page_query *q, const struct metrics_brief *b,
                   size_t n, size_t *idx, size_t *cards);

#endif
