/* test_metrics: the store's series, reloads, order, promtool, threads; and
 * procstat's process_* families. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expo.h"
#include "metrics.h"
#include "metrics_internal.h"
#include "procstat.h"

#define WEIRD_HOST "we\"ird\\host\nx"

static const struct metrics_build_info build = {"0.1.0", "7.88.1",
                                                "OpenSSL 3.0.15", "0.9.75"};

/* Every extra_metrics option: the tests of the detailed series use it;
 * test_series_per_option and test_default_series the default. */
#define ALL_EXTRA ((1u << CONFIG_EXTRA_COUNT) - 1)
#define EXTRA(e)  CONFIG_EXTRA_BIT(CONFIG_EXTRA_##e)

/* name and host are kept by pointer, as a config's are. */
static void target_set(struct target_config *t, const char *name,
                       const char *host, unsigned port, enum tls_mode tls,
                       const enum sasl_mech *mechs, size_t n_mechs)
{
    memset(t, 0, sizeof *t);
    t->name = name;
    t->host = host;
    t->port = port;
    t->tls = tls;
    t->tls_verify = true; /* the config's default */
    t->extra_metrics = ALL_EXTRA;
    for (size_t i = 0; i < n_mechs; i++)
        t->mechs[i] = mechs[i];
    t->n_mechs = n_mechs;
}

/* Two targets, given out of order: "mx2" (no AUTH, a weird host, its
 * certificate not verified) before "mx1" (PLAIN and LOGIN). */
static void config_two(struct agent_config *cfg, struct target_config *t)
{
    static const enum sasl_mech mechs[] = {SASL_MECH_PLAIN, SASL_MECH_LOGIN};
    memset(cfg, 0, sizeof *cfg);
    target_set(&t[0], "mx2", WEIRD_HOST, 465, TLS_MODE_IMPLICIT, NULL, 0);
    t[0].tls_verify = false;
    target_set(&t[1], "mx1", "mx1.example.com", 587, TLS_MODE_STARTTLS, mechs,
               2);
    cfg->targets = t;
    cfg->n_targets = 2;
}

static void result_init(struct probe_result *r, const char *target)
{
    memset(r, 0, sizeof *r);
    snprintf(r->target, sizeof r->target, "%s", target);
    for (int p = 0; p < PROBE_PHASE_COUNT; p++)
        r->phase_seconds[p] = -1;
    r->stage = PROBE_STAGE_QUIT;
}

static void reply_set(struct probe_reply *rp, enum probe_stage s, int code)
{
    rp->code = code;
    rp->cls = classify_reply(s, code);
}

/*
 * The probe lists every final reply in seen[]; these fabricated results
 * list one per stage with a reply, and one per AUTH attempt with a reply
 * (or the AUTH reply when no attempt has one), then go to the store.
 */
static void record(struct metrics *m, struct probe_result *r)
{
    r->n_seen = 0;
    for (int s = 0; s < PROBE_STAGE_COUNT; s++) {
        if (s == PROBE_STAGE_AUTH) {
            size_t before = r->n_seen;
            for (size_t i = 0; i < r->n_auth; i++)
                if (r->auth[i].reply.code)
                    r->seen[r->n_seen++] = (struct probe_seen){
                        PROBE_STAGE_AUTH, r->auth[i].reply.code};
            if (r->n_seen > before || !r->replies[s].code)
                continue;
        } else if (!r->replies[s].code) {
            continue;
        }
        r->seen[r->n_seen++] =
            (struct probe_seen){(enum probe_stage)s, r->replies[s].code};
    }
    metrics_record(m, r, NULL);
}

/* STARTTLS + AUTH: PLAIN gets 235, LOGIN gets 535. */
static void result_auth_mixed(struct probe_result *r)
{
    result_init(r, "mx1");
    r->success = false;
    r->stage = PROBE_STAGE_AUTH;
    r->start_time = 1700000000.25;
    r->duration_seconds = 0.07;
    reply_set(&r->replies[PROBE_STAGE_GREETING], PROBE_STAGE_GREETING, 220);
    reply_set(&r->replies[PROBE_STAGE_EHLO], PROBE_STAGE_EHLO, 250);
    reply_set(&r->replies[PROBE_STAGE_STARTTLS], PROBE_STAGE_STARTTLS, 220);
    reply_set(&r->replies[PROBE_STAGE_AUTH], PROBE_STAGE_AUTH, 535);
    reply_set(&r->replies[PROBE_STAGE_QUIT], PROBE_STAGE_QUIT, 221);
    r->phase_seconds[PROBE_PHASE_RESOLVE] = 0.0005;
    r->phase_seconds[PROBE_PHASE_CONNECT] = 0.001;
    r->phase_seconds[PROBE_PHASE_BANNER] = 0.002;
    snprintf(r->address, sizeof r->address, "2001:db8::25");
    r->ip_protocol = 6;
    r->phase_seconds[PROBE_PHASE_EHLO] = 0.003;
    r->phase_seconds[PROBE_PHASE_STARTTLS] = 0.05;
    r->phase_seconds[PROBE_PHASE_AUTH] = 0.0125;
    r->ehlo_seen = true;
    static const char *const kw[] = {"PIPELINING", "SIZE", "AUTH",
                                     "ENHANCEDSTATUSCODES", "8BITMIME"};
    for (size_t i = 0; i < 5; i++)
        snprintf(r->ehlo.keywords[i], sizeof r->ehlo.keywords[i], "%s", kw[i]);
    r->ehlo.n_keywords = 5;
    snprintf(r->ehlo.mechs[0], sizeof r->ehlo.mechs[0], "PLAIN");
    snprintf(r->ehlo.mechs[1], sizeof r->ehlo.mechs[1], "CRAM-MD5");
    r->ehlo.n_mechs = 2;
    r->ehlo.auth = true;
    r->ehlo.has_size = true;
    r->ehlo.size = 10240000;
    r->tls.present = true;
    snprintf(r->tls.version, sizeof r->tls.version, "TLSv1.3");
    snprintf(r->tls.cipher, sizeof r->tls.cipher, "TLS_AES_256_GCM_SHA384");
    r->tls.not_after = 1900000000;
    r->tls.verified_not_after = 1950000000;
    r->tls.leaf_not_after = 2000000000;
    r->tls.leaf_not_before = 1700000000;
    snprintf(r->tls.subject, sizeof r->tls.subject, "CN=mx.example");
    snprintf(r->tls.issuer, sizeof r->tls.issuer, "CN=CA,O=Ex");
    snprintf(r->tls.serial, sizeof r->tls.serial, "1000");
    r->tls.leaf_sha256[0] = 0xab;
    r->tls.valid = true;
    r->n_auth = 2;
    r->auth[0].mech = SASL_MECH_PLAIN;
    r->auth[0].attempted = true;
    r->auth[0].advertised = true;
    reply_set(&r->auth[0].reply, PROBE_STAGE_AUTH, 235);
    r->auth[1].mech = SASL_MECH_LOGIN;
    r->auth[1].attempted = true;
    reply_set(&r->auth[1].reply, PROBE_STAGE_AUTH, 535);
}

static void result_connect_error(struct probe_result *r, const char *target)
{
    result_init(r, target);
    r->success = false;
    r->stage = PROBE_STAGE_CONNECT;
    r->error = PROBE_ERROR_CONNECT;
    r->start_time = 1700000060;
    r->duration_seconds = 0.0005;
}

static char *render(struct metrics *m)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(metrics_render(m, &b), 0);
    return buf_take(&b);
}

/* Whether text holds line as a whole line. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

#define assert_line(text, line)                                               \
    do {                                                                      \
        if (!has_line((text), (line)))                                        \
            fail_msg("missing line: %s\n--- render ---\n%s", (line), (text)); \
    } while (0)
#define assert_no_line(text, line)                                            \
    do {                                                                      \
        if (has_line((text), (line)))                                         \
            fail_msg("unexpected line: %s", (line));                          \
    } while (0)
#define assert_absent(text, s)                                                \
    do {                                                                      \
        if (strstr((text), (s)))                                              \
            fail_msg("unexpected text: %s", (s));                             \
    } while (0)

static const char *const stages[] = {"connect", "greeting", "ehlo", "starttls",
                                     "tls",     "auth",     "quit"};
static const char *const errors[] = {"dns",         "connect",
                                     "timeout",     "tls_handshake",
                                     "certificate", "starttls_unavailable",
                                     "closed",      "malformed"};

static void test_preinitialised(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[2];
    config_two(&cfg, t);
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    char *text = render(m);
    char line[256];

    for (int i = 0; i < 2; i++) {
        const char *name = i ? "mx2" : "mx1";
        snprintf(line, sizeof line, "smtp_probes_total{target=\"%s\"} 0",
                 name);
        assert_line(text, line);
        for (size_t s = 0; s < 7; s++) {
            snprintf(line, sizeof line,
                     "smtp_probe_failures_total{target=\"%s\",stage=\"%s\"} 0",
                     name, stages[s]);
            assert_line(text, line);
        }
        for (size_t e = 0; e < 8; e++) {
            snprintf(line, sizeof line,
                     "smtp_probe_errors_total{target=\"%s\",error=\"%s\"} 0",
                     name, errors[e]);
            assert_line(text, line);
        }
        /* Only the reason a dashboard rate()s per target and that
         * says the target itself is slow: the others appear when they
         * happen. */
        snprintf(line, sizeof line,
                 "smtp_agent_probes_skipped_total{target=\"%s\","
                 "reason=\"running\"} 0",
                 name);
        assert_line(text, line);
        snprintf(line, sizeof line,
                 "smtp_probe_duration_seconds_bucket{target=\"%s\","
                 "le=\"+Inf\"} 0",
                 name);
        assert_line(text, line);
    }
    static const char *const classes[] = {"success", "unsupported_parameter",
                                          "auth_failed", "temporary_failure"};
    for (int mech = 0; mech < 2; mech++) {
        for (size_t c = 0; c < 4; c++) {
            snprintf(line, sizeof line,
                     "smtp_auth_results_total{target=\"mx1\",mechanism=\"%s\","
                     "class=\"%s\"} 0",
                     mech ? "PLAIN" : "LOGIN", classes[c]);
            assert_line(text, line);
        }
    }
    assert_absent(text, "mechanism=\"CRAM-MD5\"");
    assert_absent(text, "smtp_auth_results_total{target=\"mx2\"");
    assert_absent(text, "class=\"mechanism_too_weak\"");
    assert_absent(text, "reason=\"host_limit\"");
    assert_absent(text, "reason=\"global_limit\"");
    assert_absent(text, "reason=\"stalled\"");
    assert_absent(text, "smtp_agent_probes_skipped_total{target=\"mx1\"}");
    /* Both resources at 0, for increase() alerts. */
    assert_line(text, "smtp_agent_resource_failures_total"
                      "{resource=\"file_descriptors\"} 0");
    assert_line(text, "smtp_agent_resource_failures_total"
                      "{resource=\"memory\"} 0");

    assert_line(text, "smtp_target_info{target=\"mx1\","
                      "host=\"mx1.example.com\",port=\"587\","
                      "tls=\"starttls\",tls_verify=\"true\"} 1");
    assert_line(text, "smtp_target_info{target=\"mx2\","
                      "host=\"we\\\"ird\\\\host\\nx\",port=\"465\","
                      "tls=\"implicit\",tls_verify=\"false\"} 1");
    assert_line(text, "smtp_agent_targets 2");
    assert_line(text, "smtp_agent_probes_in_flight 0");
    assert_line(text, "smtp_agent_build_info{version=\"0.1.0\","
                      "libcurl=\"7.88.1\",openssl=\"OpenSSL 3.0.15\","
                      "libmicrohttpd=\"0.9.75\"} 1");
    assert_line(text, "smtp_agent_config_last_reload_successful 0");
    assert_line(text, "smtp_agent_probe_start_delay_seconds_count 0");

    /* Nothing probed yet: no last-probe gauges, not even HELP/TYPE. */
    assert_absent(text, "smtp_probe_success");
    assert_absent(text, "smtp_probe_phase_duration_seconds");
    assert_absent(text, "smtp_last_reply_code");
    assert_absent(text, "smtp_replies_total");
    assert_absent(text, "smtp_tls_");
    assert_absent(text, "smtp_ehlo_extension");
    assert_absent(text, "smtp_probe_last_run_timestamp_seconds");

    /* Targets by name within a family, whatever the config's order. */
    assert_true(strstr(text, "smtp_probes_total{target=\"mx1\"}") <
                strstr(text, "smtp_probes_total{target=\"mx2\"}"));
    free(text);
    metrics_free(m);
}

