/* once: the table that --once prints. */
#include "once.h"

#include <math.h>
#include <string.h>

/* The reply a row shows: the failing stage's, or QUIT's on success. */
static const struct probe_reply *row_reply(const struct probe_result *r)
{
    return &r->replies[r->success ? PROBE_STAGE_QUIT : r->stage];
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

void once_print_table(FILE *out, const struct probe_result *results, size_t n,
                      double now)
{
    fprintf(out, "%-24s %-9s %-4s %-22s %9s %-8s %9s\n", "TARGET", "STAGE",
            "CODE", "CLASS", "DURATION", "TLS", "CERT_DAYS");
    for (size_t i = 0; i < n; i++) {
        const struct probe_result *r = &results[i];
        const struct probe_reply *rep = row_reply(r);
        char code[8] = "-", days[16] = "-";
        /* A failure without a reply shows no code, not an earlier one. */
        if (rep->code && (r->success || r->error == PROBE_ERROR_NONE))
            snprintf(code, sizeof(code), "%d", rep->code);
        if (r->tls.present && r->tls.not_after > 0)
            snprintf(days, sizeof(days), "%.1f",
                     ((double)r->tls.not_after - now) / 86400.0);
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
        if (!r->success && r->detail[0])
            fprintf(out, "  %s\n", r->detail);
    }
}

int once_exit_status(const struct probe_result *results, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!results[i].success)
            return 1;
    return 0;
}
