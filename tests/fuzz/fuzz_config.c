/* fuzz_config: any config text loads or fails cleanly, and says where. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "labels.h"
#include "fuzz_common.h"
#include "shard.h"

/*
 * Properties, for every input:
 * - no crash, no leak, no undefined behaviour (the sanitizers);
 * - a config comes back exactly when no error was reported, and then it
 *   holds what config.h promises (names, ports, durations, secrets; with
 *   shard = I/N only targets of shard I, and a warning when none);
 * - every diagnostic line reads "NAME:LINE: KEY: message" with a line
 *   that exists, or "NAME: message";
 * - no secret reaches a diagnostic: the inline password (written as
 *   @SECRET@ in the input, replaced by the harness), the value of
 *   $FUZZ_PW (password_env = FUZZ_PW) and the content of the password
 *   file below.
 * Inputs holding a NUL byte are loaded from a memfd through config_load()
 * as well: the string API stops at the NUL, the file reader must not.
 */

#define NAME          "fuzz.ini"
#define MARK          "@SECRET@"
#define INLINE_SECRET "Fz7qK2xW9mR4vT8inline"
#define ENV_SECRET    "Jh3pL6sD1nB5envsecret"
#define FILE_SECRET   "Wc8tY2gE4uQ7filesecret"
#define SECRET_PATH   "/tmp/smtp-health-agent-fuzz.secret"
#define SHARED_PATH   "/tmp/smtp-health-agent-fuzz-0644.secret"
#define EMPTY_PATH    "/tmp/smtp-health-agent-fuzz-empty.secret"
#define BIG_PATH      "/tmp/smtp-health-agent-fuzz-big.secret"

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Writes a fixture file; parallel jobs write the same bytes, so a race
 * between them is harmless. */
static void fixture(const char *path, mode_t mode, const char *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return;
    ssize_t w = write(fd, data, n);
    (void)w;
    fchmod(fd, mode);
    close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("FUZZ_PW", ENV_SECRET, 1);
    setenv("FUZZ_EMPTY", "", 1);
    fixture(SECRET_PATH, 0600, FILE_SECRET "\n", sizeof(FILE_SECRET));
    /* The other ways a secret file can be wrong: readable by others,
     * empty, too large. Their paths are in config.dict. */
    fixture(SHARED_PATH, 0644, FILE_SECRET "\r\n", sizeof(FILE_SECRET) + 1);
    fixture(EMPTY_PATH, 0600, "", 0);
    static char big[CONFIG_SECRET_MAX + 10];
    memset(big, 'b', sizeof(big));
    fixture(BIG_PATH, 0600, big, sizeof(big));
    return 0;
}

static bool has(const char *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

/* Replaces every MARK by INLINE_SECRET; the caller frees. */
static char *substitute(const uint8_t *data, size_t size, size_t *out_len)
{
    size_t marks = 0;
    for (size_t i = 0; i + strlen(MARK) <= size; i++)
        marks += memcmp(data + i, MARK, strlen(MARK)) == 0;
    size_t len = size + marks * (strlen(INLINE_SECRET) - strlen(MARK));
    char *s = malloc(len + 1);
    FUZZ_CHECK(s != NULL);
    size_t o = 0;
    for (size_t i = 0; i < size;) {
        if (i + strlen(MARK) <= size &&
            memcmp(data + i, MARK, strlen(MARK)) == 0) {
            memcpy(s + o, INLINE_SECRET, strlen(INLINE_SECRET));
            o += strlen(INLINE_SECRET);
            i += strlen(MARK);
        } else {
            s[o++] = (char)data[i++];
        }
    }
    s[o] = '\0';
    *out_len = o;
    return s;
}

/* True when every line that holds the inline secret is a password line:
 * then the secret cannot legitimately appear in a message (a host or a
 * section name is quoted back to help the user; a password never is). */
static bool secret_only_in_password_lines(const char *s, size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        const char *nl = memchr(s + pos, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - (s + pos)) : n - pos;
        const char *line = s + pos;
        if (memmem(line, len, INLINE_SECRET, strlen(INLINE_SECRET))) {
            size_t i = 0;
            while (i < len && (line[i] == ' ' || line[i] == '\t'))
                i++;
            if (len - i < 8 || memcmp(line + i, "password", 8) != 0)
                return false;
            i += 8;
            while (i < len && (line[i] == ' ' || line[i] == '\t'))
                i++;
            if (i >= len || line[i] != '=')
                return false;
        }
        pos += len + 1;
    }
    return true;
}

static size_t count_lines(const char *s, size_t n)
{
    size_t lines = 1;
    for (size_t i = 0; i < n; i++)
        lines += s[i] == '\n';
    return lines;
}

/* Each line "NAME:LINE: KEY: message" (1 <= LINE <= max_line) or
 * "NAME: message"; the text ends with a newline. Returns the line count. */
