/* config: agent.ini -> struct agent_config, validated, with file:line.
 * The syntax of each value is config_value.c's; what a section inherits
 * from [agent], and the checks across its keys, are config_resolve.c's;
 * the secrets and CA files read after parsing are config_secret.c's; the
 * checks of the HTTP endpoint's protection are config_web.c's; the
 * labels key's messages are config_labels.c's. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config_internal.h"
#include "check.h"
#include "config_value.h"
#include "file.h"
#include "netaddr.h"

/* Bounds on what we read at all: a config is small, a huge file is a
 * mistake, and reading it whole lets the reader check every line. */
#define CONFIG_FILE_MAX ((size_t)8 << 20)

const char *const config_agent_key_names[] = {
    [AK_LISTEN] = "listen",
    [AK_INTERVAL] = "interval",
    [AK_TIMEOUT] = "timeout",
    [AK_MAX_CONCURRENT_PROBES] = "max_concurrent_probes",
    [AK_MAX_PER_HOST] = "max_per_host",
    [AK_CA_FILE] = "ca_file",
    [AK_LOG_LEVEL] = "log_level",
    [AK_WEB_TLS_CERT_FILE] = "web_tls_cert_file",
    [AK_WEB_TLS_KEY_FILE] = "web_tls_key_file",
    [AK_WEB_BASIC_AUTH_USER] = "web_basic_auth_user",
    [AK_WEB_BASIC_AUTH_PASSWORD_HASH] = "web_basic_auth_password_hash",
    [AK_WEB_BASIC_AUTH_USERS_FILE] = "web_basic_auth_users_file",
    [AK_EXTRA_METRICS] = "extra_metrics",
    [AK_IP_FAMILY] = "ip_family",
    [AK_SOURCE_ADDRESS] = "source_address",
    [AK_LABELS] = "labels",
    [AK_SHARD] = "shard",
    [AK_TARGETS_FILE] = "targets_file",
    [AK_LOG_FORMAT] = "log_format",
};
_Static_assert(sizeof config_agent_key_names /
                       sizeof config_agent_key_names[0] ==
                   AK_COUNT,
               "a name for every [agent] key");

const char *const config_target_key_names[] = {
    [TK_HOST] = "host",
    [TK_PORT] = "port",
    [TK_TLS] = "tls",
    [TK_TLS_VERIFY] = "tls_verify",
    [TK_CA_FILE] = "ca_file",
    [TK_SERVER_NAME] = "server_name",
    [TK_EHLO_NAME] = "ehlo_name",
    [TK_MECHANISMS] = "mechanisms",
    [TK_USERNAME] = "username",
    [TK_PASSWORD_FILE] = "password_file",
    [TK_PASSWORD_ENV] = "password_env",
    [TK_PASSWORD] = "password",
    [TK_ALLOW_PLAINTEXT_AUTH] = "allow_plaintext_auth",
    [TK_INTERVAL] = "interval",
    [TK_TIMEOUT] = "timeout",
    [TK_EXTRA_METRICS] = "extra_metrics",
    [TK_IP_FAMILY] = "ip_family",
    [TK_SOURCE_ADDRESS] = "source_address",
    [TK_LABELS] = "labels",
    [TK_ALLOWED_TARGETS] = "allowed_targets",
    [TK_TOKEN_FILE] = "token_file",
    [TK_TOKEN_URL] = "token_url",
    [TK_CLIENT_ID] = "client_id",
    [TK_CLIENT_SECRET_FILE] = "client_secret_file",
    [TK_SCOPE] = "scope",
    [TK_REFRESH_TOKEN_FILE] = "refresh_token_file",
    [TK_EXPECT_AUTH_BEFORE_TLS] = "expect_auth_before_tls",
    [TK_EXPECT_OPEN_RELAY] = "expect_open_relay",
    [TK_REQUIRE_EHLO] = "require_ehlo",
    [TK_OPEN_RELAY_RCPT] = "open_relay_rcpt",
};
_Static_assert(sizeof config_target_key_names /
                       sizeof config_target_key_names[0] ==
                   TK_COUNT,
               "a name for every [target] key");

static int copy_str(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len >= n)
        return -1;
    memcpy(dst, src, len + 1);
    return 0;
}

/* A copy of s that the config owns and frees, or NULL when out of
 * memory (said through p->oom). */
static const char *own_str(struct parser *p, const char *s)
{
    const char *copy = strpool_dup(&p->cfg->strings, s);
    if (!copy)
        p->oom = true;
    return copy;
}

/* Sets *field to a copy of s when s is at most max bytes. 0, or -1 when
 * longer (or out of memory: p->oom). */
static int set_str(struct parser *p, const char **field, const char *s,
                   size_t max)
{
    if (strlen(s) > max)
        return -1;
    const char *copy = own_str(p, s);
    if (!copy)
        return -1;
    *field = copy;
    return 0;
}

/* A relative path is taken from the config file's directory: the agent
 * runs with / as its working directory under systemd. */
static int resolve_path(const struct parser *p, const char *value, char *dst,
                        size_t n)
{
    if (value[0] == '/' || p->base_dir[0] == '\0')
        return copy_str(dst, n, value);
    int len = snprintf(dst, n, "%s/%s", p->base_dir, value);
    if (len < 0 || (size_t)len >= n) {
        dst[0] = '\0';
        return -1;
    }
    return 0;
}

/* A draft's copy of s in *dst, in the scratch pool until the load ends
 * (a key is given once: a second one is an error); out of memory sets
 * p->oom. */
