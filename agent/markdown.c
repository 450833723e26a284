/* markdown: a small Markdown subset to HTML: its blocks and heading ids;
 * markdown_inline.c writes the text within them, escaped. Pure. */
#include "markdown.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"
#include "markdown_internal.h"

/* ---- heading ids -------------------------------------------------------- */

/* Every id given so far, to make the next one unique. */
struct ids {
    struct hashtab t;
    struct buf names; /* each id, NUL-terminated */
    size_t *at;       /* where id k starts in names */
    size_t *next;     /* id k taken again: the suffix to try next */
    size_t n, cap;
};

static bool ids_eq(const void *ctx, size_t value, const void *key)
{
    const struct ids *ids = ctx;
    return strcmp(ids->names.data + ids->at[value], key) == 0;
}

static size_t ids_find(const struct ids *ids, const char *id)
{
    return hashtab_find(&ids->t, hashtab_hash_str(id), id, ids_eq, ids);
}

static int ids_add(struct ids *ids, const char *id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 32;
        size_t *at = realloc(ids->at, cap * sizeof(*at));
        if (!at)
            return -1;
        ids->at = at;
        size_t *next = realloc(ids->next, cap * sizeof(*next));
        if (!next)
            return -1;
        ids->next = next;
        ids->cap = cap;
    }
    size_t off = ids->names.len;
    if (buf_append(&ids->names, id, strlen(id) + 1) < 0)
        return -1;
    if (hashtab_insert(&ids->t, hashtab_hash_str(id), ids->n) < 0) {
        buf_truncate(&ids->names, off);
        return -1;
    }
    ids->at[ids->n] = off;
    ids->next[ids->n] = 2;
    ids->n++;
    return 0;
}

/* Makes id (a NUL-terminated base) unique with "-2", "-3", ... and
 * records it. Each base remembers its last suffix, so that a thousand
 * equal headings cost a thousand lookups, not half a million. */
static int ids_claim(struct ids *ids, struct buf *id)
{
    size_t v = ids_find(ids, buf_str(id));
    if (v != HASHTAB_NONE) {
        size_t base = id->len, k = ids->next[v];
        do {
            buf_truncate(id, base);
            if (buf_printf(id, "-%zu", k++) < 0)
                return -1;
        } while (ids_find(ids, buf_str(id)) != HASHTAB_NONE);
        ids->next[v] = k;
    }
    return ids_add(ids, buf_str(id));
}

/* A heading's id: the text it shows (no markup, no URL), lower-cased,
 * only [a-z0-9-] kept; "section" when nothing is. */
static int heading_id(struct ids *ids, const char *t, size_t tn,
                      struct buf *id)
{
    struct buf shown;
    buf_init(&shown, 0);
    struct md_writer pw = {.b = &shown, .rc = 0, .plain = true};
    md_inline(&pw, t, tn);
    int rc = pw.rc;
    for (size_t i = 0; i < shown.len && rc == 0; i++) {
        char c = shown.data[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
            rc = buf_putc(id, c);
    }
    buf_free(&shown);
    if (rc == 0 && id->len == 0)
        rc = buf_puts(id, "section");
    return rc == 0 ? ids_claim(ids, id) : -1;
}

/* ---- blocks ------------------------------------------------------------- */

enum block { BLOCK_NONE, BLOCK_PARA, BLOCK_LIST, BLOCK_QUOTE, BLOCK_TABLE };

struct rb {
    struct md_writer w;
    enum block open;
    struct buf text;  /* the paragraph, list item or quote read so far */
    bool ordered;     /* BLOCK_LIST: <ol> */
    bool gap;         /* BLOCK_LIST: a blank line after the last item */
    struct buf align; /* BLOCK_TABLE: each column's 'l', 'c', 'r' */
    struct buf cell;  /* a table cell with "\|" made '|' */
    bool fence;       /* inside a fenced code block */
    char fence_ch;
    size_t fence_len, fence_indent;
    struct ids ids;
};

/* Up to three spaces of indentation: their count, or 4 for more. */
static size_t indent_of(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && i < 4 && s[i] == ' ')
        i++;
    return i;
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!md_is_space(s[i]))
            return false;
    return true;
}

/* Adds a line to the paragraph, item or quote being read. */
static void gather(struct rb *rb, const char *s, size_t n)
{
    md_trim(&s, &n);
    if (rb->w.rc == 0 && rb->text.len)
        rb->w.rc = buf_putc(&rb->text, '\n');
    if (rb->w.rc == 0)
        rb->w.rc = buf_append(&rb->text, s, n);
}

static void put_text(struct rb *rb)
{
    md_inline(&rb->w, buf_str(&rb->text), rb->text.len);
    buf_reset(&rb->text);
}

