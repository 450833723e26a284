/* test_shard: Prometheus' hashmod of a target's address, against values
 * that promtool 2.42 printed for the same addresses
 * (`promtool check service-discovery` on a file_sd job with hashmod
 * relabel rules of modulus 2^64-1, 3, 7 and 1000). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "shard.h"

struct vector {
    const char *host;
    unsigned port;
    const char *address; /* __address__ */
    uint64_t full;       /* hashmod 18446744073709551615 */
    unsigned m3, m7, m1000;
};

static const struct vector vectors[] = {
    {"host-0.example", 25, "host-0.example:25", 2888494940270284779u, 0, 0,
     779},
    {"host-1.example", 25, "host-1.example:25", 8368711998986860340u, 2, 1,
     340},
    {"::1", 25, "[::1]:25", 17187135817149143211u, 0, 2, 211},
    {"2001:db8::1", 587, "[2001:db8::1]:587", 1235549876424287789u, 2, 1, 789},
    {"mx1.example.com", 587, "mx1.example.com:587", 1220900958065400327u, 0, 2,
     327},
    {"127.0.0.1", 2525, "127.0.0.1:2525", 12465379271261259339u, 0, 3, 339},
    /* The host as written: no lower-casing, as Prometheus. */
    {"MX1.Example.COM", 465, "MX1.Example.COM:465", 9007562339505073925u, 2, 0,
     925},
};

static void test_promtool_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof *vectors; i++) {
        const struct vector *v = &vectors[i];
        char addr[SHARD_ADDRESS_MAX + 1];
        int len = shard_address(addr, sizeof addr, v->host, v->port);
        assert_int_equal(len, (int)strlen(v->address));
        assert_string_equal(addr, v->address);

        uint64_t got = 0;
        assert_int_equal(shard_hashmod(addr, (size_t)len, UINT64_MAX, &got),
                         0);
        if (got != v->full)
            fail_msg("%s: %llu, want %llu", v->address,
                     (unsigned long long)got, (unsigned long long)v->full);
        static const unsigned mods[] = {3, 7, 1000, 1};
        const unsigned want[] = {v->m3, v->m7, v->m1000, 0};
        for (size_t k = 0; k < sizeof mods / sizeof *mods; k++) {
            assert_int_equal(shard_hashmod(addr, (size_t)len, mods[k], &got),
                             0);
            if (got != want[k])
                fail_msg("%s mod %u: %llu, want %u", v->address, mods[k],
                         (unsigned long long)got, want[k]);
            unsigned s = 99;
            assert_int_equal(shard_of(v->host, v->port, mods[k], &s), 0);
            assert_int_equal(s, want[k]);
        }
    }
}

/* The digest's last 8 bytes, not its first: RFC 1321's own vectors,
 * MD5("") = d41d8cd98f00b204 e9800998ecf8427e and MD5("abc") =
 * 900150983cd24fb0 d6963f7d28e17f72. */
static void test_last_eight_bytes(void **state)
{
    (void)state;
    uint64_t got = 0;
    assert_int_equal(shard_hashmod("", 0, UINT64_MAX, &got), 0);
    assert_true(got == 0xe9800998ecf8427eu);
    assert_int_equal(shard_hashmod("abc", 3, UINT64_MAX, &got), 0);
    assert_true(got == 0xd6963f7d28e17f72u);
    /* A modulus that keeps the top bit: the value is unsigned. */
    assert_int_equal(shard_hashmod("", 0, 0x8000000000000000u, &got), 0);
    assert_true(got == 0x69800998ecf8427eu);
}

static void test_refusals(void **state)
{
    (void)state;
    uint64_t got = 42;
    assert_int_equal(shard_hashmod("abc", 3, 0, &got), -1);
    assert_true(got == 42);
    unsigned s = 7;
    assert_int_equal(shard_of("mx1.example.com", 25, 0, &s), -1);
    assert_int_equal(s, 7);

    /* An address that does not fit is refused whole, never cut. */
    char fits[9], small[8];
    assert_int_equal(shard_address(fits, sizeof fits, "::1", 25), 8);
    assert_string_equal(fits, "[::1]:25");
    memset(small, 'x', sizeof small);
    assert_int_equal(shard_address(small, sizeof small, "::1", 25), -1);
    assert_string_equal(small, "");
    assert_int_equal(shard_address(small, 0, "a", 1), -1);

    /* The longest host a config allows still has its address. */
    char host[256];
    memset(host, 'a', 255);
    host[255] = '\0';
    char addr[SHARD_ADDRESS_MAX + 1];
    assert_int_equal(shard_address(addr, sizeof addr, host, 65535), 255 + 6);
    assert_int_equal(shard_of(host, 65535, 3, &s), 0);
    assert_true(s < 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promtool_vectors),
        cmocka_unit_test(test_last_eight_bytes),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
