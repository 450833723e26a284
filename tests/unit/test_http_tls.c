/* test_http_tls: the HTTPS files, both or neither, and what libmicrohttpd
 * is given (the handshakes themselves are in test_http). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_tls.h"

static void test_plain(void **state)
{
    (void)state;
    static const char *const none[] = {NULL, ""};
    for (size_t i = 0; i < 2; i++) {
        char err[256] = "";
        struct http_tls *t = http_tls_new(none[i], none[i], err, sizeof(err));
        if (!t)
            fail_msg("%s", err);
        assert_false(http_tls_on(t));
        assert_int_equal(http_tls_options(t)[0].option, MHD_OPTION_END);
        assert_false(http_tls_changed(t, "", ""));
        assert_true(http_tls_changed(t, "/etc/cert.pem", "/etc/key.pem"));
        http_tls_free(t);
    }
    http_tls_free(NULL);
}

/* Writes text to a new temporary file; its path in path. */
static void temp_file(char *path, const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_errors(void **state)
{
    (void)state;
    char pem[] = "/tmp/test_http_tls_pem_XXXXXX";
    temp_file(pem, "PEM\n");
    static const char missing[] = "/nonexistent/file.pem";
    const struct {
        const char *cert, *key, *msg;
    } cases[] = {
        {pem, NULL, "HTTPS needs both a certificate and a key"},
        {"", pem, "HTTPS needs both a certificate and a key"},
        {missing, pem,
         "web_tls_cert_file /nonexistent/file.pem: No such file"},
        {pem, missing, "web_tls_key_file /nonexistent/file.pem: No such file"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        struct http_tls *t =
            http_tls_new(cases[i].cert, cases[i].key, err, sizeof(err));
        if (t || !strstr(err, cases[i].msg))
            fail_msg("case %zu: %s", i, t ? "accepted" : err);
    }
    unlink(pem);
}

static void test_files_read(void **state)
{
    (void)state;
    char cert[] = "/tmp/test_http_tls_cert_XXXXXX";
    char key[] = "/tmp/test_http_tls_key_XXXXXX";
    temp_file(cert, "CERT PEM\n");
    temp_file(key, "KEY PEM\n");
    char err[256] = "";
    struct http_tls *t = http_tls_new(cert, key, err, sizeof(err));
    if (!t)
        fail_msg("%s", err);
    assert_true(http_tls_on(t));
    const struct MHD_OptionItem *o = http_tls_options(t);
    assert_int_equal(o[0].option, MHD_OPTION_HTTPS_MEM_CERT);
    assert_string_equal(o[0].ptr_value, "CERT PEM\n");
    assert_int_equal(o[1].option, MHD_OPTION_HTTPS_MEM_KEY);
    assert_string_equal(o[1].ptr_value, "KEY PEM\n");
    assert_int_equal(o[2].option, MHD_OPTION_HTTPS_PRIORITIES);
    assert_non_null(strstr(o[2].ptr_value, "+VERS-TLS1.2"));
    assert_int_equal(o[3].option, MHD_OPTION_END);
    assert_false(http_tls_changed(t, cert, key));
    assert_true(http_tls_changed(t, cert, cert));
    /* Once libmicrohttpd has them, the texts are gone; HTTPS stays on. */
    http_tls_forget(t);
    assert_int_equal(http_tls_options(t)[0].option, MHD_OPTION_END);
    assert_true(http_tls_on(t));
    http_tls_free(t);
    unlink(cert);
    unlink(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_files_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
