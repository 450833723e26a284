/* test_expo: exact Prometheus text for floats, escaping and histograms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "expo.h"

static int setup(void **state)
{
    struct buf *b = malloc(sizeof *b);
    if (!b)
        return -1;
    buf_init(b, 0);
    *state = b;
    return 0;
}

static int teardown(void **state)
{
    buf_free(*state);
    free(*state);
    return 0;
}

static const struct {
    double v;
    const char *want;
} double_cases[] = {
    {0.0, "0"},
    {-0.0, "0"},
    {1.0, "1"},
    {3.0, "3"},
    {-1.0, "-1"},
    {235.0, "235"},
    {1700000000.0, "1700000000"},
    {9007199254740991.0, "9007199254740991"},
    {-9007199254740991.0, "-9007199254740991"},
    {9007199254740992.0, "9007199254740992"}, /* %.16g, not the int path */
    {18014398509481984.0, "18014398509481984"},
    {1152921504606846976.0, "1.152921504606847e+18"},
    {1e20, "1e+20"},
    {0.1, "0.1"},
    {0.005, "0.005"},
    {2.5, "2.5"},
    {-2.5, "-2.5"},
    {1e-9, "1e-09"},
    {0.1 + 0.2, "0.30000000000000004"},
    {1.0 / 3.0, "0.3333333333333333"},
    {123456789.5, "123456789.5"},
    {DBL_MAX, "1.7976931348623157e+308"},
    {5e-324, "5e-324"},
    {INFINITY, "+Inf"},
    {-INFINITY, "-Inf"},
    {NAN, "NaN"},
};

static void test_format_double(void **state)
{
    (void)state;
    char dst[EXPO_DOUBLE_LEN];
    for (size_t i = 0; i < sizeof double_cases / sizeof double_cases[0]; i++) {
        const char *got =
            expo_format_double(dst, sizeof dst, double_cases[i].v);
        assert_ptr_equal(got, dst);
        if (strcmp(got, double_cases[i].want) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, got,
                     double_cases[i].want);
    }
}

/* Whatever it writes reads back as the same value. */
static void test_format_double_round_trips(void **state)
{
    (void)state;
    char dst[EXPO_DOUBLE_LEN];
    double v = 1e-7;
    for (int i = 0; i < 2000; i++) {
        expo_format_double(dst, sizeof dst, v);
        assert_true(strtod(dst, NULL) == v);
        v *= 1.0173;
    }
}

/* The definition: the shortest %.Pg that reads back as v. */
static void shortest_by_search(char *dst, size_t n, double v)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(dst, n, "%.*g", p, v);
        if (strtod(dst, NULL) == v)
            return;
    }
}

/* Durations (nanoseconds over 1e9) and timestamps (microseconds over
 * 1e6) have a path of their own: it writes exactly what the definition
 * does, at both ends of its ranges, for either sign, and for values next
 * to such numbers that are not one. */
static void test_format_double_durations_match_definition(void **state)
{
    (void)state;
    char got[EXPO_DOUBLE_LEN], want[EXPO_DOUBLE_LEN];
    unsigned long long x = 88172645463325252ULL; /* xorshift64 */
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Nanoseconds from 1 ns to ~11 days, spread over the scales. */
        long long ns = (long long)(x % 1000000000000000ULL) >> (x % 50);
        double v = (double)ns / 1e9;
        if (i % 3 == 1)
            v = -v;
        if (i % 7 == 2)
            v = nextafter(v, 1e300); /* not a duration any more */
        expo_format_double(got, sizeof got, v);
        shortest_by_search(want, sizeof want, v);
        if (v == trunc(v))
            continue; /* integers: the other path, checked above */
        if (strcmp(got, want) != 0)
            fail_msg("%.17g: got \"%s\", want \"%s\"", v, got, want);
    }
    /* Timestamps: microseconds over 1e6, 1970 to 2096, and next to them. */
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        long long us = (long long)(x % 4000000000000000ULL);
        double v = (double)us / 1e6;
        if (i % 3 == 1)
            v = -v;
        if (i % 7 == 2)
            v = nextafter(v, 1e300);
        if (v == trunc(v))
            continue;
        expo_format_double(got, sizeof got, v);
        shortest_by_search(want, sizeof want, v);
        if (strcmp(got, want) != 0)
            fail_msg("%.17g: got \"%s\", want \"%s\"", v, got, want);
    }
    static const double edges[] = {
        0.0001,      0.00009999,        0.000123456,    999999.5,
        999999.9999, 1000000.5,         0.023456789,    1.000000001,
        0.5,         1765103221.123456, 1000000.000001, 3999999999.999999,
        4000000000.5};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        for (int sign = -1; sign <= 1; sign += 2) {
            double v = sign * edges[i];
            expo_format_double(got, sizeof got, v);
            shortest_by_search(want, sizeof want, v);
            if (strcmp(got, want) != 0)
                fail_msg("%.17g: got \"%s\", want \"%s\"", v, got, want);
        }
    }
}

