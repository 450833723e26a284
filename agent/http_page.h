/* http_page: the status page, HTML from each target's last result. */
#ifndef HTTP_PAGE_H
#define HTTP_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "probe.h"

/* What the page shows of a target besides its last result: the store of
 * results keeps names only. */
struct http_page_server {
    char host[CONFIG_HOST_MAX + 1];
    unsigned port;
    enum tls_mode tls;
};

/*
 * Appends the page for the results res[0..n) (sorted by target name, as
 * metrics_last_results() gives them) as rendered at unix time now. For
 * each card server(cls, name, out) fills in the target's server and
 * says whether it knows it ("-" is shown when not). Everything that came
 * from a server or the config is escaped. 0, or -1 when out of memory.
 */
int http_page_render(struct buf *b, const struct probe_result *res, size_t n,
                     double now,
                     bool (*server)(void *cls, const char *name,
                                    struct http_page_server *out),
                     void *cls);

/* Appends s with & < > " ' escaped for HTML text and attribute values;
 * control characters become '?'. 0, or -1. Public for tests. */
int http_html_escape(struct buf *out, const char *s);

/* Appends how long before now the unix time t was, as the status page
 * shows a probe's age: "12 s ago", "5 min 3 s ago", "3 h 2 min ago",
 * "4 d 1 h ago"; "never" for t <= 0; a t after now counts as now. 0, or
 * -1. Public for tests. */
int http_format_age(struct buf *out, double t, double now);

#endif
