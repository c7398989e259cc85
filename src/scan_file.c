/* scan_file.c -- scan orchestration: one call does what `pickleguard scan`
 * does to one file. Opens the file (or takes a buffer), detects its
 * format by content, scans a plain pickle directly and hands anything
 * else to the container walker (pkl_walk_buffer), scanning each pickle
 * stream it finds with the member path as prefix and turning each
 * container problem into a medium finding. Also owns the rule table
 * (rules.def) every report writer reads.
 *
 * A thin layer: it decides nothing about pickles (the scanner does) or
 * containers (the walker does); it only wires them together, so a C
 * program gets the CLI's verdicts on a .gz or a .pt without rewriting
 * this. Must never: load or import anything, hang on a special file, or
 * report a file clean when a part of it was not examined.
 */
#define _GNU_SOURCE 1 /* MAP_POPULATE, madvise, SEEK_DATA */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


/* ---- the rule table ------------------------------------------------------- */

static const pkl_rule_info rule_table[] = {
#define RULE(id, sev, title, help) {id, PKL_SEV_##sev, title, help},
#include "rules.def"
};
#define NRULES (sizeof rule_table / sizeof rule_table[0])

size_t pkl_rule_count(void)
{
    return NRULES;
}

const pkl_rule_info *pkl_rule_get(size_t i)
{
    return i < NRULES ? &rule_table[i] : NULL;
}

int pkl_rule_find(const char *id)
{
    for (size_t i = 0; id && i < NRULES; i++)
        if (strcmp(rule_table[i].id, id) == 0)
            return (int)i;
    return -1;
}

/* ---- findings made here --------------------------------------------------- */

static int add_finding(pkl_scan_result *res, size_t max_findings,
                       const char *rule, int sev, const char *path,
                       size_t offset, const char *message, const char *hint)
{
    pkl_finding f;
    memset(&f, 0, sizeof f);
    (void)ALWAYS(pkl_rule_find(rule) >= 0);
    f.rule = rule;
    f.severity = sev;
    f.offset = offset;
    f.opcode = -1;
    snprintf(f.path, sizeof f.path, "%s", path ? path : "");
    snprintf(f.message, sizeof f.message, "%s", message);
    snprintf(f.hint, sizeof f.hint, "%s", hint);
    return pkli_scan_result_add(res, &f, max_findings);
}

/* ---- containers: pkl_walk_buffer hands over each pickle stream ---------- */

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

/* A PKL_STREAM_VIEW scanned leniently (pkli_scan_buffer): the scanner stops at
 * "not-a-pickle" (the view fails before anything could run); what may
 * follow it are text hits in the rest of the bytes (look_through), which
 * that view's loader never reads and the file's other views scan. */
static int view_inert(const pkl_scan_result *r)
{
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->findings[i].rule, "not-a-pickle") == 0)
            return 1;
    return 0;
}

/* Whether a finding of a live raw-pickle view adds to what the file's
 * other views reported. Where that view's unpickler stops (malformed,
 * truncated, bytes after STOP) it reads nothing more: the bytes there
 * belong to the other views (a joblib file's array data, a zip's members),
 * which are scanned as such; info notes describe the layout. A global or
 * call already reported at the same path by another view is not
 * repeated. */
static int view_adds(const pkl_scan_result *res, const pkl_finding *f)
{
    static const char *const stops[] = {
        "truncated", "unknown-opcode", "malformed", "trailing-bytes",
        "stack-not-empty", "frame-crossing"};
    if (f->severity == PKL_SEV_INFO)
        return 0;
    for (size_t k = 0; k < sizeof stops / sizeof stops[0]; k++)
        if (strcmp(f->rule, stops[k]) == 0)
            return 0;
    for (size_t i = 0; i < res->count; i++)
        if (strcmp(res->findings[i].rule, f->rule) == 0 &&
            strcmp(res->findings[i].global, f->global) == 0 &&
            strcmp(res->findings[i].path, f->path) == 0)
            return 0;
    return 1;
}

