/* expo: Prometheus text format 0.0.4 writer: escaping, floats, order. */
#ifndef EXPO_H
#define EXPO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum expo_type { EXPO_COUNTER, EXPO_GAUGE, EXPO_HISTOGRAM, EXPO_UNTYPED };

/* A label; or, with name NULL, label text written as it is (pairs
 * `a="x",b="y"` that expo_label_text() wrote), nothing when it is NULL
 * or "": a target's own labels, rendered once, not per series. */
struct expo_label {
    const char *name;
    const char *value;
};

/*
 * Every function appends to out and returns 0, or -1 when the buffer
 * refused (out of memory or over its limit): the caller stops and
 * reports, the output is incomplete.
 */

/* "# HELP name help\n# TYPE name type\n"; help escaped (\\ and \n). */
int expo_family(struct buf *out, const char *name, const char *help,
                enum expo_type type);

/* "name{a="x",b="y"} value\n"; label values escaped (\\, \" and \n);
 * no braces without labels. */
int expo_sample(struct buf *out, const char *name,
                const struct expo_label *labels, size_t n_labels,
                double value);

/*
 * A histogram's samples: name_bucket{...,le="b"} for each bound, le="+Inf",
 * name_sum and name_count. bounds ascending, n_bounds of them; counts has
 * n_bounds + 1 entries, per bucket (not cumulative: the writer
 * accumulates), the last one for observations above every bound.
 */
int expo_histogram(struct buf *out, const char *name,
                   const struct expo_label *labels, size_t n_labels,
                   const double *bounds, const uint64_t *counts,
                   size_t n_bounds, double sum);

/* `a="x",b="y"`: n labels as a sample writes them, values escaped; for
 * a label of struct expo_label with name NULL. */
int expo_label_text(struct buf *out, const struct expo_label *labels,
                    size_t n);

/* Room for any value expo_format_double() writes, NUL included. */
#define EXPO_DOUBLE_LEN 32

/* A value as Prometheus writes it: "+Inf", "-Inf", "NaN", integers
 * without exponent up to 2^53, else the shortest %g that reads back
 * exactly. Returns dst. */
const char *expo_format_double(char *dst, size_t n, double v);

/* Escapers, public for tests. */
int expo_escape_label(struct buf *out, const char *s);
int expo_escape_help(struct buf *out, const char *s);

#endif
