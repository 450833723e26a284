/* test_catalogue: every outcome has words, the words are clean, lookups
 * find them, and the notes read the probe. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

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
    };
    for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
        n = lookup(one[i].what, out);
        if (n != 1)
            fail_msg("%s: %zu entries", one[i].what, n);
        assert_string_equal(out[0]->key, one[i].key);
    }

    /* Unknown: nothing. */
    const char *unknown[] = {"999",      "199",         "600",  "5040",
                             "50",       "foo",         "",     "none",
                             "5.9.9",    "535@nowhere", "535@", "@auth",
                             "abc@auth", "5.7.8@auth",  " 504", "504 "};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        n = lookup(unknown[i], out);
        if (n != 0)
            fail_msg("\"%s\" found %zu entries", unknown[i], n);
    }
    assert_int_equal(catalogue_lookup(NULL, out, 8), 0);
    assert_int_equal(catalogue_lookup("504", out, 0), 0);
}

/* ---- results and notes ------------------------------------------------ */

static struct probe_result base_result(void)
{
    struct probe_result r;
    memset(&r, 0, sizeof(r));
    snprintf(r.target, sizeof(r.target), "mx");
    r.replies[PROBE_STAGE_GREETING] =
        (struct probe_reply){220, SMTP_CLASS_SUCCESS, "", "mx ESMTP", false};
    r.replies[PROBE_STAGE_EHLO] =
        (struct probe_reply){250, SMTP_CLASS_SUCCESS, "", "mx", false};
    r.ehlo_seen = true;
    return r;
}

/* A STARTTLS session whose EHLO after TLS advertised mechs. */
static void with_starttls(struct probe_result *r, const char *const *mechs,
                          size_t n)
{
    r->replies[PROBE_STAGE_STARTTLS] = (struct probe_reply){
        220, SMTP_CLASS_SUCCESS, "2.0.0", "go ahead", false};
    r->tls.present = true;
    r->ehlo.starttls = true;
    r->ehlo.auth = n > 0;
    for (size_t i = 0; i < n; i++)
        snprintf(r->ehlo.mechs[i], sizeof(r->ehlo.mechs[i]), "%s", mechs[i]);
    r->ehlo.n_mechs = n;
}

static void auth_reply(struct probe_result *r, enum sasl_mech mech,
                       bool advertised, int code, const char *enhanced,
                       const char *text)
{
    struct probe_auth *a = &r->auth[r->n_auth++];
    a->mech = mech;
    a->advertised = advertised;
    a->attempted = true;
    a->reply.code = code;
    a->reply.cls = classify_reply(PROBE_STAGE_AUTH, code);
    snprintf(a->reply.enhanced, sizeof(a->reply.enhanced), "%s", enhanced);
    snprintf(a->reply.text, sizeof(a->reply.text), "%s", text);
    if (a->reply.cls != SMTP_CLASS_SUCCESS &&
        r->replies[PROBE_STAGE_AUTH].code == 0) {
        r->replies[PROBE_STAGE_AUTH] = a->reply;
        r->stage = PROBE_STAGE_AUTH;
        r->success = false;
    }
}

static void note_of(const struct probe_result *r, char *buf, size_t n)
{
    catalogue_note(r, buf, n);
    for (const char *p = buf; *p; p++)
        assert_true(*p >= 0x20 && *p <= 0x7e);
}

