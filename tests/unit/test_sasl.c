/* test_sasl: base64, HMAC-MD5 and the client messages of each mechanism. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sasl.h"

#define LEN(s) (sizeof(s) - 1)

/* Made up for these tests; used nowhere else. */
#define TEST_USER         "monitor@example.com"
#define TEST_PASSWORD     "correct-horse-test-only"
#define TEST_USER_B64     "bW9uaXRvckBleGFtcGxlLmNvbQ=="
#define TEST_PASSWORD_B64 "Y29ycmVjdC1ob3JzZS10ZXN0LW9ubHk="

/* RFC 2195 section 2. */
#define CRAM_USER      "tim"
#define CRAM_SECRET    "tanstaaftanstaaf"
#define CRAM_CHALLENGE "<1896.697170952@postoffice.reston.mci.net>"
#define CRAM_CHALLENGE_B64                                                    \
    "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
#define CRAM_RESPONSE     "tim b913a602c7eda7a495b4e6e7334d3890"
#define CRAM_RESPONSE_B64 "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"

struct mech_case {
    const char *in;
    int rc;
    enum sasl_mech mech;
};

static const struct mech_case mech_cases[] = {
    {"PLAIN", 0, SASL_MECH_PLAIN},
    {"plain", 0, SASL_MECH_PLAIN},
    {"Login", 0, SASL_MECH_LOGIN},
    {"cram-md5", 0, SASL_MECH_CRAM_MD5},
    {"CRAM-MD5", 0, SASL_MECH_CRAM_MD5},
    {"xoauth2", 0, SASL_MECH_XOAUTH2},
    {"OAuthBearer", 0, SASL_MECH_OAUTHBEARER},
    {"CRAM-MD6", -1, SASL_MECH_COUNT},
    {"CRAM", -1, SASL_MECH_COUNT},
    {"PLAIN ", -1, SASL_MECH_COUNT},
    {"SCRAM-SHA-256", -1, SASL_MECH_COUNT},
    {"", -1, SASL_MECH_COUNT},
};

static void test_mech_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(mech_cases) / sizeof(mech_cases[0]); i++) {
        enum sasl_mech m = SASL_MECH_COUNT;
        print_message("mech: '%s'\n", mech_cases[i].in);
        assert_int_equal(sasl_mech_parse(mech_cases[i].in, &m),
                         mech_cases[i].rc);
        assert_int_equal(m, mech_cases[i].mech);
    }
    enum sasl_mech m = SASL_MECH_COUNT;
    assert_int_equal(sasl_mech_parse(NULL, &m), -1);
    assert_string_equal(sasl_mech_name(SASL_MECH_PLAIN), "PLAIN");
    assert_string_equal(sasl_mech_name(SASL_MECH_LOGIN), "LOGIN");
    assert_string_equal(sasl_mech_name(SASL_MECH_CRAM_MD5), "CRAM-MD5");
    assert_string_equal(sasl_mech_name(SASL_MECH_XOAUTH2), "XOAUTH2");
    /* Every name parses back to its mechanism, and only to it. */
    for (int i = 0; i < SASL_MECH_COUNT; i++) {
        assert_true(sasl_mech_name(i)[0] != '\0');
        assert_int_equal(sasl_mech_parse(sasl_mech_name(i), &m), 0);
        assert_int_equal(m, i);
    }
    assert_string_equal(sasl_mech_name(SASL_MECH_COUNT), "UNKNOWN");
    assert_int_equal(sasl_mech_parse("UNKNOWN", &m), -1);
}

/* RFC 4648 section 10. */
struct b64_case {
    const char *raw;
    const char *enc;
};

static const struct b64_case b64_cases[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_base64_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
        const struct b64_case *c = &b64_cases[i];
        struct buf b;
        buf_init(&b, 0);
        assert_int_equal(sasl_base64_encode(c->raw, strlen(c->raw), &b), 0);
        assert_string_equal(buf_str(&b), c->enc);
        buf_reset(&b);
        assert_int_equal(sasl_base64_decode(c->enc, strlen(c->enc), &b), 0);
        assert_int_equal(b.len, strlen(c->raw));
        assert_memory_equal(buf_str(&b), c->raw, b.len);
        buf_free(&b);
    }
}

