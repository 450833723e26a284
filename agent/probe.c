/* probe: the prober: one curl multi loop over every probe, its
 * deadlines, a probe's sessions one after the other, and the result they
 * fill. A session itself is in probe_session.c and probe_connect.c. */
#include "probe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <curl/curl.h>

#include "log.h"
#include "now.h"
#include "probe_internal.h"
#include "redact.h"
#include "oauth.h"
#include "token.h"

static const char *const phase_names[] = {
    [PROBE_PHASE_RESOLVE] = "resolve", [PROBE_PHASE_CONNECT] = "connect",
    [PROBE_PHASE_TLS] = "tls",         [PROBE_PHASE_BANNER] = "banner",
    [PROBE_PHASE_EHLO] = "ehlo",       [PROBE_PHASE_STARTTLS] = "starttls",
    [PROBE_PHASE_AUTH] = "auth",
};
_Static_assert(sizeof phase_names / sizeof phase_names[0] == PROBE_PHASE_COUNT,
               "a name for every probe phase");

const char *probe_phase_name(enum probe_phase phase)
{
    if ((unsigned)phase >= PROBE_PHASE_COUNT)
        return "unknown";
    return phase_names[phase];
}

static const char *const fault_names[] = {
    [PROBE_FAULT_NONE] = "none",
    [PROBE_FAULT_FILE_DESCRIPTORS] = "file_descriptors",
    [PROBE_FAULT_MEMORY] = "memory",
};
_Static_assert(sizeof fault_names / sizeof fault_names[0] == PROBE_FAULT_COUNT,
               "a name for every probe fault");

const char *probe_fault_name(enum probe_fault fault)
{
    if ((unsigned)fault >= PROBE_FAULT_COUNT)
        return "unknown";
    return fault_names[fault];
}

/* ---- recording what was seen ------------------------------------------ */

/* A check session broke off (or met a reply it could not go on from):
 * the check did not run, and the probe's own result is untouched. */
static void check_not_run(struct probe *p, enum probe_check c, const char *why)
{
    struct probe_check_result *k = &p->res.checks[c];
    if (k->verdict != CHECK_NOT_RUN || k->detail[0])
        return;
    snprintf(k->detail, sizeof(k->detail), "not run: %s", why);
    probe_trace(p, "* check not run:", why, strlen(why));
}

void probe_fail(struct probe *p, enum probe_stage stage,
                enum probe_error error, const char *fmt, ...)
{
    if (p->sess && p->sess->check >= 0) {
        char why[sizeof(p->res.detail)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        check_not_run(p, (enum probe_check)p->sess->check, why);
        return;
    }
    if (p->failed)
        return;
    p->failed = true;
    p->res.success = false;
    p->res.stage = stage;
    p->res.error = error;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->res.detail, sizeof(p->res.detail), fmt, ap);
    va_end(ap);
    probe_trace(p, "* failed:", p->res.detail, strlen(p->res.detail));
}

/* Longest transcript line kept; a longer one is cut (after redaction,
 * which looks at the whole line). */
#define TRACE_LINE_MAX 512

