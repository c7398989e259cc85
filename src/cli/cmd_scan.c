/* cmd_scan.c -- `pickleguard scan [--policy NAME|FILE] [--format
 * text|json|sarif] [--fail-on LEVEL] [--jobs N] PATH...`
 *
 * Expands PATHs (directories recursively, entries sorted byte-wise,
 * depth-first; symbolic links and special files inside directories are not
 * followed; "-" reads more PATHs from stdin, one per line), scans every
 * file by content (never by extension: plain pickles directly, containers
 * -- torch zip, npy, joblib, compressed streams, shelves -- through
 * pkl_walk_buffer, one pkl_scan_buffer per pickle stream with the member
 * path as prefix), and writes one report in PATH order whatever --jobs
 * is. Exit 0 when no finding is at or above
 * --fail-on (default medium), 1 otherwise, 2 on usage or I/O errors (a
 * file that cannot be read, a policy that cannot be opened).
 *
 * Must never: load or import anything, follow links found while walking
 * directories, or let --jobs change the output.
 */
#define _DEFAULT_SOURCE 1 /* MAP_POPULATE, madvise */
#include "cli.h"
#include "scan_report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_JOBS 256
#define POPULATE_MAX ((size_t)32 << 20)

static void scan_usage(FILE *f)
{
    fputs("usage: pickleguard scan [--policy NAME|FILE] [--format text|json|sarif]\n"
          "                        [--fail-on critical|high|medium|low|info]\n"
          "                        [--jobs N] [--max-output N] [--max-total N]\n"
          "                        PATH...\n"
          "  Reports what loading each file would do, without loading it.\n"
          "  PATH: a file, a directory (scanned recursively, sorted, symlinks\n"
          "  not followed) or - (read PATHs from stdin, one per line).\n"
          "  --policy   built-in name or YAML file (default: default)\n"
          "  --format   text (default), json or sarif (SARIF 2.1.0)\n"
          "  --fail-on  lowest severity that makes the exit status 1 (medium)\n"
          "  --jobs     files scanned in parallel (default 1; 0: one per CPU)\n"
          "  --max-output  bytes one compressed member or file may expand to\n"
          "             (default 64M; suffix k, M or G)\n"
          "  --max-total   bytes all decompression in one file may produce\n"
          "             (default 1G)\n"
          "  exit: 0 nothing at or above --fail-on, 1 findings, 2 usage or I/O error\n"
          "  rules: docs/rules.md\n",
          f);
}

/* ---- the list of files ---------------------------------------------------- */

typedef struct entry {
    char *path;
    char *error;      /* preset error (directory that cannot be read...) */
    int found;        /* found in a directory, not named: content decides
                         whether it is a pickle at all */
} entry;

