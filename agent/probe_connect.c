/* probe_connect: a session's connect phase, which libcurl runs (DNS,
 * TCP, implicit TLS or STARTTLS, EHLO): every reply line read as curl
 * hands it over, the TLS facts, and where a failed phase stood. */
#include "probe_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "log.h"
#include "now.h"
#include "redact.h"

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

/* ---- TLS: the facts of each connection -------------------------------- */

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
    /* The subject is the server's text too, and so are the issuer and
     * the serial (the server chose its certificate). */
    char *texts[] = {s->tls.subject, s->tls.issuer, s->tls.serial};
    size_t sizes[] = {sizeof(s->tls.subject), sizeof(s->tls.issuer),
                      sizeof(s->tls.serial)};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char copy[sizeof(s->tls.subject)];
        if (sizes[i] > sizeof copy)
            continue; /* cannot be: subject is the largest */
        if (redact_copy(&p->redact, copy, sizes[i], texts[i],
                        strlen(texts[i]))) {
            memcpy(texts[i], copy, sizes[i]);
            p->res.tls_subject_withheld = true;
        }
    }
    /* A check session's certificate is not the probe's. */
    if (s->check < 0)
        probe_tls_merge(p, s->mech, &s->tls);
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
    s->sockets_opened++;
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
    if (p->trace) {
        /* curl's own "verify result" line is dropped (on_debug): it
         * never verifies, the agent does. */
        char what[sizeof(s->tls.problem) + 64];
        snprintf(what, sizeof(what), "certificate %s%s (checked by the agent)",
                 s->tls.valid ? "valid" : "not valid: ",
                 s->tls.valid ? "" : s->tls.problem);
        probe_trace(p, "*", what, strlen(what));
    }
    if (p->target.tls_verify && !s->tls.valid) {
        char who[64];
        probe_session_words(p, s->mech, who, sizeof(who));
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
    if (s->check >= 0)
        return; /* a check session's EHLO is its own */
    p->res.ehlo = s->ehlo;
    p->res.ehlo_seen = true;
}

/* The EHLO reply read in SESSION_EHLO (the first one): what comes next. */
static bool connect_ehlo(struct session *s)
{
    struct probe *p = s->probe;

    if (session_tls_mode(s) != TLS_MODE_STARTTLS) {
        if (s->check < 0)
            probe_check_ehlo(p);
        session_set_state(s, SESSION_READY);
        return true;
    }
    if (s->check < 0)
        p->res.ehlo_pre_tls_auth = s->ehlo.auth;
    if (!s->ehlo.starttls) {
        probe_fail(p, PROBE_STAGE_STARTTLS, PROBE_ERROR_STARTTLS_UNAVAILABLE,
                   "starttls: the server does not offer STARTTLS");
        return false;
    }
    session_set_state(s, SESSION_STARTTLS);
    return true;
}

/* Keeps a reply of the connect phase; true when its class is success. */
static bool reply_ok(struct session *s, enum probe_stage stage,
                     const struct smtp_reply *r)
{
    return probe_record_reply(s->probe, s->mech, stage, r) ==
           SMTP_CLASS_SUCCESS;
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
        if (!reply_ok(s, PROBE_STAGE_GREETING, r))
            return false;
        session_set_state(s, SESSION_EHLO);
        return true;
    case SESSION_EHLO:
        s->t_ehlo = at;
        if (!reply_ok(s, PROBE_STAGE_EHLO, r))
            return false;
        ehlo_keep(s, r);
        return connect_ehlo(s);
    case SESSION_STARTTLS:
        if (!reply_ok(s, PROBE_STAGE_STARTTLS, r))
            return false;
        session_set_state(s, SESSION_TLS);
        return true;
    case SESSION_EHLO_TLS:
        s->t_ehlo_tls = at;
        if (!reply_ok(s, PROBE_STAGE_EHLO, r))
            return false;
        ehlo_keep(s, r); /* capabilities after TLS replace the first */
        if (s->check < 0)
            probe_check_ehlo(s->probe);
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

/*
 * With a transcript: what curl sends in its connect phase (EHLO,
 * STARTTLS; never credentials: curl is given none) and what it says of
 * the connection (address, TLS). Replies come through on_header_line.
 */
static int on_debug(CURL *e, curl_infotype type, char *data, size_t size,
                    void *userp)
{
    (void)e;
    struct session *s = userp;
    const char *who = type == CURLINFO_TEXT         ? "*"
                      : type == CURLINFO_HEADER_OUT ? "C:"
                                                    : NULL;
    /* curl's verify result is always 20 (it does not verify: tls.c
     * does), and its source positions are no news to an operator. */
    if (type == CURLINFO_TEXT &&
        ((size > 8 && memcmp(data, "reached ", 8) == 0) ||
         memmem(data, size, "SSL certificate verify result", 29)))
        return 0;
    /* Several lines in one call are traced one by one. */
    while (who && size) {
        const char *nl = memchr(data, '\n', size);
        size_t len = nl ? (size_t)(nl - data) + 1 : size;
        probe_trace(s->probe, who, data, len);
        data += len;
        size -= len;
    }
    return 0;
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
    probe_trace(p, "S:", data, n);
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

enum probe_stage connect_stage(struct session *s)
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
    enum probe_fault f = probe_fault_of_errno(s->socket_errno);
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
        f = probe_fault_of_errno(e);
        probe_fault(p, f ? f : PROBE_FAULT_MEMORY, "the resolver thread", e);
        return true;
    }
    return false;
}

