/* http_watchdog: a deadline for every HTTP request, and the connections
 * past theirs shut down; parked requests past theirs woken. */
#include "http_watchdog.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "now.h"

struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    uint64_t deadline_ms; /* CLOCK_MONOTONIC */
    bool cut;             /* shut down by the watchdog */
};

/* The connections are added and removed in libmicrohttpd's thread (the
 * close comes after the removal), and shut down in the watchdog's. */
struct http_watchdog {
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t cond;
    struct http_conn *conns;
    bool stopping;
    bool running;
    pthread_t thread;
    unsigned timeout_s;
    struct http_park *park;
};

static uint64_t next_deadline(const struct http_watchdog *w)
{
    return now_mono_ms() + (uint64_t)w->timeout_s * 1000;
}

/* Shuts down the connections past their deadline. Under the lock. */
static void cut_late(struct http_watchdog *w, uint64_t now)
{
    unsigned long cut = 0;
    for (struct http_conn *c = w->conns; c; c = c->next) {
        if (!c->cut && now >= c->deadline_ms) {
            /* The fd is still libmicrohttpd's: it closes it only after
             * http_watchdog_remove() took c out of this list. */
            shutdown(c->fd, SHUT_RDWR);
            c->cut = true;
            cut++;
        }
    }
    if (cut)
        log_debug("http", "closed connections past their deadline",
                  "count=%lu timeout_s=%u", cut, w->timeout_s);
}

static void wait_tick(struct http_watchdog *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += HTTP_WATCHDOG_TICK_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&w->cond, &w->lock, &ts);
}

static void *watchdog_main(void *arg)
{
    struct http_watchdog *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        uint64_t now = now_mono_ms();
        cut_late(w, now);
        pthread_mutex_unlock(&w->lock);
        if (w->park)
            http_park_expire(w->park, now);
        pthread_mutex_lock(&w->lock);
        if (w->stopping)
            break;
        wait_tick(w);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* The lock, and the condition the thread waits on (CLOCK_MONOTONIC). */
static int init_sync(struct http_watchdog *w)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    bool ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
              pthread_cond_init(&w->cond, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok)
        return -1;
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        pthread_cond_destroy(&w->cond);
        return -1;
    }
    return 0;
}

struct http_watchdog *http_watchdog_new(unsigned timeout_s,
                                        struct http_park *park, char *err,
                                        size_t errlen)
{
    struct http_watchdog *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->timeout_s = timeout_s;
    w->park = park;
    if (init_sync(w) < 0) {
        free(w);
        snprintf(err, errlen, "cannot create a mutex");
        return NULL;
    }
    if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0) {
        snprintf(err, errlen, "cannot start the connection watchdog");
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    w->running = true;
    return w;
}

void http_watchdog_stop(struct http_watchdog *w)
{
    if (!w || !w->running)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->running = false;
}

void http_watchdog_free(struct http_watchdog *w)
{
    if (!w)
        return;
    http_watchdog_stop(w);
    /* Connections never removed (none when libmicrohttpd stopped). */
    while (w->conns) {
        struct http_conn *c = w->conns;
        w->conns = c->next;
        free(c);
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

struct http_conn *http_watchdog_add(struct http_watchdog *w, int fd)
{
    struct http_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    c->deadline_ms = next_deadline(w);
    pthread_mutex_lock(&w->lock);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    pthread_mutex_unlock(&w->lock);
    return c;
}

void http_watchdog_remove(struct http_watchdog *w, struct http_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&w->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&w->lock);
    free(c);
}

void http_watchdog_rearm(struct http_watchdog *w, struct http_conn *c)
{
    if (!c)
        return;
    uint64_t d = next_deadline(w);
    pthread_mutex_lock(&w->lock);
    c->deadline_ms = d;
    pthread_mutex_unlock(&w->lock);
}

uint64_t http_watchdog_deadline(struct http_watchdog *w,
                                const struct http_conn *c)
{
    if (!c)
        return next_deadline(w);
    pthread_mutex_lock(&w->lock);
    uint64_t d = c->deadline_ms;
    pthread_mutex_unlock(&w->lock);
    return d;
}
