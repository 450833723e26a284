/* http_render: bodies rendered in a thread of their own, each render
 * shared by every request that waits for it, the bytes held bounded. */
#include "http_render.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <zlib.h>

#include "log.h"

#if MHD_VERSION >= 0x00097002
#define MHD_RESULT enum MHD_Result
#else
#define MHD_RESULT int
#endif

/*
 * One render's answer. Its responses are libmicrohttpd's, reference
 * counted there: every connection that queued one holds it until the
 * last byte is sent or the connection closes, and the body's own
 * reference goes when the last waiter has queued it. The bytes stay
 * counted in http_render.held until libmicrohttpd frees them.
 */
struct http_body {
    atomic_uint refs;
    struct MHD_Response *plain; /* NULL: the render failed */
    struct MHD_Response *gzip;  /* NULL: none made */
    /* The plain bytes, for the gzip'd variant: libmicrohttpd's while the
     * body holds plain. */
    const char *plain_data;
    size_t plain_len, gzip_len;
};

/* A buffer given to libmicrohttpd, and what to do when it lets go. */
struct held {
    struct http_render *r;
    char *data;
    size_t len;
};

struct source_state {
    struct http_render_source src;
    bool queued;     /* a render waits for the thread */
    bool running;    /* the thread renders it now */
    bool want_gzip;  /* a waiter of that render accepts gzip */
    uint64_t key;    /* the waiters' key for that render */
    size_t estimate; /* the last body's bytes, gzip'd variant included */
    size_t reserved; /* what the render in hand counts against the cap */
};

struct http_render {
    pthread_mutex_t lock; /* everything but the atomics */
    pthread_cond_t cond;  /* a render is queued, or stopping */
    pthread_t thread;
    bool thread_running;
    bool stopping;
    struct http_park *park;
    struct source_state s[HTTP_RENDER_SOURCES_MAX];
    size_t n;
    size_t next; /* where the thread looks first: no source starves */
    size_t memory_max;
    size_t reserved; /* the sum of the sources' reserved */

    atomic_size_t held, held_peak;
    atomic_ulong renders, gzips, busy;
};

bool http_response_headers(struct MHD_Response *r, const char *content_type,
                           const struct http_header *extra, size_t n_extra)
{
    bool ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                      content_type) == MHD_YES;
    /* Every answer is about now: no cache may keep it. */
    ok = ok && MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
                                       "no-store") == MHD_YES;
    ok = ok && MHD_add_response_header(r, "X-Content-Type-Options",
                                       "nosniff") == MHD_YES;
    for (size_t i = 0; ok && i < n_extra; i++)
        ok = MHD_add_response_header(r, extra[i].name, extra[i].value) ==
             MHD_YES;
    return ok;
}

int http_respond(struct MHD_Connection *conn, unsigned status,
                 const char *content_type, char *data, size_t len,
                 const struct http_header *extra, size_t n_extra)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    bool ok = http_response_headers(r, content_type, extra, n_extra);
    int ret = ok ? (int)MHD_queue_response(conn, status, r) : MHD_NO;
    MHD_destroy_response(r);
    return ret;
}

int http_respond_text(struct MHD_Connection *conn, unsigned status,
                      const char *text, const struct http_header *extra,
                      size_t n_extra)
{
    char *data = strdup(text);
    if (!data)
        return MHD_NO;
    return http_respond(conn, status, HTTP_TEXT_PLAIN, data, strlen(data),
                        extra, n_extra);
}

/* ---- bodies ----------------------------------------------------------------
 */

/* libmicrohttpd let go of a response: its bytes are no longer held. */
static void held_free(void *cls)
{
    struct held *h = cls;
    atomic_fetch_sub(&h->r->held, h->len);
    free(h->data);
    free(h);
}

static void held_add(struct http_render *r, size_t len)
{
    size_t now = atomic_fetch_add(&r->held, len) + len;
    size_t peak = atomic_load(&r->held_peak);
    while (now > peak &&
           !atomic_compare_exchange_weak(&r->held_peak, &peak, now))
        ;
}

