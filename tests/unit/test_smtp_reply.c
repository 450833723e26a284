/* test_smtp_reply: reply parser, enhanced codes and EHLO capabilities. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"

#define LEN(s) (sizeof(s) - 1)
/* Inputs with NUL bytes, so their length cannot come from strlen(). */
#define BINARY_REPLY "250 a\0b\x01\x7f\xff c\r\n"
#define NUL_CODE                                                              \
    "2\0"                                                                     \
    "0 x\r\n"

/* One input and what the parser must make of it, fed in one call. */
struct reply_case {
    const char *name;
    const char *in;
    size_t in_len; /* 0: strlen(in) */
    enum smtp_parse_status status;
    int code;
    const char *enhanced;
    const char *text;
    size_t n_lines;
    size_t consumed;   /* 0: all of it */
    const char *error; /* a substring of the error, for ERROR cases */
};

static const struct reply_case reply_cases[] = {
    {"single line", "220 mx.example ESMTP Postfix\r\n", 0, SMTP_PARSE_DONE,
     220, "", "mx.example ESMTP Postfix", 1, 0, NULL},
    {"multiline", "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n", 0,
     SMTP_PARSE_DONE, 250, "", "mx.example\nPIPELINING\n8BITMIME", 3, 0, NULL},
    {"code only", "250\r\n", 0, SMTP_PARSE_DONE, 250, "", "", 1, 0, NULL},
    {"code only final line", "250-first\r\n250\r\n", 0, SMTP_PARSE_DONE, 250,
     "", "first\n", 2, 0, NULL},
    {"code and space", "334 \r\n", 0, SMTP_PARSE_DONE, 334, "", "", 1, 0,
     NULL},
    {"challenge", "334 VXNlcm5hbWU6\r\n", 0, SMTP_PARSE_DONE, 334, "",
     "VXNlcm5hbWU6", 1, 0, NULL},
    {"enhanced 5.7.8", "535 5.7.8 Error: authentication failed\r\n", 0,
     SMTP_PARSE_DONE, 535, "5.7.8", "5.7.8 Error: authentication failed", 1, 0,
     NULL},
    {"enhanced aiosmtpd 504", "504 5.5.4 Unrecognized authentication type\r\n",
     0, SMTP_PARSE_DONE, 504, "5.5.4",
     "5.5.4 Unrecognized authentication type", 1, 0, NULL},
    {"enhanced at end of line", "250 2.0.0\r\n", 0, SMTP_PARSE_DONE, 250,
     "2.0.0", "2.0.0", 1, 0, NULL},
    {"enhanced three-digit parts", "451 4.123.456 later\r\n", 0,
     SMTP_PARSE_DONE, 451, "4.123.456", "4.123.456 later", 1, 0, NULL},
    {"enhanced two parts", "550 5.7 nope\r\n", 0, SMTP_PARSE_DONE, 550, "",
     "5.7 nope", 1, 0, NULL},
    {"enhanced class 9", "550 9.1.1 nope\r\n", 0, SMTP_PARSE_DONE, 550, "",
     "9.1.1 nope", 1, 0, NULL},
    {"enhanced glued to text", "250 2.0.0ok\r\n", 0, SMTP_PARSE_DONE, 250, "",
     "2.0.0ok", 1, 0, NULL},
    {"enhanced four digits", "250 2.1000.0 ok\r\n", 0, SMTP_PARSE_DONE, 250,
     "", "2.1000.0 ok", 1, 0, NULL},
    {"enhanced from first line only", "250-mx\r\n250 2.0.0 ok\r\n", 0,
     SMTP_PARSE_DONE, 250, "", "mx\n2.0.0 ok", 2, 0, NULL},
    {"enhanced multiline", "451-4.3.0 one\r\n451 4.3.0 two\r\n", 0,
     SMTP_PARSE_DONE, 451, "4.3.0", "4.3.0 one\n4.3.0 two", 2, 0, NULL},
    {"bare LF", "250-a\n250 b\n", 0, SMTP_PARSE_DONE, 250, "", "a\nb", 2, 0,
     NULL},
    {"mixed line ends", "250-a\r\n250 b\n", 0, SMTP_PARSE_DONE, 250, "",
     "a\nb", 2, 0, NULL},
    {"NUL and binary", BINARY_REPLY, LEN(BINARY_REPLY), SMTP_PARSE_DONE, 250,
     "", "a?b??? c", 1, 0, NULL},
    {"tab and stray CR", "250 a\tb\rc\r\r\n", 0, SMTP_PARSE_DONE, 250, "",
     "a?b?c?", 1, 0, NULL},
    {"trailing reply left", "250 ok\r\n220 next\r\n", 0, SMTP_PARSE_DONE, 250,
     "", "ok", 1, 8, NULL},
    {"trailing partial left", "250-a\r\n250 b\r\n2", 0, SMTP_PARSE_DONE, 250,
     "", "a\nb", 2, 14, NULL},
    {"incomplete line", "250-a\r\n250 b", 0, SMTP_PARSE_MORE, 250, "", "a", 1,
     0, NULL},
    {"incomplete reply", "250-a\r\n", 0, SMTP_PARSE_MORE, 250, "", "a", 1, 0,
     NULL},
    {"first digit 6", "600 x\r\n", 0, SMTP_PARSE_ERROR, 0, "", "", 0, 0,
     "first digit"},
    {"first digit 1", "199 x\r\n", 0, SMTP_PARSE_ERROR, 0, "", "", 0, 0,
     "first digit"},
    {"second digit 6", "260 x\r\n", 0, SMTP_PARSE_ERROR, 0, "", "", 0, 0,
     "second digit"},
    {"second digit 9", "591 x\r\n", 0, SMTP_PARSE_ERROR, 0, "", "", 0, 0,
     "second digit"},
    {"letters", "abc\r\n", 0, SMTP_PARSE_ERROR, 0, "", "", 0, 0,
     "3-digit code"},
    {"letter in code", "25a x\r\n", 0, SMTP_PARSE_ERROR, 0, "", "", 0, 0,
     "3-digit code"},
    {"two digits", "25\r\n", 0, SMTP_PARSE_ERROR, 0, "", "", 0, 0, "shorter"},
    {"empty line", "\r\n", 0, SMTP_PARSE_ERROR, 0, "", "", 0, 0, "shorter"},
    {"four digits", "2500 x\r\n", 0, SMTP_PARSE_ERROR, 0, "", "", 0, 0,
     "space or hyphen"},
    {"bad separator", "250_x\r\n", 0, SMTP_PARSE_ERROR, 0, "", "", 0, 0,
     "space or hyphen"},
    {"leading space", " 250 x\r\n", 0, SMTP_PARSE_ERROR, 0, "", "", 0, 0,
     "3-digit code"},
    {"NUL in code", NUL_CODE, LEN(NUL_CODE), SMTP_PARSE_ERROR, 0, "", "", 0, 0,
     "3-digit code"},
    {"mismatched codes", "250-a\r\n251 b\r\n", 0, SMTP_PARSE_ERROR, 250, "",
     "a", 1, 0, "changes its code"},
    {"garbage after first line", "250-a\r\nhello\r\n", 0, SMTP_PARSE_ERROR,
     250, "", "a", 1, 0, "3-digit code"},
};

