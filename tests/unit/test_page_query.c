/* test_page_query: the status page's query (?state=, ?target=, ?q=) and
 * which targets a page shows as cards and which as links, and the fleet
 * page itself for thousands of targets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "page.h"
#include "page_query.h"

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *state, *target, *q;
        int rc;
        enum page_filter want_state;
        const char *want_target, *want_q;
    } cases[] = {
        {NULL, NULL, NULL, 0, PAGE_FILTER_ANY, "", ""},
        {"", "", "", 0, PAGE_FILTER_ANY, "", ""},
        {"failing", NULL, NULL, 0, PAGE_FILTER_FAILING, "", ""},
        {"pending", NULL, NULL, 0, PAGE_FILTER_PENDING, "", ""},
        {"ok", NULL, NULL, 0, PAGE_FILTER_OK, "", ""},
        {"o%6B", NULL, NULL, 0, PAGE_FILTER_OK, "", ""},
        {"OK", NULL, NULL, -1, PAGE_FILTER_ANY, "", ""},
        {"bogus", NULL, NULL, -1, PAGE_FILTER_ANY, "", ""},
        {NULL, "mx1.example:587", NULL, 0, PAGE_FILTER_ANY, "mx1.example:587",
         ""},
        {NULL, "mx1%3A587", NULL, 0, PAGE_FILTER_ANY, "mx1:587", ""},
        {NULL, "<b>", NULL, -1, PAGE_FILTER_ANY, "", ""},
        {NULL, "a b", NULL, -1, PAGE_FILTER_ANY, "", ""},
        {NULL, NULL, "mx+1", 0, PAGE_FILTER_ANY, "", "mx 1"},
        {NULL, NULL, "a%2Bb%25", 0, PAGE_FILTER_ANY, "", "a+b%"},
        {NULL, NULL, "%3Cscript%3E", 0, PAGE_FILTER_ANY, "", "<script>"},
        {NULL, NULL, "%zz", -1, PAGE_FILTER_ANY, "", ""},
        {NULL, NULL, "%4", -1, PAGE_FILTER_ANY, "", ""},
        {NULL, NULL, "%0a", -1, PAGE_FILTER_ANY, "", ""},
        {NULL, NULL, "%7f", -1, PAGE_FILTER_ANY, "", ""},
        {NULL, NULL,
         "0123456789012345678901234567890123456789012345678901234567890123", 0,
         PAGE_FILTER_ANY, "",
         "0123456789012345678901234567890123456789012345678901234567890123"},
        {NULL, NULL,
         "01234567890123456789012345678901234567890123456789012345678901234",
         -1, PAGE_FILTER_ANY, "", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct page_query q;
        char err[128] = "";
        int rc = page_query_parse(&q, cases[i].state, cases[i].target,
                                  cases[i].q, err, sizeof(err));
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d (%s)", i, rc, err);
        if (rc < 0) {
            assert_true(err[0] != '\0');
            continue;
        }
        assert_int_equal(q.state, cases[i].want_state);
        assert_string_equal(q.target, cases[i].want_target);
        assert_string_equal(q.q, cases[i].want_q);
        assert_int_equal(page_query_given(&q),
                         q.state != PAGE_FILTER_ANY || q.target[0] || q.q[0]);
    }
}

/* n targets "t0000".."t(n-1)": every 3rd failing, every 3rd + 1 ok, the
 * rest not probed yet. */
static struct metrics_brief *briefs(size_t n)
{
    struct metrics_brief *b = calloc(n, sizeof(*b));
    assert_non_null(b);
    for (size_t i = 0; i < n; i++) {
        snprintf(b[i].name, sizeof(b[i].name), "t%04zu", i);
        b[i].state = i % 3 == 0   ? REPORT_FAILING
                     : i % 3 == 1 ? REPORT_OK
                                  : REPORT_PENDING;
        b[i].start_time = b[i].state == REPORT_PENDING ? 0 : 1000;
    }
    return b;
}

static void query(struct page_query *q, const char *state, const char *target,
                  const char *text)
{
    char err[64];
    assert_int_equal(
        page_query_parse(q, state, target, text, err, sizeof(err)), 0);
}

