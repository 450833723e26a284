/* probe: SMTP probes as state machines over one curl multi handle. */
#include "probe.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "log.h"
#include "now.h"
#include "redact.h"

/*
 * A probe is one or more sessions, one after the other. In a session
 * libcurl does the connect phase (DNS, TCP, implicit TLS or STARTTLS,
 * EHLO) with CONNECT_ONLY and no user name, handing us every reply line
 * through the header callback; we then send AUTH and QUIT ourselves with
 * curl_easy_send/recv, keeping our own deadline. That way every reply the
 * server sends is seen as it was sent, 504 included.
 */

/*
 * What a session waits for next. Up to SESSION_READY it is curl's
 * connect phase: curl sends, the header callback reads every reply line
 * and decides (connect_reply()). From SESSION_AUTH on the commands are
 * ours: session_enter() sends the command of a state, session_reply()
 * decides from the reply. Every change goes through session_set_state().
 */
enum session_state {
    SESSION_NEW,      /* being made, not yet in the multi handle */
    SESSION_GREETING, /* curl resolves and connects (with implicit TLS,
                         handshakes too): the greeting is due */
    SESSION_EHLO,     /* curl sent EHLO */
    SESSION_STARTTLS, /* curl sent STARTTLS */
    SESSION_TLS,      /* the handshake after STARTTLS's 220 */
    SESSION_EHLO_TLS, /* curl sent EHLO again, over TLS */
    SESSION_READY,    /* the last reply of the connect phase came: curl is
                         to hand the connection over */
    SESSION_AUTH,     /* AUTH or a continuation sent, reply pending */
    SESSION_QUIT,     /* QUIT sent, 221 pending */
    SESSION_DONE,     /* prober_run() frees it and moves its probe on */
    SESSION_STATE_COUNT
};

static const char *const session_state_names[] = {
    [SESSION_NEW] = "new",     [SESSION_GREETING] = "greeting",
    [SESSION_EHLO] = "ehlo",   [SESSION_STARTTLS] = "starttls",
    [SESSION_TLS] = "tls",     [SESSION_EHLO_TLS] = "ehlo_tls",
    [SESSION_READY] = "ready", [SESSION_AUTH] = "auth",
    [SESSION_QUIT] = "quit",   [SESSION_DONE] = "done",
};
_Static_assert(sizeof session_state_names / sizeof session_state_names[0] ==
                   SESSION_STATE_COUNT,
               "a name for every session state");

#define RECV_CHUNK 4096
/* Bytes a session may read after the connect phase: with the parser's
 * own limits this bounds what a hostile server can make us do. */
#define SESSION_MAX_RECV (1024 * 1024)
/*
 * Bytes libcurl may read in the connect phase, as CURLINFO_HEADER_SIZE
 * counts them. Debian's libcurl 7.88.1 (its CVE-2023-38039 fix) keeps
 * that count for SMTP and gives up at 300 KiB, with the error a reset
 * connection gets; our lower limit names it: the server sent too much, a
 * malformed reply, not a closed connection. The count takes the unread
 * rest of a reply again at each line curl hands over one by one (every
 * EHLO line): an EHLO of N lines of L bytes counts about N * N * L / 2,
 * 128 KiB at 80 lines of 40 bytes; real servers send 10 to 20.
 */
#define CONNECT_MAX_RECV (128 * 1024)
/*
 * libcurl's reply reader cuts a line that arrives in a piece larger than
 * half its buffer down to the line's first 40 bytes and its tail, and the
 * cut line may parse as a short valid one (a 17 KiB greeting passes as
 * "220 AAA..."). With half the buffer at CONNECT_MAX_RECV, a line can
 * only be cut after more than CONNECT_MAX_RECV bytes were counted, and
 * the probe fails before the cut line is parsed. The buffer also keeps
 * every read below curl's 300 KiB cap, which leaves a larger read out of
 * the count. It exists for the connect phase only, and its pages are
 * touched only as replies arrive.
 */
#define CONNECT_BUFFER_SIZE (2 * CONNECT_MAX_RECV)
/* How long curl's connect phase may overrun the deadline that it was
 * given as its own timeout before we stop it: see deadlines_check(). */
#define CURL_GRACE_NS 1000000000u

struct probe;

struct session {
    struct probe *probe;
    CURL *easy;
    curl_socket_t sock;
    enum session_state state;
    int mech;         /* index into the target's mechanisms, -1 for none */
    int socket_errno; /* why socket() failed in on_open_socket(), or 0 */
    struct smtp_parser parser;
    bool tls_up;      /* a reply line came over TLS */
    bool tls_read;    /* tls holds this connection's certificate facts */
    bool tls_started; /* OpenSSL began a handshake: TCP is connected */
    struct tls_facts tls;
    bool failed;    /* a failure in the connect phase was recorded, where the
                       state still says; curl is being stopped */
    bool connected; /* the connect phase went through cleanly */
    struct smtp_ehlo ehlo;
    struct sasl_client *sasl;
    bool cancelled;
    size_t received;
    struct buf out; /* bytes still to send; may hold the secret */
    size_t out_off;
    struct curl_slist *connect_to;
    uint64_t t_start, t_greeting, t_ehlo, t_ehlo_tls, t_auth_sent, t_auth_done;
    char errbuf[CURL_ERROR_SIZE];
};

struct probe {
    struct prober *owner;
    struct probe *next;
    struct target_config target; /* a copy: its secret is ours to wipe */
    /* Every form of the secret and every token any session of the probe
     * sent: server text that holds one is withheld (redact.h). */
    struct redactor redact;
    uint64_t t0, deadline; /* CLOCK_MONOTONIC ns */
    struct probe_result res;
    struct tls_facts first_tls; /* the first TLS session's own facts */
    bool failed;
    size_t next_mech;
    struct session *sess;
};

struct prober {
    CURLM *multi;
    probe_done_fn done;
    void *user;
    struct probe *probes;
    size_t n_probes;
    struct tls_ca_cache *cas;
    struct curl_waitfd *fds;
    struct session **fd_sessions; /* the session behind each fds[i] */
    size_t fds_cap;
};

