/* main.c -- the pickleguard command: dispatches to one command per file and
 * owns the shared helpers (input mapping, messages). Exit codes: 0 success,
 * 1 findings/refusals/invalid input, 2 usage or I/O error (and a --policy
 * that cannot be loaded); the one table is in README.md and the man page. */
#include "cli.h"
#include "scan_report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


void cli_errorf(const char *fmt, ...)
{
    va_list ap;
    fputs("pickleguard: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_error_name(const char *name, const char *msg)
{
    fputs("pickleguard: ", stderr);
    scan_put_name(stderr, name);
    fputs(": ", stderr);
    scan_put_name(stderr, msg);
    fputc('\n', stderr);
}

int cli_read_fd(int fd, size_t max_input, cli_input *in, const char **why)
{
    if (max_input == 0)
        max_input = CLI_MAX_INPUT_DEFAULT;
    /* blocking reads from here on: a pipe's writer is the caller's */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        *why = "out of memory";
        return -1;
    }
    for (;;) {
        if (len == cap) {
            if (len >= max_input) {
                /* one more byte decides whether it is over */
                uint8_t probe;
                ssize_t got = read(fd, &probe, 1);
                if (got < 0 && errno == EINTR)
                    continue;
                if (got == 0)
                    break;
                free(buf);
                *why = got < 0 ? strerror(errno)
                               : "input is larger than --max-input (not a "
                                 "regular file: read into memory)";
                return -1;
            }
            size_t ncap = cap > max_input / 2 ? max_input : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                *why = "out of memory";
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            *why = strerror(errno);
            free(buf);
            return -1;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    in->heap = buf;
    in->data = buf;
    in->len = len;
    return 0;
}

int cli_input_open(const char *path, size_t max_input, cli_input *in)
{
    memset(in, 0, sizeof *in);
    in->guard = -1;
    const char *why = NULL;
    if (strcmp(path, "-") == 0) {
        if (cli_read_fd(STDIN_FILENO, max_input, in, &why) < 0) {
            cli_errorf("<stdin>: %s", why);
            return -1;
        }
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        cli_errorf("%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        cli_errorf("%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        cli_errorf("%s: is a directory", path);
        close(fd);
        return -1;
    }
    int rc = 0;
    if (S_ISREG(st.st_mode)) {
        if (st.st_size > 0) {
            void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (m == MAP_FAILED) {
                cli_errorf("%s: mmap failed: %s", path, strerror(errno));
                rc = -1;
            } else {
                in->map = m;
                in->map_len = (size_t)st.st_size;
                in->data = m;
                in->len = (size_t)st.st_size;
                in->guard = cli_guard_map(m, in->map_len);
                cli_test_stop();
            }
        } else {
            in->data = (const uint8_t *)"";
            in->len = 0;
        }
    } else if (cli_read_fd(fd, max_input, in, &why) < 0) {
        cli_errorf("%s: %s", path, why);
        rc = -1;
    }
    close(fd);
    return rc;
}

int cli_input_changed(const cli_input *in)
{
    return in->map && cli_map_changed(in->guard);
}

void cli_input_close(cli_input *in)
{
    if (in->map) {
        cli_unguard_map(in->guard);
        munmap(in->map, in->map_len);
    }
    free(in->heap);
    memset(in, 0, sizeof *in);
}

pkl_policy *cli_policy_open(const char *name_or_path)
{
    pkl_error err;
    pkl_policy *p = pkl_policy_open(name_or_path, NULL, &err);
    if (!p) {
        char msg[1024];
        cli_errorf("%s", pkl_error_format(&err, msg, sizeof msg));
    }
    return p;
}

static void usage(FILE *f)
{
    fputs("usage: pickleguard COMMAND [OPTIONS] ...\n"
          "\n"
          "commands (each takes --help; - is the data on stdin):\n"
          "  scan [--policy NAME|FILE] [--format text|json|jsonl|sarif]\n"
          "       [--fail-on LEVEL|none] [--include GLOB] [--exclude GLOB]\n"
          "       [--files-from FILE|-] [--quiet] [--jobs N] [--shard I/N]\n"
          "       PATH...|-                             report findings\n"
          "  load [--policy NAME|FILE] [--with-source] [--max-depth N]\n"
          "       [--max-memo N] [--max-values N] [--max-bytes N]\n"
          "       [--max-json-bytes N] FILE|-           decode to pickle-json\n"
          "  dis FILE|-                                 disassemble\n"
          "  policy check FILE...|- | policy show [NAME|FILE]\n"
          "  policy suggest [--extends NAME|FILE] FILE...\n"
          "  report merge [--format json|sarif|text] INPUT...\n"
          "                                             merge scan outputs\n"
          "  version                                    print the version\n"
          "\n"
          "exit codes: 0 ok; 1 findings, refused, malformed or invalid input;\n"
          "2 usage or I/O error, or a --policy that cannot be loaded\n"
          "see pickleguard(1) and docs/ for details\n",
          f);
}


int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return PKL_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "dis") == 0)
        return cmd_dis(argc - 1, argv + 1);
    if (strcmp(cmd, "load") == 0)
        return cmd_load(argc - 1, argv + 1);
    if (strcmp(cmd, "scan") == 0)
        return cmd_scan(argc - 1, argv + 1);
    if (strcmp(cmd, "policy") == 0)
        return cmd_policy(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("pickleguard %s\n", PKL_VERSION);
        return PKL_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return PKL_EXIT_OK;
    }
    cli_errorf("unknown command '%s'", cmd);
    usage(stderr);
    return PKL_EXIT_USAGE;
}

/* Parses a positive decimal size with an optional k/M/G suffix. */
int cli_parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    unsigned long long mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1024ULL, end++;
    else if (*end == 'M')
        mul = 1024ULL * 1024, end++;
    else if (*end == 'G')
        mul = 1024ULL * 1024 * 1024, end++;
    if (*end || v == 0 || v > SIZE_MAX / mul)
        return -1;
    *out = (size_t)(v * mul);
    return 0;
}

int cli_is_opt(const char *a, const char *name)
{
    size_t n = strlen(name);
    return strncmp(a, name, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

const char *cli_opt_value(int argc, char **argv, int *i, const char *name)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0' || *i + 1 >= argc)
        return NULL;
    (*i)++;
    return argv[*i];
}
