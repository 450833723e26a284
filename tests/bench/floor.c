/* floor: the CPU floor of a STARTTLS + AUTH PLAIN probe through libcurl.
 *
 * The agent's probe done by nothing but one bare curl multi handle, at a
 * fixed rate and a cap on probes in flight, so that scale.py can state
 * the agent's CPU per probe as a multiple of it. The exchange is the
 * agent's (agent/probe_connect.c, probe_session.c): curl's connect phase
 * with CURLOPT_CONNECT_ONLY on smtp://127.0.0.1:PORT/EHLO-NAME (greeting,
 * EHLO, STARTTLS, full TLS handshake, EHLO again), then "AUTH PLAIN
 * <initial response>" and "QUIT" sent with curl_easy_send, each reply read
 * with curl_easy_recv until its last line, and the handle removed after
 * the 221. The one difference: curl verifies the certificate itself
 * (CURLOPT_CAINFO = the test CA, CAPATH NULL, so its per-multi CA cache
 * works), where the agent verifies the chain on its own.
 *
 * Not part of the build or of ctest: scale.py compiles it on each run
 * (cc -std=c11 -O2 floor.c -lcurl), with the flags the agent's
 * RelWithDebInfo build uses for optimisation.
 *
 *   floor --ports P1,P2,... --ca FILE --user USER --password-file FILE
 *         --rate PROBES_PER_S --concurrency N --warmup S --duration S
 *         [--ehlo NAME] [--timeout S]
 *
 * The password comes from a file (0600), never argv. Probes start on a
 * fixed grid (probe i at i / rate), over the ports in turn; a probe due
 * while N are in flight waits for a slot (counted as "late"). After
 * --warmup seconds the CPU (getrusage, utime + stime) and the count of
 * finished probes are noted; after --duration more seconds again, and one
 * JSON line goes to stdout. Exit 0 only when every probe got 235 and 221.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>

#define MAX_PORTS 64
#define REPLY_MAX 4096

enum step { STEP_CONNECT, STEP_AUTH, STEP_QUIT, STEP_DONE };

struct probe {
    CURL *easy;
    enum step step;
    curl_socket_t sock;
    double deadline;
    const char *out; /* what is left to send of the current command */
    size_t out_len;
    char reply[REPLY_MAX];
    size_t reply_len;
    bool failed;
};

struct opts {
    unsigned ports[MAX_PORTS];
    size_t n_ports;
    const char *ca;
    const char *user;
    const char *password_file;
    const char *ehlo;
    double rate, warmup, duration, timeout;
    long concurrency;
};

static struct {
    uint64_t started, ok, failed, late;
    uint64_t fail_connect, fail_auth, fail_quit, fail_timeout;
    char first_error[256];
} stats;

static char *auth_line; /* "AUTH PLAIN <base64>\r\n": a secret */
static size_t auth_len;
static const char quit_line[] = "QUIT\r\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static size_t base64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

/* The AUTH PLAIN line from the user and the password file's first line. */
static int make_auth_line(const char *user, const char *path)
{
    char pw[1024];
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "floor: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!fgets(pw, sizeof pw, f)) {
        fclose(f);
        fprintf(stderr, "floor: %s: empty\n", path);
        return -1;
    }
    fclose(f);
    pw[strcspn(pw, "\r\n")] = '\0';

    size_t ul = strlen(user), pl = strlen(pw);
    size_t raw_len = ul + pl + 2;
    unsigned char *raw = malloc(raw_len);
    size_t cap = 16 + (raw_len + 2) / 3 * 4 + 3;
    auth_line = malloc(cap);
    if (!raw || !auth_line) {
        free(raw);
        fprintf(stderr, "floor: out of memory\n");
        return -1;
    }
    raw[0] = '\0';
    memcpy(raw + 1, user, ul);
    raw[ul + 1] = '\0';
    memcpy(raw + ul + 2, pw, pl);
    wipe(pw, sizeof pw);
    memcpy(auth_line, "AUTH PLAIN ", 11);
    size_t n = base64(raw, raw_len, auth_line + 11);
    wipe(raw, raw_len);
    free(raw);
    memcpy(auth_line + 11 + n, "\r\n", 3);
    auth_len = 11 + n + 2;
    return 0;
}

