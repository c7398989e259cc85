/* formats_dbm.c -- the shelf back ends Python's shelve reads values from:
 * dbm.dumb (.dir index + .dat values), dbm.sqlite3 (Python 3.13+, table
 * Dict(key, value)) and GNU dbm.
 *
 * Each value is handed to the walker, which treats it as a pickle whatever
 * it looks like (shelve unpickles every value). Keys become path text
 * (`!key:'name'`). SQLite reads an in-memory read-only copy; libgdbm needs
 * the file itself. It must never write to a shelf, never trust an offset or
 * size from an index before comparing it with the data, and never print.
 */
#include "formats_internal.h"

#include <gdbm.h>
#include <sqlite3.h>
#include <stdio.h>

/* ---- dbm.dumb ------------------------------------------------------------ */

/* One index line: "'key', (pos, size)" as written by dbm.dumb's %r. */
typedef struct dumb_line {
    const uint8_t *key;    /* the repr, quotes included */
    size_t key_len;
    uint64_t pos, size;
} dumb_line;

static const uint8_t *skip_sp(const uint8_t *p, const uint8_t *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
    return p;
}

static const uint8_t *read_uint(const uint8_t *p, const uint8_t *e,
                                uint64_t *v)
{
    const uint8_t *s = p;
    *v = 0;
    while (p < e && *p >= '0' && *p <= '9') {
        if (*v > (UINT64_MAX - 9) / 10)
            return NULL;
        *v = *v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    return p == s ? NULL : p;
}

/* Parses [p, e) (one line without '\n'). 0 or -1. */
static int dumb_parse(const uint8_t *p, const uint8_t *e, dumb_line *l)
{
    p = skip_sp(p, e);
    if (p < e && (*p == 'b')) /* bytes keys written by old versions */
        p++;
    if (p >= e || (*p != '\'' && *p != '"'))
        return -1;
    uint8_t q = *p;
    const uint8_t *k = p++;
    while (p < e && *p != q) {
        if (*p == '\\')
            p++;
        p++;
    }
    if (p >= e)
        return -1;
    p++;
    l->key = k;
    l->key_len = (size_t)(p - k);
    p = skip_sp(p, e);
    if (p >= e || *p++ != ',')
        return -1;
    p = skip_sp(p, e);
    if (p >= e || *p++ != '(')
        return -1;
    p = skip_sp(p, e);
    if (!(p = read_uint(p, e, &l->pos)))
        return -1;
    p = skip_sp(p, e);
    if (p >= e || *p++ != ',')
        return -1;
    p = skip_sp(p, e);
    if (!(p = read_uint(p, e, &l->size)))
        return -1;
    p = skip_sp(p, e);
    if (p >= e || *p++ != ')')
        return -1;
    p = skip_sp(p, e);
    return p == e ? 0 : -1;
}

/* Detection looks at the first DUMB_SNIFF_MAX bytes only: every complete
 * line there must be an index line (a line cut by the window's end is not
 * judged). Searching a whole file for newlines made a 100 GB sparse file
 * cost minutes and its size in resident memory before any verdict; the
 * shelf walk still parses every line of a file detected this way. */
#define DUMB_SNIFF_MAX ((size_t)64 << 10)

int pkli_dumb_dir_sniff(const uint8_t *buf, size_t len)
{
    size_t win = len < DUMB_SNIFF_MAX ? len : DUMB_SNIFF_MAX;
    const uint8_t *p = buf, *end = buf + win;
    size_t lines = 0;
    if (!buf || len == 0)
        return 0;
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl && win < len)
            break; /* cut by the window */
        const uint8_t *e = nl ? nl : end;
        dumb_line l;
        if (skip_sp(p, e) != e) {
            if (dumb_parse(p, e, &l) < 0)
                return 0;
            lines++;
        }
        p = nl ? nl + 1 : end;
    }
    return lines > 0;
}

static int key_text(pkli_buf *b, const uint8_t *k, size_t n)
{
    pkli_buf_init(b, b->alloc, 0);
    pkli_fmt_put_name(b, k, n);
    pkli_buf_putc(b, '\0');
    return b->failed ? -1 : 0;
}

