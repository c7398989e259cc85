/* cmd_scan.c -- `pickleguard scan [OPTIONS] PATH...`: parses options,
 * lists the files, calls pkl_scan_file (src/scan_file.c) on each and
 * hands the results to the report writers, in PATH order whatever --jobs
 * is. The scan itself -- detection, container walking, container
 * findings -- is the library's.
 *
 * Listing (docs/rules.md "Which files are scanned"): directories are
 * walked recursively, entries sorted byte-wise, depth-first. Symbolic
 * links are followed, to files and to directories, while they stay inside
 * the directory walked (a link out of it is a `symlink-outside` finding);
 * every file and directory is visited once per run, by device and inode
 * (a second path to it is a `same-file` info finding, so link loops end);
 * a link that leads nowhere is a `symlink-broken` finding; FIFOs, devices
 * and sockets found in a walk are a `special-file` finding and never
 * opened. --include/--exclude filter files found in directories by
 * fnmatch(3) on their path relative to the directory named. "-" is DATA
 * on stdin; --files-from FILE|- reads PATHs (NUL- or newline-separated).
 * --shard I/N then keeps the files whose path hashes to shard I (shard.h).
 *
 * Must never: load or import anything, scan a file twice in one run, skip
 * a file found in a directory without a word (filters aside), or let
 * --jobs change the output.
 */
#define _DEFAULT_SOURCE 1 /* realpath */
#include "internal.h" /* pkli_scan_result_add */
#include "cli.h"
#include "scan_report.h"
#include "shard.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_JOBS 256

static void scan_usage(FILE *f)
{
    fputs("usage: pickleguard scan [OPTIONS] PATH...\n"
          "  Reports what loading each file would do, without loading it.\n"
          "  PATH: a file; a directory (walked recursively, sorted; symbolic\n"
          "  links followed inside it, each file scanned once; a link out of\n"
          "  it is a finding, not followed); or - (the DATA to scan on stdin).\n"
          "options:\n"
          "  --policy NAME|FILE  built-in policy (strict, default, ml) or a\n"
          "                      YAML file (default: default)\n"
          "  --format FMT        text (default), json, jsonl (one object per\n"
          "                      file, flushed as it goes) or sarif (2.1.0)\n"
          "  --fail-on LEVEL     lowest severity that makes the exit status 1:\n"
          "                      critical, high, medium (default), low, info,\n"
          "                      or none (report only)\n"
          "  --include GLOB      scan only files found in directories whose path\n"
          "                      relative to the directory matches GLOB\n"
          "                      (fnmatch; repeatable)\n"
          "  --exclude GLOB      skip files and directories found in directories\n"
          "                      whose relative path matches GLOB (repeatable)\n"
          "  --files-from FILE   read PATHs from FILE (- for stdin), separated\n"
          "                      by NUL bytes if it holds any, else by newlines\n"
          "  --quiet, -q         text: print only findings at or above\n"
          "                      --fail-on (and their fix snippets), no summary\n"
          "  --jobs N            files scanned in parallel (default 1; 0: one\n"
          "                      per CPU)\n"
          "  --max-output SIZE   bytes one compressed member or file may expand\n"
          "                      to (default 64M; suffix k, M or G)\n"
          "  --max-total SIZE    bytes all decompression in one file may produce\n"
          "                      (default 1G)\n"
          "  --max-input SIZE    bytes of stdin data (-), of --files-from or of\n"
          "                      a FIFO or pipe named as PATH read into memory\n"
          "                      (default 1G; each read of a FIFO waits at most\n"
          "                      10 s for data)\n"
          "  --no-sandbox        do not enter the seccomp sandbox (debugging)\n"
          "  --shard I/N         only the files listed whose path hashes to\n"
          "                      shard I of N (0 <= I < N; FNV-1a 64 of the\n"
          "                      path bytes mod N); `pickleguard report\n"
          "                      merge` puts the shards' JSON together\n"
          "exit status: 0 no finding at or above --fail-on; 1 findings;\n"
          "  2 usage error, a file that cannot be read, a policy that cannot\n"
          "  be loaded or is invalid, a write error\n"
          "rules: docs/rules.md\n",
          f);
}

