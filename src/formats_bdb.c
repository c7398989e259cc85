/* formats_bdb.c -- Berkeley DB hash files: what `dbm.ndbm` is on Debian
 * (Python's _dbm built against libdb's ndbm emulation, whose dbm_open
 * creates NAME.db as a DB_HASH database) and so what `shelve.open` picks
 * there. Read straight from the bytes, never with libdb: libdb is not made
 * for hostile files, and the scanner must read a .db found inside a zip.
 *
 * The layout is Berkeley DB 4.x/5.x's (hash format versions 8 and 9),
 * from its own source: dbinc/db_page.h (PAGE header: lsn[8], pgno,
 * prev_pgno, next_pgno, entries (u16), hf_offset (u16), level (u8),
 * type (u8), then the u16 inp[] index of item offsets, items packed from
 * the page end down; P_INVALID 0, P_HASH_UNSORTED 2, P_OVERFLOW 7,
 * P_HASHMETA 8, P_HASH 13), dbinc/hash.h and hash/hash_page.c (items in
 * key/data pairs at even/odd indices; LEN_HITEM: the previous item's
 * offset (the page size for the first) minus this one's; the first byte
 * is the item type: H_KEYDATA 1 (bytes follow), H_DUPLICATE 2, H_OFFPAGE 3
 * (HOFFPAGE: type, 3 unused bytes, pgno u32, tlen u32: the bytes live in a
 * chain of P_OVERFLOW pages, each holding hf_offset bytes after its
 * 26-byte header, linked by next_pgno), H_OFFDUP 4) and dbinc/db_am.h /
 * db_meta.c (DBMETA: magic 0x061561 at 12, version at 16, pagesize at 20,
 * page type at 25).
 *
 * Every page is read, not only those the bucket array reaches: what a
 * loader can see is a subset. Values are handed over as forced pickle
 * streams (shelve unpickles every value); what cannot be read is a problem,
 * never silence.
 */
#include "internal.h"
#include "formats_internal.h"

#include <stdio.h>

#define BDB_HASH_MAGIC 0x061561u
#define BDB_BTREE_MAGIC 0x053162u
#define P_OVERHEAD 26
enum { P_INVALID = 0, P_HASH_UNSORTED = 2, P_OVERFLOW = 7, P_HASHMETA = 8,
       P_BTREEMETA = 9, P_HASH = 13 };
enum { H_KEYDATA = 1, H_DUPLICATE = 2, H_OFFPAGE = 3, H_OFFDUP = 4 };

int pkli_bdb_sniff(const uint8_t *b, size_t len)
{
    if (len < 512)
        return 0;
    uint32_t magic = pkli_dec32le(b + 12);
    uint32_t swapped = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
                       (uint32_t)b[14] << 8 | b[15];
    return ((magic == BDB_HASH_MAGIC || swapped == BDB_HASH_MAGIC) &&
            b[25] == P_HASHMETA) ||
           ((magic == BDB_BTREE_MAGIC || swapped == BDB_BTREE_MAGIC) &&
            b[25] == P_BTREEMETA);
}

typedef struct bdb {
    const uint8_t *b;
    size_t len, ps, npages;
    const pkl_allocator *a;
    pkli_dbm_problem_fn pfn;
    void *ctx;
    int stopped;
} bdb;