void probe_trace(struct probe *p, const char *who, const char *text,
                 size_t len)
{
    if (!p->trace)
        return;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    char line[TRACE_LINE_MAX];
    redact_copy(&p->redact, line, sizeof(line), text, len);
    for (char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?';
    /* A transcript past its limit keeps what it has. */
    (void)buf_printf(p->trace, "%8.3f %s %s\n", ns_to_s(now_mono_ns() - p->t0),
                     who, line);
}

void probe_trace_reply(struct probe *p, const struct smtp_reply *r)
{
    if (!p->trace)
        return;
    const char *text = buf_str(&r->text);
    for (size_t i = 0; i < r->n_lines || i == 0; i++) {
        size_t len = strcspn(text, "\n");
        bool last = text[len] == '\0';
        char line[TRACE_LINE_MAX];
        snprintf(line, sizeof(line), "%03d%c%.*s", r->code, last ? ' ' : '-',
                 (int)len, text);
        probe_trace(p, "S:", line, strlen(line));
        if (last)
            break;
        text += len + 1;
    }
}

/* What a stage was waiting for when the deadline came, in words. */
static const char *const waited_for[] = {
    [PROBE_STAGE_CONNECT] = "no connection",
    [PROBE_STAGE_GREETING] = "no greeting",
    [PROBE_STAGE_EHLO] = "no reply to EHLO",
    [PROBE_STAGE_STARTTLS] = "no reply to STARTTLS",
    [PROBE_STAGE_TLS] = "the TLS handshake did not finish",
    [PROBE_STAGE_AUTH] = "no reply to AUTH",
    [PROBE_STAGE_QUIT] = "no reply to QUIT",
    [PROBE_STAGE_TOKEN] = "no bearer token",
};
_Static_assert(sizeof waited_for / sizeof waited_for[0] == PROBE_STAGE_COUNT,
               "words for every stage");

static const char *stage_waited_for(enum probe_stage stage)
{
    if ((unsigned)stage >= PROBE_STAGE_COUNT || !waited_for[stage])
        return "no reply";
    return waited_for[stage];
}

/* A timeout at stage: "ehlo: no reply to EHLO before the deadline (2 s)",
 * never curl's "... with 0 bytes received", which counts what curl read
 * for a transfer, not the replies that came. */
void probe_timeout(struct probe *p, enum probe_stage stage)
{
    probe_fail(p, stage, PROBE_ERROR_TIMEOUT,
               "%s: %s before the deadline (%g s)", probe_stage_name(stage),
               stage_waited_for(stage), (double)p->target.timeout_ms / 1000.0);
}

enum probe_fault probe_fault_of_errno(int e)
{
    switch (e) {
    case EMFILE:
    case ENFILE:
        return PROBE_FAULT_FILE_DESCRIPTORS;
    case ENOMEM:
    case ENOBUFS:
        return PROBE_FAULT_MEMORY;
    default:
        return PROBE_FAULT_NONE;
    }
}

/*
 * The agent itself could not go on: it ran out of file descriptors or
 * memory. That is never the target's failure: the result carries the
 * fault (the runner counts it as the agent's), and the first failure of
 * the probe is this one. what says where, e.g. "socket()".
 */
void probe_fault(struct probe *p, enum probe_fault fault, const char *what,
                 int err)
{
    if (p->failed)
        return;
    p->failed = true;
    p->res.success = false;
    p->res.fault = fault;
    if (fault == PROBE_FAULT_FILE_DESCRIPTORS) {
        struct rlimit rl;
        char limit[32] = "unknown";
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
            snprintf(limit, sizeof(limit), "%llu",
                     (unsigned long long)rl.rlim_cur);
        snprintf(p->res.detail, sizeof(p->res.detail),
                 "the agent ran out of file descriptors: %s: %s (its limit, "
                 "RLIMIT_NOFILE, is %s)",
                 what, strerror(err ? err : EMFILE), limit);
    } else {
        snprintf(p->res.detail, sizeof(p->res.detail),
                 "the agent ran out of memory: %s: %s", what,
                 strerror(err ? err : ENOMEM));
    }
}

/* Copies a reply's first line into a probe_reply; a text that holds any
 * form of the secret, from any session of the probe, is withheld whole. */
static void reply_copy(struct probe *p, enum probe_stage stage,
                       const struct smtp_reply *r, struct probe_reply *out)
{
    const char *text = buf_str(&r->text);

    /* Whole, padding and the text's tail too: the result is stored
     * packed, byte for byte. */
    memset(out, 0, sizeof(*out));
    out->code = r->code;
    out->cls = classify_reply(stage, r->code);
    memcpy(out->enhanced, r->enhanced, sizeof(out->enhanced));
    out->withheld = redact_copy(&p->redact, out->text, sizeof(out->text), text,
                                strcspn(text, "\n"));
}

/*
 * Keeps a final reply: replies[stage] holds the first non-success reply of
 * the probe, else the latest. A reply of another class than success is
 * the failure of the probe at that stage.
 */
enum smtp_class probe_record_reply(struct probe *p, int mech,
                                   enum probe_stage stage,
                                   const struct smtp_reply *r)
{
    struct probe_reply pr;
    reply_copy(p, stage, r, &pr);

    /* A check session's connect phase: the probe's result is not its. */
    if (p->sess && p->sess->check >= 0) {
        if (pr.cls != SMTP_CLASS_SUCCESS) {
            char why[PROBE_TEXT_MAX + 32];
            snprintf(why, sizeof(why), "%s: %d %s", probe_stage_name(stage),
                     pr.code, pr.text);
            check_not_run(p, (enum probe_check)p->sess->check, why);
        }
        return pr.cls;
    }

    if (p->res.n_seen < sizeof(p->res.seen) / sizeof(p->res.seen[0]))
        p->res.seen[p->res.n_seen++] = (struct probe_seen){stage, r->code};

    struct probe_reply *slot = &p->res.replies[stage];
    if (slot->code == 0 || slot->cls == SMTP_CLASS_SUCCESS)
        *slot = pr;
    if (stage == PROBE_STAGE_AUTH && mech >= 0)
        p->res.auth[mech].reply = pr;

    if (pr.cls != SMTP_CLASS_SUCCESS) {
        enum sasl_step_error why = stage == PROBE_STAGE_AUTH && mech >= 0
                                       ? p->res.auth[mech].cancelled
                                       : SASL_STEP_OK;
        if (why != SASL_STEP_OK)
            probe_fail(p, stage, PROBE_ERROR_NONE,
                       "AUTH %s: cancelled by the agent (%s); the server "
                       "answered %d %s",
                       sasl_mech_name(p->target.mechs[mech]),
                       sasl_step_error_words(why), pr.code, pr.text);
        else if (stage == PROBE_STAGE_AUTH && mech >= 0 &&
                 p->res.auth[mech].oauth_status[0])
            /* The token's own status says more than the final reply. */
            probe_fail(p, stage, PROBE_ERROR_NONE,
                       "AUTH %s: %d %s (OAuth error status %s)",
                       sasl_mech_name(p->target.mechs[mech]), pr.code, pr.text,
                       p->res.auth[mech].oauth_status);
        else if (stage == PROBE_STAGE_AUTH && mech >= 0) {
            if (!p->failed)
                p->res.detail_auth = (unsigned)mech + 1;
            probe_fail(p, stage, PROBE_ERROR_NONE, "AUTH %s: %d %s",
                       sasl_mech_name(p->target.mechs[mech]), pr.code,
                       pr.text);
        } else
            probe_fail(p, stage, PROBE_ERROR_NONE, "%s: %d %s",
                       probe_stage_name(stage), pr.code, pr.text);
    }
    log_debug("probe", "reply", "target=%s stage=%s code=%d class=%s",
              p->target.name, probe_stage_name(stage), pr.code,
              smtp_class_name(pr.cls));
    return pr.cls;
}

void probe_check_verdict(struct probe *p, enum probe_check c,
                         enum check_verdict v, const struct smtp_reply *r,
                         const char *what)
{
    struct probe_check_result *k = &p->res.checks[c];
    if (k->verdict != CHECK_NOT_RUN || k->detail[0])
        return;
    k->verdict = v;
    if (r) {
        struct probe_reply pr;
        reply_copy(p, PROBE_STAGE_AUTH, r, &pr);
        k->code = pr.code;
        snprintf(k->detail, sizeof(k->detail), "%.80s: %d %.160s", what,
                 pr.code, pr.text);
    } else {
        snprintf(k->detail, sizeof(k->detail), "%s", what);
    }
    char line[sizeof(k->detail) + 32];
    snprintf(line, sizeof(line), "check %s %s: %s", check_name(c),
             check_verdict_name(v), k->detail);
    probe_trace(p, "*", line, strlen(line));
    log_debug("probe", "check", "target=%s check=%s verdict=%s code=%d",
              p->target.name, check_name(c), check_verdict_name(v), k->code);
}

void probe_check_ehlo(struct probe *p)
{
    struct probe_check_result *k = &p->res.checks[CHECK_EHLO];
    if (!k->configured)
        return;
    char missing[PROBE_TEXT_MAX];
    bool ok = check_ehlo_eval(p->require_ehlo, &p->res.ehlo, missing,
                              sizeof(missing));
    /* Each session's EHLO decides anew: the last one counts. */
    k->verdict = ok ? CHECK_PASSED : CHECK_FAILED;
    k->code = 250;
    snprintf(k->detail, sizeof(k->detail), "%s%.200s",
             ok ? "every required keyword advertised" : "missing: ",
             ok ? "" : missing);
}

/* The CA store of the target's CA file, from the prober's cache: a file
 * that cannot be loaded is said once, when the cache first reads it. */
const struct tls_ca *probe_ca(struct probe *p)
{
    bool loaded = false;
    const char *path = p->target.ca_file;
    const struct tls_ca *ca = tls_ca_cache_get(p->owner->cas, path, &loaded);
    if (loaded && !ca->store) {
        char q[CONFIG_PATH_MAX + 16], why[sizeof(ca->problem) + 16];
        log_warn("probe", "cannot load CA file", "path=%s problem=%s",
                 log_quote(q, sizeof(q), path),
                 log_quote(why, sizeof(why), ca->problem));
    }
    return ca;
}

void prober_flush_ca(struct prober *pr)
{
    tls_ca_cache_flush(pr->cas);
}

unsigned probe_session_number(const struct probe *p, int mech, unsigned *of)
{
    size_t n = p->target.n_mechs;
    *of = n ? (unsigned)n : 1;
    return mech >= 0 ? (unsigned)mech + 1 : 1;
}

const char *probe_session_words(const struct probe *p, int mech, char *dst,
                                size_t n)
{
    unsigned of, k = probe_session_number(p, mech, &of);
    if (of < 2)
        snprintf(dst, n, "%s", "");
    else
        snprintf(dst, n, "session %u of %u (%s)", k, of,
                 sasl_mech_name(p->target.mechs[mech]));
    return dst;
}

/*
 * A session's certificate facts into the probe's: each mechanism has its
 * own connection, and behind a load balancer each may meet another
 * backend. Valid only if every session was, the earliest expiry, and the
 * first session that differed is named.
 */
void probe_tls_merge(struct probe *p, int mech, const struct tls_facts *f)
{
    struct probe_result *r = &p->res;
    unsigned of, k = probe_session_number(p, mech, &of);

    r->tls_sessions++;
    if (!r->tls.present) {
        r->tls = *f;
        p->first_tls = *f;
        return;
    }
    const struct tls_facts *first = &p->first_tls;
    if (!r->tls_odd &&
        (f->valid != first->valid ||
         memcmp(f->leaf_sha256, first->leaf_sha256, sizeof(f->leaf_sha256)))) {
        r->tls_odd = k;
        r->tls_odd_facts = *f;
    }
    if (f->not_after && (!r->tls.not_after || f->not_after < r->tls.not_after))
        r->tls.not_after = f->not_after;
    /* The verified chains' earliest notAfter only while every session's
     * chain verified, as valid: one backend whose chain does not leaves
     * no verified figure, and the alerts fall back to the presented
     * chains' (which hold that backend's expired certificate). The
     * leaves: the worst date of any session (the earliest end, the
     * latest start); the identity (subject, issuer, serial, fingerprint)
     * the first's. */
    if (!f->chain_ok || !r->tls.chain_ok)
        r->tls.verified_not_after = 0;
    else if (f->verified_not_after < r->tls.verified_not_after)
        r->tls.verified_not_after = f->verified_not_after;
    if (f->leaf_not_after &&
        (!r->tls.leaf_not_after || f->leaf_not_after < r->tls.leaf_not_after))
        r->tls.leaf_not_after = f->leaf_not_after;
    if (f->leaf_not_before > r->tls.leaf_not_before)
        r->tls.leaf_not_before = f->leaf_not_before;
    r->tls.chain_ok = r->tls.chain_ok && f->chain_ok;
    r->tls.host_ok = r->tls.host_ok && f->host_ok;
    if (r->tls.valid && !f->valid) {
        char who[64];
        r->tls.valid = false;
        snprintf(r->tls.problem, sizeof(r->tls.problem), "%s: %.90s",
                 probe_session_words(p, mech, who, sizeof(who)), f->problem);
    }
}

/* ---- probes ------------------------------------------------------------ */

static void probe_token_ready(void *waiter, const char *tok, size_t len,
                              const char *why, bool timed_out);

/* A zeroed probe, a spare or new; NULL when out of memory. */
static struct probe *probe_alloc(struct prober *pr)
{
    struct probe *p = pr->spare_probes;
    if (!p) {
        p = calloc(1, sizeof(*p));
        pr->allocations += p != NULL;
        return p;
    }
    pr->spare_probes = p->next;
    pr->n_spare_probes--;
    memset(p, 0, sizeof(*p));
    return p;
}

struct session *prober_session_alloc(struct prober *pr)
{
    struct session *s = pr->spare_sessions;
    if (!s) {
        s = calloc(1, sizeof(*s));
        pr->allocations += s != NULL;
        return s;
    }
    pr->spare_sessions = s->next_spare;
    pr->n_spare_sessions--;
    memset(s, 0, sizeof(*s));
    return s;
}

void prober_session_release(struct prober *pr, struct session *s)
{
    if (pr->n_spare_sessions >= PROBER_SPARES) {
        free(s);
        return;
    }
    s->next_spare = pr->spare_sessions;
    pr->spare_sessions = s;
    pr->n_spare_sessions++;
}

/* Frees what p holds, wipes its secret, and keeps p as a spare of its
 * prober (or frees it). */
static void probe_free(struct probe *p)
{
    if (!p)
        return;
    struct prober *pr = p->owner;
    session_free(p->sess);
    redact_free(&p->redact);
    if (p->target.secret) {
        explicit_bzero(p->target.secret, p->target.secret_len);
        free(p->target.secret);
    }
    if (pr->n_spare_probes >= PROBER_SPARES) {
        free(p);
        return;
    }
    p->next = pr->spare_probes;
    pr->spare_probes = p;
    pr->n_spare_probes++;
}

static void probe_unlink(struct probe *p)
{
    struct prober *pr = p->owner;
    for (struct probe **pp = &pr->probes; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            pr->n_probes--;
            return;
        }
    }
}

