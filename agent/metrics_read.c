/* metrics_read: copies of the store for the pages, made under its lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"
#include "metrics_read.h"

/* t's last result as the pages take it: a target not probed yet has its
 * name, start_time 0 and no phase reached. Under the lock. */
static void last_of(const struct mtarget *t, struct metrics_last *l)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->host, sizeof l->host, "%s", t->host);
    l->port = t->port;
    l->tls = t->tls_mode;
    snprintf(l->labels, sizeof l->labels, "%s", t->labels ? t->labels : "");
    if (t->probed &&
        zpack_unpack(&t->last, &l->result, sizeof(l->result)) == 0) {
        l->history = t->history;
        return;
    }
    snprintf(l->result.target, sizeof l->result.target, "%s", t->name);
    /* Nothing reached yet, not "every phase took 0 s". */
    for (int p = 0; p < PROBE_PHASE_COUNT; p++)
        l->result.phase_seconds[p] = -1;
}

int metrics_last_results(struct metrics *m, struct metrics_last **out,
                         size_t *n)
{
    pthread_mutex_lock(&m->lock);
    size_t count = m->n_targets;
    struct metrics_last *arr = calloc(count ? count : 1, sizeof *arr);
    if (!arr) {
        pthread_mutex_unlock(&m->lock);
        return -1;
    }
    for (size_t i = 0; i < count; i++)
        last_of(m->targets[i], &arr[i]);
    pthread_mutex_unlock(&m->lock);
    *out = arr;
    *n = count;
    return 0;
}

int metrics_briefs(struct metrics *m, struct metrics_brief **out, size_t *n)
{
    pthread_mutex_lock(&m->lock);
    size_t count = m->n_targets;
    struct metrics_brief *arr = calloc(count ? count : 1, sizeof *arr);
    if (!arr) {
        pthread_mutex_unlock(&m->lock);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const struct mtarget *t = m->targets[i];
        struct metrics_brief *b = &arr[i];
        snprintf(b->name, sizeof b->name, "%s", t->name);
        b->start_time = t->probed ? t->last_start_time : 0;
        b->state = t->probed ? t->last_state : REPORT_PENDING;
    }
    pthread_mutex_unlock(&m->lock);
    *out = arr;
    *n = count;
    return 0;
}

int metrics_last_named(struct metrics *m, const char *const *names, size_t k,
                       struct metrics_last **out, size_t *n)
{
    struct metrics_last *arr = calloc(k ? k : 1, sizeof *arr);
    if (!arr)
        return -1;
    size_t got = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < k; i++) {
        const struct mtarget *t =
            metrics_find_target(m->targets, m->n_targets, names[i]);
        if (t)
            last_of(t, &arr[got++]);
    }
    pthread_mutex_unlock(&m->lock);
    *out = arr;
    *n = got;
    return 0;
}