static void close_block(struct rb *rb)
{
    struct md_writer *w = &rb->w;
    switch (rb->open) {
    case BLOCK_NONE:
        break;
    case BLOCK_PARA:
        md_raw(w, "<p>");
        put_text(rb);
        md_raw(w, "</p>\n");
        break;
    case BLOCK_QUOTE:
        md_raw(w, "<blockquote><p>");
        put_text(rb);
        md_raw(w, "</p></blockquote>\n");
        break;
    case BLOCK_LIST:
        if (!rb->gap) {
            md_raw(w, "<li>");
            put_text(rb);
            md_raw(w, "</li>\n");
        }
        md_raw(w, rb->ordered ? "</ol>\n" : "</ul>\n");
        break;
    case BLOCK_TABLE:
        md_raw(w, "</tbody></table></div>\n");
        break;
    }
    rb->open = BLOCK_NONE;
    rb->gap = false;
    buf_reset(&rb->text);
}

/* "```sh" or "~~~": the fence's length (0: not one), character and
 * indentation. A ``` fence's info string holds no backtick. */
static size_t fence_open(const char *s, size_t n, char *ch, size_t *ind)
{
    size_t i = indent_of(s, n);
    if (i > 3 || i >= n || (s[i] != '`' && s[i] != '~'))
        return 0;
    size_t k = md_run_of(s, n, i, s[i]);
    if (k < 3 || (s[i] == '`' && memchr(s + i + k, '`', n - i - k)))
        return 0;
    *ch = s[i];
    *ind = i;
    return k;
}

static bool fence_close(const struct rb *rb, const char *s, size_t n)
{
    size_t i = indent_of(s, n);
    if (i > 3)
        return false;
    size_t k = md_run_of(s, n, i, rb->fence_ch);
    return k >= rb->fence_len && is_blank(s + i + k, n - i - k);
}

/* A line of a code block, less the fence's indentation. */
static void code_line(struct rb *rb, const char *s, size_t n)
{
    size_t cut = 0;
    while (cut < n && cut < rb->fence_indent && s[cut] == ' ')
        cut++;
    md_text(&rb->w, s + cut, n - cut);
    md_raw(&rb->w, "\n");
}

/* "## Text ##": its level (0: not a heading) and text. */
static int heading(const char *s, size_t n, const char **t, size_t *tn)
{
    size_t i = indent_of(s, n);
    if (i > 3)
        return 0;
    size_t k = md_run_of(s, n, i, '#');
    if (k == 0 || k > 6 || (i + k < n && s[i + k] != ' ' && s[i + k] != '\t'))
        return 0;
    const char *x = s + i + k;
    size_t xn = n - i - k;
    md_trim(&x, &xn);
    /* A closing run of '#' goes, when a space comes before it. */
    size_t e = xn;
    while (e && x[e - 1] == '#')
        e--;
    if (e == 0 || x[e - 1] == ' ' || x[e - 1] == '\t')
        xn = e;
    md_trim(&x, &xn);
    *t = x;
    *tn = xn;
    return (int)k;
}

static void put_heading(struct rb *rb, int level, const char *t, size_t tn)
{
    struct buf id;
    buf_init(&id, 0);
    if (rb->w.rc == 0 && heading_id(&rb->ids, t, tn, &id) < 0)
        rb->w.rc = -1;
    /* The id is [a-z0-9-] only: nothing to escape. */
    md_printf(&rb->w, "<h%d id=\"%s\">", level, buf_str(&id));
    md_inline(&rb->w, t, tn);
    /* A link to itself, to copy the section's URL from. */
    md_printf(&rb->w, "<a class=\"self\" href=\"#%s\">#</a></h%d>\n",
              buf_str(&id), level);
    buf_free(&id);
}

/* "---", "***", "_ _ _". */
static bool is_rule(const char *s, size_t n)
{
    size_t i = indent_of(s, n);
    if (i > 3 || i >= n || (s[i] != '-' && s[i] != '*' && s[i] != '_'))
        return false;
    char c = s[i];
    size_t count = 0;
    for (; i < n; i++) {
        if (s[i] == c)
            count++;
        else if (s[i] != ' ' && s[i] != '\t')
            return false;
    }
    return count >= 3;
}

enum item { ITEM_NONE, ITEM_BULLET, ITEM_NUMBER };

/* "- text", "* text", "+ text", "12. text", "3) text": its kind and
 * text; *first: numbered 1 (the only number that starts a list inside a
 * paragraph). Any indentation: nested lists are read as one level. */
