/* http: /metrics, /, /-/healthy, /-/ready over libmicrohttpd. */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

struct http_server;

struct http_options {
    const char *listen;        /* "127.0.0.1:9925", "[::1]:9925", ":9925" */
    struct metrics *metrics;   /* read only, through metrics_render() */
    unsigned connection_limit; /* 0: 64 */
    unsigned timeout_s;        /* idle connection timeout; 0: 10 */
    /* Tests: let port 0 through, to bind a free port (see http_port()).
     * http_parse_listen() refuses port 0: it is no address to scrape. */
    bool allow_port_zero;
};

/* Starts the HTTP thread. NULL on error with a message in err. */
struct http_server *http_start(const struct http_options *opt, char *err,
                               size_t errlen);
/* Stops the thread and frees; NULL is a no-op. */
void http_stop(struct http_server *h);
/* /-/ready answers 200 only once this was set. */
void http_set_ready(struct http_server *h, bool ready);
/* The port the server listens on (the bound one when started on 0). */
unsigned http_port(const struct http_server *h);

/*
 * The host, port and TLS mode the status page shows for each target: the
 * metrics store keeps names only. Copies what it needs (never a secret);
 * call it after every (re)load. Until then the page shows "-". 0, or -1
 * when out of memory (the old copy stays).
 */
int http_set_targets(struct http_server *h, const struct agent_config *cfg);

/*
 * Splits "host:port", "[v6]:port" or ":port" (every address) into a
 * socket address. ":port" gives the IPv6 wildcard when the system has
 * IPv6, else 0.0.0.0; http_start() serves an IPv6 wildcard dual stack
 * (IPv4 too). A host name is resolved, first address. Port 1..65535.
 * 0, or -1 with a message in err. Public for tests.
 */
struct sockaddr_storage;
int http_parse_listen(const char *listen, struct sockaddr_storage *ss,
                      char *err, size_t errlen);

/* Whether an Accept-Encoding value lets us send gzip: "gzip" or "x-gzip"
 * with q > 0, or "*" with q > 0 when gzip is not named. Public for tests. */
bool http_accepts_gzip(const char *accept_encoding);

/* Appends s with & < > " ' escaped for HTML text and attribute values;
 * control characters become '?'. 0, or -1. Public for tests. */
int http_html_escape(struct buf *out, const char *s);

#endif
