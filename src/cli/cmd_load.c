/* cmd_load.c -- `pickleguard load`: decode the pickle of a file under a
 * policy and write it as one pickle-json line. Like pickle.load, bytes
 * after the first pickle's STOP are left alone; --all decodes every
 * concatenated pickle, one line each.
 *
 * Exit 0 when every pickle loaded; 1 when one was refused, malformed or
 * over a limit (one line on stderr, and no partial document on stdout: the
 * documents before it are complete lines); 2 on usage or I/O errors.
 */
#define _GNU_SOURCE 1 /* fopencookie */
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

/* --with-source: the document is streamed into its envelope, never
 * rendered whole in memory (it used to be, through open_memstream: a
 * document of up to --max-json-bytes, 4 GiB by default, in RAM). The
 * envelope's head is written with the document's first bytes (so nothing
 * is written when pkl_json_write refuses the document before writing) and
 * the document's final newline becomes the envelope's "}\n". */
typedef struct envelope {
    const load_out *lo;
    size_t index;
    int started;
    int held_newline;   /* the last byte written was '\n': held back */
} envelope;

static ssize_t envelope_write(void *c, const char *buf, size_t n)
{
    envelope *e = c;
    if (n == 0)
        return 0;
    if (!e->started) {
        e->started = 1;
        fputs("{\"source\": ", stdout);
        scan_json_str(stdout, e->lo->member);
        printf(", \"pickle\": %zu, \"value\": ", e->index);
    }
    if (e->held_newline) {
        fputc('\n', stdout);
        e->held_newline = 0;
    }
    size_t w = n;
    if (buf[n - 1] == '\n') {
        w--;
        e->held_newline = 1;
    }
    if (w && fwrite(buf, 1, w, stdout) != w)
        return -1;
    return (ssize_t)n;
}

/* Sets *err (may be NULL) to code and msg; returns -1. */
static int envelope_error(pkl_error *err, pkl_code code, const char *msg)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->code = code;
        err->msg = msg;
    }
    return -1;
}

