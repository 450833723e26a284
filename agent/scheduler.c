/* scheduler: when each target is due; spread, jitter, limits, overlap skips.
 */
#include "scheduler.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * Every entry stands at one round k of its grid: base is the grid point of
 * that round (first + k * interval, before jitter), its due time base plus
 * the jitter of round k. A waiting entry waits for round k; a running one
 * runs for round k. Rounds later than k that pass while the entry runs or
 * waits are skipped: base and k move on, never now, so the grid does not
 * drift however late a probe starts or ends.
 *
 * The start order is not the due time of round k: an entry that waited
 * for a slot through several rounds would then rank behind every entry
 * that came due after it in its last round, and with more entries on a
 * host than its slots can serve, the same few would always lose. A
 * waiting entry keeps the due time at which its wait began (since) until
 * it starts: first come, first served.
 *
 * Skips after a stall: poll writes at most one SKIP event per entry,
 * reason and call, with `rounds` saying how many rounds it covers. A loop
 * that polls at least once per interval sees one SKIP per missed round
 * (rounds == 1); after a long stall (SIGSTOP, a paused VM) an entry gets
 * one event for all the rounds it missed instead of a flood, and the
 * count stays exact. The reason is what held the entry when a poll last
 * tried to start it; rounds no poll saw at all are "stalled".
 */

/* Entries that share a host, case-insensitively: the per-host limit. */
struct sched_host {
    char *name; /* lower-cased copy */
    unsigned running;
    size_t refs;
};

struct sched_entry {
    uint64_t id;
    uint64_t seq; /* order of sched_add: breaks ties between due times */
    struct sched_host *host;
    uint64_t interval;
    uint64_t base; /* grid point of round k, without jitter */
    uint64_t k;
    uint64_t pending_skips; /* rounds that passed while running (done) */
    uint64_t since;         /* waiting: the due time its wait began at */
    /* Waiting: the limit that held it at the last poll that tried to
     * start it; SCHED_SKIP_STALLED when none has tried yet. */
    enum sched_skip_reason held;
    bool waiting; /* due, not running, not started since */
    bool running;
};

/* An entry due and not running, in poll's start order. */
struct sched_candidate {
    uint64_t since;
    uint64_t due;
    uint64_t seq;
    size_t index;
};

struct sched {
    unsigned max_concurrent;
    unsigned max_per_host;
    uint64_t seed;
    uint64_t next_seq;
    size_t running;

    struct sched_entry *entries;
    size_t n_entries;
    size_t cap_entries;
    struct sched_candidate *scratch; /* cap_entries of them, for poll */

    struct sched_host **hosts;
    size_t n_hosts;
    size_t cap_hosts;
};

/* Jitter never exceeds this, nor 1 % of the interval. */
#define SCHED_JITTER_MAX_MS 1000
/* How long after its next round came due a running entry may still end
 * and start that round late rather than skip it: at most this, or a
 * quarter of the interval. It covers the jitter (up to 1 s) and the
 * loop's latency for a probe that runs to a deadline equal to the
 * interval. */
#define SCHED_LATE_END_MAX_MS 2000

static const char *const skip_reason_names[] = {
    [SCHED_SKIP_RUNNING] = "running",
    [SCHED_SKIP_HOST_LIMIT] = "host_limit",
    [SCHED_SKIP_GLOBAL_LIMIT] = "global_limit",
    [SCHED_SKIP_STALLED] = "stalled",
};
_Static_assert(sizeof skip_reason_names / sizeof skip_reason_names[0] ==
                   SCHED_SKIP_REASON_COUNT,
               "a name for every skip reason");

