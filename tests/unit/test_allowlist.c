/* test_allowlist: allowed_targets patterns, parsed and matched. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "allowlist.h"

struct match_case {
    const char *patterns;
    const char *host;
    unsigned port;
    bool allowed;
};

static const struct match_case matches[] = {
    /* A name: any case, any port unless one is given. */
    {"mx1.example.com", "mx1.example.com", 25, true},
    {"mx1.example.com", "MX1.Example.COM", 587, true},
    {"MX1.EXAMPLE.COM", "mx1.example.com", 587, true},
    {"mx1.example.com", "mx2.example.com", 25, false},
    {"mx1.example.com", "a.mx1.example.com", 25, false},
    {"mx1.example.com", "mx1.example.com.", 25, false},
    {"mx1.example.com:587", "mx1.example.com", 587, true},
    {"mx1.example.com:587", "mx1.example.com", 25, false},
    /* A wildcard: one or more whole labels, never the bare domain. */
    {"*.example.com", "mx1.example.com", 25, true},
    {"*.example.com", "a.b.example.com", 25, true},
    {"*.example.com", "EXAMPLE.com", 25, false},
    {"*.example.com", "example.com", 25, false},
    {"*.example.com", "badexample.com", 25, false},
    {"*.example.com", "mx1.example.com.evil.org", 25, false},
    {"*.example.com", "mx1.example.co", 25, false},
    {"*.example.com:587", "mx1.example.com", 587, true},
    {"*.example.com:587", "mx1.example.com", 465, false},
    /* IPv4: a CIDR matches an address written as one, never a name. */
    {"192.0.2.0/24", "192.0.2.7", 25, true},
    {"192.0.2.0/24", "192.0.3.7", 25, false},
    {"192.0.2.0/24", "mx1.example.com", 25, false},
    {"192.0.2.0/24", "localhost", 25, false},
    {"192.0.2.7", "192.0.2.7", 2525, true},
    {"192.0.2.7", "192.0.2.8", 2525, false},
    {"192.0.2.7:25", "192.0.2.7", 587, false},
    {"192.0.2.0/25", "192.0.2.127", 25, true},
    {"192.0.2.0/25", "192.0.2.128", 25, false},
    {"10.0.0.0/8", "10.255.255.255", 25, true},
    {"0.0.0.0/0", "203.0.113.9", 25, true},
    {"0.0.0.0/0", "2001:db8::1", 25, false},
    /* inet_aton's other spellings are neither addresses nor names. */
    {"127.0.0.0/8", "127.1", 25, false},
    {"127.0.0.0/8", "2130706433", 25, false},
    {"127.0.0.0/8", "0x7f000001", 25, false},
    {"127.0.0.0/8", "127.000.000.001", 25, false},
    /* IPv6. */
    {"[2001:db8::]/32:25", "2001:db8:1::5", 25, true},
    {"[2001:db8::]/32:25", "2001:db8:1::5", 587, false},
    {"[2001:db8::]/32:25", "2001:db9::5", 25, false},
    {"::1/128", "::1", 2525, true},
    {"::1", "::1", 2525, true},
    {"::1", "::2", 2525, false},
    {"[::1]:2525", "::1", 2525, true},
    {"[2001:db8::/32]", "2001:DB8::AB", 1, true},
    {"2001:db8::/33", "2001:db8:8000::1", 25, false},
    {"::1/128", "127.0.0.1", 25, false},
    {"127.0.0.1", "::ffff:127.0.0.1", 25, false},
    /* A list: any one pattern. */
    {"mx1.example.com:25 192.0.2.0/24\t*.example.org:587", "a.example.org",
     587, true},
    {"mx1.example.com:25 192.0.2.0/24\t*.example.org:587", "192.0.2.200", 9,
     true},
    {"mx1.example.com:25 192.0.2.0/24\t*.example.org:587", "mx1.example.com",
     587, false},
    /* A requested host that is neither name nor address. */
    {"*.example.com", "a b.example.com", 25, false},
    {"*.example.com", "", 25, false},
    {"*.example.com", "a..example.com", 25, false},
};

static void test_matches(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
        const struct match_case *c = &matches[i];
        struct allowlist a;
        char err[256] = "";
        if (allowlist_parse(c->patterns, &a, err, sizeof(err)) != 0)
            fail_msg("case %zu: %s: %s", i, c->patterns, err);
        if (allowlist_match(&a, c->host, c->port) != c->allowed)
            fail_msg("case %zu: %s against %s port %u: want %s", i, c->host,
                     c->patterns, c->port, c->allowed ? "allowed" : "refused");
        allowlist_free(&a);
    }
}

struct bad_case {
    const char *patterns;
    const char *err;
};