static int on_stream(void *ctx, const pkl_stream *st, pkl_error *err)
{
    walk_ctx *wc = ctx;
    pkl_scan_options opt = *wc->opt;
    /* forced streams are unpickled whatever they look like; anything else
     * was found by content, named or not (one verdict path: a file scanned
     * by name and inside a directory gets the same findings) */
    int lenient = (st->flags & PKL_STREAM_FORCED) ? 0 : 1;
    if (st->data != wc->map) {
        opt.on_progress = NULL;
        opt.next_data = NULL;
        opt.progress_ctx = NULL;
    }
    if (!(st->flags & PKL_STREAM_VIEW))
        return pkli_scan_buffer(st->data, st->len, member_path(st->path), &opt,
                                lenient, wc->res, err) < 0;
    /* a second view of bytes that are also a container (the raw pickle
     * from byte 0): it adds findings only when the unpickler gets past
     * building data; "not a pickle" there means no loader taking this view
     * runs anything (a zip's 'PK' is PERSID, an .npy's \x93 is
     * STACK_GLOBAL on an empty stack) */
    pkl_scan_result view;
    pkl_scan_result_init(&view, NULL);
    int rc = pkli_scan_buffer(st->data, st->len, member_path(st->path), &opt,
                              lenient, &view, err);
    if (rc == 0 && !view_inert(&view))
        for (size_t i = 0; i < view.count && rc == 0; i++)
            if (view_adds(wc->res, &view.findings[i]))
                rc = pkli_scan_result_add(wc->res, &view.findings[i],
                                          wc->opt->max_findings);
    pkl_scan_result_free(&view);
    return rc < 0;
}

/* A container problem is a medium finding: a file the scanner could not
 * fully look inside is never clean. */
static int on_problem(void *ctx, const char *path, const pkl_error *e)
{
    walk_ctx *wc = ctx;
    int cls = pkl_error_class(e->code);
    const char *rule = e->code == PKL_E_FORMAT_UNSUPPORTED
                           ? "container-unsupported"
                       : e->code == PKL_E_FORMAT    ? "container-damaged"
                       : e->code == PKL_E_TRUNCATED ? "container-truncated"
                       : e->code == PKL_E_TRAILING  ? "container-trailing"
                       : cls == 3                   ? "container-limit"
                                                    : "container-error";
    char msg[1024];
    pkl_error_format(e, msg, sizeof msg);
    const char *hint =
        e->code == PKL_E_LIMIT_OUTPUT
            ? "the scanner did not decompress all of this file; if it is "
              "expected to be this large, scan it again with a higher "
              "--max-output / --max-total, else review it by hand"
            : "the scanner could not look at everything inside this file; "
              "review it by hand";
    return add_finding(wc->res, wc->opt->max_findings, rule, PKL_SEV_MEDIUM,
                       member_path(path), e->offset, msg, hint) < 0;
}

/* Every byte was read as opcodes of complete pickles: nothing for the
 * container layer to add (joblib's inline arrays and legacy torch storages
 * break the opcode stream; odd but parseable pickles do not). */
static int parsed_whole(const pkl_scan_result *res, size_t from,
                        size_t bytes, size_t len)
{
    static const char *const broken[] = {
        "truncated", "unknown-opcode", "malformed", "trailing-bytes",
        "not-a-pickle"};
    if (bytes != len)
        return 0;
    for (size_t i = from; i < res->count; i++)
        for (size_t k = 0; k < sizeof broken / sizeof broken[0]; k++)
            if (strcmp(res->findings[i].rule, broken[k]) == 0)
                return 0;
    return 1;
}

/* Drops findings and counters back to what they were before a scan. */
static void result_rewind(pkl_scan_result *res, const pkl_scan_result *was)
{
    res->count = was->count;
    res->pickles = was->pickles;
    res->opcodes = was->opcodes;
    res->bytes = was->bytes;
    res->dropped = was->dropped;
    memcpy(res->by_severity, was->by_severity, sizeof res->by_severity);
    res->max_severity = was->max_severity;
}

typedef struct data_ctx {
    void *map;          /* the file mapping whose pages may be dropped */
    size_t dropped;
    int fd;             /* the mapped file, for SEEK_DATA */
    size_t len;
} data_ctx;

