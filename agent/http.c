/* http: the HTTP endpoint over libmicrohttpd: the daemon, its routes
 * (/metrics, /probe, the status page /, /runbook, /-/healthy, /-/ready)
 * and their answers. */
#include "http.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "buf.h"
#include "config.h"
#include "errmsg.h"
#include "expo.h"
#include "http_accept.h"
#include "http_auth.h"
#include "http_listen.h"
#include "http_log.h"
#include "http_park.h"
#include "http_probe.h"
#include "http_render.h"
#include "http_strict.h"
#include "http_tls.h"
#include "http_watchdog.h"
#include "log.h"
#include "metrics.h"
#include "metrics_read.h"
#include "now.h"
#include "page.h"
#include "page_query.h"
#include "procstat.h"
#include "runbook.h"

#if MHD_VERSION >= 0x00097002
#define MHD_RESULT enum MHD_Result
#else
#define MHD_RESULT int
#endif

/* Per connection: request line and headers must fit (MHD answers 431). */
#define HTTP_CONNECTION_MEMORY (64 * 1024)
#define AUTH_REALM_HEADER      "Basic realm=\"smtp-health-agent\""
#define TEXT_HTML              "text/html; charset=utf-8"

struct route;

/* One request, from its request line to its end (*req_cls). Made by the
 * URI log callback, which sees the target before libmicrohttpd cuts it
 * up; freed when the request completes. */
struct http_req {
    struct http_strict_target target;
    bool first_done;           /* the first call of the access handler ran */
    bool auth_parked;          /* waited in the park for its password check */
    bool authed;               /* past auth, or none needed */
    bool parked;               /* waits, or waited, in the park for a render */
    bool gzip;                 /* the client accepts gzip */
    const struct route *route; /* once its path and method are served */
    struct http_waiter wait;
    struct http_probe_req probe; /* /probe's */
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct metrics *metrics;
    atomic_bool ready;
    atomic_uint_fast64_t loop_ms; /* the probe loop's last turn; 0: none */
    pthread_mutex_t lock;         /* starting, start_error */
    bool have_lock;               /* lock was initialised */
    bool starting;                /* MHD's messages also go to start_error */
    char start_error[512];        /* MHD's messages while starting, joined */
    struct http_log *log;
    unsigned timeout_s;

    /* /metrics and / are rendered off MHD's thread, once for every
     * request that waits meanwhile; requests wait in the park. */
    struct http_park *park;
    struct http_render *render;

    /* Basic auth; password checks run in its thread. */
    struct http_auth *auth;

    /* /probe's jobs go to the probe loop through it; NULL: no /probe. */
    struct ondemand *ondemand;

    /* HTTPS, or not: what it started with (a reload only warns). */
    struct http_tls *tls;

    /* Every request's deadline; MHD tells it of every connection. */
    struct http_watchdog *watchdog;

    /* /runbook: the same bytes for the agent's whole life, so rendered
     * once at start and queued as they are; runbook_gzip is NULL when
     * compressing failed (the plain one then answers everyone). */
    struct MHD_Response *runbook;
    struct MHD_Response *runbook_gzip;
};

/* ---- responses ---------------------------------------------------------- */

static MHD_RESULT respond_text(struct MHD_Connection *conn, unsigned status,
                               const char *text,
                               const struct http_header *extra, size_t n_extra)
{
    return (MHD_RESULT)http_respond_text(conn, status, text, extra, n_extra);
}

/* ---- gzip --------------------------------------------------------------- */

/* Callback of MHD_get_connection_values: joins every Accept-Encoding. */
static MHD_RESULT collect_accept_encoding(void *cls, enum MHD_ValueKind kind,
                                          const char *key, const char *value)
{
    (void)kind;
    struct buf *b = cls;
    if (!key || !value ||
        strcasecmp(key, MHD_HTTP_HEADER_ACCEPT_ENCODING) != 0)
        return MHD_YES;
    /* A header list too long for the buffer is cut at a whole element;
     * MHD's memory limit bounds it long before that. */
    if ((b->len && buf_putc(b, ',') < 0) || buf_puts(b, value) < 0)
        return MHD_NO;
    return MHD_YES;
}

