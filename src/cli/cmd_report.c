/* cmd_report.c -- `pickleguard report merge [--format json|jsonl|sarif|text]
 * [--fail-on LEVEL] [--output FILE] INPUT...`
 *
 * Puts the outputs of several scans (typically `scan --shard I/N --format
 * json`, or JSON Lines) back together into the one report a single scan of
 * all the files would have written: the same per-file records, files in
 * path order, totals recomputed, and the same exit status.
 *
 * An INPUT ("-" is stdin) holds one or more JSON values, one after the
 * other (a `scan --format json` document, or `scan --format jsonl`'s
 * lines). Each value is
 *   - a report: {"files": [FILE...], "summary": {...}};
 *   - a file record: FILE, an object with "path" and "verdict";
 *   - a summary line: {"summary": {...}}.
 * A file record has the fields `scan --format json` writes for a file
 * (docs/rules.md, "Output formats"). Totals per severity count the
 * findings a scan dropped past its limit too, which a file record does
 * not list: for an input whose summaries cover all its files, the
 * summaries' totals are used (after checking their file counts against
 * the records); otherwise they are counted from the records, which needs
 * a file record with dropped findings to carry "by_severity" (else the
 * merge fails: its totals would be short).
 *
 * Must never: print a total it could not verify, let one file appear
 * twice (shards that overlap or an input given twice are an error), or
 * depend on the order of the inputs.
 */
#include "internal.h" /* pkli_scan_result_add */
#include "cli.h"
#include "json_in.h"
#include "scan_report.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void report_usage(FILE *f)
{
    fputs("usage: pickleguard report merge [--format json|jsonl|sarif|text]\n"
          "                                [--fail-on critical|high|medium|low|info|none]\n"
          "                                [--output FILE] INPUT...\n"
          "  Merges the JSON or JSON Lines outputs of several `pickleguard scan`\n"
          "  runs, such as the shards of `scan --shard I/N --format jsonl`,\n"
          "  into the report one scan of all the files would write: files in\n"
          "  path order, totals recomputed. INPUT - reads stdin.\n"
          "  --format   json (default), jsonl, sarif (SARIF 2.1.0) or text\n"
          "  --fail-on  lowest severity that makes the exit status 1 (medium;\n"
          "             none: never)\n"
          "  --output   write the report to FILE instead of stdout\n"
          "  exit: 0 nothing at or above --fail-on, 1 findings, 2 usage, I/O,\n"
          "  an input that is not a scan report, a file in two inputs, or a\n"
          "  scan error in an input\n",
          f);
}

/* ---- what the inputs hold --------------------------------------------------- */

typedef struct record {
    const char *path;
    const jv *obj;
    size_t input;      /* index of the INPUT it came from */
    size_t seq;        /* order of appearance, for a stable sort */
} record;

typedef struct totals {
    size_t files;
    size_t verdicts[4];
    size_t by_severity[5];
    size_t dropped;
} totals;

typedef struct merge {
    jv_arena arena;
    record *rec;
    size_t n, cap;
    totals sum;              /* over every input */
    const char *policy;      /* from the inputs; NULL: none named one */
    const char *policy_from;
    int failed;
} merge;

static const char *const verdict_names[4] = {"clean", "findings",
                                             "not-a-pickle", "error"};

static int verdict_parse(const char *s)
{
    for (int v = 0; v < 4; v++)
        if (strcmp(s, verdict_names[v]) == 0)
            return v;
    return -1;
}

/* A JSON number that is a non-negative integer into *out: 0, or -1. */
static int get_size(const jv *v, size_t *out)
{
    if (!v || v->kind != JV_NUMBER || v->str[0] == '-')
        return -1;
    for (size_t i = 0; i < v->len; i++)
        if (v->str[i] < '0' || v->str[i] > '9')
            return -1;
    errno = 0;
    unsigned long long x = strtoull(v->str, NULL, 10);
    if (errno || x > SIZE_MAX)
        return -1;
    *out = (size_t)x;
    return 0;
}

static const char *get_str(const jv *o, const char *key)
{
    const jv *v = jv_get(o, key);
    return v && v->kind == JV_STRING ? v->str : NULL;
}

