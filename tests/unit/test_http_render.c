/* test_http_render: one render shared by every request that waits, the
 * memory cap, gzip made once and only when asked, deadlines and stopping;
 * over a real libmicrohttpd daemon with a render that the test holds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
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
#include "http_park.h"
#include "http_render.h"
#include "now.h"

#if MHD_VERSION >= 0x00097002
#define MHD_RESULT enum MHD_Result
#else
#define MHD_RESULT int
#endif

/* ---- a render the test opens and closes ----------------------------------
 */

struct gate {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool open;
    bool fail;
    unsigned entered; /* renders started */
    size_t body_len;  /* bytes of each body */
};

static struct gate gate = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, true, false, 0, 64};

static void gate_set(bool open)
{
    pthread_mutex_lock(&gate.m);
    gate.open = open;
    pthread_cond_broadcast(&gate.c);
    pthread_mutex_unlock(&gate.m);
}

/* "render N\n" and filler up to body_len: each render is told apart. */
static int held_render(void *cls, struct buf *out)
{
    (void)cls;
    pthread_mutex_lock(&gate.m);
    unsigned n = ++gate.entered;
    pthread_cond_broadcast(&gate.c);
    while (!gate.open)
        pthread_cond_wait(&gate.c, &gate.m);
    bool fail = gate.fail;
    size_t len = gate.body_len;
    pthread_mutex_unlock(&gate.m);
    if (fail)
        return -1;
    if (buf_printf(out, "render %u\n", n) < 0)
        return -1;
    while (out->len < len)
        if (buf_putc(out, (char)('a' + out->len % 26)) < 0)
            return -1;
    return 0;
}

/* ---- a daemon that serves /body through the renderer ---------------------
 */

struct server {
    struct MHD_Daemon *d;
    struct http_park *park;
    struct http_render *render;
    unsigned port;
    uint64_t wait_ms; /* each request's deadline, from its start */
};

struct treq {
    struct http_waiter w;
    bool seen, parked, gzip;
};

static MHD_RESULT text(struct MHD_Connection *conn, unsigned status,
                       const char *s)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(s), (void *)(uintptr_t)s, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_RESULT ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* What http.c does for /metrics, in short. */
static MHD_RESULT handler(void *cls, struct MHD_Connection *conn,
                          const char *url, const char *method,
                          const char *version, const char *upload_data,
                          size_t *upload_data_size, void **req_cls)
{
    (void)method;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    struct server *s = cls;
    struct treq *t = *req_cls;
    if (!t) {
        t = calloc(1, sizeof(*t));
        *req_cls = t;
        return t ? MHD_YES : MHD_NO;
    }
    if (strcmp(url, "/-/healthy") == 0)
        return text(conn, MHD_HTTP_OK, "OK\n");
    if (!t->parked) {
        const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     "Accept-Encoding");
        t->gzip = ae && strstr(ae, "gzip");
        switch (http_render_wait(s->render, 0, t->gzip, &t->w, conn,
                                 now_mono_ms() + s->wait_ms)) {
        case HTTP_RENDER_PARKED:
            t->parked = true;
            return MHD_YES;
        case HTTP_RENDER_BUSY:
            return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "busy\n");
        case HTTP_RENDER_STOPPED:
            return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "stopped\n");
        }
    }
    if (t->w.reason != HTTP_WAKE_DONE)
        return MHD_NO;
    struct http_body *b = t->w.result;
    t->w.reason = HTTP_WAKE_NONE;
    bool gz;
    struct MHD_Response *resp = http_body_response(b, t->gzip, &gz);
    MHD_RESULT ret =
        resp ? MHD_queue_response(conn, MHD_HTTP_OK, resp)
             : text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "failed\n");
    http_body_put(b);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct treq *t = *req_cls;
    if (t && t->w.reason == HTTP_WAKE_DONE)
        http_body_put(t->w.result);
    free(t);
    *req_cls = NULL;
}

