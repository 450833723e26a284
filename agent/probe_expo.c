/* probe_expo: one probe's result as /probe answers it. */
#include "probe_expo.h"

#include <stdbool.h>
#include <stdio.h>

#include "expo.h"
#include "labels.h"

/* A label named by enum label_name: labels.h's table is the agent's
 * whole vocabulary, so that no label of the user's (refused there) can
 * be one of these. */
#define L(n, v) ((struct expo_label){label_names[(n)], (v)})

/* The most labels a family writes of its own. */
#define FAM_LABELS_MAX 4

/*
 * A family whose HELP and TYPE go out with its first sample. Every
 * sample gets the target's labels (`own`) first, then the family's:
 * the order of /metrics, where they follow the target label that
 * /probe leaves out.
 */
struct fam {
    struct buf *out;
    const char *name;
    const char *help;
    bool started;
    const struct expo_label *own;
    size_t n_own;
    const struct probe_expo_target *target; /* NULL: not said */
};

static int sample(struct fam *f, const struct expo_label *l, size_t n,
                  double v)
{
    struct expo_label all[LABELS_MAX + FAM_LABELS_MAX];
    /* Never cut: a family with more labels raises FAM_LABELS_MAX. */
    if (n > FAM_LABELS_MAX)
        return -1;
    for (size_t i = 0; i < f->n_own; i++)
        all[i] = f->own[i];
    for (size_t i = 0; i < n; i++)
        all[f->n_own + i] = l[i];
    if (!f->started) {
        f->started = true;
        if (expo_family(f->out, f->name, f->help, EXPO_GAUGE) < 0)
            return -1;
    }
    return expo_sample(f->out, f->name, all, f->n_own + n, v);
}

static int emit_success(struct fam *f, const struct probe_result *r)
{
    return sample(f, NULL, 0, r->success ? 1 : 0);
}

static int emit_duration(struct fam *f, const struct probe_result *r)
{
    return sample(f, NULL, 0, r->duration_seconds);
}

static int emit_phases(struct fam *f, const struct probe_result *r)
{
    for (int p = 0; p < PROBE_PHASE_COUNT; p++) {
        struct expo_label l[] = {
            L(LABEL_PHASE, probe_phase_name((enum probe_phase)p))};
        if (r->phase_seconds[p] >= 0 &&
            sample(f, l, 1, r->phase_seconds[p]) < 0)
            return -1;
    }
    return 0;
}

static int emit_codes(struct fam *f, const struct probe_result *r)
{
    for (int s = 0; s < PROBE_STAGE_COUNT; s++) {
        const struct probe_reply *pr = &r->replies[s];
        if (pr->code == 0)
            continue;
        struct expo_label l[] = {
            L(LABEL_STAGE, probe_stage_name((enum probe_stage)s)),
            L(LABEL_CLASS, smtp_class_name(pr->cls))};
        if (sample(f, l, 2, pr->code) < 0)
            return -1;
    }
    return 0;
}

static int emit_auth(struct fam *f, const struct probe_result *r)
{
    for (size_t i = 0; i < r->n_auth; i++) {
        const struct probe_auth *a = &r->auth[i];
        if (a->reply.code == 0)
            continue;
        struct expo_label l[] = {
            L(LABEL_MECHANISM, sasl_mech_name(a->mech)),
            L(LABEL_CLASS, smtp_class_name(a->reply.cls))};
        if (sample(f, l, 2, a->reply.code) < 0)
            return -1;
    }
    return 0;
}

/* The checks the module configures that this probe decided. */
static int emit_checks(struct fam *f, const struct probe_result *r, bool code)
{
    for (int k = 0; k < CHECK_COUNT; k++) {
        const struct probe_check_result *c = &r->checks[k];
        if (!c->configured || c->verdict == CHECK_NOT_RUN)
            continue;
        struct expo_label l[] = {
            L(LABEL_CHECK, check_name((enum probe_check)k))};
        if (sample(f, l, 1,
                   code                         ? c->code
                   : c->verdict == CHECK_PASSED ? 1
                                                : 0) < 0)
            return -1;
    }
    return 0;
}

