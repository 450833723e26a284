/* http_probe: /probe?target=NAME and /probe?module=NAME&target=HOST:PORT,
 * from their arguments to their answer. */
#include "http_probe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "config_value.h"
#include "expo.h"
#include "hexdigit.h"
#include "http_log.h"
#include "http_render.h"
#include "now.h"
#include "probe_expo.h"

/* The body of an answer: the series are a few KiB, a transcript at most
 * what ondemand keeps. */
#define PROBE_BODY_MAX (1024 * 1024)

static const struct http_header retry_after[] = {
    {MHD_HTTP_HEADER_RETRY_AFTER, "1"}};

/* The body in b, gzip'd when the client takes it (as /metrics). */
static int respond_body(struct MHD_Connection *conn, const char *content_type,
                        struct buf *b, bool gzip)
{
    static const struct http_header plain[] = {
        {MHD_HTTP_HEADER_VARY, "Accept-Encoding"}};
    static const struct http_header zipped[] = {
        {MHD_HTTP_HEADER_VARY, "Accept-Encoding"},
        {MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip"}};
    size_t len = b->len;
    char *data = len ? buf_take(b) : calloc(1, 1);
    buf_free(b);
    if (!data)
        return MHD_NO;
    char *z;
    size_t zlen;
    if (gzip && http_gzip(data, len, HTTP_GZIP_LEVEL, &z, &zlen) == 0) {
        free(data);
        return http_respond(conn, MHD_HTTP_OK, content_type, z, zlen, zipped,
                            2);
    }
    return http_respond(conn, MHD_HTTP_OK, content_type, data, len, plain, 1);
}

int http_probe_unescape(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (const char *p = src; *p; p++) {
        char c = *p;
        if (c == '+')
            return -1;
        if (c == '%') {
            int byte = hexdigit_pair(p + 1);
            if (byte <= 0) /* a bad escape, or %00 */
                return -1;
            c = (char)byte;
            p += 2;
        }
        if (n + 1 >= cap)
            return -1;
        dst[n++] = c;
    }
    dst[n] = '\0';
    return 0;
}

long http_probe_budget_ms(const char *scrape_timeout, uint64_t request_left_ms)
{
    double budget = (double)request_left_ms - HTTP_PROBE_OFFSET_MS;
    if (scrape_timeout) {
        char *end;
        double s = strtod(scrape_timeout, &end);
        if (end == scrape_timeout || *end || !isfinite(s) || s <= 0)
            return -1;
        double cap = s * 1000.0 - HTTP_PROBE_OFFSET_MS;
        if (cap < budget)
            budget = cap;
    }
    if (budget < HTTP_PROBE_MIN_MS)
        budget = HTTP_PROBE_MIN_MS;
    return (long)budget;
}

static const char *get_arg(struct MHD_Connection *conn, const char *key)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

/* module=NAME&target=HOST[:PORT] into the job; NULL, or the 400's
 * text. Whether the module exists and allows the host is the probe
 * loop's to say, on the config it holds. */
static const char *module_from_request(struct ondemand_job *j,
                                       const char *module, const char *target)
{
    char raw[CONFIG_HOST_MAX + 16];
    if (!module[0] ||
        http_probe_unescape(j->module, sizeof(j->module), module) < 0 ||
        !config_valid_target_name(j->module, strlen(j->module)))
        return "Bad ?module=: not a module name\n";
    if (!target || !target[0])
        return "Missing ?target=HOST[:PORT]: the host to probe with the "
               "module\n";
    if (http_probe_unescape(raw, sizeof(raw), target) < 0 ||
        allowlist_split_target(raw, j->host, sizeof(j->host), &j->port) < 0)
        return "Bad ?target=: want HOST, HOST:PORT, an IPv4 address, "
               "[IPv6] or [IPv6]:PORT\n";
    return NULL;
}

/* Fills the job from the request; NULL, or the 400's text. */
static const char *job_from_request(struct MHD_Connection *conn,
                                    struct ondemand_job *j,
                                    uint64_t deadline_ms)
{
    const char *target = get_arg(conn, "target");
    const char *debug = get_arg(conn, "debug");
    const char *module = get_arg(conn, "module");
    if (module) {
        const char *bad = module_from_request(j, module, target);
        if (bad)
            return bad;
    } else if (!target || !target[0]) {
        return "Missing ?target=NAME: the name of a configured target (or "
               "?module=NAME&target=HOST[:PORT])\n";
    } else if (http_probe_unescape(j->target, sizeof(j->target), target) < 0 ||
               !config_valid_any_target_name(j->target, strlen(j->target))) {
        return "Bad ?target=: not a target name\n";
    }
    if (debug && strcmp(debug, "true") != 0 && strcmp(debug, "false") != 0)
        return "Bad ?debug=: true or false\n";
    j->debug = debug && strcmp(debug, "true") == 0;
    uint64_t now = now_mono_ms();
    long budget = http_probe_budget_ms(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                    "X-Prometheus-Scrape-Timeout-Seconds"),
        deadline_ms > now ? deadline_ms - now : 0);
    if (budget < 0)
        return "Bad X-Prometheus-Scrape-Timeout-Seconds: not a positive "
               "number of seconds\n";
    j->deadline_ms = now + (uint64_t)budget;
    j->min_ms = HTTP_PROBE_START_MIN_MS;
    return NULL;
}

struct park_args {
    struct http_park *park;
    struct http_waiter *w;
    struct MHD_Connection *conn;
    uint64_t key;
    uint64_t deadline_ms;
};

/* Under the queue's lock (ondemand_submit): the request waits. */
static int park_request(void *cls)
{
    struct park_args *a = cls;
    return http_park_wait(a->park, a->w, a->conn, a->key, a->deadline_ms);
}

/* Under the queue's lock (ondemand_finish): the request is resumed. */
static void job_done(void *cls, struct ondemand_job *j)
{
    struct http_park *park = cls;
    http_park_wake(park, j->done_key, NULL, NULL);
}

/* What was asked for, in the answer and its log line: "mx1" (a target),
 * "mx1.example.com:587", "[2001:db8::1]:25" (a module's). */
static const char *asked(const struct ondemand_job *j, char *dst, size_t n)
{
    if (!j->module[0])
        snprintf(dst, n, "%s", j->target);
    else if (strchr(j->host, ':'))
        snprintf(dst, n, "[%s]:%u", j->host, j->port);
    else
        snprintf(dst, n, "%s:%u", j->host, j->port);
    return dst;
}

/* The answer to a finished job. */
static int answer(struct MHD_Connection *conn, struct http_probe_req *pr,
                  struct http_log *log)
{
    struct ondemand_job *j = pr->job;
    char text[CONFIG_TARGET_NAME_MAX + 256], what[CONFIG_TARGET_NAME_MAX + 1];
    switch (j->status) {
    case ONDEMAND_DONE:
        break;
    case ONDEMAND_UNKNOWN:
        snprintf(text, sizeof(text), "Unknown target: %s\n", j->target);
        return http_respond_text(conn, MHD_HTTP_BAD_REQUEST, text, NULL, 0);
    case ONDEMAND_UNKNOWN_MODULE:
        snprintf(text, sizeof(text), "Unknown module: %s\n", j->module);
        return http_respond_text(conn, MHD_HTTP_BAD_REQUEST, text, NULL, 0);
    case ONDEMAND_FORBIDDEN:
        asked(j, what, sizeof(what));
        http_log_forbidden(log, conn, j->module, what);
        snprintf(text, sizeof(text),
                 "Target %s is not in module %s's allowed_targets\n", what,
                 j->module);
        return http_respond_text(conn, MHD_HTTP_FORBIDDEN, text, NULL, 0);
    case ONDEMAND_BUSY:
        return http_respond_text(
            conn, MHD_HTTP_SERVICE_UNAVAILABLE,
            "No probe slot came free in time "
            "(max_concurrent_probes, max_per_host); retry "
            "later\n",
            retry_after, 1);
    case ONDEMAND_FAULT:
        snprintf(text, sizeof(text), "The agent could not probe: %s\n",
                 j->result.detail);
        return http_respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text,
                                 retry_after, 1);
    case ONDEMAND_PENDING:
    case ONDEMAND_STOPPED:
        return http_respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 "Shutting down\n", NULL, 0);
    }
    struct buf b;
    buf_init(&b, PROBE_BODY_MAX);
    int rc = 0;
    if (j->debug && j->module[0])
        rc = buf_printf(&b,
                        "Transcript of the probe of %s with module %s "
                        "(every AUTH message and every line holding a form "
                        "of the secret withheld):\n%s\n\nMetrics that "
                        "would have been returned:\n",
                        asked(j, what, sizeof(what)), j->module,
                        buf_str(&j->transcript));
    else if (j->debug)
        rc = buf_printf(&b,
                        "Transcript of the probe of target %s (every AUTH "
                        "message and every line holding a form of the "
                        "secret withheld):\n%s\n\nMetrics that would have "
                        "been returned:\n",
                        j->target, buf_str(&j->transcript));
    struct probe_expo_target facts = {j->host, j->port, j->tls, j->tls_verify};
    if (rc < 0 || probe_expo_render(&b, &j->result, j->labels, &facts) < 0) {
        buf_free(&b);
        return http_respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                 "Rendering the probe's series failed.\n",
                                 NULL, 0);
    }
    return respond_body(conn, j->debug ? HTTP_TEXT_PLAIN : EXPO_CONTENT_TYPE,
                        &b, pr->gzip);
}