static void draft_str(struct parser *p, const char **dst, const char *s)
{
    const char *copy = strpool_dup(&p->scratch, s);
    if (!copy) {
        p->oom = true;
        return;
    }
    *dst = copy;
}

/* ---- sections ---- */

/* name: n bytes, not NUL-terminated, at most CONFIG_TARGET_NAME_MAX. */
static struct target_config *add_target(struct parser *p, const char *name,
                                        size_t n)
{
    struct agent_config *cfg = p->cfg;
    char buf[CONFIG_TARGET_NAME_MAX + 1];
    snprintf(buf, sizeof(buf), "%.*s", (int)n, name);
    const char *own = own_str(p, buf);
    if (!own)
        return NULL;
    if (cfg->n_targets == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct target_config *t =
            realloc(cfg->targets, cap * sizeof(*cfg->targets));
        if (!t)
            return NULL;
        cfg->targets = t;
        struct target_draft *d = realloc(p->drafts, cap * sizeof(*d));
        if (!d)
            return NULL;
        p->drafts = d;
        p->cap = cap;
    }
    struct target_config *t = &cfg->targets[cfg->n_targets];
    memset(&p->drafts[cfg->n_targets], 0, sizeof(p->drafts[0]));
    cfg->n_targets++;
    config_probe_init(p, t, own);
    p->cur = t;
    p->cur_draft = &p->drafts[cfg->n_targets - 1];
    p->cur_module = NULL;
    return t;
}

static const struct target_config *find_target_n(const struct agent_config *c,
                                                 const char *name, size_t n)
{
    for (size_t i = 0; i < c->n_targets; i++) {
        if (strlen(c->targets[i].name) == n &&
            memcmp(c->targets[i].name, name, n) == 0)
            return &c->targets[i];
    }
    return NULL;
}

/* A [target] name being looked up: not NUL-terminated in the text. */
struct name_key {
    const char *s;
    size_t n;
};

static bool name_is(const void *ctx, size_t value, const void *key)
{
    const struct agent_config *c = ctx;
    const struct name_key *k = key;
    const char *name = c->targets[value].name;
    return strlen(name) == k->n && memcmp(name, k->s, k->n) == 0;
}

static uint64_t name_hash(const char *s, size_t n)
{
    char buf[CONFIG_TARGET_NAME_MAX + 1];
    snprintf(buf, sizeof(buf), "%.*s", (int)n, s);
    return hashtab_hash_str(buf);
}

/* The target already named so, through the parser's hash of names: a
 * file of 100,000 targets is not 10^10 comparisons. */
static const struct target_config *parsed_target(const struct parser *p,
                                                 const char *name, size_t n)
{
    struct name_key k = {name, n};
    size_t i =
        hashtab_find(&p->names, name_hash(name, n), &k, name_is, p->cfg);
    return i == HASHTAB_NONE ? NULL : &p->cfg->targets[i];
}

struct target_config *config_add_target(struct parser *p, const char *name,
                                        const struct target_config **dup)
{
    size_t n = strlen(name);
    *dup = parsed_target(p, name, n);
    if (*dup || n > CONFIG_TARGET_NAME_MAX)
        return NULL;
    struct target_config *t = add_target(p, name, n);
    if (!t || hashtab_insert(&p->names, name_hash(name, n),
                             p->cfg->n_targets - 1) < 0) {
        if (t)
            p->cfg->n_targets--;
        p->oom = true;
        return NULL;
    }
    return t;
}

void config_drop_targets(struct parser *p, size_t n)
{
    struct agent_config *c = p->cfg;
    while (c->n_targets > n) {
        const char *name = c->targets[c->n_targets - 1].name;
        size_t len = strlen(name);
        struct name_key k = {name, len};
        hashtab_remove(&p->names, name_hash(name, len), &k, name_is, c);
        c->n_targets--;
    }
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* What a key's name is made of. */
static bool is_key_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}

/* [target "NAME"]: key is the header as given, for messages; q..in_end
 * what follows the word "target", trimmed at its end. */
static void target_header(struct parser *p, const char *key, const char *q,
                          const char *in_end)
{
    p->saw_target = true;
    while (q < in_end && is_blank(*q))
        q++;
    size_t qn = (size_t)(in_end - q);
    if (qn < 2 || q[0] != '"' || q[qn - 1] != '"') {
        config_err_at(
            p, p->lineno, key,
            "expected [target \"NAME\"] with the name in double quotes");
        return;
    }
    const char *name = q + 1;
    size_t name_len = qn - 2;
    if (!config_valid_target_name(name, name_len)) {
        config_err_at(
            p, p->lineno, key,
            "target name must be 1 to %d characters of A-Z a-z 0-9 _ . : -",
            CONFIG_NAME_MAX);
        return;
    }
    const struct target_config *dup = parsed_target(p, name, name_len);
    if (dup) {
        config_err_at(p, p->lineno, key, "duplicate target (first on line %d)",
                      dup->line);
        return;
    }
    if (!add_target(p, name, name_len) ||
        hashtab_insert(&p->names, name_hash(name, name_len),
                       p->cfg->n_targets - 1) < 0) {
        p->oom = true;
        return;
    }
    p->sec = SEC_TARGET;
}

