/* redact: the forms of a secret, and server text withheld when it holds
 * one; pure. */
#ifndef REDACT_H
#define REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* What a reply text becomes when it contained a form of the secret. */
#define REDACT_WITHHELD "[withheld: the text contained a form of the secret]"

/*
 * Every form of a probe's secret that server text could carry back: the
 * secret itself (made printable the way reply text is), its base64, the
 * parts of its base64 that depend on the secret alone at each of the
 * three offsets it can take inside a longer base64 text (so PLAIN's and
 * XOAUTH2's messages are covered whatever precedes the secret), and each
 * token sent on the wire. One form a line; matching ignores case (a
 * server may fold it). A text that holds any of them is withheld whole:
 * replacing only the matching part would tell what the secret is (a
 * password "Authentication" made "535 5.7.8 [secret] credentials
 * invalid").
 */
struct redactor {
    struct buf forms; /* wiped by redact_free() */
};

void redact_init(struct redactor *r);
/* Wipes every form and frees. */
void redact_free(struct redactor *r);

/* The forms of a secret of len bytes. 0, or -1 when out of memory. */
int redact_add_secret(struct redactor *r, const char *secret, size_t len);
/* A token sent on the wire (base64 of a SASL message). 0, or -1. */
int redact_add_token(struct redactor *r, const char *token, size_t len);

/* Whether src (len bytes) holds any form. */
bool redact_found(const struct redactor *r, const char *src, size_t len);

/*
 * Copies src (len bytes) into dst (cap > 0, always NUL-terminated, cut to
 * fit), or REDACT_WITHHELD when src holds any form. Returns whether it
 * was withheld.
 */
bool redact_copy(const struct redactor *r, char *dst, size_t cap,
                 const char *src, size_t len);

#endif