static size_t case_len(const struct reply_case *c)
{
    return c->in_len ? c->in_len : strlen(c->in);
}

static size_t case_consumed(const struct reply_case *c)
{
    return c->consumed ? c->consumed : case_len(c);
}

static void check_reply(const struct reply_case *c,
                        const struct smtp_parser *p, enum smtp_parse_status st)
{
    assert_int_equal(st, c->status);
    if (st == SMTP_PARSE_ERROR) {
        assert_non_null(smtp_parser_error(p));
        assert_non_null(strstr(smtp_parser_error(p), c->error));
        return;
    }
    assert_null(smtp_parser_error(p));
    assert_int_equal(p->reply.code, c->code);
    assert_string_equal(p->reply.enhanced, c->enhanced);
    assert_string_equal(buf_str(&p->reply.text), c->text);
    assert_int_equal(p->reply.n_lines, c->n_lines);
    assert_int_equal(p->done, st == SMTP_PARSE_DONE);
}

static void test_reply_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
        const struct reply_case *c = &reply_cases[i];
        print_message("case: %s\n", c->name);
        struct smtp_parser p;
        smtp_parser_init(&p);
        size_t consumed = 12345;
        enum smtp_parse_status st =
            smtp_parser_feed(&p, c->in, case_len(c), &consumed);
        check_reply(c, &p, st);
        if (st != SMTP_PARSE_ERROR)
            assert_int_equal(consumed, case_consumed(c));
        smtp_parser_free(&p);
    }
}

