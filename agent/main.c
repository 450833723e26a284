/* main: flags, signals, wiring of the modules; the only exit(). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "catalogue.h"
#include "classify.h"
#include "config.h"
#include "explain.h"
#include "fdbudget.h"
#include "filewatch.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "now.h"
#include "once.h"
#include "once_select.h"
#include "ondemand.h"
#include "passhash.h"
#include "runner.h"
#include "version.h"

/* A bad config exits 1 (DESIGN.md), except under --once, where 1 means
 * "a target failed" and a bad config or bad usage is 2. */
enum exit_code { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

struct options {
    const char *config;
    const char *listen;
    const char *log_level;
    const char *log_format;
    const char *explain;
    const char *format; /* --format: "text" or "json" */
    /* --target NAME, each time given (argv's strings): --once probes
     * only those. */
    const char **targets;
    size_t n_targets;
    bool check_config;
    bool hash_password;
    bool once;
    bool json;
};

static volatile sig_atomic_t got_stop, got_reload;
/* What the descriptor limit leaves room for, read once at start. */
static struct fd_budget fds;
static int wake_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGHUP)
        got_reload = 1;
    else
        got_stop = 1;
    if (wake_pipe[1] >= 0) {
        ssize_t rc = write(wake_pipe[1], "x", 1);
        (void)rc; /* a full pipe already wakes the loop */
    }
    errno = saved;
}

static int signals_setup(void)
{
    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void wake_drain(void)
{
    char junk[64];
    while (read(wake_pipe[0], junk, sizeof(junk)) > 0)
        ;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smtp-health-agent [-c FILE] [options]\n"
            "\n"
            "Probes SMTP servers (banner, EHLO, STARTTLS or implicit TLS,\n"
            "AUTH) on a schedule and serves the results as Prometheus\n"
            "metrics.\n"
            "\n"
            "  -c, --config FILE     config file (default %s)\n"
            "      --check-config    validate the config, print problems,\n"
            "                        exit 0 when valid, 1 when not\n"
            "      --once            probe every target once and print a "
            "table\n"
            "      --target NAME     with --once: probe only this target "
            "(repeatable;\n"
            "                        a targets file's are named "
            "HOST:PORT/MODULE)\n"
            "      --explain WHAT    what a reply means, when it is seen "
            "and how to\n"
            "                        fix it: a code (504), a code at a "
            "stage\n"
            "                        (535@auth), a class (auth_failed), an "
            "error\n"
            "                        (timeout) or an enhanced code "
            "(5.7.8)\n"
            "      --format FMT      text (default) or json, for --once "
            "and --explain\n"
            "      --listen ADDR     override [agent] listen "
            "(host:port)\n"
            "      --log-level LVL   override [agent] log_level\n"
            "      --log-format FMT  override [agent] log_format (logfmt "
            "or json)\n"
            "      --hash-password   read a password (one line) on stdin, "
            "print its\n"
            "                        bcrypt hash (cost 10) for "
            "web_basic_auth_password_hash\n"
            "  -V, --version         print versions and exit\n"
            "  -h, --help            this text\n"
            "\n"
            "Exit status:\n"
            "  --once          0 every target succeeded, 1 some failed, 3 "
            "the agent\n"
            "                  could not probe some (out of descriptors or "
            "memory),\n"
            "                  2 bad config or usage (a --target that is "
            "no target)\n"
            "  --explain       0 known, 1 unknown, 2 usage\n"
            "  --check-config  0 valid, 1 not valid\n"
            "  --hash-password 0 hash printed, 1 not (empty password, "
            "longer than\n"
            "                  72 bytes, more than one line)\n"
            "  otherwise       0 stopped by a signal, 1 bad config or "
            "failure to\n"
            "                  start, 2 usage\n",
            CONFIG_DEFAULT_PATH);
}

/* --format: text or json, and only where there is something to format. */
static int check_format(struct options *o)
{
    if (!o->format)
        return 0;
    if (strcmp(o->format, "json") != 0 && strcmp(o->format, "text") != 0) {
        fprintf(stderr,
                "smtp-health-agent: --format: must be text or json, "
                "not '%s'\n",
                o->format);
        return -1;
    }
    if (!o->once && !o->explain) {
        fprintf(stderr, "smtp-health-agent: --format goes with --once "
                        "or --explain\n");
        return -1;
    }
    o->json = strcmp(o->format, "json") == 0;
    return 0;
}

