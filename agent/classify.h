/* classify: (stage, reply code) or a no-reply error -> the class label. */
#ifndef CLASSIFY_H
#define CLASSIFY_H

/*
 * Where a probe stands. The names are the `stage` label of
 * smtp_probe_failures_total, smtp_replies_total and smtp_last_reply_code.
 */
enum probe_stage {
    PROBE_STAGE_CONNECT,
    PROBE_STAGE_GREETING,
    PROBE_STAGE_EHLO,
    PROBE_STAGE_STARTTLS,
    PROBE_STAGE_TLS,
    PROBE_STAGE_AUTH,
    PROBE_STAGE_QUIT,
    /* The bearer token for XOAUTH2 or OAUTHBEARER could not be had
     * (token_file, or the token endpoint of the agent's OAuth2 client):
     * before any connection, and not the SMTP server's failure. */
    PROBE_STAGE_TOKEN,
    PROBE_STAGE_COUNT
};

/*
 * Failures without a reply: the `error` label. PROBE_ERROR_NONE is not a
 * label value; the labels are PROBE_ERROR_NONE + 1 .. PROBE_ERROR_COUNT - 1.
 */
enum probe_error {
    PROBE_ERROR_NONE,
    PROBE_ERROR_DNS,
    PROBE_ERROR_CONNECT,
    PROBE_ERROR_TIMEOUT,
    PROBE_ERROR_TLS_HANDSHAKE,
    PROBE_ERROR_CERTIFICATE,
    PROBE_ERROR_STARTTLS_UNAVAILABLE,
    PROBE_ERROR_CLOSED,
    PROBE_ERROR_MALFORMED,
    PROBE_ERROR_COUNT
};

/* The `class` label, DESIGN.md's class table. */
enum smtp_class {
    SMTP_CLASS_SUCCESS,
    SMTP_CLASS_UNSUPPORTED_PARAMETER,
    SMTP_CLASS_AUTH_FAILED,
    SMTP_CLASS_MECHANISM_TOO_WEAK,
    SMTP_CLASS_ENCRYPTION_REQUIRED,
    SMTP_CLASS_TEMPORARY_FAILURE,
    SMTP_CLASS_SYNTAX_ERROR,
    SMTP_CLASS_BAD_SEQUENCE,
    SMTP_CLASS_NOT_IMPLEMENTED,
    SMTP_CLASS_REJECTED,
    SMTP_CLASS_UNEXPECTED,
    SMTP_CLASS_COUNT
};

/* Label values: "connect", "tls_handshake", "auth_failed", ... */
const char *probe_stage_name(enum probe_stage stage);
const char *probe_error_name(enum probe_error error);
const char *smtp_class_name(enum smtp_class cls);

/* Reverse lookups for --explain and tests: 0, or -1 when unknown. */
int probe_stage_parse(const char *s, enum probe_stage *out);
int probe_error_parse(const char *s, enum probe_error *out);
int smtp_class_parse(const char *s, enum smtp_class *out);

/* The reply code that means success at a stage (220, 250, 220, 235, 221);
 * 0 for stages without a reply of their own (connect, tls). */
int classify_expected_code(enum probe_stage stage);

/*
 * The class of a final reply `code` (100..599) at `stage`. The stage's
 * success code is success; another 2xx or any 3xx is unexpected there (a
 * 334 where a final reply is due included); 4xx is temporary_failure; 5xx
 * by the table, the first digit deciding a code the table does not name
 * (RFC 5321 4.3.2). Codes outside 200..599 are unexpected.
 */
enum smtp_class classify_reply(enum probe_stage stage, int code);

#endif