/* Every length across the 48/64-byte chunk boundaries, every byte value. */
static void test_base64_round_trip(void **state)
{
    (void)state;
    unsigned char raw[300];
    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof(raw); n++) {
        struct buf enc, dec;
        buf_init(&enc, 0);
        buf_init(&dec, 0);
        assert_int_equal(sasl_base64_encode(raw, n, &enc), 0);
        assert_int_equal(enc.len, (n + 2) / 3 * 4);
        assert_int_equal(sasl_base64_decode(buf_str(&enc), enc.len, &dec), 0);
        assert_int_equal(dec.len, n);
        if (n)
            assert_memory_equal(dec.data, raw, n);
        buf_free(&enc);
        buf_free(&dec);
    }
}

/* Both append to what the buffer holds, and respect its limit. */
static void test_base64_append_and_limit(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "x:"), 0);
    assert_int_equal(sasl_base64_decode("Zm9v", 4, &b), 0);
    assert_string_equal(buf_str(&b), "x:foo");
    assert_int_equal(sasl_base64_encode("f", 1, &b), -1);
    assert_string_equal(buf_str(&b), "x:foo");
    assert_int_equal(sasl_base64_decode("Zm9vYg==", 8, &b), -1);
    assert_string_equal(buf_str(&b), "x:foo");
    assert_int_equal(sasl_base64_encode("", 0, &b), 0);
    assert_int_equal(sasl_base64_decode("", 0, &b), 0);
    assert_string_equal(buf_str(&b), "x:foo");
    buf_free(&b);
}

struct bad_b64 {
    const char *why;
    const char *in;
    size_t n; /* 0: strlen */
};

static const struct bad_b64 bad_b64_cases[] = {
    {"length 1", "Z", 0},
    {"length 2", "Zg", 0},
    {"length 3", "Zg=", 0},
    {"length 5", "Zm9vY", 0},
    {"unpadded", "Zm9vYg", 0},
    {"star", "Zm9*", 0},
    {"url-safe minus", "Zm-v", 0},
    {"url-safe underscore", "Zm_v", 0},
    {"dot", "Zm.v", 0},
    {"high byte", "Zm9\xc3", 0},
    {"NUL", "Zm9\0", 4},
    {"NUL first", "\0Zm9", 4},
    {"leading space", " Zm9", 0},
    {"trailing space", "Zm9 ", 0},
    {"inner space", "Zm 9vYmFy", 0},
    {"trailing CRLF", "Zm9vYm\r\n", 0},
    {"trailing LF", "Zm9\n", 0},
    {"tab", "\tZm9", 0},
    {"two quads with spaces", "Zm9v    ", 0},
    {"three pad", "Z===", 0},
    {"all pad", "====", 0},
    {"pad then char", "Zg=a", 0},
    {"pad in middle", "Zg==Zm9v", 0},
    {"pad in first quad", "Zm9=Zm9v", 0},
    {"non-zero pad bits 2", "Zh==", 0},
    {"non-zero pad bits 1", "Zm9=", 0},
};

static void test_base64_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_b64_cases) / sizeof(bad_b64_cases[0]);
         i++) {
        const struct bad_b64 *c = &bad_b64_cases[i];
        size_t n = c->n ? c->n : strlen(c->in);
        print_message("bad base64: %s\n", c->why);
        struct buf b;
        buf_init(&b, 0);
        assert_int_equal(buf_puts(&b, "keep"), 0);
        assert_int_equal(sasl_base64_decode(c->in, n, &b), -1);
        assert_string_equal(buf_str(&b), "keep");
        buf_free(&b);
    }
}

struct hmac_case {
    const char *why;
    const char *key;
    size_t key_len;
    const char *data;
    const char *hex;
};

/* RFC 2202 section 2 (HMAC-MD5) and RFC 2195. */
static const struct hmac_case hmac_cases[] = {
    {"RFC 2195", CRAM_SECRET, LEN(CRAM_SECRET), CRAM_CHALLENGE,
     "b913a602c7eda7a495b4e6e7334d3890"},
    {"RFC 2202 case 1",
     "\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b", 16,
     "Hi There", "9294727a3638bb1c13f48ef8158bfc9d"},
    {"RFC 2202 case 2", "Jefe", 4, "what do ya want for nothing?",
     "750c783e6ab0b503eaa86e310a5db738"},
};

