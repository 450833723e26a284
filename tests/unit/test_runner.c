/* test_runner: what the runner does with results built by hand: faults of
 * the agent itself are never the target's, and their log is rate-limited.
 * No probe runs (results go in through runner_probe_done) but in the
 * /probe test, whose probes wait on a loopback socket that never
 * answers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "ondemand.h"
#include "probe_expo.h"
#include "runner.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
    return fake_now;
}

/* Two EHLO-only targets that are never probed here (no runner_step while
 * they are due). The runner numbers the targets of its first config 1..n
 * in config order. */
/* zero_series: the target's counters are there at 0 to show that a
 * fault counted none of them. */
static const char two_targets[] = "[agent]\n"
                                  "interval = 1h\n"
                                  "extra_metrics = zero_series\n"
                                  "[target \"mx1\"]\n"
                                  "host = 127.0.0.1\n"
                                  "port = 1\n"
                                  "tls = none\n"
                                  "[target \"mx2\"]\n"
                                  "host = 127.0.0.1\n"
                                  "port = 1\n"
                                  "tls = none\n";

static struct agent_config *load(const char *text)
{
    struct config_diag d;
    config_diag_init(&d);
    struct agent_config *cfg = config_load_string("test.ini", text, &d);
    if (!cfg)
        fail_msg("config: %.*s", (int)d.errors.len, d.errors.data);
    config_diag_free(&d);
    return cfg;
}

static struct probe_result result(uint64_t id, const char *target,
                                  enum probe_fault fault)
{
    struct probe_result r;
    memset(&r, 0, sizeof(r));
    snprintf(r.target, sizeof(r.target), "%s", target);
    r.id = id;
    r.fault = fault;
    r.stage = PROBE_STAGE_CONNECT;
    r.error = PROBE_ERROR_CONNECT;
    for (int p = 0; p < PROBE_PHASE_COUNT; p++)
        r.phase_seconds[p] = -1;
    snprintf(r.detail, sizeof(r.detail), "%s",
             fault == PROBE_FAULT_MEMORY
                 ? "curl_easy_init: out of memory"
                 : "socket: Too many open files (RLIMIT_NOFILE 64)");
    return r;
}

static char *render(struct metrics *m)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(metrics_render(m, &b), 0);
    return buf_take(&b);
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
            return true;
    return false;
}

