/* reader.c -- the one pickle reader: yields one opcode and its decoded
 * argument at a time from a memory buffer.
 *
 * Everything that looks at pickle bytes goes through here (disassembler,
 * scanner, decoder, container detection), so argument decoding exists once.
 * It must never: read past the buffer, allocate before checking a declared
 * length against what remains, recurse, or accept a spelling that CPython's
 * C unpickler (_pickle.c) and pickle.py would read differently -- such
 * spellings are errors here (fail closed), see docs/dis.md.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>

void pkl_reader_init(pkl_reader *r, const void *buf, size_t len,
                     const pkl_allocator *alloc)
{
    memset(r, 0, sizeof *r);
    r->base = buf;
    r->len = buf ? len : 0;
    r->limit = r->len;
    pkli_alloc_init(&r->alloc, alloc);
}

void pkli_reader_set_options(pkl_reader *r, unsigned options)
{
    r->options = options;
}

void pkl_reader_free(pkl_reader *r)
{
    if (!r)
        return;
    pkli_free(&r->alloc, r->scratch);
    r->scratch = NULL;
    r->scratch_cap = 0;
}

size_t pkl_reader_offset(const pkl_reader *r)
{
    return r->pos;
}

void pkl_reader_seek(pkl_reader *r, size_t offset)
{
    r->pos = offset <= r->len ? offset : r->len;
    r->in_frame = 0;
    r->frame_end = 0;
    r->limit = r->len;
}

/* State of one pkl_reader_next call. */
typedef struct cursor {
    pkl_reader *r;
    size_t op_at;       /* offset of the opcode byte */
    size_t p;           /* next argument byte */
    size_t limit;       /* end of the current frame, or of the buffer */
    uint8_t code;
} cursor;

/* Error for an argument of n bytes that does not fit before c->limit:
 * inside a frame it is a frame crossing if the bytes exist at all. */
static PKL_NOINLINE int short_arg(cursor *c, size_t n, pkl_error *err)
{
    pkl_reader *r = c->r;
    if (r->in_frame && n <= r->len - c->p)
        pkli_error_setf(err, PKL_E_FRAME, c->op_at, c->code,
                        "argument of %zu bytes runs past the frame ending at "
                        "offset %zu", n, r->frame_end);
    else
        pkli_error_setf(err, PKL_E_TRUNCATED, c->op_at, c->code,
                        "%s needs %zu argument bytes, %zu remain",
                        pkli_opname(c->code), n, c->limit - c->p);
    return -1;
}

/* Takes n bytes of argument. Compares n with what remains first. */
static PKL_INLINE int take(cursor *c, size_t n, const uint8_t **out,
                           pkl_error *err)
{
    if (n > c->limit - c->p)
        return short_arg(c, n, err);
    *out = c->r->base + c->p;
    c->p += n;
    return 0;
}

/* Takes a newline-terminated line; *n excludes the newline. */
static int take_line(cursor *c, const uint8_t **out, size_t *n, pkl_error *err)
{
    pkl_reader *r = c->r;
    const uint8_t *s = r->base + c->p;
    const uint8_t *nl = memchr(s, '\n', c->limit - c->p);
    if (!nl) {
        if (r->in_frame && memchr(s, '\n', r->len - c->p))
            pkli_error_setf(err, PKL_E_FRAME, c->op_at, c->code,
                            "text argument runs past the frame ending at "
                            "offset %zu", r->frame_end);
        else
            pkli_error_setf(err, PKL_E_NO_NEWLINE, c->op_at, c->code,
                            "%s argument is not terminated by a newline",
                            pkli_opname(c->code));
        return -1;
    }
    *out = s;
    *n = (size_t)(nl - s);
    c->p += *n + 1;
    return 0;
}

static int scratch_reserve(pkl_reader *r, size_t n)
{
    return pkli_grow(&r->alloc, (void **)&r->scratch, &r->scratch_cap, n, 1);
}

