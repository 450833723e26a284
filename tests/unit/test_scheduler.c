/* test_sched: the scheduler against an injected clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "scheduler.h"

/* Intervals below 100 ms get no jitter (1 % rounds to 0): the tests that
 * check exact times use them; the others check the jitter bounds. */
#define EXACT_MS 99

static uint64_t jitter_bound(uint64_t interval)
{
    uint64_t b = interval / 100;
    return b > 1000 ? 1000 : b;
}

/* Polls once with room for 16 events. */
static size_t poll16(struct sched *s, uint64_t now, struct sched_event *ev)
{
    size_t n = sched_poll(s, now, ev, 16);
    assert_true(n < 16);
    return n;
}

static void test_spread(void **state)
{
    (void)state;
    static const struct {
        uint64_t now, interval;
        size_t index, count;
        uint64_t want;
    } cases[] = {
        {1000, 60000, 0, 4, 1000},
        {1000, 60000, 1, 4, 16000},
        {1000, 60000, 2, 4, 31000},
        {1000, 60000, 3, 4, 46000},
        {0, 10, 1, 3, 3},
        {0, 10, 2, 3, 6},
        {5, 60000, 0, 0, 5},
        /* interval * index is past 2^64 here. */
        {0, UINT64_MAX / 2, 3, 4, (UINT64_MAX / 2 / 4) * 3 + 2},
        {7, UINT64_MAX, 999999, 1000000,
         7 + (uint64_t)((unsigned __int128)UINT64_MAX * 999999 / 1000000)},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t got = sched_spread(cases[i].now, cases[i].interval,
                                    cases[i].index, cases[i].count);
        if (got != cases[i].want)
            fail_msg("case %zu: got %llu, want %llu", i,
                     (unsigned long long)got,
                     (unsigned long long)cases[i].want);
    }
}

/* Four entries spread over 60 s start in order, each on its own slot. */
static void test_spread_start(void **state)
{
    (void)state;
    struct sched *s = sched_new(0, 0, 42);
    assert_non_null(s);
    for (uint64_t id = 0; id < 4; id++)
        assert_int_equal(sched_add(s, id, "h", 60000,
                                   sched_spread(0, 60000, (size_t)id, 4)),
                         0);
    struct sched_event ev[16];
    uint64_t now = 0;
    for (uint64_t id = 0; id < 4; id++) {
        now += sched_next_ms(s, now);
        assert_true(now >= id * 15000);
        assert_true(now <= id * 15000 + jitter_bound(60000));
        assert_int_equal(poll16(s, now, ev), 1);
        assert_int_equal(ev[0].kind, SCHED_START);
        assert_int_equal(ev[0].id, id);
        assert_int_equal(ev[0].late_ms, 0);
    }
    assert_int_equal(sched_running(s), 4);
    sched_free(s);
}

/*
 * 1000 rounds with probes that start late and run long: every start stays
 * within the jitter bound of first + k * interval.
 */
static void test_no_drift(void **state)
{
    (void)state;
    const uint64_t interval = 60000, first = 12345;
    struct sched *s = sched_new(0, 0, 7);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 9, "mx", interval, first), 0);
    struct sched_event ev[16];
    uint64_t now = 0;
    for (uint64_t k = 0; k < 1000; k++) {
        /* The loop wakes up to 2.9 s late and the probe takes 0.5-30 s. */
        now += sched_next_ms(s, now) + (k * 37) % 2900;
        assert_int_equal(poll16(s, now, ev), 1);
        assert_int_equal(ev[0].kind, SCHED_START);
        uint64_t grid = first + k * interval;
        uint64_t due = now - ev[0].late_ms;
        if (due < grid || due > grid + jitter_bound(interval))
            fail_msg("round %llu: due %llu off the grid point %llu",
                     (unsigned long long)k, (unsigned long long)due,
                     (unsigned long long)grid);
        now += 500 + (k * 7919) % 29500;
        sched_done(s, 9, now);
    }
    sched_free(s);
}

