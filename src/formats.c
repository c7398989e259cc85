/* formats.c -- the container walker: finds every pickle a real loader
 * (pickle, torch.load, numpy.load, joblib.load, shelve) would unpickle in a
 * file, whatever it is called and however it is packed.
 *
 * Bytes in, streams of pickle bytes (with an inner path) and problems out,
 * through callbacks; the scanner and decoder never learn about containers.
 * Formats are told apart by content only. Nesting (zip in zip, gzip in zip)
 * is followed with an explicit work stack up to a depth limit; every
 * decompression is streamed under an output limit. It must never: skip a
 * member it could not read without reporting it, recurse over input,
 * allocate outside the pkl_allocator (sqlite/gdbm internals excepted, see
 * docs/formats.md), or print.
 */
#include "formats_internal.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_NESTING 8
#define DEFAULT_OUTPUT ((size_t)64 << 20)
#define DEFAULT_TOTAL ((size_t)1 << 30)
#define DEFAULT_MEMBERS 100000
#define PATH_MAX_LEN 4096

static const char *const format_names[PKL_FMT__COUNT] = {
    [PKL_FMT_UNKNOWN] = "unknown",
    [PKL_FMT_PICKLE] = "pickle",
    [PKL_FMT_TORCH_LEGACY] = "torch-legacy",
    [PKL_FMT_JOBLIB] = "joblib",
    [PKL_FMT_NPY] = "npy",
    [PKL_FMT_ZIP] = "zip",
    [PKL_FMT_GZIP] = "gzip",
    [PKL_FMT_BZIP2] = "bzip2",
    [PKL_FMT_XZ] = "xz",
    [PKL_FMT_LZMA] = "lzma",
    [PKL_FMT_ZLIB] = "zlib",
    [PKL_FMT_ZSTD] = "zstd",
    [PKL_FMT_DBM_DUMB] = "dbm.dumb",
    [PKL_FMT_DBM_SQLITE] = "dbm.sqlite3",
    [PKL_FMT_GDBM] = "gdbm",
    [PKL_FMT_BDB] = "dbm.ndbm (Berkeley DB)",
    [PKL_FMT_TAR] = "tar",
    [PKL_FMT_LZ4] = "lz4",
    [PKL_FMT_JOBLIB_ZF] = "joblib-zf",
};

const char *pkl_format_name(pkl_format fmt)
{
    if ((unsigned)fmt >= PKL_FMT__COUNT || !format_names[fmt])
        return "unknown";
    return format_names[fmt];
}

int pkli_fmt_put_name(pkli_buf *b, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '!')
            pkli_buf_putc(b, (char)c);
        else
            pkli_buf_printf(b, "\\x%02x", c);
    }
    return b->failed ? -1 : 0;
}

/* ---- detection ----------------------------------------------------------- */

/* Opcodes that can begin a pickle: they need nothing on the stack. */
static int can_start(unsigned code)
{
    switch (code) {
    case PKL_OP_PROTO: case PKL_OP_FRAME: case PKL_OP_MARK: case PKL_OP_NONE:
    case PKL_OP_NEWTRUE: case PKL_OP_NEWFALSE: case PKL_OP_INT:
    case PKL_OP_BININT: case PKL_OP_BININT1: case PKL_OP_BININT2:
    case PKL_OP_LONG: case PKL_OP_LONG1: case PKL_OP_LONG4:
    case PKL_OP_STRING: case PKL_OP_BINSTRING: case PKL_OP_SHORT_BINSTRING:
    case PKL_OP_UNICODE: case PKL_OP_BINUNICODE: case PKL_OP_SHORT_BINUNICODE:
    case PKL_OP_BINUNICODE8: case PKL_OP_BINBYTES: case PKL_OP_SHORT_BINBYTES:
    case PKL_OP_BINBYTES8: case PKL_OP_BYTEARRAY8: case PKL_OP_FLOAT:
    case PKL_OP_BINFLOAT: case PKL_OP_EMPTY_LIST: case PKL_OP_EMPTY_TUPLE:
    case PKL_OP_EMPTY_DICT: case PKL_OP_EMPTY_SET: case PKL_OP_GLOBAL:
    case PKL_OP_PERSID: case PKL_OP_EXT1: case PKL_OP_EXT2: case PKL_OP_EXT4:
    case PKL_OP_NEXT_BUFFER:
        return 1;
    default:
        return 0;
    }
}

/* First opcode parses and can start a pickle (lenient: top-level files). */
static int plausible_pickle(const uint8_t *buf, size_t len)
{
    pkl_reader r;
    pkl_op op;
    int ok = 0;
    pkl_reader_init(&r, buf, len, NULL);
    if (pkl_reader_next(&r, &op, NULL) == 1 && can_start(op.code))
        ok = 1;
    pkl_reader_free(&r);
    return ok;
}

/* Every opcode parses up to a STOP (strict: archive members, whose
 * contents are often raw data that merely begins with an opcode byte).
 * Returns 1 or 0, or -1 when memory ran out (*err says so): never a guess. */
static int complete_pickle(const uint8_t *buf, size_t len,
                           const pkl_allocator *a, pkl_error *err)
{
    pkl_reader r;
    pkl_op op;
    int ok = 0, first = 1;
    pkl_reader_init(&r, buf, len, a);
    for (;;) {
        if (pkl_reader_next(&r, &op, err) != 1) {
            if (err->code == PKL_E_NOMEM)
                ok = -1;
            break;
        }
        if (first && !can_start(op.code))
            break;
        first = 0;
        if (op.code == PKL_OP_STOP) {
            ok = 1;
            break;
        }
    }
    pkl_reader_free(&r);
    return ok;
}

/* The raw-pickle view (docs/formats.md, "Loader views"): pickle.load,
 * joblib.load (joblib/numpy_pickle.py load -> NumpyUnpickler on an
 * uncompressed file), numpy.load with allow_pickle (numpy/lib/_npyio_impl.py
 * load: neither the zip nor the .npy magic) and torch.load's legacy path
 * (torch/serialization.py _legacy_load: the magic number is compared only
 * after the first pickle.load returned) all read a file from byte 0 as a
 * pickle, whatever else it also is. That view can run something only if
 * the first pickle reaches an opcode that imports or calls before the
 * unpickler fails or the pickle ends. PERSID/BINPERSID end the view: at
 * byte 0 none of those loaders has a persistent_load (_pickle.c
 * load_persid raises UnpicklingError), which is also why a zip's 'PK'
 * start is inert. A program calling pickle.load in a loop reads on after
 * each STOP, so the view is live when any pickle of that sequence gets
 * there: the next starts just past STOP or, for a STOP inside a frame,
 * also at the frame's end (pickle.py reads frames whole; _pickle.c resumes
 * past STOP or at the frame's end depending on how it read the frame --
 * see add_resume in scanner.c); at most RAW_RESUME_MAX frame ends are
 * followed, more make the view live (it is then scanned, which follows
 * them or says it did not). Returns 1 when the view is live and must be
 * scanned, 0 when not, -1 when memory ran out (*err). */
#define RAW_RESUME_MAX 16
static int raw_view_live(const uint8_t *buf, size_t len, const pkl_allocator *a,
                         pkl_error *err)
{
    pkl_reader r;
    pkl_op op;
    int live = 0, rc = 0;
    size_t ends[RAW_RESUME_MAX], nends = 0, next = 0, at = 0;
    pkl_reader_init(&r, buf, len, a);
    for (;;) {
        /* one pickle.load from `at`: it fails, or ends with a STOP */
        pkl_reader_seek(&r, at);
        if ((rc = pkl_reader_next(&r, &op, err)) != 1 || !can_start(op.code))
            goto chain_end; /* an .npy's \x93 is STACK_GLOBAL on an empty
                               stack */
        pkl_reader_seek(&r, at);
        while ((rc = pkl_reader_next(&r, &op, err)) == 1) {
            if (op.info->flags & PKL_OPF_PERSID)
                goto chain_end;
            if (op.info->flags & (PKL_OPF_IMPORTS | PKL_OPF_CALLS |
                                  PKL_OPF_BUILDS | PKL_OPF_EXT)) {
                live = 1;
                goto out;
            }
            if (op.code == PKL_OP_STOP)
                break;
        }
        if (rc == 1 && op.end < len) {
            at = op.end; /* the next pickle.load */
            continue;
        }
        if (rc < 0 && err->code == PKL_E_FRAME && err->offset < len &&
            buf[err->offset] == PKL_OP_STOP && r.in_frame &&
            r.frame_end > err->offset) {
            /* a STOP inside a frame: on past it, and from the frame's
             * end */
            size_t k = 0;
            while (k < nends && ends[k] != r.frame_end)
                k++;
            if (k == nends && r.frame_end < len) {
                if (nends == RAW_RESUME_MAX) {
                    live = 1;
                    goto out;
                }
                ends[nends++] = r.frame_end;
            }
            if (err->offset + 1 < len) {
                at = err->offset + 1;
                continue;
            }
        }
    chain_end:
        if (rc < 0 && err->code == PKL_E_NOMEM)
            break;
        if (next == nends)
            break;
        at = ends[next++];
    }
out:
    if (!live && rc < 0 && err->code == PKL_E_NOMEM)
        live = -1; /* out of memory is no verdict: the caller reports it */
    pkl_reader_free(&r);
    return live;
}

/* An archive member that liblzma would take for .lzma is treated as one
 * only when its header is what an encoder writes (liblzma and Python: a
 * dictionary of at least 4 KiB, 2^n or 2^n + 2^(n-1) bytes; the size
 * known and below 2^48, or -1): raw tensor data starting with a zero byte
 * often passes liblzma's own checks, and no loader hands a member to
 * lzma.open. Whole files and decompressed payloads get liblzma's rule
 * (pkli_lzma_alone_sniff). */
static int lzma_member_plausible(const uint8_t *b, size_t len)
{
    if (len >= 4 && memcmp(b, "LZIP", 4) == 0)
        return 1; /* lzip has a real magic number */
    if (len < 13 || b[0] >= 225)
        return 0;
    uint32_t d = pkli_dec32le(b + 1);
    if (d < 4096)
        return 0;
    int okdict = (d & (d - 1)) == 0;
    for (int n = 12; n < 31 && !okdict; n++)
        if (d == ((uint32_t)1 << n) + ((uint32_t)1 << (n - 1)))
            okdict = 1;
    if (!okdict && d != 0xFFFFFFFFu)
        return 0;
    uint64_t usz = pkli_dec64le(b + 5);
    return usz == UINT64_MAX || usz < ((uint64_t)1 << 48);
}

static int zlib_sniff(const uint8_t *b, size_t len)
{
    /* CMF 0x78: deflate, 32K window (what zlib.compress and joblib write;
     * 'x' is no opcode, whereas smaller windows would make "(S" -- MARK,
     * STRING -- a zlib header); FCHECK makes CMF*256+FLG a multiple of 31;
     * no preset dictionary */
    return len >= 2 && b[0] == 0x78 && ((b[0] << 8) | b[1]) % 31 == 0 &&
           !(b[1] & 0x20);
}

/* zstd and LZ4 frames share skippable frames (magic 0x184D2A50..5F, a
 * 32-bit size, that many bytes: zstd_decompress.c and lz4frame.c skip
 * them, as compression.zstd.ZstdFile does through libzstd): the format is
 * that of the first real frame after them. Only skippable frames, or
 * more than can be stepped over cheaply: zstd, whose decoder reads (and
 * reports) the rest. */
static pkl_format skippable_next(const uint8_t *b, size_t len)
{
    size_t pos = 0;
    for (int n = 0; n < 4096 && len - pos >= 8 &&
                    (pkli_dec32le(b + pos) & 0xFFFFFFF0u) == 0x184D2A50u;
         n++) {
        uint32_t sz = pkli_dec32le(b + pos + 4);
        if (sz > len - pos - 8)
            return PKL_FMT_ZSTD;
        pos += 8 + (size_t)sz;
    }
    if (len - pos >= 4 && pkli_dec32le(b + pos) == 0x184D2204u)
        return PKL_FMT_LZ4;
    return PKL_FMT_ZSTD;
}

