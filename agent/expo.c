/* expo: Prometheus text format 0.0.4 writer: escaping, floats, order. */
#include "expo.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"

/* Integers above this are no longer all exact in a double. */
#define EXPO_EXACT_INT 9007199254740992.0 /* 2^53 */

static const char *const type_names[] = {
    [EXPO_COUNTER] = "counter",
    [EXPO_GAUGE] = "gauge",
    [EXPO_HISTOGRAM] = "histogram",
    [EXPO_UNTYPED] = "untyped",
};

/*
 * Copies s to out, replacing each character in `special` by a backslash
 * and its letter from `repl`. Runs without specials are appended whole.
 */
static int escape(struct buf *out, const char *s, const char *special,
                  const char *repl)
{
    for (;;) {
        size_t run = strcspn(s, special);
        if (buf_append(out, s, run) < 0)
            return -1;
        s += run;
        if (!*s)
            return 0;
        char esc[2] = {'\\', repl[strchr(special, *s) - special]};
        if (buf_append(out, esc, 2) < 0)
            return -1;
        s++;
    }
}

int expo_escape_label(struct buf *out, const char *s)
{
    return escape(out, s, "\\\"\n", "\\\"n");
}

int expo_escape_help(struct buf *out, const char *s)
{
    return escape(out, s, "\\\n", "\\n");
}

static const char *format_uint(char *dst, size_t n, uint64_t u);

/* v's digits, most significant first, without snprintf: the integers
 * (counters, codes, timestamps in seconds) are most of what is written. */
static const char *format_int(char *dst, size_t n, int64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    tmp[--i] = '\0';
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    size_t len = sizeof tmp - 1 - i;
    if (len + 1 > n)
        len = n - 1;
    memcpy(dst, tmp + i, len);
    dst[len] = '\0';
    return dst;
}

/* Counts go past INT64_MAX only in theory; they are printed whole. */
static const char *format_uint(char *dst, size_t n, uint64_t u)
{
    if (u <= (uint64_t)INT64_MAX)
        return format_int(dst, n, (int64_t)u);
    snprintf(dst, n, "%" PRIu64, u);
    return dst;
}

/*
 * Durations are nanoseconds over 1e9, timestamps microseconds over 1e6
 * (now_unix()): a v that is exactly the double nearest some n / 10^d is
 * written as that decimal, its trailing zeros dropped, without printf or
 * strtod (which were half of a render). It is what format_shortest()
 * writes: it reads back as v; no shorter decimal does, since in the range
 * each scale is used for neighbouring doubles are less than half of 10^-d
 * apart, so a decimal with fewer digits is another number; and %g writes
 * a number of that range that is not an integer without an exponent.
 * 0, or -1 when v is not such a number.
 */
static const struct {
    double min, max; /* |v| in [min, max) */
    double scale;    /* 10^digits */
    int digits;
} decimal_scales[] = {
    {1e-4, 1e6, 1e9, 9}, /* ulp(1e6) = 1.2e-10 */
    {1e6, 4e9, 1e6, 6},  /* ulp(4e9) = 4.8e-7 */
};

static int format_decimal(char *dst, size_t n, double v)
{
    double a = fabs(v);
    size_t k = 0;
    while (k < sizeof decimal_scales / sizeof decimal_scales[0] &&
           !(a >= decimal_scales[k].min && a < decimal_scales[k].max))
        k++;
    if (k == sizeof decimal_scales / sizeof decimal_scales[0])
        return -1;
    double scale = decimal_scales[k].scale;
    int digits = decimal_scales[k].digits;
    long long units = llround(a * scale);
    long long per = (long long)scale;
    if ((double)units / scale != a || units % per == 0)
        return -1;
    char whole[24];
    format_int(whole, sizeof whole, units / per);
    char frac[10];
    long long f = units % per;
    for (int i = digits - 1; i >= 0; i--, f /= 10)
        frac[i] = (char)('0' + f % 10);
    size_t keep = (size_t)digits;
    while (frac[keep - 1] == '0')
        keep--;
    size_t wl = strlen(whole);
    if ((v < 0) + wl + 1 + keep + 1 > n)
        return -1;
    char *o = dst;
    if (v < 0)
        *o++ = '-';
    memcpy(o, whole, wl);
    o += wl;
    *o++ = '.';
    memcpy(o, frac, keep);
    o[keep] = '\0';
    return 0;
}

/* The shortest %.Pg that reads back as v. Reading back is monotonic in
 * P (if P digits do, P + 1 do too) and 17 always does: a binary search
 * costs about four tries where counting up from 1 cost up to 17. */
