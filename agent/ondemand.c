/* ondemand: /probe's requests handed between the HTTP thread and the
 * probe loop. */
#include "ondemand.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* The transcript of one probe: a few dozen lines; a server that sends
 * megabytes of EHLO gets its transcript refused past this, not grown. */
#define TRANSCRIPT_MAX (256 * 1024)

struct ondemand {
    pthread_mutex_t lock;
    struct ondemand_job *head, *tail; /* submitted, not taken */
    size_t unfinished;                /* submitted, not finished */
    size_t max_jobs;
    int wake_fd;
    bool closed; /* no new job, no more done */
};

struct ondemand *ondemand_new(size_t max_jobs, int wake_fd)
{
    struct ondemand *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        free(q);
        return NULL;
    }
    q->max_jobs = max_jobs ? max_jobs : ONDEMAND_DEFAULT_JOBS;
    q->wake_fd = wake_fd;
    return q;
}

static void job_free(struct ondemand_job *j)
{
    buf_free(&j->transcript);
    free(j);
}

void ondemand_free(struct ondemand *q)
{
    if (!q)
        return;
    /* Jobs never taken: the queue's references. */
    while (q->head) {
        struct ondemand_job *j = q->head;
        q->head = j->next;
        if (atomic_fetch_sub(&j->refs, 1) == 1)
            job_free(j);
    }
    pthread_mutex_destroy(&q->lock);
    free(q);
}

struct ondemand_job *ondemand_job_new(void)
{
    struct ondemand_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    atomic_init(&j->refs, 1);
    buf_init(&j->transcript, TRANSCRIPT_MAX);
    return j;
}

void ondemand_put(struct ondemand_job *j)
{
    if (!j)
        return;
    if (atomic_fetch_sub(&j->refs, 1) == 1)
        job_free(j);
}

enum ondemand_submit ondemand_submit(struct ondemand *q,
                                     struct ondemand_job *j,
                                     int (*park)(void *cls), void *cls)
{
    pthread_mutex_lock(&q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        return ONDEMAND_CLOSED;
    }
    if (q->unfinished >= q->max_jobs) {
        pthread_mutex_unlock(&q->lock);
        return ONDEMAND_FULL;
    }
    if (park && park(cls) != 0) {
        pthread_mutex_unlock(&q->lock);
        return ONDEMAND_NOWAIT;
    }
    j->status = ONDEMAND_PENDING;
    atomic_fetch_add(&j->refs, 1);
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->unfinished++;
    pthread_mutex_unlock(&q->lock);
    if (q->wake_fd >= 0) {
        ssize_t rc = write(q->wake_fd, "p", 1);
        (void)rc; /* a full pipe already wakes the loop */
    }
    return ONDEMAND_QUEUED;
}

size_t ondemand_take(struct ondemand *q, struct ondemand_job **out, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&q->lock);
    while (n < cap && q->head) {
        struct ondemand_job *j = q->head;
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        j->next = NULL;
        out[n++] = j;
    }
    pthread_mutex_unlock(&q->lock);
    return n;
}

void ondemand_finish(struct ondemand *q, struct ondemand_job *j,
                     enum ondemand_status status)
{
    pthread_mutex_lock(&q->lock);
    j->status = status;
    if (q->unfinished)
        q->unfinished--;
    if (j->done && !q->closed)
        j->done(j->done_cls, j);
    j->done = NULL;
    pthread_mutex_unlock(&q->lock);
}

void ondemand_close(struct ondemand *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_mutex_unlock(&q->lock);
}

size_t ondemand_unfinished(struct ondemand *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->unfinished;
    pthread_mutex_unlock(&q->lock);
    return n;
}