static void test_cram_md5_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hmac_cases) / sizeof(hmac_cases[0]); i++) {
        const struct hmac_case *c = &hmac_cases[i];
        print_message("hmac: %s\n", c->why);
        struct buf b;
        buf_init(&b, 0);
        assert_int_equal(sasl_cram_md5("u", c->key, c->key_len, c->data,
                                       strlen(c->data), &b),
                         0);
        assert_int_equal(b.len, 2 + 32);
        assert_memory_equal(b.data, "u ", 2);
        assert_string_equal(b.data + 2, c->hex);
        buf_free(&b);
    }

    /* A key longer than MD5's block is hashed first (RFC 2202 case 6). */
    char key[80];
    memset(key, 0xaa, sizeof(key));
    const char *data =
        "Test Using Larger Than Block-Size Key - Hash Key First";
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(
        sasl_cram_md5("u", key, sizeof(key), data, strlen(data), &b), 0);
    assert_string_equal(buf_str(&b), "u 6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd");

    /* The RFC 2195 exchange, exactly. */
    buf_reset(&b);
    assert_int_equal(sasl_cram_md5(CRAM_USER, CRAM_SECRET, LEN(CRAM_SECRET),
                                   CRAM_CHALLENGE, LEN(CRAM_CHALLENGE), &b),
                     0);
    assert_string_equal(buf_str(&b), CRAM_RESPONSE);
    buf_free(&b);
}

static struct sasl_client *client(enum sasl_mech mech, const char *user,
                                  const char *secret)
{
    struct sasl_client *c =
        sasl_client_new(mech, user, secret, strlen(secret));
    assert_non_null(c);
    return c;
}

