/* runner: the probe loop: scheduler, prober and metrics, and reloads. */
#include "runner.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hashtab.h"
#include "labels.h"
#include "log.h"
#include "now.h"
#include "report.h"
#include "scheduler.h"

#define EVENTS_PER_POLL 64
/* Ids of /probe's probes: apart from the scheduler's, which count up
 * from 1. */
#define ONDEMAND_ID_BIT ((uint64_t)1 << 63)
/* Jobs taken from the queue per turn. */
#define ONDEMAND_TAKE 16
/* A fault of the agent's own (descriptors, memory) tends to come in
 * floods, one per probe: at most one line per kind in this time. */
#define FAULT_LOG_MS 10000

/* What the runner remembers of a target across reloads. */
struct target_state {
    uint64_t id; /* the scheduler's id */
    /* When a reload last changed the secret, and AUTH success since. */
    struct report_history history;
};

/* The warn lines of one fault kind, rate-limited. */
struct fault_log {
    bool logged; /* a line was written, at last_ms */
    uint64_t last_ms;
    uint64_t unlogged; /* faults since that line */
    /* The latest unlogged one, for the line that reports them. */
    char target[CONFIG_TARGET_NAME_MAX + 1];
    char detail[sizeof(((struct probe_result *)0)->detail)];
};

/* A /probe job the runner holds: waiting for a slot, or probing. */
struct od_job {
    struct ondemand_job *job;
    uint64_t id; /* the probe's, once it runs; 0 while it waits */
    char host[CONFIG_HOST_MAX + 1]; /* the slot it holds, once it runs */
};

struct runner {
    struct agent_config *cfg;
    struct target_state *state; /* parallel to cfg->targets */
    /* Indices into cfg->targets (and state): by name, by scheduler id. */
    struct hashtab by_name;
    struct hashtab by_id;
    uint64_t next_id;
    struct sched *sched;
    struct prober *prober;
    struct metrics *metrics;
    bool once;
    struct probe_result *results; /* once mode, one per target */
    size_t n_done;
    uint64_t (*clock)(void);
    struct fault_log faults[PROBE_FAULT_COUNT];

    struct ondemand *ondemand;
    struct od_job *od; /* oldest first */
    size_t n_od, cap_od;
    uint64_t next_od_id;
};

static uint64_t now_ms(const struct runner *r)
{
    return r->clock();
}

static bool name_eq(const void *ctx, size_t value, const void *key)
{
    const struct agent_config *cfg = ctx;
    return strcmp(cfg->targets[value].name, key) == 0;
}

static bool id_eq(const void *ctx, size_t value, const void *key)
{
    const struct target_state *state = ctx;
    return state[value].id == *(const uint64_t *)key;
}

/* The index in cfg of the target named name, indexed by t; -1 when
 * there is none. */
static long name_index(const struct hashtab *t, const struct agent_config *cfg,
                       const char *name)
{
    size_t i = hashtab_find(t, hashtab_hash_str(name), name, name_eq, cfg);
    return i == HASHTAB_NONE ? -1 : (long)i;
}

/* The index in the current config of the target with scheduler id id;
 * -1 when it was removed meanwhile. */
static long target_index(const struct runner *r, uint64_t id)
{
    size_t i =
        hashtab_find(&r->by_id, hashtab_hash_u64(id), &id, id_eq, r->state);
    return i == HASHTAB_NONE ? -1 : (long)i;
}

/* A failure's line names its class or error, its code and the
 * catalogue's one-line meaning, so that a log alone says what broke. */
