/* fuzz_common: what every libFuzzer harness here shares. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * A broken property is a crash: libFuzzer saves the input and the run
 * fails. abort() rather than assert(): the check must hold in every build,
 * NDEBUG or not.
 */
#define FUZZ_CHECK(cond)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* FNV-1a: a cheap fingerprint of a byte string, to compare the results of
 * two runs over the same input without keeping every copy. */
static inline uint64_t fuzz_hash(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

#define FUZZ_HASH_INIT 14695981039346656037ULL

/* xorshift64*: split points and other choices derived from the input
 * itself, so that every crash reproduces from its file alone. */
static inline uint64_t fuzz_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
