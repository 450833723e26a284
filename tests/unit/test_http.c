/* test_http: the HTTP server over real sockets, with libcurl as client. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "buf.h"
#include "catalogue.h"
#include "expo.h"
#include "http.h"
#include "http_render.h"
#include "page.h"
#include "report.h"
#include "metrics.h"
#include "now.h"

static bool system_has_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* ---- a live server --------------------------------------------------------
 */

#define EVIL "<script>alert(1)</script>"

struct fixture {
    struct metrics *metrics;
    struct agent_config cfg;
    struct target_config targets[3];
    struct http_server *http;
    unsigned port;
};

struct reply {
    long status;
    struct buf headers;
    struct buf body;
};

static size_t on_data(char *p, size_t size, size_t n, void *user)
{
    return buf_append(user, p, size * n) == 0 ? size * n : 0;
}

static void reply_free(struct reply *r)
{
    buf_free(&r->headers);
    buf_free(&r->body);
}

/* For HTTPS: the CA file that verifies the server, or NULL. */
static const char *request_ca;

/* One request; extra is a list of header lines, NULL-terminated. */
static void request(const char *url, const char *method,
                    const char *const *extra, struct reply *r)
{
    buf_init(&r->headers, 0);
    buf_init(&r->body, 0);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *list = NULL;
    for (; extra && *extra; extra++) {
        struct curl_slist *l = curl_slist_append(list, *extra);
        assert_non_null(l);
        list = l;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    if (request_ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, request_ca);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
}

static void get(struct fixture *f, const char *method, const char *path,
                const char *const *extra, struct reply *r)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", f->port, path);
    request(url, method, extra, r);
}

/* The value of header name, or NULL; in a static buffer. */
static const char *header(const struct reply *r, const char *name)
{
    static char value[512];
    size_t n = strlen(name);
    const char *p = buf_str(&r->headers);
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            snprintf(value, sizeof(value), "%.*s", (int)(eol - v), v);
            return value;
        }
        p = eol + 2;
    }
    return NULL;
}

/* name and host are kept by pointer, as a config's are. */
static void init_target(struct target_config *t, const char *name,
                        const char *host, unsigned port, enum tls_mode tls)
{
    memset(t, 0, sizeof(*t));
    t->name = name;
    t->host = host;
    t->port = port;
    t->tls = tls;
    t->tls_verify = true;
    t->mechs[0] = SASL_MECH_PLAIN;
    t->n_mechs = 1;
    t->interval_ms = 60000;
    t->timeout_ms = 10000;
}

static struct probe_result evil_result(void)
{
    struct probe_result r;
    memset(&r, 0, sizeof(r));
    snprintf(r.target, sizeof(r.target), "mx1");
    r.success = false;
    r.stage = PROBE_STAGE_AUTH;
    r.error = PROBE_ERROR_NONE;
    snprintf(r.detail, sizeof(r.detail), "AUTH PLAIN said \"no\" & <b>");
    r.replies[PROBE_STAGE_GREETING].code = 220;
    snprintf(r.replies[PROBE_STAGE_GREETING].text, PROBE_TEXT_MAX,
             "mx1 ESMTP " EVIL);
    r.replies[PROBE_STAGE_EHLO].code = 250;
    snprintf(r.replies[PROBE_STAGE_EHLO].text, PROBE_TEXT_MAX, "mx1");
    r.replies[PROBE_STAGE_AUTH].code = 535;
    r.replies[PROBE_STAGE_AUTH].cls = SMTP_CLASS_AUTH_FAILED;
    snprintf(r.replies[PROBE_STAGE_AUTH].enhanced, 16, "5.7.8");
    snprintf(r.replies[PROBE_STAGE_AUTH].text, PROBE_TEXT_MAX,
             "5.7.8 " EVIL " 'x'");
    r.n_auth = 1;
    r.auth[0].mech = SASL_MECH_PLAIN;
    r.auth[0].advertised = true;
    r.auth[0].attempted = true;
    r.auth[0].reply = r.replies[PROBE_STAGE_AUTH];
    r.tls.present = true;
    snprintf(r.tls.version, sizeof(r.tls.version), "TLSv1.3");
    snprintf(r.tls.cipher, sizeof(r.tls.cipher), "TLS_AES_256_GCM_SHA384");
    snprintf(r.tls.problem, sizeof(r.tls.problem), "self-signed <cert>");
    snprintf(r.tls.subject, sizeof(r.tls.subject), "CN=" EVIL);
    r.tls.not_after = 1893456000; /* 2030-01-01 */
    r.duration_seconds = 0.25;
    r.start_time = 1764349414.5; /* 2025-11-28 17:03:34 UTC */
    for (int p = 0; p < PROBE_PHASE_COUNT; p++)
        r.phase_seconds[p] = 0.01;
    return r;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    struct metrics_build_info info = {"0.1.0", "7.88.1", "3.0", "0.9.75"};
    f->metrics = metrics_new(&info);
    if (!f->metrics)
        return -1;
    init_target(&f->targets[0], "mx1", "mx1.example.com", 587,
                TLS_MODE_STARTTLS);
    init_target(&f->targets[1], "mx2", "<b>mx2</b>.example.com", 465,
                TLS_MODE_IMPLICIT);
    init_target(&f->targets[2], "v6", "2001:db8::25", 25, TLS_MODE_NONE);
    f->cfg.targets = f->targets;
    f->cfg.n_targets = 3;
    if (metrics_set_targets(f->metrics, &f->cfg) != 0)
        return -1;
    struct probe_result r = evil_result();
    metrics_record(f->metrics, &r, NULL);

    struct http_options opt = {.listen = "127.0.0.1:0",
                               .metrics = f->metrics,
                               .allow_port_zero = true};
    char err[256] = "";
    f->http = http_start(&opt, err, sizeof(err));
    if (!f->http) {
        print_error("http_start: %s\n", err);
        return -1;
    }
    f->port = http_port(f->http);
    if (f->port == 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    http_stop(f->http);
    metrics_free(f->metrics);
    free(f);
    return 0;
}

/* The text without the process_* lines, which change between scrapes. */
static void strip_process(const char *in, struct buf *out)
{
    while (*in) {
        const char *eol = strchr(in, '\n');
        size_t n = eol ? (size_t)(eol - in) + 1 : strlen(in);
        bool proc = strncmp(in, "process_", 8) == 0 ||
                    strncmp(in, "# HELP process_", 15) == 0 ||
                    strncmp(in, "# TYPE process_", 15) == 0;
        if (!proc)
            assert_int_equal(buf_append(out, in, n), 0);
        in += n;
    }
}

static void gunzip(const struct buf *in, struct buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)in->data;
    zs.avail_in = (uInt)in->len;
    int rc;
    do {
        char chunk[4096];
        zs.next_out = (Bytef *)chunk;
        zs.avail_out = sizeof(chunk);
        rc = inflate(&zs, Z_NO_FLUSH);
        assert_true(rc == Z_OK || rc == Z_STREAM_END);
        assert_int_equal(buf_append(out, chunk, sizeof(chunk) - zs.avail_out),
                         0);
    } while (rc != Z_STREAM_END);
    assert_int_equal(zs.avail_in, 0); /* nothing after the member */
    inflateEnd(&zs);
}