static void test_plain(void **state)
{
    (void)state;
    /* RFC 4616 section 4's example, with an empty authzid. */
    struct sasl_client *c = client(SASL_MECH_PLAIN, "tim", CRAM_SECRET);
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(sasl_client_start(c, &out), 0);
    assert_string_equal(buf_str(&out),
                        "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    /* PLAIN has no further step: a 334 cannot be answered. */
    assert_int_equal(sasl_client_step_error(c), SASL_STEP_OK);
    assert_int_equal(sasl_client_step(c, "", &out), -1);
    assert_int_equal(sasl_client_step_error(c), SASL_STEP_NO_STEP_LEFT);
    assert_string_equal(buf_str(&out),
                        "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    buf_wipe(&out);
    sasl_client_free(c);
}

static void test_login(void **state)
{
    (void)state;
    struct sasl_client *c = client(SASL_MECH_LOGIN, TEST_USER, TEST_PASSWORD);
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(sasl_client_start(c, &out), 0);
    assert_string_equal(buf_str(&out), "AUTH LOGIN\r\n");
    buf_reset(&out);
    assert_int_equal(sasl_client_step(c, "VXNlcm5hbWU6", &out), 0);
    assert_string_equal(buf_str(&out), TEST_USER_B64 "\r\n");
    buf_reset(&out);
    assert_int_equal(sasl_client_step(c, "UGFzc3dvcmQ6", &out), 0);
    assert_string_equal(buf_str(&out), TEST_PASSWORD_B64 "\r\n");
    buf_reset(&out);
    assert_int_equal(sasl_client_step_error(c), SASL_STEP_OK);
    /* A third prompt is more than LOGIN has. */
    assert_int_equal(sasl_client_step(c, "UGFzc3dvcmQ6", &out), -1);
    assert_int_equal(sasl_client_step_error(c), SASL_STEP_NO_STEP_LEFT);
    assert_int_equal(out.len, 0);
    assert_int_equal(sasl_client_step(c, "", &out), -1);

    /* A new start begins the sequence again, whatever the prompts say. */
    assert_int_equal(sasl_client_start(c, &out), 0);
    buf_reset(&out);
    assert_int_equal(sasl_client_step(c, "whatever", &out), 0);
    assert_string_equal(buf_str(&out), TEST_USER_B64 "\r\n");
    buf_wipe(&out);
    sasl_client_free(c);
}

static void test_cram_md5_client(void **state)
{
    (void)state;
    struct sasl_client *c = client(SASL_MECH_CRAM_MD5, CRAM_USER, CRAM_SECRET);
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(sasl_client_start(c, &out), 0);
    assert_string_equal(buf_str(&out), "AUTH CRAM-MD5\r\n");
    buf_reset(&out);
    assert_int_equal(sasl_client_step(c, CRAM_CHALLENGE_B64, &out), 0);
    assert_string_equal(buf_str(&out), CRAM_RESPONSE_B64 "\r\n");
    buf_reset(&out);
    assert_int_equal(sasl_client_step(c, CRAM_CHALLENGE_B64, &out), -1);
    assert_int_equal(out.len, 0);
    sasl_client_free(c);

    /* A challenge that is not strict base64 cannot be answered, and
     * nothing is written. */
    static const char *const bad[] = {
        "not base64!",
        CRAM_CHALLENGE,
        (CRAM_CHALLENGE_B64 "\r\n"),
        (" " CRAM_CHALLENGE_B64),
        "PDE4OTYu=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = client(SASL_MECH_CRAM_MD5, CRAM_USER, CRAM_SECRET);
        assert_int_equal(buf_puts(&out, "keep"), 0);
        assert_int_equal(sasl_client_start(c, &out), 0);
        buf_reset(&out);
        assert_int_equal(buf_puts(&out, "keep"), 0);
        assert_int_equal(sasl_client_step(c, bad[i], &out), -1);
        assert_int_equal(sasl_client_step_error(c), SASL_STEP_BAD_CHALLENGE);
        assert_string_equal(sasl_step_error_words(sasl_client_step_error(c)),
                            "the server's challenge is not valid base64");
        assert_string_equal(buf_str(&out), "keep");
        buf_reset(&out);
        sasl_client_free(c);
    }
    buf_wipe(&out);
}

/* Decodes "AUTH <MECH> <ir>\r\n"'s initial response. */
static void decode_ir(const struct buf *cmd, const char *prefix,
                      struct buf *raw)
{
    size_t pl = strlen(prefix);
    assert_true(cmd->len > pl + 2);
    assert_memory_equal(cmd->data, prefix, pl);
    assert_memory_equal(cmd->data + cmd->len - 2, "\r\n", 2);
    assert_int_equal(
        sasl_base64_decode(cmd->data + pl, cmd->len - pl - 2, raw), 0);
}

static void test_xoauth2(void **state)
{
    (void)state;
    /* The example from Google's XOAUTH2 documentation. */
    struct sasl_client *c =
        client(SASL_MECH_XOAUTH2, "someuser@example.com",
               "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(sasl_client_start(c, &out), 0);
    assert_string_equal(
        buf_str(&out),
        "AUTH XOAUTH2 "
        "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRx"
        "bVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==\r\n");
    buf_reset(&out);
    /* The server's error: base64 JSON. The answer is an empty line. */
    assert_int_equal(
        sasl_client_step(c,
                         "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1h"
                         "aWwiLCJzY29wZSI6Imh0dHBzOi8vbWFpbC5nb29nbGUuY29t"
                         "LyJ9",
                         &out),
        0);
    assert_string_equal(buf_str(&out), "\r\n");
    /* Its status is kept for the note. */
    assert_string_equal(sasl_client_oauth_status(c), "401");
    buf_reset(&out);
    assert_int_equal(sasl_client_step(c, "", &out), -1);
    assert_int_equal(out.len, 0);
    buf_wipe(&out);
    sasl_client_free(c);
}

static void test_oauthbearer(void **state)
{
    (void)state;
    /* RFC 7628 section 4.1's example, at port 587. */
    struct sasl_client *c =
        client(SASL_MECH_OAUTHBEARER, "user@example.com",
               "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
    assert_int_equal(sasl_client_set_server(c, "server.example.com", 587), 0);
    struct buf out, raw;
    buf_init(&out, 0);
    buf_init(&raw, 0);
    assert_int_equal(sasl_client_start(c, &out), 0);
    decode_ir(&out, "AUTH OAUTHBEARER ", &raw);
    static const char want[] =
        "n,a=user@example.com,\x01host=server.example.com\x01port=587\x01"
        "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";
    assert_int_equal(raw.len, LEN(want));
    assert_memory_equal(raw.data, want, LEN(want));
    assert_string_equal(sasl_client_oauth_status(c), "");
    buf_reset(&out);
    /* RFC 7628 section 4.3's error; the answer is base64 of %x01. */
    assert_int_equal(
        sasl_client_step(
            c,
            "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3Bl"
            "Iiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53"
            "ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=",
            &out),
        0);
    assert_string_equal(buf_str(&out), "AQ==\r\n");
    assert_string_equal(sasl_client_oauth_status(c), "invalid_token");
    buf_reset(&out);
    assert_int_equal(sasl_client_step(c, "AQ==", &out), -1);
    assert_int_equal(sasl_client_step_error(c), SASL_STEP_NO_STEP_LEFT);
    buf_wipe(&out);
    buf_wipe(&raw);
    sasl_client_free(c);

    /* RFC 5801: "," and "=" in the user name are escaped. */
    c = client(SASL_MECH_OAUTHBEARER, "a,b=c", "tok");
    assert_int_equal(sasl_client_set_server(c, "h", 25), 0);
    buf_init(&out, 0);
    buf_init(&raw, 0);
    assert_int_equal(sasl_client_start(c, &out), 0);
    decode_ir(&out, "AUTH OAUTHBEARER ", &raw);
    static const char want2[] = "n,a=a=2Cb=3Dc,\x01host=h\x01port=25\x01"
                                "auth=Bearer tok\x01\x01";
    assert_int_equal(raw.len, LEN(want2));
    assert_memory_equal(raw.data, want2, LEN(want2));
    buf_wipe(&out);
    buf_wipe(&raw);
    sasl_client_free(c);
}

/* The error's status as kept: a number, or nothing when it is not a
 * short word; the exchange is answered all the same. */
static void test_oauth_status(void **state)
{
    (void)state;
    static const struct {
        enum sasl_mech mech;
        const char *challenge, *status, *answer;
    } cases[] = {
        {SASL_MECH_XOAUTH2, "eyJzdGF0dXMiOjQwMX0=", "401", "\r\n"},
        {SASL_MECH_OAUTHBEARER, "eyJzdGF0dXMiOjQwMX0=", "401", "AQ==\r\n"},
        {SASL_MECH_XOAUTH2, "eyJzdGF0dXMiOiJhIGIifQ==", "", "\r\n"},
        {SASL_MECH_XOAUTH2, "WzFd", "", "\r\n"},
        {SASL_MECH_OAUTHBEARER, "not base64!", "", "AQ==\r\n"},
        {SASL_MECH_OAUTHBEARER, "", "", "AQ==\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct sasl_client *c = client(cases[i].mech, "u", "t");
        struct buf out;
        buf_init(&out, 0);
        assert_int_equal(sasl_client_step(c, cases[i].challenge, &out), 0);
        assert_string_equal(buf_str(&out), cases[i].answer);
        assert_string_equal(sasl_client_oauth_status(c), cases[i].status);
        buf_wipe(&out);
        sasl_client_free(c);
    }
    assert_true(sasl_mech_is_oauth(SASL_MECH_XOAUTH2));
    assert_true(sasl_mech_is_oauth(SASL_MECH_OAUTHBEARER));
    assert_false(sasl_mech_is_oauth(SASL_MECH_PLAIN));
}

static void test_long_credentials(void **state)
{
    (void)state;
    char user[1001], pass[1001];
    memset(user, 'u', 1000);
    user[1000] = '\0';
    memset(pass, 'p', 1000);
    pass[1000] = '\0';
    struct buf out, raw;
    buf_init(&out, 0);
    buf_init(&raw, 0);

    struct sasl_client *c = client(SASL_MECH_PLAIN, user, pass);
    assert_int_equal(sasl_client_start(c, &out), 0);
    decode_ir(&out, "AUTH PLAIN ", &raw);
    assert_int_equal(raw.len, 2002);
    assert_int_equal(raw.data[0], '\0');
    assert_memory_equal(raw.data + 1, user, 1000);
    assert_int_equal(raw.data[1001], '\0');
    assert_memory_equal(raw.data + 1002, pass, 1000);
    sasl_client_free(c);

    c = client(SASL_MECH_LOGIN, user, pass);
    buf_reset(&out);
    assert_int_equal(sasl_client_start(c, &out), 0);
    for (int step = 0; step < 2; step++) {
        buf_reset(&out);
        buf_reset(&raw);
        assert_int_equal(sasl_client_step(c, "", &out), 0);
        assert_int_equal(sasl_base64_decode(out.data, out.len - 2, &raw), 0);
        assert_int_equal(raw.len, 1000);
        assert_memory_equal(raw.data, step == 0 ? user : pass, 1000);
    }
    sasl_client_free(c);

    /* Computed independently with Python's hmac module. */
    c = client(SASL_MECH_CRAM_MD5, user, pass);
    buf_reset(&out);
    buf_reset(&raw);
    assert_int_equal(sasl_client_start(c, &out), 0);
    buf_reset(&out);
    assert_int_equal(sasl_client_step(c, "PDFAeD4=", &out), 0); /* <1@x> */
    assert_int_equal(sasl_base64_decode(out.data, out.len - 2, &raw), 0);
    assert_int_equal(raw.len, 1000 + 1 + 32);
    assert_memory_equal(raw.data, user, 1000);
    assert_string_equal(raw.data + 1000, " 2a87919512b128064c8cef10123dca27");
    sasl_client_free(c);

    c = client(SASL_MECH_XOAUTH2, user, pass);
    buf_reset(&out);
    buf_reset(&raw);
    assert_int_equal(sasl_client_start(c, &out), 0);
    decode_ir(&out, "AUTH XOAUTH2 ", &raw);
    assert_int_equal(raw.len, 5 + 1000 + 13 + 1000 + 2);
    assert_memory_equal(raw.data, "user=", 5);
    assert_memory_equal(raw.data + 1005,
                        "\x01"
                        "auth=Bearer ",
                        13);
    assert_memory_equal(raw.data + 2018, "\x01\x01", 2);
    sasl_client_free(c);

    buf_wipe(&out);
    buf_wipe(&raw);
}

/* The secret is secret_len bytes, not a C string. */
static void test_binary_secret(void **state)
{
    (void)state;
    static const char secret[] = "a\0b\xff";
    struct sasl_client *c =
        sasl_client_new(SASL_MECH_LOGIN, "u", secret, LEN(secret));
    assert_non_null(c);
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(sasl_client_start(c, &out), 0);
    assert_int_equal(sasl_client_step(c, "", &out), 0);
    buf_reset(&out);
    assert_int_equal(sasl_client_step(c, "", &out), 0);
    assert_string_equal(buf_str(&out), "YQBi/w==\r\n");
    buf_wipe(&out);
    sasl_client_free(c);
}

static void test_new_and_free(void **state)
{
    (void)state;
    assert_null(sasl_client_new(SASL_MECH_COUNT, "u", "p", 1));
    sasl_client_free(NULL);
    /* An empty user and secret still make well-formed messages. */
    struct sasl_client *c = sasl_client_new(SASL_MECH_PLAIN, NULL, NULL, 0);
    assert_non_null(c);
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(sasl_client_start(c, &out), 0);
    assert_string_equal(buf_str(&out), "AUTH PLAIN AAA=\r\n");
    buf_wipe(&out);
    sasl_client_free(c);
}

/* A command that does not fit the caller's buffer fails whole. */
static void test_start_limit(void **state)
{
    (void)state;
    struct sasl_client *c = client(SASL_MECH_PLAIN, TEST_USER, TEST_PASSWORD);
    struct buf out;
    buf_init(&out, 24);
    assert_int_equal(sasl_client_start(c, &out), -1);
    assert_int_equal(out.len, 0);
    assert_string_equal(buf_str(&out), "");
    buf_wipe(&out);
    sasl_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mech_names),
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_base64_append_and_limit),
        cmocka_unit_test(test_base64_rejects),
        cmocka_unit_test(test_cram_md5_vectors),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_cram_md5_client),
        cmocka_unit_test(test_xoauth2),
        cmocka_unit_test(test_oauthbearer),
        cmocka_unit_test(test_oauth_status),
        cmocka_unit_test(test_long_credentials),
        cmocka_unit_test(test_binary_secret),
        cmocka_unit_test(test_new_and_free),
        cmocka_unit_test(test_start_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
