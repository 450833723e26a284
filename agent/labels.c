/* labels: the label names the agent writes, and a target's own labels. */
#include "labels.h"

#include <string.h>

const char *const label_names[] = {
    [LABEL_TARGET] = "target",
    [LABEL_PHASE] = "phase",
    [LABEL_STAGE] = "stage",
    [LABEL_ERROR] = "error",
    [LABEL_CODE] = "code",
    [LABEL_CLASS] = "class",
    [LABEL_MECHANISM] = "mechanism",
    [LABEL_KEYWORD] = "keyword",
    [LABEL_VERSION] = "version",
    [LABEL_CIPHER] = "cipher",
    [LABEL_HOST] = "host",
    [LABEL_PORT] = "port",
    [LABEL_TLS] = "tls",
    [LABEL_TLS_VERIFY] = "tls_verify",
    [LABEL_REASON] = "reason",
    [LABEL_RESOURCE] = "resource",
    [LABEL_LIBCURL] = "libcurl",
    [LABEL_OPENSSL] = "openssl",
    [LABEL_LIBMICROHTTPD] = "libmicrohttpd",
    [LABEL_SHARD] = "shard",
    [LABEL_SHARDS] = "shards",
    [LABEL_STATE] = "state",
    [LABEL_TARGETS_FILE] = "targets_file",
    [LABEL_LE] = "le",
    [LABEL_QUANTILE] = "quantile",
    [LABEL_JOB] = "job",
    [LABEL_INSTANCE] = "instance",
    [LABEL_FINGERPRINT_SHA256] = "fingerprint_sha256",
    [LABEL_SUBJECT] = "subject",
    [LABEL_ISSUER] = "issuer",
    [LABEL_SERIAL] = "serial",
    [LABEL_CHECK] = "check",
};
_Static_assert(sizeof label_names / sizeof label_names[0] == LABEL_COUNT,
               "a name for every enum label_name");

const char *label_name(enum label_name l)
{
    if ((unsigned)l >= LABEL_COUNT)
        return "unknown";
    return label_names[l];
}