static void log_outcome(const struct probe_result *res)
{
    char detail[256], meaning[128];
    if (res->success && report_failed_check(res) >= 0) {
        /* The server works; it does not refuse what it must. */
        int k = report_failed_check(res);
        log_quote(detail, sizeof(detail), res->checks[k].detail);
        log_info("runner", "check failed",
                 "target=%s check=%s code=%d duration=%.3f detail=%s",
                 res->target, check_name((enum probe_check)k),
                 res->checks[k].code, res->duration_seconds, detail);
        return;
    }
    if (res->success) {
        log_debug("runner", "probe succeeded", "target=%s duration=%.3f",
                  res->target, res->duration_seconds);
        return;
    }
    struct report rep;
    report_make(&rep, res, NULL, now_unix());
    log_quote(detail, sizeof(detail), res->detail);
    log_quote(meaning, sizeof(meaning), rep.entry ? rep.entry->title : "");
    if (res->error != PROBE_ERROR_NONE)
        log_info("runner", "probe failed",
                 "target=%s stage=%s error=%s duration=%.3f detail=%s "
                 "meaning=%s",
                 res->target, probe_stage_name(res->stage), rep.outcome,
                 res->duration_seconds, detail, meaning);
    else
        log_info("runner", "probe failed",
                 "target=%s stage=%s code=%d class=%s duration=%.3f "
                 "detail=%s meaning=%s",
                 res->target, probe_stage_name(res->stage),
                 rep.reply ? rep.reply->code : 0, rep.outcome,
                 res->duration_seconds, detail, meaning);
}

static bool auth_succeeded(const struct probe_result *res)
{
    for (size_t k = 0; k < res->n_auth; k++)
        if (res->auth[k].reply.code ==
            classify_expected_code(PROBE_STAGE_AUTH))
            return true;
    return false;
}

static const char *fault_message(enum probe_fault fault)
{
    switch (fault) {
    case PROBE_FAULT_FILE_DESCRIPTORS:
        return "probe abandoned: the agent is out of file descriptors";
    case PROBE_FAULT_MEMORY:
        return "probe abandoned: the agent is out of memory";
    default:
        return "probe abandoned: the agent is out of a resource";
    }
}

static void fault_log_write(struct fault_log *fl, enum probe_fault fault,
                            uint64_t now)
{
    char detail[256];
    log_quote(detail, sizeof(detail), fl->detail);
    /* count: abandoned for this resource since the last such line. */
    log_warn("runner", fault_message(fault),
             "resource=%s count=%llu target=%s detail=%s",
             probe_fault_name(fault), (unsigned long long)fl->unlogged,
             fl->target, detail);
    fl->logged = true;
    fl->last_ms = now;
    fl->unlogged = 0;
}

/* One line at the first fault of a kind, then at most one per
 * FAULT_LOG_MS with the count since: 200 a second must not flood. */
static void fault_seen(struct runner *r, const struct probe_result *res)
{
    if ((unsigned)res->fault >= PROBE_FAULT_COUNT)
        return;
    struct fault_log *fl = &r->faults[res->fault];
    uint64_t now = now_ms(r);
    fl->unlogged++;
    snprintf(fl->target, sizeof(fl->target), "%s", res->target);
    snprintf(fl->detail, sizeof(fl->detail), "%s", res->detail);
    if (!fl->logged || now - fl->last_ms >= FAULT_LOG_MS)
        fault_log_write(fl, res->fault, now);
}

/* Faults held back by the rate limit get their line once it allows,
 * even when no fault follows. */
static void fault_logs_flush(struct runner *r)
{
    uint64_t now = now_ms(r);
    for (int f = PROBE_FAULT_NONE + 1; f < PROBE_FAULT_COUNT; f++) {
        struct fault_log *fl = &r->faults[f];
        if (fl->unlogged && now - fl->last_ms >= FAULT_LOG_MS)
            fault_log_write(fl, (enum probe_fault)f, now);
    }
}

static void od_probe_done(struct runner *r, const struct probe_result *done);

void runner_probe_done(struct runner *r, const struct probe_result *done)
{
    if (done->id & ONDEMAND_ID_BIT) {
        od_probe_done(r, done);
        return;
    }
    long i = target_index(r, done->id);
    bool fault = done->fault != PROBE_FAULT_NONE;

    /* The agent's own failure says nothing of the target: not logged,
     * counted or shown as the target's. */
    if (fault) {
        fault_seen(r, done);
        if (r->metrics)
            metrics_resource_failure(r->metrics, done->fault);
    } else {
        log_outcome(done);
    }
    /* A target removed while its probe ran is gone from the metrics; if
     * a reload brought it back, it has a new id and starts from 0. */
    if (i < 0)
        return;
    struct target_state *st = &r->state[i];
    /* A probe already running when the reload changed the secret still
     * used the old one: its 235 says nothing of the new password. */
    if (!fault && auth_succeeded(done) &&
        done->start_time >= st->history.secret_changed_at)
        st->history.auth_ok_since_secret_change = true;
    if (r->metrics && !fault)
        metrics_record(r->metrics, done, &st->history);
    sched_done(r->sched, done->id, now_ms(r));
    if (r->once) {
        r->results[i] = *done;
        r->n_done++;
        sched_remove(r->sched, done->id);
    }
}

