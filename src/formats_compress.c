/* formats_compress.c -- streamed decompression for the container walker:
 * gzip, zlib, raw deflate (zip members), bzip2, xz, lzma-alone, zstd,
 * LZ4 frames.
 *
 * Output grows in steps and never past the caller's limit, so a
 * decompression bomb ends as PKL_E_LIMIT_OUTPUT after at most `limit`
 * bytes, not as an out-of-memory. Decoder memory is bounded too (xz
 * memlimit, zstd window limit). It must never trust a size the compressed
 * data declares, and never print.
 */
#include "formats_internal.h"

#include <bzlib.h>
#include <lz4frame.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#define CHUNK ((size_t)1 << 16)
/* liblzma / zstd decoder memory: enough for every preset xz and python's
 * lzma/zstd use, far below what an attacker would like */
#define LZMA_MEMLIMIT ((uint64_t)256 << 20)
#define ZSTD_WINDOWLOG_MAX 27

/* Output buffer that refuses to grow past limit. */
typedef struct outbuf {
    uint8_t *p;
    size_t len, cap, limit;
    const pkl_allocator *a;
} outbuf;

/* Makes room for at least one more byte. 0, -1 (no memory), -2 (limit). */
static int ob_room(outbuf *o)
{
    if (o->len < o->cap)
        return 0;
    if (o->cap >= o->limit)
        return -2;
    size_t ncap = o->cap ? o->cap * 2 : CHUNK;
    if (ncap < o->cap || ncap > o->limit)
        ncap = o->limit;
    uint8_t *np = pkli_realloc(o->a, o->p, ncap);
    if (!np)
        return -1;
    o->p = np;
    o->cap = ncap;
    return 0;
}

static const char *fmt_label(int fmt)
{
    return fmt == PKLI_RAW_DEFLATE ? "deflate"
         : fmt == PKLI_ZIP_LZMA    ? "zip lzma"
                                   : pkl_format_name(fmt);
}

/* zlib family: gzip (multi-member), zlib, raw deflate. */
static int run_zlib(int fmt, const uint8_t *in, size_t inlen, outbuf *o,
                    pkl_error *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    int wbits = fmt == PKL_FMT_GZIP ? 16 + MAX_WBITS
              : fmt == PKL_FMT_ZLIB ? MAX_WBITS : -MAX_WBITS;
    size_t used = 0;
    int rc = -1;
    if (inflateInit2(&zs, wbits) != Z_OK) {
        pkli_error_setf(err, PKL_E_NOMEM, 0, -1, "%s: cannot start the decoder",
                        fmt_label(fmt));
        return -1;
    }
    for (;;) {
        int r = ob_room(o);
        if (r < 0)
            goto room;
        size_t in_chunk = inlen - used > UINT_MAX ? UINT_MAX : inlen - used;
        size_t out_chunk = o->cap - o->len > UINT_MAX ? UINT_MAX : o->cap - o->len;
        zs.next_in = (Bytef *)(uintptr_t)(in + used);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = o->p + o->len;
        zs.avail_out = (uInt)out_chunk;
        int zr = inflate(&zs, Z_NO_FLUSH);
        used += in_chunk - zs.avail_in;
        o->len += out_chunk - zs.avail_out;
        if (zr == Z_STREAM_END) {
            /* gzip: another member may follow (gzip.decompress reads them
             * all); anything else after the end is ignored like Python */
            if (fmt == PKL_FMT_GZIP && inlen - used >= 2 && in[used] == 0x1f &&
                in[used + 1] == 0x8b) {
                inflateReset(&zs);
                continue;
            }
            break;
        }
        if (zr == Z_BUF_ERROR && used == inlen && zs.avail_out != 0) {
            pkli_error_setf(err, PKL_E_TRUNCATED, used, -1,
                            "%s data ends before its end marker after %zu "
                            "bytes of output", fmt_label(fmt), o->len);
            goto out;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            if (zr == Z_MEM_ERROR)
                pkli_error_setf(err, PKL_E_NOMEM, used, -1, "%s decoder",
                                fmt_label(fmt));
            else
                pkli_error_setf(err, PKL_E_FORMAT, used, -1, "%s data is "
                                "corrupt: %s", fmt_label(fmt),
                                zs.msg ? zs.msg : "decoder error");
            goto out;
        }
        continue;
    room:
        if (r == -1)
            pkli_error_setf(err, PKL_E_NOMEM, used, -1,
                            "%s output buffer", fmt_label(fmt));
        else
            pkli_error_setf(err, PKL_E_LIMIT_OUTPUT, used, -1,
                            "%s data decompresses to more than %zu bytes "
                            "(limit)", fmt_label(fmt), o->limit);
        goto out;
    }
    rc = 0;
out:
    inflateEnd(&zs);
    return rc;
}