static bool request_accepts_gzip(struct MHD_Connection *conn)
{
    struct buf b;
    buf_init(&b, HTTP_CONNECTION_MEMORY);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_accept_encoding,
                              &b);
    bool yes = http_accepts_gzip(buf_str(&b));
    buf_free(&b);
    return yes;
}

/* ---- bodies rendered off MHD's thread (http_render.h) ------------------- */

/* The body of /metrics, in the render thread. */
static int render_metrics(void *cls, struct buf *b)
{
    struct http_server *h = cls;
    if (metrics_render(h->metrics, b) < 0)
        return -1;
    struct procstat ps;
    if (procstat_read(&ps) == 0)
        return procstat_render(&ps, b);
    log_debug("http", "cannot read /proc/self", "path=/metrics");
    return 0;
}

/* The page for q: a brief of every target, the full last result only of
 * those shown as cards. *matched: how many targets q selected. */
static int render_page_for(struct http_server *h, const struct page_query *q,
                           struct buf *b, size_t *matched)
{
    struct metrics_brief *briefs = NULL;
    size_t n = 0;
    if (metrics_briefs(h->metrics, &briefs, &n) < 0)
        return -1;
    size_t *idx = calloc(n ? n : 1, sizeof(*idx));
    const char **names = calloc(n ? n : 1, sizeof(*names));
    struct metrics_last *cards = NULL;
    size_t n_cards = 0, n_shown = 0;
    int rc = -1;
    if (idx && names) {
        *matched = page_select(q, briefs, n, idx, &n_cards);
        for (size_t k = 0; k < n_cards; k++)
            names[k] = briefs[idx[k]].name;
        if (metrics_last_named(h->metrics, names, n_cards, &cards, &n_shown) ==
            0)
            rc = page_render_view(b, q, briefs, n, idx, *matched, n_cards,
                                  cards, n_shown, now_unix());
    }
    free(cards);
    free(names);
    free(idx);
    free(briefs);
    return rc;
}

/* The body of / without a query, in the render thread. */
static int render_page(void *cls, struct buf *b)
{
    struct page_query q;
    memset(&q, 0, sizeof(q));
    size_t matched;
    return render_page_for(cls, &q, b, &matched);
}

/* Nothing on the page runs, loads or embeds anything, and no other site
 * may frame it. */
static const struct http_header page_headers[] = {
    {"Content-Security-Policy",
     "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
     "form-action 'self'; frame-ancestors 'none'"},
};

/* What is rendered off MHD's thread, by index; server_init() sets cls. */
enum { SOURCE_METRICS, SOURCE_PAGE, SOURCE_COUNT };
static const struct http_render_source render_sources[] = {
    [SOURCE_METRICS] = {.name = "metrics",
                        .render = render_metrics,
                        .content_type = EXPO_CONTENT_TYPE,
                        .gzip = true},
    [SOURCE_PAGE] = {.name = "page",
                     .render = render_page,
                     .content_type = TEXT_HTML,
                     .gzip = true,
                     .headers = page_headers,
                     .n_headers =
                         sizeof(page_headers) / sizeof(page_headers[0])},
};
_Static_assert(sizeof render_sources / sizeof render_sources[0] ==
                   SOURCE_COUNT,
               "a render source for every SOURCE_");

/* ---- /runbook: made once ------------------------------------------------ */

/* The runbook is compressed once per agent: zlib's best level, where
 * http_render's bodies, made at every render, take a fast one. */
#define RUNBOOK_GZIP_LEVEL 9

/* A response that every /runbook request queues: the status page's
 * headers, Vary since there are two. Takes data whatever happens; NULL
 * when out of memory. */
static struct MHD_Response *runbook_response(char *data, size_t len, bool gzip)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return NULL;
    }
    bool ok = http_response_headers(r, TEXT_HTML, page_headers,
                                    sizeof(page_headers) /
                                        sizeof(page_headers[0])) &&
              MHD_add_response_header(r, MHD_HTTP_HEADER_VARY,
                                      "Accept-Encoding") == MHD_YES;
    if (ok && gzip)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING,
                                     "gzip") == MHD_YES;
    if (!ok) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

