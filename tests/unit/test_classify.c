/* test_classify: DESIGN.md's class table, row by row, at several stages. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "classify.h"

#define G PROBE_STAGE_GREETING
#define E PROBE_STAGE_EHLO
#define S PROBE_STAGE_STARTTLS
#define A PROBE_STAGE_AUTH
#define Q PROBE_STAGE_QUIT
#define C PROBE_STAGE_CONNECT
#define T PROBE_STAGE_TLS

static const struct {
    enum probe_stage stage;
    int code;
    enum smtp_class cls;
} reply_cases[] = {
    /* success: each stage's own code */
    {G, 220, SMTP_CLASS_SUCCESS},
    {E, 250, SMTP_CLASS_SUCCESS},
    {S, 220, SMTP_CLASS_SUCCESS},
    {A, 235, SMTP_CLASS_SUCCESS},
    {Q, 221, SMTP_CLASS_SUCCESS},
    /* unexpected: another stage's success code, other 2xx, any 3xx */
    {A, 250, SMTP_CLASS_UNEXPECTED},
    {A, 220, SMTP_CLASS_UNEXPECTED},
    {A, 334, SMTP_CLASS_UNEXPECTED},
    {G, 250, SMTP_CLASS_UNEXPECTED},
    {G, 221, SMTP_CLASS_UNEXPECTED},
    {E, 220, SMTP_CLASS_UNEXPECTED},
    {E, 354, SMTP_CLASS_UNEXPECTED},
    {S, 250, SMTP_CLASS_UNEXPECTED},
    {Q, 250, SMTP_CLASS_UNEXPECTED},
    {Q, 235, SMTP_CLASS_UNEXPECTED},
    {E, 299, SMTP_CLASS_UNEXPECTED},
    /* connect and tls have no reply of their own: nothing is success */
    {C, 220, SMTP_CLASS_UNEXPECTED},
    {T, 250, SMTP_CLASS_UNEXPECTED},
    {C, 554, SMTP_CLASS_REJECTED},
    {T, 421, SMTP_CLASS_TEMPORARY_FAILURE},
    /* codes outside 200..599 */
    {G, 0, SMTP_CLASS_UNEXPECTED},
    {A, 100, SMTP_CLASS_UNEXPECTED},
    {A, 199, SMTP_CLASS_UNEXPECTED},
    {E, 600, SMTP_CLASS_UNEXPECTED},
    {Q, -221, SMTP_CLASS_UNEXPECTED},
    /* unsupported_parameter */
    {A, 504, SMTP_CLASS_UNSUPPORTED_PARAMETER},
    {E, 504, SMTP_CLASS_UNSUPPORTED_PARAMETER},
    {S, 504, SMTP_CLASS_UNSUPPORTED_PARAMETER},
    /* auth_failed */
    {A, 535, SMTP_CLASS_AUTH_FAILED},
    {G, 535, SMTP_CLASS_AUTH_FAILED},
    /* mechanism_too_weak */
    {A, 534, SMTP_CLASS_MECHANISM_TOO_WEAK},
    {E, 534, SMTP_CLASS_MECHANISM_TOO_WEAK},
    /* encryption_required */
    {A, 538, SMTP_CLASS_ENCRYPTION_REQUIRED},
    {A, 530, SMTP_CLASS_ENCRYPTION_REQUIRED},
    {Q, 530, SMTP_CLASS_ENCRYPTION_REQUIRED},
    {E, 538, SMTP_CLASS_ENCRYPTION_REQUIRED},
    /* temporary_failure: any 4xx */
    {G, 421, SMTP_CLASS_TEMPORARY_FAILURE},
    {A, 432, SMTP_CLASS_TEMPORARY_FAILURE},
    {E, 450, SMTP_CLASS_TEMPORARY_FAILURE},
    {Q, 451, SMTP_CLASS_TEMPORARY_FAILURE},
    {A, 452, SMTP_CLASS_TEMPORARY_FAILURE},
    {A, 454, SMTP_CLASS_TEMPORARY_FAILURE},
    {S, 454, SMTP_CLASS_TEMPORARY_FAILURE},
    {E, 400, SMTP_CLASS_TEMPORARY_FAILURE},
    {A, 499, SMTP_CLASS_TEMPORARY_FAILURE},
    /* syntax_error */
    {E, 500, SMTP_CLASS_SYNTAX_ERROR},
    {A, 500, SMTP_CLASS_SYNTAX_ERROR},
    {A, 501, SMTP_CLASS_SYNTAX_ERROR},
    {S, 501, SMTP_CLASS_SYNTAX_ERROR},
    /* bad_sequence */
    {A, 503, SMTP_CLASS_BAD_SEQUENCE},
    {S, 503, SMTP_CLASS_BAD_SEQUENCE},
    /* not_implemented */
    {S, 502, SMTP_CLASS_NOT_IMPLEMENTED},
    {E, 502, SMTP_CLASS_NOT_IMPLEMENTED},
    {A, 502, SMTP_CLASS_NOT_IMPLEMENTED},
    /* rejected: any other 5xx */
    {G, 554, SMTP_CLASS_REJECTED},
    {A, 550, SMTP_CLASS_REJECTED},
    {E, 505, SMTP_CLASS_REJECTED},
    {A, 533, SMTP_CLASS_REJECTED},
    {A, 536, SMTP_CLASS_REJECTED},
    {Q, 599, SMTP_CLASS_REJECTED},
};

