/* test_page: the status page's HTML without a server (the page over
 * HTTP, headers and all, is in test_http). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "page.h"

static void test_html_escape(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", ""},
        {"plain text 123", "plain text 123"},
        {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
        {"a & b", "a &amp; b"},
        {"&amp;", "&amp;amp;"},
        {"\"quoted\" 'single'", "&quot;quoted&quot; &#39;single&#39;"},
        {"tab\there\nnew\x7f", "tab?here?new?"},
        {"caf\xc3\xa9", "caf\xc3\xa9"}, /* UTF-8 passes */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b;
        buf_init(&b, 0);
        assert_int_equal(page_html_escape(&b, cases[i].in), 0);
        assert_string_equal(buf_str(&b), cases[i].want);
        buf_free(&b);
    }
    /* A full buffer fails instead of cutting. */
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(page_html_escape(&b, "<<<"), -1);
    buf_free(&b);
}

static void test_format_age(void **state)
{
    (void)state;
    static const struct {
        double t, now;
        const char *want;
    } cases[] = {
        {0, 1000, "never"},
        {-5, 1000, "never"},
        {1000, 1000, "0 s ago"},
        {1000, 1012.9, "12 s ago"},
        {1000, 1059.99, "59 s ago"},
        {1000, 1060, "1 min 0 s ago"},
        {1000, 1000 + 3599, "59 min 59 s ago"},
        {1000, 1000 + 3600 + 120, "1 h 2 min ago"},
        {1000, 1000 + 86400 * 4 + 3600 + 59, "4 d 1 h ago"},
        {2000, 1000, "0 s ago"},          /* the clock stepped back */
        {1, 1e300, "11574074 d 1 h ago"}, /* bounded, no overflow */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b;
        buf_init(&b, 0);
        assert_int_equal(page_format_age(&b, cases[i].t, cases[i].now), 0);
        if (strcmp(buf_str(&b), cases[i].want) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, buf_str(&b),
                     cases[i].want);
        buf_free(&b);
    }
}

/* A target as the store gives it: "known" has markup in its host; the
 * others have no server ("-"). */
static struct metrics_last result(const char *name, double start, bool ok)
{
    struct metrics_last l;
    memset(&l, 0, sizeof(l));
    struct probe_result *r = &l.result;
    snprintf(r->target, sizeof(r->target), "%s", name);
    r->start_time = start;
    r->success = ok;
    r->stage = ok ? PROBE_STAGE_QUIT : PROBE_STAGE_CONNECT;
    r->error = ok ? PROBE_ERROR_NONE : PROBE_ERROR_CONNECT;
    if (strcmp(name, "known") == 0) {
        snprintf(l.host, sizeof(l.host), "<i>mx</i>.example.com");
        l.port = 587;
        l.tls = TLS_MODE_STARTTLS;
    }
    return l;
}

static void test_render(void **state)
{
    (void)state;
    struct metrics_last res[3] = {result("a-ok", 1000, true),
                                  result("known", 1000, false),
                                  result("pending", 0, false)};
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(page_render(&b, res, 3, 1100), 0);
    const char *page = buf_str(&b);
    /* The known server is shown, escaped; one without a host shows "-". */
    assert_non_null(strstr(page, "&lt;i&gt;mx&lt;/i&gt;.example.com:587 "
                                 "(starttls)"));
    assert_null(strstr(page, "<i>"));
    const char *failing = strstr(page, "id=\"t-known\"");
    const char *pending = strstr(page, "id=\"t-pending\"");
    const char *ok = strstr(page, "id=\"t-a-ok\"");
    assert_true(failing && pending && ok && failing < pending && pending < ok);
    assert_non_null(strstr(ok, "<p class=\"server\">-</p>"));
    assert_non_null(strstr(ok, "1 min 40 s ago"));
    buf_free(&b);

    /* No targets. */
    buf_init(&b, 0);
    assert_int_equal(page_render(&b, NULL, 0, 1100), 0);
    assert_non_null(strstr(buf_str(&b), "No targets configured."));
    buf_free(&b);

    /* Out of room: -1, never a page cut short that looks whole. */
    buf_init(&b, 4096);
    assert_int_equal(page_render(&b, res, 3, 1100), -1);
    buf_free(&b);
}

/* Whether the card of target name holds text. */
static bool card_has(const char *page, const char *name, const char *text)
{
    char id[96];
    snprintf(id, sizeof(id), "id=\"t-%s\"", name);
    const char *card = strstr(page, id);
    assert_non_null(card);
    const char *end = strstr(card, "</article>");
    assert_non_null(end);
    const char *at = strstr(card, text);
    return at && at < end;
}

/* A card says which address answered, and its IP version; "none
 * reached" when the probe connected to none; nothing before a probe. */