static const char *const phase_names[] = {
    [PROBE_PHASE_CONNECT] = "connect", [PROBE_PHASE_BANNER] = "banner",
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

static double ns_to_s(uint64_t ns)
{
    return (double)ns / 1e9;
}

/* ---- recording what was seen ------------------------------------------ */

/* The first failure decides the probe's stage, error and detail. */
static void probe_fail(struct probe *p, enum probe_stage stage,
                       enum probe_error error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void probe_fail(struct probe *p, enum probe_stage stage,
                       enum probe_error error, const char *fmt, ...)
{
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
static void probe_timeout(struct probe *p, enum probe_stage stage)
{
    probe_fail(p, stage, PROBE_ERROR_TIMEOUT,
               "%s: %s before the deadline (%g s)", probe_stage_name(stage),
               stage_waited_for(stage), (double)p->target.timeout_ms / 1000.0);
}

/* Which of the agent's own resources an errno says ran out. */
static enum probe_fault fault_of_errno(int e)
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
static void probe_fault(struct probe *p, enum probe_fault fault,
                        const char *what, int err)
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
static void reply_copy(struct session *s, enum probe_stage stage,
                       const struct smtp_reply *r, struct probe_reply *out)
{
    const char *text = buf_str(&r->text);

    out->code = r->code;
    out->cls = classify_reply(stage, r->code);
    memcpy(out->enhanced, r->enhanced, sizeof(out->enhanced));
    out->withheld = redact_copy(&s->probe->redact, out->text,
                                sizeof(out->text), text, strcspn(text, "\n"));
}

/*
 * Keeps a final reply: replies[stage] holds the first non-success reply of
 * the probe, else the latest. A reply of another class than success is
 * the failure of the probe at that stage.
 */
static enum smtp_class record_reply(struct session *s, enum probe_stage stage,
                                    const struct smtp_reply *r)
{
    struct probe *p = s->probe;
    struct probe_reply pr;
    reply_copy(s, stage, r, &pr);

    if (p->res.n_seen < sizeof(p->res.seen) / sizeof(p->res.seen[0]))
        p->res.seen[p->res.n_seen++] = (struct probe_seen){stage, r->code};

    struct probe_reply *slot = &p->res.replies[stage];
    if (slot->code == 0 || slot->cls == SMTP_CLASS_SUCCESS)
        *slot = pr;
    if (stage == PROBE_STAGE_AUTH && s->mech >= 0)
        p->res.auth[s->mech].reply = pr;

    if (pr.cls != SMTP_CLASS_SUCCESS) {
        enum sasl_step_error why = stage == PROBE_STAGE_AUTH && s->mech >= 0
                                       ? p->res.auth[s->mech].cancelled
                                       : SASL_STEP_OK;
        if (why != SASL_STEP_OK)
            probe_fail(p, stage, PROBE_ERROR_NONE,
                       "AUTH %s: cancelled by the agent (%s); the server "
                       "answered %d %s",
                       sasl_mech_name(p->target.mechs[s->mech]),
                       sasl_step_error_words(why), pr.code, pr.text);
        else if (stage == PROBE_STAGE_AUTH && s->mech >= 0) {
            if (!p->failed)
                p->res.detail_auth = (unsigned)s->mech + 1;
            probe_fail(p, stage, PROBE_ERROR_NONE, "AUTH %s: %d %s",
                       sasl_mech_name(p->target.mechs[s->mech]), pr.code,
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

/* The CA store of the target's CA file, from the prober's cache: a file
 * that cannot be loaded is said once, when the cache first reads it. */
static const struct tls_ca *probe_ca(struct probe *p)
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

/* Which session s is, 1-based (one per mechanism), of how many. */
static unsigned session_number(const struct session *s, unsigned *of)
{
    size_t n = s->probe->target.n_mechs;
    *of = n ? (unsigned)n : 1;
    return s->mech >= 0 ? (unsigned)s->mech + 1 : 1;
}

static const char *session_state_name(enum session_state st)
{
    if ((unsigned)st >= SESSION_STATE_COUNT || !session_state_names[st])
        return "unknown";
    return session_state_names[st];
}

/* The one way a session's state changes; each change is traced. */
static void session_set_state(struct session *s, enum session_state next)
{
    unsigned of;
    if (next == s->state)
        return;
    log_debug("probe", "state", "target=%s session=%u from=%s to=%s",
              s->probe->target.name, session_number(s, &of),
              session_state_name(s->state), session_state_name(next));
    s->state = next;
}

/* The states in which curl runs the connection. */
static bool session_in_connect_phase(const struct session *s)
{
    return s->state <= SESSION_READY;
}

/* "session 2 of 3 (LOGIN)", or "" for a probe of one session. */
static const char *session_words(const struct session *s, char *dst, size_t n)
{
    unsigned of, k = session_number(s, &of);
    if (of < 2)
        snprintf(dst, n, "%s", "");
    else
        snprintf(dst, n, "session %u of %u (%s)", k, of,
                 sasl_mech_name(s->probe->target.mechs[s->mech]));
    return dst;
}

/*
 * A session's certificate facts into the probe's: each mechanism has its
 * own connection, and behind a load balancer each may meet another
 * backend. Valid only if every session was, the earliest expiry, and the
 * first session that differed is named.
 */
static void tls_merge(struct probe *p, const struct session *s)
{
    struct probe_result *r = &p->res;
    const struct tls_facts *f = &s->tls;
    unsigned of, k = session_number(s, &of);

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
    r->tls.chain_ok = r->tls.chain_ok && f->chain_ok;
    r->tls.host_ok = r->tls.host_ok && f->host_ok;
    if (r->tls.valid && !f->valid) {
        char who[64];
        r->tls.valid = false;
        snprintf(r->tls.problem, sizeof(r->tls.problem), "%s: %.90s",
                 session_words(s, who, sizeof(who)), f->problem);
    }
}

/* Reads the certificate facts of the session's connection and adds them
 * to the probe's. */
static void tls_inspect(struct session *s, SSL *ssl)
{
    struct probe *p = s->probe;
    const struct target_config *t = &p->target;
    const struct tls_ca *ca = probe_ca(p);
    if (tls_facts_read(ssl, ca ? ca->store : NULL, t->server_name, &s->tls) <
        0)
        return; /* no certificate: s->tls.present stays false */
    if (!s->tls.chain_ok && ca && !ca->store)
        snprintf(s->tls.problem, sizeof(s->tls.problem), "%.120s",
                 ca->problem);
    /* The subject is the server's text too. */
    char subject[sizeof(s->tls.subject)];
    if (redact_copy(&p->redact, subject, sizeof(subject), s->tls.subject,
                    strlen(s->tls.subject))) {
        memcpy(s->tls.subject, subject, sizeof(subject));
        p->res.tls_subject_withheld = true;
    }
    tls_merge(p, s);
}

/* A handshake is done (OpenSSL said so, or a line came over TLS): its
 * facts are read once, and after STARTTLS the second EHLO is due. */
static void session_handshake_done(struct session *s, SSL *ssl)
{
    if (s->tls_read)
        return;
    s->tls_read = true;
    tls_inspect(s, ssl);
    if (s->state == SESSION_TLS)
        session_set_state(s, SESSION_EHLO_TLS);
}

/* OpenSSL's word that a handshake is done: the facts are read here, so
 * they are known even when the server fails right after the handshake. */
static void on_tls_info(const SSL *ssl, int where, int ret)
{
    (void)ret;
    struct session *s = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (!s)
        return;
    /* curl reports the connect time only once TLS is up too: this is how
     * a stalled implicit-TLS handshake is told from a stalled connect. */
    if (where & SSL_CB_HANDSHAKE_START)
        s->tls_started = true;
    if (where & SSL_CB_HANDSHAKE_DONE)
        session_handshake_done(s, (SSL *)ssl);
}

/* Our own socket(), so that a failure is known for what it is: out of
 * descriptors is the agent's fault, not a refused connection. */
static curl_socket_t on_open_socket(void *userp, curlsocktype purpose,
                                    struct curl_sockaddr *a)
{
    struct session *s = userp;
    (void)purpose;
    curl_socket_t fd =
        socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd == CURL_SOCKET_BAD)
        s->socket_errno = errno;
    return fd;
}

/* curl 7.88 makes one SSL_CTX per connection: it can carry the session. */
static CURLcode on_ssl_ctx(CURL *easy, void *ctx, void *userp)
{
    (void)easy;
    SSL_CTX_set_app_data((SSL_CTX *)ctx, userp);
    SSL_CTX_set_info_callback((SSL_CTX *)ctx, on_tls_info);
    return CURLE_OK;
}

/*
 * The first reply line over TLS: when the target verifies, a bad
 * certificate stops the session here, before anything secret is sent.
 * false stops the session.
 */
static bool session_tls_up(struct session *s)
{
    struct probe *p = s->probe;
    struct curl_tlssessioninfo *info = NULL;

    s->tls_up = true;
    if (!s->tls_read) {
        if (curl_easy_getinfo(s->easy, CURLINFO_TLS_SSL_PTR, &info) !=
                CURLE_OK ||
            !info || info->backend != CURLSSLBACKEND_OPENSSL ||
            !info->internals) {
            probe_fail(p, PROBE_STAGE_TLS, PROBE_ERROR_TLS_HANDSHAKE,
                       "tls: no TLS session to inspect");
            return false;
        }
        session_handshake_done(s, info->internals);
    }
    if (!s->tls.present) {
        probe_fail(p, PROBE_STAGE_TLS, PROBE_ERROR_CERTIFICATE,
                   "tls: the server presented no certificate");
        return false;
    }
    if (p->target.tls_verify && !s->tls.valid) {
        char who[64];
        session_words(s, who, sizeof(who));
        probe_fail(p, PROBE_STAGE_TLS, PROBE_ERROR_CERTIFICATE,
                   "certificate: %s%s%s", who, who[0] ? ": " : "",
                   s->tls.problem);
        return false;
    }
    return true;
}

/* ---- the connect phase: replies as curl reads them -------------------- */

/* EHLO keywords and mechanisms become label values: one that holds a
 * form of the secret is dropped (and counted as dropped). */
static void ehlo_redact(const struct redactor *rd, struct smtp_ehlo *e,
                        bool *withheld)
{
    size_t k = 0;
    for (size_t i = 0; i < e->n_keywords; i++) {
        if (redact_found(rd, e->keywords[i], strlen(e->keywords[i]))) {
            e->n_dropped++;
            *withheld = true;
            continue;
        }
        if (k != i)
            memcpy(e->keywords[k], e->keywords[i], sizeof(e->keywords[i]));
        k++;
    }
    e->n_keywords = k;
    k = 0;
    for (size_t i = 0; i < e->n_mechs; i++) {
        if (redact_found(rd, e->mechs[i], strlen(e->mechs[i]))) {
            *withheld = true;
            continue;
        }
        if (k != i)
            memcpy(e->mechs[k], e->mechs[i], sizeof(e->mechs[i]));
        k++;
    }
    e->n_mechs = k;
}

static void ehlo_keep(struct session *s, const struct smtp_reply *r)
{
    struct probe *p = s->probe;
    smtp_ehlo_parse(r, &s->ehlo);
    ehlo_redact(&p->redact, &s->ehlo, &p->res.ehlo_withheld);
    p->res.ehlo = s->ehlo;
    p->res.ehlo_seen = true;
}

/* The EHLO reply read in SESSION_EHLO (the first one): what comes next. */
static bool connect_ehlo(struct session *s)
{
    struct probe *p = s->probe;

    if (p->target.tls != TLS_MODE_STARTTLS) {
        session_set_state(s, SESSION_READY);
        return true;
    }
    p->res.ehlo_pre_tls_auth = s->ehlo.auth;
    if (!s->ehlo.starttls) {
        probe_fail(p, PROBE_STAGE_STARTTLS, PROBE_ERROR_STARTTLS_UNAVAILABLE,
                   "starttls: the server does not offer STARTTLS");
        return false;
    }
    session_set_state(s, SESSION_STARTTLS);
    return true;
}

/*
 * Decides from a complete reply of the connect phase, which curl sent
 * the command of. false stops curl: the failure is recorded, and the
 * state stays where it failed.
 */
static bool connect_reply(struct session *s, const struct smtp_reply *r,
                          uint64_t at)
{
    switch (s->state) {
    case SESSION_GREETING:
        s->t_greeting = at;
        if (record_reply(s, PROBE_STAGE_GREETING, r) != SMTP_CLASS_SUCCESS)
            return false;
        session_set_state(s, SESSION_EHLO);
        return true;
    case SESSION_EHLO:
        s->t_ehlo = at;
        if (record_reply(s, PROBE_STAGE_EHLO, r) != SMTP_CLASS_SUCCESS)
            return false;
        ehlo_keep(s, r);
        return connect_ehlo(s);
    case SESSION_STARTTLS:
        if (record_reply(s, PROBE_STAGE_STARTTLS, r) != SMTP_CLASS_SUCCESS)
            return false;
        session_set_state(s, SESSION_TLS);
        return true;
    case SESSION_EHLO_TLS:
        s->t_ehlo_tls = at;
        if (record_reply(s, PROBE_STAGE_EHLO, r) != SMTP_CLASS_SUCCESS)
            return false;
        ehlo_keep(s, r); /* capabilities after TLS replace the first */
        session_set_state(s, SESSION_READY);
        return true;
    default:
        /* SESSION_TLS never gets here: the first line over TLS ended
         * it. What comes once READY is more than curl asked for. */
        return true;
    }
}

/* The stage whose reply the connect phase is reading. */
static enum probe_stage reading_stage(const struct session *s)
{
    switch (s->state) {
    case SESSION_GREETING:
        return PROBE_STAGE_GREETING;
    case SESSION_STARTTLS:
        return PROBE_STAGE_STARTTLS;
    default:
        return PROBE_STAGE_EHLO;
    }
}

/* More than CONNECT_MAX_RECV read in the connect phase: recorded as
 * malformed at the stage being read. */
static bool connect_overrun(struct session *s)
{
    long counted = 0;
    if (curl_easy_getinfo(s->easy, CURLINFO_HEADER_SIZE, &counted) !=
            CURLE_OK ||
        counted <= CONNECT_MAX_RECV)
        return false;
    enum probe_stage stage = reading_stage(s);
    probe_fail(s->probe, stage, PROBE_ERROR_MALFORMED,
               "%s: malformed reply: the server sent more than %d KiB",
               probe_stage_name(stage), CONNECT_MAX_RECV / 1024);
    return true;
}

/* libcurl hands over every reply line of the connect phase here. */
static size_t on_header_line(char *data, size_t size, size_t nitems,
                             void *userp)
{
    struct session *s = userp;
    struct probe *p = s->probe;
    size_t n = size * nitems;
    uint64_t at = now_mono_ns();

    if (s->failed)
        return 0;
    /* Before parsing: the line may be one that curl cut short. */
    if (connect_overrun(s)) {
        s->failed = true;
        return 0;
    }
    /* The first line over TLS: implicit TLS greets over it, STARTTLS
     * answers the second EHLO over it. */
    if (!s->tls_up &&
        ((p->target.tls == TLS_MODE_IMPLICIT &&
          s->state == SESSION_GREETING) ||
         s->state == SESSION_TLS || s->state == SESSION_EHLO_TLS)) {
        if (!session_tls_up(s)) {
            s->failed = true;
            return 0;
        }
    }

    enum smtp_parse_status st = smtp_parser_line(&s->parser, data, n);
    if (st == SMTP_PARSE_MORE)
        return n;
    if (st == SMTP_PARSE_ERROR) {
        enum probe_stage stage = reading_stage(s);
        probe_fail(p, stage, PROBE_ERROR_MALFORMED, "%s: malformed reply: %s",
                   probe_stage_name(stage), smtp_parser_error(&s->parser));
        s->failed = true;
        return 0;
    }
    bool go_on = connect_reply(s, &s->parser.reply, at);
    smtp_parser_reset(&s->parser);
    if (!go_on) {
        s->failed = true;
        return 0;
    }
    return n;
}

/* Where a connect phase that curl ended stood. */
static enum probe_stage connect_stage(struct session *s)
{
    curl_off_t connected = 0, handshaken = 0;
    curl_easy_getinfo(s->easy, CURLINFO_CONNECT_TIME_T, &connected);
    curl_easy_getinfo(s->easy, CURLINFO_APPCONNECT_TIME_T, &handshaken);

    switch (s->state) {
    case SESSION_GREETING:
        /* With implicit TLS curl stamps both times when TLS is up. */
        if (s->probe->target.tls == TLS_MODE_IMPLICIT && handshaken == 0 &&
            !s->tls_read)
            return s->tls_started ? PROBE_STAGE_TLS : PROBE_STAGE_CONNECT;
        return connected == 0 ? PROBE_STAGE_CONNECT : PROBE_STAGE_GREETING;
    case SESSION_STARTTLS:
        return PROBE_STAGE_STARTTLS;
    case SESSION_TLS:
        /* curl stamps APPCONNECT when the STARTTLS handshake is done. */
        return handshaken > 0 ? PROBE_STAGE_EHLO : PROBE_STAGE_TLS;
    default:
        return PROBE_STAGE_EHLO;
    }
}

/*
 * Whether the connect phase failed for want of the agent's own resources:
 * our socket() (see on_open_socket()), curl's allocations, or its
 * resolver, whose thread and socket pair could not be made. true after
 * recording the fault.
 */
static bool connect_fault(struct session *s, CURLcode rc)
{
    struct probe *p = s->probe;
    enum probe_fault f = fault_of_errno(s->socket_errno);
    if (f != PROBE_FAULT_NONE) {
        probe_fault(p, f, "socket()", s->socket_errno);
        return true;
    }
    if (rc == CURLE_OUT_OF_MEMORY) {
        probe_fault(p, PROBE_FAULT_MEMORY, "libcurl", ENOMEM);
        return true;
    }
    /* libcurl 7.88's threaded resolver says only this when it cannot
     * make its thread or socket pair; errno still holds why. */
    if (rc == CURLE_COULDNT_RESOLVE_HOST &&
        strstr(s->errbuf, "thread failed to start")) {
        int e = errno;
        f = fault_of_errno(e);
        probe_fault(p, f ? f : PROBE_FAULT_MEMORY, "the resolver thread", e);
        return true;
    }
    return false;
}

/* A connect phase that curl ended with rc, when we did not stop it. */
static void connect_failed(struct session *s, CURLcode rc)
{
    enum probe_stage stage = connect_stage(s);
    enum probe_error error;

    /* Past our cap, whatever curl made of it (its own cap ends it like a
     * reset would), the server sent too much. */
    if (connect_overrun(s))
        return;
    if (connect_fault(s, rc))
        return;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        error = PROBE_ERROR_DNS;
        stage = PROBE_STAGE_CONNECT;
        break;
    case CURLE_COULDNT_CONNECT:
        error = PROBE_ERROR_CONNECT;
        stage = PROBE_STAGE_CONNECT;
        break;
    case CURLE_OPERATION_TIMEDOUT:
        probe_timeout(s->probe, stage);
        return;
    case CURLE_SSL_CONNECT_ERROR:
        error = PROBE_ERROR_TLS_HANDSHAKE;
        stage = PROBE_STAGE_TLS;
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        error = PROBE_ERROR_CERTIFICATE;
        stage = PROBE_STAGE_TLS;
        break;
    case CURLE_USE_SSL_FAILED:
        error = PROBE_ERROR_STARTTLS_UNAVAILABLE;
        stage = PROBE_STAGE_STARTTLS;
        break;
    case CURLE_WEIRD_SERVER_REPLY:
        error = PROBE_ERROR_MALFORMED;
        break;
    default:
        /* Reset, EOF and the rest: the server went away. */
        error = PROBE_ERROR_CLOSED;
        break;
    }
    probe_fail(s->probe, stage, error, "%s: %s", probe_stage_name(stage),
               s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
}

/* The phases of the first session, from the reply stamps. */
static void phases_note(struct session *s)
{
    struct probe *p = s->probe;
    double *ph = p->res.phase_seconds;
    curl_off_t connected = 0, handshaken = 0;

    if (p->sess != s || p->next_mech > 1)
        return;
    curl_easy_getinfo(s->easy, CURLINFO_CONNECT_TIME_T, &connected);
    curl_easy_getinfo(s->easy, CURLINFO_APPCONNECT_TIME_T, &handshaken);

    uint64_t ready = s->t_start + (uint64_t)connected * 1000u;
    if (connected > 0)
        ph[PROBE_PHASE_CONNECT] = (double)connected / 1e6;
    if (p->target.tls == TLS_MODE_IMPLICIT && handshaken > connected) {
        ph[PROBE_PHASE_STARTTLS] = (double)(handshaken - connected) / 1e6;
        ready = s->t_start + (uint64_t)handshaken * 1000u;
    }
    if (s->t_greeting && connected > 0)
        ph[PROBE_PHASE_BANNER] =
            s->t_greeting > ready ? ns_to_s(s->t_greeting - ready) : 0;
    if (s->t_ehlo && s->t_greeting)
        ph[PROBE_PHASE_EHLO] = ns_to_s(s->t_ehlo - s->t_greeting);
    if (s->t_ehlo_tls && s->t_ehlo)
        ph[PROBE_PHASE_STARTTLS] = ns_to_s(s->t_ehlo_tls - s->t_ehlo);
}

/* ---- after the connect phase: our own commands ------------------------ */

/* Ends a session: prober_run() frees it afterwards and moves its probe
 * on, so no caller ever holds a freed session. */
static void session_close(struct session *s)
{
    session_set_state(s, SESSION_DONE);
}

/* The stage of the command the session sent itself. */
static enum probe_stage session_stage(const struct session *s)
{
    return s->state == SESSION_QUIT ? PROBE_STAGE_QUIT : PROBE_STAGE_AUTH;
}

/* Sends what is queued; false when the connection failed (recorded). */
static bool session_flush(struct session *s)
{
    while (s->out_off < s->out.len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(s->easy, s->out.data + s->out_off,
                                     s->out.len - s->out_off, &n);
        if (rc == CURLE_AGAIN)
            return true;
        if (rc != CURLE_OK) {
            enum probe_stage stage = session_stage(s);
            probe_fail(s->probe, stage, PROBE_ERROR_CLOSED,
                       "%s: sending failed: %s", probe_stage_name(stage),
                       curl_easy_strerror(rc));
            return false;
        }
        s->out_off += n;
    }
    /* Everything went out: the queued bytes may have held the secret. */
    buf_wipe(&s->out);
    s->out_off = 0;
    return true;
}

/* Queues one command line; secret = it carries a form of the secret,
 * whose base64 token is then remembered for the redaction of every later
 * reply of the probe, whatever its session. */
static int session_queue(struct session *s, const struct buf *line,
                         bool secret)
{
    if (buf_append(&s->out, line->data, line->len) < 0)
        return -1;
    if (!secret || line->len < 2)
        return 0;
    /* "AUTH MECH token\r\n" or a bare "token\r\n" continuation. */
    const char *token = line->data;
    size_t len = line->len - 2;
    if (len >= 5 && memcmp(token, "AUTH ", 5) == 0) {
        const char *sp = memchr(token + 5, ' ', len - 5);
        if (!sp)
            return 0;
        len -= (size_t)(sp + 1 - token);
        token = sp + 1;
    }
    return redact_add_token(&s->probe->redact, token, len);
}

static void session_enter(struct session *s, enum session_state next);

/* QUIT: the session ends when its reply comes, or when sending fails. */
static void quit_send(struct session *s)
{
    struct buf line;
    buf_init(&line, 16);
    if (buf_puts(&line, "QUIT\r\n") < 0 ||
        session_queue(s, &line, false) < 0) {
        probe_fault(s->probe, PROBE_FAULT_MEMORY, "sending QUIT", ENOMEM);
        session_close(s);
    } else if (!session_flush(s)) {
        session_close(s);
    }
    buf_free(&line);
}

/* AUTH with the mechanism's initial response, if it has one. */
static void auth_send(struct session *s)
{
    struct probe *p = s->probe;
    const struct target_config *t = &p->target;
    struct probe_auth *a = &p->res.auth[s->mech];

    struct buf line;
    buf_init(&line, 0);
    s->sasl = sasl_client_new(t->mechs[s->mech], t->username, t->secret,
                              t->secret_len);
    if (!s->sasl || sasl_client_start(s->sasl, &line) < 0 ||
        session_queue(s, &line, true) < 0) {
        buf_wipe(&line);
        buf_wipe(&s->out); /* nothing half-queued goes out before QUIT */
        probe_fault(p, PROBE_FAULT_MEMORY, "starting AUTH", ENOMEM);
        session_enter(s, SESSION_QUIT);
        return;
    }
    buf_wipe(&line);
    a->attempted = true;
    s->t_auth_sent = now_mono_ns();
    if (!session_flush(s)) {
        a->error = PROBE_ERROR_CLOSED;
        session_close(s);
    }
}

/* Moves to next and sends that state's command (OpenSMTPD's
 * smtp_client_state()). */
static void session_enter(struct session *s, enum session_state next)
{
    session_set_state(s, next);
    switch (s->state) {
    case SESSION_AUTH:
        auth_send(s);
        break;
    case SESSION_QUIT:
        quit_send(s);
        break;
    default:
        break;
    }
}

/*
 * curl handed the connection over: AUTH when the session has a
 * mechanism, else QUIT. Credentials never go in clear unless the target
 * says so: the config refuses tls = none with mechanisms unless allowed;
 * this is the last line of defence.
 */
static enum session_state session_first_command(struct session *s)
{
    struct probe *p = s->probe;
    const struct target_config *t = &p->target;

    if (s->mech < 0)
        return SESSION_QUIT;
    struct probe_auth *a = &p->res.auth[s->mech];
    a->advertised =
        smtp_ehlo_has_mech(&s->ehlo, sasl_mech_name(t->mechs[s->mech]));
    if (!s->tls_up && !(t->tls == TLS_MODE_NONE && t->allow_plaintext_auth)) {
        a->error = PROBE_ERROR_STARTTLS_UNAVAILABLE;
        probe_fail(p, PROBE_STAGE_AUTH, PROBE_ERROR_STARTTLS_UNAVAILABLE,
                   "auth: not sent: the connection is not encrypted");
        return SESSION_QUIT;
    }
    return SESSION_AUTH;
}

/*
 * The answer to a 334 challenge into line, or "*" to cancel the exchange
 * (RFC 4954) when the agent cannot answer it; *secret = the line carries
 * a form of the secret. -1 when out of memory.
 */
static int auth_answer(struct session *s, const struct smtp_reply *r,
                       struct buf *line, bool *secret)
{
    const char *text = buf_str(&r->text);
    char challenge[SMTP_REPLY_MAX_LINE];
    size_t len = strcspn(text, "\n");
    if (len >= sizeof(challenge))
        len = sizeof(challenge) - 1;
    memcpy(challenge, text, len);
    challenge[len] = '\0';

    *secret = sasl_client_step(s->sasl, challenge, line) == 0;
    if (*secret)
        return 0;
    enum sasl_step_error why = sasl_client_step_error(s->sasl);
    buf_wipe(line);
    buf_init(line, 0);
    if (why == SASL_STEP_NO_MEMORY || buf_puts(line, "*\r\n") < 0)
        return -1;
    /* What follows answers our "*", not the credentials: say so. */
    s->probe->res.auth[s->mech].cancelled = why;
    s->cancelled = true;
    log_debug("probe", "AUTH cancelled by the agent",
              "target=%s mechanism=%s reason=\"%s\"", s->probe->target.name,
              sasl_mech_name(s->probe->target.mechs[s->mech]),
              sasl_step_error_words(why));
    return 0;
}

/* A 334 continuation: sends the answer, or the cancellation. */
static void auth_continue(struct session *s, const struct smtp_reply *r)
{
    struct buf line;
    bool secret = false;
    buf_init(&line, 0);
    if (auth_answer(s, r, &line, &secret) < 0 ||
        session_queue(s, &line, secret) < 0) {
        buf_wipe(&line);
        probe_fault(s->probe, PROBE_FAULT_MEMORY, "answering AUTH", ENOMEM);
        session_close(s);
        return;
    }
    buf_wipe(&line);
    if (!session_flush(s)) {
        s->probe->res.auth[s->mech].error = PROBE_ERROR_CLOSED;
        session_close(s);
    }
}

/* The final reply to AUTH: its time and its class. */
static void auth_done(struct session *s, const struct smtp_reply *r)
{
    struct probe *p = s->probe;
    struct probe_auth *a = &p->res.auth[s->mech];

    s->t_auth_done = now_mono_ns();
    a->seconds = ns_to_s(s->t_auth_done - s->t_auth_sent);
    if (p->sess == s && p->next_mech == 1)
        p->res.phase_seconds[PROBE_PHASE_AUTH] = a->seconds;
    record_reply(s, PROBE_STAGE_AUTH, r);
    sasl_client_free(s->sasl);
    s->sasl = NULL;
}

/* Decides from a complete reply after the connect phase (OpenSMTPD's
 * smtp_client_response()). */
static void session_reply(struct session *s, const struct smtp_reply *r)
{
    switch (s->state) {
    case SESSION_AUTH:
        if (r->code == 334 && !s->cancelled) {
            auth_continue(s, r);
            return;
        }
        auth_done(s, r);
        session_enter(s, SESSION_QUIT);
        return;
    case SESSION_QUIT:
        record_reply(s, PROBE_STAGE_QUIT, r);
        session_close(s);
        return;
    default:
        return;
    }
}

/* A no-reply failure after the connect phase ends the session. */
static void session_broke(struct session *s, enum probe_error error,
                          const char *what)
{
    enum probe_stage stage = session_stage(s);
    if (s->state == SESSION_AUTH && s->mech >= 0)
        s->probe->res.auth[s->mech].error = error;
    probe_fail(s->probe, stage, error, "%s: %s", probe_stage_name(stage),
               what);
    session_close(s);
}

/* Whether the session waits for a reply to a command of its own. */
static bool session_reading(const struct session *s)
{
    return s->state == SESSION_AUTH || s->state == SESSION_QUIT;
}

/* Feeds n bytes to the parser; each complete reply is decided on. */
static void session_parse(struct session *s, const char *chunk, size_t n)
{
    size_t off = 0;
    while (off < n && session_reading(s)) {
        size_t used = 0;
        enum smtp_parse_status st =
            smtp_parser_feed(&s->parser, chunk + off, n - off, &used);
        off += used;
        if (st == SMTP_PARSE_ERROR) {
            char what[96];
            snprintf(what, sizeof(what), "malformed reply: %s",
                     smtp_parser_error(&s->parser));
            session_broke(s, PROBE_ERROR_MALFORMED, what);
            return;
        }
        if (st == SMTP_PARSE_DONE) {
            session_reply(s, &s->parser.reply);
            smtp_parser_reset(&s->parser);
        }
    }
}

/* Reads until curl says EAGAIN; replies are handled as they complete. */
static void session_read(struct session *s)
{
    char chunk[RECV_CHUNK];

    while (session_reading(s)) {
        size_t n = 0;
        CURLcode rc = curl_easy_recv(s->easy, chunk, sizeof(chunk), &n);
        if (rc == CURLE_AGAIN)
            return;
        if (rc != CURLE_OK || n == 0) {
            session_broke(s, PROBE_ERROR_CLOSED,
                          rc != CURLE_OK ? curl_easy_strerror(rc)
                                         : "the server closed the connection");
            return;
        }
        s->received += n;
        if (s->received > SESSION_MAX_RECV) {
            session_broke(s, PROBE_ERROR_MALFORMED,
                          "the server sent too much");
            return;
        }
        session_parse(s, chunk, n);
    }
}

/* curl finished the connect phase of s with rc. */
static void connect_done(struct session *s, CURLcode rc)
{
    struct probe *p = s->probe;

    if (rc != CURLE_OK || s->failed) {
        if (!s->failed)
            connect_failed(s, rc);
        phases_note(s);
        session_close(s);
        return;
    }
    phases_note(s);
    if (s->state != SESSION_READY) {
        enum probe_stage stage = connect_stage(s);
        probe_fail(p, stage, PROBE_ERROR_MALFORMED,
                   "%s: the connect phase ended early",
                   probe_stage_name(stage));
        session_close(s);
        return;
    }
    curl_socket_t sock = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(s->easy, CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK ||
        sock == CURL_SOCKET_BAD) {
        probe_fail(p, PROBE_STAGE_EHLO, PROBE_ERROR_CLOSED,
                   "ehlo: the connection is gone");
        session_close(s);
        return;
    }
    s->sock = sock;
    s->connected = true;
    session_enter(s, session_first_command(s));
    session_read(s);
}

/* ---- sessions and probes ---------------------------------------------- */

static void probe_finish(struct probe *p);
static int session_start(struct probe *p, int mech);

static CURL *easy_new(struct session *s, uint64_t remaining_ms)
{
    const struct target_config *t = &s->probe->target;
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;

    char *ehlo = curl_easy_escape(e, t->ehlo_name, 0);
    bool v6_name = strchr(t->server_name, ':') != NULL;
    bool v6_host = strchr(t->host, ':') != NULL;
    char url[CONFIG_HOST_MAX * 4 + 64];

    snprintf(url, sizeof(url), "%s://%s%s%s:%u/%s",
             t->tls == TLS_MODE_IMPLICIT ? "smtps" : "smtp",
             v6_name ? "[" : "", t->server_name, v6_name ? "]" : "", t->port,
             ehlo ? ehlo : "localhost");
    curl_free(ehlo);

    /* The URL names server_name (SNI and the host check); CONNECT_TO
     * sends the connection to host. */
    if (strcmp(t->server_name, t->host) != 0) {
        char to[CONFIG_HOST_MAX * 2 + 64];
        snprintf(to, sizeof(to), "%s%s%s:%u:%s%s%s:%u", v6_name ? "[" : "",
                 t->server_name, v6_name ? "]" : "", t->port,
                 v6_host ? "[" : "", t->host, v6_host ? "]" : "", t->port);
        s->connect_to = curl_slist_append(NULL, to);
        if (!s->connect_to) {
            curl_easy_cleanup(e);
            return NULL;
        }
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, s->connect_to);
    }

    long ms = remaining_ms > 0 ? (long)remaining_ms : 1;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
    /* Never CURLUSESSL_TRY: on a 454 it would go on in clear. */
    curl_easy_setopt(e, CURLOPT_USE_SSL,
                     t->tls == TLS_MODE_STARTTLS ? (long)CURLUSESSL_ALL
                                                 : (long)CURLUSESSL_NONE);
    /* We verify ourselves (tls.c), so the facts are there whether or not
     * the target enforces them; curl then never loads a CA store. */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
    /* Our deadline, not the cache's age limit, ends an idle session. */
    curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, 86400L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)CONNECT_BUFFER_SIZE);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header_line);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, s);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, s);
    /* Without it, ending a handle mid-DNS joins the resolver thread and
     * stalls every other probe until getaddrinfo returns. */
    curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
    return e;
}

