/* http_strict: refuses requests that libmicrohttpd 0.9.75 lets through
 * and that a proxy in front of us could read differently. */
#include "http_strict.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "hexdigit.h"

#if MHD_VERSION >= 0x00097002
#define MHD_RESULT enum MHD_Result
#else
#define MHD_RESULT int
#endif

/* ---- the grammar --------------------------------------------------------
 */

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_unreserved(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c && strchr("-._~", c));
}

static bool is_sub_delim(unsigned char c)
{
    return c && strchr("!$&'()*+,;=", c);
}

bool http_strict_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alpha(c) && !is_digit(c) &&
            !(c && strchr("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    return true;
}

bool http_strict_field_value(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

bool http_strict_target_chars(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n || hexdigit_pair(s + i + 1) < 0)
                return false;
            i += 2;
            continue;
        }
        if (!is_unreserved(c) && !is_sub_delim(c) &&
            !(c && strchr(":@/?[]", c)))
            return false;
    }
    return true;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit((unsigned char)s[i]))
            return false;
    return true;
}

bool http_strict_host(const char *s, size_t n)
{
    const char *end = s + n;
    const char *host_end;
    if (n && s[0] == '[') {
        /* IP-literal: hex, ':' and '.' (an IPv4 tail), or a future
         * version "v..." in the same characters and sub-delims. */
        const char *close = memchr(s, ']', n);
        if (!close || close == s + 1)
            return false;
        for (const char *p = s + 1; p < close; p++) {
            unsigned char c = (unsigned char)*p;
            if (hexdigit_value(c) < 0 && !is_unreserved(c) &&
                !is_sub_delim(c) && c != ':')
                return false;
        }
        host_end = close + 1;
    } else {
        host_end = memchr(s, ':', n);
        if (!host_end)
            host_end = end;
        for (const char *p = s; p < host_end; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '%') {
                if (end - p < 3 || hexdigit_pair(p + 1) < 0)
                    return false;
                p += 2;
            } else if (!is_unreserved(c) && !is_sub_delim(c)) {
                return false;
            }
        }
    }
    if (host_end == end)
        return true;
    /* ":" port, the port possibly empty (RFC 3986). */
    return *host_end == ':' &&
           all_digits(host_end + 1, (size_t)(end - host_end - 1));
}

/* ---- through the API ------------------------------------------------------
 */

struct fields {
    unsigned content_length, transfer_encoding, host;
    const char *why;
};

static MHD_RESULT check_field(void *cls, enum MHD_ValueKind kind,
                              const char *key, size_t key_size,
                              const char *value, size_t value_size)
{
    (void)kind;
    struct fields *f = cls;
    if (!key || !http_strict_token(key, key_size)) {
        f->why = "a field name that is no token";
        return MHD_NO;
    }
    if (!value) {
        value = "";
        value_size = 0;
    }
    if (!http_strict_field_value(value, value_size)) {
        f->why = "a control byte in a field value";
        return MHD_NO;
    }
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        f->content_length++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        f->transfer_encoding++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
        f->host++;
        if (!http_strict_host(value, value_size)) {
            f->why = "a Host that is no host[:port]";
            return MHD_NO;
        }
    }
    return MHD_YES;
}

/* RFC 9112 6.3 and 3.2: framing that two parsers could read two ways,
 * and the Host rules. */
static const char *check_fields(struct MHD_Connection *conn,
                                const char *version)
{
    struct fields f = {0, 0, 0, NULL};
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, check_field, &f);
    if (f.why)
        return f.why;
    if (f.content_length > 1)
        return "more than one Content-Length";
    if (f.transfer_encoding > 1)
        return "more than one Transfer-Encoding";
    if (f.content_length && f.transfer_encoding)
        return "Transfer-Encoding with Content-Length";
    if (f.host > 1)
        return "more than one Host";
    /* libmicrohttpd refuses this itself (MHD_OPTION_STRICT_FOR_CLIENT);
     * said again so that the rule does not hang on an option. */
    if (f.host == 0 && strcmp(version, MHD_HTTP_VERSION_1_0) != 0)
        return "HTTP/1.1 without Host";
    return NULL;
}

/* ---- the bytes as read (libmicrohttpd 0.9.75) ------------------------------
 */

