/* http_tls: HTTPS for the HTTP server: the certificate and key files,
 * read at start and handed to libmicrohttpd with the TLS versions
 * allowed; a reload can only warn that they changed. */
#ifndef HTTP_TLS_H
#define HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct MHD_OptionItem;
struct http_tls;

/* A PEM file for HTTPS is far smaller. */
#define HTTP_TLS_PEM_MAX ((size_t)1 << 20)

/*
 * Both files (a PEM certificate chain and an unencrypted key), or
 * neither (NULL or "") for plain HTTP. Both are read now, through
 * file.c. NULL on error with a message in err: "HTTPS needs both a
 * certificate and a key", no TLS in this libmicrohttpd, or a file that
 * cannot be read ("web_tls_cert_file PATH: why").
 */
struct http_tls *http_tls_new(const char *cert_file, const char *key_file,
                              char *err, size_t errlen);
/* Wipes the key and frees; NULL is a no-op. */
void http_tls_free(struct http_tls *t);

/* Whether HTTPS is on. */
bool http_tls_on(const struct http_tls *t);
/* For MHD_OPTION_ARRAY: the certificate, the key and the priorities
 * with HTTPS; only MHD_OPTION_END without (libmicrohttpd complains about
 * TLS options on a plain server). Valid until http_tls_forget(). */
const struct MHD_OptionItem *http_tls_options(const struct http_tls *t);
/* Once libmicrohttpd started (GnuTLS has its own copy): the PEM texts
 * are wiped and freed. */
void http_tls_forget(struct http_tls *t);

/* Whether these files are not the ones HTTPS started with. */
bool http_tls_changed(const struct http_tls *t, const char *cert_file,
                      const char *key_file);

#endif
