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

int cli_input_open_ex(const char *path, unsigned flags, size_t max_input,
                      cli_input *in, pkl_error *err)
{
    memset(in, 0, sizeof *in);
    in->guard = -1;
    in->raw.fd = -1;
    memset(err, 0, sizeof *err);
    int rc = strcmp(path, "-") == 0
                 ? pkl_input_read_fd(STDIN_FILENO, max_input, -1, &in->raw, err)
                 : pkl_input_open(path, flags, max_input, 0, &in->raw, err);
    if (rc < 0) {
        in->raw.fd = -1;
        return -1;
    }
    in->open = 1;
    in->data = in->raw.data;
    in->len = in->raw.len;
    if (in->raw.map) {
        in->guard = cli_guard_map(in->raw.map, in->raw.map_len);
        if (!(flags & PKL_INPUT_REGULAR_ONLY)) /* the input, not a policy */
            cli_test_stop();
    }
    return 0;
}

int cli_input_open(const char *path, size_t max_input, cli_input *in)
{
    pkl_error err;
    if (cli_input_open_ex(path, 0, max_input, in, &err) < 0) {
        cli_error_name(strcmp(path, "-") == 0 ? "<stdin>" : path, err.detail);
        return -1;
    }
    return 0;
}

int cli_input_changed(const cli_input *in)
{
    return in->raw.map && cli_map_changed(in->guard);
}

void cli_input_close(cli_input *in)
{
    if (in->raw.map)
        cli_unguard_map(in->guard);
    if (in->open)
        pkl_input_close(&in->raw);
    memset(in, 0, sizeof *in);
    in->guard = -1;
    in->raw.fd = -1;
}

/* as src/policy.c's PKL_POLICY_MAX_FILE (docs/policy.md) */
#define CLI_POLICY_MAX_FILE (1u << 20)

/* --policy: a built-in name, else a file opened as every input is
 * (cli_input_open_ex; regular files only, at most 1 MiB) and parsed from
 * memory; pkl_policy_open words the error for a name that is neither. */
pkl_policy *cli_policy_open(const char *name_or_path)
{
    pkl_error err;
    pkl_policy *p = NULL;
    size_t n = strlen(name_or_path);
    int pathlike = strchr(name_or_path, '/') != NULL ||
                   (n >= 5 && strcmp(name_or_path + n - 5, ".yaml") == 0) ||
                   (n >= 4 && strcmp(name_or_path + n - 4, ".yml") == 0);
    struct stat st;
    if (!pathlike && (p = pkl_policy_builtin(name_or_path, NULL, &err)))
        return p;
    if (strcmp(name_or_path, "-") != 0 &&
        (pathlike || stat(name_or_path, &st) == 0)) {
        cli_input in;
        if (cli_input_open_ex(name_or_path, PKL_INPUT_REGULAR_ONLY, 0, &in,
                              &err) < 0) {
            cli_error_name(name_or_path, err.detail);
            return NULL;
        }
        if (in.len > CLI_POLICY_MAX_FILE) {
            cli_errorf("%s: policy file larger than %u bytes",
                       name_or_path, CLI_POLICY_MAX_FILE);
            cli_input_close(&in);
            return NULL;
        }
        p = pkl_policy_load_string((const char *)in.data, in.len,
                                   name_or_path, NULL, &err);
        if (cli_input_changed(&in)) {
            pkl_policy_free(p);
            cli_errorf("%s: I/O error: the file shrank while it was being "
                       "read", name_or_path);
            cli_input_close(&in);
            return NULL;
        }
        cli_input_close(&in);
    } else {
        p = pkl_policy_open(name_or_path, NULL, &err);
    }
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