/* config/ALERTS.md as built in, rendered and compressed once. */
static int runbook_init(struct http_server *h, char *err, size_t errlen)
{
    struct buf b;
    buf_init(&b, 0);
    if (runbook_render(&b, (const char *)runbook_md, runbook_md_len) < 0) {
        buf_free(&b);
        errmsg_set(err, errlen,
                   "cannot render /runbook: out of memory or over 64 MiB");
        return -1;
    }
    char *z;
    size_t zlen;
    if (http_gzip(b.data, b.len, RUNBOOK_GZIP_LEVEL, &z, &zlen) == 0)
        h->runbook_gzip = runbook_response(z, zlen, true);
    size_t len = b.len;
    h->runbook = runbook_response(buf_take(&b), len, false);
    if (!h->runbook) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- deadlines (see http_watchdog.h) ------------------------------------ */

static void notify_connection(void *cls, struct MHD_Connection *conn,
                              void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        /* NULL (out of memory): the connection still has MHD's idle
         * timeout. */
        *socket_context =
            ci ? http_watchdog_add(h->watchdog, ci->connect_fd) : NULL;
        return;
    }
    http_watchdog_remove(h->watchdog, *socket_context);
    *socket_context = NULL;
}

/* The watchdog's entry of conn; NULL when it has none. */
static struct http_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* A response went out: the next request on this connection gets a new
 * deadline. */
static void request_completed(void *cls, struct MHD_Connection *conn,
                              void **req_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct http_server *h = cls;
    struct http_req *req = *req_cls;
    /* Woken with a body but closed before the handler ran again. */
    if (req && req->parked && req->wait.reason == HTTP_WAKE_DONE)
        http_body_put(req->wait.result);
    if (req && req->probe.job)
        http_probe_req_done(&req->probe);
    free(req);
    *req_cls = NULL;
    http_watchdog_rearm(h->watchdog, conn_of(conn));
}

/* This request's deadline. */
static uint64_t deadline_of(struct http_server *h, struct MHD_Connection *conn)
{
    return http_watchdog_deadline(h->watchdog, conn_of(conn));
}

/* ---- handlers ----------------------------------------------------------- */

/*
 * /metrics and /: the first time, the request waits (suspended) for the
 * render under way or a new one; MHD calls again once it is woken, and
 * the shared answer is queued. A render that would hold too many bytes
 * is not started: 503.
 */
static MHD_RESULT serve_rendered(struct http_server *h,
                                 struct MHD_Connection *conn,
                                 struct http_req *req, size_t source,
                                 const char *failed)
{
    if (!req->parked) {
        req->gzip = render_sources[source].gzip && request_accepts_gzip(conn);
        switch (http_render_wait(h->render, source, req->gzip, &req->wait,
                                 conn, deadline_of(h, conn))) {
        case HTTP_RENDER_PARKED:
            req->parked = true;
            return MHD_YES;
        case HTTP_RENDER_BUSY: {
            struct http_render_stats st;
            http_render_stats(h->render, &st);
            http_log_render_busy(h->log, conn, st.held, st.memory_max);
            static const struct http_header retry[] = {
                {MHD_HTTP_HEADER_RETRY_AFTER, "1"}};
            return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                "Too many answers held for slow clients; "
                                "retry later\n",
                                retry, 1);
        }
        case HTTP_RENDER_STOPPED:
            break;
        }
        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "Shutting down\n", NULL, 0);
    }
    /* Past the deadline or stopping: the connection goes. */
    if (req->wait.reason != HTTP_WAKE_DONE)
        return MHD_NO;
    struct http_body *b = req->wait.result;
    req->wait.reason = HTTP_WAKE_NONE;
    req->wait.result = NULL;
    bool gzipped;
    struct MHD_Response *resp = http_body_response(b, req->gzip, &gzipped);
    MHD_RESULT ret;
    if (resp)
        ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    else
        ret = respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, failed, NULL,
                           0);
    http_body_put(b);
    return ret;
}

/* Whether the probe loop has stopped turning; the answer's text then. */
static bool loop_stalled(struct http_server *h, char *text, size_t n)
{
    uint64_t last = atomic_load(&h->loop_ms), now = now_mono_ms();
    if (last == 0 || now < last || now - last < HTTP_LOOP_STALL_MS)
        return false;
    snprintf(text, n, "The probe loop has not turned for %llu s\n",
             (unsigned long long)((now - last) / 1000));
    return true;
}

