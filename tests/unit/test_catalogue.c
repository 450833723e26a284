/* test_catalogue: every outcome has words, the words are clean, lookups
 * find them. (The notes, which read a probe, are test_report's.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "catalogue.h"

/* Printable ASCII, no newline, not empty; a sentence ends in a period. */
static void check_text(const char *key, const char *what, const char *s,
                       bool sentence)
{
    if (!s || !*s)
        fail_msg("%s: %s is empty", key, what);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            fail_msg("%s: %s has byte 0x%02x", key, what, (unsigned char)*p);
    size_t len = strlen(s);
    if (s[0] == ' ' || s[len - 1] == ' ' || strstr(s, "  "))
        fail_msg("%s: %s has stray spaces: \"%s\"", key, what, s);
    if (sentence && s[len - 1] != '.')
        fail_msg("%s: %s does not end in a period: \"%s\"", key, what, s);
    if (!sentence && s[len - 1] == '.')
        fail_msg("%s: %s (a title) ends in a period", key, what);
}

static void check_entry(const struct catalogue_entry *e)
{
    assert_non_null(e);
    assert_non_null(e->key);
    check_text(e->key, "key", e->key, false);
    check_text(e->key, "title", e->title, false);
    check_text(e->key, "meaning", e->meaning, true);
    check_text(e->key, "when", e->when, true);
    check_text(e->key, "fix", e->fix, true);
    if (e->neighbours)
        check_text(e->key, "neighbours", e->neighbours, true);
    assert_true(strlen(e->title) <= 60);
}

static void test_every_entry_is_clean_and_unique(void **state)
{
    (void)state;
    size_t n = catalogue_count();
    assert_true(n > 80);
    assert_null(catalogue_at(n));
    for (size_t i = 0; i < n; i++) {
        const struct catalogue_entry *e = catalogue_at(i);
        check_entry(e);
        for (size_t j = 0; j < i; j++)
            if (strcmp(catalogue_at(j)->key, e->key) == 0)
                fail_msg("key %s twice", e->key);
        /* Every key is found again by what an operator would type. */
        const struct catalogue_entry *found[8];
        size_t k = catalogue_lookup(e->key, found, 8);
        bool hit = false;
        for (size_t m = 0; m < k; m++)
            hit = hit || found[m] == e;
        if (!hit)
            fail_msg("--explain %s does not find its own entry", e->key);
    }
}

static void test_every_class_and_error(void **state)
{
    (void)state;
    for (int c = 0; c < SMTP_CLASS_COUNT; c++) {
        const struct catalogue_entry *e = catalogue_class((enum smtp_class)c);
        check_entry(e);
        assert_string_equal(e->key, smtp_class_name((enum smtp_class)c));
    }
    for (int x = PROBE_ERROR_NONE + 1; x < PROBE_ERROR_COUNT; x++) {
        const struct catalogue_entry *e = catalogue_error((enum probe_error)x);
        check_entry(e);
        assert_string_equal(e->key, probe_error_name((enum probe_error)x));
    }
    assert_null(catalogue_class(SMTP_CLASS_COUNT));
    assert_null(catalogue_class((enum smtp_class) - 1));
    assert_null(catalogue_error(PROBE_ERROR_NONE));
    assert_null(catalogue_error(PROBE_ERROR_COUNT));
}

/* Every code the classifier can be handed, at every stage. */
static void test_every_code_at_every_stage(void **state)
{
    (void)state;
    for (int s = 0; s < PROBE_STAGE_COUNT; s++) {
        enum probe_stage st = (enum probe_stage)s;
        for (int code = 200; code <= 599; code++) {
            const struct catalogue_entry *e = catalogue_code(st, code);
            if (!e)
                fail_msg("no entry for %d at %s", code, probe_stage_name(st));
            check_entry(e);
            enum smtp_class cls = classify_reply(st, code);
            char own[32], general[8];
            snprintf(own, sizeof(own), "%d@%s", code, probe_stage_name(st));
            snprintf(general, sizeof(general), "%d", code);
            /* A success is explained by that stage's own entry; anything
             * else by the stage's, the code's or the class's. */
            if (cls == SMTP_CLASS_SUCCESS)
                assert_string_equal(e->key, own);
            else if (strcmp(e->key, own) != 0 && strcmp(e->key, general) != 0)
                assert_string_equal(e->key, smtp_class_name(cls));
            /* A general entry never explains a 2xx or 3xx. */
            if (code < 400)
                assert_string_not_equal(e->key, general);
        }
    }
}

/* The codes of RFC 5321, 3207 and 4954 at their stages have their own
 * words, not just their class's. */
