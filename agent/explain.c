/* explain: what --explain prints, as text or JSON, from the catalogue. */
#include "explain.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "catalogue.h"
#include "classify.h"
#include "json.h"

/* What the operator asked about decides how entries are headed. */
enum explain_kind {
    EXPLAIN_CODE,     /* "504": every stage; "535@auth": one */
    EXPLAIN_CLASS,    /* "auth_failed" */
    EXPLAIN_ERROR,    /* "timeout" */
    EXPLAIN_ENHANCED, /* "5.7.8" */
    EXPLAIN_OTHER,    /* "probe_failed" */
    EXPLAIN_REPLY,    /* "535 5.7.139" */
    EXPLAIN_KIND_COUNT
};

static const char *const explain_kind_names[] = {
    [EXPLAIN_CODE] = "code",   [EXPLAIN_CLASS] = "class",
    [EXPLAIN_ERROR] = "error", [EXPLAIN_ENHANCED] = "enhanced",
    [EXPLAIN_OTHER] = "other", [EXPLAIN_REPLY] = "reply",
};
_Static_assert(sizeof explain_kind_names / sizeof explain_kind_names[0] ==
                   EXPLAIN_KIND_COUNT,
               "a name for every kind");

/* How a stage reads in a sentence: "504 at AUTH", "at the greeting". */
static const char *const stage_words[] = {
    [PROBE_STAGE_CONNECT] = "connect", [PROBE_STAGE_GREETING] = "the greeting",
    [PROBE_STAGE_EHLO] = "EHLO",       [PROBE_STAGE_STARTTLS] = "STARTTLS",
    [PROBE_STAGE_TLS] = "TLS",         [PROBE_STAGE_AUTH] = "AUTH",
    [PROBE_STAGE_QUIT] = "QUIT",       [PROBE_STAGE_TOKEN] = "the token",
};
_Static_assert(sizeof stage_words / sizeof stage_words[0] == PROBE_STAGE_COUNT,
               "words for every stage");

struct explain_query {
    enum explain_kind kind;
    int code;            /* EXPLAIN_CODE */
    int stage;           /* EXPLAIN_CODE: the stage asked for, or -1 */
    enum smtp_class cls; /* EXPLAIN_CLASS */
};

static void explain_parse(const char *what, struct explain_query *q)
{
    enum probe_stage st;
    enum probe_error err;
    char *end;
    long code = strtol(what, &end, 10);

    memset(q, 0, sizeof(*q));
    q->stage = -1;
    if (isdigit((unsigned char)what[0]) && end == what + 3 &&
        (*end == '\0' || *end == '@')) {
        q->kind = EXPLAIN_CODE;
        q->code = (int)code;
        if (*end == '@' && probe_stage_parse(end + 1, &st) == 0)
            q->stage = (int)st;
    } else if (isdigit((unsigned char)what[0]) && end == what + 3 &&
               *end == ' ') {
        q->kind = EXPLAIN_REPLY;
    } else if (isdigit((unsigned char)what[0])) {
        q->kind = EXPLAIN_ENHANCED;
    } else if (smtp_class_parse(what, &q->cls) == 0) {
        q->kind = EXPLAIN_CLASS;
    } else if (probe_error_parse(what, &err) == 0) {
        q->kind = EXPLAIN_ERROR;
    } else {
        q->kind = EXPLAIN_OTHER;
    }
}

/* The stages at which the code asked about is explained by e, as a
 * bit set over enum probe_stage. */
static unsigned explain_stages(const struct explain_query *q,
                               const struct catalogue_entry *e)
{
    if (q->stage >= 0)
        return 1u << q->stage;
    unsigned set = 0;
    for (int s = 0; s < PROBE_STAGE_COUNT; s++)
        if (classify_expected_code((enum probe_stage)s) != 0 &&
            catalogue_code((enum probe_stage)s, q->code) == e)
            set |= 1u << s;
    return set;
}

static int first_stage(unsigned set)
{
    for (int s = 0; s < PROBE_STAGE_COUNT; s++)
        if (set & (1u << s))
            return s;
    return PROBE_STAGE_AUTH;
}

/* "the greeting, STARTTLS or QUIT" */
static void stage_list(unsigned set, char *dst, size_t n)
{
    int count = 0, total = 0;
    for (int s = 0; s < PROBE_STAGE_COUNT; s++)
        total += (set >> s) & 1u;
    size_t len = 0;
    dst[0] = '\0';
    for (int s = 0; s < PROBE_STAGE_COUNT && len < n; s++) {
        if (!(set & (1u << s)))
            continue;
        const char *sep = count == 0 ? "" : count == total - 1 ? " or " : ", ";
        int w = snprintf(dst + len, n - len, "%s%s", sep, stage_words[s]);
        if (w < 0)
            break;
        len += (size_t)w;
        count++;
    }
}

