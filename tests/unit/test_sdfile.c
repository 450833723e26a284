/* test_sdfile: Prometheus file_sd files, JSON and YAML, parsed and
 * checked. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"
#include "sdfile.h"

/* A file that parses: what each group and target came out as. "targets"
 * lists host/port pairs as "host port;host port;" in file order; each
 * group is "n_targets|module|labels" with labels as name=value, spaces
 * between. */
struct good_case {
    enum sd_format format;
    const char *text;
    const char *targets;
    const char *groups;
};

static const struct good_case goods[] = {
    {SD_FORMAT_JSON,
     "[{\"targets\": [\"mx1.example.com:587\", \"192.0.2.1\"], \"labels\": "
     "{\"__param_module\": \"sub\", \"team\": \"mail\"}}]",
     "mx1.example.com 587;192.0.2.1 0;", "2|sub|team=mail;"},
    {SD_FORMAT_JSON,
     "[{\"targets\": [\"[2001:db8::1]:25\", \"2001:db8::2\"]}, "
     "{\"targets\": []}, {\"targets\": null, \"labels\": null}]",
     "2001:db8::1 25;2001:db8::2 0;", "2||;0||;0||;"},
    /* Prometheus' own labels are left out; an empty value is no label. */
    {SD_FORMAT_JSON,
     "[{\"targets\": [\"a.example:25\"], \"labels\": {\"__meta_x\": \"y\", "
     "\"__scheme__\": \"https\", \"env\": \"\", \"site\": \"fra\"}}]",
     "a.example 25;", "1||site=fra;"},
    {SD_FORMAT_JSON, "[]", "", ""},
    {SD_FORMAT_YAML,
     "- targets: [mx1.example.com:587, 'mx2.example.com:587']\n"
     "  labels:\n"
     "    __param_module: sub\n"
     "    team: mail\n"
     "    port_note: 587\n"
     "- targets:\n"
     "    - \"[::1]:2525\"\n",
     "mx1.example.com 587;mx2.example.com 587;::1 2525;",
     "2|sub|team=mail port_note=587;1||;"},
    /* An empty YAML file, or one holding only a comment: no groups. */
    {SD_FORMAT_YAML, "", "", ""},
    {SD_FORMAT_YAML, "# nothing yet\n", "", ""},
    {SD_FORMAT_YAML, "- targets:\n  labels: ~\n", "", "0||;"},
    /* YAML reads JSON too. */
    {SD_FORMAT_YAML, "[{\"targets\": [\"a.example:1\"]}]", "a.example 1;",
     "1||;"},
};

static void describe(const struct sd_file *f, char *targets, size_t tn,
                     char *groups, size_t gn)
{
    size_t o = 0;
    targets[0] = groups[0] = '\0';
    for (size_t i = 0; i < f->n_targets; i++)
        o += (size_t)snprintf(targets + o, tn - o, "%s %u;",
                              f->targets[i].host, f->targets[i].port);
    o = 0;
    for (size_t i = 0; i < f->n_groups; i++) {
        const struct sd_group *g = &f->groups[i];
        o += (size_t)snprintf(groups + o, gn - o, "%zu|%s|", g->n_targets,
                              g->module);
        const char *name, *value;
        const char *sep = "";
        for (const char *p = labels_next(g->labels, &name, &value); p;
             p = labels_next(p, &name, &value)) {
            o += (size_t)snprintf(groups + o, gn - o, "%s%s=%s", sep, name,
                                  value);
            sep = " ";
        }
        o += (size_t)snprintf(groups + o, gn - o, ";");
    }
}

static void test_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        const struct good_case *c = &goods[i];
        struct sd_file f;
        char err[512] = "";
        int rc = sd_parse(c->format, c->text, strlen(c->text), &f, err,
                          sizeof(err));
        if (rc != 0)
            fail_msg("case %zu: %s", i, err);
        char targets[1024], groups[1024];
        describe(&f, targets, sizeof(targets), groups, sizeof(groups));
        if (strcmp(targets, c->targets) != 0 || strcmp(groups, c->groups))
            fail_msg("case %zu: targets \"%s\" groups \"%s\"", i, targets,
                     groups);
        sd_file_free(&f);
    }
}