/* ---- the list of files ---------------------------------------------------- */

enum {
    E_FILE = 0,   /* scan the path */
    E_STDIN,      /* scan stdin's bytes */
    E_SPECIAL,    /* FIFO/device/socket found in a walk: a finding */
    E_BROKEN,     /* link that leads nowhere: a finding */
    E_OUTSIDE,    /* link out of the directory walked: a finding */
    E_SAME        /* a file or directory already listed: a finding */
};

typedef struct entry {
    char *path;
    char *error;      /* preset error (directory that cannot be read...) */
    char *note;       /* E_SPECIAL/E_BROKEN/E_SAME: what to say */
    int kind;
    int found;        /* found in a directory, not named: content decides
                         whether it is a pickle at all */
    int listed;       /* a regular file when listed, as (dev, ino) */
    dev_t dev;
    ino_t ino;
} entry;

/* (device, inode) pairs already listed, open addressing. */
typedef struct seen_set {
    struct seen { dev_t dev; ino_t ino; size_t idx; int used; } *v;
    size_t cap, n;
} seen_set;

typedef struct entries {
    entry *v;
    size_t n, cap;
    int nomem;
    seen_set seen;
    char **include, **exclude;   /* NULL-terminated or NULL */
    char *root_real;             /* realpath of the directory being walked */
} entries;

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static char *xprintf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *d = malloc((size_t)n + 1);
    if (!d)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

static void entries_add(entries *e, char *path, char *error, int found,
                        int kind, char *note)
{
    if (!path || (kind >= E_SPECIAL && !note)) {
        free(path);
        free(error);
        free(note);
        e->nomem = 1;
        return;
    }
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 64;
        entry *nv = realloc(e->v, ncap * sizeof *nv);
        if (!nv) {
            free(path);
            free(error);
            free(note);
            e->nomem = 1;
            return;
        }
        e->v = nv;
        e->cap = ncap;
    }
    e->v[e->n].path = path;
    e->v[e->n].error = error;
    e->v[e->n].note = note;
    e->v[e->n].kind = kind;
    e->v[e->n].found = found;
    e->v[e->n].listed = 0;
    e->n++;
}

/* Looks (dev, ino) up; adds it with index idx when new. Returns the
 * entry index it was first listed under, SIZE_MAX when new, or
 * SIZE_MAX - 1 when out of memory. */
static size_t seen_check(seen_set *s, dev_t dev, ino_t ino, size_t idx)
{
    if (s->n * 2 >= s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        struct seen *nv = calloc(ncap, sizeof *nv);
        if (!nv)
            return SIZE_MAX - 1;
        for (size_t k = 0; k < s->cap; k++) {
            if (!s->v[k].used)
                continue;
            size_t h = ((size_t)s->v[k].dev * 31u + (size_t)s->v[k].ino) & (ncap - 1);
            while (nv[h].used)
                h = (h + 1) & (ncap - 1);
            nv[h] = s->v[k];
        }
        free(s->v);
        s->v = nv;
        s->cap = ncap;
    }
    size_t h = ((size_t)dev * 31u + (size_t)ino) & (s->cap - 1);
    while (s->v[h].used) {
        if (s->v[h].dev == dev && s->v[h].ino == ino)
            return s->v[h].idx;
        h = (h + 1) & (s->cap - 1);
    }
    s->v[h].used = 1;
    s->v[h].dev = dev;
    s->v[h].ino = ino;
    s->v[h].idx = idx;
    s->n++;
    return SIZE_MAX;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Pending walk items: a LIFO of paths, each flagged directory or file. */
typedef struct pending {
    char **path;
    unsigned char *isdir;
    size_t n, cap;
} pending;

static int pending_push(pending *p, char *path, int isdir)
{
    if (!path)
        return -1;
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 64;
        char **np = realloc(p->path, ncap * sizeof *np);
        if (!np) {
            free(path);
            return -1;
        }
        p->path = np;
        unsigned char *nd = realloc(p->isdir, ncap);
        if (!nd) {
            free(path);
            return -1;
        }
        p->isdir = nd;
        p->cap = ncap;
    }
    p->path[p->n] = path;
    p->isdir[p->n] = (unsigned char)isdir;
    p->n++;
    return 0;
}

