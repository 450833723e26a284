/* once: the table (or JSON) that --once prints. */
#include "once.h"

#include <stdbool.h>
#include <string.h>

#include "json.h"
#include "report.h"

/* The TARGET column is as wide as the longest name shown, and at least
 * this: the columns after it start at the same offset on every row. */
#define TABLE_NAME_MIN 24

static void table_fault_row(FILE *out, const struct probe_result *r,
                            const struct report *rep, int width)
{
    fprintf(out, "%-*s %-9s %-4s %-22s %8.3fs %-8s %9s %s\n", width, r->target,
            "-", "-", rep->outcome, r->duration_seconds, "-", "-", "-");
    if (r->detail[0])
        fprintf(out, "  the agent failed, not the target: %s\n", r->detail);
    fprintf(out, "  note: %s\n", rep->note);
}

static void table_auth_rows(FILE *out, const struct probe_result *r)
{
    for (size_t k = 0; k < r->n_auth; k++) {
        const struct probe_auth *a = &r->auth[k];
        char line[PROBE_TEXT_MAX + 64];
        if (a->reply.code)
            snprintf(line, sizeof(line), "%d %s (%s)", a->reply.code,
                     a->reply.text, smtp_class_name(a->reply.cls));
        else if (a->error != PROBE_ERROR_NONE)
            snprintf(line, sizeof(line), "%s", probe_error_name(a->error));
        else
            snprintf(line, sizeof(line), "not attempted");
        fprintf(out, "  AUTH %-9s %s%s\n", sasl_mech_name(a->mech), line,
                a->attempted && !a->advertised ? " [not advertised]" : "");
    }
}

/* One line per configured refusal check: "  check open_relay   passed:
 * RCPT TO:<...>: 554 5.7.1 ...". */
static void table_check_rows(FILE *out, const struct probe_result *r)
{
    for (int k = 0; k < CHECK_COUNT; k++) {
        const struct probe_check_result *c = &r->checks[k];
        if (!c->configured)
            continue;
        fprintf(out, "  check %-15s %s%s%s\n", check_name((enum probe_check)k),
                check_verdict_name(c->verdict), c->detail[0] ? ": " : "",
                c->detail);
    }
}

static void table_row(FILE *out, const struct probe_result *r, double now,
                      int width)
{
    struct report rep;
    report_make(&rep, r, NULL, now);
    if (rep.state == REPORT_AGENT_FAULT) {
        table_fault_row(out, r, &rep, width);
        return;
    }
    char code[8] = "-", days[16] = "-";
    if (rep.reply)
        snprintf(code, sizeof(code), "%d", rep.reply->code);
    if (rep.has_cert_days)
        snprintf(days, sizeof(days), "%.1f", rep.cert_days_left);
    fprintf(out, "%-*s %-9s %-4s %-22s %8.3fs %-8s %9s %s\n", width, r->target,
            probe_stage_name(r->stage), code, rep.outcome, r->duration_seconds,
            r->tls.present ? r->tls.version : "-", days,
            r->address[0] ? r->address : "-");
    table_auth_rows(out, r);
    table_check_rows(out, r);
    if (r->success && report_failed_check(r) < 0)
        return;
    if (rep.detail_adds)
        fprintf(out, "  %s\n", r->detail);
    /* The words an operator needs at night: what the failure means
     * (--explain has the rest), and what this probe showed about it. */
    if (rep.entry)
        fprintf(out, "  explanation: %s: %s\n", rep.entry->title,
                rep.entry->meaning);
    if (rep.note[0])
        fprintf(out, "  note: %s\n", rep.note);
}

void once_print_table(FILE *out, const struct probe_result *results, size_t n,
                      double now)
{
    /* A name is at most CONFIG_TARGET_NAME_MAX: the width fits an int. */
    size_t width = TABLE_NAME_MIN;
    for (size_t i = 0; i < n; i++) {
        size_t len = strnlen(results[i].target, sizeof(results[i].target));
        if (len > width)
            width = len;
    }
    fprintf(out, "%-*s %-9s %-4s %-22s %9s %-8s %9s %s\n", (int)width,
            "TARGET", "STAGE", "CODE", "CLASS", "DURATION", "TLS", "CERT_DAYS",
            "ADDRESS");
    for (size_t i = 0; i < n; i++)
        table_row(out, &results[i], now, (int)width);
}

/* ---- JSON -------------------------------------------------------- */