static void on_probe_done(void *user, const struct probe_result *done)
{
    runner_probe_done(user, done);
}

struct runner *runner_new(struct metrics *metrics, bool once,
                          unsigned long seed)
{
    struct runner *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->clock = now_mono_ms;
    hashtab_init(&r->by_name);
    hashtab_init(&r->by_id);
    r->metrics = metrics;
    r->once = once;
    r->next_id = 1;
    /* The config's limits replace these at the first runner_set_config. */
    r->sched = sched_new(CONFIG_DEFAULT_MAX_CONCURRENT_PROBES,
                         CONFIG_DEFAULT_MAX_PER_HOST, (uint64_t)seed);
    r->prober = prober_new(on_probe_done, r);
    if (!r->sched || !r->prober) {
        runner_free(r);
        return NULL;
    }
    return r;
}

void runner_free(struct runner *r)
{
    if (!r)
        return;
    prober_free(r->prober);
    /* The probes are gone (without their done): their jobs end here. */
    for (size_t k = 0; k < r->n_od; k++) {
        ondemand_finish(r->ondemand, r->od[k].job, ONDEMAND_STOPPED);
        ondemand_put(r->od[k].job);
    }
    free(r->od);
    sched_free(r->sched);
    config_free(r->cfg);
    free(r->state);
    free(r->results);
    hashtab_free(&r->by_name);
    hashtab_free(&r->by_id);
    free(r);
}

/* A reload gave the target another secret (or another user). */
static bool secret_changed(const struct target_config *old,
                           const struct target_config *now)
{
    if (strcmp(old->username, now->username) != 0 ||
        old->secret_len != now->secret_len)
        return true;
    return old->secret_len &&
           memcmp(old->secret, now->secret, old->secret_len) != 0;
}

/* What the next config needs before anything changes: a failure leaves
 * the runner as it was. */
struct next_config {
    struct target_state *state;
    struct probe_result *results; /* once mode */
    struct hashtab by_name;
    struct hashtab by_id;
};

static void next_config_free(struct next_config *nx)
{
    free(nx->state);
    free(nx->results);
    hashtab_free(&nx->by_name);
    hashtab_free(&nx->by_id);
}

/* Allocates for cfg and indexes its names; 0 or -1. */
static int next_config_init(struct next_config *nx, bool once,
                            const struct agent_config *cfg)
{
    size_t n = cfg->n_targets;
    *nx = (struct next_config){0};
    hashtab_init(&nx->by_name);
    hashtab_init(&nx->by_id);
    nx->state = calloc(n ? n : 1, sizeof(*nx->state));
    if (once)
        nx->results = calloc(n ? n : 1, sizeof(*nx->results));
    if (!nx->state || (once && !nx->results) ||
        hashtab_reserve(&nx->by_name, n) < 0 ||
        hashtab_reserve(&nx->by_id, n) < 0)
        return -1;
    /* Reserved: these cannot fail. Names are unique (config says so). */
    for (size_t i = 0; i < n; i++)
        hashtab_insert(&nx->by_name, hashtab_hash_str(cfg->targets[i].name),
                       i);
    return 0;
}

/* Target t of the next config had the same name in the old one: it keeps
 * its id, hence its place on the schedule, and its history. */
static void carry_over(struct runner *r, const struct target_config *old,
                       const struct target_config *t, struct target_state *st,
                       uint64_t now)
{
    *st = r->state[old - r->cfg->targets];
    sched_update(r->sched, st->id, t->host, t->interval_ms, now);
    /* A probe started with the old timeout ends at the new one, or a
     * reload from 1h to 1s would wait out the hour. */
    if (t->timeout_ms < old->timeout_ms)
        prober_shorten_timeout(r->prober, st->id, t->timeout_ms);
    if (secret_changed(old, t)) {
        st->history.secret_changed_at = now_unix();
        st->history.auth_ok_since_secret_change = false;
    }
}

/* Survivors keep their ids, the others get new ones, and the old
 * targets the next config lacks leave the schedule. Returns how many are
 * new. */