/* A file that does not parse, and a piece of what the message says. */
struct bad_case {
    enum sd_format format;
    const char *text;
    const char *message;
};

static const struct bad_case bads[] = {
    {SD_FORMAT_JSON, "", "line 1, column 0:"},
    {SD_FORMAT_JSON, "[{\"targets\": [\"a:1\"]}", "line 1,"},
    {SD_FORMAT_JSON, "{\"targets\": []}", "not a list of groups"},
    {SD_FORMAT_JSON, "[[]]", "group 1: not an object"},
    {SD_FORMAT_JSON, "[{\"labels\": {}}]", "group 1: \"targets\" is missing"},
    {SD_FORMAT_JSON, "[{\"targets\": \"a:1\"}]", "\"targets\" is not a list"},
    {SD_FORMAT_JSON, "[{\"targets\": [1]}]", "targets[0] is not a string"},
    {SD_FORMAT_JSON, "[{\"targets\": [\"a:1\"]}, {\"targets\": [\"a b\"]}]",
     "group 2: targets[0]: \"a b\" is not an address"},
    {SD_FORMAT_JSON, "[{\"targets\": [\"a:0\"]}]", "is not an address"},
    {SD_FORMAT_JSON, "[{\"targets\": [\"a:65536\"]}]", "is not an address"},
    {SD_FORMAT_JSON, "[{\"targets\": [\"http://a:1\"]}]", "is not an address"},
    {SD_FORMAT_JSON, "[{\"targets\": [\"\"]}]", "is not an address"},
    {SD_FORMAT_JSON, "[{\"targets\": [], \"extra\": 1}]",
     "unknown key \"extra\""},
    {SD_FORMAT_JSON, "[{\"targets\": [], \"targets\": []}]", "duplicate"},
    {SD_FORMAT_JSON, "[{\"targets\": [], \"labels\": []}]",
     "\"labels\" is not an object"},
    {SD_FORMAT_JSON, "[{\"targets\": [], \"labels\": {\"a\": 1}}]",
     "label \"a\": the value is not a string"},
    {SD_FORMAT_JSON, "[{\"targets\": [], \"labels\": {\"job\": \"x\"}}]",
     "label \"job\" is reserved"},
    {SD_FORMAT_JSON, "[{\"targets\": [], \"labels\": {\"target\": \"x\"}}]",
     "label \"target\" is reserved"},
    {SD_FORMAT_JSON, "[{\"targets\": [], \"labels\": {\"1a\": \"x\"}}]",
     "label \"1a\" is not a label name"},
    {SD_FORMAT_JSON, "[{\"targets\": [], \"labels\": {\"a\": \"\\u0007\"}}]",
     "control character"},
    {SD_FORMAT_JSON,
     "[{\"targets\": [], \"labels\": {\"__param_module\": \"a b\"}}]",
     "\"a b\" is not a module name"},
    {SD_FORMAT_JSON,
     "[{\"targets\": [], \"labels\": {\"a\": \"1\", \"b\": \"1\", \"c\": "
     "\"1\", \"d\": \"1\", \"e\": \"1\", \"f\": \"1\", \"g\": \"1\", \"h\": "
     "\"1\", \"i\": \"1\"}}]",
     "one label too many"},
    {SD_FORMAT_YAML, "- targets: [a:1\n", "line 2,"},
    {SD_FORMAT_YAML, "targets: [a:1]\n", "line 1: not a list of groups"},
    {SD_FORMAT_YAML, "- targets: [a:1]\n- tragets: [b:1]\n",
     "line 2: group 2: unknown key \"tragets\""},
    {SD_FORMAT_YAML, "- targets: [a:1]\n  targets: [b:1]\n",
     "targets given twice"},
    {SD_FORMAT_YAML, "- labels: {a: b}\n", "\"targets\" is missing"},
    {SD_FORMAT_YAML, "- targets: [[a:1]]\n", "targets[0] is not a string"},
    {SD_FORMAT_YAML, "- targets: []\n  labels: {a: [1]}\n",
     "label \"a\": the value is not a string"},
    {SD_FORMAT_YAML, "- targets: []\n  labels: {a: \"x\\0y\"}\n",
     "control character"},
    {SD_FORMAT_YAML, "- targets: []\n  labels: {a: b, a: c}\n",
     "label \"a\" is given twice"},
    {SD_FORMAT_YAML, "- targets: [\"a\\0:1\"]\n", "is not an address"},
    {SD_FORMAT_YAML, "- targets: [a:1]\n---\n- targets: [b:1]\n",
     "more than one YAML document"},
    {SD_FORMAT_NONE, "[]", "must end in .json, .yml or .yaml"},
};

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        const struct bad_case *c = &bads[i];
        struct sd_file f;
        char err[512] = "";
        int rc = sd_parse(c->format, c->text, strlen(c->text), &f, err,
                          sizeof(err));
        if (rc != -1 || !strstr(err, c->message))
            fail_msg("case %zu: rc %d, \"%s\" lacks \"%s\"", i, rc, err,
                     c->message);
        /* Nothing is left behind. */
        assert_int_equal(f.n_targets, 0);
        assert_int_equal(f.n_groups, 0);
        assert_null(f.targets);
    }
}