pkl_format pkl_format_detect(const void *vbuf, size_t len)
{
    const uint8_t *b = vbuf;
    if (!b || len == 0)
        return PKL_FMT_UNKNOWN;
    if (len >= 6 && memcmp(b, "\x93NUMPY", 6) == 0)
        return PKL_FMT_NPY;
    if (pkli_zip_sniff(b, len))
        return PKL_FMT_ZIP;
    if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return PKL_FMT_GZIP;
    if (len >= 4 && memcmp(b, "BZh", 3) == 0 && b[3] >= '1' && b[3] <= '9')
        return PKL_FMT_BZIP2;
    if (len >= 6 && memcmp(b, "\xfd" "7zXZ\x00", 6) == 0)
        return PKL_FMT_XZ;
    if (len >= 4 && pkli_dec32le(b) == 0xFD2FB528u)
        return PKL_FMT_ZSTD;
    if (len >= 4 && (pkli_dec32le(b) & 0xFFFFFFF0u) == 0x184D2A50u)
        return skippable_next(b, len);
    if (len >= 4 && pkli_dec32le(b) == 0x184D2204u) /* LZ4 frame */
        return PKL_FMT_LZ4;
    if (len >= 16 && memcmp(b, "SQLite format 3\0", 16) == 0)
        return PKL_FMT_DBM_SQLITE;
    if (pkli_gdbm_sniff(b, len))
        return PKL_FMT_GDBM;
    if (pkli_bdb_sniff(b, len))
        return PKL_FMT_BDB;
    if (pkli_tar_sniff(b, len))
        return PKL_FMT_TAR;
    if (len >= 2 && b[0] == 'Z' && b[1] == 'F')
        return PKL_FMT_JOBLIB_ZF; /* joblib checks it first; no opcode */
    if (zlib_sniff(b, len))
        return PKL_FMT_ZLIB;
    if (pkli_lzma_alone_sniff(b, len)) /* .lzma and .lz: what lzma.open takes */
        return PKL_FMT_LZMA;
    if (plausible_pickle(b, len))
        return PKL_FMT_PICKLE;
    if (pkli_dumb_dir_sniff(b, len))
        return PKL_FMT_DBM_DUMB;
    return PKL_FMT_UNKNOWN;
}

/* ---- the walk ------------------------------------------------------------ */

enum { FR_BUF, FR_ZIP, FR_TAR };
/* How a buffer is judged when it is no container. */
enum {
    M_TOP,     /* a file or decompressed payload: lenient pickle test,
                  anything else is a problem */
    M_MEMBER,  /* an archive member: strict pickle test, else plain data */
    M_FORCED,  /* a loader unpickles it: always a stream */
    M_TORCH_STORAGES, /* torch's legacy tar members: pickles between raw */
    M_TORCH_TENSORS   /* bytes (walk_torch_tar_member) */
};

typedef struct frame {
    int kind;
    int mode;
    const uint8_t *data;
    size_t len;
    uint8_t *owned;    /* freed with the frame */
    char *path;        /* owned */
    char *chain;       /* owned */
    size_t depth;      /* containers opened above this buffer */
    pkli_zip zip;
    pkli_tar tar;
    int done;          /* FR_ZIP / FR_TAR: no more members */
} frame;

typedef struct walk {
    pkl_allocator a;
    const pkl_walk_options *o;
    size_t max_nesting, max_output, max_total, max_members;
    pkl_walk_stats st;
    frame *stack;
    size_t n, cap;
    int stop;          /* a callback asked to stop, or out of memory */
    pkl_error *err;
} walk;

