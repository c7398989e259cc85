/* formats_zip.c -- the zip readers of the walker: exact ports of the two
 * readers through which real loaders reach pickles in a zip.
 *
 *  - CPython's zipfile (Lib/zipfile.py in 3.11, Lib/zipfile/__init__.py in
 *    3.12+): numpy.load reads .npz members through it (numpy/lib/
 *    _npyio_impl.py NpzFile). _EndRecData, _EndRecData64, ZipFile.
 *    _RealGetContents, ZipInfo._decodeExtra, ZipFile.open.
 *  - PyTorch's reader: caffe2/serialize/inline_container.cc
 *    (PyTorchStreamReader::init, getRecordID, getRecord, getRecordOffset)
 *    over third_party/miniz-3.0.2/miniz.c (mz_zip_reader_init ->
 *    mz_zip_reader_read_central_dir -> mz_zip_reader_locate_header_sig;
 *    mz_zip_reader_locate_file; mz_zip_reader_extract_to_mem), built with
 *    MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS: torch.load and torch.jit.load.
 *
 * They disagree on purpose-built files: which end record (zipfile takes
 * the last signature in the tail even when fewer than 22 bytes follow and
 * then fails; miniz the last one with 22 bytes after it), where the zip64
 * end record is (zipfile: right before the locator; miniz: where the
 * locator points), where the central directory is (zipfile: right before
 * the end records, every offset shifted by the difference -- "concat";
 * miniz: at the declared offset, offsets absolute), how many entries
 * (zipfile: while the bytes read are fewer than the declared size; miniz:
 * the declared count). So both directories are read and every entry of
 * each is handed to the walker; a miniz entry identical to the zipfile
 * entry of the same index is not handed out twice. Each reader refuses
 * the whole archive when one of its checks fails (both validate every
 * directory entry before anything is extracted), so a reader's view is
 * either all its entries or nothing. CRCs are never checked (miniz's are
 * compiled out, zipfile checks at the end of a member, after
 * pickle.load has run), flag bits do not hide a member (bytes of a really
 * encrypted one are garbage, which the scanner reports), local names and
 * sizes are not compared with the directory (zipfile refuses a name
 * mismatch, miniz does not look). When neither reader opens the archive,
 * entries are found by walking the local headers from the start so their
 * contents are still scanned. docs/formats.md lists each rule. Nothing
 * here reads outside the buffer or trusts a size before comparing it with
 * what remains.
 */
#include "formats_internal.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define EOCD_LEN 22u
#define EOCD64_LEN 56u
#define LOC64_LEN 20u
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
    e->index = z->next;
    e->view = PKLI_ZIP_LOCAL;
    e->local_ok = 1;
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


/* ---- CPython zipfile ----------------------------------------------------- */

/* _EndRecData: the last 22 bytes when they are an end record with an empty
 * comment; else the LAST signature in the last 64 KiB + 22 bytes
 * (data.rfind), which must have 22 bytes after it ("Zip file is
 * corrupted" otherwise). The comment length is not compared with the
 * file. */
static int zf_find_eocd(const uint8_t *b, size_t len, size_t *at)
{
    if (len < EOCD_LEN)
        return -1;
    if (pkli_dec32le(b + len - EOCD_LEN) == SIG_EOCD && b[len - 2] == 0 &&
        b[len - 1] == 0) {
        *at = len - EOCD_LEN;
        return 0;
    }
    size_t lo = len > 65536 + EOCD_LEN ? len - 65536 - EOCD_LEN : 0;
    for (size_t p = len - 4 + 1; p-- > lo;) {
        if (b[p] == 'P' && pkli_dec32le(b + p) == SIG_EOCD) {
            if (len - p < EOCD_LEN)
                return -1;
            *at = p;
            return 0;
        }
    }
    return -1;
}

/* ZipInfo._decodeExtra: every 0x0001 record, each replacing the fields
 * still at their escape value (file size 0xFFFFFFFF or 2^64-1, compressed
 * size and header offset 0xFFFFFFFF), 8 bytes each in that order; a record
 * too short for a field it must replace, or any record running past the
 * extra data, is BadZipFile. Returns 0 or -1. */
