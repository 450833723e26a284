/* config_internal: the loader's state, shared by config.c and the other
 * config_*.c files only; nothing outside config*.c includes it. */
#ifndef CONFIG_INTERNAL_H
#define CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "file.h"
#include "hashtab.h"

/* Past this many, a load's problems are counted but not spelled out
 * (config_diag.c). */
#define DIAG_SHOWN_MAX 100

#define CONFIG_ENV_NAME_MAX 255
/* A PEM certificate chain or key, or a users file, is far smaller. */
#define CONFIG_WEB_FILE_MAX   ((size_t)1 << 20)
#define CONFIG_WEB_FILE_WORDS "1 MiB"

enum agent_key {
    AK_LISTEN,
    AK_INTERVAL,
    AK_TIMEOUT,
    AK_MAX_CONCURRENT_PROBES,
    AK_MAX_PER_HOST,
    AK_CA_FILE,
    AK_LOG_LEVEL,
    AK_WEB_TLS_CERT_FILE,
    AK_WEB_TLS_KEY_FILE,
    AK_WEB_BASIC_AUTH_USER,
    AK_WEB_BASIC_AUTH_PASSWORD_HASH,
    AK_WEB_BASIC_AUTH_USERS_FILE,
    AK_EXTRA_METRICS,
    AK_IP_FAMILY,
    AK_SOURCE_ADDRESS,
    AK_LABELS,
    AK_SHARD,
    AK_TARGETS_FILE,
    AK_LOG_FORMAT,
    AK_COUNT
};

/* The key's name in the file, indexed by enum agent_key. */
extern const char *const config_agent_key_names[];

enum target_key {
    TK_HOST,
    TK_PORT,
    TK_TLS,
    TK_TLS_VERIFY,
    TK_CA_FILE,
    TK_SERVER_NAME,
    TK_EHLO_NAME,
    TK_MECHANISMS,
    TK_USERNAME,
    TK_PASSWORD_FILE,
    TK_PASSWORD_ENV,
    TK_PASSWORD,
    TK_ALLOW_PLAINTEXT_AUTH,
    TK_INTERVAL,
    TK_TIMEOUT,
    TK_EXTRA_METRICS,
    TK_IP_FAMILY,
    TK_SOURCE_ADDRESS,
    TK_LABELS,
    TK_ALLOWED_TARGETS, /* [module] only */
    TK_TOKEN_FILE,
    TK_TOKEN_URL,
    TK_CLIENT_ID,
    TK_CLIENT_SECRET_FILE,
    TK_SCOPE,
    TK_REFRESH_TOKEN_FILE,
    TK_EXPECT_AUTH_BEFORE_TLS,
    TK_EXPECT_OPEN_RELAY,
    TK_REQUIRE_EHLO,
    TK_OPEN_RELAY_RCPT,
    TK_COUNT
};

/* The key's name in the file, indexed by enum target_key. */
extern const char *const config_target_key_names[];

/* What parsing a target needs beyond struct target_config: where each key
 * was given, and the secret's source until it is read after parsing. */
struct target_draft {
    int key_line[TK_COUNT]; /* 0 = not given */
    bool set[TK_COUNT];     /* given with a non-empty value */
    bool bad[TK_COUNT];     /* ... that was refused */
    /* In the parser's scratch pool, NULL when not given: at 10,000
     * targets buffers of the longest allowed values wrote 13 MB while a
     * config loaded, and malloc()ed copies left a hole each. */
    const char *password_file; /* resolved against the config's directory */
    const char *password_env;
    const char *password; /* inline, in the scratch pool (wiped) */
    size_t password_len;
    bool other_shard; /* shard = I/N gives it to another agent */
};

enum section { SEC_NONE, SEC_AGENT, SEC_TARGET, SEC_MODULE, SEC_SKIP };

