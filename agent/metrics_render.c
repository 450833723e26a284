/* metrics_render: the store as Prometheus text, family by family. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "metrics_internal.h"

static int cmp_mech_name(const void *a, const void *b)
{
    return strcmp(sasl_mech_name(*(const enum sasl_mech *)a),
                  sasl_mech_name(*(const enum sasl_mech *)b));
}

/* Every mechanism of enum sasl_mech by label value, the order of every
 * mechanism list: derived from sasl's own table, so that a mechanism
 * added there is rendered, never a slot left to repeat another. Sorted
 * once, before any render (metrics_new). */
static enum sasl_mech mech_order[SASL_MECH_COUNT];
static pthread_once_t mech_order_once = PTHREAD_ONCE_INIT;

static void mech_order_sort(void)
{
    for (int i = 0; i < SASL_MECH_COUNT; i++)
        mech_order[i] = (enum sasl_mech)i;
    qsort(mech_order, SASL_MECH_COUNT, sizeof mech_order[0], cmp_mech_name);
}

void metrics_mech_order_init(void)
{
    pthread_once(&mech_order_once, mech_order_sort);
}

/*
 * A family being written: HELP and TYPE go out with its first sample, so
 * that a family without samples leaves no trace. While a per-target
 * family is written, t is the target: every sample gets its target label
 * and the target's own labels before the family's own, so that no family
 * of a target can leave them out.
 */
struct fam {
    struct buf *out;
    const char *name;
    const char *help;
    enum expo_type type;
    bool started;
    const struct mtarget *t; /* NULL: an agent-wide family */
};

/* The most labels a family writes of its own (smtp_target_info's). */
#define FAM_LABELS_MAX 4

/* A label named by enum label_name: the one table of the agent's label
 * names, which labels.c refuses for a target's own labels. */
#define L(n, v)     ((struct expo_label){label_names[(n)], (v)})
#define N_LABELS(l) (sizeof(l) / sizeof((l)[0]))

static int fam_begin(struct fam *f)
{
    if (f->started)
        return 0;
    f->started = true;
    return expo_family(f->out, f->name, f->help, f->type);
}

/* l, n with the target's labels before them, in all (2 + FAM_LABELS_MAX);
 * the count of what to write. */
static size_t fam_labels(const struct fam *f, const struct expo_label *l,
                         size_t n, struct expo_label *all,
                         const struct expo_label **out)
{
    *out = l;
    if (!f->t)
        return n;
    all[0] = L(LABEL_TARGET, f->t->name);
    all[1] = (struct expo_label){NULL, f->t->labels};
    for (size_t i = 0; i < n; i++)
        all[2 + i] = l[i];
    *out = all;
    return 2 + n;
}

static int fam_sample(struct fam *f, const struct expo_label *l, size_t n,
                      double v)
{
    struct expo_label all[2 + FAM_LABELS_MAX];
    const struct expo_label *use;
    /* Never cut: a family with more labels raises FAM_LABELS_MAX. */
    if (n > FAM_LABELS_MAX)
        return -1;
    size_t k = fam_labels(f, l, n, all, &use);
    if (fam_begin(f) < 0)
        return -1;
    return expo_sample(f->out, f->name, use, k, v);
}

