/* http: /metrics, /, /-/healthy, /-/ready over libmicrohttpd. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <zlib.h>

#include "buf.h"
#include "classify.h"
#include "expo.h"
#include "log.h"
#include "procstat.h"
#include "sasl.h"

#if MHD_VERSION >= 0x00097002
#define MHD_RESULT enum MHD_Result
#else
#define MHD_RESULT int
#endif

#define HTTP_DEFAULT_CONNECTIONS 64
#define HTTP_DEFAULT_TIMEOUT_S   10
/* Per connection: request line and headers must fit (MHD answers 431). */
#define HTTP_CONNECTION_MEMORY (64 * 1024)

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define TEXT_HTML  "text/html; charset=utf-8"

/* What the status page shows of a target besides its last result. */
struct http_target {
    char name[CONFIG_NAME_MAX + 1];
    char host[CONFIG_HOST_MAX + 1];
    unsigned port;
    enum tls_mode tls;
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct metrics *metrics;
    atomic_bool ready;
    pthread_mutex_t lock; /* targets, start_error */
    struct http_target *targets;
    size_t n_targets;
    bool starting;         /* MHD's messages also go to start_error */
    char start_error[256]; /* MHD's last message while starting */
};

/* Repeated from config.c so that this module links without it. */
static const char *tls_name(enum tls_mode mode)
{
    switch (mode) {
    case TLS_MODE_STARTTLS:
        return "starttls";
    case TLS_MODE_IMPLICIT:
        return "implicit";
    case TLS_MODE_NONE:
        return "none";
    }
    return "unknown";
}

/* ---- listen address ---------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool have_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static int parse_port(const char *s, bool allow_zero, unsigned *port)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || strspn(s, "0123456789") != n)
        return -1;
    unsigned long v = strtoul(s, NULL, 10);
    if (v > 65535 || (v == 0 && !allow_zero))
        return -1;
    *port = (unsigned)v;
    return 0;
}

static void set_port(struct sockaddr_storage *ss, unsigned port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

static int parse_listen(const char *listen, bool allow_zero,
                        struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[CONFIG_HOST_MAX + 1];
    const char *port_s;
    bool bracketed = false;

    memset(ss, 0, sizeof(*ss));
    if (!listen || !*listen) {
        set_err(err, errlen, "empty listen address (want host:port)");
        return -1;
    }
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':') {
            set_err(err, errlen, "%s: want [IPv6-address]:port", listen);
            return -1;
        }
        size_t n = (size_t)(end - listen - 1);
        if (n == 0 || n >= sizeof(host)) {
            set_err(err, errlen, "%s: bad IPv6 address", listen);
            return -1;
        }
        memcpy(host, listen + 1, n);
        host[n] = '\0';
        port_s = end + 2;
        bracketed = true;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon) {
            set_err(err, errlen, "%s: missing port (want host:port)", listen);
            return -1;
        }
        size_t n = (size_t)(colon - listen);
        if (n >= sizeof(host)) {
            set_err(err, errlen, "host name too long (%zu bytes, at most %d)",
                    n, CONFIG_HOST_MAX);
            return -1;
        }
        memcpy(host, listen, n);
        host[n] = '\0';
        if (strchr(host, ':')) {
            set_err(err, errlen,
                    "%s: an IPv6 address needs brackets: [addr]:port", listen);
            return -1;
        }
        port_s = colon + 1;
    }

    unsigned port;
    if (parse_port(port_s, allow_zero, &port) < 0) {
        set_err(err, errlen, "%s: bad port \"%s\" (want 1-65535)", listen,
                port_s);
        return -1;
    }

    if (!bracketed && host[0] == '\0') {
        /* Every address: one dual-stack IPv6 socket takes IPv4 too. */
        if (have_ipv6()) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
            s6->sin6_family = AF_INET6;
            s6->sin6_addr = in6addr_any;
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
            s4->sin_family = AF_INET;
            s4->sin_addr.s_addr = htonl(INADDR_ANY);
        }
        set_port(ss, port);
        return 0;
    }

    struct addrinfo hints = {.ai_family = bracketed ? AF_INET6 : AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = bracketed ? AI_NUMERICHOST : 0};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        set_err(err, errlen, "%s: cannot resolve \"%s\": %s", listen, host,
                rc ? gai_strerror(rc) : "no address");
        if (res)
            freeaddrinfo(res);
        return -1;
    }
    if (res->ai_addrlen > sizeof(*ss) ||
        (res->ai_family != AF_INET && res->ai_family != AF_INET6)) {
        freeaddrinfo(res);
        set_err(err, errlen, "%s: unusable address", listen);
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    set_port(ss, port);
    return 0;
}

