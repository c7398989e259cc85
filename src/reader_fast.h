/* reader_fast.h -- the reader's fast path, included by internal.h.
 *
 * pkl_reader_next (src/reader.c) is this function; the decoder and the
 * scanner call it inline in their loops, so that no call is made and the
 * fields of the op a caller never reads are never stored. It is part of
 * the one reader: src/reader.c's pkli_reader_next_full is the general
 * path it hands everything else to.
 */
#ifndef PKL_READER_FAST_H
#define PKL_READER_FAST_H

/* The fast path: opcodes without argument and with a fixed-width or a
 * one-byte-counted argument that lies inside the current frame (or buffer)
 * -- nearly every opcode of a typical pickle -- decoded here with a small
 * register footprint; everything else, and every error, is left to
 * pkli_reader_next_full, which reads the opcode again from the start. The
 * two must agree on every field: fuzz/fuzz_reader.c reads every offset of
 * every input both ways and compares (replayed over corpus/ by make
 * check), and tests/test_dis.py compares the result with pickletools. */
static PKL_INLINE int pkli_reader_next_inline(pkl_reader *r, pkl_op *op,
                                            pkl_error *err)
{
    size_t pos = r->pos;
    size_t limit = r->limit; /* the frame's end, or the buffer's */
    if (pos >= limit) /* leaving a frame, or the end */
        return pkli_reader_next_full(r, op, err);
    const uint8_t *p = r->base + pos;
    const pkl_opinfo *info = pkli_op_by_byte[p[0]];
    if (!info)
        return pkli_reader_next_full(r, op, err);
    size_t avail = limit - pos - 1;
    size_t end;
    op->type = PKL_A_INT;
    op->f = 0.0;
    op->data = NULL;
    op->len = 0;
    switch ((pkl_argkind)info->arg) {
    case PKL_ARG_NONE:
        if (p[0] == PKL_OP_STOP && r->in_frame)
            return pkli_reader_next_full(r, op, err); /* frame tail check */
        op->type = PKL_A_NONE;
        op->i = 0;
        end = pos + 1;
        break;
    case PKL_ARG_UINT1:
        if (avail < 1 || p[0] == PKL_OP_PROTO)
            return pkli_reader_next_full(r, op, err);
        op->i = p[1];
        end = pos + 2;
        break;
    case PKL_ARG_UINT2:
        if (avail < 2)
            return pkli_reader_next_full(r, op, err);
        op->i = pkli_dec16le(p + 1);
        end = pos + 3;
        break;
    case PKL_ARG_INT4:
        if (avail < 4)
            return pkli_reader_next_full(r, op, err);
        op->i = (int32_t)pkli_dec32le(p + 1);
        end = pos + 5;
        break;
    case PKL_ARG_UINT4:
        if (avail < 4)
            return pkli_reader_next_full(r, op, err);
        op->i = pkli_dec32le(p + 1);
        end = pos + 5;
        break;
    case PKL_ARG_FLOAT8: {
        if (avail < 8)
            return pkli_reader_next_full(r, op, err);
        uint64_t bits = pkli_dec64be(p + 1);
        op->type = PKL_A_FLOAT;
        op->i = 0;
        memcpy(&op->f, &bits, sizeof bits);
        end = pos + 9;
        break;
    }
    case PKL_ARG_LONG1: { /* up to 8 bytes: an int64, sign-extended */
        if (avail < 1 || p[1] > 8 || (size_t)p[1] > avail - 1)
            return pkli_reader_next_full(r, op, err);
        size_t n = p[1];
        uint64_t u = 0;
        if (n && r->len - pos >= 10) {
            /* one 8-byte load (inside the buffer, maybe past the frame),
             * the n bytes moved to the top and sign-extended down */
            u = pkli_dec64le(p + 2) << (64 - 8 * n);
            u = (u >> (64 - 8 * n)) |
                ((u >> 63) && n < 8 ? UINT64_MAX << (8 * n) : 0);
        } else {
            for (size_t k = 0; k < n; k++)
                u |= (uint64_t)p[2 + k] << (8 * k);
            if (n && n < 8 && (p[1 + n] & 0x80))
                u |= UINT64_MAX << (8 * n);
        }
        memcpy(&op->i, &u, sizeof u);
        end = pos + 2 + n;
        break;
    }
    case PKL_ARG_DECIMALNL_SHORT: { /* INT, GET, PUT: "123\n" */
        /* 1 to 18 digits, no sign, no leading zero: no overflow, not
         * INT's "00"/"01" booleans; anything else takes the full path */
        const uint8_t *t = p + 1;
        size_t max = avail < 18 ? avail : 18;
        size_t k = 0;
        uint64_t u = 0;
        while (k < max && t[k] >= '0' && t[k] <= '9') {
            u = u * 10 + (uint64_t)(t[k] - '0');
            k++;
        }
        if (k == 0 || k >= avail || t[k] != '\n' || (t[0] == '0' && k > 1))
            return pkli_reader_next_full(r, op, err);
        op->i = (int64_t)u;
        end = pos + k + 2;
        break;
    }
    case PKL_ARG_UNICODESTRINGNL: { /* UNICODE: ASCII, no backslash */
        /* raw-unicode-escape of such a line is the line itself */
        const uint8_t *t = p + 1;
        size_t k = 0;
        while (k < avail && t[k] != '\n') {
            if ((t[k] & 0x80) || t[k] == '\\')
                return pkli_reader_next_full(r, op, err);
            k++;
        }
        if (k == avail)
            return pkli_reader_next_full(r, op, err);
        op->type = PKL_A_STR;
        op->i = 0;
        op->data = t;
        op->len = k;
        end = pos + k + 2;
        break;
    }
    case PKL_ARG_STRING1: case PKL_ARG_BYTES1: case PKL_ARG_UNICODESTRING1:
    case PKL_ARG_STRING4: case PKL_ARG_BYTES4: case PKL_ARG_UNICODESTRING4: {
        /* counted text inside the frame; str only in ASCII (the full path
         * validates UTF-8), BINSTRING only up to INT32_MAX (the full path
         * refuses a negative count) */
        pkl_argkind kind = (pkl_argkind)info->arg;
        size_t w = kind == PKL_ARG_STRING1 || kind == PKL_ARG_BYTES1 ||
                   kind == PKL_ARG_UNICODESTRING1 ? 1 : 4;
        if (avail < w)
            return pkli_reader_next_full(r, op, err);
        size_t n = w == 1 ? p[1] : pkli_dec32le(p + 1);
        if (n > avail - w || (kind == PKL_ARG_STRING4 && n > INT32_MAX))
            return pkli_reader_next_full(r, op, err);
        const uint8_t *t = p + 1 + w;
        if (kind == PKL_ARG_UNICODESTRING1 || kind == PKL_ARG_UNICODESTRING4) {
            size_t k = 0;
            for (; n - k >= 8; k += 8) {
                uint64_t u;
                memcpy(&u, t + k, sizeof u);
                if (u & UINT64_C(0x8080808080808080))
                    return pkli_reader_next_full(r, op, err);
            }
            for (; k < n; k++)
                if (t[k] & 0x80)
                    return pkli_reader_next_full(r, op, err);
            op->type = PKL_A_STR;
        } else {
            op->type = PKL_A_BYTES;
        }
        op->i = 0;
        op->data = t;
        op->len = n;
        end = pos + 1 + w + n;
        break;
    }
    default:
        return pkli_reader_next_full(r, op, err);
    }
    op->offset = pos;
    op->end = end;
    op->info = info;
    op->code = p[0];
    op->data2 = NULL;
    op->len2 = 0;
    op->note = 0;
    r->pos = end;
    /* *err is left alone on success here: the loops that call this never
     * carry an error forward, and pkl_reader_next clears it */
    (void)err;
    return 1;
}

