/* test_config: agent.ini parsing, defaults, errors with file:line, secrets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "shard.h"

#define DATA_DIR    TEST_SOURCE_DIR "/tests/unit/data/config"
#define SECRET_FILE DATA_DIR "/secret.txt"
/* The content of secret.txt, and a second secret passed by environment. */
#define SECRET             "Zq9-SECRET-do-not-leak-7741"
#define ENV_SECRET         "Env-SECRET-4242-do-not-leak"
#define SAMPLE_SECRET_PATH "/etc/smtp-health-agent/mx1.secret"

/* A target that makes a text a complete config, for cases about [agent]. */
#define OK_TARGET "[target \"zz\"]\nhost = zz.example.com\n"

/* ---- helpers ---- */

static char *read_whole(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct buf b;
    buf_init(&b, 0);
    char chunk[4096];
    size_t n = fread(chunk, 1, sizeof(chunk), f);
    while (n > 0) {
        assert_int_equal(buf_append(&b, chunk, n), 0);
        n = fread(chunk, 1, sizeof(chunk), f);
    }
    fclose(f);
    return buf_take(&b);
}

/* s with every `from` replaced by `to`; the caller frees. */
static char *replace_all(const char *s, const char *from, const char *to)
{
    struct buf b;
    buf_init(&b, 0);
    size_t fl = strlen(from);
    for (const char *p = strstr(s, from); p; p = strstr(s, from)) {
        assert_int_equal(buf_append(&b, s, (size_t)(p - s)), 0);
        assert_int_equal(buf_puts(&b, to), 0);
        s = p + fl;
    }
    assert_int_equal(buf_puts(&b, s), 0);
    return buf_take(&b);
}

/* True when `line` (without its "\n") is one whole line of text. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(text, line); p; p = strstr(p + 1, line)) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    }
    return false;
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void assert_line(const char *text, const char *line)
{
    if (!has_line(text, line))
        fail_msg("expected line\n  %s\nin\n%s", line, text);
}

static struct agent_config *load(const char *text, struct config_diag *d)
{
    config_diag_init(d);
    return config_load_string("t.ini", text, d);
}

/* Per-test scratch directory for files whose mode or size matters. */
struct scratch {
    char dir[256];
    char paths[16][512];
    size_t n;
};

static int scratch_setup(void **state)
{
    struct scratch *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    snprintf(s->dir, sizeof(s->dir), "/tmp/test_config.XXXXXX");
    if (!mkdtemp(s->dir)) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int scratch_teardown(void **state)
{
    struct scratch *s = *state;
    for (size_t i = 0; i < s->n; i++) {
        unlink(s->paths[i]);
        rmdir(s->paths[i]);
    }
    rmdir(s->dir);
    free(s);
    return 0;
}

static const char *scratch_file(struct scratch *s, const char *name,
                                const void *data, size_t n, mode_t mode)
{
    assert_true(s->n < 16);
    char *path = s->paths[s->n++];
    char tmp[sizeof(s->paths[0])];
    snprintf(tmp, sizeof(tmp), "%s/%s", s->dir, name);
    memcpy(path, tmp, sizeof(tmp));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

/* A target that authenticates with the given secret lines. */
static char *auth_config(const char *secret_lines)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_printf(&b,
                                "[target \"a\"]\nhost = a.example.com\n"
                                "mechanisms = PLAIN\nusername = u\n%s",
                                secret_lines),
                     0);
    return buf_take(&b);
}

/* ---- the sample and the good fixture ---- */

static void test_sample_loads(void **state)
{
    (void)state;
    char *raw = read_whole(TEST_SOURCE_DIR "/config/agent.ini");
    assert_non_null(strstr(raw, SAMPLE_SECRET_PATH));
    char *text = replace_all(raw, SAMPLE_SECRET_PATH, SECRET_FILE);
    struct config_diag d;
    struct agent_config *c = load(text, &d);
    if (!c)
        fail_msg("sample config failed:\n%s", buf_str(&d.errors));
    assert_int_equal(d.n_errors, 0);
    assert_string_equal(buf_str(&d.errors), "");
    assert_int_equal(c->n_targets, 2);
    assert_int_equal(c->n_modules, 1);
    const struct module_config *m = config_find_module(c, "submission");
    assert_non_null(m);
    assert_true(allowlist_match(&m->allowed, "mx9.example.com", 587));
    assert_false(allowlist_match(&m->allowed, "example.com", 587));
    assert_false(allowlist_match(&m->allowed, "192.0.2.9", 25));
    assert_string_equal(c->listen, "127.0.0.1:9925");
    assert_int_equal(c->interval_ms, 60000);
    assert_int_equal(c->timeout_ms, 10000);

    const struct target_config *t = config_find_target(c, "mx1");
    assert_non_null(t);
    assert_string_equal(t->host, "mx1.example.com");
    assert_int_equal(t->port, 587);
    assert_int_equal(t->tls, TLS_MODE_STARTTLS);
    assert_int_equal(t->n_mechs, 2);
    assert_int_equal(t->mechs[0], SASL_MECH_PLAIN);
    assert_int_equal(t->mechs[1], SASL_MECH_CRAM_MD5);
    assert_string_equal(t->server_name, "mx1.example.com");
    assert_string_equal(t->ca_file, CONFIG_DEFAULT_CA_FILE);
    assert_non_null(t->secret);
    assert_string_equal(t->secret, SECRET);
    assert_int_equal(t->interval_ms, 30000);
    assert_int_equal(t->timeout_ms, 5000);

    /* The sample's own extra_metrics: none, the default. */
    assert_int_equal(c->extra_metrics, CONFIG_DEFAULT_EXTRA_METRICS);
    assert_int_equal(t->extra_metrics, 0);
    /* Its labels: mx1's own, none in [agent]. */
    assert_string_equal(c->labels, "");
    assert_memory_equal(t->labels, "team\0mail\0env\0prod\0", 20);
    /* Its refusal checks. */
    assert_true(t->expect_auth_refused);
    assert_true(t->expect_relay_refused);
    assert_string_equal(t->require_ehlo, "PIPELINING SMTPUTF8 SIZE>=10485760");

    t = config_find_target(c, "mx2-smtps");
    assert_non_null(t);
    assert_int_equal(t->extra_metrics, 0);
    assert_string_equal(t->labels, "");
    assert_int_equal(t->port, 465);
    assert_int_equal(t->n_mechs, 0);
    assert_null(t->secret);
    config_free(c);
    config_diag_free(&d);
    free(text);
    free(raw);
}

/* Every key the sample documents is a key the parser knows, and the other
 * way round: a key added to one and not the other fails here. */
static void test_sample_documents_every_key(void **state)
{
    (void)state;
    static const char *const keys[] = {
        "listen",
        "interval",
        "timeout",
        "max_concurrent_probes",
        "max_per_host",
        "ca_file",
        "log_level",
        "log_format",
        "host",
        "port",
        "tls",
        "tls_verify",
        "server_name",
        "ehlo_name",
        "mechanisms",
        "username",
        "password_file",
        "password_env",
        "password",
        "allow_plaintext_auth",
        "web_tls_cert_file",
        "web_tls_key_file",
        "web_basic_auth_user",
        "web_basic_auth_password_hash",
        "web_basic_auth_users_file",
        "extra_metrics",
        "labels",
        "ip_family",
        "source_address",
        "shard",
        "expect_auth_before_tls",
        "expect_open_relay",
        "require_ehlo",
        "open_relay_rcpt",
    };
    char *raw = read_whole(TEST_SOURCE_DIR "/config/agent.ini");
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char probe[64];
        snprintf(probe, sizeof(probe), "\n%s =", keys[i]);
        char commented[64];
        snprintf(commented, sizeof(commented), "\n;%s =", keys[i]);
        if (!strstr(raw, probe) && !strstr(raw, commented))
            fail_msg("sample config does not show key %s", keys[i]);
    }
    free(raw);
}

static void test_good_file(void **state)
{
    (void)state;
    assert_int_equal(setenv("CONFIG_TEST_TOKEN", ENV_SECRET, 1), 0);
    struct config_diag d;
    config_diag_init(&d);
    struct agent_config *c = config_load(DATA_DIR "/good.ini", &d);
    if (!c)
        fail_msg("good.ini failed:\n%s", buf_str(&d.errors));
    assert_string_equal(c->path, DATA_DIR "/good.ini");
    assert_string_equal(c->listen, "[::]:9925");
    assert_int_equal(c->interval_ms, 90000);
    assert_int_equal(c->timeout_ms, 20000);
    assert_int_equal(c->max_concurrent_probes, 1000);
    assert_int_equal(c->max_per_host, 2);
    assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
    assert_int_equal(c->log_format, LOG_FORMAT_JSON);
    assert_int_equal(c->n_targets, 3);

    const struct target_config *t = &c->targets[0];
    assert_string_equal(t->name, "mx1");
    assert_int_equal(t->line, 4);
    assert_int_equal(t->port, 2587);
    assert_false(t->tls_verify);
    assert_string_equal(t->ca_file, DATA_DIR "/private-ca.pem");
    assert_string_equal(t->server_name, "mail.example.com");
    assert_string_equal(t->ehlo_name, "probe.example.net");
    assert_int_equal(t->n_mechs, 3);
    assert_int_equal(t->mechs[0], SASL_MECH_PLAIN);
    assert_int_equal(t->mechs[1], SASL_MECH_CRAM_MD5);
    assert_int_equal(t->mechs[2], SASL_MECH_LOGIN);
    assert_string_equal(t->username, "monitor@example.com");
    assert_int_equal(t->secret_len, strlen(SECRET));
    assert_memory_equal(t->secret, SECRET, strlen(SECRET));
    assert_false(t->allow_plaintext_auth);
    assert_int_equal(t->interval_ms, 120000);
    assert_int_equal(t->timeout_ms, 1500);

    t = config_find_target(c, "smtps.2");
    assert_non_null(t);
    assert_int_equal(t->line, 19);
    assert_string_equal(t->host, "192.0.2.25");
    assert_int_equal(t->port, 465);
    assert_int_equal(t->tls, TLS_MODE_IMPLICIT);
    assert_true(t->tls_verify);
    assert_string_equal(t->ca_file, "/etc/ssl/certs/ca-certificates.crt");
    assert_string_equal(t->server_name, "192.0.2.25");
    /* [agent] comes after this target in the file and still applies. */
    assert_int_equal(t->interval_ms, 90000);
    assert_int_equal(t->timeout_ms, 20000);

    t = config_find_target(c, "plain:25");
    assert_non_null(t);
    assert_string_equal(t->host, "2001:db8::25");
    assert_int_equal(t->port, 25);
    assert_int_equal(t->tls, TLS_MODE_NONE);
    assert_string_equal(t->ehlo_name, "[IPv6:2001:db8::1]");
    assert_int_equal(t->n_mechs, 1);
    assert_int_equal(t->mechs[0], SASL_MECH_XOAUTH2);
    assert_true(t->allow_plaintext_auth);
    assert_string_equal(t->secret, ENV_SECRET);

    assert_null(config_find_target(c, "nope"));
    assert_null(config_find_target(c, "mx"));
    config_free(c);
    config_diag_free(&d);
    unsetenv("CONFIG_TEST_TOKEN");
}

static void test_defaults(void **state)
{
    (void)state;
    struct config_diag d;
    struct agent_config *c = load("[target \"a\"]\nhost = a.example.com\n"
                                  "[target \"b\"]\nhost = b\ntls = none\n"
                                  "[target \"c\"]\nhost = c\ntls = implicit\n"
                                  "interval = 5m\n",
                                  &d);
    assert_non_null(c);
    assert_int_equal(d.n_errors, 0);
    assert_int_equal(d.n_warnings, 0);
    assert_string_equal(c->listen, CONFIG_DEFAULT_LISTEN);
    assert_int_equal(c->interval_ms, 60000);
    assert_int_equal(c->timeout_ms, 10000);
    assert_int_equal(c->max_concurrent_probes, 256);
    assert_int_equal(c->max_per_host, 4);
    assert_string_equal(c->ca_file, CONFIG_DEFAULT_CA_FILE);
    assert_int_equal(c->log_level, LOG_LEVEL_INFO);
    assert_int_equal(c->log_format, LOG_FORMAT_LOGFMT);

    const struct target_config *a = &c->targets[0];
    assert_int_equal(a->port, 587);
    assert_int_equal(a->tls, TLS_MODE_STARTTLS);
    assert_true(a->tls_verify);
    assert_false(a->allow_plaintext_auth);
    assert_string_equal(a->ca_file, CONFIG_DEFAULT_CA_FILE);
    assert_string_equal(a->server_name, "a.example.com");
    assert_int_equal(a->n_mechs, 0);
    assert_null(a->secret);
    assert_int_equal(a->interval_ms, 60000);
    assert_int_equal(a->timeout_ms, 10000);
    char host[256] = "";
    if (gethostname(host, sizeof(host)) != 0 || !host[0])
        assert_string_equal(a->ehlo_name, "localhost");
    else if (strcmp(a->ehlo_name, "localhost") != 0)
        assert_string_equal(a->ehlo_name, host);
    assert_int_equal(c->targets[1].port, 25);
    assert_int_equal(c->targets[2].port, 465);
    assert_int_equal(c->targets[2].interval_ms, 300000);
    assert_int_equal(c->targets[2].timeout_ms, 10000);
    config_free(c);
    config_diag_free(&d);

    /* [agent] after the targets; empty values mean the defaults. */
    /* (tls = none: a CA file that does not exist is an error for a
     * target that does TLS.) */
    c = load("[target \"a\"]\nhost = a\ntls = none\nca_file =\ninterval =\n"
             "[agent]\ninterval = 2m\ntimeout = 30s\nca_file = /x/ca.pem\n"
             "listen =\nlog_level =\nlog_format =\n",
             &d);
    assert_non_null(c);
    assert_int_equal(c->targets[0].interval_ms, 120000);
    assert_int_equal(c->targets[0].timeout_ms, 30000);
    assert_string_equal(c->targets[0].ca_file, "/x/ca.pem");
    assert_string_equal(c->listen, CONFIG_DEFAULT_LISTEN);
    assert_int_equal(c->log_level, LOG_LEVEL_INFO);
    assert_int_equal(c->log_format, LOG_FORMAT_LOGFMT);
    config_free(c);
    config_diag_free(&d);
}

/* extra_metrics: [agent]'s list is every target's default; a target's
 * own list replaces it (no union), "none" included; an empty value is
 * the default. */
