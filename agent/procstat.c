/* procstat: process_* metrics of the agent itself, from /proc. */
#include "procstat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "expo.h"
#include "fdbudget.h"

/* Reads a small /proc file whole; its contents change between reads, so
 * one read keeps the fields consistent. 0, or -1. Not file.c's reader:
 * /proc files say they are empty (st_size 0) and are read to EOF. */
static int read_small_file(const char *path, char *dst, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t got = fread(dst, 1, n - 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got == 0)
        return -1;
    dst[got] = '\0';
    return 0;
}

/* Boot time, unix seconds: the `btime` line of /proc/stat. */
static int read_btime(double *btime)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    char line[256];
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "btime %llu", &v) == 1) {
            *btime = (double)v;
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

static int count_open_fds(double *n)
{
    unsigned long count;
    if (fd_budget_count_open(&count) < 0)
        return -1;
    *n = (double)count;
    return 0;
}

int procstat_read(struct procstat *ps)
{
    char stat[1024];
    if (read_small_file("/proc/self/stat", stat, sizeof stat) < 0)
        return -1;
    /* comm may hold spaces and parentheses: fields resume after the last
     * ')'. Field 3 (state) comes first there. */
    const char *p = strrchr(stat, ')');
    if (!p)
        return -1;
    unsigned long utime, stime, vsize;
    unsigned long long starttime;
    long rss;
    int n = sscanf(p + 1,
                   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u" /* 3-13 */
                   " %lu %lu %*d %*d %*d %*d %*d %*d"             /* 14-21 */
                   " %llu %lu %ld",                               /* 22-24 */
                   &utime, &stime, &starttime, &vsize, &rss);
    if (n != 5)
        return -1;

    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    double btime;
    if (tck <= 0 || page <= 0 || read_btime(&btime) < 0)
        return -1;

    struct procstat out;
    out.cpu_seconds = ((double)utime + (double)stime) / (double)tck;
    out.start_time = btime + (double)starttime / (double)tck;
    out.virtual_bytes = (double)vsize;
    out.resident_bytes = (double)rss * (double)page;
    if (count_open_fds(&out.open_fds) < 0)
        return -1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    out.max_fds =
        rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur;
    *ps = out;
    return 0;
}

int procstat_render(const struct procstat *ps, struct buf *out)
{
    /* HELP texts as the Go client writes them, so that dashboards and
     * people see the familiar wording. */
    const struct {
        const char *name;
        const char *help;
        enum expo_type type;
        double value;
    } fams[] = {
        {"process_cpu_seconds_total",
         "Total user and system CPU time spent in seconds.", EXPO_COUNTER,
         ps->cpu_seconds},
        {"process_resident_memory_bytes", "Resident memory size in bytes.",
         EXPO_GAUGE, ps->resident_bytes},
        {"process_virtual_memory_bytes", "Virtual memory size in bytes.",
         EXPO_GAUGE, ps->virtual_bytes},
        {"process_open_fds", "Number of open file descriptors.", EXPO_GAUGE,
         ps->open_fds},
        {"process_max_fds", "Maximum number of open file descriptors.",
         EXPO_GAUGE, ps->max_fds},
        {"process_start_time_seconds",
         "Start time of the process since unix epoch in seconds.", EXPO_GAUGE,
         ps->start_time},
    };
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        if (expo_family(out, fams[i].name, fams[i].help, fams[i].type) < 0 ||
            expo_sample(out, fams[i].name, NULL, 0, fams[i].value) < 0)
            return -1;
    }
    return 0;
}