static int fam_histogram(struct fam *f, const double *bounds, size_t n_bounds,
                         const struct histo *h)
{
    struct expo_label all[2];
    const struct expo_label *use;
    size_t k = fam_labels(f, NULL, 0, all, &use);
    if (fam_begin(f) < 0)
        return -1;
    return expo_histogram(f->out, f->name, use, k, bounds, h->counts, n_bounds,
                          h->sum);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether the target's extra_metrics include e. */
static bool extra(const struct mtarget *t, enum config_extra e)
{
    return (t->extra & CONFIG_EXTRA_BIT(e)) != 0;
}

/* A counter series that no alert needs at 0: shown once it counted, or
 * from the start with zero_series. */
static bool counted(const struct mtarget *t, uint64_t n)
{
    return n > 0 || extra(t, CONFIG_EXTRA_ZERO_SERIES);
}

static int emit_success(struct fam *f, const struct mtarget *t)
{
    if (!t->probed)
        return 0;
    return fam_sample(f, NULL, 0, t->last_success ? 1 : 0);
}

/* By default only le="+Inf", _sum and _count: what rate(_sum) /
 * rate(_count) needs. Per-target quantiles need duration_buckets. */
static int emit_duration(struct fam *f, const struct mtarget *t)
{
    if (extra(t, CONFIG_EXTRA_DURATION_BUCKETS))
        return fam_histogram(f, metrics_duration_bounds, N_DURATION,
                             &t->duration);
    struct histo all = {.sum = t->duration.sum};
    for (size_t i = 0; i <= N_DURATION; i++)
        all.counts[0] += t->duration.counts[i];
    return fam_histogram(f, NULL, 0, &all);
}

static int emit_phases(struct fam *f, const struct mtarget *t)
{
    for (int p = 0; t->probed && p < PROBE_PHASE_COUNT; p++) {
        struct expo_label l[] = {
            L(LABEL_PHASE, probe_phase_name((enum probe_phase)p))};
        double v = t->last_phase[p];
        /* A phase this probe did not reach has no value, not a stale one. */
        if (v >= 0 && fam_sample(f, l, N_LABELS(l), v) < 0)
            return -1;
    }
    return 0;
}

/* Like blackbox_exporter's probe_ip_protocol: one series per probed
 * target, 0 when the last probe reached no address. */
static int emit_ip_protocol(struct fam *f, const struct mtarget *t)
{
    if (!t->probed)
        return 0;
    return fam_sample(f, NULL, 0, (double)t->last_ip_protocol);
}

static int emit_probes(struct fam *f, const struct mtarget *t)
{
    return fam_sample(f, NULL, 0, (double)t->probes);
}

/* Stage token at 0 only where a bearer token is used: a target without
 * one can never fail there. */
static bool token_stage_possible(const struct mtarget *t)
{
    return t->mech_configured[SASL_MECH_XOAUTH2] ||
           t->mech_configured[SASL_MECH_OAUTHBEARER];
}

static int emit_failures(struct fam *f, const struct mtarget *t)
{
    for (int s = 0; s < PROBE_STAGE_COUNT; s++) {
        struct expo_label l[] = {
            L(LABEL_STAGE, probe_stage_name((enum probe_stage)s))};
        bool zero = s != PROBE_STAGE_TOKEN || token_stage_possible(t);
        if ((zero ? counted(t, t->failures[s]) : t->failures[s] > 0) &&
            fam_sample(f, l, N_LABELS(l), (double)t->failures[s]) < 0)
            return -1;
    }
    return 0;
}

/*
 * An alert fires at once on an increase of starttls_unavailable (STARTTLS
 * stripped is maybe an attack, and one probe may be all it takes): a
 * STARTTLS target has that series at 0 from the start, the others from
 * their first count.
 */
static int emit_errors(struct fam *f, const struct mtarget *t)
{
    for (int e = PROBE_ERROR_NONE + 1; e < PROBE_ERROR_COUNT; e++) {
        struct expo_label l[] = {
            L(LABEL_ERROR, probe_error_name((enum probe_error)e))};
        bool alert = e == PROBE_ERROR_STARTTLS_UNAVAILABLE &&
                     t->tls_mode == TLS_MODE_STARTTLS;
        if ((alert || counted(t, t->errors[e])) &&
            fam_sample(f, l, N_LABELS(l), (double)t->errors[e]) < 0)
            return -1;
    }
    return 0;
}

static int emit_replies(struct fam *f, const struct mtarget *t)
{
    for (size_t i = 0; i < t->n_replies; i++) {
        const struct reply_count *rc = &t->replies[i];
        char code[8];
        snprintf(code, sizeof code, "%d", rc->code);
        enum smtp_class c = classify_reply(rc->stage, rc->code);
        struct expo_label l[] = {L(LABEL_STAGE, probe_stage_name(rc->stage)),
                                 L(LABEL_CODE, code),
                                 L(LABEL_CLASS, smtp_class_name(c))};
        if (fam_sample(f, l, N_LABELS(l), (double)rc->n) < 0)
            return -1;
    }
    return 0;
}

static int emit_auth_results(struct fam *f, const struct mtarget *t)
{
    for (int i = 0; i < SASL_MECH_COUNT; i++) {
        enum sasl_mech mech = mech_order[i];
        for (int c = 0; c < SMTP_CLASS_COUNT; c++) {
            if (!t->auth_present[mech][c])
                continue;
            struct expo_label l[] = {
                L(LABEL_MECHANISM, sasl_mech_name((enum sasl_mech)mech)),
                L(LABEL_CLASS, smtp_class_name((enum smtp_class)c))};
            if (fam_sample(f, l, N_LABELS(l),
                           (double)t->auth_results[mech][c]) < 0)
                return -1;
        }
    }
    return 0;
}

/* smtp_replies_total counts the same replies: only with
 * last_reply_codes. */
static int emit_last_code(struct fam *f, const struct mtarget *t)
{
    if (!extra(t, CONFIG_EXTRA_LAST_REPLY_CODES))
        return 0;
    for (int s = 0; t->probed && s < PROBE_STAGE_COUNT; s++) {
        struct expo_label l[] = {
            L(LABEL_STAGE, probe_stage_name((enum probe_stage)s))};
        if (t->last_code[s] != 0 &&
            fam_sample(f, l, N_LABELS(l), t->last_code[s]) < 0)
            return -1;
    }
    return 0;
}

/* Only the checks a target configures, once a probe decided them. */
static int emit_check_success(struct fam *f, const struct mtarget *t)
{
    for (int k = 0; k < CHECK_COUNT; k++) {
        const struct mcheck *c = &t->checks[k];
        struct expo_label l[] = {
            L(LABEL_CHECK, check_name((enum probe_check)k))};
        if (c->configured && c->known &&
            fam_sample(f, l, N_LABELS(l), c->passed ? 1 : 0) < 0)
            return -1;
    }
    return 0;
}

static int emit_check_code(struct fam *f, const struct mtarget *t)
{
    for (int k = 0; k < CHECK_COUNT; k++) {
        const struct mcheck *c = &t->checks[k];
        struct expo_label l[] = {
            L(LABEL_CHECK, check_name((enum probe_check)k))};
        if (c->configured && c->known &&
            fam_sample(f, l, N_LABELS(l), c->code) < 0)
            return -1;
    }
    return 0;
}

/* The configured mechanisms (what the alert on a mechanism that is not
 * advertised watches), from the facts kept unpacked. */
static int emit_advertised_configured(struct fam *f, const struct mtarget *t)
{
    /* sasl's names, in label order: metrics_mech_order_init(). */
    for (int i = 0; i < SASL_MECH_COUNT; i++) {
        enum sasl_mech mech = mech_order[i];
        if (!t->mech_configured[mech])
            continue;
        struct expo_label l[] = {L(LABEL_MECHANISM, sasl_mech_name(mech))};
        if (fam_sample(f, l, N_LABELS(l), t->ehlo_advertised[mech] ? 1 : 0) <
            0)
            return -1;
    }
    return 0;
}

/* With ehlo_extensions, every advertised mechanism too: the EHLO is
 * unpacked for it. */
static int emit_advertised(struct fam *f, const struct mtarget *t)
{
    if (!t->ehlo_known)
        return 0;
    if (!extra(t, CONFIG_EXTRA_EHLO_EXTENSIONS))
        return emit_advertised_configured(f, t);
    struct smtp_ehlo e;
    if (zpack_unpack(&t->ehlo, &e, sizeof(e)) < 0)
        return emit_advertised_configured(f, t);
    /* Sorted, each once. */
    const char *all[SASL_MECH_COUNT + SMTP_EHLO_MAX_MECHS];
    size_t n = 0;
    for (int mech = 0; mech < SASL_MECH_COUNT; mech++) {
        if (t->mech_configured[mech])
            all[n++] = sasl_mech_name((enum sasl_mech)mech);
    }
    size_t n_adv =
        e.n_mechs < SMTP_EHLO_MAX_MECHS ? e.n_mechs : SMTP_EHLO_MAX_MECHS;
    for (size_t i = 0; i < n_adv; i++)
        all[n++] = e.mechs[i];
    qsort(all, n, sizeof *all, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(all[i - 1], all[i]) == 0)
            continue;
        bool adv = false;
        for (size_t j = 0; j < n_adv; j++) {
            if (strcmp(e.mechs[j], all[i]) == 0)
                adv = true;
        }
        struct expo_label l[] = {L(LABEL_MECHANISM, all[i])};
        if (fam_sample(f, l, N_LABELS(l), adv ? 1 : 0) < 0)
            return -1;
    }
    return 0;
}

