/* config_web: the HTTP endpoint's protection in agent.ini: HTTPS files and
 * basic auth users, checked after parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_internal.h"
#include "config_value.h"

/* A PEM certificate (chain) the HTTPS endpoint can serve. */
static void check_cert_file(struct parser *p)
{
    const enum agent_key k = AK_WEB_TLS_CERT_FILE;
    const char *key = config_agent_key_names[k];
    const char *path = p->cfg->web_tls_cert_file;
    int line = p->agent_key_line[k];
    char *data = NULL;
    size_t len = 0;
    struct file_info info;
    if (config_read_small_file(p, line, key, path, CONFIG_WEB_FILE_MAX,
                               CONFIG_WEB_FILE_WORDS, &data, &len, &info) < 0)
        return;
    if (!strstr(data, "-----BEGIN CERTIFICATE-----"))
        config_err_at(
            p, line, key,
            "%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path);
    free(data);
}

/* A PEM private key without a passphrase, kept from others. */
static void check_key_file(struct parser *p)
{
    const enum agent_key k = AK_WEB_TLS_KEY_FILE;
    const char *key = config_agent_key_names[k];
    const char *path = p->cfg->web_tls_key_file;
    int line = p->agent_key_line[k];
    char *data = NULL;
    size_t len = 0;
    struct file_info info;
    if (config_read_small_file(p, line, key, path, CONFIG_WEB_FILE_MAX,
                               CONFIG_WEB_FILE_WORDS, &data, &len, &info) < 0)
        return;
    /* Group-readable is the usual ssl-cert group setup; others are not
     * meant to read a private key, nor anyone else to change it. */
    char words[80];
    if (info.mode & (S_IROTH | S_IWOTH | S_IWGRP))
        config_warn_at(p, line, key,
                       "%s is %s (mode %04o); chmod 640 or 600 it", path,
                       config_exposure_words(info.mode, words, sizeof(words)),
                       (unsigned)(info.mode & 07777));
    const char *begin = strstr(data, "-----BEGIN ");
    const char *end = begin ? strstr(begin, "PRIVATE KEY-----") : NULL;
    if (config_secret_owner_ok(p, line, key, path, &info)) {
        if (!end)
            config_err_at(p, line, key,
                          "%s holds no PEM private key (-----BEGIN ... "
                          "PRIVATE KEY-----)",
                          path);
        else if (strstr(data, "ENCRYPTED"))
            config_err_at(p, line, key,
                          "%s is encrypted; the agent needs the key without "
                          "a passphrase",
                          path);
    }
    explicit_bzero(data, len);
    free(data);
}

void config_check_web_tls(struct parser *p)
{
    const enum agent_key ck = AK_WEB_TLS_CERT_FILE, kk = AK_WEB_TLS_KEY_FILE;
    if (p->agent_bad[ck] || p->agent_bad[kk])
        return;
    if (p->agent_set[ck] != p->agent_set[kk]) {
        enum agent_key given = p->agent_set[ck] ? ck : kk;
        enum agent_key missing = given == ck ? kk : ck;
        config_err_at(
            p, p->agent_key_line[given], config_agent_key_names[missing],
            "required with %s: HTTPS needs the certificate and its key",
            config_agent_key_names[given]);
        return;
    }
    if (!p->agent_set[ck])
        return;
    check_cert_file(p);
    check_key_file(p);
}

static bool add_web_user(struct parser *p, const char *name, size_t name_len,
                         const char *hash)
{
    struct agent_config *c = p->cfg;
    if (c->n_web_users % 16 == 0) {
        struct web_user *u =
            realloc(c->web_users, (c->n_web_users + 16) * sizeof(*u));
        if (!u) {
            p->oom = true;
            return false;
        }
        c->web_users = u;
    }
    struct web_user *u = &c->web_users[c->n_web_users++];
    memset(u, 0, sizeof(*u));
    memcpy(u->name, name, name_len);
    memcpy(u->hash, hash, CONFIG_BCRYPT_LEN);
    return true;
}

static bool web_user_listed(const struct agent_config *c, const char *name,
                            size_t n)
{
    for (size_t i = 0; i < c->n_web_users; i++) {
        if (strlen(c->web_users[i].name) == n &&
            memcmp(c->web_users[i].name, name, n) == 0)
            return true;
    }
    return false;
}

/* Line lineno of the users file, n bytes of s without its line end.
 * Nothing from the file is quoted: a line may hold a password typed in by
 * mistake. */
static void users_file_line(struct parser *p, const char *s, size_t n,
                            size_t lineno)
{
    const enum agent_key k = AK_WEB_BASIC_AUTH_USERS_FILE;
    const char *key = config_agent_key_names[k];
    const char *path = p->web_users_file;
    int line = p->agent_key_line[k];
    const char *colon = memchr(s, ':', n);
    if (n == 0 || s[0] == '#')
        return;
    if (!colon) {
        config_err_at(p, line, key, "%s:%zu: expected USER:HASH", path,
                      lineno);
        return;
    }
    size_t name_len = (size_t)(colon - s);
    if (!config_valid_web_user(s, name_len))
        config_err_at(p, line, key, "%s:%zu: the user " CONFIG_WEB_USER_RULE,
                      path, lineno);
    else if (!config_valid_bcrypt(colon + 1, n - name_len - 1))
        config_err_at(p, line, key, "%s:%zu: the hash " CONFIG_BCRYPT_RULE,
                      path, lineno);
    else if (web_user_listed(p->cfg, s, name_len))
        config_err_at(p, line, key, "%s:%zu: the user is listed twice", path,
                      lineno);
    else if (p->cfg->n_web_users == CONFIG_WEB_USERS_MAX)
        config_err_at(p, line, key, "%s:%zu: more than %d users", path, lineno,
                      CONFIG_WEB_USERS_MAX);
    else
        add_web_user(p, s, name_len, colon + 1);
}

/* "USER:HASH" lines, htpasswd -B's format; blank lines and # comments
 * are skipped. */
static void read_users_file(struct parser *p)
{
    const enum agent_key k = AK_WEB_BASIC_AUTH_USERS_FILE;
    const char *key = config_agent_key_names[k];
    const char *path = p->web_users_file;
    int line = p->agent_key_line[k];
    char *data = NULL;
    size_t len = 0;
    struct file_info info;
    if (config_read_small_file(p, line, key, path, CONFIG_WEB_FILE_MAX,
                               CONFIG_WEB_FILE_WORDS, &data, &len, &info) < 0)
        return;
    size_t errors = p->diag->n_errors;
    size_t lineno = 0;
    const char *s = data, *end = data + len;
    while (s < end && !p->oom) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = (size_t)((nl ? nl : end) - s);
        if (n > 0 && s[n - 1] == '\r')
            n--;
        users_file_line(p, s, n, ++lineno);
        s = nl ? nl + 1 : end;
    }
    /* Like a password file: it may hold a password pasted by mistake. */
    explicit_bzero(data, len);
    free(data);
    /* An empty file must not quietly mean "no protection". */
    if (!p->oom && p->diag->n_errors == errors && p->cfg->n_web_users == 0)
        config_err_at(p, line, key, "%s holds no users", path);
}

