/* http_park: requests that wait, suspended, for something made off
 * libmicrohttpd's thread (a render; later a probe for /probe), and their
 * wake-up by the maker, by their deadline or by the server stopping. */
#ifndef HTTP_PARK_H
#define HTTP_PARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;
struct http_park;

/* Why a parked request was resumed. */
enum http_wake {
    HTTP_WAKE_NONE,    /* not woken (yet) */
    HTTP_WAKE_DONE,    /* what it waited for is in `result` */
    HTTP_WAKE_TIMEOUT, /* its deadline came first */
    HTTP_WAKE_STOP,    /* the server stops */
};

/*
 * One parked request, kept in the request's own context. After the
 * wake-up libmicrohttpd calls the access handler again, which reads
 * `reason` and `result` (the park no longer touches either). The rest is
 * the park's.
 */
struct http_waiter {
    enum http_wake reason;
    void *result; /* the maker's, with HTTP_WAKE_DONE */

    struct http_waiter *prev, *next;
    struct MHD_Connection *conn;
    uint64_t key;
    uint64_t deadline_ms; /* CLOCK_MONOTONIC */
};

/* NULL when out of memory. */
struct http_park *http_park_new(void);
/* Call http_park_close() first; NULL is a no-op. */
void http_park_free(struct http_park *p);

/*
 * From the access handler only (libmicrohttpd's rule for suspending; the
 * daemon needs MHD_ALLOW_SUSPEND_RESUME): suspends conn and keeps w under
 * key until a wake-up. The caller holds whatever lock the maker takes
 * before http_park_wake(), so that no wake-up falls between its check
 * and this call. 0, or -1 (nothing done) once the park is closed.
 */
int http_park_wait(struct http_park *p, struct http_waiter *w,
                   struct MHD_Connection *conn, uint64_t key,
                   uint64_t deadline_ms);

/*
 * Any thread: resumes every waiter of key with HTTP_WAKE_DONE and the
 * result give(cls) returns for each (called under the park's lock: it
 * must not call into the park). The number woken.
 */
size_t http_park_wake(struct http_park *p, uint64_t key,
                      void *(*give)(void *cls), void *cls);

/* Resumes every waiter whose deadline is at or before now_ms with
 * HTTP_WAKE_TIMEOUT: libmicrohttpd sees neither a timeout nor the
 * client leaving while a connection is suspended. The number woken. */
size_t http_park_expire(struct http_park *p, uint64_t now_ms);

/* Resumes every waiter with HTTP_WAKE_STOP and refuses new ones: before
 * MHD_stop_daemon(), which must find no suspended connection. */
void http_park_close(struct http_park *p);

/*
 * A key no other waiter of the park has: every maker (render, password
 * checks, /probe) takes its keys here, so that waking one maker's key
 * never wakes another's waiters with a result of the wrong kind. Any
 * thread.
 */
uint64_t http_park_key(struct http_park *p);

/* How many requests wait now. */
size_t http_park_count(struct http_park *p);

#endif
