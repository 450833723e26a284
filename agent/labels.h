/* labels: label names: the one table of those the agent writes, and the
 * syntax of a target's own labels (key `labels`); pure. */
#ifndef LABELS_H
#define LABELS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Every label name the agent writes on any family, and the names
 * Prometheus gives a meaning of its own (le, quantile, job, instance).
 * metrics_render names its labels only through label_names[], so this is
 * the whole of its vocabulary: a name added there is reserved here by
 * itself, and a user's label can never collide with one of the agent's.
 */
enum label_name {
    LABEL_TARGET,
    LABEL_PHASE,
    LABEL_STAGE,
    LABEL_ERROR,
    LABEL_CODE,
    LABEL_CLASS,
    LABEL_MECHANISM,
    LABEL_KEYWORD,
    LABEL_VERSION,
    LABEL_CIPHER,
    LABEL_HOST,
    LABEL_PORT,
    LABEL_TLS,
    LABEL_TLS_VERIFY,
    LABEL_REASON,
    LABEL_RESOURCE,
    LABEL_LIBCURL,
    LABEL_OPENSSL,
    LABEL_LIBMICROHTTPD,
    LABEL_SHARD,
    LABEL_SHARDS,
    LABEL_STATE,
    LABEL_TARGETS_FILE,
    LABEL_LE, /* expo's histogram buckets */
    LABEL_QUANTILE,
    LABEL_JOB,
    LABEL_INSTANCE,
    LABEL_FINGERPRINT_SHA256, /* smtp_tls_cert_info's */
    LABEL_SUBJECT,
    LABEL_ISSUER,
    LABEL_SERIAL,
    LABEL_CHECK, /* smtp_check_success's */
    LABEL_COUNT
};

/* Indexed by enum label_name. */
extern const char *const label_names[];

/* label_names[l]; "unknown" out of range. */
const char *label_name(enum label_name l);

/* Bounds of a target's labels. A label costs its bytes on every series
 * of the target (README: at 10,000 targets), never a series. */
#define LABELS_MAX      8
#define LABEL_NAME_MAX  64
#define LABEL_VALUE_MAX 128 /* bytes of UTF-8, as written in the file */

/*
 * The parsed form: "name\0value\0" per label, in the order given, then
 * one more "\0" (an empty name ends it). "" is no labels. At most this
 * many bytes, the final NUL included.
 */
#define LABELS_CANON_MAX                                                      \
    (LABELS_MAX * (LABEL_NAME_MAX + 1 + LABEL_VALUE_MAX + 1) + 1)

/* What is wrong with a labels value. */
enum labels_problem {
    LABELS_OK,
    LABELS_NO_EQUALS,         /* a word that is not name=value */
    LABELS_BAD_NAME,          /* not [a-zA-Z_][a-zA-Z0-9_]* */
    LABELS_NAME_TOO_LONG,     /* over LABEL_NAME_MAX */
    LABELS_DOUBLE_UNDERSCORE, /* __...: Prometheus' own */
    LABELS_RESERVED,          /* one of label_names[] */
    LABELS_DUPLICATE,         /* a name given twice */
    LABELS_EMPTY_VALUE,       /* name= or name="" */
    LABELS_VALUE_TOO_LONG,    /* over LABEL_VALUE_MAX */
    LABELS_BAD_UTF8,          /* not well-formed UTF-8 */
    LABELS_CONTROL,           /* a control character (tab, U+0080-U+009F) */
    LABELS_UNTERMINATED,      /* "... without its closing quote */
    LABELS_BAD_ESCAPE,        /* in quotes, \ before other than " or \ */
    LABELS_QUOTE_IN_VALUE,    /* a " inside a value not in quotes */
    LABELS_AFTER_QUOTE,       /* text right after the closing quote */
    LABELS_TOO_MANY,          /* over LABELS_MAX */
    LABELS_NONE_MIXED,        /* none together with labels */
};

/*
 * A labels value: "none", or labels separated by blanks (spaces, tabs),
 * each name=value with the value either a run of non-blank characters
 * without '"' (taken as it is, a backslash too) or in double quotes,
 * where \" is a quote and \\ a backslash:
 *     team=mail env=prod note="on call: \"mail\" team"
 * Names as Prometheus takes them, not starting with __, none of
 * label_names[], each once; values non-empty UTF-8 without control
 * characters, at most LABEL_VALUE_MAX bytes; at most LABELS_MAX labels.
 * LABELS_OK with the parsed form in dst (LABELS_CANON_MAX bytes), its
 * length without the final NUL in *len and the labels in *n; else *at,
 * *at_len the name of the label at fault (the word, for NO_EQUALS,
 * NONE_MIXED and TOO_MANY), and dst is garbage.
 */
enum labels_problem labels_parse(const char *s, char *dst, size_t *len,
                                 size_t *n, const char **at, size_t *at_len);

/* The label after p in a parsed form: its name and value, and where the
 * next one starts; NULL at the end (p NULL or at an empty name). */
const char *labels_next(const char *p, const char **name, const char **value);

/*
 * Copies the parsed form canon (NULL: none) into dst, cap bytes, for
 * whoever keeps labels past the config they came from (a /probe answer
 * rendered after a reload freed it). Whole or not at all: its length
 * without the final NUL, or -1 with dst "" when more than LABELS_MAX
 * labels or more than cap bytes (never with what labels_parse() wrote
 * and cap LABELS_CANON_MAX).
 */
long labels_copy(char *dst, size_t cap, const char *canon);

/* Every reserved name, as messages list them: "target, phase, ...".
 * Whole names only when n is short. Returns dst. */
const char *labels_reserved_names(char *dst, size_t n);

/* LABELS_OK when the n bytes at s are a name a label may have, and not
 * one of those in canon (a parsed form, "" for none); else BAD_NAME,
 * NAME_TOO_LONG, DOUBLE_UNDERSCORE, RESERVED or DUPLICATE. */
enum labels_problem labels_check_name(const char *s, size_t n,
                                      const char *canon);

/* LABELS_OK when s is n bytes of well-formed UTF-8 (no overlong forms,
 * no surrogates, at most U+10FFFF) without a control character (C0, DEL,
 * C1); else LABELS_BAD_UTF8 or LABELS_CONTROL, whichever comes first. */
enum labels_problem labels_check_value(const char *s, size_t n);

#endif