static void test_metrics_plain(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    get(f, "GET", "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), EXPO_CONTENT_TYPE);
    assert_string_equal(header(&r, "Content-Type"),
                        "text/plain; version=0.0.4; charset=utf-8");
    assert_null(header(&r, "Content-Encoding"));
    assert_string_equal(header(&r, "Vary"), "Accept-Encoding");
    const char *body = buf_str(&r.body);
    assert_non_null(strstr(body, "# TYPE smtp_probes_total counter\n"));
    assert_non_null(strstr(body, "smtp_probes_total{target=\"mx1\"} 1\n"));
    assert_non_null(strstr(body, "smtp_agent_targets 3\n"));
    /* The process families follow the store's. */
    const char *proc = strstr(body, "process_cpu_seconds_total");
    assert_non_null(proc);
    assert_true(proc > strstr(body, "smtp_agent_targets"));
    assert_non_null(strstr(body, "process_open_fds"));
    reply_free(&r);
}

static void test_metrics_gzip(void **state)
{
    struct fixture *f = *state;
    struct reply plain, zipped;
    static const char *const gz[] = {"Accept-Encoding: gzip", NULL};
    get(f, "GET", "/metrics", NULL, &plain);
    get(f, "GET", "/metrics", gz, &zipped);
    assert_int_equal(zipped.status, 200);
    assert_string_equal(header(&zipped, "Content-Encoding"), "gzip");
    assert_string_equal(header(&zipped, "Vary"), "Accept-Encoding");
    assert_string_equal(header(&zipped, "Content-Type"), EXPO_CONTENT_TYPE);
    /* Really compressed: gzip magic, and smaller. */
    assert_true(zipped.body.len > 18);
    assert_int_equal((unsigned char)zipped.body.data[0], 0x1f);
    assert_int_equal((unsigned char)zipped.body.data[1], 0x8b);
    assert_true(zipped.body.len < plain.body.len);

    struct buf text, a, b;
    buf_init(&text, 0);
    buf_init(&a, 0);
    buf_init(&b, 0);
    gunzip(&zipped.body, &text);
    strip_process(buf_str(&text), &a);
    strip_process(buf_str(&plain.body), &b);
    assert_true(a.len > 1000);
    assert_string_equal(buf_str(&a), buf_str(&b));
    buf_free(&text);
    buf_free(&a);
    buf_free(&b);
    reply_free(&plain);
    reply_free(&zipped);
}

static void test_metrics_encodings(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *headers[3];
        bool gzip;
    } cases[] = {
        {{"Accept-Encoding: gzip;q=0", NULL}, false},
        {{"Accept-Encoding: deflate, br", NULL}, false},
        {{"Accept-Encoding: *", NULL}, true},
        {{"Accept-Encoding: br, GZip;q=0.5", NULL}, true},
        {{"Accept-Encoding: *, gzip;q=0", NULL}, false},
        /* Two header lines make one list. */
        {{"Accept-Encoding: identity", "Accept-Encoding: gzip", NULL}, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct reply r;
        get(f, "GET", "/metrics", cases[i].headers, &r);
        assert_int_equal(r.status, 200);
        const char *ce = header(&r, "Content-Encoding");
        if (cases[i].gzip != (ce && strcmp(ce, "gzip") == 0))
            fail_msg("case %zu: Content-Encoding %s", i, ce ? ce : "none");
        if (!cases[i].gzip)
            assert_non_null(strstr(buf_str(&r.body), "smtp_probes_total"));
        reply_free(&r);
    }
}

/* Every scrape is a render of its own (none is served from an earlier
 * one), gzip is made only when asked for, and no byte stays held once
 * the answers are out. */
static void test_render_counts(void **state)
{
    struct fixture *f = *state;
    static const char *const gz[] = {"Accept-Encoding: gzip", NULL};
    struct http_render_stats a, b;
    http_render_counts(f->http, &a);
    struct reply r;
    get(f, "GET", "/metrics", NULL, &r);
    reply_free(&r);
    get(f, "GET", "/metrics", gz, &r);
    reply_free(&r);
    get(f, "GET", "/", NULL, &r);
    reply_free(&r);
    get(f, "HEAD", "/metrics", NULL, &r);
    reply_free(&r);
    get(f, "GET", "/-/healthy", NULL, &r);
    reply_free(&r);
    http_render_counts(f->http, &b);
    assert_int_equal(b.renders - a.renders, 4);
    assert_int_equal(b.gzips - a.gzips, 1);
    assert_int_equal(b.busy, a.busy);
    /* MHD lets go of a response when the connection is done with it. */
    for (int i = 0; i < 100 && b.held; i++) {
        usleep(10000);
        http_render_counts(f->http, &b);
    }
    assert_int_equal(b.held, 0);
    assert_true(b.held_peak > 0);
}

static void test_health_ready(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    get(f, "GET", "/-/healthy", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(buf_str(&r.body), "OK\n");
    reply_free(&r);

    get(f, "GET", "/-/ready", NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(buf_str(&r.body), "Not ready\n");
    reply_free(&r);

    http_set_ready(f->http, true);
    get(f, "GET", "/-/ready", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(buf_str(&r.body), "OK\n");
    reply_free(&r);

    http_set_ready(f->http, false);
    get(f, "GET", "/-/ready", NULL, &r);
    assert_int_equal(r.status, 503);
    reply_free(&r);
}

/*
 * A probe loop that has stopped turning (a read that blocked, a
 * deadlock) must not look healthy: before, a FIFO where a file was
 * expected froze every probe while /-/healthy and /-/ready said OK.
 */
static void test_health_follows_the_probe_loop(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    http_set_ready(f->http, true);
    http_loop_turned(f->http, now_mono_ms());
    get(f, "GET", "/-/healthy", NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);

    http_loop_turned(f->http, now_mono_ms() - 61000);
    static const char *const paths[] = {"/-/healthy", "/-/ready"};
    for (size_t i = 0; i < 2; i++) {
        get(f, "GET", paths[i], NULL, &r);
        assert_int_equal(r.status, 503);
        if (!strstr(buf_str(&r.body), "The probe loop has not turned for "
                                      "61 s"))
            fail_msg("%s: %s", paths[i], buf_str(&r.body));
        reply_free(&r);
    }

    http_loop_turned(f->http, now_mono_ms());
    for (size_t i = 0; i < 2; i++) {
        get(f, "GET", paths[i], NULL, &r);
        assert_int_equal(r.status, 200);
        reply_free(&r);
    }
    http_set_ready(f->http, false);
}

static void test_not_found_and_methods(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *method, *path;
        long status;
        bool allow;
    } cases[] = {
        {"GET", "/nope", 404, false},
        {"GET", "/metrics/", 404, false},
        {"GET", "/METRICS", 404, false},
        {"GET", "/-/", 404, false},
        {"POST", "/nope", 404, false},
        {"POST", "/metrics", 405, true},
        {"PUT", "/", 405, true},
        {"DELETE", "/-/healthy", 405, true},
        {"OPTIONS", "/-/ready", 405, true},
        {"GET", "/metrics?foo=bar", 200, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct reply r;
        get(f, cases[i].method, cases[i].path, NULL, &r);
        if (r.status != cases[i].status)
            fail_msg("%s %s: %ld", cases[i].method, cases[i].path, r.status);
        const char *allow = header(&r, "Allow");
        if (cases[i].allow)
            assert_string_equal(allow, "GET, HEAD");
        else
            assert_null(allow);
        reply_free(&r);
    }

    /* A POST with a body is read and answered too. */
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", f->port);
    struct buf body;
    buf_init(&body, 0);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "a=1&b=2");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 405);
    curl_easy_cleanup(c);
    buf_free(&body);
}

/* Sends len raw bytes (NULs allowed) and reads until the server
 * closes, or 5 s without a byte. */
static void raw_request_n(unsigned port, const char *req, size_t len,
                          struct buf *out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may close early (a request too large) */
        off += (size_t)n;
    }
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char chunk[4096];
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0)
            break;
        assert_int_equal(buf_append(out, chunk, (size_t)n), 0);
    }
    close(fd);
}

