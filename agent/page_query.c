/* page_query: the status page's query, and the targets it selects. */
#include "page_query.h"

#include <string.h>
#include <strings.h>

#include "config_value.h"
#include "errmsg.h"
#include "hexdigit.h"

static const char *const filter_names[] = {
    [PAGE_FILTER_ANY] = "",
    [PAGE_FILTER_FAILING] = "failing",
    [PAGE_FILTER_PENDING] = "pending",
    [PAGE_FILTER_OK] = "ok",
};
_Static_assert(sizeof filter_names / sizeof filter_names[0] ==
                   PAGE_FILTER_COUNT,
               "a name for every filter");

const char *page_filter_name(enum page_filter f)
{
    if ((unsigned)f >= PAGE_FILTER_COUNT)
        return "";
    return filter_names[f];
}

/* A form's value: '+' is a space, %XX a byte; no control characters.
 * 0, or -1 with a message. */
static int form_decode(const char *key, const char *in, char *out, size_t cap,
                       char *err, size_t errlen)
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            c = hexdigit_pair(p + 1);
            if (c < 0) {
                errmsg_set(err, errlen, "%s: a bad %%-escape", key);
                return -1;
            }
            p += 2;
        }
        if (c < 0x20 || c == 0x7f) {
            errmsg_set(err, errlen, "%s: a control character", key);
            return -1;
        }
        if (n + 1 >= cap) {
            errmsg_set(err, errlen, "%s: longer than %zu bytes", key, cap - 1);
            return -1;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return 0;
}

int page_query_parse(struct page_query *q, const char *state,
                     const char *target, const char *text, char *err,
                     size_t errlen)
{
    memset(q, 0, sizeof(*q));
    char word[16];
    if (state &&
        form_decode("state", state, word, sizeof(word), err, errlen) < 0)
        return -1;
    if (state && word[0]) {
        int f = 1;
        while (f < PAGE_FILTER_COUNT && strcmp(word, filter_names[f]) != 0)
            f++;
        if (f == PAGE_FILTER_COUNT) {
            errmsg_set(err, errlen,
                       "state: want failing, pending or ok, not \"%s\"", word);
            return -1;
        }
        q->state = (enum page_filter)f;
    }
    if (target && form_decode("target", target, q->target, sizeof(q->target),
                              err, errlen) < 0)
        return -1;
    if (q->target[0] &&
        !config_valid_any_target_name(q->target, strlen(q->target))) {
        errmsg_set(err, errlen, "target: not a target name");
        return -1;
    }
    if (text && form_decode("q", text, q->q, sizeof(q->q), err, errlen) < 0)
        return -1;
    return 0;
}

bool page_query_given(const struct page_query *q)
{
    return q->state != PAGE_FILTER_ANY || q->target[0] || q->q[0];
}

static enum page_filter filter_of(enum report_state s)
{
    switch (s) {
    case REPORT_PENDING:
        return PAGE_FILTER_PENDING;
    case REPORT_OK:
        return PAGE_FILTER_OK;
    default:
        return PAGE_FILTER_FAILING;
    }
}

static bool matches(const struct page_query *q, const struct metrics_brief *b)
{
    if (q->target[0])
        return strcmp(b->name, q->target) == 0;
    if (q->state != PAGE_FILTER_ANY && filter_of(b->state) != q->state)
        return false;
    return !q->q[0] || strcasestr(b->name, q->q) != NULL;
}

size_t page_select(const struct page_query *q, const struct metrics_brief *b,
                   size_t n, size_t *idx, size_t *cards)
{
    /* The page's order: what needs looking at first. */
    static const enum page_filter order[] = {
        PAGE_FILTER_FAILING, PAGE_FILTER_PENDING, PAGE_FILTER_OK};
    size_t k = 0, failing = 0;
    for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
        for (size_t i = 0; i < n; i++)
            if (filter_of(b[i].state) == order[o] && matches(q, &b[i])) {
                idx[k++] = i;
                failing += order[o] == PAGE_FILTER_FAILING;
            }
    if (!page_query_given(q))
        *cards = n <= PAGE_FULL_MAX             ? k
                 : failing < PAGE_FAILING_CARDS ? failing
                                                : PAGE_FAILING_CARDS;
    else
        *cards = k < PAGE_QUERY_CARDS ? k : PAGE_QUERY_CARDS;
    return k;
}
