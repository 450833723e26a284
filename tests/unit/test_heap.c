/* test_heap: order, positions, updates and removals of the min-heap. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "heap.h"

/* The caller's side: where each item is, as the heap says. */
struct items {
    size_t *pos;
    size_t n;
};

static void moved(void *ctx, size_t item, size_t pos)
{
    struct items *it = ctx;
    assert_true(item < it->n);
    it->pos[item] = pos;
}

static struct items *items_new(size_t n)
{
    struct items *it = calloc(1, sizeof(*it));
    assert_non_null(it);
    it->pos = malloc(n * sizeof(*it->pos));
    assert_non_null(it->pos);
    for (size_t i = 0; i < n; i++)
        it->pos[i] = HEAP_NONE;
    it->n = n;
    return it;
}

static void items_free(struct items *it)
{
    free(it->pos);
    free(it);
}

/* Every node is no smaller than its parent and where its item thinks. */
static void check(const struct heap *h, const struct items *it)
{
    for (size_t p = 0; p < h->n; p++) {
        assert_int_equal(it->pos[h->nodes[p].item], p);
        if (p > 0)
            assert_false(
                heap_key_less(h->nodes[p].key, h->nodes[(p - 1) / 2].key));
    }
}

static struct heap_key key(uint64_t a, uint64_t b, uint64_t c)
{
    return (struct heap_key){.a = a, .b = b, .c = c};
}

/* Pops everything: the keys come out in order. */
static void drain_in_order(struct heap *h, struct items *it)
{
    struct heap_key last = {0};
    for (size_t k = 0; heap_top(h); k++) {
        const struct heap_node *top = heap_top(h);
        if (k > 0)
            assert_false(heap_key_less(top->key, last));
        last = top->key;
        size_t item = top->item;
        heap_remove(h, 0);
        assert_int_equal(it->pos[item], HEAP_NONE);
        check(h, it);
    }
}

static void test_key_order(void **state)
{
    (void)state;
    static const struct {
        struct heap_key x, y;
        bool less;
    } cases[] = {
        {{1, 9, 9}, {2, 0, 0}, true},  {{2, 0, 0}, {1, 9, 9}, false},
        {{1, 1, 9}, {1, 2, 0}, true},  {{1, 2, 0}, {1, 1, 9}, false},
        {{1, 1, 1}, {1, 1, 2}, true},  {{1, 1, 2}, {1, 1, 1}, false},
        {{1, 1, 1}, {1, 1, 1}, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (heap_key_less(cases[i].x, cases[i].y) != cases[i].less)
            fail_msg("case %zu", i);
}

/* Ties on a and b are broken by c: items with equal times come out in
 * the order of their sequence numbers. */
static void test_order_and_ties(void **state)
{
    (void)state;
    static const struct heap_key keys[] = {
        {50, 0, 3}, {10, 5, 1}, {10, 5, 0}, {10, 4, 9}, {70, 0, 0},
        {0, 0, 0},  {50, 0, 2}, {10, 5, 2}, {99, 1, 1}, {0, 0, 1},
    };
    static const size_t want[] = {5, 9, 3, 2, 1, 7, 6, 0, 4, 8};
    enum { N = sizeof keys / sizeof keys[0] };
    struct items *it = items_new(N);
    struct heap h;
    heap_init(&h, moved, it);
    assert_int_equal(heap_reserve(&h, N), 0);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(heap_push(&h, keys[i], i), 0);
        check(&h, it);
    }
    for (size_t k = 0; k < N; k++) {
        assert_int_equal(heap_top(&h)->item, want[k]);
        heap_remove(&h, 0);
        check(&h, it);
    }
    assert_null(heap_top(&h));
    heap_free(&h);
    items_free(it);
}

/* Pushes never allocate: a full heap says so and stays as it was. */
static void test_push_needs_room(void **state)
{
    (void)state;
    struct items *it = items_new(8);
    struct heap h;
    heap_init(&h, moved, it);
    assert_null(heap_top(&h));
    assert_int_equal(heap_push(&h, key(1, 0, 0), 0), -1);
    assert_int_equal(heap_reserve(&h, 3), 0);
    assert_true(h.cap >= 3);
    size_t cap = h.cap;
    for (size_t i = 0; i < cap; i++)
        assert_int_equal(heap_push(&h, key(10 - i, 0, 0), i), 0);
    assert_int_equal(heap_push(&h, key(0, 0, 0), 7), -1);
    assert_int_equal(h.n, cap);
    assert_int_equal(it->pos[7], HEAP_NONE);
    check(&h, it);
    /* Reserving less than there is changes nothing. */
    assert_int_equal(heap_reserve(&h, 1), 0);
    assert_int_equal(h.cap, cap);
    heap_free(&h);
    assert_int_equal(h.n, 0);
    assert_null(heap_top(&h));
    items_free(it);
}

/* Keys moved up and down, items removed from the middle: the order and
 * every position stay right. */
static void test_update_and_remove(void **state)
{
    (void)state;
    enum { N = 200 };
    struct items *it = items_new(N);
    struct heap h;
    heap_init(&h, moved, it);
    assert_int_equal(heap_reserve(&h, N), 0);
    srand(7);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(
            heap_push(&h, key((uint64_t)(rand() % 1000), 0, i), i), 0);
    check(&h, it);
    for (size_t i = 0; i < N; i += 3) {
        heap_update(&h, it->pos[i], key((uint64_t)(rand() % 1000), 0, i));
        check(&h, it);
    }
    /* To the top, then to the bottom. */
    heap_update(&h, it->pos[5], key(0, 0, 0));
    assert_int_equal(heap_top(&h)->item, 5);
    heap_update(&h, it->pos[5], key(5000, 0, 0));
    check(&h, it);
    assert_int_not_equal(heap_top(&h)->item, 5);
    for (size_t i = 1; i < N; i += 4) {
        heap_remove(&h, it->pos[i]);
        assert_int_equal(it->pos[i], HEAP_NONE);
        check(&h, it);
    }
    /* The last node removed: nothing to move. */
    heap_remove(&h, h.n - 1);
    check(&h, it);
    drain_in_order(&h, it);
    heap_free(&h);
    items_free(it);
}

/* 100,000 items: sorted out, and each push and pop moves an item at most
 * the heap's height. */
static void test_large(void **state)
{
    (void)state;
    enum { N = 100000, HEIGHT = 17 };
    struct items *it = items_new(N);
    struct heap h;
    uint64_t steps = 0;
    heap_init(&h, moved, it);
    h.steps = &steps;
    assert_int_equal(heap_reserve(&h, N), 0);
    uint64_t x = 12345;
    for (size_t i = 0; i < N; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t before = steps;
        assert_int_equal(heap_push(&h, key(x >> 40, 0, i), i), 0);
        assert_true(steps - before <= HEIGHT);
    }
    check(&h, it);
    struct heap_key last = {0};
    for (size_t k = 0; k < N; k++) {
        const struct heap_node *top = heap_top(&h);
        assert_false(heap_key_less(top->key, last));
        last = top->key;
        uint64_t before = steps;
        heap_remove(&h, 0);
        assert_true(steps - before <= HEIGHT);
    }
    assert_null(heap_top(&h));
    heap_free(&h);
    items_free(it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_order_and_ties),
        cmocka_unit_test(test_push_needs_room),
        cmocka_unit_test(test_update_and_remove),
        cmocka_unit_test(test_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