static void test_for_result(void **state)
{
    (void)state;
    struct probe_result r = base_result();
    r.success = true;
    r.stage = PROBE_STAGE_QUIT;
    assert_null(catalogue_for_result(&r));
    assert_null(catalogue_for_result(NULL));

    r.success = false;
    r.stage = PROBE_STAGE_TLS;
    r.error = PROBE_ERROR_CERTIFICATE;
    assert_string_equal(catalogue_for_result(&r)->key, "certificate");

    r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    auth_reply(&r, SASL_MECH_PLAIN, true, 535, "5.7.8", "bad");
    assert_string_equal(catalogue_for_result(&r)->key, "535@auth");

    /* Postfix's 535 to a mechanism it does not offer: the mechanism's
     * entry, not the password's, whatever the case of the text. */
    r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    auth_reply(&r, SASL_MECH_XOAUTH2, false, 535, "5.7.8",
               "5.7.8 Error: authentication failed: No Mechanism available");
    assert_string_equal(catalogue_for_result(&r)->key, "no_mechanism");
    /* The same words with another code are that code's. */
    r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    auth_reply(&r, SASL_MECH_XOAUTH2, false, 504, "5.5.4",
               "no mechanism available");
    assert_string_equal(catalogue_for_result(&r)->key, "504@auth");

    r = base_result();
    r.stage = PROBE_STAGE_GREETING;
    r.replies[PROBE_STAGE_GREETING] = (struct probe_reply){
        421, SMTP_CLASS_TEMPORARY_FAILURE, "4.3.2", "", false};
    assert_string_equal(catalogue_for_result(&r)->key, "421@greeting");

    /* A failure with neither an error nor a reply still gets words. */
    r = base_result();
    r.stage = PROBE_STAGE_QUIT;
    assert_string_equal(catalogue_for_result(&r)->key, "probe_failed");
}

static void test_note_success_is_empty(void **state)
{
    (void)state;
    char buf[512] = "junk";
    struct probe_result r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    auth_reply(&r, SASL_MECH_PLAIN, true, 235, "2.7.0", "ok");
    r.success = true;
    r.stage = PROBE_STAGE_QUIT;
    r.secret_changed_at = 1700000000;
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, "");
}

static void test_note_unadvertised_mechanism(void **state)
{
    (void)state;
    char buf[512];
    struct probe_result r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN", "LOGIN"}, 2);
    auth_reply(&r, SASL_MECH_CRAM_MD5, false, 504, "5.5.4",
               "Unrecognized authentication type");
    note_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(buf, "did not advertise CRAM-MD5 (504)"));
    assert_non_null(strstr(buf, "advertised AUTH PLAIN LOGIN"));
    /* An advertised mechanism that fails says nothing of the kind. */
    r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN", "LOGIN"}, 2);
    auth_reply(&r, SASL_MECH_PLAIN, true, 504, "5.5.4", "nope");
    note_of(&r, buf, sizeof(buf));
    assert_null(strstr(buf, "did not advertise"));
    /* No AUTH at all after TLS. */
    r = base_result();
    with_starttls(&r, NULL, 0);
    auth_reply(&r, SASL_MECH_PLAIN, false, 535, "5.7.8", "nope");
    note_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(buf, "no AUTH at all"));
}

static void test_note_postfix_no_mechanism(void **state)
{
    (void)state;
    char buf[768];
    struct probe_result r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN", "LOGIN"}, 2);
    auth_reply(&r, SASL_MECH_CRAM_MD5, false, 535, "5.7.8",
               "5.7.8 Error: authentication failed: no mechanism available");
    /* Even right after a password change, it is not the password. */
    r.secret_changed_at = 1764355447;
    note_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(buf, "mechanism problem, not a password problem"));
    assert_non_null(strstr(buf, "CRAM-MD5"));
    assert_non_null(strstr(buf, "advertised AUTH PLAIN LOGIN"));
    /* Two sentences, one space between them. */
    assert_non_null(strstr(buf, "on the server. The 535 to CRAM-MD5 says"));
    assert_null(strstr(buf, "reload"));
    /* Postfix's wrong password is a password problem. */
    r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    auth_reply(&r, SASL_MECH_PLAIN, true, 535, "5.7.8",
               "5.7.8 Error: authentication failed: authentication failure");
    note_of(&r, buf, sizeof(buf));
    assert_null(strstr(buf, "mechanism problem"));
}