static void probe_finish(struct probe *p)
{
    struct prober *pr = p->owner;
    p->res.duration_seconds = ns_to_s(now_mono_ns() - p->t0);
    if (!p->failed) {
        p->res.success = true;
        p->res.stage = PROBE_STAGE_QUIT;
    }
    if (p->trace) {
        char end[64];
        snprintf(end, sizeof(end), "probe %s after %.3f s",
                 p->res.success ? "succeeded" : "failed",
                 p->res.duration_seconds);
        probe_trace(p, "*", end, strlen(end));
    }
    probe_unlink(p);
    log_debug("probe", "probe done", "target=%s success=%d duration=%.3f",
              p->target.name, p->res.success, p->res.duration_seconds);
    if (pr->done)
        pr->done(pr->user, &p->res);
    probe_free(p);
}

/*
 * A session is done: free it and start the next one, or finish the
 * probe. Only a session whose connect phase went through leads to the
 * next mechanism: any other failure would meet the next one too.
 */
/*
 * The next refusal check that needs a session of its own, started; false
 * when none is left. AUTH before STARTTLS needs none when the first EHLO
 * advertised no AUTH (that passes it); require_ehlo never needs one.
 */
static bool probe_next_check(struct probe *p)
{
    while (p->next_check < CHECK_COUNT) {
        enum probe_check c = (enum probe_check)p->next_check++;
        struct probe_check_result *k = &p->res.checks[c];
        if (!k->configured || c == CHECK_EHLO)
            continue;
        if (c == CHECK_AUTH_BEFORE_TLS && !p->res.ehlo_pre_tls_auth) {
            probe_check_verdict(p, c, CHECK_PASSED, NULL,
                                "AUTH not advertised before STARTTLS");
            continue;
        }
        if (now_mono_ns() >= p->deadline) {
            check_not_run(p, c, "no time left before the deadline");
            continue;
        }
        if (session_start_check(p, c) == 0)
            return true;
        probe_fault(p, PROBE_FAULT_MEMORY, "starting a check session", ENOMEM);
        return false;
    }
    return false;
}