static size_t check_diag(const struct buf *b, const char *name,
                         size_t max_line)
{
    const char *s = buf_str(b);
    size_t n = b->len, lines = 0, nlen = strlen(name);
    FUZZ_CHECK(strlen(s) == n);
    FUZZ_CHECK(n == 0 || s[n - 1] == '\n');
    size_t pos = 0;
    while (pos < n) {
        const char *line = s + pos;
        const char *nl = memchr(line, '\n', n - pos);
        size_t len = (size_t)(nl - line);
        lines++;
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK((unsigned char)line[i] >= 0x20 || line[i] == '\t');
        FUZZ_CHECK(len > nlen + 1 && memcmp(line, name, nlen) == 0 &&
                   line[nlen] == ':');
        const char *p = line + nlen + 1;
        if (*p >= '0' && *p <= '9') {
            size_t no = 0;
            while (*p >= '0' && *p <= '9')
                no = no * 10 + (size_t)(*p++ - '0');
            FUZZ_CHECK(no >= 1 && no <= max_line);
            FUZZ_CHECK(p[0] == ':' && p[1] == ' ');
            p += 2;
            /* A key (or "-", or "[section]"), then ": message". */
            const char *sep = memmem(p, (size_t)(nl - p), ": ", 2);
            FUZZ_CHECK(sep != NULL && sep > p && sep + 2 < nl);
        } else {
            FUZZ_CHECK(p[0] == ' ' && p + 1 < nl);
        }
        pos += len + 1;
    }
    return lines;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > CONFIG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr("_.:-", c)))
            return false;
    }
    return true;
}

/* A target's labels as labels.h promises them: at most LABELS_MAX, each
 * name valid, not reserved and once, each value non-empty UTF-8 without
 * controls, within its bounds. */