const char *labels_reserved_names(char *dst, size_t n)
{
    size_t used = 0;
    if (n == 0)
        return dst;
    dst[0] = '\0';
    for (int i = 0; i < LABEL_COUNT; i++) {
        size_t len = strlen(label_names[i]);
        size_t sep = i > 0 ? 2 : 0;
        if (used + sep + len + 1 > n)
            break;
        memcpy(dst + used, ", ", sep);
        memcpy(dst + used + sep, label_names[i], len + 1);
        used += sep + len;
    }
    return dst;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

enum labels_problem labels_check_value(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        if (c < 0x20 || c == 0x7f)
            return LABELS_CONTROL;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned long cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return LABELS_BAD_UTF8;
        }
        if (n - i - 1 < k)
            return LABELS_BAD_UTF8;
        for (size_t j = 1; j <= k; j++) {
            if ((u[i + j] & 0xc0) != 0x80)
                return LABELS_BAD_UTF8;
            cp = cp << 6 | (u[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return LABELS_BAD_UTF8;
        if (cp <= 0x9f)
            return LABELS_CONTROL; /* C1 */
        i += k + 1;
    }
    return LABELS_OK;
}

const char *labels_next(const char *p, const char **name, const char **value)
{
    if (!p || !*p)
        return NULL;
    *name = p;
    p += strlen(p) + 1;
    *value = p;
    return p + strlen(p) + 1;
}

long labels_copy(char *dst, size_t cap, const char *canon)
{
    const char *name, *value, *end = canon;
    size_t n = 0;
    for (const char *p = labels_next(canon, &name, &value); p;
         p = labels_next(p, &name, &value)) {
        end = p;
        n++;
    }
    size_t len = canon ? (size_t)(end - canon) : 0;
    if (cap == 0)
        return -1;
    if (n > LABELS_MAX || len + 1 > cap) {
        dst[0] = '\0';
        return -1;
    }
    memcpy(dst, canon ? canon : "", len + 1);
    return (long)len;
}

/* What is wrong with the name of n bytes at s, or LABELS_OK; canon, the
 * labels before it, for duplicates. */
static enum labels_problem check_name(const char *s, size_t n,
                                      const char *canon)
{
    if (n == 0 || !is_name_start(s[0]))
        return LABELS_BAD_NAME;
    for (size_t i = 1; i < n; i++) {
        if (!is_name_char(s[i]))
            return LABELS_BAD_NAME;
    }
    if (n > LABEL_NAME_MAX)
        return LABELS_NAME_TOO_LONG;
    if (n >= 2 && s[0] == '_' && s[1] == '_')
        return LABELS_DOUBLE_UNDERSCORE;
    for (int i = 0; i < LABEL_COUNT; i++) {
        if (strlen(label_names[i]) == n && memcmp(label_names[i], s, n) == 0)
            return LABELS_RESERVED;
    }
    const char *name, *value;
    for (const char *p = labels_next(canon, &name, &value); p;
         p = labels_next(p, &name, &value)) {
        if (strlen(name) == n && memcmp(name, s, n) == 0)
            return LABELS_DUPLICATE;
    }
    return LABELS_OK;
}

enum labels_problem labels_check_name(const char *s, size_t n,
                                      const char *canon)
{
    return check_name(s, n, canon);
}

/*
 * The value at *pp (after the '='), decoded into v (LABEL_VALUE_MAX
 * bytes), its length in *vlen; *pp moves past it. LABELS_OK or what is
 * wrong with its syntax or length.
 */
static enum labels_problem read_value(const char **pp, char *v, size_t *vlen)
{
    const char *p = *pp;
    size_t k = 0;
    if (*p != '"') {
        for (; *p && !is_blank(*p); p++) {
            if (*p == '"')
                return LABELS_QUOTE_IN_VALUE;
            if (k == LABEL_VALUE_MAX)
                return LABELS_VALUE_TOO_LONG;
            v[k++] = *p;
        }
        *pp = p;
        *vlen = k;
        return LABELS_OK;
    }
    for (p++;; p++) {
        char c = *p;
        if (c == '\0')
            return LABELS_UNTERMINATED;
        if (c == '"')
            break;
        if (c == '\\') {
            if (p[1] != '"' && p[1] != '\\')
                return p[1] ? LABELS_BAD_ESCAPE : LABELS_UNTERMINATED;
            c = *++p;
        }
        if (k == LABEL_VALUE_MAX)
            return LABELS_VALUE_TOO_LONG;
        v[k++] = c;
    }
    p++; /* the closing quote */
    if (*p && !is_blank(*p))
        return LABELS_AFTER_QUOTE;
    *pp = p;
    *vlen = k;
    return LABELS_OK;
}

static bool is_word(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

enum labels_problem labels_parse(const char *s, char *dst, size_t *len,
                                 size_t *n, const char **at, size_t *at_len)
{
    size_t used = 0, count = 0;
    const char *p = s;
    bool none = false;
    dst[0] = '\0';
    for (;;) {
        while (is_blank(*p))
            p++;
        if (!*p)
            break;
        const char *w = p;
        size_t name_len = strcspn(p, "= \t");
        size_t word_len = name_len + strcspn(p + name_len, " \t");
        *at = w;
        *at_len = name_len;
        if (p[name_len] != '=') {
            *at_len = word_len;
            if (is_word(w, word_len, "none")) {
                none = true;
                p += word_len;
                if (count > 0)
                    return LABELS_NONE_MIXED;
                continue;
            }
            return LABELS_NO_EQUALS;
        }
        if (none) {
            *at_len = word_len;
            return LABELS_NONE_MIXED;
        }
        enum labels_problem pr = check_name(w, name_len, dst);
        if (pr != LABELS_OK)
            return pr;
        if (count == LABELS_MAX) {
            *at_len = word_len;
            return LABELS_TOO_MANY;
        }
        p += name_len + 1;
        char v[LABEL_VALUE_MAX];
        size_t vlen = 0;
        pr = read_value(&p, v, &vlen);
        if (pr == LABELS_OK && vlen == 0)
            pr = LABELS_EMPTY_VALUE;
        if (pr == LABELS_OK)
            pr = labels_check_value(v, vlen);
        if (pr != LABELS_OK)
            return pr;
        /* Bounded by LABELS_CANON_MAX: name, value and their NULs, for at
         * most LABELS_MAX labels, and the final NUL. */
        memcpy(dst + used, w, name_len);
        dst[used + name_len] = '\0';
        used += name_len + 1;
        memcpy(dst + used, v, vlen);
        dst[used + vlen] = '\0';
        used += vlen + 1;
        dst[used] = '\0';
        count++;
    }
    *len = used;
    *n = count;
    return LABELS_OK;
}
