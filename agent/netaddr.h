/* netaddr: the one parser of HOST:PORT, [IPv6]:PORT and :PORT; pure. */
#ifndef NETADDR_H
#define NETADDR_H

#include <stdbool.h>
#include <stddef.h>

/* The longest host name: 253 characters (RFC 1035's 255 octets on the
 * wire, less the length bytes). */
#define NETADDR_HOST_MAX 253

/*
 * A listen address, checked for syntax only: nothing is resolved, no
 * socket is opened. host is a DNS name, an IPv4 address, or (bracketed)
 * an IPv6 address without its brackets; "" for ":PORT", every address.
 */
struct netaddr {
    char host[NETADDR_HOST_MAX + 1];
    unsigned port;
    bool bracketed; /* given as [IPv6]:PORT */
};

/*
 * Parses "HOST:PORT", "[IPv6]:PORT" or ":PORT". HOST is a DNS name
 * (letters, digits, '-', '.', '_'; at most 253; not starting with '-'
 * or '.') or an IPv4 address; an IPv6 address needs brackets. PORT is
 * digits only, 1 to 65535 (0 too when allow_port_zero). Returns 0, or -1
 * with *out zeroed and a message in err (when err is not NULL and
 * errlen > 0) that quotes s:
 *   "empty listen address (want host:port)"
 *   "S: want [IPv6-address]:port"        "[" without "]:"
 *   "S: bad IPv6 address"                 "[]:1", "[1.2.3.4]:1"
 *   "S: missing port (want host:port)"    no ':'
 *   "host name too long (N bytes, at most 253)"
 *   "S: an IPv6 address needs brackets: [addr]:port"
 *   "S: bad host name \"HOST\""           a space, '/', '@', ...
 *   "S: bad port \"P\" (want 1-65535)"
 */
int netaddr_parse(const char *s, bool allow_port_zero, struct netaddr *out,
                  char *err, size_t errlen);

/* Whether a keeps the endpoint on this machine: 127.0.0.0/8, ::1 or
 * "localhost" (any case). "" (every address), "0.0.0.0", "::" and other
 * names are reachable from the network. */
bool netaddr_is_loopback(const struct netaddr *a);

/* The pieces, for other keys that take a host or a port. */
/* A DNS name (or an IPv4 address) as above, n bytes of s. */
bool netaddr_is_dns_name(const char *s, size_t n);
/* An IPv6 address without brackets (inet_pton's syntax), n bytes of s. */
bool netaddr_is_ipv6(const char *s, size_t n);
/* Digits only, no sign or space, 1..65535 (0 too when allow_zero). 0, or
 * -1 with *port untouched. */
int netaddr_parse_port(const char *s, bool allow_zero, unsigned *port);

#endif