/* s[0] is '['; n bytes, already free of control characters. */
static void section_line(struct parser *p, const char *s, size_t n)
{
    const char *close = memchr(s, ']', n);
    p->sec = SEC_SKIP;
    p->key_in_section = false;
    if (!close) {
        config_err_at(p, p->lineno, "-", "section header without a closing ]");
        return;
    }
    const char *after = close + 1, *end = s + n;
    while (after < end && is_blank(*after))
        after++;
    if (after < end && *after != ';' && *after != '#') {
        config_err_at(p, p->lineno, "-",
                      "text after the ] of a section header");
        return;
    }
    const char *in = s + 1, *in_end = close;
    while (in < in_end && is_blank(*in))
        in++;
    while (in_end > in && is_blank(in_end[-1]))
        in_end--;
    int in_len = (int)(in_end - in);
    char key[256];
    snprintf(key, sizeof(key), "[%.*s]", in_len, in);

    if (in_len == 5 && memcmp(in, "agent", 5) == 0) {
        if (p->agent_line) {
            config_err_at(p, p->lineno, key,
                          "duplicate section (first on line %d)",
                          p->agent_line);
            return;
        }
        p->agent_line = p->lineno;
        p->sec = SEC_AGENT;
        return;
    }
    if (in_len >= 6 && memcmp(in, "module", 6) == 0 &&
        (in_len == 6 || is_blank(in[6]) || in[6] == '"')) {
        config_module_header(p, key, in + 6, in_end);
        return;
    }
    if (in_len < 6 || memcmp(in, "target", 6) != 0 ||
        (in_len > 6 && !is_blank(in[6]) && in[6] != '"')) {
        config_err_at(p, p->lineno, key,
                      "unknown section; expected [agent], [target \"NAME\"] "
                      "or [module \"NAME\"]");
        return;
    }
    target_header(p, key, in + 6, in_end);
}

/*
 * inih's reader, called once per physical line, so p->lineno is the line
 * the handler is about to see. Every line is checked here: inih only
 * reports its first syntax error, cuts long lines silently, keeps 49
 * characters of a section name and joins indented lines to the previous
 * value. So inih gets only well-formed "key = value" lines; any other line
 * reaches it empty, after its problem (if any) was reported here.
 */
static char *config_reader(char *str, int num, void *stream)
{
    struct parser *p = stream;
    if (p->pos >= p->len || num < 2) {
        /* inih's buffer holds the last line read, maybe a password. */
        if (num > 0)
            explicit_bzero(str, (size_t)num);
        return NULL;
    }
    const char *s = p->text + p->pos;
    size_t n = p->len - p->pos;
    const char *nl = memchr(s, '\n', n);
    if (nl) {
        n = (size_t)(nl - s);
        p->pos += n + 1;
    } else {
        p->pos = p->len;
    }
    p->lineno++;
    str[0] = '\0';
    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (p->lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    if (n > (size_t)num - 1) {
        config_err_at(p, p->lineno, "-", "line longer than %d characters",
                      num - 1);
        return str;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            config_err_at(p, p->lineno, "-",
                          "control character 0x%02x in the line", c);
            return str;
        }
    }
    size_t i = 0;
    while (i < n && is_blank(s[i]))
        i++;
    if (i == n || s[i] == ';' || s[i] == '#')
        return str;
    if (s[i] == '[') {
        section_line(p, s + i, n - i);
        return str;
    }
    size_t k = i;
    while (k < n && is_key_char(s[k]))
        k++;
    size_t eq = k;
    while (eq < n && is_blank(s[eq]))
        eq++;
    if (k > i && eq < n && s[eq] == '=') {
        /* Without its indentation, or inih would take it for a
         * continuation of the previous key. */
        memcpy(str, s + i, n - i);
        str[n - i] = '\0';
        p->key_in_section = true;
        return str;
    }
    if (i > 0 && p->key_in_section)
        config_err_at(
            p, p->lineno, "-",
            "continuation lines are not supported; put the whole value "
            "on one line");
    else
        config_err_at(p, p->lineno, "-",
                      "expected \"key = value\", a [section] or a comment");
    return str;
}

/* ---- keys ---- */

static int key_index(const char *const *names, int count, const char *name)
{
    for (int i = 0; i < count; i++) {
        if (strcmp(names[i], name) == 0)
            return i;
    }
    return -1;
}

static void err_duration(struct parser *p, int line, const char *key,
                         const char *v)
{
    config_err_at(p, line, key,
                  "must be a duration like 250ms, 30s, 5m or 1h, more than 0 "
                  "and at most 24h, not \"%s\"",
                  v);
}

static void err_whole_number(struct parser *p, int line, const char *key,
                             unsigned hi, const char *v)
{
    config_err_at(p, line, key,
                  "must be a whole number from 1 to %u, not \"%s\"", hi, v);
}

/* extra_metrics, in [agent] or a [target]: its bits, or the word at
 * fault with every word the key takes. */
static void extra_metrics_key(struct parser *p, int line, const char *key,
                              const char *v, unsigned *bits)
{
    const char *w = v;
    size_t n = 0;
    char words[128];
    config_extra_names(words, sizeof(words));
    switch (config_parse_extra(v, bits, &w, &n)) {
    case CONFIG_EXTRA_OK:
        return;
    case CONFIG_EXTRA_UNKNOWN_WORD:
        config_err_at(p, line, key,
                      "unknown word \"%.*s\"; valid: none, or one or more of "
                      "%s separated by commas",
                      (int)n, w, words);
        return;
    case CONFIG_EXTRA_TWICE:
        config_err_at(p, line, key, "%.*s is listed twice", (int)n, w);
        return;
    case CONFIG_EXTRA_EMPTY_WORD:
        config_err_at(p, line, key,
                      "empty word in \"%s\"; valid: none, or one or more of "
                      "%s separated by commas",
                      v, words);
        return;
    case CONFIG_EXTRA_NONE_MIXED:
        config_err_at(p, line, key,
                      "none cannot be listed with other words, not \"%s\"", v);
        return;
    }
}

