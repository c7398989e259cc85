/* check_formats.c -- the container walker (pkl_walk_buffer).
 *
 * Table-driven over corpus/formats/MANIFEST.tsv: for every file, the
 * streams reported (inner path and length) and the problems (code and
 * inner path) must be exactly the manifest's. The manifest's numbers come
 * from corpus/formats/gen/gen_formats.py, which takes them from zipfile,
 * pickletools, numpy.lib.format and joblib's own reader, never from
 * pickleguard. Hand-made buffers below pin exact codes and offsets, the
 * limits, and the out-of-memory paths.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MANIFEST "corpus/formats/MANIFEST.tsv"
#define DIR "corpus/formats/"

/* ---- helpers --------------------------------------------------------------- */

typedef struct collected {
    const char *top;       /* top path, stripped from reported paths */
    char items[64][600];   /* "S inner:len" or "P code@inner" */
    size_t n;
    size_t stop_after;     /* non-zero: on_stream returns 1 at this count */
    size_t streams;
    size_t views;          /* PKL_STREAM_VIEW streams (not in items) */
} collected;

static const char *inner(const collected *c, const char *path)
{
    size_t k = strlen(c->top);
    if (strncmp(path, c->top, k) == 0)
        path += k;
    return *path ? path : ".";
}

static int on_stream(void *ctx, const pkl_stream *s, pkl_error *err)
{
    collected *c = ctx;
    (void)err;
    /* raw-pickle views of containers are candidates the caller judges
     * (the CLI drops those the scanner calls not-a-pickle); the manifest
     * lists what the containers themselves hand over. tests/test_views.py
     * checks the views through the CLI. */
    if (s->flags & PKL_STREAM_VIEW)
        c->views++;
    else if (c->n < 64)
        snprintf(c->items[c->n++], sizeof c->items[0], "S %s:%zu",
                 inner(c, s->path), s->len);
    c->streams++;
    return c->stop_after && c->streams >= c->stop_after;
}

static int on_problem(void *ctx, const char *path, const pkl_error *e)
{
    collected *c = ctx;
    if (c->n < 64)
        snprintf(c->items[c->n++], sizeof c->items[0], "P %d@%s", e->code,
                 inner(c, path));
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0;
    *len = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        size_t got = fread(buf + *len, 1, cap - *len, f);
        if (got == 0)
            break;
        *len += got;
    }
    fclose(f);
    return buf;
}

/* Row i (0-based, header excluded) split into its 7 fields. */
typedef struct mrow {
    char line[4096];
    char *f[7];
} mrow;

static int manifest_rows(void)
{
    FILE *f = fopen(MANIFEST, "r");
    char line[4096];
    int n = -1;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        n++;
    fclose(f);
    return n < 0 ? 0 : n;
}

static void manifest_row(int i, mrow *r)
{
    FILE *f = fopen(MANIFEST, "r");
    ck_assert_ptr_nonnull(f);
    int k = -1;
    while (fgets(r->line, sizeof r->line, f))
        if (k++ == i)
            break;
    fclose(f);
    r->line[strcspn(r->line, "\n")] = '\0';
    char *p = r->line;
    for (int j = 0; j < 7; j++) {
        r->f[j] = p;
        p = strchr(p, '\t');
        if (j < 6) {
            ck_assert_msg(p != NULL, "manifest row %d has too few fields", i);
            *p++ = '\0';
        }
    }
}

/* ---- the manifest ------------------------------------------------------------- */

