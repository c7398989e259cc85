/* cmd_policy.c -- `pickleguard policy check FILE...`,
 * `pickleguard policy show [NAME|FILE]` and
 * `pickleguard policy suggest [--extends NAME|FILE] FILE...`.
 *
 * check: loads each file as --policy would (extends followed), prints
 *        "FILE:LINE:COLUMN: message" to stderr for each invalid one; exit 0
 *        when all are valid, 1 when any is not, 2 on usage errors.
 * show:  prints the fully resolved policy (extends applied) as YAML that
 *        `policy check` accepts; default NAME is `default`.
 * suggest: scans trusted FILEs (pkl_scan_file) under the base policy and
 *        prints a complete policy (version, name, extends, allow) allowing
 *        the globals they use that the base does not; known-dangerous
 *        globals (dangerous-global, dunder-traversal) are never included:
 *        they are listed on stderr and as comments. Exit 0 when the
 *        suggestion covers every global, 1 when some were refused, 2 on
 *        usage or I/O errors.
 * Never decides anything itself: all rules live in src/policy.c. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan_report.h"

static void policy_usage(FILE *f)
{
    fputs("usage: pickleguard policy check FILE...\n"
          "       pickleguard policy show [NAME|FILE]\n"
          "       pickleguard policy suggest [--extends NAME|FILE] FILE...\n"
          "\n"
          "check    validate policy files (- reads one from stdin); errors as\n"
          "         FILE:LINE:COLUMN: message;\n"
          "         an 'allow' entry matching the catalogue of known-dangerous\n"
          "         globals is an error (list it under 'allow_dangerous' to mean it)\n"
          "         exit: 0 all valid, 1 some invalid, 2 usage error\n"
          "show     print the resolved policy (extends applied) as YAML;\n"
          "         NAME is a built-in (default, strict, ml), FILE a path\n"
          "         exit: 0 shown, 1 invalid policy, 2 not found / usage error\n"
          "suggest  scan FILEs you trust and print a complete policy (version,\n"
          "         name, extends, allow) for the globals they use that the\n"
          "         base policy does not allow; known-dangerous globals are\n"
          "         never included (listed on stderr and as comments)\n"
          "         --extends NAME|FILE  base policy (default: default; use ml\n"
          "                              for PyTorch/NumPy/joblib files)\n"
          "         exit: 0 every global covered, 1 some refused, 2 usage or\n"
          "         I/O error\n",
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
        pkl_policy *p;
        if (strcmp(argv[i], "-") == 0) {
            /* - is the policy text on stdin (relative extends: from the
             * current directory) */
            cli_input in;
            if (cli_input_open("-", 0, &in) < 0)
                return PKL_EXIT_USAGE;
            p = pkl_policy_load_string((const char *)in.data, in.len,
                                       "./<stdin>", NULL, &err);
            cli_input_close(&in);
        } else {
            p = pkl_policy_load_file(argv[i], NULL, &err);
        }
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