static int glob_any(char **pats, const char *rel)
{
    for (size_t k = 0; pats && pats[k]; k++)
        if (fnmatch(pats[k], rel, 0) == 0)
            return 1;
    return 0;
}

/* Lists a path met in a walk (or named), following links. Returns 1 when
 * it is a directory to descend into. */
static int list_path(entries *out, char *path, int found, const char *rel)
{
    struct stat lsb, sb;
    if (lstat(path, &lsb) < 0) {
        /* vanished or unreadable: the scan reports the error */
        entries_add(out, path, NULL, found, E_FILE, NULL);
        return 0;
    }
    int link = S_ISLNK(lsb.st_mode);
    if (stat(path, &sb) < 0) {
        if (link && found)
            entries_add(out, path, NULL, found, E_BROKEN,
                        xprintf("symbolic link that leads nowhere: %s",
                                strerror(errno)));
        else
            entries_add(out, path, NULL, found, E_FILE, NULL);
        return 0;
    }
    if (link && found && out->root_real) {
        /* links are followed inside the directory walked, never out of
         * it: an upload must not make the scan read (and quote bits of,
         * in a public CI log) files it does not contain */
        char *rp = realpath(path, NULL);
        size_t n = strlen(out->root_real);
        int inside = rp && (strcmp(out->root_real, "/") == 0 ||
                            (strncmp(rp, out->root_real, n) == 0 &&
                             (rp[n] == '/' || rp[n] == '\0')));
        free(rp);
        if (!inside) {
            char target[512];
            ssize_t tl = readlink(path, target, sizeof target - 1);
            target[tl > 0 ? tl : 0] = '\0';
            entries_add(out, path, NULL, found, E_OUTSIDE,
                        xprintf("symbolic link to '%s' leads out of the "
                                "directory scanned: not followed", target));
            return 0;
        }
    }
    int isdir = S_ISDIR(sb.st_mode);
    if (found && rel && (glob_any(out->exclude, rel) ||
                         (!isdir && out->include &&
                          !glob_any(out->include, rel)))) {
        free(path); /* filtered out by --include/--exclude */
        return 0;
    }
    size_t first = seen_check(&out->seen, sb.st_dev, sb.st_ino,
                              isdir ? SIZE_MAX - 2 : out->n);
    if (first == SIZE_MAX - 1) {
        free(path);
        out->nomem = 1;
        return 0;
    }
    if (first != SIZE_MAX) {
        const char *other = first < out->n ? out->v[first].path
                                           : "one already walked";
        entries_add(out, path, NULL, found, E_SAME,
                    xprintf("same %s as %s (device %llu, inode %llu): "
                            "scanned there, not again",
                            isdir ? "directory" : "file", other,
                            (unsigned long long)sb.st_dev,
                            (unsigned long long)sb.st_ino));
        return 0;
    }
    if (isdir)
        return 1;
    if (!S_ISREG(sb.st_mode) && found) {
        entries_add(out, path, NULL, found, E_SPECIAL,
                    xstrdup(S_ISFIFO(sb.st_mode)  ? "a FIFO (named pipe)"
                            : S_ISCHR(sb.st_mode) ? "a character device"
                            : S_ISBLK(sb.st_mode) ? "a block device"
                            : S_ISSOCK(sb.st_mode) ? "a socket"
                                                   : "not a regular file"));
        return 0;
    }
    size_t before = out->n;
    entries_add(out, path, NULL, found, E_FILE, NULL);
    if (out->n > before && S_ISREG(sb.st_mode)) {
        /* what was listed: the file opened later must be this one */
        entry *e = &out->v[out->n - 1];
        e->listed = 1;
        e->dev = sb.st_dev;
        e->ino = sb.st_ino;
    }
    return 0;
}

/* Walks a directory depth-first in sorted order, without recursion:
 * children are pushed in reverse so they pop in order; each is listed
 * (stat, links followed) when it pops. The root is already listed. */