struct parser {
    const char *name;     /* the file as named in messages */
    const char *base_dir; /* relative paths start here; "" = cwd */
    const char *text;
    size_t len;
    size_t pos;
    int lineno;
    enum section sec;
    bool key_in_section; /* an indented line after one continues it */
    bool saw_target;     /* any [target ...] header, valid or not */
    bool saw_module;     /* any [module ...] header, valid or not */
    struct agent_config *cfg;
    int agent_line;
    int agent_key_line[AK_COUNT];
    bool agent_set[AK_COUNT];
    bool agent_bad[AK_COUNT]; /* given, and refused */
    /* [agent] basic auth, until resolve() turns it into cfg->web_users. */
    struct web_user web_user;
    char web_users_file[CONFIG_PATH_MAX + 1];
    struct target_draft *drafts; /* parallel to cfg->targets */
    struct strpool scratch;      /* the drafts' strings */
    struct hashtab names;        /* target names -> index: duplicates */
    size_t cap;
    /* The section whose keys are being read: a [target]'s or a
     * [module]'s probe settings and draft (cur_module: the module). */
    struct target_config *cur;
    struct target_draft *cur_draft;
    struct module_config *cur_module;
    struct target_draft *mod_drafts; /* parallel to cfg->modules */
    size_t mod_cap;
    struct config_diag *diag;
    /* targets_file: the patterns so far (also in cfg->targets_files, the
     * array grown here), each one's line; the last good files. */
    int *sd_lines;
    size_t sd_cap;
    struct sd_cache *sd_cache;
    const char *ehlo;  /* the default ehlo_name, once resolved */
    mode_t file_mode;  /* of the config file; 0 for a string */
    bool shard_failed; /* no MD5 for shard = I/N: said once */
    bool oom;
};

/* One "FILE:LINE: KEY: message" line into the diag (line 0: "FILE:
 * message"), an error or a warning. */
