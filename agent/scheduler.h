/* scheduler: when each target is due; spread, jitter, limits, overlap skips.
 */

#ifndef SCHEDULER_H
#define SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Pure: the caller passes the time (CLOCK_MONOTONIC in ms in the agent, a
 * counter in tests) and a seed for the jitter. Entries are known by the
 * caller's id (unique).
 *
 * Entry i of n gets its first due time spread over its interval:
 * now + interval * i / n. After that, due times stay on the grid
 * first + k * interval (no drift), each plus a jitter in
 * [0, min(interval / 100, 1000 ms)] drawn from the seed.
 *
 * A due entry starts when fewer than max_concurrent entries are running
 * and fewer than max_per_host entries with the same host. Due entries
 * start first come, first served: in the order they became due, and an
 * entry that waits for a slot keeps its place across the rounds it
 * misses, so that no entry starves while others on its host run.
 *
 * Skips. An entry still waiting for a slot when its next due time comes
 * is skipped for that round (reason: the limit that held it). An entry
 * still running at its next due time plus a tolerance of
 * min(interval / 4, 2000 ms) is skipped for that round (reason: running).
 * A probe that ends within the tolerance after its next round came due
 * (timeout = interval and a server that never answers: the probe runs to
 * its deadline, a jitter's width and the loop's latency past the next due
 * time) does not cost that round: the round starts at once, late. Such a
 * late start does not move the grid, but a probe that keeps running to
 * its deadline ends a few ms later every round; when that passes the
 * tolerance, one round is skipped and the entry is back on its grid.
 * Rounds that pass while an entry runs are skipped even when no poll
 * came in between (sched_done reports them to the next poll). Rounds
 * that pass without any poll (the caller stalled: a stopped process, a
 * paused VM, a blocking call) are skipped with reason stalled. A limit
 * of 0 means none.
 *
 * Reload (sched_update): a longer interval keeps the round already due;
 * a shorter one applies at once, each entry keeping its place in the
 * spread: the time left to its next round shrinks with the interval.
 */
struct sched;

enum sched_event_kind { SCHED_START, SCHED_SKIP };

/* Why a round was skipped. */
enum sched_skip_reason {
    SCHED_SKIP_RUNNING,      /* the entry's previous run still ran */
    SCHED_SKIP_HOST_LIMIT,   /* it waited for a slot: max_per_host */
    SCHED_SKIP_GLOBAL_LIMIT, /* it waited for a slot: max_concurrent */
    SCHED_SKIP_STALLED,      /* no limit held it: nobody polled in time */
    SCHED_SKIP_REASON_COUNT
};

/* "running", "host_limit", "global_limit", "stalled": the `reason`
 * label. */
const char *sched_skip_reason_name(enum sched_skip_reason reason);

struct sched_event {
    enum sched_event_kind kind;
    uint64_t id;
    uint64_t late_ms; /* START: now - due time */
    /* SKIP: how many rounds this event stands for. A caller that polls at
     * least once per interval gets 1; after a stall one event per entry
     * and reason covers every round it missed (count them all). 0 for
     * START. */
    uint64_t rounds;
    enum sched_skip_reason reason; /* SKIP only */
};

struct sched *sched_new(unsigned max_concurrent, unsigned max_per_host,
                        uint64_t seed);
void sched_free(struct sched *s);

/* Changes the limits (reload); running entries are not touched. */
void sched_set_limits(struct sched *s, unsigned max_concurrent,
                      unsigned max_per_host);

/*
 * Adds an entry first due at first_due_ms. host is copied. 0, or -1 (out
 * of memory, duplicate id, interval 0).
 */
int sched_add(struct sched *s, uint64_t id, const char *host,
              uint64_t interval_ms, uint64_t first_due_ms);
/* The spread first due time for entry index of count starting at now. */
uint64_t sched_spread(uint64_t now_ms, uint64_t interval_ms, size_t index,
                      size_t count);
/* Removes an entry; if running, its slot is free at once and its later
 * sched_done is ignored (as long as the id is not added again). */
void sched_remove(struct sched *s, uint64_t id);
/*
 * Changes an entry's interval or host at time now (reload). A longer
 * interval keeps the round already due; a shorter one scales the time
 * left to the next round down with it (the spread is kept), and a
 * running or waiting entry's rounds of the new interval start at now, so
 * none counts as skipped before the reload. A running entry that changes
 * host takes its slot along; a waiting one keeps its place in the queue.
 */
int sched_update(struct sched *s, uint64_t id, const char *host,
                 uint64_t interval_ms, uint64_t now_ms);
bool sched_has(const struct sched *s, uint64_t id);

/*
 * Writes up to cap events for time now: skips first (at most one per
 * entry and reason, in the order they came due), then starts (first
 * come, first served), marking started entries running. Returns how many
 * were written; call again while it returns cap.
 */
size_t sched_poll(struct sched *s, uint64_t now_ms, struct sched_event *ev,
                  size_t cap);

/* The entry's probe finished. */
void sched_done(struct sched *s, uint64_t id, uint64_t now_ms);

/*
 * Milliseconds from now until the next due time of an entry that is not
 * running (0 if one is due and a slot is free), or until poll has a SKIP
 * to write (the next due time of a slot-blocked entry; that of a running
 * one plus the tolerance), whichever is first; UINT64_MAX if none. An
 * entry blocked by the limits waits for a sched_done: poll again after
 * each one.
 */
uint64_t sched_next_ms(const struct sched *s, uint64_t now_ms);

size_t sched_running(const struct sched *s);

/*
 * A probe outside the schedule (/probe) takes a slot under the same
 * limits: 1 when one was free (global and on host, case-insensitively),
 * 0 when a limit is reached, -1 when out of memory. It counts as running
 * until sched_release() with the same host: the scheduled entries wait
 * for it as for one of theirs. Entries already waiting for a slot are not
 * passed over: the caller polls (and so starts them) before it claims.
 */
int sched_claim(struct sched *s, const char *host);
void sched_release(struct sched *s, const char *host);

/*
 * Cost, for n entries: sched_has O(1); sched_add (amortised),
 * sched_remove, sched_update and sched_done O(log n); sched_poll
 * O((k + s) log n) for the k entries whose time came and the s it
 * starts; sched_next_ms O(1) after a poll at the same time (O(k) for k
 * entries due since). None of them looks at the other entries, nor at
 * the entries that wait for a slot on a host at its limit.
 * sched_set_limits looks at every host when max_per_host changes.
 */

/* Tests and benchmarks: the work done so far, in units that do not
 * depend on the machine. */
struct sched_work {
    uint64_t entries;     /* entries looked at by the calls above */
    uint64_t heap_steps;  /* levels that entries moved in its heaps */
    uint64_t hash_probes; /* slots its hash tables looked at */
};
void sched_work(const struct sched *s, struct sched_work *out);

#endif
