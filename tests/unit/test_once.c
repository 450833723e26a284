/* test_once: the --once table's explanation lines and the JSON output. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "once.h"
#include "report.h"

#define NOW 1764349414.0 /* 2025-11-28 17:03:34 UTC */

/* What a print function wrote, as a string the caller frees. */
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

static struct probe_result good_result(void)
{
    struct probe_result r;
    memset(&r, 0, sizeof(r));
    snprintf(r.target, sizeof(r.target), "good");
    r.success = true;
    r.stage = PROBE_STAGE_QUIT;
    r.replies[PROBE_STAGE_GREETING].code = 220;
    r.replies[PROBE_STAGE_AUTH].code = 235;
    r.replies[PROBE_STAGE_QUIT].code = 221;
    snprintf(r.replies[PROBE_STAGE_QUIT].enhanced, 16, "2.0.0");
    snprintf(r.replies[PROBE_STAGE_QUIT].text, PROBE_TEXT_MAX, "2.0.0 Bye");
    r.n_auth = 1;
    r.auth[0].mech = SASL_MECH_PLAIN;
    r.auth[0].advertised = true;
    r.auth[0].attempted = true;
    r.auth[0].reply.code = 235;
    snprintf(r.auth[0].reply.text, PROBE_TEXT_MAX, "2.7.0 ok");
    r.auth[0].seconds = 0.004;
    r.tls.present = true;
    snprintf(r.tls.version, sizeof(r.tls.version), "TLSv1.3");
    snprintf(r.tls.cipher, sizeof(r.tls.cipher), "TLS_AES_256_GCM_SHA384");
    r.tls.valid = true;
    r.tls.not_after = (int64_t)NOW + 10 * 86400;
    r.ehlo_seen = true;
    snprintf(r.ehlo.keywords[0], sizeof(r.ehlo.keywords[0]), "AUTH");
    r.ehlo.n_keywords = 1;
    snprintf(r.ehlo.mechs[0], sizeof(r.ehlo.mechs[0]), "PLAIN");
    r.ehlo.n_mechs = 1;
    r.duration_seconds = 0.025;
    r.start_time = NOW - 1;
    return r;
}

/* A 504 to CRAM-MD5, which EHLO did not advertise; text with every
 * character JSON must escape (a probe keeps printable ASCII, but once.c
 * must not rely on it), and numbers JSON cannot carry. */
static struct probe_result bad_result(void)
{
    struct probe_result r = good_result();
    snprintf(r.target, sizeof(r.target), "bad");
    r.success = false;
    r.stage = PROBE_STAGE_AUTH;
    r.replies[PROBE_STAGE_QUIT].code = 0;
    r.replies[PROBE_STAGE_AUTH].code = 504;
    r.replies[PROBE_STAGE_AUTH].cls = SMTP_CLASS_UNSUPPORTED_PARAMETER;
    snprintf(r.replies[PROBE_STAGE_AUTH].enhanced, 16, "5.5.4");
    snprintf(r.replies[PROBE_STAGE_AUTH].text, PROBE_TEXT_MAX,
             "5.5.4 \"q\" \\b\\ \x01\t\n caf\xc3\xa9 \x7f </script>");
    snprintf(r.detail, sizeof(r.detail), "AUTH CRAM-MD5: 504");
    r.auth[0].mech = SASL_MECH_CRAM_MD5;
    r.auth[0].advertised = false;
    r.auth[0].reply = r.replies[PROBE_STAGE_AUTH];
    r.auth[0].seconds = NAN;
    r.duration_seconds = INFINITY;
    r.tls.valid = false;
    snprintf(r.tls.problem, sizeof(r.tls.problem), "self signed");
    return r;
}

static struct probe_result refused_result(void)
{
    struct probe_result r;
    memset(&r, 0, sizeof(r));
    snprintf(r.target, sizeof(r.target), "refused");
    r.stage = PROBE_STAGE_CONNECT;
    r.error = PROBE_ERROR_CONNECT;
    snprintf(r.detail, sizeof(r.detail), "Connection refused");
    r.duration_seconds = 0.001;
    r.start_time = NOW;
    return r;
}

/* The lines of text that follow the row of `target`, up to the next
 * row (a line that does not start with a space). */
