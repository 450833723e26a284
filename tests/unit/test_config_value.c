/* test_config_value: every value validator and parser, accept and reject. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config_value.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A string validator's cases: the value and whether it passes. */
struct valid_case {
    const char *s;
    bool ok;
};

static void check_valid(const char *what, bool (*valid)(const char *),
                        const struct valid_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (valid(cases[i].s) != cases[i].ok)
            fail_msg("%s(\"%s\"): expected %s", what, cases[i].s,
                     cases[i].ok ? "accepted" : "refused");
    }
}

/* The same for validators of n bytes: only strlen(s) bytes are given. */
static void check_valid_n(const char *what,
                          bool (*valid)(const char *, size_t),
                          const struct valid_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (valid(cases[i].s, strlen(cases[i].s)) != cases[i].ok)
            fail_msg("%s(\"%s\"): expected %s", what, cases[i].s,
                     cases[i].ok ? "accepted" : "refused");
    }
}

static void test_parse_uint(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        unsigned lo, hi;
        int rc;
        unsigned v;
    } cases[] = {
        {"1", 1, 65535, 0, 1},
        {"65535", 1, 65535, 0, 65535},
        {"0", 0, 10, 0, 0},
        {"007", 1, 10, 0, 7},
        {"000000000000000000001", 1, 10, 0, 1},
        {"1024", 1, 1024, 0, 1024},
        {"1025", 1, 1024, -1, 0},
        {"0", 1, 65535, -1, 0},
        {"65536", 1, 65535, -1, 0},
        {"99999999999999999999999", 1, 65535, -1, 0},
        {"", 0, 10, -1, 0},
        {"-1", 0, 10, -1, 0},
        {"+1", 0, 10, -1, 0},
        {" 1", 0, 10, -1, 0},
        {"1 ", 0, 10, -1, 0},
        {"1.0", 0, 10, -1, 0},
        {"0x1", 0, 10, -1, 0},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        unsigned v = 4242;
        int rc = config_parse_uint(cases[i].s, cases[i].lo, cases[i].hi, &v);
        if (rc != cases[i].rc)
            fail_msg("\"%s\" in %u..%u: rc %d", cases[i].s, cases[i].lo,
                     cases[i].hi, rc);
        assert_int_equal(v, rc == 0 ? cases[i].v : 4242);
    }
}

static void test_duration(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        uint64_t ms;
    } cases[] = {
        {"250ms", 0, 250},
        {"1ms", 0, 1},
        {"30s", 0, 30000},
        {"30", 0, 30000},
        {"5m", 0, 300000},
        {"1h", 0, 3600000},
        {"24h", 0, CONFIG_DURATION_MAX_MS},
        {"86400000ms", 0, CONFIG_DURATION_MAX_MS},
        {"0007s", 0, 7000},
        {"86400001ms", -1, 0},
        {"25h", -1, 0},
        {"0", -1, 0},
        {"0h", -1, 0},
        {"", -1, 0},
        {"s", -1, 0},
        {"1S", -1, 0},
        {"1 s", -1, 0},
        {"1.5s", -1, 0},
        {"-1s", -1, 0},
        {"1d", -1, 0},
        {"99999999999999999999999h", -1, 0},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        uint64_t ms = 4242;
        int rc = config_parse_duration(cases[i].s, &ms);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d", cases[i].s, rc);
        assert_int_equal(ms, rc == 0 ? cases[i].ms : 4242);
    }
    assert_int_equal(config_parse_duration(NULL, &(uint64_t){0}), -1);
}

static void test_format_duration(void **state)
{
    (void)state;
    static const struct {
        uint64_t ms;
        const char *s;
    } cases[] = {
        {1, "1ms"},         {250, "250ms"},         {1000, "1s"},
        {1500, "1500ms"},   {90000, "90s"},         {60000, "1m"},
        {5400000, "90m"},   {3600000, "1h"},        {86400000, "24h"},
        {3601000, "3601s"}, {3600001, "3600001ms"},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        char buf[32];
        assert_string_equal(config_format_duration(cases[i].ms, buf, 32),
                            cases[i].s);
        /* What it writes reads back as the same duration. */
        uint64_t ms = 0;
        assert_int_equal(config_parse_duration(buf, &ms), 0);
        assert_int_equal(ms, cases[i].ms);
    }
}

