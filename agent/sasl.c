/* sasl: client messages for PLAIN, LOGIN, CRAM-MD5, XOAUTH2 and
 * OAUTHBEARER; pure. */
#include "sasl.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* The one list of names: sasl_mech_parse() and config's messages read it. */
static const char *const mech_names[] = {
    [SASL_MECH_PLAIN] = "PLAIN",
    [SASL_MECH_LOGIN] = "LOGIN",
    [SASL_MECH_CRAM_MD5] = "CRAM-MD5",
    [SASL_MECH_XOAUTH2] = "XOAUTH2",
    [SASL_MECH_OAUTHBEARER] = "OAUTHBEARER",
};
_Static_assert(sizeof mech_names / sizeof mech_names[0] == SASL_MECH_COUNT,
               "a name for every mechanism");

const char *sasl_mech_name(enum sasl_mech mech)
{
    if ((unsigned)mech >= SASL_MECH_COUNT)
        return "UNKNOWN";
    return mech_names[mech];
}

int sasl_mech_parse(const char *s, enum sasl_mech *out)
{
    if (!s)
        return -1;
    for (int i = 0; i < SASL_MECH_COUNT; i++) {
        if (strcasecmp(s, mech_names[i]) == 0) {
            *out = (enum sasl_mech)i;
            return 0;
        }
    }
    return -1;
}

struct sasl_client {
    enum sasl_mech mech;
    char *user;
    char *secret;
    size_t secret_len;
    unsigned steps; /* 334 continuations answered so far */
    enum sasl_step_error error;
    char *host; /* OAUTHBEARER's host and port */
    unsigned port;
    char oauth_status[SASL_OAUTH_STATUS_MAX + 1];
};

bool sasl_mech_is_oauth(enum sasl_mech mech)
{
    return mech == SASL_MECH_XOAUTH2 || mech == SASL_MECH_OAUTHBEARER;
}

int sasl_client_set_server(struct sasl_client *c, const char *host,
                           unsigned port)
{
    char *copy = strdup(host ? host : "");
    if (!copy)
        return -1;
    free(c->host);
    c->host = copy;
    c->port = port;
    return 0;
}

const char *sasl_client_oauth_status(const struct sasl_client *c)
{
    return c->oauth_status;
}

static const char *const step_error_words[] = {
    [SASL_STEP_OK] = "",
    [SASL_STEP_NO_STEP_LEFT] = "the server asked for a step too many",
    [SASL_STEP_BAD_CHALLENGE] = "the server's challenge is not valid base64",
    [SASL_STEP_NO_MEMORY] = "out of memory",
};
_Static_assert(sizeof step_error_words / sizeof step_error_words[0] ==
                   SASL_STEP_ERROR_COUNT,
               "words for every step error");

const char *sasl_step_error_words(enum sasl_step_error e)
{
    if ((unsigned)e >= SASL_STEP_ERROR_COUNT)
        return "";
    return step_error_words[e];
}

enum sasl_step_error sasl_client_step_error(const struct sasl_client *c)
{
    return c->error;
}

/*
 * Cuts out back to len after a failed composition, zeroing what is cut:
 * the half-written tail may hold part of an encoded secret, and the
 * caller should see out exactly as it gave it.
 */
static void buf_cut(struct buf *out, size_t len)
{
    if (!out->data || out->len <= len)
        return;
    explicit_bzero(out->data + len, out->len - len);
    out->len = len;
}

/* The most of an error challenge's JSON that is read. */
#define SMTP_CHALLENGE_JSON_MAX 2048

/* Bytes per EVP call: 48 raw bytes are 64 base64 characters. Working in
 * small stack chunks keeps copies of the secret out of the heap. */
#define B64_RAW_CHUNK 48
#define B64_TXT_CHUNK 64

