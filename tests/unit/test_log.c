/* test_log: logfmt lines keep their bytes; JSON lines carry the same
 * fields, decoded from logfmt and escaped per RFC 8259. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"

#define TS_LEN 24 /* 2026-11-28T17:03:34.123Z */

/* What the lines written by fn say, the timestamps cut out. */
static char *capture(void (*fn)(void))
{
    FILE *f = tmpfile();
    assert_non_null(f);
    log_set_stream(f);
    fn();
    log_set_stream(NULL);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *raw = calloc(1, (size_t)n + 1);
    assert_non_null(raw);
    assert_int_equal(fread(raw, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    /* Each line starts with ts=STAMP or {"ts":"STAMP: cut STAMP. */
    char *out = calloc(1, (size_t)n + 1);
    assert_non_null(out);
    size_t j = 0;
    for (char *p = raw; *p;) {
        const char *pre = *p == '{' ? "{\"ts\":\"" : "ts=";
        size_t pl = strlen(pre);
        assert_memory_equal(p, pre, pl);
        memcpy(out + j, pre, pl);
        j += pl;
        p += pl;
        assert_true(p[4] == '-' && p[10] == 'T' && p[23] == 'Z');
        p += TS_LEN;
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        memcpy(out + j, p, (size_t)(nl - p) + 1);
        j += (size_t)(nl - p) + 1;
        p = nl + 1;
    }
    free(raw);
    return out;
}

static void write_lines(void)
{
    char q[256];
    log_info("probe", "probe done", "target=mx1 ok=1 reply=%s",
             log_quote(q, sizeof(q),
                       "535 \"bad\" \\ \n\r\t\001 caf\xc3\xa9 \xff\xc3("));
    log_warn("main", "say \"hi\"", NULL);
    /* A format that comes out empty still writes its space, as before. */
    log_error("http", "refused", "%s", "");
    log_debug("x", "not shown", NULL);
}

static void test_logfmt_bytes(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_INFO);
    log_set_format(LOG_FORMAT_LOGFMT);
    char *got = capture(write_lines);
    assert_string_equal(
        got, "ts= level=info module=probe msg=\"probe done\" target=mx1 ok=1 "
             "reply=\"535 \\\"bad\\\" \\\\ \\n\\r\\t\\x01 caf\xc3\xa9 "
             "\xff\xc3(\"\n"
             "ts= level=warn module=main msg=\"say \\\"hi\\\"\"\n"
             "ts= level=error module=http msg=refused \n");
    free(got);
}

static void test_json(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_INFO);
    log_set_format(LOG_FORMAT_JSON);
    char *got = capture(write_lines);
    log_set_format(LOG_FORMAT_LOGFMT);
    /* Valid UTF-8 passes; 0xff and the cut 0xc3 are U+FFFD. */
    assert_string_equal(
        got, "{\"ts\":\"\",\"level\":\"info\",\"module\":\"probe\","
             "\"msg\":\"probe done\",\"target\":\"mx1\",\"ok\":\"1\","
             "\"reply\":\"535 \\\"bad\\\" \\\\ \\n\\r\\t\\u0001 "
             "caf\xc3\xa9 \\ufffd\\ufffd(\"}\n"
             "{\"ts\":\"\",\"level\":\"warn\",\"module\":\"main\","
             "\"msg\":\"say \\\"hi\\\"\"}\n"
             "{\"ts\":\"\",\"level\":\"error\",\"module\":\"http\","
             "\"msg\":\"refused\"}\n");
    free(got);
}

static void write_long(void)
{
    static char big[6000];
    memset(big, 'a', sizeof(big) - 1);
    log_info("m", "long", "first=1 big=%s", big);
}

static void write_odd(void)
{
    /* Fields a caller formatted by hand: a key without a value, an
     * unterminated quote, a bad \x escape. */
    log_info("m", "odd", "flag a=\"x\\q\\x4g b=2");
}

