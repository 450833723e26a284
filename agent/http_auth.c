/* http_auth: basic auth for the HTTP endpoint: the users, a cache of the
 * credentials verified, and bcrypt checks in a thread of their own. */
#include "http_auth.h"

#include <crypt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "buf.h"
#include "now.h"
#include "sasl.h"

/* Decoded "user:password" longer than this is refused. */
#define AUTH_CRED_MAX   1024
#define AUTH_DIGEST_LEN 32
/* What a check is thought to cost before the first one was measured
 * (bcrypt at cost 10 takes some 50 ms here). */
#define AUTH_FIRST_COST_MS 100.0

/* A user and the credentials last verified for it. */
struct auth_user {
    struct web_user u;
    unsigned char ok[AUTH_DIGEST_LEN]; /* HMAC-SHA256(key, user:password) */
    bool ok_set;
};

/* One bcrypt check for the thread; wiped when done. */
struct auth_job {
    struct auth_job *next;
    uint64_t key; /* its waiter's */
    char hash[CONFIG_BCRYPT_LEN + 1];
    char password[AUTH_CRED_MAX + 1];
    unsigned char digest[AUTH_DIGEST_LEN];
    bool have_digest, known;
    size_t idx;
    unsigned long gen;
    double reserved_ms; /* taken from the budget when queued */
};

/* Under lock, except the atomic. gen changes with every new user table,
 * so that a check that ran across a reload caches nothing. */
struct http_auth {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a job is queued, or stopping */
    pthread_t thread;
    bool thread_running;
    bool stopping;
    struct http_park *park;
    struct auth_user *users;
    size_t n_users;
    unsigned long gen;
    unsigned char hmac_key[32];
    double tokens_ms; /* CPU budget for uncached checks; may go negative */
    double burst_ms;
    double cost_ms; /* what the last check cost */
    uint64_t tokens_at_ms;
    struct auth_job *head, *tail;
    atomic_ulong runs;
};

bool http_bcrypt_verify(const char *hash, const char *password)
{
    /* bcrypt only: libcrypt would also verify weaker schemes. */
    if (!hash || !password ||
        (strncmp(hash, "$2a$", 4) != 0 && strncmp(hash, "$2b$", 4) != 0 &&
         strncmp(hash, "$2y$", 4) != 0))
        return false;
    /* 32 KiB of state derived from the password: on the heap, wiped. */
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return false;
    const char *out = crypt_r(password, hash, cd);
    size_t n = strlen(hash);
    /* libcrypt fails with NULL or a "*0"/"*1" token, never a hash. */
    bool ok = out && out[0] == '$' && strlen(out) == n &&
              CRYPTO_memcmp(out, hash, n) == 0;
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}

/*
 * The decoded "user:password" of an "Authorization: Basic ..." header in
 * cred (NUL-terminated, *n bytes). -1 when there is none, it is malformed,
 * too long, has no ':' or holds a NUL byte (crypt_r would stop there, so
 * "pw\0junk" would pass as "pw").
 */
static int basic_credentials(const char *header, char *cred, size_t cap,
                             size_t *n)
{
    if (!header)
        return -1;
    const char *p = header;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "Basic", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
        return -1;
    p += 5;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    /* Bound the work before decoding: 4 characters per 3 bytes. */
    if (len == 0 || len > (cap - 1 + 2) / 3 * 4)
        return -1;
    struct buf b;
    buf_init(&b, cap - 1);
    int rc = -1;
    if (sasl_base64_decode(p, len, &b) == 0 && b.len > 0 &&
        !memchr(b.data, '\0', b.len) && memchr(b.data, ':', b.len)) {
        memcpy(cred, b.data, b.len);
        cred[b.len] = '\0';
        *n = b.len;
        rc = 0;
    }
    buf_wipe(&b);
    return rc;
}

/* CPU milliseconds of this thread: what a bcrypt check really cost. */
static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Refills the budget; true when an uncached check may run. Under the
 * lock. */
static bool budget_allows(struct http_auth *a)
{
    uint64_t now = now_mono_ms();
    a->tokens_ms += (double)(now - a->tokens_at_ms) * HTTP_AUTH_CPU_SHARE;
    a->tokens_at_ms = now;
    if (a->tokens_ms > a->burst_ms)
        a->tokens_ms = a->burst_ms;
    return a->tokens_ms > 0;
}

