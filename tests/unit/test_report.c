/* test_report: the one reader of a probe result: the entry that
 * explains it, the note of what it showed, and the report every display
 * takes its words from. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "report.h"

/* What the runner knew: reset with every new result. */
static struct report_history hist;

static struct probe_result base_result(void)
{
    memset(&hist, 0, sizeof(hist));
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
    report_note(r, &hist, buf, n);
    for (const char *p = buf; *p; p++)
        assert_true(*p >= 0x20 && *p <= 0x7e);
}

static void test_for_result(void **state)
{
    (void)state;
    struct probe_result r = base_result();
    r.success = true;
    r.stage = PROBE_STAGE_QUIT;
    assert_null(report_entry(&r));
    assert_null(report_entry(NULL));

    r.success = false;
    r.stage = PROBE_STAGE_TLS;
    r.error = PROBE_ERROR_CERTIFICATE;
    assert_string_equal(report_entry(&r)->key, "certificate");

    r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    auth_reply(&r, SASL_MECH_PLAIN, true, 535, "5.7.8", "bad");
    assert_string_equal(report_entry(&r)->key, "535@auth");

    /* A provider's pair has its own entry. */
    r = base_result();
    with_starttls(&r, (const char *const[]){"XOAUTH2"}, 1);
    auth_reply(&r, SASL_MECH_XOAUTH2, true, 535, "5.7.139",
               "Authentication unsuccessful, basic authentication is "
               "disabled.");
    assert_string_equal(report_entry(&r)->key, "535 5.7.139");

    /* No token: stage token's entry. */
    r = base_result();
    r.success = false;
    r.stage = PROBE_STAGE_TOKEN;
    assert_string_equal(report_entry(&r)->key, "token");

    /* Postfix's 535 to a mechanism it does not offer: the mechanism's
     * entry, not the password's, whatever the case of the text. */
    r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    auth_reply(&r, SASL_MECH_XOAUTH2, false, 535, "5.7.8",
               "5.7.8 Error: authentication failed: No Mechanism available");
    assert_string_equal(report_entry(&r)->key, "no_mechanism");
    /* The same words with another code are that code's. */
    r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    auth_reply(&r, SASL_MECH_XOAUTH2, false, 504, "5.5.4",
               "no mechanism available");
    assert_string_equal(report_entry(&r)->key, "504@auth");

    r = base_result();
    r.stage = PROBE_STAGE_GREETING;
    r.replies[PROBE_STAGE_GREETING] = (struct probe_reply){
        421, SMTP_CLASS_TEMPORARY_FAILURE, "4.3.2", "", false};
    assert_string_equal(report_entry(&r)->key, "421@greeting");

    /* A failure with neither an error nor a reply still gets words. */
    r = base_result();
    r.stage = PROBE_STAGE_QUIT;
    assert_string_equal(report_entry(&r)->key, "probe_failed");
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
    hist.secret_changed_at = 1700000000;
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
    hist.secret_changed_at = 1764355447;
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
    hist.secret_changed_at = 1764355447.5; /* 2025-11-28 18:44:07 UTC */
    hist.auth_ok_since_secret_change = false;
    note_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(buf, "changed at the reload of 2025-11-28 "
                                "18:44:07 UTC"));
    /* AUTH worked since: the reload is not the suspect. */
    hist.auth_ok_since_secret_change = true;
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, "");
    /* No reload changed it. */
    hist.auth_ok_since_secret_change = false;
    hist.secret_changed_at = 0;
    note_of(&r, buf, sizeof(buf));
    assert_string_equal(buf, "");
    /* A 454 after a change is not a password problem. */
    r = base_result();
    with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
    auth_reply(&r, SASL_MECH_PLAIN, true, 454, "4.7.0", "Temporary");
    hist.secret_changed_at = 1764355447;
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
    hist.secret_changed_at = 1764355447;
    note_of(&r, buf, sizeof(buf));
    assert_true(strlen(buf) > 0);
    assert_null(strstr(buf, secretish));
    assert_non_null(strstr(buf, "reload")); /* PLAIN's 535 is a password */
}

