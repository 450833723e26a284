/* json: the one writer of the JSON the agent prints (--once, --explain):
 * indented, plain ASCII, commas placed by the writer. */
#ifndef JSON_H
#define JSON_H

#include <stdbool.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 8

/*
 * A writer knows whether a comma is due at each level, so that printing
 * code reads as a list of fields. Deeper than JSON_MAX_DEPTH levels are
 * written at the last level's indent.
 */
struct json {
    FILE *out;
    int depth;
    bool first[JSON_MAX_DEPTH];
};

/* s as a JSON string (RFC 8259), quotes included, in plain ASCII:
 * quotes, backslashes and control characters escaped, bytes past ASCII
 * as \u00XX. */
void json_string(FILE *out, const char *s);

/* Opens the document's outer object ("{", no line break before it). */
void json_begin(struct json *j, FILE *out);
/* Closes it and ends the line. */
void json_end(struct json *j);

/* key is NULL for an array's element. bracket: '{' or '['. */
void json_open(struct json *j, const char *key, char bracket);
void json_close(struct json *j, char bracket);
/* s NULL: null. */
void json_str(struct json *j, const char *key, const char *s);
/* "" is no value either: null, so that scripts test one thing. */
void json_str_or_null(struct json *j, const char *key, const char *s);
/* NaN and infinities: null (JSON has none). */
void json_num(struct json *j, const char *key, double v);
void json_int(struct json *j, const char *key, long long v);
void json_bool(struct json *j, const char *key, bool v);

#endif
