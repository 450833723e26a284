/* passhash: the bcrypt hash that web_basic_auth_password_hash takes,
 * made by the agent itself (--hash-password), so that no other tool is
 * needed. */
#ifndef PASSHASH_H
#define PASSHASH_H

#include <stddef.h>
#include <stdio.h>

/* bcrypt reads no further than this many bytes of a password. */
#define PASSHASH_MAX  72
#define PASSHASH_COST 10
#define PASSHASH_LEN  60

/*
 * The one line in reads as a password in pw (cap bytes, at least
 * PASSHASH_MAX + 2), its "\n" (or "\r\n") stripped. 0, or -1 with *why
 * saying what is wrong: empty, longer than bcrypt reads, a NUL byte, more
 * than one line. pw is wiped on failure.
 */
int passhash_read(FILE *in, char *pw, size_t cap, const char **why);

/* A "$2b$COST$..." hash of password with a fresh random salt in out
 * (at least PASSHASH_LEN + 1 bytes); 0 or -1. */
int passhash_bcrypt(const char *password, unsigned cost, char *out,
                    size_t cap);

#endif