/* Sends a raw request and reads until the server closes. */
static void raw_request(unsigned port, const char *req, struct buf *out)
{
    raw_request_n(port, req, strlen(req), out);
}

static size_t count_of(const char *hay, const char *needle);

/*
 * What a proxy in front could read differently from us is refused with
 * 400 and a closed connection, never served: framing (two
 * Content-Lengths, Transfer-Encoding beside Content-Length), bytes that
 * end a C string early (NUL), line ends and folds, and field names and
 * targets outside the grammar (RFC 9110, RFC 9112).
 */
static void test_strict_parsing(void **state)
{
    struct fixture *f = *state;
#define REQ(s) s, sizeof(s) - 1
#define CLOSE  "Connection: close\r\n"
    static const struct {
        const char *name;
        const char *req;
        size_t len;
        int status;
    } cases[] = {
        /* The three. */
        {"two Content-Lengths",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
             "Content-Length: 45\r\n\r\n"
             "GET /-/healthy HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n"),
         400},
        {"NUL in the path",
         REQ("GET /metrics\0junk HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n"), 400},
        {"HTTP/1.1 without Host",
         REQ("GET /metrics HTTP/1.1\r\n" CLOSE "\r\n"), 400},
        /* Their siblings. */
        {"two equal Content-Lengths",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
             "Content-Length: 0\r\n" CLOSE "\r\n"),
         400},
        {"Transfer-Encoding and Content-Length",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
             "Transfer-Encoding: chunked\r\n" CLOSE "\r\n0\r\n\r\n"),
         400},
        {"two Transfer-Encodings",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\r\n"
             "Transfer-Encoding: chunked\r\nTransfer-Encoding: "
             "identity\r\n" CLOSE "\r\n0\r\n\r\n"),
         400},
        {"two Hosts",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n" CLOSE "\r\n"),
         400},
        {"a Host that is no host",
         REQ("GET /metrics HTTP/1.1\r\nHost: a/b@c\r\n" CLOSE "\r\n"), 400},
        {"NUL in the method",
         REQ("GET\0 /metrics HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n"), 400},
        {"NUL in a header value",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n" CLOSE "\r\n"),
         400},
        {"NUL in Host",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\0y\r\n" CLOSE "\r\n"), 400},
        {"space before the colon",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n" CLOSE
             "\r\nhello"),
         400},
        {"a field name outside the token grammar",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\r\nX(A): b\r\n" CLOSE "\r\n"),
         400},
        {"an empty field name",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\r\n: b\r\n" CLOSE "\r\n"), 400},
        {"obs-fold",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n" CLOSE
             "\r\n"),
         400},
        {"a control byte in a value",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: a\x01"
             "b\r\n" CLOSE "\r\n"),
         400},
        {"a bare CR in a value",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n" CLOSE "\r\n"),
         400},
        {"bare LF line ends",
         REQ("GET /metrics HTTP/1.1\nHost: x\nConnection: close\n\n"), 400},
        {"a bare LF among CRLFs",
         REQ("GET /metrics HTTP/1.1\r\nHost: x\n" CLOSE "\r\n"), 400},
        {"two spaces after the method",
         REQ("GET  /metrics HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n"), 400},
        {"a space in the target",
         REQ("GET /met rics HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n"), 400},
        {"a control byte in the target",
         REQ("GET /metrics\x01 HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n"), 400},
        {"a bad %-escape",
         REQ("GET /metrics%zz HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n"), 400},
        {"a fragment",
         REQ("GET /metrics#top HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n"), 400},
        {"a byte above ASCII in the target",
         REQ("GET /metrics\xc3\xa9 HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n"),
         400},
        /* What stays served. */
        {"HTTP/1.0 without Host", REQ("GET /metrics HTTP/1.0\r\n\r\n"), 200},
        {"an ordinary scrape",
         REQ("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9925\r\n"
             "User-Agent: Prometheus/2.45.0\r\nAccept: text/plain;"
             "version=0.0.4;q=1,*/*;q=0.1\r\nAccept-Encoding: identity\r\n"
             "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n" CLOSE "\r\n"),
         200},
        {"odd but valid fields",
         REQ("GET /metrics?a=b&c=%41&d HTTP/1.1\r\nHost: [::1]:80\r\n"
             "X-Tab:\tv\r\nX-Empty:\r\nX-Blank:   \r\nX-Trail: v  \r\n"
             "Cookie: a=b; c=\"d\"\r\nX-Obs: caf\xc3\xa9\r\n"
             "x-lower-CASE_1!#$%&'*+.^`|~: ok\r\n" CLOSE "\r\n"),
         200},
        {"an empty Host",
         REQ("GET /metrics HTTP/1.1\r\nHost:\r\n" CLOSE "\r\n"), 200},
        {"an empty line first",
         REQ("\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n"), 200},
        /* Not a proxy: another site's URL is no path of ours. */
        {"absolute-form",
         REQ("GET http://x/metrics HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n"),
         404},
    };
#undef REQ
#undef CLOSE
    /* Every case is tried and every wrong one named. */
    size_t bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf out;
        buf_init(&out, 0);
        raw_request_n(f->port, cases[i].req, cases[i].len, &out);
        const char *s = buf_str(&out);
        char want[32];
        snprintf(want, sizeof(want), "HTTP/1.1 %d ", cases[i].status);
        /* One answer: nothing after a refused request was read as the
         * next one; and never the metrics after a 400. */
        size_t answers = count_of(s, "HTTP/1.");
        bool leaked = cases[i].status == 400 && strstr(s, "smtp_probes_total");
        if (strncmp(s, want, strlen(want)) != 0 || answers != 1 || leaked) {
            print_error("%s: got \"%.12s\" and %zu answer(s), want %s\n",
                        cases[i].name, s, answers, want);
            bad++;
        }
        buf_free(&out);
    }
    assert_int_equal(bad, 0);
    /* libmicrohttpd refuses a Content-Length list itself (and sends its
     * 400's headers twice, a quirk of 0.9.75 that harms nothing). */
    struct buf list;
    buf_init(&list, 0);
    raw_request(f->port,
                "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 0\r\n"
                "\r\n",
                &list);
    assert_true(strncmp(buf_str(&list), "HTTP/1.1 400 ", 13) == 0);
    assert_null(strstr(buf_str(&list), "smtp_probes_total"));
    buf_free(&list);
    /* Pipelined well-formed requests are each checked and served. */
    struct buf out;
    buf_init(&out, 0);
    raw_request(f->port,
                "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: b\r\n"
                "Connection: close\r\n"
                "\r\n",
                &out);
    assert_int_equal(count_of(buf_str(&out), "HTTP/1.1 200 OK\r\n"), 2);
    buf_free(&out);
}