static void test_select(void **state)
{
    (void)state;
    size_t n = 3000, cards;
    struct metrics_brief *b = briefs(n);
    size_t *idx = calloc(n, sizeof(*idx));
    struct page_query q;

    /* No query at fleet size: everyone, failing first, 50 cards. */
    query(&q, NULL, NULL, NULL);
    assert_int_equal(page_select(&q, b, n, idx, &cards), n);
    assert_int_equal(cards, PAGE_FAILING_CARDS);
    assert_int_equal(b[idx[0]].state, REPORT_FAILING);
    assert_int_equal(b[idx[999]].state, REPORT_FAILING);
    assert_int_equal(b[idx[1000]].state, REPORT_PENDING);
    assert_int_equal(b[idx[2000]].state, REPORT_OK);
    assert_string_equal(b[idx[0]].name, "t0000");
    assert_string_equal(b[idx[1]].name, "t0003");

    /* A small set: every target a card, as the page always did. */
    assert_int_equal(page_select(&q, b, PAGE_FULL_MAX, idx, &cards),
                     PAGE_FULL_MAX);
    assert_int_equal(cards, PAGE_FULL_MAX);

    /* By state, by name, both, one target, none. */
    query(&q, "ok", NULL, NULL);
    assert_int_equal(page_select(&q, b, n, idx, &cards), 1000);
    assert_int_equal(cards, PAGE_QUERY_CARDS);
    query(&q, NULL, NULL, "T00"); /* case-blind: t0000..t0099 */
    assert_int_equal(page_select(&q, b, n, idx, &cards), 100);
    query(&q, "failing", NULL, "t00");
    assert_int_equal(page_select(&q, b, n, idx, &cards), 34);
    assert_int_equal(cards, 34);
    query(&q, NULL, "t2999", NULL);
    assert_int_equal(page_select(&q, b, n, idx, &cards), 1);
    assert_string_equal(b[idx[0]].name, "t2999");
    query(&q, "failing", "t2999", NULL); /* the name wins */
    assert_int_equal(page_select(&q, b, n, idx, &cards), 1);
    query(&q, NULL, "t3000", NULL);
    assert_int_equal(page_select(&q, b, n, idx, &cards), 0);
    assert_int_equal(cards, 0);
    free(idx);
    free(b);
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* 10,000 targets: the summary counts them all, 50 failing cards, every
 * other target once as a link, the whole well under 1 MB. */
static void test_fleet_page(void **state)
{
    (void)state;
    size_t n = 10000, cards;
    struct metrics_brief *b = briefs(n);
    size_t *idx = calloc(n, sizeof(*idx));
    struct page_query q;
    query(&q, NULL, NULL, NULL);
    size_t matched = page_select(&q, b, n, idx, &cards);
    struct metrics_last *shown = calloc(cards, sizeof(*shown));
    for (size_t k = 0; k < cards; k++) {
        struct probe_result *r = &shown[k].result;
        snprintf(r->target, sizeof(r->target), "%s", b[idx[k]].name);
        r->start_time = 1000;
        r->stage = PROBE_STAGE_CONNECT;
        r->error = PROBE_ERROR_CONNECT;
    }
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(page_render_view(&out, &q, b, n, idx, matched, cards,
                                      shown, cards, 1100),
                     0);
    const char *page = buf_str(&out);
    assert_true(out.len < 1000 * 1000);
    assert_non_null(strstr(page, ">3334 failing</span>"));
    assert_non_null(strstr(page, ">3333 ok</span>"));
    assert_non_null(strstr(page, ">3333 not probed yet</span>"));
    assert_int_equal(count_of(page, "<article "), PAGE_FAILING_CARDS);
    assert_non_null(strstr(page, "and 3284 more, listed below"));
    const char *below = strstr(page, "</main>");
    assert_non_null(below);
    assert_int_equal(count_of(below, "<a href=\"?target="),
                     n - PAGE_FAILING_CARDS);
    assert_non_null(strstr(page, "<form class=\"filter\""));
    buf_free(&out);

    /* One target that does not exist: said, with no card. */
    query(&q, NULL, "nope", NULL);
    matched = page_select(&q, b, n, idx, &cards);
    buf_init(&out, 0);
    assert_int_equal(
        page_render_view(&out, &q, b, n, idx, matched, cards, NULL, 0, 1100),
        0);
    assert_non_null(strstr(buf_str(&out), "No target is named <code>nope"));
    assert_int_equal(count_of(buf_str(&out), "<article "), 0);
    buf_free(&out);

    /* A search's text comes back escaped in the form. */
    query(&q, NULL, NULL, "%3Cb%3E");
    matched = page_select(&q, b, n, idx, &cards);
    assert_int_equal(matched, 0);
    buf_init(&out, 0);
    assert_int_equal(
        page_render_view(&out, &q, b, n, idx, matched, cards, NULL, 0, 1100),
        0);
    assert_non_null(strstr(buf_str(&out), "value=\"&lt;b&gt;\""));
    assert_null(strstr(buf_str(&out), "<b>"));
    assert_non_null(strstr(buf_str(&out), "0 of 10000 targets match"));
    buf_free(&out);
    free(shown);
    free(idx);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_fleet_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