static int hexval(uint8_t ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* STRING: quoted on both ends, then Python 2 string-escape decoding
 * (CPython's _PyBytes_DecodeEscape). */
static int parse_stringnl(cursor *c, const uint8_t *s, size_t n, pkl_op *op,
                          pkl_error *err)
{
    if (n < 2 || s[0] != s[n - 1] || (s[0] != '\'' && s[0] != '"')) {
        pkli_error_setf(err, PKL_E_BAD_STRING, c->op_at, c->code,
                        "the STRING opcode argument must be quoted");
        return -1;
    }
    s++;
    n -= 2;
    op->type = PKL_A_BYTES;
    if (!memchr(s, '\\', n)) {
        op->data = s;
        op->len = n;
        return 0;
    }
    if (scratch_reserve(c->r, n) < 0) {
        pkli_error_set(err, PKL_E_NOMEM, c->op_at, c->code);
        return -1;
    }
    uint8_t *o = c->r->scratch;
    size_t i = 0, w = 0;
    while (i < n) {
        uint8_t ch = s[i++];
        if (ch != '\\') {
            o[w++] = ch;
            continue;
        }
        if (i == n) {
            pkli_error_setf(err, PKL_E_BAD_STRING, c->op_at, c->code,
                            "trailing \\ in STRING argument");
            return -1;
        }
        ch = s[i++];
        switch (ch) {
        case '\n': break;
        case '\\': o[w++] = '\\'; break;
        case '\'': o[w++] = '\''; break;
        case '"': o[w++] = '"'; break;
        case 'b': o[w++] = '\b'; break;
        case 'f': o[w++] = '\f'; break;
        case 't': o[w++] = '\t'; break;
        case 'n': o[w++] = '\n'; break;
        case 'r': o[w++] = '\r'; break;
        case 'v': o[w++] = '\v'; break;
        case 'a': o[w++] = '\a'; break;
        case '0': case '1': case '2': case '3':
        case '4': case '5': case '6': case '7': {
            unsigned v = (unsigned)(ch - '0');
            for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++)
                v = (v << 3) + (unsigned)(s[i++] - '0');
            o[w++] = (uint8_t)(v & 0xff);
            break;
        }
        case 'x': {
            int h1 = i < n ? hexval(s[i]) : -1;
            int h2 = i + 1 < n ? hexval(s[i + 1]) : -1;
            if (h1 < 0 || h2 < 0) {
                pkli_error_setf(err, PKL_E_BAD_STRING, c->op_at, c->code,
                                "invalid \\x escape at position %zu", i - 2);
                return -1;
            }
            o[w++] = (uint8_t)(h1 * 16 + h2);
            i += 2;
            break;
        }
        default:
            /* unknown escapes keep their backslash (a DeprecationWarning in
             * CPython, not an error) */
            o[w++] = '\\';
            o[w++] = ch;
            break;
        }
    }
    op->data = o;
    op->len = w;
    return 0;
}

/* UNICODE: raw-unicode-escape. Bytes are Latin-1 code points, except that
 * a \u or \U preceded by an odd run of backslashes is an escape. The result
 * is UTF-8 with surrogatepass, at most twice the input. */
static int parse_unicodenl(cursor *c, const uint8_t *s, size_t n, pkl_op *op,
                           pkl_error *err)
{
    if (n > (SIZE_MAX - 4) / 2 || scratch_reserve(c->r, 2 * n + 4) < 0) {
        pkli_error_set(err, PKL_E_NOMEM, c->op_at, c->code);
        return -1;
    }
    uint8_t *o = c->r->scratch;
    size_t i = 0, w = 0;
    while (i < n) {
        uint8_t ch = s[i];
        if (ch != '\\') {
            w += pkli_utf8_encode(ch, o + w);
            i++;
            continue;
        }
        if (i + 1 < n && (s[i + 1] == 'u' || s[i + 1] == 'U')) {
            size_t count = s[i + 1] == 'u' ? 4 : 8;
            uint32_t cp = 0;
            if (count > n - i - 2)
                goto truncated;
            for (size_t k = 0; k < count; k++) {
                int h = hexval(s[i + 2 + k]);
                if (h < 0)
                    goto truncated;
                cp = (cp << 4) | (uint32_t)h;
            }
            if (cp > 0x10ffff) {
                pkli_error_setf(err, PKL_E_BAD_ESCAPE, c->op_at, c->code,
                                "\\Uxxxxxxxx out of range at position %zu", i);
                return -1;
            }
            w += pkli_utf8_encode(cp, o + w);
            i += 2 + count;
            continue;
        }
        /* a backslash not starting an escape is literal, and so is the
         * character after it (this is what makes "\\u" literal) */
        o[w++] = '\\';
        i++;
        if (i < n) {
            w += pkli_utf8_encode(s[i], o + w);
            i++;
        }
        continue;
    truncated:
        pkli_error_setf(err, PKL_E_BAD_ESCAPE, c->op_at, c->code,
                        "truncated \\%c escape at position %zu", s[i + 1], i);
        return -1;
    }
    op->type = PKL_A_STR;
    op->data = o;
    op->len = w;
    return 0;
}

static PKL_NOINLINE int check_utf8_slow(cursor *c, const uint8_t *s, size_t n,
                                       int surrogatepass, pkl_error *err)
{
    size_t bad = 0;
    if (pkli_utf8_valid(s, n, surrogatepass, &bad))
        return 0;
    pkli_error_setf(err, PKL_E_BAD_UTF8, c->op_at, c->code,
                    "invalid UTF-8 at byte %zu of the %s argument", bad,
                    pkli_opname(c->code));
    return -1;
}

/* Most text in a pickle is short and ASCII: checked here, inline, eight
 * bytes at a time; anything else goes to the full validator. */
static PKL_INLINE int check_utf8(cursor *c, const uint8_t *s, size_t n,
                                 int surrogatepass, pkl_error *err)
{
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, sizeof w);
        if (w & UINT64_C(0x8080808080808080))
            return check_utf8_slow(c, s, n, surrogatepass, err);
    }
    for (; i < n; i++)
        if (s[i] & 0x80)
            return check_utf8_slow(c, s, n, surrogatepass, err);
    return 0;
}

/* GLOBAL lines are strict UTF-8; INST lines must be ASCII, as both CPython
 * unpicklers decode them (PyUnicode_DecodeASCII / .decode("ascii")). */
static int check_pair_text(cursor *c, const uint8_t *s, size_t n,
                           pkl_error *err)
{
    if (c->code != PKL_OP_INST)
        return check_utf8(c, s, n, 0, err);
    for (size_t k = 0; k < n; k++) {
        if (s[k] >= 0x80) {
            pkli_error_setf(err, PKL_E_BAD_UTF8, c->op_at, c->code,
                            "INST module and class names must be ASCII "
                            "(byte 0x%02x)", s[k]);
            return -1;
        }
    }
    return 0;
}

/* A name is a dotted identifier path: [A-Za-z_][A-Za-z0-9_]* parts. */
static int dotted_ascii_name(const uint8_t *s, size_t n)
{
    int start = 1;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = s[i];
        if (ch == '.') {
            if (start)
                return 0;
            start = 1;
            continue;
        }
        int alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                    ch == '_';
        if (!alpha && (start || ch < '0' || ch > '9'))
            return 0;
        start = 0;
    }
    return !start;
}

