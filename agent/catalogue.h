/* catalogue: what each reply, class and error means, when it is seen and
 * how to fix it; the single source for --explain, --once, the status
 * page, the logs and the alert rules' words. Pure. */
#ifndef CATALOGUE_H
#define CATALOGUE_H

#include <stddef.h>

#include "classify.h"
#include "probe.h"

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
/* Never NULL for a valid value. */
const struct catalogue_entry *catalogue_class(enum smtp_class cls);
const struct catalogue_entry *catalogue_error(enum probe_error error);
/* RFC 3463 enhanced status code ("5.7.8"), or NULL when not catalogued. */
const struct catalogue_entry *catalogue_enhanced(const char *enhanced);

/*
 * What an operator types after --explain: a code ("504"; every stage's
 * entry for it), a code at a stage ("535@auth"), a class ("auth_failed"),
 * an error ("timeout") or an enhanced code ("5.7.8"). Writes up to cap
 * entries into out and returns how many matched (0: unknown).
 */
size_t catalogue_lookup(const char *what, const struct catalogue_entry **out,
                        size_t cap);

/* The entry that explains a failed probe: its no-reply error, or the
 * failing reply at its stage ("no_mechanism" for Postfix's 535 "no
 * mechanism available" to AUTH). NULL for a successful probe. */
const struct catalogue_entry *
catalogue_for_result(const struct probe_result *r);

/*
 * A note computed from the probe itself, or "" when there is none, e.g.:
 * a 504 or 535 to a mechanism that EHLO did not advertise names the ones
 * it did; Postfix's "535 5.7.8 ... no mechanism available" is a
 * mechanism problem, not a password problem; AUTH advertised only after
 * STARTTLS; a 535 after a reload changed the password and no AUTH has
 * succeeded since. Server text is copied as the probe kept it (printable
 * ASCII): escape it for HTML.
 */
void catalogue_note(const struct probe_result *r, char *buf, size_t n);
/* A buffer for catalogue_note() with room for every note at once, 16
 * mechanism names included; what does not fit is cut. */
#define CATALOGUE_NOTE_MAX 2048

/* Every entry, for tests and listings. */
size_t catalogue_count(void);
const struct catalogue_entry *catalogue_at(size_t i);

#endif
