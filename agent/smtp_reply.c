/* smtp_reply: parse SMTP replies and EHLO capabilities; bounded, pure. */
#include "smtp_reply.h"

#include <string.h>
#include <strings.h>

void smtp_parser_init(struct smtp_parser *p)
{
    p->reply.code = 0;
    p->reply.enhanced[0] = '\0';
    buf_init(&p->reply.text, SMTP_REPLY_MAX_TEXT);
    p->reply.n_lines = 0;
    /* The line buffer holds the raw bytes, CRLF included. */
    buf_init(&p->line, SMTP_REPLY_MAX_LINE);
    p->done = false;
    p->error = NULL;
}

void smtp_parser_free(struct smtp_parser *p)
{
    if (!p)
        return;
    buf_free(&p->reply.text);
    buf_free(&p->line);
    p->reply.code = 0;
    p->reply.enhanced[0] = '\0';
    p->reply.n_lines = 0;
    p->done = false;
    p->error = NULL;
}

void smtp_parser_reset(struct smtp_parser *p)
{
    p->reply.code = 0;
    p->reply.enhanced[0] = '\0';
    buf_reset(&p->reply.text);
    p->reply.n_lines = 0;
    buf_reset(&p->line);
    p->done = false;
    p->error = NULL;
}

const char *smtp_parser_error(const struct smtp_parser *p)
{
    return p->error;
}

static enum smtp_parse_status fail(struct smtp_parser *p, const char *why)
{
    p->error = why;
    return SMTP_PARSE_ERROR;
}

/* The state a finished parser stays in until smtp_parser_reset(). */
static enum smtp_parse_status settled(const struct smtp_parser *p)
{
    return p->error ? SMTP_PARSE_ERROR : SMTP_PARSE_DONE;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_printable(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e;
}

/* Reads 1-3 digits at s; returns how many, 0 when there are none or more
 * than three. */
static size_t digits_1_3(const char *s)
{
    size_t n = 0;
    while (n < 4 && is_digit(s[n]))
        n++;
    return n >= 1 && n <= 3 ? n : 0;
}

size_t smtp_enhanced_parse(const char *s, char out[16])
{
    out[0] = '\0';
    if (s[0] != '2' && s[0] != '4' && s[0] != '5')
        return 0;
    if (s[1] != '.')
        return 0;
    size_t i = 2;
    size_t n = digits_1_3(s + i);
    if (!n)
        return 0;
    i += n;
    if (s[i] != '.')
        return 0;
    i++;
    n = digits_1_3(s + i);
    if (!n)
        return 0;
    i += n;
    if (s[i] != ' ' && s[i] != '\0')
        return 0;
    /* At most 1 + 1 + 3 + 1 + 3 = 9 bytes: out always has room. */
    memcpy(out, s, i);
    out[i] = '\0';
    return i;
}

/* One line without its line end. Validates the code before anything else
 * is kept, so a garbage line never leaves partial text behind. */
static enum smtp_parse_status parse_line(struct smtp_parser *p, const char *s,
                                         size_t n)
{
    struct smtp_reply *r = &p->reply;

    if (n + 2 > SMTP_REPLY_MAX_LINE)
        return fail(p, "reply line too long");
    if (n < 3)
        return fail(p, "reply line shorter than a 3-digit code");
    if (!is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]))
        return fail(p, "reply line does not start with a 3-digit code");
    if (s[0] < '2' || s[0] > '5')
        return fail(p, "reply code's first digit is not 2-5");
    if (s[1] > '5')
        return fail(p, "reply code's second digit is not 0-5");
    bool last;
    if (n == 3 || s[3] == ' ')
        last = true;
    else if (s[3] == '-')
        last = false;
    else
        return fail(p, "reply code not followed by space or hyphen");
    int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (r->n_lines > 0 && code != r->code)
        return fail(p, "multiline reply changes its code");
    if (r->n_lines >= SMTP_REPLY_MAX_LINES)
        return fail(p, "reply has too many lines");

    const char *text = n > 4 ? s + 4 : "";
    size_t text_len = n > 4 ? n - 4 : 0;
    size_t sep = r->n_lines > 0 ? 1 : 0;
    if (sep + text_len > SMTP_REPLY_MAX_TEXT - r->text.len)
        return fail(p, "reply text too long");
    if (sep && buf_putc(&r->text, '\n') < 0)
        return fail(p, "out of memory");
    size_t start = r->text.len;
    if (buf_append(&r->text, text, text_len) < 0)
        return fail(p, "out of memory");
    for (size_t i = start; i < r->text.len; i++) {
        if (!is_printable((unsigned char)r->text.data[i]))
            r->text.data[i] = '?';
    }
    if (r->n_lines == 0) {
        r->code = code;
        smtp_enhanced_parse(buf_str(&r->text), r->enhanced);
    }
    r->n_lines++;
    if (!last)
        return SMTP_PARSE_MORE;
    p->done = true;
    return SMTP_PARSE_DONE;
}

/* Drops the LF and one CR before it. */
static size_t strip_eol(const char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\n')
        n--;
    if (n > 0 && s[n - 1] == '\r')
        n--;
    return n;
}

enum smtp_parse_status smtp_parser_feed(struct smtp_parser *p,
                                        const char *data, size_t n,
                                        size_t *consumed)
{
    *consumed = 0;
    if (p->done || p->error)
        return settled(p);

    size_t i = 0;
    enum smtp_parse_status st = SMTP_PARSE_MORE;
    while (i < n) {
        const char *nl = memchr(data + i, '\n', n - i);
        size_t take = nl ? (size_t)(nl - (data + i)) + 1 : n - i;
        /* The line buffer's max is the line limit: a line with no end in
         * sight fails here instead of growing. */
        if (buf_append(&p->line, data + i, take) < 0) {
            *consumed = i + take;
            buf_reset(&p->line);
            return fail(p, "reply line too long");
        }
        i += take;
        if (!nl)
            break;
        st = parse_line(p, p->line.data, strip_eol(p->line.data, p->line.len));
        buf_reset(&p->line);
        if (st != SMTP_PARSE_MORE)
            break;
    }
    *consumed = i;
    return st;
}

