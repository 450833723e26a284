/* shard: which of N agents probes a target, decided as Prometheus'
 * hashmod relabel action decides which of N servers scrapes it. Pure. */
#ifndef SHARD_H
#define SHARD_H

#include <stddef.h>
#include <stdint.h>

/* The longest address: a 255-byte host, brackets, ':' and 5 digits. */
#define SHARD_ADDRESS_MAX (255 + 2 + 1 + 5)

/*
 * A target's address as Prometheus writes __address__ (Go's
 * net.JoinHostPort): "host:port", or "[host]:port" when host holds a ':'
 * (an IPv6 literal). host is taken as written: "MX1.example.com" and
 * "mx1.example.com" are two addresses to Prometheus too. Returns the
 * length, or -1 (dst then "") when it does not fit in n bytes.
 */
int shard_address(char *dst, size_t n, const char *host, unsigned port);

/*
 * hashmod of n bytes of s: the last 8 of the 16 bytes of their MD5
 * digest as a big-endian integer, modulo modulus; what Prometheus writes
 * into target_label (model/relabel/relabel.go, action hashmod). 0, or -1
 * when modulus is 0 or OpenSSL has no MD5 (a FIPS-only provider).
 */
int shard_hashmod(const void *s, size_t n, uint64_t modulus, uint64_t *out);

/* The shard of count (>= 1) that the target at host:port falls in:
 * shard_hashmod() of shard_address(). 0, or -1 as those fail. */
int shard_of(const char *host, unsigned port, unsigned count, unsigned *out);

#endif
