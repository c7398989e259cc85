/* cmd_load.c -- `pickleguard load`: decode every pickle of a file under a
 * policy and write each as one pickle-json line.
 *
 * Exit 0 when every pickle loaded; 1 when one was refused, malformed or
 * over a limit (one line on stderr, and no partial document on stdout: the
 * documents before it are complete lines); 2 on usage or I/O errors.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void load_usage(FILE *f)
{
    fputs("usage: pickleguard load [--policy NAME|FILE] [--max-depth N]\n"
          "         [--max-memo N] [--max-values N] [--max-bytes N]\n"
          "         [--max-json-bytes N] FILE|-\n"
          "Decodes every pickle in FILE (concatenated pickles included) and\n"
          "writes each as one pickle-json v1 line (docs/json.md).\n",
          f);
}

/* Parses a positive decimal size with an optional k/M/G suffix. */
static int parse_size(const char *s, size_t *out)
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

int cmd_load(int argc, char **argv)
{
    const char *policy_name = "default";
    const char *path = NULL;
    struct {
        const char *flag;
        size_t value;
        int set;
    } ov[] = {{"--max-depth", 0, 0}, {"--max-memo", 0, 0},
              {"--max-values", 0, 0}, {"--max-bytes", 0, 0},
              {"--max-json-bytes", 0, 0}};
    const size_t nov = sizeof ov / sizeof ov[0];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            load_usage(stdout);
            return PKL_EXIT_OK;
        }
        if (strcmp(a, "--policy") == 0 || strncmp(a, "--policy=", 9) == 0) {
            if (a[8] == '=')
                policy_name = a + 9;
            else if (i + 1 < argc)
                policy_name = argv[++i];
            else {
                cli_errorf("load: --policy needs a value");
                return PKL_EXIT_USAGE;
            }
            continue;
        }
        size_t k;
        for (k = 0; k < nov; k++) {
            size_t fl = strlen(ov[k].flag);
            if (strncmp(a, ov[k].flag, fl) == 0 && (a[fl] == '\0' || a[fl] == '='))
                break;
        }
        if (k < nov) {
            size_t fl = strlen(ov[k].flag);
            const char *val = a[fl] == '=' ? a + fl + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (parse_size(val, &ov[k].value) < 0) {
                cli_errorf("load: %s needs a positive integer", ov[k].flag);
                return PKL_EXIT_USAGE;
            }
            ov[k].set = 1;
            continue;
        }
        if (a[0] == '-' && a[1] != '\0') {
            cli_errorf("load: unknown option '%s'", a);
            load_usage(stderr);
            return PKL_EXIT_USAGE;
        }
        if (path) {
            cli_errorf("load: one FILE at a time");
            return PKL_EXIT_USAGE;
        }
        path = a;
    }
    if (!path) {
        load_usage(stderr);
        return PKL_EXIT_USAGE;
    }

    pkl_policy *policy = cli_policy_open(policy_name);
    if (!policy)
        return PKL_EXIT_USAGE;
    pkl_limits lim;
    pkl_policy_limits(policy, &lim);
    if (ov[0].set) lim.max_depth = ov[0].value;
    if (ov[1].set) lim.max_memo = ov[1].value;
    if (ov[2].set) lim.max_values = ov[2].value;
    if (ov[3].set) lim.max_bytes = ov[3].value;
    if (ov[4].set) lim.max_json_bytes = ov[4].value;

    cli_input in;
    if (cli_input_open(path, &in) < 0) {
        pkl_policy_free(policy);
        return PKL_EXIT_USAGE;
    }
    const char *shown = strcmp(path, "-") == 0 ? "<stdin>" : path;

    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = policy;
    opt.limits = &lim;

    int rc = PKL_EXIT_OK;
    size_t off = 0;
    size_t count = 0;
    pkl_error err;
    do {
        size_t used = 0;
        pkl_doc *doc = pkl_decode(in.data + off, in.len - off, &opt, &used, &err);
        if (doc && pkl_json_write(doc, stdout, lim.max_json_bytes, NULL, &err) == 0) {
            pkl_doc_free(doc);
            off += used;
            count++;
            continue;
        }
        pkl_doc_free(doc);
        if (doc) {
            /* a writer error: no input offset; point at the pickle */
            err.offset = 0;
            err.opcode = -1;
        }
        err.offset += off;
        char msg[1200];
        if (err.code == PKL_E_IO) {
            cli_errorf("%s: writing output failed", shown);
            rc = PKL_EXIT_USAGE;
        } else if (pkl_error_class(err.code) == 2) {
            /* refusal details are complete sentences naming the global,
             * the opcode and its offset within this pickle */
            if (off)
                cli_errorf("%s: refused: pickle %zu (starting at offset %zu): %s",
                           shown, count + 1, off, err.detail);
            else
                cli_errorf("%s: refused: %s", shown, err.detail);
            rc = PKL_EXIT_FINDINGS;
        } else {
            if (count && err.code == PKL_E_UNKNOWN_OPCODE && err.offset == off)
                cli_errorf("%s: bytes after STOP are not a pickle: %s", shown,
                           pkl_error_format(&err, msg, sizeof msg));
            else
                cli_errorf("%s: %s", shown, pkl_error_format(&err, msg, sizeof msg));
            rc = err.code == PKL_E_NOMEM ? PKL_EXIT_USAGE : PKL_EXIT_FINDINGS;
        }
        break;
    } while (off < in.len);

    if (fflush(stdout) != 0 && rc == PKL_EXIT_OK) {
        cli_errorf("%s: writing output failed", shown);
        rc = PKL_EXIT_USAGE;
    }
    cli_input_close(&in);
    pkl_policy_free(policy);
    return rc;
}