static void job_free(struct auth_job *j)
{
    if (!j)
        return;
    explicit_bzero(j, sizeof(*j));
    free(j);
}

/* The outcomes a waiter is handed (w->result points at one). */
static const enum http_auth_result outcome_ok = HTTP_AUTH_OK;
static const enum http_auth_result outcome_denied = HTTP_AUTH_DENIED;

static void *give_outcome(void *cls)
{
    return cls;
}

enum http_auth_result http_auth_outcome(const struct http_waiter *w)
{
    const enum http_auth_result *r = w->result;
    return r ? *r : HTTP_AUTH_DENIED;
}

static void *auth_main(void *arg)
{
    struct http_auth *a = arg;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->stopping && !a->head)
            pthread_cond_wait(&a->cond, &a->lock);
        if (a->stopping)
            break;
        struct auth_job *j = a->head;
        a->head = j->next;
        if (!a->head)
            a->tail = NULL;
        pthread_mutex_unlock(&a->lock);

        double t0 = thread_cpu_ms();
        bool ok = http_bcrypt_verify(j->hash, j->password) && j->known;
        double spent = thread_cpu_ms() - t0;
        explicit_bzero(j->password, sizeof(j->password));
        atomic_fetch_add(&a->runs, 1);

        pthread_mutex_lock(&a->lock);
        /* The reservation becomes what it really cost. */
        a->tokens_ms += j->reserved_ms - spent;
        a->cost_ms = spent;
        if (ok && j->have_digest && a->gen == j->gen) {
            memcpy(a->users[j->idx].ok, j->digest, sizeof(j->digest));
            a->users[j->idx].ok_set = true;
        }
        http_park_wake(
            a->park, j->key, give_outcome,
            (void *)(uintptr_t)(ok ? &outcome_ok : &outcome_denied));
        job_free(j);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

enum http_auth_result http_auth_check(struct http_auth *a, const char *header,
                                      struct http_waiter *w,
                                      struct MHD_Connection *conn,
                                      uint64_t deadline_ms)
{
    /* On the heap from the start: the password goes to the thread. */
    struct auth_job *j = calloc(1, sizeof(*j));
    if (!j)
        return HTTP_AUTH_BUSY;
    char cred[AUTH_CRED_MAX + 1];
    size_t n = 0;
    if (basic_credentials(header, cred, sizeof(cred), &n) < 0) {
        job_free(j);
        return HTTP_AUTH_DENIED;
    }
    unsigned int dlen = 0;
    j->have_digest =
        HMAC(EVP_sha256(), a->hmac_key, sizeof(a->hmac_key),
             (const unsigned char *)cred, n, j->digest, &dlen) != NULL &&
        dlen == sizeof(j->digest);
    char *colon = strchr(cred, ':');
    *colon = '\0';
    snprintf(j->password, sizeof(j->password), "%s", colon + 1);

    enum http_auth_result r = HTTP_AUTH_DENIED;
    pthread_mutex_lock(&a->lock);
    j->gen = a->gen;
    j->idx = a->n_users;
    for (size_t i = 0; i < a->n_users; i++)
        if (strcmp(a->users[i].u.name, cred) == 0)
            j->idx = i;
    j->known = j->idx < a->n_users;
    if (j->known && j->have_digest && a->users[j->idx].ok_set &&
        CRYPTO_memcmp(a->users[j->idx].ok, j->digest, sizeof(j->digest)) ==
            0) {
        r = HTTP_AUTH_OK;
    } else if (a->n_users == 0) {
        r = HTTP_AUTH_DENIED;
    } else if (a->stopping) {
        r = HTTP_AUTH_STOPPED;
    } else if (!budget_allows(a)) {
        r = HTTP_AUTH_BUSY;
    } else {
        memcpy(j->hash, a->users[j->known ? j->idx : 0].u.hash,
               sizeof(j->hash));
        j->key = http_park_key(a->park);
        /* Taken now, settled when done: checks queued together cannot
         * spend more than the budget had. */
        j->reserved_ms = a->cost_ms;
        a->tokens_ms -= j->reserved_ms;
        /* Under the lock the thread takes to wake it: no wake-up falls
         * before the wait. */
        if (http_park_wait(a->park, w, conn, j->key, deadline_ms) == 0) {
            if (a->tail)
                a->tail->next = j;
            else
                a->head = j;
            a->tail = j;
            j = NULL;
            pthread_cond_signal(&a->cond);
            r = HTTP_AUTH_PARKED;
        } else {
            a->tokens_ms += j->reserved_ms;
            r = HTTP_AUTH_STOPPED;
        }
    }
    pthread_mutex_unlock(&a->lock);
    explicit_bzero(cred, sizeof(cred));
    job_free(j);
    return r;
}