static void walk_dir(char *root, entries *out)
{
    pending st = {0};
    size_t rootlen = strlen(root);
    int rslash = rootlen > 0 && root[rootlen - 1] == '/';
    if (pending_push(&st, root, 1) < 0) {
        out->nomem = 1;
        return;
    }
    while (st.n && !out->nomem) {
        st.n--;
        char *path = st.path[st.n];
        if (!st.isdir[st.n]) {
            const char *rel = path + rootlen + (rslash ? 0 : 1);
            /* list_path owns path unless it is a directory to walk */
            if (!list_path(out, path, 1, rel))
                continue;
        }
        DIR *d = opendir(path);
        if (!d) {
            entries_add(out, path, xprintf("cannot read directory: %s",
                                           strerror(errno)), 0, E_FILE, NULL);
            continue;
        }
        char **names = NULL;
        size_t nn = 0, cap = 0;
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            if (nn == cap) {
                size_t ncap = cap ? cap * 2 : 32;
                char **nv = realloc(names, ncap * sizeof *nv);
                if (!nv) {
                    out->nomem = 1;
                    break;
                }
                names = nv;
                cap = ncap;
            }
            names[nn] = xstrdup(de->d_name);
            if (!names[nn]) {
                out->nomem = 1;
                break;
            }
            nn++;
        }
        closedir(d);
        if (nn)
            qsort(names, nn, sizeof *names, cmp_str);
        size_t plen = strlen(path);
        int slash = plen > 0 && path[plen - 1] == '/';
        for (size_t k = nn; k-- > 0;) {
            char *child = xprintf("%s%s%s", path, slash ? "" : "/", names[k]);
            free(names[k]);
            if (pending_push(&st, child, 0) < 0)
                out->nomem = 1;
        }
        free(names);
        free(path);
    }
    for (size_t k = 0; k < st.n; k++)
        free(st.path[k]);
    free(st.path);
    free(st.isdir);
}

/* A PATH operand: a directory is walked, anything else is one entry
 * (errors surface when it is scanned). */
static void add_operand(const char *arg, entries *out)
{
    char *path = xstrdup(arg);
    if (!path) {
        out->nomem = 1;
        return;
    }
    if (list_path(out, path, 0, NULL)) {
        out->root_real = realpath(path, NULL);
        walk_dir(path, out);
        free(out->root_real);
        out->root_real = NULL;
    }
}

/* --files-from: PATHs separated by NUL bytes when the list holds any,
 * else by newlines (a trailing CR is dropped; empty lines are skipped). */
static int read_path_list(const char *from, entries *out)
{
    cli_input in;
    if (cli_input_open(from, 0, &in) < 0)
        return -1;
    const char *p = (const char *)in.data, *end = p + in.len;
    int nul = memchr(p, '\0', in.len) != NULL;
    while (p < end && !out->nomem) {
        const char *q = memchr(p, nul ? '\0' : '\n', (size_t)(end - p));
        if (!q)
            q = end;
        size_t n = (size_t)(q - p);
        if (!nul)
            while (n > 0 && p[n - 1] == '\r')
                n--;
        if (n > 0) {
            char *one = malloc(n + 1);
            if (!one) {
                out->nomem = 1;
                break;
            }
            memcpy(one, p, n);
            one[n] = '\0';
            add_operand(one, out);
            free(one);
        }
        p = q + 1;
    }
    cli_input_close(&in);
    return 0;
}

/* ---- scanning one file --------------------------------------------------- */

/* What every file's scan is given. */
typedef struct scan_cfg {
    const pkl_policy *policy;
    size_t max_output;    /* pkl_walk_options; 0: the library default */
    size_t max_total;
    size_t max_input;     /* a FIFO, pipe or device named as a PATH */
    const cli_input *stdin_data;   /* E_STDIN entries */
} scan_cfg;

typedef struct job {
    const scan_cfg *cfg;
    entries *files;
    scan_file *slots;
    unsigned char *done;
    size_t next;          /* next index to take */
    size_t printed;       /* files written so far */
    size_t window;        /* how far workers may run ahead of the writer */
    int nomem;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} job;