static char *block_of(const char *text, const char *target)
{
    size_t tl = strlen(target);
    const char *p = text;
    while (p && *p) {
        if (strncmp(p, target, tl) == 0 && p[tl] == ' ') {
            const char *start = strchr(p, '\n') + 1, *end = start;
            while (*end == ' ')
                end = strchr(end, '\n') + 1;
            return strndup(start, (size_t)(end - start));
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

static void test_table_explains_failures(void **state)
{
    (void)state;
    struct probe_result res[3] = {bad_result(), good_result(),
                                  refused_result()};
    struct capture c;
    capture_open(&c);
    once_print_table(c.f, res, 3, NOW);
    const char *text = capture_close(&c);

    for (size_t i = 0; i < 3; i++) {
        char *block = block_of(text, res[i].target);
        assert_non_null(block);
        const struct catalogue_entry *e = report_entry(&res[i]);
        char note[REPORT_NOTE_MAX];
        report_note(&res[i], NULL, note, sizeof(note));
        if (res[i].success) {
            assert_null(e);
            assert_null(strstr(block, "explanation:"));
            assert_null(strstr(block, "note:"));
        } else {
            assert_non_null(e);
            char want[2600];
            snprintf(want, sizeof(want), "  explanation: %s: %s\n", e->title,
                     e->meaning);
            assert_non_null(strstr(block, want));
            if (note[0]) {
                snprintf(want, sizeof(want), "  note: %s\n", note);
                assert_non_null(strstr(block, want));
            } else {
                assert_null(strstr(block, "note:"));
            }
        }
        free(block);
    }
    /* The words themselves, not only what the catalogue returns. */
    assert_non_null(
        strstr(text, "\n  explanation: Mechanism not supported: "));
    assert_non_null(strstr(text, "\n  note: EHLO did not advertise CRAM-MD5 "
                                 "(504); it advertised AUTH PLAIN"));
    assert_non_null(strstr(text, "\n  explanation: Connection failed: "));
    free(c.data);
    assert_int_equal(once_exit_status(res, 3), 1);
    assert_int_equal(once_exit_status(res + 1, 1), 0);
}

/* The failing AUTH reply shows on its AUTH row; the detail that only
 * quotes it (the probe says so in detail_auth, nobody re-parses the
 * text) is not printed again, any other detail is. */
static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_table_prints_the_failing_auth_reply_once(void **state)
{
    (void)state;
    struct probe_result r = good_result();
    r.success = false;
    r.stage = PROBE_STAGE_AUTH;
    r.replies[PROBE_STAGE_QUIT].code = 0;
    r.auth[0].reply.code = 535;
    r.auth[0].reply.cls = SMTP_CLASS_AUTH_FAILED;
    snprintf(r.auth[0].reply.text, PROBE_TEXT_MAX, "5.7.8 wrong-pw-text");
    r.replies[PROBE_STAGE_AUTH] = r.auth[0].reply;
    snprintf(r.detail, sizeof(r.detail),
             "AUTH PLAIN: 535 5.7.8 wrong-pw-text");
    r.detail_auth = 1; /* the probe says the detail quotes auth[0] */
    struct capture c;
    capture_open(&c);
    once_print_table(c.f, &r, 1, NOW);
    const char *text = capture_close(&c);
    assert_int_equal(count_of(text, "wrong-pw-text"), 1);
    assert_non_null(strstr(text, "  AUTH PLAIN     535 5.7.8 wrong-pw-text "
                                 "(auth_failed)\n"));
    free(c.data);

    /* A detail that says something else stays. */
    snprintf(r.detail, sizeof(r.detail), "AUTH PLAIN: 535 other words");
    r.detail_auth = 0;
    capture_open(&c);
    once_print_table(c.f, &r, 1, NOW);
    text = capture_close(&c);
    assert_non_null(strstr(text, "  AUTH PLAIN: 535 other words\n"));
    free(c.data);
}

/* Outside strings, brackets balance; inside, no raw control character
 * and nothing past ASCII: a cheap check that the output is one JSON
 * value (the integration test parses real output with Python's json). */
static void assert_json_shape(const char *s)
{
    int depth = 0;
    bool in_str = false;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        assert_true(ch < 0x7f);
        if (in_str) {
            assert_true(ch >= 0x20);
            if (ch == '\\')
                p++;
            else if (ch == '"')
                in_str = false;
            continue;
        }
        if (ch == '"')
            in_str = true;
        else if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']')
            assert_true(--depth >= 0);
    }
    assert_false(in_str);
    assert_int_equal(depth, 0);
}

static void test_json(void **state)
{
    (void)state;
    struct probe_result res[3] = {bad_result(), good_result(),
                                  refused_result()};
    struct capture c;
    capture_open(&c);
    once_print_json(c.f, res, 3, NOW);
    const char *js = capture_close(&c);
    assert_json_shape(js);
    assert_true(strncmp(js, "{\n  \"targets\": [\n    {\n", 22) == 0);

    /* Escapes: quote, backslash, control characters, bytes past ASCII. */
    assert_non_null(strstr(js, "\"text\": \"5.5.4 \\\"q\\\" \\\\b\\\\ "
                               "\\u0001\\t\\n caf\\u00c3\\u00a9 \\u007f "
                               "</script>\""));
    /* NaN and infinity are null, not invalid JSON. */
    assert_non_null(strstr(js, "\"duration_seconds\": null"));
    assert_non_null(strstr(js, "\"seconds\": null"));
    assert_null(strstr(js, "nan"));
    assert_null(strstr(js, "inf"));

    assert_non_null(strstr(js, "\"name\": \"bad\",\n      \"success\": "
                               "false,\n      \"stage\": \"auth\",\n      "
                               "\"error\": null,\n      \"code\": 504,\n"
                               "      \"enhanced\": \"5.5.4\""));
    assert_non_null(strstr(js, "\"class\": \"unsupported_parameter\""));
    assert_non_null(strstr(js, "\"mechanism\": \"CRAM-MD5\",\n"
                               "          \"advertised\": false,\n"
                               "          \"attempted\": true,\n"
                               "          \"code\": 504"));
    assert_non_null(strstr(js, "\"cert_not_after\": 1765213414,\n"
                               "        \"cert_days_left\": 10,\n"
                               "        \"cert_valid\": false,\n"
                               "        \"problem\": \"self signed\""));
    const struct catalogue_entry *e = report_entry(&res[0]);
    assert_non_null(e);
    assert_string_equal(e->key, "504@auth");
    char want[512];
    snprintf(want, sizeof(want),
             "\"explanation\": {\n        \"key\": \"%s\",\n"
             "        \"title\": \"%s\",\n",
             e->key, e->title);
    assert_non_null(strstr(js, want));

    /* The good one: no explanation, no note, valid certificate. */
    assert_non_null(strstr(js, "\"name\": \"good\",\n      \"success\": "
                               "true,\n      \"stage\": \"quit\",\n      "
                               "\"error\": null,\n      \"code\": 221,"));
    assert_non_null(strstr(js, "\"cert_valid\": true,\n"
                               "        \"problem\": null"));
    assert_non_null(strstr(js, "\"explanation\": null,\n"
                               "      \"note\": null\n"));
    assert_non_null(strstr(js, "\"duration_seconds\": 0.025"));
    assert_non_null(strstr(js, "\"keywords\": [\n          \"AUTH\"\n"));

    /* A failure without a reply: no code, no class, the error. */
    assert_non_null(strstr(js, "\"name\": \"refused\",\n      \"success\": "
                               "false,\n      \"stage\": \"connect\",\n      "
                               "\"error\": \"connect\",\n      \"code\": "
                               "null,\n      \"enhanced\": null,\n      "
                               "\"text\": null,\n      \"class\": null,\n"
                               "      \"detail\": \"Connection refused\""));
    assert_non_null(strstr(js, "\"tls\": null"));
    assert_non_null(strstr(js, "\"ehlo\": null"));
    assert_non_null(strstr(js, "\"auth\": []"));
    free(c.data);

    /* The escaper --explain shares: every short escape, the rest as
     * \u00XX. */
    capture_open(&c);
    json_string(c.f, "a\"\\\b\f\n\r\t\x1f\x7f\xff/");
    js = capture_close(&c);
    assert_string_equal(js, "\"a\\\"\\\\\\b\\f\\n\\r\\t\\u001f\\u007f"
                            "\\u00ff/\"");
    free(c.data);

    /* No targets: still one object. */
    capture_open(&c);
    once_print_json(c.f, NULL, 0, NOW);
    js = capture_close(&c);
    assert_string_equal(js, "{\n  \"targets\": []\n}\n");
    free(c.data);
}

/* The agent ran out of descriptors while probing "starved": the probe
 * says nothing of the target, whatever else the result holds. */
static struct probe_result fault_result(enum probe_fault fault)
{
    struct probe_result r = refused_result();
    snprintf(r.target, sizeof(r.target), "starved");
    r.fault = fault;
    snprintf(r.detail, sizeof(r.detail),
             "socket: Too many open files (RLIMIT_NOFILE 64)");
    return r;
}

/* Item 3: a row the agent failed shows so, never the target's outcome
 * (no connect error, no catalogue entry for it), and the exit status
 * says the agent failed. */
static void test_agent_fault_is_not_the_targets(void **state)
{
    (void)state;
    struct probe_result res[2] = {good_result(),
                                  fault_result(PROBE_FAULT_FILE_DESCRIPTORS)};
    struct capture c;
    capture_open(&c);
    once_print_table(c.f, res, 2, NOW);
    const char *text = capture_close(&c);
    const char *row = strstr(text, "\nstarved ");
    assert_non_null(row);
    char line[256];
    snprintf(line, sizeof(line), "%-24s %-9s %-4s %-22s %8.3fs %-8s %9s %s\n",
             "starved", "-", "-", "agent:file_descriptors", 0.001, "-", "-",
             "-");
    assert_non_null(strstr(text, line));
    char *block = block_of(text, "starved");
    assert_non_null(block);
    assert_non_null(strstr(block, "  the agent failed, not the target: "
                                  "socket: Too many open files "
                                  "(RLIMIT_NOFILE 64)\n"));
    assert_non_null(strstr(block, "  note: the agent ran out of its own file "
                                  "descriptors"));
    assert_null(strstr(block, "explanation:"));
    assert_null(strstr(block, "Connection failed"));
    assert_null(strstr(row, " connect "));
    free(block);
    free(c.data);

    /* Only the agent failed: 3, not the 1 of a failed target. */
    assert_int_equal(once_exit_status(res, 2), 3);
    assert_int_equal(once_exit_status(res + 1, 1), 3);
    /* A target that really failed decides: 1. */
    struct probe_result mixed[3] = {fault_result(PROBE_FAULT_MEMORY),
                                    refused_result(), good_result()};
    assert_int_equal(once_exit_status(mixed, 3), 1);

    capture_open(&c);
    once_print_table(c.f, mixed, 1, NOW);
    text = capture_close(&c);
    assert_non_null(strstr(text, " agent:memory "));
    assert_non_null(strstr(text, "  note: the agent ran out of memory"));
    free(c.data);

    capture_open(&c);
    once_print_json(c.f, res, 2, NOW);
    const char *js = capture_close(&c);
    assert_json_shape(js);
    assert_non_null(
        strstr(js, "\"name\": \"starved\",\n      \"success\": false,\n"
                   "      \"stage\": null,\n      \"error\": null,\n"
                   "      \"code\": null,\n      \"enhanced\": null,\n"
                   "      \"text\": null,\n      \"class\": null,\n"
                   "      \"detail\": \"socket: Too many open files "
                   "(RLIMIT_NOFILE 64)\",\n"
                   "      \"agent_fault\": \"file_descriptors\",\n"));
    assert_non_null(strstr(js, "\"explanation\": null,\n      \"note\": "
                               "\"the agent ran out of its own file "
                               "descriptors"));
    /* Only the target the agent failed has the key. */
    assert_int_equal(count_of(js, "\"agent_fault\""), 1);
    free(c.data);
}

/* Where each column of a table row starts, from the header: the
 * left-aligned ones' first character, DURATION's (right-aligned) last. */
struct columns {
    size_t stage, code, cls, duration_end, tls, address;
};

static size_t header_at(const char *header, const char *word)
{
    const char *p = strstr(header, word);
    assert_non_null(p);
    return (size_t)(p - header);
}

/* Every row (a line that does not start with a space) has its columns
 * where the header has them. */
static void assert_aligned(const char *text, size_t n_rows)
{
    struct columns c = {
        .stage = header_at(text, " STAGE") + 1,
        .code = header_at(text, " CODE") + 1,
        .cls = header_at(text, " CLASS") + 1,
        .duration_end = header_at(text, " DURATION") + 9,
        .tls = header_at(text, " TLS") + 1,
        .address = header_at(text, " ADDRESS") + 1,
    };
    const size_t starts[] = {c.stage, c.code, c.cls, c.tls, c.address};
    size_t rows = 0;
    for (const char *p = text; *p;) {
        const char *end = strchr(p, '\n');
        assert_non_null(end);
        size_t len = (size_t)(end - p);
        if (p[0] != ' ') {
            rows++;
            assert_true(len > c.address);
            for (size_t k = 0; k < sizeof starts / sizeof *starts; k++) {
                if (p[starts[k] - 1] != ' ' || p[starts[k]] == ' ')
                    fail_msg("column %zu not at %zu: %.*s", k, starts[k],
                             (int)len, p);
            }
            if (p[c.duration_end] != ' ' || p[c.duration_end - 1] == ' ')
                fail_msg("DURATION does not end at %zu: %.*s", c.duration_end,
                         (int)len, p);
        }
        p = end + 1;
    }
    assert_int_equal(rows, n_rows + 1);
}

/*
 * Issue 15: names over 24 characters (a [target] name may have 64, a
 * targets file's HOST:PORT/MODULE more) pushed the rest of their row
 * right. The TARGET column is as wide as the longest name shown: every
 * row's columns after it start at the same offset, fault rows too.
 */
static void test_table_long_names_align(void **state)
{
    (void)state;
    static const size_t lens[] = {40, 64, CONFIG_TARGET_NAME_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        struct probe_result res[4] = {good_result(), bad_result(),
                                      refused_result(),
                                      fault_result(PROBE_FAULT_MEMORY)};
        memset(res[1].target, 'b', lens[i]);
        res[1].target[lens[i]] = '\0';
        /* One more long name, shorter than the longest. */
        memset(res[2].target, 'r', 30);
        res[2].target[30] = '\0';
        struct capture c;
        capture_open(&c);
        once_print_table(c.f, res, 4, NOW);
        const char *text = capture_close(&c);
        assert_aligned(text, 4);
        /* The column is the longest name and one space. */
        assert_int_equal(header_at(text, " STAGE"), lens[i]);
        free(c.data);
    }
    /* Short names keep the 24 columns they had. */
    struct probe_result res[2] = {good_result(), refused_result()};
    struct capture c;
    capture_open(&c);
    once_print_table(c.f, res, 2, NOW);
    const char *text = capture_close(&c);
    assert_aligned(text, 2);
    assert_int_equal(header_at(text, " STAGE"), 24);
    free(c.data);
}

/* The address that answered: the table's last column, address and
 * ip_protocol in JSON; "-" and null when the probe reached none. */
static void test_address(void **state)
{
    (void)state;
    struct probe_result res[3] = {good_result(), refused_result(),
                                  good_result()};
    snprintf(res[0].address, sizeof(res[0].address), "::1");
    res[0].ip_protocol = 6;
    snprintf(res[2].target, sizeof(res[2].target), "good4");
    snprintf(res[2].address, sizeof(res[2].address), "127.0.0.1");
    res[2].ip_protocol = 4;
    struct capture c;
    capture_open(&c);
    once_print_table(c.f, res, 3, NOW);
    const char *text = capture_close(&c);
    char line[256];
    snprintf(line, sizeof(line), "%-24s %-9s %-4s %-22s %9s %-8s %9s %s\n",
             "TARGET", "STAGE", "CODE", "CLASS", "DURATION", "TLS",
             "CERT_DAYS", "ADDRESS");
    assert_true(strncmp(text, line, strlen(line)) == 0);
    snprintf(line, sizeof(line), "%-24s %-9s %-4s %-22s %8.3fs %-8s %9s %s\n",
             "good", "quit", "221", "success", 0.025, "TLSv1.3", "10.0",
             "::1");
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof(line), "%-24s %-9s %-4s %-22s %8.3fs %-8s %9s %s\n",
             "refused", "connect", "-", "connect", 0.001, "-", "-", "-");
    assert_non_null(strstr(text, line));
    assert_non_null(strstr(text, " 127.0.0.1\n"));
    free(c.data);

    capture_open(&c);
    once_print_json(c.f, res, 3, NOW);
    const char *js = capture_close(&c);
    assert_json_shape(js);
    assert_non_null(strstr(js, "\"duration_seconds\": 0.025,\n"
                               "      \"address\": \"::1\",\n"
                               "      \"ip_protocol\": 6,\n"));
    assert_non_null(strstr(js, "\"duration_seconds\": 0.001,\n"
                               "      \"address\": null,\n"
                               "      \"ip_protocol\": null,\n"));
    assert_non_null(strstr(js, "\"address\": \"127.0.0.1\",\n"
                               "      \"ip_protocol\": 4,\n"));
    free(c.data);
}