static int emit_extensions(struct fam *f, const struct mtarget *t)
{
    if (!t->ehlo_known || !extra(t, CONFIG_EXTRA_EHLO_EXTENSIONS))
        return 0;
    struct smtp_ehlo e;
    if (zpack_unpack(&t->ehlo, &e, sizeof(e)) < 0)
        return 0;
    const char *kw[SMTP_EHLO_MAX_KEYWORDS];
    size_t n = e.n_keywords < SMTP_EHLO_MAX_KEYWORDS ? e.n_keywords
                                                     : SMTP_EHLO_MAX_KEYWORDS;
    for (size_t i = 0; i < n; i++)
        kw[i] = e.keywords[i];
    qsort(kw, n, sizeof *kw, cmp_str);
    for (size_t i = 0; i < n; i++) {
        struct expo_label l[] = {L(LABEL_KEYWORD, kw[i])};
        if (fam_sample(f, l, N_LABELS(l), 1) < 0)
            return -1;
    }
    return 0;
}

static int emit_max_size(struct fam *f, const struct mtarget *t)
{
    if (!t->ehlo_known || !t->ehlo_has_size)
        return 0;
    return fam_sample(f, NULL, 0, (double)t->ehlo_size);
}

static int emit_tls_info(struct fam *f, const struct mtarget *t)
{
    struct expo_label l[] = {L(LABEL_VERSION, t->tls.version),
                             L(LABEL_CIPHER, t->tls.cipher)};
    if (!t->tls.known)
        return 0;
    return fam_sample(f, l, N_LABELS(l), 1);
}

