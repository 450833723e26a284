/* test_labels: the table of the agent's label names, and every accept and
 * refusal of the labels key's syntax. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "labels.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A parsed form as "name=value|name=value", for comparing. */
static void decode(const char *canon, char *dst, size_t n)
{
    size_t used = 0;
    const char *name, *value;
    dst[0] = '\0';
    for (const char *p = labels_next(canon, &name, &value); p;
         p = labels_next(p, &name, &value)) {
        int w = snprintf(dst + used, n - used, "%s%s=%s", used ? "|" : "",
                         name, value);
        assert_true(w > 0 && (size_t)w < n - used);
        used += (size_t)w;
    }
}

struct parse_case {
    const char *s;
    enum labels_problem want;
    const char *result; /* OK: the labels decoded; else the text at fault */
};

static const struct parse_case parse_cases[] = {
    {"team=mail env=prod", LABELS_OK, "team=mail|env=prod"},
    /* The order given, not sorted. */
    {"zz=1 aa=2 mm=3", LABELS_OK, "zz=1|aa=2|mm=3"},
    {"  team=mail\t\tenv=prod  ", LABELS_OK, "team=mail|env=prod"},
    {"none", LABELS_OK, ""},
    {" none ", LABELS_OK, ""},
    {"note=\"on call: a b\"", LABELS_OK, "note=on call: a b"},
    {"q=\"say \\\"hi\\\" \\\\o/\"", LABELS_OK, "q=say \"hi\" \\o/"},
    /* Unquoted, a backslash and an '=' are themselves. */
    {"path=C:\\x\\y eq=a=b", LABELS_OK, "path=C:\\x\\y|eq=a=b"},
    {"_x=1 X_9=2", LABELS_OK, "_x=1|X_9=2"},
    {"site=Zürich emoji=\xF0\x9F\x93\xAB", LABELS_OK,
     "site=Zürich|emoji=\xF0\x9F\x93\xAB"},
    {"a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8", LABELS_OK,
     "a=1|b=2|c=3|d=4|e=5|f=6|g=7|h=8"},
    /* Names close to reserved ones are not reserved. */
    {"targets=x Target=y env=z", LABELS_OK, "targets=x|Target=y|env=z"},

    {"team", LABELS_NO_EQUALS, "team"},
    {"team=mail prod", LABELS_NO_EQUALS, "prod"},
    {"1team=x", LABELS_BAD_NAME, "1team"},
    {"te-am=x", LABELS_BAD_NAME, "te-am"},
    {"=x", LABELS_BAD_NAME, ""},
    {"\"team\"=x", LABELS_BAD_NAME, "\"team\""},
    {"t\xC3\xBC=x", LABELS_BAD_NAME, "t\xC3\xBC"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=x",
     LABELS_NAME_TOO_LONG,
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
    {"__name__=x", LABELS_DOUBLE_UNDERSCORE, "__name__"},
    {"__x=1", LABELS_DOUBLE_UNDERSCORE, "__x"},
    {"target=x", LABELS_RESERVED, "target"},
    {"env=a job=x", LABELS_RESERVED, "job"},
    {"instance=x", LABELS_RESERVED, "instance"},
    {"stage=x", LABELS_RESERVED, "stage"},
    {"le=x", LABELS_RESERVED, "le"},
    {"team=a env=b team=c", LABELS_DUPLICATE, "team"},
    {"team=", LABELS_EMPTY_VALUE, "team"},
    {"team=\"\"", LABELS_EMPTY_VALUE, "team"},
    {"team= env=x", LABELS_EMPTY_VALUE, "team"},
    {"v=\xC3", LABELS_BAD_UTF8, "v"},
    {"v=\xC0\xAF", LABELS_BAD_UTF8, "v"},         /* overlong '/' */
    {"v=\xED\xA0\x80", LABELS_BAD_UTF8, "v"},     /* a surrogate */
    {"v=\xF4\x90\x80\x80", LABELS_BAD_UTF8, "v"}, /* over U+10FFFF */
    {"v=\xFF", LABELS_BAD_UTF8, "v"},
    {"v=\"a\tb\"", LABELS_CONTROL, "v"},
    {"v=a\x7f", LABELS_CONTROL, "v"},
    {"v=\xC2\x85", LABELS_CONTROL, "v"}, /* NEL, a C1 control */
    {"v=\"abc", LABELS_UNTERMINATED, "v"},
    {"v=\"abc\\\"", LABELS_UNTERMINATED, "v"},
    {"v=\"a\\", LABELS_UNTERMINATED, "v"},
    {"v=\"a\\nb\"", LABELS_BAD_ESCAPE, "v"},
    {"v=a\"b", LABELS_QUOTE_IN_VALUE, "v"},
    {"v=\"a\"b", LABELS_AFTER_QUOTE, "v"},
    {"v=\"a\"w=b", LABELS_AFTER_QUOTE, "v"},
    {"a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9", LABELS_TOO_MANY, "i=9"},
    {"none team=mail", LABELS_NONE_MIXED, "team=mail"},
    {"team=mail none", LABELS_NONE_MIXED, "none"},
};

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < LEN(parse_cases); i++) {
        const struct parse_case *pc = &parse_cases[i];
        char canon[LABELS_CANON_MAX];
        size_t len = 99, n = 99, at_len = 0;
        const char *at = NULL;
        enum labels_problem got =
            labels_parse(pc->s, canon, &len, &n, &at, &at_len);
        if (got != pc->want)
            fail_msg("case %zu (%s): problem %d, expected %d", i, pc->s,
                     (int)got, (int)pc->want);
        if (got == LABELS_OK) {
            char text[2048];
            decode(canon, text, sizeof(text));
            if (strcmp(text, pc->result) != 0)
                fail_msg("case %zu (%s): got %s, expected %s", i, pc->s, text,
                         pc->result);
            /* len is up to the final NUL; n counts the labels. */
            assert_int_equal(canon[len], '\0');
            size_t count = 0;
            const char *name, *value;
            for (const char *p = labels_next(canon, &name, &value); p;
                 p = labels_next(p, &name, &value)) {
                count++;
                assert_true((size_t)(p - canon) <= len);
            }
            assert_int_equal(n, count);
        } else {
            assert_non_null(at);
            if (at_len != strlen(pc->result) ||
                memcmp(at, pc->result, at_len) != 0)
                fail_msg("case %zu (%s): at \"%.*s\", expected \"%s\"", i,
                         pc->s, (int)at_len, at, pc->result);
        }
    }
}