/* The checks: one table line each, explained when one failed though the
 * probe succeeded; in JSON a "checks" list only for a target that
 * configures one. */
static void test_checks(void **state)
{
    (void)state;
    struct probe_result res[2] = {good_result(), good_result()};
    snprintf(res[1].target, sizeof(res[1].target), "plain");
    struct probe_check_result *c = res[0].checks;
    c[CHECK_OPEN_RELAY] = (struct probe_check_result){
        true, CHECK_FAILED, 250, "RCPT TO:<x@example.net>: 250 2.1.5 Ok"};
    c[CHECK_AUTH_BEFORE_TLS] = (struct probe_check_result){
        true, CHECK_PASSED, 0, "AUTH not advertised before STARTTLS"};
    c[CHECK_EHLO] = (struct probe_check_result){true, CHECK_NOT_RUN, 0, ""};
    struct capture cap;
    capture_open(&cap);
    once_print_table(cap.f, res, 2, NOW);
    const char *text = capture_close(&cap);
    char *block = block_of(text, "good");
    assert_non_null(block);
    assert_non_null(strstr(text, " check_failed "));
    assert_non_null(strstr(block, "\n  check auth_before_tls passed: AUTH "
                                  "not advertised before STARTTLS\n"));
    assert_non_null(strstr(block, "\n  check open_relay      failed: RCPT "
                                  "TO:<x@example.net>: 250 2.1.5 Ok\n"));
    assert_non_null(strstr(block, "\n  check ehlo            not_run\n"));
    assert_non_null(strstr(block, "\n  explanation: Relaying for strangers "
                                  "accepted: "));
    assert_non_null(strstr(block, "\n  note: every stage passed"));
    free(block);
    block = block_of(text, "plain");
    assert_null(strstr(block, "check"));
    free(block);
    free(cap.data);

    capture_open(&cap);
    once_print_json(cap.f, res, 2, NOW);
    const char *js = capture_close(&cap);
    /* Pretty-printed: each key on its own line. */
    const char *checks = strstr(js, "\"checks\": [");
    assert_non_null(checks);
    const char *want[] = {
        "\"check\": \"auth_before_tls\"",
        "\"verdict\": \"passed\"",
        "\"success\": true",
        "\"code\": null",
        "\"check\": \"open_relay\"",
        "\"verdict\": \"failed\"",
        "\"success\": false",
        "\"code\": 250",
        "\"detail\": \"RCPT TO:<x@example.net>: 250 2.1.5 Ok\"",
        "\"check\": \"ehlo\"",
        "\"verdict\": \"not_run\"",
        "\"success\": null",
        "\"detail\": null"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *at = strstr(checks, want[i]);
        if (!at)
            fail_msg("no %s in order in:\n%s", want[i], js);
        checks = at;
    }
    assert_int_equal(count_of(js, "\"checks\""), 1);
    free(cap.data);

    /* A failed check fails --once; passed or not run does not. */
    assert_int_equal(once_exit_status(res, 2), 1);
    c[CHECK_OPEN_RELAY].verdict = CHECK_PASSED;
    assert_int_equal(once_exit_status(res, 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_explains_failures),
        cmocka_unit_test(test_address),
        cmocka_unit_test(test_table_prints_the_failing_auth_reply_once),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_agent_fault_is_not_the_targets),
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_table_long_names_align),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
