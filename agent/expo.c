/* expo: Prometheus text format 0.0.4 writer: escaping, floats, order. */
#include "expo.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *hit = strchr(special, *p);
        if (!hit)
            continue;
        char esc[2] = {'\\', repl[hit - special]};
        if (buf_append(out, run, (size_t)(p - run)) < 0 ||
            buf_append(out, esc, 2) < 0)
            return -1;
        run = p + 1;
    }
    return buf_puts(out, run);
}

int expo_escape_label(struct buf *out, const char *s)
{
    return escape(out, s, "\\\"\n", "\\\"n");
}

int expo_escape_help(struct buf *out, const char *s)
{
    return escape(out, s, "\\\n", "\\n");
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
    if (v == trunc(v) && fabs(v) < EXPO_EXACT_INT) {
        snprintf(dst, n, "%" PRId64, (int64_t)v);
        return dst;
    }
    char tmp[EXPO_DOUBLE_LEN];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* %.17g always reads back exactly, so tmp holds the answer. */
    snprintf(dst, n, "%s", tmp);
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

/* name suffix{labels..., le="le"} value\n; le may be NULL. */
static int write_sample(struct buf *out, const char *name, const char *suffix,
                        const struct expo_label *labels, size_t n_labels,
                        const char *le, const char *value)
{
    if (buf_puts(out, name) < 0 || buf_puts(out, suffix) < 0)
        return -1;
    if (n_labels > 0 || le) {
        if (buf_putc(out, '{') < 0)
            return -1;
        for (size_t i = 0; i < n_labels; i++) {
            if ((i > 0 && buf_putc(out, ',') < 0) ||
                buf_printf(out, "%s=\"", labels[i].name) < 0 ||
                expo_escape_label(out, labels[i].value) < 0 ||
                buf_putc(out, '"') < 0)
                return -1;
        }
        if (le &&
            buf_printf(out, "%sle=\"%s\"", n_labels > 0 ? "," : "", le) < 0)
            return -1;
        if (buf_putc(out, '}') < 0)
            return -1;
    }
    return buf_printf(out, " %s\n", value);
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
        snprintf(v, sizeof v, "%" PRIu64, cum);
        if (write_sample(out, name, "_bucket", labels, n_labels, le, v) < 0)
            return -1;
    }
    expo_format_double(v, sizeof v, sum);
    if (write_sample(out, name, "_sum", labels, n_labels, NULL, v) < 0)
        return -1;
    snprintf(v, sizeof v, "%" PRIu64, cum);
    return write_sample(out, name, "_count", labels, n_labels, NULL, v);
}