static int emit_check_success(struct fam *f, const struct probe_result *r)
{
    return emit_checks(f, r, false);
}

static int emit_check_code(struct fam *f, const struct probe_result *r)
{
    return emit_checks(f, r, true);
}

static int emit_error(struct fam *f, const struct probe_result *r)
{
    if (r->success || r->error == PROBE_ERROR_NONE)
        return 0;
    struct expo_label l[] = {L(LABEL_STAGE, probe_stage_name(r->stage)),
                             L(LABEL_ERROR, probe_error_name(r->error))};
    return sample(f, l, 2, 1);
}

static int emit_advertised(struct fam *f, const struct probe_result *r)
{
    if (!r->ehlo_seen)
        return 0;
    for (size_t i = 0; i < r->n_auth; i++) {
        const char *mech = sasl_mech_name(r->auth[i].mech);
        struct expo_label l[] = {L(LABEL_MECHANISM, mech)};
        bool adv = smtp_ehlo_has_mech(&r->ehlo, mech);
        if (sample(f, l, 1, adv ? 1 : 0) < 0)
            return -1;
    }
    return 0;
}

static int emit_size(struct fam *f, const struct probe_result *r)
{
    if (!r->ehlo_seen || !r->ehlo.has_size)
        return 0;
    return sample(f, NULL, 0, (double)r->ehlo.size);
}

static int emit_tls_info(struct fam *f, const struct probe_result *r)
{
    if (!r->tls.present)
        return 0;
    struct expo_label l[] = {L(LABEL_VERSION, r->tls.version),
                             L(LABEL_CIPHER, r->tls.cipher)};
    return sample(f, l, 2, 1);
}

static int emit_expiry(struct fam *f, const struct probe_result *r)
{
    if (!r->tls.present || !r->tls.not_after)
        return 0;
    return sample(f, NULL, 0, (double)r->tls.not_after);
}

static int emit_verified_expiry(struct fam *f, const struct probe_result *r)
{
    if (!r->tls.present || !r->tls.verified_not_after)
        return 0;
    return sample(f, NULL, 0, (double)r->tls.verified_not_after);
}

static int emit_leaf_not_after(struct fam *f, const struct probe_result *r)
{
    if (!r->tls.present || !r->tls.leaf_not_after)
        return 0;
    return sample(f, NULL, 0, (double)r->tls.leaf_not_after);
}

static int emit_leaf_not_before(struct fam *f, const struct probe_result *r)
{
    if (!r->tls.present || !r->tls.leaf_not_before)
        return 0;
    return sample(f, NULL, 0, (double)r->tls.leaf_not_before);
}

/* One probe's answer: the leaf's identity always (blackbox's
 * probe_ssl_last_chain_info does the same), no store to keep it. */
static int emit_cert_info(struct fam *f, const struct probe_result *r)
{
    char fp[TLS_FINGERPRINT_LEN];
    if (!r->tls.present || !tls_fingerprint_hex(&r->tls, fp)[0])
        return 0;
    struct expo_label l[] = {
        L(LABEL_FINGERPRINT_SHA256, fp), L(LABEL_SUBJECT, r->tls.subject),
        L(LABEL_ISSUER, r->tls.issuer), L(LABEL_SERIAL, r->tls.serial)};
    return sample(f, l, 4, 1);
}

static int emit_valid(struct fam *f, const struct probe_result *r)
{
    if (!r->tls.present)
        return 0;
    return sample(f, NULL, 0, r->tls.valid ? 1 : 0);
}

