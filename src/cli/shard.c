/* shard.c -- the stable split behind `scan --shard I/N` (shard.h has the
 * exact function). It depends on nothing but the path's bytes: not on the
 * machine, the order files are listed in, or N's other shards, so shards
 * can run anywhere and at any time.
 *
 * Must never: depend on anything but (path bytes, I, N); accept I >= N. */
#include "shard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

uint64_t cli_shard_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = FNV64_OFFSET;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * FNV64_PRIME;
    return h;
}

/* A decimal number without sign or spaces ending at *end. */
static int parse_u32(const char *s, char **end, uint32_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, end, 10);
    if (errno || v > CLI_SHARD_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int cli_shard_parse(const char *s, cli_shard *out)
{
    char *end;
    uint32_t i, n;
    if (!s || parse_u32(s, &end, &i) < 0 || *end != '/')
        return -1;
    if (parse_u32(end + 1, &end, &n) < 0 || *end != '\0')
        return -1;
    if (n == 0 || i >= n)
        return -1;
    out->index = i;
    out->count = n;
    return 0;
}

int cli_shard_keeps(const cli_shard *s, const char *path)
{
    if (s->count == 0)
        return 1;
    return cli_shard_hash(path, strlen(path)) % s->count == s->index;
}
