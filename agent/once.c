/* once: the table (or JSON) that --once prints. */
#include "once.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "catalogue.h"

/* The reply a row shows: the failing stage's, or QUIT's on success. */
static const struct probe_reply *row_reply(const struct probe_result *r)
{
    return &r->replies[r->success ? PROBE_STAGE_QUIT : r->stage];
}

/* A failure without a reply shows no code, not an earlier stage's. */
static bool row_has_reply(const struct probe_result *r)
{
    return row_reply(r)->code && (r->success || r->error == PROBE_ERROR_NONE);
}

static const char *row_outcome(const struct probe_result *r)
{
    if (r->success)
        return "success";
    if (r->error != PROBE_ERROR_NONE)
        return probe_error_name(r->error);
    const struct probe_reply *rep = row_reply(r);
    return rep->code ? smtp_class_name(rep->cls) : "-";
}

/* The agent, not the target, failed: nothing else in r is shown. */
static bool agent_failed(const struct probe_result *r)
{
    return r->fault != PROBE_FAULT_NONE;
}

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

/* Outcome column of an agent failure: "agent:file_descriptors". */
static const char *fault_outcome(const struct probe_result *r, char *buf,
                                 size_t n)
{
    snprintf(buf, n, "agent:%s", probe_fault_name(r->fault));
    return buf;
}

static void table_fault_row(FILE *out, const struct probe_result *r)
{
    char outcome[40];
    fprintf(out, "%-24s %-9s %-4s %-22s %8.3fs %-8s %9s\n", r->target, "-",
            "-", fault_outcome(r, outcome, sizeof(outcome)),
            r->duration_seconds, "-", "-");
    if (r->detail[0])
        fprintf(out, "  the agent failed, not the target: %s\n", r->detail);
    fprintf(out, "  note: %s\n", fault_note(r->fault));
}

static double cert_days_left(const struct tls_facts *t, double now)
{
    return ((double)t->not_after - now) / 86400.0;
}

/* A failing AUTH's detail is "AUTH MECH: CODE TEXT", which the AUTH rows
 * already show: print it once. */
static bool detail_is_an_auth_row(const struct probe_result *r)
{
    char line[sizeof(r->detail)];
    for (size_t k = 0; k < r->n_auth; k++) {
        const struct probe_auth *a = &r->auth[k];
        if (!a->reply.code)
            continue;
        snprintf(line, sizeof(line), "AUTH %s: %d %s", sasl_mech_name(a->mech),
                 a->reply.code, a->reply.text);
        if (strcmp(line, r->detail) == 0)
            return true;
    }
    return false;
}

void once_print_table(FILE *out, const struct probe_result *results, size_t n,
                      double now)
{
    fprintf(out, "%-24s %-9s %-4s %-22s %9s %-8s %9s\n", "TARGET", "STAGE",
            "CODE", "CLASS", "DURATION", "TLS", "CERT_DAYS");
    for (size_t i = 0; i < n; i++) {
        const struct probe_result *r = &results[i];
        if (agent_failed(r)) {
            table_fault_row(out, r);
            continue;
        }
        const struct probe_reply *rep = row_reply(r);
        char code[8] = "-", days[16] = "-";
        if (row_has_reply(r))
            snprintf(code, sizeof(code), "%d", rep->code);
        if (r->tls.present && r->tls.not_after > 0)
            snprintf(days, sizeof(days), "%.1f", cert_days_left(&r->tls, now));
        fprintf(out, "%-24s %-9s %-4s %-22s %8.3fs %-8s %9s\n", r->target,
                probe_stage_name(r->stage), code, row_outcome(r),
                r->duration_seconds, r->tls.present ? r->tls.version : "-",
                days);
        for (size_t k = 0; k < r->n_auth; k++) {
            const struct probe_auth *a = &r->auth[k];
            const char *what = "not attempted";
            char line[PROBE_TEXT_MAX + 64];
            if (a->reply.code)
                snprintf(line, sizeof(line), "%d %s (%s)", a->reply.code,
                         a->reply.text, smtp_class_name(a->reply.cls));
            else if (a->error != PROBE_ERROR_NONE)
                snprintf(line, sizeof(line), "%s", probe_error_name(a->error));
            else
                snprintf(line, sizeof(line), "%s", what);
            fprintf(out, "  AUTH %-9s %s%s\n", sasl_mech_name(a->mech), line,
                    a->attempted && !a->advertised ? " [not advertised]" : "");
        }
        if (r->success)
            continue;
        if (r->detail[0] && !detail_is_an_auth_row(r))
            fprintf(out, "  %s\n", r->detail);
        /* The words an operator needs at night: what the failure means
         * (--explain has the rest), and what this probe showed about it. */
        const struct catalogue_entry *e = catalogue_for_result(r);
        if (e)
            fprintf(out, "  explanation: %s: %s\n", e->title, e->meaning);
        char note[CATALOGUE_NOTE_MAX];
        catalogue_note(r, note, sizeof(note));
        if (note[0])
            fprintf(out, "  note: %s\n", note);
    }
}

/* ---- JSON ------------------------------------------------------------------
 */

#define JSON_MAX_DEPTH 8

/*
 * A small writer for indented JSON: it knows whether a comma is due at
 * each level, so the printing code below reads as a list of fields.
 */
struct json {
    FILE *out;
    int depth;
    bool first[JSON_MAX_DEPTH];
};