static void scan_one(const scan_cfg *cfg, const entry *e, scan_file *f)
{
    memset(f, 0, sizeof *f);
    f->path = e->path;
    pkl_scan_result_init(&f->res, NULL);
    if (e->error) {
        f->verdict = SCAN_ERROR;
        f->error = xstrdup(e->error);
        return;
    }
    pkl_scan_file_options o;
    memset(&o, 0, sizeof o);
    o.policy = cfg->policy;
    o.max_output = cfg->max_output;
    o.max_total = cfg->max_total;
    o.found = e->found;
    pkl_error err;
    int rc = 0;
    memset(&err, 0, sizeof err);
    if (e->kind == E_FILE) {
        /* the one opening routine: O_NONBLOCK, judged by fstat of the
         * opened descriptor (found in a walk, a FIFO or device is a
         * special-file finding, never read; named, a FIFO or pipe is read
         * up to --max-input with a bounded wait, a device is a finding);
         * mapped under the SIGBUS guard */
        cli_input in;
        rc = cli_input_open_ex(e->path, PKL_INPUT_KEEP_FD |
                                   (e->found ? PKL_INPUT_NO_SPECIAL
                                             : PKL_INPUT_NO_DEVICES),
                               cfg->max_input, &in, &err);
        if (rc == 0 && e->found && e->listed && !in.raw.special &&
            (in.raw.dev != (uint64_t)e->dev || in.raw.ino != (uint64_t)e->ino)) {
            /* swapped between listing and opening (for a link to a file
             * outside the tree, or another file): not scanned, never
             * reported clean */
            cli_input_close(&in);
            f->verdict = SCAN_ERROR;
            f->error = xstrdup("I/O error: the file was replaced between "
                               "listing and opening (another process "
                               "swapped it): not scanned");
            return;
        }
        if (rc == 0)
            rc = pkl_scan_input(&in.raw, e->path, &o, &f->res, &err);
        int changed = rc == 0 && cli_input_changed(&in);
        cli_input_close(&in);
        if (changed) {
            /* the findings came from zero pages, not from the file */
            pkl_scan_result_free(&f->res);
            pkl_scan_result_init(&f->res, NULL);
            f->verdict = SCAN_ERROR;
            f->error = xstrdup("I/O error: the file shrank while it was "
                               "being read (truncated by another process)");
            return;
        }
    } else if (e->kind == E_STDIN) {
        rc = pkl_scan_data(cfg->stdin_data->data, cfg->stdin_data->len, NULL,
                           &o, &f->res, &err);
    } else {
        pkl_finding x;
        memset(&x, 0, sizeof x);
        x.rule = e->kind == E_SPECIAL ? "special-file"
               : e->kind == E_BROKEN ? "symlink-broken"
               : e->kind == E_OUTSIDE ? "symlink-outside" : "same-file";
        if (e->kind == E_SPECIAL) {
            rc = pkl_scan_special(e->note, &o, &f->res);
        } else {
            x.severity = e->kind == E_SAME ? PKL_SEV_INFO : PKL_SEV_MEDIUM;
            x.opcode = -1;
            snprintf(x.message, sizeof x.message, "%s", e->note);
            snprintf(x.hint, sizeof x.hint, "%s",
                     e->kind == E_BROKEN
                         ? "remove the link or make it point at the file"
                     : e->kind == E_OUTSIDE
                         ? "the target was not examined: replace the link "
                           "with the file, or scan the target by name if "
                           "you trust where it points"
                         : "nothing to do: the file was scanned under the "
                           "other path");
            rc = pkli_scan_result_add(&f->res, &x, 0);
        }
        if (rc < 0) {
            f->verdict = SCAN_ERROR;
            f->error = xstrdup("out of memory");
            return;
        }
    }
    if (rc < 0) {
        char msg[1024];
        f->verdict = SCAN_ERROR;
        f->error = xstrdup(pkl_error_format(&err, msg, sizeof msg));
    } else {
        f->verdict = scan_verdict(&f->res);
    }
}

static void slot_free(scan_file *f)
{
    pkl_scan_result_free(&f->res);
    free((char *)f->error);
    f->error = NULL;
}

