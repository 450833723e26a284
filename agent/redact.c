/* redact: the forms of a secret, and server text withheld when it holds
 * one; pure. */
#include "redact.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sasl.h"

/* Forms shorter than this match ordinary words and base64 by chance; the
 * secret itself and its whole base64 are kept however short. */
#define MIDDLE_MIN 6
/* Room for the forms of the largest secret and its tokens. */
#define FORMS_MAX (64 * 1024)

void redact_init(struct redactor *r)
{
    buf_init(&r->forms, FORMS_MAX);
}

void redact_free(struct redactor *r)
{
    buf_wipe(&r->forms);
}

static int add_form(struct redactor *r, const char *s, size_t n)
{
    if (n == 0 || memchr(s, '\n', n))
        return 0;
    if (buf_append(&r->forms, s, n) < 0 || buf_putc(&r->forms, '\n') < 0)
        return -1;
    return 0;
}

/*
 * The base64 characters that depend on the secret's bytes alone when k
 * bytes (0, 1, 2 mod 3) precede it: character i covers bits 6i..6i+5, and
 * the secret's run from 8k to 8(k + len).
 */
static int add_middle(struct redactor *r, const char *secret, size_t len,
                      unsigned k)
{
    struct buf in, out;
    buf_init(&in, 0);
    buf_init(&out, 0);
    static const char zeros[3] = {0, 0, 0};
    int rc = buf_append(&in, zeros, k);
    rc = rc < 0 ? rc : buf_append(&in, secret, len);
    rc = rc < 0 ? rc : buf_append(&in, zeros, 2);
    rc = rc < 0 ? rc : sasl_base64_encode(in.data, in.len, &out);
    if (rc == 0) {
        size_t first = (8 * k + 5) / 6;
        size_t last = 8 * (k + len) / 6;
        if (last > first && last - first >= MIDDLE_MIN && last <= out.len)
            rc = add_form(r, out.data + first, last - first);
    }
    buf_wipe(&in);
    buf_wipe(&out);
    return rc;
}

int redact_add_secret(struct redactor *r, const char *secret, size_t len)
{
    if (!secret || len == 0)
        return 0;
    /* As the parser makes reply text printable. */
    struct buf shown, b64;
    buf_init(&shown, 0);
    buf_init(&b64, 0);
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = (unsigned char)secret[i];
        rc = buf_putc(&shown, c >= 0x20 && c < 0x7f ? (char)c : '?');
    }
    rc = rc < 0 ? rc : add_form(r, shown.data, shown.len);
    rc = rc < 0 ? rc : sasl_base64_encode(secret, len, &b64);
    rc = rc < 0 ? rc : add_form(r, b64.data, b64.len);
    for (unsigned k = 0; k < 3 && rc == 0; k++)
        rc = add_middle(r, secret, len, k);
    buf_wipe(&shown);
    buf_wipe(&b64);
    return rc;
}

int redact_add_token(struct redactor *r, const char *token, size_t len)
{
    return add_form(r, token, len);
}

bool redact_found(const struct redactor *r, const char *src, size_t len)
{
    const char *form = buf_str(&r->forms);
    while (*form) {
        size_t flen = strcspn(form, "\n");
        for (size_t i = 0; flen && i + flen <= len; i++)
            if (strncasecmp(src + i, form, flen) == 0)
                return true;
        form += flen + (form[flen] == '\n');
    }
    return false;
}

bool redact_copy(const struct redactor *r, char *dst, size_t cap,
                 const char *src, size_t len)
{
    if (redact_found(r, src, len)) {
        snprintf(dst, cap, "%s", REDACT_WITHHELD);
        return true;
    }
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return false;
}
