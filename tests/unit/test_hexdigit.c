/* test_hexdigit: which bytes are hex digits, and what two of them spell. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "hexdigit.h"

/* The expected value of every byte, from the digits' own spelling rather
 * than from ranges as hexdigit.h has them. */
static void expected_values(int want[256])
{
    static const char lower[] = "0123456789abcdef";
    static const char upper[] = "ABCDEF";
    for (int b = 0; b < 256; b++)
        want[b] = -1;
    for (int i = 0; i < 16; i++)
        want[(unsigned char)lower[i]] = i;
    for (int i = 0; i < 6; i++)
        want[(unsigned char)upper[i]] = 10 + i;
}

static void test_value_every_byte(void **state)
{
    (void)state;
    int want[256];
    expected_values(want);
    int digits = 0;
    for (int b = 0; b < 256; b++) {
        int got = hexdigit_value((unsigned char)b);
        if (got != want[b])
            fail_msg("byte 0x%02x: %d, want %d", b, got, want[b]);
        digits += got >= 0;
    }
    assert_int_equal(digits, 22);
}

static void test_pair_every_two_bytes(void **state)
{
    (void)state;
    int want[256];
    expected_values(want);
    for (int hi = 0; hi < 256; hi++) {
        for (int lo = 0; lo < 256; lo++) {
            char s[3] = {(char)hi, (char)lo, '\0'};
            int exp =
                want[hi] < 0 || want[lo] < 0 ? -1 : want[hi] * 16 + want[lo];
            int got = hexdigit_pair(s);
            if (got != exp)
                fail_msg("0x%02x 0x%02x: %d, want %d", hi, lo, got, exp);
        }
    }
}

static void test_pair_table(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int want;
    } cases[] = {
        {"00", 0x00},  {"7f", 0x7f}, {"fF", 0xff}, {"A0", 0xa0},
        {"123", 0x12}, /* two digits, not three */
        {"", -1},      {"a", -1},    {"g0", -1},   {"0g", -1},
        {"-1", -1},    {"+1", -1},   {" 5", -1},   {"\t5", -1},
        {"\n5", -1},   {"0x", -1},   {"x5", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = hexdigit_pair(cases[i].in);
        if (got != cases[i].want)
            fail_msg("\"%s\": %d, want %d", cases[i].in, got, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_every_byte),
        cmocka_unit_test(test_pair_every_two_bytes),
        cmocka_unit_test(test_pair_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
