/* test_strpool: copies read back intact across blocks, a long string
 * does not waste the block being filled, and the pool costs about what
 * its strings need. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strpool.h"

static void test_copies(void **state)
{
    (void)state;
    struct strpool sp = {0};
    assert_int_equal(strpool_bytes(&sp), 0);
    const char *e = strpool_dup(&sp, "");
    assert_non_null(e);
    assert_string_equal(e, "");
    const char *a = strpool_dup(&sp, "alpha");
    const char *n = strpool_ndup(&sp, "beta-not-this", 4);
    assert_string_equal(a, "alpha");
    assert_string_equal(n, "beta");
    /* A copy, not the argument. */
    char src[] = "gamma";
    const char *g = strpool_dup(&sp, src);
    src[0] = 'X';
    assert_string_equal(g, "gamma");
    /* One after another in the block being filled. */
    assert_ptr_equal(a + 6, n);
    strpool_free(&sp);
    assert_null(sp.head);
    assert_int_equal(strpool_bytes(&sp), 0);
    strpool_free(&sp); /* twice is fine */
}

static void test_many_across_blocks(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct strpool sp = {0};
    const char **got = calloc(N, sizeof(*got));
    assert_non_null(got);
    size_t need = 0;
    for (size_t i = 0; i < N; i++) {
        char want[64];
        /* Lengths from 1 to 40 bytes. */
        int len = snprintf(want, sizeof(want), "%zu-%.*s", i, (int)(i % 33),
                           "abcdefghijklmnopqrstuvwxyz0123456789");
        got[i] = strpool_dup(&sp, want);
        assert_non_null(got[i]);
        need += (size_t)len + 1;
    }
    for (size_t i = 0; i < N; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%zu-%.*s", i, (int)(i % 33),
                 "abcdefghijklmnopqrstuvwxyz0123456789");
        assert_string_equal(got[i], want);
    }
    /* Blocks of 16 KiB: at most one string's room lost per block, and
     * one block being filled. */
    size_t bytes = strpool_bytes(&sp);
    assert_true(bytes >= need);
    assert_true(bytes <= need + need / 100 + 16384 + 64);
    free(got);
    strpool_free(&sp);
}

static void test_wipe(void **state)
{
    (void)state;
    struct strpool sp = {0};
    const char *a = strpool_dup(&sp, "secret-one");
    char big[6000];
    memset(big, 's', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    const char *l = strpool_dup(&sp, big); /* a block of its own */
    strpool_wipe(&sp);
    /* Every byte of both blocks that held a string is zero. */
    for (size_t i = 0; i < sizeof("secret-one"); i++)
        assert_int_equal(a[i], 0);
    for (size_t i = 0; i < sizeof(big); i++)
        assert_int_equal(l[i], 0);
    strpool_free(&sp);
}

static void test_long_string(void **state)
{
    (void)state;
    struct strpool sp = {0};
    size_t big = 100000;
    char *s = malloc(big + 1);
    assert_non_null(s);
    memset(s, 'x', big);
    s[big] = '\0';
    const char *a = strpool_dup(&sp, "before");
    const char *l = strpool_dup(&sp, s);
    const char *b = strpool_dup(&sp, "after");
    assert_non_null(l);
    assert_int_equal(strlen(l), big);
    assert_memory_equal(l, s, big);
    /* The short ones still share the first block. */
    assert_ptr_equal(a + 7, b);
    assert_string_equal(b, "after");
    /* The long one cost its own size, not a block's. */
    assert_true(strpool_bytes(&sp) < big + 16384 + 256);
    free(s);
    strpool_free(&sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copies),
        cmocka_unit_test(test_many_across_blocks),
        cmocka_unit_test(test_long_string),
        cmocka_unit_test(test_wipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
