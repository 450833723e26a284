/* metrics_internal: the store's layout, shared by metrics.c (the writes),
 * metrics_render.c (the exposition) and metrics_read.c (the pages'
 * copies). Nobody else includes it. */
#ifndef METRICS_INTERNAL_H
#define METRICS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "zpack.h"

extern const double metrics_duration_bounds[];
extern const double metrics_delay_bounds[];
#define N_DURATION 13
#define N_DELAY    9

_Static_assert(N_DELAY <= N_DURATION, "struct histo holds both bucket sets");

struct histo {
    uint64_t counts[N_DURATION + 1];
    double sum;
};

/* One smtp_replies_total series; class follows from (stage, code). */
struct reply_count {
    enum probe_stage stage;
    int code;
    uint64_t n;
};

/* The TLS facts the series show; the rest of them (problem, subject) is
 * in the packed last result. */
struct mtls {
    bool known; /* a probe of this target got TLS up */
    bool valid;
    int64_t not_after;
    int64_t verified_not_after; /* 0: the last TLS's chain did not verify */
    int64_t leaf_not_after;
    int64_t leaf_not_before;
    /* smtp_tls_cert_info's labels as written (expo_label_text), rendered
     * when the certificate changes, not per scrape; NULL when unknown. */
    char *cert_info;
    char version[sizeof(((struct tls_facts *)0)->version)];
    char cipher[sizeof(((struct tls_facts *)0)->cipher)];
};

/* A target's series and last result. Strings are as long as they are:
 * at 10,000 targets buffers of the longest name and host cost 3 MB. */
struct mtarget {
    char *host; /* never NULL */
    /* Its own labels as every series of it shows them, rendered once
     * (expo_label_text: team="mail",env="prod"); NULL when none. */
    char *labels;
    unsigned port;
    enum tls_mode tls_mode;
    bool tls_verify; /* the target's tls_verify: smtp_target_info's label */
    bool mech_configured[SASL_MECH_COUNT];
    /* CONFIG_EXTRA_BIT()s: what render shows beyond the default. The
     * store keeps every count either way, so a reload that turns an
     * option on shows what was counted before. */
    unsigned extra;

    uint64_t probes;
    uint64_t failures[PROBE_STAGE_COUNT];
    uint64_t errors[PROBE_ERROR_COUNT];
    uint64_t skipped[SCHED_SKIP_REASON_COUNT];
    uint64_t auth_results[SASL_MECH_COUNT][SMTP_CLASS_COUNT];
    bool auth_present[SASL_MECH_COUNT][SMTP_CLASS_COUNT];
    /* Sorted by (stage, code); at most 7 x 500 entries. */
    struct reply_count *replies;
    size_t n_replies;
    size_t cap_replies;
    struct histo duration;

    /* Last probe: packed for the pages, which unpack the few they show
     * (a result is ~7.5 KB of buffers, most of it zeros); what its
     * gauges and the pages' lists show, unpacked. */
    bool probed;
    struct zpack last;
    bool last_success;
    enum report_state last_state;
    double last_start_time;
    double last_phase[PROBE_PHASE_COUNT]; /* < 0: not reached */
    unsigned last_ip_protocol;            /* 4, 6; 0: no address reached */
    struct report_history history;
    int last_code[PROBE_STAGE_COUNT]; /* 0: no reply in the last probe */

    /* Facts that survive a probe that did not get that far: the last
     * EHLO packed (its keywords and mechanisms, for ehlo_extensions),
     * what the default series need of it unpacked. */
    bool ehlo_known;
    struct zpack ehlo;
    bool ehlo_advertised[SASL_MECH_COUNT]; /* by name, in that EHLO */
    bool ehlo_has_size;
    uint64_t ehlo_size;
    struct mtls tls;
    /* The refusal checks (check.h): configured per the config; known once
     * a probe reached a verdict, which stays until the next one does. */
    struct mcheck {
        bool configured;
        bool known;
        bool passed;
        int code; /* the deciding reply's code, 0 none */
    } checks[CHECK_COUNT];
    char name[]; /* allocated with the target */
};

struct metrics {
    pthread_mutex_t lock;
    unsigned long render_holds; /* holds of the lock by renders, ever */
    struct mtarget **targets;   /* sorted by name */
    size_t n_targets;
    uint64_t generation; /* target lists set: a render sees one */

    char *build[4]; /* version, libcurl, openssl, libmicrohttpd */
    size_t in_flight;
    uint64_t resource_failures[PROBE_FAULT_COUNT];
    struct histo delay;
    bool reload_ok;
    double reload_success_time;
    /* The config's shard = I/N (0/1 without it) and how many of its
     * targets it left to the other shards. */
    unsigned shard;
    unsigned shards;
    size_t n_other_shards;
    /* The files targets_file matched at the last load. */
    struct msd_file {
        char *path;
        bool valid;
        size_t n_targets;
    } * sd_files;
    size_t n_sd_files;
};

/* Sorts the mechanisms by name once (render's order); idempotent. */
void metrics_mech_order_init(void);

/* The target named name in a sorted array, or NULL. */
struct mtarget *metrics_find_target(struct mtarget **arr, size_t n,
                                    const char *name);

#endif
