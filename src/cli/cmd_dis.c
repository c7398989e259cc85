/* cmd_dis.c -- `pickleguard dis FILE|-`: the pickletools.dis-style listing.
 *
 * Exit 0 when every pickle in the input was listed and every check passed;
 * 1 with one line on stderr (offset, opcode, reason) when the input is
 * malformed (the listing up to the problem is on stdout); 2 on usage or
 * I/O errors. Never decodes values, never imports anything. */
#define _GNU_SOURCE 1 /* fopencookie */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void dis_usage(FILE *f)
{
    fputs("usage: pickleguard dis [--max-input SIZE] [--no-sandbox] FILE|-\n"
          "  Lists every opcode of every pickle in FILE (- reads stdin) like\n"
          "  python3 -m pickletools, with its structural checks.\n"
          "  --max-input  bytes read from a pipe, FIFO or device (default 1G)\n"
          "  --no-sandbox do not enter the seccomp sandbox (debugging)\n"
          "  exit: 0 listing complete, 1 malformed input, 2 usage or I/O error\n",
          f);
}

/* fopencookie writer: stdout, unless the input shrank while mapped. */
static ssize_t guarded_write(void *c, const char *buf, size_t n)
{
    const cli_input *in = c;
    if (cli_input_changed(in)) {
        errno = EIO;
        return -1;
    }
    return fwrite(buf, 1, n, stdout) == n ? (ssize_t)n : -1;
}

int cmd_dis(int argc, char **argv)
{
    const char *path = NULL;
    int only_operands = 0;
    size_t max_input = 0;
    int sandbox = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_operands && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            dis_usage(stdout);
            return PKL_EXIT_OK;
        }
        if (!only_operands && strcmp(a, "--") == 0) {
            only_operands = 1;
            continue;
        }
        if (!only_operands && strcmp(a, "--no-sandbox") == 0) {
            sandbox = 0;
            continue;
        }
        if (!only_operands && (strcmp(a, "--max-input") == 0 ||
                               strncmp(a, "--max-input=", 12) == 0)) {
            const char *v = a[11] == '=' ? a + 12 : (i + 1 < argc ? argv[++i] : NULL);
            if (cli_parse_size(v, &max_input) < 0) {
                cli_errorf("dis: --max-input needs a positive size");
                return PKL_EXIT_USAGE;
            }
            continue;
        }
        if (!only_operands && a[0] == '-' && a[1] != '\0') {
            cli_errorf("dis: unknown option '%s'", a);
            dis_usage(stderr);
            return PKL_EXIT_USAGE;
        }
        if (path) {
            cli_errorf("dis: expects exactly one FILE (or -)");
            dis_usage(stderr);
            return PKL_EXIT_USAGE;
        }
        path = a;
    }
    if (!path) {
        dis_usage(stderr);
        return PKL_EXIT_USAGE;
    }

    cli_input in;
    if (cli_input_open(path, max_input, &in) < 0)
        return PKL_EXIT_USAGE;
    if (sandbox && cli_sandbox_enter(0) < 0) {
        cli_input_close(&in);
        return PKL_EXIT_USAGE;
    }
    pkl_error err;
    /* the listing goes through a stream that refuses to write once the
     * file has shrunk under its mapping: the listing stops there instead
     * of going on over zero pages (a 1 GB argument took minutes) */
    cookie_io_functions_t io = {NULL, guarded_write, NULL, NULL};
    FILE *out = fopencookie(&in, "w", io);
    int rc = pkl_dis(in.data, in.len, out ? out : stdout, NULL, &err);
    if (out && fclose(out) != 0 && rc == 0) {
        rc = -1;
        err.code = PKL_E_IO;
    }
    int status = PKL_EXIT_OK;
    if (cli_input_changed(&in)) {
        fflush(stdout);
        cli_errorf("%s: I/O error: the file shrank while it was being read "
                   "(truncated by another process); the listing is void", path);
        status = PKL_EXIT_USAGE;
    } else if (rc < 0) {
        char msg[1024];
        fflush(stdout);
        cli_errorf("%s: %s", path, pkl_error_format(&err, msg, sizeof msg));
        status = (err.code == PKL_E_IO || err.code == PKL_E_NOMEM ||
                  err.code == PKL_E_INVALID_ARG)
                     ? PKL_EXIT_USAGE
                     : PKL_EXIT_FINDINGS;
    } else if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_errorf("%s: cannot write the listing", path);
        status = PKL_EXIT_USAGE;
    }
    cli_input_close(&in);
    return status;
}