/* The policy an input names must be the one every other input names. */
static int note_policy(merge *m, const char *policy, const char *input)
{
    if (!policy)
        return 0;
    if (m->policy && strcmp(m->policy, policy) != 0) {
        cli_errorf("report merge: %s scanned under policy '%s', %s under "
                   "'%s': merge scans of one policy", input, policy,
                   m->policy_from, m->policy);
        return -1;
    }
    m->policy = policy;
    m->policy_from = input;
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A file's path: "path_hex" (the exact bytes, which scan writes when they
 * are not UTF-8 and "path" has U+FFFD for them) or else "path". NULL when
 * neither is usable. */
static const char *record_path(merge *m, const jv *obj)
{
    const jv *hex = jv_get(obj, "path_hex");
    if (!hex)
        return get_str(obj, "path");
    if (hex->kind != JV_STRING || hex->len == 0 || hex->len % 2)
        return NULL;
    char *p = jv_arena_text(&m->arena, hex->len / 2 + 1);
    if (!p)
        return NULL;
    for (size_t i = 0; i < hex->len; i += 2) {
        int hi = hexval(hex->str[i]), lo = hexval(hex->str[i + 1]);
        if (hi < 0 || lo < 0 || (hi | lo) == 0)
            return NULL;
        p[i / 2] = (char)(hi << 4 | lo);
    }
    p[hex->len / 2] = '\0';
    return p;
}

static int add_record(merge *m, const jv *obj, size_t input, const char *name)
{
    const char *path = record_path(m, obj);
    const char *verdict = get_str(obj, "verdict");
    if (!path || !verdict || verdict_parse(verdict) < 0) {
        cli_errorf("report merge: %s: a file record without a string \"path\" "
                   "(or a valid \"path_hex\") and a known \"verdict\"", name);
        return -1;
    }
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 256;
        record *nr = realloc(m->rec, ncap * sizeof *nr);
        if (!nr) {
            cli_errorf("report merge: out of memory");
            return -1;
        }
        m->rec = nr;
        m->cap = ncap;
    }
    m->rec[m->n] = (record){path, obj, input, m->n};
    m->n++;
    return 0;
}

static const char *const sum_keys[] = {"info", "low", "medium", "high",
                                       "critical"};

/* Adds a "summary" object into *t. */
static int add_summary(const jv *s, totals *t, const char *name)
{
    size_t x;
    if (!s || s->kind != JV_OBJECT || get_size(jv_get(s, "files"), &x) < 0)
        goto bad;
    t->files += x;
    for (int v = 0; v < 4; v++) {
        if (get_size(jv_get(s, verdict_names[v]), &x) < 0)
            goto bad;
        t->verdicts[v] += x;
    }
    for (int k = 0; k < 5; k++) {
        if (get_size(jv_get(s, sum_keys[k]), &x) < 0)
            goto bad;
        t->by_severity[k] += x;
    }
    if (get_size(jv_get(s, "dropped"), &x) < 0)
        goto bad;
    t->dropped += x;
    return 0;
bad:
    cli_errorf("report merge: %s: a \"summary\" without the counts `scan "
               "--format json` writes", name);
    return -1;
}

/* The totals of one file record: its verdict, and with `severities` its
 * findings counted by severity (from its "by_severity" when it has one,
 * which it needs when it has dropped findings). */
static int count_record(const jv *obj, totals *t, int severities,
                        const char *name)
{
    const char *path = get_str(obj, "path"); /* for messages */
    int verdict = verdict_parse(get_str(obj, "verdict"));
    t->files++;
    t->verdicts[verdict]++;
    if (verdict == SCAN_ERROR || !severities)
        return 0;
    size_t dropped = 0;
    if (get_size(jv_get(obj, "dropped"), &dropped) < 0)
        goto bad;
    t->dropped += dropped;
    const jv *bs = jv_get(obj, "by_severity");
    if (bs) {
        for (int k = 0; k < 5; k++) {
            size_t x;
            if (get_size(jv_get(bs, sum_keys[k]), &x) < 0)
                goto bad;
            t->by_severity[k] += x;
        }
        return 0;
    }
    if (dropped) {
        cli_errorf("report merge: %s: %s dropped %zu findings past the "
                   "scan's limit and its input has no summary to count "
                   "them by severity", name, path, dropped);
        return -1;
    }
    const jv *fs = jv_get(obj, "findings");
    if (!fs || fs->kind != JV_ARRAY)
        goto bad;
    for (const jv *f = fs->first; f; f = f->next) {
        int sev = pkl_severity_parse(get_str(f, "severity"));
        if (sev < 0)
            goto bad;
        t->by_severity[sev]++;
    }
    return 0;
bad:
    cli_errorf("report merge: %s: %s: a file record without the fields "
               "`scan --format json` writes", name, path);
    return -1;
}

