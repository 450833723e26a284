/* oauth: the agent's OAuth2 client (RFC 6749 4.4 client credentials and
 * 6 refresh token), over the prober's multi handle. */
#include "oauth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "buf.h"
#include "log.h"
#include "now.h"
#include "token.h"

/* An answer larger than this is no token endpoint's. */
#define OAUTH_ANSWER_MAX (64 * 1024)
/* A token is given up this long before it expires: a quarter of its
 * life, at most a minute, so that a probe never sends one that expires
 * on the way. */
#define OAUTH_MARGIN_MAX_S 60
/* The longest OAuth error code kept ("invalid_client"). */
#define OAUTH_ERROR_MAX 40
#define OAUTH_WHY_MAX   (CONFIG_PATH_MAX + 256)

struct oauth_client {
    struct oauth_client *next;
    char *key; /* url \x1f client_id \x1f grant \x1f scope \x1f files */
    /* Copies of the settings: a reload may free the config's. */
    char *url, *client_id, *scope, *secret_file, *refresh_file;
    char *tok; /* the cached token, or NULL; wiped when dropped */
    size_t tok_len;
    uint64_t valid_until; /* CLOCK_MONOTONIC ns */
    /* A fetch in flight: its handle, request body (secret), answer. */
    CURL *easy;
    struct curl_slist *headers;
    struct buf body, answer;
    char errbuf[CURL_ERROR_SIZE];
    void **waiters;
    size_t n_waiters, cap_waiters;
};

struct oauth_cache {
    CURLM *multi;
    oauth_ready_fn ready;
    struct oauth_client *clients;
    unsigned long fetches;
};

struct oauth_cache *oauth_cache_new(CURLM *multi, oauth_ready_fn ready)
{
    struct oauth_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->multi = multi;
    c->ready = ready;
    return c;
}

static void drop_token(struct oauth_client *cl)
{
    if (cl->tok) {
        explicit_bzero(cl->tok, cl->tok_len);
        free(cl->tok);
    }
    cl->tok = NULL;
    cl->tok_len = 0;
}

/* Ends a fetch: the handle out of the multi, the secret body wiped. */
static void fetch_end(struct oauth_cache *c, struct oauth_client *cl)
{
    if (cl->easy) {
        curl_multi_remove_handle(c->multi, cl->easy);
        curl_easy_cleanup(cl->easy);
        cl->easy = NULL;
    }
    curl_slist_free_all(cl->headers);
    cl->headers = NULL;
    buf_wipe(&cl->body);
    buf_wipe(&cl->answer);
}

static void client_free(struct oauth_cache *c, struct oauth_client *cl)
{
    fetch_end(c, cl);
    drop_token(cl);
    free(cl->key);
    free(cl->url);
    free(cl->client_id);
    free(cl->scope);
    free(cl->secret_file);
    free(cl->refresh_file);
    free(cl->waiters);
    free(cl);
}

void oauth_cache_free(struct oauth_cache *c)
{
    if (!c)
        return;
    while (c->clients) {
        struct oauth_client *cl = c->clients;
        c->clients = cl->next;
        client_free(c, cl);
    }
    free(c);
}

unsigned long oauth_fetches(const struct oauth_cache *c)
{
    return c->fetches;
}

static bool refresh_grant(const struct oauth_settings *s)
{
    return s->refresh_token_file && s->refresh_token_file[0];
}

static char *client_key(const struct oauth_settings *s)
{
    struct buf k;
    buf_init(&k, 0);
    if (buf_printf(
            &k, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", s->token_url, s->client_id,
            refresh_grant(s) ? "refresh_token" : "client_credentials",
            s->scope, s->client_secret_file, s->refresh_token_file) < 0) {
        buf_free(&k);
        return NULL;
    }
    return k.data; /* NUL-terminated by buf_printf */
}

static struct oauth_client *client_get(struct oauth_cache *c,
                                       const struct oauth_settings *s)
{
    char *key = client_key(s);
    if (!key)
        return NULL;
    for (struct oauth_client *cl = c->clients; cl; cl = cl->next) {
        if (strcmp(cl->key, key) == 0) {
            free(key);
            return cl;
        }
    }
    struct oauth_client *cl = calloc(1, sizeof(*cl));
    if (!cl) {
        free(key);
        return NULL;
    }
    cl->key = key;
    cl->url = strdup(s->token_url);
    cl->client_id = strdup(s->client_id);
    cl->scope = strdup(s->scope);
    cl->secret_file = strdup(s->client_secret_file);
    cl->refresh_file = strdup(s->refresh_token_file);
    if (!cl->url || !cl->client_id || !cl->scope || !cl->secret_file ||
        !cl->refresh_file) {
        client_free(c, cl);
        return NULL;
    }
    buf_init(&cl->body, 0);
    buf_init(&cl->answer, OAUTH_ANSWER_MAX);
    cl->next = c->clients;
    c->clients = cl;
    return cl;
}

