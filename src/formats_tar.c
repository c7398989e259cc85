/* formats_tar.c -- a read-only tar reader that names and sizes members
 * exactly as CPython's tarfile does (Lib/tarfile.py, 3.11-3.14).
 *
 * torch.load tries its pre-1.0 tar format first (torch/serialization.py
 * legacy_load: tarfile.open(fileobj=f, mode="r:"), then
 * tar.extract("storages"), tar.extract("tensors"),
 * tar.extractfile("pickle")), and models travel as .tar.gz. What matters
 * is the name and the bytes tarfile gives each member, so the rules are
 * ported from tarfile itself:
 *
 *   nti()             number fields: base-256 (0o200 / 0o377 first byte)
 *                     or int(text.strip() or "0", 8) of the text before
 *                     the first NUL (sign, 0o prefix, underscores);
 *   calc_chksums()    unsigned or signed byte sum, field read as spaces;
 *   TarInfo.frombuf() every number field must parse, prefix + "/" + name
 *                     when the prefix field is set (whatever the magic),
 *                     v7 directories ('\0' type, trailing slash);
 *   _proc_member()    dispatch: 'L'/'K' -> _proc_gnulong (the padded
 *                     blocks up to the first NUL name the NEXT header),
 *                     'S' -> _proc_sparse, 'x'/'g'/'X' -> _proc_pax,
 *                     anything else -> _proc_builtin (data follows only
 *                     for regular files and unknown types);
 *   _proc_pax()       records "%d keyword=value\n" matched with
 *                     `(\d+) ([^=]+)=` over the whole padded block;
 *                     'g' updates tarfile.pax_headers (applied to every
 *                     later builtin member), 'x'/'X' a copy of it applied
 *                     to the next member; a "size" record moves the next
 *                     header;
 *   _apply_pax_info() path (trailing '/' stripped), size,
 *                     GNU.sparse.name / size / realsize, in the dict's
 *                     insertion order; values decoded by
 *                     _decode_pax_field (bytes that are not UTF-8 become
 *                     surrogates), a "size" int() refuses is 0
 *                     (PAX_NUMBER_FIELDS), a GNU.sparse one raises;
 *   TarFile.next()    an invalid header ends the archive silently, except
 *                     at offset 0 or after an 'L'/'K'/'x'/'g' header
 *                     (ReadError).
 *
 * The overriding headers nest (tarfile recurses: the outermost override
 * is applied last); here they are kept on a small explicit stack instead.
 * Sparse members (old GNU 'S' and pax GNU.sparse.* 0.0, 0.1, 1.0) keep
 * where their map comes from; pkli_tar_sparse rebuilds their content as
 * TarFile.makefile writes it (_proc_sparse, _proc_gnusparse_00/01/10). It never
 * reads outside the buffer, never trusts a size before comparing it with
 * what remains, and never recurses.
 */
#include "formats_internal.h"

#define BLOCK 512u
/* Overriding headers before one member (tarfile would recurse that deep;
 * past a few hundred it fails with RecursionError). */
#define MAX_CHAIN 64

enum { R_OK = 0, R_INVALID = -1, R_SHORT = -2 };

