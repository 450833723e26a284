/* metrics: the store of every series, guarded by one mutex. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "log.h"
#include "metrics_internal.h"

/* Made with each target (target_new): reply counts (6 kinds for a
 * STARTTLS+AUTH probe), and room for its last result and EHLO packed, of
 * about what a STARTTLS+AUTH target's take. */
#define METRICS_FIRST_REPLIES 8
#define METRICS_LAST_ROOM     768
#define METRICS_EHLO_ROOM     256

const double metrics_duration_bounds[] = METRICS_DURATION_BUCKETS;
const double metrics_delay_bounds[] = METRICS_DELAY_BUCKETS;
_Static_assert(sizeof metrics_duration_bounds /
                       sizeof metrics_duration_bounds[0] ==
                   N_DURATION,
               "N_DURATION counts METRICS_DURATION_BUCKETS");
_Static_assert(sizeof metrics_delay_bounds / sizeof metrics_delay_bounds[0] ==
                   N_DELAY,
               "N_DELAY counts METRICS_DELAY_BUCKETS");

/* The AUTH classes an alert may watch: present at 0 from the start. */
static const enum smtp_class auth_preinit[] = {
    SMTP_CLASS_SUCCESS,
    SMTP_CLASS_UNSUPPORTED_PARAMETER,
    SMTP_CLASS_AUTH_FAILED,
    SMTP_CLASS_TEMPORARY_FAILURE,
};

