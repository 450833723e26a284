/* strpool: strings that live and die together, copied one after another
 * into blocks of 16 KiB, and freed all at once. A config of 10,000
 * targets made tens of thousands of small allocations that lived as long
 * as the config, with the parse's short-lived copies (a password_file
 * path per target) in between: each of those left a hole between
 * long-lived strings when it was freed. At 10,000 targets 3,517 holes
 * spread over 25 MB of heap, and the probes' allocations then came from
 * them, a cache miss each (glibc's _int_malloc took 10% of the agent's
 * CPU, against 2% of a bare libcurl loop's doing the same probes).
 * Pure. */
#ifndef STRPOOL_H
#define STRPOOL_H

#include <stddef.h>

struct strpool_block;

/* {NULL} is empty. */
struct strpool {
    struct strpool_block *head; /* the block being filled */
};

/*
 * A copy of s (or of its first n bytes, then NUL-terminated) that lives
 * until strpool_free(); NULL when out of memory.
 */
const char *strpool_dup(struct strpool *sp, const char *s);
const char *strpool_ndup(struct strpool *sp, const char *s, size_t n);

/* Bytes held in blocks (what the pool costs), for tests and accounting. */
size_t strpool_bytes(const struct strpool *sp);

/* Overwrites every copy with zeros (explicit_bzero: a secret held in the
 * pool does not outlive it in freed memory); they stay valid, empty. */
void strpool_wipe(struct strpool *sp);

/* Frees every copy; sp becomes empty. */
void strpool_free(struct strpool *sp);

#endif