static int emit_cert_expiry(struct fam *f, const struct mtarget *t)
{
    if (!t->tls.known)
        return 0;
    return fam_sample(f, NULL, 0, (double)t->tls.not_after);
}

/* The verified chain's: absent when the last TLS's chain did not verify
 * (the alerts then fall back to the presented chain's). */
static int emit_verified_expiry(struct fam *f, const struct mtarget *t)
{
    if (!t->tls.known || !t->tls.verified_not_after)
        return 0;
    return fam_sample(f, NULL, 0, (double)t->tls.verified_not_after);
}

static int emit_leaf_not_after(struct fam *f, const struct mtarget *t)
{
    if (!t->tls.known || !t->tls.leaf_not_after)
        return 0;
    return fam_sample(f, NULL, 0, (double)t->tls.leaf_not_after);
}

/* With cert_details: the default series fit the budget of 32 (a failed
 * STARTTLS+AUTH probe's target has 32 with the two above); a leaf not
 * yet valid is smtp_tls_cert_valid 0 by default all the same. */
static int emit_leaf_not_before(struct fam *f, const struct mtarget *t)
{
    if (!t->tls.known || !t->tls.leaf_not_before ||
        !extra(t, CONFIG_EXTRA_CERT_DETAILS))
        return 0;
    return fam_sample(f, NULL, 0, (double)t->tls.leaf_not_before);
}