static void fail(struct probe *p, uint64_t *counter, const char *what)
{
    if (!p->failed) {
        p->failed = true;
        (*counter)++;
        if (!stats.first_error[0])
            snprintf(stats.first_error, sizeof stats.first_error, "%s", what);
    }
    p->step = STEP_DONE;
}

static void send_command(struct probe *p, const char *line, size_t len,
                         enum step next)
{
    p->out = line;
    p->out_len = len;
    p->reply_len = 0;
    p->step = next;
}

/* Sends what is left of the command; false on a broken connection. */
static bool flush(struct probe *p)
{
    while (p->out_len > 0) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(p->easy, p->out, p->out_len, &n);
        if (rc == CURLE_AGAIN)
            return true;
        if (rc != CURLE_OK)
            return false;
        p->out += n;
        p->out_len -= n;
    }
    return true;
}

/* The code of the reply's last line once it is complete, 0 before, -1 on a
 * malformed or oversized reply. */
static int reply_code(const struct probe *p)
{
    size_t start = 0;
    for (size_t i = 0; i + 1 < p->reply_len; i++) {
        if (p->reply[i] != '\r' || p->reply[i + 1] != '\n')
            continue;
        if (i - start < 3)
            return -1;
        if (i - start == 3 || p->reply[start + 3] == ' ')
            return atoi(p->reply + start);
        start = i + 2;
    }
    return p->reply_len >= sizeof p->reply ? -1 : 0;
}

/* Reads what is there (TLS records may come in pieces) and acts on a
 * complete reply; the server may close right after its 221. */
static void on_readable(struct probe *p)
{
    bool closed = false;
    for (;;) {
        size_t room = sizeof p->reply - p->reply_len, n = 0;
        if (room == 0)
            break;
        CURLcode rc =
            curl_easy_recv(p->easy, p->reply + p->reply_len, room, &n);
        if (rc == CURLE_AGAIN)
            break;
        if (rc != CURLE_OK || n == 0) {
            closed = true;
            break;
        }
        p->reply_len += n;
    }
    int code = reply_code(p);
    if (code == 0 && closed) {
        fail(p, p->step == STEP_AUTH ? &stats.fail_auth : &stats.fail_quit,
             "connection closed before a complete reply");
        return;
    }
    if (code == 0)
        return;
    if (p->step == STEP_AUTH) {
        if (code != 235) {
            fail(p, &stats.fail_auth, "AUTH PLAIN did not get 235");
            return;
        }
        send_command(p, quit_line, sizeof quit_line - 1, STEP_QUIT);
        if (!flush(p))
            fail(p, &stats.fail_quit, "sending QUIT failed");
        return;
    }
    if (code != 221) {
        fail(p, &stats.fail_quit, "QUIT did not get 221");
        return;
    }
    stats.ok++;
    p->step = STEP_DONE;
}

static CURL *easy_new(const struct opts *o, unsigned port, struct probe *p)
{
    char url[256];
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    snprintf(url, sizeof url, "smtp://127.0.0.1:%u/%s", port, o->ehlo);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp");
    curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(e, CURLOPT_CAINFO, o->ca);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(o->timeout * 1000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1000));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, p);
    return e;
}