static void test_extra_metrics(void **state)
{
    (void)state;
    const unsigned db = CONFIG_EXTRA_BIT(CONFIG_EXTRA_DURATION_BUCKETS);
    const unsigned lr = CONFIG_EXTRA_BIT(CONFIG_EXTRA_LAST_REPLY_CODES);
    const unsigned zs = CONFIG_EXTRA_BIT(CONFIG_EXTRA_ZERO_SERIES);
    struct config_diag d;
    struct agent_config *c =
        load("[target \"inherits\"]\nhost = a\n"
             "[target \"own\"]\nhost = b\nextra_metrics = last_reply_codes\n"
             "[target \"off\"]\nhost = c\nextra_metrics = none\n"
             "[target \"empty\"]\nhost = d\nextra_metrics =\n"
             "[agent]\nextra_metrics = zero_series, duration_buckets\n",
             &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_int_equal(d.n_warnings, 0);
    assert_int_equal(c->extra_metrics, zs | db);
    assert_int_equal(config_find_target(c, "inherits")->extra_metrics,
                     zs | db);
    assert_int_equal(config_find_target(c, "own")->extra_metrics, lr);
    assert_int_equal(config_find_target(c, "off")->extra_metrics, 0);
    assert_int_equal(config_find_target(c, "empty")->extra_metrics, zs | db);
    config_free(c);
    config_diag_free(&d);

    /* Without [agent]'s: none. */
    c = load("[target \"a\"]\nhost = a\n[target \"b\"]\nhost = b\n"
             "extra_metrics = ehlo_extensions\n",
             &d);
    assert_non_null(c);
    assert_int_equal(c->extra_metrics, CONFIG_DEFAULT_EXTRA_METRICS);
    assert_int_equal(c->targets[0].extra_metrics, 0);
    assert_int_equal(c->targets[1].extra_metrics,
                     CONFIG_EXTRA_BIT(CONFIG_EXTRA_EHLO_EXTENSIONS));
    config_free(c);
    config_diag_free(&d);
}

/* ip_family and source_address: [agent]'s are every target's default, a
 * target's own replace them; "" is the kernel's choice of address. */
static void test_ip_family_and_source_address(void **state)
{
    (void)state;
    struct config_diag d;
    struct agent_config *c = load("[target \"plain\"]\nhost = a\n", &d);
    assert_non_null(c);
    assert_int_equal(c->ip_family, IP_FAMILY_AUTO);
    assert_string_equal(c->source_address, "");
    assert_int_equal(c->targets[0].ip_family, IP_FAMILY_AUTO);
    assert_string_equal(c->targets[0].source_address, "");
    config_free(c);
    config_diag_free(&d);

    c = load("[agent]\nip_family = ipv4\nsource_address = 127.0.0.2\n"
             "[target \"inherits\"]\nhost = a\n"
             "[target \"v6\"]\nhost = b\nip_family = ipv6\n"
             "source_address = ::1\n"
             "[target \"own-address\"]\nhost = c\n"
             "source_address = 127.0.0.1\n"
             "[target \"empty\"]\nhost = d\nip_family =\n"
             "source_address =\n",
             &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_int_equal(d.n_warnings, 0);
    assert_int_equal(c->ip_family, IP_FAMILY_IPV4);
    assert_string_equal(c->source_address, "127.0.0.2");
    const struct target_config *t = config_find_target(c, "inherits");
    assert_int_equal(t->ip_family, IP_FAMILY_IPV4);
    assert_string_equal(t->source_address, "127.0.0.2");
    t = config_find_target(c, "v6");
    assert_int_equal(t->ip_family, IP_FAMILY_IPV6);
    assert_string_equal(t->source_address, "::1");
    t = config_find_target(c, "own-address");
    assert_int_equal(t->ip_family, IP_FAMILY_IPV4);
    assert_string_equal(t->source_address, "127.0.0.1");
    t = config_find_target(c, "empty");
    assert_int_equal(t->ip_family, IP_FAMILY_IPV4);
    assert_string_equal(t->source_address, "127.0.0.2");
    config_free(c);
    config_diag_free(&d);

    /* auto takes an address of either family. */
    c = load("[target \"a\"]\nhost = a\nsource_address = ::1\n"
             "[target \"b\"]\nhost = b\nip_family = auto\n"
             "source_address = 127.0.0.1\n",
             &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_string_equal(c->targets[0].source_address, "::1");
    assert_int_equal(c->targets[1].ip_family, IP_FAMILY_AUTO);
    config_free(c);
    config_diag_free(&d);

    /* A host that is an address of the other family loads (the probe
     * fails with error connect), warned about at its line. */
    c = load("[target \"a\"]\nhost = 127.0.0.1\nip_family = ipv6\n"
             "[target \"b\"]\nhost = ::1\nsource_address = 127.0.0.1\n"
             "[target \"c\"]\nhost = ::1\nip_family = ipv6\n"
             "[target \"d\"]\nhost = localhost\nip_family = ipv6\n",
             &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_int_equal(d.n_warnings, 2);
    assert_line(
        buf_str(&d.warnings),
        "t.ini:2: host: warning: 127.0.0.1 is an IPv4 address, but ip_family "
        "is ipv6: no probe can connect");
    assert_line(
        buf_str(&d.warnings),
        "t.ini:5: host: warning: ::1 is an IPv6 address, but source_address "
        "127.0.0.1 is not: no probe can connect");
    config_free(c);
    config_diag_free(&d);

    /* One mistake, one message: a refused family is not compared again. */
    c = load("[agent]\nsource_address = 127.0.0.1\n"
             "[target \"a\"]\nhost = a\nip_family = ipv7\n",
             &d);
    assert_null(c);
    assert_int_equal(d.n_errors, 1);
    assert_line(buf_str(&d.errors),
                "t.ini:5: ip_family: must be auto, ipv4 or ipv6, not "
                "\"ipv7\"");
    config_diag_free(&d);
}

/* labels: [agent]'s are every target's default; a target's replace them
 * (none: no labels there); the order is the file's; one copy of
 * [agent]'s serves every target that sets none. */
static void test_labels(void **state)
{
    (void)state;
    struct config_diag d;
    struct agent_config *c =
        load("[target \"inherits\"]\nhost = a\n"
             "[target \"own\"]\nhost = b\n"
             "labels = team=mail note=\"on call: \\\"mail\\\"\" zone=eu\n"
             "[target \"off\"]\nhost = c\nlabels = none\n"
             "[target \"empty\"]\nhost = d\nlabels =\n"
             "[target \"inherits2\"]\nhost = e\n"
             "[agent]\nlabels = env=prod team=platform\n",
             &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_int_equal(d.n_warnings, 0);
    static const char agent[] = "env\0prod\0team\0platform\0";
    assert_memory_equal(c->labels, agent, sizeof(agent));
    const struct target_config *t = config_find_target(c, "inherits");
    assert_ptr_equal(t->labels, c->labels);
    assert_ptr_equal(config_find_target(c, "inherits2")->labels, c->labels);
    assert_ptr_equal(config_find_target(c, "empty")->labels, c->labels);
    static const char own[] =
        "team\0mail\0note\0on call: \"mail\"\0zone\0eu\0";
    assert_memory_equal(config_find_target(c, "own")->labels, own,
                        sizeof(own));
    assert_string_equal(config_find_target(c, "off")->labels, "");
    config_free(c);
    config_diag_free(&d);

    /* Without [agent]'s: none. */
    c = load("[target \"a\"]\nhost = a\n", &d);
    assert_non_null(c);
    assert_string_equal(c->labels, "");
    assert_string_equal(c->targets[0].labels, "");
    config_free(c);
    config_diag_free(&d);
}

/* ---- errors, one kind at a time ---- */

struct error_case {
    const char *text;
    bool add_target; /* append OK_TARGET so "no targets" does not fire */
    size_t n_errors;
    const char *lines[4];
};

/* bcrypt of "pw" (Python's crypt, METHOD_BLOWFISH, cost 4). */
#define HASH_PW "$2b$04$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8qjVjbAEHxph4/Rmpq"
#define BCRYPT_MSG                                                            \
    "must be a bcrypt hash like $2y$10$ and 53 more characters (make one "    \
    "with htpasswd -nBC 10 USER); other hash types are not supported"

#define EXTRA_WORDS                                                           \
    "valid: none, or one or more of duration_buckets, ehlo_extensions, "      \
    "last_reply_codes, zero_series, cert_details separated by commas"

#define SOURCE_MSG                                                            \
    "must be an IPv4 or IPv6 address of this machine (IPv6 without "          \
    "brackets; not a host or interface name), not "

#define RESERVED_NAMES                                                        \
    "target, phase, stage, error, code, class, mechanism, keyword, version, " \
    "cipher, host, port, tls, tls_verify, reason, resource, libcurl, "        \
    "openssl, libmicrohttpd, shard, shards, state, targets_file, le, "        \
    "quantile, job, instance, fingerprint_sha256, subject, issuer, serial, "  \
    "check"

static const struct error_case error_cases[] = {
    /* labels, in [agent] and in a [target]: each refusal */
    {"[agent]\nlabels = team\n",
     true,
     1,
     {"t.ini:2: labels: \"team\" is not name=value; write none, or labels "
      "like team=mail note=\"a value with spaces\" separated by spaces"}},
    {"[target \"a\"]\nhost = a\nlabels = 1team=x\n",
     false,
     1,
     {"t.ini:3: labels: label name \"1team\" must match "
      "[a-zA-Z_][a-zA-Z0-9_]*"}},
    {"[target \"a\"]\nhost = a\nlabels = "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=x\n",
     false,
     1,
     {"t.ini:3: labels: label name "
      "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" "
      "is longer than 64 characters"}},
    {"[target \"a\"]\nhost = a\nlabels = __name__=x\n",
     false,
     1,
     {"t.ini:3: labels: label name \"__name__\": names starting with __ are "
      "reserved for Prometheus"}},
    {"[target \"a\"]\nhost = a\nlabels = team=mail stage=x\n",
     false,
     1,
     {"t.ini:3: labels: label name \"stage\" is reserved; the agent and "
      "Prometheus use " RESERVED_NAMES}},
    {"[agent]\nlabels = instance=x\n",
     true,
     1,
     {"t.ini:2: labels: label name \"instance\" is reserved; the agent and "
      "Prometheus use " RESERVED_NAMES}},
    {"[target \"a\"]\nhost = a\nlabels = team=a team=b\n",
     false,
     1,
     {"t.ini:3: labels: label \"team\" is given twice"}},
    {"[target \"a\"]\nhost = a\nlabels = team=\"\"\n",
     false,
     1,
     {"t.ini:3: labels: label \"team\" has an empty value (to Prometheus an "
      "empty label is no label)"}},
    {"[target \"a\"]\nhost = a\nlabels = "
     "v="
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
     false,
     1,
     {"t.ini:3: labels: the value of label \"v\" is longer than 128 bytes"}},
    {"[target \"a\"]\nhost = a\nlabels = v=\xC3(\n",
     false,
     1,
     {"t.ini:3: labels: the value of label \"v\" is not valid UTF-8"}},
    {"[target \"a\"]\nhost = a\nlabels = v=\"a\tb\"\n",
     false,
     1,
     {"t.ini:3: labels: the value of label \"v\" holds a control character "
      "(a tab, say)"}},
    /* inih takes " ;" for a comment: the quote is cut off. */
    {"[target \"a\"]\nhost = a\nlabels = v=\"a ;b\"\n",
     false,
     1,
     {"t.ini:3: labels: the value of label \"v\" has no closing double "
      "quote (a \" ;\" in it starts a comment)"}},
    {"[target \"a\"]\nhost = a\nlabels = v=\"a\\tb\"\n",
     false,
     1,
     {"t.ini:3: labels: the value of label \"v\": in double quotes only \\\" "
      "and \\\\ are escapes"}},
    {"[target \"a\"]\nhost = a\nlabels = v=a\"b\n",
     false,
     1,
     {"t.ini:3: labels: the value of label \"v\" holds a double quote; put "
      "the whole value in double quotes and write it \\\""}},
    {"[target \"a\"]\nhost = a\nlabels = v=\"a\"b\n",
     false,
     1,
     {"t.ini:3: labels: text right after the closing quote of label \"v\"; "
      "separate labels with spaces"}},
    {"[target \"a\"]\nhost = a\nlabels = a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 "
     "i=9\n",
     false,
     1,
     {"t.ini:3: labels: more than 8 labels (at \"i=9\")"}},
    {"[target \"a\"]\nhost = a\nlabels = none team=mail\n",
     false,
     1,
     {"t.ini:3: labels: none cannot be listed with labels, not \"none "
      "team=mail\""}},
    {"[target \"a\"]\nhost = a\nlabels = a=1\nlabels = b=2\n",
     false,
     1,
     {"t.ini:4: labels: duplicate key (first on line 3)"}},
    /* ip_family and source_address, in [agent] and in a [target] */
    {"[agent]\nip_family = inet6\n",
     true,
     1,
     {"t.ini:2: ip_family: must be auto, ipv4 or ipv6, not \"inet6\""}},
    {"[target \"a\"]\nhost = a\nip_family = IPv4\n",
     false,
     1,
     {"t.ini:3: ip_family: must be auto, ipv4 or ipv6, not \"IPv4\""}},
    {"[agent]\nsource_address = eth0\n",
     true,
     1,
     {"t.ini:2: source_address: " SOURCE_MSG "\"eth0\""}},
    {"[target \"a\"]\nhost = a\nsource_address = localhost\n",
     false,
     1,
     {"t.ini:3: source_address: " SOURCE_MSG "\"localhost\""}},
    {"[target \"a\"]\nhost = a\nsource_address = [::1]\n",
     false,
     1,
     {"t.ini:3: source_address: " SOURCE_MSG "\"[::1]\""}},
    {"[target \"a\"]\nhost = a\nsource_address = host!127.0.0.1\n",
     false,
     1,
     {"t.ini:3: source_address: " SOURCE_MSG "\"host!127.0.0.1\""}},
    /* The wrong family: both in [agent] */
    {"[agent]\nip_family = ipv6\nsource_address = 127.0.0.1\n",
     true,
     1,
     {"t.ini:3: source_address: 127.0.0.1 is an IPv4 address, but "
      "ip_family is ipv6 (line 2)"}},
    /* both in the target, either order */
    {"[target \"a\"]\nhost = a\nsource_address = ::1\nip_family = ipv4\n",
     false,
     1,
     {"t.ini:3: source_address: ::1 is an IPv6 address, but ip_family is "
      "ipv4 (line 4)"}},
    /* the target's address against [agent]'s family */
    {"[agent]\nip_family = ipv4\n"
     "[target \"a\"]\nhost = a\nsource_address = ::1\n",
     false,
     1,
     {"t.ini:5: source_address: ::1 is an IPv6 address, but ip_family is "
      "ipv4 (from [agent], line 2)"}},
    /* the target's family against [agent]'s address */
    {"[agent]\nsource_address = 127.0.0.1\n"
     "[target \"a\"]\nhost = a\nip_family = ipv6\n",
     false,
     1,
     {"t.ini:5: ip_family: ipv6 does not fit source_address 127.0.0.1 "
      "(from [agent], line 2), an IPv4 address; give this target a "
      "source_address of its own"}},
    /* shard = I/N */
    {"[agent]\nshard = 3/3\n",
     true,
     1,
     {"t.ini:2: shard: the shard I must be below the number of shards N (0 "
      "to N-1), not \"3/3\""}},
    {"[agent]\nlog_level = info\nshard = 1/0\n",
     true,
     1,
     {"t.ini:3: shard: the number of shards N must be from 1 to 65535, not "
      "\"1/0\""}},
    {"[agent]\nshard = x\n",
     true,
     1,
     {"t.ini:2: shard: must be I/N, this agent's shard I (0 to N-1) of N "
      "agents, like 0/3, not \"x\""}},
    {"[agent]\nshard = -1/2\n",
     true,
     1,
     {"t.ini:2: shard: must be I/N, this agent's shard I (0 to N-1) of N "
      "agents, like 0/3, not \"-1/2\""}},
    {"[agent]\nshard = 0/3\nshard = 1/3\n",
     true,
     1,
     {"t.ini:3: shard: duplicate key (first on line 2)"}},
    {"[target \"a\"]\nhost = a\nshard = 0/3\n",
     false,
     1,
     {"t.ini:3: shard: only allowed in [agent]"}},
    /* A target of another shard is checked all the same: host-1.example:25
     * is in shard 2 of 3. */
    {"[agent]\nshard = 0/3\n[target \"h1\"]\nhost = host-1.example\n"
     "port = 25\ntls = bogus\n",
     true,
     1,
     {"t.ini:6: tls: must be starttls, implicit or none, not \"bogus\""}},
    /* extra_metrics, in [agent] and in a [target] */
    {"[agent]\nlog_level = info\nextra_metrics = zero_series, buckets\n",
     true,
     1,
     {"t.ini:3: extra_metrics: unknown word \"buckets\"; " EXTRA_WORDS}},
    {"[target \"a\"]\nhost = a\nextra_metrics = ZERO_SERIES\n",
     false,
     1,
     {"t.ini:3: extra_metrics: unknown word \"ZERO_SERIES\"; " EXTRA_WORDS}},
    {"[target \"a\"]\nhost = a\nextra_metrics = zero_series,\n",
     false,
     1,
     {"t.ini:3: extra_metrics: empty word in \"zero_series,\"; " EXTRA_WORDS}},
    {"[agent]\nextra_metrics = last_reply_codes,last_reply_codes\n",
     true,
     1,
     {"t.ini:2: extra_metrics: last_reply_codes is listed twice"}},
    {"[agent]\nextra_metrics = none, zero_series\n",
     true,
     1,
     {"t.ini:2: extra_metrics: none cannot be listed with other words, not "
      "\"none, zero_series\""}},
    /* [agent] web_* keys */
    {"[agent]\nweb_tls_cert_file = /nonexistent/c.pem\n",
     true,
     1,
     {"t.ini:2: web_tls_key_file: required with web_tls_cert_file: HTTPS "
      "needs the certificate and its key"}},
    {"[agent]\nlog_level = info\nweb_tls_key_file = /nonexistent/k.pem\n",
     true,
     1,
     {"t.ini:3: web_tls_cert_file: required with web_tls_key_file: HTTPS "
      "needs the certificate and its key"}},
    {"[agent]\nweb_tls_cert_file = /nonexistent/c.pem\n"
     "web_tls_key_file = /nonexistent/k.pem\n",
     true,
     2,
     {"t.ini:2: web_tls_cert_file: cannot read /nonexistent/c.pem: No such "
      "file or directory",
      "t.ini:3: web_tls_key_file: cannot read /nonexistent/k.pem: No such "
      "file or directory"}},
    {"[agent]\nweb_tls_cert_file = /\nweb_tls_key_file = /\n",
     true,
     2,
     {"t.ini:2: web_tls_cert_file: / is not a regular file",
      "t.ini:3: web_tls_key_file: / is not a regular file"}},
    {"[agent]\nweb_basic_auth_user = prometheus\n",
     true,
     1,
     {"t.ini:2: web_basic_auth_password_hash: required with "
      "web_basic_auth_user"}},
    {"[agent]\nweb_basic_auth_password_hash = " HASH_PW "\n",
     true,
     1,
     {"t.ini:2: web_basic_auth_user: required with "
      "web_basic_auth_password_hash"}},
    /* A password where the hash belongs is refused and never echoed. */
    {"[agent]\nweb_basic_auth_user = u\n"
     "web_basic_auth_password_hash = Plain-Pass-123\n",
     true,
     1,
     {"t.ini:3: web_basic_auth_password_hash: " BCRYPT_MSG}},
    {"[agent]\nweb_basic_auth_user = u\n"
     "web_basic_auth_password_hash = $apr1$abc$def\n",
     true,
     1,
     {"t.ini:3: web_basic_auth_password_hash: " BCRYPT_MSG}},
    {"[agent]\nweb_basic_auth_user = u\nweb_basic_auth_password_hash = "
     "$2b$03$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8qjVjbAEHxph4/Rmpq\n",
     true,
     1,
     {"t.ini:3: web_basic_auth_password_hash: " BCRYPT_MSG}},
    {"[agent]\nweb_basic_auth_user = u\nweb_basic_auth_password_hash = "
     "$2x$04$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8qjVjbAEHxph4/Rmpq\n",
     true,
     1,
     {"t.ini:3: web_basic_auth_password_hash: " BCRYPT_MSG}},
    {"[agent]\nweb_basic_auth_user = u\nweb_basic_auth_password_hash = "
     "$2b$04$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8qjVjbAEHxph4/Rmp\n",
     true,
     1,
     {"t.ini:3: web_basic_auth_password_hash: " BCRYPT_MSG}},
    {"[agent]\nweb_basic_auth_user = a:b\n"
     "web_basic_auth_password_hash = " HASH_PW "\n",
     true,
     1,
     {"t.ini:2: web_basic_auth_user: must be 1 to 64 printable ASCII "
      "characters without spaces or ':'"}},
    {"[agent]\nweb_basic_auth_user = u\n"
     "web_basic_auth_password_hash = " HASH_PW "\n"
     "web_basic_auth_users_file = /nonexistent/users\n",
     true,
     1,
     {"t.ini:2: web_basic_auth_user: set either web_basic_auth_users_file "
      "or web_basic_auth_user with web_basic_auth_password_hash, not both"}},
    {"[agent]\nweb_basic_auth_users_file = /nonexistent/users\n",
     true,
     1,
     {"t.ini:2: web_basic_auth_users_file: cannot read /nonexistent/users: "
      "No such file or directory"}},
    {"[target \"a\"]\nhost = a\nweb_basic_auth_user = u\n",
     false,
     1,
     {"t.ini:3: web_basic_auth_user: only allowed in [agent]"}},
    /* [agent] values */
    {"[agent]\ninterval = 0\n",
     true,
     1,
     {"t.ini:2: interval: must be a duration like 250ms, 30s, 5m or 1h, "
      "more than 0 and at most 24h, not \"0\""}},
    {"[agent]\ntimeout = 1.5s\n",
     true,
     1,
     {"t.ini:2: timeout: must be a duration like 250ms, 30s, 5m or 1h, "
      "more than 0 and at most 24h, not \"1.5s\""}},
    {"[agent]\nlisten = 9925\n",
     true,
     1,
     {"t.ini:2: listen: must be HOST:PORT, [IPv6]:PORT or :PORT with a port "
      "from 1 to 65535, not \"9925\""}},
    {"[agent]\nlisten = ::1:9925\n",
     true,
     1,
     {"t.ini:2: listen: must be HOST:PORT, [IPv6]:PORT or :PORT with a port "
      "from 1 to 65535, not \"::1:9925\""}},
    {"[agent]\nlisten = [::1]9925\n",
     true,
     1,
     {"t.ini:2: listen: must be HOST:PORT, [IPv6]:PORT or :PORT with a port "
      "from 1 to 65535, not \"[::1]9925\""}},
    {"[agent]\nlisten = [zz]:1\n",
     true,
     1,
     {"t.ini:2: listen: must be HOST:PORT, [IPv6]:PORT or :PORT with a port "
      "from 1 to 65535, not \"[zz]:1\""}},
    {"[agent]\nlisten = localhost:0\n",
     true,
     1,
     {"t.ini:2: listen: must be HOST:PORT, [IPv6]:PORT or :PORT with a port "
      "from 1 to 65535, not \"localhost:0\""}},
    {"[agent]\nmax_concurrent_probes = 0\n",
     true,
     1,
     {"t.ini:2: max_concurrent_probes: must be a whole number from 1 to "
      "65535, not \"0\""}},
    {"[agent]\nmax_concurrent_probes = 65536\n",
     true,
     1,
     {"t.ini:2: max_concurrent_probes: must be a whole number from 1 to "
      "65535, not \"65536\""}},
    {"[agent]\nmax_per_host = 1025\n",
     true,
     1,
     {"t.ini:2: max_per_host: must be a whole number from 1 to 1024, not "
      "\"1025\""}},
    {"[agent]\nmax_per_host = -1\n",
     true,
     1,
     {"t.ini:2: max_per_host: must be a whole number from 1 to 1024, not "
      "\"-1\""}},
    {"[agent]\nlog_level = loud\n",
     true,
     1,
     {"t.ini:2: log_level: must be debug, info, warn or error, not "
      "\"loud\""}},
    {"[agent]\nlog_format = JSON\n",
     true,
     1,
     {"t.ini:2: log_format: must be logfmt or json, not \"JSON\""}},
    {"[agent]\ninterval = 30s\ntimeout = 1m\n",
     true,
     1,
     {"t.ini:3: timeout: timeout must not exceed interval (1m > 30s)"}},
    /* One of the two left at its default: the line of the one given, and
     * the message says the other is the default. */
    {"[agent]\ntimeout = 2m\n",
     true,
     1,
     {"t.ini:2: timeout: timeout must not exceed interval (2m > 1m; "
      "interval is the default 1m)"}},
    {"[agent]\ninterval = 5s\n",
     true,
     1,
     {"t.ini:2: interval: timeout must not exceed interval (10s > 5s; "
      "timeout is the default 10s)"}},
    /* A refused value was reported: no comparison with the default. */
    {"[agent]\ninterval = 5s\ntimeout = 5x\n",
     true,
     1,
     {"t.ini:3: timeout: must be a duration like 250ms, 30s, 5m or 1h, more "
      "than 0 and at most 24h, not \"5x\""}},
    /* keys and sections */
    {"[agent]\nfoo = 1\n", true, 1, {"t.ini:2: foo: unknown key"}},
    {"[agent]\nHost = 1\n", true, 1, {"t.ini:2: Host: unknown key"}},
    {"[agent]\nhost = x\n",
     true,
     1,
     {"t.ini:2: host: only allowed in [target \"NAME\"] and [module "
      "\"NAME\"] sections"}},
    {"[target \"a\"]\nhost = a\nlisten = :1\n",
     false,
     1,
     {"t.ini:3: listen: only allowed in [agent]"}},
    {"host = x\n",
     true,
     1,
     {"t.ini:1: host: key outside any section; put it under [agent], "
      "[target \"NAME\"] or [module \"NAME\"]"}},
    {"[agent]\nlog_level = info\nlog_level = debug\n",
     true,
     1,
     {"t.ini:3: log_level: duplicate key (first on line 2)"}},
    {"[agent]\n\n[agent]\ninterval = x\n",
     true,
     1,
     {"t.ini:3: [agent]: duplicate section (first on line 1)"}},
    {"[foo]\nbar = 1\n",
     true,
     1,
     {"t.ini:1: [foo]: unknown section; expected [agent], "
      "[target \"NAME\"] or [module \"NAME\"]"}},
    {"[targets \"a\"]\n",
     true,
     1,
     {"t.ini:1: [targets \"a\"]: unknown section; expected [agent], "
      "[target \"NAME\"] or [module \"NAME\"]"}},
    {"[target mx1]\nhost = a\n",
     false,
     1,
     {"t.ini:1: [target mx1]: expected [target \"NAME\"] with the name in "
      "double quotes"}},
    {"[target \"a b\"]\n",
     false,
     1,
     {"t.ini:1: [target \"a b\"]: target name must be 1 to 64 characters of "
      "A-Z a-z 0-9 _ . : -"}},
    {"[target \"\"]\n",
     false,
     1,
     {"t.ini:1: [target \"\"]: target name must be 1 to 64 characters of "
      "A-Z a-z 0-9 _ . : -"}},
    {"[target \"a\"]\nhost = a\n[target \"a\"]\nhost = b\n",
     false,
     1,
     {"t.ini:3: [target \"a\"]: duplicate target (first on line 1)"}},
    {"[agent\n", true, 1, {"t.ini:1: -: section header without a closing ]"}},
    {"[agent] x\n",
     true,
     1,
     {"t.ini:1: -: text after the ] of a section header"}},
    {"[agent]\nlisten\n",
     true,
     1,
     {"t.ini:2: -: expected \"key = value\", a [section] or a comment"}},
    {"[agent]\nlisten: :9925\n",
     true,
     1,
     {"t.ini:2: -: expected \"key = value\", a [section] or a comment"}},
    {"[agent]\n= 5\n",
     true,
     1,
     {"t.ini:2: -: expected \"key = value\", a [section] or a comment"}},
    {"[agent]\nlog_level = info\n  debug\n",
     true,
     1,
     {"t.ini:3: -: continuation lines are not supported; put the whole "
      "value on one line"}},
    {"[agent]\nlog_level = in\001fo\n",
     true,
     1,
     {"t.ini:2: -: control character 0x01 in the line"}},
    {"[agent]\n\xEF\xBB\xBFlog_level = info\n",
     true,
     1,
     {"t.ini:2: -: expected \"key = value\", a [section] or a comment"}},
    {"; nothing\n[agent]\n",
     false,
     1,
     {"t.ini: no [target \"NAME\"] or [module \"NAME\"] sections and no "
      "targets_file; nothing to probe"}},
    {"",
     false,
     1,
     {"t.ini: no [target \"NAME\"] or [module \"NAME\"] sections and no "
      "targets_file; nothing to probe"}},
    /* [target] values */
    {"[target \"a\"]\nport = 587\n",
     false,
     1,
     {"t.ini:1: host: missing; every target needs a host"}},
    {"[target \"a\"]\nhost =\n",
     false,
     1,
     {"t.ini:2: host: missing; every target needs a host"}},
    {"[target \"a\"]\nhost = a b\n",
     false,
     1,
     {"t.ini:2: host: must be a host name or an IP address (IPv6 without "
      "brackets), not \"a b\""}},
    {"[target \"a\"]\nhost = [::1]\n",
     false,
     1,
     {"t.ini:2: host: must be a host name or an IP address (IPv6 without "
      "brackets), not \"[::1]\""}},
    {"[target \"a\"]\nhost = a\nport = 0\n",
     false,
     1,
     {"t.ini:3: port: must be a whole number from 1 to 65535, not \"0\""}},
    {"[target \"a\"]\nhost = a\nport = 65536\n",
     false,
     1,
     {"t.ini:3: port: must be a whole number from 1 to 65535, not "
      "\"65536\""}},
    {"[target \"a\"]\nhost = a\nport = 25x\n",
     false,
     1,
     {"t.ini:3: port: must be a whole number from 1 to 65535, not \"25x\""}},
    {"[target \"a\"]\nhost = a\ntls = startls\n",
     false,
     1,
     {"t.ini:3: tls: must be starttls, implicit or none, not \"startls\""}},
    {"[target \"a\"]\nhost = a\ntls = STARTTLS\n",
     false,
     1,
     {"t.ini:3: tls: must be starttls, implicit or none, not \"STARTTLS\""}},
    {"[target \"a\"]\nhost = a\ntls_verify = maybe\n",
     false,
     1,
     {"t.ini:3: tls_verify: must be true or false (or yes/no, on/off, 1/0), "
      "not \"maybe\""}},
    {"[target \"a\"]\nhost = a\nallow_plaintext_auth = 2\n",
     false,
     1,
     {"t.ini:3: allow_plaintext_auth: must be true or false (or yes/no, "
      "on/off, 1/0), not \"2\""}},
    {"[target \"a\"]\nhost = a\nserver_name = a/b\n",
     false,
     1,
     {"t.ini:3: server_name: must be a host name or an IP address (IPv6 "
      "without brackets), not \"a/b\""}},
    {"[target \"a\"]\nhost = a\nehlo_name = a/b\n",
     false,
     1,
     {"t.ini:3: ehlo_name: must be a domain name or an address literal like "
      "[192.0.2.1], not \"a/b\""}},
    {"[target \"a\"]\nhost = a\nehlo_name = [300.1.1.1]\n",
     false,
     1,
     {"t.ini:3: ehlo_name: must be a domain name or an address literal like "
      "[192.0.2.1], not \"[300.1.1.1]\""}},
    {"[target \"a\"]\nhost = a\ninterval = 25h\n",
     false,
     1,
     {"t.ini:3: interval: must be a duration like 250ms, 30s, 5m or 1h, "
      "more than 0 and at most 24h, not \"25h\""}},
    {"[target \"a\"]\nhost = a\ninterval = 10s\ntimeout = 20s\n",
     false,
     1,
     {"t.ini:4: timeout: timeout must not exceed interval (20s > 10s)"}},
    /* A target timeout alone against the inherited interval. */
    {"[agent]\ninterval = 1m\n[target \"a\"]\nhost = a\ntimeout = 90s\n",
     false,
     1,
     {"t.ini:5: timeout: timeout must not exceed interval (90s > 1m; "
      "interval 1m comes from [agent] at line 2)"}},
    {"[target \"a\"]\nhost = a\ntimeout = 2m\n",
     false,
     1,
     {"t.ini:3: timeout: timeout must not exceed interval (2m > 1m; "
      "interval is the default 1m)"}},
    /* A target interval alone against the inherited timeout: at the
     * interval's line, the only one the target gave. */
    {"[agent]\ntimeout = 30s\n[target \"a\"]\nhost = a\ninterval = 20s\n",
     false,
     1,
     {"t.ini:5: interval: timeout must not exceed interval (30s > 20s; "
      "timeout 30s comes from [agent] at line 2)"}},
    {"[target \"a\"]\nhost = a\ninterval = 5s\n",
     false,
     1,
     {"t.ini:3: interval: timeout must not exceed interval (10s > 5s; "
      "timeout is the default 10s)"}},
    {"[target \"a\"]\nhost = a\nmechanisms = PLAIN DIGEST-MD5\nusername = u\n"
     "password_env = CONFIG_TEST_PW2\n",
     false,
     1,
     {"t.ini:3: mechanisms: unknown mechanism \"DIGEST-MD5\"; supported: "
      "PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER"}},
    {"[target \"a\"]\nhost = a\nmechanisms = PLAIN,plain\nusername = u\n"
     "password_env = CONFIG_TEST_PW2\n",
     false,
     1,
     {"t.ini:3: mechanisms: PLAIN is listed twice"}},
    {"[target \"a\"]\nhost = a\nmechanisms = PLAIN\n",
     false,
     2,
     {"t.ini:3: username: required when mechanisms is set",
      "t.ini:3: mechanisms: a secret is required: set password_file, "
      "password_env, password, token_file or token_url"}},
    {"[target \"a\"]\nhost = a\nmechanisms = LOGIN\nusername = u\n"
     "password_env = CONFIG_TEST_PW2\npassword = x\n",
     false,
     1,
     {"t.ini:6: password: set only one of password_file, password_env, "
      "password, token_file and token_url; also set: password_env (line "
      "5)"}},
    /* token_file: a bearer token, for the OAuth mechanisms only. */
    {"[target \"a\"]\nhost = a\nmechanisms = XOAUTH2 PLAIN\nusername = u\n"
     "token_file = /nonexistent/token\n",
     false,
     1,
     {"t.ini:5: token_file: a bearer token is for XOAUTH2 and OAUTHBEARER "
      "only, not PLAIN"}},
    {"[target \"a\"]\nhost = a\nmechanisms = OAUTHBEARER\nusername = u\n"
     "token_file = /nonexistent/token\npassword_env = CONFIG_TEST_PW2\n",
     false,
     1,
     {"t.ini:5: token_file: set only one of password_file, password_env, "
      "password, token_file and token_url; also set: password_env (line "
      "6)"}},
    /* token_url: the agent's OAuth2 client. */
    {"[target \"a\"]\nhost = a\nmechanisms = XOAUTH2\nusername = u\n"
     "token_url = http://login.example/token\n",
     false,
     1,
     {"t.ini:5: token_url: must be an https:// URL of at most 512 "
      "characters"}},
    {"[target \"a\"]\nhost = a\nmechanisms = XOAUTH2\nusername = u\n"
     "token_url = https://login.example/token\n",
     false,
     3,
     {"t.ini:5: client_id: required with token_url",
      "t.ini:5: client_secret_file: required with token_url for the "
      "client_credentials grant (or set refresh_token_file for the "
      "refresh_token grant)",
      "t.ini:5: scope: required with token_url for the client_credentials "
      "grant"}},
    {"[target \"a\"]\nhost = a\nmechanisms = XOAUTH2\nusername = u\n"
     "client_id = x\nscope = s\npassword_env = CONFIG_TEST_PW2\n",
     false,
     2,
     {"t.ini:5: client_id: only with token_url (the agent's OAuth2 client)",
      "t.ini:6: scope: only with token_url (the agent's OAuth2 client)"}},
    {"[target \"a\"]\nhost = a\nmechanisms = LOGIN\nusername = u\n"
     "token_url = https://login.example/token\nclient_id = x\n"
     "refresh_token_file = /nonexistent/rt\n",
     false,
     1,
     {"t.ini:5: token_url: a bearer token is for XOAUTH2 and OAUTHBEARER "
      "only, not LOGIN"}},
    {"[target \"a\"]\nhost = a\nmechanisms = OAUTHBEARER\nusername = u\n"
     "token_file = /dev/null\n",
     false,
     1,
     {"t.ini:5: token_file: /dev/null is not a regular file"}},
    {"[target \"a\"]\nhost = a\ntls = none\nmechanisms = LOGIN\nusername = u\n"
     "password_env = CONFIG_TEST_PW2\n",
     false,
     1,
     {"t.ini:4: mechanisms: AUTH over tls = none (line 3) would send the "
      "password in clear; set allow_plaintext_auth = true to allow it"}},
    {"[target \"a\"]\nhost = a\nmechanisms = LOGIN\nusername = u\n"
     "password_env = 1X\n",
     false,
     1,
     {"t.ini:5: password_env: must be the name of an environment variable "
      "([A-Za-z_][A-Za-z0-9_]*, at most 255 characters)"}},
    {"[target \"a\"]\nhost = a\nmechanisms = LOGIN\nusername = u\n"
     "password_env = CONFIG_TEST_SURELY_UNSET\n",
     false,
     1,
     {"t.ini:5: password_env: environment variable CONFIG_TEST_SURELY_UNSET "
      "is not set"}},
    {"[target \"a\"]\nhost = a\nmechanisms = LOGIN\nusername = u\n"
     "password_file = /nonexistent/dir/pw\n",
     false,
     1,
     {"t.ini:5: password_file: cannot read /nonexistent/dir/pw: No such "
      "file or directory"}},
    {"[target \"a\"]\nhost = a\nmechanisms = LOGIN\nusername = u\n"
     "password_file = /\n",
     false,
     1,
     {"t.ini:5: password_file: / is not a regular file"}},
    /* [module "NAME"] */
    {"[module \"m\"]\ntls = none\n",
     true,
     1,
     {"t.ini:1: allowed_targets: missing; every module needs the targets it "
      "may probe, like allowed_targets = *.example.com:587"}},
    {"[module \"m\"]\nallowed_targets =\n",
     true,
     1,
     {"t.ini:2: allowed_targets: missing; every module needs the targets it "
      "may probe, like allowed_targets = *.example.com:587"}},
    {"[module \"m\"]\nallowed_targets = a.example.com *\n",
     true,
     1,
     {"t.ini:2: allowed_targets: pattern \"*\": a bare * would allow every "
      "host; name a domain: *.example.com"}},
    {"[module \"m\"]\nallowed_targets = 192.0.2.7/24\n",
     true,
     1,
     {"t.ini:2: allowed_targets: pattern \"192.0.2.7/24\": the address has "
      "bits set past its prefix length"}},
    {"[module \"m\"]\nallowed_targets = [2001:db8::]/32:0\n",
     true,
     1,
     {"t.ini:2: allowed_targets: pattern \"[2001:db8::]/32:0\": the port "
      "must be 1 to 65535"}},
    {"[module \"m\"]\nallowed_targets = a.example.com\nhost = a\nport = 25\n"
     "interval = 1m\nextra_metrics = none\n",
     true,
     4,
     {"t.ini:3: host: not allowed in [module \"NAME\"] sections: the request "
      "names the host and port (/probe?module=NAME&target=HOST:PORT)",
      "t.ini:4: port: not allowed in [module \"NAME\"] sections: the request "
      "names the host and port (/probe?module=NAME&target=HOST:PORT)",
      "t.ini:5: interval: not allowed in [module \"NAME\"] sections: a module "
      "probes only on request",
      "t.ini:6: extra_metrics: not allowed in [module \"NAME\"] sections; set "
      "it in [agent]"}},
    {"[target \"b\"]\nhost = b\nallowed_targets = a.example.com\n",
     true,
     1,
     {"t.ini:3: allowed_targets: only allowed in [module \"NAME\"] "
      "sections"}},
    {"[agent]\nallowed_targets = a.example.com\n",
     true,
     1,
     {"t.ini:2: allowed_targets: only allowed in [module \"NAME\"] "
      "sections"}},
    {"[module m]\nallowed_targets = a.example.com\n",
     true,
     1,
     {"t.ini:1: [module m]: expected [module \"NAME\"] with the name in "
      "double quotes"}},
    {"[module \"a b\"]\n",
     true,
     1,
     {"t.ini:1: [module \"a b\"]: module name must be 1 to 64 characters of "
      "A-Z a-z 0-9 _ . : -"}},
    {"[module \"m\"]\nallowed_targets = a.example.com\n[module \"m\"]\n"
     "allowed_targets = b.example.com\n",
     true,
     1,
     {"t.ini:3: [module \"m\"]: duplicate module (first on line 1)"}},
    {"[module \"m\"]\nallowed_targets = a.example.com\n"
     "allowed_targets = b.example.com\n",
     true,
     1,
     {"t.ini:3: allowed_targets: duplicate key (first on line 2)"}},
    /* Its other keys are [target]'s, with the same messages. */
    {"[module \"m\"]\nallowed_targets = a.example.com\ntls = bogus\n"
     "timeout = 0s\n",
     true,
     2,
     {"t.ini:3: tls: must be starttls, implicit or none, not \"bogus\"",
      "t.ini:4: timeout: must be a duration like 250ms, 30s, 5m or 1h, more "
      "than 0 and at most 24h, not \"0s\""}},
    {"[module \"m\"]\nallowed_targets = a.example.com\nmechanisms = PLAIN\n",
     true,
     2,
     {"t.ini:3: username: required when mechanisms is set",
      "t.ini:3: mechanisms: a secret is required: set password_file, "
      "password_env, password, token_file or token_url"}},
    {"[module \"m\"]\nallowed_targets = a.example.com\ntls = none\n"
     "mechanisms = LOGIN\nusername = u\npassword_env = CONFIG_TEST_PW2\n",
     true,
     1,
     {"t.ini:4: mechanisms: AUTH over tls = none (line 3) would send the "
      "password in clear; set allow_plaintext_auth = true to allow it"}},
    /* Three sources: the last in the list's order is named, with the
     * lines of the others. */
    {"[module \"m\"]\nallowed_targets = a.example.com\nmechanisms = XOAUTH2\n"
     "username = u\npassword_file = /nonexistent/pw\n"
     "token_url = https://login.example/token\npassword_env = "
     "CONFIG_TEST_PW2\n",
     true,
     1,
     {"t.ini:6: token_url: set only one of password_file, password_env, "
      "password, token_file and token_url; also set: password_file (line "
      "5), password_env (line 7)"}},
    {"[module \"m\"]\nallowed_targets = a.example.com\nip_family = ipv4\n"
     "source_address = ::1\n",
     true,
     1,
     {"t.ini:4: source_address: ::1 is an IPv6 address, but ip_family is "
      "ipv4 (line 3)"}},
    {"[module \"m\"]\nallowed_targets = a.example.com\nwhat = 1\n",
     true,
     1,
     {"t.ini:3: what: unknown key"}},
    /* The refusal checks' keys. */
    {"[target \"c\"]\nhost = c\nexpect_auth_before_tls = yes\n"
     "expect_open_relay = closed\n",
     true,
     2,
     {"t.ini:3: expect_auth_before_tls: must be refused (checked) or "
      "unchecked, not \"yes\"",
      "t.ini:4: expect_open_relay: must be refused (checked) or unchecked, "
      "not \"closed\""}},
    {"[target \"c\"]\nhost = c\ntls = implicit\n"
     "expect_auth_before_tls = refused\n",
     true,
     1,
     {"t.ini:4: expect_auth_before_tls: only for a STARTTLS target (tls = "
      "starttls): there is no \"before TLS\" with tls = implicit"}},
    {"[target \"c\"]\nhost = c\nrequire_ehlo = PIPELINING SIZE>=ten\n",
     true,
     1,
     {"t.ini:3: require_ehlo: \"SIZE>=ten\": SIZE>= takes a whole number "
      "of bytes, like SIZE>=10485760"}},
    {"[target \"c\"]\nhost = c\nrequire_ehlo = PIPE_LINING\n",
     true,
     1,
     {"t.ini:3: require_ehlo: \"PIPE_LINING\" is neither an EHLO keyword "
      "([A-Za-z0-9-], at most 32 characters) nor SIZE>=N"}},
    {"[module \"m\"]\nallowed_targets = a.example.com\n"
     "open_relay_rcpt = nobody\nexpect_open_relay = refused\n",
     true,
     1,
     {"t.ini:3: open_relay_rcpt: must be an address like "
      "someone@example.net (no blanks, <, > or second @; at most 254 "
      "characters), not \"nobody\""}},
};

/* The refusal checks: off by default, each key into its field, a module's
 * too; open_relay_rcpt without its check only warns. */
static void test_refusal_check_keys(void **state)
{
    (void)state;
    struct config_diag d;
    struct agent_config *c =
        load("[target \"a\"]\nhost = a\n"
             "[target \"b\"]\nhost = b\nexpect_auth_before_tls = refused\n"
             "expect_open_relay = refused\n"
             "require_ehlo = PIPELINING, smtputf8 SIZE>=10485760\n"
             "open_relay_rcpt = x@relay-test.example.org\n"
             "[target \"w\"]\nhost = w\nopen_relay_rcpt = y@example.org\n"
             "[module \"m\"]\nallowed_targets = *.example.com\n"
             "expect_open_relay = refused\n",
             &d);
    assert_non_null(c);
    assert_int_equal(d.n_errors, 0);
    assert_non_null(
        strstr(buf_str(&d.warnings),
               "t.ini:11: open_relay_rcpt: warning: has no effect without "
               "expect_open_relay = refused"));
    const struct target_config *a = &c->targets[0], *b = &c->targets[1];
    assert_false(a->expect_auth_refused);
    assert_false(a->expect_relay_refused);
    assert_string_equal(a->require_ehlo, "");
    assert_string_equal(a->open_relay_rcpt,
                        "smtp-health-agent-relay-test@example.net");
    assert_true(b->expect_auth_refused);
    assert_true(b->expect_relay_refused);
    assert_string_equal(b->require_ehlo,
                        "PIPELINING, smtputf8 SIZE>=10485760");
    assert_string_equal(b->open_relay_rcpt, "x@relay-test.example.org");
    assert_true(c->modules[0].probe.expect_relay_refused);
    config_free(c);
    config_diag_free(&d);
}

static void test_errors_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *ec = &error_cases[i];
        struct buf full;
        buf_init(&full, 0);
        assert_int_equal(buf_puts(&full, ec->text), 0);
        if (ec->add_target)
            assert_int_equal(buf_puts(&full, OK_TARGET), 0);
        struct config_diag d;
        struct agent_config *c = load(buf_str(&full), &d);
        if (c || d.n_errors != ec->n_errors)
            fail_msg("case %zu: %zu errors, expected %zu:\n%s", i, d.n_errors,
                     ec->n_errors, buf_str(&d.errors));
        assert_int_equal(count_lines(buf_str(&d.errors)), ec->n_errors);
        for (size_t j = 0; j < 4 && ec->lines[j]; j++) {
            if (!has_line(buf_str(&d.errors), ec->lines[j]))
                fail_msg("case %zu: expected\n  %s\nin\n%s", i, ec->lines[j],
                         buf_str(&d.errors));
        }
        config_diag_free(&d);
        buf_free(&full);
    }
}

static void test_multiple_errors(void **state)
{
    (void)state;
    struct config_diag d;
    config_diag_init(&d);
    const char *f = DATA_DIR "/multi_errors.ini";
    assert_null(config_load(f, &d));
    const char *e = buf_str(&d.errors);
    static const char *const lines[] = {
        ":3: interval: must be a duration like 250ms, 30s, 5m or 1h, more "
        "than 0 and at most 24h, not \"5x\"",
        ":4: log_level: must be debug, info, warn or error, not \"loud\"",
        ":5: colour: unknown key",
        ":8: port: must be a whole number from 1 to 65535, not \"0\"",
        ":9: tls: must be starttls, implicit or none, not \"startls\"",
        ":10: mechanisms: unknown mechanism \"DIGEST-MD5\"; supported: PLAIN, "
        "LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER",
        ":12: [target \"mx1\"]: duplicate target (first on line 7)",
        ":15: [target \"bad name\"]: target name must be 1 to 64 characters "
        "of A-Z a-z 0-9 _ . : -",
        ":16: -: expected \"key = value\", a [section] or a comment",
        ":7: host: missing; every target needs a host",
        ":10: username: required when mechanisms is set",
        ":10: mechanisms: a secret is required: set password_file, "
        "password_env, password, token_file or token_url",
    };
    size_t n = sizeof(lines) / sizeof(lines[0]);
    for (size_t i = 0; i < n; i++) {
        char want[512];
        snprintf(want, sizeof(want), "%s%s", f, lines[i]);
        assert_line(e, want);
    }
    assert_int_equal(d.n_errors, n);
    assert_int_equal(count_lines(e), n);
    config_diag_free(&d);
}

static void test_too_many_errors(void **state)
{
    (void)state;
    struct buf text;
    buf_init(&text, 0);
    assert_int_equal(buf_puts(&text, "[agent]\n"), 0);
    for (int i = 0; i < 150; i++)
        assert_int_equal(buf_printf(&text, "bad%d = 1\n", i), 0);
    assert_int_equal(buf_puts(&text, OK_TARGET), 0);
    struct config_diag d;
    assert_null(load(buf_str(&text), &d));
    assert_int_equal(d.n_errors, 150);
    /* 100 spelled out, then one line saying how many more. */
    assert_int_equal(count_lines(buf_str(&d.errors)), 101);
    assert_line(buf_str(&d.errors), "t.ini:101: bad99: unknown key");
    assert_line(buf_str(&d.errors), "t.ini: 50 more errors not shown");
    assert_null(strstr(buf_str(&d.errors), "bad100:"));
    config_diag_free(&d);
    buf_free(&text);
}

static void test_open_fails(void **state)
{
    (void)state;
    struct config_diag d;
    config_diag_init(&d);
    assert_null(config_load("/nonexistent/agent.ini", &d));
    assert_int_equal(d.n_errors, 1);
    assert_string_equal(buf_str(&d.errors),
                        "/nonexistent/agent.ini: cannot open: No such file "
                        "or directory\n");
    assert_null(config_load(DATA_DIR, &d));
    assert_int_equal(d.n_errors, 2);
    assert_line(buf_str(&d.errors), DATA_DIR ": cannot open: Is a directory");
    config_diag_free(&d);
    /* No diag at all is allowed too. */
    assert_null(config_load("/nonexistent/agent.ini", NULL));
}

/* ---- lines: length, continuation, BOM, comments ---- */

static void test_long_lines(void **state)
{
    (void)state;
    char value[301];
    memset(value, 'a', 300);
    value[300] = '\0';
    char text[1024];
    snprintf(text, sizeof(text),
             "[target \"a\"]\nhost = a\nehlo_name = %s\nport = 0\n", value);
    struct config_diag d;
    assert_null(load(text, &d));
    assert_int_equal(d.n_errors, 2);
    assert_line(buf_str(&d.errors),
                "t.ini:3: -: line longer than 199 characters");
    /* The line count stays right after it. */
    assert_line(buf_str(&d.errors), "t.ini:4: port: must be a whole number "
                                    "from 1 to 65535, not \"0\"");
    config_diag_free(&d);

    /* 199 characters fit (with \n or \r\n); 200 do not. */
    for (int len = 198; len <= 201; len++) {
        for (int crlf = 0; crlf < 2; crlf++) {
            char line[256];
            int pre = snprintf(line, sizeof(line), "username = ");
            memset(line + pre, 'u', (size_t)(len - pre));
            line[len] = '\0';
            snprintf(text, sizeof(text), "[target \"a\"]%s\nhost = a\n%s%s",
                     crlf ? "\r" : "", line, crlf ? "\r\n" : "\n");
            struct agent_config *c = load(text, &d);
            if (len <= 199) {
                assert_non_null(c);
                assert_int_equal(strlen(c->targets[0].username),
                                 (size_t)(len - pre));
                assert_int_equal(d.n_warnings, 1); /* no mechanisms */
            } else {
                assert_null(c);
                assert_int_equal(d.n_errors, 1);
                assert_line(buf_str(&d.errors),
                            "t.ini:3: -: line longer than 199 characters");
            }
            config_free(c);
            config_diag_free(&d);
        }
    }

    /* Longer than any buffer: one error, and the next line still counts. */
    size_t big = 100000;
    char *huge = malloc(big + 64);
    assert_non_null(huge);
    strcpy(huge, "[agent]\n;");
    memset(huge + 9, 'x', big);
    strcpy(huge + 9 + big, "\nfoo = 1\n" OK_TARGET);
    assert_null(load(huge, &d));
    assert_int_equal(d.n_errors, 2);
    assert_line(buf_str(&d.errors),
                "t.ini:2: -: line longer than 199 characters");
    assert_line(buf_str(&d.errors), "t.ini:3: foo: unknown key");
    config_diag_free(&d);
    free(huge);
}

static void test_indentation_and_continuation(void **state)
{
    (void)state;
    struct config_diag d;
    /* Indented keys are keys, not continuations; indented comments too. */
    struct agent_config *c = load("[target \"a\"]\n    host = a\n"
                                  "\tport = 26\n  ; note\n",
                                  &d);
    assert_non_null(c);
    assert_string_equal(c->targets[0].host, "a");
    assert_int_equal(c->targets[0].port, 26);
    config_free(c);
    config_diag_free(&d);

    /* A value carried on to the next line is refused, not joined. */
    assert_null(
        load("[target \"a\"]\nhost = a\nmechanisms = PLAIN\n"
             "    LOGIN\nusername = u\npassword_env = CONFIG_TEST_PW2\n",
             &d));
    assert_int_equal(d.n_errors, 1);
    assert_line(buf_str(&d.errors),
                "t.ini:4: -: continuation lines are not supported; put the "
                "whole value on one line");
    config_diag_free(&d);

    /* Indented junk right after a section header is a plain syntax error. */
    assert_null(load("[target \"a\"]\n  junk\nhost = a\n", &d));
    assert_line(buf_str(&d.errors), "t.ini:2: -: expected \"key = value\", a "
                                    "[section] or a comment");
    config_diag_free(&d);
}

static void test_bom_and_line_endings(void **state)
{
    (void)state;
    struct config_diag d;
    struct agent_config *c = load("\xEF\xBB\xBF[target \"a\"]\r\nhost = a\r\n"
                                  "port = 2525\r\n",
                                  &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_string_equal(c->targets[0].host, "a");
    assert_int_equal(c->targets[0].port, 2525);
    config_free(c);
    config_diag_free(&d);

    /* A BOM before a key on line 1 is fine as well (then no section). */
    assert_null(load("\xEF\xBB\xBFhost = a\n" OK_TARGET, &d));
    assert_line(buf_str(&d.errors), "t.ini:1: host: key outside any section; "
                                    "put it under [agent], "
                                    "[target \"NAME\"] or [module \"NAME\"]");
    config_diag_free(&d);

    /* No final newline. */
    c = load("[target \"a\"]\nhost = last", &d);
    assert_non_null(c);
    assert_string_equal(c->targets[0].host, "last");
    config_free(c);
    config_diag_free(&d);
}

static void test_comments(void **state)
{
    (void)state;
    struct config_diag d;
    struct agent_config *c = load("; comment\n# comment\n"
                                  "[target \"a\"] ; trailing comment\n"
                                  "host = a.example.com ; the host\n"
                                  "username = semi;colon\n"
                                  "ehlo_name = e.example.com\t; tab before\n"
                                  "tls = none\n"
                                  "ca_file = /x/ca#1.pem\n",
                                  &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    const struct target_config *t = &c->targets[0];
    assert_string_equal(t->host, "a.example.com");
    /* Only " ;" starts a comment: "a;b" is a value. */
    assert_string_equal(t->username, "semi;colon");
    assert_string_equal(t->ehlo_name, "e.example.com");
    assert_string_equal(t->ca_file, "/x/ca#1.pem");
    config_free(c);
    config_diag_free(&d);
}

/* ---- values ---- */

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        uint64_t ms;
    } cases[] = {
        {"250ms", 0, 250},
        {"30s", 0, 30000},
        {"5m", 0, 300000},
        {"1h", 0, 3600000},
        {"10", 0, 10000},
        {"1ms", 0, 1},
        {"24h", 0, 86400000},
        {"1440m", 0, 86400000},
        {"86400", 0, 86400000},
        {"86400000ms", 0, 86400000},
        {"007s", 0, 7000},
        {"86401", -1, 0},
        {"0", -1, 0},
        {"0ms", -1, 0},
        {"-1", -1, 0},
        {"+1s", -1, 0},
        {"1.5s", -1, 0},
        {"25h", -1, 0},
        {"abc", -1, 0},
        {"10x", -1, 0},
        {"10S", -1, 0},
        {"10 s", -1, 0},
        {" 10s", -1, 0},
        {"s", -1, 0},
        {"", -1, 0},
        {"10sms", -1, 0},
        {"99999999999999999999s", -1, 0},
        {"18446744073709551617ms", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ms = 12345;
        int rc = config_parse_duration(cases[i].s, &ms);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, expected %d", cases[i].s, rc,
                     cases[i].rc);
        if (rc == 0)
            assert_int_equal(ms, cases[i].ms);
        else
            assert_int_equal(ms, 12345); /* untouched on error */
    }
    assert_int_equal(config_parse_duration(NULL, &(uint64_t){0}), -1);
}

static void test_bools(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
        bool v;
    } cases[] = {
        {"true", 1, true}, {"false", 1, false},  {"yes", 1, true},
        {"no", 1, false},  {"on", 1, true},      {"off", 1, false},
        {"1", 1, true},    {"0", 1, false},      {"TRUE", 1, true},
        {"Off", 1, false}, {"2", 0, false},      {"tru", 0, false},
        {"y", 0, false},   {"enable", 0, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        /* Start from the opposite of what is expected. */
        snprintf(text, sizeof(text),
                 "[target \"a\"]\nhost = a\ntls_verify = %s\n"
                 "allow_plaintext_auth = %s\n",
                 cases[i].s, cases[i].s);
        struct config_diag d;
        struct agent_config *c = load(text, &d);
        if (cases[i].ok) {
            if (!c)
                fail_msg("\"%s\": %s", cases[i].s, buf_str(&d.errors));
            assert_int_equal(c->targets[0].tls_verify, cases[i].v);
            assert_int_equal(c->targets[0].allow_plaintext_auth, cases[i].v);
        } else {
            assert_null(c);
            assert_int_equal(d.n_errors, 2);
        }
        config_free(c);
        config_diag_free(&d);
    }
}

static void test_listen_and_names(void **state)
{
    (void)state;
    static const char *const good_listen[] = {
        "127.0.0.1:9925", "[::]:9925",   ":9925",
        "localhost:1",    "[::1]:65535", "metrics.example.com:80",
    };
    for (size_t i = 0; i < sizeof(good_listen) / sizeof(good_listen[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "[agent]\nlisten = %s\n" OK_TARGET,
                 good_listen[i]);
        struct config_diag d;
        struct agent_config *c = load(text, &d);
        if (!c)
            fail_msg("%s: %s", good_listen[i], buf_str(&d.errors));
        assert_string_equal(c->listen, good_listen[i]);
        config_free(c);
        config_diag_free(&d);
    }

    /* The longest name fits, one more does not. */
    char name[80];
    memset(name, 'n', 65);
    name[64] = '\0';
    char text[256];
    snprintf(text, sizeof(text), "[target \"%s\"]\nhost = h\n", name);
    struct config_diag d;
    struct agent_config *c = load(text, &d);
    assert_non_null(c);
    assert_string_equal(c->targets[0].name, name);
    assert_non_null(config_find_target(c, name));
    config_free(c);
    config_diag_free(&d);
    name[64] = 'n';
    name[65] = '\0';
    snprintf(text, sizeof(text), "[target \"%s\"]\nhost = h\n", name);
    assert_null(load(text, &d));
    assert_int_equal(d.n_errors, 1);
    config_diag_free(&d);

    c = load("[target \"A-z_0.9:x\"]\nhost = h\n[ target  \"b\" ]\nhost = "
             "h\n",
             &d);
    assert_non_null(c);
    assert_string_equal(c->targets[0].name, "A-z_0.9:x");
    assert_string_equal(c->targets[1].name, "b");
    config_free(c);
    config_diag_free(&d);
}

static void test_mechanisms(void **state)
{
    (void)state;
    struct config_diag d;
    char *text = auth_config("mechanisms =\n");
    /* An empty mechanisms line after another is a duplicate key. */
    assert_null(load(text, &d));
    assert_line(buf_str(&d.errors),
                "t.ini:5: mechanisms: duplicate key (first on line 3)");
    config_diag_free(&d);
    free(text);

    struct agent_config *c = load("[target \"a\"]\nhost = a\n"
                                  "mechanisms = plain, cram-md5,,LOGIN "
                                  "\txoauth2\nusername = u\npassword_env = "
                                  "CONFIG_TEST_PW2\n",
                                  &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    const struct target_config *t = &c->targets[0];
    assert_int_equal(t->n_mechs, 4);
    assert_int_equal(t->mechs[0], SASL_MECH_PLAIN);
    assert_int_equal(t->mechs[1], SASL_MECH_CRAM_MD5);
    assert_int_equal(t->mechs[2], SASL_MECH_LOGIN);
    assert_int_equal(t->mechs[3], SASL_MECH_XOAUTH2);
    config_free(c);
    config_diag_free(&d);

    /* Without mechanisms the auth keys are ignored, with a warning each. */
    c = load("[target \"a\"]\nhost = a\nusername = u\n"
             "password_file = /nonexistent\npassword_env = NOPE_UNSET\n",
             &d);
    assert_non_null(c);
    assert_null(c->targets[0].secret);
    assert_int_equal(d.n_warnings, 3);
    assert_line(buf_str(&d.warnings),
                "t.ini:3: username: warning: ignored: no mechanisms");
    assert_line(buf_str(&d.warnings),
                "t.ini:4: password_file: warning: ignored: no mechanisms");
    assert_line(buf_str(&d.warnings),
                "t.ini:5: password_env: warning: ignored: no mechanisms");
    config_free(c);
    config_diag_free(&d);

    /* The same in a [module], at the key's line. */
    c = load("[module \"m\"]\nallowed_targets = a.example.com\n"
             "username = u\n",
             &d);
    assert_non_null(c);
    assert_int_equal(d.n_warnings, 1);
    assert_line(buf_str(&d.warnings),
                "t.ini:3: username: warning: ignored: no mechanisms");
    config_free(c);
    config_diag_free(&d);

    /* A refused list is one error, not more warnings on top. */
    assert_null(load("[target \"a\"]\nhost = a\nmechanisms = FOO\n"
                     "username = u\n",
                     &d));
    assert_int_equal(d.n_errors, 1);
    assert_int_equal(d.n_warnings, 0);
    config_diag_free(&d);

    /* Plain-text AUTH when asked for it. */
    c = load("[target \"a\"]\nhost = a\ntls = none\nmechanisms = LOGIN\n"
             "username = u\npassword_env = CONFIG_TEST_PW2\n"
             "allow_plaintext_auth = true\n",
             &d);
    assert_non_null(c);
    assert_int_equal(c->targets[0].port, 25);
    config_free(c);
    config_diag_free(&d);
}

/* ---- secrets ---- */

static void test_env_secret(void **state)
{
    (void)state;
    assert_int_equal(setenv("CONFIG_TEST_PW", ENV_SECRET, 1), 0);
    char *text = auth_config("password_env = CONFIG_TEST_PW\n");
    struct config_diag d;
    struct agent_config *c = load(text, &d);
    assert_non_null(c);
    assert_int_equal(d.n_warnings, 0);
    assert_int_equal(c->targets[0].secret_len, strlen(ENV_SECRET));
    assert_string_equal(c->targets[0].secret, ENV_SECRET);
    config_free(c);
    config_diag_free(&d);

    assert_int_equal(setenv("CONFIG_TEST_PW", "", 1), 0);
    assert_null(load(text, &d));
    assert_string_equal(buf_str(&d.errors),
                        "t.ini:5: password_env: environment variable "
                        "CONFIG_TEST_PW is empty\n");
    config_diag_free(&d);

    unsetenv("CONFIG_TEST_PW");
    assert_null(load(text, &d));
    assert_string_equal(buf_str(&d.errors),
                        "t.ini:5: password_env: environment variable "
                        "CONFIG_TEST_PW is not set\n");
    config_diag_free(&d);
    free(text);
}

static void test_inline_password(void **state)
{
    (void)state;
    char *text = auth_config("password = in line pw\n");
    struct config_diag d;
    struct agent_config *c = load(text, &d);
    assert_non_null(c);
    assert_string_equal(c->targets[0].secret, "in line pw");
    assert_int_equal(d.n_warnings, 1);
    assert_string_equal(
        buf_str(&d.warnings),
        "t.ini:5: password: warning: password in the config file; "
        "prefer password_file\n");
    config_free(c);
    config_diag_free(&d);
    free(text);
}

/* An inline password in a config file that others can read is said
 * (group-readable is the usual root:agent 0640 setup). */
static void test_inline_password_file_mode(void **state)
{
    struct scratch *s = *state;
    static const char text[] = "[target \"a\"]\nhost = a\nmechanisms = "
                               "PLAIN\nusername = u\npassword = " SECRET "\n";
    static const mode_t modes[] = {0644, 0640, 0600};
    for (size_t i = 0; i < 3; i++) {
        const char *path =
            scratch_file(s, "agent.ini", text, strlen(text), modes[i]);
        struct config_diag d;
        config_diag_init(&d);
        struct agent_config *c = config_load(path, &d);
        assert_non_null(c);
        char want[800];
        snprintf(
            want, sizeof(want),
            "%s:5: password: warning: %s is readable by others (mode 0644) "
            "and "
            "holds this password; chmod 640 it, or use password_file",
            path, path);
        assert_int_equal(d.n_warnings, i == 0 ? 2 : 1);
        if (i == 0)
            assert_line(buf_str(&d.warnings), want);
        assert_null(strstr(buf_str(&d.warnings), SECRET));
        config_free(c);
        config_diag_free(&d);
        s->n--;
        unlink(path);
    }
}

static void test_password_file(void **state)
{
    struct scratch *s = *state;
    static const struct {
        const char *content;
        size_t len;
        const char *secret; /* NULL: an error */
    } cases[] = {
        {"pw\n", 3, "pw"},
        {"pw\r\n", 4, "pw"},
        {"pw", 2, "pw"},
        {"p w \n", 5, "p w "},
        {"\n", 1, NULL},
        {"", 0, NULL},
        {"a\0b\n", 4, NULL},
        /* One line end only: a second line is refused (it used to become
         * part of the secret). */
        {"pw\n\n", 4, NULL},
    };
    static const char *const errors[] = {
        [4] = "is empty",
        [5] = "is empty",
        [6] = "holds a NUL byte",
        [7] = "holds more than one line; put the secret alone on one line",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path =
            scratch_file(s, "pw", cases[i].content, cases[i].len, 0600);
        char lines[700];
        snprintf(lines, sizeof(lines), "password_file = %s\n", path);
        char *text = auth_config(lines);
        struct config_diag d;
        struct agent_config *c = load(text, &d);
        if (cases[i].secret) {
            if (!c)
                fail_msg("case %zu: %s", i, buf_str(&d.errors));
            assert_int_equal(c->targets[0].secret_len,
                             strlen(cases[i].secret));
            assert_string_equal(c->targets[0].secret, cases[i].secret);
            assert_int_equal(d.n_warnings, 0);
        } else {
            assert_null(c);
            assert_int_equal(d.n_errors, 1);
            char want[700];
            snprintf(want, sizeof(want), "t.ini:5: password_file: %s %s", path,
                     errors[i]);
            assert_line(buf_str(&d.errors), want);
        }
        config_free(c);
        config_diag_free(&d);
        free(text);
        s->n--; /* the same name again */
        unlink(path);
    }

    /* 4096 bytes fit, 4097 do not (a trailing newline is not counted). */
    char big[CONFIG_SECRET_MAX + 2];
    memset(big, 'k', sizeof(big));
    big[CONFIG_SECRET_MAX] = '\n';
    for (int extra = 0; extra < 3; extra++) {
        size_t len = CONFIG_SECRET_MAX + (size_t)extra;
        if (extra == 2)
            big[CONFIG_SECRET_MAX] = 'k';
        const char *path = scratch_file(s, "big", big, len, 0600);
        char lines[700];
        snprintf(lines, sizeof(lines), "password_file = %s\n", path);
        char *text = auth_config(lines);
        struct config_diag d;
        struct agent_config *c = load(text, &d);
        if (extra < 2) {
            assert_non_null(c);
            assert_int_equal(c->targets[0].secret_len, CONFIG_SECRET_MAX);
        } else {
            assert_null(c);
            char want[700];
            snprintf(want, sizeof(want),
                     "t.ini:5: password_file: %s is larger than 4096 bytes",
                     path);
            assert_line(buf_str(&d.errors), want);
        }
        config_free(c);
        config_diag_free(&d);
        free(text);
        s->n--;
        unlink(path);
    }
}

/*
 * A load keeps strings for as long as the config lives, and made copies
 * that lived only while it parsed (a password_file path per target).
 * Each of those, freed between two kept strings, was a hole: 3,517 of
 * them at 10,000 targets, spread over the heap, and the probes'
 * allocations then came from them (strpool.h). Now both kinds come from
 * pools. glibc's count of free chunks (mallinfo2; ASan's allocator
 * reports none, and then this checks nothing) may grow by a few, not by
 * one per target.
 */
/* shard: NULL, or a shard = I/N for [agent]: the secrets of the other
 * shards' targets, read and freed, must not leave a hole each either. */
static void load_without_holes(struct scratch *s, const char *shard)
{
    /* A path of 40 bytes: its copy took a 64-byte chunk. */
    char name[64];
    size_t dir_len = strlen(s->dir);
    size_t pad = dir_len + 1 < 40 ? 40 - dir_len - 1 : 1;
    snprintf(name, sizeof(name), "%.*s", (int)pad,
             "pppppppppppppppppppppppppppppppppppppppp");
    const char *pw = scratch_file(s, name, "pw\n", 3, 0600);
    enum { N = 2000 };
    struct buf b;
    buf_init(&b, 0);
    if (shard)
        assert_int_equal(buf_printf(&b, "[agent]\nshard = %s\n", shard), 0);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(buf_printf(&b,
                                    "[target \"t%05zu\"]\nhost = h%zu.test\n"
                                    "mechanisms = PLAIN\nusername = u%zu\n"
                                    "password_file = %s\n",
                                    i, i, i, pw),
                         0);
    char *text = buf_take(&b);
    struct config_diag d;
    struct mallinfo2 before = mallinfo2();
    struct agent_config *c = load(text, &d);
    struct mallinfo2 after = mallinfo2();
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_int_equal(c->n_targets + c->n_other_shards, N);
    assert_true(shard ? c->n_targets < N / 2 : c->n_targets == N);
    assert_string_equal(c->targets[c->n_targets - 1].secret, "pw");
    size_t free_before = before.ordblks + before.smblks;
    size_t free_after = after.ordblks + after.smblks;
    size_t holes = free_after > free_before ? free_after - free_before : 0;
    if (holes > N / 20)
        fail_msg("%zu more free chunks after loading %d targets", holes, N);
    config_free(c);
    config_diag_free(&d);
    free(text);
}

static void test_load_leaves_no_holes(void **state)
{
    load_without_holes(*state, NULL);
    load_without_holes(*state, "1/3");
}

static void test_password_file_mode(void **state)
{
    struct scratch *s = *state;
    /* The words name the bits that are set: 0640 is readable by the
     * group, not by others (as it said before). other_group: the file's
     * group is not the agent's own (chown, as root); readable by the
     * agent's own group is the packaged setup (root:smtp-health-agent
     * 0640) and no warning. */
    static const struct {
        mode_t mode;
        bool other_group;
        bool warn;
        const char *words;
    } cases[] = {
        {0600, false, false, NULL},
        {0400, false, false, NULL},
        {0700, false, false, NULL},
        {0644, false, true, "readable by others"},
        {0640, true, true, "readable by its group"},
        {0640, false, false, NULL},
        {0440, false, false, NULL},
        {0604, false, true, "readable by others"},
        {0660, true, true, "readable and writable by its group"},
        {0660, false, true, "readable and writable by its group"},
        {0602, false, true, "writable by others"},
        {0646, false, true, "readable and writable by others"},
        {0624, false, true, "readable by others and writable by its group"},
    };
    /* A group that is not ours: nogroup, or root's when we are nogroup. */
    gid_t other = getegid() == 65534 ? 0 : 65534;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path = scratch_file(s, "mode", SECRET "\n",
                                        strlen(SECRET) + 1, cases[i].mode);
        if (cases[i].other_group && chown(path, (uid_t)-1, other) != 0) {
            /* Only root can give a file away: not a case we can make. */
            assert_int_not_equal(geteuid(), 0);
            s->n--;
            unlink(path);
            continue;
        }
        char lines[700];
        snprintf(lines, sizeof(lines), "password_file = %s\n", path);
        char *text = auth_config(lines);
        struct config_diag d;
        struct agent_config *c = load(text, &d);
        /* A warning, not an error: the config still loads. */
        assert_non_null(c);
        assert_string_equal(c->targets[0].secret, SECRET);
        if (cases[i].warn) {
            char want[700];
            snprintf(
                want, sizeof(want),
                "t.ini:5: password_file: warning: %s is %s (mode %04o); chmod "
                "600 it (or 640 with the agent's own group)",
                path, cases[i].words, (unsigned)cases[i].mode);
            assert_int_equal(d.n_warnings, 1);
            assert_line(buf_str(&d.warnings), want);
        } else {
            assert_int_equal(d.n_warnings, 0);
        }
        config_free(c);
        config_diag_free(&d);
        free(text);
        s->n--;
        unlink(path);
    }

    /* A file that fails to load is still warned about: both get fixed. */
    const char *path = scratch_file(s, "mode", "", 0, 0644);
    char lines[700];
    snprintf(lines, sizeof(lines), "password_file = %s\n", path);
    char *text = auth_config(lines);
    struct config_diag d;
    assert_null(load(text, &d));
    char want[700];
    snprintf(want, sizeof(want), "t.ini:5: password_file: %s is empty", path);
    assert_int_equal(d.n_errors, 1);
    assert_line(buf_str(&d.errors), want);
    snprintf(want, sizeof(want),
             "t.ini:5: password_file: warning: %s is readable by others (mode "
             "0644); "
             "chmod 600 it (or 640 with the agent's own group)",
             path);
    assert_int_equal(d.n_warnings, 1);
    assert_line(buf_str(&d.warnings), want);
    config_diag_free(&d);
    free(text);
    s->n--;
    unlink(path);
}

/* Every kind of problem around a secret; the secret never shows. */
static void test_secret_never_in_diag(void **state)
{
    struct scratch *s = *state;
    assert_int_equal(setenv("CONFIG_TEST_LEAK", ENV_SECRET, 1), 0);
    char long_pw[400];
    snprintf(long_pw, sizeof(long_pw), "password = %s%0250d\n", SECRET, 0);
    char too_big[CONFIG_SECRET_MAX + 100] = "";
    while (strlen(too_big) + strlen(SECRET) < sizeof(too_big) - 1)
        strcat(too_big, SECRET);
    const char *big_path =
        scratch_file(s, "big", too_big, strlen(too_big), 0644);
    const char *open_path =
        scratch_file(s, "open", SECRET "\n", strlen(SECRET) + 1, 0666);
    char big_line[700], open_line[700];
    snprintf(big_line, sizeof(big_line), "password_file = %s\n", big_path);
    snprintf(open_line, sizeof(open_line), "password_file = %s\n", open_path);

    const char *const pieces[] = {
        "[agent]\npassword = " SECRET "\n",
        "password = " SECRET "\n",
        "[target \"a\"]\nhost = a\nmechanisms = PLAIN\nusername = u\n"
        "password = " SECRET "\npassword = " SECRET "\n",
        "[target \"a\"]\nhost = a\npassword " SECRET "\n",
        "[target \"a\"]\nhost = a\npassword: " SECRET "\n",
        "[target \"a\"]\nhost = a\nmechanisms = PLAIN\nusername = u\n"
        "password = \"" SECRET "\"\n",
        "[target \"a\"]\nhost = a\npassword = " SECRET "\x01\n",
        "[target \"a\"]\nhost = a\nusername = u\n  " SECRET "\n",
        "[target \"a\"]\nhost = a\nusername = u\n  password = " SECRET "\n",
        "[foo]\npassword = " SECRET "\n",
        "[target \"bad name\"]\npassword = " SECRET "\n",
        "[target \"a\"]\nhost = a\n[target \"a\"]\npassword = " SECRET "\n",
        "[target \"a\"]\nhost = a\nmechanisms = PLAIN\nusername = u\n"
        "tls = none\npassword_file = " SECRET_FILE "\n",
        "[target \"a\"]\nhost = a\nmechanisms = PLAIN\n"
        "password_file = " SECRET_FILE "\npassword_env = CONFIG_TEST_LEAK\n",
        "[target \"a\"]\nhost = a\nmechanisms = PLAIN, BOGUS\n"
        "password_env = CONFIG_TEST_LEAK\ninterval = 1s\ntimeout = 2s\n",
        "[target \"a\"]\nhost = a\npassword_env = CONFIG_TEST_LEAK\n"
        "password = " SECRET "\n",
        "[target \"a\"]\nhost = a\nmechanisms = LOGIN\nusername = u\n"
        "password = " SECRET " ;" SECRET "\nport = 0\n",
        "[target \"a\"]\nhost = a\nmechanisms = LOGIN\nusername = u\n"
        "password = " SECRET "\npassword_file = " SECRET_FILE "\n",
    };
    const char *const file_lines[] = {long_pw, big_line, open_line};
    size_t n_pieces = sizeof(pieces) / sizeof(pieces[0]);
    size_t total = n_pieces + 3;
    for (size_t i = 0; i < total; i++) {
        char *text;
        if (i < n_pieces) {
            text = strdup(pieces[i]);
            assert_non_null(text);
        } else {
            text = auth_config(file_lines[i - n_pieces]);
        }
        struct config_diag d;
        struct agent_config *c = load(text, &d);
        /* Each case did trigger something. */
        if (d.n_errors + d.n_warnings == 0)
            fail_msg("case %zu triggered nothing", i);
        const char *e = buf_str(&d.errors), *w = buf_str(&d.warnings);
        if (strstr(e, SECRET) || strstr(w, SECRET) || strstr(e, ENV_SECRET) ||
            strstr(w, ENV_SECRET) || strstr(e, "Zq9-") || strstr(w, "Zq9-"))
            fail_msg("case %zu leaked the secret", i);
        config_free(c);
        config_diag_free(&d);
        free(text);
    }
    unsetenv("CONFIG_TEST_LEAK");
}

/* ---- robustness ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* NULL with errors, or a config with no errors that keeps its promises. */
static void check_result(struct agent_config *c, const struct config_diag *d)
{
    if (!c) {
        assert_true(d->n_errors > 0);
        return;
    }
    assert_int_equal(d->n_errors, 0);
    assert_true(c->n_targets > 0);
    for (size_t i = 0; i < c->n_targets; i++) {
        const struct target_config *t = &c->targets[i];
        assert_true(t->name[0] != '\0');
        assert_true(t->host[0] != '\0');
        assert_in_range(t->port, 1, 65535);
        assert_true(t->timeout_ms > 0 && t->timeout_ms <= t->interval_ms);
        assert_true(t->interval_ms <= 24ULL * 3600 * 1000);
        assert_in_range(t->n_mechs, 0, CONFIG_MAX_MECHS);
        assert_int_equal(t->secret != NULL, t->n_mechs > 0);
        if (t->secret)
            assert_int_equal(strlen(t->secret), t->secret_len);
        assert_ptr_equal(config_find_target(c, t->name), t);
    }
}

static size_t fuzz_loaded, fuzz_refused;

static void load_and_check(const char *text)
{
    struct config_diag d;
    struct agent_config *c = load(text, &d);
    check_result(c, &d);
    if (c)
        fuzz_loaded++;
    else
        fuzz_refused++;
    config_free(c);
    config_diag_free(&d);
}

static void test_fuzz(void **state)
{
    struct scratch *s = *state;
    char *raw = read_whole(TEST_SOURCE_DIR "/config/agent.ini");
    char *sample = replace_all(raw, SAMPLE_SECRET_PATH, SECRET_FILE);
    free(raw);
    size_t n = strlen(sample);

    /* Every truncation of the sample. */
    char *cut = malloc(n + 1);
    assert_non_null(cut);
    for (size_t len = 0; len <= n; len++) {
        memcpy(cut, sample, len);
        cut[len] = '\0';
        load_and_check(cut);
    }
    /* Random byte changes to the sample, 1 to 4 at a time. */
    for (int i = 0; i < 3000; i++) {
        memcpy(cut, sample, n + 1);
        int changes = 1 + (int)(rng() % 4);
        for (int j = 0; j < changes; j++) {
            char b = (char)(rng() % 255 + 1);
            cut[rng() % n] = b;
        }
        load_and_check(cut);
    }
    free(cut);

    /* Random text built from config-ish pieces and random bytes. */
    static const char *const atoms[] = {
        "[agent]",
        "[target \"",
        "\"]",
        "[",
        "]",
        "=",
        " = ",
        "\n",
        "\r\n",
        " ",
        "\t",
        ";",
        "#",
        "host",
        "port",
        "tls",
        "mechanisms",
        "PLAIN",
        "username",
        "password",
        "password_file",
        SECRET_FILE,
        "interval",
        "timeout",
        "1s",
        "99999999999999999999",
        "none",
        "true",
        "\xEF\xBB\xBF",
        "a",
        ":",
        ",",
        "[::1]:1",
    };
    size_t n_atoms = sizeof(atoms) / sizeof(atoms[0]);
    char text[1024];
    for (int i = 0; i < 3000; i++) {
        size_t len = 0;
        size_t want = rng() % (sizeof(text) - 64);
        while (len < want) {
            const char *a;
            char one[2];
            if (rng() % 4 == 0) {
                one[0] = (char)(rng() % 255 + 1);
                one[1] = '\0';
                a = one;
            } else {
                a = atoms[rng() % n_atoms];
            }
            size_t al = strlen(a);
            if (len + al >= sizeof(text))
                break;
            memcpy(text + len, a, al);
            len += al;
        }
        text[len] = '\0';
        load_and_check(text);
    }

    /* Files with any byte, NUL included (only config_load sees those). */
    for (int i = 0; i < 200; i++) {
        size_t len = rng() % 512;
        unsigned char bytes[512];
        for (size_t j = 0; j < len; j++)
            bytes[j] = (unsigned char)rng();
        if (i % 2 && len > 0)
            memcpy(bytes, "[target \"a\"]\nhost=a\n", len < 20 ? len : 20);
        const char *path = scratch_file(s, "fuzz.ini", bytes, len, 0600);
        struct config_diag d;
        config_diag_init(&d);
        struct agent_config *c = config_load(path, &d);
        check_result(c, &d);
        config_free(c);
        config_diag_free(&d);
        s->n--;
        unlink(path);
    }
    free(sample);
    /* Both outcomes were exercised, valid configs included. */
    assert_true(fuzz_loaded > 100);
    assert_true(fuzz_refused > 100);
}

/* An unreadable CA file is an error (every TLS probe of the target
 * would fail: a setting that cannot work), once per file, on its key's
 * line; a target without TLS needs none. Before, a warning: the check
 * passed and every probe failed. */
static void test_ca_file_unreadable(void **state)
{
    (void)state;
    struct config_diag d;
    struct agent_config *c =
        load("[agent]\nca_file = /nonexistent/agent-ca.pem\n"
             "[target \"a\"]\nhost = a\n"
             "[target \"b\"]\nhost = b\n"
             "[target \"c\"]\nhost = c\nca_file = /nonexistent/c.pem\n"
             "[target \"d\"]\nhost = d\ntls = none\n",
             &d);
    assert_null(c);
    assert_int_equal(d.n_errors, 2);
    assert_int_equal(d.n_warnings, 0);
    assert_string_equal(buf_str(&d.errors),
                        "t.ini:2: ca_file: cannot read "
                        "/nonexistent/agent-ca.pem: No such file or "
                        "directory\n"
                        "t.ini:9: ca_file: cannot read /nonexistent/c.pem: "
                        "No such file or directory\n");
    config_diag_free(&d);

    /* Only targets that do TLS need it. */
    c = load("[agent]\nca_file = /nonexistent/agent-ca.pem\n"
             "[target \"d\"]\nhost = d\ntls = none\n",
             &d);
    assert_non_null(c);
    assert_int_equal(d.n_errors, 0);
    config_free(c);
    config_diag_free(&d);
}

/* A FIFO, a device or a directory where a file is expected: an error at
 * load (so --check-config says it), found at once, never a hang. Before,
 * a FIFO ca_file passed (access() only) and froze the first handshake;
 * a FIFO config file froze the load. The alarm turns a hang into a
 * failure. */
static void test_files_not_regular(void **state)
{
    struct scratch *s = *state;
    char fifo[600];
    snprintf(fifo, sizeof(fifo), "%s/fifo", s->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10);

    char text[2000];
    snprintf(text, sizeof(text),
             "[agent]\nca_file = %s\n"
             "[target \"a\"]\nhost = a\n"
             "[target \"b\"]\nhost = b\nca_file = /dev/null\n"
             "[target \"c\"]\nhost = c\nca_file = /\n"
             "[target \"d\"]\nhost = d\ntls = none\n",
             fifo);
    struct config_diag d;
    assert_null(load(text, &d));
    char want[700];
    snprintf(want, sizeof(want), "t.ini:2: ca_file: %s is not a regular file",
             fifo);
    assert_line(buf_str(&d.errors), want);
    assert_line(buf_str(&d.errors),
                "t.ini:7: ca_file: /dev/null is not a regular file");
    assert_line(buf_str(&d.errors),
                "t.ini:10: ca_file: / is not a regular file");
    assert_int_equal(d.n_errors, 3);
    config_diag_free(&d);

    /* Every other file a config names. */
    snprintf(text, sizeof(text),
             "[agent]\nweb_basic_auth_users_file = %s\n"
             "[target \"a\"]\nhost = a\nmechanisms = PLAIN\nusername = u\n"
             "password_file = %s\n",
             fifo, fifo);
    assert_null(load(text, &d));
    snprintf(want, sizeof(want),
             "t.ini:2: web_basic_auth_users_file: %s is not a regular file",
             fifo);
    assert_line(buf_str(&d.errors), want);
    snprintf(want, sizeof(want),
             "t.ini:7: password_file: %s is not a regular file", fifo);
    assert_line(buf_str(&d.errors), want);
    config_diag_free(&d);

    /* The config file itself, at start and at every SIGHUP. */
    config_diag_init(&d);
    assert_null(config_load(fifo, &d));
    snprintf(want, sizeof(want), "%s: cannot open: not a regular file", fifo);
    assert_line(buf_str(&d.errors), want);
    assert_null(config_load("/dev/zero", &d));
    assert_line(buf_str(&d.errors),
                "/dev/zero: cannot open: not a regular file");
    assert_int_equal(d.n_errors, 2);
    config_diag_free(&d);
    alarm(0);
    unlink(fifo);
}

/*
 * A password file must be the secret alone: a regular file of one line,
 * owned by the agent's user or root. Symlinks are followed (Kubernetes
 * mounts secrets that way), and what they lead to is checked: a link to
 * /etc/shadow or any multi-line file is refused, and nothing of it shows.
 */
static void test_password_file_refused(void **state)
{
    struct scratch *s = *state;
    static const char two_lines[] = "root:" SECRET ":19000:0:99999:7:::\n"
                                    "daemon:*:19000:0:99999:7:::\n";
    const char *multi =
        scratch_file(s, "shadow", two_lines, strlen(two_lines), 0600);
    char link[600], lines[1300], want[1300];
    snprintf(link, sizeof(link), "%s/link", s->dir);
    assert_int_equal(symlink(multi, link), 0);

    const char *paths[] = {multi, link};
    for (size_t i = 0; i < 2; i++) {
        snprintf(lines, sizeof(lines), "password_file = %s\n", paths[i]);
        char *text = auth_config(lines);
        struct config_diag d;
        assert_null(load(text, &d));
        snprintf(want, sizeof(want),
                 "t.ini:5: password_file: %s holds more than one line; put "
                 "the secret alone on one line",
                 paths[i]);
        assert_line(buf_str(&d.errors), want);
        assert_int_equal(d.n_errors, 1);
        assert_null(strstr(buf_str(&d.errors), SECRET));
        assert_null(strstr(buf_str(&d.errors), "daemon"));
        config_diag_free(&d);
        free(text);
    }
    /* A line end inside: "\r" alone too. */
    const char *cr = scratch_file(s, "cr", SECRET "\rmore\n",
                                  strlen(SECRET "\rmore\n"), 0600);
    snprintf(lines, sizeof(lines), "password_file = %s\n", cr);
    char *text = auth_config(lines);
    struct config_diag d;
    assert_null(load(text, &d));
    assert_non_null(strstr(buf_str(&d.errors), "holds more than one line"));
    config_diag_free(&d);
    free(text);

    /* A link to a good file is followed. */
    const char *good =
        scratch_file(s, "good", SECRET "\r\n", strlen(SECRET "\r\n"), 0600);
    assert_int_equal(unlink(link), 0);
    assert_int_equal(symlink(good, link), 0);
    snprintf(lines, sizeof(lines), "password_file = %s\n", link);
    text = auth_config(lines);
    struct agent_config *c = load(text, &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_string_equal(c->targets[0].secret, SECRET);
    config_free(c);
    config_diag_free(&d);
    free(text);

    /* Owned by someone else: only root can make such a file here. */
    if (geteuid() == 0) {
        assert_int_equal(chown(good, 65534, 65534), 0);
        text = auth_config(lines);
        assert_null(load(text, &d));
        snprintf(want, sizeof(want),
                 "t.ini:5: password_file: %s is owned by uid 65534; a "
                 "secret file must belong to the agent's user (uid 0) or "
                 "root",
                 link);
        assert_line(buf_str(&d.errors), want);
        config_diag_free(&d);
        free(text);
    } else {
        print_message("not root: the owner check is tested as root only\n");
    }
    unlink(link);
}

/* ---- the HTTP endpoint's protection ---- */

static void test_web_basic_auth_user(void **state)
{
    (void)state;
    struct config_diag d;
    struct agent_config *c = load("[agent]\n"
                                  "web_basic_auth_user = prometheus\n"
                                  "web_basic_auth_password_hash = "
                                  "$2y$04$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8"
                                  "qjVjbAEHxph4/Rmpq\n" OK_TARGET,
                                  &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_int_equal(c->n_web_users, 1);
    assert_string_equal(c->web_users[0].name, "prometheus");
    assert_string_equal(c->web_users[0].hash,
                        "$2y$04$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8qjVjbAEH"
                        "xph4/Rmpq");
    assert_string_equal(c->web_tls_cert_file, "");
    config_free(c);
    config_diag_free(&d);

    /* Nothing set: no auth, plain HTTP. */
    c = load(OK_TARGET, &d);
    assert_non_null(c);
    assert_int_equal(c->n_web_users, 0);
    assert_null(c->web_users);
    config_free(c);
    config_diag_free(&d);

    /* The refused value is never part of the message. */
    c = load(
        "[agent]\nweb_basic_auth_user = u\n"
        "web_basic_auth_password_hash = Zq9-SECRET-typed-here\n" OK_TARGET,
        &d);
    assert_null(c);
    assert_null(strstr(buf_str(&d.errors), "SECRET"));
    config_diag_free(&d);
}

static char *web_config(const char *lines)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_printf(&b, "[agent]\n%s" OK_TARGET, lines), 0);
    return buf_take(&b);
}

#define PEM_CERT                                                              \
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
#define PEM_KEY                                                               \
    "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"

static void test_web_tls_files(void **state)
{
    struct scratch *s = *state;
    static const struct {
        const char *cert, *key;
        mode_t key_mode;
        const char *error, *warning; /* parts of the message */
    } cases[] = {
        {PEM_CERT, PEM_KEY, 0600, NULL, NULL},
        {PEM_CERT, PEM_KEY, 0640, NULL, NULL},
        {PEM_CERT,
         "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE "
         "KEY-----\n",
         0600, NULL, NULL},
        {PEM_CERT, PEM_KEY, 0644, NULL, "is readable by others (mode 0644)"},
        {PEM_CERT, PEM_KEY, 0660, NULL,
         "is readable and writable by its group (mode 0660)"},
        {PEM_KEY, PEM_KEY, 0600, "holds no PEM certificate", NULL},
        {PEM_CERT, PEM_CERT, 0600, "holds no PEM private key", NULL},
        {PEM_CERT,
         "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END ENCRYPTED "
         "PRIVATE KEY-----\n",
         0600, "is encrypted", NULL},
        {"", PEM_KEY, 0600, "is empty", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *cert = scratch_file(s, "cert.pem", cases[i].cert,
                                        strlen(cases[i].cert), 0644);
        const char *key =
            scratch_file(s, "key.pem", cases[i].key, strlen(cases[i].key),
                         cases[i].key_mode);
        char lines[1200];
        snprintf(lines, sizeof(lines),
                 "web_tls_cert_file = %s\nweb_tls_key_file = %s\n", cert, key);
        char *text = web_config(lines);
        struct config_diag d;
        struct agent_config *c = load(text, &d);
        if (cases[i].error) {
            if (c || !strstr(buf_str(&d.errors), cases[i].error))
                fail_msg("case %zu: %s", i, buf_str(&d.errors));
            /* file:line: key: */
            bool on_cert =
                strstr(cases[i].error, "certificate") || !cases[i].cert[0];
            const char *want = on_cert ? "t.ini:2: web_tls_cert_file: "
                                       : "t.ini:3: web_tls_key_file: ";
            if (strncmp(buf_str(&d.errors), want, strlen(want)) != 0)
                fail_msg("case %zu: %s", i, buf_str(&d.errors));
        } else {
            if (!c)
                fail_msg("case %zu: %s", i, buf_str(&d.errors));
            assert_string_equal(c->web_tls_cert_file, cert);
            assert_string_equal(c->web_tls_key_file, key);
        }
        if (cases[i].warning) {
            assert_non_null(strstr(buf_str(&d.warnings), cases[i].warning));
            assert_true(strncmp(buf_str(&d.warnings),
                                "t.ini:3: web_tls_key_file: warning: ", 36) ==
                        0);
        } else {
            assert_int_equal(d.n_warnings, 0);
        }
        config_free(c);
        config_diag_free(&d);
        free(text);
        unlink(cert);
        unlink(key);
        s->n -= 2;
    }
}

/* Basic auth on an address the network reaches, without HTTPS: a
 * warning at the auth key's line naming the address; loopback or HTTPS:
 * none. */
static void test_web_auth_in_clear_is_warned(void **state)
{
    struct scratch *s = *state;
    static const struct {
        const char *listen; /* NULL: the default, 127.0.0.1:9925 */
        bool warned;
    } cases[] = {
        {NULL, false},
        {"127.0.0.1:9925", false},
        {"127.3.4.5:80", false},
        {"[::1]:9925", false},
        {"localhost:9925", false},
        {"LOCALHOST:1", false},
        {":9925", true},
        {"0.0.0.0:9925", true},
        {"[::]:9925", true},
        {"192.0.2.7:9925", true},
        {"[2001:db8::1]:9925", true},
        {"monitor.example.com:9925", true},
        {"128.0.0.1:9925", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char lines[300] = "";
        if (cases[i].listen)
            snprintf(lines, sizeof(lines), "listen = %s\n", cases[i].listen);
        strcat(lines, "web_basic_auth_user = prometheus\n"
                      "web_basic_auth_password_hash = " HASH_PW "\n");
        char *text = web_config(lines);
        struct config_diag d;
        struct agent_config *c = load(text, &d);
        if (!c)
            fail_msg("case %zu: %s", i, buf_str(&d.errors));
        if (cases[i].warned) {
            char want[200];
            snprintf(want, sizeof(want),
                     "t.ini:3: web_basic_auth_user: warning: listen = %s is "
                     "reachable "
                     "from the network and HTTPS is off",
                     cases[i].listen);
            if (d.n_warnings != 1 ||
                strncmp(buf_str(&d.warnings), want, strlen(want)) != 0)
                fail_msg("case %zu: %s", i, buf_str(&d.warnings));
            assert_non_null(strstr(buf_str(&d.warnings), "web_tls_cert_file"));
        } else if (d.n_warnings != 0) {
            fail_msg("case %zu: %s", i, buf_str(&d.warnings));
        }
        config_free(c);
        config_diag_free(&d);
        free(text);
    }

    /* With HTTPS, or without users, nothing to say. */
    const char *cert =
        scratch_file(s, "cert.pem", PEM_CERT, strlen(PEM_CERT), 0644);
    const char *key =
        scratch_file(s, "key.pem", PEM_KEY, strlen(PEM_KEY), 0600);
    char lines[1200];
    snprintf(lines, sizeof(lines),
             "listen = 0.0.0.0:9925\nweb_tls_cert_file = %s\n"
             "web_tls_key_file = %s\nweb_basic_auth_user = prometheus\n"
             "web_basic_auth_password_hash = " HASH_PW "\n",
             cert, key);
    char *text = web_config(lines);
    struct config_diag d;
    struct agent_config *c = load(text, &d);
    if (!c || d.n_warnings)
        fail_msg("%s%s", buf_str(&d.errors), buf_str(&d.warnings));
    config_free(c);
    config_diag_free(&d);
    free(text);
    text = web_config("listen = 0.0.0.0:9925\n");
    c = load(text, &d);
    assert_non_null(c);
    assert_int_equal(d.n_warnings, 0);
    config_free(c);
    config_diag_free(&d);
    free(text);
    unlink(cert);
    unlink(key);
    s->n -= 2;

    /* A users file is named at its own line. */
    const char *users = "prometheus:" HASH_PW "\n";
    const char *path = scratch_file(s, "users", users, strlen(users), 0644);
    snprintf(lines, sizeof(lines),
             "listen = [::]:9925\nweb_basic_auth_users_file = %s\n", path);
    text = web_config(lines);
    c = load(text, &d);
    assert_non_null(c);
    assert_int_equal(d.n_warnings, 1);
    assert_true(
        strncmp(buf_str(&d.warnings),
                "t.ini:3: web_basic_auth_users_file: warning: listen = "
                "[::]",
                58) == 0);
    config_free(c);
    config_diag_free(&d);
    free(text);
    unlink(path);
    s->n--;
}

static void test_web_users_file(void **state)
{
    struct scratch *s = *state;
    const char *good = "# users of /metrics\n"
                       "prometheus:" HASH_PW "\r\n"
                       "\n"
                       "grafana:$2a$04$ZFrQ2lKo.3bGZr1tXQu6aePhcT6w7MsksFq8qjV"
                       "jbAEHxph4/Rmpq";
    const char *path = scratch_file(s, "users", good, strlen(good), 0644);
    char lines[700];
    snprintf(lines, sizeof(lines), "web_basic_auth_users_file = %s\n", path);
    char *text = web_config(lines);
    struct config_diag d;
    struct agent_config *c = load(text, &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_int_equal(c->n_web_users, 2);
    assert_string_equal(c->web_users[0].name, "prometheus");
    assert_string_equal(c->web_users[0].hash, HASH_PW);
    assert_string_equal(c->web_users[1].name, "grafana");
    assert_int_equal(d.n_warnings, 0);
    config_free(c);
    config_diag_free(&d);
    free(text);
    unlink(path);
    s->n--;

    static const struct {
        const char *content;
        int line;        /* of the users file; 0: about the whole file */
        const char *msg; /* after "t.ini:2: web_basic_auth_users_file: " */
    } cases[] = {
        {"u:" HASH_PW "\nZq9-SECRET-typed-here\n", 2, "expected USER:HASH"},
        {"u:Zq9-SECRET-typed-here\n", 1, "the hash " BCRYPT_MSG},
        {"u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", 1, "the hash " BCRYPT_MSG},
        {"u:" HASH_PW " \n", 1, "the hash " BCRYPT_MSG},
        {":" HASH_PW "\n", 1,
         "the user must be 1 to 64 printable ASCII "
         "characters without spaces or ':'"},
        {"a b:" HASH_PW "\n", 1,
         "the user must be 1 to 64 printable "
         "ASCII characters without spaces or ':'"},
        {"u:" HASH_PW "\nv:" HASH_PW "\nu:" HASH_PW "\n", 3,
         "the user is listed twice"},
        {"# nobody yet\n\n", 0, "holds no users"},
        {"", 0, "is empty"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        path = scratch_file(s, "users", cases[i].content,
                            strlen(cases[i].content), 0600);
        snprintf(lines, sizeof(lines), "web_basic_auth_users_file = %s\n",
                 path);
        text = web_config(lines);
        c = load(text, &d);
        char want[900], msg[800];
        if (cases[i].line)
            snprintf(msg, sizeof(msg), "%s:%d: %s", path, cases[i].line,
                     cases[i].msg);
        else
            snprintf(msg, sizeof(msg), "%s %s", path, cases[i].msg);
        snprintf(want, sizeof(want), "t.ini:2: web_basic_auth_users_file: %s",
                 msg);
        if (c || d.n_errors != 1)
            fail_msg("case %zu: %s", i, buf_str(&d.errors));
        assert_line(buf_str(&d.errors), want);
        assert_null(strstr(buf_str(&d.errors), "SECRET"));
        config_free(c);
        config_diag_free(&d);
        free(text);
        unlink(path);
        s->n--;
    }

    /* At most 256 users. */
    struct buf many;
    buf_init(&many, 0);
    for (int i = 0; i < CONFIG_WEB_USERS_MAX + 1; i++)
        assert_int_equal(buf_printf(&many, "user%d:%s\n", i, HASH_PW), 0);
    path = scratch_file(s, "users", many.data, many.len, 0600);
    snprintf(lines, sizeof(lines), "web_basic_auth_users_file = %s\n", path);
    text = web_config(lines);
    c = load(text, &d);
    assert_null(c);
    char want[800];
    snprintf(want, sizeof(want),
             "t.ini:2: web_basic_auth_users_file: %s:257: more than 256 users",
             path);
    assert_line(buf_str(&d.errors), want);
    config_diag_free(&d);
    free(text);
    buf_free(&many);
    unlink(path);
    s->n--;
}

/* 30 targets: host-N.example on port 25 (tls = none), every fifth an
 * IPv6 literal, every seventh left at its default port, some with a
 * secret; shard = `shard` unless NULL. */
static char *shard_config(const char *shard)
{
    struct buf b;
    buf_init(&b, 0);
    if (shard)
        assert_int_equal(buf_printf(&b, "[agent]\nshard = %s\n", shard), 0);
    for (int i = 0; i < 30; i++) {
        assert_int_equal(buf_printf(&b, "[target \"t%d\"]\n", i), 0);
        if (i % 5 == 4)
            assert_int_equal(buf_printf(&b, "host = 2001:db8::%d\n", i), 0);
        else
            assert_int_equal(buf_printf(&b, "host = host-%d.example\n", i), 0);
        if (i % 7 != 6)
            assert_int_equal(buf_puts(&b, "port = 25\ntls = none\n"), 0);
        if (i % 3 == 0)
            assert_int_equal(buf_puts(&b, "mechanisms = PLAIN\nusername = u\n"
                                          "password_env = CONFIG_TEST_PW2\n"
                                          "allow_plaintext_auth = true\n"),
                             0);
    }
    return buf_take(&b);
}

/* The target's shard of n, from its host and port as resolved. */
static unsigned shard_of_target(const struct target_config *t, unsigned n)
{
    unsigned s = 99;
    assert_int_equal(shard_of(t->host, t->port, n, &s), 0);
    return s;
}

/*
 * shard = I/N keeps the targets whose address hashes to I: the three
 * shards of 3 are disjoint and cover the file; each keeps its targets in
 * file order, with their secrets. Addresses as promtool hashes them:
 * host-0.example:25 is in shard 0 of 3, host-1.example:25 in shard 2,
 * [2001:db8::1]:587 (a default port) in shard 2.
 */
static void test_shard(void **state)
{
    (void)state;
    struct config_diag d;
    char *text = shard_config(NULL);
    struct agent_config *all = load(text, &d);
    free(text);
    if (!all)
        fail_msg("%s", buf_str(&d.errors));
    config_diag_free(&d);
    assert_int_equal(all->n_targets, 30);
    assert_int_equal(all->shard, 0);
    assert_int_equal(all->shards, CONFIG_DEFAULT_SHARDS);
    assert_int_equal(all->n_other_shards, 0);

    int owner[30];
    for (int i = 0; i < 30; i++)
        owner[i] = -1;
    size_t total = 0;
    for (unsigned k = 0; k < 3; k++) {
        char shard[8];
        snprintf(shard, sizeof shard, "%u/3", k);
        text = shard_config(shard);
        struct agent_config *c = load(text, &d);
        free(text);
        if (!c)
            fail_msg("%s: %s", shard, buf_str(&d.errors));
        assert_int_equal(d.n_warnings, 0);
        config_diag_free(&d);
        assert_int_equal(c->shard, k);
        assert_int_equal(c->shards, 3);
        assert_int_equal(c->n_targets + c->n_other_shards, 30);
        assert_true(c->n_targets > 0);
        total += c->n_targets;
        int last = -1;
        for (size_t j = 0; j < c->n_targets; j++) {
            const struct target_config *t = &c->targets[j];
            int i = atoi(t->name + 1);
            assert_true(i > last); /* file order */
            last = i;
            if (owner[i] != -1)
                fail_msg("%s in shards %d and %u", t->name, owner[i], k);
            owner[i] = (int)k;
            assert_int_equal(shard_of_target(t, 3), k);
            /* The same target as without a shard, secret and all. */
            const struct target_config *a = config_find_target(all, t->name);
            assert_string_equal(t->host, a->host);
            assert_int_equal(t->port, a->port);
            assert_int_equal(t->secret_len, a->secret_len);
            if (i % 3 == 0)
                assert_string_equal(t->secret, "pw2");
            else
                assert_null(t->secret);
        }
        config_free(c);
    }
    assert_int_equal(total, 30);
    for (int i = 0; i < 30; i++)
        if (owner[i] < 0)
            fail_msg("t%d in no shard", i);
    config_free(all);

    /* promtool's shards of 3 for these addresses: [2001:db8::1]:587 (the
     * default port of starttls) 2, host-1.example:25 2, host-0.example:25
     * 0, [::1]:25 0. */
    static const char two_of_four[] =
        "[target \"v6\"]\nhost = 2001:db8::1\n"
        "[target \"h0\"]\nhost = host-0.example\nport = 25\n"
        "[target \"h1\"]\nhost = host-1.example\nport = 25\n"
        "[target \"lo\"]\nhost = ::1\nport = 25\n"
        "[agent]\nshard = 2/3\n";
    struct agent_config *c = load(two_of_four, &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_int_equal(c->n_targets, 2);
    assert_string_equal(c->targets[0].name, "v6");
    assert_string_equal(c->targets[1].name, "h1");
    assert_int_equal(c->n_other_shards, 2);
    config_free(c);
    config_diag_free(&d);

    /* 0/1 is every target, as without the key. */
    c = load("[agent]\nshard = 0/1\n" OK_TARGET, &d);
    assert_non_null(c);
    assert_int_equal(c->n_targets, 1);
    assert_int_equal(c->shards, 1);
    assert_int_equal(c->n_other_shards, 0);
    config_free(c);
    config_diag_free(&d);

    /* A shard without targets loads, with a warning. */
    c = load("[agent]\nshard = 1/3\n"
             "[target \"h0\"]\nhost = host-0.example\nport = 25\n",
             &d);
    assert_non_null(c);
    assert_int_equal(c->n_targets, 0);
    assert_int_equal(c->n_other_shards, 1);
    assert_int_equal(d.n_warnings, 1);
    assert_line(
        buf_str(&d.warnings),
        "t.ini:2: shard: warning: none of the 1 targets falls in shard 1/3; "
        "this agent probes nothing");
    config_free(c);
    config_diag_free(&d);
}

static void test_misc(void **state)
{
    (void)state;
    config_free(NULL);
    config_diag_free(NULL);
    assert_string_equal(tls_mode_name(TLS_MODE_STARTTLS), "starttls");
    assert_string_equal(tls_mode_name(TLS_MODE_IMPLICIT), "implicit");
    assert_string_equal(tls_mode_name(TLS_MODE_NONE), "none");
    assert_null(config_find_target(NULL, "a"));

    /* A diag collects over several loads; quotes draw a warning. */
    struct config_diag d;
    config_diag_init(&d);
    assert_null(config_load_string("one.ini", "[agent]\nx = 1\n", &d));
    struct agent_config *c = config_load_string(
        "two.ini", "[target \"a\"]\nhost = a\nusername = \"u\"\n", &d);
    assert_non_null(c);
    assert_string_equal(c->path, "two.ini");
    assert_string_equal(c->targets[0].username, "\"u\"");
    assert_line(buf_str(&d.errors), "one.ini:2: x: unknown key");
    assert_line(
        buf_str(&d.warnings),
        "two.ini:3: username: warning: the quotes are part of the value; "
        "remove them unless they belong there");
    config_free(c);
    config_diag_free(&d);
    assert_null(config_load_string("x", "[agent]\n", NULL));
}

/* [module "NAME"]: a [target]'s settings without its host, resolved
 * the same way, and its allow-list. */
static void test_modules(void **state)
{
    (void)state;
    struct config_diag d;
    setenv("CONFIG_TEST_MODULE_PW", "module-secret", 1);
    struct agent_config *c = load(
        "[agent]\ntimeout = 7s\nip_family = ipv6\nlabels = team=mail\n"
        "[module \"submission\"]\n"
        "allowed_targets = *.example.com:587 192.0.2.0/24 [2001:db8::]/32\n"
        "mechanisms = PLAIN\nusername = probe\n"
        "password_env = CONFIG_TEST_MODULE_PW\n"
        "[module \"mx\"]\ntls = none\ntls_verify = false\n"
        "server_name = mx.example.com\nehlo_name = probe.example.com\n"
        "timeout = 3s\nlabels = role=mx\nip_family = ipv4\n"
        "source_address = 127.0.0.1\nallowed_targets = mx1.example.com:25\n"
        "[module \"inline\"]\nallowed_targets = ::1\ntls = implicit\n"
        "mechanisms = LOGIN\nusername = u\npassword = inline-secret\n",
        &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_int_equal(c->n_targets, 0);
    assert_int_equal(c->n_modules, 3);
    assert_null(config_find_module(c, "nope"));
    assert_null(config_find_target(c, "mx"));
    const struct module_config *m = config_find_module(c, "submission");
    assert_non_null(m);
    assert_string_equal(m->probe.name, "submission");
    assert_string_equal(m->probe.host, "");
    assert_int_equal(m->probe.port, 0);
    assert_int_equal(m->probe.tls, CONFIG_DEFAULT_TLS);
    assert_true(m->probe.tls_verify);
    assert_string_equal(m->probe.server_name, "");
    assert_string_equal(m->probe.ca_file, c->ca_file);
    assert_int_equal(m->probe.timeout_ms, 7000);
    assert_int_equal(m->probe.ip_family, IP_FAMILY_IPV6);
    assert_ptr_equal(m->probe.labels, c->labels);
    assert_int_equal(m->probe.n_mechs, 1);
    assert_string_equal(m->probe.username, "probe");
    assert_int_equal(m->probe.secret_len, strlen("module-secret"));
    assert_memory_equal(m->probe.secret, "module-secret", 13);
    assert_int_equal(m->probe.line, 5);
    assert_int_equal(m->allowed.n, 3);
    assert_true(allowlist_match(&m->allowed, "mx1.example.com", 587));
    assert_false(allowlist_match(&m->allowed, "mx1.example.com", 25));
    assert_true(allowlist_match(&m->allowed, "2001:db8::25", 25));

    m = config_find_module(c, "mx");
    assert_non_null(m);
    assert_int_equal(m->probe.tls, TLS_MODE_NONE);
    assert_false(m->probe.tls_verify);
    assert_string_equal(m->probe.server_name, "mx.example.com");
    assert_string_equal(m->probe.ehlo_name, "probe.example.com");
    assert_int_equal(m->probe.timeout_ms, 3000);
    assert_int_equal(m->probe.ip_family, IP_FAMILY_IPV4);
    assert_string_equal(m->probe.source_address, "127.0.0.1");
    assert_null(m->probe.secret);
    assert_true(allowlist_match(&m->allowed, "MX1.example.com", 25));
    assert_false(allowlist_match(&m->allowed, "mx2.example.com", 25));

    m = config_find_module(c, "inline");
    assert_non_null(m);
    assert_int_equal(m->probe.secret_len, strlen("inline-secret"));
    /* The inline password is warned about as in a [target]; never
     * shown. */
    assert_line(buf_str(&d.warnings),
                "t.ini:25: password: warning: password in the config file; "
                "prefer "
                "password_file");
    assert_null(strstr(buf_str(&d.warnings), "secret"));
    assert_null(strstr(buf_str(&d.errors), "secret"));
    config_free(c);
    config_diag_free(&d);
    unsetenv("CONFIG_TEST_MODULE_PW");

    /* Beside targets, which keep their own names and keys. */
    c = load("[module \"zz\"]\nallowed_targets = zz.example.com\n" OK_TARGET,
             &d);
    if (!c)
        fail_msg("%s", buf_str(&d.errors));
    assert_int_equal(c->n_targets, 1);
    assert_int_equal(c->n_modules, 1);
    assert_non_null(config_find_target(c, "zz"));
    assert_non_null(config_find_module(c, "zz"));
    config_free(c);
    config_diag_free(&d);
}

int main(void)
{
    /* A secret source that is always there, for cases about other keys. */
    if (setenv("CONFIG_TEST_PW2", "pw2", 1) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_loads),
        cmocka_unit_test(test_sample_documents_every_key),
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_extra_metrics),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_ip_family_and_source_address),
        cmocka_unit_test(test_errors_table),
        cmocka_unit_test(test_refusal_check_keys),
        cmocka_unit_test(test_modules),
        cmocka_unit_test(test_multiple_errors),
        cmocka_unit_test(test_too_many_errors),
        cmocka_unit_test(test_open_fails),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_indentation_and_continuation),
        cmocka_unit_test(test_bom_and_line_endings),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_listen_and_names),
        cmocka_unit_test(test_mechanisms),
        cmocka_unit_test(test_env_secret),
        cmocka_unit_test(test_inline_password),
        cmocka_unit_test_setup_teardown(test_inline_password_file_mode,
                                        scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_password_file, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_password_file_mode, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_secret_never_in_diag,
                                        scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_fuzz, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test(test_ca_file_unreadable),
        cmocka_unit_test_setup_teardown(test_files_not_regular, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_password_file_refused,
                                        scratch_setup, scratch_teardown),
        cmocka_unit_test(test_web_basic_auth_user),
        cmocka_unit_test_setup_teardown(test_web_tls_files, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_web_users_file, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_web_auth_in_clear_is_warned,
                                        scratch_setup, scratch_teardown),
        cmocka_unit_test(test_shard),
        cmocka_unit_test(test_misc),
        cmocka_unit_test_setup_teardown(test_load_leaves_no_holes,
                                        scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