static int zf_extra(const uint8_t *x, size_t xlen, pkli_zip_entry *e,
                    uint64_t *hdr)
{
    while (xlen >= 4) {
        size_t tp = pkli_dec16le(x), ln = pkli_dec16le(x + 2);
        if (ln + 4 > xlen)
            return -1;
        if (tp == 0x0001) {
            const uint8_t *d = x + 4;
            size_t left = ln;
            if (e->uncomp_size == 0xFFFFFFFFu || e->uncomp_size == UINT64_MAX) {
                if (left < 8)
                    return -1;
                e->uncomp_size = pkli_dec64le(d);
                d += 8;
                left -= 8;
            }
            if (e->comp_size == 0xFFFFFFFFu) {
                if (left < 8)
                    return -1;
                e->comp_size = pkli_dec64le(d);
                d += 8;
                left -= 8;
            }
            if (*hdr == 0xFFFFFFFFu) {
                if (left < 8)
                    return -1;
                *hdr = pkli_dec64le(d);
            }
        }
        x += ln + 4;
        xlen -= ln + 4;
    }
    return 0;
}

/* _EndRecData64 then the start of _RealGetContents. */
static int zf_open(pkli_zip *z, pkl_error *err)
{
    const uint8_t *b = z->buf;
    size_t len = z->len, e;
    pkli_zip_dir *d = &z->dir[PKLI_ZIP_ZIPFILE];
    if (zf_find_eocd(b, len, &e) < 0) {
        pkli_error_setf(err, PKL_E_FORMAT, len, -1,
                        "zip: no end of central directory record");
        return -1;
    }
    d->eocd = e;
    d->size = pkli_dec32le(b + e + 12);
    d->offset = pkli_dec32le(b + e + 16);
    /* _EndRecData64: a locator right before the end record; the zip64
     * record right before the locator (the locator's offset is not
     * used); anything missing leaves the end record as it is */
    if (e >= LOC64_LEN && pkli_dec32le(b + e - LOC64_LEN) == SIG_LOC64) {
        const uint8_t *l = b + e - LOC64_LEN;
        if (pkli_dec32le(l + 4) != 0 || pkli_dec32le(l + 16) > 1) {
            pkli_error_setf(err, PKL_E_FORMAT, e - LOC64_LEN, -1,
                            "zip: zipfiles that span multiple disks are not "
                            "supported");
            return -1;
        }
        if (e < LOC64_LEN + EOCD64_LEN) {
            /* fpin.seek before the start of the file: OSError */
            pkli_error_setf(err, PKL_E_FORMAT, e - LOC64_LEN, -1,
                            "zip64: no room for the end record before the "
                            "locator");
            return -1;
        }
        const uint8_t *r = l - EOCD64_LEN;
        if (pkli_dec32le(r) == SIG_EOCD64) {
            d->zip64 = 1;
            d->size = pkli_dec64le(r + 40);
            d->offset = pkli_dec64le(r + 48);
        }
    }
    /* concat = location - size_cd - offset_cd (minus the zip64 records);
     * start_dir = offset_cd + concat */
    size_t at = d->zip64 ? e - LOC64_LEN - EOCD64_LEN : e;
    if (d->size > at) {
        pkli_error_setf(err, PKL_E_FORMAT, e, -1,
                        "zip: bad offset for central directory (%llu bytes "
                        "declared, %zu before the end record)",
                        (unsigned long long)d->size, at);
        return -1;
    }
    d->start = at - (size_t)d->size;
    d->end = at;
    return 0;
}

/* The local header offset header_offset + concat, when it is >= 0. */
static int zf_local(const pkli_zip_dir *d, uint64_t hdr, uint64_t *out)
{
    if (hdr >= d->offset) {
        uint64_t up = hdr - d->offset;
        if (up > UINT64_MAX - d->start)
            return 0;
        *out = d->start + up;
        return 1;
    }
    uint64_t down = d->offset - hdr;
    if (down > d->start)
        return 0;
    *out = d->start - down;
    return 1;
}