/* Reads every JSON value of one INPUT. */
static int read_input(merge *m, size_t input, const char *name)
{
    cli_input in;
    if (cli_input_open(name, 0, &in) < 0)
        return -1;
    const char *s = (const char *)in.data;
    size_t n = in.len, i = 0, first = m->n;
    totals summaries = {0};
    int nsummaries = 0, rc = -1;
    size_t values = 0;
    for (;;) {
        i = jv_skip_ws(s, n, i);
        if (i >= n)
            break;
        char why[256];
        size_t used;
        jv *v = jv_parse(&m->arena, s + i, n - i, &used, why, sizeof why);
        if (!v) {
            /* offsets in why are relative to the value's start */
            cli_errorf("report merge: %s: not JSON (value at byte %zu: %s)",
                       name, i, why);
            goto out;
        }
        i += used;
        values++;
        const jv *files = jv_get(v, "files");
        const jv *summary = jv_get(v, "summary");
        if (files && files->kind == JV_ARRAY) {
            for (const jv *f = files->first; f; f = f->next)
                if (add_record(m, f, input, name) < 0)
                    goto out;
        } else if (jv_get(v, "path") && jv_get(v, "verdict")) {
            if (add_record(m, v, input, name) < 0 ||
                note_policy(m, get_str(v, "policy"), name) < 0)
                goto out;
        } else if (!summary) {
            cli_errorf("report merge: %s: value %zu is neither a scan report, "
                       "a file record nor a summary", name, values);
            goto out;
        }
        if (summary) {
            if (add_summary(summary, &summaries, name) < 0 ||
                note_policy(m, get_str(summary, "policy"), name) < 0)
                goto out;
            nsummaries++;
        }
    }
    if (values == 0) {
        cli_errorf("report merge: %s: empty (a shard that did not finish?)",
                   name);
        goto out;
    }
    totals counted = {0};
    for (size_t k = first; k < m->n; k++)
        if (count_record(m->rec[k].obj, &counted, nsummaries == 0, name) < 0)
            goto out;
    if (nsummaries) {
        /* the summaries must describe exactly the records present */
        if (summaries.files != counted.files ||
            memcmp(summaries.verdicts, counted.verdicts,
                   sizeof counted.verdicts) != 0) {
            cli_errorf("report merge: %s: its summary counts %zu files, the "
                       "records present %zu (or their verdicts differ): a "
                       "cut-short or edited report", name, summaries.files,
                       counted.files);
            goto out;
        }
        counted = summaries;
    }
    m->sum.files += counted.files;
    for (int v = 0; v < 4; v++)
        m->sum.verdicts[v] += counted.verdicts[v];
    for (int k = 0; k < 5; k++)
        m->sum.by_severity[k] += counted.by_severity[k];
    m->sum.dropped += counted.dropped;
    rc = 0;
out:
    /* the parsed values point into the arena, not into the input */
    cli_input_close(&in);
    return rc;
}

/* Path order: byte-wise, with '/' before every other byte, which is the
 * order `scan DIR` lists a directory's files in (depth-first, each
 * directory's entries sorted byte-wise). */
static int path_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a;
    const unsigned char *y = (const unsigned char *)b;
    while (*x && *x == *y)
        x++, y++;
    unsigned cx = *x == '/' ? 1u : *x ? (unsigned)*x + 1u : 0u;
    unsigned cy = *y == '/' ? 1u : *y ? (unsigned)*y + 1u : 0u;
    return cx < cy ? -1 : cx > cy;
}