/* Feeds data cut at `cut`, then the rest, as a socket might deliver it. */
static enum smtp_parse_status feed_split(struct smtp_parser *p,
                                         const char *data, size_t n,
                                         size_t cut, size_t *consumed)
{
    size_t used = 0;
    enum smtp_parse_status st = smtp_parser_feed(p, data, cut, &used);
    *consumed = used;
    if (st != SMTP_PARSE_MORE)
        return st;
    assert_int_equal(used, cut);
    st = smtp_parser_feed(p, data + cut, n - cut, &used);
    *consumed += used;
    return st;
}

static void test_split_every_byte(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
        const struct reply_case *c = &reply_cases[i];
        size_t n = case_len(c);
        print_message("case: %s\n", c->name);
        for (size_t cut = 0; cut <= n; cut++) {
            struct smtp_parser p;
            smtp_parser_init(&p);
            size_t consumed = 0;
            enum smtp_parse_status st =
                feed_split(&p, c->in, n, cut, &consumed);
            check_reply(c, &p, st);
            if (st != SMTP_PARSE_ERROR)
                assert_int_equal(consumed, case_consumed(c));
            smtp_parser_free(&p);
        }
    }
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
        const struct reply_case *c = &reply_cases[i];
        size_t n = case_len(c);
        print_message("case: %s\n", c->name);
        struct smtp_parser p;
        smtp_parser_init(&p);
        enum smtp_parse_status st = SMTP_PARSE_MORE;
        size_t total = 0;
        for (size_t k = 0; k < n && st == SMTP_PARSE_MORE; k++) {
            size_t used = 0;
            st = smtp_parser_feed(&p, c->in + k, 1, &used);
            total += used;
        }
        check_reply(c, &p, st);
        if (st != SMTP_PARSE_ERROR)
            assert_int_equal(total, case_consumed(c));
        smtp_parser_free(&p);
    }
}

/* curl's header callback hands over one line at a time. */
static void test_line_api(void **state)
{
    (void)state;
    struct smtp_parser p;
    smtp_parser_init(&p);
    assert_int_equal(smtp_parser_line(&p, "250-mx.example\r\n", 16),
                     SMTP_PARSE_MORE);
    assert_int_equal(smtp_parser_line(&p, "250-SIZE 1000", 13),
                     SMTP_PARSE_MORE);
    assert_int_equal(smtp_parser_line(&p, "250 STARTTLS\n", 13),
                     SMTP_PARSE_DONE);
    assert_int_equal(p.reply.code, 250);
    assert_int_equal(p.reply.n_lines, 3);
    assert_string_equal(buf_str(&p.reply.text),
                        "mx.example\nSIZE 1000\nSTARTTLS");

    /* A finished parser takes nothing more until reset. */
    assert_int_equal(smtp_parser_line(&p, "221 bye\r\n", 9), SMTP_PARSE_DONE);
    assert_int_equal(p.reply.code, 250);
    size_t used = 99;
    assert_int_equal(smtp_parser_feed(&p, "221 bye\r\n", 9, &used),
                     SMTP_PARSE_DONE);
    assert_int_equal(used, 0);

    smtp_parser_reset(&p);
    assert_int_equal(smtp_parser_line(&p, "535 5.7.8 no\r\n", 14),
                     SMTP_PARSE_DONE);
    assert_int_equal(p.reply.code, 535);
    assert_string_equal(p.reply.enhanced, "5.7.8");
    assert_string_equal(buf_str(&p.reply.text), "5.7.8 no");
    assert_int_equal(p.reply.n_lines, 1);

    /* Two lines in one call are not one line. */
    smtp_parser_reset(&p);
    assert_int_equal(smtp_parser_line(&p, "250-a\n250 b\r\n", 13),
                     SMTP_PARSE_ERROR);
    assert_non_null(strstr(smtp_parser_error(&p), "line feed"));
    assert_int_equal(smtp_parser_line(&p, "250 ok\r\n", 8), SMTP_PARSE_ERROR);

    smtp_parser_reset(&p);
    assert_null(smtp_parser_error(&p));
    assert_int_equal(smtp_parser_line(&p, "250", 3), SMTP_PARSE_DONE);
    assert_string_equal(buf_str(&p.reply.text), "");
    assert_string_equal(p.reply.enhanced, "");
    smtp_parser_free(&p);
    smtp_parser_free(NULL);
}

