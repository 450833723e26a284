/* test_ondemand: /probe's hand-off: the bound, the wake-up, done, and
 * references from both sides in either order. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "ondemand.h"

static int n_done;
static int n_parked;

static void on_done(void *cls, struct ondemand_job *j)
{
    assert_ptr_equal(cls, &n_done);
    assert_int_not_equal(j->status, ONDEMAND_PENDING);
    n_done++;
}

static int park_ok(void *cls)
{
    (void)cls;
    n_parked++;
    return 0;
}

static int park_fails(void *cls)
{
    (void)cls;
    return -1;
}

static struct ondemand_job *job(const char *target)
{
    struct ondemand_job *j = ondemand_job_new();
    assert_non_null(j);
    strcpy(j->target, target);
    j->done = on_done;
    j->done_cls = &n_done;
    return j;
}

static void test_bound_and_wakeup(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
    struct ondemand *q = ondemand_new(2, fds[1]);
    n_done = n_parked = 0;
    struct ondemand_job *a = job("a"), *b = job("b"), *c = job("c");
    assert_int_equal(ondemand_submit(q, a, park_ok, NULL), ONDEMAND_QUEUED);
    assert_int_equal(ondemand_submit(q, b, park_ok, NULL), ONDEMAND_QUEUED);
    assert_int_equal(n_parked, 2);
    /* Two unfinished: the third is refused, not parked. */
    assert_int_equal(ondemand_submit(q, c, park_ok, NULL), ONDEMAND_FULL);
    assert_int_equal(n_parked, 2);
    char wake[8];
    assert_int_equal(read(fds[0], wake, sizeof(wake)), 2);

    struct ondemand_job *got[4];
    assert_int_equal(ondemand_take(q, got, 4), 2);
    assert_ptr_equal(got[0], a); /* oldest first */
    assert_ptr_equal(got[1], b);
    assert_int_equal(ondemand_take(q, got + 2, 2), 0);
    /* Taken is not finished: still full. */
    assert_int_equal(ondemand_submit(q, c, park_ok, NULL), ONDEMAND_FULL);
    ondemand_finish(q, a, ONDEMAND_DONE);
    assert_int_equal(n_done, 1);
    assert_int_equal(a->status, ONDEMAND_DONE);
    assert_int_equal(ondemand_unfinished(q), 1);
    assert_int_equal(ondemand_submit(q, c, park_fails, NULL), ONDEMAND_NOWAIT);
    assert_int_equal(ondemand_submit(q, c, park_ok, NULL), ONDEMAND_QUEUED);

    /* Either side puts first. */
    ondemand_put(got[0]); /* the loop's */
    ondemand_put(a);      /* the submitter's: freed */
    ondemand_put(b);      /* the submitter went away first */
    ondemand_finish(q, b, ONDEMAND_DONE);
    ondemand_put(got[1]);

    /* Closed: done no longer runs, new jobs are refused. */
    ondemand_close(q);
    assert_int_equal(ondemand_take(q, got, 4), 1);
    ondemand_finish(q, got[0], ONDEMAND_STOPPED);
    assert_int_equal(n_done, 2);
    assert_int_equal(c->status, ONDEMAND_STOPPED);
    struct ondemand_job *d = job("d");
    assert_int_equal(ondemand_submit(q, d, NULL, NULL), ONDEMAND_CLOSED);
    ondemand_put(got[0]);
    ondemand_put(c);
    ondemand_put(d);
    ondemand_free(q);
    close(fds[0]);
    close(fds[1]);
}

/* A job never taken is freed with the queue. */
static void test_free_with_queued(void **state)
{
    (void)state;
    struct ondemand *q = ondemand_new(0, -1);
    struct ondemand_job *a = job("a");
    assert_int_equal(ondemand_submit(q, a, NULL, NULL), ONDEMAND_QUEUED);
    ondemand_put(a);
    ondemand_close(q);
    ondemand_free(q); /* ASan: nothing leaks */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound_and_wakeup),
        cmocka_unit_test(test_free_with_queued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
