/* probe: SMTP probes as state machines over one curl multi handle. */
#ifndef PROBE_H
#define PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "check.h"
#include "classify.h"
#include "config.h"
#include "sasl.h"
#include "smtp_reply.h"
#include "tls.h"

/* Phases timed from the stamps of the reply lines: the `phase` label. */
enum probe_phase {
    PROBE_PHASE_RESOLVE,  /* the name to addresses (~0 for an address) */
    PROBE_PHASE_CONNECT,  /* resolved -> TCP connected */
    PROBE_PHASE_TLS,      /* tls = implicit: connected -> handshake done */
    PROBE_PHASE_BANNER,   /* connected (implicit TLS: handshaken) ->
                             greeting complete */
    PROBE_PHASE_EHLO,     /* greeting -> EHLO reply complete */
    PROBE_PHASE_STARTTLS, /* tls = starttls: first EHLO reply -> EHLO
                             reply after TLS (the STARTTLS command, the
                             handshake, the second EHLO) */
    PROBE_PHASE_AUTH,     /* AUTH sent -> final reply */
    PROBE_PHASE_COUNT
};

const char *probe_phase_name(enum probe_phase phase);

/*
 * A probe the agent itself could not carry out, because one of its own
 * resources ran out: such a result says nothing about the target and
 * must never be counted as the target's failure.
 */
enum probe_fault {
    PROBE_FAULT_NONE,
    PROBE_FAULT_FILE_DESCRIPTORS, /* EMFILE, ENFILE */
    PROBE_FAULT_MEMORY,           /* ENOMEM, ENOBUFS, an allocation */
    PROBE_FAULT_COUNT
};

/* "file_descriptors", "memory": the `resource` label. */
const char *probe_fault_name(enum probe_fault fault);

#define PROBE_TEXT_MAX 256
/* The longest IPv4 or IPv6 address in text (INET6_ADDRSTRLEN - 1). */
#define PROBE_ADDRESS_MAX 45

/* A final reply as kept in a result: code 0 means none at that stage. */
struct probe_reply {
    int code;
    enum smtp_class cls;
    char enhanced[16];
    char text[PROBE_TEXT_MAX]; /* first line's text, printable ASCII */
    bool withheld; /* text held a form of the secret: REDACT_WITHHELD */
};

/* One AUTH session of a probe: one per configured mechanism. */
struct probe_auth {
    enum sasl_mech mech;
    bool advertised;          /* in the EHLO that preceded AUTH */
    bool attempted;           /* AUTH was sent */
    struct probe_reply reply; /* final reply to AUTH; code 0 = none */
    enum probe_error error;   /* no-reply failure in this session */
    double seconds;           /* AUTH sent -> final reply */
    /* Not SASL_STEP_OK: the agent could not answer a challenge and
     * cancelled the exchange itself ("*"), for this reason; the reply
     * then answers the cancellation (RFC 4954: 501). */
    enum sasl_step_error cancelled;
    /* XOAUTH2, OAUTHBEARER: the status of the JSON error the server
     * sent in a 334 before its final reply ("401", "invalid_token"), ""
     * when none came ("withheld" if it held a form of the secret). */
    char oauth_status[SASL_OAUTH_STATUS_MAX + 1];
};

/* A refusal check the target configured (check.h): its verdict, and the
 * reply that decided it (code 0: none, e.g. no AUTH advertised). */
struct probe_check_result {
    bool configured;
    enum check_verdict verdict;
    int code;
    /* What decided it, or why it did not run: "RCPT TO:<x@example.net>:
     * 554 5.7.1 ..."; server text redacted as every reply's. */
    char detail[PROBE_TEXT_MAX];
};

/*
 * Everything one probe of a target observed. A probe runs one session
 * (EHLO only) or one session per configured mechanism, one after the
 * other within the target's timeout; a session that fails before AUTH
 * ends the probe. Phases come from the first session; the TLS facts
 * cover every session that made TLS (see tls_sessions); replies[s] is
 * the first non-success final reply at stage s over all sessions, else
 * the last one.
 */
