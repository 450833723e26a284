/* test_once_select: --target's selection, its messages and its distance. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "once_select.h"

/* ---- the distance ----------------------------------------------------- */

static const struct {
    const char *a, *b;
    size_t max, want;
} distances[] = {
    {"", "", 2, 0},
    {"mx1", "mx1", 2, 0},
    {"mx1", "MX1", 2, 0}, /* case does not count */
    {"mx1", "mx2", 2, 1},
    {"mx1", "mx11", 2, 1},
    {"mx1", "x1", 2, 1},
    {"ab", "ba", 2, 2},
    {"relay-est", "relay-east", 2, 1},
    {"kitten", "sitting", 3, 3},
    {"kitten", "sitting", 2, 3}, /* more than max: max + 1 */
    {"a", "abcd", 2, 3},         /* lengths too far apart */
    {"", "abc", 3, 3},
    {"abc", "", 1, 2},
    {"mx1", "relay-east", 1, 2},
    {"abc", "xyz", 0, 1},
    {"abc", "abc", 0, 0},
    {"abc", "abc", 99, 0}, /* max is capped, equal is still 0 */
};

static void test_distance_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof distances / sizeof *distances; i++) {
        size_t got = once_select_distance(distances[i].a, distances[i].b,
                                          distances[i].max);
        if (got != distances[i].want)
            fail_msg("'%s' '%s' max %zu: %zu, want %zu", distances[i].a,
                     distances[i].b, distances[i].max, got, distances[i].want);
    }
}

/* The whole table, no band: what the banded one must agree with. */
static size_t full_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t d[16][16];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* Random short strings of a small alphabet (many near misses): the band
 * and the early stop give the full table's answer, or max + 1. */
static void test_distance_agrees_with_the_full_table(void **state)
{
    (void)state;
    unsigned seed = 15;
    for (int n = 0; n < 20000; n++) {
        char a[13], b[13];
        size_t la = (size_t)(rand_r(&seed) % 13);
        size_t lb = (size_t)(rand_r(&seed) % 13);
        for (size_t i = 0; i < la; i++)
            a[i] = "abc"[rand_r(&seed) % 3];
        for (size_t i = 0; i < lb; i++)
            b[i] = "abc"[rand_r(&seed) % 3];
        a[la] = b[lb] = '\0';
        size_t full = full_distance(a, b);
        for (size_t max = 0; max <= 8; max++) {
            size_t want = full <= max ? full : max + 1;
            size_t got = once_select_distance(a, b, max);
            if (got != want)
                fail_msg("'%s' '%s' max %zu: %zu, want %zu", a, b, max, got,
                         want);
        }
    }
}

/* The longest names a target can have: still measured; longer: far. */
static void test_distance_long_names(void **state)
{
    (void)state;
    char a[CONFIG_TARGET_NAME_MAX + 16], b[CONFIG_TARGET_NAME_MAX + 16];
    memset(a, 'h', CONFIG_TARGET_NAME_MAX);
    a[CONFIG_TARGET_NAME_MAX] = '\0';
    memcpy(b, a, sizeof a);
    assert_int_equal(once_select_distance(a, b, 2), 0);
    b[100] = 'x';
    b[CONFIG_TARGET_NAME_MAX - 1] = '\0';
    assert_int_equal(once_select_distance(a, b, 2), 2);
    memset(a, 'h', CONFIG_TARGET_NAME_MAX + 10);
    a[CONFIG_TARGET_NAME_MAX + 10] = '\0';
    memcpy(b, a, sizeof a);
    assert_int_equal(once_select_distance(a, b, 2), 3);
}

/* ---- the selection ---------------------------------------------------- */

/* What a function wrote to err, as a string the caller frees. */
struct capture {
    char *data;
    size_t len;
    FILE *f;
};

static void capture_open(struct capture *c)
{
    memset(c, 0, sizeof(*c));
    c->f = open_memstream(&c->data, &c->len);
    assert_non_null(c->f);
}

static const char *capture_close(struct capture *c)
{
    assert_int_equal(fclose(c->f), 0);
    return c->data;
}