static void format_shortest(char *dst, size_t n, double v)
{
    char tmp[EXPO_DOUBLE_LEN];
    int lo = 1, hi = 17;
    snprintf(dst, n, "%.17g", v);
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(tmp, sizeof tmp, "%.*g", mid, v);
        if (strtod(tmp, NULL) == v) {
            hi = mid;
            size_t len = strnlen(tmp, sizeof tmp - 1);
            if (len >= n)
                len = n - 1;
            memcpy(dst, tmp, len);
            dst[len] = '\0';
        } else {
            lo = mid + 1;
        }
    }
}

const char *expo_format_double(char *dst, size_t n, double v)
{
    if (n == 0)
        return dst;
    if (isnan(v)) {
        snprintf(dst, n, "NaN");
        return dst;
    }
    if (isinf(v)) {
        snprintf(dst, n, "%s", v > 0 ? "+Inf" : "-Inf");
        return dst;
    }
    /* Counters and codes read best as plain integers; -0 as 0. */
    if (v == trunc(v) && fabs(v) < EXPO_EXACT_INT)
        return format_int(dst, n, (int64_t)v);
    if (format_decimal(dst, n, v) == 0)
        return dst;
    format_shortest(dst, n, v);
    return dst;
}

int expo_family(struct buf *out, const char *name, const char *help,
                enum expo_type type)
{
    if ((unsigned)type >= sizeof type_names / sizeof type_names[0])
        type = EXPO_UNTYPED;
    if (buf_printf(out, "# HELP %s ", name) < 0 ||
        expo_escape_help(out, help) < 0 ||
        buf_printf(out, "\n# TYPE %s %s\n", name, type_names[type]) < 0)
        return -1;
    return 0;
}

/* One name="value" pair, the value escaped. */
static int write_label(struct buf *out, const char *name, const char *value)
{
    if (buf_puts(out, name) < 0 || buf_append(out, "=\"", 2) < 0 ||
        expo_escape_label(out, value) < 0 || buf_putc(out, '"') < 0)
        return -1;
    return 0;
}

int expo_label_text(struct buf *out, const struct expo_label *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((i > 0 && buf_putc(out, ',') < 0) ||
            write_label(out, labels[i].name, labels[i].value) < 0)
            return -1;
    }
    return 0;
}

/* name suffix{labels..., le="le"} value\n; le may be NULL; a label of
 * name NULL is text written as it is. Plain appends: this runs once per
 * series, and printf's parsing of a format was most of a render. */
static int write_sample(struct buf *out, const char *name, const char *suffix,
                        const struct expo_label *labels, size_t n_labels,
                        const char *le, const char *value)
{
    if (buf_puts(out, name) < 0 || buf_puts(out, suffix) < 0)
        return -1;
    bool open = false;
    for (size_t i = 0; i < n_labels; i++) {
        const struct expo_label *l = &labels[i];
        if (!l->name && (!l->value || !*l->value))
            continue;
        if (buf_putc(out, open ? ',' : '{') < 0)
            return -1;
        open = true;
        if (l->name ? write_label(out, l->name, l->value) < 0
                    : buf_puts(out, l->value) < 0)
            return -1;
    }
    if (le) {
        if (buf_putc(out, open ? ',' : '{') < 0)
            return -1;
        open = true;
        if (write_label(out, label_names[LABEL_LE], le) < 0)
            return -1;
    }
    if (open && buf_putc(out, '}') < 0)
        return -1;
    if (buf_putc(out, ' ') < 0 || buf_puts(out, value) < 0)
        return -1;
    return buf_putc(out, '\n');
}

int expo_sample(struct buf *out, const char *name,
                const struct expo_label *labels, size_t n_labels, double value)
{
    char v[EXPO_DOUBLE_LEN];
    expo_format_double(v, sizeof v, value);
    return write_sample(out, name, "", labels, n_labels, NULL, v);
}

int expo_histogram(struct buf *out, const char *name,
                   const struct expo_label *labels, size_t n_labels,
                   const double *bounds, const uint64_t *counts,
                   size_t n_bounds, double sum)
{
    char le[EXPO_DOUBLE_LEN];
    char v[EXPO_DOUBLE_LEN];
    uint64_t cum = 0;

    /* Counts stay integers end to end: no detour through a double. */
    for (size_t i = 0; i <= n_bounds; i++) {
        cum += counts[i];
        if (i < n_bounds)
            expo_format_double(le, sizeof le, bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        format_uint(v, sizeof v, cum);
        if (write_sample(out, name, "_bucket", labels, n_labels, le, v) < 0)
            return -1;
    }
    expo_format_double(v, sizeof v, sum);
    if (write_sample(out, name, "_sum", labels, n_labels, NULL, v) < 0)
        return -1;
    format_uint(v, sizeof v, cum);
    return write_sample(out, name, "_count", labels, n_labels, NULL, v);
}