/* Resident memory stays bounded on huge files: pages the scanner has
 * walked past are dropped from the mapping (reading them again faults them
 * back in from the file, so nested payloads stay readable). */
static void drop_pages(void *ctx, size_t offset)
{
    data_ctx *p = ctx;
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    size_t upto = offset / page * page;
    if (upto < p->dropped)
        p->dropped = upto; /* a second pass (the scanner's remainder search) */
    if (upto > p->dropped) {
        madvise((char *)p->map + p->dropped, upto - p->dropped, MADV_DONTNEED);
        p->dropped = upto;
    }
}

/* pkl_scan_options.next_data: holes of a sparse file read as zeros, so the
 * scanner need not fault them in (a 10 GB hole took 25 s of page faults
 * and its size in RSS) */
static size_t next_data(void *ctx, size_t offset)
{
    data_ctx *p = ctx;
#ifdef SEEK_DATA
    if (offset < p->len) {
        off_t d = lseek(p->fd, (off_t)offset, SEEK_DATA);
        if (d >= 0)
            return (size_t)d;
        if (errno == ENXIO)
            return p->len; /* nothing but a hole up to the end */
    }
#endif
    return offset;
}

/* Whether the bytes spell joblib's NumpyArrayWrapper (the test
 * pkl_walk_buffer uses): a file that parses whole as pickles is still read
 * differently by joblib.load, whose NumpyUnpickler.load_build
 * (joblib/numpy_pickle.py) reads array bytes from the file after the
 * wrapper's BUILD and resumes unpickling after them -- inside what
 * pickle.load reads as opcodes (a STOP and a GLOBAL's first bytes: a
 * 0-d wrapper's 8 bytes). The wrapper's class can only come from a
 * GLOBAL, INST or STACK_GLOBAL spelling the name. Searched in 4 MiB
 * windows, dropping pages behind and skipping holes as the scan does. */
static int names_joblib_wrapper(const uint8_t *data, size_t len, data_ctx *pr)
{
    /* NumpyArrayWrapper, and joblib < 0.10's NDArrayWrapper and
     * ZNDArrayWrapper, whose BUILD reads a side file */
    static const char key[] = "ArrayWrapper";
    const size_t k = sizeof key - 1, win = (size_t)4 << 20;
    size_t at = 0;
    while (at < len && len - at >= k) {
        if (pr) {
            /* a hole reads as zeros, which no match holds */
            at = next_data(pr, at);
            if (at >= len || len - at < k)
                break;
        }
        size_t n = len - at < win + k - 1 ? len - at : win + k - 1;
        if (memmem(data + at, n, key, k))
            return 1;
        at += n - (k - 1);
        if (pr)
            drop_pages(pr, at);
    }
    return 0;
}

static int scan_data(const uint8_t *data, size_t len, const char *fs_path,
                     void *map, int fd, const pkl_scan_file_options *fo,
                     pkl_scan_result *res, pkl_error *err)
{
    pkl_scan_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = fo->policy;
    opt.max_findings = fo->max_findings;
    /* verdicts by what can run, however the file was reached: bytes that
     * fail before anything could run are "not a pickle" (info), so every
     * scan here is lenient at its start (pkli_scan_buffer) */
    data_ctx pr = {map, 0, fd, len};
    if (map) {
        opt.on_progress = drop_pages;
        opt.next_data = next_data;
        opt.progress_ctx = &pr;
    }
    int rc = 0;
    int fmt = pkl_format_detect(data, len);
    if (fmt == PKL_FMT_PICKLE) {
        /* A plain pickle is scanned directly, without the container
         * layer touching every page (its joblib check searches the whole
         * buffer). Only when the stream does not parse to its end as
         * pickles -- joblib's inline arrays, legacy torch storages -- is
         * it handed to pkl_walk_buffer, which knows those layouts. */
        pkl_scan_result was = *res;
        rc = pkli_scan_buffer(data, len, "", &opt, 1, res, err);
        if (rc == 0 && (!parsed_whole(res, was.count, res->bytes - was.bytes,
                                      len) ||
                        names_joblib_wrapper(data, len, map ? &pr : NULL))) {
            result_rewind(res, &was);
            fmt = -1;
        }
    }
    if (fmt == PKL_FMT_UNKNOWN) {
        /* no container and no plausible pickle start: scanned as it is,
         * so the reason the first opcode fails is reported (and text
         * after it searched) */
        rc = pkli_scan_buffer(data, len, "", &opt, 1, res, err);
    } else if (fmt != PKL_FMT_PICKLE) {
        walk_ctx wc = {&opt, res, map ? data : NULL, fo->found};
        pkl_walk_options wo;
        memset(&wo, 0, sizeof wo);
        wo.fs_path = fs_path;
        wo.max_output = fo->max_output;
        wo.max_total = fo->max_total;
        wo.on_stream = on_stream;
        wo.on_problem = on_problem;
        wo.ctx = &wc;
        rc = pkl_walk_buffer(data, len, "", &wo, NULL, err);
    }
    return rc;
}