/* Python's str.strip() / int() whitespace, ASCII part. */
static int py_space(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* int(s, 8) for ASCII text s[0..n) already cut at its first NUL
 * (Objects/longobject.c PyLong_FromString: whitespace, sign, optional
 * 0o prefix followed by at most one '_', digits with single underscores
 * between them, whitespace). Saturates at +-INT64_MAX. */
static int py_int8(const uint8_t *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0, digits = 0;
    uint64_t v = 0;
    while (i < n && py_space(s[i]))
        i++;
    while (n > i && py_space(s[n - 1]))
        n--;
    if (i == n) { /* nti: s.strip() or "0" */
        *out = 0;
        return R_OK;
    }
    if (s[i] == '+' || s[i] == '-')
        neg = s[i++] == '-';
    if (n - i >= 2 && s[i] == '0' && (s[i + 1] == 'o' || s[i + 1] == 'O')) {
        i += 2;
        if (i < n && s[i] == '_')
            i++;
    }
    for (; i < n; i++) {
        if (s[i] == '_') {
            if (!digits || i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '7')
                return R_INVALID;
            continue;
        }
        if (s[i] < '0' || s[i] > '7')
            return R_INVALID;
        digits++;
        v = v > (uint64_t)INT64_MAX / 8 ? (uint64_t)INT64_MAX
                                        : v * 8 + (uint64_t)(s[i] - '0');
    }
    if (!digits)
        return R_INVALID;
    if (v > (uint64_t)INT64_MAX)
        v = (uint64_t)INT64_MAX;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return R_OK;
}

/* tarfile.nti(): a number field. R_SHORT when the field is empty (the
 * slice past the end of a short block: s[0] raises IndexError). */
static int nti(const uint8_t *s, size_t n, int64_t *out)
{
    if (n == 0)
        return R_SHORT;
    if (s[0] == 0200 || s[0] == 0377) {
        /* big-endian base-256 over the other n-1 bytes; 0o377 means
         * n - 256**(n-1) */
        uint64_t v = 0;
        int big = 0;
        for (size_t i = 1; i < n; i++) {
            if (v >> 55)
                big = 1;
            v = (v << 8) | s[i];
        }
        if (s[0] == 0200) {
            *out = big || v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
        } else {
            /* negative: v - 256**(n-1); for the 8- and 12-byte fields
             * anything not tiny is far below any size or checksum */
            if (n - 1 <= 7)
                *out = (int64_t)v - ((int64_t)1 << (8 * (n - 1)));
            else
                *out = INT64_MIN;
        }
        return R_OK;
    }
    size_t k = 0;
    while (k < n && s[k])
        k++;
    for (size_t i = 0; i < k; i++)
        if (s[i] >= 0x80) /* nts(s, "ascii", "strict") */
            return R_INVALID;
    return py_int8(s, k, out);
}

/* tarfile.calc_chksums(): the stored checksum must equal one of them. */
static int checksum_ok(const uint8_t *h, int64_t want)
{
    int64_t u = 256, s = 256;
    for (size_t i = 0; i < BLOCK; i++) {
        if (i >= 148 && i < 156)
            continue;
        u += h[i];
        s += (int8_t)h[i];
    }
    return want == u || want == s;
}

static int zero_block(const uint8_t *h)
{
    for (size_t i = 0; i < BLOCK; i++)
        if (h[i])
            return 0;
    return 1;
}

/* TarInfo._block(): count rounded up to a whole block (Python's floor
 * division, so -1..-512 give 0 and smaller sizes go backwards). */
static int64_t block_of(int64_t n)
{
    if (n > INT64_MAX - (int64_t)BLOCK)
        return INT64_MAX;
    int64_t q = n / (int64_t)BLOCK, r = n % (int64_t)BLOCK;
    if (r < 0) {
        q--;
        r += BLOCK;
    }
    return (q + (r != 0)) * (int64_t)BLOCK;
}

typedef struct hdr {
    const uint8_t *h;
    size_t at;
    int64_t size;
    uint8_t type;
    int sparse_ext;       /* 'S': extension blocks follow */
} hdr;

/* TarInfo.frombuf(): the header at pos. R_OK, R_INVALID (bad checksum or
 * number: InvalidHeaderError), R_SHORT (fewer than 512 bytes left), 1 (an
 * all-zero block: EOFHeaderError). */
static int frombuf(const pkli_tar *t, size_t pos, hdr *x)
{
    static const struct { uint16_t off, len; } nums[] = {
        { 100, 8 }, { 108, 8 }, { 116, 8 }, { 136, 12 }, { 329, 8 }, { 337, 8 }
    };
    int64_t v;
    if (pos > t->len || t->len - pos < BLOCK)
        return R_SHORT;
    const uint8_t *h = t->buf + pos;
    if (zero_block(h))
        return 1;
    if (nti(h + 148, 8, &v) != R_OK || !checksum_ok(h, v))
        return R_INVALID;
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (nti(h + nums[i].off, nums[i].len, &v) != R_OK)
            return R_INVALID;
    if (nti(h + 124, 12, &x->size) != R_OK)
        return R_INVALID;
    x->h = h;
    x->at = pos;
    x->type = h[156];
    x->sparse_ext = 0;
    if (x->type == 'S') { /* four sparse structs and origsize */
        for (size_t i = 0; i < 4; i++)
            if (nti(h + 386 + 24 * i, 12, &v) != R_OK ||
                nti(h + 398 + 24 * i, 12, &v) != R_OK)
                return R_INVALID;
        if (nti(h + 483, 12, &v) != R_OK)
            return R_INVALID;
        x->sparse_ext = h[482] != 0;
    }
    return R_OK;
}

int pkli_tar_sniff(const uint8_t *buf, size_t len)
{
    pkli_tar t;
    hdr x;
    pkli_tar_open(&t, buf, len);
    return frombuf(&t, 0, &x) == R_OK;
}

void pkli_tar_open(pkli_tar *t, const uint8_t *buf, size_t len)
{
    memset(t, 0, sizeof *t);
    t->buf = buf;
    t->len = len;
}

/* ---- pax records ------------------------------------------------------- */

static const char *const pax_keys[PKLI_PAX_N] = {
    [PKLI_PAX_PATH] = "path", [PKLI_PAX_SIZE] = "size",
    [PKLI_PAX_LINKPATH] = "linkpath", [PKLI_PAX_SPNAME] = "GNU.sparse.name",
    [PKLI_PAX_SPSIZE] = "GNU.sparse.size",
    [PKLI_PAX_SPREALSIZE] = "GNU.sparse.realsize",
    [PKLI_PAX_SPMAP] = "GNU.sparse.map", [PKLI_PAX_SPMAJOR] = "GNU.sparse.major",
    [PKLI_PAX_SPMINOR] = "GNU.sparse.minor",
};

static void pax_set(pkli_pax *p, int k, const uint8_t *v, size_t n)
{
    if (!p->has[k]) { /* a dict keeps a key where it was first inserted */
        p->has[k] = 1;
        p->seq[k] = p->nseq++;
    }
    p->v[k] = v;
    p->n[k] = n;
}

/* _proc_pax's record loop over d[0..n): regex.match(buf, pos) with
 * `(\d+) ([^=]+)=`; value = buf[end(2)+1 : start(1)+length-1]. -1 for a
 * zero length (InvalidHeaderError). */
static int pax_parse(pkli_pax *p, const uint8_t *d, size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        size_t q = pos;
        uint64_t len = 0;
        int big = 0;
        while (q < n && d[q] >= '0' && d[q] <= '9') {
            if (len > ((uint64_t)1 << 60))
                big = 1;
            len = len * 10 + (uint64_t)(d[q++] - '0');
        }
        if (q == pos || q >= n || d[q] != ' ')
            return 0;
        size_t ks = ++q;
        /* [^=]+ is greedy then backtracks to the last '=' it can reach:
         * the match ends at the first '=' only because [^=] excludes it */
        while (q < n && d[q] != '=')
            q++;
        if (q == ks || q >= n)
            return 0;
        if (len == 0)
            return -1;
        size_t ke = q, vs = q + 1;
        size_t ve = big || len > n - pos ? n : pos + (size_t)len - 1;
        if (ve < vs)
            ve = vs; /* an empty slice */
        if (ve > n)
            ve = n;
        for (int k = 0; k < PKLI_PAX_N; k++)
            if (strlen(pax_keys[k]) == ke - ks &&
                memcmp(pax_keys[k], d + ks, ke - ks) == 0)
                pax_set(p, k, d + vs, ve - vs);
        if (big || len >= n - pos)
            return 0;
        pos += (size_t)len;
    }
    return 0;
}