/* The fast path's fixed-width binary numbers alone: BINFLOAT, BININT and
 * BININT2 lying inside the current frame (or buffer), read into *op as
 * pkli_reader_next_inline reads them (every field it sets); 0, with
 * nothing read, for any other opcode or position. The decoder's builder
 * mode reads runs of numbers with it (run_numbers, src/decoder.c);
 * fuzz/fuzz_reader.c compares it with the general path. */
static PKL_INLINE int pkli_reader_next_number(pkl_reader *r, pkl_op *op)
{
    size_t pos = r->pos;
    const uint8_t *p = r->base + pos;
    size_t avail = r->limit - pos; /* the opcode byte included */
    size_t w;
    if (pos >= r->limit)
        return 0;
    if (p[0] == PKL_OP_BINFLOAT) {
        if (avail < 9)
            return 0;
        uint64_t bits = pkli_dec64be(p + 1);
        op->type = PKL_A_FLOAT;
        op->i = 0;
        memcpy(&op->f, &bits, sizeof bits);
        w = 9;
    } else if (p[0] == PKL_OP_BININT) {
        if (avail < 5)
            return 0;
        op->type = PKL_A_INT;
        op->i = (int32_t)pkli_dec32le(p + 1);
        op->f = 0.0;
        w = 5;
    } else if (p[0] == PKL_OP_BININT2) {
        if (avail < 3)
            return 0;
        op->type = PKL_A_INT;
        op->i = pkli_dec16le(p + 1);
        op->f = 0.0;
        w = 3;
    } else {
        return 0;
    }
    op->data = NULL;
    op->len = 0;
    op->offset = pos;
    op->end = pos + w;
    op->info = pkli_op_by_byte[p[0]];
    op->code = p[0];
    op->data2 = NULL;
    op->len2 = 0;
    op->note = 0;
    r->pos = pos + w;
    return 1;
}

#endif /* PKL_READER_FAST_H */
