/* config_value: the syntax of each config value, checked and parsed; pure. */
#include "config_value.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "netaddr.h"

#define HOUR_MS   (3600ULL * 1000)
#define MINUTE_MS (60ULL * 1000)
/* Longer than any SASL mechanism name (20 characters, RFC 4422 3.1). */
#define MECH_NAME_MAX 31
/* Longer than any address literal's text. */
#define LITERAL_MAX 63

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

const char *tls_mode_name(enum tls_mode mode)
{
    switch (mode) {
    case TLS_MODE_STARTTLS:
        return "starttls";
    case TLS_MODE_IMPLICIT:
        return "implicit";
    case TLS_MODE_NONE:
        return "none";
    }
    return "unknown";
}

static const char *const ip_family_names[] = {
    [IP_FAMILY_AUTO] = "auto",
    [IP_FAMILY_IPV4] = "ipv4",
    [IP_FAMILY_IPV6] = "ipv6",
};
_Static_assert(sizeof ip_family_names / sizeof ip_family_names[0] ==
                   IP_FAMILY_COUNT,
               "a word for every ip_family");

const char *ip_family_name(enum ip_family f)
{
    if ((unsigned)f >= IP_FAMILY_COUNT)
        return "unknown";
    return ip_family_names[f];
}

int config_parse_ip_family(const char *s, enum ip_family *out)
{
    for (int i = 0; i < IP_FAMILY_COUNT; i++) {
        if (strcmp(s, ip_family_names[i]) == 0) {
            *out = (enum ip_family)i;
            return 0;
        }
    }
    return -1;
}

int config_parse_address(const char *s, enum ip_family *family)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strlen(s) > CONFIG_ADDRESS_MAX)
        return -1;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        *family = IP_FAMILY_IPV4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        *family = IP_FAMILY_IPV6;
        return 0;
    }
    return -1;
}

bool config_family_allows(enum ip_family want, enum ip_family addr)
{
    return want == IP_FAMILY_AUTO || want == addr;
}

unsigned config_default_port(enum tls_mode mode)
{
    switch (mode) {
    case TLS_MODE_STARTTLS:
        return CONFIG_DEFAULT_PORT_STARTTLS;
    case TLS_MODE_IMPLICIT:
        return CONFIG_DEFAULT_PORT_IMPLICIT;
    case TLS_MODE_NONE:
        return CONFIG_DEFAULT_PORT_NONE;
    }
    return CONFIG_DEFAULT_PORT_STARTTLS;
}

int config_parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    unsigned long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (!is_digit(*s))
            return -1;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > hi)
            return -1;
    }
    if (v < lo)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* The digits at the start of s as a number, held at max + 1 once past
 * max; returns how many digits there were. */
static size_t leading_uint(const char *s, unsigned long max, unsigned long *v)
{
    size_t n = 0;
    *v = 0;
    for (; is_digit(s[n]); n++)
        if (*v <= max)
            *v = *v * 10 + (unsigned long)(s[n] - '0');
    if (*v > max)
        *v = max + 1;
    return n;
}

enum config_shard_problem config_parse_shard(const char *s, unsigned *index,
                                             unsigned *count)
{
    unsigned long i, n;
    size_t i_len = leading_uint(s, CONFIG_SHARDS_MAX, &i);
    if (i_len == 0 || s[i_len] != '/')
        return CONFIG_SHARD_SYNTAX;
    s += i_len + 1;
    size_t n_len = leading_uint(s, CONFIG_SHARDS_MAX, &n);
    if (n_len == 0 || s[n_len] != '\0')
        return CONFIG_SHARD_SYNTAX;
    if (n == 0 || n > CONFIG_SHARDS_MAX)
        return CONFIG_SHARD_COUNT;
    if (i >= n)
        return CONFIG_SHARD_INDEX;
    *index = (unsigned)i;
    *count = (unsigned)n;
    return CONFIG_SHARD_OK;
}

