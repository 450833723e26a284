/* netaddr: the one parser of HOST:PORT, [IPv6]:PORT and :PORT; pure. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "errmsg.h"

/* Longer than any IPv6 address in text (45 characters at most). */
#define IPV6_TEXT_MAX 63

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* What curl's URL and SNI take: no spaces, slashes or '@'. */
bool netaddr_is_dns_name(const char *s, size_t n)
{
    if (n == 0 || n > NETADDR_HOST_MAX || s[0] == '-' || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!is_alnum(c) && c != '-' && c != '.' && c != '_')
            return false;
    }
    return true;
}

bool netaddr_is_ipv6(const char *s, size_t n)
{
    char tmp[IPV6_TEXT_MAX + 1];
    struct in6_addr a;
    if (n == 0 || n > IPV6_TEXT_MAX)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET6, tmp, &a) == 1;
}

int netaddr_parse_port(const char *s, bool allow_zero, unsigned *port)
{
    unsigned long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (!is_digit(*s))
            return -1;
        /* Leading zeros are fine; the value is checked at every digit. */
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > 65535)
            return -1;
    }
    if (v == 0 && !allow_zero)
        return -1;
    *port = (unsigned)v;
    return 0;
}

/* "[v6]:port": the host into out, *port_s after the ':'. */
static int parse_bracketed(const char *s, struct netaddr *out,
                           const char **port_s, char *err, size_t errlen)
{
    const char *end = strchr(s, ']');
    if (!end || end[1] != ':') {
        errmsg_set(err, errlen, "%s: want [IPv6-address]:port", s);
        return -1;
    }
    size_t n = (size_t)(end - s - 1);
    if (!netaddr_is_ipv6(s + 1, n)) {
        errmsg_set(err, errlen, "%s: bad IPv6 address", s);
        return -1;
    }
    memcpy(out->host, s + 1, n);
    out->host[n] = '\0';
    out->bracketed = true;
    *port_s = end + 2;
    return 0;
}

/* "host:port" or ":port". */
static int parse_plain(const char *s, struct netaddr *out, const char **port_s,
                       char *err, size_t errlen)
{
    const char *colon = strrchr(s, ':');
    if (!colon) {
        errmsg_set(err, errlen, "%s: missing port (want host:port)", s);
        return -1;
    }
    size_t n = (size_t)(colon - s);
    if (n > NETADDR_HOST_MAX) {
        errmsg_set(err, errlen, "host name too long (%zu bytes, at most %d)",
                   n, NETADDR_HOST_MAX);
        return -1;
    }
    if (memchr(s, ':', n)) {
        errmsg_set(err, errlen,
                   "%s: an IPv6 address needs brackets: [addr]:port", s);
        return -1;
    }
    if (n > 0 && !netaddr_is_dns_name(s, n)) {
        errmsg_set(err, errlen, "%s: bad host name \"%.*s\"", s, (int)n, s);
        return -1;
    }
    memcpy(out->host, s, n);
    out->host[n] = '\0';
    *port_s = colon + 1;
    return 0;
}

int netaddr_parse(const char *s, bool allow_port_zero, struct netaddr *out,
                  char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!s || !*s) {
        errmsg_set(err, errlen, "empty listen address (want host:port)");
        return -1;
    }
    const char *port_s = NULL;
    int rc = s[0] == '[' ? parse_bracketed(s, out, &port_s, err, errlen)
                         : parse_plain(s, out, &port_s, err, errlen);
    if (rc == 0 && netaddr_parse_port(port_s, allow_port_zero, &out->port)) {
        errmsg_set(err, errlen, "%s: bad port \"%s\" (want 1-65535)", s,
                   port_s);
        rc = -1;
    }
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

bool netaddr_is_loopback(const struct netaddr *a)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, a->host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, a->host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return strcasecmp(a->host, "localhost") == 0;
}
