/* cmd_policy.c -- `pickleguard policy check FILE...` and
 * `pickleguard policy show [NAME|FILE]`.
 *
 * check: loads each file as --policy would (extends followed), prints
 *        "FILE:LINE:COLUMN: message" to stderr for each invalid one; exit 0
 *        when all are valid, 1 when any is not, 2 on usage errors.
 * show:  prints the fully resolved policy (extends applied) as YAML that
 *        `policy check` accepts; default NAME is `default`.
 * Never decides anything itself: all rules live in src/policy.c. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void policy_usage(FILE *f)
{
    fputs("usage: pickleguard policy check FILE...\n"
          "       pickleguard policy show [NAME|FILE]\n"
          "\n"
          "check  validate policy files; errors as FILE:LINE:COLUMN: message\n"
          "       (exit 0 all valid, 1 some invalid, 2 usage error)\n"
          "show   print the resolved policy (extends applied) as YAML;\n"
          "       NAME is a built-in (default, strict, ml), FILE a path\n",
          f);
}

/* The error line for an invalid policy: detail starts with
 * FILE:LINE:COLUMN for errors inside a file, and with the file name for
 * most others (missing file, I/O); anything else gets the name in front. */
static void report(const char *path, const pkl_error *err)
{
    size_t n = strlen(path);
    if (err->line || strncmp(err->detail, path, n) == 0)
        fprintf(stderr, "%s\n", err->detail);
    else if (err->detail[0])
        fprintf(stderr, "%s: %s\n", path, err->detail);
    else
        fprintf(stderr, "%s: %s\n", path, err->msg);
}

static int policy_check(int argc, char **argv)
{
    int bad = 0;
    if (argc < 1) {
        cli_errorf("policy check: no FILE given");
        policy_usage(stderr);
        return PKL_EXIT_USAGE;
    }
    for (int i = 0; i < argc; i++) {
        pkl_error err;
        pkl_policy *p = pkl_policy_load_file(argv[i], NULL, &err);
        if (!p) {
            report(argv[i], &err);
            bad = 1;
            continue;
        }
        pkl_policy_free(p);
    }
    return bad ? PKL_EXIT_FINDINGS : PKL_EXIT_OK;
}

static int policy_show(int argc, char **argv)
{
    if (argc > 1) {
        cli_errorf("policy show: takes at most one NAME or FILE");
        policy_usage(stderr);
        return PKL_EXIT_USAGE;
    }
    const char *what = argc == 1 ? argv[0] : "default";
    pkl_error err;
    pkl_policy *p = pkl_policy_open(what, NULL, &err);
    if (!p) {
        report(what, &err);
        return err.code == PKL_E_POLICY_NOT_FOUND || err.code == PKL_E_IO
                   ? PKL_EXIT_USAGE
                   : PKL_EXIT_FINDINGS;
    }
    int rc = pkl_policy_write(p, stdout);
    pkl_policy_free(p);
    if (rc < 0 || fflush(stdout) != 0) {
        cli_errorf("policy show: write error");
        return PKL_EXIT_USAGE;
    }
    return PKL_EXIT_OK;
}

int cmd_policy(int argc, char **argv)
{
    /* argv[0] is "policy" */
    if (argc < 2) {
        policy_usage(stderr);
        return PKL_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 ||
        strcmp(sub, "help") == 0) {
        policy_usage(stdout);
        return PKL_EXIT_OK;
    }
    /* "--" ends options so a file named "-x.yaml" can be checked. */
    int first = 2;
    if (first < argc && strcmp(argv[first], "--") == 0)
        first++;
    else if (first < argc && argv[first][0] == '-' && argv[first][1]) {
        cli_errorf("policy %s: unknown option '%s'", sub, argv[first]);
        policy_usage(stderr);
        return PKL_EXIT_USAGE;
    }
    if (strcmp(sub, "check") == 0)
        return policy_check(argc - first, argv + first);
    if (strcmp(sub, "show") == 0)
        return policy_show(argc - first, argv + first);
    cli_errorf("policy: unknown subcommand '%s' (check, show)", sub);
    policy_usage(stderr);
    return PKL_EXIT_USAGE;
}