static void test_record(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[2];
    struct probe_result r;
    config_two(&cfg, t);
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);

    result_auth_mixed(&r);
    record(m, &r);
    char *text = render(m);
    static const char *const want1[] = {
        "smtp_probe_success{target=\"mx1\"} 0",
        "smtp_probe_duration_seconds_bucket{target=\"mx1\",le=\"0.05\"} 0",
        "smtp_probe_duration_seconds_bucket{target=\"mx1\",le=\"0.1\"} 1",
        "smtp_probe_duration_seconds_bucket{target=\"mx1\",le=\"+Inf\"} 1",
        "smtp_probe_duration_seconds_sum{target=\"mx1\"} 0.07",
        "smtp_probe_duration_seconds_count{target=\"mx1\"} 1",
        "smtp_probe_phase_duration_seconds{target=\"mx1\",phase=\"resolve\"}"
        " 0.0005",
        "smtp_probe_phase_duration_seconds{target=\"mx1\",phase=\"connect\"}"
        " 0.001",
        "smtp_probe_ip_protocol{target=\"mx1\"} 6",
        "smtp_probe_phase_duration_seconds{target=\"mx1\",phase=\"banner\"}"
        " 0.002",
        "smtp_probe_phase_duration_seconds{target=\"mx1\",phase=\"ehlo\"}"
        " 0.003",
        "smtp_probe_phase_duration_seconds{target=\"mx1\",phase=\"starttls\"}"
        " 0.05",
        "smtp_probe_phase_duration_seconds{target=\"mx1\",phase=\"auth\"}"
        " 0.0125",
        "smtp_probes_total{target=\"mx1\"} 1",
        "smtp_probes_total{target=\"mx2\"} 0",
        "smtp_probe_failures_total{target=\"mx1\",stage=\"auth\"} 1",
        "smtp_probe_failures_total{target=\"mx1\",stage=\"connect\"} 0",
        "smtp_probe_errors_total{target=\"mx1\",error=\"connect\"} 0",
        "smtp_replies_total{target=\"mx1\",stage=\"greeting\",code=\"220\","
        "class=\"success\"} 1",
        "smtp_replies_total{target=\"mx1\",stage=\"ehlo\",code=\"250\","
        "class=\"success\"} 1",
        "smtp_replies_total{target=\"mx1\",stage=\"starttls\",code=\"220\","
        "class=\"success\"} 1",
        "smtp_replies_total{target=\"mx1\",stage=\"auth\",code=\"235\","
        "class=\"success\"} 1",
        "smtp_replies_total{target=\"mx1\",stage=\"auth\",code=\"535\","
        "class=\"auth_failed\"} 1",
        "smtp_replies_total{target=\"mx1\",stage=\"quit\",code=\"221\","
        "class=\"success\"} 1",
        "smtp_auth_results_total{target=\"mx1\",mechanism=\"PLAIN\","
        "class=\"success\"} 1",
        "smtp_auth_results_total{target=\"mx1\",mechanism=\"PLAIN\","
        "class=\"auth_failed\"} 0",
        "smtp_auth_results_total{target=\"mx1\",mechanism=\"LOGIN\","
        "class=\"auth_failed\"} 1",
        "smtp_auth_results_total{target=\"mx1\",mechanism=\"LOGIN\","
        "class=\"success\"} 0",
        "smtp_last_reply_code{target=\"mx1\",stage=\"greeting\"} 220",
        "smtp_last_reply_code{target=\"mx1\",stage=\"ehlo\"} 250",
        "smtp_last_reply_code{target=\"mx1\",stage=\"starttls\"} 220",
        "smtp_last_reply_code{target=\"mx1\",stage=\"auth\"} 535",
        "smtp_last_reply_code{target=\"mx1\",stage=\"quit\"} 221",
        "smtp_auth_mechanism_advertised{target=\"mx1\","
        "mechanism=\"CRAM-MD5\"} 1",
        "smtp_auth_mechanism_advertised{target=\"mx1\",mechanism=\"LOGIN\"} 0",
        "smtp_auth_mechanism_advertised{target=\"mx1\",mechanism=\"PLAIN\"} 1",
        "smtp_ehlo_extension{target=\"mx1\",keyword=\"8BITMIME\"} 1",
        "smtp_ehlo_extension{target=\"mx1\",keyword=\"AUTH\"} 1",
        "smtp_ehlo_extension{target=\"mx1\",keyword=\"ENHANCEDSTATUSCODES\"} "
        "1",
        "smtp_ehlo_extension{target=\"mx1\",keyword=\"PIPELINING\"} 1",
        "smtp_ehlo_extension{target=\"mx1\",keyword=\"SIZE\"} 1",
        "smtp_max_message_size_bytes{target=\"mx1\"} 10240000",
        "smtp_tls_info{target=\"mx1\",version=\"TLSv1.3\","
        "cipher=\"TLS_AES_256_GCM_SHA384\"} 1",
        "smtp_tls_cert_expiry_timestamp_seconds{target=\"mx1\"} 1900000000",
        "smtp_tls_cert_valid{target=\"mx1\"} 1",
        "smtp_probe_last_run_timestamp_seconds{target=\"mx1\"} "
        "1700000000.25",
    };
    for (size_t i = 0; i < sizeof want1 / sizeof *want1; i++)
        assert_line(text, want1[i]);
    /* Replies in stage order, then by code. */
    assert_true(strstr(text, "code=\"235\"") < strstr(text, "code=\"535\""));
    assert_true(strstr(text, "stage=\"greeting\",code") <
                strstr(text, "stage=\"quit\",code"));
    /* Mechanisms by name: CRAM-MD5, LOGIN, PLAIN. */
    assert_true(strstr(text, "mechanism=\"LOGIN\",class") <
                strstr(text, "mechanism=\"PLAIN\",class"));
    assert_absent(text, "smtp_probe_success{target=\"mx2\"}");
    /* Not probed yet: no IP version, not a 0 that says "none reached". */
    assert_absent(text, "smtp_probe_ip_protocol{target=\"mx2\"}");
    /* resolve comes first, as the probe goes. */
    assert_true(strstr(text, "phase=\"resolve\"") <
                strstr(text, "phase=\"connect\""));
    free(text);

    /* A connect failure: counted; phases and last codes of this probe only;
     * certificate and EHLO facts stay. */
    result_connect_error(&r, "mx1");
    record(m, &r);
    text = render(m);
    static const char *const want2[] = {
        "smtp_probes_total{target=\"mx1\"} 2",
        "smtp_probe_failures_total{target=\"mx1\",stage=\"connect\"} 1",
        "smtp_probe_failures_total{target=\"mx1\",stage=\"auth\"} 1",
        "smtp_probe_errors_total{target=\"mx1\",error=\"connect\"} 1",
        "smtp_probe_errors_total{target=\"mx1\",error=\"dns\"} 0",
        "smtp_replies_total{target=\"mx1\",stage=\"auth\",code=\"535\","
        "class=\"auth_failed\"} 1",
        "smtp_auth_results_total{target=\"mx1\",mechanism=\"PLAIN\","
        "class=\"success\"} 1",
        "smtp_tls_info{target=\"mx1\",version=\"TLSv1.3\","
        "cipher=\"TLS_AES_256_GCM_SHA384\"} 1",
        "smtp_tls_cert_expiry_timestamp_seconds{target=\"mx1\"} 1900000000",
        "smtp_tls_cert_valid{target=\"mx1\"} 1",
        "smtp_ehlo_extension{target=\"mx1\",keyword=\"PIPELINING\"} 1",
        "smtp_max_message_size_bytes{target=\"mx1\"} 10240000",
        "smtp_auth_mechanism_advertised{target=\"mx1\",mechanism=\"PLAIN\"} 1",
        "smtp_probe_duration_seconds_bucket{target=\"mx1\",le=\"0.005\"} 1",
        "smtp_probe_duration_seconds_count{target=\"mx1\"} 2",
        "smtp_probe_last_run_timestamp_seconds{target=\"mx1\"} 1700000060",
        /* no address reached: 0, not the last probe's 6 */
        "smtp_probe_ip_protocol{target=\"mx1\"} 0",
    };
    for (size_t i = 0; i < sizeof want2 / sizeof *want2; i++)
        assert_line(text, want2[i]);
    assert_absent(text, "smtp_probe_phase_duration_seconds");
    assert_absent(text, "smtp_last_reply_code");
    free(text);

    /* A later EHLO replaces the keyword set; a new TLS session replaces
     * the info series; SIZE gone means no size series. */
    result_init(&r, "mx1");
    r.success = true;
    r.start_time = 1700000120;
    r.duration_seconds = 0.2;
    reply_set(&r.replies[PROBE_STAGE_GREETING], PROBE_STAGE_GREETING, 220);
    reply_set(&r.replies[PROBE_STAGE_EHLO], PROBE_STAGE_EHLO, 250);
    reply_set(&r.replies[PROBE_STAGE_STARTTLS], PROBE_STAGE_STARTTLS, 220);
    reply_set(&r.replies[PROBE_STAGE_AUTH], PROBE_STAGE_AUTH, 235);
    reply_set(&r.replies[PROBE_STAGE_QUIT], PROBE_STAGE_QUIT, 221);
    r.phase_seconds[PROBE_PHASE_CONNECT] = 0.25;
    snprintf(r.address, sizeof r.address, "192.0.2.25");
    r.ip_protocol = 4;
    r.ehlo_seen = true;
    snprintf(r.ehlo.keywords[0], sizeof r.ehlo.keywords[0], "CHUNKING");
    r.ehlo.n_keywords = 1;
    snprintf(r.ehlo.mechs[0], sizeof r.ehlo.mechs[0], "LOGIN");
    r.ehlo.n_mechs = 1;
    r.tls.present = true;
    snprintf(r.tls.version, sizeof r.tls.version, "TLSv1.2");
    snprintf(r.tls.cipher, sizeof r.tls.cipher, "ECDHE-RSA-AES128-GCM-SHA256");
    r.tls.not_after = 1800000000;
    r.tls.valid = false;
    r.n_auth = 2;
    r.auth[0].mech = SASL_MECH_PLAIN;
    r.auth[0].attempted = true;
    reply_set(&r.auth[0].reply, PROBE_STAGE_AUTH, 235);
    /* LOGIN timed out without a reply: an error, not an AUTH result. */
    r.auth[1].mech = SASL_MECH_LOGIN;
    r.auth[1].attempted = true;
    r.auth[1].error = PROBE_ERROR_TIMEOUT;
    record(m, &r);
    text = render(m);
    static const char *const want3[] = {
        "smtp_probe_success{target=\"mx1\"} 1",
        "smtp_probe_phase_duration_seconds{target=\"mx1\",phase=\"connect\"}"
        " 0.25",
        "smtp_probe_ip_protocol{target=\"mx1\"} 4",
        "smtp_probes_total{target=\"mx1\"} 3",
        "smtp_probe_failures_total{target=\"mx1\",stage=\"quit\"} 0",
        "smtp_replies_total{target=\"mx1\",stage=\"auth\",code=\"235\","
        "class=\"success\"} 2",
        "smtp_replies_total{target=\"mx1\",stage=\"greeting\",code=\"220\","
        "class=\"success\"} 2",
        "smtp_auth_results_total{target=\"mx1\",mechanism=\"PLAIN\","
        "class=\"success\"} 2",
        "smtp_auth_results_total{target=\"mx1\",mechanism=\"LOGIN\","
        "class=\"auth_failed\"} 1",
        "smtp_auth_results_total{target=\"mx1\",mechanism=\"LOGIN\","
        "class=\"success\"} 0",
        "smtp_last_reply_code{target=\"mx1\",stage=\"auth\"} 235",
        "smtp_auth_mechanism_advertised{target=\"mx1\",mechanism=\"LOGIN\"} 1",
        "smtp_auth_mechanism_advertised{target=\"mx1\",mechanism=\"PLAIN\"} 0",
        "smtp_ehlo_extension{target=\"mx1\",keyword=\"CHUNKING\"} 1",
        "smtp_tls_info{target=\"mx1\",version=\"TLSv1.2\","
        "cipher=\"ECDHE-RSA-AES128-GCM-SHA256\"} 1",
        "smtp_tls_cert_expiry_timestamp_seconds{target=\"mx1\"} 1800000000",
        "smtp_tls_cert_valid{target=\"mx1\"} 0",
    };
    for (size_t i = 0; i < sizeof want3 / sizeof *want3; i++)
        assert_line(text, want3[i]);
    assert_absent(text, "phase=\"banner\"");
    assert_absent(text, "keyword=\"PIPELINING\"");
    assert_absent(text, "mechanism=\"CRAM-MD5\"");
    assert_absent(text, "TLSv1.3");
    assert_absent(text, "smtp_max_message_size_bytes");
    /* The error of a session is not a probe error: the probe succeeded. */
    assert_line(text,
                "smtp_probe_errors_total{target=\"mx1\",error=\"timeout\"} 0");
    free(text);
    metrics_free(m);
}