enum smtp_parse_status smtp_parser_line(struct smtp_parser *p,
                                        const char *line, size_t n)
{
    if (p->done || p->error)
        return settled(p);
    if (!line)
        return fail(p, "reply line shorter than a 3-digit code");
    size_t len = strip_eol(line, n);
    /* Two lines in one call would be parsed as one with a '?' in it. */
    if (memchr(line, '\n', len))
        return fail(p, "line feed inside a reply line");
    return parse_line(p, line, len);
}

/* EHLO ------------------------------------------------------------------ */

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char to_upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* RFC 5321 ehlo-keyword, capped at SMTP_EHLO_KEYWORD_MAX. */
static bool keyword_ok(const char *s, size_t n)
{
    if (n == 0 || n > SMTP_EHLO_KEYWORD_MAX || !is_alnum(s[0]))
        return false;
    for (size_t i = 1; i < n; i++) {
        if (!is_alnum(s[i]) && s[i] != '-')
            return false;
    }
    return true;
}

/* RFC 4422 mechanism names: [A-Z0-9_-]{1,20}, upper-cased here. */
static bool mech_ok(const char *s, size_t n)
{
    if (n == 0 || n > SMTP_EHLO_MECH_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_')
            return false;
    }
    return true;
}

static bool token_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

static void add_mechs(struct smtp_ehlo *e, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && s[i] == ' ')
            i++;
        size_t start = i;
        while (i < n && s[i] != ' ')
            i++;
        size_t len = i - start;
        if (!mech_ok(s + start, len))
            continue;
        char name[SMTP_EHLO_MECH_MAX + 1];
        for (size_t k = 0; k < len; k++)
            name[k] = to_upper(s[start + k]);
        name[len] = '\0';
        if (smtp_ehlo_has_mech(e, name) || e->n_mechs >= SMTP_EHLO_MAX_MECHS)
            continue;
        memcpy(e->mechs[e->n_mechs++], name, len + 1);
    }
}

/* "SIZE" [SP number]: anything but a plain number that fits means "no
 * limit known" rather than a made-up one. */
static uint64_t parse_size(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] == ' ')
        i++;
    uint64_t v = 0;
    size_t start = i;
    for (; i < n && s[i] != ' '; i++) {
        if (!is_digit(s[i]))
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    return i > start ? v : 0;
}

static void add_keyword(struct smtp_ehlo *e, const char *s, size_t n)
{
    char kw[SMTP_EHLO_KEYWORD_MAX + 1];
    for (size_t i = 0; i < n; i++)
        kw[i] = to_upper(s[i]);
    kw[n] = '\0';
    for (size_t i = 0; i < e->n_keywords; i++) {
        if (strcmp(e->keywords[i], kw) == 0) {
            e->n_dropped++;
            return;
        }
    }
    if (e->n_keywords >= SMTP_EHLO_MAX_KEYWORDS) {
        e->n_dropped++;
        return;
    }
    memcpy(e->keywords[e->n_keywords++], kw, n + 1);
}

static void ehlo_line(struct smtp_ehlo *e, const char *s, size_t n)
{
    /* A bare "250-" line carries nothing that could be dropped. */
    if (n == 0)
        return;
    size_t kw_len = 0;
    while (kw_len < n && s[kw_len] != ' ')
        kw_len++;
    const char *params = s + kw_len;
    size_t params_len = n - kw_len;

    /* Legacy "AUTH=PLAIN LOGIN" (old Outlook clients): mechanisms start
     * right after the '='; the keyword itself is not one. */
    if (kw_len >= 5 && strncasecmp(s, "AUTH=", 5) == 0) {
        e->auth = true;
        add_mechs(e, s + 5, n - 5);
        e->n_dropped++;
        return;
    }
    if (!keyword_ok(s, kw_len)) {
        e->n_dropped++;
        return;
    }
    /* Capabilities count even when the keyword list is full. */
    if (token_is(s, kw_len, "AUTH")) {
        e->auth = true;
        add_mechs(e, params, params_len);
    } else if (token_is(s, kw_len, "STARTTLS")) {
        e->starttls = true;
    } else if (token_is(s, kw_len, "SIZE")) {
        e->has_size = true;
        e->size = parse_size(params, params_len);
    }
    add_keyword(e, s, kw_len);
}

void smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *out)
{
    memset(out, 0, sizeof(*out));
    const char *text = buf_str(&r->text);
    size_t len = r->text.len;

    /* The first line is the server's name and greeting: skip it. */
    const char *nl = memchr(text, '\n', len);
    if (!nl)
        return;
    size_t i = (size_t)(nl - text) + 1;
    while (i <= len) {
        const char *end = memchr(text + i, '\n', len - i);
        size_t n = end ? (size_t)(end - (text + i)) : len - i;
        ehlo_line(out, text + i, n);
        if (!end)
            break;
        i += n + 1;
    }
}

bool smtp_ehlo_has_mech(const struct smtp_ehlo *e, const char *mech)
{
    if (!mech)
        return false;
    for (size_t i = 0; i < e->n_mechs; i++) {
        if (strcasecmp(e->mechs[i], mech) == 0)
            return true;
    }
    return false;
}
