/* test_fdbudget: the split of the descriptor limit, and reading it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/resource.h>
#include <unistd.h>

#include "fdbudget.h"

static void test_compute(void **state)
{
    (void)state;
    static const struct {
        unsigned long limit, open;
        unsigned probes, http;
    } cases[] = {
        /* The case: 64 leave 29 past the reserve and 3 open. */
        {64, 3, 7, 7},
        {1024, 3, 247, 247},
        {4096, 10, 1266, 256},
        {524288, 10, 65535, 256},
        /* Nothing left: still one probe and a few connections. */
        {16, 3, 1, 4},
        {0, 0, 1, 4},
        {40, 3, 1, 4},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fd_budget b;
        fd_budget_compute(cases[i].limit, cases[i].open, &b);
        if (b.probes != cases[i].probes || b.http != cases[i].http)
            fail_msg("case %zu (%lu, %lu): probes %u http %u, expected %u "
                     "and %u",
                     i, cases[i].limit, cases[i].open, b.probes, b.http,
                     cases[i].probes, cases[i].http);
        /* Never more than the limit, when there is room at all. */
        unsigned long need = cases[i].open + FDBUDGET_RESERVED + b.http +
                             (unsigned long)b.probes * FDBUDGET_PER_PROBE;
        if (cases[i].limit >= cases[i].open + FDBUDGET_RESERVED + 8)
            assert_true(need <= cases[i].limit);
    }
}

/* The soft limit goes up to the hard one; the budget follows it. */
static void test_read_raises_the_soft_limit(void **state)
{
    (void)state;
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    if (old.rlim_max < 256) {
        print_message("hard limit %lu: nothing to raise\n",
                      (unsigned long)old.rlim_max);
        skip();
    }
    struct rlimit low = {128, old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct fd_budget b;
    assert_int_equal(fd_budget_read(&b), 0);
    struct rlimit now;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &now), 0);
    assert_int_equal(b.before, 128);
    assert_true(now.rlim_cur > 128);
    assert_int_equal(b.limit, (unsigned long)now.rlim_cur);
    assert_true(b.open >= 3);
    struct fd_budget want;
    fd_budget_compute(b.limit, b.open, &want);
    assert_int_equal(b.probes, want.probes);

    /* A hard limit that cannot be raised stays, and is what counts. */
    struct rlimit hard = {100, 100};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &hard), 0);
    assert_int_equal(fd_budget_read(&b), 0);
    assert_int_equal(b.limit, 100);
    assert_int_equal(b.before, 100);
    assert_true(b.probes < 30);
}

/* The count follows what is open, and leaves out the descriptor that
 * lists /proc/self/fd. */
static void test_count_open(void **state)
{
    (void)state;
    unsigned long before, after, closed;
    assert_int_equal(fd_budget_count_open(&before), 0);
    assert_true(before >= 3); /* stdin, stdout, stderr at least */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(fd_budget_count_open(&after), 0);
    assert_int_equal(after, before + 2);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(fd_budget_count_open(&closed), 0);
    assert_int_equal(closed, before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compute),
        cmocka_unit_test(test_read_raises_the_soft_limit),
        cmocka_unit_test(test_count_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