/* Its labels kept as written (metrics.c keep_cert_info). */
static int emit_cert_info(struct fam *f, const struct mtarget *t)
{
    if (!t->tls.known || !t->tls.cert_info ||
        !extra(t, CONFIG_EXTRA_CERT_DETAILS))
        return 0;
    struct expo_label l[] = {{NULL, t->tls.cert_info}};
    return fam_sample(f, l, N_LABELS(l), 1);
}

static int emit_cert_valid(struct fam *f, const struct mtarget *t)
{
    if (!t->tls.known)
        return 0;
    return fam_sample(f, NULL, 0, t->tls.valid ? 1 : 0);
}

static int emit_last_run(struct fam *f, const struct mtarget *t)
{
    if (!t->probed)
        return 0;
    return fam_sample(f, NULL, 0, t->last_start_time);
}

static int emit_target_info(struct fam *f, const struct mtarget *t)
{
    char port[16];
    snprintf(port, sizeof port, "%u", t->port);
    const char *tls = tls_mode_name(t->tls_mode);
    struct expo_label l[] = {
        L(LABEL_HOST, t->host), L(LABEL_PORT, port), L(LABEL_TLS, tls),
        L(LABEL_TLS_VERIFY, t->tls_verify ? "true" : "false")};
    return fam_sample(f, l, N_LABELS(l), 1);
}

/*
 * Each reason appears with its first skip. With zero_series "running"
 * exists from the start: it says the target itself is slow (or timeout
 * too close to interval). A limit or a stall is the agent's, seen in its
 * log, and never starts at 0.
 */
static int emit_skipped(struct fam *f, const struct mtarget *t)
{
    for (int r = 0; r < SCHED_SKIP_REASON_COUNT; r++) {
        bool zero = r == SCHED_SKIP_RUNNING && counted(t, 0);
        if (t->skipped[r] == 0 && !zero)
            continue;
        struct expo_label l[] = {L(
            LABEL_REASON, sched_skip_reason_name((enum sched_skip_reason)r))};
        if (fam_sample(f, l, N_LABELS(l), (double)t->skipped[r]) < 0)
            return -1;
    }
    return 0;
}

static int emit_resource_failures(struct fam *f, const struct metrics *m)
{
    for (int r = PROBE_FAULT_NONE + 1; r < PROBE_FAULT_COUNT; r++) {
        struct expo_label l[] = {
            L(LABEL_RESOURCE, probe_fault_name((enum probe_fault)r))};
        if (fam_sample(f, l, N_LABELS(l), (double)m->resource_failures[r]) < 0)
            return -1;
    }
    return 0;
}

static int emit_build_info(struct fam *f, const struct metrics *m)
{
    struct expo_label l[] = {
        L(LABEL_VERSION, m->build[0]), L(LABEL_LIBCURL, m->build[1]),
        L(LABEL_OPENSSL, m->build[2]), L(LABEL_LIBMICROHTTPD, m->build[3])};
    return fam_sample(f, l, N_LABELS(l), 1);
}

static int emit_targets(struct fam *f, const struct metrics *m)
{
    return fam_sample(f, NULL, 0, (double)m->n_targets);
}

static int emit_shard_info(struct fam *f, const struct metrics *m)
{
    char shard[16], shards[16];
    snprintf(shard, sizeof shard, "%u", m->shard);
    snprintf(shards, sizeof shards, "%u", m->shards);
    struct expo_label l[] = {L(LABEL_SHARD, shard), L(LABEL_SHARDS, shards)};
    return fam_sample(f, l, 2, 1);
}

/* The config's targets by whose they are: probed here, or left to the
 * other agents of shard = I/N; the two add up to the file's targets. */
