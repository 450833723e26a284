/* test_check: require_ehlo's syntax (what config refuses) and its
 * verdict on an EHLO, the recipient's syntax, and the names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "check.h"

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(check_name(CHECK_AUTH_BEFORE_TLS), "auth_before_tls");
    assert_string_equal(check_name(CHECK_OPEN_RELAY), "open_relay");
    assert_string_equal(check_name(CHECK_EHLO), "ehlo");
    assert_string_equal(check_name(CHECK_COUNT), "unknown");
    assert_string_equal(check_verdict_name(CHECK_NOT_RUN), "not_run");
    assert_string_equal(check_verdict_name(CHECK_FAILED), "failed");
}

static const struct {
    const char *value;
    const char *why; /* NULL: accepted */
} parse_cases[] = {
    {"PIPELINING", NULL},
    {"PIPELINING SMTPUTF8 SIZE>=10485760", NULL},
    {"pipelining,8bitmime,  size>=1", NULL},
    {"X-EXPS", NULL},
    {"SIZE>=0", NULL},
    {"", "no keyword given"},
    {" , ", "no keyword given"},
    {"SIZE>=", "\"SIZE>=\": SIZE>= takes a whole number of bytes, like "
               "SIZE>=10485760"},
    {"SIZE>=10M", "\"SIZE>=10M\": SIZE>= takes a whole number of bytes, "
                  "like SIZE>=10485760"},
    {"SIZE>=12345678901234567890", "\"SIZE>=12345678901234567890\": SIZE>= "
                                   "takes a whole number of bytes, like "
                                   "SIZE>=10485760"},
    {"SIZE>=1 SIZE>=2", "SIZE>= is given twice"},
    {"-PIPELINING", "\"-PIPELINING\" is neither an EHLO keyword "
                    "([A-Za-z0-9-], at most 32 characters) nor SIZE>=N"},
    {"SIZE>10", "\"SIZE>10\" is neither an EHLO keyword ([A-Za-z0-9-], at "
                "most 32 characters) nor SIZE>=N"},
    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                          "\" is neither an EHLO keyword "
                                          "([A-Za-z0-9-], at most 32 "
                                          "characters) nor SIZE>=N"},
    {"A B C D E F G H I J K L M N O P Q", "at most 16 words"},
};

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        char why[160] = "unset";
        int rc = check_ehlo_parse(parse_cases[i].value, why, sizeof(why));
        if (!parse_cases[i].why) {
            if (rc != 0)
                fail_msg("\"%s\" refused: %s", parse_cases[i].value, why);
            continue;
        }
        if (rc != -1 || strcmp(why, parse_cases[i].why) != 0)
            fail_msg("\"%s\": rc %d, why \"%s\", expected \"%s\"",
                     parse_cases[i].value, rc, why, parse_cases[i].why);
    }
}

static struct smtp_ehlo postfix_ehlo(uint64_t size, bool has_size)
{
    struct smtp_ehlo e;
    memset(&e, 0, sizeof(e));
    const char *kw[] = {
        "PIPELINING", "SIZE", "ETRN",     "AUTH",    "ENHANCEDSTATUSCODES",
        "8BITMIME",   "DSN",  "SMTPUTF8", "CHUNKING"};
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++) {
        if (!has_size && strcmp(kw[i], "SIZE") == 0)
            continue;
        snprintf(e.keywords[e.n_keywords++], sizeof(e.keywords[0]), "%s",
                 kw[i]);
    }
    e.has_size = has_size;
    e.size = size;
    return e;
}

static const struct {
    const char *value;
    uint64_t size;
    bool has_size;
    bool ok;
    const char *missing;
} eval_cases[] = {
    {"PIPELINING SMTPUTF8 SIZE>=10240000", 10240000, true, true, ""},
    {"pipelining smtputf8", 10240000, true, true, ""},
    {"SIZE>=10485760", 10240000, true, false, "SIZE 10240000 < 10485760"},
    /* SIZE 0: no fixed limit, meets any minimum (RFC 1870). */
    {"SIZE>=10485760", 0, true, true, ""},
    {"SIZE>=1", 0, false, false, "SIZE not advertised"},
    {"PIPELINING X-MISSING REQUIRETLS SIZE>=20000000", 10240000, true, false,
     "X-MISSING not advertised; REQUIRETLS not advertised; SIZE 10240000 < "
     "20000000"},
    /* A keyword is matched whole, never as a prefix. */
    {"PIPE", 10240000, true, false, "PIPE not advertised"},
};

static void test_eval(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof eval_cases / sizeof eval_cases[0]; i++) {
        struct smtp_ehlo e =
            postfix_ehlo(eval_cases[i].size, eval_cases[i].has_size);
        char missing[256] = "unset";
        bool ok =
            check_ehlo_eval(eval_cases[i].value, &e, missing, sizeof(missing));
        if (ok != eval_cases[i].ok ||
            strcmp(missing, eval_cases[i].missing) != 0)
            fail_msg("case %zu \"%s\": ok %d, missing \"%s\"", i,
                     eval_cases[i].value, ok, missing);
    }
    /* A small buffer is cut, never overrun. */
    struct smtp_ehlo e = postfix_ehlo(1, true);
    char small[12];
    assert_false(
        check_ehlo_eval("X-ONE X-TWO X-THREE", &e, small, sizeof(small)));
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_rcpt(void **state)
{
    (void)state;
    assert_true(check_valid_rcpt("someone@example.net"));
    assert_true(check_valid_rcpt(CHECK_DEFAULT_RELAY_RCPT));
    assert_true(check_valid_rcpt("a@[192.0.2.1]"));
    assert_false(check_valid_rcpt(""));
    assert_false(check_valid_rcpt("nobody"));
    assert_false(check_valid_rcpt("@example.net"));
    assert_false(check_valid_rcpt("a@"));
    assert_false(check_valid_rcpt("a@b@c"));
    assert_false(check_valid_rcpt("a b@example.net"));
    assert_false(check_valid_rcpt("<a@example.net>"));
    assert_false(check_valid_rcpt("a@example.net\r\nDATA"));
    char long_rcpt[300];
    memset(long_rcpt, 'a', sizeof(long_rcpt));
    memcpy(long_rcpt + 250, "@x.net", 7);
    assert_false(check_valid_rcpt(long_rcpt));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_eval),
        cmocka_unit_test(test_rcpt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