/* A line of exactly the limit passes; one byte more fails, whichever way
 * it arrives. */
static void test_line_limit(void **state)
{
    (void)state;
    char *line = malloc(SMTP_REPLY_MAX_LINE + 2);
    assert_non_null(line);
    memcpy(line, "250 ", 4);
    memset(line + 4, 'x', SMTP_REPLY_MAX_LINE - 6);
    memcpy(line + SMTP_REPLY_MAX_LINE - 2, "\r\n", 2);

    struct smtp_parser p;
    smtp_parser_init(&p);
    size_t used = 0;
    assert_int_equal(smtp_parser_feed(&p, line, SMTP_REPLY_MAX_LINE, &used),
                     SMTP_PARSE_DONE);
    assert_int_equal(used, SMTP_REPLY_MAX_LINE);
    assert_int_equal(p.reply.text.len, SMTP_REPLY_MAX_LINE - 6);

    smtp_parser_reset(&p);
    assert_int_equal(smtp_parser_line(&p, line, SMTP_REPLY_MAX_LINE),
                     SMTP_PARSE_DONE);
    smtp_parser_reset(&p);
    assert_int_equal(smtp_parser_line(&p, line, SMTP_REPLY_MAX_LINE - 2),
                     SMTP_PARSE_DONE);

    /* One more byte of text. */
    memset(line + 4, 'x', SMTP_REPLY_MAX_LINE - 5);
    memcpy(line + SMTP_REPLY_MAX_LINE - 1, "\r\n", 2);
    smtp_parser_reset(&p);
    assert_int_equal(
        smtp_parser_feed(&p, line, SMTP_REPLY_MAX_LINE + 1, &used),
        SMTP_PARSE_ERROR);
    assert_non_null(strstr(smtp_parser_error(&p), "too long"));
    smtp_parser_reset(&p);
    assert_int_equal(smtp_parser_line(&p, line, SMTP_REPLY_MAX_LINE + 1),
                     SMTP_PARSE_ERROR);
    assert_non_null(strstr(smtp_parser_error(&p), "too long"));
    /* Nothing of the failed line was kept. */
    assert_int_equal(p.reply.text.len, 0);

    /* With a bare LF the line fits the limit in bytes, but its text is
     * still one byte longer than a CRLF line may carry. */
    line[SMTP_REPLY_MAX_LINE - 1] = '\n';
    smtp_parser_reset(&p);
    assert_int_equal(smtp_parser_feed(&p, line, SMTP_REPLY_MAX_LINE, &used),
                     SMTP_PARSE_ERROR);
    smtp_parser_free(&p);
    free(line);
}

/* 1 MiB without a line end: an error, and memory stays at one line. */
static void test_overlong_line(void **state)
{
    (void)state;
    size_t n = 1 << 20;
    char *data = malloc(n);
    assert_non_null(data);
    memcpy(data, "250 ", 4);
    memset(data + 4, 'a', n - 4);

    struct smtp_parser p;
    smtp_parser_init(&p);
    size_t used = 0;
    assert_int_equal(smtp_parser_feed(&p, data, n, &used), SMTP_PARSE_ERROR);
    assert_non_null(strstr(smtp_parser_error(&p), "too long"));
    assert_true(p.line.cap <= SMTP_REPLY_MAX_LINE + 1);
    assert_int_equal(p.reply.text.len, 0);

    /* The same in 1 KiB reads, as from a socket. */
    smtp_parser_reset(&p);
    enum smtp_parse_status st = SMTP_PARSE_MORE;
    size_t off = 0;
    while (off < n && st == SMTP_PARSE_MORE) {
        st = smtp_parser_feed(&p, data + off, 1024, &used);
        assert_true(p.line.cap <= SMTP_REPLY_MAX_LINE + 1);
        off += 1024;
    }
    assert_int_equal(st, SMTP_PARSE_ERROR);
    /* It gave up as soon as the limit was passed. */
    assert_true(off <= SMTP_REPLY_MAX_LINE + 1024);
    smtp_parser_free(&p);
    free(data);
}

