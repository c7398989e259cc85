/* cli.h -- shared pieces of the command-line tool. Only the CLI prints;
 * each command lives in its own cmd_*.c and returns its exit code. */
#ifndef PKL_CLI_H
#define PKL_CLI_H

#include <stddef.h>
#include <stdint.h>
#include "pickleguard.h"

/* Exit codes shared by every command (documented in docs/pickleguard.1). */
enum {
    PKL_EXIT_OK = 0,       /* success / no finding at or above --fail-on */
    PKL_EXIT_FINDINGS = 1, /* refused, malformed, findings, invalid policy */
    PKL_EXIT_USAGE = 2     /* usage or I/O error */
};

/* A file's bytes: mmapped for regular files, read into memory for stdin
 * and pipes. */
typedef struct cli_input {
    const uint8_t *data;
    size_t len;
    void *map;        /* munmap on close when non-NULL */
    size_t map_len;
    uint8_t *heap;    /* free on close when non-NULL */
} cli_input;

/* Opens path ("-" is stdin). On failure prints "pickleguard: PATH: why" to
 * stderr and returns -1. */
int cli_input_open(const char *path, cli_input *in);
void cli_input_close(cli_input *in);

/* Prints "pickleguard: " + message to stderr. */
void cli_errorf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Prints "pickleguard: NAME: MSG" to stderr with both escaped
 * (scan_put_name): a file name cannot forge a line. */
void cli_error_name(const char *name, const char *msg);

/* Parses a positive decimal size with an optional k, M or G suffix
 * (powers of 1024) into *out: 0, or -1 for anything else (0, a sign,
 * junk, overflow). */
int cli_parse_size(const char *s, size_t *out);

/* Opens --policy's argument (a built-in name or a file), printing errors. */
pkl_policy *cli_policy_open(const char *name_or_path);

int cmd_dis(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_scan(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