/* Records the due time of each of `rounds` starts of one entry. */
static void due_times(uint64_t seed, uint64_t id, uint64_t interval,
                      uint64_t *out, size_t rounds)
{
    struct sched *s = sched_new(0, 0, seed);
    assert_non_null(s);
    assert_int_equal(sched_add(s, id, "mx", interval, 0), 0);
    struct sched_event ev[16];
    uint64_t now = 0;
    for (size_t k = 0; k < rounds; k++) {
        now += sched_next_ms(s, now);
        assert_int_equal(poll16(s, now, ev), 1);
        assert_int_equal(ev[0].late_ms, 0);
        out[k] = now - k * interval; /* the jitter */
        sched_done(s, id, now + 1);
    }
    sched_free(s);
}

static void test_jitter(void **state)
{
    (void)state;
    static const uint64_t intervals[] = {EXACT_MS, 99,     100,    10000,
                                         60000,    100000, 3600000};
    enum { ROUNDS = 200 };
    for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
        uint64_t a[ROUNDS], b[ROUNDS], c[ROUNDS];
        uint64_t bound = jitter_bound(intervals[i]);
        due_times(1, 5, intervals[i], a, ROUNDS);
        due_times(1, 5, intervals[i], b, ROUNDS);
        due_times(2, 5, intervals[i], c, ROUNDS);
        uint64_t max = 0;
        bool differs = false;
        for (size_t k = 0; k < ROUNDS; k++) {
            if (a[k] > bound)
                fail_msg("interval %llu round %zu: jitter %llu > %llu",
                         (unsigned long long)intervals[i], k,
                         (unsigned long long)a[k], (unsigned long long)bound);
            assert_int_equal(a[k], b[k]); /* same seed, same jitter */
            if (a[k] > max)
                max = a[k];
            if (a[k] != c[k])
                differs = true;
        }
        if (bound >= 100) {
            /* It is really there, spread, and follows the seed. */
            assert_true(max > bound / 2);
            assert_true(differs);
        } else if (bound == 0) {
            assert_int_equal(max, 0);
        }
    }

    /* Ids draw their own jitter. */
    uint64_t x[ROUNDS], y[ROUNDS];
    due_times(1, 5, 60000, x, ROUNDS);
    due_times(1, 6, 60000, y, ROUNDS);
    assert_memory_not_equal(x, y, sizeof(x));
}

/* max_concurrent = 1: the second entry waits and its lateness counts. */
static void test_max_concurrent(void **state)
{
    (void)state;
    struct sched *s = sched_new(1, 0, 1);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 1, "a", EXACT_MS, 100), 0);
    assert_int_equal(sched_add(s, 2, "b", EXACT_MS, 110), 0);
    struct sched_event ev[16];
    assert_int_equal(sched_next_ms(s, 0), 100);
    assert_int_equal(poll16(s, 120, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].id, 1);
    assert_int_equal(ev[0].late_ms, 20);
    assert_int_equal(sched_running(s), 1);
    assert_int_equal(poll16(s, 150, ev), 0);
    sched_done(s, 1, 185);
    assert_int_equal(sched_running(s), 0);
    assert_int_equal(poll16(s, 185, ev), 1);
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(ev[0].late_ms, 75);
    /* Entry 1 is back on its grid: 100 + 99. */
    assert_int_equal(sched_next_ms(s, 185), 14);
    sched_free(s);
}

/* With several due at once, the longest-waiting starts first. */
static void test_longest_waiting_first(void **state)
{
    (void)state;
    struct sched *s = sched_new(1, 0, 1);
    assert_non_null(s);
    static const uint64_t first[] = {40, 10, 30, 20};
    for (uint64_t id = 0; id < 4; id++)
        assert_int_equal(sched_add(s, id, "h", EXACT_MS, first[id]), 0);
    struct sched_event ev[16];
    static const uint64_t order[] = {1, 3, 2, 0};
    uint64_t now = 45;
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(poll16(s, now, ev), 1);
        assert_int_equal(ev[0].id, order[i]);
        assert_int_equal(ev[0].late_ms, now - first[order[i]]);
        now += 3;
        sched_done(s, order[i], now);
    }
    sched_free(s);
}

