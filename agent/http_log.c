/* http_log: what the HTTP server says about its clients (malformed
 * requests, failed logins, refusals for want of CPU or memory) and
 * libmicrohttpd's complaints, each kind at a bounded rate. */
#include "http_log.h"

#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log.h"
#include "now.h"

/* The kinds of lines, each with its own rate. */
enum kind {
    KIND_MALFORMED,
    KIND_AUTH_FAILED,
    KIND_AUTH_BUSY,
    KIND_RENDER_BUSY,
    KIND_FORBIDDEN,
    KIND_MHD,
    KIND_COUNT
};

/* "At most one line per HTTP_LOG_INTERVAL_MS"; count is what happened
 * since the last line. */
struct ratelimit {
    uint64_t next_ms;
    unsigned long count;
};

struct http_log {
    pthread_mutex_t lock;
    struct ratelimit rl[KIND_COUNT];
};

struct http_log *http_log_new(void)
{
    struct http_log *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        free(l);
        return NULL;
    }
    return l;
}

void http_log_free(struct http_log *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* True when a line of kind k may be written now; *count gets the events
 * since the last line (this one included). */
static bool pass(struct http_log *l, enum kind k, unsigned long *count)
{
    uint64_t now = now_mono_ms();
    pthread_mutex_lock(&l->lock);
    struct ratelimit *rl = &l->rl[k];
    rl->count++;
    bool ok = now >= rl->next_ms;
    if (ok) {
        *count = rl->count;
        rl->count = 0;
        rl->next_ms = now + HTTP_LOG_INTERVAL_MS;
    }
    pthread_mutex_unlock(&l->lock);
    return ok;
}

/* The client's address, numeric. */
static const char *remote_addr(struct MHD_Connection *conn, char *dst,
                               size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(dst, n, "unknown");
    if (!ci || !ci->client_addr)
        return dst;
    const struct sockaddr *sa = ci->client_addr;
    socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
        getnameinfo(sa, len, dst, (socklen_t)n, NULL, 0, NI_NUMERICHOST);
    return dst;
}

void http_log_malformed(struct http_log *l, struct MHD_Connection *conn,
                        const char *why)
{
    unsigned long count = 0;
    if (!pass(l, KIND_MALFORMED, &count))
        return;
    char addr[NI_MAXHOST], q[256];
    remote_addr(conn, addr, sizeof(addr));
    log_info("http", "malformed request refused with 400",
             "remote=%s reason=%s count=%lu", addr,
             log_quote(q, sizeof(q), why), count);
}

void http_log_forbidden(struct http_log *l, struct MHD_Connection *conn,
                        const char *module, const char *target)
{
    unsigned long count = 0;
    if (!pass(l, KIND_FORBIDDEN, &count))
        return;
    char addr[NI_MAXHOST], qm[128], qt[512];
    remote_addr(conn, addr, sizeof(addr));
    log_warn("http", "probe refused with 403: target not allowed by module",
             "remote=%s probe_module=%s target=%s count=%lu", addr,
             log_quote(qm, sizeof(qm), module),
             log_quote(qt, sizeof(qt), target), count);
}

void http_log_auth(struct http_log *l, struct MHD_Connection *conn, bool busy)
{
    unsigned long count = 0;
    if (!pass(l, busy ? KIND_AUTH_BUSY : KIND_AUTH_FAILED, &count))
        return;
    char addr[NI_MAXHOST];
    remote_addr(conn, addr, sizeof(addr));
    if (busy)
        log_info("http", "password checks over their CPU budget; answered 429",
                 "remote=%s count=%lu", addr, count);
    else
        log_info("http", "basic auth failed", "remote=%s failures=%lu", addr,
                 count);
}

void http_log_render_busy(struct http_log *l, struct MHD_Connection *conn,
                          size_t held_bytes, size_t cap_bytes)
{
    unsigned long count = 0;
    if (!pass(l, KIND_RENDER_BUSY, &count))
        return;
    char addr[NI_MAXHOST];
    remote_addr(conn, addr, sizeof(addr));
    log_warn("http",
             "answers held for slow clients are at the memory cap; "
             "answered 503",
             "remote=%s held_bytes=%zu cap_bytes=%zu count=%lu", addr,
             held_bytes, cap_bytes, count);
}

void http_log_mhd(struct http_log *l, const char *msg, bool limited)
{
    unsigned long count = 1;
    if (limited && !pass(l, KIND_MHD, &count))
        return;
    char q[300];
    log_warn("http", "libmicrohttpd", "detail=%s messages=%lu",
             log_quote(q, sizeof(q), msg), count);
}