int http_probe_serve(struct http_park *park, struct ondemand *q,
                     struct http_log *log, struct MHD_Connection *conn,
                     struct http_probe_req *pr, struct http_waiter *w,
                     uint64_t deadline_ms, bool gzip)
{
    if (pr->parked) {
        /* Past the request's deadline or stopping: the connection goes. */
        if (w->reason != HTTP_WAKE_DONE)
            return MHD_NO;
        w->reason = HTTP_WAKE_NONE;
        return answer(conn, pr, log);
    }
    struct ondemand_job *j = ondemand_job_new();
    if (!j)
        return MHD_NO;
    pr->job = j;
    pr->gzip = gzip;
    const char *bad = job_from_request(conn, j, deadline_ms);
    if (bad)
        return http_respond_text(conn, MHD_HTTP_BAD_REQUEST, bad, NULL, 0);
    j->done = job_done;
    j->done_cls = park;
    j->done_key = http_park_key(park);
    struct park_args a = {park, w, conn, j->done_key, deadline_ms};
    switch (ondemand_submit(q, j, park_request, &a)) {
    case ONDEMAND_QUEUED:
        pr->parked = true;
        return MHD_YES;
    case ONDEMAND_FULL:
        return http_respond_text(
            conn, MHD_HTTP_SERVICE_UNAVAILABLE,
            "Too many /probe requests at once; retry later\n", retry_after, 1);
    case ONDEMAND_CLOSED:
    case ONDEMAND_NOWAIT:
        break;
    }
    return http_respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                             "Shutting down\n", NULL, 0);
}

void http_probe_req_done(struct http_probe_req *pr)
{
    ondemand_put(pr->job);
    pr->job = NULL;
}