static int run_bz2(const uint8_t *in, size_t inlen, outbuf *o, pkl_error *err)
{
    bz_stream bs;
    size_t used = 0;
    int rc = -1, started = 0;
    for (;;) {
        if (!started) {
            memset(&bs, 0, sizeof bs);
            if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK) {
                pkli_error_setf(err, PKL_E_NOMEM, used, -1,
                                "bzip2: cannot start the decoder");
                return -1;
            }
            started = 1;
        }
        int r = ob_room(o);
        if (r < 0) {
            if (r == -1)
                pkli_error_setf(err, PKL_E_NOMEM, used, -1, "bzip2 output");
            else
                pkli_error_setf(err, PKL_E_LIMIT_OUTPUT, used, -1,
                                "bzip2 data decompresses to more than %zu "
                                "bytes (limit)", o->limit);
            goto out;
        }
        size_t in_chunk = inlen - used > UINT_MAX ? UINT_MAX : inlen - used;
        size_t out_chunk = o->cap - o->len > UINT_MAX ? UINT_MAX : o->cap - o->len;
        bs.next_in = (char *)(uintptr_t)(in + used);
        bs.avail_in = (unsigned)in_chunk;
        bs.next_out = (char *)(o->p + o->len);
        bs.avail_out = (unsigned)out_chunk;
        int br = BZ2_bzDecompress(&bs);
        used += in_chunk - bs.avail_in;
        o->len += out_chunk - bs.avail_out;
        if (br == BZ_STREAM_END) {
            BZ2_bzDecompressEnd(&bs);
            started = 0;
            /* bz2.decompress reads concatenated streams */
            if (inlen - used >= 3 && memcmp(in + used, "BZh", 3) == 0)
                continue;
            break;
        }
        if (br != BZ_OK) {
            pkli_error_setf(err, br == BZ_MEM_ERROR ? PKL_E_NOMEM : PKL_E_FORMAT,
                            used, -1, "bzip2 data is corrupt (error %d)", br);
            goto out;
        }
        if (used == inlen && bs.avail_out != 0) {
            pkli_error_setf(err, PKL_E_TRUNCATED, used, -1,
                            "bzip2 data ends before its end marker after %zu "
                            "bytes of output", o->len);
            goto out;
        }
    }
    rc = 0;
out:
    if (started)
        BZ2_bzDecompressEnd(&bs);
    return rc;
}