/* --target: only where targets are probed once. */
static int check_targets(const struct options *o)
{
    if (o->n_targets && !o->once) {
        fprintf(stderr, "smtp-health-agent: --target goes with --once\n");
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    enum {
        OPT_CHECK = 256,
        OPT_ONCE,
        OPT_EXPLAIN,
        OPT_FORMAT,
        OPT_LISTEN,
        OPT_LEVEL,
        OPT_LOG_FORMAT,
        OPT_HASH_PASSWORD,
        OPT_TARGET
    };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"once", no_argument, NULL, OPT_ONCE},
        {"explain", required_argument, NULL, OPT_EXPLAIN},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"log-level", required_argument, NULL, OPT_LEVEL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"hash-password", no_argument, NULL, OPT_HASH_PASSWORD},
        {"target", required_argument, NULL, OPT_TARGET},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    o->config = CONFIG_DEFAULT_PATH;
    for (;;) {
        int c = getopt_long(argc, argv, "c:Vh", longopts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case OPT_CHECK:
            o->check_config = true;
            break;
        case OPT_ONCE:
            o->once = true;
            break;
        case OPT_EXPLAIN:
            o->explain = optarg;
            break;
        case OPT_FORMAT:
            o->format = optarg;
            break;
        case OPT_LISTEN:
            o->listen = optarg;
            break;
        case OPT_LEVEL:
            o->log_level = optarg;
            break;
        case OPT_LOG_FORMAT:
            o->log_format = optarg;
            break;
        case OPT_HASH_PASSWORD:
            o->hash_password = true;
            break;
        case OPT_TARGET:
            /* No more of them than arguments. */
            if (!o->targets)
                o->targets = calloc((size_t)argc, sizeof(*o->targets));
            if (!o->targets) {
                fprintf(stderr, "smtp-health-agent: out of memory\n");
                return -1;
            }
            o->targets[o->n_targets++] = optarg;
            break;
        case 'V': {
            curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
            printf("smtp-health-agent %s (libcurl %s, %s, libmicrohttpd "
                   "%s)\n",
                   AGENT_VERSION, cv->version,
                   OpenSSL_version(OPENSSL_VERSION), MHD_get_version());
            exit(EXIT_OK);
        }
        case 'h':
            usage(stdout);
            exit(EXIT_OK);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "smtp-health-agent: unexpected argument '%s'\n",
                argv[optind]);
        return -1;
    }
    if (check_targets(o) < 0)
        return -1;
    return check_format(o);
}

/* The catalogue's entries for what the operator typed: 0 when known, 1
 * (with a message) when not. */