static void agent_key(struct parser *p, int k, const char *v)
{
    struct agent_config *c = p->cfg;
    const char *key = config_agent_key_names[k];
    int line = p->lineno;
    switch ((enum agent_key)k) {
    case AK_LISTEN:
        if (!config_valid_listen(v) ||
            copy_str(c->listen, sizeof(c->listen), v))
            config_err_at(
                p, line, key,
                "must be HOST:PORT, [IPv6]:PORT or :PORT with a port from "
                "1 to 65535, not \"%s\"",
                v);
        return;
    case AK_INTERVAL:
    case AK_TIMEOUT:
        if (config_parse_duration(v, k == AK_INTERVAL ? &c->interval_ms
                                                      : &c->timeout_ms))
            err_duration(p, line, key, v);
        return;
    case AK_MAX_CONCURRENT_PROBES:
        if (config_parse_uint(v, 1, CONFIG_MAX_CONCURRENT_PROBES_MAX,
                              &c->max_concurrent_probes))
            err_whole_number(p, line, key, CONFIG_MAX_CONCURRENT_PROBES_MAX,
                             v);
        return;
    case AK_MAX_PER_HOST:
        if (config_parse_uint(v, 1, CONFIG_MAX_PER_HOST_MAX, &c->max_per_host))
            err_whole_number(p, line, key, CONFIG_MAX_PER_HOST_MAX, v);
        return;
    case AK_CA_FILE:
        if (resolve_path(p, v, c->ca_file, sizeof(c->ca_file)))
            config_err_at(p, line, key, "path longer than %d characters",
                          CONFIG_PATH_MAX);
        return;
    case AK_LOG_LEVEL:
        if (log_level_parse(v, &c->log_level))
            config_err_at(p, line, key,
                          "must be debug, info, warn or error, not \"%s\"", v);
        return;
    case AK_LOG_FORMAT:
        if (log_format_parse(v, &c->log_format))
            config_err_at(p, line, key, "must be logfmt or json, not \"%s\"",
                          v);
        return;
    case AK_WEB_TLS_CERT_FILE:
    case AK_WEB_TLS_KEY_FILE:
    case AK_WEB_BASIC_AUTH_USERS_FILE: {
        char *dst = k == AK_WEB_TLS_CERT_FILE  ? c->web_tls_cert_file
                    : k == AK_WEB_TLS_KEY_FILE ? c->web_tls_key_file
                                               : p->web_users_file;
        if (resolve_path(p, v, dst, CONFIG_PATH_MAX + 1))
            config_err_at(p, line, key, "path longer than %d characters",
                          CONFIG_PATH_MAX);
        return;
    }
    case AK_WEB_BASIC_AUTH_USER:
        /* Not quoted either: "user:password" is a likely mistake. */
        if (!config_valid_web_user(v, strlen(v)))
            config_err_at(p, line, key, CONFIG_WEB_USER_RULE);
        else
            copy_str(p->web_user.name, sizeof(p->web_user.name), v);
        return;
    case AK_WEB_BASIC_AUTH_PASSWORD_HASH:
        /* Never quoted: a password pasted here by mistake must not be
         * printed. */
        if (!config_valid_bcrypt(v, strlen(v)))
            config_err_at(p, line, key, CONFIG_BCRYPT_RULE);
        else
            copy_str(p->web_user.hash, sizeof(p->web_user.hash), v);
        return;
    case AK_EXTRA_METRICS:
        extra_metrics_key(p, line, key, v, &c->extra_metrics);
        return;
    case AK_IP_FAMILY:
        config_ip_family_key(p, line, key, v, &c->ip_family);
        return;
    case AK_SOURCE_ADDRESS:
        /* A valid address fits: CONFIG_ADDRESS_MAX is IPv6's longest. */
        if (config_source_address_key(p, line, key, v) == 0)
            copy_str(c->source_address, sizeof(c->source_address), v);
        return;
    case AK_LABELS:
        config_labels_key(p, line, key, v, &c->labels);
        return;
    case AK_SHARD:
        config_shard_key(p, line, key, v);
        return;
    case AK_TARGETS_FILE:
        config_targets_file_key(p, line, key, v);
        return;
    case AK_COUNT:
        break;
    }
}

static bool mech_listed(const struct target_config *t, enum sasl_mech m)
{
    for (size_t i = 0; i < t->n_mechs; i++) {
        if (t->mechs[i] == m)
            return true;
    }
    return false;
}

