/* zpack: zero runs as counts, everything else as is. */
#include "zpack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The format: the unpacked size, then pairs (literal count, the literal
 * bytes, zero count) to the end; counts are LEB128 varints. A zero run
 * shorter than ZERO_RUN_MIN stays in the literal: a count costs a byte or
 * two, and a break in a literal costs one more.
 */
#define ZERO_RUN_MIN 4
#define VARINT_MAX   10

static size_t put_varint(unsigned char *dst, size_t v)
{
    size_t n = 0;
    do {
        unsigned char b = v & 0x7f;
        v >>= 7;
        dst[n++] = (unsigned char)(b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

/* 0, or -1 past end or for a varint too long. */
static int get_varint(const unsigned char **p, const unsigned char *end,
                      size_t *v)
{
    size_t out = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        unsigned char b = *(*p)++;
        out |= (size_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = out;
            return 0;
        }
    }
    return -1;
}

/* How many zero bytes start at s (up to end). */
static size_t zero_run(const unsigned char *s, const unsigned char *end)
{
    const unsigned char *p = s;
    while (p < end && *p == 0)
        p++;
    return (size_t)(p - s);
}

/* Writes v at dst (NULL: only counts); its length in bytes. */
static size_t varint_at(unsigned char *dst, size_t v)
{
    unsigned char scratch[VARINT_MAX];
    return put_varint(dst ? dst : scratch, v);
}

/* Packs the n bytes at s into dst, or only counts when dst is NULL: the
 * packed length either way. */
static size_t pack(unsigned char *dst, const unsigned char *s, size_t n)
{
    const unsigned char *end = s + n;
    size_t len = varint_at(dst, n);
    while (s < end) {
        const unsigned char *lit = s;
        size_t zeros = 0;
        while (s < end) {
            zeros = zero_run(s, end);
            if (zeros >= ZERO_RUN_MIN || s + zeros == end)
                break;
            s += zeros ? zeros : 1;
            zeros = 0;
        }
        size_t n_lit = (size_t)(s - lit);
        len += varint_at(dst ? dst + len : NULL, n_lit);
        if (dst)
            memcpy(dst + len, lit, n_lit);
        len += n_lit;
        len += varint_at(dst ? dst + len : NULL, zeros);
        s += zeros;
    }
    return len;
}

/* Room for need bytes: an eighth more, in steps of 32, so that the next
 * result of a target, a few bytes longer or shorter, fits in it. */
static size_t room_for(size_t need)
{
    size_t room = need + need / 8;
    return (room + 31) & ~(size_t)31;
}

/* A room up to this size is kept however small the next result: it
 * costs little, and giving it back would allocate amid a probe's
 * allocations (metrics.c reserves rooms when a target is made). */
#define ZPACK_KEEP 1024

/* z's room becomes cap bytes; -1 (z unchanged) when out of memory. */
static int set_room(struct zpack *z, size_t cap)
{
    unsigned char *room = realloc(z->data, cap);
    if (!room)
        return -1;
    z->data = room;
    z->cap = cap;
    return 0;
}

int zpack_reserve(struct zpack *z, size_t cap)
{
    return cap <= z->cap ? 0 : set_room(z, cap);
}

int zpack_store(struct zpack *z, const void *p, size_t n)
{
    /* Counted first, then written into room of about that size: at
     * 10,000 targets room for the worst case (every byte a literal) cost
     * 75 MB of results that pack to a few hundred bytes each. A room
     * kept for a larger one is given back when it is over twice the need;
     * one that fits is kept, so that a probe's store allocates nothing.
     * Up to ZPACK_KEEP, a room is kept anyway. */
    size_t need = pack(NULL, p, n);
    if ((need > z->cap || (need < z->cap / 2 && z->cap > ZPACK_KEEP)) &&
        set_room(z, room_for(need)) < 0) {
        z->len = 0;
        return -1;
    }
    z->len = pack(z->data, p, n);
    return 0;
}

int zpack_unpack(const struct zpack *z, void *out, size_t n)
{
    unsigned char *o = out;
    memset(o, 0, n);
    if (!z->data || z->len == 0)
        return -1;
    const unsigned char *p = z->data, *end = z->data + z->len;
    size_t total, at = 0;
    if (get_varint(&p, end, &total) < 0 || total != n)
        return -1;
    while (p < end) {
        size_t n_lit, zeros;
        if (get_varint(&p, end, &n_lit) < 0 || n_lit > n - at ||
            n_lit > (size_t)(end - p))
            goto bad;
        memcpy(o + at, p, n_lit);
        p += n_lit;
        at += n_lit;
        if (get_varint(&p, end, &zeros) < 0 || zeros > n - at)
            goto bad;
        at += zeros; /* already zero */
    }
    if (at == n)
        return 0;
bad:
    memset(o, 0, n);
    return -1;
}

void zpack_free(struct zpack *z)
{
    free(z->data);
    z->data = NULL;
    z->len = z->cap = 0;
}