static const struct bad_case bads[] = {
    {"", "no patterns"},
    {"  \t ", "no patterns"},
    {"*", "pattern \"*\": a bare * would allow every host"},
    {"*:25", "pattern \"*:25\": a bare * would allow every host"},
    {"mx*.example.com", "* may only stand first"},
    {"*.*.example.com", "* may only stand first"},
    {"a.*.example.com", "* may only stand first"},
    {"*example.com", "* may only stand first"},
    {"mx1.example.com:0", "the port must be 1 to 65535"},
    {"mx1.example.com:65536", "the port must be 1 to 65535"},
    {"mx1.example.com:", "the port must be 1 to 65535"},
    {"mx1.example.com:x", "the port must be 1 to 65535"},
    {":25", "no host before the port"},
    {"192.0.2.0/33", "the prefix length must be 0 to 32"},
    {"192.0.2.0/", "the prefix length must be 0 to 32"},
    {"192.0.2.0/-1", "the prefix length must be 0 to 32"},
    {"192.0.2.7/24", "bits set past its prefix length"},
    {"192.0.2", "not an IPv4 address"},
    {"127.1", "not an IPv4 address"},
    {"192.0.2.256", "not an IPv4 address"},
    {"example.com/24", "not an IPv4 address"},
    {"2001:db8::/129", "the prefix length must be 0 to 128"},
    {"2001:db8::1/32", "bits set past its prefix length"},
    {"2001:db8::1::25", "not an IPv6 address"},
    {"2001:zz8::", "not an IPv6 address"},
    {"[2001:db8::1", "[ without ]"},
    {"[2001:db8::1]25", "expected /PREFIX or :PORT after ]"},
    {"[192.0.2.1]:25", "not an IPv6 address"},
    {"[::1]:0", "the port must be 1 to 65535"},
    {"mx1.example.123", "not a host name"},
    {"mx1..example.com", "not a host name"},
    {"mx1.example.com.", "not a host name"},
    {"-", "not a host name"},
    {"mx_1.exa@mple.com", "not a host name"},
    {"good.example.com bad..example.com", "pattern \"bad..example.com\""},
};

static void test_bad_patterns(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        struct allowlist a = {(void *)1, 7};
        char err[256] = "";
        if (allowlist_parse(bads[i].patterns, &a, err, sizeof(err)) == 0)
            fail_msg("case %zu: \"%s\" was accepted", i, bads[i].patterns);
        if (!strstr(err, bads[i].err))
            fail_msg("case %zu: \"%s\": got \"%s\", want \"%s\"", i,
                     bads[i].patterns, err, bads[i].err);
        assert_null(a.p);
        assert_int_equal(a.n, 0);
    }
}

static void test_long_pattern(void **state)
{
    (void)state;
    char text[400];
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    struct allowlist a;
    char err[256];
    assert_int_equal(allowlist_parse(text, &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too long"));
    /* 63 is the longest label. */
    char label[80];
    snprintf(label, sizeof(label), "%.*s.example.com", 64, text);
    assert_int_equal(allowlist_parse(label, &a, err, sizeof(err)), -1);
    snprintf(label, sizeof(label), "%.*s.example.com", 63, text);
    assert_int_equal(allowlist_parse(label, &a, err, sizeof(err)), 0);
    allowlist_free(&a);
    allowlist_free(&a);
    allowlist_free(NULL);
    assert_false(allowlist_match(NULL, "a.example.com", 25));
}

static void test_many_patterns(void **state)
{
    (void)state;
    char text[4096] = "";
    size_t len = 0;
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len,
                                "h%d.example.com:%d ", i, 1000 + i);
    struct allowlist a;
    char err[256];
    assert_int_equal(allowlist_parse(text, &a, err, sizeof(err)), 0);
    assert_int_equal(a.n, 100);
    assert_true(allowlist_match(&a, "h99.example.com", 1099));
    assert_false(allowlist_match(&a, "h99.example.com", 1098));
    allowlist_free(&a);
}

struct split_case {
    const char *in;
    const char *host; /* NULL: refused */
    unsigned port;
};

static const struct split_case splits[] = {
    {"mx1.example.com", "mx1.example.com", 0},
    {"mx1.example.com:587", "mx1.example.com", 587},
    {"192.0.2.7", "192.0.2.7", 0},
    {"192.0.2.7:25", "192.0.2.7", 25},
    {"2001:db8::1", "2001:db8::1", 0},
    {"[2001:db8::1]", "2001:db8::1", 0},
    {"[2001:db8::1]:25", "2001:db8::1", 25},
    {"localhost:2525", "localhost", 2525},
    {"", NULL, 0},
    {":25", NULL, 0},
    {"mx1.example.com:", NULL, 0},
    {"mx1.example.com:0", NULL, 0},
    {"mx1.example.com:99999", NULL, 0},
    {"mx1.example.com:25:25", NULL, 0},
    {"[2001:db8::1]25", NULL, 0},
    {"[mx1.example.com]:25", NULL, 0},
    {"[2001:db8::1", NULL, 0},
    {"127.1", NULL, 0},
    {"2130706433:25", NULL, 0},
    {"a b.example.com", NULL, 0},
    {"user@mx1.example.com", NULL, 0},
    {"mx1.example.com/x", NULL, 0},
};

static void test_split_target(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        char host[256] = "x";
        unsigned port = 77;
        int rc =
            allowlist_split_target(splits[i].in, host, sizeof(host), &port);
        if (!splits[i].host) {
            if (rc != -1)
                fail_msg("case %zu: \"%s\" accepted", i, splits[i].in);
            continue;
        }
        if (rc != 0)
            fail_msg("case %zu: \"%s\" refused", i, splits[i].in);
        assert_string_equal(host, splits[i].host);
        assert_int_equal(port, splits[i].port);
    }
    char small[4];
    unsigned port;
    assert_int_equal(
        allowlist_split_target("mx1.example.com", small, sizeof(small), &port),
        -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_bad_patterns),
        cmocka_unit_test(test_long_pattern),
        cmocka_unit_test(test_many_patterns),
        cmocka_unit_test(test_split_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
