/* http_accept: content negotiation (RFC 9110 Accept-Encoding); pure. */
#include "http_accept.h"

#include <string.h>
#include <strings.h>

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *trim_end(const char *start, const char *end)
{
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return end;
}

static bool token_is(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - p) == n && strncasecmp(p, word, n) == 0;
}

/*
 * RFC 9110 qvalue: "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ], in
 * thousandths. -1 when malformed.
 */
static int parse_qvalue(const char *p, const char *end)
{
    if (p == end || (*p != '0' && *p != '1'))
        return -1;
    int v = (*p - '0') * 1000;
    p++;
    if (p == end)
        return v;
    if (*p++ != '.' || end - p > 3)
        return -1;
    int scale = 100;
    for (; p < end; p++, scale /= 10) {
        if (*p < '0' || *p > '9')
            return -1;
        v += (*p - '0') * scale;
    }
    return v > 1000 ? -1 : v;
}

static const char *find_char(const char *p, const char *end, char c)
{
    while (p < end && *p != c)
        p++;
    return p;
}

/* One element "coding *( OWS ; OWS name=value )": its coding and q (in
 * thousandths; a malformed q counts as 0). */
static int element_q(const char *p, const char *end, const char **coding,
                     const char **coding_end)
{
    const char *semi = find_char(p, end, ';');
    *coding = skip_ows(p, semi);
    *coding_end = trim_end(*coding, semi);
    int q = 1000;
    while (semi < end) {
        const char *param = semi + 1;
        semi = find_char(param, end, ';');
        const char *eq = find_char(param, semi, '=');
        if (eq == semi)
            continue;
        const char *name = skip_ows(param, eq);
        if (!token_is(name, trim_end(name, eq), "q"))
            continue;
        const char *v = skip_ows(eq + 1, semi);
        q = parse_qvalue(v, trim_end(v, semi));
        if (q < 0)
            q = 0;
    }
    return q;
}

bool http_accepts_gzip(const char *accept_encoding)
{
    if (!accept_encoding)
        return false;
    int gzip_q = -1, star_q = -1; /* -1: not named */
    const char *p = accept_encoding;
    const char *end = p + strlen(p);
    for (;;) {
        const char *elem_end = find_char(p, end, ',');
        const char *coding, *coding_end;
        int q = element_q(p, elem_end, &coding, &coding_end);
        if (token_is(coding, coding_end, "gzip") ||
            token_is(coding, coding_end, "x-gzip")) {
            if (q > gzip_q)
                gzip_q = q;
        } else if (token_is(coding, coding_end, "*")) {
            if (q > star_q)
                star_q = q;
        }
        if (elem_end == end)
            break;
        p = elem_end + 1;
    }
    if (gzip_q >= 0)
        return gzip_q > 0;
    return star_q > 0;
}
