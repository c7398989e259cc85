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

/* One deflate stream (zlib header or raw, by wbits) from in[0..inlen):
 * *used is what it consumed; *crc the CRC-32 of what it produced (gzip's
 * trailer check). 0 at the stream's end, -1 with *err. */
static int inflate_one(int fmt, int wbits, const uint8_t *in, size_t inlen,
                       size_t base, size_t *used, uLong *crc, outbuf *o,
                       pkl_error *err)
{
    z_stream zs;
    int rc = -1;
    memset(&zs, 0, sizeof zs);
    *used = 0;
    *crc = crc32(0L, Z_NULL, 0);
    if (inflateInit2(&zs, wbits) != Z_OK) {
        pkli_error_setf(err, PKL_E_NOMEM, base, -1, "%s: cannot start the "
                        "decoder", fmt_label(fmt));
        return -1;
    }
    for (;;) {
        int r = ob_room(o);
        if (r < 0) {
            if (r == -1)
                pkli_error_setf(err, PKL_E_NOMEM, base + *used, -1,
                                "%s output buffer", fmt_label(fmt));
            else
                pkli_error_setf(err, PKL_E_LIMIT_OUTPUT, base + *used, -1,
                                "%s data decompresses to more than %zu "
                                "bytes (limit)", fmt_label(fmt), o->limit);
            break;
        }
        size_t in_chunk = inlen - *used > UINT_MAX ? UINT_MAX : inlen - *used;
        size_t out_chunk = o->cap - o->len > UINT_MAX ? UINT_MAX : o->cap - o->len;
        zs.next_in = (Bytef *)(uintptr_t)(in + *used);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = o->p + o->len;
        zs.avail_out = (uInt)out_chunk;
        int zr = inflate(&zs, Z_NO_FLUSH);
        size_t made = out_chunk - zs.avail_out;
        *crc = crc32(*crc, o->p + o->len, (uInt)made);
        *used += in_chunk - zs.avail_in;
        o->len += made;
        if (zr == Z_STREAM_END) {
            rc = 0;
            break;
        }
        if (zr == Z_BUF_ERROR && *used == inlen && zs.avail_out != 0) {
            pkli_error_setf(err, PKL_E_TRUNCATED, base + *used, -1,
                            "%s data ends before its end marker after %zu "
                            "bytes of output", fmt_label(fmt), o->len);
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            if (zr == Z_MEM_ERROR)
                pkli_error_setf(err, PKL_E_NOMEM, base + *used, -1,
                                "%s decoder", fmt_label(fmt));
            else
                pkli_error_setf(err, PKL_E_FORMAT, base + *used, -1,
                                "%s data is corrupt: %s", fmt_label(fmt),
                                zs.msg ? zs.msg : "decoder error");
            break;
        }
    }
    inflateEnd(&zs);
    return rc;
}

/* zlib (joblib's 'zlib' compressor: zlib.decompressobj, one stream) and
 * raw deflate (zip method 8). */
static int run_zlib(int fmt, const uint8_t *in, size_t inlen, outbuf *o,
                    pkl_error *err)
{
    size_t used;
    uLong crc;
    return inflate_one(fmt, fmt == PKL_FMT_ZLIB ? MAX_WBITS : -MAX_WBITS, in,
                       inlen, 0, &used, &crc, o, err);
}

/* gzip as gzip.open reads it (Lib/gzip.py _GzipReader.read,
 * _read_gzip_header, _read_eof): per member the 10-byte header (method 8;
 * FEXTRA, FNAME, FCOMMENT skipped; FHCRC's two bytes skipped unchecked;
 * reserved flag bits ignored), raw deflate, CRC-32 and ISIZE checked;
 * then zero bytes are skipped and the next member starts if anything
 * follows. A member that does not start with the magic ends the stream
 * (BadGzipFile, raised after the data before it was read). Returns the
 * header's problems as PKL_E_FORMAT / PKL_E_TRUNCATED. */
