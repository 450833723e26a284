/* test_http_watchdog: connections past their deadline are shut down, and
 * a new deadline after each response, over socket pairs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_watchdog.h"
#include "now.h"

/* Whether the peer of fd was shut down: EOF within wait_ms. */
static bool peer_shut(int fd, int wait_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, wait_ms) != 1)
        return false;
    char c;
    return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

static void test_deadline(void **state)
{
    (void)state;
    char err[128] = "";
    struct http_watchdog *w = http_watchdog_new(1, NULL, err, sizeof(err));
    if (!w)
        fail_msg("http_watchdog_new: %s", err);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    uint64_t t0 = now_mono_ms();
    struct http_conn *c = http_watchdog_add(w, sv[0]);
    assert_non_null(c);
    uint64_t d = http_watchdog_deadline(w, c);
    assert_true(d >= t0 + 1000 && d <= now_mono_ms() + 1000);

    /* Not before its deadline; at it, give or take a tick. */
    assert_false(peer_shut(sv[1], 700));
    assert_true(peer_shut(sv[1], 1000 + 2 * HTTP_WATCHDOG_TICK_MS));
    uint64_t took = now_mono_ms() - t0;
    if (took < 1000 || took > 1000 + 3 * HTTP_WATCHDOG_TICK_MS)
        fail_msg("shut down after %llu ms", (unsigned long long)took);

    http_watchdog_remove(w, c);
    close(sv[0]);
    close(sv[1]);
    http_watchdog_free(w);
}

/* A response went out: the connection gets a whole new timeout. */
static void test_rearm(void **state)
{
    (void)state;
    char err[128] = "";
    struct http_watchdog *w = http_watchdog_new(1, NULL, err, sizeof(err));
    if (!w)
        fail_msg("http_watchdog_new: %s", err);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct http_conn *c = http_watchdog_add(w, sv[0]);
    assert_non_null(c);
    for (int i = 0; i < 3; i++) {
        assert_false(peer_shut(sv[1], 600)); /* 1.8 s in all */
        uint64_t before = now_mono_ms();
        http_watchdog_rearm(w, c);
        assert_true(http_watchdog_deadline(w, c) >= before + 1000);
    }
    assert_true(peer_shut(sv[1], 1000 + 2 * HTTP_WATCHDOG_TICK_MS));
    http_watchdog_remove(w, c);
    close(sv[0]);
    close(sv[1]);
    http_watchdog_free(w);
}

/* Without an entry (out of memory): a deadline from now; NULLs are
 * no-ops; a connection left at free is freed (ASan tells). */
static void test_edges(void **state)
{
    (void)state;
    char err[128] = "";
    struct http_watchdog *w = http_watchdog_new(10, NULL, err, sizeof(err));
    if (!w)
        fail_msg("http_watchdog_new: %s", err);
    uint64_t before = now_mono_ms();
    uint64_t d = http_watchdog_deadline(w, NULL);
    assert_true(d >= before + 10000 && d <= now_mono_ms() + 10000);
    http_watchdog_rearm(w, NULL);
    http_watchdog_remove(w, NULL);
    assert_non_null(http_watchdog_add(w, -1));
    http_watchdog_stop(w);
    http_watchdog_stop(w);
    http_watchdog_free(w);
    http_watchdog_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_rearm),
        cmocka_unit_test(test_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