/* The fixed fields of a central directory header at h (CDH_LEN bytes,
 * checked by the caller) that both readers take as they are (zipfile's
 * _RealGetContents and miniz's central directory records read the same
 * offsets); each reader then checks them its own way. */
static void cdh_fields(const uint8_t *h, int view, pkli_zip_entry *e,
                       size_t *nlen, size_t *xlen, size_t *clen)
{
    memset(e, 0, sizeof *e);
    e->view = view;
    e->flags = pkli_dec16le(h + 8);
    e->method = pkli_dec16le(h + 10);
    e->crc = pkli_dec32le(h + 16);
    e->comp_size = pkli_dec32le(h + 20);
    e->uncomp_size = pkli_dec32le(h + 24);
    *nlen = pkli_dec16le(h + 28);
    *xlen = pkli_dec16le(h + 30);
    *clen = pkli_dec16le(h + 32);
}

/* One record of _RealGetContents's loop: the directory is read as a byte
 * string of at most size_cd bytes, and each field is fp.read(n), which
 * returns fewer bytes at the end without complaint; only the 46-byte
 * fixed part must be whole. */
static int zf_entry(const pkli_zip *z, pkli_zip_cursor *c, pkli_zip_entry *e,
                    pkl_error *err)
{
    const pkli_zip_dir *d = &z->dir[PKLI_ZIP_ZIPFILE];
    const uint8_t *b = z->buf;
    if (c->total >= d->size)
        return 0;
    size_t p = c->pos;
    if (d->end - p < CDH_LEN || pkli_dec32le(b + p) != SIG_CENTRAL) {
        pkli_error_setf(err, PKL_E_FORMAT, p, -1, "%s",
                        d->end - p < CDH_LEN
                            ? "zip: truncated central directory"
                            : "zip: bad magic number for central directory");
        return -1;
    }
    if (b[p + 6] > 63) { /* extract_version > MAX_EXTRACT_VERSION */
        pkli_error_setf(err, PKL_E_FORMAT, p, -1,
                        "zip: zip file version %u.%u", b[p + 6] / 10,
                        b[p + 6] % 10);
        return -1;
    }
    size_t nlen, xlen, clen;
    cdh_fields(b + p, PKLI_ZIP_ZIPFILE, e, &nlen, &xlen, &clen);
    uint64_t hdr = pkli_dec32le(b + p + 42);
    size_t q = p + CDH_LEN, left = d->end - q;
    size_t n = nlen < left ? nlen : left;
    e->name = b + q;
    e->name_len = n;
    q += n;
    left -= n;
    size_t x = xlen < left ? xlen : left;
    if (zf_extra(b + q, x, e, &hdr) < 0) {
        pkli_error_setf(err, PKL_E_FORMAT, q, -1,
                        "zip: corrupt extra field in central directory "
                        "entry %zu", c->index);
        return -1;
    }
    q += x;
    left -= x;
    q += clen < left ? clen : left;
    e->local_ok = zf_local(d, hdr, &e->local_offset);
    e->index = c->index++;
    c->pos = q;
    c->total += (uint64_t)CDH_LEN + nlen + xlen + clen;
    return 1;
}

/* ---- PyTorch's miniz ----------------------------------------------------- */

/* mz_zip_reader_locate_header_sig: 4 KiB blocks from the end backwards,
 * each searched from its end, overlapping by 3 bytes; the first signature
 * with at least 22 bytes after it wins; the search stops after the block
 * that reaches 65535 + 22 bytes from the end. */
