/* sched_bench: CPU per scheduler call and per reload against n targets.
 *
 * Not part of ctest: tests/bench/sched_bench.sh builds and runs it. It
 * uses only the public API of scheduler and runner, so that the same
 * program measures any version of them.
 *
 * 1. The loop. n targets, interval 60 s, spread, 10 targets per host,
 *    max_concurrent_probes 256, max_per_host 4, every probe 200 ms. A
 *    virtual clock runs the agent's loop (the probes that end, poll,
 *    next_ms) for `probes` starts; the CPU time of each kind of call is
 *    divided by its count (each timing adds the "empty timed call"
 *    printed first). Then the same loop once more, timed as a whole.
 * 2. The reload. runner_set_config (with a metrics store) with n
 *    targets, then with 10 % of them replaced by new names (the rest keep
 *    their counters): CPU of each call, and of config_load_string for the
 *    second config (config's own part of a SIGHUP).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "runner.h"
#include "scheduler.h"

#define INTERVAL_MS 60000
#define PROBE_MS    200

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Off: the calls are not timed one by one (each timing costs about as
 * much as a call of the heap scheduler); the whole loop is. */
static bool timed = true;

static double tick(void)
{
    return timed ? cpu_now() : 0;
}

/* Probes in flight end in start order: they all take PROBE_MS. */
struct fifo {
    uint64_t *id, *end;
    size_t head, tail, cap;
};

struct loop_cost {
    double poll, next, done; /* CPU seconds */
    unsigned long polls, nexts, dones, starts, skips;
};

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static void end_probes(struct sched *s, struct fifo *q, uint64_t now,
                       struct loop_cost *c)
{
    while (q->head != q->tail && q->end[q->head % q->cap] <= now) {
        double t0 = tick();
        sched_done(s, q->id[q->head % q->cap], now);
        c->done += tick() - t0;
        c->dones++;
        q->head++;
    }
}

static void poll_all(struct sched *s, struct fifo *q, uint64_t now,
                     struct loop_cost *c)
{
    struct sched_event ev[64];
    size_t n;
    do {
        double t0 = tick();
        n = sched_poll(s, now, ev, 64);
        c->poll += tick() - t0;
        c->polls++;
        for (size_t i = 0; i < n; i++) {
            if (ev[i].kind == SCHED_SKIP) {
                c->skips++;
                continue;
            }
            q->id[q->tail % q->cap] = ev[i].id;
            q->end[q->tail % q->cap] = now + PROBE_MS;
            q->tail++;
            c->starts++;
        }
    } while (n == 64);
}

static void bench_loop(size_t n, unsigned long probes)
{
    struct sched *s = sched_new(256, 4, 42);
    struct fifo q = {.cap = 4096};
    q.id = calloc(q.cap, sizeof(*q.id));
    q.end = calloc(q.cap, sizeof(*q.end));
    if (!s || !q.id || !q.end)
        exit(1);
    char host[48];
    for (size_t i = 0; i < n; i++) {
        snprintf(host, sizeof host, "mx%zu.example.net", i / 10);
        if (sched_add(s, i + 1, host, INTERVAL_MS,
                      sched_spread(0, INTERVAL_MS, i, n)) < 0)
            exit(1);
    }
    struct loop_cost c = {0};
    uint64_t now = 0;
    double start = cpu_now();
    while (c.starts < probes) {
        end_probes(s, &q, now, &c);
        poll_all(s, &q, now, &c);
        double t0 = tick();
        uint64_t wait = sched_next_ms(s, now);
        c.next += tick() - t0;
        c.nexts++;
        if (q.head != q.tail)
            wait = min_u64(wait, q.end[q.head % q.cap] - now);
        now += wait;
    }
    double whole = cpu_now() - start;
    if (timed)
        printf("loop   n=%-7zu starts=%-6lu skips=%-3lu polls=%-6lu "
               "poll=%8.2f us  next_ms=%8.2f us  done=%6.2f us  "
               "per probe=%8.2f us\n",
               n, c.starts, c.skips, c.polls, c.poll / (double)c.polls * 1e6,
               c.next / (double)c.nexts * 1e6, c.done / (double)c.dones * 1e6,
               (c.poll + c.next + c.done) / (double)c.starts * 1e6);
    else
        printf("whole  n=%-7zu the loop, untimed calls: %8.2f us per "
               "probe\n",
               n, whole / (double)c.starts * 1e6);
    sched_free(s);
    free(q.id);
    free(q.end);
}

/* CPU seconds of the last config_load_string in targets(). */
static double load_cpu;

/* n targets named t<first>..t<first + n - 1>. */
static struct agent_config *targets(size_t first, size_t n)
{
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "[agent]\ninterval = 60s\n");
    for (size_t i = first; i < first + n; i++)
        buf_printf(&b,
                   "[target \"t%zu\"]\nhost = mx%zu.example.net\n"
                   "tls = none\n",
                   i, i / 10);
    char *text = buf_take(&b);
    double t0 = cpu_now();
    struct agent_config *cfg = config_load_string("bench.ini", text, NULL);
    load_cpu = cpu_now() - t0;
    free(text);
    if (!cfg)
        exit(1);
    return cfg;
}

static void bench_reload(size_t n)
{
    struct metrics *m = metrics_new(NULL);
    struct runner *r = m ? runner_new(m, false, 1) : NULL;
    if (!r)
        exit(1);
    /* The second config drops t0..t(n/10 - 1) and adds as many. */
    struct agent_config *a = targets(0, n), *b = targets(n / 10, n);
    double t0 = cpu_now();
    if (runner_set_config(r, a) < 0)
        exit(1);
    double t1 = cpu_now();
    if (runner_set_config(r, b) < 0)
        exit(1);
    double t2 = cpu_now();
    printf("reload n=%-7zu first=%8.3f ms  replace %zu=%8.3f ms  "
           "(config_load_string: %8.3f ms)\n",
           n, (t1 - t0) * 1e3, n / 10, (t2 - t1) * 1e3, load_cpu * 1e3);
    runner_free(r);
    metrics_free(m);
}

/* What one timed call costs with an empty body: the floor of the
 * per-call figures. */
static void bench_clock(void)
{
    enum { N = 100000 };
    double sum = 0;
    for (int i = 0; i < N; i++) {
        double t0 = cpu_now();
        sum += cpu_now() - t0;
    }
    printf("clock  an empty timed call: %.2f us\n", sum / N * 1e6);
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {100, 1000, 10000, 100000};
    unsigned long probes = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    size_t max_reload = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
    log_set_level(LOG_LEVEL_ERROR);
    bench_clock();
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        bench_loop(sizes[i], probes);
    timed = false;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        bench_loop(sizes[i], probes);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i] <= max_reload)
            bench_reload(sizes[i]);
    return 0;
}
