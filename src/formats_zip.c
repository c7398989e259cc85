/* formats_zip.c -- a lenient, read-only zip reader for the walker.
 *
 * Why our own: the scanner must see at least every member PyTorch's reader
 * (miniz, built with MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS) would hand to
 * the unpickler, so it must be at least as lenient as miniz: CRCs are never
 * checked, general purpose flag bits (encryption included) are ignored, the
 * local header contributes only the offset of the data (its name, sizes
 * and flags may disagree with the central directory), zip64 is read, and
 * bytes before the archive are accepted both with absolute offsets (miniz)
 * and with offsets relative to the archive (Python's zipfile `concat`).
 * When the central directory is unusable, entries are found by walking the
 * local headers from the start so their contents are still scanned.
 * docs/formats.md lists each choice. It must never read outside the buffer
 * or trust a size before comparing it with what remains.
 */
#include "formats_internal.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define EOCD_LEN 22u
#define CDH_LEN 46u
#define LFH_LEN 30u

int pkli_zip_sniff(const uint8_t *buf, size_t len)
{
    if (len >= 4 && pkli_dec32le(buf) == SIG_LOCAL)
        return 1;
    if (len >= EOCD_LEN && pkli_dec32le(buf) == SIG_EOCD)
        return 1; /* empty archive */
    if (len < EOCD_LEN)
        return 0;
    size_t lo = len > 65535 + EOCD_LEN ? len - 65535 - EOCD_LEN : 0;
    for (size_t p = len - EOCD_LEN + 1; p-- > lo;) {
        if (buf[p] == 'P' && pkli_dec32le(buf + p) == SIG_EOCD) {
            /* the comment length must reach the end exactly (a stray
             * signature inside other data rarely does) */
            size_t clen = pkli_dec16le(buf + p + 20);
            if (p + EOCD_LEN + clen == len)
                return 1;
        }
    }
    return 0;
}

/* Finds the end record, preferring the last one whose comment fits. */
static int find_eocd(const uint8_t *buf, size_t len, size_t *at)
{
    if (len < EOCD_LEN)
        return -1;
    size_t lo = len > 65535 + EOCD_LEN ? len - 65535 - EOCD_LEN : 0;
    size_t loose = SIZE_MAX;
    for (size_t p = len - EOCD_LEN + 1; p-- > lo;) {
        if (buf[p] != 'P' || pkli_dec32le(buf + p) != SIG_EOCD)
            continue;
        size_t clen = pkli_dec16le(buf + p + 20);
        if (p + EOCD_LEN + clen == len) {
            *at = p;
            return 0;
        }
        if (loose == SIZE_MAX)
            loose = p; /* miniz accepts a comment that does not reach the end */
    }
    if (loose != SIZE_MAX) {
        *at = loose;
        return 0;
    }
    return -1;
}

