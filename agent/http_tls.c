/* http_tls: HTTPS for the HTTP server: the certificate and key files,
 * read at start and handed to libmicrohttpd with the TLS versions
 * allowed; a reload can only warn that they changed. */
#include "http_tls.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "config.h"
#include "file.h"

/* GnuTLS: TLS 1.2 and 1.3 only, like Prometheus' default web config. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

enum { OPT_CERT, OPT_KEY, OPT_PRIORITIES, OPT_END, OPT_COUNT };

struct http_tls {
    /* What HTTPS started with; "" for plain HTTP. */
    char cert_file[CONFIG_PATH_MAX + 1];
    char key_file[CONFIG_PATH_MAX + 1];
    /* The PEM texts, until http_tls_forget(). */
    char *cert, *key;
    struct MHD_OptionItem opts[OPT_COUNT];
};

static bool given(const char *s)
{
    return s && s[0];
}

/* A PEM file, whole and NUL-terminated, in *out, read through file.c
 * like every file of the agent's (malloc()ed at its size, so that a key
 * leaves no copy behind; the caller wipes it). */
static int read_pem(const char *what, const char *path, char **out, char *err,
                    size_t errlen)
{
    size_t len = 0;
    int e = 0;
    enum file_status st =
        file_read(path, HTTP_TLS_PEM_MAX, out, &len, NULL, &e);
    if (st == FILE_ERRNO) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
        return -1;
    }
    if (st != FILE_OK) {
        char why[CONFIG_PATH_MAX + 64];
        file_problem(why, sizeof(why), path, st, e, "1 MiB");
        snprintf(err, errlen, "%s: %s", what, why);
        return -1;
    }
    return 0;
}

static void wipe_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

/* The files read; the options that hand them to libmicrohttpd. */
static int load(struct http_tls *t, char *err, size_t errlen)
{
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        snprintf(err, errlen, "this libmicrohttpd has no TLS support");
        return -1;
    }
    if (read_pem("web_tls_cert_file", t->cert_file, &t->cert, err, errlen) <
            0 ||
        read_pem("web_tls_key_file", t->key_file, &t->key, err, errlen) < 0)
        return -1;
    const struct MHD_OptionItem opts[] = {
        [OPT_CERT] = {MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert},
        [OPT_KEY] = {MHD_OPTION_HTTPS_MEM_KEY, 0, t->key},
        [OPT_PRIORITIES] = {MHD_OPTION_HTTPS_PRIORITIES, 0,
                            (void *)(uintptr_t)TLS_PRIORITIES},
        [OPT_END] = {MHD_OPTION_END, 0, NULL},
    };
    _Static_assert(sizeof opts / sizeof opts[0] == OPT_COUNT,
                   "an item for every OPT_");
    memcpy(t->opts, opts, sizeof(opts));
    return 0;
}

struct http_tls *http_tls_new(const char *cert_file, const char *key_file,
                              char *err, size_t errlen)
{
    if (given(cert_file) != given(key_file)) {
        snprintf(err, errlen, "HTTPS needs both a certificate and a key");
        return NULL;
    }
    struct http_tls *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < OPT_COUNT; i++)
        t->opts[i] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (!given(cert_file))
        return t;
    snprintf(t->cert_file, sizeof(t->cert_file), "%s", cert_file);
    snprintf(t->key_file, sizeof(t->key_file), "%s", key_file);
    if (load(t, err, errlen) < 0) {
        http_tls_free(t);
        return NULL;
    }
    return t;
}

void http_tls_free(struct http_tls *t)
{
    if (!t)
        return;
    http_tls_forget(t);
    free(t);
}

bool http_tls_on(const struct http_tls *t)
{
    return t->cert_file[0] != '\0';
}

const struct MHD_OptionItem *http_tls_options(const struct http_tls *t)
{
    return t->opts;
}

void http_tls_forget(struct http_tls *t)
{
    free(t->cert);
    wipe_free(t->key);
    t->cert = t->key = NULL;
    for (size_t i = 0; i < OPT_COUNT; i++)
        t->opts[i] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

bool http_tls_changed(const struct http_tls *t, const char *cert_file,
                      const char *key_file)
{
    return strcmp(cert_file, t->cert_file) != 0 ||
           strcmp(key_file, t->key_file) != 0;
}