/* The log so far, as a string the caller frees. */
static char *log_text(FILE *f)
{
    fflush(f);
    long len = ftell(f);
    assert_true(len >= 0);
    char *s = calloc(1, (size_t)len + 1);
    assert_non_null(s);
    rewind(f);
    assert_int_equal(fread(s, 1, (size_t)len, f), (size_t)len);
    return s;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_fault_is_the_agents(void **state)
{
    (void)state;
    FILE *logf = tmpfile();
    assert_non_null(logf);
    log_set_stream(logf);
    struct metrics *m = metrics_new(NULL);
    assert_non_null(m);
    struct runner *r = runner_new(m, false, 1);
    assert_non_null(r);
    runner_set_clock(r, fake_clock);
    fake_now = 1000;
    assert_int_equal(runner_set_config(r, load(two_targets)), 0);

    /* 200 in one burst: each counted, one line. */
    for (int i = 0; i < 200; i++) {
        struct probe_result res =
            result(1, "mx1", PROBE_FAULT_FILE_DESCRIPTORS);
        runner_probe_done(r, &res);
    }
    char *text = render(m);
    assert_true(has_line(text, "smtp_agent_resource_failures_total"
                               "{resource=\"file_descriptors\"} 200"));
    assert_true(has_line(text, "smtp_agent_resource_failures_total"
                               "{resource=\"memory\"} 0"));
    /* Nothing of it is the target's. */
    assert_true(has_line(text, "smtp_probes_total{target=\"mx1\"} 0"));
    assert_true(has_line(text, "smtp_probe_failures_total{target=\"mx1\","
                               "stage=\"connect\"} 0"));
    assert_true(has_line(text, "smtp_probe_errors_total{target=\"mx1\","
                               "error=\"connect\"} 0"));
    assert_null(strstr(text, "smtp_probe_success{"));
    free(text);
    char *lg = log_text(logf);
    assert_int_equal(
        count_of(lg, "probe abandoned: the agent is out of file descriptors"),
        1);
    assert_non_null(strstr(lg, "level=warn module=runner"));
    assert_non_null(strstr(lg, "resource=file_descriptors count=1 "
                               "target=mx1 detail=\"socket: Too many open "
                               "files (RLIMIT_NOFILE 64)\""));
    assert_null(strstr(lg, "probe failed"));
    free(lg);

    /* Within 10 s: still one line. After: one, with the count since. */
    fake_now = 5000;
    struct probe_result res = result(2, "mx2", PROBE_FAULT_FILE_DESCRIPTORS);
    runner_probe_done(r, &res);
    lg = log_text(logf);
    assert_int_equal(count_of(lg, "out of file descriptors"), 1);
    free(lg);
    fake_now = 11000;
    runner_probe_done(r, &res);
    lg = log_text(logf);
    assert_int_equal(count_of(lg, "out of file descriptors"), 2);
    assert_non_null(strstr(lg, "resource=file_descriptors count=201 "
                               "target=mx2 "));
    free(lg);

    /* Each resource has its own limit: memory is logged at once. */
    res = result(1, "mx1", PROBE_FAULT_MEMORY);
    runner_probe_done(r, &res);
    lg = log_text(logf);
    assert_int_equal(count_of(lg, "probe abandoned: the agent is out of "
                                  "memory"),
                     1);
    assert_non_null(strstr(lg, "resource=memory count=1 target=mx1 "));
    free(lg);

    /* A fault of a target removed meanwhile still counts: the agent's. */
    res = result(99, "gone", PROBE_FAULT_MEMORY);
    runner_probe_done(r, &res);

    /* The target's own failure counts as before. */
    res = result(2, "mx2", PROBE_FAULT_NONE);
    runner_probe_done(r, &res);
    text = render(m);
    assert_true(has_line(text, "smtp_agent_resource_failures_total"
                               "{resource=\"file_descriptors\"} 202"));
    assert_true(has_line(text, "smtp_agent_resource_failures_total"
                               "{resource=\"memory\"} 2"));
    assert_true(has_line(text, "smtp_probes_total{target=\"mx1\"} 0"));
    assert_true(has_line(text, "smtp_probes_total{target=\"mx2\"} 1"));
    assert_true(has_line(text, "smtp_probe_errors_total{target=\"mx2\","
                               "error=\"connect\"} 1"));
    free(text);
    lg = log_text(logf);
    assert_int_equal(count_of(lg, "msg=\"probe failed\" target=mx2"), 1);
    free(lg);

    runner_free(r);
    metrics_free(m);
    log_set_stream(NULL);
    fclose(logf);
}

/* Faults held back by the limit get their line when it allows, from the
 * loop, even when no other fault comes. */
static void test_fault_log_flushed_by_the_loop(void **state)
{
    (void)state;
    FILE *logf = tmpfile();
    assert_non_null(logf);
    log_set_stream(logf);
    struct runner *r = runner_new(NULL, false, 1);
    assert_non_null(r);
    runner_set_clock(r, fake_clock);
    /* Loaded "later" than the steps below run: no target is due in this
     * test, so runner_step starts no probe. */
    fake_now = 1000000000;
    assert_int_equal(runner_set_config(r, load(two_targets)), 0);
    fake_now = 1000;
    for (int i = 0; i < 5; i++) {
        struct probe_result res =
            result(7, "old", PROBE_FAULT_FILE_DESCRIPTORS);
        runner_probe_done(r, &res);
    }
    assert_int_equal(runner_step(r, -1, 0), 0);
    char *lg = log_text(logf);
    assert_int_equal(count_of(lg, "out of file descriptors"), 1);
    free(lg);
    fake_now = 10999;
    assert_int_equal(runner_step(r, -1, 0), 0);
    lg = log_text(logf);
    assert_int_equal(count_of(lg, "out of file descriptors"), 1);
    free(lg);
    fake_now = 11000;
    assert_int_equal(runner_step(r, -1, 0), 0);
    assert_int_equal(runner_step(r, -1, 0), 0);
    lg = log_text(logf);
    assert_int_equal(count_of(lg, "out of file descriptors"), 2);
    assert_non_null(strstr(lg, "resource=file_descriptors count=4 "));
    free(lg);
    runner_free(r);
    log_set_stream(NULL);
    fclose(logf);
}

/* --once: the row of a target the agent failed keeps the fault, and it
 * counts as done. */
static void test_once_keeps_the_fault(void **state)
{
    (void)state;
    FILE *logf = tmpfile();
    assert_non_null(logf);
    log_set_stream(logf);
    struct runner *r = runner_new(NULL, true, 1);
    assert_non_null(r);
    assert_int_equal(runner_set_config(r, load(two_targets)), 0);
    struct probe_result res = result(1, "mx1", PROBE_FAULT_FILE_DESCRIPTORS);
    runner_probe_done(r, &res);
    assert_false(runner_finished(r));
    res = result(2, "mx2", PROBE_FAULT_NONE);
    runner_probe_done(r, &res);
    assert_true(runner_finished(r));
    size_t n;
    const struct probe_result *out = runner_results(r, &n);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].target, "mx1");
    assert_int_equal(out[0].fault, PROBE_FAULT_FILE_DESCRIPTORS);
    assert_int_equal(out[1].fault, PROBE_FAULT_NONE);
    assert_int_equal(out[1].error, PROBE_ERROR_CONNECT);
    runner_free(r);
    log_set_stream(NULL);
    fclose(logf);
}