START_TEST(manifest_file)
{
    mrow r;
    manifest_row(_i, &r);
    char path[512];
    snprintf(path, sizeof path, DIR "%s", r.f[0]);
    size_t len;
    uint8_t *buf = slurp(path, &len);
    ck_assert_msg(buf != NULL || len == 0, "cannot read %s", path);

    /* expected, in the same "S ..." / "P ..." spelling */
    collected want, got;
    memset(&want, 0, sizeof want);
    memset(&got, 0, sizeof got);
    for (int col = 2; col <= 3; col++) {
        if (strcmp(r.f[col], "-") == 0)
            continue;
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", r.f[col]);
        for (char *tok = strtok(tmp, ";"); tok; tok = strtok(NULL, ";"))
            snprintf(want.items[want.n++], sizeof want.items[0], "%c %s",
                     col == 2 ? 'S' : 'P', tok);
    }

    got.top = path;
    pkl_walk_options o;
    memset(&o, 0, sizeof o);
    o.on_stream = on_stream;
    o.on_problem = on_problem;
    o.ctx = &got;
    o.fs_path = path;
    pkl_walk_stats st;
    pkl_error err;
    POISON_ERR(err);
    int rc = pkl_walk_buffer(buf, len, path, &o, &st, &err);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(err.code, PKL_OK);
    qsort(want.items, want.n, sizeof want.items[0], cmp_str);
    qsort(got.items, got.n, sizeof got.items[0], cmp_str);
    char wj[8192] = "", gj[8192] = "";
    for (size_t k = 0; k < want.n; k++)
        strncat(strncat(wj, want.items[k], 600), " | ", 4);
    for (size_t k = 0; k < got.n; k++)
        strncat(strncat(gj, got.items[k], 600), " | ", 4);
    ck_assert_msg(strcmp(wj, gj) == 0, "%s:\n  expected %s\n  got      %s",
                  r.f[0], wj, gj);
    ck_assert_uint_eq(st.streams + st.problems, got.n + got.views);
    free(buf);
}
END_TEST

/* ---- hand-made buffers: exact codes and offsets ------------------------------- */

static int walk_mem(const void *buf, size_t len, pkl_walk_options *o,
                    collected *c, pkl_walk_stats *st, pkl_error *err)
{
    memset(c, 0, sizeof *c);
    c->top = "m";
    o->on_stream = on_stream;
    o->on_problem = on_problem;
    o->ctx = c;
    return pkl_walk_buffer(buf, len, "m", o, st, err);
}