static MHD_RESULT serve_metrics(struct http_server *h,
                                struct MHD_Connection *conn,
                                struct http_req *req)
{
    return serve_rendered(h, conn, req, SOURCE_METRICS,
                          "Rendering the metrics failed.\n");
}

/* ?state=, ?target=, ?q= as sent (nothing is unescaped: see
 * unescape_nothing()); NULL when absent. */
static const char *get_arg(struct MHD_Connection *conn, const char *key)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

/* A page for one query: small by construction (a card, or the first
 * matches as cards and the rest as links), rendered here for this
 * request alone, its bytes counted with the shared ones'. */
static MHD_RESULT serve_page_query(struct http_server *h,
                                   struct MHD_Connection *conn,
                                   const struct page_query *q)
{
    struct buf b;
    buf_init(&b, 0);
    size_t matched = 0;
    if (render_page_for(h, q, &b, &matched) < 0) {
        buf_free(&b);
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "Rendering the page failed.\n", NULL, 0);
    }
    struct MHD_Response *resp = NULL;
    bool gzip = request_accepts_gzip(conn);
    enum http_render_wait w =
        http_render_once(h->render, SOURCE_PAGE, &b, gzip, &resp);
    if (w == HTTP_RENDER_BUSY)
        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "Too many answers held for slow clients; "
                            "retry later\n",
                            NULL, 0);
    if (w == HTTP_RENDER_STOPPED || !resp)
        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "Shutting down\n", NULL, 0);
    /* A name that is no target's: the page says so, with a 404. */
    unsigned status =
        q->target[0] && matched == 0 ? MHD_HTTP_NOT_FOUND : MHD_HTTP_OK;
    MHD_RESULT ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The alert runbooks (/runbook#alertname), the same answer every time. */
static MHD_RESULT serve_runbook(struct http_server *h,
                                struct MHD_Connection *conn,
                                struct http_req *req)
{
    (void)req;
    struct MHD_Response *r = h->runbook;
    if (h->runbook_gzip && request_accepts_gzip(conn))
        r = h->runbook_gzip;
    return MHD_queue_response(conn, MHD_HTTP_OK, r);
}

static MHD_RESULT serve_page(struct http_server *h,
                             struct MHD_Connection *conn, struct http_req *req)
{
    if (!req->parked) {
        struct page_query q;
        char err[128];
        if (page_query_parse(&q, get_arg(conn, "state"),
                             get_arg(conn, "target"), get_arg(conn, "q"), err,
                             sizeof(err)) < 0) {
            char text[160];
            snprintf(text, sizeof(text), "Bad query: %s\n", err);
            return respond_text(conn, MHD_HTTP_BAD_REQUEST, text, NULL, 0);
        }
        if (page_query_given(&q))
            return serve_page_query(h, conn, &q);
    }
    return serve_rendered(h, conn, req, SOURCE_PAGE,
                          "Rendering the page failed.\n");
}

/* One probe of one target now, its series alone (http_probe.h). */
static MHD_RESULT serve_probe(struct http_server *h,
                              struct MHD_Connection *conn,
                              struct http_req *req)
{
    if (!h->ondemand)
        return respond_text(conn, MHD_HTTP_NOT_FOUND, "Not found\n", NULL, 0);
    bool gzip =
        req->probe.parked ? req->probe.gzip : request_accepts_gzip(conn);
    return (MHD_RESULT)http_probe_serve(h->park, h->ondemand, h->log, conn,
                                        &req->probe, &req->wait,
                                        deadline_of(h, conn), gzip);
}

/* /-/healthy and /-/ready: OK while the probe loop turns; /-/ready also
 * needs http_set_ready(). */
static MHD_RESULT serve_health(struct http_server *h,
                               struct MHD_Connection *conn, bool need_ready)
{
    char stalled[96];
    if (loop_stalled(h, stalled, sizeof(stalled)))
        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, stalled, NULL,
                            0);
    if (!need_ready || atomic_load(&h->ready))
        return respond_text(conn, MHD_HTTP_OK, "OK\n", NULL, 0);
    return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Not ready\n",
                        NULL, 0);
}

