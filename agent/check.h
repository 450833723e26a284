/* check: the refusal checks a target may opt in to (names, verdicts),
 * require_ehlo's syntax and its verdict on an EHLO; pure. */
#ifndef CHECK_H
#define CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp_reply.h"

/* The `check` label of smtp_check_success: each check a target may
 * configure (expect_auth_before_tls, expect_open_relay, require_ehlo). */
enum probe_check {
    CHECK_AUTH_BEFORE_TLS, /* AUTH before STARTTLS gets 530/538 */
    CHECK_OPEN_RELAY,      /* RCPT TO an outside address without AUTH: 5xx */
    CHECK_EHLO,            /* require_ehlo's keywords and SIZE advertised */
    CHECK_COUNT
};

/* "auth_before_tls", "open_relay", "ehlo". */
const char *check_name(enum probe_check c);

/* What a probe made of a configured check. */
enum check_verdict {
    CHECK_NOT_RUN, /* the probe did not get that far, or it broke off */
    CHECK_PASSED,
    CHECK_FAILED,
    CHECK_VERDICT_COUNT
};

/* "not_run", "passed", "failed". */
const char *check_verdict_name(enum check_verdict v);

/* The recipient of the open-relay check unless open_relay_rcpt says
 * otherwise: example.net is reserved (RFC 2606), never a real mailbox. */
#define CHECK_DEFAULT_RELAY_RCPT "smtp-health-agent-relay-test@example.net"

/* The dummy credentials of the AUTH before STARTTLS check: a
 * syntactically valid AUTH PLAIN (authzid empty, this user, this
 * password), never the target's own. */
#define CHECK_DUMMY_USER     "smtp-health-agent-check"
#define CHECK_DUMMY_PASSWORD "not-a-password"

/* The words of require_ehlo: keywords [A-Za-z0-9][A-Za-z0-9-]* (at most
 * SMTP_EHLO_KEYWORD_MAX characters) and SIZE>=N (N a whole number of
 * bytes), separated by blanks or commas; at most CHECK_EHLO_MAX_WORDS.
 * 0, or -1 with why in dst (n bytes). */
#define CHECK_EHLO_MAX_WORDS 16
int check_ehlo_parse(const char *value, char *why, size_t n);

/*
 * require_ehlo's verdict on an EHLO (value as check_ehlo_parse()
 * accepted it): true when every keyword is advertised (any case) and,
 * for SIZE>=N, SIZE is advertised with 0 (no limit) or at least N bytes.
 * dst (n bytes) gets what is missing ("SMTPUTF8; SIZE 10240000 <
 * 10485760"), or "" when nothing is.
 */
bool check_ehlo_eval(const char *value, const struct smtp_ehlo *e, char *dst,
                     size_t n);

/* The recipient's syntax for open_relay_rcpt: local@domain, printable
 * ASCII without blanks, <, > or a second @; at most 254 bytes. */
bool check_valid_rcpt(const char *s);

#endif