static void histo_observe(struct histo *h, const double *bounds,
                          size_t n_bounds, double v)
{
    /* One NaN would poison _sum for the life of the process. */
    if (isnan(v))
        return;
    size_t i = 0;
    while (i < n_bounds && v > bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
}

struct mtarget *metrics_find_target(struct mtarget **arr, size_t n,
                                    const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(arr[mid]->name, name);
        if (c == 0)
            return arr[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void target_free(struct mtarget *t)
{
    if (!t)
        return;
    free(t->host);
    free(t->labels);
    free(t->tls.cert_info);
    free(t->replies);
    zpack_free(&t->last);
    zpack_free(&t->ehlo);
    free(t);
}

struct metrics *metrics_new(const struct metrics_build_info *info)
{
    metrics_mech_order_init();
    struct metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    const char *vals[4] = {"", "", "", ""};
    if (info) {
        vals[0] = info->version ? info->version : "";
        vals[1] = info->libcurl ? info->libcurl : "";
        vals[2] = info->openssl ? info->openssl : "";
        vals[3] = info->libmicrohttpd ? info->libmicrohttpd : "";
    }
    for (int i = 0; i < 4; i++) {
        m->build[i] = strdup(vals[i]);
        if (!m->build[i])
            goto err;
    }
    if (pthread_mutex_init(&m->lock, NULL) != 0)
        goto err;
    m->shards = 1;
    return m;
err:
    for (int i = 0; i < 4; i++)
        free(m->build[i]);
    free(m);
    return NULL;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_targets; i++)
        target_free(m->targets[i]);
    free(m->targets);
    for (size_t i = 0; i < m->n_sd_files; i++)
        free(m->sd_files[i].path);
    free(m->sd_files);
    for (int i = 0; i < 4; i++)
        free(m->build[i]);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int cmp_target_config(const void *a, const void *b)
{
    const struct target_config *x = *(const struct target_config *const *)a;
    const struct target_config *y = *(const struct target_config *const *)b;
    return strcmp(x->name, y->name);
}

/* A new target named name, with a copy of host; NULL when out of memory. */
static struct mtarget *target_new(const char *name, const char *host)
{
    size_t n = strlen(name) + 1;
    struct mtarget *t = calloc(1, sizeof(*t) + n);
    if (!t)
        return NULL;
    memcpy(t->name, name, n);
    /* What its first results need, now: made at the first probe instead,
     * amid the probe's own allocations, they were long-lived blocks
     * between short-lived ones, and each pinned a hole in the heap
     * (6,179 of them at 10,000 targets; strpool.h says what they cost). */
    t->host = strdup(host);
    t->replies = calloc(METRICS_FIRST_REPLIES, sizeof(*t->replies));
    if (!t->host || !t->replies ||
        zpack_reserve(&t->last, METRICS_LAST_ROOM) < 0 ||
        zpack_reserve(&t->ehlo, METRICS_EHLO_ROOM) < 0) {
        target_free(t);
        return NULL;
    }
    t->cap_replies = METRICS_FIRST_REPLIES;
    return t;
}

/* What a reload gives a target that may fail, made before the store
 * changes: a new target, a copy of a changed host, its labels' text. */
struct pending {
    bool fresh;
    char *host;   /* NULL: unchanged */
    bool relabel; /* labels becomes the target's (NULL: none) */
    char *labels;
};

/* Takes cfg's facts and what was made for it beforehand; cannot fail, so
 * it runs after every allocation. */
static void target_configure(struct mtarget *t, const struct target_config *c,
                             struct pending *pd)
{
    if (pd->host) {
        free(t->host);
        t->host = pd->host;
        pd->host = NULL;
    }
    if (pd->relabel) {
        free(t->labels);
        t->labels = pd->labels;
        pd->labels = NULL;
    }
    t->port = c->port;
    t->extra = c->extra_metrics;
    /* A target that no longer speaks TLS has no certificate to show. */
    if (c->tls == TLS_MODE_NONE && t->tls_mode != TLS_MODE_NONE)
        t->tls.known = false;
    t->tls_mode = c->tls;
    t->tls_verify = c->tls_verify;

    bool check_on[CHECK_COUNT] = {
        [CHECK_AUTH_BEFORE_TLS] =
            c->expect_auth_refused && c->tls == TLS_MODE_STARTTLS,
        [CHECK_OPEN_RELAY] = c->expect_relay_refused,
        [CHECK_EHLO] = c->require_ehlo && c->require_ehlo[0],
    };
    for (int k = 0; k < CHECK_COUNT; k++) {
        /* A check turned off takes its verdict with it. */
        if (!check_on[k])
            memset(&t->checks[k], 0, sizeof t->checks[k]);
        t->checks[k].configured = check_on[k];
    }

    bool want[SASL_MECH_COUNT] = {false};
    for (size_t i = 0; i < c->n_mechs && i < CONFIG_MAX_MECHS; i++) {
        if ((unsigned)c->mechs[i] < SASL_MECH_COUNT)
            want[c->mechs[i]] = true;
    }
    for (int mech = 0; mech < SASL_MECH_COUNT; mech++) {
        if (want[mech] && !t->mech_configured[mech]) {
            for (size_t k = 0; k < sizeof auth_preinit / sizeof *auth_preinit;
                 k++)
                t->auth_present[mech][auth_preinit[k]] = true;
        } else if (!want[mech] && t->mech_configured[mech]) {
            /* Series follow the config: an unconfigured mechanism's
             * results go away with it. */
            memset(t->auth_present[mech], 0, sizeof t->auth_present[mech]);
            memset(t->auth_results[mech], 0, sizeof t->auth_results[mech]);
        }
        t->mech_configured[mech] = want[mech];
    }
}

/* The text of a config's labels (labels_parse's form) into out, emptied
 * first: what every series of the target shows after its target label. */
static int labels_text(struct buf *out, const char *canon)
{
    struct expo_label l[LABELS_MAX];
    size_t n = 0;
    const char *name, *value;
    for (const char *p = labels_next(canon, &name, &value);
         p && n < LABELS_MAX; p = labels_next(p, &name, &value))
        l[n++] = (struct expo_label){name, value};
    buf_reset(out);
    return expo_label_text(out, l, n);
}

/* Whether t's labels' text differs from text ("" none). */
static bool labels_changed(const struct mtarget *t, const char *text)
{
    return t->labels ? strcmp(t->labels, text) != 0 : text[0] != '\0';
}

/* pd's labels when t (NULL: a new target) does not show text yet. */
static int labels_prepare(const struct mtarget *t, const char *text,
                          struct pending *pd)
{
    if (t && !labels_changed(t, text))
        return 0;
    pd->relabel = true;
    if (!text[0])
        return 0;
    pd->labels = strdup(text);
    return pd->labels ? 0 : -1;
}

/* The load's targets files, copied for the metrics; NULL with *n 0 when
 * there are none or memory ran out (the series are then missing). */
static struct msd_file *copy_sd_files(const struct agent_config *cfg,
                                      size_t *n)
{
    *n = 0;
    if (!cfg->n_sd_files)
        return NULL;
    struct msd_file *f = calloc(cfg->n_sd_files, sizeof(*f));
    if (!f)
        return NULL;
    for (size_t i = 0; i < cfg->n_sd_files; i++) {
        f[i].path = strdup(cfg->sd_files[i].path);
        f[i].valid = cfg->sd_files[i].valid;
        f[i].n_targets = cfg->sd_files[i].n_targets;
        if (!f[i].path) {
            for (size_t k = 0; k < i; k++)
                free(f[k].path);
            free(f);
            return NULL;
        }
    }
    *n = cfg->n_sd_files;
    return f;
}

int metrics_set_targets(struct metrics *m, const struct agent_config *cfg)
{
    size_t n = cfg->n_targets;
    const struct target_config **sorted = calloc(n ? n : 1, sizeof *sorted);
    struct mtarget **arr = calloc(n ? n : 1, sizeof *arr);
    struct pending *pend = calloc(n ? n : 1, sizeof *pend);
    struct buf text; /* one target's labels at a time, in one block */
    buf_init(&text, METRICS_LABELS_TEXT_MAX);
    size_t n_sd = 0;
    struct msd_file *sd = copy_sd_files(cfg, &n_sd);
    if (!sorted || !arr || !pend ||
        buf_reserve(&text, METRICS_LABELS_TEXT_MAX) < 0)
        goto err;
    for (size_t i = 0; i < n; i++)
        sorted[i] = &cfg->targets[i];
    qsort(sorted, n, sizeof *sorted, cmp_target_config);

    pthread_mutex_lock(&m->lock);
    /* Allocate first, change nothing: a failure leaves the store as is. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(arr[k - 1]->name, sorted[i]->name) == 0)
            continue; /* config rejects duplicates; never count twice */
        const struct target_config *c = sorted[i];
        struct pending *pd = &pend[k];
        struct mtarget *t =
            metrics_find_target(m->targets, m->n_targets, c->name);
        int rc = labels_text(&text, c->labels ? c->labels : "");
        if (rc == 0 && !t) {
            t = target_new(c->name, c->host);
            if (t) {
                t->tls_mode = c->tls;
                pd->fresh = true;
            }
            /* Made with the target, beside it in the heap. */
            rc = t ? labels_prepare(NULL, buf_str(&text), pd) : -1;
        } else if (rc == 0) {
            if (strcmp(t->host, c->host) != 0) {
                pd->host = strdup(c->host);
                rc = pd->host ? 0 : -1;
            }
            if (rc == 0)
                rc = labels_prepare(t, buf_str(&text), pd);
        }
        if (t)
            arr[k] = t;
        if (rc < 0) {
            if (t)
                k++; /* err frees what was made for it */
            pthread_mutex_unlock(&m->lock);
            n = k;
            goto err;
        }
        sorted[k] = c;
        k++;
    }

    for (size_t i = 0; i < k; i++)
        target_configure(arr[i], sorted[i], &pend[i]);
    /* Whatever the new list lacks is gone, with all its series. */
    for (size_t i = 0; i < m->n_targets; i++) {
        if (!metrics_find_target(arr, k, m->targets[i]->name))
            target_free(m->targets[i]);
    }
    free(m->targets);
    m->targets = arr;
    m->n_targets = k;
    m->shard = cfg->shards > 1 ? cfg->shard : 0;
    m->shards = cfg->shards > 1 ? cfg->shards : 1;
    m->n_other_shards = cfg->n_other_shards;
    struct msd_file *old_sd = m->sd_files;
    size_t n_old_sd = m->n_sd_files;
    m->sd_files = sd;
    m->n_sd_files = n_sd;
    sd = old_sd;
    n_sd = n_old_sd;
    m->generation++;
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < n_sd; i++)
        free(sd[i].path);
    free(sd);
    free(sorted);
    free(pend);
    buf_free(&text);
    return 0;
err:
    if (arr && pend) {
        for (size_t i = 0; i < n; i++) {
            if (pend[i].fresh)
                target_free(arr[i]);
            free(pend[i].host);
            free(pend[i].labels);
        }
    }
    free(arr);
    free(sorted);
    free(pend);
    buf_free(&text);
    for (size_t i = 0; i < n_sd; i++)
        free(sd[i].path);
    free(sd);
    return -1;
}

/* Counts one final reply; a failed allocation loses this count only. */
static void count_reply(struct mtarget *t, enum probe_stage stage, int code)
{
    /* The parser only passes 2xx-5xx; anything else would be an unbounded
     * label from a bug upstream. */
    if (code < 100 || code > 599 || (unsigned)stage >= PROBE_STAGE_COUNT)
        return;
    size_t i = 0;
    while (i < t->n_replies &&
           (t->replies[i].stage < stage ||
            (t->replies[i].stage == stage && t->replies[i].code < code)))
        i++;
    if (i < t->n_replies && t->replies[i].stage == stage &&
        t->replies[i].code == code) {
        t->replies[i].n++;
        return;
    }
    if (t->n_replies == t->cap_replies) {
        /* target_new made the first METRICS_FIRST_REPLIES. */
        size_t cap = t->cap_replies * 2;
        struct reply_count *p = realloc(t->replies, cap * sizeof *p);
        if (!p) {
            log_warn("metrics", "out of memory", "target=%s stage=%s code=%d",
                     t->name, probe_stage_name(stage), code);
            return;
        }
        t->replies = p;
        t->cap_replies = cap;
    }
    memmove(&t->replies[i + 1], &t->replies[i],
            (t->n_replies - i) * sizeof *t->replies);
    t->replies[i] = (struct reply_count){stage, code, 1};
    t->n_replies++;
}

/* What the default series need of an EHLO, and the whole of it packed
 * for the extra ones. Under the lock. */
static void keep_ehlo(struct mtarget *t, const struct smtp_ehlo *e)
{
    size_t n =
        e->n_mechs < SMTP_EHLO_MAX_MECHS ? e->n_mechs : SMTP_EHLO_MAX_MECHS;
    for (int mech = 0; mech < SASL_MECH_COUNT; mech++) {
        t->ehlo_advertised[mech] = false;
        for (size_t j = 0; j < n; j++)
            if (strcmp(e->mechs[j], sasl_mech_name((enum sasl_mech)mech)) == 0)
                t->ehlo_advertised[mech] = true;
    }
    t->ehlo_has_size = e->has_size;
    t->ehlo_size = e->size;
    /* Out of memory: the keywords are unknown until the next EHLO. */
    t->ehlo_known = zpack_store(&t->ehlo, e, sizeof(*e)) == 0;
}

/* smtp_tls_cert_info's label text of the leaf of f: kept as it is
 * written, so a scrape copies it; a new allocation only when the
 * certificate changed. Out of memory: the last one stays (or none). */
static void keep_cert_info(struct mtarget *t, const struct tls_facts *f)
{
    char fp[TLS_FINGERPRINT_LEN];
    if (!tls_fingerprint_hex(f, fp)[0]) {
        free(t->tls.cert_info); /* no certificate read to name */
        t->tls.cert_info = NULL;
        return;
    }
    struct expo_label l[] = {
        {label_names[LABEL_FINGERPRINT_SHA256], fp},
        {label_names[LABEL_SUBJECT], f->subject},
        {label_names[LABEL_ISSUER], f->issuer},
        {label_names[LABEL_SERIAL], f->serial},
    };
    struct buf text;
    buf_init(&text, 4096); /* the longest is about 700 bytes */
    if (expo_label_text(&text, l, sizeof l / sizeof l[0]) < 0) {
        buf_free(&text); /* out of memory: the last one stays */
        return;
    }
    const char *now = buf_str(&text);
    char *old = t->tls.cert_info;
    size_t len = strlen(now);
    if (old && strcmp(old, now) == 0) {
        /* the same certificate: nothing to do */
    } else if (old && len <= strlen(old)) {
        /* A renewal's text is as long as the last (same names, a new
         * fingerprint and serial): written over it, no new block. */
        memcpy(old, now, len + 1);
    } else {
        char *copy = strdup(now);
        if (copy) {
            free(old);
            t->tls.cert_info = copy;
        }
    }
    buf_free(&text);
}

/* The last result, packed, and what its gauges show. Under the lock. */
static void keep_last(struct mtarget *t, const struct probe_result *r)
{
    t->last_success = r->success;
    t->last_state = report_state_of(r);
    t->last_start_time = r->start_time;
    for (int p = 0; p < PROBE_PHASE_COUNT; p++)
        t->last_phase[p] = r->phase_seconds[p];
    t->last_ip_protocol =
        r->ip_protocol == 4 || r->ip_protocol == 6 ? r->ip_protocol : 0;
    /* Out of memory: the page shows the target as it was configured
     * until the next probe; the series are right all the same. */
    if (zpack_store(&t->last, r, sizeof(*r)) < 0)
        log_warn("metrics", "last result not kept: out of memory", "target=%s",
                 t->name);
}

void metrics_record(struct metrics *m, const struct probe_result *r,
                    const struct report_history *h)
{
    char name[CONFIG_TARGET_NAME_MAX + 1];
    snprintf(name, sizeof name, "%.*s", CONFIG_TARGET_NAME_MAX, r->target);

    /* Says nothing of the target: not a probe of it at all. */
    if (r->fault != PROBE_FAULT_NONE)
        return;
    pthread_mutex_lock(&m->lock);
    struct mtarget *t = metrics_find_target(m->targets, m->n_targets, name);
    if (!t) {
        pthread_mutex_unlock(&m->lock);
        return;
    }
    t->probes++;
    histo_observe(&t->duration, metrics_duration_bounds, N_DURATION,
                  r->duration_seconds);
    if (!r->success) {
        if ((unsigned)r->stage < PROBE_STAGE_COUNT)
            t->failures[r->stage]++;
        if (r->error != PROBE_ERROR_NONE &&
            (unsigned)r->error < PROBE_ERROR_COUNT)
            t->errors[r->error]++;
    }

    size_t n_seen = r->n_seen < sizeof r->seen / sizeof r->seen[0]
                        ? r->n_seen
                        : sizeof r->seen / sizeof r->seen[0];
    for (size_t i = 0; i < n_seen; i++)
        if ((unsigned)r->seen[i].stage < PROBE_STAGE_COUNT)
            count_reply(t, r->seen[i].stage, r->seen[i].code);

    size_t n_auth =
        r->n_auth < CONFIG_MAX_MECHS ? r->n_auth : CONFIG_MAX_MECHS;
    int auth_last = 0;
    for (size_t i = 0; i < n_auth; i++) {
        const struct probe_auth *a = &r->auth[i];
        if (a->reply.code == 0)
            continue; /* a no-reply failure is counted as an error */
        auth_last = a->reply.code;
        if ((unsigned)a->mech < SASL_MECH_COUNT &&
            t->mech_configured[a->mech]) {
            enum smtp_class c =
                classify_reply(PROBE_STAGE_AUTH, a->reply.code);
            t->auth_results[a->mech][c]++;
            t->auth_present[a->mech][c] = true;
        }
    }
    for (int s = 0; s < PROBE_STAGE_COUNT; s++) {
        int code = r->replies[s].code;
        if (s == PROBE_STAGE_AUTH && code == 0)
            code = auth_last;
        t->last_code[s] = code >= 100 && code <= 599 ? code : 0;
    }

    for (int k = 0; k < CHECK_COUNT; k++) {
        const struct probe_check_result *pc = &r->checks[k];
        if (!t->checks[k].configured || !pc->configured ||
            pc->verdict == CHECK_NOT_RUN)
            continue;
        t->checks[k].known = true;
        t->checks[k].passed = pc->verdict == CHECK_PASSED;
        t->checks[k].code = pc->code >= 100 && pc->code <= 599 ? pc->code : 0;
    }
    if (r->ehlo_seen)
        keep_ehlo(t, &r->ehlo);
    if (r->tls.present) {
        t->tls.known = true;
        t->tls.valid = r->tls.valid;
        t->tls.not_after = r->tls.not_after;
        t->tls.verified_not_after = r->tls.verified_not_after;
        t->tls.leaf_not_after = r->tls.leaf_not_after;
        t->tls.leaf_not_before = r->tls.leaf_not_before;
        /* Only where it is shown: every other target keeps no text
         * (a reload that turns cert_details on shows it from the next
         * probe). */
        if (t->extra & CONFIG_EXTRA_BIT(CONFIG_EXTRA_CERT_DETAILS)) {
            keep_cert_info(t, &r->tls);
        } else {
            free(t->tls.cert_info);
            t->tls.cert_info = NULL;
        }
        memcpy(t->tls.version, r->tls.version, sizeof(t->tls.version));
        memcpy(t->tls.cipher, r->tls.cipher, sizeof(t->tls.cipher));
    }
    keep_last(t, r);
    if (h)
        t->history = *h;
    else
        memset(&t->history, 0, sizeof(t->history));
    t->probed = true;
    pthread_mutex_unlock(&m->lock);
}

void metrics_skipped(struct metrics *m, const char *target,
                     enum sched_skip_reason reason, uint64_t rounds)
{
    if ((unsigned)reason >= SCHED_SKIP_REASON_COUNT)
        return;
    pthread_mutex_lock(&m->lock);
    struct mtarget *t = metrics_find_target(m->targets, m->n_targets, target);
    if (t)
        t->skipped[reason] += rounds;
    pthread_mutex_unlock(&m->lock);
}

void metrics_resource_failure(struct metrics *m, enum probe_fault fault)
{
    if (fault == PROBE_FAULT_NONE || (unsigned)fault >= PROBE_FAULT_COUNT)
        return;
    pthread_mutex_lock(&m->lock);
    m->resource_failures[fault]++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_start_delay(struct metrics *m, double seconds)
{
    pthread_mutex_lock(&m->lock);
    histo_observe(&m->delay, metrics_delay_bounds, N_DELAY, seconds);
    pthread_mutex_unlock(&m->lock);
}

void metrics_set_in_flight(struct metrics *m, size_t n)
{
    pthread_mutex_lock(&m->lock);
    m->in_flight = n;
    pthread_mutex_unlock(&m->lock);
}

void metrics_config_loaded(struct metrics *m, bool ok, double when)
{
    pthread_mutex_lock(&m->lock);
    m->reload_ok = ok;
    if (ok)
        m->reload_success_time = when;
    pthread_mutex_unlock(&m->lock);
}
