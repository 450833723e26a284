/*
 * config_secret: what the loader reads after parsing, besides the HTTP
 * endpoint's files (config_web.c): the one reader of the small files a
 * config names, with its checks of their mode and owner; each target's
 * AUTH settings and its secret, read once from password_file,
 * password_env or the inline password into the target; and each target's
 * CA file, checked to be readable. Messages name paths and variables,
 * never a secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "file.h"
#include "tls.h"
#include "token.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

/* The one reader of the files a config names (config_internal.h). */
int config_read_small_file(struct parser *p, int line, const char *key,
                           const char *path, size_t max, const char *limit,
                           char **data, size_t *len, struct file_info *info)
{
    int err = 0;
    memset(info, 0, sizeof(*info));
    enum file_status st = file_read(path, max, data, len, info, &err);
    if (st == FILE_OK)
        return 0;
    if (st == FILE_NO_MEMORY) {
        p->oom = true;
        return -1;
    }
    char why[CONFIG_PATH_MAX + 128];
    config_err_at(p, line, key, "%s",
                  file_problem(why, sizeof(why), path, st, err, limit));
    /* Only a regular file's mode is worth a warning. */
    if (!S_ISREG(info->mode))
        info->mode = 0;
    return -1;
}

/* Execute bits do not matter. */
const char *config_exposure_words(mode_t mode, char *dst, size_t n)
{
    const char *reader = mode & S_IROTH   ? "others"
                         : mode & S_IRGRP ? "its group"
                                          : NULL;
    const char *writer = mode & S_IWOTH   ? "others"
                         : mode & S_IWGRP ? "its group"
                                          : NULL;
    if (reader && writer && strcmp(reader, writer) == 0)
        snprintf(dst, n, "readable and writable by %s", reader);
    else if (reader && writer)
        snprintf(dst, n, "readable by %s and writable by %s", reader, writer);
    else if (reader || writer)
        snprintf(dst, n, "%s by %s", reader ? "readable" : "writable",
                 reader ? reader : writer);
    else
        dst[0] = '\0';
    return dst;
}

bool config_secret_owner_ok(struct parser *p, int line, const char *key,
                            const char *path, const struct file_info *info)
{
    uid_t me = geteuid();
    if (info->uid == me || info->uid == 0)
        return true;
    config_err_at(
        p, line, key,
        "%s is owned by uid %u; a secret file must belong to the agent's "
        "user (uid %u) or root",
        path, (unsigned)info->uid, (unsigned)me);
    return false;
}

static int store_secret(struct target_config *t, const char *s, size_t n)
{
    t->secret = malloc(n + 1);
    if (!t->secret)
        return -1;
    memcpy(t->secret, s, n);
    t->secret[n] = '\0';
    t->secret_len = n;
    return 0;
}

/* A warning when somebody besides the owner (and the agent's own group,
 * reading) may read or write the secret file path. */
static void warn_exposed(struct parser *p, int line, const char *key,
                         const char *path, const struct file_info *info)
{
    char words[80];
    if (file_secret_exposure(info))
        config_warn_at(p, line, key,
                       "%s is %s (mode %04o); chmod 600 it (or 640 with the "
                       "agent's own group)",
                       path,
                       config_exposure_words(info->mode, words, sizeof(words)),
                       (unsigned)(info->mode & 07777));
}

/*
 * Reads the secret; messages name the path, never the content. The file
 * is followed through symlinks (Kubernetes mounts secrets that way), and
 * what it leads to must be the secret alone: a regular file of one line
 * (one line end at most), owned by the agent's user or root. A link to
 * /etc/shadow, say, is refused whole.
 */