static void test_parse_bool(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        bool v;
    } cases[] = {
        {"true", 0, true},    {"yes", 0, true},   {"on", 0, true},
        {"1", 0, true},       {"TRUE", 0, true},  {"Yes", 0, true},
        {"false", 0, false},  {"no", 0, false},   {"off", 0, false},
        {"0", 0, false},      {"OFF", 0, false},  {"", -1, false},
        {"2", -1, false},     {"y", -1, false},   {"enable", -1, false},
        {"true ", -1, false}, {" no", -1, false}, {"01", -1, false},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        bool v = !cases[i].v;
        int rc = config_parse_bool(cases[i].s, &v);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d", cases[i].s, rc);
        /* Untouched on error: still the opposite. */
        assert_int_equal(v, rc == 0 ? cases[i].v : !cases[i].v);
    }
}

static void test_parse_tls(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        enum tls_mode v;
    } cases[] = {
        {"starttls", 0, TLS_MODE_STARTTLS},
        {"implicit", 0, TLS_MODE_IMPLICIT},
        {"none", 0, TLS_MODE_NONE},
        {"STARTTLS", -1, TLS_MODE_NONE},
        {"tls", -1, TLS_MODE_NONE},
        {"ssl", -1, TLS_MODE_NONE},
        {"", -1, TLS_MODE_NONE},
        {"none ", -1, TLS_MODE_NONE},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        enum tls_mode v = TLS_MODE_NONE;
        int rc = config_parse_tls(cases[i].s, &v);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d", cases[i].s, rc);
        assert_int_equal(v, cases[i].v);
        if (rc == 0)
            assert_string_equal(tls_mode_name(v), cases[i].s);
    }
}

static void test_parse_ip_family(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        enum ip_family v;
    } cases[] = {
        {"auto", 0, IP_FAMILY_AUTO},    {"ipv4", 0, IP_FAMILY_IPV4},
        {"ipv6", 0, IP_FAMILY_IPV6},    {"IPv4", -1, IP_FAMILY_COUNT},
        {"4", -1, IP_FAMILY_COUNT},     {"inet6", -1, IP_FAMILY_COUNT},
        {"any", -1, IP_FAMILY_COUNT},   {"", -1, IP_FAMILY_COUNT},
        {"ipv6 ", -1, IP_FAMILY_COUNT}, {"ipv46", -1, IP_FAMILY_COUNT},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        enum ip_family v = IP_FAMILY_COUNT;
        int rc = config_parse_ip_family(cases[i].s, &v);
        if (rc != cases[i].rc || v != cases[i].v)
            fail_msg("\"%s\": rc %d, family %d", cases[i].s, rc, (int)v);
        if (rc == 0)
            assert_string_equal(ip_family_name(v), cases[i].s);
    }
    assert_string_equal(ip_family_name(IP_FAMILY_COUNT), "unknown");
}

/* source_address: a literal only, never a name or an interface (curl's
 * CURLOPT_INTERFACE would take "eth0" or "localhost" for one). */
static void test_parse_address(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        enum ip_family v;
    } cases[] = {
        {"127.0.0.1", 0, IP_FAMILY_IPV4},
        {"192.0.2.10", 0, IP_FAMILY_IPV4},
        {"0.0.0.0", 0, IP_FAMILY_IPV4},
        {"::1", 0, IP_FAMILY_IPV6},
        {"2001:db8::25", 0, IP_FAMILY_IPV6},
        {"::ffff:192.0.2.1", 0, IP_FAMILY_IPV6},
        {"0000:0000:0000:0000:0000:ffff:255.255.255.255", 0, IP_FAMILY_IPV6},
        {"localhost", -1, IP_FAMILY_COUNT},
        {"eth0", -1, IP_FAMILY_COUNT},
        {"if!eth0", -1, IP_FAMILY_COUNT},
        {"host!127.0.0.1", -1, IP_FAMILY_COUNT},
        {"[::1]", -1, IP_FAMILY_COUNT},
        {"fe80::1%lo", -1, IP_FAMILY_COUNT},
        {"127.0.0.1:25", -1, IP_FAMILY_COUNT},
        {"127.1", -1, IP_FAMILY_COUNT},
        {"127.0.0.256", -1, IP_FAMILY_COUNT},
        {" 127.0.0.1", -1, IP_FAMILY_COUNT},
        {"127.0.0.1 ", -1, IP_FAMILY_COUNT},
        {"1:2:3:4:5:6:7:8:9", -1, IP_FAMILY_COUNT},
        {"", -1, IP_FAMILY_COUNT},
        /* one past the longest text of an address (45) */
        {"0000:0000:0000:0000:0000:ffff:255.255.255.2550", -1,
         IP_FAMILY_COUNT},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        enum ip_family v = IP_FAMILY_COUNT;
        int rc = config_parse_address(cases[i].s, &v);
        if (rc != cases[i].rc || v != cases[i].v)
            fail_msg("\"%s\": rc %d, family %d", cases[i].s, rc, (int)v);
    }
}

