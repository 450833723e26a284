/* buf: a growable byte buffer with a hard size limit. */
#ifndef BUF_H
#define BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define BUF_PRINTF(a, b) __attribute__((format(printf, a, b)))

/*
 * data is always NUL-terminated (data[len] == 0) once anything was
 * appended; an empty buffer may have data == NULL: use buf_str() to read it
 * as a string. An append that would pass max fails with -1 and leaves the
 * buffer exactly as it was: nothing is ever silently cut.
 */
struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    bool public_data; /* see buf_public() */
};

/* max is the largest len the buffer may reach; 0 means 64 MiB. */
void buf_init(struct buf *b, size_t max);
/*
 * Marks b as holding nothing secret (a /metrics body): from 1 MiB of room
 * on it then grows with realloc(), which moves the mapping glibc made for
 * it (mremap()) without copying it, instead of a new allocation, a copy
 * and a wipe of the old one. A 17 MB body grown from 16 MiB of room
 * otherwise holds both, 33 MB, for a moment. buf_init() clears the mark.
 */
void buf_public(struct buf *b);
/* Frees the memory; the buffer can be used again after buf_init. */
void buf_free(struct buf *b);
/* Overwrites the whole allocation with zeros, then frees it: for secrets. */
void buf_wipe(struct buf *b);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Drops what follows the first len bytes (nothing when len >= b->len). */
void buf_truncate(struct buf *b, size_t len);

/*
 * Makes room for n more bytes plus the terminating NUL, at once: a caller
 * that knows about how much comes saves the copies of growing (each
 * growth copies, so a body grown by doubling peaks at 1.5 times its
 * capacity). -1 past max or out of memory, the buffer unchanged.
 */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) BUF_PRINTF(2, 3);
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) BUF_PRINTF(2, 0);

/* The contents as a string: "" for an empty buffer, never NULL. */
const char *buf_str(const struct buf *b);

/* Takes the data out: the caller owns it (free()); the buffer is empty. */
char *buf_take(struct buf *b);

#endif
