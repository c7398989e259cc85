/* dis.c -- the disassembler: a pickletools.dis-compatible listing of every
 * pickle in a buffer, with pickletools' structural checks.
 *
 * One line per opcode: offset, opcode byte (as pickletools shows it), MARK
 * indentation, name, and the decoded argument as a Python literal that
 * ast.literal_eval reads back to the exact value (nan/inf and bytearray
 * excepted, spelled as pickletools spells them). Checks: stack underflow
 * (counted per MARK level, as _pickle.c's fence does), missing MARK, memo
 * keys never stored or stored twice, values or marks left after STOP, bytes
 * after STOP that are no pickle, and everything the reader refuses (FRAME
 * crossings included). See docs/dis.md.
 *
 * It must never: decode values (it only counts stack slots), keep a second
 * opcode list (argument decoding is pkl_reader_next's; the stack effects
 * below are keyed by the generated PKL_OP_* enum), recurse, or print
 * anywhere but the FILE * it is given.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>

/* ---- stack effects -------------------------------------------------------
 * pickletools' stack_before/stack_after, reduced to counts. `mark`: the
 * opcode pops through the topmost MARK, then pops `pop` more items below
 * it (APPENDS/SETITEMS/ADDITEMS: the container). */
typedef struct effect {
    uint8_t pop, push, mark, pushes_mark;
} effect;

static effect stack_effect(uint8_t code)
{
    effect e = { 0, 0, 0, 0 };
    switch ((pkl_opcode)code) {
    case PKL_OP_MARK: e.pushes_mark = 1; break;
    case PKL_OP_STOP: e.pop = 1; break;
    case PKL_OP_POP: e.pop = 1; break;
    case PKL_OP_POP_MARK: e.mark = 1; break;
    case PKL_OP_DUP: e.pop = 1; e.push = 2; break;
    case PKL_OP_PERSID: e.push = 1; break;
    case PKL_OP_BINPERSID: e.pop = 1; e.push = 1; break;
    case PKL_OP_REDUCE: case PKL_OP_APPEND: case PKL_OP_BUILD:
    case PKL_OP_NEWOBJ: case PKL_OP_STACK_GLOBAL: case PKL_OP_TUPLE2:
        e.pop = 2; e.push = 1; break;
    case PKL_OP_SETITEM: case PKL_OP_NEWOBJ_EX: case PKL_OP_TUPLE3:
        e.pop = 3; e.push = 1; break;
    case PKL_OP_TUPLE1: case PKL_OP_READONLY_BUFFER:
        e.pop = 1; e.push = 1; break;
    case PKL_OP_DICT: case PKL_OP_LIST: case PKL_OP_TUPLE: case PKL_OP_INST:
    case PKL_OP_OBJ: case PKL_OP_FROZENSET:
        e.mark = 1; e.push = 1; break;
    case PKL_OP_APPENDS: case PKL_OP_SETITEMS: case PKL_OP_ADDITEMS:
        e.mark = 1; e.pop = 1; e.push = 1; break;
    case PKL_OP_PUT: case PKL_OP_BINPUT: case PKL_OP_LONG_BINPUT:
    case PKL_OP_MEMOIZE: case PKL_OP_PROTO: case PKL_OP_FRAME:
        break;
    default:
        /* every other opcode pushes one value and pops nothing: the
         * constants, GLOBAL, GET/BINGET/LONG_BINGET, EXT1/2/4, NEXT_BUFFER,
         * EMPTY_* */
        e.push = 1;
        break;
    }
    return e;
}

/* ---- argument rendering ------------------------------------------------- */

/* Long arguments are not built whole in the line: once the line holds
 * DIS_SLICE bytes it is written out (spill) and the literal goes on in
 * slices, so a line in memory stays under a few times DIS_SLICE bytes
 * whatever the argument's length (a 1 GB BINBYTES8 used to become a 4 GB
 * line in memory before a byte was written). */
#define DIS_SLICE ((size_t)64 << 10)
struct dis_state;
static int spill(struct dis_state *d);

/* Python's repr() of a float (pkli_float_repr), as pickletools prints it. */
static void put_float(pkli_buf *b, double f)
{
    char t[PKLI_FLOAT_REPR_MAX];
    pkli_buf_put(b, t, pkli_float_repr(f, t));
}

/* Decimal text is quadratic in the length; beyond this many bytes a big
 * int is written as a hex literal (same value for ast.literal_eval). */
#define BIGINT_DECIMAL_MAX 1024

