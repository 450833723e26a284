/* scheduler: when each target is due; spread, jitter, limits, overlap skips.
 */
#include "scheduler.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hashtab.h"
#include "heap.h"

/*
 * Every entry stands at one round k of its grid: base is the grid point of
 * that round (first + k * interval, before jitter), its due time base plus
 * the jitter of round k. A waiting entry waits for round k; a running one
 * runs for round k. Rounds later than k that pass while the entry runs or
 * waits are skipped: base and k move on, never now, so the grid does not
 * drift however late a probe starts or ends. The due times of rounds k
 * and k + 1 (jitter included) are kept in the entry: the jitter is drawn
 * once per round, not at every look.
 *
 * The start order is not the due time of round k: an entry that waited
 * for a slot through several rounds would then rank behind every entry
 * that came due after it in its last round, and with more entries on a
 * host than its slots can serve, the same few would always lose. A
 * waiting entry keeps the due time at which its wait began (since) until
 * it starts: first come, first served, by (since, due, order of add).
 *
 * Skips after a stall: poll writes at most one SKIP event per entry,
 * reason and call, with `rounds` saying how many rounds it covers. A loop
 * that polls at least once per interval sees one SKIP per missed round
 * (rounds == 1); after a long stall (SIGSTOP, a paused VM) an entry gets
 * one event for all the rounds it missed instead of a flood, and the
 * count stays exact. The reason is what held the entry when a poll last
 * tried to start it; rounds no poll saw at all are "stalled".
 *
 * Where the work goes: nothing scans the entries. Each entry has one
 * timer in a heap: the next time poll has something to do for it (its
 * due time; its next round's, when its skip comes; that plus the
 * tolerance while it runs; 0 for a skip that sched_done left to report).
 * Poll handles the timers that came due. A due entry waits in its host's
 * queue (a heap in start order); the hosts whose queue has a head that
 * their limit lets start are in a heap of their own, by that head, so
 * that a start takes the first of all the waiting entries that may start
 * without looking at those held by their host. Entries are found by id,
 * hosts by name, through hashes.
 *
 * What held a waiting entry (its skip reason) is not written into every
 * waiting entry at every poll: a start phase tries the entries in start
 * order until one fills the global limit, so those it did not start
 * before that point were held by their host, the rest by the global
 * limit. Poll keeps that point of the last phase (and of the phases cut
 * short by the caller's cap since, which tried only a first part of the
 * order); an entry's reason follows from its place in the order, unless
 * it changed since that phase: then it was written into the entry.
 */

/* Entries that share a host, case-insensitively: the per-host limit. */
struct sched_host {
    char *name; /* lower-cased copy; NULL: a free slot */
    unsigned running;
    size_t refs;
    struct heap queue; /* its waiting entries that are due, in start order */
    size_t ready_pos;  /* in sched.ready, or HEAP_NONE */
    size_t next_free;  /* free slot: the next free one */
};

struct sched_entry {
    uint64_t id;
    uint64_t seq; /* order of sched_add: breaks ties between due times */
    size_t host;  /* slot in sched.hosts */
    uint64_t interval;
    uint64_t base; /* grid point of round k, without jitter */
    uint64_t k;
    uint64_t due;           /* due time of round k, jitter included */
    uint64_t next_due;      /* and of round k + 1 */
    uint64_t pending_skips; /* rounds that passed while running (done) */
    uint64_t since;         /* waiting: the due time its wait began at */
    /* Waiting: the limit that held it at the last poll that tried to
     * start it, as of held_stamp (see held_now); SCHED_SKIP_STALLED when
     * none has tried yet. */
    enum sched_skip_reason held;
    uint64_t held_stamp;
    size_t timer_pos; /* in sched.timers, or HEAP_NONE */
    size_t queue_pos; /* in its host's queue, or HEAP_NONE */
    size_t next_free; /* free slot: the next free one */
    bool waiting;     /* due, not running, not started since */
    bool running;
};

/* A start phase cut short by the caller's cap: it tried the waiting
 * entries up to `upto` in start order, and did not start them for their
 * host's limit (a phase that fills the global limit is never cut). */
struct sched_cut {
    uint64_t stamp;
    struct heap_key upto;
};