static void bdb_problem(bdb *d, int code, size_t off, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void bdb_problem(bdb *d, int code, size_t off, const char *fmt, ...)
{
    pkl_error e;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pkli_error_setf(&e, code, off, -1, "Berkeley DB: %s", msg);
    if (!d->stopped && d->pfn(d->ctx, &e))
        d->stopped = 1;
}

/* The bytes of an H_OFFPAGE item: a chain of overflow pages holding tlen
 * bytes. *out is allocated; returns 0, 1 when damaged (reported), -1 when
 * out of memory. */
static int bdb_overflow(bdb *d, uint32_t pgno, uint32_t tlen, size_t at,
                        uint8_t **out)
{
    *out = NULL;
    if (tlen > d->len) {
        bdb_problem(d, PKL_E_FORMAT, at, "overflow item declares %u bytes, "
                    "more than the %zu-byte file", tlen, d->len);
        return 1;
    }
    uint8_t *buf = pkli_malloc(d->a, tlen ? tlen : 1);
    if (!buf)
        return -1;
    size_t got = 0, hops = 0;
    while (got < tlen) {
        if (pgno == 0 || pgno >= d->npages || ++hops > d->npages) {
            bdb_problem(d, PKL_E_FORMAT, at, "overflow chain for a %u-byte "
                        "item breaks after %zu bytes (page %u)", tlen, got,
                        pgno);
            pkli_free(d->a, buf);
            return 1;
        }
        const uint8_t *p = d->b + (size_t)pgno * d->ps;
        size_t n = pkli_dec16le(p + 22);
        if (p[25] != P_OVERFLOW || n > d->ps - P_OVERHEAD || n > tlen - got) {
            bdb_problem(d, PKL_E_FORMAT, (size_t)pgno * d->ps,
                        "page %u in an overflow chain is not a valid overflow "
                        "page", pgno);
            pkli_free(d->a, buf);
            return 1;
        }
        memcpy(buf + got, p + P_OVERHEAD, n);
        got += n;
        pgno = pkli_dec32le(p + 16);
        if (n == 0 && got < tlen) {
            bdb_problem(d, PKL_E_FORMAT, (size_t)pgno * d->ps,
                        "empty overflow page in a chain");
            pkli_free(d->a, buf);
            return 1;
        }
    }
    *out = buf;
    return 0;
}

/* One item of a hash page: its bytes (maybe an overflow copy in *own).
 * Returns 0, 1 when it cannot be read (reported), -1 out of memory. */
static int bdb_item(bdb *d, const uint8_t *p, size_t pg, size_t i,
                    const uint8_t **data, size_t *len, uint8_t **own)
{
    size_t entries = pkli_dec16le(p + 20);
    size_t off = pkli_dec16le(p + P_OVERHEAD + 2 * i);
    size_t end = i == 0 ? d->ps : pkli_dec16le(p + P_OVERHEAD + 2 * (i - 1));
    size_t at = pg * d->ps + off;
    *own = NULL;
    if (off < P_OVERHEAD + 2 * entries || end > d->ps || off >= end) {
        bdb_problem(d, PKL_E_FORMAT, at, "page %zu: item %zu is out of place",
                    pg, i);
        return 1;
    }
    const uint8_t *it = p + off;
    size_t n = end - off;
    switch (it[0]) {
    case H_KEYDATA:
        *data = it + 1;
        *len = n - 1;
        return 0;
    case H_OFFPAGE: {
        if (n < 12) {
            bdb_problem(d, PKL_E_FORMAT, at, "page %zu: short overflow item",
                        pg);
            return 1;
        }
        int rc = bdb_overflow(d, pkli_dec32le(it + 4), pkli_dec32le(it + 8),
                              at, own);
        if (rc == 0) {
            *data = *own;
            *len = pkli_dec32le(it + 8);
        }
        return rc;
    }
    case H_DUPLICATE: case H_OFFDUP:
        bdb_problem(d, PKL_E_FORMAT_UNSUPPORTED, at, "page %zu: duplicate "
                    "keys (dbm.ndbm never writes them) are not read", pg);
        return 1;
    default:
        bdb_problem(d, PKL_E_FORMAT, at, "page %zu: item of unknown type %u",
                    pg, it[0]);
        return 1;
    }
}

int pkli_bdb_walk(const uint8_t *buf, size_t len, size_t max_members,
                  const pkl_allocator *a, pkli_dbm_value_fn fn,
                  pkli_dbm_problem_fn pfn, void *ctx, pkl_error *err)
{
    bdb d = {buf, len, 0, 0, a, pfn, ctx, 0};
    int rc = 0, limit = 0;
    size_t members = 0;
    if (pkli_dec32le(buf + 12) != BDB_HASH_MAGIC) {
        bdb_problem(&d, PKL_E_FORMAT_UNSUPPORTED, 12,
                    buf[25] == P_BTREEMETA
                        ? "a btree database (dbm.ndbm files are hash "
                          "databases): not read"
                        : "a big-endian hash database: not read");
        goto done;
    }
    uint32_t version = pkli_dec32le(buf + 16);
    d.ps = pkli_dec32le(buf + 20);
    if (version < 8 || version > 10) {
        bdb_problem(&d, PKL_E_FORMAT_UNSUPPORTED, 16, "hash format version "
                    "%u (versions 8-10 are read)", version);
        goto done;
    }
    if (d.ps < 512 || d.ps > 65536 || (d.ps & (d.ps - 1))) {
        bdb_problem(&d, PKL_E_FORMAT, 20, "page size %zu is not a power of "
                    "two from 512 to 65536", d.ps);
        goto done;
    }
    d.npages = len / d.ps;
    if (len % d.ps)
        bdb_problem(&d, PKL_E_TRUNCATED, d.npages * d.ps, "the file ends "
                    "inside page %zu (%zu bytes over whole pages)", d.npages,
                    len % d.ps);
    for (size_t pg = 1; pg < d.npages && !d.stopped && !limit && rc == 0;
         pg++) {
        const uint8_t *p = buf + pg * d.ps;
        int type = p[25];
        if (type == P_INVALID || type == P_OVERFLOW)
            continue; /* free pages; overflow pages are read via items */
        if (type != P_HASH && type != P_HASH_UNSORTED) {
            bdb_problem(&d, PKL_E_FORMAT, pg * d.ps, "page %zu has type %d, "
                        "not a hash page", pg, type);
            continue;
        }
        size_t entries = pkli_dec16le(p + 20);
        if (P_OVERHEAD + 2 * entries > d.ps || (entries & 1)) {
            bdb_problem(&d, PKL_E_FORMAT, pg * d.ps, "page %zu: %zu entries "
                        "cannot be key/value pairs on a %zu-byte page", pg,
                        entries, d.ps);
            continue;
        }
        for (size_t i = 0; i + 1 < entries && !d.stopped && !limit; i += 2) {
            const uint8_t *k = NULL, *v = NULL;
            size_t kl = 0, vl = 0;
            uint8_t *kown = NULL, *vown = NULL;
            int r1 = bdb_item(&d, p, pg, i, &k, &kl, &kown);
            int r2 = r1 < 0 ? 0 : bdb_item(&d, p, pg, i + 1, &v, &vl, &vown);
            if (r1 < 0 || r2 < 0) {
                pkli_free(a, kown);
                pkli_free(a, vown);
                pkli_error_setf(err, PKL_E_NOMEM, pg * d.ps, -1,
                                "Berkeley DB item");
                rc = -1;
                break;
            }
            if (r2 == 0 && ++members > max_members) {
                bdb_problem(&d, PKL_E_LIMIT_VALUES, pg * d.ps, "more than "
                            "%zu keys (limit)", max_members);
                limit = 1;
            } else if (r2 == 0) {
                pkli_buf kb;
                pkli_buf_init(&kb, a, 0);
                pkli_buf_putc(&kb, '\'');
                if (r1 == 0)
                    pkli_fmt_put_name(&kb, k, kl > 200 ? 200 : kl);
                else
                    pkli_buf_puts(&kb, "?unreadable key?");
                if (r1 == 0 && kl > 200)
                    pkli_buf_puts(&kb, "...");
                pkli_buf_putc(&kb, '\'');
                pkli_buf_putc(&kb, '\0');
                if (kb.failed) {
                    pkli_error_setf(err, PKL_E_NOMEM, pg * d.ps, -1,
                                    "Berkeley DB key");
                    rc = -1;
                } else if (fn(ctx, kb.data, v, vl)) {
                    d.stopped = 1;
                }
                pkli_buf_free(&kb);
            }
            pkli_free(a, kown);
            pkli_free(a, vown);
        }
    }
done:
    if (rc == 0 && d.stopped) {
        /* a callback asked to stop */
        pkli_error_setf(err, PKL_E_INTERNAL, 0, -1, "Berkeley DB walk stopped");
        return -1;
    }
    if (rc == 0)
        pkli_error_clear(err);
    return rc;
}