/* max_per_host = 1: host names match case-insensitively. */
static void test_max_per_host(void **state)
{
    (void)state;
    struct sched *s = sched_new(0, 1, 1);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 1, "MX.Example.com", EXACT_MS, 0), 0);
    assert_int_equal(sched_add(s, 2, "mx.example.COM", EXACT_MS, 0), 0);
    assert_int_equal(sched_add(s, 3, "other.example.com", EXACT_MS, 0), 0);
    struct sched_event ev[16];
    assert_int_equal(poll16(s, 0, ev), 2);
    assert_int_equal(ev[0].id, 1);
    assert_int_equal(ev[1].id, 3);
    /* Entry 2 is due but blocked: nothing to do until a sched_done or
     * until its next round would pass. */
    assert_int_equal(sched_next_ms(s, 10), EXACT_MS - 10);
    sched_done(s, 1, 10);
    assert_int_equal(sched_next_ms(s, 10), 0);
    assert_int_equal(poll16(s, 10, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(ev[0].late_ms, 10);

    /* Raising the limit lets two run on one host. */
    sched_set_limits(s, 0, 2);
    sched_done(s, 3, 20);
    assert_int_equal(poll16(s, EXACT_MS, ev), 3);
    assert_int_equal(ev[0].kind, SCHED_SKIP); /* 2 ran over round 1 */
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(ev[1].kind, SCHED_START);
    assert_int_equal(ev[1].id, 1);
    assert_int_equal(ev[2].kind, SCHED_START);
    assert_int_equal(ev[2].id, 3);
    assert_int_equal(sched_running(s), 3);
    sched_free(s);
}

/* A run past its next due times: one SKIP per missed round, then back on
 * the grid. */
static void test_skip_while_running(void **state)
{
    (void)state;
    const uint64_t iv = 10000, j = jitter_bound(iv);
    struct sched *s = sched_new(0, 0, 3);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 4, "mx", iv, 0), 0);
    struct sched_event ev[16];
    assert_int_equal(poll16(s, j, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    /* Polls at each round past its jitter: one SKIP each time. */
    for (uint64_t k = 1; k <= 3; k++) {
        assert_int_equal(poll16(s, k * iv + j, ev), 1);
        assert_int_equal(ev[0].kind, SCHED_SKIP);
        assert_int_equal(ev[0].id, 4);
        assert_int_equal(ev[0].rounds, 1);
        assert_int_equal(poll16(s, k * iv + j + 1, ev), 0);
    }
    sched_done(s, 4, 3 * iv + 5000);
    /* Not at once, even though it started late: at round 4. */
    assert_int_equal(poll16(s, 3 * iv + 5000, ev), 0);
    uint64_t wait = sched_next_ms(s, 3 * iv + 5000);
    assert_true(wait >= iv - 5000 && wait <= iv - 5000 + j);
    assert_int_equal(poll16(s, 4 * iv + j, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_true(ev[0].late_ms <= j);
    sched_free(s);
}

/* Rounds that pass while it runs count even when nobody polled. */
static void test_skip_reported_by_done(void **state)
{
    (void)state;
    struct sched *s = sched_new(0, 0, 3);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 4, "mx", EXACT_MS, 0), 0);
    struct sched_event ev[16];
    assert_int_equal(poll16(s, 0, ev), 1);
    sched_done(s, 4, 2 * EXACT_MS + 10); /* rounds 1 and 2 passed */
    assert_int_equal(sched_next_ms(s, 2 * EXACT_MS + 10), 0);
    assert_int_equal(poll16(s, 2 * EXACT_MS + 10, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_SKIP);
    assert_int_equal(ev[0].rounds, 2);
    assert_int_equal(sched_next_ms(s, 2 * EXACT_MS + 10), EXACT_MS - 10);
    assert_int_equal(poll16(s, 3 * EXACT_MS, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].late_ms, 0);
    sched_free(s);
}

/* After a stall one event per entry stands for every missed round. */
static void test_skip_after_stall(void **state)
{
    (void)state;
    struct sched *s = sched_new(0, 0, 3);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 1, "a", EXACT_MS, 0), 0);
    assert_int_equal(sched_add(s, 2, "b", EXACT_MS, 0), 0);
    struct sched_event ev[16];
    assert_int_equal(poll16(s, 0, ev), 2); /* both run */
    sched_done(s, 2, 5);
    /* 1000 intervals later: 1 ran through rounds 1..1000; 2 waited
     * through rounds 1..999 and starts for round 1000. */
    assert_int_equal(poll16(s, 1000 * EXACT_MS + 7, ev), 3);
    assert_int_equal(ev[0].kind, SCHED_SKIP);
    assert_int_equal(ev[0].id, 1);
    assert_int_equal(ev[0].rounds, 1000);
    assert_int_equal(ev[1].kind, SCHED_SKIP);
    assert_int_equal(ev[1].id, 2);
    assert_int_equal(ev[1].rounds, 999);
    assert_int_equal(ev[2].kind, SCHED_START);
    assert_int_equal(ev[2].id, 2);
    assert_int_equal(ev[2].late_ms, 7);
    sched_free(s);
}