int pkli_zip_open(pkli_zip *z, const uint8_t *buf, size_t len, pkl_error *err)
{
    memset(z, 0, sizeof *z);
    z->buf = buf;
    z->len = len;
    size_t e;
    uint64_t count, cd_size, cd_off;
    size_t eocd_at;
    if (find_eocd(buf, len, &e) < 0) {
        pkli_error_setf(err, PKL_E_FORMAT, len, -1,
                        "zip: no end of central directory record");
        goto fallback;
    }
    eocd_at = e;
    count = pkli_dec16le(buf + e + 10);
    cd_size = pkli_dec32le(buf + e + 12);
    cd_off = pkli_dec32le(buf + e + 16);
    /* zip64: a locator 20 bytes before the end record */
    if (e >= 20 && pkli_dec32le(buf + e - 20) == SIG_LOC64) {
        uint64_t r64 = pkli_dec64le(buf + e - 20 + 8);
        size_t r64_at = (size_t)r64;
        /* python's zipfile finds the zip64 record right before the locator
         * when the offset is shifted by prepended bytes */
        if (r64 > len || len - (size_t)r64 < 56 ||
            pkli_dec32le(buf + (size_t)r64) != SIG_EOCD64) {
            r64_at = e - 20 >= 56 ? e - 20 - 56 : SIZE_MAX;
            if (r64_at == SIZE_MAX || pkli_dec32le(buf + r64_at) != SIG_EOCD64) {
                pkli_error_setf(err, PKL_E_FORMAT, e - 20, -1,
                                "zip64: end of central directory record not "
                                "found at offset %llu", (unsigned long long)r64);
                goto fallback;
            }
        }
        count = pkli_dec64le(buf + r64_at + 32);
        cd_size = pkli_dec64le(buf + r64_at + 40);
        cd_off = pkli_dec64le(buf + r64_at + 48);
        eocd_at = r64_at;
    }
    if (cd_size > eocd_at) {
        pkli_error_setf(err, PKL_E_FORMAT, e, -1,
                        "zip: central directory size %llu exceeds the %zu "
                        "bytes before the end record",
                        (unsigned long long)cd_size, eocd_at);
        goto fallback;
    }
    /* Where the directory really is: at its offset (miniz reads offsets
     * as absolute), else right before the end record with every offset
     * shifted by the bytes prepended to the archive (zipfile's concat). */
    {
        size_t expect = eocd_at - (size_t)cd_size;
        if (cd_off <= expect && (cd_size == 0 ||
                                 pkli_dec32le(buf + (size_t)cd_off) == SIG_CENTRAL)) {
            z->shift = 0;
            z->cd_pos = (size_t)cd_off;
            z->cd_end = (size_t)cd_off + (size_t)cd_size;
        } else if (cd_off < expect &&
                   pkli_dec32le(buf + expect) == SIG_CENTRAL) {
            z->shift = expect - (size_t)cd_off;
            z->cd_pos = expect;
            z->cd_end = eocd_at;
        } else {
            pkli_error_setf(err, PKL_E_FORMAT, e, -1,
                            "zip: no central directory at offset %llu",
                            (unsigned long long)cd_off);
            goto fallback;
        }
    }
    if (count > cd_size / CDH_LEN) {
        pkli_error_setf(err, PKL_E_FORMAT, e, -1,
                        "zip: %llu entries cannot fit a %llu-byte central "
                        "directory", (unsigned long long)count,
                        (unsigned long long)cd_size);
        goto fallback;
    }
    z->count = count;
    pkli_error_clear(err);
    return 0;
fallback:
    if (len >= 4 && pkli_dec32le(buf) == SIG_LOCAL) {
        z->local_mode = 1;
        z->local_pos = 0;
        z->shift = 0;
        return 1;
    }
    return -1;
}

/* zip64 extra field: replaces the fields that are 0xFFFFFFFF, in order. */
static void apply_zip64(const uint8_t *x, size_t xlen, pkli_zip_entry *e,
                        int usz, int csz, int off)
{
    while (xlen >= 4) {
        unsigned id = pkli_dec16le(x), n = pkli_dec16le(x + 2);
        if (n > xlen - 4)
            return;
        if (id == 0x0001) {
            const uint8_t *p = x + 4;
            size_t left = n;
            if (usz && left >= 8) {
                e->uncomp_size = pkli_dec64le(p);
                p += 8;
                left -= 8;
            }
            if (csz && left >= 8) {
                e->comp_size = pkli_dec64le(p);
                p += 8;
                left -= 8;
            }
            if (off && left >= 8)
                e->local_offset = pkli_dec64le(p);
            return;
        }
        x += 4 + n;
        xlen -= 4 + n;
    }
}

static int next_local(pkli_zip *z, pkli_zip_entry *e, pkl_error *err)
{
    const uint8_t *b = z->buf;
    size_t p = z->local_pos;
    if (p >= z->len || z->len - p < 4 || pkli_dec32le(b + p) != SIG_LOCAL)
        return 0; /* central directory or the end: done */
    if (z->len - p < LFH_LEN) {
        pkli_error_setf(err, PKL_E_TRUNCATED, p, -1,
                        "zip: local header truncated");
        return -1;
    }
    memset(e, 0, sizeof *e);
    e->flags = pkli_dec16le(b + p + 6);
    e->method = pkli_dec16le(b + p + 8);
    e->crc = pkli_dec32le(b + p + 14);
    e->comp_size = pkli_dec32le(b + p + 18);
    e->uncomp_size = pkli_dec32le(b + p + 22);
    size_t nlen = pkli_dec16le(b + p + 26), xlen = pkli_dec16le(b + p + 28);
    if (nlen + xlen > z->len - p - LFH_LEN) {
        pkli_error_setf(err, PKL_E_TRUNCATED, p, -1,
                        "zip: local header name/extra run past the end");
        return -1;
    }
    e->name = b + p + LFH_LEN;
    e->name_len = nlen;
    apply_zip64(b + p + LFH_LEN + nlen, xlen, e,
                e->uncomp_size == 0xFFFFFFFFu, e->comp_size == 0xFFFFFFFFu, 0);
    e->local_offset = p;
    e->index = z->next++;
    e->from_local = 1;
    size_t data = p + LFH_LEN + nlen + xlen;
    if ((e->flags & 8) && e->comp_size == 0) {
        /* sizes in a data descriptor after the data: only a deflate stream
         * tells where it ends; the caller inflates to the end marker */
        e->comp_size = z->len - data;
        z->local_pos = z->len; /* cannot find the next header reliably */
        return 1;
    }
    if (e->comp_size > z->len - data) {
        z->local_pos = z->len;
        return 1; /* caller reports the truncation */
    }
    z->local_pos = data + (size_t)e->comp_size;
    /* skip a data descriptor (with or without its signature) */
    if (e->flags & 8) {
        size_t q = z->local_pos;
        if (z->len - q >= 4 && pkli_dec32le(b + q) == 0x08074b50u)
            q += 4;
        q += 12;
        z->local_pos = q <= z->len ? q : z->len;
    }
    return 1;
}