int config_parse_duration(const char *s, uint64_t *ms)
{
    if (!s || !is_digit(*s))
        return -1;
    uint64_t v = 0;
    for (; is_digit(*s); s++) {
        v = v * 10 + (uint64_t)(*s - '0');
        /* Anything this large is out of range in every unit; stopping
         * here also keeps the multiplication below from overflowing. */
        if (v > CONFIG_DURATION_MAX_MS)
            return -1;
    }
    uint64_t unit;
    if (*s == '\0' || strcmp(s, "s") == 0)
        unit = 1000;
    else if (strcmp(s, "ms") == 0)
        unit = 1;
    else if (strcmp(s, "m") == 0)
        unit = MINUTE_MS;
    else if (strcmp(s, "h") == 0)
        unit = HOUR_MS;
    else
        return -1;
    v *= unit;
    if (v == 0 || v > CONFIG_DURATION_MAX_MS)
        return -1;
    *ms = v;
    return 0;
}

const char *config_format_duration(uint64_t ms, char *dst, size_t n)
{
    if (ms % HOUR_MS == 0)
        snprintf(dst, n, "%lluh", (unsigned long long)(ms / HOUR_MS));
    else if (ms % MINUTE_MS == 0)
        snprintf(dst, n, "%llum", (unsigned long long)(ms / MINUTE_MS));
    else if (ms % 1000 == 0)
        snprintf(dst, n, "%llus", (unsigned long long)(ms / 1000));
    else
        snprintf(dst, n, "%llums", (unsigned long long)ms);
    return dst;
}

int config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    _Static_assert(sizeof yes / sizeof yes[0] == sizeof no / sizeof no[0],
                   "every yes has its no");
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int config_parse_tls(const char *s, enum tls_mode *out)
{
    static const enum tls_mode modes[] = {TLS_MODE_STARTTLS, TLS_MODE_IMPLICIT,
                                          TLS_MODE_NONE};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(s, tls_mode_name(modes[i])) == 0) {
            *out = modes[i];
            return 0;
        }
    }
    return -1;
}

int config_parse_mech(const char *s, size_t n, enum sasl_mech *out)
{
    char name[MECH_NAME_MAX + 1];
    if (n > MECH_NAME_MAX || memchr(s, '\0', n))
        return -1;
    memcpy(name, s, n);
    name[n] = '\0';
    return sasl_mech_parse(name, out);
}

/* name(0), ..., name(count - 1) joined by ", " into dst; whole names
 * only when n is short. */
static const char *join_names(char *dst, size_t n, const char *(*name)(int),
                              int count)
{
    size_t used = 0;
    if (n == 0)
        return dst;
    dst[0] = '\0';
    for (int i = 0; i < count; i++) {
        int len =
            snprintf(dst + used, n - used, "%s%s", i ? ", " : "", name(i));
        if (len < 0 || (size_t)len >= n - used) {
            dst[used] = '\0'; /* not a cut name */
            break;
        }
        used += (size_t)len;
    }
    return dst;
}

static const char *mech_name_of(int i)
{
    return sasl_mech_name((enum sasl_mech)i);
}

const char *config_mech_names(char *dst, size_t n)
{
    return join_names(dst, n, mech_name_of, SASL_MECH_COUNT);
}

static const char *const extra_names[] = {
    [CONFIG_EXTRA_DURATION_BUCKETS] = "duration_buckets",
    [CONFIG_EXTRA_EHLO_EXTENSIONS] = "ehlo_extensions",
    [CONFIG_EXTRA_LAST_REPLY_CODES] = "last_reply_codes",
    [CONFIG_EXTRA_ZERO_SERIES] = "zero_series",
    [CONFIG_EXTRA_CERT_DETAILS] = "cert_details",
};
_Static_assert(sizeof extra_names / sizeof extra_names[0] ==
                   CONFIG_EXTRA_COUNT,
               "a word for every extra_metrics option");
_Static_assert(CONFIG_EXTRA_COUNT <= 32, "the options fit an unsigned");

const char *config_extra_name(enum config_extra e)
{
    if ((unsigned)e >= CONFIG_EXTRA_COUNT)
        return "unknown";
    return extra_names[e];
}

static const char *extra_name_of(int i)
{
    return config_extra_name((enum config_extra)i);
}

const char *config_extra_names(char *dst, size_t n)
{
    return join_names(dst, n, extra_name_of, CONFIG_EXTRA_COUNT);
}

