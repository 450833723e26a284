/* filewatch: tells the probe loop that a targets file changed: a thread
 * that reads inotify events of the files' directories. */
#ifndef FILEWATCH_H
#define FILEWATCH_H

#include <stdbool.h>
#include <stddef.h>

/* Quiet time after the last event before a change is told: a file
 * written in several steps, or renamed into place, is one change. */
#define FILEWATCH_SETTLE_MS 200

struct filewatch;

/* A watcher that writes a byte to wake_fd (non-blocking) when a change
 * is ready to take. NULL when inotify or a thread is not available (said
 * in the log): then only SIGHUP reloads. */
struct filewatch *filewatch_new(int wake_fd);

/*
 * Watches what patterns ("DIR/NAME" with glob characters in NAME only)
 * can match: a file created, written and closed, renamed into or out of
 * DIR, deleted or given other permissions, or DIR itself removed. A
 * Kubernetes-style swap of DIR/..data counts too. Replaces the last set;
 * a directory that cannot be watched is logged and left out.
 */
void filewatch_set(struct filewatch *w, const char *const *patterns, size_t n);

/* Whether a change came since the last call. NULL: never. */
bool filewatch_take(struct filewatch *w);

/* Stops the thread; NULL is a no-op. */
void filewatch_free(struct filewatch *w);

#endif