static int emit_shard_targets(struct fam *f, const struct metrics *m)
{
    struct expo_label probed[] = {L(LABEL_STATE, "probed")};
    struct expo_label other[] = {L(LABEL_STATE, "other_shards")};
    if (fam_sample(f, probed, 1, (double)m->n_targets) < 0)
        return -1;
    return fam_sample(f, other, 1, (double)m->n_other_shards);
}

static int emit_in_flight(struct fam *f, const struct metrics *m)
{
    return fam_sample(f, NULL, 0, (double)m->in_flight);
}

static int emit_delay(struct fam *f, const struct metrics *m)
{
    return fam_histogram(f, metrics_delay_bounds, N_DELAY, &m->delay);
}

static int emit_reload_ok(struct fam *f, const struct metrics *m)
{
    return fam_sample(f, NULL, 0, m->reload_ok ? 1 : 0);
}

static int emit_sd_valid(struct fam *f, const struct metrics *m)
{
    for (size_t i = 0; i < m->n_sd_files; i++) {
        struct expo_label l[] = {L(LABEL_TARGETS_FILE, m->sd_files[i].path)};
        if (fam_sample(f, l, 1, m->sd_files[i].valid ? 1 : 0) < 0)
            return -1;
    }
    return 0;
}

static int emit_sd_targets(struct fam *f, const struct metrics *m)
{
    for (size_t i = 0; i < m->n_sd_files; i++) {
        struct expo_label l[] = {L(LABEL_TARGETS_FILE, m->sd_files[i].path)};
        if (fam_sample(f, l, 1, (double)m->sd_files[i].n_targets) < 0)
            return -1;
    }
    return 0;
}

static int emit_reload_time(struct fam *f, const struct metrics *m)
{
    return fam_sample(f, NULL, 0, m->reload_success_time);
}

/* DESIGN.md's metric table, in its order: each family either per target
 * (targets by name) or of the agent as a whole. */