static void probe_advance(struct probe *p)
{
    struct session *s = p->sess;
    bool through = session_went_through(s);
    bool was_check = s->check >= 0;
    bool go_on = through && !was_check && p->next_mech < p->target.n_mechs;

    p->sess = NULL;
    session_free(s);
    /* The checks follow the probe's own sessions, once the server
     * answered: the last of them went through. */
    if (!go_on && (was_check || through) && p->res.fault == PROBE_FAULT_NONE &&
        probe_next_check(p))
        return;
    if (go_on && now_mono_ns() < p->deadline) {
        int mech = (int)p->next_mech++;
        if (session_start(p, mech) == 0)
            return;
        probe_fault(p, PROBE_FAULT_MEMORY, "starting a session", ENOMEM);
    } else if (go_on) {
        probe_fail(p, PROBE_STAGE_AUTH, PROBE_ERROR_TIMEOUT,
                   "auth: no time left for %s",
                   sasl_mech_name(p->target.mechs[p->next_mech]));
        for (size_t i = p->next_mech; i < p->target.n_mechs; i++)
            p->res.auth[i].error = PROBE_ERROR_TIMEOUT;
    }
    probe_finish(p);
}

/* ---- the prober --------------------------------------------------------- */

struct prober *prober_new(probe_done_fn done, void *user)
{
    struct prober *pr = calloc(1, sizeof(*pr));
    if (!pr)
        return NULL;
    pr->multi = curl_multi_init();
    pr->cas = tls_ca_cache_new();
    pr->oauth =
        pr->multi ? oauth_cache_new(pr->multi, probe_token_ready) : NULL;
    if (!pr->multi || !pr->cas || !pr->oauth) {
        oauth_cache_free(pr->oauth);
        curl_multi_cleanup(pr->multi);
        tls_ca_cache_free(pr->cas);
        free(pr);
        return NULL;
    }
    pr->done = done;
    pr->user = user;
    return pr;
}