/* A shared response around data (malloc()ed, taken whatever happens). */
static struct MHD_Response *make_response(struct http_render *r,
                                          const struct http_render_source *src,
                                          char *data, size_t len, bool gzip)
{
    struct held *h = malloc(sizeof(*h));
    if (!h) {
        free(data);
        return NULL;
    }
    h->r = r;
    h->data = data;
    h->len = len;
    held_add(r, len);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback_cls(len, data,
                                                               held_free, h);
    if (!resp) {
        held_free(h);
        return NULL;
    }
    struct http_header extra[2];
    size_t n = 0;
    if (src->gzip)
        extra[n++] =
            (struct http_header){MHD_HTTP_HEADER_VARY, "Accept-Encoding"};
    if (gzip)
        extra[n++] =
            (struct http_header){MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip"};
    bool ok = http_response_headers(resp, src->content_type, src->headers,
                                    src->n_headers);
    for (size_t i = 0; ok && i < n; i++)
        ok = MHD_add_response_header(resp, extra[i].name, extra[i].value) ==
             MHD_YES;
    if (!ok) {
        MHD_destroy_response(resp); /* calls held_free */
        return NULL;
    }
    return resp;
}

int http_gzip(const char *in, size_t len, int level, char **out,
              size_t *outlen)
{
    if (len > UINT32_MAX)
        return -1;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 15 + 16: a gzip header and trailer instead of zlib's. */
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return -1;
    uLong bound = deflateBound(&zs, (uLong)len);
    char *dst = malloc(bound ? bound : 1);
    if (!dst) {
        deflateEnd(&zs);
        return -1;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)dst;
    zs.avail_out = (uInt)bound;
    int rc = deflate(&zs, Z_FINISH);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(dst);
        return -1;
    }
    *out = dst;
    *outlen = n;
    return 0;
}

static void *body_get(void *cls)
{
    struct http_body *b = cls;
    if (b)
        atomic_fetch_add(&b->refs, 1);
    return b;
}

void http_body_put(struct http_body *b)
{
    if (!b || atomic_fetch_sub(&b->refs, 1) != 1)
        return;
    /* Connections that queued them keep them until they are done. */
    if (b->plain)
        MHD_destroy_response(b->plain);
    if (b->gzip)
        MHD_destroy_response(b->gzip);
    free(b);
}

struct MHD_Response *http_body_response(const struct http_body *b, bool gzip,
                                        bool *gzipped)
{
    *gzipped = false;
    if (!b || !b->plain)
        return NULL;
    if (gzip && b->gzip) {
        *gzipped = true;
        return b->gzip;
    }
    return b->plain;
}

/* Renders st's source into a new body (one reference, the caller's);
 * NULL when out of memory. Without the lock. */
/* expect: the last body's bytes (0: none yet); the room for this one is
 * made at once, an eighth more, so that it is not copied as it grows. */
static struct http_body *render_one(struct http_render *r,
                                    struct source_state *st, size_t expect)
{
    struct http_body *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    struct buf out;
    buf_init(&out, 0);
    /* A body is no secret: growing it moves it, never copies it. */
    buf_public(&out);
    /* Too much or out of memory: it grows as it goes. */
    if (expect)
        (void)buf_reserve(&out, expect + expect / 8);
    int rc = st->src.render(st->src.cls, &out);
    atomic_fetch_add(&r->renders, 1);
    if (rc < 0) {
        buf_free(&out);
        log_error("http", "rendering failed", "body=%s", st->src.name);
        return b;
    }
    size_t len = out.len;
    char *data = len ? buf_take(&out) : calloc(1, 1);
    buf_free(&out);
    if (!data)
        return b;
    b->plain = make_response(r, &st->src, data, len, false);
    if (b->plain) {
        b->plain_data = data;
        b->plain_len = len;
    }
    return b;
}