static void test_family_allows(void **state)
{
    (void)state;
    assert_true(config_family_allows(IP_FAMILY_AUTO, IP_FAMILY_IPV4));
    assert_true(config_family_allows(IP_FAMILY_AUTO, IP_FAMILY_IPV6));
    assert_true(config_family_allows(IP_FAMILY_IPV4, IP_FAMILY_IPV4));
    assert_true(config_family_allows(IP_FAMILY_IPV6, IP_FAMILY_IPV6));
    assert_false(config_family_allows(IP_FAMILY_IPV4, IP_FAMILY_IPV6));
    assert_false(config_family_allows(IP_FAMILY_IPV6, IP_FAMILY_IPV4));
}

static void test_default_port(void **state)
{
    (void)state;
    assert_int_equal(config_default_port(TLS_MODE_STARTTLS), 587);
    assert_int_equal(config_default_port(TLS_MODE_IMPLICIT), 465);
    assert_int_equal(config_default_port(TLS_MODE_NONE), 25);
}

static void test_mechs(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n; /* of s */
        int rc;
        enum sasl_mech v;
    } cases[] = {
        {"PLAIN", 5, 0, SASL_MECH_PLAIN},
        {"login", 5, 0, SASL_MECH_LOGIN},
        {"Cram-Md5", 8, 0, SASL_MECH_CRAM_MD5},
        {"XOAUTH2", 7, 0, SASL_MECH_XOAUTH2},
        /* A token of a longer line: only its n bytes count. */
        {"PLAIN LOGIN", 5, 0, SASL_MECH_PLAIN},
        {"CRAM-MD5,PLAIN", 8, 0, SASL_MECH_CRAM_MD5},
        {"PLAIN", 4, -1, SASL_MECH_COUNT},
        {"PLAINX", 6, -1, SASL_MECH_COUNT},
        {"CRAM", 4, -1, SASL_MECH_COUNT},
        {"SCRAM-SHA-256", 13, -1, SASL_MECH_COUNT},
        {"", 0, -1, SASL_MECH_COUNT},
        {"PLAIN\0", 6, -1, SASL_MECH_COUNT},
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 52, -1,
         SASL_MECH_COUNT},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        enum sasl_mech m = SASL_MECH_COUNT;
        int rc = config_parse_mech(cases[i].s, cases[i].n, &m);
        if (rc != cases[i].rc)
            fail_msg("\"%.*s\": rc %d", (int)cases[i].n, cases[i].s, rc);
        assert_int_equal(m, cases[i].v);
    }

    /* The list in messages: today's, and every name sasl has. */
    char names[128];
    assert_string_equal(config_mech_names(names, sizeof(names)),
                        "PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER");
    for (int i = 0; i < SASL_MECH_COUNT; i++)
        assert_non_null(strstr(names, sasl_mech_name((enum sasl_mech)i)));
    /* Too little room: whole names only, never a cut one. */
    assert_string_equal(config_mech_names(names, 13), "PLAIN, LOGIN");
    assert_string_equal(config_mech_names(names, 3), "");
    names[0] = 'x';
    config_mech_names(names, 0);
    assert_int_equal(names[0], 'x');
}