/* Two sessions (two mechanisms) answer two greetings, four EHLOs: each
 * one counts in smtp_replies_total. */
static void test_every_reply_counts(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config targets[2];
    config_two(&cfg, targets);
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);

    struct probe_result r;
    result_init(&r, "mx1");
    r.success = true;
    static const struct probe_seen seen[] = {
        {PROBE_STAGE_GREETING, 220}, {PROBE_STAGE_EHLO, 250},
        {PROBE_STAGE_STARTTLS, 220}, {PROBE_STAGE_EHLO, 250},
        {PROBE_STAGE_AUTH, 235},     {PROBE_STAGE_QUIT, 221},
        {PROBE_STAGE_GREETING, 220}, {PROBE_STAGE_EHLO, 250},
        {PROBE_STAGE_STARTTLS, 220}, {PROBE_STAGE_EHLO, 250},
        {PROBE_STAGE_AUTH, 235},     {PROBE_STAGE_QUIT, 221},
    };
    memcpy(r.seen, seen, sizeof seen);
    r.n_seen = sizeof seen / sizeof seen[0];
    metrics_record(m, &r, NULL);
    char *text = render(m);
    assert_line(text, "smtp_replies_total{target=\"mx1\",stage=\"greeting\","
                      "code=\"220\",class=\"success\"} 2");
    assert_line(text, "smtp_replies_total{target=\"mx1\",stage=\"ehlo\","
                      "code=\"250\",class=\"success\"} 4");
    assert_line(text, "smtp_replies_total{target=\"mx1\",stage=\"auth\","
                      "code=\"235\",class=\"success\"} 2");
    free(text);
    metrics_free(m);
}

/* smtp_target_info's tls_verify follows the config across a reload: the
 * certificate alert leaves out the targets that do not verify. */
static void test_target_info_follows_reload(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[2];
    config_two(&cfg, t);
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    char *text = render(m);
    assert_line(text, "smtp_target_info{target=\"mx1\","
                      "host=\"mx1.example.com\",port=\"587\","
                      "tls=\"starttls\",tls_verify=\"true\"} 1");
    free(text);

    t[1].tls_verify = false;
    t[0].tls_verify = true;
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    text = render(m);
    assert_line(text, "smtp_target_info{target=\"mx1\","
                      "host=\"mx1.example.com\",port=\"587\","
                      "tls=\"starttls\",tls_verify=\"false\"} 1");
    assert_line(text, "smtp_target_info{target=\"mx2\","
                      "host=\"we\\\"ird\\\\host\\nx\",port=\"465\","
                      "tls=\"implicit\",tls_verify=\"true\"} 1");
    free(text);
    metrics_free(m);
}

/* smtp_check_success and smtp_check_reply_code: only the checks a target
 * configures, from their first verdict; a probe that did not reach a
 * check keeps the last verdict; a check turned off at reload takes its
 * series with it. */
static void test_check_series(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[2];
    config_two(&cfg, t);
    t[1].expect_relay_refused = true;
    t[1].expect_auth_refused = true;
    t[1].require_ehlo = "PIPELINING";
    t[0].require_ehlo = "";
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    char *text = render(m);
    assert_null(strstr(text, "smtp_check_"));
    free(text);

    struct probe_result r;
    result_init(&r, "mx1");
    r.success = true;
    for (int k = 0; k < CHECK_COUNT; k++)
        r.checks[k].configured = true;
    r.checks[CHECK_OPEN_RELAY].verdict = CHECK_FAILED;
    r.checks[CHECK_OPEN_RELAY].code = 250;
    r.checks[CHECK_EHLO].verdict = CHECK_PASSED;
    r.checks[CHECK_EHLO].code = 250;
    /* auth_before_tls not run: no series yet */
    record(m, &r);
    text = render(m);
    assert_line(text,
                "smtp_check_success{target=\"mx1\",check=\"open_relay\"} 0");
    assert_line(text, "smtp_check_success{target=\"mx1\",check=\"ehlo\"} 1");
    assert_line(
        text,
        "smtp_check_reply_code{target=\"mx1\",check=\"open_relay\"} 250");
    assert_null(strstr(text, "check=\"auth_before_tls\""));
    assert_null(strstr(text, "smtp_check_success{target=\"mx2\""));
    assert_line(text, "smtp_probe_success{target=\"mx1\"} 1");
    free(text);

    /* A probe that failed before the checks: the verdicts stay. */
    result_init(&r, "mx1");
    r.stage = PROBE_STAGE_CONNECT;
    r.error = PROBE_ERROR_CONNECT;
    r.checks[CHECK_OPEN_RELAY].configured = true;
    record(m, &r);
    text = render(m);
    assert_line(text,
                "smtp_check_success{target=\"mx1\",check=\"open_relay\"} 0");
    free(text);

    /* The check turned off: its series go. */
    t[1].expect_relay_refused = false;
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    text = render(m);
    assert_null(strstr(text, "check=\"open_relay\""));
    assert_line(text, "smtp_check_success{target=\"mx1\",check=\"ehlo\"} 1");
    free(text);
    metrics_free(m);
}

