/* test_tls: the CA store cache: one load per file until a flush, a failed
 * load kept as one, and files read the way every file of the agent is. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls.h"

#define CA_PEM TEST_SOURCE_DIR "/tests/unit/data/tls/ca.pem"

/* A FIFO must fail at once, never block: the alarm turns a hang into a
 * failure. */
#define HANG_GUARD_S 10

static void test_a_file_is_loaded_once_until_a_flush(void **state)
{
    (void)state;
    struct tls_ca_cache *cache = tls_ca_cache_new();
    assert_non_null(cache);

    bool loaded = false;
    const struct tls_ca *a = tls_ca_cache_get(cache, CA_PEM, &loaded);
    assert_non_null(a);
    assert_true(loaded);
    assert_non_null(a->store);
    assert_string_equal(a->path, CA_PEM);
    assert_string_equal(a->problem, "");

    const struct tls_ca *again = tls_ca_cache_get(cache, CA_PEM, &loaded);
    assert_ptr_equal(again, a);
    assert_false(loaded);

    /* Another file gets its own entry; the first one stays where it is. */
    const struct tls_ca *missing =
        tls_ca_cache_get(cache, "/nonexistent/ca.pem", &loaded);
    assert_non_null(missing);
    assert_true(loaded);
    assert_ptr_equal(tls_ca_cache_get(cache, CA_PEM, &loaded), a);
    assert_false(loaded);

    tls_ca_cache_flush(cache);
    const struct tls_ca *fresh = tls_ca_cache_get(cache, CA_PEM, &loaded);
    assert_non_null(fresh);
    assert_true(loaded);
    assert_non_null(fresh->store);

    tls_ca_cache_free(cache);
    tls_ca_cache_free(NULL);
}

/* A failed load is an entry too: the file is not read again at every
 * TLS session, and its problem names the path. */
static void test_a_failed_load_is_kept_with_its_problem(void **state)
{
    (void)state;
    struct tls_ca_cache *cache = tls_ca_cache_new();
    assert_non_null(cache);
    const char *path = "/nonexistent/ca.pem";

    bool loaded = false;
    const struct tls_ca *e = tls_ca_cache_get(cache, path, &loaded);
    assert_non_null(e);
    assert_true(loaded);
    assert_null(e->store);
    assert_non_null(strstr(e->problem, "CA file: "));
    assert_non_null(strstr(e->problem, path));

    assert_ptr_equal(tls_ca_cache_get(cache, path, &loaded), e);
    assert_false(loaded);
    tls_ca_cache_free(cache);
}

/* The cache reads through file.c: a FIFO where the bundle should be
 * fails at once as not a regular file. */
static void test_a_fifo_fails_without_blocking(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_tls.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char fifo[64];
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    struct tls_ca_cache *cache = tls_ca_cache_new();
    assert_non_null(cache);
    bool loaded = false;
    alarm(HANG_GUARD_S);
    const struct tls_ca *e = tls_ca_cache_get(cache, fifo, &loaded);
    alarm(0);
    assert_non_null(e);
    assert_true(loaded);
    assert_null(e->store);
    char want[160];
    snprintf(want, sizeof(want), "CA file: %s is not a regular file", fifo);
    assert_string_equal(e->problem, want);

    tls_ca_cache_free(cache);
    unlink(fifo);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_file_is_loaded_once_until_a_flush),
        cmocka_unit_test(test_a_failed_load_is_kept_with_its_problem),
        cmocka_unit_test(test_a_fifo_fails_without_blocking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
