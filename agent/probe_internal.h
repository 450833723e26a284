/* probe_internal: what the probe's three files share, and no one else. */
#ifndef PROBE_INTERNAL_H
#define PROBE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "buf.h"
#include "probe.h"
#include "redact.h"

/*
 * A probe is one or more sessions, one after the other. In a session
 * libcurl does the connect phase (DNS, TCP, implicit TLS or STARTTLS,
 * EHLO) with CONNECT_ONLY and no user name, handing us every reply line
 * through the header callback; we then send AUTH and QUIT ourselves with
 * curl_easy_send/recv, keeping our own deadline. That way every reply the
 * server sends is seen as it was sent, 504 included.
 *
 *   probe.c          the prober: the multi loop, deadlines, probes one
 *                    session after the other, and the result they fill
 *   probe_connect.c  a session's connect phase, which curl runs
 *   probe_session.c  a session's state, and the commands we send
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
    /* A check session's own commands (check.h): */
    SESSION_CHECK_AUTH, /* the dummy AUTH PLAIN sent before STARTTLS */
    SESSION_MAIL,       /* MAIL FROM sent, without AUTH */
    SESSION_RCPT,       /* RCPT TO an outside address sent */
    SESSION_RSET,       /* RSET sent: never DATA */
    SESSION_DONE,       /* prober_run() frees it and moves its probe on */
    SESSION_STATE_COUNT
};

/* How long curl's connect phase may overrun the deadline that it was
 * given as its own timeout before we stop it: see session_deadline(). */
#define CURL_GRACE_NS 1000000000u

struct session {
    struct probe *probe;
    struct session *next_spare; /* in its prober's spares */
    CURL *easy;
    curl_socket_t sock;
    enum session_state state;
    int mech;         /* index into the target's mechanisms, -1 for none */
    int check;        /* enum probe_check of a check session, -1 for none */
    int socket_errno; /* why socket() failed in on_open_socket(), or 0 */
    unsigned sockets_opened; /* addresses curl tried (on_open_socket()) */
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
    /* What target's strings point at: a reload may free the config's
     * while the probe runs. */
    char name[CONFIG_TARGET_NAME_MAX + 1];
    char host[CONFIG_HOST_MAX + 1];
    char ca_file[CONFIG_PATH_MAX + 1];
    char server_name[CONFIG_HOST_MAX + 1];
    char ehlo_name[CONFIG_HOST_MAX + 1];
    char username[CONFIG_HOST_MAX + 1];
    char source_address[CONFIG_ADDRESS_MAX + 1];
    char token_file[CONFIG_PATH_MAX + 1];
    char require_ehlo[CONFIG_HOST_MAX + 1];
    char relay_rcpt[256];
    /* Every form of the secret and every token any session of the probe
     * sent: server text that holds one is withheld (redact.h). */
    struct redactor redact;
    uint64_t t0, deadline; /* CLOCK_MONOTONIC ns */
    struct probe_result res;
    struct tls_facts first_tls; /* the first TLS session's own facts */
    bool failed;
    size_t next_mech;
    int next_check; /* the next enum probe_check to consider */
    struct session *sess;
    /* token_url: the probe waits for the OAuth2 client's token (no
     * session yet); oauth.c calls probe_token_ready() or it times out. */
    bool waiting_token;
    /* /probe?debug=true: the transcript, every line redacted; NULL
     * otherwise (not owned). */
    struct buf *trace;
};

struct prober {
    CURLM *multi;
    probe_done_fn done;
    void *user;
    struct probe *probes;
    size_t n_probes;
    struct tls_ca_cache *cas;
    struct oauth_cache *oauth; /* the OAuth2 client's tokens, shared */
    struct curl_waitfd *fds;
    struct session **fd_sessions; /* the session behind each fds[i] */
    size_t fds_cap;
    /* Freed probes and sessions, kept for the next ones (at most
     * PROBER_SPARES of each): a probe costs no allocation of ours at a
     * steady rate. */
    struct probe *spare_probes;
    size_t n_spare_probes;
    struct session *spare_sessions;
    size_t n_spare_sessions;
    unsigned long allocations; /* probes and sessions, ever: tests */
};

#define PROBER_SPARES 32

/* A zeroed session, a spare or new; NULL when out of memory. */
struct session *prober_session_alloc(struct prober *pr);
/* Keeps s (its resources freed, its secrets wiped) as a spare, or frees
 * it. */
void prober_session_release(struct prober *pr, struct session *s);

static inline double ns_to_s(uint64_t ns)
{
    return (double)ns / 1e9;
}

/* ---- probe.c: what a session saw, into its probe's result ------------- */