void prober_free(struct prober *pr)
{
    if (!pr)
        return;
    while (pr->probes) {
        struct probe *p = pr->probes;
        pr->probes = p->next;
        probe_free(p);
    }
    while (pr->spare_probes) {
        struct probe *p = pr->spare_probes;
        pr->spare_probes = p->next;
        free(p);
    }
    while (pr->spare_sessions) {
        struct session *s = pr->spare_sessions;
        pr->spare_sessions = s->next_spare;
        free(s);
    }
    tls_ca_cache_free(pr->cas);
    oauth_cache_free(pr->oauth);
    curl_multi_cleanup(pr->multi);
    free(pr->fds);
    free(pr->fd_sessions);
    free(pr);
}

size_t prober_in_flight(const struct prober *pr)
{
    return pr->n_probes;
}

unsigned long prober_allocations(const struct prober *pr)
{
    return pr->allocations;
}

int prober_shorten_timeout(struct prober *pr, uint64_t id, uint64_t timeout_ms)
{
    for (struct probe *p = pr->probes; p; p = p->next) {
        if (p->res.id != id)
            continue;
        uint64_t deadline = p->t0 + timeout_ms * 1000000u;
        if (deadline < p->deadline) {
            p->deadline = deadline;
            p->target.timeout_ms = timeout_ms;
        }
        return 1;
    }
    return 0;
}