static int explain(const char *what, bool json)
{
    if (explain_print(stdout, what, json) == 0) {
        fprintf(stderr,
                "smtp-health-agent: --explain: nothing known as '%s'; try "
                "a reply code (504), a code at a stage (535@auth), a class "
                "(auth_failed), an error (timeout) or an enhanced code "
                "(5.7.8)\n",
                what);
        return EXIT_FAILED;
    }
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

/*
 * --hash-password: a password on stdin (without echo on a terminal) to a
 * bcrypt hash on stdout. 0 printed, 1 not (the reason on stderr, never
 * the password).
 */
static int hash_password(void)
{
    struct termios saved, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        fputs("Password: ", stderr);
    }
    char pw[PASSHASH_MAX + 2], hash[PASSHASH_LEN + 1];
    const char *why = NULL;
    int rc = passhash_read(stdin, pw, sizeof(pw), &why);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    if (rc < 0) {
        fprintf(stderr, "smtp-health-agent: --hash-password: %s\n", why);
        return EXIT_FAILED;
    }
    rc = passhash_bcrypt(pw, PASSHASH_COST, hash, sizeof(hash));
    explicit_bzero(pw, sizeof(pw));
    if (rc < 0) {
        fprintf(stderr, "smtp-health-agent: --hash-password: cannot make "
                        "a hash (no randomness?)\n");
        return EXIT_FAILED;
    }
    printf("%s\n", hash);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

/* The last good version of every targets file, across reloads. */
static struct sd_cache *sd_cache;

static void log_problems(enum log_level level, const char *msg,
                         const struct buf *text);

/*
 * A daemon whose logs are JSON (json: 1, or -1 when the config says)
 * reports the config's problems as log lines, so that every line of
 * stderr parses; a config that does not load says nothing of its
 * log_format, and is reported as text unless the flag asked for JSON.
 */
static bool load_logged(struct agent_config *cfg, const struct config_diag *d,
                        const char *path, int json)
{
    if (json < 0)
        json = cfg && cfg->log_format == LOG_FORMAT_JSON;
    if (json != 1)
        return false;
    log_set_format(LOG_FORMAT_JSON);
    log_problems(LOG_LEVEL_WARN, "config warning", &d->warnings);
    log_problems(LOG_LEVEL_ERROR, "config error", &d->errors);
    log_problems(LOG_LEVEL_ERROR, "targets file error", &d->file_errors);
    if (!cfg)
        log_error("main", "config not loaded", "path=%s errors=%zu", path,
                  d->n_errors);
    return true;
}

/* Loads the config, printing every problem to stderr; *file_errors
 * counts the targets files' (which do not fail the load). */
static struct agent_config *load(const char *path, bool quiet_ok,
                                 size_t *file_errors, int json)
{
    struct config_diag diag;
    config_diag_init(&diag);
    struct agent_config *cfg = config_load_cached(path, sd_cache, &diag);
    if (load_logged(cfg, &diag, path, json)) {
        *file_errors = diag.n_file_errors;
        config_diag_free(&diag);
        return cfg;
    }
    fputs(buf_str(&diag.warnings), stderr);
    fputs(buf_str(&diag.errors), stderr);
    fputs(buf_str(&diag.file_errors), stderr);
    *file_errors = diag.n_file_errors;
    if (!cfg)
        fprintf(stderr, "%s: %zu error%s\n", path, diag.n_errors,
                diag.n_errors == 1 ? "" : "s");
    else if (diag.n_file_errors)
        fprintf(stderr, "%s: %zu targets file error%s\n", path,
                diag.n_file_errors, diag.n_file_errors == 1 ? "" : "s");
    else if (!quiet_ok && cfg->shards > 1)
        fprintf(stderr,
                "%s: ok, %zu target%s in shard %u/%u, %zu in other shards\n",
                path, cfg->n_targets, cfg->n_targets == 1 ? "" : "s",
                cfg->shard, cfg->shards, cfg->n_other_shards);
    else if (!quiet_ok && cfg->n_sd_files > 0)
        fprintf(stderr, "%s: ok, %zu target%s, %zu from %zu targets file%s\n",
                path, cfg->n_targets, cfg->n_targets == 1 ? "" : "s",
                cfg->n_file_targets, cfg->n_sd_files,
                cfg->n_sd_files == 1 ? "" : "s");
    else if (!quiet_ok && cfg->n_modules > 0)
        fprintf(stderr, "%s: ok, %zu target%s, %zu module%s\n", path,
                cfg->n_targets, cfg->n_targets == 1 ? "" : "s", cfg->n_modules,
                cfg->n_modules == 1 ? "" : "s");
    else if (!quiet_ok)
        fprintf(stderr, "%s: ok, %zu target%s\n", path, cfg->n_targets,
                cfg->n_targets == 1 ? "" : "s");
    config_diag_free(&diag);
    return cfg;
}

/* One log line for each "file:line: key: message" line of text. */
static void log_problems(enum log_level level, const char *msg,
                         const struct buf *text)
{
    const char *p = buf_str(text);
    while (*p) {
        size_t len = strcspn(p, "\n");
        char line[512], q[600];
        snprintf(line, sizeof(line), "%.*s", (int)len, p);
        log_write(level, "main", msg, "problem=%s",
                  log_quote(q, sizeof(q), line));
        p += len + (p[len] == '\n');
    }
}

/* The config check warns, at the auth key's line, about basic auth over
 * plain HTTP on the file's listen address; --listen replaces that address,
 * so at start and at every reload this says the same of the one in use. */
static void warn_listen_override(const struct options *o,
                                 const struct agent_config *cfg)
{
    if (o->listen && cfg->n_web_users && !cfg->web_tls_cert_file[0] &&
        config_listen_is_loopback(cfg->listen) &&
        !config_listen_is_loopback(o->listen))
        log_warn("main",
                 "basic auth over plain HTTP on a network address: scrapers "
                 "send passwords in clear text; set web_tls_cert_file and "
                 "web_tls_key_file",
                 "listen=%s", o->listen);
}

/*
 * Probes beyond what the descriptor limit leaves room for would fail for
 * want of a socket, and be blamed on their targets: the limit wins over
 * max_concurrent_probes, said at start and at every reload that asks for
 * more.
 */
static void apply_fd_budget(struct agent_config *cfg)
{
    if (cfg->max_concurrent_probes <= fds.probes)
        return;
    log_warn("main",
             "max_concurrent_probes lowered to what the file descriptor "
             "limit leaves room for; raise the limit (LimitNOFILE=) to "
             "probe more at once",
             "configured=%u effective=%u fd_limit=%lu",
             cfg->max_concurrent_probes, fds.probes, fds.limit);
    cfg->max_concurrent_probes = fds.probes;
}

/* SIGHUP: a config that fails to load leaves the running one alone. */
static void reload(const char *path, const char *why, struct runner *runner,
                   struct metrics *metrics, struct http_server *http,
                   const struct options *o)
{
    struct config_diag diag;
    config_diag_init(&diag);
    struct agent_config *cfg = config_load_cached(path, sd_cache, &diag);
    /* A new log_format applies from this reload's own lines on. */
    if (cfg && !o->log_format)
        log_set_format(cfg->log_format);
    log_problems(LOG_LEVEL_WARN, "config warning", &diag.warnings);
    log_problems(LOG_LEVEL_ERROR, "config error", &diag.errors);
    log_problems(LOG_LEVEL_ERROR, "targets file error", &diag.file_errors);
    config_diag_free(&diag);
    double now = (double)time(NULL);
    if (!cfg) {
        log_error("main", "reload failed; the old config stays", "path=%s",
                  path);
        metrics_config_loaded(metrics, false, now);
        return;
    }
    const struct agent_config *old = runner_config(runner);
    if (!o->listen && strcmp(old->listen, cfg->listen) != 0)
        log_warn("main", "listen changed; restart to apply", "listen=%s",
                 cfg->listen);
    if (!o->log_level)
        log_set_level(cfg->log_level);
    warn_listen_override(o, cfg);
    apply_fd_budget(cfg);
    size_t n = cfg->n_targets, other = cfg->n_other_shards;
    size_t from_files = cfg->n_file_targets;
    unsigned shard = cfg->shard, shards = cfg->shards;
    if (runner_set_config(runner, cfg) < 0) {
        log_error("main", "reload failed: out of memory", "path=%s", path);
        metrics_config_loaded(metrics, false, now);
        return;
    }
    metrics_config_loaded(metrics, true, now);
    if (http_set_auth(http, runner_config(runner)) < 0)
        log_warn("main", "basic auth keeps the old users: out of memory",
                 NULL);
    log_info("main", "config reloaded",
             "path=%s targets=%zu shard=%u/%u other_shards=%zu "
             "from_files=%zu why=%s",
             path, n, shard, shards, other, from_files, why);
}

static int run_once(struct agent_config *cfg, bool json)
{
    struct runner *runner = runner_new(NULL, true, (unsigned long)getpid());
    apply_fd_budget(cfg);
    if (!runner || runner_set_config(runner, cfg) < 0) {
        fprintf(stderr, "smtp-health-agent: out of memory\n");
        runner_free(runner);
        return EXIT_FAILED;
    }
    while (!got_stop && !runner_finished(runner)) {
        int woken = runner_step(runner, wake_pipe[0], 1000);
        if (woken < 0) {
            fprintf(stderr, "smtp-health-agent: curl multi failed\n");
            break;
        }
        if (woken)
            wake_drain(); /* a SIGHUP means nothing to a single run */
    }
    size_t n;
    const struct probe_result *res = runner_results(runner, &n);
    if (json)
        once_print_json(stdout, res, n, (double)time(NULL));
    else
        once_print_table(stdout, res, n, (double)time(NULL));
    int rc = runner_finished(runner) ? once_exit_status(res, n) : EXIT_FAILED;
    runner_free(runner);
    return rc;
}

/* The HTTP server on listen, with the running config's web settings;
 * NULL (said on stderr) when it cannot start. */
static struct http_server *start_http(const char *listen,
                                      struct metrics *metrics,
                                      struct ondemand *ondemand,
                                      const struct runner *runner)
{
    char err[256] = "";
    const struct agent_config *cfg = runner_config(runner);
    struct http_options hopt = {.listen = listen,
                                .metrics = metrics,
                                .ondemand = ondemand,
                                .connection_limit = fds.http,
                                .tls_cert_file = cfg->web_tls_cert_file,
                                .tls_key_file = cfg->web_tls_key_file,
                                .users = cfg->web_users,
                                .n_users = cfg->n_web_users};
    struct http_server *http = http_start(&hopt, err, sizeof(err));
    if (!http) {
        fprintf(stderr, "smtp-health-agent: cannot listen on %s: %s\n", listen,
                err);
        return NULL;
    }
    http_set_ready(http, true);
    return http;
}

/* Until a stop signal: probes, reloads on SIGHUP. EXIT_OK, or
 * EXIT_FAILED when curl's multi interface itself failed. */
/* Watches the running config's targets files (the watcher is made when
 * a config first has some). */
static void watch_files(struct filewatch **fw, const struct runner *runner)
{
    const struct agent_config *cfg = runner_config(runner);
    if (!*fw && cfg->n_targets_files)
        *fw = filewatch_new(wake_pipe[1]);
    filewatch_set(*fw, cfg->targets_files, cfg->n_targets_files);
}

static int probe_loop(struct runner *runner, struct metrics *metrics,
                      struct http_server *http, struct filewatch **fw,
                      const struct options *o)
{
    while (!got_stop) {
        /* The loop turns at least once a second: health checks see it. */
        http_loop_turned(http, now_mono_ms());
        int woken = runner_step(runner, wake_pipe[0], 1000);
        if (woken < 0) {
            log_error("main", "curl multi interface failed", NULL);
            return EXIT_FAILED;
        }
        if (woken)
            wake_drain();
        /* A SIGHUP reads the targets files too: one reload for both. */
        bool files = filewatch_take(*fw);
        if (got_reload) {
            got_reload = 0;
            reload(o->config, "sighup", runner, metrics, http, o);
            watch_files(fw, runner);
        } else if (files) {
            reload(o->config, "targets_file", runner, metrics, http, o);
            watch_files(fw, runner);
        }
    }
    return EXIT_OK;
}

static int run_daemon(struct agent_config *cfg, const struct options *o)
{
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    struct metrics_build_info info = {
        .version = AGENT_VERSION,
        .libcurl = cv->version,
        .openssl = OpenSSL_version(OPENSSL_VERSION_STRING),
        .libmicrohttpd = MHD_get_version(),
    };
    char listen[CONFIG_HOST_MAX + 1];
    snprintf(listen, sizeof(listen), "%s",
             o->listen ? o->listen : cfg->listen);
    warn_listen_override(o, cfg);
    log_info("main", "file descriptor limit",
             "fd_limit=%lu raised_from=%lu open=%lu max_probes=%u "
             "max_http_connections=%u",
             fds.limit, fds.before, fds.open, fds.probes, fds.http);

    struct metrics *metrics = metrics_new(&info);
    struct runner *runner =
        runner_new(metrics, false, (unsigned long)time(NULL) ^ getpid());
    /* /probe's jobs wake the loop through the signals' pipe. */
    struct ondemand *ondemand = ondemand_new(0, wake_pipe[1]);
    if (!metrics || !runner || !ondemand) {
        fprintf(stderr, "smtp-health-agent: out of memory\n");
        runner_free(runner);
        ondemand_free(ondemand);
        metrics_free(metrics);
        config_free(cfg);
        return EXIT_FAILED;
    }
    runner_set_ondemand(runner, ondemand);
    size_t n_targets = cfg->n_targets, other = cfg->n_other_shards;
    size_t from_files = cfg->n_file_targets;
    unsigned shard = cfg->shard, shards = cfg->shards;
    apply_fd_budget(cfg);
    if (runner_set_config(runner, cfg) < 0) {
        fprintf(stderr, "smtp-health-agent: out of memory\n");
        runner_free(runner);
        ondemand_free(ondemand);
        metrics_free(metrics);
        return EXIT_FAILED;
    }
    metrics_config_loaded(metrics, true, (double)time(NULL));

    struct http_server *http = start_http(listen, metrics, ondemand, runner);
    if (!http) {
        runner_free(runner);
        ondemand_free(ondemand);
        metrics_free(metrics);
        return EXIT_FAILED;
    }
    /* The watcher wakes the loop through the signals' pipe too. */
    struct filewatch *fw = NULL;
    watch_files(&fw, runner);
    log_info("main", "started",
             "version=%s listen=%s targets=%zu shard=%u/%u other_shards=%zu "
             "from_files=%zu",
             AGENT_VERSION, listen, n_targets, shard, shards, other,
             from_files);
    int rc = probe_loop(runner, metrics, http, &fw, o);
    log_info("main", "stopping", NULL);
    filewatch_free(fw);
    /* No /probe job reaches the HTTP side once it is gone: closed first;
     * the runner then ends the jobs it holds. */
    ondemand_close(ondemand);
    http_stop(http);
    runner_free(runner);
    ondemand_free(ondemand);
    metrics_free(metrics);
    return rc;
}

/*
 * A render's body (15 MB at 10,000 targets) and its gzip'd copy are
 * allocated and freed again at every scrape. glibc raises its threshold
 * for mapping an allocation on its own to the size of the last one freed,
 * so from the second render on the bodies came from the heap, and the heap
 * kept the freed bytes: RSS stayed a body or two above what the agent
 * holds. A fixed threshold maps them, and a free gives them back.
 */
#define MMAP_THRESHOLD ((int)1 << 20)

static void malloc_setup(void)
{
#ifdef M_MMAP_THRESHOLD
    (void)mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
#endif
}

int main(int argc, char **argv)
{
    malloc_setup();
    struct options o;
    memset(&o, 0, sizeof(o));
    if (parse_args(argc, argv, &o) < 0)
        exit(EXIT_USAGE);
    if (o.explain)
        exit(explain(o.explain, o.json));
    if (o.hash_password)
        exit(hash_password());

    enum log_level forced = LOG_LEVEL_INFO;
    if (o.log_level && log_level_parse(o.log_level, &forced) < 0) {
        fprintf(stderr,
                "smtp-health-agent: --log-level: must be debug, info, "
                "warn or error, not '%s'\n",
                o.log_level);
        exit(EXIT_USAGE);
    }
    enum log_format forced_format = LOG_FORMAT_LOGFMT;
    if (o.log_format && log_format_parse(o.log_format, &forced_format) < 0) {
        fprintf(stderr,
                "smtp-health-agent: --log-format: must be logfmt or json, "
                "not '%s'\n",
                o.log_format);
        exit(EXIT_USAGE);
    }
    /* Before the config is read, so that its own lines take the form. */
    if (o.log_format)
        log_set_format(forced_format);

    /* Only a daemon reloads, and keeps files' last good versions. */
    if (!o.check_config && !o.once)
        sd_cache = sd_cache_new();
    size_t file_errors = 0;
    int json_load = o.check_config || o.once ? 0
                    : o.log_format           ? forced_format == LOG_FORMAT_JSON
                                             : -1;
    struct agent_config *cfg =
        load(o.config, !o.check_config, &file_errors, json_load);
    if (o.check_config) {
        /* A broken targets file does not stop an agent, but fails the
         * check: it is what the check is for. */
        bool ok = cfg != NULL && file_errors == 0;
        config_free(cfg);
        exit(ok ? EXIT_OK : EXIT_FAILED);
    }
    if (!cfg)
        exit(o.once ? EXIT_USAGE : EXIT_FAILED);
    if (o.n_targets) {
        int sel = once_select_targets(cfg, o.targets, o.n_targets, stderr);
        if (sel < 0) {
            if (sel == -2)
                fprintf(stderr, "smtp-health-agent: out of memory\n");
            config_free(cfg);
            exit(sel == -2 ? EXIT_FAILED : EXIT_USAGE);
        }
    }
    free(o.targets);
    o.targets = NULL;
    log_set_level(o.log_level ? forced : cfg->log_level);
    log_set_format(o.log_format ? forced_format : cfg->log_format);

    /* Before any thread or connection: raise the soft limit, then see
     * what it leaves room for. */
    fd_budget_read(&fds);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        signals_setup() < 0) {
        fprintf(stderr, "smtp-health-agent: cannot initialise\n");
        config_free(cfg);
        exit(EXIT_FAILED);
    }
    int rc = o.once ? run_once(cfg, o.json) : run_daemon(cfg, &o);
    sd_cache_free(sd_cache);
    curl_global_cleanup();
    exit(rc);
}