static void test_head(void **state)
{
    struct fixture *f = *state;
    static const char *const paths[] = {"/metrics", "/", "/-/healthy",
                                        "/-/ready"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char req[256];
        snprintf(req, sizeof(req),
                 "HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 paths[i]);
        struct buf out;
        buf_init(&out, 0);
        raw_request(f->port, req, &out);
        const char *s = buf_str(&out);
        assert_true(strncmp(s, "HTTP/1.1 200", 12) == 0 ||
                    strncmp(s, "HTTP/1.1 503", 12) == 0);
        const char *end = strstr(s, "\r\n\r\n");
        assert_non_null(end);
        /* Headers only, though Content-Length announces the GET body. */
        assert_string_equal(end + 4, "");
        const char *cl = strcasestr(s, "\r\nContent-Length: ");
        assert_non_null(cl);
        assert_true(strtoul(cl + 18, NULL, 10) > 0);
        buf_free(&out);
    }
}

/* The part of page that starts at the card of target `name` and ends
 * before the next card: NULL when there is no such card. */
static char *card_of(const char *page, const char *name)
{
    char id[128];
    snprintf(id, sizeof(id), "id=\"t-%s\"", name);
    const char *at = strstr(page, id), *start = NULL;
    if (!at)
        return NULL;
    /* From the <article that carries the id. */
    for (const char *p = strstr(page, "<article"); p && p < at;
         p = strstr(p + 1, "<article"))
        start = p;
    assert_non_null(start);
    const char *end = strstr(start, "</article>");
    assert_non_null(end);
    return strndup(start, (size_t)(end - start));
}

/* s escaped for HTML, as the page must show it; the caller frees. */
static char *escaped(const char *s)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(page_html_escape(&b, s), 0);
    char *out = strdup(buf_str(&b));
    assert_non_null(out);
    buf_free(&b);
    return out;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* A successful probe of v6 a little while ago, with markup where a
 * server could put it: EHLO keywords, mechanisms, the TLS subject. */
static struct probe_result v6_result(double now)
{
    struct probe_result r = evil_result();
    snprintf(r.target, sizeof(r.target), "v6");
    r.success = true;
    r.stage = PROBE_STAGE_QUIT;
    r.detail[0] = '\0';
    r.replies[PROBE_STAGE_AUTH].code = 235;
    r.replies[PROBE_STAGE_AUTH].cls = SMTP_CLASS_SUCCESS;
    snprintf(r.replies[PROBE_STAGE_AUTH].text, PROBE_TEXT_MAX, "2.7.0 ok");
    r.replies[PROBE_STAGE_QUIT].code = 221;
    snprintf(r.replies[PROBE_STAGE_QUIT].text, PROBE_TEXT_MAX,
             "2.0.0 Bye " EVIL);
    r.auth[0].reply = r.replies[PROBE_STAGE_AUTH];
    r.ehlo_seen = true;
    snprintf(r.ehlo.keywords[0], sizeof(r.ehlo.keywords[0]), "PIPELINING");
    snprintf(r.ehlo.keywords[1], sizeof(r.ehlo.keywords[1]), "<B>X</B>");
    r.ehlo.n_keywords = 2;
    r.ehlo.n_dropped = 7;
    snprintf(r.ehlo.mechs[0], sizeof(r.ehlo.mechs[0]), "PLAIN");
    snprintf(r.ehlo.mechs[1], sizeof(r.ehlo.mechs[1]), "<I>M</I>");
    r.ehlo.n_mechs = 2;
    r.tls.valid = true;
    r.tls.problem[0] = '\0';
    r.tls.not_after = (int64_t)now + 10 * 86400 + 3600;
    r.start_time = now - 125;
    return r;
}

static void test_status_page(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    get(f, "GET", "/", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"),
                        "text/html; charset=utf-8");
    assert_string_equal(header(&r, "Cache-Control"), "no-store");
    /* Nothing may run, load or frame: no script-src at all. */
    const char *csp = header(&r, "Content-Security-Policy");
    assert_non_null(csp);
    assert_non_null(strstr(csp, "default-src 'none'"));
    assert_non_null(strstr(csp, "frame-ancestors 'none'"));
    assert_null(strstr(csp, "script"));
    const char *page = buf_str(&r.body);
    /* The server line comes with the target from the store, before
     * any probe (it used to wait for a second copy of the targets). */
    char *card = card_of(page, "mx1");
    assert_non_null(card);
    assert_non_null(strstr(card, "mx1.example.com:587 (starttls)"));
    assert_null(strstr(card, "<p class=\"server\">-</p>"));
    free(card);
    assert_non_null(strstr(page, "<span class=\"pill ok zero\">0 ok</span>"));
    reply_free(&r);

    double now = (double)time(NULL);
    struct probe_result ok = v6_result(now);
    metrics_record(f->metrics, &ok, NULL);
    get(f, "GET", "/", NULL, &r);
    assert_int_equal(r.status, 200);
    page = buf_str(&r.body);

    /* The frame: self-refreshing, phone-sized, no script, three cards. */
    assert_true(strncmp(page, "<!DOCTYPE html>", 15) == 0);
    assert_non_null(strstr(page, "<meta http-equiv=\"refresh\" "
                                 "content=\"15\">"));
    assert_non_null(strstr(page, "<meta name=\"viewport\" "
                                 "content=\"width=device-width, "
                                 "initial-scale=1\">"));
    assert_non_null(strstr(page, "@media (max-width:"));
    assert_non_null(strstr(page, "<a href=\"/metrics\">"));
    assert_int_equal(count_of(page, "<article "), 3);
    assert_non_null(strstr(page, "<span class=\"pill ok\">1 ok</span>"));
    assert_non_null(
        strstr(page, "<span class=\"pill failing\">1 failing</span>"));
    assert_non_null(
        strstr(page, "<span class=\"pill pending\">1 not probed yet</span>"));
    assert_non_null(strstr(page, "Failing: <a href=\"#t-mx1\">mx1</a></p>"));
    /* Failing first, then not probed yet, then ok. */
    const char *c1 = strstr(page, "id=\"t-mx1\""),
               *c2 = strstr(page, "id=\"t-mx2\""),
               *c3 = strstr(page, "id=\"t-v6\"");
    assert_true(c1 && c2 && c3 && c1 < c2 && c2 < c3);
    /* Nothing from a server gets through as markup. */
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "<b>"));
    assert_null(strstr(page, "<B>"));
    assert_null(strstr(page, "<I>"));
    assert_null(strstr(page, "<cert>"));

    /* mx1: failing at AUTH, with the catalogue's words and the note. */
    card = card_of(page, "mx1");
    assert_non_null(card);
    assert_non_null(strstr(card, "class=\"card failing\""));
    assert_non_null(strstr(card, "<span class=\"state\">failing</span>"));
    assert_non_null(strstr(card, "mx1.example.com:587 (starttls)"));
    assert_non_null(strstr(card, "<dt>Stage</dt><dd>auth "));
    assert_non_null(strstr(card, "<dt>Reply</dt><dd><code>535 5.7.8 "
                                 "&lt;script&gt;alert(1)&lt;/script&gt; "
                                 "&#39;x&#39;</code>"));
    /* The detail only repeats the reply: not shown. */
    assert_null(strstr(card, "said &quot;no&quot;"));
    assert_non_null(strstr(card, "<dt>Class</dt><dd>auth_failed</dd>"));
    const struct probe_result evil = evil_result();
    const struct catalogue_entry *e = report_entry(&evil);
    assert_non_null(e);
    char *title = escaped(e->title), *meaning = escaped(e->meaning),
         *fix = escaped(e->fix);
    assert_non_null(strstr(card, "<dt>Explanation</dt>"));
    assert_non_null(strstr(card, title));
    assert_non_null(strstr(card, meaning));
    assert_non_null(strstr(card, fix));
    free(title);
    free(meaning);
    free(fix);
    /* This result has no note (its mechanism was advertised, the reply
     * is no Postfix "no mechanism"): the card must not show one. The
     * certificate failure below has one. */
    char note[2048];
    report_note(&evil, NULL, note, sizeof(note));
    if (note[0]) {
        char *n = escaped(note);
        assert_non_null(strstr(card, "<dt>Note</dt><dd class=\"note\">"));
        assert_non_null(strstr(card, n));
        free(n);
    } else {
        assert_null(strstr(card, "<dt>Note</dt>"));
    }
    assert_non_null(strstr(card, "PLAIN: <code>535"));
    assert_non_null(strstr(card, "<li>greeting: <code>220 mx1 ESMTP "
                                 "&lt;script&gt;"));
    assert_non_null(strstr(card, "<dt>TLS</dt><dd>TLSv1.3 "));
    assert_non_null(strstr(card, "invalid: self-signed &lt;cert&gt;"));
    assert_non_null(strstr(card, "CN=&lt;script&gt;"));
    assert_non_null(strstr(card, "2030-01-01 00:00:00 UTC"));
    assert_non_null(strstr(card, "2025-11-28 17:03:34 UTC"));
    assert_non_null(strstr(card, " ago "));
    free(card);

    /* mx2: never probed; its server line escaped. */
    card = card_of(page, "mx2");
    assert_non_null(card);
    assert_non_null(strstr(card, "class=\"card pending\""));
    assert_non_null(
        strstr(card, "<span class=\"state\">not probed yet</span>"));
    assert_non_null(strstr(card, "&lt;b&gt;mx2&lt;/b&gt;.example.com:465"));
    assert_null(strstr(card, "<dl>"));
    free(card);

    /* v6: ok, no explanation; EHLO facts escaped; the age is computed
     * when the page is rendered (125 s, one more if a second ticked). */
    card = card_of(page, "v6");
    assert_non_null(card);
    assert_non_null(strstr(card, "class=\"card ok\""));
    assert_non_null(strstr(card, "<span class=\"state\">ok</span>"));
    assert_non_null(strstr(card, "[2001:db8::25]:25 (none)"));
    assert_null(strstr(card, "Explanation"));
    assert_null(strstr(card, "<dt>Note</dt>"));
    assert_non_null(strstr(card, "<dt>Reply</dt><dd><code>221 2.0.0 Bye "
                                 "&lt;script&gt;"));
    assert_non_null(strstr(card, "<span class=\"kw\">PIPELINING</span>"
                                 "<span class=\"kw\">&lt;B&gt;X&lt;/B&gt;"
                                 "</span>"));
    assert_non_null(strstr(card, "(7 more not kept)"));
    assert_non_null(strstr(card, "<span class=\"kw\">&lt;I&gt;M&lt;/I&gt;"));
    assert_non_null(strstr(card, "10 days left"));
    assert_non_null(strstr(card, "<div class=\"good\">valid</div>"));
    assert_true(strstr(card, "<dt>Last probe</dt><dd>2 min 5 s ago") ||
                strstr(card, "<dt>Last probe</dt><dd>2 min 6 s ago") ||
                strstr(card, "<dt>Last probe</dt><dd>2 min 7 s ago"));
    free(card);
    reply_free(&r);

    /* A failure without a reply: no code (an earlier stage's would
     * mislead), the error, and the detail, escaped. */
    struct probe_result tls = evil_result();
    tls.stage = PROBE_STAGE_TLS;
    tls.error = PROBE_ERROR_CERTIFICATE;
    tls.replies[PROBE_STAGE_AUTH].code = 0;
    tls.n_auth = 0;
    snprintf(tls.detail, sizeof(tls.detail), "tls: \"no\" & <b>%s", EVIL);
    metrics_record(f->metrics, &tls, NULL);
    get(f, "GET", "/", NULL, &r);
    page = buf_str(&r.body);
    assert_null(strstr(page, "<script"));
    card = card_of(page, "mx1");
    assert_non_null(card);
    assert_non_null(strstr(card, "<dt>Reply</dt><dd>none<div class=\"muted\">"
                                 "tls: &quot;no&quot; &amp; &lt;b&gt;"
                                 "&lt;script&gt;"));
    assert_non_null(strstr(card, "<dt>Class</dt><dd>error: certificate</dd>"));
    e = report_entry(&tls);
    assert_non_null(e);
    title = escaped(e->title);
    assert_non_null(strstr(card, title));
    free(title);
    /* The note quotes the certificate problem, which comes from the
     * server's certificate: escaped like the rest. */
    assert_null(strstr(page, "<cert>"));
    const char *nt = strstr(card, "<dt>Note</dt><dd class=\"note\">");
    assert_non_null(nt);
    const char *nt_end = strstr(nt, "</dd>");
    assert_non_null(nt_end);
    const char *quoted = strstr(nt, "self-signed &lt;cert&gt;");
    assert_true(quoted && quoted < nt_end);
    free(card);
    reply_free(&r);
}