static const struct family {
    const char *name;
    const char *help;
    enum expo_type type;
    int (*per_target)(struct fam *f, const struct mtarget *t);
    int (*agent)(struct fam *f, const struct metrics *m);
} families[] = {
    {"smtp_probe_success",
     "1 when the last probe got every expected reply, else 0.", EXPO_GAUGE,
     emit_success, NULL},
    {"smtp_probe_duration_seconds", "Duration of whole probes.",
     EXPO_HISTOGRAM, emit_duration, NULL},
    {"smtp_probe_phase_duration_seconds",
     "Duration of each phase the last probe reached.", EXPO_GAUGE, emit_phases,
     NULL},
    {"smtp_probe_ip_protocol",
     "IP version of the address the last probe connected to: 4 or 6, 0 "
     "when it reached none.",
     EXPO_GAUGE, emit_ip_protocol, NULL},
    {"smtp_probes_total", "Probes finished.", EXPO_COUNTER, emit_probes, NULL},
    {"smtp_probe_failures_total",
     "Failed probes by the stage where they failed.", EXPO_COUNTER,
     emit_failures, NULL},
    {"smtp_probe_errors_total", "Failed probes without a reply, by error.",
     EXPO_COUNTER, emit_errors, NULL},
    {"smtp_replies_total", "Final replies by stage, code and class.",
     EXPO_COUNTER, emit_replies, NULL},
    {"smtp_auth_results_total",
     "AUTH attempts by mechanism and class of the final reply.", EXPO_COUNTER,
     emit_auth_results, NULL},
    {"smtp_last_reply_code", "Final reply code per stage of the last probe.",
     EXPO_GAUGE, emit_last_code, NULL},
    {"smtp_check_success",
     "1 when the server refused what the configured check expects it to "
     "(or advertised what require_ehlo names), else 0.",
     EXPO_GAUGE, emit_check_success, NULL},
    {"smtp_check_reply_code",
     "The reply code that decided each configured check (0: none needed).",
     EXPO_GAUGE, emit_check_code, NULL},
    {"smtp_auth_mechanism_advertised",
     "1 when the last EHLO advertised the SASL mechanism, else 0.", EXPO_GAUGE,
     emit_advertised, NULL},
    {"smtp_ehlo_extension", "Keywords of the last EHLO reply.", EXPO_GAUGE,
     emit_extensions, NULL},
    {"smtp_max_message_size_bytes",
     "Message size limit from EHLO SIZE; 0 when none is stated.", EXPO_GAUGE,
     emit_max_size, NULL},
    {"smtp_tls_info", "TLS version and cipher of the last TLS session.",
     EXPO_GAUGE, emit_tls_info, NULL},
    {"smtp_tls_cert_expiry_timestamp_seconds",
     "Earliest notAfter in the presented chain, unix time.", EXPO_GAUGE,
     emit_cert_expiry, NULL},
    {"smtp_tls_verified_chain_expiry_timestamp_seconds",
     "Earliest notAfter of the chain that verified (leaf to trust anchor) in "
     "every session of the last probe.",
     EXPO_GAUGE, emit_verified_expiry, NULL},
    {"smtp_tls_leaf_cert_not_after_timestamp_seconds",
     "Earliest notAfter of the server's own (leaf) certificate in the last "
     "probe.",
     EXPO_GAUGE, emit_leaf_not_after, NULL},
    {"smtp_tls_leaf_cert_not_before_timestamp_seconds",
     "Latest notBefore of the server's own (leaf) certificate in the last "
     "probe.",
     EXPO_GAUGE, emit_leaf_not_before, NULL},
    {"smtp_tls_cert_info",
     "1, the leaf certificate of the first TLS session: SHA-256 fingerprint, "
     "subject and issuer (RFC 2253), serial (hex).",
     EXPO_GAUGE, emit_cert_info, NULL},
    {"smtp_tls_cert_valid",
     "1 when chain and host name verify, whether or not enforced.", EXPO_GAUGE,
     emit_cert_valid, NULL},
    {"smtp_probe_last_run_timestamp_seconds",
     "Start of the last probe, unix time.", EXPO_GAUGE, emit_last_run, NULL},
    {"smtp_target_info",
     "Configured targets: host, port, TLS mode and whether the "
     "certificate must verify.",
     EXPO_GAUGE, emit_target_info, NULL},
    {"smtp_agent_build_info", "Versions of the agent and its libraries.",
     EXPO_GAUGE, NULL, emit_build_info},
    {"smtp_agent_targets",
     "Number of configured targets this agent probes (with shard = I/N, "
     "those of its shard).",
     EXPO_GAUGE, NULL, emit_targets},
    {"smtp_agent_shard_info",
     "This agent's shard of the config's targets (shard = I/N: Prometheus' "
     "hashmod of host:port); 0 of 1 when not sharded.",
     EXPO_GAUGE, NULL, emit_shard_info},
    {"smtp_agent_shard_targets",
     "The config's targets by state: probed by this agent, or "
     "other_shards, left to the other agents of its shard = I/N.",
     EXPO_GAUGE, NULL, emit_shard_targets},
    {"smtp_agent_probes_in_flight", "Probes running now.", EXPO_GAUGE, NULL,
     emit_in_flight},
    {"smtp_agent_probes_skipped_total",
     "Rounds not probed, by reason: running (the target's previous probe "
     "still ran), host_limit or global_limit (it waited for a slot under "
     "max_per_host or max_concurrent_probes), stalled (the agent's loop did "
     "not run in time).",
     EXPO_COUNTER, emit_skipped, NULL},
    {"smtp_agent_resource_failures_total",
     "Probes the agent abandoned because it ran out of its own resources "
     "(file descriptors, memory), not the target's failure.",
     EXPO_COUNTER, NULL, emit_resource_failures},
    {"smtp_agent_probe_start_delay_seconds",
     "How late probes start against their schedule.", EXPO_HISTOGRAM, NULL,
     emit_delay},
    {"smtp_agent_config_last_reload_successful",
     "1 when the last configuration load succeeded, else 0.", EXPO_GAUGE, NULL,
     emit_reload_ok},
    {"smtp_agent_config_last_reload_success_timestamp_seconds",
     "Time of the last successful configuration load, unix time.", EXPO_GAUGE,
     NULL, emit_reload_time},
    {"smtp_agent_targets_file_valid",
     "1 when the targets file was read and all of it taken at the last "
     "load; 0 when it is broken and its last good version's targets (or "
     "none) are in use.",
     EXPO_GAUGE, NULL, emit_sd_valid},
    {"smtp_agent_targets_file_targets",
     "Targets taken from the targets file at the last load, over every "
     "shard.",
     EXPO_GAUGE, NULL, emit_sd_targets},
};