static void test_shard(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        enum config_shard_problem rc;
        unsigned index, count; /* when CONFIG_SHARD_OK */
    } cases[] = {
        {"0/1", CONFIG_SHARD_OK, 0, 1},
        {"0/3", CONFIG_SHARD_OK, 0, 3},
        {"2/3", CONFIG_SHARD_OK, 2, 3},
        {"007/010", CONFIG_SHARD_OK, 7, 10},
        {"65534/65535", CONFIG_SHARD_OK, 65534, 65535},
        {"3/3", CONFIG_SHARD_INDEX, 0, 0},
        {"4/3", CONFIG_SHARD_INDEX, 0, 0},
        {"1/1", CONFIG_SHARD_INDEX, 0, 0},
        {"65535/65535", CONFIG_SHARD_INDEX, 0, 0},
        {"99999999999999999999/3", CONFIG_SHARD_INDEX, 0, 0},
        {"1/0", CONFIG_SHARD_COUNT, 0, 0},
        {"0/0", CONFIG_SHARD_COUNT, 0, 0},
        {"0/65536", CONFIG_SHARD_COUNT, 0, 0},
        {"0/99999999999999999999999", CONFIG_SHARD_COUNT, 0, 0},
        {"x", CONFIG_SHARD_SYNTAX, 0, 0},
        {"", CONFIG_SHARD_SYNTAX, 0, 0},
        {"-1/2", CONFIG_SHARD_SYNTAX, 0, 0},
        {"1/-2", CONFIG_SHARD_SYNTAX, 0, 0},
        {"+1/2", CONFIG_SHARD_SYNTAX, 0, 0},
        {"1", CONFIG_SHARD_SYNTAX, 0, 0},
        {"1/", CONFIG_SHARD_SYNTAX, 0, 0},
        {"/3", CONFIG_SHARD_SYNTAX, 0, 0},
        {"1/3/5", CONFIG_SHARD_SYNTAX, 0, 0},
        {"1 / 3", CONFIG_SHARD_SYNTAX, 0, 0},
        {"1/3 ", CONFIG_SHARD_SYNTAX, 0, 0},
        {" 1/3", CONFIG_SHARD_SYNTAX, 0, 0},
        {"1of3", CONFIG_SHARD_SYNTAX, 0, 0},
        {"1:3", CONFIG_SHARD_SYNTAX, 0, 0},
        {"0x1/3", CONFIG_SHARD_SYNTAX, 0, 0},
        {"1/3x", CONFIG_SHARD_SYNTAX, 0, 0},
        {"1.0/3", CONFIG_SHARD_SYNTAX, 0, 0},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        unsigned index = 4242, count = 4343;
        enum config_shard_problem rc =
            config_parse_shard(cases[i].s, &index, &count);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": problem %d, expected %d", cases[i].s, (int)rc,
                     (int)cases[i].rc);
        if (rc == CONFIG_SHARD_OK) {
            assert_int_equal(index, cases[i].index);
            assert_int_equal(count, cases[i].count);
        } else {
            assert_int_equal(index, 4242);
            assert_int_equal(count, 4343);
        }
    }
}

#define DB CONFIG_EXTRA_BIT(CONFIG_EXTRA_DURATION_BUCKETS)
#define EE CONFIG_EXTRA_BIT(CONFIG_EXTRA_EHLO_EXTENSIONS)
#define LR CONFIG_EXTRA_BIT(CONFIG_EXTRA_LAST_REPLY_CODES)
#define ZS CONFIG_EXTRA_BIT(CONFIG_EXTRA_ZERO_SERIES)

