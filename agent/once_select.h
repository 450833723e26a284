/* once_select: --target NAME, the targets that --once probes. */
#ifndef ONCE_SELECT_H
#define ONCE_SELECT_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* Close names suggested for a name that is not a target, at most. */
#define ONCE_SELECT_SUGGESTIONS 3

/*
 * Keeps in cfg only the targets named in names (n of them; a name given
 * twice counts once), in config order, and wipes and frees the secrets
 * of the others as config_free() would. A name is a [target]'s, or a
 * targets file's HOST:PORT/MODULE (HOST:PORT without a module), exactly.
 *
 * 0; -1 when some name is no target of cfg: one line each on err, with
 * up to ONCE_SELECT_SUGGESTIONS close names (the same name in another
 * case, a name it starts (HOST, HOST:PORT), or one or two characters
 * off), and nothing else of the config; -2 when out of memory. cfg is
 * unchanged unless 0. O(targets + names) but for the suggestions.
 */
int once_select_targets(struct agent_config *cfg, const char *const *names,
                        size_t n, FILE *err);

/*
 * The edit distance (insertions, deletions, substitutions; ASCII letters
 * in either case alike) between a and b, or max + 1 when it is more than
 * max (max at most 8). For the suggestions; exposed for its tests.
 */
size_t once_select_distance(const char *a, const char *b, size_t max);

#endif