struct sched {
    unsigned max_concurrent;
    unsigned max_per_host;
    uint64_t seed;
    uint64_t next_seq;
    size_t running;

    struct sched_entry *entries; /* slots; items of the heaps below */
    size_t n_slots;
    size_t cap_entries;
    size_t n_entries; /* live ones */
    size_t free_entry;
    struct hashtab ids; /* id -> slot */
    struct heap timers; /* every entry, by when poll has work for it */

    struct sched_host *hosts;
    size_t n_host_slots;
    size_t cap_hosts;
    size_t n_hosts; /* live ones */
    size_t free_host;
    struct hashtab host_names; /* lower-cased name -> slot */
    struct heap ready;         /* hosts whose queue's head may start, by it */

    /* Counts start phases and writes of held: orders them. */
    uint64_t stamp;
    /* The last start phase that was not cut short (0: none yet): it
     * filled the global limit (from the start: at the zero key) at
     * full_at, or not. */
    uint64_t full_stamp;
    bool full_global;
    struct heap_key full_at;
    /* The cut phases since, oldest first: stamps rise, upto falls (a cut
     * that tried more makes the older ones moot). */
    struct sched_cut *cuts;
    size_t n_cuts;
    size_t cap_cuts;

    struct sched_work *work; /* apart, so that const calls can count */
};

#define SLOT_NONE SIZE_MAX

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

/* a + b, or UINT64_MAX past it: a due time past the clock's end never
 * comes, rather than wrapping to one that already came. */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t next_round_due(const struct sched *s,
                               const struct sched_entry *e)
{
    return sat_add(sat_add(e->base, e->interval), jitter(s, e, e->k + 1));
}

/* The due times of rounds k and k + 1, after base, k or interval moved. */
static void refresh(const struct sched *s, struct sched_entry *e)
{
    e->due = sat_add(e->base, jitter(s, e, e->k));
    e->next_due = next_round_due(s, e);
}