/* "PLAIN CRAM-MD5", "plain, login": any case, blanks or commas between. */
static void parse_mechanisms(struct parser *p, struct target_config *t,
                             const char *v)
{
    const char *key = config_target_key_names[TK_MECHANISMS];
    t->n_mechs = 0;
    while (*v) {
        size_t skip = strspn(v, " \t,");
        v += skip;
        size_t n = strcspn(v, " \t,");
        if (n == 0)
            break;
        enum sasl_mech m;
        char names[128];
        if (config_parse_mech(v, n, &m))
            config_err_at(p, p->lineno, key,
                          "unknown mechanism \"%.*s\"; supported: %s", (int)n,
                          v, config_mech_names(names, sizeof(names)));
        else if (mech_listed(t, m))
            config_err_at(p, p->lineno, key, "%s is listed twice",
                          sasl_mech_name(m));
        else if (t->n_mechs == CONFIG_MAX_MECHS)
            config_err_at(p, p->lineno, key, "at most %d mechanisms",
                          CONFIG_MAX_MECHS);
        else
            t->mechs[t->n_mechs++] = m;
        v += n;
    }
}

/* password = ...: kept until the secrets are read after parsing. */
static void inline_password(struct parser *p, struct target_draft *d, int line,
                            const char *v)
{
    const char *key = config_target_key_names[TK_PASSWORD];
    /* Never quote v here: it is the secret. */
    size_t n = strlen(v);
    if (n > CONFIG_SECRET_MAX) {
        config_err_at(p, line, key, "longer than %d bytes", CONFIG_SECRET_MAX);
        return;
    }
    /* In the scratch pool, which is wiped before it is freed. */
    d->password = strpool_ndup(&p->scratch, v, n);
    if (!d->password) {
        p->oom = true;
        return;
    }
    d->password_len = n;
    config_warn_at(p, line, key,
                   "password in the config file; prefer password_file");
    /* Group-readable is the usual root:service-group setup. */
    if (p->file_mode & S_IROTH)
        config_warn_at(p, line, key,
                       "%s is readable by others (mode %04o) and holds this "
                       "password; chmod 640 it, or use password_file",
                       p->name, (unsigned)(p->file_mode & 07777));
}

/* The keys of AUTH: the mechanisms, who, and where the secret is. */
static void auth_key(struct parser *p, enum target_key k, const char *v)
{
    struct target_config *t = p->cur;
    struct target_draft *d = p->cur_draft;
    const char *key = config_target_key_names[k];
    int line = p->lineno;
    switch (k) {
    case TK_MECHANISMS:
        parse_mechanisms(p, t, v);
        return;
    case TK_USERNAME:
        if (set_str(p, &t->username, v, CONFIG_HOST_MAX) && !p->oom)
            config_err_at(p, line, key, "longer than %d characters",
                          CONFIG_HOST_MAX);
        return;
    case TK_PASSWORD_ENV:
        if (!config_valid_env_name(v) || strlen(v) > CONFIG_ENV_NAME_MAX)
            /* Not quoted: a password pasted here must not be printed. */
            config_err_at(p, line, key,
                          "must be the name of an environment variable "
                          "([A-Za-z_][A-Za-z0-9_]*, at most %d characters)",
                          CONFIG_ENV_NAME_MAX);
        else
            draft_str(p, &d->password_env, v);
        return;
    case TK_PASSWORD:
        inline_password(p, d, line, v);
        return;
    case TK_PASSWORD_FILE:
    case TK_TOKEN_FILE:
    case TK_CLIENT_SECRET_FILE:
    case TK_REFRESH_TOKEN_FILE: {
        char path[CONFIG_PATH_MAX + 1];
        if (resolve_path(p, v, path, sizeof(path)))
            config_err_at(p, line, key, "path longer than %d characters",
                          CONFIG_PATH_MAX);
        else if (k == TK_PASSWORD_FILE)
            draft_str(p, &d->password_file, path);
        else
            /* Kept: every probe or token request reads it. */
            set_str(p,
                    k == TK_TOKEN_FILE ? &t->token_file
                    : k == TK_CLIENT_SECRET_FILE
                        ? &t->oauth.client_secret_file
                        : &t->oauth.refresh_token_file,
                    path, CONFIG_PATH_MAX);
        return;
    }
    case TK_TOKEN_URL:
        /* The client secret goes there: HTTPS only. */
        if (strncasecmp(v, "https://", 8) != 0 || !v[8] ||
            strpbrk(v, " \t\"<>\\^`{|}") || strlen(v) > CONFIG_URL_MAX)
            config_err_at(p, line, key,
                          "must be an https:// URL of at most %d characters",
                          CONFIG_URL_MAX);
        else
            set_str(p, &t->oauth.token_url, v, CONFIG_URL_MAX);
        return;
    case TK_CLIENT_ID:
    case TK_SCOPE:
        if (strlen(v) > CONFIG_URL_MAX)
            config_err_at(p, line, key, "longer than %d characters",
                          CONFIG_URL_MAX);
        else
            set_str(p,
                    k == TK_CLIENT_ID ? &t->oauth.client_id : &t->oauth.scope,
                    v, CONFIG_URL_MAX);
        return;
    default:
        break;
    }
}