/* n EHLO-only targets named t<first>..t<first + n - 1>, 10 per host. */
static struct agent_config *many_targets(size_t first, size_t n)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_puts(&b, "[agent]\ninterval = 1h\n"), 0);
    for (size_t i = first; i < first + n; i++)
        assert_int_equal(buf_printf(&b,
                                    "[target \"t%zu\"]\nhost = mx%zu.example\n"
                                    "port = 1\ntls = none\n",
                                    i, i / 10),
                         0);
    char *text = buf_take(&b);
    struct agent_config *cfg = load(text);
    free(text);
    return cfg;
}

/* smtp_probes_total of t0..t(n - 1) from one scrape: -1 where the series
 * is absent. */
static void probes_by_target(struct metrics *m, long *count, size_t n)
{
    static const char prefix[] = "smtp_probes_total{target=\"t";
    for (size_t i = 0; i < n; i++)
        count[i] = -1;
    char *text = render(m);
    for (const char *p = strstr(text, prefix); p; p = strstr(p + 1, prefix)) {
        if (p != text && p[-1] != '\n')
            continue;
        char *end;
        unsigned long i = strtoul(p + sizeof(prefix) - 1, &end, 10);
        assert_true(end[0] == '"' && end[1] == '}' && end[2] == ' ');
        assert_true(i < n);
        count[i] = strtol(end + 3, NULL, 10);
    }
    free(text);
}

/*
 * Issue 11: a reload of 10,000 targets that drops 1,000 and adds 1,000
 * keeps the counters and the ids of the 9,000 others: results under
 * their old ids still count, those of the dropped ones no longer do, and
 * the new ones start at 0 under ids of their own.
 */
static void test_reload_many_keeps_counters(void **state)
{
    (void)state;
    enum { N = 10000, REPLACED = 1000 };
    FILE *logf = tmpfile();
    assert_non_null(logf);
    log_set_stream(logf);
    struct metrics *m = metrics_new(NULL);
    assert_non_null(m);
    struct runner *r = runner_new(m, false, 1);
    assert_non_null(r);
    runner_set_clock(r, fake_clock);
    fake_now = 1000;
    assert_int_equal(runner_set_config(r, many_targets(0, N)), 0);
    char name[16];
    for (size_t i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "t%zu", i);
        struct probe_result res = result(i + 1, name, PROBE_FAULT_NONE);
        for (size_t k = 0; k < 1 + i % 3; k++)
            runner_probe_done(r, &res);
    }
    assert_int_equal(runner_set_config(r, many_targets(REPLACED, N)), 0);
    assert_int_equal(runner_config(r)->n_targets, N);

    long *count = calloc(N + REPLACED, sizeof(*count));
    assert_non_null(count);
    probes_by_target(m, count, N + REPLACED);
    for (size_t i = 0; i < N + REPLACED; i++) {
        long want = i < REPLACED ? -1 : i < N ? (long)(1 + i % 3) : 0;
        if (count[i] != want)
            fail_msg("t%zu: %ld probes, want %ld", i, count[i], want);
    }
    /* A dropped target's id is dead; a survivor's still counts; a new
     * target's is after the first config's. */
    struct probe_result gone = result(1, "t0", PROBE_FAULT_NONE);
    struct probe_result kept = result(REPLACED + 1, "t1000", PROBE_FAULT_NONE);
    struct probe_result added = result(N + 1, "t10000", PROBE_FAULT_NONE);
    runner_probe_done(r, &gone);
    runner_probe_done(r, &kept);
    runner_probe_done(r, &added);
    probes_by_target(m, count, N + REPLACED);
    assert_int_equal(count[0], -1);
    assert_int_equal(count[REPLACED], 1 + REPLACED % 3 + 1);
    assert_int_equal(count[N], 1);
    free(count);
    runner_free(r);
    metrics_free(m);
    log_set_stream(NULL);
    fclose(logf);
}

/* A loopback port that takes connections (the kernel's backlog) and
 * never says a word: a probe of it waits for the greeting until its
 * timeout. */
static int silent_listener(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static struct agent_config *labelled(unsigned port, const char *agent,
                                     const char *target, const char *module)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "[agent]\ninterval = 1h\ntimeout = 300ms\nlabels = %s\n"
             "[target \"mx1\"]\nhost = 127.0.0.1\nport = %u\ntls = none\n"
             "%s%s\n"
             "[module \"m\"]\ntls = none\nallowed_targets = 127.0.0.1:%u\n"
             "%s%s\n",
             agent, port, target ? "labels = " : "", target ? target : "",
             port, module ? "labels = " : "", module ? module : "");
    return load(text);
}

