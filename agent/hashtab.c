/* hashtab: open addressing from the caller's keys to indices. */
#include "hashtab.h"

#include <stdlib.h>

#define HASHTAB_MIN_CAP 16

void hashtab_init(struct hashtab *t)
{
    *t = (struct hashtab){0};
}

void hashtab_free(struct hashtab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = 0;
    t->used = 0;
    t->tombs = 0;
}

static void count_probe(const struct hashtab *t)
{
    if (t->probes)
        (*t->probes)++;
}

/* The slots of cap (a power of two) that at most half fill with n. */
static size_t cap_for(size_t n)
{
    size_t cap = HASHTAB_MIN_CAP;
    while (cap / 2 < n)
        cap *= 2;
    return cap;
}

/* Moves every value into cap new slots, dropping the tombstones. */
static int rehash(struct hashtab *t, size_t cap)
{
    struct hashtab_slot *slots = malloc(cap * sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i < cap; i++)
        slots[i].value = HASHTAB_EMPTY;
    for (size_t i = 0; i < t->cap; i++) {
        const struct hashtab_slot *old = &t->slots[i];
        if (old->value == HASHTAB_EMPTY || old->value == HASHTAB_TOMB)
            continue;
        size_t j = (size_t)old->hash & (cap - 1);
        while (slots[j].value != HASHTAB_EMPTY)
            j = (j + 1) & (cap - 1);
        slots[j] = *old;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->tombs = 0;
    return 0;
}

int hashtab_reserve(struct hashtab *t, size_t n)
{
    if (n < t->used)
        n = t->used;
    if (t->cap && (n + t->tombs) <= t->cap / 2)
        return 0;
    return rehash(t, cap_for(n));
}

size_t hashtab_find(const struct hashtab *t, uint64_t hash, const void *key,
                    hashtab_eq_fn *eq, const void *ctx)
{
    if (t->cap == 0)
        return HASHTAB_NONE;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        const struct hashtab_slot *s = &t->slots[i];
        count_probe(t);
        if (s->value == HASHTAB_EMPTY)
            return HASHTAB_NONE;
        if (s->value != HASHTAB_TOMB && s->hash == hash &&
            eq(ctx, s->value, key))
            return s->value;
    }
}

int hashtab_insert(struct hashtab *t, uint64_t hash, size_t value)
{
    if (value >= HASHTAB_TOMB)
        return -1;
    if (hashtab_reserve(t, t->used + 1) < 0)
        return -1;
    size_t mask = t->cap - 1;
    size_t i = (size_t)hash & mask;
    /* The first tombstone on the way will do: the key is absent. */
    while (t->slots[i].value != HASHTAB_EMPTY &&
           t->slots[i].value != HASHTAB_TOMB) {
        count_probe(t);
        i = (i + 1) & mask;
    }
    count_probe(t);
    if (t->slots[i].value == HASHTAB_TOMB)
        t->tombs--;
    t->slots[i] = (struct hashtab_slot){.hash = hash, .value = value};
    t->used++;
    return 0;
}

bool hashtab_remove(struct hashtab *t, uint64_t hash, const void *key,
                    hashtab_eq_fn *eq, const void *ctx)
{
    if (t->cap == 0)
        return false;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        struct hashtab_slot *s = &t->slots[i];
        count_probe(t);
        if (s->value == HASHTAB_EMPTY)
            return false;
        if (s->value != HASHTAB_TOMB && s->hash == hash &&
            eq(ctx, s->value, key)) {
            s->value = HASHTAB_TOMB;
            t->used--;
            t->tombs++;
            return true;
        }
    }
}

uint64_t hashtab_hash_u64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* FNV-1a, then mixed: its low bits alone are weak for linear probing. */
static uint64_t hash_bytes(const char *s, bool nocase)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (nocase && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = (h ^ c) * 0x100000001b3ULL;
    }
    return hashtab_hash_u64(h);
}

uint64_t hashtab_hash_str(const char *s)
{
    return hash_bytes(s, false);
}

uint64_t hashtab_hash_nocase(const char *s)
{
    return hash_bytes(s, true);
}