struct probe_result {
    char target[CONFIG_TARGET_NAME_MAX + 1];
    uint64_t id; /* as given to prober_start */
    /* Not NONE: the agent failed, not the target; detail says how, and
     * nothing else in the result is to be shown or counted. */
    enum probe_fault fault;
    bool success;           /* every expected reply came */
    enum probe_stage stage; /* the stage where it failed, or QUIT */
    enum probe_error error; /* PROBE_ERROR_NONE or the no-reply failure */
    char detail[192];       /* a one-line note for logs and pages */
    /* 1-based index into auth[] when detail only quotes that session's
     * final reply ("AUTH PLAIN: 535 ..."), 0 otherwise: a reader that
     * shows the AUTH rows need not print it twice. */
    unsigned detail_auth;
    struct probe_reply replies[PROBE_STAGE_COUNT];
    double phase_seconds[PROBE_PHASE_COUNT]; /* < 0: not reached */
    double duration_seconds;
    double start_time; /* unix time, seconds */
    /* The address that answered: the one the first session's TCP
     * connection reached (of all the addresses host resolved to), "" when
     * it reached none; ip_protocol its family, 4 or 6 (0: none). */
    char address[PROBE_ADDRESS_MAX + 1];
    unsigned ip_protocol;
    bool ehlo_seen;
    struct smtp_ehlo ehlo;     /* the last EHLO (after TLS when STARTTLS) */
    bool ehlo_withheld;        /* an EHLO keyword held a form of the secret */
    bool tls_subject_withheld; /* so did a certificate's subject */
    bool ehlo_pre_tls_auth;    /* the first EHLO advertised AUTH */
    /*
     * TLS over every session (behind a load balancer each may reach
     * another backend): tls.valid only if every session's certificate
     * was, tls.not_after the earliest, version, cipher and subject the
     * first session's; tls.verified_not_after the earliest while every
     * session's chain verified, else 0; the leaf's notAfter the earliest,
     * its notBefore the latest, issuer, serial and fingerprint the first
     * session's; tls.problem, when a later session made it
     * invalid, starts "session 2 of 3 (LOGIN): ". tls_odd is the first
     * session (1-based, by mechanism) whose certificate or validity
     * differed from the first's, 0 when none did, and tls_odd_facts that
     * session's own facts.
     */
    struct tls_facts tls;
    unsigned tls_sessions;
    unsigned tls_odd;
    struct tls_facts tls_odd_facts;
    size_t n_auth;
    struct probe_auth auth[CONFIG_MAX_MECHS];
    /* Every final reply of every session, in order: what
     * smtp_replies_total counts. At most six a session (greeting, EHLO,
     * STARTTLS, EHLO after TLS, AUTH, QUIT). */
    size_t n_seen;
    struct probe_seen {
        enum probe_stage stage;
        int code;
    } seen[CONFIG_MAX_MECHS * 6];
    /* The refusal checks. Their sessions come after the others and never
     * make the probe fail: their replies are here only, not in replies[]
     * or seen[]. */
    struct probe_check_result checks[CHECK_COUNT];
};

struct prober;

/* Called from prober_run() for every finished probe. */
typedef void (*probe_done_fn)(void *user, const struct probe_result *r);

/* One multi handle for every probe. NULL when out of memory. */
struct prober *prober_new(probe_done_fn done, void *user);
/* Ends in-flight probes without calling done; NULL is a no-op. */
void prober_free(struct prober *p);

/*
 * Starts probing target now. The target is copied (its secret too, wiped
 * when the probe ends), so the config may be freed meanwhile. id comes
 * back in the result. 0, or -1 when out of memory.
 */
int prober_start(struct prober *p, const struct target_config *target,
                 uint64_t id);

/*
 * prober_start() keeping a transcript in trace (not owned; it must
 * outlive the probe, until done is called): every command and reply,
 * what curl says of the connection, AUTH's messages withheld and every
 * line that holds a form of the secret withheld whole.
 */
int prober_start_traced(struct prober *p, const struct target_config *target,
                        uint64_t id, struct buf *trace);

/*
 * Waits up to timeout_ms for network activity or for wake_fd (-1 for
 * none) to become readable, then moves every probe on, calling done for
 * those that finished (a deadline passing finishes a probe too). Returns
 * 1 when wake_fd is readable, 0 otherwise, -1 on a failure of curl's
 * multi interface itself.
 */
int prober_run(struct prober *p, int timeout_ms, int wake_fd);

size_t prober_in_flight(const struct prober *p);
/* Tests: probes and sessions the prober has allocated, ever (a freed one
 * is kept for the next). */
unsigned long prober_allocations(const struct prober *p);

/*
 * A reload shortened the timeout of the target whose probe has this id:
 * a probe of it in flight ends at t0 + timeout_ms when that comes sooner
 * than its deadline (curl's connect phase gets its second of grace as
 * ever). A longer timeout applies from the next probe. 1 when such a
 * probe was in flight, else 0.
 */
int prober_shorten_timeout(struct prober *p, uint64_t id, uint64_t timeout_ms);

/* Drops the cached CA stores (after a reload, files may have changed). */
void prober_flush_ca(struct prober *p);

#endif
