/* probe_expo: one probe's result as /probe answers it, in the
 * Prometheus text format; pure. */
#ifndef PROBE_EXPO_H
#define PROBE_EXPO_H

#include "buf.h"
#include "probe.h"

/* What smtp_target_info says of the probed target, as /metrics does:
 * the host and port probed, the TLS mode and whether the certificate
 * had to verify (the certificate alert leaves out tls_verify = false by
 * it, on /probe's series as on /metrics'). */
struct probe_expo_target {
    const char *host;
    unsigned port;
    enum tls_mode tls;
    bool tls_verify;
};

/*
 * The series of one probe, without a target label (the scrape is of one
 * target, as with blackbox_exporter's /probe): blackbox's probe_success
 * and probe_duration_seconds, then the SMTP detail of this probe alone,
 * as gauges: phase durations, the final reply code and class per stage,
 * the final AUTH reply per mechanism, the failure without a reply, the
 * advertised mechanisms, SIZE and the TLS facts; then smtp_target_info
 * of target (none when NULL). Families in a fixed
 * order, none without samples. A result with a fault is not rendered (the
 * agent's failure is no probe of the target).
 *
 * labels: the probed target's (or module's) own labels, labels.h's
 * parsed form ("" or NULL: none). Every sample carries them first, in
 * their order, then its family's labels: /metrics' order after its
 * target label, e.g. smtp_last_reply_code{team="mail",stage="auth",...}.
 *
 * 0, or -1 when out of memory, past out's limit, or given more than
 * LABELS_MAX labels (never a label left out).
 */
int probe_expo_render(struct buf *out, const struct probe_result *r,
                      const char *labels,
                      const struct probe_expo_target *target);

#endif
