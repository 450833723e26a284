/* markdown_inline: the inline half of markdown: the writer and its
 * escaping, code spans, emphasis, links and which URLs they may take.
 * Pure. */
#include "markdown_internal.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "html.h"

/*
 * Emphasis, links and code nest at most this deep; deeper markers are
 * text. It bounds the recursion, and the work: every level reads its
 * span once.
 */
#define INLINE_DEPTH_MAX 8
/* Code spans of up to this many backticks; a longer run is text. A run
 * of k that finds no closer is the last run of k in its span, so at most
 * this many searches fail, each reading the rest of the span once. */
#define CODE_RUN_MAX 16

/* ---- the writer --------------------------------------------------------- */

void md_raw(struct md_writer *w, const char *s)
{
    if (w->rc == 0 && !w->plain)
        w->rc = buf_puts(w->b, s);
}

void md_printf(struct md_writer *w, const char *fmt, ...)
{
    if (w->rc != 0 || w->plain)
        return;
    va_list ap;
    va_start(ap, fmt);
    w->rc = buf_vprintf(w->b, fmt, ap);
    va_end(ap);
}

void md_text(struct md_writer *w, const char *s, size_t n)
{
    if (w->rc != 0)
        return;
    if (w->plain) {
        w->rc = buf_append(w->b, s, n);
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i < n && w->rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = html_entity(c);
        if (!rep) {
            if (c == '\t' || c == '\n' || (c >= 0x20 && c != 0x7f))
                continue;
            rep = "?";
        }
        w->rc = buf_append(w->b, s + start, i - start);
        if (w->rc == 0)
            w->rc = buf_puts(w->b, rep);
        start = i + 1;
    }
    if (w->rc == 0)
        w->rc = buf_append(w->b, s + start, n - start);
}

/* ---- characters --------------------------------------------------------- */

bool md_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Letters, digits and any byte of a UTF-8 sequence: no '_' emphasis
 * starts or ends next to one (snake_case stays as written). */
static bool is_word(char ch)
{
    unsigned char c = (unsigned char)ch;
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static bool is_punct(char c)
{
    return c != '\0' && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c);
}

size_t md_run_of(const char *s, size_t n, size_t i, char c)
{
    size_t k = i;
    while (k < n && s[k] == c)
        k++;
    return k - i;
}

void md_trim(const char **s, size_t *n)
{
    while (*n && md_is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && md_is_space((*s)[*n - 1]))
        (*n)--;
}

/* ---- links -------------------------------------------------------------- */

static bool has_prefix_nocase(const char *s, size_t n, const char *p)
{
    size_t k = strlen(p);
    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != p[i])
            return false;
    }
    return true;
}

/*
 * Whether a link may be an href: http:// or https://, an anchor of the
 * page ("#smtpauthfailing") or a path of the agent ("/metrics"). So
 * javascript:, data: and every other scheme, in any case, are text, and
 * so are paths relative to ALERTS.md's directory ("alerts.yml", a 404 on
 * the agent) and "//host" (another host, scheme-less). No whitespace,
 * control character or backslash (which browsers read as '/').
 */
static bool url_ok(const char *u, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c <= 0x20 || c == 0x7f || c == '\\')
            return false;
    }
    if (has_prefix_nocase(u, n, "http://") ||
        has_prefix_nocase(u, n, "https://"))
        return true;
    if (u[0] == '#')
        return true;
    return u[0] == '/' && (n == 1 || u[1] != '/');
}

/* Where a link's text or URL cannot go on: a marker is text then. */
static bool url_stop(char ch)
{
    unsigned char c = (unsigned char)ch;
    return c <= 0x20 || c == 0x7f || strchr("()<>[]\"'`", c);
}

/* ---- inline ------------------------------------------------------------- */

/*
 * One span being read, and where a search for a closing emphasis marker
 * already failed: a later search of the same marker from there on fails
 * too (a closer depends only on the characters around it), so that
 * markers left open (" *a *a *a") do not make a line cost its length
 * squared. Code spans need no such memory (see CODE_RUN_MAX).
 */
enum emph { EMPH_STAR, EMPH_STAR2, EMPH_UNDER, EMPH_UNDER2, EMPH_COUNT };

struct span {
    const char *s;
    size_t n;
    size_t no_emph[EMPH_COUNT];
};

static void inline_md(struct md_writer *w, const char *s, size_t n, int depth,
                      bool in_link);

/* The start of the run of exactly k backticks that closes a code span
 * whose content starts at p; SIZE_MAX when none. */
static size_t code_close(const struct span *sp, size_t p, size_t k)
{
    for (size_t j = p; j < sp->n;) {
        if (sp->s[j] != '`') {
            j++;
            continue;
        }
        size_t r = md_run_of(sp->s, sp->n, j, '`');
        if (r == k)
            return j;
        j += r;
    }
    return SIZE_MAX;
}

/* The start of the run of exactly m c's that closes emphasis whose
 * content starts at p (after a whole run of c); SIZE_MAX when none. */
static size_t emph_close(struct span *sp, size_t p, char c, size_t m)
{
    enum emph e = c == '*' ? (m == 1 ? EMPH_STAR : EMPH_STAR2)
                           : (m == 1 ? EMPH_UNDER : EMPH_UNDER2);
    if (p >= sp->no_emph[e])
        return SIZE_MAX;
    for (size_t j = p; j < sp->n;) {
        if (sp->s[j] != c) {
            j++;
            continue;
        }
        size_t r = md_run_of(sp->s, sp->n, j, c);
        if (r == m && !md_is_space(sp->s[j - 1]) &&
            (c == '*' || j + r == sp->n || !is_word(sp->s[j + r])))
            return j;
        j += r;
    }
    sp->no_emph[e] = p;
    return SIZE_MAX;
}

