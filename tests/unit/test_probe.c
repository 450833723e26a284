/* test_probe: the prober against a real socket on loopback, for what only
 * the agent's own process can cause: running out of file descriptors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pthread.h>

#include <curl/curl.h>

#include "log.h"
#include "probe.h"

struct outcome {
    bool done;
    struct probe_result res;
};

static void on_done(void *user, const struct probe_result *r)
{
    struct outcome *o = user;
    o->done = true;
    o->res = *r;
}

/* A listening socket on 127.0.0.1 that nobody accepts from: a probe gets
 * as far as connect() and then waits; the port. */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static struct target_config target_at(int port)
{
    struct target_config t;
    memset(&t, 0, sizeof(t));
    t.name = "fd-test";
    t.host = "127.0.0.1";
    t.server_name = "127.0.0.1";
    t.ehlo_name = "probe.test";
    t.ca_file = t.username = t.source_address = "";
    t.port = (unsigned)port;
    t.tls = TLS_MODE_NONE;
    t.interval_ms = 60000;
    t.timeout_ms = 2000;
    return t;
}

static void run_until_done(struct prober *pr, struct outcome *o)
{
    for (int i = 0; i < 100 && !o->done; i++)
        assert_true(prober_run(pr, 50, -1) >= 0);
    assert_true(o->done);
}

/*
 * Runs one probe of host:port with every descriptor in use (a limit of
 * 64, filled with dup()), and returns its result.
 */
