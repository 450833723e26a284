/* test_http_probe: /probe's deadline and its target's %-decoding. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http_probe.h"

static void test_budget(void **state)
{
    (void)state;
    static const struct {
        const char *header;
        uint64_t left_ms;
        long want;
    } cases[] = {
        {NULL, 10000, 9500},   /* the request's deadline, less the margin */
        {"2", 10000, 1500},    /* blackbox: the header less 0.5 s */
        {"2.75", 10000, 2250}, /* fractions */
        {"30", 10000, 9500},   /* the request's deadline caps it */
        {"1", 10000, 1000},    /* never below HTTP_PROBE_MIN_MS */
        {"0.1", 10000, 1000},  {NULL, 200, 1000},
        {"0", 10000, -1}, /* no positive number: 400 */
        {"-3", 10000, -1},     {"", 10000, -1},
        {"2s", 10000, -1},     {"nan", 10000, -1},
        {"inf", 10000, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(
            http_probe_budget_ms(cases[i].header, cases[i].left_ms),
            cases[i].want);
}

static void test_unescape(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        const char *out;
    } cases[] = {
        {"mx1", 0, "mx1"},        {"mx%3A1", 0, "mx:1"}, {"%6d%78", 0, "mx"},
        {"a%2", -1, NULL},        {"a%", -1, NULL},      {"a%zz", -1, NULL},
        {"a%00b", -1, NULL},      {"a%-1", -1, NULL},    {"a+b", -1, NULL},
        {"0123456789", -1, NULL}, /* longer than the room */
        {"a%\t5", -1, NULL},      /* strtol() skipped white space */
        {"a%\n5", -1, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[10];
        assert_int_equal(http_probe_unescape(out, sizeof(out), cases[i].in),
                         cases[i].rc);
        if (cases[i].rc == 0)
            assert_string_equal(out, cases[i].out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_unescape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