/* tok (malloc()ed) becomes the probe's secret, redacted as every
 * secret is. */
static bool probe_take_token(struct probe *p, char *tok, size_t len)
{
    p->target.secret = tok;
    p->target.secret_len = len;
    if (redact_add_secret(&p->redact, tok, len) < 0) {
        probe_fault(p, PROBE_FAULT_MEMORY, "keeping the token", ENOMEM);
        return false;
    }
    return true;
}

/* The first session: the first mechanism's, or EHLO only. */
static int probe_first_session(struct probe *p)
{
    int mech = -1;
    if (p->target.n_mechs > 0)
        mech = (int)p->next_mech++;
    return session_start(p, mech);
}

/* token_url: the OAuth2 client's cached token now, or a wait for its
 * fetch (false, waiting_token), or a failure at stage token. */
static bool probe_ask_token(struct probe *p,
                            const struct target_config *target)
{
    char *tok = NULL;
    size_t len = 0;
    char why[CONFIG_PATH_MAX + CONFIG_URL_MAX + 300];
    enum oauth_status st =
        oauth_get(p->owner->oauth, &target->oauth, p->ca_file, p->deadline, p,
                  &tok, &len, why, sizeof(why));
    switch (st) {
    case OAUTH_READY:
        return probe_take_token(p, tok, len);
    case OAUTH_PENDING:
        p->waiting_token = true;
        return false;
    case OAUTH_FAILED:
        probe_fail(p, PROBE_STAGE_TOKEN, PROBE_ERROR_NONE, "%s", why);
        return false;
    case OAUTH_NO_MEMORY:
        break;
    }
    probe_fault(p, PROBE_FAULT_MEMORY, "asking for a token", ENOMEM);
    return false;
}

/* oauth.c: the token a probe waited for, or why there is none. */
static void probe_token_ready(void *waiter, const char *tok, size_t len,
                              const char *why, bool timed_out)
{
    struct probe *p = waiter;
    p->waiting_token = false;
    if (!tok) {
        probe_fail(p, PROBE_STAGE_TOKEN,
                   timed_out ? PROBE_ERROR_TIMEOUT : PROBE_ERROR_NONE, "%s",
                   why);
        return; /* reap() finishes it */
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        probe_fault(p, PROBE_FAULT_MEMORY, "copying the token", ENOMEM);
        return;
    }
    memcpy(copy, tok, len);
    copy[len] = '\0';
    if (probe_take_token(p, copy, len) && probe_first_session(p) < 0)
        probe_fault(p, PROBE_FAULT_MEMORY, "starting a session", ENOMEM);
}

/*
 * token_file: the token is read now, before each probe, and becomes the
 * probe's secret (redacted as every secret is). False when the probe
 * cannot go on: a failure at stage token, or the agent out of memory.
 */
static bool probe_read_token(struct probe *p,
                             const struct target_config *target)
{
    if (target->oauth.token_url && target->oauth.token_url[0])
        return probe_ask_token(p, target);
    if (!p->token_file[0])
        return true;
    char *tok = NULL;
    size_t len = 0;
    char why[CONFIG_PATH_MAX + 128];
    enum token_status st =
        token_file_read(p->token_file, &tok, &len, NULL, why, sizeof(why));
    if (st == TOKEN_NO_MEMORY) {
        probe_fault(p, PROBE_FAULT_MEMORY, "reading token_file", ENOMEM);
        return false;
    }
    if (st != TOKEN_OK) {
        probe_fail(p, PROBE_STAGE_TOKEN, PROBE_ERROR_NONE, "token: %s", why);
        return false;
    }
    return probe_take_token(p, tok, len);
}