/* Targets come in config order, the store keeps them by name: each
 * card shows its own server whatever the order. */
static void test_status_page_lookup(void **state)
{
    struct fixture *f = *state;
    struct target_config rev[3] = {f->targets[2], f->targets[1],
                                   f->targets[0]};
    struct agent_config cfg = f->cfg;
    cfg.targets = rev;
    assert_int_equal(metrics_set_targets(f->metrics, &cfg), 0);
    struct reply r;
    get(f, "GET", "/", NULL, &r);
    assert_int_equal(r.status, 200);
    static const struct {
        const char *name, *server;
    } want[] = {
        {"mx1", "mx1.example.com:587 (starttls)"},
        {"mx2", "&lt;b&gt;mx2&lt;/b&gt;.example.com:465 (implicit)"},
        {"v6", "[2001:db8::25]:25 (none)"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char *card = card_of(buf_str(&r.body), want[i].name);
        assert_non_null(card);
        if (!strstr(card, want[i].server))
            fail_msg("%s: no \"%s\"", want[i].name, want[i].server);
        free(card);
    }
    reply_free(&r);
    assert_int_equal(metrics_set_targets(f->metrics, &f->cfg), 0);
}

/* Headers past the connection's memory are refused, not stored. */
static void test_header_limit(void **state)
{
    struct fixture *f = *state;
    struct buf req, out;
    buf_init(&req, 0);
    buf_init(&out, 0);
    assert_int_equal(buf_puts(&req, "GET /metrics HTTP/1.1\r\nHost: x\r\n"),
                     0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(buf_printf(&req, "X-Filler-%d: %0999d\r\n", i, 0), 0);
    assert_int_equal(buf_puts(&req, "Connection: close\r\n\r\n"), 0);
    raw_request(f->port, buf_str(&req), &out);
    /* An error status, or a closed connection: never the metrics. */
    assert_null(strstr(buf_str(&out), "smtp_probes_total"));
    if (out.len)
        assert_true(strncmp(buf_str(&out), "HTTP/1.1 431 ", 13) == 0);
    buf_free(&req);
    buf_free(&out);

    /* The server still answers afterwards. */
    struct reply r;
    get(f, "GET", "/-/healthy", NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

static void test_start_errors(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    struct http_options opt = {.listen = "127.0.0.1", .metrics = f->metrics};
    assert_null(http_start(&opt, err, sizeof(err)));
    assert_non_null(strstr(err, "missing port"));

    /* Port 0 only where a test asks for it. */
    opt.listen = "127.0.0.1:0";
    assert_null(http_start(&opt, err, sizeof(err)));
    assert_non_null(strstr(err, "bad port"));

    /* The port is taken by the fixture's server. */
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", f->port);
    opt.listen = listen;
    err[0] = '\0';
    assert_null(http_start(&opt, err, sizeof(err)));
    assert_non_null(strstr(err, "Address already in use"));

    opt.metrics = NULL;
    err[0] = '\0';
    assert_null(http_start(&opt, err, sizeof(err)));
    assert_string_equal(err, "no metrics store");
    http_stop(NULL);
}

/* "[::]" serves IPv4 too (dual stack). */
static void test_dual_stack(void **state)
{
    struct fixture *f = *state;
    if (!system_has_ipv6())
        skip();
    struct http_options opt = {.listen = "[::]:0",
                               .metrics = f->metrics,
                               .connection_limit = 4,
                               .timeout_s = 2,
                               .allow_port_zero = true};
    char err[256] = "";
    struct http_server *h = http_start(&opt, err, sizeof(err));
    if (!h)
        fail_msg("http_start: %s", err);
    unsigned port = http_port(h);
    assert_true(port > 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/-/healthy", port);
    struct reply r;
    request(url, "GET", NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    snprintf(url, sizeof(url), "http://[::1]:%u/-/healthy", port);
    request(url, "GET", NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    http_stop(h);
}

/* ---- basic auth, HTTPS, deadlines ----------------------------------------
 */

/* bcrypt of "pw" and of "other" at cost 4 (fast), and of "pw" at cost 10,
 * made with Python's crypt.crypt(pw, crypt.mksalt(METHOD_BLOWFISH)). */
#define HASH_PW_4                                                             \
    "$2b$04$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8qjVjbAEHxph4/Rmpq"
#define HASH_OTHER_4                                                          \
    "$2b$04$OV/C7t31Q/45k5LsMdp.iOXTjWrxfSek5rl.YXXmG41DfDlAAZGSy"
/* Cost 12: some 200 ms a check here. */
#define HASH_PW_12                                                            \
    "$2b$12$16NwmN/qDCftZ8JuEBT9BeBGPlQQr6HMPZIgoIJN60be7CE9QEMye"
#define HASH_PW_10                                                            \
    "$2b$10$AyVx9KWL0OHdTF1tgl3IfuE3SKQ.ANWL0FVRTO1QUh0cAJvPY2rpu"
/* Base64 of "u1:pw", "u2:other", "u1:other", "nobody:pw", "u1:pw\0x",
 * "u1pw" (no colon). */
#define B64_U1_PW    "dTE6cHc="
#define B64_U2_OTHER "dTI6b3RoZXI="
#define B64_U1_OTHER "dTE6b3RoZXI="
#define B64_NOBODY   "bm9ib2R5OnB3"
#define B64_U1_NUL   "dTE6cHcAeA=="
#define B64_NOCOLON  "dTFwdw=="

struct auth_fixture {
    struct metrics *metrics;
    struct web_user users[2];
    struct http_server *http;
    unsigned port;
    char dir[64];
    char cert[128], key[128], other_key[128];
};

static void set_user(struct web_user *u, const char *name, const char *hash)
{
    memset(u, 0, sizeof(*u));
    snprintf(u->name, sizeof(u->name), "%s", name);
    snprintf(u->hash, sizeof(u->hash), "%s", hash);
}

/* A self-signed certificate for "localhost" and its key, as PEM files,
 * and a second key that does not belong to it. */
static void make_tls_files(struct auth_fixture *f)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    EVP_PKEY *other = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(pk);
    assert_non_null(other);
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
    assert_int_equal(X509_set_pubkey(x, pk), 1);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_true(X509_sign(x, pk, EVP_sha256()) > 0);

    snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->dir);
    snprintf(f->key, sizeof(f->key), "%s/key.pem", f->dir);
    snprintf(f->other_key, sizeof(f->other_key), "%s/other.pem", f->dir);
    FILE *fp = fopen(f->cert, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, x), 1);
    fclose(fp);
    fp = fopen(f->key, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL),
                     1);
    fclose(fp);
    fp = fopen(f->other_key, "w");
    assert_non_null(fp);
    assert_int_equal(
        PEM_write_PrivateKey(fp, other, NULL, NULL, 0, NULL, NULL), 1);
    fclose(fp);
    X509_free(x);
    EVP_PKEY_free(pk);
    EVP_PKEY_free(other);
}

static struct http_server *start_auth(struct auth_fixture *f,
                                      struct http_options *opt, char *err,
                                      size_t errlen)
{
    opt->listen = "127.0.0.1:0";
    opt->metrics = f->metrics;
    opt->allow_port_zero = true;
    return http_start(opt, err, errlen);
}

static int auth_setup(void **state)
{
    struct auth_fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    struct metrics_build_info info = {"0.1.0", "7.88.1", "3.0", "0.9.75"};
    f->metrics = metrics_new(&info);
    if (!f->metrics)
        return -1;
    set_user(&f->users[0], "u1", HASH_PW_4);
    set_user(&f->users[1], "u2", HASH_OTHER_4);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_http.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    struct http_options opt = {.users = f->users, .n_users = 2};
    char err[256] = "";
    f->http = start_auth(f, &opt, err, sizeof(err));
    if (!f->http) {
        print_error("http_start: %s\n", err);
        return -1;
    }
    f->port = http_port(f->http);
    http_set_ready(f->http, true);
    *state = f;
    return 0;
}

static int auth_teardown(void **state)
{
    struct auth_fixture *f = *state;
    http_stop(f->http);
    metrics_free(f->metrics);
    unlink(f->cert);
    unlink(f->key);
    unlink(f->other_key);
    rmdir(f->dir);
    free(f);
    request_ca = NULL;
    return 0;
}

static long auth_get(unsigned port, const char *path, const char *authz,
                     struct reply *r)
{
    char url[256], line[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    snprintf(line, sizeof(line), "Authorization: %s", authz ? authz : "");
    const char *const extra[] = {authz ? line : NULL, NULL};
    request(url, "GET", extra, r);
    return r->status;
}

/* The status only. */
static long auth_status(unsigned port, const char *path, const char *authz)
{
    struct reply r;
    long status = auth_get(port, path, authz, &r);
    reply_free(&r);
    return status;
}

static void test_auth_required(void **state)
{
    struct auth_fixture *f = *state;
    static const char *const paths[] = {"/metrics", "/", "/-/healthy",
                                        "/-/ready", "/nope"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct reply r;
        assert_int_equal(auth_get(f->port, paths[i], NULL, &r), 401);
        assert_string_equal(header(&r, "WWW-Authenticate"),
                            "Basic realm=\"smtp-health-agent\"");
        assert_string_equal(buf_str(&r.body), "Unauthorized\n");
        reply_free(&r);
    }
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U1_PW),
                     200);
    assert_int_equal(auth_status(f->port, "/", "Basic " B64_U1_PW), 200);
    assert_int_equal(auth_status(f->port, "/nope", "Basic " B64_U1_PW), 404);
    assert_int_equal(auth_status(f->port, "/metrics", "basic  " B64_U1_PW),
                     200); /* the scheme is case-insensitive */
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U2_OTHER),
                     200);

    static const char *const bad[] = {
        "Basic " B64_U1_OTHER, /* u2's password for u1 */
        "Basic " B64_NOBODY,
        "Basic " B64_U1_NUL,
        "Basic " B64_NOCOLON,
        "Basic",
        "Basic ",
        "Basic !!!!",
        "Basic dTE6cHc",
        "Bearer " B64_U1_PW,
        "Digest " B64_U1_PW,
        "Basic" B64_U1_PW,
        "Basic " B64_U1_PW "=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (auth_status(f->port, "/metrics", bad[i]) != 401)
            fail_msg("case %zu was let through", i);

    /* A header too long to be credentials is refused before decoding. */
    struct buf big;
    buf_init(&big, 0);
    assert_int_equal(buf_puts(&big, "Basic "), 0);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(buf_puts(&big, "QUFB"), 0);
    assert_int_equal(auth_status(f->port, "/metrics", buf_str(&big)), 401);
    buf_free(&big);
}

static void test_auth_cache(void **state)
{
    struct auth_fixture *f = *state;
    /* No users, then the two again: nothing cached. */
    struct agent_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(http_set_auth(f->http, &cfg), 0);
    cfg.web_users = f->users;
    cfg.n_web_users = 2;
    assert_int_equal(http_set_auth(f->http, &cfg), 0);

    unsigned long runs = http_auth_bcrypt_runs(f->http);
    for (int i = 0; i < 5; i++)
        assert_int_equal(
            auth_status(f->port, "/metrics", "Basic " B64_U2_OTHER), 200);
    /* One bcrypt, then the cache. */
    assert_int_equal(http_auth_bcrypt_runs(f->http) - runs, 1);
    /* Wrong passwords are never cached: one bcrypt each, also for a user
     * that does not exist (the time must not tell). */
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U1_OTHER),
                     401);
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_NOBODY),
                     401);
    assert_int_equal(http_auth_bcrypt_runs(f->http) - runs, 3);
    /* Malformed headers cost nothing. */
    assert_int_equal(auth_status(f->port, "/metrics", "Basic !!"), 401);
    assert_int_equal(auth_status(f->port, "/metrics", NULL), 401);
    assert_int_equal(http_auth_bcrypt_runs(f->http) - runs, 3);
    /* The cached user still passes without a bcrypt; the other user
     * costs one, once. */
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U2_OTHER),
                     200);
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U1_PW),
                     200);
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U1_PW),
                     200);
    assert_int_equal(http_auth_bcrypt_runs(f->http) - runs, 4);

    /* A reload with the same users keeps what was verified. */
    assert_int_equal(http_set_auth(f->http, &cfg), 0);
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U1_PW),
                     200);
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U2_OTHER),
                     200);
    assert_int_equal(http_auth_bcrypt_runs(f->http) - runs, 4);
}