static int run_gzip(const uint8_t *in, size_t inlen, outbuf *o, pkl_error *err)
{
    size_t pos = 0;
    for (int member = 0;; member++) {
        if (pos == inlen)
            return 0;
        size_t start = pos;
        if (inlen - pos < 2 || in[pos] != 0x1f || in[pos + 1] != 0x8b) {
            if (member == 0) {
                pkli_error_setf(err, PKL_E_FORMAT, pos, -1, "gzip: not a "
                                "gzipped file");
                return -1;
            }
            return 0; /* BadGzipFile after every member before was read */
        }
        if (inlen - pos < 10) {
            pkli_error_setf(err, PKL_E_TRUNCATED, inlen, -1,
                            "gzip: member header at offset %zu cut short", start);
            return -1;
        }
        uint8_t method = in[pos + 2], flag = in[pos + 3];
        pos += 10;
        if (method != 8) {
            pkli_error_setf(err, PKL_E_FORMAT, start + 2, -1,
                            "gzip: unknown compression method %u", method);
            return -1;
        }
        if (flag & 4) { /* FEXTRA */
            size_t xl = inlen - pos >= 2 ? pkli_dec16le(in + pos) : SIZE_MAX;
            if (xl == SIZE_MAX || xl > inlen - pos - 2) {
                pkli_error_setf(err, PKL_E_TRUNCATED, inlen, -1,
                                "gzip: extra field cut short");
                return -1;
            }
            pos += 2 + xl;
        }
        for (int f = 8; f <= 16; f <<= 1) { /* FNAME, FCOMMENT: to a NUL */
            if (!(flag & f))
                continue;
            const uint8_t *z = memchr(in + pos, 0, inlen - pos);
            pos = z ? (size_t)(z - in) + 1 : inlen;
        }
        if (flag & 2) { /* FHCRC: read, never checked */
            if (inlen - pos < 2) {
                pkli_error_setf(err, PKL_E_TRUNCATED, inlen, -1,
                                "gzip: header CRC cut short");
                return -1;
            }
            pos += 2;
        }
        size_t used, before = o->len;
        uLong crc;
        if (inflate_one(PKL_FMT_GZIP, -MAX_WBITS, in + pos, inlen - pos, pos,
                        &used, &crc, o, err) < 0)
            return -1;
        pos += used;
        if (inlen - pos < 8) {
            pkli_error_setf(err, PKL_E_TRUNCATED, inlen, -1,
                            "gzip: member at offset %zu has no complete "
                            "trailer", start);
            return -1;
        }
        if (pkli_dec32le(in + pos) != (uint32_t)crc ||
            pkli_dec32le(in + pos + 4) != (uint32_t)(o->len - before)) {
            pkli_error_setf(err, PKL_E_FORMAT, pos, -1,
                            "gzip: member at offset %zu fails its CRC or "
                            "length check", start);
            return -1;
        }
        pos += 8;
        while (pos < inlen && in[pos] == 0)
            pos++;
    }
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

/* One liblzma stream from in[0..inlen) with a decoder already set up.
 * *used is what it consumed. 0 at the stream's end, -1 with *err. */
static int lzma_one(int fmt, lzma_stream *ls, const uint8_t *in,
                    size_t inlen, size_t base, size_t *used, outbuf *o,
                    pkl_error *err)
{
    ls->next_in = in;
    ls->avail_in = inlen;
    for (;;) {
        int r = ob_room(o);
        if (r < 0) {
            *used = inlen - ls->avail_in;
            if (r == -1)
                pkli_error_setf(err, PKL_E_NOMEM, base + *used, -1,
                                "%s output", fmt_label(fmt));
            else
                pkli_error_setf(err, PKL_E_LIMIT_OUTPUT, base + *used,
                                -1, "%s data decompresses to more than %zu "
                                "bytes (limit)", fmt_label(fmt), o->limit);
            return -1;
        }
        size_t before = o->cap - o->len;
        ls->next_out = o->p + o->len;
        ls->avail_out = before;
        lzma_ret lr = lzma_code(ls, ls->avail_in ? LZMA_RUN : LZMA_FINISH);
        o->len += before - ls->avail_out;
        *used = inlen - ls->avail_in;
        if (lr == LZMA_STREAM_END)
            return 0;
        if (lr == LZMA_OK)
            continue;
        if (lr == LZMA_BUF_ERROR)
            pkli_error_setf(err, PKL_E_TRUNCATED, base + *used, -1,
                            "%s data ends before its end marker after %zu "
                            "bytes of output", fmt_label(fmt), o->len);
        else
            pkli_error_setf(err,
                            lr == LZMA_MEM_ERROR ? PKL_E_NOMEM
                            : lr == LZMA_MEMLIMIT_ERROR ? PKL_E_LIMIT_OUTPUT
                                                        : PKL_E_FORMAT,
                            base + *used, -1, "%s data is corrupt or "
                            "unsupported (liblzma error %d)", fmt_label(fmt),
                            (int)lr);
        return -1;
    }
}

/* zip method 14: version (2), properties size (2), LZMA1 properties, raw
 * LZMA1 data. */
static int run_zip_lzma(const uint8_t *in, size_t inlen, outbuf *o,
                        pkl_error *err)
{
    lzma_stream ls = LZMA_STREAM_INIT;
    lzma_filter filters[2];
    size_t psize = inlen >= 4 ? pkli_dec16le(in + 2) : 0, used;
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
    lzma_ret lr = lzma_raw_decoder(&ls, filters);
    free(filters[0].options);
    if (lr != LZMA_OK) {
        pkli_error_setf(err, PKL_E_NOMEM, 0, -1, "zip lzma: cannot start the "
                        "decoder");
        return -1;
    }
    int rc = lzma_one(PKLI_ZIP_LZMA, &ls, in + 9, inlen - 9, 9, &used, o, err);
    lzma_end(&ls);
    return rc;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* .xz, .lzma and .lz as lzma.open / lzma.LZMAFile (joblib too) read them
 * (Lib/_compression.py DecompressReader.read): one stream per
 * LZMADecompressor(FORMAT_AUTO) -- liblzma's lzma_auto_decoder picks xz,
 * lzip or LZMA_Alone by the first byte -- and, while input remains after a
 * stream's end, a fresh decompressor on the rest; if that one fails on
 * its first input, the rest is trailing junk (`_trailing_error`), read no
 * further. So xz stream padding stops the reading (the zeros are no
 * stream) and an .lzma stream after an .xz one is read. */
static int run_lzma_auto(int fmt, const uint8_t *in, size_t inlen,
                         outbuf *o, pkl_error *err)
{
    size_t pos = 0;
    for (int stream = 0; pos < inlen || stream == 0; stream++) {
        lzma_stream ls = LZMA_STREAM_INIT;
        size_t used = 0, before = o->len;
        if (lzma_auto_decoder(&ls, LZMA_MEMLIMIT, 0) != LZMA_OK) {
            pkli_error_setf(err, PKL_E_NOMEM, pos, -1,
                            "%s: cannot start the decoder", fmt_label(fmt));
            return -1;
        }
        int rc = lzma_one(fmt, &ls, in + pos, inlen - pos, pos, &used, o, err);
        lzma_end(&ls);
        if (rc < 0) {
            /* a later stream that fails before giving anything is trailing
             * junk to Python (zeros of stream padding end as "ended before
             * the end-of-stream marker", after everything was read) */
            if (stream > 0 && o->len == before &&
                (err->code == PKL_E_FORMAT || all_zero(in + pos, inlen - pos))) {
                pkli_error_clear(err);
                return 0;
            }
            return -1;
        }
        pos += used;
    }
    return 0;
}

/* Non-zero when lzma.open (liblzma's lzma_auto_decoder) reads buf as an
 * LZMA_Alone (.lzma) or lzip (.lz) stream that yields data. First the
 * header is fed to the decoder itself with a 1-byte memory limit, so it
 * stops with LZMA_MEMLIMIT_ERROR right after accepting the header
 * (alone_decoder.c's "picky" checks: lc/lp/pb, a dictionary size of 2^n or
 * 2^n + 2^(n-1), a known size below 2^38; lzip_decoder.c: magic, version,
 * dictionary) and with LZMA_FORMAT_ERROR / LZMA_OPTIONS_ERROR otherwise.
 * Then the first 64 bytes are decoded: data that fails there (raw floats
 * whose first bytes pass the header checks fail the range coder's zero
 * first byte), or that ends before giving a byte, gives lzma.open
 * nothing to read, so it is no .lzma. */
int pkli_lzma_alone_sniff(const uint8_t *b, size_t len)
{
    if (len < 6 || (b[0] > 224 && b[0] != 'L'))
        return 0;
    lzma_stream ls = LZMA_STREAM_INIT;
    uint8_t out[256];
    if (lzma_auto_decoder(&ls, 1, 0) != LZMA_OK)
        return 0;
    ls.next_in = b;
    ls.avail_in = len < 32 ? len : 32;
    ls.next_out = out;
    ls.avail_out = sizeof out;
    lzma_ret lr = lzma_code(&ls, LZMA_RUN);
    lzma_end(&ls);
    if (lr != LZMA_MEMLIMIT_ERROR || b[0] == 0xfd)
        return 0;
    lzma_stream ds = LZMA_STREAM_INIT;
    if (lzma_auto_decoder(&ds, LZMA_MEMLIMIT, 0) != LZMA_OK)
        return 1;
    ds.next_in = b;
    ds.avail_in = len < 64 ? len : 64;
    size_t made = 0;
    do {
        ds.next_out = out;
        ds.avail_out = sizeof out;
        lr = lzma_code(&ds, LZMA_RUN);
        made += sizeof out - ds.avail_out;
    } while (lr == LZMA_OK && ds.avail_in && ds.avail_out == 0);
    lzma_end(&ds);
    if (lr == LZMA_MEMLIMIT_ERROR || lr == LZMA_MEM_ERROR)
        return 1; /* Python has no such limit: it would go on */
    /* output, or more input to come; not a stream that ends or fails
     * before giving a byte (zeros are an empty .lzma stream to liblzma) */
    return (lr == LZMA_OK || lr == LZMA_STREAM_END) &&
           (made > 0 || (lr == LZMA_OK && len > 64));
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
        rc = run_gzip(in, inlen, &o, err);
        break;
    case PKL_FMT_ZLIB:
    case PKLI_RAW_DEFLATE:
        rc = run_zlib(fmt, in, inlen, &o, err);
        break;
    case PKL_FMT_BZIP2:
        rc = run_bz2(in, inlen, &o, err);
        break;
    case PKL_FMT_XZ:
    case PKL_FMT_LZMA:
        rc = run_lzma_auto(fmt, in, inlen, &o, err);
        break;
    case PKLI_ZIP_LZMA:
        rc = run_zip_lzma(in, inlen, &o, err);
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
