/* log: leveled logfmt lines to stderr; never give it a secret. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "hexdigit.h"

static const char *const level_names[] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_ERROR] = "error",
};
_Static_assert(sizeof level_names / sizeof level_names[0] == LOG_LEVEL_COUNT,
               "a name for every level");

static atomic_int current_level = LOG_LEVEL_INFO;
static atomic_int current_format = LOG_FORMAT_LOGFMT;
static FILE *log_stream;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

const char *log_level_name(enum log_level level)
{
    if ((unsigned)level >= LOG_LEVEL_COUNT)
        return "unknown";
    return level_names[level];
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < LOG_LEVEL_COUNT; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_LEVEL_WARN;
        return 0;
    }
    return -1;
}

void log_set_level(enum log_level level)
{
    atomic_store(&current_level, (int)level);
}

bool log_enabled(enum log_level level)
{
    return (int)level >= atomic_load(&current_level);
}

int log_format_parse(const char *s, enum log_format *out)
{
    static const char *const names[] = {
        [LOG_FORMAT_LOGFMT] = "logfmt", [LOG_FORMAT_JSON] = "json"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_format)i;
            return 0;
        }
    }
    return -1;
}

void log_set_format(enum log_format format)
{
    atomic_store(&current_format, (int)format);
}

void log_set_stream(FILE *f)
{
    pthread_mutex_lock(&log_lock);
    log_stream = f;
    pthread_mutex_unlock(&log_lock);
}

static bool is_bare(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
            return false;
    }
    return true;
}

const char *log_quote(char *dst, size_t n, const char *s)
{
    if (n == 0)
        return dst;
    if (!s)
        s = "";
    if (is_bare(s) && strlen(s) < n) {
        memcpy(dst, s, strlen(s) + 1);
        return dst;
    }
    /* Keep room for the closing quote, "..." and the NUL. */
    if (n < 8) {
        dst[0] = '\0';
        return dst;
    }
    size_t limit = n - 5, j = 0;
    dst[j++] = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[5];
        size_t k = 0;
        if (c == '"' || c == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)c;
        } else if (c == '\n') {
            esc[k++] = '\\';
            esc[k++] = 'n';
        } else if (c == '\r') {
            esc[k++] = '\\';
            esc[k++] = 'r';
        } else if (c == '\t') {
            esc[k++] = '\\';
            esc[k++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            esc[k++] = '\\';
            esc[k++] = 'x';
            esc[k++] = hex[c >> 4];
            esc[k++] = hex[c & 15];
        } else {
            esc[k++] = (char)c;
        }
        if (j + k > limit) {
            memcpy(dst + j, "...", 3);
            j += 3;
            break;
        }
        memcpy(dst + j, esc, k);
        j += k;
    }
    dst[j++] = '"';
    dst[j] = '\0';
    return dst;
}

/* A JSON line being built; a piece that does not fit sets full and is
 * rolled back by the caller. */
struct jbuf {
    char *p;
    size_t cap, len;
    bool full;
};