/*
 * libmicrohttpd 0.9.75 parses the request head in place in one read
 * buffer: every line end (CRLF, or a bare LF) becomes NUL bytes, the
 * spaces around the target become NULs, each ':' after a field name
 * becomes a NUL, and the method, target, version, names and values are
 * pointers into that buffer; MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE is
 * the head's length from the method on. Walking the buffer and checking
 * that each pointer sits exactly where well-formed CRLF-ended lines put
 * it finds what the strings hide: a NUL inside any of them, a bare LF, a
 * folded line (its continuation is copied elsewhere), or more than one
 * space after the method.
 */
struct walk {
    const char *p, *end;
    const char *why;
};

/* Two NULs at w->p: a line ended by CRLF. */
static bool walk_crlf(struct walk *w)
{
    if (w->end - w->p < 2 || w->p[0] != '\0' || w->p[1] != '\0')
        return false;
    w->p += 2;
    return true;
}

static MHD_RESULT walk_field(void *cls, enum MHD_ValueKind kind,
                             const char *key, size_t key_size,
                             const char *value, size_t value_size)
{
    (void)kind;
    struct walk *w = cls;
    /* Where this line must start, its name's length as a string (a NUL
     * inside shortens it), and the ':' turned NUL after it. */
    if (key != w->p || strlen(key) != key_size ||
        (size_t)(w->end - w->p) <= key_size || key[key_size] != '\0') {
        w->why = "a NUL byte, a bare LF or a folded line in the head";
        return MHD_NO;
    }
    w->p = key + key_size + 1;
    while (w->p < w->end && (*w->p == ' ' || *w->p == '\t'))
        w->p++;
    if (!value || value != w->p || strlen(value) != value_size ||
        (size_t)(w->end - w->p) < value_size) {
        w->why = "a NUL byte, a bare LF or a folded line in the head";
        return MHD_NO;
    }
    w->p = value + value_size;
    if (!walk_crlf(w)) {
        w->why = "a NUL byte, a bare LF or a folded line in the head";
        return MHD_NO;
    }
    return MHD_YES;
}

static const char *check_raw(struct MHD_Connection *conn, const char *method,
                             const char *url, const char *version,
                             const struct http_strict_target *target)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (!ci)
        return "no request head";
    const char *end = method + ci->header_size;
    /* "METHOD SP target SP HTTP/x.y CRLF": the first space became the NUL
     * after the method, the target starts right after it. */
    size_t mlen = strlen(method);
    if (method + mlen + 1 != url || url != target->s)
        return "a NUL byte or more than one space after the method";
    /* The target as sent ends at the NUL that was the space before the
     * version; a NUL in it ends the string earlier. */
    if (target->s + target->len + 1 != version)
        return "a NUL byte in the target";
    struct walk w = {version + strlen(version), end, NULL};
    if (w.p > end || !walk_crlf(&w))
        return "a request line not ended by CRLF";
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, walk_field, &w);
    if (w.why)
        return w.why;
    /* The empty line, and nothing unaccounted for. */
    if (!walk_crlf(&w) || w.p != end)
        return "a NUL byte, a bare LF or a folded line in the head";
    return NULL;
}

void http_strict_target_seen(struct http_strict_target *t, const char *uri)
{
    t->s = uri;
    t->len = uri ? strlen(uri) : 0;
    t->chars_ok = uri && http_strict_target_chars(uri, t->len);
}

bool http_strict_raw_known(void)
{
    static const char known[] = "0.9.75";
    const char *v = MHD_get_version();
    return v && strcmp(v, known) == 0;
}

const char *http_strict_check(struct MHD_Connection *conn, const char *method,
                              const char *url, const char *version,
                              const struct http_strict_target *target)
{
    if (!method || !url || !version || !target || !target->s)
        return "no request line";
    if (!http_strict_token(method, strlen(method)))
        return "a method that is no token";
    if (!target->chars_ok)
        return "a target outside RFC 3986 (a space, a control byte, a "
               "fragment, a bad %-escape or a byte above ASCII)";
    const char *why = check_fields(conn, version);
    if (why)
        return why;
    if (http_strict_raw_known())
        return check_raw(conn, method, url, version, target);
    return NULL;
}
