/* probe_session: a session of a probe: its state, and after curl's
 * connect phase (probe_connect.c) the commands we send ourselves, AUTH
 * and QUIT, with the replies they get. */
#include "probe_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "log.h"
#include "now.h"
#include "redact.h"

#define RECV_CHUNK 4096
/* Bytes a session may read after the connect phase: with the parser's
 * own limits this bounds what a hostile server can make us do. */
#define SESSION_MAX_RECV (1024 * 1024)

/* ---- the state ---------------------------------------------------------- */

static const char *const session_state_names[] = {
    [SESSION_NEW] = "new",     [SESSION_GREETING] = "greeting",
    [SESSION_EHLO] = "ehlo",   [SESSION_STARTTLS] = "starttls",
    [SESSION_TLS] = "tls",     [SESSION_EHLO_TLS] = "ehlo_tls",
    [SESSION_READY] = "ready", [SESSION_AUTH] = "auth",
    [SESSION_QUIT] = "quit",   [SESSION_CHECK_AUTH] = "check_auth",
    [SESSION_MAIL] = "mail",   [SESSION_RCPT] = "rcpt",
    [SESSION_RSET] = "rset",   [SESSION_DONE] = "done",
};
_Static_assert(sizeof session_state_names / sizeof session_state_names[0] ==
                   SESSION_STATE_COUNT,
               "a name for every session state");

static const char *session_state_name(enum session_state st)
{
    if ((unsigned)st >= SESSION_STATE_COUNT || !session_state_names[st])
        return "unknown";
    return session_state_names[st];
}

void session_set_state(struct session *s, enum session_state next)
{
    unsigned of;
    if (next == s->state)
        return;
    log_debug("probe", "state", "target=%s session=%u from=%s to=%s",
              s->probe->target.name,
              probe_session_number(s->probe, s->mech, &of),
              session_state_name(s->state), session_state_name(next));
    s->state = next;
}

bool session_in_connect_phase(const struct session *s)
{
    return s->state <= SESSION_READY;
}

void session_close(struct session *s)
{
    session_set_state(s, SESSION_DONE);
}

bool session_done(const struct session *s)
{
    return s->state == SESSION_DONE;
}

bool session_went_through(const struct session *s)
{
    return s->connected;
}

/* ---- after the connect phase: our own commands ------------------------ */

/* The stage of the command the session sent itself. */
static enum probe_stage session_stage(const struct session *s)
{
    return s->state == SESSION_QUIT ? PROBE_STAGE_QUIT : PROBE_STAGE_AUTH;
}

/* The command being answered, in words: the stage's name, or a check
 * session's own command. */
static const char *session_step_name(const struct session *s)
{
    switch (s->state) {
    case SESSION_CHECK_AUTH:
        return "AUTH before STARTTLS";
    case SESSION_MAIL:
        return "MAIL FROM";
    case SESSION_RCPT:
        return "RCPT TO";
    case SESSION_RSET:
        return "RSET";
    default:
        return probe_stage_name(session_stage(s));
    }
}

