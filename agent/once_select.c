/* once_select: --target NAME, the targets that --once probes. */
#include "once_select.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"

/* once_select_distance()'s largest max, and its longest b. */
#define DISTANCE_MAX  8
#define DISTANCE_COLS (CONFIG_TARGET_NAME_MAX + DISTANCE_MAX + 2)

size_t once_select_distance(const char *a, const char *b, size_t max)
{
    if (max > DISTANCE_MAX)
        max = DISTANCE_MAX;
    const size_t over = max + 1;
    size_t la = strlen(a), lb = strlen(b);
    if ((la > lb ? la - lb : lb - la) > max || lb + 1 >= DISTANCE_COLS)
        return over;
    /* Only cells within max of the diagonal can end at most max: each
     * row computes its band, and the cell on either side of it reads as
     * over, so a row costs 2 max + 1 cells, not the length of b. */
    size_t rows[2][DISTANCE_COLS];
    size_t *prev = rows[0], *cur = rows[1];
    size_t hi = lb < max ? lb : max;
    for (size_t j = 0; j <= hi; j++)
        prev[j] = j;
    if (hi < lb)
        prev[hi + 1] = over;
    for (size_t i = 1; i <= la; i++) {
        size_t lo = i > max ? i - max : 0;
        hi = i + max < lb ? i + max : lb;
        size_t best = over, j = lo;
        if (lo == 0) {
            cur[0] = i;
            best = i;
            j = 1;
        } else {
            cur[lo - 1] = over;
        }
        for (; j <= hi; j++) {
            int ca = tolower((unsigned char)a[i - 1]);
            int cb = tolower((unsigned char)b[j - 1]);
            size_t v = prev[j - 1] + (ca != cb);
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            cur[j] = v;
            if (v < best)
                best = v;
        }
        if (hi < lb)
            cur[hi + 1] = over;
        if (best > max)
            return over;
        size_t *t = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb] < over ? prev[lb] : over;
}

/* The requested names, deduplicated through a hash of them. */
struct wanted {
    const char *const *names;
    struct hashtab index; /* name -> its position in names */
    bool *found;
};

static bool wanted_is(const void *ctx, size_t value, const void *key)
{
    const struct wanted *w = ctx;
    return strcmp(w->names[value], key) == 0;
}

static size_t wanted_find(const struct wanted *w, const char *name)
{
    return hashtab_find(&w->index, hashtab_hash_str(name), name, wanted_is, w);
}

