/* smtp_reply: parse SMTP replies and EHLO capabilities; bounded, pure. */
#ifndef SMTP_REPLY_H
#define SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Longest line accepted, CRLF included (RFC 5321 says 512; be generous). */
#define SMTP_REPLY_MAX_LINE 4096
/* Most lines in one multiline reply, and most bytes of text kept. */
#define SMTP_REPLY_MAX_LINES 1000
#define SMTP_REPLY_MAX_TEXT  65536

/* One complete reply. */
struct smtp_reply {
    int code;          /* 200..599 (first digit 2-5, second 0-5) */
    char enhanced[16]; /* RFC 3463 "x.y.z" from the first line, or "" */
    /*
     * The text of every line without the code and separator, lines joined
     * by '\n'; the enhanced code stays in the text. Bytes outside printable
     * ASCII are replaced by '?'.
     */
    struct buf text;
    size_t n_lines;
};

enum smtp_parse_status {
    SMTP_PARSE_MORE,  /* need more input */
    SMTP_PARSE_DONE,  /* parser->reply holds a complete reply */
    SMTP_PARSE_ERROR, /* malformed; smtp_parser_error() says why */
};

/*
 * An incremental parser. Lines end in CRLF; a bare LF is accepted as a
 * line end too (curl's own reader accepts it, and so must the part of the
 * probe that reads after curl). A line must be "ddd" or "ddd" followed by
 * ' ' (last line) or '-' (more follow) and text; every line of a reply
 * must carry the same code. Past the limits above the parser fails
 * instead of growing.
 */
struct smtp_parser {
    struct smtp_reply reply;
    struct buf line;   /* the partial line being read */
    bool done;         /* reply is complete */
    const char *error; /* static string, or NULL */
};

void smtp_parser_init(struct smtp_parser *p);
void smtp_parser_free(struct smtp_parser *p);
/* Forgets the current reply (or error) to parse the next one. */
void smtp_parser_reset(struct smtp_parser *p);

/*
 * Feeds n bytes. Stops right after the line that completes a reply:
 * *consumed says how many bytes were used; the rest belong to whatever
 * comes next. After DONE or ERROR, call smtp_parser_reset() before
 * feeding more.
 */
enum smtp_parse_status smtp_parser_feed(struct smtp_parser *p,
                                        const char *data, size_t n,
                                        size_t *consumed);

/* Feeds one whole line (as curl's header callback hands it over, with or
 * without its CRLF). */
enum smtp_parse_status smtp_parser_line(struct smtp_parser *p,
                                        const char *line, size_t n);

/* Why the parser failed: a short static string; NULL when it did not. */
const char *smtp_parser_error(const struct smtp_parser *p);

/* Parses an RFC 3463 enhanced status code at the start of s ("5.7.8 ..."):
 * copies it into out (size >= 16) and returns its length, or 0. */
size_t smtp_enhanced_parse(const char *s, char out[16]);

/* EHLO capabilities. Bounded so that a server cannot grow our series. */
#define SMTP_EHLO_MAX_KEYWORDS 32
#define SMTP_EHLO_KEYWORD_MAX  32
#define SMTP_EHLO_MAX_MECHS    16
#define SMTP_EHLO_MECH_MAX     20

struct smtp_ehlo {
    /* Keywords upper-cased, matching [A-Z0-9-]{1,32}, in the server's
     * order, no duplicates; n_dropped counts those not kept (too many,
     * too long, bad characters). */
    char keywords[SMTP_EHLO_MAX_KEYWORDS][SMTP_EHLO_KEYWORD_MAX + 1];
    size_t n_keywords;
    size_t n_dropped;
    /* SASL mechanisms from "AUTH ..." and the legacy "AUTH=..." lines,
     * upper-cased, [A-Z0-9_-]{1,20}, no duplicates. */
    char mechs[SMTP_EHLO_MAX_MECHS][SMTP_EHLO_MECH_MAX + 1];
    size_t n_mechs;
    bool starttls;
    bool auth;
    bool has_size;
    uint64_t size; /* SIZE argument; 0 = no limit stated */
};

/* Fills out from a complete 250 EHLO reply: the first line is the server's
 * name, each further line one keyword with its parameters. */
void smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *out);

bool smtp_ehlo_has_mech(const struct smtp_ehlo *e, const char *mech);

#endif
