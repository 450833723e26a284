/* catalogue: what each reply, class and error means, when it is seen and
 * how to fix it; the single source for --explain, --once, the status
 * page, the logs and the alert rules' words. Pure: it knows codes,
 * classes and errors, not probe results (report.c reads those). */
#ifndef CATALOGUE_H
#define CATALOGUE_H

#include <stddef.h>

#include "classify.h"

/*
 * One entry. Every text is plain ASCII, one or two sentences, without a
 * trailing newline; only neighbours may be NULL.
 */
struct catalogue_entry {
    const char *key;        /* "504", "504@auth", "auth_failed", "5.7.8",
                               "timeout" */
    const char *title;      /* a short line: "Mechanism not supported" */
    const char *meaning;    /* what it means */
    const char *when;       /* when one sees it */
    const char *fix;        /* what to do */
    const char *neighbours; /* how it differs from the replies it is
                               mistaken for (504 vs 535 vs 538 vs 534) */
};

/*
 * The entry for a reply code at a stage: the stage's own entry when the
 * code means something particular there (535 to AUTH, 454 to STARTTLS),
 * else the code's general entry, else its class's. Never NULL for a code
 * in 200..599.
 */
const struct catalogue_entry *catalogue_code(enum probe_stage stage, int code);
/*
 * A final reply as a hosted provider sends it: the entry of the code
 * with its enhanced code ("535 5.7.139") when there is one and text (the
 * reply's first line) has the words it needs, else catalogue_code().
 * enhanced and text may be NULL or "".
 */
const struct catalogue_entry *catalogue_reply(enum probe_stage stage, int code,
                                              const char *enhanced,
                                              const char *text);
/* Never NULL for a valid value. */
const struct catalogue_entry *catalogue_class(enum smtp_class cls);
const struct catalogue_entry *catalogue_error(enum probe_error error);
/* RFC 3463 enhanced status code ("5.7.8"), or NULL when not catalogued. */
const struct catalogue_entry *catalogue_enhanced(const char *enhanced);

/*
 * What an operator types after --explain: a code ("504"; every stage's
 * entry for it), a code at a stage ("535@auth"), a class ("auth_failed"),
 * an error ("timeout"), an enhanced code ("5.7.8"), or a provider's code
 * with its enhanced code ("535 5.7.139"). Writes up to cap
 * entries into out and returns how many matched (0: unknown).
 */
size_t catalogue_lookup(const char *what, const struct catalogue_entry **out,
                        size_t cap);

/* The entry under exactly this key ("no_mechanism", "probe_failed",
 * "535@auth"), or NULL. */
const struct catalogue_entry *catalogue_find(const char *key);

/* Every entry, for tests and listings. */
size_t catalogue_count(void);
const struct catalogue_entry *catalogue_at(size_t i);

#endif