static size_t match_targets(struct runner *r, const struct agent_config *cfg,
                            struct next_config *nx, uint64_t now)
{
    size_t n_new = 0;
    for (size_t i = 0; i < cfg->n_targets; i++) {
        const struct target_config *t = &cfg->targets[i];
        long old = r->cfg ? name_index(&r->by_name, r->cfg, t->name) : -1;
        if (old >= 0) {
            carry_over(r, &r->cfg->targets[old], t, &nx->state[i], now);
        } else {
            nx->state[i].id = r->next_id++;
            n_new++;
        }
    }
    for (size_t i = 0; r->cfg && i < r->cfg->n_targets; i++)
        if (name_index(&nx->by_name, cfg, r->cfg->targets[i].name) < 0)
            sched_remove(r->sched, r->state[i].id);
    return n_new;
}

/* New targets (and any a failed add left out) are spread over their
 * interval; every target is indexed by its id. */
static void schedule_new(struct runner *r, const struct agent_config *cfg,
                         struct next_config *nx, size_t n_new, uint64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < cfg->n_targets; i++) {
        const struct target_config *t = &cfg->targets[i];
        uint64_t id = nx->state[i].id;
        hashtab_insert(&nx->by_id, hashtab_hash_u64(id), i); /* reserved */
        if (sched_has(r->sched, id))
            continue;
        uint64_t first =
            r->once ? now : sched_spread(now, t->interval_ms, k++, n_new);
        if (sched_add(r->sched, id, t->host, t->interval_ms, first) < 0)
            log_error("runner", "cannot schedule target", "target=%s",
                      t->name);
    }
}

int runner_set_config(struct runner *r, struct agent_config *cfg)
{
    struct next_config nx;
    if (next_config_init(&nx, r->once, cfg) < 0) {
        next_config_free(&nx);
        config_free(cfg);
        return -1;
    }
    uint64_t now = now_ms(r);
    size_t n_new = match_targets(r, cfg, &nx, now);
    schedule_new(r, cfg, &nx, n_new, now);
    sched_set_limits(r->sched, cfg->max_concurrent_probes, cfg->max_per_host);
    /* CA files may have changed (a rotated private CA, a new bundle). */
    prober_flush_ca(r->prober);
    if (r->metrics && metrics_set_targets(r->metrics, cfg) < 0)
        log_error("runner", "metrics not updated: out of memory", NULL);

    config_free(r->cfg);
    free(r->state);
    free(r->results);
    hashtab_free(&r->by_name);
    hashtab_free(&r->by_id);
    r->cfg = cfg;
    r->state = nx.state;
    r->results = nx.results;
    r->by_name = nx.by_name;
    r->by_id = nx.by_id;
    r->n_done = 0;
    if (r->once)
        for (size_t i = 0; i < cfg->n_targets; i++)
            snprintf(r->results[i].target, sizeof(r->results[i].target), "%s",
                     cfg->targets[i].name);
    return 0;
}

/* One line per SKIP event, saying what held the target. */
static void log_skip(const struct runner *r, const struct target_config *t,
                     const struct sched_event *ev)
{
    unsigned long long rounds = (unsigned long long)ev->rounds;
    switch (ev->reason) {
    case SCHED_SKIP_RUNNING:
        log_info("runner", "probe skipped: the last one still runs",
                 "target=%s reason=running rounds=%llu timeout_ms=%llu "
                 "interval_ms=%llu",
                 t->name, rounds, (unsigned long long)t->timeout_ms,
                 (unsigned long long)t->interval_ms);
        break;
    case SCHED_SKIP_HOST_LIMIT:
        log_info("runner", "probe skipped: waiting for a slot on its host",
                 "target=%s reason=host_limit rounds=%llu host=%s "
                 "max_per_host=%u",
                 t->name, rounds, t->host, r->cfg->max_per_host);
        break;
    case SCHED_SKIP_GLOBAL_LIMIT:
        log_info("runner", "probe skipped: waiting for a free probe slot",
                 "target=%s reason=global_limit rounds=%llu "
                 "max_concurrent_probes=%u",
                 t->name, rounds, r->cfg->max_concurrent_probes);
        break;
    default:
        /* Nothing held it but the loop itself: worth a warning. */
        log_warn("runner",
                 "probe skipped: the agent's loop did not run in time",
                 "target=%s reason=%s rounds=%llu", t->name,
                 sched_skip_reason_name(ev->reason), rounds);
        break;
    }
}

