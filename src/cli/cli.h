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

/* Bytes read into memory from an input that is not a regular file
 * (stdin, pipes, FIFOs, character devices such as /dev/zero): at most
 * --max-input, default 1 GiB (SECURITY.md). Regular files are mapped and
 * need no such limit. */
#define CLI_MAX_INPUT_DEFAULT PKL_INPUT_MAX_DEFAULT

/* An input's bytes (data, len) as pkl_input_open (src/input.c) gave them,
 * with the mapping under the SIGBUS guard. */
typedef struct cli_input {
    const uint8_t *data;
    size_t len;
    pkl_input raw;
    int guard;        /* mapguard.c slot of raw.map, or -1 */
    int open;         /* raw holds something to close */
} cli_input;

/* The CLI's one way to open an input by name, for scan, load, dis and
 * --policy: pkl_input_open (O_NONBLOCK, judged by fstat of the opened
 * descriptor; a FIFO, pipe or device read up to max_input bytes, each read
 * waiting at most PKL_INPUT_WAIT_MS_DEFAULT for data; `flags` are
 * PKL_INPUT_*), then the mapping of a regular file under the SIGBUS guard.
 * "-" is stdin (read, blocking: the caller's pipe). On failure fills
 * *err (err->detail says why, without the path) and returns -1. */
int cli_input_open_ex(const char *path, unsigned flags, size_t max_input,
                      cli_input *in, pkl_error *err);
/* The same, printing "pickleguard: PATH: why" on failure. */
int cli_input_open(const char *path, size_t max_input, cli_input *in);
/* 1 when the input's file shrank while it was mapped: everything computed
 * from it must be discarded and an I/O error reported. */
int cli_input_changed(const cli_input *in);
void cli_input_close(cli_input *in);

/* mapguard.c: SIGBUS protection of input mappings. cli_guard_map returns a
 * slot (or -1 when none is free: the mapping is then unprotected);
 * cli_unguard_map frees it and says whether the file shrank under it. */
int cli_guard_map(const void *map, size_t len);
int cli_unguard_map(int slot);
int cli_map_changed(int slot);
/* Stops the process (SIGSTOP) once, at its first mapping, when
 * PICKLEGUARD_TEST_STOP_AFTER_MAP=1: the
 * tests truncate a mapped input at this point. */
void cli_test_stop(void);

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

/* Long options: non-zero when argv word a is the option `name` (as
 * "--name" or "--name=VALUE"); cli_opt_value gives its value, from after
 * the '=' or the next word (then *i advances), or NULL when missing. */
int cli_is_opt(const char *a, const char *name);
const char *cli_opt_value(int argc, char **argv, int *i, const char *name);

/* Opens --policy's argument (a built-in name or a file), printing errors. */
pkl_policy *cli_policy_open(const char *name_or_path);

/* sandbox.c: confines the process once its inputs and outputs are open
 * (seccomp filter, no-new-privileges, no core dumps); `opens_files` keeps
 * read-only open() for scan's directory walk. Prints why and returns -1
 * when it cannot; PICKLEGUARD_NO_SANDBOX=1 (or --no-sandbox) skips it. */
int cli_sandbox_enter(int opens_files);

int cmd_dis(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_scan(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
