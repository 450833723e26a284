/* test_http_auth: bcrypt checks and the answers that need no wait (the
 * checks that run in the auth thread, over HTTP, are in test_http). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "http_auth.h"
#include "http_park.h"

/* bcrypt of "pw" and of "other" at cost 4 (fast), and of "pw" at cost 10,
 * made with Python's crypt.crypt(pw, crypt.mksalt(METHOD_BLOWFISH)). */
#define HASH_PW_4                                                             \
    "$2b$04$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8qjVjbAEHxph4/Rmpq"
#define HASH_OTHER_4                                                          \
    "$2b$04$OV/C7t31Q/45k5LsMdp.iOXTjWrxfSek5rl.YXXmG41DfDlAAZGSy"
#define HASH_PW_10                                                            \
    "$2b$10$AyVx9KWL0OHdTF1tgl3IfuE3SKQ.ANWL0FVRTO1QUh0cAJvPY2rpu"

static void test_bcrypt_verify(void **state)
{
    (void)state;
    static const struct {
        const char *hash, *pw;
        bool want;
    } cases[] = {
        {HASH_PW_4, "pw", true},
        {HASH_PW_4, "pW", false},
        {HASH_PW_4, "", false},
        {HASH_PW_4, "pw ", false},
        {HASH_PW_4, "other", false},
        {HASH_OTHER_4, "other", true},
        {HASH_PW_10, "pw", true},
        {HASH_PW_10, "px", false},
        /* htpasswd writes $2y$, older tools $2a$: the same algorithm. */
        {"$2y$04$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8qjVjbAEHxph4/Rmpq", "pw",
         true},
        {"$2a$04$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8qjVjbAEHxph4/Rmpq", "pw",
         true},
        /* Damaged or foreign hashes never match. */
        {"$2b$04$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8qjVjbAEHxph4/Rmp", "pw",
         false},
        {"$2b$04$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8qjVjbAEHxph4/Rmpr", "pw",
         false},
        {"$2b$04$short", "pw", false},
        {"$1$hUFrPKbr$wj7WCC5SxvfCdGan.D4FJ.", "pw", false}, /* MD5-crypt */
        {"", "", false},
        {"*0", "pw", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (http_bcrypt_verify(cases[i].hash, cases[i].pw) != cases[i].want)
            fail_msg("case %zu: want %d", i, cases[i].want);
    assert_false(http_bcrypt_verify(NULL, "pw"));
    assert_false(http_bcrypt_verify(HASH_PW_4, NULL));
}

static void set_user(struct web_user *u, const char *name, const char *hash)
{
    memset(u, 0, sizeof(*u));
    snprintf(u->name, sizeof(u->name), "%s", name);
    snprintf(u->hash, sizeof(u->hash), "%s", hash);
}

/* What is decided without a bcrypt, so without parking the request. */
static void test_decided_at_once(void **state)
{
    (void)state;
    struct http_park *park = http_park_new();
    assert_non_null(park);
    struct web_user users[1];
    set_user(&users[0], "u1", HASH_PW_4);
    char err[128] = "";
    struct http_auth *a = http_auth_new(users, 1, 0, park, err, sizeof(err));
    if (!a)
        fail_msg("http_auth_new: %s", err);
    assert_true(http_auth_required(a));
    struct http_waiter w;
    static const char *const malformed[] = {
        NULL,
        "",
        "Basic",
        "Basic !!!!",
        "Bearer dTE6cHc=",
        "Basic dTFwdw==",     /* no colon */
        "Basic dTE6cHcAeA==", /* a NUL in the password */
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
        if (http_auth_check(a, malformed[i], &w, NULL, 0) != HTTP_AUTH_DENIED)
            fail_msg("case %zu", i);
    assert_int_equal(http_auth_runs(a), 0);

    /* No users: no auth; a header is then never right. */
    assert_int_equal(http_auth_set_users(a, NULL, 0), 0);
    assert_false(http_auth_required(a));
    assert_int_equal(http_auth_check(a, "Basic dTE6cHc=", &w, NULL, 0),
                     HTTP_AUTH_DENIED);

    /* Stopped: a check that needs the thread is refused, not parked. */
    assert_int_equal(http_auth_set_users(a, users, 1), 0);
    http_auth_stop(a);
    assert_int_equal(http_auth_check(a, "Basic dTE6cHc=", &w, NULL, 0),
                     HTTP_AUTH_STOPPED);
    assert_int_equal(http_auth_runs(a), 0);
    http_auth_free(a);
    http_park_close(park);
    http_park_free(park);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bcrypt_verify),
        cmocka_unit_test(test_decided_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
