/* ondemand: /probe's requests handed from the HTTP thread to the probe
 * loop, and their answers handed back. */
#ifndef ONDEMAND_H
#define ONDEMAND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "labels.h"
#include "probe.h"

/*
 * The HTTP thread makes a job, submits it and waits (its request
 * suspended); the probe loop takes it at its next turn (the submit wakes
 * it through a file descriptor it polls), probes, and finishes the job,
 * which calls the job's `done` under the queue's lock. Lock order: the
 * queue's, then the park's (done and park resume or suspend), then
 * libmicrohttpd's own; libmicrohttpd's completion callback only puts a
 * reference, which takes no lock. A job is shared:
 * the submitter's reference and the loop's, the last put frees it, so
 * that either side may go first (a client that left, a loop that
 * stops). At most `max_jobs` are submitted and not yet finished: more
 * is a pile-up, refused.
 */
struct ondemand;

enum ondemand_status {
    ONDEMAND_PENDING,        /* not finished */
    ONDEMAND_DONE,           /* probed: `result` (and `transcript`) */
    ONDEMAND_UNKNOWN,        /* no target of that name */
    ONDEMAND_UNKNOWN_MODULE, /* no module of that name */
    ONDEMAND_FORBIDDEN,      /* the module's allowed_targets refuse it */
    ONDEMAND_BUSY,           /* no probe slot came free in time */
    ONDEMAND_FAULT,   /* the agent ran out of a resource: result.detail */
    ONDEMAND_STOPPED, /* the agent stops */
};

struct ondemand_job {
    /* Set by the submitter before ondemand_submit(): a configured
     * target's name; or a module's name, and the host (without brackets)
     * and port (0: the module's default) to probe with it. The probe
     * loop puts the port it probed or refused in place of a 0. */
    char target[CONFIG_TARGET_NAME_MAX + 1];
    char module[CONFIG_NAME_MAX + 1]; /* "": target is a target's name */
    char host[CONFIG_HOST_MAX + 1];
    unsigned port;
    /* The probe's deadline (CLOCK_MONOTONIC, ms): it starts with the time
     * left until then, the target's timeout at most; a job that cannot
     * start before min_ms remain is BUSY. */
    uint64_t deadline_ms;
    uint64_t min_ms;
    bool debug; /* keep the redacted transcript */
    /* Called, under the queue's lock, when the job is finished, unless
     * the queue was closed first. Must not call into the queue. */
    void (*done)(void *cls, struct ondemand_job *j);
    void *done_cls;
    uint64_t done_key; /* the submitter's, for done */

    /* Set by the probe loop; read by the submitter once done ran. */
    enum ondemand_status status;
    struct probe_result result;
    struct buf transcript; /* debug only */
    /* The probed target's labels (a module's, for a module's probe), as
     * the config had them when the probe started: labels.h's parsed
     * form, "" for none. A copy, as everything here: a reload frees that
     * config while the answer waits to be rendered. */
    char labels[LABELS_CANON_MAX];
    /* The rest of what smtp_target_info says: host and port above (the
     * probe loop fills them in for a target's probe too), then: */
    enum tls_mode tls;
    bool tls_verify;

    /* The queue's. refs is atomic: a put takes no lock, so that
     * libmicrohttpd's completion callback, which puts the request's
     * reference, never waits for the probe loop's lock. */
    struct ondemand_job *next;
    atomic_uint refs;
};

/* wake_fd: written one byte at each submit (non-blocking; -1: none).
 * max_jobs: 0 is ONDEMAND_DEFAULT_JOBS. NULL when out of memory. */
#define ONDEMAND_DEFAULT_JOBS 32
struct ondemand *ondemand_new(size_t max_jobs, int wake_fd);
/* After ondemand_close() and once both sides put their jobs; NULL is a
 * no-op. */
void ondemand_free(struct ondemand *q);

/* A job with one reference (the caller's); NULL when out of memory. */
struct ondemand_job *ondemand_job_new(void);
/* Drops a reference; the last one frees the job. Any thread, no lock
 * taken. NULL is a no-op. */
void ondemand_put(struct ondemand_job *j);

enum ondemand_submit {
    ONDEMAND_QUEUED, /* the loop has it; done will be called */
    ONDEMAND_FULL,   /* max_jobs are unfinished: refused */
    ONDEMAND_CLOSED, /* the agent stops: refused */
    ONDEMAND_NOWAIT, /* park() failed: refused */
};

/*
 * Hands j to the probe loop, taking a reference for it. park(cls), when
 * not NULL, is called under the queue's lock once j is queued, so that
 * done cannot run before the submitter waits; a park() that returns
 * non-zero takes the job back (ONDEMAND_NOWAIT).
 */
enum ondemand_submit ondemand_submit(struct ondemand *q,
                                     struct ondemand_job *j,
                                     int (*park)(void *cls), void *cls);

/* The probe loop: takes up to cap submitted jobs, oldest first, with the
 * queue's reference each. */
size_t ondemand_take(struct ondemand *q, struct ondemand_job **out,
                     size_t cap);

/* The probe loop: j is finished with status (its result filled); done
 * runs now. The loop still holds its reference: put it after. */
void ondemand_finish(struct ondemand *q, struct ondemand_job *j,
                     enum ondemand_status status);

/* Refuses new jobs and forgets every `done`: after this no callback
 * reaches the submitter's side (the HTTP server may be freed). Jobs
 * still queued stay until taken or freed. */
void ondemand_close(struct ondemand *q);

/* Jobs submitted and not finished. */
size_t ondemand_unfinished(struct ondemand *q);

#endif