static void test_rfc_codes_have_own_entries(void **state)
{
    (void)state;
    static const struct {
        enum probe_stage stage;
        int code;
        const char *key;
    } cases[] = {
        {PROBE_STAGE_GREETING, 220, "220@greeting"},
        {PROBE_STAGE_GREETING, 421, "421@greeting"},
        {PROBE_STAGE_GREETING, 554, "554@greeting"},
        {PROBE_STAGE_EHLO, 250, "250@ehlo"},
        {PROBE_STAGE_EHLO, 500, "500@ehlo"},
        {PROBE_STAGE_EHLO, 501, "501@ehlo"},
        {PROBE_STAGE_EHLO, 502, "502@ehlo"},
        {PROBE_STAGE_EHLO, 504, "504@ehlo"},
        {PROBE_STAGE_EHLO, 550, "550@ehlo"},
        {PROBE_STAGE_EHLO, 421, "421@ehlo"},
        {PROBE_STAGE_STARTTLS, 220, "220@starttls"},
        {PROBE_STAGE_STARTTLS, 454, "454@starttls"},
        {PROBE_STAGE_STARTTLS, 501, "501@starttls"},
        {PROBE_STAGE_STARTTLS, 502, "502@starttls"},
        {PROBE_STAGE_AUTH, 235, "235@auth"},
        {PROBE_STAGE_AUTH, 334, "334@auth"},
        {PROBE_STAGE_AUTH, 432, "432@auth"},
        {PROBE_STAGE_AUTH, 454, "454@auth"},
        {PROBE_STAGE_AUTH, 500, "500@auth"},
        {PROBE_STAGE_AUTH, 501, "501@auth"},
        {PROBE_STAGE_AUTH, 503, "503@auth"},
        {PROBE_STAGE_AUTH, 504, "504@auth"},
        {PROBE_STAGE_AUTH, 530, "530@auth"},
        {PROBE_STAGE_AUTH, 534, "534@auth"},
        {PROBE_STAGE_AUTH, 535, "535@auth"},
        {PROBE_STAGE_AUTH, 538, "538@auth"},
        {PROBE_STAGE_QUIT, 221, "221@quit"},
        /* general fallbacks */
        {PROBE_STAGE_QUIT, 421, "421"},
        {PROBE_STAGE_EHLO, 450, "450"},
        {PROBE_STAGE_AUTH, 451, "451"},
        {PROBE_STAGE_EHLO, 452, "452"},
        {PROBE_STAGE_EHLO, 454, "454"},
        {PROBE_STAGE_EHLO, 455, "455"},
        {PROBE_STAGE_EHLO, 503, "503"},
        {PROBE_STAGE_AUTH, 550, "550"},
        {PROBE_STAGE_AUTH, 552, "552"},
        {PROBE_STAGE_AUTH, 553, "553"},
        {PROBE_STAGE_AUTH, 554, "554"},
        {PROBE_STAGE_AUTH, 555, "555"},
        {PROBE_STAGE_GREETING, 504, "504"},
        {PROBE_STAGE_GREETING, 535, "535"},
        /* no entry of its own: the class speaks */
        {PROBE_STAGE_AUTH, 250, "unexpected"},
        {PROBE_STAGE_GREETING, 334, "unexpected"},
        {PROBE_STAGE_AUTH, 459, "temporary_failure"},
        {PROBE_STAGE_AUTH, 599, "rejected"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct catalogue_entry *e =
            catalogue_code(cases[i].stage, cases[i].code);
        assert_non_null(e);
        if (strcmp(e->key, cases[i].key) != 0)
            fail_msg("%d at %s: got %s, want %s", cases[i].code,
                     probe_stage_name(cases[i].stage), e->key, cases[i].key);
    }
    /* The AUTH family tells its members apart. */
    const char *family[] = {"504@auth", "535@auth", "538@auth",
                            "534@auth", "454@auth", "530@auth"};
    for (size_t i = 0; i < 6; i++) {
        const struct catalogue_entry *out[2];
        assert_int_equal(catalogue_lookup(family[i], out, 2), 1);
        assert_non_null(out[0]->neighbours);
    }
    const struct catalogue_entry *out[2];
    catalogue_lookup("504@auth", out, 2);
    for (size_t i = 0; i < 3; i++) {
        const char *code[] = {"535", "534", "538"};
        assert_non_null(strstr(out[0]->neighbours, code[i]));
    }
    catalogue_lookup("535@auth", out, 2);
    for (size_t i = 0; i < 4; i++) {
        const char *code[] = {"504", "534", "538", "454"};
        assert_non_null(strstr(out[0]->neighbours, code[i]));
    }
}

static void test_enhanced(void **state)
{
    (void)state;
    const char *known[] = {"2.7.0", "4.7.0", "4.7.12", "4.3.2", "4.4.2",
                           "5.5.1", "5.5.2", "5.5.4",  "5.7.0", "5.7.1",
                           "5.7.8", "5.7.9", "5.7.11"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const struct catalogue_entry *e = catalogue_enhanced(known[i]);
        if (!e)
            fail_msg("no entry for %s", known[i]);
        assert_string_equal(e->key, known[i]);
    }
    const char *bad[] = {"5.7.99", "5.7",    "5.7.8 ", "3.7.8", "5..8",
                         "5.7.a",  "5.7.8.", "",       "57.8",  "5.1234.1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (catalogue_enhanced(bad[i]))
            fail_msg("entry for \"%s\"", bad[i]);
    assert_null(catalogue_enhanced(NULL));
}

static size_t lookup(const char *what, const struct catalogue_entry **out)
{
    return catalogue_lookup(what, out, 8);
}

static void test_lookup(void **state)
{
    (void)state;
    const struct catalogue_entry *out[8];

    /* A bare code: each stage's own entry, then what the rest share. */
    size_t n = lookup("504", out);
    assert_int_equal(n, 3);
    assert_string_equal(out[0]->key, "504@ehlo");
    assert_string_equal(out[1]->key, "504@auth");
    assert_string_equal(out[2]->key, "504");
    n = lookup("535", out);
    assert_int_equal(n, 2);
    assert_string_equal(out[0]->key, "535@auth");
    assert_string_equal(out[1]->key, "535");
    n = lookup("220", out);
    assert_int_equal(n, 3);
    assert_string_equal(out[0]->key, "220@greeting");
    assert_string_equal(out[1]->key, "220@starttls");
    assert_string_equal(out[2]->key, "unexpected");
    n = lookup("459", out); /* no entry anywhere: the class */
    assert_int_equal(n, 1);
    assert_string_equal(out[0]->key, "temporary_failure");
    /* cap is respected */
    assert_int_equal(catalogue_lookup("504", out, 1), 1);
    assert_string_equal(out[0]->key, "504@ehlo");

    /* A code at a stage, a class, an error, an enhanced code. */
    struct {
        const char *what, *key;
    } one[] = {
        {"535@auth", "535@auth"},
        {"535@AUTH", "535@auth"},
        {"504@auth", "504@auth"},
        {"535@greeting", "535"},
        {"250@auth", "unexpected"},
        {"auth_failed", "auth_failed"},
        {"AUTH_FAILED", "auth_failed"},
        {"unsupported_parameter", "unsupported_parameter"},
        {"5.7.8", "5.7.8"},
        {"timeout", "timeout"},
        {"connect", "connect"},
        {"starttls_unavailable", "starttls_unavailable"},
        {"certificate", "certificate"},
        {"probe_failed", "probe_failed"},
        {"token", "token"},
        {"535 5.7.139", "535 5.7.139"},
        {"530 5.7.57", "530 5.7.57"},
    };
    for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
        n = lookup(one[i].what, out);
        if (n != 1)
            fail_msg("%s: %zu entries", one[i].what, n);
        assert_string_equal(out[0]->key, one[i].key);
    }

    /* Unknown: nothing. */
    const char *unknown[] = {"999",        "199",         "600",  "5040",
                             "50",         "foo",         "",     "none",
                             "5.9.9",      "535@nowhere", "535@", "@auth",
                             "abc@auth",   "5.7.8@auth",  " 504", "504 ",
                             "535 5.7.99", "535 x"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        n = lookup(unknown[i], out);
        if (n != 0)
            fail_msg("\"%s\" found %zu entries", unknown[i], n);
    }
    assert_int_equal(catalogue_lookup(NULL, out, 8), 0);
    assert_int_equal(catalogue_lookup("504", out, 0), 0);
}

/* A provider's pair before the code's entry; a pair that other servers
 * send too only with the provider's words. */
static void test_reply_pairs(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *enhanced, *text, *key;
    } cases[] = {
        {535, "5.7.139",
         "Authentication unsuccessful, SmtpClientAuthentication is disabled "
         "for the Tenant.",
         "535 5.7.139"},
        {535, "5.7.139", "", "535 5.7.139"},
        {550, "5.7.30",
         "Basic authentication is not supported for Client "
         "Submission.",
         "550 5.7.30"},
        {535, "5.7.3", "Authentication unsuccessful", "535 5.7.3"},
        {530, "5.7.57", "Client not authenticated to send mail.",
         "530 5.7.57"},
        {535, "5.7.8", "Username and Password not accepted. For more",
         "535 5.7.8"},
        /* Postfix's and aiosmtpd's 535 5.7.8 are not Gmail's. */
        {535, "5.7.8", "Error: authentication failed: authentication failure",
         "535@auth"},
        {535, "5.7.8", "Authentication credentials invalid", "535@auth"},
        {534, "5.7.9", "Application-specific password required. Learn more",
         "534 5.7.9"},
        {534, "5.7.9", "Authentication mechanism is too weak", "534@auth"},
        {454, "4.7.0", "Too many login attempts, please try again later.",
         "454 4.7.0"},
        {454, "4.7.0", "Temporary authentication failure", "454@auth"},
        {535, "", "anything", "535@auth"},
        {535, NULL, NULL, "535@auth"},
        {535, "5.7.99", "", "535@auth"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct catalogue_entry *e = catalogue_reply(
            PROBE_STAGE_AUTH, cases[i].code, cases[i].enhanced, cases[i].text);
        assert_non_null(e);
        if (strcmp(e->key, cases[i].key) != 0)
            fail_msg("case %zu: %s, want %s", i, e->key, cases[i].key);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_entry_is_clean_and_unique),
        cmocka_unit_test(test_every_class_and_error),
        cmocka_unit_test(test_every_code_at_every_stage),
        cmocka_unit_test(test_rfc_codes_have_own_entries),
        cmocka_unit_test(test_enhanced),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_reply_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