static const struct http_header extra_headers[] = {{"X-Test", "1"}};

static void server_start(struct server *s, size_t memory_max)
{
    memset(s, 0, sizeof(*s));
    s->wait_ms = 10000;
    s->park = http_park_new();
    assert_non_null(s->park);
    const struct http_render_source src = {.name = "test",
                                           .render = held_render,
                                           .content_type = "text/plain",
                                           .headers = extra_headers,
                                           .n_headers = 1,
                                           .gzip = true};
    char err[128] = "";
    s->render =
        http_render_new(&src, 1, memory_max, s->park, err, sizeof(err));
    if (!s->render)
        fail_msg("http_render_new: %s", err);
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                                MHD_ALLOW_SUSPEND_RESUME,
                            0, NULL, NULL, handler, s,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_CONNECTION_LIMIT, 300u, MHD_OPTION_END);
    assert_non_null(s->d);
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    s->port = info->port;
}

/* In http.c's order: no suspended connection may be left for MHD. */
static void server_stop(struct server *s)
{
    http_render_stop(s->render);
    http_park_close(s->park);
    MHD_stop_daemon(s->d);
    struct http_render_stats st;
    http_render_stats(s->render, &st);
    assert_int_equal(st.held, 0); /* every byte given back */
    http_render_free(s->render);
    http_park_free(s->park);
}

/* ---- a raw client ----------------------------------------------------------
 */

static int client(unsigned port, const char *path, bool gzip, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n"
                     "\r\n",
                     path, gzip ? "Accept-Encoding: gzip\r\n" : "");
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    return fd;
}

/* Everything until the server closes (5 s at most without a byte). */
static void read_all(int fd, struct buf *out)
{
    buf_init(out, 0);
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 5000) != 1)
            break;
        char chunk[65536];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0)
            break;
        assert_int_equal(buf_append(out, chunk, (size_t)n), 0);
    }
    close(fd);
}

static const char *body_of(const struct buf *r)
{
    const char *end = strstr(buf_str(r), "\r\n\r\n");
    return end ? end + 4 : "";
}

static void wait_parked(struct server *s, size_t n)
{
    uint64_t until = now_mono_ms() + 10000;
    while (http_park_count(s->park) < n && now_mono_ms() < until)
        usleep(2000);
    assert_int_equal(http_park_count(s->park), n);
}

static void gunzip_into(const char *in, size_t len, struct buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
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
    inflateEnd(&zs);
}

static void reset_gate(size_t body_len)
{
    pthread_mutex_lock(&gate.m);
    gate.open = true;
    gate.fail = false;
    gate.entered = 0;
    gate.body_len = body_len;
    pthread_mutex_unlock(&gate.m);
}

/* ---- tests -----------------------------------------------------------------
 */

#define WAITERS 20

/* Requests that come while a render is under way wait for it, suspended,
 * and all get its one answer; meanwhile other paths are answered. */