static void test_json_edges(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_INFO);
    log_set_format(LOG_FORMAT_LOGFMT);
    char *got = capture(write_long);
    size_t n = strlen(got);
    assert_true(n > 20);
    assert_string_equal(got + n - 13, " truncated=1\n");
    free(got);

    log_set_format(LOG_FORMAT_JSON);
    got = capture(write_long);
    n = strlen(got);
    /* The value that was cut is still a string, and the line says. */
    assert_non_null(strstr(got, "\"first\":\"1\",\"big\":\"aaaa"));
    assert_string_equal(got + n - 22, "aaa\",\"truncated\":\"1\"}\n");
    free(got);

    got = capture(write_odd);
    assert_string_equal(got,
                        "{\"ts\":\"\",\"level\":\"info\",\"module\":\"m\","
                        "\"msg\":\"odd\",\"flag\":\"\","
                        "\"a\":\"xqx4g b=2\"}\n");
    free(got);
    log_set_format(LOG_FORMAT_LOGFMT);
}

/* Random bytes as msg and as fields, quoted or not: every line parses
 * (jansson, which refuses invalid UTF-8 and raw control characters) as
 * an object of strings, and a msg that was valid ASCII comes back as it
 * was. */
static char rnd_msg[300], rnd_fields[900];
static unsigned long rnd_state = 12345;

static unsigned rnd(void)
{
    rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(rnd_state >> 33);
}

static void write_random(void)
{
    char q[1000];
    log_info("fuzz", rnd_msg, "a=%s b=%s", log_quote(q, sizeof(q), rnd_fields),
             rnd_fields);
}

static void test_json_random(void **state)
{
    (void)state;
    static const char pool[] = "a= \"\\\n\r\t\x01\x7f\x80\xc3\xa9\xff\xed\xf0";
    log_set_level(LOG_LEVEL_INFO);
    for (int round = 0; round < 2000; round++) {
        size_t nm = rnd() % (sizeof(rnd_msg) - 1);
        size_t nf = rnd() % (sizeof(rnd_fields) - 1);
        bool ascii = round % 2 == 0;
        for (size_t i = 0; i < nm; i++)
            rnd_msg[i] = ascii ? (char)(' ' + rnd() % 95)
                               : pool[rnd() % (sizeof(pool) - 1)];
        rnd_msg[nm] = '\0';
        for (size_t i = 0; i < nf; i++) {
            unsigned r = rnd();
            rnd_fields[i] = r % 3 ? pool[r % (sizeof(pool) - 1)]
                                  : (char)(1 + (r >> 8) % 255);
        }
        rnd_fields[nf] = '\0';
        log_set_format(LOG_FORMAT_JSON);
        char *got = capture(write_random);
        log_set_format(LOG_FORMAT_LOGFMT);
        json_error_t err;
        json_t *o = json_loads(got, 0, &err);
        if (!o || !json_is_object(o))
            fail_msg("round %d: %s: %s", round, err.text, got);
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
            if (!json_is_string(v))
                fail_msg("round %d: %s is not a string", round, k);
        }
        if (ascii)
            assert_string_equal(json_string_value(json_object_get(o, "msg")),
                                rnd_msg);
        assert_string_equal(json_string_value(json_object_get(o, "module")),
                            "fuzz");
        json_decref(o);
        free(got);
    }
}

static void test_parse(void **state)
{
    (void)state;
    enum log_format f = LOG_FORMAT_JSON;
    assert_int_equal(log_format_parse("logfmt", &f), 0);
    assert_int_equal(f, LOG_FORMAT_LOGFMT);
    assert_int_equal(log_format_parse("json", &f), 0);
    assert_int_equal(f, LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("JSON ", &f), -1);
    assert_int_equal(log_format_parse("", &f), -1);
    assert_int_equal(log_format_parse("text", &f), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt_bytes),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_edges),
        cmocka_unit_test(test_json_random),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