int http_parse_listen(const char *listen, struct sockaddr_storage *ss,
                      char *err, size_t errlen)
{
    return parse_listen(listen, false, ss, err, errlen);
}

/* ---- content negotiation and escaping ---------------------------------- */

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *trim_end(const char *start, const char *end)
{
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return end;
}

static bool token_is(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - p) == n && strncasecmp(p, word, n) == 0;
}

/*
 * RFC 9110 qvalue: "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ], in
 * thousandths. -1 when malformed.
 */
static int parse_qvalue(const char *p, const char *end)
{
    if (p == end || (*p != '0' && *p != '1'))
        return -1;
    int v = (*p - '0') * 1000;
    p++;
    if (p == end)
        return v;
    if (*p++ != '.' || end - p > 3)
        return -1;
    int scale = 100;
    for (; p < end; p++, scale /= 10) {
        if (*p < '0' || *p > '9')
            return -1;
        v += (*p - '0') * scale;
    }
    return v > 1000 ? -1 : v;
}

static const char *find_char(const char *p, const char *end, char c)
{
    while (p < end && *p != c)
        p++;
    return p;
}

/* One element "coding *( OWS ; OWS name=value )": its coding and q (in
 * thousandths; a malformed q counts as 0). */
static int element_q(const char *p, const char *end, const char **coding,
                     const char **coding_end)
{
    const char *semi = find_char(p, end, ';');
    *coding = skip_ows(p, semi);
    *coding_end = trim_end(*coding, semi);
    int q = 1000;
    while (semi < end) {
        const char *param = semi + 1;
        semi = find_char(param, end, ';');
        const char *eq = find_char(param, semi, '=');
        if (eq == semi)
            continue;
        const char *name = skip_ows(param, eq);
        if (!token_is(name, trim_end(name, eq), "q"))
            continue;
        const char *v = skip_ows(eq + 1, semi);
        q = parse_qvalue(v, trim_end(v, semi));
        if (q < 0)
            q = 0;
    }
    return q;
}

bool http_accepts_gzip(const char *accept_encoding)
{
    if (!accept_encoding)
        return false;
    int gzip_q = -1, star_q = -1; /* -1: not named */
    const char *p = accept_encoding;
    const char *end = p + strlen(p);
    for (;;) {
        const char *elem_end = find_char(p, end, ',');
        const char *coding, *coding_end;
        int q = element_q(p, elem_end, &coding, &coding_end);
        if (token_is(coding, coding_end, "gzip") ||
            token_is(coding, coding_end, "x-gzip")) {
            if (q > gzip_q)
                gzip_q = q;
        } else if (token_is(coding, coding_end, "*")) {
            if (q > star_q)
                star_q = q;
        }
        if (elem_end == end)
            break;
        p = elem_end + 1;
    }
    if (gzip_q >= 0)
        return gzip_q > 0;
    return star_q > 0;
}

