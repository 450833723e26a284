/* report: what a probe result means, the one reader every display asks:
 * --once, the status page, the runner's log line. Pure. */
#ifndef REPORT_H
#define REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "catalogue.h"
#include "probe.h"

/*
 * What the runner knows of a target beyond one probe: when a reload last
 * changed its secret (unix time; 0: not since the agent started) and
 * whether an AUTH has succeeded since. All zero: nothing known.
 */
struct report_history {
    double secret_changed_at;
    bool auth_ok_since_secret_change;
};

enum report_state {
    REPORT_PENDING, /* not probed yet (start_time 0) */
    REPORT_OK,
    REPORT_FAILING,     /* the target failed */
    REPORT_AGENT_FAULT, /* the agent could not probe: nothing of the target */
    REPORT_STATE_COUNT
};

/* The state alone, without the cost of a whole report. */
enum report_state report_state_of(const struct probe_result *r);
/* "pending", "ok", "failing", "agent_fault". */
const char *report_state_name(enum report_state state);

/* A buffer for report_note() with room for every note at once, 16
 * mechanism names included; what does not fit is cut. */
#define REPORT_NOTE_MAX 2048

struct report {
    enum report_state state;
    /*
     * The reply that decided the outcome: the failing stage's, QUIT's on
     * success. NULL when there is none, and for a failure without a
     * reply (a timeout, a TLS error): an earlier stage's reply would
     * mislead. Points into the result.
     */
    const struct probe_reply *reply;
    /* The one word for the outcome: "success", the reply's class, the
     * no-reply error's name, "agent:RESOURCE" for a fault, else "-". */
    char outcome[40];
    /* What the failure means (catalogue); NULL on success or fault. */
    const struct catalogue_entry *entry;
    /* The result's detail says more than the AUTH rows already show
     * (it is not only the deciding AUTH session's reply). */
    bool detail_adds;
    /* Certificate days left at `now`, when a certificate was read: until
     * cert_until, the earliest notAfter of the chain that verified
     * (cert_verified), else of the chain presented (what the alerts
     * watch, config/ALERTS.md). */
    bool has_cert_days;
    double cert_days_left;
    bool cert_verified;
    int64_t cert_until;
    /* What this probe showed about the failure, or what the operator can
     * do about the agent's fault; "" when nothing. Server text appears
     * only as the probe kept it (printable ASCII): escape it for HTML. */
    char note[REPORT_NOTE_MAX];
};

/*
 * Fills out from r as seen at unix time now; h may be NULL (nothing
 * known beyond the probe).
 */
void report_make(struct report *out, const struct probe_result *r,
                 const struct report_history *h, double now);

/* The entry that explains a failed probe: its no-reply error, or the
 * failing reply at its stage ("no_mechanism" for Postfix's 535 "no
 * mechanism available" to AUTH). NULL for a success, a fault, or NULL. */
const struct catalogue_entry *report_entry(const struct probe_result *r);

/*
 * The note of a failed probe, or "" when there is none, e.g.: a 504 or
 * 535 to a mechanism that EHLO did not advertise names the ones it did;
 * Postfix's "535 5.7.8 ... no mechanism available" is a mechanism
 * problem, not a password problem; AUTH advertised only after STARTTLS;
 * a 535 after a reload changed the password (h) and no AUTH has
 * succeeded since. h may be NULL.
 */
void report_note(const struct probe_result *r, const struct report_history *h,
                 char *buf, size_t n);

/* The first configured refusal check (check.h) that failed, or -1. A
 * failed check makes the state failing though the probe succeeded. */
int report_failed_check(const struct probe_result *r);
/* The catalogue's entry of a check ("check_open_relay"). */
const struct catalogue_entry *report_check_entry(enum probe_check c);

/* Days from now until the unix time not_after, as every reader shows a
 * certificate's remaining life. */
double report_days_left(double not_after, double now);

#endif