static void read_password_file(struct parser *p, struct target_config *t,
                               const char *path, int line)
{
    const char *key = config_target_key_names[TK_PASSWORD_FILE];
    const char *limit = STR(CONFIG_SECRET_MAX) " bytes";
    char *data = NULL;
    size_t n = 0;
    struct file_info info;
    /* Room for the largest secret plus "\r\n". */
    int rc = config_read_small_file(p, line, key, path, CONFIG_SECRET_MAX + 2,
                                    limit, &data, &n, &info);
    warn_exposed(p, line, key, path, &info);
    if (rc < 0)
        return;
    size_t len = n;
    if (n >= 1 && data[n - 1] == '\n')
        n -= (n >= 2 && data[n - 2] == '\r') ? 2 : 1;
    if (config_secret_owner_ok(p, line, key, path, &info)) {
        if (memchr(data, '\n', n) || memchr(data, '\r', n))
            config_err_at(
                p, line, key,
                "%s holds more than one line; put the secret alone on "
                "one line",
                path);
        else if (n > CONFIG_SECRET_MAX)
            config_err_at(p, line, key, "%s is larger than %s", path, limit);
        else if (n == 0)
            config_err_at(p, line, key, "%s is empty", path);
        else if (memchr(data, '\0', n))
            config_err_at(p, line, key, "%s holds a NUL byte", path);
        else if (store_secret(t, data, n))
            p->oom = true;
    }
    explicit_bzero(data, len);
    free(data);
}

static void read_password_env(struct parser *p, struct target_config *t,
                              const char *name, int line)
{
    const char *key = config_target_key_names[TK_PASSWORD_ENV];
    const char *v = getenv(name);
    if (!v) {
        config_err_at(p, line, key, "environment variable %s is not set",
                      name);
        return;
    }
    size_t n = strlen(v);
    if (n == 0)
        config_err_at(p, line, key, "environment variable %s is empty", name);
    else if (n > CONFIG_SECRET_MAX)
        config_err_at(p, line, key,
                      "environment variable %s is longer than %d bytes", name,
                      CONFIG_SECRET_MAX);
    else if (store_secret(t, v, n))
        p->oom = true;
}

/*
 * A CA file that cannot be read makes every certificate of the target
 * look invalid: say so at load, once per file. A warning, not an error:
 * the file may be provisioned after the config, and tls_verify = false
 * targets still probe. What can never work is an error: a FIFO, a device
 * or a directory (the probe would refuse it too: tls.c reads it the same
 * way), an empty or huge file.
 */
void config_check_ca_file(struct parser *p, const struct target_config *t,
                          const struct target_draft *d, bool *agent_warned,
                          bool *agent_failed)
{
    if (t->tls == TLS_MODE_NONE)
        return;
    int err = 0;
    enum file_status st = file_check(t->ca_file, TLS_CA_FILE_MAX, NULL, &err);
    if (st == FILE_OK)
        return;
    bool own = d->set[TK_CA_FILE];
    bool *said = st == FILE_ERRNO ? agent_warned : agent_failed;
    if (!own && *said)
        return;
    if (!own)
        *said = true;
    int line = own                             ? d->key_line[TK_CA_FILE]
               : p->agent_key_line[AK_CA_FILE] ? p->agent_key_line[AK_CA_FILE]
                                               : p->agent_line;
    char why[CONFIG_PATH_MAX + 128];
    file_problem(why, sizeof(why), t->ca_file, st, err, TLS_CA_FILE_WORDS);
    /* Missing or unreadable too: every TLS probe of the target would
     * fail, so it is an error, not a warning that --check-config passes.
     * The default, which no line gave, is said to be one. */
    config_err_at(p, line, "ca_file", "%s%s", why,
                  own || p->agent_set[AK_CA_FILE] ? ""
                                                  : " (the default ca_file)");
}

/* A bearer token is only for the mechanisms that send one. */
static bool oauth_only(struct parser *p, const struct target_config *t,
                       int line, enum target_key k)
{
    for (size_t i = 0; i < t->n_mechs; i++) {
        if (!sasl_mech_is_oauth(t->mechs[i])) {
            config_err_at(p, line, config_target_key_names[k],
                          "a bearer token is for XOAUTH2 and OAUTHBEARER "
                          "only, not %s",
                          sasl_mech_name(t->mechs[i]));
            return false;
        }
    }
    return true;
}

/* The OAuth2 client's keys need token_url; reported, true, when one is
 * given without it. */
