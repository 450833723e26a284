/* metrics_read: copies of the store for the pages, made under its lock. */
#include <stdio.h>
#include <stdlib.h>

#include "metrics_internal.h"

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
    for (size_t i = 0; i < count; i++) {
        const struct mtarget *t = m->targets[i];
        struct metrics_last *l = &arr[i];
        snprintf(l->host, sizeof l->host, "%s", t->host);
        l->port = t->port;
        l->tls = t->tls_mode;
        if (t->probed) {
            l->result = t->last;
            l->history = t->history;
            continue;
        }
        snprintf(l->result.target, sizeof l->result.target, "%s", t->name);
        /* Nothing reached yet, not "every phase took 0 s". */
        for (int p = 0; p < PROBE_PHASE_COUNT; p++)
            l->result.phase_seconds[p] = -1;
    }
    pthread_mutex_unlock(&m->lock);
    *out = arr;
    *n = count;
    return 0;
}