START_TEST(empty_and_raw)
{
    pkl_walk_options o;
    collected c;
    pkl_walk_stats st;
    pkl_error err;
    memset(&o, 0, sizeof o);
    POISON_ERR(err);
    /* empty: one empty stream, so the scanner reports "no pickle" */
    ck_assert_int_eq(walk_mem("", 0, &o, &c, &st, &err), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_str_eq(c.items[0], "S .:0");
    /* protocol 0, no 0x80: a pickle */
    ck_assert_int_eq(walk_mem("(lp0\n.", 6, &o, &c, &st, &err), 0);
    ck_assert_str_eq(c.items[0], "S .:6");
    ck_assert_int_eq(pkl_format_detect("(lp0\n.", 6), PKL_FMT_PICKLE);
    /* "(S" -- MARK, STRING -- is also a valid zlib header for a 4K window:
     * only 0x78 zlib headers are taken */
    ck_assert_int_eq(pkl_format_detect("(S'a'\n.", 7), PKL_FMT_PICKLE);
    /* STOP first is no plausible start */
    ck_assert_int_eq(pkl_format_detect(".", 1), PKL_FMT_UNKNOWN);
    ck_assert_int_eq(pkl_format_detect("\x1f\x8b\x08", 3), PKL_FMT_GZIP);
    ck_assert_int_eq(pkl_format_detect("BZh91AY&SY", 10), PKL_FMT_BZIP2);
    ck_assert_int_eq(pkl_format_detect("\x28\xb5\x2f\xfd\x00", 5), PKL_FMT_ZSTD);
    ck_assert_int_eq(pkl_format_detect("\x78\x9c\x03\x00", 4), PKL_FMT_ZLIB);
    ck_assert_str_eq(pkl_format_name(PKL_FMT_DBM_SQLITE), "dbm.sqlite3");
    ck_assert_str_eq(pkl_format_name(999), "unknown");
}
END_TEST

START_TEST(unknown_is_a_problem)
{
    pkl_walk_options o;
    collected c;
    pkl_walk_stats st;
    pkl_error err;
    memset(&o, 0, sizeof o);
    POISON_ERR(err);
    ck_assert_int_eq(walk_mem("%PDF-1.4\n", 9, &o, &c, &st, &err), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_str_eq(c.items[0], "P 601@.");
    ck_assert_uint_eq(st.problems, 1);
    ck_assert_uint_eq(st.streams, 0);
}
END_TEST

/* Loader views: a raw os.system pickle followed by an empty zip end record
 * is a zip to a sniffer and a pickle to pickle.load: the walker hands over
 * the raw view. A zip's own bytes (PK: PERSID, which raises at byte 0) and
 * an .npy's (\x93: STACK_GLOBAL on an empty stack) give none. */
START_TEST(raw_view)
{
    static const uint8_t mal_eocd[] =
        "cos\nsystem\n(S'id'\ntR."      /* 21 bytes, then the end record */
        "PK\5\6\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    static const uint8_t npy[] = "\x93NUMPY\x01\x00\x06\x00{}   \n";
    pkl_walk_options o;
    collected c;
    pkl_walk_stats st;
    pkl_error err;
    memset(&o, 0, sizeof o);
    POISON_ERR(err);
    ck_assert_int_eq(pkl_format_detect(mal_eocd, 43), PKL_FMT_ZIP);
    ck_assert_int_eq(walk_mem(mal_eocd, 43, &o, &c, &st, &err), 0);
    ck_assert_uint_eq(c.views, 1);
    /* the empty end record alone: a zip with no entries, no view */
    ck_assert_int_eq(walk_mem(mal_eocd + 21, 22, &o, &c, &st, &err), 0);
    ck_assert_uint_eq(c.views, 0);
    ck_assert_int_eq(walk_mem(npy, sizeof npy - 1, &o, &c, &st, &err), 0);
    ck_assert_uint_eq(c.views, 0);
}
END_TEST

/* pickle.load in a loop reads on after each STOP: a data-only pickle
 * followed by one that imports makes the raw view live, and so does an
 * import at the end of a frame whose STOP came early (pickle.py's next
 * load starts there; corpus/regressions/oracle/stacked_before_zip.pkl,
 * frame_stop_before_zip.pkl). Bytes after STOP that are no pickle end the
 * view. */
START_TEST(raw_view_stacked)
{
#define EOCD22 "PK\5\6\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
    static const uint8_t stacked[] = "\x80\x02K\x01." "cmymod\nThing\n)R." EOCD22;
    static const uint8_t framed[] =
        "\x80\x04\x95\x07\0\0\0\0\0\0\0K\x01.\x05\x05\x05\x05"
        "cmymod\nThing\n)R." EOCD22;
    static const uint8_t dead[] = "\x80\x02K\x01.\x05cmymod\nThing\n)R." EOCD22;
#undef EOCD22
    pkl_walk_options o;
    collected c;
    pkl_walk_stats st;
    pkl_error err;
    memset(&o, 0, sizeof o);
    POISON_ERR(err);
    ck_assert_int_eq(walk_mem(stacked, sizeof stacked - 1, &o, &c, &st, &err),
                     0);
    ck_assert_uint_eq(c.views, 1);
    ck_assert_int_eq(walk_mem(framed, sizeof framed - 1, &o, &c, &st, &err),
                     0);
    ck_assert_uint_eq(c.views, 1);
    ck_assert_int_eq(walk_mem(dead, sizeof dead - 1, &o, &c, &st, &err), 0);
    ck_assert_uint_eq(c.views, 0);
}
END_TEST

/* A zip whose end record claims a 46-byte directory at offset 0 that is
 * not there:
 *   "PK\5\6" disk=0 cd_disk=0 n=1 total=1 cd_size=46 cd_off=0 comment=0
 *    ^ offset 46 (after 46 filler bytes) */
START_TEST(zip_bad_directory)
{
    uint8_t z[46 + 22];
    memset(z, 'x', sizeof z);
    static const uint8_t eocd[22] = { 'P', 'K', 5, 6, 0, 0, 0, 0, 1, 0, 1, 0,
                                      46, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
    memcpy(z + 46, eocd, 22);
    pkl_walk_options o;
    collected c;
    pkl_walk_stats st;
    pkl_error err;
    memset(&o, 0, sizeof o);
    POISON_ERR(err);
    ck_assert_int_eq(pkl_format_detect(z, sizeof z), PKL_FMT_ZIP);
    ck_assert_int_eq(walk_mem(z, sizeof z, &o, &c, &st, &err), 0);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_str_eq(c.items[0], "P 600@.");
    /* 4 bytes are too short for a zip, and 'P' (PERSID) without a newline
     * does not parse: unknown */
    ck_assert_int_eq(walk_mem(eocd, 4, &o, &c, &st, &err), 0);
    ck_assert_str_eq(c.items[0], "P 601@.");
    /* an empty archive is fine: nothing to scan, nothing wrong */
    uint8_t empty[22] = { 'P', 'K', 5, 6 };
    ck_assert_int_eq(walk_mem(empty, 22, &o, &c, &st, &err), 0);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(st.containers, 1);
}
END_TEST

/* corpus/views/zip_cd_shift.pt (corpus/views/gen/gen_zip.py): two central
 * directories. CPython's zipfile reads the one right before the end record
 * (offsets shifted by concat): its archive/data.pkl is the 17-byte benign
 * pickle; miniz reads the one at the declared offset: its data.pkl is the
 * 31-byte os.system pickle (tests/test_zip.py shows both with the real
 * readers). Both are handed over; version and byteorder, the same entries
 * in both directories, once. */
START_TEST(zip_two_readers)
{
    size_t len;
    uint8_t *buf = slurp("corpus/views/zip_cd_shift.pt", &len);
    ck_assert_ptr_nonnull(buf);
    pkl_walk_options o;
    collected c;
    pkl_walk_stats st;
    pkl_error err;
    memset(&o, 0, sizeof o);
    POISON_ERR(err);
    ck_assert_int_eq(walk_mem(buf, len, &o, &c, &st, &err), 0);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_str_eq(c.items[0], "S !archive/data.pkl:17");
    ck_assert_str_eq(c.items[1], "S !archive/data.pkl:31");
    ck_assert_uint_eq(st.data_only, 2);
    free(buf);
}
END_TEST

static int problem_offset(void *ctx, const char *path, const pkl_error *e)
{
    (void)path;
    *(pkl_error *)ctx = *e;
    return 0;
}

START_TEST(npy_header_offset)
{
    size_t len;
    uint8_t *buf = slurp(DIR "npy_bad_header.npy", &len);
    ck_assert_ptr_nonnull(buf);
    pkl_walk_options o;
    pkl_error got, err;
    memset(&o, 0, sizeof o);
    POISON_ERR(got);
    o.on_problem = problem_offset;
    o.ctx = &got;
    ck_assert_int_eq(pkl_walk_buffer(buf, len, "x", &o, NULL, &err), 0);
    /* "\x93NUMPY" 1 0 [len lo][len hi]: the length field is at offset 8 */
    ck_assert_err(got, PKL_E_TRUNCATED, 8);
    free(buf);
}
END_TEST

START_TEST(limits)
{
    size_t len;
    uint8_t *buf = slurp(DIR "pickle_gzip.gz", &len);
    ck_assert_ptr_nonnull(buf);
    pkl_walk_options o;
    collected c;
    pkl_walk_stats st;
    pkl_error err;
    memset(&o, 0, sizeof o);
    o.max_output = 10; /* the payload is longer than 10 bytes */
    ck_assert_int_eq(walk_mem(buf, len, &o, &c, &st, &err), 0);
    /* the limit, then the 10 bytes decoded before it: they start a pickle,
     * which a streaming pickle.load would already have read */
    ck_assert_uint_eq(c.n, 2);
    ck_assert_str_eq(c.items[0], "P 306@.");
    ck_assert_str_eq(c.items[1], "S .:10");
    free(buf);

    buf = slurp(DIR "nested.zip", &len);
    ck_assert_ptr_nonnull(buf);
    memset(&o, 0, sizeof o);
    o.max_nesting = 1; /* the top zip opens; nothing inside it may */
    ck_assert_int_eq(walk_mem(buf, len, &o, &c, &st, &err), 0);
    qsort(c.items, c.n, sizeof c.items[0], cmp_str);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_str_eq(c.items[0], "P 305@!b.zip");
    ck_assert_str_eq(c.items[1], "P 305@!d.pkl.gz");

    /* a callback that stops the walk */
    memset(&o, 0, sizeof o);
    o.on_stream = on_stream;
    memset(&c, 0, sizeof c);
    c.top = "m";
    c.stop_after = 1;
    o.ctx = &c;
    POISON_ERR(err);
    ck_assert_int_eq(pkl_walk_buffer(buf, len, "m", &o, NULL, &err), -1);
    ck_assert_int_eq(err.code, PKL_E_INTERNAL);
    ck_assert_uint_eq(c.streams, 1);

    /* total output budget shared by members */
    memset(&o, 0, sizeof o);
    o.max_total = 1;
    ck_assert_int_eq(walk_mem(buf, len, &o, &c, &st, &err), 0);
    ck_assert_uint_eq(st.streams, 0);
    ck_assert_uint_ge(st.problems, 1);
    free(buf);

    ck_assert_int_eq(pkl_walk_buffer("x", 1, "m", NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, PKL_E_INVALID_ARG);
}
END_TEST

/* ---- out of memory: fail the N-th allocation for every N ----------------------- */

static const char *const oom_files[] = {
    "torch_zip.pt", "torch_legacy_trailing.pt", "joblib_plain.joblib",
    "joblib_object.joblib", "nested.zip", "zip_truncated.pt",
    "arrays_compressed.npz", "shelf_sqlite_evil.db", "pickle_xz.xz",
};

START_TEST(out_of_memory)
{
    char path[256];
    snprintf(path, sizeof path, DIR "%s", oom_files[_i]);
    size_t len;
    uint8_t *buf = slurp(path, &len);
    ck_assert_ptr_nonnull(buf);
    int succeeded = 0;
    for (long n = 0; n < 10000 && !succeeded; n++) {
        test_alloc t;
        pkl_allocator a = test_allocator(&t, (size_t)n + 1);
        pkl_walk_options o;
        collected c;
        pkl_error err;
        memset(&o, 0, sizeof o);
        memset(&c, 0, sizeof c);
        c.top = path;
        o.alloc = &a;
        o.on_stream = on_stream;
        o.on_problem = on_problem;
        o.ctx = &c;
        POISON_ERR(err);
        int rc = pkl_walk_buffer(buf, len, path, &o, NULL, &err);
        if (rc == 0) {
            succeeded = 1;
            ck_assert_int_eq(err.code, PKL_OK);
        } else {
            ck_assert_int_eq(err.code, PKL_E_NOMEM);
        }
        ck_assert_msg(t.live == 0, "%s: allocation %ld failed: %ld blocks leaked",
                      path, n + 1, t.live);
    }
    ck_assert(succeeded);
    free(buf);
}
END_TEST

/* joblib's read_array goes by dtype.hasobject, which numpy takes from
 * the flags in a dtype state of version >= 3 (arraydescr_setstate), not
 * from the type: an f8 with flags 1 is followed by a nested pickle, an O8
 * with flags 0 by raw bytes (0 of them for shape (0,)). The samples'
 * manifest rows (corpus/regressions/oracle/MANIFEST.tsv) are checked
 * against joblib itself by tests/test_oracle.py. */
static size_t object_arrays(const collected *c)
{
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++)
        if (strncmp(c->items[i], "S !object-array@", 16) == 0)
            k++;
    return k;
}

START_TEST(joblib_dtype_flags)
{
    static const char *const files[2] = {
        "corpus/regressions/oracle/joblib_flags_f8_hasobject.joblib",
        "corpus/regressions/oracle/joblib_flags_o_no_objects.joblib"};
    pkl_walk_options o;
    collected c;
    pkl_walk_stats st;
    pkl_error err;
    for (int i = 0; i < 2; i++) {
        size_t len;
        uint8_t *buf = slurp(files[i], &len);
        ck_assert_ptr_nonnull(buf);
        memset(&o, 0, sizeof o);
        POISON_ERR(err);
        ck_assert_int_eq(walk_mem(buf, len, &o, &c, &st, &err), 0);
        /* the splitter followed the file to its STOP as joblib reads it;
         * one problem: the dtype's flags disagree with its type, which
         * corrupts memory in joblib.load (the wrapper's BUILD is at 181) */
        size_t problems = 0;
        for (size_t k = 0; k < c.n; k++)
            if (c.items[k][0] == 'P') {
                problems++;
                ck_assert_str_eq(c.items[k], "P 601@.");
            }
        ck_assert_uint_eq(problems, 1);
        ck_assert_uint_eq(object_arrays(&c), i == 0 ? 1 : 0);
        free(buf);
    }
}
END_TEST

/* joblib 1.6 NumpyArrayWrapper.read_array counts len(shape) == 0 as one
 * element, else multiply.reduce of numpy.int64(x) for each x (int64,
 * wrapping): a wrapper of dtype i8 and the shape below makes joblib read
 * count x 8 bytes after BUILD. Expected counts: numpy 2.4 on the same
 * shapes (fuzz/README.md miss table). The file is the wrapper, that many
 * bytes, then STOP: the spliced stream is the wrapper and the STOP. */
START_TEST(joblib_shape_count)
{
#define SHAPE(x, k) { x, sizeof x - 1, k }
    static const struct { const char *shape; size_t n; long count; } c_[] = {
        SHAPE("]", 1),                          /* [] */
        SHAPE("](K\x02K\x03" "e", 6),            /* [2, 3] by APPENDS */
        SHAPE("]K\x02" "a", 2),                  /* [2] by APPEND */
        SHAPE("(K\x02K\x02l", 4),                /* LIST [2, 2] */
        SHAPE("X\0\0\0\0", 1),                  /* '' */
        SHAPE("X\x02\0\0\0" "23", 6),            /* '23': int64('2') * int64('3') */
        SHAPE("}", 1),                          /* {} */
        SHAPE("C\x02\x02\x03", 6),               /* b'\x02\x03' */
        SHAPE("\x96\x01\0\0\0\0\0\0\0\x05", 5), /* bytearray(b'\x05') */
        SHAPE("(\x88K\x03t", 3),                 /* (True, 3) */
        SHAPE("(J\xff\xff\xff\xffJ\xfe\xff\xff\xfft", 2), /* (-1, -2) */
        SHAPE("(\x8a\x08\x01\0\0\0\0\0\0\x40K\x04t", 4), /* (2**62 + 1, 4) */
        SHAPE("J\xff\xff\xff\xff\x85", -1),      /* (-1,): numpy.empty raises */
        SHAPE("G?\xf0\0\0\0\0\0\0\x85", -1),     /* (1.0,): not followed */
    };
#undef SHAPE
    static const char pre[] =
        "\x80\x02" "cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}("
        "X\x08\0\0\0subclasscnumpy\nndarray\nX\x05\0\0\0shape";
    static const char post[] =
        "X\x05\0\0\0orderX\x01\0\0\0CX\x05\0\0\0dtypecnumpy\ndtype\n"
        "X\x02\0\0\0i8K\0K\x01\x87R(K\x03X\x01\0\0\0<NNN"
        "J\xff\xff\xff\xffJ\xff\xff\xff\xffK\0tbX\n\0\0\0allow_mmap\x89ub";
    pkl_walk_options o;
    collected c;
    pkl_walk_stats st;
    pkl_error err;
    for (size_t i = 0; i < sizeof c_ / sizeof c_[0]; i++) {
        uint8_t buf[512];
        size_t n = 0, w;
        memcpy(buf, pre, sizeof pre - 1);
        n += sizeof pre - 1;
        memcpy(buf + n, c_[i].shape, c_[i].n);
        n += c_[i].n;
        memcpy(buf + n, post, sizeof post - 1);
        n += sizeof post - 1;
        w = n;
        size_t data = c_[i].count > 0 ? (size_t)c_[i].count * 8 : 0;
        memset(buf + n, 'x', data);
        n += data;
        buf[n++] = '.';
        memset(&o, 0, sizeof o);
        POISON_ERR(err);
        ck_assert_int_eq(walk_mem(buf, n, &o, &c, &st, &err), 0);
        int problems = 0;
        char want[32];
        snprintf(want, sizeof want, "S .:%zu", w + 1);
        int spliced = 0;
        for (size_t k = 0; k < c.n; k++) {
            problems += c.items[k][0] == 'P';
            spliced += strcmp(c.items[k], want) == 0;
        }
        if (c_[i].count < 0) {
            ck_assert_msg(problems > 0, "shape %zu: no problem", i);
        } else {
            ck_assert_msg(problems == 0 && spliced == 1,
                          "shape %zu: count %ld not followed (%s)", i,
                          c_[i].count, c.n ? c.items[0] : "-");
        }
    }
}
END_TEST

/* joblib < 0.10: a ZF file is its zlib payload to joblib.load
 * (numpy_pickle_compat.py read_zfile: 19 bytes of int(x, 16), an optional
 * space); an NDArrayWrapper BUILD names a side file (a 601 problem); zstd
 * and LZ4 frames may start after skippable frames. Expected values: the
 * sample bytes (corpus/streams/gen/gen_streams.py) and joblib.load under
 * tests/oracle.py (tests/test_streams.py). */
START_TEST(joblib_old_and_skippable)
{
    static const char *const ok[2] = {"corpus/streams/joblib_zf.pkl",
                                      "corpus/streams/joblib_zf_spelled.pkl"};
    pkl_walk_options o;
    collected c;
    pkl_walk_stats st;
    pkl_error err;
    ck_assert_int_eq(pkl_format_detect("ZF", 2), PKL_FMT_JOBLIB_ZF);
    ck_assert_str_eq(pkl_format_name(PKL_FMT_JOBLIB_ZF), "joblib-zf");
    /* skippable frame (4 bytes), then a zstd / an LZ4 frame magic */
    ck_assert_int_eq(pkl_format_detect("\x5e\x2a\x4d\x18\x04\0\0\0abcd"
                                       "\x28\xb5\x2f\xfd", 16), PKL_FMT_ZSTD);
    ck_assert_int_eq(pkl_format_detect("\x50\x2a\x4d\x18\0\0\0\0"
                                       "\x04\x22\x4d\x18", 12), PKL_FMT_LZ4);
    /* a skippable frame longer than the input: zstd, its decoder reports */
    ck_assert_int_eq(pkl_format_detect("\x50\x2a\x4d\x18\xff\0\0\0", 8),
                     PKL_FMT_ZSTD);
    for (int i = 0; i < 2; i++) {
        size_t len;
        uint8_t *buf = slurp(ok[i], &len);
        ck_assert_ptr_nonnull(buf);
        memset(&o, 0, sizeof o);
        POISON_ERR(err);
        ck_assert_int_eq(walk_mem(buf, len, &o, &c, &st, &err), 0);
        ck_assert_uint_eq(c.n, 1);
        ck_assert_str_eq(c.items[0], "S .:21"); /* the 21-byte pickle */
        free(buf);
    }
    /* a length int() refuses and one that does not match: reported, the
     * payload still scanned */
    static const char *const bad[2] = {"ZF0x1g               ",
                                       "ZF0x5                "};
    for (int i = 0; i < 2; i++) {
        uint8_t buf[128];
        uLong n = sizeof buf - 21;
        memcpy(buf, bad[i], 21);
        ck_assert_int_eq(compress(buf + 21, &n, (const Bytef *)"N.", 2), Z_OK);
        memset(&o, 0, sizeof o);
        ck_assert_int_eq(walk_mem(buf, 21 + n, &o, &c, &st, &err), 0);
        ck_assert_uint_eq(c.n, 2);
        ck_assert_str_eq(c.items[0], "P 600@.");
        ck_assert_str_eq(c.items[1], "S .:2");
    }
    /* a side file next to the pickle and one outside it: problems */
    static const char *const side[2] = {"corpus/streams/joblib_nd_side.pkl",
                                        "corpus/streams/joblib_nd_abs.pkl"};
    for (int i = 0; i < 2; i++) {
        size_t len;
        uint8_t *buf = slurp(side[i], &len);
        ck_assert_ptr_nonnull(buf);
        memset(&o, 0, sizeof o);
        ck_assert_int_eq(walk_mem(buf, len, &o, &c, &st, &err), 0);
        ck_assert_uint_ge(c.n, 2);
        ck_assert_str_eq(c.items[0], "P 601@.");
        free(buf);
    }
}
END_TEST

Suite *suite_formats(void)
{
    Suite *s = suite_create("formats");
    TCase *t = tcase_create("manifest");
    int rows = manifest_rows();
    tcase_add_loop_test(t, manifest_file, 0, rows > 0 ? rows : 1);
    tcase_set_timeout(t, 60);
    suite_add_tcase(s, t);
    t = tcase_create("walker");
    tcase_add_test(t, empty_and_raw);
    tcase_add_test(t, unknown_is_a_problem);
    tcase_add_test(t, raw_view);
    tcase_add_test(t, raw_view_stacked);
    tcase_add_test(t, zip_bad_directory);
    tcase_add_test(t, zip_two_readers);
    tcase_add_test(t, npy_header_offset);
    tcase_add_test(t, joblib_dtype_flags);
    tcase_add_test(t, joblib_shape_count);
    tcase_add_test(t, joblib_old_and_skippable);
    tcase_add_test(t, limits);
    tcase_add_loop_test(t, out_of_memory, 0,
                        (int)(sizeof oom_files / sizeof oom_files[0]));
    tcase_set_timeout(t, 120);
    suite_add_tcase(s, t);
    return s;
}
