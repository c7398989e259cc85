/* cmd_load.c -- `pickleguard load`: decode the pickle of a file under a
 * policy and write it as one pickle-json line. Like pickle.load, bytes
 * after the first pickle's STOP are left alone; --all decodes every
 * concatenated pickle, one line each.
 *
 * Exit 0 when every pickle loaded; 1 when one was refused, malformed or
 * over a limit (one line on stderr, and no partial document on stdout: the
 * documents before it are complete lines); 2 on usage or I/O errors.
 */
#include "cli.h"
#include "scan_report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void load_usage(FILE *f)
{
    fputs("usage: pickleguard load [--policy NAME|FILE] [--max-depth N]\n"
          "         [--max-memo N] [--max-values N] [--max-bytes N]\n"
          "         [--max-json-bytes N] [--max-output N] [--max-total N]\n"
          "         [--with-source] [--max-input N] [--encoding ENC]\n"
          "         [--errors ERR] [--all] [--no-sandbox] FILE|-\n"
          "Decodes the pickle in FILE (and the pickles inside containers:\n"
          "torch zip, npz, joblib, compressed streams, shelves) and writes\n"
          "each as one pickle-json v1 line (docs/json.md). Like pickle.load,\n"
          "bytes after a pickle's STOP are ignored; --all decodes every\n"
          "concatenated pickle. - reads the data from stdin.\n"
          "options:\n"
          "  --policy NAME|FILE   built-in policy or YAML file (default: default;\n"
          "                       PyTorch/NumPy/joblib files: ml)\n"
          "  --with-source        wrap each line in an envelope naming where the\n"
          "                       pickle came from: {\"source\": MEMBER, \"pickle\":\n"
          "                       N, \"value\": DOC} (docs/json.md)\n"
          "  --max-depth N, --max-memo N, --max-values N, --max-bytes SIZE,\n"
          "  --max-json-bytes SIZE  decoder limits (override the policy's)\n"
          "  --max-output SIZE, --max-total SIZE  decompression limits per\n"
          "                       member / per file (default 64M / 1G)\n"
          "  --max-json-bytes SIZE  largest JSON document, measured before\n"
          "                       anything is written (default 4G)\n"
          "  --max-input SIZE     bytes read from a pipe, FIFO or device\n"
          "                       (default 1G; regular files are mapped)\n"
          "  --encoding ENC, --errors ERR  how Python 2 str is decoded, as\n"
          "                       pickle.load (ASCII|latin1|utf-8|bytes;\n"
          "                       strict|replace|ignore|surrogateescape|\n"
          "                       backslashreplace; default ASCII, strict)\n"
          "  --all                decode every concatenated pickle\n"
          "  --no-sandbox         do not enter the seccomp sandbox (debugging)\n"
          "exit status: 0 every pickle decoded (a file of data only, such as a\n"
          "  numeric .npy, has none: said on stderr); 1 a pickle refused,\n"
          "  malformed or over a limit;\n"
          "  2 usage error, unreadable file, a policy that cannot be loaded or\n"
          "  is invalid, a write error\n",
          f);
}

/* Where documents go: plain lines, or envelopes naming their source. */
typedef struct load_out {
    int with_source;
    int all;                 /* --all: every concatenated pickle */
    const char *member;      /* member path inside the file ("" at top) */
    size_t docs;             /* documents written so far */
} load_out;

/* Writes one document (a line), in an envelope when asked. */
static int write_doc(const pkl_doc *doc, size_t max_json, load_out *lo,
                     size_t index, pkl_error *err)
{
    if (!lo->with_source)
        return pkl_json_write(doc, stdout, max_json, NULL, err);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) {
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = PKL_E_NOMEM;
            err->msg = "out of memory";
        }
        return -1;
    }
    int rc = pkl_json_write(doc, m, max_json, NULL, err);
    if (fclose(m) != 0 && rc == 0) {
        rc = -1;
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = PKL_E_NOMEM;
            err->msg = "out of memory";
        }
    }
    if (rc == 0) {
        while (len > 0 && buf[len - 1] == '\n')
            len--;
        fputs("{\"source\": ", stdout);
        scan_json_str(stdout, lo->member);
        printf(", \"pickle\": %zu, \"value\": ", index);
        fwrite(buf, 1, len, stdout);
        fputs("}\n", stdout);
    }
    free(buf);
    return rc;
}

/* Decodes the pickles of data[0..len) (a file, or one stream found in a
 * container) and writes each as a line; `shown` names it in messages. The
 * first pickle only, as pickle.load reads it, unless --all or the stream
 * is a sequence its loader reads whole (`sequence`: legacy torch.save's
 * stacked pickles, PKL_STREAM_SEQUENCE). */
