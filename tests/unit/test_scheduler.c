/* test_sched: the scheduler against an injected clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
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
    assert_int_equal(poll16(s, EXACT_MS, ev), 2);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].id, 1);
    assert_int_equal(ev[1].kind, SCHED_START);
    assert_int_equal(ev[1].id, 3);
    assert_int_equal(sched_running(s), 3);
    /* 2 ran over round 1 past the tolerance (99 / 4). */
    assert_int_equal(poll16(s, EXACT_MS + EXACT_MS / 4, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_SKIP);
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(ev[0].reason, SCHED_SKIP_RUNNING);
    sched_free(s);
}

/* A run past its next due times: one SKIP per missed round, then back on
 * the grid. */
static void test_skip_while_running(void **state)
{
    (void)state;
    const uint64_t iv = 10000, j = jitter_bound(iv), tol = 2000;
    struct sched *s = sched_new(0, 0, 3);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 4, "mx", iv, 0), 0);
    struct sched_event ev[16];
    assert_int_equal(poll16(s, j, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    /* Polls at each round past its jitter: nothing while the probe may
     * still end in time to start it late; past the tolerance one SKIP. */
    for (uint64_t k = 1; k <= 3; k++) {
        assert_int_equal(poll16(s, k * iv + j, ev), 0);
        assert_int_equal(poll16(s, k * iv + j + tol, ev), 1);
        assert_int_equal(ev[0].kind, SCHED_SKIP);
        assert_int_equal(ev[0].id, 4);
        assert_int_equal(ev[0].rounds, 1);
        assert_int_equal(ev[0].reason, SCHED_SKIP_RUNNING);
        assert_int_equal(poll16(s, k * iv + j + tol + 1, ev), 0);
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
    /* Rounds 1 and 2 passed, round 2 more than the tolerance (99 / 4)
     * ago. */
    sched_done(s, 4, 2 * EXACT_MS + 30);
    assert_int_equal(sched_next_ms(s, 2 * EXACT_MS + 30), 0);
    assert_int_equal(poll16(s, 2 * EXACT_MS + 30, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_SKIP);
    assert_int_equal(ev[0].rounds, 2);
    assert_int_equal(ev[0].reason, SCHED_SKIP_RUNNING);
    assert_int_equal(sched_next_ms(s, 2 * EXACT_MS + 30), EXACT_MS - 30);
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
    /* 1000 intervals and 30 ms later (past the tolerance of 99 / 4): 1
     * ran through rounds 1..1000; 2 waited through rounds 1..999,
     * unseen by any poll, and starts for round 1000. */
    assert_int_equal(poll16(s, 1000 * EXACT_MS + 30, ev), 3);
    assert_int_equal(ev[0].kind, SCHED_SKIP);
    assert_int_equal(ev[0].id, 1);
    assert_int_equal(ev[0].rounds, 1000);
    assert_int_equal(ev[0].reason, SCHED_SKIP_RUNNING);
    assert_int_equal(ev[1].kind, SCHED_SKIP);
    assert_int_equal(ev[1].id, 2);
    assert_int_equal(ev[1].rounds, 999);
    assert_int_equal(ev[1].reason, SCHED_SKIP_STALLED);
    assert_int_equal(ev[2].kind, SCHED_START);
    assert_int_equal(ev[2].id, 2);
    assert_int_equal(ev[2].late_ms, 30);
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
    assert_int_equal(ev[0].reason, SCHED_SKIP_GLOBAL_LIMIT);
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

/*
 * One entry, two reasons in one poll: a round skipped while it ran
 * (reported by done) and one no poll saw after it. With room for one
 * event a call, each comes once, then the start.
 */
static void test_two_reasons_one_entry(void **state)
{
    (void)state;
    struct sched *s = sched_new(0, 0, 3);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 1, "h", EXACT_MS, 0), 0);
    struct sched_event ev[1];
    assert_int_equal(sched_poll(s, 0, ev, 1), 1);
    sched_done(s, 1, EXACT_MS + 30); /* round 1 missed; round 2 at 198 */
    /* Nobody polls until 300: round 2 passed unseen, round 3 is due. */
    assert_int_equal(sched_poll(s, 300, ev, 1), 1);
    assert_int_equal(ev[0].kind, SCHED_SKIP);
    assert_int_equal(ev[0].rounds, 1);
    assert_int_equal(ev[0].reason, SCHED_SKIP_RUNNING);
    assert_int_equal(sched_poll(s, 300, ev, 1), 1);
    assert_int_equal(ev[0].kind, SCHED_SKIP);
    assert_int_equal(ev[0].rounds, 1);
    assert_int_equal(ev[0].reason, SCHED_SKIP_STALLED);
    assert_int_equal(sched_poll(s, 300, ev, 1), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].late_ms, 300 - 3 * EXACT_MS);
    assert_int_equal(sched_poll(s, 300, ev, 1), 0);
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
    assert_int_equal(sched_update(s, 1, "a", 80, 10), 0);
    assert_int_equal(sched_next_ms(s, 10), 30);
    /* Entry 1 moves to entry 2's host, which is busy. */
    assert_int_equal(sched_update(s, 1, "B", 80, 10), 0);
    assert_int_equal(poll16(s, 40, ev), 0); /* 2 may still end in time */
    /* 2 ran over round 1 past the tolerance (40 / 4). */
    assert_int_equal(poll16(s, 50, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_SKIP);
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(ev[0].reason, SCHED_SKIP_RUNNING);
    sched_done(s, 2, 50);
    assert_int_equal(poll16(s, 50, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].id, 1);
    assert_int_equal(ev[0].late_ms, 10);
    sched_done(s, 1, 51);
    /* Entry 2 at 80; entry 1 at 40 + 80. */
    assert_int_equal(sched_next_ms(s, 51), 29);
    assert_int_equal(poll16(s, 80, ev), 1);
    assert_int_equal(ev[0].id, 2);
    sched_done(s, 2, 100);
    assert_int_equal(sched_next_ms(s, 100), 20);
    /* Both due at 120 on host b: the one added first wins the slot. */
    assert_int_equal(poll16(s, 120, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].id, 1);
    /* A running entry that changes host takes its slot along. */
    assert_int_equal(sched_update(s, 1, "c", 80, 120), 0);
    assert_int_equal(poll16(s, 120, ev), 1);
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(sched_running(s), 2);
    assert_int_equal(sched_update(s, 1, "b", 80, 120), 0);
    assert_int_equal(poll16(s, 121, ev), 0);
    assert_int_equal(sched_update(s, 7, "c", 40, 121), -1);
    assert_int_equal(sched_update(s, 1, "c", 0, 121), -1);
    assert_int_equal(sched_update(s, 1, NULL, 40, 121), -1);
    sched_free(s);
}

/*
 * A reload lowers the interval from 1 h to 2 s (issue 9, item 5): the new
 * interval applies at once, not after the round due under the old one,
 * and the entries stay spread over the new interval as they were over
 * the old one.
 */
static void test_update_shorter_interval(void **state)
{
    (void)state;
    enum { N = 8 };
    const uint64_t hour = 3600000, iv = 2000, now = 1000;
    struct sched *s = sched_new(0, 0, 5);
    assert_non_null(s);
    for (uint64_t id = 0; id < N; id++)
        assert_int_equal(
            sched_add(s, id, "h", hour, sched_spread(0, hour, (size_t)id, N)),
            0);
    struct sched_event ev[16];
    uint64_t first = sched_next_ms(s, 0); /* entry 0, at its jitter */
    assert_int_equal(poll16(s, first, ev), 1);
    assert_int_equal(ev[0].id, 0);
    sched_done(s, 0, first + 1);
    for (uint64_t id = 0; id < N; id++)
        assert_int_equal(sched_update(s, id, "h", iv, now), 0);

    uint64_t start[N], t = now;
    bool started[N] = {false};
    for (size_t n = 0; n < N;) {
        uint64_t wait = sched_next_ms(s, t);
        if (wait > 10 * iv)
            fail_msg("%zu entries started; the next in %llu ms", n,
                     (unsigned long long)wait);
        t += wait;
        size_t got = poll16(s, t, ev);
        for (size_t i = 0; i < got; i++) {
            assert_int_equal(ev[i].kind, SCHED_START);
            assert_false(started[ev[i].id]);
            started[ev[i].id] = true;
            start[ev[i].id] = t;
            sched_done(s, ev[i].id, t);
            n++;
        }
    }
    /* Each within one new interval (and its jitter) of the reload, in the
     * order they had, a share of the new interval apart. */
    for (uint64_t id = 0; id < N; id++) {
        if (start[id] > now + iv + jitter_bound(iv))
            fail_msg("entry %llu starts at %llu, past %llu",
                     (unsigned long long)id, (unsigned long long)start[id],
                     (unsigned long long)(now + iv + jitter_bound(iv)));
        if (id > 1 &&
            start[id] < start[id - 1] + iv / N - 2 * jitter_bound(iv))
            fail_msg("entry %llu at %llu, entry %llu at %llu: not spread",
                     (unsigned long long)id - 1,
                     (unsigned long long)start[id - 1], (unsigned long long)id,
                     (unsigned long long)start[id]);
    }
    sched_free(s);
}

/*
 * A probe running when the interval drops from 1 h to 1 s: the rounds of
 * the new interval before the reload were never due, so none is skipped;
 * those that pass after it while it still runs are.
 */
static void test_update_while_running(void **state)
{
    (void)state;
    const uint64_t hour = 3600000, iv = EXACT_MS;
    struct sched *s = sched_new(0, 0, 5);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 1, "h", hour, 0), 0);
    struct sched_event ev[16];
    assert_int_equal(poll16(s, sched_next_ms(s, 0), ev), 1);
    const uint64_t now = 600000; /* 10 minutes into the probe */
    assert_int_equal(sched_update(s, 1, "h", iv, now), 0);
    assert_int_equal(poll16(s, now, ev), 0);
    assert_true(sched_next_ms(s, now) > 0);
    /* Still running 3 new intervals later: 2 or 3 rounds skipped (by
     * where the reload fell in the new grid), never 6000. */
    uint64_t skipped = 0;
    for (uint64_t t = now; t <= now + 3 * iv; t++) {
        size_t n = poll16(s, t, ev);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(ev[i].kind, SCHED_SKIP);
            skipped += ev[i].rounds;
        }
    }
    assert_true(skipped >= 2 && skipped <= 3);
    sched_done(s, 1, now + 3 * iv + 1);
    uint64_t wait = sched_next_ms(s, now + 3 * iv + 1);
    assert_true(wait <= iv);
    sched_free(s);
}

