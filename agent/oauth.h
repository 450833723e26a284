/* oauth: the agent's OAuth2 client: access tokens from a token endpoint,
 * fetched over the prober's curl multi handle, cached and shared. */
#ifndef OAUTH_H
#define OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "config.h"

/*
 * One client is one (token_url, client_id, grant, scope, secret files):
 * every target configured alike shares its token. A token is kept until
 * expires_in minus a margin (a quarter of its life, at most 60 s), then
 * fetched again by the next probe that asks. A fetch never blocks: its
 * easy handle runs in the prober's multi handle, with the deadline of
 * the probe that started it, and the probes that wait for it are told
 * through the ready callback. The client secret and the refresh token
 * are read from their files at each fetch and wiped after it; nothing
 * here logs a token or a secret, and a failure's words hold only the
 * URL (without its query), the HTTP status and the OAuth error code.
 */
struct oauth_cache;

/* A waiting probe gets its token (tok, len: the caller copies it) or,
 * tok NULL, why it has none (timed_out: the endpoint did not answer
 * before the deadline). */
typedef void (*oauth_ready_fn)(void *waiter, const char *tok, size_t len,
                               const char *why, bool timed_out);

/* NULL when out of memory. */
struct oauth_cache *oauth_cache_new(CURLM *multi, oauth_ready_fn ready);
/* Stops fetches (no callback), wipes every token; NULL is a no-op. */
void oauth_cache_free(struct oauth_cache *c);

enum oauth_status {
    OAUTH_READY,   /* *tok and *len: a copy the caller wipes and frees */
    OAUTH_PENDING, /* waiter is called back, or oauth_cancel()ed */
    OAUTH_FAILED,  /* why says it (a fetch could not start) */
    OAUTH_NO_MEMORY,
};

/*
 * A token for the target's OAuth2 settings, for a probe (waiter) whose
 * deadline is deadline_ns (CLOCK_MONOTONIC); ca_file verifies the token
 * endpoint's certificate.
 */
enum oauth_status oauth_get(struct oauth_cache *c,
                            const struct oauth_settings *s,
                            const char *ca_file, uint64_t deadline_ns,
                            void *waiter, char **tok, size_t *len, char *why,
                            size_t n);

/* The waiter no longer waits (its deadline passed). */
void oauth_cancel(struct oauth_cache *c, void *waiter);

/* curl finished easy with rc: true when it was a token fetch (then
 * handled: its waiters are called back). */
bool oauth_done(struct oauth_cache *c, CURL *easy, CURLcode rc);

/* Tests: token requests sent, ever. */
unsigned long oauth_fetches(const struct oauth_cache *c);

#endif