enum tls_mode session_tls_mode(const struct session *s)
{
    if (s->check == CHECK_AUTH_BEFORE_TLS)
        return TLS_MODE_NONE;
    return s->probe->target.tls;
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
            probe_fail(s->probe, session_stage(s), PROBE_ERROR_CLOSED,
                       "%s: sending failed: %s", session_step_name(s),
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

/*
 * The transcript's line for a command we send. In AUTH only the command
 * and the mechanism show, and the agent's cancel ("*"): every SASL
 * message (initial response, answers to 334) is withheld whatever it
 * holds, the user name included, so that no form of the secret can pass
 * (a CRAM-MD5 digest, a token).
 */
static void session_trace_sent(struct session *s, const struct buf *line)
{
    if (!s->probe->trace)
        return;
    const char *d = line->data;
    size_t len = line->len;
    while (len && (d[len - 1] == '\n' || d[len - 1] == '\r'))
        len--;
    char shown[96];
    if (len >= 5 && memcmp(d, "AUTH ", 5) == 0) {
        const char *sp = memchr(d + 5, ' ', len - 5);
        size_t mech = sp ? (size_t)(sp - d) : len;
        snprintf(shown, sizeof(shown), "%.*s%s", (int)(mech > 40 ? 40 : mech),
                 d, sp ? " [initial response withheld]" : "");
        probe_trace(s->probe, "C:", shown, strlen(shown));
    } else if (s->state == SESSION_AUTH && !(len == 1 && d[0] == '*')) {
        snprintf(shown, sizeof(shown), "[SASL response withheld]");
        probe_trace(s->probe, "C:", shown, strlen(shown));
    } else {
        probe_trace(s->probe, "C:", d, len);
    }
}

/* Queues one command line; secret = it carries a form of the secret,
 * whose base64 token is then remembered for the redaction of every later
 * reply of the probe, whatever its session. */
static int session_queue(struct session *s, const struct buf *line,
                         bool secret)
{
    if (buf_append(&s->out, line->data, line->len) < 0)
        return -1;
    session_trace_sent(s, line);
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
    /* OAUTHBEARER names the server as the client knows it: the name
     * its certificate was checked against. */
    const char *server =
        t->server_name && t->server_name[0] ? t->server_name : t->host;
    if (!s->sasl || sasl_client_set_server(s->sasl, server, t->port) < 0 ||
        sasl_client_start(s->sasl, &line) < 0 ||
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

/* A check session's command line, head arg tail and CRLF; false when it
 * could not be sent (the session is closed then). */
static bool check_send(struct session *s, const char *head, const char *arg,
                       const char *tail)
{
    struct buf line;
    bool ok = true;
    buf_init(&line, 512);
    if (buf_puts(&line, head) < 0 || buf_puts(&line, arg) < 0 ||
        buf_puts(&line, tail) < 0 || buf_puts(&line, "\r\n") < 0 ||
        session_queue(s, &line, false) < 0) {
        probe_fault(s->probe, PROBE_FAULT_MEMORY, "sending a check", ENOMEM);
        ok = false;
    } else if (!session_flush(s)) {
        ok = false;
    }
    buf_free(&line);
    if (!ok)
        session_close(s);
    return ok;
}

/*
 * AUTH PLAIN before STARTTLS with dummy credentials (check.h): never the
 * target's user or secret, so nothing real goes in clear. A secret that
 * happens to be the dummy password is not sent either.
 */
static void check_auth_send(struct session *s)
{
    static const char dummy[] =
        "\0" CHECK_DUMMY_USER "\0" CHECK_DUMMY_PASSWORD;
    const struct target_config *t = &s->probe->target;
    if (t->secret && t->secret_len == strlen(CHECK_DUMMY_PASSWORD) &&
        memcmp(t->secret, CHECK_DUMMY_PASSWORD, t->secret_len) == 0) {
        probe_fail(s->probe, PROBE_STAGE_AUTH, PROBE_ERROR_NONE,
                   "the target's secret is the check's dummy password");
        session_enter(s, SESSION_QUIT);
        return;
    }
    struct buf b64;
    buf_init(&b64, 256);
    if (sasl_base64_encode(dummy, sizeof(dummy) - 1, &b64) < 0) {
        buf_free(&b64);
        probe_fault(s->probe, PROBE_FAULT_MEMORY, "sending a check", ENOMEM);
        session_close(s);
        return;
    }
    check_send(s, "AUTH PLAIN ", buf_str(&b64), "");
    buf_free(&b64);
}

/* Moves to next and sends that state's command (OpenSMTPD's
 * smtp_client_state()). */
static void session_enter(struct session *s, enum session_state next)
{
    const struct probe *p = s->probe;
    session_set_state(s, next);
    switch (s->state) {
    case SESSION_AUTH:
        auth_send(s);
        break;
    case SESSION_QUIT:
        quit_send(s);
        break;
    case SESSION_CHECK_AUTH:
        check_auth_send(s);
        break;
    case SESSION_MAIL:
        check_send(s, "MAIL FROM:<smtp-health-agent@", p->target.ehlo_name,
                   ">");
        break;
    case SESSION_RCPT:
        check_send(s, "RCPT TO:<", p->target.open_relay_rcpt, ">");
        break;
    case SESSION_RSET:
        check_send(s, "RSET", "", "");
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

    if (s->check == CHECK_AUTH_BEFORE_TLS) {
        if (s->tls_up)
            return SESSION_QUIT; /* never: this session makes no TLS */
        if (!s->ehlo.auth) {
            probe_check_verdict(p, CHECK_AUTH_BEFORE_TLS, CHECK_PASSED, NULL,
                                "AUTH not advertised before STARTTLS");
            return SESSION_QUIT;
        }
        return SESSION_CHECK_AUTH;
    }
    if (s->check == CHECK_OPEN_RELAY)
        return SESSION_MAIL;
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
    const char *status = sasl_client_oauth_status(s->sasl);
    if (status[0]) {
        struct probe_auth *a = &s->probe->res.auth[s->mech];
        if (redact_copy(&s->probe->redact, a->oauth_status,
                        sizeof(a->oauth_status), status, strlen(status)))
            snprintf(a->oauth_status, sizeof(a->oauth_status), "withheld");
    }
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
    probe_record_reply(p, s->mech, PROBE_STAGE_AUTH, r);
    sasl_client_free(s->sasl);
    s->sasl = NULL;
}

/*
 * A check session's reply: the verdict, then the next command. AUTH
 * before STARTTLS passes on 530 or 538 only (anything else, 235 and 535
 * too, says the server took credentials in clear). The relay check
 * passes when RCPT TO the outside address gets 5xx (or MAIL FROM did
 * already) and fails on anything else; then RSET and QUIT, never DATA.
 */
static void check_reply(struct session *s, const struct smtp_reply *r)
{
    struct probe *p = s->probe;
    const struct target_config *t = &p->target;
    char what[300];
    switch (s->state) {
    case SESSION_CHECK_AUTH:
        if (r->code == 334 && !s->cancelled) {
            /* It wants more: it took the credentials in clear. Cancel. */
            probe_check_verdict(p, CHECK_AUTH_BEFORE_TLS, CHECK_FAILED, r,
                                "AUTH PLAIN before STARTTLS");
            s->cancelled = true;
            check_send(s, "*", "", "");
            return;
        }
        probe_check_verdict(p, CHECK_AUTH_BEFORE_TLS,
                            r->code == 530 || r->code == 538 ? CHECK_PASSED
                                                             : CHECK_FAILED,
                            r, "AUTH PLAIN before STARTTLS");
        session_enter(s, SESSION_QUIT);
        return;
    case SESSION_MAIL:
        snprintf(what, sizeof(what), "MAIL FROM:<smtp-health-agent@%s>",
                 t->ehlo_name);
        if (r->code >= 200 && r->code < 300) {
            session_enter(s, SESSION_RCPT);
            return;
        }
        if (r->code >= 500 && r->code < 600)
            probe_check_verdict(p, CHECK_OPEN_RELAY, CHECK_PASSED, r, what);
        else
            probe_fail(p, PROBE_STAGE_QUIT, PROBE_ERROR_NONE, "%s: %d", what,
                       r->code);
        session_enter(s, SESSION_QUIT);
        return;
    case SESSION_RCPT:
        snprintf(what, sizeof(what), "RCPT TO:<%s>", t->open_relay_rcpt);
        probe_check_verdict(p, CHECK_OPEN_RELAY,
                            r->code >= 500 && r->code < 600 ? CHECK_PASSED
                                                            : CHECK_FAILED,
                            r, what);
        session_enter(s, SESSION_RSET);
        return;
    case SESSION_RSET:
        session_enter(s, SESSION_QUIT);
        return;
    default:
        return;
    }
}

/* Decides from a complete reply after the connect phase (OpenSMTPD's
 * smtp_client_response()). */
static void session_reply(struct session *s, const struct smtp_reply *r)
{
    probe_trace_reply(s->probe, r);
    if (s->check >= 0 && s->state != SESSION_QUIT) {
        check_reply(s, r);
        return;
    }
    if (s->check >= 0) {
        /* A check's QUIT decides nothing. */
        session_close(s);
        return;
    }
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
        probe_record_reply(s->probe, s->mech, PROBE_STAGE_QUIT, r);
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
    probe_fail(s->probe, stage, error, "%s: %s", session_step_name(s), what);
    session_close(s);
}

/* Whether the session waits for a reply to a command of its own. */
static bool session_reading(const struct session *s)
{
    return s->state >= SESSION_AUTH && s->state < SESSION_DONE;
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

void session_take_over(struct session *s, curl_socket_t sock)
{
    s->sock = sock;
    s->connected = true;
    session_enter(s, session_first_command(s));
    session_read(s);
}

curl_socket_t session_poll(const struct session *s, short *events)
{
    if (s->sock == CURL_SOCKET_BAD || session_in_connect_phase(s))
        return CURL_SOCKET_BAD;
    *events = CURL_WAIT_POLLIN;
    if (s->out_off < s->out.len)
        *events |= CURL_WAIT_POLLOUT;
    return s->sock;
}

void session_io(struct session *s, short revents)
{
    if (s->state == SESSION_DONE)
        return;
    if ((revents & CURL_WAIT_POLLOUT) && !session_flush(s)) {
        session_close(s);
        return;
    }
    session_read(s);
}

/*
 * Past the deadline, a session of ours times out now; curl's own connect
 * phase has the same deadline as its timeout, and gets one second of
 * grace before we stop it ourselves.
 */
void session_deadline(struct session *s, uint64_t now)
{
    struct probe *p = s->probe;

    if (!session_in_connect_phase(s)) {
        /* A reply that came in time but was not read yet counts. */
        session_read(s);
        if (s->state != SESSION_DONE && s->check >= 0) {
            probe_fail(p, session_stage(s), PROBE_ERROR_TIMEOUT,
                       "%s: no reply before the deadline (%g s)",
                       session_step_name(s),
                       (double)p->target.timeout_ms / 1000.0);
            session_broke(s, PROBE_ERROR_TIMEOUT, "");
        } else if (s->state != SESSION_DONE) {
            probe_timeout(p, session_stage(s));
            session_broke(s, PROBE_ERROR_TIMEOUT, "");
        }
    } else if (now >= p->deadline + CURL_GRACE_NS) {
        probe_timeout(p, connect_stage(s));
        connect_phases_note(s);
        session_close(s);
    }
}

/* ---- a session's life --------------------------------------------------- */

void session_free(struct session *s)
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
    prober_session_release(s->probe->owner, s);
}

static int session_begin(struct probe *p, int mech, int check);

int session_start(struct probe *p, int mech)
{
    return session_begin(p, mech, -1);
}

int session_start_check(struct probe *p, enum probe_check c)
{
    return session_begin(p, -1, (int)c);
}

static int session_begin(struct probe *p, int mech, int check)
{
    uint64_t now = now_mono_ns();
    uint64_t remaining_ms =
        p->deadline > now ? (p->deadline - now) / 1000000u : 0;
    struct session *s = prober_session_alloc(p->owner);
    if (!s)
        return -1;
    s->probe = p;
    s->mech = mech;
    s->check = check;
    s->sock = CURL_SOCKET_BAD;
    smtp_parser_init(&s->parser);
    buf_init(&s->out, 64 * 1024);
    s->easy = connect_easy_new(s, remaining_ms);
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
    log_debug("probe", "session start", "target=%s mechanism=%s check=%s",
              p->target.name,
              mech >= 0 ? sasl_mech_name(p->target.mechs[mech]) : "-",
              check >= 0 ? check_name((enum probe_check)check) : "-");
    return 0;
}