static const char CONFIG[] = "[target \"mx1\"]\nhost = mx1.example.com\n"
                             "[target \"mx2\"]\nhost = mx2.example.com\n"
                             "[target \"relay-east\"]\nhost = relay.example\n"
                             "[target \"submission-west\"]\n"
                             "host = secret-host.example\n";

static struct agent_config *load(void)
{
    struct config_diag d;
    config_diag_init(&d);
    struct agent_config *cfg = config_load_string("t.ini", CONFIG, &d);
    if (!cfg)
        fail_msg("%s", buf_str(&d.errors));
    config_diag_free(&d);
    assert_int_equal(cfg->n_targets, 4);
    return cfg;
}

/* Only the names given, each once, in config order whatever the order
 * of the flags. */
static void test_select_keeps_config_order(void **state)
{
    (void)state;
    struct agent_config *cfg = load();
    const char *names[] = {"relay-east", "mx1", "relay-east"};
    struct capture c;
    capture_open(&c);
    assert_int_equal(once_select_targets(cfg, names, 3, c.f), 0);
    assert_string_equal(capture_close(&c), "");
    free(c.data);
    assert_int_equal(cfg->n_targets, 2);
    assert_string_equal(cfg->targets[0].name, "mx1");
    assert_string_equal(cfg->targets[1].name, "relay-east");
    assert_string_equal(cfg->targets[1].host, "relay.example");
    config_free(cfg);
}

/*
 * A name that is no target: a line of its own with the close names,
 * nothing of the config but names, and the config unchanged. A name
 * given twice is said once; good names next to it do not help.
 */
static void test_unknown_names(void **state)
{
    (void)state;
    struct agent_config *cfg = load();
    const char *names[] = {"mx1",      "mx3", "relay",
                           "zzzzzzzz", "mx3", "SUBMISSION-WEST"};
    struct capture c;
    capture_open(&c);
    assert_int_equal(once_select_targets(cfg, names, 6, c.f), -1);
    const char *err = capture_close(&c);
    assert_string_equal(
        err, "smtp-health-agent: --target: no target named 'mx3' in t.ini; "
             "did you mean 'mx1' or 'mx2'?\n"
             "smtp-health-agent: --target: no target named 'relay' in t.ini; "
             "did you mean 'relay-east'?\n"
             "smtp-health-agent: --target: no target named 'zzzzzzzz' in "
             "t.ini (4 targets; a name is a [target \"NAME\"]'s, or a "
             "targets file's HOST:PORT/MODULE)\n"
             "smtp-health-agent: --target: no target named "
             "'SUBMISSION-WEST' in t.ini; did you mean 'submission-west'?\n");
    assert_null(strstr(err, "example"));
    free(c.data);
    assert_int_equal(cfg->n_targets, 4);
    assert_string_equal(cfg->targets[3].name, "submission-west");
    config_free(cfg);
}