static void start_due(struct runner *r)
{
    struct sched_event ev[EVENTS_PER_POLL];
    size_t n;
    do {
        n = sched_poll(r->sched, now_ms(r), ev, EVENTS_PER_POLL);
        for (size_t k = 0; k < n; k++) {
            long i = target_index(r, ev[k].id);
            if (i < 0)
                continue;
            const struct target_config *t = &r->cfg->targets[i];
            if (ev[k].kind == SCHED_SKIP) {
                log_skip(r, t, &ev[k]);
                if (r->metrics)
                    metrics_skipped(r->metrics, t->name, ev[k].reason,
                                    ev[k].rounds);
                continue;
            }
            if (r->metrics)
                metrics_start_delay(r->metrics,
                                    (double)ev[k].late_ms / 1000.0);
            if (prober_start(r->prober, t, ev[k].id) < 0) {
                log_error("runner", "cannot start probe: out of memory",
                          "target=%s", t->name);
                sched_done(r->sched, ev[k].id, now_ms(r));
            }
        }
    } while (n == EVENTS_PER_POLL);
}

/* ---- /probe --------------------------------------------------------- */

void runner_set_ondemand(struct runner *r, struct ondemand *q)
{
    r->ondemand = q;
}

/* The runner lets go of the job at k, finished with status. */
static void od_end(struct runner *r, size_t k, enum ondemand_status status)
{
    struct od_job *o = &r->od[k];
    if (o->id)
        sched_release(r->sched, o->host);
    ondemand_finish(r->ondemand, o->job, status);
    ondemand_put(o->job);
    memmove(o, o + 1, (r->n_od - k - 1) * sizeof(*o));
    r->n_od--;
}

static void od_probe_done(struct runner *r, const struct probe_result *done)
{
    for (size_t k = 0; k < r->n_od; k++) {
        if (r->od[k].id != done->id)
            continue;
        struct ondemand_job *j = r->od[k].job;
        j->result = *done;
        log_debug("runner", "on-demand probe done",
                  "target=%s success=%d duration=%.3f", done->target,
                  done->success, done->duration_seconds);
        od_end(r, k,
               done->fault != PROBE_FAULT_NONE ? ONDEMAND_FAULT
                                               : ONDEMAND_DONE);
        return;
    }
}

/*
 * Tries to start the waiting job at k: 1 when it is no longer waiting
 * (started, or finished: unknown target, out of time, out of memory),
 * 0 when it still waits for a slot.
 */
static int od_try(struct runner *r, size_t k, uint64_t now)
{
    struct od_job *o = &r->od[k];
    struct ondemand_job *j = o->job;
    struct target_config mt;
    const struct target_config *t;
    if (j->module[0]) {
        /* Decided here, on the config of the moment (SIGHUP swaps it on
         * this thread): a refused target is never connected to. */
        const struct module_config *m = config_find_module(r->cfg, j->module);
        if (!m) {
            od_end(r, k, ONDEMAND_UNKNOWN_MODULE);
            return 1;
        }
        unsigned port = j->port ? j->port : config_default_port(m->probe.tls);
        if (!allowlist_match(&m->allowed, j->host, port)) {
            j->port = port;
            od_end(r, k, ONDEMAND_FORBIDDEN);
            return 1;
        }
        mt = m->probe;
        mt.host = j->host;
        mt.port = port;
        if (!mt.server_name[0])
            mt.server_name = j->host;
        t = &mt;
    } else {
        long i = r->cfg ? name_index(&r->by_name, r->cfg, j->target) : -1;
        if (i < 0) {
            od_end(r, k, ONDEMAND_UNKNOWN);
            return 1;
        }
        t = &r->cfg->targets[i];
    }
    uint64_t left = j->deadline_ms > now ? j->deadline_ms - now : 0;
    if (left < j->min_ms) {
        od_end(r, k, ONDEMAND_BUSY);
        return 1;
    }
    int claimed = sched_claim(r->sched, t->host);
    if (claimed <= 0)
        return 0; /* out of memory too: it waits, and may end BUSY */
    /* The answer is rendered on the HTTP thread, maybe after a reload
     * freed this config: it keeps a copy. The config's labels always
     * fit; were they not to, the answer says so rather than drop them. */
    if (labels_copy(j->labels, sizeof(j->labels), t->labels) < 0) {
        sched_release(r->sched, t->host);
        snprintf(j->result.detail, sizeof(j->result.detail),
                 "the target's labels exceed the agent's bounds");
        od_end(r, k, ONDEMAND_FAULT);
        return 1;
    }
    /* The port probed, for the answer to name (as a refusal does); not
     * before: a job that waits takes the default of the config it starts
     * under. */
    j->port = t->port;
    if (!j->module[0])
        snprintf(j->host, sizeof(j->host), "%s", t->host);
    j->tls = t->tls;
    j->tls_verify = t->tls_verify;
    struct target_config tc = *t;
    if (left < tc.timeout_ms)
        tc.timeout_ms = left;
    uint64_t id = ONDEMAND_ID_BIT | ++r->next_od_id;
    snprintf(o->host, sizeof(o->host), "%s", t->host);
    if (prober_start_traced(r->prober, &tc, id,
                            j->debug ? &j->transcript : NULL) < 0) {
        sched_release(r->sched, t->host);
        snprintf(j->result.detail, sizeof(j->result.detail),
                 "the agent ran out of memory: starting the probe");
        od_end(r, k, ONDEMAND_FAULT);
        return 1;
    }
    o->id = id;
    return 1;
}