int http_html_escape(struct buf *out, const char *s)
{
    if (!s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *rep = NULL;
        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            break;
        }
        int rc;
        if (rep)
            rc = buf_puts(out, rep);
        else if (c < 0x20 || c == 0x7f)
            rc = buf_putc(out, '?');
        else
            rc = buf_putc(out, (char)c);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- responses -----------------------------------------------------------
 */

struct header {
    const char *name;
    const char *value;
};

/* Takes body (malloc()ed, len bytes) whatever happens. */
static MHD_RESULT respond(struct MHD_Connection *conn, unsigned status,
                          const char *content_type, char *body, size_t len,
                          const struct header *extra, size_t n_extra)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
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
    MHD_RESULT ret = ok ? MHD_queue_response(conn, status, r) : MHD_NO;
    MHD_destroy_response(r);
    return ret;
}

static MHD_RESULT respond_text(struct MHD_Connection *conn, unsigned status,
                               const char *text, const struct header *extra,
                               size_t n_extra)
{
    char *body = strdup(text);
    if (!body)
        return MHD_NO;
    return respond(conn, status, TEXT_PLAIN, body, strlen(body), extra,
                   n_extra);
}

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

/* in as a gzip member (RFC 1952) in *out, malloc()ed. 0, or -1. */
static int gzip_body(const char *in, size_t len, char **out, size_t *outlen)
{
    if (len > UINT32_MAX)
        return -1;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 15 + 16: a gzip header and trailer instead of zlib's. */
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
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

static MHD_RESULT serve_metrics(struct http_server *h,
                                struct MHD_Connection *conn)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = metrics_render(h->metrics, &b);
    if (rc == 0) {
        struct procstat ps;
        if (procstat_read(&ps) == 0)
            rc = procstat_render(&ps, &b);
        else
            log_debug("http", "cannot read /proc/self", "path=/metrics");
    }
    if (rc < 0) {
        buf_free(&b);
        log_error("http", "rendering the metrics failed", "path=/metrics");
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "Rendering the metrics failed.\n", NULL, 0);
    }

    struct header extra[2] = {{MHD_HTTP_HEADER_VARY, "Accept-Encoding"}};
    size_t n_extra = 1;
    size_t len = b.len;
    char *body = buf_take(&b);
    if (!body)
        return MHD_NO;
    if (request_accepts_gzip(conn)) {
        char *z;
        size_t zlen;
        /* Out of memory for the copy: the plain text is still right. */
        if (gzip_body(body, len, &z, &zlen) == 0) {
            free(body);
            body = z;
            len = zlen;
            extra[n_extra++] =
                (struct header){MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip"};
        }
    }
    return respond(conn, MHD_HTTP_OK, EXPO_CONTENT_TYPE, body, len, extra,
                   n_extra);
}

/* ---- the status page ------------------------------------------------------
 */

/* A writer that remembers its first failure, so that the page reads as a
 * sequence of writes checked once at the end. */
struct page {
    struct buf *b;
    int rc;
};

static void pg_puts(struct page *pg, const char *s)
{
    if (pg->rc == 0)
        pg->rc = buf_puts(pg->b, s);
}

static void pg_esc(struct page *pg, const char *s)
{
    if (pg->rc == 0)
        pg->rc = http_html_escape(pg->b, s);
}