/* The URL as shown: without its query, which may hold anything. */
static void url_words(const struct oauth_client *cl, char *dst, size_t n)
{
    snprintf(dst, n, "%.*s", (int)strcspn(cl->url, "?#"), cl->url);
}

/* "&name=" + the value, form-encoded; the caller wipes the body. */
static int form_add(CURL *easy, struct buf *body, const char *name,
                    const char *value, size_t len)
{
    char *esc = curl_easy_escape(easy, value, (int)len);
    if (!esc)
        return -1;
    int rc = buf_printf(body, "%s%s=", body->len ? "&" : "", name) < 0 ||
                     buf_puts(body, esc) < 0
                 ? -1
                 : 0;
    explicit_bzero(esc, strlen(esc));
    curl_free(esc);
    return rc;
}

/* A secret file's content into *out (wiped and freed by the caller);
 * why when it cannot be read. */
static int read_secret(const char *key, const char *path, char **out,
                       size_t *len, char *why, size_t n)
{
    char problem[CONFIG_PATH_MAX + 128];
    enum token_status st =
        token_file_read(path, out, len, NULL, problem, sizeof(problem));
    if (st == TOKEN_OK)
        return 0;
    snprintf(why, n, "%s: %s", key,
             st == TOKEN_NO_MEMORY ? "out of memory" : problem);
    return -1;
}

static void wipe_free(char *s, size_t len)
{
    if (s) {
        explicit_bzero(s, len);
        free(s);
    }
}

/* The request body (RFC 6749 4.4.2, 6): client_secret_post, which
 * Microsoft's and Google's endpoints both take. */
static int request_body(struct oauth_client *cl, char *why, size_t n)
{
    char *secret = NULL, *refresh = NULL;
    size_t secret_len = 0, refresh_len = 0;
    bool refreshing = cl->refresh_file[0] != '\0';
    int rc = -1;
    if (cl->secret_file[0] &&
        read_secret("client_secret_file", cl->secret_file, &secret,
                    &secret_len, why, n) < 0)
        goto out;
    if (refreshing && read_secret("refresh_token_file", cl->refresh_file,
                                  &refresh, &refresh_len, why, n) < 0)
        goto out;
    const char *grant = refreshing ? "refresh_token" : "client_credentials";
    if (form_add(cl->easy, &cl->body, "grant_type", grant, strlen(grant)) <
            0 ||
        (refreshing && form_add(cl->easy, &cl->body, "refresh_token", refresh,
                                refresh_len) < 0) ||
        form_add(cl->easy, &cl->body, "client_id", cl->client_id,
                 strlen(cl->client_id)) < 0 ||
        (secret && form_add(cl->easy, &cl->body, "client_secret", secret,
                            secret_len) < 0) ||
        (cl->scope[0] && form_add(cl->easy, &cl->body, "scope", cl->scope,
                                  strlen(cl->scope)) < 0)) {
        snprintf(why, n, "out of memory");
        goto out;
    }
    rc = 0;
out:
    wipe_free(secret, secret_len);
    wipe_free(refresh, refresh_len);
    return rc;
}

static size_t on_answer(char *data, size_t size, size_t nmemb, void *user)
{
    struct oauth_client *cl = user;
    size_t n = size * nmemb;
    /* Past the limit, curl stops with CURLE_WRITE_ERROR. */
    return buf_append(&cl->answer, data, n) < 0 ? 0 : n;
}

