/* metrics_read: what the status page copies out of the store, sized for
 * a fleet: a brief line per target, full results only of those shown. */
#ifndef METRICS_READ_H
#define METRICS_READ_H

#include <stddef.h>

#include "metrics.h"
#include "report.h"

/* What a list shows of a target without its whole (~7.5 KB) result. */
struct metrics_brief {
    char name[CONFIG_TARGET_NAME_MAX + 1];
    enum report_state state; /* PENDING, OK or FAILING */
    double start_time;       /* 0: not probed yet */
};

/*
 * A brief for every target, sorted by name: *out is an array of n the
 * caller free()s. 0, or -1 when out of memory.
 */
int metrics_briefs(struct metrics *m, struct metrics_brief **out, size_t *n);

/*
 * The last results (as metrics_last_results() gives them) of the k
 * targets named, in the order given; a name the store does not know is
 * left out. Each name is found by binary search: the cost follows k, not
 * the number of targets. *out is an array of *n the caller free()s. 0,
 * or -1 when out of memory.
 */
int metrics_last_named(struct metrics *m, const char *const *names, size_t k,
                       struct metrics_last **out, size_t *n);

#endif