int pkl_scan_data(const void *buf, size_t len, const char *fs_path,
                  const pkl_scan_file_options *opt, pkl_scan_result *res,
                  pkl_error *err)
{
    if (!opt || !opt->policy || !res || (!buf && len)) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_scan_data: options with a policy, a result and "
                        "a buffer are required");
        return -1;
    }
    if (err)
        err->code = PKL_OK;
    return scan_data(buf ? buf : "", len, fs_path, NULL, -1, opt, res, err);
}

int pkl_scan_special(const char *what, const pkl_scan_file_options *opt,
                     pkl_scan_result *res)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s: not read (it could block forever or "
             "never end); a loader given this path would read whatever "
             "another process writes", what);
    return add_finding(res, opt ? opt->max_findings : 0, "special-file",
                       PKL_SEV_MEDIUM, "", 0, msg,
                       "special files do not belong in a tree of files to "
                       "scan; remove it, or scan its content by piping it "
                       "to 'pickleguard scan -'");
}

int pkl_scan_input(const pkl_input *in, const char *fs_path,
                   const pkl_scan_file_options *opt, pkl_scan_result *res,
                   pkl_error *err)
{
    if (!in || !opt || !opt->policy || !res) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_scan_input: an input, options with a policy "
                        "and a result are required");
        return -1;
    }
    if (err)
        err->code = PKL_OK;
    if (in->special) {
        int rc = pkl_scan_special(in->special, opt, res);
        if (rc < 0)
            pkli_error_setf(err, PKL_E_NOMEM, 0, -1, "finding");
        return rc;
    }
    if (in->map)
        return scan_data(in->data, in->len, fs_path, in->map, in->fd, opt,
                         res, err);
    /* bytes read from a pipe or device: nothing on disk next to them */
    return scan_data(in->data ? in->data : (const uint8_t *)"", in->len,
                     in->heap ? NULL : fs_path, NULL, -1, opt, res, err);
}

int pkl_scan_file(const char *path, const pkl_scan_file_options *opt,
                  pkl_scan_result *res, pkl_error *err)
{
    if (!path || !opt || !opt->policy || !res) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_scan_file: a path, options with a policy and a "
                        "result are required");
        return -1;
    }
    /* one opening routine (src/input.c): O_NONBLOCK, judged by fstat of
     * the opened descriptor; a FIFO named explicitly is read up to
     * max_total, waiting a bounded time for its writer; found in a walk,
     * it is a special-file finding */
    pkl_input in;
    size_t limit = opt->max_total ? opt->max_total : PKL_INPUT_MAX_DEFAULT;
    unsigned fl = PKL_INPUT_KEEP_FD | (opt->found ? PKL_INPUT_NO_SPECIAL
                                                  : PKL_INPUT_NO_DEVICES);
    if (pkl_input_open(path, fl, limit, 0, &in, err) < 0)
        return -1;
    if (in.map && opt->on_map)
        opt->on_map(opt->map_ctx, in.map, in.map_len);
    int rc = pkl_scan_input(&in, path, opt, res, err);
    if (in.map && opt->on_map)
        opt->on_map(opt->map_ctx, in.map, 0);
    pkl_input_close(&in);
    return rc;
}