static int emit_target_info(struct fam *f, const struct probe_result *r)
{
    (void)r;
    const struct probe_expo_target *t = f->target;
    if (!t)
        return 0;
    char port[16];
    snprintf(port, sizeof port, "%u", t->port);
    struct expo_label l[] = {
        L(LABEL_HOST, t->host), L(LABEL_PORT, port),
        L(LABEL_TLS, tls_mode_name(t->tls)),
        L(LABEL_TLS_VERIFY, t->tls_verify ? "true" : "false")};
    return sample(f, l, sizeof l / sizeof l[0], 1);
}

/* blackbox_exporter's names first, then the /metrics families of the
 * same facts (their gauges without the target label; the reply code and
 * the AUTH reply carry the class that /metrics puts on its counters). */
static const struct family {
    const char *name;
    const char *help;
    int (*emit)(struct fam *f, const struct probe_result *r);
} families[] = {
    {"probe_success",
     "Whether the probe succeeded: 1 when every expected "
     "reply came, else 0.",
     emit_success},
    {"probe_duration_seconds", "How long the probe took, in seconds.",
     emit_duration},
    {"smtp_probe_phase_duration_seconds",
     "Duration of each phase the probe reached.", emit_phases},
    {"smtp_last_reply_code",
     "Final reply code per stage, with its class: the first reply that was "
     "not a success, else the last one.",
     emit_codes},
    {"smtp_auth_reply_code",
     "Final reply code to AUTH per configured mechanism, with its class.",
     emit_auth},
    {"smtp_check_success",
     "1 when the server refused what the configured check expects it to "
     "(or advertised what require_ehlo names), else 0.",
     emit_check_success},
    {"smtp_check_reply_code",
     "The reply code that decided each configured check (0: none needed).",
     emit_check_code},
    {"smtp_probe_error",
     "1 for the failure without a reply that ended the probe, by stage and "
     "error.",
     emit_error},
    {"smtp_auth_mechanism_advertised",
     "1 when the EHLO advertised the configured SASL mechanism, else 0.",
     emit_advertised},
    {"smtp_max_message_size_bytes",
     "Message size limit from EHLO SIZE; 0 when none is stated.", emit_size},
    {"smtp_tls_info", "TLS version and cipher of the TLS session.",
     emit_tls_info},
    {"smtp_tls_cert_expiry_timestamp_seconds",
     "Earliest notAfter in the presented chain, unix time.", emit_expiry},
    {"smtp_tls_verified_chain_expiry_timestamp_seconds",
     "Earliest notAfter of the chain that verified (leaf to trust anchor).",
     emit_verified_expiry},
    {"smtp_tls_leaf_cert_not_after_timestamp_seconds",
     "notAfter of the server's own (leaf) certificate.", emit_leaf_not_after},
    {"smtp_tls_leaf_cert_not_before_timestamp_seconds",
     "notBefore of the server's own (leaf) certificate.",
     emit_leaf_not_before},
    {"smtp_tls_cert_info",
     "1, the leaf certificate: SHA-256 fingerprint, subject and issuer (RFC "
     "2253), serial (hex).",
     emit_cert_info},
    {"smtp_tls_cert_valid",
     "1 when chain and host name verify, whether or not enforced.",
     emit_valid},
    {"smtp_target_info",
     "The probed target: host, port, TLS mode and whether the certificate "
     "must verify.",
     emit_target_info},
};

int probe_expo_render(struct buf *out, const struct probe_result *r,
                      const char *labels,
                      const struct probe_expo_target *target)
{
    if (r->fault != PROBE_FAULT_NONE)
        return 0;
    struct expo_label own[LABELS_MAX];
    size_t n_own = 0;
    const char *name, *value;
    for (const char *p = labels_next(labels, &name, &value); p;
         p = labels_next(p, &name, &value)) {
        if (n_own == LABELS_MAX)
            return -1; /* never a label left out */
        own[n_own++] = (struct expo_label){name, value};
    }
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        struct fam f = {.out = out,
                        .name = families[i].name,
                        .help = families[i].help,
                        .own = own,
                        .n_own = n_own,
                        .target = target};
        if (families[i].emit(&f, r) < 0)
            return -1;
    }
    return 0;
}
