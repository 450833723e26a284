/* test_probe_expo: /probe's series of one result, exact output. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "labels.h"
#include "probe_expo.h"

static void result_init(struct probe_result *r)
{
    memset(r, 0, sizeof(*r));
    for (int i = 0; i < PROBE_PHASE_COUNT; i++)
        r->phase_seconds[i] = -1;
}

static void expect_labelled(const struct probe_result *r, const char *labels,
                            const char *want)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(probe_expo_render(&b, r, labels, NULL), 0);
    assert_string_equal(buf_str(&b), want);
    buf_free(&b);
}

static void expect(const struct probe_result *r, const char *want)
{
    expect_labelled(r, NULL, want);
    expect_labelled(r, "", want);
}

/* A refused connection: blackbox's two, and the error. */
static void test_failed_without_reply(void **state)
{
    (void)state;
    struct probe_result r;
    result_init(&r);
    r.stage = PROBE_STAGE_CONNECT;
    r.error = PROBE_ERROR_CONNECT;
    r.duration_seconds = 0.25;
    expect(&r,
           "# HELP probe_success Whether the probe succeeded: 1 when every "
           "expected reply came, else 0.\n"
           "# TYPE probe_success gauge\n"
           "probe_success 0\n"
           "# HELP probe_duration_seconds How long the probe took, in "
           "seconds.\n"
           "# TYPE probe_duration_seconds gauge\n"
           "probe_duration_seconds 0.25\n"
           "# HELP smtp_probe_error 1 for the failure without a reply that "
           "ended the probe, by stage and error.\n"
           "# TYPE smtp_probe_error gauge\n"
           "smtp_probe_error{stage=\"connect\",error=\"connect\"} 1\n");
}

/* The probed target's settings close the answer, after the user's
 * labels, as smtp_target_info does on /metrics: the certificate alert
 * leaves out tls_verify = false on /probe's series by it. */
static void test_target_info(void **state)
{
    (void)state;
    struct probe_result r;
    result_init(&r);
    r.success = true;
    r.duration_seconds = 0.5;
    char labels[] = "team\0mail\0";
    struct probe_expo_target t = {"2001:db8::1", 465, TLS_MODE_IMPLICIT,
                                  false};
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(probe_expo_render(&b, &r, labels, &t), 0);
    assert_string_equal(
        buf_str(&b),
        "# HELP probe_success Whether the probe succeeded: 1 when every "
        "expected reply came, else 0.\n"
        "# TYPE probe_success gauge\n"
        "probe_success{team=\"mail\"} 1\n"
        "# HELP probe_duration_seconds How long the probe took, in "
        "seconds.\n"
        "# TYPE probe_duration_seconds gauge\n"
        "probe_duration_seconds{team=\"mail\"} 0.5\n"
        "# HELP smtp_target_info The probed target: host, port, TLS mode and "
        "whether the certificate must verify.\n"
        "# TYPE smtp_target_info gauge\n"
        "smtp_target_info{team=\"mail\",host=\"2001:db8::1\",port=\"465\","
        "tls=\"implicit\",tls_verify=\"false\"} 1\n");
    buf_free(&b);
}

/* AUTH refused: the reply per stage and per mechanism, with its class;
 * advertised mechanisms, SIZE, TLS facts. */
