/* file: the one way the agent reads a file: without blocking, bounded. */
#ifndef FILE_H
#define FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Every file the agent reads (config, password, CA bundle, PEM, users) is
 * opened with O_NONBLOCK, so that a FIFO, a device or a socket where a
 * file is expected can never block the probe loop or signal handling: it
 * fails at once as "not a regular file". A file must also be 1 to max
 * bytes, and is read whole into one allocation of its size, so that a
 * secret leaves no copies behind.
 */
enum file_status {
    FILE_OK,
    FILE_ERRNO,       /* open, fstat or read failed: see err */
    FILE_NOT_REGULAR, /* a FIFO, directory, device or socket */
    FILE_EMPTY,
    FILE_TOO_LARGE, /* more than max bytes */
    FILE_CHANGED,   /* it grew or shrank while being read */
    FILE_NO_MEMORY,
};

/* What fstat() said of the file, once it was opened. */
struct file_info {
    mode_t mode;
    uid_t uid;
    gid_t gid;
    off_t size;
};

/*
 * The bits of a secret file's mode (of 066) that let somebody besides its
 * owner read or write it. Read by the group does not count when the group
 * is the agent's own (its effective gid): the packaged setup, a file
 * root:smtp-health-agent 0640 in a directory only that group may enter.
 */
mode_t file_secret_exposure(const struct file_info *info);

/*
 * Opens and checks path without reading it: what --check-config does for
 * a file that is read later (a CA bundle). info, when not NULL, is filled
 * as soon as the file is open (even when a check then fails).
 */
enum file_status file_check(const char *path, size_t max,
                            struct file_info *info, int *err);

/*
 * Reads path whole: *data is malloc()ed, NUL-terminated, *len bytes
 * (the caller wipes it when it may be secret, and frees it). On failure
 * nothing is allocated. info as for file_check().
 */
enum file_status file_read(const char *path, size_t max, char **data,
                           size_t *len, struct file_info *info, int *err);

/*
 * The problem in words, naming the path and never the content:
 * "cannot read PATH: No such file or directory", "PATH is not a regular
 * file", "PATH is empty", "PATH is larger than 1 MiB" (max_words as
 * given), "PATH changed while being read". Returns buf.
 */
const char *file_problem(char *buf, size_t n, const char *path,
                         enum file_status st, int err, const char *max_words);

#endif