static void test_extra(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        enum config_extra_problem rc;
        unsigned bits;    /* when CONFIG_EXTRA_OK */
        const char *word; /* the word at fault, otherwise */
    } cases[] = {
        {"none", CONFIG_EXTRA_OK, 0, NULL},
        {" none ", CONFIG_EXTRA_OK, 0, NULL},
        {"duration_buckets", CONFIG_EXTRA_OK, DB, NULL},
        {"ehlo_extensions", CONFIG_EXTRA_OK, EE, NULL},
        {"last_reply_codes", CONFIG_EXTRA_OK, LR, NULL},
        {"zero_series", CONFIG_EXTRA_OK, ZS, NULL},
        {"zero_series,duration_buckets", CONFIG_EXTRA_OK, ZS | DB, NULL},
        {"duration_buckets, ehlo_extensions ,\tlast_reply_codes,zero_series",
         CONFIG_EXTRA_OK, DB | EE | LR | ZS, NULL},
        {"zero", CONFIG_EXTRA_UNKNOWN_WORD, 0, "zero"},
        {"Zero_Series", CONFIG_EXTRA_UNKNOWN_WORD, 0, "Zero_Series"},
        {"all", CONFIG_EXTRA_UNKNOWN_WORD, 0, "all"},
        {"zero_series duration_buckets", CONFIG_EXTRA_UNKNOWN_WORD, 0,
         "zero_series duration_buckets"},
        {"zero_series;duration_buckets", CONFIG_EXTRA_UNKNOWN_WORD, 0,
         "zero_series;duration_buckets"},
        {"duration_buckets, buckets", CONFIG_EXTRA_UNKNOWN_WORD, 0, "buckets"},
        {"zero_series,zero_series", CONFIG_EXTRA_TWICE, 0, "zero_series"},
        {"none,none", CONFIG_EXTRA_TWICE, 0, "none"},
        {"", CONFIG_EXTRA_EMPTY_WORD, 0, ""},
        {" ", CONFIG_EXTRA_EMPTY_WORD, 0, ""},
        {",zero_series", CONFIG_EXTRA_EMPTY_WORD, 0, ""},
        {"zero_series,", CONFIG_EXTRA_EMPTY_WORD, 0, ""},
        {"zero_series,,duration_buckets", CONFIG_EXTRA_EMPTY_WORD, 0, ""},
        {"none,zero_series", CONFIG_EXTRA_NONE_MIXED, 0, "zero_series"},
        {"zero_series, none", CONFIG_EXTRA_NONE_MIXED, 0, "none"},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        unsigned bits = 4242;
        const char *w = NULL;
        size_t n = 99;
        enum config_extra_problem rc =
            config_parse_extra(cases[i].s, &bits, &w, &n);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": problem %d, expected %d", cases[i].s, (int)rc,
                     (int)cases[i].rc);
        if (rc == CONFIG_EXTRA_OK) {
            assert_int_equal(bits, cases[i].bits);
            continue;
        }
        assert_int_equal(bits, 4242);
        assert_int_equal(n, strlen(cases[i].word));
        assert_memory_equal(w, cases[i].word, n);
        /* The word is where it stands in the value. */
        assert_true(w >= cases[i].s &&
                    w + n <= cases[i].s + strlen(cases[i].s));
    }

    /* One table: every option's word parses back to its bit alone, and
     * the message's list is the same words in the same order. */
    char names[128];
    assert_string_equal(
        config_extra_names(names, sizeof(names)),
        "duration_buckets, ehlo_extensions, last_reply_codes, zero_series, "
        "cert_details");
    const char *p = names;
    for (int e = 0; e < CONFIG_EXTRA_COUNT; e++) {
        const char *name = config_extra_name((enum config_extra)e);
        unsigned bits = 0;
        const char *w;
        size_t n;
        assert_int_equal(config_parse_extra(name, &bits, &w, &n),
                         CONFIG_EXTRA_OK);
        assert_int_equal(bits, CONFIG_EXTRA_BIT(e));
        p = strstr(p, name);
        assert_non_null(p);
    }
    assert_string_equal(config_extra_name(CONFIG_EXTRA_COUNT), "unknown");
    /* Too little room: whole words only. */
    assert_string_equal(config_extra_names(names, 34),
                        "duration_buckets, ehlo_extensions");
    assert_string_equal(config_extra_names(names, 5), "");
}

static void test_listen(void **state)
{
    (void)state;
    static const struct valid_case cases[] = {
        {"127.0.0.1:9925", true},
        {"[::]:9925", true},
        {":9925", true},
        {"localhost:1", true},
        {"[::1]:65535", true},
        {"metrics.example.com:80", true},
        {"h:00080", true},
        {"", false},
        {":", false},
        {":0", false},
        {":65536", false},
        {"127.0.0.1", false},
        {"a:b:1", false},
        {"::1:80", false},
        {"[::1]", false},
        {"[::1]x1", false},
        {"[]:1", false},
        {"[127.0.0.1]:1", false},
        {"my host:80", false},
        {"host :80", false},
        {"127.0.0.1:80 ", false},
    };
    check_valid("config_valid_listen", config_valid_listen, cases, LEN(cases));
}

