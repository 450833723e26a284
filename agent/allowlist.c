/* allowlist: a [module]'s allowed_targets, parsed and matched; pure. */
#include "allowlist.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "errmsg.h"
#include "netaddr.h"

/* A pattern is at most "[" IPv6 "]/128:65535" or a 253-byte name and a
 * port: anything longer is wrong. */
#define WORD_MAX 300

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * A host name, strictly: labels of 1 to 63 letters, digits, '-' or '_',
 * no empty label, no trailing dot, at most 253 bytes; and its last label
 * starts with a letter, as every top-level domain does. That last rule
 * keeps out what inet_aton() would read as an address ("127.1",
 * "2130706433", "0x7f000001"): a name pattern never matches those.
 */
static bool is_host_name(const char *s, size_t n)
{
    if (n == 0 || n > NETADDR_HOST_MAX)
        return false;
    size_t label = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            last = i + 1;
            continue;
        }
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && is_alpha(s[last]);
}

/* An address of family af (AF_INET: dotted quad only), n bytes of s. */
static bool parse_ip(int af, const char *s, size_t n, unsigned char *addr)
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(af, tmp, addr) == 1;
}

/* Digits only, 0..max. */
static int parse_prefix(const char *s, size_t n, unsigned max, unsigned *out)
{
    unsigned v = 0;
    if (n == 0 || n > 3)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_port(const char *s, size_t n, unsigned *port)
{
    char tmp[8];
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return netaddr_parse_port(tmp, false, port);
}

/* Whether addr has a bit set past prefix. */
static bool host_bits_set(const unsigned char *addr, size_t len,
                          unsigned prefix)
{
    for (size_t i = 0; i < len; i++) {
        unsigned first = (unsigned)i * 8;
        unsigned char mask = 0xff;
        if (first + 8 <= prefix)
            continue;
        if (first < prefix)
            mask = (unsigned char)(0xff >> (prefix - first));
        if (addr[i] & mask)
            return true;
    }
    return false;
}

/* ADDR or ADDR/N of family af into pat: the error's text, or NULL. */
static const char *cidr(int af, const char *s, size_t n,
                        struct allow_pattern *pat)
{
    unsigned max = af == AF_INET ? 32 : 128;
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    pat->kind = ALLOW_CIDR;
    pat->family = af;
    pat->prefix = max;
    if (!parse_ip(af, s, alen, pat->addr))
        return af == AF_INET ? "not an IPv4 address" : "not an IPv6 address";
    if (slash && parse_prefix(slash + 1, n - alen - 1, max, &pat->prefix))
        return af == AF_INET ? "the prefix length must be 0 to 32"
                             : "the prefix length must be 0 to 128";
    if (host_bits_set(pat->addr, af == AF_INET ? 4 : 16, pat->prefix))
        return "the address has bits set past its prefix length";
    return NULL;
}

/* A host name or *.name into pat: the error's text, or NULL. */
static const char *name(const char *s, size_t n, struct allow_pattern *pat)
{
    pat->kind = ALLOW_NAME;
    if (n >= 2 && s[0] == '*' && s[1] == '.') {
        pat->kind = ALLOW_WILDCARD;
        s += 2;
        n -= 2;
    } else if (n == 1 && s[0] == '*') {
        return "a bare * would allow every host; name a domain: *.example.com";
    }
    if (memchr(s, '*', n))
        return "* may only stand first, as a whole label: *.example.com";
    if (!is_host_name(s, n))
        return "not a host name, an IP address or a CIDR (a name's last "
               "label starts with a letter)";
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        pat->name[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    pat->name[n] = '\0';
    return NULL;
}

/* One pattern, n bytes of w: the error's text, or NULL. */
static const char *pattern(const char *w, size_t n, struct allow_pattern *pat)
{
    memset(pat, 0, sizeof(*pat));
    if (w[0] == '[') {
        const char *close = memchr(w, ']', n);
        if (!close)
            return "[ without ]";
        size_t an = (size_t)(close - w - 1);
        const char *after = close + 1, *end = w + n;
        const char *colon = memchr(after, ':', (size_t)(end - after));
        const char *pend = colon ? colon : end;
        if (after < pend && *after != '/')
            return "expected /PREFIX or :PORT after ]";
        char tmp[WORD_MAX + 1];
        int len = snprintf(tmp, sizeof(tmp), "%.*s%.*s", (int)an, w + 1,
                           (int)(pend - after), after);
        if (len < 0 || (size_t)len >= sizeof(tmp))
            return "too long";
        const char *why = cidr(AF_INET6, tmp, (size_t)len, pat);
        if (why)
            return why;
        if (colon &&
            parse_port(colon + 1, (size_t)(end - colon - 1), &pat->port))
            return "the port must be 1 to 65535";
        return NULL;
    }
    const char *colon = memchr(w, ':', n);
    if (colon && memchr(colon + 1, ':', (size_t)(w + n - colon - 1)))
        return cidr(AF_INET6, w, n, pat); /* bare IPv6: no port */
    size_t hn = colon ? (size_t)(colon - w) : n;
    if (colon && parse_port(colon + 1, n - hn - 1, &pat->port))
        return "the port must be 1 to 65535";
    bool ip = hn > 0 && is_digit(w[hn - 1]);
    if (memchr(w, '/', hn) ||
        (ip && !memchr(w, '*', hn) && strspn(w, "0123456789./") >= hn))
        return cidr(AF_INET, w, hn, pat);
    if (hn == 0)
        return "no host before the port";
    return name(w, hn, pat);
}

int allowlist_parse(const char *text, struct allowlist *out, char *err,
                    size_t errlen)
{
    out->p = NULL;
    out->n = 0;
    size_t cap = 0;
    const char *s = text;
    for (;;) {
        s += strspn(s, " \t");
        size_t n = strcspn(s, " \t");
        if (n == 0)
            break;
        if (n > WORD_MAX) {
            errmsg_set(err, errlen, "pattern \"%.40s...\": too long", s);
            goto fail;
        }
        if (out->n == cap) {
            size_t c = cap ? cap * 2 : 4;
            struct allow_pattern *p = realloc(out->p, c * sizeof(*p));
            if (!p) {
                errmsg_set(err, errlen, "out of memory");
                goto fail;
            }
            out->p = p;
            cap = c;
        }
        const char *why = pattern(s, n, &out->p[out->n]);
        if (why) {
            errmsg_set(err, errlen, "pattern \"%.*s\": %s", (int)n, s, why);
            goto fail;
        }
        out->n++;
        s += n;
    }
    if (out->n == 0) {
        errmsg_set(err, errlen, "no patterns");
        goto fail;
    }
    return 0;
fail:
    allowlist_free(out);
    return -1;
}

static bool in_cidr(const struct allow_pattern *pat, const unsigned char *a)
{
    unsigned full = pat->prefix / 8, rest = pat->prefix % 8;
    if (memcmp(pat->addr, a, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (pat->addr[full] & mask) == (a[full] & mask);
}

static bool name_matches(const struct allow_pattern *pat, const char *host,
                         size_t n)
{
    size_t pn = strlen(pat->name);
    if (pat->kind == ALLOW_NAME)
        return n == pn && strncasecmp(host, pat->name, n) == 0;
    /* At least one whole label, then ".", then the name. */
    return n >= pn + 2 && host[n - pn - 1] == '.' &&
           strncasecmp(host + n - pn, pat->name, pn) == 0;
}

bool allowlist_match(const struct allowlist *a, const char *host,
                     unsigned port)
{
    if (!a || !host)
        return false;
    unsigned char addr[16];
    size_t n = strlen(host);
    int af = 0;
    if (parse_ip(AF_INET, host, n, addr))
        af = AF_INET;
    else if (parse_ip(AF_INET6, host, n, addr))
        af = AF_INET6;
    else if (!is_host_name(host, n))
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct allow_pattern *pat = &a->p[i];
        if (pat->port && pat->port != port)
            continue;
        if (af ? pat->kind == ALLOW_CIDR && pat->family == af &&
                     in_cidr(pat, addr)
               : pat->kind != ALLOW_CIDR && name_matches(pat, host, n))
            return true;
    }
    return false;
}

void allowlist_free(struct allowlist *a)
{
    if (!a)
        return;
    free(a->p);
    a->p = NULL;
    a->n = 0;
}

int allowlist_split_target(const char *s, char *host, size_t cap,
                           unsigned *port)
{
    unsigned char addr[16];
    size_t n = strlen(s);
    const char *h = s, *ps = NULL;
    size_t hn = n;
    int af = 0;
    *port = 0;
    if (n > 0 && s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || (close[1] && close[1] != ':'))
            return -1;
        h = s + 1;
        hn = (size_t)(close - h);
        ps = close[1] ? close + 2 : NULL;
        af = AF_INET6;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && !strchr(colon + 1, ':')) {
            hn = (size_t)(colon - s);
            ps = colon + 1;
        } else if (colon) {
            af = AF_INET6; /* bare IPv6 */
        }
    }
    if (ps && parse_port(ps, strlen(ps), port))
        return -1;
    if (af == AF_INET6
            ? !parse_ip(AF_INET6, h, hn, addr)
            : !parse_ip(AF_INET, h, hn, addr) && !is_host_name(h, hn))
        return -1;
    if (hn >= cap)
        return -1;
    memcpy(host, h, hn);
    host[hn] = '\0';
    return 0;
}
