/* zpack: a flat struct kept in the bytes it uses. A probe result is ~7.5
 * KB of fixed-size buffers of which a few hundred bytes are set: zero
 * runs are stored as counts, the rest as is. Knows no field, so a field
 * added to a struct is kept without a change here. Pure. */
#ifndef ZPACK_H
#define ZPACK_H

#include <stddef.h>

/* A packed copy, grown in place: reusing one costs no allocation once it
 * is large enough. {NULL, 0, 0} is empty. */
struct zpack {
    unsigned char *data;
    size_t len, cap;
};

/*
 * Packs the n bytes at p into z, replacing what z held. 0, or -1 when out
 * of memory (z then holds nothing: zpack_unpack() fails on it).
 */
int zpack_store(struct zpack *z, const void *p, size_t n);

/*
 * Unpacks z into the n bytes at out. 0, or -1 when z is empty, or was
 * packed from another size, or is damaged: out is then all zeros.
 */
int zpack_unpack(const struct zpack *z, void *out, size_t n);

/*
 * Room for at least cap packed bytes now, so that a first store of about
 * that size allocates nothing. 0, or -1 when out of memory (z unchanged).
 */
int zpack_reserve(struct zpack *z, size_t cap);

/* Frees what z holds; z becomes empty. */
void zpack_free(struct zpack *z);

#endif