static void check_labels(const char *canon)
{
    FUZZ_CHECK(canon != NULL);
    size_t n = 0;
    const char *name, *value;
    for (const char *p = labels_next(canon, &name, &value); p;
         p = labels_next(p, &name, &value)) {
        n++;
        size_t nl = strlen(name), vl = strlen(value);
        FUZZ_CHECK(nl >= 1 && nl <= LABEL_NAME_MAX);
        FUZZ_CHECK(vl >= 1 && vl <= LABEL_VALUE_MAX);
        FUZZ_CHECK(labels_check_value(value, vl) == LABELS_OK);
        FUZZ_CHECK(strspn(name,
                          "abcdefghijklmnopqrstuvwxyz"
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == nl);
        FUZZ_CHECK(!(name[0] >= '0' && name[0] <= '9'));
        FUZZ_CHECK(strncmp(name, "__", 2) != 0);
        for (int i = 0; i < LABEL_COUNT; i++)
            FUZZ_CHECK(strcmp(name, label_names[i]) != 0);
        const char *n2, *v2;
        for (const char *q = labels_next(canon, &n2, &v2); q != p;
             q = labels_next(q, &n2, &v2))
            FUZZ_CHECK(n2 == name || strcmp(n2, name) != 0);
    }
    FUZZ_CHECK(n <= LABELS_MAX);
}

/* A module: a target's settings without host or port, and a non-empty
 * allow-list. */
static void check_module(const struct agent_config *c,
                         const struct module_config *m)
{
    const struct target_config *t = &m->probe;
    FUZZ_CHECK(valid_name(t->name));
    FUZZ_CHECK(config_find_module(c, t->name) == m);
    FUZZ_CHECK(t->host[0] == '\0' && t->port == 0);
    FUZZ_CHECK(t->ehlo_name[0] != '\0');
    FUZZ_CHECK(m->allowed.n >= 1);
    FUZZ_CHECK(t->timeout_ms > 0 && t->timeout_ms <= 24ULL * 3600 * 1000);
    FUZZ_CHECK(t->n_mechs <= CONFIG_MAX_MECHS);
    check_labels(t->labels);
    if (t->n_mechs > 0) {
        FUZZ_CHECK(t->secret != NULL && t->secret_len >= 1);
        FUZZ_CHECK(strlen(t->secret) == t->secret_len);
        FUZZ_CHECK(t->tls != TLS_MODE_NONE || t->allow_plaintext_auth);
    } else {
        FUZZ_CHECK(t->secret == NULL);
    }
}

static void check_config(const struct agent_config *c)
{
    const uint64_t day = 24ULL * 3600 * 1000;
    FUZZ_CHECK(c->n_targets + c->n_other_shards + c->n_modules >= 1);
    FUZZ_CHECK(c->shards >= 1 && c->shards <= CONFIG_SHARDS_MAX);
    FUZZ_CHECK(c->shard < c->shards);
    FUZZ_CHECK(c->shards > 1 || c->n_other_shards == 0);
    FUZZ_CHECK(c->interval_ms > 0 && c->interval_ms <= day);
    FUZZ_CHECK(c->timeout_ms > 0 && c->timeout_ms <= c->interval_ms);
    FUZZ_CHECK(c->max_concurrent_probes >= 1 && c->max_per_host >= 1);
    FUZZ_CHECK(c->log_level < LOG_LEVEL_COUNT);
    FUZZ_CHECK(strnlen(c->listen, sizeof(c->listen)) < sizeof(c->listen));
    for (size_t i = 0; i < c->n_targets; i++) {
        const struct target_config *t = &c->targets[i];
        FUZZ_CHECK(valid_name(t->name));
        FUZZ_CHECK(config_find_target(c, t->name) == t);
        FUZZ_CHECK(t->host[0] != '\0' && t->server_name[0] != '\0');
        FUZZ_CHECK(t->ehlo_name[0] != '\0');
        FUZZ_CHECK(t->port >= 1 && t->port <= 65535);
        unsigned shard = 0;
        FUZZ_CHECK(shard_of(t->host, t->port, c->shards, &shard) == 0);
        FUZZ_CHECK(shard == c->shard);
        FUZZ_CHECK(t->tls == TLS_MODE_STARTTLS ||
                   t->tls == TLS_MODE_IMPLICIT || t->tls == TLS_MODE_NONE);
        FUZZ_CHECK(t->interval_ms > 0 && t->interval_ms <= day);
        FUZZ_CHECK(t->timeout_ms > 0 && t->timeout_ms <= t->interval_ms);
        FUZZ_CHECK(t->n_mechs <= CONFIG_MAX_MECHS);
        for (size_t m = 0; m < t->n_mechs; m++) {
            FUZZ_CHECK(t->mechs[m] < SASL_MECH_COUNT);
            for (size_t k = 0; k < m; k++)
                FUZZ_CHECK(t->mechs[m] != t->mechs[k]);
        }
        check_labels(t->labels);
        if (t->n_mechs > 0) {
            FUZZ_CHECK(t->secret != NULL);
            FUZZ_CHECK(t->secret_len >= 1 &&
                       t->secret_len <= CONFIG_SECRET_MAX);
            FUZZ_CHECK(strlen(t->secret) == t->secret_len);
            FUZZ_CHECK(t->username[0] != '\0');
            FUZZ_CHECK(t->tls != TLS_MODE_NONE || t->allow_plaintext_auth);
        } else {
            FUZZ_CHECK(t->secret == NULL);
        }
    }
    for (size_t i = 0; i < c->n_modules; i++)
        check_module(c, &c->modules[i]);
}

static void
load_and_check(const char *text, size_t len, const char *name,
               struct agent_config *(*load)(const char *, const char *,
                                            struct config_diag *),
               bool inline_checked, bool env_checked, bool file_checked)
{
    struct config_diag d;
    config_diag_init(&d);
    struct agent_config *c = load(name, text, &d);
    size_t max_line = count_lines(text, len);
    size_t e = check_diag(&d.errors, name, max_line);
    size_t w = check_diag(&d.warnings, name, max_line);
    /* At most 100 shown, plus one "N more not shown" line. */
    FUZZ_CHECK(e <= 101 && w <= 101);
    FUZZ_CHECK(e <= d.n_errors + 1 && w <= d.n_warnings + 1);
    if (c) {
        FUZZ_CHECK(d.n_errors == 0 && d.errors.len == 0);
        check_config(c);
        /* A shard with no target is said. */
        FUZZ_CHECK(c->n_targets > 0 || c->n_modules > 0 || d.n_warnings > 0);
    } else {
        FUZZ_CHECK(d.n_errors > 0 && d.errors.len > 0);
    }
    const char *all[] = {buf_str(&d.errors), buf_str(&d.warnings)};
    size_t lens[] = {d.errors.len, d.warnings.len};
    for (int i = 0; i < 2; i++) {
        if (inline_checked)
            FUZZ_CHECK(!has(all[i], lens[i], INLINE_SECRET));
        if (env_checked)
            FUZZ_CHECK(!has(all[i], lens[i], ENV_SECRET));
        if (file_checked)
            FUZZ_CHECK(!has(all[i], lens[i], FILE_SECRET));
    }
    config_free(c);
    config_diag_free(&d);
}

static struct agent_config *load_string(const char *name, const char *text,
                                        struct config_diag *d)
{
    return config_load_string(name, text, d);
}

/* config_load() on a memfd holding `text`: name is its /proc path. */
static struct agent_config *load_memfd(const char *name, const char *text,
                                       struct config_diag *d)
{
    (void)text;
    return config_load(name, d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    char *text = substitute(data, size, &len);
    bool inline_ok = secret_only_in_password_lines(text, len);
    bool env_ok = !has(text, len, ENV_SECRET);
    bool file_ok = !has(text, len, FILE_SECRET);

    load_and_check(text, strlen(text), NAME, load_string, inline_ok, env_ok,
                   file_ok);

    if (memchr(text, '\0', len)) {
        int fd = memfd_create("fuzz-config", MFD_CLOEXEC);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(write(fd, text, len) == (ssize_t)len);
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        load_and_check(text, len, path, load_memfd, inline_ok, env_ok,
                       file_ok);
        close(fd);
    }
    free(text);
    return 0;
}
