/* http_log: what the HTTP server says about its clients (malformed
 * requests, failed logins, refusals for want of CPU or memory) and
 * libmicrohttpd's complaints, each kind at a bounded rate. */
#ifndef HTTP_LOG_H
#define HTTP_LOG_H

#include <stdbool.h>
#include <stddef.h>

struct MHD_Connection;
struct http_log;

/* A flood of bad clients makes one event each: lines of each kind are
 * at most one per this long; the next one counts what was left out. */
#define HTTP_LOG_INTERVAL_MS 10000

/* NULL when out of memory. */
struct http_log *http_log_new(void);
/* NULL is a no-op. */
void http_log_free(struct http_log *l);

/* Each names the client's address, never a header, a user or a
 * password. */
/* A request refused with 400; why is http_strict_check()'s. */
void http_log_malformed(struct http_log *l, struct MHD_Connection *conn,
                        const char *why);
/* A 401 (busy false), or a 429: password checks over their CPU budget. */
void http_log_auth(struct http_log *l, struct MHD_Connection *conn, bool busy);
/* A 503: the answers held for slow clients are at held_bytes of
 * cap_bytes. */
void http_log_render_busy(struct http_log *l, struct MHD_Connection *conn,
                          size_t held_bytes, size_t cap_bytes);
/* A 403 from /probe: target (HOST:PORT as asked) is not in module's
 * allowed_targets. */
void http_log_forbidden(struct http_log *l, struct MHD_Connection *conn,
                        const char *module, const char *target);
/* One of libmicrohttpd's messages; limited false: every one (while
 * starting, when they are few and explain a failure). */
void http_log_mhd(struct http_log *l, const char *msg, bool limited);

#endif
