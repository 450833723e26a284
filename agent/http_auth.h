/* http_auth: basic auth for the HTTP endpoint: the users, a cache of the
 * credentials verified, and bcrypt checks in a thread of their own within
 * a CPU budget. */
#ifndef HTTP_AUTH_H
#define HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http_park.h"

struct MHD_Connection;
struct http_auth;

/* Uncached checks may use this share of one core over time, plus a
 * burst (a restart with many scrapers). bcrypt is slow on purpose; a
 * client guessing passwords must not make the agent a CPU heater. */
#define HTTP_AUTH_CPU_SHARE 0.25
#define HTTP_AUTH_BURST_MS  2000.0

/* users are copied (none: no auth); burst_ms 0: HTTP_AUTH_BURST_MS. park
 * is where requests wait for their check (not owned). NULL on error with
 * a message in err. */
struct http_auth *http_auth_new(const struct web_user *users, size_t n,
                                unsigned burst_ms, struct http_park *park,
                                char *err, size_t errlen);
/* Stops the thread (a check under way is finished and handed out); later
 * checks that need one get HTTP_AUTH_STOPPED. Idempotent. */
void http_auth_stop(struct http_auth *a);
/* Stops and frees, the secrets wiped; NULL is a no-op. */
void http_auth_free(struct http_auth *a);

/* After a reload: users become these (none: no auth). What was verified
 * for a user whose name and hash did not change stays verified; a check
 * under way for the old table caches nothing. 0, or -1 when out of
 * memory (the old users stay). */
int http_auth_set_users(struct http_auth *a, const struct web_user *users,
                        size_t n);
/* Whether any user is configured: then every request needs auth. */
bool http_auth_required(struct http_auth *a);

enum http_auth_result {
    HTTP_AUTH_OK,
    HTTP_AUTH_DENIED,  /* 401 */
    HTTP_AUTH_BUSY,    /* over the CPU budget: 429 */
    HTTP_AUTH_PARKED,  /* a bcrypt check runs; see http_auth_outcome() */
    HTTP_AUTH_STOPPED, /* the server stops */
};

/*
 * From the access handler, with the Authorization header (NULL: none).
 * A verified (user, password) is cached as an HMAC under a random key
 * and compared in constant time, so that a scrape every 15 s costs no
 * bcrypt: OK at once. A malformed header: DENIED at once. Anything else
 * costs one bcrypt, in the auth thread: the request is parked in w until
 * it is done (PARKED), unless the CPU budget is spent (BUSY). An unknown
 * user is checked against the first user's hash, so that the time does
 * not tell whether the user exists.
 */
enum http_auth_result http_auth_check(struct http_auth *a, const char *header,
                                      struct http_waiter *w,
                                      struct MHD_Connection *conn,
                                      uint64_t deadline_ms);

/* After the wake-up with HTTP_WAKE_DONE: OK or DENIED. */
enum http_auth_result http_auth_outcome(const struct http_waiter *w);

/* How many bcrypt checks ran (requests the cache did not answer). */
unsigned long http_auth_runs(struct http_auth *a);

/* Whether password matches a bcrypt hash ($2a$, $2b$, $2y$), through
 * libcrypt's crypt_r() and a constant-time compare. Public for tests. */
bool http_bcrypt_verify(const char *hash, const char *password);

#endif