static void test_reload(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[3];
    struct probe_result r;
    config_two(&cfg, t);
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    result_auth_mixed(&r);
    record(m, &r);
    result_connect_error(&r, "mx2");
    record(m, &r);
    metrics_skipped(m, "mx1", SCHED_SKIP_RUNNING, 1);
    metrics_skipped(m, "mx1", SCHED_SKIP_RUNNING, 1);
    metrics_skipped(m, "mx1", SCHED_SKIP_HOST_LIMIT, 3);
    metrics_skipped(m, "nosuch", SCHED_SKIP_RUNNING, 1);

    /* mx1 stays with LOGIN swapped for CRAM-MD5; mx2 leaves; mx3 comes. */
    static const enum sasl_mech mechs[] = {SASL_MECH_CRAM_MD5,
                                           SASL_MECH_PLAIN};
    target_set(&t[0], "mx3", "mx3.example.com", 25, TLS_MODE_NONE, NULL, 0);
    target_set(&t[1], "mx1", "mail.example.com", 2587, TLS_MODE_STARTTLS,
               mechs, 2);
    cfg.n_targets = 2;
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    char *text = render(m);
    static const char *const want[] = {
        "smtp_probes_total{target=\"mx1\"} 1",
        "smtp_probes_total{target=\"mx3\"} 0",
        "smtp_probe_failures_total{target=\"mx1\",stage=\"auth\"} 1",
        "smtp_replies_total{target=\"mx1\",stage=\"auth\",code=\"235\","
        "class=\"success\"} 1",
        "smtp_auth_results_total{target=\"mx1\",mechanism=\"PLAIN\","
        "class=\"success\"} 1",
        "smtp_auth_results_total{target=\"mx1\",mechanism=\"CRAM-MD5\","
        "class=\"success\"} 0",
        "smtp_auth_results_total{target=\"mx1\",mechanism=\"CRAM-MD5\","
        "class=\"temporary_failure\"} 0",
        "smtp_agent_probes_skipped_total{target=\"mx1\",reason=\"running\"} 2",
        "smtp_agent_probes_skipped_total{target=\"mx1\","
        "reason=\"host_limit\"} 3",
        "smtp_agent_probes_skipped_total{target=\"mx3\",reason=\"running\"} 0",
        "smtp_probe_errors_total{target=\"mx3\",error=\"malformed\"} 0",
        "smtp_tls_cert_valid{target=\"mx1\"} 1",
        "smtp_target_info{target=\"mx1\",host=\"mail.example.com\","
        "port=\"2587\",tls=\"starttls\",tls_verify=\"true\"} 1",
        "smtp_target_info{target=\"mx3\",host=\"mx3.example.com\","
        "port=\"25\",tls=\"none\",tls_verify=\"true\"} 1",
        "smtp_agent_targets 2",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_line(text, want[i]);
    assert_absent(text, "mx2");
    assert_absent(text, "mechanism=\"LOGIN\",class");
    assert_absent(text, "host=\"mx1.example.com\"");
    assert_absent(text, "smtp_probe_success{target=\"mx3\"}");
    free(text);

    /* A result for a target that left is dropped. */
    result_connect_error(&r, "mx2");
    record(m, &r);
    /* A target that stops speaking TLS loses its certificate series. */
    t[1].tls = TLS_MODE_NONE;
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    text = render(m);
    assert_absent(text, "mx2");
    assert_absent(text, "smtp_tls_");
    assert_line(text, "smtp_probes_total{target=\"mx1\"} 1");
    free(text);

    /* No targets at all. */
    cfg.n_targets = 0;
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    text = render(m);
    assert_line(text, "smtp_agent_targets 0");
    assert_absent(text, "target=");
    assert_absent(text, "smtp_probes_total");
    free(text);
    metrics_free(m);
}

/* shard = I/N: the shard and the targets left to the others follow each
 * config; a target that stays keeps its counts across a change of
 * shard. A config built by hand (shards 0) is shard 0 of 1. */
static void test_shard(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[2];
    struct probe_result r;
    config_two(&cfg, t);
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    char *text = render(m);
    assert_line(text, "smtp_agent_shard_info{shard=\"0\",shards=\"1\"} 1");
    assert_line(text, "smtp_agent_shard_targets{state=\"probed\"} 2");
    assert_line(text, "smtp_agent_shard_targets{state=\"other_shards\"} 0");
    free(text);
    result_connect_error(&r, "mx2");
    record(m, &r);

    cfg.shard = 2;
    cfg.shards = 3;
    cfg.n_other_shards = 7;
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    text = render(m);
    assert_line(text, "smtp_agent_shard_info{shard=\"2\",shards=\"3\"} 1");
    assert_line(text, "smtp_agent_shard_targets{state=\"probed\"} 2");
    assert_line(text, "smtp_agent_shard_targets{state=\"other_shards\"} 7");
    assert_line(text, "smtp_agent_targets 2");
    assert_line(text, "smtp_probes_total{target=\"mx2\"} 1");
    assert_absent(text, "shards=\"1\"");
    free(text);

    /* Back to no shard = : one series each again, nothing left over. */
    cfg.shard = 0;
    cfg.shards = 1;
    cfg.n_other_shards = 0;
    cfg.n_targets = 1;
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    text = render(m);
    assert_line(text, "smtp_agent_shard_info{shard=\"0\",shards=\"1\"} 1");
    assert_absent(text, "shards=\"3\"");
    assert_line(text, "smtp_agent_shard_targets{state=\"probed\"} 1");
    assert_line(text, "smtp_agent_shard_targets{state=\"other_shards\"} 0");
    assert_line(text, "smtp_probes_total{target=\"mx2\"} 1");
    free(text);
    metrics_free(m);
}

static void test_agent_values(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(NULL);
    assert_non_null(m);
    metrics_set_in_flight(m, 17);
    metrics_start_delay(m, 0.0005);
    metrics_start_delay(m, 0.2);
    metrics_start_delay(m, 42);
    metrics_start_delay(m, NAN);
    metrics_config_loaded(m, true, 1700000000);
    metrics_config_loaded(m, false, 1700000100);
    char *text = render(m);
    static const char *const want[] = {
        ("smtp_agent_build_info{version=\"\",libcurl=\"\",openssl=\"\","
         "libmicrohttpd=\"\"} 1"),
        "smtp_agent_targets 0",
        "smtp_agent_shard_info{shard=\"0\",shards=\"1\"} 1",
        "smtp_agent_shard_targets{state=\"probed\"} 0",
        "smtp_agent_shard_targets{state=\"other_shards\"} 0",
        "smtp_agent_probes_in_flight 17",
        "smtp_agent_probe_start_delay_seconds_bucket{le=\"0.001\"} 1",
        "smtp_agent_probe_start_delay_seconds_bucket{le=\"0.1\"} 1",
        "smtp_agent_probe_start_delay_seconds_bucket{le=\"0.5\"} 2",
        "smtp_agent_probe_start_delay_seconds_bucket{le=\"10\"} 2",
        "smtp_agent_probe_start_delay_seconds_bucket{le=\"+Inf\"} 3",
        "smtp_agent_probe_start_delay_seconds_count 3",
        "smtp_agent_config_last_reload_successful 0",
        "smtp_agent_config_last_reload_success_timestamp_seconds 1700000000",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_line(text, want[i]);
    /* NaN is not observed; the sum is what adding them up gives. */
    char v[EXPO_DOUBLE_LEN], line[128];
    snprintf(line, sizeof line, "smtp_agent_probe_start_delay_seconds_sum %s",
             expo_format_double(v, sizeof v, 0.0005 + 0.2 + 42));
    assert_line(text, line);
    free(text);
    metrics_free(m);
    metrics_free(NULL);
}

/*
 * Skips by reason: running always there, the others from their first
 * count on, in a fixed order; every round a SKIP stands for counts.
 * Resource failures by resource, no target label.
 */
static void test_skips_and_resource_failures(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[2];
    config_two(&cfg, t);
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    metrics_skipped(m, "mx2", SCHED_SKIP_STALLED, 999);
    metrics_skipped(m, "mx2", SCHED_SKIP_HOST_LIMIT, 1);
    metrics_skipped(m, "mx2", SCHED_SKIP_GLOBAL_LIMIT, 2);
    metrics_skipped(m, "mx2", SCHED_SKIP_HOST_LIMIT, 4);
    metrics_skipped(m, "mx2", SCHED_SKIP_REASON_COUNT, 1); /* a bug: no */
    metrics_resource_failure(m, PROBE_FAULT_FILE_DESCRIPTORS);
    metrics_resource_failure(m, PROBE_FAULT_FILE_DESCRIPTORS);
    metrics_resource_failure(m, PROBE_FAULT_NONE);  /* not a fault */
    metrics_resource_failure(m, PROBE_FAULT_COUNT); /* a bug: no */
    char *text = render(m);
    static const char *const want =
        "smtp_agent_probes_skipped_total{target=\"mx1\",reason=\"running\"} "
        "0\n"
        "smtp_agent_probes_skipped_total{target=\"mx2\",reason=\"running\"} "
        "0\n"
        "smtp_agent_probes_skipped_total{target=\"mx2\","
        "reason=\"host_limit\"} 5\n"
        "smtp_agent_probes_skipped_total{target=\"mx2\","
        "reason=\"global_limit\"} 2\n"
        "smtp_agent_probes_skipped_total{target=\"mx2\",reason=\"stalled\"} "
        "999\n"
        "# HELP smtp_agent_resource_failures_total ";
    if (!strstr(text, want))
        fail_msg("skip series not as expected:\n%s", text);
    assert_line(text, "smtp_agent_resource_failures_total"
                      "{resource=\"file_descriptors\"} 2");
    assert_line(text, "smtp_agent_resource_failures_total"
                      "{resource=\"memory\"} 0");
    assert_absent(text, "reason=\"unknown\"");
    assert_absent(text, "resource=\"none\"");
    assert_absent(text, "resource=\"unknown\"");
    assert_non_null(strstr(text, "# HELP smtp_agent_resource_failures_total "
                                 "Probes the agent abandoned because it ran "
                                 "out of its own resources"));
    free(text);
    metrics_free(m);
}

/* A result the agent itself could not carry out is not the target's:
 * the store ignores it (the runner counts it as a resource failure). */
static void test_fault_is_not_the_targets(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[2];
    struct probe_result r;
    config_two(&cfg, t);
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    static const enum probe_fault faults[] = {PROBE_FAULT_FILE_DESCRIPTORS,
                                              PROBE_FAULT_MEMORY};
    for (size_t i = 0; i < 2; i++) {
        result_connect_error(&r, "mx2");
        r.fault = faults[i];
        record(m, &r);
    }
    char *text = render(m);
    assert_line(text, "smtp_probes_total{target=\"mx2\"} 0");
    assert_line(text, "smtp_probe_failures_total{target=\"mx2\","
                      "stage=\"connect\"} 0");
    assert_line(text, "smtp_probe_errors_total{target=\"mx2\","
                      "error=\"connect\"} 0");
    assert_absent(text, "smtp_probe_success{target=\"mx2\"}");
    assert_absent(text, "smtp_probe_last_run_timestamp_seconds");
    free(text);
    /* The page's last result is still "not probed yet". */
    struct metrics_last *last;
    size_t n;
    assert_int_equal(metrics_last_results(m, &last, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(last[1].result.target, "mx2");
    assert_true(last[1].result.start_time == 0);
    assert_int_equal(last[1].result.fault, PROBE_FAULT_NONE);
    free(last);

    /* The same result without the fault counts. */
    result_connect_error(&r, "mx2");
    record(m, &r);
    text = render(m);
    assert_line(text, "smtp_probes_total{target=\"mx2\"} 1");
    assert_line(text, "smtp_probe_errors_total{target=\"mx2\","
                      "error=\"connect\"} 1");
    free(text);
    metrics_free(m);
}

/* Every family, in DESIGN.md's order, once each. */
static void test_family_order_and_promtool(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[2];
    struct probe_result r;
    config_two(&cfg, t);
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    result_auth_mixed(&r);
    record(m, &r);
    result_connect_error(&r, "mx2");
    record(m, &r);
    metrics_start_delay(m, 0.003);
    metrics_config_loaded(m, true, 1700000000);
    char *text = render(m);

    static const char *const types[] = {
        "smtp_probe_success gauge",
        "smtp_probe_duration_seconds histogram",
        "smtp_probe_phase_duration_seconds gauge",
        "smtp_probe_ip_protocol gauge",
        "smtp_probes_total counter",
        "smtp_probe_failures_total counter",
        "smtp_probe_errors_total counter",
        "smtp_replies_total counter",
        "smtp_auth_results_total counter",
        "smtp_last_reply_code gauge",
        "smtp_auth_mechanism_advertised gauge",
        "smtp_ehlo_extension gauge",
        "smtp_max_message_size_bytes gauge",
        "smtp_tls_info gauge",
        "smtp_tls_cert_expiry_timestamp_seconds gauge",
        "smtp_tls_verified_chain_expiry_timestamp_seconds gauge",
        "smtp_tls_leaf_cert_not_after_timestamp_seconds gauge",
        "smtp_tls_leaf_cert_not_before_timestamp_seconds gauge",
        "smtp_tls_cert_info gauge",
        "smtp_tls_cert_valid gauge",
        "smtp_probe_last_run_timestamp_seconds gauge",
        "smtp_target_info gauge",
        "smtp_agent_build_info gauge",
        "smtp_agent_targets gauge",
        "smtp_agent_shard_info gauge",
        "smtp_agent_shard_targets gauge",
        "smtp_agent_probes_in_flight gauge",
        "smtp_agent_probes_skipped_total counter",
        "smtp_agent_resource_failures_total counter",
        "smtp_agent_probe_start_delay_seconds histogram",
        "smtp_agent_config_last_reload_successful gauge",
        "smtp_agent_config_last_reload_success_timestamp_seconds gauge",
    };
    size_t k = 0;
    for (const char *p = strstr(text, "# TYPE "); p;
         p = strstr(p + 1, "# TYPE ")) {
        assert_true(k < sizeof types / sizeof *types);
        size_t n = strlen(types[k]);
        if (strncmp(p + 7, types[k], n) != 0 || p[7 + n] != '\n')
            fail_msg("TYPE line %zu: want %s", k, types[k]);
        k++;
    }
    assert_int_equal(k, sizeof types / sizeof *types);
    /* Every TYPE has its HELP right before it. */
    for (const char *p = strstr(text, "# TYPE "); p;
         p = strstr(p + 1, "# TYPE ")) {
        const char *q = p - 1;
        while (q > text && q[-1] != '\n')
            q--;
        assert_memory_equal(q, "# HELP ", 7);
    }

    if (access("/usr/bin/promtool", X_OK) != 0) {
        free(text);
        metrics_free(m);
        skip();
    }
    struct procstat ps;
    struct buf all;
    buf_init(&all, 0);
    assert_int_equal(buf_puts(&all, text), 0);
    assert_int_equal(procstat_read(&ps), 0);
    assert_int_equal(procstat_render(&ps, &all), 0);
    char path[] = "/tmp/test_metrics_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, all.data, all.len), (ssize_t)all.len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s", path);
    int rc = system(cmd);
    unlink(path);
    buf_free(&all);
    free(text);
    metrics_free(m);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 0);
}

/* ---- a target's own labels ---- */

/* mx1's labels as a config holds them, and as every series shows them. */
static const char mx1_labels[] = "team\0mail\0note\0a \"b\" \\ c\nd\0"
                                 "zone\0Z\xC3\xBCrich\0";
#define MX1_LABELS                                                            \
    "team=\"mail\",note=\"a \\\"b\\\" \\\\ c\\nd\",zone=\"Z\xC3\xBCrich\""

/* The families of the agent as a whole: no target, no target labels. */
static const char *const agent_families[] = {
    "smtp_agent_build_info",
    "smtp_agent_targets",
    "smtp_agent_probes_in_flight",
    "smtp_agent_resource_failures_total",
    "smtp_agent_probe_start_delay_seconds",
    "smtp_agent_config_last_reload_successful",
    "smtp_agent_config_last_reload_success_timestamp_seconds",
    "smtp_agent_shard_info",
    "smtp_agent_shard_targets",
};

static bool is_agent_family(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof agent_families / sizeof *agent_families;
         i++) {
        if (strlen(agent_families[i]) == n &&
            memcmp(agent_families[i], name, n) == 0)
            return true;
    }
    return false;
}

/* A sample line's label names, in order, "name|name|..." into dst; the
 * values are skipped over their escapes. The family's name (the sample's
 * without _bucket/_sum/_count) in *fam. */
static void label_names_of(const char *line, size_t len, char *dst, size_t n,
                           char *fam, size_t fam_n)
{
    const char *brace = memchr(line, '{', len);
    const char *space = memchr(line, ' ', len);
    size_t name_len = (size_t)((brace ? brace : space) - line);
    snprintf(fam, fam_n, "%.*s", (int)name_len, line);
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(suffixes[i]);
        size_t fl = strlen(fam);
        if (fl > sl && strcmp(fam + fl - sl, suffixes[i]) == 0 &&
            strstr(fam, "_seconds"))
            fam[fl - sl] = '\0';
    }
    dst[0] = '\0';
    if (!brace)
        return;
    const char *p = brace + 1;
    size_t used = 0;
    while (*p != '}') {
        const char *eq = strchr(p, '=');
        assert_non_null(eq);
        int w = snprintf(dst + used, n - used, "%s%.*s", used ? "|" : "",
                         (int)(eq - p), p);
        assert_true(w > 0 && (size_t)w < n - used);
        used += (size_t)w;
        assert_int_equal(eq[1], '"');
        p = eq + 2;
        while (*p != '"') {
            assert_true(*p != '\0' && *p != '\n');
            p += *p == '\\' ? 2 : 1;
        }
        p++;
        if (*p == ',')
            p++;
    }
}