static void test_listen_is_loopback(void **state)
{
    (void)state;
    static const struct valid_case cases[] = {
        {"127.0.0.1:9925", true},
        {"127.255.0.1:1", true},
        {"[::1]:9925", true},
        {"localhost:9925", true},
        {"LOCALHOST:9925", true},
        /* Any port: only the address matters. */
        {"127.0.0.1:0", true},
        {":9925", false},
        {"0.0.0.0:9925", false},
        {"[::]:9925", false},
        {"128.0.0.1:9925", false},
        {"[::ffff:127.0.0.1]:9925", false},
        {"localhost.localdomain:9925", false},
        {"metrics.example.com:9925", false},
        /* Not a listen address at all: not a loopback one either. */
        {"", false},
        {"127.0.0.1", false},
        {"[::1]", false},
        {"::1:9925", false},
        {"[127.0.0.1]:9925", false},
    };
    check_valid("config_listen_is_loopback", config_listen_is_loopback, cases,
                LEN(cases));
}

static void test_host(void **state)
{
    (void)state;
    char longest[300], too_long[300];
    memset(longest, 'h', 253);
    longest[253] = '\0';
    memset(too_long, 'h', 254);
    too_long[254] = '\0';
    const struct valid_case cases[] = {
        {"mx1.example.com", true},
        {"localhost", true},
        {"a", true},
        {"under_score.example", true},
        {"xn--bcher-kva.example", true},
        {"192.0.2.1", true},
        {"2001:db8::1", true},
        {"::1", true},
        {longest, true},
        {too_long, false},
        {"", false},
        {"[2001:db8::1]", false},
        {"-mx.example.com", false},
        {".example.com", false},
        {"mx 1.example.com", false},
        {"mx/1", false},
        {"user@mx", false},
        {"mx:25", false},
        {"mx%25", false},
    };
    check_valid("config_valid_host", config_valid_host, cases, LEN(cases));
}

static void test_ehlo_name(void **state)
{
    (void)state;
    static const struct valid_case cases[] = {
        {"probe.example.com", true},
        {"localhost", true},
        {"[192.0.2.1]", true},
        {"[IPv6:2001:db8::1]", true},
        {"[ipv6:::1]", true},
        {"", false},
        {"[]", false},
        {"[192.0.2]", false},
        {"[2001:db8::1]", false},
        {"[IPv6:192.0.2.1]", false},
        {"[IPv6:]", false},
        {"[IPv6]", false},
        {"[192.0.2.1", false},
        {"probe example", false},
        {"probe/x", false},
        {"probe%20", false},
        {"-probe", false},
        {"[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0001]",
         false},
    };
    check_valid("config_valid_ehlo_name", config_valid_ehlo_name, cases,
                LEN(cases));
}

static void test_env_name(void **state)
{
    (void)state;
    static const struct valid_case cases[] = {
        {"SMTP_PASSWORD", true},
        {"_x", true},
        {"a1", true},
        {"A", true},
        {"", false},
        {"1A", false},
        {"A-B", false},
        {"A B", false},
        {"A=B", false},
        {"$A", false},
    };
    check_valid("config_valid_env_name", config_valid_env_name, cases,
                LEN(cases));
}

static void test_target_name(void **state)
{
    (void)state;
    char longest[80], too_long[80];
    memset(longest, 'n', CONFIG_NAME_MAX);
    longest[CONFIG_NAME_MAX] = '\0';
    memset(too_long, 'n', CONFIG_NAME_MAX + 1);
    too_long[CONFIG_NAME_MAX + 1] = '\0';
    const struct valid_case cases[] = {
        {"mx1", true},    {"A-z_0.9:x", true}, {longest, true},
        {"", false},      {too_long, false},   {"mx 1", false},
        {"mx\"1", false}, {"mx/1", false},     {"mx]", false},
    };
    check_valid_n("config_valid_target_name", config_valid_target_name, cases,
                  LEN(cases));
}

