/* test_http_accept: which Accept-Encoding values let us send gzip. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>

#include "http_accept.h"

static void test_accepts_gzip(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool want;
    } cases[] = {
        {"gzip", true},
        {"GZIP", true},
        {"x-gzip", true},
        {"gzip, deflate", true},
        {"deflate, gzip", true},
        {"deflate,gzip;q=0.5", true},
        {" deflate ,\tgzip ; q=1.0 ", true},
        {"gzip;q=0.001", true},
        {"gzip;Q=0.5", true},
        {"*", true},
        {"*;q=0.1", true},
        {"identity, *", true},
        {"gzip;level=1;q=0.8", true},
        {"", false},
        {"identity", false},
        {"deflate, br", false},
        {"gzip;q=0", false},
        {"gzip;q=0.0", false},
        {"gzip;q=0.000", false},
        {"gzip; q=0", false},
        {"gzip;q=0, *", false}, /* named beats the wildcard */
        {"*, gzip;q=0", false},
        {"*;q=0", false},
        {"*;q=0, gzip", true},
        {"gzipx", false},
        {"xgzip", false},
        {"gzip;q=2", false},
        {"gzip;q=0.0001", false},
        {"gzip;q=abc", false},
        {"gzip;q=", false},
        {"gzip;q=1.5", false},
        {",,gzip,,", true},
        {";q=1", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (http_accepts_gzip(cases[i].in) != cases[i].want)
            fail_msg("\"%s\": want %d", cases[i].in, cases[i].want);
    assert_false(http_accepts_gzip(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_gzip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
