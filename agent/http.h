/* http: /metrics, /, /-/healthy, /-/ready over libmicrohttpd. */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

struct http_server;

struct http_options {
    const char *listen;      /* "127.0.0.1:9925", "[::1]:9925", ":9925" */
    struct metrics *metrics; /* read only, through metrics_render() */
    unsigned connection_limit; /* 0: 64 */
    unsigned timeout_s;        /* idle connection timeout; 0: 10 */
};

/* Starts the HTTP thread. NULL on error with a message in err. */
struct http_server *http_start(const struct http_options *opt, char *err,
                               size_t errlen);
/* Stops the thread and frees; NULL is a no-op. */
void http_stop(struct http_server *h);
/* /-/ready answers 200 only once this was set. */
void http_set_ready(struct http_server *h, bool ready);

/* Splits "host:port", "[v6]:port" or ":port" (every address) into a
 * socket address. 0, or -1 with a message in err. Public for tests. */
struct sockaddr_storage;
int http_parse_listen(const char *listen, struct sockaddr_storage *ss,
                      char *err, size_t errlen);

#endif
