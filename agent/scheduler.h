/* sched: when each target is due; spread, jitter, limits, overlap skips. */
#ifndef SCHED_H
#define SCHED_H

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
 * next due time moves on by one interval.
 */
struct sched;

enum sched_event_kind { SCHED_START, SCHED_SKIP };

struct sched_event {
    enum sched_event_kind kind;
    uint64_t id;
    uint64_t late_ms; /* START: now - due time */
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
/* Removes an entry; if running, its later sched_done is ignored. */
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

/* Milliseconds from now until the next due time of an entry that is not
 * running (0 if one is due and a slot is free); UINT64_MAX if none. */
uint64_t sched_next_ms(const struct sched *s, uint64_t now_ms);

size_t sched_running(const struct sched *s);

#endif