/* A render: the target list it began with, and whether it holds the lock
 * from start to end. */
struct render {
    uint64_t generation;
    bool whole;
};

#define RENDER_RELOADED 1 /* the target list changed: start again */
#define RENDER_TRIES    3 /* the last holds the lock throughout */

/* Takes the lock for a hold of the render; RENDER_RELOADED, with the lock
 * given back, when the target list is no longer the render's. */
static int render_lock(struct metrics *m, const struct render *rd)
{
    if (rd->whole)
        return 0;
    pthread_mutex_lock(&m->lock);
    m->render_holds++;
    if (m->generation == rd->generation)
        return 0;
    pthread_mutex_unlock(&m->lock);
    return RENDER_RELOADED;
}

static void render_unlock(struct metrics *m, const struct render *rd)
{
    if (!rd->whole)
        pthread_mutex_unlock(&m->lock);
}

/*
 * One family's samples of every target, METRICS_RENDER_CHUNK targets per
 * hold of the lock: the probe loop, which takes it for every result,
 * waits for one chunk, never for a whole render of 10,000 targets.
 */
static int render_targets(struct metrics *m, const struct render *rd,
                          const struct family *fd, struct fam *f)
{
    size_t k = 0;
    for (;;) {
        int rc = render_lock(m, rd);
        if (rc != 0)
            return rc;
        size_t end = m->n_targets - k > METRICS_RENDER_CHUNK
                         ? k + METRICS_RENDER_CHUNK
                         : m->n_targets;
        for (; rc == 0 && k < end; k++) {
            f->t = m->targets[k];
            rc = fd->per_target(f, f->t);
        }
        f->t = NULL;
        bool done = end >= m->n_targets;
        render_unlock(m, rd);
        if (done || rc < 0)
            return rc;
    }
}

static int render_families(struct metrics *m, const struct render *rd,
                           struct buf *out)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof families / sizeof *families;
         i++) {
        const struct family *fd = &families[i];
        struct fam f = {out, fd->name, fd->help, fd->type, false, NULL};
        if (fd->agent) {
            rc = render_lock(m, rd);
            if (rc != 0)
                return rc;
            rc = fd->agent(&f, m);
            render_unlock(m, rd);
        }
        if (rc == 0 && fd->per_target)
            rc = render_targets(m, rd, fd, &f);
    }
    return rc;
}

int metrics_render(struct metrics *m, struct buf *out)
{
    size_t start = out->len;
    for (int try = 1;; try++) {
        struct render rd = {0, try == RENDER_TRIES};
        pthread_mutex_lock(&m->lock);
        rd.generation = m->generation;
        if (rd.whole)
            m->render_holds++;
        else
            pthread_mutex_unlock(&m->lock);
        int rc = render_families(m, &rd, out);
        if (rd.whole)
            pthread_mutex_unlock(&m->lock);
        if (rc != RENDER_RELOADED)
            return rc;
        buf_truncate(out, start);
    }
}

unsigned long metrics_render_holds(struct metrics *m)
{
    pthread_mutex_lock(&m->lock);
    unsigned long n = m->render_holds;
    pthread_mutex_unlock(&m->lock);
    return n;
}
