/* fuzz_sdfile: any file_sd text parses into checked groups or fails with
 * a message, nothing in between. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_value.h"
#include "fuzz_common.h"
#include "labels.h"
#include "sdfile.h"

/*
 * The first byte picks the format ('j' JSON, 'y' YAML, anything else
 * neither); the rest is the file. Properties, for every input:
 * - no crash, no leak, no undefined behaviour (the sanitizers); the walk
 *   of a YAML file stays in proportion to its size (libFuzzer's timeout);
 * - a failure leaves the result empty and says something;
 * - a success holds only checked values: groups that tile the targets in
 *   order, hosts that are host names or addresses, ports of 0 to 65535,
 *   modules that are module names, at most LABELS_MAX labels a group,
 *   each a label name a user may give (none twice) with a non-empty
 *   UTF-8 value without control characters of at most LABEL_VALUE_MAX
 *   bytes.
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_group(const struct sd_file *f, const struct sd_group *g,
                        size_t want_first)
{
    FUZZ_CHECK(g->first == want_first);
    FUZZ_CHECK(g->first + g->n_targets <= f->n_targets);
    FUZZ_CHECK(g->module != NULL && g->labels != NULL);
    FUZZ_CHECK(!g->module[0] ||
               config_valid_target_name(g->module, strlen(g->module)));
    char seen[LABELS_CANON_MAX];
    size_t o = 0, n = 0;
    seen[0] = '\0';
    const char *name, *value;
    for (const char *p = labels_next(g->labels, &name, &value); p;
         p = labels_next(p, &name, &value)) {
        FUZZ_CHECK(labels_check_name(name, strlen(name), seen) == LABELS_OK);
        size_t vn = strlen(value);
        FUZZ_CHECK(vn > 0 && vn <= LABEL_VALUE_MAX);
        FUZZ_CHECK(labels_check_value(value, vn) == LABELS_OK);
        size_t nn = strlen(name);
        memcpy(seen + o, name, nn + 1);
        memcpy(seen + o + nn + 1, value, vn + 1);
        o += nn + 1 + vn + 1;
        seen[o] = '\0';
        n++;
    }
    FUZZ_CHECK(n == g->n_labels && n <= LABELS_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum sd_format fmt = data[0] == 'j'   ? SD_FORMAT_JSON
                         : data[0] == 'y' ? SD_FORMAT_YAML
                                          : SD_FORMAT_NONE;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct sd_file f;
    char err[512];
    memset(err, 'x', sizeof(err));
    int rc = sd_parse(fmt, text, len, &f, err, sizeof(err));
    if (rc != 0) {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0]);
        FUZZ_CHECK(f.n_targets == 0 && f.n_groups == 0 && !f.targets &&
                   !f.groups);
        return 0;
    }
    FUZZ_CHECK(f.n_targets <= SD_TARGETS_MAX);
    for (size_t i = 0; i < f.n_targets; i++) {
        FUZZ_CHECK(config_valid_host(f.targets[i].host));
        FUZZ_CHECK(f.targets[i].port <= 65535);
    }
    size_t next = 0;
    for (size_t g = 0; g < f.n_groups; g++) {
        check_group(&f, &f.groups[g], next);
        next += f.groups[g].n_targets;
    }
    FUZZ_CHECK(next == f.n_targets);
    sd_file_free(&f);
    return 0;
}
