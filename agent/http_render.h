/* http_render: bodies (/metrics, the status page) rendered in a thread of
 * their own, each render shared by every request that waits for it, and
 * the bytes that answers hold bounded. */
#ifndef HTTP_RENDER_H
#define HTTP_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http_park.h"

struct MHD_Connection;
struct MHD_Response;
struct http_render;
struct http_body;

struct http_header {
    const char *name;
    const char *value;
};

/* Adds what every answer carries (Content-Type, Cache-Control: no-store,
 * X-Content-Type-Options: nosniff) and extra. false when out of
 * memory. */
bool http_response_headers(struct MHD_Response *r, const char *content_type,
                           const struct http_header *extra, size_t n_extra);

/* Queues status with data (malloc()ed, len bytes; taken whatever
 * happens) and what every answer carries. MHD_YES, or MHD_NO when out of
 * memory. */
int http_respond(struct MHD_Connection *conn, unsigned status,
                 const char *content_type, char *data, size_t len,
                 const struct http_header *extra, size_t n_extra);
/* The same with a copy of text, as HTTP_TEXT_PLAIN. */
#define HTTP_TEXT_PLAIN "text/plain; charset=utf-8"
int http_respond_text(struct MHD_Connection *conn, unsigned status,
                      const char *text, const struct http_header *extra,
                      size_t n_extra);

/* What can be rendered. The strings and headers must outlive the
 * renderer. */
struct http_render_source {
    const char *name; /* for the log: "metrics", "page" */
    /* Appends the body to out, in the render thread. 0, or -1 (the
     * waiters get no response: see http_body_response()). */
    int (*render)(void *cls, struct buf *out);
    void *cls;
    const char *content_type;
    const struct http_header *headers;
    size_t n_headers;
    bool gzip; /* also made gzip'd when a waiter accepts it (and Vary) */
};

/* At most this many sources. */
#define HTTP_RENDER_SOURCES_MAX 4

/*
 * What a memory_max of 0 means: the bytes held by answers may reach 64
 * MiB, or HTTP_RENDER_BODIES times the size of one body of each source
 * (as last rendered, gzip included) when that is more: a few scrapers
 * and a reader of the page are always served, however many targets.
 */
#define HTTP_RENDER_MEMORY_FLOOR ((size_t)64 << 20)
#define HTTP_RENDER_BODIES       4

/* Starts the render thread. park is where requests wait (not owned).
 * NULL on error with a message in err. */
struct http_render *http_render_new(const struct http_render_source *sources,
                                    size_t n_sources, size_t memory_max,
                                    struct http_park *park, char *err,
                                    size_t errlen);
/* Stops the thread (a render under way is finished and handed out);
 * later requests get HTTP_RENDER_STOPPED. Idempotent. */
void http_render_stop(struct http_render *r);
/* Stops, and frees. Only after libmicrohttpd stopped: its responses
 * account their bytes here until it frees them. NULL is a no-op. */
void http_render_free(struct http_render *r);

enum http_render_wait {
    HTTP_RENDER_PARKED,  /* suspended until the render is done */
    HTTP_RENDER_BUSY,    /* a new render would pass the memory cap */
    HTTP_RENDER_STOPPED, /* the server stops */
};

/*
 * From the access handler: parks the request (w in its context) until
 * the body of source `source` is rendered. It joins the render that is
 * queued or under way, else starts one, unless that would take the
 * bytes held past the cap while some are held (BUSY: answer 503). gzip:
 * the client accepts gzip. On the wake-up with HTTP_WAKE_DONE,
 * w->result is a struct http_body * that the caller puts back.
 */
enum http_render_wait http_render_wait(struct http_render *r, size_t source,
                                       bool gzip, struct http_waiter *w,
                                       struct MHD_Connection *conn,
                                       uint64_t deadline_ms);

/*
 * A body the caller rendered itself, for one request (a page for one
 * query: nothing to share), answered like source's: its headers, its
 * bytes counted with the others' and gzip'd when gzip (and source allows
 * it). BUSY when bytes are held and this one would pass the cap. On
 * HTTP_RENDER_PARKED (here: done), *out is the response to queue (NULL
 * when out of memory); body is emptied either way.
 */
enum http_render_wait http_render_once(struct http_render *r, size_t source,
                                       struct buf *body, bool gzip,
                                       struct MHD_Response **out);

/* The answer to queue with status 200: gzip'd when asked for and made;
 * *gzipped says which. NULL when the render failed. Valid while b is
 * held; queueing takes libmicrohttpd's own reference. */
struct MHD_Response *http_body_response(const struct http_body *b, bool gzip,
                                        bool *gzipped);
/* Gives back a body from a wake-up; NULL is a no-op. */
void http_body_put(struct http_body *b);

/*
 * zlib's level for bodies made at every request. The fast levels (1-3)
 * take a third of the default's (6) time on a /metrics body, whose label
 * sets repeat line after line, for 6-17% more bytes: at 10,000 targets
 * 43 ms and 1.18 MB at 3, against 106 ms and 1.07 MB at 6, 40 ms and
 * 1.25 MB at 1.
 */
#define HTTP_GZIP_LEVEL 3
/* in as one gzip member (RFC 1952) at zlib's level (1-9) in *out,
 * malloc()ed. 0, or -1. */
int http_gzip(const char *in, size_t len, int level, char **out,
              size_t *outlen);

/* What a test or a log line wants to know. */
struct http_render_stats {
    unsigned long renders; /* bodies rendered, all sources */
    unsigned long gzips;   /* gzip variants made */
    unsigned long busy;    /* requests answered BUSY */
    size_t held;           /* bytes held by answers now */
    size_t held_peak;      /* the most ever held */
    size_t memory_max;     /* the cap now */
};
void http_render_stats(struct http_render *r, struct http_render_stats *out);

#endif
