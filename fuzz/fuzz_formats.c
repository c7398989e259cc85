/* fuzz_formats.c -- fuzz harness for the container walker (zip, gzip, bz2,
 * xz, lzma, zlib, zstd, npy, joblib, legacy torch, shelve files).
 *
 * The first byte picks the policy (bits 0-1, fuzz_common.h), max_nesting
 * (bits 2-4: 0 = the default, else 1..7) and max_output (bits 5-7: 0 =
 * 1 MiB, else 256 << 2k bytes); max_total is 16 MiB. The defaults (64 MiB
 * per member) are not used: a bomb the limits stop at 64 MiB only slows
 * fuzzing, and the limit code is the same. The rest is walked with no
 * file-system path, so nothing is read from disk. Every stream found is
 * scanned, as `pickleguard scan` does. Checks: the walk finishes (only
 * out-of-memory may fail it), callbacks match the stats, streams and
 * problems are well formed, decompression stays under max_total. Any
 * broken promise abort()s.
 *
 * It must never filter inputs out: every byte string is a test.
 */
#include "fuzz_common.h"

typedef struct walk_ctx {
    const pkl_policy *policy;
    size_t streams, problems;
} walk_ctx;

static int on_stream(void *vctx, const pkl_stream *s, pkl_error *err)
{
    walk_ctx *ctx = vctx;
    (void)err;
    ctx->streams++;
    CHECK(s->path != NULL && s->chain != NULL);
    CHECK(s->data != NULL || s->len == 0);
    CHECK(s->format == PKL_FMT_PICKLE || s->format == PKL_FMT_TORCH_LEGACY ||
          s->format == PKL_FMT_JOBLIB || s->format == PKL_FMT_NPY);
    CHECK((s->flags & ~0x1fu) == 0); /* PKL_STREAM_FORCED..VIEW */
    CHECK((s->flags & PKL_STREAM_SEQUENCE) || s->npickles == 0);
    CHECK((s->flags & PKL_STREAM_DATA_FOLLOWS) || s->data_len == 0);

    /* touch every byte: ASan checks the stream lies in live memory */
    pkl_scan_options opt;
    pkl_scan_result res;
    pkl_error serr;
    memset(&opt, 0, sizeof opt);
    opt.policy = ctx->policy;
    pkl_scan_result_init(&res, NULL);
    CHECK(pkl_scan_buffer(s->data, s->len, s->path, &opt, &res, &serr) == 0);
    pkl_scan_result_free(&res);
    return 0;
}

static int on_problem(void *vctx, const char *path, const pkl_error *problem)
{
    walk_ctx *ctx = vctx;
    ctx->problems++;
    CHECK(path != NULL);
    CHECK(problem != NULL && problem->code != PKL_OK && problem->msg != NULL);
    int cls = pkl_error_class(problem->code);
    CHECK(cls >= 1 && cls <= 6);
    CHECK(memchr(problem->detail, '\0', sizeof problem->detail) != NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned flags = size ? data[0] : 0;
    const uint8_t *p = size ? data + 1 : data;
    size_t len = size ? size - 1 : 0;

    int fmt = pkl_format_detect(p, len);
    CHECK(fmt >= PKL_FMT_UNKNOWN && fmt < PKL_FMT__COUNT);
    CHECK(fmt != PKL_FMT_JOBLIB && fmt != PKL_FMT_TORCH_LEGACY);
    CHECK(pkl_format_name(fmt) != NULL);

    walk_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.policy = fz_policy(flags);

    unsigned k = (flags >> 5) & 7u;
    pkl_walk_options opt;
    memset(&opt, 0, sizeof opt);
    opt.max_nesting = (flags >> 2) & 7u;
    opt.max_output = k ? (size_t)256 << (2 * k) : (size_t)1 << 20;
    opt.max_total = (size_t)16 << 20;
    opt.on_stream = on_stream;
    opt.on_problem = on_problem;
    opt.ctx = &ctx;

    pkl_walk_stats st;
    pkl_error err;
    memset(&st, 0xff, sizeof st);
    memset(&err, 0xff, sizeof err);
    CHECK(pkl_walk_buffer(p, len, "in", &opt, &st, &err) == 0);
    CHECK(st.streams == ctx.streams && st.problems == ctx.problems);
    CHECK(st.bytes_out <= opt.max_total);
    return 0;
}