/* A GLOBAL/INST line. pickle.py reads it as file.readline()[:-1]: at the
 * end of the input, outside a frame, a line without its newline loses its
 * last byte instead, a line after the end is empty, and find_class (which
 * imports the module) runs before the next read finds the end; _pickle.c
 * refuses the line (bad_readline). Accepted, with PKL_NOTE_DIFFERS, when
 * the module line is a dotted identifier path (anything else cannot be
 * imported), so a text file that merely starts with 'c' stays no pickle. */
static int take_name_line(cursor *c, int second, const uint8_t *module,
                          size_t module_len, const uint8_t **out, size_t *n,
                          pkl_op *op, pkl_error *err)
{
    pkl_reader *r = c->r;
    size_t rest = r->len - c->p;
    /* inside a frame pickle.py's readline fails at the frame's end,
     * unless the frame is used up exactly where the line starts: then it
     * reads from the file (_Unframer.readline) */
    if ((r->in_frame && c->p < r->frame_end) ||
        memchr(r->base + c->p, '\n', rest))
        return take_line(c, out, n, err);
    const uint8_t *s = r->base + c->p;
    size_t len = rest ? rest - 1 : 0;
    if (!dotted_ascii_name(second ? module : s, second ? module_len : len))
        return take_line(c, out, n, err); /* the error */
    *out = s;
    *n = len;
    c->p = r->len;
    op->note |= PKL_NOTE_DIFFERS;
    return 0;
}

/* long1/long4: two's-complement little-endian of any size. */
static void set_long(pkl_op *op, const uint8_t *b, size_t n)
{
    if (n == 0) {
        op->type = PKL_A_INT;
        op->i = 0;
        return;
    }
    int negative = (b[n - 1] & 0x80) != 0;
    size_t sig = n;
    /* drop redundant sign-extension bytes */
    uint8_t ext = negative ? 0xff : 0x00;
    while (sig > 1 && b[sig - 1] == ext && ((b[sig - 2] & 0x80) != 0) == negative)
        sig--;
    if (sig <= 8) {
        uint64_t u = negative ? UINT64_MAX : 0;
        for (size_t k = 0; k < sig; k++) {
            u &= ~((uint64_t)0xff << (8 * k));
            u |= (uint64_t)b[k] << (8 * k);
        }
        op->type = PKL_A_INT;
        memcpy(&op->i, &u, sizeof u);
        return;
    }
    op->type = PKL_A_BIGINT;
    op->data = b;
    op->len = n;
}

/* ---- Text numbers as both CPython unpicklers read them -------------------
 *
 * The reader accepts the union of what Modules/_pickle.c and Lib/pickle.py
 * accept, decodes the value as _pickle.c does when it accepts the text, and
 * says in op->note when the spelling is not pickle.dumps's (NONCANONICAL)
 * or when the two unpicklers read it differently (DIFFERS). Refusing a
 * spelling one of them accepts would leave everything after it unexamined.
 */

/* Py_ISSPACE, and isspace() in the C locale: the same six bytes. */
static int py_space(uint8_t ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

static int digit_value(uint8_t ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'Z') return ch - 'A' + 10;
    return 99;
}

/* Length of s up to its first NUL: what a C string function sees. */
static size_t cstr_len(const uint8_t *s, size_t n)
{
    const uint8_t *z = memchr(s, '\0', n);
    return z ? (size_t)(z - s) : n;
}

/* An integer as PyLong_FromString (Objects/longobject.c) parses it: digits
 * in `base` (2, 8, 10 or 16), possibly with single underscores between
 * them, in d[0..dn). */
typedef struct numtext {
    int neg;
    int base;
    const uint8_t *d;
    size_t dn;
} numtext;

/* PyLong_FromString(s, NULL, base) for base 0 or 10 over the whole of
 * s[0..n): leading and trailing whitespace, a sign, in base 0 a 0x/0o/0b
 * prefix (one underscore may follow it) or a leading zero that only zeros
 * may follow, single underscores between digits. Returns 1 when valid. */
static int pylong_scan(const uint8_t *s, size_t n, int base, numtext *t)
{
    size_t i = 0;
    int zeros_only = 0;
    while (i < n && py_space(s[i]))
        i++;
    t->neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        t->neg = s[i] == '-';
        i++;
    }
    if (base == 0) {
        uint8_t x = i + 1 < n ? (uint8_t)(s[i + 1] | 0x20) : 0;
        if (i < n && s[i] == '0' && (x == 'x' || x == 'o' || x == 'b')) {
            base = x == 'x' ? 16 : x == 'o' ? 8 : 2;
            i += 2;
            if (i < n && s[i] == '_')
                i++;
        } else {
            zeros_only = i < n && s[i] == '0';
            base = 10;
        }
    }
    if (i < n && s[i] == '_')
        return 0;
    size_t start = i;
    uint8_t prev = 0;
    size_t ndig = 0;
    while (i < n && (s[i] == '_' || digit_value(s[i]) < base)) {
        if (s[i] == '_' && prev == '_')
            return 0;
        if (s[i] != '_') {
            ndig++;
            if (zeros_only && s[i] != '0')
                return 0;
        }
        prev = s[i++];
    }
    if (prev == '_' || ndig == 0)
        return 0;
    t->base = base;
    t->d = s + start;
    t->dn = i - start;
    while (i < n && py_space(s[i]))
        i++;
    return i == n;
}