static void test_note_auth_and_tls(void **state)
{
    (void)state;
    char buf[512];
    /* tls = none against Postfix: AUTH only after STARTTLS. */
    struct probe_result r = base_result();
    r.ehlo.starttls = true;
    auth_reply(&r, SASL_MECH_PLAIN, false, 503, "5.5.1",
               "5.5.1 Error: authentication not enabled");
    note_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(buf, "AUTH only after STARTTLS"));
    assert_non_null(strstr(buf, "tls = starttls"));

    /* tls = none with AUTH offered in clear, but 538 for PLAIN. */
    r = base_result();
    r.ehlo.starttls = true;
    r.ehlo.auth = true;
    snprintf(r.ehlo.mechs[0], sizeof(r.ehlo.mechs[0]), "PLAIN");
    r.ehlo.n_mechs = 1;
    auth_reply(&r, SASL_MECH_PLAIN, true, 538, "5.7.11", "Encryption");
    note_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(buf, "wants TLS first"));
    /* ... and without STARTTLS: the implicit port. */
    r.ehlo.starttls = false;
    note_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(buf, "tls = implicit"));
    /* A plain 535 in clear says nothing about TLS. */
    r = base_result();
    r.ehlo.auth = true;
    snprintf(r.ehlo.mechs[0], sizeof(r.ehlo.mechs[0]), "PLAIN");
    r.ehlo.n_mechs = 1;
    auth_reply(&r, SASL_MECH_PLAIN, true, 535, "5.7.8", "bad");
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, "");

    /* STARTTLS: AUTH appears only after TLS, and is refused anyway. */
    r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    r.ehlo_pre_tls_auth = false;
    auth_reply(&r, SASL_MECH_PLAIN, true, 530, "5.7.0", "no");
    note_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(buf, "advertised AUTH only after STARTTLS"));
    /* ... which is normal, and no note, when the mechanism is at fault. */
    r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    r.ehlo_pre_tls_auth = false;
    auth_reply(&r, SASL_MECH_XOAUTH2, false, 504, "5.5.4", "no");
    note_of(&r, buf, sizeof(buf));
    assert_null(strstr(buf, "STARTTLS"));
    /* ... and the other way round. */
    r = base_result();
    with_starttls(&r, NULL, 0);
    r.ehlo_pre_tls_auth = true;
    auth_reply(&r, SASL_MECH_PLAIN, false, 503, "5.5.1", "no");
    note_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(buf, "before STARTTLS but not after it"));
}

static void test_note_password_changed(void **state)
{
    (void)state;
    char buf[512];
    struct probe_result r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    auth_reply(&r, SASL_MECH_PLAIN, true, 535, "5.7.8",
               "Authentication credentials invalid");
    r.secret_changed_at = 1764355447.5; /* 2025-11-28 18:44:07 UTC */
    r.auth_ok_since_secret_change = false;
    note_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(buf, "changed at the reload of 2025-11-28 "
                                "18:44:07 UTC"));
    /* AUTH worked since: the reload is not the suspect. */
    r.auth_ok_since_secret_change = true;
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, "");
    /* No reload changed it. */
    r.auth_ok_since_secret_change = false;
    r.secret_changed_at = 0;
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, "");
    /* A 454 after a change is not a password problem. */
    r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    auth_reply(&r, SASL_MECH_PLAIN, true, 454, "4.7.0", "Temporary");
    r.secret_changed_at = 1764355447;
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, "");
}

static void test_note_tls(void **state)
{
    (void)state;
    char buf[512];
    struct probe_result r = base_result();
    r.stage = PROBE_STAGE_STARTTLS;
    r.error = PROBE_ERROR_STARTTLS_UNAVAILABLE;
    snprintf(r.ehlo.keywords[0], sizeof(r.ehlo.keywords[0]), "PIPELINING");
    snprintf(r.ehlo.keywords[1], sizeof(r.ehlo.keywords[1]), "AUTH");
    r.ehlo.n_keywords = 2;
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf,
                        "EHLO did not list STARTTLS; it listed: PIPELINING "
                        "AUTH.");

    r = base_result();
    r.stage = PROBE_STAGE_TLS;
    r.error = PROBE_ERROR_CERTIFICATE;
    snprintf(r.tls.problem, sizeof(r.tls.problem), "certificate has expired");
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, "Certificate check: certificate has expired.");

    /* Behind a load balancer, the second session met another backend. */
    r = base_result();
    r.stage = PROBE_STAGE_TLS;
    r.error = PROBE_ERROR_CERTIFICATE;
    snprintf(r.tls.problem, sizeof(r.tls.problem),
             "session 2 of 2 (LOGIN): certificate has expired");
    r.tls.present = true;
    r.tls_sessions = 2;
    r.tls_odd = 2;
    r.tls_odd_facts.present = true;
    r.tls_odd_facts.not_after = 1609459200; /* 2021-01-01 */
    snprintf(r.tls_odd_facts.subject, sizeof(r.tls_odd_facts.subject),
             "/CN=not-in-a-note");
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(
        buf, "Certificate check: session 2 of 2 (LOGIN): certificate has "
             "expired. Session 2 (of 2 with TLS) met another certificate "
             "than the first, valid until 2021-01-01, which does not "
             "verify; behind a load balancer one backend differs from the "
             "others.");
}