static void session_free(struct session *s)
{
    if (!s)
        return;
    if (s->easy) {
        curl_multi_remove_handle(s->probe->owner->multi, s->easy);
        curl_easy_cleanup(s->easy);
    }
    curl_slist_free_all(s->connect_to);
    sasl_client_free(s->sasl);
    smtp_parser_free(&s->parser);
    buf_wipe(&s->out);
    free(s);
}

/* Starts the session for mechanism index mech (-1: EHLO only). */
static int session_start(struct probe *p, int mech)
{
    uint64_t now = now_mono_ns();
    uint64_t remaining_ms =
        p->deadline > now ? (p->deadline - now) / 1000000u : 0;
    struct session *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->probe = p;
    s->mech = mech;
    s->sock = CURL_SOCKET_BAD;
    smtp_parser_init(&s->parser);
    buf_init(&s->out, 64 * 1024);
    s->easy = easy_new(s, remaining_ms);
    if (!s->easy) {
        session_free(s);
        return -1;
    }
    s->t_start = now_mono_ns();
    /* In the multi handle, curl may call back at any time. */
    session_set_state(s, SESSION_GREETING);
    if (curl_multi_add_handle(p->owner->multi, s->easy) != CURLM_OK) {
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
        session_free(s);
        return -1;
    }
    p->sess = s;
    log_debug("probe", "session start", "target=%s mechanism=%s",
              p->target.name,
              mech >= 0 ? sasl_mech_name(p->target.mechs[mech]) : "-");
    return 0;
}