static int mz_find_eocd(const uint8_t *b, size_t len, size_t *at)
{
    if (len < EOCD_LEN)
        return -1;
    size_t cur = len > 4096 ? len - 4096 : 0;
    for (;;) {
        size_t n = len - cur < 4096 ? len - cur : 4096;
        for (size_t i = n - 3; i-- > 0;) {
            if (pkli_dec32le(b + cur + i) == SIG_EOCD &&
                len - (cur + i) >= EOCD_LEN) {
                *at = cur + i;
                return 0;
            }
        }
        if (cur == 0 || len - cur >= 65535 + EOCD_LEN)
            return -1;
        cur = cur > 4093 ? cur - 4093 : 0;
    }
}

/* The per-entry checks of mz_zip_reader_read_central_dir, and the entry
 * (mz_zip_file_stat_internal: the first zip64 extended information field
 * replaces the sizes and offset that are 0xFFFFFFFF). */
static int mz_entry(const pkli_zip *z, pkli_zip_cursor *c, pkli_zip_entry *e,
                    pkl_error *err)
{
    const pkli_zip_dir *d = &z->dir[PKLI_ZIP_MINIZ];
    const uint8_t *b = z->buf;
    if (c->index >= d->count)
        return 0;
    size_t p = c->pos, n = d->end - p;
    const char *why = NULL;
    if (n < CDH_LEN || pkli_dec32le(b + p) != SIG_CENTRAL) {
        pkli_error_setf(err, PKL_E_FORMAT, p, -1,
                        "zip: central directory entry %zu is damaged "
                        "(%llu declared)", c->index,
                        (unsigned long long)d->count);
        return -1;
    }
    size_t nlen, xlen, clen;
    cdh_fields(b + p, PKLI_ZIP_MINIZ, e, &nlen, &xlen, &clen);
    unsigned disk = pkli_dec16le(b + p + 34);
    e->local_offset = pkli_dec32le(b + p + 42);
    if (e->comp_size != 0xFFFFFFFFu && e->uncomp_size != 0xFFFFFFFFu &&
        ((e->method == 0 && e->uncomp_size != e->comp_size) ||
         (e->uncomp_size && !e->comp_size)))
        why = "sizes do not fit the method";
    else if (disk == 0xFFFF || (disk != 0 && disk != 1))
        why = "multi-disk entry";
    else if (e->comp_size != 0xFFFFFFFFu &&
             e->local_offset + LFH_LEN + e->comp_size > z->len)
        why = "data past the end of the archive";
    else if (e->flags & 0x2000)
        why = "masked local header (central directory encryption)";
    else if (CDH_LEN + nlen + xlen + clen > n)
        why = "runs past the directory";
    if (why) {
        pkli_error_setf(err, PKL_E_FORMAT, p, -1,
                        "zip: central directory entry %zu: %s", c->index, why);
        return -1;
    }
    e->name = b + p + CDH_LEN;
    e->name_len = nlen;
    apply_zip64(b + p + CDH_LEN + nlen, xlen, e, e->uncomp_size == 0xFFFFFFFFu,
                e->comp_size == 0xFFFFFFFFu, e->local_offset == 0xFFFFFFFFu);
    e->local_ok = e->local_offset <= z->len;
    e->index = c->index++;
    c->pos = p + CDH_LEN + nlen + xlen + clen;
    return 1;
}