static void test_address(void **state)
{
    (void)state;
    struct metrics_last res[4] = {
        result("v6", 1000, true), result("v4", 1000, true),
        result("refused", 1000, false), result("pending", 0, false)};
    snprintf(res[0].result.address, sizeof(res[0].result.address), "::1");
    res[0].result.ip_protocol = 6;
    snprintf(res[1].result.address, sizeof(res[1].result.address),
             "127.0.0.1");
    res[1].result.ip_protocol = 4;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(page_render(&b, res, 4, 1100), 0);
    const char *page = buf_str(&b);
    assert_true(card_has(page, "v6",
                         "<dt>Address</dt><dd>::1 <span class=\"muted\">"
                         "(IPv6)</span></dd>"));
    assert_true(card_has(page, "v4",
                         "<dt>Address</dt><dd>127.0.0.1 <span "
                         "class=\"muted\">(IPv4)</span></dd>"));
    assert_false(card_has(page, "v4", "::1"));
    assert_true(
        card_has(page, "refused", "<dt>Address</dt><dd>none reached</dd>"));
    assert_false(card_has(page, "pending", "<dt>Address</dt>"));
    buf_free(&b);
}

/* A failed check fails the card of a probe that succeeded, with a Checks
 * line per configured check, server text escaped; the summary counts it
 * as failing. */
static void test_checks(void **state)
{
    (void)state;
    struct metrics_last res[2] = {result("relay", 1000, true),
                                  result("fine", 1000, true)};
    struct probe_check_result *c = res[0].result.checks;
    c[CHECK_OPEN_RELAY] = (struct probe_check_result){
        true, CHECK_FAILED, 250, "RCPT TO:<x@example.net>: 250 <b>Ok</b>"};
    c[CHECK_EHLO] = (struct probe_check_result){true, CHECK_NOT_RUN, 0, ""};
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(page_render(&b, res, 2, 1100), 0);
    const char *page = buf_str(&b);
    assert_non_null(strstr(page, "<article class=\"card failing\" "
                                 "id=\"t-relay\""));
    assert_non_null(strstr(page, "<article class=\"card ok\" "
                                 "id=\"t-fine\""));
    assert_true(card_has(
        page, "relay",
        "<li class=\"check\" data-check=\"open_relay\">open_relay: <span "
        "class=\"bad\">failing</span> <span class=\"muted\">RCPT "
        "TO:&lt;x@example.net&gt;: 250 &lt;b&gt;Ok&lt;/b&gt;</span></li>"));
    assert_true(card_has(page, "relay",
                         "<li class=\"check\" data-check=\"ehlo\">ehlo: "
                         "<span class=\"muted\">not run</span></li>"));
    assert_true(card_has(page, "relay", "Relaying for strangers accepted"));
    assert_false(card_has(page, "relay", "auth_before_tls"));
    assert_false(card_has(page, "fine", "<dt>Checks</dt>"));
    assert_null(strstr(page, "<b>Ok"));
    buf_free(&b);
}

/* A card shows its target's labels, escaped, under the server (pending
 * or probed); a target without labels has no such line. */
static void test_labels(void **state)
{
    (void)state;
    struct metrics_last res[3] = {result("a-ok", 1000, true),
                                  result("known", 1000, false),
                                  result("pending", 0, false)};
    snprintf(res[0].labels, sizeof(res[0].labels),
             "team=\"mail\",note=\"<b>&\\\"x\\\"</b>\"");
    snprintf(res[2].labels, sizeof(res[2].labels), "env=\"prod\"");
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(page_render(&b, res, 3, 1100), 0);
    const char *page = buf_str(&b);
    const char *failing = strstr(page, "id=\"t-known\"");
    const char *pending = strstr(page, "id=\"t-pending\"");
    const char *ok = strstr(page, "id=\"t-a-ok\"");
    assert_true(failing && pending && ok && failing < pending && pending < ok);
    const char *l_ok = strstr(ok, "<p class=\"labels\"><code>");
    assert_non_null(l_ok);
    assert_non_null(strstr(l_ok, "<code>team=&quot;mail&quot;,note=&quot;"
                                 "&lt;b&gt;&amp;\\&quot;x\\&quot;&lt;/b&gt;"
                                 "&quot;</code></p>\n"));
    /* Right under the server line, in its own card. */
    assert_true(l_ok > strstr(ok, "<p class=\"server\">"));
    assert_true(l_ok < strstr(ok, "</article>"));
    const char *l_pending = strstr(pending, "<p class=\"labels\"><code>");
    assert_non_null(l_pending);
    assert_true(l_pending < ok);
    assert_non_null(strstr(l_pending, "<code>env=&quot;prod&quot;</code>"));
    /* "known" has none: no labels line between its card and the next. */
    const char *l_known = strstr(failing, "<p class=\"labels\">");
    assert_true(l_known == l_pending);
    assert_null(strstr(page, "<b>"));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_escape), cmocka_unit_test(test_format_age),
        cmocka_unit_test(test_render),      cmocka_unit_test(test_labels),
        cmocka_unit_test(test_address),     cmocka_unit_test(test_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
