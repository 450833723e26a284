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
 * and fewer than max_per_host entries with the same host. An entry that
 * is still running (or still waiting for a free slot) when its next due
 * time comes is skipped for that round: one SCHED_SKIP event, and its
 * next due time moves on by one interval. Rounds that pass while an entry
 * runs are skipped even when no poll came in between (sched_done reports
 * them to the next poll): after sched_done the entry starts again at the
 * first grid point still ahead, never at once. A limit of 0 means none.
 */
struct sched;

enum sched_event_kind { SCHED_START, SCHED_SKIP };

struct sched_event {
    enum sched_event_kind kind;
    uint64_t id;
    uint64_t late_ms; /* START: now - due time */
    /* SKIP: how many rounds this event stands for. A caller that polls at
     * least once per interval gets 1; after a stall one event per entry
     * covers every round it missed (count them all). 0 for START. */
    uint64_t rounds;
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
/* Changes an entry's interval or host, keeping its grid position. */
int sched_update(struct sched *s, uint64_t id, const char *host,
                 uint64_t interval_ms);
bool sched_has(const struct sched *s, uint64_t id);

/*
 * Writes up to cap events for time now: skips first, then starts (the
 * longest-waiting first), marking started entries running. Returns how
 * many were written; call again while it returns cap.
 */
size_t sched_poll(struct sched *s, uint64_t now_ms, struct sched_event *ev,
                  size_t cap);

/* The entry's probe finished. */
void sched_done(struct sched *s, uint64_t id, uint64_t now_ms);

/*
 * Milliseconds from now until the next due time of an entry that is not
 * running (0 if one is due and a slot is free), or until the next due time
 * of a running or slot-blocked entry passes (poll then has its SKIP to
 * write), whichever is first; UINT64_MAX if none. An entry blocked by the
 * limits waits for a sched_done: poll again after each one.
 */
uint64_t sched_next_ms(const struct sched *s, uint64_t now_ms);

size_t sched_running(const struct sched *s);

#endif