/* An entry waiting for a slot is skipped when its next round comes. */
static void test_skip_while_waiting(void **state)
{
    (void)state;
    struct sched *s = sched_new(1, 0, 3);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 1, "a", 10 * EXACT_MS, 0), 0);
    assert_int_equal(sched_add(s, 2, "b", EXACT_MS, 5), 0);
    struct sched_event ev[16];
    assert_int_equal(poll16(s, 5, ev), 1);
    assert_int_equal(ev[0].id, 1);
    /* 2 is blocked: wake when its next round passes. */
    assert_int_equal(sched_next_ms(s, 5), EXACT_MS);
    assert_int_equal(poll16(s, EXACT_MS + 5, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_SKIP);
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(ev[0].rounds, 1);
    sched_done(s, 1, EXACT_MS + 20);
    assert_int_equal(poll16(s, EXACT_MS + 20, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(ev[0].late_ms, 15); /* late for round 1 */
    sched_free(s);
}

/* A small cap: events come over several calls, none lost or repeated. */
static void test_poll_cap(void **state)
{
    (void)state;
    struct sched *s = sched_new(0, 0, 3);
    assert_non_null(s);
    for (uint64_t id = 0; id < 5; id++)
        assert_int_equal(sched_add(s, id, "h", EXACT_MS, id), 0);
    struct sched_event ev[2];
    uint64_t seen = 0;
    size_t calls = 0, n;
    do {
        n = sched_poll(s, 10, ev, 2);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(ev[i].kind, SCHED_START);
            assert_int_equal(ev[i].late_ms, 10 - ev[i].id);
            assert_false(seen & (1u << ev[i].id));
            seen |= 1u << ev[i].id;
        }
        calls++;
    } while (n == 2);
    assert_int_equal(seen, 0x1f);
    assert_int_equal(calls, 3);
    assert_int_equal(sched_poll(s, 10, ev, 0), 0);
    sched_free(s);
}

static void test_remove(void **state)
{
    (void)state;
    struct sched *s = sched_new(1, 0, 3);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 1, "a", EXACT_MS, 0), 0);
    assert_int_equal(sched_add(s, 2, "b", EXACT_MS, 0), 0);
    struct sched_event ev[16];
    assert_int_equal(poll16(s, 0, ev), 1);
    assert_int_equal(ev[0].id, 1);
    sched_remove(s, 1);
    assert_false(sched_has(s, 1));
    assert_true(sched_has(s, 2));
    assert_int_equal(sched_running(s), 0);
    /* Its slot is free at once; its late done changes nothing. */
    assert_int_equal(poll16(s, 1, ev), 1);
    assert_int_equal(ev[0].id, 2);
    sched_done(s, 1, 2);
    assert_int_equal(sched_running(s), 1);
    sched_remove(s, 99); /* unknown: nothing happens */
    sched_remove(s, 2);
    assert_int_equal(sched_running(s), 0);
    assert_int_equal(sched_next_ms(s, 0), UINT64_MAX);
    assert_int_equal(poll16(s, 1000, ev), 0);
    sched_free(s);
}