static void *worker(void *arg)
{
    job *j = arg;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        while (j->next < j->files->n && j->next >= j->printed + j->window)
            pthread_cond_wait(&j->cv, &j->mu);
        if (j->next >= j->files->n)
            break;
        size_t i = j->next++;
        pthread_mutex_unlock(&j->mu);
        scan_one(j->cfg, &j->files->v[i], &j->slots[i]);
        pthread_mutex_lock(&j->mu);
        j->done[i] = 1;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* ---- the command -------------------------------------------------------- */

static int add_glob(char ***list, size_t *n, const char *pat)
{
    char **nv = realloc(*list, (*n + 2) * sizeof *nv);
    if (!nv)
        return -1;
    nv[(*n)++] = (char *)pat;
    nv[*n] = NULL;
    *list = nv;
    return 0;
}

/* The command line of `scan`. */
typedef struct scan_args {
    const char *policy_name;
    int format, fail_on, quiet, sandbox;
    long jobs;
    size_t max_output, max_total, max_input;
    cli_shard shard;
    const char *files_from;
    const char **operands;
    size_t noperands;
    int have_stdin;          /* a '-' operand */
    size_t ninclude, nexclude;
} scan_args;

/* What parsing the command line ends in. */
enum { ARGS_OK = 0, ARGS_HELP = 1, ARGS_USAGE = -1, ARGS_NOMEM = -2 };

/* One option at argv[*i] (its value may take the next word). */
static int parse_option(int argc, char **argv, int *i, scan_args *o,
                        entries *files)
{
    const char *a = argv[*i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
        return ARGS_HELP;
    if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
        o->quiet = 1;
    } else if (cli_is_opt(a, "--policy")) {
        o->policy_name = cli_opt_value(argc, argv, i, "--policy");
        if (!o->policy_name || !*o->policy_name)
            return ARGS_USAGE;
    } else if (cli_is_opt(a, "--format")) {
        o->format = scan_format_parse(cli_opt_value(argc, argv, i, "--format"));
        if (o->format < 0) {
            cli_errorf("scan: --format takes text, json, jsonl or sarif");
            return ARGS_USAGE;
        }
    } else if (cli_is_opt(a, "--fail-on")) {
        o->fail_on = scan_fail_on_parse(cli_opt_value(argc, argv, i, "--fail-on"));
        if (o->fail_on < 0) {
            cli_errorf("scan: --fail-on takes critical, high, medium, low, "
                       "info or none");
            return ARGS_USAGE;
        }
    } else if (cli_is_opt(a, "--include") || cli_is_opt(a, "--exclude")) {
        int inc = cli_is_opt(a, "--include");
        const char *v = cli_opt_value(argc, argv, i,
                                  inc ? "--include" : "--exclude");
        if (!v || !*v) {
            cli_errorf("scan: %s takes a glob", inc ? "--include"
                                                    : "--exclude");
            return ARGS_USAGE;
        }
        if (add_glob(inc ? &files->include : &files->exclude,
                     inc ? &o->ninclude : &o->nexclude, v) < 0)
            return ARGS_NOMEM;
    } else if (cli_is_opt(a, "--files-from")) {
        o->files_from = cli_opt_value(argc, argv, i, "--files-from");
        if (!o->files_from || !*o->files_from) {
            cli_errorf("scan: --files-from takes a FILE or -");
            return ARGS_USAGE;
        }
    } else if (cli_is_opt(a, "--jobs")) {
        const char *v = cli_opt_value(argc, argv, i, "--jobs");
        char *end = NULL;
        errno = 0;
        o->jobs = v ? strtol(v, &end, 10) : -1;
        if (!v || !*v || *end || errno || o->jobs < 0 || o->jobs > MAX_JOBS) {
            cli_errorf("scan: --jobs takes a number from 0 to %d", MAX_JOBS);
            return ARGS_USAGE;
        }
        if (o->jobs == 0) {
            long c = sysconf(_SC_NPROCESSORS_ONLN);
            o->jobs = c < 1 ? 1 : c > MAX_JOBS ? MAX_JOBS : c;
        }
    } else if (cli_is_opt(a, "--max-output") || cli_is_opt(a, "--max-total")) {
        int outp = cli_is_opt(a, "--max-output");
        const char *flag = outp ? "--max-output" : "--max-total";
        const char *v = cli_opt_value(argc, argv, i, flag);
        if (cli_parse_size(v, outp ? &o->max_output : &o->max_total) < 0) {
            cli_errorf("scan: %s takes a positive size (bytes, or with "
                       "k, M or G)", flag);
            return ARGS_USAGE;
        }
    } else if (strcmp(a, "--no-sandbox") == 0) {
        o->sandbox = 0;
    } else if (cli_is_opt(a, "--max-input")) {
        const char *v = cli_opt_value(argc, argv, i, "--max-input");
        if (cli_parse_size(v, &o->max_input) < 0) {
            cli_errorf("scan: --max-input takes a positive size (bytes, "
                       "or with k, M or G)");
            return ARGS_USAGE;
        }
    } else if (cli_is_opt(a, "--shard")) {
        if (cli_shard_parse(cli_opt_value(argc, argv, i, "--shard"),
                            &o->shard) < 0) {
            cli_errorf("scan: --shard takes I/N with 0 <= I < N <= %u",
                       CLI_SHARD_MAX);
            return ARGS_USAGE;
        }
    } else {
        cli_errorf("scan: unknown option '%s'", a);
        return ARGS_USAGE;
    }
    return ARGS_OK;
}

/* The whole command line: options, operands (after "--" every word is
 * one), and what they may not say together. */
static int parse_args(int argc, char **argv, scan_args *o, entries *files)
{
    int only_operands = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_operands || a[0] != '-' || strcmp(a, "-") == 0) {
            o->operands[o->noperands++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_operands = 1;
            continue;
        }
        int rc = parse_option(argc, argv, &i, o, files);
        if (rc != ARGS_OK)
            return rc;
    }
    if (o->noperands == 0 && !o->files_from) {
        cli_errorf("scan: no PATH given");
        return ARGS_USAGE;
    }
    for (size_t k = 0; k < o->noperands; k++)
        if (strcmp(o->operands[k], "-") == 0) {
            if (o->have_stdin++ ||
                (o->files_from && strcmp(o->files_from, "-") == 0)) {
                cli_errorf("scan: stdin can be read once: one '-' operand "
                           "(data) or --files-from - (paths), not both");
                return ARGS_USAGE;
            }
        }
    return ARGS_OK;
}

