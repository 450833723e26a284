/* fdbudget: how many probes and HTTP connections the descriptor limit
 * leaves room for. */
#include "fdbudget.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Past this, a hard limit is as good as none (and a soft limit of
 * millions costs memory in some libraries' per-descriptor tables). */
#define LIMIT_CAP (1UL << 20)

void fd_budget_compute(unsigned long limit, unsigned long open,
                       struct fd_budget *b)
{
    unsigned long used = open + FDBUDGET_RESERVED;
    unsigned long room = limit > used ? limit - used : 0;
    unsigned long http = room / 4;
    if (http > FDBUDGET_HTTP_MAX)
        http = FDBUDGET_HTTP_MAX;
    if (http < FDBUDGET_HTTP_MIN)
        http = FDBUDGET_HTTP_MIN;
    unsigned long rest = room > http ? room - http : 0;
    unsigned long probes = rest / FDBUDGET_PER_PROBE;
    if (probes < 1)
        probes = 1;
    if (probes > 65535)
        probes = 65535;
    b->limit = limit;
    b->open = open;
    b->http = (unsigned)http;
    b->probes = (unsigned)probes;
}

int fd_budget_count_open(unsigned long *n)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int self = dirfd(d);
    unsigned long count = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        /* The directory being listed is not one of ours to count. */
        if (atoi(e->d_name) == self)
            continue;
        count++;
    }
    closedir(d);
    *n = count;
    return 0;
}

int fd_budget_read(struct fd_budget *b)
{
    struct rlimit rl;
    memset(b, 0, sizeof(*b));
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        b->http = FDBUDGET_HTTP_MAX;
        b->probes = 65535;
        return -1;
    }
    b->before = rl.rlim_cur == RLIM_INFINITY ? LIMIT_CAP : rl.rlim_cur;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > LIMIT_CAP
                      ? LIMIT_CAP
                      : rl.rlim_max;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        struct rlimit raised = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl.rlim_cur = want;
    }
    unsigned long limit =
        rl.rlim_cur == RLIM_INFINITY ? LIMIT_CAP : (unsigned long)rl.rlim_cur;
    unsigned long before = b->before;
    unsigned long open = 0;
    if (fd_budget_count_open(&open) < 0)
        open = 0;
    fd_budget_compute(limit, open, b);
    b->before = before;
    return 0;
}
