/* main: flags, signals, wiring of the modules; the only exit(). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "classify.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "once.h"
#include "runner.h"
#include "version.h"

/* A bad config exits 1 (DESIGN.md), except under --once, where 1 means
 * "a target failed" and a bad config or bad usage is 2. */
enum exit_code { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

struct options {
    const char *config;
    const char *listen;
    const char *log_level;
    const char *explain;
    bool check_config;
    bool once;
};

static volatile sig_atomic_t got_stop, got_reload;
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
            "      --once            probe every target once, print a "
            "table,\n"
            "                        exit 0 if all succeeded, 1 if any\n"
            "                        failed, 2 for a bad config\n"
            "      --explain WHAT    what a reply code, class or error "
            "means\n"
            "      --listen ADDR     override [agent] listen "
            "(host:port)\n"
            "      --log-level LVL   override [agent] log_level\n"
            "  -V, --version         print versions and exit\n"
            "  -h, --help            this text\n",
            CONFIG_DEFAULT_PATH);
}

static int parse_args(int argc, char **argv, struct options *o)
{
    enum { OPT_CHECK = 256, OPT_ONCE, OPT_EXPLAIN, OPT_LISTEN, OPT_LEVEL };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"once", no_argument, NULL, OPT_ONCE},
        {"explain", required_argument, NULL, OPT_EXPLAIN},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"log-level", required_argument, NULL, OPT_LEVEL},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    o->config = CONFIG_DEFAULT_PATH;
    while ((c = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
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
        case OPT_LISTEN:
            o->listen = optarg;
            break;
        case OPT_LEVEL:
            o->log_level = optarg;
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
    return 0;
}

/* A short reading of a code, class or error; the full catalogue with
 * meaning, cause and fix is the status page's job. */
static int explain(const char *what)
{
    char *end;
    long code = strtol(what, &end, 10);
    if (*what && *end == '\0' && code >= 200 && code <= 599) {
        printf("%ld:\n", code);
        for (int s = 0; s < PROBE_STAGE_COUNT; s++) {
            if (classify_expected_code((enum probe_stage)s) == 0)
                continue;
            printf("  in reply to %-9s -> class %s\n",
                   probe_stage_name((enum probe_stage)s),
                   smtp_class_name(
                       classify_reply((enum probe_stage)s, (int)code)));
        }
        return EXIT_OK;
    }
    enum smtp_class cls;
    enum probe_error err;
    if (smtp_class_parse(what, &cls) == 0) {
        printf("%s: a class of final replies (see DESIGN's class table)\n",
               smtp_class_name(cls));
        return EXIT_OK;
    }
    if (probe_error_parse(what, &err) == 0 && err != PROBE_ERROR_NONE) {
        printf("%s: a probe failure without a reply\n", probe_error_name(err));
        return EXIT_OK;
    }
    fprintf(stderr, "smtp-health-agent: nothing known as '%s'\n", what);
    return EXIT_FAILED;
}

/* Loads the config, printing every problem to stderr. */
static struct agent_config *load(const char *path, bool quiet_ok)
{
    struct config_diag diag;
    config_diag_init(&diag);
    struct agent_config *cfg = config_load(path, &diag);
    fputs(buf_str(&diag.warnings), stderr);
    fputs(buf_str(&diag.errors), stderr);
    if (!cfg)
        fprintf(stderr, "%s: %zu error%s\n", path, diag.n_errors,
                diag.n_errors == 1 ? "" : "s");
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

/* SIGHUP: a config that fails to load leaves the running one alone. */
static void reload(const char *path, struct runner *runner,
                   struct metrics *metrics, struct http_server *http,
                   const struct options *o)
{
    struct config_diag diag;
    config_diag_init(&diag);
    struct agent_config *cfg = config_load(path, &diag);
    log_problems(LOG_LEVEL_WARN, "config warning", &diag.warnings);
    log_problems(LOG_LEVEL_ERROR, "config error", &diag.errors);
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
    size_t n = cfg->n_targets;
    if (runner_set_config(runner, cfg) < 0) {
        log_error("main", "reload failed: out of memory", "path=%s", path);
        metrics_config_loaded(metrics, false, now);
        return;
    }
    metrics_config_loaded(metrics, true, now);
    if (http_set_targets(http, runner_config(runner)) < 0)
        log_warn("main", "status page keeps the old targets: out of memory",
                 NULL);
    if (http_set_auth(http, runner_config(runner)) < 0)
        log_warn("main", "basic auth keeps the old users: out of memory",
                 NULL);
    log_info("main", "config reloaded", "path=%s targets=%zu", path, n);
}

static int run_once(struct agent_config *cfg)
{
    struct runner *runner = runner_new(NULL, true, (unsigned long)getpid());
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
    once_print_table(stdout, res, n, (double)time(NULL));
    int rc = runner_finished(runner) ? once_exit_status(res, n) : EXIT_FAILED;
    runner_free(runner);
    return rc;
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

    struct metrics *metrics = metrics_new(&info);
    struct runner *runner =
        runner_new(metrics, false, (unsigned long)time(NULL) ^ getpid());
    if (!metrics || !runner) {
        fprintf(stderr, "smtp-health-agent: out of memory\n");
        runner_free(runner);
        metrics_free(metrics);
        config_free(cfg);
        return EXIT_FAILED;
    }
    size_t n_targets = cfg->n_targets;
    if (runner_set_config(runner, cfg) < 0) {
        fprintf(stderr, "smtp-health-agent: out of memory\n");
        runner_free(runner);
        metrics_free(metrics);
        return EXIT_FAILED;
    }
    metrics_config_loaded(metrics, true, (double)time(NULL));

    char err[256] = "";
    const struct agent_config *run_cfg = runner_config(runner);
    struct http_options hopt = {.listen = listen,
                                .metrics = metrics,
                                .tls_cert_file = run_cfg->web_tls_cert_file,
                                .tls_key_file = run_cfg->web_tls_key_file,
                                .users = run_cfg->web_users,
                                .n_users = run_cfg->n_web_users};
    struct http_server *http = http_start(&hopt, err, sizeof(err));
    if (!http) {
        fprintf(stderr, "smtp-health-agent: cannot listen on %s: %s\n", listen,
                err);
        runner_free(runner);
        metrics_free(metrics);
        return EXIT_FAILED;
    }
    if (http_set_targets(http, runner_config(runner)) < 0)
        log_warn("main", "status page without targets: out of memory", NULL);
    http_set_ready(http, true);
    log_info("main", "started", "version=%s listen=%s targets=%zu",
             AGENT_VERSION, listen, n_targets);

    int rc = EXIT_OK;
    while (!got_stop) {
        int woken = runner_step(runner, wake_pipe[0], 1000);
        if (woken < 0) {
            log_error("main", "curl multi interface failed", NULL);
            rc = EXIT_FAILED;
            break;
        }
        if (woken)
            wake_drain();
        if (got_reload) {
            got_reload = 0;
            reload(o->config, runner, metrics, http, o);
        }
    }
    log_info("main", "stopping", NULL);
    http_stop(http);
    runner_free(runner);
    metrics_free(metrics);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o;
    memset(&o, 0, sizeof(o));
    if (parse_args(argc, argv, &o) < 0)
        exit(EXIT_USAGE);
    if (o.explain)
        exit(explain(o.explain));

    enum log_level forced = LOG_LEVEL_INFO;
    if (o.log_level && log_level_parse(o.log_level, &forced) < 0) {
        fprintf(stderr,
                "smtp-health-agent: --log-level: must be debug, info, "
                "warn or error, not '%s'\n",
                o.log_level);
        exit(EXIT_USAGE);
    }

    struct agent_config *cfg = load(o.config, !o.check_config);
    if (o.check_config) {
        bool ok = cfg != NULL;
        config_free(cfg);
        exit(ok ? EXIT_OK : EXIT_FAILED);
    }
    if (!cfg)
        exit(o.once ? EXIT_USAGE : EXIT_FAILED);
    log_set_level(o.log_level ? forced : cfg->log_level);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        signals_setup() < 0) {
        fprintf(stderr, "smtp-health-agent: cannot initialise\n");
        config_free(cfg);
        exit(EXIT_FAILED);
    }
    int rc = o.once ? run_once(cfg) : run_daemon(cfg, &o);
    curl_global_cleanup();
    exit(rc);
}