/* The family of an address literal, IP_FAMILY_AUTO for anything else. */
static enum ip_family address_family(const char *s)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, s, &a4) == 1)
        return IP_FAMILY_IPV4;
    if (inet_pton(AF_INET6, s, &a6) == 1)
        return IP_FAMILY_IPV6;
    return IP_FAMILY_AUTO;
}

/* The family the target's addresses are taken of: ip_family, or under
 * auto that of source_address, when one is set (a socket bound to an
 * IPv4 address cannot reach an IPv6 one). */
static enum ip_family connect_family(const struct target_config *t)
{
    if (t->ip_family != IP_FAMILY_AUTO || !t->source_address[0])
        return t->ip_family;
    return address_family(t->source_address);
}

/*
 * curl connects only to addresses of the probe's family and says only
 * "Couldn't connect to server" when there is none: an address literal
 * of the other family as host, or a name without an address of the
 * family (curl 7.88 resolves it, then skips its addresses). This says
 * which. false when the probe's family was not the cause.
 */
static bool connect_family_mismatch(struct session *s)
{
    const struct target_config *t = &s->probe->target;
    enum ip_family want = connect_family(t);
    enum ip_family host = address_family(t->host);
    const char *why =
        t->ip_family != IP_FAMILY_AUTO ? "ip_family" : "source_address";
    const char *fam = want == IP_FAMILY_IPV6 ? "IPv6" : "IPv4";

    if (want == IP_FAMILY_AUTO || host == want)
        return false;
    if (host != IP_FAMILY_AUTO) {
        probe_fail(s->probe, PROBE_STAGE_CONNECT, PROBE_ERROR_CONNECT,
                   "connect: %s is an %s address, but the probe may only "
                   "use %s (%s)",
                   t->host, host == IP_FAMILY_IPV6 ? "IPv6" : "IPv4", fam,
                   why);
        return true;
    }
    /* A name: only when curl opened no socket, tried no address. */
    if (s->sockets_opened > 0)
        return false;
    probe_fail(s->probe, PROBE_STAGE_CONNECT, PROBE_ERROR_CONNECT,
               "connect: %s has no %s address, and the probe may only use "
               "%s (%s)",
               t->host, fam, fam, why);
    return true;
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
        if (connect_family_mismatch(s))
            return;
        error = PROBE_ERROR_CONNECT;
        stage = PROBE_STAGE_CONNECT;
        break;
    case CURLE_INTERFACE_FAILED:
        /* Not an address of this machine (any more). */
        probe_fail(s->probe, PROBE_STAGE_CONNECT, PROBE_ERROR_CONNECT,
                   "connect: source_address %s: %s",
                   s->probe->target.source_address,
                   s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
        return;
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

/* The address the session's TCP connection reached, and its family. */
static void connect_address_note(struct session *s)
{
    struct probe_result *r = &s->probe->res;
    char *ip = NULL;
    struct in_addr a4;
    struct in6_addr a6;

    if (curl_easy_getinfo(s->easy, CURLINFO_PRIMARY_IP, &ip) != CURLE_OK ||
        !ip || !ip[0] || strlen(ip) > PROBE_ADDRESS_MAX)
        return;
    if (inet_pton(AF_INET, ip, &a4) == 1)
        r->ip_protocol = 4;
    else if (inet_pton(AF_INET6, ip, &a6) == 1)
        r->ip_protocol = 6;
    else
        return;
    snprintf(r->address, sizeof(r->address), "%s", ip);
}

/*
 * curl's times count from the start of the session: NAMELOOKUP when the
 * name was resolved (~0 for an address), CONNECT when TCP was connected.
 * resolve is the first, connect the time between the two.
 */
void connect_phases_note(struct session *s)
{
    struct probe *p = s->probe;
    double *ph = p->res.phase_seconds;
    curl_off_t resolved = 0, connected = 0, handshaken = 0;

    if (p->sess != s || p->next_mech > 1 || s->check >= 0)
        return;
    curl_easy_getinfo(s->easy, CURLINFO_NAMELOOKUP_TIME_T, &resolved);
    curl_easy_getinfo(s->easy, CURLINFO_CONNECT_TIME_T, &connected);
    curl_easy_getinfo(s->easy, CURLINFO_APPCONNECT_TIME_T, &handshaken);

    uint64_t ready = s->t_start + (uint64_t)connected * 1000u;
    /* An address is resolved in well under a microsecond: a connection
     * made says the name was resolved, even at 0. */
    if (resolved > 0 || connected > 0)
        ph[PROBE_PHASE_RESOLVE] = (double)resolved / 1e6;
    if (connected > 0)
        ph[PROBE_PHASE_CONNECT] =
            connected > resolved ? (double)(connected - resolved) / 1e6 : 0;
    /* With implicit TLS curl stamps CONNECT only once TLS is up: a
     * handshake begun says TCP was connected too. */
    if (connected > 0 || s->tls_started)
        connect_address_note(s);
    /* Implicit TLS has a handshake of its own, before the greeting: not
     * STARTTLS's phase, which is a command, a handshake and an EHLO. */
    if (p->target.tls == TLS_MODE_IMPLICIT && handshaken > connected) {
        ph[PROBE_PHASE_TLS] = (double)(handshaken - connected) / 1e6;
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

void connect_done(struct session *s, CURLcode rc)
{
    struct probe *p = s->probe;

    if (rc != CURLE_OK || s->failed) {
        if (!s->failed)
            connect_failed(s, rc);
        connect_phases_note(s);
        session_close(s);
        return;
    }
    connect_phases_note(s);
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
    session_take_over(s, sock);
}

/* ---- the easy handle ---------------------------------------------------- */

CURL *connect_easy_new(struct session *s, uint64_t remaining_ms)
{
    const struct target_config *t = &s->probe->target;
    enum tls_mode tls = session_tls_mode(s);
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;

    char *ehlo = curl_easy_escape(e, t->ehlo_name, 0);
    bool v6_name = strchr(t->server_name, ':') != NULL;
    bool v6_host = strchr(t->host, ':') != NULL;
    char url[CONFIG_HOST_MAX * 4 + 64];

    snprintf(url, sizeof(url), "%s://%s%s%s:%u/%s",
             tls == TLS_MODE_IMPLICIT ? "smtps" : "smtp", v6_name ? "[" : "",
             t->server_name, v6_name ? "]" : "", t->port,
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

    /* "host!": an address, never taken for an interface's name. */
    if (t->source_address[0]) {
        char iface[CONFIG_ADDRESS_MAX + 8];
        snprintf(iface, sizeof(iface), "host!%s", t->source_address);
        curl_easy_setopt(e, CURLOPT_INTERFACE, iface);
    }
    switch (connect_family(t)) {
    case IP_FAMILY_IPV4:
        curl_easy_setopt(e, CURLOPT_IPRESOLVE, (long)CURL_IPRESOLVE_V4);
        break;
    case IP_FAMILY_IPV6:
        curl_easy_setopt(e, CURLOPT_IPRESOLVE, (long)CURL_IPRESOLVE_V6);
        break;
    default:
        curl_easy_setopt(e, CURLOPT_IPRESOLVE, (long)CURL_IPRESOLVE_WHATEVER);
        break;
    }

    long ms = remaining_ms > 0 ? (long)remaining_ms : 1;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
    /* Never CURLUSESSL_TRY: on a 454 it would go on in clear. */
    curl_easy_setopt(e, CURLOPT_USE_SSL,
                     tls == TLS_MODE_STARTTLS ? (long)CURLUSESSL_ALL
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
    if (s->probe->trace) {
        curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug);
        curl_easy_setopt(e, CURLOPT_DEBUGDATA, s);
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    }
    /* Without it, ending a handle mid-DNS joins the resolver thread and
     * stalls every other probe until getaddrinfo returns. */
    curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
    return e;
}