/* int() of ASCII text s[0..n) in base 10 (int(bytes), and int(str) once
 * _PyUnicode_TransformDecimalAndSpaceToASCII made it ASCII):
 * Objects/longobject.c PyLong_FromString -- Py_ISSPACE whitespace (" \t\n
 * \v\f\r" only: int('\x1c5') raises although '\x1c'.isspace()), sign,
 * digits with single underscores between them. Saturates at +-INT64_MAX.
 * 0, -1 when int() raises ValueError. */
static int pax_int(const uint8_t *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0, digits = 0;
    uint64_t v = 0;
    while (i < n && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')))
        i++;
    while (n > i && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r')))
        n--;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    for (; i < n; i++) {
        if (s[i] == '_') {
            if (!digits || i + 1 >= n || s[i + 1] < '0' || s[i + 1] > '9')
                return -1;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            return -1;
        digits++;
        v = v > (uint64_t)INT64_MAX / 10 ? (uint64_t)INT64_MAX
                                         : v * 10 + (uint64_t)(s[i] - '0');
    }
    if (!digits)
        return -1;
    if (v > (uint64_t)INT64_MAX)
        v = (uint64_t)INT64_MAX;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* Whether s[0..n) is strict UTF-8 (Objects/unicodeobject.c's decoder:
 * no overlong forms, no surrogates, nothing past U+10FFFF). */
static int utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            k = 1, cp = c & 0x1fu, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2, cp = c & 0x0fu, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3, cp = c & 0x07u, min = 0x10000;
        else
            return 0;
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* The first code point of each run of ten decimal digits (Nd, 0..9)
 * past ASCII in CPython 3.11's unicodedata (Unicode 14.0.0), which
 * Py_UNICODE_TODECIMAL reads: `chr(c).isdecimal()` over every code point,
 * compared with 3.12.1 and 3.13.0 (Unicode 15.0, 15.1), which add only
 * U+11F50 (Kawi) and U+1E4F0 (Nag Mundari). Unicode 16.0 (3.14) adds
 * runs outside the BMP as well (Garay, Sunuwar, Gurung Khema, Kirat Rai,
 * Ol Onal, Myanmar Extended-C, outlined digits): a code point past the
 * BMP that 3.11 does not read as a digit is reported, not guessed. */
static const uint32_t nd_runs[] = {
    0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66,
    0xce6, 0xd66, 0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0,
    0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90, 0x1b50, 0x1bb0, 0x1c40, 0x1c50,
    0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10,
    0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0,
    0x11450, 0x114d0, 0x11650, 0x116c0, 0x11730, 0x118e0, 0x11950,
    0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50, 0x1d7ce,
    0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950,
    0x1fbf0,
};

/* Py_UNICODE_ISSPACE past ASCII (the same in 3.11-3.14). */
static int uni_space(uint32_t c)
{
    return c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

/* int(value) for a value _proc_pax decoded (_decode_pax_field: UTF-8,
 * strict; when that fails, tarfile.encoding with tarfile.errors --
 * torch.load's tarfile.open passes neither, so the file system encoding,
 * UTF-8 on current Pythons (PEP 529/540), and "surrogateescape"). Bytes
 * that are not UTF-8 so become lone surrogates, which int() refuses: -1
 * (ValueError). Otherwise int(str) as Objects/longobject.c
 * PyLong_FromUnicodeObject runs it: _PyUnicode_TransformDecimalAndSpaceToASCII
 * maps each code point past U+007E to ' ' (Unicode whitespace) or its
 * digit, and anything else ends the text in '?' (ValueError); then
 * pax_int. -2 for a code point outside the BMP that is no digit to 3.11
 * (a newer Python's Unicode may call it one). */
static int pax_num(const uint8_t *s, size_t n, int64_t *out)
{
    uint8_t a[256];
    size_t k = 0, i = 0;
    int unsure = 0;
    if (!utf8_ok(s, n))
        return -1;
    while (i < n && s[i] < 0x80)
        i++;
    if (i == n) /* ASCII: int() parses it as it is */
        return pax_int(s, n, out);
    if (n > sizeof a)
        return -2; /* longer than any number we map */
    i = 0;
    while (i < n) {
        uint32_t c = s[i];
        size_t l = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        if (l > 1) {
            c &= 0x7fu >> l;
            for (size_t j = 1; j < l; j++)
                c = c << 6 | (s[i + j] & 0x3fu);
        }
        i += l;
        uint8_t o = '?';
        if (c < 0x7f) {
            o = (uint8_t)c;
        } else if (uni_space(c)) {
            o = ' ';
        } else {
            for (size_t r = 0; r < sizeof nd_runs / sizeof *nd_runs; r++)
                if (c >= nd_runs[r] && c - nd_runs[r] < 10)
                    o = (uint8_t)('0' + (c - nd_runs[r]));
            if (o == '?' && c >= 0x10000) {
                unsure = 1; /* 3.11 refuses it; a newer Python may not */
                o = '0';
            }
        }
        if (o == '?')
            return -1;
        a[k++] = o;
    }
    /* a digit's value never decides whether int() accepts the text */
    if (pax_int(a, k, out) != 0)
        return -1;
    return unsure ? -2 : 0;
}

/* ---- members ------------------------------------------------------------ */

static int name_put(pkli_tar_entry *e, const uint8_t *s, size_t n)
{
    size_t room = sizeof e->name - 1 - e->name_len;
    if (n > room) {
        n = room;
        e->name_cut = 1;
    }
    memcpy(e->name + e->name_len, s, n);
    e->name_len += n;
    e->name[e->name_len] = '\0';
    return 0;
}

static void name_set(pkli_tar_entry *e, const uint8_t *s, size_t n)
{
    e->name_len = 0;
    e->name_cut = 0;
    name_put(e, s, n);
}

static void link_set(pkli_tar_entry *e, const uint8_t *s, size_t n)
{
    if (n > sizeof e->link - 1)
        n = sizeof e->link - 1;
    memcpy(e->link, s, n);
    e->link_len = n;
    e->link[n] = '\0';
}

static size_t nts_len(const uint8_t *s, size_t n)
{
    const uint8_t *z = memchr(s, 0, n);
    return z ? (size_t)(z - s) : n;
}

static int is_dir(const pkli_tar_entry *e)
{
    return e->type == '5';
}

/* REGULAR_TYPES, or a type outside SUPPORTED_TYPES (read as a file). */
static int data_follows(uint8_t type)
{
    return type == '\0' || !strchr("123456LK", type);
}

static void strip_slashes(pkli_tar_entry *e, int all)
{
    while (e->name_len && e->name[e->name_len - 1] == '/') {
        e->name[--e->name_len] = '\0';
        if (!all)
            break;
    }
}

/* _apply_pax_info(): the records in insertion order. -1 when a
 * GNU.sparse size is no number (int() raises out of tarfile), -2 for a
 * number we do not read (not ASCII). */
static int apply_pax(pkli_tar_entry *e, const pkli_pax *p)
{
    for (unsigned s = 0; s < p->nseq; s++) {
        int k;
        for (k = 0; k < PKLI_PAX_N; k++)
            if (p->has[k] && p->seq[k] == s)
                break;
        if (k == PKLI_PAX_N)
            continue;
        int64_t v = 0;
        int rc;
        switch (k) {
        case PKLI_PAX_PATH:
            name_set(e, p->v[k], p->n[k]);
            strip_slashes(e, 1);
            break;
        case PKLI_PAX_SPNAME:
            name_set(e, p->v[k], p->n[k]);
            break;
        case PKLI_PAX_LINKPATH:
            link_set(e, p->v[k], p->n[k]);
            break;
        case PKLI_PAX_SIZE:
            rc = pax_num(p->v[k], p->n[k], &v);
            if (rc == -2)
                return -2;
            e->size_field = rc < 0 ? 0 : v;
            break;
        case PKLI_PAX_SPSIZE: case PKLI_PAX_SPREALSIZE:
            rc = pax_num(p->v[k], p->n[k], &v);
            if (rc < 0)
                return rc;
            e->size_field = v;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* One level of overriding header ('L', 'K', 'x', 'X' or 'g'). */
typedef struct over {
    uint8_t type;
    size_t at;
    const uint8_t *data; /* the padded block read, cut to what exists */
    size_t len;
    pkli_pax pax;        /* x/X: a copy of the globals plus the records */
} over;

static int fail(pkl_error *err, int code, size_t off, const char *what,
                size_t at)
{
    pkli_error_setf(err, code, off, -1, "tar: %s (header at offset %zu)",
                    what, at);
    return -1;
}

/* The member's own header (_proc_builtin / _proc_sparse / frombuf's
 * name rules). Sets e and t->pos. */
static int builtin(pkli_tar *t, const hdr *x, pkli_tar_entry *e,
                   pkl_error *err)
{
    const uint8_t *h = x->h;
    size_t data = x->at + BLOCK;
    memset(e, 0, sizeof *e);
    e->type = x->type;
    e->size_field = x->size;
    e->header_offset = x->at;
    name_set(e, h, nts_len(h, 100));
    link_set(e, h + 157, nts_len(h + 157, 100));
    if (e->type == '\0' && e->name_len && e->name[e->name_len - 1] == '/')
        e->type = '5';
    if (is_dir(e))
        strip_slashes(e, 1);
    size_t pl = nts_len(h + 345, 155);
    if (pl && !strchr("LKS", e->type)) {
        uint8_t nm[512];
        size_t nl = e->name_len;
        memcpy(nm, e->name, nl);
        name_set(e, h + 345, pl);
        name_put(e, (const uint8_t *)"/", 1);
        name_put(e, nm, nl);
    }
    if (e->type == 'S') {
        /* _proc_sparse: extension blocks (21 structs, flag at 504) */
        int more = x->sparse_ext;
        while (more) {
            if (data > t->len || t->len - data < BLOCK)
                return fail(err, PKL_E_TRUNCATED, data,
                            "sparse extension block cut short", x->at);
            int64_t v;
            for (size_t i = 0; i < 21; i++)
                if (nti(t->buf + data + 24 * i, 12, &v) != R_OK ||
                    nti(t->buf + data + 24 * i + 12, 12, &v) != R_OK)
                    return fail(err, PKL_E_FORMAT, data,
                                "sparse extension block has a bad number",
                                x->at);
            more = t->buf[data + 504] != 0;
            data += BLOCK;
        }
        e->sparse = 1;
        e->sparse_kind = PKLI_SPARSE_OLD;
        e->sp_src = h;
        e->sp_ext = (data - x->at - BLOCK) / BLOCK;
        int64_t orig;
        nti(h + 483, 12, &orig);
        e->stored = x->size;
        e->size_field = orig;
        int64_t b = block_of(x->size);
        t->pos = b < 0 || (uint64_t)b > t->len - data ? t->len : data + (size_t)b;
        e->data_offset = data;
        return 0;
    }
    e->data_offset = data;
    e->stored = x->size;
    int64_t b = data_follows(e->type) ? block_of(x->size) : 0;
    if (b < 0)
        return fail(err, PKL_E_BAD_LENGTH, x->at + 124, "negative size: "
                    "tarfile would read earlier headers again", x->at);
    t->pos = (uint64_t)b > t->len - data ? t->len : data + (size_t)b;
    int rc = apply_pax(e, &t->glob);
    if (rc == -2)
        return fail(err, PKL_E_FORMAT_UNSUPPORTED, x->at,
                    "global pax size: a character only a newer Python "
                    "may read as a digit", x->at);
    if (rc < 0)
        return fail(err, PKL_E_FORMAT, x->at,
                    "global pax GNU.sparse size is no number", x->at);
    if (is_dir(e))
        strip_slashes(e, 1);
    return 0;
}

/* _proc_gnusparse_10: the map is text at the start of the member's data,
 * read a block at a time: `fields\n` in the first block, then 2 * fields
 * numbers each ending in '\n', one more block read whenever the buffer
 * holds no '\n'; offset_data moves past the blocks read. Returns the kind:
 * PAX10, or BAD when tarfile raises (a missing '\n', int() refusing a
 * number, the data ending). */
static int sparse10_map(const pkli_tar *t, pkli_tar_entry *e)
{
    size_t at = e->data_offset, got, p;
    if (at > t->len)
        return PKLI_SPARSE_BAD;
    got = t->len - at < BLOCK ? t->len - at : BLOCK;
    const uint8_t *b = t->buf + at;
    const uint8_t *nl = memchr(b, '\n', got);
    int64_t fields;
    if (!nl || pax_int(b, (size_t)(nl - b), &fields) != 0)
        return PKLI_SPARSE_BAD;
    p = (size_t)(nl - b) + 1;
    e->sp_src = b + p;
    /* fields * 2 numbers: each takes at least one byte, so a count past
     * what the archive holds ends in BAD */
    for (int64_t k = 0; fields > 0 && k < fields * 2 && k >= 0; k++) {
        nl = memchr(b + p, '\n', got - p);
        if (!nl) {
            size_t more = t->len - at - got < BLOCK ? t->len - at - got : BLOCK;
            got += more;
            nl = memchr(b + p, '\n', got - p);
        }
        int64_t v;
        if (!nl || pax_int(b + p, (size_t)(nl - b) - p, &v) != 0)
            return PKLI_SPARSE_BAD;
        p = (size_t)(nl - b) + 1;
        if (fields > (int64_t)(t->len / 2))
            return PKLI_SPARSE_BAD; /* more numbers than bytes */
    }
    e->sp_len = (size_t)(b + p - e->sp_src);
    e->data_offset = at + got;
    return PKLI_SPARSE_PAX10;
}

/* Applies the overriding headers, innermost first, as tarfile's recursion
 * returns through them. */
static int unwind(pkli_tar *t, over *ov, size_t nov, pkli_tar_entry *e,
                  pkl_error *err)
{
    for (size_t i = nov; i-- > 0;) {
        const over *o = &ov[i];
        if (o->type == 'L' || o->type == 'K') {
            size_t n = nts_len(o->data, o->len);
            if (o->type == 'L')
                name_set(e, o->data, n);
            else
                link_set(e, o->data, n);
            if (is_dir(e) && e->name_len && e->name[e->name_len - 1] == '/')
                e->name[--e->name_len] = '\0'; /* removesuffix("/") */
            e->header_offset = o->at;
            continue;
        }
        const pkli_pax *p = o->type == 'g' ? &t->glob : &o->pax;
        /* _proc_pax: GNU.sparse.map (0.1), else GNU.sparse.size (0.0),
         * else major "1" and minor "0" (1.0) */
        int kind = p->has[PKLI_PAX_SPMAP]    ? PKLI_SPARSE_PAX01
                   : p->has[PKLI_PAX_SPSIZE] ? PKLI_SPARSE_PAX00
                   : p->has[PKLI_PAX_SPMAJOR] && p->n[PKLI_PAX_SPMAJOR] == 1 &&
                           p->v[PKLI_PAX_SPMAJOR][0] == '1' &&
                           p->has[PKLI_PAX_SPMINOR] &&
                           p->n[PKLI_PAX_SPMINOR] == 1 &&
                           p->v[PKLI_PAX_SPMINOR][0] == '0'
                       ? PKLI_SPARSE_PAX10
                       : PKLI_SPARSE_NONE;
        if (kind != PKLI_SPARSE_NONE) {
            if (e->sparse) {
                e->sparse_kind = PKLI_SPARSE_NESTED;
            } else if (kind == PKLI_SPARSE_PAX01) {
                e->sp_src = p->v[PKLI_PAX_SPMAP];
                e->sp_len = p->n[PKLI_PAX_SPMAP];
                e->sparse_kind = kind;
            } else if (kind == PKLI_SPARSE_PAX00) {
                e->sp_src = o->data; /* finditer over this header's block */
                e->sp_len = o->len;
                e->sparse_kind = kind;
            } else {
                e->sparse_kind = sparse10_map(t, e);
            }
            e->sparse = 1;
        }
        if (o->type == 'g')
            continue;
        int rc = apply_pax(e, p);
        if (rc == -2)
            return fail(err, PKL_E_FORMAT_UNSUPPORTED, o->at,
                        "pax size: a character only a newer Python may "
                        "read as a digit", o->at);
        if (rc < 0)
            return fail(err, PKL_E_FORMAT, o->at,
                        "pax GNU.sparse size is no number", o->at);
        e->header_offset = o->at;
        if (p->has[PKLI_PAX_SIZE] && data_follows(e->type)) {
            int64_t b = block_of(e->size_field);
            if (b < 0)
                return fail(err, PKL_E_BAD_LENGTH, o->at, "negative pax "
                            "size: tarfile would read earlier headers again",
                            o->at);
            t->pos = e->data_offset > t->len ||
                             (uint64_t)b > t->len - e->data_offset
                         ? t->len
                         : e->data_offset + (size_t)b;
        }
    }
    return 0;
}

/* What extractfile() reads: size_field bytes from data_offset, or what
 * exists of them. */
static void locate(const pkli_tar *t, pkli_tar_entry *e)
{
    e->data = NULL;
    e->size = 0;
    e->declared = e->size_field > 0 ? (uint64_t)e->size_field : 0;
    if (!data_follows(e->type) || e->data_offset > t->len)
        return;
    /* sparse: the stored bytes (holes are not rebuilt) */
    int64_t want = e->sparse ? e->stored : e->size_field;
    size_t avail = t->len - e->data_offset;
    e->data = t->buf + e->data_offset;
    e->size = want <= 0 ? 0 : (uint64_t)want < avail ? (size_t)want : avail;
    if (e->sparse)
        e->declared = want > 0 ? (uint64_t)want : 0;
}

int pkli_tar_next(pkli_tar *t, pkli_tar_entry *e, pkl_error *err)
{
    over ov[MAX_CHAIN];
    size_t nov = 0;
    if (t->ended)
        return 0;
    for (;;) {
        hdr x;
        size_t pos = t->pos;
        int rc = frombuf(t, pos, &x);
        if (rc != R_OK) {
            t->ended = 1;
            if (nov) /* SubsequentHeaderError -> ReadError */
                return fail(err, PKL_E_FORMAT, pos, "the header after an "
                            "extended header is missing or invalid",
                            ov[nov - 1].at);
            if (rc == 1 || (rc == R_SHORT && pos >= t->len))
                return 0;
            if (pos == 0)
                return fail(err, PKL_E_FORMAT, 0, "the first header is "
                            "invalid", 0);
            /* tarfile ends the archive here without a word */
            t->end_junk = pos;
            return 0;
        }
        if (!strchr("LKxXg", x.type) || x.type == '\0')
            break;
        if (nov == MAX_CHAIN) {
            t->ended = 1;
            return fail(err, PKL_E_FORMAT_UNSUPPORTED, pos, "too many "
                        "extended headers in a row", pos);
        }
        over *o = &ov[nov++];
        size_t data = pos + BLOCK;
        int64_t b = block_of(x.size);
        o->type = x.type;
        o->at = pos;
        o->data = t->buf + data;
        o->len = b < 0 ? t->len - data
                       : (uint64_t)b < t->len - data ? (size_t)b : t->len - data;
        t->pos = b < 0 ? t->len : data + o->len;
        if (x.type == 'x' || x.type == 'X' || x.type == 'g') {
            pkli_pax *p = x.type == 'g' ? &t->glob : &o->pax;
            if (x.type != 'g')
                *p = t->glob;
            if (pax_parse(p, o->data, o->len) < 0) {
                t->ended = 1;
                /* InvalidHeaderError: the end, or ReadError at 0 */
                if (pos == 0 || nov > 1)
                    return fail(err, PKL_E_FORMAT, pos, "pax record of "
                                "length 0", pos);
                t->end_junk = pos;
                return 0;
            }
        }
    }
    hdr x;
    frombuf(t, t->pos, &x);
    if (builtin(t, &x, e, err) < 0 || unwind(t, ov, nov, e, err) < 0) {
        t->ended = 1;
        return -1;
    }
    locate(t, e);
    t->next++;
    return 1;
}

/* ---- sparse members ---------------------------------------------------- */

/* The (offset, numbytes) pairs of TarInfo.sparse, one at a time. */
typedef struct sp_iter {
    const pkli_tar *t;
    const pkli_tar_entry *e;
    size_t i;        /* OLD: struct index (4 in the header, 21 a block) */
    size_t p, q;     /* PAX00: the two finditer cursors; others: cursor */
} sp_iter;

/* re.finditer(rb"\d+ KEY=(\d+)\n", buf) from *at: the next match's value
 * (saturating), *at moved past it. 0 when there is none. */
static int pax00_next(const uint8_t *d, size_t n, size_t *at, const char *key,
                      int64_t *v)
{
    size_t kl = strlen(key);
    for (size_t k = *at; k + kl <= n; k++) {
        if (memcmp(d + k, key, kl) != 0)
            continue;
        /* "\d+ " before the key, not before *at */
        if (k < *at + 2 || d[k - 1] != ' ' || d[k - 2] < '0' || d[k - 2] > '9')
            continue;
        size_t j = k + kl;
        uint64_t x = 0;
        size_t ds = j;
        while (j < n && d[j] >= '0' && d[j] <= '9') {
            x = x > (uint64_t)INT64_MAX / 10 ? (uint64_t)INT64_MAX
                                             : x * 10 + (uint64_t)(d[j] - '0');
            j++;
        }
        if (j == ds || j >= n || d[j] != '\n')
            continue;
        *v = x > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)x;
        *at = j + 1;
        return 1;
    }
    return 0;
}

/* 1 with the next pair, 0 at the end, -1 when tarfile raises. */
static int sp_next(sp_iter *it, int64_t *off, int64_t *num)
{
    const pkli_tar_entry *e = it->e;
    switch (e->sparse_kind) {
    case PKLI_SPARSE_OLD:
        /* _proc_sparse: the header's four structs as they are, then the
         * extension blocks' 21 each, kept when both numbers are non-zero */
        for (;;) {
            const uint8_t *s;
            if (it->i < 4) {
                s = e->sp_src + 386 + 24 * it->i;
            } else {
                size_t k = it->i - 4, blk = k / 21;
                if (blk >= e->sp_ext)
                    return 0;
                s = e->sp_src + BLOCK * (blk + 1) + 24 * (k % 21);
            }
            it->i++;
            if (nti(s, 12, off) != R_OK || nti(s + 12, 12, num) != R_OK)
                return -1; /* builtin() checked them: cannot happen */
            if (it->i <= 4 || (*off && *num))
                return 1;
        }
    case PKLI_SPARSE_PAX00:
        if (!pax00_next(e->sp_src, e->sp_len, &it->p, "GNU.sparse.offset=",
                        off) ||
            !pax00_next(e->sp_src, e->sp_len, &it->q, "GNU.sparse.numbytes=",
                        num))
            return 0;
        return 1;
    case PKLI_SPARSE_PAX01:
    case PKLI_SPARSE_PAX10: {
        /* 0.1: int() of each ','-separated field; 1.0: of each line; a
         * last odd number is dropped (zip) */
        uint8_t sep = e->sparse_kind == PKLI_SPARSE_PAX01 ? ',' : '\n';
        int64_t v[2];
        for (int k = 0; k < 2; k++) {
            if (it->q || (sep == '\n' && it->p >= e->sp_len))
                return 0;
            const uint8_t *a = e->sp_src + it->p;
            size_t rest = e->sp_len - it->p;
            const uint8_t *z = memchr(a, sep, rest);
            size_t l = z ? (size_t)(z - a) : rest;
            /* 0.1 splits the decoded pax value; 1.0 int()s raw bytes
             * (bytes past ASCII: ValueError either way) */
            if ((sep == ',' ? pax_num(a, l, &v[k]) : pax_int(a, l, &v[k])) != 0)
                return -1; /* int() raises (every field is converted) */
            it->p += l + (z != NULL);
            if (!z || (sep == '\n' && it->p >= e->sp_len))
                it->q = 1; /* the last field */
            if (it->q && k == 0)
                return 0; /* an odd last number: zip() drops it */
        }
        *off = v[0];
        *num = v[1];
        return 1;
    }
    default:
        return -1;
    }
}

int pkli_tar_sparse(const pkli_tar *t, const pkli_tar_entry *e,
                    pkl_allocator *a, size_t limit, uint8_t **out,
                    size_t *outlen, int *ordered, pkl_error *err)
{
    sp_iter it;
    int64_t off, num;
    int rc, code = 0;
    size_t src = e->data_offset;
    int64_t last = 0;
    *out = NULL;
    *outlen = 0;
    *ordered = 1;
    if (e->sparse_kind == PKLI_SPARSE_NESTED ||
        e->sparse_kind == PKLI_SPARSE_BAD || e->size_field < 0) {
        pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, e->header_offset, -1,
                        "tar: sparse map %s: holes not rebuilt",
                        e->sparse_kind == PKLI_SPARSE_NESTED
                            ? "set by several headers"
                        : e->sparse_kind == PKLI_SPARSE_BAD
                            ? "that tarfile cannot read"
                            : "with a negative size");
        return PKL_E_FORMAT_UNSUPPORTED;
    }
    size_t n = (uint64_t)e->size_field > limit ? limit : (size_t)e->size_field;
    uint8_t *buf = pkli_malloc(a, n ? n : 1);
    if (!buf) {
        pkli_error_setf(err, PKL_E_NOMEM, e->header_offset, -1,
                        "tar: sparse member of %zu bytes", n);
        return PKL_E_NOMEM;
    }
    memset(buf, 0, n);
    memset(&it, 0, sizeof it);
    it.t = t;
    it.e = e;
    /* the map has at most as many pairs as the archive has bytes */
    for (size_t pairs = 0; (rc = sp_next(&it, &off, &num)) == 1; pairs++) {
        if (off < 0 || num < 0 || pairs > t->len) {
            /* seek() to a negative offset raises; copyfileobj with a
             * negative length copies a block's remainder: not followed */
            pkli_free(a, buf);
            pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, e->header_offset,
                            -1, "tar: sparse map with a negative offset or "
                            "size: holes not rebuilt");
            return PKL_E_FORMAT_UNSUPPORTED;
        }
        if (num == 0)
            continue; /* covers nothing in either reader */
        if (off < last)
            *ordered = 0;
        last = off > INT64_MAX - num ? INT64_MAX : off + num;
        /* makefile: copyfileobj(source, target, numbytes) reads on from
         * offset_data through the whole archive */
        size_t have = src <= t->len ? t->len - src : 0;
        size_t take = (uint64_t)num > have ? have : (size_t)num;
        if ((uint64_t)off < n) {
            size_t room = n - (size_t)off;
            memcpy(buf + off, t->buf + src, take < room ? take : room);
        }
        if (take < (uint64_t)num) {
            code = PKL_E_TRUNCATED;
            pkli_error_setf(err, code, e->header_offset, -1,
                            "tar: the archive ends inside a sparse chunk "
                            "(%lld bytes at offset %lld): extract() raises "
                            "ReadError", (long long)num, (long long)off);
            break;
        }
        src += take;
    }
    if (rc < 0) {
        pkli_free(a, buf);
        pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, e->header_offset, -1,
                        "tar: sparse map that tarfile cannot read: holes not "
                        "rebuilt");
        return PKL_E_FORMAT_UNSUPPORTED;
    }
    *out = buf;
    *outlen = n;
    if (!code && n < (uint64_t)e->size_field) {
        code = PKL_E_LIMIT_OUTPUT;
        pkli_error_setf(err, code, e->header_offset, -1,
                        "tar: sparse member of %lld bytes: the first %zu "
                        "(limit) rebuilt and scanned",
                        (long long)e->size_field, n);
    }
    return code;
}

/* tarfile._FileInFile.__init__ (Lib/tarfile.py, 3.11): the blocks of
 * TarInfo.sparse in map order, a hole before a block that starts past the
 * last block's end, each block's data at offset_data plus the sizes of the
 * blocks before it (zero-size blocks included), and a hole to the end. */
typedef struct ffblock {
    int data;
    int64_t start, stop;
    size_t real;
} ffblock;

static int ff_add(ffblock *m, size_t *n, int data, int64_t start,
                  int64_t stop, size_t real)
{
    if (*n >= PKLI_TAR_STREAM_BLOCKS)
        return -1;
    m[*n].data = data;
    m[*n].start = start;
    m[*n].stop = stop;
    m[*n].real = real;
    (*n)++;
    return 0;
}

static int ff_unsupported(pkl_error *err, const pkli_tar_entry *e,
                          const char *why)
{
    pkli_error_setf(err, PKL_E_FORMAT_UNSUPPORTED, e->header_offset, -1,
                    "tar: sparse map %s: extractfile()'s bytes not rebuilt",
                    why);
    return PKL_E_FORMAT_UNSUPPORTED;
}

int pkli_tar_sparse_stream(const pkli_tar *t, const pkli_tar_entry *e,
                           pkl_allocator *a, size_t limit, uint8_t **out,
                           size_t *outlen, pkl_error *err)
{
    sp_iter it;
    int64_t off, num, lastpos = 0;
    size_t real = e->data_offset, nb = 0;
    int rc, code = 0;
    *out = NULL;
    *outlen = 0;
    if (e->sparse_kind == PKLI_SPARSE_NESTED ||
        e->sparse_kind == PKLI_SPARSE_BAD || e->size_field < 0)
        return ff_unsupported(err, e, "not followed");
    ffblock *m = pkli_malloc(a, PKLI_TAR_STREAM_BLOCKS * sizeof *m);
    if (!m)
        goto nomem;
    memset(&it, 0, sizeof it);
    it.t = t;
    it.e = e;
    while ((rc = sp_next(&it, &off, &num)) == 1) {
        if (off < 0 || num < 0 || off > INT64_MAX - num) {
            pkli_free(a, m);
            return ff_unsupported(err, e, "with a negative offset or size");
        }
        if ((off > lastpos && ff_add(m, &nb, 0, lastpos, off, 0) < 0) ||
            ff_add(m, &nb, 1, off, off + num, real) < 0) {
            pkli_free(a, m);
            return ff_unsupported(err, e, "of too many blocks");
        }
        real = (uint64_t)num > SIZE_MAX - real ? SIZE_MAX : real + (size_t)num;
        lastpos = off + num;
    }
    if (rc < 0) {
        pkli_free(a, m);
        return ff_unsupported(err, e, "that tarfile cannot read");
    }
    if (lastpos < e->size_field &&
        ff_add(m, &nb, 0, lastpos, e->size_field, 0) < 0) {
        pkli_free(a, m);
        return ff_unsupported(err, e, "of too many blocks");
    }
    size_t n = (uint64_t)e->size_field > limit ? limit : (size_t)e->size_field;
    uint8_t *buf = pkli_malloc(a, n ? n : 1);
    if (!buf) {
        pkli_free(a, m);
        goto nomem;
    }
    /* _FileInFile.read: from map_index, the first block holding the
     * position (wrapping once); a data block's bytes from the archive
     * (ReadError when they run out), a hole's zeros */
    size_t pos = 0, idx = 0;
    while (pos < n) {
        size_t tries = 0;
        while (!(m[idx].start <= (int64_t)pos && (int64_t)pos < m[idx].stop)) {
            idx = idx + 1 == nb ? 0 : idx + 1;
            if (++tries > nb) {
                pkli_free(a, m);
                pkli_free(a, buf);
                return ff_unsupported(err, e, "with a position no block "
                                      "covers (read() loops forever)");
            }
        }
        size_t len = n - pos;
        if ((uint64_t)(m[idx].stop - (int64_t)pos) < len)
            len = (size_t)(m[idx].stop - (int64_t)pos);
        if (m[idx].data) {
            size_t skip = pos - (size_t)m[idx].start;
            size_t from = m[idx].real <= t->len && skip <= t->len - m[idx].real
                              ? m[idx].real + skip : t->len + 1;
            if (from > t->len || len > t->len - from) {
                code = PKL_E_TRUNCATED;
                pkli_error_setf(err, code, e->header_offset, -1,
                                "tar: the archive ends inside a sparse block "
                                "at member offset %zu: extractfile() raises "
                                "ReadError", pos);
                break;
            }
            memcpy(buf + pos, t->buf + from, len);
        } else {
            memset(buf + pos, 0, len);
        }
        pos += len;
    }
    pkli_free(a, m);
    *out = buf;
    *outlen = pos;
    if (!code && n < (uint64_t)e->size_field) {
        code = PKL_E_LIMIT_OUTPUT;
        pkli_error_setf(err, code, e->header_offset, -1,
                        "tar: sparse member of %lld bytes: the first %zu "
                        "(limit) read as extractfile() reads them",
                        (long long)e->size_field, n);
    }
    return code;
nomem:
    pkli_error_setf(err, PKL_E_NOMEM, e->header_offset, -1,
                    "tar: sparse member map");
    return PKL_E_NOMEM;
}

/* ---- names as os.path.normpath compares them ---------------------------- */

size_t pkli_tar_normpath(const uint8_t *p, size_t n, uint8_t *out)
{
    /* posixpath.normpath */
    size_t lead = 0, o = 0;
    size_t starts[512];
    size_t ncomp = 0;
    if (n == 0) {
        out[0] = '.';
        return 1;
    }
    if (p[0] == '/')
        lead = (n >= 2 && p[1] == '/' && !(n >= 3 && p[2] == '/')) ? 2 : 1;
    for (size_t i = 0; i < lead; i++)
        out[o++] = '/';
    size_t base = o;
    for (size_t i = 0; i <= n;) {
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        size_t cl = j - i;
        const uint8_t *c = p + i;
        i = j + 1;
        if (cl == 0 || (cl == 1 && c[0] == '.'))
            continue;
        int dotdot = cl == 2 && c[0] == '.' && c[1] == '.';
        int top_dotdot = ncomp && o - starts[ncomp - 1] == 2 &&
                         out[starts[ncomp - 1]] == '.' &&
                         out[starts[ncomp - 1] + 1] == '.';
        if (!dotdot || (!lead && !ncomp) || top_dotdot) {
            if (ncomp >= sizeof starts / sizeof starts[0])
                break;
            if (ncomp)
                out[o++] = '/';
            starts[ncomp++] = o;
            memcpy(out + o, c, cl);
            o += cl;
        } else if (ncomp) {
            ncomp--;
            o = starts[ncomp] > base ? starts[ncomp] - 1 : base;
        }
    }
    if (o == 0)
        out[o++] = '.';
    return o;
}
