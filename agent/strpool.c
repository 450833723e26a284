/* strpool: strings copied into shared blocks, freed together (strpool.h). */
#include "strpool.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define STRPOOL_BLOCK 16384

struct strpool_block {
    struct strpool_block *next;
    size_t used, cap;
    char data[];
};

static struct strpool_block *block_new(size_t cap)
{
    struct strpool_block *b = malloc(sizeof(*b) + cap);
    if (!b)
        return NULL;
    b->next = NULL;
    b->used = 0;
    b->cap = cap;
    return b;
}

const char *strpool_ndup(struct strpool *sp, const char *s, size_t n)
{
    size_t need = n + 1;
    struct strpool_block *b = sp->head;
    if (!b || b->cap - b->used < need) {
        /* A long string gets a block of its own behind the head, so
         * the room left in the head is still used. */
        bool own = need > STRPOOL_BLOCK / 4;
        struct strpool_block *nb =
            block_new(own ? need : STRPOOL_BLOCK - sizeof(*nb));
        if (!nb)
            return NULL;
        if (own && b) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            sp->head = nb;
        }
        b = nb;
    }
    char *d = b->data + b->used;
    memcpy(d, s, n);
    d[n] = '\0';
    b->used += need;
    return d;
}

const char *strpool_dup(struct strpool *sp, const char *s)
{
    return strpool_ndup(sp, s, strlen(s));
}

size_t strpool_bytes(const struct strpool *sp)
{
    size_t n = 0;
    for (const struct strpool_block *b = sp->head; b; b = b->next)
        n += sizeof(*b) + b->cap;
    return n;
}

void strpool_wipe(struct strpool *sp)
{
    for (struct strpool_block *b = sp->head; b; b = b->next)
        explicit_bzero(b->data, b->used);
}

void strpool_free(struct strpool *sp)
{
    struct strpool_block *b = sp->head;
    while (b) {
        struct strpool_block *next = b->next;
        free(b);
        b = next;
    }
    sp->head = NULL;
}