/* A code span at s[i] (a run of k backticks): its end, or 0 for text. */
static size_t code_span(struct md_writer *w, struct span *sp, size_t i,
                        size_t k)
{
    if (k > CODE_RUN_MAX)
        return 0;
    size_t j = code_close(sp, i + k, k);
    if (j == SIZE_MAX)
        return 0;
    const char *c = sp->s + i + k;
    size_t cn = j - (i + k);
    /* "`` `x` ``": one space inside each end is padding. */
    bool all_space = true;
    for (size_t q = 0; q < cn && all_space; q++)
        all_space = md_is_space(c[q]);
    if (cn >= 2 && !all_space && md_is_space(c[0]) && md_is_space(c[cn - 1])) {
        c++;
        cn -= 2;
    }
    md_raw(w, "<code>");
    md_text(w, c, cn);
    md_raw(w, "</code>");
    return j + k;
}

/* Emphasis at s[i] (a run of m c's): its end, or 0 for text. */
static size_t emphasis(struct md_writer *w, struct span *sp, size_t i,
                       size_t m, int depth, bool in_link)
{
    char c = sp->s[i];
    size_t p = i + m;
    if (m > 2 || depth >= INLINE_DEPTH_MAX || p >= sp->n ||
        md_is_space(sp->s[p]))
        return 0;
    if (c == '_' && i > 0 && is_word(sp->s[i - 1]))
        return 0;
    size_t j = emph_close(sp, p, c, m);
    if (j == SIZE_MAX)
        return 0;
    md_raw(w, m == 2 ? "<strong>" : "<em>");
    inline_md(w, sp->s + p, j - p, depth + 1, in_link);
    md_raw(w, m == 2 ? "</strong>" : "</em>");
    return j + m;
}

/* [text](url) at s[i]: its end, or 0 for text. The text holds no '['
 * and the URL none of url_stop()'s characters, so each search ends
 * before the next one starts. */
static size_t link(struct md_writer *w, struct span *sp, size_t i, int depth,
                   bool in_link)
{
    const char *s = sp->s;
    size_t n = sp->n, k = i + 1;
    while (k < n && s[k] != ']' && s[k] != '[')
        k++;
    if (k + 1 >= n || s[k] != ']' || s[k + 1] != '(' ||
        depth >= INLINE_DEPTH_MAX || in_link)
        return 0;
    size_t u = k + 2, e = u;
    while (e < n && !url_stop(s[e]))
        e++;
    if (e >= n || s[e] != ')')
        return 0;
    bool href = !w->plain && url_ok(s + u, e - u);
    if (href) {
        md_raw(w, "<a href=\"");
        md_text(w, s + u, e - u);
        md_raw(w, "\">");
    }
    inline_md(w, s + i + 1, k - i - 1, depth + 1, true);
    if (href)
        md_raw(w, "</a>");
    return e + 1;
}

/* <http://...> or <https://...> at s[i]: its end, or 0 for text. */
static size_t autolink(struct md_writer *w, struct span *sp, size_t i,
                       bool in_link)
{
    const char *s = sp->s;
    size_t e = i + 1;
    while (e < sp->n && s[e] != '>' && !url_stop(s[e]))
        e++;
    if (e >= sp->n || s[e] != '>' || in_link)
        return 0;
    const char *u = s + i + 1;
    size_t un = e - i - 1;
    if (!has_prefix_nocase(u, un, "http://") &&
        !has_prefix_nocase(u, un, "https://"))
        return 0;
    md_raw(w, "<a href=\"");
    md_text(w, u, un);
    md_raw(w, "\">");
    md_text(w, u, un);
    md_raw(w, "</a>");
    return e + 1;
}

/* md_inline() at a depth of nesting; in_link: inside a link's text (no
 * link in a link). */
static void inline_md(struct md_writer *w, const char *s, size_t n, int depth,
                      bool in_link)
{
    struct span sp = {.s = s, .n = n};
    for (size_t e = 0; e < EMPH_COUNT; e++)
        sp.no_emph[e] = SIZE_MAX;
    size_t text = 0, i = 0;
    while (i < n && w->rc == 0) {
        char c = s[i];
        size_t run = 1;
        if (c != '\\' && c != '`' && c != '*' && c != '_' && c != '[' &&
            c != '<') {
            i++;
            continue;
        }
        md_text(w, s + text, i - text);
        size_t end = 0;
        switch (c) {
        case '\\':
            if (i + 1 < n && is_punct(s[i + 1])) {
                md_text(w, s + i + 1, 1);
                end = i + 2;
            }
            break;
        case '`':
            run = md_run_of(s, n, i, c);
            end = code_span(w, &sp, i, run);
            break;
        case '*':
        case '_':
            run = md_run_of(s, n, i, c);
            end = emphasis(w, &sp, i, run, depth, in_link);
            break;
        case '[':
            end = link(w, &sp, i, depth, in_link);
            break;
        case '<':
            end = autolink(w, &sp, i, in_link);
            break;
        }
        /* Not markup: the whole run is text (a backtick run of 3 is no
         * span of 1). */
        if (end == 0) {
            md_text(w, s + i, run);
            end = i + run;
        }
        text = i = end;
    }
    md_text(w, s + text, n - text);
}

void md_inline(struct md_writer *w, const char *s, size_t n)
{
    inline_md(w, s, n, 0, false);
}
