/* allowlist: a [module]'s allowed_targets, parsed and matched; pure. */
#ifndef ALLOWLIST_H
#define ALLOWLIST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Patterns, separated by blanks:
 *   mx1.example.com       that host name (any case), any port
 *   *.example.com:587     one or more whole labels in front of
 *                         example.com (not example.com itself), port 587
 *   192.0.2.7  192.0.2.0/24  192.0.2.0/24:25
 *   ::1  ::1/128  [2001:db8::]/32:25  [2001:db8::1]:25
 * A host pattern only matches a host name, a CIDR pattern only an IP
 * address written as one: nothing is resolved, so that DNS cannot widen
 * the list. A CIDR's address has no bits set past its prefix.
 */
enum allow_kind { ALLOW_NAME, ALLOW_WILDCARD, ALLOW_CIDR };

struct allow_pattern {
    enum allow_kind kind;
    /* ALLOW_NAME: the name; ALLOW_WILDCARD: what follows "*." (lower
     * case, at most 253 characters). */
    char name[254];
    int family; /* ALLOW_CIDR: AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
    unsigned port; /* 0: any */
};

struct allowlist {
    struct allow_pattern *p;
    size_t n;
};

/* Parses text into *out (empty before, freed with allowlist_free()).
 * 0; or -1 with *out empty and err saying which pattern is wrong and
 * why ("no patterns" for a blank text; "out of memory"). */
int allowlist_parse(const char *text, struct allowlist *out, char *err,
                    size_t errlen);

/* Whether host (as requested: a name, an IPv4 address or an IPv6 address
 * without brackets) and port match one of the patterns. */
bool allowlist_match(const struct allowlist *a, const char *host,
                     unsigned port);

/* NULL or empty is a no-op; *a is empty after. */
void allowlist_free(struct allowlist *a);

/*
 * A requested target: HOST, HOST:PORT, IPv4, IPv4:PORT, IPv6 (bare, no
 * port) or [IPv6] / [IPv6]:PORT. HOST is a DNS name (netaddr's rules).
 * The host without brackets in host (cap bytes with its NUL), *port 0
 * when none was given. 0, or -1.
 */
int allowlist_split_target(const char *s, char *host, size_t cap,
                           unsigned *port);

#endif