static int wanted_init(struct wanted *w, const char *const *names, size_t n)
{
    w->names = names;
    hashtab_init(&w->index);
    w->found = calloc(n ? n : 1, sizeof(*w->found));
    if (!w->found || hashtab_reserve(&w->index, n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (wanted_find(w, names[i]) != HASHTAB_NONE)
            continue; /* given twice: probed once */
        if (hashtab_insert(&w->index, hashtab_hash_str(names[i]), i) < 0)
            return -1;
    }
    return 0;
}

static void wanted_free(struct wanted *w)
{
    hashtab_free(&w->index);
    free(w->found);
}

/* Not close: no suggestion. */
#define FAR SIZE_MAX

/* How close target is to name, the lower the closer: 0 the same but
 * for case; 1 name is its HOST or HOST:PORT (a targets file's target,
 * HOST:PORT/MODULE); 1 or 2 characters off (1 only for a name of 3
 * characters or fewer); 3 a name of 3 characters or more that it starts
 * with; else FAR. */
static size_t closeness(const char *name, const char *target)
{
    size_t len = strlen(name);
    size_t max = len <= 3 ? 1 : 2;
    size_t d = once_select_distance(name, target, max);
    if (d <= 1)
        return d;
    bool prefix = strncmp(target, name, len) == 0;
    if (prefix && (target[len] == ':' || target[len] == '/'))
        return 1;
    if (d <= max)
        return d;
    return prefix && len >= 3 ? 3 : FAR;
}

/* name as the operator typed it, printable: other bytes as '?', and
 * cut short past the longest target name. */
static void print_name(FILE *err, const char *name)
{
    size_t k = 0;
    for (; name[k] && k < CONFIG_TARGET_NAME_MAX; k++) {
        unsigned char c = (unsigned char)name[k];
        fputc(c >= 0x20 && c < 0x7f ? c : '?', err);
    }
    if (name[k])
        fputs("...", err);
}

/* One line for a name that is no target: its closest names, or what a
 * name is. Names only: nothing else of the config. */
static void say_unknown(FILE *err, const struct agent_config *cfg,
                        const char *name)
{
    struct {
        size_t score, at;
    } best[ONCE_SELECT_SUGGESTIONS];
    size_t n_best = 0;
    for (size_t i = 0; i < cfg->n_targets; i++) {
        size_t s = closeness(name, cfg->targets[i].name);
        if (s == FAR)
            continue;
        /* Sorted by score, then config order: when full, one no better
         * than the last kept stays out, a better one pushes it off. */
        if (n_best == ONCE_SELECT_SUGGESTIONS && best[n_best - 1].score <= s)
            continue;
        size_t k = n_best < ONCE_SELECT_SUGGESTIONS ? n_best++ : n_best - 1;
        while (k > 0 && best[k - 1].score > s) {
            best[k] = best[k - 1];
            k--;
        }
        best[k].score = s;
        best[k].at = i;
    }
    fputs("smtp-health-agent: --target: no target named '", err);
    print_name(err, name);
    fprintf(err, "' in %s", cfg->path);
    for (size_t k = 0; k < n_best; k++)
        fprintf(err, "%s'%s'",
                k == 0           ? "; did you mean "
                : k + 1 < n_best ? ", "
                                 : " or ",
                cfg->targets[best[k].at].name);
    if (n_best)
        fputc('?', err);
    else
        fprintf(err,
                " (%zu target%s; a name is a [target \"NAME\"]'s, or a "
                "targets file's HOST:PORT/MODULE)",
                cfg->n_targets, cfg->n_targets == 1 ? "" : "s");
    if (cfg->shards > 1)
        fprintf(err,
                "; this agent probes shard %u/%u, and %zu targets "
                "are other shards'",
                cfg->shard, cfg->shards, cfg->n_other_shards);
    fputc('\n', err);
}

/* A target left out: its secret goes now, as config_free() would. */
static void drop_secret(struct target_config *t)
{
    if (t->secret && !t->secret_shared) {
        explicit_bzero(t->secret, t->secret_len);
        free(t->secret);
    }
    t->secret = NULL;
    t->secret_len = 0;
    t->secret_shared = false;
}

int once_select_targets(struct agent_config *cfg, const char *const *names,
                        size_t n, FILE *err)
{
    struct wanted w;
    if (wanted_init(&w, names, n) < 0) {
        wanted_free(&w);
        return -2;
    }
    for (size_t i = 0; i < cfg->n_targets; i++) {
        size_t at = wanted_find(&w, cfg->targets[i].name);
        if (at != HASHTAB_NONE)
            w.found[at] = true;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        /* A name given twice is said once: at its first place. */
        if (!w.found[i] && wanted_find(&w, names[i]) == i) {
            say_unknown(err, cfg, names[i]);
            rc = -1;
        }
    }
    if (rc == 0) {
        /* A targets file's targets come after the sections'. */
        size_t first_file = cfg->n_targets - cfg->n_file_targets;
        size_t kept = 0, kept_files = 0;
        for (size_t i = 0; i < cfg->n_targets; i++) {
            struct target_config *t = &cfg->targets[i];
            if (wanted_find(&w, t->name) == HASHTAB_NONE) {
                drop_secret(t);
                continue;
            }
            kept_files += i >= first_file;
            cfg->targets[kept++] = *t;
        }
        cfg->n_targets = kept;
        cfg->n_file_targets = kept_files;
    }
    wanted_free(&w);
    return rc;
}