static void jput(struct jbuf *b, const char *s, size_t n)
{
    if (b->full || n > b->cap - b->len) {
        b->full = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* s[0..n) as a JSON string, quotes included. */
static void jstr(struct jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    jput(b, "\"", 1);
    for (size_t i = 0; i < n && !b->full;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            jput(b, e, 2);
        } else if (c == '\n') {
            jput(b, "\\n", 2);
        } else if (c == '\r') {
            jput(b, "\\r", 2);
        } else if (c == '\t') {
            jput(b, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            jput(b, e, 6);
        } else if (c < 0x80) {
            jput(b, s + i, 1);
        } else {
            size_t k = utf8_len(u + i, n - i);
            if (k) {
                jput(b, s + i, k);
                i += k;
                continue;
            }
            jput(b, "\\ufffd", 6);
        }
        i++;
    }
    jput(b, "\"", 1);
}

/*
 * The logfmt value at *sp, decoded into out (as long as the value, at
 * most): bare up to a space, or quoted with log_quote()'s escapes. A
 * quoted value cut by the line's end ends there. Returns its length.
 */
static size_t logfmt_value(const char **sp, char *out)
{
    const char *s = *sp;
    size_t n = 0;
    if (*s != '"') {
        while (*s && *s != ' ')
            out[n++] = *s++;
        *sp = s;
        return n;
    }
    for (s++; *s && *s != '"'; s++) {
        if (*s != '\\' || !s[1]) {
            out[n++] = *s;
            continue;
        }
        s++;
        int byte = *s == 'x' ? hexdigit_pair(s + 1) : -1;
        if (*s == 'n')
            out[n++] = '\n';
        else if (*s == 'r')
            out[n++] = '\r';
        else if (*s == 't')
            out[n++] = '\t';
        else if (byte >= 0) {
            out[n++] = (char)byte;
            s += 2;
        } else
            out[n++] = *s;
    }
    if (*s == '"')
        s++;
    *sp = s;
    return n;
}

/*
 * The JSON form of a line: ts, level, module and msg, then every
 * key=value pair of fields (logfmt) in order. Returns its length, the
 * newline included.
 */
static size_t json_line(char *dst, size_t cap, const char *ts,
                        const char *level, const char *module, const char *msg,
                        const char *fields, bool truncated)
{
    static const char tail[] = ",\"truncated\":\"1\"}\n";
    struct jbuf b = {dst, cap - sizeof(tail), 0, false};
    char val[4096];
    jput(&b, "{\"ts\":", 6);
    jstr(&b, ts, strlen(ts));
    jput(&b, ",\"level\":", 9);
    jstr(&b, level, strlen(level));
    jput(&b, ",\"module\":", 10);
    jstr(&b, module, strlen(module));
    jput(&b, ",\"msg\":", 7);
    jstr(&b, msg ? msg : "", msg ? strlen(msg) : 0);
    if (b.full) {
        /* Only an enormous msg gets here: keep it short. */
        b.full = false;
        b.len = 0;
        jput(&b, "{\"ts\":", 6);
        jstr(&b, ts, strlen(ts));
        jput(&b, ",\"level\":", 9);
        jstr(&b, level, strlen(level));
        jput(&b, ",\"module\":", 10);
        jstr(&b, module, strlen(module));
        fields = "";
        truncated = true;
    }
    const char *s = fields ? fields : "";
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        const char *key = s;
        while (*s && *s != '=' && *s != ' ')
            s++;
        size_t klen = (size_t)(s - key), vlen = 0;
        if (*s == '=') {
            s++;
            vlen = logfmt_value(&s, val);
        }
        size_t mark = b.len;
        jput(&b, ",", 1);
        jstr(&b, key, klen);
        jput(&b, ":", 1);
        jstr(&b, val, vlen);
        if (b.full) {
            b.len = mark;
            truncated = true;
            break;
        }
    }
    b.cap += sizeof(tail);
    b.full = false;
    if (truncated)
        jput(&b, tail, sizeof(tail) - 1);
    else
        jput(&b, "}\n", 2);
    return b.len;
}

void log_write(enum log_level level, const char *module, const char *msg,
               const char *fmt, ...)
{
    if (!log_enabled(level))
        return;

    char line[4096];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);

    char stamp[96];
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    char qmsg[512];
    int off = snprintf(line, sizeof(line), "ts=%s level=%s module=%s msg=%s",
                       stamp, log_level_name(level), module,
                       log_quote(qmsg, sizeof(qmsg), msg));
    if (off < 0)
        return;
    int fields_at = -1;
    if (fmt && *fmt && (size_t)off < sizeof(line) - 2) {
        line[off++] = ' ';
        fields_at = off;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
        va_end(ap);
        if (n > 0)
            off += n;
    }
    /* A line longer than the buffer is cut, and says so. */
    bool truncated = false;
    if ((size_t)off >= sizeof(line) - 1) {
        off = (int)sizeof(line) - 16;
        truncated = true;
        if (atomic_load(&current_format) == LOG_FORMAT_LOGFMT) {
            memcpy(line + off, " truncated=1", 12);
            off += 12;
        }
    }

    char json[8192];
    const char *out = line;
    size_t len;
    if (atomic_load(&current_format) == LOG_FORMAT_JSON) {
        line[off] = '\0';
        len = json_line(
            json, sizeof(json), stamp, log_level_name(level), module, msg,
            fields_at >= 0 && fields_at <= off ? line + fields_at : "",
            truncated);
        out = json;
    } else {
        line[off++] = '\n';
        len = (size_t)off;
    }

    pthread_mutex_lock(&log_lock);
    FILE *f = log_stream ? log_stream : stderr;
    fwrite(out, 1, len, f);
    fflush(f);
    pthread_mutex_unlock(&log_lock);
}
