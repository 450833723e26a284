/* log: leveled logfmt lines to stderr; never give it a secret. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_ERROR] = "error",
};
_Static_assert(sizeof level_names / sizeof level_names[0] == LOG_LEVEL_COUNT,
               "a name for every level");

static atomic_int current_level = LOG_LEVEL_INFO;
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

    char qmsg[512];
    int off = snprintf(line, sizeof(line),
                       "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s "
                       "module=%s msg=%s",
                       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                       log_level_name(level), module,
                       log_quote(qmsg, sizeof(qmsg), msg));
    if (off < 0)
        return;
    if (fmt && *fmt && (size_t)off < sizeof(line) - 2) {
        line[off++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
        va_end(ap);
        if (n > 0)
            off += n;
    }
    /* A line longer than the buffer is cut, and says so. */
    if ((size_t)off >= sizeof(line) - 1) {
        off = (int)sizeof(line) - 16;
        memcpy(line + off, " truncated=1", 12);
        off += 12;
    }
    line[off++] = '\n';

    pthread_mutex_lock(&log_lock);
    FILE *f = log_stream ? log_stream : stderr;
    fwrite(line, 1, (size_t)off, f);
    fflush(f);
    pthread_mutex_unlock(&log_lock);
}