static void test_auth_reload(void **state)
{
    struct auth_fixture *f = *state;
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U1_PW),
                     200);
    /* u1's password changes to "other". */
    struct web_user changed[1];
    set_user(&changed[0], "u1", HASH_OTHER_4);
    struct agent_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.web_users = changed;
    cfg.n_web_users = 1;
    assert_int_equal(http_set_auth(f->http, &cfg), 0);
    unsigned long runs = http_auth_bcrypt_runs(f->http);
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U1_PW),
                     401);
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U1_OTHER),
                     200);
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U2_OTHER),
                     401);
    assert_int_equal(http_auth_bcrypt_runs(f->http) - runs, 3);

    /* No users: open again. */
    cfg.n_web_users = 0;
    cfg.web_users = NULL;
    assert_int_equal(http_set_auth(f->http, &cfg), 0);
    assert_int_equal(auth_status(f->port, "/metrics", NULL), 200);

    cfg.web_users = f->users;
    cfg.n_web_users = 2;
    assert_int_equal(http_set_auth(f->http, &cfg), 0);
    assert_int_equal(auth_status(f->port, "/metrics", NULL), 401);
    assert_int_equal(auth_status(f->port, "/metrics", "Basic " B64_U1_PW),
                     200);
}

/* Failed checks cannot burn CPU without bound: past the budget the
 * answer is 429, without a bcrypt. */