static void pg_printf(struct page *pg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void pg_printf(struct page *pg, const char *fmt, ...)
{
    if (pg->rc != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    pg->rc = buf_vprintf(pg->b, fmt, ap);
    va_end(ap);
}

static void pg_time(struct page *pg, double t)
{
    if (t <= 0) {
        pg_puts(pg, "never");
        return;
    }
    time_t secs = (time_t)t;
    struct tm tm;
    char s[64];
    if (!gmtime_r(&secs, &tm) ||
        strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        pg_puts(pg, "?");
    else
        pg_puts(pg, s);
}

static void pg_reply(struct page *pg, const char *label,
                     const struct probe_reply *r)
{
    pg_puts(pg, "<div>");
    pg_esc(pg, label);
    pg_printf(pg, ": %d ", r->code);
    pg_esc(pg, r->text);
    pg_puts(pg, " <i>");
    pg_esc(pg, smtp_class_name(r->cls));
    pg_puts(pg, "</i></div>");
}

static void pg_outcome(struct page *pg, const struct probe_result *r)
{
    if (r->start_time <= 0) {
        pg_puts(pg, "<td>not probed yet</td>");
        return;
    }
    if (r->success) {
        pg_puts(pg, "<td class=\"ok\">success");
    } else {
        pg_puts(pg, "<td class=\"bad\">failed at ");
        pg_esc(pg, probe_stage_name(r->stage));
        pg_puts(pg, ": ");
        if (r->error != PROBE_ERROR_NONE)
            pg_esc(pg, probe_error_name(r->error));
        else if (r->stage < PROBE_STAGE_COUNT && r->replies[r->stage].code)
            pg_esc(pg, smtp_class_name(r->replies[r->stage].cls));
        else
            pg_puts(pg, "no reply");
    }
    if (r->detail[0]) {
        pg_puts(pg, "<div class=\"detail\">");
        pg_esc(pg, r->detail);
        pg_puts(pg, "</div>");
    }
    pg_puts(pg, "</td>");
}

static void pg_replies(struct page *pg, const struct probe_result *r)
{
    pg_puts(pg, "<td>");
    for (int s = 0; s < PROBE_STAGE_COUNT; s++)
        if (r->replies[s].code)
            pg_reply(pg, probe_stage_name((enum probe_stage)s),
                     &r->replies[s]);
    for (size_t i = 0; i < r->n_auth && i < CONFIG_MAX_MECHS; i++) {
        const struct probe_auth *a = &r->auth[i];
        char label[64];
        snprintf(label, sizeof(label), "AUTH %s%s", sasl_mech_name(a->mech),
                 a->advertised ? "" : " (not advertised)");
        if (a->reply.code) {
            pg_reply(pg, label, &a->reply);
        } else if (a->error != PROBE_ERROR_NONE) {
            pg_puts(pg, "<div>");
            pg_esc(pg, label);
            pg_puts(pg, ": ");
            pg_esc(pg, probe_error_name(a->error));
            pg_puts(pg, "</div>");
        }
    }
    pg_puts(pg, "</td>");
}

static void pg_tls(struct page *pg, const struct tls_facts *t)
{
    if (!t->present) {
        pg_puts(pg, "<td>-</td>");
        return;
    }
    pg_puts(pg, "<td>");
    pg_esc(pg, t->version);
    pg_puts(pg, " ");
    pg_esc(pg, t->cipher);
    if (t->valid) {
        pg_puts(pg, "<div class=\"ok\">valid</div>");
    } else {
        pg_puts(pg, "<div class=\"bad\">invalid: ");
        pg_esc(pg, t->problem);
        pg_puts(pg, "</div>");
    }
    pg_puts(pg, "<div>expires ");
    pg_time(pg, (double)t->not_after);
    pg_puts(pg, "</div><div>");
    pg_esc(pg, t->subject);
    pg_puts(pg, "</div></td>");
}

static const struct http_target *find_target(const struct http_server *h,
                                             const char *name)
{
    for (size_t i = 0; i < h->n_targets; i++)
        if (strcmp(h->targets[i].name, name) == 0)
            return &h->targets[i];
    return NULL;
}

static void pg_server(struct page *pg, struct http_server *h, const char *name)
{
    pg_puts(pg, "<td>");
    pthread_mutex_lock(&h->lock);
    const struct http_target *t = find_target(h, name);
    if (t) {
        bool v6 = strchr(t->host, ':') != NULL;
        pg_puts(pg, v6 ? "[" : "");
        pg_esc(pg, t->host);
        pg_printf(pg, "%s:%u (%s)", v6 ? "]" : "", t->port, tls_name(t->tls));
    } else {
        pg_puts(pg, "-");
    }
    pthread_mutex_unlock(&h->lock);
    pg_puts(pg, "</td>");
}

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
    "<meta charset=\"utf-8\">\n<title>smtp-health-agent</title>\n"
    "<style>\n"
    "body{font-family:sans-serif;margin:1em}\n"
    "table{border-collapse:collapse}\n"
    "th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;"
    "vertical-align:top}\n"
    ".ok{color:#070}.bad{color:#b00}.detail{color:#555}\n"
    "</style>\n</head>\n<body>\n<h1>smtp-health-agent</h1>\n"
    "<p><a href=\"/metrics\">Metrics</a></p>\n";

static int render_page(struct http_server *h, struct buf *b)
{
    struct probe_result *res = NULL;
    size_t n = 0;
    if (metrics_last_results(h->metrics, &res, &n) < 0)
        return -1;
    struct page pg = {.b = b, .rc = 0};
    pg_puts(&pg, page_head);
    if (n == 0)
        pg_puts(&pg, "<p>No targets configured.</p>\n");
    else
        pg_puts(&pg, "<table>\n<tr><th>Target</th><th>Server</th>"
                     "<th>Last outcome</th><th>Replies</th>"
                     "<th>TLS</th><th>Last probe</th></tr>\n");
    for (size_t i = 0; i < n && pg.rc == 0; i++) {
        const struct probe_result *r = &res[i];
        pg_puts(&pg, "<tr><td>");
        pg_esc(&pg, r->target);
        pg_puts(&pg, "</td>");
        pg_server(&pg, h, r->target);
        pg_outcome(&pg, r);
        pg_replies(&pg, r);
        pg_tls(&pg, &r->tls);
        pg_puts(&pg, "<td>");
        pg_time(&pg, r->start_time);
        if (r->start_time > 0)
            pg_printf(&pg, "<div>took %.3f s</div>", r->duration_seconds);
        pg_puts(&pg, "</td></tr>\n");
    }
    if (n)
        pg_puts(&pg, "</table>\n");
    pg_puts(&pg, "</body>\n</html>\n");
    free(res);
    return pg.rc;
}

static MHD_RESULT serve_page(struct http_server *h,
                             struct MHD_Connection *conn)
{
    struct buf b;
    buf_init(&b, 0);
    if (render_page(h, &b) < 0) {
        buf_free(&b);
        log_error("http", "rendering the status page failed", "path=/");
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "Rendering the page failed.\n", NULL, 0);
    }
    static const struct header extra[] = {
        /* Nothing on the page runs or loads anything. */
        {"Content-Security-Policy",
         "default-src 'none'; style-src 'unsafe-inline'"},
    };
    size_t len = b.len;
    char *body = buf_take(&b);
    if (!body)
        return MHD_NO;
    return respond(conn, MHD_HTTP_OK, TEXT_HTML, body, len, extra, 1);
}

/* ---- the daemon ----------------------------------------------------------
 */

static MHD_RESULT handle(void *cls, struct MHD_Connection *conn,
                         const char *url, const char *method,
                         const char *version, const char *upload_data,
                         size_t *upload_data_size, void **req_cls)
{
    (void)version;
    (void)upload_data;
    static int seen;
    struct http_server *h = cls;

    /* The first call only announces the headers; a body (any method may
     * send one) is read and dropped before answering. */
    if (*req_cls == NULL) {
        *req_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }

    enum { R_NONE, R_METRICS, R_PAGE, R_HEALTHY, R_READY } route = R_NONE;
    if (strcmp(url, "/metrics") == 0)
        route = R_METRICS;
    else if (strcmp(url, "/") == 0)
        route = R_PAGE;
    else if (strcmp(url, "/-/healthy") == 0)
        route = R_HEALTHY;
    else if (strcmp(url, "/-/ready") == 0)
        route = R_READY;
    /* A path we do not serve is 404 whatever the method; 405 says that
     * the path exists. */
    if (route == R_NONE)
        return respond_text(conn, MHD_HTTP_NOT_FOUND, "Not found\n", NULL, 0);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        static const struct header allow[] = {
            {MHD_HTTP_HEADER_ALLOW, "GET, HEAD"}};
        return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "Method not allowed\n", allow, 1);
    }
    /* HEAD: MHD sends the headers (Content-Length included) and no body. */
    switch (route) {
    case R_METRICS:
        return serve_metrics(h, conn);
    case R_PAGE:
        return serve_page(h, conn);
    case R_HEALTHY:
        return respond_text(conn, MHD_HTTP_OK, "OK\n", NULL, 0);
    case R_READY:
        if (atomic_load(&h->ready))
            return respond_text(conn, MHD_HTTP_OK, "OK\n", NULL, 0);
        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Not ready\n",
                            NULL, 0);
    case R_NONE:
        break;
    }
    return MHD_NO;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_server *h = cls;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    pthread_mutex_lock(&h->lock);
    if (h->starting)
        memcpy(h->start_error, msg, n + 1);
    pthread_mutex_unlock(&h->lock);
    char q[300];
    log_warn("http", "libmicrohttpd", "detail=%s",
             log_quote(q, sizeof(q), msg));
}

