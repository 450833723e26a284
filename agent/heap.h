/* heap: a binary min-heap of the caller's items, with their positions. */
#ifndef HEAP_H
#define HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Pure. An item is a number the caller gives meaning to (an index into
 * its own array); its key is three numbers compared in order (a time, a
 * tie-break, a sequence), kept in the heap so that no comparison calls
 * out. Every time an item moves, the heap tells the caller its new
 * position through `moved`: heap_update and heap_remove take it.
 *
 * Pushes never allocate: heap_reserve does, so that the caller can
 * reserve room where a failure is allowed (adding an entry) and push
 * where it is not (a poll).
 */
struct heap_key {
    uint64_t a, b, c;
};

struct heap_node {
    struct heap_key key;
    size_t item;
};

struct heap {
    struct heap_node *nodes;
    size_t n;
    size_t cap;
    void (*moved)(void *ctx, size_t item, size_t pos);
    void *ctx;
    /* When set, every level an item moves up or down adds one here: the
     * work of the heap, for tests and benchmarks. */
    uint64_t *steps;
};

/* The position of an item in no heap. */
#define HEAP_NONE SIZE_MAX

void heap_init(struct heap *h,
               void (*moved)(void *ctx, size_t item, size_t pos), void *ctx);
/* Frees the nodes; the heap is empty and can be used again. */
void heap_free(struct heap *h);
/* Room for n items in all. 0, or -1 (out of memory: nothing changed). */
int heap_reserve(struct heap *h, size_t n);

bool heap_key_less(struct heap_key x, struct heap_key y);

/* 0, or -1 when the heap is full (heap_reserve first). */
int heap_push(struct heap *h, struct heap_key key, size_t item);
/* The smallest node, or NULL when empty. */
const struct heap_node *heap_top(const struct heap *h);
/* Removes the node at pos (the item's position); its item is told
 * HEAP_NONE. */
void heap_remove(struct heap *h, size_t pos);
/* Gives the node at pos a new key. */
void heap_update(struct heap *h, size_t pos, struct heap_key key);

#endif