/* Adds the gzip'd variant to b. */
static void add_gzip(struct http_render *r, struct source_state *st,
                     struct http_body *b)
{
    char *z;
    size_t zlen;
    /* Out of memory for the copy: the plain text is still right. */
    if (http_gzip(b->plain_data, b->plain_len, HTTP_GZIP_LEVEL, &z, &zlen) < 0)
        return;
    b->gzip = make_response(r, &st->src, z, zlen, true);
    b->gzip_len = b->gzip ? zlen : 0;
    atomic_fetch_add(&r->gzips, 1);
}

/* ---- the thread ------------------------------------------------------------
 */

static size_t cap_of(const struct http_render *r)
{
    if (r->memory_max)
        return r->memory_max;
    size_t sum = 0;
    for (size_t i = 0; i < r->n; i++)
        sum += r->s[i].estimate;
    size_t scaled = sum * HTTP_RENDER_BODIES;
    return scaled > HTTP_RENDER_MEMORY_FLOOR ? scaled
                                             : HTTP_RENDER_MEMORY_FLOOR;
}

/* Under the lock: the next queued source, round robin; NULL for none. */
static struct source_state *next_queued(struct http_render *r)
{
    for (size_t i = 0; i < r->n; i++) {
        size_t k = (r->next + i) % r->n;
        if (r->s[k].queued) {
            r->next = (k + 1) % r->n;
            return &r->s[k];
        }
    }
    return NULL;
}

static void *render_main(void *arg)
{
    struct http_render *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        struct source_state *st = NULL;
        while (!r->stopping) {
            st = next_queued(r);
            if (st)
                break;
            pthread_cond_wait(&r->cond, &r->lock);
        }
        if (r->stopping)
            break;
        st->queued = false;
        st->running = true;
        size_t expect = st->estimate;
        pthread_mutex_unlock(&r->lock);

        struct http_body *b = render_one(r, st, expect);

        pthread_mutex_lock(&r->lock);
        /* A waiter that came while the text was rendered or compressed
         * may want gzip too: one try per body. */
        bool tried = false;
        while (b && b->plain && st->want_gzip && !b->gzip && !tried) {
            tried = true;
            pthread_mutex_unlock(&r->lock);
            add_gzip(r, st, b);
            pthread_mutex_lock(&r->lock);
        }
        st->running = false;
        r->reserved -= st->reserved;
        st->reserved = 0;
        if (b && b->plain)
            st->estimate = b->plain_len + b->gzip_len;
        http_park_wake(r->park, st->key, body_get, b);
        pthread_mutex_unlock(&r->lock);
        http_body_put(b); /* the thread's reference */
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* ---- the API ---------------------------------------------------------------
 */

struct http_render *http_render_new(const struct http_render_source *sources,
                                    size_t n_sources, size_t memory_max,
                                    struct http_park *park, char *err,
                                    size_t errlen)
{
    if (n_sources == 0 || n_sources > HTTP_RENDER_SOURCES_MAX || !park) {
        snprintf(err, errlen, "bad render sources");
        return NULL;
    }
    struct http_render *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n_sources; i++)
        r->s[i].src = sources[i];
    r->n = n_sources;
    r->memory_max = memory_max;
    r->park = park;
    atomic_init(&r->held, 0);
    atomic_init(&r->held_peak, 0);
    atomic_init(&r->renders, 0);
    atomic_init(&r->gzips, 0);
    atomic_init(&r->busy, 0);
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        snprintf(err, errlen, "cannot create a mutex");
        return NULL;
    }
    if (pthread_cond_init(&r->cond, NULL) != 0) {
        pthread_mutex_destroy(&r->lock);
        free(r);
        snprintf(err, errlen, "cannot create a condition variable");
        return NULL;
    }
    if (pthread_create(&r->thread, NULL, render_main, r) != 0) {
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
        free(r);
        snprintf(err, errlen, "cannot start the render thread");
        return NULL;
    }
    r->thread_running = true;
    return r;
}

