/* http_listen: the socket address the HTTP server binds, from a listen
 * address (netaddr's syntax, the wildcard, a host name resolved). */
#ifndef HTTP_LISTEN_H
#define HTTP_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

struct sockaddr_storage;

/*
 * "host:port", "[v6]:port" or ":port" (every address), checked by
 * netaddr_parse() (its messages), into a socket address. ":port" gives
 * the IPv6 wildcard when the system has IPv6, else 0.0.0.0 (the server
 * serves an IPv6 wildcard dual stack, IPv4 too). A host name is
 * resolved, first address. Port 1..65535, 0 too when allow_port_zero
 * (tests: bind a free port). 0, or -1 with a message in err.
 */
int http_listen_parse(const char *listen, bool allow_port_zero,
                      struct sockaddr_storage *ss, char *err, size_t errlen);

/* The port of ss (AF_INET or AF_INET6), host order. */
unsigned http_listen_port(const struct sockaddr_storage *ss);

/* Whether ss is the IPv6 wildcard "::". */
bool http_listen_is_v6_any(const struct sockaddr_storage *ss);

#endif