/* An alias that repeats a group makes a small file stand for a large
 * one (500 copies of 100 targets in 3 KB): the walk stops, in proportion
 * to the file's size, and says why. */
static void test_yaml_alias_bomb(void **state)
{
    (void)state;
    char text[8192];
    size_t o = (size_t)snprintf(text, sizeof(text), "- &g {targets: [");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "%sa:1",
                              i ? "," : "");
    o += (size_t)snprintf(text + o, sizeof(text) - o, "]}\n");
    for (int i = 0; i < 500; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "- *g\n");
    assert_true(o < sizeof(text) - 1);
    struct sd_file f;
    char err[512] = "";
    assert_int_equal(sd_parse(SD_FORMAT_YAML, text, o, &f, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "more nodes than the file has bytes"));
    assert_null(f.targets);
}

/* A file may hold SD_TARGETS_MAX targets, not one more. */
static void test_targets_max(void **state)
{
    (void)state;
    size_t n = SD_TARGETS_MAX + 1;
    size_t cap = n * 12 + 64;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t o = (size_t)snprintf(text, cap, "[{\"targets\": [");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(text + o, cap - o, "%s\"a:%zu\"", i ? "," : "",
                              i % 65535 + 1);
    o += (size_t)snprintf(text + o, cap - o, "]}]");
    struct sd_file f;
    char err[512] = "";
    assert_int_equal(sd_parse(SD_FORMAT_JSON, text, o, &f, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "more than 100000 targets"));
    free(text);
}

static void test_format_of(void **state)
{
    (void)state;
    assert_int_equal(sd_format_of("/etc/x/a.json"), SD_FORMAT_JSON);
    assert_int_equal(sd_format_of("a.yml"), SD_FORMAT_YAML);
    assert_int_equal(sd_format_of("dir/*.yaml"), SD_FORMAT_YAML);
    assert_int_equal(sd_format_of("a.json.bak"), SD_FORMAT_NONE);
    assert_int_equal(sd_format_of("a.d/file"), SD_FORMAT_NONE);
    assert_int_equal(sd_format_of("targets"), SD_FORMAT_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_yaml_alias_bomb),
        cmocka_unit_test(test_targets_max),
        cmocka_unit_test(test_format_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
