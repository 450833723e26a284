/* config: agent.ini -> struct agent_config, validated, with file:line. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allowlist.h"
#include "buf.h"
#include "log.h"
#include "sasl.h"
#include "strpool.h"

#define CONFIG_DEFAULT_PATH    "/etc/smtp-health-agent/agent.ini"
#define CONFIG_DEFAULT_LISTEN  "127.0.0.1:9925"
#define CONFIG_DEFAULT_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define CONFIG_MAX_MECHS       8
#define CONFIG_NAME_MAX        64
/* The longest name of any target: a file's targets are named by their
 * address and module, "HOST:PORT/MODULE" ([IPv6]:PORT for an IPv6
 * address), and may be longer than a [target]'s. */
#define CONFIG_TARGET_NAME_MAX (255 + 2 + 1 + 5 + 1 + CONFIG_NAME_MAX)
#define CONFIG_HOST_MAX        255
#define CONFIG_PATH_MAX        1024
#define CONFIG_SECRET_MAX      4096
/* token_url, client_id, scope. */
#define CONFIG_URL_MAX 512
/* Basic auth for the HTTP endpoint: user names, bcrypt hashes, users. */
#define CONFIG_WEB_USER_MAX  64
#define CONFIG_BCRYPT_LEN    60
#define CONFIG_WEB_USERS_MAX 256
/* The longest IPv4 or IPv6 address in text (INET6_ADDRSTRLEN - 1). */
#define CONFIG_ADDRESS_MAX 45

enum tls_mode { TLS_MODE_STARTTLS, TLS_MODE_IMPLICIT, TLS_MODE_NONE };

/* "starttls", "implicit", "none" (the `tls` label of smtp_target_info). */
const char *tls_mode_name(enum tls_mode mode);

/* Which addresses of host a probe may connect to (key ip_family): any
 * (as libcurl's happy eyeballs tries them), IPv4 only, IPv6 only. */
enum ip_family {
    IP_FAMILY_AUTO,
    IP_FAMILY_IPV4,
    IP_FAMILY_IPV6,
    IP_FAMILY_COUNT
};

/* "auto", "ipv4", "ipv6"; "unknown" out of range. */
const char *ip_family_name(enum ip_family f);

/*
 * The detail a target's series carry beyond the default (key
 * extra_metrics), one bit each (CONFIG_EXTRA_BIT): the buckets of
 * smtp_probe_duration_seconds; smtp_ehlo_extension and every advertised
 * mechanism in smtp_auth_mechanism_advertised; smtp_last_reply_code; and
 * the failure, error and skip counters at 0 before their first count.
 */
enum config_extra {
    CONFIG_EXTRA_DURATION_BUCKETS,
    CONFIG_EXTRA_EHLO_EXTENSIONS,
    CONFIG_EXTRA_LAST_REPLY_CODES,
    CONFIG_EXTRA_ZERO_SERIES,
    CONFIG_EXTRA_CERT_DETAILS, /* smtp_tls_cert_info, the leaf's notBefore */
    CONFIG_EXTRA_COUNT
};
#define CONFIG_EXTRA_BIT(e) (1u << (unsigned)(e))

/* Its word in extra_metrics ("duration_buckets", ...); "unknown" out of
 * range. */
const char *config_extra_name(enum config_extra e);

/* What a key left out (or left empty) means: the one place of each
 * default, for the loader and for whoever needs to say it. */
#define CONFIG_DEFAULT_INTERVAL_MS           (60 * 1000ULL)
#define CONFIG_DEFAULT_TIMEOUT_MS            (10 * 1000ULL)
#define CONFIG_DEFAULT_MAX_CONCURRENT_PROBES 256u
#define CONFIG_DEFAULT_MAX_PER_HOST          4u
#define CONFIG_DEFAULT_LOG_LEVEL             LOG_LEVEL_INFO
#define CONFIG_DEFAULT_LOG_FORMAT            LOG_FORMAT_LOGFMT
#define CONFIG_DEFAULT_TLS                   TLS_MODE_STARTTLS
#define CONFIG_DEFAULT_TLS_VERIFY            true
#define CONFIG_DEFAULT_PORT_STARTTLS         587u
#define CONFIG_DEFAULT_PORT_IMPLICIT         465u
#define CONFIG_DEFAULT_PORT_NONE             25u
#define CONFIG_DEFAULT_EXTRA_METRICS         0u /* none */
#define CONFIG_DEFAULT_IP_FAMILY             IP_FAMILY_AUTO
#define CONFIG_DEFAULT_SOURCE_ADDRESS        "" /* the kernel's choice */
#define CONFIG_DEFAULT_SHARDS                1u /* shard 0/1: all */
/* The ranges the values must be in. */
#define CONFIG_DURATION_MAX_MS           (24ULL * 3600 * 1000)
#define CONFIG_MAX_CONCURRENT_PROBES_MAX 65535u
#define CONFIG_MAX_PER_HOST_MAX          1024u
#define CONFIG_SHARDS_MAX                65535u