static const struct {
    const char *in;
    const char *label;
    const char *help;
} escape_cases[] = {
    {"plain", "plain", "plain"},
    {"", "", ""},
    {"back\\slash", "back\\\\slash", "back\\\\slash"},
    {"say \"hi\"", "say \\\"hi\\\"", "say \"hi\""},
    {"two\nlines", "two\\nlines", "two\\nlines"},
    {"\\\"\n", "\\\\\\\"\\n", "\\\\\"\\n"},
    {"tab\there", "tab\there", "tab\there"},
    {"trailing\\", "trailing\\\\", "trailing\\\\"},
};

static void test_escape(void **state)
{
    struct buf *b = *state;
    for (size_t i = 0; i < sizeof escape_cases / sizeof escape_cases[0]; i++) {
        buf_reset(b);
        assert_int_equal(expo_escape_label(b, escape_cases[i].in), 0);
        assert_string_equal(buf_str(b), escape_cases[i].label);
        buf_reset(b);
        assert_int_equal(expo_escape_help(b, escape_cases[i].in), 0);
        assert_string_equal(buf_str(b), escape_cases[i].help);
    }
}

static void test_family(void **state)
{
    struct buf *b = *state;
    assert_int_equal(
        expo_family(b, "smtp_probes_total", "Probes run.", EXPO_COUNTER), 0);
    assert_int_equal(expo_family(b, "x", "a \\ b\nc \"d\"", EXPO_GAUGE), 0);
    assert_int_equal(expo_family(b, "h", "H.", EXPO_HISTOGRAM), 0);
    assert_int_equal(expo_family(b, "u", "U.", EXPO_UNTYPED), 0);
    assert_string_equal(buf_str(b), "# HELP smtp_probes_total Probes run.\n"
                                    "# TYPE smtp_probes_total counter\n"
                                    "# HELP x a \\\\ b\\nc \"d\"\n"
                                    "# TYPE x gauge\n"
                                    "# HELP h H.\n"
                                    "# TYPE h histogram\n"
                                    "# HELP u U.\n"
                                    "# TYPE u untyped\n");
}

static void test_sample(void **state)
{
    struct buf *b = *state;
    const struct expo_label one[] = {{"target", "mx1"}};
    const struct expo_label weird[] = {
        {"target", "a\\b"},
        {"host", "say \"hi\"\nbye"},
        {"port", ""},
    };
    assert_int_equal(expo_sample(b, "smtp_agent_targets", NULL, 0, 2), 0);
    assert_int_equal(expo_sample(b, "smtp_probe_success", one, 1, 1), 0);
    assert_int_equal(expo_sample(b, "t", weird, 3, 0.25), 0);
    assert_int_equal(expo_sample(b, "n", one, 1, NAN), 0);
    assert_int_equal(expo_sample(b, "i", NULL, 0, -INFINITY), 0);
    assert_string_equal(buf_str(b),
                        "smtp_agent_targets 2\n"
                        "smtp_probe_success{target=\"mx1\"} 1\n"
                        "t{target=\"a\\\\b\",host=\"say \\\"hi\\\"\\nbye\","
                        "port=\"\"} 0.25\n"
                        "n{target=\"mx1\"} NaN\n"
                        "i -Inf\n");
}

static void test_histogram_labels(void **state)
{
    struct buf *b = *state;
    const struct expo_label l[] = {{"target", "mx1"}, {"x", "q\""}};
    const double bounds[] = {0.005, 0.1, 1, 2.5};
    const uint64_t counts[] = {1, 0, 2, 3, 4};
    assert_int_equal(expo_histogram(b, "d", l, 2, bounds, counts, 4, 12.75),
                     0);
    assert_string_equal(buf_str(b),
                        "d_bucket{target=\"mx1\",x=\"q\\\"\",le=\"0.005\"} 1\n"
                        "d_bucket{target=\"mx1\",x=\"q\\\"\",le=\"0.1\"} 1\n"
                        "d_bucket{target=\"mx1\",x=\"q\\\"\",le=\"1\"} 3\n"
                        "d_bucket{target=\"mx1\",x=\"q\\\"\",le=\"2.5\"} 6\n"
                        "d_bucket{target=\"mx1\",x=\"q\\\"\",le=\"+Inf\"} 10\n"
                        "d_sum{target=\"mx1\",x=\"q\\\"\"} 12.75\n"
                        "d_count{target=\"mx1\",x=\"q\\\"\"} 10\n");
}

/* Label text (a target's own labels, rendered once by
 * expo_label_text()) goes where it stands among the labels, as it is;
 * NULL or "" writes nothing, not even the braces or a comma. */