typedef struct entries {
    entry *v;
    size_t n, cap;
    int nomem;
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

static void entries_add(entries *e, char *path, char *error, int found)
{
    if (!path) {
        free(error);
        e->nomem = 1;
        return;
    }
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 64;
        entry *nv = realloc(e->v, ncap * sizeof *nv);
        if (!nv) {
            free(path);
            free(error);
            e->nomem = 1;
            return;
        }
        e->v = nv;
        e->cap = ncap;
    }
    e->v[e->n].path = path;
    e->v[e->n].error = error;
    e->v[e->n].found = found;
    e->n++;
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

/* Walks a directory depth-first in sorted order, without recursion:
 * children are pushed in reverse so they pop in order. */
static void walk_dir(const char *root, entries *out)
{
    pending st = {0};
    if (pending_push(&st, xstrdup(root), 1) < 0) {
        out->nomem = 1;
        return;
    }
    while (st.n && !out->nomem) {
        st.n--;
        char *path = st.path[st.n];
        if (!st.isdir[st.n]) {
            entries_add(out, path, NULL, 1);
            continue;
        }
        DIR *d = opendir(path);
        if (!d) {
            entries_add(out, path, xprintf("cannot read directory: %s",
                                           strerror(errno)), 0);
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
        qsort(names, nn, sizeof *names, cmp_str);
        size_t plen = strlen(path);
        int slash = plen > 0 && path[plen - 1] == '/';
        for (size_t k = nn; k-- > 0;) {
            char *child = xprintf("%s%s%s", path, slash ? "" : "/", names[k]);
            free(names[k]);
            if (!child) {
                out->nomem = 1;
                continue;
            }
            struct stat sb;
            if (lstat(child, &sb) < 0) {
                /* vanished or unreadable: report it as an error */
                if (pending_push(&st, child, 0) < 0)
                    out->nomem = 1;
                continue;
            }
            if (S_ISDIR(sb.st_mode)) {
                if (pending_push(&st, child, 1) < 0)
                    out->nomem = 1;
            } else if (S_ISREG(sb.st_mode)) {
                if (pending_push(&st, child, 0) < 0)
                    out->nomem = 1;
            } else {
                free(child); /* symlinks, sockets, devices: not followed */
            }
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
 * (errors surface when it is opened). */
static void add_operand(const char *arg, entries *out)
{
    struct stat sb;
    if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode))
        walk_dir(arg, out);
    else
        entries_add(out, xstrdup(arg), NULL, 0);
}

static int read_stdin_paths(entries *out)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        add_operand(line, out);
    }
    int bad = ferror(stdin);
    free(line);
    return bad ? -1 : 0;
}

/* ---- scanning one file --------------------------------------------------- */

/* What every file's scan is given. */
typedef struct scan_cfg {
    const pkl_policy *policy;
    size_t max_output;    /* pkl_walk_options; 0: the library default */
    size_t max_total;
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

/* Resident memory stays bounded on huge files: pages the scanner has
 * walked past are dropped from the mapping (reading them again faults them
 * back in from the file, so nested payloads stay readable). */
struct progress {
    void *map;
    size_t dropped;
};

static void drop_pages(void *ctx, size_t offset)
{
    struct progress *p = ctx;
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    size_t upto = offset / page * page;
    if (upto > p->dropped) {
        madvise((char *)p->map + p->dropped, upto - p->dropped,
                MADV_DONTNEED);
        p->dropped = upto;
    }
}

/* ---- containers: pkl_walk_buffer hands over each pickle stream -------- */

typedef struct walk_ctx {
    pkl_scan_options *opt;
    pkl_scan_result *res;
    const uint8_t *map;    /* the file mapping (progress only applies to it) */
    int found;
} walk_ctx;

/* "!archive/data.pkl" -> "archive/data.pkl" (findings print PATH!prefix) */
static const char *member_path(const char *p)
{
    return p && p[0] == '!' ? p + 1 : (p ? p : "");
}

static int on_stream(void *ctx, const pkl_stream *st, pkl_error *err)
{
    walk_ctx *wc = ctx;
    pkl_scan_options opt = *wc->opt;
    /* forced streams are unpickled whatever they look like; others were
     * only guessed to be pickles */
    opt.lenient_start = (st->flags & PKL_STREAM_FORCED) ? 0 : wc->found;
    if (st->data != wc->map) {
        opt.on_progress = NULL;
        opt.progress_ctx = NULL;
    }
    return pkl_scan_buffer(st->data, st->len, member_path(st->path), &opt,
                           wc->res, err) < 0;
}

/* A container problem is a medium finding: a file the scanner could not
 * fully look inside is never clean. */
static int on_problem(void *ctx, const char *path, const pkl_error *e)
{
    walk_ctx *wc = ctx;
    pkl_finding f;
    memset(&f, 0, sizeof f);
    int cls = pkl_error_class(e->code);
    f.rule = e->code == PKL_E_FORMAT_UNSUPPORTED ? "container-unsupported"
           : e->code == PKL_E_FORMAT ? "container-damaged"
           : e->code == PKL_E_TRUNCATED ? "container-truncated"
           : e->code == PKL_E_TRAILING ? "container-trailing"
           : cls == 3 ? "container-limit" : "container-error";
    f.severity = PKL_SEV_MEDIUM;
    f.offset = e->offset;
    f.opcode = -1;
    snprintf(f.path, sizeof f.path, "%s", member_path(path));
    char msg[1024];
    snprintf(f.message, sizeof f.message, "%s",
             pkl_error_format(e, msg, sizeof msg));
    snprintf(f.hint, sizeof f.hint, "%s",
             e->code == PKL_E_LIMIT_OUTPUT
                 ? "the scanner did not decompress all of this file; if it "
                   "is expected to be this large, scan it again with a "
                   "higher --max-output / --max-total, else review it by hand"
                 : "the scanner could not look at everything inside this "
                   "file; review it by hand");
    if (pkl_scan_result_add(wc->res, &f, wc->opt->max_findings) < 0)
        return 1;
    return 0;
}

/* Every byte was read as opcodes of complete pickles: nothing for the
 * container layer to add (joblib's inline arrays and legacy torch storages
 * break the opcode stream; odd but parseable pickles do not). */
static int parsed_whole(const pkl_scan_result *res, size_t len)
{
    static const char *const broken[] = {
        "truncated", "unknown-opcode", "malformed", "trailing-bytes",
        "not-a-pickle"};
    if (res->bytes != len)
        return 0;
    for (size_t i = 0; i < res->count; i++)
        for (size_t k = 0; k < sizeof broken / sizeof broken[0]; k++)
            if (strcmp(res->findings[i].rule, broken[k]) == 0)
                return 0;
    return 1;
}

static void scan_one(const scan_cfg *cfg, const entry *e, scan_file *f)
{
    const pkl_policy *policy = cfg->policy;
    memset(f, 0, sizeof *f);
    f->path = e->path;
    pkl_scan_result_init(&f->res, NULL);
    if (e->error) {
        f->verdict = SCAN_ERROR;
        f->error = xstrdup(e->error);
        return;
    }
    int fd = open(e->path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    const uint8_t *data = NULL;
    size_t len = 0;
    void *map = NULL;
    uint8_t *heap = NULL;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        f->verdict = SCAN_ERROR;
        f->error = xstrdup(strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    if (S_ISDIR(sb.st_mode)) {
        f->verdict = SCAN_ERROR;
        f->error = xstrdup("is a directory");
        close(fd);
        return;
    }
    if (S_ISREG(sb.st_mode)) {
        if (sb.st_size > 0) {
            int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
            /* one call maps every page instead of one fault per page;
             * only for files small enough that mapping them all cannot
             * matter (big files are mostly payload the scanner skips) */
            if ((size_t)sb.st_size <= POPULATE_MAX)
                flags |= MAP_POPULATE;
#endif
            map = mmap(NULL, (size_t)sb.st_size, PROT_READ, flags, fd, 0);
            if (map == MAP_FAILED) {
                f->verdict = SCAN_ERROR;
                f->error = xprintf("mmap failed: %s", strerror(errno));
                close(fd);
                return;
            }
            data = map;
            len = (size_t)sb.st_size;
#ifdef MADV_SEQUENTIAL
            madvise(map, len, MADV_SEQUENTIAL);
#endif
        } else {
            data = (const uint8_t *)"";
        }
    } else {
        /* pipes and devices given explicitly: read them whole */
        size_t cap = 1 << 16;
        heap = malloc(cap);
        for (;;) {
            if (!heap) {
                f->verdict = SCAN_ERROR;
                f->error = xstrdup("out of memory");
                close(fd);
                return;
            }
            if (len == cap) {
                uint8_t *nb = cap <= SIZE_MAX / 2 ? realloc(heap, cap * 2) : NULL;
                if (!nb) {
                    free(heap);
                    heap = NULL;
                    continue;
                }
                heap = nb;
                cap *= 2;
            }
            ssize_t got = read(fd, heap + len, cap - len);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                f->verdict = SCAN_ERROR;
                f->error = xprintf("read failed: %s", strerror(errno));
                free(heap);
                close(fd);
                return;
            }
            if (got == 0)
                break;
            len += (size_t)got;
        }
        data = heap;
    }
    close(fd);

    pkl_scan_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = policy;
    opt.lenient_start = e->found;
    struct progress pr = {map, 0};
    if (map) {
        opt.on_progress = drop_pages;
        opt.progress_ctx = &pr;
    }
    pkl_error err;
    int rc;
    int fmt = pkl_format_detect(data, len);
    if (fmt == PKL_FMT_PICKLE) {
        /* A plain pickle is scanned directly, without the container
         * layer touching every page (its joblib check searches the whole
         * buffer). Only when the stream does not parse to its end as
         * pickles -- joblib's inline arrays, legacy torch storages -- is
         * it handed to pkl_walk_buffer, which knows those layouts. */
        rc = pkl_scan_buffer(data, len, "", &opt, &f->res, &err);
        if (rc == 0 && !parsed_whole(&f->res, len)) {
            pkl_scan_result_free(&f->res);
            pkl_scan_result_init(&f->res, NULL);
            fmt = -1;
        }
    }
    if (fmt == PKL_FMT_UNKNOWN) {
        /* no container and no plausible pickle start: scanned as it is,
         * so the reason the first opcode fails is reported (and text
         * after it searched) */
        rc = pkl_scan_buffer(data, len, "", &opt, &f->res, &err);
    } else if (fmt != PKL_FMT_PICKLE) {
        walk_ctx wc = {&opt, &f->res, map ? data : NULL, e->found};
        pkl_walk_options wo;
        memset(&wo, 0, sizeof wo);
        wo.fs_path = e->path;
        wo.max_output = cfg->max_output;
        wo.max_total = cfg->max_total;
        wo.on_stream = on_stream;
        wo.on_problem = on_problem;
        wo.ctx = &wc;
        rc = pkl_walk_buffer(data, len, "", &wo, NULL, &err);
    }
    if (rc < 0) {
        char msg[1024];
        f->verdict = SCAN_ERROR;
        f->error = xstrdup(pkl_error_format(&err, msg, sizeof msg));
    } else {
        f->verdict = scan_verdict(&f->res);
    }
    if (map)
        munmap(map, len);
    free(heap);
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

/* Value of --opt VALUE or --opt=VALUE; advances *i. NULL when missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc)
        return NULL;
    (*i)++;
    return argv[*i];
}

static int is_opt(const char *a, const char *name)
{
    size_t n = strlen(name);
    return strncmp(a, name, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

int cmd_scan(int argc, char **argv)
{
    const char *policy_name = "default";
    int format = SCAN_FMT_TEXT;
    int fail_on = PKL_SEV_MEDIUM;
    long jobs = 1;
    size_t max_output = 0, max_total = 0;
    int only_operands = 0, use_stdin = 0;
    entries files = {0};
    int status = PKL_EXIT_OK;
    pkl_policy *policy = NULL;
    scan_file *slots = NULL;
    unsigned char *done = NULL;
    const char **operands = calloc((size_t)argc + 1, sizeof *operands);
    size_t noperands = 0;
    if (!operands) {
        cli_errorf("scan: out of memory");
        return PKL_EXIT_USAGE;
    }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_operands || a[0] != '-' || strcmp(a, "-") == 0) {
            operands[noperands++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_operands = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            scan_usage(stdout);
            free(operands);
            return PKL_EXIT_OK;
        } else if (is_opt(a, "--policy")) {
            policy_name = opt_value(argc, argv, &i, "--policy");
            if (!policy_name || !*policy_name)
                goto usage;
        } else if (is_opt(a, "--format")) {
            const char *v = opt_value(argc, argv, &i, "--format");
            if (v && strcmp(v, "text") == 0)
                format = SCAN_FMT_TEXT;
            else if (v && strcmp(v, "json") == 0)
                format = SCAN_FMT_JSON;
            else if (v && strcmp(v, "sarif") == 0)
                format = SCAN_FMT_SARIF;
            else {
                cli_errorf("scan: --format takes text, json or sarif");
                goto usage;
            }
        } else if (is_opt(a, "--fail-on")) {
            const char *v = opt_value(argc, argv, &i, "--fail-on");
            fail_on = pkl_severity_parse(v);
            if (fail_on < 0) {
                cli_errorf("scan: --fail-on takes critical, high, medium, low "
                           "or info");
                goto usage;
            }
        } else if (is_opt(a, "--jobs")) {
            const char *v = opt_value(argc, argv, &i, "--jobs");
            char *end = NULL;
            errno = 0;
            jobs = v ? strtol(v, &end, 10) : -1;
            if (!v || !*v || *end || errno || jobs < 0 || jobs > MAX_JOBS) {
                cli_errorf("scan: --jobs takes a number from 0 to %d",
                           MAX_JOBS);
                goto usage;
            }
            if (jobs == 0) {
                long c = sysconf(_SC_NPROCESSORS_ONLN);
                jobs = c < 1 ? 1 : c > MAX_JOBS ? MAX_JOBS : c;
            }
        } else if (is_opt(a, "--max-output") || is_opt(a, "--max-total")) {
            int out = is_opt(a, "--max-output");
            const char *flag = out ? "--max-output" : "--max-total";
            const char *v = opt_value(argc, argv, &i, flag);
            if (cli_parse_size(v, out ? &max_output : &max_total) < 0) {
                cli_errorf("scan: %s takes a positive size (bytes, or with "
                           "k, M or G)", flag);
                goto usage;
            }
        } else {
            cli_errorf("scan: unknown option '%s'", a);
            goto usage;
        }
    }
    if (noperands == 0) {
        cli_errorf("scan: no PATH given");
        goto usage;
    }

    policy = cli_policy_open(policy_name);
    if (!policy) {
        status = PKL_EXIT_USAGE;
        goto out;
    }

    for (size_t k = 0; k < noperands; k++) {
        if (strcmp(operands[k], "-") == 0) {
            if (use_stdin++)
                continue; /* stdin holds one list */
            if (read_stdin_paths(&files) < 0) {
                cli_errorf("scan: reading paths from stdin failed");
                status = PKL_EXIT_USAGE;
            }
        } else {
            add_operand(operands[k], &files);
        }
    }
    if (files.nomem) {
        cli_errorf("scan: out of memory while listing files");
        status = PKL_EXIT_USAGE;
        goto out;
    }

    slots = calloc(files.n ? files.n : 1, sizeof *slots);
    done = calloc(files.n ? files.n : 1, 1);
    if (!slots || !done) {
        cli_errorf("scan: out of memory");
        status = PKL_EXIT_USAGE;
        goto out;
    }

    scan_writer w;
    scan_writer_begin(&w, stdout, format, pkl_policy_name(policy));
    int worst = -1, errors = 0;
    job j;
    memset(&j, 0, sizeof j);
    scan_cfg cfg = {policy, max_output, max_total};
    j.cfg = &cfg;
    j.files = &files;
    j.slots = slots;
    j.done = done;
    j.window = (size_t)jobs * 4 + 16;
    pthread_t tids[MAX_JOBS];
    long started = 0;
    if (jobs > 1 && files.n > 1) {
        pthread_mutex_init(&j.mu, NULL);
        pthread_cond_init(&j.cv, NULL);
        for (long t = 0; t < jobs && (size_t)t < files.n; t++) {
            if (pthread_create(&tids[t], NULL, worker, &j) != 0)
                break;
            started++;
        }
    }
    for (size_t i = 0; i < files.n; i++) {
        if (started) {
            pthread_mutex_lock(&j.mu);
            while (!done[i])
                pthread_cond_wait(&j.cv, &j.mu);
            pthread_mutex_unlock(&j.mu);
        } else {
            scan_one(&cfg, &files.v[i], &slots[i]);
        }
        scan_file *f = &slots[i];
        if (f->verdict == SCAN_ERROR) {
            errors++;
            cli_errorf("%s: %s", f->path, f->error ? f->error : "error");
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
    if (status == PKL_EXIT_OK)
        status = errors ? PKL_EXIT_USAGE
               : worst >= fail_on ? PKL_EXIT_FINDINGS : PKL_EXIT_OK;
    goto out;

usage:
    scan_usage(stderr);
    status = PKL_EXIT_USAGE;
out:
    for (size_t k = 0; k < files.n; k++) {
        free(files.v[k].path);
        free(files.v[k].error);
    }
    free(files.v);
    free(slots);
    free(done);
    free(operands);
    pkl_policy_free(policy);
    return status;
}