static char *repeat_line(const char *line, size_t count, const char *last,
                         size_t *len)
{
    size_t ll = strlen(line), lastl = last ? strlen(last) : 0;
    char *s = malloc(ll * count + lastl + 1);
    assert_non_null(s);
    for (size_t i = 0; i < count; i++)
        memcpy(s + i * ll, line, ll);
    if (last)
        memcpy(s + ll * count, last, lastl);
    *len = ll * count + lastl;
    s[*len] = '\0';
    return s;
}

static void test_too_many_lines(void **state)
{
    (void)state;
    size_t n = 0;
    char *data = repeat_line("250-x\r\n", 100000, "250 end\r\n", &n);

    struct smtp_parser p;
    smtp_parser_init(&p);
    size_t used = 0;
    assert_int_equal(smtp_parser_feed(&p, data, n, &used), SMTP_PARSE_ERROR);
    assert_non_null(strstr(smtp_parser_error(&p), "too many lines"));
    /* It stopped at the first line past the limit. */
    assert_int_equal(used, (SMTP_REPLY_MAX_LINES + 1) * 7);
    assert_int_equal(p.reply.n_lines, SMTP_REPLY_MAX_LINES);
    smtp_parser_free(&p);
    free(data);

    /* Exactly the limit is fine. */
    data =
        repeat_line("250-x\r\n", SMTP_REPLY_MAX_LINES - 1, "250 end\r\n", &n);
    smtp_parser_init(&p);
    assert_int_equal(smtp_parser_feed(&p, data, n, &used), SMTP_PARSE_DONE);
    assert_int_equal(used, n);
    assert_int_equal(p.reply.n_lines, SMTP_REPLY_MAX_LINES);
    smtp_parser_free(&p);
    free(data);
}

static void test_too_much_text(void **state)
{
    (void)state;
    /* 20 lines of 4000 bytes: under the line limits, over the text one. */
    char line[4008];
    memcpy(line, "250-", 4);
    memset(line + 4, 't', 4000);
    memcpy(line + 4004, "\r\n", 3);
    size_t n = 0;
    char *data = repeat_line(line, 20, "250 end\r\n", &n);

    struct smtp_parser p;
    smtp_parser_init(&p);
    size_t used = 0;
    assert_int_equal(smtp_parser_feed(&p, data, n, &used), SMTP_PARSE_ERROR);
    assert_non_null(strstr(smtp_parser_error(&p), "text too long"));
    assert_true(p.reply.text.len <= SMTP_REPLY_MAX_TEXT);
    /* What was kept is whole lines, never a cut one. */
    assert_int_equal(p.reply.text.len, 16 * 4000 + 15);
    smtp_parser_free(&p);
    free(data);
}

struct enhanced_case {
    const char *in;
    const char *out;
};

static const struct enhanced_case enhanced_cases[] = {
    {"5.7.8", "5.7.8"},
    {"5.7.8 Error", "5.7.8"},
    {"2.0.0 Ok", "2.0.0"},
    {"4.999.999 x", "4.999.999"},
    {"5.1000.1 x", ""},
    {"5.1.1000", ""},
    {"5.7", ""},
    {"5.7 x", ""},
    {"9.1.1", ""},
    {"3.1.1", ""},
    {"5..1", ""},
    {"5.7.", ""},
    {"5.7.8.", ""},
    {".5.7.8", ""},
    {"5.7.8\tx", ""},
    {"55.7.8", ""},
    {"", ""},
};

