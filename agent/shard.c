/* shard: see shard.h. */
#include "shard.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

int shard_address(char *dst, size_t n, const char *host, unsigned port)
{
    bool v6 = strchr(host, ':') != NULL;
    int len = n > 0 ? snprintf(dst, n, "%s%s%s:%u", v6 ? "[" : "", host,
                               v6 ? "]" : "", port)
                    : -1;
    if (len < 0 || (size_t)len >= n) {
        if (n > 0)
            dst[0] = '\0';
        return -1;
    }
    return len;
}

int shard_hashmod(const void *s, size_t n, uint64_t modulus, uint64_t *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (modulus == 0 || !EVP_Digest(s, n, md, &md_len, EVP_md5(), NULL) ||
        md_len != 16)
        return -1;
    /* The last 8 bytes, big-endian: Prometheus keeps them for the
     * results of its earlier versions, which folded all 16 bytes into a
     * uint64 and so lost the first 8. */
    uint64_t v = 0;
    for (unsigned i = 8; i < 16; i++)
        v = v << 8 | md[i];
    *out = v % modulus;
    return 0;
}

int shard_of(const char *host, unsigned port, unsigned count, unsigned *out)
{
    char addr[SHARD_ADDRESS_MAX + 1];
    int len = shard_address(addr, sizeof addr, host, port);
    uint64_t v;
    if (len < 0 || shard_hashmod(addr, (size_t)len, count, &v) < 0)
        return -1;
    *out = (unsigned)v;
    return 0;
}
