/* test_passhash: --hash-password's hash is one the agent's own basic
 * auth accepts, for that password only, with a fresh salt each time; the
 * password is read as one line, and refused when bcrypt would not use
 * all of it or there is none. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config_value.h"
#include "http_auth.h"
#include "passhash.h"

static void test_hash_verifies(void **state)
{
    (void)state;
    char a[PASSHASH_LEN + 1], b[PASSHASH_LEN + 1];
    assert_int_equal(passhash_bcrypt("s3cret pw", PASSHASH_COST, a, sizeof(a)),
                     0);
    assert_int_equal(passhash_bcrypt("s3cret pw", PASSHASH_COST, b, sizeof(b)),
                     0);
    assert_int_equal(strlen(a), PASSHASH_LEN);
    assert_memory_equal(a, "$2b$10$", 7);
    assert_true(config_valid_bcrypt(a, strlen(a)));
    assert_true(http_bcrypt_verify(a, "s3cret pw"));
    assert_false(http_bcrypt_verify(a, "s3cret pW"));
    assert_false(http_bcrypt_verify(a, "s3cret pw "));
    assert_false(http_bcrypt_verify(a, ""));
    /* A fresh salt: the same password, another hash. */
    assert_memory_not_equal(a, b, PASSHASH_LEN);
    assert_true(http_bcrypt_verify(b, "s3cret pw"));
    char small[PASSHASH_LEN];
    assert_int_equal(passhash_bcrypt("x", PASSHASH_COST, small, sizeof(small)),
                     -1);
}

static int read_from(const char *data, size_t n, char *pw, const char **why)
{
    FILE *f = fmemopen((void *)data, n, "r");
    assert_non_null(f);
    int rc = passhash_read(f, pw, PASSHASH_MAX + 2, why);
    fclose(f);
    return rc;
}

static void test_read(void **state)
{
    (void)state;
    char pw[PASSHASH_MAX + 2];
    const char *why;
    assert_int_equal(read_from("pw one\n", 7, pw, &why), 0);
    assert_string_equal(pw, "pw one");
    assert_int_equal(read_from("no newline", 10, pw, &why), 0);
    assert_string_equal(pw, "no newline");
    assert_int_equal(read_from("crlf\r\n", 6, pw, &why), 0);
    assert_string_equal(pw, "crlf");
    assert_int_equal(read_from(" spaces kept ", 13, pw, &why), 0);
    assert_string_equal(pw, " spaces kept ");

    char max[PASSHASH_MAX + 2];
    memset(max, 'p', sizeof(max));
    max[PASSHASH_MAX] = '\n';
    assert_int_equal(read_from(max, PASSHASH_MAX + 1, pw, &why), 0);
    assert_int_equal(strlen(pw), PASSHASH_MAX);

    static const struct {
        const char *data;
        size_t n;
        const char *why;
    } bad[] = {
        {"", 0, "empty password"},
        {"\n", 1, "empty password"},
        {"\r\n", 2, "empty password"},
        {"a\nb\n", 4, "more than one line on stdin"},
        {"a\n\n", 3, "more than one line on stdin"},
        {"a\0b\n", 4, "the password holds a NUL byte"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(pw, "leftover");
        assert_int_equal(read_from(bad[i].data, bad[i].n, pw, &why), -1);
        assert_string_equal(why, bad[i].why);
        /* Wiped. */
        assert_int_equal(pw[0], '\0');
    }
    memset(max, 'p', sizeof(max));
    assert_int_equal(read_from(max, PASSHASH_MAX + 1, pw, &why), -1);
    assert_string_equal(why,
                        "the password is longer than bcrypt reads (72 bytes)");
    char huge[300];
    memset(huge, 'q', sizeof(huge));
    huge[sizeof(huge) - 1] = '\n';
    assert_int_equal(read_from(huge, sizeof(huge), pw, &why), -1);
    assert_string_equal(why,
                        "the password is longer than bcrypt reads (72 bytes)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_verifies),
        cmocka_unit_test(test_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
