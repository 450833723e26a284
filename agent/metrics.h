/* metrics: the store of every series; written by the probe loop, read by
 * the HTTP thread, under one lock. */
#ifndef METRICS_H
#define METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "labels.h"
#include "probe.h"
#include "report.h"
#include "scheduler.h"

/* Buckets of smtp_probe_duration_seconds and of
 * smtp_agent_probe_start_delay_seconds. */
#define METRICS_DURATION_BUCKETS                                              \
    {                                                                         \
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60       \
    }
#define METRICS_DELAY_BUCKETS                                                 \
    {                                                                         \
        0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10                          \
    }

struct metrics;

/* The longest text of a target's labels: each value escaped may double. */
#define METRICS_LABELS_TEXT_MAX                                               \
    (LABELS_MAX * (LABEL_NAME_MAX + 2 * LABEL_VALUE_MAX + 4))

struct metrics_build_info {
    const char *version;
    const char *libcurl;
    const char *openssl;
    const char *libmicrohttpd;
};

struct metrics *metrics_new(const struct metrics_build_info *info);
void metrics_free(struct metrics *m);

/*
 * Makes the set of targets that of cfg: a target whose name stays keeps
 * every counter; a removed target's series disappear; a new target's
 * series that alerts rely on start at 0 (probes, AUTH results success /
 * unsupported_parameter / auth_failed / temporary_failure for each
 * configured mechanism, and for a STARTTLS target the errors of
 * starttls_unavailable; with extra_metrics zero_series also failures by
 * stage, every error and skips of reason running). Target info
 * (host, port, tls), configured mechanisms, extra_metrics (what
 * metrics_render shows of the target) and the target's own labels (on
 * every series of it, after target) follow cfg. 0, or -1 when out of
 * memory (the store is then unchanged).
 */
int metrics_set_targets(struct metrics *m, const struct agent_config *cfg);

/* A probe finished: counts and last values of target r->target (ignored
 * when the target is no longer known), and h, what the runner knows of
 * the target beyond the probe, kept beside the result for the pages (NULL:
 * nothing). A result with a fault is the agent's failure, not the
 * target's: ignored too (count it with metrics_resource_failure). */
void metrics_record(struct metrics *m, const struct probe_result *r,
                    const struct report_history *h);

/* rounds of target were skipped, for reason. The series of reason
 * "running" exists from the start; the others from their first count. */
void metrics_skipped(struct metrics *m, const char *target,
                     enum sched_skip_reason reason, uint64_t rounds);
/* A probe the agent abandoned for want of its own resource (fault); both
 * resources' series exist from the start. PROBE_FAULT_NONE: nothing. */
void metrics_resource_failure(struct metrics *m, enum probe_fault fault);
void metrics_start_delay(struct metrics *m, double seconds);
void metrics_set_in_flight(struct metrics *m, size_t n);
/* A config (re)load finished: ok, at unix time `when`. */
void metrics_config_loaded(struct metrics *m, bool ok, double when);

/*
 * Appends every smtp_* family in a stable order (families in DESIGN.md's
 * order, targets by name, label sets in a fixed order) as Prometheus text.
 * Holds the lock for one family's agent series, or for up to
 * METRICS_RENDER_CHUNK targets of one family, at a time: the probe loop
 * never waits for a whole render. The text is of one target list: a
 * reload meanwhile starts the render again, and the third try holds the
 * lock throughout. 0, or -1 when out of memory.
 */
#define METRICS_RENDER_CHUNK 256
int metrics_render(struct metrics *m, struct buf *out);
/* Tests: how many times renders have taken the lock. */
unsigned long metrics_render_holds(struct metrics *m);

/* A target's last result with what the status page shows beside it. */
struct metrics_last {
    struct probe_result result; /* not probed yet: start_time 0, name set */
    struct report_history history;
    char host[CONFIG_HOST_MAX + 1];
    unsigned port;
    enum tls_mode tls;
    /* The target's own labels as its series show them ("" none). */
    char labels[METRICS_LABELS_TEXT_MAX + 1];
};

/*
 * A copy of each target's last result for the status page: *out is an
 * array of n sorted by target name; the caller free()s it. 0, or -1.
 */
int metrics_last_results(struct metrics *m, struct metrics_last **out,
                         size_t *n);

#endif