/* The refusal checks' keys (check.h). */
static void check_key(struct parser *p, enum target_key k, const char *v)
{
    struct target_config *t = p->cur;
    const char *key = config_target_key_names[k];
    int line = p->lineno;
    char why[160];
    switch (k) {
    case TK_EXPECT_AUTH_BEFORE_TLS:
    case TK_EXPECT_OPEN_RELAY: {
        bool *on = k == TK_EXPECT_AUTH_BEFORE_TLS ? &t->expect_auth_refused
                                                  : &t->expect_relay_refused;
        if (strcmp(v, "refused") == 0)
            *on = true;
        else if (strcmp(v, "unchecked") == 0)
            *on = false;
        else
            config_err_at(p, line, key,
                          "must be refused (checked) or unchecked, not "
                          "\"%s\"",
                          v);
        return;
    }
    case TK_REQUIRE_EHLO:
        if (check_ehlo_parse(v, why, sizeof(why)))
            config_err_at(p, line, key, "%s", why);
        else if (set_str(p, &t->require_ehlo, v, CONFIG_HOST_MAX) && !p->oom)
            config_err_at(p, line, key, "longer than %d characters",
                          CONFIG_HOST_MAX);
        return;
    case TK_OPEN_RELAY_RCPT:
        if (!check_valid_rcpt(v))
            config_err_at(p, line, key,
                          "must be an address like someone@example.net "
                          "(no blanks, <, > or second @; at most 254 "
                          "characters), not \"%s\"",
                          v);
        else
            set_str(p, &t->open_relay_rcpt, v, 254);
        return;
    default:
        return;
    }
}

static void target_key(struct parser *p, int k, const char *v)
{
    struct target_config *t = p->cur;
    const char *key = config_target_key_names[k];
    int line = p->lineno;
    switch ((enum target_key)k) {
    case TK_HOST:
    case TK_SERVER_NAME: {
        bool ok = config_valid_host(v) &&
                  set_str(p, k == TK_HOST ? &t->host : &t->server_name, v,
                          CONFIG_HOST_MAX) == 0;
        if (!ok && !p->oom)
            config_err_at(p, line, key,
                          "must be a host name or an IP address (IPv6 without "
                          "brackets), not \"%s\"",
                          v);
        return;
    }
    case TK_PORT:
        if (netaddr_parse_port(v, false, &t->port))
            err_whole_number(p, line, key, 65535, v);
        return;
    case TK_TLS:
        if (config_parse_tls(v, &t->tls))
            config_err_at(p, line, key,
                          "must be starttls, implicit or none, not \"%s\"", v);
        return;
    case TK_TLS_VERIFY:
    case TK_ALLOW_PLAINTEXT_AUTH:
        if (config_parse_bool(v, k == TK_TLS_VERIFY
                                     ? &t->tls_verify
                                     : &t->allow_plaintext_auth))
            config_err_at(
                p, line, key,
                "must be true or false (or yes/no, on/off, 1/0), not "
                "\"%s\"",
                v);
        return;
    case TK_CA_FILE: {
        char path[CONFIG_PATH_MAX + 1];
        if (resolve_path(p, v, path, sizeof(path)))
            config_err_at(p, line, key, "path longer than %d characters",
                          CONFIG_PATH_MAX);
        else
            set_str(p, &t->ca_file, path, CONFIG_PATH_MAX);
        return;
    }
    case TK_EHLO_NAME:
        if ((!config_valid_ehlo_name(v) ||
             set_str(p, &t->ehlo_name, v, CONFIG_HOST_MAX)) &&
            !p->oom)
            config_err_at(p, line, key,
                          "must be a domain name or an address literal like "
                          "[192.0.2.1], not \"%s\"",
                          v);
        return;
    case TK_MECHANISMS:
    case TK_USERNAME:
    case TK_PASSWORD_FILE:
    case TK_PASSWORD_ENV:
    case TK_PASSWORD:
    case TK_TOKEN_FILE:
    case TK_TOKEN_URL:
    case TK_CLIENT_ID:
    case TK_CLIENT_SECRET_FILE:
    case TK_SCOPE:
    case TK_REFRESH_TOKEN_FILE:
        auth_key(p, (enum target_key)k, v);
        return;
    case TK_INTERVAL:
    case TK_TIMEOUT:
        if (config_parse_duration(v, k == TK_INTERVAL ? &t->interval_ms
                                                      : &t->timeout_ms))
            err_duration(p, line, key, v);
        return;
    case TK_EXTRA_METRICS:
        extra_metrics_key(p, line, key, v, &t->extra_metrics);
        return;
    case TK_IP_FAMILY:
        config_ip_family_key(p, line, key, v, &t->ip_family);
        return;
    case TK_SOURCE_ADDRESS:
        if (config_source_address_key(p, line, key, v) == 0)
            set_str(p, &t->source_address, v, CONFIG_ADDRESS_MAX);
        return;
    case TK_LABELS:
        config_labels_key(p, line, key, v, &t->labels);
        return;
    case TK_ALLOWED_TARGETS:
        config_allowed_targets_key(p, line, key, v);
        return;
    case TK_EXPECT_AUTH_BEFORE_TLS:
    case TK_EXPECT_OPEN_RELAY:
    case TK_REQUIRE_EHLO:
    case TK_OPEN_RELAY_RCPT:
        check_key(p, (enum target_key)k, v);
        return;
    case TK_COUNT:
        break;
    }
}

/* Why a [target] or [module] key is not one of that section's, or NULL:
 * the two share their keys but for the host and what only one of them
 * has. */
static const char *section_refuses(enum section sec, int k)
{
    if (sec == SEC_TARGET && k == TK_ALLOWED_TARGETS)
        return "only allowed in [module \"NAME\"] sections";
    if (sec != SEC_MODULE)
        return NULL;
    switch (k) {
    case TK_HOST:
    case TK_PORT:
        return "not allowed in [module \"NAME\"] sections: the request "
               "names the host and port (/probe?module=NAME&target=HOST:PORT)";
    case TK_INTERVAL:
        return "not allowed in [module \"NAME\"] sections: a module probes "
               "only on request";
    case TK_EXTRA_METRICS:
        return "not allowed in [module \"NAME\"] sections; set it in "
               "[agent]";
    default:
        return NULL;
    }
}