static MHD_RESULT serve_healthy(struct http_server *h,
                                struct MHD_Connection *conn,
                                struct http_req *req)
{
    (void)req;
    return serve_health(h, conn, false);
}

static MHD_RESULT serve_ready(struct http_server *h,
                              struct MHD_Connection *conn,
                              struct http_req *req)
{
    (void)req;
    return serve_health(h, conn, true);
}

/* ---- routes ------------------------------------------------------------- */

/* Answers a complete request on its route; called again after every
 * wake-up of a request it parked. */
typedef MHD_RESULT route_fn(struct http_server *h, struct MHD_Connection *conn,
                            struct http_req *req);

/* The methods a route may allow, a bit each in struct route's methods. */
enum http_method { METHOD_GET, METHOD_HEAD, METHOD_COUNT };
static const char *const method_names[] = {
    [METHOD_GET] = MHD_HTTP_METHOD_GET,
    [METHOD_HEAD] = MHD_HTTP_METHOD_HEAD,
};
_Static_assert(sizeof method_names / sizeof method_names[0] == METHOD_COUNT,
               "a name for every METHOD_");
#define METHOD_BIT(m) (1u << (m))
/* HEAD: MHD sends the headers (Content-Length included) and no body. */
#define GET_HEAD (METHOD_BIT(METHOD_GET) | METHOD_BIT(METHOD_HEAD))

/*
 * Every path served. Another path is 404 whatever the method; a method
 * the route does not allow is 405 with Allow. Auth, strictness and
 * deadlines apply to every route alike (first_call()). A new endpoint
 * is a handler and a row.
 */
static const struct route {
    const char *path; /* byte for byte, as sent (see unescape_nothing()) */
    unsigned methods; /* METHOD_BIT()s */
    route_fn *serve;
} routes[] = {
    {"/metrics", GET_HEAD, serve_metrics},
    /* GET only: a HEAD would probe for nothing. */
    {"/probe", METHOD_BIT(METHOD_GET), serve_probe},
    {"/", GET_HEAD, serve_page},
    {"/runbook", GET_HEAD, serve_runbook},
    {"/-/healthy", GET_HEAD, serve_healthy},
    {"/-/ready", GET_HEAD, serve_ready},
};

static const struct route *route_find(const char *path)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(routes[i].path, path) == 0)
            return &routes[i];
    return NULL;
}

static bool route_allows(const struct route *rt, const char *method)
{
    for (unsigned m = 0; m < METHOD_COUNT; m++)
        if ((rt->methods & METHOD_BIT(m)) &&
            strcmp(method, method_names[m]) == 0)
            return true;
    return false;
}

/* The 405 for rt: its methods in Allow ("GET, HEAD"). */
static MHD_RESULT respond_not_allowed(struct MHD_Connection *conn,
                                      const struct route *rt)
{
    char list[64] = "";
    size_t used = 0;
    for (unsigned m = 0; m < METHOD_COUNT && used < sizeof(list); m++)
        if (rt->methods & METHOD_BIT(m))
            used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                                     used ? ", " : "", method_names[m]);
    const struct http_header allow[] = {{MHD_HTTP_HEADER_ALLOW, list}};
    return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                        "Method not allowed\n", allow, 1);
}

/* The request's route answers it, once it is complete. */
static MHD_RESULT serve(struct http_server *h, struct MHD_Connection *conn,
                        struct http_req *req)
{
    return req->route ? req->route->serve(h, conn, req) : MHD_NO;
}

/* ---- the access handler ------------------------------------------------- */

