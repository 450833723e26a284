/* report: what a probe result means; the one reader that --once, the
 * status page and the runner's log line ask. */
#include "report.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sasl.h"

static const char *const state_names[] = {
    [REPORT_PENDING] = "pending",
    [REPORT_OK] = "ok",
    [REPORT_FAILING] = "failing",
    [REPORT_AGENT_FAULT] = "agent_fault",
};
_Static_assert(sizeof state_names / sizeof state_names[0] ==
                   REPORT_STATE_COUNT,
               "a name for every report state");

const char *report_state_name(enum report_state state)
{
    if ((unsigned)state >= REPORT_STATE_COUNT)
        return "unknown";
    return state_names[state];
}

double report_days_left(double not_after, double now)
{
    return (not_after - now) / (24 * 60 * 60);
}

/* Postfix's "535 5.7.8 Error: authentication failed: no mechanism
 * available": a mechanism it does not offer, not a refused password. */
static bool no_mechanism_text(const struct probe_reply *rep)
{
    return rep->code == 535 && strcasestr(rep->text, "no mechanism");
}

const struct catalogue_entry *report_entry(const struct probe_result *r)
{
    if (!r || r->success || r->fault != PROBE_FAULT_NONE)
        return NULL;
    if (r->error != PROBE_ERROR_NONE) {
        const struct catalogue_entry *e = catalogue_error(r->error);
        if (e)
            return e;
    }
    if ((int)r->stage >= 0 && r->stage < PROBE_STAGE_COUNT &&
        r->replies[r->stage].code) {
        /* The code says password, the text says mechanism: the text is
         * what the operator has to act on. */
        if (r->stage == PROBE_STAGE_AUTH &&
            no_mechanism_text(&r->replies[r->stage]))
            return catalogue_find("no_mechanism");
        return catalogue_reply(r->stage, r->replies[r->stage].code,
                               r->replies[r->stage].enhanced,
                               r->replies[r->stage].text);
    }
    if (r->stage == PROBE_STAGE_TOKEN)
        return catalogue_find("token");
    /* Failed without an error or a reply: nothing more precise to say. */
    return catalogue_find("probe_failed");
}

/* ---- notes -------------------------------------------------------- */

/* Appends to a NUL-terminated buffer, cutting what does not fit. */
struct note {
    char *buf;
    size_t cap, len;
};