/* Writes one document (a line), in an envelope when asked. */
static int write_doc(const pkl_doc *doc, size_t max_json, load_out *lo,
                     size_t index, pkl_error *err)
{
    if (!lo->with_source)
        return pkl_json_write(doc, stdout, max_json, NULL, err);
    envelope e = {lo, index, 0, 0};
    cookie_io_functions_t io = {NULL, envelope_write, NULL, NULL};
    FILE *m = fopencookie(&e, "w", io);
    if (!m)
        return envelope_error(err, PKL_E_NOMEM, "out of memory");
    int rc = pkl_json_write(doc, m, max_json, NULL, err);
    if (fclose(m) != 0 && rc == 0)
        rc = envelope_error(err, PKL_E_IO, "cannot write the output");
    if (e.started)
        fputs("}\n", stdout);
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
        size_t used = 0, off = 0;
        pkl_error e;
        pkl_doc *doc;
        /* --all: pickle.load in a loop reads on after each STOP */
        while ((doc = pkl_decode(s->data + off, s->len - off, w->opt, &used,
                                 &e)) != NULL) {
            pkl_doc_free(doc);
            off += used;
            if (!w->lo->all || used == 0 || off >= s->len)
                return 0;
        }
        e.offset += off;
        if (pkl_error_class(e.code) == 2) {
            if (off)
                cli_errorf("%s: refused (the file read as a raw pickle, "
                           "the pickle starting at offset %zu): %s",
                           shown, off, e.detail);
            else
                cli_errorf("%s: refused (the file read as a raw pickle): %s",
                           shown, e.detail);
            w->rc = PKL_EXIT_FINDINGS;
            return 1;
        }
        if (e.code == PKL_E_FRAME) {
            /* an opcode or STOP across a frame's end: the unpicklers read
             * on from different places (pickle.py from the frame's end,
             * _pickle.c past the opcode or from the frame's end, by how it
             * read the frame: add_resume in src/scanner.c), which the
             * decoder does not follow */
            char msg[1200];
            cli_errorf("%s: refused (the file read as a raw pickle): %s; "
                       "CPython's unpicklers read on from different places",
                       shown, pkl_error_format(&e, msg, sizeof msg));
            w->rc = PKL_EXIT_FINDINGS;
            return 1;
        }
        if (pkl_error_class(e.code) == 1 &&
            view_differs_at(s->data + off, s->len - off, e.offset - off)) {
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
    if (e->code == PKL_E_FORMAT_UNSUPPORTED && path[0] == '\0' &&
        pkl_format_detect(w->data, w->len) == PKL_FMT_UNKNOWN) {
        /* no container and no pickle: the decoder says why (other
         * unsupported features -- a joblib side file, a wrapper the
         * follower cannot track -- refuse the file below) */
        w->lo->member = "";
        w->rc = load_buffer(w->data, w->len, w->shown, w->opt, w->lim, w->lo, 0);
    } else {
        cli_errorf("%s%s: %s", w->shown, path,
                   pkl_error_format(e, msg, sizeof msg));
        w->rc = e->code == PKL_E_NOMEM ? PKL_EXIT_USAGE : PKL_EXIT_FINDINGS;
    }
    return w->rc != PKL_EXIT_OK;
}

/* The command line of `load`. The limits' overrides are indexed by OV_*
 * in the order of ov_flag. */
enum { OV_DEPTH, OV_MEMO, OV_VALUES, OV_BYTES, OV_JSON, OV_OUTPUT, OV_TOTAL,
       OV_INPUT, OV_N };
static const char *const ov_flag[OV_N] = {
    "--max-depth", "--max-memo", "--max-values", "--max-bytes",
    "--max-json-bytes", "--max-output", "--max-total", "--max-input"};

typedef struct load_args {
    const char *policy_name;
    const char *path;
    const char *encoding, *errors;
    int sandbox;
    load_out lo;
    size_t ov[OV_N];
    int ov_set[OV_N];
} load_args;

/* What parsing the command line ends in. */
enum { ARGS_OK = 0, ARGS_HELP = 1, ARGS_USAGE = -1 };

/* One option at argv[*i] (its value may take the next word). */
static int parse_option(int argc, char **argv, int *i, load_args *o)
{
    const char *a = argv[*i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
        return ARGS_HELP;
    if (strcmp(a, "--all") == 0) {
        o->lo.all = 1;
    } else if (strcmp(a, "--no-sandbox") == 0) {
        o->sandbox = 0;
    } else if (strcmp(a, "--with-source") == 0) {
        o->lo.with_source = 1;
    } else if (cli_is_opt(a, "--encoding") || cli_is_opt(a, "--errors")) {
        int enc = cli_is_opt(a, "--encoding");
        const char *flag = enc ? "--encoding" : "--errors";
        const char *val = cli_opt_value(argc, argv, i, flag);
        if (!val || !*val) {
            cli_errorf("load: %s needs a value", flag);
            return ARGS_USAGE;
        }
        *(enc ? &o->encoding : &o->errors) = val;
    } else if (cli_is_opt(a, "--policy")) {
        o->policy_name = cli_opt_value(argc, argv, i, "--policy");
        if (!o->policy_name) {
            cli_errorf("load: --policy needs a value");
            return ARGS_USAGE;
        }
    } else {
        size_t k = 0;
        while (k < OV_N && !cli_is_opt(a, ov_flag[k]))
            k++;
        if (k == OV_N) {
            cli_errorf("load: unknown option '%s'", a);
            load_usage(stderr);
            return ARGS_USAGE;
        }
        if (cli_parse_size(cli_opt_value(argc, argv, i, ov_flag[k]), &o->ov[k]) < 0) {
            cli_errorf("load: %s needs a positive integer", ov_flag[k]);
            return ARGS_USAGE;
        }
        o->ov_set[k] = 1;
    }
    return ARGS_OK;
}

/* The whole command line: options and the one FILE (- is stdin). */
static int parse_args(int argc, char **argv, load_args *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] != '\0') {
            int r = parse_option(argc, argv, &i, o);
            if (r != ARGS_OK)
                return r;
            continue;
        }
        if (o->path) {
            cli_errorf("load: one FILE at a time");
            return ARGS_USAGE;
        }
        o->path = a;
    }
    if (!o->path) {
        load_usage(stderr);
        return ARGS_USAGE;
    }
    return ARGS_OK;
}