int pkli_dumb_walk(const uint8_t *dir, size_t dirlen, const uint8_t *dat,
                   size_t datlen, size_t max_members, const pkl_allocator *a,
                   pkli_dbm_value_fn fn, pkli_dbm_problem_fn pfn, void *ctx,
                   pkl_error *err)
{
    const uint8_t *p = dir, *end = dir + dirlen;
    size_t n = 0;
    pkli_buf kb;
    kb.alloc = a;
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *e = nl ? nl : end;
        dumb_line l;
        size_t line_off = (size_t)(p - dir);
        p = nl ? nl + 1 : end;
        if (skip_sp(dir + line_off, e) == e)
            continue;
        if (dumb_parse(dir + line_off, e, &l) < 0) {
            pkl_error pe;
            pkli_error_setf(&pe, PKL_E_FORMAT, line_off, -1,
                            "dbm.dumb: index line at offset %zu is not "
                            "'key', (pos, size)", line_off);
            if (pfn(ctx, &pe))
                goto stop;
            continue;
        }
        if (++n > max_members) {
            pkl_error pe;
            pkli_error_setf(&pe, PKL_E_LIMIT_VALUES, line_off, -1,
                            "dbm.dumb: more than %zu keys (limit)",
                            max_members);
            pfn(ctx, &pe);
            goto stop;
        }
        if (key_text(&kb, l.key, l.key_len) < 0) {
            pkli_buf_free(&kb);
            pkli_error_setf(err, PKL_E_NOMEM, line_off, -1, "dbm.dumb key");
            return -1;
        }
        if (l.pos > datlen || l.size > datlen - l.pos) {
            pkl_error pe;
            pkli_error_setf(&pe, PKL_E_TRUNCATED, line_off, -1,
                            "dbm.dumb: value of key %s at %llu+%llu runs past "
                            "the %zu-byte .dat file", kb.data,
                            (unsigned long long)l.pos,
                            (unsigned long long)l.size, datlen);
            int stop = pfn(ctx, &pe);
            pkli_buf_free(&kb);
            if (stop)
                goto stop;
            continue;
        }
        int stop = fn(ctx, kb.data, dat + l.pos, (size_t)l.size);
        pkli_buf_free(&kb);
        if (stop)
            goto stop;
    }
    pkli_error_clear(err);
    return 0;
stop:
    pkli_error_setf(err, PKL_E_INTERNAL, 0, -1, "dbm.dumb walk stopped");
    return -1;
}

/* ---- dbm.sqlite3 ---------------------------------------------------------- */

static int blob_key_text(pkli_buf *b, const pkl_allocator *a,
                         const uint8_t *k, size_t n)
{
    pkli_buf_init(b, a, 0);
    pkli_buf_putc(b, '\'');
    pkli_fmt_put_name(b, k, n > 200 ? 200 : n);
    if (n > 200)
        pkli_buf_puts(b, "...");
    pkli_buf_putc(b, '\'');
    pkli_buf_putc(b, '\0');
    return b->failed ? -1 : 0;
}

/* Progress handler: interrupts the query when its budget (in units of
 * 1000 virtual machine steps) is spent. */
static int sqlite_budget(void *p)
{
    uint64_t *left = p;
    if (*left == 0)
        return 1;
    (*left)--;
    return 0;
}

