/* runner: the probe loop: scheduler, prober and metrics, and reloads. */
#ifndef RUNNER_H
#define RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "ondemand.h"
#include "probe.h"

struct runner;

/*
 * metrics may be NULL (nothing is recorded). once: every target is
 * probed one time, all due at start, and the runner is then finished.
 * seed feeds the scheduler's jitter.
 */
struct runner *runner_new(struct metrics *metrics, bool once,
                          unsigned long seed);
/* Ends in-flight probes; NULL is a no-op. */
void runner_free(struct runner *r);

/*
 * Takes cfg (the runner owns it from now on and frees the one it
 * replaces). Targets that keep their name keep their place in the
 * schedule; new ones are spread over their interval; removed ones stop.
 * The targets of the first config get the ids 1..n (probe_result.id) in
 * config order. Targets are matched by name through a hash: the work is
 * O(n log n) in the targets, not O(n^2). 0, or -1 when out of memory
 * (cfg is then freed, the old one stays).
 */
int runner_set_config(struct runner *r, struct agent_config *cfg);

/*
 * One turn of the loop: starts what is due, waits up to max_wait_ms for
 * the network or for wake_fd (-1: none), moves probes on. Returns 1 when
 * wake_fd became readable, 0 otherwise, -1 when curl's multi interface
 * failed.
 */
int runner_step(struct runner *r, int wake_fd, int max_wait_ms);

/*
 * What the prober reports for every finished probe: the result goes to
 * the metrics (once mode: to runner_results) and the scheduler hears the
 * probe is done. A result with a fault (the agent ran out of its own
 * descriptors or memory) is not the target's: it is counted in
 * smtp_agent_resource_failures_total, not in the target's series, and
 * logged at warn, at most one line per resource per 10 s with the count
 * since the last one. Tests call it with results built by hand.
 */
void runner_probe_done(struct runner *r, const struct probe_result *res);

/*
 * /probe: at every turn the runner takes q's jobs (NULL: none) and
 * probes each job's target now, outside the schedule but under its
 * limits (max_concurrent_probes, max_per_host: a job waits for a slot
 * while its deadline leaves it time), without touching the target's
 * series, schedule or history. Set before the first runner_step; q
 * outlives the runner, which finishes (STOPPED) and puts every job it
 * holds when freed.
 */
void runner_set_ondemand(struct runner *r, struct ondemand *q);

/* Tests: the monotonic clock in ms the runner reads; NULL is
 * CLOCK_MONOTONIC, the default. */
void runner_set_clock(struct runner *r, uint64_t (*now_ms)(void));

/* Once mode: every target has been probed. */
bool runner_finished(const struct runner *r);

/* Once mode: the results in config order (n = number of targets); owned
 * by the runner. */
const struct probe_result *runner_results(const struct runner *r, size_t *n);

const struct agent_config *runner_config(const struct runner *r);

#endif