/* Copies users into a fresh table; NULL for none. -1 when out of
 * memory. */
static int copy_users(const struct web_user *users, size_t n,
                      struct auth_user **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    struct auth_user *t = calloc(n, sizeof(*t));
    if (!t)
        return -1;
    for (size_t i = 0; i < n; i++)
        t[i].u = users[i];
    *out = t;
    return 0;
}

static void users_free(struct auth_user *t, size_t n)
{
    if (!t)
        return;
    explicit_bzero(t, n * sizeof(*t));
    free(t);
}

int http_auth_set_users(struct http_auth *a, const struct web_user *users,
                        size_t n)
{
    struct auth_user *t;
    if (copy_users(users, n, &t) < 0)
        return -1;
    pthread_mutex_lock(&a->lock);
    struct auth_user *old = a->users;
    size_t old_n = a->n_users;
    /* A SIGHUP that changes nothing must not cost a bcrypt per user: what
     * was verified against an unchanged name and hash stays verified. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < old_n; j++)
            if (old[j].ok_set && strcmp(old[j].u.name, t[i].u.name) == 0 &&
                strcmp(old[j].u.hash, t[i].u.hash) == 0) {
                memcpy(t[i].ok, old[j].ok, sizeof(t[i].ok));
                t[i].ok_set = true;
            }
    a->users = t;
    a->n_users = n;
    a->gen++;
    pthread_mutex_unlock(&a->lock);
    users_free(old, old_n);
    return 0;
}

bool http_auth_required(struct http_auth *a)
{
    pthread_mutex_lock(&a->lock);
    bool yes = a->n_users > 0;
    pthread_mutex_unlock(&a->lock);
    return yes;
}

unsigned long http_auth_runs(struct http_auth *a)
{
    return atomic_load(&a->runs);
}

struct http_auth *http_auth_new(const struct web_user *users, size_t n,
                                unsigned burst_ms, struct http_park *park,
                                char *err, size_t errlen)
{
    struct http_auth *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->park = park;
    a->burst_ms = burst_ms ? burst_ms : HTTP_AUTH_BURST_MS;
    a->tokens_ms = a->burst_ms;
    a->tokens_at_ms = now_mono_ms();
    a->cost_ms = AUTH_FIRST_COST_MS;
    atomic_init(&a->runs, 0);
    if (pthread_mutex_init(&a->lock, NULL) != 0) {
        free(a);
        snprintf(err, errlen, "cannot create a mutex");
        return NULL;
    }
    if (pthread_cond_init(&a->cond, NULL) != 0) {
        pthread_mutex_destroy(&a->lock);
        free(a);
        snprintf(err, errlen, "cannot create a condition variable");
        return NULL;
    }
    if (RAND_bytes(a->hmac_key, sizeof(a->hmac_key)) != 1) {
        snprintf(err, errlen, "no random bytes for the credential cache");
        http_auth_free(a);
        return NULL;
    }
    if (copy_users(users, n, &a->users) < 0) {
        snprintf(err, errlen, "out of memory");
        http_auth_free(a);
        return NULL;
    }
    a->n_users = n;
    if (pthread_create(&a->thread, NULL, auth_main, a) != 0) {
        snprintf(err, errlen, "cannot start the password check thread");
        http_auth_free(a);
        return NULL;
    }
    a->thread_running = true;
    return a;
}

void http_auth_stop(struct http_auth *a)
{
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    bool join = a->thread_running;
    a->thread_running = false;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    if (join)
        pthread_join(a->thread, NULL);
}

void http_auth_free(struct http_auth *a)
{
    if (!a)
        return;
    http_auth_stop(a);
    /* Jobs the thread never took: their waiters are woken by the park's
     * close. */
    while (a->head) {
        struct auth_job *j = a->head;
        a->head = j->next;
        job_free(j);
    }
    users_free(a->users, a->n_users);
    explicit_bzero(a->hmac_key, sizeof(a->hmac_key));
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
