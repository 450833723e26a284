/* http_listen: the socket address the HTTP server binds, from a listen
 * address (netaddr's syntax, the wildcard, a host name resolved). */
#include "http_listen.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errmsg.h"
#include "netaddr.h"

static bool have_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static void set_port(struct sockaddr_storage *ss, unsigned port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

/* Every address: one dual-stack IPv6 socket takes IPv4 too. */
static void set_wildcard(struct sockaddr_storage *ss)
{
    if (have_ipv6()) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_any;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_addr.s_addr = htonl(INADDR_ANY);
    }
}

/* A host name or an IPv4 address: its first address. netaddr checked
 * the syntax; only the resolver can still say no. */
static int resolve(const char *listen, const char *host,
                   struct sockaddr_storage *ss, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        errmsg_set(err, errlen, "%s: cannot resolve \"%s\": %s", listen, host,
                   rc ? gai_strerror(rc) : "no address");
        if (res)
            freeaddrinfo(res);
        return -1;
    }
    if (res->ai_addrlen > sizeof(*ss) ||
        (res->ai_family != AF_INET && res->ai_family != AF_INET6)) {
        freeaddrinfo(res);
        errmsg_set(err, errlen, "%s: unusable address", listen);
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

int http_listen_parse(const char *listen, bool allow_port_zero,
                      struct sockaddr_storage *ss, char *err, size_t errlen)
{
    struct netaddr a;
    memset(ss, 0, sizeof(*ss));
    if (netaddr_parse(listen, allow_port_zero, &a, err, errlen) < 0)
        return -1;
    if (a.bracketed) {
        /* netaddr_parse() checked it with inet_pton(). */
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, a.host, &s6->sin6_addr) != 1) {
            memset(ss, 0, sizeof(*ss));
            errmsg_set(err, errlen, "%s: bad IPv6 address", listen);
            return -1;
        }
    } else if (a.host[0] == '\0') {
        set_wildcard(ss);
    } else if (resolve(listen, a.host, ss, err, errlen) < 0) {
        memset(ss, 0, sizeof(*ss));
        return -1;
    }
    set_port(ss, a.port);
    return 0;
}

unsigned http_listen_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

bool http_listen_is_v6_any(const struct sockaddr_storage *ss)
{
    if (ss->ss_family != AF_INET6)
        return false;
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    return memcmp(&s6->sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0;
}