/* inih's handler. The section comes from the reader (see there); inih's
 * own copy may be cut. Always returns 1: problems are reported here. */
static int config_handler(void *user, const char *section, const char *name,
                          const char *value)
{
    struct parser *p = user;
    int line = p->lineno;
    (void)section;
    if (p->sec == SEC_SKIP)
        return 1;
    if (p->sec == SEC_NONE) {
        config_err_at(p, line, name,
                      "key outside any section; put it under [agent], "
                      "[target \"NAME\"] or [module \"NAME\"]");
        return 1;
    }
    bool agent = p->sec == SEC_AGENT;
    int k = agent ? key_index(config_agent_key_names, AK_COUNT, name)
                  : key_index(config_target_key_names, TK_COUNT, name);
    if (k < 0) {
        int tk = key_index(config_target_key_names, TK_COUNT, name);
        if (agent && tk == TK_ALLOWED_TARGETS)
            config_err_at(p, line, name,
                          "only allowed in [module \"NAME\"] sections");
        else if (agent && tk >= 0)
            config_err_at(p, line, name,
                          "only allowed in [target \"NAME\"] and [module "
                          "\"NAME\"] sections");
        else if (!agent &&
                 key_index(config_agent_key_names, AK_COUNT, name) >= 0)
            config_err_at(p, line, name, "only allowed in [agent]");
        else
            config_err_at(p, line, name, "unknown key");
        return 1;
    }
    const char *refused = agent ? NULL : section_refuses(p->sec, k);
    if (refused) {
        config_err_at(p, line, name, "%s", refused);
        return 1;
    }
    struct target_draft *d = agent ? NULL : p->cur_draft;
    int *first = agent ? &p->agent_key_line[k] : &d->key_line[k];
    /* targets_file may be given again: one pattern each. */
    if (*first && !(agent && k == AK_TARGETS_FILE)) {
        config_err_at(p, line, name, "duplicate key (first on line %d)",
                      *first);
        return 1;
    }
    *first = line;
    /* An empty value means "the default". */
    if (!*value)
        return 1;
    size_t n = strlen(value);
    if (n >= 2 && value[0] == '"' && value[n - 1] == '"')
        config_warn_at(p, line, name,
                       "the quotes are part of the value; remove them unless "
                       "they belong there");
    if (agent) {
        size_t errors = p->diag->n_errors;
        p->agent_set[k] = true;
        agent_key(p, k, value);
        p->agent_bad[k] = p->diag->n_errors > errors;
    } else {
        size_t errors = p->diag->n_errors;
        d->set[k] = true;
        target_key(p, k, value);
        d->bad[k] = p->diag->n_errors > errors;
    }
    return 1;
}

static void free_drafts(struct parser *p)
{
    free(p->drafts);
    p->drafts = NULL;
    free(p->mod_drafts);
    p->mod_drafts = NULL;
    free(p->sd_lines);
    p->sd_lines = NULL;
    /* It held the inline passwords. */
    strpool_wipe(&p->scratch);
    strpool_free(&p->scratch);
    hashtab_free(&p->names);
}

static void report_hidden(struct config_diag *d, const char *name,
                          size_t errors_before, size_t warnings_before)
{
    size_t shown_e =
        errors_before > DIAG_SHOWN_MAX ? errors_before : DIAG_SHOWN_MAX;
    size_t shown_w =
        warnings_before > DIAG_SHOWN_MAX ? warnings_before : DIAG_SHOWN_MAX;
    if (d->n_errors > shown_e)
        buf_printf(&d->errors, "%s: %zu more errors not shown\n", name,
                   d->n_errors - shown_e);
    if (d->n_warnings > shown_w)
        buf_printf(&d->warnings, "%s: %zu more warnings not shown\n", name,
                   d->n_warnings - shown_w);
}

/* mode: the file's (0 for a string), for the inline password check. */
static struct agent_config *load_text(const char *name, const char *base_dir,
                                      const char *text, size_t len,
                                      mode_t mode, struct sd_cache *cache,
                                      struct config_diag *diag)
{
    size_t errors_before = diag->n_errors;
    size_t warnings_before = diag->n_warnings;
    struct parser p;
    memset(&p, 0, sizeof(p));
    p.name = name;
    p.base_dir = base_dir;
    p.text = text;
    p.len = len;
    p.diag = diag;
    p.file_mode = mode;
    p.sd_cache = cache;
    p.cfg = calloc(1, sizeof(*p.cfg));
    if (!p.cfg) {
        config_err_at(&p, 0, NULL, "out of memory");
        return NULL;
    }
    struct agent_config *c = p.cfg;
    if (copy_str(c->path, sizeof(c->path), name))
        config_err_at(&p, 0, NULL, "file name longer than %d characters",
                      CONFIG_PATH_MAX);
    copy_str(c->listen, sizeof(c->listen), CONFIG_DEFAULT_LISTEN);
    c->interval_ms = CONFIG_DEFAULT_INTERVAL_MS;
    c->timeout_ms = CONFIG_DEFAULT_TIMEOUT_MS;
    c->max_concurrent_probes = CONFIG_DEFAULT_MAX_CONCURRENT_PROBES;
    c->max_per_host = CONFIG_DEFAULT_MAX_PER_HOST;
    copy_str(c->ca_file, sizeof(c->ca_file), CONFIG_DEFAULT_CA_FILE);
    c->log_level = CONFIG_DEFAULT_LOG_LEVEL;
    c->log_format = CONFIG_DEFAULT_LOG_FORMAT;
    c->extra_metrics = CONFIG_DEFAULT_EXTRA_METRICS;
    c->ip_family = CONFIG_DEFAULT_IP_FAMILY;
    copy_str(c->source_address, sizeof(c->source_address),
             CONFIG_DEFAULT_SOURCE_ADDRESS);
    c->labels = "";
    c->shards = CONFIG_DEFAULT_SHARDS;