/* Starts a fetch; -1 with why when it cannot. */
static int fetch_start(struct oauth_cache *c, struct oauth_client *cl,
                       const char *ca_file, uint64_t deadline_ns, char *why,
                       size_t n)
{
    uint64_t now = now_mono_ns();
    long timeout_ms =
        deadline_ns > now ? (long)((deadline_ns - now) / 1000000u) : 1;
    if (timeout_ms < 1)
        timeout_ms = 1;
    cl->easy = curl_easy_init();
    if (!cl->easy) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    cl->errbuf[0] = '\0';
    buf_init(&cl->body, 0);
    buf_init(&cl->answer, OAUTH_ANSWER_MAX);
    if (request_body(cl, why, n) < 0) {
        fetch_end(c, cl);
        return -1;
    }
    cl->headers = curl_slist_append(NULL, "Accept: application/json");
    CURL *e = cl->easy;
    bool ok =
        cl->headers && curl_easy_setopt(e, CURLOPT_URL, cl->url) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_CAINFO, ca_file) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, cl->headers) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_USERAGENT, "smtp-health-agent") ==
            CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, cl->body.data) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)cl->body.len) ==
            CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_WRITEDATA, cl) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cl->errbuf) == CURLE_OK &&
        curl_easy_setopt(e, CURLOPT_PRIVATE, cl) == CURLE_OK &&
        curl_multi_add_handle(c->multi, e) == CURLM_OK;
    if (!ok) {
        fetch_end(c, cl);
        snprintf(why, n, "cannot start the token request");
        return -1;
    }
    c->fetches++;
    char u[CONFIG_URL_MAX + 1];
    url_words(cl, u, sizeof(u));
    log_debug("oauth", "token request", "url=%s grant=%s", u,
              cl->refresh_file[0] ? "refresh_token" : "client_credentials");
    return 0;
}

static int add_waiter(struct oauth_client *cl, void *waiter)
{
    if (cl->n_waiters == cl->cap_waiters) {
        size_t cap = cl->cap_waiters ? cl->cap_waiters * 2 : 4;
        void **w = realloc(cl->waiters, cap * sizeof(*w));
        if (!w)
            return -1;
        cl->waiters = w;
        cl->cap_waiters = cap;
    }
    cl->waiters[cl->n_waiters++] = waiter;
    return 0;
}

static int copy_token(const struct oauth_client *cl, char **tok, size_t *len)
{
    *tok = malloc(cl->tok_len + 1);
    if (!*tok)
        return -1;
    memcpy(*tok, cl->tok, cl->tok_len);
    (*tok)[cl->tok_len] = '\0';
    *len = cl->tok_len;
    return 0;
}

enum oauth_status oauth_get(struct oauth_cache *c,
                            const struct oauth_settings *s,
                            const char *ca_file, uint64_t deadline_ns,
                            void *waiter, char **tok, size_t *len, char *why,
                            size_t n)
{
    *tok = NULL;
    *len = 0;
    struct oauth_client *cl = client_get(c, s);
    if (!cl)
        return OAUTH_NO_MEMORY;
    if (cl->tok && now_mono_ns() < cl->valid_until)
        return copy_token(cl, tok, len) < 0 ? OAUTH_NO_MEMORY : OAUTH_READY;
    drop_token(cl);
    if (add_waiter(cl, waiter) < 0)
        return OAUTH_NO_MEMORY;
    if (cl->easy)
        return OAUTH_PENDING; /* the fetch in flight is shared */
    char u[CONFIG_URL_MAX + 1];
    url_words(cl, u, sizeof(u));
    char problem[OAUTH_WHY_MAX];
    if (fetch_start(c, cl, ca_file, deadline_ns, problem, sizeof(problem)) <
        0) {
        cl->n_waiters--;
        snprintf(why, n, "token: %s: %s", u, problem);
        return OAUTH_FAILED;
    }
    return OAUTH_PENDING;
}

void oauth_cancel(struct oauth_cache *c, void *waiter)
{
    for (struct oauth_client *cl = c->clients; cl; cl = cl->next) {
        for (size_t i = 0; i < cl->n_waiters; i++) {
            if (cl->waiters[i] == waiter) {
                memmove(&cl->waiters[i], &cl->waiters[i + 1],
                        (cl->n_waiters - i - 1) * sizeof(*cl->waiters));
                cl->n_waiters--;
                return;
            }
        }
    }
}

/* An OAuth error code worth showing: a short word (RFC 6749 5.2's
 * codes are [\x20-\x21\x23-\x5B\x5D-\x7E]; ours are stricter). */
static bool error_word(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > OAUTH_ERROR_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
            return false;
    return true;
}

static bool token_chars(const char *s, size_t n)
{
    /* RFC 6750 b64token, and nothing that could break a line. */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && !strchr("-._~+/=", ch))
            return false;
    }
    return n > 0;
}

