/* procstat: process_* metrics of the agent itself, from /proc. */
#ifndef PROCSTAT_H
#define PROCSTAT_H

#include "buf.h"

struct procstat {
    double cpu_seconds; /* user + system */
    double start_time;  /* unix time */
    double resident_bytes;
    double virtual_bytes;
    double open_fds;
    double max_fds;
};

/* Reads /proc/self; 0, or -1 when /proc cannot be read. */
int procstat_read(struct procstat *ps);

/* Appends the process_* families (through expo). 0, or -1. */
int procstat_render(const struct procstat *ps, struct buf *out);

#endif