const char *sched_skip_reason_name(enum sched_skip_reason reason)
{
    if ((unsigned)reason >= SCHED_SKIP_REASON_COUNT)
        return "unknown";
    return skip_reason_names[reason];
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Mixed step by step so that (id, k) and (k, id) differ. */
static uint64_t jitter(const struct sched *s, const struct sched_entry *e,
                       uint64_t k)
{
    uint64_t bound = e->interval / 100;
    if (bound > SCHED_JITTER_MAX_MS)
        bound = SCHED_JITTER_MAX_MS;
    if (bound == 0)
        return 0;
    uint64_t h = splitmix64(s->seed);
    h = splitmix64(h ^ e->id);
    h = splitmix64(h ^ k);
    return h % (bound + 1);
}

static uint64_t due_at(const struct sched *s, const struct sched_entry *e,
                       uint64_t j)
{
    return e->base + j * e->interval + jitter(s, e, e->k + j);
}

/*
 * How many rounds after k are due by now. The jitter stays below one
 * interval, so due times grow with the round and only the last grid point
 * passed can still be ahead once its jitter is added.
 */
static uint64_t rounds_passed(const struct sched *s,
                              const struct sched_entry *e, uint64_t now)
{
    if (now < e->base || now - e->base < e->interval)
        return 0;
    uint64_t c = (now - e->base) / e->interval;
    if (due_at(s, e, c) > now)
        c--;
    return c;
}

static void advance(struct sched_entry *e, uint64_t rounds)
{
    e->base += rounds * e->interval;
    e->k += rounds;
}

static uint64_t tolerance(const struct sched_entry *e)
{
    uint64_t t = e->interval / 4;
    return t < SCHED_LATE_END_MAX_MS ? t : SCHED_LATE_END_MAX_MS;
}

/* Rounds after k whose skip is due by now: for a waiting entry those that
 * came due; for a running one those that came due over a tolerance ago
 * (it may still end in time to start the last one late). */
static uint64_t rounds_to_skip(const struct sched *s,
                               const struct sched_entry *e, uint64_t now)
{
    if (!e->running)
        return rounds_passed(s, e, now);
    uint64_t tol = tolerance(e);
    return now < tol ? 0 : rounds_passed(s, e, now - tol);
}

struct sched *sched_new(unsigned max_concurrent, unsigned max_per_host,
                        uint64_t seed)
{
    struct sched *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->max_concurrent = max_concurrent;
    s->max_per_host = max_per_host;
    s->seed = seed;
    return s;
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_hosts; i++) {
        free(s->hosts[i]->name);
        free(s->hosts[i]);
    }
    free(s->hosts);
    free(s->entries);
    free(s->scratch);
    free(s);
}

void sched_set_limits(struct sched *s, unsigned max_concurrent,
                      unsigned max_per_host)
{
    s->max_concurrent = max_concurrent;
    s->max_per_host = max_per_host;
}