int sasl_base64_encode(const void *in, size_t n, struct buf *out)
{
    if (n / 3 > (SIZE_MAX - 4) / 4)
        return -1;
    size_t need = (n + 2) / 3 * 4;
    if (need > out->max - out->len)
        return -1;

    const unsigned char *src = in;
    unsigned char tmp[B64_TXT_CHUNK + 1];
    size_t orig = out->len;
    int rc = 0;
    for (size_t off = 0; off < n; off += B64_RAW_CHUNK) {
        size_t chunk = n - off < B64_RAW_CHUNK ? n - off : B64_RAW_CHUNK;
        int w = EVP_EncodeBlock(tmp, src + off, (int)chunk);
        if (w < 0 || buf_append(out, tmp, (size_t)w) < 0) {
            buf_cut(out, orig);
            rc = -1;
            break;
        }
    }
    explicit_bzero(tmp, sizeof(tmp));
    return rc;
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static unsigned b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return (unsigned)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (unsigned)(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0' + 52);
    return c == '+' ? 62 : 63;
}

/*
 * EVP_DecodeBlock skips surrounding whitespace, reads '=' anywhere as
 * zero bits and counts padding in its result, so everything it would
 * let through is checked here first (RFC 4648 section 3: no characters
 * outside the alphabet, canonical padding and pad bits).
 */
int sasl_base64_decode(const char *in, size_t n, struct buf *out)
{
    if (n % 4 != 0)
        return -1;
    if (n == 0)
        return 0;
    size_t pad = 0;
    if (in[n - 1] == '=') {
        pad++;
        if (in[n - 2] == '=')
            pad++;
    }
    for (size_t i = 0; i < n - pad; i++) {
        if (!b64_char(in[i]))
            return -1;
    }
    /* The bits the padding leaves over must be zero, or two different
     * strings would decode to the same bytes. */
    if (pad == 2 && (b64_value(in[n - 3]) & 0x0f))
        return -1;
    if (pad == 1 && (b64_value(in[n - 2]) & 0x03))
        return -1;
    size_t need = n / 4 * 3 - pad;
    if (need > out->max - out->len)
        return -1;

    unsigned char tmp[B64_RAW_CHUNK + 1];
    size_t orig = out->len;
    int rc = 0;
    for (size_t off = 0; off < n; off += B64_TXT_CHUNK) {
        size_t chunk = n - off < B64_TXT_CHUNK ? n - off : B64_TXT_CHUNK;
        int w =
            EVP_DecodeBlock(tmp, (const unsigned char *)in + off, (int)chunk);
        if (w < 0) {
            rc = -1;
            break;
        }
        size_t got = (size_t)w;
        if (off + chunk == n)
            got -= pad;
        if (buf_append(out, tmp, got) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc < 0)
        buf_cut(out, orig);
    explicit_bzero(tmp, sizeof(tmp));
    return rc;
}

int sasl_cram_md5(const char *user, const char *secret, size_t secret_len,
                  const void *challenge, size_t challenge_len, struct buf *out)
{
    if (secret_len > INT_MAX)
        return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!HMAC(EVP_md5(), secret ? secret : "", (int)secret_len,
              challenge ? challenge : "", challenge_len, md, &md_len)) {
        explicit_bzero(md, sizeof(md));
        return -1;
    }

    static const char hexdigits[] = "0123456789abcdef";
    char hex[2 * EVP_MAX_MD_SIZE];
    for (unsigned i = 0; i < md_len; i++) {
        hex[2 * i] = hexdigits[md[i] >> 4];
        hex[2 * i + 1] = hexdigits[md[i] & 0x0f];
    }
    size_t orig = out->len;
    int rc = 0;
    if (buf_puts(out, user ? user : "") < 0 || buf_putc(out, ' ') < 0 ||
        buf_append(out, hex, 2 * (size_t)md_len) < 0) {
        buf_cut(out, orig);
        rc = -1;
    }
    explicit_bzero(md, sizeof(md));
    explicit_bzero(hex, sizeof(hex));
    return rc;
}

struct sasl_client *sasl_client_new(enum sasl_mech mech, const char *user,
                                    const char *secret, size_t secret_len)
{
    if ((unsigned)mech >= SASL_MECH_COUNT || secret_len == SIZE_MAX)
        return NULL;
    struct sasl_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->mech = mech;
    c->user = strdup(user ? user : "");
    if (!c->user)
        goto err;
    c->secret = malloc(secret_len + 1);
    if (!c->secret)
        goto err;
    if (secret_len)
        memcpy(c->secret, secret, secret_len);
    c->secret[secret_len] = '\0';
    c->secret_len = secret_len;
    return c;

err:
    sasl_client_free(c);
    return NULL;
}

void sasl_client_free(struct sasl_client *c)
{
    if (!c)
        return;
    if (c->user) {
        explicit_bzero(c->user, strlen(c->user));
        free(c->user);
    }
    if (c->secret) {
        explicit_bzero(c->secret, c->secret_len + 1);
        free(c->secret);
    }
    free(c->host);
    explicit_bzero(c, sizeof(*c));
    free(c);
}

/* RFC 5801's saslname: "=" and "," written as "=3D" and "=2C". */
static int gs2_saslname(struct buf *out, const char *name)
{
    for (const char *p = name; *p; p++) {
        int rc = *p == '='   ? buf_puts(out, "=3D")
                 : *p == ',' ? buf_puts(out, "=2C")
                             : buf_putc(out, *p);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* "AUTH <MECH> " + base64(msg) + CRLF; msg is wiped by the caller. */
static int auth_with_ir(const char *mech, const struct buf *msg,
                        struct buf *out)
{
    if (buf_puts(out, "AUTH ") < 0 || buf_puts(out, mech) < 0 ||
        buf_putc(out, ' ') < 0)
        return -1;
    if (sasl_base64_encode(msg->data, msg->len, out) < 0)
        return -1;
    return buf_puts(out, "\r\n");
}

int sasl_client_start(struct sasl_client *c, struct buf *out)
{
    size_t orig = out->len;
    struct buf msg;
    buf_init(&msg, 0);
    int rc = -1;

    c->steps = 0;
    switch (c->mech) {
    case SASL_MECH_PLAIN:
        /* RFC 4616: authzid (empty) NUL authcid NUL passwd. */
        if (buf_putc(&msg, '\0') < 0 || buf_puts(&msg, c->user) < 0 ||
            buf_putc(&msg, '\0') < 0 ||
            buf_append(&msg, c->secret, c->secret_len) < 0)
            break;
        rc = auth_with_ir("PLAIN", &msg, out);
        break;
    case SASL_MECH_LOGIN:
        rc = buf_puts(out, "AUTH LOGIN\r\n");
        break;
    case SASL_MECH_CRAM_MD5:
        rc = buf_puts(out, "AUTH CRAM-MD5\r\n");
        break;
    case SASL_MECH_XOAUTH2:
        /* Google's and Microsoft's XOAUTH2 initial client response. */
        if (buf_puts(&msg, "user=") < 0 || buf_puts(&msg, c->user) < 0 ||
            buf_puts(&msg, "\x01"
                           "auth=Bearer ") < 0 ||
            buf_append(&msg, c->secret, c->secret_len) < 0 ||
            buf_puts(&msg, "\x01\x01") < 0)
            break;
        rc = auth_with_ir("XOAUTH2", &msg, out);
        break;
    case SASL_MECH_OAUTHBEARER:
        /* RFC 7628 3.1: gs2-header "n,a=USER," then key=value pairs,
         * each ended by %x01, and a last %x01. */
        if (buf_puts(&msg, "n,a=") < 0 || gs2_saslname(&msg, c->user) < 0 ||
            buf_puts(&msg, ",\x01host=") < 0 ||
            buf_puts(&msg, c->host ? c->host : "") < 0 ||
            buf_printf(&msg, "\x01port=%u\x01", c->port) < 0 ||
            buf_puts(&msg, "auth=Bearer ") < 0 ||
            buf_append(&msg, c->secret, c->secret_len) < 0 ||
            buf_puts(&msg, "\x01\x01") < 0)
            break;
        rc = auth_with_ir("OAUTHBEARER", &msg, out);
        break;
    case SASL_MECH_COUNT:
        break;
    }
    buf_wipe(&msg);
    if (rc < 0)
        buf_cut(out, orig);
    return rc;
}

/* base64(data) + CRLF. */
static int b64_line(const void *data, size_t n, struct buf *out)
{
    if (sasl_base64_encode(data, n, out) < 0)
        return -1;
    return buf_puts(out, "\r\n");
}

static int cram_md5_step(struct sasl_client *c, const char *challenge,
                         struct buf *out)
{
    struct buf decoded, answer;
    buf_init(&decoded, 0);
    buf_init(&answer, 0);
    int rc = -1;
    if (sasl_base64_decode(challenge, strlen(challenge), &decoded) < 0)
        c->error = SASL_STEP_BAD_CHALLENGE;
    else if (sasl_cram_md5(c->user, c->secret, c->secret_len, decoded.data,
                           decoded.len, &answer) == 0)
        rc = b64_line(answer.data, answer.len, out);
    buf_wipe(&decoded);
    buf_wipe(&answer);
    return rc;
}

/* A status worth keeping: a short word, nothing a reader must escape. */
static bool status_word(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SASL_OAUTH_STATUS_MAX)
        return false;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

/*
 * The "status" of the JSON error in an XOAUTH2 or OAUTHBEARER challenge
 * (RFC 7628 3.2.2: {"status":"invalid_token",...}; Google and Microsoft
 * send {"status":"401",...}), a string or a number. Whatever cannot be
 * read leaves it "": the exchange goes on the same.
 */
static void oauth_error_status(struct sasl_client *c, const char *challenge)
{
    struct buf json;
    buf_init(&json, SMTP_CHALLENGE_JSON_MAX);
    c->oauth_status[0] = '\0';
    if (sasl_base64_decode(challenge, strlen(challenge), &json) < 0 ||
        json.len == 0) {
        buf_wipe(&json);
        return;
    }
    json_t *root =
        json_loadb(json.data, json.len, JSON_REJECT_DUPLICATES, NULL);
    json_t *st = json_is_object(root) ? json_object_get(root, "status") : NULL;
    char word[SASL_OAUTH_STATUS_MAX + 2] = "";
    if (json_is_string(st))
        snprintf(word, sizeof(word), "%s", json_string_value(st));
    else if (json_is_integer(st))
        snprintf(word, sizeof(word), "%lld",
                 (long long)json_integer_value(st));
    if (status_word(word))
        memcpy(c->oauth_status, word, strlen(word) + 1);
    json_decref(root);
    buf_wipe(&json);
}

/* How many 334 challenges a mechanism answers. */
static unsigned steps_of(enum sasl_mech mech)
{
    switch (mech) {
    case SASL_MECH_LOGIN:
        return 2;
    case SASL_MECH_CRAM_MD5:
    case SASL_MECH_XOAUTH2:
    case SASL_MECH_OAUTHBEARER:
        return 1;
    case SASL_MECH_PLAIN:
    case SASL_MECH_COUNT:
        break;
    }
    return 0;
}

int sasl_client_step(struct sasl_client *c, const char *challenge,
                     struct buf *out)
{
    size_t orig = out->len;
    unsigned step = c->steps++;
    int rc = -1;

    c->error = SASL_STEP_OK;
    if (!challenge)
        challenge = "";
    switch (c->mech) {
    case SASL_MECH_PLAIN:
        /* The whole exchange went with the initial response. */
        break;
    case SASL_MECH_LOGIN:
        /* The prompts ("Username:", "Password:") differ between servers;
         * only their order counts. */
        if (step == 0)
            rc = b64_line(c->user, strlen(c->user), out);
        else if (step == 1)
            rc = b64_line(c->secret, c->secret_len, out);
        break;
    case SASL_MECH_CRAM_MD5:
        if (step == 0)
            rc = cram_md5_step(c, challenge, out);
        break;
    case SASL_MECH_XOAUTH2:
        /* The 334 carries a JSON error; an empty line lets the server
         * send its final failure reply. */
        if (step == 0) {
            oauth_error_status(c, challenge);
            rc = buf_puts(out, "\r\n");
        }
        break;
    case SASL_MECH_OAUTHBEARER:
        /* RFC 7628 3.2.3: the client answers the error with a single
         * %x01, and the server then fails the exchange. */
        if (step == 0) {
            oauth_error_status(c, challenge);
            rc = b64_line("\x01", 1, out);
        }
        break;
    case SASL_MECH_COUNT:
        break;
    }
    if (rc < 0) {
        buf_cut(out, orig);
        /* Not a step of the mechanism's, or a composition that failed. */
        if (c->error == SASL_STEP_OK)
            c->error = step >= steps_of(c->mech) ? SASL_STEP_NO_STEP_LEFT
                                                 : SASL_STEP_NO_MEMORY;
    }
    return rc;
}
