/* token: a bearer token from token_file, read before each probe. */
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"

enum token_status token_file_read(const char *path, char **tok, size_t *len,
                                  struct file_info *info_out, char *why,
                                  size_t n)
{
    char *data = NULL;
    size_t got = 0;
    struct file_info info = {0};
    int err = 0;

    *tok = NULL;
    *len = 0;
    if (info_out)
        *info_out = (struct file_info){0};
    /* Room for the largest token plus "\r\n". */
    enum file_status st =
        file_read(path, TOKEN_MAX + 2, &data, &got, &info, &err);
    if (info_out && S_ISREG(info.mode))
        *info_out = info;
    if (st == FILE_NO_MEMORY)
        return TOKEN_NO_MEMORY;
    if (st != FILE_OK) {
        file_problem(why, n, path, st, err, TOKEN_MAX_WORDS);
        return st == FILE_ERRNO || st == FILE_CHANGED ? TOKEN_UNREADABLE
                                                      : TOKEN_BAD;
    }
    size_t k = got;
    if (k >= 1 && data[k - 1] == '\n')
        k -= (k >= 2 && data[k - 2] == '\r') ? 2 : 1;
    enum token_status rc = TOKEN_BAD;
    uid_t me = geteuid();
    if (info.uid != me && info.uid != 0)
        snprintf(why, n,
                 "%s is owned by uid %u; a token file must belong to the "
                 "agent's user (uid %u) or root",
                 path, (unsigned)info.uid, (unsigned)me);
    else if (k == 0)
        snprintf(why, n, "%s is empty", path);
    else if (memchr(data, '\n', k) || memchr(data, '\r', k))
        snprintf(why, n, "%s holds more than one line", path);
    else if (k > TOKEN_MAX)
        snprintf(why, n, "%s is larger than %s", path, TOKEN_MAX_WORDS);
    else if (memchr(data, '\0', k))
        snprintf(why, n, "%s holds a NUL byte", path);
    else
        rc = TOKEN_OK;
    if (rc == TOKEN_OK) {
        /* The allocation is the file's size: the cut line end is wiped. */
        explicit_bzero(data + k, got - k);
        data[k] = '\0';
        *tok = data;
        *len = k;
        return TOKEN_OK;
    }
    explicit_bzero(data, got);
    free(data);
    return rc;
}