/* RFC 8259 string: quotes, backslashes and control characters escaped;
 * bytes past ASCII too, as \u00XX, so the output is plain ASCII whatever
 * a server sent (the probe keeps printable ASCII, but a name or a
 * future field might not). */
void once_json_string(FILE *out, const char *s)
{
    /* The characters with a short escape, and their letters. */
    static const char plain[] = "\"\\\b\f\n\r\t", esc[] = "\"\\bfnrt";
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *hit = strchr(plain, *p);
        if (hit) {
            fputc('\\', out);
            fputc(esc[hit - plain], out);
        } else if (*p < 0x20 || *p >= 0x7f) {
            fprintf(out, "\\u%04x", (unsigned)*p);
        } else {
            fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* The comma, line break and indent before a value; its key if any. */
static void json_key(struct json *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->out);
    j->first[j->depth] = false;
    fprintf(j->out, "\n%*s", 2 * j->depth, "");
    if (key) {
        once_json_string(j->out, key);
        fputs(": ", j->out);
    }
}

static void json_open(struct json *j, const char *key, char bracket)
{
    json_key(j, key);
    fputc(bracket, j->out);
    if (j->depth + 1 < JSON_MAX_DEPTH)
        j->depth++;
    j->first[j->depth] = true;
}

static void json_close(struct json *j, char bracket)
{
    bool empty = j->first[j->depth];
    if (j->depth > 0)
        j->depth--;
    if (!empty)
        fprintf(j->out, "\n%*s", 2 * j->depth, "");
    fputc(bracket, j->out);
}

static void json_str(struct json *j, const char *key, const char *s)
{
    json_key(j, key);
    if (s)
        once_json_string(j->out, s);
    else
        fputs("null", j->out);
}

/* "" is no value: null, so that scripts test one thing. */
static void json_str_or_null(struct json *j, const char *key, const char *s)
{
    json_str(j, key, s && s[0] ? s : NULL);
}

/* JSON has no NaN or infinity: those are null. */
static void json_num(struct json *j, const char *key, double v)
{
    json_key(j, key);
    if (isfinite(v))
        fprintf(j->out, "%.15g", v);
    else
        fputs("null", j->out);
}

static void json_int(struct json *j, const char *key, long long v)
{
    json_key(j, key);
    fprintf(j->out, "%lld", v);
}

/* A reply code, or null for none. */
static void json_code(struct json *j, const char *key, int code)
{
    if (code)
        json_int(j, key, code);
    else
        json_str(j, key, NULL);
}

static void json_bool(struct json *j, const char *key, bool v)
{
    json_key(j, key);
    fputs(v ? "true" : "false", j->out);
}

static void json_tls(struct json *j, const struct tls_facts *t, double now)
{
    if (!t->present) {
        json_str(j, "tls", NULL);
        return;
    }
    json_open(j, "tls", '{');
    json_str_or_null(j, "version", t->version);
    json_str_or_null(j, "cipher", t->cipher);
    if (t->not_after > 0) {
        json_int(j, "cert_not_after", (long long)t->not_after);
        json_num(j, "cert_days_left", cert_days_left(t, now));
    } else {
        json_str(j, "cert_not_after", NULL);
        json_str(j, "cert_days_left", NULL);
    }
    json_bool(j, "cert_valid", t->valid);
    json_str_or_null(j, "problem", t->valid ? NULL : t->problem);
    json_str_or_null(j, "subject", t->subject);
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

static void json_explanation(struct json *j, const struct probe_result *r)
{
    const struct catalogue_entry *e = catalogue_for_result(r);
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
    char note[CATALOGUE_NOTE_MAX] = "";
    if (!r->success)
        catalogue_note(r, note, sizeof(note));
    json_str_or_null(j, "note", note);
}

/* The keys of any target, every one about the target null, and one
 * more: the agent failed, and says so in agent_fault, detail and note.
 * Only such a target has agent_fault, so that scripts reading the keys
 * every other target has are not broken by a new one. */
static void json_fault_target(struct json *j, const struct probe_result *r)
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
    json_str(j, "tls", NULL);
    json_str(j, "ehlo", NULL);
    json_open(j, "auth", '[');
    json_close(j, ']');
    json_str(j, "explanation", NULL);
    json_str(j, "note", fault_note(r->fault));
    json_close(j, '}');
}

static void json_target(struct json *j, const struct probe_result *r,
                        double now)
{
    if (agent_failed(r)) {
        json_fault_target(j, r);
        return;
    }
    const struct probe_reply *rep = row_reply(r);
    bool has = row_has_reply(r);
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
    json_tls(j, &r->tls, now);
    json_ehlo(j, r);
    json_auth(j, r);
    json_explanation(j, r);
    json_close(j, '}');
}

void once_print_json(FILE *out, const struct probe_result *results, size_t n,
                     double now)
{
    /* The outer object is open from the start: no line break before it. */
    struct json j = {.out = out, .depth = 1};
    j.first[1] = true;
    fputc('{', out);
    json_open(&j, "targets", '[');
    for (size_t i = 0; i < n; i++)
        json_target(&j, &results[i], now);
    json_close(&j, ']');
    json_close(&j, '}');
    fputc('\n', out);
}

int once_exit_status(const struct probe_result *results, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (agent_failed(&results[i]))
            rc = 3;
        else if (!results[i].success)
            return 1; /* a target's own failure is a finding: it decides */
    }
    return rc;
}