static void test_enhanced_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(enhanced_cases) / sizeof(enhanced_cases[0]);
         i++) {
        char out[16];
        memset(out, 'Z', sizeof(out));
        size_t n = smtp_enhanced_parse(enhanced_cases[i].in, out);
        print_message("enhanced: '%s'\n", enhanced_cases[i].in);
        assert_string_equal(out, enhanced_cases[i].out);
        assert_int_equal(n, strlen(enhanced_cases[i].out));
    }
}

/* EHLO ------------------------------------------------------------------ */

static void parse_ehlo_wire(const char *wire, struct smtp_ehlo *e)
{
    struct smtp_parser p;
    smtp_parser_init(&p);
    size_t used = 0;
    assert_int_equal(smtp_parser_feed(&p, wire, strlen(wire), &used),
                     SMTP_PARSE_DONE);
    assert_int_equal(used, strlen(wire));
    assert_int_equal(p.reply.code, 250);
    smtp_ehlo_parse(&p.reply, e);
    smtp_parser_free(&p);
}

/* For replies past the parser's own limits: the text as it would be. */
static void parse_ehlo_text(const char *text, size_t n, struct smtp_ehlo *e)
{
    struct smtp_reply r;
    r.code = 250;
    r.enhanced[0] = '\0';
    r.n_lines = 0;
    buf_init(&r.text, 0);
    assert_int_equal(buf_append(&r.text, text, n), 0);
    smtp_ehlo_parse(&r, e);
    buf_free(&r.text);
}

static void assert_list(char (*got)[SMTP_EHLO_KEYWORD_MAX + 1], size_t n,
                        const char *const *want, size_t n_want)
{
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(got[i], want[i]);
}

static void assert_mechs(const struct smtp_ehlo *e, const char *const *want,
                         size_t n_want)
{
    assert_int_equal(e->n_mechs, n_want);
    for (size_t i = 0; i < n_want; i++)
        assert_string_equal(e->mechs[i], want[i]);
}

#define ASSERT_KEYWORDS(e, ...)                                               \
    do {                                                                      \
        static const char *const want_[] = {__VA_ARGS__};                     \
        assert_list((e)->keywords, (e)->n_keywords, want_,                    \
                    sizeof(want_) / sizeof(want_[0]));                        \
    } while (0)
#define ASSERT_MECHS(e, ...)                                                  \
    do {                                                                      \
        static const char *const want_[] = {__VA_ARGS__};                     \
        assert_mechs((e), want_, sizeof(want_) / sizeof(want_[0]));           \
    } while (0)

static void test_ehlo_postfix(void **state)
{
    (void)state;
    struct smtp_ehlo e;
    parse_ehlo_wire("250-mx.example\r\n250-PIPELINING\r\n"
                    "250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
                    "250-AUTH PLAIN LOGIN CRAM-MD5\r\n"
                    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
                    "250-SMTPUTF8\r\n250 CHUNKING\r\n",
                    &e);
    ASSERT_KEYWORDS(&e, "PIPELINING", "SIZE", "VRFY", "ETRN", "AUTH",
                    "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8",
                    "CHUNKING");
    assert_int_equal(e.n_dropped, 0);
    ASSERT_MECHS(&e, "PLAIN", "LOGIN", "CRAM-MD5");
    assert_true(e.auth);
    assert_false(e.starttls);
    assert_true(e.has_size);
    assert_int_equal(e.size, 10240000);
    assert_true(smtp_ehlo_has_mech(&e, "plain"));
    assert_true(smtp_ehlo_has_mech(&e, "Cram-Md5"));
    assert_false(smtp_ehlo_has_mech(&e, "XOAUTH2"));
    assert_false(smtp_ehlo_has_mech(&e, "CRAM"));
    assert_false(smtp_ehlo_has_mech(&e, NULL));
}

static void test_ehlo_aiosmtpd(void **state)
{
    (void)state;
    struct smtp_ehlo e;
    parse_ehlo_wire("250-host\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n"
                    "250-SMTPUTF8\r\n250-STARTTLS\r\n250-AUTH LOGIN PLAIN\r\n"
                    "250 HELP\r\n",
                    &e);
    ASSERT_KEYWORDS(&e, "SIZE", "8BITMIME", "SMTPUTF8", "STARTTLS", "AUTH",
                    "HELP");
    assert_int_equal(e.n_dropped, 0);
    ASSERT_MECHS(&e, "LOGIN", "PLAIN");
    assert_true(e.auth);
    assert_true(e.starttls);
    assert_true(e.has_size);
    assert_int_equal(e.size, 33554432);
    assert_true(smtp_ehlo_has_mech(&e, "login"));
}