static struct ondemand_job *od_submit(struct ondemand *q, const char *target,
                                      const char *module, unsigned port)
{
    struct ondemand_job *j = ondemand_job_new();
    assert_non_null(j);
    snprintf(j->target, sizeof(j->target), "%s", target);
    snprintf(j->module, sizeof(j->module), "%s", module);
    snprintf(j->host, sizeof(j->host), "%s", module[0] ? "127.0.0.1" : "");
    j->port = port;
    j->deadline_ms = fake_now + 60000;
    assert_int_equal(ondemand_submit(q, j, NULL, NULL), ONDEMAND_QUEUED);
    return j;
}

/* Steps the runner until no job is pending (a few seconds at most). */
static void od_wait(struct runner *r, struct ondemand_job **jobs, size_t n)
{
    for (int turn = 0; turn < 200; turn++) {
        size_t pending = 0;
        for (size_t i = 0; i < n; i++)
            pending += jobs[i]->status == ONDEMAND_PENDING;
        if (!pending)
            return;
        assert_int_equal(runner_step(r, -1, 20), 0);
    }
    fail_msg("a /probe job is still pending");
}

/* probe_success's line of a finished job, as /probe answers it. */
static void assert_success_line(const struct ondemand_job *j, const char *want)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(j->status, ONDEMAND_DONE);
    assert_int_equal(probe_expo_render(&b, &j->result, j->labels, NULL), 0);
    if (!strstr(buf_str(&b), want))
        fail_msg("no \"%s\" in:\n%s", want, buf_str(&b));
    buf_free(&b);
}

/*
 * /probe's answer carries the labels of the target (or module) it
 * probed, as the config had them when the probe started: a copy in the
 * job, since a reload frees that config while the probe runs and the
 * HTTP thread renders the answer after (the ASan build reads no freed
 * memory here). The next probe has the new labels.
 */
static void test_ondemand_keeps_labels(void **state)
{
    (void)state;
    FILE *logf = tmpfile();
    assert_non_null(logf);
    log_set_stream(logf);
    unsigned port;
    int lfd = silent_listener(&port);
    struct ondemand *q = ondemand_new(0, -1);
    assert_non_null(q);
    struct runner *r = runner_new(NULL, false, 1);
    assert_non_null(r);
    runner_set_ondemand(r, q);
    runner_set_clock(r, fake_clock);
    /* Loaded "later" than the steps run: the schedule probes nothing. */
    fake_now = 1000000000;
    assert_int_equal(
        runner_set_config(r, labelled(port, "env=prod", "team=mail", NULL)),
        0);
    fake_now = 1000;
    struct ondemand_job *jobs[3] = {od_submit(q, "mx1", "", 0),
                                    od_submit(q, "", "m", port)};
    assert_int_equal(runner_step(r, -1, 0), 0);
    assert_int_equal(jobs[0]->status, ONDEMAND_PENDING);
    assert_int_equal(jobs[1]->status, ONDEMAND_PENDING);
    /* Both probing; the config they started with is freed. */
    assert_int_equal(runner_set_config(r, labelled(port, "env=test",
                                                   "team=dns zone=eu", "x=y")),
                     0);
    od_wait(r, jobs, 2);
    assert_success_line(jobs[0], "\nprobe_success{team=\"mail\"} 0\n");
    assert_success_line(jobs[1], "\nprobe_success{env=\"prod\"} 0\n");
    assert_int_equal(jobs[1]->result.error, PROBE_ERROR_TIMEOUT);

    jobs[2] = od_submit(q, "mx1", "", 0);
    ondemand_put(jobs[0]);
    jobs[0] = od_submit(q, "", "m", port);
    od_wait(r, jobs, 3);
    assert_success_line(jobs[2],
                        "\nprobe_success{team=\"dns\",zone=\"eu\"} 0\n");
    assert_success_line(jobs[0], "\nprobe_success{x=\"y\"} 0\n");

    runner_free(r);
    for (size_t i = 0; i < 3; i++)
        ondemand_put(jobs[i]);
    ondemand_close(q);
    ondemand_free(q);
    close(lfd);
    log_set_stream(NULL);
    fclose(logf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_is_the_agents),
        cmocka_unit_test(test_fault_log_flushed_by_the_loop),
        cmocka_unit_test(test_once_keeps_the_fault),
        cmocka_unit_test(test_reload_many_keeps_counters),
        cmocka_unit_test(test_ondemand_keeps_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