/* strtol(s, &end, 0) as glibc reads it, over a line whose '\n' is at s[n]:
 * returns 1 with *out when it converts without overflow and stops at the
 * newline or at a NUL -- load_int's test in _pickle.c. */
static int c_strtol_full(const uint8_t *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0, base = 10;
    while (i < n && py_space(s[i]))
        i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    if (i < n && s[i] == '0') {
        if (i + 2 < n && (s[i + 1] | 0x20) == 'x' && digit_value(s[i + 2]) < 16) {
            base = 16;
            i += 2;
        } else {
            base = 8;
        }
    }
    uint64_t u = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    size_t ndig = 0;
    int overflow = 0;
    for (; i < n && digit_value(s[i]) < base; i++, ndig++) {
        unsigned dv = (unsigned)digit_value(s[i]);
        if (u > (lim - dv) / (unsigned)base)
            overflow = 1;
        else
            u = u * (unsigned)base + dv;
    }
    size_t end = ndig ? i : 0; /* no conversion: end is the start */
    if (overflow || (end != n && s[end] != '\0'))
        return 0;
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 1;
}

/* Sets op to the integer t: INT when it fits int64, else DECIMAL (base 10,
 * digits in scratch) or BIGINT (two's complement, in scratch). */
static int set_numtext(cursor *c, const numtext *t, pkl_op *op, pkl_error *err)
{
    pkl_reader *r = c->r;
    size_t k = 0;
    while (k < t->dn && (t->d[k] == '0' || t->d[k] == '_'))
        k++;
    size_t nd = 0;
    for (size_t j = k; j < t->dn; j++)
        nd += t->d[j] != '_';
    if (t->base == 10) {
        if (scratch_reserve(r, nd + 2) < 0)
            goto nomem;
        uint8_t *o = r->scratch;
        size_t w = 1;
        uint64_t u = 0;
        for (size_t j = k; j < t->dn; j++) {
            if (t->d[j] == '_')
                continue;
            o[w++] = t->d[j];
            if (nd <= 19)
                u = u * 10 + (uint64_t)(t->d[j] - '0');
        }
        uint64_t lim = t->neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        if (nd < 19 || (nd == 19 && u <= lim)) {
            op->type = PKL_A_INT;
            op->i = t->neg ? (int64_t)(0 - u) : (int64_t)u;
            return 0;
        }
        o[0] = '-';
        op->type = PKL_A_DECIMAL;
        op->data = t->neg ? o : o + 1;
        op->len = t->neg ? w : w - 1;
        return 0;
    }
    /* base 2, 8 or 16: pack the bits, least significant digit first */
    unsigned bits = t->base == 16 ? 4 : t->base == 8 ? 3 : 1;
    if (nd > (SIZE_MAX - 16) / 4)
        goto nomem;
    size_t nbytes = (nd * bits) / 8 + 2;
    if (scratch_reserve(r, nbytes) < 0)
        goto nomem;
    uint8_t *o = r->scratch;
    memset(o, 0, nbytes);
    size_t bitpos = 0;
    for (size_t j = t->dn; j > k; j--) {
        uint8_t ch = t->d[j - 1];
        if (ch == '_')
            continue;
        unsigned dv = (unsigned)digit_value(ch);
        for (unsigned b = 0; b < bits; b++, bitpos++)
            if (dv >> b & 1u)
                o[bitpos / 8] |= (uint8_t)(1u << (bitpos % 8));
    }
    if (t->neg) {
        unsigned carry = 1;
        for (size_t j = 0; j < nbytes; j++) {
            unsigned v = (unsigned)(uint8_t)~o[j] + carry;
            o[j] = (uint8_t)v;
            carry = v >> 8;
        }
    }
    set_long(op, o, nbytes);
    return 0;
nomem:
    pkli_error_set(err, PKL_E_NOMEM, c->op_at, c->code);
    return -1;
}

static PKL_NOINLINE int bad_int(cursor *c, pkl_error *err)
{
    pkli_error_setf(err, PKL_E_BAD_INT, c->op_at, c->code,
                    "%s argument is an integer for neither unpickler",
                    pkli_opname(c->code));
    return -1;
}