static void test_label_text(void **state)
{
    struct buf *b = *state;
    const struct expo_label own[] = {
        {"team", "mail"},
        {"note", "a \"q\" \\ b\nc"},
        {"site", "Z\xC3\xBCrich"},
    };
    assert_int_equal(expo_label_text(b, own, 3), 0);
    assert_string_equal(buf_str(b), "team=\"mail\",note=\"a \\\"q\\\" "
                                    "\\\\ b\\nc\",site=\"Z\xC3\xBCrich\"");
    char *text = buf_take(b);
    assert_int_equal(expo_label_text(b, own, 0), 0);
    assert_string_equal(buf_str(b), "");

    const struct expo_label l[] = {
        {"target", "mx1"}, {NULL, text}, {"stage", "auth"}};
    const struct expo_label only[] = {{NULL, text}};
    const struct expo_label empty[] = {{"target", "mx1"}, {NULL, ""}};
    const struct expo_label none[] = {{NULL, NULL}, {"target", "mx1"}};
    const struct expo_label nothing[] = {{NULL, ""}};
    const double bounds[] = {1};
    const uint64_t counts[] = {1, 2};
    assert_int_equal(expo_sample(b, "a", l, 3, 1), 0);
    assert_int_equal(expo_sample(b, "b", only, 1, 1), 0);
    assert_int_equal(expo_sample(b, "c", empty, 2, 1), 0);
    assert_int_equal(expo_sample(b, "d", none, 2, 1), 0);
    assert_int_equal(expo_sample(b, "e", nothing, 1, 1), 0);
    assert_int_equal(expo_histogram(b, "h", l, 2, bounds, counts, 1, 3), 0);
    assert_int_equal(expo_histogram(b, "g", nothing, 1, bounds, counts, 1, 3),
                     0);
    const char *t = "team=\"mail\",note=\"a \\\"q\\\" \\\\ b\\nc\","
                    "site=\"Z\xC3\xBCrich\"";
    char want[2048];
    snprintf(want, sizeof want,
             "a{target=\"mx1\",%s,stage=\"auth\"} 1\n"
             "b{%s} 1\n"
             "c{target=\"mx1\"} 1\n"
             "d{target=\"mx1\"} 1\n"
             "e 1\n"
             "h_bucket{target=\"mx1\",%s,le=\"1\"} 1\n"
             "h_bucket{target=\"mx1\",%s,le=\"+Inf\"} 3\n"
             "h_sum{target=\"mx1\",%s} 3\n"
             "h_count{target=\"mx1\",%s} 3\n"
             "g_bucket{le=\"1\"} 1\n"
             "g_bucket{le=\"+Inf\"} 3\n"
             "g_sum 3\n"
             "g_count 3\n",
             t, t, t, t, t, t);
    assert_string_equal(buf_str(b), want);
    free(text);
}

static void test_histogram_no_labels(void **state)
{
    struct buf *b = *state;
    const double bounds[] = {0.001, 60};
    const uint64_t counts[] = {0, 0, 0};
    assert_int_equal(expo_histogram(b, "h", NULL, 0, bounds, counts, 2, 0), 0);
    const uint64_t big[] = {UINT64_C(9007199254740993), 0, 1};
    assert_int_equal(expo_histogram(b, "g", NULL, 0, bounds, big, 2, 0.5), 0);
    assert_string_equal(buf_str(b), "h_bucket{le=\"0.001\"} 0\n"
                                    "h_bucket{le=\"60\"} 0\n"
                                    "h_bucket{le=\"+Inf\"} 0\n"
                                    "h_sum 0\n"
                                    "h_count 0\n"
                                    "g_bucket{le=\"0.001\"} 9007199254740993\n"
                                    "g_bucket{le=\"60\"} 9007199254740993\n"
                                    "g_bucket{le=\"+Inf\"} 9007199254740994\n"
                                    "g_sum 0.5\n"
                                    "g_count 9007199254740994\n");
}

/* A buffer that refuses makes every writer fail, never cut silently. */
static void test_full_buffer(void **state)
{
    (void)state;
    struct buf small;
    const struct expo_label l[] = {{"target", "a-rather-long-target-name"}};
    const double bounds[] = {1};
    const uint64_t counts[] = {1, 1};

    buf_init(&small, 16);
    assert_int_equal(expo_sample(&small, "metric_name", l, 1, 1), -1);
    assert_true(small.len <= 16);
    buf_reset(&small);
    assert_int_equal(
        expo_family(&small, "m", "help text that is long", EXPO_GAUGE), -1);
    buf_reset(&small);
    assert_int_equal(
        expo_histogram(&small, "h", NULL, 0, bounds, counts, 1, 1), -1);
    buf_reset(&small);
    assert_int_equal(expo_escape_label(&small, "0123456789abcdef\""), -1);
    buf_free(&small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_double),
        cmocka_unit_test(test_format_double_round_trips),
        cmocka_unit_test(test_format_double_durations_match_definition),
        cmocka_unit_test_setup_teardown(test_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_family, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample, setup, teardown),
        cmocka_unit_test_setup_teardown(test_histogram_labels, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_label_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_histogram_no_labels, setup,
                                        teardown),
        cmocka_unit_test(test_full_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