static bool is_agent_label(const char *name, size_t n)
{
    for (int i = 0; i < LABEL_COUNT; i++) {
        if (strlen(label_names[i]) == n &&
            memcmp(label_names[i], name, n) == 0)
            return true;
    }
    return false;
}

/* Every series of mx1 carries its labels right after target, in the
 * config's order, escaped; mx2 (none) and the agent-wide families carry
 * none; every family of a target has them; and every other label name
 * in a full render is one of label_names[], the table labels.c refuses. */
static void check_labelled(const char *text)
{
    char fams_with_mx1[64][96];
    size_t n_fams = 0;
    size_t n_mx1 = 0;
    for (const char *p = text; *p;) {
        const char *end = strchr(p, '\n');
        assert_non_null(end);
        size_t len = (size_t)(end - p);
        if (p[0] != '#') {
            char names[512], fam[96];
            label_names_of(p, len, names, sizeof names, fam, sizeof fam);
            bool agent = is_agent_family(fam, strlen(fam));
            if (strstr(names, "team") || memmem(p, len, "mail", 4))
                assert_true(!agent);
            if (memmem(p, len, "{target=\"mx1\"", 13)) {
                n_mx1++;
                static const char want[] = "{target=\"mx1\"," MX1_LABELS;
                if (memcmp(memchr(p, '{', len), want, sizeof want - 1) != 0)
                    fail_msg("mx1 without its labels: %.*s", (int)len, p);
                if (strncmp(names, "target|team|note|zone", 21) != 0)
                    fail_msg("label order %s in %.*s", names, (int)len, p);
                bool seen = false;
                for (size_t i = 0; i < n_fams; i++)
                    seen = seen || strcmp(fams_with_mx1[i], fam) == 0;
                if (!seen) {
                    assert_true(n_fams < 64);
                    snprintf(fams_with_mx1[n_fams++], 96, "%s", fam);
                }
            } else if (memmem(p, len, "{target=\"mx2\"", 13)) {
                if (strstr(names, "team") || strstr(names, "zone"))
                    fail_msg("mx2 with labels: %.*s", (int)len, p);
            } else {
                /* No target: an agent-wide family, never a label of
                 * mx1's. */
                if (!agent)
                    fail_msg("a series without target: %.*s", (int)len, p);
                assert_null(strstr(names, "team"));
            }
            /* Every label name but mx1's own is the agent's. */
            for (const char *q = names; *q;) {
                size_t k = strcspn(q, "|");
                bool own = (k == 4 && memcmp(q, "team", 4) == 0) ||
                           (k == 4 && memcmp(q, "note", 4) == 0) ||
                           (k == 4 && memcmp(q, "zone", 4) == 0);
                if (!own && !is_agent_label(q, k))
                    fail_msg("label %.*s is not in label_names[]", (int)k, q);
                q += k + (q[k] == '|');
            }
        }
        p = end + 1;
    }
    assert_true(n_mx1 > 0);
    /* Every family of a target appears with mx1's labels: the TYPE lines
     * that are not the agent's. */
    for (const char *p = strstr(text, "# TYPE "); p;
         p = strstr(p + 1, "# TYPE ")) {
        const char *name = p + 7;
        size_t n = strcspn(name, " ");
        if (is_agent_family(name, n))
            continue;
        bool seen = false;
        for (size_t i = 0; i < n_fams; i++)
            seen = seen || (strlen(fams_with_mx1[i]) == n &&
                            memcmp(fams_with_mx1[i], name, n) == 0);
        if (!seen)
            fail_msg("family %.*s has no series of mx1 with its labels",
                     (int)n, name);
    }
}

/* Runs promtool check metrics on text; skips without promtool. */
static void promtool_ok(const char *text)
{
    char path[] = "/tmp/test_metrics_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s", path);
    int rc = system(cmd);
    unlink(path);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 0);
}