static void test_update(void **state)
{
    (void)state;
    struct sched *s = sched_new(0, 1, 3);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 1, "a", 40, 0), 0);
    assert_int_equal(sched_add(s, 2, "b", 40, 0), 0);
    struct sched_event ev[16];
    assert_int_equal(poll16(s, 0, ev), 2);
    sched_done(s, 1, 10);
    /* Round 1 of entry 1 stays at 40; later rounds are 80 apart. */
    assert_int_equal(sched_update(s, 1, "a", 80), 0);
    assert_int_equal(sched_next_ms(s, 10), 30);
    /* Entry 1 moves to entry 2's host, which is busy. */
    assert_int_equal(sched_update(s, 1, "B", 80), 0);
    assert_int_equal(poll16(s, 40, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_SKIP); /* 2 ran over round 1 */
    assert_int_equal(ev[0].id, 2);
    sched_done(s, 2, 40);
    assert_int_equal(poll16(s, 40, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].id, 1);
    sched_done(s, 1, 41);
    /* Entry 2 at 80; entry 1 at 40 + 80. */
    assert_int_equal(sched_next_ms(s, 41), 39);
    assert_int_equal(poll16(s, 80, ev), 1);
    assert_int_equal(ev[0].id, 2);
    sched_done(s, 2, 100);
    assert_int_equal(sched_next_ms(s, 100), 20);
    /* Both due at 120 on host b: the one added first wins the slot. */
    assert_int_equal(poll16(s, 120, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].id, 1);
    /* A running entry that changes host takes its slot along. */
    assert_int_equal(sched_update(s, 1, "c", 80), 0);
    assert_int_equal(poll16(s, 120, ev), 1);
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(sched_running(s), 2);
    assert_int_equal(sched_update(s, 1, "b", 80), 0);
    assert_int_equal(poll16(s, 121, ev), 0);
    assert_int_equal(sched_update(s, 7, "c", 40), -1);
    assert_int_equal(sched_update(s, 1, "c", 0), -1);
    assert_int_equal(sched_update(s, 1, NULL, 40), -1);
    sched_free(s);
}

static void test_add_errors(void **state)
{
    (void)state;
    struct sched *s = sched_new(4, 2, 3);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 1, "a", 1000, 0), 0);
    assert_int_equal(sched_add(s, 1, "b", 1000, 0), -1);
    assert_int_equal(sched_add(s, 2, "a", 0, 0), -1);
    assert_int_equal(sched_add(s, 3, NULL, 1000, 0), -1);
    assert_false(sched_has(s, 2));
    assert_false(sched_has(s, 3));
    /* Many entries: the arrays grow. */
    for (uint64_t id = 100; id < 400; id++)
        assert_int_equal(sched_add(s, id, id % 2 ? "x" : "X", 1000, 0), 0);
    assert_true(sched_has(s, 399));
    sched_free(s);
    sched_free(NULL);
}

/* sched_next_ms in the states that matter. */
static void test_next_ms(void **state)
{
    (void)state;
    struct sched *s = sched_new(1, 0, 3);
    assert_non_null(s);
    struct sched_event ev[16];
    assert_int_equal(sched_next_ms(s, 0), UINT64_MAX); /* no entries */
    assert_int_equal(sched_add(s, 1, "a", EXACT_MS, 100), 0);
    assert_int_equal(sched_add(s, 2, "b", EXACT_MS, 130), 0);
    static const struct {
        uint64_t now, want;
    } before[] = {{0, 100}, {99, 1}, {100, 0}, {120, 0}, {5000, 0}};
    for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++)
        assert_int_equal(sched_next_ms(s, before[i].now), before[i].want);
    assert_int_equal(poll16(s, 110, ev), 1);
    /* 1 runs: 2 comes next at 130. */
    assert_int_equal(sched_next_ms(s, 110), 20);
    /* 2 is due but the one slot is taken: wake when 1's next round
     * (199) would be skipped, before 2's (229). */
    assert_int_equal(sched_next_ms(s, 140), 59);
    sched_done(s, 1, 150);
    assert_int_equal(sched_next_ms(s, 150), 0);
    assert_int_equal(poll16(s, 150, ev), 1);
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(sched_next_ms(s, 150), 49); /* 1 at 199 */
    /* Past a round not yet polled: 0, so that the SKIP gets written. */
    assert_int_equal(sched_next_ms(s, 300), 0);
    sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_spread_start),
        cmocka_unit_test(test_no_drift),
        cmocka_unit_test(test_jitter),
        cmocka_unit_test(test_max_concurrent),
        cmocka_unit_test(test_longest_waiting_first),
        cmocka_unit_test(test_max_per_host),
        cmocka_unit_test(test_skip_while_running),
        cmocka_unit_test(test_skip_reported_by_done),
        cmocka_unit_test(test_skip_after_stall),
        cmocka_unit_test(test_skip_while_waiting),
        cmocka_unit_test(test_poll_cap),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_add_errors),
        cmocka_unit_test(test_next_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