static void test_shared_render(void **state)
{
    (void)state;
    reset_gate(100000);
    struct server s;
    server_start(&s, 0);
    gate_set(false);
    int fds[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        fds[i] = client(s.port, "/body", i % 4 == 0, 0);
    wait_parked(&s, WAITERS);
    /* The render is held: every request waits in the park, MHD's thread
     * is free for the rest. */
    int h = client(s.port, "/-/healthy", false, 0);
    struct buf hr;
    read_all(h, &hr);
    assert_true(strncmp(buf_str(&hr), "HTTP/1.1 200 ", 13) == 0);
    buf_free(&hr);
    assert_int_equal(gate.entered, 1);

    gate_set(true);
    size_t gzipped = 0;
    for (int i = 0; i < WAITERS; i++) {
        struct buf r;
        read_all(fds[i], &r);
        const char *head = buf_str(&r);
        assert_true(strncmp(head, "HTTP/1.1 200 ", 13) == 0);
        assert_non_null(strcasestr(head, "\r\nX-Test: 1\r\n"));
        assert_non_null(strcasestr(head, "\r\nVary: Accept-Encoding\r\n"));
        assert_non_null(strcasestr(head, "\r\nCache-Control: no-store\r\n"));
        const char *body = body_of(&r);
        size_t blen = r.len - (size_t)(body - r.data);
        struct buf text;
        buf_init(&text, 0);
        if (strcasestr(head, "\r\nContent-Encoding: gzip\r\n")) {
            gzipped++;
            assert_true(i % 4 == 0);
            gunzip_into(body, blen, &text);
        } else {
            assert_true(i % 4 != 0);
            assert_int_equal(buf_append(&text, body, blen), 0);
        }
        /* One render for all of them. */
        assert_int_equal(text.len, 100000);
        assert_true(strncmp(buf_str(&text), "render 1\n", 9) == 0);
        buf_free(&text);
        buf_free(&r);
    }
    assert_int_equal(gzipped, WAITERS / 4);
    struct http_render_stats st;
    http_render_stats(s.render, &st);
    assert_int_equal(st.renders, 1);
    assert_int_equal(st.gzips, 1);

    /* The next request, after that render, gets a new one: nothing is
     * served from an old render. */
    struct buf r;
    read_all(client(s.port, "/body", false, 0), &r);
    assert_true(strncmp(body_of(&r), "render 2\n", 9) == 0);
    buf_free(&r);
    http_render_stats(s.render, &st);
    assert_int_equal(st.renders, 2);
    assert_int_equal(st.gzips, 1); /* nobody asked for gzip */
    server_stop(&s);
}

/* Bodies that slow clients hold count against the cap; past it a new
 * render is refused until they are gone. */
static void test_memory_cap(void **state)
{
    (void)state;
    /* Larger than what the kernel's socket buffers take for a client
     * that reads nothing. */
    size_t len = 24u << 20;
    reset_gate(len);
    struct server s;
    server_start(&s, 2 * len - 1);
    int slow1 = client(s.port, "/body", false, 4096);
    /* Its headers came: the render is done, the body held. */
    struct pollfd pfd = {.fd = slow1, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    struct http_render_stats st;
    http_render_stats(s.render, &st);
    assert_true(st.held > len / 2);
    /* One more render would pass the cap. */
    struct buf r;
    read_all(client(s.port, "/body", false, 0), &r);
    assert_true(strncmp(buf_str(&r), "HTTP/1.1 503 ", 13) == 0);
    buf_free(&r);
    http_render_stats(s.render, &st);
    assert_int_equal(st.busy, 1);
    assert_int_equal(st.renders, 1);
    assert_true(st.held_peak <= 2 * len);
    /* The slow client leaves: its bytes go, renders run again. */
    close(slow1);
    uint64_t until = now_mono_ms() + 10000;
    do {
        usleep(10000);
        http_render_stats(s.render, &st);
    } while (st.held != 0 && now_mono_ms() < until);
    assert_int_equal(st.held, 0);
    read_all(client(s.port, "/body", false, 0), &r);
    assert_true(strncmp(buf_str(&r), "HTTP/1.1 200 ", 13) == 0);
    assert_true(strncmp(body_of(&r), "render 2\n", 9) == 0);
    buf_free(&r);
    server_stop(&s);
}

/* With nothing held a render always runs, even one larger than the cap;
 * the automatic cap follows the bodies' size. */
static void test_cap_edges(void **state)
{
    (void)state;
    reset_gate(5000);
    struct server s;
    server_start(&s, 100);
    struct buf r;
    read_all(client(s.port, "/body", false, 0), &r);
    assert_true(strncmp(buf_str(&r), "HTTP/1.1 200 ", 13) == 0);
    buf_free(&r);
    server_stop(&s);

    /* Small bodies: the floor. Large ones: HTTP_RENDER_BODIES of them. */
    server_start(&s, 0);
    struct http_render_stats st;
    http_render_stats(s.render, &st);
    assert_int_equal(st.memory_max, HTTP_RENDER_MEMORY_FLOOR);
    read_all(client(s.port, "/body", true, 0), &r);
    buf_free(&r);
    http_render_stats(s.render, &st);
    assert_int_equal(st.memory_max, HTTP_RENDER_MEMORY_FLOOR);
    reset_gate(20u << 20);
    read_all(client(s.port, "/body", false, 0), &r);
    buf_free(&r);
    http_render_stats(s.render, &st);
    assert_int_equal(st.memory_max, HTTP_RENDER_BODIES * (20u << 20));
    server_stop(&s);
}

/* A failed render is an answer too (500), to every waiter. */
static void test_render_failure(void **state)
{
    (void)state;
    reset_gate(100);
    struct server s;
    server_start(&s, 0);
    gate_set(false);
    pthread_mutex_lock(&gate.m);
    gate.fail = true;
    pthread_mutex_unlock(&gate.m);
    int a = client(s.port, "/body", false, 0);
    int b = client(s.port, "/body", true, 0);
    wait_parked(&s, 2);
    gate_set(true);
    struct buf ra, rb;
    read_all(a, &ra);
    read_all(b, &rb);
    assert_true(strncmp(buf_str(&ra), "HTTP/1.1 500 ", 13) == 0);
    assert_true(strncmp(buf_str(&rb), "HTTP/1.1 500 ", 13) == 0);
    buf_free(&ra);
    buf_free(&rb);
    server_stop(&s);
}

/* A request waits no longer than its deadline: the park wakes it and the
 * connection closes without an answer. */
static void test_deadline(void **state)
{
    (void)state;
    reset_gate(100);
    struct server s;
    server_start(&s, 0);
    s.wait_ms = 0;
    gate_set(false);
    int fd = client(s.port, "/body", false, 0);
    wait_parked(&s, 1);
    assert_int_equal(http_park_expire(s.park, now_mono_ms() - 60000), 0);
    assert_int_equal(http_park_expire(s.park, now_mono_ms()), 1);
    assert_int_equal(http_park_count(s.park), 0);
    struct buf r;
    read_all(fd, &r);
    assert_int_equal(r.len, 0);
    buf_free(&r);
    gate_set(true);
    server_stop(&s);
}

/* Stopping with requests suspended and a render held: they are woken,
 * MHD stops cleanly, later requests are refused. */
static void test_stop_while_waiting(void **state)
{
    (void)state;
    reset_gate(100);
    struct server s;
    server_start(&s, 0);
    gate_set(false);
    int fds[5];
    for (int i = 0; i < 5; i++)
        fds[i] = client(s.port, "/body", false, 0);
    wait_parked(&s, 5);
    /* The render under way is finished and handed out, then the thread
     * stops. */
    gate_set(true);
    http_render_stop(s.render);
    /* Stopped: a new request is told so, without waiting. */
    struct buf r;
    read_all(client(s.port, "/body", false, 0), &r);
    assert_true(strncmp(buf_str(&r), "HTTP/1.1 503 ", 13) == 0);
    buf_free(&r);
    http_park_close(s.park);
    struct http_waiter w;
    assert_int_equal(http_park_wait(s.park, &w, NULL, 1, 0), -1);
    MHD_stop_daemon(s.d);
    for (int i = 0; i < 5; i++) {
        read_all(fds[i], &r);
        /* Answered by the render that finished, or closed. */
        assert_true(r.len == 0 ||
                    strncmp(buf_str(&r), "HTTP/1.1 200 ", 13) == 0);
        buf_free(&r);
    }
    http_render_free(s.render);
    http_park_free(s.park);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_render),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_cap_edges),
        cmocka_unit_test(test_render_failure),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_stop_while_waiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