static enum item list_item(const char *s, size_t n, bool *first,
                           const char **t, size_t *tn)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    enum item kind = ITEM_NONE;
    *first = false;
    if (i < n && (s[i] == '-' || s[i] == '*' || s[i] == '+')) {
        kind = ITEM_BULLET;
        i++;
    } else {
        size_t d = i;
        while (i < n && i - d < 9 && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d || i >= n || (s[i] != '.' && s[i] != ')'))
            return ITEM_NONE;
        *first = i - d == 1 && s[d] == '1';
        kind = ITEM_NUMBER;
        i++;
    }
    if (i < n && s[i] != ' ' && s[i] != '\t')
        return ITEM_NONE;
    *t = s + i;
    *tn = n - i;
    md_trim(t, tn);
    return kind;
}

static void add_item(struct rb *rb, enum item kind, const char *t, size_t tn)
{
    bool ordered = kind == ITEM_NUMBER;
    if (rb->open == BLOCK_LIST && rb->ordered == ordered) {
        if (!rb->gap) {
            md_raw(&rb->w, "<li>");
            put_text(rb);
            md_raw(&rb->w, "</li>\n");
        }
    } else {
        close_block(rb);
        md_raw(&rb->w, ordered ? "<ol>\n" : "<ul>\n");
        rb->open = BLOCK_LIST;
        rb->ordered = ordered;
    }
    rb->gap = false;
    gather(rb, t, tn);
}

/* "> text": its text. */
static bool quote(const char *s, size_t n, const char **t, size_t *tn)
{
    size_t i = indent_of(s, n);
    if (i > 3 || i >= n || s[i] != '>')
        return false;
    *t = s + i + 1;
    *tn = n - i - 1;
    return true;
}

/* A table row's cells: split at each '|' without a '\' before it, a
 * leading and a trailing '|' dropped. */
struct cells {
    const char *s;
    size_t n, pos;
    bool done;
};

static void cells_init(struct cells *c, const char *s, size_t n)
{
    md_trim(&s, &n);
    if (n && s[0] == '|') {
        s++;
        n--;
    }
    if (n && s[n - 1] == '|' && (n < 2 || s[n - 2] != '\\'))
        n--;
    c->s = s;
    c->n = n;
    c->pos = 0;
    c->done = false;
}

static bool cells_next(struct cells *c, const char **cell, size_t *cn)
{
    if (c->done)
        return false;
    size_t e = c->pos;
    while (e < c->n && !(c->s[e] == '|' && (e == 0 || c->s[e - 1] != '\\')))
        e++;
    *cell = c->s + c->pos;
    *cn = e - c->pos;
    md_trim(cell, cn);
    c->done = e >= c->n;
    c->pos = e + 1;
    return true;
}

static size_t cells_count(const char *s, size_t n)
{
    struct cells c;
    cells_init(&c, s, n);
    const char *x;
    size_t xn, count = 0;
    while (cells_next(&c, &x, &xn))
        count++;
    return count;
}

/* "|---|:---:|--:|": each cell dashes, a colon at either end allowed. */
static bool is_delimiter_row(const char *s, size_t n)
{
    if (!memchr(s, '|', n) || !memchr(s, '-', n))
        return false;
    struct cells c;
    cells_init(&c, s, n);
    const char *x;
    size_t xn;
    while (cells_next(&c, &x, &xn)) {
        if (xn && x[0] == ':') {
            x++;
            xn--;
        }
        if (xn && x[xn - 1] == ':')
            xn--;
        if (xn == 0 || md_run_of(x, xn, 0, '-') != xn)
            return false;
    }
    return true;
}

/* A row of the open table: as many cells as its header has, the missing
 * ones empty, the extra ones dropped. */
static void put_row(struct rb *rb, const char *s, size_t n, const char *tag)
{
    struct md_writer *w = &rb->w;
    struct cells c;
    cells_init(&c, s, n);
    md_raw(w, "<tr>");
    for (size_t col = 0; col < rb->align.len && w->rc == 0; col++) {
        const char *x = "";
        size_t xn = 0;
        if (!cells_next(&c, &x, &xn))
            xn = 0;
        char a = rb->align.data[col];
        md_printf(w, "<%s%s>", tag,
                  a == 'c'   ? " class=\"c\""
                  : a == 'r' ? " class=\"r\""
                             : "");
        buf_reset(&rb->cell);
        for (size_t i = 0; i < xn && w->rc == 0; i++)
            if (!(x[i] == '\\' && i + 1 < xn && x[i + 1] == '|'))
                w->rc = buf_putc(&rb->cell, x[i]);
        md_inline(w, buf_str(&rb->cell), rb->cell.len);
        md_printf(w, "</%s>", tag);
    }
    md_raw(w, "</tr>\n");
}

/* A table starts at header line h when the next line is its delimiter
 * row, with as many cells. */