static void test_target_labels(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[2];
    struct probe_result r;
    config_two(&cfg, t);
    t[1].labels = mx1_labels; /* mx1; mx2 has none */
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    result_auth_mixed(&r);
    record(m, &r);
    result_connect_error(&r, "mx2");
    record(m, &r);
    metrics_skipped(m, "mx1", SCHED_SKIP_HOST_LIMIT, 2);
    metrics_start_delay(m, 0.003);
    metrics_config_loaded(m, true, 1700000000);
    char *text = render(m);
    check_labelled(text);
    assert_line(text, "smtp_probes_total{target=\"mx1\"," MX1_LABELS "} 1");
    assert_line(text,
                "smtp_probe_duration_seconds_bucket{target=\"mx1\"," MX1_LABELS
                ",le=\"+Inf\"} 1");
    assert_line(text, "smtp_auth_results_total{target=\"mx1\"," MX1_LABELS
                      ",mechanism=\"PLAIN\",class=\"success\"} 1");
    assert_line(text, "smtp_target_info{target=\"mx1\"," MX1_LABELS
                      ",host=\"mx1.example.com\",port=\"587\","
                      "tls=\"starttls\",tls_verify=\"true\"} 1");
    assert_line(text,
                "smtp_agent_probes_skipped_total{target=\"mx1\"," MX1_LABELS
                ",reason=\"host_limit\"} 2");
    assert_line(text, "smtp_probes_total{target=\"mx2\"} 1");
    assert_line(text, "smtp_agent_targets 2");
    /* Rendered once, and the same twice. */
    const char *kept = m->targets[0]->labels; /* sorted: mx1 first */
    assert_string_equal(kept, MX1_LABELS);
    assert_null(m->targets[1]->labels);
    char *again = render(m);
    assert_string_equal(text, again);
    free(again);
    if (access("/usr/bin/promtool", X_OK) == 0)
        promtool_ok(text);
    free(text);

    /* The status page's copy. */
    struct metrics_last *last;
    size_t n;
    assert_int_equal(metrics_last_results(m, &last, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(last[0].labels, MX1_LABELS);
    assert_string_equal(last[1].labels, "");
    free(last);

    /* A reload with the same labels keeps the text where it is. */
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    assert_ptr_equal(m->targets[0]->labels, kept);

    /* Labels change: the next render shows the new ones, counters keep
     * their values (a target is its name). mx2 gets one. */
    static const char changed[] = "zone\0eu\0team\0dns\0";
    t[1].labels = changed;
    t[0].labels = "env\0prod\0";
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    text = render(m);
    assert_line(
        text, "smtp_probes_total{target=\"mx1\",zone=\"eu\",team=\"dns\"} 1");
    assert_line(text,
                "smtp_auth_results_total{target=\"mx1\",zone=\"eu\","
                "team=\"dns\",mechanism=\"LOGIN\",class=\"auth_failed\"} "
                "1");
    assert_line(text, "smtp_probes_total{target=\"mx2\",env=\"prod\"} 1");
    assert_line(text, "smtp_probe_errors_total{target=\"mx2\",env=\"prod\","
                      "error=\"connect\"} 1");
    assert_absent(text, "mail");
    assert_absent(text, "note=");
    free(text);

    /* And go: back to target alone. */
    t[1].labels = "";
    t[0].labels = NULL;
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    assert_null(m->targets[0]->labels);
    text = render(m);
    assert_line(text, "smtp_probes_total{target=\"mx1\"} 1");
    assert_line(text, "smtp_probes_total{target=\"mx2\"} 1");
    assert_absent(text, "zone=");
    assert_absent(text, "env=");
    free(text);
    metrics_free(m);
}

/* Every family, every label: a store with every option and a result of
 * every kind, mx1 labelled. */
static void test_target_labels_everywhere(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[2];
    struct probe_result r;
    config_two(&cfg, t);
    t[1].labels = mx1_labels;
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    result_auth_mixed(&r);
    record(m, &r);
    /* mx1 also fails without a reply once: its errors series. */
    result_connect_error(&r, "mx1");
    record(m, &r);
    result_connect_error(&r, "mx2");
    record(m, &r);
    metrics_skipped(m, "mx1", SCHED_SKIP_RUNNING, 1);
    metrics_resource_failure(m, PROBE_FAULT_MEMORY);
    char *text = render(m);
    check_labelled(text);
    free(text);
    metrics_free(m);
}

static void test_last_results(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[3];
    struct probe_result r;
    struct metrics_last *res = NULL;
    size_t n = 0;
    config_two(&cfg, t);
    target_set(&t[2], "a-first", "a.example.com", 25, TLS_MODE_NONE, NULL, 0);
    cfg.n_targets = 3;
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    result_auth_mixed(&r);
    record(m, &r);

    assert_int_equal(metrics_last_results(m, &res, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(res[0].result.target, "a-first");
    assert_string_equal(res[1].result.target, "mx1");
    assert_string_equal(res[2].result.target, "mx2");
    assert_true(res[0].result.start_time == 0);
    assert_true(res[0].result.phase_seconds[PROBE_PHASE_CONNECT] < 0);
    assert_int_equal(res[0].result.replies[PROBE_STAGE_GREETING].code, 0);
    assert_true(res[1].result.start_time == 1700000000.25);
    assert_int_equal(res[1].result.replies[PROBE_STAGE_AUTH].code, 535);
    assert_int_equal(res[1].result.auth[0].reply.code, 235);
    assert_string_equal(res[1].result.tls.version, "TLSv1.3");
    assert_true(res[2].result.start_time == 0);
    /* The server the page shows comes with the result, not probed yet
     * or not; and what the runner knew is kept beside it. */
    assert_string_equal(res[0].host, "a.example.com");
    assert_int_equal(res[0].port, 25);
    assert_int_equal(res[0].tls, TLS_MODE_NONE);
    assert_string_equal(res[1].host, t[1].host); /* mx1 */
    assert_int_equal(res[1].port, t[1].port);
    assert_string_equal(res[2].host, t[0].host); /* mx2, markup and all */
    assert_true(res[1].history.secret_changed_at == 0);
    free(res);

    /* The runner's history goes in with a result and comes out with it. */
    struct report_history h = {.secret_changed_at = 1700000100,
                               .auth_ok_since_secret_change = true};
    result_auth_mixed(&r);
    metrics_record(m, &r, &h);
    assert_int_equal(metrics_last_results(m, &res, &n), 0);
    assert_true(res[1].history.secret_changed_at == 1700000100);
    assert_true(res[1].history.auth_ok_since_secret_change);
    free(res);

    cfg.n_targets = 0;
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    res = NULL;
    assert_int_equal(metrics_last_results(m, &res, &n), 0);
    assert_int_equal(n, 0);
    free(res);
    metrics_free(m);
}

#define N_RECORDS 10000

struct race {
    struct metrics *m;
    const struct agent_config *cfg;
    atomic_bool stop;
    atomic_bool failed;
    atomic_int renders;
    atomic_int reloads;
};

static void *render_loop(void *arg)
{
    struct race *race = arg;
    struct buf b;
    buf_init(&b, 0);
    while (!atomic_load(&race->stop)) {
        buf_reset(&b);
        if (metrics_render(race->m, &b) < 0 ||
            !strstr(buf_str(&b), "smtp_agent_targets 2")) {
            atomic_store(&race->failed, true);
            break;
        }
        atomic_fetch_add(&race->renders, 1);
        struct metrics_last *res;
        size_t n;
        if (metrics_last_results(race->m, &res, &n) == 0)
            free(res);
    }
    buf_free(&b);
    return NULL;
}

/* Reloads with the same set meanwhile: nothing may be lost. */
static void *reload_loop(void *arg)
{
    struct race *race = arg;
    while (!atomic_load(&race->stop)) {
        if (metrics_set_targets(race->m, race->cfg) < 0) {
            atomic_store(&race->failed, true);
            break;
        }
        metrics_set_in_flight(race->m, 3);
        atomic_fetch_add(&race->reloads, 1);
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[2];
    struct probe_result ok, fail;
    config_two(&cfg, t);
    struct race race = {.m = metrics_new(&build), .cfg = &cfg};
    assert_non_null(race.m);
    atomic_init(&race.stop, false);
    atomic_init(&race.failed, false);
    atomic_init(&race.renders, 0);
    atomic_init(&race.reloads, 0);
    assert_int_equal(metrics_set_targets(race.m, &cfg), 0);

    pthread_t renderer, reloader;
    assert_int_equal(pthread_create(&renderer, NULL, render_loop, &race), 0);
    assert_int_equal(pthread_create(&reloader, NULL, reload_loop, &race), 0);
    result_auth_mixed(&ok);
    result_connect_error(&fail, "mx2");
    for (int i = 0; i < N_RECORDS; i++) {
        record(race.m, i % 2 ? &fail : &ok);
        if (i % 100 == 0)
            metrics_skipped(race.m, "mx2", SCHED_SKIP_HOST_LIMIT, 1);
    }
    /* Let the renderer run over the final state too, and the reloader
     * at least once (a slow machine may not have scheduled it yet). */
    int seen = atomic_load(&race.renders);
    while (!atomic_load(&race.failed) &&
           (atomic_load(&race.renders) < seen + 2 ||
            atomic_load(&race.reloads) < 1))
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    atomic_store(&race.stop, true);
    pthread_join(renderer, NULL);
    pthread_join(reloader, NULL);
    assert_false(atomic_load(&race.failed));

    char *text = render(race.m);
    static const char *const want[] = {
        "smtp_probes_total{target=\"mx1\"} 5000",
        "smtp_probes_total{target=\"mx2\"} 5000",
        "smtp_probe_errors_total{target=\"mx2\",error=\"connect\"} 5000",
        "smtp_probe_failures_total{target=\"mx1\",stage=\"auth\"} 5000",
        "smtp_replies_total{target=\"mx1\",stage=\"auth\",code=\"535\","
        "class=\"auth_failed\"} 5000",
        "smtp_auth_results_total{target=\"mx1\",mechanism=\"PLAIN\","
        "class=\"success\"} 5000",
        "smtp_probe_duration_seconds_count{target=\"mx1\"} 5000",
        "smtp_agent_probes_skipped_total{target=\"mx2\","
        "reason=\"host_limit\"} 100",
        "smtp_agent_probes_in_flight 3",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_line(text, want[i]);
    free(text);
    metrics_free(race.m);
}

static void test_procstat_read(void **state)
{
    (void)state;
    struct procstat ps;
    struct rlimit rl;
    assert_int_equal(procstat_read(&ps), 0);
    assert_true(ps.cpu_seconds >= 0);
    assert_true(ps.resident_bytes > 0);
    assert_true(ps.virtual_bytes >= ps.resident_bytes);
    assert_true(ps.open_fds >= 1);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur == RLIM_INFINITY)
        assert_true(isinf(ps.max_fds));
    else
        assert_true(ps.max_fds == (double)rl.rlim_cur);
    /* This process started moments ago. */
    double now = (double)time(NULL);
    assert_true(ps.start_time <= now + 2);
    assert_true(ps.start_time > now - 600);

    /* One more open file is one more fd, and the listing's own is not
     * counted. */
    int fd = open("/proc/self/stat", O_RDONLY);
    assert_true(fd >= 0);
    struct procstat more;
    assert_int_equal(procstat_read(&more), 0);
    close(fd);
    assert_true(more.open_fds == ps.open_fds + 1);
    assert_true(more.cpu_seconds >= ps.cpu_seconds);
}

static void test_procstat_render(void **state)
{
    (void)state;
    const struct procstat ps = {
        .cpu_seconds = 1.25,
        .start_time = 1700000000.5,
        .resident_bytes = 12345678,
        .virtual_bytes = 23456789,
        .open_fds = 9,
        .max_fds = 1024,
    };
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(procstat_render(&ps, &b), 0);
    assert_string_equal(
        buf_str(&b),
        "# HELP process_cpu_seconds_total Total user and system CPU time "
        "spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\n"
        "process_cpu_seconds_total 1.25\n"
        "# HELP process_resident_memory_bytes Resident memory size in "
        "bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\n"
        "process_resident_memory_bytes 12345678\n"
        "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
        "# TYPE process_virtual_memory_bytes gauge\n"
        "process_virtual_memory_bytes 23456789\n"
        "# HELP process_open_fds Number of open file descriptors.\n"
        "# TYPE process_open_fds gauge\n"
        "process_open_fds 9\n"
        "# HELP process_max_fds Maximum number of open file descriptors.\n"
        "# TYPE process_max_fds gauge\n"
        "process_max_fds 1024\n"
        "# HELP process_start_time_seconds Start time of the process since "
        "unix epoch in seconds.\n"
        "# TYPE process_start_time_seconds gauge\n"
        "process_start_time_seconds 1700000000.5\n");
    buf_free(&b);

    /* A buffer that refuses is reported, not cut silently. */
    buf_init(&b, 64);
    assert_int_equal(procstat_render(&ps, &b), -1);
    buf_free(&b);
}

/* ---- the series budget: what each extra_metrics option adds ---- */

/* A good probe of a STARTTLS target, as Postfix answers it: five final
 * replies, the phases of a STARTTLS session (no implicit handshake: no
 * tls), EHLO with 5 keywords and 3 mechanisms (SIZE stated), one TLS
 * session; one AUTH per mechanism in mechs (235). */
static void result_good(struct probe_result *r, const char *target,
                        const enum sasl_mech *mechs, size_t n_mechs)
{
    result_init(r, target);
    r->success = true;
    r->start_time = 1700000000;
    r->duration_seconds = 0.07;
    static const int codes[PROBE_STAGE_COUNT] = {[PROBE_STAGE_GREETING] = 220,
                                                 [PROBE_STAGE_EHLO] = 250,
                                                 [PROBE_STAGE_STARTTLS] = 220,
                                                 [PROBE_STAGE_AUTH] = 235,
                                                 [PROBE_STAGE_QUIT] = 221};
    for (int s = 0; s < PROBE_STAGE_COUNT; s++) {
        if (codes[s] && (s != PROBE_STAGE_AUTH || n_mechs > 0))
            reply_set(&r->replies[s], (enum probe_stage)s, codes[s]);
    }
    for (int p = 0; p < PROBE_PHASE_COUNT; p++)
        r->phase_seconds[p] =
            p == PROBE_PHASE_TLS || (p == PROBE_PHASE_AUTH && n_mechs == 0)
                ? -1
                : 0.01;
    r->ehlo_seen = true;
    static const char *const kw[] = {"PIPELINING", "SIZE", "AUTH",
                                     "ENHANCEDSTATUSCODES", "8BITMIME"};
    for (size_t i = 0; i < 5; i++)
        snprintf(r->ehlo.keywords[i], sizeof r->ehlo.keywords[i], "%s", kw[i]);
    r->ehlo.n_keywords = 5;
    static const char *const adv[] = {"PLAIN", "LOGIN", "CRAM-MD5"};
    for (size_t i = 0; i < 3; i++)
        snprintf(r->ehlo.mechs[i], sizeof r->ehlo.mechs[i], "%s", adv[i]);
    r->ehlo.n_mechs = 3;
    r->ehlo.auth = true;
    r->ehlo.has_size = true;
    r->ehlo.size = 10240000;
    r->tls.present = true;
    snprintf(r->tls.version, sizeof r->tls.version, "TLSv1.3");
    snprintf(r->tls.cipher, sizeof r->tls.cipher, "TLS_AES_256_GCM_SHA384");
    r->tls.not_after = 1900000000;
    r->tls.verified_not_after = 1950000000;
    r->tls.leaf_not_after = 2000000000;
    r->tls.leaf_not_before = 1700000000;
    snprintf(r->tls.subject, sizeof r->tls.subject, "CN=mx.example");
    snprintf(r->tls.issuer, sizeof r->tls.issuer, "CN=CA,O=Ex");
    snprintf(r->tls.serial, sizeof r->tls.serial, "1000");
    r->tls.leaf_sha256[31] = 1;
    r->tls.valid = true;
    r->n_auth = n_mechs;
    for (size_t i = 0; i < n_mechs; i++) {
        r->auth[i].mech = mechs[i];
        r->auth[i].attempted = true;
        r->auth[i].advertised = true;
        reply_set(&r->auth[i].reply, PROBE_STAGE_AUTH, 235);
    }
}

/* Samples of target in text: every line of a series with its label. */
static size_t count_target(const char *text, const char *target)
{
    char want[96];
    snprintf(want, sizeof want, "{target=\"%s\"", target);
    size_t n = 0;
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *brace = memchr(p, '{', len);
        if (p[0] != '#' && brace && strncmp(brace, want, strlen(want)) == 0)
            n++;
        p = end ? end + 1 : NULL;
    }
    return n;
}

static const enum sasl_mech budget_mechs[] = {SASL_MECH_PLAIN};

/* Two targets with extra_metrics = extra: "auth" (STARTTLS, PLAIN) and
 * "ehlo" (STARTTLS, EHLO only), not probed yet. */
static struct metrics *budget_targets(unsigned extra)
{
    const enum sasl_mech *plain = budget_mechs;
    struct agent_config cfg;
    struct target_config t[2];
    memset(&cfg, 0, sizeof cfg);
    target_set(&t[0], "auth", "mx.example.com", 587, TLS_MODE_STARTTLS, plain,
               1);
    target_set(&t[1], "ehlo", "mx.example.com", 587, TLS_MODE_STARTTLS, NULL,
               0);
    t[0].extra_metrics = t[1].extra_metrics = extra;
    cfg.targets = t;
    cfg.n_targets = 2;
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    return m;
}

/* budget_targets(), each after one good probe. */
static struct metrics *budget_store(unsigned extra)
{
    struct metrics *m = budget_targets(extra);
    struct probe_result r;
    result_good(&r, "auth", budget_mechs, 1);
    record(m, &r);
    result_good(&r, "ehlo", NULL, 0);
    record(m, &r);
    return m;
}

/*
 * A target's first probe allocates nothing in the store: its reply
 * counts and the room for its packed result and EHLO were made with it.
 * Made at the first probe, amid the probe's own allocations, each was a
 * long-lived block between short-lived ones (metrics.c says what that
 * cost). The store's blocks of a STARTTLS+AUTH target and of an
 * EHLO-only one are there before their first result, and are the same
 * blocks after it.
 */
static void test_first_probe_allocates_nothing(void **state)
{
    (void)state;
    struct metrics *m = budget_targets(0);
    assert_int_equal(m->n_targets, 2);
    struct probe_result *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    for (size_t i = 0; i < 2; i++) {
        struct mtarget *mt = m->targets[i]; /* sorted: auth, ehlo */
        const void *replies = mt->replies;
        const void *last = mt->last.data, *ehlo = mt->ehlo.data;
        assert_non_null(replies);
        assert_non_null(last);
        assert_non_null(ehlo);
        if (i == 0)
            result_good(r, "auth", budget_mechs, 1);
        else
            result_good(r, "ehlo", NULL, 0);
        record(m, r);
        assert_ptr_equal(mt->replies, replies);
        assert_ptr_equal(mt->last.data, last);
        assert_ptr_equal(mt->ehlo.data, ehlo);
        assert_true(mt->n_replies >= 3);
        assert_true(mt->last.len > 0);
    }
    free(r);
    metrics_free(m);
}

/* The lines of name in text, each with its newline, in one string. */
static char *lines_of(const char *text, const char *name)
{
    struct buf b;
    buf_init(&b, 0);
    size_t n = strlen(name);
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) + 1 : strlen(p);
        if (strncmp(p, name, n) == 0 && (p[n] == '{' || p[n] == ' '))
            assert_int_equal(buf_append(&b, p, len), 0);
        p += len;
    }
    return buf_take(&b);
}

/*
 * Issue 14: the verified chain's expiry and the leaf's notAfter by
 * default; its notBefore and smtp_tls_cert_info only with cert_details, its
 * text escaped, following a renewal (in the same block when it fits) and never
 * kept for a target that does not show it.
 */
static void test_cert_facts(void **state)
{
    (void)state;
    struct metrics *m = budget_targets(EXTRA(CERT_DETAILS));
    struct probe_result *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    result_good(r, "auth", budget_mechs, 1);
    snprintf(r->tls.subject, sizeof r->tls.subject, "CN=mx \"q\"\\");
    record(m, r);
    char *text = render(m);
    char *got = lines_of(text, "smtp_tls_verified_chain_expiry_timestamp_"
                               "seconds");
    assert_string_equal(got, "smtp_tls_verified_chain_expiry_timestamp_"
                             "seconds{target=\"auth\"} 1950000000\n");
    free(got);
    got = lines_of(text, "smtp_tls_leaf_cert_not_after_timestamp_seconds");
    assert_string_equal(got, "smtp_tls_leaf_cert_not_after_timestamp_"
                             "seconds{target=\"auth\"} 2000000000\n");
    free(got);
    got = lines_of(text, "smtp_tls_leaf_cert_not_before_timestamp_seconds");
    assert_string_equal(got, "smtp_tls_leaf_cert_not_before_timestamp_"
                             "seconds{target=\"auth\"} 1700000000\n");
    free(got);
    got = lines_of(text, "smtp_tls_cert_info");
    assert_string_equal(
        got, "smtp_tls_cert_info{target=\"auth\",fingerprint_sha256=\""
             "0000000000000000000000000000000000000000000000000000000000000001"
             "\",subject=\"CN=mx \\\"q\\\"\\\\\",issuer=\"CN=CA,O=Ex\","
             "serial=\"1000\"} 1\n");
    free(got);
    free(text);

    /* A renewal: a new serial and fingerprint, the same length. */
    struct mtarget *mt = metrics_find_target(m->targets, m->n_targets, "auth");
    const char *block = mt->tls.cert_info;
    r->tls.leaf_sha256[31] = 2;
    snprintf(r->tls.serial, sizeof r->tls.serial, "1001");
    record(m, r);
    assert_ptr_equal(mt->tls.cert_info, block);
    text = render(m);
    got = lines_of(text, "smtp_tls_cert_info");
    assert_non_null(strstr(got, "0002\",subject="));
    assert_non_null(strstr(got, "serial=\"1001\"} 1\n"));
    assert_null(strstr(got, "1000"));
    free(got);
    free(text);

    /* A chain that did not verify: no verified figure at all. */
    r->tls.verified_not_after = 0;
    r->tls.valid = false;
    record(m, r);
    text = render(m);
    assert_null(strstr(text, "smtp_tls_verified_chain_expiry"));
    assert_non_null(strstr(text, "smtp_tls_cert_expiry_timestamp_seconds{"));
    free(text);
    metrics_free(m);

    /* Without cert_details: no series, no text kept. */
    m = budget_targets(0);
    result_good(r, "auth", budget_mechs, 1);
    record(m, r);
    mt = metrics_find_target(m->targets, m->n_targets, "auth");
    assert_null(mt->tls.cert_info);
    text = render(m);
    assert_null(strstr(text, "smtp_tls_cert_info"));
    assert_null(strstr(text, "not_before"));
    assert_non_null(strstr(text, "smtp_tls_verified_chain_expiry"));
    assert_non_null(strstr(text, "smtp_tls_leaf_cert_not_after"));
    free(text);
    metrics_free(m);
    free(r);
}

/*
 * Exact series per target for each option (README's "Metrics" counts
 * come from a real Postfix; this shape has 5 EHLO keywords, not 10).
 * Default, STARTTLS + AUTH PLAIN: success 1, duration +Inf/_sum/_count
 * 3, phases 6 (resolve, connect, banner, ehlo, starttls, auth; an
 * implicit-TLS target has tls instead of starttls), IP
 * protocol 1, probes 1, errors starttls_unavailable 1, replies 5, AUTH
 * results 4, advertised PLAIN 1, size 1, TLS info/expiry/valid 3, last
 * run 1, target info 1 = 29; and issue 14's verified chain's expiry and
 * the leaf's notAfter 2 = 31 (22 + 2 = 24 EHLO-only).
 */
static void test_series_per_option(void **state)
{
    (void)state;
    static const struct {
        unsigned extra;
        size_t auth, ehlo;
    } cases[] = {
        {0, 31, 24},
        /* 13 more buckets */
        {EXTRA(DURATION_BUCKETS), 44, 37},
        /* 5 keywords, and LOGIN and CRAM-MD5 (all 3 for EHLO-only) */
        {EXTRA(EHLO_EXTENSIONS), 38, 32},
        /* one per stage with a reply: 5, and 4 without AUTH */
        {EXTRA(LAST_REPLY_CODES), 36, 28},
        /* 7 stages, the 7 other errors, skips of reason running */
        {EXTRA(ZERO_SERIES), 46, 39},
        /* smtp_tls_cert_info, the leaf's notBefore */
        {EXTRA(CERT_DETAILS), 33, 26},
        {ALL_EXTRA, 73, 66},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct metrics *m = budget_store(cases[i].extra);
        char *text = render(m);
        size_t auth = count_target(text, "auth");
        size_t ehlo = count_target(text, "ehlo");
        if (auth != cases[i].auth || ehlo != cases[i].ehlo)
            fail_msg("extra 0x%x: auth %zu (want %zu), ehlo %zu (want %zu)"
                     "\n%s",
                     cases[i].extra, auth, cases[i].auth, ehlo, cases[i].ehlo,
                     text);
        free(text);
        metrics_free(m);
    }
    /* The budget of DESIGN.md: 32 for a STARTTLS + AUTH target. */
    assert_true(cases[0].auth <= 32);
}

/* What the default keeps and drops, line by line. */
static void test_default_series(void **state)
{
    (void)state;
    struct metrics *m = budget_store(0);
    char *text = render(m);
    static const char *const want[] = {
        "smtp_probe_duration_seconds_bucket{target=\"auth\",le=\"+Inf\"} 1",
        "smtp_probe_duration_seconds_sum{target=\"auth\"} 0.07",
        "smtp_probe_duration_seconds_count{target=\"auth\"} 1",
        "smtp_auth_results_total{target=\"auth\",mechanism=\"PLAIN\","
        "class=\"success\"} 1",
        "smtp_auth_results_total{target=\"auth\",mechanism=\"PLAIN\","
        "class=\"unsupported_parameter\"} 0",
        "smtp_auth_results_total{target=\"auth\",mechanism=\"PLAIN\","
        "class=\"auth_failed\"} 0",
        "smtp_auth_results_total{target=\"auth\",mechanism=\"PLAIN\","
        "class=\"temporary_failure\"} 0",
        "smtp_auth_mechanism_advertised{target=\"auth\",mechanism=\"PLAIN\"} "
        "1",
        "smtp_replies_total{target=\"auth\",stage=\"auth\",code=\"235\","
        "class=\"success\"} 1",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_line(text, want[i]);
    assert_absent(text, "smtp_probe_duration_seconds_bucket{target=\"auth\","
                        "le=\"0.1\"}");
    assert_absent(text, "smtp_probe_failures_total");
    /* Of the errors only the one an alert fires on at once. */
    assert_line(text, "smtp_probe_errors_total{target=\"auth\","
                      "error=\"starttls_unavailable\"} 0");
    assert_line(text, "smtp_probe_errors_total{target=\"ehlo\","
                      "error=\"starttls_unavailable\"} 0");
    assert_absent(text, "error=\"connect\"");
    assert_absent(text, "smtp_agent_probes_skipped_total");
    assert_absent(text, "smtp_last_reply_code");
    assert_absent(text, "smtp_ehlo_extension");
    assert_absent(text, "mechanism=\"LOGIN\"");
    assert_absent(text, "smtp_auth_mechanism_advertised{target=\"ehlo\"");
    free(text);

    /* A failure and a skip appear with their first count, alone. */
    struct probe_result r;
    result_connect_error(&r, "auth");
    record(m, &r);
    metrics_skipped(m, "ehlo", SCHED_SKIP_RUNNING, 2);
    text = render(m);
    assert_line(
        text,
        "smtp_probe_failures_total{target=\"auth\",stage=\"connect\"} 1");
    assert_line(
        text, "smtp_probe_errors_total{target=\"auth\",error=\"connect\"} 1");
    assert_line(text, "smtp_agent_probes_skipped_total{target=\"ehlo\","
                      "reason=\"running\"} 2");
    assert_absent(text, "stage=\"greeting\"} ");
    assert_absent(text, "error=\"dns\"");
    assert_absent(text, "smtp_agent_probes_skipped_total{target=\"auth\"");
    free(text);
    metrics_free(m);
}

/* The phase series of target in text, one line each. */
static size_t count_phases(const char *text, const char *target)
{
    char *got = lines_of(text, "smtp_probe_phase_duration_seconds");
    char want[96];
    snprintf(want, sizeof want, "{target=\"%s\",phase=", target);
    size_t n = 0;
    for (const char *p = strstr(got, want); p; p = strstr(p + 1, want))
        n++;
    free(got);
    return n;
}

/*
 * Issue 15: implicit TLS's handshake is phase tls, and STARTTLS's command,
 * handshake and EHLO phase starttls: an implicit target has the one, a
 * STARTTLS target the other, and as many phase series as before.
 */
static void test_implicit_tls_phase(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config t[2];
    memset(&cfg, 0, sizeof cfg);
    target_set(&t[0], "imp", "mx.example.com", 465, TLS_MODE_IMPLICIT,
               budget_mechs, 1);
    target_set(&t[1], "st", "mx.example.com", 587, TLS_MODE_STARTTLS,
               budget_mechs, 1);
    cfg.targets = t;
    cfg.n_targets = 2;
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    struct probe_result *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    result_good(r, "st", budget_mechs, 1);
    record(m, r);
    /* What probe_connect.c records for implicit TLS. */
    result_good(r, "imp", budget_mechs, 1);
    memset(&r->replies[PROBE_STAGE_STARTTLS], 0, sizeof(struct probe_reply));
    r->phase_seconds[PROBE_PHASE_STARTTLS] = -1;
    r->phase_seconds[PROBE_PHASE_TLS] = 0.004;
    record(m, r);
    free(r);
    char *text = render(m);
    assert_line(text, "smtp_probe_phase_duration_seconds{target=\"imp\","
                      "phase=\"tls\"} 0.004");
    assert_absent(text, "smtp_probe_phase_duration_seconds{target=\"imp\","
                        "phase=\"starttls\"}");
    assert_line(text, "smtp_probe_phase_duration_seconds{target=\"st\","
                      "phase=\"starttls\"} 0.01");
    assert_absent(text, "smtp_probe_phase_duration_seconds{target=\"st\","
                        "phase=\"tls\"}");
    /* resolve, connect, tls|starttls, banner, ehlo, auth: in the enum's
     * order, tls after connect as it happens. */
    assert_int_equal(count_phases(text, "imp"), 6);
    assert_int_equal(count_phases(text, "st"), 6);
    assert_true(strstr(text, "target=\"imp\",phase=\"connect\"") <
                strstr(text, "target=\"imp\",phase=\"tls\""));
    assert_true(strstr(text, "target=\"imp\",phase=\"tls\"") <
                strstr(text, "target=\"imp\",phase=\"banner\""));
    free(text);
    metrics_free(m);
}

/* Options turned on by a reload show what the store counted before; each
 * target shows its own. */
static void test_extra_by_reload(void **state)
{
    (void)state;
    struct metrics *m = budget_store(0);
    struct probe_result r;
    result_connect_error(&r, "auth");
    record(m, &r);
    static const enum sasl_mech plain[] = {SASL_MECH_PLAIN};
    struct agent_config cfg;
    struct target_config t[2];
    memset(&cfg, 0, sizeof cfg);
    target_set(&t[0], "auth", "mx.example.com", 587, TLS_MODE_STARTTLS, plain,
               1);
    target_set(&t[1], "ehlo", "mx.example.com", 587, TLS_MODE_STARTTLS, NULL,
               0);
    t[0].extra_metrics = EXTRA(ZERO_SERIES) | EXTRA(DURATION_BUCKETS);
    t[1].extra_metrics = EXTRA(LAST_REPLY_CODES) | EXTRA(EHLO_EXTENSIONS);
    t[1].tls = TLS_MODE_IMPLICIT; /* no STARTTLS to go missing */
    cfg.targets = t;
    cfg.n_targets = 2;
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    char *text = render(m);
    assert_line(text, "smtp_probe_failures_total{target=\"auth\","
                      "stage=\"greeting\"} 0");
    assert_line(text, "smtp_agent_probes_skipped_total{target=\"auth\","
                      "reason=\"running\"} 0");
    assert_line(text, "smtp_probe_duration_seconds_bucket{target=\"auth\","
                      "le=\"0.005\"} 1");
    assert_line(text, "smtp_probe_duration_seconds_bucket{target=\"auth\","
                      "le=\"0.1\"} 2");
    assert_line(text, "smtp_last_reply_code{target=\"ehlo\",stage=\"ehlo\"} "
                      "250");
    assert_line(text, "smtp_ehlo_extension{target=\"ehlo\","
                      "keyword=\"PIPELINING\"} 1");
    assert_line(text, "smtp_auth_mechanism_advertised{target=\"ehlo\","
                      "mechanism=\"CRAM-MD5\"} 1");
    /* Each target its own: ehlo has no zero series, auth no last codes. */
    assert_absent(text, "smtp_probe_failures_total{target=\"ehlo\"");
    assert_absent(text, "smtp_probe_errors_total{target=\"ehlo\"");
    assert_absent(text, "smtp_last_reply_code{target=\"auth\"");
    assert_absent(text, "smtp_ehlo_extension{target=\"auth\"");
    free(text);
    metrics_free(m);
}

/* chunk_targets' names, the same in every call: the targets point at
 * them. */
static char chunk_names[3000][8];

/* n targets "c0000".."c(n-1)" (every step-th of them), no AUTH. */
static struct target_config *chunk_targets(size_t n, size_t step,
                                           struct agent_config *cfg)
{
    assert_true(n <= sizeof chunk_names / sizeof chunk_names[0]);
    struct target_config *t = calloc(n, sizeof(*t));
    assert_non_null(t);
    size_t k = 0;
    for (size_t i = 0; i < n; i += step, k++) {
        snprintf(chunk_names[i], sizeof chunk_names[i], "c%04zu", i);
        target_set(&t[k], chunk_names[i], "mx.example.com", 25, TLS_MODE_NONE,
                   NULL, 0);
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->targets = t;
    cfg->n_targets = k;
    return t;
}

/* Every target's smtp_target_info line once, in name order. */
static size_t check_info_lines(const char *text)
{
    char prev[64] = "";
    size_t n = 0;
    const char *needle = "smtp_target_info{target=\"";
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) {
        char name[64];
        assert_int_equal(sscanf(p + strlen(needle), "%63[^\"]", name), 1);
        if (strcmp(name, prev) <= 0)
            fail_msg("%s after %s", name, prev);
        snprintf(prev, sizeof prev, "%s", name);
        n++;
    }
    return n;
}

/* A render of many targets takes the lock a chunk at a time, and the
 * text is what one hold would have written. */
static void test_render_in_chunks(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct target_config *t = chunk_targets(1000, 1, &cfg);
    struct metrics *m = metrics_new(&build);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);
    unsigned long before = metrics_render_holds(m);
    char *text = render(m);
    unsigned long holds = metrics_render_holds(m) - before;
    /* Every per-target family needs 4 holds for 1,000 targets. */
    assert_true(holds >= 4 * 10);
    assert_int_equal(check_info_lines(text), 1000);
    free(text);
    metrics_free(m);
    free(t);
}

struct chunk_race {
    struct metrics *m;
    struct agent_config *a, *b;
    atomic_bool stop;
};

static void *chunk_reloads(void *arg)
{
    struct chunk_race *r = arg;
    for (unsigned i = 0; !atomic_load(&r->stop); i++)
        metrics_set_targets(r->m, i % 2 ? r->a : r->b);
    return NULL;
}

/* Distinct target="..." values anywhere in text. */
static size_t distinct_targets(const char *text)
{
    static bool seen[3000];
    memset(seen, 0, sizeof seen);
    size_t n = 0;
    static const char needle[] = "target=\"c";
    size_t len = sizeof needle - 1;
    /* One pass by hand: sscanf, and strstr under ASan, measure the rest
     * of the 5 MB text at every call. */
    for (const char *p = text; *p; p++) {
        if (*p != 't' || strncmp(p, needle, len) != 0)
            continue;
        const char *d = p + len;
        unsigned i = 0;
        for (int k = 0; k < 4; k++) {
            assert_true(d[k] >= '0' && d[k] <= '9');
            i = i * 10 + (unsigned)(d[k] - '0');
        }
        assert_true(i < 3000);
        if (!seen[i]) {
            seen[i] = true;
            n++;
        }
    }
    return n;
}

/* Reloads between chunks: no target twice, none out of order, and every
 * body of one target list: all 3,000 of a, or b's 1,000 (every third of
 * a's), never some of each. */
static void test_render_chunks_during_reloads(void **state)
{
    (void)state;
    struct agent_config a, b;
    struct target_config *ta = chunk_targets(3000, 1, &a);
    struct target_config *tb = chunk_targets(3000, 3, &b);
    struct chunk_race r = {.m = metrics_new(&build), .a = &a, .b = &b};
    assert_non_null(r.m);
    assert_int_equal(metrics_set_targets(r.m, &a), 0);
    atomic_init(&r.stop, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, chunk_reloads, &r), 0);
    for (int i = 0; i < 20; i++) {
        char *text = render(r.m);
        size_t n = check_info_lines(text);
        if (n != 1000 && n != 3000)
            fail_msg("render %d: %zu targets' info lines", i, n);
        assert_int_equal(distinct_targets(text), n);
        free(text);
    }
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    metrics_free(r.m);
    free(ta);
    free(tb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preinitialised),
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_every_reply_counts),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_target_info_follows_reload),
        cmocka_unit_test(test_check_series),
        cmocka_unit_test(test_agent_values),
        cmocka_unit_test(test_shard),
        cmocka_unit_test(test_skips_and_resource_failures),
        cmocka_unit_test(test_fault_is_not_the_targets),
        cmocka_unit_test(test_family_order_and_promtool),
        cmocka_unit_test(test_last_results),
        cmocka_unit_test(test_target_labels),
        cmocka_unit_test(test_target_labels_everywhere),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_render_in_chunks),
        cmocka_unit_test(test_render_chunks_during_reloads),
        cmocka_unit_test(test_series_per_option),
        cmocka_unit_test(test_cert_facts),
        cmocka_unit_test(test_first_probe_allocates_nothing),
        cmocka_unit_test(test_default_series),
        cmocka_unit_test(test_implicit_tls_phase),
        cmocka_unit_test(test_extra_by_reload),
        cmocka_unit_test(test_procstat_read),
        cmocka_unit_test(test_procstat_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