/* A target's port when it names none: 587 for starttls (submission), 465
 * for implicit (submissions), 25 for none. */
unsigned config_default_port(enum tls_mode mode);

/* Its strings are the config's, exactly as long as they are (never NULL;
 * "" when unset): at 10,000 targets fixed buffers of the longest allowed
 * value cost 18 MB, and name and host another 3 MB. The defaults are
 * shared: ca_file points at [agent]'s, server_name at host, ehlo_name at
 * one copy of this machine's name. Whoever keeps one past the config
 * (a probe, the store) copies it. */
struct target_config {
    const char *name; /* [A-Za-z0-9_.:-]{1,64}: CONFIG_NAME_MAX */
    const char *host; /* at most CONFIG_HOST_MAX */
    unsigned port;    /* default: config_default_port(tls) */
    enum tls_mode tls;
    bool tls_verify;         /* CONFIG_DEFAULT_TLS_VERIFY */
    const char *ca_file;     /* resolved: [agent] ca_file */
    const char *server_name; /* resolved: default host */
    const char *ehlo_name;   /* resolved: default hostname */
    enum sasl_mech mechs[CONFIG_MAX_MECHS];
    size_t n_mechs;       /* 0 = an EHLO-only probe */
    const char *username; /* at most CONFIG_HOST_MAX; "" when none */
    /* The password (or a static bearer token), read at load; wiped by
     * config_free(). NULL when no mechanism is configured, or with
     * token_file. */
    char *secret;
    size_t secret_len;
    /* A targets file's target shares its module's secret: freed with
     * the module, never with the target. */
    bool secret_shared;
    bool allow_plaintext_auth;
    uint64_t interval_ms; /* resolved: [agent] interval */
    uint64_t timeout_ms;  /* resolved: [agent] timeout */
    /* CONFIG_EXTRA_BIT()s; resolved: [agent] extra_metrics. */
    unsigned extra_metrics;
    enum ip_family ip_family; /* resolved: [agent] ip_family */
    /* The local address probes connect from: an IPv4 or IPv6 literal of
     * ip_family's family (checked at load), "" for the kernel's choice;
     * resolved: [agent] source_address. */
    const char *source_address;
    int line; /* line of the [target "..."] header (or targets_file) */
    /* Its own labels, labels_parse()'s form ("name\0value\0...", ""
     * for none); resolved: [agent]'s, the same copy for every target
     * that sets none. */
    const char *labels;
    /* XOAUTH2 and OAUTHBEARER: the file whose bearer token each probe
     * reads before it connects (secret is then NULL); "" when the
     * secret is the one read at load. At most CONFIG_PATH_MAX. */
    const char *token_file;
    /* The agent's own OAuth2 client (oauth.c): token_url "" when unused.
     * With refresh_token_file the refresh_token grant, else
     * client_credentials. The files are read at each token request. */
    struct oauth_settings {
        const char *token_url; /* https:// */
        const char *client_id;
        const char *client_secret_file;
        const char *scope;
        const char *refresh_token_file;
    } oauth;
    /* The refusal checks (check.h), each opt-in: expect_auth_before_tls =
     * refused (STARTTLS targets only), expect_open_relay = refused, and
     * require_ehlo's words ("" none, check_ehlo_parse()'s syntax);
     * open_relay_rcpt the outside recipient (CHECK_DEFAULT_RELAY_RCPT). */
    bool expect_auth_refused;
    bool expect_relay_refused;
    const char *require_ehlo;
    const char *open_relay_rcpt;
};

/*
 * A [module "NAME"]: a probe's settings without a host, for
 * /probe?module=NAME&target=HOST[:PORT] on any target that `allowed`
 * lets through. probe.name is the module's name; probe.host is "",
 * probe.port 0 (the request's port, or config_default_port(probe.tls)),
 * probe.server_name "" unless set (the requested host);
 * probe.interval_ms is [agent]'s and unused. Everything else as a
 * [target]'s, resolved the same way.
 */
struct module_config {
    struct target_config probe;
    struct allowlist allowed; /* allowed_targets, never empty */
};

/* A file that targets_file matched, as the last load found it. */
struct targets_file_state {
    const char *path;
    /* It was read and every target in it was taken. When not, the
     * targets are those of its last good version, if the agent has read
     * one since it started, or none. */
    bool valid;
    size_t n_targets; /* in use, over every shard */
};

/* One user allowed through the HTTP endpoint's basic auth. */
struct web_user {
    char name[CONFIG_WEB_USER_MAX + 1];
    char hash[CONFIG_BCRYPT_LEN + 1]; /* "$2y$10$" + 53 characters */
};