static void test_note_oauth_status(void **state)
{
    (void)state;
    char buf[1024];
    struct probe_result r = base_result();
    with_starttls(&r, (const char *const[]){"OAUTHBEARER"}, 1);
    auth_reply(&r, SASL_MECH_OAUTHBEARER, true, 535, "5.7.8", "no");
    note_of(&r, buf, sizeof(buf));
    assert_null(strstr(buf, "OAuth error"));
    snprintf(r.auth[0].oauth_status, sizeof(r.auth[0].oauth_status), "%s",
             "invalid_token");
    note_of(&r, buf, sizeof(buf));
    assert_non_null(strstr(buf,
                           "OAUTHBEARER token with an OAuth error of status "
                           "invalid_token"));
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
        report_note(&r, &hist, buf, n);
        assert_int_equal(strlen(buf), n - 1);
        assert_int_equal(strncmp(buf, full, n - 1), 0);
        assert_int_equal(buf[n], 'x'); /* nothing past the end */
    }
    char untouched = 'x';
    report_note(&r, &hist, &untouched, 0);
    assert_int_equal(untouched, 'x');
}

/* ---- report_make: the one reading every display takes ------------ */

enum shape { OK, AUTH_535, TIMEOUT, NO_REPLY, PENDING, FAULT, CERT };

static struct probe_result shaped(enum shape sh)
{
    struct probe_result r = base_result();
    r.start_time = 1700000000;
    switch (sh) {
    case OK:
        with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
        auth_reply(&r, SASL_MECH_PLAIN, true, 235, "2.7.0", "ok");
        r.replies[PROBE_STAGE_QUIT] =
            (struct probe_reply){221, SMTP_CLASS_SUCCESS, "", "bye", false};
        r.success = true;
        r.stage = PROBE_STAGE_QUIT;
        break;
    case AUTH_535:
        with_starttls(&r, (const char *const[]){"PLAIN"}, 1);
        auth_reply(&r, SASL_MECH_PLAIN, true, 535, "5.7.8", "bad");
        snprintf(r.detail, sizeof(r.detail), "AUTH PLAIN: 535 bad");
        r.detail_auth = 1;
        break;
    case TIMEOUT:
        /* An earlier stage's reply is there; it must not be shown as
         * the one that decided. */
        r.stage = PROBE_STAGE_STARTTLS;
        r.error = PROBE_ERROR_TIMEOUT;
        snprintf(r.detail, sizeof(r.detail), "starttls: no reply");
        break;
    case NO_REPLY:
        r.stage = PROBE_STAGE_AUTH; /* failed, yet no error and no reply */
        break;
    case PENDING:
        r.start_time = 0;
        break;
    case FAULT:
        r.fault = PROBE_FAULT_FILE_DESCRIPTORS;
        snprintf(r.detail, sizeof(r.detail), "socket(): Too many open files");
        break;
    case CERT:
        with_starttls(&r, NULL, 0);
        r.tls.not_after = 1700000000 + 10 * 86400 + 43200;
        r.stage = PROBE_STAGE_TLS;
        r.error = PROBE_ERROR_CERTIFICATE;
        break;
    }
    return r;
}

