/* test_enums: every mechanism, class, stage, error, phase and fault has
 * one name of its own, and appears exactly once wherever the code lists
 * them: the metrics' series, the catalogue. Adding a value to an enum
 * must be a compile error or just work, never a silent wrong series. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalogue.h"
#include "classify.h"
#include "log.h"
#include "metrics.h"
#include "probe.h"
#include "report.h"
#include "sasl.h"
#include "scheduler.h"

/* name(0..count) are non-NULL, not "unknown", pairwise distinct, and an
 * out-of-range value reads as "unknown" rather than another's name. */
#define CHECK_NAMES(what, count, name_fn)                                     \
    do {                                                                      \
        const char *names_[64];                                               \
        assert_true((count) <= 64);                                           \
        for (int i_ = 0; i_ < (int)(count); i_++) {                           \
            names_[i_] = name_fn(i_);                                         \
            if (!names_[i_] || !*names_[i_] ||                                \
                strcasecmp(names_[i_], "unknown") == 0)                       \
                fail_msg("%s %d has no name", what, i_);                      \
            for (int j_ = 0; j_ < i_; j_++)                                   \
                if (strcmp(names_[i_], names_[j_]) == 0)                      \
                    fail_msg("%s %d and %d are both \"%s\"", what, j_, i_,    \
                             names_[i_]);                                     \
        }                                                                     \
        assert_int_equal(strcasecmp(name_fn((int)(count)), "unknown"), 0);    \
    } while (0)

static const char *stage_n(int i)
{
    return probe_stage_name((enum probe_stage)i);
}
static const char *error_n(int i)
{
    return probe_error_name((enum probe_error)i);
}
static const char *class_n(int i)
{
    return smtp_class_name((enum smtp_class)i);
}
static const char *mech_n(int i)
{
    return sasl_mech_name((enum sasl_mech)i);
}
static const char *phase_n(int i)
{
    return probe_phase_name((enum probe_phase)i);
}
static const char *fault_n(int i)
{
    return probe_fault_name((enum probe_fault)i);
}
static const char *skip_n(int i)
{
    return sched_skip_reason_name((enum sched_skip_reason)i);
}
static const char *level_n(int i)
{
    return log_level_name((enum log_level)i);
}
static const char *state_n(int i)
{
    return report_state_name((enum report_state)i);
}

static void test_every_value_has_its_own_name(void **state)
{
    (void)state;
    CHECK_NAMES("stage", PROBE_STAGE_COUNT, stage_n);
    CHECK_NAMES("error", PROBE_ERROR_COUNT, error_n);
    CHECK_NAMES("class", SMTP_CLASS_COUNT, class_n);
    CHECK_NAMES("mechanism", SASL_MECH_COUNT, mech_n);
    CHECK_NAMES("phase", PROBE_PHASE_COUNT, phase_n);
    CHECK_NAMES("skip reason", SCHED_SKIP_REASON_COUNT, skip_n);
    CHECK_NAMES("log level", LOG_LEVEL_COUNT, level_n);
    CHECK_NAMES("report state", REPORT_STATE_COUNT, state_n);
    /* PROBE_FAULT_NONE is no resource: the rest are label values. */
    for (int f = PROBE_FAULT_NONE + 1; f < PROBE_FAULT_COUNT; f++)
        for (int g = PROBE_FAULT_NONE + 1; g < f; g++)
            assert_string_not_equal(fault_n(f), fault_n(g));
    for (int f = PROBE_FAULT_NONE + 1; f < PROBE_FAULT_COUNT; f++)
        assert_string_not_equal(fault_n(f), "unknown");
}

/* What an operator types, or the config holds, reads back as the value. */
static void test_every_name_parses_back(void **state)
{
    (void)state;
    for (int i = 0; i < PROBE_STAGE_COUNT; i++) {
        enum probe_stage v;
        assert_int_equal(probe_stage_parse(stage_n(i), &v), 0);
        assert_int_equal(v, i);
    }
    for (int i = 0; i < PROBE_ERROR_COUNT; i++) {
        enum probe_error v;
        assert_int_equal(probe_error_parse(error_n(i), &v), 0);
        assert_int_equal(v, i);
    }
    for (int i = 0; i < SMTP_CLASS_COUNT; i++) {
        enum smtp_class v;
        assert_int_equal(smtp_class_parse(class_n(i), &v), 0);
        assert_int_equal(v, i);
    }
    for (int i = 0; i < SASL_MECH_COUNT; i++) {
        enum sasl_mech v;
        assert_int_equal(sasl_mech_parse(mech_n(i), &v), 0);
        assert_int_equal(v, i);
    }
    for (int i = 0; i < LOG_LEVEL_COUNT; i++) {
        enum log_level v;
        assert_int_equal(log_level_parse(level_n(i), &v), 0);
        assert_int_equal(v, i);
    }
}

/* The explanations: every class and every error has its entry. */
static void test_catalogue_knows_every_class_and_error(void **state)
{
    (void)state;
    for (int c = 0; c < SMTP_CLASS_COUNT; c++) {
        const struct catalogue_entry *e = catalogue_class((enum smtp_class)c);
        assert_non_null(e);
        assert_string_equal(e->key, class_n(c));
    }
    for (int e = PROBE_ERROR_NONE + 1; e < PROBE_ERROR_COUNT; e++) {
        const struct catalogue_entry *ent =
            catalogue_error((enum probe_error)e);
        assert_non_null(ent);
        assert_string_equal(ent->key, error_n(e));
    }
}

static size_t count_lines(const char *text, const char *line)
{
    size_t n = 0, len = strlen(line);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, line, len) == 0 && p[len] == ' ')
            n++;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return n;
}

