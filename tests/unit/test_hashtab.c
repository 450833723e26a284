/* test_hashtab: lookups, collisions, tombstones and growth of the hash. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"

/* The caller's keys: value i is keys[i]. */
static bool u64_eq(const void *ctx, size_t value, const void *key)
{
    const uint64_t *keys = ctx;
    return keys[value] == *(const uint64_t *)key;
}

static bool name_eq(const void *ctx, size_t value, const void *key)
{
    const char *const *names = ctx;
    return strcmp(names[value], key) == 0;
}

static size_t find_u64(const struct hashtab *t, const uint64_t *keys,
                       uint64_t k)
{
    return hashtab_find(t, hashtab_hash_u64(k), &k, u64_eq, keys);
}

static void test_insert_find_remove(void **state)
{
    (void)state;
    static const uint64_t keys[] = {7, 0, 1ULL << 40, UINT64_MAX, 42};
    enum { N = sizeof keys / sizeof keys[0] };
    struct hashtab t;
    hashtab_init(&t);
    assert_int_equal(find_u64(&t, keys, 7), HASHTAB_NONE);
    assert_false(
        hashtab_remove(&t, hashtab_hash_u64(7), &keys[0], u64_eq, keys));
    for (size_t i = 0; i < N; i++)
        assert_int_equal(hashtab_insert(&t, hashtab_hash_u64(keys[i]), i), 0);
    assert_int_equal(t.used, N);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(find_u64(&t, keys, keys[i]), i);
    assert_int_equal(find_u64(&t, keys, 8), HASHTAB_NONE);
    uint64_t k = 1ULL << 40;
    assert_true(hashtab_remove(&t, hashtab_hash_u64(k), &k, u64_eq, keys));
    assert_false(hashtab_remove(&t, hashtab_hash_u64(k), &k, u64_eq, keys));
    assert_int_equal(find_u64(&t, keys, k), HASHTAB_NONE);
    assert_int_equal(find_u64(&t, keys, UINT64_MAX), 3);
    assert_int_equal(t.used, N - 1);
    assert_int_equal(t.tombs, 1);
    /* The values that mark empty and removed slots are not the
     * caller's. */
    assert_int_equal(hashtab_insert(&t, 1, HASHTAB_TOMB), -1);
    assert_int_equal(hashtab_insert(&t, 1, HASHTAB_EMPTY), -1);
    hashtab_free(&t);
    assert_int_equal(find_u64(&t, keys, 7), HASHTAB_NONE);
    hashtab_free(&t);
}

/*
 * Every key under one hash: a single chain. A tombstone in the middle of
 * it keeps the keys after it reachable, an insert reuses it, and eq
 * alone tells the keys apart.
 */
static void test_collisions_and_tombstones(void **state)
{
    (void)state;
    static const uint64_t keys[] = {10, 11, 12, 13, 14, 15};
    enum { N = sizeof keys / sizeof keys[0], H = 3 };
    struct hashtab t;
    hashtab_init(&t);
    for (size_t i = 0; i < N - 1; i++)
        assert_int_equal(hashtab_insert(&t, H, i), 0);
    for (size_t i = 0; i < N - 1; i++)
        assert_int_equal(hashtab_find(&t, H, &keys[i], u64_eq, keys), i);
    assert_int_equal(hashtab_find(&t, H, &keys[N - 1], u64_eq, keys),
                     HASHTAB_NONE);
    /* Out of the middle of the chain. */
    assert_true(hashtab_remove(&t, H, &keys[1], u64_eq, keys));
    assert_true(hashtab_remove(&t, H, &keys[2], u64_eq, keys));
    assert_int_equal(t.tombs, 2);
    assert_int_equal(hashtab_find(&t, H, &keys[1], u64_eq, keys),
                     HASHTAB_NONE);
    for (size_t i = 3; i < N - 1; i++)
        assert_int_equal(hashtab_find(&t, H, &keys[i], u64_eq, keys), i);
    /* The first tombstone on the chain is reused. */
    assert_int_equal(hashtab_insert(&t, H, N - 1), 0);
    assert_int_equal(t.tombs, 1);
    assert_int_equal(hashtab_find(&t, H, &keys[N - 1], u64_eq, keys), N - 1);
    size_t at = H & (t.cap - 1);
    assert_int_equal(t.slots[at + 1].value, N - 1);
    for (size_t i = 3; i < N; i++)
        assert_int_equal(hashtab_find(&t, H, &keys[i], u64_eq, keys), i);
    /* The chain wraps around the end of the slots. */
    struct hashtab w;
    hashtab_init(&w);
    assert_int_equal(hashtab_reserve(&w, 4), 0);
    uint64_t last = w.cap - 1;
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(hashtab_insert(&w, last, i), 0);
    assert_int_equal(w.slots[0].value, 1);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(hashtab_find(&w, last, &keys[i], u64_eq, keys), i);
    assert_true(hashtab_remove(&w, last, &keys[0], u64_eq, keys));
    assert_int_equal(hashtab_find(&w, last, &keys[3], u64_eq, keys), 3);
    hashtab_free(&w);
    hashtab_free(&t);
}