static int put_bigint(pkli_buf *b, const uint8_t *le, size_t len,
                      const pkl_allocator *a, struct dis_state *sp)
{
    if (len <= BIGINT_DECIMAL_MAX) {
        size_t need = 4 * len + 8;
        char *txt = pkli_malloc(a, need);
        if (!txt)
            return -1;
        size_t n = pkl_bigint_to_decimal(le, len, txt, need);
        int rc = n ? pkli_buf_put(b, txt, n) : -1;
        pkli_free(a, txt);
        return rc;
    }
    /* magnitude in hex, most significant byte first */
    int negative = (le[len - 1] & 0x80) != 0;
    uint8_t *mag = pkli_malloc(a, len);
    if (!mag)
        return -1;
    unsigned carry = 1;
    for (size_t k = 0; k < len; k++) {
        unsigned v = le[k];
        if (negative) {
            v = (uint8_t)~le[k] + carry;
            carry = v >> 8;
            v &= 0xff;
        }
        mag[k] = (uint8_t)v;
    }
    size_t top = len;
    while (top > 1 && mag[top - 1] == 0)
        top--;
    pkli_buf_puts(b, negative ? "-0x" : "0x");
    static const char hex[] = "0123456789abcdef";
    for (size_t k = top; k-- > 0;) {
        char two[2] = {hex[mag[k] >> 4], hex[mag[k] & 15]};
        pkli_buf_put(b, two, 2);
        if (b->len >= DIS_SLICE && spill(sp) < 0)
            break;
    }
    pkli_free(a, mag);
    return b->failed ? -1 : 0;
}

/* Python literal of a byte string decoded as Latin-1 (what pickletools
 * shows for STRING, BINSTRING and SHORT_BINSTRING): a bytes literal
 * without its b prefix is exactly that str literal. */
/* The Python literal of s[0..n) (text: UTF-8 str; else bytes, with the b
 * prefix when `bprefix`) in slices: pkli_buf_put_pyrepr escapes every
 * character on its own within one quote style, so the whole literal is
 * the slices' literals without their own quotes (text slices end on a
 * UTF-8 sequence boundary). The line is spilled between slices. */
static int put_repr_sliced(pkli_buf *b, const uint8_t *s, size_t n, int text,
                           int bprefix, const pkl_allocator *a,
                           struct dis_state *sp)
{
    if (n <= DIS_SLICE) {
        if (text || bprefix)
            return pkli_buf_put_pyrepr(b, s, n, text);
        pkli_buf tmp;
        pkli_buf_init(&tmp, a, 0);
        pkli_buf_put_pyrepr(&tmp, s, n, 0);
        int rc = tmp.failed ? -1 : pkli_buf_put(b, tmp.data + 1, tmp.len - 1);
        pkli_buf_free(&tmp);
        return rc;
    }
    pkli_buf_puts(b, text || !bprefix ? "'" : "b'");
    pkli_buf tmp;
    pkli_buf_init(&tmp, a, 0);
    size_t skip = text ? 1 : 2; /* "'" or "b'" */
    for (size_t i = 0; i < n && !b->failed;) {
        size_t end = n - i > DIS_SLICE ? i + DIS_SLICE : n;
        for (size_t back = 0; text && end < n && back < 3 &&
                              (s[end] & 0xc0) == 0x80; back++)
            end--;
        tmp.len = 0;
        pkli_buf_put_pyrepr(&tmp, s + i, end - i, text);
        if (tmp.failed) {
            b->failed = 1;
            break;
        }
        pkli_buf_put(b, tmp.data + skip, tmp.len - skip - 1);
        if (b->len >= DIS_SLICE && spill(sp) < 0)
            break;
        i = end;
    }
    pkli_buf_free(&tmp);
    return b->failed ? -1 : pkli_buf_putc(b, '\'');
}