int pkli_zip_next(pkli_zip *z, pkli_zip_entry *e, pkl_error *err)
{
    if (z->local_mode)
        return next_local(z, e, err);
    if (z->next >= z->count)
        return 0;
    const uint8_t *b = z->buf;
    size_t p = z->cd_pos;
    if (z->cd_end - p < CDH_LEN || pkli_dec32le(b + p) != SIG_CENTRAL) {
        pkli_error_setf(err, PKL_E_FORMAT, p, -1,
                        "zip: central directory entry %zu is damaged "
                        "(%llu declared)", z->next,
                        (unsigned long long)z->count);
        return -1;
    }
    memset(e, 0, sizeof *e);
    e->flags = pkli_dec16le(b + p + 8);
    e->method = pkli_dec16le(b + p + 10);
    e->crc = pkli_dec32le(b + p + 16);
    e->comp_size = pkli_dec32le(b + p + 20);
    e->uncomp_size = pkli_dec32le(b + p + 24);
    size_t nlen = pkli_dec16le(b + p + 28), xlen = pkli_dec16le(b + p + 30),
           clen = pkli_dec16le(b + p + 32);
    e->local_offset = pkli_dec32le(b + p + 42);
    if (nlen + xlen + clen > z->cd_end - p - CDH_LEN) {
        pkli_error_setf(err, PKL_E_FORMAT, p, -1,
                        "zip: central directory entry %zu runs past the "
                        "directory", z->next);
        return -1;
    }
    e->name = b + p + CDH_LEN;
    e->name_len = nlen;
    apply_zip64(b + p + CDH_LEN + nlen, xlen, e, e->uncomp_size == 0xFFFFFFFFu,
                e->comp_size == 0xFFFFFFFFu, e->local_offset == 0xFFFFFFFFu);
    e->index = z->next++;
    z->cd_pos = p + CDH_LEN + nlen + xlen + clen;
    return 1;
}

int pkli_zip_data(const pkli_zip *z, const pkli_zip_entry *e,
                  const uint8_t **data, size_t *avail, pkl_error *err)
{
    const uint8_t *b = z->buf;
    uint64_t lo = e->local_offset;
    size_t at = SIZE_MAX;
    /* try the offset as written (miniz), then shifted (zipfile) */
    if (!e->from_local && lo <= z->len && z->len - (size_t)lo >= LFH_LEN &&
        pkli_dec32le(b + (size_t)lo) == SIG_LOCAL)
        at = (size_t)lo;
    else if (!e->from_local && z->shift && lo <= z->len - z->shift &&
             z->len - z->shift - (size_t)lo >= LFH_LEN &&
             pkli_dec32le(b + (size_t)lo + z->shift) == SIG_LOCAL)
        at = (size_t)lo + z->shift;
    else if (e->from_local)
        at = (size_t)lo;
    if (at == SIZE_MAX) {
        pkli_error_setf(err, PKL_E_FORMAT, lo <= z->len ? (size_t)lo : z->len,
                        -1, "zip: no local header at offset %llu",
                        (unsigned long long)lo);
        return -1;
    }
    size_t nlen = pkli_dec16le(b + at + 26), xlen = pkli_dec16le(b + at + 28);
    if (nlen + xlen > z->len - at - LFH_LEN) {
        pkli_error_setf(err, PKL_E_TRUNCATED, at, -1,
                        "zip: local header at offset %zu runs past the end", at);
        return -1;
    }
    size_t start = at + LFH_LEN + nlen + xlen;
    size_t left = z->len - start;
    *data = b + start;
    *avail = e->comp_size < left ? (size_t)e->comp_size : left;
    pkli_error_clear(err);
    return 0;
}