int pkli_sqlite_walk(const uint8_t *buf, size_t len, size_t max_members,
                     const pkl_allocator *a, pkli_dbm_value_fn fn,
                     pkli_dbm_problem_fn pfn, void *ctx, pkl_error *err)
{
    /* 1000 steps per byte is far more than reading every row needs */
    uint64_t budget = (uint64_t)len + 100000;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    uint8_t *copy = NULL;
    int rc = -1, stopped = 0;
    pkl_error pe;
    size_t n = 0;
    if (len < 100) {
        pkli_error_setf(&pe, PKL_E_TRUNCATED, len, -1,
                        "SQLite database shorter than its header");
        stopped = pfn(ctx, &pe);
        rc = stopped ? -1 : 0;
        goto out;
    }
    /* our own copy: sqlite reads it in place and must never see the
     * caller's (possibly mmapped, read-only) bytes change */
    copy = pkli_malloc(a, len);
    if (!copy) {
        pkli_error_setf(err, PKL_E_NOMEM, 0, -1, "SQLite copy");
        return -1;
    }
    memcpy(copy, buf, len);
    /* WAL-mode images (dbm.sqlite3 uses WAL) open only as rollback-journal
     * images in memory; the WAL sidecar is not part of the file anyway */
    if (copy[18] == 2 && copy[19] == 2)
        copy[18] = copy[19] = 1;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) !=
        SQLITE_OK) {
        pkli_error_setf(err, PKL_E_NOMEM, 0, -1, "cannot open SQLite");
        goto out;
    }
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)0);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)0);
    if (sqlite3_deserialize(db, "main", copy, (sqlite3_int64)len,
                            (sqlite3_int64)len,
                            SQLITE_DESERIALIZE_READONLY) != SQLITE_OK) {
        pkli_error_setf(&pe, PKL_E_FORMAT, 0, -1,
                        "SQLite database cannot be opened: %s",
                        sqlite3_errmsg(db));
        stopped = pfn(ctx, &pe);
        rc = stopped ? -1 : 0;
        goto out;
    }
    /* Dict must be a plain table: a view (or a virtual table) would run
     * the attacker's query -- a recursive CTE can spin for hours */
    {
        sqlite3_stmt *q = NULL;
        int plain = 0;
        if (sqlite3_prepare_v2(db, "SELECT type, sql FROM sqlite_schema "
                               "WHERE name = 'Dict'", -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW) {
            const unsigned char *ty = sqlite3_column_text(q, 0);
            const unsigned char *sql = sqlite3_column_text(q, 1);
            plain = ty && sql && strcmp((const char *)ty, "table") == 0 &&
                    sqlite3_strnicmp((const char *)sql, "CREATE TABLE", 12) == 0;
        }
        sqlite3_finalize(q);
        if (!plain) {
            pkli_error_setf(&pe, PKL_E_FORMAT_UNSUPPORTED, 0, -1,
                            "SQLite database is not a dbm.sqlite3 shelf (no "
                            "plain table Dict)");
            stopped = pfn(ctx, &pe);
            rc = stopped ? -1 : 0;
            goto out;
        }
    }
    /* a bounded amount of work per byte of database */
    sqlite3_progress_handler(db, 1000, sqlite_budget, &budget);
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM Dict", -1, &st, NULL) !=
        SQLITE_OK) {
        pkli_error_setf(&pe, PKL_E_FORMAT_UNSUPPORTED, 0, -1,
                        "SQLite database is not a dbm.sqlite3 shelf (%s)",
                        sqlite3_errmsg(db));
        stopped = pfn(ctx, &pe);
        rc = stopped ? -1 : 0;
        goto out;
    }
    for (;;) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            break;
        if (s == SQLITE_INTERRUPT) {
            pkli_error_setf(&pe, PKL_E_LIMIT_VALUES, 0, -1,
                            "SQLite shelf: reading it takes more work than "
                            "its size allows (limit)");
            stopped = pfn(ctx, &pe);
            break;
        }
        if (s != SQLITE_ROW) {
            pkli_error_setf(&pe, PKL_E_FORMAT, 0, -1,
                            "SQLite shelf is damaged: %s", sqlite3_errmsg(db));
            stopped = pfn(ctx, &pe);
            break;
        }
        if (++n > max_members) {
            pkli_error_setf(&pe, PKL_E_LIMIT_VALUES, 0, -1,
                            "dbm.sqlite3: more than %zu keys (limit)",
                            max_members);
            stopped = pfn(ctx, &pe);
            break;
        }
        const uint8_t *k = sqlite3_column_blob(st, 0);
        size_t kl = (size_t)sqlite3_column_bytes(st, 0);
        const uint8_t *v = sqlite3_column_blob(st, 1);
        size_t vl = (size_t)sqlite3_column_bytes(st, 1);
        pkli_buf kb;
        if (blob_key_text(&kb, a, k ? k : (const uint8_t *)"", kl) < 0) {
            pkli_buf_free(&kb);
            pkli_error_setf(err, PKL_E_NOMEM, 0, -1, "SQLite key");
            goto out;
        }
        stopped = fn(ctx, kb.data, v ? v : (const uint8_t *)"", vl);
        pkli_buf_free(&kb);
        if (stopped)
            break;
    }
    rc = stopped ? -1 : 0;