static int put_arg(pkli_buf *b, const pkl_op *op, const pkl_allocator *a,
                   struct dis_state *sp)
{
    switch ((pkl_argtype)op->type) {
    case PKL_A_NONE:
        return 0;
    case PKL_A_INT:
        return pkli_buf_printf(b, "%lld", (long long)op->i);
    case PKL_A_BOOL:
        return pkli_buf_puts(b, op->i ? "True" : "False");
    case PKL_A_BIGINT:
        return put_bigint(b, op->data, op->len, a, sp);
    case PKL_A_DECIMAL:
        for (size_t i = 0; i < op->len && !b->failed; i += DIS_SLICE) {
            pkli_buf_put(b, op->data + i, op->len - i > DIS_SLICE
                                              ? DIS_SLICE : op->len - i);
            if (b->len >= DIS_SLICE)
                spill(sp);
        }
        return b->failed ? -1 : 0;
    case PKL_A_FLOAT:
        put_float(b, op->f);
        return b->failed ? -1 : 0;
    case PKL_A_BYTES:
        /* STRING, BINSTRING, SHORT_BINSTRING: what pickletools shows is
         * the bytes decoded as Latin-1, whose str literal is the bytes
         * literal without its b prefix */
        if (op->code == PKL_OP_STRING || op->code == PKL_OP_BINSTRING ||
            op->code == PKL_OP_SHORT_BINSTRING)
            return put_repr_sliced(b, op->data, op->len, 0, 0, a, sp);
        if (op->code == PKL_OP_BYTEARRAY8) {
            pkli_buf_puts(b, "bytearray(");
            put_repr_sliced(b, op->data, op->len, 0, 1, a, sp);
            return pkli_buf_putc(b, ')');
        }
        return put_repr_sliced(b, op->data, op->len, 0, 1, a, sp);
    case PKL_A_STR:
        return put_repr_sliced(b, op->data, op->len, 1, 0, a, sp);
    case PKL_A_PAIR: {
        /* pickletools joins module and name with one blank */
        pkli_buf both;
        pkli_buf_init(&both, a, 0);
        pkli_buf_put(&both, op->data, op->len);
        pkli_buf_putc(&both, ' ');
        pkli_buf_put(&both, op->data2, op->len2);
        int rc = both.failed ? -1
                             : pkli_buf_put_pyrepr(b, (const uint8_t *)both.data,
                                                   both.len, 1);
        pkli_buf_free(&both);
        return rc;
    }
    }
    return -1;
}

/* ---- the listing ---------------------------------------------------------- */

/* open MARKs indented like pickletools (see the line writer) */
#define DIS_MAX_INDENT 64

typedef struct markrec {
    size_t pos;     /* offset of the MARK opcode */
    size_t below;   /* values between this mark and the one under it */
} markrec;

typedef struct dis_state {
    const pkl_allocator *alloc;
    FILE *out;
    pkli_buf line;
    int write_failed;  /* a spill could not be written */
    markrec *marks;
    size_t nmarks, cap_marks;
    size_t depth;      /* values above the topmost mark */
    pkli_htab memo;   /* memo keys stored so far (value 1) */
    int maxproto;
} dis_state;

static void reset_pickle(dis_state *d)
{
    d->nmarks = 0;
    d->depth = 0;
    d->maxproto = -1;
    pkli_htab_clear(&d->memo);
}

/* Writes the line so far, without ending it. */
static int spill(struct dis_state *d)
{
    if (d->line.failed)
        return -1;
    if (fwrite(d->line.data, 1, d->line.len, d->out) != d->line.len) {
        d->write_failed = 1;
        d->line.failed = 1;
        return -1;
    }
    d->line.len = 0;
    return 0;
}

static int flush_line(dis_state *d)
{
    pkli_buf_putc(&d->line, '\n');
    if (d->write_failed)
        return -2;
    if (d->line.failed)
        return -1;
    if (fwrite(d->line.data, 1, d->line.len, d->out) != d->line.len)
        return -2;
    d->line.len = 0;
    return 0;
}

/* Checks and lists one opcode. Returns 0, or -1 with *err filled. The line
 * is written before a check fails, as pickletools.dis does. */
