/* tls: certificate facts from an SSL * (expiry, validity, version,
 * cipher) and the cache of CA stores they are verified against. */
#include "tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "file.h"

/* Room for a path of CONFIG_PATH_MAX and the words around it. */
#define TLS_PROBLEM_MAX 1200

/* The first error on OpenSSL's queue, in words; the queue is emptied. */
static void openssl_reason(char *why, size_t n)
{
    unsigned long e = ERR_get_error();
    snprintf(why, n, "unknown error");
    if (e)
        ERR_error_string_n(e, why, n);
    ERR_clear_error();
}

/* Certificates and CRLs of a PEM bundle into store; how many certificates,
 * or -1. */
static int store_add_pem(X509_STORE *store, const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return -1;
    STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!infos)
        return -1;
    int certs = 0, rc = 0;
    for (int i = 0; i < sk_X509_INFO_num(infos) && rc == 0; i++) {
        X509_INFO *info = sk_X509_INFO_value(infos, i);
        if (info->x509) {
            if (X509_STORE_add_cert(store, info->x509) != 1)
                rc = -1;
            certs++;
        }
        if (info->crl && X509_STORE_add_crl(store, info->crl) != 1)
            rc = -1;
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    return rc < 0 ? -1 : certs;
}

X509_STORE *tls_store_load(const char *ca_file, char *err, size_t errlen)
{
    char *pem = NULL;
    size_t len = 0;
    int e = 0;
    /* Read through file.c, never by OpenSSL's own open(): a FIFO there
     * would block the probe loop (and signals) until a writer came. */
    enum file_status st =
        file_read(ca_file, TLS_CA_FILE_MAX, &pem, &len, NULL, &e);
    if (st != FILE_OK) {
        char why[TLS_PROBLEM_MAX];
        file_problem(why, sizeof(why), ca_file, st, e, TLS_CA_FILE_WORDS);
        snprintf(err, errlen, "CA file: %s", why);
        return NULL;
    }
    X509_STORE *store = X509_STORE_new();
    if (!store) {
        free(pem);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int certs = store_add_pem(store, pem, len);
    free(pem);
    if (certs <= 0) {
        char why[128];
        if (certs == 0)
            snprintf(why, sizeof(why), "no PEM certificate in it");
        else
            openssl_reason(why, sizeof(why));
        snprintf(err, errlen, "CA file: cannot load %s: %s", ca_file, why);
        ERR_clear_error();
        X509_STORE_free(store);
        return NULL;
    }
    err[0] = '\0';
    return store;
}

void tls_store_free(X509_STORE *store)
{
    X509_STORE_free(store);
}

/* ---- CA stores, one per file until flushed ----------------------------- */

struct tls_ca_cache {
    struct tls_ca **entries; /* pointers: an entry stays where it is */
    size_t n;
};

struct tls_ca_cache *tls_ca_cache_new(void)
{
    return calloc(1, sizeof(struct tls_ca_cache));
}

void tls_ca_cache_flush(struct tls_ca_cache *cache)
{
    for (size_t i = 0; i < cache->n; i++) {
        free(cache->entries[i]->path);
        tls_store_free(cache->entries[i]->store);
        free(cache->entries[i]);
    }
    free(cache->entries);
    cache->entries = NULL;
    cache->n = 0;
}

void tls_ca_cache_free(struct tls_ca_cache *cache)
{
    if (!cache)
        return;
    tls_ca_cache_flush(cache);
    free(cache);
}

const struct tls_ca *tls_ca_cache_get(struct tls_ca_cache *cache,
                                      const char *ca_file, bool *loaded)
{
    *loaded = false;
    for (size_t i = 0; i < cache->n; i++)
        if (strcmp(cache->entries[i]->path, ca_file) == 0)
            return cache->entries[i];

    struct tls_ca **grown =
        realloc(cache->entries, (cache->n + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    cache->entries = grown;
    struct tls_ca *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->path = strdup(ca_file);
    if (!e->path) {
        free(e);
        return NULL;
    }
    e->store = tls_store_load(ca_file, e->problem, sizeof(e->problem));
    cache->entries[cache->n++] = e;
    *loaded = true;
    return e;
}

/* ---- the facts of a connection ------------------------------------------ */

static bool is_ip_literal(const char *name)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, name, addr) == 1 ||
           inet_pton(AF_INET6, name, addr) == 1;
}

/* A certificate time as unix time; 0 when unreadable. */
static int64_t cert_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* The earliest notAfter of leaf (may be NULL) and chain; 0 when none is
 * readable. */
static int64_t chain_not_after(STACK_OF(X509) * chain, X509 *leaf)
{
    int64_t earliest = 0;
    int n = chain ? sk_X509_num(chain) : 0;
    for (int i = -1; i < n; i++) {
        X509 *cert = i < 0 ? leaf : sk_X509_value(chain, i);
        if (!cert)
            continue;
        int64_t when = cert_time(X509_get0_notAfter(cert));
        if (when != 0 && (earliest == 0 || when < earliest))
            earliest = when;
    }
    return earliest;
}

/* A name in RFC 2253 form (OpenSSL's XN_FLAG_RFC2253: bytes past ASCII
 * and controls escaped, so the text is printable ASCII), cut to dst with
 * "..." when longer. "" when unreadable. */
static void name_rfc2253(const X509_NAME *name, char *dst, size_t n)
{
    dst[0] = '\0';
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return;
    if (name && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
        char *text = NULL;
        long len = BIO_get_mem_data(bio, &text);
        if (len > 0 && text) {
            if ((size_t)len < n) {
                memcpy(dst, text, (size_t)len);
                dst[len] = '\0';
            } else if (n > 4) {
                memcpy(dst, text, n - 4);
                memcpy(dst + n - 4, "...", 4);
            }
        }
    }
    BIO_free(bio);
}

/* The serial in lowercase hex, "-" first when negative; the first 32
 * bytes and "..." when longer (RFC 5280 allows 20). */
static void serial_hex(X509 *cert, char *dst, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
    size_t k = 0;
    dst[0] = '\0';
    if (!serial || n < 69) /* "-", 64 digits, "...", NUL */
        return;
    const unsigned char *p = ASN1_STRING_get0_data(serial);
    int len = ASN1_STRING_length(serial);
    if (!p || len <= 0)
        return;
    if (ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER)
        dst[k++] = '-';
    for (int i = 0; i < len && i < 32; i++) {
        dst[k++] = digits[p[i] >> 4];
        dst[k++] = digits[p[i] & 15];
    }
    if (len > 32) {
        memcpy(dst + k, "...", 3);
        k += 3;
    }
    dst[k] = '\0';
}

static void verify_chain(X509_STORE *store, X509 *leaf, STACK_OF(X509) * chain,
                         struct tls_facts *f)
{
    if (!store) {
        snprintf(f->problem, sizeof(f->problem), "no CA store");
        return;
    }
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!ctx) {
        snprintf(f->problem, sizeof(f->problem), "out of memory");
        return;
    }
    if (X509_STORE_CTX_init(ctx, store, leaf, chain) == 1) {
        X509_STORE_CTX_set_default(ctx, "ssl_server");
        if (X509_verify_cert(ctx) == 1) {
            f->chain_ok = true;
            /* The path the verifier took, leaf to trust anchor: what
             * a client that verifies relies on. */
            f->verified_not_after =
                chain_not_after(X509_STORE_CTX_get0_chain(ctx), NULL);
        } else {
            int e = X509_STORE_CTX_get_error(ctx);
            snprintf(f->problem, sizeof(f->problem), "%s",
                     X509_verify_cert_error_string(e));
        }
    }
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
}

