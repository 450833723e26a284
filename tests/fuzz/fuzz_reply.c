/* fuzz_reply: the SMTP reply parser, whole, split anywhere and by lines. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "smtp_reply.h"

/*
 * The same bytes must give the same replies however they arrive: in one
 * read, in reads of any size (TLS records, a trickling server), or as
 * whole lines from curl's header callback. Each run is reduced to a
 * fingerprint of its events (every complete reply, and the error that
 * ended it) and the three are compared. Every complete reply is also
 * checked against the header's promises.
 */

struct trace {
    uint64_t hash;
    size_t replies;
    bool failed;
};

static bool printable_or_lf(unsigned char c)
{
    return c == '\n' || (c >= 0x20 && c <= 0x7e);
}

/* What smtp_reply.h promises about a complete reply. */
static void check_reply(const struct smtp_reply *r)
{
    FUZZ_CHECK(r->code >= 200 && r->code <= 599);
    FUZZ_CHECK((r->code / 10) % 10 <= 5);
    FUZZ_CHECK(r->n_lines >= 1 && r->n_lines <= SMTP_REPLY_MAX_LINES);
    FUZZ_CHECK(r->text.len <= SMTP_REPLY_MAX_TEXT);
    const char *t = buf_str(&r->text);
    FUZZ_CHECK(t[r->text.len] == '\0');
    size_t lf = 0;
    for (size_t i = 0; i < r->text.len; i++) {
        FUZZ_CHECK(printable_or_lf((unsigned char)t[i]));
        lf += t[i] == '\n';
    }
    /* Lines are joined by '\n': one fewer than there are lines. */
    FUZZ_CHECK(lf == r->n_lines - 1);
    size_t elen = strnlen(r->enhanced, sizeof(r->enhanced));
    FUZZ_CHECK(elen < sizeof(r->enhanced));
    if (elen > 0) {
        /* The enhanced code is the start of the text, and parses again
         * to itself. */
        char again[16];
        FUZZ_CHECK(strncmp(t, r->enhanced, elen) == 0);
        FUZZ_CHECK(smtp_enhanced_parse(r->enhanced, again) == elen);
        FUZZ_CHECK(strcmp(again, r->enhanced) == 0);
        FUZZ_CHECK(r->enhanced[0] == '2' || r->enhanced[0] == '4' ||
                   r->enhanced[0] == '5');
    }
}

/*
 * The reply rebuilt the plain way from the raw bytes it was parsed from
 * (whole lines, each ending in '\n'): every line carries the reply's
 * code, all but the last with '-', and the text is each line's rest with
 * unprintable bytes as '?', joined by '\n'.
 */
static void check_against_raw(const struct smtp_reply *r, const char *raw,
                              size_t n)
{
    FUZZ_CHECK(n > 0 && raw[n - 1] == '\n');
    char code[4];
    snprintf(code, sizeof(code), "%03d", r->code);
    const char *text = buf_str(&r->text);
    size_t t = 0, lines = 0, pos = 0;
    while (pos < n) {
        const char *line = raw + pos;
        const char *nl = memchr(line, '\n', n - pos);
        FUZZ_CHECK(nl != NULL);
        size_t len = (size_t)(nl - line);
        pos += len + 1;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        bool last = pos == n;
        FUZZ_CHECK(len >= 3 && memcmp(line, code, 3) == 0);
        if (last)
            FUZZ_CHECK(len == 3 || line[3] == ' ');
        else
            FUZZ_CHECK(len > 3 && line[3] == '-');
        if (lines++ > 0)
            FUZZ_CHECK(text[t++] == '\n');
        for (size_t i = 4; i < len; i++) {
            unsigned char c = (unsigned char)line[i];
            FUZZ_CHECK(text[t++] == (c >= 0x20 && c <= 0x7e ? (char)c : '?'));
        }
    }
    FUZZ_CHECK(t == r->text.len);
    FUZZ_CHECK(lines == r->n_lines);
    /* From the first line alone: "4.3.2" then a line break is a code. */
    size_t first = strcspn(text, "\n");
    char *line1 = strndup(text, first);
    FUZZ_CHECK(line1 != NULL);
    char enhanced[16];
    smtp_enhanced_parse(line1, enhanced);
    free(line1);
    FUZZ_CHECK(strcmp(enhanced, r->enhanced) == 0);
}