/* mz_zip_reader_read_central_dir, up to the entries. */
static int mz_open(pkli_zip *z, pkl_error *err)
{
    const uint8_t *b = z->buf;
    size_t len = z->len, e;
    pkli_zip_dir *d = &z->dir[PKLI_ZIP_MINIZ];
    if (mz_find_eocd(b, len, &e) < 0) {
        pkli_error_setf(err, PKL_E_FORMAT, len, -1,
                        "zip: no end of central directory record");
        return -1;
    }
    d->eocd = e;
    uint64_t total = pkli_dec16le(b + e + 10), on_disk = pkli_dec16le(b + e + 8);
    uint64_t num_disk = pkli_dec16le(b + e + 4), cd_disk = pkli_dec16le(b + e + 6);
    uint64_t size = pkli_dec32le(b + e + 12), off = pkli_dec32le(b + e + 16);
    if (e >= LOC64_LEN + EOCD64_LEN &&
        pkli_dec32le(b + e - LOC64_LEN) == SIG_LOC64) {
        const uint8_t *l = b + e - LOC64_LEN;
        uint64_t r64 = pkli_dec64le(l + 8);
        if (r64 > len - EOCD64_LEN) {
            pkli_error_setf(err, PKL_E_FORMAT, e - LOC64_LEN, -1,
                            "zip64: end record offset %llu is past the end",
                            (unsigned long long)r64);
            return -1;
        }
        const uint8_t *r = b + (size_t)r64;
        if (pkli_dec32le(r) == SIG_EOCD64) {
            d->zip64 = 1;
            if (pkli_dec64le(r + 4) < EOCD64_LEN - 12 ||
                pkli_dec32le(l + 16) != 1 || pkli_dec64le(r + 32) > UINT32_MAX ||
                pkli_dec64le(r + 24) > UINT32_MAX ||
                pkli_dec64le(r + 40) > UINT32_MAX) {
                pkli_error_setf(err, PKL_E_FORMAT, (size_t)r64, -1,
                                "zip64: end record refused (size, disks or "
                                "counts)");
                return -1;
            }
            total = pkli_dec64le(r + 32);
            on_disk = pkli_dec64le(r + 24);
            size = pkli_dec64le(r + 40);
            num_disk = pkli_dec32le(r + 16);
            cd_disk = pkli_dec32le(r + 20);
            off = pkli_dec64le(r + 48);
        }
    }
    const char *why = NULL;
    if (total != on_disk ||
        ((num_disk | cd_disk) != 0 && (num_disk != 1 || cd_disk != 1)))
        why = "multi-disk archive";
    else if (size < total * CDH_LEN)
        why = "more entries than the directory size holds";
    else if (off > len || size > len - off)
        why = "directory past the end of the archive";
    if (why) {
        pkli_error_setf(err, PKL_E_FORMAT, e, -1,
                        "zip: %s (%llu entries, %llu bytes at offset %llu)",
                        why, (unsigned long long)total,
                        (unsigned long long)size, (unsigned long long)off);
        return -1;
    }
    d->size = size;
    d->offset = off;
    d->start = (size_t)off;
    d->end = (size_t)(off + size);
    d->count = total;
    return 0;
}

/* ---- both ---------------------------------------------------------------- */

static int dir_entry(const pkli_zip *z, int v, pkli_zip_cursor *c,
                     pkli_zip_entry *e, pkl_error *err)
{
    return v == PKLI_ZIP_ZIPFILE ? zf_entry(z, c, e, err)
                                 : mz_entry(z, c, e, err);
}

/* Each reader checks every entry before it extracts anything (zipfile's
 * _RealGetContents, miniz's mz_zip_reader_read_central_dir): one bad
 * entry and the reader reads nothing. */
static int dir_validate(pkli_zip *z, int v, pkl_error *err)
{
    pkli_zip_dir *d = &z->dir[v];
    pkli_zip_cursor c = { d->start, 0, 0 };
    pkli_zip_entry e;
    int rc;
    while ((rc = dir_entry(z, v, &c, &e, err)) == 1)
        ;
    if (rc < 0)
        return -1;
    d->count = c.index;
    d->ok = 1;
    return 0;
}