/* New jobs join the waiting ones; those that may start, start, oldest
 * first. The time until a waiting job runs out of it, or -1. */
static long od_serve(struct runner *r)
{
    if (!r->ondemand)
        return -1;
    struct ondemand_job *in[ONDEMAND_TAKE];
    size_t n;
    do {
        if (r->cap_od - r->n_od < ONDEMAND_TAKE) {
            size_t cap = r->cap_od * 2 + ONDEMAND_TAKE;
            struct od_job *p = realloc(r->od, cap * sizeof(*p));
            if (!p)
                break; /* they stay queued until there is room */
            r->od = p;
            r->cap_od = cap;
        }
        n = ondemand_take(r->ondemand, in, ONDEMAND_TAKE);
        for (size_t k = 0; k < n; k++)
            r->od[r->n_od++] = (struct od_job){.job = in[k]};
    } while (n == ONDEMAND_TAKE);

    uint64_t now = now_ms(r);
    long wait = -1;
    size_t k = 0;
    while (k < r->n_od) {
        const struct od_job *o = &r->od[k];
        if (o->id) { /* probing */
            k++;
            continue;
        }
        size_t before = r->n_od;
        if (od_try(r, k, now) == 0) {
            uint64_t until = o->job->deadline_ms - o->job->min_ms;
            long ms = until > now ? (long)(until - now) : 0;
            if (wait < 0 || ms < wait)
                wait = ms;
            k++;
        } else if (r->n_od == before) {
            k++; /* started: it stays at k */
        }
        /* Else it ended, and the next one moved into k. */
    }
    return wait;
}

int runner_step(struct runner *r, int wake_fd, int max_wait_ms)
{
    start_due(r);
    long od_wait = od_serve(r);
    fault_logs_flush(r);
    if (r->metrics)
        metrics_set_in_flight(r->metrics, prober_in_flight(r->prober));

    uint64_t next = sched_next_ms(r->sched, now_ms(r));
    int wait = max_wait_ms;
    if (next < (uint64_t)wait)
        wait = (int)next;
    if (od_wait >= 0 && od_wait < wait)
        wait = (int)od_wait;
    int rc = prober_run(r->prober, wait, wake_fd);
    if (r->metrics)
        metrics_set_in_flight(r->metrics, prober_in_flight(r->prober));
    return rc;
}

bool runner_finished(const struct runner *r)
{
    return r->once && r->cfg && r->n_done >= r->cfg->n_targets &&
           prober_in_flight(r->prober) == 0;
}

const struct probe_result *runner_results(const struct runner *r, size_t *n)
{
    *n = r->cfg ? r->cfg->n_targets : 0;
    return r->results;
}

const struct agent_config *runner_config(const struct runner *r)
{
    return r->cfg;
}

void runner_set_clock(struct runner *r, uint64_t (*now)(void))
{
    r->clock = now ? now : now_mono_ms;
}