static bool has_body(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (cl && strcmp(cl, "0") != 0) ||
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                       MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* What the first call decides once auth let the request through. */
static MHD_RESULT after_auth(struct http_server *h,
                             struct MHD_Connection *conn, struct http_req *req,
                             const char *url, const char *method)
{
    /* A path we do not serve is 404 whatever the method; 405 says that
     * the path exists. */
    const struct route *rt = route_find(url);
    if (!rt)
        return respond_text(conn, MHD_HTTP_NOT_FOUND, "Not found\n", NULL, 0);
    if (!route_allows(rt, method))
        return respond_not_allowed(conn, rt);
    req->route = rt;
    /* A body on a GET or HEAD means nothing: answer now, and MHD skips
     * the body (and closes) instead of reading it. */
    if (has_body(conn))
        return serve(h, conn, req);
    return MHD_YES;
}

/* The answer to a request whose password check is decided. */
static MHD_RESULT auth_decided(struct http_server *h,
                               struct MHD_Connection *conn,
                               struct http_req *req, const char *url,
                               const char *method, enum http_auth_result ar)
{
    if (ar != HTTP_AUTH_OK)
        http_log_auth(h->log, conn, ar == HTTP_AUTH_BUSY);
    switch (ar) {
    case HTTP_AUTH_OK:
        req->authed = true;
        return after_auth(h, conn, req, url, method);
    case HTTP_AUTH_BUSY: {
        static const struct http_header retry[] = {
            {MHD_HTTP_HEADER_RETRY_AFTER, "1"}};
        return respond_text(conn, MHD_HTTP_TOO_MANY_REQUESTS,
                            "Too many password checks; retry later\n", retry,
                            1);
    }
    case HTTP_AUTH_STOPPED:
        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "Shutting down\n", NULL, 0);
    case HTTP_AUTH_DENIED:
    case HTTP_AUTH_PARKED:
        break;
    }
    static const struct http_header www[] = {
        {MHD_HTTP_HEADER_WWW_AUTHENTICATE, AUTH_REALM_HEADER}};
    return respond_text(conn, MHD_HTTP_UNAUTHORIZED, "Unauthorized\n", www, 1);
}

/*
 * The first call for a request, with its headers in: queues the refusal
 * (400, 401, 429, 404, 405) when there is one, before any body is read: a
 * refused client must not make us read its body, and MHD closes the
 * connection after such an early answer. An accepted request is answered
 * once it is complete (an answer now would close a connection that the
 * scraper wants to keep for its next scrape). MHD_NO when out of memory.
 */
static MHD_RESULT first_call(struct http_server *h,
                             struct MHD_Connection *conn, struct http_req *req,
                             const char *url, const char *method,
                             const char *version)
{
    /* Before anything else, auth included: a request that two parsers
     * could read two ways is not answered as if it were one. The
     * connection closes, so that nothing after it is read as a next
     * request (RFC 9112 6.3). */
    const char *why =
        http_strict_check(conn, method, url, version, &req->target);
    if (why) {
        http_log_malformed(h->log, conn, why);
        static const struct http_header close[] = {
            {MHD_HTTP_HEADER_CONNECTION, "close"}};
        return respond_text(conn, MHD_HTTP_BAD_REQUEST, "Bad request\n", close,
                            1);
    }
    /* Like Prometheus: with auth on, every path needs it, so that an
     * unauthenticated client learns nothing, not even which paths exist. */
    if (!http_auth_required(h->auth)) {
        req->authed = true;
        return after_auth(h, conn, req, url, method);
    }
    const char *header = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    enum http_auth_result ar = http_auth_check(h->auth, header, &req->wait,
                                               conn, deadline_of(h, conn));
    if (ar == HTTP_AUTH_PARKED) {
        /* MHD calls again, as a first call, once the check is done. */
        req->auth_parked = true;
        return MHD_YES;
    }
    return auth_decided(h, conn, req, url, method, ar);
}

static MHD_RESULT handle(void *cls, struct MHD_Connection *conn,
                         const char *url, const char *method,
                         const char *version, const char *upload_data,
                         size_t *upload_data_size, void **req_cls)
{
    (void)upload_data;
    struct http_server *h = cls;
    struct http_req *req = *req_cls;

    /* No context: the URI log callback ran out of memory. */
    if (!req)
        return MHD_NO;
    if (!req->first_done) {
        req->first_done = true;
        return first_call(h, conn, req, url, method, version);
    }
    /* Woken from the password check: the rest of the first call. */
    if (req->auth_parked && !req->authed) {
        if (req->wait.reason != HTTP_WAKE_DONE)
            return MHD_NO; /* past its deadline, or stopping */
        enum http_auth_result ar = http_auth_outcome(&req->wait);
        req->wait.reason = HTTP_WAKE_NONE;
        req->wait.result = NULL;
        return auth_decided(h, conn, req, url, method, ar);
    }
    /* first_call() answered every request with a body; should one come
     * all the same, it is dropped. */
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    return serve(h, conn, req);
}