/* A reply code, or null for none. */
static void json_code(struct json *j, const char *key, int code)
{
    if (code)
        json_int(j, key, code);
    else
        json_str(j, key, NULL);
}

/* The address that answered and its IP version, null when none did. */
static void json_address(struct json *j, const struct probe_result *r)
{
    json_str_or_null(j, "address", r->address);
    if (r->ip_protocol == 4 || r->ip_protocol == 6)
        json_int(j, "ip_protocol", r->ip_protocol);
    else
        json_str(j, "ip_protocol", NULL);
}

/* A unix time, null when 0 (unknown). */
static void json_date(struct json *j, const char *key, int64_t when)
{
    if (when > 0)
        json_int(j, key, (long long)when);
    else
        json_str(j, key, NULL);
}

static void json_tls(struct json *j, const struct tls_facts *t,
                     const struct report *rep)
{
    if (!t->present) {
        json_str(j, "tls", NULL);
        return;
    }
    json_open(j, "tls", '{');
    json_str_or_null(j, "version", t->version);
    json_str_or_null(j, "cipher", t->cipher);
    if (rep->has_cert_days) {
        json_int(j, "cert_not_after", (long long)t->not_after);
        json_num(j, "cert_days_left", rep->cert_days_left);
    } else {
        json_str(j, "cert_not_after", NULL);
        json_str(j, "cert_days_left", NULL);
    }
    json_bool(j, "cert_valid", t->valid);
    json_str_or_null(j, "problem", t->valid ? NULL : t->problem);
    json_str_or_null(j, "subject", t->subject);
    /* Issue 14: what the client trusted, and the leaf's own facts. */
    json_date(j, "verified_chain_not_after", t->verified_not_after);
    json_date(j, "leaf_not_after", t->leaf_not_after);
    json_date(j, "leaf_not_before", t->leaf_not_before);
    json_str_or_null(j, "issuer", t->issuer);
    json_str_or_null(j, "serial", t->serial);
    char fp[TLS_FINGERPRINT_LEN];
    json_str_or_null(j, "fingerprint_sha256", tls_fingerprint_hex(t, fp));
    json_close(j, '}');
}

static void json_auth(struct json *j, const struct probe_result *r)
{
    json_open(j, "auth", '[');
    for (size_t k = 0; k < r->n_auth; k++) {
        const struct probe_auth *a = &r->auth[k];
        json_open(j, NULL, '{');
        json_str(j, "mechanism", sasl_mech_name(a->mech));
        json_bool(j, "advertised", a->advertised);
        json_bool(j, "attempted", a->attempted);
        json_code(j, "code", a->reply.code);
        json_str_or_null(j, "enhanced",
                         a->reply.code ? a->reply.enhanced : NULL);
        json_str_or_null(j, "text", a->reply.code ? a->reply.text : NULL);
        json_str(j, "class",
                 a->reply.code ? smtp_class_name(a->reply.cls) : NULL);
        json_str(j, "error",
                 a->error != PROBE_ERROR_NONE ? probe_error_name(a->error)
                                              : NULL);
        if (a->attempted)
            json_num(j, "seconds", a->seconds);
        else
            json_str(j, "seconds", NULL);
        json_close(j, '}');
    }
    json_close(j, ']');
}

static void json_ehlo(struct json *j, const struct probe_result *r)
{
    if (!r->ehlo_seen) {
        json_str(j, "ehlo", NULL);
        return;
    }
    json_open(j, "ehlo", '{');
    json_open(j, "keywords", '[');
    for (size_t k = 0; k < r->ehlo.n_keywords; k++)
        json_str(j, NULL, r->ehlo.keywords[k]);
    json_close(j, ']');
    json_open(j, "mechanisms", '[');
    for (size_t k = 0; k < r->ehlo.n_mechs; k++)
        json_str(j, NULL, r->ehlo.mechs[k]);
    json_close(j, ']');
    json_close(j, '}');
}