static bool oauth_keys_without_url(struct parser *p,
                                   const struct target_draft *d)
{
    static const enum target_key keys[] = {TK_CLIENT_ID, TK_CLIENT_SECRET_FILE,
                                           TK_SCOPE, TK_REFRESH_TOKEN_FILE};
    if (d->set[TK_TOKEN_URL])
        return false;
    bool any = false;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (d->set[keys[i]]) {
            config_err_at(p, d->key_line[keys[i]],
                          config_target_key_names[keys[i]],
                          "only with token_url (the agent's OAuth2 client)");
            any = true;
        }
    }
    return any;
}

/*
 * token_file, and the OAuth2 client's client_secret_file and
 * refresh_token_file: read by every probe or token request (token.c),
 * here once with the same checks. A file that is not there yet is a
 * warning (a refresher may write it after the agent starts; until then
 * probes fail at stage token), one that can never be read as a token is
 * an error. What is read here is not kept.
 */
static void check_token_file(struct parser *p, const char *path,
                             enum target_key k, int line)
{
    const char *key = config_target_key_names[k];
    if (!path || !path[0])
        return; /* a refused path was reported */
    char *tok = NULL;
    size_t len = 0;
    struct file_info info;
    char why[CONFIG_PATH_MAX + 128];
    enum token_status st =
        token_file_read(path, &tok, &len, &info, why, sizeof(why));
    warn_exposed(p, line, key, path, &info);
    if (st == TOKEN_NO_MEMORY)
        p->oom = true;
    else if (st == TOKEN_UNREADABLE)
        config_warn_at(p, line, key,
                       "%s; probes fail at stage token until "
                       "it can be read",
                       why);
    else if (st == TOKEN_BAD)
        config_err_at(p, line, key, "%s", why);
    if (tok) {
        explicit_bzero(tok, len);
        free(tok);
    }
}

/*
 * token_url: the agent's own OAuth2 client (oauth.c) gets the token. The
 * grant is refresh_token with refresh_token_file, else
 * client_credentials, which needs a client secret and a scope.
 */
static void check_oauth_client(struct parser *p, const struct target_config *t,
                               const struct target_draft *d)
{
    int line = d->key_line[TK_TOKEN_URL];
    /* A refused URL was reported: the rest would be noise. */
    if (d->bad[TK_TOKEN_URL] || !oauth_only(p, t, line, TK_TOKEN_URL))
        return;
    bool refresh = d->set[TK_REFRESH_TOKEN_FILE];
    if (!d->set[TK_CLIENT_ID])
        config_err_at(p, line, config_target_key_names[TK_CLIENT_ID],
                      "required with token_url");
    if (!refresh && !d->set[TK_CLIENT_SECRET_FILE])
        config_err_at(p, line, config_target_key_names[TK_CLIENT_SECRET_FILE],
                      "required with token_url for the client_credentials "
                      "grant (or set refresh_token_file for the "
                      "refresh_token grant)");
    if (!refresh && !d->set[TK_SCOPE])
        config_err_at(p, line, config_target_key_names[TK_SCOPE],
                      "required with token_url for the client_credentials "
                      "grant");
    if (d->set[TK_CLIENT_SECRET_FILE])
        check_token_file(p, t->oauth.client_secret_file, TK_CLIENT_SECRET_FILE,
                         d->key_line[TK_CLIENT_SECRET_FILE]);
    if (refresh)
        check_token_file(p, t->oauth.refresh_token_file, TK_REFRESH_TOKEN_FILE,
                         d->key_line[TK_REFRESH_TOKEN_FILE]);
}

/*
 * Exactly one of the secret's sources: none is reported at mechanisms'
 * line; more than one at the line of the last of them in this list's
 * order, with the lines of the others. false after reporting.
 */