static int parse_ports(struct opts *o, const char *s)
{
    char *copy = strdup(s), *save = NULL;
    if (!copy)
        return -1;
    for (char *t = strtok_r(copy, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        long v = strtol(t, NULL, 10);
        if (v <= 0 || v > 65535 || o->n_ports == MAX_PORTS) {
            free(copy);
            return -1;
        }
        o->ports[o->n_ports++] = (unsigned)v;
    }
    free(copy);
    return o->n_ports ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.ehlo = "bench.localhost", .timeout = 10,
                       .concurrency = 256, .warmup = 5, .duration = 60};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return -1;
        i++;
        if (strcmp(k, "--ports") == 0) {
            if (parse_ports(o, v) < 0)
                return -1;
        } else if (strcmp(k, "--ca") == 0) {
            o->ca = v;
        } else if (strcmp(k, "--user") == 0) {
            o->user = v;
        } else if (strcmp(k, "--password-file") == 0) {
            o->password_file = v;
        } else if (strcmp(k, "--ehlo") == 0) {
            o->ehlo = v;
        } else if (strcmp(k, "--rate") == 0) {
            o->rate = strtod(v, NULL);
        } else if (strcmp(k, "--concurrency") == 0) {
            o->concurrency = strtol(v, NULL, 10);
        } else if (strcmp(k, "--warmup") == 0) {
            o->warmup = strtod(v, NULL);
        } else if (strcmp(k, "--duration") == 0) {
            o->duration = strtod(v, NULL);
        } else if (strcmp(k, "--timeout") == 0) {
            o->timeout = strtod(v, NULL);
        } else {
            return -1;
        }
    }
    if (!o->n_ports || !o->ca || !o->user || !o->password_file ||
        o->rate <= 0 || o->concurrency <= 0 || o->duration <= 0)
        return -1;
    return 0;
}

