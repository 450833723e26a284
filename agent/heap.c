/* heap: a binary min-heap of the caller's items, with their positions. */
#include "heap.h"

#include <stdlib.h>

void heap_init(struct heap *h,
               void (*moved)(void *ctx, size_t item, size_t pos), void *ctx)
{
    *h = (struct heap){.moved = moved, .ctx = ctx};
}

void heap_free(struct heap *h)
{
    free(h->nodes);
    h->nodes = NULL;
    h->n = 0;
    h->cap = 0;
}

int heap_reserve(struct heap *h, size_t n)
{
    if (n <= h->cap)
        return 0;
    size_t cap = h->cap ? h->cap : 4;
    while (cap < n)
        cap *= 2;
    struct heap_node *p = realloc(h->nodes, cap * sizeof(*p));
    if (!p)
        return -1;
    h->nodes = p;
    h->cap = cap;
    return 0;
}

bool heap_key_less(struct heap_key x, struct heap_key y)
{
    if (x.a != y.a)
        return x.a < y.a;
    if (x.b != y.b)
        return x.b < y.b;
    return x.c < y.c;
}

static void place(struct heap *h, size_t pos, struct heap_node node)
{
    h->nodes[pos] = node;
    h->moved(h->ctx, node.item, pos);
}

static void count_step(struct heap *h)
{
    if (h->steps)
        (*h->steps)++;
}

/* The hole at pos moves up until node fits in it. */
static void sift_up(struct heap *h, size_t pos, struct heap_node node)
{
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!heap_key_less(node.key, h->nodes[parent].key))
            break;
        place(h, pos, h->nodes[parent]);
        pos = parent;
        count_step(h);
    }
    place(h, pos, node);
}

/* The hole at pos moves down until node fits in it. */
static void sift_down(struct heap *h, size_t pos, struct heap_node node)
{
    for (;;) {
        size_t child = 2 * pos + 1;
        if (child >= h->n)
            break;
        if (child + 1 < h->n &&
            heap_key_less(h->nodes[child + 1].key, h->nodes[child].key))
            child++;
        if (!heap_key_less(h->nodes[child].key, node.key))
            break;
        place(h, pos, h->nodes[child]);
        pos = child;
        count_step(h);
    }
    place(h, pos, node);
}

int heap_push(struct heap *h, struct heap_key key, size_t item)
{
    if (h->n == h->cap)
        return -1;
    h->n++;
    sift_up(h, h->n - 1, (struct heap_node){.key = key, .item = item});
    return 0;
}

const struct heap_node *heap_top(const struct heap *h)
{
    return h->n ? &h->nodes[0] : NULL;
}

/* The node at pos holds a new node: up or down to where it belongs. */
static void settle(struct heap *h, size_t pos, struct heap_node node)
{
    if (pos > 0 && heap_key_less(node.key, h->nodes[(pos - 1) / 2].key))
        sift_up(h, pos, node);
    else
        sift_down(h, pos, node);
}

void heap_remove(struct heap *h, size_t pos)
{
    size_t item = h->nodes[pos].item;
    struct heap_node last = h->nodes[--h->n];
    if (pos < h->n)
        settle(h, pos, last);
    h->moved(h->ctx, item, HEAP_NONE);
}

void heap_update(struct heap *h, size_t pos, struct heap_key key)
{
    struct heap_node node = h->nodes[pos];
    node.key = key;
    settle(h, pos, node);
}