static void test_auth_budget(void **state)
{
    struct auth_fixture *f = *state;
    struct web_user slow[1];
    set_user(&slow[0], "u1", HASH_PW_10);
    /* 1 ms of burst: after one check (tens of ms at cost 10), the next
     * waits until 25% of a core has paid it back. */
    struct http_options opt = {
        .users = slow, .n_users = 1, .auth_burst_ms = 1};
    char err[256] = "";
    struct http_server *h = start_auth(f, &opt, err, sizeof(err));
    if (!h)
        fail_msg("http_start: %s", err);
    unsigned port = http_port(h);
    int busy = 0;
    for (int i = 0; i < 10; i++) {
        struct reply r;
        long status = auth_get(port, "/metrics", "Basic " B64_U1_OTHER, &r);
        assert_true(status == 401 || status == 429);
        if (status == 429) {
            busy++;
            assert_string_equal(header(&r, "Retry-After"), "1");
        }
        reply_free(&r);
    }
    assert_true(busy > 0);
    assert_int_equal(http_auth_bcrypt_runs(h), 10 - busy);
    /* The right password gets through once the budget has recovered. */
    long status = 0;
    for (int i = 0; i < 50 && status != 200; i++) {
        status = auth_status(port, "/metrics", "Basic " B64_U1_PW);
        if (status != 200)
            usleep(100 * 1000);
    }
    assert_int_equal(status, 200);
    http_stop(h);
}

static int connect_local(unsigned port);
static bool read_response(int fd, struct buf *out);

/*
 * Password checks do not run in MHD's thread: while wrong passwords are
 * checked (a bcrypt each), a request with credentials already verified
 * is answered, before the checks are all done.
 */
static void test_auth_off_thread(void **state)
{
    struct auth_fixture *f = *state;
    struct web_user users[2];
    set_user(&users[0], "u1", HASH_PW_12);
    set_user(&users[1], "u2", HASH_OTHER_4);
    /* A burst large enough for every check below. */
    struct http_options opt = {
        .users = users, .n_users = 2, .auth_burst_ms = 600000};
    char err[256] = "";
    struct http_server *h = start_auth(f, &opt, err, sizeof(err));
    if (!h)
        fail_msg("http_start: %s", err);
    unsigned port = http_port(h);
    assert_int_equal(auth_status(port, "/-/healthy", "Basic " B64_U2_OTHER),
                     200);
    enum { SLOW = 12 };
    int fds[SLOW];
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                      "Authorization: Basic " B64_U1_OTHER "\r\n"
                      "Connection: close\r\n\r\n";
    for (int i = 0; i < SLOW; i++) {
        fds[i] = connect_local(port);
        assert_int_equal(send(fds[i], req, strlen(req), MSG_NOSIGNAL),
                         (ssize_t)strlen(req));
    }
    usleep(100 * 1000); /* they are read and their checks begin */
    assert_int_equal(auth_status(port, "/-/healthy", "Basic " B64_U2_OTHER),
                     200);
    /* Some 2.4 s of checks: most are still to be answered. */
    size_t answered = 0;
    for (int i = 0; i < SLOW; i++) {
        struct pollfd pfd = {.fd = fds[i], .events = POLLIN};
        answered += poll(&pfd, 1, 0) == 1;
    }
    if (answered == SLOW)
        fail_msg("every check was done before the cached request");
    for (int i = 0; i < SLOW; i++) {
        struct buf out;
        buf_init(&out, 0);
        assert_true(read_response(fds[i], &out));
        assert_true(strncmp(buf_str(&out), "HTTP/1.1 401 ", 13) == 0);
        buf_free(&out);
        close(fds[i]);
    }
    assert_int_equal(http_auth_bcrypt_runs(h), SLOW + 1);
    http_stop(h);
}