static struct probe_result probe_without_descriptors(const char *host,
                                                     int port, int spare)
{
    struct outcome o = {0};
    struct prober *pr = prober_new(on_done, &o);
    assert_non_null(pr);
    struct target_config t = target_at(port);
    t.host = t.server_name = host;

    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    struct rlimit low = old;
    low.rlim_cur = 64;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fds[64], n = 0;
    while (n < 64) {
        int fd = dup(spare);
        if (fd < 0) {
            assert_int_equal(errno, EMFILE);
            break;
        }
        fds[n++] = fd;
    }
    int started = prober_start(pr, &t, 7);
    if (started == 0)
        run_until_done(pr, &o);
    while (n > 0)
        close(fds[--n]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    prober_free(pr);
    /* Starting needs no descriptor of its own: it must not fail. */
    assert_int_equal(started, 0);
    return o.res;
}

/*
 * With every descriptor in use, the probe cannot make its socket (or,
 * for a host name, the resolver its thread's socket pair): that is the
 * agent's failure (fault file_descriptors), never the target's. Before,
 * it was counted as stage=connect error=connect, "Couldn't connect ...
 * after 0 ms" (or error=dns).
 */
static void test_out_of_descriptors_is_the_agents_fault(void **state)
{
    (void)state;
    int port;
    int lfd = listener(&port);
    static const char *const hosts[] = {"127.0.0.1", "localhost"};
    for (size_t i = 0; i < 2; i++) {
        struct probe_result r = probe_without_descriptors(hosts[i], port, lfd);
        if (r.fault != PROBE_FAULT_FILE_DESCRIPTORS)
            fail_msg("%s: fault %d, error %s, detail: %s", hosts[i], r.fault,
                     probe_error_name(r.error), r.detail);
        assert_false(r.success);
        assert_non_null(strstr(r.detail, "ran out of file descriptors"));
        assert_non_null(strstr(r.detail, "RLIMIT_NOFILE, is 64"));
    }

    /* With descriptors back, the same probe reaches the server: the
     * listener never greets, so the deadline ends it (the target's). */
    struct outcome o = {0};
    struct prober *pr = prober_new(on_done, &o);
    assert_non_null(pr);
    struct target_config t = target_at(port);
    t.timeout_ms = 300;
    assert_int_equal(prober_start(pr, &t, 8), 0);
    run_until_done(pr, &o);
    assert_int_equal(o.res.fault, PROBE_FAULT_NONE);
    assert_int_equal(o.res.error, PROBE_ERROR_TIMEOUT);
    assert_int_equal(o.res.stage, PROBE_STAGE_GREETING);
    prober_free(pr);
    close(lfd);
}

/*
 * A one-connection SMTP server in a thread: greets, answers EHLO with
 * AUTH PLAIN, AUTH with 535 and QUIT with 221, then closes.
 */
struct tiny_server {
    int lfd;
    pthread_t thread;
    char auth_line[256]; /* the AUTH command it got, CR cut */
};

static void send_all(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

static void *tiny_server_main(void *arg)
{
    struct tiny_server *ts = arg;
    int fd = accept(ts->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    send_all(fd, "220 tiny ESMTP\r\n");
    char line[1024];
    size_t len = 0;
    for (;;) {
        char c;
        if (recv(fd, &c, 1, 0) != 1)
            break;
        if (c != '\n') {
            if (len < sizeof(line) - 1)
                line[len++] = c;
            continue;
        }
        line[len] = '\0';
        len = 0;
        if (strncmp(line, "EHLO", 4) == 0) {
            send_all(fd, "250-tiny\r\n250 AUTH PLAIN\r\n");
        } else if (strncmp(line, "AUTH", 4) == 0) {
            snprintf(ts->auth_line, sizeof(ts->auth_line), "%.*s",
                     (int)strcspn(line, "\r"), line);
            send_all(fd, "535 5.7.8 no\r\n");
        } else if (strncmp(line, "QUIT", 4) == 0) {
            send_all(fd, "221 bye\r\n");
            break;
        } else {
            send_all(fd, "502 what\r\n");
        }
    }
    close(fd);
    return NULL;
}

static int tiny_server_start(struct tiny_server *ts)
{
    int port;
    ts->lfd = listener(&port);
    assert_int_equal(pthread_create(&ts->thread, NULL, tiny_server_main, ts),
                     0);
    return port;
}

static void tiny_server_stop(struct tiny_server *ts)
{
    pthread_join(ts->thread, NULL);
    close(ts->lfd);
}

/* Runs one probe of t with the log at debug level; the log's text. */
static char *probe_logged(const struct target_config *t, struct outcome *o)
{
    FILE *logf = tmpfile();
    assert_non_null(logf);
    log_set_stream(logf);
    log_set_level(LOG_LEVEL_DEBUG);
    struct prober *pr = prober_new(on_done, o);
    assert_non_null(pr);
    assert_int_equal(prober_start(pr, t, 9), 0);
    run_until_done(pr, o);
    prober_free(pr);
    log_set_level(LOG_LEVEL_INFO);
    log_set_stream(NULL);

    long size = ftell(logf);
    assert_true(size > 0);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    rewind(logf);
    assert_int_equal(fread(text, 1, (size_t)size, logf), (size_t)size);
    fclose(logf);
    return text;
}

/* Each transition is traced once, in order, "from=X to=Y". */
static void assert_trace(const char *log, const char *const *steps, size_t n)
{
    const char *at = log;
    for (size_t i = 0; i < n; i++) {
        char want[96];
        snprintf(want, sizeof(want), "msg=state target=trace session=1 %s",
                 steps[i]);
        const char *hit = strstr(at, want);
        if (!hit)
            fail_msg("no \"%s\" after offset %zu in:\n%s", want,
                     (size_t)(at - log), log);
        at = hit + strlen(want);
    }
    size_t states = 0;
    for (const char *p = strstr(log, "msg=state "); p;
         p = strstr(p + 1, "msg=state "))
        states++;
    assert_int_equal(states, n);
}

/* An EHLO-only probe goes greeting, EHLO, QUIT, and says so at debug. */
static void test_every_state_change_is_traced(void **state)
{
    (void)state;
    struct tiny_server ts;
    struct target_config t = target_at(tiny_server_start(&ts));
    t.name = "trace";
    struct outcome o = {0};
    char *log = probe_logged(&t, &o);
    tiny_server_stop(&ts);

    assert_true(o.res.success);
    assert_int_equal(o.res.replies[PROBE_STAGE_QUIT].code, 221);
    static const char *const steps[] = {
        "from=new to=greeting", "from=greeting to=ehlo", "from=ehlo to=ready",
        "from=ready to=quit",   "from=quit to=done",
    };
    assert_trace(log, steps, sizeof(steps) / sizeof(steps[0]));
    free(log);
}

/*
 * With AUTH (in clear, as the target allows), the trace has AUTH's
 * states too, and the debug log holds no form of the secret: neither
 * the password nor the base64 AUTH PLAIN token.
 */
static void test_auth_is_traced_without_the_secret(void **state)
{
    (void)state;
    static char password[] = "tr4ce-Secret-pw";
    struct tiny_server ts = {0};
    struct target_config t = target_at(tiny_server_start(&ts));
    t.name = "trace";
    t.username = "monitor";
    t.mechs[0] = SASL_MECH_PLAIN;
    t.n_mechs = 1;
    t.secret = password;
    t.secret_len = strlen(password);
    t.allow_plaintext_auth = true;
    struct outcome o = {0};
    char *log = probe_logged(&t, &o);
    tiny_server_stop(&ts);

    assert_false(o.res.success);
    assert_int_equal(o.res.stage, PROBE_STAGE_AUTH);
    assert_int_equal(o.res.auth[0].reply.code, 535);
    assert_true(o.res.auth[0].attempted);
    static const char *const steps[] = {
        "from=new to=greeting", "from=greeting to=ehlo", "from=ehlo to=ready",
        "from=ready to=auth",   "from=auth to=quit",     "from=quit to=done",
    };
    assert_trace(log, steps, sizeof(steps) / sizeof(steps[0]));
    /* base64("\0monitor\0tr4ce-Secret-pw") */
    assert_null(strstr(log, password));
    assert_null(strstr(log, "AG1vbml0b3IAdHI0Y2UtU2VjcmV0LXB3"));
    /* ... and yet it went to the server, whole. */
    assert_string_equal(ts.auth_line,
                        "AUTH PLAIN AG1vbml0b3IAdHI0Y2UtU2VjcmV0LXB3");
    free(log);
}

/*
 * Every phase and fault has a name of its own: the names are label
 * values, and a value added to an enum without one would merge two
 * series (or show "unknown").
 */
static void test_every_phase_and_fault_is_named(void **state)
{
    (void)state;
    const char *seen[PROBE_PHASE_COUNT + PROBE_FAULT_COUNT];
    size_t n = 0;
    for (int i = 0; i < PROBE_PHASE_COUNT; i++)
        seen[n++] = probe_phase_name((enum probe_phase)i);
    for (int i = 0; i < PROBE_FAULT_COUNT; i++)
        seen[n++] = probe_fault_name((enum probe_fault)i);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(seen[i]);
        assert_true(seen[i][0] != '\0');
        assert_string_not_equal(seen[i], "unknown");
        /* Distinct: no two phases or faults share a name, nor does a
         * phase with a fault. */
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
    }
    assert_string_equal(probe_phase_name(PROBE_PHASE_COUNT), "unknown");
    assert_string_equal(probe_fault_name(PROBE_FAULT_COUNT), "unknown");
    assert_string_equal(probe_phase_name(PROBE_PHASE_STARTTLS), "starttls");
    /* Issue 15: implicit TLS's handshake is a phase of its own. */
    assert_string_equal(probe_phase_name(PROBE_PHASE_TLS), "tls");
    assert_string_equal(probe_fault_name(PROBE_FAULT_FILE_DESCRIPTORS),
                        "file_descriptors");
}

/* A freed probe and its session are kept for the next probe: probes one
 * after another allocate one of each, then nothing; each starts from
 * zero all the same (its own id and target, no reply of the last). */
static void test_probes_reuse_their_memory(void **state)
{
    (void)state;
    int port;
    int fd = listener(&port);
    close(fd); /* refused from now on: each probe ends at connect */
    struct outcome o = {0};
    struct prober *pr = prober_new(on_done, &o);
    assert_non_null(pr);
    struct target_config t = target_at(port);
    for (uint64_t id = 1; id <= 5; id++) {
        memset(&o, 0, sizeof(o));
        t.name = id % 2 ? "odd" : "even";
        assert_int_equal(prober_start(pr, &t, id), 0);
        run_until_done(pr, &o);
        assert_int_equal(o.res.id, id);
        assert_string_equal(o.res.target, t.name);
        assert_false(o.res.success);
        assert_int_equal(o.res.stage, PROBE_STAGE_CONNECT);
        assert_int_equal(o.res.n_seen, 0);
        assert_int_equal(prober_allocations(pr), 2);
    }
    /* Two at once need a second of each. */
    assert_int_equal(prober_start(pr, &t, 6), 0);
    assert_int_equal(prober_start(pr, &t, 7), 0);
    assert_int_equal(prober_allocations(pr), 4);
    for (int i = 0; i < 100 && prober_in_flight(pr) > 0; i++)
        assert_true(prober_run(pr, 50, -1) >= 0);
    assert_int_equal(prober_in_flight(pr), 0);
    prober_free(pr);
}

/* token_file that cannot be read: stage token, and no connection at
 * all (the listener would take one); the result says so, not connect. */
static void test_token_file_missing_is_stage_token(void **state)
{
    (void)state;
    int port = 0;
    int fd = listener(&port);
    struct target_config t = target_at(port);
    enum sasl_mech mech = SASL_MECH_XOAUTH2;
    t.mechs[0] = mech;
    t.n_mechs = 1;
    t.username = "u@example.com";
    t.token_file = "/nonexistent/smtp-health-agent-test.token";
    struct outcome o = {0};
    struct prober *pr = prober_new(on_done, &o);
    assert_non_null(pr);
    assert_int_equal(prober_start(pr, &t, 1), 0);
    run_until_done(pr, &o);
    assert_false(o.res.success);
    assert_int_equal(o.res.fault, PROBE_FAULT_NONE);
    assert_int_equal(o.res.stage, PROBE_STAGE_TOKEN);
    assert_int_equal(o.res.error, PROBE_ERROR_NONE);
    assert_string_equal(o.res.detail,
                        "token: cannot read "
                        "/nonexistent/smtp-health-agent-test.token: No such "
                        "file or directory");
    assert_string_equal(o.res.address, "");
    assert_false(o.res.auth[0].attempted);
    prober_free(pr);
    close(fd);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_phase_and_fault_is_named),
        cmocka_unit_test(test_probes_reuse_their_memory),
        cmocka_unit_test(test_every_state_change_is_traced),
        cmocka_unit_test(test_auth_is_traced_without_the_secret),
        cmocka_unit_test(test_out_of_descriptors_is_the_agents_fault),
        cmocka_unit_test(test_token_file_missing_is_stage_token),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