out:
    if (stopped)
        pkli_error_setf(err, PKL_E_INTERNAL, 0, -1, "SQLite walk stopped");
    sqlite3_finalize(st);
    sqlite3_close(db);
    pkli_free(a, copy);
    if (rc == 0)
        pkli_error_clear(err);
    return rc;
}

/* ---- GNU dbm -------------------------------------------------------------- */

int pkli_gdbm_sniff(const uint8_t *b, size_t len)
{
    static const uint32_t magics[] = { 0x13579aceu, 0x13579acdu, 0x13579acfu,
                                       0x13579ad0u, 0x13579ad1u };
    if (len < 4)
        return 0;
    uint32_t le = pkli_dec32le(b);
    uint32_t be = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
                  ((uint32_t)b[2] << 8) | b[3];
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
        if (le == magics[i] || be == magics[i])
            return 1;
    return 0;
}

int pkli_gdbm_walk(const char *fs_path, size_t max_members,
                   pkli_dbm_value_fn fn, pkli_dbm_problem_fn pfn, void *ctx,
                   pkl_error *err)
{
    pkl_error pe;
    int stopped = 0;
    size_t n = 0;
    GDBM_FILE db = gdbm_open(fs_path, 0, GDBM_READER | GDBM_NOLOCK, 0, NULL);
    if (!db) {
        pkli_error_setf(&pe, PKL_E_FORMAT, 0, -1,
                        "GNU dbm file cannot be opened: %s",
                        gdbm_strerror(gdbm_errno));
        stopped = pfn(ctx, &pe);
        goto out;
    }
    datum key = gdbm_firstkey(db);
    while (key.dptr && !stopped) {
        if (++n > max_members) {
            pkli_error_setf(&pe, PKL_E_LIMIT_VALUES, 0, -1,
                            "gdbm: more than %zu keys (limit)", max_members);
            stopped = pfn(ctx, &pe);
            free(key.dptr);
            break;
        }
        datum val = gdbm_fetch(db, key);
        char kt[512];
        size_t w = 0;
        kt[w++] = '\'';
        for (int i = 0; i < key.dsize && i < 200; i++) {
            uint8_t c = (uint8_t)key.dptr[i];
            if (c >= 0x20 && c < 0x7f && c != '\\' && c != '!')
                kt[w++] = (char)c;
            else
                w += (size_t)snprintf(kt + w, sizeof kt - w, "\\x%02x", c);
        }
        kt[w++] = '\'';
        kt[w] = '\0';
        if (!val.dptr) {
            pkli_error_setf(&pe, PKL_E_FORMAT, 0, -1,
                            "gdbm: value of key %s cannot be read: %s", kt,
                            gdbm_strerror(gdbm_errno));
            stopped = pfn(ctx, &pe);
        } else {
            stopped = fn(ctx, kt, (const uint8_t *)val.dptr,
                         val.dsize < 0 ? 0 : (size_t)val.dsize);
            free(val.dptr);
        }
        datum next = gdbm_nextkey(db, key);
        free(key.dptr);
        key = next;
    }
    if (key.dptr)
        free(key.dptr);
    if (!stopped && gdbm_errno != GDBM_NO_ERROR &&
        gdbm_errno != GDBM_ITEM_NOT_FOUND) {
        pkli_error_setf(&pe, PKL_E_FORMAT, 0, -1,
                        "gdbm: iteration failed: %s",
                        gdbm_strerror(gdbm_errno));
        stopped = pfn(ctx, &pe);
    }
out:
    if (db)
        gdbm_close(db);
    if (stopped) {
        pkli_error_setf(err, PKL_E_INTERNAL, 0, -1, "gdbm walk stopped");
        return -1;
    }
    pkli_error_clear(err);
    return 0;
}