/* "checks": only for a target that configures one. */
static void json_checks(struct json *j, const struct probe_result *r)
{
    bool any = false;
    for (int k = 0; k < CHECK_COUNT; k++)
        any = any || r->checks[k].configured;
    if (!any)
        return;
    json_open(j, "checks", '[');
    for (int k = 0; k < CHECK_COUNT; k++) {
        const struct probe_check_result *c = &r->checks[k];
        if (!c->configured)
            continue;
        json_open(j, NULL, '{');
        json_str(j, "check", check_name((enum probe_check)k));
        json_str(j, "verdict", check_verdict_name(c->verdict));
        if (c->verdict == CHECK_NOT_RUN)
            json_str(j, "success", NULL);
        else
            json_bool(j, "success", c->verdict == CHECK_PASSED);
        json_code(j, "code", c->code);
        json_str_or_null(j, "detail", c->detail);
        json_close(j, '}');
    }
    json_close(j, ']');
}

static void json_explanation(struct json *j, const struct report *rep)
{
    const struct catalogue_entry *e = rep->entry;
    if (!e) {
        json_str(j, "explanation", NULL);
    } else {
        json_open(j, "explanation", '{');
        json_str(j, "key", e->key);
        json_str(j, "title", e->title);
        json_str(j, "meaning", e->meaning);
        json_str(j, "when", e->when);
        json_str(j, "fix", e->fix);
        json_close(j, '}');
    }
    json_str_or_null(j, "note", rep->note);
}

/* The keys of any target, every one about the target null, and one
 * more: the agent failed, and says so in agent_fault, detail and note.
 * Only such a target has agent_fault, so that scripts reading the keys
 * every other target has are not broken by a new one. */
static void json_fault_target(struct json *j, const struct probe_result *r,
                              const struct report *rep)
{
    json_open(j, NULL, '{');
    json_str(j, "name", r->target);
    json_bool(j, "success", false);
    static const char *const none[] = {"stage",    "error", "code",
                                       "enhanced", "text",  "class"};
    for (size_t k = 0; k < sizeof(none) / sizeof(none[0]); k++)
        json_str(j, none[k], NULL);
    json_str_or_null(j, "detail", r->detail);
    json_str(j, "agent_fault", probe_fault_name(r->fault));
    if (r->start_time > 0)
        json_num(j, "start_time", r->start_time);
    else
        json_str(j, "start_time", NULL);
    json_num(j, "duration_seconds", r->duration_seconds);
    json_str(j, "address", NULL);
    json_str(j, "ip_protocol", NULL);
    json_str(j, "tls", NULL);
    json_str(j, "ehlo", NULL);
    json_open(j, "auth", '[');
    json_close(j, ']');
    json_str(j, "explanation", NULL);
    json_str(j, "note", rep->note);
    json_close(j, '}');
}

static void json_target(struct json *j, const struct probe_result *r,
                        double now)
{
    struct report rp;
    report_make(&rp, r, NULL, now);
    if (rp.state == REPORT_AGENT_FAULT) {
        json_fault_target(j, r, &rp);
        return;
    }
    const struct probe_reply *rep = rp.reply;
    bool has = rep != NULL;
    json_open(j, NULL, '{');
    json_str(j, "name", r->target);
    json_bool(j, "success", r->success);
    json_str(j, "stage", probe_stage_name(r->stage));
    json_str(j, "error",
             r->error != PROBE_ERROR_NONE ? probe_error_name(r->error) : NULL);
    json_code(j, "code", has ? rep->code : 0);
    json_str_or_null(j, "enhanced", has ? rep->enhanced : NULL);
    json_str_or_null(j, "text", has ? rep->text : NULL);
    json_str(j, "class", has ? smtp_class_name(rep->cls) : NULL);
    json_str_or_null(j, "detail", r->success ? NULL : r->detail);
    if (r->start_time > 0)
        json_num(j, "start_time", r->start_time);
    else
        json_str(j, "start_time", NULL);
    json_num(j, "duration_seconds", r->duration_seconds);
    json_address(j, r);
    json_tls(j, &r->tls, &rp);
    json_ehlo(j, r);
    json_auth(j, r);
    json_checks(j, r);
    json_explanation(j, &rp);
    json_close(j, '}');
}

void once_print_json(FILE *out, const struct probe_result *results, size_t n,
                     double now)
{
    struct json j;
    json_begin(&j, out);
    json_open(&j, "targets", '[');
    for (size_t i = 0; i < n; i++)
        json_target(&j, &results[i], now);
    json_close(&j, ']');
    json_end(&j);
}

int once_exit_status(const struct probe_result *results, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (results[i].fault != PROBE_FAULT_NONE)
            rc = 3;
        else if (!results[i].success || report_failed_check(&results[i]) >= 0)
            return 1; /* a target's own failure is a finding: it decides */
    }
    return rc;
}