static void test_auth_failed(void **state)
{
    (void)state;
    struct probe_result r;
    result_init(&r);
    r.stage = PROBE_STAGE_AUTH;
    r.duration_seconds = 0.5;
    r.phase_seconds[PROBE_PHASE_CONNECT] = 0.001;
    r.phase_seconds[PROBE_PHASE_AUTH] = 0.125;
    r.replies[PROBE_STAGE_GREETING] =
        (struct probe_reply){.code = 220, .cls = SMTP_CLASS_SUCCESS};
    r.replies[PROBE_STAGE_AUTH] =
        (struct probe_reply){.code = 535, .cls = SMTP_CLASS_AUTH_FAILED};
    r.n_auth = 2;
    r.auth[0] = (struct probe_auth){
        .mech = SASL_MECH_PLAIN,
        .reply = {.code = 535, .cls = SMTP_CLASS_AUTH_FAILED}};
    r.auth[1] = (struct probe_auth){.mech = SASL_MECH_LOGIN};
    r.ehlo_seen = true;
    strcpy(r.ehlo.mechs[0], "PLAIN");
    r.ehlo.n_mechs = 1;
    r.ehlo.has_size = true;
    r.ehlo.size = 1000;
    r.tls.present = true;
    strcpy(r.tls.version, "TLSv1.3");
    strcpy(r.tls.cipher, "TLS_AES_256_GCM_SHA384");
    r.tls.not_after = 2000000000;
    r.tls.verified_not_after = 2100000000;
    r.tls.leaf_not_after = 2200000000;
    r.tls.leaf_not_before = 1700000000;
    strcpy(r.tls.subject, "CN=mx \"1\"\\");
    strcpy(r.tls.issuer, "CN=CA,O=Ex");
    strcpy(r.tls.serial, "1000");
    r.tls.leaf_sha256[0] = 0xab;
    r.tls.leaf_sha256[31] = 0x01;
    r.tls.valid = true;
    expect(&r,
           "# HELP probe_success Whether the probe succeeded: 1 when every "
           "expected reply came, else 0.\n"
           "# TYPE probe_success gauge\n"
           "probe_success 0\n"
           "# HELP probe_duration_seconds How long the probe took, in "
           "seconds.\n"
           "# TYPE probe_duration_seconds gauge\n"
           "probe_duration_seconds 0.5\n"
           "# HELP smtp_probe_phase_duration_seconds Duration of each phase "
           "the probe reached.\n"
           "# TYPE smtp_probe_phase_duration_seconds gauge\n"
           "smtp_probe_phase_duration_seconds{phase=\"connect\"} 0.001\n"
           "smtp_probe_phase_duration_seconds{phase=\"auth\"} 0.125\n"
           "# HELP smtp_last_reply_code Final reply code per stage, with its "
           "class: the first reply that was not a success, else the last "
           "one.\n"
           "# TYPE smtp_last_reply_code gauge\n"
           "smtp_last_reply_code{stage=\"greeting\",class=\"success\"} 220\n"
           "smtp_last_reply_code{stage=\"auth\",class=\"auth_failed\"} 535\n"
           "# HELP smtp_auth_reply_code Final reply code to AUTH per "
           "configured mechanism, with its class.\n"
           "# TYPE smtp_auth_reply_code gauge\n"
           "smtp_auth_reply_code{mechanism=\"PLAIN\",class=\"auth_failed\"} "
           "535\n"
           "# HELP smtp_auth_mechanism_advertised 1 when the EHLO advertised "
           "the configured SASL mechanism, else 0.\n"
           "# TYPE smtp_auth_mechanism_advertised gauge\n"
           "smtp_auth_mechanism_advertised{mechanism=\"PLAIN\"} 1\n"
           "smtp_auth_mechanism_advertised{mechanism=\"LOGIN\"} 0\n"
           "# HELP smtp_max_message_size_bytes Message size limit from EHLO "
           "SIZE; 0 when none is stated.\n"
           "# TYPE smtp_max_message_size_bytes gauge\n"
           "smtp_max_message_size_bytes 1000\n"
           "# HELP smtp_tls_info TLS version and cipher of the TLS "
           "session.\n"
           "# TYPE smtp_tls_info gauge\n"
           "smtp_tls_info{version=\"TLSv1.3\",cipher=\"TLS_AES_256_GCM_"
           "SHA384\"} 1\n"
           "# HELP smtp_tls_cert_expiry_timestamp_seconds Earliest notAfter "
           "in the presented chain, unix time.\n"
           "# TYPE smtp_tls_cert_expiry_timestamp_seconds gauge\n"
           "smtp_tls_cert_expiry_timestamp_seconds 2000000000\n"
           "# HELP smtp_tls_verified_chain_expiry_timestamp_seconds Earliest "
           "notAfter of the chain that verified (leaf to trust anchor).\n"
           "# TYPE smtp_tls_verified_chain_expiry_timestamp_seconds gauge\n"
           "smtp_tls_verified_chain_expiry_timestamp_seconds 2100000000\n"
           "# HELP smtp_tls_leaf_cert_not_after_timestamp_seconds notAfter "
           "of the server's own (leaf) certificate.\n"
           "# TYPE smtp_tls_leaf_cert_not_after_timestamp_seconds gauge\n"
           "smtp_tls_leaf_cert_not_after_timestamp_seconds 2200000000\n"
           "# HELP smtp_tls_leaf_cert_not_before_timestamp_seconds notBefore "
           "of the server's own (leaf) certificate.\n"
           "# TYPE smtp_tls_leaf_cert_not_before_timestamp_seconds gauge\n"
           "smtp_tls_leaf_cert_not_before_timestamp_seconds 1700000000\n"
           "# HELP smtp_tls_cert_info 1, the leaf certificate: SHA-256 "
           "fingerprint, subject and issuer (RFC 2253), serial (hex).\n"
           "# TYPE smtp_tls_cert_info gauge\n"
           "smtp_tls_cert_info{fingerprint_sha256=\"ab00000000000000000000"
           "000000000000000000000000000000000000000001\",subject=\"CN=mx "
           "\\\"1\\\"\\\\\",issuer=\"CN=CA,O=Ex\",serial=\"1000\"} 1\n"
           "# HELP smtp_tls_cert_valid 1 when chain and host name verify, "
           "whether or not enforced.\n"
           "# TYPE smtp_tls_cert_valid gauge\n"
           "smtp_tls_cert_valid 1\n");
}

/* The target's labels on every sample, first and in their order, then
 * the family's own (/metrics' order after target); escaped. */