void config_err_at(struct parser *p, int line, const char *key,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void config_warn_at(struct parser *p, int line, const char *key,
                    const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * config_secret.c: the one reader of the files a config names (password,
 * PEM, users), through file.c: opened without blocking, a whole regular
 * file of 1 to max bytes in *data, malloc()ed once at its size and
 * NUL-terminated, so that a secret leaves no copies behind (the caller
 * wipes it). limit is max in words for the message ("1 MiB"). Messages
 * name the path, never the content. 0, or -1 after reporting; *info is
 * filled as soon as the file is open, so that a caller can warn about its
 * mode even when the read fails (info->mode stays 0 when it could not be
 * opened).
 */
int config_read_small_file(struct parser *p, int line, const char *key,
                           const char *path, size_t max, const char *limit,
                           char **data, size_t *len, struct file_info *info);

/* Who besides the owner may read or write a file: "readable by its
 * group", "readable and writable by others", "readable by others and
 * writable by its group"; "" when nobody. Returns dst. */
const char *config_exposure_words(mode_t mode, char *dst, size_t n);

/* A secret file must belong to the agent's user or root: anyone else
 * could change what is sent as the password (or have us read a file of
 * theirs). false after reporting. */
bool config_secret_owner_ok(struct parser *p, int line, const char *key,
                            const char *path, const struct file_info *info);

/* A target's AUTH settings, checked after parsing, and its secret read once
 * from password_file, password_env or the inline password into t->secret. */
void config_check_auth(struct parser *p, struct target_config *t,
                       struct target_draft *d);
/* A target's CA file, readable when it does TLS. A file [agent] gives to
 * many targets is reported once: *agent_warned and *agent_failed, false
 * before the first target, remember it. */
void config_check_ca_file(struct parser *p, const struct target_config *t,
                          const struct target_draft *d, bool *agent_warned,
                          bool *agent_failed);

/* A problem of a targets file (config_diag.c): "PATH: message". */
void config_file_err(struct parser *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * config.c: a target named name (NUL-terminated, at most
 * CONFIG_TARGET_NAME_MAX bytes), with its draft, unless a target is named
 * so already (*dup then points at it). NULL when not added (*dup NULL:
 * out of memory, p->oom set).
 */
struct target_config *config_add_target(struct parser *p, const char *name,
                                        const struct target_config **dup);
/* Removes the targets from index n on (added by a targets file that
 * turned out wrong) with their names; their strings stay in the pool. */
void config_drop_targets(struct parser *p, size_t n);

/*
 * config_sd.c: targets_file. The key's value (a path or glob, relative to
 * the config's directory) is checked and kept; config_sd_expand(), once
 * the [agent], [target] and [module] sections are resolved, reads every
 * file the patterns match and adds their targets (a broken file: its
 * last good version's, from the parser's cache).
 */
void config_targets_file_key(struct parser *p, int line, const char *key,
                             const char *v);
void config_sd_expand(struct parser *p);

/*
 * config_resolve.c: a section's probe settings made whole.
 * config_probe_init() gives a [target]'s or a [module]'s settings their
 * defaults, before its keys; name is the config's copy.
 * config_inherit_agent() gives t [agent]'s value of every key the
 * section did not set (d NULL: of every key, for a targets_file target
 * without a module): ca_file, ehlo_name (the machine's name once
 * resolved), interval, timeout, extra_metrics, ip_family,
 * source_address and labels; the port and server name a [target] derives
 * from its own keys. config_resolve(), after parsing, resolves and
 * checks [agent], every [target] and every [module].
 */
void config_probe_init(struct parser *p, struct target_config *t,
                       const char *name);
void config_inherit_agent(struct parser *p, struct target_config *t,
                          const struct target_draft *d);
void config_resolve(struct parser *p);

/*
 * config_module.c: [module "NAME"] sections. The header (key as given,
 * q..in_end what follows the word "module") adds a module and makes it
 * the section whose keys are read; allowed_targets' value v is parsed
 * into it. Its other keys are [target]'s, through the same code.
 */
void config_module_header(struct parser *p, const char *key, const char *q,
                          const char *in_end);
void config_allowed_targets_key(struct parser *p, int line, const char *key,
                                const char *v);

/* config_labels.c: the labels key's value v, given on line, parsed into
 * *field (in the config's pool), or reported. */
void config_labels_key(struct parser *p, int line, const char *key,
                       const char *v, const char **field);
/*
 * config_shard.c: shard = I/N. Every target is checked, whichever shard
 * it falls in, so that one file is valid for every agent of a fleet or
 * for none. config_shard_check() decides a resolved target's shard
 * (Prometheus' hashmod of its address) and, after its secret was read
 * and checked, wipes and frees that secret when the target is another
 * agent's: right away, so that the next target's secret takes its place
 * rather than leave a hole per target. config_apply_shard(), once the
 * whole file is valid, leaves in cfg->targets only this shard's targets
 * and counts the others in cfg->n_other_shards.
 */
void config_shard_key(struct parser *p, int line, const char *key,
                      const char *v);
void config_shard_check(struct parser *p, struct target_config *t,
                        struct target_draft *d);
void config_apply_shard(struct parser *p);

/* config_web.c: the HTTP endpoint's protection, after parsing. HTTPS:
 * both PEM files or neither, each readable and of the right kind. */
void config_check_web_tls(struct parser *p);
/* Basic auth: one user with its hash, or a users file; warned about when
 * it would cross the network in clear text. */
void config_check_web_auth(struct parser *p);

/* config_net.c: ip_family and source_address. The keys' values, checked
 * (reported at line, key); config_source_address_key() is 0 when v is an
 * address to keep. Once a section is resolved: [agent]'s address against
 * its family, a target's or module's against its own (whichever it
 * inherits, said where it came from), and a host that is an address of
 * a family no probe may use (a warning). */
void config_ip_family_key(struct parser *p, int line, const char *key,
                          const char *v, enum ip_family *out);
int config_source_address_key(struct parser *p, int line, const char *key,
                              const char *v);
void config_check_agent_family(struct parser *p);
void config_check_target_family(struct parser *p,
                                const struct target_config *t,
                                const struct target_draft *d);

#endif