int prober_start(struct prober *pr, const struct target_config *target,
                 uint64_t id)
{
    return prober_start_traced(pr, target, id, NULL);
}

int prober_start_traced(struct prober *pr, const struct target_config *target,
                        uint64_t id, struct buf *trace)
{
    struct probe *p = probe_alloc(pr);
    if (!p)
        return -1;
    p->owner = pr;
    p->trace = trace;
    p->target = *target;
    snprintf(p->name, sizeof(p->name), "%s", target->name);
    snprintf(p->host, sizeof(p->host), "%s", target->host);
    snprintf(p->ca_file, sizeof(p->ca_file), "%s", target->ca_file);
    snprintf(p->server_name, sizeof(p->server_name), "%s",
             target->server_name);
    snprintf(p->ehlo_name, sizeof(p->ehlo_name), "%s", target->ehlo_name);
    snprintf(p->username, sizeof(p->username), "%s", target->username);
    snprintf(p->source_address, sizeof(p->source_address), "%s",
             target->source_address);
    p->target.name = p->name;
    p->target.host = p->host;
    p->target.ca_file = p->ca_file;
    p->target.server_name = p->server_name;
    p->target.ehlo_name = p->ehlo_name;
    p->target.username = p->username;
    p->target.source_address = p->source_address;
    snprintf(p->token_file, sizeof(p->token_file), "%s",
             target->token_file ? target->token_file : "");
    p->target.token_file = p->token_file;
    snprintf(p->require_ehlo, sizeof(p->require_ehlo), "%s",
             target->require_ehlo ? target->require_ehlo : "");
    snprintf(p->relay_rcpt, sizeof(p->relay_rcpt), "%s",
             target->open_relay_rcpt ? target->open_relay_rcpt
                                     : CHECK_DEFAULT_RELAY_RCPT);
    p->target.require_ehlo = p->require_ehlo;
    p->target.open_relay_rcpt = p->relay_rcpt;
    p->target.secret = NULL;
    p->target.secret_len = 0;
    if (target->secret) {
        p->target.secret = malloc(target->secret_len + 1);
        if (!p->target.secret) {
            probe_free(p);
            return -1;
        }
        memcpy(p->target.secret, target->secret, target->secret_len);
        p->target.secret[target->secret_len] = '\0';
        p->target.secret_len = target->secret_len;
    }
    redact_init(&p->redact);
    if (redact_add_secret(&p->redact, p->target.secret, p->target.secret_len) <
        0) {
        probe_free(p);
        return -1;
    }
    p->t0 = now_mono_ns();
    p->deadline = p->t0 + target->timeout_ms * 1000000u;

    struct probe_result *r = &p->res;
    snprintf(r->target, sizeof(r->target), "%s", target->name);
    r->id = id;
    r->start_time = now_unix();
    r->stage = PROBE_STAGE_CONNECT;
    for (int i = 0; i < PROBE_PHASE_COUNT; i++)
        r->phase_seconds[i] = -1;
    r->n_auth = target->n_mechs;
    for (size_t i = 0; i < target->n_mechs; i++)
        r->auth[i].mech = target->mechs[i];
    r->checks[CHECK_AUTH_BEFORE_TLS].configured =
        target->expect_auth_refused && target->tls == TLS_MODE_STARTTLS;
    r->checks[CHECK_OPEN_RELAY].configured = target->expect_relay_refused;
    r->checks[CHECK_EHLO].configured = p->require_ehlo[0] != '\0';

    /* After the result's defaults: a failure here sets its stage. */
    bool have_token = probe_read_token(p, target);
    /* The config's strings may go at a reload: only oauth_get() read
     * them, and copied what it keeps. */
    p->target.oauth = (struct oauth_settings){"", "", "", "", ""};
    /* Without its token the probe connects nowhere: prober_run()
     * finishes it (reap()), as it does every probe, or starts its
     * session when the OAuth2 client's token comes. */
    if (have_token && probe_first_session(p) < 0) {
        probe_free(p);
        return -1;
    }
    p->next = pr->probes;
    pr->probes = p;
    pr->n_probes++;
    return 0;
}

