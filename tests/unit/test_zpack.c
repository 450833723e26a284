/* test_zpack: packed copies read back byte for byte, cost what they use,
 * reuse their room, and refuse damaged input without reading past it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "zpack.h"

static void round_trip(const unsigned char *in, size_t n)
{
    struct zpack z = {0};
    assert_int_equal(zpack_store(&z, in, n), 0);
    unsigned char *out = malloc(n ? n : 1);
    assert_non_null(out);
    memset(out, 0xa5, n);
    assert_int_equal(zpack_unpack(&z, out, n), 0);
    assert_memory_equal(out, in, n);
    free(out);
    zpack_free(&z);
}

static void test_round_trip(void **state)
{
    (void)state;
    unsigned char buf[4096] = {0};
    /* Edges: empty, all zeros, no zeros, short zero runs, runs at both
     * ends, one byte. */
    round_trip(buf, 0);
    memset(buf, 0, sizeof(buf));
    round_trip(buf, sizeof(buf));
    round_trip(buf, 1);
    memset(buf, 7, sizeof(buf));
    round_trip(buf, sizeof(buf));
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i % 5 == 0 ? 0 : i);
    round_trip(buf, sizeof(buf));
    memset(buf, 0, sizeof(buf));
    buf[0] = buf[4095] = 1;
    round_trip(buf, sizeof(buf));
    /* Random mixes of runs of every length. */
    srand(12345);
    for (int k = 0; k < 500; k++) {
        size_t n = (size_t)rand() % sizeof(buf);
        for (size_t i = 0; i < n;) {
            size_t run = 1 + (size_t)rand() % 40;
            int zero = rand() % 2;
            for (size_t j = 0; j < run && i < n; j++, i++)
                buf[i] = zero ? 0 : (unsigned char)(1 + rand() % 255);
        }
        round_trip(buf, n);
    }
}

/* A probe result as the probe leaves it is mostly zeros: it packs to a
 * small part of its size, in room of that size, and the room is reused. */
static void test_probe_result(void **state)
{
    (void)state;
    struct probe_result *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    snprintf(r->target, sizeof(r->target), "mx1");
    r->success = true;
    r->start_time = 1765000000.25;
    for (int s = PROBE_STAGE_GREETING; s < PROBE_STAGE_COUNT; s++) {
        r->replies[s].code = 250;
        snprintf(r->replies[s].text, sizeof(r->replies[s].text),
                 "2.0.0 mx1.example.com ESMTP ready");
    }
    snprintf(r->tls.version, sizeof(r->tls.version), "TLSv1.3");
    snprintf(r->tls.subject, sizeof(r->tls.subject), "CN=mx1.example.com");
    r->n_auth = 1;
    r->auth[0].reply.code = 235;
    struct zpack z = {0};
    assert_int_equal(zpack_store(&z, r, sizeof(*r)), 0);
    assert_true(z.len < sizeof(*r) / 5);
    /* Its room too, not the worst case of every byte a literal: an
     * eighth more and a step of 32 at most. */
    assert_true(z.cap >= z.len);
    assert_true(z.cap <= z.len + z.len / 8 + 32);
    unsigned char *room = z.data;
    size_t cap = z.cap;
    /* A slightly larger result later: same room, no allocation. */
    snprintf(r->tls.subject, sizeof(r->tls.subject), "CN=mx10.example.com");
    assert_int_equal(zpack_store(&z, r, sizeof(*r)), 0);
    assert_ptr_equal(z.data, room);
    assert_int_equal(z.cap, cap);
    /* A smaller one: the same. */
    r->tls.subject[0] = '\0';
    assert_int_equal(zpack_store(&z, r, sizeof(*r)), 0);
    assert_ptr_equal(z.data, room);
    assert_int_equal(z.cap, cap);
    struct probe_result back;
    assert_int_equal(zpack_unpack(&z, &back, sizeof(back)), 0);
    assert_memory_equal(&back, r, sizeof(back));
    zpack_free(&z);
    free(r);
}

/* A reserved room takes a first store of its size without allocating,
 * and a room up to 1 KiB is kept however small the next result. */
static void test_reserve(void **state)
{
    (void)state;
    unsigned char in[2048];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(1 + i % 250);
    struct zpack z = {0};
    assert_int_equal(zpack_reserve(&z, 768), 0);
    assert_non_null(z.data);
    assert_int_equal(z.cap, 768);
    assert_int_equal(z.len, 0);
    unsigned char out[2048];
    assert_int_equal(zpack_unpack(&z, out, 16), -1); /* still empty */
    unsigned char *room = z.data;
    /* Smaller than the room: no reserve below it shrinks it. */
    assert_int_equal(zpack_reserve(&z, 100), 0);
    assert_ptr_equal(z.data, room);
    assert_int_equal(z.cap, 768);
    /* A first result that fits, then a much smaller one: same room. */
    assert_int_equal(zpack_store(&z, in, 600), 0);
    assert_ptr_equal(z.data, room);
    assert_int_equal(zpack_store(&z, in, 10), 0);
    assert_ptr_equal(z.data, room);
    assert_int_equal(z.cap, 768);
    assert_int_equal(zpack_unpack(&z, out, 10), 0);
    assert_memory_equal(out, in, 10);
    /* One that does not fit grows it; past 1 KiB a room over twice the
     * need is given back. */
    assert_int_equal(zpack_store(&z, in, sizeof(in)), 0);
    assert_true(z.cap >= sizeof(in));
    assert_int_equal(zpack_store(&z, in, 10), 0);
    assert_true(z.cap < 64);
    assert_int_equal(zpack_unpack(&z, out, 10), 0);
    assert_memory_equal(out, in, 10);
    zpack_free(&z);
}

static void test_damaged(void **state)
{
    (void)state;
    unsigned char in[256], out[256];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i % 7 ? i : 0);
    memset(in + 100, 0, 50);
    struct zpack z = {0};
    assert_int_equal(zpack_store(&z, in, sizeof(in)), 0);

    /* Another size than it was packed from. */
    assert_int_equal(zpack_unpack(&z, out, sizeof(out) - 1), -1);
    /* Every truncation fails, and leaves zeros. */
    size_t len = z.len;
    for (size_t cut = 0; cut < len; cut++) {
        z.len = cut;
        memset(out, 0xa5, sizeof(out));
        assert_int_equal(zpack_unpack(&z, out, sizeof(out)), -1);
        for (size_t i = 0; i < sizeof(out); i++)
            assert_int_equal(out[i], 0);
    }
    z.len = len;
    /* Every single-byte change either reads back or fails cleanly. */
    for (size_t i = 0; i < len; i++) {
        unsigned char keep = z.data[i];
        for (int v = 0; v < 256; v += 17) {
            z.data[i] = (unsigned char)v;
            int rc = zpack_unpack(&z, out, sizeof(out));
            assert_true(rc == 0 || rc == -1);
        }
        z.data[i] = keep;
    }
    /* Empty. */
    struct zpack empty = {0};
    assert_int_equal(zpack_unpack(&empty, out, sizeof(out)), -1);
    /* A varint that never ends. */
    unsigned char endless[16];
    memset(endless, 0xff, sizeof(endless));
    struct zpack bad = {endless, sizeof(endless), sizeof(endless)};
    assert_int_equal(zpack_unpack(&bad, out, sizeof(out)), -1);
    zpack_free(&z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_probe_result),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