static bool is_v6_any(const struct sockaddr_storage *ss)
{
    if (ss->ss_family != AF_INET6)
        return false;
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    return memcmp(&s6->sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0;
}

struct http_server *http_start(const struct http_options *opt, char *err,
                               size_t errlen)
{
    struct sockaddr_storage ss;
    if (!opt->metrics) {
        set_err(err, errlen, "no metrics store");
        return NULL;
    }
    if (parse_listen(opt->listen, opt->allow_port_zero, &ss, err, errlen) < 0)
        return NULL;

    struct http_server *h = calloc(1, sizeof(*h));
    if (!h) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    h->metrics = opt->metrics;
    atomic_init(&h->ready, false);
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        set_err(err, errlen, "cannot create a mutex");
        return NULL;
    }

    unsigned limit = opt->connection_limit ? opt->connection_limit
                                           : HTTP_DEFAULT_CONNECTIONS;
    unsigned timeout =
        opt->timeout_s ? opt->timeout_s : HTTP_DEFAULT_TIMEOUT_S;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= is_v6_any(&ss) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;

    h->starting = true;
    /* The logger first: MHD would print earlier messages itself. */
    /* MHD binds to the address; the port only goes into its messages. */
    uint16_t port = ss.ss_family == AF_INET6
                        ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    h->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, h, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT,
        timeout,
        /* Scrapers share an address with others behind NAT: no lower
         * per-address limit than the whole one. */
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, limit,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
        MHD_OPTION_END);
    pthread_mutex_lock(&h->lock);
    h->starting = false;
    pthread_mutex_unlock(&h->lock);
    if (!h->daemon) {
        set_err(err, errlen, "cannot listen on %s: %s", opt->listen,
                h->start_error[0] ? h->start_error : "libmicrohttpd failed");
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    return h;
}

void http_stop(struct http_server *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    pthread_mutex_destroy(&h->lock);
    free(h->targets);
    free(h);
}

void http_set_ready(struct http_server *h, bool ready)
{
    atomic_store(&h->ready, ready);
}

unsigned http_port(const struct http_server *h)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

int http_set_targets(struct http_server *h, const struct agent_config *cfg)
{
    size_t n = cfg ? cfg->n_targets : 0;
    struct http_target *arr = NULL;
    if (n) {
        arr = calloc(n, sizeof(*arr));
        if (!arr)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct target_config *t = &cfg->targets[i];
        snprintf(arr[i].name, sizeof(arr[i].name), "%s", t->name);
        snprintf(arr[i].host, sizeof(arr[i].host), "%s", t->host);
        arr[i].port = t->port;
        arr[i].tls = t->tls;
    }
    pthread_mutex_lock(&h->lock);
    struct http_target *old = h->targets;
    h->targets = arr;
    h->n_targets = n;
    pthread_mutex_unlock(&h->lock);
    free(old);
    return 0;
}