/* One labelled paragraph, wrapped at 78 columns under its label. */
static void explain_para(FILE *out, const char *label, const char *text)
{
    enum { WIDTH = 78, INDENT = 16 };
    fprintf(out, "  %-*s", INDENT - 2, label);
    int col = INDENT;
    const char *p = text;
    while (*p) {
        size_t word = strcspn(p, " ");
        if (col > INDENT && col + 1 + (int)word > WIDTH) {
            fprintf(out, "\n%*s", INDENT, "");
            col = INDENT;
        } else if (col > INDENT) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", (int)word, p);
        col += (int)word;
        p += word;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

static void explain_text(FILE *out, const struct explain_query *q,
                         const struct catalogue_entry *const *found, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct catalogue_entry *e = found[i];
        if (i)
            fputc('\n', out);
        switch (q->kind) {
        case EXPLAIN_CODE: {
            char stages[128];
            unsigned set = explain_stages(q, e);
            stage_list(set, stages, sizeof(stages));
            fprintf(out, "%d at %s: %s\n", q->code, stages, e->title);
            explain_para(out, "Class:",
                         smtp_class_name(classify_reply(
                             (enum probe_stage)first_stage(set), q->code)));
            break;
        }
        case EXPLAIN_CLASS:
            fprintf(out, "%s: %s\n", e->key, e->title);
            explain_para(out, "Kind:",
                         "a class of final replies (the class "
                         "label)");
            break;
        case EXPLAIN_ERROR:
            fprintf(out, "%s: %s\n", e->key, e->title);
            explain_para(out, "Kind:",
                         "a failure without a reply (the error "
                         "label)");
            break;
        case EXPLAIN_ENHANCED:
            fprintf(out, "%s: %s\n", e->key, e->title);
            explain_para(out, "Kind:", "an enhanced status code (RFC 3463)");
            break;
        case EXPLAIN_REPLY:
            fprintf(out, "%s: %s\n", e->key, e->title);
            explain_para(out, "Kind:",
                         "a reply code with its enhanced code, as a "
                         "hosted provider sends it");
            break;
        case EXPLAIN_OTHER:
        case EXPLAIN_KIND_COUNT:
            fprintf(out, "%s: %s\n", e->key, e->title);
            break;
        }
        explain_para(out, "Meaning:", e->meaning);
        explain_para(out, "When:", e->when);
        explain_para(out, "Fix:", e->fix);
        if (e->neighbours)
            explain_para(out, "Differences:", e->neighbours);
    }
}

static void explain_json(FILE *out, const struct explain_query *q,
                         const char *what,
                         const struct catalogue_entry *const *found, size_t n)
{
    struct json j;
    json_begin(&j, out);
    json_str(&j, "query", what);
    json_open(&j, "entries", '[');
    for (size_t i = 0; i < n; i++) {
        const struct catalogue_entry *e = found[i];
        json_open(&j, NULL, '{');
        json_str(&j, "key", e->key);
        json_str(&j, "kind", explain_kind_names[q->kind]);
        if (q->kind == EXPLAIN_CODE) {
            unsigned set = explain_stages(q, e);
            json_int(&j, "code", q->code);
            json_open(&j, "stages", '[');
            for (int s = 0; s < PROBE_STAGE_COUNT; s++)
                if (set & (1u << s))
                    json_str(&j, NULL, probe_stage_name((enum probe_stage)s));
            json_close(&j, ']');
            json_str(&j, "class",
                     smtp_class_name(classify_reply(
                         (enum probe_stage)first_stage(set), q->code)));
        } else if (q->kind == EXPLAIN_CLASS) {
            json_str(&j, "class", e->key);
        } else if (q->kind == EXPLAIN_ERROR) {
            json_str(&j, "error", e->key);
        }
        json_str(&j, "title", e->title);
        json_str(&j, "meaning", e->meaning);
        json_str(&j, "when", e->when);
        json_str(&j, "fix", e->fix);
        json_str(&j, "neighbours", e->neighbours);
        json_close(&j, '}');
    }
    json_close(&j, ']');
    json_end(&j);
}

size_t explain_print(FILE *out, const char *what, bool json)
{
    const struct catalogue_entry *found[PROBE_STAGE_COUNT];
    size_t n = catalogue_lookup(what, found, PROBE_STAGE_COUNT);
    if (n == 0)
        return 0;
    struct explain_query q;
    explain_parse(what, &q);
    if (json)
        explain_json(out, &q, what, found, n);
    else
        explain_text(out, &q, found, n);
    return n;
}