void http_render_stop(struct http_render *r)
{
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    bool join = r->thread_running;
    r->thread_running = false;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    if (join)
        pthread_join(r->thread, NULL);
}

void http_render_free(struct http_render *r)
{
    if (!r)
        return;
    http_render_stop(r);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

enum http_render_wait http_render_wait(struct http_render *r, size_t source,
                                       bool gzip, struct http_waiter *w,
                                       struct MHD_Connection *conn,
                                       uint64_t deadline_ms)
{
    pthread_mutex_lock(&r->lock);
    if (r->stopping || source >= r->n) {
        pthread_mutex_unlock(&r->lock);
        return HTTP_RENDER_STOPPED;
    }
    struct source_state *st = &r->s[source];
    if (!st->queued && !st->running) {
        /* A new render: it will hold about what the last one did. Some
         * bytes already held (by slow readers, mostly) and this one past
         * the cap: no render. With nothing held, one always runs, even
         * a body larger than the cap. */
        size_t est = st->estimate;
        size_t busy = atomic_load(&r->held) + r->reserved;
        if (busy > 0 && busy + est > cap_of(r)) {
            atomic_fetch_add(&r->busy, 1);
            pthread_mutex_unlock(&r->lock);
            return HTTP_RENDER_BUSY;
        }
        st->queued = true;
        st->want_gzip = false;
        st->key = http_park_key(r->park);
        st->reserved = est;
        r->reserved += est;
        pthread_cond_signal(&r->cond);
    }
    if (gzip && st->src.gzip)
        st->want_gzip = true;
    /* Under the lock the thread takes to wake this key: no wake-up can
     * fall between the check above and the wait. */
    int rc = http_park_wait(r->park, w, conn, st->key, deadline_ms);
    pthread_mutex_unlock(&r->lock);
    return rc == 0 ? HTTP_RENDER_PARKED : HTTP_RENDER_STOPPED;
}

enum http_render_wait http_render_once(struct http_render *r, size_t source,
                                       struct buf *body, bool gzip,
                                       struct MHD_Response **out)
{
    *out = NULL;
    pthread_mutex_lock(&r->lock);
    bool stopping = r->stopping || source >= r->n;
    size_t busy = atomic_load(&r->held) + r->reserved;
    bool over = busy > 0 && busy + body->len > cap_of(r);
    const struct http_render_source *src = stopping ? NULL : &r->s[source].src;
    pthread_mutex_unlock(&r->lock);
    if (stopping || over) {
        buf_free(body);
        if (over)
            atomic_fetch_add(&r->busy, 1);
        return stopping ? HTTP_RENDER_STOPPED : HTTP_RENDER_BUSY;
    }
    size_t len = body->len;
    char *data = len ? buf_take(body) : calloc(1, 1);
    buf_free(body);
    if (!data)
        return HTTP_RENDER_PARKED;
    if (gzip && src->gzip) {
        char *z;
        size_t zlen;
        if (http_gzip(data, len, HTTP_GZIP_LEVEL, &z, &zlen) == 0) {
            free(data);
            atomic_fetch_add(&r->gzips, 1);
            *out = make_response(r, src, z, zlen, true);
            return HTTP_RENDER_PARKED;
        }
    }
    *out = make_response(r, src, data, len, false);
    return HTTP_RENDER_PARKED;
}

void http_render_stats(struct http_render *r, struct http_render_stats *out)
{
    pthread_mutex_lock(&r->lock);
    out->memory_max = cap_of(r);
    pthread_mutex_unlock(&r->lock);
    out->renders = atomic_load(&r->renders);
    out->gzips = atomic_load(&r->gzips);
    out->busy = atomic_load(&r->busy);
    out->held = atomic_load(&r->held);
    out->held_peak = atomic_load(&r->held_peak);
}
