/* filewatch: inotify on the targets files' directories, read by a thread
 * of its own so that the probe loop only sees "changed". */
#include "filewatch.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "log.h"
#include "now.h"

#define WATCH_MASK                                                            \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |   \
     IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

/* A watched directory and the names (globs) wanted in it. */
struct wdir {
    int wd;
    char *dir;
    char **names;
    size_t n_names;
};

struct filewatch {
    int fd;      /* inotify */
    int stop[2]; /* a pipe: the thread ends when it becomes readable */
    int wake_fd;
    pthread_t thread;
    pthread_mutex_t lock; /* dirs */
    struct wdir *dirs;
    size_t n_dirs;
    atomic_bool changed;
};

static void wdir_free(struct wdir *d)
{
    for (size_t i = 0; i < d->n_names; i++)
        free(d->names[i]);
    free(d->names);
    free(d->dir);
}

/* Under the lock: whether an event for name in the directory of wd is
 * one of ours. */
static bool wanted(const struct filewatch *w, int wd, const char *name,
                   uint32_t mask)
{
    for (size_t i = 0; i < w->n_dirs; i++) {
        const struct wdir *d = &w->dirs[i];
        if (d->wd != wd)
            continue;
        if (mask & (IN_DELETE_SELF | IN_MOVE_SELF))
            return true;
        if (!name || !name[0])
            return false;
        if (strncmp(name, "..", 2) == 0)
            return true; /* ..data swapped: every file in it changed */
        for (size_t k = 0; k < d->n_names; k++) {
            if (fnmatch(d->names[k], name, FNM_PERIOD) == 0)
                return true;
        }
    }
    return false;
}

/* Reads what is there; true when one of the events is ours. */
static bool read_events(struct filewatch *w)
{
    _Alignas(struct inotify_event) char buf[4096];
    bool ours = false;
    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof(buf));
        if (n <= 0)
            return ours;
        pthread_mutex_lock(&w->lock);
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & IN_Q_OVERFLOW)
                ours = true; /* events were lost: assume the worst */
            else if (!(ev->mask & IN_IGNORED) &&
                     wanted(w, ev->wd, ev->len ? ev->name : NULL, ev->mask))
                ours = true;
            p += sizeof(*ev) + ev->len;
        }
        pthread_mutex_unlock(&w->lock);
    }
}

static void *watch_thread(void *arg)
{
    struct filewatch *w = arg;
    uint64_t pending = 0; /* when the last event of ours came; 0: none */
    for (;;) {
        int timeout = -1;
        if (pending) {
            uint64_t now = now_mono_ms();
            uint64_t due = pending + FILEWATCH_SETTLE_MS;
            timeout = due > now ? (int)(due - now) : 0;
        }
        struct pollfd pfd[2] = {{.fd = w->fd, .events = POLLIN},
                                {.fd = w->stop[0], .events = POLLIN}};
        int rc = poll(pfd, 2, timeout);
        if (rc < 0 && errno != EINTR)
            return NULL;
        if (pfd[1].revents)
            return NULL;
        if (rc > 0 && (pfd[0].revents & POLLIN) && read_events(w))
            pending = now_mono_ms();
        if (pending && now_mono_ms() >= pending + FILEWATCH_SETTLE_MS) {
            pending = 0;
            atomic_store(&w->changed, true);
            ssize_t wr = write(w->wake_fd, "f", 1);
            (void)wr; /* a full pipe wakes the loop already */
        }
    }
}

struct filewatch *filewatch_new(int wake_fd)
{
    struct filewatch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->wake_fd = wake_fd;
    w->stop[0] = w->stop[1] = -1;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        log_warn("filewatch",
                 "cannot watch the targets files; they are read again at "
                 "SIGHUP only",
                 "error=\"%s\"", strerror(errno));
        free(w);
        return NULL;
    }
    if (pipe2(w->stop, O_CLOEXEC) < 0 ||
        pthread_mutex_init(&w->lock, NULL) != 0)
        goto err;
    if (pthread_create(&w->thread, NULL, watch_thread, w) != 0) {
        pthread_mutex_destroy(&w->lock);
        goto err;
    }
    return w;
err:
    log_warn("filewatch",
             "cannot watch the targets files; they are read again at SIGHUP "
             "only",
             "error=\"%s\"", strerror(errno));
    if (w->stop[0] >= 0) {
        close(w->stop[0]);
        close(w->stop[1]);
    }
    close(w->fd);
    free(w);
    return NULL;
}

/* Splits pattern into its directory ("." when none) and name; -1 when
 * out of memory. */
static int split(const char *pattern, char **dir, char **name)
{
    const char *slash = strrchr(pattern, '/');
    if (!slash) {
        *dir = strdup(".");
        *name = strdup(pattern);
    } else {
        size_t n = slash == pattern ? 1 : (size_t)(slash - pattern);
        *dir = strndup(pattern, n);
        *name = strdup(slash + 1);
    }
    if (*dir && *name)
        return 0;
    free(*dir);
    free(*name);
    return -1;
}

void filewatch_set(struct filewatch *w, const char *const *patterns, size_t n)
{
    if (!w)
        return;
    struct wdir *dirs = calloc(n ? n : 1, sizeof(*dirs));
    size_t n_dirs = 0;
    if (!dirs) {
        log_warn("filewatch", "watch set unchanged: out of memory", NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *dir, *name;
        if (split(patterns[i], &dir, &name) < 0)
            continue;
        struct wdir *d = NULL;
        for (size_t k = 0; k < n_dirs && !d; k++) {
            if (strcmp(dirs[k].dir, dir) == 0)
                d = &dirs[k];
        }
        if (!d) {
            /* Watching a directory already watched keeps its wd: no
             * event is lost or doubled across a reload. */
            int wd = inotify_add_watch(w->fd, dir, WATCH_MASK);
            if (wd < 0) {
                log_warn("filewatch",
                         "cannot watch a targets file's directory; changes "
                         "there are read at SIGHUP only",
                         "dir=\"%s\" error=\"%s\"", dir, strerror(errno));
                free(dir);
                free(name);
                continue;
            }
            d = &dirs[n_dirs++];
            d->wd = wd;
            d->dir = dir;
            dir = NULL;
        }
        free(dir);
        char **names = realloc(d->names, (d->n_names + 1) * sizeof(*names));
        if (!names) {
            free(name);
            continue;
        }
        d->names = names;
        d->names[d->n_names++] = name;
    }
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->n_dirs; i++) {
        bool kept = false;
        for (size_t k = 0; k < n_dirs && !kept; k++)
            kept = dirs[k].wd == w->dirs[i].wd;
        if (!kept)
            inotify_rm_watch(w->fd, w->dirs[i].wd);
        wdir_free(&w->dirs[i]);
    }
    free(w->dirs);
    w->dirs = dirs;
    w->n_dirs = n_dirs;
    pthread_mutex_unlock(&w->lock);
}

bool filewatch_take(struct filewatch *w)
{
    return w && atomic_exchange(&w->changed, false);
}

void filewatch_free(struct filewatch *w)
{
    if (!w)
        return;
    ssize_t wr = write(w->stop[1], "s", 1);
    (void)wr;
    pthread_join(w->thread, NULL);
    for (size_t i = 0; i < w->n_dirs; i++)
        wdir_free(&w->dirs[i]);
    free(w->dirs);
    pthread_mutex_destroy(&w->lock);
    close(w->stop[0]);
    close(w->stop[1]);
    close(w->fd);
    free(w);
}
