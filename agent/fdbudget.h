/* fdbudget: how many probes and HTTP connections the descriptor limit
 * leaves room for. */
#ifndef FDBUDGET_H
#define FDBUDGET_H

#include <stdbool.h>

/*
 * Descriptors the agent needs besides probes and HTTP connections:
 * stdio, the wake pipe, epoll, curl's and MHD's own, files being read.
 */
#define FDBUDGET_RESERVED 32
/* A probe holds its socket, and while it resolves a host name libcurl's
 * resolver thread holds a socket pair. */
#define FDBUDGET_PER_PROBE 3
/* The HTTP server's connection limit when descriptors are plenty. */
#define FDBUDGET_HTTP_MAX 256
/* Never less, however low the limit: a scrape must get through. */
#define FDBUDGET_HTTP_MIN 4

struct fd_budget {
    unsigned long limit;  /* RLIMIT_NOFILE's soft limit, in the end */
    unsigned long before; /* the soft limit found at start */
    unsigned long open;   /* descriptors open when it was computed */
    unsigned probes;      /* probes at once the limit leaves room for */
    unsigned http;        /* HTTP connections at once */
};

/*
 * Pure: splits what limit - open - FDBUDGET_RESERVED leaves between HTTP
 * connections (a quarter, at most FDBUDGET_HTTP_MAX, at least
 * FDBUDGET_HTTP_MIN) and probes (the rest, FDBUDGET_PER_PROBE each, at
 * least 1).
 */
void fd_budget_compute(unsigned long limit, unsigned long open,
                       struct fd_budget *b);

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit (as a server should:
 * the soft default of 1024 is a leftover of select()), counts the open
 * descriptors and computes the budget. 0, or -1 when the limit cannot be
 * read (b then allows FDBUDGET_HTTP_MAX and 65535 probes).
 */
int fd_budget_read(struct fd_budget *b);

/* The descriptors this process has open (/proc/self/fd, less the one
 * that lists it): what the budget starts from and process_open_fds.
 * 0, or -1 when it cannot be read. */
int fd_budget_count_open(unsigned long *n);

#endif