static void test_report_make(void **state)
{
    (void)state;
    static const struct {
        enum shape shape;
        enum report_state state;
        const char *outcome;
        int reply_code; /* 0: no deciding reply */
        const char *entry;
        bool detail_adds, note, cert;
    } cases[] = {
        {OK, REPORT_OK, "success", 221, NULL, false, false, false},
        {AUTH_535, REPORT_FAILING, "auth_failed", 535, "535@auth", false,
         false, false},
        {TIMEOUT, REPORT_FAILING, "timeout", 0, "timeout", true, false, false},
        {NO_REPLY, REPORT_FAILING, "-", 0, "probe_failed", false, false,
         false},
        {PENDING, REPORT_PENDING, "-", 0, "probe_failed", false, false, false},
        {FAULT, REPORT_AGENT_FAULT, "agent:file_descriptors", 0, NULL, true,
         true, false},
        {CERT, REPORT_FAILING, "certificate", 0, "certificate", false, false,
         true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct probe_result r = shaped(cases[i].shape);
        struct report rep;
        memset(&rep, 0x5a, sizeof(rep)); /* every field must be written */
        report_make(&rep, &r, NULL, 1700000000);
        if (rep.state != cases[i].state)
            fail_msg("case %zu: state %s", i, report_state_name(rep.state));
        assert_int_equal(report_state_of(&r), cases[i].state);
        if (strcmp(rep.outcome, cases[i].outcome) != 0)
            fail_msg("case %zu: outcome %s", i, rep.outcome);
        assert_int_equal(rep.reply ? rep.reply->code : 0, cases[i].reply_code);
        if (cases[i].entry) {
            assert_non_null(rep.entry);
            assert_string_equal(rep.entry->key, cases[i].entry);
        } else {
            assert_null(rep.entry);
        }
        if (rep.detail_adds != cases[i].detail_adds)
            fail_msg("case %zu: detail_adds %d", i, rep.detail_adds);
        if ((rep.note[0] != '\0') != cases[i].note)
            fail_msg("case %zu: note \"%s\"", i, rep.note);
        assert_int_equal(rep.has_cert_days, cases[i].cert);
    }
    /* Days left count from the time given, to the hour. */
    struct probe_result r = shaped(CERT);
    struct report rep;
    report_make(&rep, &r, NULL, 1700000000);
    assert_true(rep.cert_days_left > 10.49 && rep.cert_days_left < 10.51);
    report_make(&rep, &r, NULL, 1700000000 + 11 * 86400);
    assert_true(rep.cert_days_left < 0);
    /* The fault's note says what to do about the agent, not the target. */
    r = shaped(FAULT);
    report_make(&rep, &r, NULL, 1700000000);
    assert_non_null(strstr(rep.note, "LimitNOFILE"));
    /* The history reaches the note through report_make too. */
    r = shaped(AUTH_535);
    struct report_history h = {.secret_changed_at = 1699999000};
    report_make(&rep, &r, &h, 1700000000);
    assert_non_null(strstr(rep.note, "changed at the reload of"));
    report_make(&rep, &r, NULL, 1700000000);
    assert_string_equal(rep.note, "");
}

/* A failed refusal check: failing though the probe succeeded, with the
 * check's entry and a note that quotes it; a passed or unrun one, or one
 * not configured, changes nothing. */
static void test_failed_check(void **state)
{
    (void)state;
    struct probe_result r = base_result();
    r.success = true;
    r.stage = PROBE_STAGE_QUIT;
    r.start_time = 1e9;
    struct report rep;
    report_make(&rep, &r, NULL, 1e9);
    assert_int_equal(rep.state, REPORT_OK);

    /* Failed but not configured: not the target's concern. */
    r.checks[CHECK_OPEN_RELAY].verdict = CHECK_FAILED;
    assert_int_equal(report_state_of(&r), REPORT_OK);

    r.checks[CHECK_OPEN_RELAY].configured = true;
    r.checks[CHECK_EHLO].configured = true;
    r.checks[CHECK_EHLO].verdict = CHECK_PASSED;
    snprintf(r.checks[CHECK_OPEN_RELAY].detail,
             sizeof(r.checks[CHECK_OPEN_RELAY].detail),
             "RCPT TO:<x@example.net>: 250 2.1.5 Ok");
    assert_int_equal(report_failed_check(&r), CHECK_OPEN_RELAY);
    report_make(&rep, &r, NULL, 1e9);
    assert_int_equal(rep.state, REPORT_FAILING);
    assert_string_equal(rep.outcome, "check_failed");
    assert_non_null(rep.entry);
    assert_string_equal(rep.entry->key, "check_open_relay");
    assert_string_equal(
        rep.note, "every stage passed (smtp_probe_success stays 1), but "
                  "the open_relay check failed: RCPT TO:<x@example.net>: "
                  "250 2.1.5 Ok");

    /* Not run says nothing. */
    r.checks[CHECK_OPEN_RELAY].verdict = CHECK_NOT_RUN;
    assert_int_equal(report_state_of(&r), REPORT_OK);
    /* A failed probe stays the probe's failure first. */
    r.checks[CHECK_OPEN_RELAY].verdict = CHECK_FAILED;
    r.success = false;
    r.stage = PROBE_STAGE_GREETING;
    r.error = PROBE_ERROR_TIMEOUT;
    report_make(&rep, &r, NULL, 1e9);
    assert_string_equal(rep.outcome, "timeout");
    /* Every check has an entry. */
    for (int k = 0; k < CHECK_COUNT; k++)
        assert_non_null(report_check_entry((enum probe_check)k));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
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
        cmocka_unit_test(test_note_oauth_status),
        cmocka_unit_test(test_note_small_buffers),
        cmocka_unit_test(test_report_make),
        cmocka_unit_test(test_failed_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