static void test_ehlo_greeting_only(void **state)
{
    (void)state;
    struct smtp_ehlo e;
    memset(&e, 0xa5, sizeof(e));
    parse_ehlo_wire("250 mx.example Hello\r\n", &e);
    assert_int_equal(e.n_keywords, 0);
    assert_int_equal(e.n_dropped, 0);
    assert_int_equal(e.n_mechs, 0);
    assert_false(e.auth);
    assert_false(e.starttls);
    assert_false(e.has_size);
    assert_int_equal(e.size, 0);
}

static void test_ehlo_many_keywords(void **state)
{
    (void)state;
    struct buf t;
    buf_init(&t, 0);
    assert_int_equal(buf_puts(&t, "mx.example"), 0);
    for (int i = 0; i < 4000; i++)
        assert_int_equal(buf_printf(&t, "\nK%d", i), 0);
    /* A capability past the bound still counts as a capability. */
    assert_int_equal(buf_puts(&t, "\nSTARTTLS"), 0);
    struct smtp_ehlo e;
    parse_ehlo_text(t.data, t.len, &e);
    assert_int_equal(e.n_keywords, SMTP_EHLO_MAX_KEYWORDS);
    assert_int_equal(e.n_dropped, 4001 - SMTP_EHLO_MAX_KEYWORDS);
    assert_string_equal(e.keywords[0], "K0");
    assert_string_equal(e.keywords[31], "K31");
    assert_true(e.starttls);
    buf_free(&t);
}

static void test_ehlo_long_keyword(void **state)
{
    (void)state;
    struct buf t;
    buf_init(&t, 0);
    assert_int_equal(buf_puts(&t, "mx.example\n"), 0);
    for (int i = 0; i < 10240; i++)
        assert_int_equal(buf_putc(&t, 'A'), 0);
    assert_int_equal(buf_puts(&t, " x\nPIPELINING"), 0);
    struct smtp_ehlo e;
    parse_ehlo_text(t.data, t.len, &e);
    ASSERT_KEYWORDS(&e, "PIPELINING");
    assert_int_equal(e.n_dropped, 1);
    buf_free(&t);
}

/* Lists end at the first NULL; fields left out are 0/false. */
struct ehlo_case {
    const char *name;
    const char *text;
    const char *kw[4];
    size_t n_dropped;
    const char *mechs[4];
    bool auth, starttls, has_size;
    uint64_t size;
};