static int dis_op(dis_state *d, const pkl_op *op, pkl_error *err)
{
    pkli_buf *L = &d->line;
    effect e = stack_effect(op->code);
    int code = PKL_OK;
    char msg[160] = "";
    char markmsg[64] = "";
    size_t npop = e.pop;
    uint64_t key = 0;
    int stores = 0;

    size_t indent = d->nmarks; /* pickletools indents before popping */

    if (op->info->proto > d->maxproto)
        d->maxproto = op->info->proto;

    /* POP of a MARK pops the mark, as pickletools (and _pickle.c) do */
    int pops_mark = e.mark ||
                    (op->code == PKL_OP_POP && d->depth == 0 && d->nmarks > 0);
    if (pops_mark) {
        if (d->nmarks == 0) {
            code = PKL_E_NO_MARK;
            snprintf(markmsg, sizeof markmsg, "no MARK exists on stack");
            snprintf(msg, sizeof msg, "%s needs a MARK and none is open",
                     op->info->name);
        } else {
            const markrec *m = &d->marks[--d->nmarks];
            snprintf(markmsg, sizeof markmsg, "(MARK at %zu)", m->pos);
            d->depth = m->below;
            npop = e.mark ? e.pop : 0;
        }
    }

    if (op->info->flags & (PKL_OPF_MEMO_PUT | PKL_OPF_MEMO_GET)) {
        int valid = 1;
        if (op->code == PKL_OP_MEMOIZE) {
            key = d->memo.count;
            snprintf(markmsg, sizeof markmsg, "(as %llu)", (unsigned long long)key);
        } else if (op->type != PKL_A_INT || op->i < 0) {
            valid = 0;
        } else {
            key = (uint64_t)op->i;
        }
        if (op->info->flags & PKL_OPF_MEMO_PUT) {
            if (!valid) {
                code = PKL_E_BAD_INT;
                snprintf(msg, sizeof msg, "negative or out-of-range memo key");
            } else if (pkli_htab_find(&d->memo, key)) {
                code = PKL_E_MEMO_REDEFINED;
                snprintf(msg, sizeof msg, "memo key %llu already defined",
                         (unsigned long long)key);
            } else if (d->depth == 0) {
                code = PKL_E_STACK_UNDERFLOW;
                snprintf(msg, sizeof msg, "%s",
                         d->nmarks ? "can't store markobject in the memo"
                                   : "stack is empty -- can't store into memo");
            } else {
                stores = 1;
            }
        } else if (!valid || !pkli_htab_find(&d->memo, key)) {
            code = PKL_E_MEMO_MISSING;
            if (op->type == PKL_A_INT)
                snprintf(msg, sizeof msg, "memo key %lld has never been stored into",
                         (long long)op->i);
            else
                snprintf(msg, sizeof msg, "memo key has never been stored into");
        }
    }

    /* the line: "%5d: %-4s " + indent + name [+ pad + arg] [+ markmsg] */
    char opbyte[8];
    if (op->code >= 0x20 && op->code < 0x7f)
        snprintf(opbyte, sizeof opbyte, "%c", op->code);
    else
        snprintf(opbyte, sizeof opbyte, "\\x%02x", op->code);
    pkli_buf_printf(L, "%5zu: %-4s ", op->offset, opbyte);
    /* pickletools indents 4 blanks per open MARK, which makes the listing
     * quadratic in the input (n MARKs: 2n^2 bytes). Up to DIS_MAX_INDENT
     * levels the listing is pickletools'; deeper lines keep that indent
     * and say the true depth, "[+N] ", so every line stays bounded. */
    for (size_t k = 0; k < indent && k < DIS_MAX_INDENT; k++)
        pkli_buf_puts(L, "    ");
    if (indent > DIS_MAX_INDENT)
        pkli_buf_printf(L, "[+%zu] ", indent - DIS_MAX_INDENT);
    pkli_buf_puts(L, op->info->name);
    if (op->type != PKL_A_NONE || markmsg[0]) {
        for (size_t k = strlen(op->info->name); k < 10; k++)
            pkli_buf_putc(L, ' ');
        if (op->type != PKL_A_NONE) {
            pkli_buf_putc(L, ' ');
            if (put_arg(L, op, d->alloc, d) < 0 && !L->failed)
                L->failed = 1;
        }
        if (markmsg[0]) {
            pkli_buf_putc(L, ' ');
            pkli_buf_puts(L, markmsg);
        }
    }
    int fr = flush_line(d);
    if (fr < 0) {
        pkli_error_setf(err, fr == -2 ? PKL_E_IO : PKL_E_NOMEM, op->offset,
                        op->code, "%s", fr == -2 ? "cannot write the listing"
                                                 : "out of memory");
        return -1;
    }
    if (code != PKL_OK) {
        pkli_error_setf(err, code, op->offset, op->code, "%s", msg);
        return -1;
    }
    if (stores && !pkli_htab_add(&d->memo, key, 1)) {
        pkli_error_set(err, PKL_E_NOMEM, op->offset, op->code);
        return -1;
    }

    if (d->depth < npop) {
        if (op->code == PKL_OP_STOP && d->nmarks > 0)
            pkli_error_setf(err, PKL_E_BAD_STOP, op->offset, op->code,
                            "STOP finds only a MARK (opened at offset %zu)",
                            d->marks[d->nmarks - 1].pos);
        else
            pkli_error_setf(err, PKL_E_STACK_UNDERFLOW, op->offset, op->code,
                            "tries to pop %zu items from stack with only %zu "
                            "items%s", npop, d->depth,
                            d->nmarks ? " above the topmost MARK" : "");
        return -1;
    }
    d->depth -= npop;
    d->depth += e.push;
    if (e.pushes_mark) {
        if (pkli_grow(d->alloc, (void **)&d->marks, &d->cap_marks,
                      d->nmarks + 1, sizeof(markrec)) < 0) {
            pkli_error_set(err, PKL_E_NOMEM, op->offset, op->code);
            return -1;
        }
        d->marks[d->nmarks].pos = op->offset;
        d->marks[d->nmarks].below = d->depth;
        d->nmarks++;
        d->depth = 0;
    }
    return 0;
}

