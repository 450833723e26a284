/* http_park: requests that wait, suspended, for something made off
 * libmicrohttpd's thread, and their wake-up. */
#include "http_park.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <microhttpd.h>

struct http_park {
    pthread_mutex_t lock;
    struct http_waiter *head;
    size_t count;
    bool closed;
    atomic_uint_fast64_t last_key;
};

struct http_park *http_park_new(void)
{
    struct http_park *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return NULL;
    }
    atomic_init(&p->last_key, 0);
    return p;
}

void http_park_free(struct http_park *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int http_park_wait(struct http_park *p, struct http_waiter *w,
                   struct MHD_Connection *conn, uint64_t key,
                   uint64_t deadline_ms)
{
    pthread_mutex_lock(&p->lock);
    if (p->closed) {
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    w->reason = HTTP_WAKE_NONE;
    w->result = NULL;
    w->conn = conn;
    w->key = key;
    w->deadline_ms = deadline_ms;
    /* Suspended before it is listed: whoever finds it in the list may
     * resume it at once (a resume before the suspend is undefined). */
    MHD_suspend_connection(conn);
    w->prev = NULL;
    w->next = p->head;
    if (p->head)
        p->head->prev = w;
    p->head = w;
    p->count++;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* Under the lock: takes w out of the list and resumes it. After this the
 * handler may run (in libmicrohttpd's thread) and free w. */
static void wake_one(struct http_park *p, struct http_waiter *w,
                     enum http_wake reason)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        p->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    p->count--;
    struct MHD_Connection *conn = w->conn;
    w->prev = w->next = NULL;
    w->conn = NULL;
    w->reason = reason;
    MHD_resume_connection(conn);
}

size_t http_park_wake(struct http_park *p, uint64_t key,
                      void *(*give)(void *cls), void *cls)
{
    size_t n = 0;
    pthread_mutex_lock(&p->lock);
    struct http_waiter *next;
    for (struct http_waiter *w = p->head; w; w = next) {
        next = w->next;
        if (w->key != key)
            continue;
        w->result = give ? give(cls) : NULL;
        wake_one(p, w, HTTP_WAKE_DONE);
        n++;
    }
    pthread_mutex_unlock(&p->lock);
    return n;
}

size_t http_park_expire(struct http_park *p, uint64_t now_ms)
{
    size_t n = 0;
    pthread_mutex_lock(&p->lock);
    struct http_waiter *next;
    for (struct http_waiter *w = p->head; w; w = next) {
        next = w->next;
        if (w->deadline_ms > now_ms)
            continue;
        wake_one(p, w, HTTP_WAKE_TIMEOUT);
        n++;
    }
    pthread_mutex_unlock(&p->lock);
    return n;
}

void http_park_close(struct http_park *p)
{
    pthread_mutex_lock(&p->lock);
    p->closed = true;
    while (p->head)
        wake_one(p, p->head, HTTP_WAKE_STOP);
    pthread_mutex_unlock(&p->lock);
}

uint64_t http_park_key(struct http_park *p)
{
    return atomic_fetch_add(&p->last_key, 1) + 1;
}

size_t http_park_count(struct http_park *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->count;
    pthread_mutex_unlock(&p->lock);
    return n;
}
