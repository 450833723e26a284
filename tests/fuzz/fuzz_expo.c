/* fuzz_expo: escaped label values and HELP text read back to the input. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "fuzz_common.h"

/*
 * Label values come from outside (target names, TLS ciphers, EHLO
 * keywords, reply codes): whatever they hold, the exposition must stay
 * one sample per line and a Prometheus parser must read back exactly the
 * value we were given. The input is cut at NUL bytes into up to eight
 * values (C strings cannot hold a NUL). Each is escaped on its own, as
 * HELP text, and all together as the labels of one sample whose value
 * comes from the input's first eight bytes; a histogram with those labels
 * must also read back. The unescaper below follows the text format 0.0.4
 * spec, not the writer.
 */

#define MAX_LABELS 8

static const char *const label_names[MAX_LABELS] = {
    "target", "stage", "code", "class", "mechanism", "keyword", "cipher", "x",
};

/* Reads an escaped label value from s up to its closing quote: writes the
 * value to out, returns the position after the quote, or NULL. */
static const char *unescape_label(const char *s, const char *end,
                                  struct buf *out)
{
    while (s < end) {
        char c = *s++;
        FUZZ_CHECK(c != '\n'); /* never a raw newline inside a value */
        if (c == '"')
            return s;
        if (c == '\\') {
            FUZZ_CHECK(s < end);
            char e = *s++;
            FUZZ_CHECK(e == '\\' || e == '"' || e == 'n');
            c = e == 'n' ? '\n' : e;
        }
        FUZZ_CHECK(buf_putc(out, c) == 0);
    }
    return NULL;
}

/* HELP text: only \\ and \n are escapes; a lone backslash before
 * anything else is kept as it is, but the writer never makes one. */
static void check_help(const char *value)
{
    struct buf esc, back;
    buf_init(&esc, 0);
    buf_init(&back, 0);
    FUZZ_CHECK(expo_escape_help(&esc, value) == 0);
    const char *s = buf_str(&esc);
    for (size_t i = 0; i < esc.len; i++) {
        char c = s[i];
        FUZZ_CHECK(c != '\n');
        if (c == '\\') {
            FUZZ_CHECK(i + 1 < esc.len);
            char e = s[++i];
            FUZZ_CHECK(e == '\\' || e == 'n');
            c = e == 'n' ? '\n' : '\\';
        }
        FUZZ_CHECK(buf_putc(&back, c) == 0);
    }
    FUZZ_CHECK(strcmp(buf_str(&back), value) == 0);
    buf_free(&esc);
    buf_free(&back);

    /* The whole family header: exactly two lines. */
    struct buf fam;
    buf_init(&fam, 0);
    FUZZ_CHECK(expo_family(&fam, "smtp_fuzz", value, EXPO_GAUGE) == 0);
    size_t lf = 0;
    for (size_t i = 0; i < fam.len; i++)
        lf += fam.data[i] == '\n';
    FUZZ_CHECK(lf == 2);
    FUZZ_CHECK(strncmp(fam.data, "# HELP smtp_fuzz ", 17) == 0);
    FUZZ_CHECK(strstr(fam.data, "\n# TYPE smtp_fuzz gauge\n") != NULL);
    buf_free(&fam);
}

static void check_label_alone(const char *value)
{
    struct buf esc, back;
    buf_init(&esc, 0);
    buf_init(&back, 0);
    FUZZ_CHECK(expo_escape_label(&esc, value) == 0);
    FUZZ_CHECK(buf_putc(&esc, '"') == 0);
    const char *end = esc.data + esc.len;
    const char *after = unescape_label(esc.data, end, &back);
    /* The closing quote we added is the first unescaped one. */
    FUZZ_CHECK(after == end);
    FUZZ_CHECK(strcmp(buf_str(&back), value) == 0);
    buf_free(&esc);
    buf_free(&back);
}

/* Parses one sample line "name{l="v",...} value\n" (braces optional) and
 * checks its labels against the given ones; returns the value text. */
static const char *parse_sample(const char *s, const char *end,
                                const char *name,
                                const struct expo_label *labels, size_t n,
                                const char *le, char *value, size_t vcap)
{
    size_t nlen = strlen(name);
    FUZZ_CHECK((size_t)(end - s) > nlen && memcmp(s, name, nlen) == 0);
    s += nlen;
    size_t want = n + (le ? 1 : 0);
    if (want > 0) {
        FUZZ_CHECK(*s == '{');
        s++;
        for (size_t i = 0; i < want; i++) {
            const char *lname = i < n ? labels[i].name : "le";
            const char *lvalue = i < n ? labels[i].value : le;
            if (i > 0) {
                FUZZ_CHECK(*s == ',');
                s++;
            }
            size_t ln = strlen(lname);
            FUZZ_CHECK(strncmp(s, lname, ln) == 0 && s[ln] == '=' &&
                       s[ln + 1] == '"');
            s += ln + 2;
            struct buf back;
            buf_init(&back, 0);
            s = unescape_label(s, end, &back);
            FUZZ_CHECK(s != NULL);
            FUZZ_CHECK(strcmp(buf_str(&back), lvalue) == 0);
            buf_free(&back);
        }
        FUZZ_CHECK(*s == '}');
        s++;
    }
    FUZZ_CHECK(*s == ' ');
    s++;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    FUZZ_CHECK(nl != NULL && nl > s && (size_t)(nl - s) < vcap);
    memcpy(value, s, (size_t)(nl - s));
    value[nl - s] = '\0';
    return nl + 1;
}