/*
 * Item 11: timeout = interval. A probe that runs to its deadline ends a
 * little after its next round came due: that round starts late instead
 * of being skipped, as long as it came due at most the tolerance
 * (min(interval / 4, 2 s)) before.
 */
static void test_late_end_within_tolerance(void **state)
{
    (void)state;
    const uint64_t iv = EXACT_MS, tol = EXACT_MS / 4;
    struct sched *s = sched_new(0, 0, 3);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 4, "mx", iv, 0), 0);
    struct sched_event ev[16];
    assert_int_equal(poll16(s, 0, ev), 1);
    /* Round 1 is due at 99; while it might still start, no SKIP. */
    assert_int_equal(poll16(s, iv, ev), 0);
    assert_int_equal(poll16(s, iv + tol - 1, ev), 0);
    /* The loop wakes when the SKIP would be due, not before. */
    assert_int_equal(sched_next_ms(s, iv), tol);
    sched_done(s, 4, iv + 3);
    assert_int_equal(sched_next_ms(s, iv + 3), 0);
    assert_int_equal(poll16(s, iv + 3, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].late_ms, 3);
    /* Round 2 at 198: this probe too runs to its deadline, 3 ms late
     * again, and round 3 starts 6 ms late. */
    sched_done(s, 4, 2 * iv + 6);
    assert_int_equal(poll16(s, 2 * iv + 6, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].late_ms, 6);
    /* Past the tolerance, the round is skipped: by poll while it runs
     * (round 3 at 297)... */
    assert_int_equal(poll16(s, 3 * iv + tol - 1, ev), 0);
    assert_int_equal(poll16(s, 3 * iv + tol, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_SKIP);
    assert_int_equal(ev[0].rounds, 1);
    assert_int_equal(ev[0].reason, SCHED_SKIP_RUNNING);
    /* ... and by done when no poll came: round 4 (396) came 30 ms before
     * the end, round 5 is next. */
    sched_done(s, 4, 4 * iv + tol + 6);
    assert_int_equal(poll16(s, 4 * iv + tol + 6, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_SKIP);
    assert_int_equal(ev[0].rounds, 1);
    assert_int_equal(ev[0].reason, SCHED_SKIP_RUNNING);
    assert_int_equal(sched_next_ms(s, 4 * iv + tol + 6), iv - tol - 6);
    sched_free(s);
}

/* Starts of each id by a loop that runs every probe for `run` ms, until
 * `until`. */
static void simulate(struct sched *s, uint64_t run, uint64_t until,
                     uint64_t *starts, size_t n_ids)
{
    uint64_t end[64] = {0};
    bool running[64] = {false};
    assert_true(n_ids <= 64);
    struct sched_event ev[16];
    uint64_t now = 0;
    while (now < until) {
        uint64_t next = sched_next_ms(s, now);
        for (size_t i = 0; i < n_ids; i++)
            if (running[i] && end[i] - now < next)
                next = end[i] - now;
        now += next;
        for (size_t i = 0; i < n_ids; i++) {
            if (running[i] && end[i] == now) {
                running[i] = false;
                sched_done(s, i, now);
            }
        }
        size_t n;
        do {
            n = sched_poll(s, now, ev, 16);
            for (size_t i = 0; i < n; i++) {
                if (ev[i].kind != SCHED_START)
                    continue;
                assert_false(running[ev[i].id]);
                running[ev[i].id] = true;
                end[ev[i].id] = now + run;
                starts[ev[i].id]++;
            }
        } while (n == 16);
    }
}

/*
 * Item 6: more entries on one host than its slots can serve. A waiting
 * entry keeps its place in the queue across the rounds it misses, so the
 * slots go round: every entry starts, and none falls behind the others.
 */
static void test_waiting_keeps_its_place(void **state)
{
    (void)state;
    enum { N = 10 };
    /* 10 entries, 2 slots, probes of 60 ms every 99 ms: 3 times what the
     * slots can do. */
    struct sched *s = sched_new(0, 2, 9);
    assert_non_null(s);
    for (uint64_t id = 0; id < N; id++)
        assert_int_equal(sched_add(s, id, "h", EXACT_MS,
                                   sched_spread(0, EXACT_MS, (size_t)id, N)),
                         0);
    uint64_t starts[N] = {0};
    simulate(s, 60, 100 * EXACT_MS, starts, N);
    uint64_t min = UINT64_MAX, max = 0;
    for (size_t i = 0; i < N; i++) {
        if (starts[i] < min)
            min = starts[i];
        if (starts[i] > max)
            max = starts[i];
    }
    /* 100 rounds of 2 slots x 99 / 60 starts: ~330 over 10 entries. */
    if (min == 0 || max - min > 1)
        fail_msg("starts per entry from %llu to %llu", (unsigned long long)min,
                 (unsigned long long)max);
    sched_free(s);
}

/*
 * Item 6: one slot on host h, three entries. An entry skipped while it
 * waits keeps its place: it goes before one that came due after it
 * began to wait, even when that one's current round is due earlier.
 */
static void test_first_come_first_served(void **state)
{
    (void)state;
    struct sched *s = sched_new(0, 1, 3);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 1, "h", EXACT_MS, 0), 0);
    assert_int_equal(sched_add(s, 2, "h", EXACT_MS, 40), 0);
    assert_int_equal(sched_add(s, 3, "h", EXACT_MS, 60), 0);
    struct sched_event ev[16];
    assert_int_equal(poll16(s, 0, ev), 1);
    assert_int_equal(ev[0].id, 1);
    assert_int_equal(poll16(s, 40, ev), 0); /* 2 waits from 40 */
    assert_int_equal(poll16(s, 60, ev), 0); /* 3 waits from 60 */
    sched_done(s, 1, 70);
    assert_int_equal(poll16(s, 70, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(ev[0].late_ms, 30);
    assert_int_equal(poll16(s, 99, ev), 0); /* 1 waits from 99 */
    /* 3 misses round 0 waiting for the host's slot. */
    assert_int_equal(poll16(s, 159, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_SKIP);
    assert_int_equal(ev[0].id, 3);
    assert_int_equal(ev[0].rounds, 1);
    assert_int_equal(ev[0].reason, SCHED_SKIP_HOST_LIMIT);
    /* 2 ends 21 ms after its round 1 came due (139): it waits from 139.
     * 3 (waiting since 60, its round 1 due at 159) goes before 1
     * (waiting since 99, due at 99) and 2. */
    sched_done(s, 2, 160);
    assert_int_equal(poll16(s, 160, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].id, 3);
    assert_int_equal(ev[0].late_ms, 1);
    sched_done(s, 3, 170);
    assert_int_equal(poll16(s, 170, ev), 1);
    assert_int_equal(ev[0].id, 1);
    assert_int_equal(ev[0].late_ms, 71);
    sched_done(s, 1, 180);
    assert_int_equal(poll16(s, 180, ev), 1);
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(ev[0].late_ms, 41);
    sched_free(s);
}

/* The SKIP names the limit that held the entry at the last poll. */
static void test_skip_reasons(void **state)
{
    (void)state;
    static const struct {
        unsigned max_concurrent, max_per_host;
        const char *host2; /* entry 2's host; entry 1 runs on "a" */
        enum sched_skip_reason want;
    } cases[] = {
        {1, 0, "b", SCHED_SKIP_GLOBAL_LIMIT},
        {0, 1, "A", SCHED_SKIP_HOST_LIMIT},
        /* Both full: the global one, the first that must free a slot. */
        {1, 1, "a", SCHED_SKIP_GLOBAL_LIMIT},
        {2, 1, "a", SCHED_SKIP_HOST_LIMIT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sched *s =
            sched_new(cases[i].max_concurrent, cases[i].max_per_host, 3);
        assert_non_null(s);
        assert_int_equal(sched_add(s, 1, "a", 10 * EXACT_MS, 0), 0);
        assert_int_equal(sched_add(s, 2, cases[i].host2, EXACT_MS, 1), 0);
        struct sched_event ev[16];
        assert_int_equal(poll16(s, 1, ev), 1);
        assert_int_equal(ev[0].id, 1);
        assert_int_equal(poll16(s, EXACT_MS + 1, ev), 1);
        assert_int_equal(ev[0].kind, SCHED_SKIP);
        assert_int_equal(ev[0].id, 2);
        if (ev[0].reason != cases[i].want)
            fail_msg("case %zu: reason %s, want %s", i,
                     sched_skip_reason_name(ev[0].reason),
                     sched_skip_reason_name(cases[i].want));
        sched_free(s);
    }
    static const char *const names[] = {"running", "host_limit",
                                        "global_limit", "stalled"};
    for (int r = 0; r < SCHED_SKIP_REASON_COUNT; r++)
        assert_string_equal(sched_skip_reason_name((enum sched_skip_reason)r),
                            names[r]);
    assert_string_equal(sched_skip_reason_name(SCHED_SKIP_REASON_COUNT),
                        "unknown");
}

/* A longer interval keeps the round already due, also for a running
 * entry, and the next one follows the new interval. */
static void test_update_longer_interval(void **state)
{
    (void)state;
    struct sched *s = sched_new(0, 0, 3);
    assert_non_null(s);
    assert_int_equal(sched_add(s, 1, "h", 40, 0), 0);
    assert_int_equal(sched_add(s, 2, "h", 40, 20), 0);
    struct sched_event ev[16];
    assert_int_equal(poll16(s, 0, ev), 1);
    assert_int_equal(sched_update(s, 1, "h", 90, 5), 0);
    assert_int_equal(sched_update(s, 2, "h", 90, 5), 0);
    assert_int_equal(sched_next_ms(s, 5), 15); /* 2 keeps 20 */
    assert_int_equal(poll16(s, 20, ev), 1);
    assert_int_equal(ev[0].id, 2);
    sched_done(s, 1, 30);
    sched_done(s, 2, 30);
    assert_int_equal(sched_next_ms(s, 30), 60); /* 1 at 0 + 90 */
    assert_int_equal(poll16(s, 90, ev), 1);
    assert_int_equal(ev[0].id, 1);
    assert_int_equal(poll16(s, 109, ev), 0);
    assert_int_equal(poll16(s, 110, ev), 1); /* 2 at 20 + 90 */
    assert_int_equal(ev[0].id, 2);
    /* The same interval again changes nothing. */
    assert_int_equal(sched_update(s, 1, "h", 90, 150), 0);
    sched_done(s, 1, 150);
    assert_int_equal(sched_next_ms(s, 150), 30); /* 1 at 180 */
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
     * (199) would be skipped, past the tolerance (223), before 2's
     * (229). */
    assert_int_equal(sched_next_ms(s, 140), 83);
    sched_done(s, 1, 150);
    assert_int_equal(sched_next_ms(s, 150), 0);
    assert_int_equal(poll16(s, 150, ev), 1);
    assert_int_equal(ev[0].id, 2);
    assert_int_equal(sched_next_ms(s, 150), 49); /* 1 at 199 */
    /* Past a round not yet polled: 0, so that the SKIP gets written. */
    assert_int_equal(sched_next_ms(s, 300), 0);
    sched_free(s);
}

/*
 * A start phase cut short by the caller's cap tried only the first
 * entries in start order. One it tried and found held by its host skips
 * for host_limit, though the last full phase found the global limit
 * full; one it did not reach keeps global_limit.
 */
static void test_cut_poll_reasons(void **state)
{
    (void)state;
    static const struct {
        uint64_t first; /* of entry 3 on host a: before or after 4's */
        enum sched_skip_reason want;
    } cases[] = {
        {5, SCHED_SKIP_HOST_LIMIT},
        {21, SCHED_SKIP_GLOBAL_LIMIT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sched *s = sched_new(2, 1, 3);
        assert_non_null(s);
        assert_int_equal(sched_add(s, 1, "a", EXACT_MS, 0), 0);
        assert_int_equal(sched_add(s, 2, "x", EXACT_MS, 0), 0);
        assert_int_equal(sched_add(s, 3, "a", EXACT_MS, cases[i].first), 0);
        /* Due between 11 and 20 (its jitter). */
        assert_int_equal(sched_add(s, 4, "y", 10 * EXACT_MS, 11), 0);
        struct sched_event ev[16];
        assert_int_equal(poll16(s, 0, ev), 2);  /* 1 and 2: global full */
        assert_int_equal(poll16(s, 30, ev), 0); /* 3 and 4 wait */
        sched_done(s, 2, 31);
        /* Room for one event: 4 starts (3's host is busy with 1), and
         * the poll stops there. */
        assert_int_equal(sched_poll(s, 31, ev, 1), 1);
        assert_int_equal(ev[0].kind, SCHED_START);
        assert_int_equal(ev[0].id, 4);
        /* 2 is next due, at 99 (it waits: the global limit is full). */
        assert_int_equal(sched_next_ms(s, 31), EXACT_MS - 31);
        uint64_t at = cases[i].first + EXACT_MS;
        assert_int_equal(poll16(s, at, ev), 1);
        assert_int_equal(ev[0].kind, SCHED_SKIP);
        assert_int_equal(ev[0].id, 3);
        if (ev[0].reason != cases[i].want)
            fail_msg("case %zu: reason %s, want %s", i,
                     sched_skip_reason_name(ev[0].reason),
                     sched_skip_reason_name(cases[i].want));
        sched_free(s);
    }
}

/*
 * 20,000 entries over 200 hosts, added, updated, half removed: each
 * starts once per round in the order of its spread, and the removed ones
 * never again.
 */
static void test_many_entries(void **state)
{
    (void)state;
    enum { N = 20000, HOSTS = 200 };
    const uint64_t iv = 100000;
    struct sched *s = sched_new(0, 0, 11);
    assert_non_null(s);
    char host[32];
    for (uint64_t id = 0; id < N; id++) {
        snprintf(host, sizeof(host), "MX%llu.example",
                 (unsigned long long)(id % HOSTS));
        /* Over the first half of the interval: round 1 comes after. */
        assert_int_equal(
            sched_add(s, id, host, iv, sched_spread(0, iv / 2, (size_t)id, N)),
            0);
    }
    /* The same host in other case, the same interval: nothing moves. */
    for (uint64_t id = 0; id < N; id += 7) {
        snprintf(host, sizeof(host), "mx%llu.EXAMPLE",
                 (unsigned long long)(id % HOSTS));
        assert_int_equal(sched_update(s, id, host, iv, 0), 0);
    }
    for (uint64_t id = 1; id < N; id += 2)
        sched_remove(s, id);
    for (uint64_t id = 0; id < N; id++)
        assert_int_equal(sched_has(s, id), id % 2 == 0);
    uint8_t *starts = calloc(N, 1);
    assert_non_null(starts);
    struct sched_event ev[64];
    uint64_t now = 0, last = 0, n_started = 0;
    while (n_started < N / 2) {
        now += sched_next_ms(s, now);
        size_t n = sched_poll(s, now, ev, 64);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(ev[i].kind, SCHED_START);
            assert_int_equal(ev[i].id % 2, 0);
            assert_int_equal(starts[ev[i].id]++, 0);
            /* Spread order, give or take the jitter. */
            assert_true(ev[i].id + 2 * (jitter_bound(iv) * N / (iv / 2)) >=
                        last);
            last = ev[i].id;
            n_started++;
            sched_done(s, ev[i].id, now);
        }
    }
    assert_true(now < iv);
    assert_int_equal(sched_running(s), 0);
    free(starts);
    sched_free(s);
}

/* The work of one round of k due entries among n (k started, done,
 * polled again), in the scheduler's own counters. */
static struct sched_work work_of_round(size_t n, size_t k)
{
    const uint64_t iv = 60000, hour = 3600000;
    struct sched *s = sched_new(256, 4, 3);
    assert_non_null(s);
    char host[32];
    for (size_t id = 0; id < n; id++) {
        snprintf(host, sizeof(host), "h%zu", id % 50);
        /* k due at 1000 on hosts of their own; the rest spread over an
         * hour from 100 s. */
        if (id < k)
            snprintf(host, sizeof(host), "k%zu", id);
        uint64_t first =
            id < k ? 1000 : sched_spread(100000, hour, id - k, n - k);
        assert_int_equal(sched_add(s, id, host, iv, first), 0);
    }
    struct sched_event ev[64];
    struct sched_work before, after;
    assert_true(sched_next_ms(s, 0) >= 1000);
    sched_work(s, &before);
    uint64_t now = 1000 + jitter_bound(iv);
    assert_int_equal(sched_poll(s, now, ev, 64), k);
    assert_true(sched_next_ms(s, now) > 0);
    for (size_t i = 0; i < k; i++)
        sched_done(s, ev[i].id, now + 200);
    assert_int_equal(sched_poll(s, now + 200, ev, 64), 0);
    assert_true(sched_next_ms(s, now + 200) > 0);
    sched_work(s, &after);
    sched_free(s);
    return (struct sched_work){
        .entries = after.entries - before.entries,
        .heap_steps = after.heap_steps - before.heap_steps,
        .hash_probes = after.hash_probes - before.hash_probes};
}

/*
 * Item 11 of issue 11: the work of a wake-up does not grow with the
 * number of entries. The same 10 due entries among 100 or among 10,000:
 * the same entries looked at (poll, next_ms and done touch only those),
 * heap work within the heaps' height for each, a few hash probes per
 * lookup.
 */
static void test_work_independent_of_n(void **state)
{
    (void)state;
    enum { K = 10, HEIGHT = 14 /* log2(10,000) */ };
    struct sched_work small = work_of_round(100, K);
    struct sched_work large = work_of_round(10000, K);
    assert_int_equal(small.entries, large.entries);
    /* Each of the K: a start and a done, each a few heap operations of
     * at most HEIGHT levels; nowhere near the 10,000 of a scan. */
    assert_true(small.entries >= 2 * K && small.entries <= 4 * K + 4);
    assert_true(large.heap_steps > 0 && large.hash_probes >= K);
    if (large.heap_steps > 6 * K * HEIGHT)
        fail_msg("%llu heap steps for %d entries",
                 (unsigned long long)large.heap_steps, K);
    if (large.hash_probes > 4 * K)
        fail_msg("%llu hash probes for %d lookups",
                 (unsigned long long)large.hash_probes, K);
}

/*
 * The loop over a whole round: n entries spread over the interval, each
 * probe running a while. The entries looked at per start are the same
 * few for 100 and for 10,000 entries.
 */
static double entries_per_start(size_t n)
{
    const uint64_t iv = 60000;
    struct sched *s = sched_new(256, 4, 5);
    assert_non_null(s);
    char host[32];
    for (size_t id = 0; id < n; id++) {
        snprintf(host, sizeof(host), "h%zu", id / 10);
        assert_int_equal(
            sched_add(s, id, host, iv, sched_spread(0, iv, id, n)), 0);
    }
    uint64_t *end = calloc(n, sizeof(*end));
    assert_non_null(end);
    struct sched_event ev[64];
    struct sched_work before, after;
    sched_work(s, &before);
    uint64_t now = 0, started = 0;
    size_t head = 0, tail = 0;
    size_t *fifo = calloc(n + 64, sizeof(*fifo));
    assert_non_null(fifo);
    /* About one round (the last ones' jitter may bring the first ones'
     * next round before them). */
    while (started < n) {
        while (head < tail && end[fifo[head]] <= now)
            sched_done(s, fifo[head++], now);
        size_t got = sched_poll(s, now, ev, 64);
        assert_true(got < 64);
        for (size_t i = 0; i < got; i++) {
            assert_int_equal(ev[i].kind, SCHED_START);
            end[ev[i].id] = now + 20;
            fifo[tail++] = ev[i].id;
            started++;
        }
        uint64_t wait = sched_next_ms(s, now);
        if (head < tail && end[fifo[head]] - now < wait)
            wait = end[fifo[head]] - now;
        now += wait;
    }
    sched_work(s, &after);
    assert_true(now < iv + jitter_bound(iv));
    free(fifo);
    free(end);
    sched_free(s);
    return (double)(after.entries - before.entries) / (double)started;
}

static void test_work_per_start(void **state)
{
    (void)state;
    double small = entries_per_start(100);
    double large = entries_per_start(10000);
    /* A start: its timer, its place in the queue, the start, its done,
     * a look by next_ms. */
    assert_true(small >= 2 && large >= 2); /* at least start and done */
    if (small > 8 || large > 8)
        fail_msg("entries looked at per start: %.2f (100), %.2f (10,000)",
                 small, large);
}

/* /probe's slots: under both limits, behind waiting entries, given
 * back by release, and a scheduled entry waits for them as for its own. */
static void test_claim(void **state)
{
    (void)state;
    struct sched_event ev[16];
    struct sched *s = sched_new(2, 1, 5);
    assert_int_equal(sched_add(s, 1, "mx.example", EXACT_MS, 0), 0);

    assert_int_equal(sched_claim(s, "MX.example"), 1); /* host case */
    assert_int_equal(sched_running(s), 1);
    assert_int_equal(sched_claim(s, "mx.example"), 0); /* max_per_host */
    /* The entry due on that host waits for the claimed slot. */
    assert_int_equal(poll16(s, 0, ev), 0);
    assert_int_equal(sched_claim(s, "other.example"), 1);
    assert_int_equal(sched_claim(s, "third.example"), 0); /* global */
    assert_int_equal(sched_running(s), 2);

    sched_release(s, "mx.example");
    /* A claim does not pass the entry that waits on its host. */
    assert_int_equal(sched_claim(s, "mx.example"), 0);
    assert_int_equal(poll16(s, 1, ev), 1);
    assert_int_equal(ev[0].kind, SCHED_START);
    assert_int_equal(ev[0].id, 1);
    sched_release(s, "other.example");
    sched_release(s, "nowhere.example"); /* never claimed: nothing */
    assert_int_equal(sched_running(s), 1);
    sched_done(s, 1, 2);
    assert_int_equal(sched_running(s), 0);
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
        cmocka_unit_test(test_two_reasons_one_entry),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_update_shorter_interval),
        cmocka_unit_test(test_update_while_running),
        cmocka_unit_test(test_late_end_within_tolerance),
        cmocka_unit_test(test_waiting_keeps_its_place),
        cmocka_unit_test(test_first_come_first_served),
        cmocka_unit_test(test_skip_reasons),
        cmocka_unit_test(test_update_longer_interval),
        cmocka_unit_test(test_add_errors),
        cmocka_unit_test(test_next_ms),
        cmocka_unit_test(test_cut_poll_reasons),
        cmocka_unit_test(test_many_entries),
        cmocka_unit_test(test_work_independent_of_n),
        cmocka_unit_test(test_work_per_start),
        cmocka_unit_test(test_claim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