/* The answer: a token kept (0), or why not. */
static int answer_parse(struct oauth_client *cl, long status, char *why,
                        size_t n)
{
    json_t *root = json_loadb(cl->answer.data ? cl->answer.data : "",
                              cl->answer.len, JSON_REJECT_DUPLICATES, NULL);
    int rc = -1;
    const char *err = NULL;
    if (json_is_object(root)) {
        json_t *e = json_object_get(root, "error");
        if (json_is_string(e))
            err = json_string_value(e);
    }
    if (status != 200 || !json_is_object(root)) {
        if (err && error_word(err))
            snprintf(why, n, "HTTP %ld, OAuth error %s", status, err);
        else if (err)
            snprintf(why, n, "HTTP %ld, an unreadable OAuth error", status);
        else
            snprintf(why, n, "HTTP %ld%s", status,
                     json_is_object(root) ? "" : ", not a JSON object");
        goto out;
    }
    json_t *at = json_object_get(root, "access_token");
    json_t *tt = json_object_get(root, "token_type");
    json_t *ex = json_object_get(root, "expires_in");
    const char *t = json_is_string(at) ? json_string_value(at) : NULL;
    size_t tl = t ? json_string_length(at) : 0;
    if (!t || tl > TOKEN_MAX || !token_chars(t, tl)) {
        snprintf(why, n, "HTTP 200 without a usable access_token");
        goto out;
    }
    if (tt && !(json_is_string(tt) &&
                strcasecmp(json_string_value(tt), "bearer") == 0)) {
        snprintf(why, n, "HTTP 200 with a token_type other than Bearer");
        goto out;
    }
    /* RFC 6749 5.1: expires_in is RECOMMENDED; without it, an hour.
     * Some endpoints send it as a string. */
    json_int_t life = 3600;
    if (json_is_integer(ex))
        life = json_integer_value(ex);
    else if (json_is_string(ex))
        life = strtoll(json_string_value(ex), NULL, 10);
    if (life < 0)
        life = 0;
    if (life > 24 * 3600)
        life = 24 * 3600;
    json_int_t margin =
        life / 4 < OAUTH_MARGIN_MAX_S ? life / 4 : OAUTH_MARGIN_MAX_S;
    cl->tok = malloc(tl + 1);
    if (!cl->tok) {
        snprintf(why, n, "out of memory");
        goto out;
    }
    memcpy(cl->tok, t, tl);
    cl->tok[tl] = '\0';
    cl->tok_len = tl;
    cl->valid_until = now_mono_ns() + (uint64_t)(life - margin) * 1000000000u;
    rc = 0;
out:
    /* jansson's copy of the token goes with its string: overwrite it. */
    if (json_is_object(root)) {
        json_t *kept = json_object_get(root, "access_token");
        if (json_is_string(kept))
            explicit_bzero((char *)json_string_value(kept),
                           json_string_length(kept));
    }
    json_decref(root);
    return rc;
}

bool oauth_done(struct oauth_cache *c, CURL *easy, CURLcode rc)
{
    struct oauth_client *cl = c->clients;
    while (cl && cl->easy != easy)
        cl = cl->next;
    if (!cl)
        return false;
    char u[CONFIG_URL_MAX + 1], problem[OAUTH_WHY_MAX],
        why[OAUTH_WHY_MAX + CONFIG_URL_MAX + 16];
    url_words(cl, u, sizeof(u));
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    int ok = -1;
    if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(problem, sizeof(problem),
                 "no answer before the probe's deadline");
    else if (rc != CURLE_OK)
        snprintf(problem, sizeof(problem), "%s",
                 cl->errbuf[0] ? cl->errbuf : curl_easy_strerror(rc));
    else
        ok = answer_parse(cl, status, problem, sizeof(problem));
    fetch_end(c, cl);
    snprintf(why, sizeof(why), "token: %s: %s", u, problem);
    if (ok < 0)
        log_debug("oauth", "token request failed", "url=%s", u);
    /* Waiters may add themselves again from the callback (they do not:
     * a probe waits once), so take the list first. */
    void **waiters = cl->waiters;
    size_t n = cl->n_waiters;
    cl->waiters = NULL;
    cl->n_waiters = cl->cap_waiters = 0;
    for (size_t i = 0; i < n; i++) {
        if (ok == 0)
            c->ready(waiters[i], cl->tok, cl->tok_len, NULL, false);
        else
            c->ready(waiters[i], NULL, 0, why, rc == CURLE_OPERATION_TIMEDOUT);
    }
    free(waiters);
    return true;
}