/* Adding and removing for ever neither grows the table nor fills it with
 * tombstones: a rehash drops them. */
static void test_churn_stays_small(void **state)
{
    (void)state;
    enum { LIVE = 100, ROUNDS = 20000 };
    uint64_t *keys = calloc(LIVE + ROUNDS, sizeof(*keys));
    assert_non_null(keys);
    struct hashtab t;
    hashtab_init(&t);
    for (size_t i = 0; i < LIVE + ROUNDS; i++)
        keys[i] = i * 7919;
    for (size_t i = 0; i < LIVE; i++)
        assert_int_equal(hashtab_insert(&t, hashtab_hash_u64(keys[i]), i), 0);
    size_t cap = t.cap;
    for (size_t i = LIVE; i < LIVE + ROUNDS; i++) {
        uint64_t gone = keys[i - LIVE];
        assert_true(
            hashtab_remove(&t, hashtab_hash_u64(gone), &gone, u64_eq, keys));
        assert_int_equal(hashtab_insert(&t, hashtab_hash_u64(keys[i]), i), 0);
        assert_true(t.used + t.tombs <= t.cap / 2);
    }
    assert_int_equal(t.cap, cap);
    assert_int_equal(t.used, LIVE);
    for (size_t i = ROUNDS; i < LIVE + ROUNDS; i++)
        assert_int_equal(find_u64(&t, keys, keys[i]), i);
    assert_int_equal(find_u64(&t, keys, keys[0]), HASHTAB_NONE);
    hashtab_free(&t);
    free(keys);
}

/* 100,000 names: each found, and a lookup looks at few slots on
 * average, whatever the number of names. */
static void test_large(void **state)
{
    (void)state;
    enum { N = 100000 };
    char **names = calloc(N, sizeof(*names));
    assert_non_null(names);
    for (size_t i = 0; i < N; i++) {
        names[i] = malloc(16);
        assert_non_null(names[i]);
        snprintf(names[i], 16, "t%zu", i);
    }
    struct hashtab t;
    uint64_t probes = 0;
    hashtab_init(&t);
    assert_int_equal(hashtab_reserve(&t, N), 0);
    size_t cap = t.cap;
    for (size_t i = 0; i < N; i++)
        assert_int_equal(hashtab_insert(&t, hashtab_hash_str(names[i]), i), 0);
    assert_int_equal(t.cap, cap); /* reserved: no rehash */
    t.probes = &probes;
    for (size_t i = 0; i < N; i++)
        assert_int_equal(hashtab_find(&t, hashtab_hash_str(names[i]), names[i],
                                      name_eq, names),
                         i);
    /* Linear probing at a load of at most 1/2: about 1.5 on average. */
    if (probes > 3 * (uint64_t)N)
        fail_msg("%llu probes for %d lookups", (unsigned long long)probes, N);
    probes = 0;
    for (size_t i = 0; i < N; i += 2)
        assert_true(hashtab_remove(&t, hashtab_hash_str(names[i]), names[i],
                                   name_eq, names));
    for (size_t i = 0; i < N; i++)
        assert_int_equal(hashtab_find(&t, hashtab_hash_str(names[i]), names[i],
                                      name_eq, names),
                         i % 2 ? i : HASHTAB_NONE);
    hashtab_free(&t);
    for (size_t i = 0; i < N; i++)
        free(names[i]);
    free(names);
}

static void test_hashes(void **state)
{
    (void)state;
    assert_int_equal(hashtab_hash_nocase("MX.Example.com"),
                     hashtab_hash_nocase("mx.example.COM"));
    assert_int_equal(hashtab_hash_nocase("mx1"), hashtab_hash_str("mx1"));
    assert_int_not_equal(hashtab_hash_str("MX"), hashtab_hash_str("mx"));
    assert_int_not_equal(hashtab_hash_str("ab"), hashtab_hash_str("ba"));
    assert_int_not_equal(hashtab_hash_str(""), hashtab_hash_str("a"));
    assert_int_not_equal(hashtab_hash_u64(1), hashtab_hash_u64(2));
    /* Only ASCII letters fold. */
    assert_int_not_equal(hashtab_hash_nocase("["), hashtab_hash_nocase("{"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_find_remove),
        cmocka_unit_test(test_collisions_and_tombstones),
        cmocka_unit_test(test_churn_stays_small),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_hashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
