/* check: the refusal checks' names and require_ehlo's syntax and
 * verdict. */
#include "check.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const check_names[] = {
    [CHECK_AUTH_BEFORE_TLS] = "auth_before_tls",
    [CHECK_OPEN_RELAY] = "open_relay",
    [CHECK_EHLO] = "ehlo",
};
_Static_assert(sizeof check_names / sizeof check_names[0] == CHECK_COUNT,
               "a name for every check");

const char *check_name(enum probe_check c)
{
    if ((unsigned)c >= CHECK_COUNT)
        return "unknown";
    return check_names[c];
}

static const char *const verdict_names[] = {
    [CHECK_NOT_RUN] = "not_run",
    [CHECK_PASSED] = "passed",
    [CHECK_FAILED] = "failed",
};
_Static_assert(sizeof verdict_names / sizeof verdict_names[0] ==
                   CHECK_VERDICT_COUNT,
               "a name for every verdict");

const char *check_verdict_name(enum check_verdict v)
{
    if ((unsigned)v >= CHECK_VERDICT_COUNT)
        return "unknown";
    return verdict_names[v];
}

#define SEPARATORS " \t,"

/* "SIZE>=N" (any case): true with *min set; *bad when it starts so but
 * N is not a whole number. */
static bool size_word(const char *w, size_t len, uint64_t *min, bool *bad)
{
    *bad = false;
    if (len < 6 || strncasecmp(w, "SIZE>=", 6) != 0)
        return false;
    const char *d = w + 6;
    size_t nd = len - 6;
    if (nd == 0 || nd > 19) {
        *bad = true;
        return true;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < nd; i++) {
        if (d[i] < '0' || d[i] > '9') {
            *bad = true;
            return true;
        }
        v = v * 10 + (uint64_t)(d[i] - '0');
    }
    *min = v;
    return true;
}

static bool keyword_word(const char *w, size_t len)
{
    if (len == 0 || len > SMTP_EHLO_KEYWORD_MAX ||
        !isalnum((unsigned char)w[0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)w[i]) && w[i] != '-')
            return false;
    return true;
}

int check_ehlo_parse(const char *value, char *why, size_t n)
{
    size_t words = 0;
    bool have_size = false;
    const char *v = value;
    if (n)
        why[0] = '\0';
    while (*v) {
        v += strspn(v, SEPARATORS);
        size_t len = strcspn(v, SEPARATORS);
        if (len == 0)
            break;
        uint64_t min;
        bool bad;
        if (size_word(v, len, &min, &bad)) {
            if (bad) {
                snprintf(why, n,
                         "\"%.*s\": SIZE>= takes a whole number of bytes, "
                         "like SIZE>=10485760",
                         (int)(len > 40 ? 40 : len), v);
                return -1;
            }
            if (have_size) {
                snprintf(why, n, "SIZE>= is given twice");
                return -1;
            }
            have_size = true;
        } else if (!keyword_word(v, len)) {
            snprintf(why, n,
                     "\"%.*s\" is neither an EHLO keyword ([A-Za-z0-9-], at "
                     "most %d characters) nor SIZE>=N",
                     (int)(len > 40 ? 40 : len), v, SMTP_EHLO_KEYWORD_MAX);
            return -1;
        }
        if (++words > CHECK_EHLO_MAX_WORDS) {
            snprintf(why, n, "at most %d words", CHECK_EHLO_MAX_WORDS);
            return -1;
        }
        v += len;
    }
    if (words == 0) {
        snprintf(why, n, "no keyword given");
        return -1;
    }
    return 0;
}

static bool has_keyword(const struct smtp_ehlo *e, const char *w, size_t len)
{
    for (size_t i = 0; i < e->n_keywords; i++)
        if (strlen(e->keywords[i]) == len &&
            strncasecmp(e->keywords[i], w, len) == 0)
            return true;
    return false;
}

/* Appends "; " (unless first) and text to dst, cut at n. */
static void add_missing(char *dst, size_t n, const char *text)
{
    size_t used = strlen(dst);
    if (used + 1 >= n)
        return;
    snprintf(dst + used, n - used, "%s%s", used ? "; " : "", text);
}

bool check_ehlo_eval(const char *value, const struct smtp_ehlo *e, char *dst,
                     size_t n)
{
    bool ok = true;
    const char *v = value;
    if (n)
        dst[0] = '\0';
    while (*v) {
        v += strspn(v, SEPARATORS);
        size_t len = strcspn(v, SEPARATORS);
        if (len == 0)
            break;
        uint64_t min = 0;
        bool bad;
        if (size_word(v, len, &min, &bad)) {
            if (!e->has_size) {
                ok = false;
                add_missing(dst, n, "SIZE not advertised");
            } else if (e->size != 0 && e->size < min) {
                char text[64];
                snprintf(text, sizeof(text), "SIZE %llu < %llu",
                         (unsigned long long)e->size, (unsigned long long)min);
                ok = false;
                add_missing(dst, n, text);
            }
        } else if (!has_keyword(e, v, len)) {
            char text[SMTP_EHLO_KEYWORD_MAX + 24];
            snprintf(text, sizeof(text), "%.*s not advertised",
                     (int)(len > SMTP_EHLO_KEYWORD_MAX ? SMTP_EHLO_KEYWORD_MAX
                                                       : len),
                     v);
            ok = false;
            add_missing(dst, n, text);
        }
        v += len;
    }
    return ok;
}

bool check_valid_rcpt(const char *s)
{
    size_t len = strlen(s);
    const char *at = strchr(s, '@');
    if (len == 0 || len > 254 || !at || at == s || !at[1] ||
        strchr(at + 1, '@'))
        return false;
    for (const char *c = s; *c; c++)
        if (*c <= ' ' || *c > '~' || *c == '<' || *c == '>')
            return false;
    return true;
}
