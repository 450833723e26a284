/* log: leveled logfmt lines to stderr; never give it a secret. */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_COUNT
};

const char *log_level_name(enum log_level level);
/* "debug", "info", "warn" (or "warning"), "error"; 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);

void log_set_level(enum log_level level);

/* logfmt (the default) or json: one object per line with the same
 * fields in the same order, every value a string. */
enum log_format { LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON };
/* "logfmt" or "json"; 0 or -1. */
int log_format_parse(const char *s, enum log_format *out);
void log_set_format(enum log_format format);
bool log_enabled(enum log_level level);
/* Where lines go; stderr by default. Tests point it at a file. */
void log_set_stream(FILE *f);

/*
 * Writes one line, in one write:
 *   ts=2026-11-28T17:03:34.123Z level=info module=probe msg="..." FIELDS
 * FIELDS is fmt expanded: more key=value pairs, values that may hold
 * spaces or quotes passed through log_quote(); fmt NULL for none. Safe
 * from any thread.
 *
 * Under LOG_FORMAT_JSON the same line is written as
 *   {"ts":"...","level":"info","module":"probe","msg":"...",FIELDS}
 * with each logfmt value decoded and re-encoded as a JSON string
 * (RFC 8259): \" \\ \n \r \t, other control bytes as \u00XX, UTF-8
 * passed through, a byte that is not valid UTF-8 as \ufffd.
 */
void log_write(enum log_level level, const char *module, const char *msg,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * s as a logfmt value in dst: bare when it is a plain token, else
 * double-quoted with \" \\ \n \r \t and \xNN escapes. A value longer
 * than fits ends in "..." inside the quotes. Returns dst.
 */
const char *log_quote(char *dst, size_t n, const char *s);

#define log_debug(mod, msg, ...)                                              \
    log_write(LOG_LEVEL_DEBUG, mod, msg, __VA_ARGS__)
#define log_info(mod, msg, ...)                                               \
    log_write(LOG_LEVEL_INFO, mod, msg, __VA_ARGS__)
#define log_warn(mod, msg, ...)                                               \
    log_write(LOG_LEVEL_WARN, mod, msg, __VA_ARGS__)
#define log_error(mod, msg, ...)                                              \
    log_write(LOG_LEVEL_ERROR, mod, msg, __VA_ARGS__)

#endif