int pkli_zip_open(pkli_zip *z, const uint8_t *buf, size_t len, pkl_error *err)
{
    pkl_error e0, e1;
    memset(z, 0, sizeof *z);
    z->buf = buf;
    z->len = len;
    pkli_error_clear(&e0);
    pkli_error_clear(&e1);
    if (zf_open(z, &e0) == 0)
        dir_validate(z, PKLI_ZIP_ZIPFILE, &e0);
    if (mz_open(z, &e1) == 0)
        dir_validate(z, PKLI_ZIP_MINIZ, &e1);
    const pkli_zip_dir *a = &z->dir[PKLI_ZIP_ZIPFILE], *m = &z->dir[PKLI_ZIP_MINIZ];
    if (a->ok && m->ok) {
        z->view = PKLI_ZIP_ZIPFILE;
        z->cur.pos = a->start;
        /* the common case: one directory, offsets not shifted */
        if (a->start == m->start && a->size == m->size &&
            a->count == m->count && a->offset == a->start)
            z->dir[PKLI_ZIP_MINIZ].ok = 0;
        pkli_error_clear(err);
        return 0;
    }
    if (a->ok || m->ok) {
        /* the other reader refuses the whole archive, so it loads nothing
         * from it: what the one that opens it reads is all there is */
        z->view = a->ok ? PKLI_ZIP_ZIPFILE : PKLI_ZIP_MINIZ;
        z->cur.pos = z->dir[z->view].start;
        pkli_error_clear(err);
        return 0;
    }
    *err = e0;
    if (len >= 4 && pkli_dec32le(buf) == SIG_LOCAL) {
        z->local_mode = 1;
        z->local_pos = 0;
        return 1;
    }
    z->done = 1;
    return -1;
}

static int same_entry(const pkli_zip_entry *a, const pkli_zip_entry *b)
{
    return a->local_ok == b->local_ok && a->local_offset == b->local_offset &&
           a->comp_size == b->comp_size && a->method == b->method &&
           a->name_len == b->name_len &&
           memcmp(a->name, b->name, a->name_len) == 0;
}

int pkli_zip_next(pkli_zip *z, pkli_zip_entry *e, pkl_error *err)
{
    if (z->done)
        return 0;
    if (z->local_mode) {
        int rc = next_local(z, e, err);
        if (rc <= 0)
            z->done = 1;
        else
            z->next++;
        return rc;
    }
    for (;;) {
        int rc = dir_entry(z, z->view, &z->cur, e, err);
        if (rc < 0) { /* validated when opened: cannot happen */
            z->done = 1;
            return -1;
        }
        if (rc == 0) {
            if (z->view == PKLI_ZIP_ZIPFILE && z->dir[PKLI_ZIP_MINIZ].ok) {
                z->view = PKLI_ZIP_MINIZ;
                z->cur.pos = z->dir[PKLI_ZIP_MINIZ].start;
                z->cur.total = 0;
                z->cur.index = 0;
                z->twin.pos = z->dir[PKLI_ZIP_ZIPFILE].start;
                z->twin.total = 0;
                z->twin.index = 0;
                z->stored = 0;
                continue;
            }
            z->done = 1;
            return 0;
        }
        if (z->view == PKLI_ZIP_MINIZ && z->dir[PKLI_ZIP_ZIPFILE].ok) {
            pkli_zip_entry t;
            pkl_error ignored;
            if (zf_entry(z, &z->twin, &t, &ignored) == 1 && same_entry(e, &t))
                continue;
        }
        z->next++;
        return 1;
    }
}

int pkli_zip_data(const pkli_zip *z, const pkli_zip_entry *e,
                  const uint8_t **data, size_t *avail, pkl_error *err)
{
    const uint8_t *b = z->buf;
    uint64_t lo = e->local_offset;
    /* ZipFile.open and miniz's extraction both read the local header at
     * the entry's offset, check its signature, and take the data after its
     * own name and extra field (inline_container.cc getRecordOffset reads
     * the same two lengths); the sizes stay the directory's */
    if (!e->local_ok || lo > z->len || z->len - (size_t)lo < LFH_LEN ||
        pkli_dec32le(b + (size_t)lo) != SIG_LOCAL) {
        pkli_error_setf(err, PKL_E_FORMAT,
                        e->local_ok && lo <= z->len ? (size_t)lo : z->len, -1,
                        "zip: no local header at offset %llu%s (%s)",
                        e->local_ok ? (unsigned long long)lo : 0ull,
                        e->local_ok ? "" : " (shifted before the start)",
                        e->view == PKLI_ZIP_MINIZ ? "miniz" : "zipfile");
        return -1;
    }
    size_t at = (size_t)lo;
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