static struct sched_host *host_get(struct sched *s, const char *name)
{
    for (size_t i = 0; i < s->n_hosts; i++) {
        if (strcasecmp(s->hosts[i]->name, name) == 0) {
            s->hosts[i]->refs++;
            return s->hosts[i];
        }
    }
    if (s->n_hosts == s->cap_hosts) {
        size_t cap = s->cap_hosts ? s->cap_hosts * 2 : 8;
        struct sched_host **p = realloc(s->hosts, cap * sizeof(*p));
        if (!p)
            return NULL;
        s->hosts = p;
        s->cap_hosts = cap;
    }
    struct sched_host *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->name = strdup(name);
    if (!h->name) {
        free(h);
        return NULL;
    }
    for (char *c = h->name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    h->refs = 1;
    s->hosts[s->n_hosts++] = h;
    return h;
}

static void host_put(struct sched *s, struct sched_host *h)
{
    if (--h->refs > 0)
        return;
    for (size_t i = 0; i < s->n_hosts; i++) {
        if (s->hosts[i] == h) {
            s->hosts[i] = s->hosts[--s->n_hosts];
            break;
        }
    }
    free(h->name);
    free(h);
}

static struct sched_entry *find(const struct sched *s, uint64_t id)
{
    for (size_t i = 0; i < s->n_entries; i++)
        if (s->entries[i].id == id)
            return &s->entries[i];
    return NULL;
}

bool sched_has(const struct sched *s, uint64_t id)
{
    return find(s, id) != NULL;
}

/* Grows entries and the scratch array together, so poll never allocates. */
static int reserve_entry(struct sched *s)
{
    if (s->n_entries < s->cap_entries)
        return 0;
    size_t cap = s->cap_entries ? s->cap_entries * 2 : 16;
    struct sched_entry *e = realloc(s->entries, cap * sizeof(*e));
    if (!e)
        return -1;
    s->entries = e;
    struct sched_candidate *x = realloc(s->scratch, cap * sizeof(*x));
    if (!x)
        return -1;
    s->scratch = x;
    s->cap_entries = cap;
    return 0;
}

int sched_add(struct sched *s, uint64_t id, const char *host,
              uint64_t interval_ms, uint64_t first_due_ms)
{
    if (!host || interval_ms == 0 || find(s, id))
        return -1;
    if (reserve_entry(s) < 0)
        return -1;
    struct sched_host *h = host_get(s, host);
    if (!h)
        return -1;
    struct sched_entry *e = &s->entries[s->n_entries++];
    memset(e, 0, sizeof(*e));
    e->id = id;
    e->seq = s->next_seq++;
    e->host = h;
    e->interval = interval_ms;
    e->base = first_due_ms;
    e->held = SCHED_SKIP_STALLED;
    return 0;
}

uint64_t sched_spread(uint64_t now_ms, uint64_t interval_ms, size_t index,
                      size_t count)
{
    if (count == 0)
        return now_ms;
    /* interval * index could pass 2^64 for long intervals and many
     * entries. */
    unsigned __int128 off = (unsigned __int128)interval_ms * index / count;
    return now_ms + (uint64_t)off;
}

static void stop_running(struct sched *s, struct sched_entry *e)
{
    if (!e->running)
        return;
    e->running = false;
    e->host->running--;
    s->running--;
}

/*
 * The probe of a removed entry may still be in flight; its slot is freed
 * now all the same, so that a caller that never reports it cannot leak
 * slots. A caller that re-adds the id before the old probe ends must not
 * pass that probe's sched_done on: it would end the new entry's run.
 */
void sched_remove(struct sched *s, uint64_t id)
{
    struct sched_entry *e = find(s, id);
    if (!e)
        return;
    stop_running(s, e);
    host_put(s, e->host);
    *e = s->entries[--s->n_entries];
}

/*
 * A shorter interval, from now on. An entry waiting for a later round
 * keeps its share of the interval: the time left shrinks in proportion,
 * so entries spread over 1 h stay spread over 2 s. (Moving base back by
 * whole new intervals would keep base mod the new interval, and spreads
 * of whole seconds alias: 40 entries 90 s apart all fall on one phase of
 * 2 s.) A running or waiting entry's base moves to the last grid point of
 * the new interval not after now: rounds of the new interval before the
 * reload were never due, so none counts as skipped.
 */
static void shorten(struct sched_entry *e, uint64_t interval, uint64_t now)
{
    if (e->base > now) {
        unsigned __int128 left =
            (unsigned __int128)(e->base - now) * interval / e->interval;
        e->base = now + (left < interval ? (uint64_t)left : interval);
    } else {
        e->base += (now - e->base) / interval * interval;
    }
    e->interval = interval;
}

int sched_update(struct sched *s, uint64_t id, const char *host,
                 uint64_t interval_ms, uint64_t now_ms)
{
    struct sched_entry *e = find(s, id);
    if (!e || !host || interval_ms == 0)
        return -1;
    if (strcasecmp(e->host->name, host) != 0) {
        struct sched_host *h = host_get(s, host);
        if (!h)
            return -1;
        if (e->running) {
            e->host->running--;
            h->running++;
        }
        host_put(s, e->host);
        e->host = h;
    }
    if (interval_ms < e->interval)
        shorten(e, interval_ms, now_ms);
    /* Longer: base stays, the round already due keeps its time; only the
     * rounds after it follow the new interval. */
    e->interval = interval_ms;
    return 0;
}

/* The limit that holds e back now, or SCHED_SKIP_STALLED when none
 * does. The global one first: it is the one a slot must free first. */
static enum sched_skip_reason limit_held(const struct sched *s,
                                         const struct sched_entry *e)
{
    if (s->max_concurrent && s->running >= s->max_concurrent)
        return SCHED_SKIP_GLOBAL_LIMIT;
    if (s->max_per_host && e->host->running >= s->max_per_host)
        return SCHED_SKIP_HOST_LIMIT;
    return SCHED_SKIP_STALLED;
}

static bool slot_free(const struct sched *s, const struct sched_entry *e)
{
    return limit_held(s, e) == SCHED_SKIP_STALLED;
}

static int cmp_candidate(const void *a, const void *b)
{
    const struct sched_candidate *x = a, *y = b;
    if (x->since != y->since)
        return x->since < y->since ? -1 : 1;
    if (x->due != y->due)
        return x->due < y->due ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* e waits from its current due time on, unless it already did. */
static void start_waiting(const struct sched *s, struct sched_entry *e)
{
    if (e->waiting)
        return;
    e->waiting = true;
    e->since = due_at(s, e, 0);
    e->held = SCHED_SKIP_STALLED;
}

size_t sched_poll(struct sched *s, uint64_t now_ms, struct sched_event *ev,
                  size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_entries; i++) {
        struct sched_entry *e = &s->entries[i];
        if (e->pending_skips) {
            if (n == cap)
                return n;
            ev[n++] = (struct sched_event){.kind = SCHED_SKIP,
                                           .id = e->id,
                                           .rounds = e->pending_skips,
                                           .reason = SCHED_SKIP_RUNNING};
            e->pending_skips = 0;
        }
        uint64_t missed = rounds_to_skip(s, e, now_ms);
        if (missed == 0)
            continue;
        if (n == cap)
            return n;
        enum sched_skip_reason why = SCHED_SKIP_RUNNING;
        if (!e->running) {
            start_waiting(s, e);
            why = e->held;
        }
        advance(e, missed);
        ev[n++] = (struct sched_event){
            .kind = SCHED_SKIP, .id = e->id, .rounds = missed, .reason = why};
    }

    size_t nc = 0;
    for (size_t i = 0; i < s->n_entries; i++) {
        struct sched_entry *e = &s->entries[i];
        uint64_t due = due_at(s, e, 0);
        if (e->running || due > now_ms)
            continue;
        start_waiting(s, e);
        s->scratch[nc++] = (struct sched_candidate){
            .since = e->since, .due = due, .seq = e->seq, .index = i};
    }
    qsort(s->scratch, nc, sizeof(*s->scratch), cmp_candidate);

    for (size_t j = 0; j < nc && n < cap; j++) {
        struct sched_entry *e = &s->entries[s->scratch[j].index];
        e->held = limit_held(s, e);
        if (e->held != SCHED_SKIP_STALLED)
            continue;
        e->running = true;
        e->waiting = false;
        e->host->running++;
        s->running++;
        ev[n++] = (struct sched_event){.kind = SCHED_START,
                                       .id = e->id,
                                       .late_ms = now_ms - s->scratch[j].due,
                                       .rounds = 0};
    }
    return n;
}

void sched_done(struct sched *s, uint64_t id, uint64_t now_ms)
{
    struct sched_entry *e = find(s, id);
    if (!e || !e->running)
        return;
    /* Rounds that came while it ran were skipped, even if no poll saw
     * them, unless the last one came due within the tolerance: that one
     * starts now, late. Otherwise the next start is the first grid point
     * still ahead, never at once. */
    uint64_t skipped = rounds_to_skip(s, e, now_ms);
    uint64_t passed = rounds_passed(s, e, now_ms);
    stop_running(s, e);
    e->pending_skips += skipped;
    advance(e, passed > skipped ? passed : passed + 1);
}

uint64_t sched_next_ms(const struct sched *s, uint64_t now_ms)
{
    uint64_t best = UINT64_MAX;
    for (size_t i = 0; i < s->n_entries; i++) {
        const struct sched_entry *e = &s->entries[i];
        if (e->pending_skips)
            return 0;
        uint64_t t = due_at(s, e, 0);
        /* When poll has a SKIP to write. */
        if (e->running)
            t = due_at(s, e, 1) + tolerance(e);
        else if (t <= now_ms && !slot_free(s, e))
            t = due_at(s, e, 1);
        else if (t <= now_ms)
            return 0;
        if (t <= now_ms)
            return 0;
        if (t - now_ms < best)
            best = t - now_ms;
    }
    return best;
}

size_t sched_running(const struct sched *s)
{
    return s->running;
}
