/* test_http_strict: the request grammar http_strict holds requests to
 * (the checks on live requests are in test_http). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "http_strict.h"

struct grammar_case {
    const char *s;
    size_t n; /* bytes of s, NULs included */
    bool want;
};

#define C(lit, want)                                                          \
    {                                                                         \
        lit, sizeof(lit) - 1, want                                            \
    }

static void run(const char *what, bool (*fn)(const char *, size_t),
                const struct grammar_case *cases, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (fn(cases[i].s, cases[i].n) != cases[i].want) {
            print_error("%s: case %zu (\"%s\"): want %d\n", what, i,
                        cases[i].s, cases[i].want);
            bad++;
        }
    assert_int_equal(bad, 0);
}

static void test_token(void **state)
{
    (void)state;
    static const struct grammar_case cases[] = {
        C("GET", true),
        C("Content-Length", true),
        C("x-lower-CASE_1!#$%&'*+.^`|~", true),
        C("", false),
        C("Content-Length ", false), /* space before the colon */
        C("X(A)", false),
        C("X:A", false),
        C("X\tA", false),
        C("GET\0", false),
        C("X\x7f", false),
        C("caf\xc3\xa9", false),
        C("\"q\"", false),
    };
    run("token", http_strict_token, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_field_value(void **state)
{
    (void)state;
    static const struct grammar_case cases[] = {
        C("", true),       C("gzip, deflate", true),
        C("\tv  ", true),  C("caf\xc3\xa9", true), /* obs-text */
        C("a\0b", false),  C("a\rb", false),
        C("a\nb", false),  C("a\x01", false),
        C("a\x7f", false),
    };
    run("field value", http_strict_field_value, cases,
        sizeof(cases) / sizeof(cases[0]));
}

static void test_target_chars(void **state)
{
    (void)state;
    static const struct grammar_case cases[] = {
        C("/metrics", true),
        C("/", true),
        C("*", true),
        C("/metrics?a=b&c=%41&d", true),
        C("/a/b;c,d:e@f!$'()*+~._-", true),
        C("http://[::1]:9925/metrics", true),
        C("/%2e%2E", true),
        C("", false),
        C("/met rics", false),
        C("/metrics#top", false),
        C("/%zz", false),
        C("/%4", false),
        C("/%", false),
        C("/a\x01", false),
        C("/a\x7f", false),
        C("/caf\xc3\xa9", false),
        C("/a\"b", false),
        C("/a<b>", false),
        C("/a\\b", false),
        C("/a{b}|^`", false),
        C("/a\0b", false),
    };
    run("target", http_strict_target_chars, cases,
        sizeof(cases) / sizeof(cases[0]));
}

static void test_host(void **state)
{
    (void)state;
    static const struct grammar_case cases[] = {
        C("", true),
        C("x", true),
        C("localhost:9925", true),
        C("127.0.0.1:9925", true),
        C("[::1]:9925", true),
        C("[2001:db8::5]", true),
        C("mx-1.example.com", true),
        C("a%41b", true),
        C("x:", true), /* an empty port is allowed by RFC 3986 */
        C("a b", false),
        C("a/b", false),
        C("a@b", false),
        C("a?b", false),
        C("a#b", false),
        C("x:80:81", false),
        C("x:8a", false),
        C("[::1", false),
        C("[]", false),
        C("[::1]x", false),
        C("[::1]:x", false),
        C("x\0y", false),
        C("a%4", false),
        C("caf\xc3\xa9", false),
    };
    run("host", http_strict_host, cases, sizeof(cases) / sizeof(cases[0]));
}

/* The callback's part: the characters are judged when the target is
 * seen, before libmicrohttpd cuts it up. */
static void test_target_seen(void **state)
{
    (void)state;
    char line[] = "/metrics?a=b";
    struct http_strict_target t;
    http_strict_target_seen(&t, line);
    assert_ptr_equal(t.s, line);
    assert_int_equal(t.len, 12);
    assert_true(t.chars_ok);
    line[8] = '\0'; /* what libmicrohttpd does next */
    assert_true(t.chars_ok);
    http_strict_target_seen(&t, "/a b");
    assert_false(t.chars_ok);
    http_strict_target_seen(&t, NULL);
    assert_null(t.s);
    assert_false(t.chars_ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_field_value),
        cmocka_unit_test(test_target_chars),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_target_seen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