static bool one_secret_source(struct parser *p, const struct target_draft *d,
                              int mline)
{
    static const enum target_key sources[] = {TK_PASSWORD_FILE,
                                              TK_PASSWORD_ENV, TK_PASSWORD,
                                              TK_TOKEN_FILE, TK_TOKEN_URL};
    size_t n = sizeof(sources) / sizeof(sources[0]), given = 0;
    enum target_key named = TK_COUNT;
    for (size_t i = 0; i < n; i++) {
        if (d->set[sources[i]]) {
            given++;
            named = sources[i];
        }
    }
    if (given == 0) {
        config_err_at(p, mline, config_target_key_names[TK_MECHANISMS],
                      "a secret is required: set password_file, password_env, "
                      "password, token_file or token_url");
        return false;
    }
    if (given == 1)
        return true;
    /* Five names of at most 13 characters and their lines fit. */
    char others[256] = "";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        enum target_key k = sources[i];
        if (!d->set[k] || k == named)
            continue;
        int len = snprintf(others + o, sizeof(others) - o, "%s%s (line %d)",
                           o ? ", " : "", config_target_key_names[k],
                           d->key_line[k]);
        if (len > 0 && (size_t)len < sizeof(others) - o)
            o += (size_t)len;
    }
    config_err_at(p, d->key_line[named], config_target_key_names[named],
                  "set only one of password_file, password_env, password, "
                  "token_file and token_url; also set: %s",
                  others);
    return false;
}

void config_check_auth(struct parser *p, struct target_config *t,
                       struct target_draft *d)
{
    static const enum target_key auth_keys[] = {
        TK_USERNAME,          TK_PASSWORD_FILE,      TK_PASSWORD_ENV,
        TK_PASSWORD,          TK_TOKEN_FILE,         TK_TOKEN_URL,
        TK_CLIENT_ID,         TK_CLIENT_SECRET_FILE, TK_SCOPE,
        TK_REFRESH_TOKEN_FILE};
    if (t->n_mechs == 0) {
        /* A refused list was reported; "ignored" would only add noise. */
        if (d->bad[TK_MECHANISMS])
            return;
        for (size_t i = 0; i < sizeof(auth_keys) / sizeof(auth_keys[0]); i++) {
            if (d->set[auth_keys[i]])
                config_warn_at(p, d->key_line[auth_keys[i]],
                               config_target_key_names[auth_keys[i]],
                               "ignored: no mechanisms");
        }
        return;
    }
    /* What mechanisms brings about is said at its line. */
    const char *mkey = config_target_key_names[TK_MECHANISMS];
    int mline = d->key_line[TK_MECHANISMS];
    if (t->tls == TLS_MODE_NONE && !t->allow_plaintext_auth) {
        /* tls is a section's own (no [agent] key); its default is
         * starttls, so none was given, on its own line. */
        char where[40] = "";
        if (d->key_line[TK_TLS])
            snprintf(where, sizeof(where), " (line %d)", d->key_line[TK_TLS]);
        config_err_at(p, mline, mkey,
                      "AUTH over tls = none%s would send the password in "
                      "clear; set allow_plaintext_auth = true to allow it",
                      where);
    }
    if (!d->set[TK_USERNAME])
        config_err_at(p, mline, config_target_key_names[TK_USERNAME],
                      "required when mechanisms is set");
    if (oauth_keys_without_url(p, d))
        return;
    if (!one_secret_source(p, d, mline))
        return;
    if (d->set[TK_TOKEN_FILE]) {
        if (oauth_only(p, t, d->key_line[TK_TOKEN_FILE], TK_TOKEN_FILE))
            check_token_file(p, t->token_file, TK_TOKEN_FILE,
                             d->key_line[TK_TOKEN_FILE]);
        return;
    }
    if (d->set[TK_TOKEN_URL]) {
        check_oauth_client(p, t, d);
        return;
    }
    if (d->set[TK_PASSWORD_FILE] && d->password_file && d->password_file[0])
        read_password_file(p, t, d->password_file,
                           d->key_line[TK_PASSWORD_FILE]);
    else if (d->set[TK_PASSWORD_ENV] && d->password_env && d->password_env[0])
        read_password_env(p, t, d->password_env, d->key_line[TK_PASSWORD_ENV]);
    else if (d->password && store_secret(t, d->password, d->password_len))
        p->oom = true;
}