static int record_cmp(const void *pa, const void *pb)
{
    const record *a = pa, *b = pb;
    int c = path_cmp(a->path, b->path);
    if (c)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* ---- back into a scan_file ------------------------------------------------ */

static int opcode_parse(const jv *v, int *out)
{
    if (!v || v->kind == JV_NULL) {
        *out = -1;
        return 0;
    }
    if (v->kind != JV_STRING)
        return -1;
    for (unsigned b = 0; b < 256; b++) {
        const pkl_opinfo *info = pkl_opinfo_get(b);
        if (info && strcmp(info->name, v->str) == 0) {
            *out = (int)b;
            return 0;
        }
    }
    /* a byte that is no opcode is written as 0x%02x */
    unsigned b;
    char tail;
    if (v->len == 4 && sscanf(v->str, "0x%2x%c", &b, &tail) == 1) {
        *out = (int)b;
        return 0;
    }
    return -1;
}

static void copy_field(char *dst, size_t size, const char *s)
{
    snprintf(dst, size, "%s", s ? s : "");
}

/* Fills f from a file record (the strings stay in the record's arena). */
static int to_scan_file(const record *r, scan_file *f)
{
    const jv *obj = r->obj;
    memset(f, 0, sizeof *f);
    pkl_scan_result_init(&f->res, NULL);
    f->path = r->path;
    f->verdict = verdict_parse(get_str(obj, "verdict"));
    if (f->verdict == SCAN_ERROR) {
        f->error = get_str(obj, "error");
        return f->error ? 0 : -1;
    }
    const jv *ms = jv_get(obj, "max_severity");
    const jv *fs = jv_get(obj, "findings");
    if (get_size(jv_get(obj, "pickles"), &f->res.pickles) < 0 ||
        get_size(jv_get(obj, "opcodes"), &f->res.opcodes) < 0 ||
        get_size(jv_get(obj, "bytes_examined"), &f->res.bytes) < 0 ||
        get_size(jv_get(obj, "dropped"), &f->res.dropped) < 0 || !ms ||
        !fs || fs->kind != JV_ARRAY)
        return -1;
    int max_sev = -1;
    if (ms->kind == JV_STRING)
        max_sev = pkl_severity_parse(ms->str);
    if (ms->kind != JV_NULL && max_sev < 0)
        return -1;
    for (const jv *x = fs->first; x; x = x->next) {
        pkl_finding fd;
        memset(&fd, 0, sizeof fd);
        const jv *g = jv_get(x, "global");
        fd.rule = get_str(x, "rule");
        fd.severity = pkl_severity_parse(get_str(x, "severity"));
        if (!fd.rule || fd.severity < 0 ||
            get_size(jv_get(x, "offset"), &fd.offset) < 0 ||
            opcode_parse(jv_get(x, "opcode"), &fd.opcode) < 0 ||
            !get_str(x, "message") || !get_str(x, "hint") ||
            !get_str(x, "path") || !g ||
            (g->kind != JV_NULL && g->kind != JV_STRING))
            return -1;
        copy_field(fd.global, sizeof fd.global, g->str);
        copy_field(fd.message, sizeof fd.message, get_str(x, "message"));
        copy_field(fd.hint, sizeof fd.hint, get_str(x, "hint"));
        copy_field(fd.path, sizeof fd.path, get_str(x, "path"));
        if (pkli_scan_result_add(&f->res, &fd, SIZE_MAX) < 0)
            return -1;
    }
    /* max_severity counts dropped findings too: the record's is exact */
    if (max_sev < f->res.max_severity || (f->res.dropped == 0 &&
                                          max_sev != f->res.max_severity))
        return -1;
    f->res.max_severity = max_sev;
    return 0;
}

/* ---- the command ----------------------------------------------------------- */

static int cmd_merge(int argc, char **argv)
{
    int format = SCAN_FMT_JSON, fail_on = PKL_SEV_MEDIUM;
    const char *output = NULL;
    int only_operands = 0, status = PKL_EXIT_USAGE, nstdin = 0;
    merge m;
    memset(&m, 0, sizeof m);
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    size_t ninputs = 0;
    FILE *out = stdout;
    if (!inputs) {
        cli_errorf("report merge: out of memory");
        return PKL_EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_operands || a[0] != '-' || strcmp(a, "-") == 0) {
            nstdin += strcmp(a, "-") == 0;
            inputs[ninputs++] = a;
        } else if (strcmp(a, "--") == 0) {
            only_operands = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            report_usage(stdout);
            free(inputs);
            return PKL_EXIT_OK;
        } else if (cli_is_opt(a, "--format")) {
            const char *v = cli_opt_value(argc, argv, &i, "--format");
            format = scan_format_parse(v);
            if (format < 0) {
                cli_errorf("report merge: --format takes json, jsonl, sarif "
                           "or text");
                goto usage;
            }
        } else if (cli_is_opt(a, "--fail-on")) {
            const char *v = cli_opt_value(argc, argv, &i, "--fail-on");
            fail_on = scan_fail_on_parse(v);
            if (fail_on < 0) {
                cli_errorf("report merge: --fail-on takes critical, high, "
                           "medium, low, info or none");
                goto usage;
            }
        } else if (cli_is_opt(a, "--output")) {
            output = cli_opt_value(argc, argv, &i, "--output");
            if (!output || !*output)
                goto usage;
        } else {
            cli_errorf("report merge: unknown option '%s'", a);
            goto usage;
        }
    }
    if (ninputs == 0) {
        cli_errorf("report merge: no INPUT given");
        goto usage;
    }
    if (nstdin > 1) {
        cli_errorf("report merge: - (stdin) given more than once");
        goto usage;
    }
    for (size_t k = 0; k < ninputs; k++)
        if (read_input(&m, k, inputs[k]) < 0)
            goto out;

    qsort(m.rec, m.n, sizeof *m.rec, record_cmp);
    for (size_t k = 1; k < m.n; k++) {
        const record *a = &m.rec[k - 1], *b = &m.rec[k];
        if (a->input != b->input && strcmp(a->path, b->path) == 0) {
            cli_errorf("report merge: %s is in both %s and %s: shards that "
                       "overlap, or one input given twice", b->path,
                       inputs[a->input], inputs[b->input]);
            goto out;
        }
    }

    /* every record is checked before anything is written: a merge either
     * writes the whole report or nothing */
    for (size_t k = 0; k < m.n; k++) {
        scan_file f;
        int bad = to_scan_file(&m.rec[k], &f) < 0;
        pkl_scan_result_free(&f.res);
        if (bad) {
            cli_errorf("report merge: %s: %s: a file record without the "
                       "fields `scan --format json` writes",
                       inputs[m.rec[k].input], m.rec[k].path);
            goto out;
        }
    }

    if (output && !(out = fopen(output, "w"))) {
        cli_errorf("report merge: %s: %s", output, strerror(errno));
        goto out;
    }
    scan_writer w;
    scan_writer_begin(&w, out, format, m.policy);
    int worst = -1, errors = 0;
    for (size_t k = 0; k < m.n; k++) {
        scan_file f;
        if (to_scan_file(&m.rec[k], &f) < 0) { /* checked above */
            pkl_scan_result_free(&f.res);
            cli_errorf("report merge: out of memory");
            goto out;
        }
        if (f.verdict == SCAN_ERROR) {
            errors++;
            cli_errorf("%s: %s", f.path, f.error);
        } else if (f.res.max_severity > worst) {
            worst = f.res.max_severity;
        }
        scan_writer_file(&w, &f);
        pkl_scan_result_free(&f.res);
    }
    /* the totals the inputs vouch for (dropped findings included) */
    memcpy(w.by_severity, m.sum.by_severity, sizeof w.by_severity);
    w.dropped = m.sum.dropped;
    scan_writer_end(&w);
    if (fflush(out) != 0 || ferror(out)) {
        cli_errorf("report merge: writing the report failed");
        goto out;
    }
    status = errors ? PKL_EXIT_USAGE
           : worst >= fail_on ? PKL_EXIT_FINDINGS : PKL_EXIT_OK;
    goto out;
usage:
    report_usage(stderr);
out:
    if (out != stdout && fclose(out) != 0 && status != PKL_EXIT_USAGE) {
        cli_errorf("report merge: %s: %s", output, strerror(errno));
        status = PKL_EXIT_USAGE;
    }
    jv_arena_free(&m.arena);
    free(m.rec);
    free(inputs);
    return status;
}

int cmd_report(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "merge") == 0)
        return cmd_merge(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "--help") == 0)) {
        report_usage(stdout);
        return PKL_EXIT_OK;
    }
    cli_errorf("report: expected 'merge'");
    report_usage(stderr);
    return PKL_EXIT_USAGE;
}