/* A code of each class at AUTH; 0 for a class no AUTH reply has. */
static void auth_code_of(int code_of[SMTP_CLASS_COUNT])
{
    for (int c = 0; c < SMTP_CLASS_COUNT; c++)
        code_of[c] = 0;
    for (int code = 200; code <= 599; code++) {
        enum smtp_class c = classify_reply(PROBE_STAGE_AUTH, code);
        if (!code_of[c])
            code_of[c] = code;
    }
}

/* The store of one target "all" with every mechanism and extra_metrics
 * = extra, each mechanism of which got a reply of every class. */
static struct metrics *every_value_store(unsigned extra)
{
    assert_true(SASL_MECH_COUNT <= CONFIG_MAX_MECHS);
    struct target_config t;
    memset(&t, 0, sizeof(t));
    t.name = "all";
    t.host = "mx.example.com";
    t.port = 587;
    t.tls = TLS_MODE_STARTTLS;
    t.extra_metrics = extra;
    for (int i = 0; i < SASL_MECH_COUNT; i++)
        t.mechs[i] = (enum sasl_mech)i;
    t.n_mechs = SASL_MECH_COUNT;
    struct agent_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.targets = &t;
    cfg.n_targets = 1;
    struct metrics *m = metrics_new(NULL);
    assert_non_null(m);
    assert_int_equal(metrics_set_targets(m, &cfg), 0);

    /* A code of each class at AUTH, for every mechanism. */
    int code_of[SMTP_CLASS_COUNT];
    auth_code_of(code_of);
    struct probe_result *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    for (int c = 0; c < SMTP_CLASS_COUNT; c++) {
        if (!code_of[c])
            continue; /* no AUTH reply has this class */
        memset(r, 0, sizeof(*r));
        snprintf(r->target, sizeof(r->target), "all");
        r->start_time = 1700000000;
        r->n_auth = SASL_MECH_COUNT;
        for (int i = 0; i < SASL_MECH_COUNT; i++) {
            r->auth[i].mech = (enum sasl_mech)i;
            r->auth[i].attempted = true;
            r->auth[i].reply.code = code_of[c];
            r->auth[i].reply.cls = (enum smtp_class)c;
        }
        metrics_record(m, r, NULL);
    }
    free(r);
    return m;
}

/* A failed probe at every stage, and one of every error. */
static void record_every_failure(struct metrics *m)
{
    struct probe_result *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    int n = (int)PROBE_STAGE_COUNT > (int)PROBE_ERROR_COUNT
                ? (int)PROBE_STAGE_COUNT
                : (int)PROBE_ERROR_COUNT;
    for (int i = 0; i < n; i++) {
        memset(r, 0, sizeof(*r));
        snprintf(r->target, sizeof(r->target), "all");
        r->start_time = 1700000000;
        r->stage = (enum probe_stage)(i % PROBE_STAGE_COUNT);
        r->error = (enum probe_error)(PROBE_ERROR_NONE + 1 +
                                      i % (PROBE_ERROR_COUNT - 1));
        metrics_record(m, r, NULL);
    }
    free(r);
}

/* Each (mechanism, class), stage and error is at most one series (at
 * least one too when exactly), under its own name. */
static void check_each_value(struct metrics *m, bool exactly)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(metrics_render(m, &b), 0);
    const char *text = buf_str(&b);
    char line[256];
    size_t lo = exactly ? 1 : 0;
    int code_of[SMTP_CLASS_COUNT];
    auth_code_of(code_of);
#define CHECK_COUNT(...)                                                      \
    do {                                                                      \
        snprintf(line, sizeof(line), __VA_ARGS__);                            \
        size_t n_ = count_lines(text, line);                                  \
        if (n_ < lo || n_ > 1)                                                \
            fail_msg("%zu lines of %s", n_, line);                            \
    } while (0)
    for (int i = 0; i < SASL_MECH_COUNT; i++)
        for (int c = 0; c < SMTP_CLASS_COUNT; c++) {
            if (!code_of[c])
                continue; /* no AUTH reply has this class */
            CHECK_COUNT("smtp_auth_results_total{target=\"all\","
                        "mechanism=\"%s\",class=\"%s\"}",
                        mech_n(i), class_n(c));
        }
    for (int s = 0; s < PROBE_STAGE_COUNT; s++)
        CHECK_COUNT("smtp_probe_failures_total{target=\"all\",stage=\"%s\"}",
                    stage_n(s));
    for (int e = PROBE_ERROR_NONE + 1; e < PROBE_ERROR_COUNT; e++)
        CHECK_COUNT("smtp_probe_errors_total{target=\"all\",error=\"%s\"}",
                    error_n(e));
    for (int f = PROBE_FAULT_NONE + 1; f < PROBE_FAULT_COUNT; f++)
        CHECK_COUNT("smtp_agent_resource_failures_total{resource=\"%s\"}",
                    fault_n(f));
#undef CHECK_COUNT
    buf_free(&b);
}

/* With zero_series every value is there from the start, exactly once;
 * by default a failure or error series appears with its first count:
 * at most once before, exactly once after. */
static void test_metrics_list_each_value_once(void **state)
{
    (void)state;
    struct metrics *m =
        every_value_store(CONFIG_EXTRA_BIT(CONFIG_EXTRA_ZERO_SERIES));
    check_each_value(m, true);
    record_every_failure(m);
    check_each_value(m, true);
    metrics_free(m);

    m = every_value_store(0);
    check_each_value(m, false);
    record_every_failure(m);
    check_each_value(m, true);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_value_has_its_own_name),
        cmocka_unit_test(test_every_name_parses_back),
        cmocka_unit_test(test_catalogue_knows_every_class_and_error),
        cmocka_unit_test(test_metrics_list_each_value_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
