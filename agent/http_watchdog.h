/* http_watchdog: a deadline for every HTTP request, and the connections
 * past theirs shut down; parked requests past theirs woken. */
#ifndef HTTP_WATCHDOG_H
#define HTTP_WATCHDOG_H

#include <stdint.h>

#include "http_park.h"

/*
 * libmicrohttpd's connection timeout is an idle timeout: a client that
 * sends one header byte every few seconds (slowloris), or reads the
 * answer as slowly, would hold its connection forever, and enough of
 * them the whole connection limit. So every request gets a deadline:
 * timeout_s from the accept, or from the end of the previous response on
 * a kept-alive connection, to the end of its response. Past it the
 * watchdog shuts the socket down; libmicrohttpd then sees the end of the
 * stream and closes it in its own thread.
 */
struct http_watchdog;
struct http_conn; /* one connection watched */

/* How often the watchdog looks for connections past their deadline. */
#define HTTP_WATCHDOG_TICK_MS 250

/* Starts the watchdog's thread. park (not owned; NULL: none) has its
 * waiters past their deadline woken at every tick: libmicrohttpd's
 * timeout does not reach a suspended connection, nor does a shutdown.
 * NULL on error with a message in err. */
struct http_watchdog *http_watchdog_new(unsigned timeout_s,
                                        struct http_park *park, char *err,
                                        size_t errlen);
/* Stops the thread; the connections stay known (see _free). Idempotent. */
void http_watchdog_stop(struct http_watchdog *w);
/* Stops and frees, once every connection was removed (after
 * libmicrohttpd stopped). NULL is a no-op. */
void http_watchdog_free(struct http_watchdog *w);

/* A connection was accepted on fd: watched, with its first request's
 * deadline. NULL when out of memory (it keeps the idle timeout only).
 * fd stays the caller's: the watchdog only ever shuts it down. */
struct http_conn *http_watchdog_add(struct http_watchdog *w, int fd);
/* The connection is about to be closed: no longer watched, c freed.
 * NULL is a no-op. */
void http_watchdog_remove(struct http_watchdog *w, struct http_conn *c);
/* A response went out: the next request on c gets a new deadline. NULL
 * is a no-op. */
void http_watchdog_rearm(struct http_watchdog *w, struct http_conn *c);
/* The deadline of c's request now (CLOCK_MONOTONIC, ms); a new one from
 * now for NULL (a connection not watched). */
uint64_t http_watchdog_deadline(struct http_watchdog *w,
                                const struct http_conn *c);

#endif
