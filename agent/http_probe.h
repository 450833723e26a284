/* http_probe: /probe?target=NAME: its arguments and deadline, its job
 * handed to the probe loop while the request waits suspended, and the
 * answer made of the result. */
#ifndef HTTP_PROBE_H
#define HTTP_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "http_park.h"
#include "ondemand.h"

struct MHD_Connection;
struct http_log;

/* A request's /probe state, in its context; zeroed at its start. */
struct http_probe_req {
    struct ondemand_job *job; /* put by http_probe_req_done() */
    bool parked;              /* waits, or waited, for the probe loop */
    bool gzip;                /* the client accepts gzip */
};

/*
 * The deadline of the probe. blackbox_exporter's rule: the scraper's
 * X-Prometheus-Scrape-Timeout-Seconds less HTTP_PROBE_OFFSET_MS, so that
 * the answer is in before the scraper gives up; the request's own
 * deadline (http_watchdog) less the same margin caps it too, the
 * target's timeout applies in the probe loop, and HTTP_PROBE_MIN_MS is
 * the least a probe gets however short the scrape timeout. A job that
 * waits for a probe slot gives up (503) when less than
 * HTTP_PROBE_START_MIN_MS would be left to probe.
 */
#define HTTP_PROBE_OFFSET_MS    500
#define HTTP_PROBE_MIN_MS       1000
#define HTTP_PROBE_START_MIN_MS 500

/*
 * Answers the request, from the access handler: the first call parses
 * the arguments (400 when they are wrong), hands the job to q and
 * suspends the request in park (w is its waiter) until the probe loop
 * finishes it or deadline_ms (the request's) comes; the call after the
 * wake-up answers. gzip: the client accepts gzip. MHD_YES or MHD_NO.
 */
int http_probe_serve(struct http_park *park, struct ondemand *q,
                     struct http_log *log, struct MHD_Connection *conn,
                     struct http_probe_req *pr, struct http_waiter *w,
                     uint64_t deadline_ms, bool gzip);

/* The request is over (libmicrohttpd's completion callback): its
 * reference to the job goes, without a lock. */
void http_probe_req_done(struct http_probe_req *pr);

/* Public for tests: the seconds of X-Prometheus-Scrape-Timeout-Seconds
 * (NULL: absent) and the ms left of the request -> the probe's budget in
 * ms; -1 when the header is no positive number. */
long http_probe_budget_ms(const char *scrape_timeout,
                          uint64_t request_left_ms);

/* Public for tests: %-decodes src (a query value as sent) into dst of
 * cap bytes; -1 when it is cut, holds a bad or NUL escape, or a '+'. */
int http_probe_unescape(char *dst, size_t cap, const char *src);

#endif
