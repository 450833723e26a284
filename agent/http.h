/* http: the HTTP endpoint over libmicrohttpd: the daemon, its routes
 * (/metrics, /probe, the status page /, /runbook, /-/healthy, /-/ready)
 * and their answers. */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fdbudget.h"

struct agent_config;
struct http_render_stats;
struct http_server;
struct metrics;
struct ondemand;
struct web_user;

/*
 * Connections at once. Scrapers and people need a handful; the rest is
 * headroom so that a burst of clients is served rather than queued. A
 * connection costs one fd and a 64 KiB pool that is mapped but only
 * touched as far as used (a few KiB for a scrape): 256 of them stay well
 * below the 1024 fds a service gets by default, next to up to 256 probes.
 * Clients past the limit wait in the kernel's listen queue (MHD stops
 * accepting), they are not refused.
 */
#define HTTP_DEFAULT_CONNECTIONS FDBUDGET_HTTP_MAX
/* Idle timeout, and the deadline of each request: from the accept (or
 * the previous response) to the end of its response (http_watchdog.h). */
#define HTTP_DEFAULT_TIMEOUT_S 10

struct http_options {
    const char *listen; /* "127.0.0.1:9925", "[::1]:9925", ":9925" */
    /* Read only: metrics_render() for /metrics, metrics_last_results()
     * for the status page. */
    struct metrics *metrics;
    /* /probe's hand-off to the probe loop (not owned; NULL: /probe
     * answers 404). Close it (ondemand_close) before http_stop(). */
    struct ondemand *ondemand;
    /* 0: HTTP_DEFAULT_CONNECTIONS; more clients wait to be accepted. */
    unsigned connection_limit;
    unsigned timeout_s; /* 0: HTTP_DEFAULT_TIMEOUT_S */
    /* HTTPS: PEM certificate (chain) and unencrypted key files, read at
     * start; both, or neither (NULL or "") for plain HTTP. */
    const char *tls_cert_file;
    const char *tls_key_file;
    /* Basic auth: every request needs one of these users (bcrypt
     * hashes); none: no auth. Copied. */
    const struct web_user *users;
    size_t n_users;
    /* Tests: the burst of CPU milliseconds that password checks missing
     * the cache may spend before the 25%-of-a-core rate applies; 0:
     * HTTP_AUTH_BURST_MS (http_auth.h). */
    unsigned auth_burst_ms;
    /* Bytes that answers of /metrics and / may hold at once (bodies
     * that slow clients have not read yet); past it a new render is
     * refused with 503. 0: automatic (see http_render.h). */
    size_t render_memory_max;
    /* Tests: let port 0 through, to bind a free port (see http_port()).
     * Otherwise port 0 is refused: it is no address to scrape. */
    bool allow_port_zero;
};

/* Starts the HTTP thread. NULL on error with a message in err. */
struct http_server *http_start(const struct http_options *opt, char *err,
                               size_t errlen);
/* Stops the thread and frees; NULL is a no-op. */
void http_stop(struct http_server *h);
/* /-/ready answers 200 only once this was set. */
void http_set_ready(struct http_server *h, bool ready);

/*
 * The probe loop turned at mono_ms (CLOCK_MONOTONIC, ms). Once called,
 * /-/healthy and /-/ready answer 503 when the loop has not turned for
 * HTTP_LOOP_STALL_MS: a loop stuck in a read or a deadlock is not
 * healthy, whatever the HTTP thread can still say. Lock-free.
 */
#define HTTP_LOOP_STALL_MS 30000
void http_loop_turned(struct http_server *h, uint64_t mono_ms);
/* The port the server listens on (the bound one when started on 0). */
unsigned http_port(const struct http_server *h);

/*
 * After a reload: the basic auth users become cfg's (none: no auth). The
 * cache of verified credentials keeps the users whose name and hash did
 * not change. The HTTPS files are only read at start: a change of
 * web_tls_* is logged as needing a restart. 0, or -1 when out of memory
 * (the old users stay).
 */
int http_set_auth(struct http_server *h, const struct agent_config *cfg);

/* Tests: how many bcrypt checks ran (requests the cache did not answer). */
unsigned long http_auth_bcrypt_runs(const struct http_server *h);
/* Tests: renders made, bytes held by answers, 503s. */
void http_render_counts(struct http_server *h, struct http_render_stats *out);

#endif