static void note_vadd(struct note *nb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void note_vadd(struct note *nb, const char *fmt, va_list ap)
{
    if (nb->cap == 0 || nb->len + 1 >= nb->cap)
        return;
    int w = vsnprintf(nb->buf + nb->len, nb->cap - nb->len, fmt, ap);
    if (w < 0)
        nb->buf[nb->len] = '\0';
    else if ((size_t)w >= nb->cap - nb->len)
        nb->len = nb->cap - 1;
    else
        nb->len += (size_t)w;
}

static void note_add(struct note *nb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note_add(struct note *nb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note_vadd(nb, fmt, ap);
    va_end(ap);
}

/* One more sentence of a note, after a space when one came before. */
static void note_sentence(struct note *nb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note_sentence(struct note *nb, const char *fmt, ...)
{
    if (nb->len)
        note_add(nb, " ");
    va_list ap;
    va_start(ap, fmt);
    note_vadd(nb, fmt, ap);
    va_end(ap);
}

/* The mechanisms EHLO advertised, space-separated, or "none". */
static void list_mechs(const struct smtp_ehlo *e, char *dst, size_t n)
{
    struct note l = {dst, n, 0};
    if (n)
        dst[0] = '\0';
    for (size_t i = 0; i < e->n_mechs && i < SMTP_EHLO_MAX_MECHS; i++)
        note_add(&l, "%s%s", i ? " " : "", e->mechs[i]);
    if (l.len == 0)
        note_add(&l, "none");
}

/* The session was in clear text all the way to AUTH: tls = none. */
static bool auth_in_clear(const struct probe_result *r)
{
    return !r->tls.present && r->replies[PROBE_STAGE_STARTTLS].code == 0;
}

/* The session went through STARTTLS (and so had two EHLOs). */
static bool went_through_starttls(const struct probe_result *r)
{
    return r->replies[PROBE_STAGE_STARTTLS].code ==
               classify_expected_code(PROBE_STAGE_STARTTLS) &&
           r->tls.present;
}

/* 504 or 535 to a mechanism EHLO did not advertise, and Postfix's "no
 * mechanism available": the mechanism is at fault, not the password. */
static void note_mechanisms(const struct probe_result *r, struct note *nb)
{
    char missing[160] = "",
         advertised[SMTP_EHLO_MAX_MECHS * (SMTP_EHLO_MECH_MAX + 1) + 8];
    struct note m = {missing, sizeof(missing), 0};
    for (size_t i = 0; i < r->n_auth && i < CONFIG_MAX_MECHS; i++) {
        const struct probe_auth *a = &r->auth[i];
        if (a->attempted && !a->advertised &&
            (a->reply.code == 504 || a->reply.code == 535))
            note_add(&m, "%s%s (%d)", m.len ? ", " : "",
                     sasl_mech_name(a->mech), a->reply.code);
    }
    if (m.len) {
        list_mechs(&r->ehlo, advertised, sizeof(advertised));
        if (r->ehlo.auth || r->ehlo.n_mechs)
            note_sentence(
                nb,
                "EHLO did not advertise %s; it advertised AUTH %s, so "
                "configure one of those or enable this mechanism on "
                "the server.",
                missing, advertised);
        else
            note_sentence(
                nb,
                "EHLO did not advertise %s; it advertised no AUTH at "
                "all on this connection.",
                missing);
    }
    for (size_t i = 0; i < r->n_auth && i < CONFIG_MAX_MECHS; i++) {
        const struct probe_auth *a = &r->auth[i];
        if (!no_mechanism_text(&a->reply))
            continue;
        note_sentence(nb,
                      "The 535 to %s says no mechanism available: that is how "
                      "Postfix refuses a mechanism it does not offer here, so "
                      "this is a mechanism problem, not a password problem.",
                      sasl_mech_name(a->mech));
    }
}

/* AUTH before and after STARTTLS, and AUTH in clear text. */
static void note_auth_and_tls(const struct probe_result *r, struct note *nb)
{
    int code = r->replies[PROBE_STAGE_AUTH].code;
    bool needs_tls = code == 503 || code == 530 || code == 538;
    bool unoffered = false;
    for (size_t i = 0; i < r->n_auth && i < CONFIG_MAX_MECHS; i++)
        if (r->auth[i].attempted && !r->auth[i].advertised)
            unoffered = true;
    if (r->stage != PROBE_STAGE_AUTH || !(needs_tls || unoffered))
        return;
    if (auth_in_clear(r) && r->ehlo_seen) {
        if (!r->ehlo.auth && r->ehlo.starttls)
            note_sentence(nb,
                          "The EHLO in clear text offered STARTTLS but no "
                          "AUTH: the server offers AUTH only after "
                          "STARTTLS, so set tls = starttls for this target.");
        else if (needs_tls && r->ehlo.starttls)
            note_sentence(nb,
                          "AUTH went in clear text and the server wants TLS "
                          "first; it offers STARTTLS, so set tls = starttls "
                          "for this target.");
        else if (needs_tls)
            note_sentence(nb,
                          "AUTH went in clear text and the server offers "
                          "no STARTTLS; use its implicit TLS port with tls = "
                          "implicit.");
    } else if (went_through_starttls(r)) {
        /* The mechanism list after TLS is what counts; the change across
         * STARTTLS only explains a refusal of AUTH itself. */
        if (needs_tls && !r->ehlo_pre_tls_auth && r->ehlo.auth) {
            note_sentence(nb,
                          "EHLO advertised AUTH only after STARTTLS, and "
                          "AUTH after STARTTLS was still refused: check the "
                          "server's TLS and SASL settings together.");
        } else if (r->ehlo_pre_tls_auth && !r->ehlo.auth) {
            note_sentence(nb,
                          "The server advertised AUTH before STARTTLS but "
                          "not after it: its SASL setup differs with TLS, so "
                          "check its TLS-specific settings.");
        }
    }
}

/* A 535 after a reload changed the password, with no AUTH since. */
static void note_secret_change(const struct probe_result *r,
                               const struct report_history *h, struct note *nb)
{
    if (!h || !(h->secret_changed_at > 0) || h->auth_ok_since_secret_change)
        return;
    bool refused = false;
    for (size_t i = 0; i < r->n_auth && i < CONFIG_MAX_MECHS; i++)
        if (r->auth[i].reply.code == 535 &&
            !no_mechanism_text(&r->auth[i].reply))
            refused = true;
    if (!refused)
        return;
    char when[40] = "an earlier reload";
    time_t t = (time_t)h->secret_changed_at;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    note_sentence(
        nb,
        "The password of this target changed at the reload of %s and "
        "no AUTH has succeeded since: check the new password file or "
        "variable first.",
        when);
}

/* A later session met another certificate than the first: each
 * mechanism has its own connection, and a load balancer may send them to
 * backends that differ. Only what the agent computed is said, never the
 * server's text (the subject). */
static void note_tls_sessions(const struct probe_result *r, struct note *nb)
{
    const struct tls_facts *f = &r->tls_odd_facts;
    if (!r->tls_odd || !f->present)
        return;
    char when[40] = "an unreadable date";
    time_t t = (time_t)f->not_after;
    struct tm tm;
    if (f->not_after > 0 && gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d", &tm);
    note_sentence(nb,
                  "Session %u (of %u with TLS) met another certificate than "
                  "the first, valid until %s, which %s; behind a load "
                  "balancer one backend differs from the others.",
                  r->tls_odd, r->tls_sessions, when,
                  f->valid ? "verifies" : "does not verify");
}

/* What EHLO offered when STARTTLS was missing; the certificate's fault. */
static void note_tls(const struct probe_result *r, struct note *nb)
{
    if (r->error == PROBE_ERROR_STARTTLS_UNAVAILABLE && r->ehlo_seen &&
        !r->ehlo.starttls && r->stage != PROBE_STAGE_AUTH) {
        char kw[SMTP_EHLO_MAX_KEYWORDS * (SMTP_EHLO_KEYWORD_MAX + 1) + 8];
        struct note l = {kw, sizeof(kw), 0};
        kw[0] = '\0';
        for (size_t i = 0; i < r->ehlo.n_keywords; i++)
            note_add(&l, "%s%s", i ? " " : "", r->ehlo.keywords[i]);
        note_sentence(nb, "EHLO did not list STARTTLS; it listed: %s.",
                      l.len ? kw : "no extensions");
    }
    if (r->error == PROBE_ERROR_CERTIFICATE && r->tls.problem[0]) {
        note_sentence(nb, "Certificate check: %.*s.",
                      (int)strnlen(r->tls.problem, sizeof(r->tls.problem)),
                      r->tls.problem);
    }
    note_tls_sessions(r, nb);
}

/* The agent cancelled an exchange itself: what the server answered was
 * its answer to "*", not a verdict on the credentials. */
static void note_cancelled(const struct probe_result *r, struct note *nb)
{
    for (size_t i = 0; i < r->n_auth && i < CONFIG_MAX_MECHS; i++) {
        const struct probe_auth *a = &r->auth[i];
        if (a->cancelled == SASL_STEP_OK)
            continue;
        if (a->reply.code)
            note_sentence(nb,
                          "The agent cancelled AUTH %s itself (it sent \"*\") "
                          "because %s; the %d that followed answers that "
                          "cancellation and says nothing of the "
                          "credentials.",
                          sasl_mech_name(a->mech),
                          sasl_step_error_words(a->cancelled), a->reply.code);
        else
            note_sentence(nb,
                          "The agent cancelled AUTH %s itself (it sent \"*\") "
                          "because %s.",
                          sasl_mech_name(a->mech),
                          sasl_step_error_words(a->cancelled));
    }
}

/* XOAUTH2, OAUTHBEARER: the status of the JSON error the server sent
 * before its final reply (sasl reduced it to [A-Za-z0-9_.-], the probe
 * redacted it): the token's own verdict. */
static void note_oauth(const struct probe_result *r, struct note *nb)
{
    for (size_t i = 0; i < r->n_auth && i < CONFIG_MAX_MECHS; i++) {
        const struct probe_auth *a = &r->auth[i];
        if (!a->oauth_status[0])
            continue;
        note_sentence(nb,
                      "Before its final reply the server answered the "
                      "%s token with an OAuth error of status %.*s: the "
                      "token was refused (expired, revoked, for another "
                      "scope, audience or user); check what refreshes it.",
                      sasl_mech_name(a->mech),
                      (int)strnlen(a->oauth_status, sizeof(a->oauth_status)),
                      a->oauth_status);
    }
}

/* Server text that held a form of the secret was withheld whole. */
static void note_withheld(const struct probe_result *r, struct note *nb)
{
    bool withheld = r->ehlo_withheld || r->tls_subject_withheld;
    for (int i = 0; i < PROBE_STAGE_COUNT; i++)
        withheld = withheld || r->replies[i].withheld;
    for (size_t i = 0; i < r->n_auth && i < CONFIG_MAX_MECHS; i++)
        withheld = withheld || r->auth[i].reply.withheld;
    if (withheld)
        note_sentence(nb, "The server sent back a form of the probe's "
                          "secret (the password, its base64 or what AUTH "
                          "sent); that text is withheld whole, so that "
                          "nothing of the secret shows: find out why the "
                          "server repeats what clients send.");
}

void report_note(const struct probe_result *r, const struct report_history *h,
                 char *buf, size_t n)
{
    struct note nb = {buf, n, 0};
    if (n)
        buf[0] = '\0';
    /* Notes explain failures; a healthy probe needs none. Server text
     * is never copied: only mechanism and keyword names from EHLO, which
     * the parser has reduced to [A-Z0-9_-], and an OAuth error's status,
     * reduced to [A-Za-z0-9_.-] and redacted, so no secret can slip in. */
    if (!r || r->success || r->fault != PROBE_FAULT_NONE || n == 0)
        return;
    note_mechanisms(r, &nb);
    note_auth_and_tls(r, &nb);
    note_secret_change(r, h, &nb);
    note_tls(r, &nb);
    note_cancelled(r, &nb);
    note_oauth(r, &nb);
    note_withheld(r, &nb);
}

/* ---- the report ----------------------------------------------------- */

/* What the operator can do about the agent's own failure. */
static const char *fault_note(enum probe_fault fault)
{
    switch (fault) {
    case PROBE_FAULT_FILE_DESCRIPTORS:
        return "the agent ran out of its own file descriptors; this says "
               "nothing about the target. Raise the agent's open-files "
               "limit (ulimit -n, systemd LimitNOFILE=) or lower "
               "max_concurrent_probes.";
    case PROBE_FAULT_MEMORY:
        return "the agent ran out of memory; this says nothing about the "
               "target. Give the agent more memory (its cgroup, ulimit -v) "
               "or lower max_concurrent_probes.";
    default:
        return "the agent ran out of one of its own resources; this says "
               "nothing about the target.";
    }
}

enum report_state report_state_of(const struct probe_result *r)
{
    if (r->fault != PROBE_FAULT_NONE)
        return REPORT_AGENT_FAULT;
    if (r->start_time <= 0)
        return REPORT_PENDING;
    return r->success && report_failed_check(r) < 0 ? REPORT_OK
                                                    : REPORT_FAILING;
}

int report_failed_check(const struct probe_result *r)
{
    for (int k = 0; k < CHECK_COUNT; k++)
        if (r->checks[k].configured && r->checks[k].verdict == CHECK_FAILED)
            return k;
    return -1;
}

const struct catalogue_entry *report_check_entry(enum probe_check c)
{
    char key[48];
    snprintf(key, sizeof(key), "check_%s", check_name(c));
    return catalogue_find(key);
}

/* The failing stage's reply, QUIT's on success; none for a failure
 * without a reply. */
static const struct probe_reply *deciding_reply(const struct probe_result *r)
{
    if (!r->success && r->error != PROBE_ERROR_NONE)
        return NULL;
    enum probe_stage s = r->success ? PROBE_STAGE_QUIT : r->stage;
    if ((unsigned)s >= PROBE_STAGE_COUNT || r->replies[s].code == 0)
        return NULL;
    return &r->replies[s];
}

static void outcome_word(struct report *out, const struct probe_result *r)
{
    const char *w = "-";
    if (out->state == REPORT_AGENT_FAULT) {
        snprintf(out->outcome, sizeof(out->outcome), "agent:%s",
                 probe_fault_name(r->fault));
        return;
    }
    if (r->success && report_failed_check(r) >= 0)
        w = "check_failed";
    else if (r->success)
        w = "success";
    else if (r->error != PROBE_ERROR_NONE)
        w = probe_error_name(r->error);
    else if (out->reply)
        w = smtp_class_name(out->reply->cls);
    snprintf(out->outcome, sizeof(out->outcome), "%s", w);
}

void report_make(struct report *out, const struct probe_result *r,
                 const struct report_history *h, double now)
{
    memset(out, 0, sizeof(*out));
    out->state = report_state_of(r);
    if (out->state == REPORT_AGENT_FAULT) {
        outcome_word(out, r);
        out->detail_adds = r->detail[0] != '\0';
        snprintf(out->note, sizeof(out->note), "%s", fault_note(r->fault));
        return;
    }
    out->reply = deciding_reply(r);
    outcome_word(out, r);
    /* A result without a start time is explained all the same: --once
     * and tests may hand one over. */
    if (!r->success) {
        out->entry = report_entry(r);
        out->detail_adds = r->detail[0] != '\0' && r->detail_auth == 0;
        report_note(r, h, out->note, sizeof(out->note));
    } else if (report_failed_check(r) >= 0) {
        /* The server works; it does not refuse what it must. */
        int k = report_failed_check(r);
        out->entry = report_check_entry((enum probe_check)k);
        snprintf(out->note, sizeof(out->note),
                 "every stage passed (smtp_probe_success stays 1), but the "
                 "%s check failed: %s",
                 check_name((enum probe_check)k), r->checks[k].detail);
    }
    if (r->tls.present &&
        (r->tls.verified_not_after > 0 || r->tls.not_after > 0)) {
        out->cert_verified = r->tls.verified_not_after > 0;
        out->cert_until =
            out->cert_verified ? r->tls.verified_not_after : r->tls.not_after;
        out->has_cert_days = true;
        out->cert_days_left = report_days_left((double)out->cert_until, now);
    }
}