/* Keeps this shard's files, in order. It runs after the whole listing, so
 * links and same-file findings are what one unsharded run would give. */
static void keep_shard(entries *files, const cli_shard *shard)
{
    size_t kept = 0;
    for (size_t k = 0; k < files->n; k++) {
        if (cli_shard_keeps(shard, files->v[k].path)) {
            files->v[kept++] = files->v[k];
        } else {
            free(files->v[k].path);
            free(files->v[k].error);
            free(files->v[k].note);
        }
    }
    files->n = kept;
}

/* Scans every listed file (on o->jobs threads) and writes each report in
 * order as soon as it and those before it are done. Returns the exit
 * status. */
static int scan_all(const scan_args *o, pkl_policy *policy, entries *files,
                    cli_input *stdin_data)
{
    scan_file *slots = calloc(files->n ? files->n : 1, sizeof *slots);
    unsigned char *done = calloc(files->n ? files->n : 1, 1);
    if (!slots || !done) {
        cli_errorf("scan: out of memory");
        free(slots);
        free(done);
        return PKL_EXIT_USAGE;
    }
    scan_writer w;
    scan_writer_begin(&w, stdout, o->format, pkl_policy_name(policy));
    w.quiet = o->quiet;
    w.fail_on = o->fail_on;
    int worst = -1, errors = 0;
    job j;
    memset(&j, 0, sizeof j);
    scan_cfg cfg = {policy, o->max_output, o->max_total, o->max_input, stdin_data};
    j.cfg = &cfg;
    j.files = files;
    j.slots = slots;
    j.done = done;
    j.window = (size_t)o->jobs * 4 + 16;
    pthread_t tids[MAX_JOBS];
    long started = 0;
    if (o->jobs > 1 && files->n > 1) {
        pthread_mutex_init(&j.mu, NULL);
        pthread_cond_init(&j.cv, NULL);
        for (long t = 0; t < o->jobs && (size_t)t < files->n; t++) {
            if (pthread_create(&tids[t], NULL, worker, &j) != 0)
                break;
            started++;
        }
    }
    for (size_t i = 0; i < files->n; i++) {
        if (started) {
            pthread_mutex_lock(&j.mu);
            while (!done[i])
                pthread_cond_wait(&j.cv, &j.mu);
            pthread_mutex_unlock(&j.mu);
        } else {
            scan_one(&cfg, &files->v[i], &slots[i]);
        }
        scan_file *f = &slots[i];
        if (f->verdict == SCAN_ERROR) {
            errors++;
            cli_error_name(f->path, f->error ? f->error : "error");
        } else if (f->res.max_severity > worst) {
            worst = f->res.max_severity;
        }
        scan_writer_file(&w, f);
        slot_free(f);
        if (started) {
            pthread_mutex_lock(&j.mu);
            j.printed = i + 1;
            pthread_cond_broadcast(&j.cv);
            pthread_mutex_unlock(&j.mu);
        }
    }
    for (long t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    if (started) {
        pthread_mutex_destroy(&j.mu);
        pthread_cond_destroy(&j.cv);
    }
    scan_writer_end(&w);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_errorf("scan: writing the report failed");
        errors++;
    }
    free(slots);
    free(done);
    return errors ? PKL_EXIT_USAGE
           : worst >= o->fail_on ? PKL_EXIT_FINDINGS : PKL_EXIT_OK;
}