/*
 * A session is done: free it and start the next one, or finish the
 * probe. Only a session whose connect phase went through leads to the
 * next mechanism: any other failure would meet the next one too.
 */
static void session_advance(struct session *s)
{
    struct probe *p = s->probe;
    bool go_on = s->connected && p->next_mech < p->target.n_mechs;

    p->sess = NULL;
    session_free(s);
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

static void probe_free(struct probe *p)
{
    if (!p)
        return;
    session_free(p->sess);
    redact_free(&p->redact);
    if (p->target.secret) {
        explicit_bzero(p->target.secret, p->target.secret_len);
        free(p->target.secret);
    }
    free(p);
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
    probe_unlink(p);
    log_debug("probe", "probe done", "target=%s success=%d duration=%.3f",
              p->target.name, p->res.success, p->res.duration_seconds);
    if (pr->done)
        pr->done(pr->user, &p->res);
    probe_free(p);
}

/* ---- the prober --------------------------------------------------------- */

struct prober *prober_new(probe_done_fn done, void *user)
{
    struct prober *pr = calloc(1, sizeof(*pr));
    if (!pr)
        return NULL;
    pr->multi = curl_multi_init();
    pr->cas = tls_ca_cache_new();
    if (!pr->multi || !pr->cas) {
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
    tls_ca_cache_free(pr->cas);
    curl_multi_cleanup(pr->multi);
    free(pr->fds);
    free(pr->fd_sessions);
    free(pr);
}

size_t prober_in_flight(const struct prober *pr)
{
    return pr->n_probes;
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

int prober_start(struct prober *pr, const struct target_config *target,
                 uint64_t id)
{
    struct probe *p = calloc(1, sizeof(*p));
    if (!p)
        return -1;
    p->owner = pr;
    p->target = *target;
    p->target.secret = NULL;
    if (target->secret) {
        p->target.secret = malloc(target->secret_len + 1);
        if (!p->target.secret) {
            probe_free(p);
            return -1;
        }
        memcpy(p->target.secret, target->secret, target->secret_len);
        p->target.secret[target->secret_len] = '\0';
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

    int mech = -1;
    if (target->n_mechs > 0)
        mech = (int)p->next_mech++;
    if (session_start(p, mech) < 0) {
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
        struct session *s = p->sess;
        if (!s || s->sock == CURL_SOCKET_BAD || session_in_connect_phase(s))
            continue;
        short ev = CURL_WAIT_POLLIN;
        if (s->out_off < s->out.len)
            ev |= CURL_WAIT_POLLOUT;
        pr->fd_sessions[k] = s;
        pr->fds[k++] = (struct curl_waitfd){s->sock, ev, 0};
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

/*
 * Past their deadline: sessions of ours time out now; curl's own connect
 * phase has the same deadline as its timeout, and gets one second of
 * grace before we stop it ourselves.
 */
static void deadlines_check(struct prober *pr)
{
    uint64_t now = now_mono_ns();
    struct probe *p = pr->probes;
    while (p) {
        struct probe *next = p->next;
        struct session *s = p->sess;
        if (s && now >= p->deadline) {
            if (!session_in_connect_phase(s)) {
                /* A reply that came in time but was not read yet counts. */
                session_read(s);
                if (s->state != SESSION_DONE) {
                    probe_timeout(p, session_stage(s));
                    session_broke(s, PROBE_ERROR_TIMEOUT, "");
                }
            } else if (now >= p->deadline + CURL_GRACE_NS) {
                probe_timeout(p, connect_stage(s));
                phases_note(s);
                session_close(s);
            }
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
        if (p->sess && p->sess->state == SESSION_DONE)
            session_advance(p->sess);
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
        struct session *s = pr->fd_sessions[i];
        if (!s) {
            woken = 1;
            continue;
        }
        if (s->state == SESSION_DONE)
            continue;
        if ((w->revents & CURL_WAIT_POLLOUT) && !session_flush(s)) {
            session_close(s);
            continue;
        }
        session_read(s);
    }

    int running = 0;
    mc = curl_multi_perform(pr->multi, &running);
    if (mc != CURLM_OK)
        return -1;

    int left = 0;
    for (CURLMsg *msg = curl_multi_info_read(pr->multi, &left); msg;
         msg = curl_multi_info_read(pr->multi, &left)) {
        if (msg->msg != CURLMSG_DONE)
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