/* Basic auth without HTTPS on an address others can reach sends the
 * password in clear text with every scrape: allowed (a proxy may add
 * TLS in front), but said. */
static void warn_web_auth_in_clear(struct parser *p)
{
    const struct agent_config *c = p->cfg;
    if (c->n_web_users == 0 || p->agent_set[AK_WEB_TLS_CERT_FILE] ||
        config_listen_is_loopback(c->listen))
        return;
    enum agent_key k = p->agent_set[AK_WEB_BASIC_AUTH_USERS_FILE]
                           ? AK_WEB_BASIC_AUTH_USERS_FILE
                           : AK_WEB_BASIC_AUTH_USER;
    config_warn_at(
        p, p->agent_key_line[k], config_agent_key_names[k],
        "listen = %s is reachable from the network and HTTPS is off: "
        "scrapers will send their passwords in clear text; set "
        "web_tls_cert_file and web_tls_key_file, or listen on loopback "
        "behind a TLS proxy",
        c->listen);
}

void config_check_web_auth(struct parser *p)
{
    const enum agent_key uk = AK_WEB_BASIC_AUTH_USER,
                         hk = AK_WEB_BASIC_AUTH_PASSWORD_HASH,
                         fk = AK_WEB_BASIC_AUTH_USERS_FILE;
    if (p->agent_bad[uk] || p->agent_bad[hk] || p->agent_bad[fk])
        return;
    bool user = p->agent_set[uk], hash = p->agent_set[hk];
    if (p->agent_set[fk] && (user || hash)) {
        enum agent_key k = user ? uk : hk;
        config_err_at(
            p, p->agent_key_line[k], config_agent_key_names[k],
            "set either web_basic_auth_users_file or web_basic_auth_user "
            "with web_basic_auth_password_hash, not both");
        return;
    }
    if (user != hash) {
        enum agent_key given = user ? uk : hk;
        enum agent_key missing = given == uk ? hk : uk;
        config_err_at(p, p->agent_key_line[given],
                      config_agent_key_names[missing], "required with %s",
                      config_agent_key_names[given]);
        return;
    }
    if (user)
        add_web_user(p, p->web_user.name, strlen(p->web_user.name),
                     p->web_user.hash);
    else if (p->agent_set[fk])
        read_users_file(p);
    warn_web_auth_in_clear(p);
}