static void test_classify_reply_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof reply_cases / sizeof reply_cases[0]; i++) {
        enum smtp_class got =
            classify_reply(reply_cases[i].stage, reply_cases[i].code);
        if (got != reply_cases[i].cls)
            fail_msg("case %zu: %s %d: got %s, want %s", i,
                     probe_stage_name(reply_cases[i].stage),
                     reply_cases[i].code, smtp_class_name(got),
                     smtp_class_name(reply_cases[i].cls));
    }
}

static void test_expected_code(void **state)
{
    (void)state;
    static const int want[PROBE_STAGE_COUNT] = {
        [PROBE_STAGE_CONNECT] = 0, [PROBE_STAGE_GREETING] = 220,
        [PROBE_STAGE_EHLO] = 250,  [PROBE_STAGE_STARTTLS] = 220,
        [PROBE_STAGE_TLS] = 0,     [PROBE_STAGE_AUTH] = 235,
        [PROBE_STAGE_QUIT] = 221,
    };
    for (int s = 0; s < PROBE_STAGE_COUNT; s++)
        assert_int_equal(classify_expected_code((enum probe_stage)s), want[s]);
    assert_int_equal(classify_expected_code(PROBE_STAGE_COUNT), 0);
}

/* Every 2xx-5xx code lands in exactly the class its first digit allows. */
static void test_every_code_is_classified(void **state)
{
    (void)state;
    for (int s = 0; s < PROBE_STAGE_COUNT; s++) {
        for (int code = 200; code <= 599; code++) {
            enum smtp_class c = classify_reply((enum probe_stage)s, code);
            if (code < 400 && c != SMTP_CLASS_SUCCESS)
                assert_int_equal(c, SMTP_CLASS_UNEXPECTED);
            else if (code < 400)
                assert_int_equal(code,
                                 classify_expected_code((enum probe_stage)s));
            else if (code < 500)
                assert_int_equal(c, SMTP_CLASS_TEMPORARY_FAILURE);
            else
                assert_true(c != SMTP_CLASS_SUCCESS &&
                            c != SMTP_CLASS_UNEXPECTED &&
                            c != SMTP_CLASS_TEMPORARY_FAILURE);
        }
    }
}