/* A value of exactly LABEL_VALUE_MAX bytes passes, one more does not;
 * quoted values are counted after their escapes are read. */
static void test_value_length(void **state)
{
    (void)state;
    char s[512], canon[LABELS_CANON_MAX];
    size_t len, n, at_len;
    const char *at;
    char value[LABEL_VALUE_MAX + 2];
    memset(value, 'v', sizeof(value));
    value[LABEL_VALUE_MAX] = '\0';
    snprintf(s, sizeof(s), "a=%s", value);
    assert_int_equal(labels_parse(s, canon, &len, &n, &at, &at_len),
                     LABELS_OK);
    assert_int_equal(len, 2 + LABEL_VALUE_MAX + 1);
    value[LABEL_VALUE_MAX] = 'v';
    value[LABEL_VALUE_MAX + 1] = '\0';
    snprintf(s, sizeof(s), "a=%s", value);
    assert_int_equal(labels_parse(s, canon, &len, &n, &at, &at_len),
                     LABELS_VALUE_TOO_LONG);
    assert_int_equal(at_len, 1);
    assert_int_equal(at[0], 'a');
    snprintf(s, sizeof(s), "a=\"%s\"", value);
    assert_int_equal(labels_parse(s, canon, &len, &n, &at, &at_len),
                     LABELS_VALUE_TOO_LONG);
    /* 64 escaped quotes are 64 bytes of value, written in 128. */
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_puts(&b, "q=\""), 0);
    for (int i = 0; i < LABEL_VALUE_MAX; i++)
        assert_int_equal(buf_puts(&b, "\\\""), 0);
    assert_int_equal(buf_puts(&b, "\""), 0);
    assert_int_equal(labels_parse(buf_str(&b), canon, &len, &n, &at, &at_len),
                     LABELS_OK);
    assert_int_equal(strlen(canon + 2), LABEL_VALUE_MAX);
    buf_free(&b);

    /* A name of exactly LABEL_NAME_MAX passes. */
    char name[LABEL_NAME_MAX + 1];
    memset(name, 'n', LABEL_NAME_MAX);
    name[LABEL_NAME_MAX] = '\0';
    snprintf(s, sizeof(s), "%s=1", name);
    assert_int_equal(labels_parse(s, canon, &len, &n, &at, &at_len),
                     LABELS_OK);
}

/* The longest labels fit LABELS_CANON_MAX exactly. */
static void test_canon_max(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < LABELS_MAX; i++) {
        char name[LABEL_NAME_MAX + 1];
        memset(name, 'a' + i, LABEL_NAME_MAX);
        name[LABEL_NAME_MAX] = '\0';
        char value[LABEL_VALUE_MAX + 1];
        memset(value, 'x', LABEL_VALUE_MAX);
        value[LABEL_VALUE_MAX] = '\0';
        assert_int_equal(buf_printf(&b, "%s=%s ", name, value), 0);
    }
    char canon[LABELS_CANON_MAX];
    size_t len, n, at_len;
    const char *at;
    assert_int_equal(labels_parse(buf_str(&b), canon, &len, &n, &at, &at_len),
                     LABELS_OK);
    assert_int_equal(n, LABELS_MAX);
    assert_int_equal(len + 1, LABELS_CANON_MAX);
    buf_free(&b);
}

struct value_case {
    const char *s;
    enum labels_problem want;
};