static void verify_name(X509 *leaf, const char *name, struct tls_facts *f)
{
    int rc;
    if (is_ip_literal(name))
        rc = X509_check_ip_asc(leaf, name, 0);
    else
        rc = X509_check_host(leaf, name, 0, 0, NULL);
    if (rc == 1) {
        f->host_ok = true;
    } else if (f->problem[0] == '\0') {
        snprintf(f->problem, sizeof(f->problem),
                 "certificate does not match %.64s", name);
    }
}

int tls_facts_read(SSL *ssl, X509_STORE *store, const char *name,
                   struct tls_facts *f)
{
    memset(f, 0, sizeof(*f));
    if (!ssl)
        return -1;
    X509 *leaf = SSL_get0_peer_certificate(ssl);
    if (!leaf)
        return -1;
    /* On the client side the peer chain includes the leaf. */
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);

    f->present = true;
    snprintf(f->version, sizeof(f->version), "%s", SSL_get_version(ssl));
    const char *cipher = SSL_get_cipher_name(ssl);
    snprintf(f->cipher, sizeof(f->cipher), "%s", cipher ? cipher : "");
    f->not_after = chain_not_after(chain, leaf);
    f->leaf_not_after = cert_time(X509_get0_notAfter(leaf));
    f->leaf_not_before = cert_time(X509_get0_notBefore(leaf));
    name_rfc2253(X509_get_subject_name(leaf), f->subject, sizeof(f->subject));
    name_rfc2253(X509_get_issuer_name(leaf), f->issuer, sizeof(f->issuer));
    serial_hex(leaf, f->serial, sizeof(f->serial));
    unsigned int dlen = 0;
    if (X509_digest(leaf, EVP_sha256(), f->leaf_sha256, &dlen) != 1 ||
        dlen != sizeof(f->leaf_sha256))
        memset(f->leaf_sha256, 0, sizeof(f->leaf_sha256));

    verify_chain(store, leaf, chain, f);
    verify_name(leaf, name, f);
    f->valid = f->chain_ok && f->host_ok;
    return 0;
}

const char *tls_fingerprint_hex(const struct tls_facts *f, char *dst)
{
    static const char digits[] = "0123456789abcdef";
    bool any = false;
    for (size_t i = 0; i < sizeof f->leaf_sha256; i++) {
        any = any || f->leaf_sha256[i] != 0;
        dst[2 * i] = digits[f->leaf_sha256[i] >> 4];
        dst[2 * i + 1] = digits[f->leaf_sha256[i] & 15];
    }
    dst[any ? 2 * sizeof f->leaf_sha256 : 0] = '\0';
    return dst;
}
