/* test_redact: server text that holds a form of the secret is withheld
 * whole, never partly replaced. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "redact.h"
#include "sasl.h"

static void b64(const char *in, size_t n, char *out, size_t cap)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(sasl_base64_encode(in, n, &b), 0);
    assert_true(b.len < cap);
    memcpy(out, b.data, b.len + 1);
    buf_free(&b);
}

static void test_table(void **state)
{
    (void)state;
    static const char secret[] = "Authentication";
    char plain_msg[64], plain_b64[128], xo_b64[256], pw_b64[64];
    /* PLAIN's message: "\0user\0password". */
    memcpy(plain_msg,
           "\0probe\0"
           "Authentication",
           21);
    b64(plain_msg, 21, plain_b64, sizeof(plain_b64));
    static const char xo[] =
        "user=probe\001auth=Bearer Authentication\001\001";
    b64(xo, strlen(xo), xo_b64, sizeof(xo_b64));
    b64(secret, strlen(secret), pw_b64, sizeof(pw_b64));

    struct redactor r;
    redact_init(&r);
    assert_int_equal(redact_add_secret(&r, secret, strlen(secret)), 0);

    char text[512];
    const struct {
        const char *src;
        bool withheld;
    } cases[] = {
        /* The case: a password equal to a word of the reply. A
         * "[secret]" in place of the word would tell the password. */
        {"5.7.8 Authentication credentials invalid", true},
        {"5.7.8 AUTHENTICATION credentials invalid", true},
        {"5.7.8 Bad credentials", false},
        {"Authenticatio is close but not it", false},
        {pw_b64, true},
        /* The secret's base64 inside base64 of a longer message, at any
         * offset: PLAIN's and XOAUTH2's, sent or echoed. */
        {plain_b64, true},
        {xo_b64, true},
        {"", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char src[512];
        snprintf(src, sizeof(src), "535 %s", cases[i].src);
        bool w = redact_copy(&r, text, sizeof(text), src, strlen(src));
        if (w != cases[i].withheld)
            fail_msg("case %zu: withheld %d", i, w);
        if (w)
            assert_string_equal(text, REDACT_WITHHELD);
        else
            assert_string_equal(text, src);
        assert_null(strstr(text, secret));
    }
    redact_free(&r);
}

/* A token sent in one session, echoed in another. */
static void test_tokens(void **state)
{
    (void)state;
    struct redactor r;
    redact_init(&r);
    static const char tok[] = "dXNlciBkZWFkYmVlZg==";
    assert_false(redact_found(&r, tok, strlen(tok)));
    assert_int_equal(redact_add_token(&r, tok, strlen(tok)), 0);
    char greeting[] = "220 mx.example ESMTP dXNlciBkZWFkYmVlZg== ready";
    char out[64];
    assert_true(redact_copy(&r, out, sizeof(out), greeting, strlen(greeting)));
    assert_string_equal(out, REDACT_WITHHELD);
    redact_free(&r);
}

/* Text is cut to fit, and never overruns dst. */
static void test_cut(void **state)
{
    (void)state;
    struct redactor r;
    redact_init(&r);
    assert_int_equal(redact_add_secret(&r, "s3cret-password", 15), 0);
    char out[8];
    assert_false(redact_copy(&r, out, sizeof(out), "250 hello there", 15));
    assert_string_equal(out, "250 hel");
    /* Unprintable bytes of a secret are '?' in reply text. */
    redact_free(&r);
    redact_init(&r);
    assert_int_equal(redact_add_secret(&r, "pass\twith\001tab", 13), 0);
    assert_true(redact_found(&r, "x pass?with?tab y", 17));
    redact_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