static void test_labels(void **state)
{
    (void)state;
    struct probe_result r;
    result_init(&r);
    r.success = true;
    r.duration_seconds = 0.5;
    r.phase_seconds[PROBE_PHASE_CONNECT] = 0.001;
    r.replies[PROBE_STAGE_GREETING] =
        (struct probe_reply){.code = 220, .cls = SMTP_CLASS_SUCCESS};
    r.n_auth = 1;
    r.auth[0] =
        (struct probe_auth){.mech = SASL_MECH_PLAIN,
                            .reply = {.code = 235, .cls = SMTP_CLASS_SUCCESS}};
    r.tls.present = true;
    strcpy(r.tls.version, "TLSv1.3");
    strcpy(r.tls.cipher, "TLS_AES_128_GCM_SHA256");
    r.tls.valid = true;
    expect_labelled(
        &r, "team\0mail\0note\0a \"b\" \\c\0",
        "# HELP probe_success Whether the probe succeeded: 1 when every "
        "expected reply came, else 0.\n"
        "# TYPE probe_success gauge\n"
        "probe_success{team=\"mail\",note=\"a \\\"b\\\" \\\\c\"} 1\n"
        "# HELP probe_duration_seconds How long the probe took, in "
        "seconds.\n"
        "# TYPE probe_duration_seconds gauge\n"
        "probe_duration_seconds{team=\"mail\",note=\"a \\\"b\\\" "
        "\\\\c\"} 0.5\n"
        "# HELP smtp_probe_phase_duration_seconds Duration of each phase "
        "the probe reached.\n"
        "# TYPE smtp_probe_phase_duration_seconds gauge\n"
        "smtp_probe_phase_duration_seconds{team=\"mail\",note=\"a "
        "\\\"b\\\" \\\\c\",phase=\"connect\"} 0.001\n"
        "# HELP smtp_last_reply_code Final reply code per stage, with its "
        "class: the first reply that was not a success, else the last "
        "one.\n"
        "# TYPE smtp_last_reply_code gauge\n"
        "smtp_last_reply_code{team=\"mail\",note=\"a \\\"b\\\" "
        "\\\\c\",stage=\"greeting\",class=\"success\"} 220\n"
        "# HELP smtp_auth_reply_code Final reply code to AUTH per "
        "configured mechanism, with its class.\n"
        "# TYPE smtp_auth_reply_code gauge\n"
        "smtp_auth_reply_code{team=\"mail\",note=\"a \\\"b\\\" "
        "\\\\c\",mechanism=\"PLAIN\",class=\"success\"} 235\n"
        "# HELP smtp_tls_info TLS version and cipher of the TLS "
        "session.\n"
        "# TYPE smtp_tls_info gauge\n"
        "smtp_tls_info{team=\"mail\",note=\"a \\\"b\\\" \\\\c\","
        "version=\"TLSv1.3\",cipher=\"TLS_AES_128_GCM_SHA256\"} 1\n"
        "# HELP smtp_tls_cert_valid 1 when chain and host name verify, "
        "whether or not enforced.\n"
        "# TYPE smtp_tls_cert_valid gauge\n"
        "smtp_tls_cert_valid{team=\"mail\",note=\"a \\\"b\\\" "
        "\\\\c\"} 1\n");
}

/* More labels than a target can have: refused whole, never cut. */
static void test_too_many_labels(void **state)
{
    (void)state;
    struct probe_result r;
    result_init(&r);
    char many[LABELS_CANON_MAX];
    size_t used = 0;
    for (int i = 0; i <= LABELS_MAX; i++) {
        memcpy(many + used, "a\0b\0", 4);
        many[used] = (char)('a' + i);
        used += 4;
    }
    many[used] = '\0';
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(probe_expo_render(&b, &r, many, NULL), -1);
    buf_reset(&b);
    many[used - 4] = '\0'; /* LABELS_MAX: all of them */
    assert_int_equal(probe_expo_render(&b, &r, many, NULL), 0);
    assert_non_null(strstr(buf_str(&b), "probe_success{a=\"b\",b=\"b\","));
    assert_non_null(strstr(buf_str(&b), ",h=\"b\"} 0\n"));
    buf_free(&b);
}

/* The agent's own failure is no probe of the target: nothing. */
static void test_fault(void **state)
{
    (void)state;
    struct probe_result r;
    result_init(&r);
    r.fault = PROBE_FAULT_MEMORY;
    expect(&r, "");
}

/* A buffer past its limit: -1, never a cut series. */
static void test_limit(void **state)
{
    (void)state;
    struct probe_result r;
    result_init(&r);
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(probe_expo_render(&b, &r, NULL, NULL), -1);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_without_reply),
        cmocka_unit_test(test_target_info),
        cmocka_unit_test(test_auth_failed),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_too_many_labels),
        cmocka_unit_test(test_fault),
        cmocka_unit_test(test_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