/* After STOP: pickletools prints the highest protocol, then insists on an
 * empty stack. */
static int end_pickle(dis_state *d, const pkl_op *stop, pkl_error *err)
{
    pkli_buf_printf(&d->line, "highest protocol among opcodes = %d",
                    d->maxproto);
    int fr = flush_line(d);
    if (fr < 0) {
        pkli_error_setf(err, fr == -2 ? PKL_E_IO : PKL_E_NOMEM, stop->offset,
                        stop->code, "%s", fr == -2 ? "cannot write the listing"
                                                   : "out of memory");
        return -1;
    }
    if (d->nmarks > 0) {
        pkli_error_setf(err, PKL_E_BAD_STOP, stop->offset, stop->code,
                        "MARK opened at offset %zu is still open after STOP",
                        d->marks[d->nmarks - 1].pos);
        return -1;
    }
    if (d->depth > 0) {
        pkli_error_setf(err, PKL_E_STACK_NOT_EMPTY, stop->offset, stop->code,
                        "%zu value%s left on the stack after STOP", d->depth,
                        d->depth == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

int pkl_dis(const void *buf, size_t len, FILE *out, const pkl_allocator *alloc,
            pkl_error *err)
{
    pkl_allocator a;
    pkl_reader r;
    dis_state d;
    pkl_op op;
    int rc = -1;
    size_t start = 0;        /* first byte of the current pickle */

    pkli_alloc_init(&a, alloc);
    memset(&d, 0, sizeof d);
    d.alloc = &a;
    d.out = out;
    pkli_hkey hk; /* memo keys come from the input: keyed per listing */
    pkli_hash_key(&hk);
    pkli_htab_init(&d.memo, &a, PKLI_HT_SIPHASH, &hk);
    pkli_buf_init(&d.line, &a, 0);
    pkl_reader_init(&r, buf, len, &a);
    reset_pickle(&d);

    if (!out || (!buf && len)) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_dis needs an output stream and a buffer");
        goto done;
    }
    if (len == 0) {
        pkli_error_setf(err, PKL_E_EMPTY, 0, -1, "the input is empty");
        goto done;
    }
    for (;;) {
        int got = pkl_reader_next(&r, &op, err);
        if (got == 0) {
            pkli_error_setf(err, PKL_E_TRUNCATED, len, -1,
                            "pickle exhausted before seeing STOP");
            goto fail;
        }
        if (got < 0)
            goto fail;
        if (op.note & PKL_NOTE_DIFFERS) {
            /* no single value is right (the decoder refuses it too);
             * `scan` reports it as noncanonical-text and reads on */
            pkli_error_setf(err, op.code == PKL_OP_FRAME ? PKL_E_TRUNCATED
                       : op.code == PKL_OP_FLOAT ? PKL_E_BAD_FLOAT
                                 : op.type == PKL_A_PAIR ? PKL_E_NO_NEWLINE
                                 : PKL_E_BAD_INT,
                            op.offset, op.code,
                            "%s that _pickle.c and pickle.py read "
                            "differently%s", op.info->name,
                            op.code == PKL_OP_FRAME
                                ? ": FRAME declares more bytes than remain"
                                : " (text)");
            goto fail;
        }
        if (dis_op(&d, &op, err) < 0)
            goto fail;
        if (op.code != PKL_OP_STOP)
            continue;
        if (end_pickle(&d, &op, err) < 0)
            goto fail;
        if (pkl_reader_offset(&r) >= len)
            break;
        /* bytes after STOP: list them as the next pickle, if they are one */
        start = pkl_reader_offset(&r);
        reset_pickle(&d);
    }
    rc = 0;
    pkli_error_clear(err);
    goto done;
fail:
    if (start > 0 && err && err->code != PKL_E_NOMEM && err->code != PKL_E_IO) {
        char inner[600];
        pkl_error_format(err, inner, sizeof inner);
        pkli_error_setf(err, PKL_E_TRAILING, start, -1,
                        "the %zu bytes after the STOP at offset %zu are not a "
                        "pickle: %s", len - start, start - 1, inner);
    }
done:
    if (out)
        fflush(out);
    pkl_reader_free(&r);
    pkli_buf_free(&d.line);
    pkli_free(&a, d.marks);
    pkli_htab_free(&d.memo);
    return rc;
}