static double read_value(const char *v)
{
    if (strcmp(v, "+Inf") == 0)
        return INFINITY;
    if (strcmp(v, "-Inf") == 0)
        return -INFINITY;
    if (strcmp(v, "NaN") == 0)
        return NAN;
    char *endp;
    double d = strtod(v, &endp);
    FUZZ_CHECK(*endp == '\0' && endp != v);
    /* The format's float syntax: no hex floats, no "inf" spelled
     * otherwise. */
    FUZZ_CHECK(strpbrk(v, "xXpPiInN") == NULL);
    return d;
}

static bool same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static void check_sample(const struct expo_label *labels, size_t n,
                         double value)
{
    struct buf out;
    buf_init(&out, 0);
    FUZZ_CHECK(expo_sample(&out, "smtp_fuzz", labels, n, value) == 0);
    /* One line: the only newline ends it. */
    FUZZ_CHECK(out.len > 0 && out.data[out.len - 1] == '\n');
    FUZZ_CHECK(memchr(out.data, '\n', out.len) == out.data + out.len - 1);
    char v[EXPO_DOUBLE_LEN + 8];
    const char *end = out.data + out.len;
    const char *after = parse_sample(out.data, end, "smtp_fuzz", labels, n,
                                     NULL, v, sizeof(v));
    FUZZ_CHECK(after == end);
    FUZZ_CHECK(same_double(read_value(v), value));
    buf_free(&out);
}

/* A histogram with two buckets: bucket lines, _sum and _count, each
 * carrying every label, counts cumulative. */
static void check_histogram(const struct expo_label *labels, size_t n,
                            const uint8_t *data, size_t size)
{
    const double bounds[2] = {0.25, 2.5};
    uint64_t counts[3] = {0, 0, 0};
    for (size_t i = 0; i < 3 && i < size; i++)
        counts[i] = data[i];
    struct buf out;
    buf_init(&out, 0);
    FUZZ_CHECK(expo_histogram(&out, "smtp_fuzz", labels, n, bounds, counts, 2,
                              1.5) == 0);
    const char *s = out.data, *end = out.data + out.len;
    static const char *const les[] = {"0.25", "2.5", "+Inf"};
    char v[EXPO_DOUBLE_LEN + 8];
    uint64_t cum = 0;
    for (int i = 0; i < 3; i++) {
        cum += counts[i];
        s = parse_sample(s, end, "smtp_fuzz_bucket", labels, n, les[i], v,
                         sizeof(v));
        FUZZ_CHECK(strtoull(v, NULL, 10) == cum);
    }
    s = parse_sample(s, end, "smtp_fuzz_sum", labels, n, NULL, v, sizeof(v));
    FUZZ_CHECK(strcmp(v, "1.5") == 0);
    s = parse_sample(s, end, "smtp_fuzz_count", labels, n, NULL, v, sizeof(v));
    FUZZ_CHECK(strtoull(v, NULL, 10) == cum);
    FUZZ_CHECK(s == end);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The input's first 8 bytes as a double (any bit pattern: NaNs,
     * infinities, subnormals), when there are that many. */
    double value = 0;
    if (size >= 8)
        memcpy(&value, data, 8);

    char *copy = malloc(size + 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size);
    copy[size] = '\0';

    struct expo_label labels[MAX_LABELS];
    size_t n = 0;
    size_t pos = 0;
    while (n < MAX_LABELS && pos <= size) {
        const char *v = copy + pos;
        labels[n].name = label_names[n];
        labels[n].value = v;
        n++;
        check_label_alone(v);
        check_help(v);
        pos += strlen(v) + 1;
    }
    check_sample(labels, n, value);
    check_sample(NULL, 0, value);
    check_histogram(labels, n, data, size);

    char d[EXPO_DOUBLE_LEN];
    expo_format_double(d, sizeof d, value);
    FUZZ_CHECK(strlen(d) < EXPO_DOUBLE_LEN);
    FUZZ_CHECK(same_double(read_value(d), value));
    free(copy);
    return 0;
}