/* A reply that held the secret was withheld: the note says why the text
 * is missing. */
static void test_note_withheld(void **state)
{
    (void)state;
    char buf[512];
    static const char want[] =
        "The server sent back a form of the probe's secret (the password, "
        "its base64 or what AUTH sent); that text is withheld whole, so "
        "that nothing of the secret shows: find out why the server repeats "
        "what clients send.";
    struct probe_result r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    auth_reply(&r, SASL_MECH_PLAIN, true, 535, "5.7.8", "x");
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, "");
    r.auth[0].reply.withheld = true;
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, want);
    r.auth[0].reply.withheld = false;
    r.ehlo_withheld = true;
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, want);
    r.ehlo_withheld = false;
    r.replies[PROBE_STAGE_GREETING].withheld = true;
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

/* The agent's own "*": the 501 after it is no verdict on the password. */
static void test_note_cancelled(void **state)
{
    (void)state;
    char buf[512];
    struct probe_result r = base_result();
    with_starttls(&r, (const char *const[]){"CRAM-MD5"}, 1);
    auth_reply(&r, SASL_MECH_CRAM_MD5, true, 501, "5.7.0", "cancelled");
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, "");
    r.auth[0].cancelled = SASL_STEP_BAD_CHALLENGE;
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, "The agent cancelled AUTH CRAM-MD5 itself (it "
                             "sent \"*\") because the server's challenge is "
                             "not valid base64; the 501 that followed "
                             "answers that cancellation and says nothing "
                             "of the credentials.");
}

/* Server text never reaches a note: it could repeat what we sent. */
static void test_note_copies_no_server_text(void **state)
{
    (void)state;
    char buf[1024];
    const char *secretish = "c2VjcmV0LXBhc3N3b3Jk";
    struct probe_result r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    char text[128];
    snprintf(text, sizeof(text), "no mechanism available %s", secretish);
    auth_reply(&r, SASL_MECH_LOGIN, false, 535, "5.7.8", text);
    auth_reply(&r, SASL_MECH_PLAIN, true, 535, "5.7.8", secretish);
    r.secret_changed_at = 1764355447;
    note_of(&r, buf, sizeof(buf));
    assert_true(strlen(buf) > 0);
    assert_null(strstr(buf, secretish));
    assert_non_null(strstr(buf, "reload")); /* PLAIN's 535 is a password */
}

static void test_note_small_buffers(void **state)
{
    (void)state;
    struct probe_result r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN", "LOGIN"}, 2);
    auth_reply(&r, SASL_MECH_CRAM_MD5, false, 504, "5.5.4", "no");
    char full[512];
    note_of(&r, full, sizeof(full));
    for (size_t n = 1; n < 40; n++) {
        char buf[64];
        memset(buf, 'x', sizeof(buf));
        catalogue_note(&r, buf, n);
        assert_int_equal(strlen(buf), n - 1);
        assert_int_equal(strncmp(buf, full, n - 1), 0);
        assert_int_equal(buf[n], 'x'); /* nothing past the end */
    }
    char untouched = 'x';
    catalogue_note(&r, &untouched, 0);
    assert_int_equal(untouched, 'x');
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
        cmocka_unit_test(test_for_result),
        cmocka_unit_test(test_note_success_is_empty),
        cmocka_unit_test(test_note_unadvertised_mechanism),
        cmocka_unit_test(test_note_postfix_no_mechanism),
        cmocka_unit_test(test_note_auth_and_tls),
        cmocka_unit_test(test_note_password_changed),
        cmocka_unit_test(test_note_tls),
        cmocka_unit_test(test_note_withheld),
        cmocka_unit_test(test_note_cancelled),
        cmocka_unit_test(test_note_copies_no_server_text),
        cmocka_unit_test(test_note_small_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