/* ---- the daemon --------------------------------------------------------- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* MHD's own messages: kept while starting (for the error), then logged
 * at a bounded rate, since a flood of bad clients makes one each. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_server *h = cls;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    pthread_mutex_lock(&h->lock);
    bool starting = h->starting;
    if (starting) {
        size_t used = strlen(h->start_error);
        snprintf(h->start_error + used, sizeof(h->start_error) - used, "%s%s",
                 used ? "; " : "", msg);
    }
    pthread_mutex_unlock(&h->lock);
    http_log_mhd(h->log, msg, !starting);
}

/* Paths are matched byte for byte as sent: no %-escape is decoded, so
 * that "/metrics%00" cannot pass for "/metrics" and no path has two
 * spellings. Arguments come as sent too: /probe decodes its target
 * itself (http_probe_unescape), the page's take none that need it. */
static size_t unescape_nothing(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

/* Called with the request-target as sent, before libmicrohttpd cuts it
 * at '?' (see http_strict.h); its return value is the request's
 * *req_cls. */
static void *request_started(void *cls, const char *uri,
                             struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct http_req *req = calloc(1, sizeof(*req));
    if (req)
        http_strict_target_seen(&req->target, uri);
    return req;
}

static void server_free(struct http_server *h)
{
    http_watchdog_stop(h->watchdog);
    /* MHD must find no suspended connection when it stops: the render
     * thread stops (handing out a render under way), and whatever still
     * waits is woken. */
    if (h->render)
        http_render_stop(h->render);
    if (h->auth)
        http_auth_stop(h->auth);
    if (h->park)
        http_park_close(h->park);
    /* Closes every connection: the CLOSED notifications empty the
     * watchdog's list. */
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    /* After MHD: its responses count their bytes there until freed. */
    http_render_free(h->render);
    http_auth_free(h->auth);
    http_park_free(h->park);
    http_watchdog_free(h->watchdog);
    http_log_free(h->log);
    http_tls_free(h->tls);
    if (h->runbook)
        MHD_destroy_response(h->runbook);
    if (h->runbook_gzip)
        MHD_destroy_response(h->runbook_gzip);
    if (h->have_lock)
        pthread_mutex_destroy(&h->lock);
    free(h);
}

static int server_init(struct http_server *h, const struct http_options *opt,
                       char *err, size_t errlen)
{
    h->metrics = opt->metrics;
    h->ondemand = opt->ondemand;
    atomic_init(&h->ready, false);
    atomic_init(&h->loop_ms, 0);
    h->timeout_s = opt->timeout_s ? opt->timeout_s : HTTP_DEFAULT_TIMEOUT_S;
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        errmsg_set(err, errlen, "cannot create a mutex");
        return -1;
    }
    h->have_lock = true;
    h->park = http_park_new();
    h->log = http_log_new();
    if (!h->park || !h->log) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    h->watchdog = http_watchdog_new(h->timeout_s, h->park, err, errlen);
    if (!h->watchdog)
        return -1;
    struct http_render_source sources[SOURCE_COUNT];
    for (size_t i = 0; i < SOURCE_COUNT; i++) {
        sources[i] = render_sources[i];
        sources[i].cls = h;
    }
    h->render = http_render_new(sources, SOURCE_COUNT, opt->render_memory_max,
                                h->park, err, errlen);
    if (!h->render)
        return -1;
    h->auth = http_auth_new(opt->users, opt->n_users, opt->auth_burst_ms,
                            h->park, err, errlen);
    if (!h->auth)
        return -1;
    if (runbook_init(h, err, errlen) < 0)
        return -1;
    h->tls = http_tls_new(opt->tls_cert_file, opt->tls_key_file, err, errlen);
    return h->tls ? 0 : -1;
}

/* MHD's daemon on ss, calling back into h; NULL on error (MHD's messages
 * then in h->start_error). */