/* -?(0|[1-9][0-9]*): what pickle.dumps writes (repr of an int). */
static int canonical_decimal(const uint8_t *s, size_t n)
{
    size_t i = n && s[0] == '-';
    if (i == n)
        return 0;
    if (s[i] == '0')
        return n == i + 1 && i == 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* -?[0-9]+: LONG text both unpicklers read as decimal (Python 2 wrote
 * "00" for some values). */
static int plain_digits(const uint8_t *s, size_t n)
{
    size_t i = n && s[0] == '-';
    if (i == n)
        return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* INT. _pickle.c load_int: strtol(s, &end, 0); when that overflows or stops
 * before the newline or a NUL, PyLong_FromString(s, NULL, 0) over the C
 * string; a 2-character line (len 3 with the newline) worth 0 or 1 on the
 * strtol path is a bool. pickle.py load_int: b"00\n" False, b"01\n" True,
 * else int(line, 0) over the whole line. */
static int parse_int(cursor *c, const uint8_t *s, size_t n, pkl_op *op,
                     pkl_error *err)
{
    int64_t x = 0;
    numtext tc, tp;
    /* load_int: a line of fewer than 2 bytes (with the newline) is
     * bad_readline */
    int c_fast = n > 0 && c_strtol_full(s, n, &x);
    int c_ok = c_fast || (n > 0 && pylong_scan(s, cstr_len(s, n), 0, &tc));
    int c_bool = c_fast && n == 2 && (x == 0 || x == 1);
    int p_bool = n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1');
    int p_ok = p_bool || (!memchr(s, '\0', n) && pylong_scan(s, n, 0, &tp));
    if (!c_ok && !p_ok)
        return bad_int(c, err);
    if (c_ok != p_ok || c_bool != p_bool)
        op->note |= PKL_NOTE_DIFFERS;
    else if (!p_bool && !canonical_decimal(s, n))
        op->note |= PKL_NOTE_NONCANONICAL;
    if (c_bool || (!c_ok && p_bool)) {
        op->type = PKL_A_BOOL;
        op->i = c_ok ? x : s[1] == '1';
        return 0;
    }
    if (c_fast) {
        op->type = PKL_A_INT;
        op->i = x;
        return 0;
    }
    return set_numtext(c, c_ok ? &tc : &tp, op, err);
}

/* LONG. _pickle.c load_long: a final 'L' becomes NUL, then
 * PyLong_FromString(s, NULL, 0) over the C string. pickle.py load_long:
 * drops a final 'L', then int(text, 0). */
static int parse_long(cursor *c, const uint8_t *s, size_t n, pkl_op *op,
                      pkl_error *err)
{
    if (n > 0 && s[n - 1] == 'L')
        n--;
    numtext tc, tp;
    int c_ok = pylong_scan(s, cstr_len(s, n), 0, &tc);
    int p_ok = !memchr(s, '\0', n) && pylong_scan(s, n, 0, &tp);
    if (!c_ok && !p_ok)
        return bad_int(c, err);
    if (c_ok != p_ok)
        op->note |= PKL_NOTE_DIFFERS;
    else if (!plain_digits(s, n))
        op->note |= PKL_NOTE_NONCANONICAL;
    return set_numtext(c, c_ok ? &tc : &tp, op, err);
}

/* GET and PUT. _pickle.c load_get/load_put: PyLong_FromString(s, NULL, 10)
 * over the C string. pickle.py: int(text) over the whole text. The sign
 * (a negative PUT is an error in both) is the decoder's to refuse. */
static int parse_memo_key(cursor *c, const uint8_t *s, size_t n, pkl_op *op,
                          pkl_error *err)
{
    numtext tc, tp;
    int c_ok = pylong_scan(s, cstr_len(s, n), 10, &tc);
    int p_ok = !memchr(s, '\0', n) && pylong_scan(s, n, 10, &tp);
    if (!c_ok && !p_ok)
        return bad_int(c, err);
    if (c_ok != p_ok)
        op->note |= PKL_NOTE_DIFFERS;
    else if (!canonical_decimal(s, n))
        op->note |= PKL_NOTE_NONCANONICAL;
    return set_numtext(c, c_ok ? &tc : &tp, op, err);
}

static int ascii_ieq_prefix(const uint8_t *s, size_t n, const char *word)
{
    size_t wl = strlen(word);
    if (n < wl)
        return 0;
    for (size_t i = 0; i < wl; i++) {
        uint8_t ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (uint8_t)(ch - 'A' + 'a');
        if (ch != (uint8_t)word[i])
            return 0;
    }
    return 1;
}

/* Length of the longest prefix of s[0..n) that _PyOS_ascii_strtod
 * (Python/pystrtod.c: _Py_dg_strtod, then _Py_parse_inf_or_nan) converts:
 * [+-] then digits[.digits] or .digits, an exponent only with digits; or
 * inf, infinity, nan in any case. 0 when it converts nothing. *special is
 * set for inf/nan. */
static size_t dg_prefix(const uint8_t *s, size_t n, int *special)
{
    size_t i = 0;
    *special = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (ascii_ieq_prefix(s + i, n - i, "inf")) {
        *special = 1;
        i += 3;
        if (ascii_ieq_prefix(s + i, n - i, "inity"))
            i += 5;
        return i;
    }
    if (ascii_ieq_prefix(s + i, n - i, "nan")) {
        *special = 1;
        return i + 3;
    }
    size_t digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-'))
            j++;
        size_t ed = 0;
        while (j < n && s[j] >= '0' && s[j] <= '9')
            j++, ed++;
        if (ed)
            i = j;
    }
    return i;
}

/* strtod over s[0..n) (already checked against dg_prefix): *inf_overflow
 * when a finite spelling overflows. */
static int text_to_double(cursor *c, const uint8_t *s, size_t n, double *v,
                          int *overflow, pkl_error *err)
{
    char tmp[128];
    char *heap = NULL;
    char *buf = tmp;
    if (n >= sizeof tmp) {
        heap = pkli_malloc(&c->r->alloc, n + 1);
        if (!heap) {
            pkli_error_set(err, PKL_E_NOMEM, c->op_at, c->code);
            return -1;
        }
        buf = heap;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    *v = strtod(buf, NULL);
    *overflow = errno == ERANGE && isinf(*v);
    pkli_free(&c->r->alloc, heap);
    return 0;
}

/* FLOAT. _pickle.c load_float: PyOS_string_to_double(s, &end,
 * OverflowError) over the C string -- no whitespace, no underscores, an
 * overflow is an error -- and the conversion must stop at the newline or a
 * NUL. pickle.py load_float: float(text): surrounding whitespace and single
 * underscores between digits allowed, an overflow is inf, a NUL is an
 * error. */
static int parse_floatnl(cursor *c, const uint8_t *s, size_t n, pkl_op *op,
                         pkl_error *err)
{
    int special = 0;
    size_t cn = cstr_len(s, n);
    size_t cp = dg_prefix(s, cn, &special);
    int c_ok = cp > 0 && cp == cn;
    int c_special = special;
    if (c_ok && cn == n && (c->r->options & PKLI_READER_SKIP_FLOAT_VALUES) &&
        !special && !memchr(s, 'e', n) && !memchr(s, 'E', n) &&
        (size_t)((const uint8_t *)(memchr(s, '.', n) ? memchr(s, '.', n)
                                                     : s + n) - s) <= 301) {
        /* below 10^300 without an exponent: no overflow to report, both
         * unpicklers agree, and the caller (the scanner) never looks at
         * the value */
        op->type = PKL_A_FLOAT;
        op->f = 0.0;
        if (s[0] == '+')
            op->note |= PKL_NOTE_NONCANONICAL;
        return 0;
    }
    double v = 0.0;
    int overflow = 0;
    if (c_ok) {
        if (text_to_double(c, s, cn, &v, &overflow, err) < 0)
            return -1;
        if (overflow && !c_special)
            c_ok = 0;
    }
    /* pickle.py: float() over the whole text */
    int p_ok = 0;
    double pv = 0.0;
    if (!memchr(s, '\0', n)) {
        size_t a = 0, b = n;
        while (a < b && py_space(s[a]))
            a++;
        while (b > a && py_space(s[b - 1]))
            b--;
        const uint8_t *t = s + a;
        size_t tn = b - a;
        int under = memchr(t, '_', tn) != NULL;
        if (under) {
            /* _Py_string_to_number_with_underscores: an underscore only
             * between two digits */
            if (scratch_reserve(c->r, tn + 1) < 0) {
                pkli_error_set(err, PKL_E_NOMEM, c->op_at, c->code);
                return -1;
            }
            uint8_t *o = c->r->scratch, prev = 0;
            size_t w = 0;
            int oku = 1;
            for (size_t k = 0; k < tn; k++) {
                if (t[k] == '_') {
                    if (!(prev >= '0' && prev <= '9'))
                        oku = 0;
                } else {
                    if (prev == '_' && !(t[k] >= '0' && t[k] <= '9'))
                        oku = 0;
                    o[w++] = t[k];
                }
                prev = t[k];
            }
            if (prev == '_')
                oku = 0;
            if (!oku)
                tn = 0;
            t = o;
            if (oku)
                tn = w;
        }
        int sp = 0;
        size_t pp = dg_prefix(t, tn, &sp);
        if (pp > 0 && pp == tn) {
            int of = 0;
            if (text_to_double(c, t, tn, &pv, &of, err) < 0)
                return -1;
            p_ok = 1;
        }
    }
    if (!c_ok && !p_ok) {
        pkli_error_setf(err, PKL_E_BAD_FLOAT, c->op_at, c->code,
                        overflow ? "FLOAT value too large to convert to a double"
                                 : "FLOAT argument is a float for neither "
                                   "unpickler");
        return -1;
    }
    if (c_ok != p_ok)
        op->note |= PKL_NOTE_DIFFERS;
    else if (s[0] == '+')
        op->note |= PKL_NOTE_NONCANONICAL;
    op->type = PKL_A_FLOAT;
    op->f = c_ok ? v : pv;
    return 0;
}

/* ---- argument kinds ---------------------------------------------------------
 * One reader per argument kind that needs more than a fixed-width read;
 * pkli_reader_next_full's switch over pkl_argkind dispatches to them. Each
 * returns 0, or -1 with *err filled. */

/* UINT8 (FRAME): the frame's length. */
static int arg_frame(cursor *c, pkl_op *op, pkl_error *err)
{
    const uint8_t *a = NULL;
    pkl_reader *r = c->r;
    if (take(c, 8, &a, err) < 0)
        return -1;
    uint64_t fl = pkli_dec64le(a);
    if (fl > (uint64_t)INT64_MAX) {
        /* both refuse it: pickle.py's load_frame raises "frame size >
         * sys.maxsize", _pickle.c's "FRAME length exceeds system's
         * maximum of %zd bytes" */
        pkli_error_setf(err, PKL_E_BAD_LENGTH, c->op_at, c->code,
                        "FRAME declares %llu bytes, above the largest "
                        "frame either unpickler accepts (2^63-1)",
                        (unsigned long long)fl);
        return -1;
    }
    if (fl > r->len - c->p) {
        /* _pickle.c load_frame refuses a frame longer than what is
         * left; pickle.py's load_frame takes file.read(n), which
         * returns the bytes there are, and unpickles them as a short
         * frame (_Unframer). The union: a frame up to the end. */
        op->note |= PKL_NOTE_DIFFERS;
        fl = r->len - c->p;
    }
    op->type = PKL_A_INT;
    op->i = (int64_t)fl;
    return 0;
}

/* LONG1 / LONG4: a byte count, then the two's complement bytes. */
static int arg_long(cursor *c, pkl_op *op, size_t width, pkl_error *err)
{
    const uint8_t *a = NULL;
    size_t n = 0;
    if (take(c, width, &a, err) < 0)
        return -1;
    if (width == 1) {
        n = a[0];
    } else {
        int32_t sn = (int32_t)pkli_dec32le(a);
        if (sn < 0) {
            pkli_error_setf(err, PKL_E_BAD_LENGTH, c->op_at, c->code,
                            "LONG4 has a negative byte count (%ld)", (long)sn);
            return -1;
        }
        n = (size_t)sn;
    }
    if (take(c, n, &a, err) < 0)
        return -1;
    set_long(op, a, n);
    return 0;
}

/* STRINGNL_NOESCAPE (PERSID): one line, which must be ASCII. */
static int arg_persid(cursor *c, pkl_op *op, pkl_error *err)
{
    const uint8_t *a = NULL;
    size_t n = 0;
    if (take_line(c, &a, &n, err) < 0)
        return -1;
    for (size_t k = 0; k < n; k++) {
        if (a[k] >= 0x80) {
            pkli_error_setf(err, PKL_E_BAD_UTF8, c->op_at, c->code,
                            "persistent IDs in protocol 0 must be ASCII "
                            "strings (byte %zu)", k);
            return -1;
        }
    }
    op->type = PKL_A_STR;
    op->data = a;
    op->len = n;
    return 0;
}

/* STRINGNL_NOESCAPE_PAIR (GLOBAL, INST): module and name lines. GLOBAL
 * decodes both lines as strict UTF-8, INST as ASCII (both _pickle.c and
 * pickle.py). */
static int arg_pair(cursor *c, pkl_op *op, pkl_error *err)
{
    const uint8_t *a = NULL;
    size_t n = 0;
    pkl_reader *r = c->r;
    if (take_name_line(c, 0, NULL, 0, &a, &n, op, err) < 0)
        return -1;
    if (check_pair_text(c, a, n, err) < 0)
        return -1;
    op->data = a;
    op->len = n;
    if (c->p == r->len && (op->note & PKL_NOTE_DIFFERS)) {
        a = r->base + r->len; /* pickle.py: readline() at the end */
        n = 0;
    } else if (take_name_line(c, 1, op->data, op->len, &a, &n, op, err) < 0) {
        return -1;
    }
    if (check_pair_text(c, a, n, err) < 0)
        return -1;
    op->type = PKL_A_PAIR;
    op->data2 = a;
    op->len2 = n;
    return 0;
}

/* STRING1/4, BYTES1/4/8, BYTEARRAY8, UNICODESTRING1/4/8: a little-endian
 * count of `width` bytes, then the bytes (UTF-8 checked for text). */
static int arg_counted(cursor *c, pkl_op *op, size_t width, pkl_error *err)
{
    const uint8_t *a = NULL;
    size_t n = 0;
    pkl_reader *r = c->r;
    pkl_argkind kind = (pkl_argkind)op->info->arg;
    if (take(c, width, &a, err) < 0)
        return -1;
    if (width == 1) {
        n = a[0];
    } else if (width == 4) {
        n = pkli_dec32le(a);
        if (kind == PKL_ARG_STRING4 && n > INT32_MAX) {
            /* pickle.py reads BINSTRING's length as a signed int4 and
             * refuses it; _pickle.c reads it unsigned */
            pkli_error_setf(err, PKL_E_BAD_LENGTH, c->op_at, c->code,
                            "BINSTRING has a negative byte count (%ld)",
                            (long)(int32_t)pkli_dec32le(a));
            return -1;
        }
    } else {
        uint64_t n64 = pkli_dec64le(a);
        if (n64 > (uint64_t)(r->len - c->p)) {
            /* compared with what remains in the whole input before it is
             * narrowed to size_t; a length that fits the input but runs
             * past the current frame is reported by take() below */
            pkli_error_setf(err, PKL_E_TRUNCATED, c->op_at, c->code,
                            "%s declares %llu bytes, %zu remain",
                            op->info->name, (unsigned long long)n64,
                            r->len - c->p);
            return -1;
        }
        n = (size_t)n64;
    }
    if (take(c, n, &a, err) < 0)
        return -1;
    op->data = a;
    op->len = n;
    if (kind == PKL_ARG_UNICODESTRING1 || kind == PKL_ARG_UNICODESTRING4 ||
        kind == PKL_ARG_UNICODESTRING8) {
        if (check_utf8(c, a, n, 1, err) < 0)
            return -1;
        op->type = PKL_A_STR;
    } else {
        op->type = PKL_A_BYTES;
    }
    return 0;
}

/* A fixed-width integer argument. */
static int arg_int(cursor *c, pkl_op *op, pkl_argkind kind, pkl_error *err)
{
    const uint8_t *a = NULL;
    static const uint8_t width[] = {
        [PKL_ARG_UINT1] = 1, [PKL_ARG_UINT2] = 2, [PKL_ARG_INT4] = 4,
        [PKL_ARG_UINT4] = 4,
    };
    if (take(c, width[kind], &a, err) < 0)
        return -1;
    op->type = PKL_A_INT;
    switch (kind) {
    case PKL_ARG_UINT1: op->i = a[0]; break;
    case PKL_ARG_UINT2: op->i = pkli_dec16le(a); break;
    case PKL_ARG_INT4: op->i = (int32_t)pkli_dec32le(a); break;
    default: op->i = pkli_dec32le(a); break;
    }
    return 0;
}

/* A newline-terminated argument: the line, then its kind's parser. */
static int arg_line(cursor *c, pkl_op *op, pkl_argkind kind, pkl_error *err)
{
    const uint8_t *a = NULL;
    size_t n = 0;
    if (take_line(c, &a, &n, err) < 0)
        return -1;
    switch (kind) {
    case PKL_ARG_DECIMALNL_SHORT: /* INT, GET, PUT */
        return c->code == PKL_OP_INT ? parse_int(c, a, n, op, err)
                                     : parse_memo_key(c, a, n, op, err);
    case PKL_ARG_DECIMALNL_LONG: return parse_long(c, a, n, op, err);
    case PKL_ARG_FLOATNL: return parse_floatnl(c, a, n, op, err);
    case PKL_ARG_STRINGNL: return parse_stringnl(c, a, n, op, err);
    default: return parse_unicodenl(c, a, n, op, err); /* UNICODESTRINGNL */
    }
}

/* What holds across opcodes once the argument is read: PROTO's range,
 * frames that do not nest, and STOP at its frame's end. Enters a FRAME. */
static int after_arg(cursor *c, pkl_op *op, pkl_error *err)
{
    pkl_reader *r = c->r;
    if (c->code == PKL_OP_PROTO && op->i > 5) {
        pkli_error_setf(err, PKL_E_BAD_PROTO, c->op_at, c->code,
                        "PROTO %lld is above the highest protocol, 5",
                        (long long)op->i);
        return -1;
    }
    if (c->code == PKL_OP_FRAME) {
        if (r->in_frame && c->p < r->frame_end) {
            pkli_error_setf(err, PKL_E_FRAME, c->op_at, c->code,
                            "a new frame begins before the current frame "
                            "(ending at offset %zu) ends", r->frame_end);
            return -1;
        }
        r->in_frame = 1;
        r->frame_end = c->p + (size_t)op->i;
        r->limit = r->frame_end;
    }
    if (c->code == PKL_OP_STOP && r->in_frame && c->p < r->frame_end) {
        /* pickle.load reads a frame whole: the next pickle.load starts at
         * the frame's end, so bytes between STOP and that end are never
         * read by CPython while a reader going on after STOP would parse
         * them (a scanner could be shown a different stream); pickle.dumps
         * ends every frame at its STOP */
        pkli_error_setf(err, PKL_E_FRAME, c->op_at, c->code,
                        "STOP leaves %zu byte%s of its frame (ending at "
                        "offset %zu) unread: pickle.load skips them and "
                        "reads on from the frame's end", r->frame_end - c->p,
                        r->frame_end - c->p == 1 ? "" : "s", r->frame_end);
        return -1;
    }
    return 0;
}

/* Every opcode: the general path (any argument kind, every error). */
PKL_NOINLINE int pkli_reader_next_full(pkl_reader *r, pkl_op *op,
                                       pkl_error *err)
{
    if (r->in_frame && r->pos >= r->frame_end) {
        r->in_frame = 0;
        r->limit = r->len;
    }
    if (r->pos >= r->len)
        return 0;

    cursor c;
    c.r = r;
    c.op_at = r->pos;
    c.p = r->pos + 1;
    c.limit = r->in_frame ? r->frame_end : r->len;
    c.code = r->base[r->pos];

    /* every field is set, without a memset: this runs once per opcode */
    op->offset = c.op_at;
    op->end = c.p;
    op->code = c.code;
    op->type = PKL_A_NONE;
    op->i = 0;
    op->f = 0.0;
    op->data = NULL;
    op->len = 0;
    op->data2 = NULL;
    op->len2 = 0;
    op->note = 0;
    op->info = pkli_op_by_byte[c.code];
    if (!op->info) {
        pkli_error_setf(err, PKL_E_UNKNOWN_OPCODE, c.op_at, c.code,
                        "byte 0x%02x is not a pickle opcode", c.code);
        return -1;
    }

    int rc = 0;
    pkl_argkind kind = (pkl_argkind)op->info->arg;
    switch (kind) {
    case PKL_ARG_NONE: break;
    case PKL_ARG_UINT1: case PKL_ARG_UINT2: case PKL_ARG_INT4:
    case PKL_ARG_UINT4: rc = arg_int(&c, op, kind, err); break;
    case PKL_ARG_UINT8: rc = arg_frame(&c, op, err); break;
    case PKL_ARG_DECIMALNL_SHORT: case PKL_ARG_DECIMALNL_LONG:
    case PKL_ARG_FLOATNL: case PKL_ARG_STRINGNL:
    case PKL_ARG_UNICODESTRINGNL: rc = arg_line(&c, op, kind, err); break;
    case PKL_ARG_FLOAT8: {
        const uint8_t *a = NULL;
        if ((rc = take(&c, 8, &a, err)) == 0) {
            uint64_t bits = pkli_dec64be(a);
            op->type = PKL_A_FLOAT;
            memcpy(&op->f, &bits, sizeof bits);
        }
        break;
    }
    case PKL_ARG_LONG1: rc = arg_long(&c, op, 1, err); break;
    case PKL_ARG_LONG4: rc = arg_long(&c, op, 4, err); break;
    case PKL_ARG_STRINGNL_NOESCAPE: rc = arg_persid(&c, op, err); break;
    case PKL_ARG_STRINGNL_NOESCAPE_PAIR: rc = arg_pair(&c, op, err); break;
    case PKL_ARG_STRING1: case PKL_ARG_BYTES1: case PKL_ARG_UNICODESTRING1:
        rc = arg_counted(&c, op, 1, err);
        break;
    case PKL_ARG_STRING4: case PKL_ARG_BYTES4: case PKL_ARG_UNICODESTRING4:
        rc = arg_counted(&c, op, 4, err);
        break;
    case PKL_ARG_BYTES8: case PKL_ARG_BYTEARRAY8: case PKL_ARG_UNICODESTRING8:
        rc = arg_counted(&c, op, 8, err);
        break;
    }
    if (rc < 0 || after_arg(&c, op, err) < 0)
        return -1;
    op->end = c.p;
    r->pos = c.p;
    if (err && err->code != PKL_OK)
        pkli_error_clear(err);
    return 1;
}

/* The public entry point is the inline fast path (src/reader_fast.h). */
int pkl_reader_next(pkl_reader *r, pkl_op *op, pkl_error *err)
{
    int rc = pkli_reader_next_inline(r, op, err);
    if (rc == 1 && err && err->code != PKL_OK)
        pkli_error_clear(err);
    return rc;
}
