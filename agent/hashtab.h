/* hashtab: open addressing from the caller's keys to indices. */
#ifndef HASHTAB_H
#define HASHTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Pure. The table holds values (indices into the caller's array) under
 * the 64-bit hash of their key; the keys stay with the caller, who passes
 * an `eq` that says whether a value's key is the one looked for. Linear
 * probing; a removed value leaves a tombstone that later inserts reuse
 * and that a rehash drops. At most half the slots are ever in use, so a
 * lookup ends at an empty slot after a few probes.
 *
 * The caller keeps keys unique: look up before inserting.
 */
struct hashtab_slot {
    uint64_t hash;
    size_t value; /* HASHTAB_EMPTY, HASHTAB_TOMB or the caller's */
};

struct hashtab {
    struct hashtab_slot *slots;
    size_t cap; /* 0 or a power of two */
    size_t used;
    size_t tombs;
    /* When set, every slot a lookup or insert looks at adds one here:
     * for tests and benchmarks. */
    uint64_t *probes;
};

#define HASHTAB_EMPTY SIZE_MAX
#define HASHTAB_TOMB  (SIZE_MAX - 1)
/* What hashtab_find returns when the key is absent. */
#define HASHTAB_NONE SIZE_MAX

/* Says whether the key of value (in ctx, the caller's array) is key. */
typedef bool hashtab_eq_fn(const void *ctx, size_t value, const void *key);

void hashtab_init(struct hashtab *t);
void hashtab_free(struct hashtab *t);
/* Room for n values without a rehash. 0, or -1 (out of memory: nothing
 * changed). */
int hashtab_reserve(struct hashtab *t, size_t n);

/* The value stored under key, or HASHTAB_NONE. */
size_t hashtab_find(const struct hashtab *t, uint64_t hash, const void *key,
                    hashtab_eq_fn *eq, const void *ctx);
/* Adds value (below HASHTAB_TOMB) under hash; the key must be absent.
 * 0, or -1 (out of memory: nothing changed). */
int hashtab_insert(struct hashtab *t, uint64_t hash, size_t value);
/* Removes the value stored under key; false when there is none. */
bool hashtab_remove(struct hashtab *t, uint64_t hash, const void *key,
                    hashtab_eq_fn *eq, const void *ctx);

uint64_t hashtab_hash_u64(uint64_t x);
uint64_t hashtab_hash_str(const char *s);
/* ASCII letters hash as their lower case. */
uint64_t hashtab_hash_nocase(const char *s);

#endif