static char *dup_str(walk *w, const char *s)
{
    size_t n = strlen(s);
    char *d = pkli_malloc(&w->a, n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static void frame_free(walk *w, frame *f)
{
    pkli_free(&w->a, f->owned);
    pkli_free(&w->a, f->path);
    pkli_free(&w->a, f->chain);
    f->owned = NULL;
    f->path = f->chain = NULL;
}

static void nomem(walk *w, const char *what)
{
    if (!w->stop)
        pkli_error_setf(w->err, PKL_E_NOMEM, 0, -1, "%s", what);
    w->stop = 1;
}

static void problem(walk *w, const char *path, const pkl_error *e)
{
    if (w->stop)
        return;
    w->st.problems++;
    if (e->code == PKL_E_NOMEM) {
        *w->err = *e;
        w->stop = 1;
        return;
    }
    if (w->o->on_problem) {
        pkli_error_clear(w->err);
        if (w->o->on_problem(w->o->ctx, path, e) != 0) {
            if (!w->err || w->err->code == PKL_OK)
                pkli_error_setf(w->err, PKL_E_INTERNAL, e->offset, -1,
                                "the problem callback stopped the walk");
            w->stop = 1;
        }
    }
}

static void problemf(walk *w, const char *path, int code, size_t off,
                     const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
static void problemf(walk *w, const char *path, int code, size_t off,
                     const char *fmt, ...)
{
    pkl_error e;
    va_list ap;
    pkli_error_set(&e, code, off, -1);
    va_start(ap, fmt);
    vsnprintf(e.detail, sizeof e.detail, fmt, ap);
    va_end(ap);
    problem(w, path, &e);
}

static void emit(walk *w, const frame *f, const uint8_t *data, size_t len,
                 size_t offset, unsigned flags, int format, size_t npickles,
                 size_t data_len)
{
    if (w->stop)
        return;
    pkl_stream s;
    s.path = f->path;
    s.data = data;
    s.len = len;
    s.flags = flags;
    s.format = format;
    s.chain = f->chain;
    s.offset = offset;
    s.npickles = npickles;
    s.data_len = data_len;
    w->st.streams++;
    pkli_error_clear(w->err);
    if (w->o->on_stream && w->o->on_stream(w->o->ctx, &s, w->err) != 0) {
        if (!w->err || w->err->code == PKL_OK)
            pkli_error_setf(w->err, PKL_E_INTERNAL, 0, -1,
                            "the stream callback stopped the walk");
        w->stop = 1;
    }
}

static int push(walk *w, const frame *f)
{
    if (pkli_grow(&w->a, (void **)&w->stack, &w->cap, w->n + 1,
                  sizeof *w->stack) < 0)
        return -1;
    w->stack[w->n++] = *f;
    return 0;
}

/* parent path + '!' + name (escaped), bounded. */
static char *child_path(walk *w, const char *parent, const uint8_t *name,
                        size_t nlen)
{
    pkli_buf b;
    pkli_buf_init(&b, &w->a, 0);
    pkli_buf_puts(&b, parent);
    pkli_buf_putc(&b, '!');
    pkli_fmt_put_name(&b, name, nlen);
    if (!b.failed && b.len > PATH_MAX_LEN) {
        b.len = PATH_MAX_LEN - 3;
        pkli_buf_puts(&b, "...");
    }
    pkli_buf_putc(&b, '\0');
    if (b.failed) {
        pkli_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static char *chain_add(walk *w, const char *chain, const char *fmt)
{
    pkli_buf b;
    pkli_buf_init(&b, &w->a, 0);
    pkli_buf_puts(&b, chain);
    if (*chain)
        pkli_buf_putc(&b, '>');
    pkli_buf_puts(&b, fmt);
    pkli_buf_putc(&b, '\0');
    if (b.failed) {
        pkli_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* Decompressed bytes cut short by a problem (already reported) are walked
 * when they start a pickle or a container: pickle.load on a stream reads
 * and acts on them before it meets the problem. Anything else (a bomb's
 * zeros) adds nothing to the report. */
static int partial_worth_walking(const uint8_t *out, size_t outlen)
{
    return pkl_format_detect(out, outlen) != PKL_FMT_UNKNOWN;
}

static size_t output_budget(walk *w)
{
    size_t left = w->max_total > w->st.bytes_out ? w->max_total - w->st.bytes_out
                                                 : 0;
    return left < w->max_output ? left : w->max_output;
}

/* Decompresses f's data (format fmt) and pushes the payload as a new
 * top-like buffer. Returns the payload's length (SIZE_MAX: none pushed). */
static size_t open_compressed(walk *w, frame *f, int fmt, const uint8_t *in,
                              size_t inlen, int mode, const char *label)
{
    uint8_t *out = NULL;
    size_t outlen = 0;
    pkl_error e;
    size_t budget = output_budget(w);
    if (budget == 0) {
        problemf(w, f->path, PKL_E_LIMIT_OUTPUT, 0,
                 "%s: the walk already produced %zu bytes of decompressed "
                 "data (total limit)", label, w->st.bytes_out);
        return SIZE_MAX;
    }
    w->st.containers++;
    if (pkli_decompress(fmt, in, inlen, &w->a, budget, &out, &outlen, &e) < 0) {
        /* a .lzma or zlib header is only a plausibility test: when the
         * data does not decode and the bytes read as a pickle (']' is
         * EMPTY_LIST), they are a pickle. When it decodes for a while
         * before failing (an LZMA_Alone stream of unknown size cut
         * short), lzma.open and joblib (compressor.py: any file starting
         * `]\0` is LZMA_Alone to it) hand pickle.load the decoded part
         * first (Lib/_compression.py DecompressReader.read returns what
         * the decompressor gave before raising EOFError), so that part is
         * walked too, as for any cut-short stream below */
        int raw_pickle = e.code != PKL_E_LIMIT_OUTPUT &&
                         e.code != PKL_E_NOMEM && plausible_pickle(in, inlen);
        if (raw_pickle && (!out || !partial_worth_walking(out, outlen))) {
            pkli_free(&w->a, out);
            w->st.containers--;
            emit(w, f, in, inlen, 0, 0, PKL_FMT_PICKLE, 0, 0);
            return SIZE_MAX;
        }
        if (raw_pickle)
            emit(w, f, in, inlen, 0, 0, PKL_FMT_PICKLE, 0, 0);
        if (e.code == PKL_E_LIMIT_OUTPUT && budget < w->max_output)
            snprintf(e.detail, sizeof e.detail,
                     "%s: decompressed data exceeds what is left of the "
                     "%zu-byte total limit", label, w->max_total);
        problem(w, f->path, &e);
        /* the bytes decoded before the problem are walked too when they
         * start something (a pickle, a container) */
        if (!out || !partial_worth_walking(out, outlen)) {
            pkli_free(&w->a, out);
            return SIZE_MAX;
        }
    }
    w->st.bytes_out += outlen;
    frame c;
    memset(&c, 0, sizeof c);
    c.kind = FR_BUF;
    c.mode = mode;
    c.data = out;
    c.len = outlen;
    c.owned = out;
    c.depth = f->depth + 1;
    c.path = dup_str(w, f->path);
    c.chain = chain_add(w, f->chain, label);
    if (!c.path || !c.chain || push(w, &c) < 0) {
        frame_free(w, &c);
        nomem(w, "container walk");
        return SIZE_MAX;
    }
    return outlen;
}

/* ---- NumPy .npy ----------------------------------------------------------- */

/* Finds `'key':` in the header dict and returns a pointer after the colon
 * and spaces, or NULL. */
static const uint8_t *npy_field(const uint8_t *h, size_t n, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl + 2 < n; i++) {
        if ((h[i] == '\'' || h[i] == '"') && memcmp(h + i + 1, key, kl) == 0 &&
            h[i + 1 + kl] == h[i]) {
            size_t j = i + kl + 2;
            while (j < n && h[j] == ' ')
                j++;
            if (j < n && h[j] == ':') {
                j++;
                while (j < n && h[j] == ' ')
                    j++;
                return h + j;
            }
        }
    }
    return NULL;
}

/* Item size of a simple descr string like '<f8', '|b1', '<U10', '|S5'. */
static int npy_itemsize(const uint8_t *d, size_t n, uint64_t *size)
{
    if (n < 2)
        return -1;
    size_t i = 0;
    if (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')
        i = 1;
    char kind = (char)d[i++];
    uint64_t v = 0;
    if (i >= n)
        return -1;
    for (; i < n; i++) {
        if (d[i] == '[') /* datetime units: M8[ns] */
            break;
        if (d[i] < '0' || d[i] > '9' || v > UINT32_MAX)
            return -1;
        v = v * 10 + (d[i] - '0');
    }
    if (kind == 'U')
        v *= 4;
    if (!strchr("biufcmMSUV?", kind))
        return -1;
    *size = v;
    return 0;
}

/* One type string of a descr, as numpy.dtype(str) reads it: 1 when it
 * holds Python objects ('O', '|O', '<O8', 'object', 'object_'), 0 for the
 * plain types numpy writes or accepts by name, -1 for anything else (we
 * cannot say what numpy makes of it). */
static int npy_type_objects(const uint8_t *t, size_t n)
{
    static const char *const named[] = {
        "bool", "bool_", "int8", "int16", "int32", "int64", "uint8",
        "uint16", "uint32", "uint64", "float16", "float32", "float64",
        "float128", "complex64", "complex128", "complex256", "str", "bytes",
        "void", "int", "float", "complex", "longlong", "ulonglong", "byte",
        "ubyte", "short", "ushort", "intc", "uintc", "half", "single",
        "double", "longdouble", "csingle", "cdouble", "clongdouble",
        "str_", "bytes_", "intp", "uintp"};
    size_t i = 0;
    if (n && strchr("<>|=", t[0]))
        i = 1;
    if (i < n && t[i] == 'O') {
        size_t k = i + 1;
        while (k < n && t[k] >= '0' && t[k] <= '9')
            k++;
        return k == n ? 1 : -1;
    }
    if ((n - i == 6 && memcmp(t + i, "object", 6) == 0) ||
        (n - i == 7 && memcmp(t + i, "object_", 7) == 0))
        return 1;
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
        if (n - i == strlen(named[k]) && memcmp(t + i, named[k], n - i) == 0)
            return 0;
    /* one type letter, an optional size, datetime units: '<f8', '|b1',
     * '<U10', '|S5', '|V16', '<M8[ns]', '?' */
    if (i < n && strchr("?bBhHiIlLqQpPnNefdgFDGSUVaMmcu", t[i]) && t[i]) {
        size_t k = i + 1;
        while (k < n && t[k] >= '0' && t[k] <= '9')
            k++;
        if (k < n && t[k] == '[' && (t[i] == 'M' || t[i] == 'm')) {
            while (k < n && t[k] != ']')
                k++;
            k++;
        }
        return k == n ? 0 : -1;
    }
    return -1;
}

/* Whether an .npy header (h[0..n), the text numpy.lib.format reads with
 * ast.literal_eval in _read_array_header) names a dtype holding objects,
 * as descr_to_dtype builds it: 1 yes, 0 no, -1 not parsed exactly (a
 * medium finding, never clean). Tokens as Python reads them: strings in
 * either quote with backslash escapes, '#' comments to the end of the line
 * (literal_eval parses source), brackets. A key repeated in the dict: the
 * last one wins, as in a dict display. Type positions (descr_to_dtype):
 * descr itself; in a tuple in type position, item 0 (the (type, shape)
 * form); in a list of fields, item 1 of each field tuple (item 0 is the
 * name or a (title, name) pair, item 2 a shape). A dict or anything else
 * in a type position is -1. */
static int npy_descr_objects(const uint8_t *h, size_t n)
{
    enum { MAXD = 32 };
    uint8_t kind[MAXD], typepos[MAXD];
    size_t idx[MAXD];
    int depth = 0, expect_key = 0, in_descr = 0, result = -1, cur = 0;
    size_t key_at = 0, key_len = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = h[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c == '#') {
            while (i < n && h[i] != '\n')
                i++;
            continue;
        }
        if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < n && h[j] != c) {
                if (h[j] == '\\')
                    j++;
                j++;
            }
            if (j >= n)
                return -1;
            const uint8_t *t = h + i + 1;
            size_t tl = j - i - 1;
            if (depth == 1 && kind[0] == '{' && expect_key) {
                key_at = i + 1;
                key_len = tl;
            } else if (in_descr) {
                int tp = depth == 1 ? 1 : typepos[depth - 1];
                if (depth > 1 && kind[depth - 1] == '(' &&
                    typepos[depth - 1] == 2) /* field tuple */
                    tp = idx[depth - 1] == 1;
                else if (depth > 1 && kind[depth - 1] == '(' &&
                         typepos[depth - 1] == 1)
                    tp = idx[depth - 1] == 0;
                else if (depth > 1)
                    tp = 0;
                if (tp) {
                    if (memchr(t, '\\', tl))
                        return -1;
                    int o = npy_type_objects(t, tl);
                    if (o < 0)
                        cur = -1;
                    else if (o > 0 && cur >= 0)
                        cur = 1;
                }
            }
            i = j;
            continue;
        }
        if (c == '{' || c == '[' || c == '(') {
            if (depth >= MAXD)
                return -1;
            if (in_descr && depth > 1) {
                /* what may open here */
                uint8_t pk = kind[depth - 1];
                int field = pk == '(' && typepos[depth - 1] == 2;
                int ttuple = pk == '(' && typepos[depth - 1] == 1;
                int in_type = (field && idx[depth - 1] == 1) ||
                              (ttuple && idx[depth - 1] == 0);
                if (in_type && c == '{')
                    return -1;
                typepos[depth] = in_type ? (c == '[' ? 3 : 1)
                               : pk == '[' && typepos[depth - 1] == 3 ? 2 : 0;
            } else if (in_descr) {
                /* descr itself: a list of fields, a (type, shape) tuple */
                if (c == '{')
                    return -1;
                typepos[depth] = c == '[' ? 3 : 1;
            } else {
                typepos[depth] = 0;
            }
            kind[depth] = c;
            idx[depth] = 0;
            depth++;
            if (depth == 1)
                expect_key = c == '{';
            continue;
        }
        if (c == '}' || c == ']' || c == ')') {
            if (depth == 0)
                return -1;
            depth--;
            if (depth == 0)
                break;
            continue;
        }
        if (c == ':' && depth == 1) {
            expect_key = 0;
            if (key_len == 5 && memcmp(h + key_at, "descr", 5) == 0) {
                in_descr = 1;
                cur = 0;
            }
            continue;
        }
        if (c == ',') {
            if (depth == 1) {
                if (in_descr)
                    result = cur; /* a later 'descr' replaces it */
                in_descr = 0;
                expect_key = 1;
                key_len = 0;
            } else if (depth > 0) {
                idx[depth - 1]++;
            }
            continue;
        }
        /* numbers, True/False/None, L suffixes: values, skipped */
    }
    if (in_descr)
        result = cur;
    return result;
}

/* 1: an .npy whose body numpy.load would unpickle (object dtype); 0: a
 * data .npy; -1: cannot tell from these bytes. */
static int npy_holds_objects(const uint8_t *b, size_t len)
{
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return -1;
    size_t hlen = b[6] == 1 ? pkli_dec16le(b + 8)
                : (b[6] == 2 || b[6] == 3) && len >= 12 ? pkli_dec32le(b + 8)
                                                       : SIZE_MAX;
    size_t hstart = b[6] == 1 ? 10 : 12;
    if (hlen == SIZE_MAX || hlen > len - hstart)
        return -1;
    return npy_descr_objects(b + hstart, hlen);
}

static void walk_npy(walk *w, frame *f)
{
    const uint8_t *b = f->data;
    size_t len = f->len;
    if (len < 10) {
        problemf(w, f->path, PKL_E_TRUNCATED, len, "npy: header truncated");
        return;
    }
    unsigned major = b[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = pkli_dec16le(b + 8);
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) {
            problemf(w, f->path, PKL_E_TRUNCATED, len, "npy: header truncated");
            return;
        }
        hlen = pkli_dec32le(b + 8);
        hstart = 12;
    } else {
        problemf(w, f->path, PKL_E_FORMAT_UNSUPPORTED, 6,
                 "npy: format version %u.%u is not supported", major, b[7]);
        return;
    }
    if (hlen > len - hstart) {
        problemf(w, f->path, PKL_E_TRUNCATED, 8,
                 "npy: header declares %zu bytes, %zu remain", hlen,
                 len - hstart);
        return;
    }
    const uint8_t *h = b + hstart;
    size_t body = hstart + hlen;
    const uint8_t *descr = npy_field(h, hlen, "descr");
    const uint8_t *shape = npy_field(h, hlen, "shape");
    if (!descr || !shape || !npy_field(h, hlen, "fortran_order")) {
        problemf(w, f->path, PKL_E_FORMAT, hstart,
                 "npy: header lacks descr, fortran_order or shape");
        return;
    }
    size_t dleft = hlen - (size_t)(descr - h);
    int simple = 0;
    uint64_t item = 0;
    int hasobject = npy_descr_objects(h, hlen);
    if (hasobject < 0) {
        /* numpy may build an object dtype from it: fail closed, and scan
         * what numpy.load(allow_pickle=True) would then unpickle */
        problemf(w, f->path, PKL_E_FORMAT_UNSUPPORTED, hstart,
                 "npy: the header's descr is not one pickleguard reads "
                 "exactly; numpy may unpickle the body");
    } else if (!hasobject && dleft && (descr[0] == '\'' || descr[0] == '"') &&
               !npy_field(descr, dleft, "descr")) {
        /* one plain descr string (no later 'descr' key replacing it):
         * the body's size is checked against the shape */
        const uint8_t *q = memchr(descr + 1, descr[0], dleft - 1);
        if (q && npy_itemsize(descr + 1, (size_t)(q - descr - 1), &item) == 0)
            simple = 1;
    }
    if (hasobject != 0) {
        /* numpy.load(allow_pickle=True) unpickles the rest of the file */
        emit(w, f, b + body, len - body, body, PKL_STREAM_FORCED, PKL_FMT_NPY,
             0, 0);
        return;
    }
    w->st.data_only++;
    if (!simple)
        return;
    /* shape: (a, b, ...) */
    size_t sleft = hlen - (size_t)(shape - h);
    uint64_t count = 1;
    size_t i = 0;
    if (!sleft || shape[0] != '(') {
        problemf(w, f->path, PKL_E_FORMAT, hstart, "npy: shape is not a tuple");
        return;
    }
    for (i = 1; i < sleft && shape[i] != ')'; i++) {
        if (shape[i] >= '0' && shape[i] <= '9') {
            uint64_t v = 0;
            while (i < sleft && shape[i] >= '0' && shape[i] <= '9') {
                if (v > UINT32_MAX * (uint64_t)1000) {
                    v = UINT64_MAX;
                    break;
                }
                v = v * 10 + (uint64_t)(shape[i] - '0');
                i++;
            }
            if (v && count > UINT64_MAX / v)
                count = UINT64_MAX;
            else
                count *= v;
            i--;
        }
    }
    if (i >= sleft) {
        problemf(w, f->path, PKL_E_FORMAT, hstart, "npy: shape unterminated");
        return;
    }
    if (item && count > UINT64_MAX / item) {
        problemf(w, f->path, PKL_E_BAD_LENGTH, hstart,
                 "npy: array size overflows");
        return;
    }
    if (count * item > (uint64_t)(len - body))
        problemf(w, f->path, PKL_E_TRUNCATED, body,
                 "npy: shape and dtype need %llu data bytes, %zu remain",
                 (unsigned long long)(count * item), len - body);
}

/* ---- legacy torch.save ---------------------------------------------------- */

static const uint8_t torch_magic[10] = { 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                         0x20, 0x6a, 0xa8, 0x50, 0x19 };

/* Is the first pickle torch's magic number (0x1950a86a20f9469cfc6c)? */
static int torch_legacy_sniff(const uint8_t *b, size_t len)
{
    pkl_reader r;
    pkl_op op;
    int state = 0;
    pkl_reader_init(&r, b, len, NULL);
    while (state < 3 && pkl_reader_next(&r, &op, NULL) == 1) {
        /* torch.save(..., pickle_protocol=4) frames the magic number */
        if ((op.code == PKL_OP_PROTO || op.code == PKL_OP_FRAME) && state == 0)
            continue;
        if (state == 0 && op.code == PKL_OP_LONG1 && op.type == PKL_A_BIGINT &&
            op.len == 10 && memcmp(op.data, torch_magic, 10) == 0) {
            state = 1;
            continue;
        }
        if (state == 1 && op.code == PKL_OP_STOP)
            state = 3;
        break;
    }
    pkl_reader_free(&r);
    return state == 3;
}

static int storage_elsize(const uint8_t *name, size_t n)
{
    static const struct { const char *name; int size; } t[] = {
        { "DoubleStorage", 8 }, { "FloatStorage", 4 }, { "HalfStorage", 2 },
        { "BFloat16Storage", 2 }, { "LongStorage", 8 }, { "IntStorage", 4 },
        { "ShortStorage", 2 }, { "CharStorage", 1 }, { "ByteStorage", 1 },
        { "BoolStorage", 1 }, { "ComplexDoubleStorage", 16 },
        { "ComplexFloatStorage", 8 }, { "QUInt8Storage", 1 },
        { "QInt8Storage", 1 }, { "QInt32Storage", 4 },
        { "QUInt4x2Storage", 1 }, { "QUInt2x4Storage", 1 },
        { "UntypedStorage", 1 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strlen(t[i].name) == n && memcmp(t[i].name, name, n) == 0)
            return t[i].size;
    return 0;
}

/* key -> element size, learnt from the object pickle's persistent ids. */
typedef struct skey {
    const uint8_t *key;
    size_t len;
    int elsize;
} skey;

static int skey_find(const skey *k, size_t n, const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (k[i].len == len && memcmp(k[i].key, s, len) == 0)
            return (int)i;
    return -1;
}

static int is_text(const pkl_op *op)
{
    return op->type == PKL_A_STR &&
           (op->code == PKL_OP_BINUNICODE || op->code == PKL_OP_SHORT_BINUNICODE ||
            op->code == PKL_OP_BINUNICODE8);
}

/* Checks that the bytes after the five pickles are exactly the storages
 * the keys pickle lists: per key an int64 element count and count *
 * element-size bytes. Returns the offset where accounted data ends (== len
 * when all is accounted), or SIZE_MAX when it cannot be told. */
static size_t legacy_storage_end(walk *w, const uint8_t *b, size_t len,
                                 size_t obj_start, size_t keys_start,
                                 size_t data_start, const char **why)
{
    pkl_reader r;
    pkl_op op;
    skey *map = NULL;
    size_t nmap = 0, cap = 0, result = SIZE_MAX;
    /* element size remembered per memo index: BINPUT, LONG_BINPUT (more
     * than 256 entries) and MEMOIZE (protocol 4: the next index) */
    uint8_t *memo_size = NULL;
    size_t memo_cap = 0, memo_next = 0;
    const uint8_t *last_text[2] = { NULL, NULL };
    size_t last_len[2] = { 0, 0 };
    int cur = 0; /* element size of the storage type just seen */
    *why = "the object pickle names no storage types";
    pkl_reader_init(&r, b, keys_start, &w->a);
    pkl_reader_seek(&r, obj_start);
    while (pkl_reader_next(&r, &op, NULL) == 1) {
        int put = op.code == PKL_OP_BINPUT || op.code == PKL_OP_LONG_BINPUT ||
                  op.code == PKL_OP_MEMOIZE;
        if (put) {
            size_t idx = op.code == PKL_OP_MEMOIZE ? memo_next
                         : op.i >= 0 ? (size_t)op.i : SIZE_MAX;
            if (idx < ((size_t)1 << 24)) {
                if (idx >= memo_cap) {
                    size_t old = memo_cap;
                    if (pkli_grow(&w->a, (void **)&memo_size, &memo_cap,
                                  idx + 1, 1) < 0) {
                        nomem(w, "legacy torch memo");
                        goto out;
                    }
                    memset(memo_size + old, 0, memo_cap - old);
                }
                memo_size[idx] = (uint8_t)cur;
                memo_next = idx + 1 > memo_next ? idx + 1 : memo_next;
            }
            continue; /* memo puts sit between a type and its key */
        }
        if (op.code == PKL_OP_GLOBAL && op.len == 5 &&
            memcmp(op.data, "torch", 5) == 0) {
            cur = storage_elsize(op.data2, op.len2);
        } else if (op.code == PKL_OP_STACK_GLOBAL && last_text[0] &&
                   last_len[0] == 5 && memcmp(last_text[0], "torch", 5) == 0) {
            /* protocol 4: 'torch', 'FloatStorage', STACK_GLOBAL */
            cur = storage_elsize(last_text[1], last_len[1]);
        } else if ((op.code == PKL_OP_BINGET || op.code == PKL_OP_LONG_BINGET) &&
                   op.i >= 0 && (size_t)op.i < memo_cap && memo_size[op.i]) {
            cur = memo_size[op.i];
        } else if (cur && is_text(&op)) {
            if (skey_find(map, nmap, op.data, op.len) < 0) {
                if (pkli_grow(&w->a, (void **)&map, &cap, nmap + 1,
                              sizeof *map) < 0) {
                    nomem(w, "legacy torch keys");
                    goto out;
                }
                map[nmap].key = op.data;
                map[nmap].len = op.len;
                map[nmap].elsize = cur;
                nmap++;
            }
            cur = 0;
        } else {
            /* the key string follows the type directly */
            cur = 0;
        }
        if (is_text(&op)) {
            last_text[0] = last_text[1];
            last_len[0] = last_len[1];
            last_text[1] = op.data;
            last_len[1] = op.len;
        } else if (op.code != PKL_OP_STACK_GLOBAL) {
            last_text[0] = last_text[1] = NULL;
        }
        if (op.code == PKL_OP_STOP)
            break;
    }
    pkl_reader_free(&r);
    /* walk the keys list in order */
    pkl_reader_init(&r, b, data_start, &w->a);
    pkl_reader_seek(&r, keys_start);
    size_t pos = data_start;
    while (pkl_reader_next(&r, &op, NULL) == 1) {
        if (op.code == PKL_OP_STOP)
            break;
        if (!is_text(&op))
            continue;
        int k = skey_find(map, nmap, op.data, op.len);
        if (k < 0) {
            *why = "a storage key is not named by the object pickle";
            goto out;
        }
        if (len - pos < 8) {
            *why = "storage data is truncated";
            result = pos;
            goto out;
        }
        uint64_t numel = pkli_dec64le(b + pos);
        pos += 8;
        uint64_t el = (uint64_t)map[k].elsize;
        if (numel > (uint64_t)(len - pos) / el) {
            *why = "storage data is truncated";
            result = pos - 8;
            goto out;
        }
        pos += (size_t)(numel * el);
    }
    result = pos;
    *why = NULL;
out:
    pkl_reader_free(&r);
    pkli_free(&w->a, map);
    pkli_free(&w->a, memo_size);
    return result;
}

static void walk_torch_legacy(walk *w, frame *f)
{
    const uint8_t *b = f->data;
    size_t len = f->len;
    size_t starts[6];
    pkl_reader r;
    pkl_op op;
    pkl_error e;
    size_t n = 0;
    starts[0] = 0;
    pkl_reader_init(&r, b, len, &w->a);
    while (n < 5) {
        int rc = pkl_reader_next(&r, &op, &e);
        if (rc != 1)
            break;
        if (op.code == PKL_OP_STOP)
            starts[++n] = op.end;
    }
    pkl_reader_free(&r);
    if (n < 5) {
        /* the scanner reports where it breaks */
        emit(w, f, b, len, 0, PKL_STREAM_FORCED, PKL_FMT_TORCH_LEGACY, 0, 0);
        return;
    }
    size_t end = starts[5];
    emit(w, f, b, end, 0, PKL_STREAM_SEQUENCE |
                              (end < len ? PKL_STREAM_DATA_FOLLOWS : 0),
         PKL_FMT_TORCH_LEGACY, 5, len - end);
    if (w->stop)
        return;
    const char *why = NULL;
    size_t acc = legacy_storage_end(w, b, len, starts[3], starts[4], end, &why);
    if (w->stop || acc == len)
        return;
    if (acc == SIZE_MAX) {
        problemf(w, f->path, PKL_E_FORMAT_UNSUPPORTED, end,
                 "legacy torch: cannot account for the %zu bytes of storage "
                 "data: %s", len - end, why);
        return;
    }
    if (why) {
        problemf(w, f->path, PKL_E_TRUNCATED, acc, "legacy torch: %s", why);
        return;
    }
    /* bytes no storage accounts for: torch ignores them, other loaders
     * might not; say so and scan them */
    problemf(w, f->path, PKL_E_TRAILING, acc,
             "legacy torch: %zu bytes after the last storage", len - acc);
    if (!w->stop && plausible_pickle(b + acc, len - acc))
        emit(w, f, b + acc, len - acc, acc, 0, PKL_FMT_PICKLE, 0, 0);
}

/* ---- joblib -------------------------------------------------------------- */

/* The side files joblib's pre-0.10 wrappers read (formats_joblib.c
 * op_build): a loader reads another file, named by this one, which this
 * walk cannot see -- always a problem naming it, whose text says when the
 * name leaves the pickle's directory. */
static void report_sides(walk *w, frame *f, const pkli_joblib *j)
{
    for (size_t i = 0; i < j->nsides && !w->stop; i++) {
        const pkli_joblib_side *sd = &j->sides[i];
        const char *how = sd->zfile ? "with read_zfile"
                                    : "with numpy.load(allow_pickle=True), "
                                      "which may unpickle it";
        const char *cls = sd->zfile ? "ZNDArrayWrapper" : "NDArrayWrapper";
        if (!sd->known) {
            problemf(w, f->path, PKL_E_FORMAT_UNSUPPORTED, sd->offset,
                     "joblib: %s makes joblib.load read a side file %s; its "
                     "name cannot be determined (not a str of at most 64 "
                     "bytes): it may be anywhere", cls, how);
            continue;
        }
        pkli_buf b;
        pkli_buf_init(&b, &w->a, 0);
        pkli_fmt_put_name(&b, (const uint8_t *)sd->name, sd->namelen);
        pkli_buf_putc(&b, '\0');
        if (b.failed) {
            pkli_buf_free(&b);
            nomem(w, "path");
            return;
        }
        problemf(w, f->path, PKL_E_FORMAT_UNSUPPORTED, sd->offset,
                 "joblib: %s makes joblib.load read the side file '%s' %s, "
                 "%s", cls, b.data, how,
                 sd->outside ? "OUTSIDE the pickle's directory (an absolute "
                               "name or '..': os.path.join keeps it)"
                             : "next to the pickle: scan that directory too");
        pkli_buf_free(&b);
    }
}

static void walk_joblib(walk *w, frame *f)
{
    pkli_joblib j;
    pkl_error e;
    memset(&j, 0, sizeof j);
    int split = pkli_joblib_split(f->data, f->len, &w->a, &j, &e);
    if (!(split < 0 && e.code == PKL_E_NOMEM))
        report_sides(w, f, &j);
    if (j.unsafe)
        problemf(w, f->path, PKL_E_FORMAT_UNSUPPORTED, j.unsafe_at,
                 "joblib: %zu NumpyArrayWrapper(s) whose dtype state sets "
                 "object flags the type does not have, or clears those it "
                 "has: joblib.load then reads object pointers from the raw "
                 "bytes or counts references through plain ones (memory "
                 "corruption; numpy crashes on it)", j.unsafe);
    if (split > 0) { /* joblib.load fails part-way, or we cannot follow
                        * it further: its reading up to there */
        char why[sizeof e.detail];
        memcpy(why, e.detail, sizeof why);
        if (e.code == PKL_E_FORMAT_UNSUPPORTED)
            snprintf(e.detail, sizeof e.detail, "%.400s (after %zu array(s); "
                     "from the last one on, the bytes are scanned as they "
                     "stand)", why, j.arrays);
        else
            snprintf(e.detail, sizeof e.detail, "joblib.load stops here after "
                     "reading %zu array(s): %.400s", j.arrays, why);
        problem(w, f->path, &e);
    }
    if (split < 0) {
        pkli_joblib_free(&j, &w->a);
        if (e.code == PKL_E_NOMEM) {
            nomem(w, "joblib");
            return;
        }
        /* joblib.load would fail or do something we cannot follow: say
         * so, then scan everything */
        problem(w, f->path, &e);
        /* scan everything: the scanner reports what breaks */
        emit(w, f, f->data, f->len, 0, 0, PKL_FMT_PICKLE, 0, 0);
        return;
    }
    if (j.arrays == 0) {
        pkli_joblib_free(&j, &w->a);
        emit(w, f, f->data, f->len, 0, 0, PKL_FMT_PICKLE, 0, 0);
        return;
    }
    /* splice the main stream together, without the array bytes */
    size_t total = 0, end = 0;
    for (size_t i = 0; i < j.nparts; i++) {
        if (j.parts[i].is_pickle == 1)
            total += j.parts[i].len;
        end = j.parts[i].offset + j.parts[i].len;
    }
    uint8_t *cat = pkli_malloc(&w->a, total);
    if (!cat) {
        pkli_joblib_free(&j, &w->a);
        nomem(w, "joblib splice");
        return;
    }
    size_t at = 0;
    for (size_t i = 0; i < j.nparts; i++) {
        if (j.parts[i].is_pickle == 1) {
            memcpy(cat + at, f->data + j.parts[i].offset, j.parts[i].len);
            at += j.parts[i].len;
        }
    }
    emit(w, f, cat, total, 0, PKL_STREAM_SPLICED, PKL_FMT_JOBLIB, 0, 0);
    pkli_free(&w->a, cat);
    /* object arrays: whole pickles joblib unpickles with pickle.load */
    for (size_t i = 0; i < j.nparts && !w->stop; i++) {
        if (j.parts[i].is_pickle != 2)
            continue;
        char label[48];
        snprintf(label, sizeof label, "object-array@%zu", j.parts[i].offset);
        char *p = child_path(w, f->path, (const uint8_t *)label, strlen(label));
        if (!p) {
            nomem(w, "path");
            break;
        }
        frame tmp = *f;
        tmp.path = p;
        emit(w, &tmp, f->data + j.parts[i].offset, j.parts[i].len,
             j.parts[i].offset, PKL_STREAM_FORCED, PKL_FMT_JOBLIB, 0, 0);
        pkli_free(&w->a, p);
    }
    pkli_joblib_free(&j, &w->a);
    /* what follows the pickle: joblib.load ignores it; scan it */
    if (!w->stop && end < f->len) {
        problemf(w, f->path, PKL_E_TRAILING, end,
                 "joblib: %zu bytes after the pickle", f->len - end);
        if (!w->stop && plausible_pickle(f->data + end, f->len - end))
            emit(w, f, f->data + end, f->len - end, end, 0, PKL_FMT_PICKLE, 0, 0);
    }
}

/* ---- joblib < 0.10: ZF files ----------------------------------------------
 * joblib.load sends a file starting with "ZF" to load_compatibility
 * (joblib/numpy_pickle_utils.py _detect_compressor, checked before every
 * other prefix); numpy_pickle_compat.py read_zfile then reads 19 bytes
 * after the prefix as the length, int(length, 16), skips one more byte if
 * it is a space, and zlib.decompress(rest, 15, length) -- one zlib stream,
 * what follows it ignored -- asserting that exactly `length` bytes came
 * out. ZipNumpyUnpickler (pickle._Unpickler) unpickles that payload, with
 * NDArrayWrapper side files: the payload is walked as a file. */
#define ZF_PREFIX 2
#define ZF_MAXLEN 19 /* len(hex(2**64)) */

static int zf_space(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* int(t, 16) as Objects/longobject.c PyLong_FromString reads bytes: ASCII
 * whitespace around, a sign, an optional 0x/0X (then one optional '_'),
 * hex digits with single underscores between them. Returns 0 with *v,
 * 1 when the value is negative or over 2^64 (zlib.decompress refuses or
 * cannot allocate that), -1 when int() raises ValueError. */
static int zf_length(const uint8_t *t, size_t n, uint64_t *v)
{
    size_t i = 0, e = n;
    int neg = 0, big = 0, digits = 0;
    *v = 0;
    while (i < e && zf_space(t[i]))
        i++;
    while (e > i && zf_space(t[e - 1]))
        e--;
    if (i < e && (t[i] == '+' || t[i] == '-'))
        neg = t[i++] == '-';
    if (e - i >= 2 && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'X')) {
        i += 2;
        if (i < e && t[i] == '_')
            i++;
    }
    for (; i < e; i++) {
        uint8_t c = t[i];
        if (c == '_') {
            if (!digits || i + 1 >= e || t[i + 1] == '_')
                return -1;
            continue;
        }
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        if (*v >> 60)
            big = 1;
        *v = (*v << 4) | (uint64_t)d;
        digits++;
    }
    if (!digits)
        return -1;
    return (neg && *v) || big ? 1 : 0;
}

static void walk_zf(walk *w, frame *f)
{
    const uint8_t *b = f->data;
    size_t len = f->len, hdr = ZF_PREFIX + ZF_MAXLEN;
    if (len < hdr) {
        problemf(w, f->path, PKL_E_TRUNCATED, len, "joblib ZF: the %d-byte "
                 "header is cut short (%zu bytes)", (int)hdr, len);
        return;
    }
    uint64_t want = 0;
    int lr = zf_length(b + ZF_PREFIX, ZF_MAXLEN, &want);
    if (lr != 0)
        problemf(w, f->path, PKL_E_FORMAT, ZF_PREFIX, "joblib ZF: the length "
                 "field %s: joblib.load fails before unpickling; the payload "
                 "is scanned anyway", lr < 0 ? "is not what int(x, 16) reads"
                                             : "is negative or over 2^64");
    size_t start = len > hdr && b[hdr] == ' ' ? hdr + 1 : hdr;
    size_t got = open_compressed(w, f, PKL_FMT_ZLIB, b + start, len - start,
                                 M_TOP, "joblib-zf");
    if (lr == 0 && got != SIZE_MAX && (uint64_t)got != want)
        problemf(w, f->path, PKL_E_FORMAT, ZF_PREFIX, "joblib ZF: the header "
                 "says %llu bytes, the zlib data holds %zu: read_zfile's "
                 "assert fails (unless python -O); the payload is scanned "
                 "anyway", (unsigned long long)want, got);
}

/* ---- shelves ------------------------------------------------------------- */

typedef struct shelf_ctx {
    walk *w;
    frame *f;
} shelf_ctx;

static int shelf_value(void *vctx, const char *key, const uint8_t *v, size_t n)
{
    shelf_ctx *c = vctx;
    walk *w = c->w;
    pkli_buf b;
    pkli_buf_init(&b, &w->a, 0);
    pkli_buf_puts(&b, c->f->path);
    pkli_buf_puts(&b, "!key:");
    pkli_buf_puts(&b, key);
    pkli_buf_putc(&b, '\0');
    if (b.failed) {
        pkli_buf_free(&b);
        nomem(w, "shelf path");
        return 1;
    }
    frame tmp = *c->f;
    tmp.path = b.data;
    /* shelve unpickles every value, whatever it looks like */
    emit(w, &tmp, v, n, 0, PKL_STREAM_FORCED, PKL_FMT_PICKLE, 0, 0);
    pkli_buf_free(&b);
    return w->stop;
}

static int shelf_problem(void *vctx, const pkl_error *e)
{
    shelf_ctx *c = vctx;
    problem(c->w, c->f->path, e);
    return c->w->stop;
}

/* Maps a sibling file read-only. */
static int map_file(const char *path, const uint8_t **data, size_t *len,
                    void **map)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    *map = NULL;
    *len = 0;
    *data = (const uint8_t *)"";
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            return -1;
        }
        *map = m;
        *data = m;
        *len = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

/* fs_path with its ".dat"/".dir" suffix swapped for `want`, or NULL. */
static char *sibling(walk *w, const char *fs, const char *have,
                     const char *want)
{
    size_t n = strlen(fs);
    if (n < 4 || strcmp(fs + n - 4, have) != 0)
        return NULL;
    char *s = pkli_malloc(&w->a, n + 1);
    if (!s)
        return NULL;
    memcpy(s, fs, n - 4);
    memcpy(s + n - 4, want, 5);
    return s;
}

/* dbm.dumb: the top buffer is the .dir (is_dir) or the .dat. Returns 1 when
 * handled as a shelf, 0 when there is no valid pair. */
static int walk_dumb(walk *w, frame *f, int is_dir)
{
    const char *fs = w->o->fs_path;
    if (f->depth != 0 || !fs)
        return 0;
    char *other = sibling(w, fs, is_dir ? ".dir" : ".dat",
                          is_dir ? ".dat" : ".dir");
    /* x.bak: dbm.dumb's copy of the previous x.dir (_commit renames the
     * old index there; Lib/dbm/dumb.py never reads it back). It indexes
     * the same x.dat, so it is read as an index of that pair. */
    if (!other && is_dir)
        other = sibling(w, fs, ".bak", ".dat");
    if (!other)
        return 0;
    const uint8_t *od;
    size_t olen;
    void *map;
    int handled = 0;
    if (map_file(other, &od, &olen, &map) == 0) {
        const uint8_t *dir = is_dir ? f->data : od;
        size_t dirlen = is_dir ? f->len : olen;
        if (pkli_dumb_dir_sniff(dir, dirlen)) {
            shelf_ctx c = { w, f };
            pkl_error e;
            w->st.containers++;
            handled = 1;
            if (pkli_dumb_walk(dir, dirlen, is_dir ? od : f->data,
                               is_dir ? olen : f->len, w->max_members, &w->a,
                               shelf_value, shelf_problem, &c, &e) < 0 &&
                e.code == PKL_E_NOMEM)
                nomem(w, "dbm.dumb");
        }
        if (map)
            munmap(map, olen);
    }
    /* an index without its data file holds no value; dbm.whichdb does not
     * even take it for a shelf: the caller hands it over as it is */
    pkli_free(&w->a, other);
    return handled;
}

static void walk_shelf(walk *w, frame *f, int fmt)
{
    shelf_ctx c = { w, f };
    pkl_error e;
    int rc = 0;
    if (fmt == PKL_FMT_DBM_SQLITE) {
        w->st.containers++;
        rc = pkli_sqlite_walk(f->data, f->len, w->max_members, &w->a,
                              shelf_value, shelf_problem, &c, &e);
    } else if (fmt == PKL_FMT_BDB) {
        w->st.containers++;
        rc = pkli_bdb_walk(f->data, f->len, w->max_members, &w->a,
                           shelf_value, shelf_problem, &c, &e);
    } else if (fmt == PKL_FMT_GDBM) {
        if (f->depth != 0 || !w->o->fs_path) {
            problemf(w, f->path, PKL_E_FORMAT_UNSUPPORTED, 0,
                     "GNU dbm file inside a container: libgdbm reads only "
                     "files; extract it and scan it");
            return;
        }
        w->st.containers++;
        rc = pkli_gdbm_walk(w->o->fs_path, w->max_members, shelf_value,
                            shelf_problem, &c, &e);
    } else if (fmt == PKL_FMT_DBM_DUMB) {
        /* an index without its .dat (a lone .dir or .bak) holds no value:
         * no loader unpickles anything from it. It is handed over as it
         * is, so the scanner says what it is (not a pickle: "'" is no
         * opcode) instead of a medium finding. */
        if (!walk_dumb(w, f, 1))
            emit(w, f, f->data, f->len, 0, 0, PKL_FMT_PICKLE, 0, 0);
        return;
    }
    if (rc < 0 && e.code == PKL_E_NOMEM)
        nomem(w, pkl_format_name(fmt));
}

/* ---- one buffer ----------------------------------------------------------- */

/* Names whose bytes a loader unpickles: data.pkl, constants.pkl, any
 * torch.package .pkl resource, TorchScript's *.debug_pkl. Compared without
 * case: PyTorch finds records with miniz's mz_zip_reader_locate_file,
 * flags 0 (inline_container.cc getRecordID), whose name comparison
 * lowers both sides (mz_zip_reader_filename_compare, mz_zip_string_equal
 * without MZ_ZIP_FLAG_CASE_SENSITIVE): torch.load unpickles a record named
 * archive/DATA.PKL as data.pkl. */
static int ends_nocase(const uint8_t *n, size_t len, const char *suffix)
{
    size_t k = strlen(suffix);
    if (len < k)
        return 0;
    for (size_t i = 0; i < k; i++) {
        uint8_t c = n[len - k + i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c - 'A' + 'a');
        if (c != (uint8_t)suffix[i])
            return 0;
    }
    return 1;
}

static int has_pkl_name(const uint8_t *n, size_t len)
{
    return ends_nocase(n, len, "pkl") || ends_nocase(n, len, ".pickle");
}

static void walk_zip_step(walk *w, frame *z)
{
    pkli_zip_entry e;
    pkl_error err;
    if (z->zip.next >= w->max_members) {
        problemf(w, z->path, PKL_E_LIMIT_VALUES, z->zip.cur.pos,
                 "zip: more than %zu entries (limit); the rest is not "
                 "scanned", w->max_members);
        z->zip.done = 1;
        return;
    }
    int rc = pkli_zip_next(&z->zip, &e, &err);
    if (rc <= 0) {
        if (rc < 0)
            problem(w, z->path, &err);
        z->zip.done = 1;
        return;
    }
    char *path = child_path(w, z->path, e.name, e.name_len);
    if (!path) {
        nomem(w, "path");
        return;
    }
    /* directories */
    if (e.name_len && e.name[e.name_len - 1] == '/' && e.comp_size == 0) {
        pkli_free(&w->a, path);
        return;
    }
    const uint8_t *data;
    size_t avail;
    if (pkli_zip_data(&z->zip, &e, &data, &avail, &err) < 0) {
        problem(w, path, &err);
        pkli_free(&w->a, path);
        return;
    }
    int mode = has_pkl_name(e.name, e.name_len) ? M_FORCED : M_MEMBER;
    frame c;
    memset(&c, 0, sizeof c);
    c.kind = FR_BUF;
    c.mode = mode;
    c.depth = z->depth + 1;
    c.path = path;
    if (e.method == 0) {
        /* Stored members of sane archives add up to no more than the
         * archive. Entries that overlap (many pointing at one large member,
         * or a member whose declared size runs over the members after it,
         * which zipfile reads as they are) hand out bytes a second time:
         * those are charged to the walk's total limit, as bytes a member
         * inflates to are, so overlapping entries cost no more than a
         * zip bomb may. (oracle_fuzz: numpy.load read an .npz member after
         * one that declared 4 GB; corpus/regressions/oracle/
         * zip_overlap_after_oversized.npz) */
        size_t free_left = z->zip.stored < z->len ? z->len - z->zip.stored : 0;
        if (avail > free_left) {
            size_t again = avail - free_left;
            if (again > output_budget(w)) {
                problemf(w, path, PKL_E_LIMIT_OUTPUT, (size_t)(data - z->data),
                         "zip: entries overlap: stored members add up to more "
                         "than the %zu-byte archive plus the %zu-byte total "
                         "limit; the rest is not scanned", z->len,
                         w->max_total);
                pkli_free(&w->a, path);
                z->zip.done = 1; /* done with this archive */
                return;
            }
            w->st.bytes_out += again;
        }
        z->zip.stored += avail;
        if (avail < e.comp_size)
            problemf(w, path, PKL_E_TRUNCATED, (size_t)(data - z->data) + avail,
                     "zip: member declares %llu bytes, %zu remain",
                     (unsigned long long)e.comp_size, avail);
        c.data = data;
        c.len = avail;
    } else if (e.method == 8 || e.method == 12 || e.method == 14 ||
               e.method == 93) {
        /* deflate, and what Python's zipfile also reads: bzip2, lzma and
         * (3.14) zstd -- numpy.load reads npz members through zipfile */
        int zf = e.method == 8    ? PKLI_RAW_DEFLATE
                 : e.method == 12 ? PKL_FMT_BZIP2
                 : e.method == 14 ? PKLI_ZIP_LZMA
                                  : PKL_FMT_ZSTD;
        size_t budget = output_budget(w);
        uint8_t *out;
        size_t outlen;
        /* a numeric .npy (big savez_compressed arrays) holds no pickle:
         * look at its header before inflating it all */
        if (pkli_decompress_prefix(zf, data, avail, &w->a, 4096, &out, &outlen,
                                   &err) == 0) {
            int obj = npy_holds_objects(out, outlen);
            pkli_free(&w->a, out);
            if (obj == 0) {
                w->st.data_only++;
                pkli_free(&w->a, path);
                return;
            }
        } else {
            pkli_free(&w->a, out); /* a partial prefix, not needed */
            if (err.code == PKL_E_NOMEM) {
                pkli_free(&w->a, path);
                nomem(w, "zip member");
                return;
            }
        }
        if (budget == 0) {
            problemf(w, path, PKL_E_LIMIT_OUTPUT, 0,
                     "zip: total decompression limit reached");
            pkli_free(&w->a, path);
            return;
        }
        if (pkli_decompress(zf, data, avail, &w->a, budget, &out, &outlen,
                            &err) < 0) {
            err.offset += (size_t)(data - z->data);
            problem(w, path, &err);
            /* the part decoded before the problem, as in open_compressed */
            if (!out || !partial_worth_walking(out, outlen)) {
                pkli_free(&w->a, out);
                pkli_free(&w->a, path);
                return;
            }
        }
        w->st.bytes_out += outlen;
        c.data = c.owned = out;
        c.len = outlen;
    } else {
        problemf(w, path, PKL_E_FORMAT_UNSUPPORTED, (size_t)e.local_offset,
                 "zip: compression method %u is not supported", e.method);
        pkli_free(&w->a, path);
        return;
    }
    c.chain = dup_str(w, z->chain);
    if (!c.chain || push(w, &c) < 0) {
        frame_free(w, &c);
        nomem(w, "container walk");
    }
}

/* Pushes a member's bytes as a new buffer frame. Takes `path`. */
static void push_member(walk *w, const frame *parent, char *path,
                        const uint8_t *data, size_t len, int mode)
{
    frame c;
    memset(&c, 0, sizeof c);
    c.kind = FR_BUF;
    c.mode = mode;
    c.depth = parent->depth + 1;
    c.path = path;
    c.data = data;
    c.len = len;
    c.chain = dup_str(w, parent->chain);
    if (!c.chain || push(w, &c) < 0) {
        frame_free(w, &c);
        nomem(w, "container walk");
    }
}

/* torch.load's tar format (torch/serialization.py legacy_load) reads
 * these members by their exact TarInfo.name (TarFile.getmember: the last
 * member so named): tar.extract("storages"), tar.extract("tensors") --
 * each pickles between raw bytes, every one unpickled
 * (walk_torch_tar_member) -- and tar.extractfile("pickle"). sys_info is written but no
 * longer read; it stays a forced stream (older loaders read it). */
static int torch_tar_name(const pkli_tar_entry *e)
{
    static const char *const names[] = { "sys_info", "pickle", "storages",
                                         "tensors" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!e->name_cut && e->name_len == strlen(names[i]) &&
            memcmp(e->name, names[i], e->name_len) == 0)
            return 1;
    return 0;
}

/* How a member so named is read: `storages` and `tensors` by their
 * layout, the others whole. */
static int torch_tar_mode(const pkli_tar_entry *e)
{
    if (!torch_tar_name(e))
        return M_MEMBER;
    if (e->name_len == 8 && memcmp(e->name, "storages", 8) == 0)
        return M_TORCH_STORAGES;
    if (e->name_len == 7 && memcmp(e->name, "tensors", 7) == 0)
        return M_TORCH_TENSORS;
    return M_FORCED;
}

/* One pickle.load on the extracted member at pos: 1 with *stop (just
 * past STOP) and *next (where the file position is then: a FRAME's
 * bytes are read whole, so a STOP inside a frame leaves the position at
 * the frame's end -- _pickle.c load_frame, pickle.py _Unframer), or 0 when
 * the unpickler fails inside it (it reads everything left). */
/* what the legacy_* readers below return when the reader's scratch space
 * could not be allocated: the walk fails with PKL_E_NOMEM */
#define LEGACY_NOMEM (-9)

static int legacy_pickle_end(const uint8_t *b, size_t len, size_t pos,
                             pkl_allocator *a, size_t *stop, size_t *next)
{
    pkl_reader r;
    pkl_op op;
    pkl_error e;
    int ok = 0, rc;
    size_t frame_end = 0;
    pkl_reader_init(&r, b, len, a);
    pkl_reader_seek(&r, pos);
    while ((rc = pkl_reader_next(&r, &op, &e)) == 1) {
        if (op.code == PKL_OP_FRAME)
            frame_end = op.end + (size_t)op.i; /* the reader checked it */
        if (op.code == PKL_OP_STOP) {
            *stop = *next = op.end;
            ok = 1;
            break;
        }
    }
    /* the reader refuses a STOP before its frame's end (PKL_E_FRAME at
     * the STOP): the unpickler returns there, the file is at frame_end */
    if (rc < 0 && e.code == PKL_E_FRAME && e.offset < len &&
        b[e.offset] == PKL_OP_STOP && frame_end > e.offset &&
        frame_end <= len) {
        *stop = e.offset + 1;
        *next = frame_end;
        ok = 1;
    }
    if (rc < 0 && e.code == PKL_E_NOMEM)
        ok = LEGACY_NOMEM;
    pkl_reader_free(&r);
    return ok;
}

/* The record count pickle as legacy_load's range() takes it: the int (or
 * bool) at the top of the stack at STOP, pushed by the last opcode that
 * changed the top (PROTO, FRAME and memo puts do not). 1 with *n, 0 when
 * the top is anything else (the scanner cannot tell what range() gets). */
static int legacy_count(const uint8_t *b, size_t pos, size_t end,
                        pkl_allocator *a, int64_t *n)
{
    pkl_reader r;
    pkl_op op;
    pkl_error e;
    int got = 0, ok = 0, rc;
    pkl_reader_init(&r, b, end, a);
    pkl_reader_seek(&r, pos);
    while ((rc = pkl_reader_next(&r, &op, &e)) == 1) {
        if (op.code == PKL_OP_PROTO || op.code == PKL_OP_FRAME ||
            (got && (op.code == PKL_OP_PUT || op.code == PKL_OP_BINPUT ||
                     op.code == PKL_OP_LONG_BINPUT ||
                     op.code == PKL_OP_MEMOIZE)))
            continue;
        if (op.code == PKL_OP_STOP) {
            ok = got;
            break;
        }
        /* pickle.load returns the top of the stack at STOP and ignores
         * what lies under it (`X'cpu' ctorch\nFloatStorage\n J\x03...` is
         * 3): the count is the int pushed by the last opcode that changed
         * the top (oracle_fuzz, corpus/regressions/oracle/
         * tar_storages_count_over_values.tar) */
        got = 0;
        if (op.code == PKL_OP_NEWTRUE || op.code == PKL_OP_NEWFALSE) {
            *n = op.code == PKL_OP_NEWTRUE;
        } else if ((op.type == PKL_A_INT || op.type == PKL_A_BOOL) &&
                   (op.code == PKL_OP_INT || op.code == PKL_OP_BININT ||
                    op.code == PKL_OP_BININT1 || op.code == PKL_OP_BININT2 ||
                    op.code == PKL_OP_LONG || op.code == PKL_OP_LONG1 ||
                    op.code == PKL_OP_LONG4)) {
            *n = op.i;
        } else if ((op.type == PKL_A_BIGINT || op.type == PKL_A_DECIMAL) &&
                   (op.code == PKL_OP_INT || op.code == PKL_OP_LONG ||
                    op.code == PKL_OP_LONG1 || op.code == PKL_OP_LONG4)) {
            /* outside int64: a huge count reads records until the data
             * ends, a hugely negative one none */
            int neg = op.type == PKL_A_DECIMAL
                          ? op.len && op.data[0] == '-'
                          : op.len && (op.data[op.len - 1] & 0x80);
            *n = neg ? -1 : INT64_MAX;
        } else {
            continue; /* the top is no int now; a later push may be */
        }
        got = 1;
    }
    if (rc < 0 && e.code == PKL_E_NOMEM)
        ok = LEGACY_NOMEM;
    pkl_reader_free(&r);
    return ok;
}

/* Element size of a storage record's type (storage_type._dtype, then
 * torch._utils._element_size): the record pickle's only global. 0 when
 * the scanner cannot tell (none, several, or one it does not know), -1
 * when legacy_load fails on it (UntypedStorage has no _dtype). */
static int legacy_record_elsize(const uint8_t *b, size_t pos, size_t end,
                                pkl_allocator *a)
{
    pkl_reader r;
    pkl_op op;
    const uint8_t *t[2] = { NULL, NULL }, *m = NULL, *nm = NULL;
    size_t tl[2] = { 0, 0 }, ml = 0, nl = 0;
    int globals = 0, rc;
    pkl_error e;
    pkl_reader_init(&r, b, end, a);
    pkl_reader_seek(&r, pos);
    while ((rc = pkl_reader_next(&r, &op, &e)) == 1 &&
           op.code != PKL_OP_STOP) {
        if (op.code == PKL_OP_GLOBAL || op.code == PKL_OP_INST) {
            globals++;
            m = op.data, ml = op.len, nm = op.data2, nl = op.len2;
        } else if (op.code == PKL_OP_STACK_GLOBAL) {
            globals++;
            m = t[0], ml = tl[0], nm = t[1], nl = tl[1];
        } else if (op.code == PKL_OP_EXT1 || op.code == PKL_OP_EXT2 ||
                   op.code == PKL_OP_EXT4) {
            globals += 2; /* copyreg's registry: not followed */
        }
        if (is_text(&op) || (op.type == PKL_A_BYTES &&
                             op.code != PKL_OP_BINBYTES &&
                             op.code != PKL_OP_SHORT_BINBYTES &&
                             op.code != PKL_OP_BINBYTES8 &&
                             op.code != PKL_OP_BYTEARRAY8)) {
            t[0] = t[1], tl[0] = tl[1];
            t[1] = op.data, tl[1] = op.len;
        } else if (op.code != PKL_OP_MEMOIZE && op.code != PKL_OP_BINPUT &&
                   op.code != PKL_OP_LONG_BINPUT && op.code != PKL_OP_PUT) {
            t[0] = t[1] = NULL;
        }
    }
    pkl_reader_free(&r);
    if (rc < 0 && e.code == PKL_E_NOMEM)
        return LEGACY_NOMEM;
    if (globals != 1 || !m || !nm)
        return 0;
    /* torch.XStorage and torch.cuda.XStorage (the legacy CUDA types keep
     * a _dtype) */
    if (ml == 10 && memcmp(m, "torch.cuda", 10) == 0) {
        ml = 5;
    } else if (ml == 5 && memcmp(m, "torch", 5) == 0 && nl > 5 &&
               memcmp(nm, "cuda.", 5) == 0) {
        nm += 5;
        nl -= 5;
    }
    if (ml != 5 || memcmp(m, "torch", 5) != 0)
        return 0;
    if (nl == 14 && memcmp(nm, "UntypedStorage", 14) == 0)
        return -1;
    return storage_elsize(nm, nl);
}

/* torch's legacy tar members as legacy_load (torch/serialization.py)
 * reads the extracted file, opened unbuffered so that pickle.load and
 * the C++ reads share one position:
 *   storages: a pickle (num_storages); per storage a pickle (key,
 *     location, storage_type), then UntypedStorage._new_with_file
 *     (torch/csrc/serialization.cpp THPStorage_readFileRaw: an int64 LE
 *     count, nbytes = element_size * count in wrapping 64-bit arithmetic,
 *     a storage of nbytes -- negative fails -- and exactly nbytes read,
 *     EOF fails); then one more pickle (the storage views);
 *   tensors: a pickle (num_tensors); per tensor a pickle (key,
 *     storage_id, type), then struct.unpack('<i') ndim, 4 skipped bytes,
 *     '<{ndim}q' sizes and strides (a negative ndim or short read is
 *     struct.error) and '<q' storage offset.
 * Every pickle is unpickled: they are copied back to back into one
 * stream (PKL_STREAM_SPLICED) up to where the loader fails, and scanned
 * as a sequence (a pickle whose STOP sits inside a frame is a stream of
 * its own). No recursion; every length is checked before use. */
static void walk_torch_tar_member(walk *w, frame *f)
{
    const uint8_t *b = f->data;
    size_t len = f->len, pos = 0, npk = 0;
    int storages = f->mode == M_TORCH_STORAGES;
    const char *mname = storages ? "storages" : "tensors";
    pkli_buf cp;
    pkli_buf_init(&cp, &w->a, 0);
    int64_t count = 0, i = 0;
    size_t seq0 = 0; /* pickles already handed over */
    /* 0: the count pickle, 1: records, 2: the views pickle, 3: done */
    int stage = 0;
    while (stage < 3 && pos < len) {
        size_t stop = 0, end = 0;
        int whole = legacy_pickle_end(b, len, pos, &w->a, &stop, &end);
        if (whole == LEGACY_NOMEM) {
            nomem(w, "legacy torch member");
            goto out;
        }
        if (whole && stop != end) {
            /* STOP inside a frame: the scanner reads such a pickle on to
             * the frame's end as one pickle, so it gets a stream of its
             * own, after the ones before it */
            if (cp.len)
                emit(w, f, (const uint8_t *)cp.data, cp.len, 0,
                     PKL_STREAM_FORCED | PKL_STREAM_SEQUENCE |
                         PKL_STREAM_SPLICED,
                     PKL_FMT_TORCH_LEGACY, npk - seq0, 0);
            emit(w, f, b + pos, end - pos, pos, PKL_STREAM_FORCED,
                 PKL_FMT_TORCH_LEGACY, 0, 0);
            cp.len = 0;
            seq0 = ++npk;
        } else if (pkli_buf_put(&cp, b + pos, (whole ? end : len) - pos) < 0) {
            nomem(w, "legacy torch member");
            goto out;
        } else {
            npk++;
        }
        if (!whole)
            goto emit; /* the unpickler fails in it: the scanner says where */
        size_t at = pos;
        pos = end;
        if (stage == 0) {
            int counted = legacy_count(b, at, stop, &w->a, &count);
            if (counted == LEGACY_NOMEM) {
                nomem(w, "legacy torch member");
                goto out;
            }
            if (!counted) {
                problemf(w, f->path, PKL_E_FORMAT_UNSUPPORTED, at,
                         "legacy torch %s: the record count is no plain "
                         "int: the %zu bytes after offset %zu (more records "
                         "torch may unpickle) are not examined", mname,
                         len - end, end);
                goto emit;
            }
            stage = count > 0 ? 1 : storages ? 2 : 3;
            continue;
        }
        if (stage == 2) {
            stage = 3;
            continue;
        }
        if (storages) {
            int el = legacy_record_elsize(b, at, stop, &w->a);
            if (el == LEGACY_NOMEM) {
                nomem(w, "legacy torch member");
                goto out;
            }
            if (el < 0)
                goto emit; /* AttributeError: nothing more is read */
            if (el == 0) {
                problemf(w, f->path, PKL_E_FORMAT_UNSUPPORTED, at,
                         "legacy torch storages: record %lld names no "
                         "storage type the scanner knows: its raw bytes and "
                         "the %zu bytes after offset %zu are not examined",
                         (long long)i, len - end, end);
                goto emit;
            }
            uint64_t nbytes = 0;
            int ok = len - pos >= 8;
            if (ok) {
                nbytes = (uint64_t)el * pkli_dec64le(b + pos);
                ok = nbytes <= (uint64_t)INT64_MAX && nbytes <= len - pos - 8;
            }
            if (!ok) {
                problemf(w, f->path, PKL_E_TRUNCATED, pos,
                         "legacy torch storages: storage %lld's size runs "
                         "past the member's end (%zu bytes left): torch.load "
                         "fails here, after unpickling %zu pickle(s) of it",
                         (long long)i, len - pos, npk);
                goto emit;
            }
            pos += 8 + (size_t)nbytes;
        } else {
            int ok = len - pos >= 8;
            int32_t nd = ok ? (int32_t)pkli_dec32le(b + pos) : 0;
            ok = ok && nd >= 0 &&
                 (uint64_t)nd * 16 + 8 <= (uint64_t)(len - pos - 8);
            if (!ok) {
                problemf(w, f->path, PKL_E_TRUNCATED, pos,
                         "legacy torch tensors: tensor %lld's header (ndim "
                         "%ld) runs past the member's end or is negative: "
                         "torch.load fails here, after unpickling %zu "
                         "pickle(s) of it", (long long)i, (long)nd, npk);
                goto emit;
            }
            pos += 8 + (size_t)nd * 16 + 8;
        }
        if (++i >= count)
            stage = storages ? 2 : 3;
    }
    if (stage < 3 && npk)
        problemf(w, f->path, PKL_E_TRUNCATED, len,
                 "legacy torch %s: the member ends before its %s pickle: "
                 "torch.load fails here", mname,
                 stage == 2 ? "storage views" : "next record");
emit:
    if (cp.len || !npk)
        emit(w, f, cp.data ? (const uint8_t *)cp.data : b, cp.len, 0,
             PKL_STREAM_FORCED | PKL_STREAM_SEQUENCE | PKL_STREAM_SPLICED,
             PKL_FMT_TORCH_LEGACY, npk - seq0, 0);
out:
    pkli_buf_free(&cp);
}

/* TarFile._find_link_target: a symlink's target is dirname(name) joined
 * with linkname and searched in the whole archive, a hard link's linkname
 * among the members before it; both compared after os.path.normpath, the
 * last match wins. Returns 1 with *out, 0 when none. */
static int tar_link_target(walk *w, const frame *t, const pkli_tar_entry *l,
                           pkli_tar_entry *out)
{
    uint8_t want[1100], norm[1100], got[520];
    size_t wl = 0, nl, found = 0;
    if (l->type == '2') {
        const uint8_t *slash = NULL;
        for (size_t i = 0; i < l->name_len; i++)
            if (l->name[i] == '/')
                slash = l->name + i;
        size_t dl = slash ? (size_t)(slash - l->name) + 1 : 0;
        /* posixpath.dirname: the head without its trailing slashes,
         * unless it is all slashes */
        size_t k = dl;
        while (k && l->name[k - 1] == '/')
            k--;
        if (k)
            dl = k;
        memcpy(want, l->name, dl);
        wl = dl;
        if (dl && l->link_len)
            want[wl++] = '/';
    }
    memcpy(want + wl, l->link, l->link_len);
    wl += l->link_len;
    nl = pkli_tar_normpath(want, wl, norm);
    pkli_tar it;
    pkli_tar_entry e;
    pkl_error err;
    pkli_tar_open(&it, t->data, t->len);
    for (size_t n = 0; n < w->max_members && pkli_tar_next(&it, &e, &err) == 1;
         n++) {
        if (l->type == '1' && e.header_offset >= l->header_offset)
            break;
        if (e.name_cut)
            continue;
        size_t gl = pkli_tar_normpath(e.name, e.name_len, got);
        if (gl == nl && memcmp(got, norm, nl) == 0) {
            *out = e;
            found = 1;
        }
    }
    return (int)found;
}

static void push_sparse(walk *w, frame *t, char *path, uint8_t *sb, size_t sl,
                        int mode);
static void walk_tar_sparse_stream(walk *w, frame *t,
                                   const pkli_tar_entry *e, const char *path,
                                   int mode, size_t limit);

/* A sparse member's content as extract() writes it (pkli_tar_sparse:
 * holes are zeros), bounded by max_output and charged to max_total,
 * pushed as an owned buffer. Returns 1 when it took `path` (pushed or
 * freed), 0 when the map is not followed: the caller scans the stored
 * bytes. */
static int walk_tar_sparse(walk *w, frame *t, const pkli_tar_entry *e,
                           char *path, int mode)
{
    uint8_t *sb = NULL;
    size_t sl = 0, left = w->max_total > w->st.bytes_out
                             ? w->max_total - w->st.bytes_out : 0;
    size_t limit = w->max_output < left ? w->max_output : left;
    int ordered = 1;
    pkl_error se;
    int code = pkli_tar_sparse(&t->tar, e, &w->a, limit, &sb, &sl, &ordered,
                               &se);
    if (code == PKL_E_NOMEM) {
        nomem(w, "tar sparse member");
        pkli_free(&w->a, path);
        return 1;
    }
    if (!sb)
        return 0;
    if (code)
        problem(w, path, &se);
    /* _FileInFile (extractfile) walks a map in order: out of order or
     * overlapping, it reads other bytes than extract() writes. torch's
     * legacy_load extract()s storages and tensors but reads `pickle`
     * through extractfile(); other programs may do either: both are
     * scanned (oracle_fuzz: corpus/regressions/oracle/
     * tar_sparse_pickle_extractfile.tar) */
    if (!ordered && mode != M_TORCH_STORAGES && mode != M_TORCH_TENSORS)
        walk_tar_sparse_stream(w, t, e, path, mode, limit - sl);
    push_sparse(w, t, path, sb, sl, mode);
    return 1;
}

/* Pushes a rebuilt sparse member (owned by the frame from here on). */
static void push_sparse(walk *w, frame *t, char *path, uint8_t *sb, size_t sl,
                        int mode)
{
    w->st.bytes_out += sl;
    frame c;
    memset(&c, 0, sizeof c);
    c.kind = FR_BUF;
    c.mode = mode;
    c.depth = t->depth + 1;
    c.path = path;
    c.data = c.owned = sb;
    c.len = sl;
    c.chain = dup_str(w, t->chain);
    if (!c.chain || push(w, &c) < 0) {
        frame_free(w, &c);
        nomem(w, "container walk");
    }
}

/* The extractfile() view of a sparse member whose map is out of order or
 * overlapping (pkli_tar_sparse_stream), pushed under its own copy of
 * path; a map it cannot follow is a problem (medium): those bytes are not
 * examined. */
static void walk_tar_sparse_stream(walk *w, frame *t,
                                   const pkli_tar_entry *e, const char *path,
                                   int mode, size_t limit)
{
    uint8_t *sb = NULL;
    size_t sl = 0;
    pkl_error se;
    int code = pkli_tar_sparse_stream(&t->tar, e, &w->a, limit, &sb, &sl, &se);
    if (code == PKL_E_NOMEM) {
        nomem(w, "tar sparse member");
        return;
    }
    if (code)
        problem(w, path, &se);
    if (!sb)
        return;
    char *p2 = dup_str(w, path);
    if (!p2) {
        pkli_free(&w->a, sb);
        nomem(w, "container walk");
        return;
    }
    push_sparse(w, t, p2, sb, sl, mode);
}

/* A torch member that is a link: extractfile("pickle") and extract() of a
 * hard link read the target member's bytes; extract() of a symlink makes
 * a link on disk, which torch then opens (a path outside the archive). */
static void walk_tar_link(walk *w, frame *t, const pkli_tar_entry *e,
                          char *path)
{
    pkli_tar_entry cur = *e, tgt;
    int is_pickle = e->name_len == 6 && memcmp(e->name, "pickle", 6) == 0;
    if (cur.type == '2' && !is_pickle) {
        problemf(w, path, PKL_E_FORMAT_UNSUPPORTED, e->header_offset,
                 "tar: torch extracts this symlink to disk and opens it: it "
                 "reads '%.*s', outside the archive", (int)e->link_len,
                 (const char *)e->link);
        pkli_free(&w->a, path);
        return;
    }
    for (int hops = 0; hops < 16; hops++) {
        if (!tar_link_target(w, t, &cur, &tgt)) {
            /* KeyError: torch.load fails before unpickling it */
            pkli_free(&w->a, path);
            return;
        }
        if (tgt.type != '1' && tgt.type != '2') {
            if (!tgt.data) { /* a directory or device: nothing to read */
                pkli_free(&w->a, path);
                return;
            }
            if (tgt.sparse &&
                walk_tar_sparse(w, t, &tgt, path, torch_tar_mode(e)))
                return;
            if (tgt.sparse || tgt.size < tgt.declared)
                problemf(w, path, tgt.sparse ? PKL_E_FORMAT_UNSUPPORTED
                                             : PKL_E_TRUNCATED,
                         tgt.header_offset, "tar: link target is %s",
                         tgt.sparse ? "sparse (holes not rebuilt)"
                                    : "cut short");
            push_member(w, t, path, tgt.data, tgt.size,
                        torch_tar_mode(e));
            return;
        }
        cur = tgt;
    }
    problemf(w, path, PKL_E_FORMAT_UNSUPPORTED, e->header_offset,
             "tar: link chain longer than 16");
    pkli_free(&w->a, path);
}

#define MAX_TAR_LINKS 16

static void walk_tar_step(walk *w, frame *t)
{
    pkli_tar_entry e;
    pkl_error err;
    if (t->tar.next >= w->max_members) {
        problemf(w, t->path, PKL_E_LIMIT_VALUES, t->tar.pos,
                 "tar: more than %zu members (limit); the rest is not "
                 "scanned", w->max_members);
        t->done = 1;
        return;
    }
    int rc = pkli_tar_next(&t->tar, &e, &err);
    if (rc <= 0) {
        if (rc < 0)
            problem(w, t->path, &err);
        else if (t->tar.end_junk)
            problemf(w, t->path, PKL_E_TRAILING, t->tar.end_junk,
                     "tar: invalid header at offset %zu: tarfile ends the "
                     "archive there; the %zu bytes from it are not read as "
                     "members", t->tar.end_junk, t->len - t->tar.end_junk);
        t->done = 1;
        return;
    }
    int torch = torch_tar_name(&e);
    if ((e.type == '1' || e.type == '2') && !torch)
        return; /* the target is walked as a member of its own */
    if (!e.data && e.type != '1' && e.type != '2')
        return; /* directories, devices, fifos: no content */
    char *path = child_path(w, t->path, e.name, e.name_len);
    if (!path) {
        nomem(w, "path");
        return;
    }
    if (e.type == '1' || e.type == '2') {
        /* each resolution rereads the archive: a few are all torch can
         * use (it reads the last of each name) */
        if (++t->tar.links > MAX_TAR_LINKS) {
            if (t->tar.links == MAX_TAR_LINKS + 1) /* said once */
                problemf(w, path, PKL_E_LIMIT_VALUES, e.header_offset,
                         "tar: more than %d links named like torch's "
                         "members (limit); the rest are not followed",
                         MAX_TAR_LINKS);
            pkli_free(&w->a, path);
            return;
        }
        walk_tar_link(w, t, &e, path);
        return;
    }
    int mode = torch ? torch_tar_mode(&e)
               : has_pkl_name(e.name, e.name_len) ? M_FORCED : M_MEMBER;
    if (e.sparse && walk_tar_sparse(w, t, &e, path, mode))
        return;
    if (e.sparse)
        problemf(w, path, PKL_E_FORMAT_UNSUPPORTED, e.header_offset,
                 "tar: sparse member: its holes are not rebuilt, the %zu "
                 "stored bytes are scanned as they are", e.size);
    if (e.size < e.declared)
        problemf(w, path, PKL_E_TRUNCATED, e.header_offset,
                 "tar: member declares %llu bytes, %zu remain",
                 (unsigned long long)e.declared, e.size);
    push_member(w, t, path, e.data, e.size, mode);
}

static int is_container(int fmt)
{
    return fmt == PKL_FMT_ZIP || fmt == PKL_FMT_GZIP || fmt == PKL_FMT_BZIP2 ||
           fmt == PKL_FMT_XZ || fmt == PKL_FMT_LZMA || fmt == PKL_FMT_ZLIB ||
           fmt == PKL_FMT_ZSTD || fmt == PKL_FMT_LZ4 ||
           fmt == PKL_FMT_JOBLIB_ZF ||
           fmt == PKL_FMT_DBM_SQLITE ||
           fmt == PKL_FMT_GDBM || fmt == PKL_FMT_DBM_DUMB || fmt == PKL_FMT_TAR ||
           fmt == PKL_FMT_BDB;
}

static int contains(const uint8_t *b, size_t n, const char *s)
{
    size_t k = strlen(s);
    if (n < k)
        return 0;
    for (size_t i = 0; i + k <= n; i++) {
        const uint8_t *p = memchr(b + i, s[0], n - k + 1 - i);
        if (!p)
            return 0;
        i = (size_t)(p - b);
        if (memcmp(p, s, k) == 0)
            return 1;
    }
    return 0;
}

static void walk_buffer(walk *w, frame *f)
{
    if (f->mode == M_FORCED) {
        emit(w, f, f->data, f->len, 0, PKL_STREAM_FORCED, PKL_FMT_PICKLE, 0, 0);
        return;
    }
    if (f->mode == M_TORCH_STORAGES || f->mode == M_TORCH_TENSORS) {
        walk_torch_tar_member(w, f);
        return;
    }
    int fmt = pkl_format_detect(f->data, f->len);
    if (fmt == PKL_FMT_LZMA && f->mode == M_MEMBER &&
        !lzma_member_plausible(f->data, f->len))
        fmt = plausible_pickle(f->data, f->len) ? PKL_FMT_PICKLE
                                                : PKL_FMT_UNKNOWN;
    pkl_error re;
    memset(&re, 0, sizeof re);
    if (fmt == PKL_FMT_PICKLE && f->mode == M_MEMBER) {
        int c = complete_pickle(f->data, f->len, &w->a, &re);
        if (c < 0) {
            problem(w, f->path, &re);
            return;
        }
        if (!c)
            fmt = PKL_FMT_UNKNOWN;
    }
    /* the file, a decompressed payload or an archive member is also read
     * from byte 0 as a raw pickle by pickle.load & co.: scanned too when
     * that view can run something (a pickle is that view already) */
    if (fmt != PKL_FMT_PICKLE && fmt != PKL_FMT_UNKNOWN) {
        int live = raw_view_live(f->data, f->len, &w->a, &re);
        if (live < 0) {
            problem(w, f->path, &re);
            return;
        }
        if (live)
            emit(w, f, f->data, f->len, 0, PKL_STREAM_VIEW, PKL_FMT_PICKLE, 0, 0);
    }
    if (is_container(fmt) && f->depth >= w->max_nesting) {
        problemf(w, f->path, PKL_E_LIMIT_NESTING, 0,
                 "%s nested %zu containers deep (limit %zu): not opened",
                 pkl_format_name(fmt), f->depth, w->max_nesting);
        return;
    }
    switch (fmt) {
    case PKL_FMT_JOBLIB_ZF:
        walk_zf(w, f);
        return;
    case PKL_FMT_ZIP: {
        frame z = *f;
        pkl_error e;
        int rc = pkli_zip_open(&z.zip, f->data, f->len, &e);
        if (rc != 0)
            problem(w, f->path, &e);
        if (rc < 0 || w->stop)
            return;
        w->st.containers++;
        z.kind = FR_ZIP;
        char *ch = chain_add(w, f->chain, "zip");
        if (!ch) {
            nomem(w, "chain");
            return;
        }
        z.chain = ch;
        z.path = dup_str(w, f->path);
        z.owned = NULL; /* the data stays owned by f until... */
        if (!z.path) {
            pkli_free(&w->a, ch);
            nomem(w, "path");
            return;
        }
        /* move ownership of f's data to the zip frame */
        z.owned = f->owned;
        f->owned = NULL;
        if (push(w, &z) < 0) {
            f->owned = z.owned;
            z.owned = NULL;
            frame_free(w, &z);
            nomem(w, "container walk");
        }
        return;
    }
    case PKL_FMT_TAR: {
        frame t = *f;
        w->st.containers++;
        t.kind = FR_TAR;
        t.done = 0;
        pkli_tar_open(&t.tar, f->data, f->len);
        t.chain = chain_add(w, f->chain, "tar");
        t.path = dup_str(w, f->path);
        t.owned = f->owned;
        f->owned = NULL;
        if (!t.chain || !t.path || push(w, &t) < 0) {
            f->owned = t.owned;
            t.owned = NULL;
            frame_free(w, &t);
            nomem(w, "container walk");
        }
        return;
    }
    case PKL_FMT_GZIP: case PKL_FMT_BZIP2: case PKL_FMT_XZ:
    case PKL_FMT_LZMA: case PKL_FMT_ZLIB: case PKL_FMT_ZSTD:
    case PKL_FMT_LZ4:
        (void)open_compressed(w, f, fmt, f->data, f->len, M_TOP,
                              pkl_format_name(fmt));
        return;
    case PKL_FMT_NPY:
        walk_npy(w, f);
        return;
    case PKL_FMT_DBM_SQLITE: case PKL_FMT_GDBM: case PKL_FMT_DBM_DUMB:
    case PKL_FMT_BDB:
        walk_shelf(w, f, fmt);
        return;
    case PKL_FMT_PICKLE:
        if (f->depth == 0 && walk_dumb(w, f, 0))
            return;
        if (torch_legacy_sniff(f->data, f->len)) {
            walk_torch_legacy(w, f);
            return;
        }
        /* NumpyArrayWrapper, and the pre-0.10 NDArrayWrapper and
         * ZNDArrayWrapper */
        if (contains(f->data, f->len, "ArrayWrapper")) {
            walk_joblib(w, f);
            /* pickle.load and numpy.load(allow_pickle=True) read the same
             * file straight on: array bytes after a wrapper are opcodes to
             * them (joblib's NumpyUnpickler is the only reader that skips
             * them) */
            emit(w, f, f->data, f->len, 0, PKL_STREAM_VIEW, PKL_FMT_PICKLE,
                 0, 0);
            return;
        }
        emit(w, f, f->data, f->len, 0, 0, PKL_FMT_PICKLE, 0, 0);
        return;
    default:
        if (f->mode == M_MEMBER) {
            w->st.data_only++;
            return;
        }
        if (f->depth == 0 && walk_dumb(w, f, 0))
            return;
        if (f->len == 0) {
            /* an empty file: the scanner says "no pickle" */
            emit(w, f, f->data, 0, 0, 0, PKL_FMT_PICKLE, 0, 0);
            return;
        }
        {
            char hex[3 * 8 + 1] = "";
            size_t k = f->len < 8 ? f->len : 8;
            for (size_t i = 0; i < k; i++)
                snprintf(hex + 3 * i, 4, "%02x%s", f->data[i], i + 1 < k ? " " : "");
            problemf(w, f->path, PKL_E_FORMAT_UNSUPPORTED, 0,
                     "not a pickle nor a known container (first bytes %s)",
                     hex);
        }
        return;
    }
}

int pkl_walk_buffer(const void *buf, size_t len, const char *path,
                    const pkl_walk_options *opt, pkl_walk_stats *stats,
                    pkl_error *err)
{
    walk w;
    pkl_error local;
    memset(&w, 0, sizeof w);
    if (stats)
        memset(stats, 0, sizeof *stats);
    w.err = err ? err : &local;
    if (!opt || (!buf && len)) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_walk_buffer needs options and a buffer");
        return -1;
    }
    w.o = opt;
    pkli_alloc_init(&w.a, opt->alloc);
    w.max_nesting = opt->max_nesting ? opt->max_nesting : DEFAULT_NESTING;
    w.max_output = opt->max_output ? opt->max_output : DEFAULT_OUTPUT;
    w.max_total = opt->max_total ? opt->max_total : DEFAULT_TOTAL;
    w.max_members = opt->max_members ? opt->max_members : DEFAULT_MEMBERS;

    frame top;
    memset(&top, 0, sizeof top);
    top.kind = FR_BUF;
    top.mode = M_TOP;
    top.data = buf ? buf : (const void *)"";
    top.len = len;
    top.path = dup_str(&w, path ? path : "");
    top.chain = dup_str(&w, "");
    if (!top.path || !top.chain || push(&w, &top) < 0) {
        frame_free(&w, &top);
        pkli_error_setf(err, PKL_E_NOMEM, 0, -1, "container walk");
        pkli_free(&w.a, w.stack);
        return -1;
    }
    while (w.n > 0 && !w.stop) {
        frame *t = &w.stack[w.n - 1];
        if (t->kind == FR_TAR) {
            if (t->done) {
                frame done = *t;
                w.n--;
                frame_free(&w, &done);
                continue;
            }
            frame tf = *t;
            size_t at = w.n - 1;
            walk_tar_step(&w, &tf);
            w.stack[at].tar = tf.tar;
            w.stack[at].done = tf.done;
            continue;
        }
        if (t->kind == FR_ZIP) {
            if (t->zip.done) {
                frame done = *t;
                w.n--;
                frame_free(&w, &done);
                continue;
            }
            frame z = *t; /* the stack may move while pushing */
            size_t at = w.n - 1;
            walk_zip_step(&w, &z);
            w.stack[at].zip = z.zip;
            continue;
        }
        frame cur = *t;
        w.n--;
        walk_buffer(&w, &cur);
        frame_free(&w, &cur);
    }
    while (w.n > 0) {
        w.n--;
        frame_free(&w, &w.stack[w.n]);
    }
    pkli_free(&w.a, w.stack);
    if (stats)
        *stats = w.st;
    if (w.stop)
        return -1;
    pkli_error_clear(err);
    return 0;
}