static void record(struct trace *tr, struct smtp_parser *p,
                   enum smtp_parse_status st)
{
    FUZZ_CHECK(st == SMTP_PARSE_DONE || st == SMTP_PARSE_ERROR);
    if (st == SMTP_PARSE_DONE) {
        const struct smtp_reply *r = &p->reply;
        FUZZ_CHECK(smtp_parser_error(p) == NULL);
        check_reply(r);
        uint64_t h = tr->hash;
        h = fuzz_hash(&r->code, sizeof(r->code), h);
        h = fuzz_hash(&r->n_lines, sizeof(r->n_lines), h);
        h = fuzz_hash(r->enhanced, strlen(r->enhanced) + 1, h);
        h = fuzz_hash(buf_str(&r->text), r->text.len + 1, h);
        tr->hash = h;
        tr->replies++;
    } else {
        const char *why = smtp_parser_error(p);
        FUZZ_CHECK(why != NULL && why[0] != '\0');
        tr->hash = fuzz_hash(why, strlen(why) + 1, tr->hash);
        tr->failed = true;
    }
    /* A settled parser stays settled and takes nothing more. */
    size_t used = 1;
    FUZZ_CHECK(smtp_parser_feed(p, "250 x\r\n", 7, &used) == st);
    FUZZ_CHECK(used == 0);
    FUZZ_CHECK(smtp_parser_line(p, "250 x\r\n", 7) == st);
}

/* Feeds data in pieces whose sizes come from `split`; 0 = all at once. */
static void run_feed(const uint8_t *data, size_t size, uint64_t split,
                     struct trace *tr)
{
    struct smtp_parser p;
    smtp_parser_init(&p);
    memset(tr, 0, sizeof(*tr));
    tr->hash = FUZZ_HASH_INIT;
    size_t pos = 0;
    while (pos < size && !tr->failed) {
        size_t chunk = size - pos;
        if (split) {
            uint64_t r = fuzz_rand(&split);
            /* Mostly tiny pieces (a trickle), sometimes large ones. */
            switch (r % 4) {
            case 0:
                chunk = 1;
                break;
            case 1:
                chunk = 1 + (r >> 8) % 8;
                break;
            case 2:
                chunk = 1 + (r >> 8) % 600;
                break;
            default:
                chunk = 1 + (r >> 8) % 5000;
                break;
            }
            if (chunk > size - pos)
                chunk = size - pos;
        }
        const char *s = (const char *)data + pos;
        size_t left = chunk;
        while (left > 0) {
            size_t used = 0;
            enum smtp_parse_status st = smtp_parser_feed(&p, s, left, &used);
            FUZZ_CHECK(used <= left);
            if (st == SMTP_PARSE_MORE) {
                FUZZ_CHECK(used == left);
                break;
            }
            /* Past the last line of a reply the rest is not touched; an
             * error may stop anywhere. */
            FUZZ_CHECK(st == SMTP_PARSE_ERROR || used > 0);
            /* Read at once, the reply is exactly the bytes just used. */
            if (st == SMTP_PARSE_DONE && !split)
                check_against_raw(&p.reply, s, used);
            record(tr, &p, st);
            if (tr->failed)
                break;
            smtp_parser_reset(&p);
            s += used;
            left -= used;
        }
        pos += chunk;
    }
    smtp_parser_free(&p);
}

/* Whole lines, each with its line end, as curl's header callback passes
 * them; bytes after the last '\n' are not a line yet. */
static void run_lines(const uint8_t *data, size_t size, struct trace *tr)
{
    struct smtp_parser p;
    smtp_parser_init(&p);
    memset(tr, 0, sizeof(*tr));
    tr->hash = FUZZ_HASH_INIT;
    size_t pos = 0;
    while (pos < size && !tr->failed) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        if (!nl)
            break;
        size_t n = (size_t)(nl - (data + pos)) + 1;
        enum smtp_parse_status st =
            smtp_parser_line(&p, (const char *)data + pos, n);
        pos += n;
        if (st == SMTP_PARSE_MORE)
            continue;
        record(tr, &p, st);
        smtp_parser_reset(&p);
    }
    smtp_parser_free(&p);
}

static bool same(const struct trace *a, const struct trace *b)
{
    return a->hash == b->hash && a->replies == b->replies &&
           a->failed == b->failed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trace whole, split, lines, whole_lines;
    run_feed(data, size, 0, &whole);
    run_feed(data, size, fuzz_hash(data, size, FUZZ_HASH_INIT) | 1, &split);
    FUZZ_CHECK(same(&whole, &split));

    /* The line path sees only complete lines: compare it with the whole
     * feed of exactly those bytes. */
    size_t complete = size;
    while (complete > 0 && data[complete - 1] != '\n')
        complete--;
    run_lines(data, complete, &lines);
    run_feed(data, complete, 0, &whole_lines);
    FUZZ_CHECK(same(&lines, &whole_lines));
    return 0;
}