static const char *const want_stages[] = {
    "connect", "greeting", "ehlo", "starttls", "tls", "auth", "quit", "token",
};
static const char *const want_errors[] = {
    "none",
    "dns",
    "connect",
    "timeout",
    "tls_handshake",
    "certificate",
    "starttls_unavailable",
    "closed",
    "malformed",
};
static const char *const want_classes[] = {
    "success",
    "unsupported_parameter",
    "auth_failed",
    "mechanism_too_weak",
    "encryption_required",
    "temporary_failure",
    "syntax_error",
    "bad_sequence",
    "not_implemented",
    "rejected",
    "unexpected",
};

static void test_names_round_trip(void **state)
{
    (void)state;
    assert_int_equal(sizeof want_stages / sizeof *want_stages,
                     PROBE_STAGE_COUNT);
    assert_int_equal(sizeof want_errors / sizeof *want_errors,
                     PROBE_ERROR_COUNT);
    assert_int_equal(sizeof want_classes / sizeof *want_classes,
                     SMTP_CLASS_COUNT);
    for (int i = 0; i < PROBE_STAGE_COUNT; i++) {
        enum probe_stage s = PROBE_STAGE_COUNT;
        assert_string_equal(probe_stage_name((enum probe_stage)i),
                            want_stages[i]);
        assert_int_equal(probe_stage_parse(want_stages[i], &s), 0);
        assert_int_equal(s, i);
    }
    for (int i = 0; i < PROBE_ERROR_COUNT; i++) {
        enum probe_error e = PROBE_ERROR_COUNT;
        assert_string_equal(probe_error_name((enum probe_error)i),
                            want_errors[i]);
        assert_int_equal(probe_error_parse(want_errors[i], &e), 0);
        assert_int_equal(e, i);
    }
    for (int i = 0; i < SMTP_CLASS_COUNT; i++) {
        enum smtp_class c = SMTP_CLASS_COUNT;
        assert_string_equal(smtp_class_name((enum smtp_class)i),
                            want_classes[i]);
        assert_int_equal(smtp_class_parse(want_classes[i], &c), 0);
        assert_int_equal(c, i);
    }
}

static void test_parse_edge_cases(void **state)
{
    (void)state;
    enum smtp_class c = SMTP_CLASS_COUNT;
    enum probe_stage s = PROBE_STAGE_COUNT;
    enum probe_error e = PROBE_ERROR_COUNT;

    /* What a person types at --explain. */
    assert_int_equal(smtp_class_parse("AUTH_FAILED", &c), 0);
    assert_int_equal(c, SMTP_CLASS_AUTH_FAILED);
    assert_int_equal(probe_error_parse("Tls_Handshake", &e), 0);
    assert_int_equal(e, PROBE_ERROR_TLS_HANDSHAKE);

    /* Unknown words leave the output alone. */
    c = SMTP_CLASS_REJECTED;
    assert_int_equal(smtp_class_parse("auth-failed", &c), -1);
    assert_int_equal(smtp_class_parse("", &c), -1);
    assert_int_equal(smtp_class_parse(NULL, &c), -1);
    assert_int_equal(c, SMTP_CLASS_REJECTED);
    assert_int_equal(probe_stage_parse("data", &s), -1);
    assert_int_equal(probe_stage_parse("auth ", &s), -1);
    assert_int_equal(s, PROBE_STAGE_COUNT);
    assert_int_equal(probe_error_parse("refused", &e), -1);

    /* Out-of-range enums never index past a table. */
    assert_string_equal(probe_stage_name(PROBE_STAGE_COUNT), "unknown");
    assert_string_equal(probe_error_name(PROBE_ERROR_COUNT), "unknown");
    assert_string_equal(smtp_class_name(SMTP_CLASS_COUNT), "unknown");
    assert_string_equal(smtp_class_name((enum smtp_class) - 1), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_reply_table),
        cmocka_unit_test(test_expected_code),
        cmocka_unit_test(test_every_code_is_classified),
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_parse_edge_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