/* What the operator typed is shown printable, and cut short. */
static void test_unknown_name_shown_printable(void **state)
{
    (void)state;
    struct agent_config *cfg = load();
    char longname[CONFIG_TARGET_NAME_MAX + 40];
    memset(longname, 'q', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *names[] = {"a\tb\033[2J\n", longname};
    struct capture c;
    capture_open(&c);
    assert_int_equal(once_select_targets(cfg, names, 2, c.f), -1);
    const char *err = capture_close(&c);
    assert_non_null(strstr(err, "named 'a?b?[2J?' in t.ini"));
    char want[CONFIG_TARGET_NAME_MAX + 16];
    memset(want, 'q', CONFIG_TARGET_NAME_MAX);
    snprintf(want + CONFIG_TARGET_NAME_MAX, 16, "...' in");
    assert_non_null(strstr(err, want));
    for (const char *p = err; *p; p++)
        assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
    free(c.data);
    config_free(cfg);
}

/*
 * A targets file's targets are HOST:PORT/MODULE: selected by that name,
 * suggested for their HOST or HOST:PORT; the secrets of the targets left
 * out are freed (ASan sees a leak or a double free), a shared one is
 * the module's and stays; n_file_targets counts what is left.
 */
static void test_targets_file_names(void **state)
{
    (void)state;
    struct agent_config *cfg = calloc(1, sizeof(*cfg));
    assert_non_null(cfg);
    snprintf(cfg->path, sizeof cfg->path, "agent.ini");
    cfg->shards = 1;
    static char module_secret[] = "module-secret";
    static const char *const names[] = {
        "own", "mx.example:587/sub", "mx.example:25/sub", "[2001:db8::1]:25"};
    cfg->n_targets = 4;
    cfg->n_file_targets = 3;
    cfg->targets = calloc(cfg->n_targets, sizeof(*cfg->targets));
    assert_non_null(cfg->targets);
    for (size_t i = 0; i < cfg->n_targets; i++) {
        cfg->targets[i].name = names[i];
        cfg->targets[i].host = "h";
    }
    cfg->targets[0].secret = strdup("own-secret");
    cfg->targets[0].secret_len = strlen("own-secret");
    for (size_t i = 1; i < 3; i++) {
        cfg->targets[i].secret = module_secret;
        cfg->targets[i].secret_len = strlen(module_secret);
        cfg->targets[i].secret_shared = true;
    }
    assert_non_null(cfg->targets[0].secret);

    const char *bad[] = {"mx.example", "mx.example:587", "[2001:db8::1]"};
    struct capture c;
    capture_open(&c);
    assert_int_equal(once_select_targets(cfg, bad, 3, c.f), -1);
    const char *err = capture_close(&c);
    assert_string_equal(
        err, "smtp-health-agent: --target: no target named 'mx.example' in "
             "agent.ini; did you mean 'mx.example:587/sub' or "
             "'mx.example:25/sub'?\n"
             "smtp-health-agent: --target: no target named 'mx.example:587' "
             "in agent.ini; did you mean 'mx.example:587/sub'?\n"
             "smtp-health-agent: --target: no target named '[2001:db8::1]' "
             "in agent.ini; did you mean '[2001:db8::1]:25'?\n");
    assert_null(strstr(err, "secret"));
    free(c.data);

    const char *good[] = {"[2001:db8::1]:25", "mx.example:25/sub"};
    capture_open(&c);
    assert_int_equal(once_select_targets(cfg, good, 2, c.f), 0);
    free((char *)capture_close(&c));
    assert_int_equal(cfg->n_targets, 2);
    assert_int_equal(cfg->n_file_targets, 2);
    assert_string_equal(cfg->targets[0].name, "mx.example:25/sub");
    assert_ptr_equal(cfg->targets[0].secret, module_secret);
    assert_string_equal(module_secret, "module-secret");
    assert_string_equal(cfg->targets[1].name, "[2001:db8::1]:25");
    /* The module's secret is not the targets' to free. */
    for (size_t i = 0; i < cfg->n_targets; i++) {
        cfg->targets[i].secret = NULL;
        cfg->targets[i].secret_shared = false;
    }
    free(cfg->targets);
    free(cfg);
}

/* A sharded agent says so: the name may be another agent's. */
static void test_other_shards_said(void **state)
{
    (void)state;
    struct agent_config *cfg = load();
    cfg->shards = 3;
    cfg->shard = 1;
    cfg->n_other_shards = 7;
    const char *names[] = {"elsewhere"};
    struct capture c;
    capture_open(&c);
    assert_int_equal(once_select_targets(cfg, names, 1, c.f), -1);
    const char *err = capture_close(&c);
    assert_non_null(strstr(err, "; this agent probes shard 1/3, and 7 "
                                "targets are other shards'\n"));
    free(c.data);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance_table),
        cmocka_unit_test(test_distance_agrees_with_the_full_table),
        cmocka_unit_test(test_distance_long_names),
        cmocka_unit_test(test_select_keeps_config_order),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_unknown_name_shown_printable),
        cmocka_unit_test(test_targets_file_names),
        cmocka_unit_test(test_other_shards_said),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
