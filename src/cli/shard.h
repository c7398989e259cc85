/* shard.h -- `scan --shard I/N`: which files one of N independent scans
 * takes, decided by a hash of each path's bytes alone, so any batch engine
 * (a Kubernetes indexed Job, GNU parallel, Spark's pipe) can fan a list of
 * files out over N workers with no coordination, every file in exactly one
 * shard, and `pickleguard report merge` can put the outputs back together.
 *
 * The split, reproducible in any language:
 *   h = FNV-1a 64 of the path's bytes as the report prints them (no
 *       terminator, no normalisation): h = 0xcbf29ce484222325, then for
 *       each byte b: h = (h XOR b) * 0x100000001b3 mod 2^64;
 *   the file belongs to shard h mod N (shards numbered 0 to N-1). */
#ifndef PKL_CLI_SHARD_H
#define PKL_CLI_SHARD_H

#include <stddef.h>
#include <stdint.h>

#define CLI_SHARD_MAX 1000000u

typedef struct cli_shard {
    uint32_t index;   /* 0 .. count-1 */
    uint32_t count;   /* 0: no sharding */
} cli_shard;

/* Parses "I/N" (decimal, 0 <= I < N <= CLI_SHARD_MAX) into *out: 0, or -1
 * for anything else. */
int cli_shard_parse(const char *s, cli_shard *out);
/* FNV-1a 64 of the n bytes at p. */
uint64_t cli_shard_hash(const void *p, size_t n);
/* Non-zero when path belongs to shard s (always, when s->count is 0). */
int cli_shard_keeps(const cli_shard *s, const char *path);

#endif