/* The first failure decides the probe's stage, error and detail. */
void probe_fail(struct probe *p, enum probe_stage stage,
                enum probe_error error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A timeout at stage: "ehlo: no reply to EHLO before the deadline (2 s)". */
void probe_timeout(struct probe *p, enum probe_stage stage);
/* Which of the agent's own resources an errno says ran out, or NONE. */
enum probe_fault probe_fault_of_errno(int e);
/* The agent itself could not go on (see probe_fault in probe.h); what
 * says where, e.g. "socket()". */
void probe_fault(struct probe *p, enum probe_fault fault, const char *what,
                 int err);
/* Keeps a final reply of the session of mechanism index mech (-1: none)
 * and returns its class; any class but success fails the probe. */
enum smtp_class probe_record_reply(struct probe *p, int mech,
                                   enum probe_stage stage,
                                   const struct smtp_reply *r);
/* With a transcript: one line of it, "  0.012 S: 220 ..." (who: "S:" the
 * server, "C:" the agent, "*" a note), text made printable and withheld
 * whole when it holds a form of the secret. A no-op without one. */
void probe_trace(struct probe *p, const char *who, const char *text,
                 size_t len);
/* A complete reply, one transcript line per reply line. */
void probe_trace_reply(struct probe *p, const struct smtp_reply *r);
/* Adds one session's certificate facts to the probe's. */
void probe_tls_merge(struct probe *p, int mech, const struct tls_facts *f);
/* The CA store of the probe's CA file, from the prober's cache; NULL
 * when out of memory. */
const struct tls_ca *probe_ca(struct probe *p);
/* Which session the one of mechanism index mech is, 1-based, of how
 * many. */
unsigned probe_session_number(const struct probe *p, int mech, unsigned *of);
/* "session 2 of 3 (LOGIN)", or "" for a probe of one session. */
const char *probe_session_words(const struct probe *p, int mech, char *dst,
                                size_t n);

/* ---- probe.c: the refusal checks (check.h) ------------------------------ */

/* A check's verdict, the first one only; r (NULL: none) the reply that
 * decided it, quoted after what (e.g. "RCPT TO:<x@example.net>"), its
 * text redacted. */
void probe_check_verdict(struct probe *p, enum probe_check c,
                         enum check_verdict v, const struct smtp_reply *r,
                         const char *what);
/* require_ehlo's verdict on the EHLO a probe's own session kept (after
 * TLS with STARTTLS). */
void probe_check_ehlo(struct probe *p);

/* ---- probe_session.c: a session, its state and our own commands ------- */

/* Starts the session for mechanism index mech (-1: EHLO only) as
 * p->sess. 0, or -1 when out of memory. */
int session_start(struct probe *p, int mech);
/* Starts the session of check c (-1 mech) as p->sess; as session_start. */
int session_start_check(struct probe *p, enum probe_check c);
/* The TLS a session makes: the target's, but none for the AUTH before
 * STARTTLS check. */
enum tls_mode session_tls_mode(const struct session *s);
/* NULL is a no-op. */
void session_free(struct session *s);
/* The one way a session's state changes; each change is traced. */
void session_set_state(struct session *s, enum session_state next);
/* The states in which curl runs the connection. */
bool session_in_connect_phase(const struct session *s);
/* Ends a session: prober_run() frees it afterwards and moves its probe
 * on, so no caller ever holds a freed session. */
void session_close(struct session *s);
bool session_done(const struct session *s);
/* The connect phase went through: the next mechanism may be tried. */
bool session_went_through(const struct session *s);
/* curl handed the connection over (sock): the session goes on with our
 * own commands. */
void session_take_over(struct session *s, curl_socket_t sock);
/* The socket to poll and for what, once the connection is ours;
 * CURL_SOCKET_BAD while curl has it (curl polls it then). */
curl_socket_t session_poll(const struct session *s, short *events);
/* The poll said revents of the session's socket. */
void session_io(struct session *s, short revents);
/* The probe's deadline has passed (now). */
void session_deadline(struct session *s, uint64_t now);

/* ---- probe_connect.c: the connect phase, which curl runs -------------- */

/* The easy handle of a session, with remaining_ms for the connect phase;
 * NULL when out of memory. */
CURL *connect_easy_new(struct session *s, uint64_t remaining_ms);
/* curl finished the connect phase of s with rc. */
void connect_done(struct session *s, CURLcode rc);
/* Where a connect phase that curl ended stood. */
enum probe_stage connect_stage(struct session *s);
/* The phases of the probe's first session, from the reply stamps. */
void connect_phases_note(struct session *s);

#endif