struct agent_config {
    char path[CONFIG_PATH_MAX + 1];
    char listen[CONFIG_HOST_MAX + 1]; /* "127.0.0.1:9925", "[::]:9925" */
    uint64_t interval_ms;             /* CONFIG_DEFAULT_INTERVAL_MS */
    uint64_t timeout_ms;              /* CONFIG_DEFAULT_TIMEOUT_MS */
    unsigned max_concurrent_probes;   /* ..._MAX_CONCURRENT_PROBES */
    unsigned max_per_host;            /* CONFIG_DEFAULT_MAX_PER_HOST */
    char ca_file[CONFIG_PATH_MAX + 1];
    enum log_level log_level;   /* CONFIG_DEFAULT_LOG_LEVEL */
    enum log_format log_format; /* CONFIG_DEFAULT_LOG_FORMAT */
    unsigned extra_metrics;     /* CONFIG_DEFAULT_EXTRA_METRICS */
    enum ip_family ip_family;   /* CONFIG_DEFAULT_IP_FAMILY */
    char source_address[CONFIG_ADDRESS_MAX + 1]; /* "": the kernel's */
    const char *labels; /* every target's by default; "" none */
    /* shard = I/N: of the targets in the file, targets[] holds only those
     * whose address (host:port, [IPv6]:port) Prometheus' hashmod puts in
     * shard I of N; n_other_shards counts the others, checked like every
     * target and then left out. Without the key: 0/1, every target. A
     * config built by hand with shards 0 means 1. */
    unsigned shard;
    unsigned shards;
    size_t n_other_shards;
    /* HTTPS for the endpoint: both PEM files, or "" for plain HTTP. Only
     * checked here (readable, PEM); the HTTP server reads them at start. */
    char web_tls_cert_file[CONFIG_PATH_MAX + 1];
    char web_tls_key_file[CONFIG_PATH_MAX + 1];
    /* Basic auth: every request needs one of these users; none = open. */
    struct web_user *web_users;
    size_t n_web_users;
    struct target_config *targets;
    size_t n_targets;
    /* [module "NAME"] sections, in file order (a handful: looked up by
     * a scan). */
    struct module_config *modules;
    size_t n_modules;
    /* targets_file patterns (resolved against the config's directory),
     * and the files they matched, in order. */
    const char **targets_files;
    size_t n_targets_files;
    struct targets_file_state *sd_files;
    size_t n_sd_files;
    size_t n_file_targets; /* of targets[], those from the files */
    /* What the targets' string pointers point at, freed with the config:
     * one pool, not an allocation per string (strpool.h says why). */
    struct strpool strings;
};

/*
 * Problems found while loading. Every error line reads
 * "FILE:LINE: KEY: message\n" (KEY is the key, or the section for a
 * section problem, or "-" for a line that is neither); every problem in
 * the file is reported, not only the first. Warnings (a password file
 * readable by others, say) read "FILE:LINE: KEY: warning: message\n"
 * and do not fail the load.
 */
struct config_diag {
    struct buf errors;
    struct buf warnings;
    size_t n_errors;
    size_t n_warnings;
    /* Problems of the targets files: a file that cannot be read or whose
     * content is wrong ("PATH: line 3: ..."). They do not fail the load:
     * the file's last good targets stay (or none). */
    struct buf file_errors;
    size_t n_file_errors;
};

void config_diag_init(struct config_diag *d);
void config_diag_free(struct config_diag *d);

/*
 * Loads and validates path. Returns the config, or NULL when anything is
 * wrong (diag says what). Secrets named by password_file / password_env
 * are read here. Never logs; never puts a secret into diag.
 */
struct agent_config *config_load(const char *path, struct config_diag *diag);

/*
 * The last good version of every targets file, kept across loads by
 * whoever reloads (the daemon): a file that breaks keeps the targets of
 * its last good version. config_load() uses none.
 */
struct sd_cache;
struct sd_cache *sd_cache_new(void);
void sd_cache_free(struct sd_cache *c);

/* config_load() with the last good targets files in cache (updated:
 * the good ones replace theirs; files no longer matched are dropped). */
struct agent_config *config_load_cached(const char *path,
                                        struct sd_cache *cache,
                                        struct config_diag *diag);

/* The same from a string; `name` stands for the file in messages. Used by
 * tests; password_file paths are still read from disk. */
struct agent_config *config_load_string(const char *name, const char *text,
                                        struct config_diag *diag);

/* Wipes every secret and frees; NULL is a no-op. */
void config_free(struct agent_config *cfg);

/* "250ms", "30s", "5m", "1h", bare number = seconds; > 0, at most
 * CONFIG_DURATION_MAX_MS (24 h). 0, or -1 with *ms untouched. */
int config_parse_duration(const char *s, uint64_t *ms);

/* The target called name, or NULL. */
const struct target_config *config_find_target(const struct agent_config *c,
                                               const char *name);

/* The module called name, or NULL. */
const struct module_config *config_find_module(const struct agent_config *c,
                                               const char *name);

/* Whether a listen address keeps the endpoint on this machine:
 * localhost, 127.0.0.0/8 or [::1]. Anything else (":9925", "0.0.0.0",
 * "[::]", another name) is reachable from the network. */
bool config_listen_is_loopback(const char *listen);

#endif