static bool table_start(struct rb *rb, const char *h, size_t hn, const char *d,
                        size_t dn)
{
    if (!is_delimiter_row(d, dn) || cells_count(h, hn) != cells_count(d, dn))
        return false;
    close_block(rb);
    struct cells c;
    cells_init(&c, d, dn);
    buf_reset(&rb->align);
    const char *x;
    size_t xn;
    while (cells_next(&c, &x, &xn) && rb->w.rc == 0) {
        bool left = x[0] == ':', right = x[xn - 1] == ':';
        rb->w.rc = buf_putc(&rb->align, left && right ? 'c'
                                        : right       ? 'r'
                                                      : 'l');
    }
    md_raw(&rb->w, "<div class=\"table\"><table>\n<thead>");
    put_row(rb, h, hn, "th");
    md_raw(&rb->w, "</thead>\n<tbody>\n");
    rb->open = BLOCK_TABLE;
    return true;
}

/* One line outside a code block, next the line after it (NULL at the
 * end). true when it took next too (a table's delimiter row). */
static bool block_line(struct rb *rb, const char *s, size_t n,
                       const char *next, size_t next_n)
{
    if (is_blank(s, n)) {
        if (rb->open == BLOCK_LIST) {
            /* The list goes on if an item follows. */
            if (!rb->gap) {
                md_raw(&rb->w, "<li>");
                put_text(rb);
                md_raw(&rb->w, "</li>\n");
            }
            rb->gap = true;
        } else {
            close_block(rb);
        }
        return false;
    }
    const char *t;
    size_t tn;
    bool first;
    enum item item = list_item(s, n, &first, &t, &tn);
    if (rb->gap && (item == ITEM_NONE || (item == ITEM_NUMBER) != rb->ordered))
        close_block(rb);
    int level;
    if (fence_open(s, n, &rb->fence_ch, &rb->fence_indent)) {
        close_block(rb);
        rb->fence_len = md_run_of(s, n, rb->fence_indent, rb->fence_ch);
        rb->fence = true;
        md_raw(&rb->w, "<pre><code>");
    } else if ((level = heading(s, n, &t, &tn)) > 0) {
        close_block(rb);
        put_heading(rb, level, t, tn);
    } else if (is_rule(s, n)) {
        close_block(rb);
        md_raw(&rb->w, "<hr>\n");
    } else if (rb->open == BLOCK_TABLE && memchr(s, '|', n)) {
        put_row(rb, s, n, "td");
    } else if (next && memchr(s, '|', n) &&
               table_start(rb, s, n, next, next_n)) {
        return true;
    } else if (item != ITEM_NONE && (rb->open != BLOCK_PARA ||
                                     (tn && (item == ITEM_BULLET || first)))) {
        add_item(rb, item, t, tn);
    } else if (quote(s, n, &t, &tn)) {
        if (rb->open != BLOCK_QUOTE) {
            close_block(rb);
            rb->open = BLOCK_QUOTE;
        }
        gather(rb, t, tn);
    } else {
        /* A table ends at a line without '|'; anything else open goes
         * on (a list item's next line, lazily). */
        if (rb->open == BLOCK_TABLE)
            close_block(rb);
        if (rb->open == BLOCK_NONE)
            rb->open = BLOCK_PARA;
        gather(rb, s, n);
    }
    return false;
}

/* ---- the document ------------------------------------------------------- */

int markdown_render(struct buf *out, const char *md, size_t len)
{
    struct rb rb;
    memset(&rb, 0, sizeof(rb));
    rb.w.b = out;
    buf_init(&rb.text, 0);
    buf_init(&rb.align, 0);
    buf_init(&rb.cell, 0);
    hashtab_init(&rb.ids.t);
    buf_init(&rb.ids.names, 0);

    size_t pos = 0;
    while (pos < len && rb.w.rc == 0) {
        const char *s = md + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n && s[n - 1] == '\r')
            n--;
        if (rb.fence) {
            if (fence_close(&rb, s, n)) {
                rb.fence = false;
                md_raw(&rb.w, "</code></pre>\n");
            } else {
                code_line(&rb, s, n);
            }
            continue;
        }
        const char *next = NULL;
        size_t next_n = 0, next_len = 0;
        if (pos < len) {
            next = md + pos;
            const char *nnl = memchr(next, '\n', len - pos);
            next_n = nnl ? (size_t)(nnl - next) : len - pos;
            next_len = next_n + (nnl ? 1 : 0);
            if (next_n && next[next_n - 1] == '\r')
                next_n--;
        }
        if (block_line(&rb, s, n, next, next_n))
            pos += next_len;
    }
    /* A code block left open ends with the text. */
    if (rb.fence)
        md_raw(&rb.w, "</code></pre>\n");
    close_block(&rb);

    buf_free(&rb.text);
    buf_free(&rb.align);
    buf_free(&rb.cell);
    hashtab_free(&rb.ids.t);
    buf_free(&rb.ids.names);
    free(rb.ids.at);
    free(rb.ids.next);
    return rb.w.rc;
}