static int load_buffer(const uint8_t *data, size_t len, const char *shown,
                       const pkl_decode_options *popt, const pkl_limits *plim,
                       load_out *lo, int sequence)
{
    pkl_decode_options opt = *popt;
    pkl_limits lim = *plim;
    int rc = PKL_EXIT_OK;
    size_t off = 0;
    size_t count = 0;
    pkl_error err;
    do {
        size_t used = 0;
        pkl_doc *doc = pkl_decode(data + off, len - off, &opt, &used, &err);
        if (doc && write_doc(doc, lim.max_json_bytes, lo, count, &err) == 0) {
            pkl_doc_free(doc);
            off += used;
            count++;
            lo->docs++;
            if (!lo->all && !sequence)
                break; /* pickle.load: the rest is not read */
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
    } while (off < len);

    return rc;
}

/* ---- containers (docs/formats.md): the walker hands over each pickle
 * stream (torch's data.pkl, an object .npy body, joblib's pickle without
 * its array bytes, a shelf value...) with its inner path; each is loaded in
 * turn. A container problem (damaged archive, bomb...) is an error. */
typedef struct load_walk {
    const uint8_t *data;
    size_t len;
    const char *shown;
    const pkl_decode_options *opt;
    const pkl_limits *lim;
    load_out *lo;
    int rc;
} load_walk;

/* Whether the opcode at offset `at` of the raw view's first pickle is text
 * CPython's two unpicklers read differently (PKL_NOTE_DIFFERS), which the
 * decoder refuses: one of them reads on past it (`I-0_0\0`: _pickle.c's
 * load_int takes it, pickle.py's int() refuses the NUL), so the view does
 * not end there. Found by oracle_fuzz (corpus/regressions/oracle/
 * differs_before_npz.pkl). */
static int view_differs_at(const uint8_t *data, size_t len, size_t at)
{
    pkl_reader r;
    pkl_op op;
    int differs = 0;
    pkl_reader_init(&r, data, len, NULL);
    while (pkl_reader_next(&r, &op, NULL) == 1 && op.offset <= at) {
        if (op.offset == at) {
            differs = (op.note & PKL_NOTE_DIFFERS) != 0;
            break;
        }
        if (op.code == PKL_OP_STOP)
            break;
    }
    pkl_reader_free(&r);
    return differs;
}

static int load_walk_stream(void *ctx, const pkl_stream *s, pkl_error *err)
{
    load_walk *w = ctx;
    char shown[1200];
    (void)err;
    snprintf(shown, sizeof shown, "%s%s", w->shown, s->path);
    if (s->flags & PKL_STREAM_VIEW) {
        /* the file read as a raw pickle from byte 0 although it is also
         * something else (a container, joblib's layout): what pickle.load
         * would take from it is decoded under the policy but not printed
         * (the file's content comes from its other views). A refusal
         * refuses the file; an error only ends the view -- that unpickler
         * stops there, before anything the policy did not allow. */
        size_t used = 0;
        pkl_error e;
        pkl_doc *doc = pkl_decode(s->data, s->len, w->opt, &used, &e);
        if (doc) {
            pkl_doc_free(doc);
            return 0;
        }
        if (pkl_error_class(e.code) == 2) {
            cli_errorf("%s: refused (the file read as a raw pickle): %s",
                       shown, e.detail);
            w->rc = PKL_EXIT_FINDINGS;
            return 1;
        }
        if (pkl_error_class(e.code) == 1 &&
            view_differs_at(s->data, s->len, e.offset)) {
            char msg[1200];
            cli_errorf("%s: refused (the file read as a raw pickle): %s; "
                       "one of CPython's unpicklers reads on past it",
                       shown, pkl_error_format(&e, msg, sizeof msg));
            w->rc = PKL_EXIT_FINDINGS;
            return 1;
        }
        if (e.code == PKL_E_NOMEM) {
            cli_errorf("%s: out of memory", shown);
            w->rc = PKL_EXIT_USAGE;
            return 1;
        }
        return 0;
    }
    w->lo->member = s->path[0] == '!' ? s->path + 1 : s->path;
    w->rc = load_buffer(s->data, s->len, shown, w->opt, w->lim, w->lo,
                        (s->flags & PKL_STREAM_SEQUENCE) != 0);
    return w->rc != PKL_EXIT_OK;
}

static int load_walk_problem(void *ctx, const char *path, const pkl_error *e)
{
    load_walk *w = ctx;
    char msg[1200];
    if (e->code == PKL_E_FORMAT_UNSUPPORTED && path[0] == '\0') {
        /* no container and no pickle: the decoder says why */
        w->lo->member = "";
        w->rc = load_buffer(w->data, w->len, w->shown, w->opt, w->lim, w->lo, 0);
    } else {
        cli_errorf("%s%s: %s", w->shown, path,
                   pkl_error_format(e, msg, sizeof msg));
        w->rc = e->code == PKL_E_NOMEM ? PKL_EXIT_USAGE : PKL_EXIT_FINDINGS;
    }
    return w->rc != PKL_EXIT_OK;
}

int cmd_load(int argc, char **argv)
{
    const char *policy_name = "default";
    const char *path = NULL;
    load_out lo = {0, 0, "", 0};
    const char *encoding = NULL, *errors = NULL;
    int sandbox = 1;
    struct {
        const char *flag;
        size_t value;
        int set;
    } ov[] = {{"--max-depth", 0, 0}, {"--max-memo", 0, 0},
              {"--max-values", 0, 0}, {"--max-bytes", 0, 0},
              {"--max-json-bytes", 0, 0}, {"--max-output", 0, 0},
              {"--max-total", 0, 0}, {"--max-input", 0, 0}};
    const size_t nov = sizeof ov / sizeof ov[0];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            load_usage(stdout);
            return PKL_EXIT_OK;
        }
        if (strcmp(a, "--all") == 0) {
            lo.all = 1;
            continue;
        }
        if (strcmp(a, "--no-sandbox") == 0) {
            sandbox = 0;
            continue;
        }
        if (strcmp(a, "--encoding") == 0 || strncmp(a, "--encoding=", 11) == 0 ||
            strcmp(a, "--errors") == 0 || strncmp(a, "--errors=", 9) == 0) {
            int enc = a[3] == 'n';
            size_t fl = enc ? 10 : 8;
            const char *val = a[fl] == '=' ? a + fl + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val || !*val) {
                cli_errorf("load: %s needs a value", enc ? "--encoding" : "--errors");
                return PKL_EXIT_USAGE;
            }
            if (enc)
                encoding = val;
            else
                errors = val;
            continue;
        }
        if (strcmp(a, "--with-source") == 0) {
            lo.with_source = 1;
            continue;
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
            if (cli_parse_size(val, &ov[k].value) < 0) {
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
    if (cli_input_open(path, ov[7].value, &in) < 0) {
        pkl_policy_free(policy);
        return PKL_EXIT_USAGE;
    }
    if (sandbox && cli_sandbox_enter(1) < 0) {
        cli_input_close(&in);
        pkl_policy_free(policy);
        return PKL_EXIT_USAGE;
    }
    const char *shown = strcmp(path, "-") == 0 ? "<stdin>" : path;

    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = policy;
    opt.limits = &lim;
    opt.encoding = encoding;
    opt.errors = errors;

    load_walk lw = {in.data, in.len, shown, &opt, &lim, &lo, PKL_EXIT_OK};
    pkl_walk_options wo;
    memset(&wo, 0, sizeof wo);
    wo.fs_path = strcmp(path, "-") == 0 ? NULL : path;
    if (ov[5].set) wo.max_output = ov[5].value;
    if (ov[6].set) wo.max_total = ov[6].value;
    wo.on_stream = load_walk_stream;
    wo.on_problem = load_walk_problem;
    wo.ctx = &lw;
    pkl_error werr;
    pkl_walk_stats st;
    memset(&st, 0, sizeof st);
    if (pkl_walk_buffer(in.data, in.len, "", &wo, &st, &werr) < 0 &&
        lw.rc == PKL_EXIT_OK) {
        char msg[1200];
        cli_errorf("%s: %s", shown, pkl_error_format(&werr, msg, sizeof msg));
        lw.rc = PKL_EXIT_USAGE;
    }
    int rc = lw.rc;
    if (cli_input_changed(&in)) {
        cli_errorf("%s: I/O error: the file shrank while it was being read "
                   "(truncated by another process); output above is void", shown);
        rc = PKL_EXIT_USAGE;
    } else if (rc == PKL_EXIT_OK && lo.docs == 0) {
        /* every input yields documents or says why not */
        if (st.data_only) {
            /* not an error: the file is data, which loads without any
             * pickle (numpy.load of a numeric .npy) */
            cli_error_name(shown, st.containers
                ? "no document: the container holds only data (numeric "
                  "arrays, raw bytes), no pickle"
                : "no document: it holds only data (a numeric NumPy array "
                  "or raw bytes), no pickle");
        } else {
            cli_error_name(shown, "no document: no pickle found in it");
            rc = PKL_EXIT_FINDINGS;
        }
    }

    if (fflush(stdout) != 0 && rc == PKL_EXIT_OK) {
        cli_errorf("%s: writing output failed", shown);
        rc = PKL_EXIT_USAGE;
    }
    cli_input_close(&in);
    pkl_policy_free(policy);
    return rc;
}