static int run_lzma(int fmt, const uint8_t *in, size_t inlen, outbuf *o,
                    pkl_error *err)
{
    lzma_stream ls = LZMA_STREAM_INIT;
    lzma_ret lr;
    int rc = -1;
    size_t skip = 0;
    if (fmt == PKLI_ZIP_LZMA) {
        /* zip method 14: version (2), properties size (2), properties */
        lzma_filter filters[2];
        size_t psize = inlen >= 4 ? pkli_dec16le(in + 2) : 0;
        if (inlen < 4 || psize != 5 || inlen - 4 < psize) {
            pkli_error_setf(err, PKL_E_FORMAT, 0, -1,
                            "zip lzma member: bad properties header");
            return -1;
        }
        memset(filters, 0, sizeof filters);
        filters[0].id = LZMA_FILTER_LZMA1;
        filters[1].id = LZMA_VLI_UNKNOWN;
        if (lzma_properties_decode(&filters[0], NULL, in + 4, psize) != LZMA_OK) {
            pkli_error_setf(err, PKL_E_FORMAT, 4, -1,
                            "zip lzma member: bad LZMA1 properties");
            return -1;
        }
        uint32_t dict = ((lzma_options_lzma *)filters[0].options)->dict_size;
        if (dict > LZMA_MEMLIMIT / 2) {
            free(filters[0].options);
            pkli_error_setf(err, PKL_E_LIMIT_OUTPUT, 4, -1,
                            "zip lzma member: dictionary of %u bytes (limit)",
                            (unsigned)dict);
            return -1;
        }
        lr = lzma_raw_decoder(&ls, filters);
        free(filters[0].options);
        skip = 4 + psize;
    } else {
        lr = fmt == PKL_FMT_XZ
                 ? lzma_stream_decoder(&ls, LZMA_MEMLIMIT, LZMA_CONCATENATED)
                 : lzma_alone_decoder(&ls, LZMA_MEMLIMIT);
    }
    if (lr != LZMA_OK) {
        pkli_error_setf(err, PKL_E_NOMEM, 0, -1, "%s: cannot start the decoder",
                        fmt_label(fmt));
        return -1;
    }
    ls.next_in = in + skip;
    ls.avail_in = inlen - skip;
    for (;;) {
        int r = ob_room(o);
        if (r < 0) {
            if (r == -1)
                pkli_error_setf(err, PKL_E_NOMEM, inlen - ls.avail_in, -1,
                                "%s output", fmt_label(fmt));
            else
                pkli_error_setf(err, PKL_E_LIMIT_OUTPUT, inlen - ls.avail_in,
                                -1, "%s data decompresses to more than %zu "
                                "bytes (limit)", fmt_label(fmt), o->limit);
            goto out;
        }
        size_t before = o->cap - o->len;
        ls.next_out = o->p + o->len;
        ls.avail_out = before;
        lr = lzma_code(&ls, ls.avail_in ? LZMA_RUN : LZMA_FINISH);
        o->len += before - ls.avail_out;
        if (lr == LZMA_STREAM_END)
            break;
        if (lr == LZMA_OK || lr == LZMA_BUF_ERROR) {
            if (lr == LZMA_BUF_ERROR) {
                pkli_error_setf(err, PKL_E_TRUNCATED, inlen - ls.avail_in, -1,
                                "%s data ends before its end marker after %zu "
                                "bytes of output", fmt_label(fmt), o->len);
                goto out;
            }
            continue;
        }
        pkli_error_setf(err,
                        lr == LZMA_MEM_ERROR ? PKL_E_NOMEM
                        : lr == LZMA_MEMLIMIT_ERROR ? PKL_E_LIMIT_OUTPUT
                                                    : PKL_E_FORMAT,
                        inlen - ls.avail_in, -1,
                        "%s data is corrupt or unsupported (liblzma error %d)",
                        fmt_label(fmt), (int)lr);
        goto out;
    }
    rc = 0;
out:
    lzma_end(&ls);
    return rc;
}

static int run_zstd(const uint8_t *in, size_t inlen, outbuf *o, pkl_error *err)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    int rc = -1;
    if (!d) {
        pkli_error_setf(err, PKL_E_NOMEM, 0, -1, "zstd: cannot start the decoder");
        return -1;
    }
    ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, ZSTD_WINDOWLOG_MAX);
    ZSTD_inBuffer ib = { in, inlen, 0 };
    size_t last = 1; /* 0 once a frame is complete */
    for (;;) {
        int r = ob_room(o);
        if (r < 0) {
            if (r == -1)
                pkli_error_setf(err, PKL_E_NOMEM, ib.pos, -1, "zstd output");
            else
                pkli_error_setf(err, PKL_E_LIMIT_OUTPUT, ib.pos, -1,
                                "zstd data decompresses to more than %zu "
                                "bytes (limit)", o->limit);
            goto out;
        }
        ZSTD_outBuffer ob = { o->p, o->cap, o->len };
        size_t before_in = ib.pos;
        last = ZSTD_decompressStream(d, &ob, &ib);
        size_t produced = ob.pos - o->len;
        o->len = ob.pos;
        if (ZSTD_isError(last)) {
            pkli_error_setf(err, PKL_E_FORMAT, ib.pos, -1,
                            "zstd data is corrupt: %s", ZSTD_getErrorName(last));
            goto out;
        }
        if (last == 0 && ib.pos == ib.size)
            break;
        if (ib.pos == ib.size && produced == 0 && before_in == ib.pos &&
            o->len < o->cap) {
            pkli_error_setf(err, PKL_E_TRUNCATED, ib.pos, -1,
                            "zstd data ends inside a frame after %zu bytes "
                            "of output", o->len);
            goto out;
        }
    }
    rc = 0;
out:
    ZSTD_freeDCtx(d);
    return rc;
}

/* LZ4 frame format: every frame (and skippable frame) in the input. The
 * decoder's memory is bounded by the format (blocks of at most 4 MiB). */