static void test_check_value(void **state)
{
    (void)state;
    static const struct value_case cases[] = {
        {"", LABELS_OK},
        {"plain ASCII, with spaces = and \"quotes\"", LABELS_OK},
        {"\xC2\xA0", LABELS_OK},         /* U+00A0, after C1 */
        {"\xE2\x80\xA8", LABELS_OK},     /* U+2028 */
        {"\xEF\xBF\xBF", LABELS_OK},     /* U+FFFF */
        {"\xF4\x8F\xBF\xBF", LABELS_OK}, /* U+10FFFF */
        {"\xC2\x80", LABELS_CONTROL},    /* U+0080 */
        {"\xC2\x9F", LABELS_CONTROL},    /* U+009F */
        {"a\nb", LABELS_CONTROL},
        {"\x01", LABELS_CONTROL},
        {"\x7f", LABELS_CONTROL},
        {"\xC1\xBF", LABELS_BAD_UTF8},         /* overlong */
        {"\xE0\x80\xAF", LABELS_BAD_UTF8},     /* overlong */
        {"\xF0\x80\x80\xAF", LABELS_BAD_UTF8}, /* overlong */
        {"\xED\xBF\xBF", LABELS_BAD_UTF8},     /* surrogate */
        {"\xF5\x80\x80\x80", LABELS_BAD_UTF8},
        {"\x80", LABELS_BAD_UTF8}, /* a continuation alone */
        {"\xE2\x82", LABELS_BAD_UTF8},
        {"\xE2\x28\xA1", LABELS_BAD_UTF8},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        enum labels_problem got =
            labels_check_value(cases[i].s, strlen(cases[i].s));
        if (got != cases[i].want)
            fail_msg("case %zu: %d, expected %d", i, (int)got,
                     (int)cases[i].want);
    }
    /* n bytes only: what follows is not read. */
    assert_int_equal(labels_check_value("ok\x01", 2), LABELS_OK);
    assert_int_equal(labels_check_value("\xE2\x82\xAC", 2), LABELS_BAD_UTF8);
}

/* Every name is a valid label name of its own, each once, and every one
 * of them is refused as a target's label. */
static void test_names(void **state)
{
    (void)state;
    for (int i = 0; i < LABEL_COUNT; i++) {
        const char *n = label_name((enum label_name)i);
        assert_ptr_equal(n, label_names[i]);
        assert_true(n[0] != '\0');
        assert_int_not_equal(strcmp(n, "unknown"), 0);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(strcmp(n, label_names[j]), 0);
        char s[96], canon[LABELS_CANON_MAX];
        size_t len, cnt, at_len;
        const char *at;
        snprintf(s, sizeof(s), "%s=x", n);
        if (labels_parse(s, canon, &len, &cnt, &at, &at_len) !=
            LABELS_RESERVED)
            fail_msg("%s is not refused as reserved", n);
    }
    assert_string_equal(label_name(LABEL_COUNT), "unknown");
    assert_string_equal(label_name((enum label_name) - 1), "unknown");

    char all[512];
    labels_reserved_names(all, sizeof(all));
    assert_true(strncmp(all, "target, phase, stage, ", 22) == 0);
    assert_non_null(strstr(all, ", job, instance"));
    /* Whole names only when short. */
    char few[12];
    labels_reserved_names(few, sizeof(few));
    assert_string_equal(few, "target");
    labels_reserved_names(few, 1);
    assert_string_equal(few, "");
}

/* A copy is the whole parsed form or nothing: never a label cut. */
static void test_copy(void **state)
{
    (void)state;
    static const char two[] = "team\0mail\0env\0prod\0"; /* + final NUL */
    char dst[LABELS_CANON_MAX], out[64];
    memset(dst, 'x', sizeof(dst));
    assert_int_equal(labels_copy(dst, sizeof(dst), two), sizeof(two) - 1);
    assert_memory_equal(dst, two, sizeof(two));
    decode(dst, out, sizeof(out));
    assert_string_equal(out, "team=mail|env=prod");
    /* Exactly the room it needs, and one byte less. */
    assert_int_equal(labels_copy(dst, sizeof(two), two), sizeof(two) - 1);
    assert_int_equal(labels_copy(dst, sizeof(two) - 1, two), -1);
    assert_string_equal(dst, "");
    /* None: "" and NULL. */
    memset(dst, 'x', sizeof(dst));
    assert_int_equal(labels_copy(dst, sizeof(dst), ""), 0);
    assert_string_equal(dst, "");
    memset(dst, 'x', sizeof(dst));
    assert_int_equal(labels_copy(dst, sizeof(dst), NULL), 0);
    assert_string_equal(dst, "");
    assert_int_equal(labels_copy(dst, 0, two), -1);
    /* More labels than LABELS_MAX, short as they are. */
    char many[LABELS_CANON_MAX];
    size_t used = 0;
    for (int i = 0; i <= LABELS_MAX; i++) {
        memcpy(many + used, "a\0b\0", 4);
        many[used] = (char)('a' + i);
        used += 4;
    }
    many[used] = '\0';
    assert_int_equal(labels_copy(dst, sizeof(dst), many), -1);
    assert_string_equal(dst, "");
    many[used - 4] = '\0'; /* LABELS_MAX of them */
    assert_int_equal(labels_copy(dst, sizeof(dst), many), (long)used - 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),     cmocka_unit_test(test_value_length),
        cmocka_unit_test(test_canon_max), cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_names),     cmocka_unit_test(test_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