/* The option named by n bytes of s, or CONFIG_EXTRA_COUNT. */
static enum config_extra extra_lookup(const char *s, size_t n)
{
    for (int i = 0; i < CONFIG_EXTRA_COUNT; i++) {
        if (strlen(extra_names[i]) == n && memcmp(extra_names[i], s, n) == 0)
            return (enum config_extra)i;
    }
    return CONFIG_EXTRA_COUNT;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

enum config_extra_problem config_parse_extra(const char *s, unsigned *bits,
                                             const char **word,
                                             size_t *word_len)
{
    unsigned out = 0;
    bool none = false;
    size_t n_words = 0;
    for (const char *p = s;; p++) {
        const char *end = p + strcspn(p, ",");
        const char *w = p;
        const char *w_end = end;
        while (w < w_end && is_blank(*w))
            w++;
        while (w_end > w && is_blank(w_end[-1]))
            w_end--;
        size_t n = (size_t)(w_end - w);
        *word = w;
        *word_len = n;
        n_words++;
        enum config_extra e = extra_lookup(w, n);
        if (n == 0)
            return CONFIG_EXTRA_EMPTY_WORD;
        bool is_none = n == 4 && memcmp(w, "none", 4) == 0;
        if (is_none && none)
            return CONFIG_EXTRA_TWICE;
        if (is_none)
            none = true;
        else if (e == CONFIG_EXTRA_COUNT)
            return CONFIG_EXTRA_UNKNOWN_WORD;
        else if (out & CONFIG_EXTRA_BIT(e))
            return CONFIG_EXTRA_TWICE;
        else
            out |= CONFIG_EXTRA_BIT(e);
        if (none && n_words > 1)
            return CONFIG_EXTRA_NONE_MIXED;
        if (*end == '\0')
            break;
        p = end;
    }
    *bits = out;
    return CONFIG_EXTRA_OK;
}

bool config_valid_listen(const char *s)
{
    struct netaddr a;
    return netaddr_parse(s, false, &a, NULL, 0) == 0;
}

bool config_listen_is_loopback(const char *listen)
{
    /* Any port: only where the endpoint listens matters here. */
    struct netaddr a;
    return netaddr_parse(listen, true, &a, NULL, 0) == 0 &&
           netaddr_is_loopback(&a);
}

bool config_valid_host(const char *s)
{
    size_t n = strlen(s);
    return netaddr_is_dns_name(s, n) || netaddr_is_ipv6(s, n);
}

bool config_valid_ehlo_name(const char *s)
{
    size_t n = strlen(s);
    if (n >= 3 && s[0] == '[' && s[n - 1] == ']') {
        struct in_addr a4;
        char tmp[LITERAL_MAX + 1];
        if (n - 2 > LITERAL_MAX)
            return false;
        memcpy(tmp, s + 1, n - 2);
        tmp[n - 2] = '\0';
        if (inet_pton(AF_INET, tmp, &a4) == 1)
            return true;
        return strncasecmp(tmp, "IPv6:", 5) == 0 &&
               netaddr_is_ipv6(tmp + 5, n - 7);
    }
    return netaddr_is_dns_name(s, n);
}

bool config_valid_env_name(const char *s)
{
    if (!*s || is_digit(*s))
        return false;
    for (; *s; s++) {
        if (!is_alnum(*s) && *s != '_')
            return false;
    }
    return true;
}

bool config_valid_target_name(const char *s, size_t n)
{
    if (n < 1 || n > CONFIG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!is_alnum(c) && c != '_' && c != '.' && c != ':' && c != '-')
            return false;
    }
    return true;
}

bool config_valid_any_target_name(const char *s, size_t n)
{
    if (n < 1 || n > CONFIG_TARGET_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!is_alnum(c) && !strchr("_.:-/[]", c))
            return false;
    }
    return true;
}

bool config_valid_web_user(const char *s, size_t n)
{
    if (n < 1 || n > CONFIG_WEB_USER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == ':')
            return false;
    }
    return true;
}

bool config_valid_bcrypt(const char *s, size_t n)
{
    static const char alphabet[] =
        "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if (n != CONFIG_BCRYPT_LEN || s[0] != '$' || s[1] != '2' ||
        (s[2] != 'a' && s[2] != 'b' && s[2] != 'y') || s[3] != '$' ||
        !is_digit(s[4]) || !is_digit(s[5]) || s[6] != '$')
        return false;
    int cost = (s[4] - '0') * 10 + (s[5] - '0');
    if (cost < 4 || cost > 31)
        return false;
    for (size_t i = 7; i < n; i++) {
        if (s[i] == '\0' || !strchr(alphabet, s[i]))
            return false;
    }
    return true;
}
