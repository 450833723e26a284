/* test_file: reading a file without blocking, bounded, whole or not at all;
 * and the CA store, which is read the same way. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "tls.h"

#define CA_PEM TEST_SOURCE_DIR "/tests/unit/data/tls/ca.pem"

/* A FIFO, a device or a directory must fail at once: before the fix a
 * FIFO blocked open() for ever. The alarm turns a hang into a failure. */
#define HANG_GUARD_S 10

struct scratch {
    char dir[64];
    char fifo[96];
    char empty[96];
    char small[96];
};

static int scratch_setup(void **state)
{
    struct scratch *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    snprintf(s->dir, sizeof(s->dir), "/tmp/test_file.XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(s->fifo, sizeof(s->fifo), "%s/fifo", s->dir);
    snprintf(s->empty, sizeof(s->empty), "%s/empty", s->dir);
    snprintf(s->small, sizeof(s->small), "%s/small", s->dir);
    if (mkfifo(s->fifo, 0600) < 0)
        return -1;
    int fd = open(s->empty, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    close(fd);
    fd = open(s->small, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd < 0 || write(fd, "0123456789\n", 11) != 11)
        return -1;
    close(fd);
    *state = s;
    alarm(HANG_GUARD_S);
    return 0;
}

static int scratch_teardown(void **state)
{
    struct scratch *s = *state;
    alarm(0);
    unlink(s->fifo);
    unlink(s->empty);
    unlink(s->small);
    rmdir(s->dir);
    free(s);
    return 0;
}

static void test_read_cases(void **state)
{
    struct scratch *s = *state;
    static const struct {
        const char *name; /* NULL: s's file of that index */
        int which;        /* 0 fifo, 1 empty, 2 small */
        size_t max;
        enum file_status want;
    } cases[] = {
        {NULL, 2, 64, FILE_OK},
        {NULL, 2, 11, FILE_OK},
        {NULL, 2, 10, FILE_TOO_LARGE},
        {NULL, 1, 64, FILE_EMPTY},
        {NULL, 0, 64, FILE_NOT_REGULAR},
        {"/dev/zero", 0, 64, FILE_NOT_REGULAR},
        {"/dev/null", 0, 64, FILE_NOT_REGULAR},
        {"/", 0, 64, FILE_NOT_REGULAR},
        {"/nonexistent/x", 0, 64, FILE_ERRNO},
    };
    const char *paths[] = {s->fifo, s->empty, s->small};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path =
            cases[i].name ? cases[i].name : paths[cases[i].which];
        char *data = NULL;
        size_t len = 0;
        int err = 0;
        struct file_info info;
        memset(&info, 0, sizeof(info));
        enum file_status st =
            file_read(path, cases[i].max, &data, &len, &info, &err);
        if (st != cases[i].want)
            fail_msg("case %zu (%s): status %d, expected %d", i, path, st,
                     cases[i].want);
        if (st == FILE_OK) {
            assert_int_equal(len, 11);
            assert_string_equal(data, "0123456789\n");
            assert_int_equal(info.mode & 07777, 0640);
            assert_int_equal(info.uid, geteuid());
            free(data);
        } else {
            assert_null(data);
        }
        /* file_check() says the same without reading. */
        assert_int_equal(file_check(path, cases[i].max, NULL, &err),
                         cases[i].want);
    }
}

static void test_problem_words(void **state)
{
    (void)state;
    char b[128];
    assert_string_equal(
        file_problem(b, sizeof(b), "/x", FILE_NOT_REGULAR, 0, "1 MiB"),
        "/x is not a regular file");
    assert_string_equal(
        file_problem(b, sizeof(b), "/x", FILE_TOO_LARGE, 0, "1 MiB"),
        "/x is larger than 1 MiB");
    assert_string_equal(file_problem(b, sizeof(b), "/x", FILE_EMPTY, 0, ""),
                        "/x is empty");
    assert_string_equal(file_problem(b, sizeof(b), "/x", FILE_ERRNO, 2, ""),
                        "cannot read /x: No such file or directory");
    assert_string_equal(file_problem(b, sizeof(b), "/x", FILE_CHANGED, 0, ""),
                        "/x changed while being read");
}

/* The CA store is loaded on the probe loop at the first handshake: a FIFO
 * there froze every probe and signal handling. */
static void test_ca_store_fifo(void **state)
{
    struct scratch *s = *state;
    char err[256] = "";
    assert_null(tls_store_load(s->fifo, err, sizeof(err)));
    char want[256];
    snprintf(want, sizeof(want), "CA file: %s is not a regular file", s->fifo);
    assert_string_equal(err, want);

    assert_null(tls_store_load("/dev/zero", err, sizeof(err)));
    assert_non_null(strstr(err, "/dev/zero is not a regular file"));
    assert_null(tls_store_load(s->empty, err, sizeof(err)));
    assert_non_null(strstr(err, " is empty"));
    /* Text that holds no certificate is an error too. */
    assert_null(tls_store_load(s->small, err, sizeof(err)));
    assert_non_null(strstr(err, "no PEM certificate in it"));
}

static void test_ca_store_loads(void **state)
{
    (void)state;
    char err[256] = "";
    struct x509_store_st *store = tls_store_load(CA_PEM, err, sizeof(err));
    assert_non_null(store);
    assert_string_equal(err, "");
    tls_store_free(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_cases, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test(test_problem_words),
        cmocka_unit_test_setup_teardown(test_ca_store_fifo, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test(test_ca_store_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