static const struct ehlo_case ehlo_cases[] = {
    {.name = "lower case kept upper",
     .text = "mx\npipelining\nStartTls",
     .kw = {"PIPELINING", "STARTTLS"},
     .starttls = true},
    {.name = "32 characters kept",
     .text = "mx\nABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
     .kw = {"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"}},
    {.name = "33 characters dropped",
     .text = "mx\nABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\nDSN",
     .kw = {"DSN"},
     .n_dropped = 1},
    {.name = "bad characters",
     .text = "mx\n-FOO\nX_FOO\nFOO?BAR\nX-FOO",
     .kw = {"X-FOO"},
     .n_dropped = 3},
    {.name = "duplicates",
     .text = "mx\nDSN\ndsn\nDSN x",
     .kw = {"DSN"},
     .n_dropped = 2},
    {.name = "empty lines ignored", .text = "mx\n\nDSN\n", .kw = {"DSN"}},
    {.name = "legacy AUTH=",
     .text = "mx\nAUTH=PLAIN LOGIN\nAUTH PLAIN CRAM-MD5",
     .kw = {"AUTH"},
     .n_dropped = 1,
     .mechs = {"PLAIN", "LOGIN", "CRAM-MD5"},
     .auth = true},
    {.name = "legacy AUTH= only",
     .text = "mx\nauth=login",
     .n_dropped = 1,
     .mechs = {"LOGIN"},
     .auth = true},
    {.name = "AUTH without mechanisms",
     .text = "mx\nAUTH",
     .kw = {"AUTH"},
     .auth = true},
    {.name = "mechanism syntax",
     .text = "mx\nAUTH plain x_oauth2 BAD$MECH ABCDEFGHIJKLMNOPQRST "
             "ABCDEFGHIJKLMNOPQRSTU  Plain",
     .kw = {"AUTH"},
     .mechs = {"PLAIN", "X_OAUTH2", "ABCDEFGHIJKLMNOPQRST"},
     .auth = true},
    {.name = "SIZE without number",
     .text = "mx\nSIZE",
     .kw = {"SIZE"},
     .has_size = true},
    {.name = "SIZE 0", .text = "mx\nSIZE 0", .kw = {"SIZE"}, .has_size = true},
    {.name = "SIZE junk",
     .text = "mx\nSIZE abc",
     .kw = {"SIZE"},
     .has_size = true},
    {.name = "SIZE trailing junk",
     .text = "mx\nSIZE 12x",
     .kw = {"SIZE"},
     .has_size = true},
    {.name = "SIZE max",
     .text = "mx\nSIZE 18446744073709551615",
     .kw = {"SIZE"},
     .has_size = true,
     .size = UINT64_MAX},
    /* 2^64 + 1 would wrap around to 1 without the overflow check. */
    {.name = "SIZE overflow",
     .text = "mx\nSIZE 18446744073709551617",
     .kw = {"SIZE"},
     .has_size = true},
    {.name = "SIZE spaces and extra",
     .text = "mx\nsize   1000 x",
     .kw = {"SIZE"},
     .has_size = true,
     .size = 1000},
    {.name = "not STARTTLS",
     .text = "mx\nSTARTTLSX\nXSTARTTLS",
     .kw = {"STARTTLSX", "XSTARTTLS"}},
};

static size_t count_list(const char *const *list, size_t max)
{
    size_t n = 0;
    while (n < max && list[n])
        n++;
    return n;
}

static void test_ehlo_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ehlo_cases) / sizeof(ehlo_cases[0]); i++) {
        const struct ehlo_case *c = &ehlo_cases[i];
        print_message("ehlo case: %s\n", c->name);
        struct smtp_ehlo e;
        parse_ehlo_text(c->text, strlen(c->text), &e);
        assert_list(e.keywords, e.n_keywords, c->kw, count_list(c->kw, 4));
        assert_int_equal(e.n_dropped, c->n_dropped);
        assert_mechs(&e, c->mechs, count_list(c->mechs, 4));
        assert_int_equal(e.auth, c->auth);
        assert_int_equal(e.starttls, c->starttls);
        assert_int_equal(e.has_size, c->has_size);
        assert_true(e.size == c->size);
    }
}

static void test_ehlo_many_mechs(void **state)
{
    (void)state;
    struct buf t;
    buf_init(&t, 0);
    assert_int_equal(buf_puts(&t, "mx\nAUTH"), 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(buf_printf(&t, " M%d", i), 0);
    struct smtp_ehlo e;
    parse_ehlo_text(t.data, t.len, &e);
    assert_int_equal(e.n_mechs, SMTP_EHLO_MAX_MECHS);
    assert_string_equal(e.mechs[0], "M0");
    assert_string_equal(e.mechs[SMTP_EHLO_MAX_MECHS - 1], "M15");
    assert_true(smtp_ehlo_has_mech(&e, "m15"));
    assert_false(smtp_ehlo_has_mech(&e, "M16"));
    buf_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_table),
        cmocka_unit_test(test_split_every_byte),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_line_api),
        cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_overlong_line),
        cmocka_unit_test(test_too_many_lines),
        cmocka_unit_test(test_too_much_text),
        cmocka_unit_test(test_enhanced_parse),
        cmocka_unit_test(test_ehlo_postfix),
        cmocka_unit_test(test_ehlo_aiosmtpd),
        cmocka_unit_test(test_ehlo_greeting_only),
        cmocka_unit_test(test_ehlo_many_keywords),
        cmocka_unit_test(test_ehlo_long_keyword),
        cmocka_unit_test(test_ehlo_table),
        cmocka_unit_test(test_ehlo_many_mechs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