/* Ends finished probes: QUIT answered or failed. */
static void reap(CURLM *multi, struct probe *slots, long n, long *in_flight)
{
    for (long i = 0; i < n; i++) {
        struct probe *p = &slots[i];
        if (!p->easy || p->step != STEP_DONE)
            continue;
        if (p->failed)
            stats.failed++;
        curl_multi_remove_handle(multi, p->easy);
        curl_easy_cleanup(p->easy);
        p->easy = NULL;
        (*in_flight)--;
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_args(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: floor --ports P1,P2 --ca FILE --user USER "
                        "--password-file FILE --rate R --concurrency N "
                        "--warmup S --duration S [--ehlo NAME] "
                        "[--timeout S]\n");
        return 2;
    }
    if (make_auth_line(o.user, o.password_file) < 0)
        return 2;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 2;

    CURLM *multi = curl_multi_init();
    struct probe *slots = calloc((size_t)o.concurrency, sizeof *slots);
    struct curl_waitfd *fds = calloc((size_t)o.concurrency, sizeof *fds);
    if (!multi || !slots || !fds) {
        fprintf(stderr, "floor: out of memory\n");
        return 2;
    }

    long in_flight = 0;
    double t0 = now_s(), t_mark = t0 + o.warmup,
           t_end = t_mark + o.duration;
    double cpu0 = 0, cpu1 = 0, wall0 = 0, wall1 = 0;
    uint64_t done0 = 0, done1 = 0, ok0 = 0, ok1 = 0;
    bool marked = false;
    uint64_t next = 0; /* index of the next probe on the grid */

    for (;;) {
        double t = now_s();
        if (!marked && t >= t_mark) {
            cpu0 = cpu_s();
            wall0 = t;
            done0 = stats.ok + stats.failed;
            ok0 = stats.ok;
            marked = true;
        }
        if (t >= t_end)
            break;

        /* Start what is due, as long as there is a free slot. */
        while (t0 + (double)next / o.rate <= t && in_flight < o.concurrency) {
            long k = 0;
            while (slots[k].easy)
                k++;
            struct probe *p = &slots[k];
            *p = (struct probe){.step = STEP_CONNECT, .sock = CURL_SOCKET_BAD,
                                .deadline = t + o.timeout};
            p->easy = easy_new(&o, o.ports[next % o.n_ports], p);
            if (!p->easy || curl_multi_add_handle(multi, p->easy) != CURLM_OK) {
                fprintf(stderr, "floor: cannot start a probe\n");
                return 2;
            }
            if (t - (t0 + (double)next / o.rate) > 0.1)
                stats.late++;
            stats.started++;
            in_flight++;
            next++;
        }

        /* Our sockets: sessions past the connect phase. */
        unsigned nfds = 0;
        for (long i = 0; i < o.concurrency; i++) {
            struct probe *p = &slots[i];
            if (!p->easy || p->step == STEP_CONNECT || p->step == STEP_DONE)
                continue;
            short ev = CURL_WAIT_POLLIN;
            if (p->out_len)
                ev |= CURL_WAIT_POLLOUT;
            fds[nfds++] = (struct curl_waitfd){p->sock, ev, 0};
        }
        double due = t0 + (double)next / o.rate - t;
        int wait_ms = in_flight < o.concurrency ? (int)(due * 1000) + 1 : 100;
        if (wait_ms > 100)
            wait_ms = 100;
        if (wait_ms < 0)
            wait_ms = 0;
        int numfds = 0;
        if (curl_multi_poll(multi, fds, nfds, wait_ms, &numfds) != CURLM_OK)
            return 2;
        int running = 0;
        curl_multi_perform(multi, &running);

        /* Connect phases that ended: on to AUTH. */
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct probe *p = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
            if (msg->data.result != CURLE_OK) {
                fail(p, &stats.fail_connect,
                     curl_easy_strerror(msg->data.result));
                continue;
            }
            if (curl_easy_getinfo(p->easy, CURLINFO_ACTIVESOCKET, &p->sock) !=
                    CURLE_OK ||
                p->sock == CURL_SOCKET_BAD) {
                fail(p, &stats.fail_connect, "no socket after connect");
                continue;
            }
            send_command(p, auth_line, auth_len, STEP_AUTH);
            if (!flush(p))
                fail(p, &stats.fail_auth, "sending AUTH failed");
        }

        /* Our sockets that poll saw ready (TLS may hold more than one
         * record: on_readable reads until CURLE_AGAIN). */
        for (unsigned i = 0; i < nfds; i++) {
            if (!fds[i].revents)
                continue;
            for (long k = 0; k < o.concurrency; k++) {
                struct probe *p = &slots[k];
                if (!p->easy || p->sock != fds[i].fd ||
                    p->step == STEP_CONNECT || p->step == STEP_DONE)
                    continue;
                if (p->out_len && !flush(p)) {
                    fail(p, &stats.fail_auth, "sending failed");
                    break;
                }
                on_readable(p);
                break;
            }
        }

        double tn = now_s();
        for (long i = 0; i < o.concurrency; i++) {
            struct probe *p = &slots[i];
            if (p->easy && p->step != STEP_DONE && tn > p->deadline)
                fail(p, &stats.fail_timeout, "probe deadline passed");
        }
        reap(multi, slots, o.concurrency, &in_flight);
        if (marked) {
            cpu1 = cpu_s();
            wall1 = tn;
            done1 = stats.ok + stats.failed;
            ok1 = stats.ok;
        }
    }

    uint64_t window = done1 - done0;
    printf("{\"rate\": %.3f, \"concurrency\": %ld, \"seconds\": %.3f, "
           "\"probes\": %llu, \"succeeded\": %llu, \"cpu_s\": %.4f, "
           "\"cpu_ms_per_probe\": %.4f, \"started_total\": %llu, "
           "\"ok_total\": %llu, \"failed_total\": %llu, \"late\": %llu, "
           "\"fail_connect\": %llu, \"fail_auth\": %llu, \"fail_quit\": %llu, "
           "\"fail_timeout\": %llu, \"first_error\": \"%s\"}\n",
           o.rate, o.concurrency, wall1 - wall0, (unsigned long long)window,
           (unsigned long long)(ok1 - ok0), cpu1 - cpu0,
           window ? (cpu1 - cpu0) / (double)window * 1000 : 0.0,
           (unsigned long long)stats.started, (unsigned long long)stats.ok,
           (unsigned long long)stats.failed, (unsigned long long)stats.late,
           (unsigned long long)stats.fail_connect,
           (unsigned long long)stats.fail_auth,
           (unsigned long long)stats.fail_quit,
           (unsigned long long)stats.fail_timeout, stats.first_error);

    for (long i = 0; i < o.concurrency; i++) {
        if (slots[i].easy) {
            curl_multi_remove_handle(multi, slots[i].easy);
            curl_easy_cleanup(slots[i].easy);
        }
    }
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    wipe(auth_line, auth_len);
    free(auth_line);
    free(slots);
    free(fds);
    return stats.failed ? 1 : 0;
}