/* Our sockets (sessions past the connect phase) for curl_multi_poll. */
static int fds_build(struct prober *pr, int wake_fd, size_t *n)
{
    size_t need = pr->n_probes + 1;
    if (need > pr->fds_cap) {
        struct curl_waitfd *grown = realloc(pr->fds, need * sizeof(*grown));
        if (!grown)
            return -1;
        pr->fds = grown;
        struct session **sess = realloc(pr->fd_sessions, need * sizeof(*sess));
        if (!sess)
            return -1;
        pr->fd_sessions = sess;
        pr->fds_cap = need;
    }
    size_t k = 0;
    if (wake_fd >= 0) {
        pr->fd_sessions[k] = NULL;
        pr->fds[k++] = (struct curl_waitfd){wake_fd, CURL_WAIT_POLLIN, 0};
    }
    for (struct probe *p = pr->probes; p; p = p->next) {
        short ev = 0;
        curl_socket_t sock =
            p->sess ? session_poll(p->sess, &ev) : CURL_SOCKET_BAD;
        if (sock == CURL_SOCKET_BAD)
            continue;
        pr->fd_sessions[k] = p->sess;
        pr->fds[k++] = (struct curl_waitfd){sock, ev, 0};
    }
    *n = k;
    return 0;
}

/* When deadlines_check() has something to do for p. */
static uint64_t probe_due(const struct probe *p)
{
    /* curl wakes the poll for its own timeout; ours comes after the
     * grace. Waking at the bare deadline would spin until curl's timer,
     * which started a moment after ours, fires too. */
    if (p->sess && session_in_connect_phase(p->sess))
        return p->deadline + CURL_GRACE_NS;
    if (!p->sess && !p->waiting_token)
        return 0; /* it never started: reap() finishes it now */
    return p->deadline;
}

/* The time until the nearest deadline, capped at timeout_ms. */
static int wait_ms(const struct prober *pr, int timeout_ms)
{
    uint64_t now = now_mono_ns();
    for (const struct probe *p = pr->probes; p; p = p->next) {
        uint64_t due = probe_due(p);
        uint64_t left = due > now ? due - now : 0;
        int ms = (int)((left + 999999u) / 1000000u);
        if (ms < timeout_ms)
            timeout_ms = ms;
    }
    return timeout_ms < 0 ? 0 : timeout_ms;
}

/* Past their deadline, probes end: see session_deadline(). */
static void deadlines_check(struct prober *pr)
{
    uint64_t now = now_mono_ns();
    struct probe *p = pr->probes;
    while (p) {
        struct probe *next = p->next;
        if (p->sess && now >= p->deadline)
            session_deadline(p->sess, now);
        else if (p->waiting_token && now >= p->deadline) {
            oauth_cancel(pr->oauth, p);
            p->waiting_token = false;
            probe_timeout(p, PROBE_STAGE_TOKEN);
        }
        p = next;
    }
}

/* Moves on every probe whose session is done. A probe that finishes
 * unlinks only itself; probes started meanwhile go to the list's head. */
static void reap(struct prober *pr)
{
    struct probe *p = pr->probes;
    while (p) {
        struct probe *next = p->next;
        if (p->sess && session_done(p->sess))
            probe_advance(p);
        else if (!p->sess && !p->waiting_token)
            probe_finish(p);
        p = next;
    }
}

int prober_run(struct prober *pr, int timeout_ms, int wake_fd)
{
    size_t n = 0;
    int woken = 0;

    if (fds_build(pr, wake_fd, &n) < 0)
        return -1;
    int numfds = 0;
    CURLMcode mc = curl_multi_poll(pr->multi, pr->fds, (unsigned)n,
                                   wait_ms(pr, timeout_ms), &numfds);
    if (mc != CURLM_OK && mc != CURLM_UNRECOVERABLE_POLL)
        return -1;

    /*
     * Our own sockets first: curl prunes idle connections that look dead
     * when it opens new ones, and a reply waiting unread is best taken
     * before curl looks.
     */
    for (size_t i = 0; i < n; i++) {
        struct curl_waitfd *w = &pr->fds[i];
        if (!w->revents)
            continue;
        if (!pr->fd_sessions[i]) {
            woken = 1;
            continue;
        }
        session_io(pr->fd_sessions[i], w->revents);
    }

    int running = 0;
    mc = curl_multi_perform(pr->multi, &running);
    if (mc != CURLM_OK)
        return -1;

    int left = 0;
    for (CURLMsg *msg = curl_multi_info_read(pr->multi, &left); msg;
         msg = curl_multi_info_read(pr->multi, &left)) {
        if (msg->msg != CURLMSG_DONE ||
            oauth_done(pr->oauth, msg->easy_handle, msg->data.result))
            continue;
        struct session *s = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (s && session_in_connect_phase(s))
            connect_done(s, msg->data.result);
    }
    deadlines_check(pr);
    reap(pr);
    return woken;
}