static void test_web_user(void **state)
{
    (void)state;
    char longest[80], too_long[80];
    memset(longest, 'u', CONFIG_WEB_USER_MAX);
    longest[CONFIG_WEB_USER_MAX] = '\0';
    memset(too_long, 'u', CONFIG_WEB_USER_MAX + 1);
    too_long[CONFIG_WEB_USER_MAX + 1] = '\0';
    const struct valid_case cases[] = {
        {"prometheus", true},   {"a", true},
        {"user@example", true}, {"~!$%&*", true},
        {longest, true},        {"", false},
        {too_long, false},      {"user:pass", false},
        {"two words", false},   {"tab\tuser", false},
        {"del\x7fuser", false}, {"caf\xc3\xa9", false},
    };
    check_valid_n("config_valid_web_user", config_valid_web_user, cases,
                  LEN(cases));
}

/* A well-formed hash of cost 10; what htpasswd -nBC 10 writes. */
#define GOOD_HASH                                                             \
    "$2y$10$abcdefghijklmnopqrstuu5Xk4JY0wG8v6lYq6i8Q0Wq1gTxRrbXy"

static void test_bcrypt(void **state)
{
    (void)state;
    assert_int_equal(strlen(GOOD_HASH), CONFIG_BCRYPT_LEN);
    static const struct {
        size_t at; /* change GOOD_HASH here ... */
        char c;    /* ... to this */
        bool ok;
    } cases[] = {
        {0, '$', true},   {2, 'a', true},   {2, 'b', true},   {4, '0', false},
        {5, '4', true},   {4, '3', true},   {5, '1', true},   {59, '.', true},
        {59, '/', true},  {0, '#', false},  {1, '1', false},  {2, 'x', false},
        {3, '-', false},  {4, 'a', false},  {5, '3', true},   {6, '.', false},
        {30, '+', false}, {59, '=', false}, {59, '$', false},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        char h[CONFIG_BCRYPT_LEN + 1];
        memcpy(h, GOOD_HASH, sizeof(h));
        h[cases[i].at] = cases[i].c;
        if (config_valid_bcrypt(h, CONFIG_BCRYPT_LEN) != cases[i].ok)
            fail_msg("\"%s\": expected %s", h,
                     cases[i].ok ? "accepted" : "refused");
    }
    /* Cost 04 to 31 only. */
    static const struct valid_case costs[] = {
        {"03", false}, {"04", true},  {"31", true},
        {"32", false}, {"99", false},
    };
    for (size_t i = 0; i < LEN(costs); i++) {
        char h[CONFIG_BCRYPT_LEN + 1];
        memcpy(h, GOOD_HASH, sizeof(h));
        memcpy(h + 4, costs[i].s, 2);
        assert_int_equal(config_valid_bcrypt(h, CONFIG_BCRYPT_LEN),
                         costs[i].ok);
    }
    /* Exactly 60 characters; a NUL inside is not one of them. */
    assert_false(config_valid_bcrypt(GOOD_HASH, CONFIG_BCRYPT_LEN - 1));
    assert_false(config_valid_bcrypt(GOOD_HASH "x", CONFIG_BCRYPT_LEN + 1));
    assert_false(config_valid_bcrypt("", 0));
    assert_false(config_valid_bcrypt("$2y$10$", 7));
    char h[CONFIG_BCRYPT_LEN + 1];
    memcpy(h, GOOD_HASH, sizeof(h));
    h[40] = '\0';
    assert_false(config_valid_bcrypt(h, CONFIG_BCRYPT_LEN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_uint),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_parse_tls),
        cmocka_unit_test(test_parse_ip_family),
        cmocka_unit_test(test_parse_address),
        cmocka_unit_test(test_family_allows),
        cmocka_unit_test(test_default_port),
        cmocka_unit_test(test_mechs),
        cmocka_unit_test(test_extra),
        cmocka_unit_test(test_shard),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_listen_is_loopback),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_ehlo_name),
        cmocka_unit_test(test_env_name),
        cmocka_unit_test(test_target_name),
        cmocka_unit_test(test_web_user),
        cmocka_unit_test(test_bcrypt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