static uint64_t due_at(const struct sched *s, const struct sched_entry *e,
                       uint64_t j)
{
    if (j == 0)
        return e->due;
    if (j == 1)
        return e->next_due;
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

static void advance(const struct sched *s, struct sched_entry *e,
                    uint64_t rounds)
{
    if (rounds == 0)
        return;
    e->base += rounds * e->interval;
    e->k += rounds;
    if (rounds == 1) {
        e->due = e->next_due;
        e->next_due = next_round_due(s, e);
    } else {
        refresh(s, e);
    }
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

static bool queued(const struct sched_entry *e)
{
    return e->queue_pos != HEAP_NONE;
}

/* The start order: first come, first served. */
static struct heap_key queue_key(const struct sched_entry *e)
{
    return (struct heap_key){.a = e->since, .b = e->due, .c = e->seq};
}

/* When poll has something to do for e: a skip to report, a skip of the
 * round it runs or waits past, or its due time. */
static struct heap_key timer_key(const struct sched_entry *e)
{
    uint64_t t;
    if (e->pending_skips)
        t = 0;
    else if (e->running)
        t = sat_add(e->next_due, tolerance(e));
    else if (queued(e))
        t = e->next_due;
    else
        t = e->due;
    return (struct heap_key){.a = t, .b = e->seq};
}

static void timer_moved(void *ctx, size_t item, size_t pos)
{
    ((struct sched *)ctx)->entries[item].timer_pos = pos;
}

static void queue_moved(void *ctx, size_t item, size_t pos)
{
    ((struct sched *)ctx)->entries[item].queue_pos = pos;
}

static void ready_moved(void *ctx, size_t item, size_t pos)
{
    ((struct sched *)ctx)->hosts[item].ready_pos = pos;
}

static void retime(struct sched *s, size_t slot)
{
    struct sched_entry *e = &s->entries[slot];
    heap_update(&s->timers, e->timer_pos, timer_key(e));
}

struct sched *sched_new(unsigned max_concurrent, unsigned max_per_host,
                        uint64_t seed)
{
    struct sched *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->work = calloc(1, sizeof(*s->work));
    if (!s->work) {
        free(s);
        return NULL;
    }
    s->max_concurrent = max_concurrent;
    s->max_per_host = max_per_host;
    s->seed = seed;
    s->free_entry = SLOT_NONE;
    s->free_host = SLOT_NONE;
    hashtab_init(&s->ids);
    hashtab_init(&s->host_names);
    s->ids.probes = &s->work->hash_probes;
    s->host_names.probes = &s->work->hash_probes;
    heap_init(&s->timers, timer_moved, s);
    heap_init(&s->ready, ready_moved, s);
    s->timers.steps = &s->work->heap_steps;
    s->ready.steps = &s->work->heap_steps;
    return s;
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_host_slots; i++) {
        free(s->hosts[i].name);
        heap_free(&s->hosts[i].queue);
    }
    free(s->hosts);
    free(s->entries);
    hashtab_free(&s->ids);
    hashtab_free(&s->host_names);
    heap_free(&s->timers);
    heap_free(&s->ready);
    free(s->cuts);
    free(s->work);
    free(s);
}

static bool global_full(const struct sched *s)
{
    return s->max_concurrent && s->running >= s->max_concurrent;
}

static bool host_full(const struct sched *s, const struct sched_host *h)
{
    return s->max_per_host && h->running >= s->max_per_host;
}

/* The host is in the ready heap, by its queue's head, exactly when that
 * head may start as far as the host's limit goes. */
static void host_ready(struct sched *s, size_t hi)
{
    struct sched_host *h = &s->hosts[hi];
    const struct heap_node *head = heap_top(&h->queue);
    if (!head || host_full(s, h)) {
        if (h->ready_pos != HEAP_NONE)
            heap_remove(&s->ready, h->ready_pos);
        return;
    }
    if (h->ready_pos == HEAP_NONE)
        heap_push(&s->ready, head->key, hi); /* room: one per host */
    else
        heap_update(&s->ready, h->ready_pos, head->key);
}

void sched_set_limits(struct sched *s, unsigned max_concurrent,
                      unsigned max_per_host)
{
    bool per_host_changed = s->max_per_host != max_per_host;
    s->max_concurrent = max_concurrent;
    s->max_per_host = max_per_host;
    if (!per_host_changed)
        return;
    for (size_t i = 0; i < s->n_host_slots; i++)
        if (s->hosts[i].name)
            host_ready(s, i);
}

static bool host_eq(const void *ctx, size_t value, const void *key)
{
    const struct sched *s = ctx;
    return strcasecmp(s->hosts[value].name, key) == 0;
}

/* A free host slot, the array grown if need be; SLOT_NONE when out of
 * memory. */
static size_t host_slot(struct sched *s)
{
    if (s->free_host != SLOT_NONE) {
        size_t i = s->free_host;
        s->free_host = s->hosts[i].next_free;
        return i;
    }
    if (s->n_host_slots == s->cap_hosts) {
        size_t cap = s->cap_hosts ? s->cap_hosts * 2 : 8;
        struct sched_host *p = realloc(s->hosts, cap * sizeof(*p));
        if (!p)
            return SLOT_NONE;
        s->hosts = p;
        s->cap_hosts = cap;
    }
    s->hosts[s->n_host_slots] = (struct sched_host){0};
    return s->n_host_slots++;
}

static void host_slot_free(struct sched *s, size_t hi)
{
    struct sched_host *h = &s->hosts[hi];
    free(h->name);
    heap_free(&h->queue);
    *h =
        (struct sched_host){.next_free = s->free_host, .ready_pos = HEAP_NONE};
    s->free_host = hi;
}

/* A new host named name with one reference; SLOT_NONE when out of
 * memory. */
static size_t host_new(struct sched *s, const char *name, uint64_t hash)
{
    if (heap_reserve(&s->ready, s->n_hosts + 1) < 0)
        return SLOT_NONE;
    size_t hi = host_slot(s);
    if (hi == SLOT_NONE)
        return SLOT_NONE;
    struct sched_host *h = &s->hosts[hi];
    *h = (struct sched_host){.ready_pos = HEAP_NONE, .refs = 1};
    heap_init(&h->queue, queue_moved, s);
    h->queue.steps = &s->work->heap_steps;
    h->name = strdup(name);
    if (!h->name || heap_reserve(&h->queue, 1) < 0 ||
        hashtab_insert(&s->host_names, hash, hi) < 0) {
        host_slot_free(s, hi);
        return SLOT_NONE;
    }
    for (char *c = h->name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    s->n_hosts++;
    return hi;
}

/* The host named name (case-insensitively), with one more reference and
 * room in its queue for it; SLOT_NONE when out of memory. */
static size_t host_get(struct sched *s, const char *name)
{
    uint64_t hash = hashtab_hash_nocase(name);
    size_t hi = hashtab_find(&s->host_names, hash, name, host_eq, s);
    if (hi == HASHTAB_NONE)
        return host_new(s, name, hash);
    struct sched_host *h = &s->hosts[hi];
    if (heap_reserve(&h->queue, h->refs + 1) < 0)
        return SLOT_NONE;
    h->refs++;
    return hi;
}

static void host_put(struct sched *s, size_t hi)
{
    struct sched_host *h = &s->hosts[hi];
    if (--h->refs > 0)
        return;
    if (h->ready_pos != HEAP_NONE)
        heap_remove(&s->ready, h->ready_pos);
    hashtab_remove(&s->host_names, hashtab_hash_nocase(h->name), h->name,
                   host_eq, s);
    host_slot_free(s, hi);
    s->n_hosts--;
}

static bool id_eq(const void *ctx, size_t value, const void *key)
{
    const struct sched *s = ctx;
    return s->entries[value].id == *(const uint64_t *)key;
}

/* The slot of the entry with id id, or SLOT_NONE. */
static size_t find(const struct sched *s, uint64_t id)
{
    size_t i = hashtab_find(&s->ids, hashtab_hash_u64(id), &id, id_eq, s);
    return i == HASHTAB_NONE ? SLOT_NONE : i;
}

bool sched_has(const struct sched *s, uint64_t id)
{
    return find(s, id) != SLOT_NONE;
}

/* A free entry slot, the array grown if need be; SLOT_NONE when out of
 * memory. */
static size_t entry_slot(struct sched *s)
{
    if (s->free_entry != SLOT_NONE) {
        size_t i = s->free_entry;
        s->free_entry = s->entries[i].next_free;
        return i;
    }
    if (s->n_slots == s->cap_entries) {
        size_t cap = s->cap_entries ? s->cap_entries * 2 : 16;
        struct sched_entry *p = realloc(s->entries, cap * sizeof(*p));
        if (!p)
            return SLOT_NONE;
        s->entries = p;
        s->cap_entries = cap;
    }
    return s->n_slots++;
}

static void entry_slot_free(struct sched *s, size_t i)
{
    s->entries[i] = (struct sched_entry){.next_free = s->free_entry,
                                         .timer_pos = HEAP_NONE,
                                         .queue_pos = HEAP_NONE};
    s->free_entry = i;
}

int sched_add(struct sched *s, uint64_t id, const char *host,
              uint64_t interval_ms, uint64_t first_due_ms)
{
    if (!host || interval_ms == 0 || find(s, id) != SLOT_NONE)
        return -1;
    /* Room first: once the entry is in, nothing can fail. */
    if (heap_reserve(&s->timers, s->n_entries + 1) < 0 ||
        hashtab_reserve(&s->ids, s->n_entries + 1) < 0)
        return -1;
    size_t i = entry_slot(s);
    if (i == SLOT_NONE)
        return -1;
    size_t hi = host_get(s, host);
    if (hi == SLOT_NONE) {
        entry_slot_free(s, i);
        return -1;
    }
    struct sched_entry *e = &s->entries[i];
    *e = (struct sched_entry){.id = id,
                              .seq = s->next_seq++,
                              .host = hi,
                              .interval = interval_ms,
                              .base = first_due_ms,
                              .held = SCHED_SKIP_STALLED,
                              .timer_pos = HEAP_NONE,
                              .queue_pos = HEAP_NONE};
    refresh(s, e);
    hashtab_insert(&s->ids, hashtab_hash_u64(id), i); /* reserved */
    heap_push(&s->timers, timer_key(e), i);           /* reserved */
    s->n_entries++;
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

/* Was e, waiting with the key `key` since `stamp`, tried by a cut phase
 * since? The first cut after stamp tried the most. */
static bool cut_tried(const struct sched *s, uint64_t stamp,
                      struct heap_key key)
{
    size_t lo = 0, hi = s->n_cuts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->cuts[mid].stamp > stamp)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo < s->n_cuts && !heap_key_less(s->cuts[lo].upto, key);
}

/*
 * What holds e back, as the last poll that tried to start it found. A
 * phase tries the queued entries in start order: those it passed before
 * it filled the global limit were held by their host, the others by the
 * global limit. A cut phase filled nothing before its cut. held_stamp
 * says which phases came after what the entry holds itself.
 */
static enum sched_skip_reason held_now(const struct sched *s,
                                       const struct sched_entry *e)
{
    if (!queued(e))
        return e->held;
    struct heap_key key = queue_key(e);
    if (cut_tried(s, e->held_stamp, key))
        return SCHED_SKIP_HOST_LIMIT;
    if (s->full_stamp <= e->held_stamp)
        return e->held;
    if (s->full_global && !heap_key_less(key, s->full_at))
        return SCHED_SKIP_GLOBAL_LIMIT;
    return SCHED_SKIP_HOST_LIMIT;
}

/* e's key or place is about to change: it keeps its reason itself. */
static void held_keep(struct sched *s, struct sched_entry *e,
                      enum sched_skip_reason held)
{
    e->held = held;
    e->held_stamp = ++s->stamp;
}

/* A start phase ran to its end. */
static void phase_full(struct sched *s, bool global, struct heap_key at)
{
    s->full_stamp = ++s->stamp;
    s->full_global = global;
    s->full_at = at;
    s->n_cuts = 0;
}

/* A start phase stopped at the caller's cap after trying up to upto. */
static void phase_cut(struct sched *s, struct heap_key upto)
{
    while (s->n_cuts && !heap_key_less(upto, s->cuts[s->n_cuts - 1].upto))
        s->n_cuts--;
    if (s->n_cuts == s->cap_cuts) {
        size_t cap = s->cap_cuts ? s->cap_cuts * 2 : 4;
        struct sched_cut *p = realloc(s->cuts, cap * sizeof(*p));
        if (!p)
            return; /* the entries it tried keep what they held before */
        s->cuts = p;
        s->cap_cuts = cap;
    }
    s->cuts[s->n_cuts++] =
        (struct sched_cut){.stamp = ++s->stamp, .upto = upto};
}

/* e is due and not running: it waits in its host's queue, from its
 * current due time on unless it already did. */
static void enqueue(struct sched *s, size_t i)
{
    struct sched_entry *e = &s->entries[i];
    if (!e->waiting) {
        e->waiting = true;
        e->since = e->due;
        e->held = SCHED_SKIP_STALLED;
    }
    e->held_stamp = ++s->stamp;
    heap_push(&s->hosts[e->host].queue, queue_key(e), i); /* reserved */
    host_ready(s, e->host);
}

static void dequeue(struct sched *s, struct sched_entry *e)
{
    if (!queued(e))
        return;
    heap_remove(&s->hosts[e->host].queue, e->queue_pos);
    host_ready(s, e->host);
}

static void stop_running(struct sched *s, struct sched_entry *e)
{
    if (!e->running)
        return;
    e->running = false;
    s->hosts[e->host].running--;
    s->running--;
    host_ready(s, e->host);
}

/*
 * The probe of a removed entry may still be in flight; its slot is freed
 * now all the same, so that a caller that never reports it cannot leak
 * slots. A caller that re-adds the id before the old probe ends must not
 * pass that probe's sched_done on: it would end the new entry's run.
 */
void sched_remove(struct sched *s, uint64_t id)
{
    size_t i = find(s, id);
    if (i == SLOT_NONE)
        return;
    struct sched_entry *e = &s->entries[i];
    s->work->entries++;
    stop_running(s, e);
    dequeue(s, e);
    heap_remove(&s->timers, e->timer_pos);
    hashtab_remove(&s->ids, hashtab_hash_u64(id), &id, id_eq, s);
    host_put(s, e->host);
    entry_slot_free(s, i);
    s->n_entries--;
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

/* Entry i moves to host hi (one reference taken): a running one takes
 * its slot along, a waiting one its place in the order. */
static void move_host(struct sched *s, size_t i, size_t hi)
{
    struct sched_entry *e = &s->entries[i];
    size_t old = e->host;
    if (e->running) {
        s->hosts[old].running--;
        s->hosts[hi].running++;
    }
    bool was_queued = queued(e);
    if (was_queued)
        heap_remove(&s->hosts[old].queue, e->queue_pos);
    e->host = hi;
    if (was_queued)
        heap_push(&s->hosts[hi].queue, queue_key(e), i); /* reserved */
    host_ready(s, old);
    host_ready(s, hi);
    host_put(s, old);
}

int sched_update(struct sched *s, uint64_t id, const char *host,
                 uint64_t interval_ms, uint64_t now_ms)
{
    size_t i = find(s, id);
    if (i == SLOT_NONE || !host || interval_ms == 0)
        return -1;
    struct sched_entry *e = &s->entries[i];
    s->work->entries++;
    if (strcasecmp(s->hosts[e->host].name, host) != 0) {
        size_t hi = host_get(s, host);
        if (hi == SLOT_NONE)
            return -1;
        move_host(s, i, hi);
    }
    /* Its key may change: what held it is its own from now on. */
    if (queued(e))
        held_keep(s, e, held_now(s, e));
    if (interval_ms < e->interval)
        shorten(e, interval_ms, now_ms);
    /* Longer: base stays, the round already due keeps its time; only the
     * rounds after it follow the new interval. */
    e->interval = interval_ms;
    refresh(s, e);
    if (queued(e)) {
        /* A new jitter may put its round ahead again: it waits for it
         * out of the queue, keeping its place (since). */
        if (e->due > now_ms) {
            dequeue(s, e);
        } else {
            heap_update(&s->hosts[e->host].queue, e->queue_pos, queue_key(e));
            host_ready(s, e->host);
        }
    }
    retime(s, i);
    return 0;
}

static void put_skip(struct sched_event *ev, size_t *n, uint64_t id,
                     uint64_t rounds, enum sched_skip_reason why)
{
    ev[(*n)++] = (struct sched_event){
        .kind = SCHED_SKIP, .id = id, .rounds = rounds, .reason = why};
}

/*
 * One step of poll's work for entry i, whose timer came due: the skips
 * that sched_done left to report, its wait when it came due, or the
 * skip of the rounds it ran or waited past. The caller sets its timer
 * again, to its next step: the steps of all entries come in the order of
 * their times. False when the event found no room (the step waits for
 * the next call).
 */
static bool fire(struct sched *s, size_t i, uint64_t now,
                 struct sched_event *ev, size_t *n, size_t cap)
{
    struct sched_entry *e = &s->entries[i];
    s->work->entries++;
    if (e->pending_skips) {
        if (*n == cap)
            return false;
        put_skip(ev, n, e->id, e->pending_skips, SCHED_SKIP_RUNNING);
        e->pending_skips = 0;
        return true;
    }
    if (!e->running && !queued(e)) {
        if (e->due <= now)
            enqueue(s, i);
        return true;
    }
    uint64_t missed = rounds_to_skip(s, e, now);
    if (missed == 0)
        return true;
    if (*n == cap)
        return false;
    if (e->running) {
        put_skip(ev, n, e->id, missed, SCHED_SKIP_RUNNING);
        advance(s, e, missed);
        return true;
    }
    enum sched_skip_reason why = held_now(s, e);
    put_skip(ev, n, e->id, missed, why);
    held_keep(s, e, why);
    advance(s, e, missed);
    heap_update(&s->hosts[e->host].queue, e->queue_pos, queue_key(e));
    host_ready(s, e->host);
    return true;
}

/* Starts the queue's head of the first ready host. */
static void start(struct sched *s, uint64_t now, struct sched_event *ev,
                  size_t *n, struct heap_key *key)
{
    struct sched_host *h = &s->hosts[heap_top(&s->ready)->item];
    size_t i = heap_top(&h->queue)->item;
    struct sched_entry *e = &s->entries[i];
    s->work->entries++;
    *key = queue_key(e);
    dequeue(s, e);
    e->waiting = false;
    e->running = true;
    s->hosts[e->host].running++;
    s->running++;
    host_ready(s, e->host);
    retime(s, i);
    ev[(*n)++] = (struct sched_event){
        .kind = SCHED_START, .id = e->id, .late_ms = now - e->due};
}

/* Starts the waiting entries that the limits let start, first come first
 * served, while there is room for their events. */
static void start_phase(struct sched *s, uint64_t now, struct sched_event *ev,
                        size_t *n, size_t cap)
{
    if (*n == cap)
        return; /* tried nothing */
    struct heap_key key = {0};
    bool filled = global_full(s);
    while (!filled && *n < cap && heap_top(&s->ready)) {
        start(s, now, ev, n, &key);
        filled = global_full(s);
    }
    if (*n == cap)
        phase_cut(s, key);
    else
        phase_full(s, filled, key);
}

size_t sched_poll(struct sched *s, uint64_t now_ms, struct sched_event *ev,
                  size_t cap)
{
    size_t n = 0;
    for (;;) {
        const struct heap_node *top = heap_top(&s->timers);
        if (!top || top->key.a > now_ms)
            break;
        size_t i = top->item;
        bool room = fire(s, i, now_ms, ev, &n, cap);
        retime(s, i);
        if (!room)
            return n;
    }
    start_phase(s, now_ms, ev, &n, cap);
    return n;
}

void sched_done(struct sched *s, uint64_t id, uint64_t now_ms)
{
    size_t i = find(s, id);
    if (i == SLOT_NONE || !s->entries[i].running)
        return;
    struct sched_entry *e = &s->entries[i];
    s->work->entries++;
    /* Rounds that came while it ran were skipped, even if no poll saw
     * them, unless the last one came due within the tolerance: that one
     * starts now, late. Otherwise the next start is the first grid point
     * still ahead, never at once. */
    uint64_t skipped = rounds_to_skip(s, e, now_ms);
    uint64_t passed = rounds_passed(s, e, now_ms);
    stop_running(s, e);
    e->pending_skips += skipped;
    advance(s, e, passed > skipped ? passed : passed + 1);
    retime(s, i);
}

/*
 * The timers at pos and below that came due, which poll has not handled
 * yet (their subtree in the heap; those after now end the walk): false
 * when poll has work at once, else the earliest time it will have lowers
 * *best. An entry that came due and finds no slot has work when its
 * next round comes (a SKIP), like one already waiting.
 */
static bool next_below(const struct sched *s, size_t pos, uint64_t now,
                       uint64_t *best)
{
    if (pos >= s->timers.n)
        return true;
    const struct heap_node *node = &s->timers.nodes[pos];
    s->work->entries++;
    if (node->key.a > now) {
        if (node->key.a - now < *best)
            *best = node->key.a - now;
        return true;
    }
    const struct sched_entry *e = &s->entries[node->item];
    if (e->pending_skips || e->running || queued(e))
        return false; /* a skip to write */
    if (!global_full(s) && !host_full(s, &s->hosts[e->host]))
        return false; /* a start */
    if (e->next_due <= now)
        return false;
    if (e->next_due - now < *best)
        *best = e->next_due - now;
    return next_below(s, 2 * pos + 1, now, best) &&
           next_below(s, 2 * pos + 2, now, best);
}

uint64_t sched_next_ms(const struct sched *s, uint64_t now_ms)
{
    /* A waiting entry that may start. */
    if (heap_top(&s->ready) && !global_full(s))
        return 0;
    uint64_t best = UINT64_MAX;
    if (!next_below(s, 0, now_ms, &best))
        return 0;
    return best;
}

size_t sched_running(const struct sched *s)
{
    return s->running;
}

int sched_claim(struct sched *s, const char *host)
{
    if (global_full(s))
        return 0;
    size_t hi = host_get(s, host);
    if (hi == SLOT_NONE)
        return -1;
    struct sched_host *h = &s->hosts[hi];
    /* Waiting entries of the host go first. */
    if (host_full(s, h) || heap_top(&h->queue)) {
        host_put(s, hi);
        return 0;
    }
    h->running++;
    s->running++;
    host_ready(s, hi);
    return 1;
}

void sched_release(struct sched *s, const char *host)
{
    size_t hi = hashtab_find(&s->host_names, hashtab_hash_nocase(host), host,
                             host_eq, s);
    if (hi == HASHTAB_NONE || s->hosts[hi].running == 0)
        return;
    s->hosts[hi].running--;
    s->running--;
    host_ready(s, hi);
    host_put(s, hi);
}

void sched_work(const struct sched *s, struct sched_work *out)
{
    *out = *s->work;
}