/* The policy's limits with the command line's overrides. */
static void load_limits(const load_args *o, const pkl_policy *policy,
                        pkl_limits *lim)
{
    pkl_policy_limits(policy, lim);
    if (o->ov_set[OV_DEPTH]) lim->max_depth = o->ov[OV_DEPTH];
    if (o->ov_set[OV_MEMO]) lim->max_memo = o->ov[OV_MEMO];
    if (o->ov_set[OV_VALUES]) lim->max_values = o->ov[OV_VALUES];
    if (o->ov_set[OV_BYTES]) lim->max_bytes = o->ov[OV_BYTES];
    if (o->ov_set[OV_JSON]) lim->max_json_bytes = o->ov[OV_JSON];
}

/* Why a file that loaded without error gave no document. Returns the
 * exit status: data alone is no error (numpy.load of a numeric .npy). */
static int no_document(const char *shown, const pkl_walk_stats *st)
{
    if (!st->data_only) {
        cli_error_name(shown, "no document: no pickle found in it");
        return PKL_EXIT_FINDINGS;
    }
    cli_error_name(shown, st->containers
        ? "no document: the container holds only data (numeric "
          "arrays, raw bytes), no pickle"
        : "no document: it holds only data (a numeric NumPy array "
          "or raw bytes), no pickle");
    return PKL_EXIT_OK;
}

/* Walks the input in and writes every pickle's document; the exit
 * status. */
static int load_input(load_args *o, pkl_policy *policy, const cli_input *in)
{
    const char *shown = strcmp(o->path, "-") == 0 ? "<stdin>" : o->path;
    pkl_limits lim;
    load_limits(o, policy, &lim);
    pkl_decode_options opt;
    memset(&opt, 0, sizeof opt);
    opt.policy = policy;
    opt.limits = &lim;
    opt.encoding = o->encoding;
    opt.errors = o->errors;

    load_walk lw = {in->data, in->len, shown, &opt, &lim, &o->lo, PKL_EXIT_OK};
    pkl_walk_options wo;
    memset(&wo, 0, sizeof wo);
    wo.fs_path = strcmp(o->path, "-") == 0 ? NULL : o->path;
    if (o->ov_set[OV_OUTPUT]) wo.max_output = o->ov[OV_OUTPUT];
    if (o->ov_set[OV_TOTAL]) wo.max_total = o->ov[OV_TOTAL];
    wo.on_stream = load_walk_stream;
    wo.on_problem = load_walk_problem;
    wo.ctx = &lw;
    pkl_error werr;
    pkl_walk_stats st;
    memset(&st, 0, sizeof st);
    if (pkl_walk_buffer(in->data, in->len, "", &wo, &st, &werr) < 0 &&
        lw.rc == PKL_EXIT_OK) {
        char msg[1200];
        cli_errorf("%s: %s", shown, pkl_error_format(&werr, msg, sizeof msg));
        lw.rc = PKL_EXIT_USAGE;
    }
    int rc = lw.rc;
    if (cli_input_changed(in)) {
        cli_errorf("%s: I/O error: the file shrank while it was being read "
                   "(truncated by another process); output above is void", shown);
        rc = PKL_EXIT_USAGE;
    } else if (rc == PKL_EXIT_OK && o->lo.docs == 0) {
        rc = no_document(shown, &st); /* every input yields documents or says why not */
    }
    if (fflush(stdout) != 0 && rc == PKL_EXIT_OK) {
        cli_errorf("%s: writing output failed", shown);
        rc = PKL_EXIT_USAGE;
    }
    return rc;
}

int cmd_load(int argc, char **argv)
{
    load_args o;
    memset(&o, 0, sizeof o);
    o.policy_name = "default";
    o.sandbox = 1;
    o.lo.member = "";
    int r = parse_args(argc, argv, &o);
    if (r == ARGS_HELP)
        load_usage(stdout);
    if (r != ARGS_OK)
        return r == ARGS_HELP ? PKL_EXIT_OK : PKL_EXIT_USAGE;

    pkl_policy *policy = cli_policy_open(o.policy_name);
    if (!policy)
        return PKL_EXIT_USAGE;
    cli_input in;
    if (cli_input_open(o.path, o.ov[OV_INPUT], &in) < 0) {
        pkl_policy_free(policy);
        return PKL_EXIT_USAGE;
    }
    int rc = PKL_EXIT_USAGE;
    if (!o.sandbox || cli_sandbox_enter(1) == 0)
        rc = load_input(&o, policy, &in);
    cli_input_close(&in);
    pkl_policy_free(policy);
    return rc;
}