int cmd_scan(int argc, char **argv)
{
    scan_args o;
    memset(&o, 0, sizeof o);
    o.policy_name = "default";
    o.format = SCAN_FMT_TEXT;
    o.fail_on = PKL_SEV_MEDIUM;
    o.jobs = 1;
    o.sandbox = 1;
    entries files;
    memset(&files, 0, sizeof files);
    int status = PKL_EXIT_USAGE;
    pkl_policy *policy = NULL;
    cli_input stdin_data;
    memset(&stdin_data, 0, sizeof stdin_data);
    o.operands = calloc((size_t)argc + 1, sizeof *o.operands);
    if (!o.operands) {
        cli_errorf("scan: out of memory");
        return PKL_EXIT_USAGE;
    }

    int rc = parse_args(argc, argv, &o, &files);
    if (rc == ARGS_HELP) {
        scan_usage(stdout);
        status = PKL_EXIT_OK;
        goto out;
    }
    if (rc == ARGS_NOMEM) {
        cli_errorf("scan: out of memory");
        goto out;
    }
    if (rc == ARGS_USAGE) {
        scan_usage(stderr);
        goto out;
    }
    policy = cli_policy_open(o.policy_name);
    if (!policy)
        goto out;
    if (o.have_stdin && cli_input_open("-", o.max_input, &stdin_data) < 0)
        goto out;
    /* confined from here: the walk, --files-from and every file are
     * read-only opens */
    if (o.sandbox && cli_sandbox_enter(1) < 0)
        goto out;

    for (size_t k = 0; k < o.noperands && !files.nomem; k++) {
        if (strcmp(o.operands[k], "-") == 0)
            entries_add(&files, xstrdup("-"), NULL, 0, E_STDIN, NULL);
        else
            add_operand(o.operands[k], &files);
    }
    if (o.files_from && read_path_list(o.files_from, &files) < 0)
        goto out;
    if (files.nomem) {
        cli_errorf("scan: out of memory while listing files");
        goto out;
    }
    if (o.shard.count)
        keep_shard(&files, &o.shard);
    status = scan_all(&o, policy, &files, &stdin_data);

out:
    for (size_t k = 0; k < files.n; k++) {
        free(files.v[k].path);
        free(files.v[k].error);
        free(files.v[k].note);
    }
    free(files.v);
    free(files.seen.v);
    free(files.include);
    free(files.exclude);
    free(o.operands);
    cli_input_close(&stdin_data);
    pkl_policy_free(policy);
    return status;
}
