/* file: the one way the agent reads a file: without blocking, bounded. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens path without blocking and checks what it is; *fd_out is open
 * only on FILE_OK. */
static enum file_status open_checked(const char *path, size_t max,
                                     struct file_info *info, int *err,
                                     int *fd_out)
{
    struct stat st;
    *err = 0;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
     * writer, forever; S_ISREG below then refuses it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) < 0) {
        *err = errno;
        if (fd >= 0)
            close(fd);
        return FILE_ERRNO;
    }
    if (info) {
        info->mode = st.st_mode;
        info->uid = st.st_uid;
        info->gid = st.st_gid;
        info->size = st.st_size;
    }
    enum file_status rc = FILE_OK;
    if (!S_ISREG(st.st_mode))
        rc = FILE_NOT_REGULAR;
    else if (st.st_size == 0)
        rc = FILE_EMPTY;
    else if ((uint64_t)st.st_size > max)
        rc = FILE_TOO_LARGE;
    if (rc != FILE_OK) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return FILE_OK;
}

enum file_status file_check(const char *path, size_t max,
                            struct file_info *info, int *err)
{
    int fd = -1;
    enum file_status rc = open_checked(path, max, info, err, &fd);
    if (rc == FILE_OK)
        close(fd);
    return rc;
}

enum file_status file_read(const char *path, size_t max, char **data,
                           size_t *len, struct file_info *info, int *err)
{
    struct file_info local;
    int fd = -1;
    if (!info)
        info = &local;
    enum file_status rc = open_checked(path, max, info, err, &fd);
    if (rc != FILE_OK)
        return rc;
    /* One byte more than the size: a file that grew is noticed. */
    size_t cap = (size_t)info->size + 1;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return FILE_NO_MEMORY;
    }
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *err = errno;
            rc = FILE_ERRNO;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (rc == FILE_OK && n != (size_t)info->size)
        rc = FILE_CHANGED;
    if (rc != FILE_OK) {
        explicit_bzero(buf, cap + 1);
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return FILE_OK;
}

const char *file_problem(char *buf, size_t n, const char *path,
                         enum file_status st, int err, const char *max_words)
{
    switch (st) {
    case FILE_OK:
        snprintf(buf, n, "%s is fine", path);
        break;
    case FILE_ERRNO:
        snprintf(buf, n, "cannot read %s: %s", path, strerror(err));
        break;
    case FILE_NOT_REGULAR:
        snprintf(buf, n, "%s is not a regular file", path);
        break;
    case FILE_EMPTY:
        snprintf(buf, n, "%s is empty", path);
        break;
    case FILE_TOO_LARGE:
        snprintf(buf, n, "%s is larger than %s", path, max_words);
        break;
    case FILE_CHANGED:
        snprintf(buf, n, "%s changed while being read", path);
        break;
    case FILE_NO_MEMORY:
        snprintf(buf, n, "cannot read %s: out of memory", path);
        break;
    }
    return buf;
}

mode_t file_secret_exposure(const struct file_info *info)
{
    mode_t bits = info->mode & 066;
    if (info->gid == getegid())
        bits &= (mode_t)~S_IRGRP;
    return bits;
}