static void test_https(void **state)
{
    struct auth_fixture *f = *state;
    make_tls_files(f);
    assert_int_equal(chmod(f->key, 0600), 0);
    struct http_options opt = {.tls_cert_file = f->cert,
                               .tls_key_file = f->key,
                               .users = f->users,
                               .n_users = 2};
    char err[256] = "";
    struct http_server *h = start_auth(f, &opt, err, sizeof(err));
    if (!h)
        fail_msg("http_start: %s", err);
    unsigned port = http_port(h);
    char url[128];
    snprintf(url, sizeof(url), "https://localhost:%u/metrics", port);
    request_ca = f->cert;
    static const char *const authz[] = {"Authorization: Basic " B64_U1_PW,
                                        NULL};
    struct reply r;
    request(url, "GET", authz, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_str(&r.body), "smtp_agent_build_info"));
    reply_free(&r);
    request(url, "GET", NULL, &r);
    assert_int_equal(r.status, 401);
    reply_free(&r);
    request_ca = NULL;

    /* Plain HTTP on the HTTPS port gets no answer. */
    struct buf out;
    buf_init(&out, 0);
    raw_request(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &out);
    assert_null(strstr(buf_str(&out), "200 OK"));
    buf_free(&out);
    http_stop(h);
}

static void test_https_start_errors(void **state)
{
    struct auth_fixture *f = *state;
    make_tls_files(f);
    /* 0: none, 1: the right file, 2: the other key, 3: a missing file. */
    const char *certs[] = {NULL, f->cert, f->other_key,
                           "/nonexistent/cert.pem"};
    const char *keys[] = {NULL, f->key, f->other_key, "/nonexistent/cert.pem"};
    static const struct {
        int cert, key;
        const char *msg;
    } cases[] = {
        {1, 0, "needs both a certificate and a key"},
        {0, 1, "needs both a certificate and a key"},
        {1, 2, "The certificate and the given key do not match"},
        {2, 1, "GnuTLS failed to setup x509 certificate/key"},
        {3, 1, "web_tls_cert_file /nonexistent/cert.pem: No such file"},
        {1, 3, "web_tls_key_file /nonexistent/cert.pem: No such file"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_options opt = {.tls_cert_file = certs[cases[i].cert],
                                   .tls_key_file = keys[cases[i].key]};
        char err[256] = "";
        struct http_server *h = start_auth(f, &opt, err, sizeof(err));
        if (h || !strstr(err, cases[i].msg))
            fail_msg("case %zu: %s", i, h ? "started" : err);
    }
}

/* Connects to port on 127.0.0.1; the fd. */
static int connect_local(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static double mono_s(void)
{
    return (double)now_mono_ns() / 1e9;
}

/* MHD's timeout only counts idle time: a client sending a header byte
 * now and then is cut at the request deadline all the same. */
static void test_deadline_slowloris(void **state)
{
    struct auth_fixture *f = *state;
    struct http_options opt = {.timeout_s = 1};
    char err[256] = "";
    struct http_server *h = start_auth(f, &opt, err, sizeof(err));
    if (!h)
        fail_msg("http_start: %s", err);
    unsigned port = http_port(h);
    int fd = connect_local(port);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    double t0 = mono_s(), closed = 0;
    for (size_t i = 0; closed == 0 && mono_s() - t0 < 8; i++) {
        char c = i < strlen(req) ? req[i] : 'a';
        if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
            closed = mono_s() - t0;
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) == 1) {
            char buf[256];
            if (recv(fd, buf, sizeof(buf), 0) <= 0)
                closed = mono_s() - t0;
        }
    }
    close(fd);
    /* At the 1 s deadline, give or take the watchdog's tick. */
    if (closed < 0.8 || closed > 4)
        fail_msg("slow connection closed after %.2f s", closed);
    http_stop(h);
}

/* Reads one response (headers and Content-Length bytes) from fd. */
static bool read_response(int fd, struct buf *out)
{
    for (;;) {
        const char *s = buf_str(out);
        const char *end = strstr(s, "\r\n\r\n");
        const char *cl = strcasestr(s, "\r\nContent-Length: ");
        if (end && cl &&
            out->len >= (size_t)(end + 4 - s) + strtoul(cl + 18, NULL, 10))
            return true;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 3000) != 1)
            return false;
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0)
            return false;
        assert_int_equal(buf_append(out, chunk, (size_t)n), 0);
    }
}

/* On a kept-alive connection every request gets a new deadline. */
static void test_deadline_keepalive(void **state)
{
    struct auth_fixture *f = *state;
    struct http_options opt = {.timeout_s = 1};
    char err[256] = "";
    struct http_server *h = start_auth(f, &opt, err, sizeof(err));
    if (!h)
        fail_msg("http_start: %s", err);
    int fd = connect_local(http_port(h));
    const char *req = "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 4; i++) {
        if (i)
            usleep(600 * 1000); /* 2.4 s in all, 0.6 s idle each time */
        assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL),
                         (ssize_t)strlen(req));
        struct buf out;
        buf_init(&out, 0);
        if (!read_response(fd, &out))
            fail_msg("request %d: no answer", i);
        assert_true(strncmp(buf_str(&out), "HTTP/1.1 200", 12) == 0);
        buf_free(&out);
    }
    close(fd);
    http_stop(h);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Tests share one server: the ready test leaves it not ready, and
     * only the status page test sets the targets (it checks both). */
    const struct CMUnitTest live[] = {
        cmocka_unit_test(test_metrics_plain),
        cmocka_unit_test(test_metrics_gzip),
        cmocka_unit_test(test_metrics_encodings),
        cmocka_unit_test(test_render_counts),
        cmocka_unit_test(test_health_ready),
        cmocka_unit_test(test_health_follows_the_probe_loop),
        cmocka_unit_test(test_not_found_and_methods),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_status_page),
        cmocka_unit_test(test_status_page_lookup),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_strict_parsing),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_dual_stack),
    };
    /* One server with two users; some tests start their own. */
    const struct CMUnitTest auth[] = {
        cmocka_unit_test(test_auth_required),
        cmocka_unit_test(test_auth_cache),
        cmocka_unit_test(test_auth_reload),
        cmocka_unit_test(test_auth_budget),
        cmocka_unit_test(test_auth_off_thread),
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_https_start_errors),
        cmocka_unit_test(test_deadline_slowloris),
        cmocka_unit_test(test_deadline_keepalive),
    };
    int failed = cmocka_run_group_tests_name("live", live, setup, teardown);
    failed +=
        cmocka_run_group_tests_name("auth", auth, auth_setup, auth_teardown);
    curl_global_cleanup();
    return failed;
}
