/* classify: (stage, reply code) or a no-reply error -> the class label. */
#include "classify.h"

#include <stddef.h>
#include <strings.h>

static const char *const stage_names[] = {
    [PROBE_STAGE_CONNECT] = "connect", [PROBE_STAGE_GREETING] = "greeting",
    [PROBE_STAGE_EHLO] = "ehlo",       [PROBE_STAGE_STARTTLS] = "starttls",
    [PROBE_STAGE_TLS] = "tls",         [PROBE_STAGE_AUTH] = "auth",
    [PROBE_STAGE_QUIT] = "quit",       [PROBE_STAGE_TOKEN] = "token",
};

static const char *const error_names[] = {
    [PROBE_ERROR_NONE] = "none",
    [PROBE_ERROR_DNS] = "dns",
    [PROBE_ERROR_CONNECT] = "connect",
    [PROBE_ERROR_TIMEOUT] = "timeout",
    [PROBE_ERROR_TLS_HANDSHAKE] = "tls_handshake",
    [PROBE_ERROR_CERTIFICATE] = "certificate",
    [PROBE_ERROR_STARTTLS_UNAVAILABLE] = "starttls_unavailable",
    [PROBE_ERROR_CLOSED] = "closed",
    [PROBE_ERROR_MALFORMED] = "malformed",
};

static const char *const class_names[] = {
    [SMTP_CLASS_SUCCESS] = "success",
    [SMTP_CLASS_UNSUPPORTED_PARAMETER] = "unsupported_parameter",
    [SMTP_CLASS_AUTH_FAILED] = "auth_failed",
    [SMTP_CLASS_MECHANISM_TOO_WEAK] = "mechanism_too_weak",
    [SMTP_CLASS_ENCRYPTION_REQUIRED] = "encryption_required",
    [SMTP_CLASS_TEMPORARY_FAILURE] = "temporary_failure",
    [SMTP_CLASS_SYNTAX_ERROR] = "syntax_error",
    [SMTP_CLASS_BAD_SEQUENCE] = "bad_sequence",
    [SMTP_CLASS_NOT_IMPLEMENTED] = "not_implemented",
    [SMTP_CLASS_REJECTED] = "rejected",
    [SMTP_CLASS_UNEXPECTED] = "unexpected",
};

/* A value added to an enum without its name here fails to compile,
 * instead of reading as NULL or as another value's name. */
_Static_assert(sizeof stage_names / sizeof stage_names[0] == PROBE_STAGE_COUNT,
               "a name for every stage");
_Static_assert(sizeof error_names / sizeof error_names[0] == PROBE_ERROR_COUNT,
               "a name for every error");
_Static_assert(sizeof class_names / sizeof class_names[0] == SMTP_CLASS_COUNT,
               "a name for every class");

/* Indexes come from callers' enums, which may hold anything: never index
 * a table with an unchecked value. */
static const char *table_name(const char *const *names, size_t n, int i)
{
    if (i < 0 || (size_t)i >= n)
        return "unknown";
    return names[i];
}

/* Case-insensitive, since --explain takes what a person types. */
static int table_parse(const char *const *names, size_t n, const char *s)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(names[i], s) == 0)
            return (int)i;
    }
    return -1;
}

const char *probe_stage_name(enum probe_stage stage)
{
    return table_name(stage_names, PROBE_STAGE_COUNT, (int)stage);
}

const char *probe_error_name(enum probe_error error)
{
    return table_name(error_names, PROBE_ERROR_COUNT, (int)error);
}

const char *smtp_class_name(enum smtp_class cls)
{
    return table_name(class_names, SMTP_CLASS_COUNT, (int)cls);
}

int probe_stage_parse(const char *s, enum probe_stage *out)
{
    int i = table_parse(stage_names, PROBE_STAGE_COUNT, s);
    if (i < 0)
        return -1;
    *out = (enum probe_stage)i;
    return 0;
}

int probe_error_parse(const char *s, enum probe_error *out)
{
    int i = table_parse(error_names, PROBE_ERROR_COUNT, s);
    if (i < 0)
        return -1;
    *out = (enum probe_error)i;
    return 0;
}

int smtp_class_parse(const char *s, enum smtp_class *out)
{
    int i = table_parse(class_names, SMTP_CLASS_COUNT, s);
    if (i < 0)
        return -1;
    *out = (enum smtp_class)i;
    return 0;
}

int classify_expected_code(enum probe_stage stage)
{
    switch (stage) {
    case PROBE_STAGE_GREETING:
        return 220;
    case PROBE_STAGE_EHLO:
        return 250;
    case PROBE_STAGE_STARTTLS:
        return 220;
    case PROBE_STAGE_AUTH:
        return 235;
    case PROBE_STAGE_QUIT:
        return 221;
    case PROBE_STAGE_CONNECT:
    case PROBE_STAGE_TLS:
    case PROBE_STAGE_TOKEN:
    case PROBE_STAGE_COUNT:
        break;
    }
    return 0;
}

enum smtp_class classify_reply(enum probe_stage stage, int code)
{
    if (code < 200 || code > 599)
        return SMTP_CLASS_UNEXPECTED;
    int expected = classify_expected_code(stage);
    if (expected != 0 && code == expected)
        return SMTP_CLASS_SUCCESS;
    /* A positive reply other than the stage's own, or a 334 where a final
     * reply is due, means client and server disagree on the dialogue. */
    if (code < 400)
        return SMTP_CLASS_UNEXPECTED;
    if (code < 500)
        return SMTP_CLASS_TEMPORARY_FAILURE;
    switch (code) {
    case 504:
        return SMTP_CLASS_UNSUPPORTED_PARAMETER;
    case 535:
        return SMTP_CLASS_AUTH_FAILED;
    case 534:
        return SMTP_CLASS_MECHANISM_TOO_WEAK;
    case 538:
    case 530:
        return SMTP_CLASS_ENCRYPTION_REQUIRED;
    case 500:
    case 501:
        return SMTP_CLASS_SYNTAX_ERROR;
    case 503:
        return SMTP_CLASS_BAD_SEQUENCE;
    case 502:
        return SMTP_CLASS_NOT_IMPLEMENTED;
    default:
        return SMTP_CLASS_REJECTED;
    }
}
