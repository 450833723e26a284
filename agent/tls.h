/* tls: certificate facts from an SSL * (expiry, validity, version,
 * cipher) and the cache of CA stores they are verified against. */
#ifndef TLS_H
#define TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* OpenSSL's types, without pulling its headers into every module. */
struct ssl_st;
struct x509_store_st;

struct tls_facts {
    bool present;      /* TLS was up and these were read */
    char version[16];  /* "TLSv1.3" */
    char cipher[64];   /* "TLS_AES_256_GCM_SHA384" */
    int64_t not_after; /* earliest notAfter in the presented chain, epoch s */
    bool chain_ok;     /* the chain verifies against the CA file */
    bool host_ok;      /* the leaf matches the expected name */
    bool valid;        /* chain_ok && host_ok */
    char problem[128]; /* why not valid: OpenSSL's verify error, or
                          "certificate does not match NAME" */
    char subject[128]; /* leaf subject, RFC 2253 one line ("CN=mx,O=Ex") */
    unsigned char leaf_sha256[32]; /* tells one certificate from another */
    /* Issue 14: what the client trusted. verified_not_after is the
     * earliest notAfter of the chain X509_verify_cert() built (leaf to
     * trust anchor), 0 when the chain did not verify: an expired
     * certificate the server sends but no path uses (an old cross-sign)
     * is not in it. The leaf's own dates, 0 when unreadable. */
    int64_t verified_not_after;
    int64_t leaf_not_after;
    int64_t leaf_not_before;
    char issuer[128]; /* leaf issuer, as subject */
    char serial[72];  /* leaf serial, lowercase hex ("" unreadable); the
                         first 32 bytes and "..." when longer */
};

/* A CA bundle is far smaller (Debian's: about 200 KiB); config checks it
 * with the same bound. */
#define TLS_CA_FILE_MAX   ((size_t)16 << 20)
#define TLS_CA_FILE_WORDS "16 MiB"

/*
 * Loads a CA file into a new store: the caller keeps one per file and
 * frees it with tls_store_free(). The file is read without blocking (a
 * FIFO fails at once) and must hold at least one PEM certificate. NULL on
 * error, with a message in err ("CA file: /x is not a regular file").
 */
struct x509_store_st *tls_store_load(const char *ca_file, char *err,
                                     size_t errlen);
void tls_store_free(struct x509_store_st *store);

/*
 * CA stores, one per CA file, each loaded at its first use and kept until
 * flushed: libcurl's own CA cache is off for us (see DESIGN.md, "The
 * probe"), and reading a bundle per connection costs far more than the
 * rest of a probe.
 */
struct tls_ca_cache;

/* One CA file as loaded; the cache owns it. */
struct tls_ca {
    char *path;
    struct x509_store_st *store; /* NULL when loading failed */
    char problem[160];           /* why it failed, from tls_store_load() */
};

/* NULL when out of memory. */
struct tls_ca_cache *tls_ca_cache_new(void);
/* Frees every store and the cache; NULL is a no-op. */
void tls_ca_cache_free(struct tls_ca_cache *cache);
/* Drops every store (after a reload, files may have changed): the next
 * tls_ca_cache_get() of a file loads it again. */
void tls_ca_cache_flush(struct tls_ca_cache *cache);

/*
 * The entry of ca_file, loaded with tls_store_load() when the cache has
 * none. A failed load is kept too (its store NULL, its problem set) and
 * is not retried until a flush. *loaded says whether this call read the
 * file, so that a caller can report a failure once, not per probe. NULL
 * when out of memory. The entry lives until the next flush or free.
 */
const struct tls_ca *tls_ca_cache_get(struct tls_ca_cache *cache,
                                      const char *ca_file, bool *loaded);

/*
 * Reads the facts of an established connection: the peer chain is
 * verified against store (which may be NULL: chain_ok is then false),
 * the leaf against `name` (a DNS name or an IP literal), whatever the
 * connection itself enforced. Returns 0, or -1 when ssl has no peer
 * certificate (facts->present stays false).
 */
int tls_facts_read(struct ssl_st *ssl, struct x509_store_st *store,
                   const char *name, struct tls_facts *facts);

/* The leaf's SHA-256 fingerprint in lowercase hex into dst (at least
 * TLS_FINGERPRINT_LEN bytes); "" when it was not read. Returns dst. */
#define TLS_FINGERPRINT_LEN 65
const char *tls_fingerprint_hex(const struct tls_facts *f, char *dst);

#endif