    int rc = ini_parse_stream(config_reader, &p, config_handler, &p);
    /* The reader hands inih nothing it can reject; should it still, say
     * so rather than pass a bad file. */
    if (rc != 0 && !p.oom)
        config_err_at(&p, rc > 0 ? rc : 0, "-", "syntax error");
    if (!p.oom)
        config_resolve(&p);
    /* The files are read even when the sections are wrong: a check of
     * the config says what is wrong with them too. */
    if (!p.oom)
        config_sd_expand(&p);
    /* Only a valid file is split: every agent of the fleet checks every
     * target, so one file is valid for all of them or for none. */
    if (!p.oom && diag->n_errors == errors_before)
        config_apply_shard(&p);
    if (!p.oom && !p.saw_target && !p.saw_module && !c->n_targets_files)
        config_err_at(&p, 0, NULL,
                      "no [target \"NAME\"] or [module \"NAME\"] "
                      "sections and no targets_file; nothing to probe");
    free_drafts(&p);
    if (p.oom)
        config_err_at(&p, 0, NULL, "out of memory");
    report_hidden(diag, name, errors_before, warnings_before);
    if (diag->n_errors > errors_before) {
        config_free(c);
        return NULL;
    }
    return c;
}

struct agent_config *config_load(const char *path, struct config_diag *diag)
{
    return config_load_cached(path, NULL, diag);
}

struct agent_config *config_load_cached(const char *path,
                                        struct sd_cache *cache,
                                        struct config_diag *diag)
{
    struct config_diag local;
    struct config_diag *d = diag;
    if (!d) {
        config_diag_init(&local);
        d = &local;
    }
    struct agent_config *cfg = NULL;
    char *text = NULL;
    size_t len = 0;
    int err = 0;
    struct file_info info;
    memset(&info, 0, sizeof(info));
    /* At start and at every SIGHUP, on the probe loop: file.c opens it
     * without blocking, so a FIFO here fails at once. */
    enum file_status st =
        file_read(path, CONFIG_FILE_MAX, &text, &len, &info, &err);
    if (st != FILE_OK && st != FILE_EMPTY) {
        struct parser p = {.name = path, .diag = d};
        if (st == FILE_TOO_LARGE)
            config_err_at(&p, 0, NULL, "larger than %zu bytes",
                          CONFIG_FILE_MAX);
        else if (st == FILE_NOT_REGULAR && S_ISDIR(info.mode))
            config_err_at(&p, 0, NULL, "cannot open: %s", strerror(EISDIR));
        else if (st == FILE_NOT_REGULAR)
            config_err_at(&p, 0, NULL, "cannot open: not a regular file");
        else if (st == FILE_NO_MEMORY)
            config_err_at(&p, 0, NULL, "out of memory");
        else if (st == FILE_CHANGED)
            config_err_at(&p, 0, NULL, "changed while being read; try again");
        else
            config_err_at(&p, 0, NULL, "cannot open: %s", strerror(err));
    } else {
        char dir[CONFIG_PATH_MAX + 1] = "";
        const char *slash = strrchr(path, '/');
        if (slash) {
            size_t n = slash == path ? 1 : (size_t)(slash - path);
            if (n < sizeof(dir)) {
                memcpy(dir, path, n);
                dir[n] = '\0';
            }
        }
        cfg = load_text(path, dir, text ? text : "", len, info.mode, cache, d);
    }
    if (text) {
        /* It may hold an inline password. */
        explicit_bzero(text, len);
        free(text);
    }
    if (d == &local)
        config_diag_free(&local);
    return cfg;
}

struct agent_config *config_load_string(const char *name, const char *text,
                                        struct config_diag *diag)
{
    struct config_diag local;
    struct config_diag *d = diag;
    if (!d) {
        config_diag_init(&local);
        d = &local;
    }
    struct agent_config *cfg =
        load_text(name, "", text, strlen(text), 0, NULL, d);
    if (d == &local)
        config_diag_free(&local);
    return cfg;
}

void config_free(struct agent_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_targets; i++) {
        struct target_config *t = &cfg->targets[i];
        if (t->secret && !t->secret_shared) {
            explicit_bzero(t->secret, t->secret_len);
            free(t->secret);
        }
    }
    free(cfg->targets);
    for (size_t i = 0; i < cfg->n_modules; i++) {
        struct module_config *m = &cfg->modules[i];
        if (m->probe.secret) {
            explicit_bzero(m->probe.secret, m->probe.secret_len);
            free(m->probe.secret);
        }
        allowlist_free(&m->allowed);
    }
    free(cfg->modules);
    free(cfg->targets_files);
    free(cfg->sd_files);
    free(cfg->web_users);
    strpool_free(&cfg->strings);
    free(cfg);
}

const struct target_config *config_find_target(const struct agent_config *c,
                                               const char *name)
{
    if (!c || !name)
        return NULL;
    return find_target_n(c, name, strlen(name));
}
