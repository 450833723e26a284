/* fuzz_ehlo: EHLO capabilities from any reply stay within their bounds. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fuzz_common.h"
#include "smtp_reply.h"

/*
 * The keywords become label values of smtp_ehlo_extension: a server must
 * not be able to add more than SMTP_EHLO_MAX_KEYWORDS series, nor a label
 * value outside [A-Z0-9-]{1,32}. The input is used twice: as raw server
 * bytes (every complete reply is parsed as EHLO), and line by line as the
 * keyword lines of a well-formed 250 reply, which reaches the EHLO parser
 * with far fewer wasted inputs.
 */

#define WRAPPED_MAX (64 * 1024)

static bool upper_alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool alnum(char c)
{
    return upper_alnum(c) || (c >= 'a' && c <= 'z');
}

static void check_keyword(const char *k)
{
    size_t n = strnlen(k, SMTP_EHLO_KEYWORD_MAX + 1);
    FUZZ_CHECK(n >= 1 && n <= SMTP_EHLO_KEYWORD_MAX);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(upper_alnum(k[i]) || k[i] == '-');
}

static void check_mech(const char *m)
{
    size_t n = strnlen(m, SMTP_EHLO_MECH_MAX + 1);
    FUZZ_CHECK(n >= 1 && n <= SMTP_EHLO_MECH_MAX);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(upper_alnum(m[i]) || m[i] == '-' || m[i] == '_');
}

/* The expected result, computed the plain way from the reply text. */
struct model {
    char keywords[SMTP_EHLO_MAX_KEYWORDS][SMTP_EHLO_KEYWORD_MAX + 1];
    size_t n_keywords;
    size_t n_dropped;
    bool starttls, auth, has_size;
};

static bool model_has(const struct model *m, const char *kw)
{
    for (size_t i = 0; i < m->n_keywords; i++) {
        if (strcmp(m->keywords[i], kw) == 0)
            return true;
    }
    return false;
}

static void model_line(struct model *m, const char *s, size_t n)
{
    if (n == 0)
        return;
    size_t k = 0;
    while (k < n && s[k] != ' ')
        k++;
    if (k >= 5 && strncasecmp(s, "AUTH=", 5) == 0) {
        m->auth = true;
        m->n_dropped++;
        return;
    }
    bool ok = k >= 1 && k <= SMTP_EHLO_KEYWORD_MAX && alnum(s[0]);
    for (size_t i = 1; ok && i < k; i++)
        ok = alnum(s[i]) || s[i] == '-';
    if (!ok) {
        m->n_dropped++;
        return;
    }
    char kw[SMTP_EHLO_KEYWORD_MAX + 1];
    for (size_t i = 0; i < k; i++)
        kw[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
    kw[k] = '\0';
    m->starttls |= strcmp(kw, "STARTTLS") == 0;
    m->auth |= strcmp(kw, "AUTH") == 0;
    m->has_size |= strcmp(kw, "SIZE") == 0;
    if (model_has(m, kw) || m->n_keywords == SMTP_EHLO_MAX_KEYWORDS) {
        m->n_dropped++;
        return;
    }
    memcpy(m->keywords[m->n_keywords++], kw, k + 1);
}

static void model_parse(const struct smtp_reply *r, struct model *m)
{
    memset(m, 0, sizeof(*m));
    const char *t = buf_str(&r->text);
    const char *nl = strchr(t, '\n');
    if (!nl)
        return;
    const char *s = nl + 1;
    for (;;) {
        const char *end = strchr(s, '\n');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        model_line(m, s, n);
        if (!end)
            break;
        s = end + 1;
    }
}

static void check_ehlo(const struct smtp_reply *r)
{
    struct smtp_ehlo e;
    /* Garbage first: the parser must set every field itself. */
    memset(&e, 0xa5, sizeof(e));
    smtp_ehlo_parse(r, &e);

    FUZZ_CHECK(e.n_keywords <= SMTP_EHLO_MAX_KEYWORDS);
    FUZZ_CHECK(e.n_mechs <= SMTP_EHLO_MAX_MECHS);
    for (size_t i = 0; i < e.n_keywords; i++) {
        check_keyword(e.keywords[i]);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(e.keywords[i], e.keywords[j]) != 0);
    }
    for (size_t i = 0; i < e.n_mechs; i++) {
        check_mech(e.mechs[i]);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(e.mechs[i], e.mechs[j]) != 0);
        FUZZ_CHECK(smtp_ehlo_has_mech(&e, e.mechs[i]));
        /* A mechanism only ever comes from an AUTH line. */
        FUZZ_CHECK(e.auth);
    }
    FUZZ_CHECK(!smtp_ehlo_has_mech(&e, NULL));
    FUZZ_CHECK(e.has_size || e.size == 0);

    struct model m;
    model_parse(r, &m);
    FUZZ_CHECK(e.n_keywords == m.n_keywords);
    for (size_t i = 0; i < m.n_keywords; i++)
        FUZZ_CHECK(strcmp(e.keywords[i], m.keywords[i]) == 0);
    FUZZ_CHECK(e.n_dropped == m.n_dropped);
    FUZZ_CHECK(e.starttls == m.starttls);
    FUZZ_CHECK(e.auth == m.auth);
    FUZZ_CHECK(e.has_size == m.has_size);
}

static void parse_all(const char *data, size_t size)
{
    struct smtp_parser p;
    smtp_parser_init(&p);
    while (size > 0) {
        size_t used = 0;
        enum smtp_parse_status st = smtp_parser_feed(&p, data, size, &used);
        if (st != SMTP_PARSE_DONE)
            break;
        check_ehlo(&p.reply);
        smtp_parser_reset(&p);
        data += used;
        size -= used;
    }
    smtp_parser_free(&p);
}

/* "250-name\r\n" then "250-LINE\r\n" for each input line, the last one
 * "250 LINE\r\n". Lines whose code would be damaged by a CR are kept as
 * they are: the parser replaces what it does not like. */
static size_t wrap(const uint8_t *data, size_t size, char *out, size_t cap)
{
    static const char head[] = "250-mx.example.com Hello\r\n";
    size_t o = sizeof(head) - 1;
    memcpy(out, head, o);
    size_t pos = 0;
    while (pos <= size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) : size - pos;
        bool last = !nl;
        if (o + 4 + n + 2 > cap)
            break;
        memcpy(out + o, last ? "250 " : "250-", 4);
        memcpy(out + o + 4, data + pos, n);
        o += 4 + n;
        out[o++] = '\r';
        out[o++] = '\n';
        if (last)
            break;
        pos += n + 1;
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_all((const char *)data, size);

    char *wrapped = malloc(WRAPPED_MAX);
    FUZZ_CHECK(wrapped != NULL);
    size_t n = wrap(data, size, wrapped, WRAPPED_MAX);
    parse_all(wrapped, n);
    free(wrapped);
    return 0;
}