static struct MHD_Daemon *start_daemon(struct http_server *h,
                                       const struct sockaddr_storage *ss,
                                       unsigned connection_limit)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (ss->ss_family == AF_INET6)
        flags |= http_listen_is_v6_any(ss) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    if (http_tls_on(h->tls))
        flags |= MHD_USE_TLS;
    /* MHD binds to the address; the port only goes into its messages. */
    uint16_t port = (uint16_t)http_listen_port(ss);
    /* The logger first: MHD would print earlier messages itself. */
    return MHD_start_daemon(
        flags, port, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, h, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)ss,
        MHD_OPTION_CONNECTION_LIMIT, connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, h->timeout_s,
        /* No MHD_OPTION_PER_IP_CONNECTION_LIMIT (MHD's default is none):
         * scrapers share an address with others behind NAT. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, h,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, h,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_nothing, NULL,
        /* No MHD_OPTION_STRICT_FOR_CLIENT: 0.9.75 answers a missing Host
         * with its 400's headers sent twice and closes on a space in the
         * target without an answer; http_strict refuses both cleanly. */
        MHD_OPTION_URI_LOG_CALLBACK, request_started, h, MHD_OPTION_ARRAY,
        http_tls_options(h->tls), MHD_OPTION_END);
}

struct http_server *http_start(const struct http_options *opt, char *err,
                               size_t errlen)
{
    struct sockaddr_storage ss;
    if (!opt->metrics) {
        errmsg_set(err, errlen, "no metrics store");
        return NULL;
    }
    if (http_listen_parse(opt->listen, opt->allow_port_zero, &ss, err,
                          errlen) < 0)
        return NULL;

    /* calloc: server_free() copes with a half-made one. */
    struct http_server *h = calloc(1, sizeof(*h));
    if (!h) {
        errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    if (server_init(h, opt, err, errlen) < 0) {
        server_free(h);
        return NULL;
    }
    h->starting = true;
    h->daemon = start_daemon(h, &ss,
                             opt->connection_limit ? opt->connection_limit
                                                   : HTTP_DEFAULT_CONNECTIONS);
    /* GnuTLS has its own copy of the key now. */
    http_tls_forget(h->tls);
    pthread_mutex_lock(&h->lock);
    h->starting = false;
    pthread_mutex_unlock(&h->lock);
    if (!h->daemon) {
        /* The caller says "cannot listen on ADDR:"; MHD says why. */
        errmsg_set(err, errlen, "%s",
                   h->start_error[0] ? h->start_error
                                     : "libmicrohttpd failed");
        server_free(h);
        return NULL;
    }
    log_info("http", "serving", "scheme=%s basic_auth_users=%zu",
             http_tls_on(h->tls) ? "https" : "http", opt->n_users);
    if (!http_strict_raw_known())
        log_warn("http",
                 "not libmicrohttpd 0.9.75: NUL bytes, bare LFs and folded "
                 "lines in requests are not refused",
                 "libmicrohttpd=%s", MHD_get_version());
    return h;
}

/* ---- the API (http.h) --------------------------------------------------- */

void http_stop(struct http_server *h)
{
    if (!h)
        return;
    server_free(h);
}

void http_set_ready(struct http_server *h, bool ready)
{
    atomic_store(&h->ready, ready);
}

void http_loop_turned(struct http_server *h, uint64_t mono_ms)
{
    atomic_store(&h->loop_ms, mono_ms);
}

void http_render_counts(struct http_server *h, struct http_render_stats *out)
{
    http_render_stats(h->render, out);
}

unsigned http_port(const struct http_server *h)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

unsigned long http_auth_bcrypt_runs(const struct http_server *h)
{
    return http_auth_runs(h->auth);
}

int http_set_auth(struct http_server *h, const struct agent_config *cfg)
{
    if (http_auth_set_users(h->auth, cfg ? cfg->web_users : NULL,
                            cfg ? cfg->n_web_users : 0) < 0)
        return -1;
    if (cfg && http_tls_changed(h->tls, cfg->web_tls_cert_file,
                                cfg->web_tls_key_file))
        log_warn("http",
                 "web_tls_cert_file or web_tls_key_file changed; "
                 "restart to apply",
                 NULL);
    return 0;
}