static int run_lz4(const uint8_t *in, size_t inlen, outbuf *o, pkl_error *err)
{
    LZ4F_dctx *d = NULL;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)) || !d) {
        pkli_error_setf(err, PKL_E_NOMEM, 0, -1, "lz4: cannot start the decoder");
        return -1;
    }
    int rc = -1;
    size_t pos = 0;
    size_t hint = 1; /* 0 once a frame is complete */
    while (pos < inlen || hint != 0) {
        int r = ob_room(o);
        if (r < 0) {
            if (r == -1)
                pkli_error_setf(err, PKL_E_NOMEM, pos, -1, "lz4 output");
            else
                pkli_error_setf(err, PKL_E_LIMIT_OUTPUT, pos, -1,
                                "lz4 data decompresses to more than %zu "
                                "bytes (limit)", o->limit);
            goto out;
        }
        size_t dst = o->cap - o->len;
        size_t src = inlen - pos;
        hint = LZ4F_decompress(d, o->p + o->len, &dst, in + pos, &src, NULL);
        pos += src;
        o->len += dst;
        if (LZ4F_isError(hint)) {
            pkli_error_setf(err, PKL_E_FORMAT, pos, -1,
                            "lz4 data is corrupt: %s", LZ4F_getErrorName(hint));
            goto out;
        }
        if (hint != 0 && pos == inlen && src == 0 && dst == 0) {
            pkli_error_setf(err, PKL_E_TRUNCATED, pos, -1,
                            "lz4 data ends inside a frame after %zu bytes of "
                            "output", o->len);
            goto out;
        }
    }
    rc = 0;
out:
    LZ4F_freeDecompressionContext(d);
    return rc;
}

static int decompress(int fmt, const uint8_t *in, size_t inlen,
                      const pkl_allocator *a, size_t limit, int peek,
                      uint8_t **out, size_t *outlen, pkl_error *err)
{
    outbuf o = { NULL, 0, 0, limit ? limit : 1, a };
    int rc;
    *out = NULL;
    *outlen = 0;
    switch (fmt) {
    case PKL_FMT_GZIP:
    case PKL_FMT_ZLIB:
    case PKLI_RAW_DEFLATE:
        rc = run_zlib(fmt, in, inlen, &o, err);
        break;
    case PKL_FMT_BZIP2:
        rc = run_bz2(in, inlen, &o, err);
        break;
    case PKL_FMT_XZ:
    case PKL_FMT_LZMA:
    case PKLI_ZIP_LZMA:
        rc = run_lzma(fmt, in, inlen, &o, err);
        break;
    case PKL_FMT_ZSTD:
        rc = run_zstd(in, inlen, &o, err);
        break;
    case PKL_FMT_LZ4:
        rc = run_lz4(in, inlen, &o, err);
        break;
    default:
        pkli_error_setf(err, PKL_E_INTERNAL, 0, -1,
                        "no decompressor for format %d", fmt);
        rc = -1;
        break;
    }
    if (rc < 0 && peek && err && err->code == PKL_E_LIMIT_OUTPUT)
        rc = 0; /* the prefix asked for is there */
    if (rc < 0) {
        /* truncated, corrupt or over the limit: what was decoded before
         * the problem is handed back (a streaming pickle.load would have
         * run it) */
        if (o.len && (err->code == PKL_E_TRUNCATED ||
                      err->code == PKL_E_FORMAT ||
                      err->code == PKL_E_LIMIT_OUTPUT)) {
            *out = o.p;
            *outlen = o.len;
        } else {
            pkli_free(a, o.p);
        }
        return -1;
    }
    if (!o.p) { /* empty output: still hand back a buffer */
        o.p = pkli_malloc(a, 1);
        if (!o.p) {
            pkli_error_setf(err, PKL_E_NOMEM, inlen, -1, "decompression");
            return -1;
        }
    }
    *out = o.p;
    *outlen = o.len;
    pkli_error_clear(err);
    return 0;
}

int pkli_decompress(int fmt, const uint8_t *in, size_t inlen,
                    const pkl_allocator *a, size_t limit, uint8_t **out,
                    size_t *outlen, pkl_error *err)
{
    return decompress(fmt, in, inlen, a, limit, 0, out, outlen, err);
}

int pkli_decompress_prefix(int fmt, const uint8_t *in, size_t inlen,
                           const pkl_allocator *a, size_t n, uint8_t **out,
                           size_t *outlen, pkl_error *err)
{
    pkl_error local;
    return decompress(fmt, in, inlen, a, n, 1, out, outlen, err ? err : &local);
}