/* Whether a resolved name can be an allow entry (ASCII identifiers). */
static int plain_dotted(const char *s)
{
    int start = 1;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '.') {
            if (start)
                return 0;
            start = 1;
            continue;
        }
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!(alpha || (!start && c >= '0' && c <= '9')))
            return 0;
        start = 0;
    }
    return !start;
}

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static int names_add(names *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 0;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        char **nv = realloc(l->v, ncap * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = ncap;
    }
    size_t len = strlen(s) + 1;
    if (!(l->v[l->n] = malloc(len)))
        return -1;
    memcpy(l->v[l->n++], s, len);
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* Scans files under p; adds the globals p does not allow to *allow and
 * the ones no policy may allow to *refused. Returns 0, or -1 on an I/O or
 * memory error (printed). */
static int suggest_scan(const pkl_policy *p, char **files, int nfiles,
                        names *allow, names *refused, names *odd,
                        size_t *other)
{
    int rc = 0;
    for (int i = 0; i < nfiles && rc == 0; i++) {
        pkl_scan_file_options o;
        memset(&o, 0, sizeof o);
        o.policy = p;
        pkl_scan_result res;
        pkl_scan_result_init(&res, NULL);
        pkl_error err;
        if (pkl_scan_file(files[i], &o, &res, &err) < 0) {
            char msg[1024];
            cli_error_name(files[i], pkl_error_format(&err, msg, sizeof msg));
            rc = -1;
        }
        for (size_t k = 0; k < res.count && rc == 0; k++) {
            const pkl_finding *x = &res.findings[k];
            if (strcmp(x->rule, "global-not-allowed") == 0 && x->global[0])
                rc = plain_dotted(x->global) ? names_add(allow, x->global)
                                             : names_add(odd, x->global);
            else if ((strcmp(x->rule, "dangerous-global") == 0 ||
                      strcmp(x->rule, "dunder-traversal") == 0) && x->global[0])
                rc = names_add(refused, x->global);
            else if (x->severity >= PKL_SEV_MEDIUM)
                (*other)++;
            if (rc < 0)
                cli_errorf("policy suggest: out of memory");
        }
        pkl_scan_result_free(&res);
    }
    return rc;
}

/* The suggested policy as YAML (malloc'd), or NULL. */
static char *suggest_yaml(const char *base, const names *allow)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    fputs("version: 1\nname: suggested\nextends: ", m);
    if (strchr(base, '/') || strchr(base, '.')) { /* a path: quoted */
        fputc('"', m);
        for (const char *c = base; *c; c++) {
            if (*c == '"' || *c == '\\')
                fputc('\\', m);
            fputc(*c, m);
        }
        fputc('"', m);
    } else {
        fputs(base, m);
    }
    fputs(allow->n ? "\nallow:\n" : "\nallow: []\n", m);
    for (size_t k = 0; k < allow->n; k++)
        fprintf(m, "  - %s\n", allow->v[k]);
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void names_clear(names *l)
{
    names_free(l);
    memset(l, 0, sizeof *l);
}

static int policy_suggest(int argc, char **argv)
{
    const char *base = "default";
    int i = 0, status = PKL_EXIT_OK;
    if (i < argc && strncmp(argv[i], "--extends", 9) == 0 &&
        (argv[i][9] == '=' || argv[i][9] == '\0')) {
        if (argv[i][9] == '=')
            base = argv[i] + 10;
        else if (i + 1 < argc)
            base = argv[++i];
        else
            base = NULL;
        i++;
        if (!base || !*base) {
            cli_errorf("policy suggest: --extends takes a NAME or FILE");
            policy_usage(stderr);
            return PKL_EXIT_USAGE;
        }
    }
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    else if (i < argc && argv[i][0] == '-' && argv[i][1]) {
        cli_errorf("policy suggest: unknown option '%s'", argv[i]);
        policy_usage(stderr);
        return PKL_EXIT_USAGE;
    }
    if (i >= argc) {
        cli_errorf("policy suggest: no FILE given");
        policy_usage(stderr);
        return PKL_EXIT_USAGE;
    }
    char **files = argv + i;
    int nfiles = argc - i;
    pkl_policy *p = cli_policy_open(base);
    if (!p)
        return PKL_EXIT_USAGE;
    names allow = {0}, refused = {0}, odd = {0};
    size_t other = 0;
    char *yaml = NULL;
    int rc = suggest_scan(p, files, nfiles, &allow, &refused, &odd, &other);
    /* Again under the suggestion: what was refused only because a class
     * was not allowed yet (getattr(Enum, "NAME")) clears, and what hid
     * behind it shows. A few rounds reach the fixed point. */
    for (int round = 0; rc == 0 && round < 4; round++) {
        size_t had = allow.n;
        free(yaml);
        yaml = suggest_yaml(base, &allow);
        pkl_error err;
        pkl_policy *q = yaml ? pkl_policy_load_string(yaml, strlen(yaml),
                                                      "suggested.yaml", NULL,
                                                      &err)
                             : NULL;
        if (!q) {
            char msg[1024];
            cli_errorf("policy suggest: the suggestion does not load: %s",
                       yaml ? pkl_error_format(&err, msg, sizeof msg)
                            : "out of memory");
            rc = -1;
            break;
        }
        names_clear(&refused);
        names_clear(&odd);
        other = 0;
        rc = suggest_scan(q, files, nfiles, &allow, &refused, &odd, &other);
        pkl_policy_free(q);
        if (allow.n == had)
            break;
        if (allow.n)
            qsort(allow.v, allow.n, sizeof *allow.v, cmp_name);
    }
    if (rc < 0) {
        status = PKL_EXIT_USAGE;
    } else {
        if (allow.n)
            qsort(allow.v, allow.n, sizeof *allow.v, cmp_name);
        if (refused.n)
            qsort(refused.v, refused.n, sizeof *refused.v, cmp_name);
        free(yaml);
        yaml = suggest_yaml(base, &allow);
        printf("# written by 'pickleguard policy suggest' from %d file%s you\n"
               "# trust; review every entry: load may call an allowed global\n"
               "# with the file's arguments\n", nfiles, nfiles == 1 ? "" : "s");
        for (size_t k = 0; k < refused.n; k++) {
            fputs("# refused (known-dangerous, never suggested): ", stdout);
            scan_put_name(stdout, refused.v[k]);
            putchar('\n');
        }
        for (size_t k = 0; k < odd.n; k++) {
            fputs("# refused (not a plain dotted name): ", stdout);
            scan_put_name(stdout, odd.v[k]);
            putchar('\n');
        }
        if (other)
            printf("# %zu other finding%s at medium or above (not a matter of "
                   "policy): run 'pickleguard scan' on the files\n", other,
                   other == 1 ? "" : "s");
        fputs(yaml ? yaml : "", stdout);
        for (size_t k = 0; k < refused.n; k++) {
            fputs("pickleguard: policy suggest: not included (known-dangerous "
                  "global; do not load files that need it): ", stderr);
            scan_put_name(stderr, refused.v[k]);
            fputc('\n', stderr);
        }
        for (size_t k = 0; k < odd.n; k++) {
            fputs("pickleguard: policy suggest: not included (not a plain "
                  "dotted name): ", stderr);
            scan_put_name(stderr, odd.v[k]);
            fputc('\n', stderr);
        }
        if (refused.n || odd.n)
            status = PKL_EXIT_FINDINGS;
        if (!yaml || fflush(stdout) != 0 || ferror(stdout)) {
            cli_errorf("policy suggest: write error");
            status = PKL_EXIT_USAGE;
        }
    }
    free(yaml);
    names_free(&allow);
    names_free(&refused);
    names_free(&odd);
    pkl_policy_free(p);
    return status;
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
    if (strcmp(sub, "suggest") == 0)
        return policy_suggest(argc - 2, argv + 2);
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
    cli_errorf("policy: unknown subcommand '%s' (check, show, suggest)", sub);
    policy_usage(stderr);
    return PKL_EXIT_USAGE;
}
