/* sasl: client messages for PLAIN, LOGIN, CRAM-MD5, XOAUTH2 and
 * OAUTHBEARER; pure. */
#ifndef SASL_H
#define SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum sasl_mech {
    SASL_MECH_PLAIN,
    SASL_MECH_LOGIN,
    SASL_MECH_CRAM_MD5,
    SASL_MECH_XOAUTH2,
    SASL_MECH_OAUTHBEARER, /* RFC 7628 */
    SASL_MECH_COUNT
};

/* "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER". */
const char *sasl_mech_name(enum sasl_mech mech);
/* Case-insensitive; 0, or -1 for a mechanism we do not implement. */
int sasl_mech_parse(const char *s, enum sasl_mech *out);

/*
 * One AUTH exchange. Everything it writes into `out` may hold the secret
 * or a form of it: the caller sends it and then buf_wipe()s it. No
 * function here logs anything.
 */
struct sasl_client;

/* Copies user and secret; NULL when out of memory. */
struct sasl_client *sasl_client_new(enum sasl_mech mech, const char *user,
                                    const char *secret, size_t secret_len);
/* Wipes the copies and frees; NULL is a no-op. */
void sasl_client_free(struct sasl_client *c);

/* The server's host name and port, which OAUTHBEARER's initial response
 * carries (RFC 7628 3.1); before sasl_client_start(). 0, or -1 when out
 * of memory. */
int sasl_client_set_server(struct sasl_client *c, const char *host,
                           unsigned port);

/* XOAUTH2 and OAUTHBEARER: bearer tokens. */
bool sasl_mech_is_oauth(enum sasl_mech mech);

/* The longest OAuth error status kept from a server's error challenge. */
#define SASL_OAUTH_STATUS_MAX 32

/*
 * XOAUTH2 and OAUTHBEARER: the "status" of the JSON error the server
 * sent in its 334 challenge ("401", "invalid_token"), once a step has
 * answered one; "" when none came or it was not a short word of
 * letters, digits and "_.-" (anything else is not kept).
 */
const char *sasl_client_oauth_status(const struct sasl_client *c);

/*
 * The AUTH command with its CRLF: "AUTH PLAIN <initial response>\r\n",
 * "AUTH LOGIN\r\n", "AUTH CRAM-MD5\r\n", "AUTH XOAUTH2 <ir>\r\n",
 * "AUTH OAUTHBEARER <ir>\r\n".
 * 0, or -1 when out of memory.
 */
int sasl_client_start(struct sasl_client *c, struct buf *out);

/* Why the last sasl_client_step() could not answer. */
enum sasl_step_error {
    SASL_STEP_OK,
    SASL_STEP_NO_STEP_LEFT,  /* a 334 after the mechanism said all */
    SASL_STEP_BAD_CHALLENGE, /* not valid base64 */
    SASL_STEP_NO_MEMORY,
    SASL_STEP_ERROR_COUNT
};

/* SASL_STEP_OK before any step and after a step that answered. */
enum sasl_step_error sasl_client_step_error(const struct sasl_client *c);

/* In words, for notes and logs: "the server's challenge is not valid
 * base64", ... ("" for SASL_STEP_OK). */
const char *sasl_step_error_words(enum sasl_step_error e);

/*
 * The answer to a 334 continuation whose text (after "334 ") is
 * `challenge`, with its CRLF. LOGIN answers the first 334 with the user
 * name and the second with the password; CRAM-MD5 answers with
 * base64("user hexdigest"); XOAUTH2 answers an error challenge with an
 * empty line, OAUTHBEARER with base64 of a single %x01 (RFC 7628 3.2.3),
 * both keeping the error's status (sasl_client_oauth_status()). Returns 0; -1
 * when the challenge cannot be answered (bad base64, or more steps than the
 * mechanism has): the caller then sends
 * "*\r\n" to cancel (RFC 4954).
 */
int sasl_client_step(struct sasl_client *c, const char *challenge,
                     struct buf *out);

/* Helpers, public for tests. Base64 through OpenSSL's EVP, strict on
 * decoding (no whitespace, correct padding). 0, or -1. */
int sasl_base64_encode(const void *in, size_t n, struct buf *out);
int sasl_base64_decode(const char *in, size_t n, struct buf *out);
/* RFC 2195: "user " + lowercase hex HMAC-MD5(secret, challenge), not
 * base64-encoded. */
int sasl_cram_md5(const char *user, const char *secret, size_t secret_len,
                  const void *challenge, size_t challenge_len,
                  struct buf *out);

#endif
