/* json: the one JSON writer, for --once and --explain. */
#include "json.h"

#include <math.h>
#include <string.h>

void json_string(FILE *out, const char *s)
{
    /* The characters with a short escape, and their letters. */
    static const char plain[] = "\"\\\b\f\n\r\t", esc[] = "\"\\bfnrt";
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *hit = strchr(plain, *p);
        if (hit) {
            fputc('\\', out);
            fputc(esc[hit - plain], out);
        } else if (*p < 0x20 || *p >= 0x7f) {
            fprintf(out, "\\u%04x", (unsigned)*p);
        } else {
            fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* The comma, line break and indent before a value; its key if any. */
static void json_key(struct json *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->out);
    j->first[j->depth] = false;
    fprintf(j->out, "\n%*s", 2 * j->depth, "");
    if (key) {
        json_string(j->out, key);
        fputs(": ", j->out);
    }
}

void json_begin(struct json *j, FILE *out)
{
    memset(j, 0, sizeof(*j));
    j->out = out;
    j->depth = 1;
    j->first[1] = true;
    fputc('{', out);
}

void json_end(struct json *j)
{
    json_close(j, '}');
    fputc('\n', j->out);
}

void json_open(struct json *j, const char *key, char bracket)
{
    json_key(j, key);
    fputc(bracket, j->out);
    if (j->depth + 1 < JSON_MAX_DEPTH)
        j->depth++;
    j->first[j->depth] = true;
}

void json_close(struct json *j, char bracket)
{
    bool empty = j->first[j->depth];
    if (j->depth > 0)
        j->depth--;
    if (!empty)
        fprintf(j->out, "\n%*s", 2 * j->depth, "");
    fputc(bracket, j->out);
}

void json_str(struct json *j, const char *key, const char *s)
{
    json_key(j, key);
    if (s)
        json_string(j->out, s);
    else
        fputs("null", j->out);
}

void json_str_or_null(struct json *j, const char *key, const char *s)
{
    json_str(j, key, s && s[0] ? s : NULL);
}

void json_num(struct json *j, const char *key, double v)
{
    json_key(j, key);
    if (isfinite(v))
        fprintf(j->out, "%.15g", v);
    else
        fputs("null", j->out);
}

void json_int(struct json *j, const char *key, long long v)
{
    json_key(j, key);
    fprintf(j->out, "%lld", v);
}

void json_bool(struct json *j, const char *key, bool v)
{
    json_key(j, key);
    fputs(v ? "true" : "false", j->out);
}
